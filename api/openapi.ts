/**
 * The OpenAPI 3.1 document served at `/api/openapi.json`, generated from the route table
 * ({@link ROUTES}) and its JSON Schemas: the same objects fastify validates with.
 */
import { ROUTES, type RouteSpec } from './routes/rest.js';
import { problemSchema, type JsonSchema } from './schemas.js';

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad request (validation failed)',
  404: 'Unknown bridge, interface or command, unavailable feature, or no topology running',
  413: 'Payload too large',
  415: 'Unsupported media type',
  422: 'The underlying appctl command failed',
  500: 'Internal error',
};

function parameters(r: RouteSpec): JsonSchema[] {
  const out: JsonSchema[] = [];
  const addAll = (where: 'path' | 'query', s: JsonSchema | undefined): void => {
    if (!s) return;
    const props = (s.properties ?? {}) as Record<string, JsonSchema>;
    const req = new Set((s.required ?? []) as string[]);
    for (const [name, schema] of Object.entries(props)) {
      out.push({
        name: name === '*' ? 'command' : name,
        in: where,
        required: where === 'path' || req.has(name),
        schema,
        ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
      });
    }
  };
  addAll('path', r.params);
  addAll('query', r.querystring);
  return out;
}

function operation(r: RouteSpec): JsonSchema {
  const responses: Record<string, JsonSchema> = {
    '200': {
      description: 'OK',
      content: { 'application/json': { schema: r.response } },
    },
  };
  for (const s of [...r.errors, 500]) {
    responses[String(s)] = {
      description: STATUS_TEXT[s] ?? 'Error',
      content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
    };
  }
  return {
    operationId: r.operationId,
    summary: r.summary,
    parameters: parameters(r),
    ...(r.body
      ? {
          requestBody: {
            required: r.bodyOptional !== true,
            content: { 'application/json': { schema: r.body } },
          },
        }
      : {}),
    responses,
  };
}

/** Builds the OpenAPI document (a fresh object each call). */
export function buildOpenApi(version: string): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const r of ROUTES) {
    (paths[r.path] ??= {})[r.method.toLowerCase()] = operation(r);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'tsvswitch API',
      version,
      description:
        'REST mirror of the switch state and its appctl commands. Errors are application/problem+json. ' +
        'Live events: WebSocket /events?topics=ovsdb,port,flow,bfd,stp&bridges=br0 (both optional). ' +
        'Metrics: GET /metrics (Prometheus text).',
    },
    paths,
    components: { schemas: { Problem: problemSchema } },
  };
}

/**
 * The HTTP API of a tsvswitch daemon (off unless asked for): a fastify server with
 *
 * - the REST resources of api/routes/rest.ts under `/api/…` (JSON Schemas validated by ajv,
 *   errors as `application/problem+json`), their OpenAPI 3.1 document at `/api/openapi.json`;
 * - the WebSocket event stream at `/events` (api/events.ts; the `ws` package on fastify's own
 *   HTTP server);
 * - `/metrics` in Prometheus text format (api/metrics.ts);
 * - a small web page at `/` (api/static/: plain HTML, JS and CSS, no build step).
 *
 * ```ts
 * const api = await createApiServer({ backend });
 * const url = await api.listen({ host: '127.0.0.1', port: 0 });
 * // ...
 * await api.close();
 * ```
 *
 * The API has no authentication: bind it to a loopback address (the daemon's default) or put
 * it behind something that authenticates.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { WebSocketServer, type WebSocket } from 'ws';
import { getLogger } from '../lib/log.js';
import type { ApiBackend } from './backend.js';
import {
  EventClient,
  EventHub,
  handleControlMessage,
  parseBridges,
  parseTopics,
  TOPICS,
  type EventClientOptions,
  type Topic,
} from './events.js';
import { ApiMetrics } from './metrics.js';
import { buildOpenApi } from './openapi.js';
import { ApiProblem, problemBody, type ProblemKind } from './problem.js';
import { ROUTES, type RouteRequest } from './routes/rest.js';

const log = getLogger('api');

/** Options of {@link createApiServer}. */
export interface ApiServerOptions {
  /** Where the data comes from. */
  backend: ApiBackend;
  /** Version shown in the OpenAPI document. Default `0.0.0`. */
  version?: string;
  /** Per-client queue and write limits of the event stream. */
  events?: Omit<EventClientOptions, 'topics'>;
  /** Collect prom-client's default process metrics (default true). */
  defaultMetrics?: boolean;
  /** Directory of the web page (default: api/static next to this module). */
  staticDir?: string;
  /** Largest request body in bytes (default 1 MiB). */
  bodyLimit?: number;
}

/** A created API server. */
export interface ApiServer {
  /** The fastify instance (tests use `app.inject()`). */
  readonly app: FastifyInstance;
  /** The event hub feeding `/events`. */
  readonly hub: EventHub;
  /** The metrics of `/metrics`. */
  readonly metrics: ApiMetrics;
  /** Starts listening; resolves with the base URL (`http://127.0.0.1:PORT`). */
  listen(opts: { host: string; port: number }): Promise<string>;
  /** Stops feeding events, closes every stream client and the server. Idempotent. */
  close(): Promise<void>;
}

const NO_QUERY = { type: 'object', properties: {}, additionalProperties: false } as const;

const STATIC_FILES: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/style.css': 'style.css',
};

const MIME: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

/** api/static, from the source tree or from dist/api (which has no copy of it). */
function defaultStaticDir(): string | undefined {
  const candidates = [
    fileURLToPath(new URL('./static/', import.meta.url)),
    fileURLToPath(new URL('../../api/static/', import.meta.url)),
  ];
  return candidates.find((d) => existsSync(d + 'index.html'));
}

function loadStatic(dir: string | undefined): Map<string, { body: string; type: string }> {
  const out = new Map<string, { body: string; type: string }>();
  if (dir === undefined) return out;
  const base = dir.endsWith('/') ? dir : dir + '/';
  for (const [route, file] of Object.entries(STATIC_FILES)) {
    try {
      const body = readFileSync(base + file, 'utf8');
      out.set(route, { body, type: MIME[file.split('.').pop()!]! });
    } catch {
      // A missing file answers 404 below.
    }
  }
  return out;
}

function problemKindOf(err: FastifyError): ProblemKind {
  switch (err.statusCode) {
    case 413:
      return 'payload-too-large';
    case 415:
      return 'unsupported-media-type';
    case 404:
      return 'not-found';
    case 405:
      return 'method-not-allowed';
    default:
      return err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500
        ? 'bad-request'
        : 'internal';
  }
}

function rejectUpgrade(socket: Duplex, status: number, text: string, detail: string): void {
  const body = JSON.stringify(problemBody(status === 404 ? 'not-found' : 'bad-request', detail));
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/problem+json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Creates the API server (not listening yet; `app.inject()` works at once). */
export async function createApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const { backend } = opts;
  const version = opts.version ?? '0.0.0';
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    // Malformed URLs (bad percent-encoding) are answered by fastify before routing.
    frameworkErrors: (err, req, reply) => {
      const body = problemBody('bad-request', err.message, req.url);
      const r = reply as unknown as {
        code(n: number): { type(t: string): { send(b: string): unknown } };
      };
      void r.code(400).type('application/problem+json').send(JSON.stringify(body));
    },
  });
  // Query strings and path parameters are text and get coerced to the schema's types; JSON
  // bodies are validated as sent (no coercion, no removal of unknown members).
  const ajvText = new Ajv({ coerceTypes: 'array', allErrors: false, strict: false });
  const ajvBody = new Ajv({ coerceTypes: false, allErrors: false, strict: false });
  const optionalBody = new Set(ROUTES.filter((r) => r.bodyOptional).map((r) => r.url));
  app.setValidatorCompiler(({ schema, httpPart, url }) => {
    if (httpPart !== 'body') return ajvText.compile(schema);
    const v = ajvBody.compile(schema);
    if (!optionalBody.has(url)) return v;
    // A POST without a body (`curl -X POST …`) stands for `{}` on routes that allow it
    // (fastify hands a missing body to the validator as null).
    const f = (data: unknown): boolean => {
      const ok = data === undefined || data === null || v(data);
      f.errors = ok ? null : v.errors;
      return ok;
    };
    f.errors = null as typeof v.errors;
    return f;
  });
  // JSON only: text/plain bodies answer 415 instead of failing validation.
  app.removeContentTypeParser('text/plain');
  const hub = new EventHub();
  const metrics = new ApiMetrics(backend, hub, { defaultMetrics: opts.defaultMetrics ?? true });
  const files = loadStatic(opts.staticDir ?? defaultStaticDir());
  const openapi = JSON.stringify(buildOpenApi(version));

  app.setErrorHandler((err: FastifyError, req, reply) => {
    let body;
    if (err instanceof ApiProblem) {
      body = err.body(req.url);
    } else if (err.validation) {
      body = problemBody('bad-request', err.message, req.url);
    } else {
      const kind = problemKindOf(err);
      if (kind === 'internal') log.error({ err, url: req.url }, 'API request failed');
      body = problemBody(kind, kind === 'internal' ? 'internal error' : err.message, req.url);
    }
    return reply.code(body.status).type('application/problem+json').send(JSON.stringify(body));
  });
  app.setNotFoundHandler((req, reply) => {
    const body = problemBody('not-found', `no resource ${req.method} ${req.url}`, req.url);
    return reply.code(404).type('application/problem+json').send(JSON.stringify(body));
  });

  for (const r of ROUTES) {
    app.route({
      method: r.method,
      url: r.url,
      schema: {
        ...(r.params ? { params: r.params } : {}),
        // Routes without query parameters refuse any (a typo answers 400, not a silent 200).
        querystring: r.querystring ?? NO_QUERY,
        ...(r.body ? { body: r.body } : {}),
        response: { 200: r.response },
      },
      handler: async (req) => {
        const rr: RouteRequest = {
          params: (req.params ?? {}) as Record<string, string>,
          query: (req.query ?? {}) as Record<string, unknown>,
          body: req.body,
        };
        return await r.handler(rr, backend);
      },
    });
  }

  app.get('/api/openapi.json', (_req, reply) =>
    reply.type('application/json; charset=utf-8').send(openapi),
  );
  app.get('/metrics', async (_req, reply) => {
    const text = await metrics.render();
    return reply.type(metrics.contentType).send(text);
  });
  for (const route of Object.keys(STATIC_FILES)) {
    app.get(route, (req, reply) => {
      const f = files.get(route);
      if (!f) {
        const body = problemBody('not-found', 'the web page is not installed', req.url);
        return reply.code(404).type('application/problem+json').send(JSON.stringify(body));
      }
      return reply.type(f.type).header('cache-control', 'no-cache').send(f.body);
    });
  }

  // ---------------------------------------------------------------- /events
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const sockets = new Set<WebSocket>();
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/events') {
      rejectUpgrade(socket, 404, 'Not Found', `no WebSocket endpoint at ${url.pathname}`);
      return;
    }
    let topics: Set<Topic> = new Set(TOPICS);
    let bridges = new Set<string>();
    for (const k of url.searchParams.keys()) {
      if (k !== 'topics' && k !== 'bridges') {
        rejectUpgrade(socket, 400, 'Bad Request', `unknown parameter "${k}" (topics, bridges)`);
        return;
      }
    }
    try {
      const q = url.searchParams.get('topics');
      if (q !== null) topics = parseTopics(q);
      const b = url.searchParams.get('bridges');
      if (b !== null) bridges = parseBridges(b);
    } catch (e) {
      rejectUpgrade(socket, 400, 'Bad Request', (e as Error).message);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const client = new EventClient(ws, { ...opts.events, topics, bridges });
      sockets.add(ws);
      hub.add(client);
      ws.on('message', (data, isBinary) => {
        if (isBinary) {
          client.notice({ type: 'error', detail: 'control messages must be text' });
          return;
        }
        client.notice(handleControlMessage(client, Buffer.from(data as Buffer).toString('utf8')));
      });
      ws.on('close', () => {
        sockets.delete(ws);
        hub.remove(client);
      });
      ws.on('error', (err) => log.debug({ err }, 'event stream client error'));
      client.notice({
        type: 'hello',
        topics: TOPICS.filter((t) => client.topics.has(t)),
        bridges: [...client.bridges].sort(),
        seq: hub.published,
      });
    });
  };
  app.server.on('upgrade', onUpgrade);

  const unsubscribe = backend.subscribe(
    (e) => hub.publish(e),
    (t) => hub.wants(t),
  );
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      unsubscribe();
      hub.closeAll();
      for (const ws of sockets) ws.terminate();
      sockets.clear();
      await new Promise<void>((r) => wss.close(() => r()));
      app.server.off('upgrade', onUpgrade);
      await app.close();
      metrics.close();
    })());

  await app.ready();
  return {
    app,
    hub,
    metrics,
    async listen({ host, port }) {
      await app.listen({ host, port });
      const addr = app.server.address();
      if (addr === null || typeof addr === 'string') return `http://${host}:${port}`;
      const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      return `http://${h}:${addr.port}`;
    },
    close,
  };
}

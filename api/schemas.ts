/**
 * The JSON Schemas of the REST API's requests and responses. Fastify validates requests against
 * them (ajv) and serializes responses with them; {@link buildOpenApi} (api/openapi.ts) publishes
 * the same objects as OpenAPI 3.1, so the document and the checks cannot drift apart.
 *
 * Keep to the JSON Schema subset that is the same in draft-07 (ajv's default) and 2020-12
 * (OpenAPI 3.1): type, properties, required, items, enum, pattern, minimum/maximum,
 * additionalProperties.
 */

/** A JSON Schema object (loosely typed: these are data). */
export type JsonSchema = Record<string, unknown>;

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const count = { type: 'integer', minimum: 0 } as const;
const updown = { type: 'string', enum: ['up', 'down'] } as const;

function obj(properties: Record<string, JsonSchema>, optional: string[] = []): JsonSchema {
  return {
    type: 'object',
    properties,
    required: Object.keys(properties).filter((k) => !optional.includes(k)),
    additionalProperties: false,
  };
}

function list(items: JsonSchema): JsonSchema {
  return { type: 'array', items };
}

/** application/problem+json (RFC 9457). */
export const problemSchema = obj(
  {
    type: { type: 'string', description: 'URI reference naming the problem type' },
    title: { type: 'string', description: 'Short summary of the problem type' },
    status: { type: 'integer', description: 'HTTP status code' },
    detail: { type: 'string', description: 'What went wrong this time' },
    instance: { type: 'string', description: 'The request path' },
  },
  ['instance'],
);

/** Path parameter `name` of a bridge. */
export const bridgeParams = obj({ name: { type: 'string', minLength: 1, maxLength: 255 } });

/** Path parameter `command` of an appctl command (may hold `/` when URL-encoded). */
export const commandParams = obj({ command: { type: 'string', minLength: 1, maxLength: 255 } });

const portStats = obj({
  rxPackets: count,
  txPackets: count,
  rxBytes: count,
  txBytes: count,
  rxDropped: count,
  txDropped: count,
  rxErrors: count,
  txErrors: count,
});

/** One bridge. */
export const bridgeSchema = obj({
  name: str,
  uuid: str,
  datapathId: { type: 'string', pattern: '^[0-9a-f]{16}$' },
  ports: list(str),
  controllers: list(str),
  flowCount: count,
});

/** One port. */
export const portSchema = obj({
  bridge: str,
  name: str,
  ofport: count,
  mac: str,
  adminState: updown,
  linkState: updown,
  stats: portStats,
});

/** One Interface row. */
export const interfaceSchema = obj(
  {
    name: str,
    uuid: str,
    type: str,
    bridge: str,
    ofport: int,
    error: str,
    adminState: str,
    linkState: str,
    macInUse: str,
  },
  ['bridge', 'ofport', 'error', 'adminState', 'linkState', 'macInUse'],
);

/** Query of a flow dump. */
export const flowQuerySchema = obj(
  {
    table: { type: 'integer', minimum: 0, maximum: 253, description: 'Only this table' },
    cookie: {
      type: 'string',
      pattern: '^(0[xX][0-9a-fA-F]{1,16}|[0-9]{1,20})(/(0[xX][0-9a-fA-F]{1,16}|[0-9]{1,20}))?$',
      description: 'VALUE[/MASK] as in ovs-ofctl (`0x10/0xf0`); no mask = exact',
    },
  },
  ['table', 'cookie'],
);

/** One flow. */
export const flowSchema = obj({
  table: count,
  priority: count,
  cookie: str,
  match: str,
  actions: str,
  packets: count,
  bytes: count,
  durationSec: count,
  idleTimeout: count,
  hardTimeout: count,
});

/** One group. */
export const groupSchema = obj({
  groupId: count,
  type: { type: 'string', enum: ['all', 'select', 'indirect', 'ff'] },
  buckets: list(str),
  packets: count,
  bytes: count,
  refCount: count,
});

/** One meter. */
export const meterSchema = obj({
  meterId: count,
  flags: list(str),
  bands: list(
    obj(
      {
        type: { type: 'string', enum: ['drop', 'dscp_remark', 'experimenter'] },
        rate: count,
        burstSize: count,
        precLevel: count,
      },
      ['precLevel'],
    ),
  ),
  packetsIn: count,
  bytesIn: count,
  flowCount: count,
});

/** Text output of an appctl command, as `ovs-appctl` would print it. */
export const textOutputSchema = obj({ output: str });

/** Body of POST /api/bridges/:name/trace. */
export const traceBodySchema = obj(
  {
    flow: {
      type: 'string',
      minLength: 1,
      maxLength: 4096,
      description: 'Flow in ovs-ofctl syntax, e.g. `in_port=1,tcp,tp_dst=80`',
    },
    packet: {
      type: 'string',
      pattern: '^[0-9a-fA-F]*$',
      maxLength: 131072,
      description: 'Packet bytes in hex (optional)',
    },
    generate: { type: 'boolean', description: 'Run with side effects (-generate)' },
  },
  ['packet', 'generate'],
);

/** Body of POST /api/appctl/:command. */
export const appctlBodySchema = obj(
  { args: { type: 'array', items: { type: 'string', maxLength: 65536 }, maxItems: 256 } },
  ['args'],
);

/** One appctl command. */
export const appctlCommandSchema = obj({
  name: str,
  usage: str,
  minArgs: count,
  maxArgs: { type: ['integer', 'null'], description: 'null = no limit' },
});

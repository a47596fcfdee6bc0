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
    limit: {
      type: 'integer',
      minimum: 1,
      maximum: 1000000,
      description: 'At most this many flows (the first ones in table/priority order)',
    },
  },
  ['table', 'cookie', 'limit'],
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

const strMap = {
  type: 'object',
  additionalProperties: { type: 'string' },
  description: 'The database column as is (string to string)',
} as const;

/** Path parameter `name` of an interface. */
export const interfaceParams = obj({ name: { type: 'string', minLength: 1, maxLength: 255 } });

/** BFD of one interface. */
export const bfdSchema = obj(
  {
    interface: str,
    bridge: str,
    enabled: { type: 'boolean' },
    config: strMap,
    state: { type: 'string', description: 'admin_down, down, init or up' },
    forwarding: { type: 'boolean' },
    diagnostic: str,
    remoteState: str,
    remoteDiagnostic: str,
    flapCount: count,
    status: strMap,
  },
  ['bridge', 'state', 'forwarding', 'diagnostic', 'remoteState', 'remoteDiagnostic', 'flapCount'],
);

/** STP of one port. */
export const stpPortSchema = obj(
  {
    name: str,
    portId: str,
    state: {
      type: 'string',
      description: 'disabled, listening, learning, forwarding or blocking',
    },
    secInState: count,
    role: { type: 'string', description: 'root, designated, alternate or disabled' },
    txCount: count,
    rxCount: count,
    errorCount: count,
    config: strMap,
  },
  ['portId', 'state', 'secInState', 'role', 'txCount', 'rxCount', 'errorCount'],
);

/** STP of one bridge. */
export const stpSchema = obj(
  {
    bridge: str,
    enabled: { type: 'boolean' },
    bridgeId: str,
    designatedRoot: str,
    rootPathCost: count,
    isRoot: { type: 'boolean' },
    config: strMap,
    ports: list(stpPortSchema),
  },
  ['bridgeId', 'designatedRoot', 'rootPathCost', 'isRoot'],
);

/** Lookups and matches of one table. */
export const tableStatsSchema = obj({ table: count, count, lookups: count, matched: count });

/**
 * The running topology (`<rundir>/topo.json`, written by `tsvs topo`): the members listed are
 * the ones the file has today; members added later pass through unchanged.
 */
export const topologySchema: JsonSchema = {
  type: 'object',
  required: ['prefix', 'hosts', 'switches', 'links'],
  additionalProperties: true,
  properties: {
    version: { type: 'integer', description: 'Format version (1)' },
    prefix: { type: 'string', description: 'Prefix of every namespace and interface name' },
    spec: { type: 'string', description: 'The spec it was built from, e.g. `linear,3`' },
    pid: { type: 'integer', description: 'Process that owns the topology' },
    controllers: list(str),
    failMode: { type: 'string', enum: ['secure', 'standalone'] },
    hosts: list({
      type: 'object',
      required: ['name', 'netns', 'ip', 'mac', 'switch', 'port'],
      additionalProperties: true,
      properties: {
        name: str,
        netns: str,
        ip: { type: 'string', description: 'IPv4 address without prefix length' },
        prefixLen: int,
        mac: str,
        iface: { type: 'string', description: 'Interface inside the namespace' },
        vlan: int,
        vlanAt: { type: 'string', enum: ['host', 'switch'] },
        switch: str,
        port: { type: ['integer', 'string'], description: 'OpenFlow port on the switch' },
      },
    }),
    switches: list({
      type: 'object',
      required: ['name'],
      additionalProperties: true,
      properties: { name: str, dpid: str },
    }),
    links: list({
      type: 'object',
      required: ['a', 'b', 'aIface', 'bIface', 'up'],
      additionalProperties: true,
      properties: {
        a: str,
        b: str,
        aIface: str,
        bIface: str,
        aPort: int,
        bPort: int,
        up: { type: 'boolean', description: 'Administrative state set by the topology' },
        mtu: int,
      },
    }),
  },
};

/** One step of a trace: a table visited and what the rule did. */
export const traceStepSchema = obj(
  {
    bridge: str,
    table: count,
    depth: { type: 'integer', minimum: 0, description: 'Nesting (resubmit, patch port) level' },
    match: { type: 'string', description: 'Rule match ("" = match all)' },
    priority: count,
    cookie: str,
    miss: { type: 'boolean', description: 'No rule matched' },
    actions: list(str),
  },
  ['priority', 'cookie'],
);

/** Answer of POST /api/bridges/:name/trace. */
export const traceResultSchema = obj(
  {
    output: { type: 'string', description: 'ofproto/trace output as ovs-appctl prints it' },
    path: list(traceStepSchema),
    finalFlow: str,
    megaflow: str,
    datapathActions: str,
  },
  ['finalFlow', 'megaflow', 'datapathActions'],
);

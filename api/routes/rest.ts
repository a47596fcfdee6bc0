/**
 * The REST resources: one {@link RouteSpec} per route, holding its JSON Schemas and its handler.
 * api/server.ts registers them with fastify and api/openapi.ts publishes the same table as
 * OpenAPI, so validation, serialization and documentation come from one place.
 */
import { Ajv } from 'ajv';
import type { ApiBackend, FlowQuery } from '../backend.js';
import { ApiProblem } from '../problem.js';
import {
  appctlBodySchema,
  appctlCommandSchema,
  bfdSchema,
  bridgeParams,
  bridgeSchema,
  flowQuerySchema,
  flowSchema,
  groupSchema,
  interfaceParams,
  interfaceSchema,
  meterSchema,
  portSchema,
  stpSchema,
  tableStatsSchema,
  textOutputSchema,
  topologySchema,
  traceBodySchema,
  traceResultSchema,
  type JsonSchema,
} from '../schemas.js';
import { parseTrace } from '../trace.js';

/** What a handler gets. */
export interface RouteRequest {
  /** Path parameters (validated). */
  params: Record<string, string>;
  /** Query parameters (validated, coerced). */
  query: Record<string, unknown>;
  /** Parsed JSON body (validated). */
  body: unknown;
}

/** One REST route. */
export interface RouteSpec {
  /** HTTP method. */
  method: 'GET' | 'POST';
  /** Path in fastify syntax (`/api/bridges/:name`, `*` for a wildcard). */
  url: string;
  /** The same path in OpenAPI syntax (`/api/bridges/{name}`). */
  path: string;
  /** OpenAPI operationId. */
  operationId: string;
  /** One-line summary. */
  summary: string;
  /** Path parameters schema (object of strings); the wildcard is published as `command`. */
  params?: JsonSchema;
  /** Query string schema. */
  querystring?: JsonSchema;
  /** JSON body schema. */
  body?: JsonSchema;
  /** The body may be left out altogether (the handler then gets `undefined`). */
  bodyOptional?: boolean;
  /** Schema of the 200 response. */
  response: JsonSchema;
  /** Problem statuses this route can answer besides 200 (and 500). */
  errors: number[];
  /** Answers the request; throws {@link ApiProblem}. */
  handler(req: RouteRequest, backend: ApiBackend): unknown;
}

const fdbSchema: JsonSchema = {
  type: 'object',
  required: ['output', 'entries'],
  additionalProperties: false,
  properties: {
    output: { type: 'string' },
    entries: {
      type: 'array',
      items: {
        type: 'object',
        required: ['port', 'vlan', 'mac', 'age'],
        additionalProperties: false,
        properties: {
          port: { type: 'string' },
          vlan: { type: 'integer' },
          mac: { type: 'string' },
          age: { type: 'integer' },
        },
      },
    },
  },
};

const dpFlowsSchema: JsonSchema = {
  type: 'object',
  required: ['output', 'flows'],
  additionalProperties: false,
  properties: { output: { type: 'string' }, flows: { type: 'array', items: { type: 'string' } } },
};

const dpQuerySchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    dp: { type: 'string', minLength: 1, maxLength: 255, description: 'Datapath name' },
    verbose: { type: 'boolean', description: 'dpctl/dump-flows -m' },
  },
};

const appctlParams: JsonSchema = {
  type: 'object',
  required: ['*'],
  additionalProperties: false,
  properties: { '*': { type: 'string', minLength: 1, maxLength: 255 } },
};

function list(items: JsonSchema): JsonSchema {
  return { type: 'array', items };
}

function need<T>(v: T | undefined, name: string): T {
  if (v === undefined) throw new ApiProblem('unknown-bridge', `no bridge named "${name}"`);
  return v;
}

function bridgeName(req: RouteRequest): string {
  return req.params.name ?? '';
}

/** Parses `VALUE[/MASK]` (decimal or 0x hex, 64-bit). */
export function parseCookie(s: string): { cookie: bigint; mask: bigint } {
  const [v, m] = s.split('/');
  const max = 0xffffffffffffffffn;
  const cookie = BigInt(v!);
  const mask = m === undefined ? max : BigInt(m);
  if (cookie > max || mask > max)
    throw new ApiProblem('bad-request', `cookie ${s} does not fit in 64 bits`);
  return { cookie, mask };
}

/** Runs an appctl command that a feature needs, or answers 404 when it is not registered. */
async function feature(
  b: ApiBackend,
  command: string,
  args: string[],
  what: string,
): Promise<string> {
  if (!b.appctl.get(command)) {
    throw new ApiProblem(
      'command-unavailable',
      `${what} is not available: this daemon has no "${command}" appctl command`,
    );
  }
  try {
    return await b.appctl.run(command, args);
  } catch (e) {
    throw new ApiProblem('command-failed', `${command}: ${(e as Error).message}`);
  }
}

/** Parses `ovs-appctl fdb/show` output into entries. */
export function parseFdb(text: string): { port: string; vlan: number; mac: string; age: number }[] {
  const out: { port: string; vlan: number; mac: string; age: number }[] = [];
  for (const line of text.split('\n').slice(1)) {
    const w = line.trim().split(/\s+/);
    if (w.length !== 4) continue;
    const [port, vlan, mac, age] = w as [string, string, string, string];
    if (!/^\d+$/.test(vlan) || !/^\d+$/.test(age)) continue;
    out.push({ port, vlan: Number(vlan), mac, age: Number(age) });
  }
  return out;
}

const validTopology = new Ajv({ strict: false, allErrors: false }).compile(topologySchema);

/** Every REST route. */
export const ROUTES: RouteSpec[] = [
  {
    method: 'GET',
    url: '/api/bridges',
    path: '/api/bridges',
    operationId: 'listBridges',
    summary: 'Every running bridge',
    response: list(bridgeSchema),
    errors: [],
    handler: (_req, b) => b.listBridges(),
  },
  {
    method: 'GET',
    url: '/api/bridges/:name',
    path: '/api/bridges/{name}',
    operationId: 'getBridge',
    summary: 'One bridge',
    params: bridgeParams,
    response: bridgeSchema,
    errors: [404],
    handler: (req, b) => need(b.getBridge(bridgeName(req)), bridgeName(req)),
  },
  {
    method: 'GET',
    url: '/api/bridges/:name/ports',
    path: '/api/bridges/{name}/ports',
    operationId: 'listPorts',
    summary: 'The OpenFlow ports of a bridge with their state and counters',
    params: bridgeParams,
    response: list(portSchema),
    errors: [404],
    handler: (req, b) => need(b.listPorts(bridgeName(req)), bridgeName(req)),
  },
  {
    method: 'GET',
    url: '/api/interfaces',
    path: '/api/interfaces',
    operationId: 'listInterfaces',
    summary: 'Every Interface row of the database',
    response: list(interfaceSchema),
    errors: [],
    handler: (_req, b) => b.listInterfaces(),
  },
  {
    method: 'GET',
    url: '/api/bridges/:name/flows',
    path: '/api/bridges/{name}/flows',
    operationId: 'listFlows',
    summary: 'The OpenFlow rules of a bridge (ovs-ofctl dump-flows), filtered by table and cookie',
    params: bridgeParams,
    querystring: flowQuerySchema,
    response: list(flowSchema),
    errors: [400, 404],
    handler: (req, b) => {
      const q: FlowQuery = {};
      if (typeof req.query.table === 'number') q.table = req.query.table;
      if (typeof req.query.cookie === 'string') {
        const c = parseCookie(req.query.cookie);
        q.cookie = c.cookie;
        q.cookieMask = c.mask;
      }
      if (typeof req.query.limit === 'number') q.limit = req.query.limit;
      const flows = need(b.listFlows(bridgeName(req), q), bridgeName(req));
      return q.limit !== undefined && flows.length > q.limit ? flows.slice(0, q.limit) : flows;
    },
  },
  {
    method: 'GET',
    url: '/api/bridges/:name/tables',
    path: '/api/bridges/{name}/tables',
    operationId: 'listTableStats',
    summary: 'Rules, lookups and matches per table (tables holding rules or seeing lookups)',
    params: bridgeParams,
    response: list(tableStatsSchema),
    errors: [404],
    handler: (req, b) => need(b.tableStats(bridgeName(req)), bridgeName(req)),
  },
  {
    method: 'GET',
    url: '/api/bridges/:name/stp',
    path: '/api/bridges/{name}/stp',
    operationId: 'getStp',
    summary:
      'STP of a bridge and its ports, from the database (Bridge.stp_enable/status, Port.status/statistics)',
    params: bridgeParams,
    response: stpSchema,
    errors: [404],
    handler: (req, b) => need(b.getStp(bridgeName(req)), bridgeName(req)),
  },
  {
    method: 'GET',
    url: '/api/stp',
    path: '/api/stp',
    operationId: 'listStp',
    summary: 'STP of every bridge',
    response: list(stpSchema),
    errors: [],
    handler: (_req, b) => b.listStp(),
  },
  {
    method: 'GET',
    url: '/api/bfd',
    path: '/api/bfd',
    operationId: 'listBfd',
    summary: 'BFD of every interface with BFD configured or reported (Interface.bfd/bfd_status)',
    response: list(bfdSchema),
    errors: [],
    handler: (_req, b) => b.listBfd(),
  },
  {
    method: 'GET',
    url: '/api/interfaces/:name/bfd',
    path: '/api/interfaces/{name}/bfd',
    operationId: 'getBfd',
    summary: 'BFD of one interface (enabled false when it has none)',
    params: interfaceParams,
    response: bfdSchema,
    errors: [404],
    handler: (req, b) => {
      const name = req.params.name ?? '';
      const r = b.getBfd(name);
      if (!r) throw new ApiProblem('unknown-interface', `no interface named "${name}"`);
      return r;
    },
  },
  {
    method: 'GET',
    url: '/api/topology',
    path: '/api/topology',
    operationId: 'getTopology',
    summary: 'The running `tsvs topo` network: hosts, switches and links (<rundir>/topo.json)',
    response: topologySchema,
    errors: [404],
    handler: (_req, b) => {
      let topo: unknown;
      try {
        topo = b.topology();
      } catch (e) {
        throw new ApiProblem('bad-topology', `cannot read topo.json: ${(e as Error).message}`);
      }
      if (topo === undefined) {
        throw new ApiProblem(
          'no-topology',
          'no topology is running on this daemon (start one with: tsvs topo SPEC)',
        );
      }
      if (!validTopology(topo)) {
        const err = validTopology.errors?.[0];
        throw new ApiProblem(
          'bad-topology',
          `topo.json does not have the expected shape: ${err?.instancePath || '/'} ${err?.message ?? ''}`.trim(),
        );
      }
      return topo;
    },
  },
  {
    method: 'GET',
    url: '/api/bridges/:name/groups',
    path: '/api/bridges/{name}/groups',
    operationId: 'listGroups',
    summary: 'The groups of a bridge',
    params: bridgeParams,
    response: list(groupSchema),
    errors: [404],
    handler: (req, b) => need(b.listGroups(bridgeName(req)), bridgeName(req)),
  },
  {
    method: 'GET',
    url: '/api/bridges/:name/meters',
    path: '/api/bridges/{name}/meters',
    operationId: 'listMeters',
    summary: 'The meters of a bridge',
    params: bridgeParams,
    response: list(meterSchema),
    errors: [404],
    handler: (req, b) => need(b.listMeters(bridgeName(req)), bridgeName(req)),
  },
  {
    method: 'GET',
    url: '/api/bridges/:name/fdb',
    path: '/api/bridges/{name}/fdb',
    operationId: 'getFdb',
    summary: 'The MAC learning table of a bridge (appctl fdb/show)',
    params: bridgeParams,
    response: fdbSchema,
    errors: [404, 422],
    handler: async (req, b) => {
      const name = bridgeName(req);
      need(b.getBridge(name), name);
      const output = await feature(b, 'fdb/show', [name], 'the MAC learning table');
      return { output, entries: parseFdb(output) };
    },
  },
  {
    method: 'GET',
    url: '/api/datapath/flows',
    path: '/api/datapath/flows',
    operationId: 'listDatapathFlows',
    summary: 'The datapath (megaflow) cache (appctl dpctl/dump-flows)',
    querystring: dpQuerySchema,
    response: dpFlowsSchema,
    errors: [400, 404, 422],
    handler: async (req, b) => {
      const args: string[] = [];
      if (req.query.verbose === true) args.push('-m');
      if (typeof req.query.dp === 'string') args.push(req.query.dp);
      const output = await feature(b, 'dpctl/dump-flows', args, 'the datapath flow dump');
      const flows = output.split('\n').filter((l) => l !== '' && !l.startsWith('flow-dump from'));
      return { output, flows };
    },
  },
  {
    method: 'POST',
    url: '/api/bridges/:name/trace',
    path: '/api/bridges/{name}/trace',
    operationId: 'traceFlow',
    summary: 'Trace a flow through the bridge (appctl ofproto/trace)',
    params: bridgeParams,
    body: traceBodySchema,
    response: traceResultSchema,
    errors: [400, 404, 422],
    handler: async (req, b) => {
      const name = bridgeName(req);
      need(b.getBridge(name), name);
      const body = req.body as { flow: string; packet?: string; generate?: boolean };
      if (body.packet !== undefined && body.packet.length % 2 !== 0)
        throw new ApiProblem('bad-request', 'packet must hold an even number of hex digits');
      const args = [name, body.flow];
      if (body.generate === true) args.push('-generate');
      if (body.packet) args.push(body.packet);
      const output = await feature(b, 'ofproto/trace', args, 'packet tracing');
      return { output, ...parseTrace(output, name) };
    },
  },
  {
    method: 'GET',
    url: '/api/appctl',
    path: '/api/appctl',
    operationId: 'listAppctlCommands',
    summary: 'Every appctl command (list-commands)',
    response: list(appctlCommandSchema),
    errors: [],
    handler: (_req, b) =>
      b.appctl.list().map((c) => ({
        name: c.name,
        usage: c.usage,
        minArgs: c.minArgs,
        maxArgs: Number.isFinite(c.maxArgs) ? c.maxArgs : null,
      })),
  },
  {
    method: 'POST',
    url: '/api/appctl/*',
    path: '/api/appctl/{command}',
    operationId: 'runAppctlCommand',
    summary: 'Run an appctl command (its name may contain `/`, e.g. /api/appctl/fdb/show)',
    params: appctlParams,
    body: appctlBodySchema,
    bodyOptional: true,
    response: textOutputSchema,
    errors: [400, 404, 422],
    handler: async (req, b) => {
      const command = req.params['*'] ?? '';
      const cmd = b.appctl.list().find((c) => c.name === command);
      if (!cmd) {
        throw new ApiProblem(
          'unknown-command',
          `"${command}" is not a valid command (GET /api/appctl lists them)`,
        );
      }
      const args = (req.body as { args?: string[] } | undefined)?.args ?? [];
      if (args.length < cmd.minArgs || args.length > cmd.maxArgs) {
        const bound = Number.isFinite(cmd.maxArgs)
          ? `${cmd.minArgs}..${cmd.maxArgs}`
          : `${cmd.minArgs}+`;
        throw new ApiProblem(
          'bad-request',
          `"${command}" takes ${bound} arguments, got ${args.length} (usage: ${command} ${cmd.usage})`,
        );
      }
      try {
        return { output: await b.appctl.run(command, args) };
      } catch (e) {
        throw new ApiProblem('command-failed', `${command}: ${(e as Error).message}`);
      }
    },
  },
];

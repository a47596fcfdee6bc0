/**
 * The daemon's side of the HTTP API: {@link DaemonApiBackend} implements api/'s
 * {@link ApiBackend} over the Open_vSwitch database, the bridge reconciler's running bridges and
 * the appctl registry, and {@link ApiComponent} runs the API server as a daemon component
 * (off unless `tsvs start --api HOST:PORT` asks for it).
 *
 * Event sources and their hooks:
 * - `ovsdb`: Database.onCommit, one event per changed row.
 * - `port`: derived from the Interface rows the reconciler writes back (insert → add, delete →
 *   delete, a change of ofport/admin_state/link_state → modify). Ofproto has no port-status
 *   listener yet; once it has one (e.g. `Ofproto.onPortStatus(fn)`), feed from it instead.
 * - `flow`: the pipeline has no per-rule change hook (only `PipelineHooks.changed`, which the
 *   revalidator owns), so while some client listens to `flow` the backend diffs each bridge's
 *   rule set every {@link DaemonApiBackendOptions.flowPollMs} ms. An
 *   `OpenFlowPipeline.onRuleChange(fn)` hook would make this exact and free.
 * - Groups and meters are read from the pipeline (`allGroups()`, `allMeters()`).
 */
import type { Clock, TimerHandle } from '../lib/clock.js';
import { getLogger } from '../lib/log.js';
import { formatMatch } from '../lib/packet/format.js';
import type {
  ApiBackend,
  AppctlLike,
  BridgeInfo,
  FlowInfo,
  FlowQuery,
  GroupInfo,
  InterfaceInfo,
  MeterInfo,
  OvsdbStatsInfo,
  PortInfo,
} from '../api/backend.js';
import type { ApiEvent, Topic } from '../api/events.js';
import { createApiServer, type ApiServer } from '../api/server.js';
import { OFPG, OFPGT, OFPMF, OFPP, OFPPC, OFPPS } from '../openflow/constants.js';
import { macToString } from '../openflow/print.js';
import type { Ofproto } from '../ofproto/ofproto.js';
import type { OfRule } from '../ofproto/pipeline.js';
import { formatInstruction, formatOfAction } from '../ofproto/trace.js';
import type { Database } from '../ovsdb/database.js';
import type { OvsdbServer } from '../ovsdb/server.js';
import type { Row } from '../ovsdb/types.js';
import { BridgeComponent, OvsdbComponent } from './components.js';
import type { Daemon, DaemonComponent } from './daemon.js';

const log = getLogger('api');

/** Where the backend finds the daemon's parts (getters: they come and go with components). */
export interface DaemonApiBackendOptions {
  /** The appctl registry. */
  appctl: AppctlLike;
  /** The Open_vSwitch database, if running. */
  db: () => Database | undefined;
  /** The OVSDB server, if running in this process. */
  server?: () => OvsdbServer | undefined;
  /** Running bridges by name. */
  bridges: () => ReadonlyMap<string, { ofproto: Ofproto; uuid?: string }> | undefined;
  /** Clock for the flow poller. */
  clock: Clock;
  /** How often flow sets are diffed while a client listens to `flow` (ms, default 500). */
  flowPollMs?: number;
}

function str(row: Row | undefined, col: string): string | undefined {
  const k = row?.data[col]?.keys[0];
  return typeof k === 'string' ? k : undefined;
}

function int(row: Row | undefined, col: string): number | undefined {
  const k = row?.data[col]?.keys[0];
  if (typeof k === 'bigint') return Number(k);
  if (typeof k === 'number') return k;
  return undefined;
}

function uuids(row: Row | undefined, col: string): string[] {
  return (row?.data[col]?.keys ?? []).filter((k): k is string => typeof k === 'string');
}

function hex(v: bigint): string {
  return '0x' + v.toString(16);
}

function num(v: bigint): number {
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

/** A rule's match in ovs-ofctl syntax. */
function ruleMatch(r: OfRule): string {
  return formatMatch(r.cls.key, r.cls.mask);
}

/** A rule's instructions in ovs-ofctl syntax. */
function ruleActions(r: OfRule): string {
  const parts = r.instructions.map(formatInstruction).filter((s) => s !== '');
  return parts.length === 0 ? 'drop' : parts.join(',');
}

const GROUP_TYPES: Record<number, GroupInfo['type']> = {
  [OFPGT.ALL]: 'all',
  [OFPGT.SELECT]: 'select',
  [OFPGT.INDIRECT]: 'indirect',
  [OFPGT.FF]: 'ff',
};

/** {@link ApiBackend} over a running daemon. */
export class DaemonApiBackend implements ApiBackend {
  readonly appctl: AppctlLike;
  private readonly ifaceBridge = new Map<string, string>();

  constructor(private readonly opts: DaemonApiBackendOptions) {
    this.appctl = opts.appctl;
  }

  private ofproto(name: string): Ofproto | undefined {
    return this.opts.bridges()?.get(name)?.ofproto;
  }

  listBridges(): BridgeInfo[] {
    const all = this.opts.bridges();
    if (!all) return [];
    return [...all.keys()]
      .sort()
      .map((n) => this.getBridge(n))
      .filter((b): b is BridgeInfo => b !== undefined);
  }

  getBridge(name: string): BridgeInfo | undefined {
    const rb = this.opts.bridges()?.get(name);
    if (!rb) return undefined;
    const db = this.opts.db();
    const brow = rb.uuid !== undefined ? db?.getRow('Bridge', rb.uuid) : undefined;
    const controllers = uuids(brow, 'controller')
      .map((u) => str(db?.getRow('Controller', u), 'target'))
      .filter((t): t is string => t !== undefined)
      .sort();
    return {
      name,
      uuid: rb.uuid ?? '',
      datapathId: rb.ofproto.datapathId.toString(16).padStart(16, '0'),
      ports: rb.ofproto.listPorts().map((p) => p.name),
      controllers,
      flowCount: rb.ofproto.tables.flowCount(),
    };
  }

  listPorts(bridge: string): PortInfo[] | undefined {
    const of = this.ofproto(bridge);
    if (!of) return undefined;
    return of.listPorts().map((p) => {
      const c = p.counters();
      return {
        bridge,
        name: p.name,
        ofport: p.ofport,
        mac: macToString(p.hwAddr),
        adminState: (p.config & OFPPC.PORT_DOWN) === 0 ? 'up' : 'down',
        linkState: (p.state & OFPPS.LINK_DOWN) === 0 ? 'up' : 'down',
        stats: {
          rxPackets: num(c.rxPackets),
          txPackets: num(c.txPackets),
          rxBytes: num(c.rxBytes),
          txBytes: num(c.txBytes),
          rxDropped: num(c.rxDropped),
          txDropped: num(c.txDropped),
          rxErrors: num(c.rxErrors),
          txErrors: num(c.txErrors),
        },
      };
    });
  }

  /** Interface uuid → [port name, bridge name] from the current database. */
  private ifaceOwners(db: Database): Map<string, { port: string; bridge: string }> {
    const portBridge = new Map<string, string>();
    for (const b of db.rows('Bridge').values()) {
      const bn = str(b, 'name') ?? '';
      for (const pu of uuids(b, 'ports')) portBridge.set(pu, bn);
    }
    const out = new Map<string, { port: string; bridge: string }>();
    for (const p of db.rows('Port').values()) {
      const bridge = portBridge.get(p.uuid);
      if (bridge === undefined) continue;
      for (const iu of uuids(p, 'interfaces')) out.set(iu, { port: str(p, 'name') ?? '', bridge });
    }
    return out;
  }

  listInterfaces(): InterfaceInfo[] {
    const db = this.opts.db();
    if (!db) return [];
    const owners = this.ifaceOwners(db);
    const out: InterfaceInfo[] = [];
    for (const r of db.rows('Interface').values()) {
      const i: InterfaceInfo = {
        name: str(r, 'name') ?? '',
        uuid: r.uuid,
        type: str(r, 'type') ?? '',
      };
      const o = owners.get(r.uuid);
      if (o) i.bridge = o.bridge;
      const ofport = int(r, 'ofport');
      if (ofport !== undefined) i.ofport = ofport;
      const error = str(r, 'error');
      if (error !== undefined) i.error = error;
      const admin = str(r, 'admin_state');
      if (admin !== undefined) i.adminState = admin;
      const link = str(r, 'link_state');
      if (link !== undefined) i.linkState = link;
      const mac = str(r, 'mac_in_use');
      if (mac !== undefined) i.macInUse = mac;
      out.push(i);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  listFlows(bridge: string, q: FlowQuery): FlowInfo[] | undefined {
    const of = this.ofproto(bridge);
    if (!of) return undefined;
    const now = this.opts.clock.now();
    const mask = q.cookieMask ?? 0xffffffffffffffffn;
    const rules: OfRule[] = [];
    for (const r of of.tables.allRules()) {
      if (q.table !== undefined && r.tableId !== q.table) continue;
      if (q.cookie !== undefined && ((r.cookie ^ q.cookie) & mask) !== 0n) continue;
      rules.push(r);
    }
    rules.sort((a, b) => a.tableId - b.tableId || b.priority - a.priority);
    return rules.map((r) => ({
      table: r.tableId,
      priority: r.priority,
      cookie: hex(r.cookie),
      match: ruleMatch(r),
      actions: ruleActions(r),
      packets: num(r.packetCount),
      bytes: num(r.byteCount),
      durationSec: Math.max(0, Math.floor((now - r.createdAt) / 1000)),
      idleTimeout: r.idleTimeout,
      hardTimeout: r.hardTimeout,
    }));
  }

  flowCounts(bridge: string): { table: number; count: number }[] | undefined {
    const of = this.ofproto(bridge);
    if (!of) return undefined;
    return of.tables
      .tableStats()
      .filter((t) => t.activeCount > 0)
      .map((t) => ({ table: t.tableId, count: t.activeCount }));
  }

  listGroups(bridge: string): GroupInfo[] | undefined {
    const of = this.ofproto(bridge);
    if (!of) return undefined;
    const p = of.tables;
    return p.allGroups().map((g) => {
      const type = GROUP_TYPES[g.groupType] ?? 'all';
      return {
        groupId: g.groupId,
        type,
        buckets: g.buckets.map((b) => {
          const parts: string[] = [];
          if (type === 'select') parts.push(`weight:${b.weight}`);
          if (b.watchPort !== OFPP.ANY) parts.push(`watch_port:${b.watchPort}`);
          if (b.watchGroup !== OFPG.ANY) parts.push(`watch_group:${b.watchGroup}`);
          const acts = b.actions.map(formatOfAction).join(',');
          parts.push(`actions=${acts === '' ? 'drop' : acts}`);
          return parts.join(',');
        }),
        packets: num(g.packetCount),
        bytes: num(g.byteCount),
        refCount: p.groupRefCount(g.groupId),
      };
    });
  }

  listMeters(bridge: string): MeterInfo[] | undefined {
    const of = this.ofproto(bridge);
    if (!of) return undefined;
    const p = of.tables;
    return p.allMeters().map((m) => {
      const flags: string[] = [];
      if (m.flags & OFPMF.KBPS) flags.push('kbps');
      if (m.flags & OFPMF.PKTPS) flags.push('pktps');
      if (m.flags & OFPMF.BURST) flags.push('burst');
      if (m.flags & OFPMF.STATS) flags.push('stats');
      return {
        meterId: m.meterId,
        flags,
        bands: m.bands.map((b) => ({
          type:
            b.type === 'DROP' ? 'drop' : b.type === 'DSCP_REMARK' ? 'dscp_remark' : 'experimenter',
          rate: b.rate,
          burstSize: b.burstSize,
          ...(b.type === 'DSCP_REMARK' ? { precLevel: b.precLevel } : {}),
        })),
        packetsIn: num(m.packetInCount),
        bytesIn: num(m.byteInCount),
        flowCount: p.meterFlowCount(m.meterId),
      };
    });
  }

  ovsdbStats(): OvsdbStatsInfo | undefined {
    const server = this.opts.server?.();
    const db = this.opts.db();
    if (!server || !db) return undefined;
    const sessions = server.sessions();
    return {
      sessions: sessions.length,
      monitors: sessions.reduce((n, s) => n + s.monitorCount(), 0),
      commits: db.commitCount,
    };
  }

  subscribe(sink: (e: ApiEvent) => void, wants: (t: Topic) => boolean): () => void {
    const db = this.opts.db();
    const offCommit = db?.onCommit((commit) => {
      let owners: Map<string, { port: string; bridge: string }> | undefined;
      for (const [table, rows] of commit.tables) {
        for (const [uuid, ch] of rows) {
          const op = !ch.old ? 'insert' : !ch.new ? 'delete' : 'modify';
          if (wants('ovsdb')) {
            sink({ topic: 'ovsdb', table, uuid, op, columns: [...ch.changed].sort() });
          }
          if (table !== 'Interface' || !wants('port')) continue;
          if (
            op === 'modify' &&
            !['ofport', 'admin_state', 'link_state'].some((c) => ch.changed.has(c))
          )
            continue;
          owners ??= this.ifaceOwners(db);
          const row = ch.new ?? ch.old;
          const bridge = owners.get(uuid)?.bridge ?? this.ifaceBridge.get(uuid) ?? '';
          if (op === 'delete') this.ifaceBridge.delete(uuid);
          else if (bridge !== '') this.ifaceBridge.set(uuid, bridge);
          const ofport = int(row, 'ofport');
          const admin = str(row, 'admin_state');
          const link = str(row, 'link_state');
          sink({
            topic: 'port',
            bridge,
            port: str(row, 'name') ?? '',
            op: op === 'insert' ? 'add' : op,
            ...(ofport !== undefined ? { ofport } : {}),
            ...(admin !== undefined ? { adminState: admin } : {}),
            ...(link !== undefined ? { linkState: link } : {}),
          });
        }
      }
    });

    // Flow events by diffing rule sets while someone listens.
    let known: Map<string, Set<OfRule>> | undefined;
    let timer: TimerHandle | undefined;
    let stopped = false;
    const flowEvent = (bridge: string, op: 'add' | 'remove', r: OfRule): ApiEvent => ({
      topic: 'flow',
      bridge,
      op,
      table: r.tableId,
      priority: r.priority,
      cookie: hex(r.cookie),
      match: ruleMatch(r),
    });
    const poll = (): void => {
      if (!wants('flow')) {
        known = undefined;
        return;
      }
      const bridges = this.opts.bridges() ?? new Map<string, { ofproto: Ofproto }>();
      const baseline = known === undefined;
      const next = new Map<string, Set<OfRule>>();
      for (const [name, rb] of bridges) {
        const now = new Set(rb.ofproto.tables.allRules());
        next.set(name, now);
        if (baseline) continue;
        const before = known!.get(name) ?? new Set<OfRule>();
        for (const r of before) if (!now.has(r)) sink(flowEvent(name, 'remove', r));
        for (const r of now) if (!before.has(r)) sink(flowEvent(name, 'add', r));
      }
      if (!baseline) {
        for (const [name, before] of known!)
          if (!next.has(name)) for (const r of before) sink(flowEvent(name, 'remove', r));
      }
      known = next;
    };
    const arm = (): void => {
      if (stopped) return;
      timer = this.opts.clock.setTimeout(() => {
        try {
          poll();
        } catch (err) {
          log.error({ err }, 'flow event poll failed');
        }
        arm();
      }, this.opts.flowPollMs ?? 500);
    };
    arm();
    return () => {
      stopped = true;
      offCommit?.();
      this.opts.clock.clearTimeout(timer);
    };
  }
}

/** Options of {@link ApiComponent}. */
export interface ApiComponentOptions {
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Port (0 = any free port). */
  port: number;
  /** Flow poll interval (see {@link DaemonApiBackendOptions.flowPollMs}). */
  flowPollMs?: number;
}

/** The HTTP API as a daemon component; list it after the bridge component. */
export class ApiComponent implements DaemonComponent {
  readonly name = 'api';
  /** The running server, once started. */
  server: ApiServer | undefined;
  /** Base URL once listening, e.g. `http://127.0.0.1:8080`. */
  url: string | undefined;

  constructor(
    private readonly ovsdb: OvsdbComponent,
    private readonly bridge: BridgeComponent,
    private readonly opts: ApiComponentOptions,
  ) {}

  async start(d: Daemon): Promise<void> {
    const backend = new DaemonApiBackend({
      appctl: d.registry,
      db: () => this.ovsdb.running?.db,
      server: () => this.ovsdb.running?.server,
      bridges: () => this.bridge.reconciler?.bridges,
      clock: d.clock,
      ...(this.opts.flowPollMs !== undefined ? { flowPollMs: this.opts.flowPollMs } : {}),
    });
    const server = await createApiServer({ backend, version: d.version });
    try {
      this.url = await server.listen({ host: this.opts.host ?? '127.0.0.1', port: this.opts.port });
    } catch (err) {
      await server.close();
      throw err;
    }
    this.server = server;
    log.info({ url: this.url }, 'HTTP API listening');
  }

  async stop(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
    this.url = undefined;
  }
}

/**
 * The API component over the OVSDB and bridge components of `components` (e.g. those of
 * `standardComponents()`); append it to the list so it starts after them and stops before them.
 * Throws if either is missing.
 */
export function apiComponent(
  components: readonly DaemonComponent[],
  opts: ApiComponentOptions,
): ApiComponent {
  const ovsdb = components.find((c): c is OvsdbComponent => c instanceof OvsdbComponent);
  const bridge = components.find((c): c is BridgeComponent => c instanceof BridgeComponent);
  if (!ovsdb || !bridge) throw new Error('the API needs the OVSDB server and bridge components');
  return new ApiComponent(ovsdb, bridge, opts);
}

/**
 * Parses `--api` values: `PORT`, `HOST:PORT` or `[V6]:PORT`. Throws Error on a bad value.
 */
export function parseApiAddress(s: string): { host: string; port: number } {
  const m = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):)?(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new Error(`bad --api address "${s}" (expected PORT or HOST:PORT)`);
  }
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port };
}

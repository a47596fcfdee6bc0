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
 * - `flow`: pushed by each bridge's `Ofproto.onRuleChange` as rule changes commit (no polling).
 * - `packet-in`: pushed by each bridge's `Ofproto.onPacketIn` for every packet-in xlate produces.
 *   The backend attaches to the running bridges when it subscribes and after every database
 *   commit (a new bridge's reconciler write-back is a commit); rules already present in a bridge
 *   that appears later are reported as added, and the rules of a bridge that goes away as
 *   removed.
 * - `bfd`: Interface rows whose `bfd` or `bfd_status` changed (the BFD module writes the status
 *   the way ovs-vswitchd does).
 * - `stp`: Bridge rows whose `stp_enable` or `stp_*` keys of `status` changed, and Port rows
 *   whose `stp_state`, `stp_role` or `stp_port_id` changed.
 * - Groups and meters are read from the pipeline (`allGroups()`, `allMeters()`).
 * - BFD, STP and the topology are read from the database and `<rundir>/topo.json`, so they work
 *   whichever module writes them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../lib/clock.js';
import { getLogger } from '../lib/log.js';
import { formatMatch } from '../lib/packet/format.js';
import type {
  ApiBackend,
  AppctlLike,
  BfdInfo,
  BridgeInfo,
  DatapathStatsInfo,
  FlowInfo,
  FlowQuery,
  GroupInfo,
  InterfaceInfo,
  MeterInfo,
  OvsdbStatsInfo,
  PortInfo,
  StpInfo,
  StpPortInfo,
  TableStatsInfo,
} from '../api/backend.js';
import type { ApiEvent, BfdEvent, StpBridgeEvent, StpPortEvent, Topic } from '../api/events.js';
import { createApiServer, type ApiServer } from '../api/server.js';
import { OFPG, OFPGT, OFPMF, OFPP, OFPPC, OFPPS } from '../openflow/constants.js';
import { macToString } from '../openflow/print.js';
import type { Ofproto, PacketInInfo } from '../ofproto/ofproto.js';
import type { OfRule, RuleChangeOp } from '../ofproto/pipeline.js';
import { formatInstruction, formatOfAction } from '../ofproto/trace.js';
import type { CommitRecord, Database, RowChange } from '../ovsdb/database.js';
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
  /** Clock (flow durations). */
  clock: Clock;
  /** The datapath, if running. */
  dpif?: () => { readonly name: string; stats(): DpStatsLike } | undefined;
  /** The daemon's run directory, where `tsvs topo` writes topo.json. */
  rundir?: string;
}

/** The datapath figures the backend reads (datapath/dpif.ts DpStats fits). */
export interface DpStatsLike {
  /** EMC hits. */
  readonly emcHits: number;
  /** Megaflow hits. */
  readonly megaflowHits: number;
  /** Misses. */
  readonly misses: number;
  /** Lost in upcalls. */
  readonly lost: number;
  /** Upcall batches. */
  readonly upcalls: number;
  /** Flows now. */
  readonly flows: number;
  /** Masks now. */
  readonly masks: number;
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

/** A map column as a plain object. */
function smap(row: Row | undefined, col: string): Record<string, string> {
  const d = row?.data[col];
  const out: Record<string, string> = {};
  if (!d?.values) return out;
  d.keys.forEach((k, i) => {
    const v = d.values![i];
    out[String(k)] = typeof v === 'string' ? v : String(v);
  });
  return out;
}

function onlyPrefix(m: Record<string, string>, prefix: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) if (k.startsWith(prefix)) out[k] = v;
  return out;
}

function bool(row: Row | undefined, col: string): boolean {
  return row?.data[col]?.keys[0] === true;
}

/** A decimal count from a string map, when present and well-formed. */
function countOf(m: Record<string, string>, key: string): number | undefined {
  const v = m[key];
  return v !== undefined && /^\d{1,15}$/.test(v) ? Number(v) : undefined;
}

/** Interface.bfd / bfd_status as the API's {@link BfdInfo} (without the bridge). */
function bfdOf(row: Row): Omit<BfdInfo, 'bridge'> {
  const config = smap(row, 'bfd');
  const status = smap(row, 'bfd_status');
  const out: Omit<BfdInfo, 'bridge'> = {
    interface: str(row, 'name') ?? '',
    enabled: config.enable === 'true',
    config,
    status,
  };
  if (status.state !== undefined) out.state = status.state;
  if (status.forwarding !== undefined) out.forwarding = status.forwarding === 'true';
  if (status.diagnostic !== undefined) out.diagnostic = status.diagnostic;
  if (status.remote_state !== undefined) out.remoteState = status.remote_state;
  if (status.remote_diagnostic !== undefined) out.remoteDiagnostic = status.remote_diagnostic;
  const flaps = countOf(status, 'flap_count');
  if (flaps !== undefined) out.flapCount = flaps;
  return out;
}

function hasBfd(row: Row | undefined): boolean {
  return (
    row !== undefined &&
    ((row.data.bfd?.keys.length ?? 0) > 0 || (row.data.bfd_status?.keys.length ?? 0) > 0)
  );
}

/** A Port row's STP figures. */
function stpPortOf(row: Row): StpPortInfo {
  const status = smap(row, 'status');
  const stats = (row.data.statistics?.keys ?? []).reduce<Record<string, string>>((m, k, i) => {
    m[String(k)] = String(row.data.statistics!.values![i]);
    return m;
  }, {});
  const out: StpPortInfo = {
    name: str(row, 'name') ?? '',
    config: onlyPrefix(smap(row, 'other_config'), 'stp-'),
  };
  if (status.stp_port_id !== undefined) out.portId = status.stp_port_id;
  if (status.stp_state !== undefined) out.state = status.stp_state;
  const sec = countOf(status, 'stp_sec_in_state');
  if (sec !== undefined) out.secInState = sec;
  if (status.stp_role !== undefined) out.role = status.stp_role;
  const tx = countOf(stats, 'stp_tx_count');
  if (tx !== undefined) out.txCount = tx;
  const rx = countOf(stats, 'stp_rx_count');
  if (rx !== undefined) out.rxCount = rx;
  const err = countOf(stats, 'stp_error_count');
  if (err !== undefined) out.errorCount = err;
  return out;
}

const STP_PORT_KEYS = ['stp_state', 'stp_role', 'stp_port_id'] as const;
const STP_BRIDGE_KEYS = ['stp_bridge_id', 'stp_designated_root', 'stp_root_path_cost'] as const;

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
    if (q.limit !== undefined && rules.length > q.limit) rules.length = q.limit;
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

  tableStats(bridge: string): TableStatsInfo[] | undefined {
    const of = this.ofproto(bridge);
    if (!of) return undefined;
    return of.tables
      .tableStats()
      .filter((t) => t.activeCount > 0 || t.lookupCount > 0n)
      .map((t) => ({
        table: t.tableId,
        count: t.activeCount,
        lookups: num(t.lookupCount),
        matched: num(t.matchedCount),
      }));
  }

  datapathStats(): DatapathStatsInfo[] {
    const dp = this.opts.dpif?.();
    if (!dp) return [];
    const s = dp.stats();
    return [
      {
        name: dp.name,
        emcHits: s.emcHits,
        megaflowHits: s.megaflowHits,
        misses: s.misses,
        lost: s.lost,
        upcalls: s.upcalls,
        flows: s.flows,
        masks: s.masks,
      },
    ];
  }

  listBfd(): BfdInfo[] {
    const db = this.opts.db();
    if (!db) return [];
    const owners = this.ifaceOwners(db);
    const out: BfdInfo[] = [];
    for (const r of db.rows('Interface').values()) {
      if (!hasBfd(r)) continue;
      const b: BfdInfo = bfdOf(r);
      const o = owners.get(r.uuid);
      if (o) b.bridge = o.bridge;
      out.push(b);
    }
    return out.sort((a, b) => (a.interface < b.interface ? -1 : a.interface > b.interface ? 1 : 0));
  }

  getBfd(name: string): BfdInfo | undefined {
    const db = this.opts.db();
    if (!db) return undefined;
    for (const r of db.rows('Interface').values()) {
      if (str(r, 'name') !== name) continue;
      const b: BfdInfo = bfdOf(r);
      const o = this.ifaceOwners(db).get(r.uuid);
      if (o) b.bridge = o.bridge;
      return b;
    }
    return undefined;
  }

  private stpOf(db: Database, row: Row): StpInfo {
    const status = smap(row, 'status');
    const out: StpInfo = {
      bridge: str(row, 'name') ?? '',
      enabled: bool(row, 'stp_enable'),
      config: onlyPrefix(smap(row, 'other_config'), 'stp-'),
      ports: uuids(row, 'ports')
        .map((u) => db.getRow('Port', u))
        .filter((p): p is Row => p !== undefined)
        .map(stpPortOf)
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    };
    if (status.stp_bridge_id !== undefined) out.bridgeId = status.stp_bridge_id;
    if (status.stp_designated_root !== undefined) out.designatedRoot = status.stp_designated_root;
    const cost = countOf(status, 'stp_root_path_cost');
    if (cost !== undefined) out.rootPathCost = cost;
    if (out.bridgeId !== undefined && out.designatedRoot !== undefined)
      out.isRoot = out.bridgeId === out.designatedRoot;
    return out;
  }

  listStp(): StpInfo[] {
    const db = this.opts.db();
    if (!db) return [];
    return [...db.rows('Bridge').values()]
      .map((r) => this.stpOf(db, r))
      .sort((a, b) => (a.bridge < b.bridge ? -1 : a.bridge > b.bridge ? 1 : 0));
  }

  getStp(name: string): StpInfo | undefined {
    const db = this.opts.db();
    if (!db) return undefined;
    for (const r of db.rows('Bridge').values())
      if (str(r, 'name') === name) return this.stpOf(db, r);
    return undefined;
  }

  topology(): unknown {
    if (this.opts.rundir === undefined) return undefined;
    let text: string;
    try {
      text = readFileSync(join(this.opts.rundir, 'topo.json'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    return JSON.parse(text) as unknown;
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
    // Fold in the datapath meters' counters first (meter-stats does the same).
    p.syncMeterStats();
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
    const portBridge = new Map<string, string>();
    const onCommit = (commit: CommitRecord): void => {
      let owners: Map<string, { port: string; bridge: string }> | undefined;
      const ownersNow = (d: Database): Map<string, { port: string; bridge: string }> =>
        (owners ??= this.ifaceOwners(d));
      for (const [table, rows] of commit.tables) {
        for (const [uuid, ch] of rows) {
          const op = !ch.old ? 'insert' : !ch.new ? 'delete' : 'modify';
          if (wants('ovsdb')) {
            sink({ topic: 'ovsdb', table, uuid, op, columns: [...ch.changed].sort() });
          }
          if (table === 'Interface' && (wants('port') || wants('bfd'))) {
            const bridge = this.bridgeOfIface(commit, uuid, op, () => ownersNow(db!));
            if (wants('port')) this.portEvent(sink, bridge, op, ch);
            if (wants('bfd')) this.bfdEvent(sink, bridge, op, ch);
          } else if (table === 'Bridge') {
            if (wants('stp')) this.stpBridgeEvent(sink, ch);
            // The reconciler stops the bridge later, and may write nothing back then.
            if (op === 'delete') dropBridge(str(ch.old, 'name') ?? '');
          } else if (table === 'Port' && wants('stp')) {
            this.stpPortEvent(sink, db!, uuid, ch, portBridge);
          }
        }
      }
      // A bridge that appeared or went away: (de)attach its rule listener.
      syncBridges(true);
    };
    const offCommit = db?.onCommit((commit) => {
      try {
        onCommit(commit);
      } catch (err) {
        log.error({ err }, 'API event source failed');
      }
    });

    // Flow events, pushed by each bridge's pipeline as rule changes commit.
    const flowEvent = (bridge: string, op: RuleChangeOp, r: OfRule): ApiEvent => ({
      topic: 'flow',
      bridge,
      op,
      table: r.tableId,
      priority: r.priority,
      cookie: hex(r.cookie),
      match: ruleMatch(r),
      actions: ruleActions(r),
    });
    const packetInEvent = (bridge: string, pi: PacketInInfo): ApiEvent => ({
      topic: 'packet-in',
      bridge,
      reason: PACKET_IN_REASONS[pi.reason] ?? String(pi.reason),
      table: pi.tableId,
      cookie: hex(pi.cookie),
      inPort: pi.inPort,
      length: pi.frame.length,
      head: Buffer.from(pi.frame.subarray(0, 64)).toString('hex'),
    });
    const attached = new Map<string, { ofproto: Ofproto; off: () => void }>();
    // Bridges whose row is gone but which still run until the reconciler stops them.
    const dropped = new Map<string, Ofproto>();
    const dropBridge = (name: string): void => {
      const a = attached.get(name);
      if (!a) return;
      a.off();
      attached.delete(name);
      dropped.set(name, a.ofproto);
      if (wants('flow'))
        for (const r of a.ofproto.tables.allRules()) sink(flowEvent(name, 'remove', r));
    };
    const syncBridges = (report: boolean): void => {
      const bridges = this.opts.bridges() ?? new Map<string, { ofproto: Ofproto }>();
      for (const [name, of] of dropped) if (bridges.get(name)?.ofproto !== of) dropped.delete(name);
      for (const [name, a] of attached) {
        if (bridges.get(name)?.ofproto === a.ofproto) continue;
        a.off();
        attached.delete(name);
        if (report && wants('flow'))
          for (const r of a.ofproto.tables.allRules()) sink(flowEvent(name, 'remove', r));
      }
      for (const [name, rb] of bridges) {
        if (attached.has(name) || dropped.get(name) === rb.ofproto) continue;
        const offRules = rb.ofproto.onRuleChange((op, r) => {
          if (wants('flow')) sink(flowEvent(name, op, r));
        });
        const offPin = rb.ofproto.onPacketIn((pi) => {
          if (wants('packet-in')) sink(packetInEvent(name, pi));
        });
        const off = (): void => {
          offRules();
          offPin();
        };
        attached.set(name, { ofproto: rb.ofproto, off });
        if (report && wants('flow'))
          for (const r of rb.ofproto.tables.allRules()) sink(flowEvent(name, 'add', r));
      }
    };
    syncBridges(false);
    return () => {
      offCommit?.();
      for (const a of attached.values()) a.off();
      attached.clear();
    };
  }

  private portEvent(
    sink: (e: ApiEvent) => void,
    bridge: string,
    op: 'insert' | 'modify' | 'delete',
    ch: RowChange,
  ): void {
    if (op === 'modify' && !['ofport', 'admin_state', 'link_state'].some((c) => ch.changed.has(c)))
      return;
    const row = ch.new ?? ch.old;
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

  /**
   * The bridge of interface `uuid`: from the database, or for a deleted interface from the
   * Port and Bridge rows the same commit deleted or changed, or as last remembered.
   */
  private bridgeOfIface(
    commit: CommitRecord,
    uuid: string,
    op: 'insert' | 'modify' | 'delete',
    owners: () => Map<string, { port: string; bridge: string }>,
  ): string {
    let bridge = op === 'delete' ? undefined : owners().get(uuid)?.bridge;
    if (bridge === undefined && op === 'delete') {
      const ports = [...(commit.tables.get('Port')?.values() ?? [])]
        .filter((c) => c.old && uuids(c.old, 'interfaces').includes(uuid))
        .map((c) => c.old!.uuid);
      for (const c of commit.tables.get('Bridge')?.values() ?? []) {
        if (c.old && uuids(c.old, 'ports').some((p) => ports.includes(p))) {
          bridge = str(c.old, 'name');
          break;
        }
      }
    }
    bridge ??= this.ifaceBridge.get(uuid) ?? '';
    if (op === 'delete') this.ifaceBridge.delete(uuid);
    else if (bridge !== '') this.ifaceBridge.set(uuid, bridge);
    return bridge;
  }

  private bfdEvent(
    sink: (e: ApiEvent) => void,
    bridge: string,
    op: 'insert' | 'modify' | 'delete',
    ch: RowChange,
  ): void {
    if (op !== 'delete' && !ch.changed.has('bfd') && !ch.changed.has('bfd_status')) return;
    const before = op === 'insert' ? false : hasBfd(ch.old);
    const after = op === 'delete' ? false : hasBfd(ch.new);
    if (!before && !after) return;
    const info = bfdOf((ch.new ?? ch.old)!);
    const oldState = ch.old ? smap(ch.old, 'bfd_status').state : undefined;
    const e: BfdEvent = {
      topic: 'bfd',
      interface: info.interface,
      bridge,
      op: !before ? 'add' : !after ? 'delete' : 'modify',
      enabled: after && info.enabled,
    };
    if (after) {
      if (info.state !== undefined) e.state = info.state;
      if (info.forwarding !== undefined) e.forwarding = info.forwarding;
      if (info.diagnostic !== undefined) e.diagnostic = info.diagnostic;
      if (info.remoteState !== undefined) e.remoteState = info.remoteState;
      if (info.remoteDiagnostic !== undefined) e.remoteDiagnostic = info.remoteDiagnostic;
      if (info.flapCount !== undefined) e.flapCount = info.flapCount;
    }
    if (oldState !== undefined && oldState !== e.state) e.oldState = oldState;
    sink(e);
  }

  private stpBridgeEvent(sink: (e: ApiEvent) => void, ch: RowChange): void {
    const row = ch.new;
    if (!row) return;
    const oldStatus = smap(ch.old, 'status');
    const status = smap(row, 'status');
    const enabled = bool(row, 'stp_enable');
    const changed =
      enabled !== bool(ch.old, 'stp_enable') ||
      STP_BRIDGE_KEYS.some((k) => oldStatus[k] !== status[k]);
    if (!changed) return;
    const e: StpBridgeEvent = {
      topic: 'stp',
      scope: 'bridge',
      bridge: str(row, 'name') ?? '',
      enabled,
    };
    if (status.stp_bridge_id !== undefined) e.bridgeId = status.stp_bridge_id;
    if (status.stp_designated_root !== undefined) e.designatedRoot = status.stp_designated_root;
    const cost = countOf(status, 'stp_root_path_cost');
    if (cost !== undefined) e.rootPathCost = cost;
    sink(e);
  }

  private stpPortEvent(
    sink: (e: ApiEvent) => void,
    db: Database,
    uuid: string,
    ch: RowChange,
    portBridge: Map<string, string>,
  ): void {
    const before = smap(ch.old, 'status');
    const after = smap(ch.new, 'status');
    if (!STP_PORT_KEYS.some((k) => before[k] !== after[k])) return;
    let bridge = portBridge.get(uuid);
    if (bridge === undefined || ch.new) {
      for (const b of db.rows('Bridge').values()) {
        if (uuids(b, 'ports').includes(uuid)) {
          bridge = str(b, 'name') ?? '';
          break;
        }
      }
    }
    if (ch.new && bridge !== undefined) portBridge.set(uuid, bridge);
    else portBridge.delete(uuid);
    const e: StpPortEvent = {
      topic: 'stp',
      scope: 'port',
      bridge: bridge ?? '',
      port: str(ch.new ?? ch.old, 'name') ?? '',
    };
    if (after.stp_port_id !== undefined) e.portId = after.stp_port_id;
    if (after.stp_state !== undefined) e.state = after.stp_state;
    if (before.stp_state !== undefined && before.stp_state !== after.stp_state)
      e.oldState = before.stp_state;
    if (after.stp_role !== undefined) e.role = after.stp_role;
    if (before.stp_role !== undefined && before.stp_role !== after.stp_role)
      e.oldRole = before.stp_role;
    sink(e);
  }
}

/** Options of {@link ApiComponent}. */
export interface ApiComponentOptions {
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Port (0 = any free port). */
  port: number;
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
      dpif: () => this.bridge.dpif,
      clock: d.clock,
      rundir: d.paths.rundir,
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

/** OFPR_* names as OVS prints them (OpenFlow 1.3 reasons). */
const PACKET_IN_REASONS: Readonly<Record<number, string>> = {
  0: 'no_match',
  1: 'action',
  2: 'invalid_ttl',
};

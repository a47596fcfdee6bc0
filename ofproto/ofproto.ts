/**
 * One OpenFlow switch (bridge) as controllers see it: datapath id, description, ports with their
 * config/state/counters, and the answers to FEATURES, DESC, PORT_DESC, PORT_STATS, TABLE stats,
 * GROUP/METER features, QUEUE_GET_CONFIG and PORT_MOD. Flow tables, groups, meters, packet-out
 * and bundles belong to the pipeline ({@link OfPipeline}; ours is ofproto/pipeline.ts). Without a
 * pipeline (protocol-layer tests only), modifying messages are refused with OFPBRC_EPERM and flow
 * queries are empty.
 */
import type { Clock } from '../lib/clock.js';
import { getLogger } from '../lib/log.js';
import { OFPC, OFPP, OFPPC, OFPPR, OFPPS } from '../openflow/constants.js';
import { OfpError } from '../openflow/errors.js';
import { splitMultipartReply, type MessageOf, type OfpMessage } from '../openflow/messages.js';
import type { MultipartReplyBody, PortStats, TableStats } from '../openflow/multipart.js';
import type { Port } from '../openflow/structs.js';
import { Connmgr, type ControllerConfig, type TlsMaterial } from './connmgr.js';
import type { Ofconn } from './ofconn.js';
import type { PortVlan } from './normal.js';
import {
  METER_MAX_BANDS,
  OpenFlowPipeline,
  type OfRule,
  type PipelineHooks,
  type RuleChangeOp,
} from './pipeline.js';
import type { StpState } from '../protocols/stp/bridge.js';
import type { Xlate } from './xlate.js';

const log = getLogger('ofproto');

/** Number of OpenFlow tables we expose (0–253, as OVS: 254 is its hidden table). */
export const N_TABLES = 254;

/** Description strings (OFPMP_DESC). */
export interface SwitchDesc {
  /** Manufacturer. */
  mfrDesc: string;
  /** Hardware description. */
  hwDesc: string;
  /** Software description. */
  swDesc: string;
  /** Serial number. */
  serialNum: string;
  /** Datapath description (other_config:dp-desc). */
  dpDesc: string;
}

/** Per-port counters (all monotonically increasing). */
export interface PortCounters {
  /** Packets received. */
  rxPackets: bigint;
  /** Packets sent. */
  txPackets: bigint;
  /** Bytes received. */
  rxBytes: bigint;
  /** Bytes sent. */
  txBytes: bigint;
  /** Received packets dropped. */
  rxDropped: bigint;
  /** Packets dropped on send. */
  txDropped: bigint;
  /** Receive errors. */
  rxErrors: bigint;
  /** Send errors. */
  txErrors: bigint;
}

/** One packet-in produced by translation (see {@link Ofproto.onPacketIn}). */
export interface PacketInInfo {
  /** OFPR_* reason. */
  readonly reason: number;
  /** Table that sent it. */
  readonly tableId: number;
  /** Cookie of the rule that sent it. */
  readonly cookie: bigint;
  /** OpenFlow input port. */
  readonly inPort: number;
  /** The frame (do not keep it beyond the call without copying). */
  readonly frame: Uint8Array;
}

/** A port of the switch. */
export interface OfPort {
  /** OpenFlow port number (OFPP_LOCAL for the bridge's own port). */
  ofport: number;
  /** Interface name. */
  name: string;
  /** MAC address as a 48-bit number. */
  hwAddr: number;
  /** OFPPC_* bits. */
  config: number;
  /** OFPPS_* bits. */
  state: number;
  /** Current features (OFPPF_*). */
  curr: number;
  /** Current speed in kbps. */
  currSpeed: number;
  /** Maximum speed in kbps. */
  maxSpeed: number;
  /** Counters; read at stats time. */
  counters: () => PortCounters;
  /** Wall ms when the port was added. */
  createdAt: number;
  /** Datapath port number (default: the OpenFlow number; LOCAL's default is 0). */
  dpPort?: number;
  /** VLAN configuration for NORMAL (Port tag/trunks/vlan_mode); absent = trunk of all VLANs. */
  vlan?: PortVlan;
  /** Excluded from NORMAL's and FLOOD's flooding (OVS's no-flood port flag). */
  noFlood?: boolean;
  /** STP state when STP runs on the port (absent = STP off: forwards and learns). */
  stpState?: StpState;
  /**
   * OVS's `may_enable`: false while a liveness protocol (BFD) says the port must not forward;
   * absent means true. Set it only through {@link Ofproto.setPortEnable}, which folds it into
   * the OFPPS_LIVE bit of {@link OfPort.state}.
   */
  mayEnable?: boolean;
  /**
   * Set on patch ports (Interface type=patch), which have no datapath port: returns the peer
   * patch port's bridge translator and OpenFlow port number, or undefined while the peer
   * interface is not on any running bridge (output to the port is then dropped). Translation
   * continues in the peer bridge's table 0 with in_port = that port, as OVS's patch ports do.
   */
  patchPeer?: () => { xlate: Xlate; ofport: number } | undefined;
}

/**
 * The flow pipeline of a bridge (tables, groups, meters, packet-out, bundles). The Pipeline issue
 * implements it; {@link Ofproto} forwards to it every message it does not answer itself.
 */
export interface OfPipeline {
  /**
   * Handles FLOW_MOD, GROUP_MOD, METER_MOD, TABLE_MOD, PACKET_OUT, BUNDLE_*, EXPERIMENTER and the
   * multipart requests FLOW, AGGREGATE, GROUP, GROUP_DESC, METER, METER_CONFIG, TABLE_FEATURES,
   * QUEUE. Replies through `conn.send`; throws OfpError.
   */
  handleMessage(conn: Ofconn, msg: OfpMessage, raw: Uint8Array): void | Promise<void>;
  /** Per-table statistics for OFPMP_TABLE (all N_TABLES tables). */
  tableStats(): TableStats[];
}

/** Options of an {@link Ofproto}. */
export interface OfprotoOptions {
  /** Bridge name. */
  name: string;
  /** Datapath id (non-zero). */
  datapathId: bigint;
  /** Time source. */
  clock: Clock;
  /** `<rundir>/<bridge>.mgmt`, or undefined for none. */
  mgmtPath?: string;
  /** Description strings; defaults describe tsvswitch. */
  desc?: Partial<SwitchDesc>;
  /** TLS material for ssl controllers. */
  tls?: TlsMaterial;
}

/** Capabilities we report in FEATURES_REPLY (OVS reports the same set). */
export const CAPABILITIES =
  OFPC.FLOW_STATS | OFPC.TABLE_STATS | OFPC.PORT_STATS | OFPC.GROUP_STATS | OFPC.QUEUE_STATS;

/** A zero counter set. */
export function zeroCounters(): PortCounters {
  return {
    rxPackets: 0n,
    txPackets: 0n,
    rxBytes: 0n,
    txBytes: 0n,
    rxDropped: 0n,
    txDropped: 0n,
    rxErrors: 0n,
    txErrors: 0n,
  };
}

/** One OpenFlow switch. */
export class Ofproto {
  /** Bridge name. */
  readonly name: string;
  /** Datapath id. */
  datapathId: bigint;
  /** Description strings. */
  desc: SwitchDesc;
  /** The connection manager. */
  readonly connmgr: Connmgr;
  /** The flow pipeline (set to undefined only in tests of the bare protocol layer). */
  pipeline: OfPipeline | undefined;
  /** Our own pipeline implementation (tables, groups, meters), the default {@link pipeline}. */
  readonly tables: OpenFlowPipeline;
  private readonly ports = new Map<number, OfPort>();
  /** Liveness protocols that currently keep each port from being enabled. */
  private readonly portVetoes = new WeakMap<OfPort, Set<string>>();
  private readonly clock: Clock;
  private readonly hooks: PipelineHooks;
  private readonly ruleListeners = new Set<(op: RuleChangeOp, rule: OfRule) => void>();
  private readonly packetInListeners = new Set<(pi: PacketInInfo) => void>();

  constructor(opts: OfprotoOptions) {
    if (opts.datapathId === 0n) throw new Error('datapath id must be non-zero');
    this.name = opts.name;
    this.datapathId = opts.datapathId;
    this.clock = opts.clock;
    this.desc = {
      mfrDesc: 'tsvswitch',
      hwDesc: 'tsvswitch userspace switch',
      swDesc: '0.1.0',
      serialNum: 'None',
      dpDesc: 'None',
      ...opts.desc,
    };
    this.connmgr = new Connmgr({
      bridge: opts.name,
      clock: opts.clock,
      mgmtPath: opts.mgmtPath,
      tls: opts.tls,
      owner: { handleMessage: (c, m, raw) => this.handleMessage(c, m, raw) },
    });
    this.hooks = {
      flowRemoved: (rule, reason) => this.flowRemoved(rule, reason),
      hasPort: (ofport) => this.ports.has(ofport),
    };
    this.tables = new OpenFlowPipeline(opts.clock, this.hooks);
    this.pipeline = this.tables;
  }

  /**
   * Plugs packet-out execution, the datapath-meter hooks and/or a change listener (the
   * revalidator) into the pipeline's hooks. Only the members present in `h` are replaced; an explicit undefined unplugs one.
   */
  setPipelineHooks(
    h: Partial<Pick<PipelineHooks, 'packetOut' | 'changed' | 'meterChanged' | 'meterSync'>>,
  ): void {
    if ('packetOut' in h) this.hooks.packetOut = h.packetOut;
    if ('changed' in h) this.hooks.changed = h.changed;
    if ('meterChanged' in h) this.hooks.meterChanged = h.meterChanged;
    if ('meterSync' in h) this.hooks.meterSync = h.meterSync;
  }

  /**
   * Calls `fn` for every rule added to, removed from or modified in this bridge's tables, after
   * the change is committed (see {@link PipelineHooks.ruleChanged}). Listeners run synchronously
   * and must not throw or change the tables. Returns a function that removes the listener.
   */
  onRuleChange(fn: (op: RuleChangeOp, rule: OfRule) => void): () => void {
    this.ruleListeners.add(fn);
    if (this.ruleListeners.size === 1) {
      this.hooks.ruleChanged = (op, rule) => {
        for (const f of this.ruleListeners) f(op, rule);
      };
    }
    return () => {
      this.ruleListeners.delete(fn);
      if (this.ruleListeners.size === 0) delete this.hooks.ruleChanged;
    };
  }

  /**
   * Calls `fn` for every packet-in this bridge's translations produce (whether or not a
   * controller takes it: the API's event stream watches the slow path too). Listeners run
   * synchronously and must not throw. Returns a function that removes the listener.
   */
  onPacketIn(fn: (pi: PacketInInfo) => void): () => void {
    this.packetInListeners.add(fn);
    return () => this.packetInListeners.delete(fn);
  }

  /** True when someone listens for packet-ins (so xlate can skip building the record). */
  get hasPacketInListeners(): boolean {
    return this.packetInListeners.size > 0;
  }

  /** Tells the packet-in listeners about one packet-in (called by xlate). */
  notifyPacketIn(pi: PacketInInfo): void {
    for (const f of this.packetInListeners) {
      try {
        f(pi);
      } catch (e) {
        log.error({ err: (e as Error).message }, 'packet-in listener failed');
      }
    }
  }

  /** Sends FLOW_REMOVED for `rule` to every connection whose async config wants `reason`. */
  flowRemoved(rule: OfRule, reason: number): void {
    const alive = Math.max(0, Math.floor(this.clock.now() - rule.createdAt));
    this.connmgr.sendAsync('flowRemoved', reason, () => ({
      type: 'FLOW_REMOVED',
      xid: 0,
      cookie: rule.cookie,
      priority: rule.priority,
      reason,
      tableId: rule.tableId,
      durationSec: Math.floor(alive / 1000),
      durationNsec: (alive % 1000) * 1_000_000,
      idleTimeout: rule.idleTimeout,
      hardTimeout: rule.hardTimeout,
      packetCount: rule.packetCount,
      byteCount: rule.byteCount,
      match: rule.match,
    }));
  }

  /** Opens the management socket. */
  async start(): Promise<void> {
    await this.connmgr.start();
  }

  /** Closes every connection and listener. */
  async close(): Promise<void> {
    this.tables.close();
    await this.connmgr.close();
  }

  /** Sets the controllers (see Connmgr.setControllers). */
  setControllers(list: readonly ControllerConfig[]): Promise<void> {
    return this.connmgr.setControllers(list);
  }

  /** Every port, by port number. */
  listPorts(): OfPort[] {
    return [...this.ports.values()].sort((a, b) => portOrder(a.ofport) - portOrder(b.ofport));
  }

  /** The port numbered `ofport`. */
  getPort(ofport: number): OfPort | undefined {
    return this.ports.get(ofport);
  }

  /** Adds a port and tells controllers (PORT_STATUS ADD). Replaces a port with the same number. */
  addPort(p: Omit<OfPort, 'createdAt' | 'counters'> & Partial<Pick<OfPort, 'counters'>>): OfPort {
    const port: OfPort = { counters: zeroCounters, ...p, createdAt: this.clock.wallNow() };
    this.ports.set(port.ofport, port);
    this.portStatus(OFPPR.ADD, port);
    return port;
  }

  /** Removes a port and tells controllers (PORT_STATUS DELETE). */
  removePort(ofport: number): void {
    const p = this.ports.get(ofport);
    if (!p) return;
    this.ports.delete(ofport);
    this.portStatus(OFPPR.DELETE, p);
  }

  /**
   * Changes a port's state bits (e.g. link up/down) and tells controllers (MODIFY). While the
   * port may not be enabled ({@link OfPort.mayEnable} false) the LIVE bit is kept clear.
   */
  setPortState(ofport: number, state: number): void {
    const p = this.ports.get(ofport);
    if (!p) return;
    if (p.mayEnable === false) state &= ~OFPPS.LIVE;
    if (p.state === state) return;
    p.state = state;
    this.portStatus(OFPPR.MODIFY, p);
  }

  /**
   * OVS's `ofproto_port_set_enable`: records whether liveness protocol `source` (`bfd`, later
   * `lacp`...) lets the port forward; the port may be enabled ({@link OfPort.mayEnable}) while
   * no source says otherwise. Recomputes OFPPS_LIVE as OVS's `normalize_state` does (LIVE only
   * when the port is not PORT_DOWN, not LINK_DOWN and may be enabled), sending PORT_STATUS
   * (MODIFY) when the state changes. A port replaced by {@link Ofproto.addPort} starts enabled.
   * Returns true when the LIVE bit changed (the caller then revalidates datapath flows).
   */
  setPortEnable(ofport: number, enable: boolean, source = 'bfd'): boolean {
    const p = this.ports.get(ofport);
    if (!p) return false;
    let vetoes = this.portVetoes.get(p);
    if (!enable) {
      if (!vetoes) this.portVetoes.set(p, (vetoes = new Set()));
      vetoes.add(source);
    } else vetoes?.delete(source);
    const may = !vetoes || vetoes.size === 0;
    if (may) delete p.mayEnable;
    else p.mayEnable = false;
    const live = may && (p.config & OFPPC.PORT_DOWN) === 0 && (p.state & OFPPS.LINK_DOWN) === 0;
    const state = live ? p.state | OFPPS.LIVE : p.state & ~OFPPS.LIVE;
    if (state === p.state) return false;
    p.state = state;
    this.portStatus(OFPPR.MODIFY, p);
    return true;
  }

  /** Sends PORT_STATUS to every connection that wants it, except `exclude`. */
  portStatus(reason: number, p: OfPort, exclude?: Ofconn): void {
    this.connmgr.sendAsync(
      'portStatus',
      reason,
      () => ({ type: 'PORT_STATUS', xid: 0, reason, port: toWirePort(p) }),
      exclude,
    );
  }

  /** Answers a message from a controller (see OfconnOwner.handleMessage). */
  handleMessage(conn: Ofconn, msg: OfpMessage, raw: Uint8Array): void | Promise<void> {
    switch (msg.type) {
      case 'FEATURES_REQUEST':
        conn.send({
          type: 'FEATURES_REPLY',
          xid: msg.xid,
          datapathId: this.datapathId,
          nBuffers: 0,
          nTables: N_TABLES,
          auxiliaryId: 0,
          capabilities: CAPABILITIES,
          reserved: 0,
        });
        return;
      case 'MULTIPART_REQUEST':
        return this.handleMultipart(conn, msg, raw);
      case 'QUEUE_GET_CONFIG_REQUEST':
        if (msg.port !== OFPP.ANY && !this.ports.has(msg.port))
          throw new OfpError('OFPQOFC_BAD_PORT');
        conn.send({ type: 'QUEUE_GET_CONFIG_REPLY', xid: msg.xid, port: msg.port, queues: [] });
        return;
      case 'PORT_MOD':
        this.portMod(conn, msg);
        return;
      default:
        return this.toPipeline(conn, msg, raw);
    }
  }

  private toPipeline(conn: Ofconn, msg: OfpMessage, raw: Uint8Array): void | Promise<void> {
    if (this.pipeline) return this.pipeline.handleMessage(conn, msg, raw);
    if (msg.type === 'MULTIPART_REQUEST') {
      const empty = emptyReply(msg);
      if (empty) {
        conn.send({ type: 'MULTIPART_REPLY', xid: msg.xid, flags: 0, ...empty });
        return;
      }
    }
    log.info({ bridge: this.name, type: msg.type }, 'no pipeline yet');
    throw new OfpError('OFPBRC_EPERM', `${msg.type}: flow pipeline not available`);
  }

  private handleMultipart(
    conn: Ofconn,
    msg: MessageOf<'MULTIPART_REQUEST'>,
    raw: Uint8Array,
  ): void | Promise<void> {
    let body: MultipartReplyBody;
    switch (msg.mpType) {
      case 'DESC':
        body = { mpType: 'DESC', ...this.desc };
        break;
      case 'PORT_DESC':
        body = { mpType: 'PORT_DESC', entries: this.listPorts().map(toWirePort) };
        break;
      case 'PORT_STATS': {
        const now = this.clock.wallNow();
        const ports =
          msg.portNo === OFPP.ANY
            ? this.listPorts()
            : [this.ports.get(msg.portNo)].filter((p): p is OfPort => !!p);
        body = { mpType: 'PORT_STATS', entries: ports.map((p) => portStats(p, now)) };
        break;
      }
      case 'TABLE':
        body = {
          mpType: 'TABLE',
          entries:
            this.pipeline?.tableStats() ??
            Array.from({ length: N_TABLES }, (_, tableId) => ({
              tableId,
              activeCount: 0,
              lookupCount: 0n,
              matchedCount: 0n,
            })),
        };
        break;
      case 'METER_FEATURES':
        body = {
          mpType: 'METER_FEATURES',
          maxMeter: 262144,
          bandTypes: (1 << 1) | (1 << 2),
          capabilities: 0b1111,
          maxBands: METER_MAX_BANDS,
          maxColor: 0,
        };
        break;
      case 'GROUP_FEATURES': {
        const acts = GROUP_ACTIONS;
        body = {
          mpType: 'GROUP_FEATURES',
          types: 0b1111,
          capabilities: 0b111,
          maxGroups: [0xffffff00, 0xffffff00, 0xffffff00, 0xffffff00],
          actions: [acts, acts, acts, acts],
        };
        break;
      }
      case 'QUEUE':
        if (msg.portNo !== OFPP.ANY && !this.ports.has(msg.portNo))
          throw new OfpError('OFPQOFC_BAD_PORT');
        if (msg.queueId !== 0xffffffff) throw new OfpError('OFPQOFC_BAD_QUEUE');
        body = { mpType: 'QUEUE', entries: [] };
        break;
      case 'FLOW':
      case 'AGGREGATE':
      case 'GROUP':
      case 'GROUP_DESC':
      case 'METER':
      case 'METER_CONFIG':
      case 'TABLE_FEATURES':
      case 'EXPERIMENTER':
        return this.toPipeline(conn, msg, raw);
    }
    for (const part of splitMultipartReply({
      type: 'MULTIPART_REPLY',
      xid: msg.xid,
      flags: 0,
      ...body,
    }))
      conn.send(part);
  }

  private portMod(conn: Ofconn, msg: MessageOf<'PORT_MOD'>): void {
    const p = this.ports.get(msg.portNo);
    if (!p) throw new OfpError('OFPPMFC_BAD_PORT', `port ${msg.portNo}`);
    if (p.hwAddr !== msg.hwAddr) throw new OfpError('OFPPMFC_BAD_HW_ADDR');
    const settable = OFPPC.PORT_DOWN | OFPPC.NO_RECV | OFPPC.NO_FWD | OFPPC.NO_PACKET_IN;
    const mask = msg.mask & settable;
    const config = (p.config & ~mask) | (msg.config & mask);
    if (config !== p.config) {
      p.config = config;
      // Before OpenFlow 1.5 OVS does not send the PORT_STATUS to the connection that asked.
      this.portStatus(OFPPR.MODIFY, p, conn);
    }
  }
}

/** Every OpenFlow 1.3 action type we accept in group buckets, as an OFPAT bitmap. */
const GROUP_ACTIONS = [0, 11, 12, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27].reduce(
  (a, t) => (a | (1 << t)) >>> 0,
  0,
);

function portOrder(n: number): number {
  // LOCAL sorts last, like OVS's port listing order for numbered ports first.
  return n === OFPP.LOCAL ? 0x1_0000_0000 : n;
}

/** The wire form of a port. */
export function toWirePort(p: OfPort): Port {
  return {
    portNo: p.ofport,
    hwAddr: p.hwAddr,
    name: p.name,
    config: p.config,
    state: p.state,
    curr: p.curr,
    advertised: 0,
    supported: 0,
    peer: 0,
    currSpeed: p.currSpeed,
    maxSpeed: p.maxSpeed,
  };
}

function portStats(p: OfPort, now: number): PortStats {
  const c = p.counters();
  const alive = Math.max(0, Math.floor(now - p.createdAt));
  return {
    portNo: p.ofport,
    ...c,
    rxFrameErr: 0n,
    rxOverErr: 0n,
    rxCrcErr: 0n,
    collisions: 0n,
    durationSec: Math.floor(alive / 1000),
    durationNsec: (alive % 1000) * 1_000_000,
  };
}

function emptyReply(msg: MessageOf<'MULTIPART_REQUEST'>): MultipartReplyBody | undefined {
  switch (msg.mpType) {
    case 'FLOW':
      return { mpType: 'FLOW', entries: [] };
    case 'AGGREGATE':
      return { mpType: 'AGGREGATE', packetCount: 0n, byteCount: 0n, flowCount: 0 };
    case 'GROUP':
      return { mpType: 'GROUP', entries: [] };
    case 'GROUP_DESC':
      return { mpType: 'GROUP_DESC', entries: [] };
    case 'METER_CONFIG':
      return { mpType: 'METER_CONFIG', entries: [] };
    default:
      return undefined;
  }
}

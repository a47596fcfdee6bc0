/**
 * BFD on bridge interfaces (OVS's `Interface:bfd`), wired into the bridge through the
 * {@link BridgeProtocolModule} seam: one sans-I/O {@link BfdSession} (protocols/bfd) per interface
 * whose `bfd:enable` is true, configured from the `bfd` column with OVS's defaults.
 *
 * - Timers: one timer per bridge on the injected clock, armed at the earliest
 *   {@link BfdSession.wakeTime} of its sessions (transmit times, detection times, owed Finals).
 * - Transmit: control frames go straight out of the interface ({@link BridgeProtocolContext.send}).
 * - Receive: xlate offers every upcall to {@link BfdBridgeProtocol.consume} before the OpenFlow
 *   tables; the test is OVS's `bfd_should_process_flow` (destination MAC when
 *   bfd_remote_dst_mac is set, IPv4, UDP, not a later fragment, destination port 3784, destination
 *   IP when bfd_src_ip is set, tunnel key 0 with check_tnl_key), and every field it reads is
 *   unwildcarded so megaflows for other traffic never swallow a BFD frame.
 * - Liveness: as OVS's `port_run`/`may_enable_port`, a port with BFD may forward only while BFD
 *   says forwarding; that verdict is folded into the OpenFlow port's OFPPS_LIVE bit
 *   ({@link Ofproto.setPortEnable}, PORT_STATUS to controllers) and the datapath flows are
 *   revalidated, so fast-failover groups and bond members follow it.
 * - Status: Interface.bfd_status (state, forwarding, diagnostic, remote_state,
 *   remote_diagnostic, flap_count) is written on the status tick and, after a change, on the
 *   next event-loop turn; an interface without BFD has an empty bfd_status, as OVS writes it.
 * - Data traffic: with decay_min_rx or forwarding_if_rx, the interface's received-packet counter
 *   (minus the control frames) is fed to {@link BfdSession.accountRx} at every timer run.
 */
import type { TimerHandle } from '../lib/clock.js';
import { counter } from '../lib/counters.js';
import type { Json } from '../lib/json.js';
import { getLogger } from '../lib/log.js';
import { ETH_TYPE, FRAG_LATER, IPPROTO, W, type FlowKey } from '../lib/packet/flow-key.js';
import type { Atom, Datum, Row } from '../ovsdb/types.js';
import type { OfPort } from '../ofproto/ofproto.js';
import type { Netdev } from '../datapath/netdev.js';
import { AppctlError, type AppctlRegistry } from '../appctl/registry.js';
import {
  BFD_DEFAULT_SRC_IP,
  BFD_DEST_PORT,
  BfdSession,
  bfdSetForwarding,
  formatBfdShow,
  parseBfdConfig,
  type BfdConfig,
  type BfdStatus,
} from '../protocols/bfd/index.js';
import type {
  BridgeIface,
  BridgeProtocol,
  BridgeProtocolContext,
  BridgeProtocolModule,
} from './bridge-protocol.js';

const log = getLogger('bfd');

const cConsumed = counter('bfd_consumed', 'bfd', 'BFD frames taken out of the datapath');
const cSendFailed = counter(
  'bfd_send_failed',
  'bfd',
  'BFD control frames the interface did not accept',
);

/** Keys of Interface.bfd_status, in the order OVS lists them. */
const STATUS_KEYS = [
  'forwarding',
  'state',
  'diagnostic',
  'flap_count',
  'remote_state',
  'remote_diagnostic',
] as const satisfies readonly (keyof BfdStatus)[];

/** One interface running BFD. */
interface Entry {
  /** Interface row UUID. */
  readonly uuid: string;
  /** Interface name (also the session's name). */
  readonly name: string;
  /** The session. */
  readonly session: BfdSession;
  /** OpenFlow port number the session sends on and receives from. */
  ofport: number;
  /** The interface's MAC (default source of transmitted frames). */
  mac: Uint8Array;
  /** The interface's netdev (for the data-traffic counter), if attached. */
  netdev: Netdev | undefined;
  /** The `bfd` column as last applied (canonical JSON), to skip unchanged reconfigurations. */
  cfgKey: string;
  /** Control frames consumed since the last data-traffic accounting. */
  ctlFrames: number;
  /** The netdev's rx_packets at the last accounting (undefined before the first). */
  lastRxPackets: number | undefined;
  /** The OpenFlow port the last liveness verdict was applied to. */
  appliedPort: OfPort | undefined;
  /** That verdict (BFD forwarding). */
  appliedFwd: boolean;
}

/** Reads a string-to-string map column. */
function smap(row: Row, col: string): Record<string, string> {
  const d: Datum | undefined = row.data[col];
  const out: Record<string, string> = {};
  if (!d?.values) return out;
  d.keys.forEach((k: Atom, i) => {
    const v = d.values![i];
    if (typeof k === 'string' && typeof v === 'string') out[k] = v;
  });
  return out;
}

function canonicalMap(m: Readonly<Record<string, string>>): string {
  return JSON.stringify(
    Object.keys(m)
      .sort()
      .map((k) => [k, m[k]]),
  );
}

function mapJson(m: Readonly<Record<string, string>>): Json {
  return [
    'map',
    Object.keys(m)
      .sort()
      .map((k) => [k, m[k]!]),
  ];
}

function updateOp(uuid: string, row: Record<string, Json>): Json {
  return { op: 'update', table: 'Interface', where: [['_uuid', '==', ['uuid', uuid]]], row };
}

function macBytes(mac: number): Uint8Array {
  const out = new Uint8Array(6);
  let v = mac;
  for (let i = 5; i >= 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}

/**
 * OVS's `tp_dst_equals`: on a match the whole tp_dst is unwildcarded; on a mismatch only the
 * most significant differing bit, which is enough to tell the two apart.
 */
function tpDstEquals(flow: FlowKey, wc: FlowKey, port: number): boolean {
  const diff = (port ^ (flow[W.TP]! & 0xffff)) & 0xffff;
  if (diff === 0) {
    wc[W.TP] = (wc[W.TP]! | 0xffff) >>> 0;
    return true;
  }
  const msb = 1 << (31 - Math.clz32(diff));
  wc[W.TP] = (wc[W.TP]! | msb) >>> 0;
  return false;
}

/**
 * OVS's `bfd_should_process_flow` on our flow key: whether a flow arriving on an interface that
 * runs BFD with configuration `cfg` is one of its control frames. ORs into `wc` every bit read:
 * eth_dst (with bfd_remote_dst_mac), eth_type, ip_proto, the later-fragment bit, tp_dst,
 * ipv4_dst (when bfd_src_ip is not the default) and tunnel_id (with check_tnl_key).
 */
export function bfdShouldProcessFlow(
  cfg: Readonly<BfdConfig>,
  flow: FlowKey,
  wc: FlowKey,
): boolean {
  const rdm = cfg.remoteDstMac;
  if (rdm) {
    wc[W.ETH_DST] = (wc[W.ETH_DST]! | 0xffff) >>> 0;
    wc[W.ETH_DST + 1] = 0xffffffff;
    const hi = (rdm[0]! << 8) | rdm[1]!;
    const lo = ((rdm[2]! << 24) | (rdm[3]! << 16) | (rdm[4]! << 8) | rdm[5]!) >>> 0;
    if ((flow[W.ETH_DST]! & 0xffff) !== hi || flow[W.ETH_DST + 1]! >>> 0 !== lo) return false;
  }
  wc[W.ETH_TYPE] = (wc[W.ETH_TYPE]! | 0xffff) >>> 0;
  if ((flow[W.ETH_TYPE]! & 0xffff) !== ETH_TYPE.IP) return false;
  wc[W.NW] = (wc[W.NW]! | 0xff | (FRAG_LATER << 24)) >>> 0;
  const nw = flow[W.NW]!;
  if ((nw & 0xff) !== IPPROTO.UDP) return false;
  if ((nw >>> 24) & FRAG_LATER) return false;
  if (!tpDstEquals(flow, wc, BFD_DEST_PORT)) return false;
  if (cfg.srcIp !== BFD_DEFAULT_SRC_IP) {
    wc[W.NW_DST] = 0xffffffff;
    if (flow[W.NW_DST]! >>> 0 !== cfg.srcIp >>> 0) return false;
  }
  if (cfg.checkTnlKey) {
    wc[W.TUNNEL_ID] = 0xffffffff;
    wc[W.TUNNEL_ID + 1] = 0xffffffff;
    return flow[W.TUNNEL_ID] === 0 && flow[W.TUNNEL_ID + 1] === 0;
  }
  return true;
}

/** The BFD sessions of one bridge (see the module comment). */
export class BfdBridgeProtocol implements BridgeProtocol {
  /** Shown in traces (`>> BFD packet consumed`). */
  readonly name = 'BFD';
  private readonly ctx: BridgeProtocolContext;
  /** Sessions by Interface row UUID. */
  private readonly entries = new Map<string, Entry>();
  /** The same entries by OpenFlow port number. */
  private readonly byOfport = new Map<number, Entry>();
  private timer: TimerHandle | undefined;
  private closed = false;

  constructor(ctx: BridgeProtocolContext) {
    this.ctx = ctx;
  }

  /** The bridge's sessions, sorted by interface name. */
  sessions(): BfdSession[] {
    return [...this.entries.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((e) => e.session);
  }

  /** The session of interface `name`, if it runs BFD. */
  session(name: string): BfdSession | undefined {
    for (const e of this.entries.values()) if (e.name === name) return e.session;
    return undefined;
  }

  reconfigure(updates: Json[]): void {
    if (this.closed) return;
    const seen = new Set<string>();
    for (const i of this.ctx.ifaces()) {
      const row = this.ctx.db.getRow('Interface', i.uuid);
      if (!row) continue;
      const map = smap(row, 'bfd');
      const cfg = parseBfdConfig(map);
      if (!cfg.enable) continue;
      seen.add(i.uuid);
      const key = canonicalMap(map);
      let e = this.entries.get(i.uuid);
      if (e && e.name !== i.name) {
        this.remove(e, undefined);
        e = undefined;
      }
      if (!e) {
        e = {
          uuid: i.uuid,
          name: i.name,
          session: new BfdSession({ name: i.name, clock: this.ctx.clock, config: cfg }),
          ofport: i.ofport,
          mac: macBytes(i.mac),
          netdev: i.netdev,
          cfgKey: key,
          ctlFrames: 0,
          lastRxPackets: undefined,
          appliedPort: undefined,
          appliedFwd: true,
        };
        this.entries.set(i.uuid, e);
        this.byOfport.set(i.ofport, e);
        log.info(
          { bridge: this.ctx.bridgeName, iface: i.name, disc: e.session.discriminator },
          'BFD enabled',
        );
        // Megaflows installed before may cover BFD frames (or, after a change of
        // bfd_remote_dst_mac/bfd_src_ip/check_tnl_key, the wrong ones): revalidate.
        this.ctx.invalidate();
        this.ctx.requestStatus();
      } else {
        if (e.cfgKey !== key) {
          e.cfgKey = key;
          e.session.configure(cfg);
          this.ctx.invalidate();
          this.ctx.requestStatus();
        }
        this.rebind(e, i);
      }
      this.applyLiveness(e);
    }
    for (const e of [...this.entries.values()]) {
      if (!seen.has(e.uuid)) this.remove(e, updates);
    }
    this.arm();
  }

  writeStatus(updates: Json[]): void {
    if (this.closed) return;
    for (const i of this.ctx.ifaces()) {
      const row = this.ctx.db.getRow('Interface', i.uuid);
      if (!row) continue;
      const e = this.entries.get(i.uuid);
      const want: Record<string, string> = {};
      if (e) {
        // forwarding_if_rx can expire between timer runs: keep the port in step with it.
        this.applyLiveness(e);
        const st = e.session.status();
        for (const k of STATUS_KEYS) want[k] = st[k];
      }
      if (canonicalMap(smap(row, 'bfd_status')) !== canonicalMap(want)) {
        updates.push(updateOp(i.uuid, { bfd_status: mapJson(want) }));
      }
    }
  }

  consume(port: OfPort, flow: FlowKey, wc: FlowKey, frame: Uint8Array | undefined): boolean {
    if (this.entries.size === 0) return false;
    // Which session applies depends on the input port.
    wc[W.IN_PORT] = 0xffffffff;
    const e = this.byOfport.get(port.ofport);
    if (!e) return false;
    if (!bfdShouldProcessFlow(e.session.config, flow, wc)) return false;
    if (frame !== undefined && !this.closed) this.receive(e, frame);
    return true;
  }

  close(): void {
    this.closed = true;
    this.ctx.clock.clearTimeout(this.timer);
    this.timer = undefined;
    for (const e of this.entries.values()) e.session.close();
    this.entries.clear();
    this.byOfport.clear();
  }

  /**
   * Re-evaluates every session after an out-of-band change (bfd/set-forwarding): port liveness,
   * status request, timers.
   */
  refresh(): void {
    if (this.closed) return;
    for (const e of this.entries.values()) this.afterChange(e);
    this.ctx.requestStatus();
    this.arm();
  }

  // ---- internals ----

  private receive(e: Entry, frame: Uint8Array): void {
    cConsumed.inc();
    e.ctlFrames++;
    const r = e.session.processPacket(frame);
    if (!r.accepted) {
      log.debug({ iface: e.name, reason: r.reason }, 'BFD control frame dropped');
    }
    this.afterChange(e);
    this.arm();
  }

  /** Follows a new port number, MAC or netdev of the interface. */
  private rebind(e: Entry, i: BridgeIface): void {
    if (e.ofport !== i.ofport) {
      if (this.byOfport.get(e.ofport) === e) this.byOfport.delete(e.ofport);
      if (this.ctx.ofproto.setPortEnable(e.ofport, true, 'bfd')) this.ctx.invalidate();
      e.ofport = i.ofport;
      e.appliedPort = undefined;
      this.byOfport.set(i.ofport, e);
    }
    e.mac = macBytes(i.mac);
    if (e.netdev !== i.netdev) {
      e.netdev = i.netdev;
      e.lastRxPackets = undefined;
    }
  }

  private remove(e: Entry, updates: Json[] | undefined): void {
    e.session.close();
    this.entries.delete(e.uuid);
    if (this.byOfport.get(e.ofport) === e) this.byOfport.delete(e.ofport);
    this.ctx.ofproto.setPortEnable(e.ofport, true, 'bfd');
    this.ctx.invalidate();
    log.info({ bridge: this.ctx.bridgeName, iface: e.name }, 'BFD disabled');
    const row = this.ctx.db.getRow('Interface', e.uuid);
    if (updates && row && Object.keys(smap(row, 'bfd_status')).length > 0) {
      updates.push(updateOp(e.uuid, { bfd_status: ['map', []] }));
    }
  }

  /** Makes the port's LIVE bit follow the session's forwarding verdict. */
  private applyLiveness(e: Entry): void {
    const port = this.ctx.ofproto.getPort(e.ofport);
    if (!port) return;
    const fwd = e.session.forwarding();
    // Re-apply when the verdict changes or the port was replaced (a new port starts enabled).
    if (e.appliedPort !== port || e.appliedFwd !== fwd) {
      e.appliedPort = port;
      e.appliedFwd = fwd;
      if (this.ctx.ofproto.setPortEnable(e.ofport, fwd, 'bfd')) {
        log.info(
          { bridge: this.ctx.bridgeName, iface: e.name, forwarding: fwd },
          `${e.name}: BFD forwarding ${fwd ? 'up' : 'down'}`,
        );
        this.ctx.invalidate();
      }
    }
  }

  private afterChange(e: Entry): void {
    this.applyLiveness(e);
    if (e.session.checkStatusChange()) this.ctx.requestStatus();
  }

  /** Feeds the interface's data traffic to decay and forwarding_if_rx. */
  private accountData(e: Entry, now: number): void {
    const cfg = e.session.config;
    if (!e.netdev || (cfg.decayMinRx <= 0 && !cfg.forwardingIfRx)) return;
    let rx: number;
    try {
      rx = e.netdev.stats().rxPackets;
    } catch {
      return;
    }
    if (e.lastRxPackets !== undefined) {
      const data = rx - e.lastRxPackets - e.ctlFrames;
      if (data > 0) e.session.accountRx(data, now);
    }
    e.lastRxPackets = rx;
    e.ctlFrames = 0;
  }

  private run(): void {
    this.timer = undefined;
    if (this.closed) return;
    const now = this.ctx.clock.now();
    for (const e of this.entries.values()) {
      this.accountData(e, now);
      e.session.run(now);
      if (e.session.shouldSendPacket(now)) {
        const { frame } = e.session.composePacket(e.mac, now);
        if (!this.ctx.send(e.ofport, frame)) cSendFailed.inc();
      }
      this.afterChange(e);
    }
    this.arm();
  }

  /** Arms the bridge's timer at the earliest wake time of its sessions. */
  private arm(): void {
    if (this.closed) return;
    this.ctx.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.entries.size === 0) return;
    let at = Infinity;
    for (const e of this.entries.values()) at = Math.min(at, e.session.wakeTime());
    const delay = Math.max(0, Math.ceil(at - this.ctx.clock.now()));
    this.timer = this.ctx.clock.setTimeout(() => this.run(), delay);
  }
}

/** Every session of every bridge, with its bridge protocol, sorted by interface name. */
function allSessions(protocols: () => ReadonlyMap<string, BridgeProtocol>): {
  sessions: BfdSession[];
  bridges: BfdBridgeProtocol[];
} {
  const bridges: BfdBridgeProtocol[] = [];
  for (const p of protocols().values()) if (p instanceof BfdBridgeProtocol) bridges.push(p);
  const sessions = bridges
    .flatMap((b) => b.sessions())
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { sessions, bridges };
}

/**
 * Registers `bfd/show [interface]` (OVS 3.1's layout; "no such bfd object" for an unknown
 * interface) and `bfd/set-forwarding [interface] normal|false|true` ("OK"; "unknown fault
 * string", "no such BFD object").
 */
export function registerBfdCommands(
  registry: AppctlRegistry,
  protocols: () => ReadonlyMap<string, BridgeProtocol>,
): void {
  registry.register({
    name: 'bfd/show',
    usage: '[interface]',
    minArgs: 0,
    maxArgs: 1,
    handler: (args) => {
      const r = formatBfdShow(allSessions(protocols).sessions, args[0]);
      if (!r.ok) throw new AppctlError(r.error);
      return r.text;
    },
  });
  registry.register({
    name: 'bfd/set-forwarding',
    usage: '[interface] normal|false|true',
    minArgs: 1,
    maxArgs: 2,
    handler: (args) => {
      const { sessions, bridges } = allSessions(protocols);
      const value = args[args.length - 1]!;
      const r = bfdSetForwarding(sessions, value, args.length > 1 ? args[0] : undefined);
      if (!r.ok) throw new AppctlError(r.error);
      for (const b of bridges) b.refresh();
      return r.text;
    },
  });
}

/** The `bfd` protocol module (see the module comment). */
export const bfdModule: BridgeProtocolModule = {
  name: 'bfd',
  create: (ctx) => new BfdBridgeProtocol(ctx),
  commands: registerBfdCommands,
};

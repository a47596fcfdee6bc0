/**
 * Spanning tree (IEEE 802.1D, protocols/stp) wired into a running bridge, as OVS 3.1's
 * bridge.c + ofproto-dpif.c do it:
 *
 * - Enabled by `Bridge.stp_enable` (and not when `rstp_enable` is also set: OVS then disables
 *   STP). Bridge other_config stp-system-id (default the bridge's MAC), stp-priority,
 *   stp-hello-time, stp-max-age, stp-forward-delay; Port other_config stp-enable,
 *   stp-port-num, stp-port-priority, stp-path-cost (default from the link speed). Bonds and
 *   internal ports do not take part; port numbers are given 1, 2, ... in port-name order unless
 *   every port sets stp-port-num (mixing both disables STP on the bridge, as OVS does).
 * - BPDUs (802.3 frames to 01:80:c2:00:00:00) are taken by {@link StpProtocol.consume} before
 *   the OpenFlow tables on every port of an STP bridge (ports outside STP sink them); with STP
 *   off they are ordinary traffic for the tables. BPDUs go out with `ctx.send`, sourced from the
 *   port's MAC.
 * - Port states are applied to `OfPort.stpState` (xlate drops, floods and learns by it) with a
 *   datapath flush on change. As in OVS with OpenFlow 1.3 the state is not visible in the port
 *   description: OVS keeps it in the OpenFlow 1.0 STP bits, which 1.1+ encodings mask off (and
 *   a PORT_STATUS whose encoding would not change is suppressed), so nothing is sent.
 * - A topology change (detected, or signalled by the root) flushes the bridge's MAC table, as
 *   OVS does (it does not merely shorten aging); so does a port's learning state changing.
 * - Link state is followed from the netdev carrier at least every second (OVS's stp_run).
 * - Status: Bridge.status stp_bridge_id/stp_designated_root/stp_root_path_cost, Port.status
 *   stp_port_id/stp_state/stp_sec_in_state/stp_role (written when the state, role or ID
 *   changes, so stp_sec_in_state is as of the last change, as OVS's connectivity-driven
 *   refresh), Port.statistics stp_tx_count/stp_rx_count/stp_error_count (every 5 s, OVS's stats
 *   interval). Every stp_* key is removed when STP is off for the bridge or port.
 * - appctl `stp/show [BRIDGE]` and `stp/tcn [BRIDGE]` with OVS's texts and errors.
 */
import type { TimerHandle } from '../lib/clock.js';
import type { Json } from '../lib/json.js';
import { getLogger } from '../lib/log.js';
import { W, type FlowKey } from '../lib/packet/flow-key.js';
import type { Atom, Datum, Row } from '../ovsdb/types.js';
import type { OfPort } from '../ofproto/ofproto.js';
import { bigIntToMac, formatMac, parseMac } from '../protocols/common.js';
import { OFPPS } from '../openflow/constants.js';
import {
  StpBridge,
  assignStpPortNumbers,
  formatStpShow,
  parseStpBridgeConfig,
  parseStpPortConfig,
  stpLearnInState,
  stpSpeedToCost,
  type StpBridgeConfig,
  type StpPortConfig,
  type StpState,
} from '../protocols/stp/index.js';
import { AppctlError } from '../appctl/registry.js';
import type {
  BridgeIface,
  BridgeProtocol,
  BridgeProtocolContext,
  BridgeProtocolModule,
} from './bridge-protocol.js';

const log = getLogger('stp');

/** OVS's flow eth_type for 802.3 frames without SNAP (FLOW_DL_TYPE_NONE). */
const DL_TYPE_NONE = 0x05ff;
/** 01:80:c2:00:00:00 as the flow key holds it: top 16 bits, low 32 bits. */
const STP_DST_HI = 0x0180;
const STP_DST_LO = 0xc2000000;
/** How often link state is checked when no STP timer is due sooner (OVS's stp_wait). */
const POLL_MS = 1000;
/** How often Port.statistics is refreshed (OVS's default stats-update-interval). */
const STATS_INTERVAL_MS = 5000;

/** The keys STP owns in Bridge.status, Port.status and Port.statistics. */
const BRIDGE_STATUS_KEYS = ['stp_bridge_id', 'stp_designated_root', 'stp_root_path_cost'];
const PORT_STATUS_KEYS = ['stp_port_id', 'stp_state', 'stp_sec_in_state', 'stp_role'];
const PORT_STATS_KEYS = ['stp_tx_count', 'stp_rx_count', 'stp_error_count'];

/**
 * True when the flow is a BPDU as OVS's `is_stp` sees it (eth_type 0x05ff, destination
 * 01:80:c2:00:00:00). ORs into `wc` the bits it looks at (eth_dst and eth_type).
 */
export function stpShouldProcessFlow(flow: FlowKey, wc: FlowKey): boolean {
  wc[W.ETH_DST] = (wc[W.ETH_DST]! | 0xffff) >>> 0;
  wc[W.ETH_DST + 1] = 0xffffffff;
  wc[W.ETH_TYPE] = (wc[W.ETH_TYPE]! | 0xffff) >>> 0;
  return (
    (flow[W.ETH_TYPE]! & 0xffff) === DL_TYPE_NONE &&
    (flow[W.ETH_DST]! & 0xffff) === STP_DST_HI &&
    flow[W.ETH_DST + 1] === STP_DST_LO
  );
}

// ------------------------------------------------------------------ row readers

function str(row: Row, col: string): string | undefined {
  const k = row.data[col]?.keys[0];
  return typeof k === 'string' ? k : undefined;
}

function bool(row: Row, col: string): boolean {
  return row.data[col]?.keys[0] === true;
}

function uuids(row: Row, col: string): string[] {
  return (row.data[col]?.keys ?? []).filter((k): k is string => typeof k === 'string');
}

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

function intMap(row: Row, col: string): Record<string, number> {
  const d: Datum | undefined = row.data[col];
  const out: Record<string, number> = {};
  if (!d?.values) return out;
  d.keys.forEach((k: Atom, i) => {
    const v = d.values![i];
    if (typeof k === 'string' && (typeof v === 'bigint' || typeof v === 'number'))
      out[k] = Number(v);
  });
  return out;
}

function sameMap<T>(a: Record<string, T>, b: Record<string, T>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => b[k] === a[k]);
}

function mapJson(m: Record<string, string | number>): Json {
  return [
    'map',
    Object.keys(m)
      .sort()
      .map((k) => [k, m[k]!]),
  ];
}

function withoutKeys<T>(m: Record<string, T>, keys: readonly string[]): Record<string, T> {
  const out = { ...m };
  for (const k of keys) delete out[k];
  return out;
}

function update(table: string, uuid: string, row: Record<string, Json>): Json {
  return { op: 'update', table, where: [['_uuid', '==', ['uuid', uuid]]], row };
}

function macBytes(mac: number): Uint8Array {
  return bigIntToMac(BigInt(mac));
}

// ------------------------------------------------------------------ the protocol

/** One bridge port taking part in STP. */
interface StpBinding {
  /** STP port number (1–255). */
  portNum: number;
  /** OpenFlow port number. */
  ofport: number;
  /** Port row UUID. */
  portUuid: string;
  /** Interface name (stp/show, logs). */
  name: string;
  /** The running interface. */
  iface: BridgeIface;
}

/**
 * Reads the Bridge row's STP settings as OVS's bridge_configure_stp does. One OVS 3.1 quirk is
 * kept: stp-hello-time is read as milliseconds (vswitch.xml says seconds; bridge.c does not
 * scale it, unlike stp-max-age and stp-forward-delay), so every documented value (1–10) gives
 * the 1 s minimum, and the default is 2 s.
 */
export function stpBridgeSettings(oc: Record<string, string>, bridgeMac: number): StpBridgeConfig {
  const cfg = parseStpBridgeConfig(oc, macBytes(bridgeMac));
  const sys = oc['stp-system-id'];
  if (sys !== undefined && parseMac(sys) === undefined)
    log.error(`invalid stp-system-id, defaulting to ${formatMac(cfg.systemId)}`);
  if (oc['stp-hello-time'] !== undefined) cfg.helloTime = cfg.helloTime / 1000;
  return cfg;
}

/** The STP protocol of one bridge (see the module comment). */
export class StpProtocol implements BridgeProtocol {
  /** Trace name. */
  readonly name = 'STP';
  private readonly ctx: BridgeProtocolContext;
  private stp: StpBridge | undefined;
  /** Bindings by OpenFlow port number. */
  private readonly byOfport = new Map<number, StpBinding>();
  /** Bindings by STP port number. */
  private readonly byNum = new Map<number, StpBinding>();
  /** OpenFlow ports whose stpState this protocol has set. */
  private readonly applied = new Set<number>();
  private timer: TimerHandle | undefined;
  private serviceQueued = false;
  private lastStatsAt = -Infinity;
  private closed = false;

  constructor(ctx: BridgeProtocolContext) {
    this.ctx = ctx;
  }

  /** The 802.1D machine while STP is enabled on the bridge. */
  get bridge(): StpBridge | undefined {
    return this.stp;
  }

  /** True while STP runs on the bridge. */
  get enabled(): boolean {
    return this.stp !== undefined;
  }

  /** The STP port number of OpenFlow port `ofport`, if it takes part. */
  portNumOf(ofport: number): number | undefined {
    return this.byOfport.get(ofport)?.portNum;
  }

  reconfigure(_updates: Json[]): void {
    if (this.closed) return;
    const brow = this.ctx.bridgeRow();
    if (!brow || !bool(brow, 'stp_enable')) {
      this.disable();
      return;
    }
    if (bool(brow, 'rstp_enable')) {
      log.warn(`${this.ctx.bridgeName}: RSTP and STP are both enabled, disabling STP`);
      this.disable();
      return;
    }
    const cfg = stpBridgeSettings(smap(brow, 'other_config'), this.ctx.bridgeMac());
    const wanted = this.wantedPorts(brow);
    if (!wanted) {
      this.disable();
      return;
    }
    if (!this.stp) {
      this.stp = new StpBridge({ name: this.ctx.bridgeName, clock: this.ctx.clock, config: cfg });
      log.info(`${this.ctx.bridgeName}: STP enabled`);
    } else {
      this.stp.configure(cfg);
    }
    const stp = this.stp;
    // Ports that leave STP or change number first.
    for (const [ofport, b] of [...this.byOfport]) {
      const w = wanted.get(ofport);
      if (w && w.portNum === b.portNum) continue;
      stp.removePort(b.portNum);
      this.byOfport.delete(ofport);
      this.byNum.delete(b.portNum);
    }
    for (const [ofport, w] of wanted) {
      const of = this.ctx.ofproto.getPort(ofport);
      const speedMbps = of && of.currSpeed > 0 ? of.currSpeed / 1000 : 10000;
      const cost = w.config.pathCost ?? stpSpeedToCost(speedMbps);
      const b = this.byOfport.get(ofport);
      if (!b) {
        const nb: StpBinding = {
          portNum: w.portNum,
          ofport,
          portUuid: w.iface.portUuid,
          name: w.iface.name,
          iface: w.iface,
        };
        stp.addPort(w.portNum, {
          name: w.iface.name,
          priority: w.config.priority,
          pathCost: cost,
          mac: macBytes(w.iface.mac),
          enabled: this.carrier(nb),
        });
        this.byOfport.set(ofport, nb);
        this.byNum.set(w.portNum, nb);
      } else {
        b.iface = w.iface;
        b.portUuid = w.iface.portUuid;
        const sp = stp.port(b.portNum);
        if (sp) {
          sp.name = w.iface.name;
          sp.mac = macBytes(w.iface.mac);
        }
        stp.setPortPriority(b.portNum, w.config.priority);
        stp.setPortPathCost(b.portNum, cost);
      }
    }
    this.service();
  }

  /**
   * The ports that take part, by OpenFlow port, with their numbers; undefined when the port
   * numbering is inconsistent (STP is then disabled on the bridge, as OVS does).
   */
  private wantedPorts(
    brow: Row,
  ): Map<number, { portNum: number; config: StpPortConfig; iface: BridgeIface }> | undefined {
    const db = this.ctx.db;
    const byIface = new Map(this.ctx.ifaces().map((i) => [i.uuid, i]));
    const cands: { name: string; config: StpPortConfig; iface: BridgeIface }[] = [];
    const prows = uuids(brow, 'ports')
      .map((u) => db.getRow('Port', u))
      .filter((r): r is Row => r !== undefined)
      .sort((a, b) => (str(a, 'name') ?? '').localeCompare(str(b, 'name') ?? ''));
    for (const prow of prows) {
      const pname = str(prow, 'name') ?? '';
      const pc = parseStpPortConfig(smap(prow, 'other_config'));
      if ('error' in pc) {
        log.error(`port ${pname}: ${pc.error}`);
        continue;
      }
      if (!pc.enable) continue;
      const ifs = uuids(prow, 'interfaces');
      if (ifs.length !== 1) {
        log.error(`port ${pname}: cannot enable STP on bonds, disabling`);
        continue;
      }
      const irow = db.getRow('Interface', ifs[0]!);
      if (!irow || str(irow, 'type') === 'internal') continue;
      const iface = byIface.get(irow.uuid);
      if (!iface) continue;
      cands.push({ name: pname, config: pc, iface });
    }
    const asg = assignStpPortNumbers(cands);
    if (!asg.ok) {
      log.error(`bridge ${this.ctx.bridgeName}: ${asg.error}`);
      return undefined;
    }
    for (const e of asg.errors) log.error(e);
    const out = new Map<number, { portNum: number; config: StpPortConfig; iface: BridgeIface }>();
    for (const c of cands) {
      const n = asg.numbers.get(c.name);
      if (n !== undefined)
        out.set(c.iface.ofport, { portNum: n, config: c.config, iface: c.iface });
    }
    return out;
  }

  private disable(): void {
    if (!this.stp && this.applied.size === 0) return;
    if (this.stp) log.info(`${this.ctx.bridgeName}: STP disabled`);
    this.stp = undefined;
    this.byOfport.clear();
    this.byNum.clear();
    this.ctx.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.applyStates();
    this.ctx.requestStatus();
  }

  private carrier(b: StpBinding): boolean {
    try {
      if (b.iface.netdev) return b.iface.netdev.carrier();
    } catch {
      return false;
    }
    const of = this.ctx.ofproto.getPort(b.ofport);
    return of !== undefined && (of.state & OFPPS.LINK_DOWN) === 0;
  }

  /**
   * Runs the machine to now: timers, link state, BPDUs out, port states onto the OpenFlow
   * ports, MAC flush on topology change; then re-arms the timer.
   */
  service(): void {
    const stp = this.stp;
    if (!stp || this.closed) return;
    const now = this.ctx.clock.now();
    stp.run(now);
    for (const b of this.byNum.values()) {
      const sp = stp.port(b.portNum);
      if (!sp) continue;
      const up = this.carrier(b);
      if (up !== (sp.state !== 'disabled')) {
        log.debug(`${this.ctx.bridgeName}: port ${b.name} is ${up ? 'up' : 'down'}`);
        stp.setPortEnabled(b.portNum, up, now);
      }
    }
    for (const o of stp.takePackets()) {
      const b = this.byNum.get(o.portNum);
      if (b) this.ctx.send(b.ofport, o.frame);
    }
    stp.changedPorts();
    this.applyStates();
    if (stp.checkAndResetFdbFlush()) {
      this.ctx.xlate.mac.flush();
      this.ctx.invalidate();
    }
    this.arm();
  }

  /** Makes every OpenFlow port's stpState equal to the machine's view. */
  private applyStates(): void {
    let fwdChange = false;
    let learnChange = false;
    const want = new Map<number, StpState>();
    if (this.stp) {
      for (const b of this.byNum.values()) {
        const sp = this.stp.port(b.portNum);
        if (sp) want.set(b.ofport, sp.state);
      }
    }
    const touch = (p: OfPort, s: StpState | undefined): void => {
      const before = p.stpState;
      if (before === s) return;
      const fwd = (x: StpState | undefined): boolean =>
        x === undefined || x === 'forwarding' || x === 'disabled';
      const learn = (x: StpState | undefined): boolean =>
        x === undefined || x === 'disabled' || stpLearnInState(x);
      if (fwd(before) !== fwd(s)) fwdChange = true;
      if (learn(before) !== learn(s)) learnChange = true;
      if (s === undefined) delete p.stpState;
      else p.stpState = s;
      log.debug(
        `${this.ctx.bridgeName}: port ${p.name}: STP state ${before ?? 'none'} -> ${s ?? 'none'}`,
      );
    };
    for (const ofport of [...this.applied]) {
      if (want.has(ofport)) continue;
      const p = this.ctx.ofproto.getPort(ofport);
      if (p) touch(p, undefined);
      this.applied.delete(ofport);
    }
    let any = false;
    for (const [ofport, s] of want) {
      const p = this.ctx.ofproto.getPort(ofport);
      if (!p) continue;
      if (p.stpState !== s) any = true;
      touch(p, s);
      this.applied.add(ofport);
    }
    if (learnChange) this.ctx.xlate.mac.flush();
    if (fwdChange || learnChange || any) {
      this.ctx.invalidate();
      this.ctx.requestStatus();
    }
  }

  private arm(): void {
    const stp = this.stp;
    if (!stp || this.closed) return;
    this.ctx.clock.clearTimeout(this.timer);
    const now = this.ctx.clock.now();
    const due = Math.min(stp.wakeTime(), now + POLL_MS);
    this.timer = this.ctx.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.service();
      },
      Math.max(0, due - now),
    );
  }

  consume(port: OfPort, flow: FlowKey, wc: FlowKey, frame: Uint8Array | undefined): boolean {
    const stp = this.stp;
    if (!stp) return false;
    if (!stpShouldProcessFlow(flow, wc)) return false;
    if (frame) {
      const b = this.byOfport.get(port.ofport);
      // Ports without STP on an STP bridge sink BPDUs (OVS's stp_process_packet).
      if (b && stp.port(b.portNum)?.state !== 'disabled') {
        stp.processPacket(b.portNum, frame);
        this.queueService();
      }
    }
    return true;
  }

  /** Services the machine after the current datapath batch (so its flows are flushed after). */
  private queueService(): void {
    if (this.serviceQueued) return;
    this.serviceQueued = true;
    queueMicrotask(() => {
      this.serviceQueued = false;
      this.service();
    });
  }

  writeStatus(updates: Json[]): void {
    const db = this.ctx.db;
    const brow = this.ctx.bridgeRow();
    if (!brow) return;
    const stp = this.stp;
    const bstatus = smap(brow, 'status');
    const bwant = withoutKeys(bstatus, BRIDGE_STATUS_KEYS);
    if (stp) Object.assign(bwant, stp.status());
    if (!sameMap(bstatus, bwant))
      updates.push(update('Bridge', brow.uuid, { status: mapJson(bwant) }));
    const now = this.ctx.clock.now();
    const doStats = now - this.lastStatsAt >= STATS_INTERVAL_MS;
    if (doStats) this.lastStatsAt = now;
    const byPort = new Map<string, StpBinding>();
    for (const b of this.byNum.values()) byPort.set(b.portUuid, b);
    for (const pu of uuids(brow, 'ports')) {
      const prow = db.getRow('Port', pu);
      if (!prow) continue;
      const b = byPort.get(pu);
      const row: Record<string, Json> = {};
      const status = smap(prow, 'status');
      const swant = withoutKeys(status, PORT_STATUS_KEYS);
      if (stp && b && stp.port(b.portNum)) {
        const ps = stp.portStatus(b.portNum, now);
        const unchanged =
          status.stp_port_id === ps.stp_port_id &&
          status.stp_state === ps.stp_state &&
          status.stp_role === ps.stp_role &&
          status.stp_sec_in_state !== undefined;
        Object.assign(swant, ps);
        if (unchanged) swant.stp_sec_in_state = status.stp_sec_in_state!;
      }
      if (!sameMap(status, swant)) row.status = mapJson(swant);
      const stats = intMap(prow, 'statistics');
      const twant = withoutKeys(stats, PORT_STATS_KEYS);
      if (stp && b && stp.port(b.portNum)) {
        const st = stp.portStatistics(b.portNum);
        const have = PORT_STATS_KEYS.every((k) => stats[k] !== undefined);
        if (doStats || !have) Object.assign(twant, st);
        else for (const k of PORT_STATS_KEYS) twant[k] = stats[k]!;
      }
      if (!sameMap(stats, twant)) row.statistics = mapJson(twant);
      if (Object.keys(row).length > 0) updates.push(update('Port', pu, row));
    }
  }

  /** `stp/tcn`: signals a topology change as if detected. */
  topologyChange(): void {
    if (!this.stp) return;
    this.stp.triggerTopologyChange();
    this.service();
  }

  close(): void {
    if (this.closed) return;
    this.disable();
    this.closed = true;
  }
}

function stpBridges(protocols: ReadonlyMap<string, BridgeProtocol>): StpProtocol[] {
  return [...protocols.values()].filter(
    (p): p is StpProtocol => p instanceof StpProtocol && p.enabled,
  );
}

/** The `stp` bridge protocol module: per-bridge {@link StpProtocol} and stp/show, stp/tcn. */
export const stpModule: BridgeProtocolModule = {
  name: 'stp',
  create: (ctx) => new StpProtocol(ctx),
  commands: (registry, protocols) => {
    registry.register({
      name: 'stp/tcn',
      usage: '[bridge]',
      minArgs: 0,
      maxArgs: 1,
      handler: (args) => {
        const all = stpBridges(protocols());
        if (args.length === 1) {
          const p = all.find((x) => x.bridge?.name === args[0]);
          if (!p) throw new AppctlError('no such stp object');
          p.topologyChange();
        } else {
          for (const p of all) p.topologyChange();
        }
        return 'OK\n';
      },
    });
    registry.register({
      name: 'stp/show',
      usage: '[bridge]',
      minArgs: 0,
      maxArgs: 1,
      handler: (args) => {
        const all = stpBridges(protocols());
        for (const p of all) p.service();
        const r = formatStpShow(
          all.map((p) => p.bridge!),
          args[0],
        );
        if (!r.ok) throw new AppctlError(r.error);
        return r.text;
      },
    });
  },
};

/**
 * The NORMAL action: a MAC learning L2 switch with 802.1Q VLANs, as OVS's mac-learning.c and
 * xlate_normal() behave.
 *
 * - {@link MacTable}: (VLAN, MAC) → port with aging (`other_config:mac-aging-time`, default
 *   300 s) and a size limit (`other_config:mac-table-size`, default 2048; the least recently
 *   learned entry is evicted when full), on the injected Clock. Every change that can alter a
 *   forwarding decision (new entry, moved entry, expiry, eviction, flush) bumps
 *   {@link MacTable.seq} and calls the change listeners, so a revalidator can re-check the
 *   megaflows that NORMAL produced.
 * - VLAN handling per port ({@link PortVlan}): `access` (one VLAN, untagged), `trunk` (tagged,
 *   VLAN 0 untagged; empty trunks = every VLAN), `native-tagged` and `native-untagged` (a native
 *   VLAN for untagged frames plus trunks), as OVS's Port `tag`, `trunks` and `vlan_mode`.
 * - {@link xlateNormal}: learning, input VLAN checks, then unicast to the learned port or flood to
 *   every port in the VLAN except the input (skipping no-flood ports and ports STP does not let
 *   forward), with OVS's trace notes.
 * - {@link formatFdb}: `ovs-appctl fdb/show` output.
 */
import type { Clock, TimerHandle } from '../lib/clock.js';
import { counter } from '../lib/counters.js';
import { VLAN_CFI, W, type FlowKey } from '../lib/packet/flow-key.js';
import { formatMac } from '../lib/packet/mac.js';
import { OFPP } from '../openflow/constants.js';

const cLearned = counter('mac_learning_learned', 'ofproto', 'MAC addresses learned');
const cExpired = counter('mac_learning_expired', 'ofproto', 'MAC entries aged out');
const cEvicted = counter('mac_learning_evicted', 'ofproto', 'MAC entries evicted (table full)');
const cMoved = counter('mac_learning_moved', 'ofproto', 'MAC entries moved to another port');

/** Default `other_config:mac-aging-time` (seconds). */
export const DEFAULT_MAC_AGING_S = 300;
/** Default `other_config:mac-table-size`. */
export const DEFAULT_MAC_TABLE_SIZE = 2048;

/** A port's VLAN mode (OVS Port `vlan_mode`). */
export type VlanMode = 'access' | 'trunk' | 'native-tagged' | 'native-untagged';

/** A port's VLAN configuration (OVS Port `tag`, `trunks`, `vlan_mode`). */
export interface PortVlan {
  /** Mode; when absent: `access` if `tag` is set, else `trunk` (as OVS). */
  mode?: VlanMode;
  /** Access VLAN or native VLAN (0–4095). */
  tag?: number;
  /** VLANs trunked; empty or absent = all. Ignored in access mode. */
  trunks?: readonly number[];
}

/** One learned MAC. */
export interface MacEntry {
  /** VLAN (0–4095). */
  readonly vlan: number;
  /** MAC as a 48-bit number. */
  readonly mac: number;
  /** OpenFlow port it was learned on. */
  port: number;
  /** Monotonic ms when learned or last refreshed. */
  learnedAt: number;
}

/** Options of a {@link MacTable}. */
export interface MacTableOptions {
  /** Time source. */
  clock: Clock;
  /** Aging time in seconds (default 300). */
  agingSec?: number;
  /** Most entries (default 2048). */
  maxEntries?: number;
}

/** The MAC learning table of one bridge. */
export class MacTable {
  /** LRU order: the first entry is the least recently learned. */
  private readonly map = new Map<string, MacEntry>();
  private readonly clock: Clock;
  private readonly listeners = new Set<() => void>();
  /** Aging time (s). */
  agingSec: number;
  /** Size limit. */
  maxEntries: number;
  /** Change counter: bumped by every change that can alter a forwarding decision. */
  seq = 0;

  constructor(opts: MacTableOptions) {
    this.clock = opts.clock;
    this.agingSec = opts.agingSec ?? DEFAULT_MAC_AGING_S;
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAC_TABLE_SIZE;
  }

  /** Calls `fn` after every change (returns an unsubscribe function). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    this.seq++;
    for (const fn of this.listeners) fn();
  }

  /** Sets aging time and size (other_config); shrinking evicts the oldest entries. */
  configure(agingSec = DEFAULT_MAC_AGING_S, maxEntries = DEFAULT_MAC_TABLE_SIZE): void {
    this.agingSec = agingSec;
    this.maxEntries = Math.max(1, maxEntries);
    let evicted = false;
    while (this.map.size > this.maxEntries) {
      const first = this.map.keys().next().value as string;
      this.map.delete(first);
      cEvicted.inc();
      evicted = true;
    }
    if (evicted) this.changed();
    this.expire();
  }

  /** Number of entries. */
  get size(): number {
    return this.map.size;
  }

  private expired(e: MacEntry, now: number): boolean {
    return now - e.learnedAt >= this.agingSec * 1000;
  }

  /**
   * Learns that `mac` is on `port` in `vlan`. Returns true when the table changed in a way that
   * can alter forwarding (new entry or moved port); a refresh of an existing entry returns false.
   * Multicast source addresses are never learned.
   */
  learn(mac: number, vlan: number, port: number): boolean {
    if (isMulticast(mac)) return false;
    const now = this.clock.now();
    const k = `${vlan}/${mac}`;
    const e = this.map.get(k);
    if (e && !this.expired(e, now)) {
      this.map.delete(k);
      this.map.set(k, e);
      e.learnedAt = now;
      if (e.port === port) return false;
      e.port = port;
      cMoved.inc();
      this.changed();
      return true;
    }
    if (e) this.map.delete(k);
    while (this.map.size >= this.maxEntries) {
      const first = this.map.keys().next().value as string;
      this.map.delete(first);
      cEvicted.inc();
    }
    this.map.set(k, { vlan, mac, port, learnedAt: now });
    cLearned.inc();
    this.changed();
    return true;
  }

  /** The live entry for (`mac`, `vlan`), if any. */
  lookup(mac: number, vlan: number): MacEntry | undefined {
    const e = this.map.get(`${vlan}/${mac}`);
    if (!e || this.expired(e, this.clock.now())) return undefined;
    return e;
  }

  private timer: TimerHandle | undefined;

  /**
   * Starts expiring entries every second on the clock (so that the change listeners hear about
   * aged-out entries without waiting for a lookup). Idempotent.
   */
  startAging(): void {
    if (this.timer) return;
    const tick = (): void => {
      this.expire();
      this.timer = this.clock.setTimeout(tick, 1000);
    };
    this.timer = this.clock.setTimeout(tick, 1000);
  }

  /** Stops the aging timer. */
  stopAging(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Removes aged-out entries; returns how many. */
  expire(): number {
    const now = this.clock.now();
    let n = 0;
    for (const [k, e] of this.map) {
      if (!this.expired(e, now)) break;
      this.map.delete(k);
      n++;
    }
    if (n > 0) {
      cExpired.inc(n);
      this.changed();
    }
    return n;
  }

  /** Removes every entry learned on `port` (port deleted or reconfigured). */
  flushPort(port: number): number {
    let n = 0;
    for (const [k, e] of this.map)
      if (e.port === port) {
        this.map.delete(k);
        n++;
      }
    if (n > 0) this.changed();
    return n;
  }

  /** Removes every entry. */
  flush(): void {
    const had = this.map.size > 0;
    this.map.clear();
    if (had) this.changed();
  }

  /** Live entries, least recently learned first. */
  entries(): MacEntry[] {
    const now = this.clock.now();
    return [...this.map.values()].filter((e) => !this.expired(e, now));
  }

  /** Age of an entry in whole seconds. */
  age(e: MacEntry): number {
    return Math.max(0, Math.floor((this.clock.now() - e.learnedAt) / 1000));
  }
}

/** True when the 48-bit MAC is a group address (I/G bit). */
export function isMulticast(mac: number): boolean {
  return Math.floor(mac / 2 ** 40) % 2 === 1;
}

/** Reads a MAC field (eth_src at W.ETH_SRC, eth_dst at W.ETH_DST) as a 48-bit number. */
export function macFromKey(key: FlowKey, word: number): number {
  return (key[word]! & 0xffff) * 2 ** 32 + key[word + 1]!;
}

/** The 48-bit MAC as OVS prints it. */
export function macToString(mac: number): string {
  return formatMac(Math.floor(mac / 2 ** 32), mac % 2 ** 32);
}

/** `ovs-appctl fdb/show` text for a table (port names: numbers, LOCAL for the local port). */
export function formatFdb(t: MacTable): string {
  let s = ' port  VLAN  MAC                Age\n';
  for (const e of t.entries()) {
    const port = e.port === OFPP.LOCAL ? 'LOCAL' : String(e.port);
    s +=
      `${port.padStart(5)}  ${String(e.vlan).padStart(4)}  ${macToString(e.mac)}  ` +
      `${String(t.age(e)).padStart(3)}\n`;
  }
  return s;
}

// ---------------------------------------------------------------- VLANs

/** The effective mode of a port's VLAN config. */
export function vlanMode(v: PortVlan | undefined): VlanMode {
  return v?.mode ?? (v?.tag !== undefined ? 'access' : 'trunk');
}

function trunks(v: PortVlan | undefined, vlan: number): boolean {
  const m = vlanMode(v);
  if (m === 'access') return false;
  const t = v?.trunks;
  return !t || t.length === 0 || t.includes(vlan);
}

/** True if a port carries `vlan` (OVS xbundle_includes_vlan). */
export function portIncludesVlan(v: PortVlan | undefined, vlan: number): boolean {
  const m = vlanMode(v);
  if (m !== 'trunk' && (v?.tag ?? 0) === vlan) return true;
  return trunks(v, vlan);
}

/**
 * The VLAN a frame received with 802.1Q VID `vid` (0 = untagged or priority-tagged) belongs to
 * on an input port, or a string saying why it is dropped (OVS's trace text).
 */
export function inputVlan(v: PortVlan | undefined, vid: number, portName: string): number | string {
  const m = vlanMode(v);
  if (m === 'access') {
    if (vid !== 0)
      return `dropping VLAN ${vid} tagged packet received on port ${portName} configured as VLAN ${v?.tag ?? 0} access port`;
    return v?.tag ?? 0;
  }
  if (vid === 0 && m !== 'trunk') return v?.tag ?? 0;
  if (!trunks(v, vid))
    return `dropping VLAN ${vid} packet received on port ${portName} not configured for trunking VLAN ${vid}`;
  return vid;
}

/** The VID to send `vlan` with on an output port (0 = untagged). */
export function outputVid(v: PortVlan | undefined, vlan: number): number {
  const m = vlanMode(v);
  if (m === 'access') return 0;
  if (m === 'native-untagged' && (v?.tag ?? 0) === vlan) return 0;
  return vlan;
}

// ---------------------------------------------------------------- xlate_normal

/** A port as NORMAL sees it. */
export interface NormalPort {
  /** OpenFlow port number. */
  readonly ofport: number;
  /** Name (for trace notes). */
  readonly name: string;
  /** VLAN config. */
  readonly vlan?: PortVlan;
  /** Excluded from flooding (OVS OFPUTIL_PC_NO_FLOOD). */
  readonly noFlood?: boolean;
  /** STP lets it forward (true when STP is off). */
  readonly stpForward: boolean;
  /** STP lets it learn (true when STP is off). */
  readonly stpLearn: boolean;
}

/** What {@link xlateNormal} needs from xlate. */
export interface NormalContext {
  /** The current flow (in_port is an OpenFlow port number). */
  readonly flow: FlowKey;
  /** Megaflow wildcards to OR consulted bits into. */
  readonly wc: FlowKey;
  /** The input port (undefined for packets from the controller or unknown ports). */
  readonly inPort: NormalPort | undefined;
  /** Every port of the bridge in flooding order. */
  ports(): NormalPort[];
  /** The MAC table. */
  readonly mac: MacTable;
  /** Whether to learn (false for traces without side effects). */
  readonly learn: boolean;
  /** Outputs the packet to `port` with outer VID `vid` (0 = untagged). */
  output(port: NormalPort, vid: number): void;
  /** A trace note. */
  note(text: string): void;
  /**
   * Optional admissibility check of the input port (OVS's is_admissible for bonds), called after
   * the input VLAN check and before learning with the frame's VLAN. Returns undefined to admit
   * the frame, or the reason it is dropped (a trace note, e.g. "bonding refused admissibility,
   * dropping").
   */
  admit?(vlan: number): string | undefined;
  /**
   * Bridge other_config:forward-bpdu=true: NORMAL forwards frames to reserved multicast
   * addresses (STP, LACP, LLDP, pause...) instead of dropping them (default false, as OVS).
   */
  readonly forwardBpdu?: boolean;
  /**
   * Bridge.flood_vlans: VLANs on which MAC learning is off (OVS's mac_learning_set_flood_vlans):
   * nothing is learned or looked up there, so every frame floods.
   */
  readonly floodVlans?: ReadonlySet<number>;
}

/**
 * Destination MACs a bridge must never forward (OVS's eth_addr_is_reserved): 01:80:c2:00:00:00
 * to :0f (STP, pause, LACP, 802.1X, LLDP...), Extreme's EDP/EAPS and Cisco's ISL, CDP/VTP/DTP,
 * PVST+, UplinkFast and CFM addresses.
 */
const RESERVED_MACS: ReadonlySet<number> = new Set([
  ...Array.from({ length: 16 }, (_, i) => 0x0180c2000000 + i),
  0x00e02b000000,
  0x00e02b000004,
  0x00e02b000006,
  0x01000c000000,
  0x01000ccccccc,
  0x01000ccccccd,
  0x01000ccdcdcd,
  ...Array.from({ length: 8 }, (_, i) => 0x01000cccccc0 + i),
]);

/** True for a destination MAC a bridge must never forward (see {@link RESERVED_MACS}). */
export function isReservedMac(mac: number): boolean {
  return RESERVED_MACS.has(mac);
}

/** Result of {@link xlateNormal} (for tests and statistics). */
export type NormalOutcome = 'unicast' | 'flood' | 'drop';

/** Translates the NORMAL action. */
export function xlateNormal(ctx: NormalContext): NormalOutcome {
  const { flow, wc } = ctx;
  wc[W.ETH_SRC] = (wc[W.ETH_SRC]! | 0xffff) >>> 0;
  wc[W.ETH_SRC + 1] = 0xffffffff;
  wc[W.ETH_DST] = (wc[W.ETH_DST]! | 0xffff) >>> 0;
  wc[W.ETH_DST + 1] = 0xffffffff;
  wc[W.ETH_TYPE] = (wc[W.ETH_TYPE]! | 0xffff) >>> 0;
  wc[W.VLAN0] = (wc[W.VLAN0]! | 0x1fff) >>> 0;
  const tci = flow[W.VLAN0]! & 0xffff;
  const vid = (tci & VLAN_CFI) !== 0 ? tci & 0xfff : 0;
  const inPort = ctx.inPort;
  if (!inPort) {
    ctx.note('no input bundle, dropping');
    return 'drop';
  }
  const vlan = inputVlan(inPort.vlan, vid, inPort.name);
  if (typeof vlan === 'string') {
    ctx.note(`>>>> ${vlan} <<<<`);
    ctx.note('>> disallowed VLAN VID for this input port, dropping');
    return 'drop';
  }
  // As OVS's xlate_normal: VID and CFI only (set above). PCP is never consulted here; a
  // pop_vlan on output makes the commit match the whole tag.
  if (!ctx.forwardBpdu && isReservedMac(macFromKey(flow, W.ETH_DST))) {
    ctx.note('-> packet has reserved destination MAC, dropping');
    return 'drop';
  }
  const refused = ctx.admit?.(vlan);
  if (refused !== undefined) {
    ctx.note(`-> ${refused}`);
    return 'drop';
  }
  const src = macFromKey(flow, W.ETH_SRC);
  const dst = macFromKey(flow, W.ETH_DST);
  const learning = !ctx.floodVlans?.has(vlan);
  if (learning && ctx.learn && inPort.stpLearn && !isMulticast(src)) {
    const prev = ctx.mac.lookup(src, vlan);
    if (!prev || prev.port !== inPort.ofport) {
      ctx.mac.learn(src, vlan, inPort.ofport);
      ctx.note(`-> learned that ${macToString(src)} is on port ${inPort.name} in VLAN ${vlan}`);
    } else {
      ctx.mac.learn(src, vlan, inPort.ofport);
    }
  }
  if (!inPort.stpForward) {
    ctx.note('-> STP not in forwarding state on input port, dropping');
    return 'drop';
  }
  if (!isMulticast(dst) && learning) {
    const e = ctx.mac.lookup(dst, vlan);
    if (e) {
      if (e.port === inPort.ofport) {
        ctx.note('-> learned port is input port, dropping');
        return 'drop';
      }
      const out = ctx.ports().find((p) => p.ofport === e.port);
      if (out && portIncludesVlan(out.vlan, vlan)) {
        ctx.note('-> forwarding to learned port');
        ctx.output(out, outputVid(out.vlan, vlan));
        return 'unicast';
      }
    }
    ctx.note('-> no learned MAC for destination, flooding');
  } else {
    ctx.note('-> no learned MAC for destination, flooding');
  }
  for (const p of ctx.ports()) {
    if (p.ofport === inPort.ofport || p.noFlood || !p.stpForward) continue;
    if (!portIncludesVlan(p.vlan, vlan)) continue;
    ctx.output(p, outputVid(p.vlan, vlan));
  }
  return 'flood';
}

// ---------------------------------------------------------------- bonds

/** The verdict of a bond on a frame received on one of its members (OVS's bond_verdict). */
export type BondVerdict = 'accept' | 'drop' | 'drop-if-moved';

/**
 * A bond (a Port with several interfaces) as NORMAL sees it: one bundle. NORMAL learns on the
 * bundle, never sends back into it, and outputs to exactly one member.
 */
export interface NormalBond {
  /** The bundle's port number in the MAC table: its lowest member OpenFlow port. */
  readonly id: number;
  /** The Port name (for trace notes). */
  readonly name: string;
  /**
   * Whether a frame to `dstMac` received on member `ofport` is admitted (OVS's
   * bond_check_admissibility). Must not change state.
   */
  admissibility(ofport: number, dstMac: number): BondVerdict;
  /**
   * The member to output a frame from `srcMac` sent with output VID `vid` to, or undefined when
   * no member is enabled (the frame is dropped). `bytes` (0 for traces) is accounted to the
   * hash bucket for rebalancing.
   */
  chooseOutput(srcMac: number, vid: number, bytes: number): number | undefined;
}

/** The bonds of one bridge. */
export interface NormalBonds {
  /** The bond that OpenFlow port `ofport` is a member of, if any. */
  bondOf(ofport: number): NormalBond | undefined;
}

/**
 * True for a gratuitous ARP (broadcast reply, or broadcast request with spa == tpa), ORing into
 * `wc` the bits consulted (OVS's is_gratuitous_arp).
 */
export function gratuitousArp(flow: FlowKey, wc: FlowKey): boolean {
  wc[W.ETH_TYPE] = (wc[W.ETH_TYPE]! | 0xffff) >>> 0;
  if ((flow[W.ETH_TYPE]! & 0xffff) !== 0x0806) return false;
  wc[W.ETH_DST] = (wc[W.ETH_DST]! | 0xffff) >>> 0;
  wc[W.ETH_DST + 1] = 0xffffffff;
  if ((flow[W.ETH_DST]! & 0xffff) !== 0xffff || flow[W.ETH_DST + 1] !== 0xffffffff) return false;
  wc[W.NW] = (wc[W.NW]! | 0xff) >>> 0;
  const op = flow[W.NW]! & 0xff;
  if (op === 2) return true;
  if (op !== 1) return false;
  wc[W.NW_SRC] = 0xffffffff;
  wc[W.NW_DST] = 0xffffffff;
  return flow[W.NW_SRC] === flow[W.NW_DST];
}

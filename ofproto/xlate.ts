/**
 * Translation (OVS's ofproto-dpif-xlate.c): runs a flow through a bridge's OpenFlow pipeline and
 * produces what the datapath needs.
 *
 * Input: a flow key whose `in_port` is an OpenFlow port number (the caller maps datapath port
 * numbers), optionally the frame. Output ({@link XlateResult}): the datapath-action IR
 * (datapath/actions.ts), the megaflow mask (every bit a lookup consulted or an action depended
 * on, plus in_port, recirc_id, eth_type and, for IP, ip_frag, as OVS's xlate_wc_init), the
 * rules and groups hit (for statistics), the packet-ins to send, and the reasons the flow must
 * stay on the slow path.
 *
 * Semantics, following OpenFlow 1.3 and OVS 3.1:
 * - Tables from 0 (or the packet-out action list); instructions in the spec's order (meter,
 *   apply-actions, clear-actions, write-actions, write-metadata, goto-table); the action set runs
 *   when the pipeline ends, in the spec's order (copy TTL in, pops, push MPLS, push PBB, push
 *   VLAN, copy TTL out, decrement TTL, sets, set-queue, group, else output). A table miss drops
 *   (no table-miss rule), except that with fail_mode standalone and no connected controller
 *   table 0 behaves as if it had `priority=0,actions=NORMAL` (OVS's fail-open flow).
 * - Field changes are tracked in the flow and committed lazily (as OVS's commit_odp_actions)
 *   before anything that emits the packet: one `set` per changed field (masked when only part
 *   of a field was written), VLAN tags by pop/push, MPLS push/pop in place.
 * - Outputs: to a port (skipped when it is the input port — use IN_PORT —, does not exist, has
 *   OFPPC_NO_FWD, or its STP state does not forward; a port that is administratively or link
 *   down is still output to, as OVS does), IN_PORT, TABLE (packet-out only), NORMAL, FLOOD, ALL,
 *   CONTROLLER, LOCAL.
 * - CONTROLLER emits `userspace(controller(dont_send=1,...))` as OVS does and puts the flow on
 *   the slow path (`controller`); the packet-in itself is built here when the frame is known
 *   (with every change made so far applied to it) and returned in `packetIns`.
 * - Groups: all, select (hash of the L2–L4 addresses, un-wildcarded, with bucket weights; only
 *   live buckets), indirect, fast-failover (first live bucket; liveness from the watch port's
 *   config/state and, recursively, the watch group), chaining.
 * - Meters run in the datapath (OVS's dpif meters): each OpenFlow meter of the bridge is a
 *   datapath meter (ids allocated per datapath, lowest free from 0, as OVS's meter id pool),
 *   programmed through the executor when the meter is added, modified or deleted; the METER
 *   instruction emits `meter(ID)` before the rule's other effects and the flow stays cacheable.
 *   Packet-ins are built here, not by the datapath, so a translation with side effects that
 *   produces packet-ins runs the meters preceding them on the datapath meter at once
 *   ({@link PacketExecutor.meterRun}): a drop cancels those packet-ins and what follows; a
 *   dscp_remark becomes the equivalent `set` (packet-in frames included). Unlike OVS 3.1's
 *   userspace datapath (drop bands only), dscp_remark bands are supported. The meter action is
 *   emitted before field changes pending from earlier tables, as OVS does, except for a meter
 *   with a dscp_remark band, which must see them.
 * - Too deep a chain of gotos/groups (64 levels) or too many (4096) ends in a counted drop.
 */
import type { Clock } from '../lib/clock.js';
import { counter } from '../lib/counters.js';
import { getLogger } from '../lib/log.js';
import { extractFlowKey } from '../lib/packet/extract.js';
import {
  ETH_TYPE,
  FLOW_KEY_WORDS,
  IPPROTO,
  VLAN_CFI,
  W,
  field as fieldDesc,
  fieldByName,
  hashKey,
  maskField,
  newFlowKey,
  setFieldBig,
  type FieldDesc,
  type FlowKey,
} from '../lib/packet/flow-key.js';
import { setAction, type DpAction, type SetField } from '../datapath/actions.js';
import {
  raiseDropPrecedence,
  type DpMeterConfig,
  type DpMeterStats,
} from '../datapath/dp-meter.js';
import type { UpcallRequest, UpcallResult, UserspaceUpcall } from '../datapath/dpif.js';
import { executeActions, lastModifying, type ExecContext } from '../datapath/execute.js';
import { PacketPool } from '../datapath/packet.js';
import type { Action } from '../openflow/actions.js';
import { OFPG, OFPGT, OFPMF, OFPP, OFPPC, OFPPS, OFPR } from '../openflow/constants.js';
import type { Instruction } from '../openflow/instructions.js';
import type { MessageOf } from '../openflow/messages.js';
import type { Match } from '../openflow/oxm.js';
import type { Bucket } from '../openflow/structs.js';
import {
  MacTable,
  gratuitousArp,
  macFromKey,
  xlateNormal,
  type NormalBond,
  type NormalBonds,
  type NormalPort,
} from './normal.js';
import type { Ofconn } from './ofconn.js';
import type { OfPort, Ofproto } from './ofproto.js';
import type { MeterChangeOp, OfGroup, OfMeter, OfRule, OpenFlowPipeline } from './pipeline.js';
import { Pinsched } from './pinsched.js';

const log = getLogger('xlate');
const cXlate = counter('xlate', 'ofproto', 'translations');
const cTooDeep = counter('xlate_too_deep', 'ofproto', 'translations dropped: too deep');
const cMeterDrop = counter('xlate_meter_drop', 'ofproto', 'packets dropped by a meter band');
const cPacketIn = counter('xlate_packet_in', 'ofproto', 'packet-ins produced by translation');
const cPacketOut = counter('xlate_packet_out', 'ofproto', 'packet-outs translated');

/** Deepest nesting of gotos/groups (OVS MAX_DEPTH). */
export const MAX_DEPTH = 64;
/** Most table lookups + group executions in one translation (OVS MAX_RESUBMITS). */
export const MAX_RESUBMITS = 4096;
/** The cookie of packet-ins not caused by a flow (packet-out). */
export const NO_COOKIE = 0xffffffffffffffffn;

/** Bridge fail mode (Bridge fail_mode). */
export type FailMode = 'standalone' | 'secure';

/** A packet-in produced by translation. */
export interface PacketInRequest {
  /** OFPR_* reason. */
  reason: number;
  /** Table of the rule (0 for packet-out). */
  tableId: number;
  /** Cookie of the rule, all-ones when not from a flow. */
  cookie: bigint;
  /** The action's max_len (OVS 3.1 sends the whole frame anyway). */
  maxLen: number;
  /** The flow at the time of the action (in_port, metadata, tunnel_id go into the match). */
  flow: FlowKey;
  /** The frame with every change made so far applied. */
  frame: Uint8Array;
  /**
   * The translator of the bridge whose pipeline produced it: after an output to a patch port,
   * the peer bridge's, whose controllers receive it. Absent = the translating bridge.
   */
  xlate?: Xlate;
}

/**
 * One step of a translation, for ofproto/trace. `rule`, `miss`, `bucket` and `actionSet` open a
 * node that the matching `end` closes; the others are leaves of the innermost open node
 * (`actionSet` always hangs off the first table's node, as in OVS's trace tree). `depth` is the
 * nesting of gotos and groups. `bridge` opens the walk of a patch port's peer bridge (OVS prints
 * its `bridge("NAME")` header), closed by `end`; the `rule`s and `actionSet` of that bridge
 * follow inside it.
 */
export type TraceEvent =
  | { kind: 'rule'; depth: number; tableId: number; rule: OfRule }
  | { kind: 'miss'; depth: number; tableId: number; failOpen: boolean }
  | { kind: 'instruction'; depth: number; instruction: Instruction }
  | { kind: 'action'; depth: number; action: Action }
  | { kind: 'note'; depth: number; text: string }
  | { kind: 'bucket'; depth: number; group: number; bucket: number }
  | { kind: 'actionSetIs'; depth: number; actions: readonly Action[] }
  | { kind: 'actionSet'; depth: number }
  | { kind: 'bridge'; depth: number; name: string }
  | { kind: 'end'; depth: number };

/** Input of a translation. */
export interface XlateInput {
  /** The flow; `in_port` is an OpenFlow port number (CONTROLLER for controller packets). */
  key: FlowKey;
  /** The frame (needed to build packet-ins; meters run ahead of them count its length). */
  frame?: Uint8Array;
  /**
   * Whether translation may change state: learn MACs, build packet-ins (and run the datapath
   * meters that precede them), count group statistics. Default true; ofproto/trace without `-generate` uses false.
   */
  sideEffects?: boolean;
  /** Translate this action list (packet-out) instead of starting at table 0. */
  actions?: readonly Action[];
  /** Receives trace events. */
  trace?: (e: TraceEvent) => void;
}

/** One execution of a group. */
export interface GroupHit {
  /** The group. */
  group: OfGroup;
  /** Indexes of the buckets executed. */
  buckets: number[];
}

/** Output of a translation. */
export interface XlateResult {
  /** Datapath actions (empty = drop). */
  actions: DpAction[];
  /** Megaflow mask over the input key's layout. */
  mask: FlowKey;
  /** Rules hit, in order (credit them with the packet's statistics). */
  rules: OfRule[];
  /** Groups executed (one entry per execution). */
  groups: GroupHit[];
  /** Packet-ins to send (only with side effects and a frame). */
  packetIns: PacketInRequest[];
  /** Reasons the flow must not be cached as is (`controller`, `bfd`, …); empty = cacheable. */
  slow: string[];
  /** True when NORMAL was used (the flow depends on the MAC table). */
  usedNormal: boolean;
  /** The flow after every change. */
  finalFlow: FlowKey;
  /** Set when the translation ended in a counted drop (`too deep`, `meter`). */
  dropReason?: string;
}

/**
 * Executes a packet-out on the datapath and holds the datapath meters (a Dpif fits). Without
 * the meter members, METER instructions are not enforced (the trace says so).
 */
export interface PacketExecutor {
  /** Runs `actions` on a copy of `frame` received on datapath port `inPort`. */
  execute(frame: Uint8Array, inPort: number, actions: readonly DpAction[]): void;
  /** Creates or replaces datapath meter `id` (counters restart at 0); throws on a bad config. */
  meterSet?(id: number, config: DpMeterConfig): void;
  /** Deletes datapath meter `id`, returning its last counters. */
  meterDel?(id: number): DpMeterStats | undefined;
  /** Counters of datapath meter `id` since it was last set. */
  meterStats?(id: number): DpMeterStats | undefined;
  /**
   * Runs datapath meter `id` for one packet of `bytes` bytes, counting it, as a `meter` action
   * would: a negative result means drop, else the drop-precedence levels to add (0: none).
   */
  meterRun?(id: number, bytes: number): number;
}

/** Options of an {@link Xlate}. */
export interface XlateOptions {
  /** The bridge. */
  ofproto: Ofproto;
  /** Time source (meters, MAC aging). */
  clock: Clock;
  /** MAC table for NORMAL (default: a new one on `clock`). */
  mac?: MacTable;
  /** Fail mode (default standalone, as OVS). */
  failMode?: FailMode;
  /** Packet-in limiter (default 1000/s, burst 250 per connection). */
  pinsched?: Pinsched<Ofconn>;
  /** Packet-out executor (the datapath). */
  executor?: PacketExecutor;
}

/**
 * A control protocol whose frames are taken out of the datapath before the OpenFlow tables
 * (OVS's BFD, STP, LACP, CFM processing in xlate): `consume` looks at every translated flow
 * that arrives on a port of the bridge.
 */
export interface SlowPathProtocol {
  /** Short name shown in traces (`BFD`, `STP`). */
  readonly name: string;
  /**
   * Decides whether the flow arriving on `port` is one of this protocol's frames.
   *
   * Contract: it must OR into `wc` every bit of the flow it looked at, whether or not it
   * consumes the packet, so a megaflow installed for other traffic never swallows a protocol
   * frame. It returns true when the frame belongs to the protocol; the caller then emits no
   * datapath actions and keeps the flow on the slow path (each such frame comes back up). When
   * `frame` is given (a real upcall, not a trace), the protocol processes it there and then;
   * it must not throw (a malformed frame is counted and dropped).
   */
  consume(port: OfPort, flow: FlowKey, wc: FlowKey, frame: Uint8Array | undefined): boolean;
}

/** Datapath port number of an OpenFlow port (LOCAL defaults to 0). */
export function dpPortOf(p: OfPort): number {
  return p.dpPort ?? (p.ofport === OFPP.LOCAL ? 0 : p.ofport);
}

function stpForward(p: OfPort): boolean {
  return p.stpState === undefined || p.stpState === 'forwarding' || p.stpState === 'disabled';
}

function stpLearn(p: OfPort): boolean {
  return stpForward(p) || p.stpState === 'learning';
}

/**
 * A watch port's liveness for fast-failover groups, as OVS's `odp_port_is_alive`: not
 * administratively down, link up, and OFPPS_LIVE (cleared while BFD or another liveness source
 * vetoes the port through Ofproto.setPortEnable).
 */
function portLive(p: OfPort | undefined): boolean {
  return (
    p !== undefined &&
    (p.patchPeer === undefined || p.patchPeer() !== undefined) &&
    (p.config & OFPPC.PORT_DOWN) === 0 &&
    (p.state & OFPPS.LINK_DOWN) === 0 &&
    (p.state & OFPPS.LIVE) !== 0
  );
}

/** True for an 802.1Q or 802.1ad TPID (OVS's eth_type_vlan). */
function isVlanTpid(tpid: number): boolean {
  return tpid === ETH_TYPE.VLAN || tpid === ETH_TYPE.VLAN_8021AD;
}

/**
 * The VLAN rules of OVS's xlate_wc_finish, applied to a finished megaflow mask `wc` for the
 * packet `key` (as received): a VLAN header the packet does not have is not matched at all
 * (push_vlan or NORMAL may have consulted the empty slot), and CFI is matched wherever any
 * other TCI bit is. This is the megaflow ofproto/trace prints; the datapath then matches the
 * absent header as absent (see {@link datapathMask}).
 */
export function vlanWcFinish(key: FlowKey, wc: FlowKey): void {
  for (let i = 0; i < 2; i++) {
    const w = W.VLAN0 + i;
    if (!isVlanTpid(key[w]! >>> 16)) wc[w] = 0;
    else if ((wc[w]! & 0xffff) !== 0) wc[w] = (wc[w]! | VLAN_CFI) >>> 0;
  }
}

/**
 * Turns a megaflow mask for `key` into the mask the datapath installs, in place, as OVS's
 * datapath key/mask round trip does (odp_flow_key_from_mask / odp_flow_key_to_mask): the TPID
 * of every VLAN header the packet has is matched (it is the datapath key's ethertype), and the
 * first header it does not have is matched as absent, so that a tagged packet never hits the
 * flow of an untagged one, nor a double-tagged packet that of a single-tagged one.
 */
export function datapathMask(key: FlowKey, mask: FlowKey): void {
  for (let i = 0; i < 2; i++) {
    const w = W.VLAN0 + i;
    if ((key[w]! & VLAN_CFI) === 0) {
      mask[w] = 0xffffffff;
      return;
    }
    mask[w] = (mask[w]! | 0xffff0000) >>> 0;
  }
}

function isIp(flow: FlowKey): boolean {
  const t = flow[W.ETH_TYPE]! & 0xffff;
  return t === ETH_TYPE.IP || t === ETH_TYPE.IPV6;
}

function isMpls(t: number): boolean {
  return t === ETH_TYPE.MPLS || t === ETH_TYPE.MPLS_MCAST;
}

/** One field of the datapath IR that commit may emit. */
interface CommitField {
  readonly ir: SetField;
  readonly word: number;
  readonly words: 1 | 2 | 4;
  readonly shift: number;
  readonly bits: number;
  readonly when: (flow: FlowKey) => boolean;
}

const ethType = (flow: FlowKey): number => flow[W.ETH_TYPE]! & 0xffff;
const proto = (flow: FlowKey): number => flow[W.NW]! & 0xff;
const v4 = (f: FlowKey): boolean => ethType(f) === ETH_TYPE.IP;
const v6 = (f: FlowKey): boolean => ethType(f) === ETH_TYPE.IPV6;
const arp = (f: FlowKey): boolean => ethType(f) === ETH_TYPE.ARP || ethType(f) === ETH_TYPE.RARP;
const l4 =
  (p: number) =>
  (f: FlowKey): boolean =>
    isIp(f) && proto(f) === p;
const cf = (
  ir: SetField,
  word: number,
  words: 1 | 2 | 4,
  shift: number,
  bits: number,
  when: (f: FlowKey) => boolean,
): CommitField => ({ ir, word, words, shift, bits, when });

/** Commit order (as OVS: L2, L3, L4, ICMP, MPLS); VLAN is handled apart. */
const COMMIT_FIELDS: readonly CommitField[] = [
  cf('eth_src', W.ETH_SRC, 2, 0, 48, () => true),
  cf('eth_dst', W.ETH_DST, 2, 0, 48, () => true),
  cf('ipv4_src', W.NW_SRC, 1, 0, 32, v4),
  cf('ipv4_dst', W.NW_DST, 1, 0, 32, v4),
  cf('ipv4_tos', W.NW, 1, 8, 8, v4),
  cf('ipv4_ttl', W.NW, 1, 16, 8, v4),
  cf('ipv6_src', W.IPV6_SRC, 4, 0, 128, v6),
  cf('ipv6_dst', W.IPV6_DST, 4, 0, 128, v6),
  cf('ipv6_label', W.IPV6_LABEL, 1, 0, 20, v6),
  cf('ipv6_tclass', W.NW, 1, 8, 8, v6),
  cf('ipv6_hlimit', W.NW, 1, 16, 8, v6),
  cf('arp_spa', W.NW_SRC, 1, 0, 32, arp),
  cf('arp_tpa', W.NW_DST, 1, 0, 32, arp),
  cf('arp_op', W.NW, 1, 0, 8, arp),
  cf('arp_sha', W.ARP_SHA, 2, 0, 48, arp),
  cf('arp_tha', W.ARP_THA, 2, 0, 48, arp),
  cf('tcp_src', W.TP, 1, 16, 16, l4(IPPROTO.TCP)),
  cf('tcp_dst', W.TP, 1, 0, 16, l4(IPPROTO.TCP)),
  cf('udp_src', W.TP, 1, 16, 16, l4(IPPROTO.UDP)),
  cf('udp_dst', W.TP, 1, 0, 16, l4(IPPROTO.UDP)),
  cf('sctp_src', W.TP, 1, 16, 16, l4(IPPROTO.SCTP)),
  cf('sctp_dst', W.TP, 1, 0, 16, l4(IPPROTO.SCTP)),
  cf('icmp_type', W.TP, 1, 16, 8, (f) => v4(f) && proto(f) === IPPROTO.ICMP),
  cf('icmp_code', W.TP, 1, 0, 8, (f) => v4(f) && proto(f) === IPPROTO.ICMP),
  cf('icmpv6_type', W.TP, 1, 16, 8, (f) => v6(f) && proto(f) === IPPROTO.ICMPV6),
  cf('icmpv6_code', W.TP, 1, 0, 8, (f) => v6(f) && proto(f) === IPPROTO.ICMPV6),
  cf('mpls_lse', W.MPLS0, 1, 0, 32, (f) => isMpls(ethType(f))),
];

function lowMask(bits: number): number {
  return bits >= 32 ? 0xffffffff : 2 ** bits - 1;
}

/** OpenFlow set-field prerequisites checked at translation time (OVS mf_are_prereqs_ok). */
function prereqOk(name: string, f: FlowKey): boolean {
  switch (name) {
    case 'vlan_vid':
    case 'vlan_pcp':
      return (f[W.VLAN0]! & VLAN_CFI) !== 0;
    case 'ip_dscp':
    case 'ip_ecn':
    case 'ip_proto':
      return isIp(f);
    case 'ipv4_src':
    case 'ipv4_dst':
      return v4(f);
    case 'ipv6_src':
    case 'ipv6_dst':
    case 'ipv6_flabel':
      return v6(f);
    case 'tcp_src':
    case 'tcp_dst':
      return l4(IPPROTO.TCP)(f);
    case 'udp_src':
    case 'udp_dst':
      return l4(IPPROTO.UDP)(f);
    case 'sctp_src':
    case 'sctp_dst':
      return l4(IPPROTO.SCTP)(f);
    case 'icmpv4_type':
    case 'icmpv4_code':
      return v4(f) && proto(f) === IPPROTO.ICMP;
    case 'icmpv6_type':
    case 'icmpv6_code':
      return v6(f) && proto(f) === IPPROTO.ICMPV6;
    case 'ipv6_nd_target':
    case 'ipv6_nd_sll':
    case 'ipv6_nd_tll':
      return v6(f) && proto(f) === IPPROTO.ICMPV6;
    case 'arp_op':
    case 'arp_spa':
    case 'arp_tpa':
    case 'arp_sha':
    case 'arp_tha':
      return arp(f);
    case 'mpls_label':
    case 'mpls_tc':
    case 'mpls_bos':
      return isMpls(ethType(f));
    case 'pbb_isid':
      return ethType(f) === ETH_TYPE.PBB;
    default:
      return true;
  }
}

/** The datapath meter behind an OpenFlow meter, and what of its counters was folded in. */
interface DpMeterBinding {
  /** The executor holding it. */
  readonly executor: PacketExecutor;
  /** Datapath meter id. */
  readonly dpId: number;
  /** Datapath counters already added to the OfMeter's. */
  seen: { packets: number; bytes: number; bands: { packets: number; bytes: number }[] };
}

/** Datapath meter ids in use, per executor (datapath): bridges sharing a datapath share it. */
const dpMeterIds = new WeakMap<PacketExecutor, Set<number>>();

function allocDpMeterId(ex: PacketExecutor): number {
  let used = dpMeterIds.get(ex);
  if (!used) dpMeterIds.set(ex, (used = new Set()));
  let id = 0;
  while (used.has(id)) id++;
  used.add(id);
  return id;
}

/** The datapath form of an OpenFlow meter's configuration. */
export function dpMeterConfig(m: OfMeter): DpMeterConfig {
  return {
    unit: (m.flags & OFPMF.PKTPS) !== 0 ? 'pktps' : 'kbps',
    burst: (m.flags & OFPMF.BURST) !== 0,
    bands: m.bands.map((b) => ({
      type: b.type === 'DROP' ? 'drop' : 'dscp_remark',
      rate: b.rate,
      burstSize: b.burstSize,
      precLevel: b.type === 'DSCP_REMARK' ? b.precLevel : 0,
    })),
  };
}

function zeroSeen(nBands: number): DpMeterBinding['seen'] {
  return {
    packets: 0,
    bytes: 0,
    bands: Array.from({ length: nBands }, () => ({ packets: 0, bytes: 0 })),
  };
}

/**
 * The `set` that does what a dscp_remark band raising the drop precedence by `levels` does to
 * `frame` after `before` ran on it; undefined for a non-IP packet (a remark leaves it alone).
 */
function remarkAction(
  frame: Uint8Array,
  before: readonly DpAction[],
  levels: number,
): DpAction | undefined {
  const now = applyToFrame(
    frame,
    0xffffffff,
    before.filter((x) => x.type !== 'output'),
  );
  const k = newFlowKey();
  extractFlowKey(now, 0, now.length, 0, k);
  const et = k[W.ETH_TYPE]! & 0xffff;
  if (et !== ETH_TYPE.IP && et !== ETH_TYPE.IPV6) return undefined;
  const dscp = raiseDropPrecedence((k[W.NW]! >>> 10) & 0x3f, levels);
  return setAction(et === ETH_TYPE.IP ? 'ipv4_tos' : 'ipv6_tclass', dscp << 2, 0xfc);
}

/** Packet-ins → the length of the action list when each was produced (its position). */
const pinOutPos = new WeakMap<PacketInRequest, number>();

const execPool = new PacketPool(0);
const execCtx: ExecContext = {
  output: (_port, pkt) => execPool.release(pkt),
  userspace: () => undefined,
  recirc: () => undefined,
  clone: (p) => execPool.clone(p),
  release: (p) => execPool.release(p),
};

/** `frame` with the datapath actions applied (outputs and packet-ins discarded). */
export function applyToFrame(
  frame: Uint8Array,
  inPort: number,
  actions: readonly DpAction[],
): Uint8Array {
  if (actions.length === 0) return frame.slice();
  const p = execPool.get();
  p.load(frame, 0, frame.length);
  p.inPort = inPort;
  p.parse();
  executeActions(execCtx, p, actions, lastModifying(actions));
  const out = p.bytes();
  execPool.release(p);
  return out;
}

/** Action-set slot order (OpenFlow 1.3 §5.10). */
function actionSetSlot(a: Action): [number, string] {
  switch (a.type) {
    case 'COPY_TTL_IN':
      return [0, a.type];
    case 'POP_VLAN':
    case 'POP_MPLS':
    case 'POP_PBB':
      return [1, a.type];
    case 'PUSH_MPLS':
      return [2, a.type];
    case 'PUSH_PBB':
      return [3, a.type];
    case 'PUSH_VLAN':
      return [4, a.type];
    case 'COPY_TTL_OUT':
      return [5, a.type];
    case 'DEC_MPLS_TTL':
    case 'DEC_NW_TTL':
      return [6, a.type];
    case 'SET_MPLS_TTL':
    case 'SET_NW_TTL':
      return [7, a.type];
    case 'SET_FIELD':
      return [7, `SET_FIELD:${a.field}`];
    case 'SET_QUEUE':
      return [8, a.type];
    case 'GROUP':
      return [9, a.type];
    case 'OUTPUT':
      return [10, a.type];
    case 'EXPERIMENTER':
      return [11, a.type];
  }
}

/** Instructions in the order OpenFlow 1.3 runs them (GOTO_TABLE last, apart). */
const INSTRUCTION_ORDER = [
  'METER',
  'APPLY_ACTIONS',
  'CLEAR_ACTIONS',
  'WRITE_ACTIONS',
  'WRITE_METADATA',
] as const satisfies readonly Instruction['type'][];

/** The last instruction of type `t` in `list` (a later duplicate wins, as it always has). */
function lastInstruction(
  list: readonly Instruction[],
  t: Instruction['type'],
): Instruction | undefined {
  for (let i = list.length - 1; i >= 0; i--) if (list[i]!.type === t) return list[i];
  return undefined;
}

class TooDeep extends Error {}
class StopPipeline extends Error {}

/** An entry of the action set. */
type ActionSetEntry = { order: number; seq: number; action: Action };

/**
 * Scratch flow keys for {@link Ctx.base} and {@link Ctx.dirty}, which never leave a translation:
 * a stack, since translations can nest (a packet-out or a protocol's frame can reach the
 * datapath, whose misses are translated before the outer translation ends).
 */
const scratchKeys: FlowKey[] = [];
let scratchDepth = 0;

/** Keys per slab of {@link slabKey}. */
const SLAB_KEYS = 96;
let slab = new Uint32Array(0);
let slabUsed = SLAB_KEYS;

/**
 * A zeroed flow key carved out of a shared slab: a view, far cheaper to make than a key of its
 * own (whose backing store the allocator and the GC handle one by one). For the keys a
 * translation returns (`finalFlow`, `mask`), which callers copy or drop; one that is kept pins
 * its slab (16 KiB), so nothing kept by the thousand may come from here.
 */
function slabKey(): FlowKey {
  if (slabUsed === SLAB_KEYS) {
    slab = new Uint32Array(SLAB_KEYS * FLOW_KEY_WORDS);
    slabUsed = 0;
  }
  const off = slabUsed++ * FLOW_KEY_WORDS;
  return slab.subarray(off, off + FLOW_KEY_WORDS);
}

/** Shared (frozen) one-output action lists by datapath port, see {@link sharedActions}. */
const singleOutputs = new Map<number, DpAction[]>();

/**
 * `out`, or an equal shared list when it is a single output (most megaflows: each installed
 * flow then keeps no list of its own). The shared lists are frozen; results' action lists are
 * never changed by their users.
 */
function sharedActions(out: DpAction[]): DpAction[] {
  if (out.length !== 1) return out;
  const a = out[0]!;
  if (a.type !== 'output') return out;
  let l = singleOutputs.get(a.port);
  if (l === undefined) {
    if (singleOutputs.size >= 1024) return out;
    l = Object.freeze([Object.freeze({ type: 'output', port: a.port })]) as DpAction[];
    singleOutputs.set(a.port, l);
  }
  return l;
}

/** The translation state of one packet (release its scratch keys with {@link Ctx.done}). */
class Ctx {
  /** The flow as the actions so far changed it (becomes the result's `finalFlow`). */
  readonly flow: FlowKey;
  /** What the datapath packet looks like after the actions emitted so far. */
  readonly base: FlowKey;
  /** Bits written by actions and not yet committed. */
  readonly dirty: FlowKey;
  /** The megaflow mask (becomes the result's `mask`). */
  readonly wc = slabKey();
  readonly out: DpAction[] = [];
  readonly rules: OfRule[] = [];
  readonly groups: GroupHit[] = [];
  readonly packetIns: PacketInRequest[] = [];
  /** True when trace events are wanted (events are built only then). */
  readonly tracing: boolean;
  private slowSet: Set<string> | undefined;
  private actionSetMap: Map<string, ActionSetEntry> | undefined;
  private seq = 0;
  depth = 0;
  resubmits = 0;
  usedNormal = false;
  rule: OfRule | undefined;
  tableId = 0;
  queue: number | undefined;
  /** The input port of the bridge being walked (the peer patch port after a patch output). */
  inPort: number;
  /**
   * False when the input port's STP state neither learns nor forwards (OVS's may_receive):
   * table 0 is looked up (and shown in traces) but no action runs.
   */
  mayReceive = true;

  constructor(
    readonly x: Xlate,
    readonly input: XlateInput,
    readonly side: boolean,
    readonly packetOut: boolean,
  ) {
    this.flow = slabKey();
    this.flow.set(input.key);
    const d = scratchDepth;
    scratchDepth += 2;
    if (scratchKeys.length < scratchDepth) scratchKeys.push(newFlowKey(), newFlowKey());
    this.base = scratchKeys[d]!;
    this.base.set(input.key);
    this.dirty = scratchKeys[d + 1]!;
    this.dirty.fill(0);
    this.tracing = input.trace !== undefined;
    this.inPort = input.key[W.IN_PORT]!;
    // xlate_wc_init: in_port, recirc_id, eth_type always; ip_frag for IP.
    const wc = this.wc;
    wc[W.IN_PORT] = 0xffffffff;
    wc[W.RECIRC_ID] = 0xffffffff;
    wc[W.ETH_TYPE] = 0xffff;
    if (isIp(this.flow)) wc[W.NW] = (wc[W.NW]! | (3 << 24)) >>> 0;
  }

  /** Gives the scratch keys back (the last thing a translation does with this context). */
  done(): void {
    scratchDepth -= 2;
  }

  /** Reasons the flow must stay on the slow path (created on first use). */
  get slow(): Set<string> {
    return (this.slowSet ??= new Set<string>());
  }

  /** The slow-path reasons as a list (empty without any). */
  slowList(): string[] {
    return this.slowSet === undefined ? [] : [...this.slowSet];
  }

  /** The action set (created on first use). */
  get actionSet(): Map<string, ActionSetEntry> {
    return (this.actionSetMap ??= new Map<string, ActionSetEntry>());
  }

  set actionSet(m: Map<string, ActionSetEntry>) {
    this.actionSetMap = m;
  }

  /** The action set if one was ever made (without creating it). */
  actionSetIfAny(): Map<string, ActionSetEntry> | undefined {
    return this.actionSetMap;
  }

  trace(e: TraceEvent): void {
    this.input.trace?.(e);
  }

  note(text: string, depth = this.depth): void {
    this.input.trace?.({ kind: 'note', depth, text });
  }

  addToActionSet(a: Action): void {
    const [order, key] = actionSetSlot(a);
    this.actionSet.set(key, { order, seq: this.seq++, action: a });
  }

  // ------------------------------------------------------------ commit

  /** Emits the pending field changes as datapath actions. */
  commit(): void {
    const { flow, base, dirty, wc } = this;
    for (const c of COMMIT_FIELDS) {
      const n = c.words === 2 ? 2 : c.words;
      // Nothing to do unless some bit of the field is dirty and differs from the packet's.
      let differs = false;
      for (let i = 0; i < n; i++) {
        const w = c.word + i;
        if (((flow[w]! ^ base[w]!) & dirty[w]!) !== 0) differs = true;
      }
      if (!differs || !c.when(flow)) continue;
      differs = false;
      const val: number[] = [];
      for (let i = 0; i < n; i++) {
        const w = c.word + i;
        const fm = c.words === 2 && i === 0 ? 0xffff : c.words === 1 ? lowMask(c.bits) : 0xffffffff;
        const sh = c.words === 1 ? c.shift : 0;
        const d = ((dirty[w]! >>> sh) & fm) >>> 0;
        const fv = ((flow[w]! >>> sh) & fm) >>> 0;
        const bv = ((base[w]! >>> sh) & fm) >>> 0;
        if (((fv ^ bv) & d) !== 0) differs = true;
        val.push(fv);
      }
      if (!differs) continue;
      // The whole field is written (and so un-wildcarded): simpler datapath actions, and a
      // megaflow at most narrower than needed.
      this.out.push(setAction(c.ir, val));
      for (let i = 0; i < n; i++) {
        const w = c.word + i;
        const sh = c.words === 1 ? c.shift : 0;
        const fm = c.words === 2 && i === 0 ? 0xffff : c.words === 1 ? lowMask(c.bits) : 0xffffffff;
        const m = (fm << sh) >>> 0;
        base[w] = ((base[w]! & ~m) | (flow[w]! & m)) >>> 0;
        dirty[w] = (dirty[w]! & ~m) >>> 0;
        wc[w] = (wc[w]! | m) >>> 0;
      }
    }
    this.commitVlan();
    // Whatever is left dirty (fields the datapath cannot set, or unchanged ones) is now "base".
    for (let i = 0; i < FLOW_KEY_WORDS; i++) {
      const m = dirty[i]!;
      if (m === 0 || i === W.VLAN0 || i === W.VLAN1) continue;
      base[i] = ((base[i]! & ~m) | (flow[i]! & m)) >>> 0;
      dirty[i] = 0;
    }
  }

  private commitVlan(): void {
    const { flow, base } = this;
    // Same tags (both words equal): nothing to push or pop, nothing consulted.
    if (flow[W.VLAN0] === base[W.VLAN0] && flow[W.VLAN1] === base[W.VLAN1]) return;
    const tags = (k: FlowKey): number[] => {
      const t: number[] = [];
      for (const w of [W.VLAN0, W.VLAN1]) {
        if ((k[w]! & VLAN_CFI) === 0) break;
        t.push(k[w]! >>> 0);
      }
      return t;
    };
    const bt = tags(base);
    const ft = tags(flow);
    let common = 0;
    while (
      common < bt.length &&
      common < ft.length &&
      (bt[bt.length - 1 - common]! & 0xffff) === (ft[ft.length - 1 - common]! & 0xffff)
    )
      common++;
    if (bt.length === common && ft.length === common) return;
    for (let i = 0; i < bt.length - common; i++) this.out.push({ type: 'pop_vlan' });
    for (let i = ft.length - common - 1; i >= 0; i--) {
      const t = ft[i]!;
      const tpid = t >>> 16 || ETH_TYPE.VLAN;
      this.out.push({ type: 'push_vlan', tpid, tci: t & 0xffff & ~VLAN_CFI });
    }
    base[W.VLAN0] = flow[W.VLAN0]!;
    base[W.VLAN1] = flow[W.VLAN1]!;
    this.dirty[W.VLAN0] = this.dirty[W.VLAN1] = 0;
    // As OVS's commit_vlan_action: every popped tag is matched whole (TPID and TCI); a push
    // consults nothing.
    for (let i = 0; i < bt.length - common; i++) this.wc[W.VLAN0 + i] = 0xffffffff;
  }

  /** Writes bits of the flow and marks them dirty (value and mask over whole words). */
  write(word: number, value: number, mask: number): void {
    this.flow[word] = ((this.flow[word]! & ~mask) | (value & mask)) >>> 0;
    this.dirty[word] = (this.dirty[word]! | mask) >>> 0;
  }
}

/** The translator of one bridge. */
export class Xlate {
  /** The bridge. */
  readonly ofproto: Ofproto;
  /** The MAC table NORMAL uses. */
  readonly mac: MacTable;
  /** Fail mode. */
  failMode: FailMode;
  /** Packet-in limiter. */
  readonly pinsched: Pinsched<Ofconn>;
  /** Packet-out executor. */
  executor: PacketExecutor | undefined;
  /**
   * Protocols that take their frames before the tables (in order); the bridge reconciler fills
   * this list. Consulted only for packets that arrive on a port (not packet-out).
   */
  readonly protocols: SlowPathProtocol[] = [];
  /**
   * The bridge's bonds (set by the bridge's bond module): NORMAL treats each bond as one port,
   * learning on it and sending to one member.
   */
  bonds: NormalBonds | undefined;
  /** Bridge other_config:forward-bpdu (NORMAL forwards reserved-MAC frames when true). */
  forwardBpdu = false;
  /** Bridge.flood_vlans (NORMAL neither learns nor looks up MACs on these VLANs). */
  floodVlans: ReadonlySet<number> = new Set();
  private readonly clock: Clock;
  /** {@link portByDp}'s memory. */
  private readonly byDp = new Map<number, OfPort>();
  /** Scratch input key of {@link translateUpcall} (read only by the Ctx constructor). */
  private readonly upcallKey = newFlowKey();
  private readonly dpMeters = new WeakMap<OfMeter, DpMeterBinding>();

  constructor(opts: XlateOptions) {
    this.ofproto = opts.ofproto;
    this.clock = opts.clock;
    this.mac = opts.mac ?? new MacTable({ clock: opts.clock });
    this.failMode = opts.failMode ?? 'standalone';
    this.pinsched = opts.pinsched ?? new Pinsched<Ofconn>({ clock: opts.clock });
    this.executor = opts.executor;
  }

  /** The pipeline. */
  get pipeline(): OpenFlowPipeline {
    return this.ofproto.tables;
  }

  /**
   * Plugs packet-out and the datapath meters into the bridge's pipeline hooks, and programs the
   * meters that already exist.
   */
  attach(): void {
    this.ofproto.setPipelineHooks({
      packetOut: (conn, msg) => this.packetOut(conn, msg),
      meterChanged: (op, m) => this.meterChanged(op, m),
      meterSync: (m) => this.meterSync(m),
    });
    for (const m of this.pipeline.allMeters()) this.dpMeter(m);
  }

  /** True when table 0 falls back to NORMAL (standalone and no controller connected). */
  failOpen(): boolean {
    if (this.failMode !== 'standalone') return false;
    return !this.ofproto.connmgr
      .connections()
      .some((c) => c.type === 'primary' && c.state === 'active');
  }

  /** Translates one flow. */
  translate(input: XlateInput): XlateResult {
    cXlate.inc();
    const side = input.sideEffects ?? true;
    const ctx = new Ctx(this, input, side, input.actions !== undefined);
    try {
      return this.translateIn(ctx, input);
    } finally {
      ctx.done();
    }
  }

  private translateIn(ctx: Ctx, input: XlateInput): XlateResult {
    let dropReason: string | undefined;
    try {
      if (input.actions) {
        ctx.tableId = 0;
        this.doActions(ctx, input.actions);
      } else if (!this.consumedByProtocol(ctx, input)) {
        const inP = this.ofproto.getPort(ctx.inPort);
        ctx.mayReceive = inP === undefined || stpLearn(inP);
        this.walkTable(ctx, 0);
        // OVS: NORMAL and learn actions have seen the packet; a port that does not forward
        // drops it (actions and packet-ins cancelled, nothing said in the trace).
        if (inP && !stpForward(inP)) {
          ctx.out.length = 0;
          ctx.packetIns.length = 0;
        }
      }
    } catch (e) {
      if (e instanceof TooDeep) {
        cTooDeep.inc();
        ctx.note(`>>>> over max translation depth ${MAX_DEPTH} <<<<`);
        ctx.out.length = 0;
        ctx.packetIns.length = 0;
        dropReason = 'too deep';
      } else if (!(e instanceof StopPipeline)) {
        throw e;
      }
    }
    if (ctx.side && input.frame && ctx.packetIns.length > 0) {
      if (this.preMeter(ctx, input.frame)) dropReason = 'meter';
    }
    // OpenFlow metadata is no datapath field (it is 0 whenever a packet enters): as in OVS, the
    // megaflow never matches on it.
    ctx.wc[W.METADATA] = ctx.wc[W.METADATA + 1] = 0;
    vlanWcFinish(input.key, ctx.wc);
    const r: XlateResult = {
      actions: sharedActions(ctx.out),
      mask: ctx.wc,
      rules: ctx.rules,
      groups: ctx.groups,
      packetIns: ctx.packetIns,
      slow: ctx.slowList(),
      usedNormal: ctx.usedNormal,
      finalFlow: ctx.flow,
    };
    if (dropReason !== undefined) r.dropReason = dropReason;
    return r;
  }

  /**
   * Offers the flow to the bridge's slow-path protocols; true when one took it (no actions, the
   * flow stays on the slow path, the trace says which protocol consumed it).
   */
  private consumedByProtocol(ctx: Ctx, input: XlateInput): boolean {
    if (this.protocols.length === 0) return false;
    const port = this.ofproto.getPort(ctx.inPort);
    if (!port) return false;
    const frame = ctx.side ? input.frame : undefined;
    for (const sp of this.protocols) {
      let taken: boolean;
      try {
        taken = sp.consume(port, ctx.flow, ctx.wc, frame);
      } catch (e) {
        log.error({ protocol: sp.name, err: (e as Error).message }, 'slow-path protocol failed');
        taken = true;
      }
      if (taken) {
        ctx.note(`>> ${sp.name} packet consumed`);
        ctx.slow.add(sp.name.toLowerCase());
        return true;
      }
    }
    return false;
  }

  /** Credits a translation's rules and groups with `packets`/`bytes` (datapath statistics). */
  credit(r: Pick<XlateResult, 'rules' | 'groups'>, packets: number, bytes: number): void {
    for (const rule of r.rules) this.pipeline.credit(rule, packets, bytes);
    for (const g of r.groups) {
      g.group.packetCount += BigInt(packets);
      g.group.byteCount += BigInt(bytes);
      for (const i of g.buckets) {
        const b = g.group.bucketCounts[i];
        if (b) {
          b.packetCount += BigInt(packets);
          b.byteCount += BigInt(bytes);
        }
      }
    }
  }

  // ---------------------------------------------------------------- tables

  private enter(ctx: Ctx): void {
    if (++ctx.resubmits > MAX_RESUBMITS || ctx.depth + 1 > MAX_DEPTH) throw new TooDeep();
    ctx.depth++;
  }

  private walkTable(ctx: Ctx, tableId: number): void {
    this.enter(ctx);
    try {
      ctx.tableId = tableId;
      const rule = this.pipeline.lookup(tableId, ctx.flow, ctx.wc);
      if (!rule) {
        const failOpen = tableId === 0 && !ctx.packetOut && this.failOpen();
        ctx.trace({ kind: 'miss', depth: ctx.depth - 1, tableId, failOpen });
        try {
          if (failOpen && ctx.mayReceive) {
            ctx.rule = undefined;
            // OVS's fail-open flow is a hidden `priority=0,actions=NORMAL`: its action prints.
            const normal: Action = { type: 'OUTPUT', port: OFPP.NORMAL, maxLen: 0 };
            ctx.trace({ kind: 'action', depth: ctx.depth, action: normal });
            this.output(ctx, OFPP.NORMAL, 0);
          }
        } finally {
          ctx.trace({ kind: 'end', depth: ctx.depth - 1 });
        }
        this.runActionSet(ctx);
        return;
      }
      ctx.rules.push(rule);
      ctx.rule = rule;
      if (ctx.tracing) ctx.trace({ kind: 'rule', depth: ctx.depth - 1, tableId, rule });
      if (!ctx.mayReceive) {
        if (ctx.tracing) ctx.trace({ kind: 'end', depth: ctx.depth - 1 });
        return;
      }
      let next: number | undefined;
      try {
        const ins = rule.instructions;
        if (ins.length === 1 && ins[0]!.type === 'APPLY_ACTIONS') {
          // The common case, without looking for the others.
          this.instruction(ctx, ins[0]!);
        } else {
          for (const t of INSTRUCTION_ORDER) {
            const i = lastInstruction(ins, t);
            if (i) this.instruction(ctx, i);
          }
        }
        const g = lastInstruction(ins, 'GOTO_TABLE');
        if (g && g.type === 'GOTO_TABLE') {
          ctx.trace({ kind: 'instruction', depth: ctx.depth, instruction: g });
          if (g.tableId > tableId) {
            next = g.tableId;
            ctx.depth--;
            try {
              this.walkTable(ctx, g.tableId);
            } finally {
              ctx.depth++;
            }
          }
        }
      } finally {
        if (ctx.tracing) ctx.trace({ kind: 'end', depth: ctx.depth - 1 });
      }
      if (next === undefined) this.runActionSet(ctx);
    } finally {
      ctx.depth--;
    }
  }

  private instruction(ctx: Ctx, i: Instruction): void {
    switch (i.type) {
      case 'METER':
        ctx.trace({ kind: 'instruction', depth: ctx.depth, instruction: i });
        this.meter(ctx, i.meterId);
        return;
      case 'APPLY_ACTIONS':
        this.doActions(ctx, i.actions);
        return;
      case 'CLEAR_ACTIONS':
        ctx.trace({ kind: 'instruction', depth: ctx.depth, instruction: i });
        ctx.actionSet.clear();
        return;
      case 'WRITE_ACTIONS':
        ctx.trace({ kind: 'instruction', depth: ctx.depth, instruction: i });
        for (const a of i.actions) ctx.addToActionSet(a);
        ctx.trace({
          kind: 'actionSetIs',
          depth: ctx.depth,
          actions: [...ctx.actionSet.values()]
            .sort((a, b) => a.order - b.order || a.seq - b.seq)
            .map((e) => e.action),
        });
        return;
      case 'WRITE_METADATA': {
        ctx.trace({ kind: 'instruction', depth: ctx.depth, instruction: i });
        const d = fieldDesc('metadata');
        const cur = (BigInt(ctx.flow[W.METADATA]!) << 32n) | BigInt(ctx.flow[W.METADATA + 1]!);
        const v = (cur & ~i.metadataMask) | (i.metadata & i.metadataMask);
        setFieldBig(ctx.flow, d, v);
        return;
      }
      case 'GOTO_TABLE':
        return;
      case 'EXPERIMENTER':
        ctx.note('>> unsupported experimenter instruction, ignored');
        return;
    }
  }

  /** Runs the action set (at the end of the pipeline) and clears it. */
  private runActionSet(ctx: Ctx): void {
    const set = ctx.actionSetIfAny();
    if (set === undefined || set.size === 0) return;
    const list = [...set.values()].sort((a, b) => a.order - b.order || a.seq - b.seq);
    ctx.actionSet = new Map();
    const hasGroup = list.some((e) => e.action.type === 'GROUP');
    const actions = list.map((e) => e.action).filter((a) => !(hasGroup && a.type === 'OUTPUT'));
    ctx.trace({ kind: 'actionSet', depth: 0 });
    try {
      this.doActions(ctx, actions);
    } finally {
      ctx.trace({ kind: 'end', depth: 0 });
    }
  }

  // ---------------------------------------------------------------- meters

  private meter(ctx: Ctx, meterId: number): void {
    const m = this.pipeline.getMeter(meterId);
    if (!m) return;
    const b = this.dpMeter(m);
    if (!b) {
      ctx.note(`>> meter ${meterId} has no datapath meter, not enforced`);
      return;
    }
    // As OVS, the meter goes out before field changes still pending from earlier tables (they
    // are committed by whatever emits the packet next) — except that a dscp_remark band must
    // act on the DSCP as the pipeline has it now, so those changes go first for such a meter.
    if (m.bands.some((band) => band.type === 'DSCP_REMARK')) ctx.commit();
    ctx.out.push({ type: 'meter', meterId: b.dpId });
  }

  /** The datapath meter of `m`, programmed on first use; undefined when there is none. */
  private dpMeter(m: OfMeter): DpMeterBinding | undefined {
    const cur = this.dpMeters.get(m);
    if (cur) return cur;
    const ex = this.executor;
    if (!ex?.meterSet) return undefined;
    const dpId = allocDpMeterId(ex);
    try {
      ex.meterSet(dpId, dpMeterConfig(m));
    } catch (e) {
      dpMeterIds.get(ex)?.delete(dpId);
      log.error({ meter: m.meterId, err: (e as Error).message }, 'datapath refused the meter');
      return undefined;
    }
    const b: DpMeterBinding = { executor: ex, dpId, seen: zeroSeen(m.bands.length) };
    this.dpMeters.set(m, b);
    return b;
  }

  /** Pipeline hook: a meter was added, modified or deleted (committed). */
  private meterChanged(op: MeterChangeOp, m: OfMeter): void {
    switch (op) {
      case 'add':
        this.dpMeter(m);
        return;
      case 'modify': {
        const b = this.dpMeters.get(m);
        if (!b) {
          this.dpMeter(m);
          return;
        }
        try {
          b.executor.meterSet?.(b.dpId, dpMeterConfig(m));
          b.seen = zeroSeen(m.bands.length);
        } catch (e) {
          log.error({ meter: m.meterId, err: (e as Error).message }, 'datapath refused the meter');
          this.releaseDpMeter(m, b);
        }
        return;
      }
      case 'delete': {
        const b = this.dpMeters.get(m);
        if (b) this.releaseDpMeter(m, b);
        return;
      }
    }
  }

  /**
   * Deletes the datapath meters of every meter of this bridge and frees their ids (for when
   * the bridge goes away while the datapath stays); their counters are folded in first.
   */
  releaseMeters(): void {
    for (const m of this.pipeline.allMeters()) {
      const b = this.dpMeters.get(m);
      if (!b) continue;
      this.meterSync(m);
      this.releaseDpMeter(m, b);
    }
  }

  private releaseDpMeter(m: OfMeter, b: DpMeterBinding): void {
    b.executor.meterDel?.(b.dpId);
    dpMeterIds.get(b.executor)?.delete(b.dpId);
    this.dpMeters.delete(m);
  }

  /** Pipeline hook: adds what the datapath counted since the last call to `m`'s counters. */
  private meterSync(m: OfMeter): void {
    const b = this.dpMeters.get(m);
    const st = b?.executor.meterStats?.(b.dpId);
    if (!b || !st) return;
    const seen = b.seen;
    m.packetInCount += BigInt(Math.max(0, st.packets - seen.packets));
    m.byteInCount += BigInt(Math.max(0, st.bytes - seen.bytes));
    st.bands.forEach((sb, i) => {
      const c = m.bandCounts[i];
      const s0 = seen.bands[i];
      if (!c || !s0) return;
      c.packetBandCount += BigInt(Math.max(0, sb.packets - s0.packets));
      c.byteBandCount += BigInt(Math.max(0, sb.bytes - s0.bytes));
    });
    b.seen = {
      packets: st.packets,
      bytes: st.bytes,
      bands: st.bands.map((x) => ({ packets: x.packets, bytes: x.bytes })),
    };
  }

  /**
   * Packet-ins are built during translation, so the meters that precede them in the action list
   * run now, on the datapath meter, for this packet (`frame`): each such `meter` action is taken
   * out of the list (it has run); when one drops, the packet-ins after it are cancelled and the
   * list ends there; when a dscp_remark band applies, the meter action becomes the equivalent
   * `set` of the DSCP and the later packet-ins' frames are rebuilt with it. Meters after the
   * last packet-in stay for the datapath. Returns true on a drop.
   */
  private preMeter(ctx: Ctx, frame: Uint8Array): boolean {
    const ex = this.executor;
    if (!ex?.meterRun) return false;
    let last = -1;
    for (const pi of ctx.packetIns) last = Math.max(last, pinOutPos.get(pi) ?? -1);
    let dropped = false;
    let remarked = false;
    let i = 0;
    while (i < ctx.out.length && i < last) {
      const a = ctx.out[i]!;
      if (a.type !== 'meter') {
        i++;
        continue;
      }
      const v = ex.meterRun(a.meterId, frame.length);
      if (v < 0) {
        cMeterDrop.inc();
        ctx.out.length = i;
        const keep = ctx.packetIns.filter((pi) => (pinOutPos.get(pi) ?? 0) <= i);
        ctx.packetIns.length = 0;
        ctx.packetIns.push(...keep);
        dropped = true;
        break;
      }
      const remark = v > 0 ? remarkAction(frame, ctx.out.slice(0, i), v) : undefined;
      if (remark) {
        ctx.out[i++] = remark;
        remarked = true;
        continue;
      }
      ctx.out.splice(i, 1);
      last--;
      for (const pi of ctx.packetIns) {
        const pos = pinOutPos.get(pi);
        if (pos !== undefined && pos > i) pinOutPos.set(pi, pos - 1);
      }
    }
    if (remarked) {
      for (const pi of ctx.packetIns) {
        const pos = pinOutPos.get(pi) ?? 0;
        const before = ctx.out.slice(0, pos - 1).filter((x) => x.type !== 'output');
        pi.frame = applyToFrame(frame, 0xffffffff, before);
      }
    }
    return dropped;
  }

  // ---------------------------------------------------------------- actions

  private doActions(ctx: Ctx, actions: readonly Action[]): void {
    for (const a of actions) {
      if (ctx.tracing) ctx.trace({ kind: 'action', depth: ctx.depth, action: a });
      this.action(ctx, a);
    }
  }

  private action(ctx: Ctx, a: Action): void {
    const { flow, wc } = ctx;
    switch (a.type) {
      case 'OUTPUT':
        this.output(ctx, a.port, a.maxLen);
        return;
      case 'GROUP':
        this.group(ctx, a.groupId);
        return;
      case 'SET_FIELD':
        this.setField(ctx, a.field, a.value);
        return;
      case 'PUSH_VLAN': {
        // The new tag copies VID and PCP from the current outer tag (0 if none).
        const cur = flow[W.VLAN0]!;
        wc[W.VLAN0] = (wc[W.VLAN0]! | 0xffff) >>> 0;
        const tci = (cur & VLAN_CFI) !== 0 ? cur & 0xefff : 0;
        ctx.write(W.VLAN1, cur, 0xffffffff);
        ctx.write(W.VLAN0, ((a.ethertype << 16) | VLAN_CFI | tci) >>> 0, 0xffffffff);
        return;
      }
      case 'POP_VLAN':
        wc[W.VLAN0] = (wc[W.VLAN0]! | VLAN_CFI) >>> 0;
        if ((flow[W.VLAN0]! & VLAN_CFI) === 0) return;
        ctx.write(W.VLAN0, flow[W.VLAN1]!, 0xffffffff);
        ctx.write(W.VLAN1, 0, 0xffffffff);
        return;
      case 'PUSH_MPLS': {
        ctx.commit();
        const et = ethType(flow);
        let lse: number;
        if (isMpls(et)) {
          wc[W.MPLS0] = 0xffffffff;
          lse = flow[W.MPLS0]! & ~0x100;
        } else {
          const ttl = isIp(flow) ? (flow[W.NW]! >>> 16) & 0xff : 64;
          const tc = isIp(flow) ? (flow[W.NW]! >>> 13) & 7 : 0;
          if (isIp(flow)) wc[W.NW] = (wc[W.NW]! | 0x00ffe000) >>> 0;
          lse = (tc << 9) | 0x100 | ttl;
        }
        lse >>>= 0;
        flow[W.MPLS2] = flow[W.MPLS1]!;
        flow[W.MPLS1] = flow[W.MPLS0]!;
        flow[W.MPLS0] = lse;
        flow[W.ETH_TYPE] = a.ethertype;
        ctx.out.push({ type: 'push_mpls', ethertype: a.ethertype, lse });
        ctx.base.set(flow);
        return;
      }
      case 'POP_MPLS': {
        if (!isMpls(ethType(flow))) return;
        ctx.commit();
        wc[W.MPLS0] = 0xffffffff;
        flow[W.MPLS0] = flow[W.MPLS1]!;
        flow[W.MPLS1] = flow[W.MPLS2]!;
        flow[W.MPLS2] = 0;
        flow[W.ETH_TYPE] = a.ethertype;
        ctx.out.push({ type: 'pop_mpls', ethertype: a.ethertype });
        ctx.base.set(flow);
        return;
      }
      case 'SET_QUEUE':
        ctx.queue = a.queueId;
        ctx.note(`-> queue ${a.queueId} (the datapath has no queues: no effect)`);
        return;
      case 'SET_NW_TTL':
        if (!isIp(flow)) return;
        ctx.write(W.NW, a.ttl << 16, 0xff << 16);
        wc[W.NW] = (wc[W.NW]! | (0xff << 16)) >>> 0;
        return;
      case 'DEC_NW_TTL': {
        if (!isIp(flow)) return;
        wc[W.NW] = (wc[W.NW]! | (0xff << 16)) >>> 0;
        const ttl = (flow[W.NW]! >>> 16) & 0xff;
        if (ttl <= 1) {
          this.invalidTtl(ctx);
          return;
        }
        ctx.write(W.NW, (ttl - 1) << 16, 0xff << 16);
        return;
      }
      case 'SET_MPLS_TTL':
        if (!isMpls(ethType(flow))) return;
        ctx.write(W.MPLS0, a.ttl, 0xff);
        wc[W.MPLS0] = (wc[W.MPLS0]! | 0xff) >>> 0;
        return;
      case 'DEC_MPLS_TTL': {
        if (!isMpls(ethType(flow))) return;
        wc[W.MPLS0] = (wc[W.MPLS0]! | 0xff) >>> 0;
        const ttl = flow[W.MPLS0]! & 0xff;
        if (ttl <= 1) {
          this.invalidTtl(ctx);
          return;
        }
        ctx.write(W.MPLS0, ttl - 1, 0xff);
        return;
      }
      case 'COPY_TTL_OUT':
        // IP TTL → outermost MPLS TTL (the IP TTL stays known in the flow after a push).
        if (!isMpls(ethType(flow))) return;
        wc[W.NW] = (wc[W.NW]! | (0xff << 16)) >>> 0;
        ctx.write(W.MPLS0, (flow[W.NW]! >>> 16) & 0xff, 0xff);
        return;
      case 'COPY_TTL_IN':
        // Outermost MPLS TTL → IP TTL; takes effect once the MPLS header is popped.
        if (!isMpls(ethType(flow))) return;
        wc[W.MPLS0] = (wc[W.MPLS0]! | 0xff) >>> 0;
        flow[W.NW] = ((flow[W.NW]! & ~(0xff << 16)) | ((flow[W.MPLS0]! & 0xff) << 16)) >>> 0;
        return;
      case 'PUSH_PBB':
      case 'POP_PBB':
        ctx.note('>> PBB is not supported by the datapath, dropping');
        ctx.out.length = 0;
        throw new StopPipeline();
      case 'EXPERIMENTER':
        ctx.note('>> unsupported experimenter action, ignored');
        return;
    }
  }

  private invalidTtl(ctx: Ctx): void {
    const what = isMpls(ethType(ctx.flow)) ? 'MPLS' : v6(ctx.flow) ? 'IPv6' : 'IPv4';
    ctx.note(`>> ${what} decrement TTL exception`);
    this.controller(ctx, OFPR.INVALID_TTL, 0xffff);
    throw new StopPipeline();
  }

  private setField(ctx: Ctx, name: string, value: number | bigint): void {
    const { flow, wc } = ctx;
    // Prerequisite bits are consulted.
    wc[W.ETH_TYPE] = (wc[W.ETH_TYPE]! | 0xffff) >>> 0;
    if (isIp(flow)) wc[W.NW] = (wc[W.NW]! | 0xff) >>> 0;
    if (name === 'vlan_vid' || name === 'vlan_pcp') wc[W.VLAN0] = (wc[W.VLAN0]! | VLAN_CFI) >>> 0;
    if (!prereqOk(name, flow)) {
      ctx.note(`-> ${name} prerequisites not met, set_field ignored`);
      return;
    }
    const v = BigInt(value);
    if (name === 'vlan_vid') {
      const vid = Number(v & 0xfffn);
      ctx.write(W.VLAN0, vid, 0xfff);
      wc[W.VLAN0] = (wc[W.VLAN0]! | 0xfff) >>> 0;
      return;
    }
    if (name === 'vlan_pcp') {
      ctx.write(W.VLAN0, Number(v & 7n) << 13, 0xe000);
      wc[W.VLAN0] = (wc[W.VLAN0]! | 0xe000) >>> 0;
      return;
    }
    const d = fieldByName(name);
    if (!d) {
      ctx.note(`>> set_field ${name}: no such field, ignored`);
      return;
    }
    const tmpV = newFlowKey();
    const tmpM = newFlowKey();
    setFieldBig(tmpV, d, v);
    maskField(tmpM, d);
    for (let i = 0; i < FLOW_KEY_WORDS; i++) {
      const m = tmpM[i]!;
      if (m === 0) continue;
      ctx.write(i, tmpV[i]!, m);
      wc[i] = (wc[i]! | m) >>> 0;
    }
    if (!SETTABLE_IN_DATAPATH.has(d)) {
      // Metadata-like fields (tunnel_id, metadata) only affect later lookups; others we cannot
      // write to the packet are noted.
      if (name !== 'tunnel_id' && name !== 'metadata')
        ctx.note(`-> ${name} cannot be changed by the datapath: only later lookups see it`);
    }
  }

  // ---------------------------------------------------------------- outputs

  private portsInOrder(): OfPort[] {
    return this.ofproto.listPorts().sort((a, b) => dpPortOf(a) - dpPortOf(b));
  }

  private output(ctx: Ctx, port: number, maxLen: number): void {
    switch (port) {
      case OFPP.IN_PORT:
        this.outputPort(ctx, ctx.inPort, true);
        return;
      case OFPP.TABLE:
        if (!ctx.packetOut) {
          ctx.note('>> output to TABLE is only valid in a packet-out, ignored');
          return;
        }
        {
          const saveRule = ctx.rule;
          const saveTable = ctx.tableId;
          this.walkTable(ctx, 0);
          ctx.rule = saveRule;
          ctx.tableId = saveTable;
        }
        return;
      case OFPP.NORMAL:
        this.normal(ctx);
        return;
      case OFPP.FLOOD:
      case OFPP.ALL:
        for (const p of this.portsInOrder()) {
          if (p.ofport === ctx.inPort) continue;
          if (port === OFPP.FLOOD && (p.noFlood || !stpForward(p))) continue;
          this.outputPort(ctx, p.ofport, false, true);
        }
        return;
      case OFPP.CONTROLLER:
        this.controller(ctx, this.isTableMiss(ctx.rule) ? OFPR.NO_MATCH : OFPR.ACTION, maxLen);
        return;
      case OFPP.ANY:
        ctx.note('>> output to ANY, ignored');
        return;
      default:
        this.outputPort(ctx, port, false);
    }
  }

  private isTableMiss(rule: OfRule | undefined): boolean {
    return rule !== undefined && rule.priority === 0 && rule.match.length === 0;
  }

  /** Outputs to an OpenFlow port with OVS's checks. */
  private outputPort(ctx: Ctx, ofport: number, viaInPort: boolean, quiet = false): void {
    if (ofport === ctx.inPort && !viaInPort) {
      if (!quiet) ctx.note('>> skipping output to input port');
      return;
    }
    const p = this.ofproto.getPort(ofport);
    if (!p) {
      if (!quiet) ctx.note('>> Nonexistent output port');
      return;
    }
    if ((p.config & OFPPC.NO_FWD) !== 0) {
      if (!quiet) ctx.note('-> OFPPC_NO_FWD set, skipping output');
      return;
    }
    if (!stpForward(p)) {
      if (!quiet) ctx.note('-> STP not in forwarding state, skipping output');
      return;
    }
    if (p.patchPeer) {
      this.patchOutput(ctx, p.patchPeer());
      return;
    }
    ctx.commit();
    ctx.out.push({ type: 'output', port: dpPortOf(p) });
  }

  /**
   * Output to a patch port (OVS's patch_port_output): the translation continues in the peer
   * bridge's table 0 with in_port = the peer port, the packet fields as they are, metadata and
   * tunnel_id cleared and an empty action set; the megaflow mask keeps accumulating and the
   * depth limit applies across bridges (going over it ends the walk of that peer only, as in
   * OVS, where a peer bridge's errors do not propagate back). Afterwards this bridge goes on with its own flow (the
   * next commit undoes the peer's changes to the packet). Without a peer the packet is dropped
   * silently, as in OVS.
   */
  private patchOutput(ctx: Ctx, peer: { xlate: Xlate; ofport: number } | undefined): void {
    const px = peer?.xlate;
    const peerPort = peer ? px?.ofproto.getPort(peer.ofport) : undefined;
    if (!peer || !px || !peerPort) return;
    const savedFlow = Uint32Array.from(ctx.flow);
    const savedDirty = Uint32Array.from(ctx.dirty);
    // The peer starts with metadata and tunnel_id zeroed whatever the packet: what its lookups
    // consult there says nothing about the packet, so those mask bits are put back afterwards.
    const zeroed = [W.METADATA, W.METADATA + 1, W.TUNNEL_ID, W.TUNNEL_ID + 1];
    const savedWc = zeroed.map((w) => ctx.wc[w]!);
    const { inPort, rule, tableId, mayReceive, queue } = ctx;
    const actionSet = ctx.actionSetIfAny();
    const outLen = ctx.out.length;
    const pinLen = ctx.packetIns.length;
    const flow = ctx.flow;
    flow[W.IN_PORT] = peer.ofport;
    flow[W.METADATA] = flow[W.METADATA + 1] = 0;
    flow[W.TUNNEL_ID] = flow[W.TUNNEL_ID + 1] = 0;
    ctx.inPort = peer.ofport;
    ctx.actionSet = new Map<string, ActionSetEntry>();
    ctx.rule = undefined;
    ctx.mayReceive = stpLearn(peerPort);
    ctx.trace({ kind: 'bridge', depth: ctx.depth, name: px.ofproto.name });
    try {
      px.walkTable(ctx, 0);
      // As at the input of a bridge: a learning-only peer port lets NORMAL learn, then drops.
      if (!stpForward(peerPort)) {
        ctx.out.length = outLen;
        ctx.packetIns.length = pinLen;
      }
    } catch (e) {
      // The peer bridge's own ending (stop, too deep) does not end this bridge's actions.
      if (e instanceof TooDeep) {
        // As OVS: the error stays in the peer bridge (its trace block shows it), not beyond.
        cTooDeep.inc();
        ctx.note(`>>>> over max translation depth ${MAX_DEPTH} <<<<`);
      } else if (!(e instanceof StopPipeline)) throw e;
    } finally {
      ctx.trace({ kind: 'end', depth: ctx.depth });
      for (let w = 0; w < FLOW_KEY_WORDS; w++) {
        // Whatever the peer changed, committed (base) or not (flow), is put back by a commit.
        const changed = (ctx.flow[w]! ^ savedFlow[w]!) | (ctx.base[w]! ^ savedFlow[w]!);
        ctx.dirty[w] = (ctx.dirty[w]! | changed | savedDirty[w]!) >>> 0;
      }
      ctx.flow.set(savedFlow);
      zeroed.forEach((w, i) => (ctx.wc[w] = savedWc[i]!));
      ctx.inPort = inPort;
      ctx.actionSet = actionSet ?? new Map<string, ActionSetEntry>();
      ctx.rule = rule;
      ctx.tableId = tableId;
      ctx.mayReceive = mayReceive;
      ctx.queue = queue;
    }
  }

  private normal(ctx: Ctx): void {
    ctx.usedNormal = true;
    const toNormal = (p: OfPort): NormalPort => {
      const np: { -readonly [K in keyof NormalPort]: NormalPort[K] } = {
        ofport: p.ofport,
        name: p.name,
        stpForward: stpForward(p),
        stpLearn: stpLearn(p),
      };
      if (p.vlan) np.vlan = p.vlan;
      if (p.noFlood) np.noFlood = true;
      return np;
    };
    const inP = this.ofproto.getPort(ctx.inPort);
    const depth = ctx.depth;
    // Bonds: each is one bundle (numbered by its lowest member) for learning and flooding.
    const bonds = this.bonds;
    const inBond = inP && bonds ? bonds.bondOf(inP.ofport) : undefined;
    const asBundle = (np: NormalPort, b: NormalBond): NormalPort => ({
      ...np,
      ofport: b.id,
      name: b.name,
    });
    const byId = new Map<number, NormalBond>();
    const ports = (): NormalPort[] => {
      const all = this.portsInOrder();
      if (!bonds) return all.map(toNormal);
      const out: NormalPort[] = [];
      for (const p of all) {
        const b = bonds.bondOf(p.ofport);
        if (!b) out.push(toNormal(p));
        else if (!byId.has(b.id)) {
          byId.set(b.id, b);
          out.push(asBundle(toNormal(p), b));
        }
      }
      return out;
    };
    // A learning-state input port goes through NORMAL as in OVS (learns, floods or forwards);
    // translate() then cancels the actions (OVS's forwarding-disabled rule).
    const inNp = inP ? { ...toNormal(inP), stpForward: true } : undefined;
    xlateNormal({
      flow: ctx.flow,
      wc: ctx.wc,
      inPort: inNp && inBond ? asBundle(inNp, inBond) : inNp,
      ports,
      mac: this.mac,
      learn: ctx.side,
      forwardBpdu: this.forwardBpdu,
      floodVlans: this.floodVlans,
      note: (text) => ctx.trace({ kind: 'note', depth, text }),
      ...(inBond && inP
        ? {
            admit: (vlan: number): string | undefined => {
              const v = inBond.admissibility(inP.ofport, macFromKey(ctx.flow, W.ETH_DST));
              if (v === 'accept') return undefined;
              if (v === 'drop') return 'bonding refused admissibility, dropping';
              const e = this.mac.lookup(macFromKey(ctx.flow, W.ETH_SRC), vlan);
              if (e && e.port !== inBond.id && !gratuitousArp(ctx.flow, ctx.wc))
                return 'SLB bond thinks this packet looped back, dropping';
              return undefined;
            },
          }
        : {}),
      output: (p0, vid) => {
        let p = p0;
        const ob = byId.get(p0.ofport);
        if (ob) {
          const bytes = ctx.side ? (ctx.input.frame?.length ?? 0) : 0;
          const m = ob.chooseOutput(macFromKey(ctx.flow, W.ETH_SRC), vid, bytes);
          if (m === undefined) return;
          p = { ...p0, ofport: m };
        }
        const save0 = ctx.flow[W.VLAN0]!;
        const save1 = ctx.flow[W.VLAN1]!;
        const cur = ctx.flow[W.VLAN0]!;
        const tagged = (cur & VLAN_CFI) !== 0;
        if (vid === 0 && tagged) {
          ctx.write(W.VLAN0, ctx.flow[W.VLAN1]!, 0xffffffff);
          ctx.write(W.VLAN1, 0, 0xffffffff);
        } else if (vid !== 0 && !tagged) {
          ctx.write(W.VLAN1, cur, 0xffffffff);
          ctx.write(W.VLAN0, ((ETH_TYPE.VLAN << 16) | VLAN_CFI | vid) >>> 0, 0xffffffff);
        } else if (vid !== 0) {
          ctx.write(W.VLAN0, VLAN_CFI | vid, 0x1fff);
        }
        this.outputPort(ctx, p.ofport, false, true);
        ctx.flow[W.VLAN0] = save0;
        ctx.flow[W.VLAN1] = save1;
      },
    });
  }

  private controller(ctx: Ctx, reason: number, maxLen: number): void {
    ctx.commit();
    const cookie = ctx.rule ? ctx.rule.cookie : NO_COOKIE;
    ctx.slow.add('controller');
    ctx.out.push({
      type: 'userspace',
      pid: 0,
      cookie: {
        kind: 'controller',
        reason,
        dontSend: 1,
        continuation: 0,
        recircId: 0,
        ruleCookie: cookie,
        controllerId: 0,
        maxLen,
      },
    });
    const inP = this.ofproto.getPort(ctx.inPort);
    if (inP && (inP.config & OFPPC.NO_PACKET_IN) !== 0) {
      ctx.note('-> OFPPC_NO_PACKET_IN set on the input port, no packet-in');
      return;
    }
    const frame = ctx.input.frame;
    if (!ctx.side || !frame) return;
    const dpIn = inP ? dpPortOf(inP) : 0xffffffff;
    const soFar = ctx.out.slice(0, -1).filter((x) => x.type !== 'output');
    cPacketIn.inc();
    const pin: PacketInRequest = {
      reason,
      tableId: ctx.packetOut && !ctx.rule ? 0 : ctx.tableId,
      cookie,
      maxLen,
      flow: Uint32Array.from(ctx.flow),
      frame: applyToFrame(frame, dpIn, soFar),
      xlate: this,
    };
    pinOutPos.set(pin, ctx.out.length);
    ctx.packetIns.push(pin);
  }

  // ---------------------------------------------------------------- groups

  private bucketLive(b: Bucket, depth = 0): boolean {
    if (depth > MAX_DEPTH) return false;
    if (b.watchPort !== OFPP.ANY && !portLive(this.ofproto.getPort(b.watchPort))) return false;
    if (b.watchGroup !== OFPG.ANY) {
      const g = this.pipeline.getGroup(b.watchGroup);
      if (!g || !g.buckets.some((x) => this.bucketLive(x, depth + 1))) return false;
    }
    return true;
  }

  private group(ctx: Ctx, groupId: number): void {
    const g = this.pipeline.getGroup(groupId);
    if (!g) {
      ctx.note(`>> group ${groupId} does not exist, dropping`);
      return;
    }
    this.enter(ctx);
    const hit: GroupHit = { group: g, buckets: [] };
    ctx.groups.push(hit);
    try {
      switch (g.groupType) {
        case OFPGT.ALL:
          g.buckets.forEach((_, i) => this.bucket(ctx, hit, i, true));
          return;
        case OFPGT.INDIRECT:
          if (g.buckets.length > 0) this.bucket(ctx, hit, 0, false);
          return;
        case OFPGT.FF: {
          const i = g.buckets.findIndex((b) => this.bucketLive(b));
          for (let k = 0; k < (i < 0 ? g.buckets.length : i); k++) {
            const b = g.buckets[k]!;
            const why =
              b.watchPort !== OFPP.ANY && !portLive(this.ofproto.getPort(b.watchPort))
                ? `port ${b.watchPort}`
                : `group ${b.watchGroup}`;
            ctx.note(`-> bucket ${k}: not live due to ${why}`, ctx.depth - 1);
          }
          if (i < 0) {
            ctx.note('-> no live bucket', ctx.depth - 1);
            return;
          }
          this.bucket(ctx, hit, i, false);
          return;
        }
        case OFPGT.SELECT: {
          const i = this.selectBucket(ctx, g);
          if (i < 0) {
            ctx.note('-> no live bucket', ctx.depth - 1);
            return;
          }
          ctx.note(`-> using bucket ${i}`, ctx.depth - 1);
          this.bucket(ctx, hit, i, false);
          return;
        }
        default:
          ctx.note(`>> group type ${g.groupType} unsupported`);
      }
    } finally {
      ctx.depth--;
    }
  }

  /** Select-group bucket: best weighted score of a hash of the L2–L4 addresses. */
  private selectBucket(ctx: Ctx, g: OfGroup): number {
    const { flow, wc } = ctx;
    const words = [
      W.ETH_SRC,
      W.ETH_SRC + 1,
      W.ETH_DST,
      W.ETH_DST + 1,
      W.ETH_TYPE,
      W.VLAN0,
      W.NW_SRC,
      W.NW_DST,
      W.IPV6_SRC,
      W.IPV6_SRC + 1,
      W.IPV6_SRC + 2,
      W.IPV6_SRC + 3,
      W.IPV6_DST,
      W.IPV6_DST + 1,
      W.IPV6_DST + 2,
      W.IPV6_DST + 3,
      W.NW,
      W.TP,
    ];
    const masks: number[] = words.map(() => 0xffffffff);
    masks[words.indexOf(W.ETH_SRC)] = 0xffff;
    masks[words.indexOf(W.ETH_DST)] = 0xffff;
    masks[words.indexOf(W.ETH_TYPE)] = 0xffff;
    masks[words.indexOf(W.VLAN0)] = 0x1fff;
    masks[words.indexOf(W.NW)] = 0xff;
    const buf = new Uint32Array(words.length);
    words.forEach((w, i) => {
      buf[i] = (flow[w]! & masks[i]!) >>> 0;
      wc[w] = (wc[w]! | masks[i]!) >>> 0;
    });
    const h = hashKey(buf);
    let best = -1;
    let bestScore = -1;
    g.buckets.forEach((b, i) => {
      if (b.weight === 0 || !this.bucketLive(b)) return;
      const s = (hashKey(Uint32Array.of(i, h)) & 0xffff) * b.weight;
      if (s > bestScore) {
        bestScore = s;
        best = i;
      }
    });
    return best;
  }

  private bucket(ctx: Ctx, hit: GroupHit, i: number, restore: boolean): void {
    const g = hit.group;
    const b = g.buckets[i]!;
    hit.buckets.push(i);
    ctx.trace({ kind: 'bucket', depth: ctx.depth - 1, group: g.groupId, bucket: i });
    const saved = restore ? Uint32Array.from(ctx.flow) : undefined;
    const savedDirty = restore ? Uint32Array.from(ctx.dirty) : undefined;
    // Bucket actions print two levels deeper than the group (as OVS's trace).
    ctx.depth++;
    try {
      this.doActions(ctx, b.actions);
    } finally {
      ctx.depth--;
      ctx.trace({ kind: 'end', depth: ctx.depth - 1 });
      if (saved && savedDirty) {
        // Roll the flow back (as OVS: equivalent to cloning the packet per bucket); the next
        // commit emits whatever is needed to undo this bucket's changes.
        for (let w = 0; w < FLOW_KEY_WORDS; w++) {
          if (ctx.flow[w] !== saved[w])
            ctx.dirty[w] = (ctx.dirty[w]! | (ctx.flow[w]! ^ saved[w]!)) >>> 0;
          ctx.dirty[w] = (ctx.dirty[w]! | savedDirty[w]!) >>> 0;
        }
        ctx.flow.set(saved);
      }
    }
  }

  // ---------------------------------------------------------------- upcalls

  /** The OpenFlow port whose datapath port number is `dpPort`. */
  portByDp(dpPort: number): OfPort | undefined {
    // A remembered answer holds while that port is still the bridge's, with that number.
    const c = this.byDp.get(dpPort);
    if (c && this.ofproto.getPort(c.ofport) === c && !c.patchPeer && dpPortOf(c) === dpPort)
      return c;
    const p = this.ofproto.listPorts().find((q) => !q.patchPeer && dpPortOf(q) === dpPort);
    if (p) this.byDp.set(dpPort, p);
    else this.byDp.delete(dpPort);
    return p;
  }

  /**
   * Handles one datapath miss (an UpcallHandler's job for this bridge): maps the datapath
   * in_port to the OpenFlow port, translates with side effects and the frame, sends the
   * packet-ins, credits the rules and groups with this packet, and answers with the actions and
   * the megaflow mask. A flow that must stay on the slow path (controller, BFD, …) is not
   * installed, so every packet of it comes back here. Packets from unknown ports are dropped
   * (undefined).
   */
  handleUpcall(req: UpcallRequest): UpcallResult | undefined {
    return this.translateUpcall(req)?.answer;
  }

  /**
   * {@link handleUpcall} that also returns the translation, so the caller can credit the rules
   * with the statistics of the datapath flow it installs (stats push-back).
   */
  translateUpcall(req: UpcallRequest): { answer: UpcallResult; result: XlateResult } | undefined {
    const p = this.portByDp(req.inPort);
    if (!p) return undefined;
    // The translation copies the key before anything else runs: a scratch copy will do.
    const key = this.upcallKey;
    key.set(req.key);
    key[W.IN_PORT] = p.ofport;
    const r = this.translate({ key, frame: req.frame });
    datapathMask(key, r.mask);
    this.sendPacketIns(r.packetIns);
    this.credit(r, 1, req.frame.length);
    const res: { actions: DpAction[]; mask: FlowKey; install?: boolean } = {
      actions: r.actions,
      mask: r.mask,
    };
    if (r.slow.length > 0) res.install = false;
    return { answer: res, result: r };
  }

  /**
   * Handles a packet a `userspace` action sent up. Controller cookies with dont_send=1 are the
   * markers xlate emits (their packet-in was already built during translation) and are
   * ignored, as OVS does; others are ignored too for now (no other userspace users yet).
   */
  handleUserspace(msg: UserspaceUpcall): void {
    if (msg.cookie.kind === 'controller' && msg.cookie.dontSend !== 0) return;
  }

  // ---------------------------------------------------------------- packet-in / packet-out

  /**
   * Sends the packet-ins of a translation to every controller connection that wants them (role,
   * async config) through the per-connection rate limiter; a packet-in produced in another
   * bridge (through a patch port) goes to that bridge's controllers. Returns how many messages
   * went out.
   */
  sendPacketIns(list: readonly PacketInRequest[]): number {
    let n = 0;
    const notify = this.ofproto.hasPacketInListeners;
    for (const pi of list) {
      if (pi.xlate && pi.xlate !== this) {
        // Produced in a patch peer's bridge: that bridge's controllers get it.
        n += pi.xlate.sendPacketIns([pi]);
        continue;
      }
      if (notify)
        this.ofproto.notifyPacketIn({
          reason: pi.reason,
          tableId: pi.tableId,
          cookie: pi.cookie,
          inPort: pi.flow[W.IN_PORT]!,
          frame: pi.frame,
        });
      const match: Match = [{ field: 'in_port', value: pi.flow[W.IN_PORT]! }];
      const md = (BigInt(pi.flow[W.METADATA]!) << 32n) | BigInt(pi.flow[W.METADATA + 1]!);
      if (md !== 0n) match.push({ field: 'metadata', value: md });
      const tun = (BigInt(pi.flow[W.TUNNEL_ID]!) << 32n) | BigInt(pi.flow[W.TUNNEL_ID + 1]!);
      if (tun !== 0n) match.push({ field: 'tunnel_id', value: tun });
      n += this.ofproto.connmgr.sendAsync('packetIn', pi.reason, (conn) => {
        if (!this.pinsched.admit(conn)) return undefined;
        return {
          type: 'PACKET_IN',
          xid: 0,
          bufferId: 0xffffffff,
          totalLen: pi.frame.length,
          reason: pi.reason,
          tableId: pi.tableId,
          cookie: pi.cookie,
          match,
          data: pi.frame,
        };
      });
    }
    return n;
  }

  /**
   * Executes a validated PACKET_OUT: translates its actions with in_port = msg.inPort (TABLE
   * runs the frame through table 0), sends the packet-ins, credits the rules hit and hands the
   * datapath actions to the executor.
   */
  packetOut(_conn: Ofconn, msg: MessageOf<'PACKET_OUT'>): void {
    cPacketOut.inc();
    const key = newFlowKey();
    extractFlowKey(msg.data, 0, msg.data.length, msg.inPort, key);
    const r = this.translate({ key, frame: msg.data, actions: msg.actions });
    this.sendPacketIns(r.packetIns);
    this.credit(r, 1, msg.data.length);
    const inP = this.ofproto.getPort(msg.inPort);
    const actions = r.actions.filter((a) => a.type !== 'userspace');
    if (actions.length > 0 && this.executor)
      this.executor.execute(msg.data, inP ? dpPortOf(inP) : 0xffffffff, actions);
  }
}

/** Flow-key fields the datapath IR can write (others only change the flow seen by lookups). */
const SETTABLE_IN_DATAPATH = new Set<FieldDesc>(
  [
    'eth_src',
    'eth_dst',
    'ip_dscp',
    'ip_ecn',
    'ipv4_src',
    'ipv4_dst',
    'tcp_src',
    'tcp_dst',
    'udp_src',
    'udp_dst',
    'sctp_src',
    'sctp_dst',
    'icmpv4_type',
    'icmpv4_code',
    'arp_op',
    'arp_spa',
    'arp_tpa',
    'arp_sha',
    'arp_tha',
    'ipv6_src',
    'ipv6_dst',
    'ipv6_flabel',
    'icmpv6_type',
    'icmpv6_code',
    'mpls_label',
    'mpls_tc',
    'mpls_bos',
  ].map((n) => fieldDesc(n)),
);

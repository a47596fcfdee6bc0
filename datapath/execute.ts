/**
 * The action executor: runs a {@link DpAction} list on a {@link DpPacket}, in place, with the
 * checksum updates each change needs (IPv4 header checksum and TCP/UDP/ICMP/ICMPv6 checksums
 * incrementally per RFC 1624; SCTP's CRC32c recomputed). Outputs, packet-ins and recirculation
 * go through an {@link ExecContext} the datapath supplies.
 *
 * Sharing: an `output` that is followed by an action changing the packet hands the context a
 * copy; the last outputs share the packet itself (its reference count is raised), so the common
 * "set fields, then output" list copies nothing. Allocation-free apart from those copies.
 */
import { csumUpdate16, csumUpdate32, setSctpChecksum } from '../lib/packet/checksum.js';
import { LAYER } from '../lib/packet/extract.js';
import { ETH_TYPE, FRAG_LATER, IPPROTO, W, hashKey } from '../lib/packet/flow-key.js';
import type { DpAction, UserspaceCookie } from './actions.js';
import { actionModifies } from './actions.js';
import { raiseDropPrecedence } from './dp-meter.js';
import type { DpPacket } from './packet.js';

/** What the executor needs from the datapath. */
export interface ExecContext {
  /** Queues `pkt` for transmission on `port`; takes one reference (already counted). */
  output(port: number, pkt: DpPacket): void;
  /** Hands a copy of `pkt` (as it is now) to the control plane. Does not take a reference. */
  userspace(pkt: DpPacket, pid: number, cookie: UserspaceCookie): void;
  /** Sends `pkt` through the caches again with recirc_id `id`. Does not take a reference. */
  recirc(pkt: DpPacket, id: number): void;
  /** A copy of `pkt` with refs = 1. */
  clone(pkt: DpPacket): DpPacket;
  /** Drops one reference to `pkt` (back to the pool at zero). */
  release(pkt: DpPacket): void;
  /**
   * Runs datapath meter `meterId` for `pkt` (a `meter` action). Returns a negative number when
   * the packet must be dropped, else the drop-precedence levels to add to its DSCP (0: none).
   * Does not take a reference. Absent: every meter passes (as for a missing meter).
   */
  meter?(pkt: DpPacket, meterId: number): number;
}

/** Index of the last action in `actions` that modifies the packet, or -1. */
export function lastModifying(actions: readonly DpAction[]): number {
  for (let i = actions.length - 1; i >= 0; i--) if (actionModifies(actions[i]!)) return i;
  return -1;
}

function rd16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function wr16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
function rd32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** Offset of the Ethernet type field after any VLAN tags. */
function ethTypeOffset(p: DpPacket): number {
  const b = p.buf;
  const end = p.start + p.len;
  let o = p.start + 12;
  while (o + 6 <= end) {
    const t = rd16(b, o);
    if (t !== ETH_TYPE.VLAN && t !== ETH_TYPE.VLAN_8021AD) break;
    o += 4;
  }
  return o;
}

/** Offset of the L4 header when it was parsed whole (not a later fragment), else -1. */
function l4Of(p: DpPacket): number {
  return p.layers[LAYER.L7]! >= 0 ? p.layers[LAYER.L4]! : -1;
}

function isIPv4(p: DpPacket): boolean {
  return p.key[W.ETH_TYPE] === ETH_TYPE.IP && p.layers[LAYER.L3_END]! >= 0;
}
function isIPv6(p: DpPacket): boolean {
  return p.key[W.ETH_TYPE] === ETH_TYPE.IPV6 && p.layers[LAYER.L3_END]! >= 0;
}
function proto(p: DpPacket): number {
  return p.key[W.NW]! & 0xff;
}

/** Updates the L4 checksum (TCP, UDP, ICMPv6 over v6) for a pseudo-header word change. */
function l4PseudoUpdate32(p: DpPacket, oldV: number, newV: number, v6: boolean): void {
  const l4 = l4Of(p);
  if (l4 < 0) return;
  const b = p.buf;
  const pr = proto(p);
  if (pr === IPPROTO.TCP) {
    wr16(b, l4 + 16, csumUpdate32(rd16(b, l4 + 16), oldV, newV));
  } else if (pr === IPPROTO.UDP) {
    const c = rd16(b, l4 + 6);
    if (c === 0 && !v6) return; // No checksum in use.
    const n = csumUpdate32(c, oldV, newV);
    wr16(b, l4 + 6, n === 0 ? 0xffff : n);
  } else if (pr === IPPROTO.ICMPV6 && v6) {
    wr16(b, l4 + 2, csumUpdate32(rd16(b, l4 + 2), oldV, newV));
  }
}

/** Updates the L4 checksum for a change of a 16-bit word inside the L4 header. */
function l4Update16(p: DpPacket, l4: number, oldW: number, newW: number): void {
  const b = p.buf;
  const pr = proto(p);
  if (pr === IPPROTO.TCP) {
    wr16(b, l4 + 16, csumUpdate16(rd16(b, l4 + 16), oldW, newW));
  } else if (pr === IPPROTO.UDP) {
    const c = rd16(b, l4 + 6);
    if (c === 0 && isIPv4(p)) return;
    const n = csumUpdate16(c, oldW, newW);
    wr16(b, l4 + 6, n === 0 ? 0xffff : n);
  } else if (pr === IPPROTO.ICMP || pr === IPPROTO.ICMPV6) {
    wr16(b, l4 + 2, csumUpdate16(rd16(b, l4 + 2), oldW, newW));
  } else if (pr === IPPROTO.SCTP) {
    const end = p.layers[LAYER.L3_END]!;
    setSctpChecksum(b, l4, end - l4);
  }
}

function masked(old: number, v: number, m: readonly number[] | undefined, i: number): number {
  if (m === undefined) return v >>> 0;
  const mm = m[i]!;
  return ((old & ~mm) | (v & mm)) >>> 0;
}

function setMac(
  b: Uint8Array,
  o: number,
  v: readonly number[],
  m: readonly number[] | undefined,
): void {
  const hi = masked(rd16(b, o), v[0]!, m, 0) & 0xffff;
  const lo = masked(rd32(b, o + 2), v[1]!, m, 1);
  wr16(b, o, hi);
  wr32(b, o + 2, lo);
}

function setIPv4Addr(p: DpPacket, at: number, v: number, m: readonly number[] | undefined): void {
  const b = p.buf;
  const l3 = p.layers[LAYER.L3]!;
  const old = rd32(b, l3 + at);
  const nv = masked(old, v, m, 0);
  if (old === nv) return;
  wr32(b, l3 + at, nv);
  wr16(b, l3 + 10, csumUpdate32(rd16(b, l3 + 10), old, nv));
  if (((p.key[W.NW]! >>> 24) & FRAG_LATER) === 0) l4PseudoUpdate32(p, old, nv, false);
}

function setIPv4Byte(p: DpPacket, at: number, v: number, m: readonly number[] | undefined): void {
  const b = p.buf;
  const l3 = p.layers[LAYER.L3]!;
  const word = at & ~1;
  const oldW = rd16(b, l3 + word);
  const old = b[l3 + at]!;
  const nv = masked(old, v, m, 0) & 0xff;
  if (old === nv) return;
  b[l3 + at] = nv;
  wr16(b, l3 + 10, csumUpdate16(rd16(b, l3 + 10), oldW, rd16(b, l3 + word)));
}

function setIPv6Addr(
  p: DpPacket,
  at: number,
  v: readonly number[],
  m: readonly number[] | undefined,
): void {
  const b = p.buf;
  const l3 = p.layers[LAYER.L3]!;
  for (let i = 0; i < 4; i++) {
    const o = l3 + at + 4 * i;
    const old = rd32(b, o);
    const nv = masked(old, v[i]!, m, i);
    if (old === nv) continue;
    wr32(b, o, nv);
    l4PseudoUpdate32(p, old, nv, true);
  }
}

function setIPv6Word0(
  p: DpPacket,
  shift: number,
  width: number,
  v: number,
  m: readonly number[] | undefined,
): void {
  const b = p.buf;
  const l3 = p.layers[LAYER.L3]!;
  const w = rd32(b, l3);
  const fm = (2 ** width - 1) * 2 ** shift;
  const old = Math.floor(w / 2 ** shift) % 2 ** width;
  const nv = masked(old, v, m, 0) % 2 ** width;
  wr32(b, l3, ((w & ~fm) | (nv * 2 ** shift)) >>> 0);
}

function setL4Port(
  p: DpPacket,
  want: number,
  at: number,
  v: number,
  m: readonly number[] | undefined,
): void {
  if (proto(p) !== want) return;
  const l4 = l4Of(p);
  if (l4 < 0) return;
  const b = p.buf;
  const old = rd16(b, l4 + at);
  const nv = masked(old, v, m, 0) & 0xffff;
  if (old === nv) return;
  wr16(b, l4 + at, nv);
  l4Update16(p, l4, old, nv);
}

function setIcmp(
  p: DpPacket,
  want: number,
  at: number,
  v: number,
  m: readonly number[] | undefined,
): void {
  if (proto(p) !== want) return;
  const l4 = l4Of(p);
  if (l4 < 0) return;
  const b = p.buf;
  const oldW = rd16(b, l4);
  const old = b[l4 + at]!;
  const nv = masked(old, v, m, 0) & 0xff;
  if (old === nv) return;
  b[l4 + at] = nv;
  l4Update16(p, l4, oldW, rd16(b, l4));
}

function isArp(p: DpPacket): boolean {
  const t = p.key[W.ETH_TYPE];
  if (t !== ETH_TYPE.ARP && t !== ETH_TYPE.RARP) return false;
  const l3 = p.layers[LAYER.L3]!;
  return l3 >= 0 && l3 + 28 <= p.start + p.len;
}

function applySet(p: DpPacket, a: Extract<DpAction, { type: 'set' }>): void {
  const b = p.buf;
  const v = a.value;
  const m = a.mask;
  switch (a.field) {
    case 'eth_src':
      setMac(b, p.start + 6, v, m);
      return;
    case 'eth_dst':
      setMac(b, p.start, v, m);
      return;
    case 'vlan_tci': {
      const o = p.start + 12;
      if (p.len < 18) return;
      const t = rd16(b, o);
      if (t !== ETH_TYPE.VLAN && t !== ETH_TYPE.VLAN_8021AD) return;
      wr16(b, o + 2, masked(rd16(b, o + 2), v[0]!, m, 0) & 0xffff);
      return;
    }
    case 'mpls_lse': {
      const o = ethTypeOffset(p);
      const t = rd16(b, o);
      if ((t !== ETH_TYPE.MPLS && t !== ETH_TYPE.MPLS_MCAST) || o + 6 > p.start + p.len) return;
      wr32(b, o + 2, masked(rd32(b, o + 2), v[0]!, m, 0));
      if (p.layersValid) p.key[W.MPLS0] = rd32(b, o + 2);
      return;
    }
    default:
      break;
  }
  if (!p.layersValid) p.parse();
  switch (a.field) {
    case 'ipv4_src':
      if (isIPv4(p)) setIPv4Addr(p, 12, v[0]!, m);
      return;
    case 'ipv4_dst':
      if (isIPv4(p)) setIPv4Addr(p, 16, v[0]!, m);
      return;
    case 'ipv4_tos':
      if (isIPv4(p)) setIPv4Byte(p, 1, v[0]!, m);
      return;
    case 'ipv4_ttl':
      if (isIPv4(p)) setIPv4Byte(p, 8, v[0]!, m);
      return;
    case 'ipv6_src':
      if (isIPv6(p)) setIPv6Addr(p, 8, v, m);
      return;
    case 'ipv6_dst':
      if (isIPv6(p)) setIPv6Addr(p, 24, v, m);
      return;
    case 'ipv6_label':
      if (isIPv6(p)) setIPv6Word0(p, 0, 20, v[0]!, m);
      return;
    case 'ipv6_tclass':
      if (isIPv6(p)) setIPv6Word0(p, 20, 8, v[0]!, m);
      return;
    case 'ipv6_hlimit':
      if (isIPv6(p)) {
        const o = p.layers[LAYER.L3]! + 7;
        b[o] = masked(b[o]!, v[0]!, m, 0) & 0xff;
      }
      return;
    case 'tcp_src':
      setL4Port(p, IPPROTO.TCP, 0, v[0]!, m);
      return;
    case 'tcp_dst':
      setL4Port(p, IPPROTO.TCP, 2, v[0]!, m);
      return;
    case 'udp_src':
      setL4Port(p, IPPROTO.UDP, 0, v[0]!, m);
      return;
    case 'udp_dst':
      setL4Port(p, IPPROTO.UDP, 2, v[0]!, m);
      return;
    case 'sctp_src':
      setL4Port(p, IPPROTO.SCTP, 0, v[0]!, m);
      return;
    case 'sctp_dst':
      setL4Port(p, IPPROTO.SCTP, 2, v[0]!, m);
      return;
    case 'icmp_type':
      if (isIPv4(p)) setIcmp(p, IPPROTO.ICMP, 0, v[0]!, m);
      return;
    case 'icmp_code':
      if (isIPv4(p)) setIcmp(p, IPPROTO.ICMP, 1, v[0]!, m);
      return;
    case 'icmpv6_type':
      if (isIPv6(p)) setIcmp(p, IPPROTO.ICMPV6, 0, v[0]!, m);
      return;
    case 'icmpv6_code':
      if (isIPv6(p)) setIcmp(p, IPPROTO.ICMPV6, 1, v[0]!, m);
      return;
    case 'arp_op':
      if (isArp(p)) {
        const o = p.layers[LAYER.L3]! + 6;
        wr16(b, o, masked(rd16(b, o), v[0]!, m, 0) & 0xffff);
      }
      return;
    case 'arp_sha':
      if (isArp(p)) setMac(b, p.layers[LAYER.L3]! + 8, v, m);
      return;
    case 'arp_spa':
      if (isArp(p)) {
        const o = p.layers[LAYER.L3]! + 14;
        wr32(b, o, masked(rd32(b, o), v[0]!, m, 0));
      }
      return;
    case 'arp_tha':
      if (isArp(p)) setMac(b, p.layers[LAYER.L3]! + 18, v, m);
      return;
    case 'arp_tpa':
      if (isArp(p)) {
        const o = p.layers[LAYER.L3]! + 24;
        wr32(b, o, masked(rd32(b, o), v[0]!, m, 0));
      }
      return;
  }
}

/** Inserts 4 bytes at offset `at` (absolute) by moving the bytes before it into the headroom. */
function insert4(p: DpPacket, at: number): number {
  const rel = at - p.start;
  p.ensureHeadroom(4);
  const b = p.buf;
  const s = p.start;
  b.copyWithin(s - 4, s, s + rel);
  p.start = s - 4;
  p.len += 4;
  return p.start + rel;
}

/** Removes the 4 bytes at `at` (absolute) by moving the bytes before it forward. */
function remove4(p: DpPacket, at: number): void {
  const b = p.buf;
  const s = p.start;
  b.copyWithin(s + 4, s, at);
  p.start = s + 4;
  p.len -= 4;
}

function pushVlan(p: DpPacket, tpid: number, tci: number): void {
  if (p.len < 14) return;
  const o = insert4(p, p.start + 12);
  wr16(p.buf, o, tpid);
  wr16(p.buf, o + 2, tci);
  // L3 and later did not move; the cached key's VLAN words are stale but unused by the executor.
}

function popVlan(p: DpPacket): void {
  if (p.len < 18) return;
  const t = rd16(p.buf, p.start + 12);
  if (t !== ETH_TYPE.VLAN && t !== ETH_TYPE.VLAN_8021AD) return;
  remove4(p, p.start + 12);
}

function pushMpls(p: DpPacket, ethertype: number, lse: number): void {
  if (p.len < 14) return;
  const et = ethTypeOffset(p);
  const o = insert4(p, et + 2);
  wr16(p.buf, o - 2, ethertype);
  wr32(p.buf, o, lse);
  p.layersValid = false;
}

function popMpls(p: DpPacket, ethertype: number): void {
  const et = ethTypeOffset(p);
  const t = rd16(p.buf, et);
  if ((t !== ETH_TYPE.MPLS && t !== ETH_TYPE.MPLS_MCAST) || et + 6 > p.start + p.len) return;
  remove4(p, et + 2);
  wr16(p.buf, et + 4, ethertype);
  p.layersValid = false;
}

/** Returns true when the packet was consumed (the TTL expired). */
function decTtl(ctx: ExecContext, p: DpPacket, le1: readonly DpAction[]): boolean {
  if (!p.layersValid) p.parse();
  const b = p.buf;
  const l3 = p.layers[LAYER.L3]!;
  let ttl: number;
  if (isIPv4(p)) ttl = b[l3 + 8]!;
  else if (isIPv6(p)) ttl = b[l3 + 7]!;
  else return false;
  if (ttl <= 1) {
    executeActions(ctx, p, le1, lastModifying(le1));
    return true;
  }
  if (isIPv4(p)) {
    const oldW = rd16(b, l3 + 8);
    b[l3 + 8] = ttl - 1;
    wr16(b, l3 + 10, csumUpdate16(rd16(b, l3 + 10), oldW, rd16(b, l3 + 8)));
  } else {
    b[l3 + 7] = ttl - 1;
  }
  return false;
}

/**
 * Raises the drop precedence of an IP packet's DSCP by `levels` (a dscp_remark meter band, see
 * datapath/dp-meter.ts); non-IP packets are left unchanged.
 */
function remarkDscp(p: DpPacket, levels: number): void {
  if (!p.layersValid) p.parse();
  const b = p.buf;
  const l3 = p.layers[LAYER.L3]!;
  if (isIPv4(p)) {
    const tos = b[l3 + 1]!;
    const nd = raiseDropPrecedence(tos >>> 2, levels);
    setIPv4Byte(p, 1, (nd << 2) | (tos & 3), undefined);
  } else if (isIPv6(p)) {
    const tc = ((b[l3]! & 0x0f) << 4) | (b[l3 + 1]! >>> 4);
    const nd = raiseDropPrecedence(tc >>> 2, levels);
    setIPv6Word0(p, 20, 8, (nd << 2) | (tc & 3), undefined);
  }
}

const hashScratch = new Uint32Array(12);

function hashPacket(p: DpPacket, basis: number): number {
  if (!p.layersValid) p.parse();
  const k = p.key;
  hashScratch[0] = k[W.NW_SRC]!;
  hashScratch[1] = k[W.NW_DST]!;
  for (let i = 0; i < 4; i++) {
    hashScratch[2 + i] = k[W.IPV6_SRC + i]!;
    hashScratch[6 + i] = k[W.IPV6_DST + i]!;
  }
  hashScratch[10] = k[W.TP]!;
  hashScratch[11] = k[W.NW]! & 0xff;
  return hashKey(hashScratch, 12, basis);
}

/**
 * Runs `actions` on `p`. `lastMod` is {@link lastModifying}(actions) (precomputed by the
 * caller for cached flows). The caller keeps its own reference to `p` and releases it after.
 */
export function executeActions(
  ctx: ExecContext,
  p: DpPacket,
  actions: readonly DpAction[],
  lastMod: number,
): void {
  for (let i = 0; i < actions.length; i++) {
    const a = actions[i]!;
    switch (a.type) {
      case 'output':
        if (i < lastMod) {
          ctx.output(a.port, ctx.clone(p));
        } else {
          p.refs++;
          ctx.output(a.port, p);
        }
        break;
      case 'set':
        applySet(p, a);
        break;
      case 'push_vlan':
        pushVlan(p, a.tpid, a.tci);
        break;
      case 'pop_vlan':
        popVlan(p);
        break;
      case 'push_mpls':
        pushMpls(p, a.ethertype, a.lse);
        break;
      case 'pop_mpls':
        popMpls(p, a.ethertype);
        break;
      case 'dec_ttl':
        if (decTtl(ctx, p, a.le1)) return;
        break;
      case 'userspace':
        ctx.userspace(p, a.pid, a.cookie);
        break;
      case 'clone': {
        const c = ctx.clone(p);
        executeActions(ctx, c, a.actions, lastModifying(a.actions));
        ctx.release(c);
        break;
      }
      case 'hash':
        p.meta.dpHash = hashPacket(p, a.basis);
        break;
      case 'recirc':
        ctx.recirc(p, a.id);
        return;
      case 'meter': {
        if (ctx.meter === undefined) break;
        const v = ctx.meter(p, a.meterId);
        if (v < 0) return;
        if (v > 0) remarkDscp(p, v);
        break;
      }
    }
  }
}

/**
 * The flow key: one fixed-layout `Uint32Array` that both the datapath caches (exact-match cache,
 * megaflow subtables) and the OpenFlow classifier use, in the spirit of OVS's `struct flow`.
 *
 * Every value is stored as a host number (not in network byte order): an IPv4 address is the
 * 32-bit integer whose most significant byte is the first octet, a port is its 16-bit value, and
 * so on. Masking, hashing and comparison are plain loops over {@link FLOW_KEY_WORDS} words and
 * never allocate. A mask is a key of the same shape whose 1 bits say "this bit matters".
 *
 * ## Layout (word: bits → content)
 *
 * | word  | bits   | content                                                              |
 * |-------|--------|----------------------------------------------------------------------|
 * | 0     | 0–31   | `in_port` (datapath or OpenFlow port number, per user)               |
 * | 1     | 0–31   | `in_phy_port`                                                        |
 * | 2–3   | 64     | `metadata` (word 2 = high 32 bits, word 3 = low 32 bits)             |
 * | 4–5   | 64     | `tunnel_id` (same split)                                             |
 * | 6     | 0–31   | `recirc_id`                                                          |
 * | 7     | 0–31   | `dp_hash`                                                            |
 * | 8     | 0–31   | `skb_priority`                                                       |
 * | 9     | 0–31   | `pkt_mark`                                                           |
 * | 10–11 | 48     | `eth_dst` (word 10 bits 0–15 = first two octets, word 11 = last four)|
 * | 12–13 | 48     | `eth_src` (same split)                                               |
 * | 14    | 0–15   | `eth_type` (0x05ff for 802.3 frames without SNAP, as OVS)            |
 * | 15    | 0–15   | outer VLAN TCI, with bit 12 (CFI) set when a tag is present (as OVS) |
 * |       | 16–31  | outer VLAN TPID (0x8100 or 0x88a8)                                   |
 * | 16    | 0–31   | inner VLAN, same shape as word 15                                    |
 * | 17–19 | 0–31   | MPLS label stack entries 0–2 exactly as on the wire (label<<12, tc<<9, bos<<8, ttl) |
 * | 20    | 0–31   | `ipv4_src`, also `arp_spa`                                           |
 * | 21    | 0–31   | `ipv4_dst`, also `arp_tpa`                                           |
 * | 22–25 | 128    | `ipv6_src` (word 22 = first four octets)                             |
 * | 26–29 | 128    | `ipv6_dst`                                                           |
 * | 30    | 0–19   | `ipv6_flabel`                                                        |
 * | 31    | 0–7    | `ip_proto`, also the low 8 bits of the ARP opcode (`arp_op`)         |
 * |       | 8–15   | IP TOS / IPv6 traffic class: `ip_ecn` = bits 8–9, `ip_dscp` = bits 10–15 |
 * |       | 16–23  | `ip_ttl` (IPv6 hop limit)                                            |
 * |       | 24–25  | `ip_frag`: bit 24 = any fragment, bit 25 = later fragment            |
 * | 32    | 0–15   | `tp_dst` (also ICMP code in its low 8 bits)                          |
 * |       | 16–31  | `tp_src` (also ICMP type in its low 8 bits)                          |
 * | 33    | 0–11   | `tcp_flags`                                                          |
 * |       | 16–24  | `ipv6_exthdr` (OpenFlow 1.3 OFPIEH_* bits)                           |
 * | 34–37 | 128    | `ipv6_nd_target`                                                     |
 * | 38–39 | 48     | `arp_sha`, also `ipv6_nd_sll`                                        |
 * | 40–41 | 48     | `arp_tha`, also `ipv6_nd_tll`                                        |
 * | 42    | 0–23   | `pbb_isid`                                                           |
 *
 * Fields wider than 32 bits span consecutive words: the top `bits mod 32` bits (or 32 if that
 * is 0) sit in word `word` from bit `bit` up, and each following word holds 32 further bits,
 * most significant first.
 *
 * Aliased fields (ipv4_src/arp_spa, arp_sha/ipv6_nd_sll, tp_src/tcp_src/udp_src/…) share bits as
 * in OVS; the `eth_type` and `ip_proto` values say which meaning applies.
 */

/** Number of 32-bit words in a flow key (and in a mask). */
export const FLOW_KEY_WORDS = 43;

/** A flow key or a flow mask: {@link FLOW_KEY_WORDS} words, layout in the module comment. */
export type FlowKey = Uint32Array;

/** Word indexes of the layout (see the module comment). */
export const W = {
  IN_PORT: 0,
  IN_PHY_PORT: 1,
  METADATA: 2,
  TUNNEL_ID: 4,
  RECIRC_ID: 6,
  DP_HASH: 7,
  SKB_PRIORITY: 8,
  PKT_MARK: 9,
  ETH_DST: 10,
  ETH_SRC: 12,
  ETH_TYPE: 14,
  VLAN0: 15,
  VLAN1: 16,
  MPLS0: 17,
  MPLS1: 18,
  MPLS2: 19,
  NW_SRC: 20,
  NW_DST: 21,
  IPV6_SRC: 22,
  IPV6_DST: 26,
  IPV6_LABEL: 30,
  NW: 31,
  TP: 32,
  TCP_FLAGS: 33,
  ND_TARGET: 34,
  ARP_SHA: 38,
  ARP_THA: 40,
  PBB_ISID: 42,
} as const;

/** `ip_frag` bit: the packet is a fragment (first or later). Same value as OVS. */
export const FRAG_ANY = 1;
/** `ip_frag` bit: the packet is a fragment other than the first. Same value as OVS. */
export const FRAG_LATER = 2;

/** VLAN TCI bit used as "a tag is present" marker (the CFI/DEI position, as OVS does). */
export const VLAN_CFI = 0x1000;

/** OpenFlow 1.3 `ipv6_exthdr` bits (OFPIEH_*). */
export const IPV6_EXTHDR = {
  NONEXT: 1 << 0,
  ESP: 1 << 1,
  AUTH: 1 << 2,
  DEST: 1 << 3,
  FRAG: 1 << 4,
  ROUTER: 1 << 5,
  HOP: 1 << 6,
  UNREP: 1 << 7,
  UNSEQ: 1 << 8,
} as const;

/** TCP flag bits as stored in `tcp_flags`. */
export const TCP_FLAG = {
  FIN: 0x001,
  SYN: 0x002,
  RST: 0x004,
  PSH: 0x008,
  ACK: 0x010,
  URG: 0x020,
  ECE: 0x040,
  CWR: 0x080,
  NS: 0x100,
} as const;

/** Ethertypes the extractor knows. */
export const ETH_TYPE = {
  IP: 0x0800,
  ARP: 0x0806,
  RARP: 0x8035,
  VLAN: 0x8100,
  VLAN_8021AD: 0x88a8,
  IPV6: 0x86dd,
  MPLS: 0x8847,
  MPLS_MCAST: 0x8848,
  PBB: 0x88e7,
  /** Frames whose type/length field is a length and carry no SNAP ethertype (OVS's FLOW_DL_TYPE_NONE). */
  NONE: 0x05ff,
  /** Smallest value that is an ethertype rather than an 802.3 length. */
  MIN: 0x0600,
} as const;

/** IP protocol numbers the extractor knows. */
export const IPPROTO = {
  HOPOPTS: 0,
  ICMP: 1,
  IGMP: 2,
  TCP: 6,
  UDP: 17,
  ROUTING: 43,
  FRAGMENT: 44,
  ESP: 50,
  AH: 51,
  ICMPV6: 58,
  NONE: 59,
  DSTOPTS: 60,
  SCTP: 132,
} as const;

/**
 * One field of the flow key. `name` is the OpenFlow OXM name (lower case, as in the OpenFlow
 * 1.3 spec without the OFPXMT_OFB_ prefix) or, for datapath-only fields, the name OVS uses.
 */
export interface FieldDesc {
  /** Field name (OXM name for OpenFlow fields). */
  readonly name: string;
  /** Word holding the field (for wide fields, the word holding its most significant bits). */
  readonly word: number;
  /** Lowest bit of the field within `word` (0 = least significant). */
  readonly bit: number;
  /** Width in bits. */
  readonly bits: number;
  /** True when OpenFlow defines the field (OXM basic class); false for datapath-only fields. */
  readonly oxm: boolean;
}

function f(name: string, word: number, bit: number, bits: number, oxm = true): FieldDesc {
  return Object.freeze({ name, word, bit, bits, oxm });
}

/** Every field, OpenFlow ones first in OXM order, then datapath-only fields. */
export const FIELDS: readonly FieldDesc[] = Object.freeze([
  f('in_port', W.IN_PORT, 0, 32),
  f('in_phy_port', W.IN_PHY_PORT, 0, 32),
  f('metadata', W.METADATA, 0, 64),
  f('eth_dst', W.ETH_DST, 0, 48),
  f('eth_src', W.ETH_SRC, 0, 48),
  f('eth_type', W.ETH_TYPE, 0, 16),
  f('vlan_vid', W.VLAN0, 0, 13),
  f('vlan_pcp', W.VLAN0, 13, 3),
  f('ip_dscp', W.NW, 10, 6),
  f('ip_ecn', W.NW, 8, 2),
  f('ip_proto', W.NW, 0, 8),
  f('ipv4_src', W.NW_SRC, 0, 32),
  f('ipv4_dst', W.NW_DST, 0, 32),
  f('tcp_src', W.TP, 16, 16),
  f('tcp_dst', W.TP, 0, 16),
  f('udp_src', W.TP, 16, 16),
  f('udp_dst', W.TP, 0, 16),
  f('sctp_src', W.TP, 16, 16),
  f('sctp_dst', W.TP, 0, 16),
  f('icmpv4_type', W.TP, 16, 8),
  f('icmpv4_code', W.TP, 0, 8),
  f('arp_op', W.NW, 0, 8),
  f('arp_spa', W.NW_SRC, 0, 32),
  f('arp_tpa', W.NW_DST, 0, 32),
  f('arp_sha', W.ARP_SHA, 0, 48),
  f('arp_tha', W.ARP_THA, 0, 48),
  f('ipv6_src', W.IPV6_SRC, 0, 128),
  f('ipv6_dst', W.IPV6_DST, 0, 128),
  f('ipv6_flabel', W.IPV6_LABEL, 0, 20),
  f('icmpv6_type', W.TP, 16, 8),
  f('icmpv6_code', W.TP, 0, 8),
  f('ipv6_nd_target', W.ND_TARGET, 0, 128),
  f('ipv6_nd_sll', W.ARP_SHA, 0, 48),
  f('ipv6_nd_tll', W.ARP_THA, 0, 48),
  f('mpls_label', W.MPLS0, 12, 20),
  f('mpls_tc', W.MPLS0, 9, 3),
  f('mpls_bos', W.MPLS0, 8, 1),
  f('pbb_isid', W.PBB_ISID, 0, 24),
  f('tunnel_id', W.TUNNEL_ID, 0, 64),
  f('ipv6_exthdr', W.TCP_FLAGS, 16, 9),
  // Datapath-only fields (OVS names).
  f('recirc_id', W.RECIRC_ID, 0, 32, false),
  f('dp_hash', W.DP_HASH, 0, 32, false),
  f('skb_priority', W.SKB_PRIORITY, 0, 32, false),
  f('pkt_mark', W.PKT_MARK, 0, 32, false),
  f('ip_ttl', W.NW, 16, 8, false),
  f('ip_tos', W.NW, 8, 8, false),
  f('ip_frag', W.NW, 24, 2, false),
  f('tcp_flags', W.TCP_FLAGS, 0, 12, false),
  f('tp_src', W.TP, 16, 16, false),
  f('tp_dst', W.TP, 0, 16, false),
  f('vlan_tci', W.VLAN0, 0, 16, false),
  f('vlan_tpid', W.VLAN0, 16, 16, false),
  f('vlan_tci1', W.VLAN1, 0, 16, false),
  f('vlan_tpid1', W.VLAN1, 16, 16, false),
  f('mpls_ttl', W.MPLS0, 0, 8, false),
  f('mpls_lse0', W.MPLS0, 0, 32, false),
  f('mpls_lse1', W.MPLS1, 0, 32, false),
  f('mpls_lse2', W.MPLS2, 0, 32, false),
]);

const BY_NAME = new Map<string, FieldDesc>(FIELDS.map((d) => [d.name, d]));

/** The descriptor called `name`, or undefined. */
export function fieldByName(name: string): FieldDesc | undefined {
  return BY_NAME.get(name);
}

/** The descriptor called `name`; throws a `RangeError` naming it when unknown (for static use). */
export function field(name: string): FieldDesc {
  const d = BY_NAME.get(name);
  if (!d) throw new RangeError(`unknown flow field ${name}`);
  return d;
}

/** A new all-zero key (or mask). */
export function newFlowKey(): FlowKey {
  return new Uint32Array(FLOW_KEY_WORDS);
}

/** A new mask with every bit set (exact match). */
export function exactMask(): FlowKey {
  return new Uint32Array(FLOW_KEY_WORDS).fill(0xffffffff);
}

/** Copies `src` into `dst` (both flow keys). */
export function copyKey(src: FlowKey, dst: FlowKey): void {
  dst.set(src);
}

/** `out = key & mask`, word by word. `out` may be `key` itself. No allocation. */
export function maskKey(key: FlowKey, mask: FlowKey, out: FlowKey): void {
  for (let i = 0; i < FLOW_KEY_WORDS; i++) out[i] = (key[i]! & mask[i]!) >>> 0;
}

/** True when every word of `a` equals the same word of `b`. */
export function keyEquals(a: FlowKey, b: FlowKey): boolean {
  for (let i = 0; i < FLOW_KEY_WORDS; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * True when `key & mask` equals `masked`, where `masked` is itself already masked (as a megaflow
 * entry stores it). No allocation.
 */
export function maskedEquals(key: FlowKey, mask: FlowKey, masked: FlowKey): boolean {
  for (let i = 0; i < FLOW_KEY_WORDS; i++)
    if ((key[i]! & mask[i]!) >>> 0 !== masked[i]) return false;
  return true;
}

/** `out = a & b` of two masks: the bits both care about. */
export function maskIntersect(a: FlowKey, b: FlowKey, out: FlowKey): void {
  for (let i = 0; i < FLOW_KEY_WORDS; i++) out[i] = (a[i]! & b[i]!) >>> 0;
}

/** `out = a | b` of two masks: the bits either cares about (how xlate accumulates wildcards). */
export function maskUnion(a: FlowKey, b: FlowKey, out: FlowKey): void {
  for (let i = 0; i < FLOW_KEY_WORDS; i++) out[i] = (a[i]! | b[i]!) >>> 0;
}

/** True when every bit set in `narrow` is also set in `wide` (`wide` is at least as specific). */
export function maskCovers(wide: FlowKey, narrow: FlowKey): boolean {
  for (let i = 0; i < FLOW_KEY_WORDS; i++) if ((narrow[i]! & ~wide[i]!) !== 0) return false;
  return true;
}

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/**
 * One step of the murmur3-style word hash used by {@link hashKey}/{@link hashMasked}: mixes word
 * `k` into running hash `h`. Exported so that incremental hashes (the classifier's stage
 * prefixes) agree with these helpers.
 */
export function hashMix(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** Finalises a {@link hashMix} hash of `n` words (unsigned 32-bit). */
export function hashFinish(h: number, n: number): number {
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Hash (murmur3-style, 32 bits, unsigned) of the first `n` words of `words` (default: all of
 * them), seeded with `basis`. Used on an already masked key. No allocation.
 */
export function hashKey(words: Uint32Array, n = words.length, basis = 0): number {
  let h = basis | 0;
  for (let i = 0; i < n; i++) h = hashMix(h, words[i]! | 0);
  return hashFinish(h, n * 4);
}

/**
 * Hash of `key & mask` without materialising the masked key: equals
 * `hashKey(maskKey(key, mask))` for the same `basis`. No allocation.
 */
export function hashMasked(key: FlowKey, mask: FlowKey, basis = 0): number {
  let h = basis | 0;
  for (let i = 0; i < FLOW_KEY_WORDS; i++) h = hashMix(h, key[i]! & mask[i]!);
  return hashFinish(h, FLOW_KEY_WORDS * 4);
}

function lowMask(bits: number): number {
  return bits >= 32 ? 0xffffffff : ((1 << bits) >>> 0) - 1;
}

/** Number of words a field spans. */
export function fieldWords(d: FieldDesc): number {
  return d.bits <= 32 ? 1 : Math.ceil(d.bits / 32);
}

function topBits(d: FieldDesc): number {
  const r = d.bits % 32;
  return r === 0 ? 32 : r;
}

/**
 * Reads a field of at most 32 bits as an unsigned number. For wider fields use
 * {@link getFieldBig} or {@link getFieldBytes}; this throws a `RangeError` for them.
 */
export function getField(key: FlowKey, d: FieldDesc): number {
  if (d.bits > 32) throw new RangeError(`${d.name} is ${d.bits} bits wide; use getFieldBig`);
  return ((key[d.word]! >>> d.bit) & lowMask(d.bits)) >>> 0;
}

/**
 * Writes a field of at most 32 bits (the value is truncated to the field's width); other bits
 * of the word are kept.
 */
export function setField(key: FlowKey, d: FieldDesc, value: number): void {
  if (d.bits > 32) throw new RangeError(`${d.name} is ${d.bits} bits wide; use setFieldBig`);
  const m = (lowMask(d.bits) << d.bit) >>> 0;
  key[d.word] = ((key[d.word]! & ~m) | ((value << d.bit) & m)) >>> 0;
}

/** Reads any field as a bigint (the codec edge; not for the per-packet path). */
export function getFieldBig(key: FlowKey, d: FieldDesc): bigint {
  if (d.bits <= 32) return BigInt(getField(key, d));
  const top = topBits(d);
  let v = BigInt(((key[d.word]! >>> d.bit) & lowMask(top)) >>> 0);
  for (let i = 1; i < fieldWords(d); i++) v = (v << 32n) | BigInt(key[d.word + i]!);
  return v;
}

/** Writes any field from a bigint (truncated to the field's width). */
export function setFieldBig(key: FlowKey, d: FieldDesc, value: bigint): void {
  if (d.bits <= 32) {
    setField(key, d, Number(BigInt.asUintN(d.bits, value)));
    return;
  }
  const n = fieldWords(d);
  let v = BigInt.asUintN(d.bits, value);
  for (let i = n - 1; i >= 1; i--) {
    key[d.word + i] = Number(v & 0xffffffffn);
    v >>= 32n;
  }
  const top = topBits(d);
  const m = (lowMask(top) << d.bit) >>> 0;
  key[d.word] = ((key[d.word]! & ~m) | ((Number(v) << d.bit) & m)) >>> 0;
}

/** Number of bytes a field occupies on the wire (its width rounded up to whole bytes). */
export function fieldBytes(d: FieldDesc): number {
  return Math.ceil(d.bits / 8);
}

/**
 * Writes the field's value big-endian into `out` at `off` ({@link fieldBytes} bytes). No
 * allocation; the allocation-free way to read MAC and IPv6 fields.
 */
export function getFieldBytes(key: FlowKey, d: FieldDesc, out: Uint8Array, off = 0): void {
  const nb = fieldBytes(d);
  if (d.bits <= 32) {
    const v = getField(key, d);
    for (let i = 0; i < nb; i++) out[off + i] = (v >>> (8 * (nb - 1 - i))) & 0xff;
    return;
  }
  // Wide fields are whole bytes: the top chunk then full words.
  const top = topBits(d);
  const topBytes = top / 8;
  const hi = key[d.word]! >>> d.bit;
  let o = off;
  for (let i = topBytes - 1; i >= 0; i--) out[o++] = (hi >>> (8 * i)) & 0xff;
  for (let w = 1; w < fieldWords(d); w++) {
    const v = key[d.word + w]!;
    out[o++] = v >>> 24;
    out[o++] = (v >>> 16) & 0xff;
    out[o++] = (v >>> 8) & 0xff;
    out[o++] = v & 0xff;
  }
}

/** Sets the field from big-endian bytes `src[off .. off + fieldBytes(d))`. No allocation. */
export function setFieldBytes(key: FlowKey, d: FieldDesc, src: Uint8Array, off = 0): void {
  const nb = fieldBytes(d);
  if (d.bits <= 32) {
    let v = 0;
    for (let i = 0; i < nb; i++) v = (v << 8) | src[off + i]!;
    setField(key, d, v >>> 0);
    return;
  }
  const topBytes = topBits(d) / 8;
  let hi = 0;
  let o = off;
  for (let i = 0; i < topBytes; i++) hi = (hi << 8) | src[o++]!;
  const m = (lowMask(topBits(d)) << d.bit) >>> 0;
  key[d.word] = ((key[d.word]! & ~m) | ((hi << d.bit) & m)) >>> 0;
  for (let w = 1; w < fieldWords(d); w++) {
    key[d.word + w] =
      ((src[o]! << 24) | (src[o + 1]! << 16) | (src[o + 2]! << 8) | src[o + 3]!) >>> 0;
    o += 4;
  }
}

/** Sets every bit of field `d` in `mask` (marks the field as exactly matched). */
export function maskField(mask: FlowKey, d: FieldDesc): void {
  if (d.bits <= 32) {
    mask[d.word] = (mask[d.word]! | (lowMask(d.bits) << d.bit)) >>> 0;
    return;
  }
  mask[d.word] = (mask[d.word]! | (lowMask(topBits(d)) << d.bit)) >>> 0;
  for (let w = 1; w < fieldWords(d); w++) mask[d.word + w] = 0xffffffff;
}

/** True when any bit of field `d` is set in `mask`. */
export function fieldIsMasked(mask: FlowKey, d: FieldDesc): boolean {
  if (d.bits <= 32) return ((mask[d.word]! >>> d.bit) & lowMask(d.bits)) !== 0;
  if (((mask[d.word]! >>> d.bit) & lowMask(topBits(d))) !== 0) return true;
  for (let w = 1; w < fieldWords(d); w++) if (mask[d.word + w] !== 0) return true;
  return false;
}

/** True when every bit of field `d` is set in `mask`. */
export function fieldIsExact(mask: FlowKey, d: FieldDesc): boolean {
  if (d.bits <= 32) return ((mask[d.word]! >>> d.bit) & lowMask(d.bits)) >>> 0 === lowMask(d.bits);
  const top = lowMask(topBits(d));
  if (((mask[d.word]! >>> d.bit) & top) >>> 0 !== top) return false;
  for (let w = 1; w < fieldWords(d); w++) if (mask[d.word + w] !== 0xffffffff) return false;
  return true;
}

/**
 * Fills `mask` with the fields that are meaningful for a packet whose key is `key`, as OVS's
 * flow_wildcards_init_for_packet does: metadata always, L2 always, present VLANs (plus the first
 * absent one), then by eth_type the L3 fields and by ip_proto the L4 fields. `metadata`,
 * `in_phy_port` and `tunnel_id` are included only when non-zero.
 */
export function packetMask(key: FlowKey, mask: FlowKey): void {
  mask.fill(0);
  mask[W.IN_PORT] = 0xffffffff;
  if (key[W.IN_PHY_PORT] !== 0) mask[W.IN_PHY_PORT] = 0xffffffff;
  if (key[W.METADATA] !== 0 || key[W.METADATA + 1] !== 0) {
    mask[W.METADATA] = mask[W.METADATA + 1] = 0xffffffff;
  }
  if (key[W.TUNNEL_ID] !== 0 || key[W.TUNNEL_ID + 1] !== 0) {
    mask[W.TUNNEL_ID] = mask[W.TUNNEL_ID + 1] = 0xffffffff;
  }
  mask[W.RECIRC_ID] = mask[W.DP_HASH] = mask[W.SKB_PRIORITY] = mask[W.PKT_MARK] = 0xffffffff;
  mask[W.ETH_DST] = mask[W.ETH_SRC] = 0xffff;
  mask[W.ETH_DST + 1] = mask[W.ETH_SRC + 1] = 0xffffffff;
  mask[W.ETH_TYPE] = 0xffff;
  mask[W.VLAN0] = 0xffffffff;
  if ((key[W.VLAN0]! & 0xffff) !== 0) mask[W.VLAN1] = 0xffffffff;
  const dlType = key[W.ETH_TYPE]!;
  if (dlType === ETH_TYPE.IP) {
    mask[W.NW_SRC] = mask[W.NW_DST] = 0xffffffff;
  } else if (dlType === ETH_TYPE.IPV6) {
    for (let i = 0; i < 4; i++) mask[W.IPV6_SRC + i] = mask[W.IPV6_DST + i] = 0xffffffff;
    mask[W.IPV6_LABEL] = 0xfffff;
    mask[W.TCP_FLAGS] = 0x1ff << 16;
    const proto = key[W.NW]! & 0xff;
    const type = key[W.TP]! >>> 16;
    if (proto === IPPROTO.ICMPV6 && (key[W.TP]! & 0xffff) === 0 && (type === 135 || type === 136)) {
      for (let i = 0; i < 4; i++) mask[W.ND_TARGET + i] = 0xffffffff;
      mask[W.ARP_SHA] = mask[W.ARP_THA] = 0xffff;
      mask[W.ARP_SHA + 1] = mask[W.ARP_THA + 1] = 0xffffffff;
    }
  } else if (dlType === ETH_TYPE.ARP || dlType === ETH_TYPE.RARP) {
    mask[W.NW_SRC] = mask[W.NW_DST] = 0xffffffff;
    mask[W.NW] = 0xff;
    mask[W.ARP_SHA] = mask[W.ARP_THA] = 0xffff;
    mask[W.ARP_SHA + 1] = mask[W.ARP_THA + 1] = 0xffffffff;
    return;
  } else if (dlType === ETH_TYPE.MPLS || dlType === ETH_TYPE.MPLS_MCAST) {
    for (let i = 0; i < 3; i++) {
      mask[W.MPLS0 + i] = 0xffffffff;
      if ((key[W.MPLS0 + i]! & 0x100) !== 0) break;
    }
    return;
  } else if (dlType === ETH_TYPE.PBB) {
    mask[W.PBB_ISID] = 0xffffff;
    return;
  } else {
    return;
  }
  mask[W.NW] = 0x03ffffff;
  const nw = key[W.NW]!;
  const proto = nw & 0xff;
  if (
    ((nw >>> 24) & FRAG_LATER) === 0 &&
    (proto === IPPROTO.ICMP ||
      proto === IPPROTO.ICMPV6 ||
      proto === IPPROTO.TCP ||
      proto === IPPROTO.UDP ||
      proto === IPPROTO.SCTP ||
      proto === IPPROTO.IGMP)
  ) {
    mask[W.TP] = 0xffffffff;
    if (proto === IPPROTO.TCP) mask[W.TCP_FLAGS] = (mask[W.TCP_FLAGS]! | 0xfff) >>> 0;
  }
}

/**
 * Drops from a match the fields that cannot apply given its eth_type and ip_proto, as OVS does
 * before installing an OpenFlow match (ofputil_normalize_match): L3 addresses only for IPv4/ARP,
 * IPv6 fields only for IPv6, L4 ports only for TCP/UDP/SCTP/ICMP (and ICMPv6 over IPv6),
 * `ipv6_nd_target` only for neighbour solicitation/advertisement with `ipv6_nd_sll` only for
 * solicitations and `ipv6_nd_tll` only for advertisements (ARP keeps both), MPLS fields only for
 * MPLS, `ip_proto` only for IPv4/IPv6/ARP, TOS/TTL only for IP. `ipv6_exthdr` follows IPv6 and
 * `pbb_isid` follows eth_type 0x88e7 (fields OVS lacks). Values outside the resulting mask are
 * zeroed. Returns true when the mask changed (OVS logs "normalization changed ofp_match").
 */
export function normalizeMatch(key: FlowKey, mask: FlowKey): boolean {
  const before = Uint32Array.from(mask);
  const dlType = key[W.ETH_TYPE]! & mask[W.ETH_TYPE]! & 0xffff;
  const proto = key[W.NW]! & mask[W.NW]! & 0xff;
  const tpSrc = ((key[W.TP]! & mask[W.TP]!) >>> 16) & 0xffff;
  let nwAddr = false;
  let tp = false;
  let nwProto = false;
  let ipvx = false;
  let sha = false;
  let tha = false;
  let v6 = false;
  let nd = false;
  let mpls = false;
  if (dlType === ETH_TYPE.IP) {
    nwProto = ipvx = nwAddr = true;
    tp =
      proto === IPPROTO.TCP ||
      proto === IPPROTO.UDP ||
      proto === IPPROTO.SCTP ||
      proto === IPPROTO.ICMP;
  } else if (dlType === ETH_TYPE.IPV6) {
    nwProto = ipvx = v6 = true;
    if (proto === IPPROTO.TCP || proto === IPPROTO.UDP || proto === IPPROTO.SCTP) tp = true;
    else if (proto === IPPROTO.ICMPV6) {
      tp = true;
      if (tpSrc === 135) nd = sha = true;
      else if (tpSrc === 136) nd = tha = true;
    }
  } else if (dlType === ETH_TYPE.ARP || dlType === ETH_TYPE.RARP) {
    nwProto = nwAddr = sha = tha = true;
  } else if (dlType === ETH_TYPE.MPLS || dlType === ETH_TYPE.MPLS_MCAST) {
    mpls = true;
  }
  if (!nwAddr) mask[W.NW_SRC] = mask[W.NW_DST] = 0;
  if (!tp) mask[W.TP] = 0;
  if (!nwProto) mask[W.NW] = (mask[W.NW]! & ~0xff) >>> 0;
  if (!ipvx) mask[W.NW] = (mask[W.NW]! & ~0x00ffff00) >>> 0;
  if (!sha) mask[W.ARP_SHA] = mask[W.ARP_SHA + 1] = 0;
  if (!tha) mask[W.ARP_THA] = mask[W.ARP_THA + 1] = 0;
  if (!v6) {
    for (let i = 0; i < 4; i++) mask[W.IPV6_SRC + i] = mask[W.IPV6_DST + i] = 0;
    mask[W.IPV6_LABEL] = 0;
    mask[W.TCP_FLAGS] = mask[W.TCP_FLAGS]! & 0xffff;
  }
  if (!nd) for (let i = 0; i < 4; i++) mask[W.ND_TARGET + i] = 0;
  if (!mpls) mask[W.MPLS0] = mask[W.MPLS1] = mask[W.MPLS2] = 0;
  if (dlType !== ETH_TYPE.PBB) mask[W.PBB_ISID] = 0;
  maskKey(key, mask, key);
  return !keyEquals(before, mask);
}

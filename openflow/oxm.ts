/**
 * OXM (OpenFlow Extensible Match): one readonly descriptor per OpenFlow 1.3 basic field and one
 * generic loop that decodes, validates and encodes a match (`ofp_match`, type OXM) and the single
 * OXM TLV of a Set-Field action.
 *
 * Values: fields up to 6 bytes are `number`s (MAC addresses as 48-bit numbers), 8- and 16-byte
 * fields (metadata, tunnel_id, IPv6 addresses) are `bigint`s.
 *
 * Validation follows Open vSwitch 3.1 entry by entry, in list order: truncated TLV → BAD_LEN;
 * value bits outside the mask → BAD_WILDCARDS; unknown class/field or wrong length → BAD_FIELD;
 * a mask on a non-maskable field (other than all-ones/all-zeros) → BAD_MASK; an out-of-range
 * value → BAD_VALUE; a prerequisite not met by an *earlier* entry → BAD_PREREQ; a field seen
 * twice → DUP_FIELD.
 */
import { Reader, type Writer } from './bytes.js';
import { OfpError, type OfpErrorName } from './errors.js';

/** OXM class of the OpenFlow basic fields. */
export const OFPXMC_OPENFLOW_BASIC = 0x8000;
/** OXM classes of Nicira's NXM fields (OVS); recognised only to be rejected. */
export const OFPXMC_NXM_0 = 0x0000;
/** Second Nicira class. */
export const OFPXMC_NXM_1 = 0x0001;
/** Experimenter OXM class (header followed by a 32-bit experimenter id). */
export const OFPXMC_EXPERIMENTER = 0xffff;
/** Match type OXM. */
export const OFPMT_OXM = 1;
/** Match type STANDARD (OpenFlow 1.1; not supported). */
export const OFPMT_STANDARD = 0;

/** The 40 basic field names, in OXM field-number order (index = OFPXMT_OFB_*). */
export const OXM_FIELD_NAMES = [
  'in_port',
  'in_phy_port',
  'metadata',
  'eth_dst',
  'eth_src',
  'eth_type',
  'vlan_vid',
  'vlan_pcp',
  'ip_dscp',
  'ip_ecn',
  'ip_proto',
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
  'ipv6_nd_target',
  'ipv6_nd_sll',
  'ipv6_nd_tll',
  'mpls_label',
  'mpls_tc',
  'mpls_bos',
  'pbb_isid',
  'tunnel_id',
  'ipv6_exthdr',
] as const;

/** A basic OXM field name (the spec's OXM name lower-cased without `OFPXMT_OFB_`). */
export type OxmFieldName = (typeof OXM_FIELD_NAMES)[number];
/** A field value: number for fields up to 6 bytes, bigint for 8 and 16 bytes. */
export type OxmValue = number | bigint;

/**
 * A prerequisite on an earlier match entry. With `values`, the earlier entry must match exactly
 * one of them; with `bits`, the earlier entry's value and mask must both have those bits set;
 * with neither, the field only has to be present.
 */
export interface OxmPrereq {
  /** The field that must appear earlier in the match. */
  readonly field: OxmFieldName;
  /** Allowed exact values. */
  readonly values?: readonly number[];
  /** Bits that must be matched as 1. */
  readonly bits?: number;
}

/** The descriptor of one OXM basic field. */
export interface OxmFieldDesc {
  /** Canonical name, also the flow-key slot name of the packet parser. */
  readonly name: OxmFieldName;
  /** OXM class (0x8000). */
  readonly oxmClass: number;
  /** OXM field number (OFPXMT_OFB_*). */
  readonly field: number;
  /** Width on the wire in bytes (value only). */
  readonly bytes: number;
  /** Significant bits; a value with higher bits set is BAD_VALUE. */
  readonly bits: number;
  /** Whether the spec allows a mask. */
  readonly maskable: boolean;
  /** Prerequisites, all of which must hold (each given by an earlier entry). */
  readonly prerequisites: readonly OxmPrereq[];
  /** Whether a Set-Field action may write it. */
  readonly writable: boolean;
  /** Whether the spec requires switches to support it. */
  readonly required: boolean;
  /** JS representation of values. */
  readonly kind: 'number' | 'bigint';
  /** 32-bit OXM header of an unmasked entry. */
  readonly header: number;
  /** 32-bit OXM header of a masked entry (also defined for non-maskable fields). */
  readonly headerMasked: number;
}

const IP_ANY = [0x0800, 0x86dd] as const;
const ethIs = (...values: number[]): OxmPrereq => ({ field: 'eth_type', values });
const protoIs = (...values: number[]): OxmPrereq => ({ field: 'ip_proto', values });
const icmp6Is = (...values: number[]): OxmPrereq => ({ field: 'icmpv6_type', values });

type Spec = [
  bytes: number,
  bits: number,
  maskable: boolean,
  prereqs: OxmPrereq[],
  writable: boolean,
  required: boolean,
];
const SPECS: Record<OxmFieldName, Spec> = {
  in_port: [4, 32, false, [], false, true],
  in_phy_port: [4, 32, false, [{ field: 'in_port' }], false, false],
  metadata: [8, 64, true, [], true, false],
  eth_dst: [6, 48, true, [], true, true],
  eth_src: [6, 48, true, [], true, true],
  // As in OVS 3.1, set-field may not write eth_type or ip_proto (push/pop actions change them).
  eth_type: [2, 16, false, [], false, true],
  vlan_vid: [2, 13, true, [], true, false],
  vlan_pcp: [1, 3, false, [{ field: 'vlan_vid', bits: 0x1000 }], true, false],
  ip_dscp: [1, 6, false, [ethIs(...IP_ANY)], true, false],
  ip_ecn: [1, 2, false, [ethIs(...IP_ANY)], true, false],
  ip_proto: [1, 8, false, [ethIs(...IP_ANY)], false, true],
  ipv4_src: [4, 32, true, [ethIs(0x0800)], true, true],
  ipv4_dst: [4, 32, true, [ethIs(0x0800)], true, true],
  // OVS 3.1 accepts arbitrary masks on L4 ports (its table features say so); the spec does not.
  tcp_src: [2, 16, true, [ethIs(...IP_ANY), protoIs(6)], true, true],
  tcp_dst: [2, 16, true, [ethIs(...IP_ANY), protoIs(6)], true, true],
  udp_src: [2, 16, true, [ethIs(...IP_ANY), protoIs(17)], true, true],
  udp_dst: [2, 16, true, [ethIs(...IP_ANY), protoIs(17)], true, true],
  sctp_src: [2, 16, true, [ethIs(...IP_ANY), protoIs(132)], true, false],
  sctp_dst: [2, 16, true, [ethIs(...IP_ANY), protoIs(132)], true, false],
  icmpv4_type: [1, 8, false, [ethIs(0x0800), protoIs(1)], true, false],
  icmpv4_code: [1, 8, false, [ethIs(0x0800), protoIs(1)], true, false],
  // OVS keeps only 8 bits of the ARP opcode: a value above 255 is BAD_VALUE there too.
  arp_op: [2, 8, false, [ethIs(0x0806)], true, false],
  arp_spa: [4, 32, true, [ethIs(0x0806)], true, false],
  arp_tpa: [4, 32, true, [ethIs(0x0806)], true, false],
  arp_sha: [6, 48, true, [ethIs(0x0806)], true, false],
  arp_tha: [6, 48, true, [ethIs(0x0806)], true, false],
  ipv6_src: [16, 128, true, [ethIs(0x86dd)], true, true],
  ipv6_dst: [16, 128, true, [ethIs(0x86dd)], true, true],
  ipv6_flabel: [4, 20, true, [ethIs(0x86dd)], true, false],
  icmpv6_type: [1, 8, false, [ethIs(0x86dd), protoIs(58)], true, false],
  icmpv6_code: [1, 8, false, [ethIs(0x86dd), protoIs(58)], true, false],
  // OVS 3.1 accepts arbitrary masks on the ND fields (its table features say so); the spec does not.
  ipv6_nd_target: [16, 128, true, [icmp6Is(135, 136)], true, false],
  ipv6_nd_sll: [6, 48, true, [icmp6Is(135)], true, false],
  ipv6_nd_tll: [6, 48, true, [icmp6Is(136)], true, false],
  mpls_label: [4, 20, false, [ethIs(0x8847, 0x8848)], true, false],
  mpls_tc: [1, 3, false, [ethIs(0x8847, 0x8848)], true, false],
  mpls_bos: [1, 1, false, [ethIs(0x8847, 0x8848)], false, false],
  pbb_isid: [3, 24, true, [ethIs(0x88e7)], true, false],
  tunnel_id: [8, 64, true, [], true, false],
  ipv6_exthdr: [2, 9, true, [ethIs(0x86dd)], false, false],
};

/** All 40 descriptors, indexed by OXM field number. */
export const OXM_FIELDS: readonly OxmFieldDesc[] = OXM_FIELD_NAMES.map((name, field) => {
  const [bytes, bits, maskable, prerequisites, writable, required] = SPECS[name];
  return Object.freeze({
    name,
    oxmClass: OFPXMC_OPENFLOW_BASIC,
    field,
    bytes,
    bits,
    maskable,
    prerequisites: Object.freeze(prerequisites),
    writable,
    required,
    kind: bytes > 6 ? 'bigint' : 'number',
    header: ((OFPXMC_OPENFLOW_BASIC << 16) | (field << 9) | bytes) >>> 0,
    headerMasked: ((OFPXMC_OPENFLOW_BASIC << 16) | (field << 9) | 0x100 | (bytes * 2)) >>> 0,
  } as const);
});

/** Descriptor by canonical name. */
export const OXM_BY_NAME: Readonly<Record<OxmFieldName, OxmFieldDesc>> = Object.fromEntries(
  OXM_FIELDS.map((d) => [d.name, d]),
) as Record<OxmFieldName, OxmFieldDesc>;

/** One OXM TLV of a match; `mask` is present only when the TLV has its has-mask bit set. */
export interface OxmEntry {
  /** Field name. */
  field: OxmFieldName;
  /** Value (number or bigint per the descriptor's kind). */
  value: OxmValue;
  /** Mask, when the TLV carried one. */
  mask?: OxmValue;
}

/** A decoded match: the OXM TLVs in wire order (order is kept for exact read-back). */
export type Match = OxmEntry[];

/** All-ones value of a field's width. */
export function fullMask(d: OxmFieldDesc): OxmValue {
  return d.kind === 'bigint' ? (1n << BigInt(d.bytes * 8)) - 1n : 2 ** (d.bytes * 8) - 1;
}

function readValue(r: Reader, bytes: number): OxmValue {
  switch (bytes) {
    case 1:
      return r.u8();
    case 2:
      return r.u16();
    case 3:
      return r.u24();
    case 4:
      return r.u32();
    case 6:
      return r.u48();
    case 8:
      return r.u64();
    default:
      return r.u128();
  }
}

/** Writes a field value of `bytes` width. */
export function writeValue(w: Writer, bytes: number, v: OxmValue): void {
  switch (bytes) {
    case 1:
      w.u8(Number(v));
      return;
    case 2:
      w.u16(Number(v));
      return;
    case 3:
      w.u24(Number(v));
      return;
    case 4:
      w.u32(Number(v));
      return;
    case 6:
      w.u48(Number(v));
      return;
    case 8:
      w.u64(BigInt(v));
      return;
    default:
      w.u128(BigInt(v));
  }
}

function exceedsBits(d: OxmFieldDesc, v: OxmValue): boolean {
  if (d.bits === d.bytes * 8) return false;
  if (typeof v === 'bigint') return v >> BigInt(d.bits) !== 0n;
  return v >= 2 ** d.bits;
}

function isAllOnes(d: OxmFieldDesc, v: OxmValue): boolean {
  return v === fullMask(d);
}

function isZero(v: OxmValue): boolean {
  return v === 0 || v === 0n;
}

function validValue(d: OxmFieldDesc, v: OxmValue): boolean {
  if (exceedsBits(d, v)) return false;
  if (d.field <= 1) {
    // in_port / in_phy_port: OVS cannot represent 0xff00..0xfffffeff (BAD_VALUE); the reserved
    // numbers from OFPP_MAX up map onto its 16-bit reserved ports and are accepted.
    const n = v as number;
    if (n >= 0xff00 && n < 0xffffff00) return false;
  }
  return true;
}

/** Context of an OXM decode: errors differ between a match and a Set-Field action. */
type OxmCtx = 'match' | 'setfield';

const ERR: Record<OxmCtx, Record<'len' | 'field' | 'mask' | 'value' | 'wild', OfpErrorName>> = {
  match: {
    len: 'OFPBMC_BAD_LEN',
    field: 'OFPBMC_BAD_FIELD',
    mask: 'OFPBMC_BAD_MASK',
    value: 'OFPBMC_BAD_VALUE',
    wild: 'OFPBMC_BAD_WILDCARDS',
  },
  setfield: {
    len: 'OFPBAC_BAD_SET_LEN',
    field: 'OFPBAC_BAD_SET_TYPE',
    mask: 'OFPBAC_BAD_SET_MASK',
    value: 'OFPBAC_BAD_SET_ARGUMENT',
    wild: 'OFPBAC_BAD_SET_MASK',
  },
};

/**
 * Decodes one OXM TLV at `r.pos`, checking lengths, the field table, masks and the value.
 * Prerequisites and duplicates are the caller's (they depend on the surrounding list).
 */
export function decodeOxmEntry(r: Reader, ctx: OxmCtx = 'match'): OxmEntry {
  const e = ERR[ctx];
  if (r.remaining < 4) throw new OfpError(e.len, 'partial OXM header');
  const header = r.view.getUint32(r.pos);
  const cls = header >>> 16;
  const fieldNo = (header >>> 9) & 0x7f;
  const hasMask = (header & 0x100) !== 0;
  const len = header & 0xff;
  let hdrLen = 4;
  if (cls === OFPXMC_EXPERIMENTER) {
    if (r.remaining < 8 || len < 4) throw new OfpError(e.len, 'partial experimenter OXM');
    hdrLen = 8;
  }
  const payloadLen = len - (hdrLen - 4);
  if (r.remaining < hdrLen + payloadLen) throw new OfpError(e.len, 'OXM payload truncated');
  const start = r.pos + hdrLen;
  if (hasMask) {
    const width = payloadLen >>> 1;
    const buf = r.buf;
    for (let i = 0; i < width; i++) {
      if ((buf[start + i]! & ~buf[start + width + i]!) !== 0) {
        throw new OfpError(e.wild, 'value bits outside mask');
      }
    }
  }
  const d = cls === OFPXMC_OPENFLOW_BASIC ? OXM_FIELDS[fieldNo] : undefined;
  if (!d || len !== (hasMask ? d.bytes * 2 : d.bytes)) {
    r.pos = start + payloadLen;
    throw new OfpError(e.field, `unknown OXM 0x${header.toString(16).padStart(8, '0')}`);
  }
  r.pos = start;
  const value = readValue(r, d.bytes);
  let mask: OxmValue | undefined;
  if (hasMask) {
    mask = readValue(r, d.bytes);
    if (ctx === 'setfield') throw new OfpError('OFPBAC_BAD_SET_MASK', d.name);
    if (!d.maskable && !isAllOnes(d, mask) && !isZero(mask)) {
      throw new OfpError(e.mask, `${d.name} is not maskable`);
    }
  }
  if (ctx === 'setfield' && !d.writable) throw new OfpError(e.value, `${d.name} not writable`);
  if (!validValue(d, value)) throw new OfpError(e.value, `bad ${d.name} value`);
  return mask === undefined ? { field: d.name, value } : { field: d.name, value, mask };
}

/** Encodes one OXM TLV (no validation). */
export function encodeOxmEntry(w: Writer, e: OxmEntry): void {
  const d = OXM_BY_NAME[e.field];
  if (e.mask === undefined) {
    w.u32(d.header);
    writeValue(w, d.bytes, e.value);
  } else {
    w.u32(d.headerMasked);
    writeValue(w, d.bytes, e.value);
    writeValue(w, d.bytes, e.mask);
  }
}

/** Wire length of one OXM TLV. */
export function oxmEntryLength(e: OxmEntry): number {
  const d = OXM_BY_NAME[e.field];
  return 4 + (e.mask === undefined ? d.bytes : d.bytes * 2);
}

function findEntry(
  list: readonly OxmEntry[],
  n: number,
  field: OxmFieldName,
): OxmEntry | undefined {
  for (let i = 0; i < n; i++) if (list[i]!.field === field) return list[i];
  return undefined;
}

function prereqMet(p: OxmPrereq, list: readonly OxmEntry[], n: number): boolean {
  const e = findEntry(list, n, p.field);
  if (!e) return false;
  const d = OXM_BY_NAME[p.field];
  if (p.values) {
    if (e.mask !== undefined && !isAllOnes(d, e.mask)) return false;
    return p.values.includes(e.value as number);
  }
  if (p.bits !== undefined) {
    const m = e.mask === undefined ? fullMask(d) : e.mask;
    return ((e.value as number) & (m as number) & p.bits) === p.bits;
  }
  return e.mask === undefined || !isZero(e.mask);
}

/**
 * Checks prerequisites and duplicates of a list of entries (what {@link decodeMatch} does while
 * decoding); useful for matches built in code. Throws BAD_PREREQ / DUP_FIELD.
 */
export function validateMatch(match: readonly OxmEntry[]): void {
  let seenLo = 0;
  let seenHi = 0;
  for (let i = 0; i < match.length; i++) {
    const f = OXM_BY_NAME[match[i]!.field].field;
    checkEntry(match, i);
    if (f < 30) {
      if ((seenLo & (1 << f)) !== 0) throw new OfpError('OFPBMC_DUP_FIELD', match[i]!.field);
      seenLo |= 1 << f;
    } else {
      if ((seenHi & (1 << (f - 30))) !== 0) {
        throw new OfpError('OFPBMC_DUP_FIELD', match[i]!.field);
      }
      seenHi |= 1 << (f - 30);
    }
  }
}

/** Checks the prerequisites of `list[i]` against `list[0..i)`. */
function checkEntry(list: readonly OxmEntry[], i: number): void {
  const d = OXM_BY_NAME[list[i]!.field];
  const pre = d.prerequisites;
  for (let k = 0; k < pre.length; k++) {
    if (!prereqMet(pre[k]!, list, i)) {
      throw new OfpError('OFPBMC_BAD_PREREQ', `${d.name} needs ${pre[k]!.field}`);
    }
  }
}

/** Frozen exact entries of narrow fields (eth_type=0x0800, ip_proto=6, ...), by field and value. */
const SHARED_ENTRIES = new Map<number, OxmEntry>();
const SHARED_ENTRIES_MAX = 4096;

/**
 * The one shared, frozen copy of an exact (unmasked) entry of a field of at most 2 bytes, so that
 * 100 000 matches on `ip` hold one `eth_type=0x0800` entry; other entries are returned as they
 * are. Decoded matches must never be modified.
 */
function sharedEntry(e: OxmEntry): OxmEntry {
  if (e.mask !== undefined || typeof e.value !== 'number') return e;
  const d = OXM_BY_NAME[e.field];
  if (d.bytes > 2) return e;
  const k = d.field * 65536 + e.value;
  const hit = SHARED_ENTRIES.get(k);
  if (hit !== undefined) return hit;
  if (SHARED_ENTRIES.size >= SHARED_ENTRIES_MAX) SHARED_ENTRIES.clear();
  SHARED_ENTRIES.set(k, Object.freeze(e));
  return e;
}

/**
 * Decodes an `ofp_match` at `r.pos` (type, length, OXM TLVs, padding to 8) and validates it.
 * Leaves `r.pos` after the padding.
 */
export function decodeMatch(r: Reader): Match {
  if (r.remaining < 4) throw new OfpError('OFPBMC_BAD_LEN', 'partial match header');
  const type = r.view.getUint16(r.pos);
  const length = r.view.getUint16(r.pos + 2);
  if (length < 4) throw new OfpError('OFPBMC_BAD_LEN', 'match length < 4');
  if (type === OFPMT_STANDARD && length !== 88) {
    throw new OfpError('OFPBMC_BAD_LEN', 'standard match of wrong length');
  }
  if (type !== OFPMT_OXM) throw new OfpError('OFPBMC_BAD_TYPE', `match type ${type}`);
  const padded = (length + 7) & ~7;
  if (r.remaining < padded) throw new OfpError('OFPBMC_BAD_LEN', 'match longer than message');
  const end = r.pos + length;
  const sub = r.sub(r.pos + 4, end, 'OFPBMC_BAD_LEN');
  r.pos += padded;
  const out: Match = [];
  let seenLo = 0;
  let seenHi = 0;
  while (sub.pos < end) {
    const e = sharedEntry(decodeOxmEntry(sub, 'match'));
    out.push(e);
    checkEntry(out, out.length - 1);
    const f = OXM_BY_NAME[e.field].field;
    if (f < 30) {
      if ((seenLo & (1 << f)) !== 0) throw new OfpError('OFPBMC_DUP_FIELD', e.field);
      seenLo |= 1 << f;
    } else {
      if ((seenHi & (1 << (f - 30))) !== 0) throw new OfpError('OFPBMC_DUP_FIELD', e.field);
      seenHi |= 1 << (f - 30);
    }
  }
  // A copy of exact capacity: a pushed-to array keeps room for 17 elements, and decoded
  // matches and instructions live as long as their rule.
  return out.slice();
}

/** Wire length of a match including padding. */
export function matchLength(m: readonly OxmEntry[]): number {
  let n = 4;
  for (const e of m) n += oxmEntryLength(e);
  return (n + 7) & ~7;
}

/** Encodes an `ofp_match` (type OXM) with padding to 8. */
export function encodeMatch(w: Writer, m: readonly OxmEntry[]): void {
  const start = w.pos;
  w.u16(OFPMT_OXM);
  w.u16(0);
  for (const e of m) encodeOxmEntry(w, e);
  w.setU16(start + 2, w.pos - start);
  w.pad8(start);
}

/** Decodes a bare OXM TLV from bytes (helper for tests and tools). */
export function decodeOxmBytes(bytes: Uint8Array, ctx: OxmCtx = 'match'): OxmEntry {
  const r = new Reader(bytes, 0, bytes.length, ERR[ctx].len);
  return decodeOxmEntry(r, ctx);
}

/** An OXM id (header only) as listed in table-features properties; any class is kept. */
export interface OxmId {
  /** The 32-bit OXM header (class, field, has-mask, length). */
  header: number;
  /** Experimenter id when the class is 0xffff. */
  experimenter?: number;
}

/** Describes an OXM id for printing: a basic field's name, else the raw header. */
export function oxmIdName(id: OxmId): string {
  const cls = id.header >>> 16;
  const f = (id.header >>> 9) & 0x7f;
  const d = cls === OFPXMC_OPENFLOW_BASIC ? OXM_FIELDS[f] : undefined;
  if (d) return d.name + ((id.header & 0x100) !== 0 ? '/masked' : '');
  return `0x${id.header.toString(16).padStart(8, '0')}`;
}

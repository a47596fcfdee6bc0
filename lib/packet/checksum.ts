/**
 * Internet checksums (RFC 1071), their incremental update (RFC 1624), the TCP/UDP/ICMPv6
 * pseudo-header sums, and CRC32c for SCTP (RFC 4960 appendix B). All functions work on
 * `Uint8Array` ranges and allocate nothing.
 *
 * Conventions: a "sum" is an unfolded 32-bit-ish accumulator of 16-bit big-endian words (as
 * returned by {@link onesSum}); a "checksum" is the final 16-bit value written to the header
 * (the complement of the folded sum).
 */

/**
 * Adds the bytes `b[off .. off+len)` as big-endian 16-bit words to `sum` (an odd trailing byte
 * is padded with zero) and returns the new, unfolded sum. The result stays below 2^31 for any
 * `len` up to 64 KiB with `sum` folded first, so callers may chain calls.
 */
export function onesSum(b: Uint8Array, off: number, len: number, sum = 0): number {
  let s = sum;
  const end = off + len;
  let i = off;
  for (; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < end) s += b[i]! << 8;
  // Fold occasionally to keep the accumulator small for big buffers.
  return s > 0x3fffffff ? fold(s) : s;
}

/** Folds a sum to 16 bits (end-around carry), without complementing. */
export function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}

/** Final checksum of a sum: fold and complement (16 bits). */
export function finishChecksum(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** The Internet checksum of `b[off .. off+len)`. */
export function checksum(b: Uint8Array, off: number, len: number): number {
  return finishChecksum(onesSum(b, off, len));
}

function get16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

/**
 * Computes and writes the IPv4 header checksum of the header at `off` (its length taken from
 * the IHL field). Returns the checksum.
 */
export function setIPv4HeaderChecksum(b: Uint8Array, off: number): number {
  const ihl = (b[off]! & 0x0f) * 4;
  put16(b, off + 10, 0);
  const c = checksum(b, off, ihl);
  put16(b, off + 10, c);
  return c;
}

/** True when the IPv4 header at `off` has a correct checksum. */
export function verifyIPv4HeaderChecksum(b: Uint8Array, off: number): boolean {
  const ihl = (b[off]! & 0x0f) * 4;
  return fold(onesSum(b, off, ihl)) === 0xffff;
}

/**
 * Pseudo-header sum for an L4 checksum over IPv4 (RFC 793/768): source and destination address
 * of the IPv4 header at `l3`, protocol, and `l4Len`.
 */
export function pseudoSumV4(b: Uint8Array, l3: number, proto: number, l4Len: number): number {
  return onesSum(b, l3 + 12, 8) + proto + l4Len;
}

/** Pseudo-header sum over IPv6 (RFC 8200 section 8.1) for the IPv6 header at `l3`. */
export function pseudoSumV6(b: Uint8Array, l3: number, proto: number, l4Len: number): number {
  return onesSum(b, l3 + 8, 32) + proto + (l4Len >>> 16) + (l4Len & 0xffff);
}

/** Offset of the checksum field within the L4 header for `proto`, or -1 if it has none. */
export function l4ChecksumOffset(proto: number): number {
  switch (proto) {
    case 6:
      return 16; // TCP
    case 17:
      return 6; // UDP
    case 1:
    case 2:
    case 58:
      return 2; // ICMP, IGMP, ICMPv6
    default:
      return -1;
  }
}

/**
 * Computes and writes the checksum of the L4 segment `b[l4 .. l4+l4Len)` of protocol `proto`
 * (TCP, UDP, ICMP, IGMP or ICMPv6) carried in the IPv4 (`v6 = false`) or IPv6 header at `l3`.
 * ICMP and IGMP over IPv4 have no pseudo-header. A UDP checksum that computes to 0 is written as
 * 0xffff. Returns the checksum written, or -1 for an unknown protocol.
 */
export function setL4Checksum(
  b: Uint8Array,
  l3: number,
  l4: number,
  l4Len: number,
  proto: number,
  v6: boolean,
): number {
  const co = l4ChecksumOffset(proto);
  if (co < 0) return -1;
  put16(b, l4 + co, 0);
  let sum = onesSum(b, l4, l4Len);
  if (v6) sum += pseudoSumV6(b, l3, proto, l4Len);
  else if (proto !== 1 && proto !== 2) sum += pseudoSumV4(b, l3, proto, l4Len);
  let c = finishChecksum(sum);
  if (proto === 17 && c === 0) c = 0xffff;
  put16(b, l4 + co, c);
  return c;
}

/** True when the L4 segment's checksum verifies (see {@link setL4Checksum} for arguments). */
export function verifyL4Checksum(
  b: Uint8Array,
  l3: number,
  l4: number,
  l4Len: number,
  proto: number,
  v6: boolean,
): boolean {
  const co = l4ChecksumOffset(proto);
  if (co < 0) return false;
  if (proto === 17 && !v6 && get16(b, l4 + co) === 0) return true; // UDP/IPv4: no checksum.
  let sum = onesSum(b, l4, l4Len);
  if (v6) sum += pseudoSumV6(b, l3, proto, l4Len);
  else if (proto !== 1 && proto !== 2) sum += pseudoSumV4(b, l3, proto, l4Len);
  return fold(sum) === 0xffff;
}

/**
 * RFC 1624 equation 3: the new checksum after one 16-bit word covered by checksum `csum`
 * changes from `oldWord` to `newWord`: HC' = ~(~HC + ~m + m').
 */
export function csumUpdate16(csum: number, oldWord: number, newWord: number): number {
  const s = (~csum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~fold(s) & 0xffff;
}

/** As {@link csumUpdate16} for a 32-bit value (e.g. an IPv4 address in a TCP pseudo-header). */
export function csumUpdate32(csum: number, oldValue: number, newValue: number): number {
  const s =
    (~csum & 0xffff) +
    (~(oldValue >>> 16) & 0xffff) +
    (~oldValue & 0xffff) +
    ((newValue >>> 16) & 0xffff) +
    (newValue & 0xffff);
  return ~fold(s) & 0xffff;
}

/**
 * As {@link csumUpdate16} for a run of bytes (even length, e.g. a MAC or an IPv6 address): the
 * old bytes `oldB[oOff .. oOff+len)` are replaced by `newB[nOff .. nOff+len)`.
 */
export function csumUpdateBytes(
  csum: number,
  oldB: Uint8Array,
  oOff: number,
  newB: Uint8Array,
  nOff: number,
  len: number,
): number {
  let s = ~csum & 0xffff;
  for (let i = 0; i + 1 < len; i += 2) {
    s += ~get16(oldB, oOff + i) & 0xffff;
    s += get16(newB, nOff + i);
  }
  return ~fold(s) & 0xffff;
}

let crcTable: Uint32Array | undefined;

function crc32cTable(): Uint32Array {
  if (crcTable) return crcTable;
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  crcTable = t;
  return t;
}

/** CRC32c (Castagnoli) of `b[off .. off+len)`, as SCTP uses it. */
export function crc32c(b: Uint8Array, off: number, len: number): number {
  const t = crc32cTable();
  let c = 0xffffffff;
  for (let i = off; i < off + len; i++) c = t[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * Computes and writes the SCTP checksum of the packet `b[l4 .. l4+len)` (the 32-bit field at
 * offset 8, stored least significant byte first as RFC 4960 requires). Returns it.
 */
export function setSctpChecksum(b: Uint8Array, l4: number, len: number): number {
  b[l4 + 8] = b[l4 + 9] = b[l4 + 10] = b[l4 + 11] = 0;
  const c = crc32c(b, l4, len);
  b[l4 + 8] = c & 0xff;
  b[l4 + 9] = (c >>> 8) & 0xff;
  b[l4 + 10] = (c >>> 16) & 0xff;
  b[l4 + 11] = c >>> 24;
  return c;
}

/** True when the SCTP packet's CRC32c verifies. */
export function verifySctpChecksum(b: Uint8Array, l4: number, len: number): boolean {
  const stored = (b[l4 + 8]! | (b[l4 + 9]! << 8) | (b[l4 + 10]! << 16) | (b[l4 + 11]! << 24)) >>> 0;
  const save = stored;
  b[l4 + 8] = b[l4 + 9] = b[l4 + 10] = b[l4 + 11] = 0;
  const c = crc32c(b, l4, len);
  b[l4 + 8] = save & 0xff;
  b[l4 + 9] = (save >>> 8) & 0xff;
  b[l4 + 10] = (save >>> 16) & 0xff;
  b[l4 + 11] = save >>> 24;
  return c === stored;
}

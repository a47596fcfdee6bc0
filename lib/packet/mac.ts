/**
 * Ethernet MAC address helpers. In a flow key a MAC is two words: `hi` (the first two octets,
 * 16 bits) and `lo` (the last four octets, 32 bits).
 */

const HEX = '0123456789abcdef';

function hex2(b: number): string {
  return HEX[(b >>> 4) & 0xf]! + HEX[b & 0xf]!;
}

/** Formats a MAC held as (hi16, lo32) as `xx:xx:xx:xx:xx:xx` (lower case, as OVS prints). */
export function formatMac(hi: number, lo: number): string {
  return (
    hex2(hi >>> 8) +
    ':' +
    hex2(hi) +
    ':' +
    hex2(lo >>> 24) +
    ':' +
    hex2(lo >>> 16) +
    ':' +
    hex2(lo >>> 8) +
    ':' +
    hex2(lo)
  );
}

/** Formats six bytes at `off` of `b` as `xx:xx:xx:xx:xx:xx`. */
export function formatMacBytes(b: Uint8Array, off = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(hex2(b[off + i] ?? 0));
  return parts.join(':');
}

/**
 * Parses `xx:xx:xx:xx:xx:xx` (also `-` separated, one or two hex digits per octet) into
 * `[hi16, lo32]`; returns undefined when `s` is not a MAC address.
 */
export function parseMac(s: string): [number, number] | undefined {
  const parts = s.split(/[:-]/);
  if (parts.length !== 6) return undefined;
  const b: number[] = [];
  for (const p of parts) {
    if (!/^[0-9a-fA-F]{1,2}$/.test(p)) return undefined;
    b.push(parseInt(p, 16));
  }
  return [
    ((b[0]! << 8) | b[1]!) >>> 0,
    ((b[2]! << 24) | (b[3]! << 16) | (b[4]! << 8) | b[5]!) >>> 0,
  ];
}

/** True when the MAC (hi16, lo32) is a multicast (or broadcast) address. */
export function macIsMulticast(hi: number): boolean {
  return (hi & 0x0100) !== 0;
}

/** True when the MAC (hi16, lo32) is ff:ff:ff:ff:ff:ff. */
export function macIsBroadcast(hi: number, lo: number): boolean {
  return (hi & 0xffff) === 0xffff && lo >>> 0 === 0xffffffff;
}

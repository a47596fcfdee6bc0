/**
 * Small helpers shared by the sans-I/O protocol machines (BFD, STP, later RSTP, LACP, LLDP):
 * Ethernet address and IPv4 address text forms, big-endian field access, the Internet checksum,
 * and OVS-style parsing of string-to-string configuration maps (`smap_get_bool`, `smap_get_int`).
 *
 * Only lib/ may be imported from protocols/; nothing here does I/O.
 */
import { checksum } from '../lib/packet/checksum.js';
import { formatIPv4, parseIPv4 } from '../lib/packet/ip.js';
import { formatMacBytes } from '../lib/packet/mac.js';

/** A string-to-string map as OVSDB `map<string,string>` columns hold (other_config, bfd, …). */
export type StringMap = Readonly<Record<string, string | undefined>>;

/** Length of an Ethernet address in bytes. */
export const ETH_ADDR_LEN = 6;
/** Length of an untagged Ethernet header in bytes. */
export const ETH_HEADER_LEN = 14;
/** Ethertypes used by the protocol machines. */
export const ETH_TYPE = {
  IPV4: 0x0800,
  VLAN_8021Q: 0x8100,
  VLAN_8021AD: 0x88a8,
  /** Values below this in the type field are 802.3 lengths, not Ethertypes. */
  MIN_ETHERTYPE: 0x0600,
} as const;

/**
 * Parses `xx:xx:xx:xx:xx:xx` (hex digits, one or two per group, case-insensitive) into 6 bytes.
 * Returns undefined for anything else (OVS's `eth_addr_from_string` is as strict).
 */
export function parseMac(text: string): Uint8Array | undefined {
  const parts = text.trim().split(':');
  if (parts.length !== 6) return undefined;
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) {
    const p = parts[i] ?? '';
    if (!/^[0-9a-fA-F]{1,2}$/.test(p)) return undefined;
    out[i] = parseInt(p, 16);
  }
  return out;
}

/** Formats 6 bytes as `xx:xx:xx:xx:xx:xx` in lower case. */
export function formatMac(mac: Uint8Array): string {
  return formatMacBytes(mac);
}

/** True when all 6 bytes of `mac` are zero. */
export function macIsZero(mac: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if ((mac[i] ?? 0) !== 0) return false;
  return true;
}

/** True when the first 6 bytes of `a` at `aOff` equal those of `b`. */
export function macEquals(a: Uint8Array, b: Uint8Array, aOff = 0): boolean {
  for (let i = 0; i < 6; i++) if (a[aOff + i] !== b[i]) return false;
  return true;
}

/** A MAC address as a 48-bit bigint (first byte most significant). */
export function macToBigInt(mac: Uint8Array): bigint {
  let v = 0n;
  for (let i = 0; i < 6; i++) v = (v << 8n) | BigInt(mac[i] ?? 0);
  return v;
}

/** The low 48 bits of `v` as a MAC address. */
export function bigIntToMac(v: bigint): Uint8Array {
  const out = new Uint8Array(6);
  for (let i = 5; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/**
 * Parses dotted-quad IPv4 text (`169.254.1.1`) into an unsigned 32-bit number. Returns
 * undefined for anything else (no short forms, no leading `+`, each octet 0–255).
 */
export function parseIpv4(text: string): number | undefined {
  return parseIPv4(text.trim());
}

/** Formats an unsigned 32-bit IPv4 address as dotted-quad text. */
export function formatIpv4(addr: number): string {
  return formatIPv4(addr);
}

/** Reads a big-endian 16-bit field; the caller guarantees the bytes exist. */
export function getU16(b: Uint8Array, off: number): number {
  return ((b[off] ?? 0) << 8) | (b[off + 1] ?? 0);
}

/** Reads a big-endian unsigned 32-bit field; the caller guarantees the bytes exist. */
export function getU32(b: Uint8Array, off: number): number {
  return (
    (((b[off] ?? 0) << 24) |
      ((b[off + 1] ?? 0) << 16) |
      ((b[off + 2] ?? 0) << 8) |
      (b[off + 3] ?? 0)) >>>
    0
  );
}

/** Reads a big-endian unsigned 64-bit field as a bigint. */
export function getU64(b: Uint8Array, off: number): bigint {
  return (BigInt(getU32(b, off)) << 32n) | BigInt(getU32(b, off + 4));
}

/** Writes a big-endian 16-bit field. */
export function putU16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

/** Writes a big-endian 32-bit field. */
export function putU32(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 0xff;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

/** Writes a big-endian 64-bit field from a bigint (taken modulo 2^64). */
export function putU64(b: Uint8Array, off: number, v: bigint): void {
  const x = BigInt.asUintN(64, v);
  putU32(b, off, Number(x >> 32n));
  putU32(b, off + 4, Number(x & 0xffffffffn));
}

/** The Internet checksum (RFC 1071) of `len` bytes of `b` from `off`, as a 16-bit number. */
export function inetChecksum(b: Uint8Array, off: number, len: number): number {
  return checksum(b, off, len);
}

/**
 * OVS's `smap_get_bool`: true only for the exact string `true`, false for `false`, the default
 * when the key is absent; any other text counts as false, as in OVS.
 */
export function smapGetBool(map: StringMap, key: string, def: boolean): boolean {
  const v = map[key];
  if (v === undefined) return def;
  return v === 'true';
}

/**
 * OVS's `smap_get_int`: the key parsed as a decimal integer, or the default when the key is absent
 * or does not parse as an integer.
 */
export function smapGetInt(map: StringMap, key: string, def: number): number {
  const v = map[key];
  if (v === undefined) return def;
  const t = v.trim();
  if (!/^[+-]?\d+$/.test(t)) return def;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : def;
}

/**
 * `strtoul(text, NULL, 0)`-like integer parse accepting decimal, `0x` hex and leading-zero octal,
 * as OVS uses for stp-port-num and stp-port-priority. Returns undefined when nothing parses.
 */
export function parseCInteger(text: string): number | undefined {
  const t = text.trim();
  if (/^0[xX][0-9a-fA-F]+$/.test(t)) return parseInt(t.slice(2), 16);
  if (/^0[0-7]+$/.test(t)) return parseInt(t.slice(1), 8);
  if (/^\d+$/.test(t)) return Number(t);
  return undefined;
}

/**
 * IPv4 and IPv6 address helpers. An IPv4 address is a uint32 whose most significant byte is
 * the first octet; an IPv6 address is four such words, most significant first (as in a flow key).
 */

/** Formats a uint32 IPv4 address as dotted decimal. */
export function formatIPv4(a: number): string {
  return `${(a >>> 24) & 0xff}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/** Parses dotted-decimal IPv4 (four decimal octets) into a uint32, or undefined. */
export function parseIPv4(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v >>> 0;
}

/** Number of leading one bits when `m` (uint32) is a CIDR mask, else -1. */
export function ipv4CidrBits(m: number): number {
  m >>>= 0;
  const inv = ~m >>> 0;
  if ((inv & (inv + 1)) !== 0) return -1;
  let n = 0;
  while (n < 32 && ((m >>> (31 - n)) & 1) === 1) n++;
  return n;
}

/** The uint32 IPv4 mask with `bits` leading ones (0..32). */
export function ipv4Mask(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

/**
 * Formats an IPv6 address given as four words the way inet_ntop does (RFC 5952: lower case,
 * leading zeros dropped, the longest run of two or more zero groups as `::`, leftmost on ties;
 * `::ffff:a.b.c.d` and `::a.b.c.d` forms for IPv4-mapped / IPv4-compatible addresses).
 */
export function formatIPv6(w: ArrayLike<number>, off = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 4; i++) {
    const v = (w[off + i] ?? 0) >>> 0;
    g.push(v >>> 16, v & 0xffff);
  }
  // Longest run of zero groups (length >= 2).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  // inet_ntop prints an embedded IPv4 for ::ffff:a.b.c.d and ::a.b.c.d.
  const v4 = bestStart === 0 && (bestLen === 6 || (bestLen === 5 && g[5] === 0xffff));
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (bestStart >= 0 && i >= bestStart && i < bestStart + bestLen) {
      if (i === bestStart) s += ':';
      continue;
    }
    if (i !== 0) s += ':';
    if (i === 6 && v4) {
      s += formatIPv4(((g[6]! << 16) | g[7]!) >>> 0);
      break;
    }
    s += g[i]!.toString(16);
  }
  if (bestStart >= 0 && bestStart + bestLen === 8) s += ':';
  return s;
}

/** Parses an IPv6 address (RFC 4291 text forms, including `::` and a trailing dotted IPv4) into `out[off..off+4)`; false when invalid. */
export function parseIPv6Into(s: string, out: Uint32Array, off = 0): boolean {
  if (s.length === 0 || s.length > 45) return false;
  let head = s;
  let v4: number | undefined;
  const lastColon = s.lastIndexOf(':');
  if (lastColon >= 0 && s.indexOf('.', lastColon) > lastColon) {
    v4 = parseIPv4(s.slice(lastColon + 1));
    if (v4 === undefined) return false;
    head = s.slice(0, lastColon + 1);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const groupsWanted = v4 === undefined ? 8 : 6;
  const dbl = head.indexOf('::');
  if (dbl !== head.lastIndexOf('::')) return false;
  const parseGroups = (t: string): number[] | undefined => {
    if (t === '') return [];
    const r: number[] = [];
    for (const p of t.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
      r.push(parseInt(p, 16));
    }
    return r;
  };
  let groups: number[];
  if (dbl >= 0) {
    const a = parseGroups(head.slice(0, dbl));
    const b = parseGroups(head.slice(dbl + 2));
    if (!a || !b || a.length + b.length > groupsWanted - 1) return false;
    groups = [...a, ...new Array<number>(groupsWanted - a.length - b.length).fill(0), ...b];
  } else {
    const a = parseGroups(head);
    if (!a || a.length !== groupsWanted) return false;
    groups = a;
  }
  if (v4 !== undefined) groups.push(v4 >>> 16, v4 & 0xffff);
  for (let i = 0; i < 4; i++) out[off + i] = ((groups[2 * i]! << 16) | groups[2 * i + 1]!) >>> 0;
  return true;
}

/** Parses an IPv6 address into four words, or undefined. */
export function parseIPv6(s: string): Uint32Array | undefined {
  const out = new Uint32Array(4);
  return parseIPv6Into(s, out) ? out : undefined;
}

/** Number of leading one bits when the 4-word mask is a CIDR mask, else -1. */
export function ipv6CidrBits(m: ArrayLike<number>, off = 0): number {
  let n = 0;
  let ended = false;
  for (let i = 0; i < 4; i++) {
    const w = (m[off + i] ?? 0) >>> 0;
    if (ended) {
      if (w !== 0) return -1;
      continue;
    }
    const b = ipv4CidrBits(w);
    if (b < 0) return -1;
    n += b;
    if (b < 32) ended = true;
  }
  return n;
}

/** Writes the IPv6 CIDR mask with `bits` leading ones into `out[off..off+4)`. */
export function ipv6MaskInto(bits: number, out: Uint32Array, off = 0): void {
  for (let i = 0; i < 4; i++) out[off + i] = ipv4Mask(bits - 32 * i);
}

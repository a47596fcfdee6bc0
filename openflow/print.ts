/**
 * Print and parse helpers for codec values: MAC, IPv4 and IPv6 addresses in the numeric forms the
 * codec uses, hex for byte arrays, and {@link toJsonable} to turn any decoded message into plain
 * JSON (bigint → decimal string, Uint8Array → hex string) for logs, golden files and appctl.
 */

/** Formats a 48-bit MAC number as `aa:bb:cc:dd:ee:ff`. */
export function macToString(mac: number): string {
  const hex = mac.toString(16).padStart(12, '0');
  return hex.replace(/(..)(?!$)/g, '$1:');
}

/** Parses `aa:bb:cc:dd:ee:ff` into a 48-bit number; throws RangeError on bad input. */
export function parseMac(s: string): number {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(s)) throw new RangeError(`bad MAC ${s}`);
  return parseInt(s.replace(/:/g, ''), 16);
}

/** Formats a 32-bit IPv4 number as dotted quad. */
export function ipv4ToString(ip: number): string {
  return [ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff].join('.');
}

/** Parses a dotted quad into a 32-bit number; throws RangeError on bad input. */
export function parseIpv4(s: string): number {
  const p = s.split('.');
  if (p.length !== 4) throw new RangeError(`bad IPv4 ${s}`);
  let v = 0;
  for (const x of p) {
    const n = Number(x);
    if (!/^\d{1,3}$/.test(x) || n > 255) throw new RangeError(`bad IPv4 ${s}`);
    v = v * 256 + n;
  }
  return v;
}

/** Formats a 128-bit IPv6 bigint in full (uncompressed) colon-hex form. */
export function ipv6ToString(ip: bigint): string {
  const hex = ip.toString(16).padStart(32, '0');
  const groups: string[] = [];
  for (let i = 0; i < 32; i += 4) groups.push(hex.slice(i, i + 4).replace(/^0{1,3}/, ''));
  return groups.join(':');
}

/** Parses an IPv6 address (with `::` compression) into a bigint; throws RangeError. */
export function parseIpv6(s: string): bigint {
  const halves = s.split('::');
  if (halves.length > 2) throw new RangeError(`bad IPv6 ${s}`);
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...Array<string>(fill).fill('0'), ...tail];
  if (groups.length !== 8 || fill < 0) throw new RangeError(`bad IPv6 ${s}`);
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw new RangeError(`bad IPv6 ${s}`);
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  return v;
}

/** Hex string of bytes (no separators). */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Bytes from a hex string; whitespace is ignored. Throws RangeError on odd or bad input. */
export function fromHex(s: string): Uint8Array {
  const h = s.replace(/\s+/g, '');
  if (h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) throw new RangeError('bad hex');
  return new Uint8Array(Buffer.from(h, 'hex'));
}

/** A JSON-safe deep copy: bigint → decimal string, Uint8Array → hex string. */
export function toJsonable(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return toHex(v);
  if (Array.isArray(v)) return v.map(toJsonable);
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = toJsonable(x);
    return o;
  }
  return v;
}

/** Formats a field value the usual way: MAC, dotted IPv4, IPv6, else hex/decimal. */
export function formatOxmValue(field: string, v: number | bigint): string {
  if (typeof v === 'bigint') {
    return field.startsWith('ipv6') && field !== 'ipv6_exthdr'
      ? ipv6ToString(v)
      : `0x${v.toString(16)}`;
  }
  if (/(eth_(src|dst)|_sha|_tha|_sll|_tll)$/.test(field)) return macToString(v);
  if (/^(ipv4_|arp_[st]pa)/.test(field)) return ipv4ToString(v);
  if (field === 'eth_type' || field === 'vlan_vid') return `0x${v.toString(16).padStart(4, '0')}`;
  return String(v);
}

/** Formats a match as `field=value[/mask],...` with canonical OXM names (empty: `any`). */
export function formatMatch(
  match: readonly { field: string; value: number | bigint; mask?: number | bigint }[],
): string {
  if (match.length === 0) return 'any';
  return match
    .map(
      (e) =>
        `${e.field}=${formatOxmValue(e.field, e.value)}` +
        (e.mask === undefined ? '' : `/${formatOxmValue(e.field, e.mask)}`),
    )
    .join(',');
}

/** Formats one action (or instruction) compactly, e.g. `OUTPUT:2`, `SET_FIELD:ipv4_dst=10.0.0.1`. */
export function formatAction(a: { type: string } & Record<string, unknown>): string {
  switch (a.type) {
    case 'OUTPUT':
      return `OUTPUT:${portName(a.port as number)}`;
    case 'SET_FIELD':
      return `SET_FIELD:${a.field as string}=${formatOxmValue(a.field as string, a.value as number)}`;
    case 'APPLY_ACTIONS':
    case 'WRITE_ACTIONS': {
      const list = a.actions as ({ type: string } & Record<string, unknown>)[];
      return `${a.type}(${list.map(formatAction).join(',')})`;
    }
    default: {
      const args = Object.entries(a)
        .filter(([k]) => k !== 'type')
        .map(([, v]) =>
          v instanceof Uint8Array
            ? toHex(v)
            : typeof v === 'bigint'
              ? `0x${v.toString(16)}`
              : String(v),
        );
      return args.length === 0 ? a.type : `${a.type}:${args.join('/')}`;
    }
  }
}

const RESERVED_PORTS: Record<number, string> = {
  0xfffffff8: 'IN_PORT',
  0xfffffff9: 'TABLE',
  0xfffffffa: 'NORMAL',
  0xfffffffb: 'FLOOD',
  0xfffffffc: 'ALL',
  0xfffffffd: 'CONTROLLER',
  0xfffffffe: 'LOCAL',
  0xffffffff: 'ANY',
};

/** A port number, or its reserved name (CONTROLLER, LOCAL, ...). */
export function portName(port: number): string {
  return RESERVED_PORTS[port] ?? String(port);
}

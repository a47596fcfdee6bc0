/**
 * Topology specs from a JSON or YAML file (`tsvs topo net.yaml`, `tsvs topo --file net.json`):
 * hosts, switches and links with options, validated into the same {@link TopoGraph} that
 * {@link parseSpec} makes from `linear,3`.
 *
 * ```yaml
 * hosts:
 *   - h1                        # defaults: 10.0.0.<n>/8, MAC 00:00:00:00:00:<n>
 *   - { name: h2, ip: 192.168.1.2/24, mac: "02:00:00:00:00:02", vlan: 100 }
 * switches:
 *   - s1                        # dpid from the digits of the name, as Mininet
 *   - { name: s2, dpid: "00000000000000aa" }
 * links:
 *   - [h1, s1]
 *   - { a: s1, b: s2, mtu: 9000, up: false }
 *   - { a: h2, b: s2, vlan: 100 }   # host-side tag (same as the host's vlan)
 * ```
 *
 * Every problem found is reported at once, each as `FILE[:LINE:COL]: PATH: what is wrong`
 * (lines and columns for YAML), in a {@link SpecFileError}.
 */
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { LineCounter, isNode, parseDocument, type Document } from 'yaml';
import {
  MAX_NODES,
  TopoSpecError,
  hostIp,
  hostMac,
  switchDpid,
  type HostNode,
  type SwitchNode,
  type TopoGraph,
  type TopoLink,
} from './spec.js';

/** One problem in a spec file. */
export interface SpecProblem {
  /** Where in the document: `hosts[1].ip` (empty for the whole document). */
  readonly path: string;
  /** 1-based line and column, when known (YAML). */
  readonly line?: number;
  /** 1-based column, when known. */
  readonly col?: number;
  /** What is wrong. */
  readonly message: string;
}

/** A spec file that cannot be read or is invalid; {@link SpecFileError.problems} lists why. */
export class SpecFileError extends TopoSpecError {
  override readonly name = 'SpecFileError';
  /**
   * @param file the file name as given (or `<spec>` for text without a file)
   * @param problems every problem found, in document order
   */
  constructor(
    readonly file: string,
    readonly problems: readonly SpecProblem[],
  ) {
    super(
      problems
        .map((p) => {
          const where = p.line !== undefined ? `${file}:${p.line}:${p.col ?? 1}` : file;
          return `${where}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
        })
        .join('\n'),
    );
  }
}

/** Words of the topo prompt, which cannot name a node (`dump` would be ambiguous). */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'pingall',
  'ping',
  'iperf',
  'dump',
  'links',
  'link',
  'nodes',
  'net',
  'help',
  'exit',
  'quit',
  'sh',
]);

/** Valid node names: a letter, then letters, digits or `_`. */
const NAME_RE = /^[A-Za-z][A-Za-z0-9_]*$/;
const MAX_IFNAME = 15;

/** The file formats. */
export type SpecFormat = 'json' | 'yaml';

/** True if `arg` names a spec file rather than a spec (`.json`, `.yaml`, `.yml`). */
export function looksLikeSpecFile(arg: string): boolean {
  return /\.(json|ya?ml)$/i.test(arg);
}

/** The format of a file by its extension (`.json` → json, anything else → yaml). */
export function formatOf(file: string): SpecFormat {
  return extname(file).toLowerCase() === '.json' ? 'json' : 'yaml';
}

/** Reads and validates the spec file `file`. Throws {@link SpecFileError}. */
export function parseSpecFile(file: string): TopoGraph {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new SpecFileError(file, [{ path: '', message: `cannot read: ${(e as Error).message}` }]);
  }
  return parseSpecText(text, formatOf(file), file);
}

type Path = (string | number)[];

function pathString(p: Path): string {
  let s = '';
  for (const k of p) s += typeof k === 'number' ? `[${k}]` : s === '' ? k : `.${k}`;
  return s;
}

/**
 * Parses and validates spec `text` in `format`; `file` names it in messages. Throws
 * {@link SpecFileError}.
 */
export function parseSpecText(text: string, format: SpecFormat, file = '<spec>'): TopoGraph {
  let data: unknown;
  let locate: (p: Path) => { line?: number; col?: number } = () => ({});
  if (format === 'json') {
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new SpecFileError(file, [
        { path: '', message: `not valid JSON: ${(e as Error).message}` },
      ]);
    }
  } else {
    const lc = new LineCounter();
    const doc: Document = parseDocument(text, {
      lineCounter: lc,
      uniqueKeys: true,
      prettyErrors: false,
    });
    if (doc.errors.length > 0) {
      throw new SpecFileError(
        file,
        doc.errors.map((e) => {
          const pos = lc.linePos(e.pos[0]);
          return {
            path: '',
            line: pos.line,
            col: pos.col,
            message: `not valid YAML: ${e.message.split('\n')[0]}`,
          };
        }),
      );
    }
    try {
      data = doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      throw new SpecFileError(file, [
        { path: '', message: `not valid YAML: ${(e as Error).message}` },
      ]);
    }
    locate = (p) => {
      // The deepest node that exists on the path.
      for (let n = p.length; n >= 0; n--) {
        const node = n === 0 ? doc.contents : doc.getIn(p.slice(0, n), true);
        if (isNode(node) && node.range) {
          const pos = lc.linePos(node.range[0]);
          return { line: pos.line, col: pos.col };
        }
      }
      return {};
    };
  }
  const v = new Validator(locate);
  const graph = v.graph(data, basename(file));
  if (v.problems.length > 0 || graph === undefined) throw new SpecFileError(file, v.problems);
  return graph;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'a list';
  if (typeof x === 'object') return 'a mapping';
  if (typeof x === 'string') return JSON.stringify(x);
  if (typeof x === 'number' || typeof x === 'boolean' || typeof x === 'bigint') return String(x);
  return typeof x;
}

/** Parses `a.b.c.d` into a 32-bit number, or undefined. */
function parseIpv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return undefined;
  return ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
}

interface RawLink {
  a: string;
  b: string;
  mtu?: number;
  up?: boolean;
  vlan?: number;
  path: Path;
}

class Validator {
  readonly problems: SpecProblem[] = [];

  constructor(private readonly locate: (p: Path) => { line?: number; col?: number }) {}

  problem(path: Path, message: string): void {
    this.problems.push({ path: pathString(path), ...this.locate(path), message });
  }

  keys(obj: Record<string, unknown>, allowed: readonly string[], path: Path): void {
    for (const k of Object.keys(obj)) {
      if (!allowed.includes(k)) {
        this.problem([...path, k], `unknown key (expected one of: ${allowed.join(', ')})`);
      }
    }
  }

  name(x: unknown, path: Path): string | undefined {
    if (typeof x !== 'string') {
      this.problem(path, `a name must be a string, got ${describe(x)}`);
      return undefined;
    }
    if (!NAME_RE.test(x)) {
      this.problem(path, `bad name ${JSON.stringify(x)} (a letter, then letters, digits or _)`);
      return undefined;
    }
    if (RESERVED_NAMES.has(x)) {
      this.problem(path, `"${x}" is a prompt command and cannot name a node`);
      return undefined;
    }
    return x;
  }

  int(x: unknown, path: Path, lo: number, hi: number, what: string): number | undefined {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < lo || x > hi) {
      this.problem(path, `${what} must be an integer from ${lo} to ${hi}, got ${describe(x)}`);
      return undefined;
    }
    return x;
  }

  list(x: unknown, path: Path, required: boolean): unknown[] {
    if (x === undefined) {
      if (required) this.problem(path, 'missing (a list)');
      return [];
    }
    if (!Array.isArray(x)) {
      this.problem(path, `must be a list, got ${describe(x)}`);
      return [];
    }
    return x;
  }

  graph(data: unknown, fileName: string): TopoGraph | undefined {
    if (!isRecord(data)) {
      this.problem(
        [],
        `the document must be a mapping with hosts, switches and links, got ${describe(data)}`,
      );
      return undefined;
    }
    this.keys(data, ['name', 'hosts', 'switches', 'links'], []);
    let title = fileName;
    if (data.name !== undefined) {
      if (typeof data.name !== 'string' || data.name === '') {
        this.problem(['name'], `must be a non-empty string, got ${describe(data.name)}`);
      } else title = data.name;
    }
    const seen = new Map<string, string>(); // name → path where first defined
    const claim = (name: string, path: Path): boolean => {
      const first = seen.get(name);
      if (first !== undefined) {
        this.problem(path, `"${name}" is already defined at ${first}`);
        return false;
      }
      seen.set(name, pathString(path));
      return true;
    };

    // Hosts.
    interface RawHost {
      name: string;
      ip?: { addr: number; prefixLen: number };
      mac?: string;
      vlan?: number;
      path: Path;
    }
    const rawHosts: RawHost[] = [];
    const hostList = this.list(data.hosts, ['hosts'], true);
    hostList.forEach((h, i) => {
      const p: Path = ['hosts', i];
      const obj: Record<string, unknown> =
        typeof h === 'string' ? { name: h } : isRecord(h) ? h : {};
      if (typeof h !== 'string' && !isRecord(h)) {
        this.problem(
          p,
          `a host is a name or a mapping with name, ip, mac, vlan; got ${describe(h)}`,
        );
        return;
      }
      this.keys(obj, ['name', 'ip', 'mac', 'vlan'], p);
      if (obj.name === undefined) {
        this.problem(p, 'missing name');
        return;
      }
      const name = this.name(obj.name, typeof h === 'string' ? p : [...p, 'name']);
      if (name === undefined || !claim(name, typeof h === 'string' ? p : [...p, 'name'])) return;
      const host: RawHost = { name, path: p };
      if (obj.ip !== undefined) {
        const s = typeof obj.ip === 'string' ? obj.ip.trim() : undefined;
        const m = s !== undefined ? /^([^/]+)(?:\/(\d{1,2}))?$/.exec(s) : null;
        const addr = m ? parseIpv4(m[1]!) : undefined;
        const len = m?.[2] !== undefined ? Number(m[2]) : 8;
        if (addr === undefined || len < 1 || len > 32) {
          this.problem(
            [...p, 'ip'],
            `must be an IPv4 address with an optional prefix length (10.0.0.1/24), got ${describe(obj.ip)}`,
          );
        } else {
          host.ip = { addr, prefixLen: len };
        }
      }
      if (obj.mac !== undefined) {
        const s = typeof obj.mac === 'string' ? obj.mac.toLowerCase() : '';
        if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(s)) {
          this.problem(
            [...p, 'mac'],
            `must be a MAC address (02:00:00:00:00:01), got ${describe(obj.mac)}`,
          );
        } else if ((Number.parseInt(s.slice(0, 2), 16) & 1) !== 0) {
          this.problem([...p, 'mac'], `${s} is a multicast address`);
        } else {
          host.mac = s;
        }
      }
      if (obj.vlan !== undefined) {
        const vl = this.int(obj.vlan, [...p, 'vlan'], 1, 4094, 'vlan');
        if (vl !== undefined) host.vlan = vl;
      }
      rawHosts.push(host);
    });

    // Switches.
    const rawSwitches: { name: string; dpid?: string; path: Path }[] = [];
    const swList = this.list(data.switches, ['switches'], true);
    swList.forEach((s, i) => {
      const p: Path = ['switches', i];
      if (typeof s !== 'string' && !isRecord(s)) {
        this.problem(p, `a switch is a name or a mapping with name, dpid; got ${describe(s)}`);
        return;
      }
      const obj: Record<string, unknown> = typeof s === 'string' ? { name: s } : s;
      this.keys(obj, ['name', 'dpid'], p);
      if (obj.name === undefined) {
        this.problem(p, 'missing name');
        return;
      }
      const np: Path = typeof s === 'string' ? p : [...p, 'name'];
      const name = this.name(obj.name, np);
      if (name === undefined || !claim(name, np)) return;
      if (name.length > MAX_IFNAME) {
        this.problem(np, `"${name}" is longer than ${MAX_IFNAME} characters (it names a bridge)`);
        return;
      }
      const sw: { name: string; dpid?: string; path: Path } = { name, path: p };
      if (obj.dpid !== undefined) {
        const raw =
          typeof obj.dpid === 'string'
            ? obj.dpid.toLowerCase().replace(/^0x/, '').replace(/:/g, '')
            : typeof obj.dpid === 'number' && Number.isSafeInteger(obj.dpid) && obj.dpid >= 0
              ? obj.dpid.toString(16)
              : '';
        if (!/^[0-9a-f]{1,16}$/.test(raw)) {
          this.problem([...p, 'dpid'], `must be up to 16 hex digits, got ${describe(obj.dpid)}`);
        } else {
          sw.dpid = raw.padStart(16, '0');
        }
      }
      rawSwitches.push(sw);
    });
    if (rawHosts.length > MAX_NODES || rawSwitches.length > MAX_NODES) {
      this.problem([], `too large (more than ${MAX_NODES} hosts or switches)`);
    }

    // Links.
    const kind = new Map<string, 'host' | 'switch'>();
    for (const h of rawHosts) kind.set(h.name, 'host');
    for (const s of rawSwitches) kind.set(s.name, 'switch');
    const rawLinks: RawLink[] = [];
    const mentioned = new Set<string>(); // nodes named by any link, valid or not
    const linkList = this.list(data.links, ['links'], true);
    linkList.forEach((l, i) => {
      const p: Path = ['links', i];
      let obj: Record<string, unknown>;
      if (Array.isArray(l)) {
        if (l.length !== 2) {
          this.problem(p, `a link as a list has exactly two node names, got ${l.length} items`);
          return;
        }
        obj = { a: l[0], b: l[1] };
      } else if (isRecord(l)) {
        obj = l;
        this.keys(obj, ['a', 'b', 'mtu', 'up', 'vlan'], p);
      } else {
        this.problem(
          p,
          `a link is [A, B] or a mapping with a, b, mtu, up, vlan; got ${describe(l)}`,
        );
        return;
      }
      const ends: (string | undefined)[] = (['a', 'b'] as const).map((k, j) => {
        const ep: Path = Array.isArray(l) ? [...p, j] : [...p, k];
        const x = obj[k];
        if (typeof x === 'string') mentioned.add(x);
        if (x === undefined) {
          this.problem(p, `missing ${k}`);
          return undefined;
        }
        if (typeof x !== 'string') {
          this.problem(ep, `must be a node name, got ${describe(x)}`);
          return undefined;
        }
        if (!kind.has(x)) {
          if (NAME_RE.test(x) && !RESERVED_NAMES.has(x) && !seen.has(x)) {
            this.problem(ep, `no host or switch named "${x}"`);
          }
          return undefined;
        }
        return x;
      });
      const [a, b] = ends;
      const link: Partial<RawLink> = { path: p };
      if (obj.mtu !== undefined) {
        const m = this.int(obj.mtu, [...p, 'mtu'], 68, 65535, 'mtu');
        if (m !== undefined) link.mtu = m;
      }
      if (obj.up !== undefined) {
        if (typeof obj.up !== 'boolean')
          this.problem([...p, 'up'], `must be true or false, got ${describe(obj.up)}`);
        else link.up = obj.up;
      }
      if (obj.vlan !== undefined) {
        const vl = this.int(obj.vlan, [...p, 'vlan'], 1, 4094, 'vlan');
        if (vl !== undefined) link.vlan = vl;
      }
      if (a === undefined || b === undefined) return;
      if (a === b) {
        this.problem(p, `links "${a}" to itself`);
        return;
      }
      if (kind.get(a) === 'host' && kind.get(b) === 'host') {
        this.problem(p, `links two hosts (${a}, ${b}); a host links to a switch`);
        return;
      }
      if (link.vlan !== undefined && kind.get(a) === 'switch' && kind.get(b) === 'switch') {
        this.problem([...p, 'vlan'], "vlan is the host-side tag and applies only to a host's link");
        return;
      }
      rawLinks.push({ ...link, a, b, path: p });
    });

    // Every host has a link; the host's vlan goes to its first link.
    const firstLink = new Map<string, RawLink>();
    for (const l of rawLinks) {
      for (const n of [l.a, l.b])
        if (kind.get(n) === 'host' && !firstLink.has(n)) firstLink.set(n, l);
    }
    for (const h of rawHosts) {
      const l = firstLink.get(h.name);
      if (l === undefined) {
        // A host named only by links already reported as wrong is not reported again.
        if (!mentioned.has(h.name)) this.problem(h.path, `host "${h.name}" has no link`);
        continue;
      }
      if (h.vlan !== undefined) {
        if (l.vlan !== undefined && l.vlan !== h.vlan) {
          this.problem(
            [...l.path, 'vlan'],
            `vlan ${l.vlan} differs from host ${h.name}'s vlan ${h.vlan}`,
          );
        } else l.vlan = h.vlan;
      }
    }

    // Hosts: default addresses by position, as Mininet; no two hosts share an address.
    const hosts: HostNode[] = [];
    const ips = new Map<string, string>();
    const macs = new Map<string, string>();
    rawHosts.forEach((h, i) => {
      const index = i + 1;
      const ip = h.ip
        ? [
            h.ip.addr >>> 24,
            (h.ip.addr >>> 16) & 255,
            (h.ip.addr >>> 8) & 255,
            h.ip.addr & 255,
          ].join('.')
        : hostIp(index);
      const mac = h.mac ?? hostMac(index);
      const ipOwner = ips.get(ip);
      if (ipOwner !== undefined)
        this.problem([...h.path, ...(h.ip ? ['ip'] : [])], `address ${ip} is also ${ipOwner}'s`);
      ips.set(ip, h.name);
      const macOwner = macs.get(mac);
      if (macOwner !== undefined)
        this.problem([...h.path, ...(h.mac ? ['mac'] : [])], `MAC ${mac} is also ${macOwner}'s`);
      macs.set(mac, h.name);
      hosts.push({ name: h.name, index, ip, prefixLen: h.ip?.prefixLen ?? 8, mac });
    });

    // Switches: the dpid from the digits of the name (Mininet's defaultDpid), else the position.
    const switches: SwitchNode[] = [];
    const dpids = new Map<string, string>();
    rawSwitches.forEach((s, i) => {
      const digits = /\d+/.exec(s.name)?.[0];
      const fromName = digits !== undefined && digits.length <= 15 ? Number(digits) : 0;
      const dpid = s.dpid ?? switchDpid(fromName > 0 ? fromName : i + 1);
      const owner = dpids.get(dpid);
      if (owner !== undefined) {
        this.problem(
          [...s.path, ...(s.dpid ? ['dpid'] : [])],
          `dpid ${dpid} is also ${owner}'s (give a dpid)`,
        );
      }
      dpids.set(dpid, s.name);
      switches.push({ name: s.name, index: i + 1, dpid });
    });

    // Ports in link order: switches from 1, hosts from 0 (as Mininet).
    const nextPort = new Map<string, number>();
    for (const h of hosts) nextPort.set(h.name, 0);
    for (const s of switches) nextPort.set(s.name, 1);
    const links: TopoLink[] = [];
    for (const l of rawLinks) {
      const pa = nextPort.get(l.a)!;
      const pb = nextPort.get(l.b)!;
      nextPort.set(l.a, pa + 1);
      nextPort.set(l.b, pb + 1);
      for (const [n, port] of [
        [l.a, pa],
        [l.b, pb],
      ] as const) {
        if (kind.get(n) !== 'host') continue;
        const ifname = `${n}-eth${port}${l.vlan !== undefined ? `.${l.vlan}` : ''}`;
        if (ifname.length > MAX_IFNAME) {
          this.problem(
            l.path,
            `host interface name "${ifname}" is longer than ${MAX_IFNAME} characters (shorter host name?)`,
          );
        }
      }
      links.push({
        a: { node: l.a, port: pa },
        b: { node: l.b, port: pb },
        ...(l.mtu !== undefined ? { mtu: l.mtu } : {}),
        ...(l.up !== undefined ? { up: l.up } : {}),
        ...(l.vlan !== undefined ? { vlan: l.vlan } : {}),
      });
    }
    return { spec: title, hosts, switches, links };
  }
}

/**
 * Topology specifications as Mininet's `--topo` takes them: `minimal`, `single,N`, `linear,N`
 * and `tree,depth=D,fanout=F` (positional `tree,D,F` too). {@link parseSpec} turns one into a
 * {@link TopoGraph}: the hosts, switches and links in the order Mininet's Topo classes add them,
 * with the same port numbers (switch ports from 1, host interfaces from 0), host addresses
 * (10.0.0.i/8, MAC 00:00:00:00:00:0i as with `--mac`) and datapath ids (the switch's number in
 * 16 hex digits).
 */

/** One host: `h<i>`. */
export interface HostNode {
  /** Name, `h1`, `h2`... */
  readonly name: string;
  /** Host number i (1-based). */
  readonly index: number;
  /** IPv4 address, `10.0.0.i` (i above 255 carries into the higher octets, as Mininet's ipAdd). */
  readonly ip: string;
  /** Prefix length of {@link HostNode.ip}: 8. */
  readonly prefixLen: number;
  /** MAC address, i as 48-bit hex (`00:00:00:00:00:01`). */
  readonly mac: string;
}

/** One switch: `s<i>`. */
export interface SwitchNode {
  /** Name, `s1`, `s2`... */
  readonly name: string;
  /** Switch number i (1-based). */
  readonly index: number;
  /** Datapath id: i as 16 lowercase hex digits. */
  readonly dpid: string;
}

/** One end of a link: a node and its port number on that node. */
export interface LinkEnd {
  /** Node name (`h1`, `s2`). */
  readonly node: string;
  /** Port number: from 1 on switches (the OpenFlow port), from 0 on hosts (`h1-eth0`). */
  readonly port: number;
}

/** One link, in the order it was added. */
export interface TopoLink {
  /** First end (as Mininet's addLink(node1, ...)). */
  readonly a: LinkEnd;
  /** Second end. */
  readonly b: LinkEnd;
  /** MTU of both veth ends (default: the kernel's, 1500). */
  readonly mtu?: number;
  /** Initial state: false creates the link with both ends down (default true). */
  readonly up?: boolean;
  /**
   * Host-side 802.1Q tag (1–4094), only on a host's link: the host's address then sits on a VLAN
   * subinterface (`h1-eth0.100`) in its namespace, as Mininet's VLANHost.
   */
  readonly vlan?: number;
}

/** A parsed topology. */
export interface TopoGraph {
  /** The spec in canonical form (`single,3`, `linear,4`, `tree,depth=2,fanout=2`). */
  readonly spec: string;
  /** Hosts in order of creation. */
  readonly hosts: readonly HostNode[];
  /** Switches in order of creation. */
  readonly switches: readonly SwitchNode[];
  /** Links in order of creation. */
  readonly links: readonly TopoLink[];
}

/** Thrown by {@link parseSpec} for a spec it cannot read. */
export class TopoSpecError extends Error {
  override readonly name: string = 'TopoSpecError';
}

/** The kind of each node of `graph`, by name. */
export function nodeKinds(graph: TopoGraph): Map<string, 'host' | 'switch'> {
  const m = new Map<string, 'host' | 'switch'>();
  for (const h of graph.hosts) m.set(h.name, 'host');
  for (const s of graph.switches) m.set(s.name, 'switch');
  return m;
}

/** Largest number of hosts or switches a spec may produce. */
export const MAX_NODES = 1000;

/** 10.0.0.0/8 plus i, as Mininet's `ipAdd(i, prefixLen=8, ipBaseNum=0x0a000000)`. */
export function hostIp(i: number): string {
  const n = 0x0a000000 + i;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** i as a 48-bit MAC address, as Mininet's `macColonHex(i)`. */
export function hostMac(i: number): string {
  const hex = i.toString(16).padStart(12, '0');
  return hex.match(/../g)!.join(':');
}

/** i as a 16-hex-digit datapath id, as Mininet's `defaultDpid` for `s<i>`. */
export function switchDpid(i: number): string {
  return i.toString(16).padStart(16, '0');
}

class Builder {
  readonly hosts: HostNode[] = [];
  readonly switches: SwitchNode[] = [];
  readonly links: TopoLink[] = [];
  private readonly nextPort = new Map<string, number>();

  addHost(): string {
    const i = this.hosts.length + 1;
    const name = `h${i}`;
    this.hosts.push({ name, index: i, ip: hostIp(i), prefixLen: 8, mac: hostMac(i) });
    this.nextPort.set(name, 0);
    return name;
  }

  addSwitch(): string {
    const i = this.switches.length + 1;
    const name = `s${i}`;
    this.switches.push({ name, index: i, dpid: switchDpid(i) });
    this.nextPort.set(name, 1);
    return name;
  }

  addLink(n1: string, n2: string): void {
    const p1 = this.nextPort.get(n1)!;
    const p2 = this.nextPort.get(n2)!;
    this.nextPort.set(n1, p1 + 1);
    this.nextPort.set(n2, p2 + 1);
    this.links.push({ a: { node: n1, port: p1 }, b: { node: n2, port: p2 } });
  }
}

function positiveInt(s: string | undefined, what: string, spec: string): number {
  if (s === undefined || !/^\d+$/.test(s)) {
    throw new TopoSpecError(`${what} must be a positive integer in "${spec}"`);
  }
  const n = Number(s);
  if (n < 1) throw new TopoSpecError(`${what} must be at least 1 in "${spec}"`);
  return n;
}

/** Splits `a,b,k=v` into positional and keyword arguments. */
function splitArgs(rest: string[], spec: string): { pos: string[]; kw: Map<string, string> } {
  const pos: string[] = [];
  const kw = new Map<string, string>();
  for (const a of rest) {
    const eq = a.indexOf('=');
    if (eq < 0) {
      if (kw.size > 0) throw new TopoSpecError(`positional argument after keyword in "${spec}"`);
      pos.push(a);
    } else {
      const k = a.slice(0, eq).trim();
      if (kw.has(k)) throw new TopoSpecError(`"${k}" given twice in "${spec}"`);
      kw.set(k, a.slice(eq + 1).trim());
    }
  }
  return { pos, kw };
}

/** Reads positional/keyword arguments by name, in order, as Python would bind them. */
function bind(
  names: readonly string[],
  defaults: Record<string, string>,
  rest: string[],
  spec: string,
): Record<string, string> {
  const { pos, kw } = splitArgs(rest, spec);
  if (pos.length > names.length) throw new TopoSpecError(`too many arguments in "${spec}"`);
  const out: Record<string, string> = { ...defaults };
  pos.forEach((v, i) => (out[names[i]!] = v));
  for (const [k, v] of kw) {
    if (!names.includes(k)) throw new TopoSpecError(`unknown argument "${k}" in "${spec}"`);
    if (names.indexOf(k) < pos.length) throw new TopoSpecError(`"${k}" given twice in "${spec}"`);
    out[k] = v;
  }
  for (const n of names) {
    if (out[n] === undefined) throw new TopoSpecError(`missing argument "${n}" in "${spec}"`);
  }
  return out;
}

function checkSize(b: Builder, spec: string): void {
  if (b.hosts.length > MAX_NODES || b.switches.length > MAX_NODES) {
    throw new TopoSpecError(`"${spec}" is too large (more than ${MAX_NODES} hosts or switches)`);
  }
}

/**
 * Parses a topology spec. Throws {@link TopoSpecError} for an unknown kind, a missing, extra or
 * non-positive argument, or a topology of more than {@link MAX_NODES} hosts or switches.
 */
export function parseSpec(spec: string): TopoGraph {
  const parts = spec
    .trim()
    .split(',')
    .map((p) => p.trim());
  const kind = parts[0]!.toLowerCase();
  const rest = parts.slice(1);
  if (rest.some((p) => p === '')) throw new TopoSpecError(`empty argument in "${spec}"`);
  const b = new Builder();
  switch (kind) {
    case 'minimal': {
      if (rest.length > 0) throw new TopoSpecError(`"minimal" takes no arguments`);
      return single(b, 2, 'single,2');
    }
    case 'single': {
      const { k } = bind(['k'], { k: '2' }, rest, spec);
      const n = positiveInt(k, 'k', spec);
      if (n > MAX_NODES) throw new TopoSpecError(`"${spec}" is too large`);
      return single(b, n, `single,${n}`);
    }
    case 'linear': {
      const { k } = bind(['k'], { k: '2' }, rest, spec);
      const n = positiveInt(k, 'k', spec);
      if (n > MAX_NODES) throw new TopoSpecError(`"${spec}" is too large`);
      let last: string | undefined;
      for (let i = 0; i < n; i++) {
        const sw = b.addSwitch();
        const h = b.addHost();
        b.addLink(h, sw);
        if (last !== undefined) b.addLink(sw, last);
        last = sw;
      }
      return { spec: `linear,${n}`, hosts: b.hosts, switches: b.switches, links: b.links };
    }
    case 'tree': {
      const a = bind(['depth', 'fanout'], { depth: '1', fanout: '2' }, rest, spec);
      const depth = positiveInt(a.depth, 'depth', spec);
      const fanout = positiveInt(a.fanout, 'fanout', spec);
      // Hosts: fanout^depth; switches: sum of fanout^i for i < depth.
      if (depth * Math.log(Math.max(fanout, 2)) > Math.log(MAX_NODES) + 1e-9 && fanout > 1) {
        throw new TopoSpecError(`"${spec}" is too large (more than ${MAX_NODES} hosts)`);
      }
      if (fanout === 1 && depth > MAX_NODES) throw new TopoSpecError(`"${spec}" is too large`);
      const addTree = (d: number): string => {
        if (d === 0) return b.addHost();
        const node = b.addSwitch();
        for (let i = 0; i < fanout; i++) {
          const child = addTree(d - 1);
          b.addLink(node, child);
        }
        return node;
      };
      addTree(depth);
      checkSize(b, spec);
      return {
        spec: `tree,depth=${depth},fanout=${fanout}`,
        hosts: b.hosts,
        switches: b.switches,
        links: b.links,
      };
    }
    default:
      throw new TopoSpecError(
        `unknown topology "${parts[0]}" (use minimal, single,N, linear,N or tree,depth=D,fanout=F)`,
      );
  }
}

function single(b: Builder, k: number, canonical: string): TopoGraph {
  const sw = b.addSwitch();
  for (let i = 0; i < k; i++) b.addLink(b.addHost(), sw);
  return { spec: canonical, hosts: b.hosts, switches: b.switches, links: b.links };
}

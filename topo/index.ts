/**
 * `tsvs topo`: Mininet-style networks on a tsvs switch. Hosts are network namespaces joined by a
 * veth to a switch port; switch-to-switch links are veth pairs with both ends in the root
 * namespace; switches are tsvs bridges created over the daemon's OVSDB socket (JSON-RPC, no OVS
 * tools). {@link Topo.start} builds a network (from a spec string, or a graph that
 * {@link parseSpecFile} read from a JSON/YAML file), {@link Topo.pingAll} runs Mininet's pingall,
 * {@link Topo.ping}, {@link Topo.iperf}, {@link Topo.exec} and {@link Topo.setLink} do what the
 * prompt's commands do (topo/commands.ts), and {@link Topo.stop} removes exactly what was created.
 * While it runs, `<rundir>/topo.json` describes it ({@link TopoDescription}, topo/description.ts).
 *
 * ```ts
 * const net = await Topo.start({ spec: 'linear,3', startDaemon });
 * const r = await net.pingAll();   // r.droppedPct === 0
 * await net.setLink('s1', 's2', false);
 * await net.stop();
 * ```
 *
 * topo/ may import only lib/ and ovsdb/, so starting a daemon in-process when none runs on the
 * run directory is the caller's job: it passes {@link TopoOptions.startDaemon} (bin/tsvs.ts and
 * the tests pass one built on vswitchd's `Daemon.start`).
 */
import { readFileSync } from 'node:fs';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { Json, JsonObject } from '../lib/json.js';
import {
  OvsdbClient,
  mapItems,
  namedUuid,
  ovsMap,
  ovsSet,
  uuidAtom,
  uuidOf,
} from './ovsdb-client.js';
import {
  MAX_IFNAME,
  cleanNames,
  findTool,
  ip,
  ipQuiet,
  pingFrom,
  prefixPattern,
  requireTool,
  setLinkUp,
  spawnIn,
  waitLinksReady,
  type CleanResult,
} from './net.js';
import {
  nodeKinds,
  parseSpec,
  type HostNode,
  type SwitchNode,
  type TopoGraph,
  type TopoLink,
} from './spec.js';
import { TOPO_DESCRIPTION_FILE, type TopoDescription } from './description.js';

export * from './spec.js';
export * from './description.js';
export { parseSpecFile, parseSpecText, SpecFileError, looksLikeSpecFile } from './spec-file.js';
export { OvsdbClient } from './ovsdb-client.js';

/** A bridge's fail_mode: what it does while no controller is connected. */
export type FailMode = 'secure' | 'standalone';

/** Where a host's VLAN tag is applied; see {@link HostPlace.vlanAt}. */
export type VlanPlacement = 'host' | 'switch';

let vlanSupport: Promise<boolean> | undefined;

/**
 * True if the kernel can make 802.1Q VLAN devices: probed once per process by creating one on a
 * veth named after `prefix` (removed straight away).
 */
export function kernelHasVlan(prefix: string): Promise<boolean> {
  vlanSupport ??= (async () => {
    const a = `${prefix}vp`;
    await ipQuiet('link', 'del', a);
    try {
      await ip('link', 'add', a, 'type', 'veth', 'peer', 'name', `${prefix}vq`);
    } catch {
      return false;
    }
    try {
      await ip('link', 'add', 'link', a, 'name', `${a}.1`, 'type', 'vlan', 'id', '1');
      return true;
    } catch {
      return false;
    } finally {
      await ipQuiet('link', 'del', a);
    }
  })();
  return vlanSupport;
}

/** A daemon started for the life of a topology. */
export interface DaemonHandle {
  /** Stops the daemon; resolves once it has stopped. */
  stop(): Promise<void>;
}

/** Starts a tsvs daemon on run directory `rundir` (absolute) and resolves once db.sock listens. */
export type DaemonStarter = (rundir: string) => Promise<DaemonHandle>;

/** Options of {@link Topo.start}. */
export interface TopoOptions {
  /** The topology: a spec string (`linear,3`) or a parsed graph. */
  spec: string | TopoGraph;
  /** Run directory of the daemon to use (default `./var`). */
  rundir?: string;
  /**
   * Starts a daemon when none answers on `<rundir>/db.sock`. Without it, {@link Topo.start}
   * rejects in that case.
   */
  startDaemon?: DaemonStarter;
  /**
   * Controllers (`tcp:IP:PORT`, `ssl:...`) for every switch. With none the switches run
   * fail_mode standalone (NORMAL); with some, fail_mode secure.
   */
  controllers?: string[];
  /**
   * The bridges' fail_mode. Default: `secure` with controllers, `standalone` without (NORMAL
   * forwarding while no controller is connected).
   */
  failMode?: FailMode;
  /**
   * Prefix of every namespace and link name (default `tv` + a 6-character id made of this
   * process's pid and a counter, see {@link defaultPrefix}).
   */
  prefix?: string;
  /** Receives Mininet-style progress lines (no trailing newline). Default: silent. */
  log?: (line: string) => void;
  /** How long to wait for the switch to apply a change, ms (default 10000). */
  applyTimeoutMs?: number;
}

/** One row of the pingall matrix. */
export interface PingRow {
  /** Source host. */
  src: string;
  /** Destinations in order, with the outcome. */
  results: { dst: string; ok: boolean }[];
}

/** Result of {@link Topo.pingAll}. */
export interface PingAllResult {
  /** Pings sent. */
  sent: number;
  /** Replies received. */
  received: number;
  /** Percentage dropped, truncated to an integer as Mininet prints it. */
  droppedPct: number;
  /** The matrix, one row per source host. */
  rows: PingRow[];
}

/** Where one host lives. */
export interface HostPlace extends HostNode {
  /** Network namespace. */
  readonly ns: string;
  /** Its first interface, inside the namespace (`h1-eth0`). */
  readonly ifname: string;
  /** The interface carrying its address: {@link HostPlace.ifname}, or its VLAN subinterface. */
  readonly iface: string;
  /** The host's 802.1Q VLAN, when its first link has one. */
  readonly vlan?: number;
  /**
   * Where {@link HostPlace.vlan} is applied: `host`, a VLAN subinterface in the namespace that
   * tags the host's frames (as Mininet's VLANHost); `switch`, the switch port is an access port
   * of that VLAN (Port `tag`) and the host sends untagged, used when the kernel has no 802.1Q
   * support (CONFIG_VLAN_8021Q).
   */
  readonly vlanAt?: VlanPlacement;
  /** The switch its first interface is attached to ('' if it has no link). */
  readonly switch: string;
  /** The OpenFlow port of that attachment (0 if it has no link). */
  readonly port: number;
}

/** A link as built: a veth pair, and its state. */
export interface LinkPlace {
  /** Node at the first end. */
  readonly a: string;
  /** Node at the second end. */
  readonly b: string;
  /** Port of the first end (OpenFlow port on a switch, interface number on a host). */
  readonly aPort: number;
  /** Port of the second end. */
  readonly bPort: number;
  /** Interface name of the first end. */
  readonly aIface: string;
  /** Interface name of the second end. */
  readonly bIface: string;
  /** Namespace of the first end (undefined: the root namespace, a switch port). */
  readonly aNs: string | undefined;
  /** Namespace of the second end. */
  readonly bNs: string | undefined;
  /** MTU set on both ends, if the spec gave one. */
  readonly mtu: number | undefined;
  /** Administrative state of both ends as last set by the topology. */
  readonly up: boolean;
}

/** Result of {@link Topo.ping}. */
export interface PingPairResult {
  /** Echo requests sent. */
  sent: number;
  /** Replies received. */
  received: number;
  /** Average round trip in ms, when any reply came. */
  rttMs?: number;
  /** ping's output. */
  output: string;
}

/** Result of {@link Topo.iperf}. */
export interface IperfResult {
  /** Client host. */
  client: string;
  /** Server host. */
  server: string;
  /** Rate the client sent at, bits per second. */
  sentBps: number;
  /** Rate the server received at, bits per second. */
  receivedBps: number;
}

/** Formats bits per second as iperf does (`941 Mbits/sec`). */
export function formatBps(bps: number): string {
  const units = ['bits/sec', 'Kbits/sec', 'Mbits/sec', 'Gbits/sec', 'Tbits/sec'];
  let v = bps;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}

let seq = 0;

/** `tv` + the pid in base 36 (5 characters) + one base-36 counter character. */
export function defaultPrefix(): string {
  const pid = process.pid.toString(36).padStart(5, '0').slice(-5);
  const n = (seq++ % 36).toString(36);
  return `tv${pid}${n}`;
}

/**
 * Matches the names made with a {@link defaultPrefix} (namespaces `<prefix><host>`, switch ports
 * `<prefix><switch>e<port>`); group 1 is the owner's pid in base 36.
 */
const DEFAULT_NAME = /^tv([0-9a-z]{5})[0-9a-z][A-Za-z][A-Za-z0-9_]*$/;

/** True if process `pid` exists and is not a zombie (a killed process not yet reaped). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** Options of {@link Topo.clean}. */
export interface CleanOptions {
  /** Run directory of the daemon (default `./var`). */
  rundir?: string;
  /**
   * Remove only names and bridges of this prefix (all of them). Default: every name made with a
   * default prefix whose owning process is gone, and every topo bridge whose owner is gone.
   */
  prefix?: string;
  /** Starts a daemon if none runs, to remove topo bridges kept in its database. */
  startDaemon?: DaemonStarter;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** What {@link Topo.clean} removed. */
export interface TopoCleanResult extends CleanResult {
  /** Bridges removed from the database. */
  bridges: string[];
}

async function connectOrStart(
  rundir: string,
  startDaemon: DaemonStarter | undefined,
): Promise<{ client: OvsdbClient; daemon: DaemonHandle | undefined }> {
  const sock = join(rundir, 'db.sock');
  try {
    return { client: await OvsdbClient.connect(sock), daemon: undefined };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ECONNREFUSED') throw e;
    if (!startDaemon) {
      throw new Error(
        `no tsvs daemon answers on ${sock} (start one with: tsvs start --rundir ...)`,
      );
    }
  }
  const daemon = await startDaemon(rundir);
  try {
    return { client: await OvsdbClient.connect(sock), daemon };
  } catch (e) {
    await daemon.stop();
    throw e;
  }
}

/** Internal, mutable state of one link. */
interface LinkRec {
  a: string;
  b: string;
  aPort: number;
  bPort: number;
  aIface: string;
  bIface: string;
  aNs: string | undefined;
  bNs: string | undefined;
  mtu: number | undefined;
  vlan: number | undefined;
  vlanAt: VlanPlacement;
  up: boolean;
}

/** A running topology. Create with {@link Topo.start}. */
export class Topo {
  /** Hosts with their namespaces. */
  readonly hosts: readonly HostPlace[];
  private readonly linkRecs: LinkRec[];
  private readonly kinds: Map<string, 'host' | 'switch'>;
  private bridgeUuids: string[] = [];
  private readonly createdNs: string[] = [];
  private readonly createdLinks: string[] = [];
  private descriptionWritten = false;
  private stopped = false;

  private constructor(
    /** The topology. */
    readonly graph: TopoGraph,
    /** The name prefix. */
    readonly prefix: string,
    /** Absolute run directory of the daemon. */
    readonly rundir: string,
    private readonly client: OvsdbClient,
    private readonly daemon: DaemonHandle | undefined,
    private readonly opts: TopoOptions,
    hostVlan: boolean,
  ) {
    const vlanAt: VlanPlacement = hostVlan ? 'host' : 'switch';
    this.kinds = nodeKinds(graph);
    this.linkRecs = graph.links.map((l: TopoLink) => {
      const end = (e: { node: string; port: number }): { iface: string; ns: string | undefined } =>
        this.kinds.get(e.node) === 'host'
          ? { iface: `${e.node}-eth${e.port}`, ns: `${prefix}${e.node}` }
          : { iface: this.switchIfname(e.node, e.port), ns: undefined };
      const a = end(l.a);
      const b = end(l.b);
      return {
        a: l.a.node,
        b: l.b.node,
        aPort: l.a.port,
        bPort: l.b.port,
        aIface: a.iface,
        bIface: b.iface,
        aNs: a.ns,
        bNs: b.ns,
        mtu: l.mtu,
        vlan: l.vlan,
        vlanAt,
        up: l.up ?? true,
      };
    });
    this.hosts = graph.hosts.map((h) => {
      // The host's first link (its eth0, as Mininet's defaultIntf) carries the address.
      const first = this.linkRecs.find((l) => l.a === h.name || l.b === h.name);
      const hostIsA = first?.a === h.name;
      const ifname = first ? (hostIsA ? first.aIface : first.bIface) : `${h.name}-eth0`;
      const vlan = first?.vlan;
      return {
        ...h,
        ns: `${prefix}${h.name}`,
        ifname,
        iface: vlan !== undefined && hostVlan ? `${ifname}.${vlan}` : ifname,
        ...(vlan !== undefined ? { vlan, vlanAt } : {}),
        switch: first ? (hostIsA ? first.b : first.a) : '',
        port: first ? (hostIsA ? first.bPort : first.aPort) : 0,
      };
    });
  }

  /** True when this topology started the daemon it runs on. */
  get ownsDaemon(): boolean {
    return this.daemon !== undefined;
  }

  /** Controllers of every switch (empty: standalone). */
  get controllers(): readonly string[] {
    return this.opts.controllers ?? [];
  }

  /** The bridges' fail_mode. */
  get failMode(): FailMode {
    return this.opts.failMode ?? (this.controllers.length > 0 ? 'secure' : 'standalone');
  }

  /** The links as built, with their current state, in order of creation. */
  get links(): readonly LinkPlace[] {
    return this.linkRecs.map((l) => ({ ...l }));
  }

  /** Path of the description file, `<rundir>/topo.json`. */
  get descriptionPath(): string {
    return join(this.rundir, TOPO_DESCRIPTION_FILE);
  }

  /** The root-namespace interface of switch `sw`'s port `port` (also its OVSDB port name). */
  switchIfname(sw: string, port: number): string {
    return `${this.prefix}${sw}e${port}`;
  }

  /** The host named `name`, or undefined. */
  host(name: string): HostPlace | undefined {
    return this.hosts.find((h) => h.name === name);
  }

  /** What kind of node `name` is, or undefined if there is none. */
  kindOf(name: string): 'host' | 'switch' | undefined {
    return this.kinds.get(name);
  }

  /**
   * Builds the network: connects to (or starts) the daemon, creates the namespaces and veths,
   * then the bridges with their ports in one transaction, and waits until the switch has applied
   * it and every link is up. Then writes `<rundir>/topo.json` ({@link TopoDescription}). On
   * failure everything created so far is removed and the promise rejects.
   */
  static async start(opts: TopoOptions): Promise<Topo> {
    const graph = typeof opts.spec === 'string' ? parseSpec(opts.spec) : opts.spec;
    const prefix = opts.prefix ?? defaultPrefix();
    if (!/^[A-Za-z0-9_-]+$/.test(prefix)) throw new Error(`bad prefix "${prefix}"`);
    requireTool('ip', 'iproute2');
    const rundir = resolve(opts.rundir ?? 'var');
    const { client, daemon } = await connectOrStart(rundir, opts.startDaemon);
    const needVlan = graph.links.some((l) => l.vlan !== undefined);
    const hostVlan = needVlan ? await kernelHasVlan(prefix) : true;
    if (!hostVlan) {
      opts.log?.(
        '*** Warning: the kernel has no 802.1Q VLAN devices (CONFIG_VLAN_8021Q); host VLANs are ' +
          'applied at the switch ports instead (access ports, Port tag)',
      );
    }
    const net = new Topo(graph, prefix, rundir, client, daemon, opts, hostVlan);
    try {
      await net.build();
      await net.writeDescription();
    } catch (e) {
      await net.stop();
      throw e;
    }
    return net;
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  /** Logs `*** label: i/n` at every tenth of a long phase (n ≥ 20). */
  private progress(label: string, i: number, n: number): void {
    if (n < 20) return;
    const step = Math.ceil(n / 10);
    if (i === n || i % step === 0) this.log(`*** ${label}: ${i}/${n}`);
  }

  private checkNames(): void {
    const names = [
      ...this.hosts.map((h) => h.ns),
      ...this.linkRecs.flatMap((l) => [
        ...(l.aNs === undefined ? [l.aIface] : []),
        ...(l.bNs === undefined ? [l.bIface] : []),
      ]),
    ];
    const long = names.find((n) => n.length > MAX_IFNAME);
    if (long !== undefined) {
      throw new Error(`name "${long}" is longer than ${MAX_IFNAME} characters (shorter prefix?)`);
    }
  }

  private async build(): Promise<void> {
    this.checkNames();
    const { graph } = this;
    const root = await this.client.rootUuid();
    const existing = await this.client.select('Bridge', [], ['name']);
    const taken = new Set(existing.map((r) => r.name));
    const clash = graph.switches.find((s) => taken.has(s.name));
    if (clash) {
      throw new Error(
        `bridge ${clash.name} already exists on ${this.rundir} (another topo? try: tsvs topo --clean)`,
      );
    }

    this.log('*** Creating network');
    if (this.controllers.length) {
      this.log(`*** Adding controller: ${this.controllers.join(' ')}`);
    }
    this.log(`*** Adding hosts: ${graph.hosts.map((h) => h.name).join(' ')}`);
    this.log(`*** Adding switches: ${graph.switches.map((s) => s.name).join(' ')}`);
    this.log(`*** Adding links: ${graph.links.map((l) => `(${l.a.node}, ${l.b.node})`).join(' ')}`);
    const sysctl = findTool('sysctl');
    const ethtool = findTool('ethtool');
    if (!ethtool) {
      this.log('*** Warning: ethtool not found; host offloads stay on and TCP will be slow');
    }

    // Hosts: one namespace each.
    let done = 0;
    for (const host of this.hosts) {
      await ip('netns', 'add', host.ns);
      this.createdNs.push(host.ns);
      if (sysctl) {
        await ip(
          'netns',
          'exec',
          host.ns,
          sysctl,
          '-qw',
          'net.ipv6.conf.all.disable_ipv6=1',
          'net.ipv6.conf.default.disable_ipv6=1',
        );
      }
      await ip('-n', host.ns, 'link', 'set', 'lo', 'up');
      this.progress('Hosts', ++done, this.hosts.length);
    }

    const rootIfs: string[] = [];
    const hostByName = new Map(this.hosts.map((h) => [h.name, h]));
    done = 0;
    for (const link of this.linkRecs) {
      const mtu = link.mtu !== undefined ? ['mtu', String(link.mtu)] : [];
      const hostIsA = link.aNs !== undefined;
      const hostEnd = hostIsA || link.bNs !== undefined;
      if (hostEnd) {
        // Host link: a veth from the switch port (root namespace) into the host's namespace.
        const [hname, hif, hns, sw] = hostIsA
          ? [link.a, link.aIface, link.aNs!, link.bIface]
          : [link.b, link.bIface, link.bNs!, link.aIface];
        const host = hostByName.get(hname)!;
        const main = host.ifname === hif;
        await ip(
          'link',
          'add',
          sw,
          ...mtu,
          'type',
          'veth',
          'peer',
          'name',
          hif,
          ...(main ? ['address', host.mac] : []),
          ...mtu,
          'netns',
          hns,
        );
        this.createdLinks.push(sw);
        const devs = [hif];
        if (link.vlan !== undefined && link.vlanAt === 'host') {
          devs.push(`${hif}.${link.vlan}`);
          await ip(
            '-n',
            hns,
            'link',
            'add',
            'link',
            hif,
            'name',
            devs[1]!,
            'type',
            'vlan',
            'id',
            String(link.vlan),
          );
        }
        if (ethtool) {
          // The userspace datapath forwards frames as the host's stack hands them over: with
          // offloads on, TCP segments carry partial checksums or exceed the MTU (TSO/GSO), and
          // TCP crawls. Mininet users of OVS's userspace datapath do the same.
          await ip(
            'netns',
            'exec',
            hns,
            ethtool,
            '-K',
            hif,
            'tx',
            'off',
            'tso',
            'off',
            'gso',
            'off',
          );
          // A VLAN device may refuse some of these; its parent's settings are what matter.
          if (devs[1] !== undefined) {
            await ipQuiet(
              'netns',
              'exec',
              hns,
              ethtool,
              '-K',
              devs[1],
              'tx',
              'off',
              'tso',
              'off',
              'gso',
              'off',
            );
          }
        }
        if (main) {
          await ip('-n', hns, 'addr', 'add', `${host.ip}/${host.prefixLen}`, 'dev', host.iface);
        }
        if (devs[1] !== undefined) await ip('-n', hns, 'link', 'set', devs[1], 'up');
        if (link.up) await ip('-n', hns, 'link', 'set', hif, 'up');
        rootIfs.push(sw);
      } else {
        // Switch-to-switch link: both ends in the root namespace.
        await ip(
          'link',
          'add',
          link.aIface,
          ...mtu,
          'type',
          'veth',
          'peer',
          'name',
          link.bIface,
          ...mtu,
        );
        this.createdLinks.push(link.aIface);
        rootIfs.push(link.aIface, link.bIface);
      }
      this.progress('Links', ++done, this.linkRecs.length);
    }
    const downIfs = new Set(
      this.linkRecs.filter((l) => !l.up).flatMap((l) => [l.aIface, l.bIface]),
    );
    for (const dev of rootIfs) {
      // Keep the kernel's own IPv6 chatter (router solicitations, MLD) off the switch ports.
      await writeFile(`/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`, '1').catch(() => undefined);
      if (!downIfs.has(dev)) await ip('link', 'set', dev, 'up');
    }
    this.log(`*** Configuring hosts: ${graph.hosts.map((h) => h.name).join(' ')}`);

    this.log(
      `*** Starting ${graph.switches.length} switches: ${graph.switches.map((s) => s.name).join(' ')}`,
    );
    const ops = this.bridgeOps(root);
    const { results, nextCfg } = await this.client.transactBump(root, ops);
    // Recorded before waiting, so that a failure from here on still removes the bridges.
    this.bridgeUuids = this.bridgeOpIndex
      .map((i) => uuidOf(results[i]?.uuid))
      .filter((u): u is string => u !== undefined);
    await this.client.waitApplied(root, nextCfg, this.opts.applyTimeoutMs);
    await this.checkInterfaces(rootIfs);
    // The switch brings a port's device up when it adds it (as OVS does): links meant to start
    // down are set down now, and the switch must have seen them go down.
    const down = this.linkRecs.filter((l) => !l.up);
    for (const l of down) {
      await setLinkUp(l.aIface, false, l.aNs);
      await setLinkUp(l.bIface, false, l.bNs);
    }
    await this.waitSwitchLinkState(down, false);
    const up = this.linkRecs.filter((l) => l.up);
    for (const l of up) {
      await waitLinksReady([l.aIface], l.aNs);
      await waitLinksReady([l.bIface], l.bNs);
    }
    await this.waitSwitchLinkState(up, true);
  }

  /**
   * Waits until the switch reports `Interface.link_state` `up` (or `down`) for every switch-side
   * end of `links`: it follows carriers about once a second, and until it has seen a link come up
   * its port does not forward.
   */
  private async waitSwitchLinkState(links: readonly LinkRec[], up: boolean): Promise<void> {
    const names = new Set(
      links.flatMap((l) => [
        ...(l.aNs === undefined ? [l.aIface] : []),
        ...(l.bNs === undefined ? [l.bIface] : []),
      ]),
    );
    if (names.size === 0) return;
    const want = up ? 'up' : 'down';
    const timeoutMs = this.opts.applyTimeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rows = await this.client.select('Interface', [], ['name', 'link_state']);
      const pending = rows.flatMap((r) =>
        typeof r.name === 'string' && names.has(r.name) && r.link_state !== want ? [r.name] : [],
      );
      if (pending.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(
          `the switch did not see ${pending.join(' ')} go ${want} within ${timeoutMs} ms`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private bridgeOpIndex: number[] = [];

  private bridgeOps(root: string): Json[] {
    const ops: Json[] = [];
    const bridgeNames: Json[] = [];
    const controllers = this.controllers;
    this.bridgeOpIndex = [];
    let n = 0;
    // Access VLANs of switch ports facing hosts whose VLAN is applied at the switch.
    const portTag = new Map<string, number>();
    for (const l of this.linkRecs) {
      if (l.vlan === undefined || l.vlanAt !== 'switch') continue;
      portTag.set(l.aNs === undefined ? l.aIface : l.bIface, l.vlan);
    }
    const portsOf = new Map<string, number[]>();
    for (const l of this.graph.links) {
      for (const e of [l.a, l.b]) {
        if (this.kinds.get(e.node) !== 'switch') continue;
        const list = portsOf.get(e.node) ?? [];
        list.push(e.port);
        portsOf.set(e.node, list);
      }
    }
    const addPort = (name: string, iface: JsonObject): Json => {
      const tag = portTag.get(name);
      const i = `if${n}`;
      const p = `pt${n}`;
      n++;
      ops.push({ op: 'insert', table: 'Interface', row: { name, ...iface }, 'uuid-name': i });
      ops.push({
        op: 'insert',
        table: 'Port',
        row: { name, interfaces: namedUuid(i), ...(tag !== undefined ? { tag } : {}) },
        'uuid-name': p,
      });
      return namedUuid(p);
    };
    this.graph.switches.forEach((sw: SwitchNode, si) => {
      const ports: Json[] = [addPort(sw.name, { type: 'internal' })];
      for (const port of portsOf.get(sw.name) ?? []) {
        ports.push(addPort(this.switchIfname(sw.name, port), { ofport_request: port }));
      }
      const ctls: Json[] = controllers.map((target, ci) => {
        const c = `ct${si}_${ci}`;
        ops.push({
          op: 'insert',
          table: 'Controller',
          row: { target, max_backoff: 1000 },
          'uuid-name': c,
        });
        return namedUuid(c);
      });
      const b = `br${si}`;
      this.bridgeOpIndex.push(ops.length);
      ops.push({
        op: 'insert',
        table: 'Bridge',
        'uuid-name': b,
        row: {
          name: sw.name,
          ports: ['set', ports],
          controller: ['set', ctls],
          fail_mode: this.failMode,
          datapath_type: 'netdev',
          other_config: ovsMap({
            'datapath-id': sw.dpid,
            'disable-in-band': 'true',
            'dp-desc': sw.name,
          }),
          external_ids: ovsMap({
            'tsvs-topo': '1',
            'tsvs-topo-prefix': this.prefix,
            'tsvs-topo-pid': String(process.pid),
          }),
        },
      });
      bridgeNames.push(namedUuid(b));
    });
    ops.push({
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [['_uuid', '==', uuidAtom(root)]],
      mutations: [['bridges', 'insert', ['set', bridgeNames]]],
    });
    return ops;
  }

  private async checkInterfaces(names: string[]): Promise<void> {
    const rows = await this.client.select('Interface', [], ['name', 'ofport', 'error']);
    const want = new Set(names);
    const bad: string[] = [];
    for (const r of rows) {
      if (typeof r.name !== 'string' || !want.has(r.name)) continue;
      const ofport = typeof r.ofport === 'number' ? r.ofport : -1;
      if (ofport <= 0) {
        bad.push(`${r.name}: ${typeof r.error === 'string' ? r.error : 'no OpenFlow port'}`);
      }
    }
    if (bad.length > 0) throw new Error(`interfaces not attached: ${bad.join('; ')}`);
  }

  /** The description of the running topology, as written to `<rundir>/topo.json`. */
  description(): TopoDescription {
    return {
      version: 1,
      prefix: this.prefix,
      spec: this.graph.spec,
      pid: process.pid,
      controllers: [...this.controllers],
      failMode: this.failMode,
      hosts: this.hosts.map((h) => ({
        name: h.name,
        netns: h.ns,
        ip: h.ip,
        prefixLen: h.prefixLen,
        mac: h.mac,
        iface: h.iface,
        ...(h.vlan !== undefined ? { vlan: h.vlan, vlanAt: h.vlanAt ?? 'host' } : {}),
        switch: h.switch,
        port: h.port,
      })),
      switches: this.graph.switches.map((s) => ({ name: s.name, dpid: s.dpid })),
      links: this.linkRecs.map((l) => ({
        a: l.a,
        b: l.b,
        aIface: l.aIface,
        bIface: l.bIface,
        aPort: l.aPort,
        bPort: l.bPort,
        up: l.up,
        ...(l.mtu !== undefined ? { mtu: l.mtu } : {}),
      })),
    };
  }

  /**
   * Writes `<rundir>/topo.json` atomically (temporary file, then rename). A failure (a run
   * directory this process may not write) is logged as a warning: the network works without it.
   */
  private async writeDescription(): Promise<void> {
    const file = this.descriptionPath;
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      await writeFile(tmp, `${JSON.stringify(this.description(), null, 2)}\n`);
      await rename(tmp, file);
      this.descriptionWritten = true;
    } catch (e) {
      this.log(`*** Warning: could not write ${file}: ${(e as Error).message}`);
      await unlink(tmp).catch(() => undefined);
    }
  }

  /** Removes `<rundir>/topo.json` if it still describes this topology. */
  private async removeDescription(): Promise<void> {
    if (!this.descriptionWritten) return;
    this.descriptionWritten = false;
    try {
      const cur = JSON.parse(await readFile(this.descriptionPath, 'utf8')) as { prefix?: unknown };
      if (cur.prefix === this.prefix) await unlink(this.descriptionPath);
    } catch {
      // Gone already, or replaced by something unreadable: not ours to remove.
    }
  }

  private hostOrThrow(name: string): HostPlace {
    const h = this.host(name);
    if (h === undefined) {
      throw new Error(
        this.kinds.has(name) ? `${name} is a switch, not a host` : `no host named "${name}"`,
      );
    }
    return h;
  }

  /**
   * Sets every link between nodes `n1` and `n2` (either order) up or down: both veth ends. Waits
   * until the switch has seen the change (and, going up, until both ends carry traffic). Rewrites
   * `<rundir>/topo.json`. Resolves with the links changed; rejects if there is no such link.
   */
  async setLink(n1: string, n2: string, up: boolean): Promise<LinkPlace[]> {
    for (const n of [n1, n2]) if (!this.kinds.has(n)) throw new Error(`no node named "${n}"`);
    const recs = this.linkRecs.filter(
      (l) => (l.a === n1 && l.b === n2) || (l.a === n2 && l.b === n1),
    );
    if (recs.length === 0) throw new Error(`no link between ${n1} and ${n2}`);
    for (const l of recs) {
      await setLinkUp(l.aIface, up, l.aNs);
      await setLinkUp(l.bIface, up, l.bNs);
      l.up = up;
    }
    if (up) {
      for (const l of recs) {
        await waitLinksReady([l.aIface], l.aNs);
        await waitLinksReady([l.bIface], l.bNs);
      }
    }
    await this.waitSwitchLinkState(recs, up);
    await this.writeDescription();
    return recs.map((l) => ({ ...l }));
  }

  /**
   * Host `src` pings host `dst` `count` times (default 1, 1 s wait). Rejects for an unknown
   * host; a lost ping is a result, not an error.
   */
  async ping(src: string, dst: string, count = 1): Promise<PingPairResult> {
    const s = this.hostOrThrow(src);
    const d = this.hostOrThrow(dst);
    const r = await pingFrom(s.ns, d.ip, 1, count);
    const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(r.output);
    const rtt = /= [\d.]+\/([\d.]+)\//.exec(r.output);
    return {
      sent: m ? Number(m[1]) : count,
      received: m ? Number(m[2]) : 0,
      ...(rtt ? { rttMs: Number(rtt[1]) } : {}),
      output: r.output,
    };
  }

  /**
   * TCP throughput from host `client` to host `server` with iperf3 (`-t seconds`, default 5): a
   * one-off server in the server's namespace, the client in the client's. Rejects when iperf3 is
   * missing or the test fails (no connection, an iperf3 error).
   */
  async iperf(client: string, server: string, seconds = 5): Promise<IperfResult> {
    const iperf3 = requireTool('iperf3', 'iperf3');
    const c = this.hostOrThrow(client);
    const s = this.hostOrThrow(server);
    if (c === s) throw new Error('iperf needs two different hosts');
    const srv = spawn(requireTool('ip', 'iproute2'), ['netns', 'exec', s.ns, iperf3, '-s', '-1'], {
      stdio: 'ignore',
    });
    const srvDone = new Promise<void>((r) => srv.once('close', () => r()));
    try {
      let last = '';
      for (let attempt = 0; attempt < 50; attempt++) {
        let out = '';
        const code = await spawnIn(c.ns, [iperf3, '-c', s.ip, '-t', String(seconds), '-J'], {
          onStdout: (d) => (out += d),
          onStderr: (d) => (out += d),
          timeoutMs: (seconds + 30) * 1000,
        });
        let j: unknown;
        try {
          j = JSON.parse(out);
        } catch {
          j = undefined;
        }
        const rec = (typeof j === 'object' && j !== null ? j : {}) as {
          error?: string;
          end?: {
            sum_sent?: { bits_per_second?: number };
            sum_received?: { bits_per_second?: number };
          };
        };
        const sent = rec.end?.sum_sent?.bits_per_second;
        const recv = rec.end?.sum_received?.bits_per_second;
        if (code === 0 && typeof sent === 'number' && typeof recv === 'number') {
          return { client, server, sentBps: sent, receivedBps: recv };
        }
        last = rec.error ?? out.trim();
        // The server may not listen yet: retry on a refused connection only.
        if (!/refused/i.test(last) || srv.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`iperf3 ${client} -> ${server} failed: ${last || 'no result'}`);
    } finally {
      if (srv.exitCode === null && srv.signalCode === null) srv.kill('SIGTERM');
      await srvDone;
    }
  }

  /**
   * Runs `command` through `/bin/sh -c` in host `host`'s namespace (in the root namespace when
   * `host` is undefined), streaming its output to `onStdout`/`onStderr`; aborting `signal` kills
   * it. Resolves with its exit status; rejects for an unknown host.
   */
  async exec(
    host: string | undefined,
    command: string,
    opts: {
      onStdout?: (s: string) => void;
      onStderr?: (s: string) => void;
      signal?: AbortSignal;
    } = {},
  ): Promise<number> {
    const ns = host === undefined ? undefined : this.hostOrThrow(host).ns;
    return spawnIn(ns, ['/bin/sh', '-c', command], opts);
  }

  /**
   * Every host pings every other once (`ping -c1 -W1`), as Mininet's pingall: prints the matrix
   * (`h1 -> h2 X`) and `*** Results: N% dropped (a/b received)` through `print` (default: the
   * topology's log). The pings of one source run concurrently (at most `concurrency`, default 8).
   */
  async pingAll(
    opts: { concurrency?: number; signal?: AbortSignal; print?: (line: string) => void } = {},
  ): Promise<PingAllResult> {
    requireTool('ping', 'iputils-ping');
    const print = opts.print ?? ((l: string) => this.log(l));
    const limit = Math.max(1, opts.concurrency ?? 8);
    print('*** Ping: testing ping reachability');
    const rows: PingRow[] = [];
    let sent = 0;
    let received = 0;
    for (const src of this.hosts) {
      if (opts.signal?.aborted) break;
      const dsts = this.hosts.filter((h) => h !== src);
      const results: { dst: string; ok: boolean }[] = dsts.map((d) => ({ dst: d.name, ok: false }));
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < dsts.length) {
          const i = next++;
          const d = dsts[i]!;
          const r = await pingFrom(src.ns, d.ip);
          results[i] = { dst: d.name, ok: r.ok };
        }
      };
      await Promise.all(Array.from({ length: Math.min(limit, dsts.length) }, worker));
      sent += results.length;
      received += results.filter((r) => r.ok).length;
      rows.push({ src: src.name, results });
      print(`${src.name} -> ${results.map((r) => (r.ok ? r.dst : 'X')).join(' ')}`);
    }
    const droppedPct = sent === 0 ? 0 : Math.trunc((100 * (sent - received)) / sent);
    print(`*** Results: ${droppedPct}% dropped (${received}/${sent} received)`);
    return { sent, received, droppedPct, rows };
  }

  /**
   * Removes everything this topology created: `<rundir>/topo.json`, its bridges (waiting for the
   * switch to apply it), namespaces and links; then stops the daemon if it started one.
   * Idempotent; never throws.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.removeDescription();
    const uuids = this.bridgeUuids.filter(Boolean);
    if (uuids.length > 0) {
      this.log(`*** Stopping ${uuids.length} switches`);
      try {
        const root = await this.client.rootUuid();
        await this.client.transactAndWait(
          root,
          [
            {
              op: 'mutate',
              table: 'Open_vSwitch',
              where: [['_uuid', '==', uuidAtom(root)]],
              mutations: [['bridges', 'delete', ovsSet(uuids.map(uuidAtom))]],
            },
          ],
          this.opts.applyTimeoutMs,
        );
      } catch (e) {
        this.log(`*** Warning: could not remove the bridges: ${(e as Error).message}`);
      }
    }
    this.client.close();
    if (this.createdNs.length + this.createdLinks.length > 0) {
      this.log(`*** Removing ${this.createdNs.length} hosts and ${this.createdLinks.length} links`);
    }
    for (const ns of this.createdNs) await ipQuiet('netns', 'del', ns);
    for (const l of this.createdLinks) await ipQuiet('link', 'del', l);
    if (this.daemon) await this.daemon.stop();
    this.log('*** Done');
  }

  /**
   * Removes leftovers of earlier topologies: namespaces and links carrying a prefix, and the
   * bridges marked `external_ids:tsvs-topo=1`. See {@link CleanOptions} for which ones.
   */
  static async clean(opts: CleanOptions = {}): Promise<TopoCleanResult> {
    requireTool('ip', 'iproute2');
    const log = opts.log ?? (() => undefined);
    const rundir = resolve(opts.rundir ?? 'var');
    const prefix = opts.prefix;
    const nameMatch = (name: string): boolean => {
      if (prefix !== undefined) return prefixPattern(prefix).test(name);
      const m = DEFAULT_NAME.exec(name);
      return m !== null && !pidAlive(Number.parseInt(m[1]!, 36));
    };
    const bridges: string[] = [];
    log('*** Removing topo bridges');
    let conn: { client: OvsdbClient; daemon: DaemonHandle | undefined } | undefined;
    try {
      conn = await connectOrStart(rundir, opts.startDaemon);
    } catch (e) {
      log(`*** Warning: no database to clean: ${(e as Error).message}`);
    }
    if (conn) {
      try {
        const rows = await conn.client.select('Bridge', [], ['_uuid', 'name', 'external_ids']);
        const doomed: string[] = [];
        for (const r of rows) {
          const ext = mapItems(r.external_ids);
          if (ext['tsvs-topo'] !== '1') continue;
          if (prefix !== undefined) {
            if (ext['tsvs-topo-prefix'] !== prefix) continue;
          } else {
            const pid = Number(ext['tsvs-topo-pid']);
            if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) continue;
          }
          const u = uuidOf(r._uuid);
          if (u !== undefined) {
            doomed.push(u);
            bridges.push(typeof r.name === 'string' ? r.name : u);
          }
        }
        if (doomed.length > 0) {
          const root = await conn.client.rootUuid();
          await conn.client.transactAndWait(root, [
            {
              op: 'mutate',
              table: 'Open_vSwitch',
              where: [['_uuid', '==', uuidAtom(root)]],
              mutations: [['bridges', 'delete', ovsSet(doomed.map(uuidAtom))]],
            },
          ]);
        }
      } finally {
        conn.client.close();
        if (conn.daemon) await conn.daemon.stop();
      }
    }
    if (bridges.length > 0) log(bridges.join(' '));
    log('*** Removing namespaces and links');
    const r = await cleanNames(nameMatch);
    const all = [...r.namespaces, ...r.links];
    if (all.length > 0) log(all.join(' '));
    log('*** Cleanup complete.');
    return { ...r, bridges };
  }
}

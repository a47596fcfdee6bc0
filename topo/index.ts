/**
 * `tsvs topo`: Mininet-style networks on a tsvs switch. Hosts are network namespaces joined by a
 * veth to a switch port; switch-to-switch links are veth pairs with both ends in the root
 * namespace; switches are tsvs bridges created over the daemon's OVSDB socket (JSON-RPC, no OVS
 * tools). {@link Topo.start} builds a network, {@link Topo.pingAll} runs Mininet's pingall and
 * {@link Topo.stop} removes exactly what was created.
 *
 * ```ts
 * const net = await Topo.start({ spec: 'linear,3', startDaemon });
 * const r = await net.pingAll();   // r.dropped === 0
 * await net.stop();
 * ```
 *
 * topo/ may import only lib/ and ovsdb/, so starting a daemon in-process when none runs on the
 * run directory is the caller's job: it passes {@link TopoOptions.startDaemon} (bin/tsvs.ts and
 * the tests pass one built on vswitchd's `Daemon.start`).
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
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
  waitLinksReady,
  type CleanResult,
} from './net.js';
import { parseSpec, type HostNode, type SwitchNode, type TopoGraph } from './spec.js';

export * from './spec.js';
export { OvsdbClient } from './ovsdb-client.js';

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
  /** Its interface, inside the namespace (`h1-eth0`). */
  readonly ifname: string;
}

let seq = 0;

/** `tv` + the pid in base 36 (5 characters) + one base-36 counter character. */
export function defaultPrefix(): string {
  const pid = process.pid.toString(36).padStart(5, '0').slice(-5);
  const n = (seq++ % 36).toString(36);
  return `tv${pid}${n}`;
}

/** Matches the names made with a {@link defaultPrefix}; group 1 is the owner's pid in base 36. */
const DEFAULT_NAME = /^tv([0-9a-z]{5})[0-9a-z](?:h\d+|s\d+e\d+)$/;

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

/** A running topology. Create with {@link Topo.start}. */
export class Topo {
  /** Hosts with their namespaces. */
  readonly hosts: readonly HostPlace[];
  private bridgeUuids: string[] = [];
  private readonly createdNs: string[] = [];
  private readonly createdLinks: string[] = [];
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
  ) {
    this.hosts = graph.hosts.map((h) => ({
      ...h,
      ns: `${prefix}${h.name}`,
      ifname: `${h.name}-eth0`,
    }));
  }

  /** True when this topology started the daemon it runs on. */
  get ownsDaemon(): boolean {
    return this.daemon !== undefined;
  }

  /** The root-namespace interface of switch `sw`'s port `port` (also its OVSDB port name). */
  switchIfname(sw: string, port: number): string {
    return `${this.prefix}${sw}e${port}`;
  }

  /**
   * Builds the network: connects to (or starts) the daemon, creates the namespaces and veths,
   * then the bridges with their ports in one transaction, and waits until the switch has applied
   * it and every link is up. On failure everything created so far is removed and the promise
   * rejects.
   */
  static async start(opts: TopoOptions): Promise<Topo> {
    const graph = typeof opts.spec === 'string' ? parseSpec(opts.spec) : opts.spec;
    const prefix = opts.prefix ?? defaultPrefix();
    if (!/^[A-Za-z0-9_-]+$/.test(prefix)) throw new Error(`bad prefix "${prefix}"`);
    requireTool('ip', 'iproute2');
    const rundir = resolve(opts.rundir ?? 'var');
    const { client, daemon } = await connectOrStart(rundir, opts.startDaemon);
    const net = new Topo(graph, prefix, rundir, client, daemon, opts);
    try {
      await net.build();
    } catch (e) {
      await net.stop();
      throw e;
    }
    return net;
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  private checkNames(): void {
    const names = [
      ...this.hosts.map((h) => h.ns),
      ...this.graph.links.flatMap((l) =>
        [l.a, l.b]
          .filter((e) => e.node.startsWith('s'))
          .map((e) => this.switchIfname(e.node, e.port)),
      ),
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
    if (this.opts.controllers?.length) {
      this.log(`*** Adding controller: ${this.opts.controllers.join(' ')}`);
    }
    this.log(`*** Adding hosts: ${graph.hosts.map((h) => h.name).join(' ')}`);
    this.log(`*** Adding switches: ${graph.switches.map((s) => s.name).join(' ')}`);
    this.log(`*** Adding links: ${graph.links.map((l) => `(${l.a.node}, ${l.b.node})`).join(' ')}`);
    const sysctl = findTool('sysctl');
    const ethtool = findTool('ethtool');
    if (!ethtool) {
      this.log('*** Warning: ethtool not found; host offloads stay on and TCP will be slow');
    }
    const rootIfs: string[] = [];
    const hostByName = new Map(this.hosts.map((h) => [h.name, h]));
    for (const link of graph.links) {
      const [he, se] = link.a.node.startsWith('h') ? [link.a, link.b] : [link.b, link.a];
      const host = hostByName.get(he.node);
      if (host) {
        // Host link: a veth from the switch port (root namespace) into the host's namespace.
        const sw = this.switchIfname(se.node, se.port);
        const hif = `${host.name}-eth${he.port}`;
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
        await ip('link', 'add', sw, 'type', 'veth', 'peer', 'name', hif, 'netns', host.ns);
        this.createdLinks.push(sw);
        await ip('-n', host.ns, 'link', 'set', hif, 'address', host.mac);
        if (ethtool) {
          // The userspace datapath forwards frames as the host's stack hands them over: with
          // offloads on, TCP segments carry partial checksums or exceed the MTU (TSO/GSO), and
          // TCP crawls. Mininet users of OVS's userspace datapath do the same.
          await ip(
            'netns',
            'exec',
            host.ns,
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
        }
        await ip('-n', host.ns, 'addr', 'add', `${host.ip}/${host.prefixLen}`, 'dev', hif);
        await ip('-n', host.ns, 'link', 'set', hif, 'up');
        await ip('-n', host.ns, 'link', 'set', 'lo', 'up');
        rootIfs.push(sw);
      } else {
        // Switch-to-switch link: both ends in the root namespace.
        const a = this.switchIfname(link.a.node, link.a.port);
        const b = this.switchIfname(link.b.node, link.b.port);
        await ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
        this.createdLinks.push(a);
        rootIfs.push(a, b);
      }
    }
    for (const dev of rootIfs) {
      // Keep the kernel's own IPv6 chatter (router solicitations, MLD) off the switch ports.
      await writeFile(`/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`, '1').catch(() => undefined);
      await ip('link', 'set', dev, 'up');
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
    for (const h of this.hosts) await waitLinksReady([h.ifname], h.ns);
    await waitLinksReady(rootIfs);
  }

  private bridgeOpIndex: number[] = [];

  private bridgeOps(root: string): Json[] {
    const ops: Json[] = [];
    const bridgeNames: Json[] = [];
    const controllers = this.opts.controllers ?? [];
    this.bridgeOpIndex = [];
    let n = 0;
    const portsOf = new Map<string, number[]>();
    for (const l of this.graph.links) {
      for (const e of [l.a, l.b]) {
        if (!e.node.startsWith('s')) continue;
        const list = portsOf.get(e.node) ?? [];
        list.push(e.port);
        portsOf.set(e.node, list);
      }
    }
    const addPort = (name: string, iface: JsonObject): Json => {
      const i = `if${n}`;
      const p = `pt${n}`;
      n++;
      ops.push({ op: 'insert', table: 'Interface', row: { name, ...iface }, 'uuid-name': i });
      ops.push({
        op: 'insert',
        table: 'Port',
        row: { name, interfaces: namedUuid(i) },
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
          fail_mode: controllers.length > 0 ? 'secure' : 'standalone',
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

  /**
   * Every host pings every other once (`ping -c1 -W1`), as Mininet's pingall: logs the matrix
   * (`h1 -> h2 X`) and `*** Results: N% dropped (a/b received)`. The pings of one source run
   * concurrently (at most `concurrency`, default 8).
   */
  async pingAll(opts: { concurrency?: number; signal?: AbortSignal } = {}): Promise<PingAllResult> {
    requireTool('ping', 'iputils-ping');
    const limit = Math.max(1, opts.concurrency ?? 8);
    this.log('*** Ping: testing ping reachability');
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
      this.log(`${src.name} -> ${results.map((r) => (r.ok ? r.dst : 'X')).join(' ')}`);
    }
    const droppedPct = sent === 0 ? 0 : Math.trunc((100 * (sent - received)) / sent);
    this.log(`*** Results: ${droppedPct}% dropped (${received}/${sent} received)`);
    return { sent, received, droppedPct, rows };
  }

  /**
   * Removes everything this topology created: its bridges (waiting for the switch to apply it),
   * namespaces and links; then stops the daemon if it started one. Idempotent; never throws.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
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

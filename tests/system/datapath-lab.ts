/**
 * A small lab for the datapath system tests (tests/system/datapath-*.test.ts): a tsvs daemon
 * runs inside its own network namespace (`<tag>sw`); each host has a namespace (`<tag>h<i>`)
 * joined to the switch namespace by a veth pair (`<tag>s<i>` on the switch side, `<tag>h<i>` on
 * the host side). Host offloads are turned off (TSO/GSO frames are not passed through the
 * userspace datapath yet), IPv6 is off unless asked for, and the host MACs are fixed
 * (`02:00:00:<lab>:00:0<i>`). Everything is removed in the test's teardown, even on failure.
 */
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { loadNative } from '../../datapath/native.js';
import { packageRoot } from '../../vswitchd/paths.js';
import { waitForAppctl } from '../helpers/appctl-client.js';
import { makeTempDir, tsvsCommand } from '../helpers/daemon.js';
import { sleep } from '../helpers/net.js';
import { inCI, peerPath, requirePeer, type Peer } from '../helpers/peers.js';
import { runTool, type ToolResult } from '../helpers/tools.js';

/** One host of a {@link DpLab}. */
export interface LabHost {
  /** 1-based index; the switch-side veth is OpenFlow port `index` (ofport_request). */
  readonly index: number;
  /** The host's namespace. */
  readonly ns: string;
  /** The host's interface (veth end in `ns`). */
  readonly dev: string;
  /** The switch's end of the veth (in the switch namespace). */
  readonly sw: string;
  /** The host's IPv4 address (10.<net>.0.<index>, /24). */
  readonly ip: string;
  /** The host interface's MAC. */
  readonly mac: string;
}

/** Options for {@link startLab}. */
export interface LabOptions {
  /** One letter or digit distinguishing this lab inside a test file (goes into every name). */
  id: string;
  /** Number of hosts (1..9). */
  hosts: number;
  /** Second octet of the hosts' 10.x.0.0/24 network. */
  net: number;
  /** MTU of every veth end (default: the kernel's 1500). */
  mtu?: number;
  /** Leave IPv6 enabled in the host namespaces (default false: disabled everywhere). */
  ipv6?: boolean;
  /** Add IPv4 addresses to the host interfaces (default true). */
  addresses?: boolean;
  /** Extra tools the test needs (checked with requirePeer). */
  peers?: Peer[];
  /** Start the daemon (default true); without it only the namespaces are made. */
  daemon?: boolean;
}

/** A running lab (see the module comment). */
export interface DpLab {
  /** Name prefix of everything this lab created. */
  readonly tag: string;
  /** The switch namespace, where the daemon runs. */
  readonly swNs: string;
  /** The hosts, index 1.. at array position 0... */
  readonly hosts: readonly LabHost[];
  /** The daemon's run directory. */
  readonly rundir: string;
  /** `ovs-vsctl --db=unix:<rundir>/db.sock --timeout=10 ...`. */
  vsctl(...args: string[]): Promise<ToolResult>;
  /** `ovs-ofctl -O OpenFlow13 <cmd> unix:<rundir>/<bridge>.mgmt ...`. */
  ofctl(cmd: string, bridge: string, ...args: string[]): Promise<ToolResult>;
  /** `ovs-appctl -t <rundir>/tsvs.ctl ...`. */
  appctl(...args: string[]): Promise<ToolResult>;
  /** Runs a command in host `i`'s namespace (1-based). */
  inHost(i: number, argv: string[], timeoutMs?: number): Promise<ToolResult>;
  /** Runs a command (no namespace). */
  sh(argv: string[], timeoutMs?: number): Promise<ToolResult>;
  /** What the daemon wrote on stderr so far. */
  daemonStderr(): string;
  /** Adds bridge `br` with every host's switch veth as port `index` (ofport_request). */
  addBridge(br: string, extra?: string[]): Promise<ToolResult>;
}

/** Turns off the offloads that make the kernel hand over frames the datapath cannot pass yet. */
const OFFLOADS_OFF = ['tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off'];

/**
 * Starts a lab, or returns undefined after recording why (a missing peer skips outside CI and
 * fails in CI; a setup failure fails the test). Registers teardown with `t`.
 */
export async function startLab(t: Test, opts: LabOptions): Promise<DpLab | undefined> {
  const tools: Peer[] = ['ip', 'ping', 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl', 'ethtool'];
  if (!requirePeer(t, ...tools, ...(opts.peers ?? []))) return undefined;
  try {
    loadNative();
  } catch (e) {
    if (inCI()) t.fail(`native addon not built: ${(e as Error).message}`);
    else t.plan(0, 'skip: native addon not built (npm run build:native)');
    return undefined;
  }
  const tag = `tdp${opts.id}${process.pid % 10000}`;
  const swNs = `${tag}sw`;
  const hosts: LabHost[] = [];
  const labByte = (process.pid % 200) + 16;
  for (let i = 1; i <= opts.hosts; i++) {
    hosts.push({
      index: i,
      ns: `${tag}h${i}`,
      dev: `${tag}h${i}`,
      sw: `${tag}s${i}`,
      ip: `10.${opts.net}.0.${i}`,
      mac: `02:00:00:${labByte.toString(16)}:00:0${i}`,
    });
  }
  const sh = (argv: string[], timeoutMs = 20_000): Promise<ToolResult> =>
    runTool(argv[0]!, argv.slice(1), { timeoutMs });
  const inHost = (i: number, argv: string[], timeoutMs = 20_000): Promise<ToolResult> =>
    sh(['ip', 'netns', 'exec', hosts[i - 1]!.ns, ...argv], timeoutMs);
  const dir = makeTempDir('tsvs-tdp-');
  const rundir = join(dir, 'run');

  const removeNamespaces = async (): Promise<void> => {
    for (const h of hosts) await sh(['ip', 'netns', 'del', h.ns]);
    await sh(['ip', 'netns', 'del', swNs]);
  };
  await removeNamespaces(); // leftovers of an earlier run with the same pid
  // The daemon, once spawned (an object, so the teardown below sees it).
  const daemon: { d?: NetnsDaemon } = {};
  t.teardown(async () => {
    await daemon.d?.stop();
    await removeNamespaces();
    rmSync(dir, { recursive: true, force: true });
  });

  const mtu = opts.mtu;
  const setup: string[][] = [
    ['ip', 'netns', 'add', swNs],
    ['ip', 'netns', 'exec', swNs, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1'],
    ['ip', 'netns', 'exec', swNs, 'sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1'],
    ['ip', '-n', swNs, 'link', 'set', 'lo', 'up'],
  ];
  for (const h of hosts) {
    setup.push(
      ['ip', 'netns', 'add', h.ns],
      [
        'ip',
        'netns',
        'exec',
        h.ns,
        'sysctl',
        '-qw',
        `net.ipv6.conf.all.disable_ipv6=${opts.ipv6 === true ? 0 : 1}`,
      ],
      [
        'ip',
        'netns',
        'exec',
        h.ns,
        'sysctl',
        '-qw',
        `net.ipv6.conf.default.disable_ipv6=${opts.ipv6 === true ? 0 : 1}`,
      ],
      ['ip', '-n', swNs, 'link', 'add', h.sw, 'type', 'veth', 'peer', 'name', h.dev],
      ['ip', '-n', swNs, 'link', 'set', h.dev, 'netns', h.ns],
      ['ip', '-n', h.ns, 'link', 'set', h.dev, 'address', h.mac],
    );
    if (mtu !== undefined) {
      setup.push(
        ['ip', '-n', swNs, 'link', 'set', h.sw, 'mtu', String(mtu)],
        ['ip', '-n', h.ns, 'link', 'set', h.dev, 'mtu', String(mtu)],
      );
    }
    setup.push(
      ['ip', 'netns', 'exec', h.ns, peerPath('ethtool')!, '-K', h.dev, ...OFFLOADS_OFF],
      ['ip', 'netns', 'exec', swNs, peerPath('ethtool')!, '-K', h.sw, ...OFFLOADS_OFF],
      ['ip', '-n', h.ns, 'link', 'set', 'lo', 'up'],
      ['ip', '-n', h.ns, 'link', 'set', h.dev, 'up'],
    );
    if (opts.addresses !== false) {
      setup.push(['ip', '-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', h.dev]);
    }
  }
  for (const cmd of setup) {
    const r = await sh(cmd);
    if (r.code !== 0) {
      t.fail(`${cmd.join(' ')}: ${r.stderr}`);
      return undefined;
    }
  }

  const vsctl = (...a: string[]): Promise<ToolResult> =>
    runTool('ovs-vsctl', [`--db=unix:${join(rundir, 'db.sock')}`, '--timeout=10', ...a]);
  const lab: DpLab = {
    tag,
    swNs,
    hosts,
    rundir,
    vsctl,
    ofctl: (cmd2, bridge, ...args) =>
      runTool('ovs-ofctl', [
        '-O',
        'OpenFlow13',
        cmd2,
        `unix:${join(rundir, `${bridge}.mgmt`)}`,
        ...args,
      ]),
    appctl: (...a) => runTool('ovs-appctl', ['-t', join(rundir, 'tsvs.ctl'), ...a]),
    inHost,
    sh,
    daemonStderr: () => daemon.d?.stderr() ?? '',
    addBridge: (br, extra = []) => {
      const args = ['add-br', br, ...extra];
      for (const h of hosts) {
        args.push('--', 'add-port', br, h.sw, '--', 'set', 'Interface', h.sw);
        args.push(`ofport_request=${h.index}`);
      }
      return vsctl(...args);
    },
  };
  if (opts.daemon === false) return lab;

  const d = await startNetnsDaemon(swNs, rundir, { TSVS_INTERNAL_PORTS: 'memory' });
  daemon.d = d;
  if (!d.up) {
    t.fail(`daemon did not start (${d.kind}):\n${d.stderr()}`);
    return undefined;
  }
  return lab;
}

/** A tsvs daemon started in a network namespace by {@link startNetnsDaemon}. */
export interface NetnsDaemon {
  /** Its control socket answered and its database socket exists. */
  readonly up: boolean;
  /** How it was started (tsvsCommand's kind: built or from source). */
  readonly kind: string;
  /** What it wrote on stderr so far. */
  stderr(): string;
  /** True once it exited. */
  dead(): boolean;
  /** SIGTERM, then SIGKILL after 5 s; resolves once it is gone (or 2 s after the SIGKILL). */
  stop(): Promise<void>;
}

/**
 * Starts `tsvs start --rundir RUNDIR` inside namespace `ns`, with `env` over the test's
 * environment, and waits up to 60 s for its control socket to answer and its database socket
 * to appear. The caller stops it (before removing the namespace), started or not.
 */
export async function startNetnsDaemon(
  ns: string,
  rundir: string,
  env: Record<string, string>,
): Promise<NetnsDaemon> {
  const cmd = tsvsCommand();
  const child = spawn(
    'ip',
    ['netns', 'exec', ns, process.execPath, ...cmd.nodeArgs, 'start', '--rundir', rundir],
    {
      cwd: packageRoot(),
      env: { ...process.env, ...cmd.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  let dead = false;
  const exited = new Promise<void>((r) =>
    child.on('exit', () => {
      dead = true;
      r();
    }),
  );
  const stop = async (): Promise<void> => {
    if (dead) return;
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (dead) return;
    child.kill('SIGKILL');
    await Promise.race([exited, sleep(2000)]);
  };
  let up = await waitForAppctl(join(rundir, 'tsvs.ctl'), 60_000, () => dead);
  // The control socket answers before every component has started: wait for the database too.
  for (let i = 0; i < 600 && !existsSync(join(rundir, 'db.sock')) && !dead; i++) await sleep(100);
  up = up && existsSync(join(rundir, 'db.sock'));
  return { up, kind: cmd.kind, stderr: () => stderr, dead: () => dead, stop };
}

/**
 * Pings from host `from` to `addr` until one run of `count` pings has no loss, at most `tries`
 * runs (the first pings may race ARP/ND or flow setup). Returns the last run.
 */
export async function pingUntil(
  lab: DpLab,
  from: number,
  addr: string,
  extra: string[] = [],
  tries = 4,
  count = 3,
): Promise<ToolResult> {
  let r: ToolResult | undefined;
  for (let i = 0; i < tries; i++) {
    r = await lab.inHost(
      from,
      ['ping', '-c', String(count), '-i', '0.2', '-W', '2', ...extra, addr],
      30_000,
    );
    if (r.code === 0 && / 0% packet loss/.test(r.stdout)) return r;
  }
  return r!;
}

/** Result of {@link iperf}: bytes the server received, or the error text. */
export interface IperfResult {
  /** Bytes received by the server side (0 on failure). */
  bytes: number;
  /** Receiver's bits per second (0 on failure). */
  bps: number;
  /** Diagnostic text (client output and server error). */
  text: string;
}

/**
 * Runs `iperf3 -t <seconds>` (TCP) from host `client` to host `server` (a one-off server,
 * `iperf3 -s -1 -p <5201 + server>`, started in the server namespace first). The client
 * connects to the server's address and port unless `via` names others (for rewriting rules).
 */
export async function iperf(
  lab: DpLab,
  client: number,
  server: number,
  seconds = 2,
  via?: { addr: string; port: number },
): Promise<IperfResult> {
  const srv = lab.hosts[server - 1]!;
  const port = String(5201 + server);
  const dstAddr = via?.addr ?? srv.ip;
  const dstPort = via !== undefined ? String(via.port) : port;
  const sp = spawn(
    'ip',
    ['netns', 'exec', srv.ns, 'iperf3', '-s', '-1', '--forceflush', '-p', port, '-B', srv.ip],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let srvOut = '';
  sp.stdout.setEncoding('utf8').on('data', (s: string) => (srvOut += s));
  sp.stderr.setEncoding('utf8').on('data', (s: string) => (srvOut += s));
  const srvExit = new Promise<void>((r) => sp.on('exit', () => r()));
  try {
    // Wait for the server to listen.
    for (let i = 0; i < 100 && !/listening/i.test(srvOut); i++) await sleep(50);
    let r: ToolResult | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      r = await lab.inHost(
        client,
        [
          'iperf3',
          '-c',
          dstAddr,
          '-p',
          dstPort,
          '-t',
          String(seconds),
          '-J',
          '--connect-timeout',
          '3000',
        ],
        (seconds + 20) * 1000,
      );
      if (r.code === 0) break;
      if (!/unable to connect|Connection refused/i.test(r.stdout + r.stderr)) break;
      await sleep(300);
    }
    if (r === undefined || r.code !== 0) {
      return { bytes: 0, bps: 0, text: `${r?.stdout ?? ''}${r?.stderr ?? ''}\nserver: ${srvOut}` };
    }
    const j = JSON.parse(r.stdout) as {
      end?: { sum_received?: { bytes?: number; bits_per_second?: number } };
    };
    return {
      bytes: j.end?.sum_received?.bytes ?? 0,
      bps: j.end?.sum_received?.bits_per_second ?? 0,
      text: r.stdout.slice(-2000),
    };
  } finally {
    if (sp.exitCode === null && sp.signalCode === null) sp.kill('SIGKILL');
    await Promise.race([srvExit, sleep(2000)]);
  }
}

/** Sum of `packets:N` over dump-flows lines matching `re`. */
export function flowPackets(dump: string, re: RegExp): number {
  let n = 0;
  for (const l of dump.split('\n')) {
    if (!re.test(l)) continue;
    const m = /packets:(\d+)/.exec(l);
    if (m) n += Number(m[1]);
  }
  return n;
}

/** Datapath port numbers by device name, from `dpctl/show` (they differ from OpenFlow ports). */
export async function dpPorts(lab: DpLab): Promise<Map<string, number>> {
  const show = (await lab.appctl('dpctl/show')).stdout;
  const m = new Map<string, number>();
  for (const l of show.split('\n')) {
    const r = /^\s+port (\d+): (\S+)/.exec(l);
    if (r) m.set(r[2]!, Number(r[1]));
  }
  return m;
}

/** A running `tcpdump` started by {@link capture}. */
export interface Capture {
  /** Waits until tcpdump exits (count reached) or `timeoutMs` passes, then returns its output. */
  done(timeoutMs?: number): Promise<string>;
}

/**
 * Starts `tcpdump -e -n -l -i <dev> -c <count> <filter>` in host `host`'s namespace and resolves
 * once it is listening (or after 10 s).
 */
export async function capture(
  lab: DpLab,
  host: number,
  dev: string,
  filter: string,
  count: number,
): Promise<Capture> {
  const h = lab.hosts[host - 1]!;
  const p = spawn(
    'ip',
    [
      'netns',
      'exec',
      h.ns,
      'tcpdump',
      '-e',
      '-n',
      '-l',
      '-i',
      dev,
      '-c',
      String(count),
      ...filter.split(' '),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  p.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  p.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<void>((r) => p.on('exit', () => r()));
  for (let i = 0; i < 200 && !/listening on/.test(err) && p.exitCode === null; i++) {
    await sleep(50);
  }
  return {
    done: async (timeoutMs = 5000) => {
      await Promise.race([exited, sleep(timeoutMs)]);
      if (p.exitCode === null && p.signalCode === null) {
        p.kill('SIGINT');
        await Promise.race([exited, sleep(2000)]);
        if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      }
      return out;
    },
  };
}

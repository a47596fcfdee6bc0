/**
 * Private network namespaces with veth pairs for the AF_PACKET system tests and benchmark.
 *
 * Every namespace is named `tsvsap<pid>-<n>` and holds only our veths, up, with IPv6 disabled
 * (so the kernel sends nothing of its own on them) and no addresses. {@link VethLab.destroy}
 * deletes the namespace (and with it the veths); labs still alive when the process exits are
 * deleted then too.
 */
import { spawnSync } from 'node:child_process';
import { peerPath } from '../helpers/peers.js';
import { runTool } from '../helpers/tools.js';

/** One namespace with veth pairs. */
export interface VethLab {
  /** Namespace name (for the netdevs' `netns` option). */
  readonly ns: string;
  /** The pairs' end names: pairs[i] = [a, b]. */
  readonly pairs: readonly (readonly [string, string])[];
  /** Runs `ip -n <ns> <args>` and throws on failure. */
  ip(...args: string[]): string;
  /** Runs a command inside the namespace (`ip netns exec`) and throws on failure. */
  exec(...argv: string[]): string;
  /** Deletes the namespace. Idempotent. */
  destroy(): void;
}

let seq = 0;
const alive = new Set<VethLab>();
let exitHook = false;

function ipBin(): string {
  const p = peerPath('ip');
  if (p === undefined) throw new Error('ip (iproute2) is not installed');
  return p;
}

function run(argv: string[]): string {
  const [cmd, ...args] = argv;
  const r = spawnSync(cmd!, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  if (r.status !== 0)
    throw new Error(
      `${argv.join(' ')} failed (${r.status}): ${r.stderr.trim() || r.stdout.trim()}`,
    );
  return r.stdout;
}

/** Deletes namespaces `tsvsap<pid>-*` left by processes that no longer exist. */
function reapStale(ip: string): void {
  const r = spawnSync(ip, ['netns', 'list'], { encoding: 'utf8', timeout: 30_000 });
  for (const line of (r.stdout ?? '').split('\n')) {
    const m = /^(tsvsap(\d+)-\d+)/.exec(line);
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 0);
      continue; // its owner is alive
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EPERM') continue;
    }
    spawnSync(ip, ['netns', 'del', m[1]!], { stdio: 'ignore', timeout: 30_000 });
  }
}

/**
 * Waits (up to 10 s) until every device is operationally up with its real qdisc attached.
 * Until the kernel's link-watch work runs after carrier-on, a new veth still has the noop
 * qdisc, which drops every frame sent through the stack or a plain AF_PACKET socket — on a
 * busy machine that window is long enough to lose a test's frames.
 */
function waitLinksReady(lab: VethLab, devs: string[]): void {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const out = lab.ip('-o', 'link', 'show');
    const ready = devs.every((d) => {
      const line = out.split('\n').find((l) => new RegExp(`^\\d+: ${d}@`).test(l));
      return line !== undefined && /state UP/.test(line) && !/qdisc noop/.test(line);
    });
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`veths not up after 10 s:\n${out}`);
    spawnSync('sleep', ['0.02']);
  }
}

/** Options for {@link makeVethLab}. */
export interface VethLabOptions {
  /** Number of veth pairs (default 1). */
  pairs?: number;
  /** MTU of every veth end (default 1500). */
  mtu?: number;
  /** Turn off checksum and segmentation offloads on every end with ethtool (default false). */
  offloadsOff?: boolean;
}

/** Creates a namespace with `pairs` veth pairs `v<i>a` ⇄ `v<i>b`, all up. */
export function makeVethLab(opts: VethLabOptions = {}): VethLab {
  const ip = ipBin();
  const ns = `tsvsap${process.pid}-${seq++}`;
  const pairs: [string, string][] = [];
  let destroyed = false;
  const lab: VethLab = {
    ns,
    pairs,
    ip: (...args) => run([ip, '-n', ns, ...args]),
    exec: (...argv) => run([ip, 'netns', 'exec', ns, ...argv]),
    destroy() {
      if (destroyed) return;
      destroyed = true;
      alive.delete(lab);
      spawnSync(ip, ['netns', 'del', ns], { stdio: 'ignore', timeout: 30_000 });
    },
  };
  reapStale(ip);
  run([ip, 'netns', 'add', ns]);
  alive.add(lab);
  if (!exitHook) {
    exitHook = true;
    const destroyAll = (): void => {
      for (const l of [...alive]) l.destroy();
    };
    process.on('exit', destroyAll);
    // A test runner's timeout ends the process with a signal, which skips 'exit'.
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      process.once(sig, () => {
        destroyAll();
        process.kill(process.pid, sig);
      });
    }
  }
  try {
    lab.exec(
      'sh',
      '-c',
      'for f in all default; do echo 1 > /proc/sys/net/ipv6/conf/$f/disable_ipv6; done',
    );
    const n = opts.pairs ?? 1;
    for (let i = 0; i < n; i++) {
      const a = `v${i}a`;
      const b = `v${i}b`;
      lab.ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
      for (const d of [a, b]) {
        if (opts.mtu !== undefined) lab.ip('link', 'set', d, 'mtu', String(opts.mtu));
        if (opts.offloadsOff) {
          const et = peerPath('ethtool');
          if (et === undefined) throw new Error('ethtool is not installed');
          lab.exec(et, '-K', d, 'tx', 'off', 'rx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off');
        }
        lab.ip('link', 'set', d, 'up');
      }
      pairs.push([a, b]);
    }
    waitLinksReady(lab, pairs.flat());
  } catch (e) {
    lab.destroy();
    throw e;
  }
  return lab;
}

/** Reads `/sys/class/net/<dev>/statistics/<name>` inside the lab's namespace. */
export function ifStat(lab: VethLab, dev: string, name: string): number {
  return Number(lab.exec('cat', `/sys/class/net/${dev}/statistics/${name}`).trim());
}

/**
 * Makes network namespace `ns` (IPv6 off) holding the veth pairs `pairs` (both ends up), removed
 * in `t`'s teardown (and first, if a crashed run left it). Fails `t` and returns false when an
 * `ip` command fails.
 */
export async function vethNamespace(
  t: { teardown(fn: () => Promise<void>): void; fail(msg: string): void },
  ns: string,
  pairs: readonly (readonly [string, string])[],
): Promise<boolean> {
  const ip = (...a: string[]) => runTool('ip', a, { timeoutMs: 20_000 });
  await ip('netns', 'del', ns);
  t.teardown(async () => {
    await ip('netns', 'del', ns);
  });
  const cmds: string[][] = [
    ['netns', 'add', ns],
    ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1'],
    ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1'],
  ];
  for (const [a, b] of pairs)
    cmds.push(['-n', ns, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
  for (const [a, b] of pairs)
    cmds.push(['-n', ns, 'link', 'set', a, 'up'], ['-n', ns, 'link', 'set', b, 'up']);
  for (const cmd of cmds) {
    const r = await ip(...cmd);
    if (r.code !== 0) {
      t.fail(`ip ${cmd.join(' ')}: ${r.stderr}`);
      return false;
    }
  }
  return true;
}

/**
 * The Linux side of a topology: network namespaces for hosts and veth pairs for links, made with
 * iproute2's `ip`, and `ping` run inside a host's namespace. Every name carries the topology's
 * prefix so that {@link cleanNames} can find leftovers; nothing outside those names is touched.
 */
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Longest Linux interface name (IFNAMSIZ - 1). */
export const MAX_IFNAME = 15;

/** Outcome of one command. */
export interface RunResult {
  /** Exit status (-1 if it could not run or was killed). */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error (or the spawn error's message). */
  stderr: string;
}

const SYSTEM_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const found = new Map<string, string | undefined>();

/** Absolute path of an executable (system directories first, then PATH), or undefined. */
export function findTool(name: string): string | undefined {
  if (found.has(name)) return found.get(name);
  const dirs = [...SYSTEM_DIRS, ...(process.env.PATH ?? '').split(delimiter).filter(Boolean)];
  const hit = dirs
    .map((d) => join(d, name))
    .find((f) => {
      try {
        accessSync(f, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
  found.set(name, hit);
  return hit;
}

/** Like {@link findTool} but throws a clear error when the tool is missing. */
export function requireTool(name: string, pkg: string): string {
  const p = findTool(name);
  if (p === undefined) throw new Error(`${name} is not installed (Debian package ${pkg})`);
  return p;
}

/** Runs a command; never rejects. */
export function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        resolve({ code: -1, stdout, stderr: stderr || err.message });
        return;
      }
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

/** Runs `ip ARGS`; rejects with its stderr if it fails. */
export async function ip(...args: string[]): Promise<string> {
  const r = await run(requireTool('ip', 'iproute2'), args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
  return r.stdout;
}

/** Runs `ip ARGS` and ignores failure (for teardown). */
export async function ipQuiet(...args: string[]): Promise<void> {
  const p = findTool('ip');
  if (p !== undefined) await run(p, args);
}

/** Names of the network namespaces. */
export async function listNamespaces(): Promise<string[]> {
  const out = await ip('netns', 'list');
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

/** Names of the links in the root namespace. */
export async function listLinks(): Promise<string[]> {
  const out = await ip('-o', 'link', 'show');
  const names: string[] = [];
  for (const line of out.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)/.exec(line);
    if (m) names.push(m[1]!);
  }
  return names;
}

/**
 * Waits (up to `timeoutMs`) until every device in `devs` (in namespace `ns`, or the root one) is
 * operationally up with its real qdisc: a fresh veth keeps the `noop` qdisc, which drops
 * everything sent, until the kernel's link-watch work runs.
 */
export async function waitLinksReady(
  devs: string[],
  ns?: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = await ip(...(ns ? ['-n', ns] : []), '-o', 'link', 'show');
    const notReady = devs.filter((d) => {
      const line = out.split('\n').find((l) => l.includes(` ${d}@`) || l.includes(` ${d}:`));
      return line === undefined || !/state UP/.test(line) || /qdisc noop/.test(line);
    });
    if (notReady.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`links not up after ${timeoutMs} ms: ${notReady.join(' ')}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Result of one ping. */
export interface PingResult {
  /** True if the echo reply came back. */
  ok: boolean;
  /** ping's output (for diagnostics). */
  output: string;
}

/** `ip netns exec NS ping -cCOUNT -WWAIT -n DST` (count default 1, wait default 1 s). */
export async function pingFrom(
  ns: string,
  dst: string,
  waitSec = 1,
  count = 1,
): Promise<PingResult> {
  const ping = requireTool('ping', 'iputils-ping');
  const args = ['netns', 'exec', ns, ping, `-c${count}`, `-W${waitSec}`, '-n'];
  if (count > 1) args.push('-i0.2');
  const r = await run(requireTool('ip', 'iproute2'), [...args, dst], (waitSec + count + 10) * 1000);
  return { ok: r.code === 0, output: r.stdout + r.stderr };
}

/** Options of {@link spawnIn}. */
export interface SpawnInOptions {
  /** Receives standard output as it comes. */
  onStdout?: (chunk: string) => void;
  /** Receives standard error as it comes. */
  onStderr?: (chunk: string) => void;
  /** Aborting kills the command (SIGTERM, then SIGKILL after 2 s). */
  signal?: AbortSignal;
  /** Kill the command after this many ms (default: never). */
  timeoutMs?: number;
}

/**
 * Runs `argv` inside network namespace `ns` (`ip netns exec NS ARGV...`; in the root namespace
 * when `ns` is undefined), streaming its output, with standard input closed. Resolves with the
 * exit status (128 + signal number when killed, -1 if it could not start); never rejects.
 */
export function spawnIn(
  ns: string | undefined,
  argv: string[],
  opts: SpawnInOptions = {},
): Promise<number> {
  return new Promise((resolve) => {
    const [cmd, ...args] =
      ns === undefined ? argv : [requireTool('ip', 'iproute2'), 'netns', 'exec', ns, ...argv];
    const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => opts.onStdout?.(d));
    child.stderr.on('data', (d: string) => opts.onStderr?.(d));
    let killTimer: NodeJS.Timeout | undefined;
    const kill = (): void => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      killTimer ??= setTimeout(() => child.kill('SIGKILL'), 2000);
    };
    const timer = opts.timeoutMs !== undefined ? setTimeout(kill, opts.timeoutMs) : undefined;
    opts.signal?.addEventListener('abort', kill, { once: true });
    let done = false;
    const finish = (code: number): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', kill);
      resolve(code);
    };
    child.once('error', (e) => {
      opts.onStderr?.(`${e.message}\n`);
      finish(-1);
    });
    child.once('close', (code, sig) => {
      const signo =
        sig === null
          ? 0
          : (({ SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as const)[sig as 'SIGINT'] ?? 1);
      finish(code ?? 128 + signo);
    });
  });
}

/** Sets device `dev` (in namespace `ns`, or the root one) administratively up or down. */
export async function setLinkUp(dev: string, up: boolean, ns?: string): Promise<void> {
  await ip(...(ns !== undefined ? ['-n', ns] : []), 'link', 'set', dev, up ? 'up' : 'down');
}

/** Regexp matching the names {@link cleanNames} removes for `prefix`. */
export function prefixPattern(prefix: string): RegExp {
  return new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);
}

/** What {@link cleanNames} removed. */
export interface CleanResult {
  /** Namespaces deleted. */
  namespaces: string[];
  /** Root-namespace links deleted. */
  links: string[];
}

/**
 * Deletes the namespaces and root-namespace links whose names `match` accepts (a namespace's
 * veth ends go with it; deleting one end of a veth deletes its peer too).
 */
export async function cleanNames(match: (name: string) => boolean): Promise<CleanResult> {
  const namespaces = (await listNamespaces()).filter(match);
  for (const ns of namespaces) await ipQuiet('netns', 'del', ns);
  const links = (await listLinks()).filter(match);
  for (const l of links) await ipQuiet('link', 'del', l);
  return { namespaces, links };
}

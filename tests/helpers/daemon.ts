/**
 * Starting daemons in tests, each in its own temporary run directory (so tests run in parallel
 * and never touch ./var or OVS's default paths).
 *
 * - {@link startDaemonInProcess}: a {@link Daemon} in the test's own process.
 * - {@link startDaemonChild}: `tsvs start` as a child process, for signal and real-tool tests.
 *
 * Which program the child runs: `dist/bin/tsvs.js` when it exists and is newer than every
 * TypeScript source file (so a stale build is never tested by mistake); otherwise `bin/tsvs.ts`
 * through tap's TypeScript loader (`node --import @tapjs/typescript/import`, transpile-only).
 * `TSVS_TEST_BIN=dist` or `TSVS_TEST_BIN=src` forces one or the other.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon, type DaemonOptions } from '../../vswitchd/daemon.js';
import { packageRoot, resolvePaths, type Paths, type PathOptions } from '../../vswitchd/paths.js';
import { waitForAppctl } from './appctl-client.js';

// Daemons started by tests make in-memory internal ports unless a test asks for TAP devices
// (TSVS_INTERNAL_PORTS=tap): many tests name their bridge br0, and TAP devices of the same name
// in the root namespace would collide between tests running in parallel. Children inherit it.
process.env.TSVS_INTERNAL_PORTS ??= 'memory';

/** The part of tap's Test used to register clean-up. */
export interface Teardownable {
  teardown(fn: () => unknown): void;
}

/** Creates a fresh temporary directory (removed by the caller's teardown). */
export function makeTempDir(prefix = 'tsvs-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** An in-process daemon started by {@link startDaemonInProcess}. */
export interface InProcessDaemon {
  daemon: Daemon;
  paths: Paths;
  /** The temporary directory holding the run directory. */
  dir: string;
  /** Stops the daemon (if running) and removes the temporary directory. Idempotent. */
  teardown(): Promise<void>;
}

/** Options for {@link startDaemonInProcess}. */
export interface InProcessOptions extends Omit<DaemonOptions, 'paths'> {
  /** Path options; `rundir` defaults to a fresh temporary directory, `logFile` to none. */
  paths?: PathOptions;
  /** Register {@link InProcessDaemon.teardown} with this test. */
  t?: Teardownable;
}

/** Starts a {@link Daemon} in this process with its state in a new temporary directory. */
export async function startDaemonInProcess(opts: InProcessOptions = {}): Promise<InProcessDaemon> {
  const dir = makeTempDir();
  const paths = resolvePaths({ rundir: join(dir, 'run'), logFile: null, ...opts.paths });
  const { t, paths: _p, ...daemonOpts } = opts;
  let daemon: Daemon;
  try {
    daemon = await Daemon.start({ ...daemonOpts, paths });
  } catch (err) {
    await fsp.rm(dir, { recursive: true, force: true });
    throw err;
  }
  let done: Promise<void> | undefined;
  const teardown = (): Promise<void> =>
    (done ??= daemon.stop().then(() => fsp.rm(dir, { recursive: true, force: true })));
  t?.teardown(teardown);
  return { daemon, paths, dir, teardown };
}

const SOURCE_DIRS = [
  'lib',
  'openflow',
  'ovsdb',
  'protocols',
  'datapath',
  'ofproto',
  'vswitchd',
  'appctl',
  'api',
  'topo',
  'bin',
  'schemas',
];

function newestSourceMtime(root: string): number {
  let newest = 0;
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') || e.name.endsWith('.json')) {
        newest = Math.max(newest, statSync(p).mtimeMs);
      }
    }
  };
  for (const d of SOURCE_DIRS) walk(join(root, d));
  return newest;
}

/** How a child daemon is run: the node arguments before `start ...`. */
export interface TsvsCommand {
  /** `dist` (compiled) or `src` (TypeScript through tap's loader). */
  kind: 'dist' | 'src';
  /** Arguments to `node` that run the `tsvs` program (append the tsvs arguments). */
  nodeArgs: string[];
  /** Extra environment for the child. */
  env: Record<string, string>;
}

/** Decides how to run `tsvs` in a child process (see the module comment). */
export function tsvsCommand(): TsvsCommand {
  const root = packageRoot();
  const dist = join(root, 'dist', 'bin', 'tsvs.js');
  const force = process.env.TSVS_TEST_BIN;
  let useDist: boolean;
  if (force === 'dist') useDist = true;
  else if (force === 'src') useDist = false;
  else useDist = existsSync(dist) && statSync(dist).mtimeMs >= newestSourceMtime(root);
  if (useDist) return { kind: 'dist', nodeArgs: [dist], env: {} };
  return {
    kind: 'src',
    nodeArgs: ['--import', '@tapjs/typescript/import', join(root, 'bin', 'tsvs.ts')],
    env: { TS_NODE_TRANSPILE_ONLY: '1', TS_NODE_PROJECT: join(root, 'tsconfig.json') },
  };
}

/** A child daemon started by {@link startDaemonChild}. */
export interface ChildDaemon {
  /** The child's process id. */
  pid: number;
  paths: Paths;
  /** The temporary directory holding the run directory. */
  dir: string;
  child: ChildProcess;
  /** How it was run. */
  command: TsvsCommand;
  /** What the child has written so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves with the exit status once the child has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Sends `signal` (default SIGTERM), waits for exit (SIGKILL after `killAfterMs`, default 5000)
   * and resolves with the exit status. Does not remove the directory (see `teardown`).
   */
  stop(
    signal?: NodeJS.Signals,
    killAfterMs?: number,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Stops the child if it still runs and removes the temporary directory. Idempotent. */
  teardown(): Promise<void>;
}

/** Options for {@link startDaemonChild}. */
export interface ChildOptions {
  /** Extra `tsvs start` arguments (e.g. `['--log-level', 'dbg']`). */
  args?: string[];
  /** Run directory; default `<tmp>/run`. */
  rundir?: string;
  /** Give up waiting for the control socket after this many ms. Default 30 000. */
  readyTimeoutMs?: number;
  /** Register teardown with this test. */
  t?: Teardownable;
}

/**
 * Spawns `tsvs start --rundir <tmp>/run --db <tmp>/run/conf.db` and resolves once
 * `<rundir>/tsvs.ctl` answers appctl `version`. Rejects (with the child's stderr) if the child
 * exits first or does not answer in time.
 */
export async function startDaemonChild(opts: ChildOptions = {}): Promise<ChildDaemon> {
  const dir = makeTempDir();
  const rundir = opts.rundir ?? join(dir, 'run');
  const paths = resolvePaths({ rundir });
  const command = tsvsCommand();
  const args = [
    ...command.nodeArgs,
    'start',
    '--rundir',
    paths.rundir,
    '--db',
    paths.db,
    ...(opts.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    cwd: packageRoot(),
    env: { ...process.env, ...command.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal })),
  );
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const stop = async (
    signal: NodeJS.Signals = 'SIGTERM',
    killAfterMs = 5000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    if (!hasExited) child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    const status = await exited;
    clearTimeout(timer);
    return status;
  };
  let done: Promise<void> | undefined;
  const teardown = (): Promise<void> =>
    (done ??= stop().then(() => fsp.rm(dir, { recursive: true, force: true })));
  opts.t?.teardown(teardown);

  // Ready = the control socket answers AND the daemon printed its "running" line, which comes
  // after every component (OVSDB server, reconciler) has started.
  const readyTimeout = opts.readyTimeoutMs ?? 30_000;
  const runningLine = async (): Promise<boolean> => {
    const deadline = Date.now() + readyTimeout;
    while (!/running \(pid \d+\)/.test(stdout)) {
      if (hasExited || Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  };
  const ready = await Promise.race([
    waitForAppctl(paths.ctl, readyTimeout, () => hasExited).then(
      async (ok) => ok && (await runningLine()),
    ),
    exited.then(() => false),
  ]);
  if (!ready) {
    await teardown();
    const status = await exited;
    throw new Error(
      `tsvs (${command.kind}) did not come up: exit ${status.code ?? status.signal}\n` +
        `stdout: ${stdout}\nstderr: ${stderr}`,
    );
  }
  return {
    pid: child.pid!,
    paths,
    dir,
    child,
    command,
    output: () => ({ stdout, stderr }),
    exited,
    stop,
    teardown,
  };
}

/**
 * Running external tools from tests: {@link runTool} (spawn with a timeout, collect output), and
 * argument builders for Debian's Open vSwitch tools pointed at one daemon's sockets, never at
 * OVS's default paths:
 *
 * - `ovs-appctl -t <rundir>/tsvs.ctl ...`            {@link appctlArgs}, {@link appctl}
 * - `ovs-vsctl --db=unix:<rundir>/db.sock ...`        {@link vsctlArgs}, {@link vsctl}
 * - `ovsdb-client <cmd> unix:<rundir>/db.sock ...`    {@link ovsdbClientArgs}, {@link ovsdbClient}
 * - `ovs-ofctl -O OpenFlow13 <cmd> unix:<rundir>/<br>.mgmt ...` {@link ofctlArgs}, {@link ofctl}
 */
import { spawn } from 'node:child_process';
import { peerPath } from './peers.js';

/** What a finished tool run produced. */
export interface ToolResult {
  /** Exit code, or null if the process was killed by a signal (see `signal`, `timedOut`). */
  code: number | null;
  /** The signal that killed it, or null. */
  signal: NodeJS.Signals | null;
  /** Everything it wrote to stdout. */
  stdout: string;
  /** Everything it wrote to stderr. */
  stderr: string;
  /** True if it was killed because it ran past the timeout. */
  timedOut: boolean;
}

/** Options for {@link runTool}. */
export interface RunToolOptions {
  /** Kill the tool (SIGKILL) after this many ms. Default 20 000. */
  timeoutMs?: number;
  /** Written to stdin, which is then closed. Default: stdin is /dev/null. */
  input?: string;
  /** Extra environment variables (merged over process.env). */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
}

/** Runs `cmd args` to completion (or timeout) and returns its exit status and output. */
export function runTool(
  cmd: string,
  args: string[],
  opts: RunToolOptions = {},
): Promise<ToolResult> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** The sockets of one daemon that tools connect to ({@link Paths} satisfies this). */
export interface ToolTarget {
  /** The appctl control socket. */
  readonly ctl: string;
  /** The OVSDB unix socket. */
  readonly dbSocket: string;
  /** The OpenFlow management socket of a bridge. */
  mgmt(bridge: string): string;
}

/** A command line: the program (absolute path when it is installed) and its arguments. */
export interface CommandLine {
  cmd: string;
  args: string[];
}

function tool(name: string): string {
  return peerPath(name) ?? name;
}

/** `ovs-appctl -t <ctl> <args...>` */
export function appctlArgs(target: Pick<ToolTarget, 'ctl'>, ...args: string[]): CommandLine {
  return { cmd: tool('ovs-appctl'), args: ['-t', target.ctl, ...args] };
}

/** Options for {@link vsctlArgs}. */
export interface VsctlOptions {
  /** Add `--no-wait` (do not wait for the switch to apply the change). */
  noWait?: boolean;
  /** `--timeout=N` seconds. Default 10. */
  timeoutSec?: number;
}

/** `ovs-vsctl --db=unix:<dbSocket> --timeout=N [--no-wait] <args...>` */
export function vsctlArgs(
  target: Pick<ToolTarget, 'dbSocket'>,
  args: string[],
  opts: VsctlOptions = {},
): CommandLine {
  const pre = [`--db=unix:${target.dbSocket}`, `--timeout=${opts.timeoutSec ?? 10}`];
  if (opts.noWait) pre.push('--no-wait');
  return { cmd: tool('ovs-vsctl'), args: [...pre, ...args] };
}

/**
 * `ovsdb-client [options] <command> unix:<dbSocket> <args...>`, e.g.
 * `ovsdbClientArgs(p, 'list-dbs')`, `ovsdbClientArgs(p, 'transact', [json])`.
 */
export function ovsdbClientArgs(
  target: Pick<ToolTarget, 'dbSocket'>,
  command: string,
  args: string[] = [],
  options: string[] = [],
): CommandLine {
  return {
    cmd: tool('ovsdb-client'),
    args: [...options, command, `unix:${target.dbSocket}`, ...args],
  };
}

/** `ovs-ofctl -O OpenFlow13 <command> unix:<rundir>/<bridge>.mgmt <args...>` */
export function ofctlArgs(
  target: Pick<ToolTarget, 'mgmt'>,
  bridge: string,
  command: string,
  args: string[] = [],
): CommandLine {
  return {
    cmd: tool('ovs-ofctl'),
    args: ['-O', 'OpenFlow13', command, `unix:${target.mgmt(bridge)}`, ...args],
  };
}

/** Runs a {@link CommandLine}. */
export function run(line: CommandLine, opts?: RunToolOptions): Promise<ToolResult> {
  return runTool(line.cmd, line.args, opts);
}

/** Runs `ovs-appctl -t <ctl> <args...>`. */
export function appctl(target: Pick<ToolTarget, 'ctl'>, ...args: string[]): Promise<ToolResult> {
  return run(appctlArgs(target, ...args));
}

/** Runs `ovs-vsctl --db=unix:<dbSocket> ...`. */
export function vsctl(
  target: Pick<ToolTarget, 'dbSocket'>,
  args: string[],
  opts?: VsctlOptions & RunToolOptions,
): Promise<ToolResult> {
  return run(vsctlArgs(target, args, opts), opts);
}

/** Runs `ovsdb-client <command> unix:<dbSocket> <args...>`. */
export function ovsdbClient(
  target: Pick<ToolTarget, 'dbSocket'>,
  command: string,
  args: string[] = [],
  opts?: RunToolOptions,
): Promise<ToolResult> {
  return run(ovsdbClientArgs(target, command, args), opts);
}

/** Runs `ovs-ofctl -O OpenFlow13 <command> unix:<mgmt> <args...>`. */
export function ofctl(
  target: Pick<ToolTarget, 'mgmt'>,
  bridge: string,
  command: string,
  args: string[] = [],
  opts?: RunToolOptions,
): Promise<ToolResult> {
  return run(ofctlArgs(target, bridge, command, args), opts);
}

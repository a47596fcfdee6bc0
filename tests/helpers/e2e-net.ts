/**
 * Shared pieces of the end-to-end network tests (tests/e2e/topo-*.test.ts, onos-emulation,
 * controller-roles): the readiness check (root, iproute2, ping, the AF_PACKET addon), an
 * in-process daemon starter for {@link Topo.start}, an undo stack for teardown, and OVS tools
 * pointed at one daemon's run directory.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadNative } from '../../datapath/native.js';
import type { DaemonStarter } from '../../topo/index.js';
import { standardComponents } from '../../vswitchd/components.js';
import { Daemon } from '../../vswitchd/daemon.js';
import { resolvePaths } from '../../vswitchd/paths.js';
import { makeTempDir } from './daemon.js';
import { requirePeer, type PeerTest } from './peers.js';
import { runTool, type ToolResult } from './tools.js';

/** Starts a tsvs daemon in this process on `rundir` (log to stderr only). */
export const startDaemonInProcessOn: DaemonStarter = (rundir) =>
  Daemon.start({
    paths: resolvePaths({ rundir, logFile: null }),
    components: standardComponents(),
  });

/**
 * True when the machine can run namespace networks: root, `ip`, `ping` and the native AF_PACKET
 * addon (plus any extra peers). Otherwise fails the test under CI=true, skips it elsewhere, and
 * returns false (the caller returns at once).
 */
export function netReady(t: PeerTest, ...peers: string[]): boolean {
  if (!requirePeer(t, 'ip', 'ping', ...peers)) return false;
  if (process.getuid?.() !== 0) {
    if (process.env.CI === 'true') t.fail('namespace tests need root');
    else t.plan(0, 'skip: namespace tests need root');
    return false;
  }
  try {
    loadNative();
  } catch (e) {
    if (process.env.CI === 'true') t.fail(`AF_PACKET addon not built: ${(e as Error).message}`);
    else t.plan(0, 'skip: AF_PACKET addon not built (npm run build:native)');
    return false;
  }
  return true;
}

/**
 * Registers one teardown on `t` that runs the clean-ups pushed with the returned function in
 * reverse order (each awaited; one that throws does not stop the others).
 */
export function undoStack(t: { teardown(fn: () => unknown): void }): (fn: () => unknown) => void {
  const fns: (() => unknown)[] = [];
  t.teardown(async () => {
    for (const f of fns.reverse()) {
      try {
        await f();
      } catch {
        // keep cleaning
      }
    }
  });
  return (fn) => void fns.push(fn);
}

/** A fresh temporary run directory `<tmp>/run`, whose parent is removed by `undo`. */
export function tempRundir(undo: (fn: () => unknown) => void, prefix = 'tsvs-tc-'): string {
  const dir = makeTempDir(prefix);
  undo(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'run');
}

/** A short name prefix for this test process: `tc` + `tag` + the pid in base 36. */
export function testPrefix(tag: string): string {
  return `tc${tag}${process.pid.toString(36).slice(-4)}`;
}

/** `ovs-ofctl -O OpenFlow13 ARGS` with `OVS_RUNDIR=rundir`, so a bridge name finds its mgmt socket. */
export function ofctlIn(rundir: string, ...args: string[]): Promise<ToolResult> {
  return runTool('ovs-ofctl', ['-O', 'OpenFlow13', ...args], { env: { OVS_RUNDIR: rundir } });
}

/** `ovs-vsctl --db=unix:<rundir>/db.sock ARGS`. */
export function vsctlIn(rundir: string, ...args: string[]): Promise<ToolResult> {
  return runTool('ovs-vsctl', [`--db=unix:${join(rundir, 'db.sock')}`, '--timeout=20', ...args], {
    env: { OVS_RUNDIR: rundir },
  });
}

/** One flow of `ovs-ofctl dump-flows` output, split into its fields. */
export interface DumpedFlow {
  /** The whole line, trimmed. */
  line: string;
  /** `key=value` fields before `actions=` (flags such as `arp` map to ''). */
  fields: Record<string, string>;
  /** Everything after `actions=`. */
  actions: string;
}

/** Parses `ovs-ofctl dump-flows` output (the reply header line is skipped). */
export function parseDumpFlows(text: string): DumpedFlow[] {
  const flows: DumpedFlow[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const at = line.indexOf('actions=');
    if (at < 0) continue;
    const fields: Record<string, string> = {};
    for (const part of line.slice(0, at).split(/[ ,]+/)) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      if (eq < 0) fields[part] = '';
      else fields[part.slice(0, eq)] = part.slice(eq + 1);
    }
    flows.push({ line, fields, actions: line.slice(at + 'actions='.length) });
  }
  return flows;
}

/** Polls `check` every `intervalMs` (default 200) until it returns true or `timeoutMs` passes. */
export async function pollUntil(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  intervalMs = 200,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

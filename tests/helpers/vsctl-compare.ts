/**
 * Runs one ovs-vsctl script against a private Open vSwitch 3.1 (tests/helpers/ref-ovs.ts) and an
 * in-process tsvs, command by command and WITHOUT --no-wait, and asserts the same exit status,
 * stdout and stderr after normalising what legitimately differs (UUIDs, versions, log paths,
 * timestamps, and optionally MACs). Used by the vsctl-vs-ovs interop tests.
 */
import { join } from 'node:path';
import type { Test } from 'tap';
import { standardComponents } from '../../vswitchd/components.js';
import { Daemon } from '../../vswitchd/daemon.js';
import { resolvePaths } from '../../vswitchd/paths.js';
import { makeTempDir } from './daemon.js';
import { requirePeer } from './peers.js';
import { startRefOvs } from './ref-ovs.js';
import { runTool, type ToolResult } from './tools.js';

/** A normaliser with its own UUID numbering (one per switch, so both number in order of use). */
export function vsctlNormalizer(opts: { macs?: boolean } = {}): (s: string) => string {
  const uuids = new Map<string, string>();
  return (s: string) => {
    let out = s
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (u) => {
        if (!uuids.has(u)) uuids.set(u, `<uuid${uuids.size + 1}>`);
        return uuids.get(u)!;
      })
      // tsvs records its version at start (as ovs-ctl does); the bare reference OVS has none.
      .replace(/\n {4}ovs_version: "[^"]*"/g, '')
      .replace(/\/var\/log\/openvswitch/g, 'LOGDIR')
      .replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\|/gm, 'TIME|');
    // Interface MACs are random on both sides.
    if (opts.macs) out = out.replace(/"?[0-9a-f]{2}(:[0-9a-f]{2}){5}"?/g, '<mac>');
    return out;
  };
}

/**
 * `show` lists a bridge's ports in the order of the `ports` set, i.e. by (random) UUID, on OVS
 * as on tsvs: compare each bridge's port blocks sorted.
 */
export function sortShowPorts(s: string): string {
  const out: string[] = [];
  let ports: string[] = [];
  const flush = (): void => {
    out.push(...ports.sort());
    ports = [];
  };
  for (const line of s.split('\n')) {
    if (/^ {8}Port /.test(line)) ports.push(line);
    else if (/^ {9,}/.test(line) && ports.length > 0) ports[ports.length - 1] += '\n' + line;
    else {
      flush();
      out.push(line);
    }
  }
  flush();
  return out.join('\n');
}

/** Runs ovs-vsctl on database socket `db`; throws (naming `label`) when it times out. */
export async function runVsctl(
  label: string,
  db: string,
  args: string[],
  env: Record<string, string>,
): Promise<ToolResult> {
  const r = await runTool('ovs-vsctl', [`--db=unix:${db}`, '--timeout=10', ...args], {
    env,
    timeoutMs: 30_000,
  });
  if (r.timedOut) throw new Error(`${label}: ovs-vsctl ${args.join(' ')} timed out`);
  return r;
}

/**
 * The whole comparison: starts both switches (the reference's own bridge deleted, so both start
 * from an empty bridge list), runs `script` on both and asserts equal results per command.
 */
export async function compareVsctlScript(
  t: Test,
  script: readonly string[][],
  opts: { macs?: boolean } = {},
): Promise<void> {
  if (!requirePeer(t, 'ovs-vsctl', 'ovs-vswitchd', 'ovsdb-server', 'ip')) return;
  const ref = await startRefOvs({ bridge: 'refdummy' });
  t.teardown(() => ref.stop());
  await ref.vsctl('del-br', 'refdummy');
  const dir = makeTempDir();
  const paths = resolvePaths({ rundir: join(dir, 'run'), logFile: null });
  const d = await Daemon.start({ paths, components: standardComponents() });
  t.teardown(() => d.stop());
  const normOvs = vsctlNormalizer(opts);
  const normTsvs = vsctlNormalizer(opts);
  for (const args of script) {
    const label = args.join(' ');
    const want = await runVsctl('ovs', join(ref.dir, 'db.sock'), args, { OVS_RUNDIR: ref.dir });
    const got = await runVsctl('tsvs', paths.dbSocket, args, { OVS_RUNDIR: paths.rundir });
    t.equal(got.code, want.code, `${label}: exit status`);
    const sort = args[0] === 'show' ? sortShowPorts : (x: string) => x;
    t.equal(sort(normTsvs(got.stdout)), sort(normOvs(want.stdout)), `${label}: stdout`);
    t.equal(normTsvs(got.stderr), normOvs(want.stderr), `${label}: stderr`);
  }
}

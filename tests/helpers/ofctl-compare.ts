/**
 * Harness for running the same `ovs-ofctl -O OpenFlow13` commands against Open vSwitch 3.1 and
 * against tsvs and comparing what they print.
 *
 * - {@link startRefOvsDummy}: a private OVS 3.1 like tests/helpers/ref-ovs.ts, but with
 *   `ovs-vswitchd --enable-dummy`, so `type=dummy` interfaces exist on both switches (netdev-dummy
 *   counts what is sent to it, which lets a test compare port counters after packet-out).
 * - {@link normalizeOfctl}, {@link withTarget}, {@link sortedDump}: output normalisation.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool, type ToolResult } from './tools.js';

/** A running reference OVS started by {@link startRefOvsDummy}. */
export interface RefOvsDummy {
  /** Its state directory. */
  dir: string;
  /** Bridge name. */
  bridge: string;
  /** `unix:<dir>/<bridge>.mgmt`. */
  ofTarget: string;
  /** Runs ovs-vsctl against its database. */
  vsctl(...args: string[]): Promise<ToolResult>;
  /** Runs ovs-appctl against its ovs-vswitchd. */
  appctl(...args: string[]): Promise<ToolResult>;
  /** Stops both daemons and removes the namespace and directory. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts ovsdb-server and `ovs-vswitchd --enable-dummy` (in its own network namespace) with one
 * bridge: `datapath_type=netdev`, `fail_mode=secure`, OpenFlow 1.3, datapath id 1.
 */
export async function startRefOvsDummy(bridge = 'br0'): Promise<RefOvsDummy> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-tof-ref-'));
  const ns = `tof-${process.pid}-${Math.floor(Math.random() * 1e5)}`;
  const env = { OVS_RUNDIR: dir, OVS_DBDIR: dir, OVS_LOGDIR: dir, OVS_SYSCONFDIR: dir };
  const must = async (cmd: string, args: string[]): Promise<ToolResult> => {
    const r = await runTool(cmd, args, { env, timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r;
  };
  const db = `unix:${dir}/db.sock`;
  const vsctl = (...args: string[]): Promise<ToolResult> =>
    runTool('ovs-vsctl', [`--db=${db}`, '--timeout=20', ...args], { env });
  const appctl = (...args: string[]): Promise<ToolResult> =>
    runTool('ovs-appctl', ['-t', join(dir, 'ovs-vswitchd.ctl'), ...args], { env });
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      for (const d of ['ovs-vswitchd', 'ovsdb-server']) {
        await runTool('ovs-appctl', ['-t', join(dir, `${d}.ctl`), 'exit'], {
          env,
          timeoutMs: 10_000,
        }).catch(() => undefined);
      }
      await runTool('ip', ['netns', 'del', ns]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    })());
  try {
    await must('ip', ['netns', 'add', ns]);
    await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await must('ovsdb-tool', [
      'create',
      join(dir, 'conf.db'),
      '/usr/share/openvswitch/vswitch.ovsschema',
    ]);
    await must('ovsdb-server', [
      join(dir, 'conf.db'),
      `--remote=punix:${dir}/db.sock`,
      `--pidfile=${dir}/ovsdb-server.pid`,
      `--unixctl=${dir}/ovsdb-server.ctl`,
      `--log-file=${dir}/ovsdb-server.log`,
      '--no-chdir',
      '--detach',
    ]);
    await must('ovs-vsctl', [`--db=${db}`, '--no-wait', 'init']);
    await must('ip', [
      'netns',
      'exec',
      ns,
      'ovs-vswitchd',
      db,
      '--disable-system',
      '--enable-dummy',
      `--pidfile=${dir}/ovs-vswitchd.pid`,
      `--unixctl=${dir}/ovs-vswitchd.ctl`,
      `--log-file=${dir}/ovs-vswitchd.log`,
      '--no-chdir',
      '--detach',
    ]);
    const r = await vsctl(
      'add-br',
      bridge,
      '--',
      'set',
      'Bridge',
      bridge,
      'datapath_type=netdev',
      'fail_mode=secure',
      'protocols=OpenFlow13',
      'other_config:datapath-id=0000000000000001',
    );
    if (r.code !== 0) throw new Error(`add-br failed: ${r.stderr}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return { dir, bridge, ofTarget: `unix:${dir}/${bridge}.mgmt`, vsctl, appctl, stop };
}

/**
 * Blanks what legitimately differs between two runs of the same command: durations, xids, the
 * switch socket path, ovs-ofctl's own `timeval`/`coverage` log lines (it prints them on stderr
 * when the loaded machine stalls it), and (when `counters` is set) packet and byte counters.
 */
export function normalizeOfctl(s: string, counters = false): string {
  s = s
    // ovs-ofctl's own complaints about a slow machine (its poll loop, with a coverage dump).
    .replace(/^\S+\|\d+\|(?:timeval|coverage)\|.*\n?/gm, '')
    .replace(/duration[=:][0-9.]+s/g, 'duration=X')
    .replace(/\(xid=0x[0-9a-f]+\)/g, '(xid=X)')
    .replace(/unix:\S+\.mgmt/g, 'SWITCH');
  if (counters) {
    s = s
      .replace(/(n_packets|n_bytes|packet_count|byte_count|packets|bytes)=\d+/g, '$1=N')
      .replace(/(lookup_count|matched_count|lookup|matched)[=:] ?\d+/g, '$1=N');
  }
  return s;
}

/** Puts the switch target where ovs-ofctl wants it: after the command name and its options. */
export function withTarget(cmd: readonly string[], target: string): string[] {
  const opts = cmd.filter((a) => a.startsWith('--'));
  const rest = cmd.filter((a) => !a.startsWith('--'));
  return [...opts, rest[0]!, target, ...rest.slice(1)];
}

/**
 * Flow, group and meter dumps come in each switch's internal order: keeps the first (header) line
 * and sorts the rest, dropping blank lines. Other output is returned as is.
 */
export function sortedDump(cmd: readonly string[], out: string): string {
  const name = cmd.find((a) => !a.startsWith('--'))!;
  if (!['dump-flows', 'dump-groups', 'dump-group-stats'].includes(name)) return out;
  const [head, ...body] = out.split('\n');
  return [head, ...body.filter((l) => l.trim() !== '').sort()].join('\n');
}

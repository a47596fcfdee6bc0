/**
 * A private Open vSwitch 3.1 for the side-by-side benchmarks (adapted from
 * tests/helpers/ref-ovs.ts and /work/shared/peers/perf/ovs-ref.sh): ovsdb-server in a temp dir and
 * ovs-vswitchd in its own network namespace (its netdev datapath creates tap devices), one bridge
 * with `datapath_type=netdev fail_mode=secure protocols=OpenFlow13,OpenFlow14`, started without
 * `--mlockall` so RSS counts only touched memory. Needs root.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mustRun, runTool } from './common.js';

/** A running private OVS. */
export interface RefOvs {
  /** State directory. */
  dir: string;
  /** `unix:<dir>/<bridge>.mgmt`, the ovs-ofctl target. */
  ofTarget: string;
  /** ovs-vswitchd's pid (for RSS and CPU). */
  vswitchdPid: number;
  /** Stops both daemons, removes the namespace and directory. */
  stop(): Promise<void>;
}

/** Starts ovsdb-server + ovs-vswitchd with bridge `bridge` (default br0). */
export async function startRefOvs(bridge = 'br0'): Promise<RefOvs> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-bench-refovs-'));
  const ns = `tsvsbench-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const env = { OVS_RUNDIR: dir, OVS_DBDIR: dir, OVS_LOGDIR: dir, OVS_SYSCONFDIR: dir };
  const db = `unix:${dir}/db.sock`;
  let nsMade = false;
  const stop = async (): Promise<void> => {
    for (const d of ['ovs-vswitchd', 'ovsdb-server']) {
      await runTool('ovs-appctl', ['-t', join(dir, `${d}.ctl`), 'exit'], {
        env,
        timeoutMs: 10_000,
      }).catch(() => undefined);
    }
    if (nsMade) await runTool('ip', ['netns', 'del', ns]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await mustRun('ip', ['netns', 'add', ns]);
    nsMade = true;
    await mustRun('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await mustRun('ovsdb-tool', [
      'create',
      join(dir, 'conf.db'),
      '/usr/share/openvswitch/vswitch.ovsschema',
    ]);
    await mustRun(
      'ovsdb-server',
      [
        join(dir, 'conf.db'),
        `--remote=punix:${dir}/db.sock`,
        `--pidfile=${dir}/ovsdb-server.pid`,
        `--unixctl=${dir}/ovsdb-server.ctl`,
        `--log-file=${dir}/ovsdb-server.log`,
        '--no-chdir',
        '--detach',
      ],
      { env },
    );
    await mustRun('ovs-vsctl', [`--db=${db}`, '--no-wait', 'init'], { env });
    await mustRun(
      'ip',
      [
        'netns',
        'exec',
        ns,
        'ovs-vswitchd',
        db,
        '--disable-system',
        `--pidfile=${dir}/ovs-vswitchd.pid`,
        `--unixctl=${dir}/ovs-vswitchd.ctl`,
        `--log-file=${dir}/ovs-vswitchd.log`,
        '--no-chdir',
        '--detach',
      ],
      { env },
    );
    await mustRun(
      'ovs-vsctl',
      [
        `--db=${db}`,
        '--timeout=30',
        'add-br',
        bridge,
        '--',
        'set',
        'Bridge',
        bridge,
        'datapath_type=netdev',
        'fail_mode=secure',
        'protocols=OpenFlow13,OpenFlow14',
      ],
      { env, timeoutMs: 40_000 },
    );
  } catch (e) {
    await stop();
    throw e;
  }
  const vswitchdPid = Number(readFileSync(join(dir, 'ovs-vswitchd.pid'), 'utf8').trim());
  return { dir, ofTarget: `unix:${dir}/${bridge}.mgmt`, vswitchdPid, stop };
}

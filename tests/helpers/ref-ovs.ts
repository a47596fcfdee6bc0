/**
 * A private Open vSwitch 3.1 (Debian's ovsdb-server + ovs-vswitchd, userspace datapath) to run the
 * same script against OVS and tsvs in one test. Everything lives in a temp dir; ovs-vswitchd runs
 * in its own network namespace (its netdev datapath creates tap devices), and the bridge socket is
 * `unix:<dir>/<bridge>.mgmt`. Needs root (network namespaces).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool, type ToolResult } from './tools.js';

/** A running reference OVS. */
export interface RefOvs {
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
 * Starts ovsdb-server and ovs-vswitchd with one bridge (`datapath_type=netdev`,
 * `fail_mode=secure`, OpenFlow 1.3, the given datapath id).
 */
export async function startRefOvs(
  opts: {
    bridge?: string;
    datapathId?: string;
    /** `ovs-vswitchd --enable-dummy`, so `type=dummy` interfaces exist (and count traffic). */
    enableDummy?: boolean;
  } = {},
): Promise<RefOvs> {
  const bridge = opts.bridge ?? 'br0';
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-refovs-'));
  const ns = `tsvsref-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
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
  let started = false;
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
    started = true;
    await must('ovs-vsctl', [`--db=${db}`, '--no-wait', 'init']);
    await must('ip', [
      'netns',
      'exec',
      ns,
      'ovs-vswitchd',
      db,
      '--disable-system',
      ...(opts.enableDummy ? ['--enable-dummy'] : []),
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
      `other_config:datapath-id=${opts.datapathId ?? '0000000000000001'}`,
    );
    if (r.code !== 0) throw new Error(`add-br failed: ${r.stderr}`);
  } catch (e) {
    if (started) await stop();
    else rmSync(dir, { recursive: true, force: true });
    await runTool('ip', ['netns', 'del', ns]).catch(() => undefined);
    throw e;
  }
  return { dir, bridge, ofTarget: `unix:${dir}/${bridge}.mgmt`, vsctl, appctl, stop };
}

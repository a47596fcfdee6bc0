/**
 * The scenario the vswitchd-replica interop tests run against a separate OVSDB server (Debian's
 * ovsdb-server or `tsvs start --no-vswitchd`), and the helpers to start `tsvs vswitchd` and
 * Debian's ovsdb-server:
 * - ovs-vsctl add-br/add-port WITHOUT --no-wait return, and ofport, datapath_id and cur_cfg are
 *   written by the separate vswitchd; ovs-ofctl talks to the bridge at <rundir>/<br>.mgmt;
 * - a second vswitchd on the same database stays idle (the ovs_vswitchd lock): with the first one
 *   frozen (SIGSTOP) nobody applies a change, and when the first one goes the second takes over;
 * - restarting tsvs vswitchd brings back the same bridges and ofports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Test } from 'tap';
import { packageRoot } from '../../vswitchd/paths.js';
import { tsvsCommand } from '../helpers/daemon.js';
import { runTool, type ToolResult } from '../helpers/tools.js';

export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A `tsvs vswitchd` child process. */
export interface Vswitchd {
  child: ChildProcess;
  rundir: string;
  output(): string;
  stop(): Promise<void>;
}

export async function startVswitchd(remote: string, rundir: string): Promise<Vswitchd> {
  const cmd = tsvsCommand();
  const child = spawn(
    process.execPath,
    [...cmd.nodeArgs, 'vswitchd', remote, '--rundir', rundir, '--log-level', 'info'],
    {
      cwd: packageRoot(),
      env: { ...process.env, ...cmd.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  let exited = false;
  const gone = new Promise<void>((r) =>
    child.on('exit', () => {
      exited = true;
      r();
    }),
  );
  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const k = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(k);
  };
  try {
    await until('tsvs vswitchd to start', () => exited || /running \(pid \d+\)/.test(out), 90_000);
  } catch (e) {
    await stop();
    throw e;
  }
  if (exited) throw new Error(`tsvs vswitchd exited: ${out}`);
  return { child, rundir, output: () => out, stop };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/**
 * The scenario, against whatever serves the database at `db` (a `unix:`/`tcp:` remote that
 * ovs-vsctl and tsvs vswitchd both use).
 */
export async function scenario(t: Test, db: string, dir: string): Promise<void> {
  const vsctl = (...args: string[]): Promise<ToolResult> =>
    runTool('ovs-vsctl', [`--db=${db}`, '--timeout=20', ...args], { timeoutMs: 30_000 });
  const get = async (...args: string[]): Promise<string> =>
    (await vsctl('get', ...args)).stdout.trim();
  const ofctlShow = (rundir: string): Promise<ToolResult> =>
    runTool('ovs-ofctl', ['-O', 'OpenFlow13', 'show', `unix:${join(rundir, 'trepbr0.mgmt')}`]);

  const run1 = join(dir, 'run1');
  const run2 = join(dir, 'run2');
  let a = await startVswitchd(db, run1);
  t.teardown(() => a.stop());

  let r = await vsctl('add-br', 'trepbr0');
  t.equal(r.code, 0, `add-br returns (waiting for cur_cfg): ${r.stderr}`);
  r = await vsctl(
    'add-port',
    'trepbr0',
    'trepp1',
    '--',
    'set',
    'Interface',
    'trepp1',
    'type=dummy',
  );
  t.equal(r.code, 0, `add-port returns: ${r.stderr}`);
  r = await vsctl(
    'add-port',
    'trepbr0',
    'trepp2',
    '--',
    'set',
    'Interface',
    'trepp2',
    'type=dummy',
    'ofport_request=7',
  );
  t.equal(r.code, 0, `add-port with ofport_request returns: ${r.stderr}`);
  t.equal(await get('Interface', 'trepp1', 'ofport'), '1', 'ofport written');
  t.equal(await get('Interface', 'trepp2', 'ofport'), '7', 'ofport_request honoured');
  t.equal(await get('Interface', 'trepbr0', 'ofport'), '65534', 'LOCAL');
  t.match(await get('Bridge', 'trepbr0', 'datapath_id'), /^"[0-9a-f]{16}"$/, 'datapath_id');
  t.equal(
    await get('Open_vSwitch', '.', 'cur_cfg'),
    await get('Open_vSwitch', '.', 'next_cfg'),
    'cur_cfg = next_cfg',
  );
  r = await ofctlShow(run1);
  t.equal(r.code, 0, `ovs-ofctl show on <rundir>/trepbr0.mgmt: ${r.stderr}`);
  t.match(r.stdout, /1\(trepp1\)/);
  t.match(r.stdout, /7\(trepp2\)/);
  t.match(r.stdout, /LOCAL\(trepbr0\)/);

  // A second vswitchd on the same database: idle while the first holds the lock.
  const b = await startVswitchd(db, run2);
  t.teardown(() => b.stop());
  await until('the second one to step aside', () =>
    b.output().includes('another ovs-vswitchd process is running, disabling this process'),
  );
  t.notOk(existsSync(join(run2, 'trepbr0.mgmt')), 'the second one runs no bridge');
  // Freeze the first one: it still holds the lock, so nobody applies a change.
  a.child.kill('SIGSTOP');
  r = await runTool('ovs-vsctl', [
    `--db=${db}`,
    '--timeout=3',
    'add-port',
    'trepbr0',
    'trepp3',
    '--',
    'set',
    'Interface',
    'trepp3',
    'type=dummy',
  ]);
  t.not(r.code, 0, 'with the lock holder frozen, ovs-vsctl times out waiting');
  t.equal(await get('Interface', 'trepp3', 'ofport'), '[]', 'the second one wrote nothing');
  t.notOk(existsSync(join(run2, 'trepbr0.mgmt')), 'and still runs no bridge');
  a.child.kill('SIGCONT');
  await until(
    'the first one to catch up',
    async () => (await get('Interface', 'trepp3', 'ofport')) === '2',
  );

  // The first goes: the second takes over with the same ofports.
  await a.stop();
  await until('the second one to take over', () => existsSync(join(run2, 'trepbr0.mgmt')));
  r = await vsctl(
    'add-port',
    'trepbr0',
    'trepp4',
    '--',
    'set',
    'Interface',
    'trepp4',
    'type=dummy',
  );
  t.equal(r.code, 0, `the new lock holder applies changes: ${r.stderr}`);
  r = await ofctlShow(run2);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /1\(trepp1\)/);
  t.match(r.stdout, /7\(trepp2\)/);
  t.match(r.stdout, /2\(trepp3\)/);
  t.match(r.stdout, /3\(trepp4\)/);

  // Restart: same bridges and ofports.
  await b.stop();
  a = await startVswitchd(db, run1);
  await until('the bridge to come back', async () => (await ofctlShow(run1)).code === 0);
  r = await ofctlShow(run1);
  for (const p of ['1(trepp1)', '7(trepp2)', '2(trepp3)', '3(trepp4)', 'LOCAL(trepbr0)'])
    t.ok(r.stdout.includes(p), `after restart: ${p}`);
  r = await vsctl(
    'add-port',
    'trepbr0',
    'trepp5',
    '--',
    'set',
    'Interface',
    'trepp5',
    'type=dummy',
  );
  t.equal(r.code, 0, `changes applied after restart: ${r.stderr}`);
  t.equal(await get('Interface', 'trepp5', 'ofport'), '4');
  await a.stop();
}

/** The schema files a test database can be created from. */
export const SCHEMAS = {
  ours: join(packageRoot(), 'schemas', 'vswitch.ovsschema'),
  OVS: '/usr/share/openvswitch/vswitch.ovsschema',
} as const;

/**
 * Creates `<dir>/conf.db` from `schema` with ovsdb-tool and runs Debian's ovsdb-server on it
 * (punix:<dir>/db.sock plus `extraRemote`), stopped in `t`'s teardown; runs `ovs-vsctl --no-wait
 * init`. Resolves with the unix remote.
 */
export async function startDebianOvsdbServer(
  t: Test,
  dir: string,
  schema: string,
  extraRemote?: string,
): Promise<string> {
  const ctl = join(dir, 'ovsdb-server.ctl');
  t.teardown(async () => {
    await runTool('ovs-appctl', ['-t', ctl, 'exit'], { timeoutMs: 5000 }).catch(() => undefined);
  });
  const must = async (cmd: string, args: string[]): Promise<void> => {
    const r = await runTool(cmd, args, { timeoutMs: 20_000 });
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  };
  await must('ovsdb-tool', ['create', join(dir, 'conf.db'), schema]);
  await must('ovsdb-server', [
    join(dir, 'conf.db'),
    `--remote=punix:${join(dir, 'db.sock')}`,
    ...(extraRemote ? [`--remote=${extraRemote}`] : []),
    `--pidfile=${join(dir, 'ovsdb-server.pid')}`,
    `--unixctl=${ctl}`,
    `--log-file=${join(dir, 'ovsdb-server.log')}`,
    '--no-chdir',
    '--detach',
  ]);
  const db = `unix:${join(dir, 'db.sock')}`;
  await must('ovs-vsctl', [`--db=${db}`, '--no-wait', 'init']);
  return db;
}

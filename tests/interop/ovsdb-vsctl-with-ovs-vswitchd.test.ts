/**
 * Debian's ovs-vswitchd 3.1 as an OVSDB client of our server (its dummy datapath only:
 * `--enable-dummy=override`, every file in a temp dir, no privileges), with ovs-vsctl *without*
 * --no-wait: vswitchd takes lock `ovs_vswitchd`, follows `monitor_cond_since`, writes
 * `cur_cfg`/`ofport` in transactions ending in `assert`, and ovs-vsctl's wait for `cur_cfg`
 * completes.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { peerPath, requirePeer } from '../helpers/peers.js';
import { runTool, type ToolResult } from '../helpers/tools.js';
import { startTestOvsdb } from './fixtures/ovsdb-fixture.js';

void t.test('ovs-vsctl (waiting) with ovs-vswitchd connected to our server', async (t) => {
  if (!requirePeer(t, 'ovs-vsctl', 'ovs-vswitchd')) return;
  const s = await startTestOvsdb(t);
  const vsctl = (...args: string[]): Promise<ToolResult> =>
    runTool(peerPath('ovs-vsctl')!, [`--db=${s.remote}`, '--timeout=20', ...args], {
      timeoutMs: 25000,
    });
  t.equal((await vsctl('--no-wait', 'init')).code, 0);
  const env = {
    OVS_RUNDIR: s.dir,
    OVS_LOGDIR: s.dir,
    OVS_DBDIR: s.dir,
    OVS_SYSCONFDIR: s.dir,
    OVS_PKGDATADIR: s.dir,
  };
  const vswitchd = spawn(
    peerPath('ovs-vswitchd')!,
    [
      '--enable-dummy=override',
      '--disable-system',
      `--unixctl=${join(s.dir, 'vswitchd.ctl')}`,
      `--pidfile=${join(s.dir, 'vswitchd.pid')}`,
      `--log-file=${join(s.dir, 'vswitchd.log')}`,
      s.remote,
    ],
    { stdio: 'ignore', env: { ...process.env, ...env } },
  );
  t.teardown(() => {
    vswitchd.kill('SIGKILL');
  });
  // vswitchd connects, takes its lock and sets cur_cfg := next_cfg.
  for (let i = 0; i < 1000 && s.server.locks.list().length === 0; i++)
    await new Promise((r) => setTimeout(r, 10));
  t.same(s.server.locks.list(), [{ name: 'ovs_vswitchd', waiters: 1 }]);

  const add = await vsctl(
    'add-br',
    'br0',
    '--',
    'set',
    'Bridge',
    'br0',
    'datapath_type=netdev',
    '--',
    'add-port',
    'br0',
    'p1',
    '--',
    'set',
    'Interface',
    'p1',
    'type=dummy',
  );
  t.equal(add.code, 0, add.stderr);
  t.equal(add.stderr, '', 'no "Error detected while setting up" complaint');
  t.equal((await vsctl('get', 'Interface', 'p1', 'ofport')).stdout, '1\n');
  t.equal((await vsctl('get', 'Interface', 'br0', 'ofport')).stdout, '65534\n');
  const cfg = await vsctl('get', 'Open_vSwitch', '.', 'cur_cfg', 'next_cfg');
  const [cur, next] = cfg.stdout.trim().split('\n');
  t.equal(cur, next, 'vswitchd caught up');
  t.match((await vsctl('get', 'Bridge', 'br0', 'datapath_id')).stdout, /^"[0-9a-f]{16}"\n$/);
  const del = await vsctl('del-br', 'br0');
  t.equal(del.code, 0, del.stderr);
  t.equal(s.db.rows('Interface').size, 0);
  // vswitchd goes away: its lock is released.
  vswitchd.kill('SIGKILL');
  for (let i = 0; i < 500 && s.server.locks.list().length > 0; i++)
    await new Promise((r) => setTimeout(r, 10));
  t.same(s.server.locks.list(), []);
});

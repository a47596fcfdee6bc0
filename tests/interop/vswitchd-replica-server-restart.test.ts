/**
 * `tsvs vswitchd` while Debian's ovsdb-server restarts: the bridges keep running while the
 * database is away (ovs-ofctl still answers), the replica reconnects with backoff, and changes
 * made after the restart are applied (ovs-vsctl without --no-wait returns, ofport written).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { requirePeer } from '../helpers/peers.js';
import { runTool } from '../helpers/tools.js';
import {
  SCHEMAS,
  startDebianOvsdbServer,
  startVswitchd,
  until,
} from './vswitchd-replica-scenario.js';

// Several daemons start in turn (each a Node process): slow on a loaded machine.
t.setTimeout(300_000);

void t.test('tsvs vswitchd survives an ovsdb-server restart', async (t) => {
  if (!requirePeer(t, 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl', 'ovsdb-server', 'ovsdb-tool')) return;
  const dir = mkdtempSync(join(tmpdir(), 'trep-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = await startDebianOvsdbServer(t, dir, SCHEMAS.ours);
  const run = join(dir, 'run');
  const vs = await startVswitchd(db, run);
  t.teardown(() => vs.stop());
  const vsctl = (...args: string[]) =>
    runTool('ovs-vsctl', [`--db=${db}`, '--timeout=20', ...args], { timeoutMs: 30_000 });
  const show = () =>
    runTool('ovs-ofctl', ['-O', 'OpenFlow13', 'show', `unix:${join(run, 'trepbr0.mgmt')}`]);
  let r = await vsctl(
    'add-br',
    'trepbr0',
    '--',
    'add-port',
    'trepbr0',
    'trepp1',
    '--',
    'set',
    'Interface',
    'trepp1',
    'type=dummy',
  );
  t.equal(r.code, 0, r.stderr);

  // Stop the server (its database file stays).
  r = await runTool('ovs-appctl', ['-t', join(dir, 'ovsdb-server.ctl'), 'exit']);
  t.equal(r.code, 0, r.stderr);
  await until('the drop to be logged', () => vs.output().includes('connection dropped'));
  r = await show();
  t.equal(r.code, 0, 'the bridge keeps running without the database');
  t.match(r.stdout, /1\(trepp1\)/);

  // Start it again on the same file.
  r = await runTool('ovsdb-server', [
    join(dir, 'conf.db'),
    `--remote=punix:${join(dir, 'db.sock')}`,
    `--pidfile=${join(dir, 'ovsdb-server.pid')}`,
    `--unixctl=${join(dir, 'ovsdb-server.ctl')}`,
    `--log-file=${join(dir, 'ovsdb-server.log')}`,
    '--no-chdir',
    '--detach',
  ]);
  t.equal(r.code, 0, `ovsdb-server restarted ${r.code === 0 ? '' : r.stderr}`);
  r = await vsctl(
    'add-port',
    'trepbr0',
    'trepp2',
    '--',
    'set',
    'Interface',
    'trepp2',
    'type=dummy',
  );
  t.equal(r.code, 0, `a change after the restart is applied: ${r.stderr}`);
  r = await vsctl('get', 'Interface', 'trepp2', 'ofport');
  t.equal(r.stdout.trim(), '2');
  r = await show();
  t.match(r.stdout, /1\(trepp1\)/, 'same ofports');
  t.match(r.stdout, /2\(trepp2\)/);
});

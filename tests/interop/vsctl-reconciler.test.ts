/**
 * Debian's ovs-vsctl WITHOUT --no-wait against our OVSDB server with the bridge reconciler:
 * ovs-vsctl waits for cur_cfg, reports interface errors the way it does with OVS, and the bridge
 * it created answers ovs-ofctl on <rundir>/<bridge>.mgmt.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { realClock } from '../../lib/clock.js';
import { startOvsdb } from '../../ovsdb/index.js';
import { BridgeReconciler } from '../../vswitchd/bridge.js';
import { requirePeer } from '../helpers/peers.js';
import { runTool } from '../helpers/tools.js';

t.test('ovs-vsctl waits for the reconciler and sees ofports and errors', async (t) => {
  if (!requirePeer(t, 'ovs-vsctl', 'ovs-ofctl')) return;
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-vsctl-'));
  const ovsdb = await startOvsdb({ remotes: [`punix:${join(dir, 'db.sock')}`], clock: realClock });
  const rec = new BridgeReconciler({ db: ovsdb.db, clock: realClock, rundir: dir });
  await rec.start();
  t.teardown(async () => {
    await rec.stop();
    await ovsdb.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const env = { OVS_RUNDIR: dir };
  const vsctl = (...args: string[]) =>
    runTool('ovs-vsctl', [`--db=unix:${join(dir, 'db.sock')}`, '--timeout=10', ...args], { env });

  let r = await vsctl('init');
  t.equal(r.code, 0, `init: ${r.stderr}`);
  r = await vsctl(
    'add-br',
    'br0',
    '--',
    'set',
    'Bridge',
    'br0',
    'datapath_type=netdev',
    'other_config:datapath-id=00000000000000aa',
  );
  t.equal(r.code, 0, `add-br waits for cur_cfg and succeeds: ${r.stderr}`);
  r = await vsctl(
    'add-port',
    'br0',
    'p1',
    '--',
    'set',
    'Interface',
    'p1',
    'type=internal',
    'ofport_request=7',
  );
  t.equal(r.code, 0);
  r = await vsctl('add-port', 'br0', 'p2', '--', 'set', 'Interface', 'p2', 'type=internal');
  t.equal(r.code, 0);
  r = await vsctl('add-port', 'br0', 'nosuchdev0');
  t.equal(r.code, 0, 'exit status stays 0, as with OVS');
  t.match(
    r.stderr,
    "ovs-vsctl: Error detected while setting up 'nosuchdev0': could not open network device nosuchdev0 (No such device).  See ovs-vswitchd log for details.",
  );
  r = await vsctl('add-port', 'br0', 'weird0', '--', 'set', 'Interface', 'weird0', 'type=foo');
  t.match(
    r.stderr,
    'could not open network device weird0 (Address family not supported by protocol)',
  );

  r = await vsctl('get', 'Interface', 'p1', 'ofport');
  t.equal(r.stdout.trim(), '7', 'ofport_request honoured');
  r = await vsctl('get', 'Interface', 'p2', 'ofport');
  t.equal(r.stdout.trim(), '1', 'lowest free ofport');
  r = await vsctl('get', 'Interface', 'br0', 'ofport');
  t.equal(r.stdout.trim(), '65534', 'the bridge port is LOCAL');
  r = await vsctl('get', 'Interface', 'nosuchdev0', 'ofport');
  t.equal(r.stdout.trim(), '-1');
  r = await vsctl('get', 'Bridge', 'br0', 'datapath_id');
  t.equal(r.stdout.trim(), '"00000000000000aa"');

  const of = await runTool('ovs-ofctl', ['-O', 'OpenFlow13', 'show', 'br0'], { env });
  t.equal(of.code, 0, of.stderr);
  t.match(of.stdout, /dpid:00000000000000aa/);
  t.match(of.stdout, / 1\(p2\): addr:/);
  t.match(of.stdout, / 7\(p1\): addr:/);
  t.match(of.stdout, / LOCAL\(br0\): addr:/);

  r = await vsctl('del-port', 'br0', 'p1');
  t.equal(r.code, 0);
  const of2 = await runTool('ovs-ofctl', ['-O', 'OpenFlow13', 'dump-ports-desc', 'br0'], { env });
  t.notMatch(of2.stdout, /\(p1\)/, 'port gone from the switch');

  r = await vsctl('set-controller', 'br0', 'tcp:127.0.0.1:1');
  t.equal(r.code, 0);
  r = await vsctl('del-br', 'br0');
  t.equal(r.code, 0, `del-br: ${r.stderr}`);
  const of3 = await runTool('ovs-ofctl', ['-O', 'OpenFlow13', 'show', 'br0'], { env });
  t.not(of3.code, 0, 'bridge gone');
  t.equal(rec.bridges.size, 0);
});

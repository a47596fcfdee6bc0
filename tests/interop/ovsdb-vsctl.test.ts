/**
 * Debian's ovs-vsctl (C IDL: get_schema _Server, monitor_cond _Server, monitor_cond_since,
 * transact) against our OVSDB server: with --no-wait, with a vswitchd stand-in bumping cur_cfg
 * (the path Mininet takes), and over ptcp: and pssl: remotes.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { peerPath, requirePeer, inCI } from '../helpers/peers.js';
import { runTool, type ToolResult } from '../helpers/tools.js';
import { fakeVswitchd, startTestOvsdb } from './fixtures/ovsdb-fixture.js';

function vsctl(db: string, ...args: string[]): Promise<ToolResult> {
  return runTool(peerPath('ovs-vsctl')!, [`--db=${db}`, '--timeout=10', ...args], {
    timeoutMs: 15000,
  });
}

async function ok(t: Tap, db: string, ...args: string[]): Promise<string> {
  const r = await vsctl(db, ...args);
  t.equal(r.code, 0, `ovs-vsctl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

type Tap = Pick<typeof t, 'equal'>;

void t.test(
  'ovs-vsctl --no-wait: init, add-br, add-port, set, list, find, get, show, del-br',
  async (t) => {
    if (!requirePeer(t, 'ovs-vsctl')) return;
    const s = await startTestOvsdb(t);
    const db = s.remote;
    await ok(t, db, '--no-wait', 'init');
    t.equal(s.db.rows('Open_vSwitch').size, 1);
    await ok(
      t,
      db,
      '--no-wait',
      'add-br',
      'br0',
      '--',
      'set',
      'Bridge',
      'br0',
      'datapath_type=netdev',
    );
    await ok(t, db, '--no-wait', 'add-port', 'br0', 'p1');
    await ok(
      t,
      db,
      '--no-wait',
      'set',
      'Bridge',
      'br0',
      'protocols=OpenFlow13',
      'fail_mode=secure',
    );
    await ok(t, db, '--no-wait', 'set', 'Interface', 'p1', 'bfd:enable=true', 'external_ids:x=1');
    t.equal(await ok(t, db, 'list-br'), 'br0\n');
    t.equal(await ok(t, db, 'list-ports', 'br0'), 'p1\n');
    t.equal(
      await ok(t, db, 'get', 'Bridge', 'br0', 'protocols', 'fail_mode', 'datapath_type'),
      '[OpenFlow13]\nsecure\nnetdev\n',
    );
    t.equal(await ok(t, db, 'get', 'Interface', 'p1', 'bfd'), '{enable="true"}\n');
    const list = await ok(t, db, 'list', 'Interface', 'p1');
    t.match(list, /^name\s+: p1$/m);
    t.match(list, /^external_ids\s+: \{x="1"\}$/m);
    const find = await ok(
      t,
      db,
      '--bare',
      '--columns=name',
      'find',
      'Interface',
      'external_ids:x=1',
    );
    t.equal(find.trim(), 'p1');
    const show = await ok(t, db, 'show');
    t.match(show, /Bridge br0\n\s+fail_mode: secure\n\s+datapath_type: netdev/);
    t.match(show, /Port p1\n\s+Interface p1/);
    // A map key removed and a column cleared.
    await ok(t, db, '--no-wait', 'remove', 'Interface', 'p1', 'external_ids', 'x');
    await ok(t, db, '--no-wait', 'clear', 'Bridge', 'br0', 'protocols');
    t.equal(await ok(t, db, 'get', 'Bridge', 'br0', 'protocols'), '[]\n');
    // Errors come back as ovs-vsctl's own messages.
    const nosuch = await vsctl(db, '--no-wait', 'del-br', 'nosuch');
    t.equal(nosuch.code, 1);
    t.match(nosuch.stderr, /no bridge named nosuch/);
    const dup = await vsctl(db, '--no-wait', 'add-br', 'br0');
    t.not(dup.code, 0);
    t.match(dup.stderr, /already exists/);
    // del-br removes only the reference; garbage collection removes bridge, ports, interfaces.
    await ok(t, db, '--no-wait', 'del-br', 'br0');
    t.equal(await ok(t, db, 'list-br'), '');
    t.equal(s.db.rows('Bridge').size, 0);
    t.equal(s.db.rows('Port').size, 0);
    t.equal(s.db.rows('Interface').size, 0);
    await ok(t, db, '--no-wait', '--if-exists', 'del-br', 'br0');
  },
);

void t.test('ovs-vsctl waiting for cur_cfg (Mininet batch startup), wait-until', async (t) => {
  if (!requirePeer(t, 'ovs-vsctl')) return;
  const s = await startTestOvsdb(t);
  const stop = fakeVswitchd(s.db);
  t.teardown(stop);
  const db = s.remote;
  await ok(t, db, 'init');
  const out = await ok(
    t,
    db,
    '--',
    '--id=@s1-listen',
    'create',
    'Controller',
    'target="ptcp:6654"',
    'max_backoff=1000',
    '--',
    '--if-exists',
    'del-br',
    's1',
    '--',
    'add-br',
    's1',
    '--',
    'set',
    'bridge',
    's1',
    'controller=[@s1-listen]',
    'other_config:datapath-id=0000000000000001',
    'fail_mode=secure',
    'other-config:disable-in-band=true',
    'datapath_type=netdev',
    'other-config:dp-desc=s1',
    '--',
    'add-port',
    's1',
    's1-eth1',
    '--',
    'set',
    'Interface',
    's1-eth1',
    'ofport_request=1',
  );
  t.match(out, /^[0-9a-f-]{36}\n$/, 'prints the new Controller uuid');
  const ovs = [...s.db.rows('Open_vSwitch').values()][0]!;
  t.equal(ovs.data.cur_cfg!.keys[0], ovs.data.next_cfg!.keys[0]);
  t.equal(await ok(t, db, 'get', 'Controller', out.trim(), 'target'), '"ptcp:6654"\n');
  t.equal(await ok(t, db, 'get', 'Bridge', 's1', 'other_config:dp-desc'), 's1\n');
  // wait-until returns once the condition holds (it already does).
  await ok(t, db, 'wait-until', 'Bridge', 's1', 'fail_mode=secure');
  await ok(t, db, '--if-exists', 'del-br', 's1');
  t.equal(s.db.rows('Controller').size, 0);
});

void t.test('ovs-vsctl over ptcp: and pssl: (certificates from ovs-pki)', async (t) => {
  if (!requirePeer(t, 'ovs-vsctl')) return;
  const s = await startTestOvsdb(t, ['ptcp:0:127.0.0.1']);
  const port = s.remotes.status('ptcp:0:127.0.0.1')!.boundPort!;
  await ok(t, `tcp:127.0.0.1:${port}`, '--no-wait', 'init');
  await ok(t, `tcp:127.0.0.1:${port}`, '--no-wait', 'add-br', 'tcpbr');
  t.equal(await ok(t, s.remote, 'list-br'), 'tcpbr\n');

  if (!peerPath('ovs-pki')) {
    if (inCI()) t.fail('ovs-pki missing (openvswitch-common): the pssl part cannot run');
    else t.comment('ovs-pki missing: pssl part not run');
    return;
  }
  const pki = join(s.dir, 'pki');
  const pkiRun = (...args: string[]): void => {
    execFileSync(
      peerPath('ovs-pki')!,
      [`--dir=${pki}`, `--log=${join(s.dir, 'pki.log')}`, ...args],
      { cwd: s.dir, stdio: 'ignore' },
    );
  };
  pkiRun('init');
  pkiRun('req+sign', 'srv', 'switch');
  pkiRun('req+sign', 'cli', 'switch');
  const ca = join(pki, 'switchca', 'cacert.pem');
  const st = await s.remotes.add('pssl:0:127.0.0.1', {
    ssl: {
      privateKey: join(s.dir, 'srv-privkey.pem'),
      certificate: join(s.dir, 'srv-cert.pem'),
      caCert: ca,
    },
  });
  const sslDb = `ssl:127.0.0.1:${st.boundPort!}`;
  const r = await runTool(
    peerPath('ovs-vsctl')!,
    [
      `--db=${sslDb}`,
      '--timeout=10',
      '-p',
      join(s.dir, 'cli-privkey.pem'),
      '-c',
      join(s.dir, 'cli-cert.pem'),
      '-C',
      ca,
      '--no-wait',
      'add-br',
      'sslbr',
    ],
    { timeoutMs: 15000 },
  );
  t.equal(r.code, 0, r.stderr);
  t.equal(await ok(t, s.remote, 'list-br'), 'sslbr\ntcpbr\n');
});

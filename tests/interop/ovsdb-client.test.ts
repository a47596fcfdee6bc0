/**
 * Debian's ovsdb-client against our OVSDB server on a unix socket: list-dbs, get-schema,
 * list-tables, dump, transact, and monitor / monitor-cond / monitor-cond-since running in the
 * background while the database changes.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { requirePeer, peerPath } from '../helpers/peers.js';
import { runTool } from '../helpers/tools.js';
import { mustTransact, startTestOvsdb } from './fixtures/ovsdb-fixture.js';

function client(...args: string[]): ReturnType<typeof runTool> {
  return runTool(peerPath('ovsdb-client')!, args, { timeoutMs: 15000 });
}

/** Starts `ovsdb-client monitor…` in the background; `output()` is what it printed so far. */
function background(args: string[]): {
  output: () => string;
  waitFor: (re: RegExp) => Promise<string>;
  stop: () => void;
} {
  const child = spawn(peerPath('ovsdb-client')!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  const waitFor = async (re: RegExp): Promise<string> => {
    for (let i = 0; i < 1000; i++) {
      if (re.test(out)) return out;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`never saw ${String(re)} in:\n${out}`);
  };
  return { output: () => out, waitFor, stop: () => child.kill('SIGKILL') };
}

void t.test('ovsdb-client list-dbs, get-schema, list-tables, dump, transact', async (t) => {
  if (!requirePeer(t, 'ovsdb-client')) return;
  const s = await startTestOvsdb(t);
  const dbs = await client('list-dbs', s.remote);
  t.equal(dbs.code, 0, dbs.stderr);
  t.equal(dbs.stdout, 'Open_vSwitch\n_Server\n');

  const schema = await client('get-schema', s.remote, 'Open_vSwitch');
  t.equal(schema.code, 0, schema.stderr);
  const sj = JSON.parse(schema.stdout) as {
    name: string;
    version: string;
    tables: Record<string, unknown>;
  };
  t.equal(sj.name, 'Open_vSwitch');
  t.equal(sj.version, '8.3.1');
  t.ok('Bridge' in sj.tables && 'Interface' in sj.tables);
  const ver = await client('get-schema-version', s.remote);
  t.equal(ver.stdout, '8.3.1\n');
  const tables = await client('list-tables', s.remote, '_Server');
  t.match(tables.stdout, /Database/);

  const tr = await client(
    'transact',
    s.remote,
    JSON.stringify([
      'Open_vSwitch',
      { op: 'insert', table: 'Open_vSwitch', row: { bridges: ['named-uuid', 'b'] } },
      {
        op: 'insert',
        table: 'Bridge',
        row: { name: 'br-client', fail_mode: 'secure' },
        'uuid-name': 'b',
      },
    ]),
  );
  t.equal(tr.code, 0, tr.stderr);
  const res = JSON.parse(tr.stdout) as { uuid: [string, string] }[];
  t.equal(res.length, 2);
  t.equal(res[1]!.uuid[0], 'uuid');

  const dump = await client('dump', s.remote, 'Open_vSwitch', 'Bridge', 'name', 'fail_mode');
  t.equal(dump.code, 0, dump.stderr);
  t.match(dump.stdout, /Bridge table/);
  t.match(dump.stdout, /br-client\s+secure|secure\s+br-client/);
  const full = await client('dump', s.remote, 'Open_vSwitch', 'Bridge');
  t.match(full.stdout, new RegExp(res[1]!.uuid[1]), 'dump of all columns shows _uuid');

  // A failing transaction reports the error (exit status 0 like ovsdb-server: errors are data).
  const bad = await client(
    'transact',
    s.remote,
    JSON.stringify(['Open_vSwitch', { op: 'frob', table: 'Bridge' }]),
  );
  t.match(bad.stdout, /syntax error/);
  const unknown = await client('transact', s.remote, '["nope"]');
  t.not(unknown.code, 0);
  t.match(unknown.stdout + unknown.stderr, /unknown database/);
});

void t.test('ovsdb-client monitor, monitor-cond, monitor-cond-since see changes', async (t) => {
  if (!requirePeer(t, 'ovsdb-client')) return;
  const s = await startTestOvsdb(t);
  const [ins] = mustTransact(s.db, [{ op: 'insert', table: 'Open_vSwitch', row: {} }]) as {
    uuid: [string, string];
  }[];
  const ovs = ins!.uuid[1];
  const m1 = background(['monitor', s.remote, 'Open_vSwitch', 'Bridge', 'name,fail_mode']);
  const m2 = background([
    'monitor-cond',
    s.remote,
    'Open_vSwitch',
    '[["name","==","br-b"]]',
    'Bridge',
    'name',
  ]);
  const m3 = background([
    'monitor-cond-since',
    s.remote,
    'Open_vSwitch',
    '[true]',
    'Bridge',
    'name',
  ]);
  t.teardown(() => {
    m1.stop();
    m2.stop();
    m3.stop();
  });
  await m1.waitFor(/row\s+action\s+name|^$/m);
  await m3.waitFor(/found: false, last_id: 00000000-0000-0000-0000-000000000000/);
  // Let every client finish its handshake before the change.
  for (let i = 0; i < 100 && s.server.stats().monitors < 3; i++)
    await new Promise((r) => setTimeout(r, 20));
  t.equal(s.server.stats().monitors, 3);
  mustTransact(s.db, [
    { op: 'insert', table: 'Bridge', row: { name: 'br-a', fail_mode: 'secure' }, 'uuid-name': 'a' },
    { op: 'insert', table: 'Bridge', row: { name: 'br-b' }, 'uuid-name': 'b' },
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [['_uuid', '==', ['uuid', ovs]]],
      mutations: [
        [
          'bridges',
          'insert',
          [
            'set',
            [
              ['named-uuid', 'a'],
              ['named-uuid', 'b'],
            ],
          ],
        ],
      ],
    },
  ]);
  await m1.waitFor(/insert\s+br-a\s+secure/);
  await m1.waitFor(/insert\s+br-b/);
  await m2.waitFor(/insert\s+br-b/);
  await m3.waitFor(/insert\s+br-a/);
  t.notMatch(m2.output(), /br-a/, 'condition filters br-a out');
  mustTransact(s.db, [
    {
      op: 'update',
      table: 'Bridge',
      where: [['name', '==', 'br-a']],
      row: { fail_mode: 'standalone' },
    },
  ]);
  const out = await m1.waitFor(/new\s+br-a\s+standalone/);
  t.match(out, /old\s+secure/);
  mustTransact(s.db, [
    { op: 'update', table: 'Open_vSwitch', where: [], row: { bridges: ['set', []] } },
  ]);
  // v1 deletes carry the old row; update2/update3 deletes carry no columns.
  await m1.waitFor(/delete\s+br-b/);
  await m1.waitFor(/delete\s+br-a/);
  await m2.waitFor(/delete/);
  await m3.waitFor(/delete[^]*delete/);
});

/**
 * The Python IDL (python3-openvswitch 3.1, `ovs.db.idl`) against our OVSDB server: it takes the
 * `_Server` monitor (v1) + `monitor_cond_since` path, a lock, sees a server-side change and
 * commits its own transaction (fixture: fixtures/py_idl_client.py).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEBIAN_PYTHON, requirePeer } from '../helpers/peers.js';
import { mustTransact, startTestOvsdb } from './fixtures/ovsdb-fixture.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'py_idl_client.py');

void t.test('Python IDL: sync, lock, see a server change, commit a transaction', async (t) => {
  if (!requirePeer(t, 'python:ovs')) return;
  const s = await startTestOvsdb(t);
  const [ins] = mustTransact(s.db, [{ op: 'insert', table: 'Open_vSwitch', row: {} }]) as {
    uuid: [string, string];
  }[];
  const ovs = ins!.uuid[1];

  const child = spawn(DEBIAN_PYTHON, [SCRIPT, s.remote, 'from-server', 'from-python', 'py_lock'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const waitOut = async (re: RegExp): Promise<void> => {
    for (let i = 0; i < 2000 && !re.test(out); i++) {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    if (!re.test(out))
      throw new Error(`python never printed ${String(re)}; stdout=${out} stderr=${err}`);
  };

  await waitOut(/^synced 0$/m);
  // The IDL holds its lock on our server.
  t.same(s.server.locks.list(), [{ name: 'py_lock', waiters: 1 }]);
  mustTransact(s.db, [
    { op: 'insert', table: 'Bridge', row: { name: 'from-server' }, 'uuid-name': 'b' },
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [['_uuid', '==', ['uuid', ovs]]],
      mutations: [['bridges', 'insert', ['named-uuid', 'b']]],
    },
  ]);
  await waitOut(/^saw from-server$/m);
  const code = await exited;
  t.equal(code, 0, err);
  const last = JSON.parse(out.trim().split('\n').pop()!) as {
    status: string;
    bridges: string[];
    has_lock: boolean;
  };
  t.same(last, { status: 'success', bridges: ['from-python', 'from-server'], has_lock: true });
  // Server side: the Python transaction landed with its rows and references.
  const br = [...s.db.rows('Bridge').values()].find((r) => r.data.name!.keys[0] === 'from-python');
  t.ok(br, 'bridge committed');
  t.same(br!.data.external_ids, { keys: ['made-by'], values: ['python-idl'] });
  t.equal(s.db.rows('Port').size, 1);
  t.equal(s.db.rows('Interface').size, 1);
  // Its session is gone and its lock with it.
  for (let i = 0; i < 200 && s.server.sessions().length > 0; i++)
    await new Promise((r) => setTimeout(r, 10));
  t.same(s.server.locks.list(), []);
});

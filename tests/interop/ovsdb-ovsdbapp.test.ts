/**
 * ovsdbapp 2.1 (`ovsdbapp.schema.open_vswitch.impl_idl.OvsdbIdl` over
 * `ovsdbapp.backend.ovs_idl.connection`) against our OVSDB server, with a vswitchd stand-in
 * bumping `cur_cfg` and giving interfaces an ofport (ovsdbapp waits for both, like ovs-vsctl).
 * Fixture: fixtures/ovsdbapp_client.py.
 */
import t from 'tap';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEBIAN_PYTHON, requirePeer } from '../helpers/peers.js';
import { runTool } from '../helpers/tools.js';
import { fakeVswitchd, mustTransact, startTestOvsdb } from './fixtures/ovsdb-fixture.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'ovsdbapp_client.py');

void t.test('ovsdbapp: add_br, add_port, external ids, list, del_br', async (t) => {
  if (!requirePeer(t, 'python:ovsdbapp')) return;
  const s = await startTestOvsdb(t);
  t.teardown(fakeVswitchd(s.db));
  mustTransact(s.db, [{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
  const r = await runTool(DEBIAN_PYTHON, [SCRIPT, s.remote], { timeoutMs: 60000 });
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  t.same(out, {
    bridges: ['appbr'],
    ports: ['app-p1'],
    owner: 'ovsdbapp',
    port_to_br: 'appbr',
    after_del: [],
  });
  t.equal(s.db.rows('Bridge').size, 0, 'garbage collected after del_br');
  const ovs = [...s.db.rows('Open_vSwitch').values()][0]!;
  t.ok((ovs.data.next_cfg!.keys[0] as bigint) >= 3n, 'each ovsdbapp transaction bumped next_cfg');
  t.equal(ovs.data.cur_cfg!.keys[0], ovs.data.next_cfg!.keys[0]);
});

/**
 * A reconciliation pass that throws (a bug, an unexpected row) is logged and counted and the
 * daemon carries on: later changes are still applied.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { realClock } from '../../../lib/clock.js';
import { counter } from '../../../lib/counters.js';
import { Database } from '../../../ovsdb/database.js';
import { vswitchDbSchema } from '../../../ovsdb/schema.js';
import { BridgeReconciler } from '../../../vswitchd/bridge.js';
import { sleep } from '../../helpers/net.js';

t.test('a throwing pass does not stop the reconciler', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-robust-'));
  const db = new Database(vswitchDbSchema());
  db.transact([{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
  const rec = new BridgeReconciler({
    db,
    clock: realClock,
    rundir: dir,
    deviceExists: (name) => {
      if (name === 'boom') throw new Error('simulated failure');
      return true;
    },
  });
  await rec.start();
  t.teardown(async () => {
    await rec.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const failed = counter('bridge_reconfigure_failed', 'vswitchd');
  const before = failed.total;
  const ovs = [...db.rows('Open_vSwitch').keys()][0]!;
  const addBridge = (br: string, port: string) =>
    db.transact([
      { op: 'insert', table: 'Interface', row: { name: port }, 'uuid-name': 'i' },
      {
        op: 'insert',
        table: 'Port',
        row: { name: port, interfaces: ['named-uuid', 'i'] },
        'uuid-name': 'p',
      },
      {
        op: 'insert',
        table: 'Bridge',
        row: { name: br, ports: ['named-uuid', 'p'] },
        'uuid-name': 'b',
      },
      {
        op: 'mutate',
        table: 'Open_vSwitch',
        where: [['_uuid', '==', ['uuid', ovs]]],
        mutations: [['bridges', 'insert', ['named-uuid', 'b']]],
      },
    ]);
  addBridge('br0', 'boom');
  await rec.schedule();
  await rec.idle();
  t.ok(failed.total > before, 'the failure is counted');
  // A later, unrelated change is still applied (the first bridge keeps failing, the second
  // bridge's pass throws too as long as br0 is there, so remove br0 first).
  const br0 = [...db.rows('Bridge').values()].find((r) => r.data.name?.keys[0] === 'br0')!;
  db.transact([
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [['_uuid', '==', ['uuid', ovs]]],
      mutations: [['bridges', 'delete', ['uuid', br0.uuid]]],
    },
  ]);
  addBridge('br1', 'fine0');
  for (let i = 0; i < 50 && !rec.bridges.has('br1'); i++) await sleep(20);
  t.ok(rec.bridges.has('br1'), 'later changes are applied');
  t.notOk(rec.bridges.has('br0'));
});

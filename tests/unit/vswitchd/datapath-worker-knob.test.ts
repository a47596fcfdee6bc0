/**
 * Open_vSwitch other_config:datapath-worker=true|false turns the datapath's worker fast path on
 * and off; removing the key restores the datapath's default (TSVS_DATAPATH_WORKER). The worker
 * itself is exercised by tests/system/datapath-worker.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import { DpifNetdev } from '../../../datapath/dpif-netdev.js';
import { Database } from '../../../ovsdb/database.js';
import { vswitchDbSchema } from '../../../ovsdb/schema.js';
import { BridgeReconciler } from '../../../vswitchd/bridge.js';

t.test('other_config:datapath-worker', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tdwk-'));
  const clock = new FakeClock(1000);
  const db = new Database(vswitchDbSchema());
  db.transact([{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
  const ovs = [...db.rows('Open_vSwitch').keys()][0]!;
  const dpif = new DpifNetdev({ clock, worker: false });
  const rec = new BridgeReconciler({ db, clock, rundir: dir, dpif, deviceExists: () => true });
  await rec.start();
  t.teardown(async () => {
    await rec.stop();
    dpif.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const set = async (oc: Record<string, string>): Promise<void> => {
    const r = db.transact([
      {
        op: 'update',
        table: 'Open_vSwitch',
        where: [['_uuid', '==', ['uuid', ovs]]],
        row: { other_config: ['map', Object.entries(oc)] },
      },
    ] as never);
    t.equal(r.status, 'done');
    await rec.idle();
  };
  const plain = new DpifNetdev({ clock });
  t.equal(
    plain.workerEnabled,
    process.env.TSVS_DATAPATH_WORKER !== '0',
    'a datapath runs the worker by default (TSVS_DATAPATH_WORKER=0 turns that off)',
  );
  plain.close();
  t.equal(dpif.workerEnabled, false, 'off as constructed');
  await set({ 'datapath-worker': 'true' });
  t.equal(dpif.workerEnabled, true, 'true turns it on');
  await set({ 'datapath-worker': 'false' });
  t.equal(dpif.workerEnabled, false, 'false turns it off');
  await set({ 'datapath-worker': 'true' });
  await set({});
  t.equal(dpif.workerEnabled, false, 'removing the key restores the default');
});

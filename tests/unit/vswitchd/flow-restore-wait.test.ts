/**
 * other_config:flow-restore-wait as OVS 3.1 honours it: while true, no packets are taken from
 * the datapath (misses are dropped) and no controller is connected; once removed, forwarding
 * starts, and setting it again later has no effect.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import type { Json } from '../../../lib/json.js';
import { DpifNetdev } from '../../../datapath/dpif-netdev.js';
import { findDummy } from '../../../datapath/netdev-dummy.js';
import { Database } from '../../../ovsdb/database.js';
import { vswitchDbSchema } from '../../../ovsdb/schema.js';
import { BridgeReconciler } from '../../../vswitchd/bridge.js';

t.test('flow-restore-wait: no forwarding, no controllers until removed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tbnd-frw-'));
  const clock = new FakeClock(1000);
  const db = new Database(vswitchDbSchema());
  db.transact([
    {
      op: 'insert',
      table: 'Open_vSwitch',
      row: { other_config: ['map', [['flow-restore-wait', 'true']]] },
    },
  ]);
  const ovs = [...db.rows('Open_vSwitch').keys()][0]!;
  const dpif = new DpifNetdev({ clock });
  const rec = new BridgeReconciler({ db, clock, rundir: dir, dpif, deviceExists: () => true });
  const r = db.transact([
    { op: 'insert', table: 'Interface', row: { name: 'tbndw1', type: 'dummy' }, 'uuid-name': 'i1' },
    { op: 'insert', table: 'Interface', row: { name: 'tbndw2', type: 'dummy' }, 'uuid-name': 'i2' },
    {
      op: 'insert',
      table: 'Port',
      row: { name: 'tbndw1', interfaces: ['named-uuid', 'i1'] },
      'uuid-name': 'p1',
    },
    {
      op: 'insert',
      table: 'Port',
      row: { name: 'tbndw2', interfaces: ['named-uuid', 'i2'] },
      'uuid-name': 'p2',
    },
    { op: 'insert', table: 'Controller', row: { target: 'tcp:127.0.0.1:1' }, 'uuid-name': 'c' },
    {
      op: 'insert',
      table: 'Bridge',
      row: {
        name: 'tbndw0',
        ports: [
          'set',
          [
            ['named-uuid', 'p1'],
            ['named-uuid', 'p2'],
          ],
        ],
        controller: ['named-uuid', 'c'],
      },
      'uuid-name': 'b',
    },
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [['_uuid', '==', ['uuid', ovs]]],
      mutations: [['bridges', 'insert', ['named-uuid', 'b']]],
    },
  ]);
  t.equal(r.status, 'done');
  await rec.start();
  dpif.start();
  t.teardown(async () => {
    await rec.stop();
    dpif.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 10; i++) {
      clock.advance(10);
      for (let k = 0; k < 4; k++) await new Promise((r) => setImmediate(r));
    }
    await rec.idle();
  };
  const setFrw = async (v: string | undefined): Promise<void> => {
    const row: Json = v === undefined ? ['map', []] : ['map', [['flow-restore-wait', v]]];
    db.transact([
      {
        op: 'update',
        table: 'Open_vSwitch',
        where: [['_uuid', '==', ['uuid', ovs]]],
        row: { other_config: row },
      },
    ]);
    await rec.schedule();
    await rec.idle();
  };
  const d1 = findDummy('tbndw1')!;
  const d2 = findDummy('tbndw2')!;
  d2.setCaptureTx(true);
  const frame = new Uint8Array(60);
  frame.fill(0xff, 0, 6);
  frame.set([2, 0, 0, 0, 0, 0x41], 6);
  frame.set([0x08, 0x00], 12);
  const br = rec.bridges.get('tbndw0')!;
  t.ok(rec.flowRestore.waiting);
  t.equal(br.ofproto.connmgr.status().length, 0, 'no controller while waiting');
  d1.receive(frame);
  await settle();
  t.equal(d2.takeSent().length, 0, 'nothing forwarded while waiting');
  await setFrw(undefined);
  t.notOk(rec.flowRestore.waiting);
  t.equal(br.ofproto.connmgr.status().length, 1, 'controller configured after the wait');
  d1.receive(frame);
  await settle();
  t.equal(d2.takeSent().length, 1, 'forwarded (standalone NORMAL) after the wait');
  await setFrw('true');
  t.notOk(rec.flowRestore.waiting, 'setting it again has no effect (as OVS)');
  d1.receive(frame);
  await settle();
  t.equal(d2.takeSent().length, 1);
});

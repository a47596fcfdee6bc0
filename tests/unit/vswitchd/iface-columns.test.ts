/**
 * Interface mtu, mtu_request, ifindex, link_speed and duplex as OVS 3.1 writes them for dummy
 * and internal interfaces (values seen on OVS 3.1: dummy → mtu 1500, ifindex 0, no link_speed
 * or duplex; a tap-backed internal port → 10 Gb/s full duplex).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { realClock } from '../../../lib/clock.js';
import { DpifNetdev } from '../../../datapath/dpif-netdev.js';
import { findDummy } from '../../../datapath/netdev-dummy.js';
import { Database } from '../../../ovsdb/database.js';
import { vswitchDbSchema } from '../../../ovsdb/schema.js';
import type { Row } from '../../../ovsdb/types.js';
import { BridgeReconciler } from '../../../vswitchd/bridge.js';

t.test('mtu, mtu_request, ifindex, link_speed, duplex', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tbnd-iface-'));
  const db = new Database(vswitchDbSchema());
  db.transact([{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
  const dpif = new DpifNetdev({ clock: realClock });
  const rec = new BridgeReconciler({ db, clock: realClock, rundir: dir, dpif });
  await rec.start();
  t.teardown(async () => {
    await rec.stop();
    dpif.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const ovs = [...db.rows('Open_vSwitch').keys()][0]!;
  const r = db.transact([
    {
      op: 'insert',
      table: 'Interface',
      row: { name: 'tbndc0', type: 'internal' },
      'uuid-name': 'i0',
    },
    { op: 'insert', table: 'Interface', row: { name: 'tbndc1', type: 'dummy' }, 'uuid-name': 'i1' },
    {
      op: 'insert',
      table: 'Interface',
      row: { name: 'tbndc2', type: 'dummy', mtu_request: 9000 },
      'uuid-name': 'i2',
    },
    {
      op: 'insert',
      table: 'Port',
      row: { name: 'tbndc0', interfaces: ['named-uuid', 'i0'] },
      'uuid-name': 'p0',
    },
    {
      op: 'insert',
      table: 'Port',
      row: { name: 'tbndc1', interfaces: ['named-uuid', 'i1'] },
      'uuid-name': 'p1',
    },
    {
      op: 'insert',
      table: 'Port',
      row: { name: 'tbndc2', interfaces: ['named-uuid', 'i2'] },
      'uuid-name': 'p2',
    },
    {
      op: 'insert',
      table: 'Bridge',
      row: {
        name: 'tbndc0',
        ports: [
          'set',
          [
            ['named-uuid', 'p0'],
            ['named-uuid', 'p1'],
            ['named-uuid', 'p2'],
          ],
        ],
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
  await rec.schedule();
  await rec.idle();
  const row = (n: string): Row =>
    [...db.rows('Interface').values()].find((x) => x.data.name?.keys[0] === n)!;
  const col = (n: string, c: string): unknown => row(n).data[c]?.keys[0];
  t.equal(col('tbndc1', 'mtu'), 1500n, 'dummy mtu 1500');
  t.equal(col('tbndc1', 'ifindex'), 0n, 'dummy ifindex 0');
  t.equal(col('tbndc1', 'link_speed'), undefined, 'dummy: no link_speed');
  t.equal(col('tbndc1', 'duplex'), undefined, 'dummy: no duplex');
  t.equal(col('tbndc0', 'mtu'), 1500n);
  t.equal(col('tbndc0', 'link_speed'), 10_000_000_000n, 'internal: 10 Gb/s as OVS taps');
  t.equal(col('tbndc0', 'duplex'), 'full');
  t.equal(col('tbndc2', 'mtu'), 9000n, 'mtu_request applied');
  t.equal(findDummy('tbndc2')!.mtu(), 9000);
  // Changing mtu_request changes the device and the column.
  db.transact([
    {
      op: 'update',
      table: 'Interface',
      where: [['_uuid', '==', ['uuid', row('tbndc2').uuid]]],
      row: { mtu_request: 1400 },
    },
  ]);
  await rec.schedule();
  await rec.idle();
  t.equal(findDummy('tbndc2')!.mtu(), 1400);
  t.equal(col('tbndc2', 'mtu'), 1400n);
  // A refused MTU leaves the interface as it was.
  db.transact([
    {
      op: 'update',
      table: 'Interface',
      where: [['_uuid', '==', ['uuid', row('tbndc2').uuid]]],
      row: { mtu_request: 70000 },
    },
  ]);
  await rec.schedule();
  await rec.idle();
  t.equal(col('tbndc2', 'mtu'), 1400n, 'out of range: unchanged');
});

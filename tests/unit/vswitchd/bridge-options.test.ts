/**
 * Bridge and Controller options the reconciler hands to xlate: Bridge.flood_vlans (NORMAL
 * neither learns nor looks up MACs on those VLANs, so it floods, as OVS's
 * mac_learning_set_flood_vlans) and Controller.controller_rate_limit/burst_limit (the bridge's
 * packet-in limiter).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import type { Json } from '../../../lib/json.js';
import { parseFlow } from '../../../lib/packet/format.js';
import { DpifNetdev } from '../../../datapath/dpif-netdev.js';
import { formatActions } from '../../../datapath/actions.js';
import { Database } from '../../../ovsdb/database.js';
import { vswitchDbSchema } from '../../../ovsdb/schema.js';
import { BridgeReconciler } from '../../../vswitchd/bridge.js';

t.test('flood_vlans and packet-in rate limits reach xlate', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tbopt-'));
  const clock = new FakeClock(1000);
  const db = new Database(vswitchDbSchema());
  db.transact([{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
  const ovs = [...db.rows('Open_vSwitch').keys()][0]!;
  const dpif = new DpifNetdev({ clock });
  const rec = new BridgeReconciler({ db, clock, rundir: dir, dpif, deviceExists: () => true });
  const ports = ['tbo1', 'tbo2', 'tbo3'];
  const r = db.transact([
    ...ports.flatMap((n): Json[] => [
      { op: 'insert', table: 'Interface', row: { name: n, type: 'dummy' }, 'uuid-name': `i${n}` },
      {
        op: 'insert',
        table: 'Port',
        row: { name: n, interfaces: ['named-uuid', `i${n}`] },
        'uuid-name': `p${n}`,
      },
    ]),
    {
      op: 'insert',
      table: 'Bridge',
      row: { name: 'tbo0', ports: ['set', ports.map((n) => ['named-uuid', `p${n}`])] },
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
  t.teardown(async () => {
    await rec.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const x = rec.xlateOf('tbo0')!;
  const ofport = (n: string) => x.ofproto.listPorts().find((p) => p.name === n)!.ofport;
  const run = (flow: string) => formatActions(x.translate({ key: parseFlow(flow).key }).actions);
  // Learn 00:..:01 on tbo1, then a frame to it from tbo2 goes only there.
  run(`in_port=${ofport('tbo1')},dl_src=00:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff`);
  const toLearned = `in_port=${ofport('tbo2')},dl_src=00:00:00:00:00:02,dl_dst=00:00:00:00:00:01`;
  const unicast = run(toLearned);
  t.equal(unicast.split(',').length, 1, `unicast to the learned port: ${unicast}`);

  const bridge = [...db.rows('Bridge').keys()][0]!;
  const set = (row: Record<string, unknown>) =>
    db.transact([
      { op: 'update', table: 'Bridge', where: [['_uuid', '==', ['uuid', bridge]]], row },
    ] as never);
  set({ flood_vlans: ['set', [0]] });
  await rec.idle();
  const flooded = run(toLearned);
  t.equal(flooded.split(',').length, 2, `VLAN 0 in flood_vlans: flooded (${flooded})`);
  set({ flood_vlans: ['set', []] });
  await rec.idle();
  t.equal(run(toLearned), unicast, 'learning again once removed');

  t.same(x.pinsched.limits(), { rate: 1000, burst: 250 }, 'OVS defaults');
  const cr = db.transact([
    {
      op: 'insert',
      table: 'Controller',
      row: { target: 'tcp:127.0.0.1:1', controller_rate_limit: 200, controller_burst_limit: 40 },
      'uuid-name': 'c',
    },
    {
      op: 'update',
      table: 'Bridge',
      where: [['_uuid', '==', ['uuid', bridge]]],
      row: { controller: ['named-uuid', 'c'] },
    },
  ]);
  t.equal(cr.status, 'done');
  await rec.idle();
  t.same(x.pinsched.limits(), { rate: 200, burst: 40 }, 'from the Controller row');
});

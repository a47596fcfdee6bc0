/**
 * The bond module on the real reconciler, the userspace datapath and dummy netdevs, on a fake
 * clock: add-bond's rows become a bond, Port.bond_active_slave is written, a member losing its
 * carrier (or its LIVE bit, as BFD clears it) fails over after bond_downdelay, frames flooded
 * from another port leave through exactly one member, and bond/show, bond/list,
 * bond/set-active-member answer through the appctl registry.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import type { Json } from '../../../lib/json.js';
import { AppctlRegistry } from '../../../appctl/registry.js';
import { DpifNetdev } from '../../../datapath/dpif-netdev.js';
import { findDummy } from '../../../datapath/netdev-dummy.js';
import { OFPPS } from '../../../openflow/constants.js';
import { Database } from '../../../ovsdb/database.js';
import { vswitchDbSchema } from '../../../ovsdb/schema.js';
import type { Row } from '../../../ovsdb/types.js';
import type { BridgeBonds } from '../../../vswitchd/bond.js';
import { BOND_MODULE, registerBondCommands } from '../../../vswitchd/bond.js';
import { BridgeReconciler } from '../../../vswitchd/bridge.js';

let seq = 0;

async function setup(t: Test, portExtra: Record<string, Json> = {}) {
  const n = ++seq;
  const nm = (s: string): string => `tbnd${n}${s}`;
  const dir = mkdtempSync(join(tmpdir(), 'tbnd-unit-'));
  const clock = new FakeClock(1000);
  const db = new Database(vswitchDbSchema());
  db.transact([{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
  const dpif = new DpifNetdev({ clock });
  const rec = new BridgeReconciler({
    db,
    clock,
    rundir: dir,
    dpif,
    protocols: [BOND_MODULE],
    deviceExists: () => true,
  });
  await rec.start();
  dpif.start();
  t.teardown(async () => {
    await rec.stop();
    dpif.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const ovs = [...db.rows('Open_vSwitch').keys()][0]!;
  const m1 = nm('m1');
  const m2 = nm('m2');
  const p3 = nm('p3');
  const r = db.transact([
    {
      op: 'insert',
      table: 'Interface',
      row: { name: m1, type: 'dummy', ofport_request: 1 },
      'uuid-name': 'i1',
    },
    {
      op: 'insert',
      table: 'Interface',
      row: { name: m2, type: 'dummy', ofport_request: 2 },
      'uuid-name': 'i2',
    },
    {
      op: 'insert',
      table: 'Interface',
      row: { name: p3, type: 'dummy', ofport_request: 3 },
      'uuid-name': 'i3',
    },
    {
      op: 'insert',
      table: 'Port',
      row: {
        name: nm('bond'),
        interfaces: [
          'set',
          [
            ['named-uuid', 'i1'],
            ['named-uuid', 'i2'],
          ],
        ],
        ...portExtra,
      },
      'uuid-name': 'pb',
    },
    {
      op: 'insert',
      table: 'Port',
      row: { name: p3, interfaces: ['named-uuid', 'i3'] },
      'uuid-name': 'p3',
    },
    {
      op: 'insert',
      table: 'Bridge',
      row: {
        name: nm('br'),
        ports: [
          'set',
          [
            ['named-uuid', 'pb'],
            ['named-uuid', 'p3'],
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
  const bonds = rec.protocolsOf('bond').get(nm('br')) as BridgeBonds;
  const reg = new AppctlRegistry();
  registerBondCommands(reg, () => rec.protocolsOf('bond'));
  const appctl = async (...args: string[]): Promise<string> =>
    reg.get(args[0]!)!.handler(args.slice(1));
  const portRow = (): Row =>
    [...db.rows('Port').values()].find((p) => p.data.name?.keys[0] === nm('bond'))!;
  /** Lets timers and the coalesced status pass run. */
  const settle = async (ms: number): Promise<void> => {
    for (let i = 0; i < ms / 10; i++) {
      clock.advance(10);
      for (let k = 0; k < 4; k++) await new Promise((r) => setImmediate(r));
    }
    await rec.idle();
  };
  return { clock, db, rec, bonds, appctl, portRow, settle, nm, m1, m2, p3 };
}

t.test('add-bond rows become an active-backup bond; failover on carrier loss', async (t) => {
  const s = await setup(t, { bond_downdelay: 300 });
  const bond = s.bonds.bonds.get(s.nm('bond'))!;
  t.ok(bond, 'bond created');
  await s.settle(200);
  t.equal(bond.activeName(), s.m1);
  const mac1 = s.bonds['ctx'].ifaces().find((i) => i.name === s.m1)!.mac;
  const macStr = (m: number): string =>
    m
      .toString(16)
      .padStart(12, '0')
      .replace(/(..)(?!$)/g, '$1:');
  t.equal(s.portRow().data.bond_active_slave?.keys[0], macStr(mac1), 'bond_active_slave');
  t.match(
    await s.appctl('bond/show', s.nm('bond')),
    /^---- tbnd\d+bond ----\nbond_mode: active-backup\n/,
  );
  t.match(
    await s.appctl('bond/list'),
    new RegExp(`${s.nm('bond')}\tactive-backup\t0\t${s.m1}, ${s.m2}\n`),
  );
  await t.rejects(s.appctl('bond/show', 'nope'), /no such bond/);

  // A frame flooded from p3 leaves through exactly one member (the active one).
  const d1 = findDummy(s.m1)!;
  const d2 = findDummy(s.m2)!;
  const d3 = findDummy(s.p3)!;
  d1.setCaptureTx(true);
  d2.setCaptureTx(true);
  const frame = new Uint8Array(60);
  frame.fill(0xff, 0, 6);
  frame.set([2, 0, 0, 0, 0, 0x33], 6);
  frame.set([0x08, 0x00], 12);
  d3.receive(frame);
  await s.settle(100);
  t.equal(d1.takeSent().length, 1, 'active member sends');
  t.equal(d2.takeSent().length, 0, 'backup member does not');

  // Carrier loss on m1: after the 300 ms downdelay m2 is active.
  d1.setCarrier(false);
  await s.settle(200);
  t.equal(bond.activeName(), s.m1, 'still within downdelay');
  await s.settle(300);
  t.equal(bond.activeName(), s.m2);
  const mac2 = s.bonds['ctx'].ifaces().find((i) => i.name === s.m2)!.mac;
  t.equal(s.portRow().data.bond_active_slave?.keys[0], macStr(mac2), 'written back');
  d3.receive(frame);
  await s.settle(100);
  const sent2 = d2.takeSent();
  t.ok(sent2.length >= 1, 'new active member sends');
  // OVS's learning packets: a RARP from each MAC learned elsewhere (p3's host) on the new
  // active member, so the far side relearns where it is.
  const rarp = sent2.find(
    (f) =>
      f[12] === 0x80 &&
      f[13] === 0x35 &&
      Buffer.from(f.subarray(6, 12)).toString('hex') === '020000000033',
  );
  t.ok(rarp, 'gratuitous RARP for the MAC learned on p3');
  t.equal(Buffer.from(rarp!.subarray(0, 6)).toString('hex'), 'ffffffffffff');

  // The LIVE bit (BFD's) counts too: m1 back with carrier but not LIVE stays disabled.
  d1.setCarrier(true);
  const ofproto = s.rec.bridges.get(s.nm('br'))!.ofproto;
  ofproto.setPortState(1, 0);
  await s.settle(300);
  t.notOk(bond.isEnabled(s.m1), 'not LIVE: disabled');
  ofproto.setPortState(1, OFPPS.LIVE);
  await s.settle(300);
  t.ok(bond.isEnabled(s.m1), 'LIVE again: enabled');
  t.equal(await s.appctl('bond/set-active-member', s.nm('bond'), s.m1), 'done');
  await s.settle(100);
  t.equal(s.portRow().data.bond_active_slave?.keys[0], macStr(mac1));
  // As in OVS, a member disabled by hand with a live link and no updelay is back at once.
  t.equal(await s.appctl('bond/disable-slave', s.nm('bond'), s.m1), 'disabled');
  t.ok(bond.isEnabled(s.m1));
  t.equal(bond.activeName(), s.m1);
  await t.rejects(s.appctl('bond/enable-member', s.nm('bond'), 'nope'), /no such member/);
  t.equal(await s.appctl('bond/hash', '00:11:22:33:44:55'), '226', 'bond/hash as OVS');
});

t.test('bond-primary and bond_mode balance-slb from the Port row', async (t) => {
  const s = await setup(t, {
    bond_mode: 'balance-slb',
    other_config: ['map', [['bond-rebalance-interval', '500']]],
  });
  const bond = s.bonds.bonds.get(s.nm('bond'))!;
  t.equal(bond.settings.mode, 'balance-slb');
  t.equal(bond.settings.rebalanceMs, 1000, 'at least 1000 ms, as OVS');
  t.match(await s.appctl('bond/show'), /all members active: false\n/);
});

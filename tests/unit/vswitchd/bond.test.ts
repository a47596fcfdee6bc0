/**
 * Bonds (vswitchd/bond.ts) on a fake clock: OVS's hash, active-backup failover with
 * updelay/downdelay and bond-primary, balance-slb hashing and rebalancing, balance-tcp without
 * LACP, NORMAL treating the bond as one port (never looping back into it, one member per
 * output, the admissibility drops), and bond/show text in OVS 3.1's layout.
 */
import t from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import { parseFlow } from '../../../lib/packet/format.js';
import { formatActions } from '../../../datapath/actions.js';
import { OFPG, OFPP, OFPPS, OFP_NO_BUFFER } from '../../../openflow/constants.js';
import type { Ofconn } from '../../../ofproto/ofconn.js';
import { Ofproto } from '../../../ofproto/ofproto.js';
import { Xlate } from '../../../ofproto/xlate.js';
import {
  BOND_BUCKETS,
  Bond,
  composeRarp,
  hashMac,
  type BondMemberConfig,
  type BondSettings,
} from '../../../vswitchd/bond.js';

const settings = (s: Partial<BondSettings> = {}): BondSettings => ({
  mode: 'active-backup',
  updelay: 0,
  downdelay: 0,
  basis: 0,
  rebalanceMs: 10_000,
  primary: undefined,
  activeMac: 0,
  allMembersActive: false,
  ...s,
});

const A: BondMemberConfig = { name: 'a', ofport: 1, mac: 0xaa55aa550001 };
const B: BondMemberConfig = { name: 'b', ofport: 2, mac: 0xaa55aa550002 };

t.test('hashMac equals OVS 3.1 `bond/hash`', (t) => {
  // Values printed by ovs-appctl bond/hash MAC [VLAN] [BASIS] on OVS 3.1.0.
  t.equal(hashMac(0x001122334455, 0, 0) & 255, 226);
  t.equal(hashMac(0x001122334455, 10, 7) & 255, 182);
  t.equal(hashMac(0xaa55aa550001, 4095, 4294967295) & 255, 44);
  t.equal(hashMac(0x020000000007, 4095, 4294967295) & 255, 172);
  t.equal(hashMac(0xfffffffffffe, 4095, 4294967295) & 255, 242);
  t.end();
});

t.test('active-backup: updelay, downdelay, failover, bond_active_slave, bond-primary', (t) => {
  const clock = new FakeClock();
  const bond = new Bond('bond0', clock, settings({ updelay: 1000, downdelay: 500 }));
  bond.configure(bond.settings, [A, B]);
  const up = new Set(['a', 'b']);
  const live = (m: BondMemberConfig): boolean => up.has(m.name);
  bond.run(live);
  // No member was enabled: the first becomes active at once, skipping its updelay.
  t.equal(bond.activeName(), 'a');
  t.ok(bond.isEnabled('a'));
  t.notOk(bond.isEnabled('b'), 'b waits for its updelay');
  t.equal(bond.activeMac, A.mac);
  t.ok(bond.activeChanged);
  t.match(bond.show(), /member b: disabled\n {2}updelay expires in 1000 ms\n {2}may_enable: true/);
  clock.advance(999);
  bond.run(live);
  t.notOk(bond.isEnabled('b'));
  clock.advance(1);
  bond.run(live);
  t.ok(bond.isEnabled('b'), 'enabled after 1000 ms');
  t.equal(bond.chooseOutput(0x1, 0, 0), 1, 'output on the active member');
  // a goes down: it stays active through the downdelay, then b takes over.
  up.delete('a');
  bond.activeChanged = false;
  bond.run(live);
  t.equal(bond.activeName(), 'a');
  t.match(bond.show(), /member a: enabled\n {2}active member\n {2}downdelay expires in 500 ms/);
  clock.advance(499);
  bond.run(live);
  t.equal(bond.activeName(), 'a');
  clock.advance(1);
  t.ok(bond.run(live), 'revalidate');
  t.equal(bond.activeName(), 'b');
  t.notOk(bond.isEnabled('a'));
  t.equal(bond.activeMac, B.mac);
  t.ok(bond.activeChanged);
  t.equal(bond.chooseOutput(0x1, 0, 0), 2);
  t.equal(bond.admissibility(1, 0x020000000001), 'drop', 'backup member refuses');
  t.equal(bond.admissibility(2, 0x020000000001), 'accept');
  // a comes back: b stays active (no primary, no preemption).
  up.add('a');
  bond.run(live);
  clock.advance(1000);
  bond.run(live);
  t.ok(bond.isEnabled('a'));
  t.equal(bond.activeName(), 'b');
  // With bond-primary=a, a takes over as soon as it is enabled.
  bond.configure(settings({ updelay: 1000, downdelay: 500, primary: 'a' }), [A, B]);
  bond.run(live);
  t.equal(bond.activeName(), 'a');
  t.match(bond.show(), /active-backup primary: a\n/);
  bond.configure(settings({ primary: 'zz' }), [A, B]);
  t.match(bond.show(), /active-backup primary: zz \(no such member\)\n/);
  // All down: no output, bond_active_slave becomes zero.
  up.clear();
  bond.run(live);
  t.equal(bond.activeName(), undefined);
  t.equal(bond.chooseOutput(0x1, 0, 0), undefined);
  t.equal(bond.activeMac, 0);
  t.end();
});

t.test('bond_active_slave restores the last active member', (t) => {
  const clock = new FakeClock();
  const bond = new Bond('bond0', clock, settings({ activeMac: B.mac }));
  bond.configure(bond.settings, [A, B]);
  bond.run(() => true);
  t.equal(bond.activeName(), 'b');
  t.end();
});

t.test('set-active-member and enable/disable-member (as OVS)', (t) => {
  const clock = new FakeClock();
  const bond = new Bond('bond0', clock, settings({ updelay: 1000 }));
  bond.configure(bond.settings, [A, B]);
  bond.run(() => true);
  clock.advance(1000);
  bond.run(() => true);
  t.ok(bond.isEnabled('b'));
  t.equal(bond.setActive('b'), 'done');
  t.equal(bond.activeMac, B.mac);
  t.equal(bond.setActive('b'), 'no change');
  t.throws(() => bond.setActive('zz'), /no such member/);
  t.throws(() => bond.forceEnable('zz', true), /no such member/);
  t.equal(bond.forceEnable('b', false), 'disabled');
  t.throws(() => bond.setActive('b'), /cannot make disabled member active/);
  bond.run(() => true);
  t.notOk(bond.isEnabled('b'), 'disabled for the updelay');
  t.equal(bond.activeName(), 'a', 'the active member moved');
  clock.advance(1000);
  bond.run(() => true);
  t.ok(bond.isEnabled('b'), 'its live link brings it back after the updelay');
  t.equal(bond.forceEnable('b', true), 'enabled');
  // Without updelay, a disabled member with a live link is back at the next run (OVS too).
  const b2 = new Bond('bond1', clock, settings());
  b2.configure(b2.settings, [A, B]);
  b2.run(() => true);
  b2.forceEnable('a', false);
  b2.run(() => true);
  t.ok(b2.isEnabled('a'));
  t.equal(b2.activeName(), 'a');
  t.end();
});

t.test('balance-slb: hashed members, multicast only on the active member, rebalance', (t) => {
  const clock = new FakeClock();
  const bond = new Bond('bond1', clock, settings({ mode: 'balance-slb' }));
  bond.configure(bond.settings, [A, B]);
  bond.run(() => true);
  const counts = new Map<number, number>();
  for (let i = 0; i < 64; i++) {
    const m = bond.chooseOutput(0x020000000100 + i, 0, 0)!;
    counts.set(m, (counts.get(m) ?? 0) + 1);
    t.equal(bond.chooseOutput(0x020000000100 + i, 0, 0), m, 'stable per source MAC');
  }
  t.equal(counts.size, 2, 'both members carry traffic');
  t.equal(bond.admissibility(2, 0xffffffffffff), 'drop', 'broadcast on a non-active member');
  t.equal(bond.admissibility(1, 0xffffffffffff), 'drop-if-moved');
  t.equal(bond.admissibility(2, 0x020000000009), 'drop-if-moved');
  // One member down: every source MAC goes to the other.
  bond.run((m) => m.name === 'a');
  for (let i = 0; i < 16; i++) t.equal(bond.chooseOutput(0x020000000100 + i, 0, 0), 1);
  // Rebalance: load everything on a, bring b back, wait for the interval.
  bond.run(() => true);
  for (let i = 0; i < 8; i++) bond.chooseOutput(0x020000000200 + i, 0, 200_000);
  t.notOk(bond.rebalance(), 'not due yet');
  clock.advance(10_000);
  t.ok(bond.rebalance(), 'buckets moved');
  const after = new Set<number>();
  for (let i = 0; i < 8; i++) after.add(bond.chooseOutput(0x020000000200 + i, 0, 0)!);
  t.equal(after.size, 2, 'load spread over both members');
  t.match(bond.show(), /next rebalance: 10000 ms\n/);
  t.match(bond.show(), / {2}hash \d+: \d+ kB load\n/);
  t.equal(bond.bucketOf(0x001122334455, 0), 226);
  t.equal(BOND_BUCKETS, 256);
  t.end();
});

t.test('balance-tcp without LACP neither admits nor sends (as OVS)', (t) => {
  const bond = new Bond('bond2', new FakeClock(), settings({ mode: 'balance-tcp' }));
  bond.configure(bond.settings, [A, B]);
  bond.run(() => true);
  t.equal(bond.chooseOutput(0x020000000001, 0, 0), undefined);
  t.equal(bond.admissibility(1, 0x020000000001), 'drop');
  t.match(bond.show(), /bond_mode: balance-tcp\n/);
  t.end();
});

t.test('bond/show and bond/list text (OVS 3.1 layout)', (t) => {
  const clock = new FakeClock();
  const bond = new Bond('bond0', clock, settings());
  bond.configure(bond.settings, [
    { name: 'p1', ofport: 2, mac: 0xaa55aa550006 },
    { name: 'p2', ofport: 1, mac: 0xaa55aa550005 },
  ]);
  bond.run(() => true);
  // The layout OVS 3.1 printed for the same bond (ovs-appctl bond/show after add-bond).
  t.equal(
    bond.show(),
    [
      '---- bond0 ----',
      'bond_mode: active-backup',
      'bond may use recirculation: no, Recirc-ID : -1',
      'bond-hash-basis: 0',
      'lb_output action: disabled, bond-id: -1',
      'updelay: 0 ms',
      'downdelay: 0 ms',
      'lacp_status: off',
      'lacp_fallback_ab: false',
      'active-backup primary: <none>',
      'active member mac: aa:55:aa:55:00:05(p2)',
      '',
      'member p1: enabled',
      '  may_enable: true',
      '',
      'member p2: enabled',
      '  active member',
      '  may_enable: true',
      '',
      '',
    ].join('\n'),
  );
  t.equal(bond.listLine(0), 'bond0\tactive-backup\t0\tp2, p1\n');
  t.end();
});

t.test('composeRarp builds OVS learning packets', (t) => {
  const f = composeRarp(0x020000000001, 10);
  t.equal(Buffer.from(f.subarray(0, 18)).toString('hex'), 'ffffffffffff0200000000018100000a8035');
  t.equal(f.length, 60);
  t.end();
});

/** A bridge with bond members 1,2 (one Bond), ports 3 and 4, and a NORMAL flow. */
function bondBridge(mode: BondSettings['mode']) {
  const clock = new FakeClock();
  const sw = new Ofproto({ name: 'br0', datapathId: 1n, clock });
  for (const n of [1, 2, 3, 4])
    sw.addPort({
      ofport: n,
      name: n <= 2 ? `m${n}` : `p${n}`,
      hwAddr: 0x020000000000 + n,
      config: 0,
      state: OFPPS.LIVE,
      curr: 0,
      currSpeed: 0,
      maxSpeed: 0,
      dpPort: n + 10,
    });
  sw.addPort({
    ofport: OFPP.LOCAL,
    name: 'br0',
    hwAddr: 0x020000000099,
    config: 0,
    state: OFPPS.LIVE,
    curr: 0,
    currSpeed: 0,
    maxSpeed: 0,
    dpPort: 0,
  });
  const x = new Xlate({ ofproto: sw, clock, failMode: 'secure' });
  const bond = new Bond('bond0', clock, settings({ mode }));
  bond.configure(bond.settings, [
    { name: 'm1', ofport: 1, mac: 0x020000000001 },
    { name: 'm2', ofport: 2, mac: 0x020000000002 },
  ]);
  bond.run(() => true);
  x.bonds = { bondOf: (p) => (bond.hasMember(p) ? bond : undefined) };
  sw.tables.handleMessage(
    {} as Ofconn,
    {
      type: 'FLOW_MOD',
      xid: 0,
      cookie: 0n,
      cookieMask: 0n,
      tableId: 0,
      command: 0,
      idleTimeout: 0,
      hardTimeout: 0,
      priority: 32768,
      bufferId: OFP_NO_BUFFER,
      outPort: OFPP.ANY,
      outGroup: OFPG.ANY,
      flags: 0,
      match: [],
      instructions: [
        { type: 'APPLY_ACTIONS', actions: [{ type: 'OUTPUT', port: OFPP.NORMAL, maxLen: 0 }] },
      ],
    },
    new Uint8Array(),
  );
  const notes: string[] = [];
  const run = (flow: string, learn = true): string =>
    formatActions(
      x.translate({
        key: parseFlow(flow).key,
        sideEffects: learn,
        trace: (e) => {
          if (e.kind === 'note') notes.push(e.text);
        },
      }).actions,
    );
  return { clock, sw, x, bond, run, notes };
}

t.test('NORMAL with an active-backup bond: one port, never back into the bond', (t) => {
  const b = bondBridge('active-backup');
  t.equal(b.bond.activeName(), 'm1');
  // Broadcast from the active member: every other port, no bond member.
  t.equal(b.run('in_port=1,dl_src=00:00:00:00:00:0a,dl_dst=ff:ff:ff:ff:ff:ff'), '0,13,14');
  t.equal(b.x.mac.lookup(0x0a, 0)?.port, 1, 'learned on the bond (its id)');
  // Broadcast from p3: exactly one member (the active one) plus the others.
  t.equal(b.run('in_port=3,dl_src=00:00:00:00:00:0b,dl_dst=ff:ff:ff:ff:ff:ff'), '0,11,14');
  // Unicast to the MAC learned on the bond: the active member.
  t.equal(b.run('in_port=3,dl_src=00:00:00:00:00:0b,dl_dst=00:00:00:00:00:0a'), '11');
  // Frames on the backup member are dropped.
  t.equal(b.run('in_port=2,dl_src=00:00:00:00:00:0c,dl_dst=ff:ff:ff:ff:ff:ff'), 'drop');
  t.ok(b.notes.includes('-> bonding refused admissibility, dropping'));
  t.equal(b.x.mac.lookup(0x0c, 0), undefined, 'not learned');
  // Unicast from the bond to a MAC learned on the bond: dropped (learned port is input port).
  t.equal(b.run('in_port=1,dl_src=00:00:00:00:00:0d,dl_dst=00:00:00:00:00:0a'), 'drop');
  // Failover: m2 becomes active; traffic follows.
  b.bond.run((m) => m.name === 'm2');
  t.equal(b.run('in_port=3,dl_src=00:00:00:00:00:0b,dl_dst=00:00:00:00:00:0a'), '12');
  t.equal(b.run('in_port=2,dl_src=00:00:00:00:00:0a,dl_dst=00:00:00:00:00:0b'), '13');
  // All members down: output to the bond is dropped silently.
  b.bond.run(() => false);
  t.equal(b.run('in_port=3,dl_src=00:00:00:00:00:0b,dl_dst=00:00:00:00:00:0a'), 'drop');
  t.end();
});

t.test('NORMAL with a balance-slb bond: hashed member, loop and multicast drops', (t) => {
  const b = bondBridge('balance-slb');
  const active = b.bond.activeName() === 'm1' ? 1 : 2;
  const other = 3 - active;
  // Broadcast from p3 leaves through exactly one member (the hashed one).
  const out = b.run('in_port=3,dl_src=00:00:00:00:00:0b,dl_dst=ff:ff:ff:ff:ff:ff');
  const member = b.bond.chooseOutput(0x0b, 0, 0)!;
  t.equal(out, `0,${member + 10},14`);
  // Broadcast arriving on the non-active member is dropped.
  t.equal(b.run(`in_port=${other},dl_src=00:00:00:00:00:0e,dl_dst=ff:ff:ff:ff:ff:ff`), 'drop');
  // A unicast frame from a MAC learned on p3 coming back on the bond looped: dropped.
  t.equal(b.run(`in_port=${other},dl_src=00:00:00:00:00:0b,dl_dst=00:00:00:00:00:0f`), 'drop');
  t.ok(b.notes.includes('-> SLB bond thinks this packet looped back, dropping'));
  t.equal(b.x.mac.lookup(0x0b, 0)?.port, 3, 'not moved');
  // ... unless it is a gratuitous ARP (the host moved).
  const garp =
    'arp,in_port=' +
    active +
    ',dl_src=00:00:00:00:00:0b,dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.1';
  t.not(b.run(garp), 'drop');
  t.equal(b.x.mac.lookup(0x0b, 0)?.port, 1, 'moved to the bond');
  // Unicast on any member from a new MAC is admitted and learned on the bond.
  t.equal(b.run(`in_port=${other},dl_src=00:00:00:00:00:21,dl_dst=00:00:00:00:00:0b`), 'drop');
  t.equal(b.x.mac.lookup(0x21, 0)?.port, 1);
  t.equal(
    b.run('in_port=4,dl_src=00:00:00:00:00:22,dl_dst=00:00:00:00:00:21'),
    `${b.bond.chooseOutput(0x22, 0, 0)! + 10}`,
  );
  t.end();
});

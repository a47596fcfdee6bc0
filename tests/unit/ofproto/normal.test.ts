import t from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import { parseFlow } from '../../../lib/packet/format.js';
import { formatActions } from '../../../datapath/actions.js';
import { OFPG, OFPP, OFPPS, OFP_NO_BUFFER } from '../../../openflow/constants.js';
import type { Ofconn } from '../../../ofproto/ofconn.js';
import { Ofproto } from '../../../ofproto/ofproto.js';
import {
  MacTable,
  formatFdb,
  inputVlan,
  isReservedMac,
  outputVid,
  portIncludesVlan,
  type PortVlan,
} from '../../../ofproto/normal.js';
import { Xlate } from '../../../ofproto/xlate.js';

const MAC1 = 0x000000000001;
const MAC2 = 0x000000000002;

t.test('MacTable: learn, move, lookup, aging with the clock, change counter', (t) => {
  const clock = new FakeClock();
  const m = new MacTable({ clock });
  let changes = 0;
  m.onChange(() => changes++);
  t.ok(m.learn(MAC1, 10, 1));
  t.equal(m.lookup(MAC1, 10)?.port, 1);
  t.equal(m.lookup(MAC1, 20), undefined, 'per VLAN');
  t.notOk(m.learn(MAC1, 10, 1), 'refresh is not a change');
  t.equal(changes, 1);
  t.ok(m.learn(MAC1, 10, 2), 'moved');
  t.equal(m.lookup(MAC1, 10)?.port, 2);
  t.equal(m.seq, 2);
  t.notOk(m.learn(0x010000000000, 10, 1), 'multicast sources are not learned');
  clock.advance(299_000);
  t.equal(m.lookup(MAC1, 10)?.port, 2);
  t.equal(m.age(m.entries()[0]!), 299);
  m.learn(MAC2, 10, 3);
  clock.advance(1000);
  t.equal(m.lookup(MAC1, 10), undefined, 'aged out after 300 s');
  t.equal(m.expire(), 1);
  t.equal(m.size, 1);
  t.equal(m.lookup(MAC2, 10)?.port, 3);
  t.end();
});

t.test('MacTable: size limit evicts the least recently learned; flushes', (t) => {
  const clock = new FakeClock();
  const m = new MacTable({ clock, maxEntries: 3, agingSec: 10 });
  for (let i = 1; i <= 3; i++) m.learn(i, 0, i);
  m.learn(1, 0, 1); // refresh 1: now 2 is the oldest
  m.learn(4, 0, 4);
  t.same(
    m.entries().map((e) => e.mac),
    [3, 1, 4],
  );
  t.equal(m.flushPort(4), 1);
  m.configure(10, 1);
  t.same(
    m.entries().map((e) => e.mac),
    [1],
  );
  m.flush();
  t.equal(m.size, 0);
  t.end();
});

t.test('fdb/show format', (t) => {
  const clock = new FakeClock();
  const m = new MacTable({ clock });
  m.learn(0x000000000004, 10, 2);
  clock.advance(5000);
  m.learn(0x0a0b0c0d0e0f, 0, OFPP.LOCAL);
  t.equal(
    formatFdb(m),
    ' port  VLAN  MAC                Age\n' +
      '    2    10  00:00:00:00:00:04    5\n' +
      'LOCAL     0  0a:0b:0c:0d:0e:0f    0\n',
  );
  t.end();
});

t.test('VLAN modes: input, membership, output tagging', (t) => {
  const access: PortVlan = { tag: 10 };
  const trunk: PortVlan = { trunks: [10, 20] };
  const all: PortVlan | undefined = undefined;
  const nt: PortVlan = { mode: 'native-tagged', tag: 20, trunks: [10] };
  const nu: PortVlan = { mode: 'native-untagged', tag: 20, trunks: [10] };
  t.equal(inputVlan(access, 0, 'p'), 10);
  t.match(
    inputVlan(access, 10, 'p2'),
    /dropping VLAN 10 tagged packet received on port p2 configured as VLAN 10 access port/,
  );
  t.equal(inputVlan(trunk, 20, 'p'), 20);
  t.match(inputVlan(trunk, 0, 'p3'), /not configured for trunking VLAN 0/);
  t.match(inputVlan(trunk, 30, 'p3'), /not configured for trunking VLAN 30/);
  t.equal(inputVlan(all, 0, 'p'), 0);
  t.equal(inputVlan(all, 4000, 'p'), 4000);
  t.equal(inputVlan(nt, 0, 'p'), 20);
  t.equal(inputVlan(nu, 10, 'p'), 10);
  t.match(inputVlan(nu, 30, 'p'), /not configured/);
  t.ok(portIncludesVlan(access, 10));
  t.notOk(portIncludesVlan(access, 0));
  t.ok(portIncludesVlan(nu, 20) && portIncludesVlan(nu, 10));
  t.notOk(portIncludesVlan(trunk, 0));
  t.ok(portIncludesVlan(all, 0));
  t.equal(outputVid(access, 10), 0);
  t.equal(outputVid(nu, 20), 0);
  t.equal(outputVid(nt, 20), 20);
  t.equal(outputVid(trunk, 10), 10);
  t.end();
});

function normalBridge() {
  const clock = new FakeClock();
  const sw = new Ofproto({ name: 'br0', datapathId: 1n, clock });
  const add = (ofport: number, name: string, dpPort: number, vlan?: PortVlan): void => {
    const p = sw.addPort({
      ofport,
      name,
      hwAddr: 0x020000000000 + dpPort,
      config: 0,
      state: OFPPS.LIVE,
      curr: 0,
      currSpeed: 0,
      maxSpeed: 0,
      dpPort,
    });
    if (vlan) p.vlan = vlan;
  };
  // The same layout as the OVS scenario checked by hand: p1 trunk (all), p2 access 10,
  // p3 trunks 10,20, p4 native-untagged 20 + trunk 10; datapath ports as OVS numbers them.
  add(OFPP.LOCAL, 'br0', 1);
  add(1, 'p1', 2);
  add(2, 'p2', 3, { tag: 10 });
  add(3, 'p3', 4, { trunks: [10, 20] });
  add(4, 'p4', 5, { mode: 'native-untagged', tag: 20, trunks: [10, 20] });
  const x = new Xlate({ ofproto: sw, clock, failMode: 'secure' });
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
  const run = (flow: string, learn = true) => {
    const r = x.translate({ key: parseFlow(flow).key, sideEffects: learn });
    return { ...r, text: formatActions(r.actions) };
  };
  return { clock, sw, x, run };
}

t.test('NORMAL: flooding per VLAN, learning, unicast, drops (as OVS 3.1)', (t) => {
  const b = normalBridge();
  // Expected datapath actions were produced by OVS 3.1 with the same ports and config.
  t.equal(b.run('in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02', false).text, '1');
  t.equal(
    b.run('in_port=3,dl_vlan=10,dl_src=00:00:00:00:00:03,dl_dst=ff:ff:ff:ff:ff:ff', false).text,
    '1,2,pop_vlan,3,push_vlan(vid=10,pcp=0),5',
  );
  const r = b.run('in_port=2,dl_src=00:00:00:00:00:04,dl_dst=00:00:00:00:00:03');
  t.equal(r.text, 'push_vlan(vid=10,pcp=0),1,2,4,5');
  t.ok(r.usedNormal);
  t.equal(b.x.mac.lookup(0x000000000004, 10)?.port, 2, 'learned on p2 in VLAN 10');
  t.equal(
    b.run('in_port=1,dl_vlan=10,dl_src=00:00:00:00:00:03,dl_dst=00:00:00:00:00:04', false).text,
    'pop_vlan,3',
  );
  t.equal(
    b.run('in_port=4,dl_src=00:00:00:00:00:03,dl_dst=00:00:00:00:00:04', false).text,
    'push_vlan(vid=20,pcp=0),1,2,4',
  );
  t.equal(
    b.run('in_port=2,dl_src=00:00:00:00:00:03,dl_dst=00:00:00:00:00:04', false).text,
    'drop',
    'learned port is the input port',
  );
  t.equal(
    b.run('in_port=3,dl_src=00:00:00:00:00:03,dl_dst=00:00:00:00:00:04', false).text,
    'drop',
    'VLAN 0 on a port trunking 10,20',
  );
  t.equal(
    b.run('in_port=2,dl_vlan=10,dl_src=00:00:00:00:00:03,dl_dst=00:00:00:00:00:04', false).text,
    'drop',
    'tagged frame on an access port',
  );
  // STP and no-flood.
  b.sw.getPort(1)!.stpState = 'blocking';
  b.sw.getPort(3)!.noFlood = true;
  t.equal(
    b.run('in_port=4,dl_src=00:00:00:00:00:03,dl_dst=00:00:00:00:00:04', false).text,
    'push_vlan(vid=20,pcp=0),1',
  );
  t.equal(
    b.run('in_port=1,dl_src=00:00:00:00:00:07,dl_dst=ff:ff:ff:ff:ff:ff').text,
    'drop',
    'blocked input port',
  );
  t.equal(b.x.mac.lookup(0x000000000007, 0), undefined, 'no learning in blocking state');
  // Aging makes the destination unknown again: flood.
  b.sw.getPort(1)!.stpState = undefined;
  b.sw.getPort(3)!.noFlood = false;
  b.clock.advance(301_000);
  t.equal(
    b.run('in_port=1,dl_vlan=10,dl_src=00:00:00:00:00:03,dl_dst=00:00:00:00:00:04', false).text,
    '1,pop_vlan,3,push_vlan(vid=10,pcp=0),4,5',
  );
  t.end();
});

t.test('aging timer expires entries on the clock and tells listeners', (t) => {
  const clock = new FakeClock();
  const m = new MacTable({ clock, agingSec: 2 });
  let changes = 0;
  m.onChange(() => changes++);
  m.learn(MAC1, 0, 1);
  m.startAging();
  clock.advance(1000);
  t.equal(m.size, 1);
  clock.advance(1500);
  t.equal(m.size, 0, 'expired by the timer');
  t.equal(changes, 2, 'learn + expiry');
  m.stopAging();
  t.end();
});

t.test('NORMAL drops frames to reserved MACs unless forward-bpdu (as OVS 3.1)', (t) => {
  const b = normalBridge();
  for (const dst of ['01:80:c2:00:00:00', '01:80:c2:00:00:0e', '01:00:0c:cc:cc:cd']) {
    const r = b.run(`in_port=1,dl_src=00:00:00:00:00:01,dl_dst=${dst}`, false);
    t.equal(r.text, 'drop', `${dst} dropped`);
  }
  t.ok(isReservedMac(0x0180c2000003) && !isReservedMac(0x0180c2000010));
  b.x.forwardBpdu = true;
  t.not(
    b.run('in_port=1,dl_src=00:00:00:00:00:01,dl_dst=01:80:c2:00:00:00', false).text,
    'drop',
    'flooded with forward-bpdu=true',
  );
  t.end();
});

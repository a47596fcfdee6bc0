/**
 * UpcallRouter (ofproto/upcall.ts) on a real DpifNetdev with dummy netdevs: misses are routed
 * to the owning bridge's Xlate, installed megaflows are attributed to the rules their
 * translation hit, statistics are pushed back once (never twice) per new packet, attributions
 * follow the datapath's flows (one per megaflow identity, forgotten when the flow is gone), and
 * flows with distinct masks and keys that share a rule are told apart.
 */
import t, { type Test } from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import { buildFrame } from '../../../lib/packet/build.js';
import { parseFlow } from '../../../lib/packet/format.js';
import type { Dpif } from '../../../datapath/dpif.js';
import { DpifNetdev } from '../../../datapath/dpif-netdev.js';
import { newFrameBatch } from '../../../datapath/netdev.js';
import { dummyNetdevClass } from '../../../datapath/netdev-dummy.js';
import type { Action } from '../../../openflow/actions.js';
import { OFPPS } from '../../../openflow/constants.js';
import type { Match } from '../../../openflow/oxm.js';
import type { Ofconn } from '../../../ofproto/ofconn.js';
import { Ofproto } from '../../../ofproto/ofproto.js';
import type { OfRule } from '../../../ofproto/pipeline.js';
import { UpcallRouter } from '../../../ofproto/upcall.js';
import { Xlate } from '../../../ofproto/xlate.js';
import { addFlow } from '../../helpers/flow-mod.js';

const conn = {} as Ofconn;
let seq = 0;

/**
 * `copyKeys`: the router sees the datapath through a wrapper whose flow dumps carry copies of
 * the keys (as a datapath that does not keep the upcall's key array would), so attributions are
 * found by comparing keys under masks instead of by identity.
 */
function setup(t: Test, copyKeys = false) {
  const n = ++seq;
  const clock = new FakeClock(1000);
  const dpif = new DpifNetdev({ clock });
  const d1 = dummyNetdevClass.open(`h3ur${n}a`);
  const d2 = dummyNetdevClass.open(`h3ur${n}b`);
  const dp1 = dpif.addPort(d1);
  const dp2 = dpif.addPort(d2);
  t.teardown(() => dpif.close());
  const sw = new Ofproto({ name: `h3ur${n}`, datapathId: 1n, clock });
  for (const [ofport, dpPort] of [
    [1, dp1],
    [2, dp2],
  ] as const)
    sw.addPort({
      ofport,
      name: `p${ofport}`,
      hwAddr: 0x020000000000 + ofport,
      config: 0,
      state: OFPPS.LIVE,
      curr: 0,
      currSpeed: 0,
      maxSpeed: 0,
      dpPort,
    });
  const x = new Xlate({ ofproto: sw, clock, failMode: 'secure', executor: dpif });
  const seen: Dpif = copyKeys
    ? Object.assign(Object.create(dpif) as DpifNetdev, {
        flows: () => dpif.flows().map((f) => ({ ...f, key: Uint32Array.from(f.key) })),
      })
    : dpif;
  const router = new UpcallRouter(seen, clock);
  dpif.setUpcallHandler(router);
  router.bind(dp1, x);
  router.bind(dp2, x);
  const flow = (priority: number, match: Match, actions: Action[]): void => {
    sw.tables.handleMessage(conn, addFlow(priority, match, actions), new Uint8Array());
  };
  const batch = newFrameBatch(32);
  /** Sends frames (flow strings) into datapath port `dp` as one batch. */
  const send = (dp: number, flows: string[]): void => {
    flows.forEach((f, i) => {
      const b = buildFrame(parseFlow(f).key);
      batch.bufs[i] = b;
      batch.offs[i] = 0;
      batch.lens[i] = b.length;
    });
    batch.count = flows.length;
    dpif.input(dp, batch);
  };
  const rule = (priority: number): OfRule =>
    [...sw.tables.allRules()].find((r) => r.priority === priority)!;
  return { dpif, router, flow, send, rule, dp1, dp2 };
}

const udp = (src: number, sport: number): string =>
  `dl_src=02:00:00:00:01:01,dl_dst=02:00:00:00:02:02,udp,nw_src=10.0.1.${src},` +
  `nw_dst=10.0.0.2,tp_src=${sport},tp_dst=9`;
const out = (port: number): Action => ({ type: 'OUTPUT', port, maxLen: 0 });

t.test('statistics of installed flows go back to their rules once', (t) => {
  const s = setup(t);
  s.flow(10, [{ field: 'in_port', value: 1 }], [out(2)]);
  s.send(s.dp1, [udp(1, 1000)]);
  t.equal(s.dpif.flows().length, 1, 'one megaflow');
  t.equal(s.rule(10).packetCount, 1n, 'the upcalled packet is credited at upcall time');
  // Different 5-tuples, same megaflow (the rule only looks at in_port).
  s.send(s.dp1, [udp(1, 1001), udp(2, 1002), udp(3, 1003)]);
  t.equal(s.dpif.flows().length, 1, 'still one megaflow');
  t.equal(s.rule(10).packetCount, 1n, 'hits wait for the push');
  s.router.pushStats();
  t.equal(s.rule(10).packetCount, 4n);
  s.router.pushStats();
  t.equal(s.rule(10).packetCount, 4n, 'nothing counted twice');
  s.send(s.dp1, [udp(4, 1004)]);
  s.router.pushStats();
  t.equal(s.rule(10).packetCount, 5n);
  t.end();
});

function manyFlows(t: Test, copyKeys: boolean): void {
  const s = setup(t, copyKeys);
  // Exact 5-tuple rules (the flow-setup benchmark's): one megaflow per 5-tuple, same mask.
  for (let p = 0; p < 200; p++)
    s.flow(
      100 + p,
      [
        { field: 'in_port', value: 1 },
        { field: 'eth_type', value: 0x0800 },
        { field: 'ip_proto', value: 17 },
        { field: 'ipv4_src', value: 0x0a000101 },
        { field: 'udp_src', value: 2000 + p },
      ],
      [out(2)],
    );
  // And a catch-all with another mask.
  s.flow(1, [{ field: 'in_port', value: 1 }], [out(2)]);
  const frames: string[] = [];
  for (let p = 0; p < 200; p++) frames.push(udp(1, 2000 + p));
  for (let i = 0; i < frames.length; i += 32) s.send(s.dp1, frames.slice(i, i + 32));
  s.send(s.dp1, [udp(9, 5)]);
  t.equal(s.dpif.flows().length, 201, 'one megaflow per 5-tuple plus the catch-all');
  // Hit every exact flow p+1 more times (p = 0..9) and the catch-all 3 times.
  for (let p = 0; p < 10; p++) for (let k = 0; k <= p; k++) s.send(s.dp1, [udp(1, 2000 + p)]);
  s.send(s.dp1, [udp(9, 6), udp(8, 7), udp(7, 8)]);
  s.router.pushStats();
  for (let p = 0; p < 10; p++) t.equal(s.rule(100 + p).packetCount, BigInt(p + 2), `rule ${p}`);
  t.equal(s.rule(150).packetCount, 1n);
  t.equal(s.rule(1).packetCount, 4n, 'the catch-all');
  t.end();
}

t.test('flows sharing a rule or a mask are told apart', (t) => manyFlows(t, false));
t.test('... also when the datapath dumps copies of the keys', (t) => manyFlows(t, true));

for (const copyKeys of [false, true])
  t.test(`attributions follow the datapath flows${copyKeys ? ' (key copies)' : ''}`, (t) => {
    const s = setup(t, copyKeys);
    s.flow(10, [{ field: 'in_port', value: 1 }], [out(2)]);
    s.send(s.dp1, [udp(1, 1)]);
    s.send(s.dp1, [udp(1, 2)]);
    s.dpif.flushAll();
    s.router.pushStats(); // the flow is gone: its attribution is forgotten
    s.send(s.dp1, [udp(1, 3)]); // a new upcall (credited), a new flow
    s.send(s.dp1, [udp(1, 4), udp(1, 5)]);
    s.router.pushStats();
    t.equal(s.rule(10).packetCount, 4n, 'the hit lost in the flush is not counted; the rest is');
    // A change flushes after pushing: the hits so far are kept.
    s.send(s.dp1, [udp(1, 6)]);
    s.router.invalidate();
    t.equal(s.dpif.flows().length, 0);
    t.equal(s.rule(10).packetCount, 5n);
    s.send(s.dp1, [udp(1, 7)]);
    t.equal(s.rule(10).packetCount, 6n, 'upcalled again after the flush');
    t.end();
  });

t.test('pushes without new hits skip the walk; later hits are still credited', (t) => {
  const s = setup(t);
  let walks = 0;
  const flows = s.dpif.flows.bind(s.dpif);
  s.dpif.flows = () => {
    walks++;
    return flows();
  };
  s.flow(10, [{ field: 'in_port', value: 1 }], [out(2)]);
  s.send(s.dp1, [udp(1, 1)]);
  s.router.pushStats(); // first call: a full pass (and the trailing one after it)
  s.router.pushStats();
  const w0 = walks;
  s.router.pushStats(); // no hits since: skipped
  s.router.pushStats();
  t.equal(walks, w0, 'no walk without hits');
  s.send(s.dp1, [udp(1, 2), udp(1, 3)]);
  s.router.pushStats();
  t.equal(walks, w0 + 1, 'new hits: a walk');
  t.equal(s.rule(10).packetCount, 3n);
  s.router.pushStats(); // the trailing pass after activity
  t.equal(walks, w0 + 2);
  for (let i = 0; i < 20; i++) s.router.pushStats();
  t.equal(walks, w0 + 4, 'and a full pass every 10 calls');
  t.equal(s.rule(10).packetCount, 3n, 'nothing counted twice');
  t.end();
});

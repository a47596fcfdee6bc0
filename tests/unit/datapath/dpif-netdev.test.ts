import t from 'tap';
import { ETH_TYPE, W, newFlowKey, type FlowKey } from '../../../lib/packet/flow-key.js';
import type { DpAction } from '../../../datapath/actions.js';
import { setAction } from '../../../datapath/actions.js';
import type { UpcallHandler, UpcallRequest, UpcallResult } from '../../../datapath/dpif.js';
import { DpifNetdev } from '../../../datapath/dpif-netdev.js';
import { DummyNetdev, connectDummies } from '../../../datapath/netdev-dummy.js';
import { checkSums, keyOf, pkt, testDp } from './helpers.js';

/**
 * A tiny xlate: IPv4 packets to 10.0.0.0/24 go to port 2 (mask: in_port, eth_type, nw_dst/24);
 * everything else to port 3 (mask: in_port, eth_type). Records every upcall.
 */
class TestHandler implements UpcallHandler {
  calls: UpcallRequest[][] = [];
  out2: DpAction[] = [{ type: 'output', port: 2 }];
  upcall(batch: readonly UpcallRequest[]): (UpcallResult | undefined)[] {
    this.calls.push([...batch]);
    return batch.map((r) => {
      const mask = newFlowKey();
      mask[W.IN_PORT] = 0xffffffff;
      mask[W.ETH_TYPE] = 0xffff;
      if (r.key[W.ETH_TYPE] === ETH_TYPE.IP) {
        mask[W.NW_DST] = 0xffffff00;
        if ((r.key[W.NW_DST]! & 0xffffff00) >>> 0 === 0x0a000000)
          return { actions: this.out2, mask };
      }
      return { actions: [{ type: 'output', port: 3 }], mask };
    });
  }
  get packets(): number {
    return this.calls.reduce((n, c) => n + c.length, 0);
  }
}

const udp = (dst: string, sport = 1): Uint8Array =>
  pkt(
    `dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,udp,nw_src=192.168.0.1,nw_dst=${dst},nw_ttl=64,tp_src=${sport},tp_dst=9`,
    18,
  );

function setup(): ReturnType<typeof testDp> & { h: TestHandler } {
  const x = testDp(3);
  const h = new TestHandler();
  x.dp.setUpcallHandler(h);
  return { ...x, h };
}

t.test('miss → upcall → install → EMC and megaflow hits', async (t) => {
  const { dp, ports, h } = setup();
  ports[0]!.receive(udp('10.0.0.5'));
  t.equal(dp.poll(), 1);
  t.equal(h.packets, 1, 'one upcall');
  t.equal(h.calls[0]![0]!.inPort, 1);
  t.equal(ports[1]!.takeSent().length, 1, 'the missed packet was executed');
  let s = dp.stats();
  t.equal(s.misses, 1);
  t.equal(s.flows, 1);
  t.equal(s.masks, 1);
  const [f] = dp.flows();
  t.equal(f!.packets, 0, 'the upcalled packet is not counted in the flow (as OVS)');
  t.equal(f!.mask[W.RECIRC_ID], 0xffffffff, 'recirc_id always exact');
  // Same packet again: megaflow hit, EMC insert.
  ports[0]!.receive(udp('10.0.0.5'));
  dp.poll();
  s = dp.stats();
  t.equal(s.megaflowHits, 1);
  t.equal(s.emcHits, 0);
  // And again: EMC hit.
  ports[0]!.receive(udp('10.0.0.5'));
  dp.poll();
  s = dp.stats();
  t.equal(s.emcHits, 1);
  t.equal(h.packets, 1, 'no further upcall');
  // A different packet under the same mask: megaflow hit, not EMC.
  ports[0]!.receive(udp('10.0.0.77', 5));
  dp.poll();
  t.equal(dp.stats().megaflowHits, 2);
  t.equal(ports[1]!.takeSent().length, 3);
  const f2 = dp.flows()[0]!;
  t.equal(f2.packets, 3);
  t.equal(f2.bytes, 3 * udp('10.0.0.5').length);
  t.equal(f2.used, 1000);
});

t.test('megaflow property: agreeing under the mask hits, differing misses', async (t) => {
  const { dp, ports, h } = setup();
  ports[0]!.receive(udp('10.0.0.1'));
  dp.poll();
  const mf = dp.flows()[0]!;
  let upcalls = h.packets;
  // Vary fields outside the mask (sources, ports, TTL, MACs, last octet): all hit.
  for (let i = 0; i < 50; i++) {
    const f = pkt(
      `dl_src=00:00:00:00:01:${(i % 99).toString(16)},dl_dst=00:00:00:00:00:02,udp,nw_src=172.16.${i}.1,nw_dst=10.0.0.${i + 2},nw_ttl=${i + 1},tp_src=${i},tp_dst=${1000 + i}`,
    );
    const k = keyOf(f, 1);
    for (let w = 0; w < k.length; w++) {
      if (((k[w]! ^ mf.key[w]!) & mf.mask[w]!) !== 0) t.fail(`packet ${i} differs under mask`);
    }
    ports[0]!.receive(f);
    dp.poll();
  }
  t.equal(h.packets, upcalls, 'no upcall for packets agreeing under the mask');
  t.equal(dp.flows()[0]!.packets, 50);
  // Differ under the mask: nw_dst /24, in_port, eth_type — each misses.
  ports[0]!.receive(udp('10.0.1.1'));
  dp.poll();
  t.equal(h.packets, ++upcalls, 'other /24 misses');
  ports[2]!.receive(udp('10.0.0.1'));
  dp.poll();
  t.equal(h.packets, ++upcalls, 'other in_port misses');
  ports[0]!.receive(
    pkt(
      'dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,udp6,ipv6_src=::1,ipv6_dst=::2,tp_src=1,tp_dst=2',
    ),
  );
  dp.poll();
  t.equal(h.packets, ++upcalls, 'other eth_type misses');
  t.equal(dp.stats().flows, 4);
});

t.test('a batch with several misses makes one upcall; duplicates install once', async (t) => {
  const { dp, ports, h } = setup();
  for (let i = 0; i < 5; i++) ports[0]!.receive(udp(`10.0.0.${i + 1}`));
  dp.poll();
  t.equal(h.calls.length, 1, 'one upcall batch');
  t.equal(h.calls[0]!.length, 5);
  t.equal(dp.stats().flows, 1, 'the five answers share one megaflow');
  t.equal(ports[1]!.takeSent().length, 5, 'all five forwarded');
});

t.test('idle expiry with a fake clock', async (t) => {
  const { dp, ports, clock } = setup();
  ports[0]!.receive(udp('10.0.0.1'));
  ports[0]!.receive(udp('20.0.0.1'));
  dp.poll();
  t.equal(dp.stats().flows, 2);
  clock.advance(6000);
  ports[0]!.receive(udp('10.0.0.1'));
  dp.poll();
  clock.advance(4000);
  t.equal(dp.expire(), 1, 'the flow idle for 10 s expires');
  t.equal(dp.stats().flows, 1);
  t.equal(dp.flows()[0]!.key[W.NW_DST], 0x0a000001);
  clock.advance(6000);
  t.equal(dp.expire(), 1);
  t.equal(dp.stats().flows, 0);
  // After expiry the EMC entry is dead: the next packet misses and upcalls.
  ports[0]!.receive(udp('10.0.0.1'));
  dp.poll();
  t.equal(dp.stats().misses, 3);
  dp.setConfig({ maxIdleMs: 500 });
  clock.advance(499);
  t.equal(dp.expire(), 0);
  clock.advance(1);
  t.equal(dp.expire(), 1);
});

t.test('start() expires flows from the clock timer', async (t) => {
  const { dp, ports, clock } = setup();
  ports[0]!.receive(udp('10.0.0.1'));
  dp.poll();
  dp.start();
  clock.advance(11_000);
  t.equal(dp.stats().flows, 0);
  dp.stop();
  t.equal(clock.pending(), 0, 'stop clears the timer');
});

t.test('start() processes frames as they arrive', async (t) => {
  const { dp, ports } = setup();
  dp.start();
  ports[0]!.receive(udp('10.0.0.1'));
  ports[0]!.receive(udp('10.0.0.2'));
  await new Promise((r) => setTimeout(r, 20));
  t.equal(ports[1]!.takeSent().length, 2);
  dp.stop();
});

t.test('flow limit: over it, packets run without installing', async (t) => {
  const { dp, ports, h } = setup();
  dp.setConfig({ flowLimit: 2 });
  for (const d of ['10.0.0.1', '10.0.1.1', '10.0.2.1', '10.0.2.1']) {
    ports[0]!.receive(udp(d));
    dp.poll();
  }
  const s = dp.stats();
  t.equal(s.flows, 2);
  t.equal(s.overLimit, 2);
  t.equal(h.packets, 4, 'the uninstalled flow upcalls every time');
  t.equal(
    ports[1]!.takeSent().length + ports[2]!.takeSent().length,
    4,
    'but every packet is forwarded',
  );
});

t.test('malformed frames are counted and forwarding continues', async (t) => {
  const { dp, ports, h } = setup();
  ports[0]!.receive(new Uint8Array(5));
  ports[0]!.receive(new Uint8Array(0));
  ports[0]!.receive(udp('10.0.0.1').subarray(0, 20)); // Truncated IPv4: L2 key only.
  const bad = udp('10.0.0.1');
  bad[14] = 0x41; // IHL 1
  ports[0]!.receive(bad);
  ports[0]!.receive(udp('10.0.0.1'));
  dp.poll();
  const s = dp.stats();
  t.equal(s.rxInvalid, 2, 'runts dropped and counted');
  t.equal(h.packets, 3, 'the rest went up (truncated and bad IHL keyed on L2 only)');
  t.equal(ports[1]!.takeSent().length, 1);
  t.equal(ports[2]!.takeSent().length, 2);
  ports[0]!.receive(udp('10.0.0.9'));
  dp.poll();
  t.equal(ports[1]!.takeSent().length, 1, 'still forwarding');
});

t.test('lost: no handler, handler throws, or no answer', async (t) => {
  const { dp, ports } = testDp(3);
  ports[0]!.receive(udp('10.0.0.1'));
  dp.poll();
  t.equal(dp.stats().lost, 1);
  dp.setUpcallHandler({
    upcall() {
      throw new Error('boom');
    },
  });
  ports[0]!.receive(udp('10.0.0.1'));
  dp.poll();
  t.equal(dp.stats().lost, 2);
  dp.setUpcallHandler({ upcall: () => [] });
  ports[0]!.receive(udp('10.0.0.1'));
  dp.poll();
  t.equal(dp.stats().lost, 3);
  t.equal(dp.stats().flows, 0);
  // install: false executes but installs nothing.
  dp.setUpcallHandler({
    upcall: (b) =>
      b.map(() => ({ actions: [{ type: 'output', port: 2 }], mask: newFlowKey(), install: false })),
  });
  ports[0]!.receive(udp('10.0.0.1'));
  dp.poll();
  t.equal(dp.stats().flows, 0);
  t.equal(ports[1]!.takeSent().length, 1);
});

t.test('revalidate keeps, updates (actions or mask) and deletes', async (t) => {
  const { dp, ports, h } = setup();
  ports[0]!.receive(udp('10.0.0.1'));
  ports[0]!.receive(udp('20.0.0.1'));
  ports[0]!.receive(udp('30.0.0.1'));
  dp.poll();
  ports[0]!.takeSent();
  // Warm the EMC for all three.
  for (let i = 0; i < 2; i++) {
    ports[0]!.receive(udp('10.0.0.1'));
    ports[0]!.receive(udp('20.0.0.1'));
    ports[0]!.receive(udp('30.0.0.1'));
    dp.poll();
  }
  t.ok(dp.stats().emcHits >= 3);
  ports[1]!.takeSent();
  ports[2]!.takeSent();
  const widened = newFlowKey();
  widened[W.ETH_TYPE] = 0xffff;
  widened[W.NW_DST] = 0xff000000;
  const sum = dp.revalidate((f) => {
    const d = f.key[W.NW_DST]! >>> 24;
    if (d === 10) return { actions: [setAction('ipv4_ttl', 5), { type: 'output', port: 1 }] };
    if (d === 20) return 'delete';
    return { actions: [{ type: 'output', port: 2 }], mask: widened };
  });
  t.same(sum, { kept: 0, updated: 2, deleted: 1 });
  const upBefore = h.packets;
  ports[0]!.receive(udp('10.0.0.1'));
  ports[0]!.receive(udp('30.0.0.1'));
  ports[0]!.receive(udp('30.9.9.9')); // Covered by the widened mask only.
  dp.poll();
  t.equal(h.packets, upBefore, 'updated flows answer without upcalls, even from the EMC');
  const p1 = ports[0]!.takeSent();
  t.equal(p1.length, 1, 'updated actions in force');
  t.equal((keyOf(p1[0]!)[W.NW]! >>> 16) & 0xff, 5);
  checkSums(t, p1[0]!);
  t.equal(ports[1]!.takeSent().length, 2, 're-masked flow forwards the wider set');
  ports[0]!.receive(udp('20.0.0.1'));
  dp.poll();
  t.equal(h.packets, upBefore + 1, 'deleted flow misses');
  t.equal(ports[2]!.takeSent().length, 1);
  t.same(
    dp.revalidate(() => 'keep'),
    { kept: 3, updated: 0, deleted: 0 },
  );
});

t.test('flushAll removes every flow; no stale forwarding from the EMC', async (t) => {
  const { dp, ports, h } = setup();
  ports[0]!.receive(udp('10.0.0.1'));
  dp.poll();
  ports[0]!.receive(udp('10.0.0.1'));
  dp.poll();
  ports[0]!.receive(udp('10.0.0.1'));
  dp.poll();
  t.equal(dp.stats().emcHits, 1);
  dp.flushAll();
  t.equal(dp.stats().flows, 0);
  h.out2 = [{ type: 'output', port: 3 }];
  ports[1]!.takeSent();
  ports[0]!.receive(udp('10.0.0.1'));
  dp.poll();
  t.equal(ports[1]!.takeSent().length, 0, 'old actions no longer run');
  t.equal(ports[2]!.takeSent().length, 1);
});

t.test('ports: numbering, names, deletion removes their flows', async (t) => {
  const dp = new DpifNetdev();
  const a = new DummyNetdev('pa');
  const b = new DummyNetdev('pb');
  const c = new DummyNetdev('pc');
  t.equal(dp.addPort(a), 1);
  t.equal(dp.addPort(b, 7), 7);
  t.equal(dp.addPort(c), 2);
  t.throws(() => dp.addPort(new DummyNetdev('pd'), 7));
  t.throws(() => dp.addPort(a));
  t.same(
    dp.ports().map((p) => [p.port, p.name, p.type]),
    [
      [1, 'pa', 'dummy'],
      [2, 'pc', 'dummy'],
      [7, 'pb', 'dummy'],
    ],
  );
  t.equal(dp.portByName('pb')?.port, 7);
  const h = new TestHandler();
  dp.setUpcallHandler(h);
  a.receive(udp('10.0.0.1'));
  b.receive(udp('10.0.0.1'));
  dp.poll();
  t.equal(dp.stats().flows, 2);
  dp.delPort(7);
  t.equal(dp.stats().flows, 1);
  t.throws(() => dp.delPort(7));
  dp.close();
  t.throws(() => dp.poll());
});

t.test('recirculation re-looks-up with recirc_id; loops are cut', async (t) => {
  const { dp, ports } = testDp(3);
  const seen: FlowKey[] = [];
  dp.setUpcallHandler({
    upcall: (b) =>
      b.map((r) => {
        seen.push(r.key);
        const mask = newFlowKey();
        const id = r.key[W.RECIRC_ID]!;
        const actions: DpAction[] =
          id === 0
            ? [
                { type: 'hash', basis: 0 },
                { type: 'recirc', id: 5 },
              ]
            : id === 5
              ? [{ type: 'output', port: 2 }]
              : [{ type: 'recirc', id: 9 }];
        return { actions, mask };
      }),
  });
  ports[0]!.receive(udp('10.0.0.1'));
  dp.poll();
  t.equal(seen.length, 2);
  t.equal(seen[1]![W.RECIRC_ID], 5);
  t.not(seen[1]![W.DP_HASH], 0, 'dp_hash carried into the recirculated key');
  t.equal(ports[1]!.takeSent().length, 1);
  t.equal(dp.stats().flows, 2);
  // Second packet: both passes hit.
  ports[0]!.receive(udp('10.0.0.1'));
  dp.poll();
  t.equal(seen.length, 2);
  t.equal(ports[1]!.takeSent().length, 1);
  // A loop (recirc 9 → 9 → …) is dropped after MAX_RECIRC_DEPTH.
  dp.execute(udp('10.0.0.1'), 1, [{ type: 'recirc', id: 9 }]);
  t.equal(dp.stats().recircLoops, 1);
});

t.test('wired dummies: output of one datapath feeds another', async (t) => {
  const a = testDp(2);
  const b = testDp(2);
  connectDummies(a.ports[1]!, b.ports[0]!);
  const fwd: UpcallHandler = {
    upcall: (batch) =>
      batch.map(() => ({ actions: [{ type: 'output', port: 2 }], mask: newFlowKey() })),
  };
  a.dp.setUpcallHandler(fwd);
  b.dp.setUpcallHandler(fwd);
  a.ports[0]!.receive(udp('1.2.3.4'));
  a.dp.poll();
  b.dp.poll();
  t.equal(b.ports[1]!.takeSent().length, 1);
});

t.test('the hit path allocates no packets: the pool stays the same size', async (t) => {
  const { dp, ports } = setup();
  for (let i = 0; i < 10; i++) ports[0]!.receive(udp('10.0.0.1'));
  dp.poll();
  const before = dp.packetsAllocated;
  for (let r = 0; r < 100; r++) {
    for (let i = 0; i < 32; i++) ports[0]!.receive(udp('10.0.0.1'));
    dp.poll();
  }
  t.equal(dp.packetsAllocated, before);
});

t.test('every packet returns to the pool, whatever the actions did', async (t) => {
  const { dp, ports } = testDp(3);
  const lists: DpAction[][] = [
    [{ type: 'output', port: 2 }, setAction('ipv4_ttl', 3), { type: 'output', port: 3 }],
    [
      {
        type: 'clone',
        actions: [
          { type: 'push_vlan', tpid: 0x8100, tci: 5 },
          { type: 'output', port: 2 },
        ],
      },
    ],
    [{ type: 'userspace', pid: 0, cookie: { kind: 'slow_path', reasons: ['action'] } }],
    [
      { type: 'output', port: 99 },
      { type: 'output', port: 2 },
    ],
    [
      { type: 'dec_ttl', le1: [{ type: 'output', port: 3 }] },
      { type: 'output', port: 2 },
    ],
    [
      { type: 'hash', basis: 1 },
      { type: 'recirc', id: 4 },
    ],
    [],
  ];
  let n = 0;
  dp.setUpcallHandler({
    upcall: (b) =>
      b.map((r) => ({
        actions:
          r.key[W.RECIRC_ID] === 4 ? [{ type: 'output', port: 1 }] : lists[n++ % lists.length]!,
        mask: newFlowKey(),
        install: false,
      })),
    userspace: () => {},
  });
  for (let i = 0; i < 40; i++) ports[0]!.receive(udp(`10.0.0.${i}`));
  dp.poll(1000);
  for (const l of lists) dp.execute(udp('10.0.0.1'), 1, l);
  t.ok(n >= 40);
  t.equal(dp.packetsFree, dp.packetsAllocated, 'no packet leaked or double-freed');
  t.ok(ports[1]!.takeSent().length > 0);
});

t.test('a netdev closed while still a port does not stall the others', async (t) => {
  const { dp, ports, h } = setup();
  ports[0]!.receive(udp('10.0.0.1'));
  ports[2]!.receive(udp('10.0.0.1'));
  ports[1]!.close(); // The output port of 10.0.0.0/24.
  t.doesNotThrow(() => dp.poll());
  t.equal(h.packets, 2);
  t.ok(dp.stats().portErrors >= 1);
  ports[0]!.receive(udp('20.0.0.1'));
  dp.poll();
  t.equal(ports[2]!.takeSent().length, 1, 'port 3 still forwards');
  t.equal(dp.packetsFree, dp.packetsAllocated);
});

t.test(
  'emcInsertInvProb: 0 never inserts, N inserts one hit in N; emcEntries 0 disables',
  async (t) => {
    const { dp, ports } = setup();
    dp.setConfig({ emcInsertInvProb: 0 });
    for (let i = 0; i < 5; i++) {
      ports[0]!.receive(udp('10.0.0.1'));
      dp.poll();
    }
    t.equal(dp.stats().emcHits, 0);
    t.equal(dp.stats().megaflowHits, 4);
    dp.setConfig({ emcInsertInvProb: 3 });
    for (let i = 0; i < 5; i++) {
      ports[0]!.receive(udp('10.0.0.1'));
      dp.poll();
    }
    t.equal(dp.stats().megaflowHits, 7, 'three megaflow lookups before the insert');
    t.equal(dp.stats().emcHits, 2);
    t.throws(() => dp.setConfig({ flowLimit: -1 }), RangeError);
    const off = new DpifNetdev({ emcEntries: 0 });
    const a = new DummyNetdev('emc-off-a');
    off.addPort(a, 1);
    off.addPort(new DummyNetdev('emc-off-b'), 2);
    off.setUpcallHandler(new TestHandler());
    for (let i = 0; i < 3; i++) {
      a.receive(udp('10.0.0.1'));
      off.poll();
    }
    t.equal(off.stats().emcHits, 0);
    t.equal(off.stats().megaflowHits, 2);
  },
);

/**
 * Datapath meters: the token buckets of datapath/dp-meter.ts (kbps and pktps, burst, drop and
 * dscp_remark, the "highest-rate exceeded band applies" rule), the `meter` action in the
 * executor, and a metered megaflow in DpifNetdev over dummy netdevs (installed once, over-rate
 * packets dropped in the fast path without upcalls, `meter(N)` in dpctl/dump-flows).
 */
import t from 'tap';
import { LAYER, LAYER_COUNT, extractFlowKey } from '../../../lib/packet/extract.js';
import { W, newFlowKey } from '../../../lib/packet/flow-key.js';
import type { DpAction } from '../../../datapath/actions.js';
import { DpActionError, formatActions, validateActions } from '../../../datapath/actions.js';
import type { DpAppctlCommand } from '../../../datapath/appctl.js';
import { registerDatapathCommands } from '../../../datapath/appctl.js';
import type { DpMeterConfig } from '../../../datapath/dp-meter.js';
import {
  DpMeterError,
  DpMeterTable,
  METER_DROP,
  METER_PASS,
  raiseDropPrecedence,
} from '../../../datapath/dp-meter.js';
import type { UpcallRequest } from '../../../datapath/dpif.js';
import { checkSums, keyOf, pkt, testDp } from './helpers.js';

const drop = (rate: number, burstSize = 0) =>
  ({ type: 'drop', rate, burstSize, precLevel: 0 }) as const;
const remark = (rate: number, precLevel: number, burstSize = 0) =>
  ({ type: 'dscp_remark', rate, burstSize, precLevel }) as const;

/** Runs `n` packets of `bytes` at time `now`; returns the verdicts. */
function burst(m: DpMeterTable, id: number, n: number, bytes: number, now: number): number[] {
  return Array.from({ length: n }, () => m.run(id, bytes, now));
}

t.test('pktps: a bucket of one second of rate, refilled with time', (t) => {
  const m = new DpMeterTable();
  m.set(1, { unit: 'pktps', burst: false, bands: [drop(3)] }, 0);
  t.same(burst(m, 1, 5, 100, 0), [0, 0, 0, -1, -1], 'rate 3/s: 3 pass, then drops');
  t.same(burst(m, 1, 2, 100, 333), [-1, -1], '333 ms is 0.999 of a packet');
  t.same(burst(m, 1, 2, 100, 334), [0, -1], '334 ms is one packet');
  t.same(burst(m, 1, 5, 100, 100_334), [0, 0, 0, -1, -1], 'never more than the bucket');
  t.match(m.stats(1), { packets: 14, bytes: 1400, bands: [{ packets: 7, bytes: 700 }] });
  t.end();
});

t.test('pktps with burst: the burst size sizes the bucket', (t) => {
  const m = new DpMeterTable();
  m.set(1, { unit: 'pktps', burst: true, bands: [drop(1, 4)] }, 0);
  t.same(burst(m, 1, 6, 60, 0), [0, 0, 0, 0, -1, -1]);
  t.same(burst(m, 1, 2, 60, 1000), [0, -1], 'refills at the rate, not the burst');
  // A burst size of 0 with the burst flag means "the rate" (as a band without burst).
  m.set(2, { unit: 'pktps', burst: true, bands: [drop(2, 0)] }, 0);
  t.same(burst(m, 2, 3, 60, 0), [0, 0, -1]);
  t.end();
});

t.test('kbps: bits of the frame against rate kbit/s', (t) => {
  const m = new DpMeterTable();
  // 8 kbit/s = 8 bits per ms; bucket = 8000 bits = 1000 bytes.
  m.set(1, { unit: 'kbps', burst: false, bands: [drop(8)] }, 0);
  t.same(burst(m, 1, 3, 400, 0), [0, 0, -1], '800 bytes fit, the third 400 does not');
  t.equal(m.run(1, 200, 0), 0, 'a smaller packet still fits (200 bytes left)');
  t.equal(m.run(1, 100, 0), -1, 'empty');
  t.equal(m.run(1, 100, 100), 0, '100 ms = 800 bits = 100 bytes');
  t.equal(m.run(1, 1, 100), -1);
  // With burst: 16 kbits of burst at 8 kbit/s.
  m.set(2, { unit: 'kbps', burst: true, bands: [drop(8, 16)] }, 0);
  t.same(burst(m, 2, 5, 500, 0), [0, 0, 0, 0, -1]);
  t.end();
});

t.test('the highest-rate exceeded band applies; drop vs dscp_remark', (t) => {
  const m = new DpMeterTable();
  // remark above 2 pkt/s, drop above 4 pkt/s: bands listed out of rate order on purpose.
  const cfg: DpMeterConfig = { unit: 'pktps', burst: false, bands: [drop(4), remark(2, 1)] };
  m.set(7, cfg, 0);
  t.same(burst(m, 7, 6, 64, 0), [0, 0, 1, 1, -1, -1], 'pass, pass, remark, remark, drop, drop');
  const s = m.stats(7)!;
  t.equal(s.packets, 6);
  t.same(
    s.bands.map((b) => b.packets),
    [2, 2],
    'drop band applied twice, remark band twice',
  );
  t.equal(s.bands[1]!.bytes, 128);
  // Two remark bands: the higher rate's prec_level wins once both are exceeded.
  m.set(8, { unit: 'pktps', burst: false, bands: [remark(1, 1), remark(2, 2)] }, 0);
  t.same(burst(m, 8, 4, 64, 0), [0, 1, 2, 2]);
  // A remark band with prec_level 0 applies (counted) but changes nothing.
  m.set(9, { unit: 'pktps', burst: false, bands: [remark(1, 0)] }, 0);
  t.same(burst(m, 9, 2, 64, 0), [METER_PASS, METER_PASS]);
  t.equal(m.stats(9)!.bands[0]!.packets, 1);
  t.end();
});

t.test('missing meters pass; set replaces and resets; delete; validation', (t) => {
  const m = new DpMeterTable();
  t.equal(m.run(3, 100, 0), METER_PASS, 'no meter: pass');
  t.equal(m.stats(3), undefined);
  m.set(3, { unit: 'pktps', burst: false, bands: [drop(1)] }, 0);
  t.same(burst(m, 3, 2, 10, 0), [0, METER_DROP]);
  m.set(3, { unit: 'pktps', burst: false, bands: [drop(2)] }, 0);
  t.match(m.stats(3), { packets: 0, bytes: 0, bands: [{ packets: 0 }] }, 'counters restart');
  t.same(burst(m, 3, 3, 10, 0), [0, 0, -1], 'a full bucket of the new rate');
  t.same(m.ids(), [3]);
  t.match(m.delete(3), { packets: 3 }, 'last counters returned');
  t.equal(m.delete(3), undefined);
  t.equal(m.run(3, 100, 0), METER_PASS, 'deleted: pass');
  const bad = (id: number, cfg: DpMeterConfig): void => {
    t.throws(() => m.set(id, cfg, 0), DpMeterError);
  };
  bad(-1, { unit: 'pktps', burst: false, bands: [] });
  bad(1 << 18, { unit: 'pktps', burst: false, bands: [] });
  bad(1, { unit: 'pktps', burst: false, bands: [drop(0)] });
  bad(1, { unit: 'pktps', burst: false, bands: Array.from({ length: 9 }, () => drop(1)) });
  bad(1, { unit: 'pktps', burst: false, bands: [remark(1, -1)] });
  t.equal(m.size, 0);
  t.end();
});

t.test('raiseDropPrecedence follows the AF drop-precedence bits', (t) => {
  t.equal(raiseDropPrecedence(10, 1), 12, 'AF11 → AF12');
  t.equal(raiseDropPrecedence(10, 2), 14, 'AF11 → AF13');
  t.equal(raiseDropPrecedence(14, 1), 14, 'AF13 stays (highest precedence)');
  t.equal(raiseDropPrecedence(34, 5), 38, 'AF41 → AF43, saturating');
  t.equal(raiseDropPrecedence(46, 1), 46, 'EF (101110) already at precedence 3');
  t.equal(raiseDropPrecedence(0, 1), 2);
  t.end();
});

t.test('meter action: IR validation and dump-flows syntax', (t) => {
  const acts: DpAction[] = [
    { type: 'meter', meterId: 0 },
    { type: 'output', port: 2 },
  ];
  t.equal(formatActions(acts), 'meter(0),2');
  t.equal(formatActions([{ type: 'meter', meterId: 12 }]), 'meter(12)');
  t.doesNotThrow(() => validateActions(acts));
  t.throws(() => validateActions([{ type: 'meter', meterId: -1 }]), DpActionError);
  t.throws(() => validateActions([{ type: 'meter', meterId: 1.5 }]), DpActionError);
  t.end();
});

t.test('execute: drop stops the list, dscp_remark rewrites IPv4 and IPv6', (t) => {
  const { dp, ports } = testDp(2);
  dp.meterSet(0, { unit: 'pktps', burst: false, bands: [remark(1, 1)] });
  dp.meterSet(1, { unit: 'pktps', burst: false, bands: [drop(1)] });
  const v4 = pkt('udp,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_tos=40,nw_ecn=1,tp_src=1,tp_dst=2', 8);
  const acts = (id: number): DpAction[] => [
    { type: 'output', port: 1 },
    { type: 'meter', meterId: id },
    { type: 'output', port: 2 },
  ];
  dp.execute(v4, 1, acts(0));
  dp.execute(v4, 1, acts(0));
  const sent1 = ports[0]!.takeSent();
  const sent2 = ports[1]!.takeSent();
  t.equal(sent1.length, 2, 'outputs before the meter are unaffected');
  t.same(sent1[1], v4, 'and see the packet before the remark');
  t.equal(sent2.length, 2);
  t.same(sent2[0], v4, 'first packet within the rate: unchanged');
  const k = keyOf(sent2[1]!);
  t.equal((k[W.NW]! >>> 8) & 0xff, (12 << 2) | 1, 'DSCP AF11 (10) → AF12 (12), ECN kept');
  checkSums(t, sent2[1]!, 'remarked IPv4');
  dp.execute(v4, 1, acts(1));
  dp.execute(v4, 1, acts(1));
  t.equal(ports[0]!.takeSent().length, 2);
  t.equal(ports[1]!.takeSent().length, 1, 'dropped at the meter: the output after it is not run');
  t.equal(dp.meterDrops, 1);
  // IPv6: the DSCP lives in the traffic class.
  dp.meterSet(0, { unit: 'pktps', burst: false, bands: [remark(1, 2)] });
  const v6 = pkt('udp6,ipv6_src=2001:db8::1,ipv6_dst=2001:db8::2,nw_tos=72,tp_src=1,tp_dst=2', 8);
  dp.execute(v6, 1, [
    { type: 'meter', meterId: 0 },
    { type: 'meter', meterId: 0 },
    { type: 'output', port: 2 },
  ]);
  const out6 = ports[1]!.takeSent()[0]!;
  const layers = new Int32Array(LAYER_COUNT);
  const k6 = newFlowKey();
  extractFlowKey(out6, 0, out6.length, 0, k6, undefined, layers);
  t.equal((k6[W.NW]! >>> 8) & 0xff, 22 << 2, 'AF21 (18) → AF23 (22) in the traffic class');
  t.ok(layers[LAYER.L4]! > 0);
  checkSums(t, out6, 'remarked IPv6');
  // Non-IP: a remark band applies (counted) and leaves the frame alone.
  const arp = pkt('arp,arp_spa=10.0.0.1,arp_tpa=10.0.0.2');
  dp.meterSet(0, { unit: 'pktps', burst: false, bands: [remark(1, 1)] });
  dp.execute(arp, 1, [
    { type: 'meter', meterId: 0 },
    { type: 'meter', meterId: 0 },
    { type: 'output', port: 2 },
  ]);
  t.same(ports[1]!.takeSent()[0], arp);
  t.equal(dp.meterStats(0)!.bands[0]!.packets, 1);
  // A deleted meter passes everything.
  t.match(dp.meterDel(1), { packets: 2 });
  dp.execute(v4, 1, acts(1));
  dp.execute(v4, 1, acts(1));
  t.equal(ports[1]!.takeSent().length, 2, 'meter action to a missing meter passes');
  t.equal(dp.meterStats(1), undefined);
  t.equal(dp.meterRun(1, 100), METER_PASS);
  t.end();
});

t.test('dpif-netdev: a metered megaflow drops over-rate packets without upcalls', async (t) => {
  const { dp, clock, ports } = testDp(2);
  dp.meterSet(0, { unit: 'pktps', burst: true, bands: [drop(10, 3)] });
  const calls: UpcallRequest[] = [];
  dp.setUpcallHandler({
    upcall: (batch) =>
      batch.map((r) => {
        calls.push(r);
        const mask = newFlowKey();
        mask[W.ETH_TYPE] = 0xffff;
        return {
          actions: [
            { type: 'meter', meterId: 0 },
            { type: 'output', port: 2 },
          ],
          mask,
        };
      }),
  });
  const frame = pkt('udp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=1,tp_dst=2', 18);
  ports[0]!.receive(frame);
  t.equal(dp.poll(), 1);
  t.equal(calls.length, 1, 'the first packet is upcalled');
  for (let i = 0; i < 7; i++) ports[0]!.receive(frame);
  t.equal(dp.poll(), 7);
  t.equal(calls.length, 1, 'no further upcall: the metered flow was installed');
  t.equal(ports[1]!.takeSent().length, 3, 'burst of 3 passes (the upcalled packet included)');
  const s = dp.stats();
  t.equal(s.flows, 1);
  t.equal(s.misses, 1);
  t.equal(s.emcHits + s.megaflowHits, 7, 'the rest hit the cache');
  t.match(dp.meterStats(0), {
    packets: 8,
    bytes: 8 * frame.length,
    bands: [{ packets: 5, bytes: 5 * frame.length }],
  });
  t.equal(dp.flows()[0]!.packets, 7, 'dropped packets still hit the flow (as OVS counts them)');
  // dpctl/dump-flows shows the meter before the output.
  const cmds = new Map<string, DpAppctlCommand>();
  registerDatapathCommands({ register: (c) => cmds.set(c.name, c) }, { datapaths: () => [dp] });
  const dump = await cmds.get('dpctl/dump-flows')!.handler([]);
  t.match(dump, /, actions:meter\(0\),2\n/);
  // 100 ms at 10 pkt/s is one more packet's worth of tokens.
  clock.advance(100);
  for (let i = 0; i < 3; i++) ports[0]!.receive(frame);
  dp.poll();
  t.equal(ports[1]!.takeSent().length, 1);
  t.equal(calls.length, 1, 'still no further upcall');
  // Reconfiguring the meter takes effect on the installed flow at once.
  dp.meterSet(0, { unit: 'pktps', burst: false, bands: [drop(1000)] });
  for (let i = 0; i < 5; i++) ports[0]!.receive(frame);
  dp.poll();
  t.equal(ports[1]!.takeSent().length, 5);
  dp.meterDel(0);
  for (let i = 0; i < 5; i++) ports[0]!.receive(frame);
  dp.poll();
  t.equal(ports[1]!.takeSent().length, 5, 'deleted meter: everything passes');
  t.equal(dp.packetsFree, dp.packetsAllocated, 'no packet leaked');
  t.end();
});

/**
 * Micro-benchmark: packets per second through the userspace datapath on 64-byte frames
 * (60 bytes + FCS on the wire), dummy ports, one output per packet. Not part of `npm test`.
 *
 * Run: `node --import @tapjs/typescript/import bench/micro/datapath.bench.ts`
 *
 * Tasks (each invocation processes one 32-frame batch):
 * - EMC hit: 32 frames of one flow handed to `DpifNetdev.input` (as a receive batch from a port).
 * - megaflow hit: 256 distinct flows (source ports) under one wildcarded megaflow, EMC disabled,
 *   so every packet probes the megaflow subtable.
 * - EMC hit + set-field: as the first, with set(ipv4(src)) + set(udp(src)) and checksum updates.
 * - via dummy rx ring: frames injected into a dummy port's ring and taken by `poll()` (adds the
 *   dummy's copy into its ring).
 * A second pass counts GC events over 2 M EMC-hit packets: the hit path should allocate nothing.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { Bench } from 'tinybench';
import { FakeClock } from '../../lib/clock.js';
import { buildFrame } from '../../lib/packet/build.js';
import { W, newFlowKey } from '../../lib/packet/flow-key.js';
import { parseFlow } from '../../lib/packet/format.js';
import type { DpAction } from '../../datapath/actions.js';
import { setAction } from '../../datapath/actions.js';
import { DpifNetdev } from '../../datapath/dpif-netdev.js';
import type { FrameBatch } from '../../datapath/netdev.js';
import { newFrameBatch } from '../../datapath/netdev.js';
import { DummyNetdev } from '../../datapath/netdev-dummy.js';

const BATCH = 32;

function frame(sport: number): Uint8Array {
  const { key } = parseFlow(
    `dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,udp,nw_src=198.18.0.1,nw_dst=198.18.0.2,nw_ttl=64,tp_src=${sport},tp_dst=9`,
  );
  return buildFrame(key, { payload: new Uint8Array(18) });
}

/** A datapath with dummy ports 1 and 2 and a handler sending everything to port 2. */
function makeDp(actions: DpAction[], emcEntries?: number): { dp: DpifNetdev; p1: DummyNetdev } {
  const dp = new DpifNetdev(
    emcEntries === undefined ? { clock: new FakeClock() } : { clock: new FakeClock(), emcEntries },
  );
  const p1 = new DummyNetdev('b1', { rxCapacity: 4096 });
  dp.addPort(p1, 1);
  dp.addPort(new DummyNetdev('b2'), 2);
  dp.setUpcallHandler({
    upcall: (batch) =>
      batch.map(() => {
        const mask = newFlowKey();
        mask[W.ETH_TYPE] = 0xffff;
        mask[W.NW_DST] = 0xffffffff;
        return { actions, mask };
      }),
  });
  return { dp, p1 };
}

function batchOf(frames: Uint8Array[], start: number): FrameBatch {
  const b = newFrameBatch(BATCH);
  for (let i = 0; i < BATCH; i++) {
    const f = frames[(start + i) % frames.length]!;
    b.bufs[i] = f;
    b.offs[i] = 0;
    b.lens[i] = f.length;
  }
  b.count = BATCH;
  return b;
}

/** Runs the benchmark and returns result lines. */
export async function runDatapathBench(time = 1000): Promise<string[]> {
  const out: DpAction[] = [{ type: 'output', port: 2 }];
  const one = [frame(1000)];
  const many = Array.from({ length: 256 }, (_, i) => frame(1000 + i));

  const emc = makeDp(out);
  const emcBatch = batchOf(one, 0);
  emc.dp.input(1, emcBatch);

  const mf = makeDp(out, 0);
  const mfBatches = Array.from({ length: 8 }, (_, i) => batchOf(many, i * BATCH));
  mf.dp.input(1, mfBatches[0]!);
  let mfi = 0;

  const set = makeDp([setAction('ipv4_src', 0x0a000001), setAction('udp_src', 4242), ...out]);
  const setBatch = batchOf(one, 0);
  set.dp.input(1, setBatch);

  const ring = makeDp(out);
  const f0 = one[0]!;
  ring.p1.receive(f0);
  ring.dp.poll();

  const bench = new Bench({ name: 'datapath', time, warmupTime: 200 });
  bench
    .add('EMC hit, output (input batch)', () => emc.dp.input(1, emcBatch))
    .add('megaflow hit, EMC off, 256 flows', () => {
      mf.dp.input(1, mfBatches[mfi]!);
      mfi = (mfi + 1) & 7;
    })
    .add('EMC hit, set ipv4 src + udp src, output', () => set.dp.input(1, setBatch))
    .add('EMC hit via dummy rx ring + poll', () => {
      for (let i = 0; i < BATCH; i++) ring.p1.receive(f0);
      ring.dp.poll();
    });
  await bench.run();
  const lines: string[] = [];
  for (const task of bench.tasks) {
    const r = task.result;
    if (r.state !== 'completed') {
      lines.push(`${task.name}: ${r.state}`);
      continue;
    }
    const ns = (r.latency.mean * 1e6) / BATCH;
    lines.push(
      `${task.name}: ${(1e3 / ns).toFixed(2)} Mpps (${ns.toFixed(0)} ns/packet, ±${r.latency.rme.toFixed(1)}%)`,
    );
  }
  const s = emc.dp.stats();
  const m = mf.dp.stats();
  lines.push(
    `check: EMC dp emcHits=${s.emcHits} misses=${s.misses}; megaflow dp mfHits=${m.megaflowHits} misses=${m.misses} flows=${m.flows}`,
  );

  // Settle first: tinybench's own garbage would otherwise be collected during the pass.
  for (let j = 0; j < 20000; j++) emc.dp.input(1, emcBatch);
  await new Promise((r) => setTimeout(r, 50));
  let gcs = 0;
  const obs = new PerformanceObserver((list) => (gcs += list.getEntries().length));
  obs.observe({ entryTypes: ['gc'] });
  const n = 2_000_000;
  const t0 = process.hrtime.bigint();
  for (let j = 0; j < n / BATCH; j++) emc.dp.input(1, emcBatch);
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  await new Promise((r) => setTimeout(r, 50));
  obs.disconnect();
  lines.push(
    `plain loop, EMC hit: ${(n / dt / 1e6).toFixed(2)} Mpps; GC events during ${n} packets: ${gcs}`,
  );
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await runDatapathBench()) console.log(line);
}

/**
 * Micro-benchmark: flow-key extraction of a 64-byte (60 bytes + FCS on the wire) IPv4/UDP frame,
 * plus the megaflow-side word loops (mask + hash). Not part of `npm test`.
 *
 * Run: `node --import @tapjs/typescript/import bench/micro/flow-extract.bench.ts`
 * (or `node dist/bench/micro/flow-extract.bench.js` after `npm run build`).
 *
 * Each task processes a batch of {@link BATCH} frames laid out in 2 KiB slots of one buffer (as
 * the datapath receives them), so the per-call overhead of the harness is amortised; the report
 * gives extractions per second. A second pass runs 5 million extractions under a GC observer:
 * a per-packet allocation of even a few bytes would show as hundreds of scavenges, so a GC count
 * near zero (a stray one or two from the harness) means the loop allocates nothing per packet.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { Bench } from 'tinybench';
import { buildFrame } from '../../lib/packet/build.js';
import { extractFlowKey } from '../../lib/packet/extract.js';
import { hashMasked, newFlowKey, packetMask } from '../../lib/packet/flow-key.js';
import { parseFlow } from '../../lib/packet/format.js';

/** Frames per task invocation. */
export const BATCH = 256;
const SLOT = 2048;

/** Builds the batch buffer: BATCH 60-byte UDP frames with distinct source ports. */
export function makeBatch(): { buf: Uint8Array; lens: Int32Array } {
  const buf = new Uint8Array(BATCH * SLOT);
  const lens = new Int32Array(BATCH);
  for (let i = 0; i < BATCH; i++) {
    const { key } = parseFlow(
      `dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,udp,nw_src=198.18.0.1,nw_dst=198.18.0.2,nw_ttl=64,tp_src=${1024 + i},tp_dst=9`,
    );
    const f = buildFrame(key, { payload: new Uint8Array(18) });
    buf.set(f, i * SLOT);
    lens[i] = f.length;
  }
  return { buf, lens };
}

/** Runs the benchmark and returns result lines (extractions per second per task). */
export async function runFlowExtractBench(time = 1000): Promise<string[]> {
  const { buf, lens } = makeBatch();
  const key = newFlowKey();
  const mask = newFlowKey();
  packetMask(key, mask);
  let sink = 0;
  const bench = new Bench({ name: 'flow-extract', time, warmupTime: 200 });
  bench
    .add('extractFlowKey, 60-byte IPv4/UDP', () => {
      for (let i = 0; i < BATCH; i++) extractFlowKey(buf, i * SLOT, lens[i]!, 1, key);
      sink ^= key[32]!;
    })
    .add('extractFlowKey + hashMasked (megaflow probe)', () => {
      for (let i = 0; i < BATCH; i++) {
        extractFlowKey(buf, i * SLOT, lens[i]!, 1, key);
        sink ^= hashMasked(key, mask);
      }
    });
  await bench.run();
  const lines: string[] = [];
  for (const task of bench.tasks) {
    const r = task.result;
    if (r.state !== 'completed') {
      lines.push(`${task.name}: ${r.state}`);
      continue;
    }
    // Rate from the mean batch latency (ms): the throughput statistic is a mean of reciprocals.
    const ns = (r.latency.mean * 1e6) / BATCH;
    lines.push(
      `${task.name}: ${(1e3 / ns).toFixed(2)} M extractions/s (${ns.toFixed(1)} ns/packet, ±${r.latency.rme.toFixed(1)}%)`,
    );
  }

  // Allocation check: count GC events during 5 M extractions.
  let gcs = 0;
  const obs = new PerformanceObserver((list) => (gcs += list.getEntries().length));
  obs.observe({ entryTypes: ['gc'] });
  const n = 5_000_000;
  const t0 = process.hrtime.bigint();
  for (let j = 0; j < n / BATCH; j++) {
    for (let i = 0; i < BATCH; i++) extractFlowKey(buf, i * SLOT, lens[i]!, 1, key);
  }
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  await new Promise((r) => setTimeout(r, 50));
  obs.disconnect();
  lines.push(
    `plain loop: ${(n / dt / 1e6).toFixed(2)} M extractions/s; GC events during ${n} extractions: ${gcs}`,
  );
  if (sink === 0.5) lines.push('unreachable');
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await runFlowExtractBench()) console.log(line);
}

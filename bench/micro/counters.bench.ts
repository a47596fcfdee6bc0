/**
 * Micro-benchmark: the labelled counters bumped for every OpenFlow message received and sent
 * (`openflow_messages` by direction and type). Rows:
 *
 * - `before: join key` — the implementation before the lookup tree, kept here as the baseline:
 *   a `labels.join('\0')` string key into one Map per call, the caller building the array.
 * - `inc([dir, type])` — today's {@link LabelledCounter.inc}: one Map per label, no string built
 *   (the caller still builds the array).
 * - `child handle` — what ofproto/ofconn.ts does: a {@link LabelledChild} per type byte, kept by
 *   the caller; no lookup, no allocation.
 *
 * Each call bumps the count of one of 8 message types in turn. Not part of `npm test`.
 *
 * Run: `node dist/bench/micro/counters.bench.js [--time MS]`.
 */
import { Bench } from 'tinybench';
import { LabelledCounter, type LabelledChild } from '../../lib/counters.js';
import { formatResult, isMain, results, type MicroResult } from './common.js';

/** The labelled counter as it was before the lookup tree (the baseline row). */
class JoinKeyCounter {
  private readonly counts = new Map<string, { labels: readonly string[]; total: number }>();

  inc(labels: readonly string[], n = 1): void {
    const key = labels.join('\0');
    const e = this.counts.get(key);
    if (e) e.total += n;
    else this.counts.set(key, { labels: [...labels], total: n });
  }

  total(): number {
    let s = 0;
    for (const e of this.counts.values()) s += e.total;
    return s;
  }
}

const TYPES = [
  'HELLO',
  'ECHO_REQUEST',
  'FLOW_MOD',
  'BARRIER_REQUEST',
  'PACKET_IN',
  'PACKET_OUT',
  'MULTIPART_REQUEST',
  'PORT_STATUS',
];
/** Calls per task iteration. */
const PER_CALL = 1024;

/** Runs the counter rows; results are increments/s. */
export async function runCountersBench(time = 1000): Promise<MicroResult[]> {
  const bench = new Bench({ name: 'counters', time, warmupTime: 200 });
  // The type byte of each message, as ofconn reads it.
  const bytes = TYPES.map((_, i) => Uint8Array.of(4, i, 0, 8));
  const label = (b: Uint8Array): string => TYPES[b[1]!]!;

  const before = new JoinKeyCounter();
  bench.add('before: join key', () => {
    for (let i = 0; i < PER_CALL; i++) before.inc(['rx', label(bytes[i & 7]!)]);
  });

  const now = new LabelledCounter('bench_msgs', 'bench', '', ['direction', 'type']);
  bench.add('inc([dir, type])', () => {
    for (let i = 0; i < PER_CALL; i++) now.inc(['rx', label(bytes[i & 7]!)]);
  });

  const handles = new LabelledCounter('bench_msgs_h', 'bench', '', ['direction', 'type']);
  const table: LabelledChild[] = [];
  bench.add('child handle', () => {
    for (let i = 0; i < PER_CALL; i++) {
      const b = bytes[i & 7]!;
      (table[b[1]!] ??= handles.child('rx', label(b))).inc();
    }
  });

  await bench.run();
  const sum = (c: LabelledCounter): number => c.entries().reduce((s, e) => s + e.total, 0);
  if (before.total() === 0 || sum(now) === 0 || sum(handles) === 0)
    throw new Error('counters bench: nothing counted');
  return results('counters', bench, PER_CALL);
}

if (isMain(import.meta.url)) {
  const i = process.argv.indexOf('--time');
  const time = i >= 0 ? Number(process.argv[i + 1]) : 1000;
  for (const r of await runCountersBench(time)) console.log(formatResult(r, 'incs'));
}

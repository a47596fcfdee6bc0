/**
 * Micro-benchmark: `Classifier.lookup` (ofproto/classifier.ts, OVS's tuple-space search) with
 * wildcard tracking on, for 1k / 10k / 100k rules spread over 1 / 10 / 50 masks. Half of the
 * probes hit a rule, half miss everything (the costly case: every subtable is probed). Not part
 * of `npm test`.
 *
 * Run: `node dist/bench/micro/classifier.bench.js [--time MS] [--sizes 1000,10000,100000]`
 * (or through `npm run bench:micro`).
 *
 * Masks: eth_type exact + an nw_dst prefix of 32 − (m mod 25) bits, + tp_dst exact for m ≥ 25, so
 * all masks differ; each mask has its own priority, so the probe order matters.
 */
import { Bench } from 'tinybench';
import { Classifier, matches, VERSION_MAX } from '../../ofproto/classifier.js';
import { W, newFlowKey, type FlowKey } from '../../lib/packet/flow-key.js';
import { formatResult, isMain, results, type MicroResult } from './common.js';

/** Probes per task invocation. */
export const PROBES = 1024;

/** A classifier with `nRules` rules over `nMasks` masks, and PROBES lookup keys (half hits). */
export function makeClassifier(
  nRules: number,
  nMasks: number,
): { cls: Classifier<number>; probes: FlowKey[] } {
  const cls = new Classifier<number>();
  const masks: FlowKey[] = [];
  for (let m = 0; m < nMasks; m++) {
    const mask = newFlowKey();
    mask[W.ETH_TYPE] = 0xffff;
    const plen = 32 - (m % 25);
    mask[W.NW_DST] = plen === 32 ? 0xffffffff : (~((1 << (32 - plen)) - 1) >>> 0) >>> 0;
    if (m >= 25) mask[W.TP] = 0xffff;
    masks.push(mask);
  }
  const keys: FlowKey[] = [];
  for (let i = 0; i < nRules; i++) {
    const m = i % nMasks;
    const mask = masks[m]!;
    const key = newFlowKey();
    key[W.ETH_TYPE] = 0x0800;
    key[W.NW_DST] = ((10 << 24) | ((i * 2654435761) & 0xffffff)) >>> 0;
    key[W.TP] = i & 0xffff;
    const masked = newFlowKey();
    for (let w = 0; w < masked.length; w++) masked[w] = (key[w]! & mask[w]!) >>> 0;
    cls.insert({
      key: masked,
      mask,
      priority: 100 + m,
      value: i,
      addedIn: 0,
      removedIn: VERSION_MAX,
    });
    keys.push(key);
  }
  const probes: FlowKey[] = [];
  for (let i = 0; i < PROBES; i++) {
    const k = newFlowKey();
    if (i % 2 === 0) k.set(keys[(i * 7919) % nRules]!);
    else {
      k[W.ETH_TYPE] = 0x0800;
      k[W.NW_DST] = ((11 << 24) | (i * 40503)) >>> 0;
    }
    probes.push(k);
  }
  const r0 = cls.lookup(probes[0]!, 0);
  if (!r0 || !matches(probes[0]!, r0)) throw new Error('classifier bench: probe 0 missed');
  return { cls, probes };
}

/** Runs the lookups for every size × mask count; results are lookups/s. */
export async function runClassifierBench(
  time = 1000,
  sizes: readonly number[] = [1000, 10000, 100000],
  maskCounts: readonly number[] = [1, 10, 50],
): Promise<MicroResult[]> {
  const bench = new Bench({ name: 'classifier', time, warmupTime: 200 });
  let sink = 0;
  const wc = newFlowKey();
  for (const n of sizes) {
    for (const m of maskCounts) {
      const { cls, probes } = makeClassifier(n, m);
      bench.add(`lookup, ${n} rules, ${m} masks`, () => {
        for (let i = 0; i < PROBES; i++) {
          wc.fill(0);
          const r = cls.lookup(probes[i]!, 0, wc);
          if (r) sink ^= r.value;
        }
      });
    }
  }
  await bench.run();
  if (sink === 0.5) console.error('unreachable');
  return results('classifier', bench, PROBES);
}

if (isMain(import.meta.url)) {
  const i = process.argv.indexOf('--time');
  const s = process.argv.indexOf('--sizes');
  const res = await runClassifierBench(
    i > 0 ? Number(process.argv[i + 1]) : 1000,
    s > 0 ? process.argv[s + 1]!.split(',').map(Number) : undefined,
  );
  for (const r of res) console.log(formatResult(r, 'lookups'));
}

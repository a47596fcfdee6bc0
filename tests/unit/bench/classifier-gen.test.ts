import t from 'tap';
import { matches } from '../../../ofproto/classifier.js';
import {
  ALL_FIELDS,
  BENCH_FIELDS,
  N_FIELDS,
  N_LOOKUP_FLOWS,
  OvsRandom,
  expectedHitRate,
  generate,
  runLookups,
  type Generated,
} from '../../../bench/lib/classifier-gen.js';
import { parseOvsBenchmark } from '../../../bench/classifier-vs-ovs.js';

function distinctMasks(g: Generated): number {
  return new Set(g.rules.map((r) => Array.from(r.mask).join(','))).size;
}

function distinctPriorities(g: Generated): Set<number> {
  return new Set(g.rules.map((r) => r.priority));
}

t.test('OvsRandom is xorshift32 (13, 17, 5) and range is next() % max', (t) => {
  const r = new OvsRandom(1);
  // 1 ^ 1<<13 = 0x2001; ^ >>17 = 0x2001; ^ <<5 = 0x2001 ^ 0x40020 = 0x42021.
  t.equal(r.next(), 0x42021);
  const a = new OvsRandom(12345);
  const b = new OvsRandom(12345);
  let bad = 0;
  for (let i = 0; i < 1000; i++) {
    const x = a.next();
    if (!(x >= 0 && x <= 0xffffffff && Number.isInteger(x))) bad++;
    if (i % 100 === 0) {
      if (b.range(7) !== x % 7) bad++;
    } else b.next();
  }
  t.equal(bad, 0, 'unsigned 32-bit values; range = next() % max');
  t.throws(() => new OvsRandom(0), RangeError);
  t.end();
});

t.test('field table: 13 fields with two different values each', (t) => {
  t.equal(BENCH_FIELDS.length, N_FIELDS);
  for (const f of BENCH_FIELDS) t.not(f.values[0], f.values[1], f.ovs);
  t.end();
});

t.test('ovs31 (OVS 3.1 as shipped): n_rules drawn, one mask whatever n_subtables', (t) => {
  for (const nSubtables of [1, 10, 50]) {
    const g = generate({ nRules: 10000, nPriorities: 10000, nSubtables, mode: 'ovs31' });
    t.equal(g.rules.length + g.duplicates, 10000, `${nSubtables}: rules + duplicates = n_rules`);
    t.ok(g.duplicates < 20, `${nSubtables}: 10 000 priorities leave few duplicates`);
    t.equal(new Set(g.wildcardSets).size, nSubtables, 'wildcard sets all different');
    t.equal(distinctMasks(g), 1);
    t.equal(g.cls.subtableCount, 1);
    t.equal(g.cls.size, g.rules.length);
  }
  // One priority: the 13-bit patterns are the only freedom, so at most 8192 rules.
  const one = generate({ nRules: 10000, nPriorities: 1, nSubtables: 1, mode: 'ovs31' });
  t.ok(one.rules.length <= 1 << N_FIELDS);
  t.equal(one.rules.length + one.duplicates, 10000);
  t.end();
});

t.test('honoured: exactly n_subtables distinct masks, each the complement of its set', (t) => {
  for (const nSubtables of [1, 10, 50]) {
    const g = generate({ nRules: 10000, nPriorities: 10000, nSubtables, mode: 'honoured' });
    t.equal(g.rules.length + g.duplicates, 10000);
    t.equal(distinctMasks(g), nSubtables, `${nSubtables} masks`);
    t.equal(g.cls.subtableCount, nSubtables);
    t.ok(g.rules.length >= 9900, `${nSubtables}: ${g.rules.length} rules inserted`);
  }
  t.end();
});

t.test('inserted rules are unique in match and priority; priorities as OVS makes them', (t) => {
  const g = generate({ nRules: 10000, nPriorities: 100, nSubtables: 10, mode: 'honoured' });
  const seen = new Set(
    g.rules.map(
      (r) => `${r.priority}|${Array.from(r.mask).join(',')}|${Array.from(r.key).join(',')}`,
    ),
  );
  t.equal(seen.size, g.rules.length, 'no two inserted rules alike');
  t.ok(g.duplicates > 0, 'few masked patterns × 100 priorities: some draws are duplicates');
  // Priorities: a permutation of i × 129 for i < n_priorities; every one of them is used.
  t.same(
    [...g.priorities].sort((a, b) => a - b),
    Array.from({ length: 100 }, (_, i) => i * 129),
  );
  t.same(
    [...distinctPriorities(g)].sort((a, b) => a - b),
    Array.from({ length: 100 }, (_, i) => i * 129),
  );
  t.end();
});

t.test('lookup flows: 8192, DSCP always value 0, the other 12 fields take both values', (t) => {
  const g = generate({ nRules: 10, nPriorities: 1, nSubtables: 1, mode: 'ovs31' });
  t.equal(g.flows.length, N_LOOKUP_FLOWS);
  let or = 0;
  for (const p of g.flowPatterns) or |= p;
  t.notOk(or & (1 << 12), 'DSCP bit never set');
  t.equal(or, ALL_FIELDS & ~(1 << 12));
  t.end();
});

t.test('hit rate is what the design predicts', (t) => {
  // ovs31: a flow is hit iff one of the n draws has its exact 13-bit pattern (DSCP value 0):
  // 1 − (1 − 2^−13)^n, ≈ 70.5% for 10 000 rules and 21.7% for 2 000.
  for (const [nRules, want] of [
    [10000, 0.705],
    [2000, 0.217],
  ] as const) {
    const g = generate({ nRules, nPriorities: 10000, nSubtables: 10, mode: 'ovs31' });
    const exp = expectedHitRate('ovs31', g.wildcardSets, nRules);
    t.ok(Math.abs(exp - want) < 0.001, `expected ${exp}`);
    const r = runLookups(g.cls, g.flows, 100_000, true);
    const got = r.hits / (r.hits + r.misses);
    t.ok(Math.abs(got - exp) < 0.03, `${nRules} rules: hit rate ${got} vs ${exp}`);
  }
  // honoured: draws also hit through wildcarded fields; with few rules it is not saturated.
  const g = generate({ nRules: 40, nPriorities: 10000, nSubtables: 10, mode: 'honoured' });
  const exp = expectedHitRate('honoured', g.wildcardSets, 40);
  t.ok(exp > 0.05 && exp < 0.95, `honoured, 40 rules: expected ${exp}`);
  const r = runLookups(g.cls, g.flows, 100_000, false);
  const got = r.hits / (r.hits + r.misses);
  t.ok(Math.abs(got - exp) < 0.15, `honoured, 40 rules: hit rate ${got} vs ${exp}`);
  // A hit is exactly "some rule matches the flow" (checked by brute force on every flow).
  let brute = 0;
  let cls = 0;
  for (const f of g.flows) {
    if (g.rules.some((rule) => matches(f, rule))) brute++;
    if (g.cls.lookup(f, 0) !== undefined) cls++;
  }
  t.equal(cls, brute);
  t.end();
});

t.test('parseOvsBenchmark reads both passes of ovstest test-classifier benchmark', (t) => {
  const out = `
Benchmarking with:
10000 rules with 1 priorities in 1 tables, 1 threads doing 1000000 lookups each

Without wildcards: 

hits: 687001, misses: 312999
classifier lookups:    275 ms, 3636363 lookups/sec

With wildcards: 

hits: 687001, misses: 312999
classifier lookups:    600 ms, 1666666 lookups/sec
`;
  t.same(parseOvsBenchmark(out), {
    noWc: { hits: 687001, misses: 312999, ms: 275, lookupsPerSec: 3636363 },
    wc: { hits: 687001, misses: 312999, ms: 600, lookupsPerSec: 1666666 },
  });
  t.throws(() => parseOvsBenchmark('usage: ovstest ...'));
  t.end();
});

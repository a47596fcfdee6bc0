/**
 * Prefix tries (ofproto/cls-trie.ts) and their use by the classifier (ofproto/classifier.ts):
 * the trie against a brute-force model of OVS's trie lookup (matched prefix lengths and
 * `maskbits`), the megaflow property for rule sets with nw_src/nw_dst/ipv6_dst prefixes of random
 * lengths and ports under random masks (every packet inside the returned mask gets the same
 * rule; the mask is never wider than the rules' masks nor narrower than without tries), rule
 * versions (an invisible rule stays in the tries: conservative), worked examples with the
 * megaflows OVS 3.1 gives, and reconfiguring the tries.
 */
import fc from 'fast-check';
import t from 'tap';
import { FLOW_KEY_WORDS, W, newFlowKey, type FlowKey } from '../../../lib/packet/flow-key.js';
import {
  Classifier,
  DEFAULT_PREFIXES,
  VERSION_MAX,
  matches,
  visibleAt,
  type ClassifierOptions,
  type ClsRule,
} from '../../../ofproto/classifier.js';
import { PrefixTrie } from '../../../ofproto/cls-trie.js';

// ------------------------------------------------------------------ the trie against a model

/** Bit i (MSB first) of a multi-word value. */
const bitOf = (v: readonly number[], i: number): number => (v[i >>> 5]! >>> (31 - (i & 31))) & 1;

/** Length of the common prefix of a and b, up to n bits. */
function lcp(a: readonly number[], b: readonly number[], n: number): number {
  for (let i = 0; i < n; i++) if (bitOf(a, i) !== bitOf(b, i)) return i;
  return n;
}

/**
 * OVS's trie lookup, stated without a tree: the matched lengths are those of the stored prefixes
 * equal to the value's first bits; maskbits is 0 for an empty set, the width when some stored
 * prefix covers the whole value, else m (the longest common prefix with any stored prefix) when
 * the value's first m bits are a stored prefix that no other stored prefix extends (a leaf),
 * else m + 1.
 */
function model(
  stored: readonly (readonly [number[], number])[],
  v: readonly number[],
  bits: number,
): { plens: number[]; maskbits: number } {
  const plens = new Set<number>();
  if (stored.length === 0) return { plens: [], maskbits: 0 };
  let m = 0;
  for (const [p, len] of stored) {
    const c = lcp(p, v, len);
    if (c === len) plens.add(len);
    if (c > m) m = c;
  }
  if (m === bits) return { plens: [...plens].sort((a, b) => a - b), maskbits: bits };
  const isStored = stored.some(([p, len]) => len === m && lcp(p, v, m) === m);
  const extended = stored.some(([p, len]) => len > m && lcp(p, v, m) === m);
  return {
    plens: [...plens].sort((a, b) => a - b),
    maskbits: isStored && !extended ? m : m + 1,
  };
}

/** Values with much shared structure: a few bases with random low bits or one flipped bit. */
function arbValue(words: number): fc.Arbitrary<number[]> {
  const base = fc.constantFrom(0x0a000000, 0x0a000001, 0x0a010000, 0xc0a80101, 0x80000000, 0);
  return fc
    .tuple(
      fc.array(base, { minLength: words, maxLength: words }),
      fc.integer({ min: -1, max: words * 32 - 1 }),
    )
    .map(([ws, flip]) => {
      const out = ws.map((w) => w >>> 0);
      if (flip >= 0) out[flip >>> 5] = (out[flip >>> 5]! ^ (1 << (31 - (flip & 31)))) >>> 0;
      return out;
    });
}

/** The first `len` bits of v (the rest zero). */
function prefixOf(v: readonly number[], len: number): number[] {
  return v.map((w, i) => {
    const lo = i * 32;
    if (len >= lo + 32) return w >>> 0;
    if (len <= lo) return 0;
    return (w & ~(0xffffffff >>> (len - lo))) >>> 0;
  });
}

for (const bits of [32, 128]) {
  t.test(`trie of ${bits}-bit prefixes agrees with the model under inserts and removes`, (t) => {
    const words = bits / 32;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(arbValue(words), fc.integer({ min: 1, max: bits })), { maxLength: 30 }),
        fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }),
        fc.array(arbValue(words), { minLength: 1, maxLength: 10 }),
        (adds, drop, probes) => {
          const trie = new PrefixTrie(bits);
          // Keys carry junk in front of the field (word offset 3) and beyond the prefix.
          const keyOf = (v: readonly number[]) => Uint32Array.from([7, 7, 7, ...v, 7]);
          const stored: [number[], number][] = [];
          for (const [v, len] of adds) {
            trie.insert(keyOf(v), 3, len);
            stored.push([prefixOf(v, len), len]);
          }
          const kept = stored.filter((s, i) => {
            if (!drop[i]) return true;
            if (!trie.remove(keyOf(s[0]), 3, s[1])) throw new Error('remove failed');
            return false;
          });
          if (trie.size !== kept.length) return false;
          // The stored multiset.
          const got = [...trie.prefixes()]
            .flatMap(([v, len, n]) => Array.from({ length: n }, () => `${v.join('.')}/${len}`))
            .sort();
          const want = kept.map(([v, len]) => `${v.join('.')}/${len}`).sort();
          if (JSON.stringify(got) !== JSON.stringify(want)) return false;
          // Pruned: at most one branch node per distinct prefix beyond the first.
          const distinct = new Set(want).size;
          if (trie.nodeCount > Math.max(0, 2 * distinct - 1)) return false;
          let gen = 1;
          for (const v of probes) {
            gen++;
            const maskbits = trie.lookup(keyOf(v), 3, gen);
            const m = model(kept, v, bits);
            if (maskbits !== m.maskbits) return false;
            for (let l = 1; l <= bits; l++)
              if (trie.matched(l, gen) !== m.plens.includes(l)) return false;
          }
          return true;
        },
      ),
      { seed: 4242, numRuns: bits === 32 ? 800 : 400 },
    );
    t.pass('random prefix sets');
    t.end();
  });
}

for (const bits of [32, 128]) {
  t.test(`${bits}-bit trie: queued inserts interleaved with lookups and removes`, (t) => {
    // Inserts are queued until the next read (PrefixTrie.flush): every read must see all of
    // them, whatever the mix of operations in between.
    const words = bits / 32;
    const op = fc.oneof(
      fc.tuple(fc.constant('add' as const), arbValue(words), fc.integer({ min: 1, max: bits })),
      fc.tuple(fc.constant('del' as const), fc.nat(), fc.constant(0)),
      fc.tuple(fc.constant('look' as const), arbValue(words), fc.constant(0)),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const trie = new PrefixTrie(bits);
        const keyOf = (v: readonly number[]) => Uint32Array.from([9, ...v, 9]);
        const stored: [number[], number][] = [];
        let gen = 1;
        for (const o of ops) {
          if (o[0] === 'add') {
            trie.insert(keyOf(o[1]), 1, o[2]);
            stored.push([prefixOf(o[1], o[2]), o[2]]);
          } else if (o[0] === 'del') {
            if (stored.length === 0) {
              if (trie.remove(keyOf(new Array<number>(words).fill(0)), 1, bits)) return false;
              continue;
            }
            const [v, len] = stored.splice(o[1] % stored.length, 1)[0]!;
            if (!trie.remove(keyOf(v), 1, len)) return false;
          } else {
            gen++;
            const maskbits = trie.lookup(keyOf(o[1]), 1, gen);
            const m = model(stored, o[1], bits);
            if (maskbits !== m.maskbits) return false;
            for (let l = 1; l <= bits; l++)
              if (trie.matched(l, gen) !== m.plens.includes(l)) return false;
          }
          if (trie.size !== stored.length) return false;
        }
        return stored.length > 0 || trie.nodeCount === 0;
      }),
      { seed: 777, numRuns: bits === 32 ? 600 : 300 },
    );
    t.pass('random operation sequences');
    t.end();
  });
}

t.test('trie: a bulk of queued inserts, then removes before any lookup', (t) => {
  const trie = new PrefixTrie(32);
  const key = new Uint32Array(1);
  for (let i = 0; i < 5000; i++) {
    key[0] = (0x0a000000 + i * 7) >>> 0;
    trie.insert(key, 0, 32);
  }
  key[0] = 0x0a000000;
  trie.insert(key, 0, 8);
  t.equal(trie.size, 5001, 'size counts queued prefixes');
  let removed = 0;
  for (let i = 0; i < 5000; i += 2) {
    key[0] = (0x0a000000 + i * 7) >>> 0;
    if (trie.remove(key, 0, 32)) removed++;
  }
  t.equal(removed, 2500, 'every queued /32 can be removed');
  t.equal(trie.size, 2501);
  key[0] = (0x0a000000 + 7) >>> 0;
  t.equal(trie.lookup(key, 0, 5), 32, 'a stored /32: the whole field');
  t.ok(trie.matched(32, 5) && trie.matched(8, 5), 'both lengths match');
  key[0] = 0x0a000000;
  // 10.0.0.0 vs the nearest stored /32, 10.0.0.7: they agree on 29 bits, so 30 are consulted.
  t.equal(trie.lookup(key, 0, 6), 30, 'the walk goes down towards the /32s still stored');
  t.notOk(trie.matched(32, 6), 'removed /32 no longer matches');
  t.ok(trie.matched(8, 6), 'the /8 still does');
  for (let i = 1; i < 5000; i += 2) {
    key[0] = (0x0a000000 + i * 7) >>> 0;
    trie.remove(key, 0, 32);
  }
  key[0] = 0x0a000000;
  t.ok(trie.remove(key, 0, 8));
  t.equal(trie.size, 0);
  t.equal(trie.nodeCount, 0, 'every node freed');
  t.end();
});

t.test('trie: removing what is not there, bad lengths, examples', (t) => {
  const trie = new PrefixTrie(32);
  t.throws(() => new PrefixTrie(48), RangeError);
  t.throws(() => trie.insert([0], 0, 0), RangeError);
  t.throws(() => trie.insert([0], 0, 33), RangeError);
  t.equal(trie.lookup([0x0a000001], 0, 1), 0, 'empty trie: nothing consulted');
  trie.insert([0x0a000000], 0, 8);
  t.notOk(trie.remove([0x0a000000], 0, 16), 'not stored at /16');
  t.notOk(trie.remove([0x0b000000], 0, 8), 'not stored');
  t.equal(trie.lookup([0xc0a80101], 0, 2), 1, '192.168.1.1 leaves 10/8 at bit 0');
  t.notOk(trie.matched(8, 2));
  t.equal(trie.lookup([0x0b000000], 0, 3), 8, '11.0.0.0 differs at bit 7');
  t.equal(trie.lookup([0x0a010203], 0, 4), 8, 'inside 10/8, a leaf: 8 bits');
  t.ok(trie.matched(8, 4));
  trie.insert([0x0a010000], 0, 16);
  t.equal(trie.lookup([0x0a020000], 0, 5), 15, '10.2/16 vs 10.1/16: differs at bit 14');
  t.ok(trie.matched(8, 5), '10/8 still matched');
  t.notOk(trie.matched(16, 5));
  t.ok(trie.remove([0x0a000000], 0, 8));
  t.ok(trie.remove([0x0a010000], 0, 16));
  t.equal(trie.size, 0);
  t.equal(trie.nodeCount, 0, 'every node freed');
  t.equal(trie.lookup([0x0a010000], 0, 6), 0, 'empty again');
  // Shared prefixes are counted; nodes are reused after removals.
  for (let i = 0; i < 3; i++) trie.insert([0xc0a80000], 0, 16);
  trie.insert([0xc0a90000], 0, 16);
  t.equal(trie.size, 4);
  t.equal(trie.nodeCount, 3, 'two prefixes and their branch node');
  t.ok(trie.remove([0xc0a80000], 0, 16));
  t.equal(trie.nodeCount, 3, 'still two rules on 192.168/16');
  t.ok(trie.remove([0xc0a90000], 0, 16));
  t.equal(trie.nodeCount, 1, 'branch pruned with its leaf');
  t.equal(trie.lookup([0xc0a80101], 0, 7), 16);
  t.ok(trie.matched(16, 7));
  t.end();
});

// ------------------------------------------------------------------ classifier with tries

interface RuleSpec {
  priority: number;
  inPort: number | undefined;
  ethType: number | undefined;
  nwSrc: [number, number] | undefined;
  nwDst: [number, number] | undefined;
  v6Dst: [number[], number] | undefined;
  tp: [number, number] | undefined;
  addedIn: number;
  removedIn: number;
}

const ETH_TYPES = [0x0800, 0x86dd, 0x0806];
const PORTS = [80, 8080, 443, 0x00501f90, 0x1f900050, 0];
const v4 = arbValue(1).map((v) => v[0]!);
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 });

const arbRuleSpec: fc.Arbitrary<RuleSpec> = fc.record({
  priority: fc.integer({ min: 0, max: 10 }),
  inPort: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined, freq: 4 }),
  ethType: maybe(fc.constantFrom(...ETH_TYPES)),
  nwSrc: maybe(fc.tuple(v4, fc.integer({ min: 0, max: 32 }))),
  nwDst: maybe(fc.tuple(v4, fc.integer({ min: 0, max: 32 }))),
  v6Dst: fc.option(fc.tuple(arbValue(4), fc.integer({ min: 1, max: 128 })), {
    nil: undefined,
    freq: 3,
  }),
  // Ports value and mask: exact, a prefix of tp_src+tp_dst, or any mask.
  tp: maybe(
    fc.tuple(
      fc.constantFrom(...PORTS),
      fc.oneof(
        fc.constantFrom(0xffff, 0xffff0000, 0xffffffff, 0xfff0, 0xff00ff00),
        fc.integer({ min: 1, max: 0xffffffff }),
      ),
    ),
  ),
  addedIn: fc.integer({ min: 0, max: 3 }),
  removedIn: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constant(VERSION_MAX)),
});

const prefixMask = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);

function buildRule(s: RuleSpec, id: number): ClsRule<number> {
  const key = newFlowKey();
  const mask = newFlowKey();
  const set = (w: number, v: number, m: number) => {
    mask[w] = m >>> 0;
    key[w] = (v & m) >>> 0;
  };
  if (s.inPort !== undefined) set(W.IN_PORT, s.inPort, 0xffffffff);
  if (s.ethType !== undefined) set(W.ETH_TYPE, s.ethType, 0xffff);
  if (s.nwSrc) set(W.NW_SRC, s.nwSrc[0], prefixMask(s.nwSrc[1]));
  if (s.nwDst) set(W.NW_DST, s.nwDst[0], prefixMask(s.nwDst[1]));
  if (s.v6Dst) {
    const [v, len] = s.v6Dst;
    for (let i = 0; i < 4; i++)
      set(W.IPV6_DST + i, v[i]!, prefixMask(Math.max(0, Math.min(32, len - 32 * i))));
  }
  if (s.tp) set(W.TP, s.tp[0], s.tp[1]);
  return {
    key,
    mask,
    priority: s.priority,
    value: id,
    addedIn: s.addedIn,
    removedIn: s.removedIn,
  };
}

const arbPacket: fc.Arbitrary<FlowKey> = fc
  .record({
    inPort: fc.integer({ min: 0, max: 2 }),
    ethType: fc.constantFrom(...ETH_TYPES),
    nwSrc: v4,
    nwDst: v4,
    v6Dst: arbValue(4),
    tp: fc.oneof(fc.constantFrom(...PORTS), fc.integer({ min: 0, max: 0xffffffff })),
  })
  .map((p) => {
    const k = newFlowKey();
    k[W.IN_PORT] = p.inPort;
    k[W.ETH_TYPE] = p.ethType;
    k[W.NW_SRC] = p.nwSrc;
    k[W.NW_DST] = p.nwDst;
    for (let i = 0; i < 4; i++) k[W.IPV6_DST + i] = p.v6Dst[i]!;
    k[W.TP] = p.tp >>> 0;
    return k;
  });

const arbNoise = fc
  .array(fc.integer({ min: 0, max: 0xffffffff }), {
    minLength: FLOW_KEY_WORDS,
    maxLength: FLOW_KEY_WORDS,
  })
  .map((ws) => Uint32Array.from(ws));

/** Some bits already un-wildcarded by earlier tables (or none). */
const arbWc0 = fc.oneof(
  fc.constant(newFlowKey()),
  arbPacket.map((k) => {
    const wc = newFlowKey();
    wc[W.NW_DST] = k[W.NW_DST]! & 0xffffff00;
    wc[W.ETH_TYPE] = 0xffff;
    return wc;
  }),
);

function oracle(
  rules: readonly ClsRule<number>[],
  pkt: FlowKey,
  version: number,
): ClsRule<number> | undefined {
  let best: ClsRule<number> | undefined;
  for (const r of rules)
    if (visibleAt(r, version) && matches(pkt, r) && (!best || r.priority > best.priority)) best = r;
  return best;
}

function within(p: FlowKey, wc: FlowKey, q: FlowKey): FlowKey {
  const out = newFlowKey();
  for (let i = 0; i < FLOW_KEY_WORDS; i++) out[i] = ((p[i]! & wc[i]!) | (q[i]! & ~wc[i]!)) >>> 0;
  return out;
}

const CONFIGS: [string, ClassifierOptions][] = [
  ['default tries (nw_dst, nw_src, ports)', {}],
  ['nw_src, ipv6_dst, nw_dst', { prefixes: ['nw_src', 'ipv6_dst', 'nw_dst'] }],
];

for (const [name, opts] of CONFIGS) {
  t.test(`megaflow property with prefix rules, ${name}`, (t) => {
    fc.assert(
      fc.property(
        fc.array(arbRuleSpec, { maxLength: 30 }),
        fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }),
        arbPacket,
        fc.integer({ min: 0, max: 4 }),
        arbWc0,
        fc.array(fc.oneof(arbPacket, arbNoise), { minLength: 1, maxLength: 8 }),
        (specs, drop, p, v, wc0, others) => {
          const cls = new Classifier<number>(opts);
          const plain = new Classifier<number>({ prefixes: [], portsTrie: false });
          const all = specs.map(buildRule);
          for (const r of all) {
            cls.insert(r);
            plain.insert({ ...r });
          }
          // Random removals (trie nodes pruned).
          const rules = all.filter((r, i) => !(drop[i] && cls.remove(r)));
          const kept = new Set(rules.map((r) => r.value));
          for (const r of [...plain.rules()]) if (!kept.has(r.value)) plain.remove(r);
          const wc = wc0.slice();
          const r1 = cls.lookup(p, v, wc);
          if (r1?.priority !== oracle(rules, p, v)?.priority) return false;
          // Never wider than the rules' masks (plus what was there before).
          const wcPlain = wc0.slice();
          const r0 = plain.lookup(p, v, wcPlain);
          if (r0?.value !== r1?.value) return false;
          for (let i = 0; i < FLOW_KEY_WORDS; i++) {
            let u = wc0[i]!;
            for (const r of rules) u |= r.mask[i]!;
            if ((wc[i]! & ~u) !== 0) return false;
            // Never more bits than without tries.
            if ((wc[i]! & ~wcPlain[i]!) !== 0) return false;
          }
          // Same rule for every packet agreeing with p on the bits of wc.
          for (const q of others) {
            const q2 = within(p, wc, q);
            if (cls.lookup(q2, v) !== r1) return false;
            if (oracle(rules, q2, v)?.priority !== r1?.priority) return false;
          }
          return true;
        },
      ),
      { seed: 1729, numRuns: 1500 },
    );
    t.pass('1500 random cases');
    t.end();
  });
}

// ------------------------------------------------------------------ worked examples

function rule(
  fields: { w: number; v: number; m: number }[],
  priority: number,
  value: string,
): ClsRule<string> {
  const key = newFlowKey();
  const mask = newFlowKey();
  for (const { w, v, m } of fields) {
    mask[w] = m >>> 0;
    key[w] = (v & m) >>> 0;
  }
  return { key, mask, priority, value, addedIn: 0, removedIn: VERSION_MAX };
}
const ip = { w: W.ETH_TYPE, v: 0x0800, m: 0xffff };
const dst = (v: number, len: number) => ({ w: W.NW_DST, v, m: prefixMask(len) });
const src = (v: number, len: number) => ({ w: W.NW_SRC, v, m: prefixMask(len) });
function pkt(fields: Record<number, number>): FlowKey {
  const k = newFlowKey();
  for (const [w, v] of Object.entries(fields)) k[Number(w)] = v;
  return k;
}
const hex = (n: number | undefined) => `0x${(n ?? 0).toString(16).padStart(8, '0')}`;

t.test('nw_dst=10.0.0.0/8: a miss un-wildcards only the bits the trie walk used', (t) => {
  const cls = new Classifier<string>();
  t.same(cls.prefixes, DEFAULT_PREFIXES);
  cls.insert(rule([ip, dst(0x0a000000, 8)], 10, 'ten'));
  let wc = newFlowKey();
  t.equal(cls.lookup(pkt({ [W.ETH_TYPE]: 0x0800, [W.NW_DST]: 0xc0a80101 }), 0, wc), undefined);
  t.equal(hex(wc[W.NW_DST]), hex(0x80000000), '192.168.1.1: nw_dst=128.0.0.0/1 (OVS: the same)');
  t.equal(wc[W.ETH_TYPE], 0xffff, 'the L2 stage before it');
  wc = newFlowKey();
  t.equal(cls.lookup(pkt({ [W.ETH_TYPE]: 0x0800, [W.NW_DST]: 0x0b000001 }), 0, wc), undefined);
  t.equal(hex(wc[W.NW_DST]), hex(0xff000000), '11.0.0.1 differs at bit 7: /8');
  wc = newFlowKey();
  t.equal(cls.lookup(pkt({ [W.ETH_TYPE]: 0x0800, [W.NW_DST]: 0x0a010101 }), 0, wc)?.value, 'ten');
  t.equal(hex(wc[W.NW_DST]), hex(0xff000000), 'a hit: the whole /8');

  // Without tries: the whole subtable mask.
  const plain = new Classifier<string>({ prefixes: [] });
  plain.insert(rule([ip, dst(0x0a000000, 8)], 10, 'ten'));
  wc = newFlowKey();
  plain.lookup(pkt({ [W.ETH_TYPE]: 0x0800, [W.NW_DST]: 0xc0a80101 }), 0, wc);
  t.equal(hex(wc[W.NW_DST]), hex(0xff000000), 'no tries: /8');

  // A non-IPv4 packet never skips on the trie (nw_dst is arp_tpa there).
  cls.insert(rule([{ w: W.NW_DST, v: 0x0a000000, m: 0xff000000 }], 5, 'any-ten'));
  wc = newFlowKey();
  t.equal(
    cls.lookup(pkt({ [W.ETH_TYPE]: 0x0806, [W.NW_DST]: 0x0a000001 }), 0, wc)?.value,
    'any-ten',
    'ARP with tpa 10.0.0.1 matches the rule without eth_type',
  );
  wc = newFlowKey();
  t.equal(cls.lookup(pkt({ [W.ETH_TYPE]: 0x0806, [W.NW_DST]: 0xc0000001 }), 0, wc), undefined);
  t.equal(hex(wc[W.NW_DST]), hex(0xff000000), 'ARP: the field is not an IPv4 address, full /8');
  t.end();
});

t.test('several prefix lengths: the walk may go deeper than a subtable needs', (t) => {
  const cls = new Classifier<string>();
  cls.insert(rule([ip, dst(0x0a000000, 8)], 30, '10/8'));
  cls.insert(rule([ip, dst(0x0a010000, 16)], 20, '10.1/16'));
  cls.insert(rule([ip, dst(0x0a010100, 24)], 10, '10.1.1/24'));
  // 10.1.2.3: matches /8 (highest priority): a hit, full /8.
  let wc = newFlowKey();
  t.equal(cls.lookup(pkt({ [W.ETH_TYPE]: 0x0800, [W.NW_DST]: 0x0a010203 }), 0, wc)?.value, '10/8');
  t.equal(hex(wc[W.NW_DST]), hex(0xff000000));
  // 11.1.1.1: the trie walk fails at bit 7 for every subtable: /8 once.
  wc = newFlowKey();
  t.equal(cls.lookup(pkt({ [W.ETH_TYPE]: 0x0800, [W.NW_DST]: 0x0b010101 }), 0, wc), undefined);
  t.equal(hex(wc[W.NW_DST]), hex(0xff000000), 'every subtable skipped with 8 bits');
  // Priorities inverted: the /24 first.
  const inv = new Classifier<string>();
  inv.insert(rule([ip, dst(0x0a000000, 8)], 10, '10/8'));
  inv.insert(rule([ip, dst(0x0a010100, 24)], 30, '10.1.1/24'));
  wc = newFlowKey();
  t.equal(inv.lookup(pkt({ [W.ETH_TYPE]: 0x0800, [W.NW_DST]: 0x0a020000 }), 0, wc)?.value, '10/8');
  t.equal(
    hex(wc[W.NW_DST]),
    hex(0xfffe0000),
    '10.2.0.0: the /24 subtable is skipped with the 15 bits the walk used, then the /8 hits',
  );
  t.end();
});

t.test('nw_src and nw_dst together: the first trie that rules the subtable out decides', (t) => {
  const cls = new Classifier<string>();
  cls.insert(rule([ip, src(0x0a000000, 8), dst(0xc0a80000, 16)], 10, 'r'));
  const wc = newFlowKey();
  t.equal(
    cls.lookup(
      pkt({ [W.ETH_TYPE]: 0x0800, [W.NW_SRC]: 0x0a000001, [W.NW_DST]: 0x0a000001 }),
      0,
      wc,
    ),
    undefined,
  );
  // nw_dst is checked first (OVS's order ip_dst, ip_src): 10.0.0.1 vs 192.168/16 differ at bit 0.
  t.equal(hex(wc[W.NW_DST]), hex(0x80000000), 'nw_dst: one bit');
  t.equal(wc[W.NW_SRC], 0, 'nw_src not consulted');
  t.end();
});

t.test('ports trie: a miss on tp_dst un-wildcards the port bits needed', (t) => {
  const cls = new Classifier<string>();
  const tcp = { w: W.NW, v: 6, m: 0xff };
  cls.insert(rule([ip, tcp, { w: W.TP, v: 8080, m: 0xffff }], 10, 'web'));
  let wc = newFlowKey();
  t.equal(
    cls.lookup(pkt({ [W.ETH_TYPE]: 0x0800, [W.NW]: 6, [W.TP]: (1234 << 16) | 80 }), 0, wc),
    undefined,
  );
  t.equal(hex(wc[W.TP]), hex(0xf000), 'tp_dst=0x0/0xf000 (80 vs 8080 differ at bit 3 of 16)');
  t.equal(wc[W.NW], 0xff, 'the L3 stage was consulted');
  wc = newFlowKey();
  t.equal(cls.lookup(pkt({ [W.ETH_TYPE]: 0x0800, [W.NW]: 6, [W.TP]: 8080 }), 0, wc)?.value, 'web');
  t.equal(hex(wc[W.TP]), hex(0xffff), 'a hit: all of tp_dst');
  const off = new Classifier<string>({ portsTrie: false });
  off.insert(rule([ip, tcp, { w: W.TP, v: 8080, m: 0xffff }], 10, 'web'));
  wc = newFlowKey();
  off.lookup(pkt({ [W.ETH_TYPE]: 0x0800, [W.NW]: 6, [W.TP]: 80 }), 0, wc);
  t.equal(hex(wc[W.TP]), hex(0xffff), 'no ports trie: all of tp_dst');
  t.end();
});

t.test('versions: a rule not yet visible stays in the trie (conservative, never wrong)', (t) => {
  const cls = new Classifier<string>();
  cls.insert(rule([ip, dst(0x0a000000, 8)], 10, 'ten'), 0);
  const staged = rule([ip, dst(0xc0a80000, 16)], 10, 'staged');
  cls.insert(staged, 1);
  const p = pkt({ [W.ETH_TYPE]: 0x0800, [W.NW_DST]: 0xc0a80101 });
  let wc = newFlowKey();
  t.equal(cls.lookup(p, 0, wc), undefined, 'version 0: the staged rule is invisible');
  t.equal(
    hex(wc[W.NW_DST]),
    hex(0xffff0000),
    'its prefix is in the trie: the /16 subtable is consulted (conservative), /8 skipped',
  );
  t.equal(cls.lookup(p, 1)?.value, 'staged', 'version 1 sees it');
  cls.retire(staged, 2);
  cls.publish(2);
  wc = newFlowKey();
  t.equal(cls.lookup(p, 2, wc), undefined, 'retired: invisible, still in the trie');
  t.equal(hex(wc[W.NW_DST]), hex(0xffff0000));
  cls.remove(staged);
  wc = newFlowKey();
  t.equal(cls.lookup(p, 2, wc), undefined);
  t.equal(hex(wc[W.NW_DST]), hex(0x80000000), 'removed: out of the trie, one bit');
  t.end();
});

t.test('masks that are not prefixes get no trie; setPrefixes rebuilds the tries', (t) => {
  const cls = new Classifier<string>();
  cls.insert(rule([ip, { w: W.NW_DST, v: 0x0a000001, m: 0xff0000ff }], 10, 'odd'));
  cls.insert(rule([ip, src(0x0a000000, 8)], 5, 'src'));
  const p = pkt({ [W.ETH_TYPE]: 0x0800, [W.NW_SRC]: 0xc0000001, [W.NW_DST]: 0xc0000001 });
  let wc = newFlowKey();
  t.equal(cls.lookup(p, 0, wc), undefined);
  t.equal(hex(wc[W.NW_DST]), hex(0xff0000ff), 'non-CIDR nw_dst: the whole mask');
  t.equal(hex(wc[W.NW_SRC]), hex(0x80000000), 'nw_src trie: one bit');
  cls.setPrefixes(['nw_dst']);
  t.same(cls.prefixes, ['nw_dst']);
  wc = newFlowKey();
  t.equal(cls.lookup(p, 0, wc), undefined);
  t.equal(hex(wc[W.NW_SRC]), hex(0xff000000), 'no nw_src trie any more: /8');
  cls.setPrefixes(['nw_src', 'nw_dst']);
  wc = newFlowKey();
  t.equal(cls.lookup(p, 0, wc), undefined);
  t.equal(hex(wc[W.NW_SRC]), hex(0x80000000), 'rebuilt from the stored rules');
  t.throws(() => cls.setPrefixes(['nw_src', 'nw_dst', 'ipv6_src', 'ipv6_dst']), RangeError);
  t.throws(() => cls.setPrefixes(['nw_src', 'nw_src']), RangeError);
  t.throws(() => new Classifier({ prefixes: ['eth_dst' as 'nw_src'] }), RangeError);
  t.end();
});

t.test('ipv6_dst trie: 128-bit prefixes', (t) => {
  const cls = new Classifier<string>({ prefixes: ['ipv6_dst'] });
  const v6 = { w: W.ETH_TYPE, v: 0x86dd, m: 0xffff };
  // 2001:db8::/32 and 2001:db8:0:1::/64.
  cls.insert(rule([v6, { w: W.IPV6_DST, v: 0x20010db8, m: 0xffffffff }], 10, '/32'));
  cls.insert(
    rule(
      [
        v6,
        { w: W.IPV6_DST, v: 0x20010db8, m: 0xffffffff },
        { w: W.IPV6_DST + 1, v: 1, m: 0xffffffff },
      ],
      20,
      '/64',
    ),
  );
  const p = pkt({ [W.ETH_TYPE]: 0x86dd, [W.IPV6_DST]: 0x20010db9, [W.IPV6_DST + 1]: 1 });
  const wc = newFlowKey();
  t.equal(cls.lookup(p, 0, wc), undefined);
  t.equal(hex(wc[W.IPV6_DST]), hex(0xffffffff), '2001:db9:: differs at bit 31');
  t.equal(wc[W.IPV6_DST + 1], 0, 'the second word not consulted');
  const q = pkt({ [W.ETH_TYPE]: 0x86dd, [W.IPV6_DST]: 0x20010db8, [W.IPV6_DST + 1]: 2 });
  const wq = newFlowKey();
  t.equal(cls.lookup(q, 0, wq)?.value, '/32');
  t.equal(hex(wq[W.IPV6_DST + 1]), hex(0xfffffffe), 'the /64 skipped after 63 bits');
  t.end();
});

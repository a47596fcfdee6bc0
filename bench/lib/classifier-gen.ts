/**
 * The rule set and lookup stream of OVS 3.1's classifier benchmark
 * (`ovstest test-classifier benchmark <n_rules> <n_priorities> <n_subtables> <n_threads>
 * <n_lookups>`), rebuilt for tsvs's {@link Classifier} so that both classifiers answer the same
 * kind of questions. Our own code from the facts of OVS's benchmark:
 *
 * - 13 fields, each with exactly two possible values ({@link BENCH_FIELDS}): tunnel id,
 *   metadata, IPv4 source and destination, in_port, VLAN TCI, Ethernet type, L4 source and
 *   destination ports, Ethernet source and destination, IP protocol, DSCP.
 * - One pseudo-random generator, OVS's per-thread xorshift32 seeded with 1
 *   ({@link OvsRandom}), drawn in OVS's order: the wildcard sets of the subtables (13-bit sets,
 *   all different), a shuffle of the priorities `i × 129`, 8 192 lookup flows, then per rule a
 *   priority, a subtable and a 13-bit value pattern.
 * - A rule whose match and priority equal an existing rule's is dropped (OVS checks with
 *   `classifier_find_rule_exactly`), so fewer than `n_rules` rules may be inserted.
 * - A rule of a subtable whose wildcard set is empty gets priority 0.
 * - Lookups (one thread): the generator is re-seeded with 1 and each lookup takes a random one
 *   of the 8 192 flows; a lookup that returns a rule is a hit.
 *
 * What the two variants ({@link WildcardMode}) mean: in OVS 3.1's benchmark every rule matches
 * all 13 fields exactly whatever its subtable's wildcard set (`make_rule` does not apply the
 * set; it only decides priority 0 for an empty set), so there is always exactly ONE mask
 * (`'ovs31'`). `'honoured'` wildcards the fields of the set, giving exactly `n_subtables`
 * distinct masks (as the benchmark's parameters describe); bench/ovs-ovstest.sh --wildcards
 * builds the same change into OVS's binary.
 *
 * Identical to OVS: the subtable wildcard sets, the priority order, the 8 192 lookup flows and
 * the order in which lookups pick them. Not identical: the rules themselves. OVS's generator
 * is also drawn by its hash tables (cmap/ccmap draw a new hash basis whenever they grow) while
 * the rules are inserted, so its rule stream diverges from ours after the first insertion; ours
 * comes from the same distribution, and the hit rates agree within sampling error.
 */
import { Classifier, VERSION_MAX, type ClsRule } from '../../ofproto/classifier.js';
import {
  field,
  maskField,
  newFlowKey,
  setFieldBig,
  type FieldDesc,
  type FlowKey,
} from '../../lib/packet/flow-key.js';

/** OVS's `random_uint32`/`random_range`: xorshift32 (shifts 13, 17, 5) on a non-zero seed. */
export class OvsRandom {
  private s: number;

  /** Starts from `seed` (OVS's `random_set_seed`); the seed must not be 0. */
  constructor(seed: number) {
    if (seed >>> 0 === 0) throw new RangeError('OvsRandom: seed must not be 0');
    this.s = seed >>> 0;
  }

  /** The next 32-bit value (unsigned). */
  next(): number {
    let s = this.s;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.s = s >>> 0;
    return this.s;
  }

  /** A value in [0, max): `next() % max`, as OVS's `random_range` (max ≥ 1). */
  range(max: number): number {
    return this.next() % max;
  }
}

/** One benchmark field: its OVS name, our flow-key field, its two values (index 0 and 1). */
export interface BenchField {
  /** The field's name in OVS's benchmark (its `struct flow` member, shortened). */
  readonly ovs: string;
  /** Our flow-key field (lib/packet/flow-key.ts FIELDS). */
  readonly field: FieldDesc;
  /** The two values the field takes, as our field holds them. */
  readonly values: readonly [bigint, bigint];
}

function bf(ovs: string, name: string, v0: bigint, v1: bigint): BenchField {
  return Object.freeze({ ovs, field: field(name), values: [v0, v1] as const });
}

/**
 * The 13 fields in OVS's field-index order (bit `i` of a wildcard set or value pattern is field
 * `i`). DSCP: OVS stores the ToS byte (48 or 0, matched under mask 0xfc); our `ip_dscp` holds
 * the DSCP itself, 48 >> 2 = 12. in_port's second value is OFPP_LOCAL (OpenFlow 1.3 number).
 */
export const BENCH_FIELDS: readonly BenchField[] = Object.freeze([
  bf('tun_id', 'tunnel_id', 0n, 0xfedcba9876543210n),
  bf('metadata', 'metadata', 0n, 0xfedcba9876543210n),
  bf('nw_src', 'ipv4_src', 0xc0a80001n, 0xc0a04455n),
  bf('nw_dst', 'ipv4_dst', 0xc0a80002n, 0xc0a04455n),
  bf('in_port', 'in_port', 1n, 0xfffffffen),
  bf('vlan_tci', 'vlan_tci', 101n, 0n),
  bf('dl_type', 'eth_type', 0x0800n, 0x0806n),
  bf('tp_src', 'tp_src', 49362n, 80n),
  bf('tp_dst', 'tp_dst', 6667n, 22n),
  bf('dl_src', 'eth_src', 0x0002e30f80a4n, 0x5e337f5f1e99n),
  bf('dl_dst', 'eth_dst', 0x4a2771ae64c1n, 0xffffffffffffn),
  bf('nw_proto', 'ip_proto', 6n, 1n),
  bf('nw_dscp', 'ip_dscp', 12n, 0n),
]);

/** Number of benchmark fields (bits of a wildcard set or value pattern). */
export const N_FIELDS = 13;
/** All 13 field bits. */
export const ALL_FIELDS = (1 << N_FIELDS) - 1;

/**
 * The order in which a lookup flow's fields take their value index from the random number, as
 * OVS does (the number's lowest bit goes to the first field listed, and so on).
 */
export const LOOKUP_FIELD_ORDER: readonly number[] = Object.freeze([
  2, 3, 0, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12,
]);

/**
 * The range of a lookup flow's random number: the product of the value counts of every field
 * but metadata, 2^12 (an OVS fact). So the last field in {@link LOOKUP_FIELD_ORDER}, DSCP,
 * always takes value 0 in lookups, while metadata varies.
 */
export const LOOKUP_VALUE_SPACE = 1 << 12;

/** Number of lookup flows (twice {@link LOOKUP_VALUE_SPACE}, as OVS). */
export const N_LOOKUP_FLOWS = 2 * LOOKUP_VALUE_SPACE;

/** `'ovs31'`: every rule matches every field exactly (OVS 3.1's benchmark as shipped, one mask). `'honoured'`: the subtable's wildcard set is applied (n_subtables masks). */
export type WildcardMode = 'ovs31' | 'honoured';

/** The benchmark's parameters (`n_threads` is always 1 here). */
export interface GenParams {
  /** Rules to generate (OVS's `<n_rules>`); duplicates are dropped. */
  readonly nRules: number;
  /** Distinct priorities (OVS's `<n_priorities>`), ≥ 1. */
  readonly nPriorities: number;
  /** Subtables, i.e. wildcard sets (OVS's `<n_subtables>`), 1 ≤ n ≤ 8192. */
  readonly nSubtables: number;
  /** See {@link WildcardMode}. */
  readonly mode: WildcardMode;
}

/** A generated benchmark: the classifier and everything needed to check and run it. */
export interface Generated {
  /** The classifier holding the inserted rules; its value is the rule's index in {@link rules}. */
  readonly cls: Classifier<number>;
  /** The inserted rules, in insertion order. */
  readonly rules: readonly ClsRule<number>[];
  /** Rules drawn but dropped as duplicates (same match and priority). */
  readonly duplicates: number;
  /** The subtables' wildcard sets (13-bit, all different), in OVS's order. */
  readonly wildcardSets: readonly number[];
  /** The priorities after OVS's shuffle. */
  readonly priorities: readonly number[];
  /** The {@link N_LOOKUP_FLOWS} lookup flows. */
  readonly flows: readonly FlowKey[];
  /** Each lookup flow's value pattern (bit i = value index of field i), for tests. */
  readonly flowPatterns: readonly number[];
}

/** Sets field `i` of `key` to its value `idx` (0 or 1). */
function setBenchField(key: FlowKey, i: number, idx: number): void {
  const f = BENCH_FIELDS[i]!;
  setFieldBig(key, f.field, f.values[idx]!);
}

/** The mask of a rule in mode `mode` whose subtable's wildcard set is `wcf`. */
export function benchMask(mode: WildcardMode, wcf: number): FlowKey {
  const mask = newFlowKey();
  for (let i = 0; i < N_FIELDS; i++)
    if (mode === 'ovs31' || (wcf & (1 << i)) === 0) maskField(mask, BENCH_FIELDS[i]!.field);
  return mask;
}

/** Builds the rule set and the lookup flows exactly in OVS's drawing order (see the file header). */
export function generate(p: GenParams): Generated {
  if (p.nSubtables < 1 || p.nSubtables > 1 << N_FIELDS)
    throw new RangeError(`n_subtables must be 1..${1 << N_FIELDS}`);
  if (p.nPriorities < 1) throw new RangeError('n_priorities must be ≥ 1');
  const rnd = new OvsRandom(1);

  // Wildcard sets, all different.
  const wildcardSets: number[] = [];
  for (let i = 0; i < p.nSubtables; i++) {
    let w: number;
    do w = rnd.next() & ALL_FIELDS;
    while (wildcardSets.includes(w));
    wildcardSets.push(w);
  }

  // Priorities i × 129, shuffled (Fisher–Yates from the front).
  const priorities: number[] = [];
  for (let i = 0; i < p.nPriorities; i++) priorities.push((i * 129) & 0x7fffffff);
  for (let k = 0, n = p.nPriorities; n > 1; n--, k++) {
    const j = k + rnd.range(n);
    const tmp = priorities[k]!;
    priorities[k] = priorities[j]!;
    priorities[j] = tmp;
  }

  // Lookup flows.
  const flows: FlowKey[] = [];
  const flowPatterns: number[] = [];
  for (let n = 0; n < N_LOOKUP_FLOWS; n++) {
    let x = rnd.range(LOOKUP_VALUE_SPACE);
    const key = newFlowKey();
    let pattern = 0;
    for (const i of LOOKUP_FIELD_ORDER) {
      const idx = x % 2;
      x = Math.floor(x / 2);
      setBenchField(key, i, idx);
      pattern |= idx << i;
    }
    flows.push(key);
    flowPatterns.push(pattern);
  }

  // Rules.
  const masks = new Map<number, FlowKey>();
  const cls = new Classifier<number>();
  const rules: ClsRule<number>[] = [];
  let duplicates = 0;
  for (let n = 0; n < p.nRules; n++) {
    const drawn = priorities[rnd.range(p.nPriorities)]!;
    const wcf = wildcardSets[rnd.range(p.nSubtables)]!;
    const pattern = rnd.next() & ALL_FIELDS;
    let mask = masks.get(wcf);
    if (!mask) masks.set(wcf, (mask = benchMask(p.mode, wcf)));
    const key = newFlowKey();
    for (let i = 0; i < N_FIELDS; i++) setBenchField(key, i, (pattern >>> i) & 1);
    for (let w = 0; w < key.length; w++) key[w] = (key[w]! & mask[w]!) >>> 0;
    const priority = wcf === 0 ? 0 : drawn;
    if (cls.findExact(key, mask, priority, 0)) {
      duplicates++;
      continue;
    }
    const rule: ClsRule<number> = {
      key,
      mask,
      priority,
      value: rules.length,
      addedIn: 0,
      removedIn: VERSION_MAX,
    };
    cls.insert(rule, 0);
    rules.push(rule);
  }
  return { cls, rules, duplicates, wildcardSets, priorities, flows, flowPatterns };
}

/** Outcome of a lookup run. */
export interface LookupRun {
  /** Lookups that returned a rule. */
  hits: number;
  /** Lookups that returned none. */
  misses: number;
  /** Wall milliseconds of the timed loop. */
  ms: number;
}

/**
 * Runs `nLookups` lookups as OVS's benchmark thread does: the generator re-seeded with 1, each
 * lookup on a random one of `flows`, at version 0; with `useWc`, a wildcard key is cleared
 * before every lookup and handed to it (wildcard tracking on), else none is passed.
 */
export function runLookups(
  cls: Classifier<number>,
  flows: readonly FlowKey[],
  nLookups: number,
  useWc: boolean,
): LookupRun {
  const rnd = new OvsRandom(1);
  const wc = newFlowKey();
  const n = flows.length;
  let hits = 0;
  const t0 = performance.now();
  if (useWc) {
    for (let i = 0; i < nLookups; i++) {
      const key = flows[rnd.range(n)]!;
      wc.fill(0);
      if (cls.lookup(key, 0, wc) !== undefined) hits++;
    }
  } else {
    for (let i = 0; i < nLookups; i++) {
      if (cls.lookup(flows[rnd.range(n)]!, 0) !== undefined) hits++;
    }
  }
  const ms = performance.now() - t0;
  return { hits, misses: nLookups - hits, ms };
}

/**
 * The hit rate the benchmark's design predicts for `n_rules` drawn rules: a lookup flow is hit
 * when at least one drawn rule agrees with it on that rule's exact fields. One draw picks a
 * subtable uniformly and a uniform 13-bit pattern, so it agrees with a given flow with
 * probability q = mean over subtables of 2^−(exact fields) (DSCP included: lookups fix it to
 * value 0, which half of the patterns have); draws are independent, so P(hit) = 1 − (1 − q)^n
 * (duplicates do not matter: they never change whether a flow is covered). In mode `'ovs31'`
 * every rule has 13 exact fields: P(hit) = 1 − (1 − 2^−13)^n, ≈ 0.705 for 10 000 rules.
 */
export function expectedHitRate(
  mode: WildcardMode,
  wildcardSets: readonly number[],
  nRules: number,
): number {
  let q = 0;
  for (const w of wildcardSets) {
    let exact = N_FIELDS;
    if (mode === 'honoured') for (let i = 0; i < N_FIELDS; i++) if (w & (1 << i)) exact--;
    q += 2 ** -exact;
  }
  q /= wildcardSets.length;
  return 1 - (1 - q) ** nRules;
}

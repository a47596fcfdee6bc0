/**
 * A packet classifier by tuple-space search, as OVS's lib/classifier.c does it: rules with the
 * same mask share a subtable (a hash table of masked keys); a lookup probes the subtables in
 * decreasing order of their highest priority and stops as soon as no remaining subtable can beat
 * the best match. Every lookup ORs the mask bits it consulted into a caller-supplied wildcard
 * key, so the datapath can install a megaflow that is as wide as is correct: every packet that
 * agrees with the looked-up one on those bits gets the same rule.
 *
 * Staged lookup (OVS's idea): a subtable's mask is split into up to four stages over the flow-key
 * words ({@link STAGE_OF_WORD}: metadata, L2, L3, L4). For every stage but the last the subtable
 * keeps the set of its rules' masked prefixes (the hash of the masked words of that stage and
 * all earlier ones). A lookup checks the stages in order and, as soon as no rule of the subtable
 * can agree with the packet on the prefix, un-wildcards only the words consulted so far and
 * moves on: a rule on `tcp_dst` with an `in_port` mismatch leaves `tcp_dst` wildcarded.
 *
 * Versioning (OVS's cls_rule versions): each rule is visible in versions [addedIn, removedIn).
 * {@link Classifier.insert} with a version makes a rule visible from that version,
 * {@link Classifier.retire} makes it invisible from a version, lookups take a version (default:
 * the classifier's published {@link Classifier.version}) and {@link Classifier.publish} advances
 * it. A batch (bundle) adds its rules at version V+1 and retires replaced ones at V+1, then
 * publishes V+1 at once; lookups at version V never see half a batch. Retired rules stay stored
 * until their owner removes them ({@link Classifier.remove}); staged changes are discarded by
 * removing the added rules and {@link Classifier.restore}-ing the retired ones.
 *
 * Prefix tries (OVS's `prefixes`, ofproto/cls-trie.ts): for each configured address field
 * ({@link PREFIX_FIELDS}; by default `nw_dst` then `nw_src`, as OVS) the classifier keeps a trie
 * of the prefixes of every rule whose subtable matches that field with a CIDR mask. When the
 * stage holding the field rules a subtable out (or, for the last stage, finds no rule), the
 * lookup consults the trie (walked once per lookup, on demand): when no stored prefix of the
 * subtable's length matches the packet, only the stages before it and the leading bits of the
 * field the trie walk consulted are un-wildcarded (`nw_dst=10.0.0.0/8` and a packet to
 * 192.168.1.1 give a megaflow with nw_dst=128.0.0.0/1, as OVS, not /8). OVS consults the tries
 * before the stage; after it is the same answer (a packet that gets past the stage matches some
 * rule's prefix, so no trie would skip the subtable; only a hash collision in a stage set makes
 * us consult more bits) and keeps the trie walks off the lookups that hit. A
 * subtable with ports in its mask keeps a ports trie too: when its last stage finds no rule,
 * only the port bits needed to tell the packet from every rule's ports are un-wildcarded. Tries
 * hold rules from insertion to removal whatever their versions (as OVS): an invisible rule can
 * only keep a subtable from being skipped, never make one skipped wrongly.
 */
import {
  FLOW_KEY_WORDS,
  W,
  hashFinish,
  hashKey,
  hashMix,
  type FlowKey,
} from '../lib/packet/flow-key.js';
import { PrefixTrie } from './cls-trie.js';

/**
 * The highest version; a rule with removedIn = VERSION_MAX is live forever. 2^30 − 1 keeps it a
 * small integer for V8 (stored inline in every rule instead of as a boxed heap number).
 */
export const VERSION_MAX = 0x3fffffff;

/** The lookup stages, in the order a lookup checks them. */
export const STAGES = ['metadata', 'l2', 'l3', 'l4'] as const;

/** A lookup stage (see {@link STAGES}). */
export type Stage = (typeof STAGES)[number];

/** First word (inclusive) and last word (exclusive) of each group of the flow-key layout. */
const STAGE_RANGES: readonly (readonly [Stage, number, number])[] = [
  // in_port, in_phy_port, metadata, tunnel_id, recirc_id, dp_hash, skb_priority, pkt_mark
  ['metadata', W.IN_PORT, W.ETH_DST],
  // eth_dst, eth_src, eth_type, VLANs, MPLS
  ['l2', W.ETH_DST, W.NW_SRC],
  ['l2', W.PBB_ISID, W.PBB_ISID + 1],
  // IPv4/IPv6 addresses, flow label, proto/tos/ttl/frag (as OVS: nd_target, arp_sha/tha and
  // tcp_flags belong to L3)
  ['l3', W.NW_SRC, W.TP],
  ['l3', W.TCP_FLAGS, W.PBB_ISID],
  // tp_src, tp_dst
  ['l4', W.TP, W.TCP_FLAGS],
];

/** The stage (index into {@link STAGES}) of every flow-key word. */
export const STAGE_OF_WORD: Uint8Array = (() => {
  const out = new Uint8Array(FLOW_KEY_WORDS).fill(255);
  for (const [stage, from, to] of STAGE_RANGES)
    for (let i = from; i < to; i++) out[i] = STAGES.indexOf(stage);
  if (out.includes(255)) throw new Error('classifier: a flow-key word has no stage');
  return out;
})();

/**
 * The fields a classifier can keep prefix tries for (OVS's Flow_Table `prefixes` values;
 * `ip_src`/`ip_dst` are OVS's names for `nw_src`/`nw_dst`): where they sit in the flow key,
 * their width, and the ethertype a packet needs for the field to mean an address (OVS's
 * prerequisite check; packets of other types never skip on that trie).
 */
export const PREFIX_FIELDS = {
  nw_src: { word: W.NW_SRC, bits: 32, ethType: 0x0800 },
  nw_dst: { word: W.NW_DST, bits: 32, ethType: 0x0800 },
  ipv6_src: { word: W.IPV6_SRC, bits: 128, ethType: 0x86dd },
  ipv6_dst: { word: W.IPV6_DST, bits: 128, ethType: 0x86dd },
} as const;

/** A field that may have a prefix trie (see {@link PREFIX_FIELDS}). */
export type PrefixField = keyof typeof PREFIX_FIELDS;

/** OVS's default `prefixes` (no Flow_Table row, or its `prefixes` empty): ip_dst, ip_src. */
export const DEFAULT_PREFIXES: readonly PrefixField[] = ['nw_dst', 'nw_src'];

/** OVS's limit on tries per table (CLS_MAX_TRIES). */
export const MAX_PREFIXES = 3;

/** Options of a {@link Classifier}. */
export interface ClassifierOptions {
  /**
   * Fields to keep prefix tries for, in the order lookups consult them (at most
   * {@link MAX_PREFIXES}, no repeats); default {@link DEFAULT_PREFIXES}; `[]` for none.
   */
  prefixes?: readonly PrefixField[];
  /** Keep a ports trie per subtable matching tp_src/tp_dst (as OVS, always); default true. */
  portsTrie?: boolean;
}

/** One prefix trie of a classifier and the state of its on-demand lookup. */
interface FieldTrie {
  readonly field: PrefixField;
  readonly word: number;
  readonly ethType: number;
  readonly trie: PrefixTrie;
  /** The lookup generation {@link maskbits} belongs to. */
  gen: number;
  /** Bits the trie walk consulted, or −1 when the packet lacks the field (no skipping). */
  maskbits: number;
}

/** A classifier rule. `key` holds the match values already ANDed with `mask`. */
export interface ClsRule<T> {
  /** Masked match values. */
  readonly key: FlowKey;
  /**
   * Which bits are matched. On insert the classifier replaces it by the equal array its subtable
   * shares among all of its rules (one mask per subtable, not one per rule); never write to it.
   */
  mask: FlowKey;
  /** Higher wins; among equal priorities the earliest inserted wins (OpenFlow leaves it undefined). */
  readonly priority: number;
  /** The payload (an OpenFlow rule). */
  readonly value: T;
  /** First version in which the rule is visible. */
  addedIn: number;
  /** First version in which it is no longer visible. */
  removedIn: number;
}

interface Subtable<T> {
  mask: FlowKey;
  /**
   * Words of the mask that are non-zero (only those are hashed and compared), grouped by stage
   * in stage order.
   */
  words: Uint8Array;
  /**
   * For every stage but the last non-empty one: the index in {@link words} where it ends (the
   * prefix a stage check hashes is `words[0 .. stageEnds[s])`).
   */
  stageEnds: Uint8Array;
  /**
   * Per stage of {@link stageEnds}, when the subtable's rules have several distinct prefixes
   * there: masked-prefix hash → number of rules with that prefix; else undefined (see
   * {@link stageSole}).
   */
  stageSets: (Map<number, number> | undefined)[];
  /**
   * Per stage of {@link stageEnds}: the prefix hash when all of the subtable's rules share one
   * (the common case: every rule agrees on eth_type; no map to maintain or probe then), else
   * 0.5 (never a hash).
   */
  stageSole: number[];
  /** Per stage of {@link stageEnds}: the number of rules with {@link stageSole}'s prefix. */
  stageSoleCount: number[];
  /** Hash of the mask (the subtable's key in {@link Classifier}). */
  maskHash: number;
  /**
   * masked-key hash → the rule with that hash, or the rules with that hash (sorted by priority
   * desc, then insertion) when there are several: no array per rule in the common case.
   */
  buckets: Map<number, ClsRule<T> | ClsRule<T>[]>;
  /** Highest priority of any rule in the subtable. */
  maxPriority: number;
  count: number;
  /** Rules per priority (so removing the top rule needs no scan of the buckets). */
  priorities: Map<number, number>;
  /**
   * Per trie of the classifier: the CIDR prefix length of the subtable's mask on its field, or 0
   * (field not matched, or not by a prefix: no trie check).
   */
  triePlens: number[];
  /**
   * Per trie: the stage ordinal (index into {@link stageEnds}, or stageEnds.length for the last
   * stage) before which the trie is checked.
   */
  trieStage: number[];
  /** Bit s set when a trie is checked before stage ordinal s; 0 when the subtable has none. */
  trieStages: number;
  /** The ports trie (word TP masked by the subtable's mask), when the mask has ports. */
  portsTrie: PrefixTrie | undefined;
  /** Length of the ports trie's prefixes: 32 − trailing zeros of the mask's TP word. */
  portsLen: number;
}

/** Not a 32-bit hash: marks a stage set without a sole member. */
const NO_SOLE = 0.5;

function sameMask(a: FlowKey, b: FlowKey): boolean {
  for (let i = 0; i < FLOW_KEY_WORDS; i++) if (a[i] !== b[i]) return false;
  return true;
}

// The flow key's murmur3-style word hash (lib/packet/flow-key.ts), incremental so that a stage
// check extends the previous stage's hash.
const mix = hashMix;

/** Finalises a hash of `n` words; signed, so that Map keys stay small integers. */
function fin(h: number, n: number): number {
  return hashFinish(h, n) | 0;
}

/** Hash of the masked words of `key` over the whole subtable mask. */
function hashMaskedWords(key: FlowKey, st: { mask: FlowKey; words: Uint8Array }): number {
  const w = st.words;
  const m = st.mask;
  let h = 0;
  for (let i = 0; i < w.length; i++) {
    const j = w[i]!;
    h = mix(h, key[j]! & m[j]!);
  }
  return fin(h, w.length);
}

/** Prefix hashes of the stages of the last {@link hashStages} call. */
const stageHashes = new Int32Array(STAGES.length);

/**
 * {@link hashMaskedWords} of `key` that also leaves the hash of every stage prefix in
 * {@link stageHashes} (one pass over the words for both).
 */
function hashStages<T>(st: Subtable<T>, key: FlowKey): number {
  const w = st.words;
  const m = st.mask;
  let h = 0;
  let i = 0;
  for (let s = 0; s < st.stageEnds.length; s++) {
    const end = st.stageEnds[s]!;
    for (; i < end; i++) {
      const j = w[i]!;
      h = mix(h, key[j]! & m[j]!);
    }
    stageHashes[s] = fin(h, end);
  }
  for (; i < w.length; i++) {
    const j = w[i]!;
    h = mix(h, key[j]! & m[j]!);
  }
  return fin(h, w.length);
}

/**
 * Adds (`d` = 1) or drops (`d` = −1) a rule's prefixes, left in {@link stageHashes} by
 * {@link hashStages}, in the subtable's stage sets.
 */
function countStages<T>(st: Subtable<T>, d: 1 | -1): void {
  for (let s = 0; s < st.stageEnds.length; s++) {
    const ph = stageHashes[s]!;
    const set = st.stageSets[s];
    if (set === undefined) {
      // One prefix so far (or none: a subtable being filled or emptied).
      const c = st.stageSoleCount[s]!;
      if (c === 0) {
        st.stageSole[s] = ph;
        st.stageSoleCount[s] = 1;
      } else if (ph === st.stageSole[s]) {
        st.stageSoleCount[s] = c + d;
      } else {
        // A second prefix (only ever on insert: a removed rule's prefix is the sole one).
        st.stageSets[s] = new Map([
          [st.stageSole[s]!, c],
          [ph, 1],
        ]);
        st.stageSole[s] = NO_SOLE;
        st.stageSoleCount[s] = 0;
      }
      continue;
    }
    const n = (set.get(ph) ?? 0) + d;
    if (n > 0) set.set(ph, n);
    else {
      set.delete(ph);
      if (set.size === 1) {
        // Back to a single prefix.
        const [only, count] = set.entries().next().value!;
        st.stageSole[s] = only;
        st.stageSoleCount[s] = count;
        st.stageSets[s] = undefined;
      }
    }
  }
}

/** The CIDR prefix length of `mask` over `nWords` words from `word`; 0 if not a prefix. */
function prefixLen(mask: FlowKey, word: number, nWords: number): number {
  let n = 0;
  let ended = false;
  for (let w = word; w < word + nWords; w++) {
    const m = mask[w]!;
    if (ended) {
      if (m !== 0) return 0;
      continue;
    }
    const inv = ~m >>> 0;
    if ((inv & (inv + 1)) >>> 0 !== 0) return 0; // not contiguous
    const ones = Math.clz32(inv);
    n += ones;
    if (ones < 32) ended = true;
  }
  return n;
}

/** ORs the first `n` bits of the field at word `word` into `wc`. */
function setPrefixBits(wc: FlowKey, word: number, n: number): void {
  for (let w = word; n > 0; w++, n -= 32)
    wc[w]! |= n >= 32 ? 0xffffffff : (0xffffffff << (32 - n)) >>> 0;
}

/** True when `wc` has the first `n` bits of the field at word `word` set. */
function hasPrefixBits(wc: FlowKey, word: number, n: number): boolean {
  for (let w = word; n > 0; w++, n -= 32) {
    const m = n >= 32 ? 0xffffffff : (0xffffffff << (32 - n)) >>> 0;
    if ((wc[w]! & m) >>> 0 !== m) return false;
  }
  return true;
}

/** The packet's ports under a subtable's mask, for its ports trie. */
const portsValue = new Uint32Array(1);

/** ORs the mask's words `words[0 .. end)` into `wc`. */
function unwildcard(wc: FlowKey, words: Uint8Array, mask: FlowKey, end: number): void {
  for (let i = 0; i < end; i++) {
    const j = words[i]!;
    wc[j]! |= mask[j]!;
  }
}

/** Empty tries for `fields` (validated: known, at most {@link MAX_PREFIXES}, no repeats). */
function makeTries(fields: readonly PrefixField[]): FieldTrie[] {
  if (fields.length > MAX_PREFIXES)
    throw new RangeError(`classifier: at most ${MAX_PREFIXES} prefix fields`);
  if (new Set(fields).size !== fields.length)
    throw new RangeError('classifier: a prefix field is repeated');
  return fields.map((field) => {
    if (!Object.hasOwn(PREFIX_FIELDS, field))
      throw new RangeError(`classifier: no prefix trie for ${String(field)}`);
    const d = PREFIX_FIELDS[field];
    return {
      field,
      word: d.word,
      ethType: d.ethType,
      trie: new PrefixTrie(d.bits),
      gen: 0,
      maskbits: -1,
    };
  });
}

/** A classifier over {@link FlowKey}s. */
export class Classifier<T> {
  /** Subtables by mask hash (several when masks collide). */
  private readonly subtables = new Map<number, Subtable<T>[]>();
  private nSubtables = 0;
  /** The subtable used last (see {@link subtableOf}). */
  private last: Subtable<T> | undefined;
  /** Subtables sorted by maxPriority descending (rebuilt lazily). */
  private order: Subtable<T>[] = [];
  private orderDirty = false;
  private n = 0;
  private current = 0;
  /** The prefix tries, in the order lookups consult them. */
  private tries: FieldTrie[] = [];
  private readonly portsTries: boolean;
  /** Lookup generation (never 0), for the tries' on-demand lookups. */
  private gen = 0;

  /** @param opts Prefix tries (default: nw_dst and nw_src, and ports tries, as OVS). */
  constructor(opts: ClassifierOptions = {}) {
    this.portsTries = opts.portsTrie ?? true;
    this.tries = makeTries(opts.prefixes ?? DEFAULT_PREFIXES);
  }

  /** The fields with prefix tries, in lookup order. */
  get prefixes(): PrefixField[] {
    return this.tries.map((t) => t.field);
  }

  /**
   * Replaces the prefix tries (OVS's Flow_Table `prefixes`): rebuilds them from every stored
   * rule. Throws a RangeError for more than {@link MAX_PREFIXES} fields or a repeated one.
   */
  setPrefixes(fields: readonly PrefixField[]): void {
    const same =
      fields.length === this.tries.length && fields.every((f, i) => this.tries[i]!.field === f);
    if (same) return;
    this.tries = makeTries(fields);
    for (const l of this.subtables.values())
      for (const st of l) {
        this.setTrieInfo(st);
        for (const r of this.bucketRules(st)) this.trieAdd(st, r.key);
      }
  }

  /** Number of rules stored (visible or not). */
  get size(): number {
    return this.n;
  }

  /** Number of distinct masks. */
  get subtableCount(): number {
    return this.nSubtables;
  }

  /** The published version: what lookups, {@link findExact} and {@link rules} see by default. */
  get version(): number {
    return this.current;
  }

  /**
   * Makes `version` the published version, in one step: every rule inserted at or before it
   * becomes visible and every rule retired at or before it invisible. Versions never go back
   * (except through {@link rebaseVersions}); `version` must be below {@link VERSION_MAX}.
   */
  publish(version: number): void {
    if (version < this.current || version >= VERSION_MAX)
      throw new RangeError(`classifier: cannot publish version ${version} (at ${this.current})`);
    this.current = version;
  }

  /**
   * Renumbers every stored rule to version 0 and publishes 0 (for an owner whose version counter
   * nears {@link VERSION_MAX}). Precondition: nothing is staged, i.e. every stored rule is
   * visible at the published version and was not retired.
   */
  rebaseVersions(): void {
    for (const r of this.rules()) {
      if (r.addedIn > this.current || r.removedIn !== VERSION_MAX)
        throw new Error('classifier: rebase with staged changes');
      r.addedIn = 0;
    }
    this.current = 0;
  }

  private findSubtable(mask: FlowKey, h: number): Subtable<T> | undefined {
    const l = this.subtables.get(h);
    if (!l) return undefined;
    for (let i = 0; i < l.length; i++) if (sameMask(l[i]!.mask, mask)) return l[i];
    return undefined;
  }

  /**
   * The subtable of `mask`. Masks are shared arrays (ofproto/match.ts and {@link insert}), so the
   * last subtable used is checked by identity first: a run of flow-mods with one mask skips the
   * mask hash.
   */
  private subtableOf(mask: FlowKey): Subtable<T> | undefined {
    const last = this.last;
    if (last !== undefined && last.mask === mask) return last;
    const st = this.findSubtable(mask, hashKey(mask) | 0);
    if (st) this.last = st;
    return st;
  }

  /** Every rule of a subtable, any version. */
  private *bucketRules(st: Subtable<T>): IterableIterator<ClsRule<T>> {
    for (const b of st.buckets.values()) {
      if (Array.isArray(b)) yield* b;
      else yield b;
    }
  }

  /** Computes the subtable's trie fields: plens, check stages (ports trie: only when new). */
  private setTrieInfo(st: Subtable<T>): void {
    st.triePlens = [];
    st.trieStage = [];
    st.trieStages = 0;
    for (const tr of this.tries) {
      const plen = prefixLen(st.mask, tr.word, tr.trie.bits >>> 5);
      let stage = 0;
      if (plen > 0) {
        const at = st.words.indexOf(tr.word);
        while (stage < st.stageEnds.length && st.stageEnds[stage]! <= at) stage++;
        st.trieStages |= 1 << stage;
      }
      st.triePlens.push(plen);
      st.trieStage.push(stage);
    }
  }

  /** Adds a rule's masked key to the tries its subtable takes part in. */
  private trieAdd(st: Subtable<T>, key: FlowKey): void {
    if (st.trieStages !== 0)
      for (let k = 0; k < this.tries.length; k++) {
        const plen = st.triePlens[k]!;
        if (plen > 0) this.tries[k]!.trie.insert(key, this.tries[k]!.word, plen);
      }
  }

  /**
   * The trie checks before stage ordinal `s` of `st` (OVS's check_tries): true when a trie shows
   * that no rule of the subtable can match, after ORing the field bits the trie walk consulted
   * into `wc`.
   */
  private checkTries(st: Subtable<T>, s: number, key: FlowKey, wc: FlowKey | undefined): boolean {
    const tries = this.tries;
    for (let k = 0; k < tries.length; k++) {
      const plen = st.triePlens[k]!;
      if (plen === 0 || st.trieStage[k] !== s) continue;
      const tr = tries[k]!;
      if (tr.gen !== this.gen) {
        tr.gen = this.gen;
        tr.maskbits = key[W.ETH_TYPE] === tr.ethType ? tr.trie.lookup(key, tr.word, this.gen) : -1;
      }
      if (tr.maskbits < 0 || tr.trie.matched(plen, this.gen)) continue;
      // No stored prefix of this subtable's length matches: no rule of it can.
      if (wc === undefined) return true;
      if (tr.maskbits <= plen) {
        setPrefixBits(wc, tr.word, tr.maskbits);
        return true;
      }
      // The walk went deeper than this subtable's prefix (longer prefixes of other subtables):
      // skip only if those bits are un-wildcarded already, so as never to add bits this
      // subtable would not have.
      if (hasPrefixBits(wc, tr.word, tr.maskbits)) return true;
    }
    return false;
  }

  private newSubtable(mask: FlowKey, mh: number): Subtable<T> {
    const words: number[] = [];
    for (let s = 0; s < STAGES.length; s++)
      for (let i = 0; i < FLOW_KEY_WORDS; i++)
        if (mask[i] !== 0 && STAGE_OF_WORD[i] === s) words.push(i);
    // A stage ends where the next word belongs to a later stage; the last stage needs no set
    // (the buckets are its check).
    const ends: number[] = [];
    for (let k = 1; k < words.length; k++)
      if (STAGE_OF_WORD[words[k]!] !== STAGE_OF_WORD[words[k - 1]!]) ends.push(k);
    const tp = mask[W.TP]!;
    const portsLen = this.portsTries && tp !== 0 ? 32 - (31 - Math.clz32(tp & -tp)) : 0;
    const st: Subtable<T> = {
      mask,
      maskHash: mh,
      words: Uint8Array.from(words),
      stageEnds: Uint8Array.from(ends),
      stageSets: ends.map(() => undefined),
      stageSole: ends.map(() => NO_SOLE),
      stageSoleCount: ends.map(() => 0),
      buckets: new Map(),
      maxPriority: -1,
      count: 0,
      priorities: new Map(),
      triePlens: [],
      trieStage: [],
      trieStages: 0,
      portsTrie: portsLen > 0 ? new PrefixTrie(32) : undefined,
      portsLen,
    };
    this.setTrieInfo(st);
    return st;
  }

  /**
   * Inserts a rule (its `key` must already be masked). With `version`, the rule becomes visible
   * from that version on (`addedIn = version`, `removedIn = VERSION_MAX`); without, its own
   * `addedIn`/`removedIn` stand. Visibility is decided at lookup time: inserting at a version
   * above the published one stages the rule.
   */
  insert(rule: ClsRule<T>, version?: number): void {
    if (version !== undefined) {
      rule.addedIn = version;
      rule.removedIn = VERSION_MAX;
    }
    let st = this.subtableOf(rule.mask);
    if (!st) {
      const mh = hashKey(rule.mask) | 0;
      st = this.newSubtable(rule.mask, mh);
      const l = this.subtables.get(mh);
      if (l) l.push(st);
      else this.subtables.set(mh, [st]);
      this.nSubtables++;
      this.last = st;
      this.orderDirty = true;
    } else if (rule.mask !== st.mask) {
      rule.mask = st.mask;
    }
    const h = hashStages(st, rule.key);
    if (st.stageEnds.length > 0) countStages(st, 1);
    this.trieAdd(st, rule.key);
    if (st.portsTrie) st.portsTrie.insert(rule.key, W.TP, st.portsLen);
    const b = st.buckets.get(h);
    if (b === undefined) {
      st.buckets.set(h, rule);
    } else {
      const list = Array.isArray(b) ? b : [b];
      let i = list.length;
      while (i > 0 && list[i - 1]!.priority < rule.priority) i--;
      list.splice(i, 0, rule);
      if (list !== b) st.buckets.set(h, list);
    }
    st.count++;
    st.priorities.set(rule.priority, (st.priorities.get(rule.priority) ?? 0) + 1);
    if (rule.priority > st.maxPriority) {
      st.maxPriority = rule.priority;
      this.orderDirty = true;
    }
    this.n++;
  }

  /**
   * Makes a stored rule invisible from `version` on (`removedIn = version`) without removing it:
   * lookups at earlier versions still see it. The owner removes it for good with {@link remove}
   * once no lookup can use an earlier version, or undoes this with {@link restore}.
   */
  retire(rule: ClsRule<T>, version: number): void {
    rule.removedIn = version;
  }

  /** Undoes {@link retire}: the rule is visible again in every version from its `addedIn`. */
  restore(rule: ClsRule<T>): void {
    rule.removedIn = VERSION_MAX;
  }

  /** Removes a rule (by identity) for good, whatever its versions. Returns true if it was present. */
  remove(rule: ClsRule<T>): boolean {
    const st = this.subtableOf(rule.mask);
    if (!st) return false;
    const h = hashStages(st, rule.key);
    const b = st.buckets.get(h);
    if (b === undefined) return false;
    if (Array.isArray(b)) {
      const i = b.indexOf(rule);
      if (i < 0) return false;
      b.splice(i, 1);
      if (b.length === 1) st.buckets.set(h, b[0]!);
    } else {
      if (b !== rule) return false;
      st.buckets.delete(h);
    }
    if (st.stageEnds.length > 0) countStages(st, -1);
    if (st.trieStages !== 0)
      for (let k = 0; k < this.tries.length; k++) {
        const plen = st.triePlens[k]!;
        if (plen > 0) this.tries[k]!.trie.remove(rule.key, this.tries[k]!.word, plen);
      }
    if (st.portsTrie) st.portsTrie.remove(rule.key, W.TP, st.portsLen);
    st.count--;
    this.n--;
    const left = (st.priorities.get(rule.priority) ?? 1) - 1;
    if (left > 0) st.priorities.set(rule.priority, left);
    else st.priorities.delete(rule.priority);
    if (st.count === 0) {
      const l = this.subtables.get(st.maskHash)!;
      l.splice(l.indexOf(st), 1);
      if (l.length === 0) this.subtables.delete(st.maskHash);
      this.nSubtables--;
      if (this.last === st) this.last = undefined;
      this.orderDirty = true;
    } else if (rule.priority === st.maxPriority && left === 0) {
      let m = -1;
      for (const p of st.priorities.keys()) if (p > m) m = p;
      st.maxPriority = m;
      this.orderDirty = true;
    }
    return true;
  }

  private sorted(): Subtable<T>[] {
    if (this.orderDirty) {
      const all: Subtable<T>[] = [];
      for (const l of this.subtables.values()) all.push(...l);
      this.order = all.sort((a, b) => b.maxPriority - a.maxPriority);
      this.orderDirty = false;
    }
    return this.order;
  }

  /**
   * The highest-priority rule visible at `version` (default: the published one) that matches
   * `key`, or undefined. Every mask bit the search depended on is ORed into `wc` (when given):
   * for each subtable probed, the words of the stages it checked (all of them when the packet
   * got past every stage check), except that a subtable skipped by a prefix trie adds only the
   * leading bits of the field the trie walk consulted, and a last stage with ports that finds no
   * better rule only the port bits its ports trie consulted; so that every packet agreeing with
   * `key` on the bits of `wc` gets the same result. Bits already in `wc` may let a trie skip a
   * subtable without adding any (as OVS): pass the wildcards accumulated so far.
   */
  lookup(key: FlowKey, version: number = this.current, wc?: FlowKey): ClsRule<T> | undefined {
    let best: ClsRule<T> | undefined;
    const order = this.sorted();
    // A new generation: the tries' lookups are redone on demand for this packet.
    this.gen = (this.gen + 1) >>> 0 || 1;
    subtables: for (let o = 0; o < order.length; o++) {
      const st = order[o]!;
      if (best && st.maxPriority <= best.priority) break;
      const words = st.words;
      const mask = st.mask;
      const ends = st.stageEnds;
      const nEnds = ends.length;
      const ts = st.trieStages;
      let h = 0;
      let i = 0;
      for (let s = 0; s < nEnds; s++) {
        const start = i;
        const end = ends[s]!;
        for (; i < end; i++) {
          const j = words[i]!;
          h = mix(h, key[j]! & mask[j]!);
        }
        const ph = fin(h, end);
        if (ph !== st.stageSole[s]) {
          const set = st.stageSets[s];
          if (set === undefined || !set.has(ph)) {
            // No rule of this subtable agrees with the packet on this prefix. OVS consults the
            // tries before the stage; consulting them only now gives the same answer (a packet
            // that gets past the stage matches some rule's prefix, so no trie would have
            // skipped the subtable) and keeps the trie walks off the hits.
            if (wc) {
              if (ts !== 0 && ((ts >>> s) & 1) !== 0 && this.checkTries(st, s, key, wc))
                unwildcard(wc, words, mask, start); // the earlier stages, and the trie's bits
              else unwildcard(wc, words, mask, end);
            }
            continue subtables;
          }
        }
      }
      const last = i;
      for (; i < words.length; i++) {
        const j = words[i]!;
        h = mix(h, key[j]! & mask[j]!);
      }
      const b = st.buckets.get(fin(h, words.length));
      let found: ClsRule<T> | undefined;
      if (b !== undefined) {
        if (!Array.isArray(b)) {
          if (
            (!best || b.priority > best.priority) &&
            b.addedIn <= version &&
            b.removedIn > version &&
            matches(key, b)
          )
            found = b;
        } else {
          for (const r of b) {
            if (best && r.priority <= best.priority) break;
            if (r.addedIn > version || r.removedIn <= version) continue;
            if (matches(key, r)) {
              found = r;
              break;
            }
          }
        }
      }
      if (found !== undefined) {
        best = found;
        if (wc) unwildcard(wc, words, mask, words.length);
      } else if (wc) this.lastStageMiss(st, key, wc, last);
    }
    return best;
  }

  /**
   * The bits a subtable contributes when its last stage found no better rule (`last` is where
   * that stage starts in its words): a trie may rule the subtable out with fewer bits (OVS's
   * check before the last stage), else the ports trie narrows the ports, else the whole mask.
   */
  private lastStageMiss(st: Subtable<T>, key: FlowKey, wc: FlowKey, last: number): void {
    const words = st.words;
    const mask = st.mask;
    const nEnds = st.stageEnds.length;
    const ts = st.trieStages;
    if (ts !== 0 && ((ts >>> nEnds) & 1) !== 0 && this.checkTries(st, nEnds, key, wc)) {
      unwildcard(wc, words, mask, last);
      return;
    }
    const pt = st.portsTrie;
    if (pt === undefined) {
      unwildcard(wc, words, mask, words.length);
      return;
    }
    // Only the port bits that tell the packet's ports from every rule's (OVS's ports trie);
    // the last stage holds nothing but the ports word.
    unwildcard(wc, words, mask, last);
    const pm = mask[W.TP]!;
    if ((wc[W.TP]! & pm) >>> 0 === pm) return; // no walk when they are all un-wildcarded
    portsValue[0] = key[W.TP]! & pm;
    const mbits = pt.lookup(portsValue, 0, 0);
    wc[W.TP]! |= mbits >= 32 ? pm : pm & (0xffffffff << (32 - mbits));
  }

  /**
   * The rule with exactly this masked key, mask and priority visible at `version` (default: the
   * published one).
   */
  findExact(
    key: FlowKey,
    mask: FlowKey,
    priority: number,
    version: number = this.current,
  ): ClsRule<T> | undefined {
    const st = this.subtableOf(mask);
    if (!st) return undefined;
    const b = st.buckets.get(hashMaskedWords(key, st));
    if (b === undefined) return undefined;
    const w = st.words;
    if (!Array.isArray(b)) {
      if (b.priority !== priority || b.addedIn > version || b.removedIn <= version)
        return undefined;
      for (let k = 0; k < w.length; k++) if (b.key[w[k]!] !== key[w[k]!]) return undefined;
      return b;
    }
    for (const r of b) {
      if (r.priority !== priority || r.addedIn > version || r.removedIn <= version) continue;
      let eq = true;
      for (let k = 0; k < w.length; k++)
        if (r.key[w[k]!] !== key[w[k]!]) {
          eq = false;
          break;
        }
      if (eq) return r;
    }
    return undefined;
  }

  /**
   * The rules visible at `version`, or every stored rule (any version) when `version` is
   * undefined; in no particular order, but the same order for the same contents.
   */
  *rules(version?: number): IterableIterator<ClsRule<T>> {
    for (const l of this.subtables.values())
      for (const st of l)
        for (const b of st.buckets.values()) {
          if (Array.isArray(b)) {
            for (const r of b) if (version === undefined || visibleAt(r, version)) yield r;
          } else if (version === undefined || visibleAt(b, version)) yield b;
        }
  }
}

/** True when `r` is visible at `version` (`addedIn <= version < removedIn`). */
export function visibleAt(r: { addedIn: number; removedIn: number }, version: number): boolean {
  return r.addedIn <= version && version < r.removedIn;
}

/** True when `key` agrees with the rule on every bit of the rule's mask. */
export function matches(key: FlowKey, r: { key: FlowKey; mask: FlowKey }): boolean {
  for (let i = 0; i < FLOW_KEY_WORDS; i++)
    if ((key[i]! & r.mask[i]!) >>> 0 !== r.key[i]) return false;
  return true;
}

/** True when some packet could match both rules (OpenFlow's overlap). */
export function overlaps(
  a: { key: FlowKey; mask: FlowKey },
  b: { key: FlowKey; mask: FlowKey },
): boolean {
  for (let i = 0; i < FLOW_KEY_WORDS; i++)
    if (((a.key[i]! ^ b.key[i]!) & a.mask[i]! & b.mask[i]!) >>> 0 !== 0) return false;
  return true;
}

/**
 * True when `rule` is at least as specific as `filter` and agrees with it (OpenFlow's non-strict
 * match for MODIFY/DELETE and flow stats).
 */
export function coveredBy(
  rule: { key: FlowKey; mask: FlowKey },
  filter: { key: FlowKey; mask: FlowKey },
): boolean {
  for (let i = 0; i < FLOW_KEY_WORDS; i++) {
    const fm = filter.mask[i]!;
    if ((rule.mask[i]! & fm) >>> 0 !== fm) return false;
    if ((rule.key[i]! & fm) >>> 0 !== filter.key[i]) return false;
  }
  return true;
}

/**
 * A packet classifier by tuple-space search, as OVS's lib/classifier.c does it: rules with the
 * same mask share a subtable (a hash table of masked keys); a lookup probes the subtables in
 * decreasing order of their highest priority and stops as soon as no remaining subtable can beat
 * the best match. Every lookup ORs the mask bits it consulted into a caller-supplied wildcard
 * key, so the datapath can install a megaflow that is as wide as is correct: every packet that
 * agrees with the looked-up one on those bits gets the same rule.
 *
 * Versioning: each rule is visible in versions [addedIn, removedIn). A batch (bundle) adds its
 * rules at version V+1 and retires replaced ones at V+1, then publishes V+1 at once; lookups at
 * version V never see half a batch.
 */
import { FLOW_KEY_WORDS, hashKey, type FlowKey } from '../lib/packet/flow-key.js';

/**
 * The highest version; a rule with removedIn = VERSION_MAX is live forever. 2^30 − 1 keeps it a
 * small integer for V8 (stored inline in every rule instead of as a boxed heap number).
 */
export const VERSION_MAX = 0x3fffffff;

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
  /** Words of the mask that are non-zero (only those are hashed and compared). */
  words: Uint8Array;
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
}

function sameMask(a: FlowKey, b: FlowKey): boolean {
  for (let i = 0; i < FLOW_KEY_WORDS; i++) if (a[i] !== b[i]) return false;
  return true;
}

const scratch = new Uint32Array(FLOW_KEY_WORDS);

function hashMaskedWords(key: FlowKey, st: { mask: FlowKey; words: Uint8Array }): number {
  const w = st.words;
  for (let i = 0; i < w.length; i++) {
    const j = w[i]!;
    scratch[i] = key[j]! & st.mask[j]!;
  }
  // Signed, so that Map keys stay small integers instead of heap numbers.
  return hashKey(scratch, w.length) | 0;
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

  /** Number of rules stored (visible or not). */
  get size(): number {
    return this.n;
  }

  /** Number of distinct masks. */
  get subtableCount(): number {
    return this.nSubtables;
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

  /** Inserts a rule (its `key` must already be masked). */
  insert(rule: ClsRule<T>): void {
    let st = this.subtableOf(rule.mask);
    if (!st) {
      const mh = hashKey(rule.mask) | 0;
      const words: number[] = [];
      for (let i = 0; i < FLOW_KEY_WORDS; i++) if (rule.mask[i] !== 0) words.push(i);
      st = {
        mask: rule.mask,
        maskHash: mh,
        words: Uint8Array.from(words),
        buckets: new Map(),
        maxPriority: -1,
        count: 0,
        priorities: new Map(),
      };
      const l = this.subtables.get(mh);
      if (l) l.push(st);
      else this.subtables.set(mh, [st]);
      this.nSubtables++;
      this.last = st;
      this.orderDirty = true;
    } else if (rule.mask !== st.mask) {
      rule.mask = st.mask;
    }
    const h = hashMaskedWords(rule.key, st);
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

  /** Removes a rule (by identity). Returns true if it was present. */
  remove(rule: ClsRule<T>): boolean {
    const st = this.subtableOf(rule.mask);
    if (!st) return false;
    const h = hashMaskedWords(rule.key, st);
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
   * The highest-priority rule visible at `version` that matches `key`, or undefined. Every mask
   * bit the search depended on is ORed into `wc` (when given): the bits of each subtable probed.
   */
  lookup(key: FlowKey, version = 0, wc?: FlowKey): ClsRule<T> | undefined {
    let best: ClsRule<T> | undefined;
    for (const st of this.sorted()) {
      if (best && st.maxPriority <= best.priority) break;
      if (wc) for (let i = 0; i < st.words.length; i++) wc[st.words[i]!]! |= st.mask[st.words[i]!]!;
      const b = st.buckets.get(hashMaskedWords(key, st));
      if (b === undefined) continue;
      if (!Array.isArray(b)) {
        if (best && b.priority <= best.priority) continue;
        if (b.addedIn > version || b.removedIn <= version) continue;
        if (matches(key, b)) best = b;
        continue;
      }
      for (const r of b) {
        if (best && r.priority <= best.priority) break;
        if (r.addedIn > version || r.removedIn <= version) continue;
        if (matches(key, r)) {
          best = r;
          break;
        }
      }
    }
    return best;
  }

  /** The rule with exactly this masked key, mask and priority visible at `version`. */
  findExact(key: FlowKey, mask: FlowKey, priority: number, version = 0): ClsRule<T> | undefined {
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

  /** Every stored rule (any version), in no particular order. */
  *rules(): IterableIterator<ClsRule<T>> {
    for (const l of this.subtables.values())
      for (const st of l)
        for (const b of st.buckets.values()) {
          if (Array.isArray(b)) yield* b;
          else yield b;
        }
  }
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

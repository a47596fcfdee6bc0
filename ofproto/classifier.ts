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

/** The highest version; a rule with removedIn = VERSION_MAX is live forever. */
export const VERSION_MAX = Number.MAX_SAFE_INTEGER;

/** A classifier rule. `key` holds the match values already ANDed with `mask`. */
export interface ClsRule<T> {
  /** Masked match values. */
  readonly key: FlowKey;
  /** Which bits are matched. */
  readonly mask: FlowKey;
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
  /** masked-key hash → rules with that hash (sorted by priority desc, then insertion). */
  buckets: Map<number, ClsRule<T>[]>;
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

function maskId(mask: FlowKey): string {
  let s = '';
  for (let i = 0; i < FLOW_KEY_WORDS; i++) s += mask[i]!.toString(36) + ',';
  return s;
}

const scratch = new Uint32Array(FLOW_KEY_WORDS);

function hashMaskedWords(key: FlowKey, st: { mask: FlowKey; words: Uint8Array }): number {
  const w = st.words;
  for (let i = 0; i < w.length; i++) {
    const j = w[i]!;
    scratch[i] = key[j]! & st.mask[j]!;
  }
  return hashKey(scratch, w.length);
}

/** A classifier over {@link FlowKey}s. */
export class Classifier<T> {
  private readonly subtables = new Map<string, Subtable<T>>();
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
    return this.subtables.size;
  }

  /** Inserts a rule (its `key` must already be masked). */
  insert(rule: ClsRule<T>): void {
    const id = maskId(rule.mask);
    let st = this.subtables.get(id);
    if (!st) {
      const words: number[] = [];
      for (let i = 0; i < FLOW_KEY_WORDS; i++) if (rule.mask[i] !== 0) words.push(i);
      st = {
        mask: rule.mask,
        words: Uint8Array.from(words),
        buckets: new Map(),
        maxPriority: -1,
        count: 0,
        priorities: new Map(),
      };
      this.subtables.set(id, st);
      this.orderDirty = true;
    }
    const h = hashMaskedWords(rule.key, st);
    let list = st.buckets.get(h);
    if (!list) {
      list = [];
      st.buckets.set(h, list);
    }
    let i = list.length;
    while (i > 0 && list[i - 1]!.priority < rule.priority) i--;
    list.splice(i, 0, rule);
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
    const st = this.subtables.get(maskId(rule.mask));
    if (!st) return false;
    const h = hashMaskedWords(rule.key, st);
    const list = st.buckets.get(h);
    const i = list ? list.indexOf(rule) : -1;
    if (!list || i < 0) return false;
    list.splice(i, 1);
    if (list.length === 0) st.buckets.delete(h);
    st.count--;
    this.n--;
    const left = (st.priorities.get(rule.priority) ?? 1) - 1;
    if (left > 0) st.priorities.set(rule.priority, left);
    else st.priorities.delete(rule.priority);
    if (st.count === 0) {
      this.subtables.delete(maskId(rule.mask));
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
      this.order = [...this.subtables.values()].sort((a, b) => b.maxPriority - a.maxPriority);
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
      const list = st.buckets.get(hashMaskedWords(key, st));
      if (!list) continue;
      for (const r of list) {
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
    const st = this.subtables.get(maskId(mask));
    if (!st || !sameMask(st.mask, mask)) return undefined;
    const list = st.buckets.get(hashMaskedWords(key, st));
    if (!list) return undefined;
    for (const r of list) {
      if (r.priority !== priority || r.addedIn > version || r.removedIn <= version) continue;
      let eq = true;
      for (const i of st.words) if (r.key[i] !== key[i]) eq = false;
      if (eq) return r;
    }
    return undefined;
  }

  /** Every stored rule (any version), in no particular order. */
  *rules(): IterableIterator<ClsRule<T>> {
    for (const st of this.subtables.values()) for (const l of st.buckets.values()) yield* l;
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

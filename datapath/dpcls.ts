/**
 * The datapath's two flow caches, after OVS's dpif-netdev:
 *
 * - {@link Dpcls}, the megaflow cache: a tuple-space classifier without priorities. Flows with
 *   the same mask share a {@link Subtable}, a hash table of masked keys; a lookup probes the
 *   subtables (most-hit first) and returns the first flow whose masked key equals the packet's
 *   key under that mask. Megaflows installed from xlate's wildcards never overlap for a given
 *   packet in a way that matters (any match gives the same actions), as in OVS.
 * - {@link Emc}, the exact-match cache: a 2-way set-associative table keyed by the hash of the
 *   whole flow key, pointing at megaflows. Entries whose flow died are misses.
 *
 * Both look up without allocating.
 */
import { FLOW_KEY_WORDS, W, hashKey, type FlowKey } from '../lib/packet/flow-key.js';
import type { DpAction } from './actions.js';

/** One installed megaflow. */
export class DpFlow {
  /** Masked key (what lookups compare against). */
  readonly maskedKey: FlowKey;
  /** Statistics: packets that hit the flow (the packet that caused the upcall is not counted, as in OVS). */
  packets = 0;
  /** Statistics: bytes of those packets. */
  bytes = 0;
  /** Clock time of the last hit in ms, or -1 when never hit. */
  used = -1;
  /** OR of the TCP flags of the packets that hit. */
  tcpFlags = 0;
  /** True once removed from the cache (EMC entries pointing here are then misses). */
  dead = false;
  /** Next flow in the same subtable bucket. */
  next: DpFlow | undefined = undefined;
  /** Hash of the masked key in its subtable. */
  hash = 0;
  /** Index of the last packet-modifying action (see execute.ts lastModifying). */
  lastMod = -1;

  constructor(
    /** Datapath-unique id (stable for the flow's lifetime; printed as its ufid). */
    readonly id: number,
    /** Key of the packet that created the flow (unmasked; for dumps). */
    readonly key: FlowKey,
    /** Which bits of the key the flow matches. */
    readonly mask: FlowKey,
    /** Actions to run on a hit. */
    public actions: readonly DpAction[],
    /** Clock time of installation, in ms. */
    readonly created: number,
    /**
     * Storage for the masked key (FLOW_KEY_WORDS words the flow may own, e.g. a view sharing
     * one buffer with `key`); default: a new array.
     */
    maskedKeyStorage?: FlowKey,
  ) {
    this.maskedKey = maskedKeyStorage ?? new Uint32Array(FLOW_KEY_WORDS);
    for (let i = 0; i < FLOW_KEY_WORDS; i++) this.maskedKey[i] = (key[i]! & mask[i]!) >>> 0;
  }
}

const scratch = new Uint32Array(FLOW_KEY_WORDS);
/** Hash basis of masks (subtable index). */
const MASK_BASIS = 0x6d61736b;

/** Flows sharing one mask. */
export class Subtable {
  /** Indexes of the mask's non-zero words. */
  readonly words: Uint8Array;
  /** Masked-key hash → first flow of the chain. */
  readonly buckets = new Map<number, DpFlow>();
  /** Flows stored. */
  count = 0;
  /** Lookups that hit here (used to order subtables). */
  hits = 0;

  constructor(
    /** The shared mask. */
    readonly mask: FlowKey,
  ) {
    const w: number[] = [];
    for (let i = 0; i < FLOW_KEY_WORDS; i++) if (mask[i] !== 0) w.push(i);
    this.words = Uint8Array.from(w);
  }

  /** Hash of `key` under the mask (`key` need not be masked). */
  hashOf(key: FlowKey): number {
    const w = this.words;
    const m = this.mask;
    for (let i = 0; i < w.length; i++) {
      const j = w[i]!;
      scratch[i] = key[j]! & m[j]!;
    }
    return hashKey(scratch, w.length);
  }

  /** The flow matching `key` under the mask, or undefined. */
  lookup(key: FlowKey): DpFlow | undefined {
    let f = this.buckets.get(this.hashOf(key));
    const w = this.words;
    const m = this.mask;
    while (f !== undefined) {
      const mk = f.maskedKey;
      let i = 0;
      for (; i < w.length; i++) {
        const j = w[i]!;
        if ((key[j]! & m[j]!) >>> 0 !== mk[j]) break;
      }
      if (i === w.length) return f;
      f = f.next;
    }
    return undefined;
  }

  /** Adds a flow (its mask must equal this subtable's). */
  insert(f: DpFlow): void {
    f.hash = this.hashOf(f.key);
    f.next = this.buckets.get(f.hash);
    this.buckets.set(f.hash, f);
    this.count++;
  }

  /** Removes a flow; returns true if it was present. */
  remove(f: DpFlow): boolean {
    let prev: DpFlow | undefined;
    let cur = this.buckets.get(f.hash);
    while (cur !== undefined && cur !== f) {
      prev = cur;
      cur = cur.next;
    }
    if (cur === undefined) return false;
    if (prev === undefined) {
      if (f.next === undefined) this.buckets.delete(f.hash);
      else this.buckets.set(f.hash, f.next);
    } else {
      prev.next = f.next;
    }
    f.next = undefined;
    this.count--;
    return true;
  }
}

/** Whether two masks are equal, word for word. */
function sameMask(a: FlowKey, b: FlowKey): boolean {
  if (a === b) return true;
  for (let i = 0; i < FLOW_KEY_WORDS; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The megaflow classifier. */
export class Dpcls {
  /** Subtables by the hash of their mask (a list: distinct masks may share a hash). */
  private readonly byMask = new Map<number, Subtable[]>();
  /** Subtables in probe order. */
  private order: Subtable[] = [];
  private lookups = 0;

  /** Number of subtables (distinct masks). */
  get subtableCount(): number {
    return this.order.length;
  }

  /** The flow matching `key`, or undefined. Reorders subtables by hits now and then. */
  lookup(key: FlowKey): DpFlow | undefined {
    const o = this.order;
    if (++this.lookups >= 1 << 16) this.resort();
    for (let i = 0; i < o.length; i++) {
      const st = o[i]!;
      const f = st.lookup(key);
      if (f !== undefined) {
        st.hits++;
        return f;
      }
    }
    return undefined;
  }

  /**
   * The subtable of flows with exactly `mask`, if any. Its `mask` is an equal array that new
   * flows with this mask may share (see {@link DpFlow}'s `mask`). No allocation.
   */
  subtable(mask: FlowKey): Subtable | undefined {
    const list = this.byMask.get(hashKey(mask, FLOW_KEY_WORDS, MASK_BASIS));
    if (list === undefined) return undefined;
    for (let i = 0; i < list.length; i++) if (sameMask(list[i]!.mask, mask)) return list[i];
    return undefined;
  }

  /** The flow with exactly this mask whose masked key equals `key` under it, if any. */
  findExact(key: FlowKey, mask: FlowKey): DpFlow | undefined {
    return this.subtable(mask)?.lookup(key);
  }

  /** Adds a flow. */
  insert(f: DpFlow): void {
    let st = this.subtable(f.mask);
    if (st === undefined) {
      st = new Subtable(f.mask);
      const h = hashKey(f.mask, FLOW_KEY_WORDS, MASK_BASIS);
      const list = this.byMask.get(h);
      if (list === undefined) this.byMask.set(h, [st]);
      else list.push(st);
      this.order.push(st);
    }
    st.insert(f);
  }

  /** Removes a flow; returns true if it was present. */
  remove(f: DpFlow): boolean {
    const st = this.subtable(f.mask);
    if (st === undefined || !st.remove(f)) return false;
    if (st.count === 0) {
      const h = hashKey(st.mask, FLOW_KEY_WORDS, MASK_BASIS);
      const list = this.byMask.get(h)!.filter((s) => s !== st);
      if (list.length === 0) this.byMask.delete(h);
      else this.byMask.set(h, list);
      this.order = this.order.filter((s) => s !== st);
    }
    return true;
  }

  /** Removes everything. */
  clear(): void {
    this.byMask.clear();
    this.order = [];
  }

  private resort(): void {
    this.lookups = 0;
    this.order.sort((a, b) => b.hits - a.hits);
    for (const st of this.order) st.hits = 0;
  }
}

/**
 * Words of the key that the EMC hash covers: the ones that vary between packets in practice
 * (ports, recirculation, L2, L3 addresses and protocol, L4 ports). Lookups still compare every
 * word, so leaving the rest out costs at worst collisions, never a wrong hit (OVS hashes even
 * less: the RSS 5-tuple).
 */
const EMC_HASH_WORDS = Uint8Array.from([
  W.IN_PORT,
  W.RECIRC_ID,
  W.DP_HASH,
  W.ETH_DST,
  W.ETH_DST + 1,
  W.ETH_SRC,
  W.ETH_SRC + 1,
  W.ETH_TYPE,
  W.VLAN0,
  W.NW_SRC,
  W.NW_DST,
  W.IPV6_SRC + 3,
  W.IPV6_DST + 3,
  W.NW,
  W.TP,
]);

/** The EMC's hash of a full key (see EMC_HASH_WORDS). No allocation. */
export function emcHash(key: FlowKey): number {
  const w = EMC_HASH_WORDS;
  for (let i = 0; i < w.length; i++) scratch[i] = key[w[i]!]!;
  return hashKey(scratch, w.length, 0x2545f491);
}

/** Default number of EMC entries (OVS: 8192). */
export const EMC_ENTRIES = 8192;

/** The exact-match cache. */
export class Emc {
  private readonly n: number;
  private readonly hashes: Uint32Array;
  private readonly keys: Uint32Array;
  private readonly flows: (DpFlow | undefined)[];
  /** An entry was set since the last {@link clear}. */
  private inserted = false;

  /** @param entries number of entries, rounded up to a power of two. */
  constructor(entries = EMC_ENTRIES) {
    let n = 1;
    while (n < entries) n <<= 1;
    this.n = n;
    this.hashes = new Uint32Array(n);
    this.keys = new Uint32Array(n * FLOW_KEY_WORDS);
    this.flows = new Array<DpFlow | undefined>(n).fill(undefined);
  }

  private same(i: number, key: FlowKey, hash: number): boolean {
    const f = this.flows[i];
    if (f === undefined || f.dead || this.hashes[i] !== hash) return false;
    const k = this.keys;
    const base = i * FLOW_KEY_WORDS;
    for (let w = 0; w < FLOW_KEY_WORDS; w++) if (k[base + w] !== key[w]) return false;
    return true;
  }

  /** The live flow cached for exactly `key` (whose full-key hash is `hash`), or undefined. */
  lookup(key: FlowKey, hash: number): DpFlow | undefined {
    const m = this.n - 1;
    const i1 = hash & m;
    if (this.same(i1, key, hash)) return this.flows[i1];
    const i2 = (hash >>> 16) & m;
    if (this.same(i2, key, hash)) return this.flows[i2];
    return undefined;
  }

  /** Caches `key` → `flow`, replacing the same key, a dead entry, or the lower-hash way. */
  insert(key: FlowKey, hash: number, flow: DpFlow): void {
    const m = this.n - 1;
    const i1 = hash & m;
    const i2 = (hash >>> 16) & m;
    let i: number;
    if (this.same(i1, key, hash)) i = i1;
    else if (this.same(i2, key, hash)) i = i2;
    else {
      const f1 = this.flows[i1];
      const f2 = this.flows[i2];
      if (f1 === undefined || f1.dead) i = i1;
      else if (f2 === undefined || f2.dead) i = i2;
      else i = this.hashes[i1]! <= this.hashes[i2]! ? i1 : i2;
    }
    this.hashes[i] = hash;
    this.keys.set(key, i * FLOW_KEY_WORDS);
    this.flows[i] = flow;
    this.inserted = true;
  }

  /** Forgets every entry (nothing to do when nothing was inserted since the last clear). */
  clear(): void {
    if (!this.inserted) return;
    this.flows.fill(undefined);
    this.inserted = false;
  }

  /** Number of entries pointing at live flows (for tests and introspection). */
  liveEntries(): number {
    let c = 0;
    for (const f of this.flows) if (f !== undefined && !f.dead) c++;
    return c;
  }
}

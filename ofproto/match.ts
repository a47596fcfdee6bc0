/**
 * OpenFlow matches (OXM lists) as classifier rules: a masked key and a mask over the flow key of
 * lib/packet/flow-key.ts. Field names are shared by the two tables (the OXM name), so the
 * conversion is one generic loop.
 */
import {
  FLOW_KEY_WORDS,
  fieldByName,
  hashKey,
  newFlowKey,
  setFieldBig,
  type FieldDesc,
  type FlowKey,
} from '../lib/packet/flow-key.js';
import type { Match, OxmValue } from '../openflow/oxm.js';

/** A match as the classifier sees it. */
export interface MaskedMatch {
  /** Values, already ANDed with the mask. */
  key: FlowKey;
  /** Matched bits. */
  mask: FlowKey;
}

function toBig(v: OxmValue): bigint {
  return typeof v === 'bigint' ? v : BigInt(v);
}

function fieldMaskBig(d: FieldDesc): bigint {
  return (1n << BigInt(d.bits)) - 1n;
}

function lowMask(bits: number): number {
  return bits >= 32 ? 0xffffffff : ((1 << bits) >>> 0) - 1;
}

/** Keys per slab: the keys of rules live in shared buffers, not one ArrayBuffer each. */
const SLAB_KEYS = 128;
let slab = new ArrayBuffer(0);
let slabUsed = SLAB_KEYS;

/**
 * A zeroed key carved out of a shared slab (a view on a buffer holding {@link SLAB_KEYS} keys):
 * a rule's key then costs its words and a view instead of a whole ArrayBuffer with its own
 * off-heap backing store (about half the memory and far less GC work per rule). A slab is freed
 * when none of its keys is referenced any more.
 */
function slabKey(): FlowKey {
  if (slabUsed === SLAB_KEYS) {
    slab = new ArrayBuffer(SLAB_KEYS * FLOW_KEY_WORDS * 4);
    slabUsed = 0;
  }
  // The constructor is much cheaper than subarray() (no species lookup).
  return new Uint32Array(slab, slabUsed++ * FLOW_KEY_WORDS * 4, FLOW_KEY_WORDS);
}

/** Masks handed out so far, by hash (bounded; a mask is shared by every rule that has it). */
const maskCache = new Map<number, FlowKey[]>();
const MASK_CACHE_MAX = 4096;

/** The shared array equal to `m` (which is left untouched). Callers never write to masks. */
function sharedMask(m: FlowKey): FlowKey {
  const h = hashKey(m);
  let list = maskCache.get(h);
  if (list) {
    outer: for (const c of list) {
      for (let i = 0; i < FLOW_KEY_WORDS; i++) if (c[i] !== m[i]) continue outer;
      return c;
    }
  } else {
    if (maskCache.size >= MASK_CACHE_MAX) maskCache.clear();
    list = [];
    maskCache.set(h, list);
  }
  const c = Uint32Array.from(m);
  list.push(c);
  return c;
}

const sKey = newFlowKey();
const sMask = newFlowKey();
const sTmp = newFlowKey();

/**
 * Converts an OXM match to key + mask. The OXM field table and the flow-key field table share
 * names; an OXM field without a flow-key slot is a programming error (thrown as RangeError).
 *
 * The returned mask is shared with every other match that has the same mask, and the key may
 * share its buffer with other keys: neither may be written to.
 */
export function matchToMasked(match: Match): MaskedMatch {
  sKey.fill(0);
  sMask.fill(0);
  for (let k = 0; k < match.length; k++) {
    const e = match[k]!;
    const d = fieldByName(e.field);
    if (!d) throw new RangeError(`no flow-key slot for OXM field ${e.field}`);
    const v = e.value;
    const em = e.mask;
    if (
      d.bits <= 32 &&
      typeof v === 'number' &&
      (em === undefined || typeof em === 'number') &&
      d.bit + d.bits <= 32
    ) {
      // Fast path: the field sits in one word. OR in (fields sharing a word must not clobber
      // each other).
      const fm = lowMask(d.bits);
      const m = em === undefined ? fm : (em & fm) >>> 0;
      sMask[d.word] = (sMask[d.word]! | ((m << d.bit) >>> 0)) >>> 0;
      sKey[d.word] = (sKey[d.word]! | (((v & m) << d.bit) >>> 0)) >>> 0;
      continue;
    }
    const m = em === undefined ? fieldMaskBig(d) : toBig(em) & fieldMaskBig(d);
    sTmp.fill(0);
    setFieldBig(sTmp, d, m);
    for (let i = 0; i < FLOW_KEY_WORDS; i++) sMask[i] = (sMask[i]! | sTmp[i]!) >>> 0;
    sTmp.fill(0);
    setFieldBig(sTmp, d, toBig(v) & m);
    for (let i = 0; i < FLOW_KEY_WORDS; i++) sKey[i] = (sKey[i]! | sTmp[i]!) >>> 0;
  }
  const key = slabKey();
  key.set(sKey);
  return { key, mask: sharedMask(sMask) };
}

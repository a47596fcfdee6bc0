/**
 * OpenFlow matches (OXM lists) as classifier rules: a masked key and a mask over the flow key of
 * lib/packet/flow-key.ts. Field names are shared by the two tables (the OXM name), so the
 * conversion is one generic loop.
 */
import {
  FLOW_KEY_WORDS,
  fieldByName,
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

/**
 * Converts an OXM match to key + mask. The OXM field table and the flow-key field table share
 * names; an OXM field without a flow-key slot is a programming error (thrown as RangeError).
 */
export function matchToMasked(match: Match): MaskedMatch {
  const key = newFlowKey();
  const mask = newFlowKey();
  const tmp = newFlowKey();
  for (const e of match) {
    const d = fieldByName(e.field);
    if (!d) throw new RangeError(`no flow-key slot for OXM field ${e.field}`);
    const m = e.mask === undefined ? fieldMaskBig(d) : toBig(e.mask) & fieldMaskBig(d);
    // OR into the mask (fields sharing a word must not clobber each other).
    tmp.fill(0);
    setFieldBig(tmp, d, m);
    for (let i = 0; i < FLOW_KEY_WORDS; i++) mask[i] = (mask[i]! | tmp[i]!) >>> 0;
    tmp.fill(0);
    setFieldBig(tmp, d, toBig(e.value) & m);
    for (let i = 0; i < FLOW_KEY_WORDS; i++) key[i] = (key[i]! | tmp[i]!) >>> 0;
  }
  return { key, mask };
}

/** Shared helpers for the lib/packet tests (not a test file itself). */
import { extractFlowKey } from '../../../../lib/packet/extract.js';
import type { FlowKey } from '../../../../lib/packet/flow-key.js';
import { FIELDS, getFieldBig, newFlowKey } from '../../../../lib/packet/flow-key.js';

/** Bytes from a hex string; white space and `|` separators are ignored. */
export function hex(s: string): Uint8Array {
  const clean = s.replace(/[\s|]/g, '');
  if (clean.length % 2 !== 0) throw new Error(`odd hex length: ${s}`);
  const b = new Uint8Array(clean.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return b;
}

/** Extracts a whole frame into a new key. */
export function extract(frame: Uint8Array, inPort = 1, len = frame.length): FlowKey {
  const k = newFlowKey();
  extractFlowKey(frame, 0, len, inPort, k);
  return k;
}

/** Every field of a key as name → bigint, for readable diffs (only non-zero fields). */
export function fieldsOf(k: FlowKey): Record<string, string> {
  const o: Record<string, string> = {};
  for (const d of FIELDS) {
    const v = getFieldBig(k, d);
    if (v !== 0n) o[d.name] = '0x' + v.toString(16);
  }
  return o;
}

/** A field's value as a number (fields of at most 32 bits) or bigint (wider). */
export function fv(k: FlowKey, name: string): number | bigint {
  const d = FIELDS.find((x) => x.name === name);
  if (!d) throw new Error(`no field ${name}`);
  const v = getFieldBig(k, d);
  return d.bits <= 32 ? Number(v) : v;
}

/** Ethernet header: dst 00:00:00:00:00:02, src 00:00:00:00:00:01. */
export const ETH_HDR = '000000000002 000000000001';

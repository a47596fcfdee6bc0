/**
 * fast-check properties of the OpenFlow codec (pinned seeds):
 *  - decoding arbitrary bytes, random header-valid messages, and mutated/truncated golden
 *    messages throws nothing but OfpError;
 *  - encode∘decode is the identity for generated messages of every message type, every OXM
 *    field, every action and every instruction (one property per table entry).
 */
import t from 'tap';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { decodeMessage, encodeMessage, type OfpMessage } from '../../openflow/messages.js';
import { validateMessage } from '../../openflow/validate.js';
import { OfpError } from '../../openflow/errors.js';
import {
  OXM_FIELDS,
  decodeMatch,
  decodeOxmEntry as decodeOxm,
  encodeMatch,
  type OxmEntry,
} from '../../openflow/oxm.js';
import { ACTIONS, decodeActionBytes, encodeActions } from '../../openflow/actions.js';
import {
  INSTRUCTIONS,
  decodeInstructionBytes,
  encodeInstructions,
} from '../../openflow/instructions.js';
import { Reader, Writer } from '../../openflow/bytes.js';
import { toHex } from '../../openflow/print.js';
import { SAMPLES } from '../golden/openflow/samples.js';
import {
  ACTION_ARBS,
  INSTRUCTION_ARBS,
  MESSAGE_ARBS,
  entryFor,
  matchArb,
} from './openflow-arbitraries.js';

const SEED = 0x0f13;
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

/** Deep-comparable form (Uint8Array/Buffer → hex). */
function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return toHex(v);
  if (Array.isArray(v)) return v.map(norm);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  }
  return v;
}

function onlyOfpError(bytes: Uint8Array): void {
  try {
    const m = decodeMessage(bytes);
    validateMessage(m);
  } catch (e) {
    if (!(e instanceof OfpError)) throw e;
  }
}

t.test('decoding arbitrary bytes throws only OfpError', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), onlyOfpError), {
    seed: SEED,
    numRuns: RUNS * 3,
  });
  // Header-valid frames reach the body decoders.
  const framed = fc
    .tuple(fc.integer({ min: 0, max: 35 }), fc.uint8Array({ maxLength: 400 }), fc.boolean())
    .map(([type, body, mp]) => {
      const out = new Uint8Array(8 + body.length);
      out.set(body, 8);
      if (mp && body.length >= 2) out[9] = out[9]! % 16;
      const v = new DataView(out.buffer);
      v.setUint8(0, 4);
      v.setUint8(1, type);
      v.setUint16(2, out.length);
      return out;
    });
  fc.assert(fc.property(framed, onlyOfpError), { seed: SEED, numRuns: RUNS * 5 });
  t.pass('no foreign exception');
  t.end();
});

t.test('mutated and truncated golden messages throw only OfpError', (t) => {
  const goldens = SAMPLES.map((s) => encodeMessage(s.msg));
  const mutated = fc
    .tuple(
      fc.constantFrom(...goldens),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.nat(),
      fc.boolean(),
    )
    .map(([g, flips, cut, truncate]) => {
      const b = g.slice();
      for (const [i, v] of flips) if (b.length > 8) b[8 + (i % (b.length - 8))] = v;
      if (!truncate) return b;
      const n = 8 + (cut % Math.max(1, b.length - 8));
      const c = b.slice(0, n);
      new DataView(c.buffer).setUint16(2, n);
      return c;
    });
  fc.assert(fc.property(mutated, onlyOfpError), { seed: SEED, numRuns: RUNS * 10 });
  t.pass('no foreign exception');
  t.end();
});

function roundTrip(m: OfpMessage): void {
  const bytes = encodeMessage(m);
  const back = decodeMessage(bytes);
  if (!isDeepStrictEqual(norm(back), norm(m))) {
    throw new Error(`round trip differs for ${m.type}`);
  }
  const again = encodeMessage(back);
  if (toHex(again) !== toHex(bytes)) throw new Error(`re-encode differs for ${m.type}`);
}

t.test('encode∘decode is identity for every message type', (t) => {
  for (const [type, arb] of Object.entries(MESSAGE_ARBS)) {
    const r = fc.check(fc.property(arb, roundTrip), { seed: SEED, numRuns: RUNS });
    t.notOk(r.failed, `${type}`, {
      counterexample: r.counterexample?.map((x) => norm(x)),
      error: String(r.errorInstance),
    });
  }
  t.end();
});

t.test('encode∘decode is identity for every OXM field (alone and in matches)', (t) => {
  for (const d of OXM_FIELDS) {
    // A field on its own: prerequisites are not checked by the entry codec, only by decodeMatch.
    const r = fc.check(
      fc.property(entryFor(d), (e: OxmEntry) => {
        const w = new Writer();
        encodeMatch(w, [e]);
        const bytes = w.finish();
        // Decode the TLV with the prerequisite-free path: strip the match header and re-wrap.
        const m = decodeMatchLoose(bytes);
        return isDeepStrictEqual(norm(m), norm([e]));
      }),
      { seed: SEED, numRuns: 50 },
    );
    t.notOk(r.failed, d.name, { counterexample: r.counterexample?.map((x) => norm(x)) });
  }
  const r = fc.check(
    fc.property(matchArb, (m) => {
      const w = new Writer();
      encodeMatch(w, m);
      const bytes = w.finish();
      const back = decodeMatch(new Reader(bytes, 0, bytes.length, 'OFPBMC_BAD_LEN'));
      return isDeepStrictEqual(norm(back), norm(m));
    }),
    { seed: SEED, numRuns: RUNS * 2 },
  );
  t.notOk(r.failed, 'valid matches', { counterexample: r.counterexample?.map((x) => norm(x)) });
  t.end();
});

t.test('encode∘decode is identity for every action and instruction', (t) => {
  for (const d of ACTIONS) {
    const r = fc.check(
      fc.property(ACTION_ARBS[d.name], (a) => {
        const w = new Writer();
        encodeActions(w, [a]);
        const back = decodeActionBytes(w.finish());
        return isDeepStrictEqual(norm(back), norm([a]));
      }),
      { seed: SEED, numRuns: 100 },
    );
    t.notOk(r.failed, `action ${d.name}`, {
      counterexample: r.counterexample?.map((x) => norm(x)),
    });
  }
  for (const d of INSTRUCTIONS) {
    const r = fc.check(
      fc.property(INSTRUCTION_ARBS[d.name], (i) => {
        const w = new Writer();
        encodeInstructions(w, [i]);
        const back = decodeInstructionBytes(w.finish());
        return isDeepStrictEqual(norm(back), norm([i]));
      }),
      { seed: SEED, numRuns: 100 },
    );
    t.notOk(r.failed, `instruction ${d.name}`, {
      counterexample: r.counterexample?.map((x) => norm(x)),
    });
  }
  t.end();
});

/** Decodes a one-entry match without prerequisite checks (entry codec only). */
function decodeMatchLoose(bytes: Uint8Array): OxmEntry[] {
  const len = new DataView(bytes.buffer, bytes.byteOffset).getUint16(2);
  const r = new Reader(bytes, 4, len, 'OFPBMC_BAD_LEN');
  const out: OxmEntry[] = [];
  while (r.pos < len) out.push(decodeOxm(r));
  return out;
}

import t from 'tap';
import fc from 'fast-check';
import { JsonFramer, FramerError } from '../../lib/framer-json.js';
import { OpenFlowFramer } from '../../lib/framer-openflow.js';
import { stringifyJson, type Json } from '../../lib/json.js';

const SEED = 0x5eed_0002;

/** Cuts `buf` at the given relative positions. */
function cut(buf: Uint8Array, fractions: number[]): Uint8Array[] {
  const points = [...new Set(fractions.map((f) => Math.floor(f * buf.length)))].sort(
    (a, b) => a - b,
  );
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

const jsonObject = fc
  .dictionary(
    fc.string({ unit: 'grapheme' }),
    fc.oneof(
      fc.string({ unit: 'grapheme' }),
      fc.integer(),
      fc.bigInt({ min: 2n ** 60n, max: 2n ** 64n }),
      fc.json().map((s) => JSON.parse(s) as Json),
    ),
    { maxKeys: 6 },
  )
  .map((o) => o as Json);
const whitespace = fc.constantFrom('', ' ', '\n', '\r\n', '\t  ');

void t.test('JSON framer: random chunkings give the encoded messages back', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(jsonObject, whitespace), { minLength: 1, maxLength: 8 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
      (msgs, fractions) => {
        const texts = msgs.map(([m, ws]) => stringifyJson(m) + ws);
        const stream = Buffer.from(texts.join(''), 'utf8');
        const f = new JsonFramer();
        const got: Json[] = [];
        for (const c of cut(stream, fractions)) got.push(...f.push(c));
        if (got.length !== msgs.length) return false;
        return got.every((g, i) => stringifyJson(g) === stringifyJson(msgs[i]![0]));
      },
    ),
    { seed: SEED, numRuns: 1000 },
  );
  t.pass();
  t.end();
});

void t.test('JSON framer: garbage only ever throws FramerError', (t) => {
  const piece = fc.oneof(
    fc.constantFrom('{', '}', '[', ']', '"', '\\', ':', ',', '1', 'true', ' ', '{"a":', '\u00e9'),
    fc.uint8Array({ maxLength: 6 }).map((b) => Buffer.from(b).toString('latin1')),
  );
  fc.assert(
    fc.property(
      fc.array(piece, { maxLength: 40 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 5 }),
      (parts, fractions) => {
        const stream = Buffer.from(parts.join(''), 'latin1');
        const f = new JsonFramer({ maxDepth: 8, maxMessageBytes: 64 });
        try {
          for (const c of cut(stream, fractions)) {
            for (const m of f.push(c)) {
              if (typeof m !== 'object' || m === null || Array.isArray(m)) return false;
            }
          }
        } catch (e) {
          if (!(e instanceof FramerError)) throw e;
        }
        return true;
      },
    ),
    { seed: SEED, numRuns: 5000 },
  );
  t.pass();
  t.end();
});

void t.test('JSON framer: split invariance holds for errors too', (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 80 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 5 }),
      (bytes, fractions) => {
        const run = (chunks: Uint8Array[]): string => {
          const f = new JsonFramer({ maxDepth: 4, maxMessageBytes: 40 });
          const got: Json[] = [];
          try {
            for (const c of chunks) got.push(...f.push(c));
            return stringifyJson(got);
          } catch (e) {
            if (!(e instanceof FramerError)) throw e;
            return `${stringifyJson([...got, ...(e.messages as Json[])])}!${e.reason}`;
          }
        };
        const prefix = Buffer.from('{"a":[1,"x"]} {"b":{}}');
        const stream = Buffer.concat([prefix, bytes]);
        const whole = run([stream]);
        const split = run(cut(stream, fractions));
        // A too-long message may be noticed at a chunk end before a later error; other reasons
        // must agree exactly.
        return whole === split || whole.endsWith('!too-long') !== split.endsWith('!too-long');
      },
    ),
    { seed: SEED, numRuns: 3000 },
  );
  t.pass();
  t.end();
});

void t.test('OpenFlow framer: random messages and chunkings', (t) => {
  const ofMsg = fc.uint8Array({ maxLength: 300 }).chain((body) =>
    fc
      .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffffffff }))
      .map(([type, xid]) => {
        const b = Buffer.alloc(8 + body.length);
        b[0] = 4;
        b[1] = type;
        b.writeUInt16BE(b.length, 2);
        b.writeUInt32BE(xid, 4);
        b.set(body, 8);
        return b;
      }),
  );
  fc.assert(
    fc.property(
      fc.array(ofMsg, { maxLength: 10 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
      (msgs, fractions) => {
        const stream = Buffer.concat(msgs);
        const f = new OpenFlowFramer();
        const got: Buffer[] = [];
        for (const c of cut(stream, fractions)) got.push(...f.push(c));
        return (
          got.length === msgs.length && got.every((g, i) => g.equals(msgs[i]!)) && f.pending() === 0
        );
      },
    ),
    { seed: SEED, numRuns: 1000 },
  );
  t.pass();
  t.end();
});

void t.test('OpenFlow framer: garbage only ever throws FramerError', (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 200 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
      (bytes, fractions) => {
        const f = new OpenFlowFramer();
        try {
          for (const c of cut(bytes, fractions))
            for (const m of f.push(c)) if (m.length < 8) return false;
        } catch (e) {
          if (!(e instanceof FramerError)) throw e;
        }
        return true;
      },
    ),
    { seed: SEED, numRuns: 3000 },
  );
  t.pass();
  t.end();
});

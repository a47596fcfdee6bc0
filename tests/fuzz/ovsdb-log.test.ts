/**
 * Properties of the database log codec and the record replayer: encode∘decode is the identity,
 * decoding is split-invariant, damaged input yields a good prefix plus a typed error, and no input
 * makes either throw anything but its own typed error. Seeds are pinned.
 */
import t from 'tap';
import fc from 'fast-check';
import { parseJson, stringifyJson, type Json, type JsonObject } from '../../lib/json.js';
import { LogDecoder, LogError, decodeAll, encodeRecord, type LogRecord } from '../../ovsdb/log.js';
import { FileFormatError, ReplayState, parseSchemaForStorage } from '../../ovsdb/file-format.js';

const jsonLeaf: fc.Arbitrary<Json> = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0)),
  fc.boolean(),
  fc.constant(null),
  fc
    .bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n })
    .filter((b) => b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)),
);
const { value: jsonValue } = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    jsonLeaf,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string(), tie('value'), { maxKeys: 4 }),
  ),
}));
const recordArb: fc.Arbitrary<JsonObject> = fc.dictionary(fc.string(), jsonValue, { maxKeys: 5 });
const recordsArb = fc.array(recordArb, { minLength: 1, maxLength: 6 });

const text = (j: Json): string => stringifyJson(j);

function encodeAll(recs: JsonObject[]): { buf: Buffer; ends: number[] } {
  const parts = recs.map((r) => encodeRecord(r));
  const ends: number[] = [];
  let off = 0;
  for (const p of parts) ends.push((off += p.length));
  return { buf: Buffer.concat(parts), ends };
}

void t.test('encode then decode is the identity, under any chunking', (t) => {
  fc.assert(
    fc.property(recordsArb, fc.array(fc.nat(), { maxLength: 10 }), (recs, cuts) => {
      const { buf } = encodeAll(recs);
      const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
      const d = new LogDecoder();
      const got: LogRecord[] = [];
      let prev = 0;
      for (const p of [...points, buf.length]) {
        got.push(...d.push(buf.subarray(prev, p)));
        prev = p;
      }
      d.end();
      return (
        d.error === undefined &&
        got.length === recs.length &&
        got.every((r, i) => text(r.json) === text(recs[i]!))
      );
    }),
    { seed: 1121, numRuns: 300 },
  );
  t.end();
});

void t.test(
  'truncation anywhere: the complete records before the cut, then a truncated error',
  (t) => {
    fc.assert(
      fc.property(recordsArb, fc.nat(), (recs, c) => {
        const { buf, ends } = encodeAll(recs);
        const cut = c % (buf.length + 1);
        const { records, error, goodOffset } = decodeAll(buf.subarray(0, cut));
        const complete = ends.filter((e) => e <= cut).length;
        const boundary = cut === 0 || ends.includes(cut);
        return (
          records.length === complete &&
          goodOffset === (complete ? ends[complete - 1] : 0) &&
          records.every((r, i) => text(r.json) === text(recs[i]!)) &&
          (boundary ? error === undefined : error?.kind === 'truncated')
        );
      }),
      { seed: 1122, numRuns: 500 },
    );
    t.end();
  },
);

void t.test(
  'random damage: only original records come back, in order, and errors are typed',
  (t) => {
    fc.assert(
      fc.property(
        recordsArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (recs, hits) => {
          const { buf } = encodeAll(recs);
          const bad = Buffer.from(buf);
          for (const [pos, v] of hits) bad[pos % bad.length] = v;
          let res: ReturnType<typeof decodeAll>;
          try {
            res = decodeAll(bad);
          } catch {
            return false;
          }
          if (res.error !== undefined && !(res.error instanceof LogError)) return false;
          if (res.records.length < recs.length && res.error === undefined) return false;
          return res.records.every((r, i) => text(r.json) === text(recs[i]!));
        },
      ),
      { seed: 1123, numRuns: 500 },
    );
    t.end();
  },
);

void t.test('arbitrary bytes never make the decoder throw', (t) => {
  const headerish = fc
    .tuple(
      fc.constantFrom('OVSDB JSON ', 'OVSDB CLUSTER ', 'OVSDB ', ''),
      fc.string(),
      fc.uint8Array({ maxLength: 64 }),
    )
    .map(([a, b, c]) => Buffer.concat([Buffer.from(a + b), c]));
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), headerish), (bytes) => {
      const { records, error } = decodeAll(bytes);
      return (
        (error === undefined || error instanceof LogError) &&
        records.every((r) => typeof r.json === 'object')
      );
    }),
    { seed: 1124, numRuns: 1000 },
  );
  t.end();
});

void t.test('the replayer throws only FileFormatError, whatever the record', (t) => {
  const schema = parseSchemaForStorage({
    name: 'F',
    tables: {
      T: {
        columns: {
          i: { type: 'integer' },
          s: { type: { key: 'string', min: 0, max: 'unlimited' } },
          m: { type: { key: 'string', value: { type: 'uuid' }, min: 0, max: 'unlimited' } },
          o: { type: { key: 'real', min: 0, max: 1 } },
        },
      },
    },
  });
  const U = '00000000-0000-4000-8000-000000000001';
  const colVal = fc.oneof(
    jsonValue,
    fc.constant(['set', ['a', 'b']] as Json),
    fc.constant(['map', [['k', ['uuid', U]]]] as Json),
  );
  const rowArb = fc.oneof(
    fc.constant(null),
    fc.dictionary(fc.constantFrom('i', 's', 'm', 'o', 'x', '_uuid'), colVal, { maxKeys: 4 }),
    jsonValue,
  );
  const recArb = fc.oneof(
    fc.record({
      T: fc.dictionary(fc.constantFrom(U, 'bad', U.toUpperCase()), rowArb, { maxKeys: 2 }),
      _is_diff: fc.boolean(),
    }),
    recordArb as fc.Arbitrary<Json>,
  );
  fc.assert(
    fc.property(fc.array(recArb, { maxLength: 5 }), (recs) => {
      const st = new ReplayState(schema);
      for (const r of recs) {
        try {
          st.apply(parseJson(stringifyJson(r)));
        } catch (e) {
          if (!(e instanceof FileFormatError)) return false;
        }
      }
      // Whatever was accepted prints back as a valid record.
      st.apply(parseJson(stringifyJson(st.toRecord())));
      return true;
    }),
    { seed: 1125, numRuns: 1000 },
  );
  t.end();
});

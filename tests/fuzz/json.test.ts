import t from 'tap';
import fc from 'fast-check';
import { parseJson, stringifyJson, JsonError, type Json } from '../../lib/json.js';

const SEED = 0x5eed_0001;

/** JSON values as parseJson produces them: integers outside the safe range are bigint, no -0. */
const jsonValue: fc.Arbitrary<Json> = fc.letrec<{ v: Json }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)),
    fc
      .bigInt({ min: -(2n ** 64n), max: 2n ** 64n })
      .filter((b) => b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)),
    fc.string({ unit: 'grapheme' }),
    fc.string({ unit: 'binary' }),
    fc.array(tie('v'), { maxLength: 5 }),
    fc.dictionary(fc.string(), tie('v'), { maxKeys: 5 }),
  ),
})).v;

/** Compares values, treating an integral real and the same integer as equal numbers. */
function same(a: Json, b: Json, loose = false): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  if (loose && typeof a === 'bigint' && typeof b === 'number') return Number(a) === b;
  if (typeof a !== typeof b) return false;
  if (a === null || b === null) return a === b;
  if (Array.isArray(a))
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]!, loose));
  if (typeof a === 'object') {
    const bo = b as Record<string, Json>;
    const ka = Object.keys(a);
    return (
      ka.length === Object.keys(bo).length && ka.every((k) => k in bo && same(a[k]!, bo[k]!, loose))
    );
  }
  return a === b;
}

void t.test('stringify then parse is the identity', (t) => {
  fc.assert(
    fc.property(jsonValue, (v) => same(parseJson(stringifyJson(v)), v)),
    { seed: SEED, numRuns: 1000 },
  );
  t.pass();
  t.end();
});

void t.test('parseJson agrees with JSON.parse where JSON.parse is exact', (t) => {
  fc.assert(
    fc.property(fc.json(), (text) => {
      // JSON.parse rounds big integers; ours keeps them exact (bigint) and equal after rounding.
      return same(parseJson(text), JSON.parse(text) as Json, true);
    }),
    { seed: SEED, numRuns: 1000 },
  );
  t.pass();
  t.end();
});

void t.test('garbage only ever throws JsonError', (t) => {
  const piece = fc.oneof(
    fc.constantFrom(
      '{',
      '}',
      '[',
      ']',
      ',',
      ':',
      '"',
      '\\',
      'tru',
      'null',
      '-',
      '.',
      'e',
      ' ',
      '0',
      '12345678901234567890',
    ),
    fc.string({ maxLength: 4 }),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 30 }), (parts) => {
      const text = parts.join('');
      try {
        parseJson(text);
      } catch (e) {
        if (!(e instanceof JsonError)) throw e;
      }
    }),
    { seed: SEED, numRuns: 3000 },
  );
  t.pass();
  t.end();
});

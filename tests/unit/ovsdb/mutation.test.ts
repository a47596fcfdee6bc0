import t from 'tap';
import fc from 'fast-check';
import { applyMutation, parseMutation } from '../../../ovsdb/mutation.js';
import type { Mutation } from '../../../ovsdb/mutation.js';
import { OvsdbError } from '../../../ovsdb/errors.js';
import { parseSchema } from '../../../ovsdb/schema.js';
import type { Datum, Json } from '../../../ovsdb/types.js';
import { INT64_MAX, INT64_MIN } from '../../../ovsdb/types.js';

const SEED = 7047;
const schema = parseSchema({
  name: 'M',
  tables: {
    T: {
      columns: {
        i: { type: 'integer' },
        r: { type: 'real' },
        s: { type: 'string' },
        iset: { type: { key: 'integer', min: 0, max: 'unlimited' } },
        rng: {
          type: {
            key: { type: 'integer', minInteger: 0, maxInteger: 10 },
            min: 0,
            max: 'unlimited',
          },
        },
        m: { type: { key: 'string', value: 'integer', min: 0, max: 'unlimited' } },
        two: { type: { key: 'string', min: 1, max: 2 } },
        fixed: { type: 'integer', mutable: false },
      },
    },
  },
});
const T = schema.tables.get('T')!;

function mu(j: Json): Mutation {
  return parseMutation(T, j);
}

function run(j: Json, d: Datum): Datum {
  return applyMutation(mu(j), d);
}

function err(fn: () => unknown): OvsdbError {
  try {
    fn();
  } catch (e) {
    if (e instanceof OvsdbError) return e;
    throw e;
  }
  throw new Error('no error');
}

const int64 = fc.bigInt({ min: INT64_MIN, max: INT64_MAX });

void t.test('integer / and % follow C (truncation, sign of the dividend)', (t) => {
  fc.assert(
    fc.property(int64, int64, (x, y) => {
      fc.pre(y !== 0n && !(x === INT64_MIN && y === -1n));
      const q = run(['i', '/=', y], { keys: [x] }).keys[0] as bigint;
      const r = run(['i', '%=', y], { keys: [x] }).keys[0] as bigint;
      const qTrunc = (x - r) / y;
      return (
        q === qTrunc &&
        q * y + r === x &&
        (r === 0n || r < 0n === x < 0n) &&
        (r < 0n ? -r : r) < (y < 0n ? -y : y)
      );
    }),
    { seed: SEED, numRuns: 2000 },
  );
  t.same(run(['i', '/=', 4], { keys: [42n] }).keys, [10n]);
  t.same(run(['i', '%=', 4], { keys: [-6n] }).keys, [-2n]);
  t.end();
});

void t.test('+= and -= report range errors exactly when the result leaves int64', (t) => {
  fc.assert(
    fc.property(int64, int64, fc.constantFrom('+=', '-='), (x, y, op) => {
      const exact = op === '+=' ? x + y : x - y;
      const fits = exact >= INT64_MIN && exact <= INT64_MAX;
      try {
        const got = run(['i', op, y], { keys: [x] }).keys[0];
        return fits && got === exact;
      } catch (e) {
        return !fits && e instanceof OvsdbError && e.tag === 'range error';
      }
    }),
    { seed: SEED, numRuns: 2000 },
  );
  t.end();
});

void t.test('*= is exact or a range error, including x * 0 for negative x', (t) => {
  fc.assert(
    fc.property(int64, int64, (x, y) => {
      const exact = x * y;
      const fits = exact >= INT64_MIN && exact <= INT64_MAX;
      try {
        const got = run(['i', '*=', y], { keys: [x] }).keys[0];
        return fits && got === exact;
      } catch (e) {
        return !fits && e instanceof OvsdbError && e.tag === 'range error';
      }
    }),
    { seed: SEED, numRuns: 2000 },
  );
  t.same(run(['i', '*=', 3], { keys: [-7n] }).keys, [-21n]);
  t.same(run(['i', '*=', 0], { keys: [-7n] }).keys, [0n]);
  t.equal(err(() => run(['i', '*=', 2], { keys: [INT64_MIN] })).tag, 'range error');
  t.end();
});

void t.test('division by zero and INT64_MIN / -1', (t) => {
  t.same(err(() => run(['i', '/=', 0], { keys: [1n] })).toJson(), {
    error: 'domain error',
    details: 'Division by zero.',
  });
  t.same(err(() => run(['i', '%=', 0], { keys: [1n] })).toJson(), {
    error: 'domain error',
    details: 'Division by zero.',
  });
  t.same(err(() => run(['r', '/=', 0], { keys: [1] })).toJson(), {
    error: 'domain error',
    details: 'Division by zero.',
  });
  t.equal(err(() => run(['i', '/=', -1], { keys: [INT64_MIN] })).tag, 'range error');
  t.equal(err(() => run(['i', '%=', -1], { keys: [INT64_MIN] })).tag, 'range error');
  t.equal(
    err(() => run(['r', '*=', 1e308], { keys: [1e308] })).details,
    'Result of "*=" operation is out of range.',
  );
  t.end();
});

void t.test('element-wise on sets: constraints, duplicates, re-sorting', (t) => {
  t.same(run(['iset', '*=', -1], { keys: [1n, 2n, 3n] }).keys, [-3n, -2n, -1n]);
  t.equal(
    err(() => run(['iset', '%=', 2], { keys: [1n, 3n] })).details,
    'Result of "%=" operation contains duplicates.',
  );
  t.equal(
    err(() => run(['rng', '+=', 5], { keys: [1n, 6n] })).details,
    '11 is not in the valid range 0 to 10 (inclusive)',
  );
  t.end();
});

void t.test('insert/delete on sets and maps', (t) => {
  t.same(run(['iset', 'insert', ['set', [3, 1]]], { keys: [1n, 2n] }).keys, [1n, 2n, 3n]);
  t.same(run(['iset', 'delete', ['set', [1, 9]]], { keys: [1n, 2n] }).keys, [2n]);
  const m: Datum = { keys: ['a', 'b'], values: [1n, 2n] };
  const ins = run(
    [
      'm',
      'insert',
      [
        'map',
        [
          ['a', 5],
          ['c', 3],
        ],
      ],
    ],
    m,
  );
  t.same(
    [ins.keys, ins.values],
    [
      ['a', 'b', 'c'],
      [1n, 2n, 3n],
    ],
    'existing keys keep their value',
  );
  const delPair = run(
    [
      'm',
      'delete',
      [
        'map',
        [
          ['a', 5],
          ['b', 2],
        ],
      ],
    ],
    m,
  );
  t.same([delPair.keys, delPair.values], [['a'], [1n]], 'delete by pair needs the value to match');
  const delKey = run(['m', 'delete', ['set', ['a']]], m);
  t.same([delKey.keys, delKey.values], [['b'], [2n]], 'delete by key');
  t.equal(
    err(() => run(['two', 'insert', ['set', ['b', 'c']]], { keys: ['a'] })).details,
    'Attempted to store 3 elements in set of 1 to 2 strings.',
  );
  t.equal(
    err(() => run(['two', 'delete', 'a'], { keys: ['a'] })).details,
    'Attempted to store 0 elements in set of 1 to 2 strings.',
  );
  t.end();
});

void t.test('parse errors', (t) => {
  t.same(err(() => mu(['zz', '+=', 1])).toJson(), {
    error: 'unknown column',
    details: 'No column zz in table T.',
    syntax: '["zz","+=",1]',
  });
  t.same(err(() => mu(['i', 'xx', 1])).toJson(), {
    error: 'unknown mutator',
    details: 'No mutator named xx.',
  });
  t.equal(
    err(() => mu(['fixed', '+=', 1])).details,
    'Cannot mutate immutable column fixed in table T.',
  );
  t.equal(
    err(() => mu(['r', '%=', 1])).details,
    'Type mismatch: "%=" operator may not be applied to column r of type real.',
  );
  t.equal(
    err(() => mu(['m', '+=', 1])).details,
    'Type mismatch: "+=" operator may not be applied to column m of type map of (string, integer) pairs.',
  );
  t.equal(
    err(() => mu(['i', 'insert', 1])).details,
    'Type mismatch: "insert" operator may not be applied to column i of type integer.',
  );
  t.equal(err(() => mu(['i', '+='])).details, 'Parse error in mutation.');
  t.equal(err(() => mu(['i', '+=', 'x'])).details, 'expected integer');
  t.equal(
    err(() => mu(['rng', '+=', ['set', [1, 2]]])).details,
    'set must have exactly one member but 2 are present',
  );
  t.end();
});

import t from 'tap';
import fc from 'fast-check';
import {
  atomToString,
  compareAtoms,
  compareStrings,
  datumEquals,
  datumFromJson,
  datumToJson,
  datumToString,
  defaultDatum,
  formatReal,
  isDefaultDatum,
  jsonToSortedString,
  makeDatum,
} from '../../../ovsdb/datum.js';
import type { OvsdbError } from '../../../ovsdb/errors.js';
import { parseJson, stringifyJson } from '../../../lib/json.js';
import type { Atom, AtomicType, ColumnType, Datum } from '../../../ovsdb/types.js';
import { INT64_MAX, INT64_MIN } from '../../../ovsdb/types.js';

const SEED = 20261121;

const atomArb = (type: AtomicType): fc.Arbitrary<Atom> => {
  switch (type) {
    case 'integer':
      return fc.bigInt({ min: INT64_MIN, max: INT64_MAX });
    case 'real':
      return fc
        .double({ noNaN: true, noDefaultInfinity: true })
        .map((x) => (Object.is(x, -0) ? 0 : x));
    case 'boolean':
      return fc.boolean();
    case 'string':
      return fc.string({ unit: 'grapheme', maxLength: 8 });
    case 'uuid':
      return fc.uuid().map((u) => u.toLowerCase());
  }
};

const typeArb: fc.Arbitrary<AtomicType> = fc.constantFrom(
  'integer',
  'real',
  'boolean',
  'string',
  'uuid',
);

const columnArb: fc.Arbitrary<ColumnType> = fc
  .record({
    key: typeArb,
    value: fc.option(typeArb, { nil: undefined }),
    min: fc.constantFrom(0, 1),
    max: fc.constantFrom(1, 2, 5, Infinity),
  })
  .map(({ key, value, min, max }) =>
    value
      ? { key: { type: key }, value: { type: value }, min, max }
      : { key: { type: key }, min, max },
  );

/** A column type and a valid datum of it. */
const typedDatum: fc.Arbitrary<[ColumnType, Datum]> = columnArb.chain((ct) =>
  fc
    .uniqueArray(
      fc.tuple(atomArb(ct.key.type), ct.value ? atomArb(ct.value.type) : fc.constant(0)),
      {
        minLength: ct.min,
        maxLength: Math.min(ct.max, 6),
        selector: ([k]) =>
          typeof k === 'bigint' ? `i${k}` : typeof k === 'string' ? `s${k}` : `o${String(k)}`,
      },
    )
    .map((pairs): [ColumnType, Datum] => {
      const keys = pairs.map((p) => p[0]);
      const values = ct.value ? pairs.map((p) => p[1]) : undefined;
      return [ct, makeDatum(ct, keys, values)];
    }),
);

void t.test('datum → JSON → datum is the identity (in memory and through JSON text)', (t) => {
  fc.assert(
    fc.property(typedDatum, ([ct, d]) => {
      const j = datumToJson(d, ct);
      const back = datumFromJson(j, ct);
      const viaText = datumFromJson(parseJson(stringifyJson(j)), ct);
      return datumEquals(back, d) && datumEquals(viaText, d);
    }),
    { seed: SEED, numRuns: 2000 },
  );
  t.end();
});

void t.test('datums are sorted, duplicate-free and the canonical JSON is OVS-shaped', (t) => {
  fc.assert(
    fc.property(typedDatum, ([ct, d]) => {
      for (let i = 1; i < d.keys.length; i++) {
        if (compareAtoms(d.keys[i - 1]!, d.keys[i]!, ct.key.type) >= 0) return false;
      }
      const j = datumToJson(d, ct) as unknown;
      if (ct.value) return Array.isArray(j) && j[0] === 'map';
      if (d.keys.length === 1) return !(Array.isArray(j) && (j[0] === 'set' || j[0] === 'map'));
      return Array.isArray(j) && j[0] === 'set';
    }),
    { seed: SEED, numRuns: 1000 },
  );
  t.end();
});

void t.test('string order is UTF-8 byte order (strcmp)', (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
      const want = Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
      return Math.sign(compareStrings(a, b)) === want;
    }),
    { seed: SEED, numRuns: 3000 },
  );
  t.ok(compareStrings('\uffff', '\u{10000}') < 0, 'BMP private use sorts before astral');
  t.end();
});

void t.test('atom order: numbers numerically, false < true, uuids by value', (t) => {
  t.ok(compareAtoms(-5n, 3n, 'integer') < 0);
  t.ok(compareAtoms(2.5, -1, 'real') > 0);
  t.ok(compareAtoms(false, true, 'boolean') < 0);
  t.ok(
    compareAtoms(
      '0a000000-0000-0000-0000-000000000000',
      '1a000000-0000-0000-0000-000000000000',
      'uuid',
    ) < 0,
  );
  t.end();
});

void t.test('64-bit integers are exact; 2^63 and 1.5 are not integers; 1.0 is', (t) => {
  const ct: ColumnType = { key: { type: 'integer' }, min: 1, max: 1 };
  t.equal(datumFromJson(9223372036854775807n, ct).keys[0], INT64_MAX);
  t.equal(datumFromJson(-9223372036854775808n, ct).keys[0], INT64_MIN);
  t.equal(datumFromJson(1.0, ct).keys[0], 1n);
  t.same(datumToJson({ keys: [INT64_MAX] }, ct), INT64_MAX, 'unsafe integers stay bigint');
  t.same(datumToJson({ keys: [42n] }, ct), 42, 'safe integers become numbers');
  for (const bad of [9223372036854775808n, 1.5, 1e300]) {
    t.throws(() => datumFromJson(bad, ct), { code: 'syntaxError', details: 'expected integer' });
  }
  t.end();
});

void t.test('defaults', (t) => {
  const cases: [ColumnType, Datum][] = [
    [{ key: { type: 'integer' }, min: 1, max: 1 }, { keys: [0n] }],
    [{ key: { type: 'real' }, min: 1, max: 1 }, { keys: [0] }],
    [{ key: { type: 'boolean' }, min: 1, max: 1 }, { keys: [false] }],
    [{ key: { type: 'string' }, min: 1, max: 1 }, { keys: [''] }],
    [{ key: { type: 'uuid' }, min: 1, max: 1 }, { keys: ['00000000-0000-0000-0000-000000000000'] }],
    [
      { key: { type: 'string' }, value: { type: 'integer' }, min: 1, max: 1 },
      { keys: [''], values: [0n] },
    ],
    [{ key: { type: 'string' }, min: 0, max: Infinity }, { keys: [] }],
  ];
  for (const [ct, want] of cases) {
    const d = defaultDatum(ct);
    t.same(d.keys, want.keys);
    t.ok(isDefaultDatum(d, ct));
  }
  const map = defaultDatum({
    key: { type: 'string' },
    value: { type: 'string' },
    min: 0,
    max: Infinity,
  });
  t.same(map.values, [], 'empty maps carry values too');
  t.end();
});

void t.test('text forms used in error messages', (t) => {
  t.equal(formatReal(9223372036854775808), '9.22337203685478e+18');
  t.equal(formatReal(1.5), '1.5');
  t.equal(formatReal(-1.75), '-1.75');
  t.equal(formatReal(1e300), '1e+300');
  t.equal(formatReal(0.0001), '0.0001');
  t.equal(formatReal(0.00001), '1e-05');
  t.equal(formatReal(123456789012345680), '1.23456789012346e+17');
  t.equal(formatReal(100), '100');
  t.equal(atomToString('secure', 'string'), 'secure');
  t.equal(atomToString('', 'string'), '""');
  t.equal(atomToString('true', 'string'), '"true"');
  t.equal(atomToString('a b', 'string'), '"a b"');
  t.equal(atomToString('9x', 'string'), '"9x"');
  const set: ColumnType = { key: { type: 'string' }, min: 0, max: Infinity };
  t.equal(datumToString({ keys: ['a', 'b'] }, set), '[a, b]');
  const map: ColumnType = {
    key: { type: 'string' },
    value: { type: 'integer' },
    min: 0,
    max: Infinity,
  };
  t.equal(datumToString({ keys: ['k'], values: [1n] }, map), '{k=1}');
  t.equal(datumToString({ keys: ['x'] }, { key: { type: 'string' }, min: 1, max: 1 }), 'x');
  t.equal(
    jsonToSortedString({ b: 1, a: [true, null, 'x', 1.5] }),
    '{"a":[true,null,"x",1.5],"b":1}',
  );
  t.end();
});

void t.test('duplicates and sizes', (t) => {
  const set: ColumnType = { key: { type: 'integer' }, min: 0, max: 2 };
  const e1 = t.throws(() => datumFromJson(['set', [1, 1]], set)) as OvsdbError;
  t.equal(e1.tag, 'ovsdb error');
  t.equal(e1.details, 'set contains duplicate');
  const e2 = t.throws(() => datumFromJson(['set', [1, 2, 3]], set)) as OvsdbError;
  t.equal(e2.details, 'set must have 0 to 2 members but 3 are present');
  t.equal(e2.syntax, '["set",[1,2,3]]');
  t.same(
    datumFromJson(['set', [1, 2, 3]], set, undefined, true).keys,
    [1n, 2n, 3n],
    'relaxed size',
  );
  const unl: ColumnType = { key: { type: 'integer' }, min: 1, max: Infinity };
  const e3 = t.throws(() => datumFromJson(['set', []], unl)) as OvsdbError;
  t.equal(e3.details, 'set must have 1 to 4294967295 members but 0 are present');
  t.end();
});

void t.test('named uuids need a resolver', (t) => {
  const ct: ColumnType = {
    key: { type: 'uuid', refTable: 'T', refType: 'strong' },
    min: 1,
    max: 1,
  };
  t.throws(() => datumFromJson(['named-uuid', 'x'], ct), {
    name: 'OvsdbError',
    details: 'expected ["uuid", <string>]',
  });
  const d = datumFromJson(['named-uuid', 'x'], ct, () => '12345678-1234-1234-1234-123456789abc');
  t.same(d.keys, ['12345678-1234-1234-1234-123456789abc']);
  t.same(datumFromJson(['uuid', 'ABCDEF01-1234-1234-1234-123456789ABC'], ct).keys, [
    'abcdef01-1234-1234-1234-123456789abc',
  ]);
  t.end();
});

import t from 'tap';
import { evalCondition, parseCondition, typeToEnglish } from '../../../ovsdb/condition.js';
import type { OvsdbError } from '../../../ovsdb/errors.js';
import { parseSchema } from '../../../ovsdb/schema.js';
import type { Json, Row } from '../../../ovsdb/types.js';

const schema = parseSchema({
  name: 'C',
  tables: {
    T: {
      columns: {
        i: { type: 'integer' },
        oi: { type: { key: 'integer', min: 0, max: 1 } },
        s: { type: 'string' },
        ss: { type: { key: 'string', min: 0, max: 'unlimited' } },
        m: { type: { key: 'string', value: 'string', min: 0, max: 'unlimited' } },
        e: { type: { key: { type: 'string', enum: ['set', ['a', 'b']] }, min: 0, max: 1 } },
      },
    },
  },
});
const T = schema.tables.get('T')!;
const row: Row = {
  uuid: '11111111-1111-1111-1111-111111111111',
  version: '22222222-2222-2222-2222-222222222222',
  data: {
    i: { keys: [5n] },
    oi: { keys: [] },
    s: { keys: ['x'] },
    ss: { keys: ['a', 'b'] },
    m: { keys: ['k', 'l'], values: ['v', 'w'] },
    e: { keys: ['a'] },
  },
};

function ok(where: Json): boolean {
  return evalCondition(parseCondition(T, where), row);
}

void t.test('functions on every kind of column', (t) => {
  t.ok(ok([['i', '<', 6]]));
  t.notOk(ok([['i', '<', 5]]));
  t.ok(ok([['i', '<=', 5]]));
  t.ok(ok([['i', '>=', 5]]));
  t.notOk(ok([['i', '>', 5]]));
  t.ok(ok([['i', 'includes', 5]]));
  t.ok(ok([['i', 'excludes', 4]]));
  t.notOk(ok([['oi', '<', 100]]), 'ordering on an empty optional is false');
  t.notOk(ok([['oi', '>=', -100]]));
  t.ok(ok([['oi', '==', ['set', []]]]));
  t.ok(ok([['ss', 'includes', 'a']]));
  t.ok(ok([['ss', 'includes', ['set', ['a', 'b']]]]));
  t.notOk(ok([['ss', 'includes', ['set', ['a', 'c']]]]));
  t.ok(ok([['ss', 'excludes', ['set', ['c', 'd']]]]));
  t.notOk(ok([['ss', 'excludes', ['set', ['b', 'c']]]]));
  t.ok(ok([['ss', '==', ['set', ['b', 'a']]]]));
  t.ok(ok([['m', 'includes', ['map', [['k', 'v']]]]]));
  t.notOk(ok([['m', 'includes', ['map', [['k', 'w']]]]]));
  t.ok(ok([['m', 'excludes', ['map', [['k', 'w']]]]]));
  t.ok(ok([['_uuid', '==', ['uuid', row.uuid]]]));
  t.ok(ok([['_version', '!=', ['uuid', row.uuid]]]));
  t.ok(ok([true]));
  t.notOk(ok([false]));
  t.ok(ok([]), 'empty condition is true');
  t.end();
});

void t.test('uuid fast path is detected', (t) => {
  t.equal(
    parseCondition(T, [
      ['i', '==', 1],
      ['_uuid', '==', ['uuid', row.uuid]],
    ]).uuidEq,
    row.uuid,
  );
  t.equal(parseCondition(T, [['_uuid', '!=', ['uuid', row.uuid]]]).uuidEq, undefined);
  t.end();
});

void t.test('errors', (t) => {
  const e = (w: Json): OvsdbError => t.throws(() => parseCondition(T, w)) as OvsdbError;
  t.equal(
    e([['s', '<', 'x']]).details,
    'Type mismatch: "<" operator may not be applied to column s of type string.',
  );
  t.equal(
    e([['m', '>', 1]]).details,
    'Type mismatch: ">" operator may not be applied to column m of type map of (string, string) pairs.',
  );
  t.same(e([['i', '~', 1]]).toJson(), {
    error: 'unknown function',
    details: 'No function named ~.',
  });
  t.equal(e([['zz', '==', 1]]).tag, 'unknown column');
  t.equal(e([['e', '==', 'c']]).details, 'c is not one of the allowed values ([a, b])');
  t.equal(e([['i']]).details, 'Parse error in condition.');
  t.end();
});

void t.test('English type names', (t) => {
  t.equal(
    typeToEnglish({ key: { type: 'uuid' }, min: 1, max: Infinity }),
    'set of 1 or more uuids',
  );
  t.equal(typeToEnglish({ key: { type: 'string' }, min: 0, max: 3 }), 'set of up to 3 strings');
  t.equal(typeToEnglish({ key: { type: 'string' }, min: 1, max: 2 }), 'set of 1 to 2 strings');
  t.equal(typeToEnglish({ key: { type: 'integer' }, min: 0, max: Infinity }), 'set of integers');
  t.end();
});

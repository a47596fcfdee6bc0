/* eslint-disable @typescript-eslint/no-explicit-any -- tests poke at JSON result shapes */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { Database } from '../../../ovsdb/database.js';
import type { CommitRecord, TransactOutcome } from '../../../ovsdb/database.js';
import { parseSchema, serverDbSchema, vswitchDbSchema } from '../../../ovsdb/schema.js';
import type { Json } from '../../../ovsdb/types.js';
import { OvsdbError } from '../../../ovsdb/errors.js';

const GOLDEN = parseSchema(
  JSON.parse(readFileSync(new URL('../../golden/ovsdb/test.ovsschema', import.meta.url), 'utf8')),
);

function done(o: TransactOutcome): { result: any[]; commit?: CommitRecord; durable: boolean } {
  if (o.status !== 'done') throw new Error(`expected done, got ${o.status}`);
  return o;
}

function seed(db: Database): { leaf: string; kid: string; root: string } {
  const r = done(
    db.transact([
      { op: 'insert', table: 'Leaf', row: { a: 1, b: 'l' }, 'uuid-name': 'l' },
      { op: 'insert', table: 'Child', row: { name: 'k' }, 'uuid-name': 'k' },
      {
        op: 'insert',
        table: 'Root',
        row: { name: 'R', kid1: ['named-uuid', 'k'], weak1: ['named-uuid', 'l'] },
      },
    ]),
  ).result;
  return { leaf: r[0].uuid[1], kid: r[1].uuid[1], root: r[2].uuid[1] };
}

void t.test('a wait with timeout > 0 blocks, then times out with the elapsed time', (t) => {
  const db = new Database(GOLDEN);
  seed(db);
  const ops: Json[] = [
    {
      op: 'wait',
      table: 'Leaf',
      where: [],
      columns: ['a'],
      until: '==',
      rows: [{ a: 2 }],
      timeout: 500,
    },
    { op: 'insert', table: 'Leaf', row: { a: 7, b: 'x' } },
  ];
  const first = db.transact(ops, { now: 1000, startedAt: 1000 });
  t.same(first, { status: 'blocked', retryAt: 1500 });
  t.equal(db.rows('Leaf').size, 1, 'nothing committed while blocked');
  const again = db.transact(ops, { now: 1200, startedAt: 1000 });
  t.equal(again.status, 'blocked');
  const late = done(db.transact(ops, { now: 1600, startedAt: 1000 }));
  t.same(late.result, [{ error: 'timed out', details: '"wait" timed out after 600 ms' }, null]);
  t.end();
});

void t.test('a blocked wait succeeds once a commit makes it true', (t) => {
  const db = new Database(GOLDEN);
  seed(db);
  const ops: Json[] = [
    {
      op: 'wait',
      table: 'Leaf',
      where: [],
      columns: ['a'],
      until: '==',
      rows: [{ a: 2 }],
      timeout: 10000,
    },
  ];
  t.equal(db.transact(ops, { now: 0 }).status, 'blocked');
  done(db.transact([{ op: 'update', table: 'Leaf', where: [], row: { a: 2 } }]));
  t.same(done(db.transact(ops, { now: 5, startedAt: 0 })).result, [{}]);
  t.end();
});

void t.test(
  'a wait without timeout blocks forever (retryAt Infinity); the smallest timeout wins',
  (t) => {
    const db = new Database(GOLDEN);
    seed(db);
    const w = (timeout?: number): Json => {
      const o: { [k: string]: Json } = {
        op: 'wait',
        table: 'Leaf',
        where: [],
        until: '!=',
        rows: [],
      };
      if (timeout !== undefined) o.timeout = timeout;
      return o;
    };
    t.same(
      db.transact([{ op: 'wait', table: 'Leaf', where: [], until: '==', rows: [] }], { now: 3 }),
      {
        status: 'blocked',
        retryAt: Infinity,
      },
    );
    t.same(done(db.transact([w(), w(100)], { now: 3 })).result, [{}, {}], '!= [] holds: done');
    t.end();
  },
);

void t.test('assert consults hasLock', (t) => {
  const db = new Database(GOLDEN);
  const ops: Json[] = [{ op: 'assert', lock: 'ovs_vswitchd' }];
  t.same(done(db.transact(ops, { hasLock: (n) => n === 'ovs_vswitchd' })).result, [{}]);
  t.same(done(db.transact(ops, { hasLock: () => false })).result, [
    { error: 'not owner', details: 'Asserted lock ovs_vswitchd not held.' },
  ]);
  t.same(done(db.transact([{ op: 'assert', lock: '1bad' }])).result[0].error, 'syntax error');
  t.end();
});

void t.test('_Server: clients may not write, the server (privileged) may', (t) => {
  const db = new Database(serverDbSchema(), { readOnly: true });
  const ins: Json[] = [
    {
      op: 'insert',
      table: 'Database',
      row: { name: 'Open_vSwitch', model: 'standalone', connected: true, leader: true },
    },
  ];
  t.same(done(db.transact(ins)).result, [
    {
      error: 'not allowed',
      details: 'insert operation not allowed on table in reserved database _Server',
    },
  ]);
  const r = done(db.transact(ins, { privileged: true }));
  t.ok(r.commit, 'committed');
  t.equal(
    db.rows('Database').size,
    1,
    'Database rows are roots (schema without isRoot): not collected',
  );
  t.end();
});

void t.test('a read-only ordinary database says so', (t) => {
  const db = new Database(GOLDEN, { readOnly: true });
  t.same(done(db.transact([{ op: 'insert', table: 'Leaf', row: {} }])).result, [
    {
      error: 'not allowed',
      details: 'insert operation not allowed when database server is in read only mode',
    },
  ]);
  t.same(done(db.transact([{ op: 'select', table: 'Leaf', where: [], columns: [] }])).result, [
    { rows: [] },
  ]);
  t.end();
});

void t.test('commit records: inserts, modifies, deletes, GC, comment, durable, listeners', (t) => {
  const db = new Database(GOLDEN);
  const seen: CommitRecord[] = [];
  const off = db.onCommit((c) => seen.push(c));
  const ids = seed(db);
  t.equal(seen.length, 1);
  const c1 = seen[0]!;
  t.equal(c1.seq, 1);
  t.match(c1.txnId, /^[0-9a-f-]{36}$/);
  t.same([...c1.tables.keys()].sort(), ['Child', 'Leaf', 'Root']);
  const rootCh = c1.tables.get('Root')!.get(ids.root)!;
  t.notOk(rootCh.old);
  t.same([...rootCh.changed].sort(), ['kid1', 'name', 'weak1'], 'insert: the non-default columns');

  const r = done(
    db.transact([
      { op: 'update', table: 'Root', where: [], row: { i: 3, s: 'x' } },
      { op: 'comment', comment: 'one' },
      { op: 'comment', comment: 'two' },
      { op: 'commit', durable: true },
    ]),
  );
  t.equal(r.durable, true);
  const c2 = seen[1]!;
  t.equal(c2, r.commit, 'the outcome carries the same record the listener got');
  t.equal(c2.comment, 'one\ntwo');
  t.equal(c2.durable, true);
  const mod = c2.tables.get('Root')!.get(ids.root)!;
  t.same([...mod.changed].sort(), ['i', 's']);
  t.equal(mod.old!.data.i!.keys[0], 0n, 'old row unchanged (copy on write)');
  t.equal(mod.new!.data.i!.keys[0], 3n);
  t.not(mod.old!.version, mod.new!.version, 'a modified row gets a fresh _version');
  t.equal(mod.old!.data.kid1, mod.new!.data.kid1, 'unchanged datums are shared');

  // Same value again: nothing to commit, no listener call, no version change.
  const before = db.getRow('Root', ids.root)!;
  const r3 = done(db.transact([{ op: 'update', table: 'Root', where: [], row: { i: 3 } }]));
  t.same(r3.result, [{ count: 1 }]);
  t.notOk(r3.commit);
  t.equal(seen.length, 2);
  t.equal(db.getRow('Root', ids.root), before);

  // Replacing kid1 garbage-collects the old child; the record lists it as deleted.
  const r4 = done(
    db.transact([
      { op: 'insert', table: 'Child', row: { name: 'k2' }, 'uuid-name': 'k2' },
      { op: 'update', table: 'Root', where: [], row: { kid1: ['named-uuid', 'k2'] } },
    ]),
  );
  const childCh = r4.commit!.tables.get('Child')!;
  t.equal(childCh.size, 2);
  const del = childCh.get(ids.kid)!;
  t.ok(del.old);
  t.notOk(del.new);
  t.equal(del.changed.size, 0);
  t.notOk(db.getRow('Child', ids.kid));

  // A failing transaction publishes nothing.
  done(db.transact([{ op: 'delete', table: 'Leaf', where: [] }]));
  t.equal(seen.length, 3);
  off();
  done(db.transact([{ op: 'update', table: 'Root', where: [], row: { i: 4 } }]));
  t.equal(seen.length, 3, 'unsubscribed');
  t.equal(db.commitCount, 4);
  t.end();
});

void t.test(
  'weak refs are removed even when the referring row changes in the same transaction',
  (t) => {
    // ovsdb-server 3.1 keeps such a weak ref when the referring row was processed before the
    // deleted one (an ordering defect); we always remove it, as RFC 7047 specifies.
    const db = new Database(GOLDEN);
    const ids = seed(db);
    const r = done(
      db.transact([
        { op: 'insert', table: 'Child', row: { name: 'w' }, 'uuid-name': 'w' },
        {
          op: 'update',
          table: 'Root',
          where: [],
          row: { kids: ['named-uuid', 'w'], weak: ['named-uuid', 'w'] },
        },
      ]),
    );
    const w = r.result[0].uuid[1];
    t.same(db.getRow('Root', ids.root)!.data.weak!.keys, [w]);
    done(
      db.transact([{ op: 'update', table: 'Root', where: [], row: { kids: ['set', []], i: 9 } }]),
    );
    t.notOk(db.getRow('Child', w), 'w collected');
    t.same(db.getRow('Root', ids.root)!.data.weak!.keys, [], 'weak ref to w dropped');
    t.end();
  },
);

void t.test('explicit delete of a weakly referenced root row drops the weak refs', (t) => {
  const db = new Database(GOLDEN);
  const ids = seed(db);
  const r = done(
    db.transact([
      { op: 'insert', table: 'Leaf', row: { a: 2, b: 'm' }, 'uuid-name': 'm' },
      {
        op: 'mutate',
        table: 'Root',
        where: [],
        mutations: [['weak1', 'insert', ['named-uuid', 'm']]],
      },
    ]),
  );
  const m = r.result[0].uuid[1];
  t.equal(db.getRow('Root', ids.root)!.data.weak1!.keys.length, 2);
  const d = done(db.transact([{ op: 'delete', table: 'Leaf', where: [['a', '==', 2]] }]));
  t.same(d.result, [{ count: 1 }]);
  t.same(db.getRow('Root', ids.root)!.data.weak1!.keys, [ids.leaf]);
  const ch = d.commit!.tables.get('Root')!.get(ids.root)!;
  t.same([...ch.changed], ['weak1'], 'the weak cleanup is a change of the referring row');
  t.notOk(db.getRow('Leaf', m));
  // Deleting the last one would empty a min-1 column.
  const e = done(
    db.transact([
      { op: 'delete', table: 'Child', where: [] },
      { op: 'update', table: 'Root', where: [], row: { kid1: ['named-uuid', 'nk'] } },
      { op: 'insert', table: 'Child', row: { name: 'nk' }, 'uuid-name': 'nk' },
      { op: 'update', table: 'Leaf', where: [], row: { b: 'still' } },
    ]),
  );
  t.equal(e.result.length, 4, 'no commit error');
  t.end();
});

void t.test('vswitch: the del-br GC cascade in one commit record', (t) => {
  const db = new Database(vswitchDbSchema());
  const ovs = done(db.transact([{ op: 'insert', table: 'Open_vSwitch', row: {} }])).result[0]
    .uuid[1];
  done(
    db.transact([
      {
        op: 'insert',
        table: 'Interface',
        row: { name: 'br0', type: 'internal' },
        'uuid-name': 'i',
      },
      {
        op: 'insert',
        table: 'Port',
        row: { name: 'br0', interfaces: ['named-uuid', 'i'] },
        'uuid-name': 'p',
      },
      { op: 'insert', table: 'Controller', row: { target: 'ptcp:6653' }, 'uuid-name': 'c' },
      {
        op: 'insert',
        table: 'Bridge',
        row: { name: 'br0', ports: ['named-uuid', 'p'], controller: ['named-uuid', 'c'] },
        'uuid-name': 'b',
      },
      { op: 'update', table: 'Open_vSwitch', where: [], row: { bridges: ['named-uuid', 'b'] } },
    ]),
  );
  const r = done(
    db.transact([
      {
        op: 'update',
        table: 'Open_vSwitch',
        where: [['_uuid', '==', ['uuid', ovs]]],
        row: { bridges: ['set', []] },
      },
    ]),
  );
  const tables = [...r.commit!.tables.keys()].sort();
  t.same(tables, ['Bridge', 'Controller', 'Interface', 'Open_vSwitch', 'Port']);
  for (const tn of ['Bridge', 'Controller', 'Interface', 'Port'])
    t.equal(db.rows(tn).size, 0, `${tn} empty`);
  t.end();
});

void t.test('the result array: parse error wins, rest null, commit error appended', (t) => {
  const db = new Database(GOLDEN);
  const r = done(
    db.transact([
      { op: 'insert', table: 'Child', row: { name: 'x' } },
      { op: 'select', table: 'Child', where: [], columns: ['name'] },
      { op: 'insert', table: 'Root', row: { name: 'x' } },
    ]),
  );
  t.equal(r.result.length, 4);
  t.equal(r.result[3].error, 'referential integrity violation');
  t.equal(db.rows('Child').size, 0);
  t.end();
});

void t.test('index lookups see the transaction overlay', (t) => {
  const db = new Database(GOLDEN);
  seed(db);
  const r = done(
    db.transact([
      { op: 'select', table: 'Child', where: [['name', '==', 'k']], columns: ['name'] },
      { op: 'update', table: 'Child', where: [['name', '==', 'k']], row: { name: 'k-renamed' } },
      { op: 'select', table: 'Child', where: [['name', '==', 'k']], columns: ['name'] },
      { op: 'select', table: 'Child', where: [['name', '==', 'k-renamed']], columns: ['name'] },
      { op: 'insert', table: 'Child', row: { name: 'fresh' }, 'uuid-name': 'f' },
      { op: 'select', table: 'Child', where: [['name', '==', 'fresh']], columns: ['name'] },
      {
        op: 'select',
        table: 'Leaf',
        where: [
          ['a', '==', 1],
          ['b', '==', 'l'],
        ],
        columns: ['a'],
      },
      {
        op: 'select',
        table: 'Leaf',
        where: [
          ['a', '==', 1],
          ['b', '==', 'zz'],
        ],
        columns: ['a'],
      },
      {
        op: 'select',
        table: 'Leaf',
        where: [
          ['b', '==', 'l'],
          ['a', '==', 1],
          ['a', '!=', 1],
        ],
        columns: ['a'],
      },
    ]),
  );
  t.same(r.result.slice(0, 9), [
    { rows: [{ name: 'k' }] },
    { count: 1 },
    { rows: [] },
    { rows: [{ name: 'k-renamed' }] },
    { uuid: r.result[4].uuid },
    { rows: [{ name: 'fresh' }] },
    { rows: [{ a: 1 }] },
    { rows: [] },
    { rows: [] },
  ]);
  t.end();
});

void t.test('a target weakly named by two columns stays tracked when one column drops it', (t) => {
  const schema = parseSchema({
    name: 'W',
    tables: {
      S: {
        isRoot: true,
        columns: {
          a: { type: { key: { type: 'uuid', refTable: 'D', refType: 'weak' }, min: 0, max: 1 } },
          b: { type: { key: { type: 'uuid', refTable: 'D', refType: 'weak' }, min: 0, max: 1 } },
        },
      },
      D: { isRoot: true, columns: { n: { type: 'integer' } } },
    },
  });
  const db = new Database(schema);
  const r = done(
    db.transact([
      { op: 'insert', table: 'D', row: { n: 1 }, 'uuid-name': 'd' },
      { op: 'insert', table: 'S', row: { a: ['named-uuid', 'd'], b: ['named-uuid', 'd'] } },
    ]),
  );
  const s = r.result[1].uuid[1];
  done(db.transact([{ op: 'update', table: 'S', where: [], row: { a: ['set', []] } }]));
  done(db.transact([{ op: 'delete', table: 'D', where: [] }]));
  t.same(db.getRow('S', s)!.data.b!.keys, [], 'the weak ref in b was removed with its target');
  t.end();
});

void t.test('deleting rows the transaction inserted or modified; GC of a modified row', (t) => {
  const db = new Database(GOLDEN);
  const ids = seed(db);
  const r = done(
    db.transact([
      { op: 'insert', table: 'Leaf', row: { a: 50, b: 'tmp' } },
      { op: 'delete', table: 'Leaf', where: [['a', '==', 50]] },
      { op: 'update', table: 'Leaf', where: [['a', '==', 1]], row: { b: 'changed' } },
      { op: 'select', table: 'Leaf', where: [], columns: ['a', 'b'] },
    ]),
  );
  t.same(r.result.slice(1), [{ count: 1 }, { count: 1 }, { rows: [{ a: 1, b: 'changed' }] }]);
  t.same(
    [...r.commit!.tables.get('Leaf')!.keys()],
    [ids.leaf],
    'the inserted-then-deleted row leaves no trace',
  );
  // Modify the child, then drop its only reference: the GC deletes the modified row.
  const g = done(
    db.transact([
      { op: 'update', table: 'Child', where: [], row: { name: 'renamed' } },
      { op: 'insert', table: 'Child', row: { name: 'new' }, 'uuid-name': 'n' },
      { op: 'update', table: 'Root', where: [], row: { kid1: ['named-uuid', 'n'] } },
    ]),
  );
  const ch = g.commit!.tables.get('Child')!.get(ids.kid)!;
  t.ok(ch.old);
  t.notOk(ch.new, 'modified then collected = deleted');
  t.equal(ch.old!.data.name!.keys[0], 'k', 'old is the committed row');
  // A row modified and then deleted in one transaction is a delete.
  const d = done(
    db.transact([
      { op: 'update', table: 'Leaf', where: [], row: { b: 'again' } },
      {
        op: 'mutate',
        table: 'Root',
        where: [],
        mutations: [['weak1', 'insert', ['named-uuid', 'l2']]],
      },
      { op: 'insert', table: 'Leaf', row: { a: 2 }, 'uuid-name': 'l2' },
      { op: 'delete', table: 'Leaf', where: [['a', '==', 2]] },
    ]),
  );
  t.equal(d.result.length, 4, 'weak ref to a row inserted and deleted in the txn is dropped');
  t.same(db.getRow('Root', ids.root)!.data.weak1!.keys, [ids.leaf]);
  t.same(
    done(
      db.transact([{ op: 'wait', table: 'Leaf', where: [], until: '==', rows: [5], timeout: 0 }]),
    ).result[0],
    {
      error: 'syntax error',
      details: 'row must be JSON object',
      syntax: '5',
    },
  );
  t.end();
});

void t.test('OvsdbError JSON shape: error, details, syntax in that order', (t) => {
  const e = new OvsdbError('constraintViolation', 'bad', '{"a":1}');
  t.same(Object.keys(e.toJson()), ['error', 'details', 'syntax']);
  t.same(new OvsdbError('aborted').toJson(), { error: 'aborted' });
  t.equal(e.withSyntax('x'), e, 'keeps an existing syntax');
  t.equal(new OvsdbError('syntaxError', 'd').withSyntax('5').syntax, '5');
  t.equal(e.message, 'constraint violation: bad');
  t.end();
});

void t.test('a uuidGen option makes uuids deterministic', (t) => {
  let n = 0;
  const gen = (): string => `00000000-0000-4000-8000-${(++n).toString(16).padStart(12, '0')}`;
  const db = new Database(GOLDEN, { uuidGen: gen });
  const r = done(db.transact([{ op: 'insert', table: 'Leaf', row: { a: 1 } }]));
  t.same(r.result, [{ uuid: ['uuid', '00000000-0000-4000-8000-000000000001'] }]);
  t.equal(
    db.getRow('Leaf', '00000000-0000-4000-8000-000000000001')!.version,
    '00000000-0000-4000-8000-000000000002',
  );
  t.end();
});

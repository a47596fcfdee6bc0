import t from 'tap';
import { Database } from '../../../ovsdb/database.js';
import { OvsdbError } from '../../../ovsdb/errors.js';
import { Monitor, datumDiff } from '../../../ovsdb/monitor.js';
import { vswitchDbSchema } from '../../../ovsdb/schema.js';
import { compileCondition } from '../../../ovsdb/server.js';
import type { ColumnType, Json } from '../../../ovsdb/types.js';

function setup(): { db: Database; ovs: string; br: string } {
  const db = new Database(vswitchDbSchema());
  const out = db.transact([
    {
      op: 'insert',
      table: 'Open_vSwitch',
      row: { bridges: ['named-uuid', 'b'] },
      'uuid-name': 'o',
    },
    {
      op: 'insert',
      table: 'Bridge',
      row: {
        name: 'br0',
        protocols: ['set', ['OpenFlow13', 'OpenFlow14']],
        external_ids: [
          'map',
          [
            ['a', '1'],
            ['b', '2'],
          ],
        ],
      },
      'uuid-name': 'b',
    },
  ]);
  if (out.status !== 'done') throw new Error('blocked');
  const r = out.result as { uuid: [string, string] }[];
  return { db, ovs: r[0]!.uuid[1], br: r[1]!.uuid[1] };
}

function run(db: Database, ops: Json[]): Json[] {
  const out = db.transact(ops);
  if (out.status !== 'done') throw new Error('blocked');
  for (const r of out.result)
    if (r && typeof r === 'object' && 'error' in r) throw new Error(JSON.stringify(r));
  return out.result;
}

function follow(db: Database, m: Monitor): () => Json | undefined {
  db.onCommit((c) => m.record(c));
  return () => m.takeUpdates();
}

const where = (uuid: string): Json => [['_uuid', '==', ['uuid', uuid]]];

void t.test(
  'v1 initial: all selected columns, defaults included; absent columns = all + _version',
  async (t) => {
    const { db, br } = setup();
    const m = Monitor.parse(db, null, 1, {
      Bridge: { columns: ['name', 'protocols', 'fail_mode', 'external_ids'] },
    });
    t.same(m.initial(), {
      Bridge: {
        [br]: {
          new: {
            name: 'br0',
            protocols: ['set', ['OpenFlow13', 'OpenFlow14']],
            fail_mode: ['set', []],
            external_ids: [
              'map',
              [
                ['a', '1'],
                ['b', '2'],
              ],
            ],
          },
        },
      },
    });
    const all = Monitor.parse(db, null, 1, { Bridge: {} });
    const row = (all.initial().Bridge as { [u: string]: { new: { [k: string]: Json } } })[br]!.new;
    t.ok('_version' in row, '_version is included');
    t.notOk('_uuid' in row, '_uuid is not');
    t.equal(Object.keys(row).length, vswitchDbSchema().tables.get('Bridge')!.columnList.length + 1);
  },
);

void t.test('"columns": [] means no columns', async (t) => {
  const { db, br } = setup();
  const m = Monitor.parse(db, null, 2, { Bridge: [{ columns: [] }] });
  t.same(m.initial(), { Bridge: { [br]: { initial: {} } } });
  const v1 = Monitor.parse(db, null, 1, { Bridge: { columns: [] } });
  t.same(v1.initial(), { Bridge: { [br]: { new: {} } } });
});

void t.test('v2 initial omits defaults; _uuid may be asked for', async (t) => {
  const { db, br, ovs } = setup();
  const m = Monitor.parse(db, null, 2, {
    Bridge: [{ columns: ['_uuid', 'name', 'fail_mode', 'protocols'] }],
    Open_vSwitch: [{ columns: ['cur_cfg', 'external_ids'] }],
  });
  t.same(m.initial(), {
    Bridge: {
      [br]: {
        initial: {
          _uuid: ['uuid', br],
          name: 'br0',
          protocols: ['set', ['OpenFlow13', 'OpenFlow14']],
        },
      },
    },
    Open_vSwitch: { [ovs]: { initial: {} } },
  });
});

void t.test('v2 modify: scalars new value, optional cleared, set and map diffs', async (t) => {
  const { db, br } = setup();
  const m = Monitor.parse(db, null, 2, {
    Bridge: [{ columns: ['protocols', 'external_ids', 'fail_mode', 'stp_enable'] }],
  });
  m.initial();
  const take = follow(db, m);
  run(db, [
    {
      op: 'update',
      table: 'Bridge',
      where: where(br),
      row: { fail_mode: 'secure', stp_enable: true },
    },
  ]);
  t.same(take(), { Bridge: { [br]: { modify: { fail_mode: 'secure', stp_enable: true } } } });
  run(db, [
    {
      op: 'update',
      table: 'Bridge',
      where: where(br),
      row: {
        fail_mode: ['set', []],
        protocols: 'OpenFlow13',
        external_ids: [
          'map',
          [
            ['a', '1'],
            ['b', 'X'],
            ['c', '3'],
          ],
        ],
      },
    },
  ]);
  t.same(take(), {
    Bridge: {
      [br]: {
        modify: {
          fail_mode: ['set', []],
          protocols: 'OpenFlow14',
          external_ids: [
            'map',
            [
              ['b', 'X'],
              ['c', '3'],
            ],
          ],
        },
      },
    },
  });
  run(db, [
    {
      op: 'update',
      table: 'Bridge',
      where: where(br),
      row: { external_ids: ['map', [['a', '1']]] },
    },
  ]);
  t.same(take(), {
    Bridge: {
      [br]: {
        modify: {
          external_ids: [
            'map',
            [
              ['b', 'X'],
              ['c', '3'],
            ],
          ],
        },
      },
    },
  });
  // A change to an unmonitored column is not reported.
  run(db, [{ op: 'update', table: 'Bridge', where: where(br), row: { datapath_type: 'netdev' } }]);
  t.equal(take(), undefined);
});

void t.test(
  'v1 modify: new has all columns, old only the changed ones; delete has old',
  async (t) => {
    const { db, br, ovs } = setup();
    const m = Monitor.parse(db, 'm', 1, {
      Bridge: { columns: ['name', 'fail_mode', 'datapath_type'] },
    });
    m.initial();
    const take = follow(db, m);
    run(db, [
      { op: 'update', table: 'Bridge', where: where(br), row: { fail_mode: 'standalone' } },
    ]);
    t.same(take(), {
      Bridge: {
        [br]: {
          new: { name: 'br0', fail_mode: 'standalone', datapath_type: '' },
          old: { fail_mode: ['set', []] },
        },
      },
    });
    // Removing the only reference deletes the bridge by garbage collection.
    run(db, [
      { op: 'update', table: 'Open_vSwitch', where: where(ovs), row: { bridges: ['set', []] } },
    ]);
    t.same(take(), {
      Bridge: { [br]: { old: { name: 'br0', fail_mode: 'standalone', datapath_type: '' } } },
    });
  },
);

void t.test('v2 insert and delete, and coalescing of changes between flushes', async (t) => {
  const { db, ovs } = setup();
  const m = Monitor.parse(db, null, 3, { Port: [{ columns: ['name', 'tag'] }] });
  const take = follow(db, m);
  const res = run(db, [
    {
      op: 'insert',
      table: 'Port',
      row: { name: 'p1', interfaces: ['named-uuid', 'i'] },
      'uuid-name': 'p',
    },
    { op: 'insert', table: 'Interface', row: { name: 'p1' }, 'uuid-name': 'i' },
    {
      op: 'insert',
      table: 'Bridge',
      row: { name: 'br1', ports: ['named-uuid', 'p'] },
      'uuid-name': 'b',
    },
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: where(ovs),
      mutations: [['bridges', 'insert', ['set', [['named-uuid', 'b']]]]],
    },
  ]);
  const port = (res[0] as { uuid: Json[] }).uuid[1] as string;
  t.same(take(), { Port: { [port]: { insert: { name: 'p1' } } } });
  // Two commits without a flush in between: one modify from the first old to the last new.
  run(db, [{ op: 'update', table: 'Port', where: where(port), row: { tag: 5 } }]);
  run(db, [{ op: 'update', table: 'Port', where: where(port), row: { tag: 7 } }]);
  t.equal(m.pendingRows(), 1);
  t.same(take(), { Port: { [port]: { modify: { tag: 7 } } } });
  // Changed and changed back: nothing to report.
  run(db, [{ op: 'update', table: 'Port', where: where(port), row: { tag: 8 } }]);
  run(db, [{ op: 'update', table: 'Port', where: where(port), row: { tag: 7 } }]);
  t.equal(take(), undefined);
  // Inserted then deleted before a flush: nothing either.
  const r2 = run(db, [
    {
      op: 'insert',
      table: 'Port',
      row: { name: 'p2', interfaces: ['named-uuid', 'i'] },
      'uuid-name': 'p',
    },
    { op: 'insert', table: 'Interface', row: { name: 'p2' }, 'uuid-name': 'i' },
  ]);
  t.ok(r2);
  t.equal(take(), undefined, 'unreferenced port was collected in the same commit');
  run(db, [
    { op: 'update', table: 'Open_vSwitch', where: where(ovs), row: { bridges: ['set', []] } },
  ]);
  t.same(take(), { Port: { [port]: { delete: null } } });
});

void t.test('select flags are per request and per column', async (t) => {
  const { db, br } = setup();
  const m = Monitor.parse(db, null, 1, {
    Bridge: [{ columns: ['name'] }, { columns: ['ports'], select: { initial: false } }],
  });
  t.same(m.initial(), { Bridge: { [br]: { new: { name: 'br0' } } } });
  const noModify = Monitor.parse(db, null, 2, {
    Bridge: [{ columns: ['fail_mode'], select: { modify: false } }],
  });
  const take = follow(db, noModify);
  run(db, [{ op: 'update', table: 'Bridge', where: where(br), row: { fail_mode: 'secure' } }]);
  t.equal(take(), undefined);
  t.throws(() => Monitor.parse(db, null, 1, { Bridge: { select: { bogus: true } } }), {
    code: 'syntaxError',
  });
});

void t.test('conditions: where, insert/delete on entering/leaving, condition change', async (t) => {
  const { db, br } = setup();
  const m = Monitor.parse(
    db,
    null,
    2,
    { Bridge: [{ columns: ['name', 'fail_mode'], where: [['fail_mode', '==', 'secure']] }] },
    { compileCondition },
  );
  t.same(m.initial(), {});
  const take = follow(db, m);
  run(db, [{ op: 'update', table: 'Bridge', where: where(br), row: { fail_mode: 'secure' } }]);
  t.same(take(), { Bridge: { [br]: { insert: { name: 'br0', fail_mode: 'secure' } } } });
  run(db, [{ op: 'update', table: 'Bridge', where: where(br), row: { fail_mode: 'standalone' } }]);
  t.same(take(), { Bridge: { [br]: { delete: null } } });
  t.same(m.changeConditions({ Bridge: [{ where: [['name', '==', 'br0']] }] }), {
    Bridge: { [br]: { insert: { name: 'br0', fail_mode: 'standalone' } } },
  });
  t.same(m.changeConditions({ Bridge: [{ where: [false] }] }), {
    Bridge: { [br]: { delete: null } },
  });
  t.equal(m.changeConditions({ Bridge: [{ where: [['name', '==', 'nope']] }] }), undefined);
  t.throws(() => m.changeConditions({ Bridge: [{ columns: ['name'], where: [] }] }), {
    message: 'syntax error: changing columns is unsupported',
  });
  t.throws(() => m.changeConditions({ Nope: [{ where: [] }] }), {
    message: 'syntax error: no table named Nope',
  });
});

void t.test('request errors carry ovsdb-server texts', async (t) => {
  const { db } = setup();
  const cases: [Json, number, string][] = [
    [{ Nope: {} }, 1, 'no table named Nope'],
    [{ Bridge: { columns: ['zz'] } }, 1, 'zz is not a valid column name'],
    [
      { Bridge: [{ columns: ['name'] }, { columns: ['name', 'ports'] }] },
      2,
      'column name mentioned more than once',
    ],
    [
      { Bridge: [{ where: [] }] },
      1,
      "Parsing table Bridge failed: Member 'where' is present but not allowed here.",
    ],
    [
      { Bridge: [{ frob: 1 }] },
      2,
      "Parsing table Bridge failed: Member 'frob' is present but not allowed here.",
    ],
    [
      { Bridge: [{ columns: 'name' }] },
      2,
      "Parsing table Bridge failed: Type mismatch for member 'columns'.",
    ],
  ];
  for (const [req, v, details] of cases) {
    t.throws(
      () => Monitor.parse(db, null, v as 1 | 2, req, { compileCondition }),
      { message: `syntax error: ${details}` },
      details,
    );
  }
  t.throws(() => Monitor.parse(db, null, 2, [1], { compileCondition }), OvsdbError);
  // Bad condition surfaces the condition parser's error.
  t.throws(
    () =>
      Monitor.parse(db, null, 2, { Bridge: [{ where: [['zz', '==', 1]] }] }, { compileCondition }),
    OvsdbError,
  );
});

void t.test('datumDiff', async (t) => {
  const set: ColumnType = { key: { type: 'string' }, min: 0, max: Infinity };
  t.same(datumDiff({ keys: ['a', 'b'] }, { keys: ['b', 'c'] }, set), { keys: ['a', 'c'] });
  const map: ColumnType = {
    key: { type: 'string' },
    value: { type: 'string' },
    min: 0,
    max: Infinity,
  };
  t.same(
    datumDiff(
      { keys: ['a', 'b', 'd'], values: ['1', '2', '4'] },
      { keys: ['a', 'b', 'c'], values: ['1', 'X', '3'] },
      map,
    ),
    { keys: ['b', 'c', 'd'], values: ['X', '3', '4'] },
  );
  const opt: ColumnType = { key: { type: 'string' }, min: 0, max: 1 };
  t.same(datumDiff({ keys: ['a'] }, { keys: [] }, opt), { keys: [] });
});

void t.test(
  'a v1 monitor accepts a condition change (as ovsdb-server does) and reports v1 rows',
  async (t) => {
    const { db, br } = setup();
    const m = Monitor.parse(db, 'v', 1, { Bridge: { columns: ['name'] } }, { compileCondition });
    t.same(m.initial(), { Bridge: { [br]: { new: { name: 'br0' } } } });
    t.same(m.changeConditions({ Bridge: [{ where: [['name', '==', 'x']] }] }), {
      Bridge: { [br]: { old: { name: 'br0' } } },
    });
    t.same(m.changeConditions({ Bridge: [{ where: [true] }] }), {
      Bridge: { [br]: { new: { name: 'br0' } } },
    });
    t.throws(() => m.changeConditions([]), {
      message: 'syntax error: monitor-cond-change-requests must be object',
    });
    t.throws(() => m.changeConditions({ Port: [] }), {
      message: 'syntax error: no table named Port in monitor session',
    });
    t.throws(() => m.changeConditions({ Bridge: {} }), {
      message: 'syntax error: table Bridge no monitor-cond-change JSON array',
    });
  },
);

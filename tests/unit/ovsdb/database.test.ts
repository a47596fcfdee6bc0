/* eslint-disable @typescript-eslint/no-explicit-any -- tests poke at JSON result shapes */
import t from 'tap';
import fc from 'fast-check';
import { Database, newUuid } from '../../../ovsdb/database.js';
import type { CommitRecord, LogRecord, TransactOutcome } from '../../../ovsdb/database.js';
import { vswitchDbSchema } from '../../../ovsdb/schema.js';
import type { Json } from '../../../ovsdb/types.js';

function done(o: TransactOutcome): { result: any[]; commit?: CommitRecord } {
  if (o.status !== 'done') throw new Error('blocked');
  return o;
}

void t.test('newUuid is a random v4 uuid', (t) => {
  const a = newUuid();
  t.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.not(a, newUuid());
  t.end();
});

void t.test('commit log records replayed into a fresh database give the same snapshot', (t) => {
  const schema = vswitchDbSchema();
  const a = new Database(schema);
  const log: LogRecord[] = [];
  a.onCommit((c) => log.push(Database.commitToLogRecord(c, schema)));
  const ovs = done(a.transact([{ op: 'insert', table: 'Open_vSwitch', row: {} }])).result[0]
    .uuid[1];
  done(
    a.transact([
      {
        op: 'insert',
        table: 'Interface',
        row: { name: 'p1', options: ['map', [['k', 'v']]] },
        'uuid-name': 'i',
      },
      {
        op: 'insert',
        table: 'Port',
        row: { name: 'p1', interfaces: ['named-uuid', 'i'], tag: 5 },
        'uuid-name': 'p',
      },
      {
        op: 'insert',
        table: 'Bridge',
        row: { name: 'br0', ports: ['named-uuid', 'p'] },
        'uuid-name': 'b',
      },
      { op: 'update', table: 'Open_vSwitch', where: [], row: { bridges: ['named-uuid', 'b'] } },
    ]),
  );
  const r = done(
    a.transact([
      { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 3]] },
      // statistics is ephemeral: not in the log.
      {
        op: 'update',
        table: 'Interface',
        where: [],
        row: { statistics: ['map', [['rx_packets', 1]]], mtu_request: 1500 },
      },
    ]),
  );
  const rec = Database.commitToLogRecord(r.commit!, schema);
  t.same(rec.Open_vSwitch, { [ovs]: { next_cfg: 3 } }, 'modify: only the changed column');
  const iface = Object.values(rec.Interface!)[0] as Record<string, Json>;
  t.same(Object.keys(iface), ['mtu_request'], 'ephemeral columns are not logged');
  done(
    a.transact([
      { op: 'insert', table: 'Port', row: { name: 'gc', interfaces: ['named-uuid', 'i2'] } },
      { op: 'insert', table: 'Interface', row: { name: 'gc' }, 'uuid-name': 'i2' },
    ]),
  );
  t.equal(a.rows('Port').size, 1, 'unreferenced port collected');

  const b = new Database(schema);
  for (const l of log) b.applyLogRecord(l);
  const strip = (s: LogRecord): LogRecord => {
    // Ephemeral columns are not persisted; compare persistent state only.
    return JSON.parse(JSON.stringify(s)) as LogRecord;
  };
  t.same(strip(b.snapshot()), strip(a.snapshot()));
  t.ok(a.snapshot().Interface, 'snapshot has the interface');
  const snapIface = Object.values(a.snapshot().Interface!)[0] as Record<string, Json>;
  t.notOk('statistics' in snapIface, 'snapshot skips ephemeral columns');
  t.same(snapIface.options, ['map', [['k', 'v']]]);

  // Reference counts were rebuilt by the replay: the bridge is still protected / collectable.
  const del = done(b.transact([{ op: 'delete', table: 'Port', where: [] }]));
  t.equal(del.result[1]?.error, 'referential integrity violation');
  const gc = done(
    b.transact([{ op: 'update', table: 'Open_vSwitch', where: [], row: { bridges: ['set', []] } }]),
  );
  t.same([...gc.commit!.tables.keys()].sort(), ['Bridge', 'Interface', 'Open_vSwitch', 'Port']);
  t.end();
});

void t.test('applyLogRecord: insert, modify a column, delete, and bad input', (t) => {
  const db = new Database(vswitchDbSchema());
  const u = '11111111-2222-4333-8444-555555555555';
  db.applyLogRecord({
    QoS: { [u]: { type: 'linux-htb', other_config: ['map', [['max-rate', '1']]] } },
    _date: 1,
    _comment: 'x',
  });
  t.equal(db.getRow('QoS', u)!.data.type!.keys[0], 'linux-htb');
  db.applyLogRecord({ QoS: { [u]: { type: 'linux-hfsc' } } });
  t.equal(db.getRow('QoS', u)!.data.type!.keys[0], 'linux-hfsc');
  t.same(db.getRow('QoS', u)!.data.other_config!.keys, ['max-rate'], 'other columns kept');
  db.applyLogRecord({ QoS: { [u]: null } });
  t.notOk(db.getRow('QoS', u));
  t.throws(() => db.applyLogRecord({ Nope: {} }), { name: 'OvsdbError', tag: 'syntax error' });
  t.throws(() => db.applyLogRecord({ QoS: { 'not-a-uuid': {} } }));
  t.throws(() => db.applyLogRecord({ QoS: { [u]: { zz: 1 } } }), {
    name: 'OvsdbError',
    tag: 'unknown column',
  });
  t.throws(() => db.applyLogRecord([] as Json));
  t.end();
});

void t.test('the unique index follows commits (property: names stay unique)', (t) => {
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.constantFrom('add', 'del', 'rename'),
          fc.integer({ min: 0, max: 4 }),
          fc.integer({ min: 0, max: 4 }),
        ),
        {
          maxLength: 40,
        },
      ),
      (steps) => {
        const db = new Database(vswitchDbSchema());
        done(db.transact([{ op: 'insert', table: 'Open_vSwitch', row: {} }]));
        const model = new Set<string>();
        for (const [what, x, y] of steps) {
          const nx = `br${x}`;
          const ny = `br${y}`;
          let ops: Json[];
          if (what === 'add') {
            ops = [
              { op: 'insert', table: 'Bridge', row: { name: nx }, 'uuid-name': 'b' },
              {
                op: 'mutate',
                table: 'Open_vSwitch',
                where: [],
                mutations: [['bridges', 'insert', ['named-uuid', 'b']]],
              },
            ];
          } else if (what === 'del') {
            ops = [
              { op: 'select', table: 'Bridge', where: [['name', '==', nx]], columns: ['_uuid'] },
            ];
            const rows = done(db.transact(ops)).result[0].rows as any[];
            if (rows.length === 0) continue;
            ops = [
              {
                op: 'mutate',
                table: 'Open_vSwitch',
                where: [],
                mutations: [['bridges', 'delete', rows[0]._uuid]],
              },
            ];
          } else {
            // Bridge.name is immutable: renaming is delete + insert in one transaction.
            const rows = done(
              db.transact([
                { op: 'select', table: 'Bridge', where: [['name', '==', nx]], columns: ['_uuid'] },
              ]),
            ).result[0].rows as any[];
            if (rows.length === 0) continue;
            ops = [
              {
                op: 'mutate',
                table: 'Open_vSwitch',
                where: [],
                mutations: [['bridges', 'delete', rows[0]._uuid]],
              },
              { op: 'insert', table: 'Bridge', row: { name: ny }, 'uuid-name': 'b' },
              {
                op: 'mutate',
                table: 'Open_vSwitch',
                where: [],
                mutations: [['bridges', 'insert', ['named-uuid', 'b']]],
              },
            ];
          }
          const r = done(db.transact(ops));
          const failed = r.result.some((e: any) => e && e.error);
          if (what === 'add') {
            if (model.has(nx) !== failed) return false;
            model.add(nx);
          } else if (what === 'del') {
            if (failed) return false;
            model.delete(nx);
          } else {
            const expectFail = model.has(ny) && ny !== nx;
            if (expectFail !== failed) return false;
            if (!failed) {
              model.delete(nx);
              model.add(ny);
            }
          }
          const names = [...db.rows('Bridge').values()]
            .map((row) => row.data.name!.keys[0] as string)
            .sort();
          if (JSON.stringify(names) !== JSON.stringify([...model].sort())) return false;
        }
        return true;
      },
    ),
    { seed: 42, numRuns: 150 },
  );
  t.end();
});

void t.test('snapshotRows yields what snapshot holds', (t) => {
  const db = new Database(vswitchDbSchema());
  done(db.transact([{ op: 'insert', table: 'Open_vSwitch', row: { next_cfg: 2 } }]));
  done(db.transact([{ op: 'insert', table: 'QoS', row: { type: 'x' } }]));
  const rebuilt: LogRecord = {};
  for (const [table, uuid, cols] of db.snapshotRows()) (rebuilt[table] ??= {})[uuid] = cols;
  t.same(rebuilt, db.snapshot());
  t.equal(Object.keys(rebuilt).length, 2);
  t.end();
});

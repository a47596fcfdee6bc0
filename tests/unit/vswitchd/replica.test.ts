/**
 * The in-process replica (what `tsvs start` runs the reconciler on) and the raw apply the
 * JSON-RPC replica mirrors rows with (`Database.applyReplicated`).
 */
import t from 'tap';
import type { Json } from '../../../lib/json.js';
import { Database } from '../../../ovsdb/database.js';
import { vswitchDbSchema } from '../../../ovsdb/schema.js';
import { InProcessReplica, transactError } from '../../../vswitchd/replica.js';

const U1 = '11111111-1111-4111-8111-111111111111';
const U2 = '22222222-2222-4222-8222-222222222222';

void t.test('InProcessReplica: reads, changes and commits on the database itself', async (t) => {
  const db = new Database(vswitchDbSchema());
  const r = new InProcessReplica(db);
  t.equal(r.db, db);
  await r.start();
  const seen: string[][] = [];
  const off = r.onChange((tables) => seen.push([...tables].sort()));
  const ok = await r.commit([{ op: 'insert', table: 'Open_vSwitch', row: { next_cfg: 3 } }]);
  t.equal(ok.status, 'ok');
  t.same(seen, [['Open_vSwitch']], 'change reported with its tables');
  const root = [...r.rows('Open_vSwitch').keys()][0]!;
  t.equal(r.getRow('Open_vSwitch', root)?.data.next_cfg?.keys[0], 3n, 'visible at once');
  const bad = await r.commit([
    { op: 'update', table: 'Open_vSwitch', where: [], row: { next_cfg: 'x' } },
  ]);
  t.equal(bad.status, 'error');
  t.match(bad, { error: /ovsdb-error|syntax|constraint|type/i });
  t.equal(seen.length, 1, 'a failed commit changes nothing');
  off();
  await r.commit([{ op: 'update', table: 'Open_vSwitch', where: [], row: { cur_cfg: 3 } }]);
  t.equal(seen.length, 1, 'unsubscribed');
  await r.close();
});

void t.test('transactError names the first error', async (t) => {
  t.equal(transactError([{ count: 1 }, {}]), undefined);
  const res: Json[] = [{ count: 1 }, { error: 'not owner', details: 'lock ovs_vswitchd' }];
  t.equal(transactError(res), 'not owner: lock ovs_vswitchd');
  t.equal(transactError([null, { error: 'timed out' }]), 'timed out');
});

void t.test('Database.applyReplicated publishes raw rows to listeners', async (t) => {
  const db = new Database(vswitchDbSchema());
  const commits: { tables: string[]; changed: string[] }[] = [];
  db.onCommit((c) => {
    const rows = [...c.tables.values()].flatMap((m) => [...m.values()]);
    commits.push({
      tables: [...c.tables.keys()].sort(),
      changed: rows.flatMap((ch) => [...ch.changed]).sort(),
    });
  });
  // A Port referencing an Interface, inserted without any integrity check.
  const c1 = db.applyReplicated({
    Interface: { [U1]: { name: 'trepi0', ofport: 3 } },
    Port: { [U2]: { name: 'trepi0', interfaces: ['uuid', U1] } },
  });
  t.ok(c1, 'a commit');
  t.same(commits[0]!.tables, ['Interface', 'Port']);
  t.equal(db.getRow('Interface', U1)?.data.ofport?.keys[0], 3n);
  t.equal(db.getRow('Interface', U1)?.data.type?.keys[0], '', 'absent columns get defaults');
  // Same values again: nothing changed, no listener runs.
  t.equal(db.applyReplicated({ Interface: { [U1]: { name: 'trepi0', ofport: 3 } } }), undefined);
  t.equal(commits.length, 1);
  // A modify reports only the columns that differ.
  db.applyReplicated({ Interface: { [U1]: { name: 'trepi0', ofport: 4 } } });
  t.same(commits[1], { tables: ['Interface'], changed: ['ofport'] });
  // Deletion.
  db.applyReplicated({ Port: { [U2]: null }, Interface: { [U1]: null } });
  t.equal(db.rows('Interface').size, 0);
  t.equal(db.rows('Port').size, 0);
  // Bad values are refused as a whole, nothing applied.
  t.throws(() => db.applyReplicated({ Interface: { [U1]: { ofport: 'x' } } }));
  t.equal(db.rows('Interface').size, 0);
});

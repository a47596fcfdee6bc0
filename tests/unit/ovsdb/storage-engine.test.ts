/**
 * Storage driven by the real transaction engine: transactions run through `Database.transact`,
 * are written by `Storage.attach`'s commit listener, and a fresh engine loaded from the file (and
 * from its compacted form) holds exactly the same rows.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringifyJson, type Json } from '../../../lib/json.js';
import { setLogLevel } from '../../../lib/log.js';
import { Database } from '../../../ovsdb/database.js';
import { parseSchema, vswitchDbSchema } from '../../../ovsdb/schema.js';
import { Storage } from '../../../ovsdb/storage.js';

setLogLevel('ovsdb_storage', 'off');

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'tsvs-storage-engine-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** JSON text with object keys sorted and set/map elements sorted: order-free comparison. */
function canonical(j: Json): string {
  const norm = (x: Json): Json => {
    if (Array.isArray(x)) {
      if ((x[0] === 'set' || x[0] === 'map') && Array.isArray(x[1])) {
        return [
          x[0],
          x[1].map(norm).sort((a, b) => (stringifyJson(a) < stringifyJson(b) ? -1 : 1)),
        ];
      }
      return x.map(norm);
    }
    if (typeof x === 'bigint') return Number.isSafeInteger(Number(x)) ? Number(x) : x;
    if (x !== null && typeof x === 'object') {
      const o: { [k: string]: Json } = {};
      for (const k of Object.keys(x).sort()) o[k] = norm(x[k]!);
      return o;
    }
    return x;
  };
  return stringifyJson(norm(j));
}

async function openDb(path: string): Promise<{ db: Database; storage: Storage }> {
  const storage = await Storage.open(path, { create: vswitchDbSchema().json });
  const db = new Database(parseSchema(storage.schemaJson));
  storage.attach(db);
  return { db, storage };
}

async function run(db: Database, storage: Storage, ops: Json[]): Promise<Json[]> {
  const out = db.transact(ops);
  if (out.status !== 'done') throw new Error('transaction blocked');
  for (const r of out.result) {
    if (r !== null && typeof r === 'object' && !Array.isArray(r) && 'error' in r)
      throw new Error(stringifyJson(out.result));
  }
  if (out.commit) await storage.written(out.commit);
  return out.result;
}

void t.test('engine commits survive a reopen and a compaction unchanged', async (t) => {
  const dir = tmp(t);
  const path = join(dir, 'conf.db');
  const { db, storage } = await openDb(path);
  await run(db, storage, [
    {
      op: 'insert',
      table: 'Open_vSwitch',
      row: { bridges: ['named-uuid', 'b'], external_ids: ['map', [['a', '1']]] },
    },
    {
      op: 'insert',
      table: 'Bridge',
      'uuid-name': 'b',
      row: {
        name: 'br0',
        ports: ['named-uuid', 'p'],
        flood_vlans: ['set', [1, 2, 3]],
        other_config: ['map', [['x', 'y']]],
      },
    },
    {
      op: 'insert',
      table: 'Port',
      'uuid-name': 'p',
      row: { name: 'p0', interfaces: ['named-uuid', 'i'] },
    },
    { op: 'insert', table: 'Interface', 'uuid-name': 'i', row: { name: 'p0', ofport_request: 3 } },
    { op: 'comment', comment: 'setup' },
  ]);
  await run(db, storage, [
    {
      op: 'update',
      table: 'Bridge',
      where: [],
      row: { flood_vlans: ['set', [2, 3, 4]], fail_mode: 'secure' },
    },
    {
      op: 'mutate',
      table: 'Bridge',
      where: [],
      mutations: [['other_config', 'insert', ['map', [['q', 'r']]]]],
    },
    { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 5]] },
    { op: 'commit', durable: true },
  ]);
  const res = await run(db, storage, [
    { op: 'insert', table: 'Bridge', 'uuid-name': 'b2', row: { name: 'br1' } },
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [],
      mutations: [['bridges', 'insert', ['set', [['named-uuid', 'b2']]]]],
    },
    { op: 'update', table: 'Interface', where: [], row: { ofport_request: ['set', []] } },
  ]);
  const br1 = (res[0] as { uuid: [string, string] }).uuid[1];
  // Garbage collection deletes br1 once it is no longer referenced.
  await run(db, storage, [
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [],
      mutations: [['bridges', 'delete', ['set', [['uuid', br1]]]]],
    },
  ]);
  const want = canonical(db.snapshot());
  t.match(want, /"br0"/);
  t.notMatch(want, /"br1"/);
  await storage.close();

  const a = await openDb(path);
  t.equal(canonical(a.db.snapshot()), want, 'reopened engine holds the same rows');
  await a.storage.compact();
  t.equal(a.storage.stats().records, 2);
  await run(a.db, a.storage, [
    { op: 'update', table: 'Bridge', where: [], row: { flood_vlans: ['set', [7]] } },
  ]);
  const want2 = canonical(a.db.snapshot());
  await a.storage.close();

  const b = await openDb(path);
  t.equal(
    canonical(b.db.snapshot()),
    want2,
    'after compaction and one more commit, still the same rows',
  );
  t.match(want2, /"flood_vlans":7/);
  await b.storage.close();
});

import t from 'tap';
import fc from 'fast-check';
import {
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  copyFileSync,
  appendFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJson, stringifyJson, type JsonObject } from '../../../lib/json.js';
import { FakeClock } from '../../../lib/clock.js';
import { setLogLevel } from '../../../lib/log.js';
import { allCounters } from '../../../lib/counters.js';
import {
  Storage,
  StorageError,
  type CommitLike,
  type DatabaseLike,
  type RowChangeLike,
} from '../../../ovsdb/storage.js';
import { decodeAll, encodeRecord } from '../../../ovsdb/log.js';
import {
  ReplayState,
  applyDatumDiff,
  atomKey,
  commitToRecord,
  datumDiff,
  datumEquals,
  datumFromJson,
  defaultDatum,
  parseSchemaForStorage,
  type FColumn,
  type FDatum,
} from '../../../ovsdb/file-format.js';
import type { Database } from '../../../ovsdb/database.js';

setLogLevel('ovsdb_log', 'off');
setLogLevel('ovsdb_storage', 'off');

// The engine's Database must satisfy what storage needs (compile-time check).
const _engineFits = (db: Database): DatabaseLike => db;
void _engineFits;

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'tsvs-storage-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const SCHEMA: JsonObject = {
  name: 'Test',
  version: '1.2.3',
  tables: {
    T: {
      columns: {
        i: { type: 'integer' },
        s: { type: { key: 'string', min: 0, max: 'unlimited' } },
        m: { type: { key: 'string', value: 'integer', min: 0, max: 'unlimited' } },
        o: { type: { key: 'string', min: 0, max: 1 } },
        small: { type: { key: 'integer', min: 0, max: 2 } },
        one: { type: { key: 'uuid', min: 1, max: 'unlimited' } },
        eph: { type: 'string', ephemeral: true },
        r: { type: 'real' },
      },
    },
    U: { columns: { name: { type: 'string' } } },
  },
};
const schema = parseSchemaForStorage(SCHEMA);
const col = (name: string): FColumn => schema.tables.get('T')!.get(name)!;
const U1 = '00000000-0000-4000-8000-000000000001';
const U2 = '00000000-0000-4000-8000-000000000002';
const ZERO = '00000000-0000-0000-0000-000000000000';

function canonDatum(d: FDatum): string {
  return d.keys
    .map((k, i) => (d.values ? `${atomKey(k)}=${atomKey(d.values[i]!)}` : atomKey(k)))
    .sort()
    .join(',');
}

/** A commit from JSON rows. */
function commit(
  changes: [string, string, JsonObject | undefined, JsonObject | undefined][],
  extra: { comment?: string; durable?: boolean } = {},
): CommitLike {
  const tables = new Map<string, Map<string, RowChangeLike>>();
  for (const [table, uuid, o, n] of changes) {
    if (!tables.has(table)) tables.set(table, new Map());
    tables.get(table)!.set(uuid, {
      ...(o ? { old: { data: o } } : {}),
      ...(n ? { new: { data: n } } : {}),
      changed: new Set([...Object.keys(o ?? {}), ...Object.keys(n ?? {})]),
    });
  }
  return { tables, ...extra };
}

void t.test('diff then apply gives the new value, for sets and maps (property)', (t) => {
  const atoms = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
  const setArb = fc.uniqueArray(atoms, { maxLength: 6 });
  const mapArb = fc.uniqueArray(fc.tuple(atoms, fc.integer({ min: 0, max: 3 })), {
    maxLength: 6,
    selector: (p) => p[0],
  });
  fc.assert(
    fc.property(setArb, setArb, (a, b) => {
      const c = col('s');
      const oldD = { keys: a };
      const newD = { keys: b };
      const diff = datumDiff(oldD, newD, c);
      // A set diff is the symmetric difference.
      const sym = [...a.filter((x) => !b.includes(x)), ...b.filter((x) => !a.includes(x))]
        .sort()
        .join(',');
      return canonDatum(diff) === sym && datumEquals(applyDatumDiff(oldD, diff, c, 'x'), newD);
    }),
    { seed: 7, numRuns: 500 },
  );
  fc.assert(
    fc.property(mapArb, mapArb, (a, b) => {
      const c = col('m');
      const oldD = { keys: a.map((p) => p[0]), values: a.map((p) => BigInt(p[1])) };
      const newD = { keys: b.map((p) => p[0]), values: b.map((p) => BigInt(p[1])) };
      return datumEquals(applyDatumDiff(oldD, datumDiff(oldD, newD, c), c, 'x'), newD);
    }),
    { seed: 8, numRuns: 500 },
  );
  t.throws(
    () => applyDatumDiff({ keys: [1n, 2n] }, { keys: [3n] }, col('small'), 'x'),
    /3 elements where 0 to 2/,
  );
  t.end();
});

void t.test(
  'replay follows ovsdb-server 3.1: diffs patch non-default sets/maps, everything else is replaced',
  (t) => {
    const st = new ReplayState(schema);
    st.apply({
      T: {
        [U1]: {
          i: 5,
          s: ['set', ['a', 'b']],
          m: ['map', [['k', 1]]],
          o: 'x',
          one: ['uuid', U2],
          eph: 'e',
        },
      },
      _date: 1,
      _comment: 'c',
    });
    st.apply({
      T: {
        [U1]: {
          s: ['set', ['b', 'c']],
          m: [
            'map',
            [
              ['k', 2],
              ['j', 3],
            ],
          ],
          o: ['set', []],
          i: 6,
        },
      },
      _is_diff: true,
      _date: 2,
    });
    let rec = st.toRecord();
    t.same(rec, {
      T: {
        [U1]: {
          i: 6n,
          s: ['set', ['a', 'c']],
          m: [
            'map',
            [
              ['k', 2n],
              ['j', 3n],
            ],
          ],
          one: ['uuid', U2],
          eph: 'e',
        },
      },
    });
    // Not a diff record: values replace.
    st.apply({ T: { [U1]: { s: ['set', ['z']] } } });
    // A diff record on a column at its default replaces too (OVS 3.1 rule).
    st.apply({ T: { [U2]: { s: ['set', ['q', 'r']] } }, _is_diff: true });
    rec = st.toRecord();
    t.same((rec.T as JsonObject)[U1], {
      i: 6n,
      s: 'z',
      m: [
        'map',
        [
          ['k', 2n],
          ['j', 3n],
        ],
      ],
      one: ['uuid', U2],
      eph: 'e',
    });
    t.same((rec.T as JsonObject)[U2], { s: ['set', ['q', 'r']] });
    // Oversize diffs are accepted, the result is checked.
    st.apply({ T: { [U2]: { small: ['set', [1, 2]] } }, _is_diff: true });
    st.apply({ T: { [U2]: { small: ['set', [1, 2, 3, 4]] } }, _is_diff: true });
    t.same(((rec = st.toRecord()).T as JsonObject)[U2], {
      s: ['set', ['q', 'r']],
      small: ['set', [3n, 4n]],
    });
    st.apply({ T: { [U2]: null } });
    t.equal(st.rowCount, 1);

    t.throws(() => st.apply({ T: { [U2]: null } }), /deletes row .* that does not exist/);
    t.throws(() => st.apply({ X: {} }), /No table named X/);
    t.throws(() => st.apply({ _date: 'yesterday' }), /No table named _date/);
    t.throws(() => st.apply({ T: { [U1]: { nope: 1 } } }), /No column nope in table T/);
    t.throws(() => st.apply({ T: { 'not-a-uuid': {} } }), /not a valid UUID/);
    t.throws(() => st.apply({ T: { [U1]: { i: 'x' } } }), /expected integer/);
    t.throws(() => st.apply({ T: { [U1]: { s: ['set', ['a', 'a']] } } }), /duplicate/);
    t.throws(() => st.apply({ T: { [U1]: 5 } }), /row must be JSON object/);
    st.apply({ T: { [U1]: { _uuid: ['uuid', U1], _version: ['uuid', U2] } } });
    t.end();
  },
);

void t.test(
  'commit records: inserts omit defaults and ephemerals, modifies carry diffs, fallbacks to full form',
  (t) => {
    const ins = commitToRecord(
      schema,
      commit(
        [
          [
            'T',
            U1,
            undefined,
            {
              i: 0,
              s: { keys: ['a'] },
              m: ['map', []],
              o: 'x',
              eph: 'e',
              one: ['uuid', U2],
              r: 1.5,
            },
          ],
        ],
        { comment: 'hi' },
      ),
      1234,
    );
    t.same(ins, {
      T: { [U1]: { s: 'a', o: 'x', one: ['uuid', U2], r: 1.5 } },
      _comment: 'hi',
      _date: 1234,
      _is_diff: true,
    });

    const oldRow = {
      i: 1,
      s: ['set', ['a', 'b']],
      m: { keys: ['k'], values: [1n] },
      o: 'x',
      one: ['uuid', U2],
    } as JsonObject;
    const newRow = {
      i: 2,
      s: ['set', ['b', 'c']],
      m: { keys: ['k', 'j'], values: [5n, 6n] },
      o: ['set', []],
      one: ['uuid', U2],
      eph: 'changed',
    } as JsonObject;
    const mod = commitToRecord(
      schema,
      commit([
        ['T', U1, oldRow, newRow],
        ['U', U2, { name: 'x' }, undefined],
      ]),
      5,
    );
    t.same(mod, {
      T: {
        [U1]: {
          i: 2n,
          s: ['set', ['c', 'a']],
          m: [
            'map',
            [
              ['k', 5n],
              ['j', 6n],
            ],
          ],
          o: ['set', []],
        },
      },
      U: { [U2]: null },
      _date: 5,
      _is_diff: true,
    });

    // Only an ephemeral column (or nothing) changed: no record.
    t.equal(commitToRecord(schema, commit([['T', U1, { eph: 'a' }, { eph: 'b' }]]), 5), undefined);
    t.equal(commitToRecord(schema, commit([]), 5), undefined);

    // A diff bigger than the column's max (OVS 3.1.0 cannot read it): whole record in full form.
    const big = commitToRecord(
      schema,
      commit([['T', U1, { small: ['set', [1, 2]], i: 1 }, { small: ['set', [3, 4]], i: 2 }]]),
      5,
    );
    t.same(big, { T: { [U1]: { small: ['set', [3n, 4n]], i: 2n } }, _date: 5 });
    // A min-1 set leaving its non-empty default: full form as well (OVS versions disagree on it).
    const fromDefault = commitToRecord(
      schema,
      commit([
        [
          'T',
          U1,
          { one: ['uuid', ZERO] },
          {
            one: [
              'set',
              [
                ['uuid', U1],
                ['uuid', U2],
              ],
            ],
          },
        ],
      ]),
      5,
    );
    t.equal(fromDefault?._is_diff, undefined);
    t.end();
  },
);

void t.test(
  'commit records replay to the committed state (property over random set/map histories)',
  (t) => {
    const atoms = fc.constantFrom('a', 'b', 'c', 'd');
    const rowArb = fc.record({
      s: fc.uniqueArray(atoms, { maxLength: 4 }),
      small: fc.uniqueArray(fc.integer({ min: 0, max: 5 }), { maxLength: 2 }),
      m: fc.uniqueArray(fc.tuple(atoms, fc.integer({ min: 0, max: 2 })), {
        maxLength: 4,
        selector: (p) => p[0],
      }),
      o: fc.option(atoms, { nil: undefined }),
    });
    const toJson = (r: {
      s: string[];
      small: number[];
      m: [string, number][];
      o: string | undefined;
    }): JsonObject => ({
      s: ['set', r.s],
      small: ['set', r.small],
      m: ['map', r.m],
      o: r.o === undefined ? ['set', []] : r.o,
    });
    fc.assert(
      fc.property(
        fc.array(fc.option(rowArb, { nil: undefined }), { minLength: 1, maxLength: 8 }),
        (history) => {
          const st = new ReplayState(schema);
          let cur: JsonObject | undefined;
          let date = 0;
          for (const h of history) {
            const next = h ? toJson(h) : undefined;
            const rec = commitToRecord(schema, commit([['T', U1, cur, next]]), ++date);
            if (rec) st.apply(parseJson(stringifyJson(rec)));
            cur = next;
          }
          const got = (st.toRecord().T as JsonObject | undefined)?.[U1] as JsonObject | undefined;
          if (!cur) return got === undefined;
          if (!got) return false;
          return ['s', 'small', 'm', 'o'].every((c) => {
            const pc = col(c);
            const want = canonDatum(datumFromJson(cur[c]!, pc, c));
            const have =
              got[c] === undefined
                ? canonDatum(defaultDatum(pc))
                : canonDatum(datumFromJson(got[c], pc, c));
            return want === have;
          });
        },
      ),
      { seed: 42, numRuns: 400 },
    );
    t.end();
  },
);

void t.test(
  'create, commit, reopen; read-only; errors for missing, empty, foreign and clustered files',
  async (t) => {
    const dir = tmp(t);
    const p = join(dir, 'db');
    await t.rejects(Storage.open(p), StorageError);
    const s = await Storage.open(p, { create: SCHEMA });
    t.same(s.takeLoadedData(), {});
    t.throws(() => s.takeLoadedData(), /already taken/);
    await s.commit(
      commit([['T', U1, undefined, { i: 1, s: ['set', ['a', 'b']] }]], { durable: true }),
    );
    await s.commit(
      commit([
        ['T', U1, { i: 1, s: ['set', ['a', 'b']] }, { i: 2, s: ['set', ['b']] }],
        ['U', U2, undefined, { name: 'u' }],
      ]),
    );
    t.same(s.stats().records, 3);
    await s.close();
    await t.rejects(s.commit(commit([['U', U1, undefined, { name: 'v' }]])), /closed/);

    const r = await Storage.open(p, { readOnly: true });
    t.same(r.schemaJson, SCHEMA);
    t.same(r.takeLoadedData(), { T: { [U1]: { i: 2n, s: 'b' } }, U: { [U2]: { name: 'u' } } });
    await t.rejects(r.commit(commit([['U', U1, undefined, { name: 'v' }]])), /read-only/);
    await r.close();

    // `create` on an existing file opens it.
    const again = await Storage.open(p, { create: { name: 'Other', tables: {} } });
    t.equal(again.schema.name, 'Test');
    await again.close();

    const empty = join(dir, 'empty');
    writeFileSync(empty, '');
    await t.rejects(Storage.open(empty), /contains no schema/);
    const foreign = join(dir, 'foreign');
    writeFileSync(foreign, 'hello world\nthis is not a database\n');
    await t.rejects(Storage.open(foreign), /contains no schema \(parse error at offset 0/);
    t.equal(statSync(foreign).size, 35, 'a foreign file is never truncated');
    const clustered = join(dir, 'clustered');
    writeFileSync(clustered, encodeRecord({ server_id: 'x' }, 'CLUSTER'));
    const err = await Storage.open(clustered).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof StorageError, 'clustered: StorageError');
    t.equal((err as StorageError).logError?.kind, 'clustered');
    t.match((err as StorageError).message, /is a clustered database.*cluster-to-standalone/);
    const badTxn = join(dir, 'badtxn');
    writeFileSync(
      badTxn,
      Buffer.concat([encodeRecord(SCHEMA), encodeRecord({ T: { [U1]: null } })]),
    );
    await t.rejects(Storage.open(badTxn), /offset \d+: transaction deletes row/);
  },
);

void t.test(
  'torn or corrupt tail at every byte of the last record: earlier transactions kept, tail cut',
  async (t) => {
    const dir = tmp(t);
    const p = join(dir, 'db');
    const s = await Storage.open(p, { create: SCHEMA });
    await s.commit(commit([['U', U1, undefined, { name: 'one' }]]));
    const sizeBefore = statSync(p).size;
    await s.commit(commit([['U', U2, undefined, { name: 'two' }]], { comment: 'second' }));
    await s.close();
    const full = readFileSync(p);
    const expected = { U: { [U1]: { name: 'one' } } };
    for (let n = sizeBefore + 1; n < full.length; n++) {
      const q = join(dir, 'torn');
      copyFileSync(p, q);
      truncateSync(q, n);
      const st = await Storage.open(q);
      const data = st.takeLoadedData();
      const repaired = st.stats().repairedBytes;
      await st.close();
      if (
        JSON.stringify(data) !== JSON.stringify(expected) ||
        statSync(q).size !== sizeBefore ||
        repaired !== n - sizeBefore
      ) {
        t.fail(`torn at ${n}`);
        return;
      }
    }
    // A flipped byte anywhere in the last record: same outcome.
    for (let n = sizeBefore; n < full.length; n++) {
      const q = join(dir, 'flip');
      const bad = Buffer.from(full);
      bad[n] = bad[n]! ^ 0x01;
      writeFileSync(q, bad);
      const st = await Storage.open(q);
      const data = st.takeLoadedData();
      // After the repair the storage appends to the good prefix.
      await st.commit(commit([['U', U2, undefined, { name: 'again' }]]));
      await st.close();
      const back = await Storage.open(q, { readOnly: true });
      const after = back.takeLoadedData();
      await back.close();
      if (
        JSON.stringify(data) !== JSON.stringify(expected) ||
        JSON.stringify(after) !==
          JSON.stringify({ U: { [U1]: { name: 'one' }, [U2]: { name: 'again' } } })
      ) {
        t.fail(`flip at ${n}`);
        return;
      }
    }
    // Read-only open leaves a torn file untouched.
    const q = join(dir, 'ro');
    copyFileSync(p, q);
    appendFileSync(q, 'OVSDB JSON 5');
    const ro = await Storage.open(q, { readOnly: true });
    t.same(ro.takeLoadedData(), { U: { [U1]: { name: 'one' }, [U2]: { name: 'two' } } });
    await ro.close();
    t.equal(statSync(q).size, full.length + 12);
    t.pass(`${full.length - sizeBefore} offsets checked`);
  },
);

void t.test('durable commits sync, commits of one turn share a write', async (t) => {
  const dir = tmp(t);
  const s = await Storage.open(join(dir, 'db'), { create: SCHEMA });
  const syncs = allCounters().find((c) => c.name === 'ovsdb_log_syncs')!;
  const batches = allCounters().find((c) => c.name === 'ovsdb_log_write_batches')!;
  const s0 = syncs.total;
  const b0 = batches.total;
  const ps = [];
  for (let i = 0; i < 10; i++) {
    const u = `00000000-0000-4000-8000-0000000001${String(i).padStart(2, '0')}`;
    ps.push(s.commit(commit([['U', u, undefined, { name: `n${i}` }]], { durable: i === 9 })));
  }
  await Promise.all(ps);
  t.equal(batches.total - b0, 1);
  t.equal(syncs.total - s0, 1);
  await s.commit(commit([['U', U1, undefined, { name: 'x' }]]));
  t.equal(syncs.total - s0, 1, 'non-durable commit: no sync');
  // A durable commit that writes nothing still waits for a sync of what came before.
  await s.commit(commit([], { durable: true }));
  t.equal(syncs.total - s0, 2);
  t.equal(decodeAll(readFileSync(join(dir, 'db'))).records.length, 12);
  await s.close();
});

void t.test(
  'attach: loads into the engine, follows commits in order, compacts from its snapshot',
  async (t) => {
    const dir = tmp(t);
    const p = join(dir, 'db');
    const s0 = await Storage.open(p, { create: SCHEMA });
    await s0.commit(commit([['U', U1, undefined, { name: 'one' }]]));
    await s0.close();

    const clock = new FakeClock(0);
    const applied: unknown[] = [];
    let listener: ((c: CommitLike) => void) | undefined;
    let rows: Record<string, JsonObject> = { U: { [U1]: { name: 'one' } } };
    const db: DatabaseLike = {
      applyLogRecord: (r) => applied.push(r),
      onCommit: (fn) => {
        listener = fn;
        return () => (listener = undefined);
      },
      snapshot: () => rows,
    };
    const s = await Storage.open(p, {
      clock,
      compaction: {
        minRecords: 4,
        minBytes: 100,
        minIntervalMs: 1000,
        jitterMs: 0,
        maxIntervalMs: 50_000,
      },
    });
    const detach = s.attach(db);
    t.same(applied, [{ U: { [U1]: { name: 'one' } } }]);
    const names: string[] = [];
    const fire = (name: string, durable = false): Promise<void> => {
      const u = `00000000-0000-4000-8000-0000000002${String(names.length).padStart(2, '0')}`;
      names.push(name);
      rows = { U: { ...rows.U, [u]: { name } } };
      const c = commit([['U', u, undefined, { name }]], { durable });
      listener!(c);
      return s.written(c)!;
    };
    await fire('a');
    await fire('b');
    await fire('c', true);
    t.equal(s.stats().records, 5);
    t.equal(s.stats().compactions, 0, 'not before minIntervalMs');
    clock.advance(1000);
    // Now only "the file grew to more than twice its base" is missing.
    let n = 0;
    let missed = false;
    let lastBefore = 0;
    let lastAfter = 0;
    let base = 0;
    while (s.stats().compactions === 0 && n < 100) {
      const before = s.stats();
      await fire(`d${n++}`);
      await s.compactionSettled();
      const after = s.stats();
      if (after.compactions === 0) {
        if (after.bytes / 2 > after.baseBytes) missed = true;
        lastAfter = after.bytes;
      } else {
        lastBefore = before.bytes;
        base = before.baseBytes;
      }
    }
    t.equal(s.stats().compactions, 1, `thresholds met after ${n} more commits: compacted`);
    t.notOk(missed, 'no commit that took the file past twice its base went without compaction');
    t.ok(
      lastBefore / 2 <= base && lastBefore === lastAfter,
      'the file had not passed twice its base before the compacting commit',
    );
    t.equal(s.stats().records, 2);
    // Commits racing with a compaction land after the snapshot.
    clock.advance(100_000);
    const racing = [fire('e'), fire('f')];
    await Promise.all(racing);
    await new Promise((r) => setImmediate(r));
    await s.close();
    detach();
    t.equal(s.stats().compactions, 2, 'after maxIntervalMs any commit compacts');
    const back = await Storage.open(p, { readOnly: true });
    const data = back.takeLoadedData();
    await back.close();
    t.same(
      Object.values(data.U as JsonObject)
        .map((r) => (r as JsonObject).name)
        .sort(),
      ['a', 'b', 'c', ...Array.from({ length: n }, (_x, i) => `d${i}`), 'e', 'f', 'one'].sort(),
    );
    const recs = decodeAll(readFileSync(p)).records;
    t.equal(recs[1]!.json._comment, 'compacting database online');
    t.equal(recs[1]!.json._is_diff, true);
  },
);

void t.test(
  'on-demand compaction with the default policy; no snapshot source is an error',
  async (t) => {
    const dir = tmp(t);
    const p = join(dir, 'db');
    const s = await Storage.open(p, { create: SCHEMA });
    await t.rejects(s.compact(), /no snapshot source/);
    for (let i = 0; i < 20; i++)
      await s.commit(commit([['U', U1, i ? { name: `v${i - 1}` } : undefined, { name: `v${i}` }]]));
    s.setSnapshotSource(() => ({ U: { [U1]: { name: 'v19', _uuid: ['uuid', U1] } }, _meta: 1 }));
    const before = statSync(p).size;
    const [a, b] = [s.compact(), s.compact()];
    t.equal(a, b, 'concurrent calls share one compaction');
    await a;
    t.ok(statSync(p).size < before);
    t.equal(s.stats().bytes, statSync(p).size);
    await s.commit(commit([['U', U1, { name: 'v19' }, { name: 'v20' }]]));
    await s.close();
    const back = await Storage.open(p, { readOnly: true });
    t.same(back.takeLoadedData(), { U: { [U1]: { name: 'v20' } } });
    t.equal(back.stats().records, 3);
    await back.close();
  },
);

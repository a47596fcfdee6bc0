import t from 'tap';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import {
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  appendFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LogDecoder,
  LogFile,
  LogError,
  decodeAll,
  encodeRecord,
  MAX_HEADER_BYTES,
  type LogRecord,
} from '../../../ovsdb/log.js';
import { allCounters } from '../../../lib/counters.js';
import type { JsonObject } from '../../../lib/json.js';

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'tsvs-log-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const SCHEMA: JsonObject = {
  name: 'T',
  version: '1.0.0',
  tables: { A: { columns: { x: { type: 'integer' } } } },
};
const recs: JsonObject[] = [
  SCHEMA,
  { A: { '11111111-1111-1111-1111-111111111111': { x: 1 } }, _date: 1, _comment: 'héllo "q" \n' },
  {
    A: { '11111111-1111-1111-1111-111111111111': { x: 9007199254740993n } },
    _date: 2,
    _is_diff: true,
  },
  { A: { '11111111-1111-1111-1111-111111111111': null }, _date: 3 },
];
const file = Buffer.concat(recs.map((r) => encodeRecord(r)));

function bodies(rs: LogRecord[]): unknown[] {
  return rs.map((r) => r.json);
}

void t.test(
  'encodeRecord writes the header OVS writes: length counts the newline, sha1 covers it',
  (t) => {
    const buf = encodeRecord({ a: 1 });
    const text = buf.toString('latin1');
    const body = '{"a":1}\n';
    const sha = createHash('sha1').update(body).digest('hex');
    t.equal(text, `OVSDB JSON ${body.length} ${sha}\n${body}`);
    t.end();
  },
);

void t.test('decoder round-trips and keeps offsets and big integers', (t) => {
  const { records, error, goodOffset } = decodeAll(file);
  t.equal(error, undefined);
  t.same(bodies(records), recs);
  t.equal(goodOffset, file.length);
  let off = 0;
  for (const r of records) {
    t.equal(r.offset, off);
    t.equal(r.magic, 'JSON');
    off += r.size;
  }
  t.equal(
    typeof (records[2]!.json.A as JsonObject)['11111111-1111-1111-1111-111111111111'],
    'object',
  );
  t.end();
});

void t.test(
  'decoder is split-invariant: every split point and byte-by-byte give the same records',
  (t) => {
    for (let i = 0; i <= file.length; i++) {
      const d = new LogDecoder();
      const got = [...d.push(file.subarray(0, i)), ...d.push(file.subarray(i))];
      d.end();
      if (d.error || got.length !== recs.length) {
        t.fail(`split at ${i}`);
        break;
      }
    }
    const d = new LogDecoder();
    const got: LogRecord[] = [];
    for (const b of file) got.push(...d.push(Buffer.from([b])));
    d.end();
    t.same(bodies(got), recs);
    t.equal(d.error, undefined);
    t.end();
  },
);

void t.test(
  'truncation at every byte yields the complete records before the cut and a truncated error',
  (t) => {
    const ends: number[] = [];
    let off = 0;
    for (const r of recs) ends.push((off += encodeRecord(r).length));
    for (let cut = 0; cut < file.length; cut++) {
      const { records, error, goodOffset } = decodeAll(file.subarray(0, cut));
      const complete = ends.filter((e) => e <= cut).length;
      if (records.length !== complete || goodOffset !== (complete ? ends[complete - 1] : 0)) {
        t.fail(`cut at ${cut}: ${records.length} records, good ${goodOffset}`);
        return t.end();
      }
      const atBoundary = cut === 0 || ends.includes(cut);
      if (atBoundary ? error !== undefined : error?.kind !== 'truncated') {
        t.fail(`cut at ${cut}: error ${error?.kind}`);
        return t.end();
      }
    }
    t.pass('all cuts');
    t.end();
  },
);

void t.test(
  'corrupting any single byte gives the good prefix and a clean error, never a throw or a wrong record',
  (t) => {
    fc.assert(
      fc.property(fc.nat(file.length - 1), fc.integer({ min: 1, max: 255 }), (pos, x) => {
        const bad = Buffer.from(file);
        bad[pos] = bad[pos]! ^ x;
        const { records, error } = decodeAll(bad);
        // Every record returned must be one of the originals, in order, and a prefix.
        for (let i = 0; i < records.length; i++) {
          if (
            JSON.stringify(records[i]!.json, (_k, v: unknown) =>
              typeof v === 'bigint' ? `${v}n` : v,
            ) !== JSON.stringify(recs[i], (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))
          )
            return false;
        }
        // Either decoding stopped at the damaged record with a typed error, or the flip was
        // harmless (e.g. the case of a hex digit of a hash) and every record came back intact.
        return records.length < recs.length ? error instanceof LogError : error === undefined;
      }),
      { seed: 20261121, numRuns: 2000 },
    );
    t.end();
  },
);

void t.test(
  'header checks: lead, magic consistency, length, hash, line length, non-object body',
  (t) => {
    const good = encodeRecord({ a: 1 });
    t.equal(decodeAll(Buffer.from('OVSDX JSON 1 x\n')).error?.kind, 'header');
    t.equal(
      decodeAll(Buffer.from('garbage')).error?.kind,
      'header',
      'early rejection before a newline',
    );
    t.equal(
      decodeAll(Buffer.concat([good, encodeRecord({ b: 2 }, 'CLUSTER')])).error?.kind,
      'magic',
    );
    t.equal(
      decodeAll(Buffer.from(`OVSDB JSON 0 ${'0'.repeat(40)}\n`)).error?.kind,
      'header',
      'zero length',
    );
    t.equal(
      decodeAll(Buffer.from(`OVSDB JSON 5 ${'0'.repeat(39)}\n`)).error?.kind,
      'header',
      'short hash',
    );
    t.equal(
      decodeAll(Buffer.from('OVSDB JSON ' + '1'.repeat(MAX_HEADER_BYTES))).error?.kind,
      'header',
      'over-long header',
    );
    t.equal(
      decodeAll(Buffer.from(`OVSDB JSON 99999999999 ${'0'.repeat(40)}\n`), { maxRecordBytes: 1000 })
        .error?.kind,
      'too-large',
    );
    const arr = Buffer.from('[1]\n');
    const arrRec = Buffer.concat([
      Buffer.from(`OVSDB JSON 4 ${createHash('sha1').update(arr).digest('hex')}\n`),
      arr,
    ]);
    t.equal(decodeAll(arrRec).error?.kind, 'not-object');
    const bad = Buffer.from('{"a":\n');
    const badRec = Buffer.concat([
      Buffer.from(`OVSDB JSON ${bad.length} ${createHash('sha1').update(bad).digest('hex')}\n`),
      bad,
    ]);
    t.equal(decodeAll(badRec).error?.kind, 'json');
    const inv = Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d, 0x0a]);
    const invRec = Buffer.concat([
      Buffer.from(`OVSDB JSON ${inv.length} ${createHash('sha1').update(inv).digest('hex')}\n`),
      inv,
    ]);
    t.equal(decodeAll(invRec).error?.kind, 'json', 'invalid UTF-8');
    const upper = good.toString('latin1').replace(/[0-9a-f]{40}/, (h) => h.toUpperCase());
    t.equal(
      decodeAll(Buffer.from(upper, 'latin1')).records.length,
      1,
      'upper-case hex hash accepted',
    );
    t.end();
  },
);

void t.test(
  'LogFile: read, torn tail repair on write, batching, durable commit, replace',
  async (t) => {
    const dir = tmp(t);
    const p = join(dir, 'db');
    writeFileSync(p, file);
    const tornAt = file.length - 7;
    truncateSync(p, tornAt);
    appendFileSync(p, Buffer.from('xx'));

    const ro = await LogFile.open(p, { mode: 'read' });
    const got: LogRecord[] = [];
    for await (const r of ro.read()) got.push(r);
    t.equal(got.length, 3);
    t.equal(ro.tailError?.kind, 'truncated');
    await t.rejects(ro.append({ a: 1 }), /read-only/);
    await ro.close();
    t.equal(statSync(p).size, tornAt + 2, 'read-only open leaves the file alone');

    const lf = await LogFile.open(p, { mode: 'write', readChunkBytes: 7 });
    await t.rejects(lf.append({ a: 1 }), /read the log before writing/);
    const got2: LogRecord[] = [];
    for await (const r of lf.read()) got2.push(r);
    t.same(bodies(got2), recs.slice(0, 3));
    t.equal(lf.recordsRead, 3);
    const goodEnd = got2[2]!.offset + got2[2]!.size;
    t.equal(await lf.repairTail(), tornAt + 2 - goodEnd);
    t.equal(statSync(p).size, goodEnd);

    const batches = allCounters().find((c) => c.name === 'ovsdb_log_write_batches')!;
    const syncs = allCounters().find((c) => c.name === 'ovsdb_log_syncs')!;
    const b0 = batches.total;
    const s0 = syncs.total;
    const ps = [lf.append({ n: 1 }), lf.append({ n: 2 }, { durable: true }), lf.append({ n: 3 })];
    await Promise.all(ps);
    t.equal(batches.total - b0, 1, 'three appends in one turn: one write');
    t.equal(syncs.total - s0, 1, 'one durable append: one sync for the batch');
    await lf.append({ n: 4 });
    t.equal(syncs.total - s0, 1, 'non-durable append: no sync');
    await lf.commit();
    t.equal(syncs.total - s0, 2);
    t.equal(lf.recordsWritten, 4);

    let all = decodeAll(readFileSync(p));
    t.equal(all.error, undefined);
    t.same(bodies(all.records).slice(3), [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);

    // Replace: appends queued before it land in the old file (and are superseded); after it, in the new one.
    const before = lf.append({ n: 5 });
    const rep = lf.replace([SCHEMA, { snap: true }]);
    const after = lf.append({ n: 6 });
    await Promise.all([before, rep, after]);
    all = decodeAll(readFileSync(p));
    t.same(bodies(all.records), [SCHEMA, { snap: true }, { n: 6 }]);
    t.equal(lf.base, encodeRecord(SCHEMA).length + encodeRecord({ snap: true }).length);
    t.equal(lf.offset, statSync(p).size);
    await lf.close();
    await t.rejects(lf.append({ n: 7 }), LogError);
  },
);

void t.test('LogFile.create refuses an existing file and writes atomically', async (t) => {
  const dir = tmp(t);
  const p = join(dir, 'db');
  const lf = await LogFile.create(p, [SCHEMA]);
  t.equal(statSync(p).size, encodeRecord(SCHEMA).length);
  await lf.append({ x: 1 }, { durable: true });
  await lf.close();
  await t.rejects(LogFile.create(p, [SCHEMA]), /exists/);
  t.same(bodies(decodeAll(readFileSync(p)).records), [SCHEMA, { x: 1 }]);
});

void t.test('a clustered database is refused with a clear error', async (t) => {
  const dir = tmp(t);
  const p = join(dir, 'db');
  writeFileSync(p, encodeRecord({ cluster_id: 'x' }, 'CLUSTER'));
  const lf = await LogFile.open(p, { mode: 'write' });
  await t.rejects(
    (async () => {
      for await (const _r of lf.read()) void _r;
    })(),
    { kind: 'clustered', message: /clustered database.*cluster-to-standalone/ },
  );
  await lf.close();
  t.equal(statSync(p).size, encodeRecord({ cluster_id: 'x' }, 'CLUSTER').length, 'not truncated');
});

void t.test('a failed write rejects its batch and every later write', async (t) => {
  const dir = tmp(t);
  const p = join(dir, 'db');
  const lf = await LogFile.create(p, [SCHEMA]);
  await lf.append({ ok: 1 });
  // Pull the descriptor out from under the log to make the next write fail.
  await (lf as unknown as { handle: { close(): Promise<void> } }).handle.close();
  const a = lf.append({ lost: 1 }, { durable: true });
  const b = lf.append({ lost: 2 });
  await t.rejects(a, { kind: 'io', message: /write failed/ });
  await t.rejects(b, { kind: 'io', message: /write failed/ });
  await t.rejects(lf.append({ later: 1 }), { kind: 'io', message: /write failed/ });
  t.same(
    bodies(decodeAll(readFileSync(p)).records),
    [SCHEMA, { ok: 1 }],
    'nothing partial on disk',
  );
});

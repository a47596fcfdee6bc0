/**
 * Interop of ovsdb/storage.ts with OVS 3.1's own tools: files written by ovsdb-tool and
 * ovsdb-server are read by our storage (checked against `ovsdb-tool query`), and files written by
 * our storage are read by ovsdb-tool (db-name, db-version, show-log, query) and ovsdb-server.
 * Needs Debian's ovsdb-tool, ovsdb-server, ovsdb-client and ovs-appctl: under CI=true a missing
 * tool fails the test, otherwise the test is skipped.
 */
import t from 'tap';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  copyFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseJson, type Json, type JsonObject } from '../../lib/json.js';
import { Storage, StorageError, type CommitLike, type RowChangeLike } from '../../ovsdb/storage.js';
import {
  atomKey,
  datumFromJson,
  defaultDatum,
  parseSchemaForStorage,
  type FSchema,
} from '../../ovsdb/file-format.js';
import { decodeAll, encodeRecord } from '../../ovsdb/log.js';
import { Database } from '../../ovsdb/database.js';
import { parseSchema } from '../../ovsdb/schema.js';
import { setLogLevel } from '../../lib/log.js';

// The torn-tail loop below would print one warning per offset.
setLogLevel('ovsdb_log', 'off');
setLogLevel('ovsdb_storage', 'off');

/** Absolute path of an OVS program on PATH or in the sbin directories Debian uses, if any. */
function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/sbin'];
  return dirs.map((d) => join(d, name)).find((p) => p.startsWith('/') && existsSync(p));
}
const TOOL_NAMES = ['ovsdb-tool', 'ovsdb-server', 'ovsdb-client', 'ovs-appctl'] as const;
type ToolName = (typeof TOOL_NAMES)[number];
const PATHS = new Map<ToolName, string | undefined>(TOOL_NAMES.map((n) => [n, findTool(n)]));
const missing = TOOL_NAMES.filter((n) => !PATHS.get(n));
const bin = (n: ToolName): string => PATHS.get(n) ?? n;
const OUR_SCHEMA = join(import.meta.dirname, '../../schemas/vswitch.ovsschema');
const SCHEMA_PATH = existsSync(OUR_SCHEMA)
  ? OUR_SCHEMA
  : '/usr/share/openvswitch/vswitch.ovsschema';
const skip =
  missing.length > 0 && process.env.CI !== 'true'
    ? `missing OVS tools: ${missing.join(', ')}`
    : false;

if (missing.length > 0 && process.env.CI === 'true') {
  t.fail(`CI=true but OVS tools are missing: ${missing.join(', ')}`);
}

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'tsvs-ovsdb-interop-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function tool(...args: string[]): string {
  return execFileSync(bin('ovsdb-tool'), args, {
    encoding: 'utf8',
    timeout: 20_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** A real ovsdb-server on `db`, in `dir`. */
class OvsServer {
  private child: ChildProcess | undefined;
  constructor(
    readonly dir: string,
    readonly db: string,
  ) {}
  get sock(): string {
    return join(this.dir, 's');
  }
  get ctl(): string {
    return join(this.dir, 'ctl');
  }
  async start(t: { teardown(fn: () => void): void }): Promise<void> {
    rmSync(this.sock, { force: true });
    this.child = spawn(
      bin('ovsdb-server'),
      [
        this.db,
        `--remote=punix:${this.sock}`,
        `--unixctl=${this.ctl}`,
        '--no-chdir',
        `--pidfile=${join(this.dir, 'pid')}`,
        `--log-file=${join(this.dir, 'log')}`,
      ],
      { stdio: 'ignore' },
    );
    const child = this.child;
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    for (let i = 0; i < 200 && !(existsSync(this.sock) && existsSync(this.ctl)); i++)
      await sleep(25);
    if (!existsSync(this.sock)) throw new Error('ovsdb-server did not start');
  }
  transact(ops: Json[]): Json {
    const out = execFileSync(
      bin('ovsdb-client'),
      ['transact', `unix:${this.sock}`, JSON.stringify(['Open_vSwitch', ...ops])],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    return parseJson(out);
  }
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    execFileSync(bin('ovs-appctl'), ['-t', this.ctl, 'exit'], { timeout: 20_000 });
    await exited;
    this.child = undefined;
  }
}

/** Canonical text of a column value: sorted elements. */
function canon(schema: FSchema, table: string, col: string, v: Json | undefined): string {
  const c = schema.tables.get(table)!.get(col)!;
  const d = v === undefined ? defaultDatum(c) : datumFromJson(v, c, `${table}.${col}`);
  const parts = d.keys.map((k, i) =>
    d.values ? `${atomKey(k)}=${atomKey(d.values[i]!)}` : atomKey(k),
  );
  return parts.sort().join(',');
}

/** Every persistent column of every row, canonical: table → uuid → column → text. */
type Canon = Record<string, Record<string, Record<string, string>>>;

function canonFromRecord(schema: FSchema, rec: JsonObject): Canon {
  const out: Canon = {};
  for (const [table, cols] of schema.tables) {
    out[table] = {};
    const rows = (rec[table] ?? {}) as Record<string, JsonObject>;
    for (const [uuid, row] of Object.entries(rows)) {
      const r: Record<string, string> = {};
      for (const [cname, c] of cols)
        if (!c.ephemeral) r[cname] = canon(schema, table, cname, row[cname]);
      out[table][uuid] = r;
    }
  }
  return out;
}

/** The same, from `ovsdb-tool query` on the file: the ground truth of what OVS loads. */
function canonFromOvsdbTool(schema: FSchema, db: string): Canon {
  const tables = [...schema.tables.keys()];
  const ops = tables.map((table) => ({ op: 'select', table, where: [] }));
  const res = parseJson(tool('query', db, JSON.stringify(['Open_vSwitch', ...ops]))) as {
    rows: JsonObject[];
  }[];
  const out: Canon = {};
  tables.forEach((table, i) => {
    out[table] = {};
    for (const row of res[i]!.rows) {
      const uuid = (row._uuid as [string, string])[1];
      const r: Record<string, string> = {};
      for (const [cname, c] of schema.tables.get(table)!)
        if (!c.ephemeral) r[cname] = canon(schema, table, cname, row[cname]);
      out[table][uuid] = r;
    }
  });
  return out;
}

async function loadWithOurs(
  path: string,
  readOnly = true,
): Promise<{ schema: FSchema; data: JsonObject }> {
  const s = await Storage.open(path, { readOnly });
  const data = s.takeLoadedData();
  const schema = s.schema;
  await s.close();
  return { schema, data };
}

function uuidOf(res: Json, i: number): string {
  return ((res as JsonObject[])[i]!.uuid as [string, string])[1];
}

void t.test(
  'a file written by ovsdb-tool create and ovsdb-server 3.1 loads exactly as OVS loads it',
  { skip },
  async (t) => {
    const dir = tmp(t);
    const db = join(dir, 'conf.db');
    tool('create', db, SCHEMA_PATH);
    const srv = new OvsServer(dir, db);
    await srv.start(t);
    const r1 = srv.transact([
      {
        op: 'insert',
        table: 'Open_vSwitch',
        row: {
          external_ids: [
            'map',
            [
              ['a', '1'],
              ['b', '2'],
            ],
          ],
          bridges: ['named-uuid', 'b'],
        },
      },
      {
        op: 'insert',
        table: 'Bridge',
        'uuid-name': 'b',
        row: {
          name: 'br0',
          flood_vlans: ['set', [1, 2, 3]],
          other_config: ['map', [['x', 'y']]],
          ports: ['named-uuid', 'p'],
          flow_tables: ['map', [[0, ['named-uuid', 'f']]]],
          datapath_id: 'ephemeral-not-stored',
        },
      },
      {
        op: 'insert',
        table: 'Port',
        'uuid-name': 'p',
        row: { name: 'p0', interfaces: ['named-uuid', 'i'], trunks: ['set', [10, 20]] },
      },
      {
        op: 'insert',
        table: 'Interface',
        'uuid-name': 'i',
        row: { name: 'p0', options: ['map', [['k1', 'v1']]], ofport_request: 5 },
      },
      {
        op: 'insert',
        table: 'Flow_Table',
        'uuid-name': 'f',
        row: { prefixes: ['set', ['a', 'b', 'c']], name: 'ft' },
      },
      { op: 'comment', comment: 'first "txn"' },
    ]);
    const ovs = uuidOf(r1, 0);
    const br0 = uuidOf(r1, 1);
    // Sets change by symmetric difference, maps add/change/remove, optional scalars set and clear.
    srv.transact([
      {
        op: 'update',
        table: 'Bridge',
        where: [],
        row: {
          flood_vlans: ['set', [2, 3, 4]],
          other_config: [
            'map',
            [
              ['x', 'z'],
              ['q', 'r'],
            ],
          ],
          fail_mode: 'secure',
        },
      },
      { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] },
    ]);
    srv.transact([
      {
        op: 'update',
        table: 'Bridge',
        where: [],
        row: { fail_mode: ['set', []], external_ids: ['map', [['k', 'v']]] },
      },
      { op: 'update', table: 'Open_vSwitch', where: [], row: { external_ids: ['map', []] } },
      {
        op: 'mutate',
        table: 'Interface',
        where: [],
        mutations: [
          ['options', 'insert', ['map', [['k2', 'v2']]]],
          ['ofport_request', '+=', 1],
        ],
      },
    ]);
    srv.transact([
      {
        op: 'insert',
        table: 'Bridge',
        'uuid-name': 'b1',
        row: {
          name: 'br1',
          ports: ['named-uuid', 'p1'],
          protocols: ['set', ['OpenFlow13', 'OpenFlow10']],
        },
      },
      {
        op: 'insert',
        table: 'Port',
        'uuid-name': 'p1',
        row: { name: 'p1', interfaces: ['named-uuid', 'i1'] },
      },
      {
        op: 'insert',
        table: 'Interface',
        'uuid-name': 'i1',
        row: { name: 'p1', type: 'internal' },
      },
      {
        op: 'mutate',
        table: 'Open_vSwitch',
        where: [],
        mutations: [['bridges', 'insert', ['set', [['named-uuid', 'b1']]]]],
      },
    ]);
    // OVS 3.1.0 writes a 6-element diff for this max-3 column and cannot read it back itself.
    srv.transact([
      { op: 'update', table: 'Flow_Table', where: [], row: { prefixes: ['set', ['d', 'e', 'f']] } },
    ]);
    await srv.stop();

    const raw = decodeAll(readFileSync(db));
    t.equal(raw.error, undefined);
    t.equal(raw.records.length, 6, 'schema + 5 transactions');
    t.ok(
      raw.records.slice(1).every((r) => r.json._is_diff === true),
      'ovsdb-server 3.1 marks every transaction _is_diff',
    );
    t.equal(raw.records[1]!.json._comment, 'first "txn"');
    t.ok(
      Buffer.concat(raw.records.map((r) => encodeRecord(r.json))).equals(readFileSync(db)),
      'our encoder reproduces the OVS-written file byte for byte (header, length, hash, newline)',
    );
    t.equal(
      typeof raw.records[1]!.json._date === 'number' ||
        typeof raw.records[1]!.json._date === 'bigint',
      true,
    );

    const { schema, data } = await loadWithOurs(db);
    t.equal(schema.name, 'Open_vSwitch');
    const ours = canonFromRecord(schema, data);
    t.equal(
      ours.Flow_Table![Object.keys(ours.Flow_Table!)[0]!]!.prefixes,
      'd,e,f',
      'the oversize diff applies correctly',
    );
    t.equal(ours.Bridge![br0]!.flood_vlans, '2,3,4');
    t.equal(ours.Bridge![br0]!.other_config, 'q=r,x=z');
    t.equal(ours.Bridge![br0]!.fail_mode, '');
    t.equal(ours.Open_vSwitch![ovs]!.external_ids, '');
    t.equal(ours.Open_vSwitch![ovs]!.next_cfg, '1');

    // Ground truth from ovsdb-tool, on a copy without the last record (which OVS 3.1.0 rejects).
    const cut = join(dir, 'cut.db');
    copyFileSync(db, cut);
    truncateSync(cut, raw.records[5]!.offset);
    const truth = canonFromOvsdbTool(schema, cut);
    const oursCut = canonFromRecord(schema, (await loadWithOurs(cut)).data);
    t.same(oursCut, truth, 'every row and column equals what ovsdb-tool query returns');
    // The same file through the real engine (what ovsdb/index.ts does at start).
    const st = await Storage.open(cut, { readOnly: true });
    const engine = new Database(parseSchema(st.schemaJson));
    st.attach(engine);
    await st.close();
    t.same(canonFromRecord(schema, engine.snapshot()), truth, 'loaded into the engine: same rows');
    t.throws(
      () => tool('query', db, '["Open_vSwitch"]'),
      'OVS 3.1.0 cannot read its own oversize diff (OVS bug, fixed in 3.3)',
    );

    // Torn tail at every byte of the last good record: our open keeps every earlier transaction.
    const last = raw.records[4]!;
    const prev = canonFromRecord(schema, (await loadWithOurs(cut)).data);
    const beforeLast = join(dir, 'before-last.db');
    copyFileSync(db, beforeLast);
    truncateSync(beforeLast, last.offset);
    const expected = canonFromRecord(schema, (await loadWithOurs(beforeLast)).data);
    t.notSame(expected, prev);
    let ok = true;
    for (let n = last.offset + 1; n < last.offset + last.size; n++) {
      const torn = join(dir, 'torn.db');
      copyFileSync(db, torn);
      truncateSync(torn, n);
      const { data: d } = await loadWithOurs(torn, false);
      if (
        JSON.stringify(canonFromRecord(schema, d)) !== JSON.stringify(expected) ||
        statSync(torn).size !== last.offset
      ) {
        ok = false;
        t.fail(`torn at ${n}`);
        break;
      }
    }
    t.ok(ok, `torn at each of ${last.size - 1} offsets: earlier transactions kept, tail cut`);
  },
);

/** Builds a commit from JSON rows: [table, uuid, old|undefined, new|undefined]. */
function commit(
  changes: [string, string, JsonObject | undefined, JsonObject | undefined][],
  extra: { comment?: string; durable?: boolean } = {},
): CommitLike {
  const tables = new Map<string, Map<string, RowChangeLike>>();
  for (const [table, uuid, oldRow, newRow] of changes) {
    if (!tables.has(table)) tables.set(table, new Map());
    const names = new Set([...Object.keys(oldRow ?? {}), ...Object.keys(newRow ?? {})]);
    tables.get(table)!.set(uuid, {
      ...(oldRow ? { old: { data: oldRow } } : {}),
      ...(newRow ? { new: { data: newRow } } : {}),
      changed: names,
    });
  }
  return { tables, ...extra };
}

void t.test(
  'a file written by our storage is read by ovsdb-tool and ovsdb-server',
  { skip },
  async (t) => {
    const dir = tmp(t);
    const db = join(dir, 'ours.db');
    const schemaJson = parseJson(readFileSync(SCHEMA_PATH, 'utf8')) as JsonObject;
    const schema = parseSchemaForStorage(schemaJson);
    const s = await Storage.open(db, { create: schemaJson });
    const O = '11111111-0000-4000-8000-000000000001';
    const B = '11111111-0000-4000-8000-000000000002';
    const P = '11111111-0000-4000-8000-000000000003';
    const I = '11111111-0000-4000-8000-000000000004';
    const F = '11111111-0000-4000-8000-000000000005';
    const ovs0 = {
      bridges: ['uuid', B],
      external_ids: ['map', [['a', '1']]],
      next_cfg: 0,
    } as JsonObject;
    const br0 = {
      name: 'br0',
      ports: ['uuid', P],
      flood_vlans: ['set', [1, 2, 3]],
      other_config: ['map', [['x', 'y']]],
      flow_tables: ['map', [[0, ['uuid', F]]]],
    } as JsonObject;
    const port0 = { name: 'p0', interfaces: ['uuid', I] } as JsonObject;
    const if0 = { name: 'p0', type: 'internal', ofport_request: 7 } as JsonObject;
    const ft0 = { prefixes: ['set', ['a', 'b', 'c']] } as JsonObject;
    await s.commit(
      commit(
        [
          ['Open_vSwitch', O, undefined, ovs0],
          ['Bridge', B, undefined, br0],
          ['Port', P, undefined, port0],
          ['Interface', I, undefined, if0],
          ['Flow_Table', F, undefined, ft0],
        ],
        { comment: 'ours: create "br0"', durable: true },
      ),
    );
    // Datum-form rows (the engine's representation) work as well as JSON ones.
    const br1 = {
      ...br0,
      flood_vlans: { keys: [2n, 3n, 4n] },
      other_config: { keys: ['x', 'q'], values: ['z', 'r'] },
      fail_mode: 'secure',
    } as JsonObject;
    const ovs1 = { ...ovs0, external_ids: ['map', []], next_cfg: 9007199254740993n } as JsonObject;
    await s.commit(
      commit([
        ['Bridge', B, br0, br1],
        ['Open_vSwitch', O, ovs0, ovs1],
      ]),
    );
    const ft1 = { prefixes: ['set', ['d', 'e', 'f']] } as JsonObject; // diff would exceed max 3: full record
    const if1 = {
      ...if0,
      ofport_request: ['set', []],
      statistics: ['map', [['rx', 5]]],
    } as JsonObject;
    await s.commit(
      commit([
        ['Flow_Table', F, ft0, ft1],
        ['Interface', I, if0, if1],
      ]),
    );
    await s.close();

    const raw = decodeAll(readFileSync(db));
    t.equal(raw.error, undefined);
    t.equal(raw.records[2]!.json._is_diff, true);
    t.equal(raw.records[3]!.json._is_diff, undefined, 'oversize diff avoided: full record');

    t.equal(tool('db-name', db).trim(), 'Open_vSwitch');
    t.equal(tool('db-version', db).trim(), schema.version);
    const show = tool('show-log', '-m', db);
    t.match(show, /record 0: "Open_vSwitch" schema, version="8\.3\.1"/);
    t.match(show, /record 1: .*"ours: create "br0""/);
    t.match(show, /table Bridge insert row "br0"/);
    t.match(show, /record 3:/);

    const truth = canonFromOvsdbTool(schema, db);
    t.equal(truth.Bridge![B]!.flood_vlans, '2,3,4');
    t.equal(truth.Bridge![B]!.other_config, 'q=r,x=z');
    t.equal(truth.Bridge![B]!.fail_mode, 'secure');
    t.equal(truth.Open_vSwitch![O]!.next_cfg, '9007199254740993');
    t.equal(truth.Open_vSwitch![O]!.external_ids, '');
    t.equal(truth.Flow_Table![F]!.prefixes, 'd,e,f');
    t.equal(truth.Interface![I]!.ofport_request, '');
    t.same(
      canonFromRecord(schema, (await loadWithOurs(db)).data),
      truth,
      'ours and ovsdb-tool agree row by row',
    );

    // ovsdb-server opens our file, appends a transaction; we read the result.
    const srv = new OvsServer(dir, db);
    await srv.start(t);
    const res = srv.transact([
      { op: 'select', table: 'Bridge', where: [], columns: ['name', 'flood_vlans'] },
    ]) as JsonObject[];
    t.same(res[0]!.rows, [{ name: 'br0', flood_vlans: ['set', [2, 3, 4]] }]);
    srv.transact([
      { op: 'update', table: 'Bridge', where: [], row: { flood_vlans: ['set', [4, 5]] } },
    ]);
    await srv.stop();
    const after = canonFromRecord(schema, (await loadWithOurs(db)).data);
    t.equal(after.Bridge![B]!.flood_vlans, '4,5');
    t.same(after, canonFromOvsdbTool(schema, db));
  },
);

void t.test(
  'our compaction produces a file ovsdb-tool reads with the same contents',
  { skip },
  async (t) => {
    const dir = tmp(t);
    const db = join(dir, 'c.db');
    tool('create', db, SCHEMA_PATH);
    const srv = new OvsServer(dir, db);
    await srv.start(t);
    srv.transact([
      { op: 'insert', table: 'Open_vSwitch', row: { bridges: ['named-uuid', 'b'] } },
      {
        op: 'insert',
        table: 'Bridge',
        'uuid-name': 'b',
        row: { name: 'br0', external_ids: ['map', [['n', '0']]] },
      },
    ]);
    for (let i = 1; i <= 20; i++)
      srv.transact([
        {
          op: 'update',
          table: 'Bridge',
          where: [],
          row: { external_ids: ['map', [['n', String(i)]]] },
        },
      ]);
    // ovsdb-server's own online compaction, then more transactions after its snapshot.
    execFileSync(bin('ovs-appctl'), ['-t', srv.ctl, 'ovsdb-server/compact'], { timeout: 20_000 });
    for (let i = 21; i <= 25; i++)
      srv.transact([
        {
          op: 'update',
          table: 'Bridge',
          where: [],
          row: { external_ids: ['map', [['n', String(i)]]] },
        },
      ]);
    await srv.stop();
    const ovsRecs = decodeAll(readFileSync(db)).records;
    t.equal(ovsRecs.length, 7, 'schema, OVS snapshot, 5 transactions');
    t.equal(ovsRecs[1]!.json._comment, 'compacting database online');
    const schema = parseSchemaForStorage(parseJson(readFileSync(SCHEMA_PATH, 'utf8')));
    const truth = canonFromOvsdbTool(schema, db);
    t.same(
      canonFromRecord(schema, (await loadWithOurs(db)).data),
      truth,
      'OVS-compacted file loads as OVS loads it',
    );
    t.match(JSON.stringify(truth.Bridge), /n=25/);

    const s = await Storage.open(db);
    const data = s.takeLoadedData();
    s.setSnapshotSource(() => data);
    const before = statSync(db).size;
    await s.compact();
    t.equal(s.stats().records, 2);
    await s.close();
    t.ok(statSync(db).size < before, 'file shrank');
    t.notOk(existsSync(`${db}.tmp`), 'temp file renamed away');
    t.match(tool('show-log', db), /record 1: .*"compacting database online"/);
    t.same(canonFromOvsdbTool(schema, db), truth);
  },
);

void t.test(
  'a clustered database made by ovsdb-tool create-cluster is refused clearly',
  { skip },
  async (t) => {
    const dir = tmp(t);
    const db = join(dir, 'cluster.db');
    execFileSync(
      bin('ovsdb-tool'),
      ['create-cluster', db, SCHEMA_PATH, `unix:${join(dir, 'raft')}`],
      { stdio: 'ignore', timeout: 20_000 },
    );
    const size = statSync(db).size;
    const err = await Storage.open(db).then(
      () => undefined,
      (e: unknown) => e as StorageError,
    );
    t.ok(err instanceof StorageError);
    t.equal(err?.logError?.kind, 'clustered');
    t.match(err?.message, /clustered database.*only standalone databases are supported/);
    t.equal(statSync(db).size, size, 'file untouched');
  },
);

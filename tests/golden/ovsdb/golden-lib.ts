/**
 * Golden OVSDB transaction files: loading, uuid placeholders and result normalisation, shared
 * by the test that runs them on our engine (transactions.test.ts) and the one that replays
 * them against Debian's ovsdb-server (ovsdb-server-diff.test.ts).
 *
 * File format (`tests/golden/ovsdb/txn-*.json`):
 *   { "description": "...", "schema": "vswitch" | "server" | "golden",
 *     "txns": [ { "note": "...", "ops": [op, ...], "expect": [result, ...] }, ... ] }
 * Every uuid in a result is replaced by `@N`, N counting distinct uuids in order of first
 * appearance over the whole file (the zero uuid stays as is). In `ops`, `@N` inside a string
 * stands for the uuid that `@N` named in an earlier result.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseJson, stringifyJson } from '../../../lib/json.js';
import type { Json } from '../../../ovsdb/types.js';

/** One transaction of a golden file. */
export interface GoldenTxn {
  /** What it shows. */
  note?: string;
  /** The operations (transact params after the database name), with `@N` placeholders. */
  ops: Json[];
  /** The expected result array, uuids normalised. */
  expect: Json;
}

/** One golden file. */
export interface GoldenFile {
  /** What the file covers. */
  description: string;
  /** Which schema: our vswitch, our _Server, or tests/golden/ovsdb/test.ovsschema. */
  schema: 'vswitch' | 'server' | 'golden';
  /** Transactions, run in order on one fresh database. */
  txns: GoldenTxn[];
}

/** Directory of the golden files. */
export const GOLDEN_DIR = fileURLToPath(new URL('.', import.meta.url));

/** Path of the golden test schema. */
export const GOLDEN_SCHEMA_PATH = fileURLToPath(new URL('./test.ovsschema', import.meta.url));

/** All golden files, by file name. */
export function loadGoldens(): { name: string; file: GoldenFile }[] {
  return readdirSync(GOLDEN_DIR)
    .filter((f) => /^txn-.*\.json$/.test(f))
    .sort()
    .map((name) => ({
      name,
      file: parseJson(readFileSync(GOLDEN_DIR + name, 'utf8')) as unknown as GoldenFile,
    }));
}

const UUID_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const ZERO = '00000000-0000-0000-0000-000000000000';

/** Maps real uuids to placeholders and back, for one run of one golden file. */
export class UuidNames {
  private readonly toName = new Map<string, string>();
  private readonly toUuid = new Map<string, string>();

  /** Replaces uuids in every string of `j` with `@N`. */
  normalise(j: Json): Json {
    if (typeof j === 'string') {
      return j.replace(UUID_RE, (u) => {
        if (u === ZERO) return u;
        let n = this.toName.get(u);
        if (n === undefined) {
          n = `@${this.toName.size}`;
          this.toName.set(u, n);
          this.toUuid.set(n, u);
        }
        return n;
      });
    }
    if (Array.isArray(j)) return j.map((e) => this.normalise(e));
    if (j !== null && typeof j === 'object') {
      const o: { [k: string]: Json } = {};
      for (const [k, v] of Object.entries(j)) o[k] = this.normalise(v);
      return o;
    }
    return j;
  }

  /** Replaces `@N` placeholders in every string of `j` with the uuid they name. */
  substitute(j: Json): Json {
    if (typeof j === 'string') {
      return j.replace(/@(\d+)/g, (m) => {
        const u = this.toUuid.get(m);
        if (u === undefined) throw new Error(`placeholder ${m} used before any result named it`);
        return u;
      });
    }
    if (Array.isArray(j)) return j.map((e) => this.substitute(e));
    if (j !== null && typeof j === 'object') {
      const o: { [k: string]: Json } = {};
      for (const [k, v] of Object.entries(j)) o[k] = this.substitute(v);
      return o;
    }
    return j;
  }
}

function isUuidAtom(e: Json): boolean {
  return Array.isArray(e) && e.length === 2 && e[0] === 'uuid' && typeof e[1] === 'string';
}

/**
 * Canonical form for comparison: objects with sorted keys, safe bigints as numbers (so the
 * two JSON parsers' outputs compare equal).
 */
export function canon(j: Json): Json {
  if (typeof j === 'bigint')
    return j >= -9007199254740991n && j <= 9007199254740991n ? Number(j) : j;
  if (Array.isArray(j)) {
    // A set of uuids is sorted by the (random) uuid values: after normalisation sort by name.
    if (j.length === 2 && j[0] === 'set' && Array.isArray(j[1]) && j[1].every(isUuidAtom)) {
      const names = (j[1] as [string, string][]).map((e) => e[1]).sort();
      return ['set', names.map((n) => ['uuid', n])];
    }
    return j.map(canon);
  }
  if (j !== null && typeof j === 'object') {
    const o: { [k: string]: Json } = {};
    for (const k of Object.keys(j).sort()) o[k] = canon(j[k]!);
    return o;
  }
  return j;
}

/** A running Debian ovsdb-server on a unix socket in a temp dir (for differential tests). */
export interface RefServer {
  /** Runs one transaction with `ovsdb-client transact`; returns the parsed result. */
  transact(db: string, ops: Json[]): Json;
  /** Fetches a database schema with `ovsdb-client get-schema`. */
  getSchema(db: string): Json;
  /** Stops the server and removes the temp dir. */
  stop(): void;
}

/**
 * Creates a database from `schemaPath` with `ovsdb-tool create` in a fresh temp dir and starts
 * `ovsdb-server` on `punix:<dir>/db.sock` (no pidfile, unixctl in the temp dir).
 */
export function startRefServer(
  tools: { ovsdbTool: string; ovsdbServer: string; ovsdbClient: string },
  schemaPath: string,
): RefServer {
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-golden-'));
  const db = join(dir, 'conf.db');
  const sock = join(dir, 'db.sock');
  execFileSync(tools.ovsdbTool, ['create', db, schemaPath]);
  const child = spawn(
    tools.ovsdbServer,
    [
      db,
      `--remote=punix:${sock}`,
      `--unixctl=${join(dir, 'ctl')}`,
      '--no-chdir',
      `--log-file=${join(dir, 'log')}`,
    ],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 10_000;
  while (!existsSync(sock)) {
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('ovsdb-server did not create its socket');
    }
    execFileSync('sleep', ['0.02']);
  }
  return {
    transact(dbName, ops) {
      const out = execFileSync(
        tools.ovsdbClient,
        ['transact', `unix:${sock}`, stringifyJson([dbName, ...ops])],
        {
          encoding: 'utf8',
        },
      );
      return parseJson(out);
    },
    getSchema(dbName) {
      return parseJson(
        execFileSync(tools.ovsdbClient, ['get-schema', `unix:${sock}`, dbName], {
          encoding: 'utf8',
        }),
      );
    },
    stop() {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const INDEX_ERR =
  /^(Transaction causes multiple rows in .* for index on [^.]*\.) {2}First (row, with UUID .*?) {2}Second (row, with UUID .*)$/;

/**
 * Hides what ovsdb-server leaves to hash order. It orders the two rows of a unique-index error by comparing all columns in its
 * hash order (which includes the random `_version`), so which row is "First" is not stable.
 * This puts the two row descriptions in a fixed order in every `details` string so results
 * compare equal either way. Applied to expected and actual alike.
 */
export function stabiliseIndexErrors(j: Json): Json {
  if (Array.isArray(j)) return j.map(stabiliseIndexErrors);
  if (j !== null && typeof j === 'object') {
    const o: { [k: string]: Json } = {};
    for (const [k, v] of Object.entries(j)) {
      if (k === 'details' && typeof v === 'string') {
        // Which unexpected member ovsdb-server names first is its hash order: hide the name.
        const v2 = v.replace(
          /Member '[^']*' and (\d+) other member/,
          "Member '*' and $1 other member",
        );
        if (v2 !== v) {
          o[k] = v2;
          continue;
        }
        const m = INDEX_ERR.exec(v);
        if (m) {
          const [a, b] = [m[2]!, m[3]!].sort();
          o[k] = `${m[1]}  {${a}}  {${b}}`;
          continue;
        }
      }
      o[k] = stabiliseIndexErrors(v);
    }
    return o;
  }
  return j;
}

/**
 * The record bodies of OVS's standalone database file (ovsdb(5) "Database File Format"), at the
 * JSON level and independent of the transaction engine:
 *
 * - record 0 is the schema;
 * - every later record is a transaction
 *   `{"<table>": {"<uuid>": <row> | null, …}, …, "_date": <ms>, "_comment": "…", "_is_diff": true}`.
 *   `null` deletes a row. A row object names the columns that were set. With `"_is_diff": true`
 *   (what ovsdb-server 2.15+ writes for every transaction, and for compaction snapshots), the
 *   value given for a *modified* set or map column (one that may hold more than one element) is
 *   the difference between the old and the new value: sets list the symmetric difference, maps
 *   list removed pairs with their old value and added or changed pairs with their new value.
 *   Scalars and optional scalars always carry the new value.
 *
 * Reading follows ovsdb-server 3.1 (`ovsdb/file.c`): a column whose current value is its default
 * is replaced by the record's value even in diff mode; otherwise a diff is applied. Diffs may
 * exceed the column's maximum size (only the result is checked), as OVS 3.3+ allows.
 *
 * Writing produces records OVS 3.1 reads back identically. Where OVS 3.1's reader would
 * misread a diff (a diff larger than the column's maximum, which 3.1.0 rejects, or a modified
 * column whose old value is a non-empty default, which 3.1 replaces instead of patching) the
 * record is written in full form instead (no `_is_diff`, every changed column with its new value).
 *
 * Values are kept as {@link FDatum}s (the same shape as the engine's `Datum` in types.ts):
 * integers `bigint`, reals `number`, uuids lowercase strings.
 */
import type { Json, JsonObject } from '../lib/json.js';

/** The five OVSDB atomic types. */
export type FAtomType = 'integer' | 'real' | 'boolean' | 'string' | 'uuid';

/** One atom: `bigint` (integer), `number` (real), `boolean`, `string` (string or uuid). */
export type FAtom = bigint | number | boolean | string;

/**
 * A column value: `keys` (and, for a map, parallel `values`). Order is not significant here;
 * keys are unique. Structurally compatible with the engine's `Datum`.
 */
export interface FDatum {
  /** Set elements, map keys, or the single scalar. */
  readonly keys: readonly FAtom[];
  /** Present exactly for maps: `values[i]` belongs to `keys[i]`. */
  readonly values?: readonly FAtom[];
}

/** What storage needs to know about one column: its type and whether it is written to disk. */
export interface FColumn {
  /** Column name. */
  readonly name: string;
  /** Atomic type of keys / set elements / the scalar. */
  readonly key: FAtomType;
  /** Atomic type of map values; absent for sets and scalars. */
  readonly value?: FAtomType;
  /** Minimum number of elements (0 or 1). */
  readonly min: number;
  /** Maximum number of elements; `Infinity` for "unlimited". */
  readonly max: number;
  /** True for `"ephemeral": true` columns, which are never written to the file. */
  readonly ephemeral: boolean;
}

/** The parts of a schema storage uses. */
export interface FSchema {
  /** Database name (`name` member). */
  readonly name: string;
  /** Schema version (`version` member), `""` when absent. */
  readonly version: string;
  /** Table name → column name → column. */
  readonly tables: ReadonlyMap<string, ReadonlyMap<string, FColumn>>;
  /** The schema JSON exactly as given (written verbatim as record 0). */
  readonly json: JsonObject;
}

/** A record body or a value in it was not what the file format allows. */
export class FileFormatError extends Error {
  override readonly name = 'FileFormatError';
}

/** The all-zero uuid: the default uuid atom. */
export const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const ATOMIC = new Set<string>(['integer', 'real', 'boolean', 'string', 'uuid']);
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** True if `s` is a uuid in the 8-4-4-4-12 hex form (either case). */
export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function baseTypeOf(j: Json | undefined, where: string): FAtomType {
  if (typeof j === 'string' && ATOMIC.has(j)) return j as FAtomType;
  if (isObject(j) && typeof j.type === 'string' && ATOMIC.has(j.type)) return j.type as FAtomType;
  throw new FileFormatError(`${where}: bad base type ${JSON.stringify(j)}`);
}

/**
 * Reads the table/column types out of a schema JSON object (record 0 of a file). Only what the
 * file codec needs is checked; full validation is the schema parser's job.
 */
export function parseSchemaForStorage(json: Json): FSchema {
  if (!isObject(json)) throw new FileFormatError('schema must be a JSON object');
  const name = json.name;
  if (typeof name !== 'string') throw new FileFormatError('schema has no "name"');
  const version = typeof json.version === 'string' ? json.version : '';
  const tablesJson = json.tables;
  if (!isObject(tablesJson)) throw new FileFormatError('schema has no "tables" object');
  const tables = new Map<string, Map<string, FColumn>>();
  for (const [tname, tj] of Object.entries(tablesJson)) {
    if (!isObject(tj) || !isObject(tj.columns)) {
      throw new FileFormatError(`schema table ${tname} has no "columns" object`);
    }
    const cols = new Map<string, FColumn>();
    for (const [cname, cj] of Object.entries(tj.columns)) {
      if (!isObject(cj)) throw new FileFormatError(`column ${tname}.${cname} must be an object`);
      const where = `column ${tname}.${cname}`;
      const t = cj.type;
      let col: FColumn;
      if (typeof t === 'string') {
        col = {
          name: cname,
          key: baseTypeOf(t, where),
          min: 1,
          max: 1,
          ephemeral: cj.ephemeral === true,
        };
      } else if (isObject(t)) {
        const min = t.min === undefined ? 1 : Number(t.min);
        const max = t.max === undefined ? 1 : t.max === 'unlimited' ? Infinity : Number(t.max);
        if (!(min === 0 || min === 1) || !(max >= 1) || Number.isNaN(max)) {
          throw new FileFormatError(`${where}: bad min/max`);
        }
        col = {
          name: cname,
          key: baseTypeOf(t.key, where),
          ...(t.value !== undefined ? { value: baseTypeOf(t.value, where) } : {}),
          min,
          max,
          ephemeral: cj.ephemeral === true,
        };
      } else {
        throw new FileFormatError(`${where}: missing type`);
      }
      cols.set(cname, col);
    }
    tables.set(tname, cols);
  }
  return { name, version, tables, json };
}

/** True when the column may hold more than one element (OVS's "composite" type: sets and maps). */
export function isComposite(col: FColumn): boolean {
  return col.max > 1;
}

/** The default atom of a type: 0, 0.0, false, "", the zero uuid. */
export function defaultAtom(t: FAtomType): FAtom {
  switch (t) {
    case 'integer':
      return 0n;
    case 'real':
      return 0;
    case 'boolean':
      return false;
    case 'string':
      return '';
    case 'uuid':
      return ZERO_UUID;
  }
}

const EMPTY: FDatum = { keys: [] };

/** The column's default value: empty when `min` is 0, else one default atom (and value). */
export function defaultDatum(col: FColumn): FDatum {
  if (col.min === 0) return col.value ? { keys: [], values: [] } : EMPTY;
  return col.value
    ? { keys: [defaultAtom(col.key)], values: [defaultAtom(col.value)] }
    : { keys: [defaultAtom(col.key)] };
}

/** A string that is equal for two atoms of one type exactly when the atoms are equal. */
export function atomKey(a: FAtom): string {
  // Reals: -0 and 0 compare equal in OVS; String() maps both to "0". Integers may arrive as
  // number or bigint; both print the same digits.
  return typeof a === 'string' ? a : String(a);
}

/** True when `d` is the column's default value. */
export function isDefaultDatum(d: FDatum, col: FColumn): boolean {
  if (col.min === 0) return d.keys.length === 0;
  if (d.keys.length !== 1) return false;
  if (atomKey(d.keys[0]!) !== atomKey(defaultAtom(col.key))) return false;
  return !col.value || atomKey(d.values![0]!) === atomKey(defaultAtom(col.value));
}

/** True when two datums of one column hold the same elements (order ignored). */
export function datumEquals(a: FDatum, b: FDatum): boolean {
  if (a.keys.length !== b.keys.length) return false;
  if (a.keys.length === 1) {
    return (
      atomKey(a.keys[0]!) === atomKey(b.keys[0]!) &&
      (!a.values || atomKey(a.values[0]!) === atomKey(b.values![0]!))
    );
  }
  const m = new Map<string, string | undefined>();
  a.keys.forEach((k, i) => m.set(atomKey(k), a.values ? atomKey(a.values[i]!) : undefined));
  for (let i = 0; i < b.keys.length; i++) {
    const k = atomKey(b.keys[i]!);
    if (!m.has(k)) return false;
    if (b.values && m.get(k) !== atomKey(b.values[i]!)) return false;
  }
  return true;
}

function atomFromJson(j: Json | undefined, t: FAtomType, where: string): FAtom {
  switch (t) {
    case 'integer':
      if (typeof j === 'bigint') {
        if (j < INT64_MIN || j > INT64_MAX)
          throw new FileFormatError(`${where}: integer out of range`);
        return j;
      }
      if (typeof j === 'number' && Number.isInteger(j)) return BigInt(j);
      break;
    case 'real':
      if (typeof j === 'number') return j;
      if (typeof j === 'bigint') return Number(j);
      break;
    case 'boolean':
      if (typeof j === 'boolean') return j;
      break;
    case 'string':
      if (typeof j === 'string') return j;
      break;
    case 'uuid':
      if (
        Array.isArray(j) &&
        j.length === 2 &&
        j[0] === 'uuid' &&
        typeof j[1] === 'string' &&
        isUuid(j[1])
      ) {
        return j[1].toLowerCase();
      }
      break;
  }
  throw new FileFormatError(
    `${where}: expected ${t}, got ${JSON.stringify(j, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`,
  );
}

function atomToJson(a: FAtom, t: FAtomType): Json {
  if (t === 'uuid') return ['uuid', String(a)];
  if (t === 'integer' && typeof a === 'number') return Number.isSafeInteger(a) ? a : BigInt(a);
  return a;
}

/**
 * Parses a column value in OVSDB JSON notation (`["set",[…]]`, `["map",[[k,v],…]]`, a bare
 * atom, `["uuid","…"]`). Checks atom types and duplicates. The element count is checked against
 * the column's min/max unless `transient` (diffs may be larger than the column allows).
 */
export function datumFromJson(j: Json, col: FColumn, where: string, transient = false): FDatum {
  let keys: FAtom[];
  let values: FAtom[] | undefined;
  if (col.value) {
    if (!Array.isArray(j) || j.length !== 2 || j[0] !== 'map' || !Array.isArray(j[1])) {
      throw new FileFormatError(`${where}: expected ["map", <array>]`);
    }
    keys = [];
    values = [];
    for (const pair of j[1]) {
      if (!Array.isArray(pair) || pair.length !== 2)
        throw new FileFormatError(`${where}: map pair expected`);
      keys.push(atomFromJson(pair[0], col.key, where));
      values.push(atomFromJson(pair[1], col.value, where));
    }
  } else if (Array.isArray(j) && j.length === 2 && j[0] === 'set') {
    if (!Array.isArray(j[1])) throw new FileFormatError(`${where}: expected ["set", <array>]`);
    keys = j[1].map((a) => atomFromJson(a, col.key, where));
  } else {
    keys = [atomFromJson(j, col.key, where)];
  }
  if (keys.length > 1) {
    const seen = new Set<string>();
    for (const k of keys) {
      const s = atomKey(k);
      if (seen.has(s))
        throw new FileFormatError(
          `${where}: ${col.value ? 'map contains duplicate key' : 'set contains duplicate'}`,
        );
      seen.add(s);
    }
  }
  if (!transient && (keys.length < col.min || keys.length > col.max)) {
    throw new FileFormatError(
      `${where}: ${keys.length} elements where ${col.min} to ${col.max} are allowed`,
    );
  }
  return values ? { keys, values } : { keys };
}

/** Prints a column value in OVSDB JSON notation, as OVS does (one element of a set: bare atom). */
export function datumToJson(d: FDatum, col: FColumn): Json {
  if (col.value) {
    const vt = col.value;
    return ['map', d.keys.map((k, i) => [atomToJson(k, col.key), atomToJson(d.values![i]!, vt)])];
  }
  if (d.keys.length === 1) return atomToJson(d.keys[0]!, col.key);
  return ['set', d.keys.map((k) => atomToJson(k, col.key))];
}

/**
 * The diff OVS stores for a modified column: for a scalar or optional scalar the new value; for
 * a set the symmetric difference; for a map the removed pairs (old value), the added pairs and
 * the pairs whose value changed (new value).
 */
export function datumDiff(oldD: FDatum, newD: FDatum, col: FColumn): FDatum {
  if (!isComposite(col)) return newD;
  const oldMap = new Map<string, number>();
  oldD.keys.forEach((k, i) => oldMap.set(atomKey(k), i));
  const keys: FAtom[] = [];
  const values: FAtom[] | undefined = col.value ? [] : undefined;
  const inNew = new Set<string>();
  for (let i = 0; i < newD.keys.length; i++) {
    const k = newD.keys[i]!;
    const ks = atomKey(k);
    inNew.add(ks);
    const oi = oldMap.get(ks);
    if (oi === undefined) {
      keys.push(k);
      values?.push(newD.values![i]!);
    } else if (values && atomKey(oldD.values![oi]!) !== atomKey(newD.values![i]!)) {
      keys.push(k);
      values.push(newD.values![i]!);
    }
  }
  for (let i = 0; i < oldD.keys.length; i++) {
    if (!inNew.has(atomKey(oldD.keys[i]!))) {
      keys.push(oldD.keys[i]!);
      values?.push(oldD.values![i]!);
    }
  }
  return values ? { keys, values } : { keys };
}

/**
 * Applies a diff made by {@link datumDiff}: a key absent from `oldD` is added; a key present with
 * the same value (or in a set) is removed; a key present with another value gets the new value.
 * Throws when the result has fewer than `min` or more than `max` elements.
 */
export function applyDatumDiff(oldD: FDatum, diff: FDatum, col: FColumn, where: string): FDatum {
  if (!isComposite(col)) return diff;
  const m = new Map<string, [FAtom, FAtom | undefined]>();
  oldD.keys.forEach((k, i) => m.set(atomKey(k), [k, oldD.values?.[i]]));
  for (let i = 0; i < diff.keys.length; i++) {
    const k = diff.keys[i]!;
    const ks = atomKey(k);
    const cur = m.get(ks);
    const v = diff.values?.[i];
    if (!cur) m.set(ks, [k, v]);
    else if (v !== undefined && atomKey(cur[1]!) !== atomKey(v)) m.set(ks, [k, v]);
    else m.delete(ks);
  }
  if (m.size < col.min || m.size > col.max) {
    throw new FileFormatError(
      `${where}: applying the diff leaves ${m.size} elements where ${col.min} to ${col.max} are allowed`,
    );
  }
  const keys: FAtom[] = [];
  const values: FAtom[] = [];
  for (const [k, v] of m.values()) {
    keys.push(k);
    if (v !== undefined) values.push(v);
  }
  return col.value ? { keys, values } : { keys };
}

/** Top-level members of a transaction record that are not tables. */
export const RECORD_DATE = '_date';
/** The transaction's comment member. */
export const RECORD_COMMENT = '_comment';
/** Marks a record whose modified set/map columns hold diffs. */
export const RECORD_IS_DIFF = '_is_diff';
/** The comment OVS puts on compaction snapshots. */
export const COMPACT_COMMENT = 'compacting database online';

/** One row of a loaded database: column → value, only columns that are not at their default. */
type ReplayRow = Map<string, FDatum>;

/**
 * The database contents built by replaying transaction records in file order, at the JSON
 * level. Used while opening a file; {@link ReplayState.toRecord} then hands the result to the
 * engine as one insert-only record.
 */
export class ReplayState {
  private readonly tables = new Map<string, Map<string, ReplayRow>>();

  constructor(
    /** The file's schema. */
    readonly schema: FSchema,
  ) {
    for (const t of schema.tables.keys()) this.tables.set(t, new Map());
  }

  /** Number of rows over all tables. */
  get rowCount(): number {
    let n = 0;
    for (const t of this.tables.values()) n += t.size;
    return n;
  }

  /**
   * Applies one transaction record (ovsdb-server 3.1's rules, see the module comment). Throws
   * {@link FileFormatError} on anything OVS would reject; on error the state may hold part of
   * the record (the caller stops loading).
   */
  apply(record: Json): void {
    if (!isObject(record)) throw new FileFormatError('transaction record must be a JSON object');
    const isDiff = record[RECORD_IS_DIFF] === true;
    for (const [name, tj] of Object.entries(record)) {
      const table = this.tables.get(name);
      const cols = this.schema.tables.get(name);
      if (!table || !cols) {
        if (
          name === RECORD_DATE &&
          (typeof tj === 'bigint' || (typeof tj === 'number' && Number.isInteger(tj)))
        )
          continue;
        if (name === RECORD_IS_DIFF && typeof tj === 'boolean') continue;
        if (name === RECORD_COMMENT) continue;
        throw new FileFormatError(`No table named ${name}.`);
      }
      if (!isObject(tj)) throw new FileFormatError(`table ${name}: object expected`);
      for (const [uuidText, rj] of Object.entries(tj)) {
        if (!isUuid(uuidText)) throw new FileFormatError(`"${uuidText}" is not a valid UUID`);
        const uuid = uuidText.toLowerCase();
        const row = table.get(uuid);
        if (rj === null) {
          if (!row)
            throw new FileFormatError(`transaction deletes row ${uuid} that does not exist`);
          table.delete(uuid);
          continue;
        }
        if (!isObject(rj))
          throw new FileFormatError(`${name} row ${uuid}: row must be JSON object`);
        const target: ReplayRow = row ?? new Map<string, FDatum>();
        for (const [cname, cj] of Object.entries(rj)) {
          const col = cols.get(cname);
          if (!col) {
            if (cname === '_uuid' || cname === '_version') continue;
            throw new FileFormatError(`No column ${cname} in table ${name}.`);
          }
          const where = `${name} row ${uuid} column ${cname}`;
          const cur = target.get(cname);
          let next: FDatum;
          if (isDiff && cur && isComposite(col)) {
            next = applyDatumDiff(cur, datumFromJson(cj, col, where, true), col, where);
          } else {
            next = datumFromJson(cj, col, where);
          }
          if (isDefaultDatum(next, col)) target.delete(cname);
          else target.set(cname, next);
        }
        if (!row) table.set(uuid, target);
      }
    }
  }

  /** Every row as one insert-only record body `{table: {uuid: {column: json}}}` (no `_` members). */
  toRecord(): JsonObject {
    const out: JsonObject = {};
    for (const [tname, rows] of this.tables) {
      if (rows.size === 0) continue;
      const cols = this.schema.tables.get(tname)!;
      const tj: JsonObject = {};
      for (const [uuid, row] of rows) {
        const rj: JsonObject = {};
        for (const [cname, d] of row) rj[cname] = datumToJson(d, cols.get(cname)!);
        tj[uuid] = rj;
      }
      out[tname] = tj;
    }
    return out;
  }
}

/**
 * A row as the engine hands it to storage: column name → value, either a datum
 * (`{keys, values?}`, as in types.ts) or OVSDB JSON notation. A missing column is at its default.
 */
export interface RowLike {
  /** Column values. */
  readonly data: Readonly<Record<string, FDatum | Json | undefined>>;
}

/** One changed row of a committed transaction (the engine's `RowChange`, structurally). */
export interface RowChangeLike {
  /** The row before the transaction; absent for an insert. */
  readonly old?: RowLike;
  /** The row after the transaction; absent for a delete. */
  readonly new?: RowLike;
  /**
   * Columns that differ: for an insert those not at their default, for a modify those whose value
   * changed. Absent: every column of the table is compared.
   */
  readonly changed?: ReadonlySet<string> | readonly string[];
}

/** One committed transaction (the engine's `CommitRecord`, structurally). */
export interface CommitLike {
  /** Table → row uuid → change. */
  readonly tables: ReadonlyMap<string, ReadonlyMap<string, RowChangeLike>>;
  /** The transaction's comment, if any. */
  readonly comment?: string;
  /** Whether the client asked for a durable commit. */
  readonly durable?: boolean;
}

function isDatumLike(v: unknown): v is FDatum {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    Array.isArray((v as { keys?: unknown }).keys)
  );
}

/** The value of column `col` in `row` as a datum (default when missing). */
export function rowValue(row: RowLike, col: FColumn, where: string): FDatum {
  const v = row.data[col.name];
  if (v === undefined) return defaultDatum(col);
  if (isDatumLike(v)) return v;
  return datumFromJson(v, col, where);
}

/**
 * Builds the record body OVS 3.1 would write for a committed transaction, or `undefined` when
 * nothing persistent changed (OVS writes no record then). `date` is the wall-clock time in ms.
 */
export function commitToRecord(
  schema: FSchema,
  commit: CommitLike,
  date: number,
): JsonObject | undefined {
  const diffRecord: JsonObject = {};
  let fullRecord: JsonObject | undefined; // built lazily when a diff cannot be used
  let useDiff = true;
  let any = false;
  for (const [tname, rows] of commit.tables) {
    const cols = schema.tables.get(tname);
    if (!cols) throw new FileFormatError(`commit names unknown table ${tname}`);
    const tDiff: JsonObject = {};
    const tFull: JsonObject = {};
    let tableAny = false;
    for (const [uuid, ch] of rows) {
      if (!ch.new) {
        if (!ch.old) continue;
        tDiff[uuid] = null;
        tFull[uuid] = null;
        tableAny = true;
        continue;
      }
      const names = ch.changed ?? [...cols.keys()];
      const rDiff: JsonObject = {};
      const rFull: JsonObject = {};
      // An inserted row is always written, even with every column at its default (as OVS does).
      let rowAny = !ch.old;
      for (const cname of names) {
        const col = cols.get(cname);
        if (!col || col.ephemeral) continue;
        const where = `${tname} row ${uuid} column ${cname}`;
        const nv = rowValue(ch.new, col, where);
        if (!ch.old) {
          if (isDefaultDatum(nv, col)) continue;
          const j = datumToJson(nv, col);
          rDiff[cname] = j;
          rFull[cname] = j;
          rowAny = true;
          continue;
        }
        const ov = rowValue(ch.old, col, where);
        if (datumEquals(ov, nv)) continue;
        const full = datumToJson(nv, col);
        rFull[cname] = full;
        rowAny = true;
        if (!isComposite(col)) {
          rDiff[cname] = full;
        } else if (isDefaultDatum(ov, col)) {
          // OVS 3.1 replaces a default value instead of applying the diff; newer OVS applies it.
          // With an empty default both agree (diff = new value); otherwise only a full record
          // reads the same everywhere.
          if (col.min > 0) useDiff = false;
          rDiff[cname] = full;
        } else {
          const d = datumDiff(ov, nv, col);
          if (d.keys.length > col.max) useDiff = false; // OVS 3.1.0 rejects oversize diffs
          rDiff[cname] = datumToJson(d, col);
        }
      }
      if (rowAny) {
        tDiff[uuid] = rDiff;
        tFull[uuid] = rFull;
        tableAny = true;
      }
    }
    if (tableAny) {
      diffRecord[tname] = tDiff;
      fullRecord ??= {};
      fullRecord[tname] = tFull;
      any = true;
    }
  }
  if (!any) return undefined;
  const out = useDiff ? diffRecord : fullRecord!;
  return annotate(out, commit.comment, date, useDiff);
}

/** Adds `_comment`, `_date` and (when `isDiff`) `_is_diff: true` to a record body, as OVS does. */
export function annotate(
  body: JsonObject,
  comment: string | undefined,
  date: number,
  isDiff: boolean,
): JsonObject {
  if (comment !== undefined && comment !== '') body[RECORD_COMMENT] = comment;
  body[RECORD_DATE] = Math.trunc(date);
  if (isDiff) body[RECORD_IS_DIFF] = true;
  return body;
}

/**
 * The compaction snapshot: every row as an insert, like OVS's `ovsdb_to_txn_json`. `rows` is the
 * engine's snapshot (`{table: {uuid: {column: json}}}`); ephemeral and default-valued columns are
 * dropped, unknown tables or columns throw.
 */
export function snapshotToRecord(
  schema: FSchema,
  rows: Readonly<Record<string, Json>>,
  date: number,
): JsonObject {
  const out: JsonObject = {};
  for (const [tname, tj] of Object.entries(rows)) {
    if (tname.startsWith('_')) continue;
    const cols = schema.tables.get(tname);
    if (!cols) throw new FileFormatError(`snapshot names unknown table ${tname}`);
    if (!isObject(tj)) throw new FileFormatError(`snapshot table ${tname}: object expected`);
    const tOut: JsonObject = {};
    let n = 0;
    for (const [uuid, rj] of Object.entries(tj)) {
      if (!isObject(rj))
        throw new FileFormatError(`snapshot ${tname} row ${uuid}: object expected`);
      const rOut: JsonObject = {};
      for (const [cname, cj] of Object.entries(rj)) {
        if (cname === '_uuid' || cname === '_version') continue;
        const col = cols.get(cname);
        if (!col) throw new FileFormatError(`snapshot: no column ${cname} in table ${tname}`);
        if (col.ephemeral) continue;
        const d = datumFromJson(cj, col, `snapshot ${tname} row ${uuid} column ${cname}`);
        if (!isDefaultDatum(d, col)) rOut[cname] = cj;
      }
      tOut[uuid] = rOut;
      n++;
    }
    if (n > 0) out[tname] = tOut;
  }
  return annotate(out, COMPACT_COMMENT, date, true);
}

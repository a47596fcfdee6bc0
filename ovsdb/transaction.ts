/**
 * The transaction engine: executes the operations of RFC 7047 §5.2 against an overlay of the
 * committed rows, then runs ovsdb-server's commit-time checks (strong reference integrity,
 * garbage collection of unreferenced non-root rows, maxRows, weak reference cleanup, unique
 * indexes) and hands a change set to the database to publish.
 *
 * Error objects and their order follow ovsdb-server 3.1 (see ovsdb/execution.c and
 * ovsdb/transaction.c for the behaviour; the code here is ours).
 */
import {
  checkAtomConstraints,
  compareDatums,
  datumEquals,
  datumFind,
  datumFromJson,
  datumKey,
  datumToJson,
  datumToString,
  isDefaultDatum,
  isId,
  isUuid,
  jsonToInt64,
  jsonToSortedString,
} from './datum.js';
import type { NamedUuidResolver } from './datum.js';
import { parseCondition, evalCondition } from './condition.js';
import type { Condition } from './condition.js';
import { OvsdbError, syntaxError } from './errors.js';
import { applyMutation, parseMutations } from './mutation.js';
import { UUID_COLUMN, allColumns, lookupColumn, rowDatum } from './table.js';
import type {
  Atom,
  BaseType,
  ColumnSchema,
  Datum,
  DatabaseSchema,
  Json,
  Row,
  TableSchema,
} from './types.js';

/** A column holding uuid references, with which parts (key/value) reference which table. */
export interface RefColumn {
  /** The column. */
  readonly col: ColumnSchema;
  /** refTable of the key when the key is a reference of the wanted strength. */
  readonly keyTable?: string;
  /** refTable of the value when the value is a reference of the wanted strength. */
  readonly valueTable?: string;
}

/** Committed state of one table (owned by the Database; read and updated by the engine). */
export interface TableState {
  /** Table schema. */
  readonly schema: TableSchema;
  /** Committed rows by uuid. */
  readonly rows: Map<string, Row>;
  /** Number of strong references to each row from other rows (absent = 0). */
  readonly refCount: Map<string, number>;
  /** One map per unique index of the schema: index key → row uuid. */
  readonly indexes: Map<string, string>[];
  /** Columns with strong references. */
  readonly strongCols: readonly RefColumn[];
  /** Columns with weak references. */
  readonly weakCols: readonly RefColumn[];
}

/** Committed state of a database as the engine sees it. */
export interface DbState {
  /** The schema. */
  readonly schema: DatabaseSchema;
  /** Tables by name. */
  readonly tables: ReadonlyMap<string, TableState>;
  /** Weak reference index: target uuid → source uuid → source table. */
  readonly weakIn: Map<string, Map<string, TableState>>;
  /** Generates uuids. */
  readonly uuidGen: () => string;
  /** Whether non-privileged writes are refused. */
  readonly readOnly: boolean;
}

/** Row state inside a transaction. */
export interface TxnRow {
  /** Table. */
  readonly ts: TableState;
  /** Row uuid. */
  readonly uuid: string;
  /** Committed row (absent: inserted by this txn). */
  readonly old: Row | undefined;
  /** Row after the txn (absent: deleted). Its `data` is private to the txn when `own`. */
  new: Row | undefined;
  /** True once `new.data` is a private copy that may be written. */
  own: boolean;
  /** Columns that changed (filled at commit). */
  changed?: Set<string>;
  /** Pulled in only for bookkeeping (ref counts, weak refs), not changed by an op. */
  touched?: boolean;
}

/** Mutable row used inside a transaction. */
interface MRow {
  uuid: string;
  version: string;
  data: Record<string, Datum>;
}

/** Index key of a row for one unique index. */
export function indexKey(row: Row, cols: readonly string[]): string {
  if (cols.length === 1) return datumKey(row.data[cols[0]!]!);
  let s = '';
  for (const c of cols) s += datumKey(row.data[c]!) + '\u0000';
  return s;
}

/** The uuids a datum references through `rc` (occurrences, with duplicates). */
export function refTargets(d: Datum, rc: RefColumn, out: { table: string; uuid: string }[]): void {
  if (rc.keyTable) for (const k of d.keys) out.push({ table: rc.keyTable, uuid: k as string });
  if (rc.valueTable && d.values)
    for (const v of d.values) out.push({ table: rc.valueTable, uuid: v as string });
}

/** Builds the strong/weak reference column lists of a table. */
export function refColumns(schema: TableSchema, strength: 'strong' | 'weak'): RefColumn[] {
  const out: RefColumn[] = [];
  const refOf = (b: BaseType | undefined): string | undefined =>
    b && b.type === 'uuid' && b.refTable !== undefined && (b.refType ?? 'strong') === strength
      ? b.refTable
      : undefined;
  for (const col of schema.columnList) {
    const keyTable = refOf(col.type.key);
    const valueTable = refOf(col.type.value);
    if (keyTable || valueTable) {
      const rc: { col: ColumnSchema; keyTable?: string; valueTable?: string } = { col };
      if (keyTable) rc.keyTable = keyTable;
      if (valueTable) rc.valueTable = valueTable;
      out.push(rc);
    }
  }
  return out;
}

/** Result of executing a transaction (see Database.transact for the public form). */
export type ExecOutcome =
  | {
      readonly status: 'done';
      readonly result: Json[];
      readonly changes?: TxnRow[];
      readonly comment?: string;
      readonly durable: boolean;
    }
  | { readonly status: 'blocked'; readonly retryAt: number };

/** What the engine needs from the caller. */
export interface ExecContext {
  /** Lock ownership for `assert`. */
  hasLock?(name: string): boolean;
  /** Current time (ms). */
  now?: number;
  /** First attempt time (ms). */
  startedAt?: number;
  /** Allows writes to read-only / reserved databases. */
  privileged?: boolean;
}

type Flag = 'string' | 'id' | 'array' | 'object' | 'boolean' | 'integer';

/** ovsdb_parser-like member access with the first error kept. */
class OpParser {
  readonly used = new Set<string>();
  error: OvsdbError | undefined;
  readonly obj: { [k: string]: Json } | undefined;

  constructor(
    readonly json: Json,
    readonly name: string,
  ) {
    this.obj = json !== null && typeof json === 'object' && !Array.isArray(json) ? json : undefined;
    if (!this.obj) this.raise('Object expected.');
  }

  raise(msg: string): void {
    if (this.error) return;
    const syntax = this.obj ? jsonToSortedString(this.json) : undefined;
    this.error = syntaxError(`Parsing ${this.name} failed: ${msg}`, syntax);
  }

  member(name: string, types: readonly Flag[], optional = false): Json | undefined {
    if (!this.obj) return undefined;
    const v = this.obj[name];
    if (v === undefined) {
      if (!optional) this.raise(`Required '${name}' member is missing.`);
      return undefined;
    }
    for (const t of types) {
      if (
        (t === 'string' && typeof v === 'string') ||
        (t === 'id' && typeof v === 'string' && isId(v)) ||
        (t === 'array' && Array.isArray(v)) ||
        (t === 'object' && v !== null && typeof v === 'object' && !Array.isArray(v)) ||
        (t === 'boolean' && typeof v === 'boolean') ||
        (t === 'integer' && jsonToInt64(v) !== undefined)
      ) {
        this.used.add(name);
        return v;
      }
    }
    this.raise(`Type mismatch for member '${name}'.`);
    return undefined;
  }

  /** Throws the first parse error, if any. */
  check(): void {
    if (this.error) throw this.error;
  }

  finish(): OvsdbError | undefined {
    if (!this.error && this.obj) {
      const unused = Object.keys(this.obj).filter((k) => !this.used.has(k));
      if (unused.length > 1) {
        const n = unused.length - 1;
        this.raise(
          `Member '${unused[0]}' and ${n} other member${n > 1 ? 's' : ''} are present but not allowed here.`,
        );
      } else if (unused.length === 1) {
        this.raise(`Member '${unused[0]}' is present but not allowed here.`);
      }
    }
    return this.error;
  }
}

interface SymbolEntry {
  uuid: string;
  created: boolean;
}

const READ_ONLY_OPS = new Set(['select', 'wait', 'abort', 'comment', 'assert']);

/** Signals a `wait` that must block (internal). */
class WaitBlocked extends Error {}

function englishDelimiter(i: number, n: number): string {
  if (i === 0) return '';
  if (n === 2) return ' and ';
  return i === n - 1 ? ', and ' : ', ';
}

/** One transaction in progress. Create, call {@link Transaction.execute}, read the outcome. */
export class Transaction {
  private readonly changes = new Map<TableState, Map<string, TxnRow>>();
  private readonly symtab = new Map<string, SymbolEntry>();
  private readonly comments: string[] = [];
  private durable = false;
  private minTimeout = Infinity;

  constructor(
    private readonly db: DbState,
    private readonly ctx: ExecContext = {},
  ) {}

  // -------------------------------------------------------------------------------------------
  // Overlay access

  private txnRow(ts: TableState, uuid: string): TxnRow | undefined {
    return this.changes.get(ts)?.get(uuid);
  }

  private putTxnRow(tr: TxnRow): void {
    let m = this.changes.get(tr.ts);
    if (!m) {
      m = new Map();
      this.changes.set(tr.ts, m);
    }
    m.set(tr.uuid, tr);
  }

  private dropTxnRow(tr: TxnRow): void {
    this.changes.get(tr.ts)?.delete(tr.uuid);
  }

  /** The row as the transaction currently sees it. */
  private get(ts: TableState, uuid: string): Row | undefined {
    const tr = this.txnRow(ts, uuid);
    if (tr) return tr.new;
    return ts.rows.get(uuid);
  }

  /** Rows matching `cond`, as the transaction sees them. */
  private query(ts: TableState, cond: Condition): Row[] {
    const out: Row[] = [];
    if (cond.uuidEq !== undefined) {
      const r = this.get(ts, cond.uuidEq);
      if (r && evalCondition(cond, r)) out.push(r);
      return out;
    }
    const txnRows = this.changes.get(ts);
    const viaIndex = this.indexLookup(ts, cond);
    if (viaIndex !== undefined) {
      // Committed rows can only match through the index; rows in the txn are checked below.
      const r = viaIndex === null ? undefined : ts.rows.get(viaIndex);
      if (r && !txnRows?.has(r.uuid) && evalCondition(cond, r)) out.push(r);
    } else {
      for (const [uuid, r] of ts.rows) {
        if (txnRows?.has(uuid)) continue;
        if (evalCondition(cond, r)) out.push(r);
      }
    }
    if (txnRows) {
      for (const tr of txnRows.values()) {
        if (tr.new && evalCondition(cond, tr.new)) out.push(tr.new);
      }
    }
    return out;
  }

  /**
   * When `cond` pins every column of one of the table's unique indexes with `==`, the uuid of
   * the committed row holding that key (null: none). Undefined when no index applies.
   */
  private indexLookup(ts: TableState, cond: Condition): string | null | undefined {
    const idxs = ts.schema.indexes;
    if (idxs.length === 0 || cond.clauses.length === 0) return undefined;
    for (let i = 0; i < idxs.length; i++) {
      const cols = idxs[i]!;
      const args: Datum[] = [];
      for (const c of cols) {
        const cl = cond.clauses.find(
          (x) => x.kind === 'cmp' && x.fn === '==' && x.column.name === c,
        );
        if (!cl || cl.kind !== 'cmp') break;
        args.push(cl.arg);
      }
      if (args.length !== cols.length) continue;
      const key =
        args.length === 1 ? datumKey(args[0]!) : args.map((a) => datumKey(a) + '\u0000').join('');
      return ts.indexes[i]!.get(key) ?? null;
    }
    return undefined;
  }

  /** Returns a writable copy of `row` registered in the transaction. */
  private modify(ts: TableState, row: Row): MRow {
    let tr = this.txnRow(ts, row.uuid);
    if (!tr) {
      tr = { ts, uuid: row.uuid, old: row, new: row, own: false };
      this.putTxnRow(tr);
    }
    if (!tr.own) {
      const cur = tr.new!;
      tr.new = { uuid: cur.uuid, version: cur.version, data: { ...cur.data } };
      tr.own = true;
    }
    delete tr.touched;
    return tr.new as MRow;
  }

  private readonly named: NamedUuidResolver = (name) => {
    let s = this.symtab.get(name);
    if (!s) {
      s = { uuid: this.db.uuidGen(), created: false };
      this.symtab.set(name, s);
    }
    return s.uuid;
  };

  // -------------------------------------------------------------------------------------------
  // Execution

  /** Runs `ops` (the transact params after the database name). */
  execute(ops: readonly Json[]): ExecOutcome {
    const n = ops.length;
    const results: Json[] = [];
    let failed = false;
    for (let i = 0; i < n; i++) {
      const opJson = ops[i]!;
      const p = new OpParser(opJson, `ovsdb operation ${i + 1} of ${n}`);
      const result: { [k: string]: Json } = {};
      let error: OvsdbError | undefined;
      let opName: string | undefined;
      let readOnly = false;
      const op = p.member('op', ['id']);
      try {
        if (op !== undefined) {
          opName = op as string;
          readOnly = READ_ONLY_OPS.has(opName);
          this.runOp(opName, p, result);
        }
      } catch (e) {
        if (e instanceof WaitBlocked) {
          return {
            status: 'blocked',
            retryAt: (this.ctx.startedAt ?? this.ctx.now ?? 0) + this.minTimeout,
          };
        }
        if (!(e instanceof OvsdbError)) throw e;
        error = e;
      }
      const parseError = p.finish();
      if (parseError) error = parseError;
      if (!readOnly && !error && opName !== undefined && !this.ctx.privileged) {
        if (this.db.schema.name.startsWith('_')) {
          error = new OvsdbError(
            'notAllowed',
            `${opName} operation not allowed on table in reserved database ${this.db.schema.name}`,
          );
        } else if (this.db.readOnly) {
          error = new OvsdbError(
            'notAllowed',
            `${opName} operation not allowed when database server is in read only mode`,
          );
        }
      }
      if (error) {
        results.push(error.toJson());
        failed = true;
        break;
      }
      results.push(result);
    }
    while (results.length < n) results.push(null);
    if (failed) return { status: 'done', result: results, durable: this.durable };
    try {
      const changes = this.precommit();
      const out: {
        status: 'done';
        result: Json[];
        changes?: TxnRow[];
        comment?: string;
        durable: boolean;
      } = { status: 'done', result: results, durable: this.durable };
      if (changes.length > 0) out.changes = changes;
      if (this.comments.length > 0) out.comment = this.comments.join('\n');
      return out;
    } catch (e) {
      if (!(e instanceof OvsdbError)) throw e;
      results.push(e.toJson());
      return { status: 'done', result: results, durable: this.durable };
    }
  }

  private table(p: OpParser, member = 'table'): TableState | undefined {
    const name = p.member(member, ['id']);
    if (name === undefined) return undefined;
    const ts = this.db.tables.get(name as string);
    if (!ts) p.raise(`No table named ${name as string}.`);
    return ts;
  }

  private runOp(op: string, p: OpParser, result: { [k: string]: Json }): void {
    switch (op) {
      case 'insert':
        return this.opInsert(p, result);
      case 'select':
        return this.opSelect(p, result);
      case 'update':
        return this.opUpdate(p, result);
      case 'mutate':
        return this.opMutate(p, result);
      case 'delete':
        return this.opDelete(p, result);
      case 'wait':
        return this.opWait(p);
      case 'commit': {
        const d = p.member('durable', ['boolean']);
        if (d === true) this.durable = true;
        return;
      }
      case 'abort':
        throw new OvsdbError('aborted', 'aborted by request');
      case 'comment': {
        const c = p.member('comment', ['string']);
        if (typeof c === 'string') this.comments.push(c);
        return;
      }
      case 'assert': {
        const l = p.member('lock', ['id']);
        if (l === undefined) return;
        if (this.ctx.hasLock?.(l as string)) return;
        throw new OvsdbError('notOwner', `Asserted lock ${l as string} not held.`);
      }
      default:
        p.raise(`No operation "${op}"`);
    }
  }

  /** Parses a row object; returns column → datum (in object order). */
  private parseRow(ts: TableState, j: Json): Map<ColumnSchema, Datum> {
    if (j === null || typeof j !== 'object' || Array.isArray(j)) {
      throw syntaxError('row must be JSON object', jsonToSortedString(j));
    }
    const out = new Map<ColumnSchema, Datum>();
    for (const [name, v] of Object.entries(j)) {
      const col = lookupColumn(ts.schema, name);
      if (!col) {
        throw new OvsdbError(
          'unknownColumn',
          `No column ${name} in table ${ts.schema.name}.`,
          jsonToSortedString(j),
        );
      }
      out.set(col, datumFromJson(v, col.type, this.named));
    }
    return out;
  }

  private parseColumns(ts: TableState, j: Json | undefined): ColumnSchema[] | undefined {
    if (j === undefined) return undefined;
    const bad = (msg = 'array of distinct column names expected'): OvsdbError =>
      syntaxError(msg, jsonToSortedString(j));
    if (!Array.isArray(j)) throw bad();
    const out: ColumnSchema[] = [];
    for (const e of j) {
      if (typeof e !== 'string') throw bad();
      const c = lookupColumn(ts.schema, e);
      if (!c) throw bad(`${e} is not a valid column name`);
      if (out.includes(c)) throw bad();
      out.push(c);
    }
    return out;
  }

  private opInsert(p: OpParser, result: { [k: string]: Json }): void {
    const ts = this.table(p);
    const uuidJson = p.member('uuid', ['string'], true);
    const uuidName = p.member('uuid-name', ['id'], true);
    const rowJson = p.member('row', ['object']);
    p.check();
    let uuid: string | undefined;
    if (uuidJson !== undefined) {
      if (!isUuid(uuidJson as string)) throw syntaxError('bad uuid', jsonToSortedString(uuidJson));
      uuid = (uuidJson as string).toLowerCase();
      if (this.txnRow(ts!, uuid) || ts!.rows.has(uuid)) {
        throw new OvsdbError(
          'duplicateUuid',
          'This UUID would duplicate a UUID already present within the table or deleted within the same transaction.',
          jsonToSortedString(uuidJson),
        );
      }
    }
    if (uuidName !== undefined) {
      const name = uuidName as string;
      let s = this.symtab.get(name);
      if (!s) {
        s = { uuid: uuid ?? this.db.uuidGen(), created: false };
        this.symtab.set(name, s);
      }
      if (s.created) {
        throw new OvsdbError(
          'duplicateUuidName',
          'This "uuid-name" appeared on an earlier "insert" operation.',
          jsonToSortedString(name),
        );
      }
      if (uuid !== undefined) s.uuid = uuid;
      else uuid = s.uuid;
      s.created = true;
    } else {
      uuid ??= this.db.uuidGen();
    }
    const schema = ts!.schema;
    const parsed = this.parseRow(ts!, rowJson!);
    const data: Record<string, Datum> = {};
    for (const c of schema.columnList) data[c.name] = c.default;
    for (const [c, d] of parsed) if (c !== UUID_COLUMN && c.name !== '_version') data[c.name] = d;
    // Defaults (one atom) may violate constraints (e.g. an enum without ""): check them.
    for (const c of schema.columnList) {
      const d = data[c.name]!;
      if (d.keys.length === 1) {
        checkAtomConstraints(d.keys[0]!, c.type.key);
        if (c.type.value) checkAtomConstraints(d.values![0]!, c.type.value);
      }
    }
    const row: MRow = { uuid, version: this.db.uuidGen(), data };
    this.putTxnRow({ ts: ts!, uuid, old: undefined, new: row, own: true });
    result.uuid = ['uuid', uuid];
  }

  private opSelect(p: OpParser, result: { [k: string]: Json }): void {
    const ts = this.table(p);
    const where = p.member('where', ['array']);
    const columnsJson = p.member('columns', ['array'], true);
    const sortJson = p.member('sort', ['array'], true);
    p.check();
    const cond = parseCondition(ts!.schema, where!, this.named);
    const columns = this.parseColumns(ts!, columnsJson);
    const sort = this.parseColumns(ts!, sortJson);
    let rows = this.query(ts!, cond);
    if (columns && !columns.includes(UUID_COLUMN)) {
      const seen = new Set<string>();
      rows = rows.filter((r) => {
        let k = '';
        for (const c of columns) k += datumKey(rowDatum(r, c)) + '\u0000';
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      });
    }
    if (sort && sort.length > 0 && rows.length > 1) {
      rows.sort((a, b) => {
        for (const c of sort) {
          const x = compareDatums(rowDatum(a, c), rowDatum(b, c), c.type);
          if (x) return x;
        }
        return 0;
      });
    }
    const cols = columns ?? allColumns(ts!.schema);
    result.rows = rows.map((r) => {
      const o: { [k: string]: Json } = {};
      for (const c of cols) o[c.name] = datumToJson(rowDatum(r, c), c.type);
      return o;
    });
  }

  private opUpdate(p: OpParser, result: { [k: string]: Json }): void {
    const ts = this.table(p);
    const where = p.member('where', ['array']);
    const rowJson = p.member('row', ['object']);
    p.check();
    const parsed = this.parseRow(ts!, rowJson!);
    for (const c of parsed.keys()) {
      if (!c.mutable) {
        throw new OvsdbError(
          'constraintViolation',
          `Cannot update immutable column ${c.name} in table ${ts!.schema.name}.`,
          jsonToSortedString(p.json),
        );
      }
    }
    const cond = parseCondition(ts!.schema, where!, this.named);
    const rows = this.query(ts!, cond);
    for (const r of rows) {
      let same = true;
      for (const [c, d] of parsed) {
        if (!datumEquals(r.data[c.name]!, d)) {
          same = false;
          break;
        }
      }
      if (same) continue;
      const m = this.modify(ts!, r);
      for (const [c, d] of parsed) m.data[c.name] = d;
    }
    result.count = rows.length;
  }

  private opMutate(p: OpParser, result: { [k: string]: Json }): void {
    const ts = this.table(p);
    const where = p.member('where', ['array']);
    const mutJson = p.member('mutations', ['array']);
    p.check();
    const mutations = parseMutations(ts!.schema, mutJson!, this.named);
    const cond = parseCondition(ts!.schema, where!, this.named);
    const rows = this.query(ts!, cond);
    for (const r of rows) {
      const m = this.modify(ts!, r);
      for (const mu of mutations)
        m.data[mu.column.name] = applyMutation(mu, m.data[mu.column.name]!);
    }
    result.count = rows.length;
  }

  private opDelete(p: OpParser, result: { [k: string]: Json }): void {
    const where = p.member('where', ['array']);
    const ts = this.table(p);
    p.check();
    const cond = parseCondition(ts!.schema, where!, this.named);
    const rows = this.query(ts!, cond);
    for (const r of rows) {
      const tr = this.txnRow(ts!, r.uuid);
      if (tr) {
        if (!tr.old) this.dropTxnRow(tr);
        else {
          tr.new = undefined;
          tr.own = false;
          delete tr.touched;
        }
      } else {
        this.putTxnRow({ ts: ts!, uuid: r.uuid, old: r, new: undefined, own: false });
      }
    }
    result.count = rows.length;
  }

  private opWait(p: OpParser): void {
    const timeout = p.member('timeout', ['integer'], true);
    const where = p.member('where', ['array']);
    const columnsJson = p.member('columns', ['array'], true);
    const until = p.member('until', ['string']);
    const rowsJson = p.member('rows', ['array']);
    const ts = this.table(p);
    p.check();
    const cond = parseCondition(ts!.schema, where!, this.named);
    const columns = this.parseColumns(ts!, columnsJson) ?? allColumns(ts!.schema);
    let timeoutMs = Infinity;
    if (timeout !== undefined) {
      const t = jsonToInt64(timeout)!;
      if (t < 0n) throw syntaxError('timeout must be nonnegative', jsonToSortedString(timeout));
      timeoutMs = Number(t);
      if (timeoutMs < this.minTimeout) this.minTimeout = timeoutMs;
    }
    if (until !== '==' && until !== '!=') {
      throw syntaxError('"until" must be "==" or "!="', jsonToSortedString(until!));
    }
    const keyOf = (get: (c: ColumnSchema) => Datum): string => {
      let k = '';
      for (const c of columns) k += datumKey(get(c)) + '\u0000';
      return k;
    };
    const expected = new Set<string>();
    for (const rj of rowsJson as Json[]) {
      const parsed = this.parseRow(ts!, rj);
      expected.add(
        keyOf((c) => {
          const d = parsed.get(c);
          if (d) return d;
          if (c.name === '_uuid' || c.name === '_version') return c.default;
          return c.default;
        }),
      );
    }
    let equal = true;
    const actual = new Set<string>();
    for (const r of this.query(ts!, cond)) {
      const k = keyOf((c) => rowDatum(r, c));
      if (!expected.has(k)) {
        equal = false;
        break;
      }
      actual.add(k);
    }
    if (equal) equal = actual.size === expected.size;
    if ((until === '==') !== equal) {
      const now = this.ctx.now ?? 0;
      const elapsed = now - (this.ctx.startedAt ?? now);
      if (timeout !== undefined && elapsed >= timeoutMs) {
        if (elapsed) throw new OvsdbError('timedOut', `"wait" timed out after ${elapsed} ms`);
        throw new OvsdbError('timedOut', '"where" clause test failed');
      }
      throw new WaitBlocked();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Commit-time checks

  private allTxnRows(): TxnRow[] {
    const out: TxnRow[] = [];
    for (const m of this.changes.values()) for (const tr of m.values()) out.push(tr);
    return out;
  }

  /** Runs the commit-time checks; returns the rows that changed (throws an OvsdbError). */
  private precommit(): TxnRow[] {
    // 1. What actually changed.
    for (const m of this.changes.values()) {
      for (const tr of m.values()) {
        if (tr.old && tr.new) {
          const ch = new Set<string>();
          if (tr.old !== tr.new) {
            for (const c of tr.ts.schema.columnList) {
              if (!datumEquals(tr.old.data[c.name]!, tr.new.data[c.name]!)) ch.add(c.name);
            }
          }
          if (ch.size === 0) m.delete(tr.uuid);
          else tr.changed = ch;
        } else {
          tr.changed = new Set(tr.ts.schema.columnList.map((c) => c.name));
        }
      }
    }
    if (this.allTxnRows().length === 0) return [];

    // 2. Strong reference counts and integrity.
    const delta = new Map<TableState, Map<string, number>>();
    const bump = (ts: TableState, uuid: string, d: number): void => {
      let m = delta.get(ts);
      if (!m) {
        m = new Map();
        delta.set(ts, m);
      }
      m.set(uuid, (m.get(uuid) ?? 0) + d);
    };
    const refCount = (ts: TableState, uuid: string): number =>
      (ts.refCount.get(uuid) ?? 0) + (delta.get(ts)?.get(uuid) ?? 0);
    const targets: { table: string; uuid: string }[] = [];
    for (const tr of this.allTxnRows()) {
      for (const rc of tr.ts.strongCols) {
        if (!tr.changed!.has(rc.col.name)) continue;
        const oldD = tr.old?.data[rc.col.name];
        const newD = tr.new?.data[rc.col.name];
        const [removed, added] = addedRemoved(oldD, newD, rc.col);
        targets.length = 0;
        if (removed) refTargets(removed, rc, targets);
        for (const t of targets)
          if (t.uuid !== tr.uuid) bump(this.db.tables.get(t.table)!, t.uuid, -1);
        targets.length = 0;
        if (added) refTargets(added, rc, targets);
        for (const t of targets) {
          if (t.uuid === tr.uuid) continue;
          const tts = this.db.tables.get(t.table)!;
          if (!this.txnRow(tts, t.uuid) && !tts.rows.has(t.uuid)) {
            throw new OvsdbError(
              'referentialIntegrityViolation',
              `Table ${tr.ts.schema.name} column ${rc.col.name} row ${tr.uuid} references nonexistent row ${t.uuid} in table ${t.table}.`,
            );
          }
          bump(tts, t.uuid, 1);
        }
      }
    }
    for (const tr of this.allTxnRows()) {
      if (tr.old && !tr.new) {
        const n = refCount(tr.ts, tr.uuid);
        if (n > 0) {
          throw new OvsdbError(
            'referentialIntegrityViolation',
            `cannot delete ${tr.ts.schema.name} row ${tr.uuid} because of ${n} remaining reference(s)`,
          );
        }
      }
    }

    // 3. Garbage collection of unreferenced non-root rows.
    const deleteGarbage = (ts: TableState, uuid: string): void => {
      if (ts.schema.isRoot) return;
      const tr = this.txnRow(ts, uuid);
      const row = tr ? tr.new : ts.rows.get(uuid);
      if (!row) return;
      if (tr) {
        if (!tr.old) this.dropTxnRow(tr);
        else {
          tr.new = undefined;
          tr.own = false;
          tr.changed = new Set(ts.schema.columnList.map((c) => c.name));
          delete tr.touched;
        }
      } else {
        this.putTxnRow({
          ts,
          uuid,
          old: row,
          new: undefined,
          own: false,
          changed: new Set(ts.schema.columnList.map((c) => c.name)),
        });
      }
      const t2: { table: string; uuid: string }[] = [];
      for (const rc of ts.strongCols) refTargets(row.data[rc.col.name]!, rc, t2);
      for (const t of t2) {
        if (t.uuid === uuid) continue;
        const tts = this.db.tables.get(t.table)!;
        bump(tts, t.uuid, -1);
        if (refCount(tts, t.uuid) === 0) deleteGarbage(tts, t.uuid);
      }
    };
    for (const tr of this.allTxnRows()) {
      if (tr.new && refCount(tr.ts, tr.uuid) === 0) deleteGarbage(tr.ts, tr.uuid);
    }
    for (const [ts, m] of [...delta]) {
      if (ts.schema.isRoot) continue;
      for (const [uuid, d] of [...m]) {
        if (d !== 0 && refCount(ts, uuid) === 0) deleteGarbage(ts, uuid);
      }
    }

    // 4. maxRows.
    for (const [ts, m] of this.changes) {
      if (ts.schema.maxRows === undefined || m.size === 0) continue;
      let n = ts.rows.size;
      for (const tr of m.values()) {
        if (!tr.old && tr.new) n++;
        else if (tr.old && !tr.new) n--;
      }
      if (n > ts.schema.maxRows) {
        throw new OvsdbError(
          'constraintViolation',
          `transaction causes "${ts.schema.name}" table to contain ${n} rows, greater than the schema-defined limit of ${ts.schema.maxRows} row(s)`,
        );
      }
    }

    // 5. Weak references: drop those to deleted or nonexistent rows.
    const weakSources = new Set<TxnRow>();
    for (const tr of this.allTxnRows()) {
      if (!tr.old || tr.new) continue;
      const srcs = this.db.weakIn.get(tr.uuid);
      if (!srcs) continue;
      for (const [srcUuid, sts] of srcs) {
        const cur = this.get(sts, srcUuid);
        if (!cur) continue;
        let str = this.txnRow(sts, srcUuid);
        if (!str) {
          str = {
            ts: sts,
            uuid: srcUuid,
            old: cur,
            new: cur,
            own: false,
            changed: new Set(),
            touched: true,
          };
          this.putTxnRow(str);
        }
        weakSources.add(str);
      }
    }
    for (const tr of this.allTxnRows()) {
      if (!tr.new || tr.ts.weakCols.length === 0) continue;
      const all = !tr.old || weakSources.has(tr);
      for (const rc of tr.ts.weakCols) {
        const name = rc.col.name;
        if (!all && !tr.changed!.has(name)) continue;
        const d = tr.new.data[name]!;
        const exists = (table: string | undefined, u: Atom): boolean =>
          !table || this.get(this.db.tables.get(table)!, u as string) !== undefined;
        let keep: number[] | undefined;
        let zero = false;
        for (let i = 0; i < d.keys.length; i++) {
          const ok =
            exists(rc.keyTable, d.keys[i]!) && (!d.values || exists(rc.valueTable, d.values[i]!));
          if (!ok) {
            if (
              d.keys[i] === '00000000-0000-0000-0000-000000000000' ||
              d.values?.[i] === '00000000-0000-0000-0000-000000000000'
            ) {
              zero = true;
            }
            keep ??= Array.from({ length: i }, (_, k) => k);
          } else if (keep) keep.push(i);
        }
        if (!keep) continue;
        const nd: Datum = d.values
          ? { keys: keep.map((i) => d.keys[i]!), values: keep.map((i) => d.values![i]!) }
          : { keys: keep.map((i) => d.keys[i]!) };
        const removed = d.keys.length - nd.keys.length;
        if (nd.keys.length < rc.col.type.min) {
          if (zero && !tr.old) {
            throw new OvsdbError(
              'constraintViolation',
              `Weak reference column "${name}" in "${tr.ts.schema.name}" row ${tr.uuid} (inserted within this transaction) contained all-zeros UUID (probably as the default value for this column) but deleting this value caused a constraint volation because this column is not allowed to be empty.`,
            );
          }
          throw new OvsdbError(
            'constraintViolation',
            `Deletion of ${removed} weak reference(s) to deleted (or never-existing) rows from column "${name}" in "${tr.ts.schema.name}" row ${tr.uuid} ${tr.old ? '' : '(inserted within this transaction) '}caused this column to become empty, but constraints on this column disallow an empty column.`,
          );
        }
        const m = this.modifyForCommit(tr);
        m.data[name] = nd;
        if (tr.old && datumEquals(tr.old.data[name]!, nd)) tr.changed!.delete(name);
        else tr.changed!.add(name);
        delete tr.touched;
      }
    }

    // 6. Unique indexes.
    for (const [ts, m] of this.changes) {
      const idxs = ts.schema.indexes;
      if (idxs.length === 0) continue;
      for (let i = 0; i < idxs.length; i++) {
        const cols = idxs[i]!;
        const seen = new Map<string, TxnRow>();
        for (const tr of m.values()) {
          if (!tr.new) continue;
          const k = indexKey(tr.new, cols);
          const other = seen.get(k);
          if (other) throw this.duplicateIndexError(ts, cols, other, tr);
          const committed = ts.indexes[i]!.get(k);
          if (committed !== undefined && !m.has(committed)) {
            throw this.duplicateIndexError(ts, cols, ts.rows.get(committed)!, tr);
          }
          seen.set(k, tr);
        }
      }
    }

    // 7. Versions, and the final change list.
    const out: TxnRow[] = [];
    for (const m of this.changes.values()) {
      for (const tr of m.values()) {
        if (tr.old && tr.new) {
          if (tr.old === tr.new || tr.changed!.size === 0) continue;
          (tr.new as MRow).version = this.db.uuidGen();
        } else if (!tr.old && !tr.new) continue;
        out.push(tr);
      }
    }
    return out;
  }

  private modifyForCommit(tr: TxnRow): MRow {
    if (!tr.own) {
      const cur = tr.new!;
      tr.new = { uuid: cur.uuid, version: cur.version, data: { ...cur.data } };
      tr.own = true;
    }
    return tr.new as MRow;
  }

  private duplicateIndexError(
    ts: TableState,
    cols: readonly string[],
    a0: TxnRow | Row,
    b0: TxnRow,
  ): OvsdbError {
    const rowOf = (x: TxnRow | Row): Row => ('ts' in x ? x.new! : x);
    let a: TxnRow | Row = a0;
    let b: TxnRow | Row = b0;
    if (rowOf(a).uuid > rowOf(b).uuid) [a, b] = [b, a];
    const schema = ts.schema;
    const valuesText = (r: Row): string =>
      cols
        .map(
          (c, i) =>
            englishDelimiter(i, cols.length) +
            datumToString(r.data[c]!, schema.columns.get(c)!.type),
        )
        .join('');
    const colsText =
      `column${cols.length > 1 ? 's' : ''} ` +
      cols.map((c, i) => `${englishDelimiter(i, cols.length)}"${c}"`).join('');
    const describe = (x: TxnRow | Row, title: string): string => {
      const r = rowOf(x);
      let s = `${title} row, with UUID ${r.uuid}, `;
      if (!('ts' in x) || (x.old && x.new && (x.touched || x.changed!.size === 0))) {
        s +=
          'existed in the database before this transaction and was not modified by the transaction.';
      } else if (!x.old) {
        s += 'was inserted by this transaction.';
      } else if (cols.every((c) => datumEquals(x.old!.data[c]!, x.new!.data[c]!))) {
        s +=
          "existed in the database before this transaction, which modified some of the row's columns but not any columns in this index.";
      } else {
        s += `had the following index values before the transaction: ${valuesText(x.old)}.`;
      }
      return s;
    };
    return new OvsdbError(
      'constraintViolation',
      `Transaction causes multiple rows in "${schema.name}" table to have identical values (${valuesText(rowOf(a))}) for index on ${colsText}.  ${describe(a, 'First')}  ${describe(b, 'Second')}`,
    );
  }
}

/**
 * The elements removed from and added to a column between two values (pairs for maps), as
 * datums (undefined = none). A missing side counts as empty.
 */
export function addedRemoved(
  oldD: Datum | undefined,
  newD: Datum | undefined,
  col: ColumnSchema,
): [Datum | undefined, Datum | undefined] {
  if (!oldD || oldD.keys.length === 0)
    return [undefined, newD && newD.keys.length ? newD : undefined];
  if (!newD || newD.keys.length === 0) return [oldD, undefined];
  if (oldD === newD) return [undefined, undefined];
  const t = col.type;
  const diff = (a: Datum, b: Datum): Datum | undefined => {
    const keys: Atom[] = [];
    const values: Atom[] = [];
    for (let i = 0; i < a.keys.length; i++) {
      const j = datumFind(b, a.keys[i]!, t.key.type);
      if (j >= 0 && (!a.values || a.values[i] === b.values![j])) continue;
      keys.push(a.keys[i]!);
      if (a.values) values.push(a.values[i]!);
    }
    if (keys.length === 0) return undefined;
    return a.values ? { keys, values } : { keys };
  };
  return [diff(oldD, newD), diff(newD, oldD)];
}

/** True when the datum equals its column's default (re-export for convenience). */
export { isDefaultDatum };

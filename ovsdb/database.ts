/**
 * An in-memory OVSDB database: the committed rows of every table, the transaction entry point
 * (RFC 7047 §4.1.3 `transact`, operations of §5.2), the commit stream other modules follow
 * (monitors, storage) and the hooks storage needs (replay of log records, snapshots).
 *
 * Rows are immutable and copied on write; a transaction works on an overlay of changed rows and
 * either publishes them all at commit or drops them.
 */
import { randomUUID } from 'node:crypto';
import { datumFromJson, datumToJson, defaultDatum, isDefaultDatum, isUuid } from './datum.js';
import { OvsdbError } from './errors.js';
import { changedColumns, rowToJsonNonDefault } from './table.js';
import { Transaction, indexKey, refColumns, refTargets } from './transaction.js';
import type { DbState, TableState, TxnRow } from './transaction.js';
import type { DatabaseSchema, Datum, Json, Row, TableSchema } from './types.js';

/** A fresh random (version 4) uuid, lowercase. */
export function newUuid(): string {
  return randomUUID();
}

/** What the caller of {@link Database.transact} tells the engine about the session and time. */
export interface TransactContext {
  /**
   * Whether the session issuing the transaction owns lock `name` (for the `assert` op).
   * Absent: the session owns no lock.
   */
  hasLock?(name: string): boolean;
  /** Current time in ms (the server's Clock). Used only for `wait` timeouts. Default 0. */
  now?: number;
  /**
   * When the transaction was first attempted, in ms on the same clock as `now`. A blocked
   * transaction is retried with the same `startedAt`; once `now - startedAt >= timeout` the
   * failing `wait` answers `"wait" timed out after <timeout> ms`. Default: `now`.
   */
  startedAt?: number;
  /**
   * Allows writes to a read-only database (the server maintaining `_Server`). Clients never
   * get this.
   */
  privileged?: boolean;
}

/**
 * How one row changed in a commit. `old` absent = inserted; `new` absent = deleted.
 * `changed` names the columns whose value differs: for an insert the columns that are not at
 * their default, for a modify the columns that changed, for a delete nothing.
 */
export interface RowChange {
  /** The row before the transaction (absent for an insert). */
  readonly old?: Row;
  /** The row after the transaction (absent for a delete). */
  readonly new?: Row;
  /** Columns that differ (see the interface comment). */
  readonly changed: ReadonlySet<string>;
}

/** Everything one committed transaction changed, in the order listeners should see it. */
export interface CommitRecord {
  /** A fresh uuid identifying this commit. */
  readonly txnId: string;
  /** 1 for the first commit of this Database object, then +1 per commit. */
  readonly seq: number;
  /** Table name → row uuid → change. Only tables/rows that changed appear. */
  readonly tables: ReadonlyMap<string, ReadonlyMap<string, RowChange>>;
  /** The `comment` ops' texts joined with `\n`, if any. */
  readonly comment?: string;
  /** True when a `commit` op asked for `durable: true`: reply only after the log is synced. */
  readonly durable: boolean;
}

/**
 * Outcome of {@link Database.transact}.
 * - `done`: `result` is the JSON result array to send (one element per op, plus a commit-time
 *   error if any); `commit` is the change set when something was committed (absent when the
 *   transaction failed or changed nothing); `durable` mirrors a `commit` op's flag.
 * - `blocked`: a `wait` with a timeout > 0 is not satisfied yet. Nothing was changed; retry the
 *   same ops (same `startedAt`) after later commits, and at the latest at `retryAt` (ms), when
 *   the engine will answer `timed out`.
 */
export type TransactOutcome =
  | {
      readonly status: 'done';
      readonly result: Json[];
      readonly commit?: CommitRecord;
      readonly durable: boolean;
    }
  | { readonly status: 'blocked'; readonly retryAt: number };

/** Listener for committed transactions; called synchronously after the rows are published. */
export type CommitListener = (commit: CommitRecord) => void;

/** Options of a {@link Database}. */
export interface DatabaseOptions {
  /** Reject every write op from non-privileged transactions (`_Server`). */
  readonly readOnly?: boolean;
  /** Uuid generator (tests may make it deterministic). Default {@link newUuid}. */
  readonly uuidGen?: () => string;
}

/**
 * Storage log record body: table → row uuid → column JSON (inserted or changed columns) or
 * `null` (row deleted). `_date` and `_comment` are optional top-level members.
 */
export type LogRecord = { [table: string]: { [uuid: string]: { [column: string]: Json } | null } };

/**
 * One OVSDB database in memory. Not thread-safe (nothing in Node is); every method is
 * synchronous.
 */
export class Database {
  /** The schema this database follows. */
  readonly schema: DatabaseSchema;
  /** Whether client writes are refused. */
  readonly readOnly: boolean;
  private readonly state: DbState;
  private readonly listeners: CommitListener[] = [];
  private seq = 0;

  constructor(schema: DatabaseSchema, options: DatabaseOptions = {}) {
    this.schema = schema;
    this.readOnly = options.readOnly ?? false;
    const tables = new Map<string, TableState>();
    for (const t of schema.tables.values()) {
      tables.set(t.name, {
        schema: t,
        rows: new Map(),
        refCount: new Map(),
        indexes: t.indexes.map(() => new Map<string, string>()),
        strongCols: refColumns(t, 'strong'),
        weakCols: refColumns(t, 'weak'),
      });
    }
    this.state = {
      schema,
      tables,
      weakIn: new Map(),
      uuidGen: options.uuidGen ?? newUuid,
      readOnly: this.readOnly,
    };
  }

  /** The database name (the schema's). */
  get name(): string {
    return this.schema.name;
  }

  /** Number of commits published so far. */
  get commitCount(): number {
    return this.seq;
  }

  /** Schema of table `name`, or undefined. */
  tableSchema(name: string): TableSchema | undefined {
    return this.schema.tables.get(name);
  }

  /** The committed rows of table `name` (uuid → row); empty map for an unknown table. */
  rows(name: string): ReadonlyMap<string, Row> {
    return this.state.tables.get(name)?.rows ?? EMPTY_ROWS;
  }

  /** One committed row, or undefined. */
  getRow(table: string, uuid: string): Row | undefined {
    return this.state.tables.get(table)?.rows.get(uuid);
  }

  /**
   * Runs a transaction: `ops` are the `transact` params after the database name. Never throws
   * for client errors: they come back inside the result array.
   */
  transact(ops: readonly Json[], ctx: TransactContext = {}): TransactOutcome {
    const txn = new Transaction(this.state, ctx);
    const out = txn.execute(ops);
    if (out.status === 'blocked') return out;
    if (!out.changes) return { status: 'done', result: out.result, durable: out.durable };
    const commit = this.publish(out.changes, out.comment, out.durable);
    return { status: 'done', result: out.result, commit, durable: out.durable };
  }

  /** Registers a commit listener; returns a function that removes it. */
  onCommit(fn: CommitListener): () => void {
    this.listeners.push(fn);
    return () => {
      const i = this.listeners.indexOf(fn);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /**
   * Applies one storage log record while loading a file (types are checked, integrity is not;
   * no listeners run). Rows present get the given columns; rows absent are inserted with
   * defaults for the other columns; `null` deletes. Members starting with `_` (`_date`,
   * `_comment`, `_is_diff`) are ignored. Throws an OvsdbError on malformed input.
   */
  applyLogRecord(record: Json): void {
    this.apply(this.logRecordChanges(record));
  }

  /**
   * Applies rows received from another OVSDB server, for a replica that mirrors it (vswitchd's
   * JSON-RPC replica): the same input and checks as {@link applyLogRecord} (types checked,
   * integrity and constraints not — the server already enforced them), but the change is
   * published to the commit listeners like a transaction. Modified rows report only the columns
   * whose value differs; rows that end up unchanged are left out. Returns the commit, or
   * undefined when nothing changed (no listener runs then).
   */
  applyReplicated(record: Json): CommitRecord | undefined {
    const changes = this.logRecordChanges(record).filter((tr) => {
      if (!tr.old || !tr.new) return true;
      tr.changed = changedColumns(tr.ts.schema, tr.old, tr.new);
      return tr.changed.size > 0;
    });
    if (changes.length === 0) return undefined;
    return this.publish(changes, undefined, false);
  }

  /** Parses a storage log record body into row changes (see {@link applyLogRecord}). */
  private logRecordChanges(record: Json): TxnRow[] {
    if (record === null || typeof record !== 'object' || Array.isArray(record)) {
      throw new OvsdbError('syntaxError', 'log record must be a JSON object');
    }
    const changes: TxnRow[] = [];
    for (const [tname, rowsJson] of Object.entries(record)) {
      if (tname.startsWith('_')) continue;
      const ts = this.state.tables.get(tname);
      if (!ts) throw new OvsdbError('syntaxError', `No table named ${tname}.`);
      if (rowsJson === null || typeof rowsJson !== 'object' || Array.isArray(rowsJson)) {
        throw new OvsdbError('syntaxError', `table ${tname} in log record must be a JSON object`);
      }
      for (const [uuid, rj] of Object.entries(rowsJson)) {
        if (!isUuid(uuid)) throw new OvsdbError('syntaxError', `"${uuid}" is not a valid UUID`);
        const u = uuid.toLowerCase();
        const old = ts.rows.get(u);
        if (rj === null) {
          if (old)
            changes.push({ ts, uuid: u, old, new: undefined, own: false, changed: new Set() });
          continue;
        }
        if (typeof rj !== 'object' || Array.isArray(rj)) {
          throw new OvsdbError(
            'syntaxError',
            `row ${u} in log record must be a JSON object or null`,
          );
        }
        const data: Record<string, Datum> = old ? { ...old.data } : {};
        if (!old) for (const c of ts.schema.columnList) data[c.name] = c.default;
        const changed = new Set<string>();
        for (const [cname, cj] of Object.entries(rj)) {
          const col = ts.schema.columns.get(cname);
          if (!col) throw new OvsdbError('unknownColumn', `No column ${cname} in table ${tname}.`);
          data[cname] = datumFromJson(cj, col.type, undefined, true);
          changed.add(cname);
        }
        changes.push({
          ts,
          uuid: u,
          old,
          new: { uuid: u, version: this.state.uuidGen(), data },
          own: true,
          changed,
        });
      }
    }
    return changes;
  }

  /**
   * All rows as a log record body (non-default, non-ephemeral columns), for compaction.
   */
  snapshot(): LogRecord {
    const out: LogRecord = {};
    for (const ts of this.state.tables.values()) {
      if (ts.rows.size === 0) continue;
      const t: { [uuid: string]: { [column: string]: Json } } = {};
      for (const [uuid, row] of ts.rows) t[uuid] = rowToJsonNonDefault(row, ts.schema, true);
      out[ts.schema.name] = t;
    }
    return out;
  }

  /**
   * Iterates every committed row as `[table, uuid, columns]`, columns being the non-default,
   * non-ephemeral ones as JSON (the pieces of {@link snapshot}, without building one object).
   */
  *snapshotRows(): Generator<[string, string, { [column: string]: Json }]> {
    for (const ts of this.state.tables.values()) {
      for (const [uuid, row] of ts.rows)
        yield [ts.schema.name, uuid, rowToJsonNonDefault(row, ts.schema, true)];
    }
  }

  /**
   * A commit as a storage log record body: inserted rows with their non-default persistent
   * columns, modified rows with their changed persistent columns (full values), deleted rows as
   * `null`. Tables and rows with nothing persistent to write are left out.
   */
  static commitToLogRecord(commit: CommitRecord, schema: DatabaseSchema): LogRecord {
    const out: LogRecord = {};
    for (const [tname, rows] of commit.tables) {
      const ts = schema.tables.get(tname)!;
      const t: { [uuid: string]: { [column: string]: Json } | null } = {};
      let any = false;
      for (const [uuid, ch] of rows) {
        if (!ch.new) {
          t[uuid] = null;
          any = true;
        } else if (!ch.old) {
          t[uuid] = rowToJsonNonDefault(ch.new, ts, true);
          any = true;
        } else {
          const o: { [column: string]: Json } = {};
          let n = 0;
          for (const c of ch.changed) {
            const col = ts.columns.get(c)!;
            if (col.ephemeral) continue;
            o[c] = datumToJson(ch.new.data[c]!, col.type);
            n++;
          }
          if (n > 0) {
            t[uuid] = o;
            any = true;
          }
        }
      }
      if (any) out[tname] = t;
    }
    return out;
  }

  private publish(changes: TxnRow[], comment: string | undefined, durable: boolean): CommitRecord {
    const tables = this.apply(changes);
    this.seq++;
    const commit: CommitRecord =
      comment === undefined
        ? { txnId: newUuid(), seq: this.seq, tables, durable }
        : { txnId: newUuid(), seq: this.seq, tables, comment, durable };
    for (const fn of this.listeners.slice()) fn(commit);
    return commit;
  }

  /** Publishes row changes into the committed state and maintains refs and indexes. */
  private apply(changes: TxnRow[]): Map<string, Map<string, RowChange>> {
    const tables = new Map<string, Map<string, RowChange>>();
    const st = this.state;
    const targets: { table: string; uuid: string }[] = [];
    for (const tr of changes) {
      const ts = tr.ts;
      const { old, uuid } = tr;
      const nw = tr.new;
      // Strong reference counts.
      for (const rc of ts.strongCols) {
        const name = rc.col.name;
        if (old && nw && old.data[name] === nw.data[name]) continue;
        targets.length = 0;
        if (old) refTargets(old.data[name]!, rc, targets);
        for (const t of targets) {
          if (t.uuid === uuid) continue;
          const m = st.tables.get(t.table)!.refCount;
          const n = (m.get(t.uuid) ?? 0) - 1;
          if (n <= 0) m.delete(t.uuid);
          else m.set(t.uuid, n);
        }
        targets.length = 0;
        if (nw) refTargets(nw.data[name]!, rc, targets);
        for (const t of targets) {
          if (t.uuid === uuid) continue;
          const m = st.tables.get(t.table)!.refCount;
          m.set(t.uuid, (m.get(t.uuid) ?? 0) + 1);
        }
      }
      // Weak reference index: when any weak column changed, drop every weak target of the old
      // row and add every weak target of the new one (a target may be named by several columns).
      if (ts.weakCols.length > 0) {
        let weakChanged = !old || !nw;
        if (!weakChanged) {
          for (const rc of ts.weakCols) {
            if (old!.data[rc.col.name] !== nw!.data[rc.col.name]) {
              weakChanged = true;
              break;
            }
          }
        }
        if (weakChanged) {
          targets.length = 0;
          if (old) for (const rc of ts.weakCols) refTargets(old.data[rc.col.name]!, rc, targets);
          for (const t of targets) {
            const m = st.weakIn.get(t.uuid);
            if (m) {
              m.delete(uuid);
              if (m.size === 0) st.weakIn.delete(t.uuid);
            }
          }
          targets.length = 0;
          if (nw) for (const rc of ts.weakCols) refTargets(nw.data[rc.col.name]!, rc, targets);
          for (const t of targets) {
            let m = st.weakIn.get(t.uuid);
            if (!m) {
              m = new Map();
              st.weakIn.set(t.uuid, m);
            }
            m.set(uuid, ts);
          }
        }
      }
      // Unique indexes.
      const idxs = ts.schema.indexes;
      for (let i = 0; i < idxs.length; i++) {
        const cols = idxs[i]!;
        const map = ts.indexes[i]!;
        if (old) {
          const k = indexKey(old, cols);
          if (map.get(k) === uuid) map.delete(k);
        }
      }
      // Rows.
      if (nw) {
        const frozen: Row = { uuid: nw.uuid, version: nw.version, data: nw.data };
        ts.rows.set(uuid, frozen);
        tr.new = frozen;
      } else {
        ts.rows.delete(uuid);
        ts.refCount.delete(uuid);
      }
      let tm = tables.get(ts.schema.name);
      if (!tm) {
        tm = new Map();
        tables.set(ts.schema.name, tm);
      }
      let changed = tr.changed ?? new Set<string>();
      if (!old && nw) {
        changed = new Set();
        for (const c of ts.schema.columnList)
          if (!isDefaultDatum(nw.data[c.name]!, c.type)) changed.add(c.name);
      } else if (!nw) changed = new Set();
      const rc: RowChange = old
        ? tr.new
          ? { old, new: tr.new, changed }
          : { old, changed }
        : { new: tr.new!, changed };
      tm.set(uuid, rc);
    }
    // Index additions after all removals (a txn may move a key from one row to another).
    for (const tr of changes) {
      if (!tr.new) continue;
      const idxs = tr.ts.schema.indexes;
      for (let i = 0; i < idxs.length; i++)
        tr.ts.indexes[i]!.set(indexKey(tr.new, idxs[i]!), tr.uuid);
    }
    return tables;
  }
}

const EMPTY_ROWS: ReadonlyMap<string, Row> = new Map();

/** The default datum of column `column` in `table` (convenience for other modules). */
export function columnDefault(table: TableSchema, column: string): Datum | undefined {
  const c = table.columns.get(column);
  return c ? defaultDatum(c.type) : undefined;
}

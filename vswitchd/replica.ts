/**
 * The replica of the Open_vSwitch database that vswitchd works on (OVS's IDL, `ovsdb_idl`): the
 * bridge reconciler and its protocols read rows from it, follow its changes and commit write-backs
 * through it, without knowing where the database lives.
 *
 * Two implementations:
 * - {@link InProcessReplica} (the default, `tsvs start`): the OVSDB server's own
 *   {@link Database} in the same process; commits run synchronously on it.
 * - `JsonRpcReplica` (vswitchd/replica-jsonrpc.ts, `tsvs vswitchd unix:PATH`): a mirror of a
 *   separate OVSDB server (tsvs's or ovsdb-server itself) kept by `monitor`, holding the
 *   `ovs_vswitchd` lock and asserting it in every transaction, as ovs-vswitchd does.
 *
 * Either way the rows are exposed as a {@link Database} (`replica.db`), so code that reads rows
 * keeps using `db.rows()` / `db.getRow()`; only {@link OvsdbReplica.commit} writes.
 */
import type { Json } from '../lib/json.js';
import type { Database } from '../ovsdb/database.js';
import type { Row } from '../ovsdb/types.js';

/**
 * Outcome of {@link OvsdbReplica.commit}.
 * - `ok`: the transaction committed; `result` holds one result per operation given.
 * - `error`: nothing was committed; `error` says why (an operation's or the commit's error, the
 *   lock is not held, the connection is down); `result` is the server's result array when there
 *   was one (without the lock assertion).
 */
export type ReplicaCommitResult =
  | { readonly status: 'ok'; readonly result: Json[] }
  | { readonly status: 'error'; readonly error: string; readonly result?: Json[] };

/** Called after rows changed, with the names of the tables that changed. */
export type ReplicaChangeListener = (tables: ReadonlySet<string>) => void;

/** What vswitchd needs from the database it reconciles. */
export interface OvsdbReplica {
  /**
   * The rows as a {@link Database}: the server's own database in process, else the local mirror.
   * Read it freely (rows, getRow, schema); never transact on it — write through
   * {@link OvsdbReplica.commit}.
   */
  readonly db: Database;
  /** The committed rows of `table` (uuid → row); empty for an unknown or empty table. */
  rows(table: string): ReadonlyMap<string, Row>;
  /** One committed row, or undefined. */
  getRow(table: string, uuid: string): Row | undefined;
  /**
   * Registers `fn`, called synchronously after every change of the rows (a local commit or
   * updates from the server), with the tables that changed. Returns the function that removes it.
   */
  onChange(fn: ReplicaChangeListener): () => void;
  /**
   * Commits `ops` (RFC 7047 operations, without the database name) as one transaction. Never
   * rejects: failures come back as `{status: 'error'}`. In process the rows have changed when the
   * call returns; remotely they change when the server's update arrives (normally before the
   * promise resolves). Callers must cope with a failed commit: the rows are the server's truth,
   * so the next pass recomputes what to write.
   */
  commit(ops: readonly Json[]): Promise<ReplicaCommitResult>;
  /** Starts following the database (connecting, for a remote one). Resolves without waiting for rows. */
  start(): Promise<void>;
  /** Stops following (closes the connection, releasing the lock). Idempotent. */
  close(): Promise<void>;
}

/** The first error of an OVSDB transact result array, as text, or undefined when none. */
export function transactError(result: readonly Json[]): string | undefined {
  for (const r of result) {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) continue;
    const e = r.error;
    if (e === undefined || e === null) continue;
    const details = typeof r.details === 'string' ? `: ${r.details}` : '';
    return `${typeof e === 'string' ? e : JSON.stringify(e)}${details}`;
  }
  return undefined;
}

/** The replica of `tsvs start`: the OVSDB server's own database, in the same process. */
export class InProcessReplica implements OvsdbReplica {
  constructor(
    /** The server's database. */
    readonly db: Database,
  ) {}

  rows(table: string): ReadonlyMap<string, Row> {
    return this.db.rows(table);
  }

  getRow(table: string, uuid: string): Row | undefined {
    return this.db.getRow(table, uuid);
  }

  onChange(fn: ReplicaChangeListener): () => void {
    return this.db.onCommit((c) => fn(new Set(c.tables.keys())));
  }

  commit(ops: readonly Json[]): Promise<ReplicaCommitResult> {
    const out = this.db.transact(ops);
    if (out.status !== 'done') {
      // Only a `wait` with a timeout blocks; vswitchd never sends one.
      return Promise.resolve({ status: 'error', error: 'transaction blocked on a wait' });
    }
    const err = transactError(out.result);
    return Promise.resolve(
      err === undefined
        ? { status: 'ok', result: out.result }
        : { status: 'error', error: err, result: out.result },
    );
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

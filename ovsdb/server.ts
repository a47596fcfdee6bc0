/**
 * The OVSDB server: hosts databases (always `_Server`, plus e.g. `Open_vSwitch`) and serves
 * JSON-RPC sessions from any remote with the methods of ovsdb-server 3.1 (see session.ts).
 *
 * `monitor_cond_since` decision: like ovsdb-server 3.1 with a standalone database, we keep no
 * transaction history. The reply is always `[false, "00000000-0000-0000-0000-000000000000",
 * <initial contents>]` and `update3` notifications carry the all-zero txn id, whatever
 * last-txn-id the client sends (it must still be a well-formed UUID). Every IDL handles this
 * (it is what they get from ovsdb-server) by replacing its replica with the initial contents.
 *
 * Commits: each hosted database's commit listener records the changes in every monitor of
 * every session (sending at once on idle links, coalescing on busy ones) and then, on the next
 * microtask, retries transactions blocked in a `wait`. A durable commit is acknowledged only
 * after the database's storage reports it synced.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../lib/clock.js';
import { realClock } from '../lib/clock.js';
import { counter } from '../lib/counters.js';
import { getLogger } from '../lib/log.js';
import type { Transport } from '../lib/transport.js';
import { DEFERRED_REPLY, JsonRpcSession } from '../lib/jsonrpc.js';
import { parseCondition, evalCondition } from './condition.js';
import type { CommitRecord, Database } from './database.js';
import { LockManager } from './lock.js';
import type { ConditionCompiler, RowCondition } from './monitor.js';
import { ServerDatabase, SERVER_DB_NAME } from './server-db.js';
import { OvsdbSession, type RpcEndpoint, type SessionHost } from './session.js';
import type { Json, TableSchema } from './types.js';

const log = getLogger('ovsdb-server');
const cSessions = counter('ovsdb_sessions_opened', 'ovsdb', 'OVSDB sessions opened');

/** Default cap of a session's send backlog before it is dropped: 64 MiB. */
export const DEFAULT_MAX_BACKLOG_BYTES = 64 * 1024 * 1024;
/** Default largest accepted JSON-RPC message: 64 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * What the server needs from a database's durable storage (implemented by ovsdb/storage.ts's
 * file storage; absent for in-memory databases).
 */
export interface DatabaseStorage {
  /** Resolves when `commit` (already handed to the storage by its own commit listener) is synced. */
  waitDurable(commit: CommitRecord): Promise<void>;
  /** Rewrites the file as a snapshot of the current contents. */
  compact(): Promise<void>;
  /** Flushes and closes the file. */
  close(): Promise<void>;
}

/** Options of {@link OvsdbServer}. */
export interface OvsdbServerOptions {
  /** Clock for inactivity probes and `wait` timeouts (default: the real clock). */
  clock?: Clock;
  /** The server's uuid as `get_server_id` reports it (default: random). */
  serverId?: string;
  /** Send backlog (bytes) above which a session is dropped (default {@link DEFAULT_MAX_BACKLOG_BYTES}). */
  maxBacklogBytes?: number;
  /** Largest JSON-RPC message accepted (default {@link DEFAULT_MAX_MESSAGE_BYTES}). */
  maxMessageBytes?: number;
  /** Deepest JSON nesting accepted (default: the framer's, 1000). */
  maxDepth?: number;
}

/** Options of {@link OvsdbServer.accept}. */
export interface AcceptOptions {
  /** The remote the connection came through (default: the transport's peer). */
  remote?: string;
  /** Inactivity probe interval in ms, 0 = none (default 0). */
  probeIntervalMs?: number;
}

/** Numbers for `memory/show` and monitoring. */
export interface ServerStats {
  /** Hosted databases (including `_Server`). */
  databases: number;
  /** Rows over all databases. */
  rows: number;
  /** Cells (rows × user columns) over all databases. */
  cells: number;
  /** Atoms (set elements, map keys and values) over all cells. */
  atoms: number;
  /** Open sessions. */
  sessions: number;
  /** Monitors over all sessions. */
  monitors: number;
  /** Transactions blocked in a `wait`. */
  triggers: number;
  /** Locks with at least one waiter. */
  locks: number;
}

interface Hosted {
  db: Database;
  storage: DatabaseStorage | undefined;
  unlisten: () => void;
}

/** Compiles a monitor `where` with the transaction engine's condition parser. */
export const compileCondition: ConditionCompiler = (
  table: TableSchema,
  where: Json,
): RowCondition => {
  const cond = parseCondition(table, where);
  const always = cond.clauses.every((c) => c.kind === 'bool' && c.value);
  return { matches: (row) => evalCondition(cond, row), always };
};

/** An OVSDB server. */
export class OvsdbServer implements SessionHost {
  readonly clock: Clock;
  readonly locks = new LockManager();
  readonly serverId: string;
  readonly maxBacklogBytes: number;
  readonly compileCondition = compileCondition;
  /** The `_Server` database keeper. */
  readonly serverDb: ServerDatabase;
  private readonly maxMessageBytes: number;
  private readonly maxDepth: number | undefined;
  private readonly dbs = new Map<string, Hosted>();
  private readonly live = new Set<OvsdbSession>();
  private closing = false;

  constructor(opts: OvsdbServerOptions = {}) {
    this.clock = opts.clock ?? realClock;
    this.serverId = opts.serverId ?? randomUUID();
    this.maxBacklogBytes = opts.maxBacklogBytes ?? DEFAULT_MAX_BACKLOG_BYTES;
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.maxDepth = opts.maxDepth;
    this.serverDb = new ServerDatabase();
    this.host(this.serverDb.db, undefined);
    this.serverDb.addDatabase(SERVER_DB_NAME, this.serverDb.db.schema);
  }

  /**
   * Hosts `db` (with optional durable `storage`) and lists it in `_Server`. Throws when a
   * database of that name is already hosted.
   */
  addDatabase(db: Database, storage?: DatabaseStorage): void {
    if (this.dbs.has(db.name)) throw new Error(`database ${db.name} is already hosted`);
    this.host(db, storage);
    this.serverDb.addDatabase(db.name, db.schema);
  }

  private host(db: Database, storage: DatabaseStorage | undefined): void {
    const unlisten = db.onCommit((commit) => this.committed(db, commit));
    this.dbs.set(db.name, { db, storage, unlisten });
  }

  /**
   * Stops hosting database `name`: change-aware sessions get `monitor_canceled` for its
   * monitors, other sessions monitoring it are closed. Returns false when not hosted.
   */
  async removeDatabase(name: string): Promise<boolean> {
    const h = this.dbs.get(name);
    if (!h || name === SERVER_DB_NAME) return false;
    this.dbs.delete(name);
    h.unlisten();
    this.serverDb.removeDatabase(name);
    for (const s of [...this.live]) s.databaseRemoved(h.db);
    if (h.storage) await h.storage.close();
    return true;
  }

  /** Hosted database names, sorted as ovsdb-server lists them. */
  databaseNames(): string[] {
    return [...this.dbs.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** A hosted database by name. */
  database(name: string): Database | undefined {
    return this.dbs.get(name)?.db;
  }

  /** The storage of database `name`, if it has one. */
  storage(name: string): DatabaseStorage | undefined {
    return this.dbs.get(name)?.storage;
  }

  /** {@link SessionHost.waitDurable}. */
  waitDurable(dbName: string, commit: CommitRecord): Promise<void> {
    const st = this.dbs.get(dbName)?.storage;
    return st ? st.waitDurable(commit) : Promise.resolve();
  }

  /**
   * Compacts the storage of the named databases (all with storage when `names` is empty).
   * Rejects naming the first database that is unknown.
   */
  async compact(names: string[] = []): Promise<void> {
    const list = names.length > 0 ? names : this.databaseNames();
    for (const n of list) {
      const h = this.dbs.get(n);
      if (!h) throw new Error('no database by that name');
      if (h.storage) await h.storage.compact();
    }
  }

  private committed(db: Database, commit: CommitRecord): void {
    for (const s of this.live) s.commitHappened(db, commit);
    queueMicrotask(() => {
      for (const s of [...this.live]) s.retryBlocked(db);
    });
  }

  /**
   * Serves a new connection: wraps `transport` in a JSON-RPC session (framing, size and depth
   * limits, protocol-error handling, echo and inactivity probes) and an {@link OvsdbSession}.
   */
  accept(transport: Transport, opts: AcceptOptions = {}): OvsdbSession {
    const rpc = new JsonRpcSession(transport, {
      clock: this.clock,
      probeIntervalMs: opts.probeIntervalMs ?? 0,
      maxMessageBytes: this.maxMessageBytes,
      hardBacklogBytes: this.maxBacklogBytes,
      // Echo replies must follow pending monitor updates like every other reply.
      autoEcho: false,
      ...(this.maxDepth !== undefined ? { maxDepth: this.maxDepth } : {}),
    });
    const endpoint: RpcEndpoint = {
      peer: transport.peer,
      sendReply: (id, result) => rpc.sendReply(id, result),
      sendError: (id, error) => rpc.sendError(id, error),
      sendNotification: (method, params) => rpc.sendNotification(method, params),
      backlog: () => transport.backlog(),
      close: () => rpc.close(),
    };
    const session = this.attach(endpoint, opts.remote ?? transport.peer);
    rpc.onRequest((method, params, id) => {
      session.handleRequest(method, params, id);
      return DEFERRED_REPLY;
    });
    rpc.onNotification((method, params) => session.handleNotification(method, params));
    rpc.on('close', () => session.closedByTransport());
    transport.on('drain', () => session.drained());
    if (rpc.closed) session.closedByTransport();
    return session;
  }

  /** Serves a session over an already-built endpoint (tests, in-process clients). */
  attach(endpoint: RpcEndpoint, remote: string): OvsdbSession {
    const session = new OvsdbSession(this, endpoint, remote);
    if (this.closing) {
      endpoint.close();
      return session;
    }
    this.live.add(session);
    cSessions.inc();
    log.debug({ peer: endpoint.peer, remote }, 'session opened');
    return session;
  }

  /** {@link SessionHost.sessionClosed}. */
  sessionClosed(session: OvsdbSession): void {
    this.live.delete(session);
  }

  /** Open sessions. */
  sessions(): OvsdbSession[] {
    return [...this.live];
  }

  /** Counts for memory/show. */
  stats(): ServerStats {
    let rows = 0;
    let cells = 0;
    let atoms = 0;
    for (const { db } of this.dbs.values()) {
      for (const t of db.schema.tables.values()) {
        const all = db.rows(t.name);
        rows += all.size;
        cells += all.size * t.columnList.length;
        for (const row of all.values()) {
          for (const c of t.columnList) {
            const d = row.data[c.name];
            if (d) atoms += d.keys.length * (d.values ? 2 : 1);
          }
        }
      }
    }
    let monitors = 0;
    let triggers = 0;
    for (const s of this.live) {
      monitors += s.monitorCount();
      triggers += s.blockedCount();
    }
    return {
      databases: this.dbs.size,
      rows,
      cells,
      atoms,
      sessions: this.live.size,
      monitors,
      triggers,
      locks: this.locks.list().length,
    };
  }

  /** Closes every session and every storage. */
  async close(): Promise<void> {
    this.closing = true;
    for (const s of [...this.live]) {
      s.rpc.close();
      s.closedByTransport();
    }
    for (const h of this.dbs.values()) {
      h.unlisten();
      if (h.storage) await h.storage.close();
    }
  }
}

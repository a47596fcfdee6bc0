/**
 * One client connection of the OVSDB server: the JSON-RPC methods of ovsdb-server 3.1
 * (`list_dbs`, `get_schema`, `transact`, `cancel`, `monitor`, `monitor_cond`,
 * `monitor_cond_change`, `monitor_cond_since`, `monitor_cancel`, `lock`, `steal`, `unlock`,
 * `set_db_change_aware`, `echo`, `get_server_id`) with its error shapes.
 *
 * Ordering rules:
 * - Every send on a session first flushes the session's monitors, so a client that commits a
 *   transaction sees the `update`/`update2`/`update3` for it before the `transact` reply.
 * - Requests of one session are handled one after another; a durable commit holds the next
 *   request until the storage has synced (so replies leave in request order). A `transact`
 *   blocked in a `wait` does not hold the queue: it is parked and retried after each commit
 *   of its database and when its timeout expires, and a `cancel` notification ends it with the
 *   error "canceled".
 *
 * Flow control: monitor changes are flushed at once while the transport has no backlog;
 * otherwise they are coalesced per row and flushed on `drain`. A session whose send backlog
 * exceeds the server's cap is disconnected (counted in `ovsdb_session_overflow`).
 */
import type { Clock, TimerHandle } from '../lib/clock.js';
import { counter } from '../lib/counters.js';
import { getLogger } from '../lib/log.js';
import type { CommitRecord, Database } from './database.js';
import { isUuid, jsonToSortedString } from './datum.js';
import { OvsdbError, syntaxError } from './errors.js';
import { LockError, LockManager, type LockHolder } from './lock.js';
import {
  Monitor,
  UPDATE_METHOD,
  monitorKey,
  type ConditionCompiler,
  type MonitorVersion,
} from './monitor.js';
import type { Json } from './types.js';
import { ZERO_UUID } from './types.js';

const log = getLogger('ovsdb-session');
const cOverflow = counter(
  'ovsdb_session_overflow',
  'ovsdb',
  'OVSDB sessions dropped because their send backlog exceeded the cap',
);
const cRequests = counter('ovsdb_requests', 'ovsdb', 'OVSDB JSON-RPC requests handled');
const cQueueOverflow = counter(
  'ovsdb_session_queue_overflow',
  'ovsdb',
  'OVSDB sessions dropped because too many requests queued behind a durable commit',
);

/** Requests a session may have queued (waiting behind a durable commit) before it is dropped. */
export const MAX_QUEUED_REQUESTS = 10_000;

const cInternalErrors = counter(
  'ovsdb_internal_error',
  'ovsdb',
  'OVSDB requests that failed with an internal error',
);

/**
 * The JSON-RPC connection under a session, as the session needs it. {@link OvsdbServer} builds
 * one over lib/jsonrpc.ts's JsonRpcSession; tests may implement it directly.
 */
export interface RpcEndpoint {
  /** Human-readable peer name. */
  readonly peer: string;
  /** Sends `{"id":id,"result":result,"error":null}`. */
  sendReply(id: Json, result: Json): void;
  /** Sends `{"id":id,"error":error}` (no `result` member, as ovsdb-server does). */
  sendError(id: Json, error: Json): void;
  /** Sends `{"id":null,"method":method,"params":params}`. */
  sendNotification(method: string, params: Json[]): void;
  /** Bytes written and not yet taken by the peer. */
  backlog(): number;
  /** Closes the connection (idempotent). */
  close(): void;
}

/** What a session needs from its server. */
export interface SessionHost {
  /** The server's clock. */
  readonly clock: Clock;
  /** The server's locks. */
  readonly locks: LockManager;
  /** The server's uuid (`get_server_id`). */
  readonly serverId: string;
  /** Largest send backlog (bytes) tolerated before the session is dropped. */
  readonly maxBacklogBytes: number;
  /** Compiles monitor `where` conditions. */
  readonly compileCondition: ConditionCompiler;
  /** Hosted database names, sorted. */
  databaseNames(): string[];
  /** A hosted database by name. */
  database(name: string): Database | undefined;
  /** Resolves once `commit` is on stable storage (immediately when not durable or no storage). */
  waitDurable(dbName: string, commit: CommitRecord): Promise<void>;
  /** Called once when the session has closed. */
  sessionClosed(session: OvsdbSession): void;
}

/** A `transact` waiting for a `wait` op to be satisfied. */
interface BlockedTxn {
  id: Json;
  db: Database;
  ops: Json[];
  startedAt: number;
  timer: TimerHandle | undefined;
}

type Work =
  | { kind: 'request'; method: string; params: Json; id: Json }
  | { kind: 'notify'; method: string; params: Json };

/** One client session. */
export class OvsdbSession implements LockHolder {
  /** Monitors by canonical monitor-id text. */
  private readonly monitors = new Map<string, Monitor>();
  private readonly blocked = new Map<string, BlockedTxn>();
  private readonly queue: Work[] = [];
  private busy = false;
  private closed = false;
  /** True after `set_db_change_aware [true]`. */
  dbChangeAware = false;
  /** Requests handled. */
  nRequests = 0;

  constructor(
    private readonly host: SessionHost,
    /** The JSON-RPC connection. */
    readonly rpc: RpcEndpoint,
    /** The remote the connection came through (for list-remotes and status). */
    readonly remote: string,
  ) {}

  /** Number of monitors. */
  monitorCount(): number {
    return this.monitors.size;
  }

  /** Number of transactions blocked in a `wait`. */
  blockedCount(): number {
    return this.blocked.size;
  }

  /** Monitors of this session (for introspection). */
  monitorList(): Monitor[] {
    return [...this.monitors.values()];
  }

  // -------------------------------------------------------------------------------------------
  // Input

  /** Queues a request from the peer. */
  handleRequest(method: string, params: Json, id: Json): void {
    this.enqueue({ kind: 'request', method, params, id });
  }

  /** Queues a notification from the peer (`cancel`; others are ignored). */
  handleNotification(method: string, params: Json): void {
    if (method === 'cancel') {
      // Cancellation must not wait behind a slow request.
      this.cancel(params);
      return;
    }
    this.enqueue({ kind: 'notify', method, params });
  }

  private enqueue(w: Work): void {
    if (this.closed) return;
    if (this.queue.length >= MAX_QUEUED_REQUESTS) {
      // Requests pile up only behind a durable commit waiting for fsync; a peer that sends this
      // many meanwhile is not waiting for its replies.
      cQueueOverflow.inc();
      log.warn({ peer: this.rpc.peer }, 'too many queued requests, dropping session');
      this.rpc.close();
      this.closedByTransport();
      return;
    }
    this.queue.push(w);
    if (!this.busy) this.pump();
  }

  private pump(): void {
    while (!this.busy && !this.closed && this.queue.length > 0) {
      const w = this.queue.shift()!;
      if (w.kind === 'notify') continue;
      let p: Promise<void> | undefined;
      try {
        p = this.dispatch(w.method, w.params, w.id);
      } catch (err) {
        this.internalError(w.id, err);
      }
      if (p) {
        this.busy = true;
        p.catch((err: unknown) => this.internalError(w.id, err)).finally(() => {
          this.busy = false;
          this.pump();
        });
      }
    }
  }

  private internalError(id: Json, err: unknown): void {
    cInternalErrors.inc();
    log.error({ err, peer: this.rpc.peer }, 'internal error handling request');
    this.replyError(id, {
      error: 'internal error',
      details: String((err as Error)?.message ?? err),
    });
  }

  // -------------------------------------------------------------------------------------------
  // Output (always flush monitors first)

  private reply(id: Json, result: Json): void {
    if (this.closed) return;
    this.flushMonitors();
    this.rpc.sendReply(id, result);
    this.checkBacklog();
  }

  private replyError(id: Json, error: Json | OvsdbError): void {
    if (this.closed) return;
    this.flushMonitors();
    this.rpc.sendError(id, error instanceof OvsdbError ? error.toJson() : error);
    this.checkBacklog();
  }

  private notify(method: string, params: Json[]): void {
    if (this.closed) return;
    this.flushMonitors();
    this.rpc.sendNotification(method, params);
    this.checkBacklog();
  }

  /** Sends the pending changes of every monitor. */
  flushMonitors(): void {
    if (this.closed) return;
    for (const m of this.monitors.values()) {
      const u = m.takeUpdates();
      if (u) this.sendUpdate(m, u);
    }
  }

  private sendUpdate(m: Monitor, updates: Json): void {
    const params: Json[] = m.version === 3 ? [m.id, ZERO_UUID, updates] : [m.id, updates];
    this.rpc.sendNotification(UPDATE_METHOD[m.version], params);
  }

  private checkBacklog(): void {
    const b = this.rpc.backlog();
    if (b > this.host.maxBacklogBytes) {
      cOverflow.inc();
      log.warn({ peer: this.rpc.peer, backlog: b }, 'send backlog over the cap, dropping session');
      this.rpc.close();
      this.closedByTransport();
    }
  }

  /** The transport drained: send what monitors accumulated meanwhile. */
  drained(): void {
    if (this.closed) return;
    this.flushMonitors();
    this.checkBacklog();
  }

  // -------------------------------------------------------------------------------------------
  // Called by the server

  /** Records a commit of `db` in this session's monitors and flushes when the link is idle. */
  commitHappened(db: Database, commit: CommitRecord): void {
    if (this.closed) return;
    let touched = false;
    for (const m of this.monitors.values()) {
      if (m.db !== db) continue;
      m.record(commit);
      touched = true;
    }
    if (touched && this.rpc.backlog() === 0) {
      this.flushMonitors();
      this.checkBacklog();
    }
  }

  /** Retries this session's transactions blocked on `db` (after a commit there). */
  retryBlocked(db: Database): void {
    for (const [k, b] of [...this.blocked]) {
      if (b.db === db && this.blocked.get(k) === b) this.tryBlocked(k, b);
    }
  }

  /** The database `name` went away: cancel its monitors (change-aware) or close the session. */
  databaseRemoved(db: Database): void {
    if (this.closed) return;
    const mine = [...this.monitors].filter(([, m]) => m.db === db);
    if (mine.length === 0) return;
    if (!this.dbChangeAware) {
      this.rpc.close();
      this.closedByTransport();
      return;
    }
    for (const [k, m] of mine) {
      this.monitors.delete(k);
      this.notify('monitor_canceled', [m.id]);
    }
  }

  /** The connection closed: drop monitors, parked transactions and locks. Idempotent. */
  closedByTransport(): void {
    if (this.closed) return;
    this.closed = true;
    this.monitors.clear();
    for (const b of this.blocked.values()) this.host.clock.clearTimeout(b.timer);
    this.blocked.clear();
    this.queue.length = 0;
    this.host.locks.releaseAll(this);
    this.host.sessionClosed(this);
  }

  /** {@link LockHolder}: a `locked`/`stolen` notification. */
  notifyLock(lockName: string, method: 'locked' | 'stolen'): void {
    this.notify(method, [lockName]);
  }

  // -------------------------------------------------------------------------------------------
  // Methods

  private dispatch(method: string, params: Json, id: Json): Promise<void> | undefined {
    this.nRequests++;
    cRequests.inc();
    const p: Json[] = Array.isArray(params) ? params : [];
    switch (method) {
      case 'list_dbs':
        this.reply(id, this.host.databaseNames());
        return undefined;
      case 'get_schema': {
        const db = this.lookupDb('get_schema', p, id);
        if (db) this.reply(id, db.schema.json);
        return undefined;
      }
      case 'transact':
        return this.transact(p, id);
      case 'monitor':
        this.monitor(1, p, id);
        return undefined;
      case 'monitor_cond':
        this.monitor(2, p, id);
        return undefined;
      case 'monitor_cond_since':
        this.monitor(3, p, id);
        return undefined;
      case 'monitor_cond_change':
        this.monitorCondChange(p, id);
        return undefined;
      case 'monitor_cancel':
        this.monitorCancel(p, id);
        return undefined;
      case 'lock':
      case 'steal':
        this.lock(method, p, id);
        return undefined;
      case 'unlock':
        this.unlock(p, id);
        return undefined;
      case 'set_db_change_aware':
        if (p.length === 1 && typeof p[0] === 'boolean') {
          this.dbChangeAware = p[0];
          this.reply(id, {});
        } else {
          this.replyError(
            id,
            syntaxError(
              'set_db_change_aware: true or false parameter expected',
              jsonToSortedString(p),
            ),
          );
        }
        return undefined;
      case 'echo':
        this.reply(id, p);
        return undefined;
      case 'get_server_id':
        this.reply(id, this.host.serverId);
        return undefined;
      default:
        this.replyError(id, 'unknown method');
        return undefined;
    }
  }

  private lookupDb(method: string, p: Json[], id: Json): Database | undefined {
    const name = p[0];
    if (typeof name !== 'string') {
      this.replyError(
        id,
        syntaxError(`${method} request params must begin with <db-name>`, jsonToSortedString(p)),
      );
      return undefined;
    }
    const db = this.host.database(name);
    if (!db) {
      this.replyError(
        id,
        new OvsdbError(
          'unknownDatabase',
          `${method} request specifies unknown database ${name}`,
          jsonToSortedString(p),
        ),
      );
      return undefined;
    }
    return db;
  }

  private transact(p: Json[], id: Json): Promise<void> | undefined {
    const db = this.lookupDb('transact', p, id);
    if (!db) return undefined;
    const ops = p.slice(1);
    const key = jsonToSortedString(id);
    // Whole milliseconds, as ovsdb-server's clock: the first attempt sees exactly 0 ms elapsed
    // (so a failed `wait` with timeout 0 reads "where" clause test failed) and a timed-out one
    // reports an integral number of ms.
    const b: BlockedTxn = {
      id,
      db,
      ops,
      startedAt: Math.floor(this.host.clock.now()),
      timer: undefined,
    };
    return this.runTxn(key, b, true);
  }

  /** Runs (or re-runs) a transaction; parks it when blocked. */
  private runTxn(key: string, b: BlockedTxn, first: boolean): Promise<void> | undefined {
    const now = first ? b.startedAt : Math.floor(this.host.clock.now());
    const out = b.db.transact(b.ops, {
      hasLock: (name) => this.host.locks.isOwner(this, name),
      now,
      startedAt: b.startedAt,
    });
    if (out.status === 'blocked') {
      if (first) {
        // A second blocked transact with the same id replaces nothing: ids are the client's
        // business, but keep both by disambiguating the key.
        let k = key;
        for (let i = 1; this.blocked.has(k); i++) k = `${key}#${i}`;
        this.blocked.set(k, b);
        key = k;
      }
      this.host.clock.clearTimeout(b.timer);
      b.timer = this.host.clock.setTimeout(
        () => {
          b.timer = undefined;
          if (this.blocked.get(key) === b) this.tryBlocked(key, b);
        },
        Math.max(0, out.retryAt - now),
      );
      return undefined;
    }
    if (!first) {
      this.blocked.delete(key);
      this.host.clock.clearTimeout(b.timer);
    }
    if (out.commit && out.durable) {
      const commit = out.commit;
      return this.host.waitDurable(b.db.name, commit).then(
        () => this.reply(b.id, out.result),
        (err: unknown) => {
          log.error({ err }, 'durable commit failed');
          this.replyError(b.id, new OvsdbError('ioError', String((err as Error)?.message ?? err)));
        },
      );
    }
    this.reply(b.id, out.result);
    return undefined;
  }

  private tryBlocked(key: string, b: BlockedTxn): void {
    if (this.closed) return;
    const p = this.runTxn(key, b, false);
    if (p) p.catch((err: unknown) => this.internalError(b.id, err));
  }

  private cancel(params: Json): void {
    const p = Array.isArray(params) ? params : [];
    if (p.length !== 1) return;
    const key = jsonToSortedString(p[0]!);
    for (const [k, b] of this.blocked) {
      if (k === key || k.startsWith(`${key}#`)) {
        this.blocked.delete(k);
        this.host.clock.clearTimeout(b.timer);
        this.replyError(b.id, 'canceled');
        return;
      }
    }
  }

  private monitor(version: MonitorVersion, p: Json[], id: Json): void {
    const method =
      version === 1 ? 'monitor' : version === 2 ? 'monitor_cond' : 'monitor_cond_since';
    const n = version === 3 ? 4 : 3;
    if (typeof p[0] === 'string' && !this.host.database(p[0])) {
      this.lookupDb(method, p, id);
      return;
    }
    if (p.length !== n || typeof p[0] !== 'string') {
      this.replyError(id, syntaxError('invalid parameters', jsonToSortedString(p)));
      return;
    }
    const db = this.host.database(p[0])!;
    if (version === 3) {
      const last = p[3]!;
      if (typeof last !== 'string' || !isUuid(last)) {
        this.replyError(
          id,
          syntaxError('last-txn-id must be UUID format.', jsonToSortedString(last)),
        );
        return;
      }
    }
    const monId = p[1]!;
    const key = monitorKey(monId);
    if (this.monitors.has(key)) {
      this.replyError(id, syntaxError('duplicate monitor ID', jsonToSortedString(monId)));
      return;
    }
    let m: Monitor;
    try {
      m = Monitor.parse(db, monId, version, p[2]!, {
        compileCondition: this.host.compileCondition,
      });
    } catch (err) {
      if (err instanceof OvsdbError) {
        this.replyError(id, err);
        return;
      }
      throw err;
    }
    const initial = m.initial();
    this.monitors.set(key, m);
    this.reply(id, version === 3 ? [false, ZERO_UUID, initial] : initial);
  }

  private monitorCondChange(p: Json[], id: Json): void {
    if (p.length !== 3) {
      this.replyError(id, syntaxError('invalid parameters', jsonToSortedString(p)));
      return;
    }
    const oldKey = monitorKey(p[0]!);
    const m = this.monitors.get(oldKey);
    if (!m) {
      this.replyError(id, syntaxError('unknown monitor session', jsonToSortedString(p[0]!)));
      return;
    }
    const newKey = monitorKey(p[1]!);
    if (newKey !== oldKey && this.monitors.has(newKey)) {
      this.replyError(id, syntaxError('duplicate monitor ID', jsonToSortedString(p[1]!)));
      return;
    }
    // Changes committed under the old condition go out under the old condition (and id).
    const pending = m.takeUpdates();
    if (pending) this.sendUpdate(m, pending);
    let updates: Json | undefined;
    try {
      updates = m.changeConditions(p[2]!);
    } catch (err) {
      if (err instanceof OvsdbError) {
        this.replyError(id, err);
        return;
      }
      throw err;
    }
    if (newKey !== oldKey) {
      this.monitors.delete(oldKey);
      m.id = p[1]!;
      this.monitors.set(newKey, m);
    }
    if (updates) this.sendUpdate(m, updates);
    this.reply(id, {});
  }

  private monitorCancel(p: Json[], id: Json): void {
    if (p.length !== 1) {
      this.replyError(id, 'invalid parameters');
      return;
    }
    const key = monitorKey(p[0]!);
    const m = this.monitors.get(key);
    if (!m) {
      this.replyError(id, 'unknown monitor');
      return;
    }
    // Changes the client has not seen yet are dropped with the monitor.
    this.monitors.delete(key);
    this.reply(id, {});
  }

  private lock(method: 'lock' | 'steal', p: Json[], id: Json): void {
    try {
      const name = LockManager.parseLockName(method, p);
      const r = this.host.locks.lock(this, name, method);
      this.reply(id, { locked: r.locked });
    } catch (err) {
      if (err instanceof LockError) {
        this.replyError(id, syntaxError(err.details, jsonToSortedString(p)));
        return;
      }
      throw err;
    }
  }

  private unlock(p: Json[], id: Json): void {
    try {
      const name = LockManager.parseLockName('unlock', p);
      this.host.locks.unlock(this, name);
      this.reply(id, {});
    } catch (err) {
      if (err instanceof LockError) {
        this.replyError(id, syntaxError(err.details, jsonToSortedString(p)));
        return;
      }
      throw err;
    }
  }
}

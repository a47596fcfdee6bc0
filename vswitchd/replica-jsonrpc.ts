/**
 * The JSON-RPC replica (OVS's IDL as ovs-vswitchd uses it): vswitchd runs against a separate OVSDB
 * server — tsvs's own (`tsvs start --no-vswitchd`) or Open vSwitch's `ovsdb-server` — reached at
 * `unix:PATH` or `tcp:IP:PORT`.
 *
 * On every connection: `get_schema`, then `lock` on `ovs_vswitchd`. While another client holds the
 * lock the replica presents an empty database (so the reconciler runs no bridge) and logs, as
 * ovs-vswitchd does, "another ovs-vswitchd process is running, disabling this process (pid N)
 * until it goes away"; once the server sends `locked` it monitors (RFC 7047 `monitor`) every table
 * and column both its schema and the server's have, and keeps the rows in a local
 * {@link Database} (updates applied raw with {@link Database.applyReplicated}: the server already
 * checked them). Every commit is a `transact` whose first operation is
 * `{"op":"assert","lock":"ovs_vswitchd"}`, so a process that lost the lock cannot write.
 *
 * When the connection drops the rows are kept (bridges keep forwarding) and the replica reconnects
 * with backoff (immediately, then 1 s doubling up to 8 s, as OVS's reconnect); the first monitor
 * reply after reconnecting replaces the local rows in one change.
 */
import * as net from 'node:net';
import type { Clock, TimerHandle } from '../lib/clock.js';
import { counter } from '../lib/counters.js';
import { isJsonObject, type Json, type JsonObject } from '../lib/json.js';
import { JsonRpcSession } from '../lib/jsonrpc.js';
import { getLogger } from '../lib/log.js';
import { StreamTransport, type Transport } from '../lib/transport.js';
import { Database } from '../ovsdb/database.js';
import { datumFromJson, datumToJson } from '../ovsdb/datum.js';
import { parseRemote } from '../ovsdb/remotes.js';
import { parseSchema, vswitchDbSchema } from '../ovsdb/schema.js';
import type { DatabaseSchema, Row } from '../ovsdb/types.js';
import {
  transactError,
  type OvsdbReplica,
  type ReplicaChangeListener,
  type ReplicaCommitResult,
} from './replica.js';

const log = getLogger('replica');
const cConnect = counter('replica_connect', 'vswitchd', 'connections to the OVSDB server');
const cCommitFailed = counter(
  'replica_commit_failed',
  'vswitchd',
  'replica transactions that did not commit',
);

/** The lock ovs-vswitchd takes (vswitchd/bridge.c). */
export const VSWITCHD_LOCK = 'ovs_vswitchd';
/** First reconnect delay (OVS reconnect: 1 s). */
export const REPLICA_MIN_BACKOFF_MS = 1000;
/** Largest reconnect delay (OVS reconnect default: 8 s). */
export const REPLICA_MAX_BACKOFF_MS = 8000;
/** Give up a connection attempt after this long. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Where a {@link JsonRpcReplica} is in its life:
 * - `idle`: not started; `connecting`: no session (connecting or waiting to reconnect);
 * - `locking`: connected, waiting for the lock (another process may hold it: `contended`);
 * - `syncing`: lock held, waiting for the monitor's first contents;
 * - `ready`: lock held and rows current: commits are sent;
 * - `closed`: {@link JsonRpcReplica.close} was called.
 */
export type ReplicaState = 'idle' | 'connecting' | 'locking' | 'syncing' | 'ready' | 'closed';

/** Options of a {@link JsonRpcReplica}. */
export interface JsonRpcReplicaOptions {
  /** The server: `unix:PATH` or `tcp:IP:PORT`. */
  remote: string;
  /** Time source (backoff, probes). */
  clock: Clock;
  /** Our idea of the schema (the local mirror's). Default: our vswitch.ovsschema. */
  schema?: DatabaseSchema;
  /** Database name on the server (default the schema's, `Open_vSwitch`). */
  dbName?: string;
  /** Lock to take (default {@link VSWITCHD_LOCK}). */
  lockName?: string;
  /** Opens the byte stream (tests use an in-memory pair). Default: from `remote`. */
  connect?: () => Promise<Transport>;
  /** Inactivity probe interval, ms (default 0 for unix sockets, 5000 for TCP, as OVS). */
  probeIntervalMs?: number;
  /** First reconnect delay (default {@link REPLICA_MIN_BACKOFF_MS}). */
  minBackoffMs?: number;
  /** Largest reconnect delay (default {@link REPLICA_MAX_BACKOFF_MS}). */
  maxBackoffMs?: number;
}

/** Opens a unix or TCP stream to an OVSDB server given as `unix:PATH` or `tcp:IP:PORT`. */
export function connectRemote(remote: string, clock: Clock): Promise<Transport> {
  const spec = parseRemote(remote);
  return new Promise((resolve, reject) => {
    let sock: net.Socket;
    if (spec.kind === 'unix') sock = net.connect(spec.path);
    else if (spec.kind === 'tcp') sock = net.connect(spec.port, spec.host);
    else {
      reject(new Error(`${remote}: vswitchd connects to unix:PATH or tcp:IP:PORT`));
      return;
    }
    const timer = clock.setTimeout(() => {
      sock.destroy();
      reject(new Error('connection timed out'));
    }, CONNECT_TIMEOUT_MS);
    sock.once('error', (e) => {
      clock.clearTimeout(timer);
      reject(e);
    });
    sock.once('connect', () => {
      clock.clearTimeout(timer);
      sock.removeAllListeners('error');
      resolve(new StreamTransport(sock, remote));
    });
  });
}

type TableColumns = Map<string, string[]>;

/** The replica of a remote OVSDB server (see the module comment). */
export class JsonRpcReplica implements OvsdbReplica {
  /** The local mirror of the server's rows. */
  readonly db: Database;
  private readonly opts: JsonRpcReplicaOptions;
  private readonly dbName: string;
  private readonly lockName: string;
  private st: ReplicaState = 'idle';
  private session: JsonRpcSession | undefined;
  /** Connection generation: callbacks of an older connection are ignored. */
  private gen = 0;
  private backoff = 0;
  private timer: TimerHandle | undefined;
  private lockReplied = false;
  private lockNotified = false;
  private lockContended = false;
  private monitorId: string | undefined;
  private monitorReady = false;
  private pendingUpdates: Json[] = [];
  private monitored: TableColumns = new Map();
  private monitorSeq = 0;
  private waiters: (() => void)[] = [];
  private stateListeners: ((s: ReplicaState) => void)[] = [];

  constructor(opts: JsonRpcReplicaOptions) {
    this.opts = opts;
    const schema = opts.schema ?? vswitchDbSchema();
    this.db = new Database(schema);
    this.dbName = opts.dbName ?? schema.name;
    this.lockName = opts.lockName ?? VSWITCHD_LOCK;
  }

  /** Where the replica is (see {@link ReplicaState}). */
  get state(): ReplicaState {
    return this.st;
  }

  /** True while the server says another client holds the lock. */
  get contended(): boolean {
    return this.lockContended;
  }

  /** Calls `fn` on every state change; returns the function that removes it. */
  onState(fn: (s: ReplicaState) => void): () => void {
    this.stateListeners.push(fn);
    return () => {
      const i = this.stateListeners.indexOf(fn);
      if (i >= 0) this.stateListeners.splice(i, 1);
    };
  }

  /** Resolves once the replica is `ready` (lock held, rows current); at once if it is. */
  whenReady(): Promise<void> {
    if (this.st === 'ready') return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  rows(table: string): ReadonlyMap<string, Row> {
    return this.db.rows(table);
  }

  getRow(table: string, uuid: string): Row | undefined {
    return this.db.getRow(table, uuid);
  }

  onChange(fn: ReplicaChangeListener): () => void {
    return this.db.onCommit((c) => fn(new Set(c.tables.keys())));
  }

  async commit(ops: readonly Json[]): Promise<ReplicaCommitResult> {
    const session = this.session;
    if (this.st !== 'ready' || !session) {
      cCommitFailed.inc();
      return {
        status: 'error',
        error: this.lockContended ? `lock ${this.lockName} is held by another process` : this.st,
      };
    }
    let r: Json;
    try {
      r = await session.request('transact', [
        this.dbName,
        { op: 'assert', lock: this.lockName },
        ...ops,
      ]);
    } catch (e) {
      cCommitFailed.inc();
      return { status: 'error', error: (e as Error).message };
    }
    if (!Array.isArray(r)) {
      cCommitFailed.inc();
      return { status: 'error', error: 'malformed transact reply' };
    }
    const err = transactError(r);
    const result = r.slice(1);
    if (err !== undefined) {
      cCommitFailed.inc();
      return { status: 'error', error: err, result };
    }
    return { status: 'ok', result };
  }

  start(): Promise<void> {
    if (this.st !== 'idle') return Promise.resolve();
    this.setState('connecting');
    void this.runConnection(++this.gen);
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.st === 'closed') return Promise.resolve();
    this.setState('closed');
    this.gen++;
    this.opts.clock.clearTimeout(this.timer);
    const s = this.session;
    this.session = undefined;
    s?.close();
    return Promise.resolve();
  }

  // ------------------------------------------------------------------ connection

  private setState(s: ReplicaState): void {
    if (this.st === s) return;
    this.st = s;
    for (const fn of this.stateListeners.slice()) fn(s);
    if (s === 'ready') for (const w of this.waiters.splice(0)) w();
  }

  private async runConnection(gen: number): Promise<void> {
    let transport: Transport;
    try {
      transport = await (
        this.opts.connect ?? (() => connectRemote(this.opts.remote, this.opts.clock))
      )();
    } catch (e) {
      if (gen !== this.gen) return;
      log.warn(
        { remote: this.opts.remote, err: (e as Error).message },
        `${this.opts.remote}: connection attempt failed`,
      );
      this.scheduleReconnect();
      return;
    }
    if (gen !== this.gen) {
      transport.close();
      return;
    }
    cConnect.inc();
    const unix = this.opts.remote.startsWith('unix:');
    const session = new JsonRpcSession(transport, {
      clock: this.opts.clock,
      probeIntervalMs: this.opts.probeIntervalMs ?? (unix ? 0 : 5000),
      name: this.opts.remote,
    });
    this.session = session;
    this.lockReplied = false;
    this.lockNotified = false;
    this.monitorId = undefined;
    this.monitorReady = false;
    session.onNotification((m, p) => this.onNotification(gen, m, p));
    session.on('close', (err) => this.onClose(gen, err));
    log.info({ remote: this.opts.remote }, `${this.opts.remote}: connected`);
    this.setState('locking');
    try {
      const schemaJson = await session.request('get_schema', [this.dbName]);
      if (gen !== this.gen) return;
      this.monitored = this.monitorColumns(parseSchema(schemaJson));
      const r = await session.request('lock', [this.lockName]);
      if (gen !== this.gen) return;
      this.lockReplied = true;
      if ((isJsonObject(r) && r.locked === true) || this.lockNotified) await this.startMonitor(gen);
      else this.becomeContended();
    } catch (e) {
      if (gen !== this.gen) return;
      log.warn({ remote: this.opts.remote, err: (e as Error).message }, 'database session failed');
      session.close();
    }
  }

  private onClose(gen: number, err?: Error): void {
    if (gen !== this.gen || this.st === 'closed') return;
    this.session = undefined;
    this.monitorReady = false;
    this.monitorId = undefined;
    log.warn(
      { remote: this.opts.remote, ...(err ? { err: err.message } : {}) },
      `${this.opts.remote}: connection dropped`,
    );
    // The rows stay: the bridges keep running until the database is back.
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.st === 'closed') return;
    this.setState('connecting');
    const min = this.opts.minBackoffMs ?? REPLICA_MIN_BACKOFF_MS;
    const max = this.opts.maxBackoffMs ?? REPLICA_MAX_BACKOFF_MS;
    this.backoff = this.backoff === 0 ? min : Math.min(max, this.backoff * 2);
    const gen = ++this.gen;
    this.opts.clock.clearTimeout(this.timer);
    this.timer = this.opts.clock.setTimeout(() => void this.runConnection(gen), this.backoff);
  }

  private onNotification(gen: number, method: string, params: Json[]): void {
    if (gen !== this.gen) return;
    switch (method) {
      case 'locked':
        if (params[0] !== this.lockName) return;
        this.lockNotified = true;
        if (this.lockReplied) void this.startMonitor(gen);
        return;
      case 'stolen':
        if (params[0] !== this.lockName) return;
        log.warn({ lock: this.lockName }, 'the lock was stolen by another client');
        this.lockNotified = false;
        if (this.monitorId !== undefined && this.session)
          void this.session.request('monitor_cancel', [this.monitorId]).catch(() => undefined);
        // We stay queued for the lock: the server sends `locked` when the thief lets it go.
        this.becomeContended();
        return;
      case 'update': {
        if (params[0] !== this.monitorId || this.monitorId === undefined) return;
        const upd = params[1] ?? null;
        if (!this.monitorReady) this.pendingUpdates.push(upd);
        else this.applyUpdates(upd);
        return;
      }
      default:
        return;
    }
  }

  private becomeContended(): void {
    this.monitorId = undefined;
    this.monitorReady = false;
    this.pendingUpdates = [];
    if (!this.lockContended) {
      log.error(
        `another ovs-vswitchd process is running, disabling this process (pid ${process.pid}) until it goes away`,
      );
    }
    this.lockContended = true;
    this.setState('locking');
    // No bridges while another process runs them: present an empty database.
    this.clearRows();
  }

  private async startMonitor(gen: number): Promise<void> {
    const session = this.session;
    if (!session || this.monitorId !== undefined || gen !== this.gen) return;
    if (this.lockContended)
      log.info({ lock: this.lockName }, 'lock acquired; enabling this process');
    this.lockContended = false;
    this.setState('syncing');
    const id = `tsvs-vswitchd-${++this.monitorSeq}`;
    this.monitorId = id;
    this.monitorReady = false;
    this.pendingUpdates = [];
    const req: JsonObject = {};
    for (const [t, cols] of this.monitored) req[t] = { columns: cols };
    let initial: Json;
    try {
      initial = await session.request('monitor', [this.dbName, id, req]);
    } catch (e) {
      if (gen !== this.gen || this.monitorId !== id) return;
      log.warn({ err: (e as Error).message }, 'monitor request failed');
      session.close();
      return;
    }
    if (gen !== this.gen || this.monitorId !== id) return;
    this.replaceRows(initial);
    this.monitorReady = true;
    for (const u of this.pendingUpdates.splice(0)) this.applyUpdates(u);
    this.backoff = 0;
    this.setState('ready');
  }

  /** The tables and columns both schemas have (ours is the mirror's, the server's is the truth). */
  private monitorColumns(server: DatabaseSchema): TableColumns {
    const out: TableColumns = new Map();
    for (const [name, ours] of this.db.schema.tables) {
      const theirs = server.tables.get(name);
      if (!theirs) continue;
      const cols = ours.columnList.map((c) => c.name).filter((c) => theirs.columns.has(c));
      if (cols.length > 0) out.set(name, cols);
    }
    return out;
  }

  // ------------------------------------------------------------------ rows

  /** Applies a monitor `update` (table → uuid → {old, new}). */
  private applyUpdates(updates: Json): void {
    if (!isJsonObject(updates)) return;
    const record: JsonObject = {};
    for (const [t, rows] of Object.entries(updates)) {
      if (!this.monitored.has(t) || !isJsonObject(rows)) continue;
      const out: JsonObject = {};
      for (const [uuid, ru] of Object.entries(rows)) {
        if (!isJsonObject(ru)) continue;
        const nw = ru.new;
        // "new" carries every monitored column (RFC 7047 §4.1.6); absent means deleted.
        out[uuid] = isJsonObject(nw) ? nw : null;
      }
      record[t] = out;
    }
    this.apply(record);
  }

  /** Replaces every local row by the monitor's initial contents, in one change. */
  private replaceRows(initial: Json): void {
    const init = isJsonObject(initial) ? initial : {};
    const record: JsonObject = {};
    for (const [t, cols] of this.monitored) {
      const ts = this.db.schema.tables.get(t)!;
      const rows = init[t];
      const given = isJsonObject(rows) ? rows : {};
      const out: JsonObject = {};
      for (const uuid of this.db.rows(t).keys()) if (!(uuid in given)) out[uuid] = null;
      for (const [uuid, ru] of Object.entries(given)) {
        if (!isJsonObject(ru) || !isJsonObject(ru.new)) continue;
        const row: JsonObject = {};
        for (const c of cols) {
          const v = ru.new[c];
          row[c] =
            v !== undefined ? v : datumToJson(ts.columns.get(c)!.default, ts.columns.get(c)!.type);
        }
        out[uuid] = row;
      }
      record[t] = out;
    }
    this.apply(record);
  }

  /** Deletes every local row (one change). */
  private clearRows(): void {
    const record: JsonObject = {};
    for (const t of this.db.schema.tables.keys()) {
      const rows = this.db.rows(t);
      if (rows.size === 0) continue;
      const out: JsonObject = {};
      for (const uuid of rows.keys()) out[uuid] = null;
      record[t] = out;
    }
    this.apply(record);
  }

  /**
   * Applies a record to the mirror. A value our schema cannot hold (the server's schema differs)
   * drops that column, with a warning, rather than the whole update.
   */
  private apply(record: JsonObject): void {
    try {
      this.db.applyReplicated(record);
      return;
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'update does not fit our schema; filtering it');
    }
    const clean: JsonObject = {};
    for (const [t, rows] of Object.entries(record)) {
      const ts = this.db.schema.tables.get(t);
      if (!ts || !isJsonObject(rows)) continue;
      const out: JsonObject = {};
      for (const [uuid, row] of Object.entries(rows)) {
        if (!isJsonObject(row)) {
          out[uuid] = null;
          continue;
        }
        const r: JsonObject = {};
        for (const [c, v] of Object.entries(row)) {
          const col = ts.columns.get(c);
          if (!col) continue;
          try {
            datumFromJson(v, col.type, undefined, true);
            r[c] = v;
          } catch {
            log.warn({ table: t, column: c }, 'value does not fit our schema; column ignored');
          }
        }
        out[uuid] = r;
      }
      clean[t] = out;
    }
    try {
      this.db.applyReplicated(clean);
    } catch (e) {
      log.error({ err: (e as Error).message }, 'cannot apply database update');
    }
  }
}

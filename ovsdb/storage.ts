/**
 * Durable storage of one database in OVS's standalone file format (ovsdb(5)): record 0 is the
 * schema, every later record a transaction (see file-format.ts for the record bodies and
 * log.ts for the framing). ovsdb-server 3.1 and ovsdb-tool read our files and we read theirs.
 *
 * Life cycle:
 * 1. {@link Storage.open} reads the file (or creates it from a schema), replays every
 *    transaction at the JSON level (including OVS 2.15+ column diffs) and cuts a torn or corrupt
 *    tail off (with a warning), keeping every complete record before it.
 * 2. {@link Storage.attach} loads the result into the engine as one insert-only record, follows
 *    the engine's commits (each one becomes a record, appended in commit order) and uses the
 *    engine's snapshot for compaction. Without an engine, {@link Storage.takeLoadedData},
 *    {@link Storage.commit} and {@link Storage.setSnapshotSource} do the same by hand.
 * 3. A durable commit resolves only after fdatasync; commits made in one event-loop turn share one
 *    write and one sync.
 * 4. Compaction writes `<file>.tmp` with the schema and one snapshot record, syncs it, renames it
 *    over the file and syncs the directory: on demand ({@link Storage.compact}, for
 *    `ovsdb-server/compact`) or automatically by OVS's rules (not before 10–20 minutes after open
 *    or the last compaction; then when the log holds ≥ 100 records and is larger than 10 MiB and
 *    more than twice its size after the last compaction; after 24 hours whenever a commit arrives).
 *    Every threshold is an option.
 *
 * Not implemented: OVS's `.<file>.~lock~` advisory lock (Node cannot take fcntl locks), so do
 * not run ovsdb-server and tsvswitch on one file at the same time; clustered databases (refused
 * with a clear error).
 */
import { stat } from 'node:fs/promises';
import type { Json, JsonObject } from '../lib/json.js';
import { RealClock, type Clock } from '../lib/clock.js';
import { getLogger } from '../lib/log.js';
import { counter } from '../lib/counters.js';
import { LogError, LogFile, MAGIC_STANDALONE } from './log.js';
import {
  FileFormatError,
  ReplayState,
  commitToRecord,
  parseSchemaForStorage,
  snapshotToRecord,
  type CommitLike,
  type FSchema,
} from './file-format.js';

export {
  COMPACT_COMMENT,
  type CommitLike,
  type RowChangeLike,
  type RowLike,
  type FSchema,
} from './file-format.js';

const log = getLogger('ovsdb_storage');
const cntCommits = counter(
  'ovsdb_storage_commits',
  'ovsdb_storage',
  'transactions written to database files',
);
const cntCompactions = counter(
  'ovsdb_storage_compactions',
  'ovsdb_storage',
  'database file compactions',
);

/** Why opening, writing or compacting a database file failed. */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(
    message: string,
    /** The underlying log error, when there is one (its `kind` says e.g. `clustered`). */
    readonly logError?: LogError,
  ) {
    super(message);
  }
}

/** When to compact automatically (OVS's rules by default). */
export interface CompactionPolicy {
  /** Compact automatically at all (default true; on-demand compaction always works). */
  readonly enabled?: boolean;
  /** Minimum number of records in the log, schema included (default 100). */
  readonly minRecords?: number;
  /** The file must be larger than this many bytes (default 10 MiB). */
  readonly minBytes?: number;
  /** Earliest compaction after open/last compaction, in ms (default 10 min) … */
  readonly minIntervalMs?: number;
  /** … plus a random delay up to this many ms (default 10 min). */
  readonly jitterMs?: number;
  /** After this many ms any commit triggers a compaction (default 24 h). */
  readonly maxIntervalMs?: number;
}

/** Options of {@link Storage.open}. */
export interface StorageOpenOptions {
  /** Create the file with this schema (record 0) if it does not exist. */
  readonly create?: JsonObject;
  /** Open for reading only: no writes, no tail repair. */
  readonly readOnly?: boolean;
  /** Time source (monotonic for the compaction schedule, wall clock for `_date`). */
  readonly clock?: Clock;
  /** Automatic compaction thresholds. */
  readonly compaction?: CompactionPolicy;
  /** Random source in [0,1) for the compaction jitter (default Math.random). */
  readonly random?: () => number;
}

/** What storage needs from the engine (ovsdb/database.ts `Database`, structurally). */
export interface DatabaseLike {
  /** Applies a record body while loading: rows get the given columns, absent rows are inserted. */
  applyLogRecord(record: Json): void;
  /** Calls `fn` synchronously after each commit, in commit order; returns an unsubscribe function. */
  onCommit(fn: (commit: CommitLike) => void): () => void;
  /** All rows, `{table: {uuid: {column: json}}}`, for compaction. */
  snapshot(): Readonly<Record<string, Json>>;
}

/** Counters and sizes, for appctl and tests. */
export interface StorageStats {
  /** File path. */
  readonly path: string;
  /** Logical file size in bytes. */
  readonly bytes: number;
  /** Size after the last compaction (or after the first two records at open). */
  readonly baseBytes: number;
  /** Records in the log (schema included). */
  readonly records: number;
  /** Compactions done since open. */
  readonly compactions: number;
  /** Bytes dropped from a torn or corrupt tail at open (0 if none). */
  readonly repairedBytes: number;
}

const DEFAULT_POLICY: Required<CompactionPolicy> = {
  enabled: true,
  minRecords: 100,
  minBytes: 10 * 1024 * 1024,
  minIntervalMs: 10 * 60 * 1000,
  jitterMs: 10 * 60 * 1000,
  maxIntervalMs: 24 * 60 * 60 * 1000,
};

/** An open database file. */
export class Storage {
  private loaded: ReplayState | undefined;
  private snapshotSource: (() => Readonly<Record<string, Json>>) | undefined;
  private readonly policy: Required<CompactionPolicy>;
  private readonly clock: Clock;
  private readonly random: () => number;
  private nextMin = 0;
  private nextMax = 0;
  private compacting: Promise<void> | undefined;
  private compactCheckPending = false;
  private compactions = 0;
  private readonly pendingByCommit = new WeakMap<object, Promise<void>>();
  private closed = false;

  private constructor(
    /** The file's path. */
    readonly path: string,
    /** The schema of record 0. */
    readonly schema: FSchema,
    private readonly file: LogFile,
    loaded: ReplayState,
    /** Bytes cut from a torn tail at open. */
    private readonly repairedBytes: number,
    opts: StorageOpenOptions,
  ) {
    this.loaded = loaded;
    this.policy = { ...DEFAULT_POLICY, ...opts.compaction };
    this.clock = opts.clock ?? new RealClock();
    this.random = opts.random ?? Math.random;
    this.schedule(false);
  }

  /**
   * Opens (or with `create`, creates if missing) a standalone database file and replays it.
   * Throws {@link StorageError}: missing file without `create`, no schema record, a clustered
   * database, a record that does not apply (e.g. deletes a missing row). A torn or corrupt tail
   * is not an error: it is logged, and cut off unless `readOnly`.
   */
  static async open(path: string, opts: StorageOpenOptions = {}): Promise<Storage> {
    const exists = await stat(path).then(
      () => true,
      (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return false;
        throw new StorageError(`${path}: ${e.message}`);
      },
    );
    if (!exists) {
      if (!opts.create) throw new StorageError(`${path}: database file does not exist`);
      if (opts.readOnly) throw new StorageError(`${path}: cannot create a database read-only`);
      let schema: FSchema;
      try {
        schema = parseSchemaForStorage(opts.create);
      } catch (e) {
        throw new StorageError(`${path}: bad schema: ${(e as Error).message}`);
      }
      const file = await LogFile.create(path, [schema.json], MAGIC_STANDALONE).catch((e: Error) => {
        throw new StorageError(`${path}: ${e.message}`, e instanceof LogError ? e : undefined);
      });
      log.info(`${path}: created database ${schema.name} ${schema.version}`);
      return new Storage(path, schema, file, new ReplayState(schema), 0, opts);
    }

    const file = await LogFile.open(path, { mode: opts.readOnly ? 'read' : 'write' }).catch(
      (e: Error) => {
        throw new StorageError(e.message, e instanceof LogError ? e : undefined);
      },
    );
    let schema: FSchema | undefined;
    let state: ReplayState | undefined;
    try {
      for await (const rec of file.read()) {
        if (!schema || !state) {
          try {
            schema = parseSchemaForStorage(rec.json);
          } catch (e) {
            throw new StorageError(
              `${path}: failed to parse record 0 as an OVSDB schema: ${(e as Error).message}`,
            );
          }
          state = new ReplayState(schema);
          continue;
        }
        try {
          state.apply(rec.json);
        } catch (e) {
          throw new StorageError(
            `${path}: transaction at offset ${rec.offset}: ${(e as Error).message}`,
          );
        }
      }
      if (!schema || !state) {
        const why = file.tailError ? ` (${file.tailError.message})` : '';
        throw new StorageError(`${path}: database file contains no schema${why}`, file.tailError);
      }
    } catch (e) {
      await file.close().catch(() => undefined);
      if (e instanceof StorageError) throw e;
      if (e instanceof LogError) throw new StorageError(e.message, e);
      throw e;
    }
    let repaired = 0;
    if (file.tailError && !opts.readOnly) {
      repaired = await file.repairTail().catch(async (e: Error) => {
        await file.close().catch(() => undefined);
        throw new StorageError(`${path}: cannot truncate the corrupt tail: ${e.message}`);
      });
    }
    log.info(
      `${path}: opened database ${schema.name} ${schema.version}: ${file.recordsRead} record(s), ${state.rowCount} row(s)`,
    );
    return new Storage(path, schema, file, state, repaired, opts);
  }

  /** The schema JSON of record 0. */
  get schemaJson(): JsonObject {
    return this.schema.json;
  }

  /** True when the file was opened read-only. */
  get readOnly(): boolean {
    return this.file.mode === 'read';
  }

  /**
   * The rows loaded at open as one insert-only record body `{table: {uuid: {column: json}}}`
   * (columns at their default omitted). Releases the loaded copy: callable once.
   */
  takeLoadedData(): JsonObject {
    const s = this.loaded;
    if (!s) throw new StorageError(`${this.path}: loaded data was already taken`);
    this.loaded = undefined;
    return s.toRecord();
  }

  /**
   * Loads the file's rows into `db`, then writes every later commit of `db` (in commit order;
   * see {@link written} for the promise of one commit) and uses `db.snapshot()` for compaction.
   * Returns a function that stops following commits.
   */
  attach(db: DatabaseLike): () => void {
    const data = this.takeLoadedData();
    if (Object.keys(data).length > 0) db.applyLogRecord(data);
    this.setSnapshotSource(() => db.snapshot());
    if (this.readOnly) return () => undefined;
    return db.onCommit((c) => {
      const p = this.commit(c);
      // Failures are reported through written(); keep them from being unhandled here.
      p.catch(() => undefined);
      this.pendingByCommit.set(c, p);
    });
  }

  /**
   * The write of a commit seen by {@link attach}'s listener: resolves when its record is written
   * (and synced, for a durable commit). Undefined for a commit this storage did not see.
   */
  written(commit: object): Promise<void> | undefined {
    return this.pendingByCommit.get(commit);
  }

  /** Sets the source of compaction snapshots (the engine's `snapshot()`). */
  setSnapshotSource(fn: () => Readonly<Record<string, Json>>): void {
    this.snapshotSource = fn;
  }

  /**
   * Writes one committed transaction. Must be called synchronously in commit order (a snapshot
   * for compaction may be taken at any later point, and a record appended after a snapshot that
   * already holds its changes would be applied twice). Resolves when written, or with
   * `commit.durable` when synced. A commit that changes nothing persistent writes nothing.
   */
  commit(commit: CommitLike): Promise<void> {
    let body: JsonObject | undefined;
    try {
      this.checkWritable();
      body = commitToRecord(this.schema, commit, this.clock.wallNow());
    } catch (e) {
      return Promise.reject(
        e instanceof FileFormatError
          ? new StorageError(`${this.path}: ${e.message}`)
          : (e as Error),
      );
    }
    const durable = commit.durable ?? false;
    if (!body) return durable ? this.file.commit() : Promise.resolve();
    cntCommits.inc();
    const p = this.file.append(body, { durable });
    this.maybeCompactSoon();
    return p;
  }

  /** Appends a raw transaction record body (tests, tools). Same ordering rule as {@link commit}. */
  appendRecord(body: JsonObject, opts: { durable?: boolean } = {}): Promise<void> {
    const err = this.writeError();
    if (err) return Promise.reject(err);
    return this.file.append(body, opts);
  }

  /** Resolves when everything written so far is on stable storage. */
  sync(): Promise<void> {
    return this.readOnly ? Promise.resolve() : this.file.commit();
  }

  private writeError(): StorageError | undefined {
    if (this.closed) return new StorageError(`${this.path}: storage is closed`);
    if (this.readOnly) return new StorageError(`${this.path}: database is read-only`);
    return undefined;
  }

  private checkWritable(): void {
    const err = this.writeError();
    if (err) throw err;
  }

  private schedule(quick: boolean): void {
    const now = this.clock.now();
    const base = quick ? this.policy.minIntervalMs / 10 : this.policy.minIntervalMs;
    const jitter = quick ? this.policy.jitterMs / 10 : this.policy.jitterMs;
    this.nextMin = now + base + Math.floor(this.random() * jitter);
    if (!quick) this.nextMax = now + this.policy.maxIntervalMs;
  }

  /** Whether OVS's rules call for a compaction now. */
  shouldCompact(): boolean {
    if (!this.policy.enabled || this.compacting || this.readOnly || this.closed) return false;
    const now = this.clock.now();
    if (now < this.nextMin) return false;
    const records = this.file.recordsRead + this.file.recordsWritten;
    if (now < this.nextMax) {
      const size = this.file.offset + this.file.pendingBytes;
      const grewLots = size > this.policy.minBytes && size / 2 > this.file.base;
      return records >= this.policy.minRecords && grewLots;
    }
    return records > 0;
  }

  /**
   * Checks the compaction rules after a commit. The snapshot is taken on the next turn, outside
   * the engine's commit listener; that is still consistent, because the snapshot and the queueing
   * of the replacement happen in one synchronous step, after every earlier commit's append.
   */
  private maybeCompactSoon(): void {
    if (!this.snapshotSource || this.compactCheckPending || !this.shouldCompact()) return;
    this.compactCheckPending = true;
    setImmediate(() => {
      this.compactCheckPending = false;
      if (!this.shouldCompact()) return;
      this.compact().catch((e: Error) =>
        log.warn(`${this.path}: automatic compaction failed: ${e.message}`),
      );
    });
  }

  /**
   * Rewrites the file as the schema plus one snapshot record of every row (temp file, sync,
   * atomic rename, directory sync). The snapshot is taken now, synchronously, so it holds exactly
   * the commits written before this call; commits after it go to the new file. Concurrent calls
   * share one compaction. Rejects (leaving the old file in use) on failure.
   */
  compact(): Promise<void> {
    if (this.compacting) return this.compacting;
    let body: JsonObject;
    try {
      this.checkWritable();
      if (!this.snapshotSource)
        throw new StorageError(`${this.path}: no snapshot source to compact from`);
      body = snapshotToRecord(this.schema, this.snapshotSource(), this.clock.wallNow());
    } catch (e) {
      return Promise.reject(
        e instanceof FileFormatError
          ? new StorageError(`${this.path}: ${e.message}`)
          : (e as Error),
      );
    }
    const before = this.file.offset + this.file.pendingBytes;
    const p = this.file.replace([this.schema.json, body]).then(
      () => {
        this.compactions++;
        cntCompactions.inc();
        this.schedule(false);
        log.info(`${this.path}: compacted from about ${before} to ${this.file.offset} bytes`);
      },
      (e: Error) => {
        this.schedule(true);
        throw new StorageError(
          `${this.path}: compaction failed: ${e.message}`,
          e instanceof LogError ? e : undefined,
        );
      },
    );
    this.compacting = p.finally(() => {
      this.compacting = undefined;
    });
    return this.compacting;
  }

  /** Resolves when no compaction is running (at once if none is); never rejects. */
  async compactionSettled(): Promise<void> {
    while (this.compacting) await this.compacting.catch(() => undefined);
  }

  /** Sizes and counts. */
  stats(): StorageStats {
    return {
      path: this.path,
      bytes: this.file.offset,
      baseBytes: this.file.base,
      records: this.file.recordsRead + this.file.recordsWritten,
      compactions: this.compactions,
      repairedBytes: this.repairedBytes,
    };
  }

  /** Waits for pending writes (and a running compaction), syncs and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.compacting) await this.compacting.catch(() => undefined);
    this.closed = true;
    await this.file.close();
  }
}

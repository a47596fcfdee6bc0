/**
 * OVS's database log file format (ovsdb(5), `ovsdb/log.c`): a sequence of records, each
 *
 *     OVSDB <magic> <length> <sha1>\n<body>
 *
 * where `<magic>` is `JSON` for a standalone database (`CLUSTER` for a clustered one, which we
 * refuse), `<length>` is the decimal byte length of `<body>`, `<sha1>` the 40-hex-digit SHA-1 of
 * those bytes, and `<body>` a JSON object followed by a newline that is counted in `<length>` and
 * covered by the hash (checked against files written by `ovsdb-tool create` and ovsdb-server
 * 3.1). The header line is at most 127 bytes (OVS reads it with a 128-byte buffer).
 *
 * {@link LogDecoder} is the pure, resumable codec (`push(chunk) → records`); {@link LogFile} does
 * the file I/O: streaming read with torn-tail detection and repair, batched appends with
 * fdatasync for durable commits, and atomic replacement for compaction.
 */
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { link, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseJson, stringifyJson, type Json, type JsonObject } from '../lib/json.js';
import { getLogger } from '../lib/log.js';
import { counter } from '../lib/counters.js';

const log = getLogger('ovsdb_log');
const cntRecordsWritten = counter(
  'ovsdb_log_records_written',
  'ovsdb_log',
  'records appended to database logs',
);
const cntWriteBatches = counter(
  'ovsdb_log_write_batches',
  'ovsdb_log',
  'write system calls batching appended records',
);
const cntSyncs = counter('ovsdb_log_syncs', 'ovsdb_log', 'fdatasync calls on database logs');
const cntTornTails = counter(
  'ovsdb_log_torn_tails',
  'ovsdb_log',
  'logs opened with a torn or corrupt tail',
);

/** Magic of a standalone database log. */
export const MAGIC_STANDALONE = 'JSON';
/** Magic of a clustered (Raft) database log. */
export const MAGIC_CLUSTER = 'CLUSTER';
/** Every header starts with this. */
const LEAD = 'OVSDB ';
/** Longest header line OVS accepts, newline included. */
export const MAX_HEADER_BYTES = 127;
/** Default cap on one record body (a corrupt length must not make us buffer the whole disk). */
export const DEFAULT_MAX_RECORD_BYTES = 1 << 30;

/** Why reading or writing a log failed. */
export type LogErrorKind =
  /** The header line is malformed (bad lead, magic, length, hash or no newline in time). */
  | 'header'
  /** The file ends inside a record. */
  | 'truncated'
  /** The body's SHA-1 differs from the header's. */
  | 'checksum'
  /** The body is not valid UTF-8 JSON. */
  | 'json'
  /** The body is valid JSON but not an object. */
  | 'not-object'
  /** A record's magic differs from the first record's. */
  | 'magic'
  /** The file is a clustered database, which this implementation does not support. */
  | 'clustered'
  /** The header announces a body larger than the configured maximum. */
  | 'too-large'
  /** A system call failed. */
  | 'io'
  /** The log was closed, or broke earlier and refuses further writes. */
  | 'closed';

/** An error reading or writing a log, with the byte offset of the offending record. */
export class LogError extends Error {
  override readonly name = 'LogError';
  constructor(
    /** What kind of failure. */
    readonly kind: LogErrorKind,
    message: string,
    /** Byte offset of the record (or write) concerned; -1 when not applicable. */
    readonly offset = -1,
  ) {
    super(message);
  }
}

/** One record read from a log. */
export interface LogRecord {
  /** Byte offset of the record's header in the file. */
  readonly offset: number;
  /** Total bytes of the record, header included. */
  readonly size: number;
  /** The record's magic (`JSON` for standalone files). */
  readonly magic: string;
  /** The parsed body (always a JSON object). */
  readonly json: JsonObject;
}

/** Serialises one record: header line plus body (compact JSON and a newline). */
export function encodeRecord(json: JsonObject, magic: string = MAGIC_STANDALONE): Buffer {
  const body = Buffer.from(stringifyJson(json) + '\n', 'utf8');
  const sha1 = createHash('sha1').update(body).digest('hex');
  const header = Buffer.from(`${LEAD}${magic} ${body.length} ${sha1}\n`, 'latin1');
  return Buffer.concat([header, body], header.length + body.length);
}

const HEADER_RE = /^OVSDB ([^ \n]+) ([0-9]+) ([0-9a-fA-F]{40})\n$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Options of {@link LogDecoder}. */
export interface LogDecoderOptions {
  /** Byte offset of the first byte pushed (default 0). */
  readonly startOffset?: number;
  /** Required magic; default: whatever the first record has, then every record must match. */
  readonly magic?: string;
  /** Maximum body size; larger announced lengths are an error. Default 1 GiB. */
  readonly maxRecordBytes?: number;
}

/**
 * Incremental decoder of a log byte stream. `push` returns the records completed by the chunk;
 * after the first bad record the decoder stops (its `error` says why and `goodOffset` where the
 * good prefix ends) and ignores further input. Call `end()` at end of file: bytes of an
 * unfinished record then become a `truncated` error. Never throws on bad input.
 */
export class LogDecoder {
  /** First error met, if any; decoding stopped there. */
  error: LogError | undefined;
  /** Offset just past the last complete, valid record. */
  goodOffset: number;
  /** Magic of the first record (or the required one). */
  magic: string | undefined;

  private readonly maxRecordBytes: number;
  /** Bytes of the current header line seen so far. */
  private header: Buffer[] = [];
  private headerLen = 0;
  /** Body being collected: expected length, chunks, hash so far. */
  private body:
    | {
        length: number;
        hash: string;
        got: number;
        chunks: Buffer[];
        sha: ReturnType<typeof createHash>;
        magic: string;
      }
    | undefined;
  private ended = false;

  constructor(opts: LogDecoderOptions = {}) {
    this.goodOffset = opts.startOffset ?? 0;
    this.magic = opts.magic;
    this.maxRecordBytes = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  }

  /** Feeds bytes; returns the records they complete. */
  push(chunk: Uint8Array): LogRecord[] {
    const out: LogRecord[] = [];
    if (this.error || this.ended) return out;
    let buf = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (buf.length > 0 && !this.error) {
      if (!this.body) {
        const nl = buf.indexOf(0x0a);
        const take = nl === -1 ? buf.length : nl + 1;
        if (this.headerLen + take > MAX_HEADER_BYTES) {
          this.fail(
            'header',
            `header line at offset ${this.goodOffset} is longer than ${MAX_HEADER_BYTES} bytes or lacks a newline`,
          );
          break;
        }
        this.header.push(buf.subarray(0, take));
        this.headerLen += take;
        buf = buf.subarray(take);
        if (nl === -1) {
          // Early rejection: the bytes seen must be a prefix of "OVSDB ".
          this.checkLeadPrefix();
          continue;
        }
        this.startBody();
      } else {
        const b = this.body;
        const take = Math.min(buf.length, b.length - b.got);
        const part = buf.subarray(0, take);
        b.chunks.push(part);
        b.sha.update(part);
        b.got += take;
        buf = buf.subarray(take);
        if (b.got === b.length) {
          const rec = this.finishBody();
          if (rec) out.push(rec);
        }
      }
    }
    return out;
  }

  /** Marks end of input; an unfinished record becomes a `truncated` error. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.error) return;
    if (this.body) {
      this.fail(
        'truncated',
        `record at offset ${this.goodOffset} is torn: ${this.body.got} of ${this.body.length} body bytes present (end of file)`,
      );
    } else if (this.headerLen > 0) {
      this.fail(
        'truncated',
        `record at offset ${this.goodOffset} is torn: end of file inside its header line`,
      );
    }
  }

  private fail(kind: LogErrorKind, message: string): void {
    this.error = new LogError(kind, message, this.goodOffset);
    this.header = [];
    this.body = undefined;
  }

  private checkLeadPrefix(): void {
    const seen = Buffer.concat(this.header, this.headerLen);
    const n = Math.min(seen.length, LEAD.length);
    if (seen.subarray(0, n).toString('latin1') !== LEAD.slice(0, n)) {
      this.fail('header', `bad header at offset ${this.goodOffset}: does not start with "${LEAD}"`);
    }
  }

  private startBody(): void {
    const line = Buffer.concat(this.header, this.headerLen).toString('latin1');
    this.header = [];
    const m = HEADER_RE.exec(line);
    if (!m) {
      this.fail(
        'header',
        `parse error at offset ${this.goodOffset} in header line ${JSON.stringify(line.replace(/\n$/, ''))}`,
      );
      return;
    }
    const magic = m[1]!;
    const length = Number(m[2]);
    if (this.magic === undefined) this.magic = magic;
    else if (magic !== this.magic) {
      this.fail(
        'magic',
        `record at offset ${this.goodOffset} has magic "${magic}" but the log's is "${this.magic}"`,
      );
      return;
    }
    if (!Number.isSafeInteger(length) || length === 0) {
      this.fail('header', `bad length in header at offset ${this.goodOffset}`);
      return;
    }
    if (length > this.maxRecordBytes) {
      this.fail(
        'too-large',
        `record at offset ${this.goodOffset} announces ${length} bytes, more than the ${this.maxRecordBytes} allowed`,
      );
      return;
    }
    this.body = {
      length,
      hash: m[3]!.toLowerCase(),
      got: 0,
      chunks: [],
      sha: createHash('sha1'),
      magic,
    };
  }

  private finishBody(): LogRecord | undefined {
    const b = this.body!;
    const dataOffset = this.goodOffset + this.headerLen;
    const actual = b.sha.digest('hex');
    if (actual !== b.hash) {
      this.fail(
        'checksum',
        `${b.length} bytes starting at offset ${dataOffset} have SHA-1 hash ${actual} but should have hash ${b.hash}`,
      );
      return undefined;
    }
    let json: Json;
    try {
      json = parseJson(utf8.decode(Buffer.concat(b.chunks, b.length)));
    } catch (e) {
      this.fail(
        'json',
        `${b.length} bytes starting at offset ${dataOffset} are not valid JSON (${(e as Error).message})`,
      );
      return undefined;
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      this.fail(
        'not-object',
        `${b.length} bytes starting at offset ${dataOffset} are not a JSON object`,
      );
      return undefined;
    }
    const rec: LogRecord = {
      offset: this.goodOffset,
      size: this.headerLen + b.length,
      magic: b.magic,
      json,
    };
    this.goodOffset += rec.size;
    this.headerLen = 0;
    this.body = undefined;
    return rec;
  }
}

/** Decodes a whole buffer: the good records and the error that stopped decoding, if any. */
export function decodeAll(
  buf: Uint8Array,
  opts: LogDecoderOptions = {},
): { records: LogRecord[]; error?: LogError; goodOffset: number } {
  const d = new LogDecoder(opts);
  const records = d.push(buf);
  d.end();
  return d.error
    ? { records, error: d.error, goodOffset: d.goodOffset }
    : { records, goodOffset: d.goodOffset };
}

/** How to open a {@link LogFile}. */
export interface LogOpenOptions {
  /** `read`: never written. `write`: read, then append (the torn tail, if any, is cut). */
  readonly mode: 'read' | 'write';
  /** Required magic (default {@link MAGIC_STANDALONE}). A `CLUSTER` file is refused either way. */
  readonly magic?: string;
  /** Maximum record body size accepted when reading. */
  readonly maxRecordBytes?: number;
  /** Read chunk size (default 1 MiB). */
  readonly readChunkBytes?: number;
}

/** Options of {@link LogFile.append}. */
export interface AppendOptions {
  /** Resolve only after the record is on stable storage (fdatasync). */
  readonly durable?: boolean;
}

type Op =
  | {
      kind: 'append';
      buf: Buffer;
      durable: boolean;
      resolve: () => void;
      reject: (e: Error) => void;
    }
  | { kind: 'sync'; resolve: () => void; reject: (e: Error) => void }
  | { kind: 'replace'; records: Buffer[]; resolve: () => void; reject: (e: Error) => void };

async function fsyncDir(path: string): Promise<void> {
  let h: FileHandle | undefined;
  try {
    h = await open(dirname(path), fsConstants.O_RDONLY);
    await h.sync();
  } catch (e) {
    // Some filesystems refuse fsync on directories; OVS ignores that too.
    log.debug({ err: e }, `fsync of directory of ${path} failed`);
  } finally {
    await h?.close();
  }
}

async function writeFully(h: FileHandle, bufs: Buffer[], position: number): Promise<number> {
  let total = 0;
  for (const b of bufs) total += b.length;
  let done = 0;
  let pending = bufs;
  while (done < total) {
    const { bytesWritten } = await h.writev(pending, position + done);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    done += bytesWritten;
    if (done < total) pending = [Buffer.concat(bufs).subarray(done)];
  }
  return total;
}

/**
 * Writes a complete new log file atomically: `<path>.tmp` gets the records and is fdatasync'd,
 * then renamed over `path` (or, with `exclusive`, hard-linked to `path`, which fails if `path`
 * exists), then the directory is fsync'd. Returns the size written. The new file gets `mode`
 * (default 0o666 minus umask, as OVS).
 */
export async function writeLogFileAtomically(
  path: string,
  records: readonly JsonObject[],
  opts: { magic?: string; mode?: number; exclusive?: boolean } = {},
): Promise<number> {
  const bufs = records.map((r) => encodeRecord(r, opts.magic ?? MAGIC_STANDALONE));
  const { handle, size } = await installFile(path, bufs, opts.mode, opts.exclusive ?? false);
  await handle.close();
  return size;
}

/** See {@link writeLogFileAtomically}; returns the new file's handle, still open for writing. */
async function installFile(
  path: string,
  bufs: Buffer[],
  mode: number | undefined,
  exclusive: boolean,
): Promise<{ handle: FileHandle; size: number }> {
  const tmp = `${path}.tmp`;
  await unlink(tmp).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
  const h = await open(tmp, fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o666);
  let size: number;
  try {
    if (mode !== undefined) await h.chmod(mode);
    size = await writeFully(h, bufs, 0);
    await h.datasync();
    if (exclusive) {
      await link(tmp, path);
      await unlink(tmp);
    } else {
      await rename(tmp, path);
    }
  } catch (e) {
    await h.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fsyncDir(path);
  // The handle follows the inode, which now has the final name.
  return { handle: h, size };
}

/**
 * An open database log. Open with {@link LogFile.open}, iterate {@link LogFile.read} once to the
 * end, then (in write mode) {@link LogFile.append}, {@link LogFile.commit},
 * {@link LogFile.replace}. Writes are serialised in call order; appends made while another write
 * is in flight, or within one event-loop turn, go out in one `writev` and share one fdatasync.
 */
export class LogFile {
  /** Offset just past the last good record read or written: the logical file size. */
  offset = 0;
  /**
   * Size of the log at its "base": after the second record when reading (schema plus the first
   * transaction or snapshot), or the size written by the last {@link replace}. Used by the
   * "grew a lot" compaction rule.
   */
  base = 0;
  /** Records read at open. */
  recordsRead = 0;
  /**
   * Records written since open; after a {@link replace}, the replacement's records plus those
   * appended since. `recordsRead + recordsWritten` is the number of records in the file.
   */
  recordsWritten = 0;
  /** The error that ended reading, if the file had a torn or corrupt tail. */
  tailError: LogError | undefined;
  /** The log's magic (of the first record, or the requested one for an empty file). */
  magic: string;

  private handle: FileHandle | undefined;
  private readDone = false;
  private tailCut = false;
  private readonly queue: Op[] = [];
  private queuedBytes = 0;
  private draining = false;
  private broken: LogError | undefined;
  private closed = false;

  private constructor(
    /** Path of the file. */
    readonly path: string,
    /** Open mode. */
    readonly mode: 'read' | 'write',
    handle: FileHandle,
    private readonly opts: LogOpenOptions,
  ) {
    this.handle = handle;
    this.magic = opts.magic ?? MAGIC_STANDALONE;
  }

  /** Opens an existing log. Throws a `LogError` of kind `io` if it cannot be opened. */
  static async open(path: string, opts: LogOpenOptions): Promise<LogFile> {
    let h: FileHandle;
    try {
      h = await open(path, opts.mode === 'read' ? fsConstants.O_RDONLY : fsConstants.O_RDWR);
    } catch (e) {
      throw new LogError('io', `${path}: open failed (${(e as Error).message})`);
    }
    return new LogFile(path, opts.mode, h, opts);
  }

  /**
   * Creates a new log holding `records` (typically just the schema), atomically (temp file,
   * fdatasync, rename, directory fsync), and opens it in write mode with nothing left to read.
   * Fails if `path` exists.
   */
  static async create(
    path: string,
    records: readonly JsonObject[],
    magic: string = MAGIC_STANDALONE,
  ): Promise<LogFile> {
    let size: number;
    try {
      size = await writeLogFileAtomically(path, records, { magic, exclusive: true });
    } catch (e) {
      const exists = (e as NodeJS.ErrnoException).code === 'EEXIST';
      throw new LogError(
        'io',
        `${path}: create failed (${exists ? 'file exists' : (e as Error).message})`,
      );
    }
    const lf = await LogFile.open(path, { mode: 'write', magic });
    lf.readDone = true;
    lf.tailCut = true;
    lf.offset = size;
    lf.base = size;
    lf.recordsWritten = records.length;
    return lf;
  }

  /**
   * Reads every good record in order. Stops at end of file or at the first bad record; a bad
   * record is logged as a warning and left in {@link tailError} (call {@link repairTail} in write
   * mode to cut it off). Throws `clustered` for a clustered database and `magic` for a log of
   * another magic. May be iterated once.
   */
  async *read(): AsyncGenerator<LogRecord> {
    if (this.readDone) return;
    const h = this.handle;
    if (!h) throw new LogError('closed', `${this.path}: log is closed`);
    const dec = new LogDecoder({ maxRecordBytes: this.opts.maxRecordBytes });
    const chunk = Buffer.allocUnsafe(this.opts.readChunkBytes ?? 1 << 20);
    let pos = 0;
    for (;;) {
      const { bytesRead } = await h.read(chunk, 0, chunk.length, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      // The decoder keeps references to body slices: hand it a copy.
      const recs = dec.push(Buffer.from(chunk.subarray(0, bytesRead)));
      for (const r of recs) {
        if (this.recordsRead === 0) this.checkMagic(r.magic);
        this.recordsRead++;
        this.offset = r.offset + r.size;
        if (this.recordsRead === 2) this.base = this.offset;
        yield r;
      }
      if (dec.error) break;
    }
    dec.end();
    this.readDone = true;
    if (dec.error) {
      if (this.recordsRead === 0 && dec.magic === MAGIC_CLUSTER) this.checkMagic(MAGIC_CLUSTER);
      this.tailError = dec.error;
      cntTornTails.inc();
      log.warn(
        `${this.path}: ${dec.error.message}; using the ${this.recordsRead} record(s) before offset ${dec.goodOffset}`,
      );
    }
    this.offset = dec.goodOffset;
    if (!this.tailError) this.tailCut = true;
  }

  private checkMagic(magic: string): void {
    if (magic === MAGIC_CLUSTER && this.magic !== MAGIC_CLUSTER) {
      throw new LogError(
        'clustered',
        `${this.path} is a clustered database (record magic "${MAGIC_CLUSTER}"); only standalone databases are supported ` +
          `(convert it with "ovsdb-tool cluster-to-standalone")`,
        0,
      );
    }
    if (magic !== this.magic) {
      throw new LogError(
        'magic',
        `${this.path}: record magic "${magic}" where "${this.magic}" is expected`,
        0,
      );
    }
  }

  /**
   * Write mode: truncates the file at the end of the last good record (dropping a torn or corrupt
   * tail) and syncs. Returns the number of bytes removed. Also done by the first write.
   */
  async repairTail(): Promise<number> {
    if (this.mode !== 'write') throw new LogError('io', `${this.path}: log is read-only`);
    if (!this.readDone) throw new LogError('io', `${this.path}: read the log before writing`);
    if (this.tailCut) return 0;
    const h = this.requireHandle();
    const size = (await h.stat()).size;
    await h.truncate(this.offset);
    await h.datasync();
    this.tailCut = true;
    if (size > this.offset)
      log.warn(
        `${this.path}: truncated ${size - this.offset} byte(s) of torn or corrupt data at offset ${this.offset}`,
      );
    return Math.max(0, size - this.offset);
  }

  private requireHandle(): FileHandle {
    if (this.broken) throw this.broken;
    if (!this.handle || this.closed) throw new LogError('closed', `${this.path}: log is closed`);
    return this.handle;
  }

  /**
   * Appends one record. Resolves once it is written (with `durable`, once it is also on stable
   * storage); rejects with a `LogError` if the write fails, after which the log refuses writes.
   * The record is serialised synchronously, so the caller may reuse `json` at once.
   */
  append(json: JsonObject, opts: AppendOptions = {}): Promise<void> {
    const buf = encodeRecord(json, this.magic);
    return new Promise((resolve, reject) =>
      this.enqueue({ kind: 'append', buf, durable: opts.durable ?? false, resolve, reject }),
    );
  }

  /** Resolves when every record appended so far is on stable storage. */
  commit(): Promise<void> {
    return new Promise((resolve, reject) => this.enqueue({ kind: 'sync', resolve, reject }));
  }

  /**
   * Replaces the whole log, after every write queued before this call, with `records` (schema and
   * snapshot): temp file `<path>.tmp`, fdatasync, rename over the log, fsync of the directory.
   * Appends queued after this call go to the new file. On failure the old log stays in use.
   */
  replace(records: readonly JsonObject[]): Promise<void> {
    const bufs = records.map((r) => encodeRecord(r, this.magic));
    return new Promise((resolve, reject) =>
      this.enqueue({ kind: 'replace', records: bufs, resolve, reject }),
    );
  }

  /** Bytes of records queued or being written, not yet counted in {@link offset}. */
  get pendingBytes(): number {
    return this.queuedBytes;
  }

  private enqueue(op: Op): void {
    try {
      if (this.mode !== 'write') throw new LogError('io', `${this.path}: log is read-only`);
      if (!this.readDone) throw new LogError('io', `${this.path}: read the log before writing`);
      this.requireHandle();
    } catch (e) {
      op.reject(e as Error);
      return;
    }
    this.queue.push(op);
    if (op.kind === 'append') this.queuedBytes += op.buf.length;
    if (!this.draining) {
      this.draining = true;
      // Let every commit of this turn join the batch.
      setImmediate(() => void this.drain());
    }
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const q = this.queue;
        const r = q.findIndex((op) => op.kind === 'replace');
        if (r === 0) {
          await this.doReplace(q.shift() as Extract<Op, { kind: 'replace' }>);
          continue;
        }
        const batch = (r < 0 ? q.splice(0) : q.splice(0, r)) as Exclude<Op, { kind: 'replace' }>[];
        await this.doBatch(batch);
      }
    } finally {
      this.draining = false;
      if (this.queue.length > 0) {
        this.draining = true;
        setImmediate(() => void this.drain());
      }
    }
  }

  private async doBatch(batch: Exclude<Op, { kind: 'replace' }>[]): Promise<void> {
    const bufs: Buffer[] = [];
    let durable = false;
    let n = 0;
    for (const op of batch) {
      if (op.kind === 'append') {
        bufs.push(op.buf);
        n++;
        if (op.durable) durable = true;
      } else {
        durable = true;
      }
    }
    const start = this.offset;
    let batchBytes = 0;
    for (const b of bufs) batchBytes += b.length;
    try {
      const h = this.requireHandle();
      if (!this.tailCut) await this.repairTail();
      if (bufs.length > 0) {
        const written = await writeFully(h, bufs, start);
        this.offset = start + written;
        this.queuedBytes -= batchBytes;
        batchBytes = 0;
        this.recordsWritten += n;
        cntRecordsWritten.inc(n);
        cntWriteBatches.inc();
      }
      if (durable) {
        await h.datasync();
        cntSyncs.inc();
      }
    } catch (e) {
      const err =
        e instanceof LogError
          ? e
          : new LogError('io', `${this.path}: write failed (${(e as Error).message})`, start);
      if (!(e instanceof LogError)) {
        // Remove partially written data, as OVS does; the log is unusable afterwards.
        await this.handle?.truncate(start).catch(() => undefined);
        this.offset = start;
        this.broken = err;
        log.error(err.message);
      }
      this.queuedBytes -= batchBytes;
      for (const op of batch) op.reject(err);
      return;
    }
    for (const op of batch) op.resolve();
  }

  private async doReplace(op: Extract<Op, { kind: 'replace' }>): Promise<void> {
    try {
      const h = this.requireHandle();
      const mode = (await h.stat()).mode & 0o7777;
      const { handle: nh, size } = await installFile(this.path, op.records, mode, false);
      await h.close().catch(() => undefined);
      this.handle = nh;
      this.offset = size;
      this.base = size;
      this.recordsRead = 0;
      this.recordsWritten = op.records.length;
      this.tailCut = true;
      this.tailError = undefined;
    } catch (e) {
      op.reject(
        e instanceof LogError
          ? e
          : new LogError('io', `${this.path}: replacing the log failed (${(e as Error).message})`),
      );
      return;
    }
    op.resolve();
  }

  /** Waits for queued writes, then closes the file. Further calls fail with `closed`. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (
      this.mode === 'write' &&
      this.readDone &&
      !this.broken &&
      this.queue.length + (this.draining ? 1 : 0) > 0
    ) {
      await this.commit().catch(() => undefined);
    }
    this.closed = true;
    const h = this.handle;
    this.handle = undefined;
    await h?.close();
  }
}

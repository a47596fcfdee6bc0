/**
 * Big-endian byte reader and writer used by every OpenFlow codec in this folder. Reads go through
 * one `DataView`; a read past the reader's end throws the {@link OfpError} the reader was created
 * with (so a truncated match says BAD_MATCH/BAD_LEN and a truncated action BAD_ACTION/BAD_LEN).
 */
import { OfpError, type OfpErrorName } from './errors.js';

/** A bounded big-endian cursor over a byte array. */
export class Reader {
  /** View over the whole underlying buffer (offsets are absolute). */
  readonly view: DataView;
  /** Current absolute offset; advanced by every read. */
  pos: number;

  constructor(
    /** The bytes (the reader never writes to them). */
    readonly buf: Uint8Array,
    /** Absolute start offset. */
    start: number,
    /** Absolute end offset (exclusive); reads may not go past it. */
    readonly end: number,
    /** Error thrown when a read would pass `end`. */
    readonly lenError: OfpErrorName,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = start;
  }

  /** Creates a reader over `buf[start, end)` that shares this reader's buffer. */
  sub(start: number, end: number, lenError: OfpErrorName = this.lenError): Reader {
    const r = Object.create(Reader.prototype) as Reader;
    (r as { view: DataView }).view = this.view;
    (r as { buf: Uint8Array }).buf = this.buf;
    (r as { end: number }).end = end;
    (r as { lenError: OfpErrorName }).lenError = lenError;
    r.pos = start;
    return r;
  }

  /** Bytes left before `end`. */
  get remaining(): number {
    return this.end - this.pos;
  }

  /** Throws the reader's length error unless `n` more bytes are available. */
  need(n: number): void {
    if (this.pos + n > this.end)
      throw new OfpError(this.lenError, `need ${n} bytes at ${this.pos}`);
  }

  /** Reads an unsigned 8-bit value. */
  u8(): number {
    if (this.pos + 1 > this.end) this.need(1);
    return this.view.getUint8(this.pos++);
  }

  /** Reads an unsigned 16-bit value. */
  u16(): number {
    if (this.pos + 2 > this.end) this.need(2);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  /** Reads an unsigned 24-bit value. */
  u24(): number {
    if (this.pos + 3 > this.end) this.need(3);
    const v = (this.view.getUint16(this.pos) << 8) | this.view.getUint8(this.pos + 2);
    this.pos += 3;
    return v;
  }

  /** Reads an unsigned 32-bit value. */
  u32(): number {
    if (this.pos + 4 > this.end) this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  /** Reads an unsigned 48-bit value (a MAC address) as a number. */
  u48(): number {
    if (this.pos + 6 > this.end) this.need(6);
    const v = this.view.getUint16(this.pos) * 0x100000000 + this.view.getUint32(this.pos + 2);
    this.pos += 6;
    return v;
  }

  /** Reads an unsigned 64-bit value as a bigint. */
  u64(): bigint {
    if (this.pos + 8 > this.end) this.need(8);
    // Zero (the usual cookie) is one shared value instead of a heap bigint per message.
    const v =
      this.view.getUint32(this.pos) === 0 && this.view.getUint32(this.pos + 4) === 0
        ? 0n
        : this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }

  /** Reads an unsigned 128-bit value as a bigint. */
  u128(): bigint {
    if (this.pos + 16 > this.end) this.need(16);
    const v = (this.view.getBigUint64(this.pos) << 64n) | this.view.getBigUint64(this.pos + 8);
    this.pos += 16;
    return v;
  }

  /** Returns a copy of the next `n` bytes (never a view of the input). */
  bytes(n: number): Uint8Array {
    this.need(n);
    const out = alloc(n);
    out.set(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  /** Reads a fixed-size NUL-padded ASCII/UTF-8 string field of `n` bytes. */
  str(n: number): string {
    this.need(n);
    let e = this.pos;
    const lim = this.pos + n;
    while (e < lim && this.buf[e] !== 0) e++;
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, e - this.pos).toString(
      'utf8',
    );
    this.pos = lim;
    return s;
  }

  /** Skips `n` bytes (padding). */
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
}

const EMPTY = new Uint8Array(0);

/**
 * A new byte array of `n` bytes that the caller fills completely. Small arrays live on the JS
 * heap; larger ones come from Node's Buffer pool (much cheaper than a fresh ArrayBuffer). Either
 * way the result is a Uint8Array; users must honour `byteOffset` when taking `.buffer`.
 */
function alloc(n: number): Uint8Array {
  return n <= 64 ? new Uint8Array(n) : Buffer.allocUnsafe(n);
}

/** A growable big-endian writer. */
export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  /** Current write offset. */
  pos = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const nb = new Uint8Array(size);
    nb.set(this.buf.subarray(0, this.pos));
    this.buf = nb;
    this.view = new DataView(nb.buffer);
  }

  /** Writes an unsigned 8-bit value. */
  u8(v: number): void {
    this.ensure(1);
    this.view.setUint8(this.pos++, v & 0xff);
  }

  /** Writes an unsigned 16-bit value. */
  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.pos, v & 0xffff);
    this.pos += 2;
  }

  /** Writes an unsigned 24-bit value. */
  u24(v: number): void {
    this.ensure(3);
    this.view.setUint16(this.pos, (v >>> 8) & 0xffff);
    this.view.setUint8(this.pos + 2, v & 0xff);
    this.pos += 3;
  }

  /** Writes an unsigned 32-bit value. */
  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v >>> 0);
    this.pos += 4;
  }

  /** Writes an unsigned 48-bit value given as a number. */
  u48(v: number): void {
    this.ensure(6);
    this.view.setUint16(this.pos, Math.floor(v / 0x100000000) & 0xffff);
    this.view.setUint32(this.pos + 2, v >>> 0);
    this.pos += 6;
  }

  /** Writes an unsigned 64-bit value. */
  u64(v: bigint): void {
    this.ensure(8);
    if (v === 0n) {
      // The usual cookie and counter: no bigint arithmetic.
      this.view.setUint32(this.pos, 0);
      this.view.setUint32(this.pos + 4, 0);
    } else {
      this.view.setBigUint64(this.pos, BigInt.asUintN(64, v));
    }
    this.pos += 8;
  }

  /** Writes an unsigned 128-bit value. */
  u128(v: bigint): void {
    this.ensure(16);
    const x = BigInt.asUintN(128, v);
    this.view.setBigUint64(this.pos, x >> 64n);
    this.view.setBigUint64(this.pos + 8, BigInt.asUintN(64, x));
    this.pos += 16;
  }

  /** Writes raw bytes. */
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Writes `s` NUL-padded (and truncated) to exactly `n` bytes, always NUL-terminated. */
  str(s: string, n: number): void {
    this.ensure(n);
    const enc = Buffer.from(s, 'utf8');
    const len = Math.min(enc.length, n - 1);
    this.buf.set(enc.subarray(0, len), this.pos);
    this.buf.fill(0, this.pos + len, this.pos + n);
    this.pos += n;
  }

  /** Writes `n` zero bytes. */
  zeros(n: number): void {
    this.ensure(n);
    const b = this.buf;
    // Pads are a few bytes: a loop beats fill()'s call overhead.
    if (n <= 16) for (let i = this.pos, e = this.pos + n; i < e; i++) b[i] = 0;
    else b.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }

  /** Pads with zeros up to the next multiple of 8 counted from `from`. */
  pad8(from = 0): void {
    const r = (this.pos - from) % 8;
    if (r !== 0) this.zeros(8 - r);
  }

  /** Overwrites a 16-bit value at absolute offset `at`. */
  setU16(at: number, v: number): void {
    this.view.setUint16(at, v & 0xffff);
  }

  /** Overwrites an 8-bit value at absolute offset `at`. */
  setU8(at: number, v: number): void {
    this.view.setUint8(at, v & 0xff);
  }

  /** Returns a copy of everything written. */
  finish(): Uint8Array {
    if (this.pos === 0) return EMPTY;
    const out = alloc(this.pos);
    out.set(this.buf.subarray(0, this.pos));
    return out;
  }

  /**
   * The bytes written from absolute offset `from` up to {@link pos}, as a view on the writer's
   * own buffer: valid only until the next write or reset (copy it to keep it).
   */
  written(from = 0): Uint8Array {
    return this.buf.subarray(from, this.pos);
  }

  /** Forgets everything written (keeps the buffer). */
  reset(): void {
    this.pos = 0;
  }
}

const pool: Writer[] = [];

/**
 * Runs `fn` with a pooled scratch writer (64 KiB, reused across calls, so encoding allocates
 * only its result) and returns `fn`'s result. Nested calls get distinct writers.
 */
export function withWriter<T>(fn: (w: Writer) => T): T {
  const w = pool.pop() ?? new Writer(65536);
  w.reset();
  try {
    return fn(w);
  } finally {
    if (pool.length < 8) pool.push(w);
  }
}

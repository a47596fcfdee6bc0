/**
 * The byte transport that protocol sessions (JSON-RPC, OpenFlow) talk to. Sessions never touch
 * sockets directly: they use this small interface, implemented over Node streams (TCP, TLS, unix
 * sockets) by {@link StreamTransport} and in memory by {@link memoryTransportPair} for tests.
 */
import type { Duplex } from 'node:stream';
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';

/** Events a {@link Transport} emits. */
export interface TransportEvents {
  /** Bytes arrived. Never emitted while paused. */
  data: [chunk: Buffer];
  /** The send backlog dropped to zero after having been non-empty. */
  drain: [];
  /** The connection is gone (peer closed, error, or {@link Transport.close}). Emitted once. */
  close: [error?: Error];
}

/** A connected, ordered, reliable byte stream. */
export interface Transport {
  /** A human-readable name of the peer, e.g. `tcp:127.0.0.1:50514` or `unix:/run/x.sock`. */
  readonly peer: string;
  /**
   * Queues bytes for sending. Never throws; writing after close is a silent no-op. Returns false
   * when the backlog is above the transport's high-water mark (the caller should slow down).
   */
  write(data: Uint8Array): boolean;
  /** Bytes queued and not yet handed to the OS. */
  backlog(): number;
  /** Stops `data` events until {@link Transport.resume}. */
  pause(): void;
  /** Resumes `data` events. */
  resume(): void;
  /** Closes the connection after flushing what is queued (best effort). Idempotent. */
  close(): void;
  /** Closes immediately, dropping the backlog. Idempotent. */
  destroy(): void;
  /** True once the transport has closed. */
  readonly closed: boolean;
  /**
   * Optional: waits up to `budgetUs` microseconds for bytes without sleeping and without
   * returning to the event loop. When some arrive they are emitted as `data` before this
   * returns `'data'`; `'timeout'` means nothing came; `'unavailable'` means this transport
   * cannot busy-poll now (no reader installed, TLS, paused, closed, bytes already buffered, or
   * the peer closed or failed, which the event loop then reports as usual).
   */
  busyPoll?(budgetUs: number): BusyPollResult;
  on<K extends keyof TransportEvents>(event: K, fn: (...args: TransportEvents[K]) => void): this;
  off<K extends keyof TransportEvents>(event: K, fn: (...args: TransportEvents[K]) => void): this;
}

/** What {@link Transport.busyPoll} found. */
export type BusyPollResult = 'data' | 'timeout' | 'unavailable';

/**
 * A bounded busy read of a socket descriptor (the native addon's `busyRead`): bytes read
 * (> 0), 0 at end of stream, -11 (EAGAIN) when nothing came within `budgetUs`, or -errno.
 */
export type BusyReader = (fd: number, buf: Uint8Array, budgetUs: number) => number;

let busyReader: BusyReader | undefined;

/**
 * Installs the busy reader that {@link StreamTransport.busyPoll} uses (the composition root
 * does, when the native addon loads); undefined removes it, and busy polling is then
 * unavailable. lib/ cannot load the addon itself (it sits below datapath/).
 */
export function setBusyReader(reader: BusyReader | undefined): void {
  busyReader = reader;
}

const EAGAIN = 11;
/** Largest read of one busy poll; a longer burst is left to the event loop. */
const BUSY_READ_BYTES = 64 * 1024;
let busyBuf: Uint8Array | undefined;

/** The descriptor behind a plain (non-TLS) net.Socket, from Node's handle; -1 when none. */
function socketFd(stream: Duplex): number {
  if (!(stream instanceof Socket) || stream instanceof TLSSocket) return -1;
  const fd = (stream as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}

/** A {@link Transport} over a Node duplex stream (net.Socket, tls.TLSSocket). */
export class StreamTransport extends EventEmitter implements Transport {
  closed = false;

  constructor(
    private readonly stream: Duplex & { writableLength: number },
    readonly peer: string,
  ) {
    super();
    stream.on('data', (chunk: Buffer) => this.emit('data', chunk));
    stream.on('drain', () => this.emit('drain'));
    stream.on('error', (err: Error) => this.finish(err));
    stream.on('close', () => this.finish());
    stream.on('end', () => {
      // Peer half-closed: we do not support half-open sessions.
      stream.end();
    });
  }

  private finish(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close', err);
  }

  write(data: Uint8Array): boolean {
    if (this.closed || this.stream.destroyed) return false;
    return this.stream.write(data);
  }

  backlog(): number {
    return this.stream.writableLength;
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  close(): void {
    if (this.closed) return;
    this.stream.end();
    // Do not wait forever for a peer that never reads.
    const t = setTimeout(() => this.stream.destroy(), 2000);
    this.stream.once('close', () => clearTimeout(t));
  }

  destroy(): void {
    this.stream.destroy();
    this.finish();
  }

  /**
   * {@link Transport.busyPoll} for plain unix and TCP sockets: reads the descriptor directly
   * (the event loop is not running meanwhile, so nothing else reads it) and emits what came.
   * Never for TLS, whose bytes must pass through the TLS layer.
   */
  busyPoll(budgetUs: number): BusyPollResult {
    const reader = busyReader;
    const s = this.stream;
    if (reader === undefined || this.closed || s.destroyed || s.isPaused()) return 'unavailable';
    // Bytes Node already read and holds must be delivered first, by the stream.
    if (s.readableLength > 0) return 'unavailable';
    const fd = socketFd(s);
    if (fd < 0) return 'unavailable';
    busyBuf ??= new Uint8Array(BUSY_READ_BYTES);
    const n = reader(fd, busyBuf, budgetUs);
    if (n === -EAGAIN) return 'timeout';
    if (n <= 0) return 'unavailable';
    // A copy: receivers keep chunks (framed messages share them), the read buffer is reused.
    this.emit('data', Buffer.from(busyBuf.subarray(0, n)));
    return 'data';
  }
}

/** One end of an in-memory transport pair. Delivery is asynchronous (next microtask turn). */
class MemoryTransport extends EventEmitter implements Transport {
  closed = false;
  other!: MemoryTransport;
  private paused = false;
  private inbox: Buffer[] = [];
  private pending = 0;
  private scheduled = false;

  constructor(
    readonly peer: string,
    private readonly highWater: number,
  ) {
    super();
  }

  write(data: Uint8Array): boolean {
    if (this.closed) return false;
    const copy = Buffer.from(data);
    this.pending += copy.length;
    this.other.enqueue(copy, this);
    return this.pending <= this.highWater;
  }

  /** Called by the peer when it has consumed bytes we wrote. */
  acked(n: number): void {
    const before = this.pending;
    this.pending -= n;
    if (before > 0 && this.pending === 0) this.emit('drain');
  }

  enqueue(chunk: Buffer, _from: MemoryTransport): void {
    if (this.closed) return;
    this.inbox.push(chunk);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.paused) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      while (!this.paused && !this.closed && this.inbox.length > 0) {
        const c = this.inbox.shift()!;
        this.emit('data', c);
        this.other.acked(c.length);
      }
    });
  }

  backlog(): number {
    return this.pending;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.schedule();
  }

  close(): void {
    if (this.closed) return;
    // Deliver what is queued, then close both ends.
    setImmediate(() => {
      this.destroy();
    });
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.inbox = [];
    this.emit('close');
    this.other.destroy();
  }
}

/**
 * Two connected in-memory transports, for tests. `highWater` is the backlog above which
 * `write` returns false (bytes written but not yet consumed by the other side).
 */
export function memoryTransportPair(highWater = 1 << 20): [Transport, Transport] {
  const a = new MemoryTransport('memory:a', highWater);
  const b = new MemoryTransport('memory:b', highWater);
  a.other = b;
  b.other = a;
  return [a, b];
}

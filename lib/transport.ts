/**
 * The byte transport that protocol sessions (JSON-RPC, OpenFlow) talk to. Sessions never touch
 * sockets directly: they use this small interface, implemented over Node streams (TCP, TLS, unix
 * sockets) by {@link StreamTransport} and in memory by {@link memoryTransportPair} for tests.
 */
import type { Duplex } from 'node:stream';
import { EventEmitter } from 'node:events';

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
  on<K extends keyof TransportEvents>(event: K, fn: (...args: TransportEvents[K]) => void): this;
  off<K extends keyof TransportEvents>(event: K, fn: (...args: TransportEvents[K]) => void): this;
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

/**
 * A deliberately cheap OVSDB load-generator connection: writes pre-encoded JSON-RPC requests and
 * counts replies by scanning the byte stream for a marker (`"result"`, `"update2"`) with
 * Buffer.indexOf, like the reference's Python client that counted bytes. Nothing is parsed, so the
 * generator costs a few hundred ns per reply and the server is the bottleneck. Echo requests
 * (inactivity probes) are answered so long runs are not disconnected.
 */
import * as net from 'node:net';

/** Where to connect: a unix socket path or a TCP port on 127.0.0.1. */
export type Target = { unix: string } | { port: number };

const ECHO = Buffer.from('"method":"echo"');
const ECHO_REPLY = Buffer.from('{"id":"echo","result":[],"error":null}');

/** Counts non-overlapping occurrences of one marker across chunk boundaries. */
export class MarkerCounter {
  /** Occurrences so far. */
  count = 0;
  private tail: Buffer = Buffer.alloc(0);
  constructor(private readonly marker: Buffer) {}

  /** Scans one chunk; returns how many new occurrences it held. */
  feed(chunk: Buffer): number {
    const buf = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
    let n = 0;
    let i = buf.indexOf(this.marker);
    while (i >= 0) {
      n++;
      i = buf.indexOf(this.marker, i + this.marker.length);
    }
    const keep = Math.min(buf.length, this.marker.length - 1);
    this.tail = Buffer.from(buf.subarray(buf.length - keep));
    this.count += n;
    return n;
  }
}

/** One raw connection. */
export class RawConn {
  /** `"result"` occurrences: replies received. */
  readonly replies = new MarkerCounter(Buffer.from('"result"'));
  /** `"update2"` occurrences: monitor_cond notifications received. */
  readonly updates = new MarkerCounter(Buffer.from('"update2"'));
  private readonly echo = new MarkerCounter(ECHO);
  /** Called after every chunk that held a reply or update, with the time it arrived. */
  onEvent: ((now: number) => void) | undefined;
  /** Bytes received. */
  bytesIn = 0;

  private constructor(
    readonly sock: net.Socket,
    private readonly countUpdates: boolean,
  ) {
    sock.setNoDelay(true);
    sock.on('data', (chunk: Buffer) => {
      const now = performance.now();
      this.bytesIn += chunk.length;
      let n = this.replies.feed(chunk);
      if (this.countUpdates) n += this.updates.feed(chunk);
      if (this.echo.feed(chunk) > 0) sock.write(ECHO_REPLY);
      if (n > 0) this.onEvent?.(now);
    });
    sock.on('error', () => undefined);
  }

  /** Connects. `countUpdates` also scans for monitor notifications. */
  static connect(target: Target, countUpdates = false): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const sock =
        'unix' in target
          ? net.connect(target.unix)
          : net.connect({ port: target.port, host: '127.0.0.1' });
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.off('error', reject);
        resolve(new RawConn(sock, countUpdates));
      });
    });
  }

  /** Writes bytes. */
  write(buf: Buffer | string): void {
    this.sock.write(buf);
  }

  /** Resolves once `pred()` holds, re-checked after every event. */
  until(pred: () => boolean, timeoutMs = 60_000): Promise<number> {
    if (pred()) return Promise.resolve(performance.now());
    return new Promise((resolve, reject) => {
      const prev = this.onEvent;
      const timer = setTimeout(() => {
        this.onEvent = prev;
        reject(new Error('timed out waiting for the server'));
      }, timeoutMs);
      this.onEvent = (now) => {
        prev?.(now);
        if (pred()) {
          clearTimeout(timer);
          this.onEvent = prev;
          resolve(now);
        }
      };
    });
  }

  /** Closes the connection. */
  close(): void {
    this.sock.destroy();
  }
}

/**
 * One QoS row (`type` + one `external_ids` pair) per transaction, as ovsdb-clients.md §9 did;
 * `commit` adds `{"op":"commit","durable":…}`. `table: 'Queue'` inserts a Queue row (`dscp` + one
 * `external_ids` pair) instead: the fan-out test monitors Queue, so its monitors' initial
 * snapshot does not carry the tens of thousands of QoS rows the other tests left behind.
 */
export function insertTxn(
  id: number,
  tag: string,
  commit?: 'durable' | 'nondurable',
  table: 'QoS' | 'Queue' = 'QoS',
): string {
  const row =
    table === 'QoS'
      ? `{"type":"linux-htb","external_ids":["map",[["bench","${tag}-${id}"]]]}`
      : `{"dscp":${id % 64},"external_ids":["map",[["bench","${tag}-${id}"]]]}`;
  const ops = [`{"op":"insert","table":"${table}","row":${row}}`];
  if (commit) ops.push(`{"op":"commit","durable":${commit === 'durable'}}`);
  return `{"id":${id},"method":"transact","params":["Open_vSwitch",${ops.join(',')}]}`;
}

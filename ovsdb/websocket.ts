/**
 * OVSDB JSON-RPC over WebSocket, for browsers: a {@link Transport} over one `ws` connection and
 * a listener (`pws:PORT[:IP]`, our own remote syntax; OVS has no WebSocket remote).
 *
 * Framing: every incoming text (or binary) frame is handed to the JSON-RPC session as bytes;
 * the session's JSON framer accepts one or several whole messages per frame (a browser sends
 * exactly one). Every `write` is sent as one text frame; the JSON-RPC session writes exactly one
 * whole message per `write`, so each frame carries one message.
 */
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { Transport } from '../lib/transport.js';

/** Largest frame accepted from a browser (bigger ones close the connection). */
export const WS_MAX_PAYLOAD = 16 * 1024 * 1024;

function rawToBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** A {@link Transport} over a connected `ws` WebSocket. */
export class WebSocketTransport extends EventEmitter implements Transport {
  closed = false;
  private pending = 0;

  constructor(
    private readonly ws: WebSocket,
    /** Peer name, e.g. `ws:127.0.0.1:50312`. */
    readonly peer: string,
  ) {
    super();
    ws.on('message', (data: RawData) => this.emit('data', rawToBuffer(data)));
    ws.on('close', () => this.finish());
    ws.on('error', (err: Error) => this.finish(err));
  }

  private finish(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close', err);
  }

  write(data: Uint8Array): boolean {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return false;
    const n = data.length;
    this.pending += n;
    this.ws.send(Buffer.from(data).toString('utf8'), (err?: Error) => {
      this.pending -= n;
      if (err) {
        this.finish(err);
        return;
      }
      if (this.pending === 0) this.emit('drain');
    });
    return this.pending < 1 << 20;
  }

  backlog(): number {
    return this.pending;
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  close(): void {
    if (this.closed) return;
    this.ws.close(1000);
    // A peer that never answers the close handshake is cut off.
    const t = setTimeout(() => this.ws.terminate(), 2000);
    this.ws.once('close', () => clearTimeout(t));
  }

  destroy(): void {
    this.ws.terminate();
    this.finish();
  }
}

/** A listening WebSocket endpoint. */
export interface WebSocketListener {
  /** The TCP port actually bound (useful with port 0). */
  readonly port: number;
  /** Stops accepting and closes every connection it accepted. */
  close(): Promise<void>;
}

/**
 * Listens for WebSocket connections on `host:port` (any path) and hands each one, as a
 * {@link WebSocketTransport}, to `onConnection`. Resolves once listening; rejects when the
 * port cannot be bound.
 */
export function listenWebSocket(
  port: number,
  host: string,
  onConnection: (t: WebSocketTransport) => void,
): Promise<WebSocketListener> {
  return new Promise((resolve, reject) => {
    const wss = new WebSocketServer({ port, host, maxPayload: WS_MAX_PAYLOAD });
    const onError = (err: Error): void => {
      reject(err);
    };
    wss.once('error', onError);
    wss.on('listening', () => {
      wss.off('error', onError);
      wss.on('error', () => {
        /* errors after listening surface as connection closes */
      });
      const addr = wss.address() as AddressInfo;
      resolve({
        port: addr.port,
        close: () =>
          new Promise<void>((res) => {
            for (const c of wss.clients) c.terminate();
            wss.close(() => res());
          }),
      });
    });
    wss.on('connection', (ws, req) => {
      const peer = `ws:${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`;
      onConnection(new WebSocketTransport(ws, peer));
    });
  });
}

/**
 * Listening sockets that hand out {@link StreamTransport}s: unix-domain sockets (control socket,
 * OVSDB `punix:` remotes) with OVS's stale-socket handling, and TCP (`ptcp:`) listeners.
 */
import net from 'node:net';
import fs from 'node:fs';
import { StreamTransport } from './transport.js';
import { getLogger } from './log.js';

const log = getLogger('unix_socket');

/** Longest unix socket path Linux accepts (sun_path is 108 bytes including the NUL). */
export const MAX_UNIX_PATH_BYTES = 107;

/** Why a listener could not be opened. */
export type ListenErrorCode = 'in-use' | 'not-a-socket' | 'path-too-long' | 'listen-failed';

/** Thrown by {@link listenUnix} and {@link listenTcp}. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  constructor(
    /** Machine-readable cause. */
    readonly code: ListenErrorCode,
    message: string,
    /** The system error behind it, if any. */
    override readonly cause?: Error,
  ) {
    super(message);
  }
}

/** Called once per accepted connection with its transport. */
export type ConnectionHandler = (transport: StreamTransport) => void;

/** An open listener. */
export interface Listener {
  /** `unix:<path>` or `tcp:<host>:<port>`. */
  readonly name: string;
  /**
   * Stops accepting, closes every connection it accepted that is still open (flushing what is
   * queued), and for unix sockets removes the socket file. Resolves once the listener is closed.
   * Idempotent.
   */
  close(): Promise<void>;
}

/** A TCP listener; `port` is the bound port (useful with port 0). */
export interface TcpListener extends Listener {
  /** The port actually bound. */
  readonly port: number;
}

/** Resolves true if something accepts a connection on the unix socket `path`. */
function probeUnix(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    const done = (alive: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(alive);
    };
    const timer = setTimeout(() => done(true), timeoutMs); // a hung daemon is still a daemon
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

class ServerListener implements Listener {
  private readonly conns = new Set<StreamTransport>();
  private closing: Promise<void> | undefined;

  constructor(
    readonly name: string,
    private readonly server: net.Server,
    private readonly unlinkPath: string | undefined,
  ) {}

  track(t: StreamTransport): void {
    this.conns.add(t);
    t.on('close', () => this.conns.delete(t));
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      if (this.unlinkPath !== undefined) {
        try {
          fs.unlinkSync(this.unlinkPath);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
            log.warn({ err: e }, `could not remove ${this.unlinkPath}`);
          }
        }
      }
      for (const c of [...this.conns]) c.close();
    });
    return this.closing;
  }
}

function listenOn(server: net.Server, what: string, ...args: unknown[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (e: Error): void => {
      const code = (e as NodeJS.ErrnoException).code;
      reject(
        new ListenError(
          code === 'EADDRINUSE' ? 'in-use' : 'listen-failed',
          `cannot listen on ${what}: ${e.message}`,
          e,
        ),
      );
    };
    server.once('error', onError);
    server.listen(...(args as [string]), () => {
      server.off('error', onError);
      server.on('error', (e) => log.error({ err: e }, `listener ${what} failed`));
      resolve();
    });
  });
}

/**
 * Listens on the unix socket `path`. If the path already exists: when a live process accepts a
 * connection on it, throws {@link ListenError} `in-use` ("… is in use by a running daemon");
 * when nobody answers (a stale socket left by a crash), removes it and listens. A path that
 * exists but is not a socket is never removed (`not-a-socket`). Each connection is handed to
 * `onConnection` as a {@link StreamTransport} named `unix:<path>`.
 */
export async function listenUnix(path: string, onConnection: ConnectionHandler): Promise<Listener> {
  if (Buffer.byteLength(path) > MAX_UNIX_PATH_BYTES) {
    throw new ListenError(
      'path-too-long',
      `unix socket path ${path} is longer than ${MAX_UNIX_PATH_BYTES} bytes`,
    );
  }
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ListenError(
        'listen-failed',
        `cannot examine ${path}: ${(e as Error).message}`,
        e as Error,
      );
    }
  }
  if (st) {
    if (!st.isSocket()) {
      throw new ListenError('not-a-socket', `${path} exists and is not a socket`);
    }
    if (await probeUnix(path)) {
      throw new ListenError('in-use', `${path} is in use by a running daemon`);
    }
    log.info(`removing stale socket ${path}`);
    try {
      fs.unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new ListenError(
          'listen-failed',
          `cannot remove stale socket ${path}: ${(e as Error).message}`,
          e as Error,
        );
      }
    }
  }
  const name = `unix:${path}`;
  const server = net.createServer();
  const listener = new ServerListener(name, server, path);
  server.on('connection', (sock) => {
    const t = new StreamTransport(sock, name);
    listener.track(t);
    onConnection(t);
  });
  await listenOn(server, name, path);
  return listener;
}

/**
 * Listens on TCP `host`:`port` (port 0 picks a free port, reported in the result). Each
 * connection is handed to `onConnection` as a {@link StreamTransport} named
 * `tcp:<remote address>:<remote port>`.
 */
export async function listenTcp(
  host: string,
  port: number,
  onConnection: ConnectionHandler,
): Promise<TcpListener> {
  const server = net.createServer();
  const holder: { listener?: ServerListener } = {};
  server.on('connection', (sock) => {
    sock.setNoDelay(true);
    const addr = sock.remoteAddress ?? '?';
    const peer = addr.includes(':')
      ? `tcp:[${addr}]:${sock.remotePort}`
      : `tcp:${addr}:${sock.remotePort}`;
    const t = new StreamTransport(sock, peer);
    holder.listener?.track(t);
    onConnection(t);
  });
  await listenOn(server, `tcp:${host}:${port}`, port, host);
  const bound = (server.address() as net.AddressInfo).port;
  const hostName = host.includes(':') ? `[${host}]` : host;
  const listener = new ServerListener(`tcp:${hostName}:${bound}`, server, undefined);
  holder.listener = listener;
  return Object.assign(listener, { port: bound });
}

/**
 * OVSDB remotes: where the server listens and whom it dials, from OVS-style strings.
 *
 * | remote | meaning | inactivity probe |
 * | --- | --- | --- |
 * | `punix:PATH` | listen on a unix socket (a stale socket file is removed first) | none |
 * | `ptcp:PORT[:IP]` | listen on TCP (IP default 0.0.0.0; IPv6 as `[::1]`; PORT 0 = any) | 5 s |
 * | `pssl:PORT[:IP]` | listen on TLS; peers must present a certificate signed by the CA | 5 s |
 * | `pws:PORT[:IP]` | listen for WebSocket (ours; one JSON-RPC message per text frame) | 5 s |
 * | `unix:PATH` | connect to a unix socket, reconnecting with backoff | none |
 * | `tcp:IP:PORT` | connect over TCP, reconnecting with backoff | 5 s |
 * | `ssl:IP:PORT` | connect over TLS, reconnecting with backoff | 5 s |
 *
 * A {@link RemoteManager} owns the remotes of one server: add/remove at run time, and a status
 * per remote (connected or not, number of sessions, bound port, last error) that the bridge
 * reconciler can copy into `Manager.is_connected` / `Manager.status`.
 *
 * TLS follows OVS: the server (and the active client) present `privateKey`/`certificate` and
 * require the peer's certificate to chain to `caCert`; host names are not checked (OVS does not
 * check them either). Certificates made by Debian's `ovs-pki` work as they are.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Clock, TimerHandle } from '../lib/clock.js';
import { getLogger } from '../lib/log.js';
import { counter } from '../lib/counters.js';
import { StreamTransport, type Transport } from '../lib/transport.js';
import { listenWebSocket, type WebSocketListener } from './websocket.js';

const log = getLogger('ovsdb-remotes');
const cAccepted = counter(
  'ovsdb_remote_accepted',
  'ovsdb',
  'OVSDB connections accepted on passive remotes',
);
const cConnectFail = counter(
  'ovsdb_remote_connect_fail',
  'ovsdb',
  'failed connection attempts of active remotes',
);

/** Default inactivity probe interval for TCP, SSL and WebSocket remotes (OVS: 5 s). */
export const DEFAULT_PROBE_MS = 5000;
/** First reconnect delay of an active remote (OVS reconnect: 1 s). */
export const MIN_BACKOFF_MS = 1000;
/** Largest reconnect delay of an active remote (OVS reconnect default: 8 s). */
export const MAX_BACKOFF_MS = 8000;

/** A parsed remote string. */
export type RemoteSpec =
  | { kind: 'punix'; path: string }
  | { kind: 'unix'; path: string }
  | { kind: 'ptcp' | 'pssl' | 'pws'; port: number; host: string }
  | { kind: 'tcp' | 'ssl'; port: number; host: string };

/** TLS material: PEM text or file paths (a path is read when the remote starts). */
export interface SslOptions {
  /** Our private key (PEM or path). */
  privateKey: string | Buffer;
  /** Our certificate (PEM or path). */
  certificate: string | Buffer;
  /** CA certificate peers must chain to (PEM or path). */
  caCert: string | Buffer;
}

/** Per-remote options. */
export interface RemoteOptions {
  /**
   * Inactivity probe interval in ms; 0 disables probing. Default: none for unix sockets,
   * {@link DEFAULT_PROBE_MS} otherwise.
   */
  probeIntervalMs?: number;
  /** TLS material; required for `pssl:` and `ssl:`. */
  ssl?: SslOptions;
  /** Largest reconnect delay for active remotes, ms (default {@link MAX_BACKOFF_MS}). */
  maxBackoffMs?: number;
}

/** What a remote tells the server about a new connection. */
export interface ConnectionInfo {
  /** The remote string the connection came through, e.g. `ptcp:6640:127.0.0.1`. */
  remote: string;
  /** Inactivity probe interval to use on this session, ms (0 = none). */
  probeIntervalMs: number;
}

/** Receives every new connection; the server wraps it in a session. */
export type ConnectionAcceptor = (transport: Transport, info: ConnectionInfo) => void;

/** Status of one remote, the raw material for `Manager.is_connected` and `Manager.status`. */
export interface RemoteStatus {
  /** The remote string as given. */
  target: string;
  /** True when listening (passive) or connected (active). */
  isConnected: boolean;
  /** Open sessions that came through this remote. */
  sessions: number;
  /**
   * OVS reconnect-style state: `LISTENING` (passive), `ACTIVE` (active, connected),
   * `CONNECTING`, `BACKOFF` (waiting to retry) or `VOID` (stopped).
   */
  state: 'LISTENING' | 'ACTIVE' | 'CONNECTING' | 'BACKOFF' | 'VOID';
  /** Port actually bound (passive TCP/SSL/WS), useful with port 0. */
  boundPort?: number;
  /** Text of the last connection or listen error, if any. */
  lastError?: string;
  /** Clock time (ms) of the last successful connect (active) or listen start (passive). */
  connectedAt?: number;
  /** Clock time (ms) of the last disconnect (active remotes). */
  disconnectedAt?: number;
  /** Connections accepted or made so far. */
  nConnections: number;
}

/** Throws an Error naming the problem when `target` is not a remote we understand. */
export function parseRemote(target: string): RemoteSpec {
  const colon = target.indexOf(':');
  if (colon < 0) throw new Error(`${target}: remote must be of the form TYPE:ARGS`);
  const kind = target.slice(0, colon);
  const rest = target.slice(colon + 1);
  switch (kind) {
    case 'punix':
    case 'unix':
      if (rest === '') throw new Error(`${target}: missing socket path`);
      return { kind, path: rest };
    case 'ptcp':
    case 'pssl':
    case 'pws': {
      // PORT[:IP]
      const c = rest.indexOf(':');
      const portText = c < 0 ? rest : rest.slice(0, c);
      const hostText = c < 0 ? '' : rest.slice(c + 1);
      return {
        kind,
        port: parsePort(target, portText, true),
        host: parseHost(target, hostText) || '0.0.0.0',
      };
    }
    case 'tcp':
    case 'ssl': {
      // IP:PORT, IPv6 as [addr]:PORT
      let host: string;
      let portText: string;
      if (rest.startsWith('[')) {
        const end = rest.indexOf(']');
        if (end < 0 || rest[end + 1] !== ':') throw new Error(`${target}: bad address`);
        host = rest.slice(1, end);
        portText = rest.slice(end + 2);
      } else {
        const c = rest.lastIndexOf(':');
        if (c < 0) throw new Error(`${target}: missing port`);
        host = rest.slice(0, c);
        portText = rest.slice(c + 1);
      }
      if (host === '') throw new Error(`${target}: missing address`);
      return { kind, host, port: parsePort(target, portText, false) };
    }
    default:
      throw new Error(`${target}: unknown remote type "${kind}"`);
  }
}

function parsePort(target: string, text: string, passive: boolean): number {
  if (!/^\d+$/.test(text)) throw new Error(`${target}: bad port "${text}"`);
  const port = Number(text);
  if (port > 65535 || (!passive && port === 0)) throw new Error(`${target}: bad port "${text}"`);
  return port;
}

function parseHost(target: string, text: string): string {
  if (text.startsWith('[')) {
    if (!text.endsWith(']')) throw new Error(`${target}: bad address`);
    return text.slice(1, -1);
  }
  return text;
}

function pem(v: string | Buffer): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v.includes('-----BEGIN')) return Buffer.from(v);
  return fs.readFileSync(v);
}

function tlsMaterial(
  target: string,
  ssl: SslOptions | undefined,
): { key: Buffer; cert: Buffer; ca: Buffer } {
  if (!ssl) throw new Error(`${target}: SSL remote needs privateKey, certificate and caCert`);
  return { key: pem(ssl.privateKey), cert: pem(ssl.certificate), ca: pem(ssl.caCert) };
}

/** Removes `path` when it is a unix socket nobody listens on (left by a dead process). */
async function removeStaleSocket(path: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${path}: exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`${path}: another process is listening on this socket`);
  fs.unlinkSync(path);
}

function listenServer(server: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(options, () => {
      server.off('error', onError);
      server.on('error', (err) => log.warn({ err }, 'listener error'));
      resolve();
    });
  });
}

/** One remote, passive or active. */
class Remote {
  readonly transports = new Set<Transport>();
  nConnections = 0;
  lastError: string | undefined;
  connectedAt: number | undefined;
  disconnectedAt: number | undefined;
  state: RemoteStatus['state'] = 'VOID';
  boundPort: number | undefined;
  private server: net.Server | undefined;
  private wsListener: WebSocketListener | undefined;
  private unixPath: string | undefined;
  private stopped = false;
  private backoff = 0;
  private timer: TimerHandle | undefined;
  private activeSocket: net.Socket | undefined;
  readonly probeIntervalMs: number;

  constructor(
    readonly target: string,
    readonly spec: RemoteSpec,
    private readonly options: RemoteOptions,
    private readonly clock: Clock,
    private readonly acceptor: ConnectionAcceptor,
  ) {
    this.probeIntervalMs =
      options.probeIntervalMs ??
      (spec.kind === 'punix' || spec.kind === 'unix' ? 0 : DEFAULT_PROBE_MS);
  }

  async start(): Promise<void> {
    const spec = this.spec;
    switch (spec.kind) {
      case 'punix': {
        await removeStaleSocket(spec.path);
        const server = net.createServer((s) => this.accept(s, `unix:${spec.path}`));
        await listenServer(server, { path: spec.path });
        this.unixPath = spec.path;
        this.server = server;
        break;
      }
      case 'ptcp': {
        const server = net.createServer((s) =>
          this.accept(s, `tcp:${s.remoteAddress ?? '?'}:${s.remotePort ?? 0}`),
        );
        await listenServer(server, { port: spec.port, host: spec.host });
        this.server = server;
        this.boundPort = (server.address() as net.AddressInfo).port;
        break;
      }
      case 'pssl': {
        const m = tlsMaterial(this.target, this.options.ssl);
        const server = tls.createServer(
          { ...m, requestCert: true, rejectUnauthorized: true },
          (s) => this.accept(s, `ssl:${s.remoteAddress ?? '?'}:${s.remotePort ?? 0}`),
        );
        server.on('tlsClientError', (err) => {
          this.lastError = err.message;
          log.info({ err: err.message }, 'TLS handshake failed');
        });
        await listenServer(server, { port: spec.port, host: spec.host });
        this.server = server;
        this.boundPort = (server.address() as net.AddressInfo).port;
        break;
      }
      case 'pws': {
        this.wsListener = await listenWebSocket(spec.port, spec.host, (t) => this.adopt(t));
        this.boundPort = this.wsListener.port;
        break;
      }
      case 'tcp':
      case 'ssl':
      case 'unix':
        if (spec.kind === 'ssl') tlsMaterial(this.target, this.options.ssl); // validate early
        this.connect();
        return;
    }
    this.state = 'LISTENING';
    this.connectedAt = this.clock.now();
  }

  private accept(s: net.Socket, peer: string): void {
    this.adopt(new StreamTransport(s, peer));
  }

  private adopt(t: Transport): void {
    if (this.stopped) {
      t.destroy();
      return;
    }
    cAccepted.inc();
    this.nConnections++;
    this.transports.add(t);
    t.on('close', () => this.transports.delete(t));
    this.acceptor(t, { remote: this.target, probeIntervalMs: this.probeIntervalMs });
  }

  private connect(): void {
    if (this.stopped) return;
    const spec = this.spec;
    this.state = 'CONNECTING';
    let sock: net.Socket;
    let peer: string;
    let readyEvent: string;
    if (spec.kind === 'unix') {
      sock = net.connect(spec.path);
      peer = `unix:${spec.path}`;
      readyEvent = 'connect';
    } else if (spec.kind === 'tcp') {
      sock = net.connect(spec.port, spec.host);
      peer = `tcp:${spec.host}:${spec.port}`;
      readyEvent = 'connect';
    } else if (spec.kind === 'ssl') {
      let m: { key: Buffer; cert: Buffer; ca: Buffer };
      try {
        m = tlsMaterial(this.target, this.options.ssl);
      } catch (err) {
        this.failed((err as Error).message);
        return;
      }
      sock = tls.connect({
        ...m,
        host: spec.host,
        port: spec.port,
        rejectUnauthorized: true,
        checkServerIdentity: () => undefined,
      });
      peer = `ssl:${spec.host}:${spec.port}`;
      readyEvent = 'secureConnect';
    } else {
      return;
    }
    this.activeSocket = sock;
    const onError = (err: Error): void => {
      sock.destroy();
      this.activeSocket = undefined;
      this.failed(err.message);
    };
    sock.once('error', onError);
    sock.once(readyEvent, () => {
      sock.off('error', onError);
      if (this.stopped) {
        sock.destroy();
        return;
      }
      this.state = 'ACTIVE';
      this.connectedAt = this.clock.now();
      this.backoff = 0;
      const t = new StreamTransport(sock, peer);
      t.on('close', () => {
        this.activeSocket = undefined;
        this.disconnectedAt = this.clock.now();
        if (!this.stopped) this.scheduleReconnect();
      });
      this.adopt(t);
    });
  }

  private failed(message: string): void {
    cConnectFail.inc();
    this.lastError = message;
    log.info({ remote: this.target, err: message }, 'connection attempt failed');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const max = this.options.maxBackoffMs ?? MAX_BACKOFF_MS;
    this.backoff =
      this.backoff === 0 ? Math.min(MIN_BACKOFF_MS, max) : Math.min(this.backoff * 2, max);
    this.state = 'BACKOFF';
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.connect();
    }, this.backoff);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.state = 'VOID';
    this.clock.clearTimeout(this.timer);
    this.activeSocket?.destroy();
    for (const t of [...this.transports]) t.destroy();
    const server = this.server;
    if (server) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (this.unixPath) {
        try {
          fs.unlinkSync(this.unixPath);
        } catch {
          /* already gone */
        }
      }
    }
    if (this.wsListener) await this.wsListener.close();
  }

  status(): RemoteStatus {
    const passive =
      this.spec.kind === 'punix' ||
      this.spec.kind === 'ptcp' ||
      this.spec.kind === 'pssl' ||
      this.spec.kind === 'pws';
    const st: RemoteStatus = {
      target: this.target,
      isConnected: passive ? this.state === 'LISTENING' : this.state === 'ACTIVE',
      sessions: this.transports.size,
      state: this.state,
      nConnections: this.nConnections,
    };
    if (this.boundPort !== undefined) st.boundPort = this.boundPort;
    if (this.lastError !== undefined) st.lastError = this.lastError;
    if (this.connectedAt !== undefined) st.connectedAt = this.connectedAt;
    if (this.disconnectedAt !== undefined) st.disconnectedAt = this.disconnectedAt;
    return st;
  }
}

/** The set of remotes of one server. */
export class RemoteManager {
  private readonly remotes = new Map<string, Remote>();

  constructor(
    private readonly acceptor: ConnectionAcceptor,
    private readonly clock: Clock,
    /** Options used for every remote unless {@link RemoteManager.add} overrides them. */
    private readonly defaults: RemoteOptions = {},
  ) {}

  /**
   * Starts remote `target`. Resolves once a passive remote listens (or an active one has made
   * its first attempt's plan). Rejects on a malformed remote, missing TLS material or a listen
   * error; adding a remote that already exists is a no-op.
   */
  async add(target: string, options: RemoteOptions = {}): Promise<RemoteStatus> {
    const existing = this.remotes.get(target);
    if (existing) return existing.status();
    const spec = parseRemote(target);
    const r = new Remote(target, spec, { ...this.defaults, ...options }, this.clock, this.acceptor);
    this.remotes.set(target, r);
    try {
      await r.start();
    } catch (err) {
      this.remotes.delete(target);
      await r.stop();
      throw err;
    }
    log.info({ remote: target }, 'remote added');
    return r.status();
  }

  /** Stops remote `target` and closes its sessions. Resolves false when there is no such remote. */
  async remove(target: string): Promise<boolean> {
    const r = this.remotes.get(target);
    if (!r) return false;
    this.remotes.delete(target);
    await r.stop();
    return true;
  }

  /** Remote strings, sorted. */
  list(): string[] {
    return [...this.remotes.keys()].sort();
  }

  /** Status of `target`, or undefined. */
  status(target: string): RemoteStatus | undefined {
    return this.remotes.get(target)?.status();
  }

  /** Status of every remote, sorted by target. */
  statusAll(): RemoteStatus[] {
    return this.list().map((t) => this.remotes.get(t)!.status());
  }

  /** Stops every remote. */
  async closeAll(): Promise<void> {
    const all = [...this.remotes.values()];
    this.remotes.clear();
    await Promise.all(all.map((r) => r.stop()));
  }
}

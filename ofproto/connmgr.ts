/**
 * The connection manager of one bridge (OVS's `connmgr`): active controller connections with
 * reconnect backoff, passive listeners (ptcp:, punix:, pssl:) and the always-on
 * `<rundir>/<bridge>.mgmt` socket for ovs-ofctl, the switch-wide role arbitration
 * (generation id), delivery of asynchronous messages by role and async config, and the status
 * the reconciler writes back into Controller rows.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Clock, TimerHandle } from '../lib/clock.js';
import { counter } from '../lib/counters.js';
import { getLogger } from '../lib/log.js';
import { StreamTransport, type Transport } from '../lib/transport.js';
import { listenTcp, listenUnix, type Listener } from '../lib/unix-socket.js';
import { OfpError } from '../openflow/errors.js';
import type { OfpMessage } from '../openflow/messages.js';
import { Ofconn, type AsyncKind, type OfconnType, type OfRole } from './ofconn.js';

/**
 * Default busy-poll budget after a barrier reply, in microseconds. On this class of machine the
 * next flow-mod of `ovs-ofctl add-flows` follows our barrier reply within 10-40 µs, while a
 * sleep and wake-up of the event loop costs about as much as the whole round trip. Of the polls
 * of a 100k add-flows about 0.25 % came back empty at 50 µs and 0.1 % at 200 µs.
 */
export const DEFAULT_BUSY_POLL_US = 100;

/**
 * Parses other_config:openflow-busy-poll-us: an integer 0-1000 (0: off); anything else (or
 * absent) gives {@link DEFAULT_BUSY_POLL_US}.
 */
export function parseBusyPollUs(v: string | undefined): number {
  if (v === undefined || !/^\d{1,7}$/.test(v)) return DEFAULT_BUSY_POLL_US;
  const n = Number(v);
  return n <= 1000 ? n : DEFAULT_BUSY_POLL_US;
}
const log = getLogger('connmgr');
const cConnect = counter('connmgr_connect', 'ofproto', 'active controller connections opened');
const cConnectFail = counter(
  'connmgr_connect_failed',
  'ofproto',
  'active controller connection attempts that failed',
);
const cAccept = counter('connmgr_accept', 'ofproto', 'OpenFlow connections accepted');
const cAsync = counter('connmgr_async_sent', 'ofproto', 'asynchronous messages sent');

/** The OpenFlow port OVS and controllers use by default. */
export const DEFAULT_OF_PORT = 6653;
const ALL_ONES = 0xffffffffffffffffn;

/** A parsed controller target. */
export type OfTarget =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'ssl'; host: string; port: number }
  | { kind: 'unix'; path: string }
  | { kind: 'ptcp'; host: string; port: number }
  | { kind: 'pssl'; host: string; port: number }
  | { kind: 'punix'; path: string };

/**
 * Parses an OVS controller target: `tcp:IP[:PORT]`, `ssl:IP[:PORT]`, `unix:PATH`,
 * `ptcp:[PORT][:IP]`, `pssl:[PORT][:IP]`, `punix:PATH`. IPv6 addresses go in brackets.
 * Throws Error with a readable message for anything else.
 */
export function parseOfTarget(target: string): OfTarget {
  const i = target.indexOf(':');
  if (i < 0) throw new Error(`${target}: not a valid OpenFlow target`);
  const kind = target.slice(0, i);
  const rest = target.slice(i + 1);
  const hostPort = (s: string): { host: string; port: number } => {
    let host: string;
    let portStr: string | undefined;
    if (s.startsWith('[')) {
      const end = s.indexOf(']');
      host = s.slice(1, end);
      portStr = s.slice(end + 1).replace(/^:/, '') || undefined;
    } else {
      const parts = s.split(':');
      host = parts[0] ?? '';
      portStr = parts[1];
    }
    if (!host) throw new Error(`${target}: missing host`);
    return { host, port: portStr ? parsePort(portStr, target) : DEFAULT_OF_PORT };
  };
  const portHost = (s: string): { host: string; port: number } => {
    if (s === '') return { host: '0.0.0.0', port: DEFAULT_OF_PORT };
    const j = s.indexOf(':');
    const portStr = j < 0 ? s : s.slice(0, j);
    let host = j < 0 ? '0.0.0.0' : s.slice(j + 1);
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    return { host, port: portStr === '' ? DEFAULT_OF_PORT : parsePort(portStr, target) };
  };
  switch (kind) {
    case 'tcp':
      return { kind: 'tcp', ...hostPort(rest) };
    case 'ssl':
      return { kind: 'ssl', ...hostPort(rest) };
    case 'unix':
      if (!rest) throw new Error(`${target}: missing path`);
      return { kind: 'unix', path: rest };
    case 'ptcp':
      return { kind: 'ptcp', ...portHost(rest) };
    case 'pssl':
      return { kind: 'pssl', ...portHost(rest) };
    case 'punix':
      if (!rest) throw new Error(`${target}: missing path`);
      return { kind: 'punix', path: rest };
    default:
      throw new Error(`${target}: unknown connection type "${kind}"`);
  }
}

function parsePort(s: string, target: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${target}: bad port "${s}"`);
  return n;
}

/** One controller as configured (a Controller row). */
export interface ControllerConfig {
  /** OVS target string. */
  target: string;
  /** Maximum reconnect backoff in ms (OVS default 8000). */
  maxBackoffMs?: number;
  /** Inactivity probe interval in ms (default 5000; 0 disables). */
  inactivityProbeMs?: number;
}

/** TLS material for ssl:/pssl: targets (from the SSL table or flags). */
export interface TlsMaterial {
  /** PEM private key. */
  key: string | Buffer;
  /** PEM certificate. */
  cert: string | Buffer;
  /** PEM CA certificate(s) to verify the peer. */
  ca?: string | Buffer;
}

/** Status of one controller, as the reconciler writes it into the Controller row. */
export interface ControllerStatus {
  /** OVS target string. */
  target: string;
  /** True while at least one connection for it is in the active state. */
  isConnected: boolean;
  /** Role of the (first) connection: `other` (equal), `master`, `slave`. */
  role: 'other' | 'master' | 'slave';
  /** OVS's rconn state name: ACTIVE, BACKOFF, CONNECTING, LISTENING, IDLE, VOID. */
  state: string;
  /** Seconds since the connection became active, when connected. */
  secSinceConnect?: number;
  /** Seconds since it was last lost, when it has been lost. */
  secSinceDisconnect?: number;
  /** Last error, if any. */
  lastError?: string;
}

/** What the bridge provides to its connection manager. */
export interface ConnmgrOwner {
  /** Handles a message the ofconn does not handle itself (see OfconnOwner.handleMessage). */
  handleMessage(conn: Ofconn, msg: OfpMessage, raw: Uint8Array): void | Promise<void>;
}

/** Options of a {@link Connmgr}. */
export interface ConnmgrOptions {
  /** Bridge name (for logs). */
  bridge: string;
  /** Time source. */
  clock: Clock;
  /** The bridge. */
  owner: ConnmgrOwner;
  /** Path of the always-on management socket (`<rundir>/<bridge>.mgmt`), if any. */
  mgmtPath?: string;
  /** TLS material for ssl:/pssl: targets. */
  tls?: TlsMaterial;
}

interface Endpoint {
  readonly config: ControllerConfig;
  readonly target: OfTarget;
  conns: Set<Ofconn>;
  state: string;
  lastError?: string;
  connectedAt?: number;
  disconnectedAt?: number;
  stop(): Promise<void>;
}

/** The connection manager of one bridge. */
export class Connmgr {
  private readonly opts: ConnmgrOptions;
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly all = new Set<Ofconn>();
  private mgmt: Listener | undefined;
  private generationId: bigint | undefined;
  private closed = false;

  constructor(opts: ConnmgrOptions) {
    this.opts = opts;
  }

  /**
   * OpenFlow wire versions the bridge allows (Bridge.protocols); new connections advertise and
   * negotiate within them (see OfconnOptions.versions). Default: OpenFlow 1.3.
   */
  allowedVersions: readonly number[] = [0x04];

  /**
   * Busy-poll budget (µs) of every connection after a barrier reply (OfconnOptions.busyPollUs);
   * 0 turns it off. Read by connections each time, so a change applies at once.
   */
  busyPollUs = DEFAULT_BUSY_POLL_US;

  /** Opens the management socket. */
  async start(): Promise<void> {
    if (this.opts.mgmtPath) {
      this.mgmt = await listenUnix(this.opts.mgmtPath, (t) => this.adopt(t, 'service', 0));
    }
  }

  /** Every connection in any state. */
  connections(): Ofconn[] {
    return [...this.all];
  }

  /** The switch-wide generation id (all-ones when never set). */
  currentGenerationId(): bigint {
    return this.generationId ?? ALL_ONES;
  }

  /**
   * Applies a role change with the OpenFlow 1.3 generation-id rules: for MASTER and SLAVE a
   * request whose generation id is behind the cached one (signed 64-bit distance) is STALE; a new
   * MASTER demotes every other master to SLAVE.
   */
  changeRole(conn: Ofconn, role: OfRole, generationId: bigint): bigint {
    if (role !== 'equal') {
      if (
        this.generationId !== undefined &&
        BigInt.asIntN(64, generationId - this.generationId) < 0n
      ) {
        throw new OfpError('OFPRRFC_STALE', `generation ${generationId} < ${this.generationId}`);
      }
      this.generationId = generationId;
    }
    if (role === 'master') {
      for (const c of this.all) if (c !== conn && c.role === 'master') c.role = 'slave';
    }
    conn.role = role;
    return this.currentGenerationId();
  }

  /**
   * Sends an asynchronous message to every connection whose role and async config want `kind`
   * with `reason` (a bit number: OFPR_*, OFPPR_*, OFPRR_*). `build` makes the message per
   * connection (xid, miss_send_len may differ). Returns how many got it.
   */
  sendAsync(
    kind: AsyncKind,
    reason: number,
    build: (conn: Ofconn) => OfpMessage | undefined,
    exclude?: Ofconn,
  ): number {
    let n = 0;
    for (const c of this.all) {
      if (c === exclude || !c.wantsAsync(kind, reason)) continue;
      const m = build(c);
      if (!m) continue;
      c.send(m);
      n++;
    }
    cAsync.inc(n);
    return n;
  }

  /**
   * Makes the set of controllers equal to `list` (by target string): endpoints no longer listed
   * are closed, new ones opened, unchanged ones kept with their connections.
   */
  async setControllers(list: readonly ControllerConfig[]): Promise<void> {
    const wanted = new Map(list.map((c) => [c.target, c]));
    for (const [target, ep] of this.endpoints) {
      const w = wanted.get(target);
      if (
        !w ||
        w.maxBackoffMs !== ep.config.maxBackoffMs ||
        w.inactivityProbeMs !== ep.config.inactivityProbeMs
      ) {
        this.endpoints.delete(target);
        await ep.stop();
      }
    }
    for (const c of list) {
      if (this.endpoints.has(c.target)) continue;
      let target: OfTarget;
      try {
        target = parseOfTarget(c.target);
      } catch (e) {
        log.warn({ bridge: this.opts.bridge, target: c.target }, (e as Error).message);
        this.endpoints.set(c.target, deadEndpoint(c, (e as Error).message));
        continue;
      }
      const ep =
        target.kind === 'tcp' || target.kind === 'ssl' || target.kind === 'unix'
          ? this.activeEndpoint(c, target)
          : await this.passiveEndpoint(c, target);
      this.endpoints.set(c.target, ep);
    }
  }

  /** Status of every configured controller. */
  status(): ControllerStatus[] {
    const now = this.opts.clock.wallNow();
    return [...this.endpoints.values()].map((ep) => {
      const active = [...ep.conns].filter((c) => c.state === 'active');
      const first = active[0];
      const s: ControllerStatus = {
        target: ep.config.target,
        isConnected: active.length > 0,
        role: first ? (first.role === 'equal' ? 'other' : first.role) : 'other',
        state: active.length > 0 ? 'ACTIVE' : ep.state,
      };
      if (first?.connectedAt !== undefined)
        s.secSinceConnect = Math.floor((now - first.connectedAt) / 1000);
      if (ep.disconnectedAt !== undefined)
        s.secSinceDisconnect = Math.floor((now - ep.disconnectedAt) / 1000);
      const err = ep.lastError;
      if (err !== undefined) s.lastError = err;
      return s;
    });
  }

  /** Closes every connection and listener. */
  async close(): Promise<void> {
    this.closed = true;
    for (const ep of this.endpoints.values()) await ep.stop();
    this.endpoints.clear();
    for (const c of this.all) c.close();
    this.all.clear();
    await this.mgmt?.close();
    this.mgmt = undefined;
  }

  private adopt(t: Transport, type: OfconnType, probeMs: number, ep?: Endpoint): Ofconn {
    cAccept.inc();
    const conn = new Ofconn(t, {
      type,
      clock: this.opts.clock,
      probeIntervalMs: probeMs,
      versions: () => this.allowedVersions,
      busyPollUs: () => this.busyPollUs,
      owner: {
        handleMessage: (c, m, raw) => this.opts.owner.handleMessage(c, m, raw),
        changeRole: (c, role, gen) => this.changeRole(c, role, gen),
        currentGenerationId: () => this.currentGenerationId(),
        onClose: (c) => {
          this.all.delete(c);
          if (ep) {
            ep.conns.delete(c);
            if (c.connectedAt !== undefined) ep.disconnectedAt = this.opts.clock.wallNow();
            if (c.lastError) ep.lastError = c.lastError;
          }
        },
      },
    });
    this.all.add(conn);
    ep?.conns.add(conn);
    log.debug({ bridge: this.opts.bridge, peer: t.peer, type }, 'OpenFlow connection');
    return conn;
  }

  private activeEndpoint(
    config: ControllerConfig,
    target: Extract<OfTarget, { kind: 'tcp' | 'ssl' | 'unix' }>,
  ): Endpoint {
    const clock = this.opts.clock;
    const maxBackoff = config.maxBackoffMs ?? 8000;
    let backoff = 1000;
    let timer: TimerHandle | undefined;
    let stopped = false;
    let current: net.Socket | undefined;
    const ep: Endpoint = {
      config,
      target,
      conns: new Set(),
      state: 'CONNECTING',
      stop: async () => {
        stopped = true;
        clock.clearTimeout(timer);
        for (const c of ep.conns) c.close();
        current?.destroy();
        await Promise.resolve();
      },
    };
    const retry = (why: string): void => {
      if (stopped || this.closed) return;
      ep.state = 'BACKOFF';
      ep.lastError = why;
      timer = clock.setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, Math.max(maxBackoff, 1000));
    };
    const connect = (): void => {
      if (stopped || this.closed) return;
      ep.state = 'CONNECTING';
      let sock: net.Socket;
      if (target.kind === 'unix') sock = net.connect(target.path);
      else if (target.kind === 'tcp') sock = net.connect({ host: target.host, port: target.port });
      else {
        const m = this.opts.tls;
        sock = tls.connect({
          host: target.host,
          port: target.port,
          key: m?.key,
          cert: m?.cert,
          ca: m?.ca,
          rejectUnauthorized: m?.ca !== undefined,
          checkServerIdentity: () => undefined,
        });
      }
      current = sock;
      const ready = target.kind === 'ssl' ? 'secureConnect' : 'connect';
      const onError = (err: Error): void => {
        cConnectFail.inc();
        sock.destroy();
        retry(err.message);
      };
      sock.once('error', onError);
      sock.once(ready, () => {
        sock.off('error', onError);
        if (sock instanceof net.Socket && target.kind === 'tcp') sock.setNoDelay(true);
        cConnect.inc();
        const peer =
          target.kind === 'unix'
            ? `unix:${target.path}`
            : `${target.kind}:${target.host}:${target.port}`;
        const conn = this.adopt(
          new StreamTransport(sock, peer),
          'primary',
          config.inactivityProbeMs ?? 5000,
          ep,
        );
        conn.once('active', () => {
          backoff = 1000;
          ep.lastError = undefined;
        });
        conn.once('close', () => retry(conn.lastError ?? 'connection closed'));
      });
    };
    connect();
    return ep;
  }

  private async passiveEndpoint(
    config: ControllerConfig,
    target: Extract<OfTarget, { kind: 'ptcp' | 'pssl' | 'punix' }>,
  ): Promise<Endpoint> {
    const ep: Endpoint = {
      config,
      target,
      conns: new Set(),
      state: 'LISTENING',
      stop: () => Promise.resolve(),
    };
    const probe = config.inactivityProbeMs ?? 5000;
    try {
      let listener: Listener;
      if (target.kind === 'punix') {
        listener = await listenUnix(target.path, (t) => this.adopt(t, 'service', 0, ep));
      } else if (target.kind === 'ptcp') {
        listener = await listenTcp(target.host, target.port, (t) =>
          this.adopt(t, 'service', probe, ep),
        );
      } else {
        listener = await this.listenTls(target, (t) => this.adopt(t, 'service', probe, ep));
      }
      ep.stop = async () => {
        for (const c of ep.conns) c.close();
        await listener.close();
      };
    } catch (e) {
      ep.state = 'VOID';
      ep.lastError = (e as Error).message;
      log.warn(
        { bridge: this.opts.bridge, target: config.target, err: ep.lastError },
        'cannot listen',
      );
    }
    return ep;
  }

  private listenTls(
    target: { host: string; port: number },
    onConn: (t: Transport) => void,
  ): Promise<Listener> {
    const m = this.opts.tls;
    if (!m)
      return Promise.reject(new Error('pssl: needs a private key and certificate (SSL table)'));
    const server = tls.createServer({
      key: m.key,
      cert: m.cert,
      ca: m.ca,
      requestCert: m.ca !== undefined,
      rejectUnauthorized: m.ca !== undefined,
    });
    const socks = new Set<tls.TLSSocket>();
    server.on('secureConnection', (s) => {
      socks.add(s);
      s.once('close', () => socks.delete(s));
      onConn(new StreamTransport(s, `ssl:${s.remoteAddress}:${s.remotePort}`));
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(target.port, target.host, () => {
        server.off('error', reject);
        resolve({
          name: `pssl:${target.port}:${target.host}`,
          close: () =>
            new Promise<void>((r) => {
              for (const s of socks) s.destroy();
              server.close(() => r());
            }),
        });
      });
    });
  }
}

function deadEndpoint(config: ControllerConfig, error: string): Endpoint {
  return {
    config,
    target: { kind: 'unix', path: '' },
    conns: new Set(),
    state: 'VOID',
    lastError: error,
    stop: () => Promise.resolve(),
  };
}

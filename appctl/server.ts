/**
 * The control socket: a unix socket speaking JSON-RPC exactly as OVS's unixctl server does, so
 * Debian's `ovs-appctl -t <path> CMD ARGS...` works against tsvswitch.
 *
 * Wire behaviour (checked against ovs-appctl / ovsdb-server 3.1): the client sends
 * `{"id":N,"method":CMD,"params":[args...]}`; a success reply's `result` and an error reply's
 * `error` are strings, given a trailing newline when non-empty and lacking one. `echo` is not
 * special (it is an unknown command unless registered), nobody sends inactivity probes, and a
 * notification from the client closes its connection.
 */
import type { Clock } from '../lib/clock.js';
import { getLogger } from '../lib/log.js';
import { counter } from '../lib/counters.js';
import { JsonRpcSession, JsonRpcError } from '../lib/jsonrpc.js';
import type { Json } from '../lib/json.js';
import { listenUnix, type Listener } from '../lib/unix-socket.js';
import { AppctlError, commandCallError, type AppctlRegistry } from './registry.js';

const log = getLogger('unixctl');
const cCommands = counter('unixctl_received', 'unixctl', 'appctl commands received');
const cReplies = counter('unixctl_replied', 'unixctl', 'appctl commands answered');

/** Options of {@link AppctlServer}. */
export interface AppctlServerOptions {
  /** Path of the unix socket, e.g. `/var/run/tsvs/tsvs-vswitchd.12345.ctl`. */
  path: string;
  /** Clock for the sessions (they do not probe; only used for bookkeeping). */
  clock?: Clock;
}

/** Ends `s` with a newline unless it is empty or already does, as OVS's unixctl does. */
export function withNewline(s: string): string {
  return s === '' || s.endsWith('\n') ? s : `${s}\n`;
}

/** Serves an {@link AppctlRegistry} on a unix socket. */
export class AppctlServer {
  private listener: Listener | undefined;
  private readonly sessions = new Set<JsonRpcSession>();

  constructor(
    private readonly registry: AppctlRegistry,
    private readonly opts: AppctlServerOptions,
  ) {}

  /** The socket path. */
  get path(): string {
    return this.opts.path;
  }

  /**
   * Starts listening. Rejects with lib/unix-socket's `ListenError` (e.g. `in-use` when another
   * daemon owns the path). A stale socket left by a dead process is replaced.
   */
  async listen(): Promise<void> {
    if (this.listener) throw new Error(`appctl server already listening on ${this.opts.path}`);
    this.listener = await listenUnix(this.opts.path, (transport) => {
      const session = new JsonRpcSession(transport, {
        ...(this.opts.clock ? { clock: this.opts.clock } : {}),
        probeIntervalMs: 0,
        autoEcho: false,
      });
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
      session.onRequest((method, params) => this.handle(method, params));
      session.onNotification((method) => {
        log.warn(`${session.name}: unexpected notification "${method}", closing`);
        session.close();
      });
    });
  }

  /** Stops listening, closes every connection (flushing replies) and removes the socket. */
  async close(): Promise<void> {
    const l = this.listener;
    this.listener = undefined;
    for (const s of [...this.sessions]) s.close();
    if (l) await l.close();
  }

  /** Answers one request; synchronous commands answer synchronously, so replies keep request order. */
  private handle(method: string, params: Json[]): Json | Promise<Json> {
    cCommands.inc();
    const cmd = this.registry.get(method);
    const callError = commandCallError(method, cmd, params.length);
    if (callError !== undefined || !cmd) throw new JsonRpcError(withNewline(callError ?? ''));
    const args: string[] = [];
    for (const p of params) {
      if (typeof p !== 'string') {
        throw new JsonRpcError(withNewline(`"${method}" command has non-string argument`));
      }
      args.push(p);
    }
    log.debug(`received command ${method} ${JSON.stringify(args)}`);
    let out: string | Promise<string>;
    try {
      out = cmd.handler(args);
    } catch (e) {
      throw this.failure(method, e);
    }
    if (out instanceof Promise) {
      return out.then(
        (text) => this.success(method, text),
        (e: unknown) => {
          throw this.failure(method, e);
        },
      );
    }
    return this.success(method, out);
  }

  private success(method: string, text: unknown): string {
    if (typeof text !== 'string') {
      log.error(`appctl command ${method} returned a ${typeof text}, not a string`);
      throw new JsonRpcError(withNewline(`"${method}" command returned no text`));
    }
    cReplies.inc();
    return withNewline(text);
  }

  private failure(method: string, e: unknown): JsonRpcError {
    if (!(e instanceof AppctlError)) log.error({ err: e }, `appctl command ${method} failed`);
    cReplies.inc();
    return new JsonRpcError(withNewline(e instanceof Error ? e.message : String(e)));
  }
}

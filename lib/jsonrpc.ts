/**
 * A JSON-RPC 1.0 session as Open vSwitch speaks it (ovsdb-server, ovs-vswitchd, ovs-appctl):
 * concatenated JSON objects on a byte {@link Transport}, requests correlated by id, notifications
 * with `"id": null`, success replies `{"id":ID,"result":R,"error":null}` and error replies
 * `{"id":ID,"error":E}`.
 *
 * Message validation follows OVS's rules: a member holding `null` counts as absent; the message
 * kind is reply if `result` is present, else error if `error` is present, else request if `id`
 * is present, else notification; each kind must carry exactly its own members
 * (request: method, params, id; notification: method, params; reply: result, id; error: error,
 * id), `params` must be an array, `method` a string, and no other member may appear. A violation,
 * like unparsable bytes or a reply to an id we never sent, is a protocol error: the session logs
 * it, counts it and closes without replying; messages before the bad one are still handled.
 *
 * The session also answers `echo` requests, sends inactivity probes, applies backpressure when
 * the peer does not read its replies, and handles at most a budget of messages per event-loop
 * turn so that one busy peer cannot starve the others.
 */
import { EventEmitter } from 'node:events';
import type { Transport } from './transport.js';
import { realClock, type Clock, type TimerHandle } from './clock.js';
import { getLogger } from './log.js';
import { counter } from './counters.js';
import { JsonFramer, FramerError } from './framer-json.js';
import { stringifyJson, isJsonObject, type Json, type JsonObject } from './json.js';

const log = getLogger('jsonrpc');

const cProtocolError = counter(
  'jsonrpc_protocol_error',
  'jsonrpc',
  'JSON-RPC sessions closed for a protocol error',
);
const cProbeSent = counter('jsonrpc_probe_sent', 'jsonrpc', 'JSON-RPC inactivity probes sent');
const cProbeTimeout = counter(
  'jsonrpc_probe_timeout',
  'jsonrpc',
  'JSON-RPC sessions closed because the peer did not answer an inactivity probe',
);
const cBacklogDisconnect = counter(
  'jsonrpc_backlog_disconnect',
  'jsonrpc',
  'JSON-RPC sessions closed because the peer did not read its replies',
);
const cBacklogPause = counter(
  'jsonrpc_backlog_pause',
  'jsonrpc',
  'Times a JSON-RPC session stopped reading because its send backlog was above the soft cap',
);
const cMsgIn = counter('jsonrpc_msg_recv', 'jsonrpc', 'JSON-RPC messages received');
const cMsgOut = counter('jsonrpc_msg_sent', 'jsonrpc', 'JSON-RPC messages sent');

/**
 * An error value carried by a JSON-RPC error reply. Thrown by a request handler, it becomes the
 * `error` member of the reply; a rejected {@link JsonRpcSession.request} carries the peer's value.
 */
export class JsonRpcError extends Error {
  override readonly name = 'JsonRpcError';
  constructor(
    /** The JSON value of the reply's `error` member (OVSDB uses a string or an object). */
    readonly error: Json,
    message?: string,
  ) {
    super(message ?? (typeof error === 'string' ? error : stringifyJson(error)));
  }
}

/** Rejection reason of requests still pending when the session closes. */
export class SessionClosedError extends Error {
  override readonly name = 'SessionClosedError';
}

/**
 * Returned by a request handler that will answer later with {@link JsonRpcSession.sendReply} or
 * {@link JsonRpcSession.sendError} (for example a blocking OVSDB `wait`). When a protocol error
 * follows, the session waits (at most 5 s) for running async handlers and for as many owner
 * replies as there are deferred requests before it closes, so earlier requests get answered.
 */
export const DEFERRED_REPLY: unique symbol = Symbol('jsonrpc.deferredReply');

/**
 * Handles one incoming request. Returns the result (or a promise of it), or
 * {@link DEFERRED_REPLY}; throwing (or rejecting with) a {@link JsonRpcError} sends an error
 * reply with its value. Any other exception sends `{"error":"internal error","details":msg}`.
 * `id` is the request's id exactly as received.
 */
export type RequestHandler = (
  method: string,
  params: Json[],
  id: Json,
) => Json | typeof DEFERRED_REPLY | Promise<Json | typeof DEFERRED_REPLY>;

/** Handles one incoming notification (a message with `"id": null`). Never replied to. */
export type NotificationHandler = (method: string, params: Json[]) => void;

/** Options of {@link JsonRpcSession}. */
export interface JsonRpcSessionOptions {
  /** Time source for probes and the backlog timeout. Default: the real clock. */
  clock?: Clock;
  /**
   * Inactivity probe interval in ms (default 5000; 0 disables). After this long with nothing
   * received the session sends `{"id":"echo","method":"echo","params":[]}`; if still nothing
   * arrives within another interval it closes. OVS does not probe on unix sockets: owners of
   * such sessions pass 0.
   */
  probeIntervalMs?: number;
  /** Answer incoming `echo` requests with their params (default true); false hands them to the request handler. */
  autoEcho?: boolean;
  /** Stop reading while the transport backlog exceeds this many bytes (default 1 MiB). */
  softBacklogBytes?: number;
  /** Disconnect as soon as the transport backlog exceeds this many bytes (default 64 MiB). */
  hardBacklogBytes?: number;
  /** Disconnect if the backlog stays above the soft cap this long, in ms (default 60000). */
  backlogTimeoutMs?: number;
  /** Messages handled per event-loop turn before yielding with setImmediate (default 50). */
  messageBudget?: number;
  /** Largest accepted incoming message in bytes (default 64 MiB). */
  maxMessageBytes?: number;
  /** Deepest accepted nesting of an incoming message (default 1000). */
  maxDepth?: number;
  /** Name used in log lines; default the transport's peer name. */
  name?: string;
}

/** Traffic counts of one session. */
export interface JsonRpcStats {
  /** Messages received (valid ones, handed to processing). */
  messagesIn: number;
  /** Messages sent. */
  messagesOut: number;
  /** Bytes received. */
  bytesIn: number;
  /** Bytes sent. */
  bytesOut: number;
}

/** Events of {@link JsonRpcSession}. */
export interface JsonRpcSessionEvents {
  /** The session closed; `error` says why when it was not a plain close by either side. Emitted once. */
  close: [error?: Error];
}

interface Pending {
  resolve: (v: Json) => void;
  reject: (e: Error) => void;
}

/** How often a session paused for backlog re-checks it. */
const BACKLOG_POLL_MS = 250;

/** How long a session closing for a protocol error waits for its running async handlers. */
const INFLIGHT_GRACE_MS = 5000;

/** Members a JSON-RPC 1.0 message may have. */
const MEMBERS = new Set(['method', 'params', 'result', 'error', 'id']);

/** One JSON-RPC connection. Create it over a connected transport; it starts reading at once. */
export class JsonRpcSession extends EventEmitter<JsonRpcSessionEvents> {
  /** Traffic counts. */
  readonly stats: JsonRpcStats = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 };
  /** Name used in logs (the peer). */
  readonly name: string;

  private readonly clock: Clock;
  private readonly framer: JsonFramer;
  private readonly probeInterval: number;
  private readonly autoEcho: boolean;
  private readonly softCap: number;
  private readonly hardCap: number;
  private readonly backlogTimeout: number;
  private readonly budget: number;

  private requestHandler: RequestHandler | undefined;
  private notificationHandler: NotificationHandler | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  private inbox: Json[] = [];
  private inboxHead = 0;
  /** A framing error seen after the messages in `inbox`; close once they are handled. */
  private inboxError: Error | undefined;
  private processScheduled = false;
  private readPausedForBacklog = false;
  private readPausedForInbox = false;
  private transportPaused = false;

  private lastReceived: number;
  private probeOutstanding = false;
  private probeTimer: TimerHandle | undefined;
  private backlogTimer: TimerHandle | undefined;
  /** When the backlog went above the soft cap (valid while paused for it). */
  private backlogSince = 0;
  private isClosed = false;
  /** Async request handlers still running. */
  private inflight = 0;
  /**
   * DEFERRED_REPLY answers minus replies sent by the owner: the deferred requests still waiting.
   * It may dip below zero while an owner replies from inside its handler before returning
   * DEFERRED_REPLY; ids are not tracked because they may repeat.
   */
  private deferred = 0;
  /** A protocol error waiting for running and deferred requests before the session closes. */
  private closeAfterInflight: Error | undefined;
  private inflightTimer: TimerHandle | undefined;

  private readonly onData = (chunk: Buffer): void => this.receive(chunk);
  private readonly onDrain = (): void => this.checkBacklog();
  private readonly onTransportClose = (err?: Error): void => this.shutdown(err, false);

  constructor(
    private readonly transport: Transport,
    opts: JsonRpcSessionOptions = {},
  ) {
    super();
    this.clock = opts.clock ?? realClock;
    this.name = opts.name ?? transport.peer;
    this.framer = new JsonFramer({
      ...(opts.maxMessageBytes !== undefined ? { maxMessageBytes: opts.maxMessageBytes } : {}),
      ...(opts.maxDepth !== undefined ? { maxDepth: opts.maxDepth } : {}),
    });
    this.probeInterval = opts.probeIntervalMs ?? 5000;
    this.autoEcho = opts.autoEcho ?? true;
    this.softCap = opts.softBacklogBytes ?? 1 << 20;
    this.hardCap = opts.hardBacklogBytes ?? 64 << 20;
    this.backlogTimeout = opts.backlogTimeoutMs ?? 60_000;
    this.budget = Math.max(1, opts.messageBudget ?? 50);
    this.lastReceived = this.clock.now();
    transport.on('data', this.onData);
    transport.on('drain', this.onDrain);
    transport.on('close', this.onTransportClose);
    if (transport.closed) {
      queueMicrotask(() => this.shutdown(undefined, false));
      return;
    }
    this.scheduleProbe(this.lastReceived + this.probeInterval);
  }

  /** True once the session has closed. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Sets the handler of incoming requests. Without one, requests get the error `"unknown method"`. */
  onRequest(handler: RequestHandler | undefined): void {
    this.requestHandler = handler;
  }

  /** Sets the handler of incoming notifications. Without one they are dropped. */
  onNotification(handler: NotificationHandler | undefined): void {
    this.notificationHandler = handler;
  }

  /**
   * Sends a request with a fresh numeric id and resolves with the reply's result. Rejects with
   * {@link JsonRpcError} on an error reply, or {@link SessionClosedError} if the session closes
   * first (including when it is already closed), or JsonError if `params` cannot be encoded.
   */
  request(method: string, params: Json[]): Promise<Json> {
    if (this.isClosed) return Promise.reject(new SessionClosedError('session is closed'));
    const id = this.nextId++;
    return new Promise<Json>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.send({ id, method, params });
      } catch (e) {
        this.pending.delete(id);
        throw e; // rejects the promise
      }
    });
  }

  /**
   * Sends a notification `{"id":null,"method":M,"params":P}`. No-op once closed. Throws JsonError
   * (nothing sent) if `params` cannot be encoded; the same holds for the other send methods.
   */
  notify(method: string, params: Json[]): void {
    this.send({ id: null, method, params });
  }

  /** Same as {@link JsonRpcSession.notify}; for owners that interleave notifications and replies in a set order. */
  sendNotification(method: string, params: Json[]): void {
    this.notify(method, params);
  }

  /**
   * Sends a success reply `{"id":ID,"result":R,"error":null}`. Note that OVS reads a `null`
   * result as "absent", so a null result is not a valid reply for an OVS peer.
   */
  sendReply(id: Json, result: Json): void {
    this.send({ id, result, error: null });
    this.ownerReplied();
  }

  /** Sends an error reply `{"id":ID,"error":E}` (without a `result` member, as ovsdb-server does). */
  sendError(id: Json, error: Json): void {
    this.send({ id, error });
    this.ownerReplied();
  }

  /** Closes the session: pending requests reject, queued output is flushed (best effort). Idempotent. */
  close(): void {
    this.shutdown(undefined, true);
  }

  /** Bytes queued on the transport and not yet sent. */
  backlog(): number {
    return this.transport.backlog();
  }

  // ---- sending ----

  /** Encodes and writes one message. Throws JsonError (nothing sent) if `msg` cannot be encoded. */
  private send(msg: JsonObject): void {
    if (this.isClosed) return;
    const bytes = Buffer.from(stringifyJson(msg), 'utf8');
    this.stats.messagesOut++;
    this.stats.bytesOut += bytes.length;
    cMsgOut.inc();
    this.transport.write(bytes);
    this.checkBacklog();
  }

  private checkBacklog(): void {
    if (this.isClosed) return;
    const backlog = this.transport.backlog();
    if (backlog > this.hardCap) {
      cBacklogDisconnect.inc();
      log.warn({ session: this.name, backlog }, 'send backlog above hard cap, disconnecting');
      this.shutdown(
        new Error(`send backlog ${backlog} bytes exceeds ${this.hardCap}`),
        false,
        true,
      );
      return;
    }
    if (backlog > this.softCap) {
      if (!this.readPausedForBacklog) {
        this.readPausedForBacklog = true;
        cBacklogPause.inc();
        log.debug({ session: this.name, backlog }, 'send backlog above soft cap, pausing reads');
        this.updatePause();
        this.backlogSince = this.clock.now();
        this.armBacklogPoll();
      }
    } else if (this.readPausedForBacklog) {
      this.readPausedForBacklog = false;
      this.clock.clearTimeout(this.backlogTimer);
      this.backlogTimer = undefined;
      this.updatePause();
      this.scheduleProcessing();
    }
  }

  /**
   * While paused for backlog, re-checks it periodically: a transport's `drain` event only comes
   * when the backlog reaches zero, and the soft cap may be crossed on the way down earlier.
   */
  private armBacklogPoll(): void {
    const left = this.backlogSince + this.backlogTimeout - this.clock.now();
    this.backlogTimer = this.clock.setTimeout(
      () => this.backlogPoll(),
      Math.max(0, Math.min(BACKLOG_POLL_MS, left)),
    );
  }

  private backlogPoll(): void {
    this.backlogTimer = undefined;
    if (this.isClosed || !this.readPausedForBacklog) return;
    if (this.transport.backlog() <= this.softCap) {
      this.checkBacklog();
      return;
    }
    if (this.clock.now() - this.backlogSince < this.backlogTimeout) {
      this.armBacklogPoll();
      return;
    }
    cBacklogDisconnect.inc();
    log.warn({ session: this.name }, 'peer did not drain its replies in time, disconnecting');
    this.shutdown(new Error('send backlog did not drain in time'), false, true);
  }

  private updatePause(): void {
    const want = this.readPausedForBacklog || this.readPausedForInbox;
    if (want === this.transportPaused || this.isClosed) return;
    this.transportPaused = want;
    if (want) this.transport.pause();
    else this.transport.resume();
  }

  // ---- receiving ----

  private receive(chunk: Buffer): void {
    if (this.isClosed || this.closeAfterInflight) return;
    this.stats.bytesIn += chunk.length;
    this.lastReceived = this.clock.now();
    this.probeOutstanding = false;
    if (this.inboxError) return; // already failed; waiting to close
    try {
      for (const m of this.framer.push(chunk)) this.inbox.push(m);
    } catch (e) {
      if (!(e instanceof FramerError)) throw e;
      for (const m of e.messages) this.inbox.push(m as Json);
      this.inboxError = e;
    }
    this.processInbox();
  }

  private scheduleProcessing(): void {
    if (this.processScheduled || this.isClosed) return;
    if (this.inboxHead === this.inbox.length && !this.inboxError) return;
    this.processScheduled = true;
    setImmediate(() => {
      this.processScheduled = false;
      this.processInbox();
    });
  }

  private processInbox(): void {
    let n = 0;
    while (
      !this.isClosed &&
      !this.closeAfterInflight &&
      !this.readPausedForBacklog &&
      this.inboxHead < this.inbox.length
    ) {
      if (n >= this.budget) break;
      n++;
      const msg = this.inbox[this.inboxHead++]!;
      this.stats.messagesIn++;
      cMsgIn.inc();
      this.handle(msg);
    }
    if (this.isClosed || this.closeAfterInflight) return;
    if (this.inboxHead === this.inbox.length) {
      this.inbox = [];
      this.inboxHead = 0;
    }
    const waiting = this.inbox.length - this.inboxHead;
    if (waiting === 0 && this.inboxError) {
      this.protocolError(this.inboxError.message);
      return;
    }
    // Stop reading while a backlog of parsed messages waits for later turns.
    const full = waiting >= this.budget;
    if (full !== this.readPausedForInbox) {
      this.readPausedForInbox = full;
      this.updatePause();
    }
    if (waiting > 0 && !this.readPausedForBacklog) this.scheduleProcessing();
  }

  private protocolError(why: string): void {
    cProtocolError.inc();
    log.warn({ session: this.name }, `JSON-RPC protocol error, closing: ${why}`);
    const err = new Error(`protocol error: ${why}`);
    if (this.inflight === 0 && this.deferred <= 0) {
      this.shutdown(err, true);
      return;
    }
    // Let the requests that came before the bad message finish and send their replies first
    // (bounded: a handler that never settles does not keep the session open).
    this.closeAfterInflight = err;
    this.inbox = [];
    this.inboxHead = 0;
    this.readPausedForInbox = true;
    this.updatePause();
    this.inflightTimer = this.clock.setTimeout(() => this.shutdown(err, true), INFLIGHT_GRACE_MS);
  }

  private inflightDone(): void {
    this.inflight--;
    this.maybeFinishClose();
  }

  /** Counts an owner's reply against the deferred requests. */
  private ownerReplied(): void {
    this.deferred--;
    this.maybeFinishClose();
  }

  private maybeFinishClose(): void {
    if (this.closeAfterInflight && this.inflight === 0 && this.deferred <= 0) {
      this.shutdown(this.closeAfterInflight, true);
    }
  }

  private handle(msg: Json): void {
    if (!isJsonObject(msg)) return this.protocolError('message is not a JSON object');
    for (const k of Object.keys(msg)) {
      if (!MEMBERS.has(k)) return this.protocolError(`message has unexpected member "${k}"`);
    }
    const method = msg.method;
    if (method !== undefined && typeof method !== 'string') {
      return this.protocolError('method is not a JSON string');
    }
    const params = msg.params ?? null;
    const result = msg.result ?? null;
    const error = msg.error ?? null;
    const id = msg.id ?? null;
    if (params !== null && !Array.isArray(params)) {
      return this.protocolError('"params" must be JSON array');
    }
    if (result !== null) {
      if (method !== undefined || params !== null || error !== null || id === null) {
        return this.protocolError('invalid reply');
      }
      return this.handleReply(id, result, undefined);
    }
    if (error !== null) {
      if (method !== undefined || params !== null || id === null) {
        return this.protocolError('invalid error reply');
      }
      return this.handleReply(id, undefined, error);
    }
    if (method === undefined) return this.protocolError('message must have "method"');
    if (params === null) return this.protocolError('message must have "params"');
    if (id === null) {
      try {
        this.notificationHandler?.(method, params);
      } catch (e) {
        log.error({ session: this.name, err: e }, `notification handler for "${method}" threw`);
      }
      return;
    }
    this.handleRequest(method, params, id);
  }

  private handleReply(id: Json, result: Json | undefined, error: Json | undefined): void {
    // Replies to our inactivity probes carry the id "echo"; they only count as activity.
    if (id === 'echo') return;
    const p = typeof id === 'number' ? this.pending.get(id) : undefined;
    if (!p) return this.protocolError(`reply to unknown id ${stringifyJson(id)}`);
    this.pending.delete(id as number);
    if (error !== undefined) p.reject(new JsonRpcError(error));
    else p.resolve(result as Json);
  }

  private handleRequest(method: string, params: Json[], id: Json): void {
    if (method === 'echo' && this.autoEcho) {
      this.send({ id, result: params, error: null });
      return;
    }
    const handler = this.requestHandler;
    if (!handler) {
      this.send({ id, error: 'unknown method' });
      return;
    }
    let out: Json | typeof DEFERRED_REPLY | Promise<Json | typeof DEFERRED_REPLY>;
    try {
      out = handler(method, params, id);
    } catch (e) {
      this.replyWithException(id, method, e);
      return;
    }
    if (out instanceof Promise) {
      this.inflight++;
      out
        .then(
          (v) => {
            if (v === DEFERRED_REPLY) this.deferred++;
            else this.replyWith(id, method, v);
          },
          (e: unknown) => this.replyWithException(id, method, e),
        )
        .finally(() => this.inflightDone())
        .catch((e: unknown) => log.error({ session: this.name, err: e }, 'cannot send reply'));
    } else if (out === DEFERRED_REPLY) {
      this.deferred++;
    } else {
      this.replyWith(id, method, out);
    }
  }

  /** Sends a handler's result; a result that cannot be encoded becomes an error reply. */
  private replyWith(id: Json, method: string, result: Json): void {
    try {
      this.send({ id, result, error: null });
    } catch (e) {
      this.replyWithException(id, method, e);
    }
  }

  private replyWithException(id: Json, method: string, e: unknown): void {
    if (e instanceof JsonRpcError) {
      try {
        this.send({ id, error: e.error });
        return;
      } catch (encodeError) {
        e = encodeError;
      }
    }
    log.error({ session: this.name, err: e }, `request handler for "${method}" threw`);
    this.send({
      id,
      error: { error: 'internal error', details: e instanceof Error ? e.message : String(e) },
    });
  }

  // ---- inactivity probe ----

  private scheduleProbe(at: number): void {
    if (this.probeInterval <= 0 || this.isClosed) return;
    this.probeTimer = this.clock.setTimeout(
      () => this.probeCheck(),
      Math.max(0, at - this.clock.now()),
    );
  }

  private probeCheck(): void {
    this.probeTimer = undefined;
    if (this.isClosed) return;
    const now = this.clock.now();
    const idle = now - this.lastReceived;
    if (idle < this.probeInterval) {
      this.scheduleProbe(this.lastReceived + this.probeInterval);
      return;
    }
    if (this.probeOutstanding) {
      cProbeTimeout.inc();
      log.warn(
        { session: this.name, idleMs: idle },
        'no response to inactivity probe, disconnecting',
      );
      this.shutdown(new Error(`no response to inactivity probe after ${idle} ms`), false, true);
      return;
    }
    this.probeOutstanding = true;
    cProbeSent.inc();
    log.debug({ session: this.name, idleMs: idle }, 'idle, sending inactivity probe');
    this.send({ id: 'echo', method: 'echo', params: [] });
    this.scheduleProbe(now + this.probeInterval);
  }

  // ---- closing ----

  private shutdown(err: Error | undefined, flush: boolean, destroy = false): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.clock.clearTimeout(this.probeTimer);
    this.clock.clearTimeout(this.backlogTimer);
    this.clock.clearTimeout(this.inflightTimer);
    this.inflightTimer = undefined;
    this.probeTimer = undefined;
    this.backlogTimer = undefined;
    this.inbox = [];
    this.inboxHead = 0;
    this.transport.off('data', this.onData);
    this.transport.off('drain', this.onDrain);
    this.transport.off('close', this.onTransportClose);
    // Flushing lets replies to the messages before a protocol error reach the peer.
    if (destroy || !flush) this.transport.destroy();
    else this.transport.close();
    const closedErr = new SessionClosedError(
      err ? `session closed: ${err.message}` : 'session closed',
    );
    for (const p of this.pending.values()) p.reject(closedErr);
    this.pending.clear();
    this.emit('close', err);
  }
}

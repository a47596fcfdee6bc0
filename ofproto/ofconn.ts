/**
 * One OpenFlow connection (OVS's `ofconn`): HELLO and version negotiation, echo and inactivity
 * probes, per-connection role, async configuration and miss_send_len, in-order processing (so a
 * BARRIER_REPLY follows every reply and error of earlier messages), OFPT_ERROR for every
 * {@link OfpError} a handler throws, and backpressure both ways (reading stops while too many
 * replies wait unsent or too many received bytes wait to be processed). It talks to a
 * {@link Transport} and knows nothing of sockets; the switch-wide parts (role arbitration, the
 * bridge's answers) come from its {@link OfconnOwner}.
 */
import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../lib/clock.js';
import { counter, labelledCounter, type LabelledChild } from '../lib/counters.js';
import { OpenFlowFramer, FramerError } from '../lib/framer-openflow.js';
import { getLogger } from '../lib/log.js';
import type { Transport } from '../lib/transport.js';
import {
  OFPCR_ROLE,
  OFP_DEFAULT_MISS_SEND_LEN,
  OFP_VERSION,
  OFPMPF_REQ_MORE,
  OFPT,
  OFPT_NAMES,
} from '../openflow/constants.js';
import { OFPET, OfpError, encodeErrorReply } from '../openflow/errors.js';
import { validateMessage } from '../openflow/validate.js';
import {
  decodeMessage,
  encodeMessage,
  type AsyncMask,
  type MessageOf,
  type OfpMessage,
} from '../openflow/messages.js';

const log = getLogger('ofconn');
const cRxMsg = counter('ofconn_rx_msg', 'ofproto', 'OpenFlow messages received');
const cTxMsg = counter('ofconn_tx_msg', 'ofproto', 'OpenFlow messages sent');
const cErrSent = counter('ofconn_error_sent', 'ofproto', 'OFPT_ERROR messages sent');
const cHelloFail = counter('ofconn_hello_failed', 'ofproto', 'connections refused in HELLO');
const cProbeDrop = counter(
  'ofconn_probe_timeout',
  'ofproto',
  'connections dropped by the inactivity probe',
);
const cBadFrame = counter(
  'ofconn_bad_frame',
  'ofproto',
  'connections closed for an unframeable stream',
);
const cBusyHit = counter(
  'ofconn_busy_poll_hit',
  'ofproto',
  'busy polls after a barrier reply that caught the next message without sleeping',
);
const cBusyMiss = counter(
  'ofconn_busy_poll_miss',
  'ofproto',
  'busy polls after a barrier reply that ended with nothing received',
);
/**
 * Consecutive empty busy polls a connection may have before it stops busy polling; it starts
 * again once a message arrives within the budget of a barrier reply (see Ofconn.afterPump).
 */
const BUSY_POLL_CREDIT = 4;
/**
 * Longest run of back-to-back busy polls (ns). Each caught message is handled inside the same
 * event-loop turn, so a peer that keeps answering in time would otherwise keep timers,
 * upcalls and other connections waiting; past this the connection returns to the event loop
 * once.
 */
const BUSY_POLL_MAX_STREAK_NS = 2_000_000n;
const cPaused = counter('ofconn_rx_paused', 'ofproto', 'times reading paused for backpressure');
const cInboxPaused = counter(
  'ofconn_inbox_paused',
  'ofproto',
  'times reading paused while received messages waited to be processed',
);
const cMsgByType = labelledCounter(
  'openflow_messages',
  'ofproto',
  'OpenFlow messages by direction and type',
  ['direction', 'type'],
);
const cErrByType = labelledCounter(
  'openflow_errors_sent',
  'ofproto',
  'OFPT_ERROR messages sent by error type and code',
  ['type', 'code'],
);
/** OFPET names by number (metric labels). */
const OFPET_LABELS = new Map<number, string>(
  Object.entries(OFPET).map(([name, n]) => [n as number, name]),
);
/** The OFPT name of a message's type byte (as a metric label). */
function typeLabel(bytes: Uint8Array): string {
  const t = bytes[1];
  return t === undefined ? 'short' : (OFPT_NAMES[t] ?? `type${t}`);
}
/** `openflow_messages` handles by type byte (256 = too short to have one), per direction. */
const rxByType: LabelledChild[] = [];
const txByType: LabelledChild[] = [];
/** The `openflow_messages` count of one message (no allocation once its type was seen). */
function msgCount(table: LabelledChild[], dir: 'rx' | 'tx', bytes: Uint8Array): LabelledChild {
  return (table[bytes[1] ?? 256] ??= cMsgByType.child(dir, typeLabel(bytes)));
}

/** OVS's connection types: primary (from a Controller target) and service (ovs-ofctl, ptcp). */
export type OfconnType = 'primary' | 'service';

/** A controller role (OFPCR_ROLE_* without NOCHANGE). */
export type OfRole = 'equal' | 'master' | 'slave';

/** The three async masks of a connection, each [master-or-equal, slave]. */
export interface AsyncConfig {
  /** OFPR_* bits for PACKET_IN. */
  packetIn: AsyncMask;
  /** OFPPR_* bits for PORT_STATUS. */
  portStatus: AsyncMask;
  /** OFPRR_* bits for FLOW_REMOVED. */
  flowRemoved: AsyncMask;
}

/** The spec's (and OVS's) defaults for a new connection. */
export function defaultAsyncConfig(): AsyncConfig {
  return { packetIn: [0b11, 0], portStatus: [0b111, 0b111], flowRemoved: [0b1111, 0] };
}

/** The kinds of asynchronous message the async config filters. */
export type AsyncKind = 'packetIn' | 'portStatus' | 'flowRemoved';

/** What an {@link Ofconn} needs from the switch. */
export interface OfconnOwner {
  /**
   * Handles a message the connection does not handle itself (features, multipart, flow-mod, …).
   * Replies go out through `conn.send`. Throwing {@link OfpError} makes the connection answer with
   * OFPT_ERROR; any other exception is logged and answered with OFPBRC_EPERM. A returned promise
   * is awaited before the next message of this connection is processed.
   */
  handleMessage(conn: Ofconn, msg: OfpMessage, raw: Uint8Array): void | Promise<void>;
  /**
   * Applies a ROLE_REQUEST (role MASTER, SLAVE or EQUAL, never NOCHANGE) with the switch-wide
   * generation-id rules; throws OfpError (OFPRRFC_STALE) for a stale generation id. Demotes the
   * other master when `role` is master. Returns the generation id to report.
   */
  changeRole(conn: Ofconn, role: OfRole, generationId: bigint): bigint;
  /** The switch-wide generation id to report (all-ones when never set). */
  currentGenerationId(): bigint;
  /** Called once when HELLO negotiation succeeds. */
  onActive?(conn: Ofconn): void;
  /** Called once when the connection is gone. */
  onClose?(conn: Ofconn): void;
}

/** Options of an {@link Ofconn}. */
export interface OfconnOptions {
  /** primary (controller) or service (ovs-ofctl, passive listener). */
  type: OfconnType;
  /** Time source for probes. */
  clock: Clock;
  /** The switch side. */
  owner: OfconnOwner;
  /** Inactivity probe interval in ms (OVS default 5000); 0 disables. */
  probeIntervalMs?: number;
  /** Stop reading while this many sent messages are queued unsent (default 100). */
  maxQueuedReplies?: number;
  /** Messages handled per turn before yielding to the event loop (default 50). */
  perTurnBudget?: number;
  /**
   * Stop reading while more than this many received bytes wait to be processed (default
   * {@link MAX_INBOX_BYTES}); reading resumes once they are down to half of it.
   */
  maxInboxBytes?: number;
  /**
   * The OpenFlow wire versions the bridge allows (Bridge.protocols; default [0x04]). We speak
   * only 1.3: when the list holds 0x04 we advertise 1.3; otherwise our HELLO advertises the
   * listed versions (header version = the highest) and no negotiation can succeed, as OVS
   * refuses versions outside the bridge's list.
   */
  versions?: () => readonly number[];
  /**
   * Busy-poll budget in microseconds (0 or absent: never). After answering a BARRIER_REQUEST
   * that left nothing else to do, the connection waits up to this long for the peer's next
   * message by re-trying a non-blocking read, instead of sleeping in the event loop (see
   * {@link Transport.busyPoll}). A peer that waits for each barrier reply before sending more
   * (`ovs-ofctl add-flows`, controllers pacing with barriers) then costs no wake-ups. Adaptive:
   * after a few empty polls in a row the connection stops, and starts again when a message
   * comes within the budget of a barrier reply anyway.
   */
  busyPollUs?: () => number;
}

const ROLE_BY_WIRE: Record<number, OfRole | undefined> = {
  [OFPCR_ROLE.EQUAL]: 'equal',
  [OFPCR_ROLE.MASTER]: 'master',
  [OFPCR_ROLE.SLAVE]: 'slave',
};
const WIRE_BY_ROLE: Record<OfRole, number> = {
  equal: OFPCR_ROLE.EQUAL,
  master: OFPCR_ROLE.MASTER,
  slave: OFPCR_ROLE.SLAVE,
};

/** Message types a slave may not send (OFPBRC_IS_SLAVE). */
const MODIFYING = new Set<OfpMessage['type']>([
  'PACKET_OUT',
  'FLOW_MOD',
  'GROUP_MOD',
  'PORT_MOD',
  'TABLE_MOD',
  'METER_MOD',
  'BUNDLE_CONTROL',
  'BUNDLE_ADD_MESSAGE',
]);

/** Default {@link OfconnOptions.maxInboxBytes}: 1 MiB of received, unprocessed messages. */
export const MAX_INBOX_BYTES = 1 << 20;

/** How long OVS-style partial multipart requests wait for their last part. */
export const MULTIPART_REQUEST_TIMEOUT_MS = 1000;

/** Wire type numbers of the modifying messages (experimenter bundles are checked after decode). */
const MODIFYING_WIRE_TYPES = new Set<number>([
  OFPT.PACKET_OUT,
  OFPT.FLOW_MOD,
  OFPT.GROUP_MOD,
  OFPT.PORT_MOD,
  OFPT.TABLE_MOD,
  OFPT.METER_MOD,
]);

/**
 * Our HELLO: header version 0x04 plus a version bitmap with only bit 4 (OpenFlow 1.3); on a
 * bridge that does not allow 1.3, the allowed versions (header = the highest).
 */
export function encodeOurHello(
  xid: number,
  allowed: readonly number[] = [OFP_VERSION],
): Uint8Array {
  const vs = allowed.includes(OFP_VERSION) || allowed.length === 0 ? [OFP_VERSION] : [...allowed];
  let bitmap = 0;
  for (const v of vs) bitmap |= 1 << v;
  return encodeMessage({
    type: 'HELLO',
    xid,
    version: Math.max(...vs),
    elements: [{ type: 'VERSIONBITMAP', bitmaps: [bitmap >>> 0] }],
  });
}

/**
 * Decides the version from a peer HELLO: with a bitmap, the highest common bit; without one, the
 * smaller of the two header versions. Returns undefined when there is no common version.
 */
export function negotiateVersion(
  peerHeaderVersion: number,
  peerBitmap: number[] | undefined,
): number | undefined {
  if (peerBitmap && peerBitmap.length > 0) {
    const word = peerBitmap[0] ?? 0;
    return (word >>> OFP_VERSION) & 1 ? OFP_VERSION : undefined;
  }
  return peerHeaderVersion >= OFP_VERSION ? OFP_VERSION : undefined;
}

let nextConnId = 1;

/** One OpenFlow 1.3 connection. Emits `active` and `close`. */
export class Ofconn extends EventEmitter {
  /** Unique id, for logs and status. */
  readonly id = nextConnId++;
  /** Connection type. */
  readonly type: OfconnType;
  /** Current role (default equal). */
  role: OfRole = 'equal';
  /** Async configuration. */
  asyncConfig: AsyncConfig = defaultAsyncConfig();
  /** miss_send_len from SET_CONFIG (primary default 128, service 0, as OVS). */
  missSendLen: number;
  /** Config flags from SET_CONFIG (OFPC_FRAG_*). */
  configFlags = 0;
  /** 'hello' until negotiation, then 'active', then 'closed'. */
  state: 'hello' | 'active' | 'closed' = 'hello';
  /** Wall-clock ms when the connection became active. */
  connectedAt: number | undefined;
  /** Last error text (for Controller.status last_error). */
  lastError: string | undefined;

  private readonly framer = new OpenFlowFramer();
  private readonly clock: Clock;
  private readonly owner: OfconnOwner;
  private readonly probeMs: number;
  private readonly maxQueued: number;
  private readonly budget: number;
  private readonly versions: (() => readonly number[]) | undefined;
  private probeTimer: TimerHandle | undefined;
  private lastRx: number;
  private probeSent = false;
  private inbox: Buffer[] = [];
  /** Bytes of the messages in {@link inbox}. */
  private inboxBytes = 0;
  private readonly maxInbox: number;
  private busy = false;
  /** Reading stopped because too many sent messages are queued unsent. */
  private paused = false;
  /** Reading stopped because too many received bytes wait in the inbox. */
  private inboxFull = false;
  private queuedSinceDrain = 0;
  /** The last message the current pump handled was a BARRIER_REQUEST. */
  private barrierLast = false;
  /** Empty busy polls left before busy polling stops (see {@link BUSY_POLL_CREDIT}). */
  private busyCredit = BUSY_POLL_CREDIT;
  /** When busy polling is off: the hrtime (ns) of the last barrier reply, else -1. */
  private barrierAnsweredAt = -1n;
  /** hrtime (ns) when the current run of back-to-back busy polls began, else -1. */
  private busyStreakStart = -1n;
  private readonly busyPollUs: (() => number) | undefined;
  private nextXid = 1;
  private readonly partialMultipart = new Map<
    number,
    { parts: MessageOf<'MULTIPART_REQUEST'>[]; raw: Buffer; timer: TimerHandle }
  >();

  constructor(
    /** The byte stream. */
    readonly transport: Transport,
    opts: OfconnOptions,
  ) {
    super();
    this.type = opts.type;
    this.clock = opts.clock;
    this.owner = opts.owner;
    this.probeMs = opts.probeIntervalMs ?? 5000;
    this.maxQueued = opts.maxQueuedReplies ?? 100;
    this.budget = opts.perTurnBudget ?? 50;
    this.maxInbox = opts.maxInboxBytes ?? MAX_INBOX_BYTES;
    this.versions = opts.versions;
    this.busyPollUs = opts.busyPollUs;
    this.missSendLen = opts.type === 'primary' ? OFP_DEFAULT_MISS_SEND_LEN : 0;
    this.lastRx = this.clock.now();
    transport.on('data', (chunk) => this.onData(chunk));
    transport.on('drain', () => this.onDrain());
    transport.on('close', (err) => this.onTransportClose(err));
    this.sendRaw(encodeOurHello(this.allocXid(), this.allowedVersions()));
    this.armProbe();
  }

  /** The peer, e.g. `tcp:127.0.0.1:6653`. */
  get peer(): string {
    return this.transport.peer;
  }

  /** A fresh xid for a message we originate. */
  allocXid(): number {
    const x = this.nextXid;
    this.nextXid = (this.nextXid + 1) >>> 0 || 1;
    return x;
  }

  /** Sends a message. Returns false when the backlog is high. */
  send(msg: OfpMessage): boolean {
    return this.sendRaw(encodeMessage(msg));
  }

  /** Sends pre-encoded bytes. */
  sendRaw(bytes: Uint8Array): boolean {
    if (this.state === 'closed') return false;
    cTxMsg.inc();
    msgCount(txByType, 'tx', bytes).inc();
    const ok = this.transport.write(bytes);
    if (this.transport.backlog() > 0) {
      this.queuedSinceDrain++;
      if (this.queuedSinceDrain >= this.maxQueued && !this.paused) {
        this.paused = true;
        cPaused.inc();
        if (!this.inboxFull) this.transport.pause();
      }
    }
    return ok;
  }

  /** Sends OFPT_ERROR for `err` answering `offending`. */
  sendError(err: OfpError, offending: Uint8Array, version = OFP_VERSION): void {
    cErrSent.inc();
    cErrByType.inc([OFPET_LABELS.get(err.type) ?? String(err.type), String(err.code)]);
    log.debug({ conn: this.id, err: err.message }, 'sending error');
    this.sendRaw(encodeErrorReply(err, offending, { version }));
  }

  /**
   * Whether an async message of `kind` with `reason` bit goes to this connection, by role and
   * async config; service connections get none until they set a non-zero miss_send_len (OVS).
   */
  wantsAsync(kind: AsyncKind, reason: number): boolean {
    if (this.state !== 'active') return false;
    if (this.type === 'service' && this.missSendLen === 0) return false;
    const mask = this.asyncConfig[kind][this.role === 'slave' ? 1 : 0];
    return ((mask >>> reason) & 1) === 1;
  }

  /** Closes the connection (flushing what is queued). */
  close(reason?: string): void {
    if (this.state === 'closed') return;
    if (reason) this.lastError = reason;
    this.transport.close();
    this.finish();
  }

  private finish(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clock.clearTimeout(this.probeTimer);
    for (const h of this.partialMultipart.values()) this.clock.clearTimeout(h.timer);
    this.partialMultipart.clear();
    this.inbox = [];
    this.inboxBytes = 0;
    this.owner.onClose?.(this);
    this.emit('close');
  }

  private onTransportClose(err?: Error): void {
    if (err) this.lastError = err.message;
    this.finish();
  }

  private onDrain(): void {
    this.queuedSinceDrain = 0;
    if (this.paused) {
      this.paused = false;
      if (!this.inboxFull && this.state !== 'closed') this.transport.resume();
    }
  }

  private armProbe(): void {
    if (this.probeMs <= 0 || this.state === 'closed') return;
    this.clock.clearTimeout(this.probeTimer);
    const due = this.lastRx + this.probeMs * (this.probeSent ? 2 : 1) - this.clock.now();
    this.probeTimer = this.clock.setTimeout(() => this.onProbeTimer(), Math.max(0, due));
  }

  private onProbeTimer(): void {
    if (this.state === 'closed') return;
    const idle = this.clock.now() - this.lastRx;
    if (!this.probeSent) {
      if (idle >= this.probeMs) {
        if (this.state === 'hello') {
          cProbeDrop.inc();
          this.close('no HELLO received');
          return;
        }
        this.probeSent = true;
        this.sendRaw(encodeMessage({ type: 'ECHO_REQUEST', xid: 0, data: new Uint8Array(0) }));
      }
    } else if (idle >= this.probeMs * 2) {
      cProbeDrop.inc();
      log.info(
        { conn: this.id, peer: this.peer },
        'no response to inactivity probe, disconnecting',
      );
      this.close('inactivity probe timeout');
      return;
    }
    this.armProbe();
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    if (this.barrierAnsweredAt >= 0n) this.noteArrivalAfterBarrier();
    this.lastRx = this.clock.now();
    if (this.probeSent) {
      this.probeSent = false;
      this.armProbe();
    }
    let msgs: Buffer[];
    try {
      msgs = this.framer.push(chunk);
    } catch (e) {
      if (e instanceof FramerError) {
        const done = (e as FramerError & { messages?: Buffer[] }).messages ?? [];
        for (const m of done) this.enqueue(m);
        this.inbox.push(Buffer.alloc(0)); // marker: close after the good ones
        cBadFrame.inc();
        this.pump();
        return;
      }
      throw e;
    }
    // No copy: a message shares the socket's chunk, which nothing else writes to. Handlers keep
    // decoded copies, never `raw` (a part of a multipart request held for later is copied).
    for (const m of msgs) this.enqueue(m);
    this.pump();
  }

  /** Queues a received message, and stops reading when the inbox holds too many bytes. */
  private enqueue(m: Buffer): void {
    this.inbox.push(m);
    this.inboxBytes += m.length;
    if (this.inboxBytes > this.maxInbox && !this.inboxFull) {
      this.inboxFull = true;
      cInboxPaused.inc();
      if (!this.paused) this.transport.pause();
    }
  }

  /** Takes the next received message; reading resumes once the inbox is down to half. */
  private dequeue(): Buffer {
    const m = this.inbox.shift()!;
    this.inboxBytes -= m.length;
    if (this.inboxFull && this.inboxBytes <= this.maxInbox / 2) {
      this.inboxFull = false;
      if (!this.paused && this.state !== 'closed') this.transport.resume();
    }
    return m;
  }

  /** Whether reading is paused, and why (for tests and status). */
  get readPaused(): { inbox: boolean; replies: boolean; inboxBytes: number } {
    return { inbox: this.inboxFull, replies: this.paused, inboxBytes: this.inboxBytes };
  }

  /** Processes queued messages in order, awaiting async handlers, at most `budget` per turn. */
  private pump(): void {
    if (this.busy || this.state === 'closed') return;
    this.busy = true;
    void this.drainInbox()
      .catch((e: unknown) => {
        // A bug must cost this connection, never the daemon.
        log.error(
          { conn: this.id, err: e instanceof Error ? e.stack : String(e) },
          'message loop failed',
        );
        this.close('internal error');
      })
      .finally(() => {
        this.busy = false;
        if (this.inbox.length > 0 && this.state !== 'closed') setImmediate(() => this.pump());
        else this.afterPump();
      });
  }

  /**
   * Busy-polls for the peer's next message when the pump ended by answering a barrier (see
   * {@link OfconnOptions.busyPollUs}). A message that comes is handled at once (onData starts
   * the next pump, which may poll again); an empty poll costs one credit.
   */
  private afterPump(): void {
    if (!this.barrierLast || this.state !== 'active') return;
    this.barrierLast = false;
    const budget = this.busyPollUs?.() ?? 0;
    if (budget <= 0 || this.transport.busyPoll === undefined) return;
    const now = process.hrtime.bigint();
    if (this.busyCredit <= 0) {
      // Off: remember when we answered, to see whether a poll would have caught the next one.
      this.barrierAnsweredAt = now;
      return;
    }
    if (this.busyStreakStart < 0n) this.busyStreakStart = now;
    else if (now - this.busyStreakStart > BUSY_POLL_MAX_STREAK_NS) {
      this.busyStreakStart = -1n; // let the event loop run once
      return;
    }
    const r = this.transport.busyPoll(budget);
    if (r === 'data') {
      cBusyHit.inc();
      this.busyCredit = BUSY_POLL_CREDIT;
      return; // onData started the next pump; the streak goes on
    }
    this.busyStreakStart = -1n;
    if (r === 'timeout') {
      cBusyMiss.inc();
      this.busyCredit--;
    }
  }

  /** A message arrived while busy polling was off: re-arm it if it came within the budget. */
  private noteArrivalAfterBarrier(): void {
    const gapNs = process.hrtime.bigint() - this.barrierAnsweredAt;
    this.barrierAnsweredAt = -1n;
    const budget = this.busyPollUs?.() ?? 0;
    if (budget > 0 && gapNs <= BigInt(Math.round(budget * 1000)))
      this.busyCredit = BUSY_POLL_CREDIT;
  }

  private async drainInbox(): Promise<void> {
    let n = 0;
    while (this.inbox.length > 0 && this.state !== 'closed' && n < this.budget) {
      const raw = this.dequeue();
      n++;
      if (raw.length === 0) {
        this.close('bad OpenFlow framing (length < 8)');
        return;
      }
      cRxMsg.inc();
      msgCount(rxByType, 'rx', raw).inc();
      this.barrierLast = raw[1] === OFPT.BARRIER_REQUEST && raw[0] === OFP_VERSION;
      const r = this.process(raw);
      if (r) await r;
    }
  }

  private process(raw: Buffer): Promise<void> | undefined {
    const version = raw[0]!;
    const type = raw[1]!;
    if (this.state === 'hello') {
      this.processHello(raw, version, type);
      return undefined;
    }
    if (version !== OFP_VERSION) {
      this.sendError(new OfpError('OFPBRC_BAD_VERSION'), raw, version);
      return undefined;
    }
    // Like OVS, refuse a slave's modifying message before looking at its body.
    if (this.role === 'slave' && MODIFYING_WIRE_TYPES.has(type)) {
      this.sendError(new OfpError('OFPBRC_IS_SLAVE'), raw);
      return undefined;
    }
    let msg: OfpMessage;
    try {
      msg = decodeMessage(raw);
      validateMessage(msg);
    } catch (e) {
      if (e instanceof OfpError) {
        this.sendError(e, raw);
        return undefined;
      }
      log.error({ conn: this.id, err: String(e) }, 'decoder threw a non-OpenFlow error');
      this.sendError(new OfpError('OFPBRC_EPERM'), raw);
      return undefined;
    }
    try {
      if (msg.type === 'MULTIPART_REQUEST') {
        const whole = this.assembleMultipart(msg, raw);
        if (!whole) return undefined;
        msg = whole.msg;
        raw = whole.raw;
      }
      const r = this.dispatch(msg, raw);
      if (r) {
        return r.catch((e: unknown) => this.handlerFailed(e, raw));
      }
    } catch (e) {
      this.handlerFailed(e, raw);
    }
    return undefined;
  }

  /**
   * Multipart requests may come in parts (OFPMPF_REQ_MORE). Parts are held by xid until the last
   * one arrives, then handled as one request (table-features entries concatenated). A request
   * whose last part does not come within {@link MULTIPART_REQUEST_TIMEOUT_MS} is answered with
   * OFPBRC_MULTIPART_REQUEST_TIMEOUT (ONF 2640), as OVS does.
   */
  private assembleMultipart(
    msg: MessageOf<'MULTIPART_REQUEST'>,
    raw: Buffer,
  ): { msg: MessageOf<'MULTIPART_REQUEST'>; raw: Buffer } | undefined {
    const held = this.partialMultipart.get(msg.xid);
    if (held && held.parts[0]!.mpType !== msg.mpType) {
      this.clock.clearTimeout(held.timer);
      this.partialMultipart.delete(msg.xid);
      throw new OfpError('OFPBRC_BAD_MULTIPART', 'multipart type changed between parts');
    }
    if ((msg.flags & OFPMPF_REQ_MORE) !== 0) {
      if (held) held.parts.push(msg);
      else {
        const timer = this.clock.setTimeout(() => {
          const h = this.partialMultipart.get(msg.xid);
          if (!h) return;
          this.partialMultipart.delete(msg.xid);
          this.sendError(new OfpError('OFPBRC_MULTIPART_REQUEST_TIMEOUT'), h.raw);
        }, MULTIPART_REQUEST_TIMEOUT_MS);
        this.partialMultipart.set(msg.xid, { parts: [msg], raw: Buffer.from(raw), timer });
      }
      return undefined;
    }
    if (!held) return { msg, raw };
    this.clock.clearTimeout(held.timer);
    this.partialMultipart.delete(msg.xid);
    const parts = [...held.parts, msg];
    if (msg.mpType === 'TABLE_FEATURES') {
      const entries = parts.flatMap((p) => (p.mpType === 'TABLE_FEATURES' ? p.entries : []));
      return { msg: { ...msg, entries }, raw: held.raw };
    }
    return { msg, raw: held.raw };
  }

  private handlerFailed(e: unknown, raw: Uint8Array): void {
    if (e instanceof OfpError) {
      this.sendError(e, raw);
      return;
    }
    log.error({ conn: this.id, err: e instanceof Error ? e.stack : String(e) }, 'handler failed');
    this.sendError(new OfpError('OFPBRC_EPERM', 'internal error'), raw);
  }

  private allowedVersions(): readonly number[] {
    return this.versions?.() ?? [OFP_VERSION];
  }

  private processHello(raw: Buffer, version: number, type: number): void {
    if (type !== OFPT.HELLO) {
      log.info({ conn: this.id, peer: this.peer, type }, 'first message is not HELLO, closing');
      cHelloFail.inc();
      this.close('first message was not HELLO');
      return;
    }
    let bitmap: number[] | undefined;
    try {
      const m = decodeMessage(raw) as MessageOf<'HELLO'>;
      for (const el of m.elements) if (el.type === 'VERSIONBITMAP') bitmap = el.bitmaps;
    } catch {
      // A HELLO we cannot parse: negotiate on the header version alone, as OVS does.
    }
    const allowed = this.allowedVersions();
    const servesOf13 = allowed.length === 0 || allowed.includes(OFP_VERSION);
    const v = servesOf13 ? negotiateVersion(version, bitmap) : undefined;
    if (v === undefined) {
      cHelloFail.inc();
      const peerVersions = bitmap ? describeBitmap(bitmap) : `version 0x${hex2(version)}`;
      const ours = servesOf13
        ? `version 0x${hex2(OFP_VERSION)}`
        : describeBitmap([allowed.reduce((m, x) => m | (1 << x), 0) >>> 0]);
      const text = `We support ${ours}, you support ${peerVersions}, no common versions.`;
      this.sendError(
        new OfpError('OFPHFC_INCOMPATIBLE', 'no common version', Buffer.from(text)),
        raw,
        version,
      );
      this.close('version negotiation failed');
      return;
    }
    this.state = 'active';
    this.connectedAt = this.clock.wallNow();
    this.owner.onActive?.(this);
    this.emit('active');
  }

  private dispatch(msg: OfpMessage, raw: Uint8Array): Promise<void> | void {
    if (this.role === 'slave' && MODIFYING.has(msg.type)) {
      throw new OfpError('OFPBRC_IS_SLAVE');
    }
    switch (msg.type) {
      case 'ECHO_REQUEST':
        this.send({ type: 'ECHO_REPLY', xid: msg.xid, data: msg.data });
        return;
      case 'ECHO_REPLY':
      case 'HELLO':
        return;
      case 'ERROR':
        log.info({ conn: this.id, errType: msg.errType, code: msg.code }, 'error from controller');
        return;
      case 'GET_CONFIG_REQUEST':
        this.send({
          type: 'GET_CONFIG_REPLY',
          xid: msg.xid,
          flags: this.configFlags,
          missSendLen: this.missSendLen,
        });
        return;
      case 'SET_CONFIG':
        this.configFlags = msg.flags;
        this.missSendLen = msg.missSendLen;
        return;
      case 'ROLE_REQUEST':
        this.handleRole(msg);
        return;
      case 'GET_ASYNC_REQUEST':
        this.send({
          type: 'GET_ASYNC_REPLY',
          xid: msg.xid,
          packetInMask: [...this.asyncConfig.packetIn],
          portStatusMask: [...this.asyncConfig.portStatus],
          flowRemovedMask: [...this.asyncConfig.flowRemoved],
        });
        return;
      case 'SET_ASYNC':
        this.asyncConfig = {
          packetIn: [...msg.packetInMask],
          portStatus: [...msg.portStatusMask],
          flowRemoved: [...msg.flowRemovedMask],
        };
        return;
      case 'BARRIER_REQUEST':
        // Everything before it was processed in order, and its replies already queued.
        this.send({ type: 'BARRIER_REPLY', xid: msg.xid });
        return;
      case 'FEATURES_REPLY':
      case 'GET_CONFIG_REPLY':
      case 'PACKET_IN':
      case 'FLOW_REMOVED':
      case 'PORT_STATUS':
      case 'MULTIPART_REPLY':
      case 'BARRIER_REPLY':
      case 'QUEUE_GET_CONFIG_REPLY':
      case 'ROLE_REPLY':
      case 'GET_ASYNC_REPLY':
        // Switch-to-controller messages sent to the switch.
        throw new OfpError('OFPBRC_BAD_TYPE', `${msg.type} from a controller`);
      case 'EXPERIMENTER':
      case 'FEATURES_REQUEST':
      case 'PACKET_OUT':
      case 'FLOW_MOD':
      case 'GROUP_MOD':
      case 'PORT_MOD':
      case 'TABLE_MOD':
      case 'MULTIPART_REQUEST':
      case 'QUEUE_GET_CONFIG_REQUEST':
      case 'METER_MOD':
      case 'BUNDLE_CONTROL':
      case 'BUNDLE_ADD_MESSAGE':
        return this.owner.handleMessage(this, msg, raw);
    }
  }

  private handleRole(msg: MessageOf<'ROLE_REQUEST'>): void {
    if (msg.role === OFPCR_ROLE.NOCHANGE) {
      this.send({
        type: 'ROLE_REPLY',
        xid: msg.xid,
        role: WIRE_BY_ROLE[this.role],
        generationId: this.owner.currentGenerationId(),
      });
      return;
    }
    const role = ROLE_BY_WIRE[msg.role];
    if (!role) throw new OfpError('OFPRRFC_BAD_ROLE', `role ${msg.role}`);
    const gen = this.owner.changeRole(this, role, msg.generationId);
    this.send({
      type: 'ROLE_REPLY',
      xid: msg.xid,
      role: WIRE_BY_ROLE[this.role],
      generationId: gen,
    });
  }
}

function hex2(v: number): string {
  return v.toString(16).padStart(2, '0');
}

function describeBitmap(bitmap: number[]): string {
  const vs: string[] = [];
  bitmap.forEach((word, i) => {
    for (let b = 0; b < 32; b++) if ((word >>> b) & 1) vs.push(`0x${hex2(i * 32 + b)}`);
  });
  if (vs.length === 1) return `version ${vs[0]}`;
  return `versions ${vs.join(', ')}`;
}

/**
 * One BFD session (RFC 5880, single hop per RFC 5881) as Open vSwitch runs it on an interface:
 * asynchronous mode only, no authentication, no echo. Sans-I/O: the owner calls
 * {@link BfdSession.run} when {@link BfdSession.wakeTime} is reached, asks
 * {@link BfdSession.shouldSendPacket} and transmits {@link BfdSession.composePacket}'s frame,
 * hands received BFD frames to {@link BfdSession.processPacket}, reports received data traffic
 * with {@link BfdSession.accountRx}, and copies {@link BfdSession.status} into
 * Interface.bfd_status when {@link BfdSession.checkStatusChange} says so.
 *
 * Behaviour follows OVS's lib/bfd.c where the RFC leaves room: the transmit interval is jittered
 * by 0–25 % (10–25 % when mult is 1); a session that is not Up advertises at least 1000 ms;
 * a configuration change starts a Poll sequence, and a larger TX interval or smaller RX interval
 * only takes effect when the remote answers with Final (faster TX / slower RX apply at once);
 * decay switches min_rx to decay_min_rx while the interface sees no data beyond BFD itself;
 * forwarding_if_rx keeps forwarding true while data arrives and a control packet was seen in the
 * last 100 × min_rx ms.
 */
import type { Clock } from '../../lib/clock.js';
import { counter, type Counter } from '../../lib/counters.js';
import { getLogger } from '../../lib/log.js';
import { macEquals, type StringMap } from '../common.js';
import { defaultBfdConfig, parseBfdConfig, type BfdConfig } from './config.js';
import {
  BFD_DEFAULT_DST_MAC,
  BFD_DEFAULT_SRC_IP,
  BFD_MIN_SRC_PORT,
  BFD_PACKET_LEN,
  BFD_RX_ERRORS,
  BFD_TTL,
  BFD_VERSION,
  BfdDecodeError,
  BfdDiag,
  BfdFlag,
  BfdState,
  bfdDiagName,
  bfdFlagsText,
  bfdStateName,
  checkBfdControl,
  decodeBfdControl,
  encodeBfdFrame,
  parseBfdFrame,
  type BfdControlPacket,
  type BfdRxError,
} from './packet.js';

const log = getLogger('bfd');

const RX_COUNTERS: Readonly<Record<BfdRxError, Counter>> = Object.fromEntries(
  (Object.keys(BFD_RX_ERRORS) as BfdRxError[]).map((k) => [
    k,
    counter(`bfd_rx_${k}`, 'bfd', `BFD frames dropped: ${BFD_RX_ERRORS[k]}`),
  ]),
) as Record<BfdRxError, Counter>;
const rxOk = counter('bfd_rx', 'bfd', 'BFD control packets accepted');
const txOk = counter('bfd_tx', 'bfd', 'BFD control packets sent');
const stateChanges = counter('bfd_state_change', 'bfd', 'BFD session state changes');

/** Discriminators of live sessions, so a new one is unique (RFC 5880 §6.8.1). */
const liveDiscriminators = new Set<number>();
/** Source-port sequence shared by every session of the process (RFC 5881 §4). */
let udpSrcSeq = 0;

/** Options for {@link BfdSession}. */
export interface BfdSessionOptions {
  /** Interface name, used in logs, bfd/show and the status. */
  name: string;
  /** Time source. */
  clock: Clock;
  /** Initial configuration: a parsed {@link BfdConfig} or the raw `bfd` column map. */
  config?: BfdConfig | StringMap;
  /** Local discriminator; default a random nonzero value unique in the process. */
  discriminator?: number;
  /** UDP source port; default the next of 49152–65535 in process order. */
  udpSrc?: number;
  /** Random source in [0, 1) for jitter and discriminators; default Math.random. */
  random?: () => number;
}

/** Result of {@link BfdSession.processPacket}. */
export interface BfdRxResult {
  /** True when the control packet passed every check and drove the state machine. */
  accepted: boolean;
  /** Why it was dropped, when not accepted. */
  reason?: BfdRxError;
}

/** Per-session counts of transmitted, accepted and dropped control packets. */
export interface BfdSessionStats {
  /** Control packets composed for transmission. */
  tx: number;
  /** Control packets accepted. */
  rx: number;
  /** Dropped packets per reason. */
  rxErrors: Record<BfdRxError, number>;
}

/** The keys OVS writes into Interface.bfd_status, all as strings. */
export interface BfdStatus {
  /** "true" or "false". */
  forwarding: string;
  /** "admin_down", "down", "init" or "up". */
  state: string;
  /** Local diagnostic text, e.g. "No Diagnostic". */
  diagnostic: string;
  /** Forwarding flaps since the session was created, decimal. */
  flap_count: string;
  /** Remote state text. */
  remote_state: string;
  /** Remote diagnostic text. */
  remote_diagnostic: string;
}

function zeroErrors(): Record<BfdRxError, number> {
  return Object.fromEntries(Object.keys(BFD_RX_ERRORS).map((k) => [k, 0])) as Record<
    BfdRxError,
    number
  >;
}

/** A BFD session bound to one interface. */
export class BfdSession {
  /** Interface name. */
  readonly name: string;
  /** bfd.LocalDiscr. */
  readonly discriminator: number;
  /** UDP source port of every packet this session sends. */
  readonly udpSrc: number;
  /** Packet counts. */
  readonly stats: BfdSessionStats = { tx: 0, rx: 0, rxErrors: zeroErrors() };

  private readonly clock: Clock;
  private readonly random: () => number;
  private cfg: BfdConfig = defaultBfdConfig();

  private state: BfdState = BfdState.Down;
  private diag: number = BfdDiag.None;
  private rmtState: BfdState = BfdState.Down;
  private rmtDiag: number = BfdDiag.None;
  private flags = 0;
  private rmtFlags = 0;
  private rmtDisc = 0;
  private rmtMult = 0;

  private cpathDown = false;
  private cfgMinTx = 0;
  private cfgMinRx = 0;
  private pollMinTx = 0;
  private pollMinRx = 0;
  private minTx = 1000;
  private minRx = 0;
  private rmtMinRx = 1;
  private rmtMinTx = 0;

  private lastTx = 0;
  private nextTx = 0;
  private detectTime = 0;

  private lastForwarding = false;
  private forwardingOverride: boolean | undefined;
  private forwardingIfRxDetectTime = 0;
  private demandRxBfdTime = 0;

  private inDecay = false;
  private decayMinRx = 0;
  private decayRxCtl = 0;
  private decayRxPackets = 0;
  private decayDetectTime = 0;
  /** Packets received on the interface (control and data), like the netdev rx_packets stat. */
  private rxPackets = 0;

  private flaps = 0;
  private statusChanged = true;
  private closed = false;

  constructor(opts: BfdSessionOptions) {
    this.name = opts.name;
    this.clock = opts.clock;
    this.random = opts.random ?? Math.random;
    this.discriminator = opts.discriminator ?? this.generateDiscriminator();
    liveDiscriminators.add(this.discriminator);
    this.udpSrc = opts.udpSrc ?? (udpSrcSeq++ % 16384) + BFD_MIN_SRC_PORT;
    this.setState(BfdState.Down, BfdDiag.None);
    const c = opts.config;
    this.configure(c === undefined ? defaultBfdConfig() : isBfdConfig(c) ? c : parseBfdConfig(c));
  }

  /** Releases the discriminator; the session must not be used afterwards. */
  close(): void {
    if (!this.closed) {
      liveDiscriminators.delete(this.discriminator);
      this.closed = true;
    }
  }

  /** The configuration in force. */
  get config(): Readonly<BfdConfig> {
    return this.cfg;
  }

  /**
   * Applies a configuration (OVS's `bfd_configure` on an existing session). `enable` is the
   * owner's business: with enable false the owner closes the session instead. Any change of
   * min_tx, min_rx, decay_min_rx or cpath_down starts a Poll sequence when the session is Init
   * or Up; see the module comment for when new intervals take effect.
   */
  configure(input: BfdConfig | StringMap, now = this.clock.now()): void {
    const cfg = isBfdConfig(input) ? { ...input } : parseBfdConfig(input);
    const oldMult = this.cfg.mult;
    let needPoll = false;
    let minRxChanged = false;
    cfg.minTx = Math.max(1, Math.floor(cfg.minTx));
    cfg.minRx = Math.max(1, Math.floor(cfg.minRx));
    if (!(cfg.mult >= 1 && cfg.mult <= 255)) cfg.mult = 3;
    const prevForwardingIfRx = this.cfg.forwardingIfRx;
    this.cfg = cfg;

    if (this.cfgMinTx !== cfg.minTx) {
      this.cfgMinTx = cfg.minTx;
      if (this.state !== BfdState.Up || (!this.inPoll() && this.cfgMinTx < this.minTx)) {
        this.minTx = this.cfgMinTx;
      }
      needPoll = true;
    }
    if (this.cfgMinRx !== cfg.minRx) {
      this.cfgMinRx = cfg.minRx;
      if (this.state !== BfdState.Up || (!this.inPoll() && this.cfgMinRx > this.minRx)) {
        this.minRx = this.cfgMinRx;
      }
      minRxChanged = true;
      needPoll = true;
    }
    if (this.decayMinRx !== cfg.decayMinRx || minRxChanged) {
      if (cfg.decayMinRx > 0 && cfg.decayMinRx < this.cfgMinRx) {
        log.warn(`${this.name}: decay_min_rx cannot be less than ${this.cfgMinRx} ms`);
        this.decayMinRx = 0;
      } else {
        this.decayMinRx = Math.max(0, cfg.decayMinRx);
      }
      this.inDecay = false;
      this.decayUpdate(now);
      needPoll = true;
    }
    if (this.cpathDown !== cfg.cpathDown) {
      this.cpathDown = cfg.cpathDown;
      this.setState(this.state, BfdDiag.None);
      needPoll = true;
    }
    if (prevForwardingIfRx !== cfg.forwardingIfRx) {
      if (this.state === BfdState.Up && cfg.forwardingIfRx) this.forwardingIfRxUpdate(now);
      else this.forwardingIfRxDetectTime = 0;
    } else if (this.state === BfdState.Up && cfg.forwardingIfRx && oldMult !== cfg.mult) {
      this.forwardingIfRxUpdate(now);
    }
    if (needPoll) this.poll();
  }

  /**
   * Puts the session administratively down (RFC 5880 §6.8.16: state AdminDown, diagnostic
   * Administratively Down; received packets are ignored) or brings it back to Down.
   */
  setAdminDown(down: boolean): void {
    if (down && this.state !== BfdState.AdminDown) {
      this.setState(BfdState.AdminDown, BfdDiag.AdministrativelyDown);
    } else if (!down && this.state === BfdState.AdminDown) {
      this.setState(BfdState.Down, BfdDiag.None);
    }
  }

  /**
   * bfd/set-forwarding: `true` or `false` forces {@link BfdSession.forwarding}; `undefined`
   * ("normal") returns to the computed value. Forced values do not count as flaps.
   */
  setForwardingOverride(value: boolean | undefined): void {
    this.forwardingOverride = value;
    this.statusChanged = true;
  }

  /** The current forwarding override (undefined when "normal"). */
  getForwardingOverride(): boolean | undefined {
    return this.forwardingOverride;
  }

  /** Drives timers: detection-time expiry, decay, and starting Poll sequences. */
  run(now = this.clock.now()): void {
    const oldInDecay = this.inDecay;
    if (this.state > BfdState.Down && now >= this.detectTime) {
      this.setState(BfdState.Down, BfdDiag.ControlDetectionTimeExpired);
    }
    this.updateForwarding(now);
    if (this.state === BfdState.Up && this.decayMinRx > 0 && now >= this.decayDetectTime) {
      this.tryDecay(now);
    }
    if (
      this.minTx !== this.cfgMinTx ||
      (this.minRx !== this.cfgMinRx && this.minRx !== this.decayMinRx) ||
      this.inDecay !== oldInDecay
    ) {
      this.poll();
    }
  }

  /**
   * When {@link BfdSession.run} next needs to be called, or a packet sent: now when a Final is
   * owed, else the next transmit time and, in Init or Up, the detection time.
   */
  wakeTime(): number {
    if (this.flags & BfdFlag.Final) return 0;
    let t = this.nextTx;
    if (this.state > BfdState.Down) t = Math.min(t, this.detectTime);
    return t;
  }

  /** True when a control packet is due (periodic transmission, or a Final owed to a Poll). */
  shouldSendPacket(now = this.clock.now()): boolean {
    return (this.flags & BfdFlag.Final) !== 0 || now >= this.nextTx;
  }

  /** The control packet the session would send now, without side effects. */
  peekControl(): BfdControlPacket {
    const inPoll = this.inPoll();
    const minTx = inPoll ? this.pollMinTx : this.effectiveMinTx();
    const minRx = inPoll ? this.pollMinRx : this.minRx;
    return {
      version: BFD_VERSION,
      diag: this.diag,
      state: this.state,
      flags: this.flags,
      detectMult: this.cfg.mult,
      length: BFD_PACKET_LEN,
      myDisc: this.discriminator,
      yourDisc: this.rmtDisc,
      desiredMinTxUs: (minTx * 1000) >>> 0,
      requiredMinRxUs: (minRx * 1000) >>> 0,
      requiredMinEchoRxUs: 0,
    };
  }

  /**
   * Composes the next control packet as a full Ethernet/IPv4/UDP frame and schedules the one
   * after it. `ifaceMac` is the interface's MAC, used as source unless bfd_local_src_mac is set.
   * Clears a pending Final. `oam` tells a tunnel port to set its OAM bit.
   */
  composePacket(ifaceMac: Uint8Array, now = this.clock.now()): { frame: Uint8Array; oam: boolean } {
    if (this.nextTx) {
      const delay = now - this.nextTx;
      const interval = this.txInterval();
      if (delay > (interval * 3) / 2) {
        log.info(
          `${this.name}: long delay of ${delay}ms (expected ${interval}ms) sending BFD control message`,
        );
      }
    }
    const msg = this.peekControl();
    const frame = encodeBfdFrame(
      {
        ethDst: this.cfg.localDstMac ?? BFD_DEFAULT_DST_MAC,
        ethSrc: this.cfg.localSrcMac ?? ifaceMac,
        ipSrc: this.cfg.srcIp,
        ipDst: this.cfg.dstIp,
        udpSrc: this.udpSrc,
      },
      msg,
    );
    this.flags &= ~BfdFlag.Final;
    this.lastTx = now;
    this.setNextTx();
    this.stats.tx++;
    txOk.inc();
    return { frame, oam: this.cfg.oam };
  }

  /**
   * Whether a BFD frame received on this interface belongs to this session (OVS 2.14+
   * semantics): destination MAC equals bfd_remote_dst_mac when that is set; IPv4/UDP to 3784,
   * not a later fragment; destination IP equals bfd_src_ip unless that is the default; and,
   * with check_tnl_key, a tunnel key of 0. Frames for which this is false go to the OpenFlow
   * tables. Never throws.
   */
  shouldProcessFrame(frame: Uint8Array, tunnelKey?: bigint): boolean {
    if (this.cfg.remoteDstMac && (frame.length < 6 || !macEquals(frame, this.cfg.remoteDstMac))) {
      return false;
    }
    let ipDst: number;
    try {
      ipDst = parseBfdFrame(frame).ipDst;
    } catch (e) {
      if (e instanceof BfdDecodeError) return false;
      throw e;
    }
    if (this.cfg.srcIp !== BFD_DEFAULT_SRC_IP && this.cfg.srcIp !== ipDst) return false;
    if (this.cfg.checkTnlKey) return (tunnelKey ?? 0n) === 0n;
    return true;
  }

  /**
   * Processes a received BFD frame (RFC 5880 §6.8.6). Drops and counts, per reason, frames that
   * do not parse, have TTL other than 255, or fail any reception check (the A bit is rejected:
   * authentication is not supported). An accepted packet updates the remote's parameters, ends a
   * Poll on Final, owes a Final on Poll, resets the detection time, and drives the three-way
   * handshake. Never throws on malformed input.
   */
  processPacket(frame: Uint8Array, now = this.clock.now()): BfdRxResult {
    this.rxPackets++;
    this.decayRxCtl++;
    this.updateForwarding(now);
    const r = this.receive(frame, now);
    if (r.reason) {
      this.stats.rxErrors[r.reason]++;
      RX_COUNTERS[r.reason].inc();
    }
    this.updateForwarding(now);
    return r;
  }

  private receive(frame: Uint8Array, now: number): BfdRxResult {
    let msg: BfdControlPacket;
    let payloadLen: number;
    try {
      const f = parseBfdFrame(frame);
      if (f.ttl !== BFD_TTL) return { accepted: false, reason: 'badTtl' };
      msg = decodeBfdControl(frame, f.payloadOffset, f.payloadLength);
      payloadLen = f.payloadLength;
    } catch (e) {
      if (e instanceof BfdDecodeError) return { accepted: false, reason: e.reason };
      throw e;
    }
    const bad = checkBfdControl(msg, payloadLen, this.discriminator);
    if (bad) {
      log.debug({ reason: bad, msg }, `${this.name}: dropped BFD control message`);
      return { accepted: false, reason: bad };
    }
    if (this.rmtState !== msg.state) this.statusChanged = true;
    this.rmtDisc = msg.myDisc;
    this.rmtState = msg.state;
    this.rmtFlags = msg.flags;
    if (this.rmtDiag !== msg.diag) this.statusChanged = true;
    this.rmtDiag = msg.diag;
    if (msg.flags & BfdFlag.Final && this.inPoll()) {
      this.minTx = this.pollMinTx;
      this.minRx = this.pollMinRx;
      this.flags &= ~BfdFlag.Poll;
      log.info(`${this.name}: poll sequence terminated`);
    }
    if (msg.flags & BfdFlag.Poll) {
      // RFC 5880 §6.5: answer a Poll with Final at once; P and F are never both set.
      this.flags &= ~BfdFlag.Poll;
      this.flags |= BfdFlag.Final;
    }
    if (this.rmtMult !== msg.detectMult) {
      log.info(
        `Interface ${this.name} remote mult value ${this.rmtMult} changed to ${msg.detectMult}`,
      );
      this.rmtMult = msg.detectMult;
    }
    const rmtMinRx = Math.max(Math.floor(msg.requiredMinRxUs / 1000), 1);
    if (this.rmtMinRx !== rmtMinRx) {
      this.rmtMinRx = rmtMinRx;
      if (this.nextTx) this.setNextTx();
    }
    this.rmtMinTx = Math.max(Math.floor(msg.desiredMinTxUs / 1000), 1);
    this.detectTime = this.rxInterval() * this.rmtMult + now;
    this.stats.rx++;
    rxOk.inc();

    if (this.state === BfdState.AdminDown) return { accepted: true };
    if (msg.state === BfdState.AdminDown) {
      if (this.state !== BfdState.Down) {
        this.setState(BfdState.Down, BfdDiag.NeighborSignaledSessionDown);
      }
    } else {
      switch (this.state) {
        case BfdState.Down:
          if (msg.state === BfdState.Down) this.setState(BfdState.Init, this.diag);
          else if (msg.state === BfdState.Init) this.setState(BfdState.Up, this.diag);
          break;
        case BfdState.Init:
          if (msg.state > BfdState.Down) this.setState(BfdState.Up, this.diag);
          break;
        case BfdState.Up:
          if (msg.state <= BfdState.Down) {
            this.setState(BfdState.Down, BfdDiag.NeighborSignaledSessionDown);
          }
          break;
      }
    }
    if (this.cfg.forwardingIfRx) this.demandRxBfdTime = now + 100 * this.cfgMinRx;
    return { accepted: true };
  }

  /**
   * Accounts `nPackets` data packets received on the interface (OVS's `bfd_account_rx`). They
   * feed decay's idle detection and, with forwarding_if_rx, keep forwarding true.
   */
  accountRx(nPackets: number, now = this.clock.now()): void {
    if (nPackets <= 0) return;
    this.rxPackets += nPackets;
    if (this.cfg.forwardingIfRx) {
      this.updateForwarding(now);
      this.forwardingIfRxUpdate(now);
      this.updateForwarding(now);
    }
  }

  /**
   * Whether the interface may forward traffic: the override if set; otherwise (Up, or
   * forwarding_if_rx with recent data and control packets) and the remote not signalling Path
   * Down, Concatenated Path Down or Reverse Concatenated Path Down.
   */
  forwarding(now = this.clock.now()): boolean {
    return this.updateForwarding(now);
  }

  /** Returns whether the status changed since the last call, and resets the flag. */
  checkStatusChange(): boolean {
    const r = this.statusChanged;
    this.statusChanged = false;
    return r;
  }

  /** Number of forwarding flaps (changes of the computed forwarding value). */
  get flapCount(): number {
    return this.flaps;
  }

  /** The session state. */
  get sessionState(): BfdState {
    return this.state;
  }

  /** The local diagnostic. */
  get localDiag(): number {
    return this.diag;
  }

  /** The remote's last reported state. */
  get remoteState(): BfdState {
    return this.rmtState;
  }

  /** True while a Poll sequence is outstanding. */
  inPoll(): boolean {
    return (this.flags & BfdFlag.Poll) !== 0;
  }

  /** True while decay has lowered the receive rate. */
  get decaying(): boolean {
    return this.inDecay;
  }

  /** bfd.DesiredMinTxInterval currently in force, ms (before the not-Up 1 s floor). */
  get desiredMinTx(): number {
    return this.minTx;
  }

  /** bfd.RequiredMinRxInterval currently in force, ms. */
  get requiredMinRx(): number {
    return this.minRx;
  }

  /** Negotiated transmit interval, ms: max(local min_tx, remote min_rx). */
  txInterval(): number {
    return Math.max(this.effectiveMinTx(), this.rmtMinRx);
  }

  /** Negotiated receive interval, ms: max(local min_rx, remote min_tx). */
  rxInterval(): number {
    return Math.max(this.minRx, this.rmtMinTx);
  }

  /** Absolute detection time (RFC 5880 §6.8.4), ms on the clock's timeline. */
  get detectionTime(): number {
    return this.detectTime;
  }

  /** Interface.bfd_status exactly as OVS writes it. */
  status(now = this.clock.now()): BfdStatus {
    return {
      forwarding: this.updateForwarding(now) ? 'true' : 'false',
      state: bfdStateName(this.state),
      diagnostic: bfdDiagName(this.diag),
      flap_count: String(this.flaps),
      remote_state: bfdStateName(this.rmtState),
      remote_diagnostic: bfdDiagName(this.rmtDiag),
    };
  }

  /** The body of `ovs-appctl bfd/show <iface>` for this session. */
  show(now = this.clock.now()): string {
    const rel = (t: number): string => {
      const d = Math.round(t - now);
      return d >= 0 ? `+${d}` : `${d}`;
    };
    return [
      `  Forwarding: ${this.updateForwarding(now) ? 'true' : 'false'}`,
      `  Detect Multiplier: ${this.cfg.mult}`,
      `  Concatenated Path Down: ${this.cpathDown ? 'true' : 'false'}`,
      `  TX Interval: Approx ${this.txInterval()}ms`,
      `  RX Interval: Approx ${this.rxInterval()}ms`,
      `  Detect Time: now ${rel(this.detectTime)}ms`,
      `  Next TX Time: now ${rel(this.nextTx)}ms`,
      `  Last TX Time: now ${rel(this.lastTx)}ms`,
      '',
      `  Local Flags: ${bfdFlagsText(this.flags)}`,
      `  Local Session State: ${bfdStateName(this.state)}`,
      `  Local Diagnostic: ${bfdDiagName(this.diag)}`,
      `  Local Discriminator: 0x${this.discriminator.toString(16)}`,
      `  Local Minimum TX Interval: ${this.effectiveMinTx()}ms`,
      `  Local Minimum RX Interval: ${this.minRx}ms`,
      '',
      `  Remote Flags: ${bfdFlagsText(this.rmtFlags)}`,
      `  Remote Session State: ${bfdStateName(this.rmtState)}`,
      `  Remote Diagnostic: ${bfdDiagName(this.rmtDiag)}`,
      `  Remote Discriminator: 0x${this.rmtDisc.toString(16)}`,
      `  Remote Minimum TX Interval: ${this.rmtMinTx}ms`,
      `  Remote Minimum RX Interval: ${this.rmtMinRx}ms`,
      `  Remote Detect Multiplier: ${this.rmtMult}`,
      '',
    ].join('\n');
  }

  // ---- internals ----

  private generateDiscriminator(): number {
    for (let i = 0; i < 8; i++) {
      const d = Math.floor(this.random() * 0x100000000) >>> 0;
      if (d !== 0 && !liveDiscriminators.has(d)) return d;
    }
    // A degenerate random source: take the lowest free value instead of looping forever.
    let d = 1;
    while (liveDiscriminators.has(d)) d++;
    return d;
  }

  /** RFC 5880 §6.8.3: not Up → advertise at least one second. */
  private effectiveMinTx(): number {
    return this.state === BfdState.Up ? this.minTx : Math.max(this.minTx, 1000);
  }

  private setNextTx(): void {
    let interval = this.txInterval();
    if (this.cfg.mult === 1) {
      interval -= Math.floor((interval * (10 + Math.floor(this.random() * 16))) / 100);
    } else {
      interval -= Math.floor((interval * Math.floor(this.random() * 26)) / 100);
    }
    this.nextTx = this.lastTx + interval;
  }

  private poll(): void {
    if (this.state > BfdState.Down && !this.inPoll() && !(this.flags & BfdFlag.Final)) {
      this.pollMinTx = this.cfgMinTx;
      this.pollMinRx = this.inDecay ? this.decayMinRx : this.cfgMinRx;
      this.flags |= BfdFlag.Poll;
      this.nextTx = 0;
      log.info(`${this.name}: Initiating poll sequence`);
    }
  }

  private setState(state: BfdState, diag: number): void {
    if (this.cpathDown) diag = BfdDiag.ConcatenatedPathDown;
    if (this.state === state && this.diag === diag) return;
    log.info(
      `${this.name}: BFD state change: (bfd.SessionState: ${bfdStateName(this.state)}, bfd.LocalDiag: "${bfdDiagName(this.diag)}") -> (bfd.SessionState: ${bfdStateName(state)}, bfd.LocalDiag: "${bfdDiagName(diag)}")`,
    );
    if (this.state !== state) stateChanges.inc();
    this.state = state;
    this.diag = diag;
    if (state <= BfdState.Down) {
      this.rmtState = BfdState.Down;
      this.rmtDiag = BfdDiag.None;
      this.rmtMinRx = 1;
      this.rmtFlags = 0;
      this.rmtDisc = 0;
      this.rmtMinTx = 0;
      if (this.inDecay) {
        this.minRx = this.cfgMinRx;
        this.inDecay = false;
      }
    }
    if (state === BfdState.Up && this.decayMinRx) this.decayUpdate(this.clock.now());
    this.statusChanged = true;
  }

  private updateForwarding(now: number): boolean {
    if (this.forwardingOverride !== undefined) return this.forwardingOverride;
    const ifRx =
      this.cfg.forwardingIfRx && this.forwardingIfRxDetectTime > now && this.demandRxBfdTime > now;
    const fwd =
      (this.state === BfdState.Up || ifRx) &&
      this.rmtDiag !== BfdDiag.PathDown &&
      this.rmtDiag !== BfdDiag.ConcatenatedPathDown &&
      this.rmtDiag !== BfdDiag.ReverseConcatenatedPathDown;
    if (fwd !== this.lastForwarding) {
      this.lastForwarding = fwd;
      this.flaps++;
      this.statusChanged = true;
    }
    return fwd;
  }

  private tryDecay(now: number): void {
    // Interface packets since the last check, against twice the control packets seen: if
    // nothing but BFD (with slack) arrived, the interface is idle and decay applies.
    const diff = this.rxPackets - this.decayRxPackets;
    const expect = 2 * Math.max(this.decayRxCtl, 1);
    this.inDecay = diff <= expect;
    this.decayUpdate(now);
  }

  private decayUpdate(now: number): void {
    this.decayRxPackets = this.rxPackets;
    this.decayRxCtl = 0;
    this.decayDetectTime = Math.max(this.decayMinRx, 2000) + now;
  }

  private forwardingIfRxUpdate(now: number): void {
    const incr = this.rxInterval() * this.cfg.mult;
    this.forwardingIfRxDetectTime = Math.max(incr, 2000) + now;
  }
}

function isBfdConfig(c: BfdConfig | StringMap): c is BfdConfig {
  return typeof (c as BfdConfig).minRx === 'number';
}

/**
 * `ovs-appctl bfd/show [interface]`: with a name, that session's details (or an error string
 * starting "no such bfd object"); without, every session under a `---- name ----` header.
 */
export function formatBfdShow(
  sessions: Iterable<BfdSession>,
  name?: string,
): { ok: true; text: string } | { ok: false; error: string } {
  const all = [...sessions];
  if (name !== undefined) {
    const s = all.find((x) => x.name === name);
    if (!s) return { ok: false, error: 'no such bfd object' };
    return { ok: true, text: s.show() };
  }
  return { ok: true, text: all.map((s) => `---- ${s.name} ----\n${s.show()}`).join('') };
}

/**
 * `ovs-appctl bfd/set-forwarding [interface] normal|false|true`: returns "OK" or an error
 * ("unknown fault string", "no such BFD object"), as OVS replies.
 */
export function bfdSetForwarding(
  sessions: Iterable<BfdSession>,
  value: string,
  name?: string,
): { ok: true; text: string } | { ok: false; error: string } {
  const v = value.toLowerCase();
  let o: boolean | undefined;
  if (v === 'true') o = true;
  else if (v === 'false') o = false;
  else if (v === 'normal') o = undefined;
  else return { ok: false, error: 'unknown fault string' };
  const all = [...sessions];
  if (name !== undefined) {
    const s = all.find((x) => x.name === name);
    if (!s) return { ok: false, error: 'no such BFD object' };
    s.setForwardingOverride(o);
  } else {
    for (const s of all) s.setForwardingOverride(o);
  }
  return { ok: true, text: 'OK' };
}

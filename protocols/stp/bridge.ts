/**
 * A classic IEEE 802.1D spanning-tree bridge (the 1998 protocol that OVS's lib/stp.c implements
 * and that 802.1D-2004 keeps for compatibility), sans-I/O.
 *
 * The owner: creates an {@link StpBridge} with a Clock; adds ports with {@link StpBridge.addPort};
 * reports link state with {@link StpBridge.setPortEnabled}; calls {@link StpBridge.run} at
 * {@link StpBridge.wakeTime}; hands frames for which {@link isStpFrame} holds to
 * {@link StpBridge.processPacket}; transmits what {@link StpBridge.takePackets} returns; asks
 * {@link StpBridge.mayLearn} / {@link StpBridge.mayForward} on the packet path; flushes or
 * shortens MAC aging per {@link StpBridge.checkAndResetFdbFlush} and
 * {@link StpBridge.macAgingTime}; and writes {@link StpBridge.status},
 * {@link StpBridge.portStatus} and {@link StpBridge.portStatistics} to the database.
 *
 * Timers run in 802.1D's unit of 1/256 s, as in BPDUs; elapsed milliseconds are converted with
 * the remainder kept, so frequent runs lose no ticks.
 */
import type { Clock } from '../../lib/clock.js';
import { counter } from '../../lib/counters.js';
import { getLogger } from '../../lib/log.js';
import { bigIntToMac, formatMac, macToBigInt } from '../common.js';
import {
  StpDecodeError,
  StpFlag,
  STP_RX_ERRORS,
  STP_TICKS_PER_SEC,
  decodeBpduFrame,
  encodeBpduFrame,
  type StpBpdu,
  type StpConfigBpdu,
  type StpRxError,
} from './bpdu.js';
import {
  STP_DEFAULT_BRIDGE_PRIORITY,
  STP_DEFAULT_FWD_DELAY,
  STP_DEFAULT_HELLO_TIME,
  STP_DEFAULT_MAX_AGE,
  STP_DEFAULT_PORT_PRIORITY,
  STP_MAX_PORTS,
  stpSpeedToCost,
  type StpBridgeConfig,
} from './config.js';

const log = getLogger('stp');
const rxErrCounter = counter('stp_rx_error', 'stp', 'STP BPDUs received malformed');
const rxCounter = counter('stp_rx', 'stp', 'STP BPDUs received');
const txCounter = counter('stp_tx', 'stp', 'STP BPDUs sent');
const tcCounter = counter('stp_topology_change', 'stp', 'STP topology changes detected');

/** Port states (802.1D 8.4), named as OVS writes them into Port.status stp_state. */
export type StpState = 'disabled' | 'listening' | 'learning' | 'forwarding' | 'blocking';
/** Port roles, named as OVS writes them into Port.status stp_role. */
export type StpRole = 'root' | 'designated' | 'alternate' | 'disabled';

/** True when frames received in `state` may be forwarded. */
export function stpForwardInState(state: StpState): boolean {
  return state === 'forwarding';
}
/** True when source MACs of frames received in `state` may be learned. */
export function stpLearnInState(state: StpState): boolean {
  return state === 'learning' || state === 'forwarding';
}
/**
 * True when BPDUs may be forwarded on a port in `state`: every state but blocking (a disabled
 * port does not run STP, so it passes BPDUs on, as OVS does for patch ports).
 */
export function stpShouldForwardBpdu(state: StpState): boolean {
  return state !== 'blocking';
}

/** Formats a 64-bit bridge identifier as OVS does: `8000.0123456789ab`. */
export function formatStpId(id: bigint): string {
  return `${(id >> 48n).toString(16).padStart(4, '0')}.${(id & 0xffffffffffffn).toString(16).padStart(12, '0')}`;
}

interface Timer {
  active: boolean;
  /** Ticks counted up since start. */
  value: number;
}

function msToTicks(ms: number): number {
  return Math.floor((ms * STP_TICKS_PER_SEC) / 1000);
}
function ticksToMs(t: number): number {
  return Math.floor((t * 1000) / STP_TICKS_PER_SEC);
}
function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
const HOLD_TIME_TICKS = msToTicks(1000);
const MESSAGE_AGE_INCREMENT = 1;

/** Options for {@link StpBridge.addPort}. */
export interface StpPortOptions {
  /** Port name for logs and stp/show. */
  name: string;
  /** Port priority 0–255 (default 128). */
  priority?: number;
  /** Path cost; default from `speedMbps`, else 2 (10 Gb/s). */
  pathCost?: number;
  /** Link speed in Mb/s used when `pathCost` is not given. */
  speedMbps?: number;
  /** Source MAC for BPDUs sent on the port; default the bridge's system ID. */
  mac?: Uint8Array;
  /** Link up at creation (default true). */
  enabled?: boolean;
}

/** One bridge port's spanning-tree variables (802.1D 8.5.5) and counters. */
export class StpPort {
  /** Port number, 1–255 (low 8 bits of the port ID). */
  readonly portNum: number;
  /** Name for logs and stp/show. */
  name: string;
  /** Port Identifier: priority << 8 | port number. */
  portId: number;
  /** Port state. */
  state: StpState = 'disabled';
  /** Path cost. */
  pathCost = 2;
  /** Designated Root recorded for the port. */
  designatedRoot = 0n;
  /** Designated Cost. */
  designatedCost = 0;
  /** Designated Bridge. */
  designatedBridge = 0n;
  /** Designated Port. */
  designatedPort = 0;
  /** Topology Change Acknowledge flag for the next configuration BPDU. */
  topologyChangeAck = false;
  /** A configuration BPDU waits for the hold timer. */
  configPending = false;
  /** Whether state changes on this port count as topology changes. */
  changeDetectionEnabled = true;
  /** BPDUs transmitted. */
  txCount = 0;
  /** Valid BPDUs received. */
  rxCount = 0;
  /** Malformed BPDUs received. */
  errorCount = 0;
  /** Malformed BPDUs per reason. */
  readonly errors: Record<StpRxError, number> = Object.fromEntries(
    Object.keys(STP_RX_ERRORS).map((k) => [k, 0]),
  ) as Record<StpRxError, number>;
  /** Source MAC of transmitted BPDUs (undefined: the bridge's system ID). */
  mac: Uint8Array | undefined;
  /** Clock time at which the current state was entered. */
  stateEnteredAt: number;
  /** @internal */ stateChanged = false;
  /** @internal */ readonly messageAgeTimer: Timer = { active: false, value: 0 };
  /** @internal */ readonly forwardDelayTimer: Timer = { active: false, value: 0 };
  /** @internal */ readonly holdTimer: Timer = { active: false, value: 0 };

  constructor(portNum: number, name: string, now: number) {
    this.portNum = portNum;
    this.name = name;
    this.portId = (STP_DEFAULT_PORT_PRIORITY << 8) | portNum;
    this.stateEnteredAt = now;
  }
}

/** Options for {@link StpBridge}. */
export interface StpBridgeOptions {
  /** Bridge name for logs and stp/show. */
  name: string;
  /** Time source. */
  clock: Clock;
  /** Configuration; the system ID is required. */
  config: Partial<StpBridgeConfig> & Pick<StpBridgeConfig, 'systemId'>;
}

/** Bridge.status keys OVS writes for STP. */
export interface StpBridgeStatus {
  /** `pppp.ssssssssssss`. */
  stp_bridge_id: string;
  /** Same form; equals stp_bridge_id on the root. */
  stp_designated_root: string;
  /** Decimal. */
  stp_root_path_cost: string;
}

/** Port.status keys OVS writes for STP. */
export interface StpPortStatus {
  /** The port ID, formatted with `%d` as OVS's bridge.c writes it (decimal). */
  stp_port_id: string;
  /** Port state name. */
  stp_state: StpState;
  /** Whole seconds in the current state, decimal. */
  stp_sec_in_state: string;
  /** Port role name. */
  stp_role: StpRole;
}

/** Port.statistics keys OVS writes for STP (integers). */
export interface StpPortStatistics {
  /** BPDUs sent. */
  stp_tx_count: number;
  /** BPDUs received and accepted. */
  stp_rx_count: number;
  /** BPDUs received malformed. */
  stp_error_count: number;
}

/** An outgoing BPDU frame and the port that must send it. */
export interface StpOutgoing {
  /** STP port number. */
  portNum: number;
  /** Complete Ethernet frame. */
  frame: Uint8Array;
}

/** An 802.1D bridge. */
export class StpBridge {
  /** Name for logs and stp/show. */
  readonly name: string;
  private readonly clock: Clock;
  private readonly ports = new Map<number, StpPort>();
  private sortedPorts: StpPort[] = [];
  private outbox: StpOutgoing[] = [];

  private bridgeId: bigint;
  private maxAge = 0;
  private helloTime = 0;
  private forwardDelay = 0;
  private bridgeMaxAge = 0;
  private bridgeHelloTime = 0;
  private bridgeForwardDelay = 0;
  private rqMaxAge = STP_DEFAULT_MAX_AGE * 1000;
  private rqHelloTime = STP_DEFAULT_HELLO_TIME * 1000;
  private rqForwardDelay = STP_DEFAULT_FWD_DELAY * 1000;

  private designatedRoot: bigint;
  private rootPathCost = 0;
  private rootPort: StpPort | undefined;
  private topologyChangeDetected = false;
  private topologyChange = false;
  private readonly helloTimer: Timer = { active: false, value: 0 };
  private readonly tcnTimer: Timer = { active: false, value: 0 };
  private readonly topologyChangeTimer: Timer = { active: false, value: 0 };

  private fdbNeedsFlush = false;
  private lastTick: number;
  private elapsedRemainder = 0;

  constructor(opts: StpBridgeOptions) {
    this.name = opts.name;
    this.clock = opts.clock;
    this.lastTick = this.clock.now();
    const priority = opts.config.priority ?? STP_DEFAULT_BRIDGE_PRIORITY;
    this.bridgeId = (BigInt(priority & 0xffff) << 48n) | macToBigInt(opts.config.systemId);
    this.updateBridgeTimers();
    this.maxAge = this.bridgeMaxAge;
    this.helloTime = this.bridgeHelloTime;
    this.forwardDelay = this.bridgeForwardDelay;
    this.designatedRoot = this.bridgeId;
    startTimer(this.helloTimer, 0);
    this.configure(opts.config);
  }

  // ---------------------------------------------------------------- configuration

  /** Applies bridge configuration (any subset); timer values are in seconds. */
  configure(cfg: Partial<StpBridgeConfig>): void {
    if (cfg.systemId)
      this.setBridgeId((this.bridgeId & ~0xffffffffffffn) | macToBigInt(cfg.systemId));
    if (cfg.priority !== undefined) {
      this.setBridgeId((this.bridgeId & 0xffffffffffffn) | (BigInt(cfg.priority & 0xffff) << 48n));
    }
    if (cfg.helloTime !== undefined) this.rqHelloTime = cfg.helloTime * 1000;
    if (cfg.maxAge !== undefined) this.rqMaxAge = cfg.maxAge * 1000;
    if (cfg.forwardDelay !== undefined) this.rqForwardDelay = cfg.forwardDelay * 1000;
    this.updateBridgeTimers();
  }

  /** Adds port `portNum` (1–255), initially disabled unless `enabled` is not false. */
  addPort(portNum: number, opts: StpPortOptions): StpPort {
    if (!Number.isInteger(portNum) || portNum < 1 || portNum > STP_MAX_PORTS) {
      throw new RangeError(`STP port number ${portNum} outside 1-${STP_MAX_PORTS}`);
    }
    if (this.ports.has(portNum)) throw new Error(`STP port ${portNum} already exists`);
    const p = new StpPort(portNum, opts.name, this.clock.now());
    p.mac = opts.mac;
    this.ports.set(portNum, p);
    this.sortedPorts = [...this.ports.values()].sort((a, b) => a.portNum - b.portNum);
    this.initializePort(p, 'disabled');
    if (opts.enabled !== false) this.setPortEnabled(portNum, true);
    this.setPortPriority(portNum, opts.priority ?? STP_DEFAULT_PORT_PRIORITY);
    this.setPortPathCost(
      portNum,
      opts.pathCost ??
        stpSpeedToCost(opts.speedMbps !== undefined && opts.speedMbps > 0 ? opts.speedMbps : 10000),
    );
    return p;
  }

  /** Removes a port (disabling it first, so the tree is recomputed). */
  removePort(portNum: number): void {
    const p = this.ports.get(portNum);
    if (!p) return;
    this.setPortEnabled(portNum, false);
    this.ports.delete(portNum);
    this.sortedPorts = this.sortedPorts.filter((x) => x !== p);
    this.outbox = this.outbox.filter((o) => o.portNum !== portNum);
  }

  /** The port numbered `portNum`, if any. */
  port(portNum: number): StpPort | undefined {
    return this.ports.get(portNum);
  }

  /** Every port, by port number. */
  allPorts(): readonly StpPort[] {
    return this.sortedPorts;
  }

  /**
   * Link state: `true` enables a disabled port (it starts in blocking and the tree is
   * recomputed), `false` disables it (its information is dropped and the tree recomputed).
   */
  setPortEnabled(portNum: number, up: boolean, now = this.clock.now()): void {
    const p = this.mustPort(portNum);
    this.advance(now);
    if (up && p.state === 'disabled') {
      this.initializePort(p, 'blocking');
      this.portStateSelection();
    } else if (!up && p.state !== 'disabled') {
      const wasRoot = this.isRootBridge();
      this.becomeDesignatedPort(p);
      this.setPortState(p, 'disabled');
      p.topologyChangeAck = false;
      p.configPending = false;
      stopTimer(p.messageAgeTimer);
      stopTimer(p.forwardDelayTimer);
      this.configurationUpdate();
      this.portStateSelection();
      if (this.isRootBridge() && !wasRoot) this.becomeRootBridge();
    }
  }

  /** Sets a port's priority (upper 8 bits of its port ID). */
  setPortPriority(portNum: number, priority: number): void {
    const p = this.mustPort(portNum);
    const newId = (p.portId & 0xff) | ((priority & 0xff) << 8);
    if (newId === p.portId) return;
    if (this.isDesignatedPort(p)) p.designatedPort = newId;
    p.portId = newId;
    if (this.bridgeId === p.designatedBridge && p.portId < p.designatedPort) {
      this.becomeDesignatedPort(p);
      this.portStateSelection();
    }
  }

  /** Sets a port's path cost and recomputes the tree. */
  setPortPathCost(portNum: number, cost: number): void {
    const p = this.mustPort(portNum);
    if (p.pathCost === cost) return;
    p.pathCost = cost;
    this.configurationUpdate();
    this.portStateSelection();
  }

  /** Sets a port's path cost from its link speed in Mb/s (802.1D table). */
  setPortSpeed(portNum: number, mbps: number): void {
    this.setPortPathCost(portNum, stpSpeedToCost(mbps));
  }

  /** Enables or disables topology-change detection for state changes of a port. */
  setPortChangeDetection(portNum: number, enabled: boolean): void {
    this.mustPort(portNum).changeDetectionEnabled = enabled;
  }

  // ---------------------------------------------------------------- packet and time interface

  /** Advances the protocol timers to `now`. */
  run(now = this.clock.now()): void {
    this.advance(now);
  }

  /** The earliest clock time at which a timer expires (Infinity when none runs). */
  wakeTime(): number {
    let ticks = Infinity;
    const consider = (t: Timer, timeout: number): void => {
      if (t.active) ticks = Math.min(ticks, Math.max(0, timeout - t.value));
    };
    consider(this.helloTimer, this.helloTime);
    consider(this.tcnTimer, this.bridgeHelloTime);
    consider(this.topologyChangeTimer, this.maxAge + this.forwardDelay);
    for (const p of this.enabledPorts()) {
      consider(p.messageAgeTimer, this.maxAge);
      consider(p.forwardDelayTimer, this.forwardDelay);
      consider(p.holdTimer, HOLD_TIME_TICKS);
    }
    if (ticks === Infinity) return Infinity;
    const ms = Math.ceil((ticks * 1000) / STP_TICKS_PER_SEC - this.elapsedRemainder);
    return this.lastTick + Math.max(0, ms);
  }

  /** True when BPDUs wait in the outbox. */
  shouldSendPacket(): boolean {
    return this.outbox.length > 0;
  }

  /** Removes and returns the oldest BPDU frame waiting to be sent, if any. */
  composePacket(): StpOutgoing | undefined {
    return this.outbox.shift();
  }

  /** Removes and returns every BPDU frame waiting to be sent, in order. */
  takePackets(): StpOutgoing[] {
    const o = this.outbox;
    this.outbox = [];
    return o;
  }

  /**
   * Processes a frame received on `portNum` (one for which {@link isStpFrame} holds). Ignored on
   * a disabled port; malformed BPDUs are counted in the port's error count and dropped; valid
   * ones are counted and run through 802.1D's received-BPDU procedures. Never throws on
   * malformed input.
   */
  processPacket(portNum: number, frame: Uint8Array, now = this.clock.now()): void {
    const p = this.ports.get(portNum);
    if (!p || p.state === 'disabled') return;
    this.advance(now);
    let bpdu: StpBpdu;
    try {
      bpdu = decodeBpduFrame(frame);
    } catch (e) {
      if (!(e instanceof StpDecodeError)) throw e;
      p.errorCount++;
      p.errors[e.reason]++;
      rxErrCounter.inc();
      log.warn(`${this.name}: port ${p.name}: ${e.message}`);
      return;
    }
    if (bpdu.type === 'config') this.receivedConfigBpdu(p, bpdu);
    else this.receivedTcnBpdu(p);
    p.rxCount++;
    rxCounter.inc();
  }

  // ---------------------------------------------------------------- queries

  /**
   * True when frames may be forwarded to or from the port: its state is forwarding, or the port
   * does not take part in STP (unknown port number), as OVS's xlate treats ports without STP.
   */
  mayForward(portNum: number): boolean {
    const p = this.ports.get(portNum);
    return p === undefined || stpForwardInState(p.state);
  }

  /**
   * True when source MACs may be learned on the port: learning or forwarding, or the port does
   * not take part in STP.
   */
  mayLearn(portNum: number): boolean {
    const p = this.ports.get(portNum);
    return p === undefined || stpLearnInState(p.state);
  }

  /**
   * True when a BPDU may be flooded out of the port (every state but blocking; a port outside STP
   * counts as disabled). Only relevant when BPDUs are forwarded rather than consumed.
   */
  shouldForwardBpdu(portNum: number): boolean {
    const p = this.ports.get(portNum);
    return stpShouldForwardBpdu(p ? p.state : 'disabled');
  }

  /** True when this bridge believes itself the root. */
  isRootBridge(): boolean {
    return this.bridgeId === this.designatedRoot;
  }

  /** This bridge's identifier. */
  getBridgeId(): bigint {
    return this.bridgeId;
  }

  /** The root's identifier as this bridge believes it. */
  getDesignatedRoot(): bigint {
    return this.designatedRoot;
  }

  /** Cost of the path to the root. */
  getRootPathCost(): number {
    return this.rootPathCost;
  }

  /** Port number of the root port, if any. */
  getRootPort(): number | undefined {
    return this.rootPort?.portNum;
  }

  /** Times in force (learned from the root), in seconds. */
  getTimers(): { helloTime: number; maxAge: number; forwardDelay: number } {
    return {
      helloTime: ticksToMs(this.helloTime) / 1000,
      maxAge: ticksToMs(this.maxAge) / 1000,
      forwardDelay: ticksToMs(this.forwardDelay) / 1000,
    };
  }

  /** Times this bridge would use as root after clamping, in seconds. */
  getBridgeTimers(): { helloTime: number; maxAge: number; forwardDelay: number } {
    return {
      helloTime: ticksToMs(this.bridgeHelloTime) / 1000,
      maxAge: ticksToMs(this.bridgeMaxAge) / 1000,
      forwardDelay: ticksToMs(this.bridgeForwardDelay) / 1000,
    };
  }

  /**
   * True while the Topology Change flag is set (802.1D 8.5.3.12): the MAC table should age entries
   * out after forward delay instead of its normal aging time.
   */
  topologyChangeActive(): boolean {
    return this.topologyChange;
  }

  /** True after this bridge detected a topology change not yet acknowledged or expired. */
  topologyChangeDetectedFlag(): boolean {
    return this.topologyChangeDetected;
  }

  /**
   * The MAC aging time the MAC table should use now, seconds: forward delay while a topology
   * change is in progress (802.1D 8.3.5), else `normalSeconds`.
   */
  macAgingTime(normalSeconds: number): number {
    return this.topologyChange
      ? Math.min(normalSeconds, ticksToMs(this.forwardDelay) / 1000)
      : normalSeconds;
  }

  /**
   * True once after a topology change was detected or signalled by the root: OVS flushes its
   * MAC table then. Reading resets it.
   */
  checkAndResetFdbFlush(): boolean {
    const r = this.fdbNeedsFlush;
    this.fdbNeedsFlush = false;
    return r;
  }

  /** Port numbers whose state changed since the last call (then reset). */
  changedPorts(): number[] {
    const out: number[] = [];
    for (const p of this.sortedPorts) {
      if (p.stateChanged) {
        p.stateChanged = false;
        out.push(p.portNum);
      }
    }
    return out;
  }

  /** Port role, computed as OVS does (root port, designated, disabled, else alternate). */
  portRole(portNum: number): StpRole {
    const p = this.mustPort(portNum);
    if (this.rootPort && this.rootPort.portId === p.portId) return 'root';
    if (this.isDesignatedPort(p)) return 'designated';
    if (p.state === 'disabled') return 'disabled';
    return 'alternate';
  }

  /** Bridge.status as OVS writes it. */
  status(): StpBridgeStatus {
    return {
      stp_bridge_id: formatStpId(this.bridgeId),
      stp_designated_root: formatStpId(this.designatedRoot),
      stp_root_path_cost: String(this.rootPathCost),
    };
  }

  /** Port.status as OVS writes it. */
  portStatus(portNum: number, now = this.clock.now()): StpPortStatus {
    const p = this.mustPort(portNum);
    return {
      stp_port_id: String(p.portId),
      stp_state: p.state,
      stp_sec_in_state: String(Math.max(0, Math.floor((now - p.stateEnteredAt) / 1000))),
      stp_role: this.portRole(portNum),
    };
  }

  /** Port.statistics as OVS writes them. */
  portStatistics(portNum: number): StpPortStatistics {
    const p = this.mustPort(portNum);
    return { stp_tx_count: p.txCount, stp_rx_count: p.rxCount, stp_error_count: p.errorCount };
  }

  /** `ovs-appctl stp/tcn`: signal a topology change as if detected. */
  triggerTopologyChange(): void {
    this.topologyChangeDetection();
  }

  /** The `ovs-appctl stp/show` block for this bridge. */
  show(): string {
    const lines: string[] = [`---- ${this.name} ----`, 'Root ID:'];
    lines.push(
      ...this.idDetails(
        this.designatedRoot,
        this.bridgeHelloTime,
        this.bridgeMaxAge,
        this.bridgeForwardDelay,
      ),
    );
    if (this.isRootBridge()) {
      lines.push('  This bridge is the root');
    } else {
      lines.push(`  root-port       ${this.rootPort?.name ?? ''}`);
      lines.push(`  root-path-cost  ${this.rootPathCost}`);
    }
    lines.push('', 'Bridge ID:');
    lines.push(...this.idDetails(this.bridgeId, this.helloTime, this.maxAge, this.forwardDelay));
    lines.push('');
    const col = (s: string, w: number): string => s.slice(0, w - 1).padEnd(w);
    lines.push(
      `  ${col('Interface', 11)}${col('Role', 11)}${col('State', 11)}${col('Cost', 6)}${col('Pri.Nbr', 8)}`,
    );
    lines.push('  ---------- ---------- ---------- ----- -------');
    for (const p of this.enabledPorts()) {
      lines.push(
        `  ${col(p.name, 11)}${col(this.portRole(p.portNum), 11)}${col(p.state, 11)}${String(p.pathCost).padEnd(6)}${p.portId >> 8}.${p.portId & 0xff}`,
      );
    }
    lines.push('');
    return lines.join('\n') + '\n';
  }

  private idDetails(id: bigint, hello: number, maxAge: number, fwd: number): string[] {
    return [
      `  stp-priority  ${Number(id >> 48n)}`,
      `  stp-system-id   ${formatMac(bigIntToMac(id & 0xffffffffffffn))}`,
      `  stp-hello-time  ${Math.floor(ticksToMs(hello) / 1000)}s`,
      `  stp-max-age     ${Math.floor(ticksToMs(maxAge) / 1000)}s`,
      `  stp-fwd-delay   ${Math.floor(ticksToMs(fwd) / 1000)}s`,
    ];
  }

  // ---------------------------------------------------------------- timers

  private advance(now: number): void {
    const elapsedMs = now - this.lastTick;
    if (elapsedMs <= 0) return;
    this.lastTick = now;
    const ms = elapsedMs + this.elapsedRemainder;
    const elapsed = msToTicks(ms);
    this.elapsedRemainder = ms - (elapsed * 1000) / STP_TICKS_PER_SEC;
    if (!elapsed) return;
    this.tick(elapsed);
  }

  /**
   * Runs the timers by `elapsed` ticks. A long gap is processed in steps of at most half a
   * second so that chained expiries (listening → learning → forwarding) happen in order.
   */
  private tick(elapsed: number): void {
    const step = STP_TICKS_PER_SEC / 2;
    while (elapsed > 0) {
      const e = Math.min(step, elapsed);
      elapsed -= e;
      if (timerExpired(this.helloTimer, e, this.helloTime)) this.helloTimerExpiry();
      if (timerExpired(this.tcnTimer, e, this.bridgeHelloTime)) this.tcnTimerExpiry();
      if (timerExpired(this.topologyChangeTimer, e, this.maxAge + this.forwardDelay)) {
        this.topologyChangeDetected = false;
        this.topologyChange = false;
      }
      for (const p of this.enabledPorts()) {
        if (timerExpired(p.messageAgeTimer, e, this.maxAge)) this.messageAgeTimerExpiry(p);
      }
      for (const p of this.enabledPorts()) {
        if (timerExpired(p.forwardDelayTimer, e, this.forwardDelay))
          this.forwardDelayTimerExpiry(p);
        if (timerExpired(p.holdTimer, e, HOLD_TIME_TICKS)) {
          if (p.configPending) this.transmitConfig(p);
        }
      }
    }
  }

  private updateBridgeTimers(): void {
    const ht = clamp(this.rqHelloTime, 1000, 10000);
    const ma = clamp(this.rqMaxAge, Math.max(2 * (ht + 1000), 6000), 40000);
    const fd = clamp(this.rqForwardDelay, ma / 2 + 1000, 30000);
    this.bridgeHelloTime = msToTicks(ht);
    this.bridgeMaxAge = msToTicks(ma);
    this.bridgeForwardDelay = msToTicks(fd);
    if (this.isRootBridge()) {
      this.maxAge = this.bridgeMaxAge;
      this.helloTime = this.bridgeHelloTime;
      this.forwardDelay = this.bridgeForwardDelay;
    }
  }

  // ---------------------------------------------------------------- 802.1D procedures

  private *enabledPorts(): Generator<StpPort> {
    for (const p of this.sortedPorts) if (p.state !== 'disabled') yield p;
  }

  private mustPort(portNum: number): StpPort {
    const p = this.ports.get(portNum);
    if (!p) throw new Error(`no STP port ${portNum} on ${this.name}`);
    return p;
  }

  private setBridgeId(id: bigint): void {
    if (id === this.bridgeId) return;
    const wasRoot = this.isRootBridge();
    for (const p of this.enabledPorts()) if (this.isDesignatedPort(p)) p.designatedBridge = id;
    this.bridgeId = id;
    this.configurationUpdate();
    this.portStateSelection();
    if (this.isRootBridge() && !wasRoot) this.becomeRootBridge();
  }

  private initializePort(p: StpPort, state: StpState): void {
    this.becomeDesignatedPort(p);
    if (state !== p.state) this.setPortState(p, state);
    p.topologyChangeAck = false;
    p.configPending = false;
    p.changeDetectionEnabled = true;
    stopTimer(p.messageAgeTimer);
    stopTimer(p.forwardDelayTimer);
    stopTimer(p.holdTimer);
    p.txCount = p.rxCount = p.errorCount = 0;
    for (const k of Object.keys(p.errors) as StpRxError[]) p.errors[k] = 0;
  }

  private setPortState(p: StpPort, state: StpState): void {
    if (state !== p.state) {
      p.stateChanged = true;
      p.stateEnteredAt = this.clock.now();
      log.debug(`${this.name}: port ${p.name}: ${p.state} -> ${state}`);
    }
    p.state = state;
  }

  private isDesignatedPort(p: StpPort): boolean {
    return p.designatedBridge === this.bridgeId && p.designatedPort === p.portId;
  }

  private send(p: StpPort, bpdu: StpBpdu): void {
    const src = p.mac ?? bigIntToMac(this.bridgeId & 0xffffffffffffn);
    this.outbox.push({ portNum: p.portNum, frame: encodeBpduFrame(src, bpdu) });
    p.txCount++;
    txCounter.inc();
  }

  /** 802.1D 8.6.1: transmit a configuration BPDU, or defer it while the hold timer runs. */
  private transmitConfig(p: StpPort): void {
    const root = this.isRootBridge();
    if (!root && !this.rootPort) return;
    if (p.holdTimer.active) {
      p.configPending = true;
      return;
    }
    let flags = 0;
    if (p.topologyChangeAck) flags |= StpFlag.TopologyChangeAck;
    if (this.topologyChange) flags |= StpFlag.TopologyChange;
    const messageAge = root
      ? 0
      : (this.rootPort?.messageAgeTimer.value ?? 0) + MESSAGE_AGE_INCREMENT;
    if (messageAge < this.maxAge) {
      p.topologyChangeAck = false;
      p.configPending = false;
      this.send(p, {
        type: 'config',
        flags,
        rootId: this.designatedRoot,
        rootPathCost: this.rootPathCost,
        bridgeId: this.bridgeId,
        portId: p.portId,
        messageAge,
        maxAge: this.maxAge,
        helloTime: this.helloTime,
        forwardDelay: this.forwardDelay,
      });
      startTimer(p.holdTimer, 0);
    }
  }

  /** 8.6.2.2: does the received information supersede what the port holds? */
  private supersedesPortInfo(p: StpPort, c: StpConfigBpdu): boolean {
    if (c.rootId !== p.designatedRoot) return c.rootId < p.designatedRoot;
    if (c.rootPathCost !== p.designatedCost) return c.rootPathCost < p.designatedCost;
    if (c.bridgeId !== p.designatedBridge) return c.bridgeId < p.designatedBridge;
    return c.bridgeId !== this.bridgeId || c.portId <= p.designatedPort;
  }

  private recordConfigInformation(p: StpPort, c: StpConfigBpdu): void {
    p.designatedRoot = c.rootId;
    p.designatedCost = c.rootPathCost;
    p.designatedBridge = c.bridgeId;
    p.designatedPort = c.portId;
    startTimer(p.messageAgeTimer, c.messageAge);
  }

  private recordConfigTimeoutValues(c: StpConfigBpdu): void {
    this.maxAge = c.maxAge;
    this.helloTime = c.helloTime;
    this.forwardDelay = c.forwardDelay;
    this.topologyChange = (c.flags & StpFlag.TopologyChange) !== 0;
  }

  private configBpduGeneration(): void {
    for (const p of this.enabledPorts()) if (this.isDesignatedPort(p)) this.transmitConfig(p);
  }

  private transmitTcn(): void {
    if (this.rootPort) this.send(this.rootPort, { type: 'tcn' });
  }

  private configurationUpdate(): void {
    this.rootSelection();
    this.designatedPortSelection();
  }

  private supersedesRoot(root: StpPort, p: StpPort): boolean {
    const pCost = p.designatedCost + p.pathCost;
    const rootCost = root.designatedCost + root.pathCost;
    if (p.designatedRoot !== root.designatedRoot) return p.designatedRoot < root.designatedRoot;
    if (pCost !== rootCost) return pCost < rootCost;
    if (p.designatedBridge !== root.designatedBridge)
      return p.designatedBridge < root.designatedBridge;
    if (p.designatedPort !== root.designatedPort) return p.designatedPort < root.designatedPort;
    return p.portId < root.portId;
  }

  /** 8.6.8: root selection. */
  private rootSelection(): void {
    let root: StpPort | undefined;
    for (const p of this.enabledPorts()) {
      if (this.isDesignatedPort(p) || p.designatedRoot >= this.bridgeId) continue;
      if (root && !this.supersedesRoot(root, p)) continue;
      root = p;
    }
    this.rootPort = root;
    if (!root) {
      this.designatedRoot = this.bridgeId;
      this.rootPathCost = 0;
    } else {
      this.designatedRoot = root.designatedRoot;
      this.rootPathCost = root.designatedCost + root.pathCost;
    }
  }

  /** 8.6.9: designated port selection. */
  private designatedPortSelection(): void {
    for (const p of this.enabledPorts()) {
      if (
        this.isDesignatedPort(p) ||
        p.designatedRoot !== this.designatedRoot ||
        this.rootPathCost < p.designatedCost ||
        (this.rootPathCost === p.designatedCost &&
          (this.bridgeId < p.designatedBridge ||
            (this.bridgeId === p.designatedBridge && p.portId <= p.designatedPort)))
      ) {
        this.becomeDesignatedPort(p);
      }
    }
  }

  private becomeDesignatedPort(p: StpPort): void {
    p.designatedRoot = this.designatedRoot;
    p.designatedCost = this.rootPathCost;
    p.designatedBridge = this.bridgeId;
    p.designatedPort = p.portId;
  }

  /** 8.6.11: port state selection. */
  private portStateSelection(): void {
    for (const p of this.enabledPorts()) {
      if (p === this.rootPort) {
        p.configPending = false;
        p.topologyChangeAck = false;
        this.makeForwarding(p);
      } else if (this.isDesignatedPort(p)) {
        stopTimer(p.messageAgeTimer);
        this.makeForwarding(p);
      } else {
        p.configPending = false;
        p.topologyChangeAck = false;
        this.makeBlocking(p);
      }
    }
  }

  private makeForwarding(p: StpPort): void {
    if (p.state === 'blocking') {
      this.setPortState(p, 'listening');
      startTimer(p.forwardDelayTimer, 0);
    }
  }

  private makeBlocking(p: StpPort): void {
    if (p.state !== 'disabled' && p.state !== 'blocking') {
      if ((p.state === 'forwarding' || p.state === 'learning') && p.changeDetectionEnabled) {
        this.topologyChangeDetection();
      }
      this.setPortState(p, 'blocking');
      stopTimer(p.forwardDelayTimer);
    }
  }

  /** 8.6.14: topology change detection. */
  private topologyChangeDetection(): void {
    if (this.isRootBridge()) {
      this.topologyChange = true;
      startTimer(this.topologyChangeTimer, 0);
    } else if (!this.topologyChangeDetected) {
      this.transmitTcn();
      startTimer(this.tcnTimer, 0);
    }
    this.fdbNeedsFlush = true;
    this.topologyChangeDetected = true;
    tcCounter.inc();
    log.info(`${this.name}: detected topology change.`);
  }

  private acknowledgeTopologyChange(p: StpPort): void {
    p.topologyChangeAck = true;
    this.transmitConfig(p);
  }

  /** 8.7.1: received configuration BPDU. */
  private receivedConfigBpdu(p: StpPort, c: StpConfigBpdu): void {
    if (c.messageAge >= c.maxAge) {
      log.warn(
        `${this.name}: received config BPDU with message age (${c.messageAge}) greater than max age (${c.maxAge})`,
      );
      return;
    }
    const wasRoot = this.isRootBridge();
    if (this.supersedesPortInfo(p, c)) {
      this.recordConfigInformation(p, c);
      this.configurationUpdate();
      this.portStateSelection();
      if (!this.isRootBridge() && wasRoot) {
        stopTimer(this.helloTimer);
        if (this.topologyChangeDetected) {
          stopTimer(this.topologyChangeTimer);
          this.transmitTcn();
          startTimer(this.tcnTimer, 0);
        }
      }
      if (p === this.rootPort) {
        this.recordConfigTimeoutValues(c);
        this.configBpduGeneration();
        if (c.flags & StpFlag.TopologyChangeAck) {
          this.topologyChangeDetected = false;
          stopTimer(this.tcnTimer);
        }
        if (c.flags & StpFlag.TopologyChange) this.fdbNeedsFlush = true;
      }
    } else if (this.isDesignatedPort(p)) {
      this.transmitConfig(p);
    }
  }

  /** 8.7.2: received TCN BPDU. */
  private receivedTcnBpdu(p: StpPort): void {
    if (this.isDesignatedPort(p)) {
      this.topologyChangeDetection();
      this.acknowledgeTopologyChange(p);
    }
  }

  private helloTimerExpiry(): void {
    this.configBpduGeneration();
    startTimer(this.helloTimer, 0);
  }

  private messageAgeTimerExpiry(p: StpPort): void {
    const wasRoot = this.isRootBridge();
    log.debug(`${this.name}: port ${p.name}: message age timer expired`);
    this.becomeDesignatedPort(p);
    this.configurationUpdate();
    this.portStateSelection();
    if (this.isRootBridge() && !wasRoot) this.becomeRootBridge();
  }

  private isDesignatedForSomePort(): boolean {
    for (const p of this.enabledPorts()) if (p.designatedBridge === this.bridgeId) return true;
    return false;
  }

  private forwardDelayTimerExpiry(p: StpPort): void {
    if (p.state === 'listening') {
      this.setPortState(p, 'learning');
      startTimer(p.forwardDelayTimer, 0);
    } else if (p.state === 'learning') {
      this.setPortState(p, 'forwarding');
      if (this.isDesignatedForSomePort() && p.changeDetectionEnabled)
        this.topologyChangeDetection();
    }
  }

  private tcnTimerExpiry(): void {
    this.transmitTcn();
    startTimer(this.tcnTimer, 0);
  }

  private becomeRootBridge(): void {
    this.maxAge = this.bridgeMaxAge;
    this.helloTime = this.bridgeHelloTime;
    this.forwardDelay = this.bridgeForwardDelay;
    this.topologyChangeDetection();
    stopTimer(this.tcnTimer);
    this.configBpduGeneration();
    startTimer(this.helloTimer, 0);
  }
}

function startTimer(t: Timer, value: number): void {
  t.value = value;
  t.active = true;
}
function stopTimer(t: Timer): void {
  t.active = false;
}
function timerExpired(t: Timer, elapsed: number, timeout: number): boolean {
  if (!t.active) return false;
  t.value += elapsed;
  if (t.value >= timeout) {
    t.active = false;
    return true;
  }
  return false;
}

/**
 * `ovs-appctl stp/show [bridge]`: one bridge's block, or every bridge's; an unknown name gives
 * the error "no such stp object".
 */
export function formatStpShow(
  bridges: Iterable<StpBridge>,
  name?: string,
): { ok: true; text: string } | { ok: false; error: string } {
  const all = [...bridges];
  if (name !== undefined) {
    const b = all.find((x) => x.name === name);
    return b ? { ok: true, text: b.show() } : { ok: false, error: 'no such stp object' };
  }
  return { ok: true, text: all.map((b) => b.show()).join('') };
}

/**
 * The userspace datapath, after OVS's dpif-netdev. Per received batch of frames:
 *
 *   copy into a pooled packet → extract the flow key → exact-match cache (hash of the whole key)
 *   → megaflow cache (masked subtables) → hit: update the flow's stats and run its actions;
 *   miss: collect, then one upcall for the batch's misses to the {@link UpcallHandler}, install
 *   each answer as a megaflow under the mask it reports, and run its actions.
 *
 * Outputs are queued per port and sent as one batch per port when the input batch is done (or
 * a queue fills). The hit path allocates nothing. Flows idle longer than maxIdleMs go on
 * {@link DpifNetdev.expire} (run every second after {@link DpifNetdev.start}); at flowLimit flows,
 * misses are executed without installing. Datapath meters (datapath/dp-meter.ts, set with
 * {@link DpifNetdev.meterSet}) run per packet in the fast path when a flow's actions name them.
 */
import { availableParallelism } from 'node:os';
import type { Clock, TimerHandle } from '../lib/clock.js';
import { realClock } from '../lib/clock.js';
import { counter } from '../lib/counters.js';
import { getLogger } from '../lib/log.js';
import { FLOW_KEY_WORDS, W, keyEquals, type FlowKey } from '../lib/packet/flow-key.js';
import type { DpAction, UserspaceCookie } from './actions.js';
import { validateActions } from './actions.js';
import type {
  DpConfig,
  DpFlowInfo,
  DpPortInfo,
  DpStats,
  Dpif,
  RevalidateSummary,
  RevalidateVerdict,
  UpcallHandler,
  UpcallRequest,
  UpcallResult,
} from './dpif.js';
import { DpFlow, Dpcls, Emc, emcHash } from './dpcls.js';
import { DpWorker } from './dp-worker.js';
import type { DpMeterConfig, DpMeterStats } from './dp-meter.js';
import { DpMeterTable, METER_DROP } from './dp-meter.js';
import type { ExecContext } from './execute.js';
import { executeActions, lastModifying } from './execute.js';
import { AfPacketNetdev } from './netdev-afpacket.js';
import type { FrameBatch, Netdev } from './netdev.js';
import { MAX_BURST, newFrameBatch } from './netdev.js';
import type { DpPacket } from './packet.js';
import { PacketPool, loadFrameBatch } from './packet.js';

/** Most recirculations of one packet before it is dropped (as OVS's MAX_RECIRC_DEPTH). */
export const MAX_RECIRC_DEPTH = 6;

const log = getLogger('dpif_netdev');
const cRxInvalid = counter(
  'datapath_drop_rx_invalid_packet',
  'dpif_netdev',
  'frames too short to be Ethernet dropped on input',
);
const cLost = counter('datapath_drop_lock_error', 'dpif_netdev', 'packets lost in upcalls');
const cInvalidPort = counter(
  'datapath_drop_invalid_port',
  'dpif_netdev',
  'outputs to a port that does not exist',
);
const cRecircLoop = counter(
  'datapath_drop_recirc_error',
  'dpif_netdev',
  'packets recirculated too many times',
);
const cPortError = counter(
  'dpif_netdev_port_error',
  'dpif_netdev',
  'netdev receive or send calls that threw (e.g. a netdev closed while still a port)',
);
const cMeterDrop = counter(
  'datapath_drop_meter',
  'dpif_netdev',
  'packets dropped by a datapath meter band',
);
const cUpcallPackets = counter('dpif_netdev_upcall', 'dpif_netdev', 'packets upcalled');

interface Port {
  readonly port: number;
  readonly netdev: Netdev;
  /** Output queue: packets and the frame batch handed to sendBatch. */
  readonly outPkts: DpPacket[];
  /** Packets queued in outPkts (the array itself is never shrunk: no reallocation per batch). */
  outCount: number;
  readonly outBatch: FrameBatch;
  dirty: boolean;
  /** Receive handed to the datapath worker (this thread does not read the port). */
  offloaded: boolean;
  /** Frames received by the port at the last second's tick (for the automatic rx ring). */
  rxAtTick: number;
  /** txPackets at the previous one-second tick (for tx_ring=auto). */
  txAtTick: number;
}

/**
 * Frames a port must receive in one second (the datapath's tick) to be given an rx ring when
 * its `rx_ring` is `auto`, the default: at that rate a ring's saved copies and syscalls pay
 * for its memory, and its depth absorbs the receiver's pauses (a 4 MiB socket buffer holds
 * only ~5,000 small frames).
 */
export const AUTO_RING_PPS = 10_000;
/** Frames of an automatic rx ring (fewer when they would take more than {@link AUTO_RING_BYTES}). */
export const AUTO_RING_FRAMES = 4096;
/** Most memory an automatic rx ring takes (frames × frame size). */
export const AUTO_RING_BYTES = 8 << 20;
/**
 * Frames of an automatic tx ring (~400 KiB at MTU 1500): the worker sends at most a batch of
 * 32 frames at a time, and a frame's ring slot is free again once the kernel freed its copy.
 */
export const AUTO_TX_RING_FRAMES = 256;

/** Options for {@link DpifNetdev}. */
export interface DpifNetdevOptions {
  /** Datapath name (default `ovs-netdev`). */
  name?: string;
  /** Clock for flow timestamps and expiry (default the real clock). */
  clock?: Clock;
  /** Initial tunables. */
  config?: Partial<DpConfig>;
  /** EMC entries (default 8192; 0 disables the EMC). */
  emcEntries?: number;
  /**
   * Run the fast path in a worker thread (datapath/dp-worker.ts) while started: it takes over
   * receive on AF_PACKET ports (recvmmsg or ring). The thread starts with the first such port,
   * so a datapath of dummy, TAP or patch ports never starts one. Default: on, unless the
   * environment variable `TSVS_DATAPATH_WORKER` is `0`.
   */
  worker?: boolean;
  /**
   * The worker's busy-poll window in µs (see {@link DpifNetdev.setWorkerBusyPollUs}). Default
   * {@link DEFAULT_WORKER_BUSY_POLL_US}, or `TSVS_DATAPATH_BUSY_POLL_US`; 0 on a machine with
   * one CPU, where a polling thread would take the CPU from everything else.
   */
  workerBusyPollUs?: number;
}

/**
 * Default busy-poll window of the datapath worker: for 20 ms after the last frame it polls its
 * ports without sleeping. A frame that arrives while a thread sleeps pays a wake-up, which on a
 * VM whose idle CPUs halt at once (no guest halt polling) is most of a ping's round trip
 * through the switch; 20 ms covers traffic at 50 frames/s or more, and an idle switch sleeps.
 */
export const DEFAULT_WORKER_BUSY_POLL_US = 20_000;

/** {@link DpifNetdevOptions.workerBusyPollUs}'s default on this machine. */
function defaultWorkerBusyPollUs(): number {
  if (availableParallelism() < 2) return 0;
  const env = process.env.TSVS_DATAPATH_BUSY_POLL_US;
  return env !== undefined && /^\d{1,7}$/.test(env) ? Number(env) : DEFAULT_WORKER_BUSY_POLL_US;
}

/** The userspace datapath (see the module comment). */
export class DpifNetdev implements Dpif {
  readonly name: string;
  readonly type = 'netdev';
  private readonly clock: Clock;
  private readonly portMap = new Map<number, Port>();
  private portList: Port[] = [];
  private handler: UpcallHandler | undefined;
  private cfg: DpConfig = { flowLimit: 200_000, maxIdleMs: 10_000, emcInsertInvProb: 1 };
  private readonly pool = new PacketPool(512);
  private readonly emc: Emc | undefined;
  private readonly dpcls = new Dpcls();
  /** Scratch for the mask of a flow being installed (never retained). */
  private readonly maskScratch = new Uint32Array(FLOW_KEY_WORDS);
  private readonly flowSet = new Set<DpFlow>();
  private nextFlowId = 1;
  private readonly rxBatch = newFrameBatch(MAX_BURST);
  private readonly dirtyPorts: Port[] = [];
  private nDirty = 0;
  private misses: DpPacket[] = [];
  private now = 0;
  private emcCounter = 0;
  private closed = false;
  private timer: TimerHandle | undefined;
  private pollScheduled = false;
  private running = false;
  private depth = 0;
  private maxFlowsSeen = 0;

  // Counters.
  private nEmcHits = 0;
  private nMfHits = 0;
  private nMisses = 0;
  private nLost = 0;
  private nUpcalls = 0;
  private nRxInvalid = 0;
  private nOverLimit = 0;
  private nInvalidPort = 0;
  private nRecircLoops = 0;
  private nPortErrors = 0;

  private readonly ctx: ExecContext;
  private useWorker: boolean;
  private workerBusyPollUs: number;
  private fast: DpWorker | undefined;
  /** The worker could not start (see {@link DpWorker.start}); reset by setWorkerEnabled. */
  private workerFailed = false;
  private readonly meterTable = new DpMeterTable();
  private nMeterDrops = 0;

  constructor(opts: DpifNetdevOptions = {}) {
    this.name = opts.name ?? 'ovs-netdev';
    this.clock = opts.clock ?? realClock;
    if (opts.config) this.setConfig(opts.config);
    const entries = opts.emcEntries ?? 8192;
    this.emc = entries > 0 ? new Emc(entries) : undefined;
    this.useWorker = opts.worker ?? process.env.TSVS_DATAPATH_WORKER !== '0';
    this.workerBusyPollUs = opts.workerBusyPollUs ?? defaultWorkerBusyPollUs();
    this.ctx = {
      output: (port, pkt) => this.enqueue(port, pkt),
      userspace: (pkt, pid, cookie) => this.toUserspace(pkt, pid, cookie),
      recirc: (pkt, id) => this.recirc(pkt, id),
      clone: (pkt) => this.pool.clone(pkt),
      release: (pkt) => this.pool.release(pkt),
      meter: (pkt, id) => this.runMeterBytes(id, pkt.len),
    };
  }

  // ---- Ports ----

  addPort(netdev: Netdev, portNo?: number): number {
    this.checkOpen();
    for (const p of this.portList) {
      if (p.netdev.name === netdev.name) throw new Error(`${netdev.name} is already a port`);
    }
    let n: number;
    if (portNo !== undefined) {
      if (!Number.isInteger(portNo) || portNo < 0 || portNo > 0xfffffeff)
        throw new RangeError(`bad port number ${portNo}`);
      if (this.portMap.has(portNo)) throw new Error(`port ${portNo} is in use`);
      n = portNo;
    } else {
      n = 1;
      while (this.portMap.has(n)) n++;
    }
    const port: Port = {
      port: n,
      netdev,
      outPkts: [],
      outCount: 0,
      outBatch: newFrameBatch(MAX_BURST),
      dirty: false,
      offloaded: false,
      rxAtTick: 0,
      txAtTick: 0,
    };
    this.portMap.set(n, port);
    this.portList = [...this.portMap.values()].sort((a, b) => a.port - b.port);
    if (this.running) this.readPort(port);
    return n;
  }

  delPort(portNo: number): void {
    const p = this.portMap.get(portNo);
    if (p === undefined) throw new Error(`no port ${portNo}`);
    // The worker must let go of the socket before the caller closes it.
    if (p.offloaded) this.fast?.releasePort(portNo);
    p.offloaded = false;
    this.flushPort(p);
    p.netdev.onReadable(undefined);
    this.portMap.delete(portNo);
    this.portList = this.portList.filter((x) => x !== p);
    for (const f of [...this.flowSet]) if (f.key[W.IN_PORT] === portNo) this.removeFlow(f);
  }

  ports(): DpPortInfo[] {
    return this.portList.map((p) => ({
      port: p.port,
      name: p.netdev.name,
      type: p.netdev.type,
      netdev: p.netdev,
    }));
  }

  portByName(name: string): DpPortInfo | undefined {
    return this.ports().find((p) => p.name === name);
  }

  setUpcallHandler(h: UpcallHandler | undefined): void {
    this.handler = h;
  }

  setConfig(cfg: Partial<DpConfig>): void {
    const c = { ...this.cfg, ...cfg };
    if (!(c.flowLimit >= 0) || !(c.maxIdleMs >= 0) || !(c.emcInsertInvProb >= 0))
      throw new RangeError('bad datapath configuration');
    this.cfg = c;
    this.fast?.setEmcInsertInvProb(c.emcInsertInvProb);
  }

  config(): DpConfig {
    return { ...this.cfg };
  }

  // ---- Packet processing ----

  /** Processes one batch of frames received on `inPort` (what poll does per port). */
  input(inPort: number, batch: FrameBatch): void {
    this.now = this.clock.now();
    this.depth++;
    try {
      for (let i = 0; i < batch.count; i++) {
        const len = batch.lens[i]!;
        if (len < 14) {
          this.nRxInvalid++;
          cRxInvalid.total++;
          continue;
        }
        const p = this.pool.get();
        p.load(batch.bufs[i]!, batch.offs[i]!, len);
        p.inPort = inPort;
        this.process(p);
      }
      this.handleMisses();
    } finally {
      this.depth--;
    }
    if (this.depth === 0) this.flushAll_();
  }

  private process(p: DpPacket): void {
    p.parse();
    const key = p.key;
    const emc = this.emc;
    let flow: DpFlow | undefined;
    let h = 0;
    if (emc !== undefined) {
      h = emcHash(key);
      flow = emc.lookup(key, h);
    }
    if (flow !== undefined) {
      this.nEmcHits++;
    } else {
      flow = this.dpcls.lookup(key);
      if (flow === undefined) {
        this.misses.push(p);
        return;
      }
      this.nMfHits++;
      if (emc !== undefined && this.cfg.emcInsertInvProb > 0) {
        if (++this.emcCounter >= this.cfg.emcInsertInvProb) {
          this.emcCounter = 0;
          emc.insert(key, h, flow);
        }
      }
    }
    this.hit(flow, p);
    this.pool.release(p);
  }

  private handleMisses(): void {
    while (this.misses.length > 0) {
      const list = this.misses;
      this.misses = [];
      this.nMisses += list.length;
      cUpcallPackets.total += list.length;
      const h = this.handler;
      let results: readonly (UpcallResult | undefined)[] | undefined;
      let reqs: UpcallRequest[] | undefined;
      if (h !== undefined) {
        reqs = list.map((p) => ({
          // One buffer for the key the handler may keep and, if a flow is installed, the flow's
          // key and masked key (see installAndRun).
          key: keyPair(p.key),
          frame: p.bytes(),
          inPort: p.inPort,
        }));
        this.nUpcalls++;
        try {
          results = h.upcall(reqs);
        } catch {
          results = undefined;
        }
      }
      let installed = false;
      for (let i = 0; i < list.length; i++) {
        const p = list[i]!;
        // A flow installed for an earlier miss of this batch may cover this packet: then it is a
        // megaflow hit after all (OVS looks up again before each upcall for the same reason).
        if (installed) {
          const f = this.dpcls.lookup(p.key);
          if (f !== undefined) {
            this.nMisses--;
            this.nMfHits++;
            this.hit(f, p);
            this.pool.release(p);
            continue;
          }
        }
        const r = results?.[i];
        if (r === undefined) {
          this.nLost++;
          cLost.total++;
          this.pool.release(p);
          continue;
        }
        try {
          if (this.installAndRun(p, r, reqs?.[i]?.key)) installed = true;
        } catch {
          this.nLost++;
          cLost.total++;
        }
        this.pool.release(p);
      }
    }
  }

  /**
   * Installs (unless told not to or over the limit) and executes; true if a flow was added.
   * A flow's key and masked key share one buffer ({@link keyPair}).
   * `keyCopy`, when given, is the upcall request's copy of the packet's key: the new flow keeps
   * it as its key instead of copying again (the handler may keep that copy, never changes it).
   */
  private installAndRun(p: DpPacket, r: UpcallResult, keyCopy?: FlowKey): boolean {
    validateActions(r.actions);
    let flow: DpFlow | undefined;
    let added = false;
    if (r.install !== false) {
      const scratch = this.maskScratch;
      scratch.set(r.mask);
      scratch[W.IN_PORT] = 0xffffffff;
      scratch[W.RECIRC_ID] = 0xffffffff;
      // Flows with the same mask share their subtable's copy of it.
      const st = this.dpcls.subtable(scratch);
      flow = st?.lookup(p.key);
      if (flow === undefined) {
        if (this.flowSet.size >= this.cfg.flowLimit) {
          this.nOverLimit++;
        } else {
          const mask = st !== undefined ? st.mask : Uint32Array.from(scratch);
          const key = keyCopy ?? keyPair(p.key);
          flow = new DpFlow(this.nextFlowId++, key, mask, r.actions, this.now, pairOf(key));
          flow.lastMod = lastModifying(r.actions);
          this.dpcls.insert(flow);
          this.flowSet.add(flow);
          this.fast?.flowPut(flow);
          added = true;
          if (this.flowSet.size > this.maxFlowsSeen) this.maxFlowsSeen = this.flowSet.size;
        }
      }
    }
    // A flow that was already there (same mask and masked key) keeps its actions.
    if (flow !== undefined) executeActions(this.ctx, p, flow.actions, flow.lastMod);
    else executeActions(this.ctx, p, r.actions, lastModifying(r.actions));
    return added;
  }

  private hit(flow: DpFlow, p: DpPacket): void {
    flow.packets++;
    flow.bytes += p.len;
    flow.used = this.now;
    flow.tcpFlags |= p.key[W.TCP_FLAGS]! & 0xfff;
    executeActions(this.ctx, p, flow.actions, flow.lastMod);
  }

  private enqueue(portNo: number, p: DpPacket): void {
    const port = this.portMap.get(portNo);
    if (port === undefined) {
      this.nInvalidPort++;
      cInvalidPort.total++;
      this.pool.release(p);
      return;
    }
    port.outPkts[port.outCount++] = p;
    if (!port.dirty) {
      port.dirty = true;
      this.dirtyPorts[this.nDirty++] = port;
    }
    if (port.outCount >= MAX_BURST) this.flushPort(port);
  }

  private flushPort(port: Port): void {
    const pk = port.outPkts;
    const n = port.outCount;
    if (n === 0) return;
    port.outCount = 0;
    const b = port.outBatch;
    loadFrameBatch(pk, n, b);
    try {
      port.netdev.sendBatch(b);
    } catch {
      // A failing device (closed under us) must not stall the other ports.
      this.nPortErrors++;
      cPortError.total++;
    }
    for (let i = 0; i < n; i++) this.pool.release(pk[i]!);
  }

  private flushAll_(): void {
    const d = this.dirtyPorts;
    // Flushing can re-dirty nothing (no packets are processed), so one pass empties the list.
    for (let i = 0; i < this.nDirty; i++) {
      const port = d[i]!;
      port.dirty = false;
      if (this.portMap.get(port.port) === port) this.flushPort(port);
    }
    this.nDirty = 0;
  }

  private toUserspace(p: DpPacket, pid: number, cookie: UserspaceCookie): void {
    const h = this.handler;
    if (h?.userspace === undefined) return;
    const frame = p.bytes();
    const c = this.pool.clone(p);
    c.parse();
    const key = Uint32Array.from(c.key);
    this.pool.release(c);
    h.userspace({ frame, key, inPort: p.inPort, pid, cookie });
  }

  private recirc(p: DpPacket, id: number): void {
    if (p.depth >= MAX_RECIRC_DEPTH) {
      this.nRecircLoops++;
      cRecircLoop.total++;
      return;
    }
    p.depth++;
    p.meta.recircId = id >>> 0;
    p.refs++;
    this.process(p);
  }

  execute(frame: Uint8Array, inPort: number, actions: readonly DpAction[]): void {
    this.checkOpen();
    validateActions(actions);
    this.now = this.clock.now();
    const p = this.pool.get();
    p.load(frame, 0, frame.length);
    p.inPort = inPort;
    p.parse();
    this.depth++;
    try {
      executeActions(this.ctx, p, actions, lastModifying(actions));
      this.pool.release(p);
      this.handleMisses();
    } finally {
      this.depth--;
    }
    if (this.depth === 0) this.flushAll_();
  }

  poll(budget = MAX_BURST): number {
    this.checkOpen();
    let total = 0;
    const b = this.rxBatch;
    for (const port of this.portList) {
      if (port.offloaded) continue;
      let left = budget;
      while (left > 0) {
        let n: number;
        try {
          n = port.netdev.recvBatch(b, Math.min(left, MAX_BURST));
        } catch (e) {
          log.warn({ port: port.port, err: (e as Error).message }, 'receive failed');
          this.nPortErrors++;
          cPortError.total++;
          break;
        }
        if (n === 0) break;
        this.input(port.port, b);
        total += n;
        left -= n;
      }
    }
    return total;
  }

  /**
   * Starts autonomous operation: polls whenever a port becomes readable (batched on
   * setImmediate) and expires idle flows every second on the clock.
   */
  start(): void {
    this.checkOpen();
    if (this.running) return;
    this.running = true;
    for (const p of this.portList) this.readPort(p);
    const tick = (): void => {
      this.expire();
      this.autoRings();
      this.timer = this.clock.setTimeout(tick, 1000);
    };
    this.timer = this.clock.setTimeout(tick, 1000);
    this.schedulePoll();
  }

  /**
   * Gives an rx ring to each `rx_ring=auto` port that received {@link AUTO_RING_PPS} frames
   * since the last tick, and a tx ring to each `tx_ring=auto` port the worker sent as many
   * frames on.
   */
  private autoRings(): void {
    for (const p of this.portList) {
      const nd = p.netdev;
      if (!(nd instanceof AfPacketNetdev) || nd.isClosed) continue;
      const st = nd.localStats();
      const rxSeen = st.rxPackets - p.rxAtTick;
      const txSeen = st.txPackets - p.txAtTick;
      p.rxAtTick = st.rxPackets;
      p.txAtTick = st.txPackets;
      if (nd.autoRing && !nd.usesRing && rxSeen >= AUTO_RING_PPS) this.giveRing(p, nd);
      if (nd.autoTxRing && !nd.usesTxRing && p.offloaded && txSeen >= AUTO_RING_PPS)
        this.giveTxRing(p, nd);
    }
  }

  /**
   * Has the worker send port `p`'s frames through a tx ring: takes the port back from the
   * worker and offers it again, with a transmit-only socket and ring made for it.
   */
  private giveTxRing(p: Port, nd: AfPacketNetdev): void {
    if (!nd.enableTxRing(AUTO_TX_RING_FRAMES)) return;
    log.info(
      { port: p.port, netdev: nd.name, frames: AUTO_TX_RING_FRAMES },
      'busy port: sending through a tx ring',
    );
    this.fast?.releasePort(p.port);
    p.offloaded = false;
    if (this.running && !this.closed) this.readPort(p);
  }

  /**
   * Moves port `p` to an rx ring: takes its receive back from the worker, sets the ring up,
   * runs what the socket had queued before the ring here, then hands the port
   * out again (to the worker, which maps the ring, or to this thread's readiness).
   */
  private giveRing(p: Port, nd: AfPacketNetdev): void {
    const frames = Math.max(
      64,
      Math.min(AUTO_RING_FRAMES, Math.floor(AUTO_RING_BYTES / nd.ringFrameSize())),
    );
    if (p.offloaded) {
      this.fast?.releasePort(p.port);
      p.offloaded = false;
    }
    nd.onReadable(undefined);
    try {
      if (nd.enableRing(frames)) {
        log.info(
          { port: p.port, netdev: nd.name, frames },
          'busy port: receiving through an rx ring',
        );
        // Only what the socket queued before the ring (a finite amount): frames that keep
        // coming into the ring are the next reader's, or this loop might never end.
        const b = this.rxBatch;
        while (nd.queuedBeforeRing) {
          const n = nd.recvBatch(b, MAX_BURST);
          if (n === 0) break;
          this.input(p.port, b);
        }
      }
    } catch (e) {
      log.warn({ port: p.port, err: (e as Error).message }, 'no rx ring for a busy port');
    }
    if (this.running && !this.closed) this.readPort(p);
  }

  /** Stops what {@link DpifNetdev.start} started. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.stopWorker();
    for (const p of this.portList) p.netdev.onReadable(undefined);
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  // ---- The worker fast path (datapath/dp-worker.ts) ----

  /**
   * Hands `p` to the worker if it takes it (starting the worker for the first AF_PACKET port;
   * a running worker takes TAP ports too), else reads it on this thread.
   */
  private readPort(p: Port): void {
    if (
      this.useWorker &&
      this.fast === undefined &&
      !this.workerFailed &&
      DpWorker.wantsWorker(p.netdev)
    )
      this.startWorker();
    p.offloaded = this.fast?.adoptPort(p.port, p.netdev) ?? false;
    if (!p.offloaded) p.netdev.onReadable(() => this.schedulePoll());
  }

  private startWorker(): void {
    const w = DpWorker.start(
      {
        inject: (port, batch) => {
          if (this.portMap.has(port) && !this.closed) this.input(port, batch);
        },
        now: () => this.clock.now(),
        addCounters: (emc, mf, invalid, lost) => {
          this.nEmcHits += emc;
          this.nMfHits += mf;
          this.nRxInvalid += invalid;
          this.nLost += lost;
        },
        portsReturned: (ports) => {
          if (this.fast?.alive === false) this.fast = undefined;
          for (const n of ports) {
            const p = this.portMap.get(n);
            if (p === undefined || !p.offloaded) continue;
            p.offloaded = false;
            if (this.running) p.netdev.onReadable(() => this.schedulePoll());
          }
          log.warn({ ports }, 'datapath worker returned ports; reading them on the main thread');
        },
        workerReady: () => {
          if (!this.running) return;
          for (const p of this.portList) {
            if (p.offloaded || !DpWorker.canAdopt(p.netdev)) continue;
            p.netdev.onReadable(undefined);
            this.readPort(p);
          }
        },
      },
      {
        emcEntries: this.emc === undefined ? 0 : 8192,
        emcInsertInvProb: this.cfg.emcInsertInvProb,
        busyPollUs: this.workerBusyPollUs,
      },
    );
    if (w === undefined) {
      // No addon or no threads here: do not try again for every port.
      this.workerFailed = true;
      return;
    }
    this.fast = w;
    for (const f of this.flowSet) w.flowPut(f);
  }

  private stopWorker(): void {
    const w = this.fast;
    if (w === undefined) return;
    this.fast = undefined;
    w.close();
    for (const p of this.portList) p.offloaded = false;
  }

  /**
   * Turns the worker fast path on or off (the `worker` option, e.g. from an other_config knob).
   * While running, the ports move between the worker and this thread at once.
   */
  setWorkerEnabled(on: boolean): void {
    this.checkOpen();
    if (on === this.useWorker) return;
    this.useWorker = on;
    if (!this.running) return;
    if (on) {
      this.workerFailed = false;
      for (const p of this.portList) {
        p.netdev.onReadable(undefined);
        this.readPort(p);
      }
    } else {
      this.stopWorker();
      for (const p of this.portList) this.readPort(p);
      this.schedulePoll();
    }
  }

  /**
   * Sets the worker's busy-poll window (µs, 0–1,000,000; 0: off): for this long after the last
   * frame the worker polls its ports without sleeping (see DpWorker.setBusyPollUs). It costs
   * the CPU of one core while frames keep coming less than the window apart, and nothing when
   * the switch is idle.
   */
  setWorkerBusyPollUs(us: number): void {
    this.workerBusyPollUs = Math.max(0, Math.min(1_000_000, Math.round(us)));
    this.fast?.setBusyPollUs(this.workerBusyPollUs);
  }

  /** The worker's busy-poll window in µs (see {@link setWorkerBusyPollUs}). */
  get workerBusyPoll(): number {
    return this.workerBusyPollUs;
  }

  /** Whether the worker fast path is wanted (see {@link setWorkerEnabled}). */
  get workerEnabled(): boolean {
    return this.useWorker;
  }

  /** Brings flow and port statistics kept by the worker up to date (no-op without one). */
  sync(): void {
    this.fast?.sync();
  }

  /** The worker thread running the fast path, if any (introspection and tests). */
  get worker(): DpWorker | undefined {
    return this.fast;
  }

  private schedulePoll(): void {
    if (this.pollScheduled || !this.running) return;
    this.pollScheduled = true;
    setImmediate(() => {
      this.pollScheduled = false;
      if (!this.running || this.closed) return;
      // Keep going while frames keep coming, yielding to the event loop between rounds.
      if (this.poll(MAX_BURST * 4) > 0) this.schedulePoll();
    });
  }

  // ---- Flows ----

  private removeFlow(f: DpFlow): void {
    if (f.dead) return;
    f.dead = true;
    this.dpcls.remove(f);
    this.flowSet.delete(f);
    this.fast?.flowDel(f);
  }

  private info(f: DpFlow): DpFlowInfo {
    return {
      id: f.id,
      key: f.key,
      mask: f.mask,
      actions: f.actions,
      created: f.created,
      packets: f.packets,
      bytes: f.bytes,
      used: f.used,
      tcpFlags: f.tcpFlags,
    };
  }

  flows(): DpFlowInfo[] {
    this.fast?.sync();
    return [...this.flowSet].map((f) => this.info(f));
  }

  flushAll(): void {
    // Nothing cached (every flow-mod of a bulk load flushes): the caches and the worker's
    // mirror hold no live flow, so there is nothing to do. (Clearing the exact-match cache
    // alone costs ~10 µs.)
    if (this.flowSet.size === 0) return;
    for (const f of this.flowSet) f.dead = true;
    this.flowSet.clear();
    this.dpcls.clear();
    this.emc?.clear();
    this.fast?.flowFlush();
  }

  revalidate(check: (flow: DpFlowInfo) => RevalidateVerdict): RevalidateSummary {
    const sum: RevalidateSummary = { kept: 0, updated: 0, deleted: 0 };
    for (const f of [...this.flowSet]) {
      let v: RevalidateVerdict;
      try {
        v = check(this.info(f));
      } catch {
        v = 'delete';
      }
      if (v === 'keep') {
        sum.kept++;
      } else if (v === 'delete') {
        this.removeFlow(f);
        sum.deleted++;
      } else {
        validateActions(v.actions);
        if (v.mask === undefined || keyEquals(withFixed(v.mask), f.mask)) {
          f.actions = v.actions;
          f.lastMod = lastModifying(v.actions);
          this.fast?.flowPut(f);
        } else {
          this.removeFlow(f);
          const nf = new DpFlow(this.nextFlowId++, f.key, withFixed(v.mask), v.actions, f.created);
          nf.lastMod = lastModifying(v.actions);
          nf.packets = f.packets;
          nf.bytes = f.bytes;
          nf.used = f.used;
          nf.tcpFlags = f.tcpFlags;
          if (this.dpcls.findExact(nf.key, nf.mask) === undefined) {
            this.dpcls.insert(nf);
            this.flowSet.add(nf);
            this.fast?.flowPut(nf);
          }
        }
        sum.updated++;
      }
    }
    return sum;
  }

  expire(): number {
    const now = this.clock.now();
    const idle = this.cfg.maxIdleMs;
    let n = 0;
    for (const f of [...this.flowSet]) {
      const last = f.used >= 0 ? f.used : f.created;
      if (now - last >= idle) {
        this.removeFlow(f);
        n++;
      }
    }
    return n;
  }

  /** Removes the flow with this id; returns false if there is none. */
  deleteFlow(id: number): boolean {
    for (const f of this.flowSet) {
      if (f.id === id) {
        this.removeFlow(f);
        return true;
      }
    }
    return false;
  }

  stats(): DpStats {
    return {
      emcHits: this.nEmcHits,
      megaflowHits: this.nMfHits,
      misses: this.nMisses,
      lost: this.nLost,
      upcalls: this.nUpcalls,
      flows: this.flowSet.size,
      masks: this.dpcls.subtableCount,
      rxInvalid: this.nRxInvalid,
      overLimit: this.nOverLimit,
      txInvalidPort: this.nInvalidPort,
      recircLoops: this.nRecircLoops,
      portErrors: this.nPortErrors,
    };
  }

  // ---- Meters ----

  meterSet(id: number, config: DpMeterConfig): void {
    this.checkOpen();
    this.meterTable.set(id, config, this.clock.now());
  }

  meterDel(id: number): DpMeterStats | undefined {
    return this.meterTable.delete(id);
  }

  meterStats(id: number): DpMeterStats | undefined {
    return this.meterTable.stats(id);
  }

  meterRun(id: number, bytes: number): number {
    this.now = this.clock.now();
    return this.runMeterBytes(id, bytes);
  }

  /** Packets dropped by meter bands since creation. */
  get meterDrops(): number {
    return this.nMeterDrops;
  }

  private runMeterBytes(id: number, bytes: number): number {
    const v = this.meterTable.run(id, bytes, this.now);
    if (v === METER_DROP) {
      this.nMeterDrops++;
      cMeterDrop.total++;
    }
    return v;
  }

  /** The datapath clock's current time in ms (what flow `used` times are relative to). */
  clockNow(): number {
    return this.clock.now();
  }

  /** Most flows installed at once since creation (upcall/show's max). */
  get maxFlows(): number {
    return this.maxFlowsSeen;
  }

  /** Packets sitting in the pool's free list (equals packetsAllocated when nothing is in flight). */
  get packetsFree(): number {
    return this.pool.available;
  }

  /** Packets allocated by the pool so far (for allocation checks in tests and benches). */
  get packetsAllocated(): number {
    return this.pool.created;
  }

  close(): void {
    if (this.closed) return;
    this.stop();
    for (const p of this.portList) p.netdev.onReadable(undefined);
    this.portMap.clear();
    this.portList = [];
    this.flushAll();
    this.meterTable.clear();
    this.closed = true;
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`datapath ${this.name} is closed`);
  }
}

function withFixed(mask: FlowKey): FlowKey {
  const m = new Uint32Array(FLOW_KEY_WORDS);
  m.set(mask);
  m[W.IN_PORT] = 0xffffffff;
  m[W.RECIRC_ID] = 0xffffffff;
  return m;
}

/**
 * A copy of `key` as the first half of a buffer of two keys; {@link pairOf} gives the second
 * half (one allocation for a flow's key and masked key).
 */
function keyPair(key: FlowKey): FlowKey {
  const b = new Uint32Array(2 * FLOW_KEY_WORDS);
  b.set(key);
  return b.subarray(0, FLOW_KEY_WORDS);
}

/** The second half of a {@link keyPair} buffer, or undefined for any other key. */
function pairOf(key: FlowKey): FlowKey | undefined {
  if (key.byteOffset !== 0 || key.buffer.byteLength !== 8 * FLOW_KEY_WORDS) return undefined;
  return new Uint32Array(key.buffer, 4 * FLOW_KEY_WORDS, FLOW_KEY_WORDS);
}

/**
 * The datapath worker thread, main-thread side: a fast-path mirror of {@link DpifNetdev}'s
 * megaflow cache running in one `worker_thread` (datapath/dp-worker-thread.ts) that owns the
 * receive side of every AF_PACKET port the datapath hands it (recvmmsg, or the port's rx ring
 * mapped a second time in the worker) and of every TAP port (internal ports, the bridge's
 * LOCAL port among them: read(2) of the device's descriptor, several frames per call). The
 * main thread keeps each device open and owns its configuration (MTU, up, MAC) and counters;
 * the worker adopts the descriptor and adds its counters back as deltas.
 *
 * The main-thread datapath stays the authority: it keeps every flow, runs upcalls, expiry and
 * revalidation, and mirrors each install/change/removal/flush here ({@link DpWorker.flowPut},
 * {@link DpWorker.flowDel}, {@link DpWorker.flowFlush}: one message each, then the worker's
 * eventfd is signalled). The worker forwards hits whose actions it can run by itself (outputs
 * to ports it owns, header changes, clone, hash); every other frame (a miss, a flow that
 * outputs to a port it does not own, userspace or recirculation) comes back unchanged as a
 * {@link WorkerMissMsg} and the host runs it through the normal path as if just received.
 *
 * Statistics: the worker reports flow deltas (packets, bytes, age of the last hit, TCP flags),
 * lookup counters and port counter deltas at most every {@link STATS_INTERVAL_MS} while they
 * change; {@link DpWorker.sync} asks for them now and applies them before returning.
 *
 * Synchronous requests (port release, sync, stop) wait on a shared word the worker bumps with
 * `Atomics.notify`, so the main thread knows the worker no longer uses a socket before closing
 * it. If the worker dies (or cannot adopt a port), {@link DpWorkerHost.portsReturned} gives the
 * ports back to the host.
 */
import {
  MessageChannel,
  Worker,
  receiveMessageOnPort,
  type MessagePort,
} from 'node:worker_threads';
import { counter } from '../lib/counters.js';
import { getLogger } from '../lib/log.js';
import { FLOW_KEY_WORDS, type FlowKey } from '../lib/packet/flow-key.js';
import type { DpAction } from './actions.js';
import type { DpFlow } from './dpcls.js';
import type { NativeAddon } from './native.js';
import { loadNative } from './native.js';
import { AfPacketNetdev, type RingGeometry, type TxRingHandover } from './netdev-afpacket.js';
import { TapNetdev } from './netdev-tap.js';
import type { FrameBatch, Netdev, NetdevStats } from './netdev.js';

const log = getLogger('dp_worker');

/** How often the worker reports changed statistics, in ms. */
export const STATS_INTERVAL_MS = 100;
/** Most ports one worker polls. */
export const MAX_WORKER_PORTS = 1000;
/** How long a synchronous request waits for the worker before giving up, in ms. */
export const SYNC_TIMEOUT_MS = 2000;
/**
 * Most bytes of frames handed back to the main thread and not yet run there: as much as the
 * socket receive buffer an AF_PACKET port gets (4 MiB), so the worker holds no more for the
 * main thread than the kernel would. Past it the worker drops misses and counts them as lost
 * (dpctl/show `lost:`), as OVS counts upcalls it cannot queue; without a bound, a flood of new
 * flows would only grow the queue (and the delay of every frame in it) while main falls behind.
 */
export const MAX_HANDBACK_BACKLOG = 4 << 20;
/** Words per flow in a `puts` message: key, mask, and room for the masked key. */
export const PUT_WORDS = 3 * FLOW_KEY_WORDS;
/** Words per flow record in {@link WorkerStatsMsg.flows}. */
export const FLOW_STAT_WORDS = 5;
/** Words per port record in {@link WorkerStatsMsg.ports}: port, then 8 {@link NetdevStats} deltas. */
export const PORT_STAT_WORDS = 9;
/** Order of the counters in a port record after the port number. */
export const PORT_STAT_FIELDS = [
  'rxPackets',
  'rxBytes',
  'rxDropped',
  'rxErrors',
  'txPackets',
  'txBytes',
  'txDropped',
  'txErrors',
] as const satisfies readonly (keyof NetdevStats)[];

/** Data the worker thread starts with. */
export interface WorkerInit {
  /** Control messages from main ({@link ToWorker}). */
  readonly control: MessagePort;
  /** Messages to main ({@link FromWorker}). */
  readonly events: MessagePort;
  /** The eventfd main signals after posting control messages. */
  readonly wakeFd: number;
  /**
   * Word 0: the sequence number of the last synchronous request the worker finished. Word 1:
   * bytes of handed-back frames the main thread has run (wrapping; see
   * {@link MAX_HANDBACK_BACKLOG}). Word 2: the busy-poll window in µs
   * ({@link DpWorker.setBusyPollUs}), read by the worker on every turn of its loop.
   */
  readonly ack: SharedArrayBuffer;
  /** EMC entries (0: none). */
  readonly emcEntries: number;
  /** EMC insertion inverse probability (as DpConfig.emcInsertInvProb). */
  readonly emcInsertInvProb: number;
}

/** The device of a `port-add` message: what kind it is and how the worker adopts it. */
export type WorkerPortDev =
  | {
      /** An AF_PACKET socket (datapath/netdev-afpacket.ts). */
      readonly kind: 'afpacket';
      readonly name: string;
      readonly fd: number;
      readonly rxBatch: number;
      readonly csum: boolean;
      /**
       * The owner's rx ring, mapped and read by the worker from `position`, the frame the owner
       * would have read next (absent: recvmmsg).
       */
      readonly ring?: RingGeometry & { readonly position: number };
      /** A transmit-only socket with a tx ring, made for this worker (absent: sendmmsg). */
      readonly tx?: TxRingHandover;
    }
  | {
      /** A TAP device (datapath/netdev-tap.ts): its /dev/net/tun descriptor. */
      readonly kind: 'tap';
      readonly name: string;
      readonly fd: number;
      /** The namespace file the device lives in ('' for the process's own). */
      readonly netns: string;
    };

/** A netdev whose I/O a worker can take over: the kinds {@link WorkerPortDev} describes. */
export type AdoptableNetdev = AfPacketNetdev | TapNetdev;

/** Control messages, main → worker. */
export type ToWorker =
  | {
      /** Take over receive (and send) on an adopted descriptor. */
      readonly t: 'port-add';
      readonly port: number;
      readonly dev: WorkerPortDev;
    }
  | {
      /** Stop using the port's descriptor; acknowledged with `seq`. */
      readonly t: 'port-del';
      readonly port: number;
      readonly seq: number;
    }
  | {
      /** Install or replace the flow with this id. */
      readonly t: 'put';
      readonly id: number;
      readonly key: FlowKey;
      readonly mask: FlowKey;
      readonly actions: readonly DpAction[];
    }
  | {
      /**
       * Install or replace several flows (what {@link DpWorker} sends for a run of puts): flow i
       * has id `ids[i]`, key `km[i * PUT_WORDS, + FLOW_KEY_WORDS)` and mask the next
       * FLOW_KEY_WORDS words (the rest of its PUT_WORDS is storage for its masked key), actions
       * `actions[i]`. One buffer for the whole run, not two typed arrays per flow.
       */
      readonly t: 'puts';
      readonly ids: Float64Array<ArrayBuffer>;
      readonly km: Uint32Array<ArrayBuffer>;
      readonly actions: readonly (readonly DpAction[])[];
    }
  | {
      /** Remove the flow with this id. */
      readonly t: 'del';
      readonly id: number;
    }
  | {
      /** Remove every flow. */
      readonly t: 'flush';
    }
  | {
      /** Report statistics now; acknowledged with `seq` after the report is posted. */
      readonly t: 'sync';
      readonly seq: number;
    }
  | {
      /** Set the EMC insertion inverse probability. */
      readonly t: 'config';
      readonly emcInsertInvProb: number;
    }
  | {
      /** Flush outputs, report statistics and exit the loop; acknowledged with `seq`. */
      readonly t: 'stop';
      readonly seq: number;
    }
  | {
      /** Several control messages in order (what one turn of the main thread posted). */
      readonly t: 'batch';
      readonly msgs: readonly ToWorker[];
    };

/** Frames the worker hands back to the normal path (received on `port`, unchanged). */
export interface WorkerMissMsg {
  readonly t: 'miss';
  readonly port: number;
  /** Frame i is `buf[offs[i], offs[i] + lens[i])`. */
  readonly buf: ArrayBuffer;
  readonly offs: Int32Array;
  readonly lens: Int32Array;
  readonly count: number;
}

/** Statistics deltas since the worker's previous report. */
export interface WorkerStatsMsg {
  readonly t: 'stats';
  /** {@link FLOW_STAT_WORDS} per flow: id, packets, bytes, ms since the last hit, TCP flags. */
  readonly flows: Float64Array;
  /** {@link PORT_STAT_WORDS} per port (see {@link PORT_STAT_FIELDS}). */
  readonly ports: Float64Array;
  /** Lookup counters: EMC hits, megaflow hits, frames too short, frames handed back. */
  readonly emcHits: number;
  readonly megaflowHits: number;
  readonly rxInvalid: number;
  readonly handedBack: number;
  /** Misses dropped because the main thread was {@link MAX_HANDBACK_BACKLOG} bytes behind. */
  readonly lost: number;
  /**
   * Coverage counters (lib/counters.ts) bumped in the worker since its previous report, as
   * `[name, module, help]` with the increments in {@link WorkerStatsMsg.counterDeltas}.
   */
  readonly counters: readonly (readonly [string, string, string])[];
  readonly counterDeltas: Float64Array;
}

/** Messages, worker → main. */
export type FromWorker =
  | WorkerMissMsg
  | WorkerStatsMsg
  | {
      /** The worker could not adopt the port: the main thread must read it. */
      readonly t: 'port-refused';
      readonly port: number;
    }
  | {
      /** The worker's loop runs: it can take ports now. */
      readonly t: 'ready';
    }
  | {
      /**
       * The worker lets go of a port with an rx ring (port-del, stop): the frame it would have
       * read next, where the owner goes on reading (sent before the acknowledgement).
       */
      readonly t: 'ring-position';
      readonly port: number;
      readonly position: number;
    }
  | {
      /** Something to log on the main thread. */
      readonly t: 'log';
      readonly level: 'info' | 'warn' | 'error';
      readonly msg: string;
      readonly port?: number;
    };

/** What a {@link DpWorker} needs from the datapath it mirrors. */
export interface DpWorkerHost {
  /** Runs frames the worker handed back through the normal path, as if received on `port`. */
  inject(port: number, batch: FrameBatch): void;
  /** The datapath clock's current time in ms (what flow `used` times are on). */
  now(): number;
  /** Adds worker lookup counters to the datapath's (`lost`: misses dropped, see above). */
  addCounters(emcHits: number, megaflowHits: number, rxInvalid: number, lost: number): void;
  /**
   * The worker no longer reads these ports (it died, see {@link DpWorker.alive}, or could not
   * adopt them): the datapath must read them itself again.
   */
  portsReturned(ports: readonly number[]): void;
  /**
   * The worker thread is running and takes ports from now on ({@link DpWorker.adoptPort}
   * refuses them before, so the datapath keeps reading them meanwhile): offer them again.
   */
  workerReady(): void;
}

/** Options of {@link DpWorker.start}. */
export interface DpWorkerOptions {
  /** EMC entries in the worker (default 8192). */
  emcEntries?: number;
  /** The busy-poll window at start, in µs (see {@link DpWorker.setBusyPollUs}; default 0). */
  busyPollUs?: number;
  /** EMC insertion inverse probability (default 1). */
  emcInsertInvProb?: number;
}

/** `msgs` with every run of two or more `put` messages replaced by one `puts` message. */
export function packPuts(msgs: readonly ToWorker[]): ToWorker[] {
  const out: ToWorker[] = [];
  let i = 0;
  while (i < msgs.length) {
    let j = i;
    while (j < msgs.length && msgs[j]!.t === 'put') j++;
    if (j - i < 2) {
      out.push(msgs[i]!);
      i++;
      continue;
    }
    const n = j - i;
    const ids = new Float64Array(n);
    const km = new Uint32Array(n * PUT_WORDS);
    const actions: (readonly DpAction[])[] = new Array<readonly DpAction[]>(n);
    for (let k = 0; k < n; k++) {
      const m = msgs[i + k] as Extract<ToWorker, { t: 'put' }>;
      ids[k] = m.id;
      km.set(m.key.subarray(0, FLOW_KEY_WORDS), k * PUT_WORDS);
      km.set(m.mask.subarray(0, FLOW_KEY_WORDS), k * PUT_WORDS + FLOW_KEY_WORDS);
      actions[k] = m.actions;
    }
    out.push({ t: 'puts', ids, km, actions });
    i = j;
  }
  return out;
}

/** The `port-add` description of `netdev`, or undefined when it is closed. */
function workerPortDev(netdev: AdoptableNetdev): WorkerPortDev | undefined {
  if (netdev instanceof TapNetdev) {
    const cfg = netdev.workerConfig();
    return cfg === undefined ? undefined : { kind: 'tap', ...cfg };
  }
  const cfg = netdev.workerConfig();
  if (cfg === undefined) return undefined;
  return {
    kind: 'afpacket',
    name: cfg.name,
    fd: cfg.fd,
    rxBatch: cfg.rxBatch,
    csum: cfg.completeChecksums,
    ...(cfg.ring === undefined ? {} : { ring: cfg.ring }),
    ...(cfg.tx === undefined ? {} : { tx: cfg.tx }),
  };
}

function workerUrl(): URL {
  // From dist/ the thread is a .js file; under a TypeScript loader (tests), the .ts source.
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./dp-worker-thread${ext}`, import.meta.url);
}

/** The main-thread handle of the datapath worker (see the module comment). */
export class DpWorker {
  private readonly native: NativeAddon;
  private readonly worker: Worker;
  private readonly control: MessagePort;
  private readonly events: MessagePort;
  private readonly wakeFd: number;
  private readonly ack: Int32Array;
  private seq = 0;
  private dead = false;
  /** Control messages queued by {@link post} for the end of this turn. */
  private pending: ToWorker[] = [];
  /** The worker's loop runs (it said `ready`). */
  private ready = false;
  private wakeClosed = false;
  private readonly ports = new Map<number, AdoptableNetdev>();
  /** Ring read positions the worker reported when it let go of a port ('ring-position'). */
  private readonly ringPositions = new Map<number, number>();
  private readonly flows = new Map<number, DpFlow>();

  private constructor(
    private readonly host: DpWorkerHost,
    opts: DpWorkerOptions,
  ) {
    this.native = loadNative();
    this.wakeFd = this.native.wakeFdCreate();
    const sab = new SharedArrayBuffer(12);
    this.ack = new Int32Array(sab);
    this.ack[2] = opts.busyPollUs ?? 0;
    const ctl = new MessageChannel();
    const ev = new MessageChannel();
    this.control = ctl.port1;
    this.events = ev.port1;
    const init: WorkerInit = {
      control: ctl.port2,
      events: ev.port2,
      wakeFd: this.wakeFd,
      ack: sab,
      emcEntries: opts.emcEntries ?? 8192,
      emcInsertInvProb: opts.emcInsertInvProb ?? 1,
    };
    this.worker = new Worker(workerUrl(), {
      workerData: init,
      transferList: [ctl.port2, ev.port2],
      name: 'tsvs-datapath',
    });
    this.events.on('message', (m: FromWorker) => this.onMessage(m));
    // Neither the thread nor its messages keep the process alive.
    this.worker.unref();
    this.events.unref();
    log.info({ threadId: this.worker.threadId }, 'datapath worker started');
    this.worker.on('error', (e) => {
      log.error({ err: e.message }, 'datapath worker failed');
      this.lost();
    });
    this.worker.on('exit', (code) => {
      if (!this.dead) log.error({ code }, 'datapath worker exited');
      this.lost();
    });
  }

  /**
   * Starts a worker for `host`, or returns undefined (logged) when it cannot run here (no
   * native addon).
   */
  static start(host: DpWorkerHost, opts: DpWorkerOptions = {}): DpWorker | undefined {
    try {
      return new DpWorker(host, opts);
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'datapath worker unavailable');
      return undefined;
    }
  }

  /**
   * Sets the busy-poll window: for this many µs after the last frame it received, the worker
   * polls its ports without sleeping (poll(2) with no timeout) before it blocks again, so a
   * frame that comes meanwhile costs no wake-up of a sleeping thread. 0 turns it off. Takes
   * effect on the worker's next turn.
   */
  setBusyPollUs(us: number): void {
    Atomics.store(this.ack, 2, Math.max(0, Math.min(1_000_000, Math.round(us))));
  }

  /** True when `netdev` is of a kind a worker can take receive over for (AF_PACKET, TAP). */
  static canAdopt(netdev: Netdev): netdev is AdoptableNetdev {
    return (netdev instanceof AfPacketNetdev || netdev instanceof TapNetdev) && !netdev.isClosed;
  }

  /**
   * True when `netdev` is a reason to start a worker (AF_PACKET): a datapath of TAP ports
   * alone (a bridge with internal ports only) has nothing to forward between devices fast
   * enough to be worth a thread; once one runs, it takes the TAP ports too.
   */
  static wantsWorker(netdev: Netdev): boolean {
    return netdev instanceof AfPacketNetdev && !netdev.isClosed;
  }

  /** False once the worker stopped or died. */
  get alive(): boolean {
    return !this.dead;
  }

  /** Datapath ports whose receive the worker owns. */
  ownedPorts(): number[] {
    return [...this.ports.keys()];
  }

  /**
   * Posts a control message. The worker's eventfd is signalled once per turn of this thread's
   * event loop (setImmediate), not per message: an upcall batch installs one flow per miss.
   * Synchronous requests signal at once ({@link postNow}).
   */
  private post(m: ToWorker): void {
    if (this.dead) return;
    this.pending.push(m);
    if (this.pending.length === 1) setImmediate(this.flushPending);
  }

  /**
   * Posts what {@link post} queued, as one message (runs of puts packed into `puts` messages),
   * and wakes the worker.
   */
  private readonly flushPending = (): void => {
    const n = this.pending.length;
    if (n === 0 || this.dead) {
      this.pending.length = 0;
      return;
    }
    const msgs = packPuts(this.pending);
    const transfer: ArrayBuffer[] = [];
    for (const m of msgs) if (m.t === 'puts') transfer.push(m.ids.buffer, m.km.buffer);
    this.control.postMessage(msgs.length === 1 ? msgs[0]! : { t: 'batch', msgs }, transfer);
    this.pending = [];
    if (!this.wakeClosed) this.native.wakeFdSignal(this.wakeFd);
  };

  /** Posts a control message after the queued ones and wakes the worker now. */
  private postNow(m: ToWorker): void {
    if (this.dead) return;
    this.pending.push(m);
    this.flushPending();
  }

  /** Waits until the worker acknowledged `seq`; false on timeout or death. */
  private waitAck(seq: number): boolean {
    const deadline = Date.now() + SYNC_TIMEOUT_MS;
    for (;;) {
      const cur = Atomics.load(this.ack, 0);
      if (cur >= seq) return true;
      if (this.dead) return false;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      Atomics.wait(this.ack, 0, cur, Math.min(left, 50));
    }
  }

  /**
   * Offers datapath port `port` to the worker. True when the worker took its receive over (an
   * AF_PACKET or TAP netdev, once the worker's loop runs: before that the caller keeps reading and is
   * told through {@link DpWorkerHost.workerReady}): the caller must stop reading it, and call
   * {@link releasePort} before closing it.
   */
  adoptPort(port: number, netdev: Netdev): boolean {
    if (this.dead || !this.ready || !DpWorker.canAdopt(netdev)) return false;
    if (this.ports.size >= MAX_WORKER_PORTS) return false;
    const dev = workerPortDev(netdev);
    if (dev === undefined || dev.fd < 0) return false;
    this.ports.set(port, netdev);
    this.post({ t: 'port-add', port, dev });
    log.info({ port, name: dev.name, kind: dev.kind }, 'datapath worker takes port');
    return true;
  }

  /**
   * Takes port `port` back: returns once the worker no longer uses its descriptor (or the
   * worker is gone; after {@link SYNC_TIMEOUT_MS} the worker is terminated, so the descriptor
   * may be closed in any case).
   */
  releasePort(port: number): void {
    if (!this.ports.has(port)) return;
    const seq = ++this.seq;
    this.postNow({ t: 'port-del', port, seq });
    if (!this.dead && !this.waitAck(seq)) {
      log.error({ port }, 'datapath worker did not release a port in time; stopping it');
      this.kill();
    }
    this.drain();
    // A reader that stayed behind (the caller keeps the socket) goes on where the worker was.
    const nd = this.ports.get(port);
    if (nd !== undefined) this.resume(port, nd);
    this.ports.delete(port);
  }

  /** Hands `nd`'s receive back to its owner at the worker's reported ring position, if any. */
  private resume(port: number, nd: AdoptableNetdev): void {
    const pos = this.ringPositions.get(port);
    this.ringPositions.delete(port);
    nd.resumeReceive(pos);
  }

  /** Mirrors an installed flow, or a flow whose actions changed. */
  flowPut(f: DpFlow): void {
    this.flows.set(f.id, f);
    this.post({ t: 'put', id: f.id, key: f.key, mask: f.mask, actions: f.actions });
  }

  /** Mirrors a flow's removal. */
  flowDel(f: DpFlow): void {
    if (!this.flows.delete(f.id)) return;
    this.post({ t: 'del', id: f.id });
  }

  /** Mirrors a flush of every flow (one message). */
  flowFlush(): void {
    this.flows.clear();
    this.post({ t: 'flush' });
  }

  /** Passes the EMC insertion inverse probability on. */
  setEmcInsertInvProb(v: number): void {
    this.post({ t: 'config', emcInsertInvProb: v });
  }

  /** Brings flow and port statistics up to date now (a round trip to the worker). */
  sync(): void {
    // Before its loop runs the worker owns no port and has counted nothing; waiting for it
    // would stall this thread while the worker's modules load.
    if (this.dead || !this.ready) return;
    const seq = ++this.seq;
    this.postNow({ t: 'sync', seq });
    this.waitAck(seq);
    this.drain();
  }

  /**
   * Handles whatever the worker posted, synchronously, except handed-back frames: those run on
   * the next turn of the event loop, so that a caller in the middle of its own work (the
   * revalidator dumping flows) does not see upcalls run under it.
   */
  private drain(): void {
    for (;;) {
      const r = receiveMessageOnPort(this.events);
      if (r === undefined) return;
      const m = r.message as FromWorker;
      if (m.t === 'miss') setImmediate(() => this.onMiss(m));
      else this.onMessage(m);
    }
  }

  private onMessage(m: FromWorker): void {
    switch (m.t) {
      case 'miss':
        this.onMiss(m);
        return;
      case 'stats':
        this.onStats(m);
        return;
      case 'port-refused': {
        const nd = this.ports.get(m.port);
        if (nd === undefined) return;
        this.ports.delete(m.port);
        nd.resumeReceive();
        this.host.portsReturned([m.port]);
        return;
      }
      case 'ready':
        this.ready = true;
        this.host.workerReady();
        return;
      case 'ring-position':
        this.ringPositions.set(m.port, m.position);
        return;
      case 'log': {
        const o = { port: m.port };
        if (m.level === 'error') log.error(o, m.msg);
        else if (m.level === 'warn') log.warn(o, m.msg);
        else log.info(o, m.msg);
        return;
      }
      default: {
        const never: never = m;
        throw new Error(`unknown worker message ${JSON.stringify(never)}`);
      }
    }
  }

  private onMiss(m: WorkerMissMsg): void {
    const u8 = new Uint8Array(m.buf);
    const bufs: Uint8Array[] = new Array<Uint8Array>(m.count).fill(u8);
    const batch: FrameBatch = { bufs, offs: m.offs, lens: m.lens, count: m.count };
    try {
      this.host.inject(m.port, batch);
    } catch (e) {
      log.warn({ port: m.port, err: (e as Error).message }, 'handed-back frames failed');
    }
    // Word 1 counts the bytes run here, so the worker knows how far behind this thread is.
    Atomics.add(this.ack, 1, m.buf.byteLength);
  }

  private onStats(m: WorkerStatsMsg): void {
    const now = this.host.now();
    const fl = m.flows;
    for (let i = 0; i + FLOW_STAT_WORDS <= fl.length; i += FLOW_STAT_WORDS) {
      const f = this.flows.get(fl[i]!);
      if (f === undefined || f.dead) continue;
      f.packets += fl[i + 1]!;
      f.bytes += fl[i + 2]!;
      const used = now - fl[i + 3]!;
      if (used > f.used) f.used = used;
      f.tcpFlags |= fl[i + 4]!;
    }
    const ps = m.ports;
    for (let i = 0; i + PORT_STAT_WORDS <= ps.length; i += PORT_STAT_WORDS) {
      const nd = this.ports.get(ps[i]!);
      if (nd === undefined || nd.isClosed) continue;
      const d: Partial<NetdevStats> = {};
      PORT_STAT_FIELDS.forEach((k, j) => (d[k] = ps[i + 1 + j]!));
      nd.addStats(d);
    }
    this.host.addCounters(m.emcHits, m.megaflowHits, m.rxInvalid, m.lost);
    const cs = m.counters;
    for (let i = 0; i < cs.length; i++) {
      const [name, module, help] = cs[i]!;
      counter(name, module, help).inc(m.counterDeltas[i]);
    }
  }

  private lost(): void {
    if (this.dead) return;
    this.dead = true;
    const ports = [...this.ports.keys()];
    for (const nd of this.ports.values()) nd.resumeReceive();
    this.ports.clear();
    this.closeWake();
    if (ports.length > 0) this.host.portsReturned(ports);
  }

  private closeWake(): void {
    if (this.wakeClosed) return;
    this.wakeClosed = true;
    // The worker may still be inside poll(2) on it when terminated; closing is still safe.
    this.native.wakeFdClose(this.wakeFd);
  }

  /**
   * Ends the thread abruptly, as a crash would (for tests and emergencies): once it has exited,
   * the host gets its ports back through {@link DpWorkerHost.portsReturned}.
   */
  async terminate(): Promise<void> {
    await this.worker.terminate();
  }

  private kill(): void {
    this.dead = true;
    void this.worker.terminate();
    this.closeWake();
  }

  /**
   * Stops the worker: it flushes its outputs and reports its statistics, which are applied
   * before this returns. The ports it owned are not handed back through workerLost: the caller
   * is stopping the fast path and takes them back itself.
   */
  close(): void {
    if (this.dead) return;
    if (!this.ready) {
      // Still starting: nothing to flush or report.
      this.dead = true;
      this.pending.length = 0;
      this.events.close();
      this.control.close();
      void this.worker.terminate();
      this.closeWake();
      return;
    }
    const seq = ++this.seq;
    this.postNow({ t: 'stop', seq });
    const ok = this.waitAck(seq);
    this.drain();
    this.dead = true;
    for (const [port, nd] of this.ports) this.resume(port, nd);
    this.ports.clear();
    this.events.close();
    this.control.close();
    if (!ok) log.warn('datapath worker did not stop in time; terminating it');
    void this.worker.terminate();
    this.closeWake();
  }
}

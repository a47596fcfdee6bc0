/**
 * The datapath worker thread (started by datapath/dp-worker.ts; see its module comment for the
 * protocol). One synchronous loop that never returns to the thread's event loop:
 *
 *   poll(2) over [wake eventfd, port descriptors…] (the addon's waitReadable, 100 ms timeout)
 *   → drain control messages (receiveMessageOnPort) → per readable port, receive batches:
 *   extract the key where the frame lies → EMC → megaflow subtables → a hit whose actions this
 *   thread can run is executed (a lone output copies the frame straight into the port's
 *   transmit batch; other actions work on a packet copy), outputs batched per port in one
 *   buffer and sent (a tx ring or sendmmsg on AF_PACKET, one write(2) per frame on TAP, one
 *   addon call per batch either way); everything else goes back to the main thread
 *   unchanged, one transferred buffer per received batch
 *   → statistics deltas to main every {@link STATS_INTERVAL_MS} while they change.
 *
 * The descriptors (AF_PACKET sockets, TAP devices) are the main thread's, adopted (never closed
 * here); a port with an rx ring has the same ring mapped here, read from the frame the main
 * thread would have read next (this thread reports its own position when it lets go); a port
 * with a tx ring comes with a transmit-only socket of its own; a TAP port is read with read(2),
 * several frames per addon call. Counters of lib/counters.ts incremented here are reported to
 * main with the statistics.
 */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { allCounters, counter, type Counter } from '../lib/counters.js';
import { FLOW_KEY_WORDS, W } from '../lib/packet/flow-key.js';
import type { DpAction } from './actions.js';
import type { AdoptableNetdev, FromWorker, ToWorker, WorkerInit } from './dp-worker.js';
import {
  FLOW_STAT_WORDS,
  MAX_HANDBACK_BACKLOG,
  PORT_STAT_FIELDS,
  PORT_STAT_WORDS,
  PUT_WORDS,
  STATS_INTERVAL_MS,
} from './dp-worker.js';
import { DpFlow, Dpcls, Emc, emcHash } from './dpcls.js';
import type { ExecContext } from './execute.js';
import { executeActions, lastModifying } from './execute.js';
import { loadNative } from './native.js';
import { AfPacketNetdev } from './netdev-afpacket.js';
import { TapNetdev } from './netdev-tap.js';
import type { FrameBatch, NetdevStats } from './netdev.js';
import { MAX_BURST, newFrameBatch, newNetdevStats } from './netdev.js';
import type { DpPacket } from './packet.js';
import { PacketPool } from './packet.js';
import { copyBytes } from './netdev-dummy.js';
import { extractFlowKey } from '../lib/packet/extract.js';

/** A mirrored flow with what this thread needs on top. */
class WFlow extends DpFlow {
  /** True when every action can run here (see {@link runnable}). */
  ok = false;
  /**
   * The port of a flow whose only action is one output to a port of this thread: its frames
   * are copied from the receive buffer straight into that port's transmit batch.
   */
  fast: WPort | undefined = undefined;
  /** True while in the list of flows with unreported statistics. */
  dirty = false;
}

interface WPort {
  readonly port: number;
  readonly netdev: AdoptableNetdev;
  /** A TAP device (counted in the dpif_worker_tap_* counters). */
  readonly tap: boolean;
  alive: boolean;
  /**
   * The transmit batch: frames are copied in back to back as they are queued, so one buffer
   * holds the whole batch (the addon sends it without looking at a buffer per frame).
   */
  txBuf: Uint8Array;
  /** Bytes of {@link txBuf} in use. */
  txUsed: number;
  outCount: number;
  readonly outBatch: FrameBatch;
  dirty: boolean;
  /** Counters at the last report. */
  reported: NetdevStats;
  /** performance.now() of the last receive error logged (at most one a second). */
  lastErrorLog: number;
}

const init = workerData as WorkerInit;
const native = loadNative();
const control = init.control;
const events = init.events;
const ack = new Int32Array(init.ack);

const ports = new Map<number, WPort>();
let portList: WPort[] = [];
const flows = new Map<number, WFlow>();
const dpcls = new Dpcls();
const emc = init.emcEntries > 0 ? new Emc(init.emcEntries) : undefined;
let emcInsertInvProb = init.emcInsertInvProb;
let emcCounter = 0;
const pool = new PacketPool(256);
const rxBatch = newFrameBatch(MAX_BURST);
const dirtyPorts: WPort[] = [];
let nDirtyPorts = 0;
const dirtyFlows: WFlow[] = [];
let now = performance.now();
let running = true;

// Counters since the last report.
let nEmcHits = 0;
let nMfHits = 0;
let nRxInvalid = 0;
let nHandedBack = 0;
let nLost = 0;
/** Bytes of frames handed back in all (wrapping like the main thread's count in `ack` word 1). */
let handedTotal = 0;

// Frames handed back from the current batch: copied into `missBuf`, sent at the batch's end.
let missBuf = new Uint8Array(64 * 1024);
let missUsed = 0;
const missOffs = new Int32Array(MAX_BURST);
const missLens = new Int32Array(MAX_BURST);
let missCount = 0;
/** Initial transmit batch buffer of a port: a batch of 1500-byte frames fits. */
const TX_BUF_BYTES = MAX_BURST * 1536;

function send(m: FromWorker, transfer?: ArrayBuffer[]): void {
  events.postMessage(m, transfer ?? []);
}

function logMain(level: 'info' | 'warn' | 'error', msg: string, port?: number): void {
  send(port === undefined ? { t: 'log', level, msg } : { t: 'log', level, msg, port });
}

/** True when this thread can run every action in `acts` (no main-thread help needed). */
function runnable(acts: readonly DpAction[]): boolean {
  for (const a of acts) {
    switch (a.type) {
      case 'output':
        if (!ports.has(a.port)) return false;
        break;
      case 'set':
      case 'push_vlan':
      case 'pop_vlan':
      case 'push_mpls':
      case 'pop_mpls':
      case 'hash':
        break;
      case 'clone':
        if (!runnable(a.actions)) return false;
        break;
      case 'dec_ttl':
        if (!runnable(a.le1)) return false;
        break;
      case 'userspace':
      case 'recirc':
        return false;
      default:
        // An action kind this thread does not know (added later): leave it to main.
        return false;
    }
  }
  return true;
}

/** Sets `f`'s actions and what follows from them (see {@link WFlow}). */
function setActions(f: WFlow, actions: readonly DpAction[]): void {
  f.actions = actions;
  f.lastMod = lastModifying(actions);
  f.ok = runnable(actions);
  const a = actions.length === 1 ? actions[0]! : undefined;
  f.fast = a !== undefined && a.type === 'output' ? ports.get(a.port) : undefined;
}

function recomputeRunnable(): void {
  for (const f of flows.values()) setActions(f, f.actions);
}

const ctx: ExecContext = {
  output: (portNo, pkt) => enqueue(portNo, pkt),
  // Never reached: flows with these actions are not run here (runnable() is false).
  userspace: () => undefined,
  recirc: () => undefined,
  clone: (pkt) => pool.clone(pkt),
  release: (pkt) => pool.release(pkt),
};

/** Queues packet `p` (one reference, which this takes) for transmission on `portNo`. */
function enqueue(portNo: number, p: DpPacket): void {
  const port = ports.get(portNo);
  if (port !== undefined) enqueueBytes(port, p.buf, p.start, p.len);
  pool.release(p);
}

/** Copies the frame `buf[off, off + len)` into `port`'s transmit batch. */
function enqueueBytes(port: WPort, buf: Uint8Array, off: number, len: number): void {
  if (port.txUsed + len > port.txBuf.length) {
    flushPort(port);
    if (len > port.txBuf.length) port.txBuf = new Uint8Array(Math.max(len, TX_BUF_BYTES));
  }
  const b = port.outBatch;
  const i = port.outCount++;
  copyBytes(buf, off, port.txBuf, port.txUsed, len);
  b.bufs[i] = port.txBuf;
  b.offs[i] = port.txUsed;
  b.lens[i] = len;
  port.txUsed += len;
  if (!port.dirty) {
    port.dirty = true;
    dirtyPorts[nDirtyPorts++] = port;
  }
  if (port.outCount >= MAX_BURST) flushPort(port);
}

function flushPort(port: WPort): void {
  const n = port.outCount;
  if (n === 0) return;
  port.outCount = 0;
  port.txUsed = 0;
  const b = port.outBatch;
  b.count = n;
  if (port.alive) {
    try {
      const sent = port.netdev.sendBatch(b);
      if (port.tap && sent > 0) cTapTx.inc(sent);
    } catch (e) {
      logMain('warn', `send failed: ${(e as Error).message}`, port.port);
    }
  }
}

function flushOutputs(): void {
  for (let i = 0; i < nDirtyPorts; i++) {
    const port = dirtyPorts[i]!;
    port.dirty = false;
    flushPort(port);
  }
  nDirtyPorts = 0;
}

function handBack(buf: Uint8Array, off: number, len: number): void {
  if (missUsed + len > missBuf.length) {
    const nb = new Uint8Array(Math.max(missBuf.length * 2, missUsed + len));
    nb.set(missBuf.subarray(0, missUsed));
    missBuf = nb;
  }
  missBuf.set(buf.subarray(off, off + len), missUsed);
  missOffs[missCount] = missUsed;
  missLens[missCount] = len;
  missCount++;
  missUsed += len;
  nHandedBack++;
}

function sendMisses(portNo: number): void {
  if (missCount === 0) return;
  handedTotal = (handedTotal + missUsed) | 0;
  const ab = missBuf.buffer.slice(0, missUsed);
  send(
    {
      t: 'miss',
      port: portNo,
      buf: ab,
      offs: missOffs.slice(0, missCount),
      lens: missLens.slice(0, missCount),
      count: missCount,
    },
    [ab],
  );
  missCount = 0;
  missUsed = 0;
}

/** Where frames are parsed in place, before (and mostly instead of) a packet copy. */
const scratch = pool.get();

function processBatch(port: WPort, b: FrameBatch): void {
  const portNo = port.port;
  const key = scratch.key;
  const layers = scratch.layers;
  const meta = scratch.meta;
  for (let i = 0; i < b.count; i++) {
    const buf = b.bufs[i]!;
    const off = b.offs[i]!;
    const len = b.lens[i]!;
    if (len < 14) {
      nRxInvalid++;
      continue;
    }
    extractFlowKey(buf, off, len, portNo, key, meta, layers);
    let flow: WFlow | undefined;
    let h = 0;
    if (emc !== undefined) {
      h = emcHash(key);
      flow = emc.lookup(key, h) as WFlow | undefined;
    }
    let viaEmc = flow !== undefined;
    if (flow === undefined) {
      flow = dpcls.lookup(key) as WFlow | undefined;
      viaEmc = false;
    }
    if (flow === undefined || !flow.ok) {
      // The main thread is MAX_HANDBACK_BACKLOG bytes behind: drop, as a full upcall queue.
      if (((handedTotal + missUsed + len - Atomics.load(ack, 1)) | 0) > MAX_HANDBACK_BACKLOG) {
        nLost++;
        continue;
      }
      handBack(buf, off, len);
      continue;
    }
    if (viaEmc) {
      nEmcHits++;
    } else {
      nMfHits++;
      if (emc !== undefined && emcInsertInvProb > 0 && ++emcCounter >= emcInsertInvProb) {
        emcCounter = 0;
        emc.insert(key, h, flow);
      }
    }
    flow.packets++;
    flow.bytes += len;
    flow.used = now;
    flow.tcpFlags |= key[W.TCP_FLAGS]! & 0xfff;
    if (!flow.dirty) {
      flow.dirty = true;
      dirtyFlows.push(flow);
    }
    const fast = flow.fast;
    if (fast !== undefined) {
      enqueueBytes(fast, buf, off, len);
      continue;
    }
    const p = pool.get();
    p.inPort = portNo;
    p.loadParsed(buf, off, len, key, layers);
    executeActions(ctx, p, flow.actions, flow.lastMod);
    pool.release(p);
  }
  sendMisses(portNo);
}

function receive(port: WPort): void {
  let left = MAX_BURST * 4;
  while (left > 0 && port.alive) {
    let n: number;
    try {
      n = port.netdev.recvBatch(rxBatch, Math.min(left, MAX_BURST));
    } catch (e) {
      const t = performance.now();
      if (t - port.lastErrorLog >= 1000) {
        port.lastErrorLog = t;
        logMain('warn', `receive failed: ${(e as Error).message}`, port.port);
      }
      return;
    }
    if (n === 0) {
      // Readable with nothing in the ring: a pending socket error (the link went down), which
      // would keep the poll readable; nothing else reads a ring socket, so consume it here.
      const nd = port.netdev;
      if (left === MAX_BURST * 4 && nd instanceof AfPacketNetdev && nd.usesRing)
        nd.consumeSocketError();
      return;
    }
    if (port.tap) cTapRx.inc(n);
    now = performance.now();
    processBatch(port, rxBatch);
    left -= n;
  }
}

// ---- Control ----

function removeFlow(f: WFlow): void {
  if (f.dead) return;
  f.dead = true;
  dpcls.remove(f);
  flows.delete(f.id);
}

/**
 * Installs or updates flow `id`. `owned`: `key` and `mask` are this thread's to keep, and
 * `masked` is storage for the masked key (views into one `puts` buffer); otherwise they are
 * copied.
 */
function putFlow(
  id: number,
  key: Uint32Array,
  mask: Uint32Array,
  actions: readonly DpAction[],
  masked?: Uint32Array,
): void {
  const old = flows.get(id);
  if (old !== undefined) {
    // Same id: the actions changed (the key and mask of an id never do).
    setActions(old, actions);
    return;
  }
  let k = key;
  let m = mask;
  if (masked === undefined) {
    k = new Uint32Array(FLOW_KEY_WORDS);
    k.set(key);
    m = new Uint32Array(FLOW_KEY_WORDS);
    m.set(mask);
  }
  const f = new WFlow(id, k, m, actions, now, masked);
  setActions(f, actions);
  const clash = dpcls.findExact(f.key, f.mask);
  if (clash !== undefined) removeFlow(clash as WFlow);
  dpcls.insert(f);
  flows.set(id, f);
}

/** A netdev of this thread's own on the descriptor `dev` describes. */
function adopt(dev: Extract<ToWorker, { t: 'port-add' }>['dev']): AdoptableNetdev {
  switch (dev.kind) {
    case 'afpacket':
      return new AfPacketNetdev(dev.name, {
        adoptFd: dev.fd,
        rxBatch: dev.rxBatch,
        completeChecksums: dev.csum,
        ...(dev.ring === undefined ? {} : { adoptRing: dev.ring }),
        ...(dev.tx === undefined ? {} : { adoptTx: dev.tx }),
      });
    case 'tap':
      return new TapNetdev(dev.name, dev.netns, undefined, { adoptFd: dev.fd });
    default: {
      const never: never = dev;
      throw new Error(`unknown port kind ${JSON.stringify(never)}`);
    }
  }
}

function addPort(m: Extract<ToWorker, { t: 'port-add' }>): void {
  const portNo = m.port;
  const name = m.dev.name;
  const old = ports.get(portNo);
  if (old !== undefined) dropPort(old);
  let netdev: AdoptableNetdev;
  try {
    netdev = adopt(m.dev);
  } catch (e) {
    logMain('error', `cannot adopt ${name}: ${(e as Error).message}`, portNo);
    send({ t: 'port-refused', port: portNo });
    return;
  }
  const p: WPort = {
    port: portNo,
    netdev,
    tap: m.dev.kind === 'tap',
    alive: true,
    txBuf: new Uint8Array(TX_BUF_BYTES),
    txUsed: 0,
    outCount: 0,
    outBatch: newFrameBatch(MAX_BURST),
    dirty: false,
    reported: newNetdevStats(),
    lastErrorLog: -Infinity,
  };
  ports.set(portNo, p);
  portList = [...ports.values()].sort((a, b) => a.port - b.port);
  recomputeRunnable();
}

/** Tells main where `p`'s ring reading stopped (before the acknowledgement that follows). */
function sendRingPosition(p: WPort): void {
  const nd = p.netdev;
  const position = nd instanceof AfPacketNetdev ? nd.ringPosition() : undefined;
  if (position !== undefined) send({ t: 'ring-position', port: p.port, position });
}

function dropPort(p: WPort): void {
  flushPort(p);
  reportPort(p, portStats);
  p.alive = false;
  p.netdev.close(); // adopted: the descriptor stays open for its owner
  ports.delete(p.port);
  portList = portList.filter((x) => x !== p);
  recomputeRunnable();
}

function acknowledge(seq: number): void {
  Atomics.store(ack, 0, seq);
  Atomics.notify(ack, 0);
}

function handle(m: ToWorker): void {
  switch (m.t) {
    case 'port-add':
      addPort(m);
      return;
    case 'port-del': {
      const p = ports.get(m.port);
      if (p !== undefined) {
        sendRingPosition(p);
        dropPort(p);
      }
      reportStats(true);
      acknowledge(m.seq);
      return;
    }
    case 'put':
      putFlow(m.id, m.key, m.mask, m.actions);
      return;
    case 'del': {
      const f = flows.get(m.id);
      if (f !== undefined) removeFlow(f);
      return;
    }
    case 'flush':
      for (const f of flows.values()) f.dead = true;
      flows.clear();
      dpcls.clear();
      emc?.clear();
      return;
    case 'sync':
      flushOutputs();
      reportStats(true);
      acknowledge(m.seq);
      return;
    case 'config':
      emcInsertInvProb = m.emcInsertInvProb;
      return;
    case 'stop':
      flushOutputs();
      reportStats(true);
      for (const p of portList) sendRingPosition(p);
      running = false;
      acknowledge(m.seq);
      return;
    case 'batch':
      // Flattened by drainControl; handled here only if nested.
      for (const x of m.msgs) handle(x);
      return;
    case 'puts':
      for (let i = 0; i < m.ids.length; i++) putOne(m, i);
      return;
    default: {
      const never: never = m;
      logMain('error', `unknown control message ${JSON.stringify(never)}`);
    }
  }
}

function putOne(m: Extract<ToWorker, { t: 'puts' }>, i: number): void {
  const b = i * PUT_WORDS;
  putFlow(
    m.ids[i]!,
    m.km.subarray(b, b + FLOW_KEY_WORDS),
    m.km.subarray(b + FLOW_KEY_WORDS, b + 2 * FLOW_KEY_WORDS),
    m.actions[i]!,
    m.km.subarray(b + 2 * FLOW_KEY_WORDS, b + PUT_WORDS),
  );
}

/** Control messages received and not yet handled, in order (batches flattened). */
const ctlQueue: ToWorker[] = [];
let ctlHead = 0;
/** Next flow of the `puts` message at the head of {@link ctlQueue}. */
let putsCursor = 0;
/** Most time one loop round spends on control messages before receiving again, in ms. */
const CONTROL_SLICE_MS = 2;

/**
 * Receives every waiting control message, then handles them for at most
 * {@link CONTROL_SLICE_MS} (a burst of thousands of flow installs must not keep the ports
 * unread for hundreds of ms). True when some are left for the next round.
 */
function drainControl(): boolean {
  for (;;) {
    const r = receiveMessageOnPort(control);
    if (r === undefined) break;
    const m = r.message as ToWorker;
    if (m.t === 'batch') for (const x of m.msgs) ctlQueue.push(x);
    else ctlQueue.push(m);
  }
  const end = performance.now() + CONTROL_SLICE_MS;
  while (ctlHead < ctlQueue.length) {
    const m = ctlQueue[ctlHead]!;
    if (m.t === 'puts') {
      const n = m.ids.length;
      while (putsCursor < n) {
        putOne(m, putsCursor++);
        if ((putsCursor & 63) === 0 && performance.now() >= end) break;
      }
      if (putsCursor < n) return true;
      putsCursor = 0;
    } else {
      handle(m);
    }
    ctlHead++;
    if (!running) break;
    if (performance.now() >= end && ctlHead < ctlQueue.length) return true;
  }
  ctlQueue.length = 0;
  ctlHead = 0;
  return false;
}

// ---- Statistics ----

let lastReport = 0;
let portStats: number[] = [];
/** Each coverage counter's total at the last report (what main has been told). */
const counterSeen = new Map<Counter, number>();

function reportPort(p: WPort, out: number[]): void {
  const st = p.netdev.localStats();
  const prev = p.reported;
  let changed = false;
  for (const k of PORT_STAT_FIELDS) {
    if (st[k] !== prev[k]) {
      changed = true;
      break;
    }
  }
  if (!changed) return;
  out.push(p.port);
  for (const k of PORT_STAT_FIELDS) out.push(st[k] - prev[k]);
  p.reported = st;
}

function reportStats(force: boolean): void {
  const t = performance.now();
  if (!force && t - lastReport < STATS_INTERVAL_MS) return;
  lastReport = t;
  for (const p of portList) reportPort(p, portStats);
  const nf = dirtyFlows.length;
  if (
    nf === 0 &&
    portStats.length === 0 &&
    nEmcHits + nMfHits + nRxInvalid + nHandedBack + nLost === 0 &&
    !force
  )
    return;
  const fl = new Float64Array(nf * FLOW_STAT_WORDS);
  let j = 0;
  for (let i = 0; i < nf; i++) {
    const f = dirtyFlows[i]!;
    f.dirty = false;
    if (f.dead) continue;
    fl[j++] = f.id;
    fl[j++] = f.packets;
    fl[j++] = f.bytes;
    fl[j++] = f.used >= 0 ? Math.max(0, t - f.used) : 0;
    fl[j++] = f.tcpFlags;
    f.packets = 0;
    f.bytes = 0;
    f.tcpFlags = 0;
  }
  dirtyFlows.length = 0;
  const ps = Float64Array.from(portStats);
  portStats = [];
  const flowsOut = fl.slice(0, j);
  const cs: (readonly [string, string, string])[] = [];
  const cd: number[] = [];
  for (const c of allCounters()) {
    const d = c.total - (counterSeen.get(c) ?? 0);
    if (d === 0) continue;
    counterSeen.set(c, c.total);
    cs.push([c.name, c.module, c.help]);
    cd.push(d);
  }
  const counterDeltas = Float64Array.from(cd);
  send(
    {
      t: 'stats',
      flows: flowsOut,
      ports: ps,
      emcHits: nEmcHits,
      megaflowHits: nMfHits,
      rxInvalid: nRxInvalid,
      handedBack: nHandedBack,
      lost: nLost,
      counters: cs,
      counterDeltas,
    },
    [flowsOut.buffer, ps.buffer, counterDeltas.buffer],
  );
  nEmcHits = nMfHits = nRxInvalid = nHandedBack = nLost = 0;
}

// ---- The loop ----

const MAX_FDS = 1024;
const fds = new Int32Array(MAX_FDS);
const ready = new Uint8Array(MAX_FDS);
let polled: WPort[] = [];
/** performance.now() when a port was last readable (for the busy-poll window, ack word 2). */
let lastRxAt = -Infinity;
const cTapRx = counter(
  'dpif_worker_tap_rx',
  'datapath',
  'frames the datapath worker read from TAP (internal) ports',
);
const cTapTx = counter(
  'dpif_worker_tap_tx',
  'datapath',
  'frames the datapath worker wrote to TAP (internal) ports',
);
const cBusyPoll = counter(
  'dpif_worker_busy_poll',
  'datapath',
  'datapath worker loop turns that polled without sleeping (busy-poll window after a frame)',
);

function loop(): void {
  // Control messages left over from the previous round: poll without waiting.
  let more = false;
  while (running) {
    polled = portList.length < MAX_FDS ? portList : portList.slice(0, MAX_FDS - 1);
    fds[0] = init.wakeFd;
    for (let i = 0; i < polled.length; i++) fds[i + 1] = polled[i]!.netdev.fd;
    // Within the busy-poll window after the last frame, poll without sleeping.
    const spin = (performance.now() - lastRxAt) * 1000 < Atomics.load(ack, 2);
    if (spin && !more) cBusyPoll.inc();
    const n = native.waitReadable(
      fds,
      polled.length + 1,
      more || spin ? 0 : STATS_INTERVAL_MS,
      ready,
    );
    if (n > 0 && ready[0] !== 0) native.wakeFdDrain(init.wakeFd);
    if (n > (ready[0] !== 0 ? 1 : 0)) lastRxAt = performance.now();
    more = drainControl();
    if (!running) break;
    if (n > 0) {
      for (let i = 0; i < polled.length; i++) {
        const p = polled[i]!;
        if (ready[i + 1] !== 0 && p.alive) receive(p);
      }
      flushOutputs();
    }
    reportStats(false);
  }
}

// An exception here ends the thread; the main side logs it and reads the ports itself again.
if (PORT_STAT_WORDS !== 1 + PORT_STAT_FIELDS.length || FLOW_STAT_WORDS !== 5)
  throw new Error('datapath worker: statistics layout mismatch');
try {
  send({ t: 'ready' });
  loop();
} catch (e) {
  logMain('error', `datapath worker loop failed: ${(e as Error).stack ?? String(e)}`);
  throw e;
}

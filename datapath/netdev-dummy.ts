/**
 * In-memory netdevs, after OVS's netdev-dummy: what most tests and the micro-benchmarks use.
 *
 * - {@link DummyNetdev.receive} injects a frame as if it arrived on the wire;
 * - two dummies can be wired with {@link connectDummies}: a frame sent on one is received on
 *   the other;
 * - transmitted frames can be kept for inspection ({@link DummyNetdev.takeSent}) and both
 *   directions can be recorded to libpcap files (Ethernet link type);
 * - the receive queue is a ring of preallocated slots (no allocation per frame once warm);
 *   frames beyond its capacity are dropped and counted in rxDropped.
 */
import { Buffer } from 'node:buffer';
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Clock } from '../lib/clock.js';
import { realClock } from '../lib/clock.js';
import type { FrameBatch, Netdev, NetdevClass, NetdevStats } from './netdev.js';
import { NetdevClosedError, newNetdevStats } from './netdev.js';

/** Options for a dummy netdev. */
export interface DummyOptions {
  /** Receive ring capacity in frames (default 1024). */
  rxCapacity?: number;
  /** Keep transmitted frames for {@link DummyNetdev.takeSent} (default false). */
  captureTx?: boolean;
  /** Path of a pcap file recording received frames. */
  rxPcap?: string;
  /** Path of a pcap file recording transmitted frames. */
  txPcap?: string;
  /** MAC address (default aa:55:aa:55:00:nn, nn a counter, as OVS's dummies). */
  mac?: Uint8Array;
  /** MTU (default 1500). */
  mtu?: number;
  /** Clock for pcap timestamps (default the real clock). */
  clock?: Clock;
}

const SLOT = 2048;
let macCounter = 0;
const openDummies = new Map<string, DummyNetdev>();

/** A libpcap writer (classic format, microsecond timestamps, link type 1 = Ethernet). */
export class PcapWriter {
  private fd: number;
  private readonly hdr = new Uint8Array(16);
  private readonly view = new DataView(this.hdr.buffer);

  /** Creates (truncates) `path` and writes the global header. */
  constructor(
    path: string,
    private readonly clock: Clock = realClock,
    snaplen = 65535,
  ) {
    this.fd = openSync(path, 'w');
    const g = new Uint8Array(24);
    const v = new DataView(g.buffer);
    v.setUint32(0, 0xa1b2c3d4, true);
    v.setUint16(4, 2, true);
    v.setUint16(6, 4, true);
    v.setInt32(8, 0, true);
    v.setUint32(12, 0, true);
    v.setUint32(16, snaplen, true);
    v.setUint32(20, 1, true);
    writeSync(this.fd, g);
  }

  /** Appends one frame `b[off .. off+len)`. */
  write(b: Uint8Array, off: number, len: number): void {
    if (this.fd < 0) return;
    const t = this.clock.wallNow();
    const sec = Math.floor(t / 1000);
    this.view.setUint32(0, sec, true);
    this.view.setUint32(4, Math.floor((t - sec * 1000) * 1000), true);
    this.view.setUint32(8, len, true);
    this.view.setUint32(12, len, true);
    writeSync(this.fd, this.hdr);
    writeSync(this.fd, b, off, len);
  }

  /** Closes the file. Idempotent. */
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

// Buffer.prototype.copy, taken from an instance so that it is typed.
// eslint-disable-next-line @typescript-eslint/unbound-method
const bufferCopy = Buffer.alloc(0).copy;

/** Copies `n` bytes without allocating (a loop for short runs, memcpy for long ones). */
export function copyBytes(
  src: Uint8Array,
  so: number,
  dst: Uint8Array,
  dOff: number,
  n: number,
): void {
  if (n < 96) {
    for (let i = 0; i < n; i++) dst[dOff + i] = src[so + i]!;
  } else {
    // Buffer's memcpy works on any Uint8Array source and target, without allocating.
    bufferCopy.call(src as Buffer, dst, dOff, so, so + n);
  }
}

const NO_SLOT = new Uint8Array(0);

/** An in-memory netdev (see the module comment). */
export class DummyNetdev implements Netdev {
  readonly type = 'dummy';
  private mac: Uint8Array;
  private mtuValue: number;
  private link = true;
  private closed = false;
  private readonly st: NetdevStats = newNetdevStats();
  private readonly ring: Uint8Array[];
  private readonly ringLen: Int32Array;
  private head = 0;
  private n = 0;
  private readable: (() => void) | undefined;
  private notifyPending = false;
  private peer: DummyNetdev | undefined;
  private readonly sent: Uint8Array[] = [];
  private captureTx: boolean;
  private rxPcap: PcapWriter | undefined;
  private txPcap: PcapWriter | undefined;
  private readonly clock: Clock;

  constructor(
    /** Device name. */
    readonly name: string,
    opts: DummyOptions = {},
  ) {
    const cap = opts.rxCapacity ?? 1024;
    // Slots are allocated on first use (a bridge of 500 ports must not cost 500 × cap slots).
    this.ring = new Array<Uint8Array>(cap).fill(NO_SLOT);
    this.ringLen = new Int32Array(cap);
    this.captureTx = opts.captureTx ?? false;
    this.clock = opts.clock ?? realClock;
    const c = ++macCounter;
    this.mac = opts.mac
      ? Uint8Array.from(opts.mac)
      : Uint8Array.of(0xaa, 0x55, 0xaa, 0x55, (c >>> 8) & 0xff, c & 0xff);
    this.mtuValue = opts.mtu ?? 1500;
    if (opts.rxPcap !== undefined) this.rxPcap = new PcapWriter(opts.rxPcap, this.clock);
    if (opts.txPcap !== undefined) {
      // One file for both directions when the paths are the same (OVS's `pcap` option).
      this.txPcap =
        opts.txPcap === opts.rxPcap ? this.rxPcap : new PcapWriter(opts.txPcap, this.clock);
    }
  }

  private check(): void {
    if (this.closed) throw new NetdevClosedError(this.name);
  }

  etherAddr(): Uint8Array {
    this.check();
    return Uint8Array.from(this.mac);
  }

  setEtherAddr(mac: Uint8Array): void {
    this.check();
    if (mac.length !== 6) throw new RangeError('an Ethernet address has 6 bytes');
    this.mac = Uint8Array.from(mac);
  }

  mtu(): number {
    this.check();
    return this.mtuValue;
  }

  setMtu(mtu: number): void {
    this.check();
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new RangeError(`bad MTU ${mtu}`);
    this.mtuValue = mtu;
  }

  carrier(): boolean {
    this.check();
    return this.link;
  }

  /** Sets the carrier (link state); with the link down, sends are dropped. */
  setCarrier(up: boolean): void {
    this.check();
    this.link = up;
  }

  ifindex(): number {
    this.check();
    return 0;
  }

  stats(): NetdevStats {
    this.check();
    return { ...this.st };
  }

  /** Number of frames waiting in the receive ring. */
  get rxQueued(): number {
    return this.n;
  }

  /** Enables or disables keeping transmitted frames. */
  setCaptureTx(on: boolean): void {
    this.captureTx = on;
  }

  /** Starts (or with undefined stops) recording received frames to a pcap file. */
  setRxPcap(path: string | undefined): void {
    this.rxPcap?.close();
    this.rxPcap = path === undefined ? undefined : new PcapWriter(path, this.clock);
  }

  /** Starts (or with undefined stops) recording transmitted frames to a pcap file. */
  setTxPcap(path: string | undefined): void {
    this.txPcap?.close();
    this.txPcap = path === undefined ? undefined : new PcapWriter(path, this.clock);
  }

  /**
   * Injects a frame as if received from the wire (copied). Returns false, counting rxDropped,
   * when the ring is full or the link is down.
   */
  receive(frame: Uint8Array, off = 0, len = frame.length - off): boolean {
    this.check();
    if (!this.link || this.n === this.ring.length) {
      this.st.rxDropped++;
      return false;
    }
    const idx = (this.head + this.n) % this.ring.length;
    let slot = this.ring[idx]!;
    if (slot.length < len) {
      slot = new Uint8Array(Math.max(len, SLOT));
      this.ring[idx] = slot;
    }
    copyBytes(frame, off, slot, 0, len);
    this.ringLen[idx] = len;
    this.n++;
    this.rxPcap?.write(slot, 0, len);
    if (this.n === 1) this.notify();
    return true;
  }

  private notify(): void {
    if (this.readable === undefined || this.notifyPending) return;
    this.notifyPending = true;
    queueMicrotask(() => {
      this.notifyPending = false;
      if (!this.closed && this.n > 0) this.readable?.();
    });
  }

  recvBatch(batch: FrameBatch, max: number): number {
    this.check();
    const cap = this.ring.length;
    let k = 0;
    const lim = Math.min(max, batch.bufs.length, this.n);
    while (k < lim) {
      const idx = this.head;
      const len = this.ringLen[idx]!;
      batch.bufs[k] = this.ring[idx]!;
      batch.offs[k] = 0;
      batch.lens[k] = len;
      this.st.rxPackets++;
      this.st.rxBytes += len;
      this.head = idx + 1 === cap ? 0 : idx + 1;
      this.n--;
      k++;
    }
    batch.count = k;
    return k;
  }

  onReadable(cb: (() => void) | undefined): void {
    this.check();
    this.readable = cb;
    if (cb !== undefined && this.n > 0) this.notify();
  }

  sendBatch(batch: FrameBatch): number {
    this.check();
    let ok = 0;
    const maxLen = this.mtuValue + 18;
    for (let i = 0; i < batch.count; i++) {
      const b = batch.bufs[i]!;
      const off = batch.offs[i]!;
      const len = batch.lens[i]!;
      if (!this.link || len > maxLen) {
        this.st.txDropped++;
        continue;
      }
      this.st.txPackets++;
      this.st.txBytes += len;
      ok++;
      this.txPcap?.write(b, off, len);
      if (this.captureTx) this.sent.push(b.slice(off, off + len));
      const p = this.peer;
      if (p !== undefined && !p.closed) p.receive(b, off, len);
    }
    return ok;
  }

  /** Returns the transmitted frames kept so far (see captureTx) and forgets them. */
  takeSent(): Uint8Array[] {
    return this.sent.splice(0, this.sent.length);
  }

  /** The connected peer, if any. */
  get peerNetdev(): DummyNetdev | undefined {
    return this.peer;
  }

  /** @internal used by {@link connectDummies}. */
  setPeer(p: DummyNetdev | undefined): void {
    this.peer = p;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.readable = undefined;
    this.rxPcap?.close();
    this.txPcap?.close();
    if (this.peer && this.peer.peer === this) this.peer.peer = undefined;
    this.peer = undefined;
    if (openDummies.get(this.name) === this) openDummies.delete(this.name);
  }

  /** True after close(). */
  get isClosed(): boolean {
    return this.closed;
  }
}

/** Wires two dummies: a frame sent on either is received on the other. */
export function connectDummies(a: DummyNetdev, b: DummyNetdev): void {
  a.setPeer(b);
  b.setPeer(a);
}

/** Options accepted by {@link dummyNetdevClass}.open (string-valued, as Interface.options). */
function parseOptions(o: Readonly<Record<string, string>>): DummyOptions {
  const r: DummyOptions = {};
  if (o.rxq_pcap !== undefined) r.rxPcap = o.rxq_pcap;
  if (o.tx_pcap !== undefined) r.txPcap = o.tx_pcap;
  if (o.pcap !== undefined) r.rxPcap = r.txPcap = o.pcap;
  if (o.capture_tx === 'true') r.captureTx = true;
  if (o.mtu !== undefined) r.mtu = Number(o.mtu);
  return r;
}

/** The dummy provider. Names are unique among open dummies; {@link findDummy} looks one up. */
export const dummyNetdevClass: NetdevClass = {
  type: 'dummy',
  open(name: string, options: Readonly<Record<string, string>> = {}): Netdev {
    if (openDummies.has(name)) throw new Error(`dummy netdev ${name} is already open`);
    const n = new DummyNetdev(name, parseOptions(options));
    openDummies.set(name, n);
    return n;
  },
};

/** The open dummy called `name` (opened through {@link dummyNetdevClass}), if any. */
export function findDummy(name: string): DummyNetdev | undefined {
  return openDummies.get(name);
}

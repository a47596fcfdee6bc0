/**
 * netdev-tap: internal ports (the bridge's LOCAL port among them) as Linux TAP devices, as OVS's
 * userspace datapath does (netdev-linux's "tap" class), so the host can address the bridge:
 * `ip addr add 10.0.0.1/24 dev br0 && ip link set br0 up`.
 *
 * The device is created through the native addon (/dev/net/tun, IFF_TAP | IFF_NO_PI) when the
 * port is added and vanishes when it is closed (the kernel removes a non-persistent TAP device
 * with its last descriptor). Like OVS, the device is left administratively down: the user (or
 * Mininet) brings it up. Frames the host sends on the device are what this netdev receives;
 * frames the datapath sends here are delivered to the host's stack.
 *
 * Receive reads up to one batch of frames per call into a preallocated buffer (one read() per
 * frame: the tun driver has no batched calls); readiness follows the Netdev contract with a
 * libuv poll that is armed only while a reader waits.
 *
 * The datapath worker thread (datapath/dp-worker.ts) can take a TAP port's frames over: the
 * main thread's netdev keeps the device (configuration, statistics) and hands out its
 * descriptor ({@link TapNetdev.workerConfig}); the worker opens a netdev of its own on that
 * descriptor ({@link TapNetdevOptions.adoptFd}), which reads and writes frames with the same
 * policy and never closes it. Its counters go back to the owner through
 * {@link TapNetdev.addStats}.
 *
 * Send checks the device's up flag and MTU from values cached for at most
 * {@link TAP_ATTR_TTL_MS} (two ioctls per batch otherwise): a change made through this netdev
 * (setUp, setMtu) is seen at once, one made from outside (`ip link`) within that time, or at
 * once when a write fails (a down TAP refuses frames with EIO; the rest of the batch is then
 * counted as dropped for a down link).
 */
import { realClock, type Clock } from '../lib/clock.js';
import { counter } from '../lib/counters.js';
import {
  MAX_BURST,
  addNetdevStats,
  NetdevClosedError,
  newFrameBatch,
  newNetdevStats,
  type FrameBatch,
  type Netdev,
  type NetdevClass,
  type NetdevStats,
} from './netdev.js';
import { loadNative, type TapDevice } from './native.js';
import { ReadinessArm } from './readiness.js';

const cTxDown = counter('netdev_tap_tx_down', 'netdev', 'frames dropped sending to a TAP device');
const cTxTooBig = counter(
  'netdev_tap_tx_too_big',
  'netdev',
  'frames longer than MTU + 18 not sent to a TAP device',
);
const cRxTruncated = counter(
  'netdev_tap_rx_truncated',
  'netdev',
  'frames from a TAP device longer than the receive slot, dropped',
);

const IFF_UP = 0x1;
const IFF_RUNNING = 0x40;

/** How long sendBatch trusts the cached up flag and MTU (ms). */
export const TAP_ATTR_TTL_MS = 100;

/**
 * What a datapath worker thread needs to do a {@link TapNetdev}'s I/O with a netdev of its own
 * (see {@link TapNetdev.workerConfig}).
 */
export interface TapWorkerConfig {
  /** Interface name. */
  readonly name: string;
  /** The device's descriptor, to adopt. */
  readonly fd: number;
  /** The network namespace file the device lives in ('' for the process's own). */
  readonly netns: string;
}

/** Options of {@link TapNetdev}'s constructor beyond name, namespace and clock. */
export interface TapNetdevOptions {
  /**
   * Do I/O on this descriptor, attached by another TapNetdev of this process (the datapath
   * worker thread adopts the main thread's devices): nothing is opened or created, and close()
   * leaves the descriptor (and so the device) to its owner. Not an Interface option.
   */
  adoptFd?: number;
}

/** Receive slot: the largest frame a 9000-byte MTU allows plus VLAN tags, rounded up. */
function slotSizeFor(mtu: number): number {
  return Math.max(2048, (mtu + 14 + 8 + 1023) & ~1023);
}

/** A TAP device as a {@link Netdev}. */
export class TapNetdev implements Netdev {
  readonly type = 'tap';
  private readonly dev: TapDevice;
  private closed = false;
  private readonly st: NetdevStats = newNetdevStats();
  private slotSize: number;
  private rxBuf: Uint8Array;
  private readonly offs = new Int32Array(MAX_BURST);
  private readonly lens = new Int32Array(MAX_BURST);
  private readonly readiness: ReadinessArm;
  private readonly one = newFrameBatch(1);
  /** Cached for sendBatch: the device is administratively up. */
  private up = false;
  /** Cached for sendBatch: the longest frame sent (MTU + 18). */
  private maxFrame = 0;
  /** When {@link up} and {@link maxFrame} were read (clock ms); -Infinity = never. */
  private attrsAt = -Infinity;
  /** The namespace file the device lives in ('' for the process's own). */
  private readonly netnsPath: string;
  /** Called on close (the provider's registry uses it). */
  onClose: (() => void) | undefined;

  /**
   * Opens (creating) the TAP device `name`, in network namespace `netns` (a name under
   * /var/run/netns or a path) when given; with `opts.adoptFd`, uses that descriptor instead
   * (see {@link TapNetdevOptions}). Throws with `code` EBUSY/EPERM/… on failure.
   */
  constructor(
    readonly name: string,
    netns?: string,
    /** Time source for the attribute cache. */
    private readonly clock: Clock = realClock,
    opts: TapNetdevOptions = {},
  ) {
    const path = netns === undefined || netns === '' ? undefined : netnsFile(netns);
    this.netnsPath = path ?? '';
    const Tap = loadNative().TapDevice;
    this.dev = opts.adoptFd === undefined ? new Tap(name, path) : new Tap(name, path, opts.adoptFd);
    this.readiness = new ReadinessArm(this.dev);
    this.slotSize = slotSizeFor(this.dev.getMtu());
    this.rxBuf = new Uint8Array(MAX_BURST * this.slotSize);
  }

  private check(): void {
    if (this.closed) throw new NetdevClosedError(this.name);
  }

  etherAddr(): Uint8Array {
    this.check();
    return this.dev.getMac();
  }

  setEtherAddr(mac: Uint8Array): void {
    this.check();
    this.dev.setMac(mac);
  }

  mtu(): number {
    this.check();
    return this.dev.getMtu();
  }

  setMtu(mtu: number): void {
    this.check();
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535)
      throw new RangeError(`tap ${this.name}: MTU ${mtu} outside 68..65535`);
    this.dev.setMtu(mtu);
    this.attrsAt = -Infinity;
    const s = slotSizeFor(mtu);
    if (s > this.slotSize) {
      this.slotSize = s;
      this.rxBuf = new Uint8Array(MAX_BURST * s);
    }
  }

  /** A TAP device has carrier while it is up and we hold it. */
  carrier(): boolean {
    this.check();
    const f = this.dev.getFlags();
    return (f & IFF_UP) !== 0 && (f & IFF_RUNNING) !== 0;
  }

  /** True when the device is administratively up. */
  isUp(): boolean {
    this.check();
    return (this.dev.getFlags() & IFF_UP) !== 0;
  }

  /** Sets the device administratively up or down. */
  setUp(up: boolean): void {
    this.check();
    this.dev.setFlags(up ? IFF_UP : 0, up ? 0 : IFF_UP);
    this.attrsAt = -Infinity;
  }

  /** Re-reads the up flag and MTU when the cached ones are older than TAP_ATTR_TTL_MS. */
  private attrs(): void {
    const now = this.clock.now();
    if (now - this.attrsAt < TAP_ATTR_TTL_MS) return;
    this.up = (this.dev.getFlags() & IFF_UP) !== 0;
    this.maxFrame = this.dev.getMtu() + 18;
    this.attrsAt = now;
  }

  /**
   * After a write stopped at frame `from` of `n`: re-reads the attributes (the error may be a
   * down device) and counts the rest as dropped (for a down link when it is down).
   */
  private dropRest(from: number, n: number): void {
    this.attrsAt = -Infinity;
    this.attrs();
    this.st.txDropped += n - from;
    if (!this.up) cTxDown.inc(n - from);
  }

  ifindex(): number {
    this.check();
    return this.dev.getIfindex();
  }

  stats(): NetdevStats {
    this.check();
    return { ...this.st };
  }

  /** The counters kept here (what a datapath worker reports to the owner as deltas). */
  localStats(): NetdevStats {
    return { ...this.st };
  }

  /**
   * Adds counter deltas measured elsewhere (a datapath worker thread doing this device's I/O
   * through an adopted descriptor) to this netdev's counters.
   */
  addStats(delta: Readonly<Partial<NetdevStats>>): void {
    addNetdevStats(this.st, delta);
  }

  /** The device's descriptor (-1 after close): what a worker thread polls. */
  get fd(): number {
    return this.dev.fd;
  }

  /**
   * What a datapath worker needs to take this device's I/O over, or undefined when closed. The
   * caller must stop reading this netdev first (`onReadable(undefined)`) and keep it open until
   * the worker has let go; a TAP device has no read position to hand over, so taking receive
   * back needs nothing ({@link resumeReceive}).
   */
  workerConfig(): TapWorkerConfig | undefined {
    if (this.closed) return undefined;
    return { name: this.name, fd: this.dev.fd, netns: this.netnsPath };
  }

  /** Takes receive back after a worker thread stopped reading the device (nothing to do). */
  resumeReceive(): void {}

  /** True after close(). */
  get isClosed(): boolean {
    return this.closed;
  }

  recvBatch(batch: FrameBatch, max: number): number {
    this.check();
    const lim = Math.min(max, batch.bufs.length, batch.offs.length, MAX_BURST);
    batch.count = 0;
    if (lim <= 0) return 0;
    const buf = this.rxBuf;
    const n = this.dev.read(buf, this.slotSize, lim, this.offs, this.lens);
    let k = 0;
    let truncated = false;
    for (let i = 0; i < n; i++) {
      const len = this.lens[i]!;
      if (len >= this.slotSize) {
        // read() filled the whole slot: the frame may have been longer; drop it.
        this.st.rxDropped++;
        cRxTruncated.inc();
        truncated = true;
        continue;
      }
      batch.bufs[k] = buf;
      batch.offs[k] = this.offs[i]!;
      batch.lens[k] = len;
      this.st.rxPackets++;
      this.st.rxBytes += len;
      k++;
    }
    batch.count = k;
    // The MTU was raised elsewhere (`ip link`, or the owner when this netdev adopted its
    // descriptor): later frames get slots that fit. The batch keeps the old buffer.
    if (truncated) this.fitSlots();
    if (n === 0) this.rearm();
    return k;
  }

  private fitSlots(): void {
    const s = slotSizeFor(this.dev.getMtu());
    if (s > this.slotSize) {
      this.slotSize = s;
      this.rxBuf = new Uint8Array(MAX_BURST * s);
    }
  }

  private rearm(): void {
    this.readiness.rearm();
  }

  onReadable(cb: (() => void) | undefined): void {
    this.check();
    this.readiness.set(cb);
  }

  sendBatch(batch: FrameBatch): number {
    this.check();
    const n = batch.count;
    if (n <= 0) return 0;
    // A TAP device that is down refuses frames (EIO): count them as dropped, as a down link.
    this.attrs();
    if (!this.up) {
      this.st.txDropped += n;
      cTxDown.inc(n);
      return 0;
    }
    // Frames longer than MTU + 18 (Ethernet header, two VLAN tags) are dropped, as on a link.
    const max = this.maxFrame;
    let ok = true;
    for (let i = 0; i < n; i++) {
      if (batch.lens[i]! > max) {
        ok = false;
        break;
      }
    }
    if (ok) {
      const sent = this.dev.write(batch.bufs, batch.offs, batch.lens, n);
      for (let i = 0; i < sent; i++) {
        this.st.txPackets++;
        this.st.txBytes += batch.lens[i]!;
      }
      if (sent < n) this.dropRest(sent, n);
      return sent;
    }
    // Slow path: send the frames that fit one at a time.
    const one = this.one;
    let sent = 0;
    for (let i = 0; i < n; i++) {
      const len = batch.lens[i]!;
      if (len > max) {
        this.st.txDropped++;
        cTxTooBig.inc();
        continue;
      }
      one.bufs[0] = batch.bufs[i]!;
      one.offs[0] = batch.offs[i]!;
      one.lens[0] = len;
      if (this.dev.write(one.bufs, one.offs, one.lens, 1) === 1) {
        sent++;
        this.st.txPackets++;
        this.st.txBytes += len;
      } else {
        this.dropRest(i, i + 1);
        if (!this.up) {
          // Down: the remaining frames go the same way.
          this.st.txDropped += n - i - 1;
          cTxDown.inc(n - i - 1);
          break;
        }
      }
    }
    return sent;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.readiness.reset();
    this.dev.close();
    this.onClose?.();
  }
}

function netnsFile(ns: string): string {
  return ns.includes('/') ? ns : `/var/run/netns/${ns}`;
}

const openTaps = new Map<string, TapNetdev>();

/**
 * The `tap` provider (internal ports). Options: `netns` (create the device in that network
 * namespace). Opening a name already open in this process throws; a device of that name held
 * by another process fails with EBUSY.
 */
export const tapNetdevClass: NetdevClass = {
  type: 'tap',
  open(name: string, options: Readonly<Record<string, string>> = {}): Netdev {
    const key = `${options.netns ?? ''}\0${name}`;
    if (openTaps.has(key)) throw new Error(`netdev ${name} is already open`);
    const n = new TapNetdev(name, options.netns);
    openTaps.set(key, n);
    n.onClose = () => {
      if (openTaps.get(key) === n) openTaps.delete(key);
    };
    return n;
  },
};

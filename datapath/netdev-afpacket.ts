/**
 * Netdevs for kernel network interfaces over AF_PACKET sockets (the native addon, see
 * datapath/native.ts), playing the part of OVS's netdev-linux for the userspace datapath.
 *
 * Receive: one recvmmsg per {@link AfPacketNetdev.recvBatch} into a preallocated buffer of
 * fixed-size slots; the batch's `offs`/`lens` are written by the addon and every frame's buffer
 * is that one receive buffer, so nothing is allocated per frame. Policy kept here:
 *
 * - VLAN tags the kernel stripped are put back by the addon from PACKET_AUXDATA;
 * - frames that did not fit a slot (MTU raised behind our back, GSO super-frames) are dropped
 *   and counted in rxDropped, and the slots grow to the interface's current MTU;
 * - frames reported as PACKET_OUTGOING (kernels without PACKET_IGNORE_OUTGOING) are skipped;
 * - frames whose L4 checksum the sending stack left to offload (TP_STATUS_CSUMNOTREADY) get
 *   it completed, unless the `csum=pass` option is given — relayed as they are, receivers drop
 *   them.
 *
 * Transmit: one sendmmsg per batch straight from the caller's buffers (no copy in JS).
 *
 * Readiness: a libuv poll on the socket. {@link AfPacketNetdev.onReadable} follows the Netdev
 * contract (a call after `recvBatch` returned 0): the callback is disarmed when it fires and
 * re-armed when `recvBatch` finds the queue empty; a poll that fires while disarmed is stopped,
 * so a consumer that stops reading does not make the event loop spin.
 *
 * Open options (string-valued, as Interface.options):
 * - `netns`: network namespace name (`/var/run/netns/NAME`) or path holding the interface;
 * - `rx_batch`: receive slots (frames per recvBatch), default {@link MAX_BURST};
 * - `rcvbuf`, `sndbuf`: socket buffer sizes in bytes (default 4 MiB receive, system send);
 * - `promisc`: `false` to not join promiscuous membership (default true);
 * - `qdisc_bypass`: `true` for PACKET_QDISC_BYPASS (default false);
 * - `csum`: `complete` (default) or `pass`, see above;
 * - `rx_ring`: frames of a TPACKET_V2 receive ring mapped into JS (default `TSVS_RX_RING`, else
 *   `auto`; 0: always recvmmsg into a JS buffer). The ring saves the receive copy into user space (the reference measured
 *   ~1.5 against ~2.3 µs per relayed frame); its frame size is fixed when it is set up from the
 *   MTU, so frames longer than that MTU allows are dropped and counted until the netdev is
 *   reopened. `auto`: recvmmsg, until the datapath sees the port busy and calls
 *   {@link AfPacketNetdev.enableRing} (a ring costs its frames' memory, ~7 MiB for 4096
 *   frames at MTU 1500, which only busy ports are worth).
 * - `tx_ring`: frames of a TPACKET_V2 transmit ring the datapath worker sends through (default
 *   `TSVS_TX_RING`, else `auto`; 0: always sendmmsg). It lives on a second, transmit-only
 *   socket (protocol 0, PACKET_VNET_HDR): one send() hands the kernel a whole batch, and the
 *   virtio-net header has each frame copied whole into the socket buffer's linear part. Without
 *   it the kernel attaches all but the Ethernet header as page fragments of the ring, which the
 *   receiving stack must pull or copy (measured with a C relay on these VMs, 64-byte frames:
 *   0.30 Mpps per core with sendmmsg, 0.34 with the header, 0.28 without; and iperf3 through
 *   tsvs fell from 2.2 to 1.0 Gbit/s with only the first 256 bytes linear).
 *   The owner makes a new socket and ring for each worker that takes the port over
 *   ({@link AfPacketNetdev.workerConfig}), so no send position is handed over. Frames longer
 *   than the MTU allowed when it was made, or while every ring frame is in flight, go by
 *   sendmmsg. `auto`: sendmmsg until the datapath sees the port send
 *   busily and calls {@link AfPacketNetdev.enableTxRing}.
 */
import { counter } from '../lib/counters.js';
import { setL4Checksum } from '../lib/packet/checksum.js';
import type { FrameBatch, Netdev, NetdevClass, NetdevStats } from './netdev.js';
import { MAX_BURST, NetdevClosedError, addNetdevStats, newNetdevStats } from './netdev.js';
import type { NativeAddon, PacketSocket, PacketSocketOptions } from './native.js';
import { loadNative } from './native.js';
import { ReadinessArm } from './readiness.js';

/** Options of an afpacket netdev (parsed form of the Interface.options strings). */
export interface AfPacketOptions {
  /** Network namespace name or path (see the module comment). */
  netns?: string;
  /** Receive slots, 1..256 (default {@link MAX_BURST}). */
  rxBatch?: number;
  /** Socket receive buffer in bytes (default 4 MiB; 0 for the system default). */
  rcvbuf?: number;
  /** Socket send buffer in bytes (default 0: the system default). */
  sndbuf?: number;
  /** Join promiscuous membership (default true). */
  promisc?: boolean;
  /** PACKET_QDISC_BYPASS (default false). */
  qdiscBypass?: boolean;
  /** Complete L4 checksums left to offload by the sender (default true). */
  completeChecksums?: boolean;
  /** Frames of a TPACKET_V2 rx ring (0 or absent: recvmmsg). */
  rxRing?: number;
  /**
   * With no {@link rxRing}: the datapath may give the port a ring once it is busy
   * ({@link AfPacketNetdev.enableRing}; Interface option `rx_ring=auto`, the default).
   */
  autoRing?: boolean;
  /**
   * Do I/O on this descriptor, opened by another AfPacketNetdev (the datapath worker thread
   * adopts the main thread's sockets): nothing is opened, bound or configured, and close()
   * leaves the descriptor open. Not an Interface option.
   */
  adoptFd?: number;
  /**
   * With {@link adoptFd}: the owner receives through a ring of this geometry, which this
   * netdev maps and reads in its place, from the owner's read position when given (see
   * {@link AfPacketNetdev.workerConfig}).
   */
  adoptRing?: RingGeometry & { readonly position?: number };
  /**
   * Frames of a tx ring for the datapath worker to send through (see the module comment);
   * 0 or absent: none, unless {@link autoTxRing}.
   */
  txRing?: number;
  /** With no {@link txRing}: the datapath may ask for one once the port sends busily. */
  autoTxRing?: boolean;
  /** With {@link adoptFd}: send through this tx ring (see {@link AfPacketNetdev.workerConfig}). */
  adoptTx?: TxRingHandover;
}

/** A transmit-only socket with a tx ring, handed to the netdev that sends through it. */
export interface TxRingHandover {
  /** The transmit-only socket's descriptor (owned by the handing netdev). */
  readonly fd: number;
  readonly frameSize: number;
  readonly frameCount: number;
  /** Longest frame to send through the ring (MTU, Ethernet header and one VLAN tag). */
  readonly maxLen: number;
}

/** The geometry of a TPACKET_V2 rx ring, as given to `setupRing`. */
export interface RingGeometry {
  /** Bytes per frame. */
  readonly frameSize: number;
  /** Frames asked for. */
  readonly frameCount: number;
}

/**
 * What a datapath worker thread needs to receive and send on an {@link AfPacketNetdev}'s
 * socket with a netdev of its own (see {@link AfPacketNetdev.workerConfig}).
 */
export interface AfPacketWorkerConfig {
  /** Interface name. */
  readonly name: string;
  /** The socket's descriptor, to adopt. */
  readonly fd: number;
  /** Receive slots per batch. */
  readonly rxBatch: number;
  /**
   * The ring the owner receives through, to map and read instead (absent: recvmmsg), and the
   * frame the owner would have read next, where the new reader starts.
   */
  readonly ring?: RingGeometry & { readonly position: number };
  /** A tx ring to send through, made for this reader (absent: sendmmsg). */
  readonly tx?: TxRingHandover;
  /** Whether offloaded L4 checksums are completed on receive. */
  readonly completeChecksums: boolean;
}

/** Bytes before each slot's frame: room to re-insert one stripped VLAN tag. */
export const RX_HEADROOM = 4;
/** Largest Ethernet + 2 VLAN headers in front of the MTU's payload. */
const L2_OVERHEAD = 14 + 8;
const DEFAULT_RCVBUF = 4 << 20;
/** Slot size of the scratch receive that consumes a pending socket error in ring mode. */
const ERR_SLOT = 256;

const cRingAuto = counter(
  'afpacket_rx_ring_auto',
  'netdev',
  'ports given an rx ring by the datapath because they were busy (rx_ring=auto)',
);
const cRxTruncated = counter(
  'afpacket_rx_truncated',
  'netdev_afpacket',
  'frames longer than the receive slot, dropped',
);
const cRxOutgoing = counter(
  'afpacket_rx_outgoing',
  'netdev_afpacket',
  'frames reported as PACKET_OUTGOING, skipped',
);
const cRxVlanRestored = counter(
  'afpacket_rx_vlan_restored',
  'netdev_afpacket',
  'VLAN tags re-inserted from PACKET_AUXDATA',
);
const cRxCsumCompleted = counter(
  'afpacket_rx_csum_completed',
  'netdev_afpacket',
  'L4 checksums completed for frames received with TP_STATUS_CSUMNOTREADY',
);
const cTxRingAuto = counter(
  'afpacket_tx_ring_auto',
  'netdev',
  'ports given a tx ring by the datapath because they sent busily (tx_ring=auto)',
);
const cTxRingRefused = counter(
  'afpacket_tx_ring_refused',
  'netdev_afpacket',
  'tx rings the kernel would not set up (the port stays on sendmmsg)',
);
const cTxRingFallback = counter(
  'afpacket_tx_ring_fallback',
  'netdev_afpacket',
  'frames sent by sendmmsg on a port with a tx ring (too long, or every ring frame in flight)',
);
const cTxRefused = counter(
  'afpacket_tx_refused',
  'netdev_afpacket',
  'frames the kernel refused or had no room for on transmit',
);

/** Slot size for an MTU: the largest frame plus headroom, rounded up to 64 bytes. */
export function slotSizeFor(mtu: number): number {
  const need = RX_HEADROOM + Math.max(mtu, 1500) + L2_OVERHEAD;
  return (need + 63) & ~63;
}

/** Ring frame size for an MTU: TPACKET_V2 header and address (80 bytes) plus a slot. */
export function ringFrameSizeFor(mtu: number): number {
  return (80 + slotSizeFor(mtu) + 15) & ~15;
}

/**
 * Tx ring frame size for an MTU: the TPACKET_V2 header up to the data (32 bytes), the
 * virtio-net header, and the largest frame, rounded up to 16 bytes.
 */
export function txRingFrameSizeFor(mtu: number): number {
  return (32 + 10 + Math.max(mtu, 1500) + L2_OVERHEAD + 15) & ~15;
}

/** Resolves the `netns` option: a bare name is one made by `ip netns add`. */
export function netnsPath(ns: string): string {
  return ns.includes('/') ? ns : `/var/run/netns/${ns}`;
}

/**
 * Completes the L4 checksum of an Ethernet frame `b[off .. off+len)` whose sender left it to
 * offload (IPv4 or IPv6 carrying TCP or UDP directly, behind up to two VLAN tags). Returns
 * true if it wrote a checksum.
 */
export function completeChecksum(b: Uint8Array, off: number, len: number): boolean {
  const end = off + len;
  let p = off + 12;
  let type = (b[p]! << 8) | b[p + 1]!;
  for (let tags = 0; (type === 0x8100 || type === 0x88a8) && tags < 2; tags++) {
    p += 4;
    if (p + 2 > end) return false;
    type = (b[p]! << 8) | b[p + 1]!;
  }
  const l3 = p + 2;
  if (type === 0x0800) {
    if (l3 + 20 > end) return false;
    const ihl = (b[l3]! & 0x0f) * 4;
    const total = (b[l3 + 2]! << 8) | b[l3 + 3]!;
    const proto = b[l3 + 9]!;
    const frag = ((b[l3 + 6]! << 8) | b[l3 + 7]!) & 0x3fff;
    if (ihl < 20 || frag !== 0 || l3 + total > end || total < ihl) return false;
    if (proto !== 6 && proto !== 17) return false;
    return setL4Checksum(b, l3, l3 + ihl, total - ihl, proto, false) >= 0;
  }
  if (type === 0x86dd) {
    if (l3 + 40 > end) return false;
    const plen = (b[l3 + 4]! << 8) | b[l3 + 5]!;
    const proto = b[l3 + 6]!;
    if ((proto !== 6 && proto !== 17) || l3 + 40 + plen > end) return false;
    return setL4Checksum(b, l3, l3 + 40, plen, proto, true) >= 0;
  }
  return false;
}

/** A kernel interface driven through one AF_PACKET socket (see the module comment). */
export class AfPacketNetdev implements Netdev {
  readonly type: string;
  private readonly native: NativeAddon;
  private readonly sock: PacketSocket;
  private closed = false;
  private readonly st: NetdevStats = newNetdevStats();
  private readonly slots: number;
  private slotSize: number;
  private rxBuf: Uint8Array;
  private readonly meta: Int32Array;
  private readonly tmpOffs: Int32Array;
  private readonly tmpLens: Int32Array;
  private readonly completeCsum: boolean;
  private readonly metaDrop: number;
  private ring: Uint8Array | undefined;
  private ringGeom: RingGeometry | undefined;
  /** After {@link enableRing}: the slot buffer for frames queued before the ring, read first. */
  private drainBuf: Uint8Array | undefined;
  /** This netdev does I/O on another's descriptor (a worker's view). */
  private readonly adopted: boolean;
  /** The datapath may call {@link enableRing} (see {@link AfPacketOptions.autoRing}). */
  readonly autoRing: boolean;
  /** The datapath may call {@link enableTxRing} (see {@link AfPacketOptions.autoTxRing}). */
  readonly autoTxRing: boolean;
  /** Owner: frames of the tx ring each worker gets (0: none yet). */
  private txFrames: number;
  /** Owner: the namespace file, for opening transmit-only sockets ('' for this one's). */
  private readonly netnsFile: string;
  private readonly sndbuf: number;
  /** The transmit-only socket: the owner's latest for a worker, or the adopted one sent on. */
  private txSock: PacketSocket | undefined;
  /** Adopted: longest frame for the mapped tx ring (0: no tx ring mapped). */
  private txMaxLen = 0;
  /** Scratch receive slot for {@link AfPacketNetdev.consumeSocketError}. */
  private readonly errBuf = new Uint8Array(ERR_SLOT);
  private readonly readiness: ReadinessArm;
  /** Called on close (the provider's registry uses it). */
  onClose: (() => void) | undefined;

  constructor(
    /** Interface name (in its namespace). */
    readonly name: string,
    opts: AfPacketOptions = {},
    type = 'afpacket',
  ) {
    this.type = type;
    this.native = loadNative();
    this.adopted = opts.adoptFd !== undefined;
    this.autoRing = (opts.autoRing ?? false) && !this.adopted && !((opts.rxRing ?? 0) > 0);
    this.txFrames = this.adopted ? 0 : Math.max(0, opts.txRing ?? 0);
    this.autoTxRing = (opts.autoTxRing ?? false) && !this.adopted && this.txFrames === 0;
    this.netnsFile = opts.netns !== undefined && opts.netns !== '' ? netnsPath(opts.netns) : '';
    this.sndbuf = opts.sndbuf ?? 0;
    const so: PacketSocketOptions = {
      promisc: opts.promisc ?? true,
      ignoreOutgoing: true,
      auxdata: true,
      qdiscBypass: opts.qdiscBypass ?? false,
      rcvbuf: opts.rcvbuf ?? DEFAULT_RCVBUF,
      sndbuf: opts.sndbuf ?? 0,
    };
    if (opts.netns !== undefined && opts.netns !== '') so.netns = netnsPath(opts.netns);
    if (opts.adoptFd !== undefined) {
      if (opts.rxRing !== undefined && opts.rxRing > 0)
        throw new RangeError(`afpacket ${name}: an adopted descriptor uses its owner's ring`);
      so.adoptFd = opts.adoptFd;
    } else if (opts.adoptRing !== undefined || opts.adoptTx !== undefined) {
      throw new RangeError(`afpacket ${name}: adoptRing and adoptTx need adoptFd`);
    }
    this.sock = new this.native.PacketSocket(name, so);
    if (opts.adoptTx !== undefined) {
      const tx = opts.adoptTx;
      const ts = new this.native.PacketSocket(name, { adoptFd: tx.fd });
      try {
        ts.mapTxRing(tx.frameSize, tx.frameCount);
      } catch (e) {
        ts.close();
        this.sock.close();
        throw e;
      }
      this.txSock = ts;
      this.txMaxLen = tx.maxLen;
    }
    // recvmmsg consumes a pending socket error; ringRecv never touches the socket, so with a
    // ring the error (set when the socket was bound to a link still down, or the link went
    // down) would stay pending and every poll would report POLLERR again: a busy loop, with
    // frames delayed, until the next send consumed the error and was dropped for it. Consume it
    // when the poll reports it.
    this.readiness = new ReadinessArm(this.sock, () => {
      if (!this.closed && this.ring !== undefined) this.consumeSocketError();
    });
    const b = opts.rxBatch ?? MAX_BURST;
    if (!Number.isInteger(b) || b < 1 || b > this.native.constants.MAX_BATCH) {
      this.sock.close();
      throw new RangeError(`afpacket ${name}: rx_batch ${b} outside 1..256`);
    }
    this.slots = b;
    const mtu = this.sock.getMtu();
    this.slotSize = slotSizeFor(mtu);
    const ringFrames = opts.rxRing ?? 0;
    const geom: RingGeometry | undefined =
      opts.adoptRing ??
      (ringFrames > 0 ? { frameSize: ringFrameSizeFor(mtu), frameCount: ringFrames } : undefined);
    if (geom !== undefined) {
      try {
        this.ring = new Uint8Array(this.sock.setupRing(geom.frameSize, geom.frameCount));
        this.ringGeom = { frameSize: geom.frameSize, frameCount: geom.frameCount };
        const pos = opts.adoptRing?.position;
        if (pos !== undefined) this.sock.ringSeek(pos);
      } catch (e) {
        this.sock.close();
        throw e;
      }
      this.rxBuf = this.ring;
    } else {
      this.rxBuf = new Uint8Array(this.slots * this.slotSize);
    }
    this.meta = new Int32Array(this.slots);
    this.tmpOffs = new Int32Array(this.slots);
    this.tmpLens = new Int32Array(this.slots);
    this.completeCsum = opts.completeChecksums ?? true;
    this.metaDrop = this.native.constants.META_TRUNCATED;
  }

  private check(): void {
    if (this.closed) throw new NetdevClosedError(this.name);
  }

  /** Bytes per receive slot (grows with the MTU). */
  get rxSlotSize(): number {
    return this.slotSize;
  }

  /** The underlying socket's file descriptor. */
  get fd(): number {
    return this.sock.fd;
  }

  etherAddr(): Uint8Array {
    this.check();
    return this.sock.getMac();
  }

  setEtherAddr(mac: Uint8Array): void {
    this.check();
    if (mac.length !== 6) throw new RangeError('an Ethernet address has 6 bytes');
    this.sock.setMac(Uint8Array.from(mac));
  }

  mtu(): number {
    this.check();
    return this.sock.getMtu();
  }

  setMtu(mtu: number): void {
    this.check();
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new RangeError(`bad MTU ${mtu}`);
    this.sock.setMtu(mtu);
    this.resizeSlots(mtu);
  }

  /** True when receiving through a TPACKET_V2 ring. */
  get usesRing(): boolean {
    return this.ring !== undefined;
  }

  /**
   * Starts receiving through a TPACKET_V2 ring of `frameCount` frames sized for the current MTU
   * on the open socket (the automatic ring). Frames the socket queued before are still read
   * first, through the slot buffer. The caller must have stopped any other reader of the
   * socket (a worker: take the port back first) and hands it out again afterwards, once
   * recvBatch has returned 0 (the queued frames are then gone). Returns false when this netdev
   * cannot: closed, adopted, or a ring already. Throws what the addon throws when the kernel
   * refuses the ring (the socket is unchanged then).
   */
  enableRing(frameCount: number): boolean {
    if (this.closed || this.adopted || this.ring !== undefined) return false;
    const geom: RingGeometry = { frameSize: ringFrameSizeFor(this.sock.getMtu()), frameCount };
    this.ring = new Uint8Array(this.sock.setupRing(geom.frameSize, geom.frameCount));
    this.ringGeom = geom;
    this.drainBuf = this.rxBuf;
    this.rxBuf = this.ring;
    cRingAuto.inc();
    return true;
  }

  /** True after {@link enableRing} until recvBatch has read what the socket queued before it. */
  get queuedBeforeRing(): boolean {
    return this.drainBuf !== undefined;
  }

  /** The frame size {@link enableRing} would use now. */
  ringFrameSize(): number {
    return ringFrameSizeFor(this.sock.getMtu());
  }

  /**
   * Owner: from the next {@link workerConfig} on, the worker sends through a tx ring of
   * `frameCount` frames (see the module comment). False when this netdev cannot (closed,
   * adopted) or has one already.
   */
  enableTxRing(frameCount: number): boolean {
    if (this.closed || this.adopted || this.txFrames > 0) return false;
    this.txFrames = frameCount;
    cTxRingAuto.inc();
    return true;
  }

  /** Owner: workers get a tx ring. Adopted: this netdev sends through one. */
  get usesTxRing(): boolean {
    return this.adopted ? this.txMaxLen > 0 : this.txFrames > 0;
  }

  /**
   * Owner: a new transmit-only socket with a tx ring for the next reader (the previous one's
   * socket, which that reader no longer uses, is closed), or undefined when the kernel refuses
   * (then the reader uses sendmmsg, and this netdev stops trying).
   */
  private newTxRing(): TxRingHandover | undefined {
    this.txSock?.close();
    this.txSock = undefined;
    const mtu = this.sock.getMtu();
    const frameSize = txRingFrameSizeFor(mtu);
    let ts: PacketSocket | undefined;
    try {
      const so: PacketSocketOptions = { txOnly: true, sndbuf: this.sndbuf };
      if (this.netnsFile !== '') so.netns = this.netnsFile;
      ts = new this.native.PacketSocket(this.name, so);
      const frameCount = ts.createTxRing(frameSize, this.txFrames);
      this.txSock = ts;
      return { fd: ts.fd, frameSize, frameCount, maxLen: mtu + 14 + 4 };
    } catch {
      ts?.close();
      this.txFrames = 0;
      cTxRingRefused.inc();
      return undefined;
    }
  }

  private resizeSlots(mtu: number): void {
    if (this.ring !== undefined) return; // fixed at open
    const s = slotSizeFor(mtu);
    if (s <= this.slotSize) return;
    this.slotSize = s;
    this.rxBuf = new Uint8Array(this.slots * s);
  }

  carrier(): boolean {
    this.check();
    const f = this.sock.getFlags();
    const c = this.native.constants;
    if ((f & c.IFF_UP) === 0) return false;
    const link = this.sock.getLink();
    return link < 0 ? (f & c.IFF_RUNNING) !== 0 : link === 1;
  }

  /** True when the interface is administratively up (IFF_UP). */
  isUp(): boolean {
    this.check();
    return (this.sock.getFlags() & this.native.constants.IFF_UP) !== 0;
  }

  /** Sets the interface administratively up or down. */
  setUp(up: boolean): void {
    this.check();
    const f = this.native.constants.IFF_UP;
    this.sock.setFlags(up ? f : 0, up ? 0 : f);
  }

  ifindex(): number {
    this.check();
    return this.sock.ifindex;
  }

  stats(): NetdevStats {
    this.check();
    this.pullKernelDrops();
    return { ...this.st };
  }

  /**
   * The counters kept here, without reading the kernel's drop counter (which resets on read and
   * belongs to the socket's owner). A datapath worker reports deltas of these to the owner.
   */
  localStats(): NetdevStats {
    return { ...this.st };
  }

  /**
   * Adds counter deltas measured elsewhere (a datapath worker thread doing this socket's I/O
   * through an adopted descriptor) to this netdev's counters.
   */
  addStats(delta: Readonly<Partial<NetdevStats>>): void {
    addNetdevStats(this.st, delta);
  }

  /**
   * What a datapath worker needs to take this socket's receive over, or undefined when closed.
   * The caller must stop reading this netdev first: with a ring, the frames this netdev handed
   * out last go back to the kernel here, and the worker maps the same ring and finds the read
   * position itself. When the worker gives the port back, call {@link resumeReceive}.
   */
  workerConfig(): AfPacketWorkerConfig | undefined {
    if (this.closed) return undefined;
    const base = {
      name: this.name,
      fd: this.sock.fd,
      rxBatch: this.slots,
      completeChecksums: this.completeCsum,
    };
    const tx = this.txFrames > 0 ? this.newTxRing() : undefined;
    const withTx = tx === undefined ? base : { ...base, tx };
    if (this.ringGeom === undefined) return withTx;
    this.sock.ringRelease();
    return { ...withTx, ring: { ...this.ringGeom, position: this.sock.ringPosition() } };
  }

  /**
   * With a ring: the frame the next recvBatch reads first (after those it handed out last),
   * which another reader taking this socket over starts from; undefined without a ring.
   */
  ringPosition(): number | undefined {
    return this.closed || this.ring === undefined ? undefined : this.sock.ringPosition();
  }

  /**
   * Takes receive back after another reader of this socket (a worker thread) stopped: with a
   * ring, reading goes on from `position`, the other reader's {@link ringPosition} when it
   * said it; without one (it died) the read position is looked for again.
   */
  resumeReceive(position?: number): void {
    if (this.closed || this.ring === undefined) return;
    if (position === undefined) this.sock.ringResync();
    else this.sock.ringSeek(position);
  }

  private pullKernelDrops(): void {
    const [, drops] = this.sock.statistics();
    this.st.rxDropped += drops;
  }

  recvBatch(batch: FrameBatch, max: number): number {
    this.check();
    const lim = Math.min(max, batch.bufs.length, batch.offs.length, this.slots);
    if (lim <= 0) {
      batch.count = 0;
      return 0;
    }
    const offs = this.tmpOffs;
    const lens = this.tmpLens;
    const meta = this.meta;
    const c = this.native.constants;
    for (;;) {
      // Frames queued before an automatic ring came come first, from the socket's queue.
      const drain = this.drainBuf;
      const queued = drain !== undefined;
      const buf = drain ?? this.rxBuf;
      let n: number;
      try {
        n =
          this.ring !== undefined && !queued
            ? this.sock.ringRecv(lim, offs, lens, meta)
            : this.sock.recv(buf, this.slotSize, RX_HEADROOM, lim, offs, lens, meta);
      } catch (e) {
        // The link went down (or was down when the socket was bound): the kernel reports it once
        // as ENETDOWN/ENXIO. Count it and wait for the next readiness event, as for "no data".
        const code = (e as { code?: string }).code;
        if (
          code === 'ENETDOWN' ||
          code === 'ENXIO' ||
          /Network is down|No such device or address/.test((e as Error).message)
        ) {
          this.st.rxErrors++;
          batch.count = 0;
          this.rearm();
          return 0;
        }
        throw e;
      }
      if (n === 0) {
        if (queued) {
          this.drainBuf = undefined; // the queue is empty: the ring from now on
          continue;
        }
        batch.count = 0;
        this.rearm();
        return 0;
      }
      let k = 0;
      let truncated = false;
      for (let i = 0; i < n; i++) {
        const m = meta[i]!;
        if ((m & this.metaDrop) !== 0) {
          truncated = true;
          this.st.rxDropped++;
          cRxTruncated.inc();
          continue;
        }
        if ((m & c.META_PKTTYPE_MASK) === c.PACKET_OUTGOING) {
          cRxOutgoing.inc();
          continue;
        }
        const o = offs[i]!;
        const len = lens[i]!;
        if ((m & c.META_VLAN_RESTORED) !== 0) cRxVlanRestored.inc();
        if ((m & c.META_CSUM_NOT_READY) !== 0 && this.completeCsum) {
          if (completeChecksum(buf, o, len)) cRxCsumCompleted.inc();
        }
        batch.bufs[k] = buf;
        batch.offs[k] = o;
        batch.lens[k] = len;
        this.st.rxPackets++;
        this.st.rxBytes += len;
        k++;
      }
      // Slots grow to the interface's current MTU for the next call (frames already handed
      // out above stay in the old buffer, which the batch still references).
      if (truncated) this.resizeSlots(this.sock.getMtu());
      if (k > 0) {
        batch.count = k;
        return k;
      }
    }
  }

  /**
   * Clears a pending socket error with one non-blocking recv (ring mode, where nothing else
   * reads the socket); counted in rxErrors as recvBatch counts it without a ring. Called on
   * readiness by this netdev itself, and by a worker thread reading an adopted ring socket
   * whose poll reports readiness with no frame ready.
   */
  consumeSocketError(): void {
    if (this.closed) return;
    try {
      this.sock.recv(this.errBuf, ERR_SLOT, RX_HEADROOM, 1, this.tmpOffs, this.tmpLens, this.meta);
    } catch {
      this.st.rxErrors++;
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
    const bufs = batch.bufs;
    const b0 = bufs[0]!;
    let same = true;
    for (let i = 1; i < n; i++) {
      if (bufs[i] !== b0) {
        same = false;
        break;
      }
    }
    const frames = same ? b0 : bufs;
    let sent = 0;
    if (this.txMaxLen > 0) {
      // Through the tx ring; what it did not take (too long, ring busy) by sendmmsg after it.
      const ts = this.txSock!;
      sent = ts.txRingSend(frames, batch.offs, batch.lens, n, this.txMaxLen);
      this.st.txBytes += ts.lastSentBytes;
      if (sent < n) {
        cTxRingFallback.inc(n - sent);
        sent += this.sock.send(frames, batch.offs, batch.lens, n, sent);
        this.st.txBytes += this.sock.lastSentBytes;
      }
    } else {
      sent = this.sock.send(frames, batch.offs, batch.lens, n);
      this.st.txBytes += this.sock.lastSentBytes;
    }
    this.st.txPackets += sent;
    if (sent < n) {
      this.st.txDropped += n - sent;
      cTxRefused.inc(n - sent);
    }
    return sent;
  }

  /** errno of the last frame the kernel refused on transmit (0 if none), for diagnostics. */
  get lastTxErrno(): number {
    return this.sock.lastErrno;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.readiness.reset();
    this.txSock?.close();
    this.txSock = undefined;
    this.sock.close();
    this.onClose?.();
  }

  /** True after close(). */
  get isClosed(): boolean {
    return this.closed;
  }
}

function parseBool(v: string | undefined, key: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new RangeError(`option ${key}: expected true or false, got ${v}`);
}

function parseInt32(v: string | undefined, key: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n > 0x7fffffff)
    throw new RangeError(`option ${key}: expected a non-negative integer, got ${v}`);
  return n;
}

/** Parses Interface.options strings into {@link AfPacketOptions} (throws RangeError on junk). */
export function parseAfPacketOptions(o: Readonly<Record<string, string>>): AfPacketOptions {
  const r: AfPacketOptions = {};
  if (o.netns !== undefined) r.netns = o.netns;
  const b = parseInt32(o.rx_batch, 'rx_batch');
  if (b !== undefined) r.rxBatch = b;
  const rb = parseInt32(o.rcvbuf, 'rcvbuf');
  if (rb !== undefined) r.rcvbuf = rb;
  const sb = parseInt32(o.sndbuf, 'sndbuf');
  if (sb !== undefined) r.sndbuf = sb;
  const p = parseBool(o.promisc, 'promisc');
  if (p !== undefined) r.promisc = p;
  const q = parseBool(o.qdisc_bypass, 'qdisc_bypass');
  if (q !== undefined) r.qdiscBypass = q;
  if (o.rx_ring === 'auto') r.autoRing = true;
  else {
    const ring = parseInt32(o.rx_ring, 'rx_ring');
    if (ring !== undefined) r.rxRing = ring;
  }
  if (o.tx_ring === 'auto') r.autoTxRing = true;
  else {
    const ring = parseInt32(o.tx_ring, 'tx_ring');
    if (ring !== undefined) r.txRing = ring;
  }
  if (o.csum !== undefined) {
    if (o.csum !== 'complete' && o.csum !== 'pass')
      throw new RangeError(`option csum: expected complete or pass, got ${o.csum}`);
    r.completeChecksums = o.csum === 'complete';
  }
  return r;
}

/**
 * The rx ring frames of an interface whose options do not say (`rx_ring`): the
 * `TSVS_RX_RING` environment variable (0: recvmmsg only), else undefined (`auto`).
 */
export function defaultRxRing(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env.TSVS_RX_RING;
  if (v === undefined || v === '' || v === 'auto') return undefined;
  return parseInt32(v, 'TSVS_RX_RING') ?? 0;
}

/**
 * The tx ring frames of an interface whose options do not say (`tx_ring`): the
 * `TSVS_TX_RING` environment variable (0: sendmmsg only), else undefined (`auto`).
 */
export function defaultTxRing(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env.TSVS_TX_RING;
  if (v === undefined || v === '' || v === 'auto') return undefined;
  return parseInt32(v, 'TSVS_TX_RING') ?? 0;
}

const openNetdevs = new Map<string, AfPacketNetdev>();

function makeClass(type: string): NetdevClass {
  return {
    type,
    open(name: string, options: Readonly<Record<string, string>> = {}): Netdev {
      const opts = parseAfPacketOptions(options);
      if (opts.rxRing === undefined && opts.autoRing === undefined) {
        // Interface options say nothing: TSVS_RX_RING when set (0: never a ring), else auto.
        const d = defaultRxRing();
        if (d === undefined) opts.autoRing = true;
        else if (d > 0) opts.rxRing = d;
      }
      if (opts.txRing === undefined && opts.autoTxRing === undefined) {
        const d = defaultTxRing();
        if (d === undefined) opts.autoTxRing = true;
        else if (d > 0) opts.txRing = d;
      }
      const key = `${opts.netns ?? ''}\0${name}`;
      if (openNetdevs.has(key)) throw new Error(`netdev ${name} is already open`);
      const n = new AfPacketNetdev(name, opts, type);
      openNetdevs.set(key, n);
      n.onClose = () => {
        if (openNetdevs.get(key) === n) openNetdevs.delete(key);
      };
      return n;
    },
  };
}

/** The `afpacket` provider: kernel interfaces through AF_PACKET sockets. */
export const afpacketNetdevClass: NetdevClass = makeClass('afpacket');

/**
 * The `system` provider (OVS's name for kernel interfaces; with the userspace datapath OVS
 * drives them through AF_PACKET too). Same implementation and registry as `afpacket`.
 */
export const systemNetdevClass: NetdevClass = makeClass('system');

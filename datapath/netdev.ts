/**
 * The network-device provider interface, after OVS's netdev-provider.h: a {@link NetdevClass}
 * opens {@link Netdev}s of one type (`dummy`, `afpacket`, …); the datapath moves frames through
 * them in batches described by a {@link FrameBatch}, so that a provider backed by shared memory
 * (an AF_PACKET ring) and one backed by JS arrays (the dummy) look the same and neither the
 * receive nor the transmit path needs an allocation per frame.
 *
 * Every provider must pass the shared conformance suite in
 * tests/unit/datapath/netdev-conformance.ts.
 */

/** A batch of frames: frame i is `bufs[i][offs[i] .. offs[i] + lens[i])`. Reused across calls. */
export interface FrameBatch {
  /** Number of frames in the batch (≤ capacity). */
  count: number;
  /** Buffer holding each frame (several frames may share one buffer). */
  readonly bufs: Uint8Array[];
  /** Offset of each frame within its buffer. */
  readonly offs: Int32Array;
  /** Length in bytes of each frame. */
  readonly lens: Int32Array;
}

/** Largest batch the datapath asks for or hands out (as OVS's NETDEV_MAX_BURST). */
export const MAX_BURST = 32;

/** A new, empty batch able to hold `capacity` frames. */
export function newFrameBatch(capacity = MAX_BURST): FrameBatch {
  return {
    count: 0,
    bufs: new Array<Uint8Array>(capacity).fill(EMPTY),
    offs: new Int32Array(capacity),
    lens: new Int32Array(capacity),
  };
}

const EMPTY = new Uint8Array(0);

/** Interface counters (OVS's netdev_stats subset shown by dpctl/show -s). */
export interface NetdevStats {
  /** Frames received and handed to the datapath. */
  rxPackets: number;
  /** Bytes of those frames. */
  rxBytes: number;
  /** Frames dropped on receive (queue full, too short, truncated). */
  rxDropped: number;
  /** Receive errors reported by the device. */
  rxErrors: number;
  /** Frames transmitted. */
  txPackets: number;
  /** Bytes transmitted. */
  txBytes: number;
  /** Frames dropped on transmit (queue full, link down, too big for the MTU). */
  txDropped: number;
  /** Transmit errors reported by the device. */
  txErrors: number;
}

/** A zeroed {@link NetdevStats}. */
export function newNetdevStats(): NetdevStats {
  return {
    rxPackets: 0,
    rxBytes: 0,
    rxDropped: 0,
    rxErrors: 0,
    txPackets: 0,
    txBytes: 0,
    txDropped: 0,
    txErrors: 0,
  };
}

/** Adds the counters in `delta` (absent ones count 0) to `st`. */
export function addNetdevStats(st: NetdevStats, delta: Readonly<Partial<NetdevStats>>): void {
  st.rxPackets += delta.rxPackets ?? 0;
  st.rxBytes += delta.rxBytes ?? 0;
  st.rxDropped += delta.rxDropped ?? 0;
  st.rxErrors += delta.rxErrors ?? 0;
  st.txPackets += delta.txPackets ?? 0;
  st.txBytes += delta.txBytes ?? 0;
  st.txDropped += delta.txDropped ?? 0;
  st.txErrors += delta.txErrors ?? 0;
}

/** An open network device. */
export interface Netdev {
  /** Device name, unique among open netdevs of the process (e.g. `p1`, `veth0`). */
  readonly name: string;
  /** Provider type, equal to the {@link NetdevClass.type} that opened it. */
  readonly type: string;
  /** The device's Ethernet address as 6 bytes (a fresh copy the caller may keep). */
  etherAddr(): Uint8Array;
  /** Changes the Ethernet address; throws if the provider cannot. */
  setEtherAddr(mac: Uint8Array): void;
  /** MTU in bytes (payload after the Ethernet header); frames longer than MTU + 18 are dropped on send. */
  mtu(): number;
  /** Sets the MTU; throws a RangeError outside 68..65535 or if the provider cannot. */
  setMtu(mtu: number): void;
  /** True when the link is up (carrier detected). */
  carrier(): boolean;
  /** Kernel interface index, or 0 when the device has none. */
  ifindex(): number;
  /** A snapshot of the counters (a fresh object). */
  stats(): NetdevStats;
  /**
   * Receives up to `max` frames (at most `batch` capacity) into `batch`, setting `batch.count`,
   * and returns that count (0 when nothing is waiting; never blocks). The frames stay valid
   * until the next `recvBatch` call on this netdev or `close()`; a caller that keeps a frame
   * longer copies it. Counted in rxPackets/rxBytes.
   */
  recvBatch(batch: FrameBatch, max: number): number;
  /**
   * Registers `cb` (replacing any previous one; undefined removes it) to be called, never
   * synchronously inside another netdev call, when frames become available to `recvBatch`
   * after it returned 0 or after registration while frames are waiting.
   */
  onReadable(cb: (() => void) | undefined): void;
  /**
   * Transmits the `batch.count` frames of `batch`. The bytes are consumed (copied or sent)
   * before this returns, so the caller may reuse the buffers at once. Returns the number of
   * frames accepted; the others are counted in txDropped (link down, queue full, too big).
   */
  sendBatch(batch: FrameBatch): number;
  /** Releases the device; any later call other than `close` throws. Idempotent. */
  close(): void;
}

/** A provider of netdevs of one type. */
export interface NetdevClass {
  /** Type name as in the OVSDB Interface.type column (`dummy`, `system`, `afpacket`, …). */
  readonly type: string;
  /**
   * Opens (creating if the provider creates devices) the device `name` with provider options
   * (Interface.options). Throws if the name is already open or the device cannot be opened.
   */
  open(name: string, options?: Readonly<Record<string, string>>): Netdev;
}

/** Error thrown by a closed netdev. */
export class NetdevClosedError extends Error {
  constructor(name: string) {
    super(`netdev ${name} is closed`);
    this.name = 'NetdevClosedError';
  }
}

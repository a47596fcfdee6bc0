/**
 * Datapath packets: a frame copied into a pooled buffer with headroom (so VLAN and MPLS pushes
 * never reallocate), its flow key and header offsets, and a reference count so one packet can
 * sit in several output queues at once. The pool hands packets out and takes them back without
 * allocating once warm.
 */
import { LAYER_COUNT, extractFlowKey } from '../lib/packet/extract.js';
import type { PacketMeta } from '../lib/packet/extract.js';
import { newFlowKey, type FlowKey } from '../lib/packet/flow-key.js';
import { copyBytes } from './netdev-dummy.js';
import type { FrameBatch } from './netdev.js';

/** Bytes kept free in front of every frame for pushed headers. */
export const HEADROOM = 128;
/** Default buffer size of pooled packets (headroom included). */
export const PACKET_BUF = HEADROOM + 2048;

/** One packet inside the datapath. */
export class DpPacket {
  /** Buffer holding the frame at `[start, start + len)`. */
  buf: Uint8Array;
  /** Offset of the first byte of the Ethernet header. */
  start = HEADROOM;
  /** Frame length in bytes. */
  len = 0;
  /** Number of holders (the executor and output queues); back to the pool at 0. */
  refs = 0;
  /** The flow key of the frame as last parsed (see {@link DpPacket.parse}). */
  readonly key: FlowKey = newFlowKey();
  /** Absolute header offsets in `buf` from the last parse (lib/packet/extract.ts LAYER). */
  readonly layers = new Int32Array(LAYER_COUNT);
  /** False after a change that moved headers (MPLS push/pop): parse again before use. */
  layersValid = false;
  /** Metadata used when parsing (in_port is separate). */
  readonly meta: Required<PacketMeta> = {
    inPhyPort: 0,
    metadataHi: 0,
    metadataLo: 0,
    tunnelIdHi: 0,
    tunnelIdLo: 0,
    recircId: 0,
    dpHash: 0,
    skbPriority: 0,
    pktMark: 0,
  };
  /** Datapath input port. */
  inPort = 0;
  /** Recirculation depth (loop guard). */
  depth = 0;

  constructor(size = PACKET_BUF) {
    this.buf = new Uint8Array(size);
  }

  /** Copies a frame in, placing it after the headroom (growing the buffer if needed). */
  load(src: Uint8Array, off: number, len: number): void {
    if (this.buf.length < HEADROOM + len) this.buf = new Uint8Array(HEADROOM + len);
    this.start = HEADROOM;
    this.len = len;
    copyBytes(src, off, this.buf, HEADROOM, len);
    this.layersValid = false;
  }

  /**
   * {@link load}s a frame already parsed where it lies, `src[off, off + len)`: its key and
   * header offsets (`layers`, absolute in `src`) are taken over instead of parsing again.
   */
  loadParsed(src: Uint8Array, off: number, len: number, key: FlowKey, layers: Int32Array): void {
    this.load(src, off, len);
    this.key.set(key);
    const d = this.start - off;
    for (let i = 0; i < LAYER_COUNT; i++) {
      const v = layers[i]!;
      this.layers[i] = v >= 0 ? v + d : v;
    }
    this.layersValid = true;
  }

  /** Re-extracts {@link DpPacket.key} and {@link DpPacket.layers} from the bytes. */
  parse(): void {
    extractFlowKey(this.buf, this.start, this.len, this.inPort, this.key, this.meta, this.layers);
    this.layersValid = true;
  }

  /** Makes sure there are `n` bytes of headroom in front of the frame (moving it if needed). */
  ensureHeadroom(n: number): void {
    if (this.start >= n) return;
    const nb = new Uint8Array(Math.max(this.buf.length, HEADROOM + this.len) + HEADROOM);
    copyBytes(this.buf, this.start, nb, HEADROOM, this.len);
    const delta = HEADROOM - this.start;
    this.buf = nb;
    this.start = HEADROOM;
    for (let i = 0; i < LAYER_COUNT; i++) if (this.layers[i]! >= 0) this.layers[i]! += delta;
  }

  /** A copy of the frame bytes (allocates; for the slow path). */
  bytes(): Uint8Array {
    return this.buf.slice(this.start, this.start + this.len);
  }
}

/** A free list of {@link DpPacket}s. */
export class PacketPool {
  private readonly free: DpPacket[] = [];
  /** Packets created so far (grows only when the pool runs dry). */
  created = 0;

  constructor(prealloc = 256) {
    for (let i = 0; i < prealloc; i++) this.free.push(new DpPacket());
    this.created = prealloc;
  }

  /** A packet with refs = 1 and zeroed metadata. */
  get(): DpPacket {
    let p = this.free.pop();
    if (p === undefined) {
      p = new DpPacket();
      this.created++;
    }
    p.refs = 1;
    p.depth = 0;
    const m = p.meta;
    m.inPhyPort = m.metadataHi = m.metadataLo = m.tunnelIdHi = m.tunnelIdLo = 0;
    m.recircId = m.dpHash = m.skbPriority = m.pktMark = 0;
    return p;
  }

  /** Drops one reference; the packet returns to the pool when none is left. */
  release(p: DpPacket): void {
    if (--p.refs === 0) this.free.push(p);
  }

  /** A new packet (refs = 1) holding a copy of `p`'s frame, metadata and parse state. */
  clone(p: DpPacket): DpPacket {
    const c = this.get();
    c.load(p.buf, p.start, p.len);
    c.inPort = p.inPort;
    c.depth = p.depth;
    Object.assign(c.meta, p.meta);
    c.key.set(p.key);
    if (p.layersValid) {
      const delta = c.start - p.start;
      for (let i = 0; i < p.layers.length; i++) {
        const v = p.layers[i]!;
        c.layers[i] = v >= 0 ? v + delta : -1;
      }
      c.layersValid = true;
    }
    return c;
  }

  /** Packets currently in the free list. */
  get available(): number {
    return this.free.length;
  }
}

/**
 * Points `batch` at the first `n` packets of `pkts` (frame i = pkts[i]'s bytes, no copy) and
 * sets its count: how a port's queued outputs become one sendBatch.
 */
export function loadFrameBatch(pkts: readonly DpPacket[], n: number, batch: FrameBatch): void {
  for (let i = 0; i < n; i++) {
    const p = pkts[i]!;
    batch.bufs[i] = p.buf;
    batch.offs[i] = p.start;
    batch.lens[i] = p.len;
  }
  batch.count = n;
}

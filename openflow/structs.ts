/**
 * Structures shared by several messages: `ofp_port`, group buckets, meter bands and queue
 * descriptions, each with its decoder and encoder.
 */
import type { Reader, Writer } from './bytes.js';
import { actionsLength, decodeActions, encodeActions, type Action } from './actions.js';
import { OfpError } from './errors.js';
import { readLayout, writeLayout, type Layout } from './layout.js';

/** `ofp_port` (64 bytes). */
export interface Port {
  /** Port number. */
  portNo: number;
  /** MAC address as a 48-bit number. */
  hwAddr: number;
  /** Name (at most 15 bytes on the wire). */
  name: string;
  /** OFPPC_* bits. */
  config: number;
  /** OFPPS_* bits. */
  state: number;
  /** Current features (OFPPF_*). */
  curr: number;
  /** Advertised features. */
  advertised: number;
  /** Supported features. */
  supported: number;
  /** Peer's advertised features. */
  peer: number;
  /** Current speed in kbps. */
  currSpeed: number;
  /** Maximum speed in kbps. */
  maxSpeed: number;
}

/** Layout of `ofp_port`. */
export const PORT_LAYOUT: Layout = [
  ['portNo', 'u32'],
  4,
  ['hwAddr', 'u48'],
  2,
  ['name', 's16'],
  ['config', 'u32'],
  ['state', 'u32'],
  ['curr', 'u32'],
  ['advertised', 'u32'],
  ['supported', 'u32'],
  ['peer', 'u32'],
  ['currSpeed', 'u32'],
  ['maxSpeed', 'u32'],
];
/** Size of `ofp_port`. */
export const PORT_LEN = 64;

/** Reads an `ofp_port`. */
export function decodePort(r: Reader): Port {
  const o: Record<string, unknown> = {};
  readLayout(r, PORT_LAYOUT, o);
  return o as unknown as Port;
}

/** Writes an `ofp_port`. */
export function encodePort(w: Writer, p: Port): void {
  writeLayout(w, PORT_LAYOUT, p);
}

/** A group bucket (`ofp_bucket`). */
export interface Bucket {
  /** Relative weight (SELECT groups). */
  weight: number;
  /** Watched port (FF groups), OFPP_ANY if none. */
  watchPort: number;
  /** Watched group (FF groups), OFPG_ANY if none. */
  watchGroup: number;
  /** The bucket's actions. */
  actions: Action[];
}

/** Decodes buckets in `r[pos, end)`; malformed lengths → OFPGMFC_BAD_BUCKET. */
export function decodeBuckets(r: Reader, end: number): Bucket[] {
  const out: Bucket[] = [];
  while (r.pos < end) {
    if (end - r.pos < 16) throw new OfpError('OFPGMFC_BAD_BUCKET', 'partial bucket');
    const start = r.pos;
    const len = r.u16();
    if (len < 16 || len % 8 !== 0 || start + len > end) {
      throw new OfpError('OFPGMFC_BAD_BUCKET', `bucket length ${len}`);
    }
    const weight = r.u16();
    const watchPort = r.u32();
    const watchGroup = r.u32();
    r.skip(4);
    const actions = decodeActions(r, start + len);
    out.push({ weight, watchPort, watchGroup, actions });
  }
  return out;
}

/** Wire length of a bucket list. */
export function bucketsLength(list: readonly Bucket[]): number {
  let n = 0;
  for (const b of list) n += 16 + actionsLength(b.actions);
  return n;
}

/** Encodes a bucket list. */
export function encodeBuckets(w: Writer, list: readonly Bucket[]): void {
  for (const b of list) {
    const start = w.pos;
    w.u16(0);
    w.u16(b.weight);
    w.u32(b.watchPort);
    w.u32(b.watchGroup);
    w.zeros(4);
    encodeActions(w, b.actions);
    w.setU16(start, w.pos - start);
  }
}

/** A meter band. */
export type MeterBand =
  | { type: 'DROP'; rate: number; burstSize: number }
  | { type: 'DSCP_REMARK'; rate: number; burstSize: number; precLevel: number }
  | {
      type: 'EXPERIMENTER';
      rate: number;
      burstSize: number;
      experimenter: number;
      data: Uint8Array;
    };

/** Decodes meter bands in `r[pos, end)`; unknown type or bad length → OFPMMFC_BAD_BAND. */
export function decodeBands(r: Reader, end: number): MeterBand[] {
  const out: MeterBand[] = [];
  while (r.pos < end) {
    if (end - r.pos < 16) throw new OfpError('OFPMMFC_BAD_BAND', 'partial band');
    const start = r.pos;
    const type = r.u16();
    const len = r.u16();
    if (len < 16 || len % 8 !== 0 || start + len > end) {
      throw new OfpError('OFPMMFC_BAD_BAND', `band length ${len}`);
    }
    const rate = r.u32();
    const burstSize = r.u32();
    if (type === 1 && len === 16) {
      out.push({ type: 'DROP', rate, burstSize });
    } else if (type === 2 && len === 16) {
      const precLevel = r.u8();
      out.push({ type: 'DSCP_REMARK', rate, burstSize, precLevel });
    } else if (type === 0xffff) {
      const experimenter = r.u32();
      out.push({
        type: 'EXPERIMENTER',
        rate,
        burstSize,
        experimenter,
        data: r.bytes(start + len - r.pos),
      });
    } else {
      throw new OfpError('OFPMMFC_BAD_BAND', `band type ${type} length ${len}`);
    }
    r.pos = start + len;
  }
  return out;
}

/** Wire length of one band. */
export function bandLength(b: MeterBand): number {
  return b.type === 'EXPERIMENTER' ? (16 + b.data.length + 7) & ~7 : 16;
}

/** Encodes meter bands. */
export function encodeBands(w: Writer, list: readonly MeterBand[]): void {
  for (const b of list) {
    const start = w.pos;
    w.u16(b.type === 'DROP' ? 1 : b.type === 'DSCP_REMARK' ? 2 : 0xffff);
    w.u16(bandLength(b));
    w.u32(b.rate);
    w.u32(b.burstSize);
    if (b.type === 'DROP') w.zeros(4);
    else if (b.type === 'DSCP_REMARK') {
      w.u8(b.precLevel);
      w.zeros(3);
    } else {
      w.u32(b.experimenter);
      w.bytes(b.data);
      w.pad8(start);
    }
  }
}

/** A queue property of OFPT_QUEUE_GET_CONFIG_REPLY. */
export type QueueProp =
  | { type: 'MIN_RATE'; rate: number }
  | { type: 'MAX_RATE'; rate: number }
  | { type: 'EXPERIMENTER'; experimenter: number; data: Uint8Array };

/** `ofp_packet_queue`. */
export interface PacketQueue {
  /** Queue id. */
  queueId: number;
  /** Port it is attached to. */
  port: number;
  /** Properties. */
  properties: QueueProp[];
}

/** Decodes queues in `r[pos, end)`. */
export function decodeQueues(r: Reader, end: number): PacketQueue[] {
  const out: PacketQueue[] = [];
  while (r.pos < end) {
    const start = r.pos;
    const queueId = r.u32();
    const port = r.u32();
    const len = r.u16();
    if (len < 16 || start + len > end) throw new OfpError('OFPBRC_BAD_LEN', `queue len ${len}`);
    r.skip(6);
    const properties: QueueProp[] = [];
    while (r.pos < start + len) {
      const ps = r.pos;
      const type = r.u16();
      const plen = r.u16();
      if (plen < 8 || ps + plen > start + len) {
        throw new OfpError('OFPBRC_BAD_LEN', `queue prop len ${plen}`);
      }
      r.skip(4);
      if ((type === 1 || type === 2) && plen === 16) {
        const rate = r.u16();
        properties.push({ type: type === 1 ? 'MIN_RATE' : 'MAX_RATE', rate });
      } else if (type === 0xffff && plen >= 16) {
        const experimenter = r.u32();
        r.skip(4);
        properties.push({ type: 'EXPERIMENTER', experimenter, data: r.bytes(ps + plen - r.pos) });
      } else {
        throw new OfpError('OFPBRC_BAD_LEN', `queue prop type ${type}`);
      }
      r.pos = ps + plen;
    }
    out.push({ queueId, port, properties });
  }
  return out;
}

/** Encodes queues. */
export function encodeQueues(w: Writer, list: readonly PacketQueue[]): void {
  for (const q of list) {
    const start = w.pos;
    w.u32(q.queueId);
    w.u32(q.port);
    w.u16(0);
    w.zeros(6);
    for (const p of q.properties) {
      const ps = w.pos;
      w.u16(p.type === 'MIN_RATE' ? 1 : p.type === 'MAX_RATE' ? 2 : 0xffff);
      w.u16(0);
      w.zeros(4);
      if (p.type === 'EXPERIMENTER') {
        w.u32(p.experimenter);
        w.zeros(4);
        w.bytes(p.data);
        w.pad8(ps);
      } else {
        w.u16(p.rate);
        w.zeros(6);
      }
      w.setU16(ps + 2, w.pos - ps);
    }
    w.setU16(start + 8, w.pos - start);
  }
}

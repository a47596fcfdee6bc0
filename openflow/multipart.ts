/**
 * Multipart (stats) request and reply bodies for every OpenFlow 1.3 type 0–13 plus experimenter,
 * and the REPLY_MORE splitting helper. Body codecs are tables keyed by multipart type name; list
 * bodies have one entry codec each, which the splitter uses to keep every message ≤ 64 KiB.
 * Malformed bodies → OFPBRC_BAD_LEN; an unknown multipart type → OFPBRC_BAD_MULTIPART.
 */
import type { Reader, Writer } from './bytes.js';
import { Writer as W, withWriter } from './bytes.js';
import { OFPMP, OFPMPF_REPLY_MORE, OFP_MAX_MSG_LEN, type OfpmpName } from './constants.js';
import { OfpError } from './errors.js';
import { decodeInstructions, encodeInstructions, type Instruction } from './instructions.js';
import { layoutSize, readLayout, writeLayout, type Layout } from './layout.js';
import { decodeMatch, encodeMatch, type Match } from './oxm.js';
import {
  PORT_LEN,
  decodeBands,
  decodeBuckets,
  decodePort,
  encodeBands,
  encodeBuckets,
  encodePort,
  type Bucket,
  type MeterBand,
  type Port,
} from './structs.js';
import { decodeTableFeatures, encodeTableFeatures, type TableFeatures } from './table-features.js';

/** Body of OFPMP_FLOW / OFPMP_AGGREGATE requests. */
export interface FlowStatsRequestBody {
  /** Table to read, or OFPTT_ALL. */
  tableId: number;
  /** Require an output to this port (OFPP_ANY: no filter). */
  outPort: number;
  /** Require an output to this group (OFPG_ANY: no filter). */
  outGroup: number;
  /** Cookie value to match under `cookieMask`. */
  cookie: bigint;
  /** Cookie bits to compare (0: all flows). */
  cookieMask: bigint;
  /** Match filter (non-strict). */
  match: Match;
}

/** Multipart request bodies, discriminated on `mpType`. */
export type MultipartRequestBody =
  | { mpType: 'DESC' }
  | ({ mpType: 'FLOW' } & FlowStatsRequestBody)
  | ({ mpType: 'AGGREGATE' } & FlowStatsRequestBody)
  | { mpType: 'TABLE' }
  | { mpType: 'PORT_STATS'; portNo: number }
  | { mpType: 'QUEUE'; portNo: number; queueId: number }
  | { mpType: 'GROUP'; groupId: number }
  | { mpType: 'GROUP_DESC' }
  | { mpType: 'GROUP_FEATURES' }
  | { mpType: 'METER'; meterId: number }
  | { mpType: 'METER_CONFIG'; meterId: number }
  | { mpType: 'METER_FEATURES' }
  | { mpType: 'TABLE_FEATURES'; entries: TableFeatures[] }
  | { mpType: 'PORT_DESC' }
  | { mpType: 'EXPERIMENTER'; experimenter: number; expType: number; data: Uint8Array };

/** One flow in a flow-stats reply. */
export interface FlowStats {
  /** Table id. */
  tableId: number;
  /** Seconds alive. */
  durationSec: number;
  /** Nanoseconds alive beyond durationSec. */
  durationNsec: number;
  /** Priority. */
  priority: number;
  /** Idle timeout (s). */
  idleTimeout: number;
  /** Hard timeout (s). */
  hardTimeout: number;
  /** OFPFF_* flags. */
  flags: number;
  /** Cookie. */
  cookie: bigint;
  /** Packets matched. */
  packetCount: bigint;
  /** Bytes matched. */
  byteCount: bigint;
  /** Match as installed. */
  match: Match;
  /** Instructions as installed. */
  instructions: Instruction[];
}
/** One table in a table-stats reply. */
export interface TableStats {
  /** Table id. */
  tableId: number;
  /** Active entries. */
  activeCount: number;
  /** Packets looked up. */
  lookupCount: bigint;
  /** Packets that hit. */
  matchedCount: bigint;
}
/** One port in a port-stats reply (all counters bigint). */
export interface PortStats {
  /** Port number. */
  portNo: number;
  /** Counters. */
  rxPackets: bigint;
  /** Counter. */
  txPackets: bigint;
  /** Counter. */
  rxBytes: bigint;
  /** Counter. */
  txBytes: bigint;
  /** Counter. */
  rxDropped: bigint;
  /** Counter. */
  txDropped: bigint;
  /** Counter. */
  rxErrors: bigint;
  /** Counter. */
  txErrors: bigint;
  /** Counter. */
  rxFrameErr: bigint;
  /** Counter. */
  rxOverErr: bigint;
  /** Counter. */
  rxCrcErr: bigint;
  /** Counter. */
  collisions: bigint;
  /** Seconds alive. */
  durationSec: number;
  /** Nanoseconds beyond durationSec. */
  durationNsec: number;
}
/** One queue in a queue-stats reply. */
export interface QueueStats {
  /** Port number. */
  portNo: number;
  /** Queue id. */
  queueId: number;
  /** Counter. */
  txBytes: bigint;
  /** Counter. */
  txPackets: bigint;
  /** Counter. */
  txErrors: bigint;
  /** Seconds alive. */
  durationSec: number;
  /** Nanoseconds beyond durationSec. */
  durationNsec: number;
}
/** Per-bucket counters. */
export interface BucketCounter {
  /** Packets. */
  packetCount: bigint;
  /** Bytes. */
  byteCount: bigint;
}
/** One group in a group-stats reply. */
export interface GroupStats {
  /** Group id. */
  groupId: number;
  /** Flows or groups referring to it. */
  refCount: number;
  /** Packets. */
  packetCount: bigint;
  /** Bytes. */
  byteCount: bigint;
  /** Seconds alive. */
  durationSec: number;
  /** Nanoseconds beyond durationSec. */
  durationNsec: number;
  /** Per-bucket counters. */
  bucketStats: BucketCounter[];
}
/** One group in a group-desc reply. */
export interface GroupDesc {
  /** OFPGT_* type. */
  groupType: number;
  /** Group id. */
  groupId: number;
  /** Buckets. */
  buckets: Bucket[];
}
/** Per-band meter counters. */
export interface BandCounter {
  /** Packets in band. */
  packetBandCount: bigint;
  /** Bytes in band. */
  byteBandCount: bigint;
}
/** One meter in a meter-stats reply. */
export interface MeterStats {
  /** Meter id. */
  meterId: number;
  /** Flows using it. */
  flowCount: number;
  /** Packets in. */
  packetInCount: bigint;
  /** Bytes in. */
  byteInCount: bigint;
  /** Seconds alive. */
  durationSec: number;
  /** Nanoseconds beyond durationSec. */
  durationNsec: number;
  /** Per-band counters. */
  bandStats: BandCounter[];
}
/** One meter in a meter-config reply. */
export interface MeterConfig {
  /** OFPMF_* flags. */
  flags: number;
  /** Meter id. */
  meterId: number;
  /** Bands. */
  bands: MeterBand[];
}
/** Switch description strings. */
export interface DescStats {
  /** Manufacturer. */
  mfrDesc: string;
  /** Hardware. */
  hwDesc: string;
  /** Software. */
  swDesc: string;
  /** Serial number (≤ 31 bytes). */
  serialNum: string;
  /** Datapath description. */
  dpDesc: string;
}

/** Multipart reply bodies, discriminated on `mpType`; list bodies carry `entries`. */
export type MultipartReplyBody =
  | ({ mpType: 'DESC' } & DescStats)
  | { mpType: 'FLOW'; entries: FlowStats[] }
  | { mpType: 'AGGREGATE'; packetCount: bigint; byteCount: bigint; flowCount: number }
  | { mpType: 'TABLE'; entries: TableStats[] }
  | { mpType: 'PORT_STATS'; entries: PortStats[] }
  | { mpType: 'QUEUE'; entries: QueueStats[] }
  | { mpType: 'GROUP'; entries: GroupStats[] }
  | { mpType: 'GROUP_DESC'; entries: GroupDesc[] }
  | {
      mpType: 'GROUP_FEATURES';
      types: number;
      capabilities: number;
      maxGroups: [number, number, number, number];
      actions: [number, number, number, number];
    }
  | { mpType: 'METER'; entries: MeterStats[] }
  | { mpType: 'METER_CONFIG'; entries: MeterConfig[] }
  | {
      mpType: 'METER_FEATURES';
      maxMeter: number;
      bandTypes: number;
      capabilities: number;
      maxBands: number;
      maxColor: number;
    }
  | { mpType: 'TABLE_FEATURES'; entries: TableFeatures[] }
  | { mpType: 'PORT_DESC'; entries: Port[] }
  | { mpType: 'EXPERIMENTER'; experimenter: number; expType: number; data: Uint8Array };

/** Multipart types whose reply body is a list of entries (splittable). */
export type ListReplyType = Extract<MultipartReplyBody, { entries: unknown[] }>['mpType'];

interface EntryCodec<T> {
  decode(r: Reader, end: number): T;
  encode(w: Writer, e: T): void;
}

const FLOW_REQ: Layout = [
  ['tableId', 'u8'],
  3,
  ['outPort', 'u32'],
  ['outGroup', 'u32'],
  4,
  ['cookie', 'u64'],
  ['cookieMask', 'u64'],
];
const TABLE_STATS: Layout = [
  ['tableId', 'u8'],
  3,
  ['activeCount', 'u32'],
  ['lookupCount', 'u64'],
  ['matchedCount', 'u64'],
];
const PORT_STATS: Layout = [
  ['portNo', 'u32'],
  4,
  ['rxPackets', 'u64'],
  ['txPackets', 'u64'],
  ['rxBytes', 'u64'],
  ['txBytes', 'u64'],
  ['rxDropped', 'u64'],
  ['txDropped', 'u64'],
  ['rxErrors', 'u64'],
  ['txErrors', 'u64'],
  ['rxFrameErr', 'u64'],
  ['rxOverErr', 'u64'],
  ['rxCrcErr', 'u64'],
  ['collisions', 'u64'],
  ['durationSec', 'u32'],
  ['durationNsec', 'u32'],
];
const QUEUE_STATS: Layout = [
  ['portNo', 'u32'],
  ['queueId', 'u32'],
  ['txBytes', 'u64'],
  ['txPackets', 'u64'],
  ['txErrors', 'u64'],
  ['durationSec', 'u32'],
  ['durationNsec', 'u32'],
];
const DESC: Layout = [
  ['mfrDesc', 's256'],
  ['hwDesc', 's256'],
  ['swDesc', 's256'],
  ['serialNum', 's32'],
  ['dpDesc', 's256'],
];
const AGGREGATE: Layout = [['packetCount', 'u64'], ['byteCount', 'u64'], ['flowCount', 'u32'], 4];
const METER_FEATURES: Layout = [
  ['maxMeter', 'u32'],
  ['bandTypes', 'u32'],
  ['capabilities', 'u32'],
  ['maxBands', 'u8'],
  ['maxColor', 'u8'],
  2,
];

const fixedEntry = <T>(l: Layout): EntryCodec<T> => ({
  decode(r) {
    const o: Record<string, unknown> = {};
    readLayout(r, l, o);
    return o as T;
  },
  encode(w, e) {
    writeLayout(w, l, e as object);
  },
});

function entryEnd(r: Reader, end: number, min: number, len: number): number {
  if (len < min || r.pos - 2 + len > end || len % 8 !== 0) {
    throw new OfpError('OFPBRC_BAD_LEN', `entry length ${len}`);
  }
  return r.pos - 2 + len;
}

const FLOW_ENTRY: EntryCodec<FlowStats> = {
  decode(r, end) {
    const eend = entryEnd(r, end, 56, r.u16());
    const tableId = r.u8();
    r.skip(1);
    const durationSec = r.u32();
    const durationNsec = r.u32();
    const priority = r.u16();
    const idleTimeout = r.u16();
    const hardTimeout = r.u16();
    const flags = r.u16();
    r.skip(4);
    const cookie = r.u64();
    const packetCount = r.u64();
    const byteCount = r.u64();
    const sub = r.sub(r.pos, eend);
    const match = decodeMatch(sub);
    const instructions = decodeInstructions(sub, eend);
    r.pos = eend;
    return {
      tableId,
      durationSec,
      durationNsec,
      priority,
      idleTimeout,
      hardTimeout,
      flags,
      cookie,
      packetCount,
      byteCount,
      match,
      instructions,
    };
  },
  encode(w, e) {
    const start = w.pos;
    w.u16(0);
    w.u8(e.tableId);
    w.zeros(1);
    w.u32(e.durationSec);
    w.u32(e.durationNsec);
    w.u16(e.priority);
    w.u16(e.idleTimeout);
    w.u16(e.hardTimeout);
    w.u16(e.flags);
    w.zeros(4);
    w.u64(e.cookie);
    w.u64(e.packetCount);
    w.u64(e.byteCount);
    encodeMatch(w, e.match);
    encodeInstructions(w, e.instructions);
    w.setU16(start, w.pos - start);
  },
};

const GROUP_ENTRY: EntryCodec<GroupStats> = {
  decode(r, end) {
    const eend = entryEnd(r, end, 40, r.u16());
    r.skip(2);
    const groupId = r.u32();
    const refCount = r.u32();
    r.skip(4);
    const packetCount = r.u64();
    const byteCount = r.u64();
    const durationSec = r.u32();
    const durationNsec = r.u32();
    const bucketStats: BucketCounter[] = [];
    while (r.pos < eend) bucketStats.push({ packetCount: r.u64(), byteCount: r.u64() });
    if (r.pos !== eend) throw new OfpError('OFPBRC_BAD_LEN', 'bucket counters');
    return {
      groupId,
      refCount,
      packetCount,
      byteCount,
      durationSec,
      durationNsec,
      bucketStats,
    };
  },
  encode(w, e) {
    const start = w.pos;
    w.u16(0);
    w.zeros(2);
    w.u32(e.groupId);
    w.u32(e.refCount);
    w.zeros(4);
    w.u64(e.packetCount);
    w.u64(e.byteCount);
    w.u32(e.durationSec);
    w.u32(e.durationNsec);
    for (const b of e.bucketStats) {
      w.u64(b.packetCount);
      w.u64(b.byteCount);
    }
    w.setU16(start, w.pos - start);
  },
};

const GROUP_DESC_ENTRY: EntryCodec<GroupDesc> = {
  decode(r, end) {
    const eend = entryEnd(r, end, 8, r.u16());
    const groupType = r.u8();
    r.skip(1);
    const groupId = r.u32();
    const buckets = decodeBuckets(r, eend);
    return { groupType, groupId, buckets };
  },
  encode(w, e) {
    const start = w.pos;
    w.u16(0);
    w.u8(e.groupType);
    w.zeros(1);
    w.u32(e.groupId);
    encodeBuckets(w, e.buckets);
    w.setU16(start, w.pos - start);
  },
};

const METER_ENTRY: EntryCodec<MeterStats> = {
  decode(r, end) {
    const meterId = r.u32();
    const len = r.u16();
    if (len < 40 || r.pos - 6 + len > end || len % 8 !== 0) {
      throw new OfpError('OFPBRC_BAD_LEN', `meter stats length ${len}`);
    }
    const eend = r.pos - 6 + len;
    r.skip(6);
    const flowCount = r.u32();
    const packetInCount = r.u64();
    const byteInCount = r.u64();
    const durationSec = r.u32();
    const durationNsec = r.u32();
    const bandStats: BandCounter[] = [];
    while (r.pos < eend) bandStats.push({ packetBandCount: r.u64(), byteBandCount: r.u64() });
    if (r.pos !== eend) throw new OfpError('OFPBRC_BAD_LEN', 'band counters');
    return {
      meterId,
      flowCount,
      packetInCount,
      byteInCount,
      durationSec,
      durationNsec,
      bandStats,
    };
  },
  encode(w, e) {
    const start = w.pos;
    w.u32(e.meterId);
    w.u16(0);
    w.zeros(6);
    w.u32(e.flowCount);
    w.u64(e.packetInCount);
    w.u64(e.byteInCount);
    w.u32(e.durationSec);
    w.u32(e.durationNsec);
    for (const b of e.bandStats) {
      w.u64(b.packetBandCount);
      w.u64(b.byteBandCount);
    }
    w.setU16(start + 4, w.pos - start);
  },
};

const METER_CONFIG_ENTRY: EntryCodec<MeterConfig> = {
  decode(r, end) {
    const eend = entryEnd(r, end, 8, r.u16());
    const flags = r.u16();
    const meterId = r.u32();
    const bands = decodeBands(r, eend);
    return { flags, meterId, bands };
  },
  encode(w, e) {
    const start = w.pos;
    w.u16(0);
    w.u16(e.flags);
    w.u32(e.meterId);
    encodeBands(w, e.bands);
    w.setU16(start, w.pos - start);
  },
};

const TABLE_FEATURES_ENTRY: EntryCodec<TableFeatures> = {
  decode: decodeTableFeatures,
  encode: encodeTableFeatures,
};

const PORT_ENTRY: EntryCodec<Port> = {
  decode(r, end) {
    if (end - r.pos < PORT_LEN) throw new OfpError('OFPBRC_BAD_LEN', 'partial port');
    return decodePort(r);
  },
  encode: encodePort,
};

/** Entry codecs of list reply bodies. */
export const REPLY_ENTRY_CODECS: { readonly [K in ListReplyType]: EntryCodec<unknown> } = {
  FLOW: FLOW_ENTRY,
  TABLE: fixedEntry<TableStats>(TABLE_STATS),
  PORT_STATS: fixedEntry<PortStats>(PORT_STATS),
  QUEUE: fixedEntry<QueueStats>(QUEUE_STATS),
  GROUP: GROUP_ENTRY,
  GROUP_DESC: GROUP_DESC_ENTRY,
  METER: METER_ENTRY,
  METER_CONFIG: METER_CONFIG_ENTRY,
  TABLE_FEATURES: TABLE_FEATURES_ENTRY,
  PORT_DESC: PORT_ENTRY,
};

const FIXED_ENTRY_SIZE: Partial<Record<ListReplyType, number>> = {
  TABLE: layoutSize(TABLE_STATS),
  PORT_STATS: layoutSize(PORT_STATS),
  QUEUE: layoutSize(QUEUE_STATS),
};

const MP_NAMES = new Map<number, OfpmpName>(
  Object.entries(OFPMP).map(([k, v]) => [v, k as OfpmpName]),
);

/** Multipart type name from its wire number; unknown → OFPBRC_BAD_MULTIPART. */
export function mpTypeName(code: number): OfpmpName {
  const n = MP_NAMES.get(code);
  if (n === undefined) throw new OfpError('OFPBRC_BAD_MULTIPART', `multipart type ${code}`);
  return n;
}

function readFixed(r: Reader, end: number, l: Layout, out: Record<string, unknown>): void {
  if (end - r.pos !== layoutSize(l)) throw new OfpError('OFPBRC_BAD_LEN', 'multipart body size');
  readLayout(r, l, out);
}

function decodeExperimenterBody(r: Reader, end: number): Record<string, unknown> {
  if (end - r.pos < 8) throw new OfpError('OFPBRC_BAD_LEN', 'experimenter multipart');
  const experimenter = r.u32();
  const expType = r.u32();
  return { experimenter, expType, data: r.bytes(end - r.pos) };
}

/** Decodes a multipart request body of type `mpType` from `r[pos, end)`. */
export function decodeMultipartRequestBody(
  mpType: OfpmpName,
  r: Reader,
  end: number,
): MultipartRequestBody {
  const o: Record<string, unknown> = { mpType };
  switch (mpType) {
    case 'DESC':
    case 'TABLE':
    case 'GROUP_DESC':
    case 'GROUP_FEATURES':
    case 'METER_FEATURES':
    case 'PORT_DESC':
      if (end !== r.pos) throw new OfpError('OFPBRC_BAD_LEN', `${mpType} request has a body`);
      break;
    case 'FLOW':
    case 'AGGREGATE':
      if (end - r.pos < 40) throw new OfpError('OFPBRC_BAD_LEN', 'flow stats request');
      readLayout(r, FLOW_REQ, o);
      o.match = decodeMatch(r.sub(r.pos, end));
      break;
    case 'PORT_STATS':
      readFixed(r, end, [['portNo', 'u32'], 4], o);
      break;
    case 'QUEUE':
      readFixed(
        r,
        end,
        [
          ['portNo', 'u32'],
          ['queueId', 'u32'],
        ],
        o,
      );
      break;
    case 'GROUP':
      readFixed(r, end, [['groupId', 'u32'], 4], o);
      break;
    case 'METER':
    case 'METER_CONFIG':
      readFixed(r, end, [['meterId', 'u32'], 4], o);
      break;
    case 'TABLE_FEATURES': {
      const entries: TableFeatures[] = [];
      while (r.pos < end) entries.push(decodeTableFeatures(r, end));
      o.entries = entries;
      break;
    }
    case 'EXPERIMENTER':
      Object.assign(o, decodeExperimenterBody(r, end));
      break;
  }
  return o as MultipartRequestBody;
}

/** Encodes a multipart request body (after the 16-byte multipart header). */
export function encodeMultipartRequestBody(w: Writer, b: MultipartRequestBody): void {
  switch (b.mpType) {
    case 'DESC':
    case 'TABLE':
    case 'GROUP_DESC':
    case 'GROUP_FEATURES':
    case 'METER_FEATURES':
    case 'PORT_DESC':
      return;
    case 'FLOW':
    case 'AGGREGATE':
      writeLayout(w, FLOW_REQ, b);
      encodeMatch(w, b.match);
      return;
    case 'PORT_STATS':
      w.u32(b.portNo);
      w.zeros(4);
      return;
    case 'QUEUE':
      w.u32(b.portNo);
      w.u32(b.queueId);
      return;
    case 'GROUP':
      w.u32(b.groupId);
      w.zeros(4);
      return;
    case 'METER':
    case 'METER_CONFIG':
      w.u32(b.meterId);
      w.zeros(4);
      return;
    case 'TABLE_FEATURES':
      for (const t of b.entries) encodeTableFeatures(w, t);
      return;
    case 'EXPERIMENTER':
      w.u32(b.experimenter);
      w.u32(b.expType);
      w.bytes(b.data);
      return;
  }
}

/** Decodes a multipart reply body of type `mpType` from `r[pos, end)`. */
export function decodeMultipartReplyBody(
  mpType: OfpmpName,
  r: Reader,
  end: number,
): MultipartReplyBody {
  const o: Record<string, unknown> = { mpType };
  switch (mpType) {
    case 'DESC':
      readFixed(r, end, DESC, o);
      break;
    case 'AGGREGATE':
      readFixed(r, end, AGGREGATE, o);
      break;
    case 'METER_FEATURES':
      readFixed(r, end, METER_FEATURES, o);
      break;
    case 'GROUP_FEATURES': {
      if (end - r.pos !== 40) throw new OfpError('OFPBRC_BAD_LEN', 'group features size');
      o.types = r.u32();
      o.capabilities = r.u32();
      o.maxGroups = [r.u32(), r.u32(), r.u32(), r.u32()];
      o.actions = [r.u32(), r.u32(), r.u32(), r.u32()];
      break;
    }
    case 'EXPERIMENTER':
      Object.assign(o, decodeExperimenterBody(r, end));
      break;
    case 'FLOW':
    case 'TABLE':
    case 'PORT_STATS':
    case 'QUEUE':
    case 'GROUP':
    case 'GROUP_DESC':
    case 'METER':
    case 'METER_CONFIG':
    case 'TABLE_FEATURES':
    case 'PORT_DESC': {
      const codec = REPLY_ENTRY_CODECS[mpType];
      const fixed = FIXED_ENTRY_SIZE[mpType];
      const entries: unknown[] = [];
      while (r.pos < end) {
        if (fixed !== undefined && end - r.pos < fixed) {
          throw new OfpError('OFPBRC_BAD_LEN', `partial ${mpType} entry`);
        }
        entries.push(codec.decode(r, end));
      }
      o.entries = entries;
    }
  }
  return o as MultipartReplyBody;
}

/** Encodes a multipart reply body (after the 16-byte multipart header). */
export function encodeMultipartReplyBody(w: Writer, b: MultipartReplyBody): void {
  switch (b.mpType) {
    case 'DESC':
      writeLayout(w, DESC, b);
      return;
    case 'AGGREGATE':
      writeLayout(w, AGGREGATE, b);
      return;
    case 'METER_FEATURES':
      writeLayout(w, METER_FEATURES, b);
      return;
    case 'GROUP_FEATURES':
      w.u32(b.types);
      w.u32(b.capabilities);
      for (const v of b.maxGroups) w.u32(v);
      for (const v of b.actions) w.u32(v);
      return;
    case 'EXPERIMENTER':
      w.u32(b.experimenter);
      w.u32(b.expType);
      w.bytes(b.data);
      return;
    case 'FLOW':
    case 'TABLE':
    case 'PORT_STATS':
    case 'QUEUE':
    case 'GROUP':
    case 'GROUP_DESC':
    case 'METER':
    case 'METER_CONFIG':
    case 'TABLE_FEATURES':
    case 'PORT_DESC': {
      const codec = REPLY_ENTRY_CODECS[b.mpType];
      for (const e of b.entries) codec.encode(w, e);
    }
  }
}

/**
 * Splits the entries of a list reply body into bodies whose messages (16-byte multipart header
 * included) each fit in `maxLen` bytes (default 65535), greedily, like OVS. Returns at least one
 * body (an empty list stays one empty body). An entry that cannot fit alone throws RangeError.
 */
export function splitReplyEntries<T extends Extract<MultipartReplyBody, { entries: unknown[] }>>(
  body: T,
  maxLen = OFP_MAX_MSG_LEN,
): T[] {
  const codec = REPLY_ENTRY_CODECS[body.mpType];
  const out: T[] = [];
  const w = new W(1024);
  let cur: unknown[] = [];
  let size = 16;
  for (const e of body.entries) {
    w.pos = 0;
    codec.encode(w, e);
    const n = w.pos;
    if (16 + n > maxLen) throw new RangeError(`${body.mpType} entry of ${n} bytes cannot fit`);
    if (size + n > maxLen) {
      out.push({ ...body, entries: cur });
      cur = [];
      size = 16;
    }
    cur.push(e);
    size += n;
  }
  out.push({ ...body, entries: cur });
  return out;
}

/**
 * Encodes a list reply straight into its parts, handing each part to `sink` as soon as it is
 * complete, so the first ones are on the wire while the rest are still being encoded (a peer
 * reading a 100k-flow dump starts parsing at once instead of after the whole encode).
 *
 * `head` is the encoded reply with no entries (OpenFlow header, multipart header with the flags
 * of the last part, e.g. `encodeMessage({...reply, entries: []})`). The parts are greedy, each
 * at most `maxLen` bytes, OFPMPF_REPLY_MORE set on all but the last; at least one part
 * (`encodeMultipartReply` in openflow/messages.ts collects them into an array). `entry(i)`
 * gives entry `i` of `count` when it is encoded (no array of entries has to exist). Each part
 * handed to `sink` is a fresh copy the sink may keep. An entry that cannot fit alone throws
 * RangeError (after the parts before it went to `sink`).
 */
export function streamReplyParts<K extends ListReplyType>(
  head: Uint8Array,
  mpType: K,
  count: number,
  entry: (i: number) => Extract<MultipartReplyBody, { mpType: K }>['entries'][number],
  sink: (part: Uint8Array) => void,
  maxLen = OFP_MAX_MSG_LEN,
): void {
  const codec = REPLY_ENTRY_CODECS[mpType];
  const last = (head[10]! << 8) | head[11]!;
  withWriter((w) => {
    const close = (flags: number): void => {
      w.setU16(2, w.pos);
      w.setU16(10, flags);
      sink(w.finish());
      w.reset();
      w.bytes(head);
    };
    w.bytes(head);
    for (let i = 0; i < count; i++) {
      const at = w.pos;
      codec.encode(w, entry(i));
      const n = w.pos - at;
      if (head.length + n > maxLen)
        throw new RangeError(`${mpType} entry of ${n} bytes cannot fit`);
      if (w.pos > maxLen) {
        // Does not fit: this entry opens the next part.
        const e = w.written(at).slice();
        w.pos = at;
        close(last | OFPMPF_REPLY_MORE);
        w.bytes(e);
      }
    }
    close(last);
  });
}

/**
 * OpenFlow 1.3 messages (types 0–29 plus the ONF bundle experimenter messages): the decoded
 * discriminated union {@link OfpMessage} and the table-driven {@link decodeMessage} /
 * {@link encodeMessage}. Decoding checks the wire format and per-field tables (lengths, types,
 * OXM/action/instruction validity, unknown enum values OVS rejects while decoding); cross-field
 * checks that need no switch state live in validate.ts.
 */
import { Reader, withWriter, type Writer } from './bytes.js';
import {
  decodeBundleAdd,
  decodeBundleControl,
  encodeBundleAdd,
  encodeBundleControl,
  isBundleExperimenter,
  BUNDLE_ADD_EXP_TYPE,
  BUNDLE_CONTROL_EXP_TYPE,
  type BundleAddBody,
  type BundleControlBody,
} from './bundle.js';
import {
  OFPMP,
  OFPMPF_REPLY_MORE,
  OFPT,
  OFPT_NAMES,
  OFP_HEADER_LEN,
  OFP_MAX_MSG_LEN,
  OFP_VERSION,
  type OfptName,
} from './constants.js';
import { ONF_EXPERIMENTER_ID, OfpError } from './errors.js';
import { decodeActions, encodeActions, actionsLength, type Action } from './actions.js';
import { decodeInstructions, encodeInstructions, type Instruction } from './instructions.js';
import { readLayout, writeLayout, layoutSize, type Layout } from './layout.js';
import {
  decodeMultipartReplyBody,
  decodeMultipartRequestBody,
  encodeMultipartReplyBody,
  encodeMultipartRequestBody,
  mpTypeName,
  streamReplyParts,
  splitReplyEntries,
  type MultipartReplyBody,
  type MultipartRequestBody,
} from './multipart.js';
import { decodeMatch, encodeMatch, type Match } from './oxm.js';
import {
  PORT_LEN,
  decodeBands,
  decodeBuckets,
  decodePort,
  decodeQueues,
  encodeBands,
  encodeBuckets,
  encodePort,
  encodeQueues,
  type Bucket,
  type MeterBand,
  type PacketQueue,
  type Port,
} from './structs.js';

/** A hello element. */
export type HelloElement =
  | { type: 'VERSIONBITMAP'; bitmaps: number[] }
  | { type: 'UNKNOWN'; elemType: number; data: Uint8Array };

/** A two-element async mask: [master-or-equal, slave]. */
export type AsyncMask = [number, number];

/** Common to every message. */
interface Base {
  /** Transaction id. */
  xid: number;
}

/** Message bodies keyed by type name (without `type` and `xid`). */
export interface MessageBodies {
  /** OFPT_HELLO: header version (any for HELLO) and hello elements. */
  HELLO: { version: number; elements: HelloElement[] };
  /** OFPT_ERROR: type, code (exp_type when errType is 0xffff), experimenter, data. */
  ERROR: {
    version?: number;
    errType: number;
    code: number;
    experimenter?: number;
    data: Uint8Array;
  };
  /** OFPT_ECHO_REQUEST: arbitrary payload. */
  ECHO_REQUEST: { data: Uint8Array };
  /** OFPT_ECHO_REPLY: the request's payload. */
  ECHO_REPLY: { data: Uint8Array };
  /** OFPT_EXPERIMENTER other than the ONF bundle messages. */
  EXPERIMENTER: { experimenter: number; expType: number; data: Uint8Array };
  /** OFPT_FEATURES_REQUEST (no body). */
  FEATURES_REQUEST: object;
  /** OFPT_FEATURES_REPLY: `ofp_switch_features`. */
  FEATURES_REPLY: {
    datapathId: bigint;
    nBuffers: number;
    nTables: number;
    auxiliaryId: number;
    capabilities: number;
    reserved: number;
  };
  /** OFPT_GET_CONFIG_REQUEST (no body). */
  GET_CONFIG_REQUEST: object;
  /** OFPT_GET_CONFIG_REPLY: OFPC_FRAG_* flags and miss_send_len. */
  GET_CONFIG_REPLY: { flags: number; missSendLen: number };
  /** OFPT_SET_CONFIG: OFPC_FRAG_* flags and miss_send_len. */
  SET_CONFIG: { flags: number; missSendLen: number };
  /** OFPT_PACKET_IN: buffer id, frame length, reason, table, cookie, match, frame bytes. */
  PACKET_IN: {
    bufferId: number;
    totalLen: number;
    reason: number;
    tableId: number;
    cookie: bigint;
    match: Match;
    data: Uint8Array;
  };
  /** OFPT_FLOW_REMOVED: the removed flow's identity, timeouts, counters and match. */
  FLOW_REMOVED: {
    cookie: bigint;
    priority: number;
    reason: number;
    tableId: number;
    durationSec: number;
    durationNsec: number;
    idleTimeout: number;
    hardTimeout: number;
    packetCount: bigint;
    byteCount: bigint;
    match: Match;
  };
  /** OFPT_PORT_STATUS: OFPPR_* reason and the port. */
  PORT_STATUS: { reason: number; port: Port };
  /** OFPT_PACKET_OUT: buffer id, in_port, actions, frame bytes. */
  PACKET_OUT: { bufferId: number; inPort: number; actions: Action[]; data: Uint8Array };
  /** OFPT_FLOW_MOD: `ofp_flow_mod` with match and instructions. */
  FLOW_MOD: {
    cookie: bigint;
    cookieMask: bigint;
    tableId: number;
    command: number;
    idleTimeout: number;
    hardTimeout: number;
    priority: number;
    bufferId: number;
    outPort: number;
    outGroup: number;
    flags: number;
    match: Match;
    instructions: Instruction[];
  };
  /** OFPT_GROUP_MOD: OFPGC_* command, OFPGT_* type, group id, buckets. */
  GROUP_MOD: { command: number; groupType: number; groupId: number; buckets: Bucket[] };
  /** OFPT_PORT_MOD: port, its MAC, config bits under mask, advertised features. */
  PORT_MOD: { portNo: number; hwAddr: number; config: number; mask: number; advertise: number };
  /** OFPT_TABLE_MOD: table and config. */
  TABLE_MOD: { tableId: number; config: number };
  /** OFPT_MULTIPART_REQUEST: flags (REQ_MORE) and a body discriminated on mpType. */
  MULTIPART_REQUEST: { flags: number } & MultipartRequestBody;
  /** OFPT_MULTIPART_REPLY: flags (REPLY_MORE) and a body discriminated on mpType. */
  MULTIPART_REPLY: { flags: number } & MultipartReplyBody;
  /** OFPT_BARRIER_REQUEST (no body). */
  BARRIER_REQUEST: object;
  /** OFPT_BARRIER_REPLY (no body). */
  BARRIER_REPLY: object;
  /** OFPT_QUEUE_GET_CONFIG_REQUEST: port (OFPP_ANY for all). */
  QUEUE_GET_CONFIG_REQUEST: { port: number };
  /** OFPT_QUEUE_GET_CONFIG_REPLY: port and its queues. */
  QUEUE_GET_CONFIG_REPLY: { port: number; queues: PacketQueue[] };
  /** OFPT_ROLE_REQUEST: OFPCR_ROLE_* and generation id. */
  ROLE_REQUEST: { role: number; generationId: bigint };
  /** OFPT_ROLE_REPLY: current role and generation id. */
  ROLE_REPLY: { role: number; generationId: bigint };
  /** OFPT_GET_ASYNC_REQUEST (no body). */
  GET_ASYNC_REQUEST: object;
  /** OFPT_GET_ASYNC_REPLY: [master/equal, slave] masks per async message. */
  GET_ASYNC_REPLY: {
    packetInMask: AsyncMask;
    portStatusMask: AsyncMask;
    flowRemovedMask: AsyncMask;
  };
  /** OFPT_SET_ASYNC: [master/equal, slave] masks per async message. */
  SET_ASYNC: { packetInMask: AsyncMask; portStatusMask: AsyncMask; flowRemovedMask: AsyncMask };
  /** OFPT_METER_MOD: OFPMC_* command, OFPMF_* flags, meter id, bands. */
  METER_MOD: { command: number; flags: number; meterId: number; bands: MeterBand[] };
  /** ONF bundle control (experimenter 0x4f4e4600, exp_type 2300). */
  BUNDLE_CONTROL: BundleControlBody;
}

/** ONF bundle add (declared as an interface because it nests a message). */
export interface BundleAddMessage extends Base, BundleAddBody<OfpMessage> {
  /** Discriminator. */
  type: 'BUNDLE_ADD_MESSAGE';
}

/** A message type name of the union (OFPT names plus the two ONF bundle messages). */
export type MessageType = keyof MessageBodies | 'BUNDLE_ADD_MESSAGE';

/** The message of type `K`. */
export type MessageOf<K extends MessageType> = K extends 'BUNDLE_ADD_MESSAGE'
  ? BundleAddMessage
  : K extends keyof MessageBodies
    ? { type: K } & Base & MessageBodies[K]
    : never;

/** Any decoded OpenFlow 1.3 message, discriminated on `type`. */
export type OfpMessage = MessageOf<keyof MessageBodies> | BundleAddMessage;

/** A decoded `ofp_header`. */
export interface OfpHeader {
  /** Version byte. */
  version: number;
  /** Type byte. */
  type: number;
  /** Length field. */
  length: number;
  /** Transaction id. */
  xid: number;
}

/** Reads the header of `buf` (which must hold at least 8 bytes, else OFPBRC_BAD_LEN). */
export function decodeHeader(buf: Uint8Array): OfpHeader {
  if (buf.length < OFP_HEADER_LEN) throw new OfpError('OFPBRC_BAD_LEN', 'short header');
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return {
    version: v.getUint8(0),
    type: v.getUint8(1),
    length: v.getUint16(2),
    xid: v.getUint32(4),
  };
}

type AnyBody = Record<string, unknown>;
interface Codec {
  /** Decodes the body in `r[pos, end)` (end = message length). */
  decode(r: Reader, end: number, h: OfpHeader): AnyBody;
  /** Encodes the body (after the 8-byte header). */
  encode(w: Writer, m: AnyBody): void;
  /** Body length must be a multiple of 8 (OVS's `uint8_t[8][]` bodies). */
  align8?: boolean;
}

/** A codec for a fixed-size body described by a layout. */
function fixedCodec(l: Layout): Codec {
  const size = layoutSize(l);
  return {
    decode(r, end) {
      if (end - r.pos !== size) throw new OfpError('OFPBRC_BAD_LEN', `body of ${end - r.pos}`);
      const o: AnyBody = {};
      readLayout(r, l, o);
      return o;
    },
    encode(w, m) {
      writeLayout(w, l, m);
    },
  };
}

const EMPTY: Codec = fixedCodec([]);
const dataCodec: Codec = {
  decode: (r, end) => ({ data: r.bytes(end - r.pos) }),
  encode: (w, m) => w.bytes(m.data as Uint8Array),
};
const CONFIG: Layout = [
  ['flags', 'u16'],
  ['missSendLen', 'u16'],
];
const ROLE: Layout = [['role', 'u32'], 4, ['generationId', 'u64']];
const asyncCodec: Codec = {
  decode(r, end) {
    if (end - r.pos !== 24) throw new OfpError('OFPBRC_BAD_LEN', 'async config size');
    return {
      packetInMask: [r.u32(), r.u32()],
      portStatusMask: [r.u32(), r.u32()],
      flowRemovedMask: [r.u32(), r.u32()],
    };
  },
  encode(w, m) {
    for (const k of ['packetInMask', 'portStatusMask', 'flowRemovedMask']) {
      const a = m[k] as AsyncMask;
      w.u32(a[0]);
      w.u32(a[1]);
    }
  },
};

const FLOW_MOD_LAYOUT: Layout = [
  ['cookie', 'u64'],
  ['cookieMask', 'u64'],
  ['tableId', 'u8'],
  ['command', 'u8'],
  ['idleTimeout', 'u16'],
  ['hardTimeout', 'u16'],
  ['priority', 'u16'],
  ['bufferId', 'u32'],
  ['outPort', 'u32'],
  ['outGroup', 'u32'],
  ['flags', 'u16'],
  2,
];
const PACKET_IN_LAYOUT: Layout = [
  ['bufferId', 'u32'],
  ['totalLen', 'u16'],
  ['reason', 'u8'],
  ['tableId', 'u8'],
  ['cookie', 'u64'],
];
const FLOW_REMOVED_LAYOUT: Layout = [
  ['cookie', 'u64'],
  ['priority', 'u16'],
  ['reason', 'u8'],
  ['tableId', 'u8'],
  ['durationSec', 'u32'],
  ['durationNsec', 'u32'],
  ['idleTimeout', 'u16'],
  ['hardTimeout', 'u16'],
  ['packetCount', 'u64'],
  ['byteCount', 'u64'],
];
const PORT_MOD_LAYOUT: Layout = [
  ['portNo', 'u32'],
  4,
  ['hwAddr', 'u48'],
  2,
  ['config', 'u32'],
  ['mask', 'u32'],
  ['advertise', 'u32'],
  4,
];

function decodeHello(r: Reader, end: number, h: OfpHeader): AnyBody {
  const elements: HelloElement[] = [];
  // Lenient like OVS: a malformed trailing element ends the list instead of failing the hello.
  while (end - r.pos >= 4) {
    const start = r.pos;
    const type = r.u16();
    const len = r.u16();
    if (len < 4 || start + len > end) break;
    if (type === 1) {
      const bitmaps: number[] = [];
      while (r.pos + 4 <= start + len) bitmaps.push(r.u32());
      elements.push({ type: 'VERSIONBITMAP', bitmaps });
    } else {
      elements.push({ type: 'UNKNOWN', elemType: type, data: r.bytes(len - 4) });
    }
    r.pos = Math.min(end, start + ((len + 7) & ~7));
  }
  r.pos = end;
  return { version: h.version, elements };
}

function encodeHello(w: Writer, m: AnyBody): void {
  for (const e of m.elements as HelloElement[]) {
    const start = w.pos;
    if (e.type === 'VERSIONBITMAP') {
      w.u16(1);
      w.u16(4 + 4 * e.bitmaps.length);
      for (const b of e.bitmaps) w.u32(b);
    } else {
      w.u16(e.elemType);
      w.u16(4 + e.data.length);
      w.bytes(e.data);
    }
    w.pad8(start);
  }
}

function decodeExperimenter(r: Reader, end: number, h: OfpHeader): AnyBody {
  if (end - r.pos < 8) throw new OfpError('OFPBRC_BAD_LEN', 'experimenter header');
  const experimenter = r.u32();
  const expType = r.u32();
  if (isBundleExperimenter(experimenter, expType)) {
    if (expType === BUNDLE_CONTROL_EXP_TYPE) {
      return { type: 'BUNDLE_CONTROL', ...decodeBundleControl(r, end) };
    }
    return { type: 'BUNDLE_ADD_MESSAGE', ...decodeBundleAdd(r, end, decodeMessage, h.xid) };
  }
  return { experimenter, expType, data: r.bytes(end - r.pos) };
}

const CODECS: Record<OfptName, Codec> = {
  HELLO: { decode: decodeHello, encode: encodeHello },
  ERROR: {
    decode(r, end, h) {
      if (end - r.pos < 4) throw new OfpError('OFPBRC_BAD_LEN', 'error body');
      const errType = r.u16();
      const code = r.u16();
      const o: AnyBody = { errType, code };
      if (h.version !== OFP_VERSION) o.version = h.version;
      if (errType === 0xffff) {
        if (end - r.pos < 4) throw new OfpError('OFPBRC_BAD_LEN', 'experimenter error');
        o.experimenter = r.u32();
      }
      o.data = r.bytes(end - r.pos);
      return o;
    },
    encode(w, m) {
      w.u16(m.errType as number);
      w.u16(m.code as number);
      if (m.errType === 0xffff) w.u32((m.experimenter as number | undefined) ?? 0);
      w.bytes(m.data as Uint8Array);
    },
  },
  ECHO_REQUEST: dataCodec,
  ECHO_REPLY: dataCodec,
  EXPERIMENTER: {
    decode: decodeExperimenter,
    encode(w, m) {
      w.u32(m.experimenter as number);
      w.u32(m.expType as number);
      w.bytes(m.data as Uint8Array);
    },
  },
  FEATURES_REQUEST: EMPTY,
  FEATURES_REPLY: fixedCodec([
    ['datapathId', 'u64'],
    ['nBuffers', 'u32'],
    ['nTables', 'u8'],
    ['auxiliaryId', 'u8'],
    2,
    ['capabilities', 'u32'],
    ['reserved', 'u32'],
  ]),
  GET_CONFIG_REQUEST: EMPTY,
  GET_CONFIG_REPLY: fixedCodec(CONFIG),
  SET_CONFIG: fixedCodec(CONFIG),
  PACKET_IN: {
    decode(r, end) {
      const o: AnyBody = {
        bufferId: r.u32(),
        totalLen: r.u16(),
        reason: r.u8(),
        tableId: r.u8(),
        cookie: r.u64(),
        match: undefined,
        data: undefined,
      };
      o.match = decodeMatch(r);
      r.skip(2);
      o.data = r.bytes(end - r.pos);
      return o;
    },
    encode(w, m) {
      writeLayout(w, PACKET_IN_LAYOUT, m);
      encodeMatch(w, m.match as Match);
      w.zeros(2);
      w.bytes(m.data as Uint8Array);
    },
  },
  FLOW_REMOVED: {
    decode(r, end) {
      const o: AnyBody = {};
      readLayout(r, FLOW_REMOVED_LAYOUT, o);
      o.match = decodeMatch(r);
      if (r.pos !== end) throw new OfpError('OFPBRC_BAD_LEN', 'flow removed trailing bytes');
      return o;
    },
    encode(w, m) {
      writeLayout(w, FLOW_REMOVED_LAYOUT, m);
      encodeMatch(w, m.match as Match);
    },
  },
  PORT_STATUS: {
    decode(r, end) {
      if (end - r.pos !== 8 + PORT_LEN) throw new OfpError('OFPBRC_BAD_LEN', 'port status size');
      const reason = r.u8();
      r.skip(7);
      return { reason, port: decodePort(r) };
    },
    encode(w, m) {
      w.u8(m.reason as number);
      w.zeros(7);
      encodePort(w, m.port as Port);
    },
  },
  PACKET_OUT: {
    decode(r, end) {
      if (end - r.pos < 16) throw new OfpError('OFPBRC_BAD_LEN', 'packet out header');
      const bufferId = r.u32();
      const inPort = r.u32();
      const alen = r.u16();
      r.skip(6);
      if (alen > end - r.pos) throw new OfpError('OFPBRC_BAD_LEN', 'actions_len past message');
      const actions = decodeActions(r, r.pos + alen);
      return { bufferId, inPort, actions, data: r.bytes(end - r.pos) };
    },
    encode(w, m) {
      const actions = m.actions as Action[];
      w.u32(m.bufferId as number);
      w.u32(m.inPort as number);
      w.u16(actionsLength(actions));
      w.zeros(6);
      encodeActions(w, actions);
      w.bytes(m.data as Uint8Array);
    },
  },
  FLOW_MOD: {
    align8: true,
    decode(r, end) {
      if (end - r.pos < 48) throw new OfpError('OFPBRC_BAD_LEN', 'flow mod too short');
      const o: AnyBody = {
        cookie: r.u64(),
        cookieMask: r.u64(),
        tableId: r.u8(),
        command: r.u8(),
        idleTimeout: r.u16(),
        hardTimeout: r.u16(),
        priority: r.u16(),
        bufferId: r.u32(),
        outPort: r.u32(),
        outGroup: r.u32(),
        flags: r.u16(),
        match: undefined,
        instructions: undefined,
      };
      r.skip(2);
      o.match = decodeMatch(r);
      o.instructions = decodeInstructions(r, end);
      const command = o.command as number;
      if (command > 4) throw new OfpError('OFPFMFC_BAD_COMMAND', `command ${command}`);
      return o;
    },
    encode(w, m) {
      writeLayout(w, FLOW_MOD_LAYOUT, m);
      encodeMatch(w, m.match as Match);
      encodeInstructions(w, m.instructions as Instruction[]);
    },
  },
  GROUP_MOD: {
    align8: true,
    decode(r, end) {
      if (end - r.pos < 8) throw new OfpError('OFPBRC_BAD_LEN', 'group mod too short');
      const command = r.u16();
      const groupType = r.u8();
      r.skip(1);
      const groupId = r.u32();
      if (command > 2) throw new OfpError('OFPGMFC_BAD_COMMAND', `${command}`);
      if (groupType > 3) throw new OfpError('OFPGMFC_BAD_TYPE', `${groupType}`);
      return { command, groupType, groupId, buckets: decodeBuckets(r, end) };
    },
    encode(w, m) {
      w.u16(m.command as number);
      w.u8(m.groupType as number);
      w.zeros(1);
      w.u32(m.groupId as number);
      encodeBuckets(w, m.buckets as Bucket[]);
    },
  },
  PORT_MOD: fixedCodec(PORT_MOD_LAYOUT),
  TABLE_MOD: fixedCodec([['tableId', 'u8'], 3, ['config', 'u32']]),
  MULTIPART_REQUEST: {
    decode(r, end) {
      if (end - r.pos < 8) throw new OfpError('OFPBRC_BAD_LEN', 'multipart header');
      const mp = r.u16();
      const flags = r.u16();
      r.skip(4);
      const body = decodeMultipartRequestBody(mpTypeName(mp), r, end);
      return { flags, ...body };
    },
    encode(w, m) {
      const b = m as unknown as MultipartRequestBody & { flags: number };
      w.u16(OFPMP[b.mpType]);
      w.u16(b.flags);
      w.zeros(4);
      encodeMultipartRequestBody(w, b);
    },
  },
  MULTIPART_REPLY: {
    decode(r, end) {
      if (end - r.pos < 8) throw new OfpError('OFPBRC_BAD_LEN', 'multipart header');
      const mp = r.u16();
      const flags = r.u16();
      r.skip(4);
      const body = decodeMultipartReplyBody(mpTypeName(mp), r, end);
      return { flags, ...body };
    },
    encode(w, m) {
      const b = m as unknown as MultipartReplyBody & { flags: number };
      w.u16(OFPMP[b.mpType]);
      w.u16(b.flags);
      w.zeros(4);
      encodeMultipartReplyBody(w, b);
    },
  },
  BARRIER_REQUEST: EMPTY,
  BARRIER_REPLY: EMPTY,
  QUEUE_GET_CONFIG_REQUEST: fixedCodec([['port', 'u32'], 4]),
  QUEUE_GET_CONFIG_REPLY: {
    decode(r, end) {
      if (end - r.pos < 8) throw new OfpError('OFPBRC_BAD_LEN', 'queue config reply');
      const port = r.u32();
      r.skip(4);
      return { port, queues: decodeQueues(r, end) };
    },
    encode(w, m) {
      w.u32(m.port as number);
      w.zeros(4);
      encodeQueues(w, m.queues as PacketQueue[]);
    },
  },
  ROLE_REQUEST: fixedCodec(ROLE),
  ROLE_REPLY: fixedCodec(ROLE),
  GET_ASYNC_REQUEST: EMPTY,
  GET_ASYNC_REPLY: asyncCodec,
  SET_ASYNC: asyncCodec,
  METER_MOD: {
    align8: true,
    decode(r, end) {
      if (end - r.pos < 8) throw new OfpError('OFPBRC_BAD_LEN', 'meter mod too short');
      const command = r.u16();
      const flags = r.u16();
      const meterId = r.u32();
      if (command > 2) throw new OfpError('OFPMMFC_BAD_COMMAND', `${command}`);
      return { command, flags, meterId, bands: decodeBands(r, end) };
    },
    encode(w, m) {
      w.u16(m.command as number);
      w.u16(m.flags as number);
      w.u32(m.meterId as number);
      encodeBands(w, m.bands as MeterBand[]);
    },
  },
};

const BY_NUMBER: (Codec | undefined)[] = OFPT_NAMES.map((n) => CODECS[n]);

/**
 * Decodes one complete message. `buf` must be exactly one message (its length field equal to
 * `buf.length`). Throws only {@link OfpError}: OFPBRC_BAD_LEN for length problems,
 * OFPBRC_BAD_VERSION for a version other than 0x04 (HELLO and ERROR excepted),
 * OFPBRC_BAD_TYPE for an unknown type, and the body's own errors.
 */
export function decodeMessage(buf: Uint8Array): OfpMessage {
  if (buf.length < OFP_HEADER_LEN) throw new OfpError('OFPBRC_BAD_LEN', 'short message');
  // One DataView per message: the body reader's.
  const r = new Reader(buf, OFP_HEADER_LEN, buf.length, 'OFPBRC_BAD_LEN');
  const view = r.view;
  const version = view.getUint8(0);
  const type = view.getUint8(1);
  const length = view.getUint16(2);
  const xid = view.getUint32(4);
  if (length !== buf.length || length < OFP_HEADER_LEN) {
    throw new OfpError('OFPBRC_BAD_LEN', `length field ${length} for ${buf.length} bytes`);
  }
  if (version !== OFP_VERSION && type !== OFPT.HELLO && type !== OFPT.ERROR) {
    throw new OfpError('OFPBRC_BAD_VERSION', `version 0x${version.toString(16)}`);
  }
  const codec = BY_NUMBER[type];
  if (!codec) throw new OfpError('OFPBRC_BAD_TYPE', `type ${type}`);
  if (codec.align8 === true && (length - OFP_HEADER_LEN) % 8 !== 0) {
    throw new OfpError('OFPBRC_BAD_LEN', 'body not a multiple of 8');
  }
  const body = codec.decode(r, length, { version, type, length, xid });
  // `type` and `xid` first (for logs); a bundle body brings its own `type`.
  return Object.assign({ type: OFPT_NAMES[type]!, xid }, body) as unknown as OfpMessage;
}

/** Encodes a message; throws RangeError if it would exceed 65535 bytes. */
export function encodeMessage(m: OfpMessage): Uint8Array {
  return withWriter((w) => {
    encodeMessageInto(w, m);
    return w.finish();
  });
}

/** Appends the encoding of `m` to `w` (throws RangeError past 65535 bytes). */
export function encodeMessageInto(w: Writer, m: OfpMessage): void {
  const start = w.pos;
  let version = OFP_VERSION;
  if (m.type === 'HELLO') version = m.version;
  else if (m.type === 'ERROR' && m.version !== undefined) version = m.version;
  w.u8(version);
  if (m.type === 'BUNDLE_CONTROL' || m.type === 'BUNDLE_ADD_MESSAGE') {
    w.u8(OFPT.EXPERIMENTER);
    w.u16(0);
    w.u32(m.xid);
    w.u32(ONF_EXPERIMENTER_ID);
    if (m.type === 'BUNDLE_CONTROL') {
      w.u32(BUNDLE_CONTROL_EXP_TYPE);
      encodeBundleControl(w, m);
    } else {
      w.u32(BUNDLE_ADD_EXP_TYPE);
      encodeBundleAdd(w, m, encodeMessage);
    }
  } else {
    w.u8(OFPT[m.type]);
    w.u16(0);
    w.u32(m.xid);
    CODECS[m.type].encode(w, m as unknown as AnyBody);
  }
  const len = w.pos - start;
  if (len > OFP_MAX_MSG_LEN) {
    throw new RangeError(`${m.type} of ${len} bytes exceeds ${OFP_MAX_MSG_LEN}`);
  }
  w.setU16(start + 2, len);
}

/**
 * Splits a multipart reply whose list body would not fit in one message into several replies of
 * at most `maxLen` bytes (default 65535) with the same xid; every part but the last has
 * OFPMPF_REPLY_MORE set (other flag bits are kept). Non-list bodies are returned as they are.
 */
export function splitMultipartReply(
  m: MessageOf<'MULTIPART_REPLY'>,
  maxLen = OFP_MAX_MSG_LEN,
): MessageOf<'MULTIPART_REPLY'>[] {
  if (!('entries' in m)) return [m];
  const parts = splitReplyEntries(m, maxLen);
  return parts.map((p, i) => ({
    ...p,
    flags: i < parts.length - 1 ? p.flags | OFPMPF_REPLY_MORE : p.flags & ~OFPMPF_REPLY_MORE,
  }));
}

/**
 * The wire form of {@link splitMultipartReply}: the same parts (greedy split at `maxLen`, every
 * part but the last with OFPMPF_REPLY_MORE), but every entry is encoded exactly once, straight
 * into the part that carries it, instead of once to measure and once more per part. Non-list
 * bodies give one message. An entry that cannot fit alone throws RangeError.
 */
export function encodeMultipartReply(
  m: MessageOf<'MULTIPART_REPLY'>,
  maxLen = OFP_MAX_MSG_LEN,
): Uint8Array[] {
  if (!('entries' in m)) return [encodeMessage(m)];
  const last = m.flags & ~OFPMPF_REPLY_MORE;
  const head = encodeMessage({ ...m, flags: last, entries: [] });
  const entries: readonly unknown[] = m.entries;
  const out: Uint8Array[] = [];
  streamReplyParts(
    head,
    m.mpType,
    entries.length,
    (i) => entries[i] as never,
    (part) => out.push(part),
    maxLen,
  );
  return out;
}

/** A multipart request or reply. */
export type MultipartMessage = MessageOf<'MULTIPART_REQUEST'> | MessageOf<'MULTIPART_REPLY'>;

/**
 * Joins the parts of a multipart request or reply sent with the MORE flag (same type, xid and
 * multipart type) into one message with the flag cleared; list bodies are concatenated in order.
 * Parts that do not belong together, or several parts of a non-list body → OFPBRC_BAD_MULTIPART.
 */
export function mergeMultipartParts<M extends MultipartMessage>(parts: readonly M[]): M {
  const first = parts[0];
  if (first === undefined) throw new RangeError('no parts');
  if (parts.length === 1) return { ...first, flags: first.flags & ~OFPMPF_REPLY_MORE };
  const entries: unknown[] = [];
  for (const p of parts) {
    if (p.type !== first.type || p.xid !== first.xid || p.mpType !== first.mpType) {
      throw new OfpError('OFPBRC_BAD_MULTIPART', 'parts of different messages');
    }
    if (!('entries' in p)) throw new OfpError('OFPBRC_BAD_MULTIPART', `${p.mpType} in parts`);
    entries.push(...p.entries);
  }
  return { ...first, flags: first.flags & ~OFPMPF_REPLY_MORE, entries };
}

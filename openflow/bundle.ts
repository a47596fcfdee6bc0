/**
 * The ONF bundle extension (EXT-230) as Open vSwitch speaks it with OpenFlow 1.3
 * (`ovs-ofctl -O OpenFlow13 --bundle`): OFPT_EXPERIMENTER with experimenter 0x4f4e4600 and
 * exp_type 2300 (bundle control: bundle_id, type, flags, properties) or 2301 (bundle add: bundle_id,
 * pad, flags, the inner message, properties). The inner message is decoded with the same codec;
 * this module receives the message codec as arguments to avoid an import cycle.
 */
import type { Reader, Writer } from './bytes.js';
import { ONF_BCT, ONFT } from './constants.js';
import { ONF_EXPERIMENTER_ID, OfpError } from './errors.js';

/** A bundle property (only experimenter properties exist): type, then raw bytes after its header. */
export interface BundleProp {
  /** Property type (0xffff = experimenter). */
  type: number;
  /** Bytes after the 4-byte property header, padding excluded. */
  data: Uint8Array;
}

/** Bundle control type names. */
export type BundleCtrlType = keyof typeof ONF_BCT;

/** Decoded bundle control fields. */
export interface BundleControlBody {
  /** Bundle id chosen by the controller. */
  bundleId: number;
  /** Control type. */
  ctrlType: BundleCtrlType;
  /** ONF_BF_* flags. */
  flags: number;
  /** Properties. */
  properties: BundleProp[];
}

const CTRL_NAMES = new Map<number, BundleCtrlType>(
  Object.entries(ONF_BCT).map(([k, v]) => [v, k as BundleCtrlType]),
);

/** exp_type of ONF bundle control. */
export const BUNDLE_CONTROL_EXP_TYPE = ONFT.BUNDLE_CONTROL;
/** exp_type of ONF bundle add. */
export const BUNDLE_ADD_EXP_TYPE = ONFT.BUNDLE_ADD_MESSAGE;
/** Whether an experimenter message is one of the ONF bundle messages. */
export function isBundleExperimenter(experimenter: number, expType: number): boolean {
  return (
    experimenter === ONF_EXPERIMENTER_ID &&
    (expType === ONFT.BUNDLE_CONTROL || expType === ONFT.BUNDLE_ADD_MESSAGE)
  );
}

function decodeProps(r: Reader, end: number): BundleProp[] {
  const out: BundleProp[] = [];
  while (r.pos < end) {
    if (end - r.pos < 4) throw new OfpError('OFPBFC_MSG_BAD_LEN', 'partial bundle property');
    const start = r.pos;
    const type = r.u16();
    const len = r.u16();
    if (len < 4 || start + len > end) throw new OfpError('OFPBFC_MSG_BAD_LEN', 'bundle property');
    out.push({ type, data: r.bytes(len - 4) });
    r.pos = Math.min(end, start + ((len + 7) & ~7));
  }
  return out;
}

function encodeProps(w: Writer, props: readonly BundleProp[]): void {
  for (const p of props) {
    const start = w.pos;
    w.u16(p.type);
    w.u16(4 + p.data.length);
    w.bytes(p.data);
    w.pad8(start);
  }
}

/** Decodes a bundle control body (after experimenter and exp_type). */
export function decodeBundleControl(r: Reader, end: number): BundleControlBody {
  if (end - r.pos < 8) throw new OfpError('OFPBRC_BAD_LEN', 'bundle control');
  const bundleId = r.u32();
  const t = r.u16();
  const flags = r.u16();
  const ctrlType = CTRL_NAMES.get(t);
  if (ctrlType === undefined) throw new OfpError('OFPBFC_BAD_TYPE', `bundle control type ${t}`);
  return { bundleId, ctrlType, flags, properties: decodeProps(r, end) };
}

/** Encodes a bundle control body. */
export function encodeBundleControl(w: Writer, b: BundleControlBody): void {
  w.u32(b.bundleId);
  w.u16(ONF_BCT[b.ctrlType]);
  w.u16(b.flags);
  encodeProps(w, b.properties);
}

/** Decoded bundle add fields, generic over the inner message type. */
export interface BundleAddBody<M> {
  /** Bundle id. */
  bundleId: number;
  /** ONF_BF_* flags. */
  flags: number;
  /** The inner message. */
  message: M;
  /** Properties after the inner message. */
  properties: BundleProp[];
}

/** Message types OVS accepts inside a bundle (`ofputil_is_bundlable`). */
export const BUNDLABLE_TYPES: ReadonlySet<number> = new Set([13, 14, 15, 16]);

/**
 * Decodes a bundle add body, with OVS's checks: an inner message shorter than a header or
 * longer than the rest → OFPBFC_MSG_BAD_LEN; an inner xid other than the outer one →
 * OFPBFC_MSG_BAD_XID; an inner message of another version, of an unknown type or of a type that
 * cannot be bundled (only PACKET_OUT, FLOW_MOD, GROUP_MOD, PORT_MOD can) → OFPBFC_MSG_UNSUP.
 * Errors in the inner message's body propagate as they are (OVS reports them for the add).
 */
export function decodeBundleAdd<M>(
  r: Reader,
  end: number,
  decodeInner: (bytes: Uint8Array) => M,
  outerXid: number,
): BundleAddBody<M> {
  if (end - r.pos < 16) throw new OfpError('OFPBFC_MSG_BAD_LEN', 'bundle add');
  const bundleId = r.u32();
  r.skip(2);
  const flags = r.u16();
  const v = r.view;
  const innerLen = v.getUint16(r.pos + 2);
  if (innerLen < 8 || r.pos + innerLen > end) {
    throw new OfpError('OFPBFC_MSG_BAD_LEN', `inner length ${innerLen}`);
  }
  if (v.getUint8(r.pos) !== 4) throw new OfpError('OFPBFC_MSG_UNSUP', 'inner version');
  if (v.getUint32(r.pos + 4) !== outerXid) throw new OfpError('OFPBFC_MSG_BAD_XID');
  if (!BUNDLABLE_TYPES.has(v.getUint8(r.pos + 1))) {
    throw new OfpError('OFPBFC_MSG_UNSUP', `type ${v.getUint8(r.pos + 1)} in a bundle`);
  }
  // A plain view (Buffer#subarray is several times slower, and this runs once per bundled message).
  const message = decodeInner(new Uint8Array(r.buf.buffer, r.buf.byteOffset + r.pos, innerLen));
  const propStart = r.pos + ((innerLen + 7) & ~7);
  r.pos = Math.min(end, propStart);
  return { bundleId, flags, message, properties: decodeProps(r, end) };
}

/** Encodes a bundle add body; `encodeInner` encodes the inner message. */
export function encodeBundleAdd<M>(
  w: Writer,
  b: BundleAddBody<M>,
  encodeInner: (m: M) => Uint8Array,
): void {
  w.u32(b.bundleId);
  w.zeros(2);
  w.u16(b.flags);
  const start = w.pos;
  w.bytes(encodeInner(b.message));
  if (b.properties.length > 0) {
    w.pad8(start);
    encodeProps(w, b.properties);
  }
}

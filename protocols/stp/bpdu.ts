/**
 * IEEE 802.1D spanning-tree BPDUs (configuration and topology-change notification) and their
 * full 802.3 frame: destination 01:80:c2:00:00:00, a length field, LLC DSAP 0x42, SSAP 0x42,
 * control 0x03, then the BPDU. Timer fields are in units of 1/256 second, as on the wire.
 *
 * Decoders throw {@link StpDecodeError} and nothing else.
 */
import {
  ETH_HEADER_LEN,
  ETH_TYPE,
  getU16,
  getU32,
  getU64,
  putU16,
  putU32,
  putU64,
} from '../common.js';

/** The bridge group address every STP BPDU is sent to. */
export const STP_GROUP_MAC = Uint8Array.of(0x01, 0x80, 0xc2, 0x00, 0x00, 0x00);
/** LLC header of an STP BPDU: DSAP, SSAP, control (UI). */
export const STP_LLC = Uint8Array.of(0x42, 0x42, 0x03);
/** Length of the LLC header. */
export const LLC_HEADER_LEN = 3;
/** Protocol Identifier of STP BPDUs. */
export const STP_PROTOCOL_ID = 0x0000;
/** Protocol Version Identifier of 802.1D-1998 STP. */
export const STP_PROTOCOL_VERSION = 0x00;
/** BPDU types. */
export const StpBpduType = {
  Config: 0x00,
  Tcn: 0x80,
} as const;
/** Configuration BPDU flag bits. */
export const StpFlag = {
  TopologyChange: 0x01,
  TopologyChangeAck: 0x80,
} as const;
/** Length of a configuration BPDU. */
export const STP_CONFIG_BPDU_LEN = 35;
/** Length of a TCN BPDU. */
export const STP_TCN_BPDU_LEN = 4;
/** STP timer ticks per second. */
export const STP_TICKS_PER_SEC = 256;

/** A configuration BPDU (802.1D 9.3.1). Identifiers are 64-bit bigints; times in 1/256 s. */
export interface StpConfigBpdu {
  /** BPDU type tag. */
  type: 'config';
  /** Flags ({@link StpFlag}). */
  flags: number;
  /** Root Identifier. */
  rootId: bigint;
  /** Root Path Cost. */
  rootPathCost: number;
  /** Bridge Identifier of the transmitting bridge. */
  bridgeId: bigint;
  /** Port Identifier of the transmitting port. */
  portId: number;
  /** Message Age, 1/256 s. */
  messageAge: number;
  /** Max Age, 1/256 s. */
  maxAge: number;
  /** Hello Time, 1/256 s. */
  helloTime: number;
  /** Forward Delay, 1/256 s. */
  forwardDelay: number;
}

/** A topology change notification BPDU (802.1D 9.3.2). */
export interface StpTcnBpdu {
  /** BPDU type tag. */
  type: 'tcn';
}

/** Either BPDU. */
export type StpBpdu = StpConfigBpdu | StpTcnBpdu;

/** Why a received BPDU was counted as an error (stp_error_count). */
export const STP_RX_ERRORS = {
  /** Frame shorter than Ethernet + LLC, or 802.3 length inconsistent with the frame. */
  truncated: 'truncated frame',
  /** Not an 802.3 frame with LLC 42 42 03. */
  badLlc: 'not an LLC 42-42-03 frame',
  /** BPDU shorter than its 4-byte header. */
  runt: 'runt BPDU',
  /** Protocol Identifier not 0. */
  badProtocol: 'unexpected protocol identifier',
  /** Configuration BPDU shorter than 35 bytes. */
  badConfigLength: 'configuration BPDU too short',
  /** TCN BPDU not exactly 4 bytes. */
  badTcnLength: 'TCN BPDU of wrong size',
  /** BPDU type neither configuration nor TCN (RSTP BPDUs included). */
  badType: 'unexpected BPDU type',
} as const;
/** A BPDU reception error reason. */
export type StpRxError = keyof typeof STP_RX_ERRORS;

/** The only error the STP decoders throw. */
export class StpDecodeError extends Error {
  constructor(
    /** Which check failed. */
    readonly reason: StpRxError,
    detail?: string,
  ) {
    super(detail ? `${STP_RX_ERRORS[reason]}: ${detail}` : STP_RX_ERRORS[reason]);
    this.name = 'StpDecodeError';
  }
}

/** Encodes a BPDU (without LLC or Ethernet). */
export function encodeBpdu(b: StpBpdu): Uint8Array {
  if (b.type === 'tcn') return Uint8Array.of(0, 0, STP_PROTOCOL_VERSION, StpBpduType.Tcn);
  const out = new Uint8Array(STP_CONFIG_BPDU_LEN);
  putU16(out, 0, STP_PROTOCOL_ID);
  out[2] = STP_PROTOCOL_VERSION;
  out[3] = StpBpduType.Config;
  out[4] = b.flags & 0xff;
  putU64(out, 5, b.rootId);
  putU32(out, 13, b.rootPathCost);
  putU64(out, 17, b.bridgeId);
  putU16(out, 25, b.portId);
  putU16(out, 27, b.messageAge);
  putU16(out, 29, b.maxAge);
  putU16(out, 31, b.helloTime);
  putU16(out, 33, b.forwardDelay);
  return out;
}

/**
 * Decodes a BPDU as OVS's stp_received_bpdu checks it: at least 4 bytes, protocol identifier 0
 * (any version accepted), type configuration with at least 35 bytes or TCN with exactly 4.
 */
export function decodeBpdu(b: Uint8Array): StpBpdu {
  if (b.length < 4) throw new StpDecodeError('runt', `${b.length} bytes`);
  const proto = getU16(b, 0);
  if (proto !== STP_PROTOCOL_ID) throw new StpDecodeError('badProtocol', String(proto));
  const type = b[3];
  if (type === StpBpduType.Config) {
    if (b.length < STP_CONFIG_BPDU_LEN)
      throw new StpDecodeError('badConfigLength', `${b.length} bytes`);
    return {
      type: 'config',
      flags: b[4] ?? 0,
      rootId: getU64(b, 5),
      rootPathCost: getU32(b, 13),
      bridgeId: getU64(b, 17),
      portId: getU16(b, 25),
      messageAge: getU16(b, 27),
      maxAge: getU16(b, 29),
      helloTime: getU16(b, 31),
      forwardDelay: getU16(b, 33),
    };
  }
  if (type === StpBpduType.Tcn) {
    if (b.length !== STP_TCN_BPDU_LEN)
      throw new StpDecodeError('badTcnLength', `${b.length} bytes`);
    return { type: 'tcn' };
  }
  throw new StpDecodeError('badType', String(type));
}

/**
 * Builds the full frame: group address destination, `src` source, 802.3 length, LLC, BPDU.
 * Like OVS, the frame is not padded (52 bytes for a configuration BPDU, 21 for a TCN); the
 * device pads short frames on the wire, and receivers use the 802.3 length to drop padding.
 */
export function encodeBpduFrame(src: Uint8Array, bpdu: StpBpdu): Uint8Array {
  const body = encodeBpdu(bpdu);
  const f = new Uint8Array(ETH_HEADER_LEN + LLC_HEADER_LEN + body.length);
  f.set(STP_GROUP_MAC, 0);
  f.set(src.subarray(0, 6), 6);
  putU16(f, 12, LLC_HEADER_LEN + body.length);
  f.set(STP_LLC, ETH_HEADER_LEN);
  f.set(body, ETH_HEADER_LEN + LLC_HEADER_LEN);
  return f;
}

/**
 * True for frames the bridge consumes as STP: destination 01:80:c2:00:00:00 with an 802.3
 * length (not an Ethertype) and no SNAP header. Never throws.
 */
export function isStpFrame(frame: Uint8Array): boolean {
  if (frame.length < ETH_HEADER_LEN) return false;
  for (let i = 0; i < 6; i++) if (frame[i] !== STP_GROUP_MAC[i]) return false;
  if (getU16(frame, 12) >= ETH_TYPE.MIN_ETHERTYPE) return false;
  // An 802.3 frame with a SNAP header has a real Ethertype inside; OVS does not treat it as STP.
  return !(frame[14] === 0xaa && frame[15] === 0xaa && frame[16] === 0x03);
}

/**
 * The BPDU bytes inside a frame: after the LLC header, bounded by the 802.3 length field (so
 * Ethernet padding is not part of the BPDU). Throws {@link StpDecodeError}.
 */
export function extractBpdu(frame: Uint8Array): Uint8Array {
  if (frame.length < ETH_HEADER_LEN + LLC_HEADER_LEN) throw new StpDecodeError('truncated');
  const len = getU16(frame, 12);
  if (len >= ETH_TYPE.MIN_ETHERTYPE) throw new StpDecodeError('badLlc', 'ethertype frame');
  if (len < LLC_HEADER_LEN || ETH_HEADER_LEN + len > frame.length) {
    throw new StpDecodeError('truncated', `802.3 length ${len}`);
  }
  for (let i = 0; i < 3; i++) {
    if (frame[ETH_HEADER_LEN + i] !== STP_LLC[i]) throw new StpDecodeError('badLlc');
  }
  return frame.subarray(ETH_HEADER_LEN + LLC_HEADER_LEN, ETH_HEADER_LEN + len);
}

/** Decodes a full BPDU frame. Throws {@link StpDecodeError}. */
export function decodeBpduFrame(frame: Uint8Array): StpBpdu {
  return decodeBpdu(extractBpdu(frame));
}

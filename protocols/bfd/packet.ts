/**
 * BFD control packets (RFC 5880 §4.1) and their single-hop IPv4/UDP encapsulation (RFC 5881) in a
 * full Ethernet frame, as Open vSwitch sends and receives them on interfaces.
 *
 * Decoders here are structural only: they throw {@link BfdDecodeError} (and nothing else) when
 * the bytes cannot hold what they claim to be. The semantic reception checks of RFC 5880 §6.8.6
 * (version, authentication, length, multiplier, multipoint, discriminators) are in
 * {@link checkBfdControl}, so a session can count each reason separately.
 */
import {
  ETH_HEADER_LEN,
  ETH_TYPE,
  getU16,
  getU32,
  inetChecksum,
  putU16,
  putU32,
} from '../common.js';

/** The BFD protocol version this implementation speaks (RFC 5880 §4.1). */
export const BFD_VERSION = 1;
/** UDP destination port of single-hop BFD control packets (RFC 5881 §4). */
export const BFD_DEST_PORT = 3784;
/** Length of a BFD control packet without authentication section. */
export const BFD_PACKET_LEN = 24;
/** Lowest UDP source port a session may use (RFC 5881 §4). */
export const BFD_MIN_SRC_PORT = 49152;
/** IPv4 header length used on transmit (no options). */
export const IPV4_HEADER_LEN = 20;
/** UDP header length. */
export const UDP_HEADER_LEN = 8;
/** Total length of a composed untagged BFD frame. */
export const BFD_FRAME_LEN = ETH_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN + BFD_PACKET_LEN;
/** OVS's default destination MAC for transmitted BFD frames (`eth_addr_bfd`). */
export const BFD_DEFAULT_DST_MAC = Uint8Array.of(0x00, 0x23, 0x20, 0x00, 0x00, 0x01);
/** OVS's default source IPv4 address, 169.254.1.1. */
export const BFD_DEFAULT_SRC_IP = 0xa9fe0101;
/** OVS's default destination IPv4 address, 169.254.1.0. */
export const BFD_DEFAULT_DST_IP = 0xa9fe0100;
/** IP TOS OVS puts on BFD packets (IPTOS_PREC_INTERNETCONTROL). */
export const BFD_IP_TOS = 0xc0;
/** Required IP TTL of single-hop BFD (RFC 5881 §5, GTSM). */
export const BFD_TTL = 255;
const IPPROTO_UDP = 17;

/** Session states as carried in the two-bit State field (RFC 5880 §4.1). */
export const BfdState = {
  AdminDown: 0,
  Down: 1,
  Init: 2,
  Up: 3,
} as const;
/** A BFD session state value. */
export type BfdState = (typeof BfdState)[keyof typeof BfdState];

/** State names as OVS writes them into Interface.bfd_status. */
export const BFD_STATE_NAMES: Readonly<Record<BfdState, string>> = {
  [BfdState.AdminDown]: 'admin_down',
  [BfdState.Down]: 'down',
  [BfdState.Init]: 'init',
  [BfdState.Up]: 'up',
};

/** Diagnostic codes (RFC 5880 §4.1). */
export const BfdDiag = {
  None: 0,
  ControlDetectionTimeExpired: 1,
  EchoFunctionFailed: 2,
  NeighborSignaledSessionDown: 3,
  ForwardingPlaneReset: 4,
  PathDown: 5,
  ConcatenatedPathDown: 6,
  AdministrativelyDown: 7,
  ReverseConcatenatedPathDown: 8,
} as const;
/** A diagnostic code; values 9–31 are reserved but can arrive on the wire. */
export type BfdDiag = number;

/** Diagnostic texts as OVS writes them (the RFC 5880 §4.1 names). */
export const BFD_DIAG_NAMES: readonly string[] = [
  'No Diagnostic',
  'Control Detection Time Expired',
  'Echo Function Failed',
  'Neighbor Signaled Session Down',
  'Forwarding Plane Reset',
  'Path Down',
  'Concatenated Path Down',
  'Administratively Down',
  'Reverse Concatenated Path Down',
];

/** Text for a diagnostic code; reserved codes read "Invalid Diagnostic", as in OVS. */
export function bfdDiagName(diag: number): string {
  return BFD_DIAG_NAMES[diag] ?? 'Invalid Diagnostic';
}

/** Text for a state, as written into bfd_status. */
export function bfdStateName(state: BfdState): string {
  return BFD_STATE_NAMES[state];
}

/** Flag bits in the second octet, below the State field (RFC 5880 §4.1). */
export const BfdFlag = {
  Multipoint: 0x01,
  Demand: 0x02,
  Auth: 0x04,
  ControlPlaneIndependent: 0x08,
  Final: 0x10,
  Poll: 0x20,
} as const;

/** Flags rendered as OVS renders them in logs and bfd/show (`none`, or e.g. `final poll`). */
export function bfdFlagsText(flags: number): string {
  const names: string[] = [];
  if (flags & BfdFlag.Multipoint) names.push('multipoint');
  if (flags & BfdFlag.Demand) names.push('demand');
  if (flags & BfdFlag.Auth) names.push('auth');
  if (flags & BfdFlag.ControlPlaneIndependent) names.push('ctl');
  if (flags & BfdFlag.Final) names.push('final');
  if (flags & BfdFlag.Poll) names.push('poll');
  return names.length ? names.join(' ') : 'none';
}

/** A decoded BFD control packet. Intervals are in microseconds, as on the wire. */
export interface BfdControlPacket {
  /** Protocol version (3 bits); only 1 is accepted by {@link checkBfdControl}. */
  version: number;
  /** Diagnostic code (5 bits). */
  diag: number;
  /** Sender's session state. */
  state: BfdState;
  /** Flag bits (6 bits, {@link BfdFlag}). */
  flags: number;
  /** Detect Mult (8 bits). */
  detectMult: number;
  /** Length field (8 bits) as sent, not as measured. */
  length: number;
  /** My Discriminator. */
  myDisc: number;
  /** Your Discriminator. */
  yourDisc: number;
  /** Desired Min TX Interval, microseconds. */
  desiredMinTxUs: number;
  /** Required Min RX Interval, microseconds. */
  requiredMinRxUs: number;
  /** Required Min Echo RX Interval, microseconds. */
  requiredMinEchoRxUs: number;
}

/** Why a frame or packet was not accepted; one entry per counter. */
export const BFD_RX_ERRORS = {
  /** Frame too short for its headers, or header lengths inconsistent. */
  truncated: 'truncated frame or headers',
  /** Not IPv4/UDP to port 3784 (or a later IP fragment). */
  notBfd: 'not a BFD control frame',
  /** IPv4 TTL was not 255 (RFC 5881 §5). */
  badTtl: 'IP TTL not 255',
  /** UDP payload shorter than the 24-byte control packet. */
  tooShort: 'control packet shorter than 24 bytes',
  /** Version field not 1. */
  badVersion: 'incorrect version',
  /** Authentication (A) bit set; authentication is not configured. */
  auth: 'authentication present but not configured',
  /** Length field below 24 or beyond the UDP payload. */
  badLength: 'length field invalid',
  /** Detect Mult of zero. */
  zeroMult: 'zero detect multiplier',
  /** Multipoint (M) bit set. */
  multipoint: 'multipoint bit set',
  /** My Discriminator of zero. */
  zeroMyDisc: 'my discriminator zero',
  /** Your Discriminator nonzero and not ours. */
  badYourDisc: 'your discriminator does not match',
  /** Your Discriminator zero while the sender is Init or Up. */
  nullYourDisc: 'your discriminator zero in state init/up',
} as const;
/** A reception error reason. */
export type BfdRxError = keyof typeof BFD_RX_ERRORS;

/** The only error BFD decoders throw. */
export class BfdDecodeError extends Error {
  constructor(
    /** Which check failed. */
    readonly reason: BfdRxError,
    detail?: string,
  ) {
    super(detail ? `${BFD_RX_ERRORS[reason]}: ${detail}` : BFD_RX_ERRORS[reason]);
    this.name = 'BfdDecodeError';
  }
}

/** Encodes a control packet into 24 bytes (no authentication section). */
export function encodeBfdControl(
  p: BfdControlPacket,
  out = new Uint8Array(BFD_PACKET_LEN),
  off = 0,
): Uint8Array {
  out[off] = ((p.version & 0x7) << 5) | (p.diag & 0x1f);
  out[off + 1] = ((p.state & 0x3) << 6) | (p.flags & 0x3f);
  out[off + 2] = p.detectMult & 0xff;
  out[off + 3] = p.length & 0xff;
  putU32(out, off + 4, p.myDisc);
  putU32(out, off + 8, p.yourDisc);
  putU32(out, off + 12, p.desiredMinTxUs);
  putU32(out, off + 16, p.requiredMinRxUs);
  putU32(out, off + 20, p.requiredMinEchoRxUs);
  return out;
}

/**
 * Decodes the mandatory 24 bytes of a control packet. Throws {@link BfdDecodeError} `tooShort`
 * when fewer than 24 bytes are given; every field is returned as sent, unchecked.
 */
export function decodeBfdControl(b: Uint8Array, off = 0, len = b.length - off): BfdControlPacket {
  if (len < BFD_PACKET_LEN || off + BFD_PACKET_LEN > b.length) {
    throw new BfdDecodeError('tooShort', `${len} bytes`);
  }
  const b0 = b[off] ?? 0;
  const b1 = b[off + 1] ?? 0;
  return {
    version: b0 >>> 5,
    diag: b0 & 0x1f,
    state: (b1 >>> 6) as BfdState,
    flags: b1 & 0x3f,
    detectMult: b[off + 2] ?? 0,
    length: b[off + 3] ?? 0,
    myDisc: getU32(b, off + 4),
    yourDisc: getU32(b, off + 8),
    desiredMinTxUs: getU32(b, off + 12),
    requiredMinRxUs: getU32(b, off + 16),
    requiredMinEchoRxUs: getU32(b, off + 20),
  };
}

/**
 * The reception checks of RFC 5880 §6.8.6 that do not need session state beyond the local
 * discriminator, in OVS's order: version, authentication, length (below 24, or beyond the
 * `payloadLen` the encapsulation carried), zero multiplier, multipoint, zero My Discriminator,
 * Your Discriminator rules. Returns the first failing reason, or undefined when acceptable.
 */
export function checkBfdControl(
  p: BfdControlPacket,
  payloadLen: number,
  localDisc: number,
): BfdRxError | undefined {
  if (p.version !== BFD_VERSION) return 'badVersion';
  if (p.flags & BfdFlag.Auth) return 'auth';
  if (p.length < BFD_PACKET_LEN || p.length > payloadLen) return 'badLength';
  if (p.detectMult === 0) return 'zeroMult';
  if (p.flags & BfdFlag.Multipoint) return 'multipoint';
  if (p.myDisc === 0) return 'zeroMyDisc';
  if (p.yourDisc !== 0) {
    if (p.yourDisc !== localDisc) return 'badYourDisc';
  } else if (p.state !== BfdState.Down && p.state !== BfdState.AdminDown) {
    return 'nullYourDisc';
  }
  return undefined;
}

/** Addressing of a BFD frame. MACs are 6-byte arrays; IPv4 addresses unsigned 32-bit numbers. */
export interface BfdFrameAddressing {
  /** Ethernet destination. */
  ethDst: Uint8Array;
  /** Ethernet source. */
  ethSrc: Uint8Array;
  /** IPv4 source. */
  ipSrc: number;
  /** IPv4 destination. */
  ipDst: number;
  /** UDP source port (49152–65535 for a session). */
  udpSrc: number;
}

/** A BFD frame split into its layers. */
export interface BfdFrame extends BfdFrameAddressing {
  /** VLAN tags in order (TPID << 16 | TCI), empty when untagged. */
  vlans: number[];
  /** IP TTL. */
  ttl: number;
  /** IP TOS. */
  tos: number;
  /** UDP destination port (3784 for an accepted frame). */
  udpDst: number;
  /** Offset of the UDP payload in the frame. */
  payloadOffset: number;
  /** UDP payload length as bounded by the UDP length field and the frame. */
  payloadLength: number;
}

/**
 * Builds a complete untagged Ethernet/IPv4/UDP frame carrying `msg`, as OVS composes it: TOS 0xc0,
 * TTL 255, no DF, IP ID 0, IP checksum computed, UDP checksum 0 (permitted for IPv4).
 */
export function encodeBfdFrame(addr: BfdFrameAddressing, msg: BfdControlPacket): Uint8Array {
  const f = new Uint8Array(BFD_FRAME_LEN);
  f.set(addr.ethDst.subarray(0, 6), 0);
  f.set(addr.ethSrc.subarray(0, 6), 6);
  putU16(f, 12, ETH_TYPE.IPV4);
  const ip = ETH_HEADER_LEN;
  f[ip] = 0x45;
  f[ip + 1] = BFD_IP_TOS;
  putU16(f, ip + 2, IPV4_HEADER_LEN + UDP_HEADER_LEN + BFD_PACKET_LEN);
  f[ip + 8] = BFD_TTL;
  f[ip + 9] = IPPROTO_UDP;
  putU32(f, ip + 12, addr.ipSrc);
  putU32(f, ip + 16, addr.ipDst);
  putU16(f, ip + 10, inetChecksum(f, ip, IPV4_HEADER_LEN));
  const udp = ip + IPV4_HEADER_LEN;
  putU16(f, udp, addr.udpSrc);
  putU16(f, udp + 2, BFD_DEST_PORT);
  putU16(f, udp + 4, UDP_HEADER_LEN + BFD_PACKET_LEN);
  encodeBfdControl(msg, f, udp + UDP_HEADER_LEN);
  return f;
}

/**
 * Splits a frame into Ethernet (with up to two VLAN tags), IPv4 and UDP layers. Throws
 * {@link BfdDecodeError}: `truncated` when headers do not fit or are inconsistent, `notBfd`
 * when it is not IPv4/UDP to port 3784 or is a non-first fragment. The BFD payload is not
 * decoded; see {@link decodeBfdControl}.
 */
export function parseBfdFrame(frame: Uint8Array): BfdFrame {
  if (frame.length < ETH_HEADER_LEN) throw new BfdDecodeError('truncated', 'ethernet');
  let off = 12;
  let type = getU16(frame, off);
  const vlans: number[] = [];
  while ((type === ETH_TYPE.VLAN_8021Q || type === ETH_TYPE.VLAN_8021AD) && vlans.length < 2) {
    if (frame.length < off + 6) throw new BfdDecodeError('truncated', 'vlan');
    vlans.push(((type << 16) | getU16(frame, off + 2)) >>> 0);
    off += 4;
    type = getU16(frame, off);
  }
  off += 2;
  if (type !== ETH_TYPE.IPV4) throw new BfdDecodeError('notBfd', 'not IPv4');
  const ip = off;
  if (frame.length < ip + IPV4_HEADER_LEN) throw new BfdDecodeError('truncated', 'ipv4');
  const verIhl = frame[ip] ?? 0;
  const ihl = (verIhl & 0x0f) * 4;
  if (verIhl >>> 4 !== 4 || ihl < IPV4_HEADER_LEN)
    throw new BfdDecodeError('truncated', 'ipv4 header');
  const totLen = getU16(frame, ip + 2);
  if (totLen < ihl || frame.length < ip + ihl) throw new BfdDecodeError('truncated', 'ipv4 length');
  if ((frame[ip + 9] ?? 0) !== IPPROTO_UDP) throw new BfdDecodeError('notBfd', 'not UDP');
  if ((getU16(frame, ip + 6) & 0x1fff) !== 0) throw new BfdDecodeError('notBfd', 'later fragment');
  const ipEnd = Math.min(frame.length, ip + totLen);
  const udp = ip + ihl;
  if (ipEnd < udp + UDP_HEADER_LEN) throw new BfdDecodeError('truncated', 'udp');
  const udpDst = getU16(frame, udp + 2);
  if (udpDst !== BFD_DEST_PORT) throw new BfdDecodeError('notBfd', `udp port ${udpDst}`);
  const udpLen = getU16(frame, udp + 4);
  if (udpLen < UDP_HEADER_LEN) throw new BfdDecodeError('truncated', 'udp length');
  const payloadOffset = udp + UDP_HEADER_LEN;
  const payloadLength = Math.max(0, Math.min(ipEnd, udp + udpLen) - payloadOffset);
  return {
    ethDst: frame.slice(0, 6),
    ethSrc: frame.slice(6, 12),
    vlans,
    tos: frame[ip + 1] ?? 0,
    ttl: frame[ip + 8] ?? 0,
    ipSrc: getU32(frame, ip + 12),
    ipDst: getU32(frame, ip + 16),
    udpSrc: getU16(frame, udp),
    udpDst,
    payloadOffset,
    payloadLength,
  };
}

/**
 * The datapath's cheap test for "this frame is a BFD control frame": IPv4 (optionally behind up
 * to two VLAN tags), protocol UDP, not a later fragment, destination port 3784. Never throws.
 * Which session consumes it is decided by `BfdSession.shouldProcessFrame`.
 */
export function isBfdFrame(frame: Uint8Array): boolean {
  try {
    parseBfdFrame(frame);
    return true;
  } catch (e) {
    if (e instanceof BfdDecodeError) return false;
    throw e;
  }
}

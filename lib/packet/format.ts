/**
 * Text forms of flows, in Open vSwitch's syntax.
 *
 * - {@link formatMatch}: a key with a mask, printed as OVS's match_format prints it
 *   (`recirc_id=0,eth,tcp,in_port=1,nw_frag=no,tp_dst=80`): used for megaflows and rules.
 * - {@link formatFlow}: a packet's key, printed as `ofproto/trace` prints the "Flow:" line
 *   (the packet's relevant fields, metadata only when non-zero).
 * - {@link parseFlow}: ovs-ofctl match syntax (`in_port=1,dl_type=0x0800,nw_src=10.0.0.1/24,
 *   tcp,tp_dst=80`) into a key and a mask; serves `ofproto/trace BRIDGE FLOW` and
 *   `netdev-dummy/receive PORT FLOW`. The datapath (ODP) syntax `in_port(1),eth(...)` is not
 *   accepted.
 *
 * Port names: in_port prints and parses OpenFlow 1.3 reserved port numbers by name (LOCAL =
 * 0xfffffffe, CONTROLLER, ALL, FLOOD, NORMAL, TABLE, IN_PORT, ANY); other numbers print in
 * decimal.
 *
 * Beyond OVS, the parser accepts `in_phy_port`, `ipv6_exthdr`, `pbb_isid`, `vlan_tci1`,
 * `dl_vlan1`, `dl_vlan_pcp1` and `vlan_tpid`/`vlan_tpid1`; the printers show the first three
 * and the TPIDs only with {@link FormatOptions.extensions}, so that by default their text is
 * byte-for-byte what OVS prints.
 */
import type { FlowKey } from './flow-key.js';
import {
  ETH_TYPE,
  FLOW_KEY_WORDS,
  FRAG_ANY,
  FRAG_LATER,
  IPPROTO,
  VLAN_CFI,
  W,
  maskKey,
  newFlowKey,
  packetMask,
} from './flow-key.js';
import { formatMac, parseMac } from './mac.js';
import {
  formatIPv4,
  formatIPv6,
  ipv4CidrBits,
  ipv4Mask,
  ipv6CidrBits,
  ipv6MaskInto,
  parseIPv4,
  parseIPv6Into,
} from './ip.js';

/** Error thrown by {@link parseFlow}, with the offending token. */
export class FlowParseError extends Error {
  constructor(
    message: string,
    /** The `name=value` token (or bare word) that failed. */
    readonly token: string,
  ) {
    super(message);
    this.name = 'FlowParseError';
  }
}

/** OpenFlow 1.3 reserved port numbers by name. */
const PORT_NAMES: ReadonlyArray<readonly [string, number]> = [
  ['IN_PORT', 0xfffffff8],
  ['TABLE', 0xfffffff9],
  ['NORMAL', 0xfffffffa],
  ['FLOOD', 0xfffffffb],
  ['ALL', 0xfffffffc],
  ['CONTROLLER', 0xfffffffd],
  ['LOCAL', 0xfffffffe],
  ['ANY', 0xffffffff],
];

function portName(p: number): string | undefined {
  const v = p >>> 0;
  for (const [n, num] of PORT_NAMES) if (num === v) return n;
  return undefined;
}

function formatPort(p: number, names?: (port: number) => string | undefined): string {
  return portName(p) ?? names?.(p >>> 0) ?? String(p >>> 0);
}

function hexAlt(v: number): string {
  return v === 0 ? '0' : '0x' + (v >>> 0).toString(16);
}

function hex64Alt(hi: number, lo: number): string {
  const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  return v === 0n ? '0' : '0x' + v.toString(16);
}

function pad(v: number, n: number): string {
  return (v >>> 0).toString(16).padStart(n, '0');
}

const TCP_FLAG_NAMES = [
  'fin',
  'syn',
  'rst',
  'psh',
  'ack',
  'urg',
  'ece',
  'cwr',
  'ns',
  '[200]',
  '[400]',
  '[800]',
];

function formatTcpFlags(flags: number, mask: number): string {
  if (mask === 0xfff) {
    if (flags === 0) return '0';
    const parts: string[] = [];
    for (let i = 0; i < 12; i++) if ((flags >>> i) & 1) parts.push(TCP_FLAG_NAMES[i]!);
    return parts.join('|');
  }
  if (mask === 0) return '0/0';
  let s = '';
  for (let i = 0; i < 12; i++) {
    if (((mask >>> i) & 1) === 0) continue;
    s += ((flags >>> i) & 1 ? '+' : '-') + TCP_FLAG_NAMES[i]!;
  }
  return s;
}

function ipMasked(v: number, m: number): string {
  let s = formatIPv4(v);
  if (m >>> 0 !== 0xffffffff) {
    const bits = ipv4CidrBits(m);
    s += bits >= 0 ? `/${bits}` : `/${formatIPv4(m)}`;
  }
  return s;
}

function ipv6Masked(key: FlowKey, mask: FlowKey, w: number): string {
  let s = formatIPv6(key, w);
  let exact = true;
  for (let i = 0; i < 4; i++) if (mask[w + i] !== 0xffffffff) exact = false;
  if (!exact) {
    const bits = ipv6CidrBits(mask, w);
    s += bits >= 0 ? `/${bits}` : `/${formatIPv6(mask, w)}`;
  }
  return s;
}

function macMasked(key: FlowKey, mask: FlowKey, w: number): string {
  let s = formatMac(key[w]!, key[w + 1]!);
  if ((mask[w]! & 0xffff) !== 0xffff || mask[w + 1] !== 0xffffffff) {
    s += '/' + formatMac(mask[w]!, mask[w + 1]!);
  }
  return s;
}

function any(mask: FlowKey, w: number, n: number, lowBits = 32): boolean {
  const first = lowBits >= 32 ? mask[w]! : mask[w]! & ((1 << lowBits) - 1);
  if (first !== 0) return true;
  for (let i = 1; i < n; i++) if (mask[w + i] !== 0) return true;
  return false;
}

function u16Masked(v: number, m: number): string {
  return m === 0xffff ? String(v) : `0x${v.toString(16)}/0x${m.toString(16)}`;
}

/** Options for {@link formatMatch} and {@link formatFlow}. */
export interface FormatOptions {
  /**
   * Also print the fields Open vSwitch does not have or does not print: `in_phy_port`,
   * `vlan_tpid`/`vlan_tpid1` (when not 0x8100), `ipv6_exthdr` and `pbb_isid`, each only when
   * masked. Default false: the text is exactly what OVS prints for the same flow. With true,
   * the text is lossless for {@link parseFlow}.
   */
  extensions?: boolean;
  /**
   * Names ports for in_port/in_phy_port (OVS prints port names when it has a port map); return
   * undefined to print the number. Reserved ports always print by their OpenFlow name.
   */
  portName?: (port: number) => string | undefined;
}

/**
 * Formats a key under a mask as OVS's match_format does (fields whose mask is zero are left
 * out; values are printed ANDed with their masks; field order and value formats follow OVS). `priority`, when given and not 32768, is
 * printed first.
 */
export function formatMatch(
  flow: FlowKey,
  mask: FlowKey,
  priority?: number,
  opts: FormatOptions = {},
): string {
  const ext = opts.extensions === true;
  // Values are printed under their masks, as OVS keeps match values pre-masked.
  const key = newFlowKey();
  maskKey(flow, mask, key);
  const out: string[] = [];
  if (priority !== undefined && priority !== 32768) out.push(`priority=${priority}`);
  const m32 = (w: number, name: string): void => {
    const m = mask[w]! >>> 0;
    if (m === 0) return;
    out.push(`${name}=${hexAlt(key[w]! & m)}` + (m !== 0xffffffff ? `/${hexAlt(m)}` : ''));
  };
  m32(W.PKT_MARK, 'pkt_mark');
  const megaflow = mask[W.RECIRC_ID] !== 0;
  m32(W.RECIRC_ID, 'recirc_id');
  m32(W.DP_HASH, 'dp_hash');
  if (mask[W.SKB_PRIORITY] !== 0) out.push(`skb_priority=${hexAlt(key[W.SKB_PRIORITY]!)}`);
  if (megaflow) out.push('eth');

  const dlTypeMasked = (mask[W.ETH_TYPE]! & 0xffff) !== 0;
  const dlType = key[W.ETH_TYPE]! & 0xffff;
  const protoMasked = (mask[W.NW]! & 0xff) !== 0;
  const proto = key[W.NW]! & 0xff;
  let skipType = false;
  let skipProto = false;
  if (dlTypeMasked) {
    skipType = true;
    if (dlType === ETH_TYPE.IP || dlType === ETH_TYPE.IPV6) {
      const v6 = dlType === ETH_TYPE.IPV6;
      let name = v6 ? 'ipv6' : 'ip';
      if (protoMasked) {
        skipProto = true;
        if (proto === (v6 ? IPPROTO.ICMPV6 : IPPROTO.ICMP)) name = v6 ? 'icmp6' : 'icmp';
        else if (proto === IPPROTO.TCP) name = v6 ? 'tcp6' : 'tcp';
        else if (proto === IPPROTO.UDP) name = v6 ? 'udp6' : 'udp';
        else if (proto === IPPROTO.SCTP) name = v6 ? 'sctp6' : 'sctp';
        else skipProto = false;
      }
      out.push(name);
    } else if (dlType === ETH_TYPE.ARP) out.push('arp');
    else if (dlType === ETH_TYPE.RARP) out.push('rarp');
    else if (dlType === ETH_TYPE.MPLS) out.push('mpls');
    else if (dlType === ETH_TYPE.MPLS_MCAST) out.push('mplsm');
    else skipType = false;
  }

  if (mask[W.TUNNEL_ID] !== 0 || mask[W.TUNNEL_ID + 1] !== 0) {
    const full = mask[W.TUNNEL_ID] === 0xffffffff && mask[W.TUNNEL_ID + 1] === 0xffffffff;
    out.push(
      `tun_id=${hex64Alt(key[W.TUNNEL_ID]!, key[W.TUNNEL_ID + 1]!)}` +
        (full ? '' : `/${hex64Alt(mask[W.TUNNEL_ID]!, mask[W.TUNNEL_ID + 1]!)}`),
    );
  }
  if (mask[W.METADATA] !== 0 || mask[W.METADATA + 1] !== 0) {
    const full = mask[W.METADATA] === 0xffffffff && mask[W.METADATA + 1] === 0xffffffff;
    out.push(
      `metadata=${hex64Alt(key[W.METADATA]!, key[W.METADATA + 1]!)}` +
        (full ? '' : `/${hex64Alt(mask[W.METADATA]!, mask[W.METADATA + 1]!)}`),
    );
  }
  if (mask[W.IN_PORT] !== 0) out.push(`in_port=${formatPort(key[W.IN_PORT]!, opts.portName)}`);
  if (ext && mask[W.IN_PHY_PORT] !== 0) {
    out.push(`in_phy_port=${formatPort(key[W.IN_PHY_PORT]!, opts.portName)}`);
  }

  for (let i = 0; i < 2; i++) {
    const m = mask[W.VLAN0 + i]! & 0xffff;
    if (m === 0) break;
    const k = key[W.VLAN0 + i]! & 0xffff;
    const sfx = i === 0 ? '' : String(i);
    const vidM = m & 0x0fff;
    const pcpM = m & 0xe000;
    if (
      (m & VLAN_CFI) !== 0 &&
      (k & VLAN_CFI) !== 0 &&
      (vidM === 0 || vidM === 0x0fff) &&
      (pcpM === 0 || pcpM === 0xe000) &&
      (vidM !== 0 || pcpM !== 0)
    ) {
      if (vidM !== 0) out.push(`dl_vlan${sfx}=${k & 0x0fff}`);
      if (pcpM !== 0) out.push(`dl_vlan_pcp${sfx}=${k >>> 13}`);
    } else if (m === 0xffff) {
      out.push(`vlan_tci${sfx}=0x${pad(k, 4)}`);
    } else {
      out.push(`vlan_tci${sfx}=0x${pad(k, 4)}/0x${pad(m, 4)}`);
    }
    const tpid = key[W.VLAN0 + i]! >>> 16;
    if (ext && mask[W.VLAN0 + i]! >>> 16 !== 0 && tpid !== 0 && tpid !== ETH_TYPE.VLAN) {
      out.push(`vlan_tpid${sfx}=0x${pad(tpid, 4)}`);
    }
  }

  if (any(mask, W.ETH_SRC, 2)) out.push(`dl_src=${macMasked(key, mask, W.ETH_SRC)}`);
  if (any(mask, W.ETH_DST, 2)) out.push(`dl_dst=${macMasked(key, mask, W.ETH_DST)}`);
  if (!skipType && dlTypeMasked) out.push(`dl_type=0x${pad(dlType, 4)}`);

  const isArp = dlType === ETH_TYPE.ARP || dlType === ETH_TYPE.RARP;
  if (dlType === ETH_TYPE.IPV6) {
    if (any(mask, W.IPV6_SRC, 4)) out.push(`ipv6_src=${ipv6Masked(key, mask, W.IPV6_SRC)}`);
    if (any(mask, W.IPV6_DST, 4)) out.push(`ipv6_dst=${ipv6Masked(key, mask, W.IPV6_DST)}`);
    const lm = mask[W.IPV6_LABEL]! & 0xfffff;
    if (lm !== 0) {
      const lv = key[W.IPV6_LABEL]! & 0xfffff;
      out.push(`ipv6_label=0x${pad(lv, 5)}` + (lm === 0xfffff ? '' : `/0x${pad(lm, 5)}`));
    }
  } else {
    const a = isArp ? 'arp_spa' : 'nw_src';
    const b = isArp ? 'arp_tpa' : 'nw_dst';
    if (mask[W.NW_SRC] !== 0) out.push(`${a}=${ipMasked(key[W.NW_SRC]!, mask[W.NW_SRC]!)}`);
    if (mask[W.NW_DST] !== 0) out.push(`${b}=${ipMasked(key[W.NW_DST]!, mask[W.NW_DST]!)}`);
  }
  if (!skipProto && protoMasked) out.push(`${isArp ? 'arp_op' : 'nw_proto'}=${proto}`);
  if (isArp) {
    if (any(mask, W.ARP_SHA, 2)) out.push(`arp_sha=${macMasked(key, mask, W.ARP_SHA)}`);
    if (any(mask, W.ARP_THA, 2)) out.push(`arp_tha=${macMasked(key, mask, W.ARP_THA)}`);
  }
  const nw = key[W.NW]!;
  const nwM = mask[W.NW]!;
  if ((nwM & 0xfc00) !== 0) out.push(`nw_tos=${(nw >>> 8) & 0xfc}`);
  if ((nwM & 0x0300) !== 0) out.push(`nw_ecn=${(nw >>> 8) & 0x03}`);
  if ((nwM & 0xff0000) !== 0) out.push(`nw_ttl=${(nw >>> 16) & 0xff}`);

  const l0 = key[W.MPLS0]!;
  const l0m = mask[W.MPLS0]!;
  if ((l0m & 0xfffff000) !== 0) out.push(`mpls_label=${l0 >>> 12}`);
  if ((l0m & 0xe00) !== 0) out.push(`mpls_tc=${(l0 >>> 9) & 7}`);
  if ((l0m & 0xff) !== 0) out.push(`mpls_ttl=${l0 & 0xff}`);
  if ((l0m & 0x100) !== 0) out.push(`mpls_bos=${(l0 >>> 8) & 1}`);
  for (let i = 1; i < 3; i++) {
    const m = mask[W.MPLS0 + i]! >>> 0;
    if (m === 0) continue;
    const v = key[W.MPLS0 + i]! >>> 0;
    out.push(`mpls_lse${i}=` + (m === 0xffffffff ? String(v) : `0x${pad(v, 8)}/0x${pad(m, 8)}`));
  }

  const fragM = (nwM >>> 24) & 3;
  const frag = (nw >>> 24) & 3;
  if (fragM === 3) {
    out.push(
      'nw_frag=' +
        ((frag & FRAG_ANY) !== 0
          ? (frag & FRAG_LATER) !== 0
            ? 'later'
            : 'first'
          : (frag & FRAG_LATER) !== 0
            ? '<error>'
            : 'no'),
    );
  } else if (fragM === FRAG_ANY) {
    out.push(`nw_frag=${(frag & FRAG_ANY) !== 0 ? 'yes' : 'no'}`);
  } else if (fragM === FRAG_LATER) {
    out.push(`nw_frag=${(frag & FRAG_LATER) !== 0 ? 'later' : 'not_later'}`);
  }

  const tp = key[W.TP]!;
  const tpM = mask[W.TP]!;
  const srcM = tpM >>> 16;
  const dstM = tpM & 0xffff;
  const isIcmp4 = dlType === ETH_TYPE.IP && proto === IPPROTO.ICMP;
  const isIcmp6 = dlType === ETH_TYPE.IPV6 && proto === IPPROTO.ICMPV6;
  const a = isIcmp4 || isIcmp6 ? 'icmp_type' : 'tp_src';
  const b = isIcmp4 || isIcmp6 ? 'icmp_code' : 'tp_dst';
  if (srcM !== 0) out.push(`${a}=${u16Masked(tp >>> 16, srcM)}`);
  if (dstM !== 0) out.push(`${b}=${u16Masked(tp & 0xffff, dstM)}`);
  if (isIcmp6) {
    if (any(mask, W.ND_TARGET, 4)) out.push(`nd_target=${ipv6Masked(key, mask, W.ND_TARGET)}`);
    if (any(mask, W.ARP_SHA, 2)) out.push(`nd_sll=${macMasked(key, mask, W.ARP_SHA)}`);
    if (any(mask, W.ARP_THA, 2)) out.push(`nd_tll=${macMasked(key, mask, W.ARP_THA)}`);
  }
  const tfM = mask[W.TCP_FLAGS]! & 0xfff;
  if ((dlType === ETH_TYPE.IP || dlType === ETH_TYPE.IPV6) && proto === IPPROTO.TCP && tfM !== 0) {
    out.push(`tcp_flags=${formatTcpFlags(key[W.TCP_FLAGS]! & 0xfff, tfM)}`);
  }
  const exM = (mask[W.TCP_FLAGS]! >>> 16) & 0x1ff;
  if (ext && exM !== 0) {
    const ex = (key[W.TCP_FLAGS]! >>> 16) & 0x1ff;
    out.push(`ipv6_exthdr=${hexAlt(ex)}` + (exM === 0x1ff ? '' : `/${hexAlt(exM)}`));
  }
  const isidM = mask[W.PBB_ISID]! & 0xffffff;
  if (ext && isidM !== 0) {
    const isid = key[W.PBB_ISID]! & 0xffffff;
    out.push(`pbb_isid=${hexAlt(isid)}` + (isidM === 0xffffff ? '' : `/${hexAlt(isidM)}`));
  }
  return out.join(',');
}

/**
 * Formats a packet's flow key as `ofproto/trace` prints its "Flow:" line (OVS flow_format):
 * the fields that are meaningful for the packet, leaving out in_port, skb_priority, pkt_mark,
 * recirc_id, dp_hash, metadata, tunnel id and ipv6_exthdr when they are zero.
 */
export function formatFlow(key: FlowKey, opts: FormatOptions = {}): string {
  const mask = newFlowKey();
  packetMask(key, mask);
  for (const w of [W.IN_PORT, W.SKB_PRIORITY, W.PKT_MARK, W.RECIRC_ID, W.DP_HASH]) {
    if (key[w] === 0) mask[w] = 0;
  }
  // OVS has no ipv6_exthdr: print it only when some bit is set.
  if (key[W.TCP_FLAGS]! >>> 16 === 0) mask[W.TCP_FLAGS] = mask[W.TCP_FLAGS]! & 0xffff;
  return formatMatch(key, mask, undefined, opts);
}

/** Options for {@link parseFlow}. */
export interface ParseOptions {
  /**
   * Resolves a port name given as `in_port=NAME` (OVS accepts names through its port map);
   * return undefined for an unknown name, which is then an error. Numbers and reserved names
   * (LOCAL, CONTROLLER, …) never reach it.
   */
  portByName?: (name: string) => number | undefined;
}

/** Result of {@link parseFlow}. */
export interface ParsedFlow {
  /**
   * Field values. Bits outside `mask` are zero, except that a VLAN tag given as present without
   * a `vlan_tpid` gets TPID 0x8100 in the key (so the key describes a whole packet).
   */
  key: FlowKey;
  /** Which bits were specified. */
  mask: FlowKey;
  /** `priority=` when given (rules), else undefined. */
  priority?: number;
}

const PROTOCOLS: Record<string, readonly [number, number]> = {
  ip: [ETH_TYPE.IP, -1],
  ipv4: [ETH_TYPE.IP, -1],
  ipv6: [ETH_TYPE.IPV6, -1],
  icmp: [ETH_TYPE.IP, IPPROTO.ICMP],
  icmp6: [ETH_TYPE.IPV6, IPPROTO.ICMPV6],
  tcp: [ETH_TYPE.IP, IPPROTO.TCP],
  tcp6: [ETH_TYPE.IPV6, IPPROTO.TCP],
  udp: [ETH_TYPE.IP, IPPROTO.UDP],
  udp6: [ETH_TYPE.IPV6, IPPROTO.UDP],
  sctp: [ETH_TYPE.IP, IPPROTO.SCTP],
  sctp6: [ETH_TYPE.IPV6, IPPROTO.SCTP],
  arp: [ETH_TYPE.ARP, -1],
  rarp: [ETH_TYPE.RARP, -1],
  mpls: [ETH_TYPE.MPLS, -1],
  mplsm: [ETH_TYPE.MPLS_MCAST, -1],
};

function parseUint(s: string, max: number, token: string): number {
  let v: number;
  if (/^0x[0-9a-f]+$/i.test(s)) v = parseInt(s.slice(2), 16);
  else if (/^\d+$/.test(s)) v = Number(s);
  else throw new FlowParseError(`${token}: ${s} is not a number`, token);
  if (!Number.isSafeInteger(v) || v > max) {
    throw new FlowParseError(`${token}: value ${s} is out of range (max ${max})`, token);
  }
  return v;
}

function parseU64(s: string, token: string): bigint {
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(s))
    throw new FlowParseError(`${token}: ${s} is not a number`, token);
  const v = BigInt(s);
  if (v > 0xffffffffffffffffn) throw new FlowParseError(`${token}: value out of range`, token);
  return v;
}

function splitMask(v: string): [string, string | undefined] {
  const i = v.indexOf('/');
  return i < 0 ? [v, undefined] : [v.slice(0, i), v.slice(i + 1)];
}

/** Sets `bits` (shifted by `shift`) of word `w`: value under mask. */
function setBits(
  key: FlowKey,
  mask: FlowKey,
  w: number,
  shift: number,
  width: number,
  v: number,
  m: number,
): void {
  const full = width >= 32 ? 0xffffffff : (1 << width) - 1;
  const fm = ((full & m) << shift) >>> 0;
  const fieldMask = (full << shift) >>> 0;
  mask[w] = ((mask[w]! & ~fieldMask) | fm) >>> 0;
  key[w] = ((key[w]! & ~fieldMask) | ((v << shift) & fm)) >>> 0;
}

interface NumField {
  w: number;
  shift: number;
  width: number;
  maskable: boolean;
  /** Largest value accepted when smaller than the storage width (ICMP type/code). */
  max?: number;
}

const NUM_FIELDS: Record<string, NumField> = {
  in_phy_port: { w: W.IN_PHY_PORT, shift: 0, width: 32, maskable: false },
  pkt_mark: { w: W.PKT_MARK, shift: 0, width: 32, maskable: true },
  skb_mark: { w: W.PKT_MARK, shift: 0, width: 32, maskable: true },
  recirc_id: { w: W.RECIRC_ID, shift: 0, width: 32, maskable: false },
  dp_hash: { w: W.DP_HASH, shift: 0, width: 32, maskable: true },
  skb_priority: { w: W.SKB_PRIORITY, shift: 0, width: 32, maskable: false },
  dl_type: { w: W.ETH_TYPE, shift: 0, width: 16, maskable: false },
  eth_type: { w: W.ETH_TYPE, shift: 0, width: 16, maskable: false },
  vlan_tci: { w: W.VLAN0, shift: 0, width: 16, maskable: true },
  vlan_tci1: { w: W.VLAN1, shift: 0, width: 16, maskable: true },
  vlan_tpid: { w: W.VLAN0, shift: 16, width: 16, maskable: false },
  vlan_tpid1: { w: W.VLAN1, shift: 16, width: 16, maskable: false },
  mpls_label: { w: W.MPLS0, shift: 12, width: 20, maskable: false },
  mpls_tc: { w: W.MPLS0, shift: 9, width: 3, maskable: false },
  mpls_bos: { w: W.MPLS0, shift: 8, width: 1, maskable: false },
  mpls_ttl: { w: W.MPLS0, shift: 0, width: 8, maskable: false },
  mpls_lse1: { w: W.MPLS1, shift: 0, width: 32, maskable: true },
  mpls_lse2: { w: W.MPLS2, shift: 0, width: 32, maskable: true },
  ipv6_label: { w: W.IPV6_LABEL, shift: 0, width: 20, maskable: true },
  ipv6_flabel: { w: W.IPV6_LABEL, shift: 0, width: 20, maskable: true },
  nw_proto: { w: W.NW, shift: 0, width: 8, maskable: false },
  ip_proto: { w: W.NW, shift: 0, width: 8, maskable: false },
  arp_op: { w: W.NW, shift: 0, width: 8, maskable: false },
  ip_dscp: { w: W.NW, shift: 10, width: 6, maskable: false },
  nw_ecn: { w: W.NW, shift: 8, width: 2, maskable: false },
  ip_ecn: { w: W.NW, shift: 8, width: 2, maskable: false },
  nw_ttl: { w: W.NW, shift: 16, width: 8, maskable: false },
  ip_ttl: { w: W.NW, shift: 16, width: 8, maskable: false },
  tp_src: { w: W.TP, shift: 16, width: 16, maskable: true },
  tp_dst: { w: W.TP, shift: 0, width: 16, maskable: true },
  tcp_src: { w: W.TP, shift: 16, width: 16, maskable: true },
  tcp_dst: { w: W.TP, shift: 0, width: 16, maskable: true },
  udp_src: { w: W.TP, shift: 16, width: 16, maskable: true },
  udp_dst: { w: W.TP, shift: 0, width: 16, maskable: true },
  sctp_src: { w: W.TP, shift: 16, width: 16, maskable: true },
  sctp_dst: { w: W.TP, shift: 0, width: 16, maskable: true },
  // ICMP type/code are one-byte values stored in the 16-bit tp_src/tp_dst (as OVS): without a
  // mask the whole 16 bits are matched; masks may cover all 16 bits (megaflows print them so).
  icmp_type: { w: W.TP, shift: 16, width: 16, maskable: true, max: 0xff },
  icmp_code: { w: W.TP, shift: 0, width: 16, maskable: true, max: 0xff },
  icmpv4_type: { w: W.TP, shift: 16, width: 16, maskable: true, max: 0xff },
  icmpv4_code: { w: W.TP, shift: 0, width: 16, maskable: true, max: 0xff },
  icmpv6_type: { w: W.TP, shift: 16, width: 16, maskable: true, max: 0xff },
  icmpv6_code: { w: W.TP, shift: 0, width: 16, maskable: true, max: 0xff },
  ipv6_exthdr: { w: W.TCP_FLAGS, shift: 16, width: 9, maskable: true },
  pbb_isid: { w: W.PBB_ISID, shift: 0, width: 24, maskable: true },
};

const MAC_FIELDS: Record<string, number> = {
  dl_src: W.ETH_SRC,
  eth_src: W.ETH_SRC,
  dl_dst: W.ETH_DST,
  eth_dst: W.ETH_DST,
  arp_sha: W.ARP_SHA,
  arp_tha: W.ARP_THA,
  nd_sll: W.ARP_SHA,
  nd_tll: W.ARP_THA,
  ipv6_nd_sll: W.ARP_SHA,
  ipv6_nd_tll: W.ARP_THA,
};

const IP4_FIELDS: Record<string, number> = {
  nw_src: W.NW_SRC,
  ip_src: W.NW_SRC,
  ipv4_src: W.NW_SRC,
  arp_spa: W.NW_SRC,
  nw_dst: W.NW_DST,
  ip_dst: W.NW_DST,
  ipv4_dst: W.NW_DST,
  arp_tpa: W.NW_DST,
};

const IP6_FIELDS: Record<string, number> = {
  ipv6_src: W.IPV6_SRC,
  ipv6_dst: W.IPV6_DST,
  nd_target: W.ND_TARGET,
  ipv6_nd_target: W.ND_TARGET,
};

/** Prerequisite classes checked after parsing (OVS's MFP_*). */
type Prereq =
  | 'ip'
  | 'ipv4'
  | 'ipv6'
  | 'arp'
  | 'mpls'
  | 'l4'
  | 'tcp'
  | 'udp'
  | 'sctp'
  | 'icmp4'
  | 'icmp6'
  | 'nd'
  | 'vlan';

const PREREQS: Record<string, Prereq> = {
  nw_src: 'ipv4',
  ip_src: 'ipv4',
  ipv4_src: 'ipv4',
  nw_dst: 'ipv4',
  ip_dst: 'ipv4',
  ipv4_dst: 'ipv4',
  arp_spa: 'arp',
  arp_tpa: 'arp',
  arp_sha: 'arp',
  arp_tha: 'arp',
  arp_op: 'arp',
  ipv6_src: 'ipv6',
  ipv6_dst: 'ipv6',
  ipv6_label: 'ipv6',
  ipv6_flabel: 'ipv6',
  ipv6_exthdr: 'ipv6',
  nw_proto: 'ip',
  ip_proto: 'ip',
  nw_tos: 'ip',
  ip_dscp: 'ip',
  nw_ecn: 'ip',
  ip_ecn: 'ip',
  nw_ttl: 'ip',
  ip_ttl: 'ip',
  nw_frag: 'ip',
  ip_frag: 'ip',
  tp_src: 'l4',
  tp_dst: 'l4',
  tcp_src: 'tcp',
  tcp_dst: 'tcp',
  tcp_flags: 'tcp',
  udp_src: 'udp',
  udp_dst: 'udp',
  sctp_src: 'sctp',
  sctp_dst: 'sctp',
  icmp_type: 'l4',
  icmp_code: 'l4',
  icmpv4_type: 'icmp4',
  icmpv4_code: 'icmp4',
  icmpv6_type: 'icmp6',
  icmpv6_code: 'icmp6',
  nd_target: 'nd',
  ipv6_nd_target: 'nd',
  nd_sll: 'nd',
  ipv6_nd_sll: 'nd',
  nd_tll: 'nd',
  ipv6_nd_tll: 'nd',
  mpls_label: 'mpls',
  mpls_tc: 'mpls',
  mpls_bos: 'mpls',
  mpls_ttl: 'mpls',
  mpls_lse1: 'mpls',
  mpls_lse2: 'mpls',
};

function prereqOk(p: Prereq, key: FlowKey, mask: FlowKey): boolean {
  const typeKnown = (mask[W.ETH_TYPE]! & 0xffff) === 0xffff;
  const t = key[W.ETH_TYPE]! & 0xffff;
  const protoKnown = (mask[W.NW]! & 0xff) === 0xff;
  const proto = key[W.NW]! & 0xff;
  const isIp = typeKnown && (t === ETH_TYPE.IP || t === ETH_TYPE.IPV6);
  switch (p) {
    case 'ip':
      return isIp;
    case 'ipv4':
      return typeKnown && t === ETH_TYPE.IP;
    case 'ipv6':
      return typeKnown && t === ETH_TYPE.IPV6;
    case 'arp':
      return typeKnown && (t === ETH_TYPE.ARP || t === ETH_TYPE.RARP);
    case 'mpls':
      return typeKnown && (t === ETH_TYPE.MPLS || t === ETH_TYPE.MPLS_MCAST);
    case 'l4':
      return (
        isIp &&
        protoKnown &&
        (proto === IPPROTO.TCP ||
          proto === IPPROTO.UDP ||
          proto === IPPROTO.SCTP ||
          proto === IPPROTO.ICMP ||
          proto === IPPROTO.ICMPV6 ||
          proto === IPPROTO.IGMP)
      );
    case 'tcp':
      return isIp && protoKnown && proto === IPPROTO.TCP;
    case 'udp':
      return isIp && protoKnown && proto === IPPROTO.UDP;
    case 'sctp':
      return isIp && protoKnown && proto === IPPROTO.SCTP;
    case 'icmp4':
      return typeKnown && t === ETH_TYPE.IP && protoKnown && proto === IPPROTO.ICMP;
    case 'icmp6':
      return typeKnown && t === ETH_TYPE.IPV6 && protoKnown && proto === IPPROTO.ICMPV6;
    case 'nd':
      // OVS requires an ND type; megaflows print nd_target under a partial type mask, so only
      // ICMPv6 is required here.
      return prereqOk('icmp6', key, mask);
    case 'vlan':
      return true;
  }
}

function parsePort(
  v: string,
  token: string,
  byName?: (name: string) => number | undefined,
): number {
  const named = PORT_NAMES.find(([n]) => n.toLowerCase() === v.toLowerCase());
  if (named) return named[1];
  if (byName !== undefined && !/^(0x[0-9a-f]+|\d+)$/i.test(v)) {
    const p = byName(v);
    if (p === undefined) throw new FlowParseError(`${token}: unknown port ${v}`, token);
    return p >>> 0;
  }
  return parseUint(v, 0xffffffff, token);
}

function parseTcpFlags(v: string, token: string): [number, number] {
  if (/^(0x[0-9a-f]+|\d+)(\/(0x[0-9a-f]+|\d+))?$/i.test(v)) {
    const [a, b] = splitMask(v);
    return [parseUint(a, 0xfff, token), b === undefined ? 0xfff : parseUint(b, 0xfff, token)];
  }
  const bit = (name: string): number => {
    const i = TCP_FLAG_NAMES.indexOf(name.toLowerCase());
    if (i < 0) throw new FlowParseError(`${token}: unknown TCP flag ${name}`, token);
    return 1 << i;
  };
  if (v.startsWith('+') || v.startsWith('-')) {
    let val = 0;
    let msk = 0;
    const re = /([+-])([a-z0-9[\]]+)/gi;
    let m: RegExpExecArray | null;
    let consumed = 0;
    while ((m = re.exec(v)) !== null) {
      const b = bit(m[2]!);
      msk |= b;
      if (m[1] === '+') val |= b;
      consumed += m[0].length;
    }
    if (consumed !== v.length) throw new FlowParseError(`${token}: bad TCP flags`, token);
    return [val, msk];
  }
  let val = 0;
  for (const n of v.split('|')) val |= bit(n);
  return [val, 0xfff];
}

/**
 * Parses ovs-ofctl match syntax into a key and a mask. Tokens are separated by commas and/or
 * white space; each is `name=value` (or `name:value`), optionally `value/mask`, or a protocol
 * shorthand (ip, ipv6, icmp, icmp6, tcp, tcp6, udp, udp6, sctp, sctp6, arp, rarp, mpls, mplsm).
 * `eth` and an `actions=` tail are accepted and ignored; `priority=` is returned. Field
 * prerequisites (e.g. `tp_dst` needs an L4 protocol, `nw_src` needs ip) are checked after all
 * tokens are read, in any order. Throws {@link FlowParseError} on any error.
 *
 * Deliberately more lenient than OVS where OVS cannot read its own output: `tp_src`/`tp_dst`
 * are accepted for any protocol with ports or ICMP/IGMP type and code (OVS's exact-flow parser
 * treats them as tcp_src/tcp_dst), `vlan_tci1`/`dl_vlan1` are accepted, and ICMP type/code
 * accept 16-bit masks (megaflows print `icmp_type=0x80/0xfc`). `in_port` takes a number, a
 * reserved port name, or a name resolved by {@link ParseOptions.portByName}.
 */
export function parseFlow(text: string, opts: ParseOptions = {}): ParsedFlow {
  const key = newFlowKey();
  const mask = newFlowKey();
  let priority: number | undefined;
  let s = text;
  const act = s.search(/(^|[,\s])actions\s*[=:]/);
  if (act >= 0) s = s.slice(0, act);
  const used: Array<[string, string]> = [];
  for (const raw of s.split(/[,\s]+/)) {
    const tok = raw.trim();
    if (tok === '') continue;
    const eq = tok.search(/[=:]/);
    // A bare word containing ':' (like a MAC) cannot occur; names never contain ':'.
    const name = (eq < 0 ? tok : tok.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? '' : tok.slice(eq + 1);
    if (eq < 0) {
      const p = PROTOCOLS[name];
      if (p) {
        setBits(key, mask, W.ETH_TYPE, 0, 16, p[0], 0xffff);
        if (p[1] >= 0) setBits(key, mask, W.NW, 0, 8, p[1], 0xff);
        continue;
      }
      if (name === 'eth') continue;
      throw new FlowParseError(`unknown keyword ${tok}`, tok);
    }
    if (value === '') throw new FlowParseError(`field ${name} missing value`, tok);
    used.push([name, tok]);
    parseField(name, value, tok, key, mask, (p) => (priority = p), opts);
  }
  for (const [name, tok] of used) {
    const p = PREREQS[name];
    if (p && !prereqOk(p, key, mask)) {
      throw new FlowParseError(`${name}: prerequisites not met (${p})`, tok);
    }
  }
  for (let i = 0; i < FLOW_KEY_WORDS; i++) key[i] = (key[i]! & mask[i]!) >>> 0;
  // A present VLAN tag without an explicit TPID is an 802.1Q tag (the key only; the mask keeps
  // the TPID wildcarded so that the match applies to any TPID, as OpenFlow's vlan_vid does).
  for (let i = 0; i < 2; i++) {
    const w = W.VLAN0 + i;
    if ((key[w]! & VLAN_CFI) !== 0 && mask[w]! >>> 16 === 0) {
      key[w] = ((ETH_TYPE.VLAN << 16) | (key[w]! & 0xffff)) >>> 0;
    }
  }
  return priority === undefined ? { key, mask } : { key, mask, priority };
}

function parseField(
  name: string,
  value: string,
  tok: string,
  key: FlowKey,
  mask: FlowKey,
  setPriority: (p: number) => void,
  opts: ParseOptions,
): void {
  const [v, m] = splitMask(value);
  if (name === 'priority') {
    setPriority(parseUint(v, 0xffff, tok));
    return;
  }
  if (name === 'in_port') {
    if (m !== undefined) throw new FlowParseError(`${name} is not maskable`, tok);
    setBits(key, mask, W.IN_PORT, 0, 32, parsePort(v, tok, opts.portByName), 0xffffffff);
    return;
  }
  if (name === 'table' || name === 'cookie') return;
  if (name === 'metadata' || name === 'tun_id' || name === 'tunnel_id') {
    const w = name === 'metadata' ? W.METADATA : W.TUNNEL_ID;
    const val = parseU64(v, tok);
    const msk = m === undefined ? 0xffffffffffffffffn : parseU64(m, tok);
    const vv = val & msk;
    key[w] = Number(vv >> 32n);
    key[w + 1] = Number(vv & 0xffffffffn);
    mask[w] = Number(msk >> 32n);
    mask[w + 1] = Number(msk & 0xffffffffn);
    return;
  }
  const macW = MAC_FIELDS[name];
  if (macW !== undefined) {
    const a = parseMac(v);
    if (!a) throw new FlowParseError(`${tok}: invalid Ethernet address`, tok);
    const b = m === undefined ? ([0xffff, 0xffffffff] as [number, number]) : parseMac(m);
    if (!b) throw new FlowParseError(`${tok}: invalid Ethernet mask`, tok);
    setBits(key, mask, macW, 0, 16, a[0], b[0]);
    setBits(key, mask, macW + 1, 0, 32, a[1], b[1]);
    return;
  }
  const ip4W = IP4_FIELDS[name];
  if (ip4W !== undefined) {
    const a = parseIPv4(v);
    if (a === undefined) throw new FlowParseError(`${tok}: invalid IP address`, tok);
    let msk = 0xffffffff;
    if (m !== undefined) {
      if (/^\d+$/.test(m)) {
        const bits = Number(m);
        if (bits > 32) throw new FlowParseError(`${tok}: prefix too long`, tok);
        msk = ipv4Mask(bits);
      } else {
        const mm = parseIPv4(m);
        if (mm === undefined) throw new FlowParseError(`${tok}: invalid IP mask`, tok);
        msk = mm;
      }
    }
    setBits(key, mask, ip4W, 0, 32, a, msk);
    return;
  }
  const ip6W = IP6_FIELDS[name];
  if (ip6W !== undefined) {
    const a = new Uint32Array(4);
    if (!parseIPv6Into(v, a)) throw new FlowParseError(`${tok}: invalid IPv6 address`, tok);
    const mm = new Uint32Array(4).fill(0xffffffff);
    if (m !== undefined) {
      if (/^\d+$/.test(m)) {
        const bits = Number(m);
        if (bits > 128) throw new FlowParseError(`${tok}: prefix too long`, tok);
        ipv6MaskInto(bits, mm);
      } else if (!parseIPv6Into(m, mm)) {
        throw new FlowParseError(`${tok}: invalid IPv6 mask`, tok);
      }
    }
    for (let i = 0; i < 4; i++) setBits(key, mask, ip6W + i, 0, 32, a[i]!, mm[i]!);
    return;
  }
  switch (name) {
    case 'dl_vlan':
    case 'dl_vlan1': {
      if (m !== undefined) throw new FlowParseError(`${name} is not maskable`, tok);
      const w = name === 'dl_vlan' ? W.VLAN0 : W.VLAN1;
      const vid = parseUint(v, 0xffff, tok);
      if (vid === 0xffff) {
        // OFP_VLAN_NONE: no tag at all.
        setBits(key, mask, w, 0, 16, 0, 0xffff);
      } else {
        if (vid > 0xfff) throw new FlowParseError(`${tok}: VLAN id out of range`, tok);
        setBits(key, mask, w, 0, 13, vid | VLAN_CFI, 0x1fff);
      }
      return;
    }
    case 'dl_vlan_pcp':
    case 'dl_vlan_pcp1':
    case 'vlan_pcp': {
      if (m !== undefined) throw new FlowParseError(`${name} is not maskable`, tok);
      const w = name === 'dl_vlan_pcp1' ? W.VLAN1 : W.VLAN0;
      const pcp = parseUint(v, 7, tok);
      setBits(key, mask, w, 12, 4, (pcp << 1) | 1, 0xf);
      return;
    }
    case 'vlan_vid': {
      // OpenFlow 1.2+ semantics: 0x1000 = OFPVID_PRESENT, 0 = no tag.
      const vid = parseUint(v, 0x1fff, tok);
      const msk = m === undefined ? 0x1fff : parseUint(m, 0x1fff, tok);
      setBits(key, mask, W.VLAN0, 0, 13, vid, msk);
      return;
    }
    case 'nw_tos': {
      if (m !== undefined) throw new FlowParseError(`${name} is not maskable`, tok);
      const tos = parseUint(v, 0xff, tok);
      if ((tos & 3) !== 0) throw new FlowParseError(`${tok}: nw_tos must be a multiple of 4`, tok);
      setBits(key, mask, W.NW, 10, 6, tos >>> 2, 0x3f);
      return;
    }
    case 'nw_frag':
    case 'ip_frag': {
      const table: Record<string, [number, number]> = {
        no: [0, 3],
        first: [FRAG_ANY, 3],
        later: [FRAG_ANY | FRAG_LATER, 3],
        yes: [FRAG_ANY, FRAG_ANY],
        not_later: [0, FRAG_LATER],
      };
      const e = table[value.toLowerCase()];
      if (!e) throw new FlowParseError(`${tok}: unknown fragment type`, tok);
      setBits(key, mask, W.NW, 24, 2, e[0], e[1]);
      return;
    }
    case 'tcp_flags': {
      const [val, msk] = parseTcpFlags(value, tok);
      setBits(key, mask, W.TCP_FLAGS, 0, 12, val, msk);
      return;
    }
    default:
      break;
  }
  const nf = NUM_FIELDS[name];
  if (!nf) throw new FlowParseError(`unknown field ${name}`, tok);
  if (m !== undefined && !nf.maskable) throw new FlowParseError(`${name} is not maskable`, tok);
  const full = nf.width >= 32 ? 0xffffffff : 2 ** nf.width - 1;
  const max = nf.max ?? full;
  const val = parseUint(v, max, tok);
  const msk = m === undefined ? full : parseUint(m, full, tok);
  setBits(key, mask, nf.w, nf.shift, nf.width, val, msk);
}

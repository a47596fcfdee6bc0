/**
 * BFD configuration as OVS reads it from the Interface table's `bfd` column
 * (vswitch.xml, "BFD Configuration"), with OVS's defaults and clamping.
 */
import { parseIpv4, parseMac, smapGetBool, smapGetInt, type StringMap } from '../common.js';
import { BFD_DEFAULT_DST_IP, BFD_DEFAULT_SRC_IP } from './packet.js';

/** Default `bfd:min_rx`, ms. */
export const BFD_DEFAULT_MIN_RX = 1000;
/** Default `bfd:min_tx`, ms. */
export const BFD_DEFAULT_MIN_TX = 100;
/** Default `bfd:mult`. */
export const BFD_DEFAULT_MULT = 3;

/** A session's configuration, one member per key of the Interface `bfd` column. */
export interface BfdConfig {
  /** `enable`: run BFD on the interface at all (default false). */
  enable: boolean;
  /** `min_rx`, ms, at least 1 (default 1000). */
  minRx: number;
  /** `min_tx`, ms, at least 1 (default 100). */
  minTx: number;
  /** `decay_min_rx`, ms; 0 disables decay; values below min_rx are ignored (0). */
  decayMinRx: number;
  /** `forwarding_if_rx`: data traffic received keeps forwarding true (default false). */
  forwardingIfRx: boolean;
  /** `cpath_down`: signal Concatenated Path Down to the remote (default false). */
  cpathDown: boolean;
  /** `check_tnl_key`: accept only control packets with tunnel key 0 (default false). */
  checkTnlKey: boolean;
  /** `bfd_local_src_mac`; undefined means the interface's own MAC. */
  localSrcMac: Uint8Array | undefined;
  /** `bfd_local_dst_mac`; undefined means 00:23:20:00:00:01. */
  localDstMac: Uint8Array | undefined;
  /** `bfd_remote_dst_mac`; undefined means received destination MACs are not checked. */
  remoteDstMac: Uint8Array | undefined;
  /** `bfd_src_ip` as an unsigned 32-bit number (default 169.254.1.1). */
  srcIp: number;
  /** `bfd_dst_ip` as an unsigned 32-bit number (default 169.254.1.0). */
  dstIp: number;
  /** `oam`: mark packets as OAM when tunnelled (default false). */
  oam: boolean;
  /** `mult`, 1–255 (default 3; out-of-range values fall back to 3). */
  mult: number;
}

/** The configuration OVS uses when the column is empty except for `enable=true`. */
export function defaultBfdConfig(): BfdConfig {
  return {
    enable: true,
    minRx: BFD_DEFAULT_MIN_RX,
    minTx: BFD_DEFAULT_MIN_TX,
    decayMinRx: 0,
    forwardingIfRx: false,
    cpathDown: false,
    checkTnlKey: false,
    localSrcMac: undefined,
    localDstMac: undefined,
    remoteDstMac: undefined,
    srcIp: BFD_DEFAULT_SRC_IP,
    dstIp: BFD_DEFAULT_DST_IP,
    oam: false,
    mult: BFD_DEFAULT_MULT,
  };
}

/** Parses an optional MAC key; invalid or all-zero text counts as unset, as in OVS. */
function macKey(map: StringMap, key: string): Uint8Array | undefined {
  const v = map[key];
  if (v === undefined) return undefined;
  const mac = parseMac(v);
  if (!mac || mac.every((x) => x === 0)) return undefined;
  return mac;
}

/**
 * Reads the Interface `bfd` column the way OVS's `bfd_configure` does: booleans are true only for
 * "true"; min_tx and min_rx are raised to at least 1; mult outside 1–255 becomes 3; invalid IP
 * text falls back to the default address; decay_min_rx is checked against min_rx by the session.
 */
export function parseBfdConfig(map: StringMap): BfdConfig {
  let mult = smapGetInt(map, 'mult', BFD_DEFAULT_MULT);
  if (mult < 1 || mult > 255) mult = BFD_DEFAULT_MULT;
  const srcIp = map.bfd_src_ip ? parseIpv4(map.bfd_src_ip) : undefined;
  const dstIp = map.bfd_dst_ip ? parseIpv4(map.bfd_dst_ip) : undefined;
  return {
    enable: smapGetBool(map, 'enable', false),
    minRx: Math.max(smapGetInt(map, 'min_rx', BFD_DEFAULT_MIN_RX), 1),
    minTx: Math.max(smapGetInt(map, 'min_tx', BFD_DEFAULT_MIN_TX), 1),
    decayMinRx: smapGetInt(map, 'decay_min_rx', 0),
    forwardingIfRx: smapGetBool(map, 'forwarding_if_rx', false),
    cpathDown: smapGetBool(map, 'cpath_down', false),
    checkTnlKey: smapGetBool(map, 'check_tnl_key', false),
    localSrcMac: macKey(map, 'bfd_local_src_mac'),
    localDstMac: macKey(map, 'bfd_local_dst_mac'),
    remoteDstMac: macKey(map, 'bfd_remote_dst_mac'),
    srcIp: srcIp ?? BFD_DEFAULT_SRC_IP,
    dstIp: dstIp ?? BFD_DEFAULT_DST_IP,
    oam: smapGetBool(map, 'oam', false),
    mult,
  };
}

/**
 * Flow-key extraction: parses one Ethernet frame into a caller-owned {@link FlowKey}, like OVS's
 * miniflow_extract. Pure, allocation-free, never throws for any input bytes.
 *
 * A malformed or truncated frame is parsed as far as it is valid, with OVS's rules:
 * - fewer than 14 bytes: only the metadata is set;
 * - a VLAN tag needs 6 bytes (tag + the next ethertype), otherwise parsing stops at its TPID,
 *   which then becomes eth_type; at most two tags are parsed (outer in word VLAN0), or one
 *   after {@link setVlanLimit}(1);
 * - eth_type below 0x600 is an 802.3 length: an LLC/SNAP header with OUI 0 gives the SNAP
 *   ethertype, anything else gives 0x05ff;
 * - MPLS: up to three label stack entries are recorded, up to the bottom of stack; L3 is not
 *   parsed behind MPLS;
 * - IPv4: a bad header (IHL < 5, total length shorter than the header, or longer than the frame)
 *   leaves every L3 field zero; bytes past the total length (Ethernet padding) are ignored;
 *   later fragments carry no L4 fields;
 * - IPv6: a bad header or an extension-header chain that runs off the end leaves the L3 fields
 *   other than the addresses zero;
 * - L4: a header too short for the protocol (TCP 20 bytes and its data offset, UDP 8, SCTP 12,
 *   ICMP 8, ICMPv6 8) leaves tp_src/tp_dst (and tcp_flags) zero but keeps L3;
 * - ARP is parsed only for Ethernet/IPv4 (htype 1, ptype 0x0800, hlen 6, plen 4); the opcode
 *   is kept only when it fits in 8 bits.
 * ND (neighbour solicitation / advertisement, code 0) fills the target and the SLL/TLL options;
 * a repeated SLL or TLL option invalidates all three, a zero-length option stops the walk.
 * (OVS's nd_reserved / nd_options_type are not kept.)
 *
 * Every deviation is counted in lib/counters.ts (module `flow`).
 */
import { counter } from '../counters.js';
import type { FlowKey } from './flow-key.js';
import { ETH_TYPE, FRAG_ANY, FRAG_LATER, IPPROTO, IPV6_EXTHDR, VLAN_CFI, W } from './flow-key.js';

/** Per-packet metadata that does not come from the frame bytes (all optional, default 0). */
export interface PacketMeta {
  /** Physical input port (OpenFlow in_phy_port). */
  inPhyPort?: number;
  /** High 32 bits of OpenFlow metadata. */
  metadataHi?: number;
  /** Low 32 bits of OpenFlow metadata. */
  metadataLo?: number;
  /** High 32 bits of the tunnel id. */
  tunnelIdHi?: number;
  /** Low 32 bits of the tunnel id. */
  tunnelIdLo?: number;
  /** Recirculation id. */
  recircId?: number;
  /** Datapath hash. */
  dpHash?: number;
  /** skb priority / queue. */
  skbPriority?: number;
  /** Packet mark. */
  pktMark?: number;
}

/** Index into the optional `layers` array of {@link extractFlowKey}. */
export const LAYER = {
  /** Offset of the first MPLS label stack entry, or -1. */
  L2_5: 0,
  /** Offset of the network header (after Ethernet, VLANs, LLC/SNAP and MPLS), or -1. */
  L3: 1,
  /** Offset of the transport header (after IPv4 options / IPv6 extension headers), or -1. */
  L4: 2,
  /** Offset just past the transport header that was parsed, or -1. */
  L7: 3,
  /** Offset one past the end of the L3 packet (start of Ethernet padding), or -1. */
  L3_END: 4,
} as const;

/** Length of the `layers` array {@link extractFlowKey} fills. */
export const LAYER_COUNT = 5;

const cExtract = counter('flow_extract', 'flow', 'frames parsed into flow keys');
const cTruncated = counter(
  'flow_extract_truncated',
  'flow',
  'frames that ended inside a header the flow extractor wanted',
);
const cBadIp = counter(
  'flow_extract_bad_ip_header',
  'flow',
  'IPv4 headers with a bad header length or total length',
);
const cBadIpv6 = counter(
  'flow_extract_bad_ipv6_header',
  'flow',
  'IPv6 headers whose payload length exceeds the frame',
);
const cBadExt = counter(
  'flow_extract_bad_ipv6_exthdr',
  'flow',
  'IPv6 extension header chains that run past the packet',
);
const cBadTcp = counter(
  'flow_extract_bad_tcp_header',
  'flow',
  'TCP headers with a bad data offset',
);
const cBadNd = counter(
  'flow_extract_bad_nd',
  'flow',
  'neighbour discovery messages with repeated link-layer address options',
);

/** Most VLAN tags the flow key holds (OVS's FLOW_MAX_VLAN_HEADERS). */
export const MAX_VLAN_HEADERS = 2;

let vlanLimit = MAX_VLAN_HEADERS;

/**
 * Sets how many VLAN tags extraction parses, like OVS's `other_config:vlan-limit`: 0 means
 * as many as the key holds (2); 1 parses only the outer tag, so an inner tag's TPID becomes
 * eth_type. OVS defaults the database column to 1; this library defaults to 2 and the daemon
 * applies the configured value. Values above 2 are treated as 2.
 */
export function setVlanLimit(limit: number): void {
  vlanLimit = limit <= 0 || limit > MAX_VLAN_HEADERS ? MAX_VLAN_HEADERS : Math.floor(limit);
}

/** The current VLAN limit (1 or 2). */
export function getVlanLimit(): number {
  return vlanLimit;
}

/** Exthdr ordering ranks (RFC 8200 section 4.1 recommended order). */
const RANK_HOP = 0;
const RANK_DEST1 = 1;
const RANK_ROUTER = 2;
const RANK_FRAG = 3;
const RANK_AUTH = 4;
const RANK_ESP = 5;
const RANK_DEST2 = 6;

/**
 * Parses `frame[offset .. offset + length)` into `key` (every word is overwritten). `inPort`
 * goes to in_port; `meta` supplies the other metadata. When `layers` (an Int32Array of at
 * least {@link LAYER_COUNT}) is given, header offsets are stored in it (see {@link LAYER}).
 * Allocates nothing and never throws; a `length` reaching past the buffer is clamped.
 */
export function extractFlowKey(
  frame: Uint8Array,
  offset: number,
  length: number,
  inPort: number,
  key: FlowKey,
  meta?: PacketMeta,
  layers?: Int32Array,
): void {
  cExtract.total++;
  key.fill(0);
  key[W.IN_PORT] = inPort >>> 0;
  if (meta !== undefined) {
    key[W.IN_PHY_PORT] = (meta.inPhyPort ?? 0) >>> 0;
    key[W.METADATA] = (meta.metadataHi ?? 0) >>> 0;
    key[W.METADATA + 1] = (meta.metadataLo ?? 0) >>> 0;
    key[W.TUNNEL_ID] = (meta.tunnelIdHi ?? 0) >>> 0;
    key[W.TUNNEL_ID + 1] = (meta.tunnelIdLo ?? 0) >>> 0;
    key[W.RECIRC_ID] = (meta.recircId ?? 0) >>> 0;
    key[W.DP_HASH] = (meta.dpHash ?? 0) >>> 0;
    key[W.SKB_PRIORITY] = (meta.skbPriority ?? 0) >>> 0;
    key[W.PKT_MARK] = (meta.pktMark ?? 0) >>> 0;
  }
  if (layers !== undefined) layers.fill(-1, 0, LAYER_COUNT);

  const f = frame;
  let p = offset | 0;
  if (p < 0) p = 0;
  let end = p + (length | 0);
  if (end > f.length) end = f.length;
  if (end - p < 14) {
    cTruncated.total++;
    return;
  }

  // L2 addresses.
  key[W.ETH_DST] = (f[p]! << 8) | f[p + 1]!;
  key[W.ETH_DST + 1] = ((f[p + 2]! << 24) | (f[p + 3]! << 16) | (f[p + 4]! << 8) | f[p + 5]!) >>> 0;
  key[W.ETH_SRC] = (f[p + 6]! << 8) | f[p + 7]!;
  key[W.ETH_SRC + 1] =
    ((f[p + 8]! << 24) | (f[p + 9]! << 16) | (f[p + 10]! << 8) | f[p + 11]!) >>> 0;
  p += 12;

  // VLAN tags: at most vlanLimit (≤ 2), each needs the tag and the following ethertype.
  let t = (f[p]! << 8) | f[p + 1]!;
  for (let n = 0; n < vlanLimit && (t === ETH_TYPE.VLAN || t === ETH_TYPE.VLAN_8021AD); n++) {
    if (end - p < 6) {
      cTruncated.total++;
      break;
    }
    const tci = (f[p + 2]! << 8) | f[p + 3]!;
    key[W.VLAN0 + n] = ((t << 16) | tci | VLAN_CFI) >>> 0;
    p += 4;
    t = (f[p]! << 8) | f[p + 1]!;
  }

  // Ethertype or 802.3 length.
  p += 2;
  let dlType = t;
  if (t < ETH_TYPE.MIN) {
    dlType = ETH_TYPE.NONE;
    if (
      end - p >= 8 &&
      f[p] === 0xaa &&
      f[p + 1] === 0xaa &&
      f[p + 2] === 0x03 &&
      f[p + 3] === 0 &&
      f[p + 4] === 0 &&
      f[p + 5] === 0
    ) {
      const snap = (f[p + 6]! << 8) | f[p + 7]!;
      p += 8;
      if (snap >= ETH_TYPE.MIN) dlType = snap;
    }
  }
  key[W.ETH_TYPE] = dlType;

  // MPLS label stack: up to three entries, stopping at bottom of stack.
  if (dlType === ETH_TYPE.MPLS || dlType === ETH_TYPE.MPLS_MCAST) {
    if (layers !== undefined) layers[LAYER.L2_5] = p;
    let count = 0;
    for (;;) {
      if (end - p < 4) {
        if (count === 0) cTruncated.total++;
        break;
      }
      const lse = ((f[p]! << 24) | (f[p + 1]! << 16) | (f[p + 2]! << 8) | f[p + 3]!) >>> 0;
      if (count < 3) key[W.MPLS0 + count] = lse;
      count++;
      p += 4;
      if ((lse & 0x100) !== 0) break;
    }
  }
  if (layers !== undefined) layers[LAYER.L3] = p;

  let size = end - p;
  let nwProto = 0;
  let nwFrag = 0;
  if (dlType === ETH_TYPE.IP) {
    if (size < 20) {
      cTruncated.total++;
      return;
    }
    const ipLen = (f[p]! & 0x0f) * 4;
    if (ipLen < 20) {
      cBadIp.total++;
      return;
    }
    if (size < ipLen) {
      cTruncated.total++;
      return;
    }
    const totLen = (f[p + 2]! << 8) | f[p + 3]!;
    if (totLen > size) {
      cTruncated.total++;
      return;
    }
    if (ipLen > totLen || size - totLen > 0xffff) {
      cBadIp.total++;
      return;
    }
    size = totLen;
    if (layers !== undefined) layers[LAYER.L3_END] = p + totLen;
    key[W.NW_SRC] =
      ((f[p + 12]! << 24) | (f[p + 13]! << 16) | (f[p + 14]! << 8) | f[p + 15]!) >>> 0;
    key[W.NW_DST] =
      ((f[p + 16]! << 24) | (f[p + 17]! << 16) | (f[p + 18]! << 8) | f[p + 19]!) >>> 0;
    const fragOff = ((f[p + 6]! << 8) | f[p + 7]!) & 0x3fff;
    if (fragOff !== 0) {
      nwFrag = FRAG_ANY;
      if ((fragOff & 0x1fff) !== 0) nwFrag |= FRAG_LATER;
    }
    nwProto = f[p + 9]!;
    key[W.NW] = ((nwFrag << 24) | (f[p + 8]! << 16) | (f[p + 1]! << 8) | nwProto) >>> 0;
    p += ipLen;
    size -= ipLen;
  } else if (dlType === ETH_TYPE.IPV6) {
    if (size < 40) {
      cTruncated.total++;
      return;
    }
    const plen = (f[p + 4]! << 8) | f[p + 5]!;
    if (plen + 40 > size || size - (plen + 40) > 0xffff) {
      cBadIpv6.total++;
      return;
    }
    if (layers !== undefined) layers[LAYER.L3_END] = p + 40 + plen;
    for (let i = 0; i < 4; i++) {
      const a = p + 8 + i * 4;
      key[W.IPV6_SRC + i] =
        ((f[a]! << 24) | (f[a + 1]! << 16) | (f[a + 2]! << 8) | f[a + 3]!) >>> 0;
      const b = a + 16;
      key[W.IPV6_DST + i] =
        ((f[b]! << 24) | (f[b + 1]! << 16) | (f[b + 2]! << 8) | f[b + 3]!) >>> 0;
    }
    const tcFlow = ((f[p]! << 24) | (f[p + 1]! << 16) | (f[p + 2]! << 8) | f[p + 3]!) >>> 0;
    const tos = (tcFlow >>> 20) & 0xff;
    const ttl = f[p + 7]!;
    nwProto = f[p + 6]!;
    p += 40;
    size = plen;

    // Extension headers.
    let ext = 0;
    let rank = -1;
    let ok = true;
    for (;;) {
      let r: number;
      let bit: number;
      if (nwProto === IPPROTO.HOPOPTS) {
        bit = IPV6_EXTHDR.HOP;
        r = RANK_HOP;
        if (rank >= 0) ext |= IPV6_EXTHDR.UNSEQ; // Hop-by-hop must come first.
      } else if (nwProto === IPPROTO.DSTOPTS) {
        bit = IPV6_EXTHDR.DEST;
        r = rank < RANK_DEST1 ? RANK_DEST1 : RANK_DEST2;
      } else if (nwProto === IPPROTO.ROUTING) {
        bit = IPV6_EXTHDR.ROUTER;
        r = RANK_ROUTER;
      } else if (nwProto === IPPROTO.FRAGMENT) {
        bit = IPV6_EXTHDR.FRAG;
        r = RANK_FRAG;
      } else if (nwProto === IPPROTO.AH) {
        bit = IPV6_EXTHDR.AUTH;
        r = RANK_AUTH;
      } else {
        if (nwProto === IPPROTO.ESP) {
          if ((ext & IPV6_EXTHDR.ESP) !== 0) ext |= IPV6_EXTHDR.UNREP;
          ext |= IPV6_EXTHDR.ESP;
          if (RANK_ESP < rank) ext |= IPV6_EXTHDR.UNSEQ;
        } else if (nwProto === IPPROTO.NONE) {
          ext |= IPV6_EXTHDR.NONEXT;
        }
        break;
      }
      if ((ext & bit) !== 0) {
        // Destination options may appear twice (before routing and before the upper layer).
        if (bit !== IPV6_EXTHDR.DEST || (ext & DEST_TWICE) !== 0) ext |= IPV6_EXTHDR.UNREP;
        else ext |= DEST_TWICE;
      }
      ext |= bit;
      if (r < rank) ext |= IPV6_EXTHDR.UNSEQ;
      rank = r;
      if (size < 8) {
        ok = false;
        break;
      }
      const next = f[p]!;
      let hlen: number;
      if (nwProto === IPPROTO.FRAGMENT) {
        hlen = 8;
        const offlg = (f[p + 2]! << 8) | f[p + 3]!;
        nwProto = next;
        p += 8;
        size -= 8;
        if (offlg !== 0) {
          nwFrag = FRAG_ANY;
          if ((offlg & 0xfff8) !== 0) {
            nwFrag |= FRAG_LATER;
            nwProto = IPPROTO.FRAGMENT;
            break;
          }
        }
        continue;
      } else if (nwProto === IPPROTO.AH) {
        hlen = (f[p + 1]! + 2) * 4;
      } else {
        hlen = (f[p + 1]! + 1) * 8;
      }
      if (hlen > size) {
        ok = false;
        break;
      }
      nwProto = next;
      p += hlen;
      size -= hlen;
    }
    if (!ok) {
      cBadExt.total++;
      return;
    }
    key[W.IPV6_LABEL] = tcFlow & 0xfffff;
    key[W.NW] = ((nwFrag << 24) | (ttl << 16) | (tos << 8) | nwProto) >>> 0;
    key[W.TCP_FLAGS] = ((ext & 0x1ff) << 16) >>> 0;
  } else {
    if (dlType === ETH_TYPE.ARP || dlType === ETH_TYPE.RARP) {
      if (size < 28) {
        cTruncated.total++;
        return;
      }
      if (
        f[p] === 0 &&
        f[p + 1] === 1 &&
        f[p + 2] === 0x08 &&
        f[p + 3] === 0x00 &&
        f[p + 4] === 6 &&
        f[p + 5] === 4
      ) {
        if (f[p + 6] === 0) key[W.NW] = f[p + 7]!;
        key[W.ARP_SHA] = (f[p + 8]! << 8) | f[p + 9]!;
        key[W.ARP_SHA + 1] =
          ((f[p + 10]! << 24) | (f[p + 11]! << 16) | (f[p + 12]! << 8) | f[p + 13]!) >>> 0;
        key[W.NW_SRC] =
          ((f[p + 14]! << 24) | (f[p + 15]! << 16) | (f[p + 16]! << 8) | f[p + 17]!) >>> 0;
        key[W.ARP_THA] = (f[p + 18]! << 8) | f[p + 19]!;
        key[W.ARP_THA + 1] =
          ((f[p + 20]! << 24) | (f[p + 21]! << 16) | (f[p + 22]! << 8) | f[p + 23]!) >>> 0;
        key[W.NW_DST] =
          ((f[p + 24]! << 24) | (f[p + 25]! << 16) | (f[p + 26]! << 8) | f[p + 27]!) >>> 0;
      }
    } else if (dlType === ETH_TYPE.PBB) {
      if (size < 4) {
        cTruncated.total++;
        return;
      }
      key[W.PBB_ISID] = (f[p + 1]! << 16) | (f[p + 2]! << 8) | f[p + 3]!;
    }
    return;
  }

  if (layers !== undefined) layers[LAYER.L4] = p;
  if ((nwFrag & FRAG_LATER) !== 0) return;

  if (nwProto === IPPROTO.TCP) {
    if (size < 20) {
      cTruncated.total++;
      return;
    }
    const hlen = (f[p + 12]! >>> 4) * 4;
    if (hlen < 20) {
      cBadTcp.total++;
      return;
    }
    if (size < hlen) {
      cTruncated.total++;
      return;
    }
    key[W.TP] = ((f[p]! << 24) | (f[p + 1]! << 16) | (f[p + 2]! << 8) | f[p + 3]!) >>> 0;
    key[W.TCP_FLAGS] = (key[W.TCP_FLAGS]! | (((f[p + 12]! << 8) | f[p + 13]!) & 0x0fff)) >>> 0;
    if (layers !== undefined) layers[LAYER.L7] = p + hlen;
  } else if (nwProto === IPPROTO.UDP) {
    if (size < 8) {
      cTruncated.total++;
      return;
    }
    key[W.TP] = ((f[p]! << 24) | (f[p + 1]! << 16) | (f[p + 2]! << 8) | f[p + 3]!) >>> 0;
    if (layers !== undefined) layers[LAYER.L7] = p + 8;
  } else if (nwProto === IPPROTO.SCTP) {
    if (size < 12) {
      cTruncated.total++;
      return;
    }
    key[W.TP] = ((f[p]! << 24) | (f[p + 1]! << 16) | (f[p + 2]! << 8) | f[p + 3]!) >>> 0;
    if (layers !== undefined) layers[LAYER.L7] = p + 12;
  } else if (nwProto === IPPROTO.ICMP || nwProto === IPPROTO.IGMP) {
    if (size < 8) {
      cTruncated.total++;
      return;
    }
    key[W.TP] = ((f[p]! << 16) | f[p + 1]!) >>> 0;
    if (layers !== undefined) layers[LAYER.L7] = p + 8;
  } else if (nwProto === IPPROTO.ICMPV6) {
    if (size < 8) {
      cTruncated.total++;
      return;
    }
    const type = f[p]!;
    const code = f[p + 1]!;
    key[W.TP] = ((type << 16) | code) >>> 0;
    p += 8;
    size -= 8;
    if (layers !== undefined) layers[LAYER.L7] = p;
    if (code === 0 && (type === 135 || type === 136)) parseNd(f, p, size, key);
  }
}

/** Extra ext-header state bit (outside the 9 OFPIEH bits): DEST seen twice already. */
const DEST_TWICE = 1 << 16;

function parseNd(f: Uint8Array, p: number, size: number, key: FlowKey): void {
  if (size < 16) {
    cTruncated.total++;
    return;
  }
  for (let i = 0; i < 4; i++) {
    const a = p + i * 4;
    key[W.ND_TARGET + i] = ((f[a]! << 24) | (f[a + 1]! << 16) | (f[a + 2]! << 8) | f[a + 3]!) >>> 0;
  }
  p += 16;
  size -= 16;
  while (size >= 8) {
    const type = f[p]!;
    const optLen = f[p + 1]! * 8;
    if (optLen === 0 || optLen > size) {
      cTruncated.total++;
      return;
    }
    if (optLen === 8 && (type === 1 || type === 2)) {
      const w = type === 1 ? W.ARP_SHA : W.ARP_THA;
      const hi = (f[p + 2]! << 8) | f[p + 3]!;
      const lo = ((f[p + 4]! << 24) | (f[p + 5]! << 16) | (f[p + 6]! << 8) | f[p + 7]!) >>> 0;
      // As OVS: an option is a duplicate when its address slot is already non-zero.
      if (key[w] !== 0 || key[w + 1] !== 0) {
        cBadNd.total++;
        for (let i = 0; i < 4; i++) key[W.ND_TARGET + i] = 0;
        key[W.ARP_SHA] = key[W.ARP_SHA + 1] = key[W.ARP_THA] = key[W.ARP_THA + 1] = 0;
        return;
      }
      key[w] = hi;
      key[w + 1] = lo;
    }
    p += optLen;
    size -= optLen;
  }
}

/**
 * Frame builder: composes a valid Ethernet frame from a flow key, like OVS's flow_compose (used
 * by tests and by `netdev-dummy/receive PORT FLOW`). Checksums (IPv4 header, TCP, UDP, ICMP,
 * ICMPv6, SCTP) are correct. Not for the per-packet path: it allocates.
 *
 * What is built from the key:
 * - Ethernet addresses; each VLAN word with the present bit (0x1000) becomes a tag (TPID from the
 *   word, 0x8100 when zero; the present bit itself is not sent, as OVS clears CFI on push);
 * - eth_type 0x05ff (or below 0x600) gives an 802.3 length field and an LLC header (0x42 0x42 0x03);
 * - MPLS: the label stack entries in the key up to bottom of stack (at most three; the last one
 *   written gets the bottom-of-stack bit), followed by the payload;
 * - ARP/RARP: Ethernet/IPv4 ARP with the opcode from arp_op;
 * - IPv4: a 20-byte header (TOS, TTL, protocol, addresses; fragment bits from ip_frag: "first"
 *   sets MF, "later" sets offset 1480); IPv6: traffic class, flow label, hop limit, addresses,
 *   extension headers for the `ipv6_exthdr` bits HOP, DEST (first position), ROUTER, FRAG (or
 *   when ip_frag says fragment), AUTH in RFC 8200 order; ip_proto 50 (ESP) and 59 (no next
 *   header) become that next header;
 * - L4 (not for later fragments): TCP (ports, flags, data offset 5), UDP, SCTP (common header
 *   only), ICMP (type/code, with 4 zero bytes), IGMP, ICMPv6 (type/code; neighbour solicitation
 *   or advertisement with code 0 gets the target and SLL/TLL options when those are non-zero).
 */
import type { FlowKey } from './flow-key.js';
import { ETH_TYPE, FRAG_ANY, FRAG_LATER, IPPROTO, IPV6_EXTHDR, VLAN_CFI, W } from './flow-key.js';
import { setIPv4HeaderChecksum, setL4Checksum, setSctpChecksum } from './checksum.js';

/** Options for {@link buildFrame}. */
export interface BuildOptions {
  /** Bytes appended after the innermost header built (default: none). */
  payload?: Uint8Array;
  /** Pad the frame with zeros up to this size (e.g. 60); the IP length fields exclude the pad. */
  minSize?: number;
}

class Writer {
  buf = new Uint8Array(256);
  n = 0;
  private ensure(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.n++] = v & 0xff;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf[this.n++] = (v >>> 8) & 0xff;
    this.buf[this.n++] = v & 0xff;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf[this.n++] = (v >>> 24) & 0xff;
    this.buf[this.n++] = (v >>> 16) & 0xff;
    this.buf[this.n++] = (v >>> 8) & 0xff;
    this.buf[this.n++] = v & 0xff;
  }
  mac(hi: number, lo: number): void {
    this.u16(hi);
    this.u32(lo);
  }
  zeros(k: number): void {
    this.ensure(k);
    this.buf.fill(0, this.n, this.n + k);
    this.n += k;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  put16(at: number, v: number): void {
    this.buf[at] = (v >>> 8) & 0xff;
    this.buf[at + 1] = v & 0xff;
  }
}

/** Builds the Ethernet frame described by `key` (see the module comment). */
export function buildFrame(key: FlowKey, opts: BuildOptions = {}): Uint8Array {
  const w = new Writer();
  const payload = opts.payload ?? new Uint8Array(0);
  w.mac(key[W.ETH_DST]!, key[W.ETH_DST + 1]!);
  w.mac(key[W.ETH_SRC]!, key[W.ETH_SRC + 1]!);
  for (let i = 0; i < 2; i++) {
    const v = key[W.VLAN0 + i]!;
    if ((v & VLAN_CFI) === 0) break;
    w.u16(v >>> 16 || ETH_TYPE.VLAN);
    w.u16(v & 0xffff & ~VLAN_CFI);
  }
  const dlType = key[W.ETH_TYPE]!;
  if (dlType < ETH_TYPE.MIN) {
    const lenAt = w.n;
    w.u16(0);
    w.u8(0x42);
    w.u8(0x42);
    w.u8(0x03);
    w.bytes(payload);
    w.put16(lenAt, w.n - lenAt - 2);
    return finish(w, opts);
  }
  w.u16(dlType);
  if (dlType === ETH_TYPE.MPLS || dlType === ETH_TYPE.MPLS_MCAST) {
    for (let i = 0; i < 3; i++) {
      let lse = key[W.MPLS0 + i]!;
      if (i === 2) lse |= 0x100;
      w.u32(lse);
      if ((lse & 0x100) !== 0) break;
    }
    w.bytes(payload);
    return finish(w, opts);
  }
  if (dlType === ETH_TYPE.ARP || dlType === ETH_TYPE.RARP) {
    w.u16(1);
    w.u16(ETH_TYPE.IP);
    w.u8(6);
    w.u8(4);
    w.u16(key[W.NW]! & 0xff);
    w.mac(key[W.ARP_SHA]!, key[W.ARP_SHA + 1]!);
    w.u32(key[W.NW_SRC]!);
    w.mac(key[W.ARP_THA]!, key[W.ARP_THA + 1]!);
    w.u32(key[W.NW_DST]!);
    w.bytes(payload);
    return finish(w, opts);
  }
  if (dlType === ETH_TYPE.PBB) {
    w.u32(key[W.PBB_ISID]! & 0xffffff);
    w.bytes(payload);
    return finish(w, opts);
  }
  if (dlType !== ETH_TYPE.IP && dlType !== ETH_TYPE.IPV6) {
    w.bytes(payload);
    return finish(w, opts);
  }

  const nw = key[W.NW]!;
  const proto = nw & 0xff;
  const tos = (nw >>> 8) & 0xff;
  const ttl = (nw >>> 16) & 0xff;
  const frag = (nw >>> 24) & 3;
  const l3 = w.n;
  let l3len: number;
  let l4proto = proto;
  if (dlType === ETH_TYPE.IP) {
    w.u8(0x45);
    w.u8(tos);
    w.u16(0); // total length, patched below
    w.u16(0); // identification
    w.u16((frag & FRAG_LATER) !== 0 ? 1480 / 8 : (frag & FRAG_ANY) !== 0 ? 0x2000 : 0);
    w.u8(ttl);
    w.u8(proto);
    w.u16(0);
    w.u32(key[W.NW_SRC]!);
    w.u32(key[W.NW_DST]!);
    l3len = 20;
  } else {
    w.u32(((6 << 28) | (tos << 20) | (key[W.IPV6_LABEL]! & 0xfffff)) >>> 0);
    w.u16(0); // payload length, patched below
    w.u8(0); // next header, patched below
    w.u8(ttl);
    for (let i = 0; i < 4; i++) w.u32(key[W.IPV6_SRC + i]!);
    for (let i = 0; i < 4; i++) w.u32(key[W.IPV6_DST + i]!);
    l3len = 40;
    const ext = (key[W.TCP_FLAGS]! >>> 16) & 0x1ff;
    // Extension headers in RFC 8200 order; each records the next header's number.
    const chain: number[] = [];
    if ((ext & IPV6_EXTHDR.HOP) !== 0) chain.push(IPPROTO.HOPOPTS);
    if ((ext & IPV6_EXTHDR.DEST) !== 0) chain.push(IPPROTO.DSTOPTS);
    if ((ext & IPV6_EXTHDR.ROUTER) !== 0) chain.push(IPPROTO.ROUTING);
    const later = (frag & FRAG_LATER) !== 0;
    if ((ext & IPV6_EXTHDR.FRAG) !== 0 || (frag & FRAG_ANY) !== 0 || proto === IPPROTO.FRAGMENT) {
      chain.push(IPPROTO.FRAGMENT);
    }
    if ((ext & IPV6_EXTHDR.AUTH) !== 0) chain.push(IPPROTO.AH);
    // A later fragment records ip_proto 44 (as OVS); its real next header is unknown: use 59.
    const upper = later && proto === IPPROTO.FRAGMENT ? IPPROTO.NONE : proto;
    w.buf[l3 + 6] = chain.length > 0 ? chain[0]! : upper;
    for (let i = 0; i < chain.length; i++) {
      const h = chain[i]!;
      const next = i + 1 < chain.length ? chain[i + 1]! : upper;
      w.u8(next);
      if (h === IPPROTO.FRAGMENT) {
        w.u8(0);
        w.u16(later ? 1480 : (frag & FRAG_ANY) !== 0 ? 1 : 0);
        w.u32(0x12345678);
      } else if (h === IPPROTO.AH) {
        w.u8(4); // (4 + 2) * 4 = 24 bytes: 12 fixed + 12 ICV
        w.zeros(22);
      } else if (h === IPPROTO.ROUTING) {
        w.u8(0);
        w.u8(0); // routing type 0 with segments left 0: ignorable
        w.u8(0);
        w.zeros(4);
      } else {
        w.u8(0);
        w.u8(1); // PadN option, 4 bytes of padding
        w.u8(4);
        w.zeros(4);
      }
    }
    l4proto = upper;
  }

  const l4 = w.n;
  if ((frag & FRAG_LATER) === 0) {
    const tp = key[W.TP]!;
    if (l4proto === IPPROTO.TCP) {
      w.u32(tp);
      w.u32(1); // sequence
      w.u32(0); // acknowledgement
      w.u16((5 << 12) | (key[W.TCP_FLAGS]! & 0x0fff));
      w.u16(65535);
      w.u16(0);
      w.u16(0);
    } else if (l4proto === IPPROTO.UDP) {
      w.u32(tp);
      w.u16(8 + payload.length);
      w.u16(0);
    } else if (l4proto === IPPROTO.SCTP) {
      w.u32(tp);
      w.u32(0); // verification tag
      w.u32(0); // checksum
    } else if (l4proto === IPPROTO.ICMP || l4proto === IPPROTO.IGMP) {
      w.u8(tp >>> 16);
      w.u8(tp);
      w.u16(0);
      w.u32(0);
    } else if (l4proto === IPPROTO.ICMPV6) {
      const type = (tp >>> 16) & 0xff;
      const code = tp & 0xff;
      w.u8(type);
      w.u8(code);
      w.u16(0);
      if (code === 0 && (type === 135 || type === 136)) {
        w.u32(type === 136 ? 0x60000000 : 0); // NA: solicited + override
        for (let i = 0; i < 4; i++) w.u32(key[W.ND_TARGET + i]!);
        if (key[W.ARP_SHA] !== 0 || key[W.ARP_SHA + 1] !== 0) {
          w.u8(1);
          w.u8(1);
          w.mac(key[W.ARP_SHA]!, key[W.ARP_SHA + 1]!);
        }
        if (key[W.ARP_THA] !== 0 || key[W.ARP_THA + 1] !== 0) {
          w.u8(2);
          w.u8(1);
          w.mac(key[W.ARP_THA]!, key[W.ARP_THA + 1]!);
        }
      } else {
        w.u32(0);
      }
    }
  }
  w.bytes(payload);
  const l4len = w.n - l4;
  if (dlType === ETH_TYPE.IP) {
    w.put16(l3 + 2, w.n - l3);
    setIPv4HeaderChecksum(w.buf, l3);
  } else {
    w.put16(l3 + 4, w.n - l3 - l3len);
  }
  if ((frag & FRAG_LATER) === 0) {
    if (l4proto === IPPROTO.SCTP) setSctpChecksum(w.buf, l4, l4len);
    else if (l4len >= 8) setL4Checksum(w.buf, l3, l4, l4len, l4proto, dlType === ETH_TYPE.IPV6);
  }
  return finish(w, opts);
}

function finish(w: Writer, opts: BuildOptions): Uint8Array {
  if (opts.minSize !== undefined && w.n < opts.minSize) w.zeros(opts.minSize - w.n);
  return w.buf.slice(0, w.n);
}

/**
 * Datapath flows in OVS's ODP text syntax, as `ovs-appctl dpctl/dump-flows` prints them
 * (non-verbose form, checked against OVS 3.1's userspace datapath):
 *
 *     recirc_id(0),in_port(3),packet_type(ns=0,id=0),eth(src=50:54:00:00:00:01),eth_type(0x0800),
 *     ipv4(src=10.0.1.1/255.255.255.0,proto=17,ttl=64,frag=no),udp(dst=2000)
 *
 * Fully wildcarded fields are left out (and a header whose fields all are, except the ones OVS
 * always prints); partially masked ones print `value/mask`; values print unmasked (a datapath
 * flow keeps the key of the packet that created it, as OVS's does).
 */
import { ETH_TYPE, IPPROTO, VLAN_CFI, W, type FlowKey } from '../lib/packet/flow-key.js';
import { formatIPv4, formatIPv6 } from '../lib/packet/ip.js';
import { formatMac } from '../lib/packet/mac.js';

function hx(v: number): string {
  return v === 0 ? '0' : '0x' + (v >>> 0).toString(16);
}

function macPart(name: string, key: FlowKey, mask: FlowKey, w: number, out: string[]): void {
  const mh = mask[w]! & 0xffff;
  const ml = mask[w + 1]! >>> 0;
  if (mh === 0 && ml === 0) return;
  let s = `${name}=${formatMac(key[w]!, key[w + 1]!)}`;
  if (mh !== 0xffff || ml !== 0xffffffff) s += '/' + formatMac(mh, ml);
  out.push(s);
}

function ip4Part(name: string, v: number, m: number, out: string[]): void {
  if (m >>> 0 === 0) return;
  out.push(`${name}=${formatIPv4(v)}` + (m >>> 0 === 0xffffffff ? '' : `/${formatIPv4(m)}`));
}

function ip6Part(name: string, key: FlowKey, mask: FlowKey, w: number, out: string[]): void {
  let anyBit = false;
  let full = true;
  for (let i = 0; i < 4; i++) {
    if (mask[w + i] !== 0) anyBit = true;
    if (mask[w + i] !== 0xffffffff) full = false;
  }
  if (!anyBit) return;
  out.push(`${name}=${formatIPv6(key, w)}` + (full ? '' : `/${formatIPv6(mask, w)}`));
}

/** `name=value` in decimal, `/0xMASK` when partial; nothing when the mask is 0. */
function decPart(name: string, v: number, m: number, full: number, out: string[]): void {
  if (m === 0) return;
  out.push(`${name}=${v}` + (m === full ? '' : `/${hx(m)}`));
}

/** As {@link decPart} with the value in hex (OVS's %#x). */
function hexPart(name: string, v: number, m: number, full: number, out: string[]): void {
  if (m === 0) return;
  out.push(`${name}=${hx(v)}` + (m === full ? '' : `/${hx(m)}`));
}

function vlanBody(tci: number, m: number): string {
  const parts: string[] = [];
  const vid = tci & 0xfff;
  const vidM = m & 0xfff;
  if (vid !== 0 || vidM !== 0)
    parts.push(`vid=${vid}` + (vidM !== 0xfff ? `/0x${vidM.toString(16)}` : ''));
  const pcp = (tci >>> 13) & 7;
  const pcpM = (m >>> 13) & 7;
  if (pcp !== 0 || pcpM !== 0)
    parts.push(`pcp=${pcp}` + (pcpM !== 7 ? `/0x${pcpM.toString(16)}` : ''));
  if ((tci & VLAN_CFI) === 0) parts.push('cfi=0');
  return parts.join(',');
}

const FLAG_NAMES = ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr', 'ns'];

function flagName(i: number): string {
  return FLAG_NAMES[i] ?? `[${(1 << i).toString(16)}]`;
}

function tcpFlagsKey(v: number, m: number): string {
  if (m === 0xfff) {
    if (v === 0) return '0';
    const p: string[] = [];
    for (let i = 0; i < 12; i++) if ((v >>> i) & 1) p.push(flagName(i));
    return p.join('|');
  }
  let s = '';
  for (let i = 0; i < 12; i++) if ((m >>> i) & 1) s += ((v >>> i) & 1 ? '+' : '-') + flagName(i);
  return s;
}

/** TCP flags of a flow's statistics, as OVS prints `flags:` (e.g. `S`, `.`, `SP.`). */
export function formatStatsTcpFlags(f: number): string {
  let s = '';
  if (f & 0x002) s += 'S';
  if (f & 0x001) s += 'F';
  if (f & 0x008) s += 'P';
  if (f & 0x004) s += 'R';
  if (f & 0x020) s += 'U';
  if (f & 0x010) s += '.';
  if (f & 0x040) s += 'E';
  if (f & 0x080) s += 'C';
  if (f & 0x100) s += 'N';
  for (let b = 0x200; b <= 0x800; b <<= 1) if (f & b) s += `[${b.toString(16)}]`;
  return s;
}

const FRAG_NAMES = ['no', 'first', '<error>', 'later'];

function l3AndBeyond(key: FlowKey, mask: FlowKey, out: string[]): void {
  const dlType = key[W.ETH_TYPE]! & 0xffff;
  const dlM = mask[W.ETH_TYPE]! & 0xffff;
  if (dlM !== 0)
    out.push(
      `eth_type(0x${dlType.toString(16).padStart(4, '0')}${dlM !== 0xffff ? `/0x${dlM.toString(16)}` : ''})`,
    );
  const nw = key[W.NW]!;
  const nwM = mask[W.NW]!;
  const frag = (nw >>> 24) & 3;
  const fragM = (nwM >>> 24) & 3;
  const fragStr = (): string =>
    fragM === 3 ? FRAG_NAMES[frag]! : `${FRAG_NAMES[frag]}/0x${fragM.toString(16)}`;
  if (dlType === ETH_TYPE.IP) {
    const p: string[] = [];
    ip4Part('src', key[W.NW_SRC]!, mask[W.NW_SRC]!, p);
    ip4Part('dst', key[W.NW_DST]!, mask[W.NW_DST]!, p);
    decPart('proto', nw & 0xff, nwM & 0xff, 0xff, p);
    hexPart('tos', (nw >>> 8) & 0xff, (nwM >>> 8) & 0xff, 0xff, p);
    decPart('ttl', (nw >>> 16) & 0xff, (nwM >>> 16) & 0xff, 0xff, p);
    if (fragM !== 0) p.push(`frag=${fragStr()}`);
    if (p.length > 0) out.push(`ipv4(${p.join(',')})`);
  } else if (dlType === ETH_TYPE.IPV6) {
    const p: string[] = [];
    ip6Part('src', key, mask, W.IPV6_SRC, p);
    ip6Part('dst', key, mask, W.IPV6_DST, p);
    hexPart('label', key[W.IPV6_LABEL]! & 0xfffff, mask[W.IPV6_LABEL]! & 0xfffff, 0xfffff, p);
    decPart('proto', nw & 0xff, nwM & 0xff, 0xff, p);
    hexPart('tclass', (nw >>> 8) & 0xff, (nwM >>> 8) & 0xff, 0xff, p);
    decPart('hlimit', (nw >>> 16) & 0xff, (nwM >>> 16) & 0xff, 0xff, p);
    if (fragM !== 0) p.push(`frag=${fragStr()}`);
    if (p.length > 0) out.push(`ipv6(${p.join(',')})`);
  } else if (dlType === ETH_TYPE.ARP || dlType === ETH_TYPE.RARP) {
    const p: string[] = [];
    ip4Part('sip', key[W.NW_SRC]!, mask[W.NW_SRC]!, p);
    ip4Part('tip', key[W.NW_DST]!, mask[W.NW_DST]!, p);
    decPart('op', nw & 0xff, nwM & 0xff, 0xff, p);
    macPart('sha', key, mask, W.ARP_SHA, p);
    macPart('tha', key, mask, W.ARP_THA, p);
    if (p.length > 0) out.push(`arp(${p.join(',')})`);
    return;
  } else if (dlType === ETH_TYPE.MPLS || dlType === ETH_TYPE.MPLS_MCAST) {
    const n = mask[W.MPLS2] !== 0 ? 3 : mask[W.MPLS1] !== 0 ? 2 : mask[W.MPLS0] !== 0 ? 1 : 0;
    if (n === 1) {
      const v = key[W.MPLS0]! >>> 0;
      const m = mask[W.MPLS0]! >>> 0;
      out.push(
        m === 0xffffffff
          ? `mpls(label=${v >>> 12},tc=${(v >>> 9) & 7},ttl=${v & 0xff},bos=${(v >>> 8) & 1})`
          : `mpls(label=${v >>> 12}/0x${(m >>> 12).toString(16)},tc=${(v >>> 9) & 7}/${((m >>> 9) & 7).toString(16)},` +
              `ttl=${v & 0xff}/0x${(m & 0xff).toString(16)},bos=${(v >>> 8) & 1}/${(m >>> 8) & 1})`,
      );
    } else if (n > 1) {
      const p: string[] = [];
      for (let i = 0; i < n; i++) {
        const m = mask[W.MPLS0 + i]! >>> 0;
        p.push(`lse${i}=${hx(key[W.MPLS0 + i]!)}` + (m === 0xffffffff ? '' : `/${hx(m)}`));
      }
      out.push(`mpls(${p.join(',')})`);
    }
    return;
  } else {
    return;
  }
  if ((nwM & 0xff) === 0 || (frag & 2) !== 0) return;
  const proto = nw & 0xff;
  const tp = key[W.TP]!;
  const tpM = mask[W.TP]!;
  const p: string[] = [];
  let name: string | undefined;
  if (proto === IPPROTO.TCP || proto === IPPROTO.UDP || proto === IPPROTO.SCTP) {
    name = proto === IPPROTO.TCP ? 'tcp' : proto === IPPROTO.UDP ? 'udp' : 'sctp';
    decPart('src', tp >>> 16, tpM >>> 16, 0xffff, p);
    decPart('dst', tp & 0xffff, tpM & 0xffff, 0xffff, p);
  } else if (
    (proto === IPPROTO.ICMP && dlType === ETH_TYPE.IP) ||
    (proto === IPPROTO.ICMPV6 && dlType === ETH_TYPE.IPV6)
  ) {
    name = proto === IPPROTO.ICMP ? 'icmp' : 'icmpv6';
    decPart('type', (tp >>> 16) & 0xff, (tpM >>> 16) & 0xff, 0xff, p);
    decPart('code', tp & 0xff, tpM & 0xff, 0xff, p);
  }
  if (name !== undefined && p.length > 0) out.push(`${name}(${p.join(',')})`);
  const tfM = mask[W.TCP_FLAGS]! & 0xfff;
  if (proto === IPPROTO.TCP && tfM !== 0) {
    out.push(`tcp_flags(${tcpFlagsKey(key[W.TCP_FLAGS]! & 0xfff, tfM)})`);
  }
  if (name === 'icmpv6') {
    const nd: string[] = [];
    ip6Part('target', key, mask, W.ND_TARGET, nd);
    macPart('sll', key, mask, W.ARP_SHA, nd);
    macPart('tll', key, mask, W.ARP_THA, nd);
    if (nd.length > 0) out.push(`nd(${nd.join(',')})`);
  }
}

/**
 * Formats a datapath flow's key under its mask in ODP syntax (see the module comment).
 * `portName` may map datapath port numbers to names (OVS does so with `-m`).
 */
export function formatOdpKey(
  key: FlowKey,
  mask: FlowKey,
  portName?: (port: number) => string | undefined,
): string {
  const out: string[] = [];
  if (mask[W.SKB_PRIORITY] !== 0)
    out.push(`skb_priority(${hx(key[W.SKB_PRIORITY]! & mask[W.SKB_PRIORITY]!)})`);
  if (mask[W.PKT_MARK] !== 0) out.push(`skb_mark(${hx(key[W.PKT_MARK]! & mask[W.PKT_MARK]!)})`);
  out.push(`recirc_id(${hx(key[W.RECIRC_ID]!)})`);
  if (mask[W.DP_HASH] !== 0) {
    const m = mask[W.DP_HASH]! >>> 0;
    out.push(`dp_hash(${hx(key[W.DP_HASH]! & m)}${m === 0xffffffff ? '' : `/${hx(m)}`})`);
  }
  if (mask[W.TUNNEL_ID] !== 0 || mask[W.TUNNEL_ID + 1] !== 0) {
    const v = (BigInt(key[W.TUNNEL_ID]!) << 32n) | BigInt(key[W.TUNNEL_ID + 1]!);
    out.push(`tunnel(tun_id=0x${v.toString(16)})`);
  }
  const inPort = key[W.IN_PORT]! >>> 0;
  out.push(`in_port(${portName?.(inPort) ?? String(inPort)})`);
  out.push('packet_type(ns=0,id=0)');
  const eth: string[] = [];
  macPart('src', key, mask, W.ETH_SRC, eth);
  macPart('dst', key, mask, W.ETH_DST, eth);
  if (eth.length > 0) out.push(`eth(${eth.join(',')})`);
  // VLAN tags print as eth_type(TPID),vlan(...),encap(...), nesting for the inner tag.
  let close = 0;
  for (let i = 0; i < 2; i++) {
    const v = key[W.VLAN0 + i]!;
    const m = mask[W.VLAN0 + i]! & 0xffff;
    if ((v & VLAN_CFI) === 0 || m === 0) break;
    const tpid = v >>> 16 || ETH_TYPE.VLAN;
    out.push(`eth_type(0x${tpid.toString(16)}),vlan(${vlanBody(v & 0xffff, m)}),encap(`);
    close++;
  }
  const rest: string[] = [];
  l3AndBeyond(key, mask, rest);
  let s = out.join(',');
  if (close > 0) s += rest.join(',') + ')'.repeat(close);
  else if (rest.length > 0) s += ',' + rest.join(',');
  return s;
}

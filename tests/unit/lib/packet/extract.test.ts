import t from 'tap';
import { counter } from '../../../../lib/counters.js';
import {
  LAYER,
  LAYER_COUNT,
  extractFlowKey,
  getVlanLimit,
  setVlanLimit,
} from '../../../../lib/packet/extract.js';
import {
  ETH_TYPE,
  FIELDS,
  FRAG_ANY,
  FRAG_LATER,
  IPV6_EXTHDR,
  getFieldBig,
  newFlowKey,
} from '../../../../lib/packet/flow-key.js';
import { ETH_HDR, extract, fieldsOf, fv, hex } from './helpers.js';

const IP_UDP =
  ETH_HDR +
  '0800 | 4500 002e 0000 4000 4011 0000 0a000001 0a000002 | 04d2 0050 001a 0000 |' +
  '00'.repeat(18);

const IP_TCP_OPTS =
  ETH_HDR +
  '0800 | 46b8 0030 1234 0000 3f06 0000 c0a80001 c0a80002 01010101 |' +
  '3039 01bb 00000001 00000000 6112 ffff 0000 0000 020405b4';

const ARP_REQ =
  'ffffffffffff 000000000001 0806 | 0001 0800 06 04 0001 000000000001 0a000001 000000000000 0a000002';

const V6_SRC = '20010db8000000000000000000000001';
const V6_DST = '20010db8000000000000000000000002';
const IP6_TCP =
  ETH_HDR +
  `86dd | 6b812345 0014 06 40 ${V6_SRC} ${V6_DST} | 0050 c000 00000000 00000000 5002 ffff 0000 0000`;

const LL1 = 'fe800000000000000000000000000001';
const LL2 = 'fe800000000000000000000000000002';
const SNM = 'ff0200000000000000000001ff000002';
const ND_NS =
  ETH_HDR +
  `86dd | 60000000 0020 3a ff ${LL1} ${SNM} | 8700 0000 00000000 ${LL2} 0101 001122334455`;

t.test('IPv4/UDP in a 60-byte frame (Ethernet padding ignored)', (t) => {
  const f = hex(IP_UDP);
  t.equal(f.length, 60);
  const k = extract(f, 7);
  t.same(fieldsOf(k), {
    in_port: '0x7',
    eth_dst: '0x2',
    eth_src: '0x1',
    eth_type: '0x800',
    ip_proto: '0x11',
    ipv4_src: '0xa000001',
    ipv4_dst: '0xa000002',
    udp_src: '0x4d2',
    udp_dst: '0x50',
    tcp_src: '0x4d2',
    tcp_dst: '0x50',
    sctp_src: '0x4d2',
    sctp_dst: '0x50',
    icmpv4_type: '0xd2',
    icmpv4_code: '0x50',
    icmpv6_type: '0xd2',
    icmpv6_code: '0x50',
    arp_op: '0x11',
    arp_spa: '0xa000001',
    arp_tpa: '0xa000002',
    ip_ttl: '0x40',
    tp_src: '0x4d2',
    tp_dst: '0x50',
  });
  t.equal(fv(k, 'ip_frag'), 0, 'DF alone is not a fragment');
  t.end();
});

t.test('IPv4 options, TCP options and flags, DSCP/ECN/TTL', (t) => {
  const k = extract(hex(IP_TCP_OPTS));
  t.equal(fv(k, 'ip_dscp'), 46);
  t.equal(fv(k, 'ip_ecn'), 0);
  t.equal(fv(k, 'ip_ttl'), 63);
  t.equal(fv(k, 'ip_proto'), 6);
  t.equal(fv(k, 'ipv4_src'), 0xc0a80001);
  t.equal(fv(k, 'tcp_src'), 12345);
  t.equal(fv(k, 'tcp_dst'), 443);
  t.equal(fv(k, 'tcp_flags'), 0x112, 'NS + SYN + ACK');
  const layers = new Int32Array(LAYER_COUNT);
  const k2 = newFlowKey();
  extractFlowKey(hex(IP_TCP_OPTS), 0, 62, 1, k2, undefined, layers);
  t.same([...layers], [-1, 14, 38, 62, 62]);
  t.end();
});

t.test('IP total length ending inside the TCP header keeps L3, zeroes L4', (t) => {
  const c = counter('flow_extract_truncated', 'flow');
  const before = c.total;
  const f = hex(
    ETH_HDR +
      '0800 | 4500 001e 0000 0000 4006 0000 0a000001 0a000002 | 3039 01bb 0000 0000 0000' +
      '00'.repeat(16),
  );
  const k = extract(f);
  t.equal(fv(k, 'ipv4_src'), 0x0a000001);
  t.equal(fv(k, 'ip_proto'), 6);
  t.equal(fv(k, 'ip_ttl'), 64);
  t.equal(fv(k, 'tcp_src'), 0);
  t.equal(fv(k, 'tcp_dst'), 0);
  t.equal(c.total, before + 1, 'counted as truncated');
  t.end();
});

t.test('TCP data offset below 5 is a bad header', (t) => {
  const c = counter('flow_extract_bad_tcp_header', 'flow');
  const before = c.total;
  const f = hex(
    ETH_HDR +
      '0800 | 4500 0028 0000 0000 4006 0000 0a000001 0a000002 | 3039 01bb 00000001 00000000 4002 ffff 0000 0000',
  );
  const k = extract(f);
  t.equal(fv(k, 'tcp_src'), 0);
  t.equal(fv(k, 'ipv4_dst'), 0x0a000002);
  t.equal(c.total, before + 1);
  t.end();
});

t.test('IPv4 fragments: first, later, DF', (t) => {
  const mk = (frag: string): Uint8Array =>
    hex(
      ETH_HDR + `0800 | 4500 001c 0000 ${frag} 4011 0000 0a000001 0a000002 | 0035 0035 0008 0000`,
    );
  const first = extract(mk('2000'));
  t.equal(fv(first, 'ip_frag'), FRAG_ANY);
  t.equal(fv(first, 'udp_dst'), 53, 'first fragment has L4');
  const later = extract(mk('00b9'));
  t.equal(fv(later, 'ip_frag'), FRAG_ANY | FRAG_LATER);
  t.equal(fv(later, 'udp_dst'), 0, 'later fragment has no L4');
  t.equal(fv(later, 'ip_proto'), 17);
  const lastLater = extract(mk('20b9'));
  t.equal(fv(lastLater, 'ip_frag'), FRAG_ANY | FRAG_LATER);
  const df = extract(mk('4000'));
  t.equal(fv(df, 'ip_frag'), 0);
  t.end();
});

t.test('bad IPv4 headers leave L3 zero and are counted', (t) => {
  const c = counter('flow_extract_bad_ip_header', 'flow');
  const before = c.total;
  // IHL 4.
  let k = extract(hex(ETH_HDR + '0800 | 4400 0014 0000 0000 4011 0000 0a000001 0a000002'));
  t.equal(fv(k, 'eth_type'), ETH_TYPE.IP);
  t.equal(fv(k, 'ipv4_src'), 0);
  t.equal(fv(k, 'ip_proto'), 0);
  // Total length shorter than the header.
  k = extract(hex(ETH_HDR + '0800 | 4500 0010 0000 0000 4011 0000 0a000001 0a000002 00000000'));
  t.equal(fv(k, 'ipv4_src'), 0);
  t.equal(c.total, before + 2);
  // Total length longer than the frame: truncated, L3 zero.
  k = extract(hex(ETH_HDR + '0800 | 4500 0100 0000 0000 4011 0000 0a000001 0a000002'));
  t.equal(fv(k, 'ipv4_src'), 0);
  t.end();
});

t.test('ICMPv4, IGMP and SCTP', (t) => {
  let k = extract(
    hex(ETH_HDR + '0800 | 4500 001c 0000 0000 4001 0000 0a000001 0a000002 | 0800 f7ff 0000 0000'),
  );
  t.equal(fv(k, 'icmpv4_type'), 8);
  t.equal(fv(k, 'icmpv4_code'), 0);
  t.equal(fv(k, 'tp_src'), 8, 'ICMP type goes to tp_src as OVS');
  k = extract(
    hex(ETH_HDR + '0800 | 4500 001c 0000 0000 4001 0000 0a000001 0a000002 | 0303 0000 0000 0000'),
  );
  t.equal(fv(k, 'icmpv4_type'), 3);
  t.equal(fv(k, 'icmpv4_code'), 3);
  k = extract(
    hex(ETH_HDR + '0800 | 4500 001c 0000 0000 0102 0000 0a000001 e0000001 | 1600 0000 e0000001'),
  );
  t.equal(fv(k, 'tp_src'), 0x16, 'IGMP type');
  k = extract(
    hex(
      ETH_HDR +
        '0800 | 4500 0020 0000 0000 4084 0000 0a000001 0a000002 | 0b59 0b5a 00000000 00000000',
    ),
  );
  t.equal(fv(k, 'sctp_src'), 2905);
  t.equal(fv(k, 'sctp_dst'), 2906);
  // SCTP header cut at 8 bytes by the IP length.
  k = extract(
    hex(ETH_HDR + '0800 | 4500 001c 0000 0000 4084 0000 0a000001 0a000002 | 0b59 0b5a 00000000'),
  );
  t.equal(fv(k, 'sctp_src'), 0);
  t.equal(fv(k, 'ip_proto'), 132);
  t.end();
});

t.test('ARP', (t) => {
  let k = extract(hex(ARP_REQ));
  t.equal(fv(k, 'eth_type'), ETH_TYPE.ARP);
  t.equal(fv(k, 'arp_op'), 1);
  t.equal(fv(k, 'arp_spa'), 0x0a000001);
  t.equal(fv(k, 'arp_tpa'), 0x0a000002);
  t.equal(fv(k, 'arp_sha'), 1n);
  t.equal(fv(k, 'arp_tha'), 0n);
  t.equal(fv(k, 'eth_dst'), 0xffffffffffffn);
  // Opcode above 255: not kept (as OVS), addresses are.
  k = extract(hex(ARP_REQ.replace('06 04 0001', '06 04 0101')));
  t.equal(fv(k, 'arp_op'), 0);
  t.equal(fv(k, 'arp_spa'), 0x0a000001);
  // Not Ethernet/IPv4: nothing beyond L2.
  k = extract(hex(ARP_REQ.replace('0001 0800 06 04', '0006 0800 06 04')));
  t.equal(fv(k, 'arp_spa'), 0);
  t.equal(fv(k, 'arp_op'), 0);
  // RARP uses the same layout.
  k = extract(hex(ARP_REQ.replace('0806', '8035').replace('06 04 0001', '06 04 0003')));
  t.equal(fv(k, 'eth_type'), ETH_TYPE.RARP);
  t.equal(fv(k, 'arp_op'), 3);
  // Truncated ARP.
  k = extract(hex(ARP_REQ).subarray(0, 40));
  t.equal(fv(k, 'eth_type'), ETH_TYPE.ARP);
  t.equal(fv(k, 'arp_spa'), 0);
  t.end();
});

t.test('802.1Q, 802.1ad double tags, and a third tag left as eth_type', (t) => {
  const body = '0800 | 4500 001c 0000 0000 4011 0000 0a000001 0a000002 | 0035 0035 0008 0000';
  let k = extract(hex(ETH_HDR + '8100 e064 ' + body));
  t.equal(fv(k, 'vlan_vid'), 0x1000 | 100, 'OFPVID_PRESENT | 100');
  t.equal(fv(k, 'vlan_pcp'), 7);
  t.equal(fv(k, 'vlan_tpid'), 0x8100);
  t.equal(fv(k, 'vlan_tci1'), 0);
  t.equal(fv(k, 'udp_dst'), 53);
  // A tag with VID 0 and PCP 0 is still present.
  k = extract(hex(ETH_HDR + '8100 0000 ' + body));
  t.equal(fv(k, 'vlan_tci'), 0x1000);
  k = extract(hex(ETH_HDR + '88a8 0064 8100 20c8 ' + body));
  t.equal(fv(k, 'vlan_tpid'), 0x88a8);
  t.equal(fv(k, 'vlan_vid'), 0x1064);
  t.equal(fv(k, 'vlan_tpid1'), 0x8100);
  t.equal(fv(k, 'vlan_tci1'), 0x30c8, 'inner pcp 1, present, vid 200');
  t.equal(fv(k, 'ipv4_src'), 0x0a000001);
  k = extract(hex(ETH_HDR + '8100 0001 8100 0002 8100 0003 ' + body));
  t.equal(fv(k, 'eth_type'), 0x8100, 'third tag not parsed (OVS parses two)');
  t.equal(fv(k, 'ipv4_src'), 0);
  // vlan-limit 1 (OVS's default configuration): the inner TPID becomes eth_type.
  setVlanLimit(1);
  t.equal(getVlanLimit(), 1);
  k = extract(hex(ETH_HDR + '88a8 0064 8100 20c8 ' + body));
  t.equal(fv(k, 'vlan_vid'), 0x1064);
  t.equal(fv(k, 'vlan_tci1'), 0);
  t.equal(fv(k, 'eth_type'), 0x8100);
  t.equal(fv(k, 'ipv4_src'), 0);
  setVlanLimit(0);
  t.equal(getVlanLimit(), 2, '0 means as many as the key holds');
  setVlanLimit(7);
  t.equal(getVlanLimit(), 2);
  // Tag cut short: the TPID becomes eth_type.
  k = extract(hex(ETH_HDR + '8100 0001 08'));
  t.equal(fv(k, 'eth_type'), 0x8100);
  t.equal(fv(k, 'vlan_tci'), 0);
  t.end();
});

t.test('802.3 / LLC / SNAP', (t) => {
  let k = extract(hex('0180c2000000 000000000001 0026 424203 0000 ' + '00'.repeat(36)));
  t.equal(fv(k, 'eth_type'), ETH_TYPE.NONE, 'STP over LLC gives 0x05ff');
  k = extract(
    hex(
      ETH_HDR +
        '0024 aaaa03 000000 0800 | 4500 001c 0000 0000 4011 0000 0a000001 0a000002 | 0035 0035 0008 0000',
    ),
  );
  t.equal(fv(k, 'eth_type'), ETH_TYPE.IP, 'SNAP with OUI 0 carries an ethertype');
  t.equal(fv(k, 'udp_src'), 53);
  k = extract(hex(ETH_HDR + '0024 aaaa03 00000c 2000 ' + '00'.repeat(30)));
  t.equal(fv(k, 'eth_type'), ETH_TYPE.NONE, 'non-zero OUI');
  k = extract(hex(ETH_HDR + '0024 aaaa03 000000 0500 ' + '00'.repeat(30)));
  t.equal(fv(k, 'eth_type'), ETH_TYPE.NONE, 'SNAP type below 0x600');
  k = extract(hex(ETH_HDR + '0024 aaaa03'));
  t.equal(fv(k, 'eth_type'), ETH_TYPE.NONE, 'short LLC');
  t.end();
});

t.test('MPLS: top label fields, up to three entries, no L3', (t) => {
  const k = extract(
    hex(ETH_HDR + '8847 | 00064040 000c8b3f | 4500 001c 0000 0000 4011 0000 0a000001 0a000002'),
  );
  t.equal(fv(k, 'mpls_label'), 100);
  t.equal(fv(k, 'mpls_tc'), 0);
  t.equal(fv(k, 'mpls_bos'), 0);
  t.equal(fv(k, 'mpls_ttl'), 64);
  t.equal(fv(k, 'mpls_lse1'), 0x000c8b3f);
  t.equal(fv(k, 'ipv4_src'), 0);
  const four = extract(hex(ETH_HDR + '8847 00001040 00002040 00003040 00004140'));
  t.equal(fv(four, 'mpls_lse2'), 0x00003040);
  t.equal(fv(four, 'mpls_label'), 1);
  const layers = new Int32Array(LAYER_COUNT);
  const k2 = newFlowKey();
  const f = hex(ETH_HDR + '8848 00064140');
  extractFlowKey(f, 0, f.length, 1, k2, undefined, layers);
  t.equal(fv(k2, 'mpls_bos'), 1);
  t.equal(layers[LAYER.L2_5], 14);
  t.equal(layers[LAYER.L3], 18);
  t.end();
});

t.test('PBB I-TAG gives pbb_isid', (t) => {
  const k = extract(hex(ETH_HDR + '88e7 00abcdef ' + ETH_HDR + '0800'));
  t.equal(fv(k, 'pbb_isid'), 0xabcdef);
  t.end();
});

t.test('IPv6/TCP: addresses, flow label, traffic class', (t) => {
  const k = extract(hex(IP6_TCP));
  t.equal(fv(k, 'ipv6_src'), BigInt('0x' + V6_SRC));
  t.equal(fv(k, 'ipv6_dst'), BigInt('0x' + V6_DST));
  t.equal(fv(k, 'ipv6_flabel'), 0x12345);
  t.equal(fv(k, 'ip_dscp'), 46);
  t.equal(fv(k, 'ip_ttl'), 64);
  t.equal(fv(k, 'tcp_src'), 80);
  t.equal(fv(k, 'tcp_dst'), 49152);
  t.equal(fv(k, 'tcp_flags'), 2);
  t.equal(fv(k, 'ipv6_exthdr'), 0);
  t.equal(fv(k, 'ipv4_src'), 0);
  t.end();
});

t.test('IPv6 extension headers and ipv6_exthdr flags', (t) => {
  const v6 = (nh: string, plen: string, rest: string): Uint8Array =>
    hex(ETH_HDR + `86dd 60000000 ${plen} ${nh} 40 ${V6_SRC} ${V6_DST} ${rest}`);
  // Hop-by-hop, fragment (first), UDP.
  let k = extract(
    v6('00', '0018', '2c00 0104 0000 0000 | 1100 0001 12345678 | 0035 0035 0008 0000'),
  );
  t.equal(fv(k, 'ip_proto'), 17);
  t.equal(fv(k, 'ip_frag'), FRAG_ANY);
  t.equal(fv(k, 'ipv6_exthdr'), IPV6_EXTHDR.HOP | IPV6_EXTHDR.FRAG);
  t.equal(fv(k, 'udp_dst'), 53);
  // Atomic fragment (offset 0, M clear) is not a fragment.
  k = extract(v6('2c', '0010', '1100 0000 12345678 | 0035 0035 0008 0000'));
  t.equal(fv(k, 'ip_frag'), 0);
  t.equal(fv(k, 'ipv6_exthdr'), IPV6_EXTHDR.FRAG);
  t.equal(fv(k, 'udp_src'), 53);
  // Later fragment: ip_proto 44 as OVS, no L4.
  k = extract(v6('2c', '0010', '1100 05c8 12345678 | 0035 0035 0008 0000'));
  t.equal(fv(k, 'ip_proto'), 44);
  t.equal(fv(k, 'ip_frag'), FRAG_ANY | FRAG_LATER);
  t.equal(fv(k, 'udp_src'), 0);
  // Routing then hop-by-hop then no next header: out of order.
  k = extract(v6('2b', '0010', '0000 0000 00000000 | 3b00 0104 0000 0000'));
  t.equal(
    fv(k, 'ipv6_exthdr'),
    IPV6_EXTHDR.ROUTER | IPV6_EXTHDR.HOP | IPV6_EXTHDR.UNSEQ | IPV6_EXTHDR.NONEXT,
  );
  t.equal(fv(k, 'ip_proto'), 59);
  // Destination options twice is allowed, three times is a repeat.
  k = extract(v6('3c', '0010', '3c00 0104 0000 0000 | 3b00 0104 0000 0000'));
  t.equal(fv(k, 'ipv6_exthdr'), IPV6_EXTHDR.DEST | IPV6_EXTHDR.NONEXT);
  k = extract(v6('3c', '0018', '3c00 0104 0000 0000 | 3c00 0104 0000 0000 | 3b00 0104 0000 0000'));
  t.equal(fv(k, 'ipv6_exthdr'), IPV6_EXTHDR.DEST | IPV6_EXTHDR.UNREP | IPV6_EXTHDR.NONEXT);
  // Two routing headers.
  k = extract(v6('2b', '0010', '2b00 0000 00000000 | 3b00 0000 00000000'));
  t.equal(fv(k, 'ipv6_exthdr'), IPV6_EXTHDR.ROUTER | IPV6_EXTHDR.UNREP | IPV6_EXTHDR.NONEXT);
  // AH (length in 4-byte units + 2) then ESP.
  k = extract(
    v6('33', '0020', '3204 0000 00000000 00000000 00000000 00000000 00000000 | 00000001 00000001'),
  );
  t.equal(fv(k, 'ipv6_exthdr'), IPV6_EXTHDR.AUTH | IPV6_EXTHDR.ESP);
  t.equal(fv(k, 'ip_proto'), 50);
  // Extension header chain running off the end: L3 beyond the addresses stays zero.
  const c = counter('flow_extract_bad_ipv6_exthdr', 'flow');
  const before = c.total;
  k = extract(v6('00', '0004', '1100 0000'));
  t.equal(fv(k, 'ipv6_src'), BigInt('0x' + V6_SRC));
  t.equal(fv(k, 'ip_proto'), 0);
  t.equal(fv(k, 'ip_ttl'), 0);
  t.equal(fv(k, 'ipv6_exthdr'), 0);
  t.equal(c.total, before + 1);
  // Payload length beyond the frame.
  k = extract(v6('11', '0100', '0035 0035 0008 0000'));
  t.equal(fv(k, 'ipv6_src'), 0n);
  t.end();
});

t.test('ICMPv6 neighbour discovery', (t) => {
  let k = extract(hex(ND_NS));
  t.equal(fv(k, 'icmpv6_type'), 135);
  t.equal(fv(k, 'icmpv6_code'), 0);
  t.equal(fv(k, 'ipv6_nd_target'), BigInt('0x' + LL2));
  t.equal(fv(k, 'ipv6_nd_sll'), 0x001122334455n);
  t.equal(fv(k, 'ipv6_nd_tll'), 0n);
  // NA with a TLL option.
  k = extract(
    hex(
      ETH_HDR +
        `86dd 60000000 0020 3a ff ${LL2} ${LL1} | 8800 0000 60000000 ${LL2} 0201 00aabbccddee`,
    ),
  );
  t.equal(fv(k, 'icmpv6_type'), 136);
  t.equal(fv(k, 'ipv6_nd_tll'), 0x00aabbccddeen);
  t.equal(fv(k, 'ipv6_nd_sll'), 0n);
  // Unknown options are skipped; SLL after a 16-byte unknown option.
  k = extract(
    hex(
      ETH_HDR +
        `86dd 60000000 0030 3a ff ${LL1} ${SNM} | 8700 0000 00000000 ${LL2} 0e02 000000000000 00000000 00000000 0101 001122334455`,
    ),
  );
  t.equal(fv(k, 'ipv6_nd_sll'), 0x001122334455n);
  // Repeated SLL: target and addresses are all dropped (OVS), type kept.
  const c = counter('flow_extract_bad_nd', 'flow');
  const before = c.total;
  k = extract(
    hex(
      ETH_HDR +
        `86dd 60000000 0028 3a ff ${LL1} ${SNM} | 8700 0000 00000000 ${LL2} 0101 001122334455 0101 001122334466`,
    ),
  );
  t.equal(fv(k, 'icmpv6_type'), 135);
  t.equal(fv(k, 'ipv6_nd_target'), 0n);
  t.equal(fv(k, 'ipv6_nd_sll'), 0n);
  t.equal(c.total, before + 1);
  // Zero-length option stops the walk but keeps what was found.
  k = extract(
    hex(
      ETH_HDR +
        `86dd 60000000 0020 3a ff ${LL1} ${SNM} | 8700 0000 00000000 ${LL2} 0100 001122334455`,
    ),
  );
  t.equal(fv(k, 'ipv6_nd_target'), BigInt('0x' + LL2));
  t.equal(fv(k, 'ipv6_nd_sll'), 0n);
  // Target missing: type/code only.
  k = extract(hex(ETH_HDR + `86dd 60000000 0008 3a ff ${LL1} ${SNM} | 8700 0000 00000000`));
  t.equal(fv(k, 'icmpv6_type'), 135);
  t.equal(fv(k, 'ipv6_nd_target'), 0n);
  // ND types with a non-zero code are not ND.
  k = extract(hex(ND_NS.replace('| 8700', '| 8701')));
  t.equal(fv(k, 'icmpv6_code'), 1);
  t.equal(fv(k, 'ipv6_nd_target'), 0n);
  // Echo request.
  k = extract(hex(ETH_HDR + `86dd 60000000 0008 3a 40 ${LL1} ${LL2} | 8000 0000 0001 0001`));
  t.equal(fv(k, 'icmpv6_type'), 128);
  t.end();
});

t.test('metadata, offset inside a larger buffer, length clamp, runt frames', (t) => {
  const f = hex(IP_UDP);
  const big = new Uint8Array(f.length + 100);
  big.set(f, 37);
  const k = newFlowKey();
  extractFlowKey(big, 37, f.length, 3, k, {
    recircId: 5,
    dpHash: 6,
    skbPriority: 7,
    pktMark: 8,
    inPhyPort: 9,
    metadataHi: 1,
    metadataLo: 2,
    tunnelIdHi: 3,
    tunnelIdLo: 4,
  });
  t.same(
    [...k],
    [...extract(f, 3)].map((v, i) =>
      i === 0
        ? 3
        : i === 1
          ? 9
          : i === 2
            ? 1
            : i === 3
              ? 2
              : i === 4
                ? 3
                : i === 5
                  ? 4
                  : i >= 6 && i <= 9
                    ? i - 1
                    : v,
    ),
  );
  t.equal(
    getFieldBig(
      k,
      FIELDS.find((d) => d.name === 'metadata')!,
    ),
    0x100000002n,
  );
  // Length past the buffer is clamped.
  const k2 = newFlowKey();
  extractFlowKey(f, 0, 10_000, 1, k2);
  t.same([...k2], [...extract(f)]);
  // A key is fully overwritten: stale words from a previous packet do not survive.
  extractFlowKey(f, 0, 13, 1, k2);
  t.same([...k2], [1, ...new Array<number>(k2.length - 1).fill(0)]);
  // Negative offset / length are harmless.
  extractFlowKey(f, -5, -5, 1, k2);
  t.equal(k2[0], 1);
  t.end();
});

/**
 * Truncation at every byte offset: nothing throws, and every field of the truncated key is
 * either zero or the full frame's value (eth_type may also be a VLAN TPID when the cut falls in
 * a tag, as OVS does).
 */
t.test('truncation at every byte offset gives a prefix-valid key', (t) => {
  const frames: Record<string, string> = {
    IP_UDP,
    IP_TCP_OPTS,
    ARP_REQ,
    IP6_TCP,
    ND_NS,
    QINQ:
      ETH_HDR +
      '88a8 0064 8100 20c8 0800 | 4500 001c 0000 0000 4011 0000 0a000001 0a000002 | 0035 0035 0008 0000',
    V6_EXT:
      ETH_HDR +
      `86dd 60000000 0018 00 40 ${V6_SRC} ${V6_DST} 2c00 0104 0000 0000 | 1100 0001 12345678 | 0035 0035 0008 0000`,
    MPLS: ETH_HDR + '8847 | 00064040 000c8b3f 00000140',
  };
  for (const [name, h] of Object.entries(frames)) {
    const f = hex(h);
    const full = extract(f);
    let checked = 0;
    for (let len = 0; len <= f.length; len++) {
      const k = newFlowKey();
      extractFlowKey(f.slice(0, len), 0, len, 1, k); // a throw fails the test
      for (const d of FIELDS) {
        const v = getFieldBig(k, d);
        if (v === 0n || v === getFieldBig(full, d)) continue;
        if (d.name === 'eth_type' && (v === 0x8100n || v === 0x88a8n)) continue;
        t.fail(`${name} cut at ${len}: ${d.name}=0x${v.toString(16)} is neither 0 nor full value`);
      }
      checked++;
    }
    t.equal(checked, f.length + 1, `${name}: every cut checked`);
    // The whole frame is the full key, and frames shorter than 14 bytes give only metadata.
    const k = newFlowKey();
    extractFlowKey(f, 0, 13, 1, k);
    t.same(fieldsOf(k), { in_port: '0x1' }, `${name}: runt`);
  }
  t.end();
});

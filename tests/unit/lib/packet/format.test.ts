import t from 'tap';
import {
  FlowParseError,
  formatFlow,
  formatMatch,
  parseFlow,
} from '../../../../lib/packet/format.js';
import {
  ETH_TYPE,
  FIELDS,
  FRAG_ANY,
  W,
  fieldByName,
  fieldIsExact,
  getField,
  getFieldBig,
  newFlowKey,
  packetMask,
} from '../../../../lib/packet/flow-key.js';
import { ETH_HDR, extract, fv, hex } from './helpers.js';

/** "Flow:" lines as ofproto/trace prints them in Open vSwitch's own test suite. */
const OVS_FLOWS = [
  'icmp,in_port=1,vlan_tci=0x0000,dl_src=00:11:22:33:44:55,dl_dst=66:77:88:99:aa:bb,nw_src=20.20.20.20,nw_dst=10.10.10.10,nw_tos=0,nw_ecn=0,nw_ttl=0,nw_frag=no,icmp_type=0,icmp_code=0',
  'in_port=1,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=ff:ff:ff:ff:ff:ff,dl_type=0x0000',
  'ip,in_port=1,vlan_tci=0x0000,dl_src=00:0c:29:a0:27:a1,dl_dst=01:00:5e:01:01:01,nw_src=172.16.34.30,nw_dst=224.1.1.1,nw_proto=2,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,tp_src=18,tp_dst=20',
  'pkt_mark=0x1,skb_priority=0x2,arp,in_port=2,vlan_tci=0x0000,dl_src=50:54:00:00:00:02,dl_dst=50:54:00:00:00:01,arp_spa=0.0.0.0,arp_tpa=0.0.0.0,arp_op=0,arp_sha=00:00:00:00:00:00,arp_tha=00:00:00:00:00:00',
  'recirc_id=0x2,eth,ip,in_port=4,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,nw_src=0.0.0.0,nw_dst=0.0.0.0,nw_proto=0,nw_tos=0,nw_ecn=0,nw_ttl=0,nw_frag=no',
  'udp,in_port=3,vlan_tci=0x0000,dl_src=aa:55:aa:55:00:ff,dl_dst=01:00:5e:01:01:01,nw_src=10.0.0.1,nw_dst=224.1.1.1,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,tp_src=0,tp_dst=8000',
];

/** "Megaflow:" lines from Open vSwitch's test suite. */
const OVS_MEGAFLOWS = [
  'recirc_id=0,dp_hash=0x2d,eth,ip,in_port=1,nw_frag=no',
  'recirc_id=0,eth,icmp,in_port=1,nw_src=10.10.10.2,nw_frag=no',
  'recirc_id=0,eth,in_port=1,dl_src=00:00:00:00:00:00,dl_dst=ff:ff:ff:ff:ff:ff,dl_type=0x0000',
  'recirc_id=0,eth,ip,in_port=1,dl_src=00:0c:29:a0:27:a1,dl_dst=01:00:5e:01:01:01,nw_proto=2,nw_frag=no',
  'recirc_id=0,eth,ip,in_port=1,nw_proto=111,nw_ttl=2,nw_frag=no',
  'recirc_id=0,eth,tcp,in_port=1,nw_src=192.168.0.0/15,nw_dst=192.168.0.0/16,nw_frag=no',
  'recirc_id=0,eth,tcp6,in_port=1,ipv6_src=cccc:dddd:a:b:c:c::/95,ipv6_dst=cccc:dddd:a:b:c:c::/95,nw_frag=no',
  'recirc_id=0,eth,tcp6,in_port=1,ipv6_src=cccc:dddd:a:b:c:d:7:8,ipv6_dst=cccc:dddd:a:b:c:d:7:9,nw_frag=no',
  'recirc_id=0,eth,udp,in_port=3,dl_src=aa:55:aa:55:00:ff,dl_dst=01:00:5e:01:01:01,nw_dst=224.1.1.1,nw_frag=no',
  'recirc_id=0,eth,icmp6,in_port=1,dl_src=f6:d2:b0:19:5e:7b,dl_dst=d2:49:19:91:78:fe,ipv6_src=1000::/10,ipv6_dst=1000::4,nw_ttl=0,nw_frag=no',
  'recirc_id=0,eth,icmp6,in_port=1,nw_frag=no,icmp_type=0x87/0xff,icmp_code=0x0/0xff,nd_target=fe80::2020,nd_sll=66:55:44:33:22:11',
  'recirc_id=0,eth,icmp6,in_port=2,nw_ttl=255,nw_frag=no,icmp_type=0x80/0xfc,nd_target=::',
  'recirc_id=0,eth,ipv6,in_port=1,nw_proto=10,nw_ttl=128,nw_frag=no',
  'recirc_id=0,eth,tcp,in_port=1,nw_dst=10.1.2.15,nw_frag=no,tp_src=0x0/0xffc0,tp_dst=0x40/0xfff0',
  'recirc_id=0,eth,tcp,in_port=1,nw_frag=no,tp_dst=0x40/0xfff0,tcp_flags=-psh',
  'recirc_id=0,eth,tcp,in_port=1,nw_frag=no,tp_dst=80,tcp_flags=+psh',
];

t.test(
  'ofproto/trace "Flow:" lines from the OVS test suite parse and print back identically',
  (t) => {
    for (const s of OVS_FLOWS) t.equal(formatFlow(parseFlow(s).key), s);
    t.end();
  },
);

t.test('"Megaflow:" lines from the OVS test suite parse and print back identically', (t) => {
  for (const s of OVS_MEGAFLOWS) {
    const p = parseFlow(s);
    t.equal(formatMatch(p.key, p.mask), s);
  }
  t.end();
});

t.test('formatFlow of extracted packets', (t) => {
  const k = extract(
    hex(
      '505400000007 505400000005 8100 2064 0800 | 45 04 001c 0000 2000 4006 0000 c0a80001 c0a80002 | 0008 0009 0000 0000',
    ),
  );
  t.equal(
    formatFlow(k),
    'tcp,in_port=1,dl_vlan=100,dl_vlan_pcp=1,vlan_tci1=0x0000,dl_src=50:54:00:00:00:05,dl_dst=50:54:00:00:00:07,nw_src=192.168.0.1,nw_dst=192.168.0.2,nw_tos=4,nw_ecn=0,nw_ttl=64,nw_frag=first,tp_src=0,tp_dst=0,tcp_flags=0',
    'TCP header cut by the IP length: ports print as zero',
  );
  const mpls = extract(hex(ETH_HDR + '8847 00064b40'));
  t.equal(
    formatFlow(mpls),
    'mpls,in_port=1,vlan_tci=0x0000,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,mpls_label=100,mpls_tc=5,mpls_ttl=64,mpls_bos=1',
  );
  const qinq = extract(hex(ETH_HDR + '88a8 0064 8100 00c8 0806'));
  t.match(formatFlow(qinq), /dl_vlan=100,dl_vlan_pcp=0,dl_vlan1=200/, 'OVS prints no TPID');
  t.equal(
    formatFlow(qinq, { extensions: true }),
    'arp,in_port=1,dl_vlan=100,dl_vlan_pcp=0,vlan_tpid=0x88a8,dl_vlan1=200,dl_vlan_pcp1=0,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,arp_spa=0.0.0.0,arp_tpa=0.0.0.0,arp_op=0,arp_sha=00:00:00:00:00:00,arp_tha=00:00:00:00:00:00',
  );
  const v6ext = extract(
    hex(
      ETH_HDR +
        '86dd 60000000 0010 2b 40 20010db8000000000000000000000001 20010db8000000000000000000000002 0000 0000 00000000 3b00 0104 0000 0000',
    ),
  );
  t.notMatch(formatFlow(v6ext), /exthdr/);
  t.match(formatFlow(v6ext, { extensions: true }), /,ipv6_exthdr=0x161$/);
  const llc = extract(hex(ETH_HDR + '0026 424203' + '00'.repeat(40)));
  t.equal(
    formatFlow(llc),
    'in_port=1,vlan_tci=0x0000,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_type=0x05ff',
  );
  t.end();
});

t.test('formatMatch details: masks, vlan forms, frag forms, tcp flags, ports', (t) => {
  const k = newFlowKey();
  const m = newFlowKey();
  k[W.ETH_TYPE] = ETH_TYPE.IP;
  m[W.ETH_TYPE] = 0xffff;
  k[W.NW_SRC] = 0x0a000001;
  m[W.NW_SRC] = 0xff00ff00; // not a CIDR mask
  k[W.VLAN0] = 0x1005;
  m[W.VLAN0] = 0x0fff; // VID without CFI
  k[W.NW] = FRAG_ANY << 24;
  m[W.NW] = FRAG_ANY << 24;
  k[W.IN_PORT] = 0xfffffffe;
  m[W.IN_PORT] = 0xffffffff;
  k[W.ETH_SRC + 1] = 0x01;
  m[W.ETH_SRC] = 0xff;
  m[W.ETH_SRC + 1] = 0xffffffff;
  t.equal(
    formatMatch(k, m, 100),
    'priority=100,ip,in_port=LOCAL,vlan_tci=0x0005/0x0fff,dl_src=00:00:00:00:00:01/00:ff:ff:ff:ff:ff,nw_src=10.0.0.0/255.0.255.0,nw_frag=yes',
    'values print under their masks',
  );
  m[W.NW] = FRAG_ANY << 25;
  t.match(formatMatch(k, m), /nw_frag=not_later/);
  k[W.NW] = 3 << 24;
  t.match(formatMatch(k, m), /nw_frag=later/);
  m[W.NW] = 3 << 24;
  t.match(formatMatch(k, m), /nw_frag=later/);
  k[W.NW] = 2 << 24;
  t.match(formatMatch(k, m), /nw_frag=<error>/);
  // Full TCP flag set and zero.
  const tcp = parseFlow('tcp,tcp_flags=syn|ack');
  t.equal(formatMatch(tcp.key, tcp.mask), 'tcp,tcp_flags=syn|ack');
  const tcp0 = parseFlow('tcp,tcp_flags=0');
  t.equal(formatMatch(tcp0.key, tcp0.mask), 'tcp,tcp_flags=0');
  const mixed = parseFlow('tcp,tcp_flags=+syn-ack-fin');
  t.equal(formatMatch(mixed.key, mixed.mask), 'tcp,tcp_flags=-fin+syn-ack');
  t.equal(getField(mixed.key, fieldByName('tcp_flags')!), 2);
  // metadata and tunnel id.
  const md = parseFlow('metadata=0x1234/0xff00,tun_id=5');
  t.equal(formatMatch(md.key, md.mask), 'tun_id=0x5,metadata=0x1200/0xff00');
  t.end();
});

t.test('parseFlow: shorthands, aliases, masks, VLAN forms', (t) => {
  let p = parseFlow('in_port=1,dl_type=0x0800,nw_src=10.0.0.1/24,tcp,tp_dst=80');
  t.equal(fv(p.key, 'in_port'), 1);
  t.equal(fv(p.key, 'eth_type'), 0x800);
  t.equal(fv(p.key, 'ipv4_src'), 0x0a000000, 'key is masked');
  t.equal(fv(p.mask, 'ipv4_src'), 0xffffff00);
  t.equal(fv(p.key, 'tcp_dst'), 80);
  t.equal(fv(p.mask, 'tp_src'), 0);
  p = parseFlow('  udp6  ipv6_src=2001:db8::/32 udp_src=53 ');
  t.equal(fv(p.key, 'ip_proto'), 17);
  t.equal(fv(p.mask, 'ipv6_src'), 0xffffffff000000000000000000000000n);
  t.equal(fv(p.key, 'udp_src'), 53);
  p = parseFlow('dl_vlan=10,dl_vlan_pcp=3');
  t.equal(fv(p.key, 'vlan_tci'), 0x700a);
  t.equal(fv(p.mask, 'vlan_tci'), 0xffff);
  t.equal(fv(p.key, 'vlan_tpid'), 0x8100, 'present tag gets the default TPID in the key');
  t.equal(fv(p.mask, 'vlan_tpid'), 0, '… but the TPID stays wildcarded');
  p = parseFlow('dl_vlan=0xffff');
  t.equal(fv(p.key, 'vlan_tci'), 0);
  t.equal(fv(p.mask, 'vlan_tci'), 0xffff, 'OFP_VLAN_NONE: untagged');
  p = parseFlow('vlan_vid=0x1000/0x1000');
  t.equal(fv(p.key, 'vlan_vid'), 0x1000);
  t.equal(formatMatch(p.key, p.mask), 'vlan_tci=0x1000/0x1000');
  p = parseFlow('vlan_tci=0x1064,vlan_tpid=0x88a8');
  t.equal(fv(p.key, 'vlan_tpid'), 0x88a8);
  p = parseFlow('ip,nw_tos=184,nw_ecn=3,nw_ttl=9,ip_frag=first');
  t.equal(fv(p.key, 'ip_dscp'), 46);
  t.equal(fv(p.key, 'ip_ecn'), 3);
  t.equal(fv(p.key, 'ip_ttl'), 9);
  t.equal(fv(p.key, 'ip_frag'), FRAG_ANY);
  p = parseFlow('ip,ip_dscp=46');
  t.equal(fv(p.key, 'ip_dscp'), 46);
  p = parseFlow('arp,arp_op=2,arp_spa=1.2.3.4,arp_sha=aa:bb:cc:dd:ee:ff/ff:ff:ff:00:00:00');
  t.equal(fv(p.key, 'arp_op'), 2);
  t.equal(fv(p.key, 'arp_sha'), 0xaabbcc000000n);
  p = parseFlow('icmp6,icmp_type=136,nd_target=fe80::1,nd_tll=00:00:00:00:00:01');
  t.equal(fv(p.key, 'ipv6_nd_tll'), 1n);
  p = parseFlow('mpls,mpls_label=17,mpls_tc=3,mpls_bos=1,mpls_ttl=7');
  t.equal(fv(p.key, 'mpls_lse0'), ((17 << 12) | (3 << 9) | 0x100 | 7) >>> 0);
  p = parseFlow('in_port=LOCAL,priority=7,actions=output:1,drop');
  t.equal(fv(p.key, 'in_port'), 0xfffffffe);
  t.equal(p.priority, 7);
  p = parseFlow('in_port:3,dl_dst:01:00:00:00:00:00/01:00:00:00:00:00');
  t.equal(fv(p.key, 'in_port'), 3);
  t.equal(fv(p.mask, 'eth_dst'), 0x010000000000n);
  p = parseFlow('pkt_mark=0x10/0xf0,skb_priority=2,recirc_id=3,dp_hash=4,in_phy_port=9');
  t.equal(fv(p.mask, 'pkt_mark'), 0xf0);
  t.equal(fv(p.key, 'recirc_id'), 3);
  p = parseFlow('ipv6,ipv6_label=0x12345,ipv6_exthdr=0x40/0x40');
  t.equal(fv(p.key, 'ipv6_flabel'), 0x12345);
  t.equal(fv(p.key, 'ipv6_exthdr'), 0x40);
  t.end();
});

t.test('parseFlow errors', (t) => {
  const bad: Array<[string, RegExp]> = [
    ['tp_dst=80', /prerequisites/],
    ['ip,tp_dst=80', /prerequisites/],
    ['udp,tcp_dst=80', /prerequisites/],
    ['nw_src=1.2.3.4', /prerequisites/],
    ['arp,nw_src=1.2.3.4', /prerequisites/],
    ['ipv6,nw_src=1.2.3.4', /prerequisites/],
    ['ip,ipv6_src=::1', /prerequisites/],
    ['icmp,nd_target=::1', /prerequisites/],
    ['mpls_label=1', /prerequisites/],
    ['bogus=1', /unknown field/],
    ['frobnicate', /unknown keyword/],
    ['in_port=', /missing value/],
    ['in_port=1/1', /not maskable/],
    ['dl_src=00:11:22:33:44', /Ethernet address/],
    ['ip,nw_src=1.2.3.256', /IP address/],
    ['ip,nw_src=1.2.3.4/33', /prefix/],
    ['ipv6,ipv6_src=1:::2', /IPv6 address/],
    ['dl_type=0x10000', /out of range/],
    ['tcp,tp_dst=65536', /out of range/],
    ['dl_vlan=4096', /VLAN id/],
    ['ip,nw_tos=3', /multiple of 4/],
    ['ip,nw_frag=sometimes', /fragment/],
    ['tcp,tcp_flags=+syn-bogus', /unknown TCP flag/],
    ['in_port=abc', /not a number/],
  ];
  for (const [s, re] of bad) {
    t.throws(() => parseFlow(s), FlowParseError, s);
    try {
      parseFlow(s);
    } catch (e) {
      t.match((e as Error).message, re, s);
    }
  }
  // Prerequisites may be given after the field.
  t.doesNotThrow(() => parseFlow('tp_dst=80,tcp'));
  t.end();
});

t.test('packetMask + formatMatch of a packet equals formatFlow plus zero metadata', (t) => {
  const k = extract(
    hex(ETH_HDR + '0800 4500 001c 0000 0000 4011 0000 0a000001 0a000002 0035 0035 0008 0000'),
  );
  const m = newFlowKey();
  packetMask(k, m);
  t.equal(
    formatMatch(k, m),
    'pkt_mark=0,recirc_id=0,dp_hash=0,skb_priority=0,eth,' + formatFlow(k),
  );
  t.end();
});

t.test('parseFlow accepts every OXM field name of the field table', (t) => {
  const prefix: Record<string, string> = {
    ip_dscp: 'ip',
    ip_ecn: 'ip',
    ip_proto: 'ip',
    ipv4_src: 'ip',
    ipv4_dst: 'ip',
    tcp_src: 'tcp',
    tcp_dst: 'tcp',
    udp_src: 'udp',
    udp_dst: 'udp',
    sctp_src: 'sctp',
    sctp_dst: 'sctp',
    icmpv4_type: 'icmp',
    icmpv4_code: 'icmp',
    arp_op: 'arp',
    arp_spa: 'arp',
    arp_tpa: 'arp',
    arp_sha: 'arp',
    arp_tha: 'arp',
    ipv6_src: 'ipv6',
    ipv6_dst: 'ipv6',
    ipv6_flabel: 'ipv6',
    ipv6_exthdr: 'ipv6',
    icmpv6_type: 'icmp6',
    icmpv6_code: 'icmp6',
    ipv6_nd_target: 'icmp6,icmp_type=135',
    ipv6_nd_sll: 'icmp6,icmp_type=135',
    ipv6_nd_tll: 'icmp6,icmp_type=136',
    mpls_label: 'mpls',
    mpls_tc: 'mpls',
    mpls_bos: 'mpls',
  };
  for (const d of FIELDS.filter((x) => x.oxm)) {
    const value =
      d.bits === 48
        ? '00:00:00:00:00:01'
        : d.bits === 128
          ? '::1'
          : d.name.startsWith('ipv4') || (d.name.startsWith('arp_') && d.bits === 32)
            ? '0.0.0.1'
            : d.name === 'vlan_vid'
              ? '0x1001'
              : '1';
    const s = (prefix[d.name] ? prefix[d.name] + ',' : '') + `${d.name}=${value}`;
    const p = parseFlow(s);
    t.equal(getFieldBig(p.key, d), d.name === 'vlan_vid' ? 0x1001n : 1n, s);
    t.ok(fieldIsExact(p.mask, d) || d.name === 'vlan_pcp', `${s}: exact mask`);
  }
  t.equal(fv(parseFlow('skb_mark=5').key, 'pkt_mark'), 5);
  t.equal(fv(parseFlow('ip,ip_ttl=5').key, 'ip_ttl'), 5);
  t.end();
});

t.test('port names through a port map', (t) => {
  const names = new Map([
    ['p1', 1],
    ['br0', 0xfffffffe],
  ]);
  const p = parseFlow('in_port=p1,ip', { portByName: (n) => names.get(n) });
  t.equal(fv(p.key, 'in_port'), 1);
  t.throws(() => parseFlow('in_port=nope', { portByName: (n) => names.get(n) }), /unknown port/);
  t.throws(() => parseFlow('in_port=p1'), /not a number/, 'no port map: names are errors');
  t.equal(
    fv(parseFlow('in_port=7', { portByName: () => 99 }).key, 'in_port'),
    7,
    'numbers bypass it',
  );
  t.equal(
    formatFlow(p.key, { portName: (n) => (n === 1 ? 'p1' : undefined) }).split(',')[1],
    'in_port=p1',
  );
  const local = parseFlow('in_port=LOCAL');
  t.equal(
    formatMatch(local.key, local.mask, undefined, { portName: () => 'br0' }),
    'in_port=LOCAL',
  );
  t.end();
});

import t from 'tap';
import { buildFrame } from '../../../../lib/packet/build.js';
import {
  verifyIPv4HeaderChecksum,
  verifyL4Checksum,
  verifySctpChecksum,
} from '../../../../lib/packet/checksum.js';
import { LAYER, LAYER_COUNT, extractFlowKey } from '../../../../lib/packet/extract.js';
import { keyEquals, newFlowKey } from '../../../../lib/packet/flow-key.js';
import { formatFlow, parseFlow } from '../../../../lib/packet/format.js';
import { fieldsOf, hex } from './helpers.js';

function roundTrip(flow: string, payload?: Uint8Array) {
  const p = parseFlow(flow);
  const frame = buildFrame(p.key, payload ? { payload } : {});
  const k = newFlowKey();
  const layers = new Int32Array(LAYER_COUNT);
  extractFlowKey(frame, 0, frame.length, p.key[0]!, k, undefined, layers);
  return { want: p.key, got: k, frame, layers };
}

const FLOWS = [
  'in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,udp,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_ttl=64,tp_src=1234,tp_dst=80',
  'in_port=2,tcp,nw_src=1.2.3.4,nw_dst=5.6.7.8,nw_tos=184,nw_ecn=1,nw_ttl=3,tp_src=1,tp_dst=2,tcp_flags=syn|ack|ns',
  'icmp,nw_src=1.1.1.1,nw_dst=2.2.2.2,icmp_type=8,icmp_code=0,nw_ttl=64',
  'sctp,nw_src=1.1.1.1,nw_dst=2.2.2.2,tp_src=2905,tp_dst=2906',
  'ip,nw_proto=2,nw_src=1.1.1.1,nw_dst=224.0.0.1,tp_src=22,tp_dst=0,nw_ttl=1',
  'udp,nw_frag=first,nw_src=1.1.1.1,nw_dst=2.2.2.2,tp_src=53,tp_dst=53',
  'udp,nw_frag=later,nw_src=1.1.1.1,nw_dst=2.2.2.2',
  'arp,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_sha=00:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff',
  'arp,arp_op=2,arp_spa=10.0.0.2,arp_tpa=10.0.0.1,arp_sha=00:00:00:00:00:02,arp_tha=00:00:00:00:00:01',
  'rarp,arp_op=3',
  'dl_vlan=10,dl_vlan_pcp=5,udp,nw_src=1.1.1.1,nw_dst=2.2.2.2,tp_src=1,tp_dst=2',
  'vlan_tci=0x1064,vlan_tpid=0x88a8,vlan_tci1=0x30c8,tcp,tp_dst=22',
  'tcp6,ipv6_src=2001:db8::1,ipv6_dst=2001:db8::2,ipv6_label=0x12345,nw_tos=32,nw_ttl=64,tp_src=80,tp_dst=443,tcp_flags=fin',
  'udp6,ipv6_src=fe80::1,ipv6_dst=ff02::1:2,tp_src=546,tp_dst=547,ipv6_exthdr=0x40',
  'udp6,nw_frag=first,ipv6_exthdr=0x10,tp_src=1,tp_dst=2',
  'ipv6,nw_proto=44,nw_frag=later,ipv6_exthdr=0x10',
  'ipv6,nw_proto=59,ipv6_exthdr=0x69',
  'ipv6,nw_proto=50,ipv6_exthdr=0x06',
  'icmp6,ipv6_src=fe80::1,ipv6_dst=ff02::1:ff00:2,nw_ttl=255,icmp_type=135,icmp_code=0,nd_target=fe80::2,nd_sll=00:11:22:33:44:55',
  'icmp6,ipv6_src=fe80::2,ipv6_dst=fe80::1,nw_ttl=255,icmp_type=136,icmp_code=0,nd_target=fe80::2,nd_tll=00:11:22:33:44:66',
  'icmp6,icmp_type=128,icmp_code=0',
  'mpls,mpls_label=100,mpls_tc=2,mpls_ttl=64,mpls_bos=1',
  'mpls,mpls_label=100,mpls_bos=0,mpls_lse1=0x000c8b3f',
  'dl_type=0x05ff',
  'dl_type=0x88cc',
  'dl_type=0x88e7,pbb_isid=0xabcdef',
];

t.test('build → extract gives back the flow, with valid checksums', (t) => {
  for (const f of FLOWS) {
    const { want, got, frame, layers } = roundTrip(f, hex('0102030405'));
    if (!t.ok(keyEquals(want, got), f)) t.same(fieldsOf(got), fieldsOf(want), f);
    const l3 = layers[LAYER.L3]!;
    const l4 = layers[LAYER.L4]!;
    const end = layers[LAYER.L3_END]!;
    if (frame[l3 - 2] === 0x08 && frame[l3 - 1] === 0x00) {
      t.ok(verifyIPv4HeaderChecksum(frame, l3), `${f}: IPv4 header checksum`);
    }
    const v6 = frame[l3 - 2] === 0x86 && frame[l3 - 1] === 0xdd;
    const proto = got[31]! & 0xff;
    if (l4 >= 0 && got[31]! >>> 25 === 0) {
      if (proto === 6 || proto === 17 || proto === 1 || proto === 58 || proto === 2) {
        t.ok(verifyL4Checksum(frame, l3, l4, end - l4, proto, v6), `${f}: L4 checksum`);
      } else if (proto === 132) {
        t.ok(verifySctpChecksum(frame, l4, end - l4), `${f}: SCTP checksum`);
      }
    }
  }
  t.end();
});

t.test('formatFlow of a built frame equals formatFlow of its flow', (t) => {
  for (const f of FLOWS) {
    const { want, got } = roundTrip(f);
    t.equal(formatFlow(got, { extensions: true }), formatFlow(want, { extensions: true }), f);
  }
  t.end();
});

t.test('byte-exact frames for a UDP packet and an ARP request', (t) => {
  const udp = buildFrame(
    parseFlow(
      'dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,udp,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_ttl=64,tp_src=1234,tp_dst=80',
    ).key,
    { payload: hex('00000000'), minSize: 60 },
  );
  t.equal(udp.length, 60);
  // IP: 4500+0020+4011+0a00+0001+0a00+0002 = 0x9934, checksum 0x66cb.
  // UDP: pseudo 0a00+0001+0a00+0002+0011+000c = 0x1420, header 04d2+0050+000c = 0x052e,
  // sum 0x194e, checksum 0xe6b1.
  t.same(
    [...udp.subarray(0, 46)],
    [
      ...hex(
        '000000000002 000000000001 0800 4500 0020 0000 0000 4011 66cb 0a000001 0a000002 04d2 0050 000c e6b1 00000000',
      ),
    ],
  );
  const arp = buildFrame(
    parseFlow(
      'dl_src=00:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_sha=00:00:00:00:00:01',
    ).key,
  );
  t.same(
    [...arp],
    [
      ...hex(
        'ffffffffffff 000000000001 0806 0001 0800 06 04 0001 000000000001 0a000001 000000000000 0a000002',
      ),
    ],
  );
  t.end();
});

t.test('802.3 length and minimum size padding', (t) => {
  const f = buildFrame(parseFlow('dl_type=0x05ff').key, {
    payload: new Uint8Array(10),
    minSize: 60,
  });
  t.equal(f.length, 60);
  t.equal((f[12]! << 8) | f[13]!, 13, 'length covers LLC + payload, not the pad');
  t.end();
});

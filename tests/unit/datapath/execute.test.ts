import t from 'tap';
import { W, ETH_TYPE } from '../../../lib/packet/flow-key.js';
import type { DpAction } from '../../../datapath/actions.js';
import { setAction } from '../../../datapath/actions.js';
import type { UserspaceUpcall } from '../../../datapath/dpif.js';
import { checkSums, hex, keyOf, pkt, testDp } from './helpers.js';

/** Runs `actions` on `frame` (in_port 1) and returns what each port sent. */
function run(
  frame: Uint8Array,
  actions: DpAction[],
): { out: Uint8Array[][]; up: UserspaceUpcall[] } {
  const { dp, ports } = testDp(3);
  const up: UserspaceUpcall[] = [];
  dp.setUpcallHandler({ upcall: () => [], userspace: (m) => up.push(m) });
  const copy = frame.slice();
  dp.execute(frame, 1, actions);
  t.same([...frame], [...copy], 'the input frame is never modified');
  return { out: ports.map((p) => p.takeSent()), up };
}

function one(frame: Uint8Array, actions: DpAction[]): Uint8Array {
  const { out } = run(frame, [...actions, { type: 'output', port: 2 }]);
  t.equal(out[1]!.length, 1, 'one frame out of port 2');
  return out[1]![0]!;
}

const TCP4 =
  'dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_ttl=64,nw_tos=32,tp_src=1234,tp_dst=80';
const UDP4 =
  'dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,udp,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_ttl=64,tp_src=1234,tp_dst=53';
const TCP6 =
  'dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,tcp6,ipv6_src=2001:db8::1,ipv6_dst=2001:db8::2,nw_ttl=64,tp_src=1234,tp_dst=80';
const UDP6 =
  'dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,udp6,ipv6_src=2001:db8::1,ipv6_dst=2001:db8::2,nw_ttl=64,tp_src=1,tp_dst=2';
const ICMP6 =
  'dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,icmp6,ipv6_src=fe80::1,ipv6_dst=fe80::2,nw_ttl=255,icmp_type=128,icmp_code=0';

t.test('output alone forwards the exact bytes; to several ports too', async (t) => {
  const f = pkt(TCP4, 10);
  const { out } = run(f, [
    { type: 'output', port: 2 },
    { type: 'output', port: 3 },
  ]);
  t.equal(hex(out[1]![0]!), hex(f));
  t.equal(hex(out[2]![0]!), hex(f));
  t.equal(out[0]!.length, 0);
});

t.test('drop (empty list) sends nothing; unknown port drops and counts', async (t) => {
  const { dp, ports } = testDp(2);
  dp.execute(pkt(TCP4), 1, []);
  dp.execute(pkt(TCP4), 1, [{ type: 'output', port: 9 }]);
  t.equal(ports[0]!.takeSent().length + ports[1]!.takeSent().length, 0);
  t.equal(dp.stats().txInvalidPort, 1);
});

t.test('set eth_src / eth_dst, exact and masked', async (t) => {
  const o = one(pkt(TCP4), [
    setAction('eth_src', [0x0011, 0x22334455]),
    setAction('eth_dst', [0xff00, 0x000000ff], [0xff00, 0x000000ff]),
  ]);
  const k = keyOf(o);
  t.equal(k[W.ETH_SRC], 0x0011);
  t.equal(k[W.ETH_SRC + 1], 0x22334455);
  t.equal(k[W.ETH_DST], 0xff00);
  t.equal(k[W.ETH_DST + 1], 0x000000ff, 'masked: 00:00:00:00:00:02 & ~mask | value');
  checkSums(t, o);
});

t.test('set ipv4 src/dst on TCP keeps IPv4 and TCP checksums right', async (t) => {
  const o = one(pkt(TCP4, 33), [
    setAction('ipv4_src', 0xc0a80101),
    setAction('ipv4_dst', 0x08080808),
  ]);
  const k = keyOf(o);
  t.equal(k[W.NW_SRC], 0xc0a80101);
  t.equal(k[W.NW_DST], 0x08080808);
  checkSums(t, o);
});

t.test('masked ipv4_src on UDP; UDP checksum updated', async (t) => {
  const o = one(pkt(UDP4, 7), [setAction('ipv4_src', 0x01020300, 0xffffff00)]);
  t.equal(keyOf(o)[W.NW_SRC], 0x01020301, 'host part kept');
  checkSums(t, o);
});

t.test('UDP over IPv4 with checksum 0 stays 0', async (t) => {
  const f = pkt(UDP4, 4);
  f[14 + 20 + 6] = 0;
  f[14 + 20 + 7] = 0;
  const o = one(f, [setAction('ipv4_dst', 0x0a000063), setAction('udp_dst', 99)]);
  t.equal(o[14 + 20 + 6], 0);
  t.equal(o[14 + 20 + 7], 0);
  t.equal(keyOf(o)[W.TP]! & 0xffff, 99);
  checkSums(t, o);
});

t.test('ipv4 tos and ttl, header checksum', async (t) => {
  const o = one(pkt(TCP4), [setAction('ipv4_tos', 0x12), setAction('ipv4_ttl', 7)]);
  const k = keyOf(o);
  t.equal((k[W.NW]! >>> 8) & 0xff, 0x12);
  t.equal((k[W.NW]! >>> 16) & 0xff, 7);
  checkSums(t, o);
  const m = one(pkt(TCP4), [setAction('ipv4_tos', 0x03, 0x03)]);
  t.equal((keyOf(m)[W.NW]! >>> 8) & 0xff, 32 | 3, 'ECN set, DSCP kept');
  checkSums(t, m);
});

t.test('tcp and udp ports, checksums', async (t) => {
  const a = one(pkt(TCP4, 20), [setAction('tcp_src', 4321), setAction('tcp_dst', 8080)]);
  t.equal(keyOf(a)[W.TP], ((4321 << 16) | 8080) >>> 0);
  checkSums(t, a);
  const b = one(pkt(UDP4, 3), [setAction('udp_src', 5), setAction('udp_dst', 0xff00, 0xff00)]);
  t.equal(keyOf(b)[W.TP], ((5 << 16) | 0xff35) >>> 0);
  checkSums(t, b);
  // A TCP set on a UDP packet changes nothing.
  const c = one(pkt(UDP4), [setAction('tcp_src', 1)]);
  t.equal(hex(c), hex(pkt(UDP4)));
});

t.test('sctp ports recompute the CRC32c', async (t) => {
  const f = pkt(
    'dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,sctp,nw_src=1.1.1.1,nw_dst=2.2.2.2,tp_src=1,tp_dst=2',
    16,
  );
  checkSums(t, f, 'input');
  const o = one(f, [setAction('sctp_dst', 4000), setAction('ipv4_src', 0x05050505)]);
  t.equal(keyOf(o)[W.TP], ((1 << 16) | 4000) >>> 0);
  checkSums(t, o);
});

t.test('icmp type/code, checksum', async (t) => {
  const f = pkt(
    'dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,icmp,nw_src=1.1.1.1,nw_dst=2.2.2.2,icmp_type=8,icmp_code=0',
    12,
  );
  const o = one(f, [
    setAction('icmp_type', 0),
    setAction('icmp_code', 3),
    setAction('ipv4_dst', 9),
  ]);
  t.equal(keyOf(o)[W.TP], 3);
  checkSums(t, o);
});

t.test('ipv6 addresses update TCP, UDP and ICMPv6 checksums', async (t) => {
  for (const flow of [TCP6, UDP6, ICMP6]) {
    const o = one(pkt(flow, 9), [
      setAction('ipv6_src', [0x20010db8, 0, 0, 0x99]),
      setAction('ipv6_dst', [0xfe800000, 0, 0, 0x1234], [0xffffffff, 0, 0, 0xffff]),
    ]);
    const k = keyOf(o);
    t.same([...k.subarray(W.IPV6_SRC, W.IPV6_SRC + 4)], [0x20010db8, 0, 0, 0x99]);
    t.equal(k[W.IPV6_DST], 0xfe800000);
    t.equal(k[W.IPV6_DST + 3]! & 0xffff, 0x1234);
    checkSums(t, o, flow.split(',')[2]);
  }
});

t.test('ipv6 label, tclass, hlimit; icmpv6 type', async (t) => {
  const o = one(pkt(ICMP6, 4), [
    setAction('ipv6_label', 0xabcde),
    setAction('ipv6_tclass', 0x2e),
    setAction('ipv6_hlimit', 3),
    setAction('icmpv6_type', 129),
  ]);
  const k = keyOf(o);
  t.equal(k[W.IPV6_LABEL], 0xabcde);
  t.equal((k[W.NW]! >>> 8) & 0xff, 0x2e);
  t.equal((k[W.NW]! >>> 16) & 0xff, 3);
  t.equal(k[W.TP]! >>> 16, 129);
  t.equal(o[14]! >>> 4, 6, 'version kept');
  checkSums(t, o);
});

t.test('arp fields', async (t) => {
  const f = pkt(
    'dl_src=00:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_sha=00:00:00:00:00:01',
  );
  const o = one(f, [
    setAction('arp_op', 2),
    setAction('arp_spa', 0x0a000002),
    setAction('arp_tpa', 0x0a000001),
    setAction('arp_sha', [0x0000, 0x000000aa]),
    setAction('arp_tha', [0x0000, 0x00000001]),
  ]);
  const k = keyOf(o);
  t.equal(k[W.NW]! & 0xff, 2);
  t.equal(k[W.NW_SRC], 0x0a000002);
  t.equal(k[W.NW_DST], 0x0a000001);
  t.equal(k[W.ARP_SHA + 1], 0xaa);
  t.equal(k[W.ARP_THA + 1], 1);
});

t.test('push_vlan / pop_vlan byte layout', async (t) => {
  const f = pkt(UDP4);
  const o = one(f, [{ type: 'push_vlan', tpid: 0x8100, tci: (5 << 13) | 10 }]);
  t.equal(o.length, f.length + 4);
  t.equal(hex(o.subarray(0, 12)), hex(f.subarray(0, 12)), 'MACs first');
  t.equal(hex(o.subarray(12, 16)), '8100a00a', 'TPID, TCI');
  t.equal(hex(o.subarray(16)), hex(f.subarray(12)), 'rest unchanged');
  const k = keyOf(o);
  t.equal(k[W.VLAN0]! & 0xfff, 10);
  checkSums(t, o);
  // Double tag (802.1ad outer), then set the outer TCI, then pop both.
  const q = one(f, [
    { type: 'push_vlan', tpid: 0x8100, tci: 10 },
    { type: 'push_vlan', tpid: 0x88a8, tci: 20 },
    setAction('vlan_tci', 21),
  ]);
  t.equal(hex(q.subarray(12, 20)), '88a8001581' + '00000a');
  const p = one(q, [{ type: 'pop_vlan' }, { type: 'pop_vlan' }]);
  t.equal(hex(p), hex(f), 'pop restores the original bytes');
  const u = one(f, [{ type: 'pop_vlan' }]);
  t.equal(hex(u), hex(f), 'pop on an untagged frame is a no-op');
});

t.test('push_mpls / set mpls / pop_mpls byte layout', async (t) => {
  const f = pkt(UDP4, 4);
  const lse = ((100 << 12) | (1 << 8) | 64) >>> 0;
  const o = one(f, [{ type: 'push_mpls', ethertype: 0x8847, lse }]);
  t.equal(o.length, f.length + 4);
  t.equal(hex(o.subarray(0, 12)), hex(f.subarray(0, 12)));
  t.equal(hex(o.subarray(12, 18)), '8847' + '00064140');
  t.equal(hex(o.subarray(18)), hex(f.subarray(14)), 'IP packet follows');
  const k = keyOf(o);
  t.equal(k[W.ETH_TYPE], ETH_TYPE.MPLS);
  t.equal(k[W.MPLS0], lse);
  // A set of an IPv4 field after push_mpls does nothing (no IP header any more).
  const o2 = one(f, [{ type: 'push_mpls', ethertype: 0x8847, lse }, setAction('ipv4_src', 1)]);
  t.equal(hex(o2), hex(o));
  // Set TTL of the top entry (masked), then pop back to IPv4.
  const s = one(o, [setAction('mpls_lse', 5, 0xff)]);
  t.equal(keyOf(s)[W.MPLS0], ((100 << 12) | (1 << 8) | 5) >>> 0);
  const back = one(o, [{ type: 'pop_mpls', ethertype: 0x0800 }]);
  t.equal(hex(back), hex(f));
  checkSums(t, back);
  // On a VLAN-tagged packet the label goes after the tag.
  const v = one(f, [
    { type: 'push_vlan', tpid: 0x8100, tci: 7 },
    { type: 'push_mpls', ethertype: 0x8847, lse },
  ]);
  t.equal(hex(v.subarray(12, 22)), '81000007' + '8847' + '00064140');
  t.equal(hex(v.subarray(22)), hex(f.subarray(14)));
  // Push onto MPLS: the new entry is on top.
  const two = one(o, [{ type: 'push_mpls', ethertype: 0x8847, lse: (7 << 12) | 9 }]);
  t.equal(hex(two.subarray(12, 22)), '8847' + '00007009' + '00064140');
  // After pop_mpls to IPv4, IPv4 sets apply again (the header is re-parsed).
  const re = one(o, [{ type: 'pop_mpls', ethertype: 0x0800 }, setAction('ipv4_ttl', 9)]);
  t.equal((keyOf(re)[W.NW]! >>> 16) & 0xff, 9);
  checkSums(t, re);
});

t.test('dec_ttl decrements, or runs le_1 when the TTL is 1', async (t) => {
  const o = one(pkt(TCP4), [{ type: 'dec_ttl', le1: [] }]);
  t.equal((keyOf(o)[W.NW]! >>> 16) & 0xff, 63);
  checkSums(t, o);
  const o6 = one(pkt(TCP6), [{ type: 'dec_ttl', le1: [] }]);
  t.equal((keyOf(o6)[W.NW]! >>> 16) & 0xff, 63);
  const expiring = pkt(TCP4.replace('nw_ttl=64', 'nw_ttl=1'));
  const { out, up } = run(expiring, [
    {
      type: 'dec_ttl',
      le1: [{ type: 'userspace', pid: 0, cookie: { kind: 'slow_path', reasons: ['action'] } }],
    },
    { type: 'output', port: 2 },
  ]);
  t.equal(out[1]!.length, 0, 'nothing forwarded');
  t.equal(up.length, 1, 'le_1 actions ran');
  t.equal(hex(up[0]!.frame), hex(expiring));
  t.equal(up[0]!.inPort, 1);
});

t.test('output then modify then output: each port gets the bytes of its moment', async (t) => {
  const f = pkt(TCP4);
  const { out } = run(f, [
    { type: 'output', port: 2 },
    setAction('ipv4_ttl', 9),
    { type: 'output', port: 3 },
    setAction('ipv4_ttl', 8),
    { type: 'output', port: 1 },
  ]);
  t.equal(hex(out[1]![0]!), hex(f));
  t.equal((keyOf(out[2]![0]!)[W.NW]! >>> 16) & 0xff, 9);
  t.equal((keyOf(out[0]![0]!)[W.NW]! >>> 16) & 0xff, 8);
  checkSums(t, out[2]![0]!);
});

t.test('clone runs on a copy; userspace gets the current bytes', async (t) => {
  const f = pkt(TCP4);
  const { out, up } = run(f, [
    { type: 'clone', actions: [setAction('ipv4_ttl', 1), { type: 'output', port: 3 }] },
    { type: 'userspace', pid: 7, cookie: { kind: 'userdata', data: Uint8Array.of(1, 2) } },
    { type: 'output', port: 2 },
  ]);
  t.equal((keyOf(out[2]![0]!)[W.NW]! >>> 16) & 0xff, 1);
  t.equal(hex(out[1]![0]!), hex(f), 'original unchanged by the clone');
  t.equal(up.length, 1);
  t.equal(up[0]!.pid, 7);
  t.equal(up[0]!.cookie.kind, 'userdata');
  t.equal(up[0]!.key[W.IN_PORT], 1);
});

t.test('actions on truncated or non-matching frames do not throw', async (t) => {
  const short = pkt(TCP4).subarray(0, 30);
  const o = one(short.slice(), [
    setAction('ipv4_src', 1),
    setAction('tcp_dst', 1),
    { type: 'pop_mpls', ethertype: 0x800 },
    setAction('mpls_lse', 1),
    { type: 'dec_ttl', le1: [] },
  ]);
  t.equal(o.length, 30);
});

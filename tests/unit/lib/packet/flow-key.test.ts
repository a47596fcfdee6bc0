import t from 'tap';
import {
  FIELDS,
  FLOW_KEY_WORDS,
  W,
  exactMask,
  fieldByName,
  fieldBytes,
  fieldIsExact,
  fieldIsMasked,
  fieldWords,
  getField,
  getFieldBig,
  getFieldBytes,
  hashKey,
  hashMasked,
  keyEquals,
  maskCovers,
  maskField,
  maskIntersect,
  maskKey,
  maskUnion,
  maskedEquals,
  newFlowKey,
  packetMask,
  setField,
  setFieldBig,
  setFieldBytes,
  normalizeMatch,
} from '../../../../lib/packet/flow-key.js';
import { formatMatch, parseFlow } from '../../../../lib/packet/format.js';
import { ETH_HDR, extract, hex } from './helpers.js';

const OXM_NAMES = [
  'in_port',
  'in_phy_port',
  'metadata',
  'eth_dst',
  'eth_src',
  'eth_type',
  'vlan_vid',
  'vlan_pcp',
  'ip_dscp',
  'ip_ecn',
  'ip_proto',
  'ipv4_src',
  'ipv4_dst',
  'tcp_src',
  'tcp_dst',
  'udp_src',
  'udp_dst',
  'sctp_src',
  'sctp_dst',
  'icmpv4_type',
  'icmpv4_code',
  'arp_op',
  'arp_spa',
  'arp_tpa',
  'arp_sha',
  'arp_tha',
  'ipv6_src',
  'ipv6_dst',
  'ipv6_flabel',
  'icmpv6_type',
  'icmpv6_code',
  'ipv6_nd_target',
  'ipv6_nd_sll',
  'ipv6_nd_tll',
  'mpls_label',
  'mpls_tc',
  'mpls_bos',
  'pbb_isid',
  'tunnel_id',
  'ipv6_exthdr',
];

/** Fields that intentionally share bits (as OVS's struct flow does). */
const ALIAS_GROUPS = [
  ['ipv4_src', 'arp_spa'],
  ['ipv4_dst', 'arp_tpa'],
  ['arp_sha', 'ipv6_nd_sll'],
  ['arp_tha', 'ipv6_nd_tll'],
  ['tcp_src', 'udp_src', 'sctp_src', 'icmpv4_type', 'icmpv6_type', 'tp_src'],
  ['tcp_dst', 'udp_dst', 'sctp_dst', 'icmpv4_code', 'icmpv6_code', 'tp_dst'],
  ['ip_proto', 'arp_op'],
  ['ip_dscp', 'ip_ecn', 'ip_tos'],
  ['vlan_vid', 'vlan_pcp', 'vlan_tci'],
  ['mpls_label', 'mpls_tc', 'mpls_bos', 'mpls_ttl', 'mpls_lse0'],
];

function bitsOf(name: string): Set<number> {
  const d = fieldByName(name)!;
  const s = new Set<number>();
  if (d.bits <= 32) {
    for (let b = 0; b < d.bits; b++) s.add(d.word * 32 + d.bit + b);
  } else {
    const top = d.bits % 32 || 32;
    for (let b = 0; b < top; b++) s.add(d.word * 32 + d.bit + b);
    for (let w = 1; w < fieldWords(d); w++)
      for (let b = 0; b < 32; b++) s.add((d.word + w) * 32 + b);
  }
  return s;
}

t.test('field table: every OXM name, unique names, in-range, no accidental overlap', (t) => {
  const names = FIELDS.map((d) => d.name);
  t.equal(new Set(names).size, names.length, 'unique names');
  for (const n of OXM_NAMES) {
    const d = fieldByName(n);
    t.ok(d, `has ${n}`);
    t.equal(d?.oxm, true, `${n} is an OXM field`);
  }
  for (const n of [
    'recirc_id',
    'dp_hash',
    'skb_priority',
    'pkt_mark',
    'ip_ttl',
    'ip_frag',
    'tcp_flags',
  ]) {
    t.equal(fieldByName(n)?.oxm, false, `${n} is datapath-only`);
  }
  for (const d of FIELDS) {
    t.ok(Object.isFrozen(d), `${d.name} frozen`);
    t.ok(d.word + fieldWords(d) <= FLOW_KEY_WORDS, `${d.name} inside the key`);
    if (d.bits <= 32) t.ok(d.bit + d.bits <= 32, `${d.name} inside its word`);
  }
  const alias = (a: string, b: string): boolean =>
    ALIAS_GROUPS.some((g) => g.includes(a) && g.includes(b)) ||
    // Whole-word views that contain sub-fields.
    (a === 'vlan_tci' && b === 'vlan_tpid') ||
    (a === 'vlan_tpid' && b === 'vlan_tci');
  for (let i = 0; i < FIELDS.length; i++) {
    for (let j = i + 1; j < FIELDS.length; j++) {
      const a = FIELDS[i]!.name;
      const b = FIELDS[j]!.name;
      const A = bitsOf(a);
      const overlap = [...bitsOf(b)].some((x) => A.has(x));
      if (overlap && !alias(a, b)) t.fail(`${a} and ${b} overlap`);
    }
  }
  t.end();
});

t.test('getField/setField round trip for every field, without touching other bits', (t) => {
  for (const d of FIELDS) {
    const k = newFlowKey().fill(0xa5a5a5a5);
    const before = Uint32Array.from(k);
    if (d.bits <= 32) {
      const v = d.bits === 32 ? 0x12345678 : (0x5a5a5a5a & (2 ** d.bits - 1)) >>> 0;
      setField(k, d, v);
      t.equal(getField(k, d), v, `${d.name} value`);
      t.equal(getFieldBig(k, d), BigInt(v));
      setField(k, d, 2 ** d.bits + 1); // truncated to the width
      t.equal(getField(k, d), 1, `${d.name} truncates`);
    } else {
      t.throws(() => getField(k, d), RangeError);
      const v = (1n << BigInt(d.bits)) - 12345n;
      setFieldBig(k, d, v);
      t.equal(getFieldBig(k, d), v, `${d.name} bigint`);
      const bytes = new Uint8Array(fieldBytes(d) + 2);
      getFieldBytes(k, d, bytes, 1);
      let fromBytes = 0n;
      for (let i = 1; i <= fieldBytes(d); i++) fromBytes = (fromBytes << 8n) | BigInt(bytes[i]!);
      t.equal(fromBytes, v, `${d.name} bytes`);
      const k2 = Uint32Array.from(before);
      setFieldBytes(k2, d, bytes, 1);
      t.equal(getFieldBig(k2, d), v, `${d.name} setFieldBytes`);
    }
    // Other bits unchanged: clear the field in both and compare.
    const m = newFlowKey();
    maskField(m, d);
    for (let i = 0; i < FLOW_KEY_WORDS; i++) {
      if ((k[i]! & ~m[i]!) >>> 0 !== (before[i]! & ~m[i]!) >>> 0)
        t.fail(`${d.name} touched word ${i}`);
    }
    t.ok(fieldIsExact(m, d) && fieldIsMasked(m, d));
  }
  t.end();
});

t.test('MAC fields via bytes', (t) => {
  const k = newFlowKey();
  const d = fieldByName('eth_src')!;
  setFieldBytes(k, d, hex('001122334455'));
  t.equal(k[W.ETH_SRC], 0x0011);
  t.equal(k[W.ETH_SRC + 1], 0x22334455);
  const out = new Uint8Array(6);
  getFieldBytes(k, fieldByName('eth_src')!, out);
  t.same([...out], [0, 0x11, 0x22, 0x33, 0x44, 0x55]);
  const pcp = fieldByName('vlan_pcp')!;
  const one = new Uint8Array(1);
  setField(k, pcp, 5);
  getFieldBytes(k, pcp, one);
  t.equal(one[0], 5);
  t.end();
});

t.test('mask ops, equality and hashing', (t) => {
  const a = extract(
    hex(ETH_HDR + '0800 4500 001c 0000 0000 4011 0000 0a000001 0a000002 0035 0035 0008 0000'),
  );
  const b = Uint32Array.from(a);
  b[W.TP] = 0x00350036;
  const mask = newFlowKey();
  maskField(mask, fieldByName('ipv4_src')!);
  maskField(mask, fieldByName('eth_type')!);
  const ma = newFlowKey();
  const mb = newFlowKey();
  maskKey(a, mask, ma);
  maskKey(b, mask, mb);
  t.ok(keyEquals(ma, mb), 'equal under the mask');
  t.notOk(keyEquals(a, b));
  t.ok(maskedEquals(b, mask, ma));
  t.equal(hashMasked(a, mask), hashKey(ma), 'hashMasked = hashKey of the masked key');
  t.equal(hashMasked(b, mask), hashMasked(a, mask));
  t.not(hashKey(a), hashKey(b), 'different keys hash differently here');
  t.not(hashKey(a, FLOW_KEY_WORDS, 1), hashKey(a, FLOW_KEY_WORDS, 2), 'basis matters');
  // Masking in place.
  const c = Uint32Array.from(a);
  maskKey(c, mask, c);
  t.ok(keyEquals(c, ma));
  // Union / intersection / covers.
  const m2 = newFlowKey();
  maskField(m2, fieldByName('tcp_dst')!);
  const u = newFlowKey();
  maskUnion(mask, m2, u);
  t.ok(maskCovers(u, mask) && maskCovers(u, m2));
  t.notOk(maskCovers(mask, u));
  const i = newFlowKey();
  maskIntersect(u, mask, i);
  t.ok(keyEquals(i, mask));
  t.ok(maskCovers(exactMask(), u));
  t.end();
});

t.test('packetMask follows flow_wildcards_init_for_packet', (t) => {
  const udp = extract(
    hex(ETH_HDR + '0800 4500 001c 0000 0000 4011 0000 0a000001 0a000002 0035 0035 0008 0000'),
  );
  const m = newFlowKey();
  packetMask(udp, m);
  t.ok(fieldIsExact(m, fieldByName('ipv4_src')!));
  t.ok(fieldIsExact(m, fieldByName('tp_dst')!));
  t.notOk(fieldIsMasked(m, fieldByName('tcp_flags')!), 'tcp_flags only for TCP');
  t.notOk(fieldIsMasked(m, fieldByName('ipv6_src')!));
  t.notOk(fieldIsMasked(m, fieldByName('metadata')!), 'zero metadata is wildcarded');
  t.ok(fieldIsExact(m, fieldByName('vlan_tci')!), 'first (absent) VLAN shown');
  t.notOk(fieldIsMasked(m, fieldByName('vlan_tci1')!));
  const later = extract(
    hex(ETH_HDR + '0800 4500 001c 0000 00b9 4011 0000 0a000001 0a000002 0035 0035 0008 0000'),
  );
  packetMask(later, m);
  t.notOk(fieldIsMasked(m, fieldByName('tp_dst')!), 'later fragments: no L4');
  t.ok(fieldIsExact(m, fieldByName('ip_frag')!));
  const arp = extract(
    hex(
      'ffffffffffff 000000000001 0806 0001 0800 06 04 0001 000000000001 0a000001 000000000000 0a000002',
    ),
  );
  packetMask(arp, m);
  t.ok(fieldIsExact(m, fieldByName('arp_op')!));
  t.ok(fieldIsExact(m, fieldByName('arp_tha')!));
  t.notOk(fieldIsMasked(m, fieldByName('ip_ttl')!));
  t.end();
});

t.test('normalizeMatch drops fields that cannot apply, as OVS does', (t) => {
  const norm = (s: string): [string, boolean] => {
    const p = parseFlow(s);
    const changed = normalizeMatch(p.key, p.mask);
    return [formatMatch(p.key, p.mask), changed];
  };
  t.same(norm('tcp,nw_src=1.2.3.4,tp_dst=80'), ['tcp,nw_src=1.2.3.4,tp_dst=80', false]);
  t.same(norm('ip,nw_proto=2,tp_src=3'), ['ip,nw_proto=2', true], 'no L4 ports for IGMP');
  t.same(norm('ipv6,nw_proto=1,tp_src=3'), ['ipv6,nw_proto=1', true], 'ICMPv4 over IPv6');
  t.same(
    norm('icmp6,icmp_type=136,nd_target=::1,nd_sll=00:00:00:00:00:01,nd_tll=00:00:00:00:00:02'),
    ['icmp6,icmp_type=136,nd_target=::1,nd_tll=00:00:00:00:00:02', true],
    'NA keeps TLL only',
  );
  t.same(norm('icmp6,icmp_type=135,nd_target=::1,nd_sll=00:00:00:00:00:01'), [
    'icmp6,icmp_type=135,nd_target=::1,nd_sll=00:00:00:00:00:01',
    false,
  ]);
  t.same(norm('arp,arp_op=1,arp_sha=00:00:00:00:00:01'), [
    'arp,arp_op=1,arp_sha=00:00:00:00:00:01',
    false,
  ]);
  t.end();
});

/**
 * The descriptor tables against the spec's numbers (reference section 6), the OXM wire headers,
 * prerequisites, the Set-Field consistency check and the REPLY_MORE splitter.
 */
import t, { type Test } from 'tap';

/** Asserts that `fn` throws an OfpError with symbol `sym`. */
function throwsSym(t: Test, fn: () => void, sym: string, what?: string): void {
  try {
    fn();
    t.fail(`${what ?? sym}: did not throw`);
  } catch (e) {
    t.equal(e instanceof OfpError ? e.symbol : String(e), sym, what ?? sym);
  }
}
import { FIELDS as FLOW_KEY_FIELDS } from '../../../lib/packet/flow-key.js';
import { OXM_BY_NAME, OXM_FIELDS, OXM_FIELD_NAMES, validateMatch } from '../../../openflow/oxm.js';
import { ACTIONS, OFPAT } from '../../../openflow/actions.js';
import { INSTRUCTIONS, OFPIT } from '../../../openflow/instructions.js';
import { OfpError } from '../../../openflow/errors.js';
import {
  splitMultipartReply,
  mergeMultipartParts,
  encodeMessage,
  decodeMessage,
} from '../../../openflow/messages.js';
import { checkInstructions } from '../../../openflow/instructions.js';
import {
  formatAction,
  formatMatch,
  parseIpv4,
  parseIpv6,
  ipv6ToString,
  ipv4ToString,
  macToString,
  parseMac,
} from '../../../openflow/print.js';

const WIDTHS: [string, number, boolean][] = [
  ['in_port', 4, false],
  ['in_phy_port', 4, false],
  ['metadata', 8, true],
  ['eth_dst', 6, true],
  ['eth_src', 6, true],
  ['eth_type', 2, false],
  ['vlan_vid', 2, true],
  ['vlan_pcp', 1, false],
  ['ip_dscp', 1, false],
  ['ip_ecn', 1, false],
  ['ip_proto', 1, false],
  ['ipv4_src', 4, true],
  ['ipv4_dst', 4, true],
  ['tcp_src', 2, true],
  ['tcp_dst', 2, true],
  ['udp_src', 2, true],
  ['udp_dst', 2, true],
  ['sctp_src', 2, true],
  ['sctp_dst', 2, true],
  ['icmpv4_type', 1, false],
  ['icmpv4_code', 1, false],
  ['arp_op', 2, false],
  ['arp_spa', 4, true],
  ['arp_tpa', 4, true],
  ['arp_sha', 6, true],
  ['arp_tha', 6, true],
  ['ipv6_src', 16, true],
  ['ipv6_dst', 16, true],
  ['ipv6_flabel', 4, true],
  ['icmpv6_type', 1, false],
  ['icmpv6_code', 1, false],
  // OVS 3.1 takes arbitrary masks on the ND fields (its table features say so).
  ['ipv6_nd_target', 16, true],
  ['ipv6_nd_sll', 6, true],
  ['ipv6_nd_tll', 6, true],
  ['mpls_label', 4, false],
  ['mpls_tc', 1, false],
  ['mpls_bos', 1, false],
  ['pbb_isid', 3, true],
  ['tunnel_id', 8, true],
  ['ipv6_exthdr', 2, true],
];

t.test('40 OXM basic fields with the spec numbers, widths and masks', (t) => {
  t.equal(OXM_FIELDS.length, 40);
  WIDTHS.forEach(([name, bytes, maskable], field) => {
    const d = OXM_FIELDS[field]!;
    t.same(
      [d.name, d.field, d.bytes, d.maskable, d.oxmClass],
      [name, field, bytes, maskable, 0x8000],
      name,
    );
    t.equal(OXM_BY_NAME[d.name], d);
    t.ok(Object.isFrozen(d), `${name} descriptor is readonly`);
  });
  t.equal(OXM_BY_NAME.in_port.header, 0x80000004, 'in_port header');
  t.equal(OXM_BY_NAME.eth_dst.headerMasked, 0x8000070c, 'eth_dst masked header');
  t.equal(OXM_BY_NAME.ipv6_src.header, 0x80003410, 'ipv6_src header');
  t.same(
    [...OXM_FIELD_NAMES],
    WIDTHS.map((w) => w[0]),
  );
  t.end();
});

t.test('OXM names are the flow-key slot names of the packet parser, with the same widths', (t) => {
  for (const d of OXM_FIELDS) {
    const k = FLOW_KEY_FIELDS.find((f) => f.name === d.name);
    t.ok(k?.oxm, `${d.name} is an OpenFlow flow-key slot`);
    t.equal(k?.bits, d.bits, `${d.name} significant bits`);
  }
  t.end();
});

t.test('prerequisites', (t) => {
  const ok = (m: Parameters<typeof validateMatch>[0], what: string): void => {
    t.doesNotThrow(() => validateMatch(m), what);
  };
  const bad = (m: Parameters<typeof validateMatch>[0], what: string): void => {
    throwsSym(t, () => validateMatch(m), 'OFPBMC_BAD_PREREQ', what);
  };
  ok(
    [
      { field: 'eth_type', value: 0x86dd },
      { field: 'ip_proto', value: 58 },
      { field: 'icmpv6_type', value: 135 },
      { field: 'ipv6_nd_target', value: parseIpv6('fe80::1') },
      { field: 'ipv6_nd_sll', value: 1 },
    ],
    'ND chain',
  );
  bad(
    [
      { field: 'eth_type', value: 0x86dd },
      { field: 'ip_proto', value: 58 },
      { field: 'icmpv6_type', value: 136 },
      { field: 'ipv6_nd_sll', value: 1 },
    ],
    'nd_sll needs type 135',
  );
  bad(
    [
      { field: 'eth_type', value: 0x86dd },
      { field: 'ip_proto', value: 1 },
      { field: 'icmpv4_type', value: 8 },
    ],
    'icmpv4 needs IPv4',
  );
  bad(
    [
      { field: 'eth_type', value: 0x0800, mask: 0 },
      { field: 'ip_proto', value: 6 },
    ],
    'wildcarded eth_type',
  );
  bad(
    [
      { field: 'vlan_vid', value: 0 },
      { field: 'vlan_pcp', value: 1 },
    ],
    'vlan_pcp on untagged',
  );
  ok(
    [
      { field: 'vlan_vid', value: 0x1000, mask: 0x1000 },
      { field: 'vlan_pcp', value: 1 },
    ],
    'any tag',
  );
  bad([{ field: 'in_phy_port', value: 1 }], 'in_phy_port needs in_port');
  ok(
    [
      { field: 'eth_type', value: 0x8848 },
      { field: 'mpls_bos', value: 1 },
    ],
    'mpls multicast',
  );
  ok(
    [
      { field: 'eth_type', value: 0x88e7 },
      { field: 'pbb_isid', value: 5 },
    ],
    'pbb',
  );
  throwsSym(
    t,
    () =>
      validateMatch([
        { field: 'metadata', value: 1n },
        { field: 'metadata', value: 2n },
      ]),
    'OFPBMC_DUP_FIELD',
  );
  t.end();
});

t.test('action and instruction tables', (t) => {
  t.same(
    ACTIONS.map((d) => [d.name, d.code, d.len]),
    [
      ['OUTPUT', 0, 16],
      ['COPY_TTL_OUT', 11, 8],
      ['COPY_TTL_IN', 12, 8],
      ['SET_MPLS_TTL', 15, 8],
      ['DEC_MPLS_TTL', 16, 8],
      ['PUSH_VLAN', 17, 8],
      ['POP_VLAN', 18, 8],
      ['PUSH_MPLS', 19, 8],
      ['POP_MPLS', 20, 8],
      ['SET_QUEUE', 21, 8],
      ['GROUP', 22, 8],
      ['SET_NW_TTL', 23, 8],
      ['DEC_NW_TTL', 24, 8],
      ['SET_FIELD', 25, null],
      ['PUSH_PBB', 26, 8],
      ['POP_PBB', 27, 8],
      ['EXPERIMENTER', 0xffff, null],
    ],
  );
  t.equal(Object.keys(OFPAT).length, ACTIONS.length);
  t.same(
    INSTRUCTIONS.map((d) => [d.name, d.code, d.len]),
    [
      ['GOTO_TABLE', 1, 8],
      ['WRITE_METADATA', 2, 24],
      ['WRITE_ACTIONS', 3, null],
      ['APPLY_ACTIONS', 4, null],
      ['CLEAR_ACTIONS', 5, 8],
      ['METER', 6, 8],
      ['EXPERIMENTER', 0xffff, null],
    ],
  );
  t.equal(Object.keys(OFPIT).length, INSTRUCTIONS.length);
  t.end();
});

t.test('set-field consistency with the match and earlier actions', (t) => {
  const ip = [{ field: 'eth_type' as const, value: 0x0800 }];
  const setTcp = { type: 'SET_FIELD' as const, field: 'tcp_dst' as const, value: 80 };
  throwsSym(
    t,
    () => checkInstructions(0, ip, [{ type: 'APPLY_ACTIONS', actions: [setTcp] }]),
    'OFPBAC_MATCH_INCONSISTENT',
    'tcp_dst without ip_proto=6',
  );
  t.doesNotThrow(() =>
    checkInstructions(
      0,
      [...ip, { field: 'ip_proto', value: 6 }],
      [{ type: 'WRITE_ACTIONS', actions: [setTcp] }],
    ),
  );
  throwsSym(
    t,
    () =>
      checkInstructions(
        0,
        [],
        [
          {
            type: 'APPLY_ACTIONS',
            actions: [{ type: 'SET_FIELD', field: 'vlan_vid', value: 0x1005 }],
          },
        ],
      ),
    'OFPBAC_MATCH_INCONSISTENT',
    'set vlan_vid on untagged',
  );
  t.doesNotThrow(() =>
    checkInstructions(
      0,
      [],
      [
        {
          type: 'APPLY_ACTIONS',
          actions: [
            { type: 'PUSH_VLAN', ethertype: 0x8100 },
            { type: 'SET_FIELD', field: 'vlan_vid', value: 0x1005 },
          ],
        },
      ],
    ),
  );
  t.ok(new OfpError('OFPBAC_MATCH_INCONSISTENT').code === 10);
  t.end();
});

t.test('REPLY_MORE splitting keeps every message within 64 KiB', (t) => {
  const port = (i: number) => ({
    portNo: i,
    rxPackets: 0n,
    txPackets: 0n,
    rxBytes: 0n,
    txBytes: 0n,
    rxDropped: 0n,
    txDropped: 0n,
    rxErrors: 0n,
    txErrors: 0n,
    rxFrameErr: 0n,
    rxOverErr: 0n,
    rxCrcErr: 0n,
    collisions: 0n,
    durationSec: 0,
    durationNsec: 0,
  });
  const n = 1500;
  const parts = splitMultipartReply({
    type: 'MULTIPART_REPLY',
    xid: 5,
    flags: 0,
    mpType: 'PORT_STATS',
    entries: Array.from({ length: n }, (_, i) => port(i)),
  });
  // 112-byte entries: (65535 - 16) / 112 = 584 per message.
  t.same(
    parts.map((p) => ('entries' in p ? p.entries.length : -1)),
    [584, 584, 332],
  );
  t.same(
    parts.map((p) => p.flags),
    [1, 1, 0],
  );
  let seen = 0;
  for (const p of parts) {
    const bytes = encodeMessage(p);
    t.ok(bytes.length <= 65535, `part of ${bytes.length} bytes`);
    const back = decodeMessage(bytes);
    if (back.type === 'MULTIPART_REPLY' && back.mpType === 'PORT_STATS') {
      t.equal(back.entries[0]!.portNo, seen);
      seen += back.entries.length;
    }
  }
  t.equal(seen, n, 'all entries, in order');
  const merged = mergeMultipartParts(parts.map((p) => decodeMessage(encodeMessage(p)) as typeof p));
  t.same(
    [merged.flags, 'entries' in merged ? merged.entries.length : -1],
    [0, n],
    'merge undoes the split',
  );
  t.throws(() => mergeMultipartParts([parts[0]!, { ...parts[1]!, xid: 6 }]), OfpError);
  const one = splitMultipartReply({
    type: 'MULTIPART_REPLY',
    xid: 1,
    flags: 0,
    mpType: 'PORT_DESC',
    entries: [],
  });
  t.same([one.length, one[0]!.flags], [1, 0], 'empty list is one empty reply');
  const desc = splitMultipartReply({
    type: 'MULTIPART_REPLY',
    xid: 1,
    flags: 0,
    mpType: 'DESC',
    mfrDesc: 'a',
    hwDesc: 'b',
    swDesc: 'c',
    serialNum: 'd',
    dpDesc: 'e',
  });
  t.equal(desc.length, 1);
  t.throws(
    () =>
      encodeMessage({
        type: 'MULTIPART_REPLY',
        xid: 5,
        flags: 0,
        mpType: 'PORT_STATS',
        entries: Array.from({ length: n }, (_, i) => port(i)),
      }),
    RangeError,
  );
  t.end();
});

t.test('address helpers', (t) => {
  t.equal(macToString(parseMac('01:80:c2:00:00:0e')), '01:80:c2:00:00:0e');
  t.equal(ipv4ToString(parseIpv4('10.0.0.255')), '10.0.0.255');
  t.equal(ipv6ToString(parseIpv6('fe80::1')), 'fe80:0:0:0:0:0:0:1');
  t.equal(parseIpv6('::'), 0n);
  t.equal(
    formatMatch([
      { field: 'in_port', value: 1 },
      {
        field: 'eth_dst',
        value: parseMac('01:00:5e:00:00:00'),
        mask: parseMac('ff:ff:ff:00:00:00'),
      },
      { field: 'eth_type', value: 0x800 },
      { field: 'ipv4_src', value: parseIpv4('10.0.0.0'), mask: parseIpv4('255.255.255.0') },
      { field: 'ipv6_dst', value: parseIpv6('fe80::1') },
    ]),
    'in_port=1,eth_dst=01:00:5e:00:00:00/ff:ff:ff:00:00:00,eth_type=0x0800,' +
      'ipv4_src=10.0.0.0/255.255.255.0,ipv6_dst=fe80:0:0:0:0:0:0:1',
  );
  t.equal(formatMatch([]), 'any');
  t.equal(
    formatAction({
      type: 'APPLY_ACTIONS',
      actions: [
        { type: 'OUTPUT', port: 0xfffffffd, maxLen: 0xffff },
        { type: 'SET_FIELD', field: 'ipv4_dst', value: parseIpv4('10.0.0.9') },
        { type: 'GROUP', groupId: 7 },
        { type: 'POP_VLAN' },
      ],
    }),
    'APPLY_ACTIONS(OUTPUT:CONTROLLER,SET_FIELD:ipv4_dst=10.0.0.9,GROUP:7,POP_VLAN)',
  );
  t.throws(() => parseIpv4('1.2.3'));
  t.throws(() => parseMac('01:02'));
  t.end();
});

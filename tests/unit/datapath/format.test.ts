/**
 * ODP text forms, checked against lines printed by OVS 3.1's userspace datapath
 * (`ovs-appctl dpctl/dump-flows` after `netdev-dummy/receive`, recorded by hand).
 */
import t from 'tap';
import { W, newFlowKey, type FlowKey } from '../../../lib/packet/flow-key.js';
import { parseFlow } from '../../../lib/packet/format.js';
import type { DpAction } from '../../../datapath/actions.js';
import {
  DpActionError,
  formatActions,
  setAction,
  validateActions,
} from '../../../datapath/actions.js';
import { formatOdpKey, formatStatsTcpFlags } from '../../../datapath/odp-format.js';
import { keyOf, pkt } from './helpers.js';

const E = 'dl_src=50:54:00:00:00:01,dl_dst=50:54:00:00:00:02';

function m(fields: (mask: FlowKey) => void): FlowKey {
  const mask = newFlowKey();
  mask[W.IN_PORT] = mask[W.RECIRC_ID] = 0xffffffff;
  mask[W.ETH_TYPE] = 0xffff;
  fields(mask);
  return mask;
}

const FRAG = 0x03000000;

t.test('keys print as OVS prints megaflows', async (t) => {
  const cases: [string, FlowKey, string][] = [
    [
      `${E},udp,nw_src=10.0.1.1,nw_dst=10.0.0.2,nw_ttl=64,tp_src=1000,tp_dst=2000`,
      m((k) => {
        k[W.ETH_SRC] = 0xffff;
        k[W.ETH_SRC + 1] = 0xffffffff;
        k[W.NW_SRC] = 0xffffff00;
        k[W.NW] = FRAG | 0xff00ff;
        k[W.TP] = 0xffff;
      }),
      'recirc_id(0),in_port(3),packet_type(ns=0,id=0),eth(src=50:54:00:00:00:01),eth_type(0x0800),ipv4(src=10.0.1.1/255.255.255.0,proto=17,ttl=64,frag=no),udp(dst=2000)',
    ],
    [
      `${E},dl_vlan=5,dl_vlan_pcp=3,ip,nw_src=10.0.1.1,nw_dst=10.0.2.2,nw_proto=47,nw_ttl=64`,
      m((k) => {
        k[W.VLAN0] = 0x1fff;
        k[W.NW] = FRAG | 0xff;
      }),
      'recirc_id(0),in_port(3),packet_type(ns=0,id=0),eth_type(0x8100),vlan(vid=5,pcp=3/0x0),encap(eth_type(0x0800),ipv4(proto=47,frag=no))',
    ],
    [
      `${E},tcp,nw_src=10.0.1.1,nw_dst=10.0.2.2,nw_ttl=64,tp_src=1000,tp_dst=80,tcp_flags=syn`,
      m((k) => {
        k[W.NW] = FRAG | 0xff;
        k[W.TCP_FLAGS] = 0x002;
      }),
      'recirc_id(0),in_port(3),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(proto=6,frag=no),tcp_flags(+syn)',
    ],
    [
      `${E},ipv6,ipv6_src=::1,ipv6_dst=::2,nw_proto=6,tp_src=5,tp_dst=80,nw_ttl=64`
        .replace('ipv6,', 'tcp6,')
        .replace('nw_proto=6,', ''),
      m((k) => {
        k[W.IPV6_SRC] = 0xffffffff;
        k[W.NW] = FRAG | 0xff;
        k[W.TP] = 0xffff0000;
      }),
      'recirc_id(0),in_port(3),packet_type(ns=0,id=0),eth_type(0x86dd),ipv6(src=::1/ffff:ffff::,proto=6,frag=no),tcp(src=5)',
    ],
    [
      `${E},mpls,mpls_label=100,mpls_ttl=64,mpls_bos=1`,
      m((k) => {
        k[W.MPLS0] = 0x100;
      }),
      'recirc_id(0),in_port(3),packet_type(ns=0,id=0),eth_type(0x8847),mpls(label=100/0x0,tc=0/0,ttl=64/0x0,bos=1/1)',
    ],
    [
      `${E},arp,arp_spa=1.1.1.1,arp_tpa=2.2.2.2,arp_op=1,arp_sha=50:54:00:00:00:01`,
      m((k) => {
        k[W.NW_SRC] = 0xffffffff;
        k[W.NW] = 0xff;
      }),
      'recirc_id(0),in_port(3),packet_type(ns=0,id=0),eth_type(0x0806),arp(sip=1.1.1.1,op=1)',
    ],
    [
      'dl_src=50:54:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,dl_type=0x0801',
      m((k) => {
        k[W.ETH_DST] = 0x0100;
      }),
      'recirc_id(0),in_port(3),packet_type(ns=0,id=0),eth(dst=ff:ff:ff:ff:ff:ff/01:00:00:00:00:00),eth_type(0x0801)',
    ],
    [
      `${E},icmp,nw_src=10.0.1.1,nw_dst=10.0.2.2,nw_ttl=64,icmp_type=8,icmp_code=0`,
      m((k) => {
        k[W.NW] = FRAG | 0xff;
        k[W.TP] = 0x00ff0000;
      }),
      'recirc_id(0),in_port(3),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(proto=1,frag=no),icmp(type=8)',
    ],
    [
      `${E},icmp,nw_src=10.0.1.1,nw_dst=10.0.2.2,nw_ttl=64,nw_tos=0,icmp_type=8,icmp_code=0`,
      m((k) => {
        k[W.NW] = FRAG | 0xff | 0xfc00;
      }),
      'recirc_id(0),in_port(3),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(proto=1,tos=0/0xfc,frag=no)',
    ],
    [
      `${E},ipv6,ipv6_src=2001:db8::1,ipv6_dst=::2,nw_proto=17`
        .replace('ipv6,', 'udp6,')
        .replace(',nw_proto=17', ''),
      m((k) => {
        k[W.IPV6_SRC] = 0xffffffff;
        k[W.NW] = FRAG | 0xff;
      }),
      'recirc_id(0),in_port(3),packet_type(ns=0,id=0),eth_type(0x86dd),ipv6(src=2001:db8::1/ffff:ffff::,proto=17,frag=no)',
    ],
  ];
  for (const [flow, mask, want] of cases) {
    const key = keyOf(pkt(flow), 3);
    t.equal(formatOdpKey(key, mask), want, flow);
  }
  // Port names (dump-flows -m) and wildcarded headers.
  const key = keyOf(pkt(`${E},udp,nw_src=1.1.1.1,nw_dst=2.2.2.2`), 3);
  t.equal(
    formatOdpKey(
      key,
      m(() => {}),
      (p) => (p === 3 ? 'p1' : undefined),
    ),
    'recirc_id(0),in_port(p1),packet_type(ns=0,id=0),eth_type(0x0800)',
  );
  t.ok(parseFlow('udp').key, 'parser available');
});

t.test('actions print as OVS prints them', async (t) => {
  const cases: [DpAction[], string][] = [
    [[], 'drop'],
    [
      [
        { type: 'output', port: 3 },
        { type: 'output', port: 2 },
      ],
      '3,2',
    ],
    [
      [
        setAction('eth_src', [0x0011, 0x22334455]),
        setAction('ipv4_src', 0x01020300, 0xffffff00),
        setAction('ipv4_ttl', 63),
        setAction('udp_dst', 99),
        { type: 'output', port: 1 },
      ],
      'set(eth(src=00:11:22:33:44:55)),set(ipv4(src=1.2.3.0/255.255.255.0,ttl=63)),set(udp(dst=99)),1',
    ],
    [
      [
        {
          type: 'userspace',
          pid: 0,
          cookie: {
            kind: 'controller',
            reason: 1,
            dontSend: 0,
            continuation: 0,
            recircId: 1,
            ruleCookie: 0n,
            controllerId: 0,
            maxLen: 128,
          },
        },
        { type: 'push_mpls', ethertype: 0x8847, lse: (5 << 12) | 0x100 | 64 },
        { type: 'output', port: 2 },
      ],
      'userspace(pid=0,controller(reason=1,dont_send=0,continuation=0,recirc_id=1,rule_cookie=0,controller_id=0,max_len=128)),push_mpls(label=5,tc=0,ttl=64,bos=1,eth_type=0x8847),2',
    ],
    [
      [
        setAction('ipv4_tos', 0x12),
        { type: 'push_vlan', tpid: 0x8100, tci: 7 },
        { type: 'output', port: 1 },
      ],
      'set(ipv4(tos=0x12)),push_vlan(vid=7,pcp=0),1',
    ],
    [
      [
        setAction('ipv6_label', 5),
        setAction('ipv6_dst', [0, 0, 0, 9]),
        { type: 'output', port: 1 },
      ],
      'set(ipv6(dst=::9,label=0x5)),1',
    ],
    [[{ type: 'pop_vlan' }, { type: 'output', port: 1 }], 'pop_vlan,1'],
    [
      [
        { type: 'pop_mpls', ethertype: 0x800 },
        { type: 'output', port: 1 },
      ],
      'pop_mpls(eth_type=0x800),1',
    ],
    [
      [{ type: 'userspace', pid: 0, cookie: { kind: 'slow_path', reasons: ['action'] } }],
      'userspace(pid=0,slow_path(action))',
    ],
    [
      [{ type: 'push_vlan', tpid: 0x88a8, tci: (2 << 13) | 100 }],
      'push_vlan(tpid=0x88a8,vid=100,pcp=2)',
    ],
    [
      [
        { type: 'dec_ttl', le1: [] },
        { type: 'recirc', id: 3 },
      ],
      'dec_ttl(le_1(drop)),recirc(0x3)',
    ],
    [[{ type: 'clone', actions: [{ type: 'output', port: 4 }] }], 'clone(4)'],
  ];
  for (const [a, want] of cases) {
    validateActions(a);
    t.equal(formatActions(a), want);
  }
  t.equal(
    formatActions([{ type: 'output', port: 2 }], (p) => (p === 2 ? 'p3' : undefined)),
    'p3',
  );
});

t.test('validateActions rejects malformed lists', async (t) => {
  t.throws(() => validateActions([{ type: 'set', field: 'eth_src', value: [1] }]), DpActionError);
  t.throws(() => validateActions([setAction('ipv4_ttl', 256)]), DpActionError);
  t.throws(() => validateActions([{ type: 'push_mpls', ethertype: 0x800, lse: 0 }]), DpActionError);
  t.throws(() => validateActions([{ type: 'output', port: -1 }]), DpActionError);
  t.doesNotThrow(() => validateActions([setAction('ipv6_src', [1, 2, 3, 4], [0, 0, 0, 0xff])]));
});

t.test('stats tcp flags as OVS prints them', async (t) => {
  t.equal(formatStatsTcpFlags(0x010), '.');
  t.equal(formatStatsTcpFlags(0x002), 'S');
  t.equal(formatStatsTcpFlags(0x01b), 'SFP.');
});

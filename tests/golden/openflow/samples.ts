/**
 * One or more sample messages for every OpenFlow 1.3 message type, every multipart request and
 * reply type and the ONF bundle messages, each with the fragments `ovs-ofctl ofp-print` must show
 * for our encoding (tests/interop/openflow-ofp-print.test.ts) and its frozen wire bytes
 * (golden.json, checked both ways by tests/golden/openflow/golden.test.ts).
 */
import type { OfpMessage } from '../../../openflow/messages.js';
import type { TableFeatures } from '../../../openflow/table-features.js';
import type { Port } from '../../../openflow/structs.js';
import { parseIpv4, parseIpv6, parseMac } from '../../../openflow/print.js';

/** A sample: a name, the message, and what ovs-ofctl ofp-print must print for it. */
export interface Sample {
  /** Unique name (the key in golden.json). */
  name: string;
  /** The message. */
  msg: OfpMessage;
  /** Fragments that must appear in `ovs-ofctl ofp-print` output (case-sensitive). */
  ofpPrint: string[];
  /** The decode error OVS prints for messages it does not implement (else none allowed). */
  ovsRejects?: string;
}

const b = (...xs: number[]): Uint8Array => new Uint8Array(xs);

const port1: Port = {
  portNo: 1,
  hwAddr: parseMac('aa:bb:cc:dd:ee:01'),
  name: 'eth1',
  config: 0,
  state: 4,
  curr: 0x840,
  advertised: 0,
  supported: 0,
  peer: 0,
  currSpeed: 10000000,
  maxSpeed: 0,
};
const portLocal: Port = {
  portNo: 0xfffffffe,
  hwAddr: parseMac('aa:bb:cc:dd:ee:00'),
  name: 'br0',
  config: 1,
  state: 1,
  curr: 0x840,
  advertised: 0,
  supported: 0,
  peer: 0,
  currSpeed: 10000000,
  maxSpeed: 0,
};

const tableFeatures: TableFeatures = {
  tableId: 0,
  name: 'classifier',
  metadataMatch: 0xffffffffffffffffn,
  metadataWrite: 0xffffffffffffffffn,
  config: 3,
  maxEntries: 1000000,
  properties: [
    {
      type: 'INSTRUCTIONS',
      ids: [1, 2, 3, 4, 5, 6].map((type) => ({ type, data: new Uint8Array(0) })),
    },
    { type: 'NEXT_TABLES', tableIds: [1, 2, 3] },
    {
      type: 'WRITE_ACTIONS',
      ids: [0, 17, 18].map((type) => ({ type, data: new Uint8Array(0) })),
    },
    {
      type: 'APPLY_ACTIONS',
      ids: [0, 22].map((type) => ({ type, data: new Uint8Array(0) })),
    },
    { type: 'MATCH', oxmIds: [{ header: 0x80000004 }, { header: 0x80000606 }] },
    { type: 'WILDCARDS', oxmIds: [{ header: 0x80000606 }] },
    { type: 'WRITE_SETFIELD', oxmIds: [{ header: 0x80000606 }] },
    { type: 'APPLY_SETFIELD', oxmIds: [{ header: 0x80000806 }] },
  ],
};

/** Every sample. */
export const SAMPLES: Sample[] = [
  {
    name: 'hello-bitmap',
    msg: {
      type: 'HELLO',
      xid: 1,
      version: 4,
      elements: [{ type: 'VERSIONBITMAP', bitmaps: [0x10] }],
    },
    ofpPrint: ['OFPT_HELLO (OF1.3) (xid=0x1)', 'version bitmap: 0x04'],
  },
  {
    name: 'hello-bare',
    msg: { type: 'HELLO', xid: 7, version: 4, elements: [] },
    ofpPrint: ['OFPT_HELLO (OF1.3) (xid=0x7)'],
  },
  {
    name: 'error-bad-match-field',
    msg: {
      type: 'ERROR',
      xid: 0x1005,
      errType: 4,
      code: 6,
      data: b(4, 0x14, 0, 8, 0, 0, 0x10, 5),
    },
    ofpPrint: ['OFPT_ERROR (OF1.3) (xid=0x1005)', 'OFPBMC_BAD_FIELD'],
  },
  {
    name: 'error-onf-dup-inst',
    msg: {
      type: 'ERROR',
      xid: 0x1010,
      errType: 0xffff,
      code: 2600,
      experimenter: 0x4f4e4600,
      data: b(4, 0x14, 0, 8, 0, 0, 0x10, 0x10),
    },
    ofpPrint: ['OFPT_ERROR (OF1.3) (xid=0x1010)', 'OFPBIC_DUP_INST'],
  },
  {
    name: 'echo-request',
    msg: { type: 'ECHO_REQUEST', xid: 0, data: b(1, 2, 3, 4) },
    ofpPrint: ['OFPT_ECHO_REQUEST (OF1.3) (xid=0x0): 4 bytes of payload'],
  },
  {
    name: 'echo-reply',
    msg: { type: 'ECHO_REPLY', xid: 9, data: new Uint8Array(0) },
    ofpPrint: ['OFPT_ECHO_REPLY (OF1.3) (xid=0x9): 0 bytes of payload'],
  },
  {
    name: 'experimenter',
    msg: { type: 'EXPERIMENTER', xid: 3, experimenter: 0xabcdef, expType: 5, data: b(1, 2, 3, 4) },
    // OVS knows no experimenter 0xabcdef; its hexdump still shows our header and id.
    ofpPrint: [
      'OpenFlow message has unknown vendor 0xabcdef',
      '04 04 00 14 00 00 00 03-00 ab cd ef 00 00 00 05',
    ],
    ovsRejects: 'OFPBRC_BAD_VENDOR',
  },
  {
    name: 'features-request',
    msg: { type: 'FEATURES_REQUEST', xid: 0x14db8f6d },
    ofpPrint: ['OFPT_FEATURES_REQUEST (OF1.3) (xid=0x14db8f6d)'],
  },
  {
    name: 'features-reply',
    msg: {
      type: 'FEATURES_REPLY',
      xid: 0x14db8f6d,
      datapathId: 1n,
      nBuffers: 0,
      nTables: 254,
      auxiliaryId: 0,
      capabilities: 0x4f,
      reserved: 0,
    },
    ofpPrint: [
      'OFPT_FEATURES_REPLY (OF1.3) (xid=0x14db8f6d): dpid:0000000000000001',
      'n_tables:254, n_buffers:0',
      'capabilities: FLOW_STATS TABLE_STATS PORT_STATS GROUP_STATS QUEUE_STATS',
    ],
  },
  {
    name: 'get-config-request',
    msg: { type: 'GET_CONFIG_REQUEST', xid: 2 },
    ofpPrint: ['OFPT_GET_CONFIG_REQUEST (OF1.3) (xid=0x2)'],
  },
  {
    name: 'get-config-reply',
    msg: { type: 'GET_CONFIG_REPLY', xid: 2, flags: 0, missSendLen: 128 },
    ofpPrint: ['OFPT_GET_CONFIG_REPLY (OF1.3) (xid=0x2): frags=normal miss_send_len=128'],
  },
  {
    name: 'set-config',
    msg: { type: 'SET_CONFIG', xid: 0x1002, flags: 1, missSendLen: 0xffff },
    ofpPrint: ['OFPT_SET_CONFIG (OF1.3) (xid=0x1002): frags=drop miss_send_len=65535'],
  },
  {
    name: 'packet-in',
    msg: {
      type: 'PACKET_IN',
      xid: 0,
      bufferId: 0xffffffff,
      totalLen: 60,
      reason: 1,
      tableId: 0,
      cookie: 0x7777n,
      match: [{ field: 'in_port', value: 1 }],
      data: (() => {
        const d = new Uint8Array(60);
        d.set([0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x88, 0xb7]);
        return d;
      })(),
    },
    ofpPrint: [
      'OFPT_PACKET_IN (OF1.3) (xid=0x0): cookie=0x7777 total_len=60 in_port=1 (via action) data_len=60 (unbuffered)',
      'dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_type=0x88b7',
    ],
  },
  {
    name: 'flow-removed',
    msg: {
      type: 'FLOW_REMOVED',
      xid: 0,
      cookie: 20560n,
      priority: 11,
      reason: 3,
      tableId: 0,
      durationSec: 0,
      durationNsec: 301000000,
      idleTimeout: 0,
      hardTimeout: 0,
      packetCount: 0n,
      byteCount: 0n,
      match: [
        { field: 'in_port', value: 1 },
        { field: 'eth_type', value: 0x88b6 },
      ],
    },
    ofpPrint: [
      'OFPT_FLOW_REMOVED (OF1.3) (xid=0x0): priority=11,in_port=1,dl_type=0x88b6 reason=group_delete table_id=0 cookie:0x5050 duration0.301s idle0 pkts0 bytes0',
    ],
  },
  {
    name: 'port-status',
    msg: { type: 'PORT_STATUS', xid: 0, reason: 2, port: port1 },
    ofpPrint: [
      'OFPT_PORT_STATUS (OF1.3) (xid=0x0): MOD: 1(eth1): addr:aa:bb:cc:dd:ee:01',
      'state:      LIVE',
      'current:    10GB-FD COPPER',
    ],
  },
  {
    name: 'packet-out',
    msg: {
      type: 'PACKET_OUT',
      xid: 0x14db8f70,
      bufferId: 0xffffffff,
      inPort: 2,
      actions: [{ type: 'OUTPUT', port: 0xfffffffb, maxLen: 0xffe5 }],
      data: (() => {
        const d = new Uint8Array(60);
        d.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 2, 0x08, 0x06]);
        return d;
      })(),
    },
    ofpPrint: ['OFPT_PACKET_OUT (OF1.3) (xid=0x14db8f70): in_port=2 actions=FLOOD data_len=60'],
  },
  {
    name: 'flow-mod-table-miss',
    msg: {
      type: 'FLOW_MOD',
      xid: 0x14db8f6f,
      cookie: 0n,
      cookieMask: 0n,
      tableId: 0,
      command: 0,
      idleTimeout: 0,
      hardTimeout: 0,
      priority: 0,
      bufferId: 0xffffffff,
      outPort: 0,
      outGroup: 0,
      flags: 0,
      match: [],
      instructions: [
        { type: 'APPLY_ACTIONS', actions: [{ type: 'OUTPUT', port: 0xfffffffd, maxLen: 0xffff }] },
      ],
    },
    ofpPrint: [
      'OFPT_FLOW_MOD (OF1.3) (xid=0x14db8f6f): ADD priority=0 out_port:0 actions=CONTROLLER:65535',
    ],
  },
  {
    name: 'flow-mod-all-instructions',
    msg: {
      type: 'FLOW_MOD',
      xid: 0x20,
      cookie: 0x1234n,
      cookieMask: 0n,
      tableId: 1,
      command: 0,
      idleTimeout: 10,
      hardTimeout: 30,
      priority: 100,
      bufferId: 0xffffffff,
      outPort: 0xffffffff,
      outGroup: 0xffffffff,
      flags: 1,
      match: [
        { field: 'in_port', value: 1 },
        {
          field: 'eth_dst',
          value: parseMac('01:00:5e:00:00:00'),
          mask: parseMac('ff:ff:ff:00:00:00'),
        },
        { field: 'eth_type', value: 0x0800 },
        { field: 'ip_proto', value: 6 },
        { field: 'ipv4_src', value: parseIpv4('10.0.0.0'), mask: parseIpv4('255.255.255.0') },
        { field: 'tcp_dst', value: 80 },
      ],
      instructions: [
        { type: 'METER', meterId: 1 },
        {
          type: 'APPLY_ACTIONS',
          actions: [
            { type: 'SET_FIELD', field: 'ipv4_dst', value: parseIpv4('10.0.0.9') },
            { type: 'DEC_NW_TTL' },
          ],
        },
        { type: 'CLEAR_ACTIONS' },
        { type: 'WRITE_ACTIONS', actions: [{ type: 'OUTPUT', port: 2, maxLen: 0 }] },
        { type: 'WRITE_METADATA', metadata: 0x10n, metadataMask: 0xffn },
        { type: 'GOTO_TABLE', tableId: 5 },
      ],
    },
    ofpPrint: [
      'OFPT_FLOW_MOD (OF1.3) (xid=0x20): ADD table:1 priority=100,tcp,in_port=1,dl_dst=01:00:5e:00:00:00/ff:ff:ff:00:00:00,nw_src=10.0.0.0/24,tp_dst=80 cookie:0x1234 idle:10 hard:30 send_flow_rem actions=meter:1,set_field:10.0.0.9->ip_dst,dec_ttl,clear_actions,write_actions(output:2),write_metadata:0x10/0xff,goto_table:5',
    ],
  },
  {
    name: 'flow-mod-every-action',
    msg: {
      type: 'FLOW_MOD',
      xid: 0x21,
      cookie: 0n,
      cookieMask: 0n,
      tableId: 0,
      command: 0,
      idleTimeout: 0,
      hardTimeout: 0,
      priority: 5,
      bufferId: 0xffffffff,
      outPort: 0,
      outGroup: 0,
      flags: 0,
      match: [
        { field: 'eth_type', value: 0x8847 },
        { field: 'mpls_label', value: 100 },
      ],
      instructions: [
        {
          type: 'APPLY_ACTIONS',
          actions: [
            { type: 'SET_MPLS_TTL', ttl: 9 },
            { type: 'DEC_MPLS_TTL' },
            { type: 'POP_MPLS', ethertype: 0x0800 },
            { type: 'SET_NW_TTL', ttl: 7 },
            { type: 'PUSH_VLAN', ethertype: 0x8100 },
            { type: 'SET_FIELD', field: 'vlan_vid', value: 0x1000 | 10 },
            { type: 'POP_VLAN' },
            { type: 'PUSH_MPLS', ethertype: 0x8847 },
            { type: 'SET_QUEUE', queueId: 3 },
            { type: 'GROUP', groupId: 7 },
          ],
        },
      ],
    },
    ofpPrint: [
      'mpls,mpls_label=100',
      'actions=set_mpls_ttl(9),dec_mpls_ttl,pop_mpls:0x0800,mod_nw_ttl:7,push_vlan:0x8100,set_field:4106->vlan_vid,pop_vlan,push_mpls:0x8847',
      'set_queue:3,group:7',
    ],
  },
  {
    // OVS 3.1 implements neither COPY_TTL_IN/OUT nor PUSH/POP_PBB: its decoder rejects them with
    // OFPBAC_BAD_TYPE, so interop only checks that it sees a well-formed FLOW_MOD up to the action.
    name: 'flow-mod-ttl-pbb-actions',
    msg: {
      type: 'FLOW_MOD',
      xid: 0x23,
      cookie: 0n,
      cookieMask: 0n,
      tableId: 0,
      command: 0,
      idleTimeout: 0,
      hardTimeout: 0,
      priority: 5,
      bufferId: 0xffffffff,
      outPort: 0,
      outGroup: 0,
      flags: 0,
      match: [],
      instructions: [
        {
          type: 'APPLY_ACTIONS',
          actions: [
            { type: 'COPY_TTL_IN' },
            { type: 'COPY_TTL_OUT' },
            { type: 'PUSH_PBB', ethertype: 0x88e7 },
            { type: 'POP_PBB' },
          ],
        },
      ],
    },
    ofpPrint: ['unknown OpenFlow13 action for vendor 0 and type 12', 'bad action at offset 0'],
    ovsRejects: 'OFPBAC_BAD_TYPE',
  },
  {
    name: 'flow-mod-delete-strict',
    msg: {
      type: 'FLOW_MOD',
      xid: 0x22,
      cookie: 0x99n,
      cookieMask: 0xffffffffffffffffn,
      tableId: 0xff,
      command: 4,
      idleTimeout: 0,
      hardTimeout: 0,
      priority: 40000,
      bufferId: 0xffffffff,
      outPort: 3,
      outGroup: 0xffffffff,
      flags: 0,
      match: [
        { field: 'eth_type', value: 0x86dd },
        { field: 'ipv6_src', value: parseIpv6('2001:db8::1') },
        { field: 'ip_proto', value: 58 },
        { field: 'icmpv6_type', value: 135 },
        { field: 'ipv6_nd_target', value: parseIpv6('fe80::1') },
      ],
      instructions: [],
    },
    ofpPrint: [
      'DEL_STRICT',
      'priority=40000,icmp6,ipv6_src=2001:db8::1,icmp_type=135,nd_target=fe80::1',
      'cookie:0x99/0xffffffffffffffff',
      'out_port:3',
    ],
  },
  {
    name: 'group-mod',
    msg: {
      type: 'GROUP_MOD',
      xid: 0x1027,
      command: 0,
      groupType: 1,
      groupId: 1,
      buckets: [
        {
          weight: 10,
          watchPort: 0xffffffff,
          watchGroup: 0xffffffff,
          actions: [{ type: 'OUTPUT', port: 1, maxLen: 0 }],
        },
        {
          weight: 20,
          watchPort: 0xffffffff,
          watchGroup: 0xffffffff,
          actions: [{ type: 'OUTPUT', port: 2, maxLen: 0 }],
        },
      ],
    },
    ofpPrint: [
      'OFPT_GROUP_MOD (OF1.3) (xid=0x1027)',
      'ADD group_id=1,type=select,bucket=weight:10,actions=output:1,bucket=weight:20,actions=output:2',
    ],
  },
  {
    name: 'port-mod',
    msg: {
      type: 'PORT_MOD',
      xid: 0x1033,
      portNo: 1,
      hwAddr: parseMac('aa:bb:cc:dd:ee:01'),
      config: 1,
      mask: 1,
      advertise: 0,
    },
    ofpPrint: [
      'OFPT_PORT_MOD (OF1.3) (xid=0x1033): port: 1: addr:aa:bb:cc:dd:ee:01',
      'config: PORT_DOWN',
      'mask:   PORT_DOWN',
    ],
  },
  {
    name: 'table-mod',
    msg: { type: 'TABLE_MOD', xid: 0x40, tableId: 3, config: 0 },
    ofpPrint: ['OFPT_TABLE_MOD (OF1.3) (xid=0x40): table_id=3'],
  },
  {
    name: 'mp-desc-request',
    msg: { type: 'MULTIPART_REQUEST', xid: 0x2006, flags: 0, mpType: 'DESC' },
    ofpPrint: ['OFPST_DESC request (OF1.3) (xid=0x2006)'],
  },
  {
    name: 'mp-desc-reply',
    msg: {
      type: 'MULTIPART_REPLY',
      xid: 0x2006,
      flags: 0,
      mpType: 'DESC',
      mfrDesc: 'Nicira, Inc.',
      hwDesc: 'Open vSwitch',
      swDesc: '3.1.0',
      serialNum: 'None',
      dpDesc: 'None',
    },
    ofpPrint: [
      'OFPST_DESC reply (OF1.3) (xid=0x2006)',
      'Manufacturer: Nicira, Inc.',
      'Hardware: Open vSwitch',
      'Software: 3.1.0',
      'Serial Num: None',
      'DP Description: None',
    ],
  },
  {
    name: 'mp-flow-request',
    msg: {
      type: 'MULTIPART_REQUEST',
      xid: 0x50,
      flags: 0,
      mpType: 'FLOW',
      tableId: 0xff,
      outPort: 0xffffffff,
      outGroup: 0xffffffff,
      cookie: 0n,
      cookieMask: 0n,
      match: [{ field: 'in_port', value: 1 }],
    },
    ofpPrint: ['OFPST_FLOW request (OF1.3) (xid=0x50): in_port=1'],
  },
  {
    name: 'mp-flow-reply',
    msg: {
      type: 'MULTIPART_REPLY',
      xid: 0x50,
      flags: 0,
      mpType: 'FLOW',
      entries: [
        {
          tableId: 0,
          durationSec: 12,
          durationNsec: 500000000,
          priority: 1,
          idleTimeout: 0,
          hardTimeout: 0,
          flags: 0,
          cookie: 0n,
          packetCount: 3n,
          byteCount: 294n,
          match: [
            { field: 'in_port', value: 1 },
            { field: 'eth_dst', value: parseMac('00:00:00:00:00:02') },
          ],
          instructions: [
            { type: 'APPLY_ACTIONS', actions: [{ type: 'OUTPUT', port: 2, maxLen: 0xffe5 }] },
          ],
        },
      ],
    },
    ofpPrint: [
      'OFPST_FLOW reply (OF1.3) (xid=0x50)',
      'cookie=0x0, duration=12.500s, table=0, n_packets=3, n_bytes=294, priority=1,in_port=1,dl_dst=00:00:00:00:00:02 actions=output:2',
    ],
  },
  {
    name: 'mp-aggregate-request',
    msg: {
      type: 'MULTIPART_REQUEST',
      xid: 0x12d3,
      flags: 0,
      mpType: 'AGGREGATE',
      tableId: 0xff,
      outPort: 0xffffffff,
      outGroup: 0xffffffff,
      cookie: 0n,
      cookieMask: 0n,
      match: [],
    },
    ofpPrint: ['OFPST_AGGREGATE request (OF1.3) (xid=0x12d3)'],
  },
  {
    name: 'mp-aggregate-reply',
    msg: {
      type: 'MULTIPART_REPLY',
      xid: 0x12d3,
      flags: 0,
      mpType: 'AGGREGATE',
      packetCount: 5n,
      byteCount: 490n,
      flowCount: 2,
    },
    ofpPrint: [
      'OFPST_AGGREGATE reply (OF1.3) (xid=0x12d3): packet_count=5 byte_count=490 flow_count=2',
    ],
  },
  {
    name: 'mp-table-request',
    msg: { type: 'MULTIPART_REQUEST', xid: 0x12d4, flags: 0, mpType: 'TABLE' },
    ofpPrint: ['OFPST_TABLE request (OF1.3) (xid=0x12d4)'],
  },
  {
    name: 'mp-table-reply',
    msg: {
      type: 'MULTIPART_REPLY',
      xid: 0x12d4,
      flags: 0,
      mpType: 'TABLE',
      entries: [
        { tableId: 0, activeCount: 4, lookupCount: 157n, matchedCount: 145n },
        { tableId: 1, activeCount: 0, lookupCount: 1n, matchedCount: 1n },
      ],
    },
    ofpPrint: [
      'OFPST_TABLE reply (OF1.3) (xid=0x12d4)',
      'table 0:',
      'active=4, lookup=157, matched=145',
    ],
  },
  {
    name: 'mp-port-stats-request',
    msg: { type: 'MULTIPART_REQUEST', xid: 0x1035, flags: 0, mpType: 'PORT_STATS', portNo: 99 },
    ofpPrint: ['OFPST_PORT request (OF1.3) (xid=0x1035): port_no=99'],
  },
  {
    name: 'mp-port-stats-reply',
    msg: {
      type: 'MULTIPART_REPLY',
      xid: 0x1035,
      flags: 0,
      mpType: 'PORT_STATS',
      entries: [
        {
          portNo: 1,
          rxPackets: 10n,
          txPackets: 20n,
          rxBytes: 1000n,
          txBytes: 2000n,
          rxDropped: 1n,
          txDropped: 2n,
          rxErrors: 0n,
          txErrors: 0n,
          rxFrameErr: 0n,
          rxOverErr: 0n,
          rxCrcErr: 0n,
          collisions: 0n,
          durationSec: 30,
          durationNsec: 0,
        },
      ],
    },
    ofpPrint: [
      'OFPST_PORT reply (OF1.3) (xid=0x1035): 1 ports',
      'port  1: rx pkts=10, bytes=1000, drop=1, errs=0, frame=0, over=0, crc=0',
      'tx pkts=20, bytes=2000, drop=2, errs=0, coll=0',
      'duration=30s',
    ],
  },
  {
    name: 'mp-queue-request',
    msg: {
      type: 'MULTIPART_REQUEST',
      xid: 0x1038,
      flags: 0,
      mpType: 'QUEUE',
      portNo: 0xffffffff,
      queueId: 0xffffffff,
    },
    ofpPrint: ['OFPST_QUEUE request (OF1.3) (xid=0x1038): port=ANY queue=ALL'],
  },
  {
    name: 'mp-queue-reply',
    msg: {
      type: 'MULTIPART_REPLY',
      xid: 0x1038,
      flags: 0,
      mpType: 'QUEUE',
      entries: [
        {
          portNo: 1,
          queueId: 2,
          txBytes: 100n,
          txPackets: 1n,
          txErrors: 0n,
          durationSec: 5,
          durationNsec: 0,
        },
      ],
    },
    ofpPrint: [
      'OFPST_QUEUE reply (OF1.3) (xid=0x1038): 1 queues',
      'port 1 queue 2: bytes=100, pkts=1, errors=0, duration=5s',
    ],
  },
  {
    name: 'mp-group-request',
    msg: { type: 'MULTIPART_REQUEST', xid: 0x1036, flags: 0, mpType: 'GROUP', groupId: 0xfffffffc },
    ofpPrint: ['OFPST_GROUP request (OF1.3) (xid=0x1036): group_id=ALL'],
  },
  {
    name: 'mp-group-reply',
    msg: {
      type: 'MULTIPART_REPLY',
      xid: 0x1036,
      flags: 0,
      mpType: 'GROUP',
      entries: [
        {
          groupId: 1,
          refCount: 1,
          packetCount: 4n,
          byteCount: 400n,
          durationSec: 2,
          durationNsec: 0,
          bucketStats: [{ packetCount: 4n, byteCount: 400n }],
        },
      ],
    },
    ofpPrint: [
      'OFPST_GROUP reply (OF1.3) (xid=0x1036)',
      'group_id=1,duration=2s,ref_count=1,packet_count=4,byte_count=400,bucket0:packet_count=4,byte_count=400',
    ],
  },
  {
    name: 'mp-group-desc-request',
    msg: { type: 'MULTIPART_REQUEST', xid: 0x61, flags: 0, mpType: 'GROUP_DESC' },
    ofpPrint: ['OFPST_GROUP_DESC request (OF1.3) (xid=0x61)'],
  },
  {
    name: 'mp-group-desc-reply',
    msg: {
      type: 'MULTIPART_REPLY',
      xid: 0x61,
      flags: 0,
      mpType: 'GROUP_DESC',
      entries: [
        {
          groupType: 0,
          groupId: 1,
          buckets: [
            {
              weight: 0,
              watchPort: 0xffffffff,
              watchGroup: 0xffffffff,
              actions: [{ type: 'OUTPUT', port: 1, maxLen: 0 }],
            },
          ],
        },
      ],
    },
    ofpPrint: [
      'OFPST_GROUP_DESC reply (OF1.3) (xid=0x61)',
      'group_id=1,type=all,bucket=actions=output:1',
    ],
  },
  {
    name: 'mp-group-features-request',
    msg: { type: 'MULTIPART_REQUEST', xid: 0x62, flags: 0, mpType: 'GROUP_FEATURES' },
    ofpPrint: ['OFPST_GROUP_FEATURES request (OF1.3) (xid=0x62)'],
  },
  {
    name: 'mp-group-features-reply',
    msg: {
      type: 'MULTIPART_REPLY',
      xid: 0x62,
      flags: 0,
      mpType: 'GROUP_FEATURES',
      types: 0xf,
      capabilities: 7,
      maxGroups: [0xffffff00, 0xffffff00, 0xffffff00, 0xffffff00],
      actions: [1, 1, 1, 1],
    },
    ofpPrint: [
      'OFPST_GROUP_FEATURES reply (OF1.3) (xid=0x62)',
      'Group table:',
      'Types:  0xf',
      'Capabilities:  0x7',
      'all group:',
      'max_groups=0xffffff00',
      'actions: output',
    ],
  },
  {
    name: 'mp-meter-request',
    msg: { type: 'MULTIPART_REQUEST', xid: 0x1037, flags: 0, mpType: 'METER', meterId: 9999 },
    ofpPrint: ['OFPST_METER request (OF1.3) (xid=0x1037): meter=9999'],
  },
  {
    name: 'mp-meter-reply',
    msg: {
      type: 'MULTIPART_REPLY',
      xid: 0x1037,
      flags: 0,
      mpType: 'METER',
      entries: [
        {
          meterId: 1,
          flowCount: 1,
          packetInCount: 10n,
          byteInCount: 1000n,
          durationSec: 3,
          durationNsec: 0,
          bandStats: [{ packetBandCount: 2n, byteBandCount: 200n }],
        },
      ],
    },
    ofpPrint: [
      'OFPST_METER reply (OF1.3) (xid=0x1037)',
      'meter:1 flow_count:1 packet_in_count:10 byte_in_count:1000 duration:3s bands:',
      '0: packet_count:2 byte_count:200',
    ],
  },
  {
    name: 'mp-meter-config-request',
    msg: {
      type: 'MULTIPART_REQUEST',
      xid: 0x63,
      flags: 0,
      mpType: 'METER_CONFIG',
      meterId: 0xffffffff,
    },
    ofpPrint: ['OFPST_METER_CONFIG request (OF1.3) (xid=0x63)'],
  },
  {
    name: 'mp-meter-config-reply',
    msg: {
      type: 'MULTIPART_REPLY',
      xid: 0x63,
      flags: 0,
      mpType: 'METER_CONFIG',
      entries: [
        {
          flags: 0x9,
          meterId: 1,
          bands: [
            { type: 'DROP', rate: 10000, burstSize: 10000 },
            { type: 'DSCP_REMARK', rate: 20000, burstSize: 0, precLevel: 1 },
          ],
        },
      ],
    },
    ofpPrint: [
      'OFPST_METER_CONFIG reply (OF1.3) (xid=0x63)',
      'meter=1 kbps stats bands=',
      'type=drop rate=10000',
      'type=dscp_remark rate=20000 prec_level=1',
    ],
  },
  {
    name: 'mp-meter-features-request',
    msg: { type: 'MULTIPART_REQUEST', xid: 0x64, flags: 0, mpType: 'METER_FEATURES' },
    ofpPrint: ['OFPST_METER_FEATURES request (OF1.3) (xid=0x64)'],
  },
  {
    name: 'mp-meter-features-reply',
    msg: {
      type: 'MULTIPART_REPLY',
      xid: 0x64,
      flags: 0,
      mpType: 'METER_FEATURES',
      maxMeter: 262144,
      bandTypes: 2,
      capabilities: 0xf,
      maxBands: 8,
      maxColor: 0,
    },
    ofpPrint: [
      'OFPST_METER_FEATURES reply (OF1.3) (xid=0x64)',
      'max_meter:262144 max_bands:8 max_color:0',
      'band_types: drop',
      'capabilities: kbps pktps burst stats',
    ],
  },
  {
    name: 'mp-table-features-request-empty',
    msg: { type: 'MULTIPART_REQUEST', xid: 0x65, flags: 0, mpType: 'TABLE_FEATURES', entries: [] },
    ofpPrint: ['OFPST_TABLE_FEATURES request (OF1.3) (xid=0x65)'],
  },
  {
    name: 'mp-table-features-reply',
    msg: {
      type: 'MULTIPART_REPLY',
      xid: 0x65,
      flags: 0,
      mpType: 'TABLE_FEATURES',
      entries: [tableFeatures],
    },
    ofpPrint: [
      'OFPST_TABLE_FEATURES reply (OF1.3) (xid=0x65)',
      'table 0 ("classifier"):',
      'metadata: match=0xffffffffffffffff write=0xffffffffffffffff',
      'max_entries=1000000',
      'instructions: meter apply_actions clear_actions write_actions write_metadata goto_table',
      'actions: output strip_vlan push_vlan',
      'supported on Set-Field: eth_dst',
      'must exact match: in_port_oxm',
      'next tables: 1-3',
    ],
  },
  {
    name: 'mp-port-desc-request',
    msg: { type: 'MULTIPART_REQUEST', xid: 0x14db8f6e, flags: 0, mpType: 'PORT_DESC' },
    ofpPrint: ['OFPST_PORT_DESC request (OF1.3) (xid=0x14db8f6e): port=ANY'],
  },
  {
    name: 'mp-port-desc-reply',
    msg: {
      type: 'MULTIPART_REPLY',
      xid: 0x14db8f6e,
      flags: 0,
      mpType: 'PORT_DESC',
      entries: [port1, portLocal],
    },
    ofpPrint: [
      'OFPST_PORT_DESC reply (OF1.3) (xid=0x14db8f6e)',
      '1(eth1): addr:aa:bb:cc:dd:ee:01',
      'LOCAL(br0): addr:aa:bb:cc:dd:ee:00',
      'config:     PORT_DOWN',
      'state:      LINK_DOWN',
      'speed: 10000 Mbps now, 0 Mbps max',
    ],
  },
  {
    name: 'mp-experimenter-request',
    msg: {
      type: 'MULTIPART_REQUEST',
      xid: 0x66,
      flags: 0,
      mpType: 'EXPERIMENTER',
      experimenter: 0x00abcdef,
      expType: 1,
      data: b(1, 2, 3, 4),
    },
    ofpPrint: ['unknown vendor 0xabcdef', '04 12 00 1c 00 00 00 66-ff ff 00 00 00 00 00 00'],
    ovsRejects: 'OFPBRC_BAD_VENDOR',
  },
  {
    name: 'mp-experimenter-reply',
    msg: {
      type: 'MULTIPART_REPLY',
      xid: 0x66,
      flags: 0,
      mpType: 'EXPERIMENTER',
      experimenter: 0x00abcdef,
      expType: 1,
      data: b(5, 6, 7, 8),
    },
    ofpPrint: ['unknown vendor 0xabcdef', '04 13 00 1c 00 00 00 66-ff ff 00 00 00 00 00 00'],
    ovsRejects: 'OFPBRC_BAD_VENDOR',
  },
  {
    name: 'barrier-request',
    msg: { type: 'BARRIER_REQUEST', xid: 0x1005 },
    ofpPrint: ['OFPT_BARRIER_REQUEST (OF1.3) (xid=0x1005)'],
  },
  {
    name: 'barrier-reply',
    msg: { type: 'BARRIER_REPLY', xid: 0x1005 },
    ofpPrint: ['OFPT_BARRIER_REPLY (OF1.3) (xid=0x1005)'],
  },
  {
    name: 'queue-get-config-request',
    msg: { type: 'QUEUE_GET_CONFIG_REQUEST', xid: 0x70, port: 0xffffffff },
    ofpPrint: ['OFPT_QUEUE_GET_CONFIG_REQUEST (OF1.3) (xid=0x70): port=ANY'],
  },
  {
    name: 'queue-get-config-reply',
    msg: {
      type: 'QUEUE_GET_CONFIG_REPLY',
      xid: 0x70,
      port: 1,
      queues: [
        {
          queueId: 1,
          port: 1,
          properties: [
            { type: 'MIN_RATE', rate: 100 },
            { type: 'MAX_RATE', rate: 500 },
          ],
        },
      ],
    },
    ofpPrint: [
      'OFPT_QUEUE_GET_CONFIG_REPLY (OF1.3) (xid=0x70): port=1',
      'queue 1:',
      'queue 1: min_rate:10.0% max_rate:50.0%',
    ],
  },
  {
    name: 'role-request',
    msg: { type: 'ROLE_REQUEST', xid: 0x1003, role: 2, generationId: 200n },
    ofpPrint: ['OFPT_ROLE_REQUEST (OF1.3) (xid=0x1003): role=primary generation_id=200'],
  },
  {
    name: 'role-reply',
    msg: { type: 'ROLE_REPLY', xid: 0x1003, role: 1, generationId: 0xffffffffffffffffn },
    ofpPrint: ['OFPT_ROLE_REPLY (OF1.3) (xid=0x1003): role=equal'],
  },
  {
    name: 'get-async-request',
    msg: { type: 'GET_ASYNC_REQUEST', xid: 0x71 },
    ofpPrint: ['OFPT_GET_ASYNC_REQUEST (OF1.3) (xid=0x71)'],
  },
  {
    name: 'get-async-reply',
    msg: {
      type: 'GET_ASYNC_REPLY',
      xid: 0x71,
      packetInMask: [3, 0],
      portStatusMask: [7, 7],
      flowRemovedMask: [15, 0],
    },
    ofpPrint: [
      'OFPT_GET_ASYNC_REPLY (OF1.3) (xid=0x71)',
      'PACKET_IN: no_match action',
      'PORT_STATUS: add delete modify',
      'FLOW_REMOVED: idle hard delete group_delete',
    ],
  },
  {
    name: 'set-async',
    msg: {
      type: 'SET_ASYNC',
      xid: 0x72,
      packetInMask: [0, 0],
      portStatusMask: [7, 7],
      flowRemovedMask: [3, 0],
    },
    ofpPrint: ['OFPT_SET_ASYNC (OF1.3) (xid=0x72)', 'FLOW_REMOVED: idle hard'],
  },
  {
    name: 'meter-mod',
    msg: {
      type: 'METER_MOD',
      xid: 0x8e1e123e,
      command: 0,
      flags: 1,
      meterId: 1,
      bands: [{ type: 'DROP', rate: 10000, burstSize: 0 }],
    },
    ofpPrint: [
      'OFPT_METER_MOD (OF1.3) (xid=0x8e1e123e): ADD meter=1 kbps bands=',
      'type=drop rate=10000',
    ],
  },
  {
    name: 'bundle-open',
    msg: {
      type: 'BUNDLE_CONTROL',
      xid: 0xa,
      bundleId: 1,
      ctrlType: 'OPEN_REQUEST',
      flags: 3,
      properties: [],
    },
    ofpPrint: [
      'ONFT_BUNDLE_CONTROL (OF1.3) (xid=0xa)',
      'bundle_id=0x1 type=OPEN_REQUEST flags=atomic ordered',
    ],
  },
  {
    name: 'bundle-commit-reply',
    msg: {
      type: 'BUNDLE_CONTROL',
      xid: 0xb,
      bundleId: 1,
      ctrlType: 'COMMIT_REPLY',
      flags: 0,
      properties: [],
    },
    ofpPrint: ['ONFT_BUNDLE_CONTROL (OF1.3) (xid=0xb)', 'bundle_id=0x1 type=COMMIT_REPLY'],
  },
  {
    name: 'bundle-add',
    msg: {
      type: 'BUNDLE_ADD_MESSAGE',
      xid: 0xc,
      bundleId: 1,
      flags: 3,
      properties: [],
      message: {
        type: 'FLOW_MOD',
        xid: 0xc,
        cookie: 0n,
        cookieMask: 0n,
        tableId: 0,
        command: 0,
        idleTimeout: 0,
        hardTimeout: 0,
        priority: 0x8000,
        bufferId: 0xffffffff,
        outPort: 0,
        outGroup: 0,
        flags: 0,
        match: [{ field: 'in_port', value: 1 }],
        instructions: [],
      },
    },
    ofpPrint: [
      'ONFT_BUNDLE_ADD_MESSAGE (OF1.3) (xid=0xc)',
      'bundle_id=0x1 flags=atomic ordered',
      'OFPT_FLOW_MOD (OF1.3) (xid=0xc): ADD in_port=1 out_port:0 actions=drop',
    ],
  },
];

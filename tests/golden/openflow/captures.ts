/**
 * Golden messages rebuilt byte by byte from the decoded captures in
 * /work/shared/reference/captures/ (os-ken 2.5 ↔ OVS 3.1, tshark field dumps). The hex here was
 * written from the capture's field list, not produced by our encoder, so decode(hex) and
 * encode(expected) are checked against an independent source.
 */
import type { OfpMessage } from '../../../openflow/messages.js';
import { parseMac } from '../../../openflow/print.js';

/** One capture-derived fixture. */
export interface CaptureFixture {
  /** Where it comes from. */
  source: string;
  /** Wire bytes (spaces ignored). */
  hex: string;
  /** Decoded message. */
  msg: OfpMessage;
}

const name16 = (s: string): string => Buffer.from(s.padEnd(16, '\0'), 'latin1').toString('hex');

/** The fixtures. */
export const CAPTURES: CaptureFixture[] = [
  {
    source: 'osken-ss13-decoded.txt frame 4 (OVS HELLO)',
    hex: '04000010 00000001 00010008 00000010',
    msg: {
      type: 'HELLO',
      xid: 1,
      version: 4,
      elements: [{ type: 'VERSIONBITMAP', bitmaps: [0x10] }],
    },
  },
  {
    source: 'osken-ss13-decoded.txt frame 6 (os-ken HELLO)',
    hex: '04000008 14db896c',
    msg: { type: 'HELLO', xid: 349931884, version: 4, elements: [] },
  },
  {
    source: 'osken-ss13-decoded.txt frame 8',
    hex: '04050008 14db896d',
    msg: { type: 'FEATURES_REQUEST', xid: 349931885 },
  },
  {
    source: 'osken-ss13-decoded.txt frame 10',
    hex: '04060020 14db896d 0000000000000001 00000000 fe00 0000 0000004f 00000000',
    msg: {
      type: 'FEATURES_REPLY',
      xid: 349931885,
      datapathId: 1n,
      nBuffers: 0,
      nTables: 254,
      auxiliaryId: 0,
      capabilities: 0x4f,
      reserved: 0,
    },
  },
  {
    source: 'osken-ss13-decoded.txt frame 11',
    hex: '04120010 14db896e 000d 0000 00000000',
    msg: { type: 'MULTIPART_REQUEST', xid: 349931886, flags: 0, mpType: 'PORT_DESC' },
  },
  {
    source: 'osken-ss13-decoded.txt frame 12 (simple_switch_13 table-miss)',
    hex:
      '040e0050 14db896f 0000000000000000 0000000000000000 00 00 0000 0000 0000 ffffffff' +
      ' 00000000 00000000 0000 0000 0001000400000000 0004001800000000 00000010 fffffffd ffff 000000000000',
    msg: {
      type: 'FLOW_MOD',
      xid: 349931887,
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
  },
  {
    source: 'osken-ss13-decoded.txt frame 13',
    hex:
      '04130050 14db896e 000d 0000 00000000 fffffffe 00000000 227e1a0b4649 0000 ' +
      name16('cts1') +
      ' 00000001 00000001 00000840 00000000 00000000 00000000 00989680 00000000',
    msg: {
      type: 'MULTIPART_REPLY',
      xid: 349931886,
      flags: 0,
      mpType: 'PORT_DESC',
      entries: [
        {
          portNo: 0xfffffffe,
          hwAddr: parseMac('22:7e:1a:0b:46:49'),
          name: 'cts1',
          config: 1,
          state: 1,
          curr: 0x840,
          advertised: 0,
          supported: 0,
          peer: 0,
          currSpeed: 10000000,
          maxSpeed: 0,
        },
      ],
    },
  },
  {
    source: 'osken-ss13-decoded.txt frame 16',
    hex:
      '040c0050 00000000 02 00000000000000 00000001 00000000 12a35c028970 0000 ' +
      name16('cts1-eth1') +
      ' 00000000 00000004 00000840 00000000 00000000 00000000 00989680 00000000',
    msg: {
      type: 'PORT_STATUS',
      xid: 0,
      reason: 2,
      port: {
        portNo: 1,
        hwAddr: parseMac('12:a3:5c:02:89:70'),
        name: 'cts1-eth1',
        config: 0,
        state: 4,
        curr: 0x840,
        advertised: 0,
        supported: 0,
        peer: 0,
        currSpeed: 10000000,
        maxSpeed: 0,
      },
    },
  },
  {
    source: 'osken-ofctl_rest-mods-errors-decoded.txt frame 189',
    hex: '041d0020 8e1e123e 0000 0001 00000001 0001 0010 00002710 00000000 00000000',
    msg: {
      type: 'METER_MOD',
      xid: 0x8e1e123e,
      command: 0,
      flags: 1,
      meterId: 1,
      bands: [{ type: 'DROP', rate: 10000, burstSize: 0 }],
    },
  },
  {
    source: 'osken-ofctl_rest-mods-errors-decoded.txt frame 190 (METER_EXISTS)',
    hex: '0401002c 8e1e123e 000c 0001 041d0020 8e1e123e 0000 0001 00000001 0001 0010 00002710 00000000 00000000',
    msg: {
      type: 'ERROR',
      xid: 0x8e1e123e,
      errType: 12,
      code: 1,
      data: Buffer.from('041d00208e1e123e00000001000000010001001000002710' + '0'.repeat(16), 'hex'),
    },
  },
  {
    source: 'osken-ofctl_rest-mods-errors-decoded.txt frame 186',
    hex:
      '040f0030 8e1e123d 0001 00 00 0000004d 0020 0000 ffffffff ffffffff 00000000' +
      ' 0000 0010 00000002 ffe5 000000000000',
    msg: {
      type: 'GROUP_MOD',
      xid: 0x8e1e123d,
      command: 1,
      groupType: 0,
      groupId: 77,
      buckets: [
        {
          weight: 0,
          watchPort: 0xffffffff,
          watchGroup: 0xffffffff,
          actions: [{ type: 'OUTPUT', port: 2, maxLen: 0xffe5 }],
        },
      ],
    },
  },
  {
    source:
      'ovs31-probe-malformed.txt: OVS answer to FLOW_MOD with two APPLY_ACTIONS (header only)',
    hex: '04010018 00001010 ffff 0a28 4f4e4600 04140008 00001010',
    msg: {
      type: 'ERROR',
      xid: 0x1010,
      errType: 0xffff,
      code: 2600,
      experimenter: 0x4f4e4600,
      data: Buffer.from('0414000800001010', 'hex'),
    },
  },
];

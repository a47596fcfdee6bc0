/**
 * The error table against OpenFlow 1.3.5's list (reference section 6) and OVS's ONF codes, and
 * encodeErrorReply's layout and data rules.
 */
import t from 'tap';
import {
  OFP_ERRORS,
  OfpError,
  encodeErrorReply,
  errorNameOf,
  type OfpErrorName,
} from '../../../openflow/errors.js';
import { decodeMessage } from '../../../openflow/messages.js';

/** OpenFlow 1.3.5 codes per type, in code order (from the spec's enums). */
const SPEC: Record<number, string[]> = {
  0: ['OFPHFC_INCOMPATIBLE', 'OFPHFC_EPERM'],
  1: [
    'OFPBRC_BAD_VERSION',
    'OFPBRC_BAD_TYPE',
    'OFPBRC_BAD_MULTIPART',
    'OFPBRC_BAD_EXPERIMENTER',
    'OFPBRC_BAD_EXP_TYPE',
    'OFPBRC_EPERM',
    'OFPBRC_BAD_LEN',
    'OFPBRC_BUFFER_EMPTY',
    'OFPBRC_BUFFER_UNKNOWN',
    'OFPBRC_BAD_TABLE_ID',
    'OFPBRC_IS_SLAVE',
    'OFPBRC_BAD_PORT',
    'OFPBRC_BAD_PACKET',
    'OFPBRC_MULTIPART_BUFFER_OVERFLOW',
  ],
  2: [
    'OFPBAC_BAD_TYPE',
    'OFPBAC_BAD_LEN',
    'OFPBAC_BAD_EXPERIMENTER',
    'OFPBAC_BAD_EXP_TYPE',
    'OFPBAC_BAD_OUT_PORT',
    'OFPBAC_BAD_ARGUMENT',
    'OFPBAC_EPERM',
    'OFPBAC_TOO_MANY',
    'OFPBAC_BAD_QUEUE',
    'OFPBAC_BAD_OUT_GROUP',
    'OFPBAC_MATCH_INCONSISTENT',
    'OFPBAC_UNSUPPORTED_ORDER',
    'OFPBAC_BAD_TAG',
    'OFPBAC_BAD_SET_TYPE',
    'OFPBAC_BAD_SET_LEN',
    'OFPBAC_BAD_SET_ARGUMENT',
  ],
  3: [
    'OFPBIC_UNKNOWN_INST',
    'OFPBIC_UNSUP_INST',
    'OFPBIC_BAD_TABLE_ID',
    'OFPBIC_UNSUP_METADATA',
    'OFPBIC_UNSUP_METADATA_MASK',
    'OFPBIC_BAD_EXPERIMENTER',
    'OFPBIC_BAD_EXP_TYPE',
    'OFPBIC_BAD_LEN',
    'OFPBIC_EPERM',
  ],
  4: [
    'OFPBMC_BAD_TYPE',
    'OFPBMC_BAD_LEN',
    'OFPBMC_BAD_TAG',
    'OFPBMC_BAD_DL_ADDR_MASK',
    'OFPBMC_BAD_NW_ADDR_MASK',
    'OFPBMC_BAD_WILDCARDS',
    'OFPBMC_BAD_FIELD',
    'OFPBMC_BAD_VALUE',
    'OFPBMC_BAD_MASK',
    'OFPBMC_BAD_PREREQ',
    'OFPBMC_DUP_FIELD',
    'OFPBMC_EPERM',
  ],
  5: [
    'OFPFMFC_UNKNOWN',
    'OFPFMFC_TABLE_FULL',
    'OFPFMFC_BAD_TABLE_ID',
    'OFPFMFC_OVERLAP',
    'OFPFMFC_EPERM',
    'OFPFMFC_BAD_TIMEOUT',
    'OFPFMFC_BAD_COMMAND',
    'OFPFMFC_BAD_FLAGS',
  ],
  6: [
    'OFPGMFC_GROUP_EXISTS',
    'OFPGMFC_INVALID_GROUP',
    'OFPGMFC_WEIGHT_UNSUPPORTED',
    'OFPGMFC_OUT_OF_GROUPS',
    'OFPGMFC_OUT_OF_BUCKETS',
    'OFPGMFC_CHAINING_UNSUPPORTED',
    'OFPGMFC_WATCH_UNSUPPORTED',
    'OFPGMFC_LOOP',
    'OFPGMFC_UNKNOWN_GROUP',
    'OFPGMFC_CHAINED_GROUP',
    'OFPGMFC_BAD_TYPE',
    'OFPGMFC_BAD_COMMAND',
    'OFPGMFC_BAD_BUCKET',
    'OFPGMFC_BAD_WATCH',
    'OFPGMFC_EPERM',
  ],
  7: [
    'OFPPMFC_BAD_PORT',
    'OFPPMFC_BAD_HW_ADDR',
    'OFPPMFC_BAD_CONFIG',
    'OFPPMFC_BAD_ADVERTISE',
    'OFPPMFC_EPERM',
  ],
  8: ['OFPTMFC_BAD_TABLE', 'OFPTMFC_BAD_CONFIG', 'OFPTMFC_EPERM'],
  9: ['OFPQOFC_BAD_PORT', 'OFPQOFC_BAD_QUEUE', 'OFPQOFC_EPERM'],
  10: ['OFPSCFC_BAD_FLAGS', 'OFPSCFC_BAD_LEN', 'OFPSCFC_EPERM'],
  11: ['OFPRRFC_STALE', 'OFPRRFC_UNSUP', 'OFPRRFC_BAD_ROLE'],
  12: [
    'OFPMMFC_UNKNOWN',
    'OFPMMFC_METER_EXISTS',
    'OFPMMFC_INVALID_METER',
    'OFPMMFC_UNKNOWN_METER',
    'OFPMMFC_BAD_COMMAND',
    'OFPMMFC_BAD_FLAGS',
    'OFPMMFC_BAD_RATE',
    'OFPMMFC_BAD_BURST',
    'OFPMMFC_BAD_BAND',
    'OFPMMFC_BAD_BAND_VALUE',
    'OFPMMFC_OUT_OF_METERS',
    'OFPMMFC_OUT_OF_BANDS',
  ],
  13: [
    'OFPTFFC_BAD_TABLE',
    'OFPTFFC_BAD_METADATA',
    'OFPTFFC_BAD_TYPE',
    'OFPTFFC_BAD_LEN',
    'OFPTFFC_BAD_ARGUMENT',
    'OFPTFFC_EPERM',
  ],
};

t.test('every OpenFlow 1.3 type/code is in the table with its spec value', (t) => {
  let n = 0;
  for (const [type, names] of Object.entries(SPEC)) {
    names.forEach((name, code) => {
      const row = (OFP_ERRORS as Record<string, { type: number; code: number }>)[name];
      t.same(row && [row.type, row.code], [Number(type), code], name);
      t.equal(errorNameOf(Number(type), code), name, `reverse lookup ${name}`);
      n++;
    });
  }
  t.equal(n, 111, 'all 111 standard codes of OpenFlow 1.3.5');
  t.end();
});

t.test('ONF experimenter errors as OVS sends them in 1.3', (t) => {
  const onf: [OfpErrorName, number][] = [
    ['OFPBIC_DUP_INST', 2600],
    ['OFPBAC_BAD_SET_MASK', 4250],
    ['OFPBRC_MULTIPART_REQUEST_TIMEOUT', 2640],
    ['OFPBFC_UNKNOWN', 2300],
    ['OFPBFC_BAD_ID', 2302],
    ['OFPBFC_MSG_FAILED', 2313],
    ['OFPBFC_BUNDLE_IN_PROGRESS', 2315],
  ];
  for (const [sym, code] of onf) {
    const e = new OfpError(sym);
    t.same([e.type, e.code, e.experimenter], [0xffff, code, 0x4f4e4600], sym);
    t.equal(errorNameOf(0xffff, code, 0x4f4e4600), sym, `reverse ${sym}`);
  }
  t.equal(errorNameOf(0xffff, 2600, 0x2320), undefined, 'other experimenter is unknown');
  t.end();
});

t.test('OfpError carries symbol, wire code and optional data', (t) => {
  const e = new OfpError('OFPBMC_BAD_PREREQ', 'tcp_dst needs ip_proto');
  t.ok(e instanceof Error);
  t.equal(e.name, 'OfpError');
  t.equal(e.message, 'OFPBMC_BAD_PREREQ: tcp_dst needs ip_proto');
  t.same([e.type, e.code, e.experimenter], [4, 9, undefined]);
  t.end();
});

t.test('encodeErrorReply echoes the whole offending message', (t) => {
  const req = new Uint8Array(200);
  req.set([4, 14, 0, 200, 0, 0, 0x10, 0x07]);
  const out = encodeErrorReply(new OfpError('OFPBMC_BAD_FIELD'), req);
  t.equal(out.length, 212);
  const m = decodeMessage(out);
  if (m.type !== 'ERROR') throw new Error('not an error');
  t.same([m.xid, m.errType, m.code, m.data.length], [0x1007, 4, 6, 200]);
  t.same(Array.from(m.data.subarray(0, 8)), Array.from(req.subarray(0, 8)));
  const short = encodeErrorReply(
    new OfpError('OFPBRC_BAD_TYPE'),
    new Uint8Array([4, 99, 0, 8, 0, 0, 0, 2]),
  );
  t.equal(short.length, 20, 'a short message is echoed whole');
  const capped = encodeErrorReply(new OfpError('OFPBRC_BAD_LEN'), req, { maxData: 10 });
  t.equal(capped.length, 12 + 64, 'never less than 64 bytes even when capped lower');
  const exp = encodeErrorReply(new OfpError('OFPBIC_DUP_INST'), req.subarray(0, 104));
  t.equal(exp.length, 120, 'experimenter error header is 16 bytes (OVS: 120 for 104)');
  const dv = new DataView(exp.buffer);
  t.same([dv.getUint16(8), dv.getUint16(10), dv.getUint32(12)], [0xffff, 2600, 0x4f4e4600]);
  const v5 = encodeErrorReply(
    new OfpError('OFPBRC_BAD_VERSION'),
    new Uint8Array([5, 5, 0, 8, 0, 0, 0x20, 1]),
    {
      version: 5,
    },
  );
  t.same(
    Array.from(v5.subarray(0, 8)),
    [5, 1, 0, 20, 0, 0, 0x20, 1],
    'peer version byte, OVS style',
  );
  const hello = encodeErrorReply(
    new OfpError('OFPHFC_INCOMPATIBLE', undefined, Buffer.from('no common version')),
    new Uint8Array([1, 0, 0, 8, 0, 0, 0, 9]),
    { version: 1 },
  );
  t.equal(Buffer.from(hello.subarray(12)).toString(), 'no common version', 'own payload');
  t.end();
});

/**
 * Every malformed or rejected input of reference section 4 (ovs31-probe-malformed.txt) that the
 * codec can judge without switch state, built as raw bytes, maps to OVS 3.1's error. Inputs OVS
 * accepts (its quirks) must decode. decodeMessage covers the wire format; validateMessage the
 * stateless cross-field checks.
 */
import t, { type Test } from 'tap';
import { decodeMessage, type OfpMessage } from '../../../openflow/messages.js';
import { validateMessage } from '../../../openflow/validate.js';
import { OfpError, OFP_ERRORS, type OfpErrorName } from '../../../openflow/errors.js';
import { fromHex } from '../../../openflow/print.js';

/** Builds a message from a type and body hex, fixing the length field. */
function msg(type: number, bodyHex: string, xid = 0x1000, version = 4): Uint8Array {
  const body = fromHex(bodyHex);
  const out = new Uint8Array(8 + body.length);
  const v = new DataView(out.buffer);
  v.setUint8(0, version);
  v.setUint8(1, type);
  v.setUint16(2, out.length);
  v.setUint32(4, xid);
  out.set(body, 8);
  return out;
}

const pad8 = (hex: string): string => {
  const h = hex.replace(/\s+/g, '');
  const n = h.length / 2;
  return h + '00'.repeat((8 - (n % 8)) % 8);
};

/** An OXM match from OXM TLV hex (type OXM, length, padding). */
function match(oxms: string): string {
  const h = oxms.replace(/\s+/g, '');
  const len = 4 + h.length / 2;
  return pad8('0001' + len.toString(16).padStart(4, '0') + h);
}

/** FLOW_MOD body: ADD to `table`, priority 0x8000, NO_BUFFER, then match and instruction hex. */
function flowMod(matchHex: string, instrHex = '', table = 0, command = 0): string {
  return (
    '0000000000000000 0000000000000000' +
    table.toString(16).padStart(2, '0') +
    command.toString(16).padStart(2, '0') +
    '0000 0000 8000 ffffffff ffffffff ffffffff 0000 0000' +
    matchHex +
    instrHex
  );
}

/** An instruction TLV. */
const inst = (type: number, bodyHex: string): string => {
  const h = bodyHex.replace(/\s+/g, '');
  return type.toString(16).padStart(4, '0') + (4 + h.length / 2).toString(16).padStart(4, '0') + h;
};
const apply = (actionsHex: string): string => inst(4, '00000000' + actionsHex);
const output = (port: number): string =>
  '0000 0010' + port.toString(16).padStart(8, '0') + 'ffe5 000000000000';

const FLOW_MOD = 14;
const OXM_IN_PORT_1 = '80000004 00000001';
const OXM_ETH_IP = '80000a02 0800';

function expectError(
  t: Test,
  bytes: Uint8Array,
  sym: OfpErrorName,
  what: string,
  validate = true,
): void {
  try {
    const m = decodeMessage(bytes);
    if (validate) validateMessage(m);
    t.fail(`${what}: expected ${sym}, got none`);
  } catch (e) {
    if (!(e instanceof OfpError)) {
      t.fail(`${what}: threw non-OfpError ${String(e)}`);
      return;
    }
    t.equal(e.symbol, sym, what);
    const c = OFP_ERRORS[sym];
    t.same([e.type, e.code], [c.type, c.code], `${what}: wire code`);
  }
}

function expectOk(t: Test, bytes: Uint8Array, what: string): OfpMessage | undefined {
  try {
    const m = decodeMessage(bytes);
    validateMessage(m);
    t.pass(what);
    return m;
  } catch (e) {
    t.fail(`${what}: ${String(e)}`);
    return undefined;
  }
}

t.test('header-level errors', (t) => {
  expectError(t, msg(5, '', 0x2001, 5), 'OFPBRC_BAD_VERSION', 'features request v0x05');
  expectError(t, msg(99, ''), 'OFPBRC_BAD_TYPE', 'type 99');
  expectError(t, msg(5, '00000000'), 'OFPBRC_BAD_LEN', 'features request len 12');
  expectError(t, msg(18, '0077 0000 00000000'), 'OFPBRC_BAD_MULTIPART', 'multipart type 0x77');
  expectError(t, msg(18, '0000 0000'), 'OFPBRC_BAD_LEN', 'multipart desc len 12');
  expectError(t, fromHex('0405'), 'OFPBRC_BAD_LEN', 'short header');
  const lying = msg(2, '01020304');
  lying[3] = 0x20;
  expectError(t, lying, 'OFPBRC_BAD_LEN', 'length field disagrees with bytes');
  const exp = decodeMessage(msg(4, '00abcdef 00000001'));
  t.equal(exp.type, 'EXPERIMENTER', 'unknown experimenter decodes');
  expectError(t, msg(4, '00abcdef 00000001'), 'OFPBRC_BAD_EXPERIMENTER', 'EXPERIMENTER 0xabcdef');
  expectError(
    t,
    msg(4, '00002320 000000ff'),
    'OFPBRC_BAD_EXP_TYPE',
    'NX experimenter, subtype 255',
  );
  expectError(
    t,
    msg(18, 'ffff 0000 00000000 00002320 00000063'),
    'OFPBRC_BAD_EXP_TYPE',
    'NX experimenter multipart, unknown subtype',
  );
  t.end();
});

t.test('flow-mod fixed part', (t) => {
  expectError(t, msg(FLOW_MOD, '00'.repeat(32)), 'OFPBRC_BAD_LEN', 'flow mod len 40');
  expectError(t, msg(FLOW_MOD, flowMod(match(''), '', 0, 9)), 'OFPFMFC_BAD_COMMAND', 'command 9');
  expectError(
    t,
    msg(FLOW_MOD, flowMod(match(''), '', 255)),
    'OFPFMFC_BAD_TABLE_ID',
    'ADD table 255',
  );
  expectOk(t, msg(FLOW_MOD, flowMod(match(''), '', 255, 3)), 'DELETE table 255 is fine');
  expectOk(t, msg(FLOW_MOD, flowMod(match(''), '', 200)), 'ADD table 200');
  t.end();
});

t.test('match errors in OVS order', (t) => {
  const fm = (oxms: string, instr = ''): Uint8Array => msg(FLOW_MOD, flowMod(match(oxms), instr));
  expectError(t, fm('8000 7804 00000001'), 'OFPBMC_BAD_FIELD', 'OXM field 60');
  expectError(t, fm('80000002 0001'), 'OFPBMC_BAD_FIELD', 'in_port with length 2');
  expectError(t, fm(OXM_IN_PORT_1 + OXM_IN_PORT_1), 'OFPBMC_DUP_FIELD', 'in_port twice');
  expectError(t, fm('80000b04 0800 0fff'), 'OFPBMC_BAD_MASK', 'eth_type with mask');
  expectOk(t, fm('80000b04 0800 ffff'), 'eth_type with all-ones mask (OVS accepts)');
  expectError(
    t,
    fm(OXM_ETH_IP + '80001708 0a000001 ffffff00'),
    'OFPBMC_BAD_WILDCARDS',
    'ipv4_src 10.0.0.1/255.255.255.0',
  );
  expectError(t, fm('80001804 0a000001'), 'OFPBMC_BAD_PREREQ', 'ipv4_dst without eth_type');
  expectError(t, fm(OXM_ETH_IP + '80001c02 0050'), 'OFPBMC_BAD_PREREQ', 'tcp_dst w/o ip_proto');
  expectError(t, fm('80000e01 03'), 'OFPBMC_BAD_PREREQ', 'vlan_pcp w/o vlan_vid');
  expectError(
    t,
    fm('80001c02 0050' + OXM_ETH_IP + '80001401 06'),
    'OFPBMC_BAD_PREREQ',
    'prerequisite after the field',
  );
  expectOk(t, fm('80000c02 100a 80000e01 03'), 'vlan_vid=0x100a vlan_pcp=3');
  expectOk(t, fm('80000004 00000000'), 'in_port=0 (OVS accepts)');
  expectError(t, fm('80000c02 2000'), 'OFPBMC_BAD_VALUE', 'vlan_vid beyond 13 bits');
  expectError(t, fm('80000004 0000ff10'), 'OFPBMC_BAD_VALUE', 'in_port beyond OVS port space');
  expectOk(t, fm('80000004 fffffffe'), 'in_port LOCAL');
  expectError(t, fm('80000004 0000'), 'OFPBMC_BAD_LEN', 'OXM payload past the match');
  expectError(
    t,
    msg(FLOW_MOD, flowMod('0000 0004 00000000')),
    'OFPBMC_BAD_LEN',
    'match type 0 (STANDARD) → BAD_LEN as OVS',
  );
  expectError(t, msg(FLOW_MOD, flowMod('0002 0004 00000000')), 'OFPBMC_BAD_TYPE', 'match type 2');
  expectError(t, fm('00010004 00000001'), 'OFPBMC_BAD_FIELD', 'NXM field in a match');
  t.end();
});

t.test('instruction errors', (t) => {
  const fi = (instr: string, table = 0): Uint8Array =>
    msg(FLOW_MOD, flowMod(match(''), instr, table));
  expectError(t, fi(inst(0x55, '00000000')), 'OFPBIC_UNKNOWN_INST', 'instruction 0x55');
  expectError(t, fi(apply(output(1)) + apply(output(2))), 'OFPBIC_DUP_INST', 'two APPLY_ACTIONS');
  const dup = new OfpError('OFPBIC_DUP_INST');
  t.same(
    [dup.type, dup.code, dup.experimenter],
    [0xffff, 2600, 0x4f4e4600],
    'DUP_INST is ONF 2600',
  );
  expectError(t, fi(inst(1, '00000000')), 'OFPBIC_BAD_TABLE_ID', 'GOTO_TABLE 0 from table 0');
  expectError(t, fi(inst(1, '03000000'), 5), 'OFPBIC_BAD_TABLE_ID', 'GOTO lower table');
  expectOk(t, fi(inst(1, 'ff000000')), 'GOTO_TABLE 255 (OVS accepts)');
  expectOk(t, fi(inst(2, '00000000' + '0000000000000001' + 'ffffffffffffffff')), 'WRITE_METADATA');
  expectError(
    t,
    fi(inst(1, '01000000 00000000 00000000')),
    'OFPBIC_BAD_LEN',
    'GOTO_TABLE of length 16',
  );
  t.end();
});

t.test('action errors', (t) => {
  const fa = (actions: string, oxms = ''): Uint8Array =>
    msg(FLOW_MOD, flowMod(match(oxms), apply(actions)));
  expectError(t, fa('0033 0008 00000000'), 'OFPBAC_BAD_TYPE', 'action type 0x33');
  // OVS: the 76-byte message is not a multiple of 8 → BAD_REQUEST/BAD_LEN (its quirk)...
  const odd = msg(
    FLOW_MOD,
    flowMod(match(''), inst(4, '00000000' + '0000 000c 00000001 ffe5 0000')),
  );
  expectError(t, odd, 'OFPBRC_BAD_LEN', 'OUTPUT len 12 (unaligned message)');
  // ...and an aligned list holding a 12-byte OUTPUT is the spec's BAD_ACTION/BAD_LEN.
  expectError(
    t,
    fa('0000 000c 00000001 ffe5 0000' + '00000000'),
    'OFPBAC_BAD_LEN',
    'OUTPUT len 12 (aligned)',
  );
  expectOk(t, fa(output(0)), 'OUTPUT port 0 (OVS accepts)');
  expectOk(t, fa(output(99)), 'OUTPUT 99');
  expectError(t, fa(output(0xffffffff)), 'OFPBAC_BAD_OUT_PORT', 'OUTPUT ANY');
  expectError(t, fa(output(0xffffff00)), 'OFPBAC_BAD_OUT_PORT', 'OUTPUT 0xffffff00');
  expectError(t, fa(output(0xfff0)), 'OFPBAC_BAD_OUT_PORT', 'OUTPUT 0xfff0 (> OVS max port)');
  expectOk(t, fa(output(0xfeff)), 'OUTPUT 0xfeff');
  expectError(
    t,
    fa('0019 0010 80001604 0a000001 00000000'),
    'OFPBAC_MATCH_INCONSISTENT',
    'SET_FIELD ipv4_src with empty match',
  );
  expectOk(
    t,
    fa('0019 0010 80001604 0a000001 00000000', OXM_ETH_IP),
    'SET_FIELD ipv4_src, IP match',
  );
  expectError(t, fa('0012 0008 00000000'), 'OFPBAC_MATCH_INCONSISTENT', 'POP_VLAN, empty match');
  expectOk(t, fa('0012 0008 00000000', '80000d04 1000 1000'), 'POP_VLAN with vlan_vid=present');
  expectOk(t, fa('0011 0008 8100 0000 0012 0008 00000000'), 'PUSH_VLAN then POP_VLAN');
  expectError(
    t,
    fa('0019 0018 80001708 0a000001 ffffffff 00000000 00000000'),
    'OFPBAC_BAD_SET_MASK',
    'SET_FIELD with has-mask bit',
  );
  const sm = new OfpError('OFPBAC_BAD_SET_MASK');
  t.same(
    [sm.type, sm.code, sm.experimenter],
    [0xffff, 4250, 0x4f4e4600],
    'BAD_SET_MASK is ONF 4250',
  );
  expectError(t, fa('0011 0008 0800 0000'), 'OFPBAC_BAD_ARGUMENT', 'PUSH_VLAN 0x0800');
  expectError(
    t,
    fa('0019 0010 80000004 00000001 00000000'),
    'OFPBAC_BAD_SET_ARGUMENT',
    'set in_port',
  );
  expectError(
    t,
    fa('0019 0010 8000 7804 00000001 00000000'),
    'OFPBAC_BAD_SET_TYPE',
    'set field 60',
  );
  expectError(t, fa('0019 0008 80000004'), 'OFPBAC_BAD_SET_LEN', 'SET_FIELD value cut off');
  expectOk(t, fa('0015 0008 00000007' + output(1)), 'SET_QUEUE 7 + OUTPUT 1');
  expectError(t, fa('ffff 0010 00002320 0026 000000000000'), 'OFPBAC_BAD_EXP_TYPE', 'NX action');
  expectError(t, fa('ffff 0008 00abcdef'), 'OFPBAC_BAD_EXPERIMENTER', 'unknown vendor action');
  t.end();
});

t.test('packet-out, group-mod, meter-mod, role', (t) => {
  expectError(
    t,
    msg(13, 'ffffffff fffffffd 0040 000000000000'),
    'OFPBRC_BAD_LEN',
    'PACKET_OUT actions_len > rest',
  );
  expectError(
    t,
    msg(13, 'ffffffff 0000fff1 0010 000000000000' + output(1)),
    'OFPBAC_BAD_OUT_PORT',
    'PACKET_OUT in_port 0xfff1 (OVS quirk)',
  );
  expectError(
    t,
    msg(13, 'ffffffff fffffffb 0010 000000000000' + output(1)),
    'OFPBRC_BAD_PORT',
    'PACKET_OUT in_port FLOOD',
  );
  expectOk(t, msg(13, 'ffffffff ffffffff 0010 000000000000' + output(0xfffffff9)), 'in_port ANY');
  expectOk(
    t,
    msg(13, 'ffffffff fffffffd 0010 000000000000' + output(0xfffffff9)),
    'CONTROLLER→TABLE',
  );
  const bucket = (watch = 'ffffffff ffffffff'): string =>
    '0020 0000 ' + watch + ' 00000000' + output(2);
  expectError(t, msg(15, '0000 00 00 ffffffff'), 'OFPGMFC_INVALID_GROUP', 'GROUP ADD id ANY');
  expectError(t, msg(15, '0000 09 00 00000001'), 'OFPGMFC_BAD_TYPE', 'GROUP ADD type 9');
  expectError(
    t,
    msg(15, '0000 02 00 00000001' + bucket() + bucket()),
    'OFPGMFC_INVALID_GROUP',
    'INDIRECT 2 buckets',
  );
  expectError(t, msg(15, '0009 00 00 00000001'), 'OFPGMFC_BAD_COMMAND', 'GROUP command 9');
  expectError(
    t,
    msg(15, '0000 03 00 00000001' + bucket()),
    'OFPGMFC_INVALID_GROUP',
    'FF without watch',
  );
  expectOk(t, msg(15, '0000 03 00 00000001' + bucket('00000001 ffffffff')), 'FF watching port 1');
  expectOk(t, msg(15, '0002 00 00 000010f7'), 'GROUP DELETE unknown id (no error here)');
  expectError(
    t,
    msg(15, '0000 00 00 00000001 0008 0000 ffffffff ffffffff 00000000'),
    'OFPGMFC_BAD_BUCKET',
    'bucket length 8',
  );
  const band = '0001 0010 00002710 00000000 00000000';
  expectError(t, msg(29, '0000 0001 00000000' + band), 'OFPMMFC_INVALID_METER', 'METER id 0');
  expectError(t, msg(29, '0000 0001 ffff0001' + band), 'OFPMMFC_INVALID_METER', 'METER 0xffff0001');
  expectError(t, msg(29, '0000 0003 00000001' + band), 'OFPMMFC_BAD_FLAGS', 'KBPS|PKTPS');
  expectError(
    t,
    msg(29, '0000 0001 00000001 0001 0010 00000000 00000000 00000000'),
    'OFPMMFC_BAD_RATE',
    'rate 0',
  );
  expectError(
    t,
    msg(29, '0000 0001 00000001 0009 0010 00000001 00000000 00000000'),
    'OFPMMFC_BAD_BAND',
    'band type 9',
  );
  expectError(t, msg(29, '0009 0001 00000001' + band), 'OFPMMFC_BAD_COMMAND', 'meter command 9');
  expectOk(t, msg(29, '0002 0000 000011c1'), 'METER DELETE unknown');
  expectError(t, msg(24, '00000007 00000000 0000000000000000'), 'OFPRRFC_BAD_ROLE', 'role 7');
  expectOk(t, msg(24, '00000002 00000000 000000000000000a'), 'role MASTER gen 10');
  t.end();
});

t.test('table features and bundles', (t) => {
  const tf = (props: string): string => {
    const p = props.replace(/\s+/g, '');
    const len = 64 + p.length / 2;
    return (
      len.toString(16).padStart(4, '0') +
      '00 0000000000' +
      '00'.repeat(32) +
      'ffffffffffffffff ffffffffffffffff 00000000 000f4240' +
      p
    );
  };
  expectOk(t, msg(18, '000c 0000 00000000' + tf('0002 0007 010203 00')), 'next-tables property');
  expectError(
    t,
    msg(18, '000c 0000 00000000' + tf('0009 0004 00000000')),
    'OFPTFFC_BAD_TYPE',
    'property 9',
  );
  expectError(
    t,
    msg(18, '000c 0000 00000000' + tf('0002 0040 01020300')),
    'OFPTFFC_BAD_LEN',
    'property too long',
  );
  const ctrl = (type: string): Uint8Array => msg(4, '4f4e4600 000008fc 00000001' + type + '0003');
  const open = decodeMessage(ctrl('0000'));
  t.equal(open.type, 'BUNDLE_CONTROL');
  expectError(t, ctrl('0009'), 'OFPBFC_BAD_TYPE', 'bundle control type 9');
  const addBad = msg(4, '4f4e4600 000008fd 00000001 0000 0003 04140040 00000001');
  expectError(t, addBad, 'OFPBFC_MSG_BAD_LEN', 'bundle add inner length past end');
  const add = (inner: string, xid = 0x1000): Uint8Array =>
    msg(4, '4f4e4600 000008fd 00000001 0000 0003' + inner, xid);
  expectError(t, add('04140008 00000001'), 'OFPBFC_MSG_BAD_XID', 'inner xid differs');
  expectError(t, add('04140008 00001000'), 'OFPBFC_MSG_UNSUP', 'barrier in a bundle');
  expectError(t, add('05100008 00001000'), 'OFPBFC_MSG_UNSUP', 'inner version 5');
  const okAdd = expectOk(
    t,
    add(
      '04100028 00001000 00000001 00000000 aabbccddee01 0000 00000001 00000001 00000000 00000000',
    ),
    'PORT_MOD in a bundle',
  );
  t.equal(okAdd?.type, 'BUNDLE_ADD_MESSAGE');
  t.end();
});

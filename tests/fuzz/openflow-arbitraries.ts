/**
 * fast-check arbitraries for the OpenFlow codec, built from the codec's own descriptor tables so
 * that every OXM field, action, instruction, message type and multipart type is generated.
 * Generated values are valid for the decoder (prerequisites come first, masked values have no
 * bits outside their mask, experimenter payloads are multiples of 8 so padding round-trips).
 */
import fc from 'fast-check';
import { ACTIONS, type Action } from '../../openflow/actions.js';
import { INSTRUCTIONS, type Instruction } from '../../openflow/instructions.js';
import { OXM_BY_NAME, OXM_FIELDS, type OxmEntry, type OxmFieldDesc } from '../../openflow/oxm.js';
import type { OfpMessage } from '../../openflow/messages.js';
import type { MultipartReplyBody, MultipartRequestBody } from '../../openflow/multipart.js';
import type { Bucket, MeterBand, Port, QueueProp } from '../../openflow/structs.js';
import type { TableFeatureProp, TableFeatures } from '../../openflow/table-features.js';
import { OFPMP, OFPTFPT, ONF_BCT } from '../../openflow/constants.js';

const uint = (bits: number): fc.Arbitrary<number> =>
  fc.bigInt({ min: 0n, max: (1n << BigInt(bits)) - 1n }).map(Number);
/** Unsigned 8/16/32-bit numbers and 64-bit bigints. */
export const u8 = uint(8);
export const u16 = uint(16);
export const u32 = uint(32);
export const u48 = uint(48);
export const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const bytes8 = (max = 4): fc.Arbitrary<Uint8Array> =>
  fc.integer({ min: 0, max }).chain((n) => fc.uint8Array({ minLength: n * 8, maxLength: n * 8 }));
const anyBytes = fc.uint8Array({ maxLength: 64 });
const str = (max: number): fc.Arbitrary<string> =>
  fc.string({
    unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_. '),
    maxLength: max,
  });

/** A value of a field's width and significant bits (in_port avoids the invalid reserved gap). */
export function fieldValue(d: OxmFieldDesc): fc.Arbitrary<number | bigint> {
  const big = fc.bigInt({ min: 0n, max: (1n << BigInt(d.bits)) - 1n });
  const arb = d.kind === 'bigint' ? big : big.map(Number);
  if (d.field <= 1) {
    return (arb as fc.Arbitrary<number>).filter((v) => v < 0xff00 || v >= 0xffffff00);
  }
  return arb;
}

/** An entry for a field, masked or not (masks only on maskable fields, value within mask). */
export function entryFor(d: OxmFieldDesc): fc.Arbitrary<OxmEntry> {
  const plain = fieldValue(d).map((value): OxmEntry => ({ field: d.name, value }));
  if (!d.maskable) return plain;
  const masked = fc.tuple(fieldValue(d), fieldValue(d)).map(([v, m]): OxmEntry => {
    if (typeof v === 'bigint') return { field: d.name, value: v & (m as bigint), mask: m };
    return { field: d.name, value: Number(BigInt(v) & BigInt(m)), mask: m };
  });
  return fc.oneof(plain, masked);
}

const BASES = [
  { eth: undefined, proto: undefined },
  { eth: 0x0800, proto: undefined },
  { eth: 0x0800, proto: 6 },
  { eth: 0x0800, proto: 17 },
  { eth: 0x0800, proto: 132 },
  { eth: 0x0800, proto: 1 },
  { eth: 0x86dd, proto: 58 },
  { eth: 0x86dd, proto: 6 },
  { eth: 0x0806, proto: undefined },
  { eth: 0x8847, proto: undefined },
  { eth: 0x88e7, proto: undefined },
];

/**
 * A valid match: a base context (in_port, VLAN, eth_type, ip_proto, icmpv6_type) followed by a
 * random subset of the fields whose prerequisites that context meets, in random order.
 */
export const matchArb: fc.Arbitrary<OxmEntry[]> = fc
  .record({
    base: fc.constantFrom(...BASES),
    inPort: fc.boolean(),
    vlan: fc.boolean(),
    nd: fc.constantFrom(undefined, 135, 136),
  })
  .chain(({ base, inPort, vlan, nd }) => {
    const head: OxmEntry[] = [];
    if (inPort) head.push({ field: 'in_port', value: 7 });
    if (vlan) head.push({ field: 'vlan_vid', value: 0x1000 | 5 });
    if (base.eth !== undefined) head.push({ field: 'eth_type', value: base.eth });
    if (base.proto !== undefined) head.push({ field: 'ip_proto', value: base.proto });
    const icmp6 = base.proto === 58 ? nd : undefined;
    if (icmp6 !== undefined) head.push({ field: 'icmpv6_type', value: icmp6 });
    const ctx = new Map(head.map((e) => [e.field, e.value]));
    const candidates = OXM_FIELDS.filter(
      (d) =>
        !ctx.has(d.name) &&
        d.prerequisites.every((p) => {
          const v = ctx.get(p.field);
          if (v === undefined) return false;
          if (p.values) return p.values.includes(v as number);
          if (p.bits !== undefined) return ((v as number) & p.bits) === p.bits;
          return true;
        }),
    );
    return fc
      .shuffledSubarray(candidates, { maxLength: 6 })
      .chain((ds) => fc.tuple(...ds.map(entryFor)))
      .map((rest) => [...head, ...rest]);
  });

const WRITABLE = OXM_FIELDS.filter((d) => d.writable);

/** One arbitrary per action descriptor. */
export const ACTION_ARBS: Record<Action['type'], fc.Arbitrary<Action>> = {
  OUTPUT: fc
    .record({
      port: u32.filter((p) => p < 0xff00 || (p >= 0xfffffff8 && p !== 0xffffffff)),
      maxLen: u16,
    })
    .map((x) => ({ type: 'OUTPUT', ...x })),
  COPY_TTL_OUT: fc.constant({ type: 'COPY_TTL_OUT' }),
  COPY_TTL_IN: fc.constant({ type: 'COPY_TTL_IN' }),
  SET_MPLS_TTL: u8.map((ttl) => ({ type: 'SET_MPLS_TTL', ttl })),
  DEC_MPLS_TTL: fc.constant({ type: 'DEC_MPLS_TTL' }),
  PUSH_VLAN: fc.constantFrom(0x8100, 0x88a8).map((ethertype) => ({ type: 'PUSH_VLAN', ethertype })),
  POP_VLAN: fc.constant({ type: 'POP_VLAN' }),
  PUSH_MPLS: fc.constantFrom(0x8847, 0x8848).map((ethertype) => ({ type: 'PUSH_MPLS', ethertype })),
  POP_MPLS: u16.map((ethertype) => ({ type: 'POP_MPLS', ethertype })),
  SET_QUEUE: u32.map((queueId) => ({ type: 'SET_QUEUE', queueId })),
  GROUP: u32.map((groupId) => ({ type: 'GROUP', groupId })),
  SET_NW_TTL: u8.map((ttl) => ({ type: 'SET_NW_TTL', ttl })),
  DEC_NW_TTL: fc.constant({ type: 'DEC_NW_TTL' }),
  SET_FIELD: fc
    .constantFrom(...WRITABLE)
    .chain((d) =>
      fieldValue(d).map((value): Action => ({ type: 'SET_FIELD', field: d.name, value })),
    ),
  PUSH_PBB: fc.constant({ type: 'PUSH_PBB', ethertype: 0x88e7 }),
  POP_PBB: fc.constant({ type: 'POP_PBB' }),
  EXPERIMENTER: fc
    .record({ experimenter: u32, data: bytes8() })
    .map((x) => ({ type: 'EXPERIMENTER', ...x })),
};
/** Any action. */
export const actionArb = fc.oneof(...ACTIONS.map((d) => ACTION_ARBS[d.name]));
/** An action list. */
export const actionsArb = fc.array(actionArb, { maxLength: 5 });

/** One arbitrary per instruction descriptor. */
export const INSTRUCTION_ARBS: Record<Instruction['type'], fc.Arbitrary<Instruction>> = {
  GOTO_TABLE: u8.map((tableId) => ({ type: 'GOTO_TABLE', tableId })),
  WRITE_METADATA: fc
    .record({ metadata: u64, metadataMask: u64 })
    .map((x) => ({ type: 'WRITE_METADATA', ...x })),
  WRITE_ACTIONS: actionsArb.map((actions) => ({ type: 'WRITE_ACTIONS', actions })),
  APPLY_ACTIONS: actionsArb.map((actions) => ({ type: 'APPLY_ACTIONS', actions })),
  CLEAR_ACTIONS: fc.constant({ type: 'CLEAR_ACTIONS' }),
  METER: u32.map((meterId) => ({ type: 'METER', meterId })),
  EXPERIMENTER: fc
    .record({ experimenter: u32, data: bytes8() })
    .map((x) => ({ type: 'EXPERIMENTER', ...x })),
};
/** An instruction list with each non-experimenter type at most once, in random order. */
export const instructionsArb: fc.Arbitrary<Instruction[]> = fc
  .shuffledSubarray(INSTRUCTIONS.map((d) => d.name))
  .chain((names) => fc.tuple(...names.map((n) => INSTRUCTION_ARBS[n])));

const portArb: fc.Arbitrary<Port> = fc.record({
  portNo: u32,
  hwAddr: u48,
  name: str(15),
  config: u32,
  state: u32,
  curr: u32,
  advertised: u32,
  supported: u32,
  peer: u32,
  currSpeed: u32,
  maxSpeed: u32,
});
const bucketArb: fc.Arbitrary<Bucket> = fc.record({
  weight: u16,
  watchPort: u32,
  watchGroup: u32,
  actions: actionsArb,
});
const bandArb: fc.Arbitrary<MeterBand> = fc.oneof(
  fc.record({ rate: u32, burstSize: u32 }).map((x): MeterBand => ({ type: 'DROP', ...x })),
  fc
    .record({ rate: u32, burstSize: u32, precLevel: u8 })
    .map((x): MeterBand => ({ type: 'DSCP_REMARK', ...x })),
  fc
    .record({ rate: u32, burstSize: u32, experimenter: u32, data: bytes8(2) })
    .map((x): MeterBand => ({ type: 'EXPERIMENTER', ...x })),
);
const queuePropArb: fc.Arbitrary<QueueProp> = fc.oneof(
  u16.map((rate): QueueProp => ({ type: 'MIN_RATE', rate })),
  u16.map((rate): QueueProp => ({ type: 'MAX_RATE', rate })),
  fc
    .record({ experimenter: u32, data: bytes8(2) })
    .map((x): QueueProp => ({ type: 'EXPERIMENTER', ...x })),
);

const oxmIdArb = fc.oneof(
  u32.filter((h) => h >>> 16 !== 0xffff).map((header) => ({ header })),
  fc.record({ header: u32.map((h) => (0xffff0000 | (h & 0xffff)) >>> 0), experimenter: u32 }),
);
const tlvIdArb = fc.record({ type: u16, data: fc.uint8Array({ maxLength: 8 }) });
const PROP_NAMES = Object.keys(OFPTFPT) as (keyof typeof OFPTFPT)[];
const tfPropArb: fc.Arbitrary<TableFeatureProp> = fc.constantFrom(...PROP_NAMES).chain((type) => {
  if (type.startsWith('NEXT_TABLES')) {
    return fc
      .array(u8, { maxLength: 10 })
      .map((tableIds) => ({ type, tableIds }) as TableFeatureProp);
  }
  if (type.startsWith('EXPERIMENTER')) {
    return fc
      .record({ experimenter: u32, expType: u32, data: anyBytes })
      .map((x) => ({ type, ...x }) as TableFeatureProp);
  }
  if (type.includes('ACTIONS') || type.startsWith('INSTRUCTIONS')) {
    return fc.array(tlvIdArb, { maxLength: 6 }).map((ids) => ({ type, ids }) as TableFeatureProp);
  }
  return fc
    .array(oxmIdArb, { maxLength: 6 })
    .map((oxmIds) => ({ type, oxmIds }) as TableFeatureProp);
});
const tableFeaturesArb: fc.Arbitrary<TableFeatures> = fc.record({
  tableId: u8,
  name: str(31),
  metadataMatch: u64,
  metadataWrite: u64,
  config: u32,
  maxEntries: u32,
  properties: fc.array(tfPropArb, { maxLength: 5 }),
});

const flowReq = fc.record({
  tableId: u8,
  outPort: u32,
  outGroup: u32,
  cookie: u64,
  cookieMask: u64,
  match: matchArb,
});

type MpName = keyof typeof OFPMP;
const MP_REQ: Record<MpName, fc.Arbitrary<MultipartRequestBody>> = {
  DESC: fc.constant({ mpType: 'DESC' }),
  FLOW: flowReq.map((x) => ({ mpType: 'FLOW', ...x })),
  AGGREGATE: flowReq.map((x) => ({ mpType: 'AGGREGATE', ...x })),
  TABLE: fc.constant({ mpType: 'TABLE' }),
  PORT_STATS: u32.map((portNo) => ({ mpType: 'PORT_STATS', portNo })),
  QUEUE: fc.record({ portNo: u32, queueId: u32 }).map((x) => ({ mpType: 'QUEUE', ...x })),
  GROUP: u32.map((groupId) => ({ mpType: 'GROUP', groupId })),
  GROUP_DESC: fc.constant({ mpType: 'GROUP_DESC' }),
  GROUP_FEATURES: fc.constant({ mpType: 'GROUP_FEATURES' }),
  METER: u32.map((meterId) => ({ mpType: 'METER', meterId })),
  METER_CONFIG: u32.map((meterId) => ({ mpType: 'METER_CONFIG', meterId })),
  METER_FEATURES: fc.constant({ mpType: 'METER_FEATURES' }),
  TABLE_FEATURES: fc
    .array(tableFeaturesArb, { maxLength: 2 })
    .map((entries) => ({ mpType: 'TABLE_FEATURES', entries })),
  PORT_DESC: fc.constant({ mpType: 'PORT_DESC' }),
  EXPERIMENTER: fc
    .record({ experimenter: u32, expType: u32, data: anyBytes })
    .map((x) => ({ mpType: 'EXPERIMENTER', ...x })),
};

const list = <T>(a: fc.Arbitrary<T>, max = 3): fc.Arbitrary<T[]> => fc.array(a, { maxLength: max });
const MP_REP: Record<MpName, fc.Arbitrary<MultipartReplyBody>> = {
  DESC: fc
    .record({
      mfrDesc: str(255),
      hwDesc: str(255),
      swDesc: str(255),
      serialNum: str(31),
      dpDesc: str(255),
    })
    .map((x) => ({ mpType: 'DESC', ...x })),
  FLOW: list(
    fc.record({
      tableId: u8,
      durationSec: u32,
      durationNsec: u32,
      priority: u16,
      idleTimeout: u16,
      hardTimeout: u16,
      flags: u16,
      cookie: u64,
      packetCount: u64,
      byteCount: u64,
      match: matchArb,
      instructions: instructionsArb,
    }),
  ).map((entries) => ({ mpType: 'FLOW', entries })),
  AGGREGATE: fc
    .record({ packetCount: u64, byteCount: u64, flowCount: u32 })
    .map((x) => ({ mpType: 'AGGREGATE', ...x })),
  TABLE: list(
    fc.record({ tableId: u8, activeCount: u32, lookupCount: u64, matchedCount: u64 }),
  ).map((entries) => ({ mpType: 'TABLE', entries })),
  PORT_STATS: list(
    fc.record({
      portNo: u32,
      rxPackets: u64,
      txPackets: u64,
      rxBytes: u64,
      txBytes: u64,
      rxDropped: u64,
      txDropped: u64,
      rxErrors: u64,
      txErrors: u64,
      rxFrameErr: u64,
      rxOverErr: u64,
      rxCrcErr: u64,
      collisions: u64,
      durationSec: u32,
      durationNsec: u32,
    }),
  ).map((entries) => ({ mpType: 'PORT_STATS', entries })),
  QUEUE: list(
    fc.record({
      portNo: u32,
      queueId: u32,
      txBytes: u64,
      txPackets: u64,
      txErrors: u64,
      durationSec: u32,
      durationNsec: u32,
    }),
  ).map((entries) => ({ mpType: 'QUEUE', entries })),
  GROUP: list(
    fc.record({
      groupId: u32,
      refCount: u32,
      packetCount: u64,
      byteCount: u64,
      durationSec: u32,
      durationNsec: u32,
      bucketStats: list(fc.record({ packetCount: u64, byteCount: u64 })),
    }),
  ).map((entries) => ({ mpType: 'GROUP', entries })),
  GROUP_DESC: list(fc.record({ groupType: u8, groupId: u32, buckets: list(bucketArb) })).map(
    (entries) => ({ mpType: 'GROUP_DESC', entries }),
  ),
  GROUP_FEATURES: fc
    .record({
      types: u32,
      capabilities: u32,
      maxGroups: fc.tuple(u32, u32, u32, u32),
      actions: fc.tuple(u32, u32, u32, u32),
    })
    .map((x) => ({ mpType: 'GROUP_FEATURES', ...x })),
  METER: list(
    fc.record({
      meterId: u32,
      flowCount: u32,
      packetInCount: u64,
      byteInCount: u64,
      durationSec: u32,
      durationNsec: u32,
      bandStats: list(fc.record({ packetBandCount: u64, byteBandCount: u64 })),
    }),
  ).map((entries) => ({ mpType: 'METER', entries })),
  METER_CONFIG: list(fc.record({ flags: u16, meterId: u32, bands: list(bandArb) })).map(
    (entries) => ({ mpType: 'METER_CONFIG', entries }),
  ),
  METER_FEATURES: fc
    .record({ maxMeter: u32, bandTypes: u32, capabilities: u32, maxBands: u8, maxColor: u8 })
    .map((x) => ({ mpType: 'METER_FEATURES', ...x })),
  TABLE_FEATURES: list(tableFeaturesArb, 2).map((entries) => ({
    mpType: 'TABLE_FEATURES',
    entries,
  })),
  PORT_DESC: list(portArb).map((entries) => ({ mpType: 'PORT_DESC', entries })),
  EXPERIMENTER: fc
    .record({ experimenter: u32, expType: u32, data: anyBytes })
    .map((x) => ({ mpType: 'EXPERIMENTER', ...x })),
};

const asyncMask = fc.tuple(u32, u32);
const flowModArb = fc.record({
  type: fc.constant('FLOW_MOD' as const),
  xid: u32,
  cookie: u64,
  cookieMask: u64,
  tableId: u8,
  command: fc.integer({ min: 0, max: 4 }),
  idleTimeout: u16,
  hardTimeout: u16,
  priority: u16,
  bufferId: u32,
  outPort: u32,
  outGroup: u32,
  flags: u16,
  match: matchArb,
  instructions: instructionsArb,
});
const bundlePropArb = fc.record({ type: u16, data: fc.uint8Array({ maxLength: 12 }) });

/** One arbitrary per message type (OFPT names plus the ONF bundle messages). */
export const MESSAGE_ARBS: Record<OfpMessage['type'], fc.Arbitrary<OfpMessage>> = {
  HELLO: fc
    .record({
      xid: u32,
      elements: list(
        fc.oneof(
          list(u32, 4).map((bitmaps) => ({ type: 'VERSIONBITMAP' as const, bitmaps })),
          fc
            .record({
              elemType: u16.filter((x) => x !== 1),
              data: fc.uint8Array({ maxLength: 12 }),
            })
            .map((x) => ({ type: 'UNKNOWN' as const, ...x })),
        ),
      ),
    })
    .map((x) => ({ type: 'HELLO', version: 4, ...x })),
  ERROR: fc.oneof(
    fc
      .record({ xid: u32, errType: u16.filter((x) => x !== 0xffff), code: u16, data: anyBytes })
      .map((x): OfpMessage => ({ type: 'ERROR', ...x })),
    fc
      .record({ xid: u32, code: u16, experimenter: u32, data: anyBytes })
      .map((x): OfpMessage => ({ type: 'ERROR', errType: 0xffff, ...x })),
  ),
  ECHO_REQUEST: fc
    .record({ xid: u32, data: anyBytes })
    .map((x) => ({ type: 'ECHO_REQUEST', ...x })),
  ECHO_REPLY: fc.record({ xid: u32, data: anyBytes }).map((x) => ({ type: 'ECHO_REPLY', ...x })),
  EXPERIMENTER: fc
    .record({
      xid: u32,
      experimenter: u32.filter((e) => e !== 0x4f4e4600),
      expType: u32,
      data: anyBytes,
    })
    .map((x) => ({ type: 'EXPERIMENTER', ...x })),
  FEATURES_REQUEST: u32.map((xid) => ({ type: 'FEATURES_REQUEST', xid })),
  FEATURES_REPLY: fc
    .record({
      xid: u32,
      datapathId: u64,
      nBuffers: u32,
      nTables: u8,
      auxiliaryId: u8,
      capabilities: u32,
      reserved: u32,
    })
    .map((x) => ({ type: 'FEATURES_REPLY', ...x })),
  GET_CONFIG_REQUEST: u32.map((xid) => ({ type: 'GET_CONFIG_REQUEST', xid })),
  GET_CONFIG_REPLY: fc
    .record({ xid: u32, flags: u16, missSendLen: u16 })
    .map((x) => ({ type: 'GET_CONFIG_REPLY', ...x })),
  SET_CONFIG: fc
    .record({ xid: u32, flags: u16, missSendLen: u16 })
    .map((x) => ({ type: 'SET_CONFIG', ...x })),
  PACKET_IN: fc
    .record({
      xid: u32,
      bufferId: u32,
      totalLen: u16,
      reason: u8,
      tableId: u8,
      cookie: u64,
      match: matchArb,
      data: anyBytes,
    })
    .map((x) => ({ type: 'PACKET_IN', ...x })),
  FLOW_REMOVED: fc
    .record({
      xid: u32,
      cookie: u64,
      priority: u16,
      reason: u8,
      tableId: u8,
      durationSec: u32,
      durationNsec: u32,
      idleTimeout: u16,
      hardTimeout: u16,
      packetCount: u64,
      byteCount: u64,
      match: matchArb,
    })
    .map((x) => ({ type: 'FLOW_REMOVED', ...x })),
  PORT_STATUS: fc
    .record({ xid: u32, reason: u8, port: portArb })
    .map((x) => ({ type: 'PORT_STATUS', ...x })),
  PACKET_OUT: fc
    .record({ xid: u32, bufferId: u32, inPort: u32, actions: actionsArb, data: anyBytes })
    .map((x) => ({ type: 'PACKET_OUT', ...x })),
  FLOW_MOD: flowModArb,
  GROUP_MOD: fc
    .record({
      xid: u32,
      command: fc.integer({ min: 0, max: 2 }),
      groupType: fc.integer({ min: 0, max: 3 }),
      groupId: u32,
      buckets: list(bucketArb),
    })
    .map((x) => ({ type: 'GROUP_MOD', ...x })),
  PORT_MOD: fc
    .record({ xid: u32, portNo: u32, hwAddr: u48, config: u32, mask: u32, advertise: u32 })
    .map((x) => ({ type: 'PORT_MOD', ...x })),
  TABLE_MOD: fc
    .record({ xid: u32, tableId: u8, config: u32 })
    .map((x) => ({ type: 'TABLE_MOD', ...x })),
  MULTIPART_REQUEST: fc
    .tuple(u32, u16, fc.constantFrom(...(Object.keys(OFPMP) as MpName[])))
    .chain(([xid, flags, mp]) =>
      MP_REQ[mp].map((body): OfpMessage => ({ type: 'MULTIPART_REQUEST', xid, flags, ...body })),
    ),
  MULTIPART_REPLY: fc
    .tuple(u32, u16, fc.constantFrom(...(Object.keys(OFPMP) as MpName[])))
    .chain(([xid, flags, mp]) =>
      MP_REP[mp].map((body): OfpMessage => ({ type: 'MULTIPART_REPLY', xid, flags, ...body })),
    ),
  BARRIER_REQUEST: u32.map((xid) => ({ type: 'BARRIER_REQUEST', xid })),
  BARRIER_REPLY: u32.map((xid) => ({ type: 'BARRIER_REPLY', xid })),
  QUEUE_GET_CONFIG_REQUEST: fc
    .record({ xid: u32, port: u32 })
    .map((x) => ({ type: 'QUEUE_GET_CONFIG_REQUEST', ...x })),
  QUEUE_GET_CONFIG_REPLY: fc
    .record({
      xid: u32,
      port: u32,
      queues: list(fc.record({ queueId: u32, port: u32, properties: list(queuePropArb) })),
    })
    .map((x) => ({ type: 'QUEUE_GET_CONFIG_REPLY', ...x })),
  ROLE_REQUEST: fc
    .record({ xid: u32, role: u32, generationId: u64 })
    .map((x) => ({ type: 'ROLE_REQUEST', ...x })),
  ROLE_REPLY: fc
    .record({ xid: u32, role: u32, generationId: u64 })
    .map((x) => ({ type: 'ROLE_REPLY', ...x })),
  GET_ASYNC_REQUEST: u32.map((xid) => ({ type: 'GET_ASYNC_REQUEST', xid })),
  GET_ASYNC_REPLY: fc
    .record({
      xid: u32,
      packetInMask: asyncMask,
      portStatusMask: asyncMask,
      flowRemovedMask: asyncMask,
    })
    .map((x) => ({ type: 'GET_ASYNC_REPLY', ...x })),
  SET_ASYNC: fc
    .record({
      xid: u32,
      packetInMask: asyncMask,
      portStatusMask: asyncMask,
      flowRemovedMask: asyncMask,
    })
    .map((x) => ({ type: 'SET_ASYNC', ...x })),
  METER_MOD: fc
    .record({
      xid: u32,
      command: fc.integer({ min: 0, max: 2 }),
      flags: u16,
      meterId: u32,
      bands: list(bandArb),
    })
    .map((x) => ({ type: 'METER_MOD', ...x })),
  BUNDLE_CONTROL: fc
    .record({
      xid: u32,
      bundleId: u32,
      ctrlType: fc.constantFrom(...(Object.keys(ONF_BCT) as (keyof typeof ONF_BCT)[])),
      flags: u16,
      properties: list(bundlePropArb, 2),
    })
    .map((x) => ({ type: 'BUNDLE_CONTROL', ...x })),
  BUNDLE_ADD_MESSAGE: fc
    .record({
      bundleId: u32,
      flags: u16,
      message: flowModArb,
      properties: list(bundlePropArb, 2),
    })
    .map((x) => ({ type: 'BUNDLE_ADD_MESSAGE', xid: x.message.xid, ...x })),
};

/** Any message. */
export const messageArb: fc.Arbitrary<OfpMessage> = fc.oneof(...Object.values(MESSAGE_ARBS));

/** Descriptor lookup re-exported for tests. */
export { OXM_BY_NAME };

/**
 * Flow-mod, group, meter and bundle semantics of ofproto/pipeline.ts over an in-memory
 * controller connection, with the answers OVS 3.1 gives (../shared/reference/controllers.md §4).
 */
import t from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import { memoryTransportPair } from '../../../lib/transport.js';
import { OFPP } from '../../../openflow/constants.js';
import { OFP_ERRORS } from '../../../openflow/errors.js';
import type { MessageOf, OfpMessage } from '../../../openflow/messages.js';
import { Ofconn } from '../../../ofproto/ofconn.js';
import { Ofproto } from '../../../ofproto/ofproto.js';
import { OfTestPeer } from '../../helpers/ofclient.js';

type FlowMod = MessageOf<'FLOW_MOD'>;

function flowMod(xid: number, over: Partial<FlowMod>): FlowMod {
  return {
    type: 'FLOW_MOD',
    xid,
    cookie: 0n,
    cookieMask: 0n,
    tableId: 0,
    command: 0,
    idleTimeout: 0,
    hardTimeout: 0,
    priority: 100,
    bufferId: 0xffffffff,
    outPort: OFPP.ANY,
    outGroup: 0xffffffff,
    flags: 0,
    match: [],
    instructions: [],
    ...over,
  };
}

function isError(sym: keyof typeof OFP_ERRORS) {
  const c = OFP_ERRORS[sym] as { type: number; code: number };
  return (m: OfpMessage): boolean =>
    m.type === 'ERROR' && m.errType === c.type && m.code === c.code;
}

async function setup() {
  const clock = new FakeClock();
  const sw = new Ofproto({ name: 'br0', datapathId: 1n, clock });
  const [a, b] = memoryTransportPair();
  const conn = new Ofconn(a, {
    type: 'primary',
    clock,
    probeIntervalMs: 0,
    owner: {
      handleMessage: (c, m, raw) => sw.handleMessage(c, m, raw),
      changeRole: (c, r, g) => sw.connmgr.changeRole(c, r, g),
      currentGenerationId: () => sw.connmgr.currentGenerationId(),
    },
  });
  (sw.connmgr as unknown as { all: Set<Ofconn> }).all.add(conn);
  const peer = new OfTestPeer(b);
  await peer.hello();
  let xid = 100;
  /** Sends `m` then a barrier; resolves with the messages answering `m` (errors included). */
  const exchange = async (m: OfpMessage): Promise<OfpMessage[]> => {
    const bx = ++xid;
    peer.send(m);
    peer.send({ type: 'BARRIER_REQUEST', xid: bx });
    await peer.waitType('BARRIER_REPLY', bx);
    return peer.received.filter((r) => r.xid === m.xid && r.type !== 'BARRIER_REPLY');
  };
  return { clock, sw, peer, exchange };
}

t.test(
  'table 254 is EPERM, table 255 BAD_TABLE_ID, a buffer id BUFFER_UNKNOWN (flow not added)',
  async (t) => {
    const { sw, exchange } = await setup();
    t.ok((await exchange(flowMod(1, { tableId: 254 }))).some(isError('OFPBRC_EPERM')));
    t.ok((await exchange(flowMod(2, { tableId: 255 }))).some(isError('OFPFMFC_BAD_TABLE_ID')));
    t.ok((await exchange(flowMod(3, { bufferId: 0x77 }))).some(isError('OFPBRC_BUFFER_UNKNOWN')));
    t.equal(sw.tables.flowCount(), 0, 'nothing added');
  },
);

t.test(
  'add replaces the identical match and priority; check_overlap; modify never adds',
  async (t) => {
    const { sw, exchange } = await setup();
    const m = [{ field: 'in_port', value: 1 }] as FlowMod['match'];
    await exchange(flowMod(1, { match: m, cookie: 1n }));
    await exchange(flowMod(2, { match: m, cookie: 2n }));
    t.equal(sw.tables.flowCount(), 1);
    t.equal([...sw.tables.allRules()][0]!.cookie, 2n);
    const ov = await exchange(flowMod(3, { match: [], flags: 2 }));
    t.ok(
      ov.some(isError('OFPFMFC_OVERLAP')),
      'empty match overlaps in_port=1 at the same priority',
    );
    await exchange(
      flowMod(4, { command: 1, match: [{ field: 'in_port', value: 9 }] as FlowMod['match'] }),
    );
    t.equal(sw.tables.flowCount(), 1, 'modify of nothing adds nothing');
  },
);

t.test('hard timeout sends FLOW_REMOVED with reason HARD_TIMEOUT', async (t) => {
  const { clock, sw, peer, exchange } = await setup();
  await exchange(flowMod(1, { hardTimeout: 2, flags: 1, cookie: 0x77n }));
  clock.advance(1900);
  t.equal(sw.tables.flowCount(), 1);
  clock.advance(400);
  const fr = await peer.waitType('FLOW_REMOVED');
  t.equal(fr.reason, 1);
  t.equal(fr.cookie, 0x77n);
  t.equal(fr.durationSec, 2);
  t.equal(sw.tables.flowCount(), 0);
});

t.test('delete with out_port filter removes only flows that output there', async (t) => {
  const { sw, exchange } = await setup();
  const out = (port: number) =>
    [
      { type: 'APPLY_ACTIONS', actions: [{ type: 'OUTPUT', port, maxLen: 0 }] },
    ] as FlowMod['instructions'];
  await exchange(flowMod(1, { priority: 1, instructions: out(1) }));
  await exchange(flowMod(2, { priority: 2, instructions: out(2) }));
  await exchange(flowMod(3, { command: 3, tableId: 255, outPort: 2 }));
  t.same(
    [...sw.tables.allRules()].map((r) => r.priority),
    [1],
  );
});

t.test('a bundle is atomic: one failing message and nothing is applied', async (t) => {
  const { sw, peer, exchange } = await setup();
  const open = await exchange({
    type: 'BUNDLE_CONTROL',
    xid: 1,
    bundleId: 7,
    ctrlType: 'OPEN_REQUEST',
    flags: 1,
    properties: [],
  });
  t.ok(open.some((m) => m.type === 'BUNDLE_CONTROL' && m.ctrlType === 'OPEN_REPLY'));
  await exchange({
    type: 'BUNDLE_ADD_MESSAGE',
    xid: 2,
    bundleId: 7,
    flags: 1,
    message: flowMod(2, { priority: 5 }),
    properties: [],
  });
  await exchange({
    type: 'BUNDLE_ADD_MESSAGE',
    xid: 3,
    bundleId: 7,
    flags: 1,
    message: flowMod(3, { tableId: 254 }),
    properties: [],
  });
  const commit = await exchange({
    type: 'BUNDLE_CONTROL',
    xid: 4,
    bundleId: 7,
    ctrlType: 'COMMIT_REQUEST',
    flags: 1,
    properties: [],
  });
  // As OVS: the failing message's error under its own xid, then MSG_FAILED for the commit.
  t.ok(
    peer.received.some((m) => m.xid === 3 && isError('OFPBRC_EPERM')(m)),
    'the failing message error',
  );
  t.ok(commit.some(isError('OFPBFC_MSG_FAILED')), 'the commit fails with MSG_FAILED');
  t.equal(sw.tables.flowCount(), 0, 'rolled back');
  await exchange({
    type: 'BUNDLE_CONTROL',
    xid: 5,
    bundleId: 8,
    ctrlType: 'OPEN_REQUEST',
    flags: 1,
    properties: [],
  });
  await exchange({
    type: 'BUNDLE_ADD_MESSAGE',
    xid: 6,
    bundleId: 8,
    flags: 1,
    message: flowMod(6, { priority: 5 }),
    properties: [],
  });
  await exchange({
    type: 'BUNDLE_ADD_MESSAGE',
    xid: 7,
    bundleId: 8,
    flags: 1,
    message: flowMod(7, { priority: 6 }),
    properties: [],
  });
  t.equal(sw.tables.flowCount(), 0, 'nothing visible before commit');
  const ok = await exchange({
    type: 'BUNDLE_CONTROL',
    xid: 8,
    bundleId: 8,
    ctrlType: 'COMMIT_REQUEST',
    flags: 1,
    properties: [],
  });
  t.ok(ok.some((m) => m.type === 'BUNDLE_CONTROL' && m.ctrlType === 'COMMIT_REPLY'));
  t.equal(sw.tables.flowCount(), 2);
});

t.test(
  'groups: exists, unknown, flows removed with the group; meters: exists, unknown',
  async (t) => {
    const { sw, peer, exchange } = await setup();
    const g = (xid: number, command: number, groupId: number): OfpMessage => ({
      type: 'GROUP_MOD',
      xid,
      command,
      groupType: 0,
      groupId,
      buckets: [
        {
          weight: 0,
          watchPort: OFPP.ANY,
          watchGroup: 0xffffffff,
          actions: [{ type: 'OUTPUT', port: 1, maxLen: 0 }],
        },
      ],
    });
    await exchange(g(1, 0, 1));
    t.ok((await exchange(g(2, 0, 1))).some(isError('OFPGMFC_GROUP_EXISTS')));
    t.ok((await exchange(g(3, 1, 50))).some(isError('OFPGMFC_UNKNOWN_GROUP')));
    t.same(await exchange(g(4, 2, 77)), [], 'deleting an unknown group is not an error');
    await exchange(
      flowMod(5, {
        flags: 1,
        instructions: [
          { type: 'APPLY_ACTIONS', actions: [{ type: 'GROUP', groupId: 1 }] },
        ] as FlowMod['instructions'],
      }),
    );
    t.ok(
      (
        await exchange(
          flowMod(6, {
            priority: 7,
            instructions: [
              { type: 'APPLY_ACTIONS', actions: [{ type: 'GROUP', groupId: 4242 }] },
            ] as FlowMod['instructions'],
          }),
        )
      ).some(isError('OFPBAC_BAD_OUT_GROUP')),
    );
    await exchange(g(7, 2, 1));
    const fr = await peer.waitType('FLOW_REMOVED');
    t.equal(fr.reason, 3, 'OFPRR_GROUP_DELETE');
    t.equal(sw.tables.flowCount(), 0);
    const meter = (xid: number, command: number, meterId: number): OfpMessage => ({
      type: 'METER_MOD',
      xid,
      command,
      flags: 1,
      meterId,
      bands: [{ type: 'DROP', rate: 1000, burstSize: 0 }],
    });
    await exchange(meter(8, 0, 1));
    t.ok((await exchange(meter(9, 0, 1))).some(isError('OFPMMFC_METER_EXISTS')));
    t.ok((await exchange(meter(10, 1, 9))).some(isError('OFPMMFC_UNKNOWN_METER')));
    const nine = {
      ...meter(12, 0, 2),
      bands: Array.from({ length: 9 }, (_, i) => ({
        type: 'DROP',
        rate: 100 * (i + 1),
        burstSize: 0,
      })),
    } as OfpMessage;
    t.ok((await exchange(nine)).some(isError('OFPMMFC_OUT_OF_BANDS')), '9 bands: OUT_OF_BANDS');
    t.ok(
      (
        await exchange(
          flowMod(11, {
            instructions: [{ type: 'METER', meterId: 99 }] as FlowMod['instructions'],
          }),
        )
      ).some(isError('OFPMMFC_INVALID_METER')),
    );
  },
);

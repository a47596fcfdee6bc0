/**
 * Two controllers on one bridge (root): a single,2 network whose switch s1 connects to two test
 * controllers A and B (OpenFlow peers in this test). Checks OpenFlow 1.3 roles as Open vSwitch
 * 3.1 answers them (../shared/reference/controllers.md §1.6, captures/ovs31-probe-sem.txt):
 *
 * - both start EQUAL and both receive PACKET_INs;
 * - A MASTER (generation 10); B MASTER with an older generation (5) → ROLE_REQUEST_FAILED/STALE;
 *   B SLAVE (11);
 * - the slave's FLOW_MOD and PACKET_OUT → BAD_REQUEST/IS_SLAVE (echoing the request), while its
 *   DESC request is answered; traffic from a host reaches only the master as PACKET_IN;
 * - B MASTER (12) demotes A to SLAVE: PACKET_INs move to B, A's FLOW_MOD now fails with IS_SLAVE;
 * - generation ids compare by signed 64-bit distance: older (11) and "more than half the space
 *   ahead" values are STALE, a wrapped-around newer value is accepted; EQUAL ignores the
 *   generation id; role 7 → ROLE_REQUEST_FAILED/BAD_ROLE.
 */
import * as net from 'node:net';
import t from 'tap';
import { StreamTransport } from '../../lib/transport.js';
import { OFPCML, OFPCR_ROLE, OFPFC, OFPG, OFPP, OFP_NO_BUFFER } from '../../openflow/constants.js';
import type { MessageOf, OfpMessage } from '../../openflow/messages.js';
import { Topo } from '../../topo/index.js';
import {
  netReady,
  startDaemonInProcessOn,
  tempRundir,
  testPrefix,
  undoStack,
} from '../helpers/e2e-net.js';
import { OfTestPeer } from '../helpers/ofclient.js';
import { runTool } from '../helpers/tools.js';

// Namespaces, a daemon and controllers on a shared 2-core machine: generous, never asserted.
t.setTimeout(300_000);

const ERR = {
  BAD_REQUEST: 1,
  IS_SLAVE: 10,
  ROLE_REQUEST_FAILED: 11,
  STALE: 0,
  BAD_ROLE: 2,
} as const;

/** A listening test controller that yields the switch's connection as an {@link OfTestPeer}. */
async function controller(undo: (fn: () => unknown) => void): Promise<{
  target: string;
  peer: Promise<OfTestPeer>;
}> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  undo(() => new Promise<void>((r) => server.close(() => r())));
  const peer = new Promise<OfTestPeer>((resolve) =>
    server.once('connection', (s) => {
      undo(() => s.destroy());
      resolve(new OfTestPeer(new StreamTransport(s, 'switch')));
    }),
  );
  return { target: `tcp:127.0.0.1:${(server.address() as net.AddressInfo).port}`, peer };
}

let xid = 0x5000;

/** Sends `m` with a fresh xid and resolves with the first reply or error carrying that xid. */
async function ask(c: OfTestPeer, m: OfpMessage): Promise<OfpMessage> {
  const x = ++xid;
  c.send({ ...m, xid: x });
  return c.waitFor((r) => r.xid === x && r.type !== m.type, 10_000);
}

function roleRequest(role: number, generationId: bigint): OfpMessage {
  return { type: 'ROLE_REQUEST', xid: 0, role, generationId };
}

/** A FLOW_MOD ADD of the table-miss flow (everything to the controller). */
const TABLE_MISS: MessageOf<'FLOW_MOD'> = {
  type: 'FLOW_MOD',
  xid: 0,
  cookie: 0n,
  cookieMask: 0n,
  tableId: 0,
  command: OFPFC.ADD,
  idleTimeout: 0,
  hardTimeout: 0,
  priority: 0,
  bufferId: OFP_NO_BUFFER,
  outPort: OFPP.ANY,
  outGroup: OFPG.ANY,
  flags: 0,
  match: [],
  instructions: [
    {
      type: 'APPLY_ACTIONS',
      actions: [{ type: 'OUTPUT', port: OFPP.CONTROLLER, maxLen: OFPCML.NO_BUFFER }],
    },
  ],
};

const PACKET_OUT: OfpMessage = {
  type: 'PACKET_OUT',
  xid: 0,
  bufferId: OFP_NO_BUFFER,
  inPort: OFPP.CONTROLLER,
  actions: [{ type: 'OUTPUT', port: 1, maxLen: 0 }],
  data: new Uint8Array(60).fill(0xff, 0, 12),
};

/** Round trip on `c`: everything the switch queued for it before now has arrived. */
async function sync(c: OfTestPeer): Promise<void> {
  const r = await ask(c, { type: 'BARRIER_REQUEST', xid: 0 });
  if (r.type !== 'BARRIER_REPLY') throw new Error(`barrier answered with ${r.type}`);
}

const packetIns = (c: OfTestPeer, from: number): number =>
  c.received.slice(from).filter((m) => m.type === 'PACKET_IN').length;

t.test(
  'two controllers on one bridge: roles, IS_SLAVE, packet-ins follow the master',
  async (t) => {
    if (!netReady(t)) return;
    const undo = undoStack(t);
    const rundir = tempRundir(undo);
    const ca = await controller(undo);
    const cb = await controller(undo);
    const topo = await Topo.start({
      spec: 'single,2',
      rundir,
      startDaemon: startDaemonInProcessOn,
      controllers: [ca.target, cb.target],
      prefix: testPrefix('r'),
    });
    undo(() => topo.stop());
    const [a, b] = await Promise.all([ca.peer, cb.peer]);
    await Promise.all([a.hello(), b.hello()]);
    const h1 = topo.hosts[0]!;
    const h2 = topo.hosts[1]!;
    /** h1 pings h2 once; with only the table-miss flow its ARP request becomes a PACKET_IN. */
    const traffic = async (): Promise<void> => {
      await runTool('ip', ['netns', 'exec', h1.ns, 'ping', '-c1', '-W1', h2.ip]);
    };
    /** Generates traffic until `to` has a new PACKET_IN, then syncs both connections. */
    const trafficTo = async (to: OfTestPeer, from: number): Promise<void> => {
      for (let i = 0; i < 10 && packetIns(to, from) === 0; i++) await traffic();
      await Promise.all([sync(a), sync(b)]);
    };

    // Both EQUAL: the table-miss flow from A is accepted and both get the PACKET_INs.
    const r0 = await ask(a, roleRequest(OFPCR_ROLE.NOCHANGE, 0n));
    t.match(r0, { type: 'ROLE_REPLY', role: OFPCR_ROLE.EQUAL }, 'A starts EQUAL');
    a.send({ ...TABLE_MISS, xid: ++xid });
    await sync(a);
    t.notOk(
      a.received.some((m) => m.type === 'ERROR'),
      'an EQUAL controller may add flows',
    );
    let ma = a.received.length;
    let mb = b.received.length;
    await trafficTo(a, ma);
    t.ok(packetIns(a, ma) > 0, 'EQUAL A receives PACKET_INs');
    t.ok(packetIns(b, mb) > 0, 'EQUAL B receives PACKET_INs');

    // A MASTER gen 10; B MASTER gen 5 is stale; B SLAVE gen 11.
    t.match(
      await ask(a, roleRequest(OFPCR_ROLE.MASTER, 10n)),
      { type: 'ROLE_REPLY', role: OFPCR_ROLE.MASTER, generationId: 10n },
      'A becomes MASTER (generation 10)',
    );
    const stale = await ask(b, roleRequest(OFPCR_ROLE.MASTER, 5n));
    t.match(
      stale,
      { type: 'ERROR', errType: ERR.ROLE_REQUEST_FAILED, code: ERR.STALE },
      'B MASTER with generation 5 < 10: ROLE_REQUEST_FAILED/STALE',
    );
    if (stale.type === 'ERROR')
      t.equal(stale.data.length, 24, 'the error echoes the whole request');
    t.match(
      await ask(b, roleRequest(OFPCR_ROLE.SLAVE, 11n)),
      { type: 'ROLE_REPLY', role: OFPCR_ROLE.SLAVE, generationId: 11n },
      'B becomes SLAVE (generation 11)',
    );

    // The slave may read but not write.
    const fm = await ask(b, TABLE_MISS);
    t.match(
      fm,
      { type: 'ERROR', errType: ERR.BAD_REQUEST, code: ERR.IS_SLAVE },
      'slave FLOW_MOD: IS_SLAVE',
    );
    if (fm.type === 'ERROR') t.equal(fm.data[1], 14, 'the error echoes the FLOW_MOD');
    t.match(
      await ask(b, PACKET_OUT),
      { type: 'ERROR', errType: ERR.BAD_REQUEST, code: ERR.IS_SLAVE },
      'slave PACKET_OUT: IS_SLAVE',
    );
    t.match(
      await ask(b, { type: 'MULTIPART_REQUEST', xid: 0, flags: 0, mpType: 'DESC' }),
      { type: 'MULTIPART_REPLY', mpType: 'DESC' },
      'slave DESC request answered',
    );
    t.match(
      await ask(b, { type: 'GET_ASYNC_REQUEST', xid: 0 }),
      { type: 'GET_ASYNC_REPLY', packetInMask: [3, 0] },
      'default async config: no PACKET_IN for a slave',
    );

    // Only the master receives PACKET_INs.
    ma = a.received.length;
    mb = b.received.length;
    await trafficTo(a, ma);
    t.ok(packetIns(a, ma) > 0, 'master A receives PACKET_INs');
    t.equal(packetIns(b, mb), 0, 'slave B receives none');

    // Promote B: A is demoted, PACKET_INs move to B.
    t.match(
      await ask(b, roleRequest(OFPCR_ROLE.MASTER, 12n)),
      { type: 'ROLE_REPLY', role: OFPCR_ROLE.MASTER, generationId: 12n },
      'B becomes MASTER (generation 12)',
    );
    t.match(
      await ask(a, roleRequest(OFPCR_ROLE.NOCHANGE, 0n)),
      { type: 'ROLE_REPLY', role: OFPCR_ROLE.SLAVE, generationId: 12n },
      'A was demoted to SLAVE',
    );
    t.match(
      await ask(a, TABLE_MISS),
      { type: 'ERROR', errType: ERR.BAD_REQUEST, code: ERR.IS_SLAVE },
      'the old master now gets IS_SLAVE',
    );
    ma = a.received.length;
    mb = b.received.length;
    await trafficTo(b, mb);
    t.ok(packetIns(b, mb) > 0, 'new master B receives PACKET_INs');
    t.equal(packetIns(a, ma), 0, 'old master A receives none');

    // Generation ids: signed 64-bit distance from the last one (12).
    t.match(
      await ask(a, roleRequest(OFPCR_ROLE.MASTER, 11n)),
      { type: 'ERROR', errType: ERR.ROLE_REQUEST_FAILED, code: ERR.STALE },
      'MASTER with an older generation (11): STALE',
    );
    t.match(
      await ask(a, roleRequest(OFPCR_ROLE.SLAVE, 12n + (1n << 63n) + 1n)),
      { type: 'ERROR', errType: ERR.ROLE_REQUEST_FAILED, code: ERR.STALE },
      'SLAVE with a generation more than 2^63 ahead (negative distance): STALE',
    );
    const wrapped = (12n + (1n << 63n) - 1n) & 0xffffffffffffffffn;
    t.match(
      await ask(a, roleRequest(OFPCR_ROLE.SLAVE, wrapped)),
      { type: 'ROLE_REPLY', role: OFPCR_ROLE.SLAVE, generationId: wrapped },
      'SLAVE with a generation 2^63-1 ahead: accepted',
    );
    const next = (wrapped + (1n << 63n) - 1n) & 0xffffffffffffffffn;
    t.ok(next < wrapped, 'the next generation wraps around 2^64');
    t.match(
      await ask(a, roleRequest(OFPCR_ROLE.MASTER, next)),
      { type: 'ROLE_REPLY', role: OFPCR_ROLE.MASTER, generationId: next },
      'MASTER with a wrapped-around newer generation: accepted',
    );
    t.match(
      await ask(b, roleRequest(OFPCR_ROLE.NOCHANGE, 0n)),
      { type: 'ROLE_REPLY', role: OFPCR_ROLE.SLAVE, generationId: next },
      'and B was demoted',
    );
    t.match(
      await ask(b, roleRequest(OFPCR_ROLE.EQUAL, 1n)),
      { type: 'ROLE_REPLY', role: OFPCR_ROLE.EQUAL, generationId: next },
      'EQUAL ignores the generation id',
    );
    t.match(
      await ask(b, roleRequest(7, 0n)),
      { type: 'ERROR', errType: ERR.ROLE_REQUEST_FAILED, code: ERR.BAD_ROLE },
      'role 7: BAD_ROLE',
    );
    t.notOk(a.closed || b.closed, 'both connections stay up');
    await topo.stop();
  },
);

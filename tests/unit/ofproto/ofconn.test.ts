import t from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import { memoryTransportPair } from '../../../lib/transport.js';
import { OFPP, OFPPC, OFPPF, OFPPS } from '../../../openflow/constants.js';
import { OFP_ERRORS } from '../../../openflow/errors.js';
import type { MessageOf, OfpMessage } from '../../../openflow/messages.js';
import { Ofconn, negotiateVersion } from '../../../ofproto/ofconn.js';
import { Ofproto } from '../../../ofproto/ofproto.js';
import { OfTestPeer } from '../../helpers/ofclient.js';
import { allLabelledCounters } from '../../../lib/counters.js';

type Err = MessageOf<'ERROR'>;

function isError(sym: keyof typeof OFP_ERRORS) {
  const c = OFP_ERRORS[sym] as { type: number; code: number };
  return (m: OfpMessage): boolean =>
    m.type === 'ERROR' && m.errType === c.type && m.code === c.code;
}

/** A switch with two ports plus LOCAL, and a way to connect peers to it. */
function makeSwitch(clock = new FakeClock()) {
  const sw = new Ofproto({ name: 'br0', datapathId: 0x1234n, clock });
  sw.addPort({
    ofport: OFPP.LOCAL,
    name: 'br0',
    hwAddr: 0x0200000000ff,
    config: OFPPC.PORT_DOWN,
    state: OFPPS.LINK_DOWN,
    curr: OFPPF['10GB_FD'] | OFPPF.COPPER,
    currSpeed: 10_000_000,
    maxSpeed: 0,
  });
  sw.addPort({
    ofport: 1,
    name: 'p1',
    hwAddr: 0x020000000001,
    config: 0,
    state: OFPPS.LIVE,
    curr: OFPPF['10GB_FD'] | OFPPF.COPPER,
    currSpeed: 10_000_000,
    maxSpeed: 0,
  });
  sw.addPort({
    ofport: 2,
    name: 'p2',
    hwAddr: 0x020000000002,
    config: 0,
    state: OFPPS.LIVE,
    curr: OFPPF['10GB_FD'] | OFPPF.COPPER,
    currSpeed: 10_000_000,
    maxSpeed: 0,
  });
  const connect = (type: 'primary' | 'service' = 'primary', probeIntervalMs = 0) => {
    const [a, b] = memoryTransportPair();
    const conn = new Ofconn(a, {
      type,
      clock,
      probeIntervalMs,
      owner: {
        handleMessage: (c, m, raw) => sw.handleMessage(c, m, raw),
        changeRole: (c, r, g) => sw.connmgr.changeRole(c, r, g),
        currentGenerationId: () => sw.connmgr.currentGenerationId(),
      },
    });
    // Register with the connmgr's async fan-out through its public API surface.
    (sw.connmgr as unknown as { all: Set<Ofconn> }).all.add(conn);
    conn.on('close', () => (sw.connmgr as unknown as { all: Set<Ofconn> }).all.delete(conn));
    return { conn, peer: new OfTestPeer(b) };
  };
  return { sw, clock, connect };
}

t.test('version negotiation', (t) => {
  t.equal(negotiateVersion(4, undefined), 4, 'v1.3 header, no bitmap');
  t.equal(negotiateVersion(6, undefined), 4, 'v1.5 header, no bitmap: min is 1.3');
  t.equal(negotiateVersion(6, [(1 << 1) | (1 << 4) | (1 << 6)]), 4, 'bitmap with 1.3');
  t.equal(negotiateVersion(1, [1 << 1]), undefined, 'only 1.0');
  t.equal(negotiateVersion(1, undefined), undefined, 'v1.0 header');
  t.end();
});

t.test('HELLO first: our hello is v0x04 with a bitmap of bit 4', async (t) => {
  const { connect } = makeSwitch();
  const { peer } = connect();
  const hello = await peer.waitType('HELLO');
  t.equal(peer.raw[0]![0], 4);
  t.same(hello.elements, [{ type: 'VERSIONBITMAP', bitmaps: [1 << 4] }]);
});

t.test(
  'no common version: HELLO_FAILED with the peer version byte and text, then close',
  async (t) => {
    const { connect } = makeSwitch();
    const { peer } = connect();
    peer.send({
      type: 'HELLO',
      xid: 7,
      version: 1,
      elements: [{ type: 'VERSIONBITMAP', bitmaps: [1 << 1] }],
    });
    const err = (await peer.waitFor(isError('OFPHFC_INCOMPATIBLE'))) as Err;
    const rawErr = peer.raw.find((r) => r[1] === 1)!;
    t.equal(rawErr[0], 1, 'error sent with the peer version byte');
    t.equal(
      Buffer.from(err.data).toString(),
      'We support version 0x04, you support version 0x01, no common versions.',
    );
    await peer.waitClosed();
  },
);

t.test('first message not HELLO: closed without a word', async (t) => {
  const { connect } = makeSwitch();
  const { peer } = connect();
  await peer.waitType('HELLO');
  peer.send({ type: 'FEATURES_REQUEST', xid: 2 });
  await peer.waitClosed();
  t.equal(peer.received.length, 1, 'only our HELLO was sent');
});

t.test('handshake: features, port desc, desc, config, echo, barrier', async (t) => {
  const { connect } = makeSwitch();
  const { peer } = connect();
  await peer.hello();
  peer.send({ type: 'FEATURES_REQUEST', xid: 2 });
  const f = await peer.waitType('FEATURES_REPLY', 2);
  t.equal(f.datapathId, 0x1234n);
  t.equal(f.nBuffers, 0);
  t.equal(f.nTables, 254);
  t.equal(f.capabilities, 0x4f);
  peer.send({ type: 'MULTIPART_REQUEST', xid: 3, flags: 0, mpType: 'PORT_DESC' });
  const pd = await peer.waitType('MULTIPART_REPLY', 3);
  t.equal(pd.mpType, 'PORT_DESC');
  if (pd.mpType === 'PORT_DESC')
    t.same(
      pd.entries.map((p) => p.name),
      ['p1', 'p2', 'br0'],
    );
  peer.send({ type: 'MULTIPART_REQUEST', xid: 4, flags: 0, mpType: 'DESC' });
  const d = await peer.waitType('MULTIPART_REPLY', 4);
  if (d.mpType === 'DESC') t.equal(d.mfrDesc, 'tsvswitch');
  peer.send({ type: 'GET_CONFIG_REQUEST', xid: 5 });
  const c = await peer.waitType('GET_CONFIG_REPLY', 5);
  t.equal(c.missSendLen, 128, 'primary connection default');
  peer.send({ type: 'SET_CONFIG', xid: 6, flags: 0, missSendLen: 200 });
  peer.send({ type: 'GET_CONFIG_REQUEST', xid: 7 });
  t.equal((await peer.waitType('GET_CONFIG_REPLY', 7)).missSendLen, 200);
  peer.send({ type: 'ECHO_REQUEST', xid: 8, data: Buffer.from('ping') });
  const e = await peer.waitType('ECHO_REPLY', 8);
  t.equal(Buffer.from(e.data).toString(), 'ping');
  peer.send({ type: 'MULTIPART_REQUEST', xid: 9, flags: 0, mpType: 'METER_FEATURES' });
  await peer.waitType('MULTIPART_REPLY', 9);
  peer.send({ type: 'MULTIPART_REQUEST', xid: 10, flags: 0, mpType: 'TABLE' });
  const ts = await peer.waitType('MULTIPART_REPLY', 10);
  if (ts.mpType === 'TABLE') t.equal(ts.entries.length, 254);
});

t.test('service connections default miss_send_len 0 and get no async messages', async (t) => {
  const { sw, connect } = makeSwitch();
  const { peer } = connect('service');
  await peer.hello();
  peer.send({ type: 'GET_CONFIG_REQUEST', xid: 2 });
  t.equal((await peer.waitType('GET_CONFIG_REPLY', 2)).missSendLen, 0);
  sw.setPortState(1, OFPPS.LINK_DOWN);
  peer.send({ type: 'BARRIER_REQUEST', xid: 3 });
  await peer.waitType('BARRIER_REPLY', 3);
  t.notOk(
    peer.received.some((m) => m.type === 'PORT_STATUS'),
    'no PORT_STATUS on a service connection',
  );
});

t.test('bad input gets the error OVS gives, and errors precede the barrier reply', async (t) => {
  const { connect } = makeSwitch();
  const { peer } = connect();
  await peer.hello();
  // Version 0x05 after negotiation: BAD_VERSION, sent with version byte 0x05.
  peer.sendRaw(Buffer.from([5, 5, 0, 8, 0, 0, 0, 11]));
  await peer.waitFor(isError('OFPBRC_BAD_VERSION'));
  t.equal(peer.raw.find((r) => r[1] === 1)![0], 5);
  // Unknown type 99.
  peer.sendRaw(Buffer.from([4, 99, 0, 8, 0, 0, 0, 12]));
  // FEATURES_REQUEST of length 12.
  peer.sendRaw(Buffer.from([4, 5, 0, 12, 0, 0, 0, 13, 0, 0, 0, 0]));
  // Multipart type 0x77.
  peer.sendRaw(Buffer.from([4, 18, 0, 16, 0, 0, 0, 14, 0, 0x77, 0, 0, 0, 0, 0, 0]));
  // Role 7.
  peer.send({ type: 'ROLE_REQUEST', xid: 15, role: 7, generationId: 0n });
  peer.send({ type: 'BARRIER_REQUEST', xid: 16 });
  await peer.waitType('BARRIER_REPLY', 16);
  const errs = peer.received.filter((m): m is Err => m.type === 'ERROR');
  const byXid = new Map(errs.map((e) => [e.xid, e]));
  t.ok(isError('OFPBRC_BAD_TYPE')(byXid.get(12)!), 'type 99 -> BAD_TYPE');
  t.ok(isError('OFPBRC_BAD_LEN')(byXid.get(13)!), 'features len 12 -> BAD_LEN');
  t.ok(isError('OFPBRC_BAD_MULTIPART')(byXid.get(14)!), 'mp 0x77 -> BAD_MULTIPART');
  t.ok(isError('OFPRRFC_BAD_ROLE')(byXid.get(15)!), 'role 7 -> BAD_ROLE');
  const barrierIdx = peer.received.findIndex((m) => m.type === 'BARRIER_REPLY');
  const lastErrIdx = peer.received.map((m) => m.type).lastIndexOf('ERROR');
  t.ok(lastErrIdx < barrierIdx, 'every error precedes the barrier reply');
  t.ok(byXid.get(12)!.data.length >= 8, 'error carries the offending message');
});

t.test('roles: NOCHANGE, STALE, IS_SLAVE, demotion, async by role', async (t) => {
  const { sw, connect } = makeSwitch();
  const a = connect();
  const b = connect();
  await a.peer.hello();
  await b.peer.hello();
  a.peer.send({ type: 'ROLE_REQUEST', xid: 2, role: 0, generationId: 0n });
  const r0 = await a.peer.waitType('ROLE_REPLY', 2);
  t.equal(r0.role, 1, 'EQUAL by default');
  t.equal(r0.generationId, 0xffffffffffffffffn, 'all-ones before any MASTER/SLAVE request');
  a.peer.send({ type: 'ROLE_REQUEST', xid: 3, role: 2, generationId: 10n });
  t.equal((await a.peer.waitType('ROLE_REPLY', 3)).role, 2);
  b.peer.send({ type: 'ROLE_REQUEST', xid: 4, role: 2, generationId: 5n });
  await b.peer.waitFor(isError('OFPRRFC_STALE'));
  b.peer.send({ type: 'ROLE_REQUEST', xid: 5, role: 3, generationId: 11n });
  t.equal((await b.peer.waitType('ROLE_REPLY', 5)).role, 3);
  b.peer.sendRaw(Buffer.from([4, 14, 0, 56, 0, 0, 0, 6, ...new Array(48).fill(0)]));
  await b.peer.waitFor((m) => m.type === 'ERROR' && m.xid === 6 && isError('OFPBRC_IS_SLAVE')(m));
  b.peer.send({ type: 'MULTIPART_REQUEST', xid: 7, flags: 0, mpType: 'DESC' });
  await b.peer.waitType('MULTIPART_REPLY', 7);
  // Port status goes to both (default port-status mask includes slaves); packet-in only to master.
  t.equal(
    sw.connmgr.sendAsync('packetIn', 0, () => ({
      type: 'ECHO_REQUEST',
      xid: 99,
      data: new Uint8Array(0),
    })),
    1,
  );
  b.peer.send({ type: 'ROLE_REQUEST', xid: 8, role: 2, generationId: 12n });
  t.equal((await b.peer.waitType('ROLE_REPLY', 8)).role, 2);
  a.peer.send({ type: 'ROLE_REQUEST', xid: 9, role: 0, generationId: 0n });
  const ra = await a.peer.waitType('ROLE_REPLY', 9);
  t.equal(ra.role, 3, 'old master demoted to SLAVE');
  t.equal(ra.generationId, 12n);
});

t.test('async config: defaults and SET_ASYNC', async (t) => {
  const { connect } = makeSwitch();
  const { conn, peer } = connect();
  await peer.hello();
  peer.send({ type: 'GET_ASYNC_REQUEST', xid: 2 });
  const a = await peer.waitType('GET_ASYNC_REPLY', 2);
  t.same(
    [a.packetInMask, a.portStatusMask, a.flowRemovedMask],
    [
      [3, 0],
      [7, 7],
      [15, 0],
    ],
  );
  peer.send({
    type: 'SET_ASYNC',
    xid: 3,
    packetInMask: [0, 0],
    portStatusMask: [7, 7],
    flowRemovedMask: [15, 0],
  });
  peer.send({ type: 'BARRIER_REQUEST', xid: 4 });
  await peer.waitType('BARRIER_REPLY', 4);
  t.notOk(conn.wantsAsync('packetIn', 1));
  t.ok(conn.wantsAsync('portStatus', 2));
});

t.test('port-mod: bad port, bad hw addr, applied without echo to the requester', async (t) => {
  const { sw, connect } = makeSwitch();
  const a = connect();
  const b = connect();
  await a.peer.hello();
  await b.peer.hello();
  a.peer.send({
    type: 'PORT_MOD',
    xid: 2,
    portNo: 77,
    hwAddr: 0,
    config: 0,
    mask: 0,
    advertise: 0,
  });
  await a.peer.waitFor(isError('OFPPMFC_BAD_PORT'));
  a.peer.send({
    type: 'PORT_MOD',
    xid: 3,
    portNo: 1,
    hwAddr: 0x1,
    config: 0,
    mask: 0,
    advertise: 0,
  });
  await a.peer.waitFor(isError('OFPPMFC_BAD_HW_ADDR'));
  a.peer.send({
    type: 'PORT_MOD',
    xid: 4,
    portNo: 1,
    hwAddr: 0x020000000001,
    config: OFPPC.NO_PACKET_IN,
    mask: OFPPC.NO_PACKET_IN,
    advertise: 0,
  });
  a.peer.send({ type: 'BARRIER_REQUEST', xid: 5 });
  await a.peer.waitType('BARRIER_REPLY', 5);
  const st = await b.peer.waitType('PORT_STATUS');
  t.equal(st.port.config, OFPPC.NO_PACKET_IN, 'other controller told');
  t.notOk(
    a.peer.received.some((m) => m.type === 'PORT_STATUS' && m.port.config === OFPPC.NO_PACKET_IN),
    'requester not told',
  );
  t.equal(sw.getPort(1)!.config, OFPPC.NO_PACKET_IN);
});

t.test('flow-mod without a pipeline is refused, not faked', async (t) => {
  const { sw, connect } = makeSwitch();
  sw.pipeline = undefined;
  const { peer } = connect();
  await peer.hello();
  peer.send({
    type: 'FLOW_MOD',
    xid: 2,
    cookie: 0n,
    cookieMask: 0n,
    tableId: 0,
    command: 0,
    idleTimeout: 0,
    hardTimeout: 0,
    priority: 0,
    bufferId: 0xffffffff,
    outPort: OFPP.ANY,
    outGroup: 0xffffffff,
    flags: 0,
    match: [],
    instructions: [],
  } as unknown as OfpMessage);
  await peer.waitFor(isError('OFPBRC_EPERM'));
  t.pass('EPERM');
});

t.test('inactivity probe: echo after 5 s idle, disconnect after 10 s', async (t) => {
  const clock = new FakeClock();
  const { connect } = makeSwitch(clock);
  const { conn, peer } = connect('primary', 5000);
  await peer.hello();
  clock.advance(5000);
  const echo = await peer.waitType('ECHO_REQUEST');
  t.equal(echo.xid, 0);
  t.equal(conn.state, 'active');
  clock.advance(5000);
  await peer.waitClosed();
  t.equal(conn.state, 'closed');
  t.equal(conn.lastError, 'inactivity probe timeout');
});

t.test('garbage framing closes the connection, daemon objects survive', async (t) => {
  const { connect } = makeSwitch();
  const { conn, peer } = connect();
  await peer.hello();
  peer.sendRaw(Buffer.from([4, 2, 0, 3, 0, 0, 0, 1]));
  await peer.waitClosed();
  t.equal(conn.state, 'closed');
  const again = connect();
  await again.peer.hello();
  t.pass('a new connection still works');
});

t.test(
  'multipart requests in parts: held until the last part, ONF 2640 when it never comes',
  async (t) => {
    const clock = new FakeClock();
    const { connect } = makeSwitch(clock);
    const { peer } = connect();
    await peer.hello();
    // DESC with REQ_MORE and no follow-up: the barrier is answered first, the error after 1 s.
    peer.send({ type: 'MULTIPART_REQUEST', xid: 0x3001, flags: 1, mpType: 'DESC' });
    peer.send({ type: 'BARRIER_REQUEST', xid: 0x12d0 });
    await peer.waitType('BARRIER_REPLY', 0x12d0);
    t.notOk(
      peer.received.some((m) => m.xid === 0x3001),
      'nothing yet for the partial request',
    );
    clock.advance(1000);
    const err = (await peer.waitFor((m) => m.type === 'ERROR' && m.xid === 0x3001)) as Err;
    t.equal(err.errType, 0xffff);
    t.equal(err.code, 2640, 'OFPBRC_MULTIPART_REQUEST_TIMEOUT');
    t.equal(err.experimenter, 0x4f4e4600);
    // Two parts of PORT_DESC: one reply once the last part arrives.
    peer.send({ type: 'MULTIPART_REQUEST', xid: 0x3002, flags: 1, mpType: 'PORT_DESC' });
    peer.send({ type: 'MULTIPART_REQUEST', xid: 0x3002, flags: 0, mpType: 'PORT_DESC' });
    const r = await peer.waitType('MULTIPART_REPLY', 0x3002);
    t.equal(r.mpType, 'PORT_DESC');
    clock.advance(2000);
    peer.send({ type: 'BARRIER_REQUEST', xid: 0x12d1 });
    await peer.waitType('BARRIER_REPLY', 0x12d1);
    t.equal(
      peer.received.filter((m) => m.xid === 0x3002).length,
      1,
      'answered once, no timeout error',
    );
  },
);

t.test('messages are counted by direction and type, errors by type and code', async (t) => {
  const { connect } = makeSwitch();
  const family = allLabelledCounters().find((c) => c.name === 'openflow_messages');
  const errs = () => allLabelledCounters().find((c) => c.name === 'openflow_errors_sent');
  const count = (c: ReturnType<typeof errs>, labels: string[]): number =>
    c?.entries().find((e) => e.labels.join('/') === labels.join('/'))?.total ?? 0;
  t.ok(family, 'the family exists once ofconn is loaded');
  const rxEcho0 = count(family, ['rx', 'ECHO_REQUEST']);
  const txEcho0 = count(family, ['tx', 'ECHO_REPLY']);
  const bad0 = count(errs(), ['BAD_REQUEST', '1']);
  const { peer } = connect();
  await peer.hello();
  peer.send({ type: 'ECHO_REQUEST', xid: 2, data: Buffer.from('x') });
  await peer.waitType('ECHO_REPLY', 2);
  // (other connections of this file may still be exchanging messages: at least one more)
  t.ok(count(family, ['rx', 'ECHO_REQUEST']) > rxEcho0, 'echo request counted');
  t.ok(count(family, ['tx', 'ECHO_REPLY']) > txEcho0, 'echo reply counted');
  // An unknown message type (OFPT 200) is answered with BAD_REQUEST/BAD_TYPE (code 1).
  const bogus = new Uint8Array([4, 200, 0, 8, 0, 0, 0, 3]);
  peer.sendRaw(bogus);
  await peer.waitFor(isError('OFPBRC_BAD_TYPE'));
  t.ok(count(family, ['rx', 'type200']) >= 1, 'unknown types get a numeric label');
  t.ok(count(errs(), ['BAD_REQUEST', '1']) > bad0, 'the error is counted by type and code');
});

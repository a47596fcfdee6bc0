/**
 * A controller that follows ONOS's OpenFlow 1.3 handshake (../shared/reference/controllers.md
 * §1.4): it waits for the switch's HELLO, answers with a HELLO in the switch's header version and
 * the bitmap {1.0,1.3,1.4,1.5} pipelined with FEATURES_REQUEST, then PORT_DESC, BARRIER +
 * GET_CONFIG (no SET_CONFIG since n_buffers is 0), METER_FEATURES, DESC, and ROLE_REQUEST MASTER
 * with generation id 0. Like ONOS, any OFPT_ERROR during the handshake fails it, and handshake
 * xids count down from 0xffffffff.
 */
import * as net from 'node:net';
import t from 'tap';
import { realClock } from '../../lib/clock.js';
import { StreamTransport } from '../../lib/transport.js';
import { OFPP, OFPPC, OFPPF, OFPPS } from '../../openflow/constants.js';
import type { OfpMessage } from '../../openflow/messages.js';
import { Ofproto } from '../../ofproto/ofproto.js';
import { OfTestPeer } from '../helpers/ofclient.js';
import { ONOS_DEFAULT_FLOWS, OnosEmulator } from '../helpers/onos-emulator.js';

t.test('ONOS-style handshake completes through ROLE_REQUEST MASTER', async (t) => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<OfTestPeer>((resolve) =>
    server.once('connection', (s) => resolve(new OfTestPeer(new StreamTransport(s, 'switch')))),
  );
  const sw = new Ofproto({ name: 'onos0', datapathId: 0x0000_0000_0000_0042n, clock: realClock });
  const up = {
    config: 0,
    state: OFPPS.LIVE,
    curr: OFPPF['1GB_FD'] | OFPPF.COPPER,
    currSpeed: 1_000_000,
    maxSpeed: 0,
  };
  sw.addPort({
    ofport: OFPP.LOCAL,
    name: 'onos0',
    hwAddr: 0x0200000000ff,
    ...up,
    config: OFPPC.PORT_DOWN,
    state: OFPPS.LINK_DOWN,
  });
  for (let i = 1; i <= 3; i++)
    sw.addPort({ ofport: i, name: `eth${i}`, hwAddr: 0x020000000000 + i, ...up });
  t.teardown(async () => {
    await sw.close();
    server.close();
  });
  await sw.setControllers([{ target: `tcp:127.0.0.1:${port}` }]);
  const onos = await accepted;

  let xid = 0xffffffff;
  const next = (): number => xid--;
  const failOnError = (m: OfpMessage): void => {
    if (m.type === 'ERROR')
      t.fail(`switch sent an error during the handshake: type ${m.errType} code ${m.code}`);
  };

  // 1. WAIT_HELLO: the switch speaks first.
  const hello = await onos.waitType('HELLO');
  const switchVersion = onos.raw[0]![0]!;
  t.equal(switchVersion, 4, 'the switch HELLO header says 1.3 (ONOS adopts it)');
  t.ok(hello.xid >= 0);
  // 2. HELLO (switch's version, bitmap 1.0/1.3/1.4/1.5) + FEATURES_REQUEST back to back.
  onos.send({
    type: 'HELLO',
    xid: next(),
    version: switchVersion,
    elements: [{ type: 'VERSIONBITMAP', bitmaps: [(1 << 1) | (1 << 4) | (1 << 5) | (1 << 6)] }],
  });
  let x = next();
  onos.send({ type: 'FEATURES_REQUEST', xid: x });
  const features = await onos.waitType('FEATURES_REPLY', x);
  t.not(features.datapathId, 0n, 'non-zero dpid');
  t.equal(features.nBuffers, 0);
  // 3. PORT_DESC, all parts.
  x = next();
  onos.send({ type: 'MULTIPART_REQUEST', xid: x, flags: 0, mpType: 'PORT_DESC' });
  const pd = await onos.waitType('MULTIPART_REPLY', x);
  t.equal(pd.flags & 1, 0, 'single part (no REPLY_MORE)');
  if (pd.mpType === 'PORT_DESC') t.equal(pd.entries.length, 4);
  // 4. n_buffers is 0, so no SET_CONFIG: BARRIER + GET_CONFIG.
  const bx = next();
  onos.send({ type: 'BARRIER_REQUEST', xid: bx });
  x = next();
  onos.send({ type: 'GET_CONFIG_REQUEST', xid: x });
  await onos.waitType('BARRIER_REPLY', bx);
  const cfg = await onos.waitType('GET_CONFIG_REPLY', x);
  t.equal(cfg.missSendLen, 128, 'OVS answers 128 (ONOS only warns)');
  const multipartDuringConfig = onos.received.filter(
    (m) => m.type === 'MULTIPART_REPLY' && m.xid !== pd.xid,
  );
  t.equal(multipartDuringConfig.length, 0, 'no unsolicited multipart reply in WAIT_CONFIG_REPLY');
  // 5. METER_FEATURES.
  x = next();
  onos.send({ type: 'MULTIPART_REQUEST', xid: x, flags: 0, mpType: 'METER_FEATURES' });
  const mf = await onos.waitType('MULTIPART_REPLY', x);
  t.equal(mf.mpType, 'METER_FEATURES');
  // 6. DESC.
  x = next();
  onos.send({ type: 'MULTIPART_REQUEST', xid: x, flags: 0, mpType: 'DESC' });
  const desc = await onos.waitType('MULTIPART_REPLY', x);
  t.equal(desc.mpType, 'DESC');
  // 8. Device provider asks for PORT_DESC again.
  x = next();
  onos.send({ type: 'MULTIPART_REQUEST', xid: x, flags: 0, mpType: 'PORT_DESC' });
  await onos.waitType('MULTIPART_REPLY', x);
  // 9. ROLE_REQUEST MASTER with generation id 0.
  x = next();
  onos.send({ type: 'ROLE_REQUEST', xid: x, role: 2, generationId: 0n });
  const role = await onos.waitType('ROLE_REPLY', x);
  t.equal(role.role, 2, 'MASTER');
  t.equal(role.generationId, 0n);
  onos.received.forEach(failOnError);
  // ONOS polls every 5 s: flow and table stats must be answered (empty bodies are fine).
  x = next();
  onos.send({ type: 'MULTIPART_REQUEST', xid: x, flags: 0, mpType: 'TABLE' });
  const ts = await onos.waitType('MULTIPART_REPLY', x);
  if (ts.mpType === 'TABLE') t.equal(ts.entries.length, 254);
  x = next();
  onos.send({
    type: 'MULTIPART_REQUEST',
    xid: x,
    flags: 0,
    mpType: 'PORT_STATS',
    portNo: OFPP.ANY,
  });
  const ps = await onos.waitType('MULTIPART_REPLY', x);
  if (ps.mpType === 'PORT_STATS') t.equal(ps.entries.length, 4);
  t.ok(sw.connmgr.status()[0]?.isConnected);
  t.equal(sw.connmgr.status()[0]?.role, 'master');
});

t.test('the ONOS emulation takes an in-process switch to MASTER and polls it', async (t) => {
  // The same emulation as tests/e2e/onos-emulation.test.ts (which needs root for its network),
  // here against one Ofproto (no datapath, so no link probes) with faster polls: flows installed, read back equal, stats answered.
  const onos = await OnosEmulator.listen({ pollIntervalMs: 300, probeIntervalMs: 0 });
  const sw = new Ofproto({ name: 'onos1', datapathId: 0x43n, clock: realClock });
  const up = {
    config: 0,
    state: OFPPS.LIVE,
    curr: OFPPF['1GB_FD'],
    currSpeed: 1_000_000,
    maxSpeed: 0,
  };
  sw.addPort({ ofport: OFPP.LOCAL, name: 'onos1', hwAddr: 0x0200000001ff, ...up });
  for (let i = 1; i <= 2; i++)
    sw.addPort({ ofport: i, name: `p${i}`, hwAddr: 0x020000000100 + i, ...up });
  t.teardown(async () => {
    await sw.close();
    await onos.close();
  });
  await sw.setControllers([{ target: onos.target }]);
  await onos.waitUntil(() => (onos.devices.get(0x43n)?.flowPolls.length ?? 0) >= 3, '3 flow polls');
  const dev = onos.devices.get(0x43n)!;
  t.same(onos.problems, [], 'no protocol problem');
  t.equal(dev.role, 'MASTER');
  t.equal(dev.batchesOk.length, 1, 'the default flows were accepted before the barrier');
  t.ok(
    dev.flowPolls.every((p) => p.consistent),
    'every poll read back what was installed',
  );
  t.equal(dev.flowPolls.at(-1)!.entries.length, ONOS_DEFAULT_FLOWS.length);
  t.equal(sw.connmgr.status()[0]?.role, 'master');
});

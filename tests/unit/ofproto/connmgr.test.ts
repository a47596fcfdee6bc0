import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import t from 'tap';
import { FakeClock, realClock } from '../../../lib/clock.js';
import { counter } from '../../../lib/counters.js';
import { StreamTransport, memoryTransportPair } from '../../../lib/transport.js';
import { OFPP, OFPPS } from '../../../openflow/constants.js';
import { parseOfTarget } from '../../../ofproto/connmgr.js';
import { Ofconn } from '../../../ofproto/ofconn.js';
import { Ofproto } from '../../../ofproto/ofproto.js';
import { OfTestPeer } from '../../helpers/ofclient.js';
import { freePort } from '../../helpers/net.js';

const tick = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('target parsing', (t) => {
  t.same(parseOfTarget('tcp:10.0.0.1'), { kind: 'tcp', host: '10.0.0.1', port: 6653 });
  t.same(parseOfTarget('tcp:127.0.0.1:6633'), { kind: 'tcp', host: '127.0.0.1', port: 6633 });
  t.same(parseOfTarget('tcp:[::1]:6634'), { kind: 'tcp', host: '::1', port: 6634 });
  t.same(parseOfTarget('ssl:1.2.3.4:6653'), { kind: 'ssl', host: '1.2.3.4', port: 6653 });
  t.same(parseOfTarget('unix:/run/c.sock'), { kind: 'unix', path: '/run/c.sock' });
  t.same(parseOfTarget('ptcp:'), { kind: 'ptcp', host: '0.0.0.0', port: 6653 });
  t.same(parseOfTarget('ptcp:6654'), { kind: 'ptcp', host: '0.0.0.0', port: 6654 });
  t.same(parseOfTarget('ptcp:6654:127.0.0.1'), { kind: 'ptcp', host: '127.0.0.1', port: 6654 });
  t.same(parseOfTarget('punix:/tmp/x.sock'), { kind: 'punix', path: '/tmp/x.sock' });
  t.throws(() => parseOfTarget('udp:1.2.3.4'), /unknown connection type/);
  t.throws(() => parseOfTarget('tcp:1.2.3.4:99999'), /bad port/);
  t.throws(() => parseOfTarget('nonsense'), /not a valid/);
  t.end();
});

t.test('active controller: reconnect backoff 1 s doubling up to max_backoff', async (t) => {
  const clock = new FakeClock();
  const port = await freePort(); // nothing listens there
  const sw = new Ofproto({ name: 'br0', datapathId: 1n, clock });
  t.teardown(() => sw.close());
  const failed = counter('connmgr_connect_failed', 'ofproto');
  const waitFailure = async (n: number): Promise<void> => {
    for (let i = 0; i < 200 && failed.total < n; i++) await tick(5);
  };
  const base = failed.total;
  await sw.setControllers([{ target: `tcp:127.0.0.1:${port}`, maxBackoffMs: 4000 }]);
  const delays: number[] = [];
  for (let i = 1; i <= 5; i++) {
    await waitFailure(base + i);
    t.equal(sw.connmgr.status()[0]?.state, 'BACKOFF');
    delays.push(clock.nextDue()! - clock.now());
    clock.advance(clock.nextDue()! - clock.now());
  }
  t.same(delays, [1000, 2000, 4000, 4000, 4000]);
  t.equal(sw.connmgr.status()[0]?.isConnected, false);
  t.match(sw.connmgr.status()[0]?.lastError, /ECONNREFUSED/);
});

t.test(
  'active controller connects after it comes up; removing it closes the connection',
  async (t) => {
    const port = await freePort();
    const sw = new Ofproto({ name: 'br0', datapathId: 1n, clock: realClock });
    t.teardown(() => sw.close());
    const server = net.createServer();
    const accepted = new Promise<OfTestPeer>((resolve) =>
      server.once('connection', (s) => resolve(new OfTestPeer(new StreamTransport(s, 'sw')))),
    );
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    t.teardown(() => server.close());
    await sw.setControllers([{ target: `tcp:127.0.0.1:${port}` }]);
    const peer = await accepted;
    await peer.hello();
    t.equal(sw.connmgr.status()[0]?.isConnected, true);
    t.equal(sw.connmgr.status()[0]?.state, 'ACTIVE');
    await sw.setControllers([]);
    await peer.waitClosed();
    t.same(sw.connmgr.status(), []);
  },
);

t.test('passive ptcp: listener accepts several service connections', async (t) => {
  const port = await freePort();
  const sw = new Ofproto({ name: 'br0', datapathId: 7n, clock: realClock });
  t.teardown(() => sw.close());
  await sw.setControllers([{ target: `ptcp:${port}:127.0.0.1` }]);
  t.equal(sw.connmgr.status()[0]?.state, 'LISTENING');
  const peers: OfTestPeer[] = [];
  for (let i = 0; i < 3; i++) {
    const s = net.connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    const p = new OfTestPeer(new StreamTransport(s, 'client'));
    await p.hello();
    peers.push(p);
  }
  for (const [i, p] of peers.entries()) {
    p.send({ type: 'FEATURES_REQUEST', xid: 100 + i });
    t.equal((await p.waitType('FEATURES_REPLY', 100 + i)).datapathId, 7n);
  }
  t.equal(sw.connmgr.connections().length, 3);
  t.equal(sw.connmgr.status()[0]?.isConnected, true);
  for (const p of peers) p.t.close();
});

t.test('several primary controllers each get port status', async (t) => {
  const sw = new Ofproto({ name: 'br0', datapathId: 7n, clock: realClock });
  t.teardown(() => sw.close());
  const ports = [await freePort(), await freePort()];
  const servers = ports.map(() => net.createServer());
  const accepted = servers.map(
    (s) =>
      new Promise<OfTestPeer>((resolve) =>
        s.once('connection', (c) => resolve(new OfTestPeer(new StreamTransport(c, 'sw')))),
      ),
  );
  await Promise.all(
    servers.map((s, i) => new Promise<void>((r) => s.listen(ports[i], '127.0.0.1', r))),
  );
  t.teardown(() => servers.forEach((s) => s.close()));
  await sw.setControllers(ports.map((p) => ({ target: `tcp:127.0.0.1:${p}` })));
  const peers = await Promise.all(accepted);
  await Promise.all(peers.map((p) => p.hello()));
  sw.addPort({
    ofport: 5,
    name: 'p5',
    hwAddr: 5,
    config: 0,
    state: OFPPS.LIVE,
    curr: 0,
    currSpeed: 0,
    maxSpeed: 0,
  });
  for (const p of peers) t.equal((await p.waitType('PORT_STATUS')).port.portNo, 5);
  t.equal(OFPP.LOCAL, 0xfffffffe);
});

t.test('backpressure: a peer that does not read makes the switch stop reading', async (t) => {
  const sw = new Ofproto({ name: 'br0', datapathId: 1n, clock: realClock });
  const [a, b] = memoryTransportPair(1);
  const conn = new Ofconn(a, {
    type: 'service',
    clock: realClock,
    probeIntervalMs: 0,
    maxQueuedReplies: 10,
    owner: {
      handleMessage: (c, m, raw) => sw.handleMessage(c, m, raw),
      changeRole: (c, r, g) => sw.connmgr.changeRole(c, r, g),
      currentGenerationId: () => sw.connmgr.currentGenerationId(),
    },
  });
  const peer = new OfTestPeer(b);
  await peer.hello();
  const paused = counter('ofconn_rx_paused', 'ofproto');
  const before = paused.total;
  b.pause(); // stop consuming the switch's replies
  for (let i = 0; i < 50; i++)
    peer.send({ type: 'ECHO_REQUEST', xid: 1000 + i, data: new Uint8Array(100) });
  await tick(50);
  t.ok(paused.total > before, 'reading paused');
  b.resume();
  await peer.waitType('ECHO_REPLY', 1049);
  t.equal(
    peer.received.filter((m) => m.type === 'ECHO_REPLY' && m.xid >= 1000 && m.xid < 1050).length,
    50,
    'every request answered once drained',
  );
  conn.close();
});

t.test('ssl: active connection with mutual certificates', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const mk = (name: string): { key: Buffer; cert: Buffer } => {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        `/CN=${name}`,
        '-keyout',
        join(dir, `${name}.key`),
        '-out',
        join(dir, `${name}.pem`),
      ],
      { stdio: 'ignore' },
    );
    return {
      key: readFileSync(join(dir, `${name}.key`)),
      cert: readFileSync(join(dir, `${name}.pem`)),
    };
  };
  const ctl = mk('controller');
  const sw = mk('switch');
  const server = tls.createServer({
    key: ctl.key,
    cert: ctl.cert,
    ca: sw.cert,
    requestCert: true,
    rejectUnauthorized: true,
  });
  const accepted = new Promise<OfTestPeer>((resolve) =>
    server.once('secureConnection', (s) => resolve(new OfTestPeer(new StreamTransport(s, 'sw')))),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const br = new Ofproto({
    name: 'br0',
    datapathId: 9n,
    clock: realClock,
    tls: { key: sw.key, cert: sw.cert, ca: ctl.cert },
  });
  t.teardown(() => br.close());
  await br.setControllers([{ target: `ssl:127.0.0.1:${port}` }]);
  const peer = await accepted;
  await peer.hello();
  peer.send({ type: 'FEATURES_REQUEST', xid: 5 });
  t.equal((await peer.waitType('FEATURES_REPLY', 5)).datapathId, 9n);
  t.equal(br.connmgr.status()[0]?.isConnected, true);
});

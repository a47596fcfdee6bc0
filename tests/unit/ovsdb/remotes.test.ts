import t from 'tap';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import { WebSocket } from 'ws';
import { FakeClock, realClock } from '../../../lib/clock.js';
import type { Transport } from '../../../lib/transport.js';
import { RemoteManager, parseRemote, type ConnectionInfo } from '../../../ovsdb/remotes.js';

function tmpdir(t: { teardown(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvs-remotes-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Collects accepted transports; echoes bytes back so clients can see the link works. */
function acceptor(): {
  got: { t: Transport; info: ConnectionInfo }[];
  fn: (t: Transport, info: ConnectionInfo) => void;
} {
  const got: { t: Transport; info: ConnectionInfo }[] = [];
  return {
    got,
    fn: (tr, info) => {
      got.push({ t: tr, info });
      tr.on('data', (c) => tr.write(c));
    },
  };
}

function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() - start > ms) reject(new Error('timed out waiting'));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

function echoRoundTrip(sock: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.length >= text.length) resolve(buf);
    });
    sock.on('error', reject);
    sock.write(text);
  });
}

void t.test('parseRemote', async (t) => {
  t.same(parseRemote('punix:/run/x.sock'), { kind: 'punix', path: '/run/x.sock' });
  t.same(parseRemote('ptcp:6640'), { kind: 'ptcp', port: 6640, host: '0.0.0.0' });
  t.same(parseRemote('ptcp:6640:127.0.0.1'), { kind: 'ptcp', port: 6640, host: '127.0.0.1' });
  t.same(parseRemote('ptcp:0:[::1]'), { kind: 'ptcp', port: 0, host: '::1' });
  t.same(parseRemote('pssl:6640:10.0.0.1'), { kind: 'pssl', port: 6640, host: '10.0.0.1' });
  t.same(parseRemote('pws:8080'), { kind: 'pws', port: 8080, host: '0.0.0.0' });
  t.same(parseRemote('tcp:127.0.0.1:6640'), { kind: 'tcp', host: '127.0.0.1', port: 6640 });
  t.same(parseRemote('ssl:[::1]:6640'), { kind: 'ssl', host: '::1', port: 6640 });
  t.same(parseRemote('unix:/x'), { kind: 'unix', path: '/x' });
  for (const bad of [
    'bogus:1',
    'ptcp:x',
    'ptcp:70000',
    'tcp:1.2.3.4',
    'tcp::5',
    'tcp:1.2.3.4:0',
    'punix:',
    'nocolon',
    'ssl:[::1:5',
  ]) {
    t.throws(() => parseRemote(bad), Error, bad);
  }
});

void t.test('punix: listens, removes a stale socket, counts sessions, cleans up', async (t) => {
  const dir = tmpdir(t);
  const sock = path.join(dir, 'db.sock');
  // A stale socket file: bound by a process that exited without unlinking it.
  execFileSync('/usr/bin/python3', [
    '-c',
    `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(sock)})`,
  ]);
  t.ok(fs.existsSync(sock), 'stale socket exists');
  const acc = acceptor();
  const rm = new RemoteManager(acc.fn, realClock);
  const st = await rm.add(`punix:${sock}`);
  t.equal(st.isConnected, true);
  t.equal(st.state, 'LISTENING');
  const c = net.connect(sock);
  t.equal(await echoRoundTrip(c, 'hello'), 'hello');
  t.equal(acc.got[0]!.info.probeIntervalMs, 0, 'no probes on unix sockets');
  t.equal(acc.got[0]!.info.remote, `punix:${sock}`);
  t.equal(rm.status(`punix:${sock}`)!.sessions, 1);
  c.destroy();
  await waitFor(() => rm.status(`punix:${sock}`)!.sessions === 0);
  // A second server on a live socket is refused.
  const rm2 = new RemoteManager(acc.fn, realClock);
  await t.rejects(rm2.add(`punix:${sock}`), /another process is listening/);
  t.same(rm.list(), [`punix:${sock}`]);
  t.equal(await rm.remove(`punix:${sock}`), true);
  t.equal(await rm.remove(`punix:${sock}`), false);
  t.notOk(fs.existsSync(sock), 'socket file removed');
});

void t.test('ptcp on port 0 reports the bound port and a 5 s probe', async (t) => {
  const acc = acceptor();
  const rm = new RemoteManager(acc.fn, realClock);
  t.teardown(() => rm.closeAll());
  const st = await rm.add('ptcp:0:127.0.0.1');
  t.ok(st.boundPort! > 0);
  const c = net.connect(st.boundPort!, '127.0.0.1');
  t.equal(await echoRoundTrip(c, 'abc'), 'abc');
  t.equal(acc.got[0]!.info.probeIntervalMs, 5000);
  c.destroy();
  // Listening twice on the same port fails cleanly.
  const rm2 = new RemoteManager(acc.fn, realClock);
  await t.rejects(rm2.add(`ptcp:${st.boundPort!}:127.0.0.1`));
  t.same(rm2.list(), []);
});

void t.test('probe interval is configurable', async (t) => {
  const acc = acceptor();
  const rm = new RemoteManager(acc.fn, realClock, { probeIntervalMs: 1234 });
  t.teardown(() => rm.closeAll());
  const st = await rm.add('ptcp:0:127.0.0.1');
  const c = net.connect(st.boundPort!, '127.0.0.1');
  await echoRoundTrip(c, 'x');
  t.equal(acc.got[0]!.info.probeIntervalMs, 1234);
  c.destroy();
});

void t.test('pws: one JSON-RPC message per text frame', async (t) => {
  const acc = acceptor();
  const rm = new RemoteManager(acc.fn, realClock);
  t.teardown(() => rm.closeAll());
  const st = await rm.add('pws:0:127.0.0.1');
  const ws = new WebSocket(`ws://127.0.0.1:${st.boundPort!}/`);
  await new Promise((r) => ws.once('open', r));
  const frames: string[] = [];
  ws.on('message', (d: Buffer) => frames.push(d.toString()));
  ws.send('{"id":1,"method":"echo","params":[]}');
  ws.send('{"id":2,"method":"echo","params":[]}');
  await waitFor(() => frames.length === 2);
  t.same(frames, ['{"id":1,"method":"echo","params":[]}', '{"id":2,"method":"echo","params":[]}']);
  t.equal(rm.status('pws:0:127.0.0.1')!.sessions, 1);
  ws.close();
  await waitFor(() => rm.status('pws:0:127.0.0.1')!.sessions === 0);
});

void t.test('active tcp: connects, reconnects with backoff after loss and refusal', async (t) => {
  const clock = new FakeClock();
  const peers: net.Socket[] = [];
  const srv = net.createServer((s) => peers.push(s));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  t.teardown(() => srv.close());
  const acc = acceptor();
  const rm = new RemoteManager(acc.fn, clock);
  t.teardown(() => rm.closeAll());
  const target = `tcp:127.0.0.1:${port}`;
  await rm.add(target);
  await waitFor(() => acc.got.length === 1);
  t.equal(rm.status(target)!.state, 'ACTIVE');
  t.equal(rm.status(target)!.isConnected, true);
  // The peer drops us: BACKOFF, then a reconnect once the clock passes 1 s.
  peers[0]!.destroy();
  await waitFor(() => rm.status(target)!.state === 'BACKOFF');
  t.equal(rm.status(target)!.isConnected, false);
  clock.advance(999);
  t.equal(rm.status(target)!.state, 'BACKOFF');
  clock.advance(1);
  await waitFor(() => acc.got.length === 2);
  t.equal(rm.status(target)!.nConnections, 2);
  // Server goes away: attempts fail, backoff doubles up to the cap.
  await new Promise<void>((r) => {
    srv.close(() => r());
    for (const p of peers) p.destroy();
  });
  await waitFor(() => rm.status(target)!.state === 'BACKOFF');
  clock.advance(1000);
  await waitFor(
    () => rm.status(target)!.lastError !== undefined && rm.status(target)!.state === 'BACKOFF',
  );
  t.match(rm.status(target)!.lastError!, /ECONNREFUSED/);
  t.equal(await rm.remove(target), true);
  t.equal(clock.pending(), 0, 'no timer left after remove');
});

const hasPki = fs.existsSync('/usr/bin/ovs-pki');
if (!hasPki && process.env.CI === 'true') t.fail('ovs-pki is missing (required under CI=true)');

void t.test(
  'pssl and ssl with certificates from ovs-pki',
  { skip: hasPki ? false : 'ovs-pki not installed' },
  async (t) => {
    const dir = tmpdir(t);
    const pki = path.join(dir, 'pki');
    const run = (...args: string[]): void => {
      execFileSync(
        '/usr/bin/ovs-pki',
        [`--dir=${pki}`, `--log=${path.join(dir, 'log')}`, ...args],
        { cwd: dir, stdio: 'ignore' },
      );
    };
    run('init');
    run('req+sign', 'srv', 'switch');
    run('req+sign', 'cli', 'switch');
    const ca = path.join(pki, 'switchca', 'cacert.pem');
    const acc = acceptor();
    const rm = new RemoteManager(acc.fn, realClock);
    t.teardown(() => rm.closeAll());
    const st = await rm.add('pssl:0:127.0.0.1', {
      ssl: {
        privateKey: path.join(dir, 'srv-privkey.pem'),
        certificate: path.join(dir, 'srv-cert.pem'),
        caCert: ca,
      },
    });
    // A client with a certificate from the same CA gets through.
    const c = tls.connect({
      port: st.boundPort!,
      host: '127.0.0.1',
      key: fs.readFileSync(path.join(dir, 'cli-privkey.pem')),
      cert: fs.readFileSync(path.join(dir, 'cli-cert.pem')),
      ca: fs.readFileSync(ca),
      checkServerIdentity: () => undefined,
    });
    await new Promise((r) => c.once('secureConnect', r));
    t.equal(await echoRoundTrip(c, 'secret'), 'secret');
    c.destroy();
    // A client without a certificate is refused.
    const bad = tls.connect({
      port: st.boundPort!,
      host: '127.0.0.1',
      ca: fs.readFileSync(ca),
      checkServerIdentity: () => undefined,
    });
    const outcome = await new Promise<string>((resolve) => {
      bad.once('error', () => resolve('error'));
      bad.once('close', () => resolve('closed'));
      bad.once('data', () => resolve('data'));
      bad.on('secureConnect', () => bad.write('x'));
    });
    t.not(outcome, 'data', 'no certificate, no service');
    bad.destroy();
    t.equal(acc.got.length, 1);
    // Our own active ssl: remote connects to the pssl: one.
    const target = `ssl:127.0.0.1:${st.boundPort!}`;
    await rm.add(target, {
      ssl: {
        privateKey: path.join(dir, 'cli-privkey.pem'),
        certificate: path.join(dir, 'cli-cert.pem'),
        caCert: ca,
      },
    });
    await waitFor(() => acc.got.length === 3);
    t.equal(rm.status(target)!.state, 'ACTIVE');
    // Missing TLS material is an error at add time.
    await t.rejects(
      new RemoteManager(acc.fn, realClock).add('pssl:0:127.0.0.1'),
      /needs privateKey/,
    );
  },
);

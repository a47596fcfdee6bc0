import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { listenUnix, listenTcp, ListenError } from '../../../lib/unix-socket.js';
import type { StreamTransport } from '../../../lib/transport.js';

function tmpdir(t: { teardown: (fn: () => void) => void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvs-us-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

async function rejection(p: Promise<unknown>): Promise<ListenError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ListenError) return e;
    throw e;
  }
  throw new Error('expected a ListenError');
}

/** Connects, sends `text`, resolves with what the server echoes back before closing. */
function roundTrip(addr: string | { port: number; host: string }, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = typeof addr === 'string' ? net.connect(addr) : net.connect(addr.port, addr.host);
    let got = '';
    s.on('connect', () => s.write(text));
    s.on('data', (d) => {
      got += d.toString();
      if (got.length >= text.length) s.end();
    });
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

function echoServer(seen: StreamTransport[]) {
  return (tr: StreamTransport): void => {
    seen.push(tr);
    tr.on('data', (c) => tr.write(c));
  };
}

void t.test(
  'listenUnix serves connections as transports and removes the socket on close',
  async (t) => {
    const dir = tmpdir(t);
    const p = path.join(dir, 'a.ctl');
    const seen: StreamTransport[] = [];
    const l = await listenUnix(p, echoServer(seen));
    t.equal(l.name, `unix:${p}`);
    t.ok(fs.lstatSync(p).isSocket());
    t.equal(await roundTrip(p, 'hello'), 'hello');
    t.equal(seen.length, 1);
    t.equal(seen[0]!.peer, `unix:${p}`);
    await l.close();
    await l.close();
    t.notOk(fs.existsSync(p), 'socket file removed');
  },
);

void t.test('a live socket is "in use by a running daemon"', async (t) => {
  const dir = tmpdir(t);
  const p = path.join(dir, 'b.ctl');
  const l = await listenUnix(p, () => {});
  const e = await rejection(listenUnix(p, () => {}));
  t.equal(e.code, 'in-use');
  t.match(e.message, /is in use by a running daemon/);
  t.ok(fs.existsSync(p), 'the live socket is left alone');
  await l.close();
});

void t.test('a stale socket (nobody listening) is replaced', async (t) => {
  const dir = tmpdir(t);
  const p = path.join(dir, 'c.ctl');
  // bind without listening, then exit: leaves a socket file that refuses connections
  execFileSync('/usr/bin/python3', [
    '-c',
    'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])',
    p,
  ]);
  t.ok(fs.lstatSync(p).isSocket());
  const l = await listenUnix(p, echoServer([]));
  t.equal(await roundTrip(p, 'x'), 'x');
  await l.close();
});

void t.test('a path that is not a socket is refused and left alone', async (t) => {
  const dir = tmpdir(t);
  const p = path.join(dir, 'file');
  fs.writeFileSync(p, 'data');
  const e = await rejection(listenUnix(p, () => {}));
  t.equal(e.code, 'not-a-socket');
  t.equal(fs.readFileSync(p, 'utf8'), 'data');
});

void t.test('an over-long path and a missing directory are clear errors', async (t) => {
  const dir = tmpdir(t);
  t.equal(
    (await rejection(listenUnix(path.join(dir, 'x'.repeat(120)), () => {}))).code,
    'path-too-long',
  );
  t.equal(
    (await rejection(listenUnix(path.join(dir, 'nope', 'x.ctl'), () => {}))).code,
    'listen-failed',
  );
});

void t.test('close() closes accepted connections', async (t) => {
  const dir = tmpdir(t);
  const p = path.join(dir, 'd.ctl');
  const seen: StreamTransport[] = [];
  const l = await listenUnix(p, (tr) => seen.push(tr));
  const s = net.connect(p);
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  s.on('end', () => s.end());
  await new Promise<void>((r) => s.on('connect', () => r()));
  while (seen.length === 0) await new Promise((r) => setImmediate(r));
  await l.close();
  await closed;
  for (let i = 0; i < 100 && !seen[0]!.closed; i++) await new Promise((r) => setImmediate(r));
  t.ok(seen[0]!.closed);
});

void t.test('listenTcp on an ephemeral port', async (t) => {
  const seen: StreamTransport[] = [];
  const l = await listenTcp('127.0.0.1', 0, echoServer(seen));
  t.ok(l.port > 0);
  t.equal(l.name, `tcp:127.0.0.1:${l.port}`);
  t.equal(await roundTrip({ host: '127.0.0.1', port: l.port }, 'ping'), 'ping');
  t.match(seen[0]!.peer, /^tcp:127\.0\.0\.1:\d+$/);
  const e = await rejection(listenTcp('127.0.0.1', l.port, () => {}));
  t.equal(e.code, 'in-use');
  await l.close();
});

void t.test('listenTcp on ::1', async (t) => {
  let l;
  try {
    l = await listenTcp('::1', 0, echoServer([]));
  } catch (e) {
    t.comment(`skipped: no IPv6 loopback: ${String(e)}`);
    return;
  }
  t.equal(l.name, `tcp:[::1]:${l.port}`);
  t.equal(await roundTrip({ host: '::1', port: l.port }, 'v6'), 'v6');
  await l.close();
});

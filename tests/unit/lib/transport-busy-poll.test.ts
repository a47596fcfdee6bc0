/**
 * StreamTransport.busyPoll over a real unix socket with the addon's busyRead: bytes already in
 * the kernel are read without returning to the event loop and emitted as `data`; nothing within
 * the budget is a `timeout`; no reader, a paused stream, a stream that is not a socket and a
 * peer that has closed are `unavailable` (the event loop then reports the close as usual).
 */
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { loadNative } from '../../../datapath/native.js';
import { setBusyReader, StreamTransport } from '../../../lib/transport.js';

/** A connected pair: the server side wrapped in a StreamTransport, the client socket raw. */
async function pair(t: { teardown(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-busypoll-'));
  const path = join(dir, 's.sock');
  let accepted!: (s: Socket) => void;
  const got = new Promise<Socket>((r) => (accepted = r));
  const srv = createServer((s) => accepted(s));
  await new Promise<void>((r) => srv.listen(path, r));
  const client = createConnection(path);
  await new Promise<void>((r) => client.once('connect', r));
  const server = await got;
  const tr = new StreamTransport(server, 'unix:test');
  const chunks: Buffer[] = [];
  tr.on('data', (c) => chunks.push(c));
  t.teardown(() => {
    client.destroy();
    tr.destroy();
    srv.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { tr, client, chunks };
}

t.test('busyPoll reads what is waiting, times out, and knows when it cannot', async (t) => {
  const native = loadNative();
  const { tr, client, chunks } = await pair(t);

  setBusyReader(undefined);
  t.equal(tr.busyPoll(100), 'unavailable', 'no reader installed');
  setBusyReader(native.busyRead);
  t.teardown(() => setBusyReader(undefined));

  t.equal(tr.busyPoll(200), 'timeout', 'nothing sent: timeout after the budget');

  client.write(Buffer.from('hello, switch'));
  // No await: the event loop has not run, so only the busy poll can see these bytes.
  t.equal(tr.busyPoll(1_000_000), 'data', 'bytes written before the poll are read');
  t.same(Buffer.concat(chunks).toString(), 'hello, switch', 'and emitted as data');

  tr.pause();
  client.write(Buffer.from('x'));
  t.equal(tr.busyPoll(100), 'unavailable', 'a paused transport does not poll');
  tr.resume();
  await new Promise((r) => setTimeout(r, 50));
  t.same(Buffer.concat(chunks).toString(), 'hello, switchx', 'the event loop delivered the rest');

  const closed = new Promise<void>((r) => tr.on('close', () => r()));
  client.end();
  await new Promise((r) => setTimeout(r, 50));
  t.equal(tr.busyPoll(1000), 'unavailable', 'after the peer closed');
  await closed;
  t.pass('the close still came through the event loop');
});

t.test('a stream that is not a socket cannot busy-poll', async (t) => {
  setBusyReader(loadNative().busyRead);
  t.teardown(() => setBusyReader(undefined));
  // PassThrough has writableLength already: a duplex stream, but no socket behind it.
  const tr = new StreamTransport(new PassThrough(), 'memory:x');
  t.equal(tr.busyPoll(100), 'unavailable');
  tr.destroy();
});

t.test('busyRead refuses bad arguments and reports socket errors as -errno', async (t) => {
  const n = loadNative();
  t.throws(() => n.busyRead(-1, new Uint8Array(8), 10), RangeError);
  t.throws(() => n.busyRead(0, new Uint8Array(8), -1), RangeError);
  // A descriptor that is not a socket: recv fails with ENOTSOCK (88), not a throw.
  const fd = openSync('/dev/null', 'r');
  t.teardown(() => closeSync(fd));
  t.equal(n.busyRead(fd, new Uint8Array(8), 10), -88, '-ENOTSOCK for a non-socket');
});

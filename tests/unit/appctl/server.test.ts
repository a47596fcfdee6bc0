import t, { type Test } from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { AppctlRegistry, AppctlError } from '../../../appctl/registry.js';
import { AppctlServer, withNewline } from '../../../appctl/server.js';
import { registerBuiltins } from '../../../appctl/builtins.js';
import { JsonFramer } from '../../../lib/framer-json.js';
import type { Json } from '../../../lib/json.js';
import { ListenError } from '../../../lib/unix-socket.js';

/** A raw client: sends text, collects decoded replies until `n` arrived or the server closes. */
function exchange(
  sock: string,
  text: string,
  n: number,
): Promise<{ replies: Json[]; raw: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    const f = new JsonFramer();
    const replies: Json[] = [];
    let raw = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      s.destroy();
      resolve({ replies, raw, closed });
    };
    s.on('connect', () => s.write(text));
    s.on('data', (d) => {
      raw += d.toString();
      replies.push(...f.push(d));
      if (replies.length >= n) finish(false);
    });
    s.on('close', () => finish(true));
    s.on('error', reject);
  });
}

async function startServer(t: Test) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvs-appctl-'));
  const sock = path.join(dir, 'test.ctl');
  const reg = new AppctlRegistry();
  let exited = 0;
  registerBuiltins(reg, { programName: 'tsvs-test', version: '9.9.9', exit: () => exited++ });
  reg.register({
    name: 'test/echo',
    usage: 'ARG...',
    minArgs: 1,
    maxArgs: 3,
    handler: (args) => args.join(' '),
  });
  reg.register({
    name: 'test/fail',
    usage: '',
    minArgs: 0,
    maxArgs: 1,
    handler: async (args) => {
      await new Promise((r) => setImmediate(r));
      if (args[0] === 'crash') throw new Error('unexpected crash');
      throw new AppctlError('it did not work');
    },
  });
  const server = new AppctlServer(reg, { path: sock });
  await server.listen();
  t.teardown(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { server, sock, reg, exited: () => exited };
}

void t.test('withNewline', (t) => {
  t.equal(withNewline(''), '');
  t.equal(withNewline('a'), 'a\n');
  t.equal(withNewline('a\n'), 'a\n');
  t.end();
});

void t.test('replies exactly as OVS unixctl does', async (t) => {
  const { sock } = await startServer(t);
  const { raw } = await exchange(
    sock,
    [
      '{"id":0,"method":"version","params":[]}',
      '{"id":[1,2],"method":"bogus","params":[]}',
      '{"id":"x","method":"version","params":["extra"]}',
      '{"id":3,"method":"test/echo","params":[]}',
      '{"id":4,"method":"test/echo","params":["a",5]}',
      '{"id":5,"method":"test/echo","params":["hello","world"]}',
      '{"id":6,"method":"test/fail","params":[]}',
      '{"id":7,"method":"test/fail","params":["crash"]}',
      '{"id":8,"method":"echo","params":[]}',
      '{"id":9,"method":"vlog/set","params":["ANY:warn"]}',
    ].join(''),
    10,
  );
  const expected = [
    '{"id":0,"result":"tsvs-test (tsvswitch) 9.9.9\\n","error":null}',
    '{"id":[1,2],"error":"\\"bogus\\" is not a valid command (use \\"list-commands\\" to see a list of valid commands)\\n"}',
    '{"id":"x","error":"\\"version\\" command takes at most 0 arguments\\n"}',
    '{"id":3,"error":"\\"test/echo\\" command requires at least 1 arguments\\n"}',
    '{"id":4,"error":"\\"test/echo\\" command has non-string argument\\n"}',
    '{"id":5,"result":"hello world\\n","error":null}',
    '{"id":6,"error":"it did not work\\n"}',
    '{"id":7,"error":"unexpected crash\\n"}',
    '{"id":8,"error":"\\"echo\\" is not a valid command (use \\"list-commands\\" to see a list of valid commands)\\n"}',
    '{"id":9,"result":"","error":null}',
  ];
  // async commands may answer after later synchronous ones; compare as sets of messages
  const got = new Set<string>();
  const f = new JsonFramer();
  for (const m of f.push(Buffer.from(raw))) got.add(JSON.stringify(m));
  t.same([...got].sort(), expected.map((e) => JSON.stringify(JSON.parse(e))).sort());
  t.ok(raw.startsWith(expected[0]!), 'byte-exact reply');
});

void t.test('a notification closes the connection (as unixctl does)', async (t) => {
  const { sock } = await startServer(t);
  const r = await exchange(
    sock,
    '{"id":1,"method":"version","params":[]}{"id":null,"method":"version","params":[]}{"id":2,"method":"version","params":[]}',
    3,
  );
  t.ok(r.closed);
  t.equal(r.replies.length, 1);
});

void t.test('a protocol error closes the connection; the server keeps serving', async (t) => {
  const { sock } = await startServer(t);
  const r = await exchange(sock, '{"id":1,"method":"version","params":[]}[garbage', 2);
  t.ok(r.closed);
  t.equal(r.replies.length, 1);
  const r2 = await exchange(sock, '{"id":1,"method":"version","params":[]}', 1);
  t.equal(r2.replies.length, 1);
});

void t.test('exit is answered, then the daemon exit hook runs', async (t) => {
  const { sock, exited } = await startServer(t);
  const r = await exchange(sock, '{"id":1,"method":"exit","params":[]}', 1);
  t.same(r.replies, [{ id: 1, result: '', error: null }]);
  for (let i = 0; i < 50 && exited() === 0; i++) await new Promise((res) => setImmediate(res));
  t.equal(exited(), 1);
});

void t.test('a second server on the same path is refused; close removes the socket', async (t) => {
  const { server, sock, reg } = await startServer(t);
  const other = new AppctlServer(reg, { path: sock });
  let err: unknown;
  try {
    await other.listen();
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof ListenError && err.code === 'in-use');
  await server.close();
  t.notOk(fs.existsSync(sock));
  // after the daemon went away the path can be taken over
  await other.listen();
  t.ok(fs.existsSync(sock));
  await other.close();
});

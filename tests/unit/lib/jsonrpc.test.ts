import t from 'tap';
import { EventEmitter } from 'node:events';
import fc from 'fast-check';
import { memoryTransportPair, type Transport } from '../../../lib/transport.js';
import { FakeClock } from '../../../lib/clock.js';
import { JsonFramer } from '../../../lib/framer-json.js';
import { stringifyJson, type Json } from '../../../lib/json.js';
import {
  JsonRpcSession,
  JsonRpcError,
  SessionClosedError,
  DEFERRED_REPLY,
  type JsonRpcSessionOptions,
} from '../../../lib/jsonrpc.js';
import { allCounters } from '../../../lib/counters.js';

const unhandled: unknown[] = [];
process.on('unhandledRejection', (e) => unhandled.push(e));
t.teardown(() => {
  if (unhandled.length > 0)
    throw new Error(`unhandled rejections: ${unhandled.map(String).join(', ')}`);
});

/** The far end of a session: raw bytes in, decoded messages and raw text out. */
class Peer {
  readonly framer = new JsonFramer();
  readonly got: Json[] = [];
  raw = '';
  closed = false;
  constructor(readonly tr: Transport) {
    tr.on('data', (c) => {
      this.raw += c.toString('utf8');
      this.got.push(...this.framer.push(c));
    });
    tr.on('close', () => {
      this.closed = true;
    });
  }
  send(text: string | Buffer): void {
    this.tr.write(typeof text === 'string' ? Buffer.from(text) : text);
  }
}

function setup(opts: JsonRpcSessionOptions = {}, highWater?: number) {
  const [a, b] = memoryTransportPair(highWater);
  const clock = new FakeClock();
  const s = new JsonRpcSession(a, { clock, ...opts });
  let closeEvents = 0;
  let closeError: Error | undefined;
  s.on('close', (e) => {
    closeEvents++;
    closeError = e;
  });
  const peer = new Peer(b);
  return {
    s,
    peer,
    clock,
    a,
    b,
    closeEvents: () => closeEvents,
    closeError: () => closeError,
  };
}

const turn = () => new Promise<void>((r) => setImmediate(r));
async function until(cond: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await turn();
  }
  throw new Error(`timed out waiting for ${what}`);
}
async function settle(n = 10): Promise<void> {
  for (let i = 0; i < n; i++) await turn();
}

void t.test('request/reply correlation, replies in any order, error replies reject', async (t) => {
  const { s, peer } = setup();
  const p0 = s.request('get_schema', ['_Server']);
  const p1 = s.request('transact', ['db']);
  const p2 = s.request('bad', []);
  await until(() => peer.got.length === 3);
  t.same(peer.got, [
    { id: 0, method: 'get_schema', params: ['_Server'] },
    { id: 1, method: 'transact', params: ['db'] },
    { id: 2, method: 'bad', params: [] },
  ]);
  peer.send('{"id":1,"result":[{}],"error":null}{"id":2,"error":{"error":"syntax error"}}');
  peer.send('{"id":0,"result":{"name":"_Server"},"error":null}');
  t.same(await p1, [{}]);
  t.same(await p0, { name: '_Server' });
  const e = await p2.catch((x: unknown) => x);
  t.ok(e instanceof JsonRpcError);
  t.same((e as JsonRpcError).error, { error: 'syntax error' });
  t.notOk(s.closed);
  s.close();
  t.end();
});

void t.test(
  'reply shapes and ids echoed verbatim (bigint, array, object, real, negative)',
  async (t) => {
    const { s, peer } = setup();
    s.onRequest((method, params) => {
      if (method === 'fail') throw new JsonRpcError('unknown database');
      return { m: method, p: params };
    });
    const ids = [
      '18446744073709551617',
      '[1,"a",null]',
      '{"x":{"y":2}}',
      '1.5',
      '-3',
      '"s"',
      'true',
      '0',
    ];
    for (const id of ids) peer.send(`{"method":"m","params":[],"id":${id}}`);
    peer.send('{"id":123456789012345678901234567890,"method":"fail","params":[]}');
    await until(() => peer.got.length === ids.length + 1);
    const expectedRaw =
      ids.map((id) => `{"id":${id},"result":{"m":"m","p":[]},"error":null}`).join('') +
      '{"id":123456789012345678901234567890,"error":"unknown database"}';
    t.equal(peer.raw, expectedRaw);
    s.close();
    t.end();
  },
);

void t.test('async handlers, deferred replies and owner-ordered sends', async (t) => {
  const { s, peer } = setup();
  let deferredId: Json = null;
  s.onRequest(async (method, params, id) => {
    await turn();
    if (method === 'wait') {
      deferredId = id;
      return DEFERRED_REPLY;
    }
    if (method === 'boom') throw new Error('kaput');
    if (method === 'rpcerr') throw new JsonRpcError({ error: 'not owner' });
    return params;
  });
  peer.send('{"id":1,"method":"wait","params":[]}{"id":2,"method":"x","params":[7]}');
  peer.send('{"id":3,"method":"boom","params":[]}{"id":4,"method":"rpcerr","params":[]}');
  await until(() => peer.got.length === 3 && deferredId !== null);
  s.sendNotification('update3', ['mon', 'txn', {}]);
  s.sendReply(deferredId, { done: true });
  await until(() => peer.got.length === 5);
  t.same(peer.got, [
    { id: 2, result: [7], error: null },
    { id: 3, error: { error: 'internal error', details: 'kaput' } },
    { id: 4, error: { error: 'not owner' } },
    { id: null, method: 'update3', params: ['mon', 'txn', {}] },
    { id: 1, result: { done: true }, error: null },
  ]);
  s.sendError(9, 'x');
  await until(() => peer.got.length === 6);
  t.same(peer.got[5], { id: 9, error: 'x' });
  s.close();
  t.end();
});

void t.test('echo requests answered automatically unless the owner opts out', async (t) => {
  const a = setup();
  a.s.onRequest(() => 'handler');
  a.peer.send('{"id":"echo","method":"echo","params":[1,"x",{"k":[]}]}');
  await until(() => a.peer.got.length === 1);
  t.same(a.peer.got[0], { id: 'echo', result: [1, 'x', { k: [] }], error: null });
  a.s.close();

  const b = setup({ autoEcho: false });
  b.s.onRequest((m) => `handler saw ${m}`);
  b.peer.send('{"id":1,"method":"echo","params":[]}');
  await until(() => b.peer.got.length === 1);
  t.same(b.peer.got[0], { id: 1, result: 'handler saw echo', error: null });
  b.s.close();
  t.end();
});

void t.test(
  'notifications reach the handler; echo/cancel notifications get no reply',
  async (t) => {
    const { s, peer } = setup();
    const seen: [string, Json[]][] = [];
    s.onNotification((m, p) => seen.push([m, p]));
    s.onRequest(() => 'r');
    peer.send('{"id":null,"method":"echo","params":[]}{"method":"cancel","params":[5]}');
    peer.send('{"id":null,"method":"update","params":[null,{}]}{"id":1,"method":"x","params":[]}');
    await until(() => peer.got.length === 1);
    await settle();
    t.same(seen, [
      ['echo', []],
      ['cancel', [5]],
      ['update', [null, {}]],
    ]);
    t.same(peer.got, [{ id: 1, result: 'r', error: null }]);
    t.notOk(s.closed);
    s.notify('locked', ['ovs_vswitchd']);
    await until(() => peer.got.length === 2);
    t.same(peer.got[1], { id: null, method: 'locked', params: ['ovs_vswitchd'] });
    s.close();
    t.end();
  },
);

void t.test('without a request handler requests get "unknown method"', async (t) => {
  const { s, peer } = setup();
  peer.send('{"id":1,"method":"frob","params":[]}');
  await until(() => peer.got.length === 1);
  t.same(peer.got[0], { id: 1, error: 'unknown method' });
  s.close();
  t.end();
});

const PROTOCOL_ERRORS: [string, string][] = [
  ['top-level array', '[1,2]'],
  ['top-level string', '"x"'],
  ['non-JSON bytes', 'hello'],
  ['invalid JSON inside an object', '{"id":1,"method":}'],
  ['params not an array', '{"id":1,"method":"m","params":{}}'],
  ['params a string', '{"id":null,"method":"m","params":"x"}'],
  ['missing params', '{"id":1,"method":"m"}'],
  ['notification without params', '{"method":"m"}'],
  ['non-string method', '{"id":1,"method":5,"params":[]}'],
  ['null method', '{"id":1,"method":null,"params":[]}'],
  ['jsonrpc member', '{"jsonrpc":"2.0","id":1,"method":"m","params":[]}'],
  ['unexpected member', '{"id":1,"method":"m","params":[],"extra":0}'],
  ['reply to unknown id', '{"id":1,"result":[],"error":null}'],
  ['error reply to unknown id', '{"id":"nope","error":"x"}'],
  ['reply with result and error', '{"id":0,"result":[],"error":"x"}'],
  ['reply with method', '{"id":0,"result":[],"method":"m"}'],
  ['reply with a null id', '{"id":null,"result":[],"error":null}'],
  ['result and error both null, no method', '{"id":0,"result":null,"error":null}'],
  ['empty object', '{}'],
  ['deeply nested', '{"id":1,"method":"m","params":' + '['.repeat(2000) + ']'.repeat(2000) + '}'],
  ['invalid UTF-8', '{"id":1,"method":"m","params":["\xff"]}'],
];

void t.test(
  'protocol errors close the session without a reply; earlier messages are handled',
  async (t) => {
    const counterBefore =
      allCounters().find((c) => c.name === 'jsonrpc_protocol_error')?.total ?? 0;
    for (const [what, bad] of PROTOCOL_ERRORS) {
      const { s, peer, closeEvents, closeError } = setup();
      const handled: Json[] = [];
      s.onRequest((m, _p, id) => {
        handled.push(id);
        return m;
      });
      // keep id 0 outstanding so that the reply cases have a known id
      const pending = s.request('x', []).catch((e: unknown) => e);
      const bytes = Buffer.concat([
        Buffer.from('{"id":"before","method":"m","params":[]}'),
        Buffer.from(bad, 'latin1'),
        Buffer.from('{"id":"after","method":"m","params":[]}'),
      ]);
      peer.send(bytes);
      await until(() => s.closed, what);
      await until(() => peer.closed, `${what}: peer sees close`);
      t.same(handled, ['before'], `${what}: message before handled, after not`);
      t.same(
        peer.got.filter((m) => (m as { id: Json }).id !== 0),
        [{ id: 'before', result: 'm', error: null }],
        `${what}: only the earlier reply was sent`,
      );
      t.equal(closeEvents(), 1, `${what}: one close event`);
      t.match(closeError()?.message, /protocol error/, what);
      t.ok((await pending) instanceof SessionClosedError, `${what}: pending request rejected`);
    }
    const counterAfter = allCounters().find((c) => c.name === 'jsonrpc_protocol_error')?.total ?? 0;
    t.equal(counterAfter - counterBefore, PROTOCOL_ERRORS.length, 'each counted');
    t.end();
  },
);

void t.test('replies of async handlers before a protocol error still go out', async (t) => {
  const { s, peer } = setup();
  s.onRequest(async (m) => {
    for (let i = 0; i < 5; i++) await turn();
    if (m === 'nan') return NaN;
    return `done ${m}`;
  });
  peer.send('{"id":1,"method":"a","params":[]}{"id":2,"method":"nan","params":[]}[bad]');
  await until(() => s.closed);
  await until(() => peer.closed);
  t.same(peer.got, [
    { id: 1, result: 'done a', error: null },
    { id: 2, error: { error: 'internal error', details: 'cannot print NaN as JSON' } },
  ]);
  t.end();
});

void t.test(
  'deferred requests before a protocol error are answered before the close',
  async (t) => {
    const { s, peer, clock } = setup({ probeIntervalMs: 0 });
    const ids: Json[] = [];
    s.onRequest((m, _p, id) => {
      if (m === 'now') {
        // an owner that answers from inside its handler and still returns DEFERRED_REPLY
        s.sendReply(id, 'immediate');
        return DEFERRED_REPLY;
      }
      ids.push(id);
      return DEFERRED_REPLY;
    });
    peer.send('{"id":1,"method":"now","params":[]}{"id":2,"method":"later","params":[]}{"bad":1}');
    await until(() => ids.length === 1);
    await settle();
    t.notOk(s.closed, 'waits for the deferred reply');
    s.sendNotification('update3', []);
    s.sendReply(2, 'late');
    await until(() => s.closed);
    await until(() => peer.closed);
    t.same(peer.got, [
      { id: 1, result: 'immediate', error: null },
      { id: null, method: 'update3', params: [] },
      { id: 2, result: 'late', error: null },
    ]);
    t.equal(clock.pending(), 0, 'no timers left');
    t.end();
  },
);

void t.test(
  'an owner that replies inside its handler does not delay a protocol-error close',
  async (t) => {
    const { s, peer } = setup({ probeIntervalMs: 0 });
    s.onRequest((_m, _p, id) => {
      s.sendReply(id, 'r');
      return DEFERRED_REPLY;
    });
    peer.send('{"id":1,"method":"a","params":[]}[1]');
    await until(() => s.closed);
    await until(() => peer.closed);
    t.same(peer.got, [{ id: 1, result: 'r', error: null }]);
    t.end();
  },
);

void t.test('a handler that never settles does not keep a failed session open', async (t) => {
  const { s, peer, clock } = setup({ probeIntervalMs: 0 });
  s.onRequest(() => new Promise<Json>(() => {}));
  peer.send('{"id":1,"method":"a","params":[]}[bad]');
  await settle();
  t.notOk(s.closed, 'waits for the running handler');
  clock.advance(5000);
  await until(() => s.closed);
  t.end();
});

void t.test(
  'a synchronous handler result that cannot be encoded becomes an error reply',
  async (t) => {
    const { s, peer } = setup();
    s.onRequest(() => ({ bad: Infinity }));
    peer.send('{"id":1,"method":"a","params":[]}');
    await until(() => peer.got.length === 1);
    t.same(peer.got[0], {
      id: 1,
      error: { error: 'internal error', details: 'cannot print Infinity as JSON' },
    });
    t.notOk(s.closed);
    s.close();
    t.end();
  },
);

void t.test('oversized message closes the session before it completes', async (t) => {
  const { s, peer } = setup({ maxMessageBytes: 1000 });
  peer.send('{"id":1,"method":"m","params":["' + 'x'.repeat(2000));
  await until(() => s.closed);
  await until(() => peer.closed);
  t.pass('closed');
  t.end();
});

void t.test('truncated input: the session waits; peer close then closes it cleanly', async (t) => {
  const { s, peer, closeEvents } = setup();
  const p = s.request('x', []).catch((e: unknown) => e);
  peer.send('{"id":0,"result":[1,2');
  await settle();
  t.notOk(s.closed);
  peer.tr.close();
  await until(() => s.closed);
  t.ok((await p) instanceof SessionClosedError);
  t.equal(closeEvents(), 1);
  t.end();
});

void t.test(
  'garbage input never throws out of the session nor leaves unhandled rejections',
  async (t) => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 64 }), async (bytes) => {
        const { s, peer } = setup();
        const p = s.request('x', []).catch(() => undefined);
        peer.send(Buffer.from(bytes));
        peer.tr.close();
        await until(() => s.closed);
        await p;
      }),
      { seed: 7, numRuns: 100 },
    );
    t.equal(unhandled.length, 0);
    t.end();
  },
);

void t.test('inactivity probe: echo after an idle interval, close after another', async (t) => {
  const { s, peer, clock, closeError } = setup({ probeIntervalMs: 5000 });
  clock.advance(4999);
  await settle();
  t.same(peer.got, [], 'nothing before the interval');
  clock.advance(1);
  await until(() => peer.got.length === 1);
  t.same(peer.got[0], { id: 'echo', method: 'echo', params: [] });
  // the peer answers: activity resets the timer
  peer.send('{"id":"echo","result":[],"error":null}');
  await settle();
  clock.advance(4000);
  await settle();
  t.equal(peer.got.length, 1, 'no second probe yet');
  t.notOk(s.closed);
  clock.advance(1000);
  await until(() => peer.got.length === 2);
  t.same(peer.got[1], { id: 'echo', method: 'echo', params: [] });
  // any traffic counts as activity, e.g. a request
  peer.send('{"id":1,"method":"echo","params":[]}');
  await until(() => peer.got.length === 3);
  clock.advance(5000);
  await until(() => peer.got.length === 4);
  // now the peer stays silent
  clock.advance(4999);
  await settle();
  t.notOk(s.closed);
  clock.advance(1);
  await until(() => s.closed);
  t.match(closeError()?.message, /inactivity probe/);
  t.end();
});

void t.test('probe interval 0 disables probing', async (t) => {
  const { s, peer, clock } = setup({ probeIntervalMs: 0 });
  clock.advance(1_000_000);
  await settle();
  t.same(peer.got, []);
  t.notOk(s.closed);
  t.equal(clock.pending(), 0);
  s.close();
  t.end();
});

void t.test('backpressure: stop reading above the soft cap, resume when drained', async (t) => {
  const { s, peer, b } = setup({ softBacklogBytes: 10_000, hardBacklogBytes: 1_000_000 });
  const handled: number[] = [];
  s.onRequest((_m, _p, id) => {
    handled.push(id as number);
    return 'y'.repeat(4000);
  });
  b.pause(); // the peer stops reading
  for (let i = 0; i < 10; i++) peer.send(`{"id":${i},"method":"m","params":[]}`);
  await until(() => handled.length >= 3);
  await settle(20);
  t.equal(handled.length, 3, 'stopped after the backlog passed the soft cap');
  t.ok(s.backlog() > 10_000);
  b.resume();
  await until(() => handled.length === 10, 'all handled after drain');
  await until(() => peer.got.length === 10);
  t.notOk(s.closed);
  s.close();
  t.end();
});

void t.test('backpressure: hard cap disconnects at once', async (t) => {
  const { s, peer, b, closeError } = setup({ softBacklogBytes: 1000, hardBacklogBytes: 50_000 });
  s.onRequest(() => 'z'.repeat(60_000));
  b.pause();
  peer.send('{"id":1,"method":"m","params":[]}');
  await until(() => s.closed);
  t.match(closeError()?.message, /hard|exceeds/);
  t.end();
});

void t.test(
  'backpressure: a backlog that never drains disconnects after the timeout',
  async (t) => {
    const { s, peer, b, clock, closeError } = setup({
      softBacklogBytes: 1000,
      backlogTimeoutMs: 60_000,
      probeIntervalMs: 0,
    });
    s.onRequest(() => 'z'.repeat(5000));
    b.pause();
    peer.send('{"id":1,"method":"m","params":[]}');
    await until(() => s.backlog() > 1000);
    clock.advance(59_999);
    await settle();
    t.notOk(s.closed);
    clock.advance(1);
    await until(() => s.closed);
    t.match(closeError()?.message, /drain/);
    t.end();
  },
);

/** A transport whose backlog the test sets by hand and that never emits `drain`. */
class ManualTransport extends EventEmitter implements Transport {
  readonly peer = 'manual';
  closed = false;
  paused = false;
  level = 0;
  written: Buffer[] = [];
  write(data: Uint8Array): boolean {
    this.written.push(Buffer.from(data));
    this.level += data.length;
    return true;
  }
  backlog(): number {
    return this.level;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  close(): void {
    this.destroy();
  }
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }
}

void t.test(
  'backpressure: resumes by polling when the backlog falls without a drain event',
  async (t) => {
    const tr = new ManualTransport();
    const clock = new FakeClock();
    const s = new JsonRpcSession(tr, { clock, softBacklogBytes: 100, probeIntervalMs: 0 });
    s.onRequest(() => 'x'.repeat(200));
    tr.emit(
      'data',
      Buffer.from('{"id":1,"method":"m","params":[]}{"id":2,"method":"m","params":[]}'),
    );
    t.ok(tr.paused, 'paused above the soft cap');
    t.equal(tr.written.length, 1, 'the second request waits');
    tr.level = 150;
    clock.advance(1000);
    t.ok(tr.paused, 'still above the cap');
    tr.level = 50;
    clock.advance(250);
    t.notOk(tr.paused, 'resumed without a drain event');
    await settle();
    t.equal(tr.written.length, 2, 'the waiting request is handled');
    t.notOk(s.closed);
    s.close();
    t.ok(tr.closed);
    t.end();
  },
);

void t.test('per-turn message budget: at most N messages, then yield', async (t) => {
  const { s, peer } = setup({ messageBudget: 50 });
  const batches: number[] = [];
  let count = 0;
  let recorded = false;
  s.onRequest(() => {
    count++;
    if (!recorded) {
      recorded = true;
      setImmediate(() => {
        batches.push(count);
      });
      queueMicrotask(() => batches.push(count));
    }
    return 1;
  });
  peer.send(
    Array.from({ length: 120 }, (_v, i) => `{"id":${i},"method":"m","params":[]}`).join(''),
  );
  await until(() => count === 120);
  t.equal(batches[0], 50, 'first turn handles exactly the budget');
  t.ok(batches[1]! <= 100, 'the rest waits for later turns');
  await until(() => peer.got.length === 120);
  t.same(
    peer.got.map((m) => (m as { id: number }).id),
    Array.from({ length: 120 }, (_v, i) => i),
    'in order',
  );
  s.close();
  t.end();
});

void t.test(
  'stats, close event once, close is idempotent, sends after close are ignored',
  async (t) => {
    const { s, peer, closeEvents } = setup();
    s.onRequest(() => 'ok');
    peer.send('{"id":1,"method":"m","params":[]}');
    await until(() => peer.got.length === 1);
    t.equal(s.stats.messagesIn, 1);
    t.equal(s.stats.messagesOut, 1);
    t.equal(s.stats.bytesIn, '{"id":1,"method":"m","params":[]}'.length);
    t.equal(s.stats.bytesOut, stringifyJson({ id: 1, result: 'ok', error: null }).length);
    s.close();
    s.close();
    s.notify('x', []);
    t.equal(s.stats.messagesOut, 1);
    await until(() => peer.closed);
    t.equal(closeEvents(), 1);
    t.ok((await s.request('x', []).catch((e: unknown) => e)) instanceof SessionClosedError);
    t.end();
  },
);

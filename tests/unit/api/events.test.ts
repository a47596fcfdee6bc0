/**
 * The event stream: the bounded per-client queue with a stalled socket (fake and real), topic
 * filters from the query string and from control messages, and upgrade errors.
 */
import t from 'tap';
import WebSocket from 'ws';
import {
  EventClient,
  EventHub,
  handleControlMessage,
  parseBridges,
  parseTopics,
  type EventSocket,
} from '../../../api/events.js';
import { createApiServer } from '../../../api/server.js';
import { allCounters } from '../../../lib/counters.js';
import { fakeBackend } from './fake-backend.js';

class FakeSocket implements EventSocket {
  bufferedAmount = 0;
  readyState = 1;
  sent: string[] = [];
  send(data: string): void {
    this.sent.push(data);
  }
}

const ev = (n: number) => ({
  topic: 'ovsdb' as const,
  table: 'Bridge',
  uuid: `u${n}`,
  op: 'insert' as const,
  columns: ['name'],
});

function droppedCounter(): number {
  return allCounters().find((c) => c.name === 'api_events_dropped')?.total ?? 0;
}

t.test('a stalled socket keeps at most maxQueue events and counts the drops', async (t) => {
  const sock = new FakeSocket();
  const hub = new EventHub();
  const c = new EventClient(sock, { maxQueue: 4, highWaterBytes: 100 });
  hub.add(c);
  t.teardown(() => hub.closeAll());
  hub.publish(ev(1));
  t.equal(sock.sent.length, 1, 'sent while the socket keeps up');
  sock.bufferedAmount = 1000; // stalled
  const before = droppedCounter();
  for (let i = 2; i <= 11; i++) hub.publish(ev(i));
  t.equal(sock.sent.length, 1, 'nothing written while stalled');
  t.equal(c.queued, 4, 'queue bounded');
  t.equal(c.dropped, 6, 'oldest dropped and counted');
  t.equal(hub.droppedTotal(), 6);
  t.equal(droppedCounter() - before, 6, 'api_events_dropped counter');
  sock.bufferedAmount = 0;
  c.flush();
  const got = sock.sent.slice(1).map((s) => JSON.parse(s));
  t.same(got[0], { topic: 'meta', type: 'dropped', dropped: 6, total: 6 });
  t.same(
    got.slice(1).map((e) => e.seq),
    [8, 9, 10, 11],
    'the newest events survive, in order',
  );
  t.equal(c.queued, 0);
});

t.test('topic filters', async (t) => {
  const sock = new FakeSocket();
  const hub = new EventHub();
  const c = new EventClient(sock, { topics: ['port'] });
  hub.add(c);
  t.teardown(() => hub.closeAll());
  t.equal(hub.wants('port'), true);
  t.equal(hub.wants('ovsdb'), false);
  hub.publish(ev(1));
  hub.publish({ topic: 'port', bridge: 'br0', port: 'p1', op: 'add', ofport: 1 });
  t.same(
    sock.sent.map((s) => JSON.parse(s)),
    [{ seq: 2, topic: 'port', bridge: 'br0', port: 'p1', op: 'add', ofport: 1 }],
  );
  t.same(handleControlMessage(c, '{"subscribe":["ovsdb"]}'), {
    type: 'subscribed',
    topics: ['ovsdb', 'port'],
    bridges: [],
  });
  t.same(handleControlMessage(c, '{"unsubscribe":["port"]}'), {
    type: 'subscribed',
    topics: ['ovsdb'],
    bridges: [],
  });
  t.same(handleControlMessage(c, '{"topics":["stp","flow","port","bfd"]}'), {
    type: 'subscribed',
    topics: ['port', 'flow', 'bfd', 'stp'],
    bridges: [],
  });
  t.same(handleControlMessage(c, '{"unsubscribe":["bfd","stp"]}'), {
    type: 'subscribed',
    topics: ['port', 'flow'],
    bridges: [],
  });
  t.match(handleControlMessage(c, '{"subscribe":["bogus"]}'), {
    type: 'error',
    detail: /unknown topic "bogus"/,
  });
  t.match(handleControlMessage(c, 'nope'), { type: 'error', detail: /JSON objects/ });
  t.match(handleControlMessage(c, '{"subscribe":"ovsdb"}'), { type: 'error', detail: /array/ });
  t.match(handleControlMessage(c, '{"subscribe":[],"topics":[]}'), {
    type: 'error',
    detail: /exactly one/,
  });
  t.same([...c.topics].sort(), ['flow', 'port'], 'errors leave the filter alone');
  t.same([...parseTopics('ovsdb, flow,')], ['ovsdb', 'flow']);
  t.same([...parseTopics('bfd,stp')], ['bfd', 'stp']);
  t.throws(() => parseTopics('ovsdb,x'), /unknown topic "x"/);
});

t.test('bridge filters', async (t) => {
  const sock = new FakeSocket();
  const hub = new EventHub();
  const c = new EventClient(sock, { topics: ['port', 'ovsdb', 'stp'], bridges: ['br1'] });
  hub.add(c);
  t.teardown(() => hub.closeAll());
  hub.publish({ topic: 'port', bridge: 'br0', port: 'p1', op: 'add' });
  hub.publish({ topic: 'port', bridge: 'br1', port: 'p9', op: 'add' });
  hub.publish(ev(3));
  hub.publish({ topic: 'stp', scope: 'bridge', bridge: 'br1', enabled: true });
  t.same(
    sock.sent.map((s) => JSON.parse(s).seq),
    [2, 3, 4],
    'other bridges filtered out; events without a bridge pass',
  );
  t.same(handleControlMessage(c, '{"bridges":["br0","br2"]}'), {
    type: 'subscribed',
    topics: ['ovsdb', 'port', 'stp'],
    bridges: ['br0', 'br2'],
  });
  hub.publish({ topic: 'port', bridge: 'br0', port: 'p1', op: 'delete' });
  hub.publish({ topic: 'port', bridge: 'br1', port: 'p9', op: 'delete' });
  t.same(JSON.parse(sock.sent.at(-1)!).seq, 5);
  t.same(handleControlMessage(c, '{"bridges":[]}'), {
    type: 'subscribed',
    topics: ['ovsdb', 'port', 'stp'],
    bridges: [],
  });
  hub.publish({ topic: 'port', bridge: 'br1', port: 'p9', op: 'add' });
  t.same(JSON.parse(sock.sent.at(-1)!).seq, 7, 'empty filter = every bridge');
  t.match(handleControlMessage(c, '{"bridges":"br0"}'), { type: 'error', detail: /array/ });
  t.match(handleControlMessage(c, '{"bridges":[""]}'), {
    type: 'error',
    detail: /bad bridge name/,
  });
  t.match(handleControlMessage(c, '{"bridges":[7]}'), { type: 'error', detail: /bad bridge/ });
  t.same([...parseBridges('br0, br1,')], ['br0', 'br1']);
  t.throws(() => parseBridges(['x'.repeat(256)]), /bad bridge name/);
});

/** Opens a ws client and collects its messages. */
function connect(url: string): Promise<{
  ws: WebSocket;
  msgs: Record<string, unknown>[];
  next: (pred: (m: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>;
}> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const msgs: Record<string, unknown>[] = [];
    const waiters: {
      pred: (m: Record<string, unknown>) => boolean;
      res: (m: Record<string, unknown>) => void;
    }[] = [];
    ws.on('message', (d) => {
      const m = JSON.parse((d as Buffer).toString('utf8')) as Record<string, unknown>;
      msgs.push(m);
      for (const w of [...waiters]) {
        if (w.pred(m)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.res(m);
        }
      }
    });
    const next = (pred: (m: Record<string, unknown>) => boolean) =>
      new Promise<Record<string, unknown>>((res) => {
        const found = msgs.find(pred);
        if (found) res(found);
        else waiters.push({ pred, res });
      });
    ws.once('open', () => resolve({ ws, msgs, next }));
    ws.once('error', reject);
  });
}

function upgradeStatus(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('open', () => reject(new Error('upgrade unexpectedly accepted')));
    ws.on('error', () => undefined);
  });
}

t.test('ws clients: query filter, subscribe message, upgrade errors', async (t) => {
  const fb = fakeBackend();
  const api = await createApiServer({ backend: fb, defaultMetrics: false });
  t.teardown(() => api.close());
  const base = (await api.listen({ host: '127.0.0.1', port: 0 })).replace('http', 'ws');
  const c = await connect(`${base}/events?topics=ovsdb`);
  t.teardown(() => c.ws.terminate());
  const hello = await c.next((m) => m.type === 'hello');
  t.same(hello, { topic: 'meta', type: 'hello', topics: ['ovsdb'], bridges: [], seq: 0 });
  t.equal(fb.wants?.('ovsdb'), true);
  t.equal(fb.wants?.('port'), false);
  fb.emit({ topic: 'port', bridge: 'br0', port: 'p1', op: 'add' });
  fb.emit(ev(1));
  const got = await c.next((m) => m.topic === 'ovsdb');
  t.equal(got.seq, 2);
  t.notOk(
    c.msgs.some((m) => m.topic === 'port'),
    'port events filtered out',
  );
  c.ws.send(JSON.stringify({ subscribe: ['port'] }));
  t.same(await c.next((m) => m.type === 'subscribed'), {
    topic: 'meta',
    type: 'subscribed',
    topics: ['ovsdb', 'port'],
    bridges: [],
  });
  fb.emit({ topic: 'port', bridge: 'br0', port: 'p2', op: 'delete' });
  t.same(await c.next((m) => m.topic === 'port'), {
    seq: 3,
    topic: 'port',
    bridge: 'br0',
    port: 'p2',
    op: 'delete',
  });
  c.ws.send('not json');
  t.match(await c.next((m) => m.type === 'error'), { detail: /JSON objects/ });

  const bad = await upgradeStatus(`${base}/events?topics=ovsdb,nope`);
  t.equal(bad.status, 400);
  t.match(JSON.parse(bad.body), { status: 400, detail: /unknown topic "nope"/ });
  const badBridge = await upgradeStatus(`${base}/events?bridges=${'x'.repeat(300)}`);
  t.equal(badBridge.status, 400);
  t.match(JSON.parse(badBridge.body), { detail: /bad bridge name/ });
  const unknownParam = await upgradeStatus(`${base}/events?topic=ovsdb`);
  t.equal(unknownParam.status, 400);
  t.match(JSON.parse(unknownParam.body), { detail: /unknown parameter "topic"/ });
  const missing = await upgradeStatus(`${base}/elsewhere`);
  t.equal(missing.status, 404);

  const m = await api.app.inject({ method: 'GET', url: '/metrics' });
  t.match(m.body, /^tsvs_api_event_clients 1$/m);
  c.ws.close();
  await new Promise((r) => c.ws.once('close', r));
  // The server sees the close shortly after the client.
  for (let i = 0; i < 100 && api.hub.list().length > 0; i++)
    await new Promise((r) => setTimeout(r, 10));
  t.equal(api.hub.list().length, 0, 'closed clients are removed');
});

t.test('ws clients: bfd and stp events, filtered per client by topic and bridge', async (t) => {
  const fb = fakeBackend();
  const api = await createApiServer({ backend: fb, defaultMetrics: false });
  t.teardown(() => api.close());
  const base = (await api.listen({ host: '127.0.0.1', port: 0 })).replace('http', 'ws');
  const bfdOnly = await connect(`${base}/events?topics=bfd`);
  const stpBr1 = await connect(`${base}/events?topics=stp&bridges=br1`);
  const all = await connect(`${base}/events`);
  t.teardown(() => [bfdOnly, stpBr1, all].forEach((c) => c.ws.terminate()));
  t.same((await stpBr1.next((m) => m.type === 'hello')).bridges, ['br1']);
  t.same((await all.next((m) => m.type === 'hello')).topics, [
    'ovsdb',
    'port',
    'flow',
    'packet-in',
    'bfd',
    'stp',
  ]);
  await bfdOnly.next((m) => m.type === 'hello');
  t.equal(fb.wants?.('bfd'), true);
  fb.emit({
    topic: 'bfd',
    interface: 'p1',
    bridge: 'br0',
    op: 'modify',
    enabled: true,
    state: 'down',
    oldState: 'up',
    forwarding: false,
    diagnostic: 'Control Detection Time Expired',
    flapCount: 2,
  });
  fb.emit({ topic: 'stp', scope: 'port', bridge: 'br0', port: 'p1', state: 'blocking' });
  fb.emit({
    topic: 'stp',
    scope: 'port',
    bridge: 'br1',
    port: 'p7',
    portId: '8007',
    state: 'forwarding',
    oldState: 'learning',
    role: 'designated',
  });
  t.same(await bfdOnly.next((m) => m.topic === 'bfd'), {
    seq: 1,
    topic: 'bfd',
    interface: 'p1',
    bridge: 'br0',
    op: 'modify',
    enabled: true,
    state: 'down',
    oldState: 'up',
    forwarding: false,
    diagnostic: 'Control Detection Time Expired',
    flapCount: 2,
  });
  t.match(await stpBr1.next((m) => m.topic === 'stp'), {
    seq: 3,
    scope: 'port',
    bridge: 'br1',
    port: 'p7',
    state: 'forwarding',
    oldState: 'learning',
  });
  await all.next((m) => m.seq === 3);
  t.same(
    all.msgs.filter((m) => m.seq !== undefined && m.topic !== 'meta').map((m) => m.topic),
    ['bfd', 'stp', 'stp'],
  );
  // Barrier: one more event every client wants, then nothing else may have arrived.
  fb.emit({ topic: 'stp', scope: 'bridge', bridge: 'br1', enabled: false });
  await stpBr1.next((m) => m.seq === 4);
  t.notOk(
    bfdOnly.msgs.some((m) => m.topic === 'stp'),
    'bfd-only client got no stp',
  );
  t.same(
    stpBr1.msgs.filter((m) => m.topic === 'stp').map((m) => m.seq),
    [3, 4],
    'stp client filtered to br1',
  );
  stpBr1.ws.send(JSON.stringify({ bridges: [] }));
  t.same((await stpBr1.next((m) => m.type === 'subscribed')).bridges, []);
  fb.emit({ topic: 'stp', scope: 'bridge', bridge: 'br0', enabled: true });
  t.match(await stpBr1.next((m) => m.seq === 5), { bridge: 'br0' });
});

t.test(
  'a real stalled ws client: bounded queue, drops counted, every event accounted for',
  async (t) => {
    const fb = fakeBackend();
    const api = await createApiServer({
      backend: fb,
      defaultMetrics: false,
      events: { maxQueue: 100, highWaterBytes: 16 * 1024 },
    });
    t.teardown(() => api.close());
    const base = (await api.listen({ host: '127.0.0.1', port: 0 })).replace('http', 'ws');
    const c = await connect(`${base}/events?topics=ovsdb`);
    t.teardown(() => c.ws.terminate());
    await c.next((m) => m.type === 'hello');
    // Stop reading on the client: the server's socket fills up.
    const sock = (c.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    sock.pause();
    const N = 40_000;
    const pad = 'x'.repeat(1000);
    for (let i = 0; i < N; i++) fb.emit({ ...ev(i), uuid: pad });
    const client = api.hub.list()[0]!;
    t.ok(client.queued <= 100, `queue bounded (${client.queued})`);
    t.ok(client.dropped > 0, `drops counted (${client.dropped})`);
    sock.resume();
    await c.next((m) => m.seq === N);
    const events = c.msgs.filter((m) => m.topic === 'ovsdb');
    const notices = c.msgs.filter((m) => m.type === 'dropped');
    const reported = notices.reduce((n, m) => n + (m.dropped as number), 0);
    t.equal(reported, client.dropped, 'drop notices add up to the drop count');
    t.equal(events.length + client.dropped, N, 'every event was delivered or counted as dropped');
    const seqs = events.map((m) => m.seq as number);
    t.ok(
      seqs.every((s, i) => i === 0 || s > seqs[i - 1]!),
      'delivered in order',
    );
    t.equal(notices.at(-1)!.total, client.dropped);
  },
);

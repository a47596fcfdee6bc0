import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { FakeClock, realClock, type Clock } from '../../../lib/clock.js';
import { allCounters } from '../../../lib/counters.js';
import { JsonFramer } from '../../../lib/framer-json.js';
import { stringifyJson, type Json } from '../../../lib/json.js';
import { memoryTransportPair, type Transport } from '../../../lib/transport.js';
import { registerOvsdbCommands, type AppctlCommandSpec } from '../../../ovsdb/appctl-commands.js';
import type { CommitRecord } from '../../../ovsdb/database.js';
import { Database } from '../../../ovsdb/database.js';
import { startOvsdb } from '../../../ovsdb/index.js';
import { RemoteManager } from '../../../ovsdb/remotes.js';
import { vswitchDbSchema } from '../../../ovsdb/schema.js';
import {
  OvsdbServer,
  type DatabaseStorage,
  type OvsdbServerOptions,
} from '../../../ovsdb/server.js';

const ZERO = '00000000-0000-0000-0000-000000000000';
type Obj = { [k: string]: Json };

/** A client that sees the exact wire messages, in order. */
class RawClient {
  readonly msgs: Obj[] = [];
  private readonly framer = new JsonFramer();
  private waiters: (() => void)[] = [];
  private nextId = 100;
  closed = false;

  constructor(readonly tr: Transport) {
    tr.on('data', (c) => {
      for (const m of this.framer.push(c)) this.msgs.push(m as Obj);
      this.wake();
    });
    tr.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  sendRaw(text: string): void {
    this.tr.write(Buffer.from(text));
  }

  send(msg: Json): void {
    this.sendRaw(stringifyJson(msg));
  }

  /** Sends a request and returns its id. */
  req(method: string, params: Json): number {
    const id = this.nextId++;
    this.send({ id, method, params });
    return id;
  }

  /** Waits until a message satisfying `pred` has arrived; returns it. */
  async wait(pred: (m: Obj) => boolean, what = 'message'): Promise<Obj> {
    for (let i = 0; ; i++) {
      const m = this.msgs.find(pred);
      if (m) return m;
      if (this.closed) throw new Error(`closed while waiting for ${what}`);
      if (i > 2000) throw new Error(`never got ${what}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 5);
      });
    }
  }

  reply(id: Json): Promise<Obj> {
    const want = stringifyJson(id);
    return this.wait(
      (m) => stringifyJson(m.id ?? null) === want && ('result' in m || 'error' in m),
      `reply ${want}`,
    );
  }

  async call(method: string, params: Json): Promise<Obj> {
    return this.reply(this.req(method, params));
  }

  async result(method: string, params: Json): Promise<Json> {
    const r = await this.call(method, params);
    if (r.error !== null) throw new Error(`${method} failed: ${stringifyJson(r.error ?? null)}`);
    return r.result!;
  }

  async waitClosed(): Promise<void> {
    for (let i = 0; !this.closed; i++) {
      if (i > 2000) throw new Error('not closed');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  notifications(method: string): Obj[] {
    return this.msgs.filter((m) => m.id === null && m.method === method);
  }
}

function makeServer(
  opts: OvsdbServerOptions = {},
  storage?: DatabaseStorage,
): { server: OvsdbServer; db: Database } {
  const server = new OvsdbServer({
    clock: realClock,
    serverId: '11111111-2222-3333-4444-555555555555',
    ...opts,
  });
  const db = new Database(vswitchDbSchema());
  server.addDatabase(db, storage);
  return { server, db };
}

function connect(server: OvsdbServer, clock?: Clock): RawClient {
  void clock;
  const [a, b] = memoryTransportPair();
  server.accept(b, { probeIntervalMs: 0 });
  return new RawClient(a);
}

async function init(c: RawClient): Promise<string> {
  const r = (await c.result('transact', [
    'Open_vSwitch',
    { op: 'insert', table: 'Open_vSwitch', row: {} },
  ])) as Obj[];
  return (r[0]!.uuid as Json[])[1] as string;
}

void t.test('basic methods and their errors', async (t) => {
  const { server } = makeServer();
  const c = connect(server);
  t.same(await c.call('list_dbs', [1, 2]), {
    id: 100,
    result: ['Open_vSwitch', '_Server'],
    error: null,
  });
  const schema = (await c.result('get_schema', ['Open_vSwitch', 'ignored-extra'])) as Obj;
  t.equal(schema.name, 'Open_vSwitch');
  t.ok(schema.tables && schema.version && schema.cksum);
  t.same(await c.call('get_schema', []), {
    id: 102,
    error: {
      error: 'syntax error',
      details: 'get_schema request params must begin with <db-name>',
      syntax: '[]',
    },
  });
  t.same((await c.call('get_schema', ['nope'])).error, {
    error: 'unknown database',
    details: 'get_schema request specifies unknown database nope',
    syntax: '["nope"]',
  });
  t.same((await c.call('transact', ['nope'])).error, {
    error: 'unknown database',
    details: 'transact request specifies unknown database nope',
    syntax: '["nope"]',
  });
  t.same((await c.call('frob', [])).error, 'unknown method');
  t.same(await c.result('echo', [1, { a: 'b' }, 12345678901234567890n]), [
    1,
    { a: 'b' },
    12345678901234567890n,
  ]);
  t.equal(await c.result('get_server_id', []), '11111111-2222-3333-4444-555555555555');
  t.same(await c.result('set_db_change_aware', [true]), {});
  t.same((await c.call('set_db_change_aware', [1])).error, {
    error: 'syntax error',
    details: 'set_db_change_aware: true or false parameter expected',
    syntax: '[1]',
  });
  t.same(await c.result('transact', ['Open_vSwitch']), []);
  // Ids of any JSON type are echoed verbatim; duplicate ids are answered twice.
  c.send({ id: ['x', { y: 1.5 }], method: 'echo', params: [] });
  t.same((await c.reply(['x', { y: 1.5 }])).result, []);
  c.send({ id: 'dup', method: 'list_dbs', params: [] });
  c.send({ id: 'dup', method: 'list_dbs', params: [] });
  await c.wait(() => c.msgs.filter((m) => m.id === 'dup').length === 2, 'two replies');
  t.equal(c.closed, false);
  await server.close();
});

void t.test('_Server database as the C IDL and the Python IDL read it', async (t) => {
  const { server } = makeServer();
  const c = connect(server);
  t.same(((await c.result('get_schema', ['_Server'])) as Obj).name, '_Server');
  const r = (await c.result('monitor_cond', [
    '_Server',
    ['monid', '_Server'],
    { Database: [{ columns: ['name', 'model', 'connected', 'leader', 'schema', 'cid', 'index'] }] },
  ])) as { Database: { [u: string]: { initial: Obj } } };
  const rows = Object.values(r.Database).map((x) => x.initial);
  t.same(rows.map((x) => x.name).sort(), ['Open_vSwitch', '_Server']);
  for (const row of rows) {
    t.equal(row.model, 'standalone');
    t.equal(row.connected, true);
    t.equal(row.leader, true);
    t.notOk('cid' in row || 'index' in row, 'empty sets are defaults, omitted');
    const schema = JSON.parse(row.schema as string) as Obj;
    t.equal(schema.name, row.name);
    const keys = Object.keys(schema);
    t.same(keys, [...keys].sort(), 'schema text has sorted keys');
  }
  // The Python IDL monitors _Server with plain v1 monitor.
  const v1 = (await c.result('monitor', [
    '_Server',
    'py',
    {
      Database: [
        { columns: ['model', 'name', 'connected', 'leader', 'schema', 'sid', 'cid', 'index'] },
      ],
    },
  ])) as { Database: { [u: string]: { new: Obj } } };
  const vrow = Object.values(v1.Database).find((x) => x.new.name === 'Open_vSwitch')!.new;
  t.same(vrow.cid, ['set', []]);
  t.same(vrow.index, ['set', []]);
  // Clients may not write here.
  const w = (await c.result('transact', [
    '_Server',
    { op: 'insert', table: 'Database', row: { name: 'x', model: 'standalone' } },
  ])) as Obj[];
  t.equal(w[0]!.error, 'not allowed');
  await server.close();
});

void t.test(
  'monitor_cond_since: standalone reply, update3 with zero txn id BEFORE the transact reply',
  async (t) => {
    const { server } = makeServer();
    const c = connect(server);
    const ovs = await init(c);
    const mon = (await c.result('monitor_cond_since', [
      'Open_vSwitch',
      ['monid', 'Open_vSwitch'],
      {
        Open_vSwitch: [{ columns: ['bridges', 'cur_cfg'] }],
        Bridge: [{ columns: ['name', 'fail_mode'] }],
      },
      '00000000-0000-0000-0000-000000000001',
    ])) as Json[];
    t.same(mon, [false, ZERO, { Open_vSwitch: { [ovs]: { initial: {} } } }]);
    const before = c.msgs.length;
    const id = c.req('transact', [
      'Open_vSwitch',
      { op: 'insert', table: 'Bridge', row: { name: 'br0' }, 'uuid-name': 'b' },
      {
        op: 'mutate',
        table: 'Open_vSwitch',
        where: [['_uuid', '==', ['uuid', ovs]]],
        mutations: [['bridges', 'insert', ['set', [['named-uuid', 'b']]]]],
      },
    ]);
    const rep = await c.reply(id);
    const br = ((rep.result as Obj[])[0]!.uuid as Json[])[1] as string;
    const after = c.msgs.slice(before);
    t.equal(after.length, 2);
    t.same(after[0], {
      id: null,
      method: 'update3',
      params: [
        ['monid', 'Open_vSwitch'],
        ZERO,
        {
          Bridge: { [br]: { insert: { name: 'br0' } } },
          Open_vSwitch: { [ovs]: { modify: { bridges: ['uuid', br] } } },
        },
      ],
    });
    t.equal(after[1]!.id, id, 'reply after the update');
    // Errors of the monitor methods.
    t.same((await c.call('monitor_cond_since', ['Open_vSwitch', 1, {}, 'x'])).error, {
      error: 'syntax error',
      details: 'last-txn-id must be UUID format.',
      syntax: '"x"',
    });
    t.same((await c.call('monitor_cond', ['Open_vSwitch'])).error, {
      error: 'syntax error',
      details: 'invalid parameters',
      syntax: '["Open_vSwitch"]',
    });
    // ovsdb-server 3.1 crashes on this one; we answer.
    t.same((await c.call('monitor', ['Open_vSwitch', 'x'])).error, {
      error: 'syntax error',
      details: 'invalid parameters',
      syntax: '["Open_vSwitch","x"]',
    });
    t.same((await c.call('monitor', ['nope', 1, {}])).error, {
      error: 'unknown database',
      details: 'monitor request specifies unknown database nope',
      syntax: '["nope",1,{}]',
    });
    t.same((await c.call('monitor', ['Open_vSwitch', ['monid', 'Open_vSwitch'], {}])).error, {
      error: 'syntax error',
      details: 'duplicate monitor ID',
      syntax: '["monid","Open_vSwitch"]',
    });
    t.same((await c.call('monitor', ['Open_vSwitch', 2, { Nope: {} }])).error, {
      error: 'syntax error',
      details: 'no table named Nope',
    });
    t.same((await c.call('monitor_cancel', [5])).error, 'unknown monitor');
    t.same((await c.call('monitor_cond_change', [5, 6, {}])).error, {
      error: 'syntax error',
      details: 'unknown monitor session',
      syntax: '5',
    });
    t.same(await c.result('monitor_cancel', [['monid', 'Open_vSwitch']]), {});
    // After cancel no more updates.
    const n = c.msgs.length;
    await c.result('transact', [
      'Open_vSwitch',
      { op: 'update', table: 'Bridge', where: [], row: { fail_mode: 'secure' } },
    ]);
    t.equal(c.msgs.length, n + 1);
    t.equal(c.closed, false, 'still connected after all those errors');
    await server.close();
  },
);

void t.test(
  'update (v1) and update2 notifications to another session; monitor_cond_change',
  async (t) => {
    const { server } = makeServer();
    const a = connect(server);
    const b = connect(server);
    const ovs = await init(a);
    t.same(
      await b.result('monitor', [
        'Open_vSwitch',
        null,
        { Open_vSwitch: { columns: ['cur_cfg', 'next_cfg'] } },
      ]),
      {
        Open_vSwitch: { [ovs]: { new: { cur_cfg: 0, next_cfg: 0 } } },
      },
    );
    t.same(
      await b.result('monitor_cond', [
        'Open_vSwitch',
        'c',
        { Open_vSwitch: [{ columns: ['next_cfg'], where: [['next_cfg', '>', 0]] }] },
      ]),
      {},
    );
    await a.result('transact', [
      'Open_vSwitch',
      { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] },
      { op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg'] },
    ]);
    const u1 = await b.wait((m) => m.method === 'update');
    t.same(u1.params, [
      null,
      { Open_vSwitch: { [ovs]: { new: { cur_cfg: 0, next_cfg: 1 }, old: { next_cfg: 0 } } } },
    ]);
    const u2 = await b.wait((m) => m.method === 'update2');
    t.same(u2.params, ['c', { Open_vSwitch: { [ovs]: { insert: { next_cfg: 1 } } } }]);
    // Condition change: the row leaves; the update2 comes before the {} reply, under the new id.
    const id = b.req('monitor_cond_change', [
      'c',
      'c2',
      { Open_vSwitch: [{ where: [['next_cfg', '>', 5]] }] },
    ]);
    const rep = await b.reply(id);
    t.same(rep.result, {});
    const i = b.msgs.indexOf(rep);
    t.same(b.msgs[i - 1], {
      id: null,
      method: 'update2',
      params: ['c2', { Open_vSwitch: { [ovs]: { delete: null } } }],
    });
    t.same(
      (
        await b.call('monitor_cond_change', [
          'c2',
          'c2',
          { Open_vSwitch: [{ columns: ['next_cfg'], where: [] }] },
        ])
      ).error,
      {
        error: 'syntax error',
        details: 'changing columns is unsupported',
        syntax: '{"columns":["next_cfg"],"where":[]}',
      },
    );
    await server.close();
  },
);

void t.test('locks over JSON-RPC and the assert operation', async (t) => {
  const { server } = makeServer();
  const a = connect(server);
  const b = connect(server);
  await init(a);
  t.same(await a.result('lock', ['ovs_vswitchd']), { locked: true });
  t.same(await b.result('lock', ['ovs_vswitchd']), { locked: false });
  t.same((await a.call('lock', ['ovs_vswitchd'])).error, {
    error: 'syntax error',
    details: 'must issue "unlock" before new "lock"',
    syntax: '["ovs_vswitchd"]',
  });
  t.same((await a.call('lock', ['1bad'])).error, {
    error: 'syntax error',
    details: 'lock request params must be <id>',
    syntax: '["1bad"]',
  });
  t.same((await a.call('unlock', ['other'])).error, {
    error: 'syntax error',
    details: 'unlock: "unlock" without "lock" or "steal"',
    syntax: '["other"]',
  });
  const assertTxn: Json = [
    'Open_vSwitch',
    { op: 'update', table: 'Open_vSwitch', where: [], row: { cur_cfg: 1 } },
    { op: 'assert', lock: 'ovs_vswitchd' },
  ];
  t.same(((await a.result('transact', assertTxn)) as Obj[])[1], {});
  const denied = (await b.result('transact', assertTxn)) as Json[];
  t.same(denied[1], { error: 'not owner', details: 'Asserted lock ovs_vswitchd not held.' });
  // c steals; a is told.
  const c = connect(server);
  t.same(await c.result('steal', ['ovs_vswitchd']), { locked: true });
  t.same((await a.wait((m) => m.method === 'stolen')).params, ['ovs_vswitchd']);
  // c's session closes: a (still queued, ahead of b) gets the lock back.
  c.tr.destroy();
  t.same((await a.wait((m) => m.method === 'locked')).params, ['ovs_vswitchd']);
  t.same(b.notifications('locked'), []);
  // a unlocks: b is next.
  t.same(await a.result('unlock', ['ovs_vswitchd']), {});
  t.same((await b.wait((m) => m.method === 'locked')).params, ['ovs_vswitchd']);
  await server.close();
});

void t.test('blocked wait: retried after commits, times out by the clock, cancel', async (t) => {
  const clock = new FakeClock();
  const { server } = makeServer({ clock });
  const a = connect(server);
  const b = connect(server);
  const ovs = await init(a);
  const waitOp = (v: number, timeout: number): Json => ({
    op: 'wait',
    table: 'Open_vSwitch',
    where: [['_uuid', '==', ['uuid', ovs]]],
    columns: ['cur_cfg'],
    until: '==',
    rows: [{ cur_cfg: v }],
    timeout,
  });
  const id1 = a.req('transact', ['Open_vSwitch', waitOp(3, 10000)]);
  await new Promise((r) => setTimeout(r, 20));
  t.notOk(
    a.msgs.some((m) => m.id === id1),
    'blocked',
  );
  // Other requests of the same session are still served meanwhile.
  t.same(await a.result('echo', ['x']), ['x']);
  await b.result('transact', [
    'Open_vSwitch',
    { op: 'update', table: 'Open_vSwitch', where: [], row: { cur_cfg: 3 } },
  ]);
  t.same((await a.reply(id1)).result, [{}]);
  // Times out when the clock passes the timeout.
  const id2 = a.req('transact', ['Open_vSwitch', waitOp(4, 1000)]);
  await new Promise((r) => setTimeout(r, 20));
  t.equal(server.stats().triggers, 1);
  clock.advance(1000);
  const r2 = await a.reply(id2);
  t.same((r2.result as Json[])[0], {
    error: 'timed out',
    details: '"wait" timed out after 1000 ms',
  });
  // Cancel.
  const id3 = a.req('transact', ['Open_vSwitch', waitOp(5, 100000)]);
  await new Promise((r) => setTimeout(r, 20));
  a.send({ id: null, method: 'cancel', params: [id3] });
  t.same((await a.reply(id3)).error, 'canceled');
  t.equal(server.stats().triggers, 0);
  await server.close();
});

void t.test('durable commits are acknowledged after storage sync, in request order', async (t) => {
  let release: (() => void) | undefined;
  const seen: CommitRecord[] = [];
  const storage: DatabaseStorage = {
    waitDurable: (c) => {
      seen.push(c);
      return new Promise<void>((r) => (release = r));
    },
    compact: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  const { server } = makeServer({}, storage);
  const c = connect(server);
  await init(c);
  const id = c.req('transact', [
    'Open_vSwitch',
    { op: 'update', table: 'Open_vSwitch', where: [], row: { cur_cfg: 9 } },
    { op: 'commit', durable: true },
  ]);
  const echo = c.req('echo', []);
  await new Promise((r) => setTimeout(r, 20));
  t.notOk(
    c.msgs.some((m) => m.id === id || m.id === echo),
    'nothing before the sync',
  );
  t.equal(seen.length, 1);
  t.equal(seen[0]!.durable, true);
  release!();
  await c.reply(echo);
  const ids = c.msgs.filter((m) => m.id === id || m.id === echo).map((m) => m.id);
  t.same(ids, [id, echo]);
  await server.close();
});

void t.test(
  'bad input: malformed JSON closes, deep nesting and oversized messages refused',
  async (t) => {
    const { server } = makeServer({ maxMessageBytes: 4096, maxDepth: 50 });
    const c1 = connect(server);
    c1.sendRaw('{"id":1,"method":"list_dbs","params":[]}{"id":2,"meth');
    c1.sendRaw('od":"echo","params":[]} garbage');
    await c1.waitClosed();
    t.same(
      c1.msgs.map((m) => m.id),
      [1, 2],
      'messages before the bad bytes are answered',
    );
    const c2 = connect(server);
    c2.sendRaw(`{"id":1,"method":"echo","params":${'['.repeat(60)}${']'.repeat(60)}}`);
    await c2.waitClosed();
    t.same(c2.msgs, []);
    const c3 = connect(server);
    c3.send({ id: 1, method: 'echo', params: ['x'.repeat(5000)] });
    await c3.waitClosed();
    const c4 = connect(server);
    c4.send({ id: 1, method: 'echo', params: {} });
    await c4.waitClosed();
    // Notifications of echo/cancel are not answered and keep the session.
    const c5 = connect(server);
    c5.send({ id: null, method: 'echo', params: [] });
    c5.send({ id: null, method: 'cancel', params: [42] });
    t.same(await c5.result('list_dbs', []), ['Open_vSwitch', '_Server']);
    t.equal(c5.msgs.length, 1);
    // Bad params of every method get an answer, never a crash.
    const methods = [
      'list_dbs',
      'get_schema',
      'transact',
      'monitor',
      'monitor_cond',
      'monitor_cond_since',
      'monitor_cond_change',
      'monitor_cancel',
      'lock',
      'steal',
      'unlock',
      'set_db_change_aware',
      'get_server_id',
      'echo',
    ];
    const junk: Json[] = [
      [],
      [null],
      [1, 2, 3, 4, 5],
      ['Open_vSwitch', null, null, null],
      ['Open_vSwitch', 1, [], ZERO],
      [{}],
      ['_Server', 'x', { Database: 7 }],
    ];
    for (const m of methods) for (const p of junk) await c5.call(m, p);
    t.equal(c5.closed, false);
    t.equal(server.sessions().length, 1);
    await server.close();
  },
);

void t.test(
  'a slow monitor client: changes coalesce, backlog stays bounded; over the cap it is dropped',
  async (t) => {
    const { server } = makeServer({ maxBacklogBytes: 200_000 });
    const writer = connect(server);
    const ovs = await init(writer);
    const [slowEnd, serverEnd] = memoryTransportPair();
    const session = server.accept(serverEnd, { probeIntervalMs: 0 });
    const slow = new RawClient(slowEnd);
    await slow.result('monitor_cond', [
      'Open_vSwitch',
      1,
      { Open_vSwitch: [{ columns: ['next_cfg', 'external_ids'] }] },
    ]);
    slowEnd.pause();
    for (let i = 0; i < 300; i++) {
      await writer.result('transact', [
        'Open_vSwitch',
        { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] },
      ]);
    }
    t.ok(serverEnd.backlog() < 1000, `backlog stays small (${serverEnd.backlog()} bytes)`);
    t.ok(session.monitorList()[0]!.pendingRows() <= 1, 'one pending row');
    slowEnd.resume();
    await slow.wait(
      (m) => m.method === 'update2' && stringifyJson(m.params!).includes('"next_cfg":300'),
      'final state',
    );
    // Now one update bigger than the cap.
    slowEnd.pause();
    const dropsBefore =
      allCounters().find((c) => c.name === 'jsonrpc_backlog_disconnect')?.total ?? 0;
    const big: Json = ['map', Array.from({ length: 3000 }, (_, i) => [`key${i}`, 'v'.repeat(100)])];
    await writer.result('transact', [
      'Open_vSwitch',
      {
        op: 'update',
        table: 'Open_vSwitch',
        where: [['_uuid', '==', ['uuid', ovs]]],
        row: { external_ids: big },
      },
    ]);
    slowEnd.resume();
    await slow.waitClosed();
    const dropsAfter =
      allCounters().find((c) => c.name === 'jsonrpc_backlog_disconnect')?.total ?? 0;
    t.ok(dropsAfter > dropsBefore, 'counted');
    t.equal(server.sessions().length, 1, 'only the writer is left');
    await server.close();
  },
);

void t.test('appctl commands and memory stats', async (t) => {
  const { server } = makeServer();
  const remotes = new RemoteManager((tr, info) => server.accept(tr, info), realClock);
  const cmds = new Map<string, AppctlCommandSpec>();
  registerOvsdbCommands({ register: (c) => cmds.set(c.name, c) }, server, remotes);
  t.same([...cmds.keys()].sort(), [
    'memory/show',
    'ovsdb-server/add-remote',
    'ovsdb-server/compact',
    'ovsdb-server/list-dbs',
    'ovsdb-server/list-remotes',
    'ovsdb-server/remove-remote',
  ]);
  const run = (name: string, ...args: string[]): Promise<string> =>
    Promise.resolve(cmds.get(name)!.handler(args));
  t.equal(await run('ovsdb-server/list-dbs'), 'Open_vSwitch\n_Server\n');
  t.equal(await run('ovsdb-server/add-remote', 'ptcp:0:127.0.0.1'), '');
  t.equal(await run('ovsdb-server/list-remotes'), 'ptcp:0:127.0.0.1\n');
  await t.rejects(run('ovsdb-server/remove-remote', 'punix:/nope'), { message: 'no such remote' });
  t.equal(await run('ovsdb-server/remove-remote', 'ptcp:0:127.0.0.1'), '');
  t.equal(await run('ovsdb-server/list-remotes'), '');
  await t.rejects(run('ovsdb-server/add-remote', 'bogus'), Error);
  t.equal(await run('ovsdb-server/compact'), '');
  await t.rejects(run('ovsdb-server/compact', 'nope'), { message: 'no database by that name' });
  const c = connect(server);
  await init(c);
  await c.result('monitor', ['Open_vSwitch', 1, { Open_vSwitch: {} }]);
  const mem = await run('memory/show');
  t.match(
    mem,
    /^atoms:\d+ cells:\d+ monitors:1 sessions:1 rows:3 triggers:0 locks:0 databases:2\n$/,
  );
  await remotes.closeAll();
  await server.close();
});

void t.test(
  'removing a database: change-aware sessions get monitor_canceled, others are closed',
  async (t) => {
    const { server } = makeServer();
    const aware = connect(server);
    const plain = connect(server);
    await aware.result('set_db_change_aware', [true]);
    await aware.result('monitor', ['Open_vSwitch', 'm', { Open_vSwitch: {} }]);
    await plain.result('monitor', ['Open_vSwitch', 'm', { Open_vSwitch: {} }]);
    await server.removeDatabase('Open_vSwitch');
    t.same((await aware.wait((m) => m.method === 'monitor_canceled')).params, ['m']);
    await plain.waitClosed();
    t.same(await aware.result('list_dbs', []), ['_Server']);
    await server.close();
  },
);

void t.test('inactivity probe: echo after the interval, disconnect when unanswered', async (t) => {
  const clock = new FakeClock();
  const { server } = makeServer({ clock });
  const [a, b] = memoryTransportPair();
  server.accept(b, { probeIntervalMs: 5000 });
  const c = new RawClient(a);
  t.same(await c.result('list_dbs', []), ['Open_vSwitch', '_Server']);
  clock.advance(5000);
  t.same(await c.wait((m) => m.method === 'echo'), { id: 'echo', method: 'echo', params: [] });
  // Answering keeps the session.
  c.send({ id: 'echo', result: [], error: null });
  await new Promise((r) => setTimeout(r, 20));
  clock.advance(5000);
  await c.wait(() => c.msgs.filter((m) => m.method === 'echo').length === 2, 'second probe');
  t.equal(c.closed, false);
  // Not answering closes it.
  clock.advance(5000);
  await c.waitClosed();
  t.equal(server.sessions().length, 0);
  await server.close();
});

void t.test('requests piling up behind a stuck durable commit drop the session', async (t) => {
  const storage: DatabaseStorage = {
    waitDurable: () => new Promise<void>(() => undefined),
    compact: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  const { server } = makeServer({}, storage);
  const c = connect(server);
  await init(c);
  c.req('transact', [
    'Open_vSwitch',
    { op: 'update', table: 'Open_vSwitch', where: [], row: { cur_cfg: 1 } },
    { op: 'commit', durable: true },
  ]);
  let text = '';
  for (let i = 0; i < 10_001; i++) text += `{"id":${i},"method":"echo","params":[]}`;
  c.sendRaw(text);
  await c.waitClosed();
  t.equal(server.sessions().length, 0);
  await server.close();
});

void t.test(
  'WebSocket remote: a browser-style client speaks JSON-RPC, one message per frame',
  async (t) => {
    const { server } = makeServer();
    const remotes = new RemoteManager((tr, info) => server.accept(tr, info), realClock);
    t.teardown(async () => {
      await remotes.closeAll();
      await server.close();
    });
    const st = await remotes.add('pws:0:127.0.0.1');
    const ws = new WebSocket(`ws://127.0.0.1:${st.boundPort!}/`);
    await new Promise((r) => ws.once('open', r));
    const frames: Obj[] = [];
    ws.on('message', (d: Buffer) => frames.push(JSON.parse(d.toString()) as Obj));
    ws.send(
      JSON.stringify({
        id: 1,
        method: 'monitor_cond',
        params: ['_Server', 'm', { Database: [{ columns: ['name'] }] }],
      }),
    );
    ws.send(JSON.stringify({ id: 2, method: 'list_dbs', params: [] }));
    for (let i = 0; i < 500 && frames.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    t.equal(frames.length, 2);
    t.same(frames[1], { id: 2, result: ['Open_vSwitch', '_Server'], error: null });
    t.same(
      Object.values((frames[0]!.result as { Database: Obj }).Database)
        .map((r) => ((r as Obj).initial as Obj).name)
        .sort(),
      ['Open_vSwitch', '_Server'],
    );
    ws.close();
  },
);

void t.test(
  'startOvsdb: file-backed database survives a restart; compaction by appctl',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvs-ovsdb-unit-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const dbPath = join(dir, 'conf.db');
    const cmds = new Map<string, AppctlCommandSpec>();
    const r1 = await startOvsdb({
      dbPath,
      remotes: [],
      clock: realClock,
      registry: { register: (c) => cmds.set(c.name, c) },
    });
    const [a, b] = memoryTransportPair();
    r1.server.accept(b);
    const c = new RawClient(a);
    const ovs = await init(c);
    const res = (await c.result('transact', [
      'Open_vSwitch',
      { op: 'insert', table: 'Bridge', row: { name: 'persist' }, 'uuid-name': 'b' },
      {
        op: 'mutate',
        table: 'Open_vSwitch',
        where: [['_uuid', '==', ['uuid', ovs]]],
        mutations: [['bridges', 'insert', ['named-uuid', 'b']]],
      },
      { op: 'commit', durable: true },
    ])) as Json[];
    t.same(res[2], {});
    t.equal(await cmds.get('ovsdb-server/compact')!.handler([]), '');
    t.equal(r1.storage!.stats().compactions, 1);
    await r1.close();
    const r2 = await startOvsdb({ dbPath, remotes: [], clock: realClock });
    t.teardown(() => r2.close());
    const names = [...r2.db.rows('Bridge').values()].map((r) => r.data.name!.keys[0]);
    t.same(names, ['persist']);
  },
);

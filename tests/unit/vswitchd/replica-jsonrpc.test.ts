/**
 * The JSON-RPC replica against our OVSDB server over in-memory transports: rows mirrored and
 * followed, commits asserting the ovs_vswitchd lock, lock contention (a second replica waits,
 * presents no rows, and takes over when the first goes), a stolen lock, reconnection with the
 * rows kept meanwhile, and the bridge reconciler running on the replica.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { FakeClock, realClock } from '../../../lib/clock.js';
import type { Json } from '../../../lib/json.js';
import { JsonRpcSession } from '../../../lib/jsonrpc.js';
import { memoryTransportPair, type Transport } from '../../../lib/transport.js';
import { Database } from '../../../ovsdb/database.js';
import { vswitchDbSchema } from '../../../ovsdb/schema.js';
import { OvsdbServer } from '../../../ovsdb/server.js';
import type { Row } from '../../../ovsdb/types.js';
import { BridgeReconciler } from '../../../vswitchd/bridge.js';
import { JsonRpcReplica } from '../../../vswitchd/replica-jsonrpc.js';
import { InProcessReplica } from '../../../vswitchd/replica.js';

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Setup {
  server: OvsdbServer;
  db: Database;
  root: string;
  /** Text of every message each replica connection sent, by connection. */
  sent: string[][];
  /** The server ends of the replica connections. */
  serverEnds: Transport[];
  connector: () => Promise<Transport>;
}

function setup(): Setup {
  const server = new OvsdbServer({ clock: realClock });
  const db = new Database(vswitchDbSchema());
  server.addDatabase(db);
  const out = db.transact([{ op: 'insert', table: 'Open_vSwitch', row: { next_cfg: 1 } }]);
  if (out.status !== 'done') throw new Error('init');
  const root = ((out.result[0] as { uuid: Json[] }).uuid[1] as string) ?? '';
  const sent: string[][] = [];
  const serverEnds: Transport[] = [];
  const connector = (): Promise<Transport> => {
    const [a, b] = memoryTransportPair();
    server.accept(b, { probeIntervalMs: 0 });
    serverEnds.push(b);
    const mine: string[] = [];
    sent.push(mine);
    const write = a.write.bind(a);
    a.write = (d: Uint8Array): boolean => {
      mine.push(Buffer.from(d).toString('utf8'));
      return write(d);
    };
    return Promise.resolve(a);
  };
  return { server, db, root, sent, serverEnds, connector };
}

function replica(s: Setup, clock = new FakeClock()): JsonRpcReplica {
  return new JsonRpcReplica({ remote: 'unix:/nonexistent', clock, connect: s.connector });
}

function bridgeNamed(rows: ReadonlyMap<string, Row>, name: string): Row | undefined {
  return [...rows.values()].find((r) => r.data.name?.keys[0] === name);
}

function addBridgeOps(root: string, br: string, port: string): Json[] {
  return [
    { op: 'insert', table: 'Interface', row: { name: port }, 'uuid-name': 'i' },
    {
      op: 'insert',
      table: 'Port',
      row: { name: port, interfaces: ['named-uuid', 'i'] },
      'uuid-name': 'p',
    },
    {
      op: 'insert',
      table: 'Bridge',
      row: { name: br, ports: ['named-uuid', 'p'] },
      'uuid-name': 'b',
    },
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [['_uuid', '==', ['uuid', root]]],
      mutations: [
        ['bridges', 'insert', ['named-uuid', 'b']],
        ['next_cfg', '+=', 1],
      ],
    },
  ];
}

void t.test('rows are mirrored and followed; commits assert the lock', async (t) => {
  const s = setup();
  const r = replica(s);
  t.teardown(() => r.close());
  t.equal(r.state, 'idle');
  await r.start();
  await r.whenReady();
  t.equal(r.state, 'ready');
  t.equal(r.rows('Open_vSwitch').size, 1, 'the root row is there');
  t.equal(r.getRow('Open_vSwitch', s.root)?.data.next_cfg?.keys[0], 1n);

  const changed: string[][] = [];
  r.onChange((tables) => changed.push([...tables].sort()));
  s.db.transact(addBridgeOps(s.root, 'trepbr0', 'trepp0'));
  await until('the bridge to reach the replica', () => !!bridgeNamed(r.rows('Bridge'), 'trepbr0'));
  t.same(changed.at(-1), ['Bridge', 'Interface', 'Open_vSwitch', 'Port']);
  const brow = bridgeNamed(r.rows('Bridge'), 'trepbr0')!;
  t.equal(r.db.getRow('Port', brow.data.ports!.keys[0] as string)?.data.name?.keys[0], 'trepp0');

  // A commit goes to the server with the lock assertion first.
  const res = await r.commit([
    {
      op: 'update',
      table: 'Open_vSwitch',
      where: [['_uuid', '==', ['uuid', s.root]]],
      row: { cur_cfg: 2 },
    },
  ]);
  t.same(res, { status: 'ok', result: [{ count: 1 }] });
  t.equal(s.db.getRow('Open_vSwitch', s.root)?.data.cur_cfg?.keys[0], 2n, 'written on the server');
  await until(
    'the write to come back',
    () => r.getRow('Open_vSwitch', s.root)?.data.cur_cfg?.keys[0] === 2n,
  );
  const txn = s.sent[0]!.find((m) => m.includes('"transact"'))!;
  t.match(txn, /"params":\["Open_vSwitch",\{"op":"assert","lock":"ovs_vswitchd"\},\{"op":"update"/);

  // A failing operation comes back as an error, nothing committed.
  const bad = await r.commit([
    { op: 'update', table: 'Open_vSwitch', where: [], row: { cur_cfg: 'x' } },
  ]);
  t.equal(bad.status, 'error');

  // A deletion on the server reaches the replica.
  s.db.transact([
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [['_uuid', '==', ['uuid', s.root]]],
      mutations: [['bridges', 'delete', ['uuid', brow.uuid]]],
    },
  ]);
  await until('the bridge to go', () => r.rows('Bridge').size === 0);
  t.equal(r.rows('Port').size, 0, 'garbage-collected rows go too');
});

void t.test('lock contention: the second replica waits and takes over', async (t) => {
  const s = setup();
  const a = replica(s);
  const b = replica(s);
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  await a.start();
  await a.whenReady();
  await b.start();
  await until('b to learn the lock is taken', () => b.contended);
  t.equal(b.state, 'locking');
  t.equal(b.rows('Open_vSwitch').size, 0, 'no rows while another process holds the lock');
  const denied = await b.commit([
    { op: 'update', table: 'Open_vSwitch', where: [], row: { cur_cfg: 9 } },
  ]);
  t.equal(denied.status, 'error', 'b does not write');
  t.notOk(
    s.sent[1]!.some((m) => m.includes('"transact"')),
    'b never sent a transaction',
  );
  t.not(s.db.getRow('Open_vSwitch', s.root)?.data.cur_cfg?.keys[0], 9n);

  // A transaction asserting a lock the session does not hold is refused by the server too.
  const raw = new JsonRpcSession(
    await (async () => {
      const [x, y] = memoryTransportPair();
      s.server.accept(y, { probeIntervalMs: 0 });
      return x;
    })(),
    { probeIntervalMs: 0 },
  );
  t.teardown(() => raw.close());
  const refused = (await raw.request('transact', [
    'Open_vSwitch',
    { op: 'assert', lock: 'ovs_vswitchd' },
  ])) as Json[];
  t.match(refused[0], { error: 'not owner' });

  await a.close();
  await b.whenReady();
  t.equal(b.contended, false);
  t.equal(b.rows('Open_vSwitch').size, 1, 'b mirrors the rows once it holds the lock');
  const ok = await b.commit([
    { op: 'update', table: 'Open_vSwitch', where: [], row: { cur_cfg: 7 } },
  ]);
  t.equal(ok.status, 'ok');
  t.equal(s.db.getRow('Open_vSwitch', s.root)?.data.cur_cfg?.keys[0], 7n);
});

void t.test('a stolen lock disables the replica until it gets the lock back', async (t) => {
  const s = setup();
  const a = replica(s);
  t.teardown(() => a.close());
  await a.start();
  await a.whenReady();
  const [x, y] = memoryTransportPair();
  s.server.accept(y, { probeIntervalMs: 0 });
  const thief = new JsonRpcSession(x, { probeIntervalMs: 0 });
  t.same(await thief.request('steal', ['ovs_vswitchd']), { locked: true });
  await until('a to notice', () => a.contended);
  t.equal(a.rows('Open_vSwitch').size, 0, 'rows dropped');
  t.equal((await a.commit([])).status, 'error');
  thief.close();
  await a.whenReady();
  t.equal(a.rows('Open_vSwitch').size, 1, 'back once the thief goes');
});

void t.test('reconnects with backoff and keeps the rows meanwhile', async (t) => {
  const s = setup();
  const clock = new FakeClock();
  const a = replica(s, clock);
  t.teardown(() => a.close());
  await a.start();
  await a.whenReady();
  for (const e of s.serverEnds) e.close();
  await until('the drop to be seen', () => a.state === 'connecting');
  t.equal(a.rows('Open_vSwitch').size, 1, 'rows kept while disconnected');
  t.equal((await a.commit([])).status, 'error', 'no commits while disconnected');
  // Changed while we were away.
  s.db.transact(addBridgeOps(s.root, 'trepbr1', 'trepp1'));
  t.equal(s.sent.length, 1, 'no reconnect before the backoff');
  clock.advance(1000);
  await a.whenReady();
  t.equal(s.sent.length, 2, 'reconnected once');
  t.ok(bridgeNamed(a.rows('Bridge'), 'trepbr1'), 'contents refreshed');

  // A server that is not there: attempts back off 1 s, 2 s, 4 s, 8 s, 8 s.
  let attempts = 0;
  const b = new JsonRpcReplica({
    remote: 'unix:/nonexistent',
    clock,
    connect: () => {
      attempts++;
      return Promise.reject(new Error('ECONNREFUSED'));
    },
  });
  t.teardown(() => b.close());
  await b.start();
  await until('first attempt', () => attempts === 1);
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    const next = clock.nextDue()! - clock.now();
    delays.push(next);
    clock.advance(next);
    await until(`attempt ${i + 2}`, () => attempts === i + 2);
  }
  t.same(delays, [1000, 2000, 4000, 8000, 8000]);
});

void t.test('the bridge reconciler runs on the JSON-RPC replica', async (t) => {
  const s = setup();
  const dir = mkdtempSync(join(tmpdir(), 'trep-'));
  const r = replica(s);
  const rec = new BridgeReconciler({
    replica: r,
    clock: realClock,
    rundir: dir,
    deviceExists: () => true,
  });
  t.teardown(async () => {
    await rec.stop();
    await r.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await rec.start();
  await r.start();
  s.db.transact(addBridgeOps(s.root, 'trepbr2', 'trepp2'));
  const ovs = (): Row => s.db.getRow('Open_vSwitch', s.root)!;
  await until('cur_cfg to catch up', () => ovs().data.cur_cfg?.keys[0] === 2n);
  t.ok(rec.bridges.has('trepbr2'), 'bridge running');
  const iface = [...s.db.rows('Interface').values()].find(
    (x) => x.data.name?.keys[0] === 'trepp2',
  )!;
  t.equal(iface.data.ofport?.keys[0], 1n, 'ofport written on the server');
  t.ok(bridgeNamed(s.db.rows('Bridge'), 'trepbr2')?.data.datapath_id?.keys[0], 'datapath_id');

  // Another process takes the lock: this one destroys its bridges and writes nothing.
  const [x, y] = memoryTransportPair();
  s.server.accept(y, { probeIntervalMs: 0 });
  const thief = new JsonRpcSession(x, { probeIntervalMs: 0 });
  t.teardown(() => thief.close());
  await thief.request('steal', ['ovs_vswitchd']);
  await until('bridges to go', () => rec.bridges.size === 0);
  s.db.transact([
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [['_uuid', '==', ['uuid', s.root]]],
      mutations: [['next_cfg', '+=', 1]],
    },
  ]);
  await new Promise((res) => setTimeout(res, 50));
  t.equal(ovs().data.cur_cfg?.keys[0], 2n, 'no write while the lock is elsewhere');
  thief.close();
  await until('cur_cfg after the lock comes back', () => ovs().data.cur_cfg?.keys[0] === 3n);
  t.ok(rec.bridges.has('trepbr2'), 'bridge back');
  t.equal(
    [...s.db.rows('Interface').values()][0]!.data.ofport?.keys[0],
    1n,
    'same ofport after the takeover',
  );
});

void t.test('a failed commit is logged and retried on a later pass', async (t) => {
  const db = new Database(vswitchDbSchema());
  db.transact([{ op: 'insert', table: 'Open_vSwitch', row: { next_cfg: 1 } }]);
  const inner = new InProcessReplica(db);
  let failures = 1;
  const flaky = Object.assign(Object.create(inner) as InProcessReplica, {
    commit: (ops: readonly Json[]) =>
      failures-- > 0
        ? Promise.resolve({ status: 'error' as const, error: 'simulated' })
        : inner.commit(ops),
  });
  const clock = new FakeClock();
  const dir = mkdtempSync(join(tmpdir(), 'trep-'));
  const rec = new BridgeReconciler({ replica: flaky, clock, rundir: dir });
  t.teardown(async () => {
    await rec.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await rec.start();
  const cur = (): Json | undefined =>
    [...db.rows('Open_vSwitch').values()][0]!.data.cur_cfg?.keys[0];
  await new Promise((r) => setTimeout(r, 20));
  t.equal(cur(), 0n, 'first write-back failed');
  t.equal(failures, 0);
  await until('the retry timer', () => clock.pending() > 1);
  clock.advance(1000);
  await rec.idle();
  await until('the retry to write', () => cur() === 1n);
  t.pass('retried');
});

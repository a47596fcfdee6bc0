/**
 * Controller.status as OVS writes it: state, and sec_since_connect while connected /
 * sec_since_disconnect once lost, refreshed with the statistics (every 5 s), not every second.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import type { Json } from '../../../lib/json.js';
import { DpifNetdev } from '../../../datapath/dpif-netdev.js';
import { Database } from '../../../ovsdb/database.js';
import { vswitchDbSchema } from '../../../ovsdb/schema.js';
import { BridgeReconciler } from '../../../vswitchd/bridge.js';

const HELLO_13 = Buffer.from([4, 0, 0, 8, 0, 0, 0, 1]);

function statusOf(db: Database): Record<string, string> {
  const row = [...db.rows('Controller').values()][0]!;
  const d = row.data.status;
  const out: Record<string, string> = {};
  d?.keys.forEach((k, i) => {
    out[String(k)] = String(d.values![i]);
  });
  return out;
}

async function until(cond: () => boolean, what: string, clock: FakeClock): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (cond()) return;
    // Real time for the sockets, fake time for the reconciler's status timer.
    await new Promise((r) => setTimeout(r, 10));
    clock.advance(1000);
  }
  throw new Error(`timed out waiting for ${what}`);
}

t.test('Controller.status: sec_since_connect and sec_since_disconnect', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tcst-'));
  const socks: Socket[] = [];
  const srv = createServer((s) => {
    socks.push(s);
    s.on('error', () => undefined);
    s.write(HELLO_13);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  const clock = new FakeClock(1_000_000);
  const db = new Database(vswitchDbSchema());
  db.transact([{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
  const ovs = [...db.rows('Open_vSwitch').keys()][0]!;
  const dpif = new DpifNetdev({ clock });
  const rec = new BridgeReconciler({ db, clock, rundir: dir, dpif, deviceExists: () => true });
  const r = db.transact([
    {
      op: 'insert',
      table: 'Controller',
      row: { target: `tcp:127.0.0.1:${port}`, max_backoff: 1000 },
      'uuid-name': 'c',
    },
    {
      op: 'insert',
      table: 'Bridge',
      row: { name: 'tcst0', controller: ['named-uuid', 'c'] },
      'uuid-name': 'b',
    },
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [['_uuid', '==', ['uuid', ovs]]],
      mutations: [['bridges', 'insert', ['named-uuid', 'b']]],
    },
  ] as Json[]);
  t.equal(r.status, 'done');
  await rec.start();
  t.teardown(async () => {
    await rec.stop();
    for (const s of socks) s.destroy();
    srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  await until(() => statusOf(db).state === 'ACTIVE', 'ACTIVE', clock);
  const first = statusOf(db);
  t.ok(
    first.sec_since_connect !== undefined,
    `sec_since_connect written on connect: ${JSON.stringify(first)}`,
  );
  t.notOk('sec_since_disconnect' in first, 'never disconnected yet');
  const at = Number(first.sec_since_connect);

  // The seconds move with the statistics tick (5 s), not every second.
  clock.advance(1000);
  await new Promise((r) => setTimeout(r, 20));
  const s1 = Number(statusOf(db).sec_since_connect);
  await until(
    () => Number(statusOf(db).sec_since_connect) >= at + 5,
    'sec_since_connect to grow',
    clock,
  );
  t.ok(s1 <= at + 1, 'not rewritten on a plain one-second status tick');
  t.ok(Number(statusOf(db).sec_since_connect) >= at + 5, 'refreshed with the statistics');

  // Lose the controller: the connection state changes, sec_since_disconnect appears at once.
  srv.close();
  for (const s of socks) s.destroy();
  await until(() => statusOf(db).state !== 'ACTIVE', 'not ACTIVE', clock);
  const lost = statusOf(db);
  t.ok(
    lost.sec_since_disconnect !== undefined,
    `sec_since_disconnect once lost: ${JSON.stringify(lost)}`,
  );
  t.notOk('sec_since_connect' in lost, 'no sec_since_connect while not connected');
  const row = [...db.rows('Controller').values()][0]!;
  t.equal(row.data.is_connected?.keys[0], false, 'is_connected false');
});

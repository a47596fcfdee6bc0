/**
 * Flow events pushed by the pipeline (Ofproto.onRuleChange) through DaemonApiBackend: add,
 * modify, remove, a replacing ADD (remove + add), expiry, a bundle (events only after the
 * commit; none for a failed one), a bridge that appears with rules already in it and one that
 * goes away, listeners detached on unsubscribe, and nothing sent while no client wants `flow`.
 */
import t from 'tap';
import { AppctlRegistry } from '../../../appctl/registry.js';
import type { ApiEvent, FlowEvent } from '../../../api/events.js';
import { FakeClock } from '../../../lib/clock.js';
import { OFPP } from '../../../openflow/constants.js';
import type { MessageOf, OfpMessage } from '../../../openflow/messages.js';
import type { Ofconn } from '../../../ofproto/ofconn.js';
import { Ofproto } from '../../../ofproto/ofproto.js';
import { Database } from '../../../ovsdb/database.js';
import { vswitchDbSchema } from '../../../ovsdb/schema.js';
import { DaemonApiBackend } from '../../../vswitchd/api-backend.js';

const conn = { send: () => true } as unknown as Ofconn;

function flowMod(
  command: number,
  tableId: number,
  priority: number,
  match: MessageOf<'FLOW_MOD'>['match'],
  port: number,
  extra: Partial<MessageOf<'FLOW_MOD'>> = {},
): OfpMessage {
  return {
    type: 'FLOW_MOD',
    xid: 1,
    cookie: BigInt(port),
    cookieMask: 0n,
    tableId,
    command,
    idleTimeout: 0,
    hardTimeout: 0,
    priority,
    bufferId: 0xffffffff,
    outPort: OFPP.ANY,
    outGroup: 0xffffffff,
    flags: 0,
    match,
    instructions: [{ type: 'APPLY_ACTIONS', actions: [{ type: 'OUTPUT', port, maxLen: 0 }] }],
    ...extra,
  };
}

t.test('flow events are pushed as changes commit', async (t) => {
  const clock = new FakeClock();
  const db = new Database(vswitchDbSchema());
  const bridges = new Map<string, { ofproto: Ofproto }>();
  const of0 = new Ofproto({ name: 'tapi0', datapathId: 1n, clock });
  t.teardown(() => of0.close());
  bridges.set('tapi0', { ofproto: of0 });
  const backend = new DaemonApiBackend({
    appctl: new AppctlRegistry(),
    db: () => db,
    bridges: () => bridges,
    clock,
  });
  const events: ApiEvent[] = [];
  let wantFlow = true;
  const off = backend.subscribe(
    (e) => events.push(e),
    (topic) => topic === 'flow' && wantFlow,
  );
  const send = (of: Ofproto, m: OfpMessage) => of.handleMessage(conn, m, new Uint8Array(0));
  const flows = () =>
    events
      .filter((e): e is FlowEvent => e.topic === 'flow')
      .map((e) => `${e.bridge} ${e.op} t${e.table} p${e.priority} ${e.match || '*'} ${e.actions}`);

  send(of0, flowMod(0, 0, 10, [{ field: 'eth_type', value: 0x800 }], 1));
  send(of0, flowMod(0, 1, 5, [], 2));
  send(of0, flowMod(1, 1, 5, [], 3)); // MODIFY
  send(of0, flowMod(0, 0, 10, [{ field: 'eth_type', value: 0x800 }], 4)); // replaces
  send(of0, flowMod(3, 1, 5, [], 0)); // DELETE table 1
  t.same(flows(), [
    'tapi0 add t0 p10 ip output:1',
    'tapi0 add t1 p5 * output:2',
    'tapi0 modify t1 p5 * output:3',
    'tapi0 remove t0 p10 ip output:1',
    'tapi0 add t0 p10 ip output:4',
    'tapi0 remove t1 p5 * output:3',
  ]);
  events.length = 0;

  // Expiry (hard timeout) is a remove.
  send(of0, flowMod(0, 2, 1, [], 5, { hardTimeout: 1 }));
  clock.advance(1500);
  t.same(flows(), ['tapi0 add t2 p1 * output:5', 'tapi0 remove t2 p1 * output:5']);
  events.length = 0;

  // A bundle: nothing before the commit; a failing bundle reports nothing at all.
  const bundle = (id: number, msgs: OfpMessage[], ctrl: 'COMMIT_REQUEST') => {
    for (const m of msgs)
      send(of0, {
        type: 'BUNDLE_ADD_MESSAGE',
        xid: 1,
        bundleId: id,
        flags: 0,
        message: m,
        properties: [],
      } as unknown as OfpMessage);
    t.same(flows(), [], 'nothing while the bundle is open');
    send(of0, {
      type: 'BUNDLE_CONTROL',
      xid: 1,
      bundleId: id,
      ctrlType: ctrl,
      flags: 0,
      properties: [],
    } as unknown as OfpMessage);
  };
  bundle(1, [flowMod(0, 3, 1, [], 6), flowMod(0, 3, 2, [], 7)], 'COMMIT_REQUEST');
  t.same(flows(), ['tapi0 add t3 p1 * output:6', 'tapi0 add t3 p2 * output:7']);
  events.length = 0;
  t.throws(() =>
    bundle(
      2,
      [
        flowMod(0, 4, 1, [], 8),
        {
          ...flowMod(0, 4, 2, [], 9),
          instructions: [{ type: 'METER', meterId: 42 }],
        } as OfpMessage,
      ],
      'COMMIT_REQUEST',
    ),
  );
  t.same(flows(), [], 'a bundle that failed and rolled back reports nothing');

  // A bridge that appears (seen at the next database commit) with a rule in it already.
  const of1 = new Ofproto({ name: 'tapi1', datapathId: 2n, clock });
  t.teardown(() => of1.close());
  send(of1, flowMod(0, 0, 1, [], 1));
  bridges.set('tapi1', { ofproto: of1 });
  db.transact([{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
  t.same(flows(), ['tapi1 add t0 p1 * output:1'], 'rules already there are reported as added');
  events.length = 0;
  send(of1, flowMod(0, 0, 2, [], 2));
  t.same(flows(), ['tapi1 add t0 p2 * output:2'], 'and then followed');
  events.length = 0;
  // ... and goes away.
  bridges.delete('tapi1');
  const r = db.transact([{ op: 'update', table: 'Open_vSwitch', where: [], row: { next_cfg: 1 } }]);
  t.equal(r.status, 'done');
  t.same(flows().sort(), ['tapi1 remove t0 p1 * output:1', 'tapi1 remove t0 p2 * output:2']);
  events.length = 0;
  send(of1, flowMod(0, 0, 3, [], 3));
  t.same(flows(), [], 'a bridge that went away is no longer followed');

  wantFlow = false;
  send(of0, flowMod(0, 5, 1, [], 1));
  t.same(flows(), [], 'nothing while no client wants flow events');
  wantFlow = true;
  off();
  send(of0, flowMod(0, 5, 2, [], 1));
  t.same(flows(), [], 'nothing after unsubscribing');
});

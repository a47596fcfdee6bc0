/**
 * The HTTP API on a whole daemon in this process (OVSDB server + bridge reconciler + API
 * component through vswitchd/api-backend.ts): REST answers follow the database and the running
 * bridges, /events delivers OVSDB, port and flow events (flow events pushed by the pipeline as
 * rule changes commit: no clock advance, no polling), STP/BFD/topology resources answer from the
 * database and the run directory, /metrics carries the daemon's counters, per-port, per-table and
 * datapath figures.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import WebSocket from 'ws';
import { FakeClock } from '../../lib/clock.js';
import type { Json } from '../../lib/json.js';
import { OFPP } from '../../openflow/constants.js';
import type { MessageOf, OfpMessage } from '../../openflow/messages.js';
import type { Ofconn } from '../../ofproto/ofconn.js';
import {
  standardComponents,
  type BridgeComponent,
  type OvsdbComponent,
} from '../../vswitchd/components.js';
import { apiComponent, parseApiAddress } from '../../vswitchd/api-backend.js';
import { startDaemonInProcess } from '../helpers/daemon.js';

function addBridgeOps(
  ovsUuid: string,
  br: string,
  ports: string[],
  opts: { portType?: string; bridge?: Record<string, Json> } = {},
): Json[] {
  const ops: Json[] = [];
  const all = [br, ...ports];
  for (const p of all) {
    ops.push({
      op: 'insert',
      table: 'Interface',
      row: { name: p, type: p === br ? 'internal' : (opts.portType ?? 'internal') },
      'uuid-name': `i_${p}`,
    });
    ops.push({
      op: 'insert',
      table: 'Port',
      row: { name: p, interfaces: ['named-uuid', `i_${p}`] },
      'uuid-name': `p_${p}`,
    });
  }
  ops.push({
    op: 'insert',
    table: 'Bridge',
    row: { name: br, ports: ['set', all.map((p) => ['named-uuid', `p_${p}`])], ...opts.bridge },
    'uuid-name': 'br',
  });
  ops.push({
    op: 'mutate',
    table: 'Open_vSwitch',
    where: [['_uuid', '==', ['uuid', ovsUuid]]],
    mutations: [['bridges', 'insert', ['set', [['named-uuid', 'br']]]]],
  });
  return ops;
}

t.test('parseApiAddress', async (t) => {
  t.same(parseApiAddress('8080'), { host: '127.0.0.1', port: 8080 });
  t.same(parseApiAddress('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
  t.same(parseApiAddress('[::1]:0'), { host: '::1', port: 0 });
  t.throws(() => parseApiAddress('host:'), /bad --api address/);
  t.throws(() => parseApiAddress('1:99999'), /bad --api address/);
});

t.test('API over the real daemon', async (t) => {
  const clock = new FakeClock();
  const components = standardComponents({ inMemory: true });
  const [ovsdb, bridge] = components as [OvsdbComponent, BridgeComponent];
  const api = apiComponent(components, { host: '127.0.0.1', port: 0 });
  t.throws(() => apiComponent([ovsdb], { port: 0 }), /needs the OVSDB server and bridge/);
  const { daemon, paths } = await startDaemonInProcess({
    t,
    clock,
    components: [...components, api],
  });
  const db = ovsdb.running!.db;
  const app = api.server!.app;
  t.match(api.url, /^http:\/\/127\.0\.0\.1:\d+$/);

  // A stream client listening to everything.
  const ws = new WebSocket(`${api.url!.replace('http', 'ws')}/events`);
  t.teardown(() => ws.terminate());
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
  await next((m) => m.type === 'hello');

  // Over real HTTP too, on the address the component bound.
  const viaHttp = await fetch(`${api.url}/api/bridges`);
  t.equal(viaHttp.status, 200);
  t.same(await viaHttp.json(), [], 'no bridges yet');
  const page = await fetch(`${api.url}/`);
  t.match(await page.text(), /<title>tsvswitch<\/title>/);
  let r = await app.inject({ method: 'GET', url: '/api/bridges' });
  t.same(r.json(), []);

  const ovsUuid = [...db.rows('Open_vSwitch').keys()][0]!;
  const out = db.transact(addBridgeOps(ovsUuid, 'br0', ['p1', 'p2']));
  t.equal(out.status, 'done');
  await bridge.reconciler!.idle();

  // OVSDB and port events from that transaction and the reconciler's write-back.
  const brEvent = await next(
    (m) => m.topic === 'ovsdb' && m.table === 'Bridge' && m.op === 'insert',
  );
  t.ok((brEvent.columns as string[]).includes('name'), 'changed columns listed');
  t.match(await next((m) => m.topic === 'port' && m.port === 'p1' && m.op === 'add'), {
    bridge: 'br0',
  });
  t.match(await next((m) => m.topic === 'ovsdb' && m.table === 'Interface' && m.op === 'modify'), {
    columns: Array,
  });
  t.match(await next((m) => m.topic === 'port' && m.port === 'p1' && m.op === 'modify'), {
    bridge: 'br0',
    ofport: Number,
  });

  r = await app.inject({ method: 'GET', url: '/api/bridges' });
  t.equal(r.statusCode, 200);
  const brs = r.json<{ name: string; uuid: string; ports: string[]; flowCount: number }[]>();
  t.same(
    brs.map((b) => b.name),
    ['br0'],
  );
  t.equal(brs[0]!.uuid, [...db.rows('Bridge').keys()][0]);
  t.same(brs[0]!.ports, ['p1', 'p2', 'br0'], 'LOCAL last');
  r = await app.inject({ method: 'GET', url: '/api/bridges/br0/ports' });
  const ports = r.json<
    {
      name: string;
      ofport: number;
      mac: string;
      stats: { rxPackets: number };
    }[]
  >();
  t.same(
    ports.map((p) => [p.name, p.ofport]),
    [
      ['p1', 1],
      ['p2', 2],
      ['br0', OFPP.LOCAL],
    ],
  );
  t.match(ports[0]!.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  t.equal(ports[0]!.stats.rxPackets, 0);
  r = await app.inject({ method: 'GET', url: '/api/interfaces' });
  t.same(
    r
      .json<{ name: string; bridge: string; ofport: number }[]>()
      .map((i) => [i.name, i.bridge, i.ofport]),
    [
      ['br0', 'br0', 65534],
      ['p1', 'br0', 1],
      ['p2', 'br0', 2],
    ],
  );
  r = await app.inject({ method: 'GET', url: '/api/bridges/br1' });
  t.equal(r.statusCode, 404);
  t.equal(r.json().type, 'https://tsvswitch.dev/problems/unknown-bridge');

  // A flow, a group and a meter through the bridge's OpenFlow pipeline.
  const of = bridge.reconciler!.bridges.get('br0')!.ofproto;
  const replies: OfpMessage[] = [];
  const conn = { send: (m: OfpMessage) => replies.push(m) > 0 } as unknown as Ofconn;
  const send = (m: OfpMessage) => void of.handleMessage(conn, m, new Uint8Array(0));
  send({
    type: 'METER_MOD',
    xid: 1,
    command: 0,
    flags: 1 | 4,
    meterId: 7,
    bands: [{ type: 'DROP', rate: 1000, burstSize: 10 }],
  });
  send({
    type: 'GROUP_MOD',
    xid: 2,
    command: 0,
    groupType: 1,
    groupId: 3,
    buckets: [
      {
        weight: 50,
        watchPort: OFPP.ANY,
        watchGroup: 0xffffffff,
        actions: [{ type: 'OUTPUT', port: 2, maxLen: 0 }],
      },
    ],
  });
  const flowMod = (
    cookie: bigint,
    tableId: number,
    priority: number,
    match: MessageOf<'FLOW_MOD'>['match'],
    instructions: MessageOf<'FLOW_MOD'>['instructions'],
  ): OfpMessage => ({
    type: 'FLOW_MOD',
    xid: 3,
    cookie,
    cookieMask: 0n,
    tableId,
    command: 0,
    idleTimeout: 0,
    hardTimeout: 0,
    priority,
    bufferId: 0xffffffff,
    outPort: OFPP.ANY,
    outGroup: 0xffffffff,
    flags: 0,
    match,
    instructions,
  });
  send(
    flowMod(
      0x15n,
      0,
      10,
      [{ field: 'eth_type', value: 0x800 }],
      [
        { type: 'METER', meterId: 7 },
        { type: 'APPLY_ACTIONS', actions: [{ type: 'OUTPUT', port: 1, maxLen: 0 }] },
      ],
    ),
  );
  send(
    flowMod(0x20n, 1, 5, [], [{ type: 'APPLY_ACTIONS', actions: [{ type: 'GROUP', groupId: 3 }] }]),
  );
  t.same(
    replies.filter((m) => m.type === 'ERROR'),
    [],
    'flow-mods accepted',
  );

  // Pushed as the flow-mods commit: already queued for the client, no time has to pass.
  const fe = await next((m) => m.topic === 'flow' && m.op === 'add' && m.cookie === '0x15');
  t.match(fe, {
    bridge: 'br0',
    table: 0,
    priority: 10,
    match: 'ip',
    actions: 'meter:7,output:1',
  });
  await next((m) => m.topic === 'flow' && m.op === 'add' && m.cookie === '0x20');
  // A modify of the instructions.
  send({
    ...flowMod(
      0x20n,
      1,
      5,
      [],
      [{ type: 'APPLY_ACTIONS', actions: [{ type: 'GROUP', groupId: 3 }] }],
    ),
    command: 1,
  } as OfpMessage);
  t.match(await next((m) => m.topic === 'flow' && m.op === 'modify'), {
    cookie: '0x20',
    actions: 'group:3',
  });
  // A packet-in (a packet-out to CONTROLLER through the bridge's translator) is an event too.
  const xl = bridge.reconciler!.xlateOf('br0')!;
  const frame = new Uint8Array(60);
  frame.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x08, 0x06]);
  xl.packetOut(conn, {
    type: 'PACKET_OUT',
    xid: 9,
    bufferId: 0xffffffff,
    inPort: OFPP.CONTROLLER,
    actions: [{ type: 'OUTPUT', port: OFPP.CONTROLLER, maxLen: 0xffff }],
    data: frame,
  });
  t.match(await next((m) => m.topic === 'packet-in'), {
    bridge: 'br0',
    reason: 'action',
    table: 0,
    length: 60,
    head: Buffer.from(frame).toString('hex'),
  });
  // A failed flow-mod (unknown meter) changes nothing and reports nothing.
  const nFlowEvents = msgs.filter((m) => m.topic === 'flow').length;
  let refused: unknown;
  try {
    send(
      flowMod(
        0x99n,
        2,
        1,
        [],
        [
          { type: 'METER', meterId: 99 },
          { type: 'APPLY_ACTIONS', actions: [] },
        ],
      ),
    );
  } catch (e) {
    refused = e;
  }
  t.match(refused, { symbol: 'OFPMMFC_INVALID_METER' }, 'the bad flow-mod is refused');

  r = await app.inject({ method: 'GET', url: '/api/bridges/br0/flows' });
  t.same(
    r
      .json<{ table: number; cookie: string; match: string; actions: string }[]>()
      .map((f) => [f.table, f.cookie, f.match, f.actions]),
    [
      [0, '0x15', 'ip', 'meter:7,output:1'],
      [1, '0x20', '', 'group:3'],
    ],
  );
  r = await app.inject({ method: 'GET', url: '/api/bridges/br0/flows?table=1' });
  t.same(
    r.json<{ cookie: string }[]>().map((f) => f.cookie),
    ['0x20'],
  );
  r = await app.inject({ method: 'GET', url: '/api/bridges/br0/flows?cookie=0x10/0xf0' });
  t.same(
    r.json<{ cookie: string }[]>().map((f) => f.cookie),
    ['0x15'],
  );
  r = await app.inject({ method: 'GET', url: '/api/bridges/br0/groups' });
  t.same(r.json(), [
    {
      groupId: 3,
      type: 'select',
      buckets: ['weight:50,actions=output:2'],
      packets: 0,
      bytes: 0,
      refCount: 1,
    },
  ]);
  r = await app.inject({ method: 'GET', url: '/api/bridges/br0/meters' });
  t.same(r.json(), [
    {
      meterId: 7,
      flags: ['kbps', 'burst'],
      bands: [{ type: 'drop', rate: 1000, burstSize: 10 }],
      packetsIn: 0,
      bytesIn: 0,
      flowCount: 1,
    },
  ]);

  // Removing a flow: a remove event.
  send({ ...flowMod(0x20n, 1, 5, [], []), command: 4 } as OfpMessage);
  t.match(await next((m) => m.topic === 'flow' && m.op === 'remove'), { cookie: '0x20', table: 1 });
  t.same(
    msgs
      .filter((m) => m.topic === 'flow')
      .slice(nFlowEvents)
      .map((m) => [m.op, m.cookie]),
    [['remove', '0x20']],
    'the refused flow-mod produced no event',
  );

  // Tables, STP, BFD and the topology.
  r = await app.inject({ method: 'GET', url: '/api/bridges/br0/tables' });
  t.equal(r.statusCode, 200);
  t.match(r.json(), [{ table: 0, count: 1 }]);
  r = await app.inject({ method: 'GET', url: '/api/bridges/br0/stp' });
  t.equal(r.statusCode, 200);
  t.match(r.json(), { bridge: 'br0', enabled: false, ports: Array });
  t.same(
    r.json<{ ports: { name: string }[] }>().ports.map((p) => p.name),
    ['br0', 'p1', 'p2'],
  );
  r = await app.inject({ method: 'GET', url: '/api/bridges/br9/stp' });
  t.equal(r.statusCode, 404);
  r = await app.inject({ method: 'GET', url: '/api/interfaces/p1/bfd' });
  t.match(r.json(), { interface: 'p1', bridge: 'br0', enabled: false });
  r = await app.inject({ method: 'GET', url: '/api/interfaces/p9/bfd' });
  t.equal(r.json().type, 'https://tsvswitch.dev/problems/unknown-interface');
  r = await app.inject({ method: 'GET', url: '/api/bfd' });
  t.same(r.json(), []);
  r = await app.inject({ method: 'GET', url: '/api/topology' });
  t.equal(r.statusCode, 404);
  const topo = {
    prefix: 'tapi',
    hosts: [
      {
        name: 'h1',
        netns: 'tapih1',
        ip: '10.0.0.1',
        mac: '00:00:00:00:00:01',
        switch: 'br0',
        port: 1,
      },
    ],
    switches: [{ name: 'br0' }],
    links: [{ a: 'h1', b: 'br0', aIface: 'h1-eth0', bIface: 'p1', up: true }],
  };
  writeFileSync(join(paths.rundir, 'topo.json'), JSON.stringify(topo));
  r = await app.inject({ method: 'GET', url: '/api/topology' });
  t.same(r.json(), topo);
  rmSync(join(paths.rundir, 'topo.json'));
  r = await app.inject({ method: 'GET', url: '/api/topology' });
  t.equal(r.statusCode, 404, 'gone with the file');

  // Features served through appctl commands, when the daemon has them.
  r = await app.inject({
    method: 'POST',
    url: '/api/bridges/br0/trace',
    payload: { flow: 'in_port=1,ip' },
  });
  if (daemon.registry.get('ofproto/trace')) {
    t.equal(r.statusCode, 200);
    t.match(r.json().output, /Datapath actions:/);
  } else {
    t.equal(r.statusCode, 404);
    t.equal(r.json().type, 'https://tsvswitch.dev/problems/command-unavailable');
  }
  r = await app.inject({ method: 'GET', url: '/api/bridges/br0/fdb' });
  t.equal(r.statusCode, daemon.registry.get('fdb/show') ? 200 : 404);

  // appctl through REST: the daemon's own commands.
  r = await app.inject({ method: 'GET', url: '/api/appctl' });
  t.ok(r.json<{ name: string }[]>().some((c) => c.name === 'ovsdb-server/list-dbs'));
  r = await app.inject({ method: 'POST', url: '/api/appctl/version', payload: {} });
  t.equal(r.json().output, `tsvs (tsvswitch) ${daemon.version}\n`);
  r = await app.inject({
    method: 'POST',
    url: '/api/appctl/coverage/read-counter',
    payload: { args: ['bridge_reconfigure'] },
  });
  t.match(r.json().output, /^\d+\n$/);

  // Metrics carry the daemon's counters, ports, flows and OVSDB figures.
  r = await app.inject({ method: 'GET', url: '/metrics' });
  t.match(r.body, /^tsvs_bridge_reconfigure_total [1-9]\d*$/m);
  t.match(r.body, /^tsvs_ofproto_flow_mod_total [1-9]\d*$/m);
  t.match(r.body, /^tsvs_port_rx_packets\{bridge="br0",port="p1"\} 0$/m);
  t.match(r.body, /^tsvs_flows\{bridge="br0",table="0"\} 1$/m);
  t.match(r.body, /^tsvs_ovsdb_commits_total [1-9]\d*$/m);
  t.match(r.body, /^tsvs_ovsdb_sessions 0$/m);
  t.match(r.body, /^tsvs_api_event_clients 1$/m);
  t.match(r.body, /^tsvs_datapath_misses_total\{datapath="ovs-netdev"\} \d+$/m);
  t.match(r.body, /^tsvs_datapath_megaflows\{datapath="ovs-netdev"\} \d+$/m);
  t.match(r.body, /^tsvs_table_lookups_total\{bridge="br0",table="0"\} \d+$/m);

  // Deleting the bridge.
  const brUuid = [...db.rows('Bridge').keys()][0]!;
  db.transact([
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [['_uuid', '==', ['uuid', ovsUuid]]],
      mutations: [['bridges', 'delete', ['set', [['uuid', brUuid]]]]],
    },
  ]);
  await bridge.reconciler!.idle();
  await next((m) => m.topic === 'ovsdb' && m.table === 'Bridge' && m.op === 'delete');
  t.match(await next((m) => m.topic === 'port' && m.port === 'p1' && m.op === 'delete'), {
    bridge: 'br0',
  });
  t.match(await next((m) => m.topic === 'flow' && m.op === 'remove' && m.cookie === '0x15'), {
    bridge: 'br0',
  });
  r = await app.inject({ method: 'GET', url: '/api/bridges/br0' });
  t.equal(r.statusCode, 404);
});

t.test('STP events from the running STP module, on the stream and in REST', async (t) => {
  const clock = new FakeClock();
  const components = standardComponents({ inMemory: true });
  const [ovsdb, bridge] = components as [OvsdbComponent, BridgeComponent];
  const api = apiComponent(components, { host: '127.0.0.1', port: 0 });
  await startDaemonInProcess({ t, clock, components: [...components, api] });
  const db = ovsdb.running!.db;
  const ws = new WebSocket(`${api.url!.replace('http', 'ws')}/events?topics=stp&bridges=tapistp`);
  t.teardown(() => ws.terminate());
  const msgs: Record<string, unknown>[] = [];
  ws.on('message', (d) =>
    msgs.push(JSON.parse((d as Buffer).toString('utf8')) as Record<string, unknown>),
  );
  await new Promise((r) => ws.once('open', r));
  const until = async (pred: (m: Record<string, unknown>) => boolean, what: string) => {
    for (let i = 0; i < 400; i++) {
      const m = msgs.find(pred);
      if (m) return m;
      clock.advance(250);
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`no ${what}; got ${JSON.stringify(msgs)}`);
  };
  await until((m) => m.type === 'hello', 'hello');

  const ovsUuid = [...db.rows('Open_vSwitch').keys()][0]!;
  const out = db.transact(
    addBridgeOps(ovsUuid, 'tapistp', ['tapis1', 'tapis2'], {
      portType: 'dummy',
      bridge: { stp_enable: true },
    }),
  );
  t.equal(out.status, 'done');
  await bridge.reconciler!.idle();
  const br = await until(
    (m) => m.topic === 'stp' && m.scope === 'bridge' && typeof m.bridgeId === 'string',
    'bridge STP event with a bridge id',
  );
  t.match(br, { bridge: 'tapistp', enabled: true, designatedRoot: String });
  const p = await until(
    (m) => m.topic === 'stp' && m.scope === 'port' && m.port === 'tapis1',
    'port STP event',
  );
  t.match(p, { bridge: 'tapistp', state: String, portId: String });
  // Alone on its segment the port ends forwarding after listening and learning.
  t.match(
    await until(
      (m) => m.topic === 'stp' && m.port === 'tapis1' && m.state === 'forwarding',
      'forwarding',
    ),
    { oldState: 'learning', role: 'designated' },
  );
  const r = await api.server!.app.inject({ method: 'GET', url: '/api/bridges/tapistp/stp' });
  t.match(r.json(), {
    bridge: 'tapistp',
    enabled: true,
    isRoot: true,
    rootPathCost: 0,
    ports: [
      { name: 'tapis1', state: 'forwarding', role: 'designated' },
      { name: 'tapis2', state: 'forwarding', role: 'designated' },
      { name: 'tapistp' },
    ],
  });
  t.notOk(
    msgs.some((m) => m.topic !== 'stp' && m.topic !== 'meta'),
    'only the topic asked for',
  );
});

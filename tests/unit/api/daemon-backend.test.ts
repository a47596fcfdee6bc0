/**
 * vswitchd/api-backend.ts's DaemonApiBackend over a bare Open_vSwitch database (no reconciler,
 * so nothing else writes the status columns): BFD and STP read from Interface.bfd/bfd_status,
 * Bridge.stp_enable/status/other_config and Port.status/statistics/other_config, the `bfd` and
 * `stp` events their changes produce (and the changes that are not events), topo.json, and the
 * whole path through the API server's routes and a ws client.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { AppctlRegistry } from '../../../appctl/registry.js';
import type { ApiEvent } from '../../../api/events.js';
import { createApiServer } from '../../../api/server.js';
import { FakeClock } from '../../../lib/clock.js';
import type { Json } from '../../../lib/json.js';
import { Database } from '../../../ovsdb/database.js';
import { vswitchDbSchema } from '../../../ovsdb/schema.js';
import { DaemonApiBackend } from '../../../vswitchd/api-backend.js';
import { FAKE_TOPO } from './fake-backend.js';

function setup(t: Test) {
  const db = new Database(vswitchDbSchema());
  const dir = mkdtempSync(join(tmpdir(), 'tapi-backend-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const transact = (ops: Json[]): void => {
    const r = db.transact(ops);
    if (r.status !== 'done' || r.result.some((x) => x && typeof x === 'object' && 'error' in x))
      throw new Error(`transaction failed: ${JSON.stringify(r)}`);
  };
  transact([{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
  const ovs = [...db.rows('Open_vSwitch').keys()][0]!;
  const iface = (p: string, extra: Record<string, Json> = {}): Json[] => [
    { op: 'insert', table: 'Interface', row: { name: p, ...extra }, 'uuid-name': `i_${p}` },
    {
      op: 'insert',
      table: 'Port',
      row: { name: p, interfaces: ['named-uuid', `i_${p}`] },
      'uuid-name': `p_${p}`,
    },
  ];
  transact([
    ...iface('tapi0'),
    ...iface('tapi1', {
      bfd: [
        'map',
        [
          ['enable', 'true'],
          ['min_tx', '100'],
        ],
      ],
    }),
    ...iface('tapi2'),
    {
      op: 'insert',
      table: 'Bridge',
      row: {
        name: 'tapibr',
        ports: ['set', ['tapi0', 'tapi1'].map((p) => ['named-uuid', `p_${p}`])],
        other_config: [
          'map',
          [
            ['stp-priority', '4096'],
            ['hwaddr', '02:00:00:00:00:01'],
          ],
        ],
      },
      'uuid-name': 'br',
    },
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [['_uuid', '==', ['uuid', ovs]]],
      mutations: [['bridges', 'insert', ['set', [['named-uuid', 'br']]]]],
    },
  ]);
  const backend = new DaemonApiBackend({
    appctl: new AppctlRegistry(),
    db: () => db,
    bridges: () => new Map(),
    clock: new FakeClock(),
    rundir: dir,
  });
  const events: ApiEvent[] = [];
  const wanted = new Set<string>(['bfd', 'stp']);
  const off = backend.subscribe(
    (e) => events.push(e),
    (topic) => wanted.has(topic),
  );
  t.teardown(off);
  const update = (table: string, name: string, row: Record<string, Json>): void =>
    transact([{ op: 'update', table, where: [['name', '==', name]], row }]);
  return { db, dir, backend, events, wanted, transact, update };
}

const map = (m: Record<string, string>): Json => ['map', Object.entries(m)];

t.test('BFD: read from Interface.bfd/bfd_status; events on change only', async (t) => {
  const { backend, events, update, transact } = setup(t);
  t.same(
    backend.listBfd().map((b) => [b.interface, b.bridge, b.enabled, b.state]),
    [['tapi1', 'tapibr', true, undefined]],
    'configured but no status yet',
  );
  t.same(backend.getBfd('tapi0'), {
    interface: 'tapi0',
    bridge: 'tapibr',
    enabled: false,
    config: {},
    status: {},
  });
  t.equal(backend.getBfd('tapi2'), undefined, 'an interface no bridge holds is gone');
  t.equal(backend.getBfd('nope'), undefined);

  update('Interface', 'tapi1', {
    bfd_status: map({
      state: 'down',
      forwarding: 'false',
      diagnostic: 'No Diagnostic',
      remote_state: 'down',
      remote_diagnostic: 'No Diagnostic',
      flap_count: '0',
    }),
  });
  update('Interface', 'tapi1', {
    bfd_status: map({
      state: 'up',
      forwarding: 'true',
      diagnostic: 'No Diagnostic',
      remote_state: 'up',
      remote_diagnostic: 'No Diagnostic',
      flap_count: '1',
    }),
  });
  update('Interface', 'tapi0', { mtu_request: 1400 });
  t.same(events, [
    {
      topic: 'bfd',
      interface: 'tapi1',
      bridge: 'tapibr',
      op: 'modify',
      enabled: true,
      state: 'down',
      forwarding: false,
      diagnostic: 'No Diagnostic',
      remoteState: 'down',
      remoteDiagnostic: 'No Diagnostic',
      flapCount: 0,
    },
    {
      topic: 'bfd',
      interface: 'tapi1',
      bridge: 'tapibr',
      op: 'modify',
      enabled: true,
      state: 'up',
      oldState: 'down',
      forwarding: true,
      diagnostic: 'No Diagnostic',
      remoteState: 'up',
      remoteDiagnostic: 'No Diagnostic',
      flapCount: 1,
    },
  ]);
  t.match(backend.getBfd('tapi1'), {
    state: 'up',
    forwarding: true,
    flapCount: 1,
    config: { enable: 'true', min_tx: '100' },
    status: { remote_state: 'up' },
  });
  events.length = 0;
  update('Interface', 'tapi0', { bfd: map({ enable: 'true' }) });
  t.match(events, [{ interface: 'tapi0', op: 'add', enabled: true }]);
  events.length = 0;
  update('Interface', 'tapi1', { bfd: map({}), bfd_status: map({}) });
  t.same(events, [
    {
      topic: 'bfd',
      interface: 'tapi1',
      bridge: 'tapibr',
      op: 'delete',
      enabled: false,
      oldState: 'up',
    },
  ]);
  events.length = 0;
  // Deleting the interface (with its port) reports the end of its BFD session.
  const brUuid = [...backend['opts'].db()!.rows('Bridge').keys()][0]!;
  const p0 = [...backend['opts'].db()!.rows('Port').values()].find(
    (r) => r.data.name!.keys[0] === 'tapi0',
  )!;
  transact([
    {
      op: 'mutate',
      table: 'Bridge',
      where: [['_uuid', '==', ['uuid', brUuid]]],
      mutations: [['ports', 'delete', ['set', [['uuid', p0.uuid]]]]],
    },
  ]);
  t.match(events, [{ topic: 'bfd', interface: 'tapi0', bridge: 'tapibr', op: 'delete' }]);
});

t.test('STP: read from Bridge and Port rows; events on state changes only', async (t) => {
  const { backend, events, update, wanted } = setup(t);
  t.same(backend.getStp('tapibr'), {
    bridge: 'tapibr',
    enabled: false,
    config: { 'stp-priority': '4096' },
    ports: [
      { name: 'tapi0', config: {} },
      { name: 'tapi1', config: {} },
    ],
  });
  t.equal(backend.getStp('nope'), undefined);
  update('Bridge', 'tapibr', { stp_enable: true });
  update('Bridge', 'tapibr', {
    status: map({
      stp_bridge_id: '1000.020000000001',
      stp_designated_root: '1000.020000000001',
      stp_root_path_cost: '0',
    }),
  });
  update('Port', 'tapi0', {
    other_config: map({ 'stp-path-cost': '19', other: 'x' }),
    status: map({
      stp_port_id: '8001',
      stp_state: 'listening',
      stp_sec_in_state: '0',
      stp_role: 'designated',
    }),
  });
  // Only the time in state: not an event.
  update('Port', 'tapi0', {
    status: map({
      stp_port_id: '8001',
      stp_state: 'listening',
      stp_sec_in_state: '5',
      stp_role: 'designated',
    }),
    statistics: [
      'map',
      [
        ['stp_tx_count', 3],
        ['stp_rx_count', 0],
        ['stp_error_count', 0],
      ],
    ],
  });
  update('Port', 'tapi0', {
    status: map({
      stp_port_id: '8001',
      stp_state: 'learning',
      stp_sec_in_state: '0',
      stp_role: 'designated',
    }),
  });
  t.same(events, [
    { topic: 'stp', scope: 'bridge', bridge: 'tapibr', enabled: true },
    {
      topic: 'stp',
      scope: 'bridge',
      bridge: 'tapibr',
      enabled: true,
      bridgeId: '1000.020000000001',
      designatedRoot: '1000.020000000001',
      rootPathCost: 0,
    },
    {
      topic: 'stp',
      scope: 'port',
      bridge: 'tapibr',
      port: 'tapi0',
      portId: '8001',
      state: 'listening',
      role: 'designated',
    },
    {
      topic: 'stp',
      scope: 'port',
      bridge: 'tapibr',
      port: 'tapi0',
      portId: '8001',
      state: 'learning',
      oldState: 'listening',
      role: 'designated',
    },
  ]);
  t.same(backend.getStp('tapibr'), {
    bridge: 'tapibr',
    enabled: true,
    bridgeId: '1000.020000000001',
    designatedRoot: '1000.020000000001',
    rootPathCost: 0,
    isRoot: true,
    config: { 'stp-priority': '4096' },
    ports: [
      {
        name: 'tapi0',
        portId: '8001',
        state: 'learning',
        secInState: 0,
        role: 'designated',
        txCount: 3,
        rxCount: 0,
        errorCount: 0,
        config: { 'stp-path-cost': '19' },
      },
      { name: 'tapi1', config: {} },
    ],
  });
  t.equal(backend.listStp().length, 1);
  events.length = 0;
  wanted.clear();
  update('Port', 'tapi0', { status: map({ stp_state: 'forwarding' }) });
  t.same(events, [], 'nothing while no client wants stp');
});

t.test('topology: topo.json in the run directory', async (t) => {
  const { backend, dir } = setup(t);
  t.equal(backend.topology(), undefined, 'no file, no topology');
  writeFileSync(join(dir, 'topo.json'), JSON.stringify(FAKE_TOPO));
  t.same(backend.topology(), FAKE_TOPO);
  writeFileSync(join(dir, 'topo.json'), '{"prefix":');
  t.throws(() => backend.topology(), SyntaxError);
  const none = new DaemonApiBackend({
    appctl: new AppctlRegistry(),
    db: () => undefined,
    bridges: () => undefined,
    clock: new FakeClock(),
  });
  t.equal(none.topology(), undefined, 'no run directory, no topology');
  t.same(none.listBfd(), []);
  t.same(none.listStp(), []);
  t.equal(none.getBfd('x'), undefined);
  t.same(none.datapathStats(), []);
});

t.test('through the server: routes and a ws client filtered to stp', async (t) => {
  const { backend, update, dir } = setup(t);
  const api = await createApiServer({ backend, defaultMetrics: false });
  t.teardown(() => api.close());
  const base = await api.listen({ host: '127.0.0.1', port: 0 });
  let r = await api.app.inject({ method: 'GET', url: '/api/bridges/tapibr/stp' });
  t.equal(r.statusCode, 200);
  t.equal(r.json().config['stp-priority'], '4096');
  r = await api.app.inject({ method: 'GET', url: '/api/interfaces/tapi1/bfd' });
  t.equal(r.json().enabled, true);
  r = await api.app.inject({ method: 'GET', url: '/api/topology' });
  t.equal(r.statusCode, 404);
  writeFileSync(join(dir, 'topo.json'), JSON.stringify(FAKE_TOPO));
  r = await api.app.inject({ method: 'GET', url: '/api/topology' });
  t.same(r.json(), FAKE_TOPO);

  const ws = new WebSocket(`${base.replace('http', 'ws')}/events?topics=stp&bridges=tapibr`);
  t.teardown(() => ws.terminate());
  const msgs: Record<string, unknown>[] = [];
  const got = new Promise<Record<string, unknown>>((res) =>
    ws.on('message', (d) => {
      const m = JSON.parse((d as Buffer).toString('utf8')) as Record<string, unknown>;
      msgs.push(m);
      if (m.topic === 'stp') res(m);
    }),
  );
  await new Promise((res) => ws.once('open', res));
  for (let i = 0; i < 200 && !msgs.some((m) => m.type === 'hello'); i++)
    await new Promise((res) => setTimeout(res, 5));
  update('Interface', 'tapi1', { bfd_status: map({ state: 'up' }) });
  update('Port', 'tapi1', { status: map({ stp_state: 'blocking', stp_role: 'alternate' }) });
  t.match(await got, { seq: 1, topic: 'stp', scope: 'port', port: 'tapi1', state: 'blocking' });
  t.notOk(
    msgs.some((m) => m.topic === 'bfd' || m.topic === 'ovsdb'),
    'other topics filtered out',
  );
});

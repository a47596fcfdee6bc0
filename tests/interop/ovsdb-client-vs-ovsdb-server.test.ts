/**
 * Differential test: Debian's ovsdb-server 3.1 and our server, side by side in temp dirs, get the
 * same raw JSON-RPC requests and the same ovs-vsctl commands; request-level replies and the
 * monitor notifications (`update`, `update2` with a condition, `update3`) must be identical once
 * row uuids are masked and rows within a table are put in a canonical order.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { JsonFramer } from '../../lib/framer-json.js';
import { stringifyJson, type Json } from '../../lib/json.js';
import { jsonToSortedString } from '../../ovsdb/datum.js';
import { makeTempDir } from '../helpers/daemon.js';
import { peerPath, requirePeer } from '../helpers/peers.js';
import { runTool } from '../helpers/tools.js';
import { startTestOvsdb } from './fixtures/ovsdb-fixture.js';

type Obj = { [k: string]: Json };
function isObj(j: Json | undefined): j is Obj {
  return typeof j === 'object' && j !== null && !Array.isArray(j);
}

const UUID_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** A raw connection recording every message. */
class Raw {
  readonly msgs: Obj[] = [];
  private readonly framer = new JsonFramer();
  private readonly sock: net.Socket;
  constructor(path: string) {
    this.sock = net.connect(path);
    this.sock.on('data', (c) => {
      for (const m of this.framer.push(c)) this.msgs.push(m as Obj);
    });
  }
  send(m: Json): void {
    this.sock.write(stringifyJson(m));
  }
  async reply(id: Json): Promise<Obj> {
    for (let i = 0; i < 1000; i++) {
      const m = this.msgs.find(
        (x) => stringifyJson(x.id ?? null) === stringifyJson(id) && ('result' in x || 'error' in x),
      );
      if (m) return m;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`no reply to ${stringifyJson(id)}`);
  }
  close(): void {
    this.sock.destroy();
  }
}

/** Masks uuids and orders the rows of every table-updates object canonically. */
function canon(m: Obj, method?: string): string {
  const fixUpdates = (u: Json): Json => {
    if (u === null || typeof u !== 'object' || Array.isArray(u)) return u;
    const out: Obj = {};
    for (const [table, rows] of Object.entries(u)) {
      const list = Object.values(rows as Obj).map((r) =>
        jsonToSortedString(r).replace(UUID_RE, 'U'),
      );
      out[table] = list.sort();
    }
    return out;
  };
  const c: Obj = { ...m };
  if (m.method === 'update' || m.method === 'update2')
    c.params = [(m.params as Json[])[0]!, fixUpdates((m.params as Json[])[1]!)];
  if (method === 'monitor' || method === 'monitor_cond') c.result = fixUpdates(m.result ?? null);
  if (method === 'monitor_cond_since' && Array.isArray(m.result)) {
    c.result = [m.result[0]!, m.result[1]!, fixUpdates(m.result[2]!)];
  }
  // Our _Server.ovsschema carries our own checksum (schemas/ is not this suite's business).
  if (method === 'get_schema' && isObj(c.result)) c.result = { ...c.result, cksum: 'masked' };
  if (m.method === 'update3')
    c.params = [
      (m.params as Json[])[0]!,
      (m.params as Json[])[1]!,
      fixUpdates((m.params as Json[])[2]!),
    ];
  return jsonToSortedString(c).replace(UUID_RE, 'U');
}

async function startReference(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = makeTempDir('tsvs-ref-ovsdb-');
  const db = join(dir, 'conf.db');
  const sock = join(dir, 'db.sock');
  const tool = await runTool(peerPath('ovsdb-tool')!, [
    'create',
    db,
    '/usr/share/openvswitch/vswitch.ovsschema',
  ]);
  if (tool.code !== 0) throw new Error(tool.stderr);
  const child = spawn(
    peerPath('ovsdb-server')!,
    [db, `--remote=punix:${sock}`, `--unixctl=${join(dir, 'ctl')}`, '--no-chdir'],
    {
      stdio: 'ignore',
    },
  );
  t.teardown(() => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  for (let i = 0; i < 500; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(sock);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (up) return sock;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('reference ovsdb-server did not start');
}

const REQUESTS: [string, Json][] = [
  ['list_dbs', [1, 2]],
  ['get_schema', []],
  ['get_schema', ['nope']],
  ['frob', []],
  ['echo', [1, { a: [2, 'x'] }]],
  ['set_db_change_aware', [1]],
  ['set_db_change_aware', [false]],
  ['monitor_cond', ['Open_vSwitch']],
  ['monitor_cond_since', ['Open_vSwitch', 1, {}, 'x']],
  ['monitor', ['Open_vSwitch', 1, { Nope: {} }]],
  ['monitor', ['Open_vSwitch', 1, { Bridge: { columns: ['zz'] } }]],
  ['monitor', ['Open_vSwitch', 1, { Bridge: [{ columns: ['name'], where: [] }] }]],
  [
    'monitor_cond',
    ['Open_vSwitch', 1, { Bridge: [{ columns: ['name'] }, { columns: ['name', 'ports'] }] }],
  ],
  ['monitor_cancel', [5]],
  ['monitor_cond_change', [5, 6, {}]],
  ['monitor', ['Open_vSwitch', 'x', { Open_vSwitch: { columns: ['cur_cfg', 'bridges'] } }]],
  ['monitor', ['Open_vSwitch', 'x', { Open_vSwitch: {} }]],
  ['monitor_cond_change', ['x', 'x', { Open_vSwitch: [{ columns: ['cur_cfg'], where: [] }] }]],
  ['monitor_cancel', ['x']],
  ['transact', []],
  ['transact', ['nope']],
  ['transact', ['Open_vSwitch']],
  ['monitor', ['nope', 1, {}]],
  ['lock', ['a']],
  ['lock', ['a']],
  ['steal', ['a']],
  ['unlock', ['b']],
  ['lock', ['1a']],
  ['lock', []],
  ['unlock', ['a']],
  [
    'transact',
    ['_Server', { op: 'insert', table: 'Database', row: { name: 'x', model: 'standalone' } }],
  ],
  [
    'monitor',
    [
      '_Server',
      'srv',
      { Database: { columns: ['name', 'model', 'connected', 'leader', 'sid', 'cid', 'index'] } },
    ],
  ],
  [
    'monitor_cond',
    [
      '_Server',
      'srv2',
      { Database: [{ columns: ['name', 'connected'], where: [['name', '==', '_Server']] }] },
    ],
  ],
  [
    'monitor_cond_change',
    ['srv2', 'srv3', { Database: [{ where: [['name', '==', 'Open_vSwitch']] }] }],
  ],
  ['monitor_cond_change', ['srv3', 'srv', {}]],
  ['monitor_cond_change', ['srv', 'srv4', {}]],
  ['monitor_cancel', ['srv4']],
  ['monitor_cancel', []],
  ['monitor_cond', ['Open_vSwitch', 'cc', { Bridge: [{ columns: ['name'] }] }]],
  ['monitor_cond_change', ['cc', 'cc', []]],
  ['monitor_cond_change', ['cc', 'cc', { Port: [{ where: [] }] }]],
  ['monitor_cond_change', ['cc', 'cc', { Nope: [{ where: [] }] }]],
  ['monitor_cond_change', ['cc', 'cc', { Bridge: 7 }]],
  ['monitor_cond_change', ['cc', 'cc', { Bridge: [7] }]],
  ['monitor_cond_change', ['cc', 'cc', { Bridge: [{ where: [['x', '==', 1]] }] }]],
  ['monitor_cond_change', ['cc', 'cc', { Bridge: [{ frob: 1 }] }]],
  ['monitor_cond_change', ['cc', 'cc']],
  ['monitor', ['Open_vSwitch', 'v1c', { Bridge: { columns: ['name'] } }]],
  ['monitor_cond_change', ['v1c', 'v1c', { Bridge: [{ where: [['name', '==', 'x']] }] }]],
  ['monitor', ['Open_vSwitch', 'k2', { Open_vSwitch: { select: { initial: 1 } } }]],
  ['monitor', ['Open_vSwitch', 'k3', { Open_vSwitch: { select: [] } }]],
  ['monitor', ['Open_vSwitch', 'k7', { Open_vSwitch: { columns: [1] } }]],
  [
    'monitor_cond',
    [
      'Open_vSwitch',
      'f',
      {
        Open_vSwitch: [{ where: [false] }],
        Bridge: [{ where: [true], select: { initial: false } }],
      },
    ],
  ],
  [
    'monitor_cond',
    [
      'Open_vSwitch',
      'g',
      { Open_vSwitch: [{ columns: [], select: { initial: true, insert: false } }] },
    ],
  ],
  [
    'monitor',
    ['Open_vSwitch', 'h', { Open_vSwitch: { columns: ['next_cfg'], select: { bogus: true } } }],
  ],
  ['monitor', ['Open_vSwitch', 'i', { Open_vSwitch: [] }]],
  ['monitor', ['Open_vSwitch', 'j', { Open_vSwitch: 7 }]],
  ['monitor', ['Open_vSwitch', 'k', []]],
  [
    'monitor_cond_since',
    [
      'Open_vSwitch',
      'l',
      { Open_vSwitch: [{ columns: ['cur_cfg', '_version', '_uuid'] }] },
      'ffffffff-0000-0000-0000-000000000000',
    ],
  ],
  ['monitor_cond', ['Open_vSwitch', 'm', { Bridge: [{ where: [['nope', '==', 1]] }] }]],
  ['monitor_cond', ['Open_vSwitch', 'n', { Bridge: [{ where: [['name', '~', 'x']] }] }]],
  [
    'transact',
    [
      'Open_vSwitch',
      {
        op: 'wait',
        table: 'Open_vSwitch',
        where: [],
        columns: ['cur_cfg'],
        until: '==',
        rows: [{ cur_cfg: 5 }],
        timeout: 0,
      },
    ],
  ],
  [
    'transact',
    [
      'Open_vSwitch',
      { op: 'select', table: 'Open_vSwitch', where: [], columns: ['cur_cfg', 'next_cfg'] },
    ],
  ],
  ['steal', ['c']],
  ['steal', ['c']],
  ['lock', ['c']],
  ['unlock', ['c']],
  ['unlock', ['c']],
  ['echo', []],
  ['get_schema', ['_Server', 'extra', 1]],
];

void t.test('request-level replies match ovsdb-server 3.1', async (t) => {
  if (!requirePeer(t, 'ovsdb-server', 'ovsdb-tool')) return;
  const refSock = await startReference(t);
  const ours = await startTestOvsdb(t);
  const a = new Raw(refSock);
  const b = new Raw(ours.sock);
  t.teardown(() => {
    a.close();
    b.close();
  });
  for (let i = 0; i < REQUESTS.length; i++) {
    const [method, params] = REQUESTS[i]!;
    a.send({ id: i, method, params });
    b.send({ id: i, method, params });
    const [ra, rb] = await Promise.all([a.reply(i), b.reply(i)]);
    t.equal(canon(rb, method), canon(ra, method), `${method} ${stringifyJson(params)}`);
  }
});

void t.test('monitor notifications for ovs-vsctl commands match ovsdb-server 3.1', async (t) => {
  if (!requirePeer(t, 'ovsdb-server', 'ovsdb-tool', 'ovs-vsctl')) return;
  const refSock = await startReference(t);
  const ours = await startTestOvsdb(t);
  const targets = [refSock, ours.sock];
  for (const sock of targets) {
    const r = await runTool(peerPath('ovs-vsctl')!, [`--db=unix:${sock}`, '--no-wait', 'init']);
    t.equal(r.code, 0, r.stderr);
  }
  const schema = (await (async () => {
    const c = new Raw(refSock);
    c.send({ id: 0, method: 'get_schema', params: ['Open_vSwitch'] });
    const r = await c.reply(0);
    c.close();
    return r.result;
  })()) as { tables: { [t: string]: { columns: Obj } } };
  const all = (v1: boolean): Obj => {
    const o: Obj = {};
    for (const [name, tbl] of Object.entries(schema.tables)) {
      const req = { columns: Object.keys(tbl.columns).sort() };
      o[name] = v1 ? req : [req];
    }
    return o;
  };
  const clients = targets.map((sock) => {
    const c = new Raw(sock);
    c.send({ id: 1, method: 'monitor', params: ['Open_vSwitch', 'v1', all(true)] });
    c.send({
      id: 2,
      method: 'monitor_cond_since',
      params: ['Open_vSwitch', 'v3', all(false), '00000000-0000-0000-0000-000000000000'],
    });
    c.send({
      id: 3,
      method: 'monitor_cond',
      params: [
        'Open_vSwitch',
        'v2',
        {
          Bridge: [
            { columns: ['name', 'fail_mode', 'protocols'], where: [['fail_mode', '==', 'secure']] },
          ],
        },
      ],
    });
    return c;
  });
  t.teardown(() => clients.forEach((c) => c.close()));
  for (const c of clients) for (const id of [1, 2, 3]) await c.reply(id);
  const commands = [
    [
      'add-br',
      'br0',
      '--',
      'set',
      'bridge',
      'br0',
      'datapath_type=netdev',
      'protocols=OpenFlow13,OpenFlow14',
      'external_ids:a=1',
      'external_ids:b=2',
    ],
    ['add-port', 'br0', 'p1', '--', 'set', 'interface', 'p1', 'type=internal', 'ofport_request=5'],
    ['set', 'bridge', 'br0', 'protocols=OpenFlow13', 'external_ids:b=X', 'external_ids:c=3'],
    ['remove', 'bridge', 'br0', 'external_ids', 'a'],
    ['set', 'interface', 'p1', 'bfd:enable=true'],
    ['set', 'bridge', 'br0', 'fail_mode=secure'],
    ['set-controller', 'br0', 'tcp:127.0.0.1:6653'],
    ['clear', 'bridge', 'br0', 'fail_mode'],
    ['add-bond', 'br0', 'bond0', 'a', 'b'],
    ['del-port', 'br0', 'p1'],
    ['del-br', 'br0'],
  ];
  for (const cmd of commands) {
    const counts = clients.map((c) => c.msgs.length);
    for (const sock of targets) {
      const r = await runTool(peerPath('ovs-vsctl')!, [`--db=unix:${sock}`, '--no-wait', ...cmd]);
      t.equal(r.code, 0, r.stderr);
    }
    // Both servers have committed; give the notifications a moment to arrive.
    await new Promise((r) => setTimeout(r, 50));
    // Which of a session's monitors is flushed first is hash order in ovsdb-server: compare sets.
    const [ra, rb] = clients.map((c, i) =>
      c.msgs
        .slice(counts[i])
        .map((m) => canon(m))
        .sort(),
    );
    t.ok(ra!.length > 0, `${cmd.join(' ')}: reference sent updates`);
    t.same(rb, ra, cmd.join(' '));
  }
  // The initial replies too.
  const methods = ['monitor', 'monitor_cond_since', 'monitor_cond'];
  const initial = (c: Raw): string[] =>
    c.msgs.slice(0, 3).map((m) => canon(m, methods[(m.id as number) - 1]));
  t.same(initial(clients[1]!), initial(clients[0]!), 'initial replies');
});

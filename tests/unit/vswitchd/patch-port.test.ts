/**
 * Patch ports (Interface type=patch, options:peer) on the real reconciler, the userspace
 * datapath and dummy netdevs, on a fake clock, as OVS's userspace datapath does them: no
 * datapath port; an output to one continues the translation in the peer bridge's table 0 with
 * in_port = the peer port (ofproto/trace prints the peer's `bridge("NAME")` block), NORMAL
 * learns in each bridge's own MAC table, rules of both bridges are credited, packet-ins made in
 * the peer bridge go to the peer's listeners, a patch port without a peer drops silently, one
 * without options:peer gets OVS's Interface.error, and a patch loop ends at the depth limit.
 *
 * Topology: br0 = { p1 (dummy, 1), patch0 (patch peer=patch1, 2), patchm (patch peer=nothere,
 * 4), patchx (patch, no peer) }, br1 = { patch1 (patch peer=patch0, 1), p2 (dummy, 2) }.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import type { Json } from '../../../lib/json.js';
import { buildFrame } from '../../../lib/packet/build.js';
import { parseFlow } from '../../../lib/packet/format.js';
import { DpifNetdev } from '../../../datapath/dpif-netdev.js';
import { findDummy } from '../../../datapath/netdev-dummy.js';
import type { Action } from '../../../openflow/actions.js';
import { OFPG, OFPGT, OFPP } from '../../../openflow/constants.js';
import type { Match } from '../../../openflow/oxm.js';
import type { Ofconn } from '../../../ofproto/ofconn.js';
import type { Ofproto, PacketInInfo } from '../../../ofproto/ofproto.js';
import { traceCommand } from '../../../ofproto/trace.js';
import { Database } from '../../../ovsdb/database.js';
import { vswitchDbSchema } from '../../../ovsdb/schema.js';
import type { Row } from '../../../ovsdb/types.js';
import { BridgeReconciler } from '../../../vswitchd/bridge.js';
import { addFlowMod } from '../../helpers/flow-mod.js';

let seq = 0;
const conn = {} as Ofconn;

async function setup(t: Test) {
  const n = ++seq;
  const nm = (s: string): string => `tpp${n}${s}`;
  const dir = mkdtempSync(join(tmpdir(), 'tpp-unit-'));
  const clock = new FakeClock(1000);
  const db = new Database(vswitchDbSchema());
  db.transact([{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
  const dpif = new DpifNetdev({ clock });
  const rec = new BridgeReconciler({ db, clock, rundir: dir, dpif, deviceExists: () => true });
  await rec.start();
  dpif.start();
  t.teardown(async () => {
    await rec.stop();
    dpif.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const ovs = [...db.rows('Open_vSwitch').keys()][0]!;
  const iface = (tag: string, name: string, row: Record<string, Json>): Json[] => [
    {
      op: 'insert',
      table: 'Interface',
      row: { name, ...row },
      'uuid-name': `i${tag}`,
    },
    {
      op: 'insert',
      table: 'Port',
      row: { name, interfaces: ['named-uuid', `i${tag}`] },
      'uuid-name': `p${tag}`,
    },
  ];
  const peer = (p: string): Json => ['map', [['peer', p]]];
  const ports = (...tags: string[]): Json => ['set', tags.map((g) => ['named-uuid', `p${g}`])];
  const ops: Json[] = [
    ...iface('a', nm('p1'), { type: 'dummy', ofport_request: 1 }),
    ...iface('b', nm('patch0'), { type: 'patch', options: peer(nm('patch1')), ofport_request: 2 }),
    ...iface('c', nm('patchm'), { type: 'patch', options: peer(nm('nothere')), ofport_request: 4 }),
    ...iface('d', nm('patchx'), { type: 'patch' }),
    ...iface('e', nm('patch1'), { type: 'patch', options: peer(nm('patch0')), ofport_request: 1 }),
    ...iface('f', nm('p2'), { type: 'dummy', ofport_request: 2 }),
    {
      op: 'insert',
      table: 'Bridge',
      row: { name: nm('br0'), ports: ports('a', 'b', 'c', 'd') },
      'uuid-name': 'b0',
    },
    {
      op: 'insert',
      table: 'Bridge',
      row: { name: nm('br1'), ports: ports('e', 'f') },
      'uuid-name': 'b1',
    },
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [['_uuid', '==', ['uuid', ovs]]],
      mutations: [
        [
          'bridges',
          'insert',
          [
            'set',
            [
              ['named-uuid', 'b0'],
              ['named-uuid', 'b1'],
            ],
          ],
        ],
      ],
    },
  ];
  const r = db.transact(ops);
  t.equal(r.status, 'done');
  await rec.schedule();
  await rec.idle();
  const br0 = rec.bridges.get(nm('br0'))!.ofproto;
  const br1 = rec.bridges.get(nm('br1'))!.ofproto;
  const ifaceRow = (name: string): Row =>
    [...db.rows('Interface').values()].find((p) => p.data.name?.keys[0] === name)!;
  const col = (name: string, c: string): unknown => ifaceRow(name).data[c]?.keys[0];
  const trace = (bridge: string, flow: string): string =>
    traceCommand([bridge, flow], (b) => rec.xlateOf(b));
  const settle = async (ms: number): Promise<void> => {
    for (let i = 0; i < ms / 10; i++) {
      clock.advance(10);
      for (let k = 0; k < 4; k++) await new Promise((r) => setImmediate(r));
    }
    await rec.idle();
  };
  const d1 = findDummy(nm('p1'))!;
  const d2 = findDummy(nm('p2'))!;
  d1.setCaptureTx(true);
  d2.setCaptureTx(true);
  return { nm, db, rec, dpif, br0, br1, col, trace, settle, d1, d2 };
}

function addFlow(sw: Ofproto, match: Match, actions: Action[], priority = 32768): void {
  sw.tables.handleMessage(
    conn,
    addFlowMod(0, priority, match, [{ type: 'APPLY_ACTIONS', actions }]),
    new Uint8Array(),
  );
}

const out = (port: number): Action => ({ type: 'OUTPUT', port, maxLen: 0 });
const frameOf = (flow: string): Uint8Array => buildFrame(parseFlow(flow).key);
const A = '00:00:00:00:00:0a';
const B = '00:00:00:00:00:0b';

t.test('ports, errors and states of patch interfaces', async (t) => {
  const s = await setup(t);
  t.equal(s.col(s.nm('patch0'), 'ofport'), 2n);
  t.equal(s.col(s.nm('patch1'), 'ofport'), 1n);
  t.equal(s.br0.getPort(2)?.dpPort, undefined, 'no datapath port');
  t.equal(s.col(s.nm('patch0'), 'link_state'), 'up');
  t.equal(s.col(s.nm('patch0'), 'admin_state'), 'up');
  t.equal(s.col(s.nm('patchm'), 'link_state'), 'up', 'up without a peer too, as OVS');
  t.equal(
    s.col(s.nm('patchx'), 'error'),
    `${s.nm('patchx')}: patch type requires valid 'peer' argument`,
  );
  t.equal(s.col(s.nm('patchx'), 'ofport'), -1n);
  t.equal(s.br0.getPort(2)?.patchPeer?.()?.ofport, 1, 'patch0 pairs with patch1');
  t.equal(s.br0.getPort(4)?.patchPeer?.(), undefined, 'patchm has no peer');
});

t.test('ofproto/trace crosses into the peer bridge (fail-open NORMAL)', async (t) => {
  const s = await setup(t);
  const text = s.trace(s.nm('br0'), `in_port=${s.nm('p1')},dl_src=${A},dl_dst=${B}`);
  const lines = text.split('\n');
  const b1 = `bridge("${s.nm('br1')}")`;
  const i = lines.indexOf(`bridge("${s.nm('br0')}")`);
  t.same(
    lines.slice(i, i + 13),
    [
      `bridge("${s.nm('br0')}")`,
      '-'.repeat(b1.length),
      ' 0. priority 0',
      '    NORMAL',
      '     -> no learned MAC for destination, flooding',
      '',
      b1,
      '-'.repeat(b1.length),
      ' 0. priority 0',
      '    NORMAL',
      '     -> no learned MAC for destination, flooding',
      '',
      'Final flow: unchanged',
    ],
    text,
  );
  const dp2 = s.br1.getPort(2)!.dpPort!;
  t.match(text, new RegExp(`^Datapath actions: ${dp2}$`, 'm'), 'floods out of p2 only');
  t.match(text, /^Megaflow: recirc_id=0,eth,in_port=1,/m);
});

t.test(
  'explicit rules on both sides; a frame from p1 leaves p2; both rules credited',
  async (t) => {
    const s = await setup(t);
    addFlow(s.br0, [{ field: 'in_port', value: 1 }], [out(2)]);
    addFlow(
      s.br1,
      [{ field: 'in_port', value: 1 }],
      [{ type: 'SET_FIELD', field: 'eth_dst', value: 0x09 }, out(2)],
    );
    const text = s.trace(s.nm('br0'), `in_port=1,dl_src=${A},dl_dst=${B}`);
    const b1 = `bridge("${s.nm('br1')}")`;
    t.match(
      text,
      [
        ' 0. in_port=1, priority 32768',
        '    output:2',
        '',
        b1,
        '-'.repeat(b1.length),
        ' 0. in_port=1, priority 32768',
        '    set_field:00:00:00:00:00:09->eth_dst',
        '    output:2',
        '',
        'Final flow: unchanged',
      ].join('\n'),
    );
    const dp2 = s.br1.getPort(2)!.dpPort!;
    t.match(text, `\nDatapath actions: set(eth(dst=00:00:00:00:00:09)),${dp2}\n`);

    s.d1.receive(frameOf(`dl_src=${A},dl_dst=${B},dl_type=0x0800,nw_src=10.0.0.1,nw_dst=10.0.0.2`));
    await s.settle(50);
    const sent = s.d2.takeSent();
    t.equal(sent.length, 1, 'out of p2');
    t.equal(Buffer.from(sent[0]!.subarray(0, 6)).toString('hex'), '000000000009', 'rewritten');
    t.equal(s.d1.takeSent().length, 0);
    const credited = (sw: Ofproto): bigint =>
      [...sw.tables.allRules()]
        .filter((r) => r.priority === 32768)
        .reduce((a, r) => a + r.packetCount, 0n);
    t.equal(credited(s.br0), 1n, 'br0 rule credited');
    t.equal(credited(s.br1), 1n, 'br1 rule credited');
  },
);

t.test('NORMAL learns in each bridge across the pair', async (t) => {
  const s = await setup(t);
  const x0 = s.rec.xlateOf(s.nm('br0'))!;
  const x1 = s.rec.xlateOf(s.nm('br1'))!;
  s.d1.receive(frameOf(`dl_src=${A},dl_dst=ff:ff:ff:ff:ff:ff,dl_type=0x0800`));
  await s.settle(50);
  t.equal(s.d2.takeSent().length, 1, 'broadcast from p1 reaches p2');
  t.equal(x0.mac.lookup(0x0a, 0)?.port, 1, 'br0 learned A on p1');
  t.equal(x1.mac.lookup(0x0a, 0)?.port, 1, 'br1 learned A on patch1');
  s.d2.receive(frameOf(`dl_src=${B},dl_dst=${A},dl_type=0x0800`));
  await s.settle(50);
  t.equal(s.d1.takeSent().length, 1, 'unicast back to A reaches p1');
  t.equal(x1.mac.lookup(0x0b, 0)?.port, 2, 'br1 learned B on p2');
  t.equal(x0.mac.lookup(0x0b, 0)?.port, 2, 'br0 learned B on patch0');
  const text = s.trace(s.nm('br1'), `in_port=2,dl_src=${B},dl_dst=${A}`);
  t.match(text, /-> forwarding to learned port/);
  t.match(text, new RegExp(`Datapath actions: ${s.br0.getPort(1)!.dpPort}\\n`));
});

t.test('a missing peer drops silently; a loop of patch ports ends too deep', async (t) => {
  const s = await setup(t);
  addFlow(s.br0, [{ field: 'in_port', value: 1 }], [out(4)]);
  const text = s.trace(s.nm('br0'), `in_port=1,dl_src=${A},dl_dst=${B}`);
  t.match(text, ' 0. in_port=1, priority 32768\n    output:4\n\nFinal flow: unchanged\n');
  t.match(text, '\nDatapath actions: drop\n');

  addFlow(s.br0, [{ field: 'in_port', value: 1 }], [out(2)]);
  addFlow(s.br0, [{ field: 'in_port', value: 2 }], [out(OFPP.IN_PORT)]);
  addFlow(s.br1, [{ field: 'in_port', value: 1 }], [out(OFPP.IN_PORT)]);
  const loop = s.trace(s.nm('br0'), `in_port=1,dl_src=${A},dl_dst=${B}`);
  // As OVS: the innermost peer's walk ends with the note; the translation itself does not fail.
  t.match(loop, '-------------\n     >>>> over max translation depth 64 <<<<\n\nFinal flow:');
  t.notMatch(loop, 'Translation failed');
  t.match(loop, '\nDatapath actions: drop\n');
});

t.test('packet-ins made in the peer bridge go to the peer', async (t) => {
  const s = await setup(t);
  addFlow(s.br0, [{ field: 'in_port', value: 1 }], [out(2), out(OFPP.CONTROLLER)]);
  addFlow(s.br1, [{ field: 'in_port', value: 1 }], [out(OFPP.CONTROLLER)]);
  const got0: PacketInInfo[] = [];
  const got1: PacketInInfo[] = [];
  s.br0.onPacketIn((pi) => got0.push(pi));
  s.br1.onPacketIn((pi) => got1.push(pi));
  s.d1.receive(frameOf(`dl_src=${A},dl_dst=${B},dl_type=0x0800`));
  await s.settle(50);
  t.equal(got1.length, 1, 'one to br1');
  t.equal(got1[0]?.inPort, 1, 'in_port = patch1');
  t.equal(got0.length, 1, 'one to br0');
  t.equal(got0[0]?.inPort, 1, 'in_port = p1');
});

t.test('fast-failover: a patch port is live while its peer exists', async (t) => {
  const s = await setup(t);
  s.br0.tables.handleMessage(
    conn,
    {
      type: 'GROUP_MOD',
      xid: 0,
      command: 0,
      groupType: OFPGT.FF,
      groupId: 1,
      buckets: [
        { weight: 0, watchPort: 4, watchGroup: OFPG.ANY, actions: [out(4)] },
        { weight: 0, watchPort: 2, watchGroup: OFPG.ANY, actions: [out(2)] },
      ],
    },
    new Uint8Array(),
  );
  addFlow(s.br0, [{ field: 'in_port', value: 1 }], [{ type: 'GROUP', groupId: 1 }]);
  const text = s.trace(s.nm('br0'), `in_port=1,dl_src=${A},dl_dst=${B}`);
  t.match(text, '-> bucket 0: not live due to port 4');
  t.match(text, `bridge("${s.nm('br1')}")`);
  t.match(text, new RegExp(`Datapath actions: ${s.br1.getPort(2)!.dpPort}\\n`));
});

t.test('the peer bridge going away unpairs the port', async (t) => {
  const s = await setup(t);
  addFlow(s.br0, [{ field: 'in_port', value: 1 }], [out(2)]);
  const ovs = [...s.db.rows('Open_vSwitch').values()][0]!;
  const br1 = [...s.db.rows('Bridge').values()].find((b) => b.data.name?.keys[0] === s.nm('br1'))!;
  const r = s.db.transact([
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [['_uuid', '==', ['uuid', ovs.uuid]]],
      mutations: [['bridges', 'delete', ['uuid', br1.uuid]]],
    },
  ]);
  t.equal(r.status, 'done');
  await s.rec.schedule();
  await s.rec.idle();
  t.equal(s.br0.getPort(2)?.patchPeer?.(), undefined);
  const text = s.trace(s.nm('br0'), `in_port=1,dl_src=${A},dl_dst=${B}`);
  t.notMatch(text, `bridge("${s.nm('br1')}")`);
  t.match(text, '\nDatapath actions: drop\n');
});

/**
 * STP wired into the bridge reconciler (vswitchd/stp.ts), in memory: a BridgeReconciler on a
 * FakeClock with a DpifNetdev of dummy interfaces, bridges joined by connected dummies. Covers
 * configuration → machine, the status columns, the consume/megaflow contract, port state →
 * forwarding (ofproto/trace as OVS 3.1 prints it), TCN flushing the MAC table, stp/show and
 * stp/tcn, and a triangle that converges, floods without a storm and re-converges after a
 * silent link failure within max_age + 2 × forward_delay.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import type { Json } from '../../../lib/json.js';
import { buildFrame } from '../../../lib/packet/build.js';
import { extractFlowKey } from '../../../lib/packet/extract.js';
import { W, newFlowKey } from '../../../lib/packet/flow-key.js';
import { parseFlow } from '../../../lib/packet/format.js';
import { OFPPS } from '../../../openflow/constants.js';
import { Database } from '../../../ovsdb/database.js';
import { vswitchDbSchema } from '../../../ovsdb/schema.js';
import type { Row } from '../../../ovsdb/types.js';
import { AppctlRegistry } from '../../../appctl/registry.js';
import { registerOfprotoCommands } from '../../../ofproto/appctl.js';
import { DpifNetdev } from '../../../datapath/dpif-netdev.js';
import type { DummyNetdev } from '../../../datapath/netdev-dummy.js';
import { findDummy } from '../../../datapath/netdev-dummy.js';
import { encodeBpduFrame } from '../../../protocols/stp/bpdu.js';
import { BridgeReconciler } from '../../../vswitchd/bridge.js';
import type { StpProtocol } from '../../../vswitchd/stp.js';
import { stpModule, stpShouldProcessFlow } from '../../../vswitchd/stp.js';

let seq = 0;

interface PortSpec {
  name: string;
  oc?: Record<string, string>;
  type?: string;
}

const TIMERS = {
  'stp-hello-time': '1',
  'stp-max-age': '6',
  'stp-forward-delay': '4',
};

function mapOf(m: Record<string, string>): Json {
  return ['map', Object.entries(m).sort(([a], [b]) => (a < b ? -1 : 1))];
}

async function setup(t: Test) {
  const clock = new FakeClock(1000);
  const dir = mkdtempSync(join(tmpdir(), 'tstp-unit-'));
  const db = new Database(vswitchDbSchema());
  db.transact([{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
  const dp = new DpifNetdev({ clock });
  const rec = new BridgeReconciler({ db, clock, rundir: dir, dpif: dp, protocols: [stpModule] });
  await rec.start();
  t.teardown(async () => {
    await rec.stop();
    dp.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const reg = new AppctlRegistry();
  stpModule.commands!(reg, () => rec.protocolsOf('stp'));
  registerOfprotoCommands(reg, {
    get: (n) => rec.xlateOf(n),
    names: () => [...rec.bridges.keys()],
  });
  const ovs = [...db.rows('Open_vSwitch').keys()][0]!;
  const tag = `ts${seq++}`;
  const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
  const must = (ops: Json[]): void => {
    const r = db.transact(ops);
    if (r.status !== 'done') throw new Error('blocked');
    for (const x of r.result)
      if (x && typeof x === 'object' && !Array.isArray(x) && x.error)
        throw new Error(JSON.stringify(r.result));
  };
  const reconcile = async (): Promise<void> => {
    await rec.schedule();
    await rec.idle();
    await settle();
  };
  const row = (table: string, name: string): Row =>
    [...db.rows(table).values()].find((r) => r.data.name?.keys[0] === name)!;
  const smapOf = (r: Row, col: string): Record<string, string> => {
    const d = r.data[col];
    const o: Record<string, string> = {};
    d?.keys.forEach((k, i) => (o[String(k)] = String(d.values![i])));
    return o;
  };
  const s = {
    clock,
    db,
    dp,
    rec,
    reg,
    tag,
    /** Prefixed name. */
    n: (x: string) => `${tag}${x}`,
    async addBridge(
      br: string,
      ports: PortSpec[],
      oc: Record<string, string> = {},
      stp = true,
    ): Promise<void> {
      const name = `${tag}${br}`;
      const ops: Json[] = [];
      const all: PortSpec[] = [{ name: br, type: 'internal' }, ...ports];
      all.forEach((p, i) => {
        ops.push({
          op: 'insert',
          table: 'Interface',
          row: { name: `${tag}${p.name}`, type: p.type ?? 'dummy' },
          'uuid-name': `i${i}`,
        });
        ops.push({
          op: 'insert',
          table: 'Port',
          row: {
            name: `${tag}${p.name}`,
            interfaces: ['named-uuid', `i${i}`],
            other_config: mapOf(p.oc ?? {}),
          },
          'uuid-name': `p${i}`,
        });
      });
      ops.push({
        op: 'insert',
        table: 'Bridge',
        row: {
          name,
          stp_enable: stp,
          other_config: mapOf(oc),
          ports: ['set', all.map((_, i) => ['named-uuid', `p${i}`])],
        },
        'uuid-name': 'b',
      });
      ops.push({
        op: 'mutate',
        table: 'Open_vSwitch',
        where: [['_uuid', '==', ['uuid', ovs]]],
        mutations: [['bridges', 'insert', ['named-uuid', 'b']]],
      });
      must(ops);
      await reconcile();
    },
    async set(table: string, name: string, row: Record<string, Json>): Promise<void> {
      must([
        {
          op: 'update',
          table,
          where: [['_uuid', '==', ['uuid', s.row(table, `${tag}${name}`).uuid]]],
          row,
        },
      ]);
      await reconcile();
    },
    dummy(name: string): DummyNetdev {
      const d = findDummy(`${tag}${name}`);
      if (!d) throw new Error(`no dummy ${name}`);
      return d;
    },
    link(a: string, b: string): void {
      const da = s.dummy(a);
      const db2 = s.dummy(b);
      da.setPeer(db2);
      db2.setPeer(da);
    },
    cut(a: string, b: string): void {
      s.dummy(a).setPeer(undefined);
      s.dummy(b).setPeer(undefined);
    },
    /** Runs time forward in 50 ms steps, moving frames through the datapath. */
    async run(ms: number, until?: () => boolean): Promise<number> {
      const start = clock.now();
      const end = start + ms;
      while (clock.now() < end) {
        clock.advance(Math.min(50, end - clock.now()));
        for (let i = 0; i < 20 && dp.poll() > 0; i++) await Promise.resolve();
        await settle();
        if (until?.()) break;
      }
      return clock.now() - start;
    },
    row,
    smap: smapOf,
    stp(br: string): StpProtocol {
      return rec.protocolsOf('stp').get(`${tag}${br}`) as StpProtocol;
    },
    portState(br: string, port: string): string | undefined {
      const rb = rec.bridges.get(`${tag}${br}`)!;
      return rb.ofproto.listPorts().find((p) => p.name === `${tag}${port}`)?.stpState;
    },
    ofport(br: string, port: string): number {
      const rb = rec.bridges.get(`${tag}${br}`)!;
      return rb.ofproto.listPorts().find((p) => p.name === `${tag}${port}`)!.ofport;
    },
    appctl: (name: string, ...args: string[]) => reg.run(name, args),
  };
  return s;
}

type Setup = Awaited<ReturnType<typeof setup>>;

/** A triangle: b1 (root, system id ..:01), b2, b3; each with a host port. */
async function triangle(s: Setup): Promise<void> {
  await s.addBridge('b1', [{ name: 'a12' }, { name: 'a13' }, { name: 'h1', oc: {} }], {
    ...TIMERS,
    'stp-system-id': '00:00:00:00:00:01',
  });
  await s.addBridge('b2', [{ name: 'b21' }, { name: 'b23' }, { name: 'h2' }], {
    ...TIMERS,
    'stp-system-id': '00:00:00:00:00:02',
  });
  await s.addBridge('b3', [{ name: 'c31' }, { name: 'c32' }], {
    ...TIMERS,
    'stp-system-id': '00:00:00:00:00:03',
  });
  s.link('a12', 'b21');
  s.link('a13', 'c31');
  s.link('b23', 'c32');
}

const allPorts: [string, string][] = [
  ['b1', 'a12'],
  ['b1', 'a13'],
  ['b2', 'b21'],
  ['b2', 'b23'],
  ['b3', 'c31'],
  ['b3', 'c32'],
];

t.test('configuration reaches the machine; status columns; stp/show', async (t) => {
  const s = await setup(t);
  await s.addBridge(
    'br',
    [
      { name: 'p1' },
      { name: 'p2', oc: { 'stp-port-priority': '64', 'stp-path-cost': '100' } },
      { name: 'p3', oc: { 'stp-enable': 'false' } },
    ],
    { ...TIMERS, 'stp-system-id': '02:00:00:00:00:aa', 'stp-priority': '4096' },
  );
  const p = s.stp('br');
  t.ok(p.enabled, 'STP runs');
  const m = p.bridge!;
  t.same(m.getBridgeTimers(), { helloTime: 1, maxAge: 6, forwardDelay: 4 });
  t.equal(m.getBridgeId(), (4096n << 48n) | 0x0200000000aan);
  t.equal(p.portNumOf(s.ofport('br', 'p1')), 1, 'numbered by port name');
  t.equal(p.portNumOf(s.ofport('br', 'p2')), 2);
  t.equal(p.portNumOf(s.ofport('br', 'p3')), undefined, 'stp-enable=false');
  t.equal(p.portNumOf(s.ofport('br', 'br')), undefined, 'internal ports stay out');
  t.equal(m.port(1)!.pathCost, 2, '10 Gb/s link: cost 2');
  t.equal(m.port(2)!.pathCost, 100);
  t.equal(m.port(2)!.portId, (64 << 8) | 2);
  t.equal(s.portState('br', 'p1'), 'listening', 'designated ports start listening');
  t.equal(s.portState('br', 'p3'), undefined, 'a port outside STP has no STP state');
  await s.run(1100);
  const show = await s.appctl('stp/show', s.n('br'));
  t.equal(
    show,
    [
      `---- ${s.n('br')} ----`,
      'Root ID:',
      '  stp-priority  4096',
      '  stp-system-id   02:00:00:00:00:aa',
      '  stp-hello-time  1s',
      '  stp-max-age     6s',
      '  stp-fwd-delay   4s',
      '  This bridge is the root',
      '',
      'Bridge ID:',
      '  stp-priority  4096',
      '  stp-system-id   02:00:00:00:00:aa',
      '  stp-hello-time  1s',
      '  stp-max-age     6s',
      '  stp-fwd-delay   4s',
      '',
      '  Interface  Role       State      Cost  Pri.Nbr ',
      '  ---------- ---------- ---------- ----- -------',
      `  ${s.n('p1').padEnd(11)}designated listening  2     128.1`,
      `  ${s.n('p2').padEnd(11)}designated listening  100   64.2`,
      '',
      '',
    ].join('\n'),
  );
  t.equal(await s.appctl('stp/show'), show, 'every bridge');
  await t.rejects(s.appctl('stp/show', 'nope'), { message: 'no such stp object' });
  await t.rejects(s.appctl('stp/tcn', 'nope'), { message: 'no such stp object' });
  await t.rejects(s.appctl('stp/show', 'a', 'b'), /at most 1 arguments/);

  t.same(s.smap(s.row('Bridge', s.n('br')), 'status'), {
    stp_bridge_id: '1000.0200000000aa',
    stp_designated_root: '1000.0200000000aa',
    stp_root_path_cost: '0',
  });
  t.same(s.smap(s.row('Port', s.n('p2')), 'status'), {
    stp_port_id: String((64 << 8) | 2),
    stp_role: 'designated',
    stp_sec_in_state: '0',
    stp_state: 'listening',
  });
  t.same(s.smap(s.row('Port', s.n('p3')), 'status'), {}, 'no STP keys off STP');
  const stats = s.smap(s.row('Port', s.n('p1')), 'statistics');
  t.same(Object.keys(stats).sort(), ['stp_error_count', 'stp_rx_count', 'stp_tx_count']);

  // A malformed BPDU is counted in stp_error_count (statistics refresh every 5 s).
  const bad = encodeBpduFrame(Uint8Array.of(2, 0, 0, 0, 0, 9), { type: 'tcn' });
  bad[17] = 7; // protocol id
  s.dummy('p1').receive(bad);
  await s.run(7100);
  const st2 = s.smap(s.row('Port', s.n('p1')), 'statistics');
  t.equal(st2.stp_error_count, '1');
  t.ok(Number(st2.stp_tx_count) >= 3, `hellos counted: ${st2.stp_tx_count}`);
  t.equal(st2.stp_rx_count, '0');
  t.equal(s.portState('br', 'p1'), 'forwarding', 'listening → learning → forwarding');
  t.same(s.smap(s.row('Port', s.n('p1')), 'status').stp_state, 'forwarding');

  // Reconfiguration: priority and cost follow; the numbering changes when a port leaves.
  await s.set('Port', 'p2', { other_config: mapOf({ 'stp-path-cost': '7' }) });
  t.equal(m.port(2)!.pathCost, 7);
  t.equal(m.port(2)!.portId, (128 << 8) | 2);
  await s.set('Port', 'p1', { other_config: mapOf({ 'stp-enable': 'false' }) });
  t.equal(p.portNumOf(s.ofport('br', 'p2')), 1, 'renumbered');
  t.equal(s.portState('br', 'p1'), undefined);
  // Mixing manual and automatic numbers disables STP on the bridge.
  await s.set('Port', 'p3', { other_config: mapOf({ 'stp-port-num': '9' }) });
  t.notOk(p.enabled, 'inconsistent numbering disables STP');
  await s.set('Port', 'p3', { other_config: mapOf({}) });
  t.ok(p.enabled);

  // Disabling: states gone, status keys removed, BPDUs become normal traffic.
  await s.set('Bridge', 'br', { stp_enable: false });
  t.notOk(p.enabled);
  await s.run(100);
  t.equal(s.portState('br', 'p2'), undefined);
  t.same(s.smap(s.row('Bridge', s.n('br')), 'status'), {});
  t.same(s.smap(s.row('Port', s.n('p2')), 'status'), {});
  t.same(s.smap(s.row('Port', s.n('p2')), 'statistics'), {});
  t.equal(await s.appctl('stp/show'), '', 'no STP bridge');
  t.equal(await s.appctl('stp/tcn'), 'OK\n');
  // RSTP and STP both on: OVS disables STP.
  await s.set('Bridge', 'br', { stp_enable: true, rstp_enable: true });
  t.notOk(p.enabled);
  await s.set('Bridge', 'br', { rstp_enable: false });
  t.ok(p.enabled);
  // OVS 3.1 reads stp-hello-time as milliseconds: 5 gives the 1 s minimum; absent, 2 s.
  await s.set('Bridge', 'br', { other_config: mapOf({ 'stp-hello-time': '5' }) });
  t.equal(p.bridge!.getBridgeTimers().helloTime, 1);
  await s.set('Bridge', 'br', { other_config: mapOf({}) });
  t.same(p.bridge!.getBridgeTimers(), { helloTime: 2, maxAge: 20, forwardDelay: 15 });
});

t.test('consume() takes BPDUs and un-wildcards eth_dst; trace follows port state', async (t) => {
  const s = await setup(t);
  await s.addBridge('br', [{ name: 'p1' }, { name: 'p2' }, { name: 'p3' }], TIMERS);
  const x = s.rec.xlateOf(s.n('br'))!;
  const p1 = s.ofport('br', 'p1');
  const bpdu = encodeBpduFrame(Uint8Array.of(2, 0, 0, 0, 0, 1), { type: 'tcn' });
  const key = newFlowKey();
  extractFlowKey(bpdu, 0, bpdu.length, p1, key);
  const r = x.translate({ key, sideEffects: false });
  t.same(r.actions, [], 'a BPDU is consumed');
  t.ok(r.slow.includes('stp'), 'and stays on the slow path');
  t.equal(r.mask[W.ETH_DST + 1], 0xffffffff, 'eth_dst un-wildcarded');
  // Other traffic: eth_dst is in the mask too (so a megaflow never swallows a BPDU).
  const wc = newFlowKey();
  const ip = parseFlow(`in_port=${p1},udp,dl_dst=00:00:00:00:00:02`).key;
  t.notOk(stpShouldProcessFlow(ip, wc));
  t.equal(wc[W.ETH_DST + 1], 0xffffffff);
  t.equal(wc[W.ETH_DST]! & 0xffff, 0xffff);

  // In listening: table 0 looked up, nothing executed (OVS's may_receive).
  const flow = `in_port=${s.n('p1')},dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02`;
  const listening = await s.appctl('ofproto/trace', s.n('br'), flow);
  t.equal(
    listening,
    [
      `Flow: in_port=${p1},vlan_tci=0x0000,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_type=0x0000`,
      '',
      `bridge("${s.n('br')}")`,
      '-'.repeat(`bridge("${s.n('br')}")`.length),
      ' 0. priority 0',
      '',
      'Final flow: unchanged',
      `Megaflow: recirc_id=0,eth,in_port=${p1},dl_dst=00:00:00:00:00:02,dl_type=0x0000`,
      'Datapath actions: drop',
      '',
    ].join('\n'),
    'listening: as OVS 3.1 prints it',
  );
  await s.run(4200);
  t.equal(s.portState('br', 'p1'), 'learning');
  const learning = await s.appctl('ofproto/trace', s.n('br'), flow, '-generate');
  t.match(
    learning,
    / 0\. priority 0\n(?: {4}NORMAL\n)? {5}-> learned that 00:00:00:00:00:01 is on port \S+ in VLAN 0\n {5}-> no learned MAC for destination, flooding\n/,
  );
  t.match(learning, /Datapath actions: drop\n$/, 'learning: actions cancelled');
  t.match(await s.appctl('fdb/show', s.n('br')), /00:00:00:00:00:01/, 'but the MAC was learned');
  await s.run(4200);
  t.equal(s.portState('br', 'p1'), 'forwarding');
  // Going to forwarding on a designated bridge is a topology change: the MAC table was flushed.
  t.equal((await s.appctl('fdb/show', s.n('br'))).split('\n').length, 2, 'flushed by the TC');
  await s.appctl('ofproto/trace', s.n('br'), flow, '-generate');
  const fwd = await s.appctl(
    'ofproto/trace',
    s.n('br'),
    `in_port=${s.n('p2')},dl_src=00:00:00:00:00:02,dl_dst=00:00:00:00:00:01`,
  );
  t.match(fwd, /-> forwarding to learned port\n/);
  t.match(fwd, new RegExp(`Datapath actions: ${s.dp.portByName(s.n('p1'))!.port}\\n$`));

  // stp/tcn on the (root) bridge flushes the MAC table.
  t.equal(await s.appctl('stp/tcn', s.n('br')), 'OK\n');
  t.equal((await s.appctl('fdb/show', s.n('br'))).split('\n').length, 2, 'table flushed');
  t.ok(s.stp('br').bridge!.topologyChangeActive(), 'root sets the topology change flag');

  // With STP off a BPDU is ordinary traffic for the tables (not consumed).
  await s.set('Bridge', 'br', { stp_enable: false });
  const r2 = x.translate({ key, sideEffects: false });
  t.notOk(r2.slow.includes('stp'), 'not consumed with STP off');
});

t.test('a triangle converges, floods without a storm, re-converges after a cut', async (t) => {
  const s = await setup(t);
  await triangle(s);
  const states = (): string[] => allPorts.map(([b, p]) => s.portState(b, p) ?? 'none');
  const converged = (): boolean =>
    states().filter((x) => x === 'forwarding').length === 5 &&
    states().filter((x) => x === 'blocking').length === 1;
  const took = await s.run(30_000, converged);
  t.ok(converged(), `converged: ${states().join(',')}`);
  t.ok(took <= 2 * 4000 + 2000, `within 2 × forward_delay (+ slack): ${took} ms`);
  t.comment(`triangle converged in ${took} ms of protocol time`);
  t.equal(s.portState('b3', 'c32'), 'blocking', 'the b2–b3 link blocks at b3 (higher ID)');
  for (const b of ['b1', 'b2', 'b3']) {
    const st = s.smap(s.row('Bridge', s.n(b)), 'status');
    t.equal(st.stp_designated_root, '8000.000000000001', `${b} agrees on the root`);
  }
  t.equal(s.smap(s.row('Bridge', s.n('b3')), 'status').stp_root_path_cost, '2');
  t.same(s.smap(s.row('Port', s.n('c32')), 'status').stp_role, 'alternate');
  // OpenFlow 1.3 port state does not carry STP (OVS masks its 1.0 STP bits off): LIVE only.
  const c32 = s.rec.bridges.get(s.n('b3'))!.ofproto.getPort(s.ofport('b3', 'c32'))!;
  t.equal(c32.state, OFPPS.LIVE, 'blocked port: OFPPS_LIVE, no OFPPS_BLOCKED');
  t.same(s.smap(s.row('Port', s.n('c31')), 'status').stp_role, 'root');

  // A broadcast from h1 reaches h2 once and dies out (no storm).
  const h1 = s.dummy('h1');
  const h2 = s.dummy('h2');
  h2.setCaptureTx(true);
  h1.receive(buildFrame(parseFlow('dl_src=00:00:00:00:00:11,dl_dst=ff:ff:ff:ff:ff:ff,arp').key));
  await s.run(2000);
  const seen = h2.takeSent().filter((f) => f[6] === 0 && f[11] === 0x11);
  t.equal(seen.length, 1, 'one copy at h2');
  const total = (): number => {
    const st = s.dp.stats();
    return st.emcHits + st.megaflowHits + st.misses;
  };
  const before = total();
  await s.run(3000);
  // Only BPDUs move now: 6 ports × 1 hello/s at most, a few TCNs.
  t.ok(total() - before < 60, `quiet after the broadcast: ${total() - before} packets in 3 s`);

  // Silent failure of b1–b3 (no carrier change): BPDUs stop, b3 waits max_age, then c32 goes
  // listening → learning → forwarding.
  s.cut('a13', 'c31');
  const healed = (): boolean => s.portState('b3', 'c32') === 'forwarding';
  const re = await s.run(40_000, healed);
  t.ok(healed(), `re-converged: ${states().join(',')}`);
  t.ok(re <= 6000 + 2 * 4000 + 1000, `within max_age + 2 × forward_delay: ${re} ms`);
  t.comment(`re-converged in ${re} ms of protocol time`);
  t.equal(s.smap(s.row('Bridge', s.n('b3')), 'status').stp_root_path_cost, '4');
  h2.takeSent();
  h1.receive(buildFrame(parseFlow('dl_src=00:00:00:00:00:11,dl_dst=ff:ff:ff:ff:ff:ff,arp').key));
  await s.run(1000);
  t.equal(h2.takeSent().filter((f) => f[11] === 0x11).length, 1, 'still one copy');

  // Carrier loss is noticed at once (within a second), not after max_age.
  s.dummy('b21').setCarrier(false);
  await s.run(1100);
  t.equal(s.portState('b2', 'b21'), 'disabled');
  // OVS reports a disabled port's role as designated (it takes the designated role when
  // disabled, and the role check comes before the state check).
  t.match(s.smap(s.row('Port', s.n('b21')), 'status'), {
    stp_state: 'disabled',
    stp_role: 'designated',
  });
  t.equal(s.portState('b2', 'b23'), 'forwarding', 'the b2–b3 link stays forwarding');
});

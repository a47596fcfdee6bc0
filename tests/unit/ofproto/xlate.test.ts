import fc from 'fast-check';
import t from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import { buildFrame } from '../../../lib/packet/build.js';
import { extractFlowKey } from '../../../lib/packet/extract.js';
import {
  FLOW_KEY_WORDS,
  W,
  fieldByName,
  fieldIsExact,
  newFlowKey,
  type FlowKey,
} from '../../../lib/packet/flow-key.js';
import { parseFlow } from '../../../lib/packet/format.js';
import { formatActions, type DpAction } from '../../../datapath/actions.js';
import { DpifNetdev } from '../../../datapath/dpif-netdev.js';
import type { Action } from '../../../openflow/actions.js';
import {
  OFPG,
  OFPGT,
  OFPMF,
  OFPP,
  OFPPC,
  OFPPS,
  OFPR,
  OFP_NO_BUFFER,
} from '../../../openflow/constants.js';
import type { Instruction } from '../../../openflow/instructions.js';
import type { Match } from '../../../openflow/oxm.js';
import type { Bucket, MeterBand } from '../../../openflow/structs.js';
import type { Ofconn } from '../../../ofproto/ofconn.js';
import { Ofproto } from '../../../ofproto/ofproto.js';
import {
  MAX_DEPTH,
  NO_COOKIE,
  Xlate,
  datapathMask,
  type FailMode,
} from '../../../ofproto/xlate.js';
import { addFlowMod } from '../../helpers/flow-mod.js';

const conn = {} as Ofconn;

function bridge(opts: { failMode?: FailMode; clock?: FakeClock } = {}) {
  const clock = opts.clock ?? new FakeClock();
  const sw = new Ofproto({ name: 'br0', datapathId: 1n, clock });
  for (const n of [1, 2, 3, 4])
    sw.addPort({
      ofport: n,
      name: `p${n}`,
      hwAddr: 0x020000000000 + n,
      config: 0,
      state: OFPPS.LIVE,
      curr: 0,
      currSpeed: 0,
      maxSpeed: 0,
      dpPort: n + 10,
    });
  sw.addPort({
    ofport: OFPP.LOCAL,
    name: 'br0',
    hwAddr: 0x020000000099,
    config: 0,
    state: OFPPS.LIVE,
    curr: 0,
    currSpeed: 0,
    maxSpeed: 0,
  });
  const x = new Xlate({ ofproto: sw, clock, failMode: opts.failMode ?? 'secure' });
  const flow = (
    tableId: number,
    priority: number,
    match: Match,
    instructions: Instruction[],
    cookie = 0n,
  ): void => {
    sw.tables.handleMessage(
      conn,
      addFlowMod(tableId, priority, match, instructions, cookie),
      new Uint8Array(),
    );
  };
  const group = (groupId: number, groupType: number, buckets: Bucket[]): void => {
    sw.tables.handleMessage(
      conn,
      { type: 'GROUP_MOD', xid: 0, command: 0, groupType, groupId, buckets },
      new Uint8Array(),
    );
  };
  const meter = (meterId: number, flags: number, bands: MeterBand[]): void => {
    sw.tables.handleMessage(
      conn,
      { type: 'METER_MOD', xid: 0, command: 0, flags, meterId, bands },
      new Uint8Array(),
    );
  };
  const run = (flowText: string, extra: { frame?: Uint8Array; side?: boolean } = {}) => {
    const key = parseFlow(flowText).key;
    const input: Parameters<Xlate['translate']>[0] = { key, sideEffects: extra.side ?? true };
    if (extra.frame) input.frame = extra.frame;
    const r = x.translate(input);
    return { ...r, text: formatActions(r.actions) };
  };
  return { clock, sw, x, flow, group, meter, run };
}

const apply = (...actions: Action[]): Instruction => ({ type: 'APPLY_ACTIONS', actions });
const write = (...actions: Action[]): Instruction => ({ type: 'WRITE_ACTIONS', actions });
const out = (port: number, maxLen = 0): Action => ({ type: 'OUTPUT', port, maxLen });
const bucket = (actions: Action[], extra: Partial<Bucket> = {}): Bucket => ({
  weight: 1,
  watchPort: OFPP.ANY,
  watchGroup: OFPG.ANY,
  actions,
  ...extra,
});

function exact(mask: FlowKey, name: string): boolean {
  return fieldIsExact(mask, fieldByName(name)!);
}

t.test('apply-actions output, megaflow mask, rules hit', (t) => {
  const b = bridge();
  b.flow(0, 100, [{ field: 'in_port', value: 1 }], [apply(out(2))], 0x42n);
  const r = b.run('in_port=1,tcp,nw_src=10.0.0.1,tp_dst=80');
  t.equal(r.text, '12');
  t.equal(r.rules.length, 1);
  t.equal(r.rules[0]!.cookie, 0x42n);
  t.ok(exact(r.mask, 'in_port'));
  t.ok(exact(r.mask, 'eth_type'));
  t.equal(r.mask[W.RECIRC_ID], 0xffffffff);
  t.notOk(exact(r.mask, 'ipv4_src'), 'nothing consulted nw_src');
  t.same(r.slow, []);
  t.end();
});

t.test('table miss drops; fail-open standalone falls back to NORMAL', (t) => {
  const b = bridge();
  t.equal(b.run('in_port=1,dl_dst=ff:ff:ff:ff:ff:ff').text, 'drop');
  const s = bridge({ failMode: 'standalone' });
  t.ok(s.x.failOpen());
  const r = s.run('in_port=1,dl_src=00:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff');
  t.equal(r.text, '0,12,13,14', 'flood to LOCAL and the other ports');
  t.ok(r.usedNormal);
  // A miss in a later table is still a drop.
  s.flow(0, 1, [], [{ type: 'GOTO_TABLE', tableId: 3 }]);
  t.equal(s.run('in_port=1,dl_dst=ff:ff:ff:ff:ff:ff').text, 'drop');
  t.end();
});

t.test('instruction order, goto, write/clear actions and the action set order', (t) => {
  const b = bridge();
  b.flow(
    0,
    10,
    [],
    [
      { type: 'GOTO_TABLE', tableId: 1 },
      write(out(3)),
      apply({ type: 'SET_FIELD', field: 'ipv4_dst', value: 0x0a000009 }),
    ],
  );
  b.flow(
    1,
    10,
    [],
    [
      write(
        out(2),
        { type: 'SET_FIELD', field: 'eth_dst', value: 0x0000000000aan },
        { type: 'PUSH_VLAN', ethertype: 0x8100 },
      ),
    ],
  );
  const r = b.run('in_port=1,ip,nw_dst=10.0.0.1');
  // apply-actions ran in table 0 (set committed lazily), the action set (output:2 replaced
  // output:3) runs at the end: push_vlan before set-field before output.
  t.equal(
    r.text,
    'set(eth(dst=00:00:00:00:00:aa)),set(ipv4(dst=10.0.0.9)),push_vlan(vid=0,pcp=0),12',
  );
  t.equal(r.rules.length, 2);
  t.ok(exact(r.mask, 'ipv4_dst'), 'a set field is un-wildcarded');

  const c = bridge();
  c.flow(0, 10, [], [write(out(3)), { type: 'GOTO_TABLE', tableId: 1 }]);
  c.flow(1, 10, [], [{ type: 'CLEAR_ACTIONS' }, apply(out(4))]);
  t.equal(c.run('in_port=1').text, '14', 'clear-actions empties the action set');
  t.end();
});

t.test('write-metadata feeds later lookups', (t) => {
  const b = bridge();
  b.flow(
    0,
    10,
    [],
    [
      { type: 'WRITE_METADATA', metadata: 0x5n, metadataMask: 0xffn },
      { type: 'GOTO_TABLE', tableId: 2 },
    ],
  );
  b.flow(2, 20, [{ field: 'metadata', value: 5n, mask: 0xffn }], [apply(out(2))]);
  b.flow(2, 10, [], [apply(out(3))]);
  const r = b.run('in_port=1');
  t.equal(r.text, '12');
  t.equal(r.finalFlow[W.METADATA + 1], 5);
  t.end();
});

t.test('set-field commits, VLAN push/pop, prerequisites', (t) => {
  const b = bridge();
  b.flow(
    0,
    10,
    [{ field: 'in_port', value: 1 }],
    [
      apply(
        { type: 'SET_FIELD', field: 'eth_src', value: 0x0000000000bbn },
        { type: 'SET_FIELD', field: 'ipv4_src', value: 0x01020304 },
        { type: 'SET_FIELD', field: 'tcp_dst', value: 8080 },
        { type: 'SET_FIELD', field: 'udp_dst', value: 53 },
        out(2),
        { type: 'PUSH_VLAN', ethertype: 0x8100 },
        { type: 'SET_FIELD', field: 'vlan_vid', value: 0x1000 | 10 },
        out(3),
      ),
    ],
  );
  const r = b.run('in_port=1,tcp,nw_src=10.0.0.1,tp_dst=80');
  t.equal(
    r.text,
    'set(eth(src=00:00:00:00:00:bb)),set(ipv4(src=1.2.3.4)),set(tcp(dst=8080)),12,push_vlan(vid=10,pcp=0),13',
    'udp_dst on a TCP packet is skipped (prerequisites)',
  );
  t.ok(exact(r.mask, 'tcp_dst'));
  b.flow(0, 10, [{ field: 'in_port', value: 2 }], [apply({ type: 'POP_VLAN' }, out(1))]);
  t.equal(b.run('in_port=2,dl_vlan=7').text, 'pop_vlan,11');
  t.equal(b.run('in_port=2').text, '11', 'pop_vlan on an untagged packet does nothing');
  // set-field on the VLAN of a tagged packet: pop then push (as OVS commits it).
  b.flow(
    0,
    10,
    [{ field: 'in_port', value: 3 }],
    [apply({ type: 'SET_FIELD', field: 'vlan_vid', value: 0x1000 | 20 }, out(1))],
  );
  t.equal(b.run('in_port=3,dl_vlan=7').text, 'pop_vlan,push_vlan(vid=20,pcp=0),11');
  t.equal(b.run('in_port=3').text, '11', 'vlan_vid set on an untagged packet is ignored');
  t.end();
});

t.test('TTL actions and invalid TTL packet-in', (t) => {
  const b = bridge();
  b.flow(0, 10, [], [apply({ type: 'DEC_NW_TTL' }, out(2))], 0x77n);
  const r = b.run('in_port=1,ip,nw_ttl=64');
  t.equal(r.text, 'set(ipv4(ttl=63)),12');
  t.ok(exact(r.mask, 'ip_ttl'));
  const key = parseFlow('in_port=1,ip,nw_ttl=1').key;
  const frame = buildFrame(key);
  const r1 = b.run('in_port=1,ip,nw_ttl=1', { frame });
  t.match(r1.text, /^userspace\(pid=0,controller\(reason=2,/, 'no output after an expired TTL');
  t.equal(r1.packetIns.length, 1);
  t.equal(r1.packetIns[0]!.reason, OFPR.INVALID_TTL);
  t.equal(r1.packetIns[0]!.cookie, 0x77n);
  const r2 = b.run('in_port=1,ip,nw_ttl=1', { frame, side: false });
  t.equal(r2.packetIns.length, 0, 'no packet-in without side effects');
  // MPLS push, set TTL, pop
  const m = bridge();
  m.flow(
    0,
    10,
    [],
    [
      apply(
        { type: 'PUSH_MPLS', ethertype: 0x8847 },
        { type: 'SET_FIELD', field: 'mpls_label', value: 100 },
        { type: 'DEC_MPLS_TTL' },
        out(2),
        { type: 'POP_MPLS', ethertype: 0x0800 },
        out(3),
      ),
    ],
  );
  t.equal(
    m.run('in_port=1,ip,nw_ttl=30').text,
    'push_mpls(label=0,tc=0,ttl=30,bos=1,eth_type=0x8847),set(mpls(label=100,tc=0,ttl=29,bos=1)),12,pop_mpls(eth_type=0x800),13',
  );
  t.end();
});

t.test('outputs: IN_PORT, input port, NO_FWD, missing port, STP, down ports, FLOOD, ALL', (t) => {
  const b = bridge();
  b.flow(0, 10, [], [apply(out(1), out(OFPP.IN_PORT), out(2), out(9), out(3), out(4))]);
  b.sw.getPort(2)!.config |= OFPPC.NO_FWD;
  b.sw.getPort(3)!.stpState = 'blocking';
  b.sw.getPort(4)!.config |= OFPPC.PORT_DOWN;
  b.sw.getPort(4)!.state = OFPPS.LINK_DOWN;
  t.equal(b.run('in_port=1').text, '11,14', 'only IN_PORT and the down port (as OVS)');
  const f = bridge();
  f.flow(0, 10, [], [apply(out(OFPP.FLOOD))]);
  f.sw.getPort(3)!.noFlood = true;
  t.equal(f.run('in_port=1').text, '0,12,14');
  f.flow(0, 10, [], [apply(out(OFPP.ALL))]);
  t.equal(f.run('in_port=1').text, '0,12,13,14');
  f.flow(0, 10, [], [apply(out(OFPP.LOCAL))]);
  t.equal(f.run('in_port=1').text, '0');
  t.end();
});

t.test('CONTROLLER: userspace action, slow path, packet-in contents', (t) => {
  const b = bridge();
  b.flow(0, 0, [], [apply(out(OFPP.CONTROLLER, 0xffff))], 0x9n);
  b.flow(
    0,
    10,
    [{ field: 'in_port', value: 2 }],
    [
      apply(
        { type: 'SET_FIELD', field: 'eth_dst', value: 0x0a0b0c0d0e0fn },
        out(OFPP.CONTROLLER, 64),
      ),
    ],
    0x10n,
  );
  const key = parseFlow('in_port=1,udp,nw_src=10.0.0.1').key;
  const frame = buildFrame(key);
  const r = b.run('in_port=1,udp,nw_src=10.0.0.1', { frame });
  t.equal(
    r.text,
    'userspace(pid=0,controller(reason=0,dont_send=1,continuation=0,recirc_id=0,rule_cookie=0x9,controller_id=0,max_len=65535))',
  );
  t.same(r.slow, ['controller']);
  t.equal(r.packetIns[0]!.reason, OFPR.NO_MATCH, 'a table-miss flow gives NO_MATCH');
  t.same(r.packetIns[0]!.frame, frame);
  const k2 = parseFlow('in_port=2,udp,nw_src=10.0.0.1').key;
  const f2 = buildFrame(k2);
  const r2 = b.run('in_port=2,udp,nw_src=10.0.0.1', { frame: f2 });
  const pi = r2.packetIns[0]!;
  t.equal(pi.reason, OFPR.ACTION);
  t.equal(pi.cookie, 0x10n);
  t.equal(pi.tableId, 0);
  t.equal(pi.frame.length, f2.length, 'the whole frame whatever max_len');
  const k3 = newFlowKey();
  extractFlowKey(pi.frame, 0, pi.frame.length, 2, k3);
  t.equal(k3[W.ETH_DST], 0x0a0b, 'the set-field was applied to the packet-in frame');
  t.equal(k3[W.ETH_DST + 1], 0x0c0d0e0f);
  b.sw.getPort(2)!.config |= OFPPC.NO_PACKET_IN;
  t.equal(b.run('in_port=2,udp,nw_src=10.0.0.1', { frame: f2 }).packetIns.length, 0);
  t.end();
});

t.test('groups: all, indirect, fast-failover, select, chaining', (t) => {
  const b = bridge();
  b.group(1, OFPGT.ALL, [
    bucket([{ type: 'SET_FIELD', field: 'ipv4_dst', value: 0x0a000063 }, out(2)]),
    bucket([out(3)]),
  ]);
  b.flow(0, 10, [{ field: 'in_port', value: 1 }], [apply({ type: 'GROUP', groupId: 1 })]);
  const r = b.run('in_port=1,ip,nw_dst=10.0.0.1');
  t.equal(
    r.text,
    'set(ipv4(dst=10.0.0.99)),12,set(ipv4(dst=10.0.0.1)),13',
    'each bucket sees the original packet',
  );
  t.same(
    r.groups.map((g) => g.buckets),
    [[0, 1]],
  );
  b.x.credit(r, 1, 100);
  t.equal(b.sw.tables.getGroup(1)!.packetCount, 1n);
  t.equal(b.sw.tables.getGroup(1)!.bucketCounts[1]!.byteCount, 100n);

  b.group(2, OFPGT.INDIRECT, [bucket([out(4)])]);
  b.group(3, OFPGT.INDIRECT, [bucket([{ type: 'GROUP', groupId: 2 }])]);
  b.flow(0, 10, [{ field: 'in_port', value: 2 }], [apply({ type: 'GROUP', groupId: 3 })]);
  t.equal(b.run('in_port=2').text, '14', 'chained groups');

  b.group(4, OFPGT.FF, [
    bucket([out(2)], { watchPort: 2 }),
    bucket([out(3)], { watchGroup: 2 }),
    bucket([out(4)], { watchPort: 4 }),
  ]);
  b.flow(0, 10, [{ field: 'in_port', value: 3 }], [apply({ type: 'GROUP', groupId: 4 })]);
  t.equal(b.run('in_port=3').text, '12');
  b.sw.setPortState(2, OFPPS.LINK_DOWN);
  t.equal(
    b.run('in_port=3').text,
    'drop',
    'bucket 1 (watch group 2 → port 4 live) outputs to in_port 3',
  );
  b.sw.getPort(4)!.config |= OFPPC.PORT_DOWN;
  // Group 2's only bucket has no watch, so group 2 stays live: bucket 1 again.
  t.equal(b.run('in_port=3').text, 'drop');
  b.group(5, OFPGT.FF, [bucket([out(2)], { watchPort: 2 }), bucket([out(1)], { watchPort: 4 })]);
  b.flow(0, 10, [{ field: 'in_port', value: 4 }], [apply({ type: 'GROUP', groupId: 5 })]);
  t.equal(b.run('in_port=4').text, 'drop', 'no live bucket');
  b.sw.setPortState(2, OFPPS.LIVE);
  t.equal(b.run('in_port=4').text, '12');

  const s = bridge();
  s.group(7, OFPGT.SELECT, [
    bucket([out(2)], { weight: 1 }),
    bucket([out(3)], { weight: 3 }),
    bucket([out(4)], { weight: 0 }),
  ]);
  s.flow(0, 10, [], [apply({ type: 'GROUP', groupId: 7 })]);
  const seen = new Map<string, number>();
  for (let i = 0; i < 400; i++) {
    const rr = s.run(`in_port=1,tcp,nw_src=10.0.${i >> 8}.${i & 255},tp_src=${1000 + i}`);
    seen.set(rr.text, (seen.get(rr.text) ?? 0) + 1);
    t.ok(exact(rr.mask, 'ipv4_src') && exact(rr.mask, 'tcp_src'), 'hashed fields are exact');
  }
  t.notOk(seen.has('14'), 'a weight-0 bucket is never chosen');
  t.ok(
    (seen.get('12') ?? 0) > 30 && (seen.get('13') ?? 0) > (seen.get('12') ?? 0),
    `weights respected: ${JSON.stringify([...seen])}`,
  );
  const a = s.run('in_port=1,tcp,nw_src=10.9.9.9,tp_src=5');
  t.equal(s.run('in_port=1,tcp,nw_src=10.9.9.9,tp_src=5').text, a.text, 'deterministic');
  t.end();
});

t.test('too deep a chain of groups ends in a counted drop', (t) => {
  const b = bridge();
  b.group(1, OFPGT.INDIRECT, [bucket([out(2)])]);
  for (let g = 2; g <= MAX_DEPTH + 5; g++)
    b.group(g, OFPGT.INDIRECT, [bucket([out(3), { type: 'GROUP', groupId: g - 1 }])]);
  b.flow(0, 10, [], [apply({ type: 'GROUP', groupId: MAX_DEPTH + 5 })]);
  const r = b.run('in_port=1');
  t.equal(r.text, 'drop');
  t.equal(r.dropReason, 'too deep');
  t.end();
});

t.test('meters: datapath meter action, cacheable flow, statistics from the datapath', (t) => {
  const b = bridge();
  const dp = new DpifNetdev({ clock: b.clock });
  b.x.executor = dp;
  b.x.attach();
  b.meter(1, OFPMF.PKTPS | OFPMF.BURST | OFPMF.STATS, [{ type: 'DROP', rate: 1, burstSize: 2 }]);
  b.flow(0, 10, [], [{ type: 'METER', meterId: 1 }, apply(out(2))]);
  const frame = buildFrame(parseFlow('in_port=1').key);
  const r = b.run('in_port=1', { frame });
  t.equal(r.text, 'meter(0),12', 'the meter runs first, in the datapath');
  t.same(r.slow, [], 'a metered flow is cacheable');
  t.equal(r.dropReason, undefined);
  t.equal(b.run('in_port=1', { frame, side: false }).text, 'meter(0),12', 'trace shows it too');
  for (let i = 0; i < 3; i++) dp.execute(frame, 11, r.actions);
  t.match(dp.meterStats(0), { packets: 3, bands: [{ packets: 1 }] }, 'burst of 2, third dropped');
  const m = b.sw.tables.getMeter(1)!;
  t.equal(m.packetInCount, 0n, 'counters are folded in on demand');
  b.sw.tables.syncMeterStats();
  t.equal(m.packetInCount, 3n);
  t.equal(m.byteInCount, BigInt(3 * frame.length));
  t.equal(m.bandCounts[0]!.packetBandCount, 1n);
  b.sw.tables.syncMeterStats();
  t.equal(m.packetInCount, 3n, 'folding twice counts nothing twice');
  // A packet-out through the tables is executed by the datapath, meter included.
  b.sw.tables.handleMessage(
    conn,
    {
      type: 'PACKET_OUT',
      xid: 1,
      bufferId: OFP_NO_BUFFER,
      inPort: OFPP.CONTROLLER,
      actions: [out(OFPP.TABLE)],
      data: frame,
    },
    new Uint8Array(),
  );
  b.sw.tables.syncMeterStats();
  t.equal(m.packetInCount, 4n, 'the packet-out went through the datapath meter');
  t.equal(m.bandCounts[0]!.packetBandCount, 2n, 'and was dropped there (no tokens left)');
  // Modify: the datapath meter restarts, the in-counters carry on, the band counters restart.
  b.sw.tables.handleMessage(
    conn,
    {
      type: 'METER_MOD',
      xid: 0,
      command: 1,
      flags: OFPMF.PKTPS,
      meterId: 1,
      bands: [{ type: 'DROP', rate: 5, burstSize: 0 }],
    },
    new Uint8Array(),
  );
  t.match(dp.meterStats(0), { packets: 0, bands: [{ packets: 0 }] });
  dp.execute(frame, 11, r.actions);
  b.sw.tables.syncMeterStats();
  t.equal(m.packetInCount, 5n);
  t.equal(m.bandCounts[0]!.packetBandCount, 0n);
  // A second bridge on the same datapath gets the next datapath id.
  const b2 = bridge({ clock: b.clock });
  b2.x.executor = dp;
  b2.x.attach();
  b2.meter(1, OFPMF.KBPS, [{ type: 'DROP', rate: 100, burstSize: 0 }]);
  b2.flow(0, 10, [], [{ type: 'METER', meterId: 1 }, apply(out(3))]);
  t.equal(b2.run('in_port=1').text, 'meter(1),13');
  // Delete: the datapath meter goes, its id is free again.
  b.sw.tables.handleMessage(
    conn,
    { type: 'METER_MOD', xid: 0, command: 2, flags: 0, meterId: 1, bands: [] },
    new Uint8Array(),
  );
  t.equal(dp.meterStats(0), undefined);
  t.ok(dp.meterStats(1), "the other bridge's meter stays");
  b.meter(7, OFPMF.KBPS, [{ type: 'DROP', rate: 100, burstSize: 0 }]);
  b.flow(0, 10, [], [{ type: 'METER', meterId: 7 }, apply(out(2))]);
  t.equal(b.run('in_port=1').text, 'meter(0),12', 'lowest free id reused');
  b2.x.releaseMeters();
  t.equal(dp.meterStats(1), undefined, 'a bridge going away frees its datapath meters');
  t.ok(dp.meterStats(0));
  t.end();
});

t.test('meters: placement after changes pending from earlier tables', (t) => {
  const b = bridge();
  b.x.executor = new DpifNetdev({ clock: b.clock });
  b.x.attach();
  b.meter(1, OFPMF.PKTPS, [{ type: 'DROP', rate: 10, burstSize: 0 }]);
  b.meter(2, OFPMF.PKTPS, [{ type: 'DSCP_REMARK', rate: 10, burstSize: 0, precLevel: 1 }]);
  const setDscp: Action = { type: 'SET_FIELD', field: 'ip_dscp', value: 10n };
  b.flow(
    0,
    10,
    [{ field: 'in_port', value: 1 }],
    [apply(setDscp), { type: 'GOTO_TABLE', tableId: 1 }],
  );
  b.flow(
    0,
    10,
    [{ field: 'in_port', value: 3 }],
    [apply(setDscp), { type: 'GOTO_TABLE', tableId: 2 }],
  );
  b.flow(1, 0, [], [{ type: 'METER', meterId: 1 }, apply(out(2))]);
  b.flow(2, 0, [], [{ type: 'METER', meterId: 2 }, apply(out(2))]);
  t.equal(
    b.run('in_port=1,ip').text,
    'meter(0),set(ipv4(tos=0x28)),12',
    'a drop meter goes first, as OVS emits it',
  );
  t.equal(
    b.run('in_port=3,ip').text,
    'set(ipv4(tos=0x28)),meter(1),12',
    'a dscp_remark meter sees the DSCP set before it',
  );
  t.end();
});

t.test('meters: a dscp_remark verdict run ahead of a packet-in is applied to it', (t) => {
  const b = bridge();
  const dp = new DpifNetdev({ clock: b.clock });
  b.x.executor = dp;
  b.x.attach();
  b.meter(1, OFPMF.PKTPS | OFPMF.BURST, [
    { type: 'DSCP_REMARK', rate: 1, burstSize: 1, precLevel: 1 },
  ]);
  b.flow(0, 10, [], [{ type: 'METER', meterId: 1 }, apply(out(2), out(OFPP.CONTROLLER, 0xffff))]);
  const flowText = 'in_port=1,udp,nw_src=10.0.0.1,nw_tos=40';
  const frame = buildFrame(parseFlow(flowText).key);
  const dscpOf = (f: Uint8Array): number => {
    const k = newFlowKey();
    extractFlowKey(f, 0, f.length, 1, k);
    return (k[W.NW]! >>> 10) & 0x3f;
  };
  const r1 = b.run(flowText, { frame });
  t.match(r1.text, /^12,userspace/, 'within the rate: the meter ran, nothing to change');
  t.equal(dscpOf(r1.packetIns[0]!.frame), 10);
  const r2 = b.run(flowText, { frame });
  t.match(r2.text, /^set\(ipv4\(tos=0x30\/0xfc\)\),12,userspace/, 'AF11 → AF12 for the output');
  t.equal(dscpOf(r2.packetIns[0]!.frame), 12, 'and in the packet-in');
  t.match(dp.meterStats(0), { packets: 2, bands: [{ packets: 1 }] });
  t.end();
});

t.test('meters: without datapath meters the instruction is noted, not enforced', (t) => {
  const b = bridge();
  b.meter(1, OFPMF.PKTPS, [{ type: 'DROP', rate: 1, burstSize: 0 }]);
  b.flow(0, 10, [], [{ type: 'METER', meterId: 1 }, apply(out(2))]);
  const notes: string[] = [];
  const r = b.x.translate({
    key: parseFlow('in_port=1').key,
    trace: (e) => {
      if (e.kind === 'note') notes.push(e.text);
    },
  });
  t.same(formatActions(r.actions), '12');
  t.match(notes, [/meter 1 has no datapath meter/]);
  t.end();
});

t.test('meters: packet-ins behind a meter are subject to it (run ahead on the datapath)', (t) => {
  const b = bridge();
  const dp = new DpifNetdev({ clock: b.clock });
  b.x.executor = dp;
  b.x.attach();
  b.meter(1, OFPMF.PKTPS | OFPMF.BURST, [{ type: 'DROP', rate: 1, burstSize: 1 }]);
  b.meter(2, OFPMF.PKTPS, [{ type: 'DROP', rate: 1000, burstSize: 0 }]);
  b.flow(0, 10, [], [{ type: 'METER', meterId: 1 }, apply(out(2), out(OFPP.CONTROLLER, 0xffff))]);
  const frame = buildFrame(parseFlow('in_port=1').key);
  const r1 = b.run('in_port=1', { frame });
  t.equal(r1.packetIns.length, 1);
  t.match(r1.text, /^12,userspace\(/, 'the meter ran already: no meter action left');
  t.equal(r1.dropReason, undefined);
  const r2 = b.run('in_port=1', { frame });
  t.equal(r2.packetIns.length, 0, 'over the rate: no packet-in');
  t.equal(r2.text, 'drop');
  t.equal(r2.dropReason, 'meter');
  t.match(dp.meterStats(0), { packets: 2, bands: [{ packets: 1 }] }, 'counted once each');
  // A packet-out through the tables goes through the same datapath meter.
  b.sw.tables.handleMessage(
    conn,
    {
      type: 'PACKET_OUT',
      xid: 1,
      bufferId: OFP_NO_BUFFER,
      inPort: OFPP.CONTROLLER,
      actions: [out(OFPP.TABLE)],
      data: frame,
    },
    new Uint8Array(),
  );
  t.match(dp.meterStats(0), { packets: 3, bands: [{ packets: 2 }] }, 'packet-out metered');
  b.sw.tables.syncMeterStats();
  t.equal(b.sw.tables.getMeter(1)!.packetInCount, 3n, 'and reported in the meter statistics');
  t.equal(b.run('in_port=1', { side: false }).text.startsWith('meter(0),12,'), true, 'trace');
  // A meter after the last packet-in stays for the datapath.
  b.flow(
    0,
    20,
    [{ field: 'in_port', value: 3 }],
    [apply(out(OFPP.CONTROLLER, 0xffff)), { type: 'GOTO_TABLE', tableId: 1 }],
  );
  b.flow(1, 0, [], [{ type: 'METER', meterId: 2 }, apply(out(2))]);
  const f3 = buildFrame(parseFlow('in_port=3').key);
  const r3 = b.run('in_port=3', { frame: f3 });
  t.equal(r3.packetIns.length, 1);
  t.match(r3.text, /^userspace\(.*\),meter\(1\),12$/);
  t.equal(dp.meterStats(1)!.packets, 0, 'not run ahead');
  t.end();
});

t.test('packet-out: actions, TABLE, executor, packet-in from CONTROLLER', (t) => {
  const b = bridge();
  const executed: { inPort: number; actions: readonly DpAction[] }[] = [];
  b.x.executor = { execute: (_f, inPort, actions) => executed.push({ inPort, actions }) };
  b.x.attach();
  const pins: unknown[] = [];
  b.sw.connmgr.sendAsync = (_kind, _reason, build) => {
    pins.push(build(conn));
    return 1;
  };
  b.flow(0, 10, [{ field: 'in_port', value: 1 }], [apply(out(3))], 0x5n);
  const data = buildFrame(parseFlow('udp,nw_src=10.0.0.1').key);
  const po = (inPort: number, actions: Action[]): void =>
    b.sw.tables.handleMessage(
      conn,
      { type: 'PACKET_OUT', xid: 1, bufferId: OFP_NO_BUFFER, inPort, actions, data },
      new Uint8Array(),
    );
  po(1, [out(OFPP.TABLE)]);
  t.same(executed.pop(), { inPort: 11, actions: [{ type: 'output', port: 13 }] });
  t.equal([...b.sw.tables.allRules()][0]!.packetCount, 1n, 'rule credited');
  po(1, [out(1)]);
  t.equal(executed.length, 0, 'output to the in_port without IN_PORT does nothing');
  po(OFPP.CONTROLLER, [out(2), out(OFPP.CONTROLLER, 0)]);
  t.same(executed.pop(), { inPort: 0xffffffff, actions: [{ type: 'output', port: 12 }] });
  t.equal(pins.length, 1);
  t.match(pins[0], {
    type: 'PACKET_IN',
    bufferId: OFP_NO_BUFFER,
    reason: OFPR.ACTION,
    tableId: 0,
    cookie: NO_COOKIE,
    match: [{ field: 'in_port', value: OFPP.CONTROLLER }],
    totalLen: data.length,
  });
  t.end();
});

// ---------------------------------------------------------------- megaflow property

t.test('megaflow: a packet agreeing on the mask translates to the same actions', (t) => {
  const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : 0x5eed;
  const ports = fc.integer({ min: 1, max: 4 });
  const ipv4 = fc.constantFrom(0x0a000001, 0x0a000002, 0x0a000101, 0x0b000001, 0xc0a80001);
  const tp = fc.constantFrom(22, 53, 80, 443);
  // Each match field is absent three times out of four, so that rules often match.
  const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
    fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: a, weight: 1 });
  const matchArb = fc.record({
    inPort: maybe(ports),
    ip: maybe(fc.constant(true)),
    src: maybe(fc.tuple(ipv4, fc.constantFrom(8, 16, 24, 32))),
    tcpDst: maybe(tp),
    vlan: maybe(fc.constantFrom(0x1000 | 10, 0x1000 | 20)),
  });
  const actionArb = fc.oneof(
    ports.map((p) => out(p)),
    fc.constant(out(OFPP.IN_PORT)),
    fc.constant(out(OFPP.NORMAL)),
    fc.constant(out(OFPP.FLOOD)),
    ipv4.map((v): Action => ({ type: 'SET_FIELD', field: 'ipv4_dst', value: v })),
    tp.map((v): Action => ({ type: 'SET_FIELD', field: 'tcp_src', value: v })),
    fc.constant<Action>({ type: 'DEC_NW_TTL' }),
    fc.constant<Action>({ type: 'PUSH_VLAN', ethertype: 0x8100 }),
    fc.constant<Action>({ type: 'POP_VLAN' }),
    fc.constantFrom<Action>({ type: 'GROUP', groupId: 1 }, { type: 'GROUP', groupId: 2 }),
  );
  const ruleArb = fc.record({
    table: fc.integer({ min: 0, max: 2 }),
    priority: fc.integer({ min: 1, max: 5 }),
    match: matchArb,
    actions: fc.array(actionArb, { minLength: 1, maxLength: 3 }),
    goto: fc.boolean(),
  });
  const pktArb = fc.record({
    inPort: ports,
    kind: fc.constantFrom('tcp', 'udp', 'arp', 'none'),
    src: ipv4,
    dst: ipv4,
    tpDst: tp,
    tpSrc: tp,
    ttl: fc.constantFrom(1, 2, 64),
    vlan: fc.constantFrom(0, 10, 20),
    mac: fc.constantFrom('00:00:00:00:00:01', '00:00:00:00:00:02', 'ff:ff:ff:ff:ff:ff'),
  });
  fc.assert(
    fc.property(
      fc.array(ruleArb, { maxLength: 12 }),
      fc.array(actionArb, { minLength: 1, maxLength: 3 }),
      pktArb,
      pktArb,
      fc.array(fc.nat(FLOW_KEY_WORDS * 32 - 1), { maxLength: 40 }),
      (rules, missActions, p1, p2, flips) => {
        const b = bridge();
        b.sw.getPort(3)!.vlan = { tag: 10 };
        b.sw.getPort(4)!.vlan = { mode: 'native-untagged', tag: 20, trunks: [10] };
        // Learn one MAC so NORMAL has a unicast case.
        b.x.mac.learn(0x000000000002, 10, 2);
        b.group(1, OFPGT.SELECT, [
          bucket([out(1)], { weight: 2 }),
          bucket([{ type: 'SET_FIELD', field: 'ipv4_dst', value: 0x0a000063 }, out(2)]),
          bucket([out(OFPP.NORMAL)]),
        ]);
        b.sw.setPortState(2, OFPPS.LINK_DOWN);
        b.group(2, OFPGT.FF, [
          bucket([out(2)], { watchPort: 2 }),
          bucket([out(3)], { watchPort: 3 }),
        ]);
        // A catch-all in each table so that most packets do something.
        for (const table of [0, 1, 2]) b.flow(table, 0, [], [apply(...missActions)]);
        for (const r of rules) {
          const m: Match = [];
          if (r.match.inPort !== undefined) m.push({ field: 'in_port', value: r.match.inPort });
          if (r.match.vlan !== undefined) m.push({ field: 'vlan_vid', value: r.match.vlan });
          if (r.match.ip || r.match.src || r.match.tcpDst !== undefined) {
            m.push({ field: 'eth_type', value: 0x0800 });
            if (r.match.src) {
              const [v, bits] = r.match.src;
              const mask = bits === 32 ? 0xffffffff : ~(2 ** (32 - bits) - 1) >>> 0;
              m.push({ field: 'ipv4_src', value: (v & mask) >>> 0, mask });
            }
            if (r.match.tcpDst !== undefined) {
              m.push({ field: 'ip_proto', value: 6 });
              m.push({ field: 'tcp_dst', value: r.match.tcpDst });
            }
          }
          const ins: Instruction[] = [apply(...r.actions)];
          if (r.goto && r.table < 2) ins.push({ type: 'GOTO_TABLE', tableId: r.table + 1 });
          try {
            b.flow(r.table, r.priority, m, ins);
          } catch {
            // invalid combination (e.g. prerequisites): skip
          }
        }
        const k1 = parseFlow(pktText(p1)).key;
        const r1 = b.x.translate({ key: k1, sideEffects: false });
        datapathMask(k1, r1.mask); // the property holds for the flow the datapath installs
        // A second packet: p2 forced to agree with p1 on the mask, plus random bit flips
        // outside the mask.
        const k2 = parseFlow(pktText(p2)).key;
        for (const bit of flips) k2[bit >>> 5] = (k2[bit >>> 5]! ^ (1 << (bit & 31))) >>> 0;
        for (let i = 0; i < FLOW_KEY_WORDS; i++)
          k2[i] = ((k1[i]! & r1.mask[i]!) | (k2[i]! & ~r1.mask[i]!)) >>> 0;
        const r2 = b.x.translate({ key: k2, sideEffects: false });
        const a1 = formatActions(r1.actions);
        const a2 = formatActions(r2.actions);
        if (a1 !== a2) throw new Error(`${pktText(p1)}: ${a1} vs ${a2}`);
      },
    ),
    { seed, numRuns: 500 },
  );
  t.pass('property held');
  t.end();
});

function pktText(p: {
  inPort: number;
  kind: string;
  src: number;
  dst: number;
  tpDst: number;
  tpSrc: number;
  ttl: number;
  vlan: number;
  mac: string;
}): string {
  const ip = (v: number): string => [24, 16, 8, 0].map((s) => (v >>> s) & 255).join('.');
  let s = `in_port=${p.inPort},dl_src=00:00:00:00:00:09,dl_dst=${p.mac}`;
  if (p.vlan !== 0) s += `,dl_vlan=${p.vlan}`;
  if (p.kind === 'tcp' || p.kind === 'udp')
    s += `,${p.kind},nw_src=${ip(p.src)},nw_dst=${ip(p.dst)},nw_ttl=${p.ttl},tp_src=${p.tpSrc},tp_dst=${p.tpDst}`;
  else if (p.kind === 'arp') s += `,arp,arp_spa=${ip(p.src)},arp_tpa=${ip(p.dst)}`;
  return s;
}

t.test('handleUpcall: datapath ports mapped, rules credited, slow flows not installed', (t) => {
  const b = bridge();
  b.flow(0, 10, [{ field: 'in_port', value: 1 }], [apply(out(2))]);
  b.flow(0, 5, [{ field: 'in_port', value: 2 }], [apply(out(OFPP.CONTROLLER, 0xffff))]);
  const sent: unknown[] = [];
  b.sw.connmgr.sendAsync = (_k, _r, build) => {
    sent.push(build(conn));
    return 1;
  };
  const frame = buildFrame(parseFlow('udp').key);
  const key = newFlowKey();
  extractFlowKey(frame, 0, frame.length, 11, key);
  const r = b.x.handleUpcall({ key, frame, inPort: 11 })!;
  t.same(r.actions, [{ type: 'output', port: 12 }]);
  t.equal(r.install, undefined, 'cacheable');
  t.equal(r.mask[W.IN_PORT], 0xffffffff);
  t.equal([...b.sw.tables.allRules()].find((x) => x.priority === 10)!.packetCount, 1n);
  extractFlowKey(frame, 0, frame.length, 12, key);
  const r2 = b.x.handleUpcall({ key, frame, inPort: 12 })!;
  t.equal(r2.install, false, 'controller flows stay on the slow path');
  t.equal(sent.length, 1);
  t.match(sent[0], { type: 'PACKET_IN', match: [{ field: 'in_port', value: 2 }] });
  t.equal(b.x.handleUpcall({ key, frame, inPort: 99 }), undefined, 'unknown port');
  t.end();
});

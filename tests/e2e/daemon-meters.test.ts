/**
 * Datapath meters through the whole daemon, side by side with OVS 3.1's userspace datapath: a
 * pktps and a kbps drop meter, each in front of an output, frames injected with netdev-dummy/receive. Both must
 * install one megaflow whose actions are `meter(0),<port>`, drop the packets over the burst in
 * the datapath (not every packet upcalled), and report the same counts in `ovs-ofctl
 * meter-stats` (packet_in_count, band packet_count = what the output port did not send).
 * Debian's ovs-vsctl/ovs-ofctl/ovs-appctl drive both; OVS runs through tests/helpers/ref-ovs.ts.
 */
import type { Test } from 'tap';
import t from 'tap';
import { buildFrame } from '../../lib/packet/build.js';
import { parseFlow } from '../../lib/packet/format.js';
import { standardComponents } from '../../vswitchd/components.js';
import { startDaemonInProcess } from '../helpers/daemon.js';
import { requirePeer } from '../helpers/peers.js';
import { startRefOvs } from '../helpers/ref-ovs.js';
import { runTool, type ToolResult } from '../helpers/tools.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const BR = 'h2br';
const N = 10;

/** One switch under test: its tools, bound to its sockets. */
interface Side {
  name: string;
  vsctl(...a: string[]): Promise<ToolResult>;
  appctl(...a: string[]): Promise<ToolResult>;
  ofctl(cmd: string, ...a: string[]): Promise<ToolResult>;
}

/** What one meter did: meter-stats counts and the packets its flow's output port sent. */
interface MeterOutcome {
  packetIn: number;
  bandPackets: number;
  tx: number;
}

interface Outcome {
  /** The megaflows' actions (dpctl/dump-flows -m), sorted. */
  actions: string[];
  /** dpctl/show lookups. */
  hit: number;
  missed: number;
  /** Meter 1 (pktps, port 1 → 2) and meter 2 (kbps, port 2 → 1). */
  m1: MeterOutcome;
  m2: MeterOutcome;
  /** `Datapath actions:` of ofproto/trace. */
  trace: string;
  /** The same after a set-field and a goto before the meter (from port 3). */
  traceChain: string;
}

const frameHex = Buffer.from(
  buildFrame(
    parseFlow(
      'dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,udp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=1,tp_dst=2',
    ).key,
    { minSize: 60 },
  ),
).toString('hex');

async function script(t: Test, s: Side): Promise<Outcome> {
  const ok = (r: ToolResult, what: string): void => {
    t.equal(r.code, 0, `${s.name}: ${what}: ${r.stderr}`);
  };
  for (const [i, p] of ['h2a', 'h2b', 'h2c'].entries())
    ok(
      await s.vsctl(
        'add-port',
        BR,
        p,
        '--',
        'set',
        'Interface',
        p,
        'type=dummy',
        `ofport_request=${i + 1}`,
      ),
      `add-port ${p}`,
    );
  ok(
    await s.ofctl('add-meter', 'meter=1,pktps,burst,stats,band=type=drop,rate=1,burst_size=3'),
    'add-meter',
  );
  // 1 kbit/s with a 1 kbit burst: two 480-bit frames, then one per 480 ms.
  ok(
    await s.ofctl('add-meter', 'meter=2,kbps,burst,stats,band=type=drop,rate=1,burst_size=1'),
    'add-meter 2',
  );
  ok(await s.ofctl('add-flow', 'in_port=1,actions=meter:1,output:2'), 'add-flow');
  ok(await s.ofctl('add-flow', 'in_port=2,actions=meter:2,output:1'), 'add-flow 2');
  ok(
    await s.ofctl(
      'add-flow',
      'in_port=3,actions=set_field:00:00:00:00:00:09->eth_dst,push_vlan:0x8100,set_field:4106->vlan_vid,goto_table:1',
    ),
    'add-flow 3',
  );
  ok(await s.ofctl('add-flow', 'table=1,in_port=3,actions=meter:2,output:2'), 'add-flow 4');
  const remark = await s.ofctl(
    'add-meter',
    'meter=3,pktps,band=type=dscp_remark,rate=1,prec_level=1',
  );
  // A deliberate difference: OVS 3.1's userspace datapath has drop bands only; ours remarks.
  if (s.name === 'ovs') t.match(remark.stderr, /OFPMMFC_BAD_BAND/, 'ovs: no dscp_remark bands');
  else ok(remark, 'tsvs: dscp_remark band accepted');
  const trChain = await s.appctl(
    'ofproto/trace',
    BR,
    'in_port=3,udp,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2',
  );
  ok(trChain, 'ofproto/trace chain');
  const tr = await s.appctl(
    'ofproto/trace',
    BR,
    'in_port=1,udp,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2',
  );
  ok(tr, 'ofproto/trace');
  t.match(tr.stdout, /meter:1/, `${s.name}: the trace shows the meter step`);
  for (let i = 0; i < N; i++) ok(await s.appctl('netdev-dummy/receive', 'h2a', frameHex), 'rx');
  for (let i = 0; i < N; i++) ok(await s.appctl('netdev-dummy/receive', 'h2b', frameHex), 'rx');
  let stats = '';
  for (let i = 0; i < 50; i++) {
    stats = (await s.ofctl('meter-stats')).stdout;
    if ((stats.match(new RegExp(`packet_in_count:${N}\\b`, 'g')) ?? []).length === 2) break;
    await sleep(100);
  }
  const flows = (await s.appctl('dpctl/dump-flows', '-m')).stdout;
  const show = (await s.appctl('dpctl/show')).stdout;
  const num = (re: RegExp, text: string): number => Number(re.exec(text)?.[1] ?? -1);
  const meter = async (id: number, outPort: number): Promise<MeterOutcome> => {
    const block = stats.split(/\bmeter:/).find((b) => b.startsWith(`${id} `)) ?? '';
    const ports = (await s.ofctl('dump-ports', BR, String(outPort))).stdout;
    return {
      packetIn: num(/packet_in_count:(\d+)/, block),
      bandPackets: num(/0: packet_count:(\d+)/, block),
      tx: num(/tx pkts=(\d+)/, ports),
    };
  };
  return {
    // OVS appends `, dp-extra-info:miniflow_bits(...)` with -m: not an action.
    actions: [...flows.matchAll(/, actions:(.*)/g)]
      .map((m) => m[1]!.replace(/, dp-extra-info:.*/, ''))
      .sort(),
    hit: num(/lookups: hit:(\d+)/, show),
    missed: num(/missed:(\d+)/, show),
    m1: await meter(1, 2),
    m2: await meter(2, 1),
    trace: /Datapath actions: (.*)/.exec(tr.stdout)?.[1] ?? '',
    traceChain: /Datapath actions: (.*)/.exec(trChain.stdout)?.[1] ?? '',
  };
}

t.test('pktps and kbps drop meters run in the datapath, as in OVS 3.1', async (t) => {
  if (!requirePeer(t, 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl', 'ovs-vswitchd', 'ovsdb-server'))
    return;
  const d = await startDaemonInProcess({ t, components: standardComponents() });
  const env = { OVS_RUNDIR: d.paths.rundir };
  const tsvs: Side = {
    name: 'tsvs',
    vsctl: (...a) =>
      runTool('ovs-vsctl', [`--db=unix:${d.paths.dbSocket}`, '--timeout=10', ...a], { env }),
    appctl: (...a) => runTool('ovs-appctl', ['-t', d.paths.ctl, ...a]),
    ofctl: (cmd, ...a) =>
      runTool('ovs-ofctl', ['-O', 'OpenFlow13', cmd, ...(a[0] === BR ? a : [BR, ...a])], { env }),
  };
  const r = await tsvs.vsctl('add-br', BR, '--', 'set-fail-mode', BR, 'secure');
  t.equal(r.code, 0, r.stderr);
  const ref = await startRefOvs({ bridge: BR, enableDummy: true });
  t.teardown(() => ref.stop());
  const ovs: Side = {
    name: 'ovs',
    vsctl: (...a) => ref.vsctl(...a),
    appctl: (...a) => ref.appctl(...a),
    ofctl: (cmd, ...a) =>
      runTool('ovs-ofctl', [
        '-O',
        'OpenFlow13',
        cmd,
        ...(a[0] === BR ? [ref.ofTarget, ...a.slice(1)] : [ref.ofTarget, ...a]),
      ]),
  };
  const [ours, theirs] = [await script(t, tsvs), await script(t, ovs)];
  t.comment(`tsvs: ${JSON.stringify(ours)}`);
  t.comment(`ovs:  ${JSON.stringify(theirs)}`);
  t.same(ours.actions, theirs.actions, 'the same megaflow actions (meter first)');
  t.same(ours.actions, ['meter(0),h2b', 'meter(1),h2a']);
  t.equal(ours.trace.replace(/\d+$/, 'P'), theirs.trace.replace(/\d+$/, 'P'), 'trace');
  t.match(ours.trace, /^meter\(0\),\d+$/);
  t.equal(ours.traceChain, theirs.traceChain, 'the meter before changes pending from table 0');
  t.match(ours.traceChain, /^meter\(1\),set\(eth\(dst=00:00:00:00:00:09\)\),push_vlan/);
  for (const o of [ours, theirs]) {
    for (const [m, burst] of [
      [o.m1, 3],
      [o.m2, 2],
    ] as const) {
      t.equal(m.packetIn, N, 'every packet went through the meter');
      // Refills over the injection time may let a few more through; never all of them.
      t.ok(m.tx >= burst && m.tx <= burst + 4, `the burst of ${burst} passed, not all (${m.tx})`);
      t.equal(m.bandPackets, N - m.tx, 'the band counted exactly the dropped packets');
    }
    t.ok(o.missed >= 2 && o.missed <= 4, `not every packet upcalled (missed ${o.missed})`);
    t.ok(o.hit >= 2 * N - 4, `the rest hit the cache (hit ${o.hit})`);
  }
});

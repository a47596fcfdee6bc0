/**
 * Patch ports against Open vSwitch 3.1: two bridges joined by a patch pair (br0 patch0 <->
 * br1 patch1) plus a patch port whose peer does not exist, the same flows installed with
 * ovs-ofctl -O OpenFlow13 on both switches, and the same flows traced with `ovs-appctl
 * ofproto/trace` on OVS and with our ofproto/trace: every line of the pipeline walk (both
 * bridges' blocks, the peer's `bridge("br1")` header included) and `Datapath actions:` must be
 * equal. Datapath port numbers are taken from OVS (dpif/show) so the actions are comparable;
 * megaflows are compared too, except after NORMAL (flooding is then compared as a set of
 * outputs: OVS floods in its hash map's order).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { realClock } from '../../lib/clock.js';
import { OFPP, OFPPF, OFPPS } from '../../openflow/constants.js';
import { Ofproto } from '../../ofproto/ofproto.js';
import { traceCommand } from '../../ofproto/trace.js';
import { Xlate } from '../../ofproto/xlate.js';
import { requirePeer } from '../helpers/peers.js';
import { startRefOvs } from '../helpers/ref-ovs.js';
import { runTool } from '../helpers/tools.js';

/** The lines worth comparing: the pipeline walk (every bridge) and the datapath actions. */
function keyLines(text: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^-+$/.test(l));
  const end = lines.findIndex((l) => l.startsWith('Final flow:'));
  const walk = lines.slice(start + 1, end).filter((l) => l.trim() !== '');
  const dp = lines.find((l) => l.startsWith('Datapath actions:')) ?? '(none)';
  const mf = lines.find((l) => l.startsWith('Megaflow:')) ?? '(none)';
  return [...walk, mf, dp].map((l) => l.replace(/recirc_id=\d+/g, 'recirc_id=N'));
}

t.test('ofproto/trace across patch ports equals OVS 3.1', async (t) => {
  if (!requirePeer(t, 'ovs-ofctl', 'ovs-vsctl', 'ovs-vswitchd', 'ovsdb-server', 'ovs-appctl', 'ip'))
    return;
  const dir = mkdtempSync(join(tmpdir(), 'tpp-patch-vs-'));
  const ref = await startRefOvs({ bridge: 'br0' });
  const sw0 = new Ofproto({
    name: 'br0',
    datapathId: 1n,
    clock: realClock,
    mgmtPath: join(dir, 'br0.mgmt'),
  });
  const sw1 = new Ofproto({
    name: 'br1',
    datapathId: 2n,
    clock: realClock,
    mgmtPath: join(dir, 'br1.mgmt'),
  });
  await sw0.start();
  await sw1.start();
  t.teardown(async () => {
    await sw0.close();
    await sw1.close();
    await ref.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const x0 = new Xlate({ ofproto: sw0, clock: realClock, failMode: 'secure' });
  const x1 = new Xlate({ ofproto: sw1, clock: realClock, failMode: 'secure' });

  const vs = async (...args: string[]): Promise<void> => {
    const r = await ref.vsctl(...args);
    t.equal(r.code, 0, `ovs-vsctl ${args.join(' ')}: ${r.stderr}`);
  };
  await vs(
    'add-br',
    'br1',
    '--',
    'set',
    'Bridge',
    'br1',
    'datapath_type=netdev',
    'fail_mode=secure',
    'protocols=OpenFlow13',
    'other_config:datapath-id=0000000000000002',
  );
  const iface = (br: string, name: string, ofport: number, ...opts: string[]): string[] => [
    '--',
    'add-port',
    br,
    name,
    '--',
    'set',
    'Interface',
    name,
    `ofport_request=${ofport}`,
    ...opts,
  ];
  await vs(
    ...iface('br0', 'p1', 1, 'type=internal').slice(1),
    ...iface('br0', 'patch0', 2, 'type=patch', 'options:peer=patch1'),
    ...iface('br0', 'patchm', 4, 'type=patch', 'options:peer=nothere'),
    ...iface('br1', 'patch1', 1, 'type=patch', 'options:peer=patch0'),
    ...iface('br1', 'p2', 2, 'type=internal'),
  );
  const ctl = join(ref.dir, 'ovs-vswitchd.ctl');
  const show = await runTool('ovs-appctl', ['-t', ctl, 'dpif/show']);
  // "    p1 1/3: (tap)", "    patch0 2/none: (patch: peer=patch1)"
  const ports = [...show.stdout.matchAll(/^\s+(\S+) (\d+)\/(\d+|none):/gm)].map((m) => ({
    name: m[1]!,
    ofport: Number(m[2]),
    dp: m[3] === 'none' ? undefined : Number(m[3]),
  }));
  t.equal(ports.length, 7, `dpif/show lists 2 bridges and 5 ports:\n${show.stdout}`);
  const br0Names = new Set(['br0', 'p1', 'patch0', 'patchm']);
  for (const p of ports) {
    const sw = br0Names.has(p.name) ? sw0 : sw1;
    const local = p.name === 'br0' || p.name === 'br1';
    const patch = p.dp === undefined;
    sw.addPort({
      ofport: local ? OFPP.LOCAL : p.ofport,
      name: p.name,
      hwAddr: 0x020000000000 + p.ofport,
      config: 0,
      state: OFPPS.LIVE,
      curr: OFPPF['10GB_FD'] | OFPPF.COPPER,
      currSpeed: 10_000_000,
      maxSpeed: 0,
      ...(patch
        ? {
            patchPeer: () =>
              p.name === 'patch0'
                ? { xlate: x1, ofport: 1 }
                : p.name === 'patch1'
                  ? { xlate: x0, ofport: 2 }
                  : undefined,
          }
        : { dpPort: p.dp! }),
    });
  }

  const flows: [string, string][] = [
    ['br0', 'priority=10,dl_dst=00:00:00:00:00:01,actions=output:2'],
    [
      'br1',
      'priority=10,in_port=1,dl_dst=00:00:00:00:00:01,actions=set_field:00:00:00:00:00:09->eth_dst,output:2',
    ],
    ['br0', 'priority=10,dl_dst=00:00:00:00:00:02,actions=output:2'],
    ['br1', 'priority=10,in_port=1,dl_dst=00:00:00:00:00:02,actions=goto_table:1'],
    ['br1', 'table=1,priority=10,actions=write_actions(output:2)'],
    ['br0', 'priority=10,dl_dst=00:00:00:00:00:03,actions=output:4'],
    ['br0', 'priority=10,dl_dst=00:00:00:00:00:05,actions=NORMAL'],
    ['br1', 'priority=10,in_port=1,dl_dst=00:00:00:00:00:05,actions=NORMAL'],
    ['br0', 'priority=10,dl_dst=00:00:00:00:00:06,actions=write_metadata:0x5,goto_table:1'],
    ['br0', 'table=1,priority=10,metadata=0x5,actions=output:2'],
    ['br1', 'priority=10,in_port=1,metadata=0,dl_dst=00:00:00:00:00:06,actions=output:2'],
    ['br0', 'priority=10,ip,dl_dst=00:00:00:00:00:07,actions=output:2,IN_PORT'],
    [
      'br1',
      'priority=10,in_port=1,ip,dl_dst=00:00:00:00:00:07,actions=set_field:10.0.0.9->ip_dst,output:2',
    ],
    ['br0', 'priority=10,dl_dst=00:00:00:00:00:08,actions=output:2'],
    ['br0', 'priority=20,in_port=2,dl_dst=00:00:00:00:00:08,actions=IN_PORT'],
    ['br1', 'priority=10,in_port=1,dl_dst=00:00:00:00:00:08,actions=IN_PORT'],
  ];
  for (const [br, flow] of flows) {
    const sock = (d: string): string => `unix:${join(d, `${br}.mgmt`)}`;
    for (const target of [sock(ref.dir), sock(dir)]) {
      const r = await runTool('ovs-ofctl', ['-O', 'OpenFlow13', 'add-flow', target, flow], {
        timeoutMs: 30_000,
      });
      t.equal(r.code, 0, `add-flow ${flow} on ${target}: ${r.stderr}`);
    }
  }

  const traces = [
    'in_port=1,dl_src=00:00:00:00:00:0a,dl_dst=00:00:00:00:00:01',
    'in_port=1,dl_src=00:00:00:00:00:0a,dl_dst=00:00:00:00:00:02',
    'in_port=1,dl_src=00:00:00:00:00:0a,dl_dst=00:00:00:00:00:03',
    'in_port=1,dl_src=00:00:00:00:00:0a,dl_dst=00:00:00:00:00:05',
    'in_port=1,dl_src=00:00:00:00:00:0a,dl_dst=00:00:00:00:00:06',
    'in_port=1,tcp,dl_src=00:00:00:00:00:0a,dl_dst=00:00:00:00:00:07,nw_dst=10.0.0.1',
  ];
  // A loop of patch ports ends in the innermost peer bridge, the translation itself does not fail
  // (OVS: a peer's errors do not propagate back). OVS's top-level table runs at depth 0 where
  // ours counts 1, so OVS crosses once more: compare how it ends, not the number of crossings.
  {
    const flow = 'in_port=1,dl_src=00:00:00:00:00:0a,dl_dst=00:00:00:00:00:08';
    const want = await runTool('ovs-appctl', ['-t', ctl, 'ofproto/trace', 'br0', flow]);
    const got = traceCommand(['br0', flow], (n) =>
      n === 'br0' ? x0 : n === 'br1' ? x1 : undefined,
    );
    const tail = (text: string): string[] =>
      text
        .split('\n')
        .slice(-7)
        .map((l) => l.replace(/bridge\("br[01]"\)/, 'bridge(BR)'));
    t.same(tail(got), tail(want.stdout), `patch loop\n${want.stdout.slice(-600)}`);
    const crossings = (text: string): number => text.split('\n-------------').length - 1;
    t.equal(crossings(got) + 1, crossings(want.stdout), 'OVS crosses once more (depth 0 vs 1)');
  }
  const lookup = (n: string): Xlate | undefined =>
    n === 'br0' ? x0 : n === 'br1' ? x1 : undefined;
  for (const flow of traces) {
    const want = await runTool('ovs-appctl', ['-t', ctl, 'ofproto/trace', 'br0', flow]);
    t.equal(want.code, 0, `OVS trace ${flow}: ${want.stderr}`);
    const got = traceCommand(['br0', flow], lookup);
    // NORMAL: flooding order aside (the megaflows are compared too).
    const normal = flow.includes(':05');
    const norm = (l: string[]): string[] =>
      l.map((s) =>
        normal && s.startsWith('Datapath actions:') ? s.split(',').sort().join(',') : s,
      );
    t.same(norm(keyLines(got)), norm(keyLines(want.stdout)), `trace ${flow}\n${want.stdout}`);
  }
});

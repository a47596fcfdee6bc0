/**
 * One ovs-ofctl -O OpenFlow13 script run against Open vSwitch 3.1 and against tsvs in the same
 * test; the outputs (stdout, stderr and exit code of every command) must be equal once durations
 * are blanked. This is how we know our flow-mod, group and meter semantics and our statistics
 * read-back match OVS's.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { realClock } from '../../lib/clock.js';
import { OFPP, OFPPC, OFPPF, OFPPS } from '../../openflow/constants.js';
import { Ofproto } from '../../ofproto/ofproto.js';
import { requirePeer } from '../helpers/peers.js';
import { startRefOvs } from '../helpers/ref-ovs.js';
import { runTool } from '../helpers/tools.js';

function normalize(s: string): string {
  return s
    .replace(/duration[=:][0-9.]+s/g, 'duration=X')
    .replace(/\(xid=0x[0-9a-f]+\)/g, '(xid=X)')
    .replace(/unix:\S+\.mgmt/g, 'SWITCH');
}

t.test('the same ovs-ofctl script gives the same output on OVS 3.1 and tsvs', async (t) => {
  if (!requirePeer(t, 'ovs-ofctl', 'ovs-vsctl', 'ovs-vswitchd', 'ovsdb-server', 'ip')) return;
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-ofctl-vs-'));
  const flowsFile = join(dir, 'flows.txt');
  const lines: string[] = [];
  for (let i = 0; i < 200; i++)
    lines.push(
      `table=2,priority=${100 + (i % 7)},ip,nw_dst=10.1.${i >> 8}.${i & 255},actions=output:${1 + (i % 3)}`,
    );
  writeFileSync(flowsFile, lines.join('\n') + '\n');
  const bundleFile = join(dir, 'bundle.txt');
  writeFileSync(
    bundleFile,
    ['table=3,priority=1,actions=drop', 'table=3,priority=2,udp,tp_dst=53,actions=output:2'].join(
      '\n',
    ) + '\n',
  );

  const ref = await startRefOvs({ bridge: 'br0' });
  const sw = new Ofproto({
    name: 'br0',
    datapathId: 1n,
    clock: realClock,
    mgmtPath: join(dir, 'br0.mgmt'),
  });
  sw.addPort({
    ofport: OFPP.LOCAL,
    name: 'br0',
    hwAddr: 0x020000000001,
    config: OFPPC.PORT_DOWN,
    state: OFPPS.LINK_DOWN,
    curr: OFPPF['10GB_FD'] | OFPPF.COPPER,
    currSpeed: 10_000_000,
    maxSpeed: 0,
  });
  await sw.start();
  t.teardown(async () => {
    await sw.close();
    await ref.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const script: string[][] = [
    ['add-flow', 'table=0,priority=100,ip,nw_src=10.0.0.0/24,actions=output:1'],
    ['add-flow', 'table=0,priority=50,in_port=1,actions=drop'],
    ['add-flow', 'table=0,priority=10,actions=goto_table:1'],
    ['add-flow', 'table=1,priority=10,tcp,tp_dst=80,actions=set_field:10.0.0.9->ip_dst,output:2'],
    ['add-flow', 'table=1,priority=5,cookie=0x10,dl_vlan=10,actions=pop_vlan,output:3'],
    ['add-flow', 'table=1,priority=4,cookie=0x20,arp,actions=output:controller'],
    [
      'add-flow',
      'table=1,priority=3,idle_timeout=60,hard_timeout=120,send_flow_rem,dl_src=00:00:00:00:00:01,actions=push_vlan:0x8100,set_field:4100->vlan_vid,output:4',
    ],
    ['add-flows', flowsFile],
    ['dump-flows'],
    ['dump-aggregate'],
    ['dump-flows', 'table=2,ip,nw_dst=10.1.0.7'],
    ['mod-flows', 'table=0,ip,actions=output:3'],
    ['mod-flows', '--strict', 'table=0,priority=50,in_port=1,actions=output:2'],
    ['mod-flows', 'table=1,cookie=0x10/0xff,actions=output:5'],
    ['del-flows', 'table=2,ip,nw_dst=10.1.0.0/28'],
    ['del-flows', '--strict', 'table=1,priority=5,dl_vlan=10'],
    ['del-flows', 'table=1,out_port=controller'],
    ['dump-flows', 'table=0'],
    ['dump-flows', 'table=1'],
    ['dump-aggregate', 'table=2'],
    ['add-flow', 'table=0,priority=100,ip,nw_src=10.0.0.0/24,actions=output:7'],
    ['--bundle', 'add-flows', bundleFile],
    ['dump-flows', 'table=3'],
    ['add-flow', 'table=6,priority=1,tcp,tp_dst=0x1000/0xf000,actions=drop'],
    ['add-flow', 'table=6,priority=2,udp,tp_src=0x0400/0xfc00,actions=drop'],
    ['dump-flows', 'table=6'],
    ['del-flows', 'table=6,tcp,tp_dst=0x1000/0xf000'],
    ['dump-flows', 'table=6'],
    ['add-group', 'group_id=1,type=all,bucket=output:1,bucket=output:2'],
    ['add-group', 'group_id=2,type=select,bucket=weight:10,output:1,bucket=weight:20,output:2'],
    ['add-group', 'group_id=3,type=indirect,bucket=output:3'],
    ['add-group', 'group_id=4,type=ff,bucket=watch_port:1,output:1,bucket=watch_port:2,output:2'],
    ['add-group', 'group_id=1,type=all,bucket=output:1'],
    ['add-flow', 'table=4,priority=1,actions=group:1'],
    ['add-flow', 'table=4,priority=2,actions=group:99'],
    ['dump-groups'],
    ['mod-group', 'group_id=3,type=indirect,bucket=output:4'],
    ['mod-group', 'group_id=50,type=indirect,bucket=output:4'],
    ['dump-groups'],
    ['dump-group-stats'],
    ['del-groups', 'group_id=1'],
    ['dump-flows', 'table=4'],
    ['del-groups', 'group_id=77'],
    ['dump-groups'],
    ['add-meter', 'meter=1,kbps,band=type=drop,rate=1000'],
    ['add-meter', 'meter=2,pktps,burst,stats,band=type=drop,rate=100,burst_size=10'],
    ['add-meter', 'meter=1,kbps,band=type=drop,rate=5'],
    ['add-flow', 'table=5,priority=1,actions=meter:1,output:1'],
    ['add-flow', 'table=5,priority=2,actions=meter:9,output:1'],
    ['dump-meters'],
    ['meter-stats'],
    ['del-meters'],
    ['dump-meters'],
    ['add-flow', 'table=0,priority=1,in_port=1,actions=output:1,output:2', '--check-overlap'],
    ['del-flows', '--strict', 'table=0,priority=1,in_port=1'],
    ['add-flow', 'table=0,priority=100,ip,actions=drop', '--check-overlap'],
    ['del-flows'],
    ['dump-flows'],
  ];
  for (const cmd of script) {
    const run = (target: string) =>
      runTool('ovs-ofctl', ['-O', 'OpenFlow13', ...withTarget(cmd, target)], { timeoutMs: 30_000 });
    const want = await run(ref.ofTarget);
    const got = await run(`unix:${join(dir, 'br0.mgmt')}`);
    const label = cmd.join(' ').replace(dir, '<dir>');
    t.equal(got.code, want.code, `${label}: exit code`);
    t.equal(
      sortedIfDump(cmd, normalize(got.stdout)),
      sortedIfDump(cmd, normalize(want.stdout)),
      `${label}: stdout`,
    );
    t.equal(normalize(got.stderr), normalize(want.stderr), `${label}: stderr`);
  }
});

/** Puts the switch target where ovs-ofctl wants it: after the command name and its options. */
function withTarget(cmd: string[], target: string): string[] {
  const opts = cmd.filter((a) => a.startsWith('--'));
  const rest = cmd.filter((a) => !a.startsWith('--'));
  return [...opts, rest[0]!, target, ...rest.slice(1)];
}

/** Flow and group dumps come in each switch's internal order; compare them sorted. */
function sortedIfDump(cmd: string[], out: string): string {
  const name = cmd.find((a) => !a.startsWith('--'))!;
  if (!['dump-flows', 'dump-groups', 'dump-group-stats'].includes(name)) return out;
  const [head, ...body] = out.split('\n');
  // Every flow and every group prints on one line.
  return [head, ...body.filter((l) => l.trim() !== '').sort()].join('\n');
}

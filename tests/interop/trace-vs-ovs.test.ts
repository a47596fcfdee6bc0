/**
 * ofproto/trace against Open vSwitch 3.1: the same flows, groups and port VLAN settings are
 * installed (with ovs-ofctl -O OpenFlow13 on both switches), the same flows are traced with
 * `ovs-appctl ofproto/trace` on OVS and with our ofproto/trace, and the key lines must be equal:
 * every table/rule line and action line of the pipeline walk, and `Datapath actions:`.
 * Datapath port numbers are taken from OVS (dpif/show) so the actions are comparable. Megaflows
 * are compared for rule-based flows in tests/interop/megaflow-prefix-vs-ovs.test.ts (prefix and
 * ports tries) and for NORMAL in tests/interop/normal-megaflow-vs-ovs.test.ts, not here. OVS's
 * frozen-state ids in `controller(recirc_id=N)` are blanked.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { realClock } from '../../lib/clock.js';
import { OFPP, OFPPC, OFPPF, OFPPS } from '../../openflow/constants.js';
import { Ofproto } from '../../ofproto/ofproto.js';
import { traceCommand } from '../../ofproto/trace.js';
import { Xlate } from '../../ofproto/xlate.js';
import { requirePeer } from '../helpers/peers.js';
import { startRefOvs } from '../helpers/ref-ovs.js';
import { runTool } from '../helpers/tools.js';

/** The lines worth comparing: the pipeline walk and the datapath actions. */
function keyLines(text: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^-+$/.test(l));
  const end = lines.findIndex((l) => l.startsWith('Final flow:'));
  const walk = lines.slice(start + 1, end).filter((l) => l.trim() !== '');
  const dp = lines.find((l) => l.startsWith('Datapath actions:')) ?? '(none)';
  return [...walk, dp].map((l) => l.replace(/recirc_id=\d+/g, 'recirc_id=N'));
}

t.test('ofproto/trace: rule lines and datapath actions equal OVS 3.1', async (t) => {
  if (!requirePeer(t, 'ovs-ofctl', 'ovs-vsctl', 'ovs-vswitchd', 'ovsdb-server', 'ovs-appctl', 'ip'))
    return;
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-trace-vs-'));
  const ref = await startRefOvs({ bridge: 'br0' });
  const sw = new Ofproto({
    name: 'br0',
    datapathId: 1n,
    clock: realClock,
    mgmtPath: join(dir, 'br0.mgmt'),
  });
  await sw.start();
  t.teardown(async () => {
    await sw.close();
    await ref.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const x = new Xlate({ ofproto: sw, clock: realClock, failMode: 'secure' });

  const vlans: Record<string, string[]> = {
    p1: [],
    p2: ['tag=10'],
    p3: ['trunks=10,20'],
    p4: ['tag=20', 'vlan_mode=native-untagged', 'trunks=10,20'],
  };
  for (const [i, name] of ['p1', 'p2', 'p3', 'p4'].entries()) {
    const r = await ref.vsctl(
      'add-port',
      'br0',
      name,
      '--',
      'set',
      'Interface',
      name,
      'type=internal',
      `ofport_request=${i + 1}`,
      '--',
      'set',
      'Port',
      name,
      ...(vlans[name]!.length ? vlans[name]! : ['other_config={}']),
    );
    t.equal(r.code, 0, `add-port ${name}: ${r.stderr}`);
  }
  const show = await runTool('ovs-appctl', ['-t', join(ref.dir, 'ovs-vswitchd.ctl'), 'dpif/show']);
  const odp = new Map<string, [number, number]>();
  for (const m of show.stdout.matchAll(/^\s+(\S+) (\d+)\/(\d+):/gm))
    odp.set(m[1]!, [Number(m[2]), Number(m[3])]);
  t.equal(odp.size, 5, `dpif/show lists br0 and 4 ports:\n${show.stdout}`);
  for (const [name, [ofport, dpPort]] of odp) {
    const p = sw.addPort({
      ofport: name === 'br0' ? OFPP.LOCAL : ofport,
      name,
      hwAddr: 0x020000000000 + dpPort,
      config: OFPPC.PORT_DOWN,
      state: OFPPS.LINK_DOWN,
      curr: OFPPF['10GB_FD'] | OFPPF.COPPER,
      currSpeed: 10_000_000,
      maxSpeed: 0,
      dpPort,
    });
    if (name === 'p2') p.vlan = { tag: 10 };
    if (name === 'p3') p.vlan = { trunks: [10, 20] };
    if (name === 'p4') p.vlan = { mode: 'native-untagged', tag: 20, trunks: [10, 20] };
  }

  const ofctl = [
    ['add-group', 'group_id=1,type=all,bucket=set_field:10.9.9.9->ip_dst,output:1,bucket=output:2'],
    ['add-group', 'group_id=2,type=indirect,bucket=output:3'],
    ['add-group', 'group_id=3,type=ff,bucket=watch_port:1,output:1,bucket=watch_port:2,output:2'],
    ['add-flow', 'table=0,priority=100,ip,nw_src=10.0.0.0/24,actions=output:1'],
    ['add-flow', 'table=0,priority=90,in_port=4,actions=NORMAL'],
    ['add-flow', 'table=0,priority=85,in_port=3,dl_type=0x88b5,actions=LOCAL'],
    ['add-flow', 'table=0,priority=80,in_port=2,actions=output:1,output:2,IN_PORT,output:9'],
    ['add-flow', 'table=0,priority=10,actions=goto_table:1'],
    ['add-flow', 'table=1,priority=10,tcp,tp_dst=80,actions=set_field:10.0.0.9->ip_dst,output:2'],
    [
      'add-flow',
      'table=1,priority=9,tcp,tp_dst=81,actions=dec_ttl,set_field:5555->tcp_src,output:3',
    ],
    ['add-flow', 'table=1,priority=8,udp,actions=group:1'],
    ['add-flow', 'table=1,priority=7,icmp,actions=group:2,group:3'],
    ['add-flow', 'table=1,priority=6,dl_vlan=10,actions=pop_vlan,output:3'],
    [
      'add-flow',
      'table=1,priority=5,dl_src=00:00:00:00:00:01,actions=push_vlan:0x8100,set_field:4107->vlan_vid,output:4',
    ],
    ['add-flow', 'table=1,priority=4,cookie=0x20,arp,actions=output:controller'],
    ['add-flow', 'table=1,priority=3,ipv6,actions=set_field:00:00:00:00:00:aa->eth_dst,FLOOD'],
    [
      'add-flow',
      'table=1,priority=2,sctp,actions=write_actions(output:1),write_metadata:0x5/0xff,goto_table:2',
    ],
    ['add-flow', 'table=2,priority=1,metadata=0x5/0xff,actions=output:2'],
    ['add-flow', 'table=2,priority=0,actions=clear_actions'],
  ];
  for (const cmd of ofctl) {
    for (const target of [ref.ofTarget, `unix:${join(dir, 'br0.mgmt')}`]) {
      const r = await runTool('ovs-ofctl', ['-O', 'OpenFlow13', cmd[0]!, target, cmd[1]!], {
        timeoutMs: 30_000,
      });
      t.equal(r.code, 0, `${cmd.join(' ')} on ${target}: ${r.stderr}`);
    }
  }

  const flows = [
    'in_port=3,ip,nw_src=10.0.0.5',
    'in_port=3,dl_type=0x88b5',
    'in_port=3,tcp,nw_src=10.1.0.1,nw_dst=10.2.0.2,tp_dst=80',
    'in_port=1,tcp,nw_src=10.1.0.1,nw_ttl=64,tp_dst=81',
    'in_port=1,tcp,nw_src=10.1.0.1,nw_ttl=1,tp_dst=81',
    'in_port=3,udp,nw_src=10.1.0.1,nw_dst=10.2.0.2',
    'in_port=3,icmp,nw_src=10.1.0.1',
    'in_port=3,dl_vlan=10,dl_src=00:00:00:00:00:02',
    'in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02',
    'in_port=3,arp',
    'in_port=3,ipv6',
    'in_port=3,tcp,nw_src=10.1.0.1,tp_dst=99',
    'in_port=3,sctp,nw_src=10.1.0.1',
    'in_port=2,dl_src=00:00:00:00:00:02',
    'in_port=4,dl_src=00:00:00:00:00:03,dl_dst=ff:ff:ff:ff:ff:ff',
    'in_port=4,dl_vlan=10,dl_src=00:00:00:00:00:03,dl_dst=ff:ff:ff:ff:ff:ff',
    'in_port=4,dl_vlan=30,dl_src=00:00:00:00:00:03,dl_dst=ff:ff:ff:ff:ff:ff',
  ];
  for (const flow of flows) {
    const want = await runTool('ovs-appctl', [
      '-t',
      join(ref.dir, 'ovs-vswitchd.ctl'),
      'ofproto/trace',
      'br0',
      flow,
    ]);
    t.equal(want.code, 0, `OVS trace ${flow}: ${want.stderr}`);
    const got = traceCommand(['br0', flow], (n) => (n === 'br0' ? x : undefined));
    if (flow === 'in_port=3,ipv6') {
      // FLOOD: OVS outputs in its port hash map's order; compare the set of outputs.
      const norm = (l: string[]): string[] =>
        l.map((s) => (s.startsWith('Datapath actions:') ? s.split(',').sort().join(',') : s));
      t.same(
        norm(keyLines(got)),
        norm(keyLines(want.stdout)),
        `trace ${flow} (output order aside)`,
      );
    } else {
      t.same(keyLines(got), keyLines(want.stdout), `trace ${flow}`);
    }
  }
});

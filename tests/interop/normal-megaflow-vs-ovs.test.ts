/**
 * NORMAL's megaflow against Open vSwitch 3.1: one bridge with an `actions=NORMAL` flow and ports
 * in every VLAN mode (no VLAN config, access, trunk, native-untagged, native-tagged) on OVS and on
 * tsvs; untagged, tagged and priority-tagged frames are traced with `ovs-appctl ofproto/trace`
 * and with our ofproto/trace, and the `Megaflow:` lines must be equal. OVS's NORMAL un-wildcards
 * VID and CFI only (PCP only when a pop_vlan makes the datapath match the whole tag), and a VLAN
 * header the packet does not have is never part of the megaflow (xlate_wc_finish). The datapath
 * actions are compared as multisets (flooding order is OVS's bundle order).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { realClock } from '../../lib/clock.js';
import { OFPP, OFPPC, OFPPF, OFPPS } from '../../openflow/constants.js';
import type { PortVlan } from '../../ofproto/normal.js';
import { Ofproto } from '../../ofproto/ofproto.js';
import { traceCommand } from '../../ofproto/trace.js';
import { Xlate } from '../../ofproto/xlate.js';
import { requirePeer } from '../helpers/peers.js';
import { startRefOvs } from '../helpers/ref-ovs.js';
import { runTool } from '../helpers/tools.js';

function line(text: string, prefix: string): string {
  return text.split('\n').find((l) => l.startsWith(prefix)) ?? `(no ${prefix})`;
}

/** `Datapath actions:` as a sorted multiset of its top-level actions. */
function actionSet(text: string): string {
  const l = line(text, 'Datapath actions: ').slice('Datapath actions: '.length);
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of l) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts.sort().join(',');
}

t.test('NORMAL: Megaflow lines equal OVS 3.1 for untagged, access and trunk frames', async (t) => {
  if (!requirePeer(t, 'ovs-ofctl', 'ovs-vsctl', 'ovs-vswitchd', 'ovsdb-server', 'ovs-appctl', 'ip'))
    return;
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-h3-normal-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ref = await startRefOvs({ bridge: 'br0' });
  t.teardown(() => ref.stop());
  const sw = new Ofproto({
    name: 'br0',
    datapathId: 1n,
    clock: realClock,
    mgmtPath: join(dir, 'br0.mgmt'),
  });
  t.teardown(() => sw.close());
  await sw.start();
  const x = new Xlate({ ofproto: sw, clock: realClock, failMode: 'secure' });

  const ports: [string, string[], PortVlan | undefined][] = [
    ['p1', [], undefined],
    ['p2', ['tag=10'], { tag: 10 }],
    ['p3', ['trunks=10,20'], { trunks: [10, 20] }],
    [
      'p4',
      ['tag=20', 'vlan_mode=native-untagged', 'trunks=10,20'],
      { mode: 'native-untagged', tag: 20, trunks: [10, 20] },
    ],
    [
      'p5',
      ['tag=10', 'vlan_mode=native-tagged', 'trunks=10,20'],
      { mode: 'native-tagged', tag: 10, trunks: [10, 20] },
    ],
  ];
  for (const [i, [name, cfg]] of ports.entries()) {
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
      ...(cfg.length ? cfg : ['other_config={}']),
    );
    t.equal(r.code, 0, `add-port ${name}: ${r.stderr}`);
  }
  const show = await ref.appctl('dpif/show');
  const odp = new Map<string, [number, number]>();
  for (const m of show.stdout.matchAll(/^\s+(\S+) (\d+)\/(\d+):/gm))
    odp.set(m[1]!, [Number(m[2]), Number(m[3])]);
  t.equal(odp.size, 6, `dpif/show lists br0 and 5 ports:\n${show.stdout}`);
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
    const vlan = ports.find(([n]) => n === name)?.[2];
    if (vlan) p.vlan = vlan;
  }
  for (const target of [ref.ofTarget, `unix:${join(dir, 'br0.mgmt')}`]) {
    const r = await runTool(
      'ovs-ofctl',
      ['-O', 'OpenFlow13', 'add-flow', target, 'priority=0,actions=NORMAL'],
      { timeoutMs: 30_000 },
    );
    t.equal(r.code, 0, `add-flow on ${target}: ${r.stderr}`);
  }

  const eth = 'dl_src=00:00:00:00:00:0a,dl_dst=ff:ff:ff:ff:ff:ff';
  const uni = 'dl_src=00:00:00:00:00:0a,dl_dst=00:00:00:00:00:0b';
  const flows = [
    // No VLAN config (trunk of every VLAN): untagged, tagged, tagged with a PCP, unicast, IP.
    `in_port=1,${eth}`,
    `in_port=1,${uni}`,
    `in_port=1,dl_vlan=5,${eth}`,
    `in_port=1,dl_vlan=5,dl_vlan_pcp=3,${eth}`,
    `in_port=1,dl_vlan=10,dl_vlan_pcp=6,${eth}`,
    `in_port=1,${eth},ip,nw_src=10.0.0.1,nw_dst=10.0.0.2`,
    // Access port: untagged, priority-tagged, tagged (dropped).
    `in_port=2,${eth}`,
    `in_port=2,dl_vlan=0,dl_vlan_pcp=3,${eth}`,
    `in_port=2,dl_vlan=10,${eth}`,
    // Trunk: allowed VLANs with PCPs, a VLAN it does not trunk, untagged (VLAN 0 not trunked).
    `in_port=3,dl_vlan=10,${eth}`,
    `in_port=3,dl_vlan=10,dl_vlan_pcp=5,${eth}`,
    `in_port=3,dl_vlan=20,dl_vlan_pcp=7,${eth}`,
    `in_port=3,dl_vlan=30,${eth}`,
    `in_port=3,${eth}`,
    // Native VLAN ports: untagged joins the native VLAN; tagged trunked VLANs.
    `in_port=4,${eth}`,
    `in_port=4,dl_vlan=10,dl_vlan_pcp=2,${eth}`,
    `in_port=4,dl_vlan=20,${eth}`,
    `in_port=5,${eth}`,
    `in_port=5,dl_vlan=20,dl_vlan_pcp=1,${eth}`,
  ];
  for (const flow of flows) {
    const want = await ref.appctl('ofproto/trace', 'br0', flow);
    t.equal(want.code, 0, `OVS trace ${flow}: ${want.stderr}`);
    const got = traceCommand(['br0', flow], (n) => (n === 'br0' ? x : undefined));
    t.equal(line(got, 'Megaflow: '), line(want.stdout, 'Megaflow: '), `Megaflow of ${flow}`);
    t.equal(actionSet(got), actionSet(want.stdout), `datapath actions of ${flow}`);
  }
});

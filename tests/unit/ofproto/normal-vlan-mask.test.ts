/**
 * NORMAL's VLAN megaflow mask (as OVS 3.1, checked against it in
 * tests/interop/normal-megaflow-vs-ovs.test.ts): VID and CFI only, the whole tag once a pop_vlan
 * is emitted, nothing for a tag the packet does not have; and the mask the datapath installs
 * (handleUpcall) matches a missing tag as missing, so tagged frames never hit untagged flows.
 */
import t from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import { buildFrame } from '../../../lib/packet/build.js';
import { extractFlowKey } from '../../../lib/packet/extract.js';
import { W, newFlowKey } from '../../../lib/packet/flow-key.js';
import { parseFlow } from '../../../lib/packet/format.js';
import { formatActions } from '../../../datapath/actions.js';
import { OFPP, OFPPS } from '../../../openflow/constants.js';
import type { Ofconn } from '../../../ofproto/ofconn.js';
import type { PortVlan } from '../../../ofproto/normal.js';
import { Ofproto } from '../../../ofproto/ofproto.js';
import { Xlate, datapathMask } from '../../../ofproto/xlate.js';
import { addFlow } from '../../helpers/flow-mod.js';

function bridge() {
  const clock = new FakeClock();
  const sw = new Ofproto({ name: 'br0', datapathId: 1n, clock });
  const add = (ofport: number, dpPort: number, vlan?: PortVlan): void => {
    const p = sw.addPort({
      ofport,
      name: `p${ofport}`,
      hwAddr: 0x020000000000 + dpPort,
      config: 0,
      state: OFPPS.LIVE,
      curr: 0,
      currSpeed: 0,
      maxSpeed: 0,
      dpPort,
    });
    if (vlan) p.vlan = vlan;
  };
  add(1, 11); // every VLAN
  add(2, 12, { tag: 10 }); // access 10
  add(3, 13, { trunks: [10, 20] }); // trunk
  const x = new Xlate({ ofproto: sw, clock, failMode: 'secure' });
  sw.tables.handleMessage(
    {} as Ofconn,
    addFlow(0, [], [{ type: 'OUTPUT', port: OFPP.NORMAL, maxLen: 0 }]),
    new Uint8Array(),
  );
  return x;
}

const BCAST = 'dl_src=00:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff';

t.test('the megaflow (trace) mask: VID|CFI, whole tag when popped, nothing when untagged', (t) => {
  const x = bridge();
  const mask = (flow: string) => {
    const r = x.translate({ key: parseFlow(flow).key, sideEffects: false });
    return { v0: r.mask[W.VLAN0]!, v1: r.mask[W.VLAN1]!, acts: formatActions(r.actions) };
  };
  // Untagged on port 1 (VLAN 0, which no other port carries): nothing about a tag.
  t.same(mask(`in_port=1,${BCAST}`), { v0: 0, v1: 0, acts: 'drop' });
  // Untagged on the access port: pushed towards 1 and 3, yet the packet has no tag to match.
  t.same(mask(`in_port=2,${BCAST}`), { v0: 0, v1: 0, acts: 'push_vlan(vid=10,pcp=0),11,13' });
  // Tagged 20 on the trunk, to port 1 (same tag) only: VID|CFI, PCP wildcarded.
  t.same(mask(`in_port=3,dl_vlan=20,dl_vlan_pcp=5,${BCAST}`), { v0: 0x1fff, v1: 0, acts: '11' });
  // Tagged 10 on the trunk: popped for the access port, so the whole tag is matched.
  const m = mask(`in_port=3,dl_vlan=10,dl_vlan_pcp=5,${BCAST}`);
  t.equal(m.v0, 0xffffffff, 'popped: TPID and TCI');
  t.equal(m.acts, '11,pop_vlan,12');
  t.end();
});

t.test('the datapath mask: a missing tag is matched as missing', (t) => {
  const x = bridge();
  const upcall = (flow: string, dpPort: number) => {
    const frame = buildFrame(parseFlow(flow).key);
    const key = newFlowKey();
    extractFlowKey(frame, 0, frame.length, dpPort, key);
    return x.handleUpcall({ key, frame, inPort: dpPort })!;
  };
  const u = upcall(BCAST, 12);
  t.equal(u.mask[W.VLAN0], 0xffffffff, 'untagged: the outer tag slot is exact (empty)');
  t.equal(u.mask[W.VLAN1], 0, 'nothing beyond it');
  const g = upcall(`dl_vlan=20,${BCAST}`, 13);
  t.equal(g.mask[W.VLAN0], (0xffff0000 | 0x1fff) >>> 0, 'tagged: TPID plus VID|CFI');
  t.equal(g.mask[W.VLAN1], 0xffffffff, 'and no second tag');

  // The same frame with a tag does not match the untagged flow's datapath mask.
  const untagged = parseFlow(`in_port=2,${BCAST}`).key;
  const tagged = parseFlow(`in_port=2,dl_vlan=10,${BCAST}`).key;
  const m = new Uint32Array(untagged.length);
  datapathMask(untagged, m);
  t.not((untagged[W.VLAN0]! & m[W.VLAN0]!) >>> 0, (tagged[W.VLAN0]! & m[W.VLAN0]!) >>> 0);
  t.end();
});

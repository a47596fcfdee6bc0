import t from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import { buildFrame } from '../../../lib/packet/build.js';
import { parseFlow } from '../../../lib/packet/format.js';
import type { Action } from '../../../openflow/actions.js';
import { OFPP, OFPPS } from '../../../openflow/constants.js';
import type { Instruction } from '../../../openflow/instructions.js';
import type { Match } from '../../../openflow/oxm.js';
import {
  registerOfprotoCommands,
  mapDirectory,
  type CommandSpec,
} from '../../../ofproto/appctl.js';
import type { Ofconn } from '../../../ofproto/ofconn.js';
import { Ofproto } from '../../../ofproto/ofproto.js';
import { formatOfAction, traceFlow } from '../../../ofproto/trace.js';
import { Xlate } from '../../../ofproto/xlate.js';
import { addFlowMod } from '../../helpers/flow-mod.js';

function setup() {
  const clock = new FakeClock();
  const sw = new Ofproto({ name: 'br0', datapathId: 1n, clock });
  sw.addPort({
    ofport: OFPP.LOCAL,
    name: 'br0',
    hwAddr: 1,
    config: 0,
    state: 0,
    curr: 0,
    currSpeed: 0,
    maxSpeed: 0,
    dpPort: 1,
  });
  for (const n of [1, 2, 3, 4])
    sw.addPort({
      ofport: n,
      name: `p${n}`,
      hwAddr: 0x10 + n,
      config: 0,
      state: OFPPS.LIVE,
      curr: 0,
      currSpeed: 0,
      maxSpeed: 0,
      dpPort: n + 1,
    });
  const x = new Xlate({ ofproto: sw, clock, failMode: 'secure' });
  const flow = (
    tableId: number,
    priority: number,
    match: Match,
    instructions: Instruction[],
    cookie = 0n,
  ): void =>
    sw.tables.handleMessage(
      {} as Ofconn,
      addFlowMod(tableId, priority, match, instructions, cookie),
      new Uint8Array(),
    );
  const cmds = new Map<string, CommandSpec>();
  registerOfprotoCommands(
    { register: (c) => cmds.set(c.name, c) },
    mapDirectory(new Map([['br0', x]])),
  );
  const run = (name: string, ...args: string[]) => cmds.get(name)!.handler(args) as string;
  return { clock, sw, x, flow, run };
}

const apply = (...actions: Action[]): Instruction => ({ type: 'APPLY_ACTIONS', actions });

t.test('trace output matches OVS 3.1 for goto + set_field + output', (t) => {
  const s = setup();
  // Same rules as: table=0,priority=10,actions=goto_table:1 and
  // table=1,priority=10,tcp,tp_dst=80,actions=set_field:10.0.0.9->ip_dst,output:2
  s.flow(0, 10, [], [{ type: 'GOTO_TABLE', tableId: 1 }]);
  s.flow(
    1,
    10,
    [
      { field: 'eth_type', value: 0x800 },
      { field: 'ip_proto', value: 6 },
      { field: 'tcp_dst', value: 80 },
    ],
    [
      apply(
        { type: 'SET_FIELD', field: 'ipv4_dst', value: 0x0a000009 },
        { type: 'OUTPUT', port: 2, maxLen: 0 },
      ),
    ],
  );
  s.flow(
    1,
    4,
    [{ field: 'eth_type', value: 0x806 }],
    [apply({ type: 'OUTPUT', port: OFPP.CONTROLLER, maxLen: 0xffff })],
    0x20n,
  );
  const out = s.run(
    'ofproto/trace',
    'br0',
    'in_port=3,tcp,nw_src=10.1.0.1,nw_dst=10.2.0.2,tp_dst=80',
  );
  // Captured from OVS 3.1 (ovs-appctl ofproto/trace) with the same flows.
  t.equal(
    out,
    [
      'Flow: tcp,in_port=3,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,nw_src=10.1.0.1,nw_dst=10.2.0.2,nw_tos=0,nw_ecn=0,nw_ttl=0,nw_frag=no,tp_src=0,tp_dst=80,tcp_flags=0',
      '',
      'bridge("br0")',
      '-------------',
      ' 0. priority 10',
      '    goto_table:1',
      ' 1. tcp,tp_dst=80, priority 10',
      '    set_field:10.0.0.9->ip_dst',
      '    output:2',
      '',
      'Final flow: tcp,in_port=3,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,nw_src=10.1.0.1,nw_dst=10.0.0.9,nw_tos=0,nw_ecn=0,nw_ttl=0,nw_frag=no,tp_src=0,tp_dst=80,tcp_flags=0',
      'Megaflow: recirc_id=0,eth,tcp,in_port=3,nw_dst=10.2.0.2,nw_frag=no,tp_dst=80',
      'Datapath actions: set(ipv4(dst=10.0.0.9)),3',
      '',
    ].join('\n'),
  );
  const arp = s.run('ofproto/trace', 'br0', 'in_port=p3,arp');
  t.match(arp, / 1\. arp, priority 4, cookie 0x20\n {4}CONTROLLER:65535\n/);
  t.match(arp, /Final flow: unchanged\n/);
  t.match(
    arp,
    /Datapath actions: userspace\(pid=0,controller\(reason=1,dont_send=1,continuation=0,recirc_id=0,rule_cookie=0x20,controller_id=0,max_len=65535\)\)/,
  );
  const miss = s.run('ofproto/trace', 'br0', 'in_port=3,udp');
  t.match(miss, / 1\. No match\.\n {4}drop\n/);
  t.match(miss, /Datapath actions: drop\n$/);
  t.throws(() => s.run('ofproto/trace', 'br9', 'in_port=1'), /unknown bridge/);
  t.throws(() => s.run('ofproto/trace', 'br0', 'in_port=1,bogus=3'));
  t.throws(() => s.run('ofproto/trace', 'br0', 'in_port=nope'), /unknown port/);
  t.end();
});

t.test('trace notes, packet data, -generate learns; fdb/show, fdb/flush, ofproto/list', (t) => {
  const s = setup();
  s.flow(
    0,
    40000,
    [{ field: 'in_port', value: 3 }],
    [
      apply(
        { type: 'OUTPUT', port: 1, maxLen: 0 },
        { type: 'OUTPUT', port: 3, maxLen: 0 },
        { type: 'OUTPUT', port: OFPP.IN_PORT, maxLen: 0 },
        { type: 'OUTPUT', port: 9, maxLen: 0 },
      ),
    ],
  );
  s.flow(0, 1, [], [apply({ type: 'OUTPUT', port: OFPP.NORMAL, maxLen: 0 })]);
  const out = s.run(
    'ofproto/trace',
    'br0',
    'in_port=3,dl_src=00:00:00:00:00:03,dl_dst=00:00:00:00:00:04',
  );
  t.match(
    out,
    / {4}output:3\n {5}>> skipping output to input port\n {4}IN_PORT\n {4}output:9\n {5}>> Nonexistent output port\n/,
  );
  t.match(out, /Datapath actions: 2,4\n/);
  const g1 = s.run(
    'ofproto/trace',
    'br0',
    'in_port=2,dl_src=00:00:00:00:00:04,dl_dst=00:00:00:00:00:03',
  );
  t.match(g1, / {5}-> no learned MAC for destination, flooding\n/);
  t.equal(s.x.mac.size, 0, 'no learning without -generate');
  const g2 = s.run(
    'ofproto/trace',
    'br0',
    'in_port=2,dl_src=00:00:00:00:00:04,dl_dst=00:00:00:00:00:03',
    '-generate',
  );
  t.match(g2, / {5}-> learned that 00:00:00:00:00:04 is on port p2 in VLAN 0\n/);
  t.equal(
    s.run('fdb/show', 'br0'),
    ' port  VLAN  MAC                Age\n    2     0  00:00:00:00:00:04    0\n',
  );
  const g3 = s.run(
    'ofproto/trace',
    'br0',
    'in_port=1,dl_src=00:00:00:00:00:05,dl_dst=00:00:00:00:00:04',
  );
  t.match(g3, /-> forwarding to learned port\n/);
  t.match(g3, /Datapath actions: 3\n/);
  // Packet data: the headers come from the frame, in_port from the flow.
  const frame = buildFrame(
    parseFlow('dl_src=00:00:00:00:00:0a,dl_dst=00:00:00:00:00:04,udp,nw_src=1.2.3.4,tp_dst=7').key,
  );
  const hex = Buffer.from(frame).toString('hex');
  const g4 = s.run('ofproto/trace', 'br0', 'in_port=1', hex);
  t.match(g4, /^Flow: udp,in_port=1,.*nw_src=1\.2\.3\.4/);
  t.match(g4, /Datapath actions: 3\n/);
  t.throws(() => s.run('ofproto/trace', 'br0', 'in_port=1', 'zz'), /garbage/);
  t.equal(s.run('fdb/flush', 'br0'), 'table successfully flushed\n');
  t.equal(s.x.mac.size, 0);
  t.throws(() => s.run('fdb/show', 'nope'), /no such bridge/);
  t.equal(s.run('ofproto/list'), 'br0\n');
  t.end();
});

t.test('trace of groups and write-actions; too deep', (t) => {
  const s = setup();
  s.flow(0, 10, [], [{ type: 'WRITE_ACTIONS', actions: [{ type: 'OUTPUT', port: 2, maxLen: 0 }] }]);
  const r = traceFlow(s.x, parseFlow('in_port=1').key);
  t.match(r.text, / {4}write_actions\(output:2\)\n/);
  t.match(r.text, /Datapath actions: 3\n/);
  t.equal(
    formatOfAction({ type: 'SET_FIELD', field: 'vlan_vid', value: 4100 }),
    'set_field:4100->vlan_vid',
  );
  t.equal(
    formatOfAction({ type: 'SET_FIELD', field: 'eth_dst', value: 0x0a0000000001n }),
    'set_field:0a:00:00:00:00:01->eth_dst',
  );
  t.equal(formatOfAction({ type: 'OUTPUT', port: OFPP.FLOOD, maxLen: 0 }), 'FLOOD');
  t.equal(formatOfAction({ type: 'POP_MPLS', ethertype: 0x800 }), 'pop_mpls:0x0800');
  t.end();
});

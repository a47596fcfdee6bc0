/**
 * parseTrace: the path of a packet read out of ofproto/trace output (OVS 3.1's layout, the
 * samples below follow tests/unit/ofproto/trace.test.ts, which checks them against OVS).
 */
import t from 'tap';
import { parseTrace } from '../../../api/trace.js';

const TWO_TABLES = [
  'Flow: tcp,in_port=3,vlan_tci=0x0000,nw_src=10.1.0.1,nw_dst=10.2.0.2,tp_dst=80',
  '',
  'bridge("br0")',
  '-------------',
  ' 0. priority 10',
  '    goto_table:1',
  ' 1. tcp,tp_dst=80, priority 10, cookie 0x20',
  '    set_field:10.0.0.9->ip_dst',
  '    output:2',
  '     >> note',
  '',
  'Final flow: tcp,in_port=3,nw_dst=10.0.0.9,tp_dst=80',
  'Megaflow: recirc_id=0,eth,tcp,in_port=3,nw_dst=10.2.0.2,nw_frag=no,tp_dst=80',
  'Datapath actions: set(ipv4(dst=10.0.0.9)),3',
  '',
].join('\n');

t.test('tables, rules, actions and the summary lines', async (t) => {
  const r = parseTrace(TWO_TABLES);
  t.same(r.path, [
    {
      bridge: 'br0',
      table: 0,
      depth: 0,
      match: '',
      priority: 10,
      miss: false,
      actions: ['goto_table:1'],
    },
    {
      bridge: 'br0',
      table: 1,
      depth: 0,
      match: 'tcp,tp_dst=80',
      priority: 10,
      cookie: '0x20',
      miss: false,
      actions: ['set_field:10.0.0.9->ip_dst', 'output:2', '>> note'],
    },
  ]);
  t.equal(r.finalFlow, 'tcp,in_port=3,nw_dst=10.0.0.9,tp_dst=80');
  t.equal(r.megaflow, 'recirc_id=0,eth,tcp,in_port=3,nw_dst=10.2.0.2,nw_frag=no,tp_dst=80');
  t.equal(r.datapathActions, 'set(ipv4(dst=10.0.0.9)),3');
});

t.test('a miss, nesting, a second bridge; junk never throws', async (t) => {
  const text = [
    'Flow: udp,in_port=3',
    '',
    'bridge("br0")',
    '-------------',
    ' 0. in_port=3, priority 5',
    '    resubmit(,1)',
    '     1. No match.',
    '         drop',
    '    output:9',
    '',
    'bridge("br1")',
    '-------------',
    ' 0. No match.',
    '    drop',
    '',
    'Final flow: unchanged',
    'Datapath actions: drop',
  ].join('\n');
  const r = parseTrace(text, 'ignored');
  t.same(
    r.path.map((s) => [s.bridge, s.table, s.depth, s.miss, s.match]),
    [
      ['br0', 0, 0, false, 'in_port=3'],
      ['br0', 1, 1, true, ''],
      ['br1', 0, 0, true, ''],
    ],
  );
  t.same(r.path[0]!.actions, ['resubmit(,1)', 'output:9']);
  t.same(r.path[1]!.actions, ['drop']);
  t.equal(r.megaflow, undefined);
  t.equal(r.datapathActions, 'drop');
  t.same(parseTrace('').path, []);
  t.same(parseTrace(' 7. something odd\n   x').path[0], {
    bridge: '',
    table: 7,
    depth: 0,
    match: 'something odd',
    miss: false,
    actions: ['x'],
  });
  t.doesNotThrow(() => parseTrace('\u0000\n 999. \n  \n(((\n'));
});

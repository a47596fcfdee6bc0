import t from 'tap';
import { hostIp, hostMac, parseSpec, switchDpid, TopoSpecError } from '../../../topo/spec.js';

const links = (spec: string) =>
  parseSpec(spec).links.map((l) => `${l.a.node}:${l.a.port}-${l.b.node}:${l.b.port}`);

t.test('minimal and single', async (t) => {
  const m = parseSpec('minimal');
  t.equal(m.spec, 'single,2');
  t.same(
    m.hosts.map((h) => h.name),
    ['h1', 'h2'],
  );
  t.same(
    m.switches.map((s) => s.name),
    ['s1'],
  );
  t.same(links('single,3'), ['h1:0-s1:1', 'h2:0-s1:2', 'h3:0-s1:3']);
  t.equal(parseSpec('single').spec, 'single,2', 'default k=2 as Mininet');
  t.equal(parseSpec(' Single , 4 ').spec, 'single,4');
  t.equal(parseSpec('single,k=5').hosts.length, 5);
});

t.test('linear: one host per switch, switches chained in order (Mininet LinearTopo)', async (t) => {
  const g = parseSpec('linear,3');
  t.same(
    g.switches.map((s) => s.name),
    ['s1', 's2', 's3'],
  );
  t.same(links('linear,3'), ['h1:0-s1:1', 'h2:0-s2:1', 's2:2-s1:2', 'h3:0-s3:1', 's3:2-s2:3']);
  t.equal(parseSpec('linear,1').links.length, 1);
});

t.test('tree: Mininet TreeTopo order and numbering', async (t) => {
  const g = parseSpec('tree,depth=2,fanout=2');
  t.equal(g.spec, 'tree,depth=2,fanout=2');
  t.same(
    g.switches.map((s) => s.name),
    ['s1', 's2', 's3'],
  );
  t.equal(g.hosts.length, 4);
  t.same(links('tree,depth=2,fanout=2'), [
    's2:1-h1:0',
    's2:2-h2:0',
    's1:1-s2:3',
    's3:1-h3:0',
    's3:2-h4:0',
    's1:2-s3:3',
  ]);
  t.equal(parseSpec('tree,2,3').spec, 'tree,depth=2,fanout=3', 'positional arguments');
  t.equal(parseSpec('tree,fanout=3').spec, 'tree,depth=1,fanout=3');
  const big = parseSpec('tree,depth=3,fanout=3');
  t.equal(big.hosts.length, 27);
  t.equal(big.switches.length, 13);
});

t.test('addresses, MACs, dpids', async (t) => {
  const h = parseSpec('single,3').hosts[2]!;
  t.equal(h.ip, '10.0.0.3');
  t.equal(h.prefixLen, 8);
  t.equal(h.mac, '00:00:00:00:00:03');
  t.equal(hostIp(256), '10.0.1.0');
  t.equal(hostMac(256), '00:00:00:00:01:00');
  t.equal(switchDpid(10), '000000000000000a');
  t.equal(parseSpec('linear,2').switches[1]!.dpid, '0000000000000002');
});

t.test('bad specs', async (t) => {
  for (const bad of [
    '',
    'ring,3',
    'single,0',
    'single,-1',
    'single,x',
    'single,2,3',
    'linear,',
    'tree,depth=0',
    'tree,depth=2,fanout=2,x=1',
    'tree,depth=2,depth=3',
    'tree,depth=20,fanout=4',
    'minimal,1',
    'single,5000',
  ]) {
    t.throws(() => parseSpec(bad), TopoSpecError, JSON.stringify(bad));
  }
});

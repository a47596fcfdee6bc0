import t from 'tap';
import { runTopoCli, TOPO_USAGE } from '../../../topo/cli.js';

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runTopoCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join(''), err: err.join('') };
}

t.test('usage errors exit 2 before touching the system', async (t) => {
  for (const [argv, re] of [
    [['ring,3'], /unknown topology "ring"/],
    [[], /missing SPEC/],
    [['single,2', 'linear,2'], /unexpected argument "linear,2"/],
    [['--clean', 'single,2'], /--clean takes no SPEC/],
    [['single,2', '--controller', 'bogus'], /bad controller "bogus"/],
    [['single,2', '--nosuch'], /Unknown option/],
    [['single,0'], /at least 1/],
    [['single,2', '--fail-mode', 'open'], /bad --fail-mode "open"/],
    [['single,2', '--ping', 'h1'], /--ping takes H1,H2/],
    [['single,2', '--iperf', 'h1,h2,h3'], /--iperf takes H1,H2/],
    [['single,2', '--link', 's1,h1'], /--link takes A,B,up\|down/],
    [['single,2', '--link', 's1,h1,sideways'], /link s1 h1 sideways: usage: link A B up\|down/],
    [['single,2', '--ping', 'h1,h9'], /ping h1 h9: no host named "h9"/],
    [['single,2', '-c', 'h3 ls'], /h3 ls: \*\*\* Unknown command/],
    [['single,2', '--file', 'x.yaml'], /give either SPEC or --file/],
    [['--file', '/nonexistent/net.yaml'], /\/nonexistent\/net\.yaml: cannot read/],
    [['/nonexistent/net.json'], /\/nonexistent\/net\.json: cannot read/],
  ] as const) {
    const r = await cli(...argv);
    t.equal(r.code, 2, argv.join(' '));
    t.match(r.err, re);
    t.match(r.err, /Try 'tsvs topo --help'/);
  }
});

t.test('a spec file with problems: exit 2 with every problem, file:line:col', async (t) => {
  const dir = t.testdir({
    'net.yaml': 'hosts: [h1]\nswitches: [s1]\nlinks:\n  - [h1, s2]\n  - { a: h1, b: s1, mtu: 9 }\n',
  });
  const r = await cli(`${dir}/net.yaml`, '--pingall');
  t.equal(r.code, 2);
  t.match(r.err, /net\.yaml:4:\d+: links\[0\]\[1\]: no host or switch named "s2"\n/);
  t.match(
    r.err,
    /net\.yaml:5:\d+: links\[1\]\.mtu: mtu must be an integer from 68 to 65535, got 9\n/,
  );
});

t.test('--help', async (t) => {
  const r = await cli('--help');
  t.equal(r.code, 0);
  t.equal(r.out, TOPO_USAGE);
  t.match(r.out, /tree,depth=D,fanout=F/);
  t.match(r.out, /--fail-mode MODE/);
  t.match(r.out, /-c, --cmd LINE/);
});

t.test('no daemon and no way to start one: exit 1 with the reason', async (t) => {
  const dir = t.testdir({});
  const r = await cli('single,2', '--rundir', dir);
  t.equal(r.code, 1);
  t.match(r.err, /no tsvs daemon answers on .*db\.sock|is not installed/);
});

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
  ] as const) {
    const r = await cli(...argv);
    t.equal(r.code, 2, argv.join(' '));
    t.match(r.err, re);
    t.match(r.err, /Try 'tsvs topo --help'/);
  }
});

t.test('--help', async (t) => {
  const r = await cli('--help');
  t.equal(r.code, 0);
  t.equal(r.out, TOPO_USAGE);
  t.match(r.out, /tree,depth=D,fanout=F/);
});

t.test('no daemon and no way to start one: exit 1 with the reason', async (t) => {
  const dir = t.testdir({});
  const r = await cli('single,2', '--rundir', dir);
  t.equal(r.code, 1);
  t.match(r.err, /no tsvs daemon answers on .*db\.sock|is not installed/);
});

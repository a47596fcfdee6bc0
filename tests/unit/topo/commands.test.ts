import fc from 'fast-check';
import t from 'tap';
import {
  PROMPT_HELP,
  commandContext,
  completions,
  parseCommand,
  substituteHosts,
  type TopoCommand,
} from '../../../topo/commands.js';
import { parseSpec } from '../../../topo/spec.js';

const ctx = commandContext(parseSpec('linear,3'));
const p = (line: string): TopoCommand => parseCommand(line, ctx);

t.test('context of a graph', async (t) => {
  t.same(
    [...ctx.hosts],
    [
      ['h1', '10.0.0.1'],
      ['h2', '10.0.0.2'],
      ['h3', '10.0.0.3'],
    ],
  );
  t.same([...ctx.switches], ['s1', 's2', 's3']);
  t.ok(completions(ctx).includes('pingall') && completions(ctx).includes('h3'));
});

t.test('commands', async (t) => {
  t.same(p(''), { kind: 'empty' });
  t.same(p('   # a comment'), { kind: 'empty' });
  t.same(p('exit'), { kind: 'exit' });
  t.same(p('quit'), { kind: 'exit' });
  t.same(p('help'), { kind: 'help' });
  t.same(p(' pingall '), { kind: 'pingall' });
  t.same(p('dump'), { kind: 'dump' });
  t.same(p('nodes'), { kind: 'nodes' });
  t.same(p('links'), { kind: 'links' });
  t.same(p('ping h1 h2'), { kind: 'ping', src: 'h1', dst: 'h2', count: 1 });
  t.same(p('ping  h3   h1  4'), { kind: 'ping', src: 'h3', dst: 'h1', count: 4 });
  t.same(p('iperf h1 h3'), { kind: 'iperf', client: 'h1', server: 'h3', seconds: 5 });
  t.same(p('iperf h2 h1 2'), { kind: 'iperf', client: 'h2', server: 'h1', seconds: 2 });
  t.same(p('iperf'), { kind: 'iperf', client: 'h1', server: 'h3', seconds: 5 }, 'first and last');
  t.same(p('link s1 s2 down'), { kind: 'link', a: 's1', b: 's2', up: false });
  t.same(p('link h1 s1 up'), { kind: 'link', a: 'h1', b: 's1', up: true });
  t.same(p('h1 ping -c1 h2'), { kind: 'host', host: 'h1', command: 'ping -c1 10.0.0.2' });
  t.same(
    p('h2 echo h1 "h3" h1x xh1 h3'),
    { kind: 'host', host: 'h2', command: 'echo 10.0.0.1 "h3" h1x xh1 10.0.0.3' },
    'only whole words are replaced, as Mininet',
  );
  t.same(p('sh ovs-ofctl dump-flows s1  h1'), {
    kind: 'sh',
    command: 'ovs-ofctl dump-flows s1  h1',
  });
  t.same(p('sh'), { kind: 'error', message: 'usage: sh COMMAND...' });
  t.same(p("h1 sh -c 'ip a | grep inet'"), {
    kind: 'host',
    host: 'h1',
    command: "sh -c 'ip a | grep inet'",
  });
});

t.test('bad commands are errors, never throws', async (t) => {
  const bad: [string, RegExp][] = [
    ['pingall h1', /usage: pingall/],
    ['dump x', /usage: dump/],
    ['ping h1', /usage: ping H1 H2/],
    ['ping h1 h9', /no host named "h9"/],
    ['ping h1 s1', /s1 is a switch, not a host/],
    ['ping h1 h2 0', /COUNT must be an integer from 1 to 1000/],
    ['ping h1 h2 x', /COUNT must be/],
    ['iperf h1', /usage: iperf/],
    ['iperf h1 h1', /two different hosts/],
    ['iperf h1 h2 0', /SECONDS must be/],
    ['link s1 s2', /usage: link A B up\|down/],
    ['link s1 s2 sideways', /usage: link/],
    ['link s1 s9 up', /no node named "s9"/],
    ['h1', /usage: h1 COMMAND/],
    ['s1 ls', /s1 is a switch/],
    ['bogus', /Unknown command: bogus/],
  ];
  for (const [line, re] of bad) {
    const c = p(line);
    t.equal(c.kind, 'error', line);
    if (c.kind === 'error') t.match(c.message, re, line);
  }
  t.same(
    parseCommand('iperf', commandContext(parseSpec('single,1'))),
    { kind: 'error', message: 'iperf needs two different hosts' },
    'one host: no default pair',
  );
  t.match(PROMPT_HELP, /link A B up\|down/);
});

t.test('property: parseCommand never throws and host lines keep non-host words', async (t) => {
  const word = fc.oneof(
    fc.constantFrom('h1', 'h2', 'h3', 's1', 'ping', 'link', 'up', 'down', '-c1', '|'),
    fc.string({ minLength: 1, maxLength: 6 }).filter((s) => !/\s/.test(s)),
  );
  fc.assert(
    fc.property(fc.array(word, { maxLength: 8 }), (words) => {
      const c = p(words.join(' '));
      if (c.kind !== 'host') return true;
      const rest = words.slice(1);
      const out = c.command.split(' ');
      return (
        out.length === rest.length &&
        rest.every((w, i) => (ctx.hosts.has(w) ? out[i] === ctx.hosts.get(w) : out[i] === w))
      );
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.string(), (s) => {
      p(s);
      return true;
    }),
    { numRuns: 500 },
  );
  t.pass();
});

t.test('substituteHosts keeps the separators', async (t) => {
  const hosts = new Map([['a', '1.2.3.4']]);
  t.equal(substituteHosts('a\tb  a', hosts), '1.2.3.4\tb  1.2.3.4');
  t.equal(substituteHosts('', hosts), '');
  t.equal(substituteHosts('ab a.', hosts), 'ab a.');
});

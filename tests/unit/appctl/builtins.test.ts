import t from 'tap';
import { AppctlRegistry, AppctlError } from '../../../appctl/registry.js';
import { registerBuiltins, formatVlogList } from '../../../appctl/builtins.js';
import { getLogger, listLogLevels, setLogLevel } from '../../../lib/log.js';
import { counter } from '../../../lib/counters.js';

function setup(extra: Partial<Parameters<typeof registerBuiltins>[1]> = {}) {
  const reg = new AppctlRegistry();
  const exits: { cleanup: boolean }[] = [];
  registerBuiltins(reg, {
    programName: 'tsvs-vswitchd',
    version: '0.1.0',
    exit: (o) => exits.push(o ?? { cleanup: false }),
    ...extra,
  });
  return { reg, exits };
}

async function error(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AppctlError) return e.message;
    throw e;
  }
  throw new Error('expected an AppctlError');
}

// Modules under test, created before the commands run.
getLogger('tst_alpha');
getLogger('tst_beta');

void t.test('list-commands in OVS layout, sorted, including later registrations', async (t) => {
  const { reg } = setup();
  reg.register({
    name: 'ofproto/trace',
    usage: '[dp] bridge br_flow',
    minArgs: 1,
    maxArgs: 3,
    handler: () => '',
  });
  reg.register({
    name: 'a-very-long-command-name/that-overflows',
    usage: 'ARG',
    minArgs: 0,
    maxArgs: 1,
    handler: () => '',
  });
  const out = await reg.run('list-commands', []);
  const lines = out.split('\n');
  t.equal(lines[0], 'The available commands are:');
  t.equal(lines.at(-1), '', 'ends with a newline');
  t.ok(lines.includes('  coverage/read-counter   COUNTER'));
  t.ok(lines.includes('  list-commands           '));
  t.ok(lines.includes('  ofproto/trace           [dp] bridge br_flow'));
  t.ok(lines.includes('  a-very-long-command-name/that-overflows ARG'));
  t.ok(lines.includes('  vlog/set                {spec | PATTERN:destination:pattern}'));
  const names = lines.slice(1, -1).map((l) => l.trim().split(' ')[0]!);
  t.same(names, [...names].sort());
  t.same(names, [
    'a-very-long-command-name/that-overflows',
    'coverage/read-counter',
    'coverage/show',
    'exit',
    'list-commands',
    'memory/show',
    'ofproto/trace',
    'version',
    'vlog/list',
    'vlog/set',
  ]);
});

void t.test('version', async (t) => {
  t.equal(await setup().reg.run('version', []), 'tsvs-vswitchd (tsvswitch) 0.1.0\n');
  t.equal(await setup({ product: 'X' }).reg.run('version', []), 'tsvs-vswitchd (X) 0.1.0\n');
  t.equal(
    await error(setup().reg.run('version', ['x'])),
    '"version" command takes at most 0 arguments',
  );
});

void t.test('exit replies first, then calls ctx.exit; --cleanup is passed on', async (t) => {
  const { reg, exits } = setup();
  t.equal(await reg.run('exit', []), '');
  t.same(exits, [], 'not yet: the reply goes out first');
  await new Promise((r) => setImmediate(r));
  t.same(exits, [{ cleanup: false }]);
  await reg.run('exit', ['--cleanup']);
  await new Promise((r) => setImmediate(r));
  t.same(exits[1], { cleanup: true });
  t.match(await error(reg.run('exit', ['--bogus'])), /unknown option/);
});

void t.test('vlog/set: OVS spec syntax and errors', async (t) => {
  const { reg } = setup();
  const level = (m: string) => listLogLevels().find((x) => x.module === m)?.level;
  setLogLevel('ANY', 'warn');
  t.equal(await reg.run('vlog/set', ['tst_alpha:dbg']), '');
  t.equal(level('tst_alpha'), 'dbg');
  t.equal(level('tst_beta'), 'warn');
  await reg.run('vlog/set', ['tst_alpha:console:info']);
  t.equal(level('tst_alpha'), 'info');
  await reg.run('vlog/set', ['TST_BETA:ERR']);
  t.equal(level('tst_beta'), 'err', 'case-insensitive');
  await reg.run('vlog/set', ['tst_beta']);
  t.equal(level('tst_beta'), 'dbg', 'level defaults to dbg');
  await reg.run('vlog/set', ['tst_alpha off']);
  t.equal(level('tst_alpha'), 'off', 'space-separated words in one argument');
  await reg.run('vlog/set', ['tst_alpha', 'emer']);
  t.equal(level('tst_alpha'), 'emer', '"module level" as two arguments');
  t.equal(level('tst_beta'), 'dbg', '... does not touch other modules');
  await reg.run('vlog/set', ['tst_alpha:warn', 'tst_beta:info']);
  t.equal(level('tst_alpha'), 'warn');
  t.equal(level('tst_beta'), 'info');
  await reg.run('vlog/set', ['ANY:file:err']);
  t.ok(
    listLogLevels().every((m) => m.level === 'err'),
    'ANY sets every module',
  );
  t.equal(await reg.run('vlog/set', []), '', 'no arguments: nothing to do');

  t.equal(
    await error(reg.run('vlog/set', ['nonsense:dbg'])),
    'no destination, level, or module "nonsense"',
  );
  t.equal(
    await error(reg.run('vlog/set', ['tst_alpha:console:syslog'])),
    'cannot specify multiple destinations',
  );
  t.equal(
    await error(reg.run('vlog/set', ['tst_alpha:dbg:info'])),
    'cannot specify multiple levels',
  );
  t.equal(
    await error(reg.run('vlog/set', ['tst_alpha:tst_beta'])),
    'cannot specify multiple modules',
  );
  t.match(await error(reg.run('vlog/set', ['PATTERN:console:%m'])), /not supported/);
  // a bad spec among several changes nothing
  await reg.run('vlog/set', ['ANY:warn']);
  await error(reg.run('vlog/set', ['tst_alpha:dbg', 'bogus']));
  t.equal(level('tst_alpha'), 'warn');
});

void t.test('vlog/list: OVS layout', async (t) => {
  const { reg } = setup();
  setLogLevel('ANY', 'info');
  setLogLevel('tst_alpha', 'dbg');
  const out = await reg.run('vlog/list', []);
  t.equal(out, formatVlogList());
  const lines = out.split('\n');
  t.equal(lines[0], '                 console    syslog    file');
  t.equal(lines[1], '                 -------    ------    ------');
  t.ok(lines.includes('tst_alpha          DBG        DBG        DBG'));
  t.ok(lines.includes('tst_beta          INFO       INFO       INFO'));
  t.equal(lines.length, listLogLevels().length + 3);
});

void t.test('coverage/show and coverage/read-counter', async (t) => {
  const { reg } = setup();
  counter('tst_builtin_event', 'test', 'an event for the test').inc(3);
  const out = await reg.run('coverage/show', []);
  t.match(out, /^Event coverage, avg rate over last: 5 seconds, last minute, last hour, {2}hash=/);
  t.match(out, /tst_builtin_event .* total: 3\n/);
  t.equal(await reg.run('coverage/read-counter', ['tst_builtin_event']), '3\n');
  t.equal(await error(reg.run('coverage/read-counter', ['nope'])), 'No such counter');
  t.equal(
    await error(reg.run('coverage/read-counter', [])),
    '"coverage/read-counter" command requires at least 1 arguments',
  );
});

void t.test('memory/show: sorted key:value pairs, with the daemon figures', async (t) => {
  const { reg } = setup({ memoryReport: () => ({ rules: 12, ports: 3 }) });
  const out = await reg.run('memory/show', []);
  t.match(out, /^([a-z-]+:\d+ )*[a-z-]+:\d+\n$/);
  const keys = out
    .trim()
    .split(' ')
    .map((kv) => kv.split(':')[0]!);
  t.same(keys, [...keys].sort());
  t.ok(keys.includes('rss') && keys.includes('heap-used'));
  t.match(out, /ports:3 /);
  t.match(out, /rules:12/);
});

void t.test('registering the builtins twice throws', (t) => {
  const { reg } = setup();
  t.throws(
    () => registerBuiltins(reg, { programName: 'x', version: '1', exit: () => {} }),
    /already registered/,
  );
  t.end();
});

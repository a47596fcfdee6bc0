import t from 'tap';
import { AppctlRegistry, AppctlError, commandCallError } from '../../../appctl/registry.js';

async function rejectsWith(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

void t.test('register, get, list sorted, unregister', async (t) => {
  const r = new AppctlRegistry();
  r.register({ name: 'b/cmd', usage: 'X', minArgs: 1, maxArgs: 1, handler: (a) => `b ${a[0]}` });
  r.register({ name: 'a', usage: '', minArgs: 0, maxArgs: 0, handler: () => 'a' });
  t.same(
    r.list().map((c) => c.name),
    ['a', 'b/cmd'],
  );
  t.equal(r.get('a')?.usage, '');
  t.equal(await r.run('b/cmd', ['z']), 'b z');
  r.unregister('a');
  r.unregister('never');
  t.equal(r.get('a'), undefined);
  t.same(
    r.list().map((c) => c.name),
    ['b/cmd'],
  );
});

void t.test('register rejects duplicates and bad definitions', (t) => {
  const r = new AppctlRegistry();
  const cmd = { name: 'x', usage: '', minArgs: 0, maxArgs: 0, handler: () => '' };
  r.register(cmd);
  t.throws(() => r.register(cmd), /already registered/);
  t.throws(() => r.register({ ...cmd, name: '' }), /invalid/);
  t.throws(() => r.register({ ...cmd, name: 'a b' }), /invalid/);
  t.throws(() => r.register({ ...cmd, name: 'y', minArgs: 2, maxArgs: 1 }), /bounds/);
  t.throws(() => r.register({ ...cmd, name: 'y', minArgs: -1 }), /bounds/);
  t.doesNotThrow(() => r.register({ ...cmd, name: 'z', maxArgs: Infinity }));
  t.end();
});

void t.test('run: OVS error texts for unknown commands and argument counts', async (t) => {
  const r = new AppctlRegistry();
  r.register({ name: 'two', usage: 'A B', minArgs: 2, maxArgs: 3, handler: (a) => a.join(',') });
  const e1 = await rejectsWith(r.run('nope', []));
  t.ok(e1 instanceof AppctlError);
  t.equal(
    e1.message,
    '"nope" is not a valid command (use "list-commands" to see a list of valid commands)',
  );
  t.equal(
    (await rejectsWith(r.run('two', ['a']))).message,
    '"two" command requires at least 2 arguments',
  );
  t.equal(
    (await rejectsWith(r.run('two', ['a', 'b', 'c', 'd']))).message,
    '"two" command takes at most 3 arguments',
  );
  t.equal(await r.run('two', ['a', 'b', 'c']), 'a,b,c');
  t.equal(commandCallError('two', r.get('two'), 2), undefined);
});

void t.test('run passes handler errors through and awaits async handlers', async (t) => {
  const r = new AppctlRegistry();
  r.register({
    name: 'async',
    usage: '',
    minArgs: 0,
    maxArgs: 1,
    handler: async (a) => {
      await new Promise((res) => setImmediate(res));
      if (a[0] === 'fail') throw new AppctlError('it failed');
      if (a[0] === 'crash') throw new TypeError('bug');
      return 'done';
    },
  });
  t.equal(await r.run('async', []), 'done');
  const e = await rejectsWith(r.run('async', ['fail']));
  t.ok(e instanceof AppctlError);
  t.equal(e.message, 'it failed');
  t.ok((await rejectsWith(r.run('async', ['crash']))) instanceof TypeError);
});

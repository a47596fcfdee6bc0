import t from 'tap';
import { LockError, LockManager, type LockHolder } from '../../../ovsdb/lock.js';

class Holder implements LockHolder {
  events: string[] = [];
  constructor(readonly name: string) {}
  notifyLock(lockName: string, method: 'locked' | 'stolen'): void {
    this.events.push(`${method} ${lockName}`);
  }
}

void t.test('lock queue: first owns, next gets locked on unlock', async (t) => {
  const m = new LockManager();
  const a = new Holder('a');
  const b = new Holder('b');
  t.same(m.lock(a, 'x', 'lock'), { locked: true });
  t.same(m.lock(b, 'x', 'lock'), { locked: false });
  t.ok(m.isOwner(a, 'x'));
  t.notOk(m.isOwner(b, 'x'));
  t.ok(m.isWaiting(b, 'x'));
  m.unlock(a, 'x');
  t.same(b.events, ['locked x']);
  t.same(a.events, []);
  t.ok(m.isOwner(b, 'x'));
  m.unlock(b, 'x');
  t.same(m.list(), []);
});

void t.test(
  'double lock and unlock without lock are refused with ovsdb-server texts',
  async (t) => {
    const m = new LockManager();
    const a = new Holder('a');
    m.lock(a, 'x', 'lock');
    t.throws(() => m.lock(a, 'x', 'lock'), new LockError('must issue "unlock" before new "lock"'));
    t.throws(
      () => m.lock(a, 'x', 'steal'),
      new LockError('must issue "unlock" before new "steal"'),
    );
    t.throws(() => m.unlock(a, 'y'), new LockError('unlock: "unlock" without "lock" or "steal"'));
  },
);

void t.test(
  'steal: thief owns, victim is told stolen and stays queued; no spurious locked',
  async (t) => {
    const m = new LockManager();
    const a = new Holder('a');
    const b = new Holder('b');
    const c = new Holder('c');
    m.lock(a, 'x', 'lock');
    m.lock(b, 'x', 'lock');
    t.same(m.lock(c, 'x', 'steal'), { locked: true });
    t.same(a.events, ['stolen x']);
    t.ok(m.isOwner(c, 'x'));
    // The robbed session unlocking must not re-notify the owner (ovsdb-server 3.1.0 does).
    m.unlock(a, 'x');
    t.same(c.events, []);
    t.same(b.events, []);
    // Owner unlocks: the next in line (b) gets it.
    m.unlock(c, 'x');
    t.same(b.events, ['locked x']);
  },
);

void t.test('steal while victim is still queued returns it the lock later', async (t) => {
  const m = new LockManager();
  const a = new Holder('a');
  const c = new Holder('c');
  m.lock(a, 'x', 'lock');
  m.lock(c, 'x', 'steal');
  m.unlock(c, 'x');
  t.same(a.events, ['stolen x', 'locked x']);
  t.ok(m.isOwner(a, 'x'));
});

void t.test('releaseAll hands every lock on', async (t) => {
  const m = new LockManager();
  const a = new Holder('a');
  const b = new Holder('b');
  m.lock(a, 'x', 'lock');
  m.lock(a, 'y', 'lock');
  m.lock(b, 'x', 'lock');
  m.lock(b, 'y', 'lock');
  m.releaseAll(a);
  t.same(b.events.sort(), ['locked x', 'locked y']);
  t.same(
    m.list().map((l) => l.waiters),
    [1, 1],
  );
});

void t.test('lock names must be ids', async (t) => {
  t.equal(LockManager.parseLockName('lock', ['ovs_vswitchd']), 'ovs_vswitchd');
  for (const bad of [[], ['1a'], ['a-b'], [1], ['a', 'b'], 'a', null]) {
    t.throws(
      () => LockManager.parseLockName('lock', bad),
      new LockError('lock request params must be <id>'),
      JSON.stringify(bad),
    );
  }
  t.throws(
    () => LockManager.parseLockName('steal', ['']),
    new LockError('steal request params must be <id>'),
  );
});

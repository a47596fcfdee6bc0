import t from 'tap';
import { FakeClock, RealClock } from '../../../lib/clock.js';

t.test('fake clock fires timers in due order, including ones added while advancing', (t) => {
  const c = new FakeClock(100);
  const seen: string[] = [];
  c.setTimeout(() => seen.push(`b@${c.now()}`), 20);
  c.setTimeout(() => {
    seen.push(`a@${c.now()}`);
    c.setTimeout(() => seen.push(`c@${c.now()}`), 5);
  }, 10);
  const h = c.setTimeout(() => seen.push('never'), 15);
  c.clearTimeout(h);
  c.advance(30);
  t.same(seen, ['a@110', 'c@115', 'b@120']);
  t.equal(c.now(), 130);
  t.equal(c.pending(), 0);
  t.end();
});

t.test('fake clock ties fire in creation order; advanceTo ignores the past', (t) => {
  const c = new FakeClock();
  const seen: number[] = [];
  for (let i = 0; i < 5; i++) c.setTimeout(() => seen.push(i), 7);
  t.equal(c.nextDue(), 7);
  c.advanceTo(7);
  c.advanceTo(3);
  t.same(seen, [0, 1, 2, 3, 4]);
  t.equal(c.now(), 7);
  t.end();
});

t.test('real clock timers fire and can be cleared', async (t) => {
  const c = new RealClock();
  const start = c.now();
  let cleared = false;
  const h = c.setTimeout(() => (cleared = true), 5);
  c.clearTimeout(h);
  await new Promise<void>((resolve) => c.setTimeout(resolve, 10));
  t.ok(c.now() - start >= 9);
  t.notOk(cleared);
});

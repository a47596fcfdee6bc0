import t from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import {
  DEFAULT_PIN_RATE,
  Pinsched,
  TokenBucket,
  defaultBurst,
} from '../../../ofproto/pinsched.js';

t.test('token bucket: burst, refill by rate, drop counters', (t) => {
  const clock = new FakeClock();
  const b = new TokenBucket(clock, 10, 3);
  t.same(
    [1, 2, 3, 4].map(() => b.admit()),
    [true, true, true, false],
  );
  t.equal(b.stats().dropped, 1);
  t.equal(b.stats().sent, 3);
  clock.advance(100); // 10/s → one token
  t.ok(b.admit());
  t.notOk(b.admit());
  clock.advance(10_000); // never more than the burst
  t.same(
    [1, 2, 3, 4].map(() => b.admit()),
    [true, true, true, false],
  );
  t.throws(() => new TokenBucket(clock, 0, 1));
  t.end();
});

t.test('pinsched: defaults as OVS (1000/s, burst 25 %), one bucket per connection', (t) => {
  t.equal(DEFAULT_PIN_RATE, 1000);
  t.equal(defaultBurst(1000), 250);
  t.equal(defaultBurst(2), 1);
  const clock = new FakeClock();
  const p = new Pinsched<object>({ clock });
  const a = {};
  const c = {};
  let ok = 0;
  for (let i = 0; i < 300; i++) if (p.admit(a)) ok++;
  t.equal(ok, 250, 'burst of 250');
  t.ok(p.admit(c), 'another connection has its own bucket');
  t.equal(p.dropped, 50);
  clock.advance(10); // 1000/s → 10 tokens
  ok = 0;
  for (let i = 0; i < 20; i++) if (p.admit(a)) ok++;
  t.equal(ok, 10);
  p.configure(100, 5);
  clock.advance(1000);
  ok = 0;
  for (let i = 0; i < 20; i++) if (p.admit(a)) ok++;
  t.equal(ok, 5, 'reconfigured burst');
  t.equal(p.stats(a).dropped, 50 + 10 + 15);
  t.end();
});

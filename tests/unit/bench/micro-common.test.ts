import t from 'tap';
import type { Bench } from 'tinybench';
import { formatResult, results } from '../../../bench/micro/common.js';

function fakeBench(tasks: { name: string; state: string; mean?: number }[]): Bench {
  return {
    tasks: tasks.map((x) => ({
      name: x.name,
      result:
        x.state === 'completed'
          ? { state: 'completed', latency: { mean: x.mean!, rme: 1.5, samplesCount: 40 } }
          : { state: x.state },
    })),
  } as unknown as Bench;
}

t.test('results turns mean call latency into a per-item rate', (t) => {
  const r = results(
    'suite',
    fakeBench([
      { name: 'a', state: 'completed', mean: 0.001 }, // 1 µs per call
      { name: 'b', state: 'completed', mean: 0.002 },
      { name: 'c', state: 'errored' },
    ]),
    (task) => (task === 'a' ? 10 : 1),
  );
  t.equal(r[0]!.suite, 'suite');
  t.equal(r[0]!.nsPerOp, 100);
  t.equal(r[0]!.opsPerSec, 1e7);
  t.equal(r[1]!.nsPerOp, 2000);
  t.equal(r[1]!.opsPerSec, 5e5);
  t.equal(r[1]!.samples, 40);
  t.equal(r[1]!.rme, 1.5);
  t.ok(Number.isNaN(r[2]!.opsPerSec));
  t.equal(r[2]!.samples, 0);
  t.end();
});

t.test('formatResult', (t) => {
  const [a, b, c, d] = results(
    's',
    fakeBench([
      { name: 'fast', state: 'completed', mean: 0.0001 },
      { name: 'mid', state: 'completed', mean: 0.02 },
      { name: 'slow', state: 'completed', mean: 2 },
      { name: 'bad', state: 'errored' },
    ]),
    1,
  );
  t.equal(formatResult(a!, 'lookups'), 'fast: 10.00 Mlookups/s (100 ns/lookup, ±1.5%)');
  t.equal(formatResult(b!), 'mid: 50.0 kops/s (20000 ns/op, ±1.5%)');
  t.equal(formatResult(c!, 'msgs'), 'slow: 500.0 msgs/s (2000000 ns/msg, ±1.5%)');
  t.equal(formatResult(d!), 'bad: failed');
  t.end();
});

import t from 'tap';
import { LabelledChild, allLabelledCounters, labelledCounter } from '../../../lib/counters.js';

t.test('LabelledCounter: inc and child handles share one count per label tuple', (t) => {
  const c = labelledCounter('h3_test_msgs', 'test', 'help', ['direction', 'type']);
  t.equal(labelledCounter('h3_test_msgs', 'test', 'other', ['x']), c, 'one family per name');
  c.inc(['rx', 'HELLO']);
  c.inc(['rx', 'HELLO'], 2);
  const tx = c.child('tx', 'HELLO');
  t.ok(tx instanceof LabelledChild);
  tx.inc();
  t.equal(c.child('tx', 'HELLO'), tx, 'the same handle for the same labels');
  c.inc(['tx', 'HELLO']);
  const labels = ['rx', 'ECHO_REQUEST'];
  c.inc(labels);
  labels[1] = 'changed';
  t.same(c.entries(), [
    { labels: ['rx', 'HELLO'], total: 3 },
    { labels: ['tx', 'HELLO'], total: 2 },
    { labels: ['rx', 'ECHO_REQUEST'], total: 1 },
  ]);
  t.equal(c.child('rx', 'HELLO').total, 3);
  t.ok(allLabelledCounters().includes(c));
  t.throws(() => c.inc(['rx']), /expected more/, 'too few label values');
  t.throws(() => c.inc(['rx', 'HELLO', 'x']), /expected fewer/, 'too many label values');
  t.end();
});

t.test('LabelledCounter: label values are told apart exactly (no joined keys)', (t) => {
  const c = labelledCounter('h3_test_join', 'test', '', ['a', 'b']);
  // With a joined string key, ['x\0y', 'z'] and ['x', 'y\0z'] would collide.
  c.inc(['x\0y', 'z']);
  c.inc(['x', 'y\0z']);
  t.equal(c.entries().length, 2);
  t.end();
});

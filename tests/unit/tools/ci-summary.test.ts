import t from 'tap';
import { summarize } from '../../../tools/ci-summary.js';

const header = 'TAP version 14\n1..2\n# Subtest: tests/a.test.ts\n    ok 1 - x\n    1..1\n';

void t.test('reads pass and fail from tap summary line', (t) => {
  const out = `${header}ok 1 - tests/a.test.ts # time=1ms\nnot ok 2 - tests/b.test.ts # time=2ms\n# { total: 8, pass: 5, fail: 3 }\n# time=10ms\n`;
  const s = summarize(out, 1);
  t.equal(s.passed, 5);
  t.equal(s.failed, 3);
  t.same(s.failedFiles, ['tests/b.test.ts']);
  t.same(s.notes, []);
  t.end();
});

void t.test('clean run: zero failed, skips counted apart', (t) => {
  const out = `${header}ok 1 - tests/a.test.ts\n# { total: 12, pass: 10, skip: 1, todo: 1 }\n`;
  const s = summarize(out, 0);
  t.equal(s.passed, 10);
  t.equal(s.failed, 0);
  t.equal(s.skipped, 2);
  t.end();
});

void t.test('failed files count when the summary undercounts', (t) => {
  const out = `not ok 1 - tests/a.test.ts # time=1ms\nnot ok 2 - tests/b.test.ts\n# { total: 3, pass: 2, fail: 1 }\n`;
  const s = summarize(out, 1);
  t.equal(s.failed, 2);
  t.match(s.notes.join('\n'), /2 test file/);
  t.end();
});

void t.test('non-zero exit never reports 0 failed', (t) => {
  const s = summarize('# { total: 4, pass: 4 }\n', 1);
  t.equal(s.passed, 4);
  t.equal(s.failed, 1);
  const none = summarize('', 0);
  t.equal(none.failed, 1, 'no summary at all is a failure');
  t.equal(none.sawSummary, false);
  t.end();
});

void t.test('colour codes are ignored; nested not ok lines are not file failures', (t) => {
  const out = '    not ok 1 - inner\n\x1b[32m# { total: 2, pass: 1, fail: 1 }\x1b[0m\n';
  const s = summarize(out, 1);
  t.equal(s.failed, 1);
  t.same(s.failedFiles, []);
  t.end();
});

import t, { type Test } from 'tap';
import { JsonFramer, FramerError } from '../../../lib/framer-json.js';
import { parseJson, type Json } from '../../../lib/json.js';

/** Fixtures: each is a stream and the messages it must yield. */
const MESSAGES = [
  '{"id":0,"method":"list_dbs","params":[]}',
  '{"id":"echo","result":[],"error":null}',
  '{"id":null,"method":"update3","params":[null,"00000000-0000-0000-0000-000000000000",{"T":{"u":{"insert":{"name":"br\u00e9\u20ac\u{1f600}"}}}}]}',
  '{"s":"braces } { ] [ inside \\" a string \\\\","k":{"nested":[[[{}]]]}}',
  '{"id":18446744073709551615,"result":{"n":-9223372036854775808,"r":1.5e-3},"error":null}',
  '{}',
  '{"\\u00e9\\ud83d\\ude00":"\\n\\t\\/"}',
];
const SEPARATORS = ['', '\n', ' \r\n\t ', '', '  ', '', '\n'];
const STREAM = Buffer.from(MESSAGES.map((m, i) => m + SEPARATORS[i]!).join(''), 'utf8');
const EXPECTED: Json[] = MESSAGES.map((m) => parseJson(m));

function feed(framer: JsonFramer, chunks: Uint8Array[]): Json[] {
  const out: Json[] = [];
  for (const c of chunks) out.push(...framer.push(c));
  return out;
}

/** Runs `fn` and returns the FramerError it throws (fails the test otherwise). */
function framerError(t: Test, fn: () => unknown): FramerError | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof FramerError) return e;
    t.fail(`expected FramerError, got ${String(e)}`);
    return undefined;
  }
  t.fail('expected FramerError, nothing thrown');
  return undefined;
}

void t.test('whole stream in one chunk', (t) => {
  t.same(feed(new JsonFramer(), [STREAM]), EXPECTED);
  t.end();
});

void t.test('split at every byte offset (two chunks) gives the same messages', (t) => {
  for (let i = 0; i <= STREAM.length; i++) {
    const got = feed(new JsonFramer(), [STREAM.subarray(0, i), STREAM.subarray(i)]);
    if (
      JSON.stringify(got, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)) !==
      JSON.stringify(EXPECTED, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))
    ) {
      t.fail(`split at ${i} differs`);
    }
  }
  t.pass('all splits agree');
  t.end();
});

void t.test('byte by byte (multi-byte UTF-8 split everywhere) gives the same messages', (t) => {
  const f = new JsonFramer();
  const chunks = [...STREAM].map((b) => Uint8Array.of(b));
  t.same(feed(f, chunks), EXPECTED);
  t.equal(f.pending(), 0);
  t.end();
});

void t.test('the framer copies partial input: reusing the caller chunk is safe', (t) => {
  const f = new JsonFramer();
  const buf = Buffer.from('{"a":"xy');
  t.same(f.push(buf), []);
  buf.fill(0x20);
  t.same(f.push(Buffer.from('z"}')), [{ a: 'xyz' }]);
  t.end();
});

void t.test('top level that is not an object is rejected, earlier messages kept', (t) => {
  for (const bad of ['[1]', '"x"', '1', 'null', 'x', '\u00e9', '\u0000']) {
    const f = new JsonFramer();
    const e = framerError(t, () => f.push(Buffer.from(`{"ok":1} ${bad}`)));
    t.equal(e?.reason, 'not-object', bad);
    t.same(e?.messages, [{ ok: 1 }]);
    // the framer stays failed
    t.equal(
      framerError(t, () => f.push(Buffer.from('{}'))),
      e,
    );
  }
  t.end();
});

void t.test('invalid JSON inside an object', (t) => {
  for (const bad of [
    '{"a":}',
    '{"a" 1}',
    '{a:1}',
    '{"a":1]',
    '{"a":[1}',
    '{"a":tru}',
    '{"a":"\\x"}',
    '{"a":"\u0001"}',
    '{"a":01}',
  ]) {
    const e = framerError(t, () => new JsonFramer().push(Buffer.from(bad)));
    t.equal(e?.reason, 'invalid-json', bad);
  }
  t.end();
});

void t.test('invalid UTF-8 is rejected', (t) => {
  const cases = [
    [0xff],
    [0xc3], // truncated 2-byte sequence
    [0xc0, 0xaf], // overlong
    [0xed, 0xa0, 0x80], // encoded surrogate
    [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    [0x80],
  ];
  for (const bytes of cases) {
    const msg = Buffer.concat([Buffer.from('{"a":"'), Buffer.from(bytes), Buffer.from('"}')]);
    const e = framerError(t, () => new JsonFramer().push(msg));
    t.equal(e?.reason, 'invalid-utf8', bytes.map((b) => b.toString(16)).join(' '));
  }
  t.end();
});

void t.test('oversized message is rejected before it completes', (t) => {
  const f = new JsonFramer({ maxMessageBytes: 100 });
  t.same(f.push(Buffer.from(`{"a":"${'x'.repeat(80)}"}`)), [{ a: 'x'.repeat(80) }]);
  t.same(f.push(Buffer.from('{"a":"')), []);
  const e = framerError(t, () => f.push(Buffer.alloc(200, 0x61)));
  t.equal(e?.reason, 'too-long');
  // exactly at the limit passes, one over fails
  const exact = `{"a":"${'x'.repeat(92)}"}`;
  t.equal(Buffer.byteLength(exact), 100);
  t.same(new JsonFramer({ maxMessageBytes: 100 }).push(Buffer.from(exact)), [
    { a: 'x'.repeat(92) },
  ]);
  const over = `{"a":"${'x'.repeat(93)}"}`;
  t.equal(
    framerError(t, () => new JsonFramer({ maxMessageBytes: 100 }).push(Buffer.from(over)))?.reason,
    'too-long',
  );
  // split over chunks
  const g = new JsonFramer({ maxMessageBytes: 100 });
  const e2 = framerError(t, () => {
    for (const b of Buffer.from(over)) g.push(Uint8Array.of(b));
  });
  t.equal(e2?.reason, 'too-long');
  t.end();
});

void t.test('deep nesting is rejected as soon as it is seen; default limit 1000', (t) => {
  const ok = '{"a":' + '['.repeat(999) + ']'.repeat(999) + '}';
  t.equal(new JsonFramer().push(Buffer.from(ok)).length, 1);
  const f = new JsonFramer();
  const e = framerError(t, () => f.push(Buffer.from('{"a":' + '['.repeat(1000))));
  t.equal(e?.reason, 'too-deep');
  const g = new JsonFramer({ maxDepth: 3 });
  t.equal(g.push(Buffer.from('{"a":[{}]}')).length, 1);
  t.equal(framerError(t, () => g.push(Buffer.from('{"a":[{"b":[]}]}')))?.reason, 'too-deep');
  // brackets inside strings do not count
  t.equal(new JsonFramer({ maxDepth: 1 }).push(Buffer.from('{"a":"[[[[{{{{"}')).length, 1);
  t.end();
});

void t.test('truncated input yields nothing and keeps the partial bytes', (t) => {
  const f = new JsonFramer();
  const half = STREAM.subarray(0, MESSAGES[0]!.length - 1);
  t.same(f.push(half), []);
  t.equal(f.pending(), half.length);
  t.same(f.push(Buffer.from('}')), [EXPECTED[0]]);
  t.equal(f.pending(), 0);
  t.end();
});

import t, { type Test } from 'tap';
import { parseJson, stringifyJson, JsonError, isJsonObject, type Json } from '../../../lib/json.js';

/** Asserts that `fn` throws a JsonError of `kind` (tap's throws() takes no predicate). */
function throwsKind(t: Test, fn: () => unknown, kind: string, msg?: string): void {
  try {
    fn();
    t.fail(`expected a ${kind} JsonError: ${msg ?? ''}`);
  } catch (e) {
    t.ok(e instanceof JsonError && e.kind === kind, msg ?? `throws JsonError ${kind}`, { e });
  }
}

function nested(depth: number, open = '[', close = ']', inner = ''): string {
  return open.repeat(depth) + inner + close.repeat(depth);
}

void t.test('small integers are numbers, big ones bigint, reals numbers', (t) => {
  t.equal(parseJson('42'), 42);
  t.equal(parseJson('-7'), -7);
  t.equal(parseJson('9007199254740991'), 9007199254740991);
  t.equal(parseJson('-9007199254740991'), -9007199254740991);
  t.equal(parseJson('9007199254740992'), 9007199254740992n);
  t.equal(parseJson('9007199254740993'), 9007199254740993n);
  t.equal(parseJson('-9223372036854775808'), -9223372036854775808n);
  t.equal(parseJson('18446744073709551615'), 18446744073709551615n);
  t.equal(parseJson('1.5'), 1.5);
  t.equal(parseJson('1e3'), 1000);
  t.equal(typeof parseJson('9223372036854775808.0'), 'number');
  t.equal(typeof parseJson('92233720368547758080e-1'), 'number');
  t.equal(parseJson('0.12345678901234567890'), 0.12345678901234568);
  t.end();
});

void t.test('big integers inside structures, ids echoed exactly', (t) => {
  const text =
    '{"id":123456789012345678901234567890,"params":[{"a":[1,-99999999999999999,2.5,"x\\"}",true,false,null]}],"method":"m"}';
  const v = parseJson(text);
  t.same(v, {
    id: 123456789012345678901234567890n,
    params: [{ a: [1, -99999999999999999n, 2.5, 'x"}', true, false, null] }],
    method: 'm',
  });
  t.equal(stringifyJson(v), text);
  t.end();
});

void t.test('strings with long digit runs take the slow path and stay strings', (t) => {
  const text = '["12345678901234567890", "\\u00e9\\n\\ud83d\\ude00", "caf\u00e9", 1]';
  t.same(parseJson(text), ['12345678901234567890', '\u00e9\n\u{1f600}', 'caf\u00e9', 1]);
  t.end();
});

void t.test('__proto__ keys are plain own properties on both paths', (t) => {
  for (const extra of ['', ',"n":12345678901234567890']) {
    const v = parseJson(`{"__proto__":{"polluted":1}${extra}}`);
    t.ok(isJsonObject(v));
    t.equal(Object.getPrototypeOf(v), Object.prototype);
    t.same(Object.keys(v as object)[0], '__proto__');
    t.equal(({} as Record<string, unknown>).polluted, undefined);
  }
  t.end();
});

void t.test('syntax errors throw JsonError on both paths', (t) => {
  const bad = [
    '',
    '{',
    '[1,]',
    '{"a":1,}',
    '{"a" 1}',
    '[1 2]',
    'tru',
    'nul',
    '"abc',
    '"a\u0001b"',
    '"\\x"',
    '01',
    '1.',
    '-',
    '{"a":1}x',
    '[1]]',
    "{'a':1}",
  ];
  for (const b of bad) {
    for (const text of [b, `[12345678901234567890,${b}]`]) {
      throwsKind(t, () => parseJson(text), 'syntax', `rejects ${JSON.stringify(text)}`);
    }
  }
  t.end();
});

void t.test('maxDepth is enforced on both paths, default 1000', (t) => {
  t.same(parseJson(nested(1000, '[', ']')), JSON.parse(nested(1000)));
  throwsKind(t, () => parseJson(nested(1001)), 'too-deep');
  const big = '12345678901234567890';
  t.doesNotThrow(() => parseJson(nested(1000, '[', ']', big)));
  throwsKind(t, () => parseJson(nested(1001, '[', ']', big)), 'too-deep');
  t.throws(() => parseJson(nested(3), { maxDepth: 2 }), JsonError);
  t.doesNotThrow(() => parseJson(nested(2), { maxDepth: 2 }));
  t.throws(() => parseJson(nested(3, '[', ']', big), { maxDepth: 2 }), JsonError);
  // brackets inside strings do not count
  t.doesNotThrow(() => parseJson(`["${'['.repeat(5000)}"]`));
  throwsKind(t, () => parseJson(nested(100000, '{"a":', '}', '1')), 'too-deep');
  throwsKind(t, () => parseJson(nested(100000, '[', ']', big), { maxDepth: Infinity }), 'too-deep');
  t.end();
});

void t.test('stringifyJson: compact, bigint digits, reals that re-parse as reals', (t) => {
  t.equal(
    stringifyJson({ a: [1, 2n, 'x'], b: null, c: { d: true } }),
    '{"a":[1,2,"x"],"b":null,"c":{"d":true}}',
  );
  t.equal(stringifyJson(2n ** 64n), '18446744073709551616');
  t.equal(stringifyJson(-(2n ** 63n)), '-9223372036854775808');
  const r = stringifyJson(2 ** 63);
  t.equal(typeof parseJson(r), 'number');
  t.equal(parseJson(r), 2 ** 63);
  t.equal(stringifyJson(1.5), '1.5');
  t.equal(stringifyJson(-0), '0');
  t.equal(stringifyJson('a"\\\n\u2028'), JSON.stringify('a"\\\n\u2028'));
  t.equal(stringifyJson({ u: undefined } as unknown as Json), '{}');
  for (const v of [NaN, Infinity, -Infinity]) {
    throwsKind(t, () => stringifyJson(v), 'unrepresentable');
  }
  t.throws(() => stringifyJson([() => 1] as unknown as Json), JsonError);
  const deep = JSON.parse(nested(1001)) as Json;
  throwsKind(t, () => stringifyJson(deep), 'too-deep');
  t.doesNotThrow(() => stringifyJson(JSON.parse(nested(1000)) as Json));
  t.end();
});

import t from 'tap';
import fc from 'fast-check';
import {
  bigIntToMac,
  formatIpv4,
  formatMac,
  getU64,
  inetChecksum,
  macIsZero,
  macToBigInt,
  parseCInteger,
  parseIpv4,
  parseMac,
  putU64,
  smapGetBool,
  smapGetInt,
} from '../../../protocols/common.js';

void t.test('MAC text and bigint forms round trip', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (m) => {
      const text = formatMac(m);
      t.same([...(parseMac(text) ?? [])], [...m]);
      t.same([...bigIntToMac(macToBigInt(m))], [...m]);
    }),
    { seed: 1, numRuns: 100 },
  );
  t.same([...(parseMac('A:b:0C:d:e:F') ?? [])], [10, 11, 12, 13, 14, 15]);
  for (const bad of [
    '',
    '00:11:22:33:44',
    '00:11:22:33:44:55:66',
    '00:11:22:33:44:5g',
    '000:1:2:3:4:5',
  ]) {
    t.equal(parseMac(bad), undefined, JSON.stringify(bad));
  }
  t.ok(macIsZero(new Uint8Array(6)));
  t.notOk(macIsZero(Uint8Array.of(0, 0, 0, 0, 0, 1)));
  t.end();
});

void t.test('IPv4 text', (t) => {
  t.equal(parseIpv4('169.254.1.1'), 0xa9fe0101);
  t.equal(formatIpv4(0xa9fe0100), '169.254.1.0');
  t.equal(formatIpv4(parseIpv4('255.255.255.255') ?? 0), '255.255.255.255');
  for (const bad of ['1.2.3', '1.2.3.256', '1.2.3.4.5', 'a.b.c.d', '1.2.3.-4', ' ']) {
    t.equal(parseIpv4(bad), undefined, bad);
  }
  t.end();
});

void t.test('64-bit fields, checksum, smap helpers', (t) => {
  const b = new Uint8Array(8);
  putU64(b, 0, 0x8000_0123_4567_89abn);
  t.equal(getU64(b, 0), 0x8000_0123_4567_89abn);
  // RFC 1071 example words 0001 f203 f4f5 f6f7 sum to ddf2 -> checksum 220d.
  t.equal(
    inetChecksum(Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7), 0, 8),
    0x220d,
  );
  t.equal(smapGetBool({ a: 'true' }, 'a', false), true);
  t.equal(smapGetBool({ a: 'yes' }, 'a', true), false);
  t.equal(smapGetBool({}, 'a', true), true);
  t.equal(smapGetInt({ a: ' 42 ' }, 'a', 0), 42);
  t.equal(smapGetInt({ a: '4x' }, 'a', 7), 7);
  t.equal(smapGetInt({}, 'a', 7), 7);
  t.equal(parseCInteger('0x10'), 16);
  t.equal(parseCInteger('010'), 8);
  t.equal(parseCInteger('10'), 10);
  t.equal(parseCInteger('ten'), undefined);
  t.end();
});

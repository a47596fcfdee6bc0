import t from 'tap';
import {
  formatIPv4,
  formatIPv6,
  ipv4CidrBits,
  ipv4Mask,
  ipv6CidrBits,
  ipv6MaskInto,
  parseIPv4,
  parseIPv6,
} from '../../../../lib/packet/ip.js';
import {
  formatMac,
  formatMacBytes,
  macIsBroadcast,
  macIsMulticast,
  parseMac,
} from '../../../../lib/packet/mac.js';
import { hex } from './helpers.js';

t.test('MAC parse/format', (t) => {
  t.same(parseMac('00:11:22:33:44:55'), [0x0011, 0x22334455]);
  t.same(parseMac('a-b-c-d-e-f'), [0x0a0b, 0x0c0d0e0f]);
  t.equal(parseMac('00:11:22:33:44'), undefined);
  t.equal(parseMac('00:11:22:33:44:5g'), undefined);
  t.equal(parseMac('00:11:22:33:44:555'), undefined);
  t.equal(formatMac(0xaabb, 0xccddeeff), 'aa:bb:cc:dd:ee:ff');
  t.equal(formatMac(0, 1), '00:00:00:00:00:01');
  t.equal(formatMacBytes(hex('0011223344556677'), 1), '11:22:33:44:55:66');
  t.ok(macIsMulticast(0x0100));
  t.notOk(macIsMulticast(0x0200));
  t.ok(macIsBroadcast(0xffff, 0xffffffff));
  t.notOk(macIsBroadcast(0xffff, 0xfffffffe));
  t.end();
});

t.test('IPv4 parse/format and masks', (t) => {
  t.equal(parseIPv4('192.168.0.1'), 0xc0a80001);
  t.equal(parseIPv4('255.255.255.255'), 0xffffffff);
  for (const bad of ['1.2.3', '1.2.3.4.5', '1.2.3.256', '1.2.3.-1', 'a.b.c.d', '1..2.3', '']) {
    t.equal(parseIPv4(bad), undefined, bad);
  }
  t.equal(formatIPv4(0xc0a80001), '192.168.0.1');
  t.equal(ipv4CidrBits(0xffffff00), 24);
  t.equal(ipv4CidrBits(0), 0);
  t.equal(ipv4CidrBits(0xffffffff), 32);
  t.equal(ipv4CidrBits(0xff00ff00), -1);
  t.equal(ipv4Mask(24), 0xffffff00);
  t.equal(ipv4Mask(0), 0);
  t.equal(ipv4Mask(32), 0xffffffff);
  t.end();
});

t.test('IPv6 parse/format as inet_ntop', (t) => {
  const cases: Array<[string, string]> = [
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['1:0:3:4:5:6:7:8', '1:0:3:4:5:6:7:8'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['::1.2.3.4', '::1.2.3.4'],
    ['64:ff9b::1.2.3.4', '64:ff9b::102:304'],
    ['fe80::1:2', 'fe80::1:2'],
  ];
  for (const [i, o] of cases) {
    const w = parseIPv6(i);
    t.ok(w, i);
    t.equal(formatIPv6(w!), o, i);
  }
  for (const bad of [
    '1:::2',
    '1::2::3',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '12345::',
    'g::',
    ':',
    '1.2.3.4',
    '',
  ]) {
    t.equal(parseIPv6(bad), undefined, bad);
  }
  const m = new Uint32Array(4);
  ipv6MaskInto(95, m);
  t.same([...m], [0xffffffff, 0xffffffff, 0xfffffffe, 0]);
  t.equal(ipv6CidrBits(m), 95);
  m[3] = 1;
  t.equal(ipv6CidrBits(m), -1);
  t.end();
});

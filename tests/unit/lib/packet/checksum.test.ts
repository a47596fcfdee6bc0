import t from 'tap';
import {
  checksum,
  crc32c,
  csumUpdate16,
  csumUpdate32,
  csumUpdateBytes,
  fold,
  onesSum,
  setIPv4HeaderChecksum,
  setL4Checksum,
  setSctpChecksum,
  verifyIPv4HeaderChecksum,
  verifyL4Checksum,
  verifySctpChecksum,
} from '../../../../lib/packet/checksum.js';
import { buildFrame } from '../../../../lib/packet/build.js';
import { parseFlow } from '../../../../lib/packet/format.js';
import { hex } from './helpers.js';

t.test('RFC 1071 example sum and odd lengths', (t) => {
  // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (folded).
  const b = hex('0001f203f4f5f6f7');
  t.equal(fold(onesSum(b, 0, 8)), 0xddf2);
  t.equal(checksum(b, 0, 8), ~0xddf2 & 0xffff);
  // An odd trailing byte is padded with zero.
  t.equal(fold(onesSum(hex('0102ab'), 0, 3)), 0x0102 + 0xab00);
  t.end();
});

t.test('IPv4 header checksum of a known header', (t) => {
  // A widely used example header whose checksum is 0xb861.
  const h = hex('4500 0073 0000 4000 4011 0000 c0a80001 c0a800c7');
  t.equal(setIPv4HeaderChecksum(h, 0), 0xb861);
  t.equal(h[10], 0xb8);
  t.equal(h[11], 0x61);
  t.ok(verifyIPv4HeaderChecksum(h, 0));
  h[8] = 0x3f;
  t.notOk(verifyIPv4HeaderChecksum(h, 0));
  t.end();
});

t.test('UDP over IPv4 and IPv6 with pseudo-headers', (t) => {
  // IPv4 + UDP (8 header + 4 payload).
  const p = hex('4500 0020 0000 0000 4011 0000 0a000001 0a000002 | 04d2 0050 000c 0000 | deadbeef');
  setIPv4HeaderChecksum(p, 0);
  const c = setL4Checksum(p, 0, 20, 12, 17, false);
  // Hand computation: pseudo (0a00+0001+0a00+0002+0011+000c) + udp (04d2+0050+000c) + data (dead+beef).
  const sum =
    0x0a00 +
    0x0001 +
    0x0a00 +
    0x0002 +
    0x0011 +
    0x000c +
    0x04d2 +
    0x0050 +
    0x000c +
    0xdead +
    0xbeef;
  t.equal(c, ~fold(sum) & 0xffff);
  t.ok(verifyL4Checksum(p, 0, 20, 12, 17, false));
  p[31] = p[31]! ^ 1;
  t.notOk(verifyL4Checksum(p, 0, 20, 12, 17, false));
  // UDP/IPv4 with checksum 0 means "none".
  p[26] = p[27] = 0;
  t.ok(verifyL4Checksum(p, 0, 20, 12, 17, false));

  const v6 = new Uint8Array(40 + 8);
  v6.set(hex('60000000 0008 11 40'), 0);
  v6[8 + 15] = 1;
  v6[24 + 15] = 2;
  v6.set(hex('0035 0035 0008 0000'), 40);
  setL4Checksum(v6, 0, 40, 8, 17, true);
  t.ok(verifyL4Checksum(v6, 0, 40, 8, 17, true));
  t.not((v6[46]! << 8) | v6[47]!, 0, 'UDP checksum never written as 0');
  t.end();
});

t.test('ICMPv4 has no pseudo-header; unknown protocols are refused', (t) => {
  const p = hex('4500 001c 0000 0000 4001 0000 0a000001 0a000002 | 0800 0000 1234 0001');
  setL4Checksum(p, 0, 20, 8, 1, false);
  t.equal(checksum(p, 20, 8), 0, 'a correct ICMP checksum sums to zero');
  t.equal(setL4Checksum(p, 0, 20, 8, 99, false), -1);
  t.notOk(verifyL4Checksum(p, 0, 20, 8, 99, false));
  t.end();
});

t.test('RFC 1624 incremental updates equal a recomputation', (t) => {
  const h = hex('4500 0073 0000 4000 4011 0000 c0a80001 c0a800c7');
  const c0 = setIPv4HeaderChecksum(h, 0);
  // TTL 64 -> 63: the word at offset 8 is (ttl << 8 | proto).
  const oldWord = (h[8]! << 8) | h[9]!;
  h[8] = 63;
  const inc = csumUpdate16(c0, oldWord, (h[8] << 8) | h[9]!);
  t.equal(inc, setIPv4HeaderChecksum(h, 0));
  // Source address change.
  const c1 = inc;
  const oldSrc = 0xc0a80001;
  h.set(hex('0a0a0a0a'), 12);
  t.equal(csumUpdate32(c1, oldSrc, 0x0a0a0a0a), setIPv4HeaderChecksum(h, 0));
  // Byte-run update (e.g. an IPv6 address inside a pseudo-header).
  const oldB = hex('20010db8000000000000000000000001');
  const newB = hex('fe800000000000000000000000000042');
  const buf = new Uint8Array(20);
  buf.set(oldB, 2);
  const before = checksum(buf, 0, 20);
  buf.set(newB, 2);
  t.equal(csumUpdateBytes(before, oldB, 0, newB, 0, 16), checksum(buf, 0, 20));
  t.end();
});

t.test('CRC32c and the SCTP checksum', (t) => {
  // The standard check value for CRC-32C.
  t.equal(crc32c(new TextEncoder().encode('123456789'), 0, 9), 0xe3069283);
  // RFC 3720 B.4: 32 bytes of zeros.
  t.equal(crc32c(new Uint8Array(32), 0, 32), 0x8a9136aa);
  const s = hex('0b59 0b5a 00000001 00000000 | 01000004');
  const c = setSctpChecksum(s, 0, s.length);
  t.equal(s[8], c & 0xff, 'stored least significant byte first');
  t.ok(verifySctpChecksum(s, 0, s.length));
  s[0] = s[0]! ^ 0x10;
  t.notOk(verifySctpChecksum(s, 0, s.length));
  t.end();
});

t.test('set-field style rewrites keep checksums valid with incremental updates', (t) => {
  const get16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
  const put16 = (b: Uint8Array, o: number, v: number): void => {
    b[o] = v >>> 8;
    b[o + 1] = v & 0xff;
  };
  // IPv4/TCP: rewrite the source address (IP header + TCP pseudo-header) and the dst port.
  const f = buildFrame(
    parseFlow('tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_ttl=64,tp_src=1000,tp_dst=80').key,
    {
      payload: hex('68656c6c6f'),
    },
  );
  const l3 = 14;
  const l4 = 34;
  const l4len = f.length - l4;
  t.ok(verifyL4Checksum(f, l3, l4, l4len, 6, false));
  const oldSrc = ((f[26]! << 24) | (f[27]! << 16) | (f[28]! << 8) | f[29]!) >>> 0;
  const newSrc = 0xc0a80105;
  f.set(hex('c0a80105'), 26);
  put16(f, 24, csumUpdate32(get16(f, 24), oldSrc, newSrc));
  put16(f, l4 + 16, csumUpdate32(get16(f, l4 + 16), oldSrc, newSrc));
  const oldPort = get16(f, l4 + 2);
  put16(f, l4 + 2, 8080);
  put16(f, l4 + 16, csumUpdate16(get16(f, l4 + 16), oldPort, 8080));
  // TTL decrement.
  const oldTtlProto = get16(f, 22);
  f[22] = f[22]! - 1;
  put16(f, 24, csumUpdate16(get16(f, 24), oldTtlProto, get16(f, 22)));
  t.ok(verifyIPv4HeaderChecksum(f, l3), 'IPv4 header checksum after rewrite');
  t.ok(verifyL4Checksum(f, l3, l4, l4len, 6, false), 'TCP checksum after rewrite');
  // IPv6/UDP: rewrite the destination address.
  const g = buildFrame(
    parseFlow('udp6,ipv6_src=2001:db8::1,ipv6_dst=2001:db8::2,tp_src=1,tp_dst=2').key,
    {
      payload: hex('0102'),
    },
  );
  const g4 = 54;
  const old = g.slice(38, 54);
  const nu = hex('fe800000000000000000000000000099');
  g.set(nu, 38);
  put16(g, g4 + 6, csumUpdateBytes(get16(g, g4 + 6), old, 0, nu, 0, 16));
  t.ok(verifyL4Checksum(g, 14, g4, g.length - g4, 17, true), 'UDP/IPv6 checksum after rewrite');
  t.end();
});

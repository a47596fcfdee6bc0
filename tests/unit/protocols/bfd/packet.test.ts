import t, { type Test } from 'tap';
import fc from 'fast-check';
import {
  BFD_DEFAULT_DST_MAC,
  BFD_DEST_PORT,
  BFD_FRAME_LEN,
  BfdDecodeError,
  BfdFlag,
  BfdState,
  bfdDiagName,
  bfdFlagsText,
  checkBfdControl,
  decodeBfdControl,
  encodeBfdControl,
  encodeBfdFrame,
  isBfdFrame,
  parseBfdFrame,
  type BfdControlPacket,
} from '../../../../protocols/bfd/packet.js';
import { parseBfdConfig } from '../../../../protocols/bfd/config.js';
import { formatIpv4, getU16, inetChecksum } from '../../../../protocols/common.js';

/** Asserts that `fn` throws an error whose `reason` is `reason`. */
function throwsReason(tt: Test, fn: () => unknown, reason: string): void {
  try {
    fn();
    tt.fail(`expected a ${reason} error`);
  } catch (e) {
    tt.equal((e as { reason?: string }).reason, reason, reason);
  }
}

const arbPacket: fc.Arbitrary<BfdControlPacket> = fc.record({
  version: fc.integer({ min: 0, max: 7 }),
  diag: fc.integer({ min: 0, max: 31 }),
  state: fc.constantFrom(BfdState.AdminDown, BfdState.Down, BfdState.Init, BfdState.Up),
  flags: fc.integer({ min: 0, max: 63 }),
  detectMult: fc.integer({ min: 0, max: 255 }),
  length: fc.integer({ min: 0, max: 255 }),
  myDisc: fc.nat({ max: 0xffffffff }),
  yourDisc: fc.nat({ max: 0xffffffff }),
  desiredMinTxUs: fc.nat({ max: 0xffffffff }),
  requiredMinRxUs: fc.nat({ max: 0xffffffff }),
  requiredMinEchoRxUs: fc.nat({ max: 0xffffffff }),
});

const SRC_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x0a);

function goodMsg(over: Partial<BfdControlPacket> = {}): BfdControlPacket {
  return {
    version: 1,
    diag: 0,
    state: BfdState.Down,
    flags: 0,
    detectMult: 3,
    length: 24,
    myDisc: 0x1234,
    yourDisc: 0,
    desiredMinTxUs: 1_000_000,
    requiredMinRxUs: 1_000_000,
    requiredMinEchoRxUs: 0,
    ...over,
  };
}

void t.test('control packet encode/decode is the identity (property)', (t) => {
  fc.assert(
    fc.property(arbPacket, (p) => {
      const bytes = encodeBfdControl(p);
      t.equal(bytes.length, 24);
      t.same(decodeBfdControl(bytes), p);
    }),
    { seed: 5880, numRuns: 300 },
  );
  t.end();
});

void t.test('frame encode/parse round trip with OVS framing', (t) => {
  const msg = goodMsg({ state: BfdState.Up, flags: BfdFlag.Poll, yourDisc: 9 });
  const f = encodeBfdFrame(
    {
      ethDst: BFD_DEFAULT_DST_MAC,
      ethSrc: SRC_MAC,
      ipSrc: 0xa9fe0101,
      ipDst: 0xa9fe0100,
      udpSrc: 49152,
    },
    msg,
  );
  t.equal(f.length, BFD_FRAME_LEN);
  t.equal(f.length, 66);
  const p = parseBfdFrame(f);
  t.same([...p.ethDst], [0x00, 0x23, 0x20, 0x00, 0x00, 0x01]);
  t.same([...p.ethSrc], [...SRC_MAC]);
  t.equal(formatIpv4(p.ipSrc), '169.254.1.1');
  t.equal(formatIpv4(p.ipDst), '169.254.1.0');
  t.equal(p.ttl, 255);
  t.equal(p.tos, 0xc0);
  t.equal(p.udpSrc, 49152);
  t.equal(p.udpDst, BFD_DEST_PORT);
  t.equal(p.payloadLength, 24);
  t.equal(inetChecksum(f, 14, 20), 0, 'IPv4 header checksum verifies');
  t.equal(getU16(f, 14 + 2), 52, 'IP total length');
  t.same(decodeBfdControl(f, p.payloadOffset, p.payloadLength), msg);
  t.ok(isBfdFrame(f));
  t.end();
});

void t.test('isBfdFrame: VLAN-tagged yes; other ports, protocols, fragments, runts no', (t) => {
  const f = encodeBfdFrame(
    { ethDst: BFD_DEFAULT_DST_MAC, ethSrc: SRC_MAC, ipSrc: 1, ipDst: 2, udpSrc: 50000 },
    goodMsg(),
  );
  const tagged = new Uint8Array(f.length + 4);
  tagged.set(f.subarray(0, 12), 0);
  tagged.set([0x81, 0x00, 0x00, 0x0a], 12);
  tagged.set(f.subarray(12), 16);
  t.ok(isBfdFrame(tagged), 'one 802.1Q tag');
  t.same(parseBfdFrame(tagged).vlans, [0x8100000a]);

  const otherPort = f.slice();
  otherPort[14 + 20 + 3] = 0x01; // 3784 -> 3841
  t.notOk(isBfdFrame(otherPort));
  const tcp = f.slice();
  tcp[14 + 9] = 6;
  t.notOk(isBfdFrame(tcp));
  const frag = f.slice();
  frag[14 + 7] = 0x10; // fragment offset != 0
  t.notOk(isBfdFrame(frag));
  const arp = f.slice();
  arp[12] = 0x08;
  arp[13] = 0x06;
  t.notOk(isBfdFrame(arp));
  t.notOk(isBfdFrame(f.subarray(0, 20)));
  t.notOk(isBfdFrame(new Uint8Array(0)));
  t.end();
});

void t.test('decoders throw only BfdDecodeError on random bytes (property)', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
      for (const fn of [() => parseBfdFrame(bytes), () => decodeBfdControl(bytes)]) {
        try {
          fn();
        } catch (e) {
          if (!(e instanceof BfdDecodeError)) throw e;
        }
      }
      t.type(isBfdFrame(bytes), 'boolean');
    }),
    { seed: 5881, numRuns: 1000 },
  );
  // Mutations of a valid frame reach deeper into the parser.
  const base = encodeBfdFrame(
    { ethDst: BFD_DEFAULT_DST_MAC, ethSrc: SRC_MAC, ipSrc: 1, ipDst: 2, udpSrc: 50000 },
    goodMsg(),
  );
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.nat({ max: 255 })), { maxLength: 6 }),
      fc.nat({ max: base.length }),
      (muts, cut) => {
        const f = base.slice(0, cut);
        for (const [i, v] of muts) if (i < f.length) f[i] = v;
        try {
          const p = parseBfdFrame(f);
          decodeBfdControl(f, p.payloadOffset, p.payloadLength);
        } catch (e) {
          if (!(e instanceof BfdDecodeError)) throw e;
        }
      },
    ),
    { seed: 3784, numRuns: 1000 },
  );
  t.end();
});

void t.test('too-short control packet is a tooShort error', (t) => {
  throwsReason(t, () => decodeBfdControl(new Uint8Array(23)), 'tooShort');
  t.end();
});

void t.test('RFC 5880 6.8.6 checks, one reason each', (t) => {
  const local = 0x55;
  t.equal(checkBfdControl(goodMsg(), 24, local), undefined);
  t.equal(checkBfdControl(goodMsg({ version: 2 }), 24, local), 'badVersion');
  t.equal(checkBfdControl(goodMsg({ flags: BfdFlag.Auth }), 24, local), 'auth');
  t.equal(checkBfdControl(goodMsg({ length: 23 }), 24, local), 'badLength');
  t.equal(checkBfdControl(goodMsg({ length: 30 }), 24, local), 'badLength', 'beyond payload');
  t.equal(checkBfdControl(goodMsg({ length: 30 }), 30, local), undefined, 'within payload');
  t.equal(checkBfdControl(goodMsg({ detectMult: 0 }), 24, local), 'zeroMult');
  t.equal(checkBfdControl(goodMsg({ flags: BfdFlag.Multipoint }), 24, local), 'multipoint');
  t.equal(checkBfdControl(goodMsg({ myDisc: 0 }), 24, local), 'zeroMyDisc');
  t.equal(checkBfdControl(goodMsg({ yourDisc: 0x56 }), 24, local), 'badYourDisc');
  t.equal(checkBfdControl(goodMsg({ yourDisc: local, state: BfdState.Up }), 24, local), undefined);
  t.equal(checkBfdControl(goodMsg({ state: BfdState.Init }), 24, local), 'nullYourDisc');
  t.equal(checkBfdControl(goodMsg({ state: BfdState.Up }), 24, local), 'nullYourDisc');
  t.equal(checkBfdControl(goodMsg({ state: BfdState.AdminDown }), 24, local), undefined);
  t.end();
});

void t.test('diagnostic and flag texts as OVS writes them', (t) => {
  t.equal(bfdDiagName(0), 'No Diagnostic');
  t.equal(bfdDiagName(1), 'Control Detection Time Expired');
  t.equal(bfdDiagName(2), 'Echo Function Failed');
  t.equal(bfdDiagName(3), 'Neighbor Signaled Session Down');
  t.equal(bfdDiagName(4), 'Forwarding Plane Reset');
  t.equal(bfdDiagName(5), 'Path Down');
  t.equal(bfdDiagName(6), 'Concatenated Path Down');
  t.equal(bfdDiagName(7), 'Administratively Down');
  t.equal(bfdDiagName(8), 'Reverse Concatenated Path Down');
  t.equal(bfdDiagName(9), 'Invalid Diagnostic');
  t.equal(bfdFlagsText(0), 'none');
  t.equal(bfdFlagsText(BfdFlag.Poll | BfdFlag.Final), 'final poll');
  t.end();
});

void t.test('configuration keys and OVS defaults', (t) => {
  const d = parseBfdConfig({ enable: 'true' });
  t.equal(d.enable, true);
  t.equal(d.minRx, 1000);
  t.equal(d.minTx, 100);
  t.equal(d.mult, 3);
  t.equal(d.decayMinRx, 0);
  t.equal(d.forwardingIfRx, false);
  t.equal(d.cpathDown, false);
  t.equal(d.checkTnlKey, false);
  t.equal(d.oam, false);
  t.equal(formatIpv4(d.srcIp), '169.254.1.1');
  t.equal(formatIpv4(d.dstIp), '169.254.1.0');
  t.equal(d.localSrcMac, undefined);
  t.equal(parseBfdConfig({}).enable, false, 'not enabled by default');
  const c = parseBfdConfig({
    enable: 'true',
    min_rx: '0',
    min_tx: '-5',
    mult: '300',
    bfd_src_ip: '10.0.0.1',
    bfd_dst_ip: 'bogus',
    bfd_local_dst_mac: '00:11:22:33:44:55',
    bfd_remote_dst_mac: '00:00:00:00:00:00',
    forwarding_if_rx: 'true',
    cpath_down: 'yes',
  });
  t.equal(c.minRx, 1, 'min_rx at least 1');
  t.equal(c.minTx, 1, 'min_tx at least 1');
  t.equal(c.mult, 3, 'mult out of range falls back to 3');
  t.equal(formatIpv4(c.srcIp), '10.0.0.1');
  t.equal(formatIpv4(c.dstIp), '169.254.1.0', 'invalid IP falls back');
  t.same([...(c.localDstMac ?? [])], [0, 0x11, 0x22, 0x33, 0x44, 0x55]);
  t.equal(c.remoteDstMac, undefined, 'all-zero MAC is unset');
  t.equal(c.forwardingIfRx, true);
  t.equal(c.cpathDown, false, 'only "true" is true');
  t.end();
});

/** BFD frames captured from Open vSwitch 3.1 (netdev-dummy pcap) during a session with ours. */
const OVS_FRAMES = {
  down: '002320000001aa55aa55000f080045c0003400000000ff1164fba9fe0101a9fe0100c0000ec800200000204003185ce65f0300000000000f4240000493e000000000',
  init: '002320000001aa55aa55000f080045c0003400000000ff1164fba9fe0101a9fe0100c0000ec800200000208003185ce65f03b1f68d90000f4240000493e000000000',
  up: '002320000001aa55aa55000f080045c0003400000000ff1164fba9fe0101a9fe0100c0000ec80020000020c003185ce65f03b1f68d90000186a0000493e000000000',
  upPoll:
    '002320000001aa55aa55000f080045c0003400000000ff1164fba9fe0101a9fe0100c0000ec80020000020e003185ce65f03b1f68d900007a120000493e000000000',
  upFinal:
    '002320000001aa55aa55000f080045c0003400000000ff1164fba9fe0101a9fe0100c0000ec80020000020d003185ce65f03b1f68d900007a120000493e000000000',
} as const;

void t.test('frames captured from OVS decode as expected and re-encode byte for byte', (t) => {
  const expect: Record<keyof typeof OVS_FRAMES, [number, number, number, number]> = {
    down: [BfdState.Down, 0, 0, 1_000_000],
    init: [BfdState.Init, 0, 0xb1f68d90, 1_000_000],
    up: [BfdState.Up, 0, 0xb1f68d90, 100_000],
    upPoll: [BfdState.Up, BfdFlag.Poll, 0xb1f68d90, 500_000],
    upFinal: [BfdState.Up, BfdFlag.Final, 0xb1f68d90, 500_000],
  };
  for (const [name, hex] of Object.entries(OVS_FRAMES) as [keyof typeof OVS_FRAMES, string][]) {
    const f = Uint8Array.from(Buffer.from(hex, 'hex'));
    t.ok(isBfdFrame(f), name);
    const p = parseBfdFrame(f);
    const m = decodeBfdControl(f, p.payloadOffset, p.payloadLength);
    const [state, flags, yourDisc, minTx] = expect[name];
    t.same(
      [m.state, m.flags, m.yourDisc, m.desiredMinTxUs, m.requiredMinRxUs, m.myDisc, m.detectMult],
      [state, flags, yourDisc, minTx, 300_000, 0x5ce65f03, 3],
      name,
    );
    t.equal(checkBfdControl(m, p.payloadLength, yourDisc || 1), undefined, `${name} passes checks`);
    t.equal(
      Buffer.from(encodeBfdFrame(p, m)).toString('hex'),
      hex,
      `${name} re-encodes identically`,
    );
  }
  t.end();
});

import t, { type Test } from 'tap';
import fc from 'fast-check';
import {
  STP_GROUP_MAC,
  StpDecodeError,
  StpFlag,
  decodeBpdu,
  decodeBpduFrame,
  encodeBpdu,
  encodeBpduFrame,
  isStpFrame,
  type StpConfigBpdu,
} from '../../../../protocols/stp/bpdu.js';
import {
  assignStpPortNumbers,
  parseStpBridgeConfig,
  parseStpPortConfig,
  stpSpeedToCost,
} from '../../../../protocols/stp/config.js';
import { formatMac } from '../../../../protocols/common.js';

/** Asserts that `fn` throws an error whose `reason` is `reason`. */
function throwsReason(tt: Test, fn: () => unknown, reason: string): void {
  try {
    fn();
    tt.fail(`expected a ${reason} error`);
  } catch (e) {
    tt.equal((e as { reason?: string }).reason, reason, reason);
  }
}

const SRC = Uint8Array.of(0x02, 0, 0, 0, 0, 1);

const arbConfig: fc.Arbitrary<StpConfigBpdu> = fc.record({
  type: fc.constant('config' as const),
  flags: fc.nat({ max: 255 }),
  rootId: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  rootPathCost: fc.nat({ max: 0xffffffff }),
  bridgeId: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  portId: fc.nat({ max: 0xffff }),
  messageAge: fc.nat({ max: 0xffff }),
  maxAge: fc.nat({ max: 0xffff }),
  helloTime: fc.nat({ max: 0xffff }),
  forwardDelay: fc.nat({ max: 0xffff }),
});

void t.test('configuration BPDU round trip, bare and framed (property)', (t) => {
  fc.assert(
    fc.property(arbConfig, (b) => {
      const bytes = encodeBpdu(b);
      t.equal(bytes.length, 35);
      t.same(decodeBpdu(bytes), b);
      const f = encodeBpduFrame(SRC, b);
      t.ok(isStpFrame(f));
      t.same(decodeBpduFrame(f), b);
    }),
    { seed: 8021, numRuns: 200 },
  );
  t.end();
});

void t.test('frame layout: group address, 802.3 length, LLC 42 42 03, padding', (t) => {
  const cfg: StpConfigBpdu = {
    type: 'config',
    flags: StpFlag.TopologyChange | StpFlag.TopologyChangeAck,
    rootId: 0x8000_0200_0000_0001n,
    rootPathCost: 4,
    bridgeId: 0x8000_0200_0000_0002n,
    portId: 0x8001,
    messageAge: 256,
    maxAge: 20 * 256,
    helloTime: 2 * 256,
    forwardDelay: 15 * 256,
  };
  const f = encodeBpduFrame(SRC, cfg);
  t.equal(f.length, 52, 'not padded, as OVS sends it');
  t.equal(formatMac(f.subarray(0, 6)), '01:80:c2:00:00:00');
  t.equal(formatMac(f.subarray(6, 12)), '02:00:00:00:00:01');
  t.same([...f.subarray(12, 17)], [0, 38, 0x42, 0x42, 0x03], 'length 3 + 35, then LLC');
  t.same([...f.subarray(17, 22)], [0, 0, 0, 0, 0x81], 'protocol 0, version 0, type config, flags');
  t.same([...f.subarray(22, 30)], [0x80, 0, 2, 0, 0, 0, 0, 1], 'root id');
  const tcn = encodeBpduFrame(SRC, { type: 'tcn' });
  t.same([...tcn.subarray(12, 21)], [0, 7, 0x42, 0x42, 0x03, 0, 0, 0, 0x80]);
  t.equal(tcn.length, 21);
  const padded = new Uint8Array(60);
  padded.set(tcn);
  t.same(decodeBpduFrame(padded), { type: 'tcn' }, 'padding is not part of the TCN');
  t.same([...STP_GROUP_MAC], [1, 0x80, 0xc2, 0, 0, 0]);
  t.end();
});

void t.test('malformed BPDUs throw typed errors with the right reason', (t) => {
  const good = encodeBpdu({ type: 'tcn' });
  throwsReason(t, () => decodeBpdu(good.subarray(0, 3)), 'runt');
  throwsReason(t, () => decodeBpdu(Uint8Array.of(0, 1, 0, 0x80)), 'badProtocol');
  throwsReason(t, () => decodeBpdu(Uint8Array.of(0, 0, 0, 0, 0)), 'badConfigLength');
  throwsReason(t, () => decodeBpdu(Uint8Array.of(0, 0, 0, 0x80, 0)), 'badTcnLength');
  throwsReason(
    t,
    () => decodeBpdu(Uint8Array.of(0, 0, 2, 2, ...new Array<number>(32).fill(0))),
    'badType',
  );
  t.same(decodeBpdu(Uint8Array.of(0, 0, 7, 0x80)), { type: 'tcn' }, 'any version accepted');
  const f = encodeBpduFrame(SRC, { type: 'tcn' });
  const badLlc = f.slice();
  badLlc[14] = 0xaa;
  throwsReason(t, () => decodeBpduFrame(badLlc), 'badLlc');
  const badLen = f.slice();
  badLen[13] = 200;
  throwsReason(t, () => decodeBpduFrame(badLen), 'truncated');
  throwsReason(t, () => decodeBpduFrame(f.subarray(0, 16)), 'truncated');
  const ethertype = f.slice();
  ethertype[12] = 0x08;
  t.notOk(isStpFrame(ethertype));
  const snap = f.slice();
  snap.set([0xaa, 0xaa, 0x03], 14);
  t.notOk(isStpFrame(snap), 'SNAP-encapsulated frames are not STP');
  throwsReason(t, () => decodeBpduFrame(ethertype), 'badLlc');
  t.end();
});

void t.test('decoders throw only StpDecodeError on random input (property)', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      for (const fn of [() => decodeBpdu(bytes), () => decodeBpduFrame(bytes)]) {
        try {
          fn();
        } catch (e) {
          if (!(e instanceof StpDecodeError)) throw e;
        }
      }
      t.type(isStpFrame(bytes), 'boolean');
    }),
    { seed: 1998, numRuns: 1000 },
  );
  t.end();
});

void t.test('OVS configuration keys and defaults', (t) => {
  const mac = Uint8Array.of(0xaa, 0, 0, 0, 0, 1);
  const d = parseStpBridgeConfig({}, mac);
  t.equal(formatMac(d.systemId), 'aa:00:00:00:00:01');
  t.equal(d.priority, 32768);
  t.equal(d.helloTime, 2);
  t.equal(d.maxAge, 20);
  t.equal(d.forwardDelay, 15);
  const c = parseStpBridgeConfig(
    {
      'stp-system-id': '00:11:22:33:44:55',
      'stp-priority': '4096',
      'stp-hello-time': '1',
      'stp-max-age': '10',
      'stp-forward-delay': '8',
    },
    mac,
  );
  t.equal(formatMac(c.systemId), '00:11:22:33:44:55');
  t.same([c.priority, c.helloTime, c.maxAge, c.forwardDelay], [4096, 1, 10, 8]);
  t.equal(
    formatMac(parseStpBridgeConfig({ 'stp-system-id': 'junk' }, mac).systemId),
    'aa:00:00:00:00:01',
  );
  t.same(parseStpPortConfig({}), {
    enable: true,
    portNum: undefined,
    priority: 128,
    pathCost: undefined,
  });
  t.same(
    parseStpPortConfig({
      'stp-enable': 'false',
      'stp-port-num': '7',
      'stp-port-priority': '0x10',
      'stp-path-cost': '100',
    }),
    { enable: false, portNum: 7, priority: 16, pathCost: 100 },
  );
  t.same(parseStpPortConfig({ 'stp-port-num': '256' }), { error: 'invalid stp-port-num' });
  t.same(parseStpPortConfig({ 'stp-port-num': '0' }), { error: 'invalid stp-port-num' });
  t.end();
});

void t.test('port numbering: all automatic, all manual, or an error', (t) => {
  const auto = { enable: true, portNum: undefined, priority: 128, pathCost: undefined };
  const r = assignStpPortNumbers([
    { name: 'p1', config: auto },
    { name: 'p2', config: { ...auto, enable: false } },
    { name: 'p3', config: auto },
  ]);
  t.ok(r.ok);
  if (r.ok)
    t.same(
      [...r.numbers],
      [
        ['p1', 1],
        ['p3', 2],
      ],
    );
  const m = assignStpPortNumbers([
    { name: 'p1', config: { ...auto, portNum: 5 } },
    { name: 'p2', config: { ...auto, portNum: 5 } },
  ]);
  t.ok(m.ok);
  if (m.ok) {
    t.same([...m.numbers], [['p1', 5]]);
    t.equal(m.errors.length, 1, 'duplicate disabled');
  }
  const mixed = assignStpPortNumbers([
    { name: 'p1', config: { ...auto, portNum: 5 } },
    { name: 'p2', config: auto },
  ]);
  t.notOk(mixed.ok);
  t.end();
});

void t.test('802.1D path cost table', (t) => {
  t.same(
    [100000, 10000, 1000, 100, 16, 10, 4, 1].map(stpSpeedToCost),
    [2, 2, 4, 19, 62, 100, 250, 2],
  );
  t.end();
});

void t.test('configuration BPDUs captured from OVS decode and re-encode byte for byte', (t) => {
  const frames = [
    '0180c2000000aa55aa550010002642420300000000001000f250d1b7a34b000000001000f250d1b7a34b80010000060001000400',
    '0180c2000000aa55aa550010002642420300000000011000f250d1b7a34b000000001000f250d1b7a34b80010000060001000400',
  ];
  for (const [i, hex] of frames.entries()) {
    const f = Uint8Array.from(Buffer.from(hex, 'hex'));
    t.ok(isStpFrame(f));
    const b = decodeBpduFrame(f);
    t.same(b, {
      type: 'config',
      flags: i === 1 ? StpFlag.TopologyChange : 0,
      rootId: 0x1000_f250_d1b7_a34bn,
      rootPathCost: 0,
      bridgeId: 0x1000_f250_d1b7_a34bn,
      portId: 0x8001,
      messageAge: 0,
      maxAge: 6 * 256,
      helloTime: 256,
      forwardDelay: 4 * 256,
    });
    t.equal(Buffer.from(encodeBpduFrame(f.subarray(6, 12), b)).toString('hex'), hex);
  }
  t.end();
});

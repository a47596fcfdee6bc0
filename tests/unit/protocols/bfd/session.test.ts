import t from 'tap';
import fc from 'fast-check';
import { FakeClock } from '../../../../lib/clock.js';
import {
  BfdFlag,
  BfdState,
  decodeBfdControl,
  encodeBfdFrame,
  parseBfdFrame,
  BFD_DEFAULT_DST_MAC,
  type BfdControlPacket,
} from '../../../../protocols/bfd/packet.js';
import { BfdSession, bfdSetForwarding, formatBfdShow } from '../../../../protocols/bfd/session.js';
import { parseIpv4 } from '../../../../protocols/common.js';

const MAC_A = Uint8Array.of(2, 0, 0, 0, 0, 0xa);
const MAC_B = Uint8Array.of(2, 0, 0, 0, 0, 0xb);

/** Deterministic PRNG in [0,1). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 0x100000000;
  };
}

/** Two sessions joined by an in-memory link whose directions can be cut. */
class Pair {
  readonly clock = new FakeClock(1000);
  a: BfdSession;
  b: BfdSession;
  aToB = true;
  bToA = true;
  /** Every control packet sent, decoded, with the sender. */
  readonly sent: { from: 'a' | 'b'; at: number; msg: BfdControlPacket }[] = [];

  constructor(cfgA: Record<string, string> = {}, cfgB: Record<string, string> = {}) {
    this.a = new BfdSession({
      name: 'a0',
      clock: this.clock,
      config: { enable: 'true', ...cfgA },
      random: lcg(1),
    });
    this.b = new BfdSession({
      name: 'b0',
      clock: this.clock,
      config: { enable: 'true', ...cfgB },
      random: lcg(2),
    });
  }

  private pump(): void {
    for (let guard = 0; guard < 10; guard++) {
      let any = false;
      const now = this.clock.now();
      this.a.run(now);
      this.b.run(now);
      if (this.a.shouldSendPacket(now)) {
        any = true;
        const { frame } = this.a.composePacket(MAC_A, now);
        this.record('a', frame);
        if (this.aToB) this.b.processPacket(frame, now);
      }
      if (this.b.shouldSendPacket(now)) {
        any = true;
        const { frame } = this.b.composePacket(MAC_B, now);
        this.record('b', frame);
        if (this.bToA) this.a.processPacket(frame, now);
      }
      if (!any) return;
    }
  }

  private record(from: 'a' | 'b', frame: Uint8Array): void {
    const p = parseBfdFrame(frame);
    this.sent.push({
      from,
      at: this.clock.now(),
      msg: decodeBfdControl(frame, p.payloadOffset, p.payloadLength),
    });
  }

  /** Advances `ms` in 10 ms steps, running both sessions and delivering packets. */
  advance(ms: number, each?: () => void): void {
    const end = this.clock.now() + ms;
    while (this.clock.now() < end) {
      this.pump();
      each?.();
      this.clock.advance(10);
    }
    this.pump();
  }

  close(): void {
    this.a.close();
    this.b.close();
  }
}

function ctl(over: Partial<BfdControlPacket>): BfdControlPacket {
  return {
    version: 1,
    diag: 0,
    state: BfdState.Down,
    flags: 0,
    detectMult: 3,
    length: 24,
    myDisc: 0xabc,
    yourDisc: 0,
    desiredMinTxUs: 100_000,
    requiredMinRxUs: 100_000,
    requiredMinEchoRxUs: 0,
    ...over,
  };
}

function frameOf(msg: BfdControlPacket, ttl = 255): Uint8Array {
  const f = encodeBfdFrame(
    {
      ethDst: BFD_DEFAULT_DST_MAC,
      ethSrc: MAC_B,
      ipSrc: 0xa9fe0101,
      ipDst: 0xa9fe0100,
      udpSrc: 49999,
    },
    msg,
  );
  if (ttl !== 255) f[14 + 8] = ttl; // (checksum not rechecked by receivers)
  return f;
}

void t.test('three-way handshake between two sessions brings both Up', (t) => {
  const p = new Pair();
  t.equal(p.a.status().state, 'down');
  t.same(p.a.status(), {
    forwarding: 'false',
    state: 'down',
    diagnostic: 'No Diagnostic',
    flap_count: '0',
    remote_state: 'down',
    remote_diagnostic: 'No Diagnostic',
  });
  p.advance(3000);
  const walk = (who: 'a' | 'b'): number[] => {
    const out: number[] = [];
    for (const x of p.sent)
      if (x.from === who && out[out.length - 1] !== x.msg.state) out.push(x.msg.state);
    return out;
  };
  // a speaks first (Down); b hears Down and goes Init; a hears Init and goes straight Up;
  // b hears Up and goes Up: the three-way handshake.
  t.same(walk('a'), [BfdState.Down, BfdState.Up], 'a: down -> up');
  t.same(walk('b'), [BfdState.Init, BfdState.Up], 'b: init -> up');
  t.same(p.a.status(), {
    forwarding: 'true',
    state: 'up',
    diagnostic: 'No Diagnostic',
    flap_count: '1',
    remote_state: 'up',
    remote_diagnostic: 'No Diagnostic',
  });
  t.equal(p.b.status().state, 'up');
  t.ok(
    p.sent.some((s) => s.from === 'b' && s.msg.state === BfdState.Init),
    'b sent Init',
  );
  // Before Up, a session advertises at least 1 s; once Up, min_tx 100 ms.
  const firstA = p.sent.find((s) => s.from === 'a');
  t.equal(firstA?.msg.desiredMinTxUs, 1_000_000);
  t.equal(firstA?.msg.yourDisc, 0);
  const lastA = [...p.sent].reverse().find((s) => s.from === 'a');
  t.equal(lastA?.msg.desiredMinTxUs, 100_000);
  t.equal(lastA?.msg.yourDisc, p.b.discriminator);
  t.equal(lastA?.msg.myDisc, p.a.discriminator);
  p.close();
  t.end();
});

void t.test('every state transition driven by crafted packets', (t) => {
  const clock = new FakeClock(0);
  const s = new BfdSession({ name: 'x', clock, config: { enable: 'true' }, random: () => 0 });
  const me = s.discriminator;
  // Down + Down -> Init
  t.ok(s.processPacket(frameOf(ctl({ state: BfdState.Down }))).accepted);
  t.equal(s.sessionState, BfdState.Init);
  // Init + Init -> Up
  s.processPacket(frameOf(ctl({ state: BfdState.Init, yourDisc: me })));
  t.equal(s.sessionState, BfdState.Up);
  // Up + Init stays Up
  s.processPacket(frameOf(ctl({ state: BfdState.Init, yourDisc: me })));
  t.equal(s.sessionState, BfdState.Up);
  // Up + Down -> Down, Neighbor Signaled Session Down
  s.processPacket(frameOf(ctl({ state: BfdState.Down, yourDisc: me })));
  t.equal(s.status().state, 'down');
  t.equal(s.status().diagnostic, 'Neighbor Signaled Session Down');
  // Down + Init -> Up directly
  s.processPacket(frameOf(ctl({ state: BfdState.Init, yourDisc: me })));
  t.equal(s.sessionState, BfdState.Up);
  // Up + AdminDown -> Down with diag 3
  s.processPacket(frameOf(ctl({ state: BfdState.AdminDown, yourDisc: me, diag: 7 })));
  t.equal(s.sessionState, BfdState.Down);
  t.equal(s.status().diagnostic, 'Neighbor Signaled Session Down');
  // Down + Up is ignored (stays Down)
  s.processPacket(frameOf(ctl({ state: BfdState.Up, yourDisc: me })));
  t.equal(s.sessionState, BfdState.Down);
  // Down + Down -> Init; Init + Up -> Up
  s.processPacket(frameOf(ctl({ state: BfdState.Down })));
  t.equal(s.sessionState, BfdState.Init);
  s.processPacket(frameOf(ctl({ state: BfdState.Up, yourDisc: me })));
  t.equal(s.sessionState, BfdState.Up);
  // Init + AdminDown -> Down
  s.processPacket(frameOf(ctl({ state: BfdState.AdminDown, yourDisc: me })));
  s.processPacket(frameOf(ctl({ state: BfdState.Down })));
  t.equal(s.sessionState, BfdState.Init);
  s.processPacket(frameOf(ctl({ state: BfdState.AdminDown, yourDisc: me })));
  t.equal(s.sessionState, BfdState.Down);
  // Init + detection time expiry -> Down, Control Detection Time Expired
  s.processPacket(frameOf(ctl({ state: BfdState.Down })));
  t.equal(s.sessionState, BfdState.Init);
  const detect = s.detectionTime;
  t.equal(
    detect - clock.now(),
    3 * 1000,
    'detect = max(min_rx 1000, remote tx 100) x remote mult 3',
  );
  clock.advanceTo(detect - 1);
  s.run();
  t.equal(s.sessionState, BfdState.Init, 'not before the detection time');
  clock.advanceTo(detect);
  s.run();
  t.equal(s.sessionState, BfdState.Down);
  t.equal(s.status().diagnostic, 'Control Detection Time Expired');
  // Local AdminDown: packets ignored, status admin_down
  s.setAdminDown(true);
  t.equal(s.status().state, 'admin_down');
  t.equal(s.status().diagnostic, 'Administratively Down');
  t.equal(s.peekControl().state, BfdState.AdminDown, 'advertises AdminDown');
  s.processPacket(frameOf(ctl({ state: BfdState.Down })));
  t.equal(s.sessionState, BfdState.AdminDown, 'no transition while AdminDown');
  clock.advance(100_000);
  s.run();
  t.equal(s.sessionState, BfdState.AdminDown, 'no detection while AdminDown');
  s.setAdminDown(false);
  t.equal(s.status().state, 'down');
  t.equal(s.status().diagnostic, 'No Diagnostic');
  s.close();
  t.end();
});

void t.test('remote administratively down takes the peer down', (t) => {
  const p = new Pair();
  p.advance(3000);
  t.equal(p.b.status().state, 'up');
  p.a.setAdminDown(true);
  p.advance(2000);
  t.equal(p.b.status().state, 'down');
  t.equal(p.b.status().diagnostic, 'Neighbor Signaled Session Down');
  t.equal(p.a.status().state, 'admin_down');
  p.a.setAdminDown(false);
  p.advance(3000);
  t.equal(p.a.status().state, 'up');
  t.equal(p.b.status().state, 'up');
  p.close();
  t.end();
});

void t.test('detection timeout: cutting one direction takes the receiver down', (t) => {
  const p = new Pair();
  p.advance(3000);
  t.equal(p.a.status().state, 'up');
  // Negotiated: a receives every max(a.min_rx 1000, b.min_tx 100) = 1000 ms, mult 3.
  t.equal(p.a.rxInterval(), 1000);
  t.equal(p.a.txInterval(), 1000, 'a sends at max(100, remote min_rx 1000)');
  p.bToA = false;
  const cutAt = p.clock.now();
  let downAt = 0;
  p.advance(5000, () => {
    if (!downAt && p.a.sessionState === BfdState.Down) downAt = p.clock.now();
  });
  t.ok(downAt > 0, 'a went down');
  t.ok(downAt - cutAt <= 3000 + 10, 'within detect time');
  t.ok(downAt - cutAt >= 3000 - 1000, 'not earlier than detect time after the last packet');
  t.equal(p.a.status().diagnostic, 'Control Detection Time Expired');
  // b learns it from a's Down packets (and, hearing Down again, moves on to Init).
  t.equal(p.b.status().state, 'init');
  t.equal(p.b.status().diagnostic, 'Neighbor Signaled Session Down');
  t.equal(p.a.status().forwarding, 'false');
  t.equal(p.a.flapCount, 2, 'false->true->false');
  p.bToA = true;
  p.advance(4000);
  t.equal(p.a.status().state, 'up');
  t.equal(p.a.status().flap_count, '3');
  p.close();
  t.end();
});

void t.test('wakeTime covers the next transmission and the detection time', (t) => {
  const p = new Pair();
  p.advance(3000);
  const w = p.a.wakeTime();
  t.ok(w > p.clock.now());
  t.ok(w <= p.a.detectionTime);
  t.notOk(p.a.shouldSendPacket(w - 1));
  t.ok(p.a.shouldSendPacket(w) || w === p.a.detectionTime);
  p.close();
  t.end();
});

void t.test('poll/final: slower min_tx waits for Final; faster applies at once', (t) => {
  const p = new Pair({ min_rx: '100' }, { min_rx: '100' });
  p.advance(3000);
  t.equal(p.a.status().state, 'up');
  t.equal(p.a.desiredMinTx, 100);
  p.sent.length = 0;
  p.a.configure({ enable: 'true', min_rx: '100', min_tx: '300' });
  t.ok(p.a.inPoll(), 'poll started');
  t.equal(p.a.desiredMinTx, 100, 'slower tx does not take effect before Final');
  t.ok(p.a.shouldSendPacket(), 'poll is sent at once');
  p.advance(0);
  const poll = p.sent.find((s) => s.from === 'a' && s.msg.flags & BfdFlag.Poll);
  t.ok(poll, 'a sent P');
  t.equal(poll?.msg.desiredMinTxUs, 300_000, 'the poll carries the new interval');
  const fin = p.sent.find((s) => s.from === 'b' && s.msg.flags & BfdFlag.Final);
  t.ok(fin, 'b answered F');
  t.equal(fin?.at, poll?.at, 'immediately');
  t.notOk(
    p.sent.some((s) => s.msg.flags & BfdFlag.Poll && s.msg.flags & BfdFlag.Final),
    'never P and F together',
  );
  t.notOk(p.a.inPoll(), 'poll terminated');
  t.equal(p.a.desiredMinTx, 300, 'new tx interval in force after Final');
  t.equal(p.b.rxInterval(), 300, 'peer receive interval follows');
  // Faster: applies at once, still polls.
  p.a.configure({ enable: 'true', min_rx: '100', min_tx: '50' });
  t.equal(p.a.desiredMinTx, 50, 'faster tx applies immediately');
  t.ok(p.a.inPoll());
  p.advance(100);
  t.notOk(p.a.inPoll());
  // Smaller min_rx waits for Final; larger applies at once.
  p.a.configure({ enable: 'true', min_rx: '50', min_tx: '50' });
  t.equal(p.a.requiredMinRx, 100, 'smaller rx waits');
  p.advance(100);
  t.equal(p.a.requiredMinRx, 50);
  p.a.configure({ enable: 'true', min_rx: '500', min_tx: '50' });
  t.equal(p.a.requiredMinRx, 500, 'larger rx applies immediately');
  p.advance(1000);
  t.equal(p.a.status().state, 'up', 'session survives every renegotiation');
  t.equal(p.b.status().state, 'up');
  p.close();
  t.end();
});

void t.test('not Up: configuration applies without a poll', (t) => {
  const clock = new FakeClock(0);
  const s = new BfdSession({ name: 'y', clock, config: { enable: 'true' } });
  s.configure({ enable: 'true', min_tx: '700', min_rx: '50' });
  t.notOk(s.inPoll());
  t.equal(s.desiredMinTx, 700);
  t.equal(s.requiredMinRx, 50);
  t.equal(s.peekControl().desiredMinTxUs, 1_000_000, 'still at least 1 s while not Up');
  s.close();
  t.end();
});

void t.test('decay: an idle interface lowers the receive rate, traffic restores it', (t) => {
  const p = new Pair({ min_rx: '300', decay_min_rx: '3000' }, {});
  p.advance(4000, () => p.a.accountRx(5)); // busy interface: no decay
  t.equal(p.a.status().state, 'up');
  t.equal(p.a.requiredMinRx, 300);
  t.notOk(p.a.decaying);
  // No data traffic: after max(decay_min_rx, 2000) ms decay starts and a poll negotiates it.
  p.advance(7000);
  t.ok(p.a.decaying, 'in decay');
  t.equal(p.a.requiredMinRx, 3000, 'min_rx is decay_min_rx after the poll');
  t.equal(p.b.txInterval(), 3000, 'peer sends more slowly');
  t.equal(p.a.status().state, 'up');
  // Data traffic well beyond the control packets: decay ends at the next check.
  p.advance(3500, () => p.a.accountRx(5));
  t.notOk(p.a.decaying, 'decay ended');
  t.equal(p.a.requiredMinRx, 300);
  t.equal(p.a.status().state, 'up');
  // decay_min_rx below min_rx is ignored.
  p.a.configure({ enable: 'true', min_rx: '300', decay_min_rx: '100' });
  p.advance(5000);
  t.notOk(p.a.decaying);
  p.close();
  t.end();
});

void t.test('cpath_down: local diag Concatenated Path Down; peer stops forwarding', (t) => {
  const p = new Pair();
  p.advance(3000);
  t.equal(p.b.status().forwarding, 'true');
  p.a.configure({ enable: 'true', cpath_down: 'true' });
  t.equal(p.a.status().diagnostic, 'Concatenated Path Down');
  p.advance(2000);
  t.same(p.b.status(), {
    forwarding: 'false',
    state: 'up',
    diagnostic: 'No Diagnostic',
    flap_count: '2',
    remote_state: 'up',
    remote_diagnostic: 'Concatenated Path Down',
  });
  t.equal(p.a.status().forwarding, 'true', 'the signalling side still forwards');
  p.a.configure({ enable: 'true', cpath_down: 'false' });
  t.equal(p.a.status().diagnostic, 'No Diagnostic');
  p.advance(2000);
  t.equal(p.b.status().forwarding, 'true');
  t.equal(p.b.status().flap_count, '3');
  p.close();
  t.end();
});

void t.test(
  'forwarding_if_rx: data keeps forwarding while control packets still arrive now and then',
  (t) => {
    const p = new Pair({ forwarding_if_rx: 'true', min_rx: '100' }, { min_rx: '100' });
    p.advance(3000);
    t.equal(p.a.status().state, 'up');
    // Only b->a control packets are lost; a keeps receiving data.
    p.bToA = false;
    p.advance(1000, () => p.a.accountRx(1));
    t.equal(p.a.status().state, 'down', 'the session itself is down');
    t.equal(p.a.status().forwarding, 'true', 'but data keeps forwarding true');
    // Without data, forwarding drops within max(rx_interval x mult, 2000) ms.
    p.advance(2500);
    t.equal(p.a.status().forwarding, 'false', 'no data: forwarding false');
    p.close();

    // With data but no control packet for 100 x min_rx, forwarding goes false too.
    const q = new Pair({ forwarding_if_rx: 'true', min_rx: '20' }, { min_rx: '20' });
    q.advance(3000);
    q.bToA = false;
    q.advance(1000, () => q.a.accountRx(1));
    t.equal(q.a.status().forwarding, 'true');
    q.advance(2000, () => q.a.accountRx(1));
    t.equal(q.a.status().forwarding, 'false', 'no control packet in 100 x min_rx');
    q.close();
    t.end();
  },
);

void t.test('forwarding override (bfd/set-forwarding) and flap count', (t) => {
  const p = new Pair();
  p.advance(3000);
  t.equal(p.a.flapCount, 1);
  t.same(bfdSetForwarding([p.a, p.b], 'false', 'a0'), { ok: true, text: 'OK' });
  t.equal(p.a.status().forwarding, 'false');
  t.equal(p.b.status().forwarding, 'true');
  t.equal(p.a.flapCount, 1, 'override does not count as a flap');
  t.same(bfdSetForwarding([p.a, p.b], 'normal'), { ok: true, text: 'OK' });
  t.equal(p.a.status().forwarding, 'true');
  t.same(bfdSetForwarding([p.a], 'TRUE'), { ok: true, text: 'OK' });
  t.equal(p.a.getForwardingOverride(), true);
  t.same(bfdSetForwarding([p.a], 'maybe'), { ok: false, error: 'unknown fault string' });
  t.same(bfdSetForwarding([p.a], 'true', 'nope'), { ok: false, error: 'no such BFD object' });
  t.ok(p.a.checkStatusChange());
  t.notOk(p.a.checkStatusChange(), 'reset after reading');
  p.close();
  t.end();
});

void t.test('reception checks drop and count, including authentication', (t) => {
  const clock = new FakeClock(0);
  const s = new BfdSession({ name: 'z', clock, config: { enable: 'true' } });
  const cases: [Uint8Array, string][] = [
    [frameOf(ctl({ flags: BfdFlag.Auth })), 'auth'],
    [frameOf(ctl({ version: 0 })), 'badVersion'],
    [frameOf(ctl({ length: 20 })), 'badLength'],
    [frameOf(ctl({ length: 48 })), 'badLength'],
    [frameOf(ctl({ detectMult: 0 })), 'zeroMult'],
    [frameOf(ctl({ flags: BfdFlag.Multipoint })), 'multipoint'],
    [frameOf(ctl({ myDisc: 0 })), 'zeroMyDisc'],
    [frameOf(ctl({ yourDisc: (s.discriminator ^ 1) >>> 0 })), 'badYourDisc'],
    [frameOf(ctl({ state: BfdState.Up })), 'nullYourDisc'],
    [frameOf(ctl({}), 254), 'badTtl'],
    [frameOf(ctl({})).subarray(0, 14 + 20 + 8 + 10), 'tooShort'],
    [new Uint8Array(10), 'truncated'],
  ];
  const expected: Record<string, number> = {};
  for (const [f, reason] of cases) {
    const r = s.processPacket(f);
    t.same(r, { accepted: false, reason }, reason);
    expected[reason] = (expected[reason] ?? 0) + 1;
    t.equal(
      s.stats.rxErrors[reason as keyof typeof s.stats.rxErrors],
      expected[reason],
      `${reason} counted`,
    );
  }
  t.equal(s.sessionState, BfdState.Down, 'nothing dropped changed the state');
  t.equal(s.stats.rx, 0);
  s.close();
  t.end();
});

void t.test('processPacket never throws on random or mutated frames (property)', (t) => {
  const clock = new FakeClock(0);
  const s = new BfdSession({ name: 'fuzz', clock, config: { enable: 'true' } });
  const base = frameOf(ctl({}));
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 100 }),
        fc
          .array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.nat({ max: 255 })), { maxLength: 4 })
          .map((m) => {
            const f = base.slice();
            for (const [i, v] of m) f[i] = v;
            return f;
          }),
      ),
      (f) => {
        const r = s.processPacket(f);
        t.type(r.accepted, 'boolean');
        s.run();
      },
    ),
    { seed: 42, numRuns: 500 },
  );
  const errors = Object.values(s.stats.rxErrors).reduce((a, b) => a + b, 0);
  t.equal(errors + s.stats.rx, 500 + 0, 'every frame either accepted or counted once');
  s.close();
  t.end();
});

void t.test('frame addressing: configured MACs and IPs, per-session UDP source ports', (t) => {
  const clock = new FakeClock(0);
  const s1 = new BfdSession({
    name: 'p1',
    clock,
    config: {
      enable: 'true',
      bfd_local_src_mac: '0a:00:00:00:00:01',
      bfd_local_dst_mac: '0a:00:00:00:00:02',
      bfd_src_ip: '10.1.1.1',
      bfd_dst_ip: '10.1.1.2',
      oam: 'true',
    },
  });
  const s2 = new BfdSession({ name: 'p2', clock, config: { enable: 'true' } });
  t.not(s1.udpSrc, s2.udpSrc);
  t.ok(s1.udpSrc >= 49152 && s1.udpSrc <= 65535);
  t.not(s1.discriminator, s2.discriminator);
  t.not(s1.discriminator, 0);
  const { frame, oam } = s1.composePacket(MAC_A);
  t.equal(oam, true);
  const f = parseBfdFrame(frame);
  t.same([...f.ethSrc], [0x0a, 0, 0, 0, 0, 1]);
  t.same([...f.ethDst], [0x0a, 0, 0, 0, 0, 2]);
  t.equal(f.ipSrc, parseIpv4('10.1.1.1'));
  t.equal(f.ipDst, parseIpv4('10.1.1.2'));
  t.equal(f.udpSrc, s1.udpSrc);
  const d = parseBfdFrame(s2.composePacket(MAC_B).frame);
  t.same([...d.ethSrc], [...MAC_B], 'default source is the interface MAC');
  t.same([...d.ethDst], [0x00, 0x23, 0x20, 0x00, 0x00, 0x01]);
  s1.close();
  s2.close();
  t.end();
});

void t.test('shouldProcessFrame: remote dst MAC, source IP and tunnel key rules', (t) => {
  const clock = new FakeClock(0);
  const plain = new BfdSession({ name: 'q1', clock, config: { enable: 'true' } });
  const strict = new BfdSession({
    name: 'q2',
    clock,
    config: {
      enable: 'true',
      bfd_remote_dst_mac: '00:23:20:00:00:01',
      bfd_src_ip: '169.254.1.0',
      check_tnl_key: 'true',
    },
  });
  const f = frameOf(ctl({}));
  t.ok(plain.shouldProcessFrame(f));
  t.ok(plain.shouldProcessFrame(f, 5n), 'any tunnel key without check_tnl_key');
  t.ok(strict.shouldProcessFrame(f), 'dst MAC, dst IP and key 0 match');
  t.notOk(strict.shouldProcessFrame(f, 5n), 'nonzero tunnel key');
  const otherMac = f.slice();
  otherMac[5] = 9;
  t.notOk(strict.shouldProcessFrame(otherMac));
  t.ok(plain.shouldProcessFrame(otherMac));
  const otherIp = f.slice();
  otherIp[14 + 19] = 7;
  t.notOk(strict.shouldProcessFrame(otherIp));
  t.notOk(plain.shouldProcessFrame(new Uint8Array(30)));
  plain.close();
  strict.close();
  t.end();
});

void t.test('bfd/show text', (t) => {
  const p = new Pair();
  p.advance(3000);
  const r = formatBfdShow([p.a, p.b]);
  t.ok(r.ok);
  const text = r.ok ? r.text : '';
  t.ok(text.startsWith('---- a0 ----\n  Forwarding: true\n  Detect Multiplier: 3\n'));
  t.ok(text.includes('  Local Session State: up\n'));
  t.ok(text.includes('  Local Diagnostic: No Diagnostic\n'));
  t.ok(text.includes(`  Local Discriminator: 0x${p.a.discriminator.toString(16)}\n`));
  t.ok(text.includes('  TX Interval: Approx 1000ms\n'));
  t.ok(text.includes('  Remote Detect Multiplier: 3\n'));
  t.match(text, /---- b0 ----/);
  const one = formatBfdShow([p.a, p.b], 'b0');
  t.ok(one.ok && !one.text.includes('----'));
  t.same(formatBfdShow([p.a], 'zz'), { ok: false, error: 'no such bfd object' });
  p.close();
  t.end();
});

void t.test('driven only by wakeTime(), two sessions come up and stay up', (t) => {
  const clock = new FakeClock(0);
  const a = new BfdSession({ name: 'wa', clock, config: { enable: 'true', min_rx: '100' } });
  const b = new BfdSession({ name: 'wb', clock, config: { enable: 'true', min_rx: '100' } });
  let wakeups = 0;
  let lastState = '';
  while (clock.now() < 20_000 && wakeups < 10_000) {
    wakeups++;
    for (const [s, peer, m] of [
      [a, b, MAC_A],
      [b, a, MAC_B],
    ] as const) {
      s.run();
      while (s.shouldSendPacket()) peer.processPacket(s.composePacket(m).frame);
    }
    const next = Math.min(a.wakeTime(), b.wakeTime());
    t.ok(next > clock.now(), 'nothing left to do now');
    clock.advanceTo(next);
    lastState = `${a.status().state}/${b.status().state}`;
  }
  t.equal(lastState, 'up/up');
  t.equal(a.flapCount, 1, 'no flaps once up');
  t.ok(wakeups < 1000, `wake-ups stay bounded (${wakeups})`);
  a.close();
  b.close();
  t.end();
});

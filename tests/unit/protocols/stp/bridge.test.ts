import t from 'tap';
import { FakeClock } from '../../../../lib/clock.js';
import {
  StpBridge,
  formatStpId,
  formatStpShow,
  stpShouldForwardBpdu,
} from '../../../../protocols/stp/bridge.js';
import {
  StpFlag,
  decodeBpduFrame,
  encodeBpdu,
  encodeBpduFrame,
  type StpBpdu,
} from '../../../../protocols/stp/bpdu.js';

function mac(n: number): Uint8Array {
  return Uint8Array.of(0x02, 0, 0, 0, 0, n);
}

interface End {
  bridge: string;
  port: number;
}

/** Bridges wired by in-memory point-to-point links; a FakeClock drives them all. */
class Net {
  readonly clock = new FakeClock(0);
  readonly bridges = new Map<string, StpBridge>();
  private readonly links: { a: End; b: End; up: boolean }[] = [];
  /** Every BPDU delivered: sender, receiver port and the decoded BPDU. */
  readonly log: { at: number; from: string; fromPort: number; to: string; bpdu: StpBpdu }[] = [];

  add(name: string, priority: number, n: number): StpBridge {
    const b = new StpBridge({ name, clock: this.clock, config: { systemId: mac(n), priority } });
    this.bridges.set(name, b);
    return b;
  }

  link(a: string, ap: number, b: string, bp: number): void {
    for (const [x, p] of [
      [a, ap],
      [b, bp],
    ] as const) {
      this.get(x).addPort(p, { name: `${x}-${p}` });
    }
    this.links.push({ a: { bridge: a, port: ap }, b: { bridge: b, port: bp }, up: true });
  }

  get(name: string): StpBridge {
    const b = this.bridges.get(name);
    if (!b) throw new Error(name);
    return b;
  }

  /** Link down or up at both ends. */
  setLink(a: string, ap: number, up: boolean): void {
    const l = this.links.find(
      (x) => (x.a.bridge === a && x.a.port === ap) || (x.b.bridge === a && x.b.port === ap),
    );
    if (!l) throw new Error('no link');
    l.up = up;
    this.get(l.a.bridge).setPortEnabled(l.a.port, up);
    this.get(l.b.bridge).setPortEnabled(l.b.port, up);
  }

  private peer(e: End): End | undefined {
    for (const l of this.links) {
      if (!l.up) continue;
      if (l.a.bridge === e.bridge && l.a.port === e.port) return l.b;
      if (l.b.bridge === e.bridge && l.b.port === e.port) return l.a;
    }
    return undefined;
  }

  deliver(): void {
    for (let guard = 0; guard < 100; guard++) {
      let any = false;
      for (const [name, b] of this.bridges) {
        for (const o of b.takePackets()) {
          any = true;
          const to = this.peer({ bridge: name, port: o.portNum });
          if (!to) continue;
          this.log.push({
            at: this.clock.now(),
            from: name,
            fromPort: o.portNum,
            to: to.bridge,
            bpdu: decodeBpduFrame(o.frame),
          });
          this.get(to.bridge).processPacket(to.port, o.frame);
        }
      }
      if (!any) return;
    }
    throw new Error('BPDU storm');
  }

  /** Advances `ms` in 100 ms steps, running every bridge and delivering BPDUs. */
  advance(ms: number, each?: () => void): void {
    const end = this.clock.now() + ms;
    this.deliver();
    while (this.clock.now() < end) {
      this.clock.advance(100);
      for (const b of this.bridges.values()) b.run();
      this.deliver();
      each?.();
    }
  }

  /** [bridge-port, state, role] for every port. */
  snapshot(): string[] {
    const out: string[] = [];
    for (const [name, b] of this.bridges) {
      for (const p of b.allPorts()) {
        out.push(`${name}-${p.portNum} ${p.state} ${b.portRole(p.portNum)}`);
      }
    }
    return out.sort();
  }

  stable(): boolean {
    for (const b of this.bridges.values()) {
      for (const p of b.allPorts())
        if (p.state === 'listening' || p.state === 'learning') return false;
    }
    return true;
  }
}

function triangle(): Net {
  const n = new Net();
  n.add('A', 4096, 1);
  n.add('B', 32768, 2);
  n.add('C', 32768, 3);
  n.link('A', 1, 'B', 1);
  n.link('A', 2, 'C', 1);
  n.link('B', 2, 'C', 2);
  return n;
}

void t.test(
  'a lone bridge is root; ports go blocking -> listening -> learning -> forwarding',
  (t) => {
    const clock = new FakeClock(0);
    const b = new StpBridge({ name: 'br0', clock, config: { systemId: mac(9) } });
    t.same(b.status(), {
      stp_bridge_id: '8000.020000000009',
      stp_designated_root: '8000.020000000009',
      stp_root_path_cost: '0',
    });
    b.addPort(1, { name: 'p1' });
    t.equal(b.portStatus(1).stp_state, 'listening');
    t.equal(b.portRole(1), 'designated');
    t.notOk(b.mayLearn(1));
    t.notOk(b.mayForward(1));
    clock.advance(15_000);
    b.run();
    t.equal(b.portStatus(1).stp_state, 'learning');
    t.ok(b.mayLearn(1));
    t.notOk(b.mayForward(1));
    clock.advance(15_000);
    b.run();
    t.equal(b.portStatus(1).stp_state, 'forwarding');
    t.ok(b.mayLearn(1) && b.mayForward(1));
    t.ok(b.mayForward(99) && b.mayLearn(99), 'a port outside STP is not restricted');
    t.ok(b.shouldForwardBpdu(99));
    clock.advance(7_500);
    t.same(b.portStatus(1), {
      stp_port_id: String(0x8001),
      stp_state: 'forwarding',
      stp_sec_in_state: '7',
      stp_role: 'designated',
    });
    const first = b.composePacket();
    t.equal(first?.portNum, 1);
    t.same(first && decodeBpduFrame(first.frame).type, 'config');
    t.ok(b.takePackets().length > 0, 'hello BPDUs were sent');
    t.notOk(b.shouldSendPacket());
    t.same(b.changedPorts(), [1]);
    t.same(b.changedPorts(), []);
    t.end();
  },
);

void t.test('two bridges: lower bridge ID is root; one link, both ends forward', (t) => {
  const n = new Net();
  n.add('X', 32768, 5);
  n.add('Y', 32768, 6);
  n.link('X', 1, 'Y', 1);
  n.advance(40_000);
  const x = n.get('X');
  const y = n.get('Y');
  t.ok(x.isRootBridge(), 'lower MAC wins at equal priority');
  t.notOk(y.isRootBridge());
  t.equal(y.status().stp_designated_root, x.status().stp_bridge_id);
  t.equal(y.status().stp_root_path_cost, '2');
  t.equal(y.portRole(1), 'root');
  t.equal(x.portRole(1), 'designated');
  t.same(n.snapshot(), ['X-1 forwarding designated', 'Y-1 forwarding root']);
  t.ok(x.portStatistics(1).stp_tx_count > 0);
  t.ok(y.portStatistics(1).stp_rx_count > 0);
  t.equal(y.portStatistics(1).stp_error_count, 0);
  // Priority change makes Y the root.
  y.configure({ priority: 4096 });
  n.advance(60_000);
  t.ok(y.isRootBridge());
  t.notOk(x.isRootBridge());
  t.equal(x.portRole(1), 'root');
  t.end();
});

void t.test('triangle converges to one root and exactly one blocked port', (t) => {
  const n = triangle();
  n.advance(60_000);
  t.ok(n.stable());
  const a = n.get('A');
  for (const b of n.bridges.values()) {
    t.equal(b.status().stp_designated_root, a.status().stp_bridge_id, `${b.name} agrees on root`);
  }
  t.equal(a.status().stp_bridge_id, '1000.020000000001');
  t.same(n.snapshot(), [
    'A-1 forwarding designated',
    'A-2 forwarding designated',
    'B-1 forwarding root',
    'B-2 forwarding designated',
    'C-1 forwarding root',
    'C-2 blocking alternate',
  ]);
  t.equal(n.snapshot().filter((s) => s.includes('blocking')).length, 1);
  t.notOk(n.get('C').mayForward(2));
  t.notOk(n.get('C').mayLearn(2));
  t.equal(n.get('C').portStatus(2).stp_role, 'alternate');
  t.end();
});

void t.test('cutting a link re-converges within max_age + 2 x forward_delay', (t) => {
  const n = triangle();
  n.advance(60_000);
  const cutAt = n.clock.now();
  n.setLink('A', 1, false);
  t.equal(n.get('B').portStatus(1).stp_state, 'disabled');
  // OVS's role function checks "designated" before "disabled", and disabling a port makes it
  // designated for its (dead) segment, so OVS reports this pair; we write what OVS writes.
  t.equal(n.get('B').portStatus(1).stp_role, 'designated');
  t.notOk(n.get('B').mayForward(1));
  let convergedAt = 0;
  n.advance(80_000, () => {
    if (!convergedAt && n.stable() && n.get('B').getRootPort() === 2 && n.get('C').mayForward(2)) {
      convergedAt = n.clock.now();
    }
  });
  t.ok(convergedAt > 0, 'converged');
  const bound = (20 + 2 * 15) * 1000;
  t.ok(convergedAt - cutAt <= bound, `within ${bound} ms (took ${convergedAt - cutAt})`);
  t.same(
    n.snapshot().filter((s) => !s.startsWith('A-1') && !s.startsWith('B-1')),
    [
      'A-2 forwarding designated',
      'B-2 forwarding root',
      'C-1 forwarding root',
      'C-2 forwarding designated',
    ],
  );
  t.equal(n.get('B').status().stp_root_path_cost, '4');
  t.ok(n.get('B').checkAndResetFdbFlush(), 'topology change seen by B');
  // Restore the link: back to the original tree.
  n.setLink('A', 1, true);
  n.advance(60_000);
  t.equal(n.snapshot().filter((s) => s.includes('blocking')).length, 1);
  t.equal(n.get('B').getRootPort(), 1);
  t.end();
});

void t.test('a TCN travels to the root, which acknowledges and sets TC for everyone', (t) => {
  // R — A — B in a line; then a new port on B comes up and reaches forwarding.
  const n = new Net();
  n.add('R', 4096, 1);
  n.add('A', 32768, 2);
  n.add('B', 32768, 3);
  n.link('R', 1, 'A', 1);
  n.link('A', 2, 'B', 1);
  n.advance(70_000); // past the initial topology-change period
  const r = n.get('R');
  const a = n.get('A');
  const b = n.get('B');
  t.notOk(r.topologyChangeActive(), 'initial TC period over');
  for (const x of [r, a, b]) x.checkAndResetFdbFlush();
  n.log.length = 0;

  b.addPort(2, { name: 'B-host' });
  n.advance(31_000);
  t.equal(b.portStatus(2).stp_state, 'forwarding');
  const tcnB = n.log.find((e) => e.from === 'B' && e.bpdu.type === 'tcn');
  t.ok(tcnB, 'B sent a TCN on its root port');
  t.equal(tcnB?.fromPort, 1);
  const ackA = n.log.find(
    (e) =>
      e.from === 'A' &&
      e.to === 'B' &&
      e.bpdu.type === 'config' &&
      e.bpdu.flags & StpFlag.TopologyChangeAck,
  );
  t.ok(ackA, 'A acknowledged with TCA');
  const tcnA = n.log.find((e) => e.from === 'A' && e.to === 'R' && e.bpdu.type === 'tcn');
  t.ok(tcnA, 'A relayed a TCN towards the root');
  const ackR = n.log.find(
    (e) => e.from === 'R' && e.bpdu.type === 'config' && e.bpdu.flags & StpFlag.TopologyChangeAck,
  );
  t.ok(ackR, 'root acknowledged');
  t.ok(r.topologyChangeActive(), 'root sets TC');
  const tcAtB = n.log.find(
    (e) => e.to === 'B' && e.bpdu.type === 'config' && e.bpdu.flags & StpFlag.TopologyChange,
  );
  t.ok(tcAtB, 'the TC flag came back down to B');
  t.ok(b.topologyChangeActive());
  t.equal(b.macAgingTime(300), 15, 'MAC aging shortened to forward delay');
  t.ok(b.checkAndResetFdbFlush());
  t.ok(a.checkAndResetFdbFlush());
  t.notOk(a.topologyChangeDetectedFlag(), 'A got its acknowledgement');
  // TCNs stop once acknowledged.
  const tcnCount = n.log.filter((e) => e.bpdu.type === 'tcn').length;
  n.advance(10_000);
  t.equal(n.log.filter((e) => e.bpdu.type === 'tcn').length, tcnCount, 'no more TCNs');
  // The TC period ends after max_age + forward_delay at the root.
  n.advance(40_000);
  t.notOk(r.topologyChangeActive());
  t.notOk(b.topologyChangeActive());
  t.equal(b.macAgingTime(300), 300);
  // stp/tcn on a non-root bridge starts the same exchange.
  n.log.length = 0;
  b.triggerTopologyChange();
  n.advance(3_000);
  t.ok(n.log.some((e) => e.from === 'B' && e.bpdu.type === 'tcn'));
  t.ok(r.topologyChangeActive());
  t.end();
});

void t.test('malformed BPDUs are counted; disabled ports ignore everything', (t) => {
  const clock = new FakeClock(0);
  const b = new StpBridge({ name: 'br', clock, config: { systemId: mac(1) } });
  b.addPort(1, { name: 'p1' });
  const good = encodeBpduFrame(mac(7), { type: 'tcn' });
  const frames: Uint8Array[] = [];
  const withBody = (body: Uint8Array): Uint8Array => {
    const f = new Uint8Array(Math.max(60, 17 + body.length));
    f.set(good.subarray(0, 12));
    f[12] = 0;
    f[13] = 3 + body.length;
    f.set([0x42, 0x42, 0x03], 14);
    f.set(body, 17);
    return f;
  };
  frames.push(withBody(Uint8Array.of(0, 0))); // runt
  frames.push(withBody(Uint8Array.of(0, 1, 0, 0x80))); // protocol id
  frames.push(
    withBody(
      encodeBpdu({ type: 'tcn' })
        .slice(0, 4)
        .map((x, i) => (i === 3 ? 0 : x)),
    ),
  ); // short config
  frames.push(withBody(Uint8Array.of(0, 0, 0, 0x80, 0))); // TCN of 5 bytes
  frames.push(withBody(Uint8Array.of(0, 0, 2, 2, ...new Array<number>(32).fill(0)))); // RST BPDU
  const badLlc = good.slice();
  badLlc[15] = 0xaa;
  frames.push(badLlc);
  frames.push(good.subarray(0, 15));
  for (const f of frames) b.processPacket(1, f);
  const st = b.portStatistics(1);
  t.equal(st.stp_error_count, frames.length);
  t.equal(st.stp_rx_count, 0);
  const errs = b.port(1)!.errors;
  t.same(errs, {
    truncated: 1,
    badLlc: 1,
    runt: 1,
    badProtocol: 1,
    badConfigLength: 1,
    badTcnLength: 1,
    badType: 1,
  });
  b.processPacket(1, good);
  t.equal(b.portStatistics(1).stp_rx_count, 1, 'valid TCN counted');
  t.equal(b.portStatistics(1).stp_tx_count, 1, 'TCN acknowledged with a configuration BPDU');
  const before = b.portStatistics(1);
  b.setPortEnabled(1, false);
  t.equal(b.portStatus(1).stp_state, 'disabled');
  b.processPacket(1, frames[0]!);
  b.processPacket(1, good);
  t.same(b.portStatistics(1), before, 'a disabled port ignores BPDUs, counts nothing');
  b.setPortEnabled(1, true);
  t.same(
    b.portStatistics(1),
    { stp_tx_count: 0, stp_rx_count: 0, stp_error_count: 0 },
    'enabling resets counts, as OVS',
  );
  t.notOk(stpShouldForwardBpdu('blocking'));
  t.ok(stpShouldForwardBpdu('disabled'));
  t.end();
});

void t.test('a config BPDU whose message age reached max age is ignored', (t) => {
  const clock = new FakeClock(0);
  const b = new StpBridge({ name: 'br', clock, config: { systemId: mac(5) } });
  b.addPort(1, { name: 'p1' });
  const stale = encodeBpduFrame(mac(1), {
    type: 'config',
    flags: 0,
    rootId: 0x1000_0200_0000_0001n,
    rootPathCost: 0,
    bridgeId: 0x1000_0200_0000_0001n,
    portId: 0x8001,
    messageAge: 20 * 256,
    maxAge: 20 * 256,
    helloTime: 512,
    forwardDelay: 15 * 256,
  });
  b.processPacket(1, stale);
  t.ok(b.isRootBridge(), 'stale information not used');
  const fresh = stale.slice();
  fresh[17 + 27] = 0;
  fresh[17 + 28] = 0;
  b.processPacket(1, fresh);
  t.notOk(b.isRootBridge(), 'fresh superior information adopted');
  t.equal(b.getRootPort(), 1);
  t.equal(b.status().stp_designated_root, '1000.020000000001');
  t.end();
});

void t.test('hold timer: at most one configuration BPDU per second per port', (t) => {
  const clock = new FakeClock(0);
  const b = new StpBridge({ name: 'br', clock, config: { systemId: mac(1) } });
  b.addPort(1, { name: 'p1' });
  b.takePackets();
  clock.advance(2000);
  b.run();
  t.equal(b.takePackets().length, 1, 'hello');
  // An inferior BPDU on a designated port makes us reply, but the hold timer defers it.
  const inferior = encodeBpduFrame(mac(9), {
    type: 'config',
    flags: 0,
    rootId: 0x8000_0200_0000_0009n,
    rootPathCost: 0,
    bridgeId: 0x8000_0200_0000_0009n,
    portId: 0x8001,
    messageAge: 0,
    maxAge: 20 * 256,
    helloTime: 512,
    forwardDelay: 15 * 256,
  });
  b.processPacket(1, inferior);
  t.equal(b.takePackets().length, 0, 'deferred by the hold timer');
  clock.advance(1000);
  b.run();
  t.equal(b.takePackets().length, 1, 'sent when the hold timer expires');
  t.end();
});

void t.test('timers from configuration are clamped as OVS clamps them', (t) => {
  const clock = new FakeClock(0);
  const b = new StpBridge({
    name: 'br',
    clock,
    config: { systemId: mac(1), helloTime: 0, maxAge: 100, forwardDelay: 1 },
  });
  t.same(b.getBridgeTimers(), { helloTime: 1, maxAge: 40, forwardDelay: 21 });
  b.configure({ helloTime: 2, maxAge: 20, forwardDelay: 15 });
  t.same(b.getBridgeTimers(), { helloTime: 2, maxAge: 20, forwardDelay: 15 });
  t.same(b.getTimers(), { helloTime: 2, maxAge: 20, forwardDelay: 15 });
  t.ok(b.wakeTime() <= clock.now() + 2000);
  t.end();
});

void t.test('port priority and path cost choose the root port', (t) => {
  // Two parallel links X1-Y1, X2-Y2; Y picks the lower port id, then the cheaper path.
  const n = new Net();
  n.add('X', 4096, 1);
  n.add('Y', 32768, 2);
  n.link('X', 1, 'Y', 1);
  n.link('X', 2, 'Y', 2);
  n.advance(40_000);
  t.equal(n.get('Y').getRootPort(), 1, 'lower designated port id');
  t.equal(n.get('Y').portStatus(2).stp_state, 'blocking');
  n.get('X').setPortPriority(2, 16);
  n.advance(40_000);
  t.equal(n.get('Y').getRootPort(), 2, 'higher-priority designated port');
  n.get('Y').setPortPathCost(2, 100);
  n.advance(40_000);
  t.equal(n.get('Y').getRootPort(), 1, 'cheaper path');
  t.equal(n.get('Y').status().stp_root_path_cost, '2');
  n.get('Y').setPortSpeed(1, 10);
  n.advance(40_000);
  t.equal(n.get('Y').status().stp_root_path_cost, '100', '10 Mb/s costs 100');
  t.equal(
    n.get('Y').getRootPort(),
    2,
    'equal costs: the lower designated port id (X2, priority 16) wins',
  );
  t.end();
});

void t.test('stp/show text', (t) => {
  const n = triangle();
  n.advance(60_000);
  const r = formatStpShow([n.get('A'), n.get('C')], 'C');
  t.ok(r.ok);
  const text = r.ok ? r.text : '';
  t.equal(
    text,
    [
      '---- C ----',
      'Root ID:',
      '  stp-priority  4096',
      '  stp-system-id   02:00:00:00:00:01',
      '  stp-hello-time  2s',
      '  stp-max-age     20s',
      '  stp-fwd-delay   15s',
      '  root-port       C-1',
      '  root-path-cost  2',
      '',
      'Bridge ID:',
      '  stp-priority  32768',
      '  stp-system-id   02:00:00:00:00:03',
      '  stp-hello-time  2s',
      '  stp-max-age     20s',
      '  stp-fwd-delay   15s',
      '',
      '  Interface  Role       State      Cost  Pri.Nbr ', // OVS pads Pri.Nbr with %-8.7s
      '  ---------- ---------- ---------- ----- -------',
      '  C-1        root       forwarding 2     128.1',
      '  C-2        alternate  blocking   2     128.2',
      '',
      '',
    ].join('\n'),
  );
  const all = formatStpShow([n.get('A'), n.get('C')]);
  t.ok(all.ok && all.text.includes('  This bridge is the root\n'));
  t.same(formatStpShow([n.get('A')], 'Z'), { ok: false, error: 'no such stp object' });
  t.equal(formatStpId(0x8000_0011_2233_4455n), '8000.001122334455');
  t.end();
});

void t.test('driven only by wakeTime(), two bridges converge on time', (t) => {
  const clock = new FakeClock(0);
  const x = new StpBridge({ name: 'x', clock, config: { systemId: mac(1) } });
  const y = new StpBridge({ name: 'y', clock, config: { systemId: mac(2) } });
  x.addPort(1, { name: 'x1' });
  y.addPort(1, { name: 'y1' });
  const pass = (from: StpBridge, to: StpBridge): void => {
    for (const o of from.takePackets()) to.processPacket(1, o.frame);
  };
  let iterations = 0;
  while (clock.now() < 31_000 && iterations < 1000) {
    iterations++;
    pass(x, y);
    pass(y, x);
    const next = Math.min(x.wakeTime(), y.wakeTime());
    t.ok(next > clock.now() || iterations === 1, 'wake time is in the future after running');
    clock.advanceTo(next);
    x.run();
    y.run();
  }
  pass(x, y);
  pass(y, x);
  t.ok(iterations < 1000, `few wake-ups (${iterations})`);
  t.equal(x.portStatus(1).stp_state, 'forwarding');
  t.equal(y.portStatus(1).stp_state, 'forwarding');
  t.equal(y.portRole(1), 'root');
  t.end();
});

/**
 * The BFD wiring (vswitchd/bfd.ts) on the real reconciler, the userspace datapath and dummy
 * netdevs, on a fake clock: configuration from Interface.bfd, the session coming Up between two
 * bridges, bfd_status, the consume/wildcard contract, liveness feeding a fast-failover group,
 * bfd/show and bfd/set-forwarding, disabling, and rejected authenticated packets.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import { counter } from '../../../lib/counters.js';
import type { Json } from '../../../lib/json.js';
import { extractFlowKey } from '../../../lib/packet/extract.js';
import { FRAG_LATER, W, newFlowKey, type FlowKey } from '../../../lib/packet/flow-key.js';
import { AppctlError, AppctlRegistry } from '../../../appctl/registry.js';
import { formatActions } from '../../../datapath/actions.js';
import { DpifNetdev } from '../../../datapath/dpif-netdev.js';
import { newFrameBatch } from '../../../datapath/netdev.js';
import { connectDummies, findDummy } from '../../../datapath/netdev-dummy.js';
import type { Action } from '../../../openflow/actions.js';
import { OFPG, OFPGT, OFPP, OFPPC, OFPPR, OFPPS } from '../../../openflow/constants.js';
import type { Bucket } from '../../../openflow/structs.js';
import { Database } from '../../../ovsdb/database.js';
import { vswitchDbSchema } from '../../../ovsdb/schema.js';
import type { Row } from '../../../ovsdb/types.js';
import type { Ofconn } from '../../../ofproto/ofconn.js';
import { Ofproto, type OfPort } from '../../../ofproto/ofproto.js';
import { traceFlow } from '../../../ofproto/trace.js';
import {
  BfdFlag,
  BfdState,
  encodeBfdFrame,
  type BfdControlPacket,
} from '../../../protocols/bfd/index.js';
import type { BfdBridgeProtocol } from '../../../vswitchd/bfd.js';
import { bfdModule, registerBfdCommands } from '../../../vswitchd/bfd.js';
import { BridgeReconciler } from '../../../vswitchd/bridge.js';
import { addFlowMod } from '../../helpers/flow-mod.js';

let seq = 0;

/** Two bridges: br0 with a0 (BFD to br1's b0), a1 (backup) and a2 (ingress); br1 with b0. */
async function setup(t: Test) {
  const n = ++seq;
  const name = (s: string): string => `tbfd${n}${s}`;
  const dir = mkdtempSync(join(tmpdir(), 'tbfd-unit-'));
  const clock = new FakeClock(1000);
  const db = new Database(vswitchDbSchema());
  db.transact([{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
  const dpif = new DpifNetdev({ clock });
  const rec = new BridgeReconciler({
    db,
    clock,
    rundir: dir,
    dpif,
    protocols: [bfdModule],
    deviceExists: () => true,
  });
  await rec.start();
  dpif.start();
  t.teardown(async () => {
    await rec.stop();
    dpif.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const ovs = [...db.rows('Open_vSwitch').keys()][0]!;
  const transact = (ops: Json[]): void => {
    const r = db.transact(ops);
    if (r.status !== 'done' || r.result.some((x) => x && typeof x === 'object' && 'error' in x))
      throw new Error(`transaction failed: ${JSON.stringify(r)}`);
  };
  const addBridge = (br: string, ports: string[]): void => {
    const ops: Json[] = [];
    ports.forEach((p, i) => {
      ops.push(
        {
          op: 'insert',
          table: 'Interface',
          row: { name: p, type: 'dummy', ofport_request: i + 1 },
          'uuid-name': `i${i}`,
        },
        {
          op: 'insert',
          table: 'Port',
          row: { name: p, interfaces: ['named-uuid', `i${i}`] },
          'uuid-name': `p${i}`,
        },
      );
    });
    ops.push(
      {
        op: 'insert',
        table: 'Bridge',
        row: {
          name: br,
          fail_mode: 'secure',
          ports: ['set', ports.map((_, i) => ['named-uuid', `p${i}`])],
        },
        'uuid-name': 'b',
      },
      {
        op: 'mutate',
        table: 'Open_vSwitch',
        where: [['_uuid', '==', ['uuid', ovs]]],
        mutations: [['bridges', 'insert', ['named-uuid', 'b']]],
      },
    );
    transact(ops);
  };
  const a0 = name('a0');
  const a1 = name('a1');
  const a2 = name('a2');
  const b0 = name('b0');
  addBridge(`${name('br')}0`, [a0, a1, a2]);
  addBridge(`${name('br')}1`, [b0]);
  await rec.schedule();
  await rec.idle();
  connectDummies(findDummy(a0)!, findDummy(b0)!);

  const ifaceRow = (iface: string): Row =>
    [...db.rows('Interface').values()].find((r) => r.data.name?.keys[0] === iface)!;
  const setBfd = async (iface: string, cfg: Record<string, string>): Promise<void> => {
    transact([
      {
        op: 'update',
        table: 'Interface',
        where: [['_uuid', '==', ['uuid', ifaceRow(iface).uuid]]],
        row: { bfd: ['map', Object.entries(cfg)] },
      },
    ]);
    await rec.schedule();
    await rec.idle();
  };
  const status = (iface: string): Record<string, string> => {
    const d = ifaceRow(iface).data.bfd_status;
    const out: Record<string, string> = {};
    d?.keys.forEach((k, i) => (out[String(k)] = String(d.values![i])));
    return out;
  };
  const turns = async (k = 4): Promise<void> => {
    for (let i = 0; i < k; i++) await new Promise<void>((r) => setImmediate(r));
  };
  /** Advances the fake clock in 10 ms steps, letting frames cross between steps. */
  const advance = async (ms: number): Promise<void> => {
    for (let done = 0; done < ms; done += 10) {
      clock.advance(Math.min(10, ms - done));
      await turns();
    }
  };
  /** Advances until `cond` holds; returns the fake time it took, or -1 after `limit` ms. */
  const until = async (cond: () => boolean, limit: number): Promise<number> => {
    const start = clock.now();
    while (!cond()) {
      if (clock.now() - start > limit) return -1;
      await advance(10);
    }
    return clock.now() - start;
  };
  const br0 = rec.bridges.get(`${name('br')}0`)!;
  const proto = (br: string): BfdBridgeProtocol =>
    rec.protocolsOf('bfd').get(br) as BfdBridgeProtocol;
  const port = (iface: string): OfPort => br0.ofproto.listPorts().find((p) => p.name === iface)!;
  const registry = new AppctlRegistry();
  registerBfdCommands(registry, () => rec.protocolsOf('bfd'));
  return {
    clock,
    db,
    dpif,
    rec,
    br0,
    br0Name: `${name('br')}0`,
    br1Name: `${name('br')}1`,
    a0,
    a1,
    a2,
    b0,
    setBfd,
    status,
    advance,
    until,
    turns,
    proto,
    port,
    registry,
  };
}

type Setup = Awaited<ReturnType<typeof setup>>;

const FAST = { enable: 'true', min_rx: '100', min_tx: '100' };

function rowUuid(s: Setup, iface: string): string {
  return [...s.db.rows('Interface').values()].find((r) => r.data.name?.keys[0] === iface)!.uuid;
}

t.test('configuration from Interface.bfd with OVS defaults', async (t) => {
  const s = await setup(t);
  t.equal(s.proto(s.br0Name).sessions().length, 0, 'no session without bfd:enable');
  await s.setBfd(s.a0, { enable: 'true' });
  const sess = s.proto(s.br0Name).session(s.a0)!;
  t.ok(sess, 'session created');
  t.match(sess.config, {
    minRx: 1000,
    minTx: 100,
    mult: 3,
    decayMinRx: 0,
    forwardingIfRx: false,
    cpathDown: false,
    checkTnlKey: false,
    srcIp: 0xa9fe0101,
    dstIp: 0xa9fe0100,
    oam: false,
    localSrcMac: undefined,
    localDstMac: undefined,
    remoteDstMac: undefined,
  });
  t.ok(sess.udpSrc >= 49152 && sess.udpSrc <= 65535, 'source port in the dynamic range');
  // Default addressing on the wire: 00:23:20:00:00:01, the interface MAC, 169.254.1.1 → .0.
  const dummy = findDummy(s.a0)!;
  dummy.setCaptureTx(true);
  await s.advance(1100);
  const sent = dummy.takeSent();
  t.ok(sent.length >= 1, 'control frames sent straight out of the interface');
  const f0 = sent[0]!;
  t.same([...f0.subarray(0, 6)], [0x00, 0x23, 0x20, 0x00, 0x00, 0x01], 'default dst MAC');
  const macInUse = String(s.db.getRow('Interface', rowUuid(s, s.a0))!.data.mac_in_use!.keys[0]);
  t.same(
    [...f0.subarray(6, 12)].map((b) => b.toString(16).padStart(2, '0')).join(':'),
    macInUse,
    'source MAC is the interface MAC (mac_in_use)',
  );
  const key = newFlowKey();
  extractFlowKey(f0, 0, f0.length, 1, key);
  t.equal(key[W.NW_SRC], 0xa9fe0101);
  t.equal(key[W.NW_DST], 0xa9fe0100);
  t.equal(key[W.TP]! & 0xffff, 3784);
  t.equal(key[W.TP]! >>> 16, sess.udpSrc);

  await s.setBfd(s.a0, {
    enable: 'true',
    min_rx: '300',
    min_tx: '200',
    mult: '5',
    decay_min_rx: '2000',
    forwarding_if_rx: 'true',
    cpath_down: 'true',
    check_tnl_key: 'true',
    bfd_src_ip: '10.0.0.1',
    bfd_dst_ip: '10.0.0.2',
    bfd_local_src_mac: '00:11:22:33:44:55',
    bfd_local_dst_mac: '00:11:22:33:44:66',
    bfd_remote_dst_mac: '00:11:22:33:44:77',
    oam: 'true',
  });
  const same = s.proto(s.br0Name).session(s.a0)!;
  t.equal(same, sess, 'reconfigured in place');
  t.match(same.config, {
    minRx: 300,
    minTx: 200,
    mult: 5,
    decayMinRx: 2000,
    forwardingIfRx: true,
    cpathDown: true,
    checkTnlKey: true,
    srcIp: 0x0a000001,
    dstIp: 0x0a000002,
    oam: true,
  });
  t.same([...same.config.remoteDstMac!], [0, 0x11, 0x22, 0x33, 0x44, 0x77]);
  await s.advance(1100);
  const f1 = dummy.takeSent().at(-1)!;
  t.same(
    [...f1.subarray(0, 12)],
    [0, 0x11, 0x22, 0x33, 0x44, 0x66, 0, 0x11, 0x22, 0x33, 0x44, 0x55],
  );
  extractFlowKey(f1, 0, f1.length, 1, key);
  t.equal(key[W.NW_SRC], 0x0a000001);
  t.equal(key[W.NW_DST], 0x0a000002);
  const shown = await s.registry.run('bfd/show', [s.a0]);
  t.match(
    shown,
    /^ {2}Forwarding: false\n {2}Detect Multiplier: 5\n {2}Concatenated Path Down: true\n/,
  );
  t.match(shown, /Local Diagnostic: Concatenated Path Down\n/);
  t.match(s.status(s.a0), {
    state: 'down',
    forwarding: 'false',
    diagnostic: 'Concatenated Path Down',
  });
});

t.test(
  'session comes up between two bridges; cut detected; liveness moves an FF group',
  async (t) => {
    const s = await setup(t);
    // FF group on br0: a0 (watched) first, a1 as backup; traffic from a2 goes to the group.
    const dp = (iface: string): number => s.port(iface).dpPort!;
    const tables = s.br0.ofproto.tables;
    const conn = {} as Ofconn;
    const out = (port: number): Action => ({ type: 'OUTPUT', port, maxLen: 0 });
    const bucket = (port: number): Bucket => ({
      weight: 0,
      watchPort: port,
      watchGroup: OFPG.ANY,
      actions: [out(port)],
    });
    tables.handleMessage(
      conn,
      {
        type: 'GROUP_MOD',
        xid: 0,
        command: 0,
        groupType: OFPGT.FF,
        groupId: 1,
        buckets: [bucket(s.port(s.a0).ofport), bucket(s.port(s.a1).ofport)],
      },
      new Uint8Array(),
    );
    tables.handleMessage(
      conn,
      addFlowMod(
        0,
        10,
        [{ field: 'in_port', value: s.port(s.a2).ofport }],
        [{ type: 'APPLY_ACTIONS', actions: [{ type: 'GROUP', groupId: 1 }] }],
      ),
      new Uint8Array(),
    );
    const xlate = s.rec.xlateOf(s.br0Name)!;
    const ffOut = (): string => {
      const key = newFlowKey();
      key[W.IN_PORT] = s.port(s.a2).ofport;
      key[W.ETH_TYPE] = 0x0800;
      return formatActions(xlate.translate({ key, sideEffects: false }).actions);
    };
    t.equal(ffOut(), String(dp(s.a0)), 'no BFD yet: the watched port a0 is live');

    await s.setBfd(s.a0, FAST);
    t.notOk(s.port(s.a0).state & OFPPS.LIVE, 'BFD enabled and not yet up: a0 is not LIVE');
    t.equal(ffOut(), String(dp(s.a1)), 'FF group uses the backup while BFD is down');
    await s.turns();
    t.match(s.status(s.a0), { state: 'down', forwarding: 'false' }, 'status written at once');

    await s.setBfd(s.b0, FAST);
    const took = await s.until(
      () =>
        [s.a0, s.b0].every((i) => s.status(i).state === 'up' && s.status(i).remote_state === 'up'),
      10_000,
    );
    t.ok(took >= 0, `session up on both ends (fake ${took} ms)`);
    t.same(s.status(s.a0), {
      diagnostic: 'No Diagnostic',
      flap_count: '1',
      forwarding: 'true',
      remote_diagnostic: 'No Diagnostic',
      remote_state: 'up',
      state: 'up',
    });
    t.match(s.status(s.b0), { state: 'up', forwarding: 'true', remote_state: 'up' });
    t.ok(s.port(s.a0).state & OFPPS.LIVE, 'a0 is LIVE while BFD forwards');
    t.equal(ffOut(), String(dp(s.a0)), 'FF group back on a0');
    const show = await s.registry.run('bfd/show', []);
    t.match(show, new RegExp(`^---- ${s.a0} ----\\n {2}Forwarding: true\\n`));
    t.match(show, new RegExp(`---- ${s.b0} ----\\n`));
    t.match(show, /Local Session State: up\n[^]*Remote Session State: up\n/);
    t.match(show, /TX Interval: Approx 100ms\n {2}RX Interval: Approx 100ms\n/);

    // Cut: b0 stops transmitting. a0 must go down within the detection time (3 × 100 ms).
    const portStatus: { reason: number; name: string; state: number }[] = [];
    const ofp = s.br0.ofproto;
    const orig = ofp.portStatus.bind(ofp);
    ofp.portStatus = (reason, p, exclude) => {
      portStatus.push({ reason, name: p.name, state: p.state });
      orig(reason, p, exclude);
    };
    findDummy(s.b0)!.setCarrier(false);
    const detected = await s.until(() => s.status(s.a0).state === 'down', 2000);
    t.ok(detected >= 0 && detected <= 300 + 20, `cut detected after ${detected} fake ms`);
    t.match(s.status(s.a0), {
      state: 'down',
      forwarding: 'false',
      diagnostic: 'Control Detection Time Expired',
      flap_count: '2',
    });
    t.notOk(s.port(s.a0).state & OFPPS.LIVE, 'a0 no longer LIVE');
    t.same(
      portStatus,
      [{ reason: OFPPR.MODIFY, name: s.a0, state: 0 }],
      'one PORT_STATUS (MODIFY) without LIVE to controllers',
    );
    t.notOk(s.port(s.a0).state & OFPPS.LINK_DOWN, 'its link is still up (only BFD is down)');
    t.equal(ffOut(), String(dp(s.a1)), 'FF group moved to the backup a1');
    // Carrier polling and BFD combine: a0's carrier goes down and comes back while BFD is
    // still down; the port must not become LIVE again.
    findDummy(s.a0)!.setCarrier(false);
    await s.advance(1100);
    t.ok(s.port(s.a0).state & OFPPS.LINK_DOWN, 'carrier poll saw the link go down');
    findDummy(s.a0)!.setCarrier(true);
    await s.advance(1100);
    t.notOk(s.port(s.a0).state & OFPPS.LINK_DOWN, 'carrier poll saw the link come back');
    t.notOk(s.port(s.a0).state & OFPPS.LIVE, 'but BFD is still down: not LIVE');
    t.equal(ffOut(), String(dp(s.a1)), 'FF group stays on the backup');

    // Restore: up again, LIVE again.
    findDummy(s.b0)!.setCarrier(true);
    t.ok((await s.until(() => s.status(s.a0).state === 'up', 10_000)) >= 0, 'up again');
    t.ok(s.port(s.a0).state & OFPPS.LIVE);
    t.equal(ffOut(), String(dp(s.a0)));
  },
);

t.test('consume: BFD frames taken before the tables, wildcards unmasked', async (t) => {
  const s = await setup(t);
  const proto = s.proto(s.br0Name);
  const a0 = s.port(s.a0);
  const a1 = s.port(s.a1);
  const frame = (over: Partial<BfdControlPacket> = {}, dport?: number): Uint8Array => {
    const f = encodeBfdFrame(
      {
        ethDst: Uint8Array.of(0, 0x23, 0x20, 0, 0, 1),
        ethSrc: Uint8Array.of(2, 0, 0, 0, 0, 9),
        ipSrc: 0xa9fe0101,
        ipDst: 0xa9fe0100,
        udpSrc: 49999,
      },
      {
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
      },
    );
    if (dport !== undefined) {
      f[36] = dport >> 8;
      f[37] = dport & 0xff;
    }
    return f;
  };
  const keyOf = (f: Uint8Array, p: OfPort): FlowKey => {
    const k = newFlowKey();
    extractFlowKey(f, 0, f.length, p.ofport, k);
    return k;
  };
  let wc = newFlowKey();
  t.notOk(proto.consume(a0, keyOf(frame(), a0), wc, undefined), 'nothing consumed without BFD');
  t.ok(
    wc.every((w) => w === 0),
    'and no bits looked at',
  );

  await s.setBfd(s.a0, { enable: 'true' });
  wc = newFlowKey();
  t.ok(proto.consume(a0, keyOf(frame(), a0), wc, undefined), 'BFD frame on a0 consumed');
  t.equal(wc[W.ETH_TYPE], 0xffff, 'eth_type unwildcarded');
  t.equal(wc[W.NW]! & 0xff, 0xff, 'ip_proto unwildcarded');
  t.ok((wc[W.NW]! >>> 24) & FRAG_LATER, 'later-fragment bit unwildcarded');
  t.equal(wc[W.TP]! & 0xffff, 0xffff, 'tp_dst unwildcarded');
  t.equal(wc[W.IN_PORT], 0xffffffff, 'in_port unwildcarded');
  t.equal(wc[W.NW_DST], 0, 'ipv4_dst not read with the default bfd_src_ip');

  wc = newFlowKey();
  t.notOk(
    proto.consume(a1, keyOf(frame(), a1), wc, undefined),
    'same frame on a1 (no BFD): tables',
  );
  t.equal(wc[W.IN_PORT], 0xffffffff, 'in_port unwildcarded');

  wc = newFlowKey();
  t.notOk(proto.consume(a0, keyOf(frame({}, 3785), a0), wc, undefined), 'UDP 3785: not BFD');
  t.not(wc[W.TP]! & 0xffff, 0, 'tp_dst partly unwildcarded on a mismatch');
  t.equal(wc[W.NW]! & 0xff, 0xff);

  const tcp = frame();
  tcp[23] = 6;
  wc = newFlowKey();
  t.notOk(proto.consume(a0, keyOf(tcp, a0), wc, undefined), 'TCP: not BFD');
  t.equal(wc[W.NW]! & 0xff, 0xff, 'ip_proto unwildcarded');

  const frag = frame();
  frag[20] = 0x00;
  frag[21] = 0x10; // fragment offset 16 × 8: a later fragment
  wc = newFlowKey();
  t.notOk(proto.consume(a0, keyOf(frag, a0), wc, undefined), 'later fragment: not BFD');

  const arp = new Uint8Array(60);
  arp[12] = 0x08;
  arp[13] = 0x06;
  wc = newFlowKey();
  t.notOk(proto.consume(a0, keyOf(arp, a0), wc, undefined), 'ARP: not BFD');
  t.equal(wc[W.ETH_TYPE], 0xffff);

  await s.setBfd(s.a0, {
    enable: 'true',
    bfd_src_ip: '169.254.1.0',
    bfd_remote_dst_mac: '00:23:20:00:00:01',
    check_tnl_key: 'true',
  });
  wc = newFlowKey();
  t.ok(proto.consume(a0, keyOf(frame(), a0), wc, undefined), 'matching dst MAC and IP');
  t.equal(wc[W.NW_DST], 0xffffffff, 'ipv4_dst unwildcarded when bfd_src_ip is set');
  t.equal(wc[W.ETH_DST], 0xffff, 'eth_dst unwildcarded with bfd_remote_dst_mac');
  t.equal(wc[W.ETH_DST + 1], 0xffffffff);
  t.equal(wc[W.TUNNEL_ID], 0xffffffff, 'tunnel_id unwildcarded with check_tnl_key');
  const other = frame();
  other[5] = 2;
  wc = newFlowKey();
  t.notOk(proto.consume(a0, keyOf(other, a0), wc, undefined), 'other dst MAC: tables');
  const otherIp = frame();
  otherIp[33] = 7;
  wc = newFlowKey();
  t.notOk(proto.consume(a0, keyOf(otherIp, a0), wc, undefined), 'other dst IP: tables');
  t.equal(wc[W.NW_DST], 0xffffffff);

  // Through the translator: the trace says it was consumed, no actions, slow path.
  const xlate = s.rec.xlateOf(s.br0Name)!;
  const tr = traceFlow(xlate, keyOf(frame(), a0));
  t.match(tr.text, />> BFD packet consumed/);
  const r = xlate.translate({ key: keyOf(frame(), a0), sideEffects: false });
  t.equal(r.actions.length, 0);
  t.same(r.slow, ['bfd']);
});

t.test('authenticated packets rejected and counted; malformed ones dropped', async (t) => {
  const s = await setup(t);
  await s.setBfd(s.a0, { enable: 'true' });
  const sess = s.proto(s.br0Name).session(s.a0)!;
  const global = counter('bfd_rx_auth', 'bfd');
  const before = global.total;
  const msg: BfdControlPacket = {
    version: 1,
    diag: 0,
    state: BfdState.Down,
    flags: BfdFlag.Auth,
    detectMult: 3,
    length: 24,
    myDisc: 0x77,
    yourDisc: 0,
    desiredMinTxUs: 1_000_000,
    requiredMinRxUs: 1_000_000,
    requiredMinEchoRxUs: 0,
  };
  const addr = {
    ethDst: Uint8Array.of(0, 0x23, 0x20, 0, 0, 1),
    ethSrc: Uint8Array.of(2, 0, 0, 0, 0, 9),
    ipSrc: 0xa9fe0101,
    ipDst: 0xa9fe0100,
    udpSrc: 49999,
  };
  findDummy(s.a0)!.receive(encodeBfdFrame(addr, msg));
  await s.turns(6);
  t.equal(sess.stats.rxErrors.auth, 1, 'counted per session');
  t.equal(global.total - before, 1, 'counted globally (bfd_rx_auth)');
  t.equal(sess.stats.rx, 0, 'not accepted');
  t.equal(sess.sessionState, BfdState.Down, 'state unchanged');
  // Without the A bit the same packet is accepted (Down → Init).
  findDummy(s.a0)!.receive(encodeBfdFrame(addr, { ...msg, flags: 0 }));
  await s.turns(6);
  t.equal(sess.stats.rx, 1);
  t.equal(sess.sessionState, BfdState.Init);
  // A truncated one is dropped and counted, never thrown.
  const short = encodeBfdFrame(addr, msg).slice(0, 50);
  short[17] = 36;
  findDummy(s.a0)!.receive(short);
  await s.turns(6);
  t.equal(sess.stats.rx, 1);
});

t.test('bfd/set-forwarding and bfd/show errors; disabling clears bfd_status', async (t) => {
  const s = await setup(t);
  await s.setBfd(s.a0, FAST);
  await s.turns();
  t.equal(s.status(s.a0).forwarding, 'false');
  t.notOk(s.port(s.a0).state & OFPPS.LIVE);

  t.equal(await s.registry.run('bfd/set-forwarding', [s.a0, 'true']), 'OK');
  await s.turns();
  t.equal(s.status(s.a0).forwarding, 'true', 'forced forwarding in bfd_status');
  t.equal(s.status(s.a0).state, 'down', 'state unchanged');
  t.ok(s.port(s.a0).state & OFPPS.LIVE, 'forced forwarding makes the port LIVE');
  t.match(await s.registry.run('bfd/show', [s.a0]), /^ {2}Forwarding: true\n/);

  t.equal(await s.registry.run('bfd/set-forwarding', ['normal']), 'OK', 'every session');
  await s.turns();
  t.equal(s.status(s.a0).forwarding, 'false');
  t.notOk(s.port(s.a0).state & OFPPS.LIVE);

  await t.rejects(s.registry.run('bfd/set-forwarding', ['nope', 'true']), {
    constructor: AppctlError,
    message: 'no such BFD object',
  });
  await t.rejects(s.registry.run('bfd/set-forwarding', [s.a0, 'maybe']), {
    message: 'unknown fault string',
  });
  await t.rejects(s.registry.run('bfd/show', ['nope']), { message: 'no such bfd object' });
  await t.rejects(s.registry.run('bfd/set-forwarding', []), {
    message: '"bfd/set-forwarding" command requires at least 1 arguments',
  });

  await s.setBfd(s.a0, { enable: 'false', min_rx: '100' });
  t.same(s.status(s.a0), {}, 'bfd_status cleared when BFD is disabled');
  t.equal(s.proto(s.br0Name).sessions().length, 0, 'session closed');
  t.ok(s.port(s.a0).state & OFPPS.LIVE, 'port LIVE again without BFD');
  t.equal(await s.registry.run('bfd/show', []), '', 'bfd/show lists nothing');
  // Stays cleared across status ticks.
  await s.advance(2100);
  t.same(s.status(s.a0), {});
});

t.test('forwarding_if_rx: data traffic on the interface keeps forwarding', async (t) => {
  const s = await setup(t);
  const cfg = { ...FAST, forwarding_if_rx: 'true' };
  await s.setBfd(s.a0, cfg);
  await s.setBfd(s.b0, FAST);
  t.ok(
    (await s.until(() => s.status(s.a0).state === 'up' && s.status(s.b0).state === 'up', 10_000)) >=
      0,
    'up',
  );
  // The peer goes silent (BFD disabled there) but keeps sending data frames to a0.
  await s.setBfd(s.b0, { enable: 'false' });
  const data = new Uint8Array(60);
  data.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0xb5]);
  const b0 = findDummy(s.b0)!;
  const sendData = (): void => {
    const batch = newFrameBatch(1);
    batch.count = 1;
    batch.bufs[0] = data;
    batch.offs[0] = 0;
    batch.lens[0] = data.length;
    b0.sendBatch(batch);
  };
  // Detection takes up to 3 × 1 s here: a peer that has just come Up still advertises 1 s.
  let waited = 0;
  while (s.status(s.a0).state !== 'down' && waited < 6000) {
    sendData();
    await s.advance(50);
    waited += 50;
  }
  for (let i = 0; i < 10; i++) {
    sendData();
    await s.advance(50);
  }
  t.equal(s.status(s.a0).state, 'down', 'no control packets: the session is down');
  t.equal(s.status(s.a0).forwarding, 'true', 'but data keeps it forwarding');
  t.ok(s.port(s.a0).state & OFPPS.LIVE, 'and the port LIVE');
  // Data stops: forwarding goes false (within max(rx interval × mult, 2 s)).
  t.ok((await s.until(() => s.status(s.a0).forwarding === 'false', 5000)) >= 0, 'data stopped');
  t.notOk(s.port(s.a0).state & OFPPS.LIVE);
});

t.test('megaflows for other traffic on a BFD port never swallow BFD frames', async (t) => {
  const s = await setup(t);
  await s.setBfd(s.a0, FAST);
  await s.setBfd(s.b0, FAST);
  t.ok((await s.until(() => s.status(s.a0).state === 'up', 10_000)) >= 0, 'up');
  // A rule sends everything from a0 to a1; UDP data to port 53 flows from b0 into a0.
  const conn = {} as Ofconn;
  s.br0.ofproto.tables.handleMessage(
    conn,
    {
      type: 'FLOW_MOD',
      xid: 0,
      cookie: 0n,
      cookieMask: 0n,
      tableId: 0,
      command: 0,
      idleTimeout: 0,
      hardTimeout: 0,
      priority: 10,
      bufferId: 0xffffffff,
      outPort: OFPP.ANY,
      outGroup: OFPG.ANY,
      flags: 0,
      match: [{ field: 'in_port', value: s.port(s.a0).ofport }],
      instructions: [
        {
          type: 'APPLY_ACTIONS',
          actions: [{ type: 'OUTPUT', port: s.port(s.a1).ofport, maxLen: 0 }],
        },
      ],
    },
    new Uint8Array(),
  );
  const udp = encodeBfdFrame(
    {
      ethDst: Uint8Array.of(0, 0x23, 0x20, 0, 0, 1),
      ethSrc: Uint8Array.of(2, 0, 0, 0, 0, 9),
      ipSrc: 0xa9fe0101,
      ipDst: 0xa9fe0100,
      udpSrc: 40000,
    },
    {
      version: 1,
      diag: 0,
      state: BfdState.Down,
      flags: 0,
      detectMult: 3,
      length: 24,
      myDisc: 1,
      yourDisc: 0,
      desiredMinTxUs: 0,
      requiredMinRxUs: 0,
      requiredMinEchoRxUs: 0,
    },
  );
  udp[36] = 0;
  udp[37] = 53;
  const batch = newFrameBatch(1);
  batch.count = 1;
  batch.bufs[0] = udp;
  batch.offs[0] = 0;
  batch.lens[0] = udp.length;
  const sess = s.proto(s.br0Name).session(s.a0)!;
  const rx0 = sess.stats.rx;
  const a1 = findDummy(s.a1)!;
  a1.setCaptureTx(true);
  for (let i = 0; i < 40; i++) {
    findDummy(s.b0)!.sendBatch(batch);
    await s.advance(50);
  }
  const dpA0 = s.port(s.a0).dpPort!;
  const mf = s.dpif.flows().filter((f) => f.key[W.IN_PORT] === dpA0);
  t.ok(mf.length >= 1, 'a megaflow was installed for the data traffic');
  t.ok(a1.takeSent().length >= 30, 'the data traffic was forwarded to a1');
  t.ok(sess.stats.rx - rx0 >= 10, `BFD frames still reach the session (${sess.stats.rx - rx0})`);
  t.equal(s.status(s.a0).state, 'up', 'the session stayed up');
  for (const f of mf) t.not(f.mask[W.TP]! & 0xffff, 0, 'the megaflow looks at tp_dst');
});

t.test('Ofproto.setPortEnable: LIVE follows carrier, config and every liveness source', (t) => {
  const sw = new Ofproto({ name: 'tbfdsw', datapathId: 1n, clock: new FakeClock() });
  const p = sw.addPort({
    ofport: 1,
    name: 'p1',
    hwAddr: 1,
    config: 0,
    state: OFPPS.LIVE,
    curr: 0,
    currSpeed: 0,
    maxSpeed: 0,
  });
  t.ok(sw.setPortEnable(1, false, 'bfd'), 'LIVE cleared');
  t.equal(p.state, 0);
  t.equal(p.mayEnable, false);
  sw.setPortState(1, OFPPS.LIVE);
  t.equal(p.state, 0, 'a carrier update cannot set LIVE while a source vetoes it');
  t.notOk(sw.setPortEnable(1, false, 'lacp'), 'second veto: no change');
  t.notOk(sw.setPortEnable(1, true, 'bfd'), 'LACP still vetoes');
  t.equal(p.state, 0);
  t.ok(sw.setPortEnable(1, true, 'lacp'), 'no veto left: LIVE again');
  t.equal(p.state, OFPPS.LIVE);
  t.equal(p.mayEnable, undefined);
  sw.setPortState(1, OFPPS.LINK_DOWN);
  t.notOk(sw.setPortEnable(1, true, 'bfd'), 'link down: not LIVE whatever BFD says');
  t.equal(p.state, OFPPS.LINK_DOWN);
  sw.setPortState(1, OFPPS.LIVE);
  p.config = OFPPC.PORT_DOWN;
  t.ok(sw.setPortEnable(1, true, 'bfd'), 'PORT_DOWN: LIVE cleared (normalize_state)');
  t.equal(p.state, 0);
  t.notOk(sw.setPortEnable(9, false), 'unknown port');
  t.end();
});

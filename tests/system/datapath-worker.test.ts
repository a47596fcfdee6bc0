/**
 * The datapath worker thread (datapath/dp-worker.ts, on by default): a tsvs daemon
 * in its own namespace with the worker on, two hosts joined by veths (tests/system/datapath-lab.ts):
 *
 * - rules each way (fail_mode secure): ping and iperf3 pass, the megaflows show in
 *   dpctl/dump-flows with packet counts that grow while the traffic runs through the worker
 *   (a thread other than the main one does the forwarding), dump-ports counters grow;
 * - a flow change (del-flows, then a drop rule) stops the traffic;
 * - NORMAL: ping and iperf3 pass;
 * - del-port while a flood ping runs: the daemon survives, the port comes back and works.
 *
 * And in this process, a DpifNetdev with `worker: true` over veths in a namespace: the worker
 * owns the ports and forwards (the flow's statistics come from it); a port deleted while frames
 * flow is released before its socket closes; when the worker thread dies the datapath reads the
 * ports itself again and forwarding goes on.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { DpAction } from '../../datapath/actions.js';
import { DpifNetdev } from '../../datapath/dpif-netdev.js';
import { AfPacketNetdev } from '../../datapath/netdev-afpacket.js';
import { newFrameBatch } from '../../datapath/netdev.js';
import { FLOW_KEY_WORDS, W } from '../../lib/packet/flow-key.js';
import { sleep } from '../helpers/net.js';
import { requireNative, requirePeer } from '../helpers/peers.js';
import { runTool } from '../helpers/tools.js';
import { vethNamespace } from './afpacket-netns.js';
import { dpPorts, flowPackets, iperf, pingUntil, startLab, type DpLab } from './datapath-lab.js';

process.env.TSVS_DATAPATH_WORKER = '1';

/** CPU ticks (utime + stime) per thread of the daemon, by thread id. */
function threadTicks(pid: number): Map<number, number> {
  const m = new Map<number, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return m;
  }
  for (const tid of tids) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      // Fields after the command: state is [0], utime is field 14 of stat → index 11 here.
      m.set(Number(tid), Number(f[11]) + Number(f[12]));
    } catch {
      // The thread ended.
    }
  }
  return m;
}

/** The pid of the daemon (the node process inside the switch namespace). */
async function daemonPid(lab: DpLab): Promise<number> {
  const r = await lab.sh(['ip', 'netns', 'pids', lab.swNs]);
  for (const p of r.stdout.split(/\s+/).filter((x) => x !== '')) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.includes(lab.rundir)) return Number(p);
    } catch {
      // Gone.
    }
  }
  return -1;
}

/** The daemon's log (`<rundir>/tsvs.log`), or '' before it exists. */
function daemonLog(lab: DpLab): string {
  try {
    return readFileSync(join(lab.rundir, 'tsvs.log'), 'utf8');
  } catch {
    return '';
  }
}

/** rx/tx packet counters of OpenFlow port `port` from `ovs-ofctl dump-ports`. */
async function portCounters(lab: DpLab, br: string, port: number): Promise<[number, number]> {
  const out = (await lab.ofctl('dump-ports', br, String(port))).stdout;
  const rx = /rx pkts=(\d+)/.exec(out);
  const tx = /tx pkts=(\d+)/.exec(out);
  return [Number(rx?.[1] ?? -1), Number(tx?.[1] ?? -1)];
}

t.test('forwarding through the datapath worker', async (t) => {
  const lab = await startLab(t, { id: 'h5', hosts: 2, net: 95, peers: ['iperf3'] });
  if (lab === undefined) return;
  const br = `${lab.tag}br`;
  const add = await lab.addBridge(br, ['--', 'set-fail-mode', br, 'secure']);
  t.equal(add.code, 0, `add-br: ${add.stderr}`);
  t.equal(add.stderr, '', 'no interface errors');
  const ports = await dpPorts(lab);
  const [h1, h2] = [lab.hosts[0]!, lab.hosts[1]!];
  const d1 = ports.get(h1.sw) ?? -1;
  const d2 = ports.get(h2.sw) ?? -1;
  t.ok(d1 > 0 && d2 > 0, `both host ports are datapath ports: ${JSON.stringify([...ports])}`);
  // The worker announces itself once the datapath starts.
  for (let i = 0; i < 50 && !/datapath worker started/.test(daemonLog(lab)); i++) await sleep(100);
  t.match(daemonLog(lab), /datapath worker started/, 'the datapath runs a worker thread');

  await t.test('rules each way: ping, iperf3, megaflow and port counters', async (t) => {
    for (const f of ['in_port=1,actions=output:2', 'in_port=2,actions=output:1']) {
      const r = await lab.ofctl('add-flow', br, f);
      t.equal(r.code, 0, `add-flow ${f}: ${r.stderr}`);
    }
    const p12 = await pingUntil(lab, 1, h2.ip);
    t.equal(p12.code, 0, `h1 -> h2:\n${p12.stdout}${p12.stderr}`);
    const re12 = new RegExp(`in_port\\(${d1}\\),.*eth_type\\(0x0800\\).* actions:${d2}$`, 'm');
    const dump0 = (await lab.appctl('dpctl/dump-flows')).stdout;
    t.match(dump0, re12, `a megaflow in_port(${d1}) -> ${d2}:\n${dump0}`);
    const n0 = flowPackets(dump0, re12);
    const [rx0, tx0] = await portCounters(lab, br, 1);

    const pid = await daemonPid(lab);
    t.ok(pid > 0, 'found the daemon process');
    const before = threadTicks(pid);
    const ip = await iperf(lab, 1, 2);
    const after = threadTicks(pid);
    t.ok(
      ip.bytes > 1_000_000,
      `iperf3 h1 -> h2 moved ${ip.bytes} bytes (${(ip.bps / 1e6).toFixed(0)} Mbit/s)\n${ip.text}`,
    );
    // The forwarding ran on a thread of its own: some other thread than the main one (tid ==
    // pid) used more CPU than the main thread during the transfer.
    const used = (tid: number): number => (after.get(tid) ?? 0) - (before.get(tid) ?? 0);
    const mainTicks = used(pid);
    let busiest = 0;
    for (const tid of after.keys()) if (tid !== pid) busiest = Math.max(busiest, used(tid));
    t.ok(
      busiest > mainTicks,
      `a non-main thread did the forwarding (busiest other thread ${busiest} ticks, main ${mainTicks})`,
    );

    const dump1 = (await lab.appctl('dpctl/dump-flows')).stdout;
    const n1 = flowPackets(dump1, re12);
    t.ok(n1 > n0 + 1000, `the megaflow counted the iperf3 traffic (${n0} -> ${n1}):\n${dump1}`);
    const [rx1, tx1] = await portCounters(lab, br, 1);
    t.ok(rx1 > rx0 + 1000, `port 1 rx grew (${rx0} -> ${rx1})`);
    t.ok(tx1 > tx0 + 100, `port 1 tx grew (${tx0} -> ${tx1})`);
    const stats = (await lab.ofctl('dump-flows', br)).stdout;
    t.match(stats, /n_packets=[1-9]\d*.*in_port=1 /, `rule statistics move:\n${stats}`);
    const show = (await lab.appctl('dpctl/show')).stdout;
    t.match(show, /lookups: hit:[1-9]\d* missed:[1-9]\d* lost:0/, `dpctl/show counts:\n${show}`);
  });

  await t.test('a flow change stops the traffic', async (t) => {
    const del = await lab.ofctl('del-flows', br);
    t.equal(del.code, 0, del.stderr);
    const drop = await lab.ofctl('add-flow', br, 'priority=10,actions=drop');
    t.equal(drop.code, 0, drop.stderr);
    // Revalidation is asynchronous (as in OVS): poll until the old megaflows stop forwarding.
    let stopped = false;
    let last = '';
    for (let i = 0; i < 20 && !stopped; i++) {
      const r = await lab.inHost(1, ['ping', '-c', '2', '-i', '0.2', '-W', '1', h2.ip]);
      last = r.stdout;
      stopped = r.code !== 0 && / 100% packet loss/.test(r.stdout);
    }
    t.ok(stopped, `after del-flows and a drop rule nothing passes:\n${last}`);
    const dump = (await lab.appctl('dpctl/dump-flows')).stdout;
    t.notMatch(dump, new RegExp(`actions:${d2}$`, 'm'), `no megaflow outputs to h2:\n${dump}`);
  });

  await t.test('NORMAL: ping and iperf3', async (t) => {
    const del = await lab.ofctl('del-flows', br);
    t.equal(del.code, 0, del.stderr);
    const add = await lab.ofctl('add-flow', br, 'actions=NORMAL');
    t.equal(add.code, 0, add.stderr);
    for (const h of lab.hosts) await lab.inHost(h.index, ['ip', 'neigh', 'flush', 'all']);
    const p = await pingUntil(lab, 2, h1.ip);
    t.equal(p.code, 0, `h2 -> h1:\n${p.stdout}${p.stderr}`);
    const ip = await iperf(lab, 2, 1);
    t.ok(
      ip.bytes > 1_000_000,
      `iperf3 h2 -> h1 moved ${ip.bytes} bytes (${(ip.bps / 1e6).toFixed(0)} Mbit/s)\n${ip.text}`,
    );
    const dump = (await lab.appctl('dpctl/dump-flows')).stdout;
    const re = new RegExp(
      `in_port\\(${d2}\\),.*eth\\(src=${h2.mac},dst=${h1.mac}\\),eth_type\\(0x0800\\).* actions:${d1}$`,
      'm',
    );
    t.match(dump, re, `NORMAL's megaflow h2 -> h1:\n${dump}`);
    t.ok(flowPackets(dump, re) > 1000, 'and it counted the transfer');
  });

  await t.test('del-port while traffic flows', async (t) => {
    // A flood ping h1 -> h2 runs while h2's port is deleted and added back.
    const flood = lab.inHost(1, ['ping', '-f', '-w', '4', '-W', '1', h2.ip], 30_000);
    await sleep(1000);
    const del = await lab.vsctl('del-port', br, h2.sw);
    t.equal(del.code, 0, `del-port: ${del.stderr}`);
    await sleep(500);
    const readd = await lab.vsctl(
      'add-port',
      br,
      h2.sw,
      '--',
      'set',
      'Interface',
      h2.sw,
      'ofport_request=2',
    );
    t.equal(readd.code, 0, `add-port: ${readd.stderr}`);
    await flood;
    const show = await lab.appctl('dpctl/show');
    t.equal(show.code, 0, 'the daemon still answers');
    t.match(show.stdout, `: ${h2.sw}`, `${h2.sw} is a port again:\n${show.stdout}`);
    const p = await pingUntil(lab, 1, h2.ip, [], 6);
    t.equal(p.code, 0, `h1 -> h2 after the port came back:\n${p.stdout}${p.stderr}`);
    const [rx, tx] = await portCounters(lab, br, 2);
    t.ok(rx > 0 && tx > 0, `the new port 2 counts traffic (rx ${rx}, tx ${tx})`);
  });

  t.notMatch(lab.daemonStderr(), /uncaught|TypeError|RangeError/i, 'daemon stderr clean');
  const logText = daemonLog(lab);
  t.notMatch(
    logText,
    /datapath worker (lost|exited|failed|did not|returned)/,
    'the worker never died',
  );
  t.notMatch(logText, /handed-back frames failed|cannot adopt/, 'no worker errors logged');
});

/** A 60-byte UDP frame from 02:..:0a to 02:..:0b with `seq` in the payload. */
function udpFrame(seq: number): Uint8Array {
  const f = new Uint8Array(60);
  f.set([2, 0, 0, 0, 0, 0x0b, 2, 0, 0, 0, 0, 0x0a, 0x08, 0x00], 0);
  // IPv4 header: 10.0.0.1 -> 10.0.0.2, UDP (checksums left 0: nobody checks them here).
  f.set([0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14);
  f.set([0x3e, 0x80, 0x3e, 0x81, 0, 26, 0, 0], 34);
  f[42] = (seq >> 8) & 0xff;
  f[43] = seq & 0xff;
  return f;
}

for (const ring of [0, 256]) {
  t.test(
    `DpifNetdev with a worker (${ring > 0 ? `rx ring of ${ring} frames` : 'recvmmsg'}): ownership, del-port, fallback, the on/off knob`,
    (t) => workerCase(t, ring),
  );
}

async function workerCase(t: Test, ring: number): Promise<void> {
  if (!requirePeer(t, 'ip')) return;
  if (!requireNative(t)) return;
  const ns = `h5w${ring > 0 ? 'r' : ''}${process.pid % 10000}`;
  const pairs = [
    ['h5a0', 'h5a1'],
    ['h5b0', 'h5b1'],
  ] as const;
  if (!(await vethNamespace(t, ns, pairs))) return;
  const opts = { netns: ns };
  // The datapath's ports (h5a1 in, h5b1 out) and the test's ends (h5a0 sends, h5b0 receives).
  const pa = new AfPacketNetdev('h5a1', { ...opts, rxRing: ring });
  const pb = new AfPacketNetdev('h5b1', { ...opts, rxRing: ring });
  t.equal(pa.usesRing, ring > 0, ring > 0 ? 'the ports receive through a ring' : 'recvmmsg');
  const src = new AfPacketNetdev('h5a0', opts);
  const dst = new AfPacketNetdev('h5b0', opts);
  const dp = new DpifNetdev({ worker: true });
  t.teardown(() => {
    dp.close();
    for (const n of [pa, pb, src, dst]) n.close();
  });
  let upcalls = 0;
  dp.setUpcallHandler({
    upcall: (reqs) =>
      reqs.map((r) => {
        upcalls++;
        const actions: DpAction[] = r.inPort === 1 ? [{ type: 'output', port: 2 }] : [];
        return { actions, mask: new Uint32Array(FLOW_KEY_WORDS) };
      }),
  });
  t.equal(dp.addPort(pa, 1), 1);
  t.equal(dp.addPort(pb, 2), 2);
  dp.start();
  const w = dp.worker;
  t.ok(w?.alive, 'a worker thread runs');
  // The main thread reads the ports until the worker's loop runs, then hands them over.
  const owned = async (x: typeof w): Promise<number[]> => {
    for (let i = 0; i < 500 && (x?.ownedPorts().length ?? 0) < 2; i++) await sleep(20);
    return x?.ownedPorts().sort() ?? [];
  };
  t.same(await owned(w), [1, 2], 'it owns both AF_PACKET ports');

  const rx = newFrameBatch(32);
  /** Frames that reached h5b0 more than once (a ring read twice after a hand-over would). */
  let duplicates = 0;
  /**
   * Sends `n` frames into port 1 and counts the distinct ones that reach h5b0 within a few
   * seconds (duplicates are counted in `duplicates`).
   */
  const blast = async (n: number, first: number): Promise<number> => {
    const seen = new Set<number>();
    const b = newFrameBatch(1);
    for (let i = 0; i < n; i++) {
      b.bufs[0] = udpFrame(first + i);
      b.offs[0] = 0;
      b.lens[0] = 60;
      b.count = 1;
      src.sendBatch(b);
      if (i % 16 === 15) await sleep(1);
    }
    let got = 0;
    const deadline = Date.now() + 10_000;
    while (got < n && Date.now() < deadline) {
      const k = dst.recvBatch(rx, 32);
      for (let i = 0; i < k; i++) {
        const b = rx.bufs[i]!;
        const o = rx.offs[i]!;
        if (rx.lens[i]! < 60 || b[o + 23] !== 17) continue;
        const seq = (b[o + 42]! << 8) | b[o + 43]!;
        if (seen.has(seq)) duplicates++;
        else {
          seen.add(seq);
          got++;
        }
      }
      if (k === 0) await sleep(10);
    }
    return got;
  };

  const got1 = await blast(200, 0);
  t.ok(got1 >= 190, `frames pass through the worker (${got1}/200)`);
  // The frames that missed before the megaflow reached the worker came back to the main
  // thread; a handful at most.
  t.ok(upcalls >= 1 && upcalls < 50, `few frames were upcalled (${upcalls})`);
  const flows = dp.flows();
  const f = flows.find((x) => x.key[W.IN_PORT] === 1);
  t.ok(
    f !== undefined && f.packets >= got1 - 1,
    `the flow counted the worker's hits (${f?.packets})`,
  );
  t.ok(dp.stats().emcHits + dp.stats().megaflowHits >= got1 - 1, 'the lookups are counted');
  await sleep(250); // one statistics interval
  t.ok(pa.stats().rxPackets >= got1, `port 1 rx counted by the worker (${pa.stats().rxPackets})`);
  t.ok(pb.stats().txPackets >= got1 - 1, `port 2 tx counted (${pb.stats().txPackets})`);

  // del-port while frames flow: the worker lets go of the socket before delPort returns.
  const sending = blast(300, 1000);
  await sleep(5);
  dp.delPort(2);
  t.same(w?.ownedPorts(), [1], 'port 2 released by the worker');
  await sending;
  t.ok(w?.alive, 'the worker survived del-port');
  t.equal(dp.addPort(pb, 2), 2, 'port 2 added back');
  t.same(w?.ownedPorts().sort(), [1, 2], 'and adopted again');

  // The worker dies: the datapath takes its ports back and keeps forwarding.
  await w!.terminate();
  for (let i = 0; i < 100 && dp.worker !== undefined; i++) await sleep(20);
  t.equal(dp.worker, undefined, 'the datapath noticed the worker is gone');
  const got2 = await blast(200, 2000);
  t.ok(got2 >= 190, `frames still pass, read on the main thread (${got2}/200)`);

  // The knob: off, then on again starts a new worker that takes the ports over.
  dp.setWorkerEnabled(false);
  dp.setWorkerEnabled(true);
  const w2 = dp.worker;
  t.ok(w2 !== undefined && w2 !== w && w2.alive, 'a new worker runs');
  t.same(await owned(w2), [1, 2], 'it owns both ports');
  const got3 = await blast(200, 3000);
  t.ok(got3 >= 190, `frames pass through the new worker (${got3}/200)`);
  const f3 = dp.flows().find((x) => x.key[W.IN_PORT] === 1);
  t.ok(
    f3 !== undefined && f3.packets >= got1 + got3 - 2,
    `the flow kept counting (${f3?.packets})`,
  );
  t.equal(duplicates, 0, 'no frame was delivered twice across the hand-overs');
}

t.test(
  'the worker drops misses, counted as lost, once 4 MiB wait for a stalled main thread',
  async (t) => {
    if (!requirePeer(t, 'ip')) return;
    if (!requireNative(t)) return;
    const ns = `h5wb${process.pid % 10000}`;
    const ip = (...a: string[]): Promise<{ code: number | null; stderr: string }> =>
      runTool('ip', a, { timeoutMs: 20_000 });
    await ip('netns', 'del', ns);
    t.teardown(async () => {
      await ip('netns', 'del', ns);
    });
    for (const cmd of [
      ['netns', 'add', ns],
      ['-n', ns, 'link', 'add', 'h5c0', 'type', 'veth', 'peer', 'name', 'h5c1'],
      ['-n', ns, 'link', 'set', 'h5c0', 'up'],
      ['-n', ns, 'link', 'set', 'h5c1', 'up'],
    ]) {
      const r = await ip(...cmd);
      if (r.code !== 0) {
        t.fail(`ip ${cmd.join(' ')}: ${r.stderr}`);
        return;
      }
    }
    const port = new AfPacketNetdev('h5c1', { netns: ns, rcvbuf: 64 << 20 });
    const dp = new DpifNetdev({ worker: true });
    t.teardown(() => {
      dp.close();
      port.close();
    });
    let upcalls = 0;
    // Exact megaflows that drop: every new 5-tuple is a miss.
    dp.setUpcallHandler({
      upcall: (reqs) =>
        reqs.map(() => {
          upcalls++;
          return { actions: [], mask: new Uint32Array(FLOW_KEY_WORDS).fill(0xffffffff) };
        }),
    });
    dp.addPort(port, 1);
    dp.start();
    for (let i = 0; i < 500 && (dp.worker?.ownedPorts().length ?? 0) < 1; i++) await sleep(20);
    t.same(dp.worker?.ownedPorts(), [1], 'the worker owns the port');

    // 200,000 frames of distinct UDP flows (12 MB) sent from another process while this thread
    // is blocked: the worker may hand back at most 4 MiB of them.
    const n = 200_000;
    const script = [
      'import socket,struct',
      's=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)',
      "s.bind(('h5c0',0))",
      `for i in range(${n}):`,
      " f=bytes.fromhex('02000000000b02000000000a0800')+bytes([0x45,0,0,46,0,0,0,0,64,17,0,0,10,0,(i>>16)&255,1,10,0,0,2])+struct.pack('!HHHH',i&0xffff,7,26,0)+bytes(18)",
      ' s.send(f)',
    ].join('\n');
    const sender = runTool('ip', ['netns', 'exec', ns, '/usr/bin/python3', '-c', script], {
      timeoutMs: 60_000,
    });
    // Block this thread (as a long GC or heap trim would) while the sender runs.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 4000);
    const sent = await sender;
    t.equal(sent.code, 0, `the sender ran: ${String(sent.stderr)}`);
    for (let i = 0; i < 100 && dp.stats().lost === 0; i++) await sleep(50);
    const lost = dp.stats().lost;
    await sleep(500);
    dp.sync();
    t.ok(lost > 0, `misses past the bound were dropped and counted as lost (${lost})`);
    t.ok(upcalls < n, `not every frame reached the main thread (${upcalls} upcalls of ${n})`);
    t.ok(
      upcalls <= (4 << 20) / 60 + 2000,
      `about 4 MiB of 60-byte frames reached the main thread (${upcalls} upcalls)`,
    );
    t.ok(upcalls > 1000, `the frames within the bound were run (${upcalls} upcalls)`);
  },
);

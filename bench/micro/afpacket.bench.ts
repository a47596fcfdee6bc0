/**
 * Micro-benchmark: 64-byte frames per second relayed between two veths by a tiny JS loop over
 * the AF_PACKET addon. Not part of `npm test`; needs root, iproute2, ethtool and the built addon.
 *
 * Run (generator pinned to CPU 0 by the script itself, relay pinned to CPU 1 by taskset):
 *   taskset -c 1 node --import @tapjs/typescript/import bench/micro/afpacket.bench.ts \
 *     [--seconds 6] [--rounds 3] [--variants netdev,ring,raw] [--drain 200000]
 *     [--ring-frames 65536] [--latency 500]
 *
 * Topology, in one private namespace `tsvsap<pid>-0` (deleted at exit):
 *   generator ─ v0a ⇄ v0b ─ relay ─ v1a ⇄ v1b (sink)
 * The generator is a child process sending 60-byte UDP frames (64 on the wire) in sendmmsg
 * batches of 64 through the same addon, as fast as it can; the sink is the kernel (the
 * destination MAC is foreign, so v1b drops each frame right after counting it). Offloads are
 * off on every end. Per variant and round:
 *
 * - steady: generator at full rate; over a window after a warm-up, delivered Mpps (v1b
 *   rx_packets), offered Mpps (v0b rx_packets) and the relay process's CPU µs per delivered
 *   frame (user + system from process.cpuUsage; softirq work done in ksoftirqd is not in it);
 * - idle (with --latency N, default 500): one-way latency of N probes, one every 2 ms, from a
 *   child process's socket on v0a through the relay to the same child's socket on v1b
 *   (timestamps from CLOCK_MONOTONIC; includes both processes' wake-ups);
 * - drain (with --drain N): the relay is idle while the generator queues N frames into a
 *   512 MiB socket buffer, then the relay empties it with full batches; Mpps of that.
 *
 * Variants: `netdev` relays with AfPacketNetdev.recvBatch/sendBatch over recvmmsg (what the
 * datapath uses by default); `ring` is the same netdev with a TPACKET_V2 rx ring (`rx_ring`,
 * 2 KiB frames; in drain mode the ring, not the socket buffer, holds the backlog, so use
 * --drain below --ring-frames); `raw` calls PacketSocket.recv/send directly, showing the
 * netdev layer's own cost.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { newFrameBatch } from '../../datapath/netdev.js';
import { AfPacketNetdev } from '../../datapath/netdev-afpacket.js';
import { loadNative } from '../../datapath/native.js';
import type { PacketSocket } from '../../datapath/native.js';
import { makeVethLab } from '../../tests/system/afpacket-netns.js';
import type { VethLab } from '../../tests/system/afpacket-netns.js';

const run = promisify(execFile);
const BATCH = 32;

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : dflt;
}

/** A 60-byte UDP/IPv4 frame to a foreign MAC (checksums left zero: nobody verifies them). */
function udpFrame(): Uint8Array {
  const f = new Uint8Array(60);
  f.set([0x02, 0, 0, 0, 0xee, 0xee, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
  f.set([0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2], 14);
  f.set([0x04, 0x00, 0, 9, 0, 26, 0, 0], 34);
  return f;
}

/** Child process: blasts frames on `dev` until killed, or `count` frames then exits. */
function generator(netns: string, dev: string, count: number): void {
  const nat = loadNative();
  const s = new nat.PacketSocket(dev, {
    netns,
    promisc: false,
    auxdata: false,
    qdiscBypass: true,
    sndbuf: 4 << 20,
  });
  const n = 64;
  const f = udpFrame();
  const buf = new Uint8Array(n * 64);
  const offs = new Int32Array(n);
  const lens = new Int32Array(n).fill(60);
  for (let i = 0; i < n; i++) {
    buf.set(f, i * 64);
    offs[i] = i * 64;
  }
  let sent = 0;
  process.stdout.write('ready\n');
  const tick = (): void => {
    for (let k = 0; k < 200; k++) {
      const want = count > 0 ? Math.min(n, count - sent) : n;
      if (want <= 0) {
        s.close();
        process.exit(0);
      }
      sent += s.send(buf, offs, lens, want);
    }
    setImmediate(tick);
  };
  tick();
}

async function ifStat(lab: VethLab, dev: string, name: string): Promise<number> {
  const { stdout } = await run('ip', [
    'netns',
    'exec',
    lab.ns,
    'cat',
    `/sys/class/net/${dev}/statistics/${name}`,
  ]);
  return Number(stdout.trim());
}

function startGenerator(lab: VethLab, count = 0): ChildProcess {
  const self = fileURLToPath(import.meta.url);
  const argv = [
    ...process.execArgv,
    self,
    '--gen',
    `/var/run/netns/${lab.ns}`,
    lab.pairs[0]![0],
    String(count),
  ];
  return spawn('taskset', ['-c', '0', process.execPath, ...argv], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

/** Resolves when the generator has its socket open and starts sending. */
function generatorReady(gen: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    gen.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    gen.on('exit', (code) => reject(new Error(`generator exited (${code}) before starting`)));
  });
}

interface Relay {
  start(): void;
  stop(): void;
  /** Synchronously relays until the input is empty; returns frames relayed. */
  drainNow(): number;
  close(): void;
}

function netdevRelay(lab: VethLab, rcvbuf: number, rxRing = 0): Relay {
  const inp = new AfPacketNetdev(lab.pairs[0]![1], { netns: lab.ns, rcvbuf, rxRing });
  const out = new AfPacketNetdev(lab.pairs[1]![0], { netns: lab.ns, qdiscBypass: true });
  const rb = newFrameBatch(BATCH);
  let running = false;
  const pump = (): void => {
    if (!running) return;
    for (let budget = 0; budget < 64; budget++) {
      if (inp.recvBatch(rb, BATCH) === 0) return; // re-armed: onReadable fires again
      out.sendBatch(rb);
    }
    setImmediate(pump);
  };
  return {
    start() {
      running = true;
      inp.onReadable(pump);
    },
    stop() {
      running = false;
      inp.onReadable(undefined);
    },
    drainNow() {
      let total = 0;
      let empty = 0;
      while (empty < 3) {
        const n = inp.recvBatch(rb, BATCH);
        if (n === 0) empty++;
        else total += out.sendBatch(rb);
      }
      return total;
    },
    close() {
      inp.close();
      out.close();
    },
  };
}

function rawRelay(lab: VethLab, rcvbuf: number): Relay {
  const nat = loadNative();
  const netns = `/var/run/netns/${lab.ns}`;
  const inp: PacketSocket = new nat.PacketSocket(lab.pairs[0]![1], { netns, rcvbuf });
  const out: PacketSocket = new nat.PacketSocket(lab.pairs[1]![0], { netns, qdiscBypass: true });
  const slot = 2048;
  const buf = new Uint8Array(BATCH * slot);
  const offs = new Int32Array(BATCH);
  const lens = new Int32Array(BATCH);
  const meta = new Int32Array(BATCH);
  const once = (): number => {
    const n = inp.recv(buf, slot, 4, BATCH, offs, lens, meta);
    if (n > 0) out.send(buf, offs, lens, n);
    return n;
  };
  return {
    start() {
      inp.startPoll(() => {
        for (let budget = 0; budget < 64 && once() > 0; budget++);
      });
    },
    stop() {
      inp.stopPoll();
    },
    drainNow() {
      let total = 0;
      let empty = 0;
      while (empty < 3) {
        const n = once();
        if (n === 0) empty++;
        total += n;
      }
      return total;
    },
    close() {
      inp.close();
      out.close();
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function steady(lab: VethLab, relay: Relay, seconds: number): Promise<string> {
  const [, y] = lab.pairs[0]!;
  const [, sink] = lab.pairs[1]!;
  relay.start();
  const gen = startGenerator(lab);
  try {
    await generatorReady(gen);
    await sleep(1000);
    const d0 = await ifStat(lab, sink, 'rx_packets');
    const o0 = await ifStat(lab, y, 'rx_packets');
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await sleep(Math.max(1, seconds - 1.5) * 1000);
    const t1 = process.hrtime.bigint();
    const c1 = process.cpuUsage(c0);
    const d1 = await ifStat(lab, sink, 'rx_packets');
    const o1 = await ifStat(lab, y, 'rx_packets');
    const secs = Number(t1 - t0) / 1e9;
    const delivered = d1 - d0;
    const cpuUs = c1.user + c1.system;
    return (
      `delivered ${(delivered / secs / 1e6).toFixed(3)} Mpps, ` +
      `offered ${((o1 - o0) / secs / 1e6).toFixed(3)} Mpps, ` +
      `relay CPU ${(cpuUs / delivered).toFixed(2)} µs/pkt ` +
      `(${((cpuUs / 1e6 / secs) * 100).toFixed(0)}% of a core; user ${((c1.user / cpuUs) * 100).toFixed(0)}%)`
    );
  } finally {
    gen.kill('SIGKILL');
    relay.stop();
    await sleep(200);
  }
}

async function drain(lab: VethLab, relay: Relay, frames: number): Promise<string> {
  relay.drainNow(); // leftovers of the steady run
  const gen = startGenerator(lab, frames);
  gen.stdout!.resume();
  await new Promise((r) => gen.on('exit', r));
  await sleep(200);
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const n = relay.drainNow();
  const t1 = process.hrtime.bigint();
  const c1 = process.cpuUsage(c0);
  const secs = Number(t1 - t0) / 1e9;
  return (
    `drained ${n} frames: ${(n / secs / 1e6).toFixed(3)} Mpps, ` +
    `relay CPU ${((c1.user + c1.system) / n).toFixed(2)} µs/pkt`
  );
}

async function main(): Promise<void> {
  const seconds = Number(arg('seconds', '6'));
  const rounds = Number(arg('rounds', '3'));
  const variants = arg('variants', 'netdev,ring,raw').split(',');
  const ringFrames = Number(arg('ring-frames', '65536'));
  const drainFrames = Number(arg('drain', '200000'));
  const probes = Number(arg('latency', '500'));
  const lab = makeVethLab({ pairs: 2, offloadsOff: true });
  const load = (await run('cat', ['/proc/loadavg'])).stdout.trim();
  console.log(`# afpacket relay, 64-byte frames, batch ${BATCH}; loadavg ${load}`);
  try {
    for (let r = 0; r < rounds; r++) {
      for (const v of variants) {
        const relay =
          v === 'raw'
            ? rawRelay(lab, 512 << 20)
            : netdevRelay(lab, 512 << 20, v === 'ring' ? ringFrames : 0);
        try {
          if (probes > 0) {
            console.log(`round ${r} ${v.padEnd(6)} idle:   ${await latency(lab, relay, probes)}`);
          }
          console.log(`round ${r} ${v.padEnd(6)} steady: ${await steady(lab, relay, seconds)}`);
          if (drainFrames > 0) {
            console.log(
              `round ${r} ${v.padEnd(6)} drain:  ${await drain(lab, relay, drainFrames)}`,
            );
          }
        } finally {
          relay.close();
        }
      }
    }
  } finally {
    lab.destroy();
  }
}

/**
 * Child process: sends `count` probes on `src`, one every 2 ms, each carrying its send time
 * (CLOCK_MONOTONIC, shared by all processes), and receives them on `dst` through a poll; prints
 * one JSON line of one-way latencies in µs (p50, p90, p99, max) and the number lost.
 */
function prober(netns: string, src: string, dst: string, count: number): void {
  const nat = loadNative();
  const tx = new nat.PacketSocket(src, { netns, auxdata: false });
  const rx = new nat.PacketSocket(dst, { netns });
  const f = udpFrame();
  const buf = new Uint8Array(64);
  buf.set(f);
  const dv = new DataView(buf.buffer);
  const offs = new Int32Array(1);
  const lens = new Int32Array(1).fill(60);
  const rbuf = new Uint8Array(32 * 2048);
  const ro = new Int32Array(32);
  const rl = new Int32Array(32);
  const rm = new Int32Array(32);
  const lat: number[] = [];
  rx.startPoll(() => {
    const now = process.hrtime.bigint();
    const n = rx.recv(rbuf, 2048, 4, 32, ro, rl, rm);
    for (let i = 0; i < n; i++) {
      const v = new DataView(rbuf.buffer, ro[i], rl[i]);
      if (v.getUint32(42) !== 0x7473767a) continue; // 'tsvz'
      lat.push(Number(now - v.getBigUint64(46)) / 1000);
    }
  });
  let sent = 0;
  const timer = setInterval(() => {
    if (sent === count) {
      clearInterval(timer);
      setTimeout(() => {
        lat.sort((a, b) => a - b);
        const q = (p: number): number =>
          lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? NaN;
        process.stdout.write(
          JSON.stringify({
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            max: q(1),
            lost: count - lat.length,
          }) + '\n',
        );
        tx.close();
        rx.close();
        process.exit(0);
      }, 200);
      return;
    }
    dv.setUint32(42, 0x7473767a);
    dv.setBigUint64(46, process.hrtime.bigint());
    tx.send(buf, offs, lens, 1);
    sent++;
  }, 2);
}

/** Idle one-way latency generator → relay → sink, measured by a {@link prober} child. */
async function latency(lab: VethLab, relay: Relay, count: number): Promise<string> {
  relay.start();
  try {
    const self = fileURLToPath(import.meta.url);
    const { stdout } = await run(
      'taskset',
      [
        '-c',
        '0',
        process.execPath,
        ...process.execArgv,
        self,
        '--probe',
        `/var/run/netns/${lab.ns}`,
        lab.pairs[0]![0],
        lab.pairs[1]![1],
        String(count),
      ],
      { timeout: 120_000 },
    );
    const r = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, number>;
    const us = (v: number | undefined): string => (v ?? NaN).toFixed(0);
    return `one-way µs p50 ${us(r.p50)}, p90 ${us(r.p90)}, p99 ${us(r.p99)}, max ${us(r.max)}; lost ${r.lost}`;
  } finally {
    relay.stop();
  }
}

if (process.argv.includes('--gen')) {
  const i = process.argv.indexOf('--gen');
  generator(process.argv[i + 1]!, process.argv[i + 2]!, Number(process.argv[i + 3] ?? 0));
} else if (process.argv.includes('--probe')) {
  const i = process.argv.indexOf('--probe');
  const a = process.argv;
  prober(a[i + 1]!, a[i + 2]!, a[i + 3]!, Number(a[i + 4] ?? 500));
} else {
  await main();
}

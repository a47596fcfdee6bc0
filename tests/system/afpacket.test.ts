/**
 * System tests of the AF_PACKET netdev (datapath/netdev-afpacket.ts over the native addon):
 * the shared netdev conformance suite over a veth pair, then what only a kernel interface
 * shows — VLAN tags the kernel strips, jumbo frames, our own transmissions, full batches,
 * checksum completion, link state. Every test runs in its own network namespace
 * (`tsvsap<pid>-<n>`), which it deletes even on failure.
 *
 * Needs root, iproute2 and the built addon (`npx node-gyp rebuild --directory=native`); under
 * CI=true a missing one is a failure, elsewhere the file is skipped with the reason.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import t from 'tap';
import type { Test } from 'tap';
import { allCounters } from '../../lib/counters.js';
import { verifyL4Checksum } from '../../lib/packet/checksum.js';
import { newFrameBatch } from '../../datapath/netdev.js';
import type { FrameBatch, Netdev } from '../../datapath/netdev.js';
import {
  AfPacketNetdev,
  afpacketNetdevClass,
  completeChecksum,
  defaultRxRing,
  defaultTxRing,
  parseAfPacketOptions,
  slotSizeFor,
  systemNetdevClass,
} from '../../datapath/netdev-afpacket.js';
import { loadNative, NativeAddonError, nativeAddonCandidates } from '../../datapath/native.js';
import { inCI, missingPeer } from '../helpers/peers.js';
import { netdevConformance } from '../unit/datapath/netdev-conformance.js';
import type { VethLab } from './afpacket-netns.js';
import { makeVethLab } from './afpacket-netns.js';

/** Why these tests cannot run here, or undefined. */
function unavailable(): string | undefined {
  const ip = missingPeer('ip');
  if (ip !== undefined) return `missing peer: ${ip}`;
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, AF_PACKET)';
  try {
    loadNative();
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

const settle = (ms = 2): Promise<void> => new Promise((r) => setTimeout(r, ms));

function counterTotal(name: string): number {
  return allCounters().find((c) => c.name === name)?.total ?? 0;
}

/** Opens afpacket netdevs on both ends of pair `i` of `lab`. */
function openEnds(lab: VethLab, i = 0, opts: Record<string, string> = {}): [Netdev, Netdev] {
  const [x, y] = lab.pairs[i]!;
  const a = afpacketNetdevClass.open(x, { netns: lab.ns, ...opts });
  try {
    return [a, afpacketNetdevClass.open(y, { netns: lab.ns, ...opts })];
  } catch (e) {
    a.close();
    throw e;
  }
}

/** A test body with a fresh one-pair lab, deleted afterwards whatever happens. */
function withLab(
  fn: (t: Test, lab: VethLab) => Promise<void>,
  labOpts: Parameters<typeof makeVethLab>[0] = {},
): (t: Test) => Promise<void> {
  return async (t) => {
    const lab = makeVethLab(labOpts);
    t.teardown(() => lab.destroy());
    await fn(t, lab);
  };
}

/** An Ethernet frame: dst 02:..:02, src 02:..:01, then `typeAndRest`, padded to `len`. */
function ether(len: number, typeAndRest: number[], seed = 0): Uint8Array {
  const f = new Uint8Array(len);
  f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, ...typeAndRest]);
  for (let i = 12 + typeAndRest.length; i < len; i++) f[i] = (i * 13 + seed) & 0xff;
  return f;
}

function batchOf(frames: Uint8Array[]): FrameBatch {
  const b = newFrameBatch(Math.max(32, frames.length));
  frames.forEach((f, i) => {
    b.bufs[i] = f;
    b.offs[i] = 0;
    b.lens[i] = f.length;
  });
  b.count = frames.length;
  return b;
}

/** Receives until `want` frames came or ~1 s passed; returns copies. */
async function recvCopies(d: Netdev, want: number, max = 32): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  const b = newFrameBatch(max);
  for (let tries = 0; tries < 200 && got.length < want; tries++) {
    const n = d.recvBatch(b, max);
    for (let i = 0; i < n; i++) got.push(b.bufs[i]!.slice(b.offs[i], b.offs[i]! + b.lens[i]!));
    if (n === 0) await settle(5);
  }
  return got;
}

/** Receive paths under test: recvmmsg into a JS buffer, and the TPACKET_V2 ring. */
const MODES = [
  { name: 'recvmmsg', opts: {} as Record<string, string> },
  { name: 'ring', opts: { rx_ring: '256' } as Record<string, string> },
];

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const why = unavailable();
if (why !== undefined) {
  t.test('afpacket system tests', async (t) => {
    if (inCI()) t.fail(`cannot run: ${why}`);
    else t.plan(0, `skip: ${why}`);
  });
} else {
  for (const mode of MODES)
    t.test(`conformance [${mode.name}]`, async (t) =>
      netdevConformance(t, {
        type: 'afpacket',
        openPair() {
          const lab = makeVethLab();
          try {
            const [a, b] = openEnds(lab, 0, mode.opts);
            return { a, b, cleanup: () => lab.destroy() };
          } catch (e) {
            lab.destroy();
            throw e;
          }
        },
        settle: () => settle(2),
      }),
    );

  t.test(
    'attributes match what the kernel reports',
    withLab(async (t, lab) => {
      const [a, b] = openEnds(lab);
      const [x] = lab.pairs[0]!;
      const info = JSON.parse(lab.ip('-j', 'link', 'show', 'dev', x)) as {
        ifindex: number;
        address: string;
        mtu: number;
      }[];
      t.equal(a.ifindex(), info[0]!.ifindex, 'ifindex');
      t.equal(
        [...a.etherAddr()].map((v) => v.toString(16).padStart(2, '0')).join(':'),
        info[0]!.address,
        'MAC',
      );
      t.equal(a.mtu(), info[0]!.mtu, 'MTU');
      t.equal(a.type, 'afpacket');
      t.ok(a.carrier(), 'carrier with both ends up');
      // The peer going down takes our carrier away; our admin state stays up.
      const ad = a as AfPacketNetdev;
      lab.ip('link', 'set', lab.pairs[0]![1], 'down');
      t.notOk(a.carrier(), 'no carrier when the peer is down');
      t.ok(ad.isUp(), 'still administratively up');
      lab.ip('link', 'set', lab.pairs[0]![1], 'up');
      t.ok(a.carrier(), 'carrier back');
      ad.setUp(false);
      t.notOk(ad.isUp());
      t.notOk(a.carrier());
      t.match(lab.ip('link', 'show', 'dev', x), /state DOWN/);
      ad.setUp(true);
      t.ok(ad.isUp());
      // MTU set through the netdev is the kernel's.
      a.setMtu(1400);
      t.equal(JSON.parse(lab.ip('-j', 'link', 'show', 'dev', x))[0].mtu, 1400);
      t.throws(() => a.setMtu(70000), RangeError);
      // Opening a name twice, or an interface that does not exist, throws.
      t.throws(() => afpacketNetdevClass.open(x, { netns: lab.ns }), /already open/);
      t.throws(() => afpacketNetdevClass.open('nosuchdev0', { netns: lab.ns }), { code: 'ENODEV' });
      t.throws(() => afpacketNetdevClass.open(x, { netns: `${lab.ns}-missing` }), {
        code: 'ENOENT',
      });
      a.close();
      b.close();
      // Closed names can be opened again, also as type `system`.
      const s = systemNetdevClass.open(x, { netns: lab.ns });
      t.equal(s.type, 'system');
      s.close();
    }),
  );

  for (const mode of MODES)
    t.test(
      `VLAN-tagged frames keep their tags (restored from PACKET_AUXDATA) [${mode.name}]`,
      withLab(async (t, lab) => {
        const [a, b] = openEnds(lab, 0, mode.opts);
        const single = ether(64, [0x81, 0x00, 0x60, 0x64, 0x08, 0x00, 0x45], 1); // PCP 3, VID 100
        const qinq = ether(
          80,
          [0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x86, 0xdd, 0x60],
          2,
        ); // S-VID 10, C-VID 20
        const vid0 = ether(64, [0x81, 0x00, 0xe0, 0x00, 0x08, 0x06], 3); // priority tag, VID 0
        const untagged = ether(60, [0x08, 0x00, 0x45], 4);
        const before = counterTotal('afpacket_rx_vlan_restored');

        // Control: a socket without auxdata shows that the kernel did strip the tag.
        const nat = loadNative();
        const raw = new nat.PacketSocket(lab.pairs[0]![1], {
          netns: `/var/run/netns/${lab.ns}`,
          auxdata: false,
        });
        t.teardown(() => raw.close());

        t.equal(a.sendBatch(batchOf([single, qinq, vid0, untagged])), 4);
        const got = await recvCopies(b, 4);
        t.equal(got.length, 4);
        t.equal(hex(got[0]!), hex(single), '802.1Q tag restored with PCP and VID');
        t.equal(hex(got[1]!), hex(qinq), '802.1ad outer tag restored with its TPID');
        t.equal(hex(got[2]!), hex(vid0), 'priority tag (VID 0) restored');
        t.equal(hex(got[3]!), hex(untagged), 'untagged frame untouched');
        t.equal(counterTotal('afpacket_rx_vlan_restored') - before, 3, 'three restores');

        const buf = new Uint8Array(4 * 2048);
        const offs = new Int32Array(4);
        const lens = new Int32Array(4);
        const meta = new Int32Array(4);
        let n = 0;
        for (let i = 0; i < 100 && n === 0; i++) {
          n = raw.recv(buf, 2048, 4, 4, offs, lens, meta);
          if (n === 0) await settle(5);
        }
        t.ok(n >= 1, 'the control socket got the frames');
        t.equal(lens[0], 60, 'without auxdata the first frame lost its 4-byte tag');
        t.equal(hex(buf.subarray(offs[0], offs[0]! + 14)), hex(single.subarray(0, 12)) + '0800');
        a.close();
        b.close();
      }),
    );

  t.test(
    'MTU 9000 frames pass; slots grow when the MTU is raised behind our back',
    withLab(async (t, lab) => {
      const [a, b] = openEnds(lab);
      a.setMtu(9000);
      b.setMtu(9000);
      t.equal(a.mtu(), 9000);
      const jumbo = ether(9014, [0x08, 0x00, 0x45], 5);
      const jumboTagged = ether(9018, [0x81, 0x00, 0x00, 0x07, 0x08, 0x00, 0x45], 6);
      t.equal(a.sendBatch(batchOf([jumbo, jumboTagged])), 2);
      let got = await recvCopies(b, 2);
      t.equal(got.length, 2);
      t.equal(hex(got[0]!), hex(jumbo), '9014-byte frame intact');
      t.equal(hex(got[1]!), hex(jumboTagged), '9018-byte tagged frame intact');
      t.equal(a.sendBatch(batchOf([ether(9015, [0x08, 0x00])])), 0, 'MTU + 15 untagged refused');
      t.equal(a.stats().txDropped, 1);

      // A netdev opened at MTU 1500 whose interface then gets MTU 9000 from someone else:
      // the first jumbo frame is truncated, dropped and counted; the slots grow.
      b.close();
      lab.ip('link', 'set', lab.pairs[0]![1], 'mtu', '1500');
      const c = afpacketNetdevClass.open(lab.pairs[0]![1], { netns: lab.ns }) as AfPacketNetdev;
      t.equal(c.rxSlotSize, slotSizeFor(1500));
      lab.ip('link', 'set', lab.pairs[0]![1], 'mtu', '9000');
      t.equal(a.sendBatch(batchOf([jumbo])), 1);
      got = await recvCopies(c, 1);
      t.equal(got.length, 0, 'truncated frame not delivered');
      t.equal(c.stats().rxDropped, 1, 'and counted');
      t.equal(c.rxSlotSize, slotSizeFor(9000), 'slots grew');
      t.equal(a.sendBatch(batchOf([jumbo])), 1);
      got = await recvCopies(c, 1);
      t.equal(got.length, 1);
      t.equal(hex(got[0]!), hex(jumbo), 'next jumbo frame intact');
      a.close();
      c.close();
    }),
  );

  for (const mode of MODES)
    t.test(
      `our own transmissions are not received back [${mode.name}]`,
      withLab(async (t, lab) => {
        const [a, b] = openEnds(lab, 0, mode.opts);
        const [x] = lab.pairs[0]!;
        const nat = loadNative();
        const nsPath = `/var/run/netns/${lab.ns}`;
        // Another socket on the same interface, as a second writer (TX-only helper, capture...).
        const other = new nat.PacketSocket(x, { netns: nsPath });
        // Control: a socket without PACKET_IGNORE_OUTGOING does see that writer's frames.
        const seer = new nat.PacketSocket(x, { netns: nsPath, ignoreOutgoing: false });
        t.teardown(() => {
          other.close();
          seer.close();
        });
        const f = ether(60, [0x88, 0xb5, 1]);
        t.equal(a.sendBatch(batchOf([f, f, f])), 3);
        const one = newFrameBatch(1);
        one.bufs[0] = f;
        one.count = 1;
        one.lens[0] = f.length;
        t.equal(other.send(f, one.offs, one.lens, 1), 1);
        t.equal((await recvCopies(b, 4)).length, 4, 'the peer got all four');
        await settle(20);
        t.equal(a.recvBatch(newFrameBatch(32), 32), 0, 'a saw none of them');
        t.equal(a.stats().rxPackets, 0);
        const buf = new Uint8Array(8 * 2048);
        const offs = new Int32Array(8);
        const lens = new Int32Array(8);
        const meta = new Int32Array(8);
        const n = seer.recv(buf, 2048, 4, 8, offs, lens, meta);
        t.ok(n >= 1, `a socket without IGNORE_OUTGOING saw ${n} outgoing frames`);
        t.equal(meta[0]! & nat.constants.META_PKTTYPE_MASK, nat.constants.PACKET_OUTGOING);
        a.close();
        b.close();
      }),
    );

  for (const mode of MODES)
    t.test(
      `batches of 32 go out in one sendBatch and come back in one recvBatch [${mode.name}]`,
      withLab(async (t, lab) => {
        const [a, b] = openEnds(lab, 0, mode.opts);
        const big = new Uint8Array(32 * 128);
        const sb = newFrameBatch(32);
        const frames: Uint8Array[] = [];
        for (let i = 0; i < 32; i++) {
          const f = ether(60 + i, [0x88, 0xb5, i], i);
          frames.push(f);
          big.set(f, i * 128);
          sb.bufs[i] = big;
          sb.offs[i] = i * 128;
          sb.lens[i] = f.length;
        }
        sb.count = 32;
        let fired = 0;
        const readable = new Promise<void>((r) =>
          b.onReadable(() => {
            fired++;
            r();
          }),
        );
        t.equal(a.sendBatch(sb), 32);
        t.equal(
          a.stats().txBytes,
          frames.reduce((s, f) => s + f.length, 0),
        );
        await readable;
        await settle(10);
        const rb = newFrameBatch(32);
        t.equal(b.recvBatch(rb, 32), 32, 'one recvBatch returns all 32');
        for (let i = 0; i < 32; i++) {
          t.equal(
            hex(rb.bufs[i]!.subarray(rb.offs[i], rb.offs[i]! + rb.lens[i]!)),
            hex(frames[i]!),
          );
        }
        t.equal(b.recvBatch(rb, 32), 0);
        t.equal(fired, 1, 'one readable callback for the burst');
        // Frames from several buffers in one batch (the array path of the addon).
        const mixed = batchOf(frames.slice(0, 8));
        const second = new Promise<void>((r) => b.onReadable(r));
        t.equal(a.sendBatch(mixed), 8);
        await second;
        const got = await recvCopies(b, 8);
        t.same(got.map(hex), frames.slice(0, 8).map(hex));
        b.onReadable(undefined);
        a.close();
        const view = rb.bufs[0]!;
        t.ok(view.byteLength > 0);
        b.close();
        if (mode.name === 'ring') t.equal(view.byteLength, 0, 'close detached the ring');
      }),
    );

  for (const mode of MODES)
    t.test(
      `a consumer that does not drain does not get repeated callbacks [${mode.name}]`,
      withLab(async (t, lab) => {
        const [a, b] = openEnds(lab, 0, mode.opts);
        let fired = 0;
        b.onReadable(() => fired++);
        a.sendBatch(batchOf([ether(60, [0x88, 0xb5])]));
        await settle(50);
        t.equal(fired, 1, 'one callback although the frame stays queued');
        t.equal((await recvCopies(b, 1)).length, 1);
        t.equal(b.recvBatch(newFrameBatch(4), 4), 0);
        a.sendBatch(batchOf([ether(60, [0x88, 0xb5])]));
        await settle(50);
        t.equal(fired, 2, 'after draining to empty the next frame fires again');
        b.onReadable(undefined);
        a.close();
        b.close();
      }),
    );

  t.test(
    'L4 checksums left to offload by the sending stack are completed',
    withLab(async (t, lab) => {
      // v0a gets an address and sends a UDP datagram from the namespace's own stack with tx
      // checksum offload on (the veth default): the frame reaches v0b's AF_PACKET socket with
      // TP_STATUS_CSUMNOTREADY and a partial checksum.
      const [x, y] = lab.pairs[0]!;
      lab.ip('addr', 'add', '198.18.0.1/24', 'dev', x);
      lab.ip('neigh', 'add', '198.18.0.2', 'lladdr', '02:00:00:00:00:02', 'dev', x);
      const sendUdp = (): void => {
        const r = spawnSync(
          'ip',
          [
            'netns',
            'exec',
            lab.ns,
            process.execPath,
            '-e',
            "const s=require('dgram').createSocket('udp4');" +
              "s.send(Buffer.alloc(100,7),9,'198.18.0.2',()=>s.close())",
          ],
          { encoding: 'utf8', timeout: 30_000 },
        );
        if (r.status !== 0) throw new Error(`udp send failed: ${r.stderr}`);
      };
      const check = (f: Uint8Array): boolean =>
        verifyL4Checksum(f, 14, 34, f.length - 34, 17, false);
      const isUdp = (f: Uint8Array): boolean => f[12] === 0x08 && f[13] === 0 && f[23] === 17;

      const pass = afpacketNetdevClass.open(y, { netns: lab.ns, csum: 'pass' });
      sendUdp();
      const raw = (await recvCopies(pass, 1)).filter(isUdp);
      pass.close();
      t.equal(raw.length, 1, 'got the datagram with csum=pass');
      t.notOk(check(raw[0]!), 'as received, its checksum is unfinished');

      const before = counterTotal('afpacket_rx_csum_completed');
      const d = afpacketNetdevClass.open(y, { netns: lab.ns });
      sendUdp();
      const done = (await recvCopies(d, 1)).filter(isUdp);
      d.close();
      t.equal(done.length, 1);
      t.ok(check(done[0]!), 'with the default policy the checksum verifies');
      t.equal(counterTotal('afpacket_rx_csum_completed') - before, 1);
    }),
  );
  t.test(
    'frames the kernel drops on a full socket buffer are counted in rxDropped',
    withLab(async (t, lab) => {
      const [x, y] = lab.pairs[0]!;
      const a = afpacketNetdevClass.open(x, { netns: lab.ns });
      const b = afpacketNetdevClass.open(y, { netns: lab.ns, rcvbuf: '1' }); // the minimum
      const frames: Uint8Array[] = [];
      for (let i = 0; i < 32; i++) frames.push(ether(60, [0x88, 0xb5, i]));
      for (let k = 0; k < 4; k++) t.equal(a.sendBatch(batchOf(frames)), 32);
      await settle(20);
      const got = await recvCopies(b, 128);
      const st = b.stats();
      t.ok(got.length < 128, `only ${got.length} of 128 fitted`);
      t.equal(st.rxPackets, got.length);
      t.equal(st.rxDropped, 128 - got.length, 'the rest are counted as dropped');
      a.close();
      b.close();
    }),
  );

  t.test(
    'the addon works in a worker thread alongside the main thread',
    withLab(async (t, lab) => {
      const [a, b] = openEnds(lab);
      const addon = nativeAddonCandidates().find((p) => existsSync(p))!;
      // Plain JS in the worker: load the addon (a second instance, in another environment),
      // open a socket on v0a in the lab's namespace and send one frame with it.
      const code = `
        const { parentPort, workerData } = require('node:worker_threads');
        const nat = require(workerData.addon);
        const s = new nat.PacketSocket(workerData.dev, { netns: workerData.netns });
        const f = new Uint8Array(60);
        f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5, 0x77]);
        const n = s.send(f, new Int32Array([0]), new Int32Array([60]), 1);
        s.close();
        parentPort.postMessage(n);`;
      const w = new Worker(code, {
        eval: true,
        execArgv: [],
        workerData: { addon, dev: lab.pairs[0]![0], netns: `/var/run/netns/${lab.ns}` },
      });
      // Both listeners go on at once: the worker may exit right after posting its message.
      const exited = new Promise<number>((r) => w.on('exit', r));
      const sent = await new Promise<number>((resolve, reject) => {
        w.on('message', resolve);
        w.on('error', reject);
        void exited.then((code) => reject(new Error(`worker exited (${code}) without a message`)));
      });
      await exited;
      t.equal(sent, 1, 'the worker sent a frame');
      const got = await recvCopies(b, 1);
      t.equal(got.length, 1);
      t.equal(got[0]![14], 0x77, 'and it arrived on the peer');
      // The main thread's netdevs still work after the worker's environment went away.
      t.equal(b.sendBatch(batchOf([ether(60, [0x88, 0xb5, 0x78])])), 1);
      t.equal((await recvCopies(a, 1))[0]![14], 0x78);
      a.close();
      b.close();
    }),
  );

  // A reader taking a full ring over (the datapath worker, or main again) must start at the
  // oldest frame, which a full ring does not show by the frames' status: the kernel waits for
  // the slot it would fill next, anywhere in the ring. Found in the fwd benchmark: a port that
  // got its automatic ring under a flood was handed to the worker while full, the worker read
  // from slot 0, and frames then waited for a lap of the ring (pings after the flood failed).
  for (const how of ['position', 'search'] as const)
    t.test(
      `a second reader of a full ring starts at its oldest frame [${how}]`,
      withLab(async (t, lab) => {
        const [x, y] = lab.pairs[0]!;
        const tx = afpacketNetdevClass.open(x, { netns: lab.ns });
        const owner = new AfPacketNetdev(y, { netns: lab.ns, rxRing: 64 });
        const seqFrame = (seq: number): Uint8Array =>
          ether(60, [0x88, 0xb5, (seq >> 8) & 0xff, seq & 0xff]);
        const seqOf = (f: Uint8Array): number => (f[14]! << 8) | f[15]!;
        const send = (from: number, n: number): void => {
          for (let i = 0; i < n; i += 32) {
            const fs: Uint8Array[] = [];
            for (let j = i; j < Math.min(n, i + 32); j++) fs.push(seqFrame(from + j));
            tx.sendBatch(batchOf(fs));
          }
        };
        send(0, 300); // more than the ring holds: it is full, the rest dropped
        await settle(20);
        const first = newFrameBatch(5);
        t.equal(owner.recvBatch(first, 5), 5, 'the owner reads 5 frames');
        t.same(
          Array.from({ length: 5 }, (_, i) =>
            seqOf(first.bufs[i]!.subarray(first.offs[i], first.offs[i]! + first.lens[i]!)),
          ),
          [0, 1, 2, 3, 4],
        );
        const cfg = owner.workerConfig(); // gives the 5 back to the kernel
        t.ok(cfg?.ring !== undefined, 'the owner hands a ring over');
        send(1000, 5); // fill the 5 free slots: the ring is full again
        await settle(20);
        const ring = cfg!.ring!;
        const reader = new AfPacketNetdev(y, {
          adoptFd: cfg!.fd,
          adoptRing:
            how === 'position' ? ring : { frameSize: ring.frameSize, frameCount: ring.frameCount },
        });
        const got = (await recvCopies(reader, 4096)).map(seqOf);
        t.ok(got.length > 5, `the second reader read the full ring (${got.length} frames)`);
        t.equal(got[0], 5, 'it starts at the oldest frame the owner left');
        t.same(got.slice(-5), [1000, 1001, 1002, 1003, 1004], 'and ends with the newest');
        t.ok(
          got.every((v, i) => i === 0 || v > got[i - 1]!),
          'in the order the frames came',
        );
        reader.close();
        owner.close();
        tx.close();
      }),
    );

  t.test(
    'a tx ring made for another sender carries whole batches, in order, with sendmmsg after it',
    withLab(async (t, lab) => {
      const [x, y] = lab.pairs[0]!;
      const rx = afpacketNetdevClass.open(y, { netns: lab.ns });
      const owner = new AfPacketNetdev(x, { netns: lab.ns, txRing: 64 });
      t.ok(owner.usesTxRing, 'the owner hands out tx rings');
      const cfg = owner.workerConfig()!;
      const tx = cfg.tx!;
      t.ok(tx !== undefined && tx.frameCount >= 64, `a tx ring of ${tx.frameCount} frames`);
      t.equal(tx.maxLen, 1500 + 18, 'frames up to the MTU, the Ethernet header and a tag');
      const sender = new AfPacketNetdev(x, { adoptFd: cfg.fd, adoptTx: tx });
      t.ok(sender.usesTxRing, 'the adopting netdev sends through it');
      const seqFrame = (seq: number, len = 60): Uint8Array =>
        ether(len, [0x88, 0xb5, (seq >> 8) & 0xff, seq & 0xff]);
      const seqOf = (f: Uint8Array): number => (f[14]! << 8) | f[15]!;
      const fallback0 = counterTotal('afpacket_tx_ring_fallback');
      // More frames than the ring has: the ring takes what fits, sendmmsg the rest.
      const n = tx.frameCount + 20;
      const frames = Array.from({ length: n }, (_, i) => seqFrame(i, 60 + (i % 3) * 500));
      t.equal(sender.sendBatch(batchOf(frames)), n, `all ${n} frames sent`);
      const got = await recvCopies(rx, n, 256);
      t.same(
        got.map(seqOf),
        frames.map((_, i) => i),
        'all arrived, in order',
      );
      t.ok(
        got.every((f, i) => hex(f) === hex(frames[i]!)),
        'byte for byte (the virtio-net header is not part of the frame)',
      );
      t.equal(
        counterTotal('afpacket_tx_ring_fallback') - fallback0,
        20,
        'the 20 beyond the ring by sendmmsg',
      );
      // Batches after it go through the ring again, its frames free once the kernel sent them.
      for (let k = 0; k < 5; k++) {
        const b = Array.from({ length: 32 }, (_, i) => seqFrame(1000 + k * 32 + i));
        t.equal(sender.sendBatch(batchOf(b)), 32);
      }
      const more = (await recvCopies(rx, 160, 256)).map(seqOf);
      t.same(
        more,
        Array.from({ length: 160 }, (_, i) => 1000 + i),
        'five more batches in order',
      );
      t.equal(counterTotal('afpacket_tx_ring_fallback') - fallback0, 20, 'all through the ring');
      // Frames the receiver has not read yet keep their bytes while the ring frames they were
      // sent from carry later frames (the kernel must not have kept references to them).
      const held = Array.from({ length: 40 }, (_, i) => {
        const f = seqFrame(3000 + i, 1400);
        f.fill(0xa5, 16);
        return f;
      });
      t.equal(sender.sendBatch(batchOf(held)), 40);
      for (let k = 0; k < 2 * Math.ceil(tx.frameCount / 32); k++) {
        const over = Array.from({ length: 32 }, (_, i) => {
          const f = seqFrame(4000 + k * 32 + i, 1400);
          f.fill(0x5a, 16);
          return f;
        });
        t.equal(sender.sendBatch(batchOf(over)), 32);
      }
      const late = (await recvCopies(rx, 40)).slice(0, 40);
      t.ok(
        late.length === 40 && late.every((f, i) => hex(f) === hex(held[i]!)),
        'frames read after their ring frames were reused arrive unchanged',
      );
      for (let k = 0; k < 10 && (await recvCopies(rx, 256, 256)).length > 0; k++);
      // A frame over the MTU is not put in the ring: sendmmsg refuses it, the others pass.
      const big = [seqFrame(2000), seqFrame(2001, 1600), seqFrame(2002)];
      t.equal(sender.sendBatch(batchOf(big)), 2, 'the oversized frame is refused');
      t.same((await recvCopies(rx, 2)).map(seqOf), [2000, 2002]);
      t.equal(
        sender.stats().txPackets,
        n + 160 + 40 + 64 * Math.ceil(tx.frameCount / 32) + 2,
        'txPackets counts every frame sent',
      );
      sender.close();
      owner.close();
      rx.close();
    }),
  );
}

t.test('completeChecksum and option parsing (no kernel needed)', async (t) => {
  // UDP/IPv4 behind a VLAN tag with a garbage checksum.
  const f = new Uint8Array(18 + 20 + 8 + 4);
  f.set([0x81, 0x00, 0x00, 0x05, 0x08, 0x00], 12);
  f.set([0x45, 0, 0, 32, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2], 18);
  f.set([0x30, 0x39, 0, 9, 0, 12, 0xab, 0xcd, 1, 2, 3, 4], 38);
  t.notOk(verifyL4Checksum(f, 18, 38, 12, 17, false));
  t.ok(completeChecksum(f, 0, f.length));
  t.ok(verifyL4Checksum(f, 18, 38, 12, 17, false));
  const arp = new Uint8Array(60);
  arp[12] = 0x08;
  arp[13] = 0x06;
  t.notOk(completeChecksum(arp, 0, 60), 'not IP: left alone');
  t.same(parseAfPacketOptions({ netns: 'x', rx_batch: '64', csum: 'pass', promisc: 'false' }), {
    netns: 'x',
    rxBatch: 64,
    completeChecksums: false,
    promisc: false,
  });
  t.throws(() => parseAfPacketOptions({ rx_batch: '-1' }), RangeError);
  t.throws(() => parseAfPacketOptions({ csum: 'maybe' }), RangeError);
  t.same(parseAfPacketOptions({ rx_ring: 'auto' }), { autoRing: true }, 'rx_ring=auto');
  t.same(parseAfPacketOptions({ rx_ring: '0' }), { rxRing: 0 }, 'rx_ring=0: never a ring');
  t.throws(() => parseAfPacketOptions({ rx_ring: 'big' }), RangeError);
  t.equal(defaultRxRing({}), undefined, 'no TSVS_RX_RING: auto');
  t.equal(defaultRxRing({ TSVS_RX_RING: 'auto' }), undefined);
  t.equal(defaultRxRing({ TSVS_RX_RING: '0' }), 0, 'TSVS_RX_RING=0: recvmmsg only');
  t.equal(defaultRxRing({ TSVS_RX_RING: '1024' }), 1024);
  t.same(parseAfPacketOptions({ tx_ring: 'auto' }), { autoTxRing: true }, 'tx_ring=auto');
  t.same(parseAfPacketOptions({ tx_ring: '0' }), { txRing: 0 }, 'tx_ring=0: never a tx ring');
  t.same(parseAfPacketOptions({ tx_ring: '128' }), { txRing: 128 });
  t.throws(() => parseAfPacketOptions({ tx_ring: 'big' }), RangeError);
  t.equal(defaultTxRing({}), undefined, 'no TSVS_TX_RING: auto');
  t.equal(defaultTxRing({ TSVS_TX_RING: '0' }), 0, 'TSVS_TX_RING=0: sendmmsg only');
  t.equal(defaultTxRing({ TSVS_TX_RING: '512' }), 512);
  t.ok(slotSizeFor(1500) >= 1500 + 14 + 8 + 4 && slotSizeFor(1500) % 64 === 0);
  t.ok(slotSizeFor(9000) >= 9000 + 26);
  const saved = process.env.TSVS_NATIVE_ADDON;
  delete process.env.TSVS_NATIVE_ADDON;
  t.ok(nativeAddonCandidates().some((p) => p.endsWith('native/build/Release/tsvs_afpacket.node')));
  process.env.TSVS_NATIVE_ADDON = '/some/where.node';
  t.same(nativeAddonCandidates(), ['/some/where.node'], 'TSVS_NATIVE_ADDON overrides');
  if (saved === undefined) delete process.env.TSVS_NATIVE_ADDON;
  else process.env.TSVS_NATIVE_ADDON = saved;
  t.ok(new NativeAddonError('x') instanceof Error);
});

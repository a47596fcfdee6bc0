/**
 * The shared conformance suite every netdev provider runs (see datapath/netdev.ts). A provider
 * supplies a harness that opens two of its devices wired back to back (a dummy pair, a veth
 * pair for AF_PACKET); the suite checks the contract of every interface member through them.
 */
import type { Test } from 'tap';
import type { Netdev } from '../../../datapath/netdev.js';
import { newFrameBatch } from '../../../datapath/netdev.js';

/** Two devices of the provider under test, wired so that a frame sent on one arrives on the other. */
export interface NetdevPair {
  /** One end. */
  a: Netdev;
  /** The other end. */
  b: Netdev;
  /** Releases whatever the harness created (the suite closes a and b itself). */
  cleanup: () => void | Promise<void>;
}

/** What a provider supplies. */
export interface NetdevHarness {
  /** Provider type name (Netdev.type of the devices). */
  type: string;
  /** Opens a fresh pair. */
  openPair(): NetdevPair | Promise<NetdevPair>;
  /** Waits until frames sent on a pair can have arrived (default: one macrotask turn). */
  settle?(): Promise<void>;
}

function frame(n: number, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5]);
  f[14] = n & 0xff;
  f[15] = (n >>> 8) & 0xff;
  for (let i = 16; i < len; i++) f[i] = (i * 7 + n) & 0xff;
  return f;
}

function batchOf(frames: Uint8Array[]): ReturnType<typeof newFrameBatch> {
  const b = newFrameBatch(Math.max(32, frames.length));
  frames.forEach((f, i) => {
    b.bufs[i] = f;
    b.offs[i] = 0;
    b.lens[i] = f.length;
  });
  b.count = frames.length;
  return b;
}

async function drain(h: NetdevHarness, d: Netdev, want: number): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  const b = newFrameBatch(32);
  for (let tries = 0; tries < 50 && got.length < want; tries++) {
    const n = d.recvBatch(b, 32);
    for (let i = 0; i < n; i++) {
      got.push(b.bufs[i]!.slice(b.offs[i], b.offs[i]! + b.lens[i]!));
    }
    if (n === 0) await (h.settle ? h.settle() : new Promise((r) => setImmediate(r)));
  }
  return got;
}

/** Runs the conformance suite as subtests of `t`. */
export function netdevConformance(t: Test, h: NetdevHarness): void {
  t.test(`${h.type}: identity and attributes`, async (t) => {
    const { a, b, cleanup } = await h.openPair();
    t.equal(a.type, h.type);
    t.not(a.name, b.name, 'names differ');
    const mac = a.etherAddr();
    t.equal(mac.length, 6);
    mac[0] = 0xff;
    t.not(a.etherAddr()[0], 0xff, 'etherAddr returns a copy');
    const m = Uint8Array.of(2, 1, 2, 3, 4, 5);
    a.setEtherAddr(m);
    t.same([...a.etherAddr()], [...m]);
    t.throws(() => a.setEtherAddr(new Uint8Array(5)));
    t.ok(a.mtu() >= 68);
    t.throws(() => a.setMtu(10), RangeError);
    t.equal(typeof a.carrier(), 'boolean');
    t.ok(Number.isInteger(a.ifindex()) && a.ifindex() >= 0);
    const s = a.stats();
    s.rxPackets = 99;
    t.not(a.stats().rxPackets, 99, 'stats returns a snapshot');
    a.close();
    b.close();
    await cleanup();
  });

  t.test(`${h.type}: frames sent on one end arrive on the other, in order`, async (t) => {
    const { a, b, cleanup } = await h.openPair();
    const empty = newFrameBatch(4);
    t.equal(b.recvBatch(empty, 4), 0, 'nothing waiting');
    t.equal(empty.count, 0);
    const frames = [frame(1), frame(2, 100), frame(3, 1514)];
    const before = a.stats();
    t.equal(a.sendBatch(batchOf(frames)), 3);
    const got = await drain(h, b, 3);
    t.equal(got.length, 3);
    for (let i = 0; i < 3; i++) t.same([...got[i]!], [...frames[i]!], `frame ${i} intact`);
    const sa = a.stats();
    t.equal(sa.txPackets - before.txPackets, 3);
    t.equal(sa.txBytes - before.txBytes, 60 + 100 + 1514);
    t.ok(b.stats().rxPackets >= 3);
    // The other direction too.
    b.sendBatch(batchOf([frame(9)]));
    const back = await drain(h, a, 1);
    t.same([...back[0]!], [...frame(9)]);
    a.close();
    b.close();
    await cleanup();
  });

  t.test(
    `${h.type}: batches with offsets into a shared buffer; buffers reusable after send`,
    async (t) => {
      const { a, b, cleanup } = await h.openPair();
      const big = new Uint8Array(4096);
      const fb = newFrameBatch(8);
      for (let i = 0; i < 4; i++) {
        big.set(frame(20 + i, 64), 100 + i * 1000);
        fb.bufs[i] = big;
        fb.offs[i] = 100 + i * 1000;
        fb.lens[i] = 64;
      }
      fb.count = 4;
      t.equal(a.sendBatch(fb), 4);
      big.fill(0); // The provider must have consumed the bytes already.
      const got = await drain(h, b, 4);
      t.equal(got.length, 4);
      for (let i = 0; i < 4; i++) t.same([...got[i]!], [...frame(20 + i, 64)]);
      a.close();
      b.close();
      await cleanup();
    },
  );

  t.test(`${h.type}: recvBatch honours max`, async (t) => {
    const { a, b, cleanup } = await h.openPair();
    a.sendBatch(batchOf([frame(1), frame(2), frame(3), frame(4), frame(5)]));
    await (h.settle ? h.settle() : new Promise((r) => setImmediate(r)));
    const rb = newFrameBatch(32);
    const n = b.recvBatch(rb, 2);
    t.ok(n <= 2 && n >= 1, `got ${n} ≤ 2`);
    t.equal(rb.count, n);
    const rest = await drain(h, b, 5 - n);
    t.equal(rest.length, 5 - n);
    a.close();
    b.close();
    await cleanup();
  });

  t.test(`${h.type}: onReadable fires asynchronously when frames arrive`, async (t) => {
    const { a, b, cleanup } = await h.openPair();
    let calls = 0;
    const fired = new Promise<void>((resolve) => {
      b.onReadable(() => {
        calls++;
        resolve();
      });
    });
    a.sendBatch(batchOf([frame(7)]));
    t.equal(calls, 0, 'not called synchronously inside sendBatch');
    await fired;
    t.ok(calls >= 1);
    const got = await drain(h, b, 1);
    t.equal(got.length, 1);
    b.onReadable(undefined);
    a.close();
    b.close();
    await cleanup();
  });

  t.test(`${h.type}: frames longer than MTU + 18 are dropped and counted`, async (t) => {
    const { a, b, cleanup } = await h.openPair();
    const mtu = a.mtu();
    const before = a.stats().txDropped;
    t.equal(a.sendBatch(batchOf([frame(1, mtu + 19), frame(2)])), 1);
    t.equal(a.stats().txDropped - before, 1);
    const got = await drain(h, b, 1);
    t.equal(got.length, 1);
    t.same([...got[0]!], [...frame(2)]);
    a.close();
    b.close();
    await cleanup();
  });

  t.test(`${h.type}: close is idempotent; calls after close throw`, async (t) => {
    const { a, b, cleanup } = await h.openPair();
    a.close();
    a.close();
    t.throws(() => a.mtu());
    t.throws(() => a.recvBatch(newFrameBatch(1), 1));
    t.throws(() => a.sendBatch(newFrameBatch(1)));
    b.close();
    await cleanup();
  });
}

/**
 * The automatic rx ring (Interface option `rx_ring=auto`, the default): a DpifNetdev with its
 * worker over two veth ports in a namespace. The ports start on recvmmsg; frames sent into port
 * 1 at more than AUTO_RING_PPS per second make the datapath take the port back from the worker,
 * set a ring up on the live socket, run what the socket had queued, and hand the port out again
 * (the worker maps the ring). The output port, sending as busily, gets a tx ring the same way
 * (the worker gets a transmit-only socket with it). No frame is delivered twice across the
 * switch, frames pass afterwards, and each port keeps the plain path on its quiet side. Counts
 * only: no time is asserted.
 */
import t from 'tap';
import type { DpAction } from '../../datapath/actions.js';
import { AUTO_RING_PPS, DpifNetdev } from '../../datapath/dpif-netdev.js';
import { AfPacketNetdev } from '../../datapath/netdev-afpacket.js';
import { newFrameBatch } from '../../datapath/netdev.js';
import { allCounters } from '../../lib/counters.js';
import { FLOW_KEY_WORDS } from '../../lib/packet/flow-key.js';
import { sleep } from '../helpers/net.js';
import { requireNative, requirePeer } from '../helpers/peers.js';
import { vethNamespace } from './afpacket-netns.js';

process.env.TSVS_DATAPATH_WORKER = '1';

/** A 60-byte UDP frame 10.0.0.1 → 10.0.0.2 carrying `seq` (32 bits) at bytes 42-45. */
function udpFrame(seq: number): Uint8Array {
  const f = new Uint8Array(60);
  f.set([2, 0, 0, 0, 0, 0x0b, 2, 0, 0, 0, 0, 0x0a, 0x08, 0x00], 0);
  f.set([0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14);
  f.set([0x3e, 0x80, 0x3e, 0x81, 0, 26, 0, 0], 34);
  new DataView(f.buffer).setUint32(42, seq >>> 0);
  return f;
}

const total = (name: string): number => allCounters().find((c) => c.name === name)?.total ?? 0;
const autoRings = (): number => total('afpacket_rx_ring_auto');
const autoTxRings = (): number => total('afpacket_tx_ring_auto');

t.test('a busy rx_ring=auto port gets a ring, losing and repeating nothing', async (t) => {
  if (!requirePeer(t, 'ip')) return;
  if (!requireNative(t)) return;
  const ns = `tsvsar${process.pid % 10000}`;
  const pairs = [
    ['arA0', 'arA1'],
    ['arB0', 'arB1'],
  ] as const;
  if (!(await vethNamespace(t, ns, pairs))) return;
  const pa = new AfPacketNetdev('arA1', { netns: ns, autoRing: true, autoTxRing: true });
  const pb = new AfPacketNetdev('arB1', { netns: ns, autoRing: true, autoTxRing: true });
  const src = new AfPacketNetdev('arA0', { netns: ns });
  const dst = new AfPacketNetdev('arB0', { netns: ns });
  const dp = new DpifNetdev({ worker: true });
  t.teardown(() => {
    dp.close();
    for (const n of [pa, pb, src, dst]) n.close();
  });
  dp.setUpcallHandler({
    upcall: (reqs) =>
      reqs.map((r) => {
        const actions: DpAction[] = r.inPort === 1 ? [{ type: 'output', port: 2 }] : [];
        return { actions, mask: new Uint32Array(FLOW_KEY_WORDS) };
      }),
  });
  dp.addPort(pa, 1);
  dp.addPort(pb, 2);
  dp.start();
  for (let i = 0; i < 500 && (dp.worker?.ownedPorts().length ?? 0) < 2; i++) await sleep(20);
  t.same(dp.worker?.ownedPorts().sort(), [1, 2], 'the worker owns both ports');
  t.equal(pa.usesRing, false, 'port 1 starts on recvmmsg');
  const rings0 = autoRings();
  const txRings0 = autoTxRings();

  const rx = newFrameBatch(32);
  const seen = new Set<number>();
  let duplicates = 0;
  const drain = (): void => {
    for (let k = dst.recvBatch(rx, 32); k > 0; k = dst.recvBatch(rx, 32)) {
      for (let i = 0; i < k; i++) {
        const b = rx.bufs[i]!;
        const o = rx.offs[i]!;
        if (rx.lens[i]! < 60 || b[o + 23] !== 17) continue;
        const seq = new DataView(b.buffer, b.byteOffset + o).getUint32(42);
        if (seen.has(seq)) duplicates++;
        else seen.add(seq);
      }
    }
  };
  const one = newFrameBatch(1);
  let sent = 0;
  const send = (n: number): void => {
    for (let i = 0; i < n; i++) {
      one.bufs[0] = udpFrame(sent++);
      one.offs[0] = 0;
      one.lens[0] = 60;
      one.count = 1;
      src.sendBatch(one);
    }
  };
  // Bursts of 48 a millisecond apart: well above AUTO_RING_PPS, for at most 8 s.
  const deadline = Date.now() + 8000;
  while (!pa.usesRing && Date.now() < deadline) {
    send(48);
    await sleep(1);
    drain();
  }
  t.ok(pa.usesRing, `port 1 moved to a ring after ${sent} frames (> ${AUTO_RING_PPS}/s)`);
  t.equal(autoRings() - rings0, 1, 'afpacket_rx_ring_auto counted it once');
  // Port 2 sends what port 1 receives: it gets a tx ring (a new worker socket) as well.
  const txDeadline = Date.now() + 8000;
  while (!pb.usesTxRing && Date.now() < txDeadline) {
    send(48);
    await sleep(1);
    drain();
  }
  t.ok(pb.usesTxRing, `the busy output port 2 sends through a tx ring (after ${sent} frames)`);
  t.equal(autoTxRings() - txRings0, 1, 'afpacket_tx_ring_auto counted it once');
  // Keep going across the hand-over back to the worker, then let everything arrive.
  for (let i = 0; i < 200; i++) {
    send(16);
    await sleep(1);
    drain();
  }
  for (let i = 0; i < 100 && seen.size < sent; i++) {
    await sleep(20);
    drain();
  }
  t.same(dp.worker?.ownedPorts().sort(), [1, 2], 'the worker owns both ports again');
  t.equal(duplicates, 0, 'no frame was delivered twice');
  t.ok(seen.size >= sent * 0.9, `frames passed (${seen.size}/${sent})`);
  const before = seen.size;
  const fallback0 = total('afpacket_tx_ring_fallback');
  send(200);
  for (let i = 0; i < 100 && seen.size < before + 200; i++) {
    await sleep(20);
    drain();
  }
  t.ok(seen.size - before >= 190, `after the switch, frames pass (${seen.size - before}/200)`);
  t.equal(total('afpacket_tx_ring_fallback') - fallback0, 0, 'all of them through the tx ring');
  t.equal(pb.usesRing, false, 'port 2, which receives nothing, keeps recvmmsg');
  t.equal(pa.usesTxRing, false, 'port 1, which sends nothing, keeps sendmmsg');
});

/**
 * The busy-poll policy of an Ofconn (OfconnOptions.busyPollUs): it polls only after a pump that
 * ended by answering a BARRIER_REQUEST, with the configured budget; never when the budget is 0;
 * a message caught by the poll is handled at once (and may lead to another poll); after
 * BUSY_POLL_CREDIT empty polls in a row it stops, and starts again when a message comes within
 * the budget of a barrier reply. The transport's poll is scripted here; the real one is tested
 * in tests/unit/lib/transport-busy-poll.test.ts and through the daemon in
 * tests/e2e/daemon-of-busy-poll.test.ts.
 */
import type { Test } from 'tap';
import t from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import { allCounters } from '../../../lib/counters.js';
import {
  memoryTransportPair,
  type BusyPollResult,
  type Transport,
} from '../../../lib/transport.js';
import { encodeMessage, type OfpMessage } from '../../../openflow/messages.js';
import { Ofconn, type OfconnOwner } from '../../../ofproto/ofconn.js';
import { OfTestPeer } from '../../helpers/ofclient.js';

const HELLO: OfpMessage = {
  type: 'HELLO',
  xid: 1,
  version: 4,
  elements: [{ type: 'VERSIONBITMAP', bitmaps: [1 << 4] }],
};

const owner: OfconnOwner = {
  handleMessage: () => undefined,
  changeRole: () => 0n,
  currentGenerationId: () => 0n,
};

const total = (name: string): number => allCounters().find((c) => c.name === name)?.total ?? 0;

/** A connection whose transport's busyPoll follows `script` (one entry per call). */
async function setup(t: Test, budget: { us: number }, script: (() => BusyPollResult)[]) {
  const [a, b] = memoryTransportPair();
  const calls: number[] = [];
  (a as Transport & { busyPoll(us: number): BusyPollResult }).busyPoll = (us: number) => {
    calls.push(us);
    const next = script.shift();
    return next ? next() : 'timeout';
  };
  const conn = new Ofconn(a, {
    type: 'service',
    clock: new FakeClock(),
    owner,
    probeIntervalMs: 0,
    busyPollUs: () => budget.us,
  });
  t.teardown(() => a.destroy());
  const peer = new OfTestPeer(b);
  peer.send(HELLO);
  await peer.waitType('HELLO');
  return { a, conn, peer, calls };
}

/** Sends a barrier and waits for its reply. */
async function barrier(peer: OfTestPeer, xid: number): Promise<void> {
  peer.send({ type: 'BARRIER_REQUEST', xid });
  await peer.waitType('BARRIER_REPLY', xid);
}

t.test('no budget, no poll; a pump not ending in a barrier does not poll', async (t) => {
  const budget = { us: 0 };
  const { peer, calls } = await setup(t, budget, []);
  await barrier(peer, 10);
  await barrier(peer, 11);
  t.same(calls, [], 'budget 0: never polled');
  budget.us = 50;
  peer.send({ type: 'ECHO_REQUEST', xid: 12, data: new Uint8Array(0) });
  await peer.waitType('ECHO_REPLY', 12);
  await new Promise((r) => setImmediate(r));
  t.same(calls, [], 'an echo is not a barrier: no poll');
  await barrier(peer, 13);
  await new Promise((r) => setImmediate(r));
  t.same(calls, [50], 'polled once after the barrier, with the budget');
});

t.test('empty polls use up the credit; an early arrival re-arms it', async (t) => {
  const budget = { us: 50 };
  const { peer, calls } = await setup(t, budget, []);
  const miss0 = total('ofconn_busy_poll_miss');
  for (let i = 0; i < 6; i++) {
    await barrier(peer, 100 + i);
    await new Promise((r) => setImmediate(r));
  }
  t.equal(calls.length, 4, 'four empty polls, then none');
  t.equal(total('ofconn_busy_poll_miss') - miss0, 4, 'each counted as a miss');
  // Off now. With a budget far above any delay here, the next barrier comes "in time".
  budget.us = 60_000_000;
  await barrier(peer, 200);
  await new Promise((r) => setImmediate(r));
  t.equal(calls.length, 5, 'a barrier arriving within the budget re-armed it: polled after it');
  t.equal(calls[4], 60_000_000, 'with the current budget');
});

t.test('a late arrival leaves it off', async (t) => {
  const budget = { us: 50 };
  const { peer, calls } = await setup(t, budget, []);
  for (let i = 0; i < 5; i++) {
    await barrier(peer, 300 + i);
    await new Promise((r) => setImmediate(r));
  }
  t.equal(calls.length, 4, 'off after four misses');
  budget.us = 1;
  await barrier(peer, 400);
  await new Promise((r) => setTimeout(r, 20)); // far more than 1 µs
  await barrier(peer, 401);
  await new Promise((r) => setImmediate(r));
  t.equal(calls.length, 4, 'a message 20 ms after the reply does not re-arm a 1 µs budget');
});

t.test('a message caught by a poll is handled at once and may chain', async (t) => {
  const budget = { us: 50 };
  const hit0 = total('ofconn_busy_poll_hit');
  const ref: { a?: Transport } = {};
  const deliver = (m: OfpMessage): BusyPollResult => {
    (ref.a as unknown as { emit(e: string, c: Buffer): void }).emit(
      'data',
      Buffer.from(encodeMessage(m)),
    );
    return 'data';
  };
  const { a, peer, calls } = await setup(t, budget, [
    () => deliver({ type: 'BARRIER_REQUEST', xid: 501 }),
    () => deliver({ type: 'ECHO_REQUEST', xid: 502, data: new Uint8Array(0) }),
  ]);
  ref.a = a;
  await barrier(peer, 500);
  await peer.waitType('BARRIER_REPLY', 501);
  await peer.waitType('ECHO_REPLY', 502);
  await new Promise((r) => setImmediate(r));
  t.equal(total('ofconn_busy_poll_hit') - hit0, 2, 'two hits counted');
  t.same(calls, [50, 50], 'polled after 500 and after 501, not after the echo');
});

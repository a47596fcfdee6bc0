/**
 * Read backpressure of an Ofconn: reading stops while more than `maxInboxBytes` of received
 * messages wait to be processed and resumes at half of it; the two pause reasons (inbox full,
 * replies queued unsent) are independent; replies stay in order.
 */
import { EventEmitter } from 'node:events';
import t from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import { allCounters } from '../../../lib/counters.js';
import { memoryTransportPair, type Transport } from '../../../lib/transport.js';
import { encodeMessage, type OfpMessage } from '../../../openflow/messages.js';
import { Ofconn, type OfconnOwner } from '../../../ofproto/ofconn.js';
import { OfTestPeer } from '../../helpers/ofclient.js';

const HELLO: OfpMessage = {
  type: 'HELLO',
  xid: 1,
  version: 4,
  elements: [{ type: 'VERSIONBITMAP', bitmaps: [1 << 4] }],
};

/** An owner whose FEATURES_REQUEST handling waits for `open()`; it records what it handled. */
function gatedOwner() {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const handled: number[] = [];
  const owner: OfconnOwner = {
    async handleMessage(_c, m) {
      if (m.type !== 'FEATURES_REQUEST') return;
      await gate;
      handled.push(m.xid);
    },
    changeRole: () => 0n,
    currentGenerationId: () => 0n,
  };
  return { owner, handled, open };
}

function pausedCount(): number {
  return allCounters().find((c) => c.name === 'ofconn_inbox_paused')?.total ?? 0;
}

/** Lets setImmediate-driven delivery run until `cond` holds (at most `turns` turns). */
async function until(cond: () => boolean, turns = 2000): Promise<boolean> {
  for (let i = 0; i < turns && !cond(); i++) await new Promise((r) => setImmediate(r));
  return cond();
}

t.test('a full inbox stops reading; replies stay in order once it drains', async (t) => {
  const [a, b] = memoryTransportPair();
  const { owner, handled, open } = gatedOwner();
  const conn = new Ofconn(a, {
    type: 'service',
    clock: new FakeClock(),
    owner,
    probeIntervalMs: 0,
    maxInboxBytes: 256,
  });
  t.teardown(() => a.destroy());
  const peer = new OfTestPeer(b);
  const before = pausedCount();
  peer.send(HELLO);
  const N = 200;
  for (let i = 0; i < N; i++) peer.send({ type: 'FEATURES_REQUEST', xid: 100 + i });
  peer.send({ type: 'BARRIER_REQUEST', xid: 900 });
  peer.send({ type: 'ECHO_REQUEST', xid: 901, data: new Uint8Array(4) });

  t.ok(await until(() => conn.readPaused.inbox), 'reading paused');
  // Let delivery run a while longer: nothing more may be read while paused.
  await until(() => false, 50);
  const p = conn.readPaused;
  t.ok(p.inbox && !p.replies, 'paused for the inbox, not for replies');
  t.ok(p.inboxBytes > 128 && p.inboxBytes <= 256 + 8, `inbox bounded (${p.inboxBytes} bytes)`);
  t.ok(b.backlog() >= (N + 2) * 8 - 264, `the rest waits unread at the peer (${b.backlog()})`);
  t.equal(pausedCount(), before + 1, 'ofconn_inbox_paused counted once');
  t.equal(handled.length, 0, 'the first request is still being handled');

  open();
  const barrier = await peer.waitType('BARRIER_REPLY', 900);
  t.equal(handled.length, N, 'every request was handled before the barrier reply');
  const echo = await peer.waitType('ECHO_REPLY', 901);
  t.ok(peer.received.indexOf(barrier) < peer.received.indexOf(echo), 'echo reply after barrier');
  t.same(
    handled,
    Array.from({ length: N }, (_, i) => 100 + i),
    'requests handled in order',
  );
  t.ok(await until(() => !conn.readPaused.inbox), 'reading resumed');
  t.equal(conn.readPaused.inboxBytes, 0, 'inbox empty');
  t.ok(pausedCount() > before, 'paused at least once');
});

/** A transport that records pause/resume and lets the test deliver bytes and set the backlog. */
class ScriptedTransport extends EventEmitter implements Transport {
  readonly peer = 'scripted';
  closed = false;
  calls: string[] = [];
  pending = 0;
  write(): boolean {
    return true;
  }
  backlog(): number {
    return this.pending;
  }
  pause(): void {
    this.calls.push('pause');
  }
  resume(): void {
    this.calls.push('resume');
  }
  close(): void {
    this.destroy();
  }
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }
}

t.test('inbox and reply backpressure pause reading independently', async (t) => {
  const tr = new ScriptedTransport();
  const { owner, open } = gatedOwner();
  const conn = new Ofconn(tr, {
    type: 'service',
    clock: new FakeClock(),
    owner,
    probeIntervalMs: 0,
    maxInboxBytes: 64,
    maxQueuedReplies: 1,
  });
  t.teardown(() => tr.destroy());
  tr.emit('data', Buffer.from(encodeMessage(HELLO)));
  await until(() => false, 3); // the HELLO's turn of the message loop ends
  t.equal(conn.state, 'active');
  // 10 requests of 8 bytes: the first is taken at once (and waits at the gate), 9 stay = 72 > 64.
  const reqs = Array.from({ length: 10 }, (_, i) =>
    encodeMessage({ type: 'FEATURES_REQUEST', xid: 10 + i }),
  );
  tr.emit('data', Buffer.concat(reqs));
  t.same(tr.calls, ['pause'], 'paused once for the inbox');
  t.same(conn.readPaused, { inbox: true, replies: false, inboxBytes: 72 });

  // A reply queued unsent while the inbox is full: no second pause.
  tr.pending = 100;
  conn.send({ type: 'ECHO_REQUEST', xid: 5, data: new Uint8Array(0) });
  t.same(tr.calls, ['pause'], 'no second pause');
  t.ok(conn.readPaused.replies, 'replies reason set');

  // The inbox drains below half: still paused for the replies.
  open();
  t.ok(await until(() => !conn.readPaused.inbox), 'inbox reason cleared');
  t.same(tr.calls, ['pause'], 'not resumed while replies are queued');
  // The backlog drains: reading resumes.
  tr.pending = 0;
  tr.emit('drain');
  t.same(tr.calls, ['pause', 'resume'], 'resumed once both reasons are gone');
  t.same(conn.readPaused, { inbox: false, replies: false, inboxBytes: 0 });
});

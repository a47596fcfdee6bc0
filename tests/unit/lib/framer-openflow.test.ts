import t from 'tap';
import { OpenFlowFramer, FramerError } from '../../../lib/framer-openflow.js';

function msg(type: number, len: number, xid: number): Buffer {
  const b = Buffer.alloc(len);
  b.writeUInt8(4, 0);
  b.writeUInt8(type, 1);
  b.writeUInt16BE(len, 2);
  b.writeUInt32BE(xid, 4);
  for (let i = 8; i < len; i++) b[i] = (i * 7 + xid) & 0xff;
  return b;
}

const MSGS = [
  msg(0, 8, 1),
  msg(2, 24, 2),
  msg(10, 8 + 1500, 3),
  msg(5, 9, 4),
  msg(0, 8, 5),
  msg(18, 300, 6),
];
const STREAM = Buffer.concat(MSGS);

function feed(f: OpenFlowFramer, chunks: Uint8Array[]): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks) out.push(...f.push(c));
  return out;
}

void t.test('split at every byte offset gives the same messages', (t) => {
  let bad = 0;
  for (let i = 0; i <= STREAM.length; i++) {
    const got = feed(new OpenFlowFramer(), [STREAM.subarray(0, i), STREAM.subarray(i)]);
    if (got.length !== MSGS.length || got.some((g, k) => !g.equals(MSGS[k]!))) bad++;
  }
  t.equal(bad, 0);
  t.end();
});

void t.test('three-way splits around the small messages, and byte by byte', (t) => {
  let bad = 0;
  for (let i = 0; i < 60; i++) {
    for (let j = i; j < 60; j++) {
      const got = feed(new OpenFlowFramer(), [
        STREAM.subarray(0, i),
        STREAM.subarray(i, j),
        STREAM.subarray(j),
      ]);
      if (got.length !== MSGS.length || got.some((g, k) => !g.equals(MSGS[k]!))) bad++;
    }
  }
  t.equal(bad, 0);
  const f = new OpenFlowFramer();
  const got = feed(
    f,
    [...STREAM].map((b) => Uint8Array.of(b)),
  );
  t.same(
    got.map((b) => b.toString('hex')),
    MSGS.map((b) => b.toString('hex')),
  );
  t.equal(f.pending(), 0);
  t.end();
});

void t.test('the largest message (65535 bytes)', (t) => {
  const big = msg(10, 65535, 9);
  const f = new OpenFlowFramer();
  t.same(f.push(big.subarray(0, 3)), []);
  t.same(f.push(big.subarray(3, 40000)), []);
  const out = f.push(Buffer.concat([big.subarray(40000), MSGS[0]!]));
  t.equal(out.length, 2);
  t.ok(out[0]!.equals(big));
  t.ok(out[1]!.equals(MSGS[0]!));
  t.end();
});

void t.test('partial tail is copied: reusing the chunk is safe', (t) => {
  const f = new OpenFlowFramer();
  const m = msg(2, 16, 7);
  const chunk = Buffer.from(m.subarray(0, 10));
  t.same(f.push(chunk), []);
  chunk.fill(0);
  const out = f.push(m.subarray(10));
  t.ok(out[0]!.equals(m));
  // a middle chunk that leaves the message incomplete is copied too
  const g = new OpenFlowFramer();
  const big = msg(3, 100, 8);
  const middle = Buffer.from(big.subarray(10, 50));
  g.push(big.subarray(0, 10));
  g.push(middle);
  middle.fill(0xee);
  t.ok(g.push(big.subarray(50))[0]!.equals(big));
  t.end();
});

void t.test('length below 8 throws FramerError and the framer stays failed', (t) => {
  for (const len of [0, 1, 7]) {
    for (const split of [0, 1, 2, 3, 4, 5]) {
      const bad = Buffer.from([4, 0, len >> 8, len & 0xff, 0, 0, 0, 1]);
      const stream = Buffer.concat([MSGS[0]!, bad]);
      const cut = MSGS[0]!.length + split;
      const f = new OpenFlowFramer();
      let err: unknown;
      let got: Buffer[] = [];
      try {
        got = f.push(stream.subarray(0, cut));
        got.push(...f.push(stream.subarray(cut)));
      } catch (e) {
        err = e;
      }
      t.ok(err instanceof FramerError, `len ${len} split ${split}`);
      const fe = err as FramerError;
      t.equal(fe.reason, 'bad-length');
      t.equal(got.length + fe.messages.length, 1, 'the good message before it is delivered');
      try {
        f.push(MSGS[0]!);
        t.fail('should stay failed');
      } catch (e) {
        t.equal(e, err);
      }
    }
  }
  t.end();
});

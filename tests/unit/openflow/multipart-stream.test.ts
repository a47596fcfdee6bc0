/**
 * streamReplyParts (openflow/multipart.ts): the parts it hands out one by one are byte for byte
 * the parts encodeMultipartReply returns for the same entries, whatever the part size.
 */
import t from 'tap';
import { OFPMPF_REPLY_MORE } from '../../../openflow/constants.js';
import {
  decodeMessage,
  encodeMessage,
  encodeMultipartReply,
  type MessageOf,
} from '../../../openflow/messages.js';
import { streamReplyParts, type FlowStats } from '../../../openflow/multipart.js';

/** A flow-stats entry; `i` varies the match size so parts break at uneven places. */
function flow(i: number): FlowStats {
  return {
    tableId: i % 3,
    durationSec: i,
    durationNsec: 1000 * i,
    priority: 100 + (i % 7),
    idleTimeout: 0,
    hardTimeout: i % 2 === 0 ? 0 : 60,
    flags: 0,
    cookie: BigInt(i) << 32n,
    packetCount: BigInt(i * 3),
    byteCount: BigInt(i * 300),
    match:
      i % 2 === 0
        ? [
            { field: 'eth_type', value: 0x0800 },
            { field: 'ipv4_dst', value: (10 << 24) | i },
          ]
        : [{ field: 'in_port', value: i }],
    instructions: [
      { type: 'APPLY_ACTIONS', actions: [{ type: 'OUTPUT', port: 2, maxLen: 0xffe5 }] },
    ],
  };
}

function reply(entries: FlowStats[], flags = 0): MessageOf<'MULTIPART_REPLY'> {
  return { type: 'MULTIPART_REPLY', xid: 77, flags, mpType: 'FLOW', entries };
}

function streamed(entries: FlowStats[], maxLen?: number, flags = 0): Uint8Array[] {
  const head = encodeMessage(reply([], flags));
  const out: Uint8Array[] = [];
  streamReplyParts(
    head,
    'FLOW',
    entries.length,
    (i) => entries[i]!,
    (p) => out.push(p),
    maxLen,
  );
  return out;
}

for (const [n, maxLen] of [
  [0, undefined],
  [1, undefined],
  [3000, undefined],
  [500, 1024],
  [37, 200],
] as const) {
  t.test(`${n} entries, parts of at most ${maxLen ?? 65535} bytes`, async (t) => {
    const entries = Array.from({ length: n }, (_, i) => flow(i));
    const want = encodeMultipartReply(reply(entries), maxLen);
    const got = streamed(entries, maxLen);
    t.equal(got.length, want.length, 'as many parts');
    t.ok(got.length >= 1, 'at least one part');
    for (let i = 0; i < want.length; i++) {
      t.same(Buffer.from(got[i]!), Buffer.from(want[i]!), `part ${i} identical`);
      const m = decodeMessage(got[i]!) as MessageOf<'MULTIPART_REPLY'>;
      t.equal(
        m.flags & OFPMPF_REPLY_MORE,
        i < want.length - 1 ? OFPMPF_REPLY_MORE : 0,
        `part ${i}: REPLY_MORE only before the last`,
      );
      t.ok(got[i]!.length <= (maxLen ?? 65535), `part ${i} fits`);
    }
    const back = got.flatMap((p) =>
      (decodeMessage(p) as Extract<MessageOf<'MULTIPART_REPLY'>, { mpType: 'FLOW' }>).entries.map(
        (e) => e.durationSec,
      ),
    );
    t.same(
      back,
      entries.map((e) => e.durationSec),
      'every entry once, in order',
    );
  });
}

t.test('parts are handed out as they are completed, each a copy', async (t) => {
  const entries = Array.from({ length: 2000 }, (_, i) => flow(i));
  const head = encodeMessage(reply([]));
  const seenAt: number[] = [];
  let asked = 0;
  const parts: Uint8Array[] = [];
  streamReplyParts(
    head,
    'FLOW',
    entries.length,
    (i) => {
      asked = i + 1;
      return entries[i]!;
    },
    (p) => {
      seenAt.push(asked);
      parts.push(p);
    },
  );
  t.ok(parts.length > 2, 'several parts');
  t.ok(seenAt[0]! < entries.length, 'the first part went out before the last entry was encoded');
  t.not(parts[0]!.buffer, parts[1]!.buffer, 'parts do not share the scratch buffer');
});

t.test('an entry too large for any part throws RangeError', async (t) => {
  const head = encodeMessage(reply([]));
  t.throws(
    () =>
      streamReplyParts(
        head,
        'FLOW',
        1,
        () => flow(0),
        () => undefined,
        40,
      ),
    RangeError,
  );
});

t.test('the last part keeps the flags of the head', async (t) => {
  const entries = Array.from({ length: 10 }, (_, i) => flow(i));
  const got = streamed(entries, undefined, 0);
  const m = decodeMessage(got.at(-1)!) as MessageOf<'MULTIPART_REPLY'>;
  t.equal(m.flags, 0);
  t.equal(m.xid, 77);
});

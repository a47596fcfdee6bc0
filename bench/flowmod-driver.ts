/**
 * In-process driver for profiling the flow-mod and flow-dump paths of issue 5 without sockets or
 * ovs-ofctl: the same flow-mods bench/flows.ts sends (`simple`: `table=0,priority=100,ip,
 * nw_dst=10.x.y.z,actions=output:2`) are encoded to wire bytes up front, then decoded, validated
 * and applied through {@link OpenFlowPipeline.handleMessage} (plain, or wrapped in ONF bundle-add
 * messages and committed once), then dumped with a flow-stats request whose reply parts are
 * encoded as ofconn would send them. Prints times, heap and RSS.
 *
 *   node --expose-gc [--cpu-prof] dist/bench/flowmod-driver.js [--n 100000] [--bundle]
 *     [--no-dump] [--heap-snapshot FILE] [--check]
 *
 * `--check` also verifies that the dump's wire parts equal those of the reference path
 * (decoded, then `splitMultipartReply` + `encodeMessage` of each part).
 */
import { writeHeapSnapshot } from 'node:v8';
import { realClock } from '../lib/clock.js';
import { OFPFC, OFPG, OFPP, OFPTT, OFP_NO_BUFFER } from '../openflow/constants.js';
import {
  decodeMessage,
  encodeMessage,
  mergeMultipartParts,
  splitMultipartReply,
  type MessageOf,
  type OfpMessage,
} from '../openflow/messages.js';
import { validateMessage } from '../openflow/validate.js';
import type { Ofconn } from '../ofproto/ofconn.js';
import { OpenFlowPipeline } from '../ofproto/pipeline.js';
import { parseOpts } from './lib/common.js';

const o = parseOpts(process.argv.slice(2));
const n = Number(o.get('n') ?? 100_000);
const bundle = o.has('bundle');
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

function flowMod(i: number, xid: number): OfpMessage {
  return {
    type: 'FLOW_MOD',
    xid,
    cookie: 0n,
    cookieMask: 0n,
    tableId: 0,
    command: OFPFC.ADD,
    idleTimeout: 0,
    hardTimeout: 0,
    priority: 100,
    bufferId: OFP_NO_BUFFER,
    outPort: OFPP.ANY,
    outGroup: OFPG.ANY,
    flags: 0,
    match: [
      { field: 'eth_type', value: 0x0800 },
      { field: 'ipv4_dst', value: 0x0a000000 + (i & 0xffffff) },
    ],
    instructions: [
      {
        type: 'APPLY_ACTIONS',
        actions: [{ type: 'OUTPUT', port: 2, maxLen: 0 }],
      },
    ],
  };
}

const wire: Uint8Array[] = [];
for (let i = 0; i < n; i++) {
  const fm = flowMod(i, i + 1);
  wire.push(
    encodeMessage(
      bundle
        ? {
            type: 'BUNDLE_ADD_MESSAGE',
            xid: i + 1,
            bundleId: 1,
            flags: 3,
            message: fm,
            properties: [],
          }
        : fm,
    ),
  );
}

const check = o.has('check');
const dumped: Uint8Array[] = [];
let sentBytes = 0;
let sentMsgs = 0;
const conn = {
  send(m: OfpMessage): boolean {
    const b = encodeMessage(m);
    sentBytes += b.length;
    sentMsgs++;
    return true;
  },
  sendRaw(b: Uint8Array): boolean {
    sentBytes += b.length;
    sentMsgs++;
    if (check) dumped.push(b);
    return true;
  },
} as unknown as Ofconn;

const pipe = new OpenFlowPipeline(realClock, {
  flowRemoved: () => undefined,
  hasPort: () => true,
});

function run(raw: Uint8Array): void {
  const m = decodeMessage(raw);
  validateMessage(m);
  pipe.handleMessage(conn, m, raw);
}

gc();
const heap0 = process.memoryUsage();
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
let c0 = cpuMs();
let t = performance.now();
if (bundle) {
  run(
    encodeMessage({
      type: 'BUNDLE_CONTROL',
      xid: 0,
      bundleId: 1,
      ctrlType: 'OPEN_REQUEST',
      flags: 3,
      properties: [],
    }),
  );
}
for (const raw of wire) run(raw);
const tAdd = performance.now() - t;
t = performance.now();
if (bundle) {
  run(
    encodeMessage({
      type: 'BUNDLE_CONTROL',
      xid: 0,
      bundleId: 1,
      ctrlType: 'COMMIT_REQUEST',
      flags: 3,
      properties: [],
    }),
  );
}
const tCommit = performance.now() - t;
const cAll = cpuMs() - c0;
wire.length = 0;
gc();
gc();
const heap1 = process.memoryUsage();
const mib = (x: number): string => (x / 1048576).toFixed(1);
console.log(
  `add ${n} ${bundle ? 'bundle' : 'plain'}: ${tAdd.toFixed(0)} ms` +
    (bundle ? ` + commit ${tCommit.toFixed(0)} ms` : '') +
    ` (${(((tAdd + tCommit) * 1000) / n).toFixed(2)} µs/flow); CPU ${cAll.toFixed(0)} ms;` +
    ` flows=${pipe.flowCount()}`,
);
const dHeap = heap1.heapUsed - heap0.heapUsed;
const dExt = heap1.external - heap0.external;
console.log(
  `heapUsed +${mib(dHeap)} MiB (heapTotal ${mib(heap1.heapTotal)} MiB), external +${mib(dExt)} MiB, ` +
    `rss ${mib(heap1.rss)} MiB ` +
    `(${Math.round((dHeap + dExt) / n)} B/flow heap+external)`,
);
if (o.has('heap-snapshot')) writeHeapSnapshot(o.get('heap-snapshot'));
if (!o.has('no-dump')) {
  for (let k = 0; k < 3; k++) {
    sentBytes = 0;
    sentMsgs = 0;
    t = performance.now();
    c0 = cpuMs();
    run(
      encodeMessage({
        type: 'MULTIPART_REQUEST',
        xid: 7,
        flags: 0,
        mpType: 'FLOW',
        tableId: OFPTT.ALL,
        outPort: OFPP.ANY,
        outGroup: OFPG.ANY,
        cookie: 0n,
        cookieMask: 0n,
        match: [],
      }),
    );
    console.log(
      `dump: ${(performance.now() - t).toFixed(0)} ms (CPU ${(cpuMs() - c0).toFixed(0)} ms), ` +
        `${sentMsgs} parts, ${mib(sentBytes)} MiB`,
    );
  }
}
if (check) {
  const parts = dumped.splice(0, dumped.length / 3); // the first of the three dumps
  const msgs = parts.map((p) => decodeMessage(p));
  const merged = mergeMultipartParts(msgs as MessageOf<'MULTIPART_REPLY'>[]);
  const ref = splitMultipartReply(merged).map((m) => encodeMessage(m));
  const same =
    ref.length === parts.length &&
    ref.every((r, i) => Buffer.compare(Buffer.from(r), Buffer.from(parts[i]!)) === 0);
  console.log(`check: ${same ? 'wire parts identical to the reference path' : 'MISMATCH'}`);
  if (!same) process.exitCode = 1;
}

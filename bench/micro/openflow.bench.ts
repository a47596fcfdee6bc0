/**
 * Micro-benchmark: the OpenFlow 1.3 codec (openflow/messages.ts) — decode and encode of the
 * messages on the hot control paths: a simple flow_mod as `ovs-ofctl add-flows` sends it, a
 * flow_mod with every instruction kind, a packet_in, a packet_out and a flow-stats reply
 * (dump-flows). Not part of `npm test`.
 *
 * Run: `node dist/bench/micro/openflow.bench.js [--time MS]` (or `npm run bench:micro`).
 * The wire bytes are OVS 3.1 captures (tests/golden/openflow/golden.json) plus one flow_mod
 * encoded here.
 */
import { Bench } from 'tinybench';
import { decodeMessage, encodeMessage, type OfpMessage } from '../../openflow/messages.js';
import { formatResult, isMain, results, type MicroResult } from './common.js';

/** OVS 3.1 captures (hex) of the benchmarked messages. */
export const CAPTURES = {
  'flow_mod (all instructions)':
    '040e00d800000020000000000000123400000000000000000100000a001e0064ffffffffffffffffffffffff000100000001003980000004000000018000070c01005e000000ffffff00000080000a0208008000140106800017080a000000ffffff0080001c020050000000000000000006000800000001000400200000000000190010800018040a00000900000000001800080000000000050008000000000003001800000000000000100000000200000000000000000002001800000000000000000000001000000000000000ff0001000805000000',
  packet_in:
    '040a006600000000ffffffff003c010000000000000077770001000c800000040000000100000000000000000000000200000000000188b700000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000',
  packet_out:
    '040d006414db8f70ffffffff00000002001000000000000000000010fffffffbffe5000000000000ffffffffffff000000000002080600000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000',
  'multipart flow-stats reply (1 flow)':
    '04130070000000500001000000000000006000000000000c1dcd650000010000000000000000000000000000000000000000000000000003000000000000012600010016800000040000000180000606000000000002000000040018000000000000001000000002ffe5000000000000',
} as const;

const TABLE_MISS =
  '040e005014db8f6f000000000000000000000000000000000000000000000000ffffffff0000000000000000000000000001000400000000000400180000000000000010fffffffdffff000000000000';

/** `table=0,priority=100,ip,nw_dst=10.1.2.3,actions=output:2` as a flow_mod (what add-flows sends). */
export function simpleFlowMod(): Uint8Array {
  const base = decodeMessage(Buffer.from(TABLE_MISS, 'hex'));
  if (base.type !== 'FLOW_MOD') throw new Error('capture is not a flow_mod');
  const m: OfpMessage = {
    ...base,
    priority: 100,
    match: [
      { field: 'eth_type', value: 0x0800 },
      { field: 'ipv4_dst', value: 0x0a010203 },
    ],
    instructions: [{ type: 'APPLY_ACTIONS', actions: [{ type: 'OUTPUT', port: 2, maxLen: 0 }] }],
  };
  return encodeMessage(m);
}

/** Every benchmarked message as wire bytes. */
export function messages(): [string, Uint8Array][] {
  return [
    ['flow_mod (add-flows: ip,nw_dst=…,output:2)', simpleFlowMod()],
    ...Object.entries(CAPTURES).map(([k, hex]): [string, Uint8Array] => [
      k,
      Buffer.from(hex, 'hex'),
    ]),
  ];
}

/** Decode and encode of each message; results are messages/s. */
export async function runOpenflowBench(time = 1000): Promise<MicroResult[]> {
  const bench = new Bench({ name: 'openflow', time, warmupTime: 200 });
  const N = 64;
  let sink = 0;
  for (const [name, bytes] of messages()) {
    const decoded = decodeMessage(bytes);
    const again = encodeMessage(decoded);
    if (Buffer.compare(Buffer.from(again), Buffer.from(bytes)) !== 0)
      throw new Error(`openflow bench: ${name} does not round-trip`);
    bench.add(`decode ${name}`, () => {
      for (let i = 0; i < N; i++) sink ^= decodeMessage(bytes).xid;
    });
    bench.add(`encode ${name}`, () => {
      for (let i = 0; i < N; i++) sink ^= encodeMessage(decoded).length;
    });
  }
  await bench.run();
  if (sink === 0.5) console.error('unreachable');
  return results('openflow', bench, N);
}

if (isMain(import.meta.url)) {
  const i = process.argv.indexOf('--time');
  for (const r of await runOpenflowBench(i > 0 ? Number(process.argv[i + 1]) : 1000))
    console.log(formatResult(r, 'msgs'));
}

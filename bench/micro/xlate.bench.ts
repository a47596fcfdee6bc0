/**
 * Micro-benchmark: `Xlate.translate` (ofproto/xlate.ts, OVS's ofproto-dpif-xlate) — what one
 * upcall costs above the datapath: the OpenFlow tables walked, the datapath actions and the
 * megaflow mask built. Cases: the forwarding test's single rule (`in_port=1,actions=output:2`),
 * NORMAL with both MACs learned, the flow-setup test's 100k exact 5-tuple rules, and a 4-table
 * pipeline (goto_table, set_field, output). Not part of `npm test`.
 *
 * Run: `node dist/bench/micro/xlate.bench.js [--time MS]` (or `npm run bench:micro`).
 */
import { Bench } from 'tinybench';
import { FakeClock } from '../../lib/clock.js';
import { parseFlow } from '../../lib/packet/format.js';
import type { FlowKey } from '../../lib/packet/flow-key.js';
import type { Action } from '../../openflow/actions.js';
import { OFPP, OFPPS } from '../../openflow/constants.js';
import type { Instruction } from '../../openflow/instructions.js';
import type { Match } from '../../openflow/oxm.js';
import type { Ofconn } from '../../ofproto/ofconn.js';
import { Ofproto } from '../../ofproto/ofproto.js';
import { Xlate } from '../../ofproto/xlate.js';
import { formatResult, isMain, results, type MicroResult } from './common.js';
import { addFlowMod } from '../../tests/helpers/flow-mod.js';

const conn = {} as Ofconn;
const out = (port: number): Action => ({ type: 'OUTPUT', port, maxLen: 0 });
const apply = (...actions: Action[]): Instruction => ({ type: 'APPLY_ACTIONS', actions });

/** A bridge with ports 1–4 and LOCAL, an Xlate on it, and a flow-adding helper. */
export function bridge(): {
  sw: Ofproto;
  x: Xlate;
  flow: (table: number, priority: number, match: Match, ins: Instruction[]) => void;
} {
  const clock = new FakeClock();
  const sw = new Ofproto({ name: 'br0', datapathId: 1n, clock });
  for (const n of [1, 2, 3, 4])
    sw.addPort({
      ofport: n,
      name: `p${n}`,
      hwAddr: 0x020000000000 + n,
      config: 0,
      state: OFPPS.LIVE,
      curr: 0,
      currSpeed: 0,
      maxSpeed: 0,
      dpPort: n + 10,
    });
  sw.addPort({
    ofport: OFPP.LOCAL,
    name: 'br0',
    hwAddr: 0x020000000099,
    config: 0,
    state: OFPPS.LIVE,
    curr: 0,
    currSpeed: 0,
    maxSpeed: 0,
  });
  const x = new Xlate({ ofproto: sw, clock, failMode: 'secure' });
  const flow = (
    tableId: number,
    priority: number,
    match: Match,
    instructions: Instruction[],
  ): void => {
    sw.tables.handleMessage(
      conn,
      addFlowMod(tableId, priority, match, instructions),
      new Uint8Array(),
    );
  };
  return { sw, x, flow };
}

const key = (s: string): FlowKey => parseFlow(s).key;
const UDP =
  'dl_src=02:00:00:00:01:01,dl_dst=02:00:00:00:02:02,udp,nw_src=10.0.1.1,nw_dst=10.0.0.2,nw_ttl=64,tp_dst=16020';

/** Translations per task invocation. */
const N = 256;

/** Runs the translations; results are translations/s. */
export async function runXlateBench(time = 1000, flowSetupRules = 100_000): Promise<MicroResult[]> {
  const bench = new Bench({ name: 'xlate', time, warmupTime: 200 });
  let sink = 0;
  const keys = Array.from({ length: N }, (_, i) => key(`in_port=1,${UDP},tp_src=${1024 + i}`));

  const one = bridge();
  one.flow(0, 10, [{ field: 'in_port', value: 1 }], [apply(out(2))]);
  bench.add('one rule: in_port=1,actions=output:2', () => {
    for (let i = 0; i < N; i++)
      sink ^= one.x.translate({ key: keys[i]!, sideEffects: false }).actions.length;
  });

  const normal = bridge();
  normal.flow(0, 0, [], [apply(out(OFPP.NORMAL))]);
  normal.x.translate({
    key: key(`in_port=2,dl_src=02:00:00:00:02:02,dl_dst=02:00:00:00:01:01,udp`),
  });
  normal.x.translate({ key: keys[0]! });
  bench.add('NORMAL, both MACs learned', () => {
    for (let i = 0; i < N; i++)
      sink ^= normal.x.translate({ key: keys[i]!, sideEffects: true }).actions.length;
  });

  const fs = bridge();
  const nports = flowSetupRules / 2;
  for (let s = 1; s <= 2; s++)
    for (let p = 0; p < nports; p++)
      fs.flow(
        0,
        100,
        [
          { field: 'in_port', value: 1 },
          { field: 'eth_type', value: 0x0800 },
          { field: 'ip_proto', value: 17 },
          { field: 'ipv4_src', value: ((10 << 24) | (1 << 8) | s) >>> 0 },
          { field: 'udp_src', value: 1024 + p },
        ],
        [apply(out(2))],
      );
  const fsKeys = Array.from({ length: N }, (_, i) =>
    key(
      `in_port=1,${UDP.replace('nw_src=10.0.1.1', `nw_src=10.0.1.${1 + (i % 2)}`)},tp_src=${1024 + ((i * 97) % nports)}`,
    ),
  );
  if (fs.x.translate({ key: fsKeys[0]!, sideEffects: false }).rules.length !== 1)
    throw new Error('xlate bench: flow-setup key missed');
  bench.add(`flow setup: ${flowSetupRules} exact 5-tuple rules`, () => {
    for (let i = 0; i < N; i++)
      sink ^= fs.x.translate({ key: fsKeys[i]!, sideEffects: false }).actions.length;
  });

  const multi = bridge();
  multi.flow(0, 10, [{ field: 'in_port', value: 1 }], [{ type: 'GOTO_TABLE', tableId: 1 }]);
  multi.flow(
    1,
    10,
    [{ field: 'eth_type', value: 0x0800 }],
    [apply({ type: 'SET_FIELD', field: 'ip_dscp', value: 2 }), { type: 'GOTO_TABLE', tableId: 2 }],
  );
  multi.flow(
    2,
    10,
    [
      { field: 'eth_type', value: 0x0800 },
      { field: 'ip_proto', value: 17 },
    ],
    [
      { type: 'WRITE_METADATA', metadata: 7n, metadataMask: 0xffn },
      { type: 'GOTO_TABLE', tableId: 3 },
    ],
  );
  multi.flow(3, 10, [{ field: 'metadata', value: 7n, mask: 0xffn }], [apply(out(2))]);
  if (multi.x.translate({ key: keys[0]!, sideEffects: false }).rules.length !== 4)
    throw new Error('xlate bench: 4-table pipeline did not hit 4 rules');
  bench.add('4 tables: goto, set_field ip_dscp, write_metadata, output', () => {
    for (let i = 0; i < N; i++)
      sink ^= multi.x.translate({ key: keys[i]!, sideEffects: false }).actions.length;
  });

  await bench.run();
  if (sink === 0.5) console.error('unreachable');
  return results('xlate', bench, N);
}

if (isMain(import.meta.url)) {
  const i = process.argv.indexOf('--time');
  for (const r of await runXlateBench(i > 0 ? Number(process.argv[i + 1]) : 1000))
    console.log(formatResult(r, 'xlates'));
}

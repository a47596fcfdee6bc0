/**
 * Micro-benchmark: the stream framers of lib/ — OpenFlow (length-prefixed) and JSON (OVSDB's
 * JSON-RPC, brace matching with strings and escapes) — fed 64 KiB chunks cut at arbitrary
 * places, as a socket delivers them; plus the JSON framer followed by `parseJson` (what an OVSDB
 * session does per request). Not part of `npm test`.
 *
 * Run: `node dist/bench/micro/framers.bench.js [--time MS]` (or `npm run bench:micro`).
 */
import { Bench } from 'tinybench';
import { JsonFramer } from '../../lib/framer-json.js';
import { OpenFlowFramer } from '../../lib/framer-openflow.js';
import { parseJson } from '../../lib/json.js';
import { simpleFlowMod } from './openflow.bench.js';
import { formatResult, isMain, results, type MicroResult } from './common.js';

const CHUNK = 65536;

/** `count` copies of `msg` back to back, cut into CHUNK-byte pieces (messages straddle chunks). */
export function chunks(msg: Uint8Array, count: number): Buffer[] {
  const all = Buffer.alloc(msg.length * count);
  for (let i = 0; i < count; i++) all.set(msg, i * msg.length);
  const out: Buffer[] = [];
  for (let o = 0; o < all.length; o += CHUNK)
    out.push(all.subarray(o, Math.min(all.length, o + CHUNK)));
  return out;
}

/** An OVSDB transact as ovs-vsctl sends one (one insert with a map and a string with escapes). */
export function transactRequest(i: number): Uint8Array {
  return Buffer.from(
    JSON.stringify({
      method: 'transact',
      params: [
        'Open_vSwitch',
        {
          op: 'insert',
          table: 'QoS',
          row: {
            type: 'linux-htb',
            external_ids: ['map', [['bench', `n${i} "quoted" \\ {brace}`]]],
            other_config: ['map', [['max-rate', '1000000']]],
          },
        },
        { op: 'comment', comment: 'ovs-vsctl: ovs-vsctl --db=unix:db.sock set QoS …' },
      ],
      id: i,
    }),
  );
}

/** Runs the framers; results are messages/s. */
export async function runFramersBench(time = 1000): Promise<MicroResult[]> {
  const bench = new Bench({ name: 'framers', time, warmupTime: 200 });
  const fm = simpleFlowMod();
  const ofCount = 4096;
  const ofChunks = chunks(fm, ofCount);
  const req = transactRequest(7);
  const jsCount = 1024;
  const jsChunks = chunks(req, jsCount);
  let sink = 0;
  bench.add(`OpenFlowFramer, ${fm.length}-byte flow_mods in 64 KiB chunks`, () => {
    const f = new OpenFlowFramer();
    let n = 0;
    for (const c of ofChunks) n += f.push(c).length;
    if (n !== ofCount) throw new Error(`framed ${n}`);
    sink ^= n;
  });
  bench.add(
    `JsonFramer (frames and parses), ${req.length}-byte transact requests in 64 KiB chunks`,
    () => {
      const f = new JsonFramer();
      let n = 0;
      for (const c of jsChunks) n += f.push(c).length;
      if (n !== jsCount) throw new Error(`framed ${n}`);
      sink ^= n;
    },
  );
  const text = Buffer.from(req).toString('utf8');
  bench.add(`parseJson of one transact request (×${jsCount})`, () => {
    for (let i = 0; i < jsCount; i++) sink ^= parseJson(text) === null ? 1 : 0;
  });
  await bench.run();
  if (sink === 0.5) console.error('unreachable');
  return results('framers', bench, (task) => (task.startsWith('OpenFlow') ? ofCount : jsCount));
}

if (isMain(import.meta.url)) {
  const i = process.argv.indexOf('--time');
  for (const r of await runFramersBench(i > 0 ? Number(process.argv[i + 1]) : 1000))
    console.log(formatResult(r, 'msgs'));
}

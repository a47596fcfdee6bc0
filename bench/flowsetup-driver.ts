/**
 * In-process driver for profiling the new-flow (flow setup) path of issue 6 without namespaces,
 * AF_PACKET or a traffic generator: the real bridge reconciler on an in-memory database, the
 * userspace datapath (DpifNetdev) with two dummy netdevs, the real ofproto/pipeline/xlate/upcall
 * stack, and the flow-setup benchmark's rule set (bench-flowsetup.sh: `udp,in_port=1,
 * nw_src=10.0.1.i,tp_src=P actions=output:2`, i in 1..nsrc, P from 1024). Frames with distinct
 * 5-tuples (the benchmark's traffic: src IP cycling 10.0.1.1..nsrc, tp_src from 1024) are
 * injected in batches of 32 as the datapath receives them (`DpifNetdev.input`), so every frame
 * is a miss → upcall → xlate → megaflow install → execute. Prints µs per new flow (wall and
 * CPU), GC time (perf_hooks), and the cost of statistics pushes over the installed flows
 * (what the daemon's UpcallRouter does every second).
 *
 *   node --expose-gc [--cpu-prof] dist/bench/flowsetup-driver.js [--n 100000] [--nsrc 2]
 *     [--nports 50000] [--rounds 3] [--batch 32]
 *
 * Each round flushes the datapath first (as the benchmark does between trials) and checks that
 * every frame came out of port 2 (exit code 1 otherwise).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { FakeClock } from '../lib/clock.js';
import type { Json } from '../lib/json.js';
import { buildFrame } from '../lib/packet/build.js';
import { parseFlow } from '../lib/packet/format.js';
import { DpifNetdev } from '../datapath/dpif-netdev.js';
import { newFrameBatch } from '../datapath/netdev.js';
import { findDummy } from '../datapath/netdev-dummy.js';
import { OFPG, OFPP, OFP_NO_BUFFER } from '../openflow/constants.js';
import type { Ofconn } from '../ofproto/ofconn.js';
import { Database } from '../ovsdb/database.js';
import { vswitchDbSchema } from '../ovsdb/schema.js';
import { BridgeReconciler } from '../vswitchd/bridge.js';
import { parseOpts } from './lib/common.js';

const o = parseOpts(process.argv.slice(2));
const nsrc = Number(o.get('nsrc') ?? 2);
const nports = Number(o.get('nports') ?? 50_000);
const n = Math.min(Number(o.get('n') ?? nsrc * nports), nsrc * nports);
const rounds = Number(o.get('rounds') ?? 3);
const batchSize = Number(o.get('batch') ?? 32);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const conn = {} as Ofconn;

let gcMs = 0;
let gcCount = 0;
const obs = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcMs += e.duration;
    gcCount++;
  }
});
obs.observe({ entryTypes: ['gc'] });

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'h3-fsd-'));
  const clock = new FakeClock(1000);
  const db = new Database(vswitchDbSchema());
  db.transact([{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
  const dpif = new DpifNetdev({ clock });
  const rec = new BridgeReconciler({ db, clock, rundir: dir, dpif, deviceExists: () => true });
  await rec.start();
  try {
    const ovs = [...db.rows('Open_vSwitch').keys()][0]!;
    const iface = (tag: string, name: string, ofport: number): Json[] => [
      {
        op: 'insert',
        table: 'Interface',
        row: { name, type: 'dummy', ofport_request: ofport },
        'uuid-name': `i${tag}`,
      },
      {
        op: 'insert',
        table: 'Port',
        row: { name, interfaces: ['named-uuid', `i${tag}`] },
        'uuid-name': `p${tag}`,
      },
    ];
    const r = db.transact([
      ...iface('a', 'h3fs-p1', 1),
      ...iface('b', 'h3fs-p2', 2),
      {
        op: 'insert',
        table: 'Bridge',
        row: {
          name: 'h3fs-br',
          fail_mode: 'secure',
          ports: [
            'set',
            [
              ['named-uuid', 'pa'],
              ['named-uuid', 'pb'],
            ],
          ],
        },
        'uuid-name': 'br',
      },
      {
        op: 'mutate',
        table: 'Open_vSwitch',
        where: [['_uuid', '==', ['uuid', ovs]]],
        mutations: [['bridges', 'insert', ['named-uuid', 'br']]],
      },
    ]);
    if (r.status !== 'done') throw new Error(`transaction failed: ${JSON.stringify(r)}`);
    await rec.schedule();
    await rec.idle();
    const rb = rec.bridges.get('h3fs-br');
    if (!rb) throw new Error('bridge not running');
    const sw = rb.ofproto;
    const p1 = sw.getPort(1);
    if (p1?.dpPort === undefined) throw new Error('port 1 has no datapath port');
    const d2 = findDummy('h3fs-p2');
    if (!d2) throw new Error('no dummy h3fs-p2');
    d2.setCaptureTx(true);

    let t = performance.now();
    for (let s = 1; s <= nsrc; s++)
      for (let p = 0; p < nports; p++)
        sw.tables.handleMessage(
          conn,
          {
            type: 'FLOW_MOD',
            xid: 0,
            cookie: 0n,
            cookieMask: 0n,
            tableId: 0,
            command: 0,
            idleTimeout: 0,
            hardTimeout: 0,
            priority: 32768,
            bufferId: OFP_NO_BUFFER,
            outPort: OFPP.ANY,
            outGroup: OFPG.ANY,
            flags: 0,
            match: [
              { field: 'in_port', value: 1 },
              { field: 'eth_type', value: 0x0800 },
              { field: 'ip_proto', value: 17 },
              { field: 'ipv4_src', value: 0x0a000100 + s },
              { field: 'udp_src', value: 1024 + p },
            ],
            instructions: [
              { type: 'APPLY_ACTIONS', actions: [{ type: 'OUTPUT', port: 2, maxLen: 0 }] },
            ],
          },
          new Uint8Array(),
        );
    console.log(
      `rules: ${sw.tables.flowCount()} added in ${(performance.now() - t).toFixed(0)} ms`,
    );
    await turn();

    // The benchmark's frames: src IP cycles fastest, then tp_src (pf-blast -k NSRC -p NPORTS).
    const frames: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      const s = 1 + (i % nsrc);
      const p = 1024 + Math.floor(i / nsrc);
      frames.push(
        buildFrame(
          parseFlow(
            `dl_src=02:00:00:00:01:01,dl_dst=02:00:00:00:02:02,udp,nw_src=10.0.1.${s},` +
              `nw_dst=10.0.0.2,nw_ttl=64,tp_src=${p},tp_dst=9`,
          ).key,
        ),
      );
    }
    const batch = newFrameBatch(batchSize);
    const inject = (): void => {
      for (let i = 0; i < n; i += batchSize) {
        const k = Math.min(batchSize, n - i);
        for (let j = 0; j < k; j++) {
          const f = frames[i + j]!;
          batch.bufs[j] = f;
          batch.offs[j] = 0;
          batch.lens[j] = f.length;
        }
        batch.count = k;
        dpif.input(p1.dpPort!, batch);
      }
    };

    let ok = true;
    for (let round = 1; round <= rounds; round++) {
      dpif.flushAll();
      d2.takeSent();
      gc();
      await turn();
      const st0 = dpif.stats();
      const gc0 = gcMs;
      const gcn0 = gcCount;
      const c0 = cpuMs();
      t = performance.now();
      inject();
      const wall = performance.now() - t;
      const cpu = cpuMs() - c0;
      // GC entries are delivered asynchronously.
      await turn();
      await turn();
      const st1 = dpif.stats();
      const sent = d2.takeSent().length;
      const flows = dpif.flows().length;
      const upcalls = st1.misses - st0.misses;
      console.log(
        `round ${round}: ${n} frames, ${upcalls} misses, ${flows} flows, ${sent} out of port 2; ` +
          `${((wall * 1000) / n).toFixed(2)} µs/flow wall (${Math.round((n * 1000) / wall)} flows/s), ` +
          `${((cpu * 1000) / n).toFixed(2)} µs/flow CPU; ` +
          `GC ${(gcMs - gc0).toFixed(0)} ms in ${gcCount - gcn0} pauses (${(((gcMs - gc0) / wall) * 100).toFixed(1)} % of wall)`,
      );
      if (sent !== n || flows !== n) ok = false;
    }
    // Statistics pushes over the installed flows (the daemon does one every second): the first
    // finds each new flow's attribution, the second walks the flows again (a full pass follows
    // each one that saw new hits), the third finds no new hits and skips the walk.
    const router = rec.router;
    if (router) {
      for (const what of ['first', 'second', 'third']) {
        t = performance.now();
        router.pushStats();
        const ms = performance.now() - t;
        console.log(`pushStats (${what}) over ${dpif.flows().length} flows: ${ms.toFixed(1)} ms`);
      }
    }
    if (!ok) {
      console.log('check: FAILED (not every frame became a flow and came out of port 2)');
      process.exitCode = 1;
    }
  } finally {
    obs.disconnect();
    await rec.stop();
    dpif.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

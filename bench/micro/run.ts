/**
 * `npm run bench:micro`: every tinybench micro-benchmark of the hot paths, one after the other,
 * printed as they finish and written to bench/results/micro-<date>.md and .json. Not part of
 * `npm test`; needs no root (bench/micro/afpacket.bench.ts, which needs network namespaces, runs
 * on its own).
 *
 *   node dist/bench/micro/run.js [--time MS] [--only framers,openflow,extract,datapath,classifier,xlate,counters]
 *                                [--out DIR] [--no-write]
 *
 * | suite      | what                                                                      |
 * | ---------- | ------------------------------------------------------------------------- |
 * | framers    | OpenFlow and JSON stream framers, parseJson                               |
 * | openflow   | OpenFlow 1.3 decode / encode: flow_mod, packet_in/out, flow-stats reply   |
 * | extract    | flow-key extraction of 64-byte frames (+ megaflow hash)                   |
 * | datapath   | DpifNetdev: exact-match cache (EMC) hit, megaflow hit, set-field          |
 * | classifier | Classifier.lookup, 1k/10k/100k rules × 1/10/50 masks                      |
 * | xlate      | Xlate.translate: one rule, NORMAL, 100k-rule flow setup, 4-table pipeline |
 * | counters   | coverage counters: labelled increments (old joined key, now, child handle) |
 */
import { cpus } from 'node:os';
import { loadAvg, parseOpts, today, writeResults } from '../lib/common.js';
import { runClassifierBench } from './classifier.bench.js';
import { runCountersBench } from './counters.bench.js';
import { formatResult, type MicroResult } from './common.js';
import { runDatapathBench } from './datapath.bench.js';
import { runFlowExtractBench } from './flow-extract.bench.js';
import { runFramersBench } from './framers.bench.js';
import { runOpenflowBench } from './openflow.bench.js';
import { runXlateBench } from './xlate.bench.js';

/** The suites, in run order: name, unit and runner (structured results or text lines). */
const SUITES: [string, string, (time: number) => Promise<MicroResult[] | string[]>][] = [
  ['framers', 'msgs', runFramersBench],
  ['openflow', 'msgs', runOpenflowBench],
  ['extract', 'pkts', runFlowExtractBench],
  ['datapath', 'pkts', runDatapathBench],
  ['classifier', 'lookups', (t) => runClassifierBench(t)],
  ['xlate', 'xlates', (t) => runXlateBench(t)],
  ['counters', 'incs', (t) => runCountersBench(t)],
];

async function main(): Promise<void> {
  const o = parseOpts(process.argv.slice(2));
  const time = Number(o.get('time') ?? 1000);
  const only = new Set((o.get('only') ?? SUITES.map((s) => s[0]).join(',')).split(','));
  for (const n of only)
    if (!SUITES.some((s) => s[0] === n))
      throw new Error(`unknown suite ${n} (${SUITES.map((s) => s[0]).join(', ')})`);
  const startedAt = new Date().toISOString();
  const loads = [loadAvg()];
  const md: string[] = [
    `# Micro-benchmarks (${startedAt})`,
    '',
    `Command: \`node dist/bench/micro/run.js ${process.argv.slice(2).join(' ')}\``.replace(
      / `$/,
      '`',
    ),
    '',
    `${cpus().length} cpus (${cpus()[0]?.model.trim() ?? '?'}), node ${process.version}, tinybench, ${time} ms per task. The machine is shared with other jobs: rates vary by ±20% and more between runs.`,
    '',
  ];
  const json: Record<string, MicroResult[] | string[]> = {};
  for (const [name, unit, run] of SUITES) {
    if (!only.has(name)) continue;
    process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${name}…\n`);
    const res = await run(time);
    json[name] = res;
    md.push(`## ${name}`, '');
    if (res.length && typeof res[0] === 'string') {
      for (const l of res as string[]) {
        console.log(`${name}: ${l}`);
        md.push(`- ${l}`);
      }
    } else {
      md.push(
        `| task | ${unit}/s | ns per ${unit.replace(/s$/, '')} | ±% | samples |`,
        '| --- | --- | --- | --- | --- |',
      );
      for (const r of res as MicroResult[]) {
        console.log(`${name}: ${formatResult(r, unit)}`);
        md.push(
          `| ${r.task} | ${Number.isFinite(r.opsPerSec) ? Math.round(r.opsPerSec).toLocaleString('en-US') : 'failed'} | ${r.nsPerOp.toFixed(1)} | ${r.rme.toFixed(1)} | ${r.samples} |`,
        );
      }
    }
    md.push('');
  }
  loads.push(loadAvg());
  md.push(`Load average before → after: ${loads.join(' → ')}.`, '');
  if (!o.has('no-write')) {
    const files = writeResults(
      'micro',
      md.join('\n'),
      { startedAt, time, loadAvg: loads, date: today(), results: json },
      o.get('out'),
    );
    process.stderr.write(`wrote ${files.md} and ${files.json}\n`);
  }
}

await main();

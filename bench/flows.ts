/**
 * Side-by-side flow-table benchmark (issue 5): our Ofproto (bench/flow-switch.ts, its own process)
 * against a private ovs-vswitchd 3.1 (bench/lib/ref-ovs.ts), the same ovs-ofctl commands on both,
 * interleaved (the order flips every round) and repeated on fresh switches every round; plus a
 * classifier micro-benchmark (tinybench; ours only). Not part of `npm test`. Needs root (netns).
 *
 *   node --import=file://$PWD/node_modules/@tapjs/typescript/dist/esm/import.mjs bench/flows.ts \
 *     [--rounds 3] [--quick] [--sizes 10000,100000] [--kinds simple[,mixed]] [--no-micro]
 *     [--only-micro] [--del-timeout 60] [--suts ovs,tsvs] [--prof DIR] [--out DIR]
 *     [--tsvs ofproto|daemon]
 *
 * `--tsvs daemon` measures the whole daemon (`node dist/bin/tsvs.js start`, as `tsvs start`
 * runs: its V8 settings and heap trimming included; bridge br0 with datapath_type=netdev,
 * fail_mode=secure, in-memory internal port) instead of bench/flow-switch.ts (an `Ofproto` alone,
 * the default). Run `npm run build` first: the daemon runs from dist/.
 *
 * Per round, on freshly started switches:
 * 1. idle VmRSS; `ovs-ofctl --bundle add-flows` of the largest size (simple); after 2 s VmRSS
 *    (as /work/shared/peers/perf/bench-mem.sh); `dump-flows` of all of them (wall time, lines
 *    checked); `del-flows` (given up after `--del-timeout` s, default 60).
 * 2. for every kind × size × (plain, --bundle), on freshly started switches: the timed
 *    `add-flows` from a file made as /work/shared/peers/perf/gen-flows.py does;
 *    `dump-aggregate` checks the count. Also the switch's CPU seconds for the add (from
 *    /proc/PID/stat).
 * ovs-ofctl ends add-flows with a barrier, so the wall time covers the switch applying every flow.
 * The classifier micro-benchmark looks up keys in 10 000 rules spread over 1, 10 or 50 masks.
 * Results go to bench/results/flows-<date>.md and .json.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { newFlowKey, type FlowKey } from '../lib/packet/flow-key.js';
import { Classifier, matches, VERSION_MAX } from '../ofproto/classifier.js';
import {
  cpuSeconds,
  fmt,
  loadAvg,
  markdownTable,
  parseOpts,
  rssKb,
  runTool,
  sleep,
  spawnOurChild,
  writeResults,
  type ResultRow,
} from './lib/common.js';
import { startRefOvs } from './lib/ref-ovs.js';

type Name = 'tsvs' | 'ovs';

/** Flows added (plain, then --bundle) and deleted on every fresh switch before measuring. */
const WARM_FLOWS = 2000;

/** Extra Node flags for our child (e.g. `--cpu-prof`), from `--prof DIR`. */
let childNodeArgs: string[] = [];

/** What runs as tsvs: bench/flow-switch.ts (`ofproto`) or the whole daemon (`daemon`). */
let tsvsMode: 'ofproto' | 'daemon' = 'ofproto';

/** A switch under test. */
interface Sut {
  name: Name;
  of: string;
  pid: number;
  stop(): Promise<void>;
}

async function startOvsSut(): Promise<Sut> {
  const o = await startRefOvs('br0');
  return { name: 'ovs', of: o.ofTarget, pid: o.vswitchdPid, stop: () => o.stop() };
}

/** The whole daemon from dist/, bridge br0 configured as the peers harness configures OVS's. */
async function startTsvsDaemonSut(): Promise<Sut> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-bench-flows-'));
  // dist/bench/flows.js → dist/bin/tsvs.js; from bench/flows.ts (tsx) → ./dist/bin/tsvs.js.
  const here = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'tsvs.js');
  const bin2 = here.endsWith(join('dist', 'bin', 'tsvs.js'))
    ? here
    : join(process.cwd(), 'dist', 'bin', 'tsvs.js');
  const proc = spawn(
    process.execPath,
    [...childNodeArgs, bin2, 'start', '--rundir', dir, '--log-level', 'warn'],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, TSVS_INTERNAL_PORTS: 'memory' },
    },
  );
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    proc.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const db = `unix:${join(dir, 'db.sock')}`;
    for (let i = 0; ; i++) {
      if (proc.exitCode !== null) throw new Error('tsvs exited while starting');
      const r = await runTool('ovs-vsctl', [`--db=${db}`, '--timeout=5', '--no-wait', 'show'], {
        timeoutMs: 10_000,
      });
      if (r.code === 0) break;
      if (i > 300) throw new Error('tsvs: db.sock not answering');
      await sleep(100);
    }
    const vsctl = await runTool(
      'ovs-vsctl',
      [
        `--db=${db}`,
        '--timeout=30',
        'add-br',
        'br0',
        '--',
        'set',
        'Bridge',
        'br0',
        'datapath_type=netdev',
        'fail_mode=secure',
        'protocols=OpenFlow13,OpenFlow14',
      ],
      { timeoutMs: 60_000 },
    );
    if (vsctl.code !== 0) throw new Error(`tsvs: add-br failed: ${vsctl.stderr}`);
    for (let i = 0; !existsSync(join(dir, 'br0.mgmt')); i++) {
      if (i > 300) throw new Error('tsvs: br0.mgmt did not appear');
      await sleep(100);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { name: 'tsvs', of: `unix:${join(dir, 'br0.mgmt')}`, pid: proc.pid!, stop };
}

async function startTsvsSut(): Promise<Sut> {
  if (tsvsMode === 'daemon') return startTsvsDaemonSut();
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-bench-flows-'));
  const c = await spawnOurChild<{ pid: number; mgmt: string }>('flow-switch', [dir], childNodeArgs);
  return {
    name: 'tsvs',
    of: c.info.mgmt,
    pid: c.pid,
    stop: async () => {
      await c.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** gen-flows.py `simple N`. */
export function* simpleFlows(n: number, out = 2): Generator<string> {
  for (let i = 0; i < n; i++)
    yield `table=0,priority=100,ip,nw_dst=10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255},actions=output:${out}`;
}

/** gen-flows.py `mixed N`: tables 0–3, masks on several fields, several action kinds. */
export function* mixedFlows(n: number, out = 2): Generator<string> {
  const hex2 = (x: number): string => x.toString(16).padStart(2, '0');
  for (let i = 0; i < n; i++) {
    const k = i % 4;
    const j = Math.floor(i / 4);
    const a = (j >> 16) & 255;
    const b = (j >> 8) & 255;
    const c = j & 255;
    if (k === 0)
      yield `table=0,priority=${1000 + (j % 50)},ip,nw_src=${a + 11}.${b}.${c}.0/24,nw_dst=192.168.0.0/16,actions=goto_table:1`;
    else if (k === 1)
      yield `table=1,priority=${900 + (j % 50)},tcp,nw_dst=172.${16 + (a % 16)}.${b}.${c},tp_dst=0x1000/0xf000,ip_dscp=${j % 64},actions=set_field:0x2->ip_dscp,goto_table:2`;
    else if (k === 2)
      yield `table=2,priority=${800 + (j % 50)},udp,dl_vlan=${1 + (j % 4094)},dl_src=02:00:${hex2(a)}:${hex2(b)}:${hex2(c)}:01,dl_dst=02:00:00:00:00:00/ff:ff:00:00:00:00,tp_src=${j & 0xffff},actions=pop_vlan,goto_table:3`;
    else
      yield `table=3,priority=${700 + (j % 50)},ipv6,ipv6_dst=2001:db8:${a.toString(16)}:${b.toString(16)}${hex2(c)}::/64,metadata=0x${j.toString(16)}/0xffffffff,actions=output:${out}`;
  }
}

const ofctl = (args: string[], discard = false) =>
  runTool('ovs-ofctl', ['-O', 'OpenFlow13', ...args], {
    timeoutMs: 300_000,
    discardStdout: discard,
  });

async function flowCount(sut: Sut): Promise<number> {
  const r = await ofctl(['dump-aggregate', sut.of]);
  const m = /flow_count=(\d+)/.exec(r.stdout);
  return m ? Number(m[1]) : NaN;
}

/** Timed del-flows; NaN when it did not finish within `timeoutMs` (ovs-ofctl is killed). */
async function delFlows(sut: Sut, timeoutMs = 300_000): Promise<number> {
  const r = await runTool('ovs-ofctl', ['-O', 'OpenFlow13', 'del-flows', sut.of], { timeoutMs });
  if (r.code === null) return NaN;
  if (r.code !== 0) throw new Error(`${sut.name}: del-flows failed: ${r.stderr}`);
  return r.seconds;
}

/** Timed add-flows; NaN seconds when the switch refused (e.g. --bundle unsupported). */
async function addFlows(
  sut: Sut,
  file: string,
  n: number,
  bundle: boolean,
): Promise<{ seconds: number; cpu: number; error?: string }> {
  const cpu0 = cpuSeconds(sut.pid);
  const r = await ofctl([...(bundle ? ['--bundle'] : []), 'add-flows', sut.of, file], true);
  const cpu = cpuSeconds(sut.pid) - cpu0;
  if (r.code !== 0) return { seconds: NaN, cpu, error: r.stderr.trim().split('\n')[0] };
  const got = await flowCount(sut);
  if (got !== n) return { seconds: NaN, cpu, error: `expected ${n} flows, switch reports ${got}` };
  return { seconds: r.seconds, cpu };
}

/** Classifier micro-benchmark: lookups/s with `nRules` rules over `nMasks` masks. */
async function classifierBench(nRules: number, time: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const bench = new Bench({ name: 'classifier', time, warmupTime: 200 });
  const BATCH = 1024;
  let sink = 0;
  for (const nMasks of [1, 10, 50]) {
    const cls = new Classifier<number>();
    const masks: FlowKey[] = [];
    for (let m = 0; m < nMasks; m++) {
      // eth_type exact + nw_dst prefix of 32-m%25 bits (+ tcp dst port exact for m >= 25), so
      // masks differ; priorities differ per mask so the probe order matters.
      const mask = newFlowKey();
      mask[14] = 0xffff; // eth_type
      const plen = 32 - (m % 25);
      mask[21] = plen === 32 ? 0xffffffff : (~((1 << (32 - plen)) - 1) >>> 0) >>> 0;
      if (m >= 25) mask[32] = 0xffff; // tp dst
      masks.push(mask);
    }
    const keys: FlowKey[] = [];
    for (let i = 0; i < nRules; i++) {
      const m = i % nMasks;
      const mask = masks[m]!;
      const key = newFlowKey();
      key[14] = 0x0800;
      key[21] = ((10 << 24) | (i * 2654435761)) >>> 0;
      key[32] = i & 0xffff;
      const masked = newFlowKey();
      for (let w = 0; w < masked.length; w++) masked[w] = (key[w]! & mask[w]!) >>> 0;
      cls.insert({
        key: masked,
        mask,
        priority: 100 + m,
        value: i,
        addedIn: 0,
        removedIn: VERSION_MAX,
      });
      keys.push(key);
    }
    // Lookup keys: half hit a rule, half miss (random nw_dst outside 10/8).
    const probes: FlowKey[] = [];
    for (let i = 0; i < BATCH; i++) {
      const k = newFlowKey();
      if (i % 2 === 0) k.set(keys[(i * 7919) % nRules]!);
      else {
        k[14] = 0x0800;
        k[21] = ((11 << 24) | (i * 40503)) >>> 0;
      }
      probes.push(k);
    }
    const wc = newFlowKey();
    // sanity: even probes hit something that matches
    const r0 = cls.lookup(probes[0]!, 0);
    if (!r0 || !matches(probes[0]!, r0)) throw new Error('classifier bench: probe 0 missed');
    bench.add(`${nRules} rules, ${nMasks} masks`, () => {
      for (let i = 0; i < BATCH; i++) {
        wc.fill(0);
        const r = cls.lookup(probes[i]!, 0, wc);
        if (r) sink ^= r.value;
      }
    });
  }
  await bench.run();
  for (const task of bench.tasks) {
    const r = task.result;
    if (r.state !== 'completed') continue;
    out.set(task.name, (BATCH * 1000) / r.latency.mean);
  }
  if (sink === 0.5) console.error('unreachable');
  return out;
}

async function main(): Promise<void> {
  const o = parseOpts(process.argv.slice(2));
  const quick = o.has('quick');
  if (o.has('prof')) childNodeArgs = ['--cpu-prof', `--cpu-prof-dir=${o.get('prof')}`];
  const mode = o.get('tsvs') ?? 'ofproto';
  if (mode !== 'ofproto' && mode !== 'daemon') throw new Error(`--tsvs ${mode}: ofproto or daemon`);
  tsvsMode = mode;
  const which = new Set((o.get('suts') ?? 'ovs,tsvs').split(','));
  const rounds = Number(o.get('rounds') ?? (quick ? 1 : 3));
  const sizes = (o.get('sizes') ?? (quick ? '10000' : '10000,100000')).split(',').map(Number);
  const kinds = (o.get('kinds') ?? 'simple').split(',');
  const memSize = Math.max(...sizes);
  const micro = !o.has('no-micro');
  const onlyMicro = o.has('only-micro');
  const delTimeoutMs = Number(o.get('del-timeout') ?? 60) * 1000;
  const log = (s: string): void =>
    console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
  const startedAt = new Date().toISOString();
  const loads = [loadAvg()];

  const tmp = mkdtempSync(join(tmpdir(), 'tsvs-bench-flowfiles-'));
  const files = new Map<string, string>();
  for (const kind of kinds)
    for (const n of sizes) {
      const f = join(tmp, `${kind}-${n}.flows`);
      const gen = kind === 'mixed' ? mixedFlows(n) : simpleFlows(n);
      writeFileSync(f, [...gen].join('\n') + '\n');
      files.set(`${kind}-${n}`, f);
    }
  const warmFile = join(tmp, 'warm.flows');
  writeFileSync(warmFile, [...simpleFlows(WARM_FLOWS)].join('\n') + '\n');
  if (!files.has(`simple-${memSize}`)) {
    const f = join(tmp, `simple-${memSize}.flows`);
    writeFileSync(f, [...simpleFlows(memSize)].join('\n') + '\n');
    files.set(`simple-${memSize}`, f);
  }

  const samples = new Map<string, { tsvs: number[]; ovs: number[] }>();
  const add = (key: string, name: Name, v: number): void => {
    let s = samples.get(key);
    if (!s) samples.set(key, (s = { tsvs: [], ovs: [] }));
    s[name].push(v);
  };
  const errors: string[] = [];

  try {
    for (let r = 0; r < (onlyMicro ? 0 : rounds); r++) {
      const order = (
        r % 2 === 0 ? (['ovs', 'tsvs'] as Name[]) : (['tsvs', 'ovs'] as Name[])
      ).filter((n) => which.has(n));
      log(`round ${r + 1}/${rounds} (order ${order.join(', ')}), load ${loadAvg()}`);
      const suts = new Map<Name, Sut>();
      const startAll = async (): Promise<void> => {
        for (const name of order)
          suts.set(name, name === 'ovs' ? await startOvsSut() : await startTsvsSut());
        // Unrecorded warm-up on both (lets V8 optimise our flow-mod path, as a long-running
        // switch would be): 2000 flows plain, 2000 with --bundle, del-flows.
        for (const s of suts.values()) {
          await addFlows(s, warmFile, WARM_FLOWS, false);
          await delFlows(s);
          await addFlows(s, warmFile, WARM_FLOWS, true);
          await delFlows(s);
        }
        await sleep(1000);
      };
      const stopAll = async (): Promise<void> => {
        for (const s of suts.values()) await s.stop();
        suts.clear();
      };
      try {
        await startAll();
        // 1. memory, dump-flows and del-flows with memSize simple flows (fresh switches).
        for (const name of order) {
          const s = suts.get(name)!;
          add('rss.idle', name, rssKb(s.pid) / 1024);
          let a = await addFlows(s, files.get(`simple-${memSize}`)!, memSize, true);
          if (!Number.isFinite(a.seconds)) {
            errors.push(`${name} --bundle add-flows ${memSize}: ${a.error}; used plain`);
            await delFlows(s);
            a = await addFlows(s, files.get(`simple-${memSize}`)!, memSize, false);
          }
          await sleep(2000);
          add('rss.flows', name, rssKb(s.pid) / 1024);
          const cpu0 = cpuSeconds(s.pid);
          const d = await ofctl(['dump-flows', s.of]);
          const lines = (d.stdout.match(/priority=/g) ?? []).length;
          if (d.code !== 0 || lines !== memSize)
            errors.push(`${name} dump-flows: exit ${d.code}, ${lines} lines`);
          else {
            add('dump.seconds', name, d.seconds);
            add('dump.cpu', name, cpuSeconds(s.pid) - cpu0);
          }
          const del = await delFlows(s, delTimeoutMs);
          if (Number.isFinite(del)) add('del.seconds', name, del);
          else
            errors.push(
              `round ${r + 1}: ${name} del-flows of ${memSize} flows not finished after ${delTimeoutMs / 1000} s (ovs-ofctl killed)`,
            );
          log(
            `${name}: RSS idle ${fmt(samples.get('rss.idle')![name].at(-1)!)} MiB; with ${memSize} flows ${fmt(samples.get('rss.flows')![name].at(-1)!)} MiB; dump-flows ${fmt(d.seconds)} s (${lines} lines); del-flows ${Number.isFinite(del) ? `${fmt(del)} s` : `> ${delTimeoutMs / 1000} s`}`,
          );
        }
        await stopAll();
        // 2. add-flows, plain and --bundle, each on freshly started switches (so no switch has
        // to delete a large table first).
        for (const kind of kinds)
          for (const n of sizes)
            for (const bundle of [false, true]) {
              const mode = bundle ? 'bundle' : 'plain';
              await startAll();
              for (const name of order) {
                const s = suts.get(name)!;
                const a = await addFlows(s, files.get(`${kind}-${n}`)!, n, bundle);
                if (!Number.isFinite(a.seconds)) {
                  errors.push(`${name} add-flows ${kind} ${n} ${mode}: ${a.error}`);
                  log(`${name} add-flows ${kind} ${n} ${mode}: FAILED ${a.error}`);
                  continue;
                }
                add(`add.${kind}.${n}.${mode}.rate`, name, n / a.seconds);
                add(`add.${kind}.${n}.${mode}.cpu`, name, a.cpu);
                log(
                  `${name} add-flows ${kind} ${n} ${mode}: ${fmt(a.seconds)} s = ${fmt(n / a.seconds)} flow-mods/s (switch CPU ${fmt(a.cpu)} s)`,
                );
              }
              await stopAll();
            }
      } finally {
        await stopAll();
      }
      loads.push(loadAvg());
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  let microRows: [string, number][] = [];
  if (micro) {
    log('classifier micro-benchmark');
    microRows = [...(await classifierBench(10_000, quick ? 500 : 2000))];
    for (const [k, v] of microRows) log(`classifier ${k}: ${fmt(v)} lookups/s`);
  }

  const rows: ResultRow[] = [];
  const row = (
    key: string,
    metric: string,
    unit: string,
    higherIsBetter: boolean,
    target?: number,
  ): void => {
    const s = samples.get(key);
    if (s) rows.push({ metric, unit, higherIsBetter, tsvs: s.tsvs, ovs: s.ovs, target });
  };
  for (const kind of kinds)
    for (const n of sizes) {
      row(`add.${kind}.${n}.plain.rate`, `add-flows ${kind} ${n}, plain`, 'flow-mods/s', true, 1.5);
      row(`add.${kind}.${n}.plain.cpu`, `  switch CPU for it`, 's', false);
      row(
        `add.${kind}.${n}.bundle.rate`,
        `add-flows ${kind} ${n}, --bundle`,
        'flow-mods/s',
        true,
        1,
      );
      row(`add.${kind}.${n}.bundle.cpu`, `  switch CPU for it`, 's', false);
    }
  row('dump.seconds', `dump-flows of ${memSize} simple flows`, 's', false, 1);
  row('dump.cpu', `  switch CPU for it`, 's', false);
  const delTimeouts = errors.filter((e) => e.includes('del-flows of')).length;
  row(
    'del.seconds',
    `del-flows of ${memSize} simple flows${delTimeouts ? ` (${delTimeouts} run(s) gave up after ${delTimeoutMs / 1000} s, see Errors)` : ''}`,
    's',
    false,
  );
  row('rss.idle', `RSS idle (fresh switch after the ${WARM_FLOWS}-flow warm-up)`, 'MiB', false);
  row(
    'rss.flows',
    `RSS with ${memSize} simple flows (fresh switch, --bundle add)`,
    'MiB',
    false,
    1,
  );

  const cmd = `node ${process.execArgv.join(' ')} ${process.argv.slice(1).join(' ')}`;
  const md = [
    `# Flow tables: tsvs vs ovs-vswitchd 3.1 (${startedAt})`,
    '',
    `Command: \`${cmd}\``,
    '',
    `Rounds: ${rounds} (fresh switches each round, order flipped every round), sizes ${sizes.join(', ')}, kinds ${kinds.join(', ')}. ` +
      `Wall times are ovs-ofctl's (it ends with a barrier). OVS: private ovs-vswitchd (netdev datapath, own netns, no --mlockall); tsvs: ${tsvsMode === 'daemon' ? 'the daemon (dist/bin/tsvs.js start)' : 'bench/flow-switch.ts'} in its own process.`,
    `Load average before/after each round: ${loads.join(' → ')} (2 cores, shared machine).`,
    ...(import.meta.url.endsWith('.ts')
      ? [
          '',
          '**Warning: run from TypeScript sources; the switch child carries the TypeScript loader, so its RSS is inflated. Run `node dist/bench/flows.js` for RSS figures.**',
        ]
      : []),
    '',
    rows.length ? markdownTable(rows) : '(no side-by-side rows)',
    '',
    'Targets (issue 5): add-flows ≥ 1.5× OVS plain and ≥ 1.0× with --bundle; dump-flows no slower; RSS with 100k flows no larger.',
    '',
    ...(errors.length ? ['Errors:', '', ...errors.map((e) => `- ${e}`), ''] : []),
    ...(microRows.length
      ? [
          '## Classifier micro-benchmark (tsvs only; ofproto/classifier.ts, tinybench)',
          '',
          '| rules, masks | lookups/s (half hits, half misses; wildcard tracking on) |',
          '| --- | --- |',
          ...microRows.map(([k, v]) => `| ${k} | ${fmt(v)} |`),
          '',
          'OVS has no isolated classifier-lookup figure in ovs-perf-baseline.md; its closest is flow setup ' +
            '(upcall + full OpenFlow lookup + datapath flow install): 17 500 new flows/s no-drop, about 64 000/s saturated.',
          '',
        ]
      : []),
  ].join('\n');
  const out = writeResults(
    'flows',
    md,
    {
      startedAt,
      command: cmd,
      rounds,
      sizes,
      kinds,
      loadAvg: loads,
      samples: Object.fromEntries(samples),
      classifier: Object.fromEntries(microRows),
      errors,
    },
    o.get('out'),
  );
  console.log(md);
  log(`wrote ${out.md} and ${out.json}`);
}

await main();

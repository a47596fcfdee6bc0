/**
 * Port-scale benchmark beside OVS 3.1 (issue 7): N internal ports added to a fresh bridge with
 * one `ovs-vsctl` transaction and with N separate `ovs-vsctl` calls, each call waiting (no
 * --no-wait) until the switch reports the change applied; plus `ovs-vsctl show` with N ports
 * and `del-br` of the bridge. Same commands as /work/shared/peers/perf/bench-ports.sh, run
 * against tsvs (`dist/bin/tsvs.js start`, its own session) and a private OVS 3.1 in the same
 * run, the order flipping every round.
 *
 *     npm run build
 *     sudo node dist/bench/ports.js [--rounds 1] [--count 500] [--separate 500]
 *         [--suts ovs,tsvs] [--prof DIR] [--out DIR]
 *
 * `--separate N` adds only the first N ports one by one (OVS takes ~21 s for 500).
 * `--prof DIR` runs tsvs with `node --cpu-prof --cpu-prof-dir=DIR`.
 * Targets (reference/ovs-perf-baseline.md): one transaction ~0.42 s, ~42 ms per call; tsvs
 * should be no slower.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  loadAvg,
  markdownTable,
  parseOpts,
  runTool,
  sleep,
  writeResults,
  type ResultRow,
} from './lib/common.js';
import { startRefOvs } from './lib/ref-ovs.js';

/** A switch under test: how to run ovs-vsctl against it, and how to stop it. */
interface Sut {
  name: 'ovs' | 'tsvs';
  vsctl(args: string[]): Promise<{ code: number | null; seconds: number; stderr: string }>;
  stop(): Promise<void>;
}

function tsvsBin(): string {
  const here = fileURLToPath(import.meta.url);
  const root = here.includes('/dist/bench/')
    ? join(dirname(here), '..', '..')
    : join(dirname(here), '..');
  const bin = here.includes('/dist/bench/')
    ? join(root, 'dist', 'bin', 'tsvs.js')
    : join(root, 'dist', 'bin', 'tsvs.js');
  if (!existsSync(bin)) throw new Error(`${bin} missing: run npm run build first`);
  return bin;
}

async function startTsvs(prof?: string): Promise<Sut> {
  const dir = mkdtempSync(join(tmpdir(), 'tbnd-bench-tsvs-'));
  const node = prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [];
  const proc = spawn(
    process.execPath,
    [...node, tsvsBin(), 'start', '--rundir', dir, '--log-level', 'warn', '--log-file', '-'],
    { detached: true, stdio: 'ignore' },
  );
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  for (let i = 0; i < 300 && !existsSync(join(dir, 'db.sock')); i++) await sleep(100);
  if (!existsSync(join(dir, 'db.sock'))) throw new Error('tsvs did not start');
  const db = `unix:${join(dir, 'db.sock')}`;
  return {
    name: 'tsvs',
    vsctl: (args) =>
      runTool('ovs-vsctl', [`--db=${db}`, '--timeout=600', ...args], { timeoutMs: 700_000 }),
    stop: async () => {
      await runTool('ovs-appctl', ['-t', join(dir, 'tsvs.ctl'), 'exit'], {
        timeoutMs: 120_000,
      }).catch(() => undefined);
      const k = setTimeout(() => proc.kill('SIGKILL'), 120_000);
      await exited;
      clearTimeout(k);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startOvs(): Promise<Sut> {
  const ovs = await startRefOvs('pfbr0');
  const env = {
    OVS_RUNDIR: ovs.dir,
    OVS_DBDIR: ovs.dir,
    OVS_LOGDIR: ovs.dir,
    OVS_SYSCONFDIR: ovs.dir,
  };
  const db = `unix:${join(ovs.dir, 'db.sock')}`;
  return {
    name: 'ovs',
    vsctl: (args) =>
      runTool('ovs-vsctl', [`--db=${db}`, '--timeout=600', ...args], { env, timeoutMs: 700_000 }),
    stop: () => ovs.stop(),
  };
}

const BR = 'pfbr9';

async function must(sut: Sut, args: string[]): Promise<number> {
  const r = await sut.vsctl(args);
  if (r.code !== 0)
    throw new Error(`${sut.name}: ovs-vsctl ${args.slice(0, 6).join(' ')}...: ${r.stderr}`);
  return r.seconds;
}

const mkbr = (sut: Sut): Promise<number> =>
  must(sut, [
    '--if-exists',
    'del-br',
    BR,
    '--',
    'add-br',
    BR,
    '--',
    'set',
    'Bridge',
    BR,
    'datapath_type=netdev',
    'fail_mode=secure',
  ]);

function portArgs(i: number): string[] {
  return ['add-port', BR, `pfp${i}`, '--', 'set', 'Interface', `pfp${i}`, 'type=internal'];
}

interface Samples {
  oneTxn: number[];
  show: number[];
  delBr: number[];
  separatePerCallMs: number[];
}

async function measure(sut: Sut, count: number, separate: number, s: Samples): Promise<void> {
  await mkbr(sut);
  const args: string[] = [];
  for (let i = 1; i <= count; i++) args.push(...(i > 1 ? ['--'] : []), ...portArgs(i));
  s.oneTxn.push(await must(sut, args));
  s.show.push(await must(sut, ['show']));
  s.delBr.push(await must(sut, ['del-br', BR]));
  await mkbr(sut);
  const t0 = performance.now();
  for (let i = 1; i <= separate; i++) await must(sut, portArgs(i));
  s.separatePerCallMs.push((performance.now() - t0) / separate);
  await must(sut, ['del-br', BR]);
  console.error(
    `${sut.name}: one txn ${s.oneTxn.at(-1)!.toFixed(3)} s, show ${s.show.at(-1)!.toFixed(3)} s, ` +
      `del-br ${s.delBr.at(-1)!.toFixed(2)} s, separate ${s.separatePerCallMs.at(-1)!.toFixed(1)} ms/call`,
  );
}

async function main(): Promise<void> {
  const o = parseOpts(process.argv.slice(2));
  const rounds = Number(o.get('rounds') ?? 1);
  const count = Number(o.get('count') ?? 500);
  const separate = Number(o.get('separate') ?? count);
  const suts = (o.get('suts') ?? 'ovs,tsvs').split(',') as ('ovs' | 'tsvs')[];
  const prof = o.get('prof');
  const res: Record<'ovs' | 'tsvs', Samples> = {
    ovs: { oneTxn: [], show: [], delBr: [], separatePerCallMs: [] },
    tsvs: { oneTxn: [], show: [], delBr: [], separatePerCallMs: [] },
  };
  const load0 = loadAvg();
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? suts : [...suts].reverse();
    for (const name of order) {
      const sut = name === 'ovs' ? await startOvs() : await startTsvs(prof);
      try {
        await measure(sut, count, separate, res[name]);
      } finally {
        await sut.stop();
      }
    }
  }
  const rows: ResultRow[] = [
    {
      metric: `${count} internal ports, one ovs-vsctl transaction`,
      unit: 's',
      higherIsBetter: false,
      tsvs: res.tsvs.oneTxn,
      ovs: res.ovs.oneTxn,
      target: 1,
    },
    {
      metric: `${separate} internal ports, one ovs-vsctl call each`,
      unit: 'ms/call',
      higherIsBetter: false,
      tsvs: res.tsvs.separatePerCallMs,
      ovs: res.ovs.separatePerCallMs,
      target: 1,
    },
    {
      metric: `ovs-vsctl show with ${count} ports`,
      unit: 's',
      higherIsBetter: false,
      tsvs: res.tsvs.show,
      ovs: res.ovs.show,
    },
    {
      metric: `del-br with ${count} ports`,
      unit: 's',
      higherIsBetter: false,
      tsvs: res.tsvs.delBr,
      ovs: res.ovs.delBr,
    },
  ];
  const md =
    `# Port scale beside OVS 3.1 (${new Date().toISOString()})\n\n` +
    `Command: \`node dist/bench/ports.js ${process.argv.slice(2).join(' ')}\`; load average at start ${load0}, at end ${loadAvg()}.\n\n` +
    markdownTable(rows) +
    '\n';
  const out = writeResults('ports', md, { rows }, o.get('out'));
  console.log(md);
  console.error(`results: ${out.md}`);
}

await main();

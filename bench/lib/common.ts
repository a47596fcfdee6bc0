/**
 * Shared helpers of the side-by-side benchmarks (bench/ovsdb.ts, bench/flows.ts): running tools,
 * spawning our own servers as child processes (so their CPU and RSS are their own), statistics
 * and result files. Benchmarks are never part of `npm test`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What a finished tool run produced. */
export interface ToolResult {
  /** Exit code (null when killed). */
  code: number | null;
  /** Everything written to stdout. */
  stdout: string;
  /** Everything written to stderr. */
  stderr: string;
  /** Wall seconds from spawn to exit. */
  seconds: number;
}

/** Runs `cmd args` to completion; kills it (SIGKILL) after `timeoutMs`. */
export function runTool(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; env?: Record<string, string>; discardStdout?: boolean } = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', opts.discardStdout ? 'ignore' : 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      const seconds = (performance.now() - t0) / 1000;
      resolve({ code, stdout, stderr, seconds });
    });
  });
}

/** Like {@link runTool} but throws on a non-zero exit. */
export async function mustRun(
  cmd: string,
  args: string[],
  opts: Parameters<typeof runTool>[2] = {},
): Promise<ToolResult> {
  const r = await runTool(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r;
}

/** A child process of ours that printed `READY <json>` on stdout. */
export interface OurChild<T> {
  /** The process. */
  proc: ChildProcess;
  /** Its pid. */
  pid: number;
  /** What it printed after READY. */
  info: T;
  /** Sends SIGTERM and waits for the exit (SIGKILL after 5 s). */
  stop(): Promise<void>;
}

/**
 * Spawns the bench script `file` (a sibling of this folder's parent, e.g. `ovsdb-child`) with the
 * same Node flags as this process (so it runs as .ts under the TypeScript loader, or as .js from
 * dist/), in its own session (pitfall 9 of the baseline: scheduler autogroups), and waits for its
 * `READY {...}` line.
 */
export function spawnOurChild<T>(file: string, args: string[], extraNodeArgs: string[] = []) {
  const here = fileURLToPath(import.meta.url);
  const ext = here.endsWith('.ts') ? '.ts' : '.js';
  const script = join(dirname(here), '..', `${file}${ext}`);
  const proc = spawn(process.execPath, [...process.execArgv, ...extraNodeArgs, script, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
    env: { ...process.env, TSVS_LOG_LEVEL: process.env.TSVS_LOG_LEVEL ?? 'error' },
  });
  return new Promise<OurChild<T>>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${file}: no READY within 60 s`));
    }, 60_000);
    const onData = (s: string): void => {
      buf += s;
      const m = /READY (.*)\n/.exec(buf);
      if (!m) return;
      clearTimeout(timer);
      proc.stdout.off('data', onData);
      proc.stdout.resume();
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      resolve({
        proc,
        pid: proc.pid!,
        info: JSON.parse(m[1]!) as T,
        stop: async () => {
          if (proc.exitCode !== null || proc.signalCode !== null) return;
          proc.kill('SIGTERM');
          const k = setTimeout(() => proc.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(k);
        },
      });
    };
    proc.stdout.setEncoding('utf8').on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited (${code}) before READY`));
    });
  });
}

/** VmRSS of `pid` in KiB (NaN if unreadable). */
export function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

const CLK_TCK = 100;

/** User + system CPU seconds consumed so far by `pid` (all threads). */
export function cpuSeconds(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** A free TCP port on 127.0.0.1 (bound and released; a tiny race is acceptable here). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** The q-quantile (0..1) of `xs` by linear interpolation; NaN for an empty list. */
export function quantile(xs: readonly number[], q: number): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const pos = (v.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return v[lo]! + (v[hi]! - v[lo]!) * (pos - lo);
}

/** Median / min / max / n of a list. */
export interface Summary {
  /** Median. */
  median: number;
  /** Minimum. */
  min: number;
  /** Maximum. */
  max: number;
  /** Number of finite samples. */
  n: number;
}

/** Summarises `xs` (non-finite values ignored). */
export function summarize(xs: readonly number[]): Summary {
  const v = xs.filter((x) => Number.isFinite(x));
  return {
    median: quantile(v, 0.5),
    min: v.length ? Math.min(...v) : NaN,
    max: v.length ? Math.max(...v) : NaN,
    n: v.length,
  };
}

/** Formats a number with 3 significant digits (thousands separated). */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

/** `median (min–max), n` */
export function fmtSummary(s: Summary): string {
  if (s.n === 0) return 'n/a';
  return `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)}), n=${s.n}`;
}

/** One row of a side-by-side result table. */
export interface ResultRow {
  /** What was measured. */
  metric: string;
  /** Unit. */
  unit: string;
  /** Whether larger is better (ratio target direction). */
  higherIsBetter: boolean;
  /** Our samples. */
  tsvs: number[];
  /** OVS's samples (empty when there is no OVS side). */
  ovs: number[];
  /** The issue's target for tsvs/OVS, if any (e.g. 1.5 for ≥ 1.5×; for lower-is-better, ≤). */
  target?: number;
  /** Free-text note. */
  note?: string;
}

/** ratio tsvs/OVS of the medians */
export function ratio(r: ResultRow): number {
  return quantile(r.tsvs, 0.5) / quantile(r.ovs, 0.5);
}

/** Renders rows as a markdown table. */
export function markdownTable(rows: readonly ResultRow[]): string {
  const out = [
    '| measurement | unit | tsvs: median (min–max), n | OVS 3.1: median (min–max), n | tsvs/OVS | target | met |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const q = r.ovs.length ? ratio(r) : NaN;
    let target = '';
    let met = '';
    if (r.target !== undefined && Number.isFinite(q)) {
      target = `${r.higherIsBetter ? '≥' : '≤'} ${r.target}`;
      met = (r.higherIsBetter ? q >= r.target : q <= r.target) ? 'yes' : '**no**';
    }
    out.push(
      `| ${r.metric}${r.note ? ` (${r.note})` : ''} | ${r.unit} | ${fmtSummary(summarize(r.tsvs))} | ${r.ovs.length ? fmtSummary(summarize(r.ovs)) : '—'} | ${Number.isFinite(q) ? q.toFixed(2) : '—'} | ${target} | ${met} |`,
    );
  }
  return out.join('\n');
}

/** `YYYY-MM-DD` (UTC). */
export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/** Writes `bench/results/<name>-<date>.md` and `.json`; returns their paths. */
export function writeResults(
  name: string,
  markdown: string,
  json: unknown,
  outDir?: string,
): { md: string; json: string } {
  const here = fileURLToPath(import.meta.url);
  // bench/lib/common.ts -> bench/results; dist/bench/lib/common.js -> bench/results at the root.
  const root = here.includes('/dist/bench/')
    ? join(dirname(here), '..', '..', '..')
    : join(dirname(here), '..', '..');
  const dir = outDir ?? join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `${name}-${today()}`);
  writeFileSync(`${base}.md`, markdown);
  writeFileSync(`${base}.json`, JSON.stringify(json, null, 2) + '\n');
  return { md: `${base}.md`, json: `${base}.json` };
}

/** Load average line of /proc/loadavg (noise indicator for the report). */
export function loadAvg(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}

/** Sleeps `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Parses `--key value` / `--flag` options into a map (later ones win). */
export function parseOpts(argv: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) m.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) m.set(a.slice(2), argv[++i]!);
    else m.set(a.slice(2), 'true');
  }
  return m;
}

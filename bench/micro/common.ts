/**
 * Shared helpers of the tinybench micro-benchmarks: turning task results into rate lines.
 */
import type { Bench } from 'tinybench';

/** One micro-benchmark result. */
export interface MicroResult {
  /** Suite (file) name, e.g. `classifier`. */
  suite: string;
  /** Task name. */
  task: string;
  /** Operations per second (per item, when a call handles `perCall` items); NaN if it failed. */
  opsPerSec: number;
  /** Nanoseconds per operation. */
  nsPerOp: number;
  /** Relative margin of error of the mean call latency, %. */
  rme: number;
  /** Number of calls sampled. */
  samples: number;
}

/**
 * Results of every task of a finished `bench`, where each call handles `perCall` items (a number,
 * or a function of the task name).
 */
export function results(
  suite: string,
  bench: Bench,
  perCall: number | ((task: string) => number),
): MicroResult[] {
  return bench.tasks.map((task) => {
    const r = task.result;
    if (r.state !== 'completed')
      return { suite, task: task.name, opsPerSec: NaN, nsPerOp: NaN, rme: NaN, samples: 0 };
    const n = typeof perCall === 'number' ? perCall : perCall(task.name);
    // From the mean call latency (ms): tinybench's throughput statistic is a mean of reciprocals.
    const ns = (r.latency.mean * 1e6) / n;
    return {
      suite,
      task: task.name,
      opsPerSec: 1e9 / ns,
      nsPerOp: ns,
      rme: r.latency.rme,
      samples: r.latency.samplesCount,
    };
  });
}

/** `task: 1.23 M ops/s (812 ns/op, ±1.2%)` */
export function formatResult(r: MicroResult, unit = 'ops'): string {
  if (!Number.isFinite(r.opsPerSec)) return `${r.task}: failed`;
  const rate =
    r.opsPerSec >= 1e6
      ? `${(r.opsPerSec / 1e6).toFixed(2)} M`
      : r.opsPerSec >= 1e3
        ? `${(r.opsPerSec / 1e3).toFixed(1)} k`
        : r.opsPerSec.toFixed(1) + ' ';
  return `${r.task}: ${rate}${unit}/s (${r.nsPerOp.toFixed(r.nsPerOp < 100 ? 1 : 0)} ns/${unit === 'ops' ? 'op' : unit.replace(/s$/, '')}, ±${r.rme.toFixed(1)}%)`;
}

/** Whether the module at `url` is the program being run (`node file.js`). */
export function isMain(url: string): boolean {
  return url === `file://${process.argv[1]}`;
}

/**
 * Reads the saved output of `npm test` (tap) and prints exactly one final line,
 * `N passed, N failed`, then exits 1 if anything failed, 0 otherwise.
 *
 * Usage: `node dist/tools/ci-summary.js <tap-output-file> <tap-exit-code>`
 *
 * The counts come from tap's closing summary line (`# { total: X, pass: Y, fail: Z, ... }`).
 * It never reports 0 failed when something went wrong: a test file that crashed or timed out
 * shows as a top-level `not ok` line, and if the summary's fail count is lower than the number of
 * failed files, the file count wins; if tap exited non-zero (or printed no summary) with no failure
 * counted, at least 1 failure is reported.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** What {@link summarize} found in tap's output. */
export interface TapSummary {
  /** Passing assertions, from tap's summary line (0 if there was none). */
  passed: number;
  /** Failures: never 0 when the run failed. */
  failed: number;
  /** Skipped and todo assertions, from tap's summary line. */
  skipped: number;
  /** Top-level `not ok` lines, one per failed (or crashed) test file. */
  failedFiles: string[];
  /** True when tap's summary line was found. */
  sawSummary: boolean;
  /** Explanations when the counts were corrected. */
  notes: string[];
}

function field(obj: string, name: string): number {
  const m = new RegExp(`\\b${name}\\s*:\\s*(\\d+)`).exec(obj);
  return m ? Number(m[1]) : 0;
}

/** Extracts the counts from tap's output `text`, given tap's exit code. */
export function summarize(text: string, exitCode: number): TapSummary {
  // eslint-disable-next-line no-control-regex
  const lines = text.replace(/\x1b\[[0-9;]*m/g, '').split(/\r?\n/);
  let summaryLine: string | undefined;
  const failedFiles: string[] = [];
  for (const line of lines) {
    if (/^# \{.*\btotal\s*:/.test(line)) summaryLine = line;
    const m = /^not ok \d+ - (.*?)(?: # .*)?$/.exec(line);
    if (m) failedFiles.push(m[1] ?? '');
  }
  const notes: string[] = [];
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  if (summaryLine !== undefined) {
    passed = field(summaryLine, 'pass');
    failed = field(summaryLine, 'fail');
    skipped = field(summaryLine, 'skip') + field(summaryLine, 'todo');
  } else {
    notes.push("tap's summary line was not found in the output");
  }
  if (failed < failedFiles.length) {
    notes.push(`${failedFiles.length} test file(s) failed; counting each as a failure`);
    failed = failedFiles.length;
  }
  if (failed === 0 && (exitCode !== 0 || summaryLine === undefined)) {
    notes.push(`tap exited with code ${exitCode} without a counted failure; counting 1`);
    failed = 1;
  }
  return { passed, failed, skipped, failedFiles, sawSummary: summaryLine !== undefined, notes };
}

function main(argv: string[]): number {
  const [file, code] = argv;
  if (file === undefined || code === undefined || !/^\d+$/.test(code)) {
    process.stderr.write('usage: ci-summary <tap-output-file> <tap-exit-code>\n');
    return 2;
  }
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    process.stderr.write(`ci-summary: cannot read ${file}: ${(err as Error).message}\n`);
  }
  const s = summarize(text, Number(code));
  for (const f of s.failedFiles) process.stdout.write(`failed: ${f}\n`);
  for (const n of s.notes) process.stdout.write(`note: ${n}\n`);
  if (s.skipped > 0) process.stdout.write(`(${s.skipped} skipped or todo)\n`);
  process.stdout.write(`${s.passed} passed, ${s.failed} failed\n`);
  return s.failed > 0 ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}

/**
 * The pure part of `npm run bench:vs-ovs` (bench/vs-ovs.ts): parsing the peers harness's raw
 * result files, statistics, the tsvs/OVS ratios against the issue's targets, the markdown report,
 * the SVG chart of the ratios and the result files. No processes, no clocks: everything here is
 * unit-tested (tests/unit/bench/).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The two switches compared. */
export type SwitchName = 'ovs' | 'tsvs';

/** The measurement groups of the suite, in the order they run. */
export const GROUPS = ['mem', 'flowmod', 'ports', 'fwd', 'tcp', 'flowsetup', 'ovsdb'] as const;

/** One measurement group. */
export type GroupName = (typeof GROUPS)[number];

/** Whether `s` names a group. */
export function isGroup(s: string): s is GroupName {
  return (GROUPS as readonly string[]).includes(s);
}

/** One line of a peers harness `raw.tsv` (epoch, sut, metric, value, unit). */
export interface RawRecord {
  /** Unix time (s) when it was recorded. */
  epoch: number;
  /** SUT_NAME of the run. */
  sut: string;
  /** Metric name, e.g. `fwd.rule.mpps_per_core`. */
  metric: string;
  /** The value (always finite). */
  value: number;
  /** Unit as written by the harness (may be empty). */
  unit: string;
}

/**
 * Parses a peers `raw.tsv`. Lines with fewer than four fields, or whose value is not a finite
 * number (the harness writes `NA` when it cannot read RSS), are skipped.
 */
export function parseRawTsv(text: string): RawRecord[] {
  const out: RawRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const f = line.replace(/\r$/, '').split('\t');
    if (f.length < 4) continue;
    const value = f[3]!.trim() === '' ? NaN : Number(f[3]);
    if (!Number.isFinite(value)) continue;
    out.push({
      epoch: Number(f[0]),
      sut: f[1]!,
      metric: f[2]!,
      value,
      unit: f[4] ?? '',
    });
  }
  return out;
}

/** Samples per metric and switch. */
export type Samples = Record<string, Record<SwitchName, number[]>>;

/** Adds `value` to `samples[metric][sw]`. */
export function addSample(samples: Samples, metric: string, sw: SwitchName, value: number): void {
  const s = (samples[metric] ??= { ovs: [], tsvs: [] });
  s[sw].push(value);
}

/** Adds every record of `records` to `samples` under switch `sw` (the records' sut is ignored). */
export function addRecords(samples: Samples, sw: SwitchName, records: readonly RawRecord[]): void {
  for (const r of records) addSample(samples, r.metric, sw, r.value);
}

/** Median, min, max and count of the finite samples. */
export interface Stats {
  /** Median (mean of the two middle values for an even count); NaN when n = 0. */
  median: number;
  /** Minimum; NaN when n = 0. */
  min: number;
  /** Maximum; NaN when n = 0. */
  max: number;
  /** Number of finite samples. */
  n: number;
}

/** Median / min / max / n of `xs`, ignoring non-finite values. */
export function stats(xs: readonly number[]): Stats {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0]!, max: v[v.length - 1]!, n: v.length };
}

/** tsvs/OVS of two medians; NaN unless both are finite and OVS's is non-zero. */
export function ratio(tsvsMedian: number, ovsMedian: number): number {
  if (!Number.isFinite(tsvsMedian) || !Number.isFinite(ovsMedian) || ovsMedian === 0) return NaN;
  return tsvsMedian / ovsMedian;
}

/**
 * Whether `r` meets `target`: `r ≥ target` when higher is better, `r ≤ target` otherwise.
 * Undefined when there is no target or no ratio.
 */
export function targetMet(
  r: number,
  target: number | undefined,
  higherIsBetter: boolean,
): boolean | undefined {
  if (target === undefined || !Number.isFinite(r)) return undefined;
  return higherIsBetter ? r >= target : r <= target;
}

/** What one row of the report shows. */
export interface RowSpec {
  /** Metric key in {@link Samples}. */
  key: string;
  /** Group it belongs to (its errors explain missing values). */
  group: GroupName;
  /** Label in the table and the chart. */
  label: string;
  /** Unit shown (after `scale`). */
  unit: string;
  /** Whether larger values are better. */
  higherIsBetter: boolean;
  /** The issue's target for tsvs/OVS (≥ when higher is better, else ≤). */
  target?: number;
  /** Factor applied to every sample before display (e.g. 1/1024 for KiB → MiB). Default 1. */
  scale?: number;
  /**
   * A reference measured beside each switch (the C relay): both columns are shown, no ratio, and
   * it is left out of the chart.
   */
  ceiling?: boolean;
  /** Set when the row cannot be measured at all (shown instead of values). */
  unsupported?: string;
  /** An indented detail row (smaller in the chart, indented in the table). */
  detail?: boolean;
}

/** Sizes the row table is built for. */
export interface RowConfig {
  /** add-flows sizes (the largest also gives dump-flows / del-flows rows). */
  flowSizes: number[];
  /** Flow count of the memory test. */
  memSize: number;
  /** Port count of the port-scale test. */
  ports: number;
  /** Offered rates of the saturated flow-setup trials. */
  overload: number[];
  /** Monitors of the OVSDB fan-out test. */
  monitors: number;
}

/** The default (full) row configuration. */
export const FULL_ROWS: RowConfig = {
  flowSizes: [10000, 100000],
  memSize: 100000,
  ports: 500,
  overload: [50000, 100000, 200000],
  monitors: 50,
};

const KIB_TO_MIB = 1 / 1024;

/** The report's rows, in display order. */
export function rowSpecs(c: RowConfig): RowSpec[] {
  const rows: RowSpec[] = [];
  const r = (spec: RowSpec): void => void rows.push(spec);
  for (const [m, what] of [
    ['rule', 'one rule (in_port=1,actions=output:2)'],
    ['normal', 'actions=NORMAL'],
  ] as const) {
    r({
      key: `fwd.${m}.mpps_per_core`,
      group: 'fwd',
      label: `64 B forwarding, ${what}, Mpps per switch core`,
      unit: 'Mpps/core',
      higherIsBetter: true,
      target: 1.5,
    });
    r({
      key: `fwd.${m}.mpps`,
      group: 'fwd',
      label: 'the same, forwarded Mpps',
      unit: 'Mpps',
      higherIsBetter: true,
      detail: true,
    });
    r({
      key: `fwd.${m}.switch_cpu_pct`,
      group: 'fwd',
      label: 'the same, switch CPU',
      unit: '%',
      higherIsBetter: false,
      detail: true,
    });
    r({
      key: `fwd.${m}.ratio_vs_relay`,
      group: 'fwd',
      label: 'the same ÷ C relay, absolute Mpps in the same repeat',
      unit: '×',
      higherIsBetter: true,
      detail: true,
    });
  }
  r({
    key: 'fwd.relay.mpps_per_core',
    group: 'fwd',
    label: 'C relay ceiling (pf-relay, recvmmsg/sendmmsg ×32), Mpps per core',
    unit: 'Mpps/core',
    higherIsBetter: true,
    ceiling: true,
  });
  r({
    key: 'fwd.relay.mpps',
    group: 'fwd',
    label: 'C relay ceiling, forwarded Mpps',
    unit: 'Mpps',
    higherIsBetter: true,
    ceiling: true,
    detail: true,
  });
  r({
    key: 'flowsetup.nodrop_flows_per_s',
    group: 'flowsetup',
    label: 'new flows/s without loss (≤ 0.1%), 100k exact 5-tuple rules',
    unit: 'flows/s',
    higherIsBetter: true,
    target: 2,
  });
  for (const ov of c.overload) {
    r({
      key: `flowsetup.overload_${ov}pps.handled_per_s`,
      group: 'flowsetup',
      label: `offered ${ov} new flows/s → delivered`,
      unit: 'flows/s',
      higherIsBetter: true,
      detail: true,
    });
  }
  for (const [m, what] of [
    ['rule', 'rule'],
    ['normal', 'NORMAL'],
  ] as const) {
    r({
      key: `ping.${m}.median_us`,
      group: 'tcp',
      label: `ping RTT, ${what}, median`,
      unit: 'µs',
      higherIsBetter: false,
      target: 0.5,
    });
    r({
      key: `ping.${m}.p99_us`,
      group: 'tcp',
      label: 'the same, p99',
      unit: 'µs',
      higherIsBetter: false,
      detail: true,
    });
  }
  r({
    key: 'ping.relay.median_us',
    group: 'tcp',
    label: 'ping RTT through the C relay, median',
    unit: 'µs',
    higherIsBetter: false,
    ceiling: true,
  });
  for (const [m, what] of [
    ['rule', 'rule'],
    ['normal', 'NORMAL'],
  ] as const) {
    r({
      key: `tcp.${m}.gbps`,
      group: 'tcp',
      label: `iperf3 TCP, ${what}, no TSO (host tx offload off)`,
      unit: 'Gbit/s',
      higherIsBetter: true,
      target: 1.3,
    });
  }
  r({
    key: 'tcp.relay.gbps',
    group: 'tcp',
    label: 'iperf3 TCP through the C relay',
    unit: 'Gbit/s',
    higherIsBetter: true,
    ceiling: true,
  });
  r({
    key: 'tcp.tso.gbps',
    group: 'tcp',
    label: 'iperf3 TCP with TSO/GSO (PACKET_VNET_HDR; OVS userspace-tso-enable)',
    unit: 'Gbit/s',
    higherIsBetter: true,
    target: 1.0,
    unsupported:
      'tsvs has no PACKET_VNET_HDR (TSO/GSO pass-through) yet; OVS alone: 6.12 Gbit/s rule, 7.88 NORMAL (ovs-perf-baseline.md, ovs-extras.sh tso)',
  });
  const sizes = [...c.flowSizes].sort((a, b) => a - b);
  for (const n of sizes) {
    for (const [mode, target] of [
      ['plain', 1.5],
      ['bundle', 1.0],
    ] as const) {
      r({
        key: `flowmod.simple.${n}.${mode}.per_s`,
        group: 'flowmod',
        label: `add-flows ${n} simple, ${mode === 'plain' ? 'plain' : '--bundle'}`,
        unit: 'flow-mods/s',
        higherIsBetter: true,
        target,
      });
    }
  }
  const big = sizes[sizes.length - 1];
  if (big !== undefined) {
    r({
      key: `dumpflows.simple.${big}.seconds`,
      group: 'flowmod',
      label: `dump-flows of ${big} flows`,
      unit: 's',
      higherIsBetter: false,
      target: 1,
    });
    r({
      key: `delflows.simple.${big}.seconds`,
      group: 'flowmod',
      label: `del-flows of ${big} flows`,
      unit: 's',
      higherIsBetter: false,
      detail: true,
    });
  }
  r({
    key: 'mem.idle_rss_kb',
    group: 'mem',
    label: 'RSS idle (fresh switch, bridge + no flows)',
    unit: 'MiB',
    higherIsBetter: false,
    scale: KIB_TO_MIB,
  });
  r({
    key: `mem.simple_${c.memSize}_rss_kb`,
    group: 'mem',
    label: `RSS with ${c.memSize} simple flows`,
    unit: 'MiB',
    higherIsBetter: false,
    target: 1,
    scale: KIB_TO_MIB,
  });
  r({
    key: `mem.mixed_${c.memSize}_after_simple_rss_kb`,
    group: 'mem',
    label: `RSS with ${c.memSize} mixed flows (after the simple ones were deleted)`,
    unit: 'MiB',
    higherIsBetter: false,
    scale: KIB_TO_MIB,
    detail: true,
  });
  for (const k of ['tput1', 'tput8'] as const) {
    const n = k === 'tput1' ? 1 : 8;
    r({
      key: `ovsdb.${k}.rate`,
      group: 'ovsdb',
      label: `OVSDB transactions/s, ${n} client${n > 1 ? 's' : ''} (pipelined inserts, unix)`,
      unit: 'txn/s',
      higherIsBetter: true,
      target: 1.5,
    });
    r({
      key: `ovsdb.${k}.cpu`,
      group: 'ovsdb',
      label: 'the same, server CPU per transaction',
      unit: 'µs',
      higherIsBetter: false,
      detail: true,
    });
  }
  r({
    key: 'ovsdb.fanout.all',
    group: 'ovsdb',
    label: `OVSDB ${c.monitors}-client monitor fan-out: insert → all updated, median`,
    unit: 'ms',
    higherIsBetter: false,
  });
  r({
    key: 'ovsdb.fanout.reply',
    group: 'ovsdb',
    label: 'the same, insert → txn reply',
    unit: 'ms',
    higherIsBetter: false,
    detail: true,
  });
  r({
    key: `ports.internal.${c.ports}.one_txn_s`,
    group: 'ports',
    label: `${c.ports} internal ports in one ovs-vsctl transaction`,
    unit: 's',
    higherIsBetter: false,
  });
  r({
    key: `ports.internal.${c.ports}.separate_s`,
    group: 'ports',
    label: `${c.ports} internal ports, one ovs-vsctl call each`,
    unit: 's',
    higherIsBetter: false,
  });
  r({
    key: `ports.internal.${c.ports}.show_s`,
    group: 'ports',
    label: `ovs-vsctl show with ${c.ports} ports`,
    unit: 's',
    higherIsBetter: false,
    detail: true,
  });
  r({
    key: `ports.internal.${c.ports}.del_br_s`,
    group: 'ports',
    label: `del-br with ${c.ports} ports`,
    unit: 's',
    higherIsBetter: false,
    detail: true,
  });
  return rows;
}

/** One computed row. */
export interface ReportRow {
  /** Its spec. */
  spec: RowSpec;
  /** tsvs's scaled statistics. */
  tsvs: Stats;
  /** OVS's scaled statistics. */
  ovs: Stats;
  /** tsvs/OVS of the medians (NaN for ceiling rows or when a side is missing). */
  ratio: number;
  /** Whether the target is met (undefined without target or ratio). */
  met: boolean | undefined;
  /** Why tsvs (or both) has no value, when so. */
  missing?: string;
}

/**
 * Computes the rows. `groupErrors` explains missing values (e.g. `tsvs: bench-fwd.sh exited 1`);
 * groups not in `ran` are reported as not run.
 */
export function computeRows(
  specs: readonly RowSpec[],
  samples: Samples,
  ran: ReadonlySet<GroupName>,
  groupErrors: ReadonlyMap<GroupName, string[]>,
): ReportRow[] {
  return specs.map((spec) => {
    const k = spec.scale ?? 1;
    const s = samples[spec.key] ?? { ovs: [], tsvs: [] };
    const tsvs = stats(s.tsvs.map((x) => x * k));
    const ovs = stats(s.ovs.map((x) => x * k));
    const q = spec.ceiling ? NaN : ratio(tsvs.median, ovs.median);
    const row: ReportRow = {
      spec,
      tsvs,
      ovs,
      ratio: q,
      met: targetMet(q, spec.target, spec.higherIsBetter),
    };
    if (spec.unsupported) row.missing = `not measured: ${spec.unsupported}`;
    else if (!ran.has(spec.group)) row.missing = 'not run (--only)';
    else if (tsvs.n === 0 || ovs.n === 0) {
      const errs = groupErrors.get(spec.group);
      const who = tsvs.n === 0 && ovs.n === 0 ? 'either switch' : tsvs.n === 0 ? 'tsvs' : 'OVS';
      row.missing = `no value from ${who}${errs?.length ? `: ${errs.join('; ')}` : ' (see the log)'}`;
    }
    return row;
  });
}

/** Formats a number with about 3 significant digits (thousands separated). */
export function fmtNum(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a === 0) return '0';
  return x.toPrecision(3);
}

/** `median (min–max), n=N`, or `—` without samples. */
export function fmtStats(s: Stats): string {
  if (s.n === 0) return '—';
  return `${fmtNum(s.median)} (${fmtNum(s.min)}–${fmtNum(s.max)}), n=${s.n}`;
}

function esc(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** Everything the markdown report states besides the table. */
export interface ReportMeta {
  /** ISO start time. */
  startedAt: string;
  /** ISO end time. */
  finishedAt: string;
  /** The exact command line. */
  command: string;
  /** Repetitions per switch. */
  repeat: number;
  /** Whether `--quick` was given. */
  quick: boolean;
  /** Groups run. */
  groups: GroupName[];
  /** Machine description (cpus, kernel). */
  machine: string;
  /** Load average samples, labelled. */
  loads: string[];
  /** File name of the chart, relative to the report. */
  chart: string;
  /** Versions (OVS, node, tsvs). */
  versions: string[];
  /** Free-text notes (warnings from the harness, errors). */
  notes: string[];
  /** Where the raw data and logs are. */
  workDir: string;
}

/** The markdown table of `rows`. */
export function markdownTable(rows: readonly ReportRow[]): string {
  const out = [
    '| group | measurement | unit | tsvs: median (min–max), n | OVS 3.1: median (min–max), n | tsvs/OVS | target | met |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const s = r.spec;
    const label = `${s.detail ? '  ↳ ' : ''}${esc(s.label)}`;
    const target = s.target === undefined ? '' : `${s.higherIsBetter ? '≥' : '≤'} ${s.target}`;
    if (s.unsupported) {
      out.push(
        `| ${s.group} | ${label} | ${s.unit} | ${esc(r.missing ?? '')} | — | — | ${target} | — |`,
      );
      continue;
    }
    const q = s.ceiling ? 'ceiling' : Number.isFinite(r.ratio) ? r.ratio.toFixed(2) : '—';
    const met =
      r.met === undefined
        ? r.missing && s.target !== undefined
          ? '—'
          : ''
        : r.met
          ? 'yes'
          : '**no**';
    const ts = r.tsvs.n ? fmtStats(r.tsvs) : esc(r.missing ?? '—');
    const ov = r.ovs.n ? fmtStats(r.ovs) : r.tsvs.n ? esc(r.missing ?? '—') : '—';
    out.push(`| ${s.group} | ${label} | ${s.unit} | ${ts} | ${ov} | ${q} | ${target} | ${met} |`);
  }
  return out.join('\n');
}

/** The summary lines: targets met / not met / not measured. */
export function targetSummary(rows: readonly ReportRow[]): string[] {
  const withTarget = rows.filter((r) => r.spec.target !== undefined);
  const met = withTarget.filter((r) => r.met === true);
  const notMet = withTarget.filter((r) => r.met === false);
  const none = withTarget.filter((r) => r.met === undefined);
  const name = (r: ReportRow): string =>
    `${r.spec.label}${Number.isFinite(r.ratio) ? ` (${r.ratio.toFixed(2)})` : ''}`;
  return [
    `Targets met: ${met.length} of ${withTarget.length}${met.length ? ` — ${met.map(name).join('; ')}` : ''}.`,
    `Not met: ${notMet.length}${notMet.length ? ` — ${notMet.map(name).join('; ')}` : ''}.`,
    `Not measured: ${none.length}${none.length ? ` — ${none.map((r) => r.spec.label).join('; ')}` : ''}.`,
  ];
}

/** The whole markdown report. */
export function renderMarkdown(meta: ReportMeta, rows: readonly ReportRow[]): string {
  return [
    `# tsvs vs Open vSwitch 3.1, side by side (${meta.startedAt})`,
    '',
    `Command: \`${meta.command}\``,
    '',
    `Finished ${meta.finishedAt}. ${meta.repeat} repeat(s) per switch${meta.quick ? ' (--quick: short durations, smaller sizes — a smoke run, not a measurement)' : ''}; groups: ${meta.groups.join(', ')}.`,
    'Each repeat starts both switches fresh; the two switches run the same peers harness script one after',
    'the other (the order flips every repeat), so every ratio compares figures taken minutes apart under the',
    'same machine load. Ratios are tsvs/OVS of the medians.',
    '',
    `Machine: ${meta.machine}. **Shared with other jobs** — load averages: ${meta.loads.join(' → ')}.`,
    `Absolute rates on this VM are good to about ±30%; per-core figures and same-repeat ratios are steadier.`,
    '',
    `Versions: ${meta.versions.join('; ')}.`,
    '',
    markdownTable(rows),
    '',
    ...targetSummary(rows),
    '',
    `![tsvs/OVS ratios](${meta.chart})`,
    '',
    ...(meta.notes.length ? ['## Notes', '', ...meta.notes.map((n) => `- ${n}`), ''] : []),
    `Raw data and logs: \`${meta.workDir}\` (per group, repeat and switch: the harness's raw.tsv and log).`,
    '',
  ].join('\n');
}

function xmlEsc(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** Chart scale: log2 of the ratio, clamped to [-CHART_LOG2, +CHART_LOG2]. */
export const CHART_LOG2 = 3;

/**
 * An SVG bar chart of the ratios of `rows` that have one (ceiling rows and missing values are
 * left out; unsupported rows are listed as "not measured"). Log scale from 1/8 to 8 around 1; a
 * bar is green when its target is met, red when not, grey without a target; a tick marks the
 * target.
 */
export function renderRatioChart(rows: readonly ReportRow[], title = 'tsvs / OVS 3.1'): string {
  const shown = rows.filter(
    (r) => !r.spec.ceiling && (Number.isFinite(r.ratio) || r.spec.target !== undefined),
  );
  const labelW = 470;
  const plotW = 420;
  const rowH = 20;
  const top = 48;
  const width = labelW + plotW + 70;
  const height = top + shown.length * rowH + 40;
  const x = (q: number): number => {
    const l = Math.max(-CHART_LOG2, Math.min(CHART_LOG2, Math.log2(q)));
    return labelW + ((l + CHART_LOG2) / (2 * CHART_LOG2)) * plotW;
  };
  const o: string[] = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
  );
  o.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  o.push(`<text x="10" y="18" font-size="14" font-weight="bold">${xmlEsc(title)}</text>`);
  o.push(
    `<text x="10" y="34" fill="#555">log scale; green: target met, red: not met, grey: no target; | target; ↓ lower is better</text>`,
  );
  for (let l = -CHART_LOG2; l <= CHART_LOG2; l++) {
    const q = 2 ** l;
    const gx = x(q).toFixed(1);
    o.push(
      `<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${top + shown.length * rowH}" stroke="${l === 0 ? '#000' : '#ddd'}"/>`,
    );
    o.push(
      `<text x="${gx}" y="${top + shown.length * rowH + 14}" text-anchor="middle">${l < 0 ? `1/${2 ** -l}` : String(q)}</text>`,
    );
  }
  shown.forEach((r, i) => {
    const y = top + i * rowH;
    const label = `${r.spec.label}${r.spec.higherIsBetter ? '' : ' ↓'}`;
    o.push(
      `<text x="${r.spec.detail ? 22 : 10}" y="${y + 14}"${r.spec.detail ? ' fill="#555"' : ''}>${xmlEsc(label.length > 78 ? label.slice(0, 77) + '…' : label)}</text>`,
    );
    if (!Number.isFinite(r.ratio)) {
      o.push(`<text x="${labelW + 4}" y="${y + 14}" fill="#999">not measured</text>`);
      return;
    }
    const x0 = x(1);
    const x1 = x(r.ratio);
    const color = r.met === undefined ? '#9e9e9e' : r.met ? '#2e7d32' : '#c62828';
    o.push(
      `<rect x="${Math.min(x0, x1).toFixed(1)}" y="${y + 4}" width="${Math.max(1, Math.abs(x1 - x0)).toFixed(1)}" height="${rowH - 8}" fill="${color}"/>`,
    );
    if (r.spec.target !== undefined) {
      const tx = x(r.spec.target).toFixed(1);
      o.push(
        `<line x1="${tx}" y1="${y + 1}" x2="${tx}" y2="${y + rowH - 1}" stroke="#000" stroke-width="2"/>`,
      );
    }
    o.push(`<text x="${labelW + plotW + 6}" y="${y + 14}">${r.ratio.toFixed(2)}×</text>`);
  });
  o.push('</svg>');
  return o.join('\n') + '\n';
}

/** Picks a file base name in `dir`: `<stem>`, or `<stem>-<suffix>` when `<stem>.md` exists. */
export function pickBaseName(dir: string, stem: string, suffix: string): string {
  return existsSync(join(dir, `${stem}.md`)) ? `${stem}-${suffix}` : stem;
}

/** Writes `<base>.md`, `<base>.json` and `<base>.svg` into `dir`; returns the three paths. */
export function writeReport(
  dir: string,
  base: string,
  markdown: string,
  json: unknown,
  svg: string,
): { md: string; json: string; svg: string } {
  mkdirSync(dir, { recursive: true });
  const p = {
    md: join(dir, `${base}.md`),
    json: join(dir, `${base}.json`),
    svg: join(dir, `${base}.svg`),
  };
  writeFileSync(p.md, markdown);
  writeFileSync(p.json, JSON.stringify(json, null, 2) + '\n');
  writeFileSync(p.svg, svg);
  return p;
}

/** The JSON form of the rows (NaN → null). */
export function rowsJson(rows: readonly ReportRow[]): unknown[] {
  const num = (x: number): number | null => (Number.isFinite(x) ? x : null);
  const st = (s: Stats): unknown => ({
    median: num(s.median),
    min: num(s.min),
    max: num(s.max),
    n: s.n,
  });
  return rows.map((r) => ({
    key: r.spec.key,
    group: r.spec.group,
    label: r.spec.label,
    unit: r.spec.unit,
    higherIsBetter: r.spec.higherIsBetter,
    target: r.spec.target ?? null,
    ceiling: r.spec.ceiling ?? false,
    tsvs: st(r.tsvs),
    ovs: st(r.ovs),
    ratio: num(r.ratio),
    met: r.met ?? null,
    missing: r.missing ?? null,
  }));
}

/**
 * Maps the samples of bench/ovsdb.ts's JSON (`samples: {key: {tsvs, ovs}}`, keys like
 * `tput1.unix.rate`) onto this report's keys (`ovsdb.tput1.rate`) for transport `tr`.
 */
export function ovsdbSamples(
  json: { samples?: Record<string, { tsvs?: number[]; ovs?: number[] }> },
  tr = 'unix',
): Samples {
  const out: Samples = {};
  for (const [k, v] of Object.entries(json.samples ?? {})) {
    const parts = k.split('.');
    if (parts.length !== 3 || parts[1] !== tr) continue;
    const key = `ovsdb.${parts[0]}.${parts[2]}`;
    out[key] = { ovs: [...(v.ovs ?? [])], tsvs: [...(v.tsvs ?? [])] };
  }
  return out;
}

/**
 * Progress lines worth forwarding from a harness log: everything but the indented `record` echo
 * and the per-metric lines of the closing summary (`name: median … (n=N)` / `name: no values`).
 */
export function progressLines(chunk: string): string[] {
  return chunk
    .split('\n')
    .filter(
      (l) =>
        l.trim() !== '' &&
        !l.startsWith('  ') &&
        !/^\S+: (median .*\(n=\d+\)|no values)$/.test(l.trim()),
    );
}

/** `WARNING` / `ERROR` lines of a harness log. */
export function warningLines(log: string): string[] {
  return log.split('\n').filter((l) => /WARNING|ERROR|warning:|failed/i.test(l));
}

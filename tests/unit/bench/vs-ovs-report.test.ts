import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  FULL_ROWS,
  addRecords,
  computeRows,
  fmtNum,
  fmtStats,
  isGroup,
  markdownTable,
  ovsdbSamples,
  parseRawTsv,
  pickBaseName,
  progressLines,
  ratio,
  renderMarkdown,
  renderRatioChart,
  rowSpecs,
  rowsJson,
  stats,
  targetMet,
  warningLines,
  writeReport,
  type GroupName,
  type ReportMeta,
  type RowSpec,
  type Samples,
} from '../../../bench/lib/vs-ovs-report.js';

// Lines as the peers harness's lib.sh `record` writes them (epoch, sut, metric, value, unit).
const RAW = [
  '1795255761\ttsvs\tfwd.relay.mpps\t0.18082082181168216\tMpps',
  '1795255761\ttsvs\tfwd.relay.drop_ratio\t0.6322\t',
  '1795255762\ttsvs\tmem.idle_rss_kb\tNA\tKiB',
  '1795255763\ttsvs\tfwd.rule.mpps_per_core\t0.1976\tMpps/core',
  'garbage line',
  '',
  '1795255764\ttsvs\tflowsetup.nodrop_flows_per_s\t20000\tflows/s\r',
].join('\n');

t.test('parseRawTsv reads harness records and skips NA and malformed lines', (t) => {
  const r = parseRawTsv(RAW);
  t.same(
    r.map((x) => [x.metric, x.value, x.unit]),
    [
      ['fwd.relay.mpps', 0.18082082181168216, 'Mpps'],
      ['fwd.relay.drop_ratio', 0.6322, ''],
      ['fwd.rule.mpps_per_core', 0.1976, 'Mpps/core'],
      ['flowsetup.nodrop_flows_per_s', 20000, 'flows/s'],
    ],
  );
  t.equal(r[0]!.epoch, 1795255761);
  t.equal(r[0]!.sut, 'tsvs');
  t.same(parseRawTsv(''), []);
  t.same(parseRawTsv('1\tx\tm\t\tu'), [], 'an empty value is not a zero');
  t.end();
});

t.test('stats: median of odd and even counts, min, max, n; non-finite ignored', (t) => {
  t.same(stats([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
  t.same(stats([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4, n: 4 });
  t.same(stats([5, NaN, Infinity]), { median: 5, min: 5, max: 5, n: 1 });
  const e = stats([]);
  t.equal(e.n, 0);
  t.ok(Number.isNaN(e.median) && Number.isNaN(e.min) && Number.isNaN(e.max));
  t.end();
});

t.test('ratio and targetMet follow the direction of the metric', (t) => {
  t.equal(ratio(3, 2), 1.5);
  t.ok(Number.isNaN(ratio(3, 0)));
  t.ok(Number.isNaN(ratio(NaN, 2)));
  t.ok(Number.isNaN(ratio(3, NaN)));
  t.equal(targetMet(1.5, 1.5, true), true);
  t.equal(targetMet(1.49, 1.5, true), false);
  t.equal(targetMet(0.5, 0.5, false), true);
  t.equal(targetMet(0.51, 0.5, false), false);
  t.equal(targetMet(2, undefined, true), undefined);
  t.equal(targetMet(NaN, 1, true), undefined);
  t.end();
});

t.test('rowSpecs covers every measurement of issue 11 with its target', (t) => {
  const specs = rowSpecs(FULL_ROWS);
  const by = new Map(specs.map((s) => [s.key, s]));
  const want: [string, number, boolean][] = [
    ['fwd.rule.mpps_per_core', 1.5, true],
    ['fwd.normal.mpps_per_core', 1.5, true],
    ['flowsetup.nodrop_flows_per_s', 2, true],
    ['ping.rule.median_us', 0.5, false],
    ['tcp.rule.gbps', 1.3, true],
    ['tcp.tso.gbps', 1.0, true],
    ['flowmod.simple.10000.plain.per_s', 1.5, true],
    ['flowmod.simple.10000.bundle.per_s', 1.0, true],
    ['flowmod.simple.100000.plain.per_s', 1.5, true],
    ['flowmod.simple.100000.bundle.per_s', 1.0, true],
    ['dumpflows.simple.100000.seconds', 1, false],
    ['mem.simple_100000_rss_kb', 1, false],
    ['ovsdb.tput1.rate', 1.5, true],
    ['ovsdb.tput8.rate', 1.5, true],
  ];
  for (const [key, target, hib] of want) {
    const s = by.get(key);
    t.ok(s, key);
    t.equal(s?.target, target, `${key} target`);
    t.equal(s?.higherIsBetter, hib, `${key} direction`);
  }
  for (const key of [
    'fwd.relay.mpps_per_core',
    'mem.idle_rss_kb',
    'ovsdb.fanout.all',
    'ports.internal.500.one_txn_s',
    'ports.internal.500.separate_s',
  ])
    t.ok(by.has(key), key);
  t.equal(by.get('fwd.relay.mpps_per_core')?.ceiling, true);
  t.ok(by.get('tcp.tso.gbps')?.unsupported, 'TSO row says why it is not measured');
  t.equal(new Set(specs.map((s) => s.key)).size, specs.length, 'keys are unique');
  for (const s of specs) t.ok(isGroup(s.group), `${s.key} group`);
  const q = rowSpecs({ ...FULL_ROWS, flowSizes: [10000], memSize: 10000, ports: 50 });
  t.ok(
    q.some((s) => s.key === 'dumpflows.simple.10000.seconds'),
    'largest size gives dump row',
  );
  t.ok(q.some((s) => s.key === 'ports.internal.50.one_txn_s'));
  t.end();
});

const SPECS: RowSpec[] = [
  { key: 'a', group: 'fwd', label: 'fwd a', unit: 'Mpps', higherIsBetter: true, target: 1.5 },
  {
    key: 'b',
    group: 'mem',
    label: 'rss',
    unit: 'MiB',
    higherIsBetter: false,
    target: 1,
    scale: 1 / 1024,
  },
  { key: 'c', group: 'fwd', label: 'relay', unit: 'Mpps', higherIsBetter: true, ceiling: true },
  {
    key: 'd',
    group: 'tcp',
    label: 'tso',
    unit: 'Gbit/s',
    higherIsBetter: true,
    target: 1,
    unsupported: 'no vnet',
  },
  { key: 'e', group: 'flowmod', label: 'bundle', unit: '/s', higherIsBetter: true, target: 1 },
  { key: 'f', group: 'ports', label: 'ports', unit: 's', higherIsBetter: false },
];

function sampleSet(): Samples {
  const s: Samples = {};
  addRecords(
    s,
    'tsvs',
    parseRawTsv('1\ttsvs\ta\t3\n1\ttsvs\ta\t1\n1\ttsvs\ta\t2\n1\ttsvs\tb\t2048\n1\ttsvs\tc\t0.2'),
  );
  addRecords(
    s,
    'ovs',
    parseRawTsv('1\tovs\ta\t1\n1\tovs\ta\t1\n1\tovs\tb\t1024\n1\tovs\tc\t0.25\n1\tovs\te\t50'),
  );
  return s;
}

t.test('computeRows: scaling, ratios, targets, ceilings and reasons for missing values', (t) => {
  const errors = new Map<GroupName, string[]>([
    ['flowmod', ['tsvs repeat 1: bench-flowmod.sh exited 1']],
  ]);
  const rows = computeRows(
    SPECS,
    sampleSet(),
    new Set<GroupName>(['fwd', 'mem', 'tcp', 'flowmod']),
    errors,
  );
  const [a, b, c, d, e, f] = rows;
  t.equal(a!.tsvs.median, 2);
  t.equal(a!.ratio, 2);
  t.equal(a!.met, true);
  t.equal(a!.missing, undefined);
  t.equal(b!.tsvs.median, 2, 'KiB scaled to MiB');
  t.equal(b!.ovs.median, 1);
  t.equal(b!.ratio, 2);
  t.equal(b!.met, false, 'lower is better: 2x the RSS misses ≤ 1');
  t.ok(Number.isNaN(c!.ratio), 'no ratio for a ceiling');
  t.equal(c!.met, undefined);
  t.match(d!.missing, /^not measured: no vnet/);
  t.match(e!.missing, /no value from tsvs: tsvs repeat 1: bench-flowmod.sh exited 1/);
  t.equal(e!.met, undefined);
  t.equal(f!.missing, 'not run (--only)');
  t.end();
});

t.test('markdown table and target summary', (t) => {
  const rows = computeRows(
    SPECS,
    sampleSet(),
    new Set<GroupName>(['fwd', 'mem', 'tcp', 'flowmod', 'ports']),
    new Map(),
  );
  const md = markdownTable(rows);
  const lines = md.split('\n');
  t.equal(lines.length, 2 + SPECS.length);
  t.match(
    lines[2],
    /\| fwd \| fwd a \| Mpps \| 2\.00 \(1\.00–3\.00\), n=3 \| 1\.00 \(1\.00–1\.00\), n=2 \| 2\.00 \| ≥ 1\.5 \| yes \|/,
  );
  t.match(lines[3], /\| 2\.00 \| ≤ 1 \| \*\*no\*\* \|$/);
  t.match(lines[4], /\| ceiling \|/);
  t.match(lines[5], /not measured: no vnet/);
  t.match(lines[6], /no value from tsvs \(see the log\)/);
  const meta: ReportMeta = {
    startedAt: '2026-11-21T10:00:00.000Z',
    finishedAt: '2026-11-21T10:30:00.000Z',
    command: 'node dist/bench/vs-ovs.js',
    repeat: 3,
    quick: false,
    groups: ['fwd', 'mem'],
    machine: '2 cpus',
    loads: ['start 1 1 1', 'end 2 2 2'],
    chart: '2026-11-21.svg',
    versions: ['ovs 3.1.0', 'tsvs 0.1.0'],
    notes: ['a | note'],
    workDir: '/tmp/pf-x',
  };
  const full = renderMarkdown(meta, rows);
  t.match(full, /Command: `node dist\/bench\/vs-ovs\.js`/);
  t.match(full, /Shared with other jobs/);
  t.match(full, /start 1 1 1 → end 2 2 2/);
  t.match(full, /!\[tsvs\/OVS ratios\]\(2026-11-21\.svg\)/);
  t.match(full, /Targets met: 1 of 4 — fwd a \(2\.00\)\./);
  t.match(full, /Not met: 1 — rss \(2\.00\)\./);
  t.match(full, /Not measured: 2 — tso; bundle\./);
  t.match(full, /- a \| note/);
  t.end();
});

t.test('fmtNum / fmtStats', (t) => {
  t.equal(fmtNum(123456.7), '123,457');
  t.equal(fmtNum(123.4), '123');
  t.equal(fmtNum(12.34), '12.3');
  t.equal(fmtNum(1.234), '1.23');
  t.equal(fmtNum(0.01234), '0.0123');
  t.equal(fmtNum(0), '0');
  t.equal(fmtNum(NaN), 'n/a');
  t.equal(fmtStats(stats([])), '—');
  t.equal(fmtStats(stats([1, 2, 3])), '2.00 (1.00–3.00), n=3');
  t.end();
});

t.test('renderRatioChart draws one bar per ratio, coloured by target, and escapes text', (t) => {
  const specs: RowSpec[] = [
    ...SPECS,
    { key: 'g', group: 'fwd', label: 'x < y & "z"', unit: '', higherIsBetter: true },
  ];
  const s = sampleSet();
  s.g = { tsvs: [100], ovs: [1] };
  const rows = computeRows(
    specs,
    s,
    new Set<GroupName>(['fwd', 'mem', 'tcp', 'flowmod', 'ports']),
    new Map(),
  );
  const svg = renderRatioChart(rows, 'title & more');
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.match(svg, /<\/svg>\n$/);
  t.match(svg, /title &amp; more/);
  t.match(svg, /x &lt; y &amp; &quot;z&quot;/);
  t.notMatch(svg, />relay</, 'ceiling rows are not charted');
  t.notMatch(svg, />ports</, 'rows without ratio or target are not charted');
  const bars =
    svg.match(/<rect x="[^"]+" y="[^"]+" width="[^"]+" height="[^"]+" fill="#[0-9a-f]+"\/>/g) ?? [];
  t.equal(bars.length, 3, 'bars for a, b and g');
  t.match(svg, /fill="#2e7d32"/, 'met is green');
  t.match(svg, /fill="#c62828"/, 'not met is red');
  t.match(svg, /fill="#9e9e9e"/, 'no target is grey');
  t.equal((svg.match(/not measured/g) ?? []).length, 2, 'tso and bundle: target but no ratio');
  t.match(svg, />100\.00×</);
  // A ratio of 100 is clamped to the right edge (2^3), not drawn off the chart.
  const width = Number(/width="(\d+)"/.exec(svg)![1]);
  for (const b of bars) {
    const m = /x="([^"]+)" y="[^"]+" width="([^"]+)"/.exec(b)!;
    t.ok(Number(m[1]) + Number(m[2]) <= width, 'bar inside the chart');
  }
  t.end();
});

t.test('writeReport and pickBaseName', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-bench-report-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.equal(pickBaseName(dir, '2026-11-21', '1030'), '2026-11-21');
  const p = writeReport(dir, '2026-11-21', '# md\n', { a: 1 }, '<svg/>\n');
  t.equal(readFileSync(p.md, 'utf8'), '# md\n');
  t.same(JSON.parse(readFileSync(p.json, 'utf8')), { a: 1 });
  t.equal(readFileSync(p.svg, 'utf8'), '<svg/>\n');
  t.equal(pickBaseName(dir, '2026-11-21', '1030'), '2026-11-21-1030', 'never overwrites a report');
  writeFileSync(join(dir, 'other.json'), '{}');
  t.equal(pickBaseName(dir, 'other', 'x'), 'other', 'only an existing .md counts');
  t.end();
});

t.test('rowsJson turns NaN into null', (t) => {
  const rows = computeRows(SPECS, sampleSet(), new Set<GroupName>(['fwd']), new Map());
  const j = rowsJson(rows) as {
    key: string;
    ratio: number | null;
    tsvs: { median: number | null };
  }[];
  t.equal(j[0]!.ratio, 2);
  t.equal(j[2]!.ratio, null);
  t.equal(j[5]!.tsvs.median, null);
  t.doesNotThrow(() => JSON.stringify(j));
  t.end();
});

t.test('ovsdbSamples maps bench/ovsdb.ts samples of one transport', (t) => {
  const s = ovsdbSamples({
    samples: {
      'tput1.unix.rate': { tsvs: [10, 12], ovs: [5] },
      'tput1.tcp.rate': { tsvs: [1], ovs: [1] },
      'fanout.unix.all': { tsvs: [3], ovs: [4] },
      'size.after': { tsvs: [1], ovs: [2] },
    },
  });
  t.same(s, {
    'ovsdb.tput1.rate': { tsvs: [10, 12], ovs: [5] },
    'ovsdb.fanout.all': { tsvs: [3], ovs: [4] },
  });
  t.same(ovsdbSamples({}), {});
  t.end();
});

t.test('progressLines and warningLines filter harness logs', (t) => {
  const log = [
    '[10:15:11] bench-fwd: SUT=ovs modes=[relay rule normal]',
    '  fwd.relay.mpps                           0.03 Mpps',
    '== bench-fwd summary (ovs) ==',
    'fwd.relay.mpps: median 0.0308627 min 0.0308627 max 0.0308627  (n=1)',
    'fwd.x: no values',
    '[10:15:12] WARNING: expected 100000 flows, switch reports 99999',
    '',
  ].join('\n');
  t.same(progressLines(log), [
    '[10:15:11] bench-fwd: SUT=ovs modes=[relay rule normal]',
    '== bench-fwd summary (ovs) ==',
    '[10:15:12] WARNING: expected 100000 flows, switch reports 99999',
  ]);
  t.same(warningLines(log), ['[10:15:12] WARNING: expected 100000 flows, switch reports 99999']);
  t.end();
});

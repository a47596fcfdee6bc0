/**
 * Classifier lookups/s, tsvs's `Classifier` (ofproto/classifier.ts) beside OVS 3.1's own
 * classifier measured by OVS's `ovstest test-classifier benchmark`, in the same run (issue 5:
 * 10k rules over 1/10/50 masks). Not part of `npm test`.
 *
 * Run: `npm run bench:classifier` (= `node dist/bench/classifier-vs-ovs.js`), or from sources
 * `node --import=file://$PWD/node_modules/@tapjs/typescript/dist/esm/import.mjs
 * bench/classifier-vs-ovs.ts`. Options: `--rules N` (10000), `--priorities P[,P…]` (10000),
 * `--masks 1,10,50`, `--lookups N` (1000000), `--repeat N` (3; medians reported), `--variants
 * ovs31,honoured`, `--out DIR` (bench/results), `--no-write`.
 *
 * OVS's side: bench/ovs-ovstest.sh builds `ovstest` (and, for the `honoured` variant, `ovstest-wc`)
 * from Debian's source of the installed openvswitch; if that fails this program says why and
 * exits 1 (no figures without OVS's). For every variant × priorities × masks it runs
 * `ovstest test-classifier benchmark RULES P MASKS 1 LOOKUPS` (one thread) and parses both of its
 * passes (without and with wildcard tracking), then builds our classifier with the same
 * generator design (bench/lib/classifier-gen.ts) and times the same number of lookups in both
 * modes. Order per configuration alternates (OVS first, then tsvs first).
 *
 * Variants: `ovs31` is OVS 3.1's benchmark as shipped, where every rule matches all 13 fields
 * exactly, so `<n_subtables>` changes nothing and there is ONE mask; `honoured` applies each
 * subtable's wildcard set (OVS binary rebuilt with that one-line change), so 1/10/50 masks really
 * exist. Results: a table on stdout and `bench/results/classifier-<date>-<HHMM>.json`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  generate,
  runLookups,
  expectedHitRate,
  type GenParams,
  type WildcardMode,
  type LookupRun,
} from './lib/classifier-gen.js';
import { loadAvg, parseOpts, runTool } from './lib/common.js';

/** One pass of OVS's benchmark output. */
export interface OvsPass {
  /** Lookups that returned a rule. */
  hits: number;
  /** Lookups that returned none. */
  misses: number;
  /** Milliseconds OVS measured (whole milliseconds). */
  ms: number;
  /** Lookups/s as OVS printed it. */
  lookupsPerSec: number;
}

/** Both passes of one `ovstest test-classifier benchmark` run. */
export interface OvsRun {
  /** The pass without wildcard tracking (`classifier_lookup(..., NULL)`). */
  noWc: OvsPass;
  /** The pass with wildcard tracking. */
  wc: OvsPass;
}

/**
 * Parses the output of `ovstest test-classifier benchmark`: a "Without wildcards" and a "With
 * wildcards" section, each with `hits: H, misses: M` and `classifier lookups: T ms, R
 * lookups/sec`. Throws when either is missing.
 */
export function parseOvsBenchmark(out: string): OvsRun {
  const section = (title: string, next: string | undefined): OvsPass => {
    const from = out.indexOf(title);
    if (from < 0) throw new Error(`ovstest output has no "${title}" section`);
    const to = next === undefined ? out.length : out.indexOf(next, from + title.length);
    const s = out.slice(from, to < 0 ? out.length : to);
    const h = /hits:\s*(\d+),\s*misses:\s*(\d+)/.exec(s);
    const l = /classifier lookups:\s*(\d+)\s*ms,\s*(\d+)\s*lookups\/sec/.exec(s);
    if (!h || !l) throw new Error(`ovstest "${title}" section is not as expected: ${s.trim()}`);
    return {
      hits: Number(h[1]),
      misses: Number(h[2]),
      ms: Number(l[1]),
      lookupsPerSec: Number(l[2]),
    };
  };
  return {
    noWc: section('Without wildcards', 'With wildcards'),
    wc: section('With wildcards', undefined),
  };
}

/** One row of the result table. */
export interface Row {
  /** Generator variant. */
  variant: WildcardMode;
  /** Distinct priorities asked for. */
  priorities: number;
  /** Subtables asked for (`<n_subtables>`). */
  masksAsked: number;
  /** Distinct masks in our classifier (OVS's are the same by construction). */
  masks: number;
  /** Rules inserted in ours (after dropping duplicates). */
  rules: number;
  /** Wildcard tracking on. */
  wc: boolean;
  /** Our lookups/s (median over repeats). */
  tsvs: number;
  /** OVS's lookups/s as printed (median over repeats). */
  ovs: number;
  /** tsvs / OVS of the medians. */
  ratio: number;
  /** Our hit fraction. */
  hitTsvs: number;
  /** OVS's hit fraction. */
  hitOvs: number;
  /** Hit fraction the design predicts. */
  hitExpected: number;
  /** Our lookups/s of every repeat. */
  tsvsSamples: number[];
  /** OVS's lookups/s of every repeat. */
  ovsSamples: number[];
}

/** The median of `xs` (mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Our side of one configuration. */
export interface TsvsRun {
  /** The timed lookups without wildcard tracking. */
  noWc: LookupRun;
  /** The timed lookups with wildcard tracking. */
  wc: LookupRun;
  /** Rules inserted. */
  rules: number;
  /** Distinct masks (subtables) in the classifier. */
  masks: number;
  /** Draws dropped as duplicates. */
  dups: number;
  /** Hit fraction the design predicts. */
  expected: number;
}

/**
 * Builds the classifier of `p` and times `nLookups` lookups without, then with, wildcard
 * tracking, each after an untimed warm-up of a tenth as many (JIT).
 */
export function measureTsvs(p: GenParams, nLookups: number): TsvsRun {
  const g = generate(p);
  const warm = Math.max(1, Math.floor(nLookups / 10));
  runLookups(g.cls, g.flows, warm, false);
  const noWc = runLookups(g.cls, g.flows, nLookups, false);
  runLookups(g.cls, g.flows, warm, true);
  const wc = runLookups(g.cls, g.flows, nLookups, true);
  return {
    noWc,
    wc,
    rules: g.rules.length,
    masks: g.cls.subtableCount,
    dups: g.duplicates,
    expected: expectedHitRate(p.mode, g.wildcardSets, p.nRules),
  };
}

/**
 * {@link measureTsvs} in a fresh Node process (this file with `--child JSON`, same loader
 * flags), as OVS's side runs a fresh ovstest per configuration: no JIT state carried over from
 * other configurations.
 */
async function runTsvsChild(p: GenParams, nLookups: number): Promise<TsvsRun> {
  const r = await runTool(
    process.execPath,
    [
      ...process.execArgv,
      fileURLToPath(import.meta.url),
      '--child',
      JSON.stringify({ p, nLookups }),
    ],
    { timeoutMs: 20 * 60_000 },
  );
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !line.startsWith('{'))
    throw new Error(`tsvs child failed (${r.code}): ${r.stderr}`);
  return JSON.parse(line) as TsvsRun;
}

/** Which classifier the run measured. */
export interface ClassifierSource {
  /** `git rev-parse --short HEAD`, or "unknown". */
  commit: string;
  /** Files under ofproto/ with uncommitted changes (`git status --porcelain`). */
  uncommitted: string[];
  /** Whether ofproto/classifier.ts has prefix tries (it mentions `DEFAULT_PREFIXES`). */
  prefixTries: boolean;
}

async function classifierSource(root: string): Promise<ClassifierSource> {
  const head = await runTool('git', ['-C', root, 'rev-parse', '--short', 'HEAD']).catch(() => null);
  const st = await runTool('git', ['-C', root, 'status', '--porcelain', '--', 'ofproto/']).catch(
    () => null,
  );
  let prefixTries = false;
  try {
    prefixTries = readFileSync(join(root, 'ofproto', 'classifier.ts'), 'utf8').includes(
      'DEFAULT_PREFIXES',
    );
  } catch {
    prefixTries = false;
  }
  return {
    commit: head?.code === 0 ? head.stdout.trim() : 'unknown',
    uncommitted:
      st?.code === 0
        ? st.stdout
            .split('\n')
            .map((l) => l.slice(3).trim())
            .filter((l) => l !== '')
        : [],
    prefixTries,
  };
}

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'bench', 'ovs-ovstest.sh')) && existsSync(join(dir, 'package.json')))
      return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find the repository root (bench/ovs-ovstest.sh)');
}

function rate(r: LookupRun): number {
  return ((r.hits + r.misses) * 1000) / r.ms;
}

function fmtRate(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(0)} k`;
  return x.toFixed(0);
}

/** The markdown table of `rows`. */
export function table(rows: readonly Row[]): string {
  const head =
    '| variant | prio | masks | rules | wc | tsvs lookups/s | OVS lookups/s | tsvs/OVS | hits tsvs | hits OVS | hits expected |\n' +
    '| --- | --: | --: | --: | --- | --: | --: | --: | --: | --: | --: |';
  const lines = rows.map(
    (r) =>
      `| ${r.variant} | ${r.priorities} | ${r.masks}${r.masks !== r.masksAsked ? ` (asked ${r.masksAsked})` : ''} | ${r.rules} | ${r.wc ? 'on' : 'off'} | ${fmtRate(r.tsvs)} | ${fmtRate(r.ovs)} | ${r.ratio.toFixed(2)} | ${(100 * r.hitTsvs).toFixed(1)}% | ${(100 * r.hitOvs).toFixed(1)}% | ${(100 * r.hitExpected).toFixed(1)}% |`,
  );
  return [head, ...lines].join('\n');
}

/** What each lookup computes, for the report. */
export const NOTES = [
  "Each lookup, both sides: the highest-priority rule matching one of 8 192 pre-built flows (picked by OVS's xorshift32, seed 1), one thread, rules all visible at version 0; a returned rule is a hit.",
  'OVS: classifier_lookup() of lib/classifier.c 3.1 (Debian 3.1.0-2+deb12u1 source): tuple-space search over subtables in priority order, staged lookup (metadata, L2, L3, L4 indices), prefix tries on ipv4_dst and ipv4_src (the benchmark sets them), ports trie; "wc on" = flow_wildcards_init_catchall() + lookup with wildcard tracking, "wc off" = lookup with NULL wildcards.',
  'tsvs: Classifier.lookup() of ofproto/classifier.ts with its default options (new Classifier()): tuple-space search over subtables in priority order, staged lookup (metadata, L2, L3, L4 prefix sets), plus prefix tries on nw_dst/nw_src and ports tries where the classifier has them (see "tsvs classifier" below: commit, uncommitted changes, tries or not); "wc on" = wc.fill(0) + lookup(key, 0, wc), "wc off" = lookup(key, 0).',
  'OVS\'s benchmark runs both passes ("Without wildcards", then "With wildcards") on a fresh classifier; its time has 1 ms resolution. tsvs: a fresh Node process per configuration (as OVS: a fresh ovstest), one untimed warm-up of 10% of the lookups (JIT) before each timed loop.',
  "Variant ovs31 = OVS 3.1's benchmark as shipped: every rule matches all 13 fields exactly (make_rule ignores the subtable's wildcard set), so there is one mask whatever <n_subtables> says. Variant honoured = the wildcard sets applied (ovstest-wc, one-line change to make_rule), so the masks exist.",
  "Rules: drawn n_rules times, a draw equal in match and priority to an earlier rule is dropped (as OVS). Rule streams differ between the two sides (OVS's hash tables also draw from the generator); wildcard sets, priorities, lookup flows and lookup order are identical.",
];

async function main(): Promise<void> {
  const opts = parseOpts(process.argv.slice(2));
  const child = opts.get('child');
  if (child !== undefined) {
    const { p, nLookups } = JSON.parse(child) as { p: GenParams; nLookups: number };
    console.log(JSON.stringify(measureTsvs(p, nLookups)));
    return;
  }
  const nRules = Number(opts.get('rules') ?? 10000);
  const prioList = (opts.get('priorities') ?? '10000').split(',').map(Number);
  const maskList = (opts.get('masks') ?? '1,10,50').split(',').map(Number);
  const nLookups = Number(opts.get('lookups') ?? 1_000_000);
  const repeat = Number(opts.get('repeat') ?? 3);
  const variants = (opts.get('variants') ?? 'ovs31,honoured').split(',') as WildcardMode[];
  for (const v of variants)
    if (v !== 'ovs31' && v !== 'honoured') throw new Error(`unknown variant ${String(v)}`);
  const root = repoRoot();

  // OVS's binaries.
  const bins = new Map<WildcardMode, string>();
  const script = join(root, 'bench', 'ovs-ovstest.sh');
  for (const v of variants) {
    const r = await runTool('bash', [script, ...(v === 'honoured' ? ['--wildcards'] : [])], {
      timeoutMs: 30 * 60_000,
    });
    const path = r.stdout.trim().split('\n').pop() ?? '';
    if (r.code !== 0 || !existsSync(path)) {
      process.stderr.write(r.stderr);
      console.error(
        `classifier-vs-ovs: OVS's ovstest could not be built (${script} exited ${r.code}); no figures.`,
      );
      process.exit(1);
    }
    bins.set(v, path);
  }
  const ovsVersion = readFileSync(`${bins.values().next().value as string}.version`, 'utf8').trim();
  const ours = await classifierSource(root);

  const loadBefore = loadAvg();
  console.log(
    `classifier lookups/s: ${nRules} rules, priorities ${prioList.join('/')}, masks ${maskList.join('/')}, ${nLookups} lookups, 1 thread, ${repeat} repeats; OVS ${ovsVersion}; load ${loadBefore}`,
  );
  const rows: Row[] = [];
  const raw: unknown[] = [];
  let flip = false;
  for (const variant of variants)
    for (const priorities of prioList)
      for (const masks of maskList) {
        const args = [
          'test-classifier',
          'benchmark',
          String(nRules),
          String(priorities),
          String(masks),
          '1',
          String(nLookups),
        ];
        const runOvs = async (): Promise<{ run: OvsRun; out: string }> => {
          const r = await runTool(bins.get(variant)!, args, { timeoutMs: 20 * 60_000 });
          if (r.code !== 0)
            throw new Error(`ovstest ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
          return { run: parseOvsBenchmark(r.stdout), out: r.stdout };
        };
        const runOurs = (): Promise<TsvsRun> =>
          runTsvsChild(
            { nRules, nPriorities: priorities, nSubtables: masks, mode: variant },
            nLookups,
          );
        const ovsRuns: OvsRun[] = [];
        const ourRuns: TsvsRun[] = [];
        for (let rep = 0; rep < repeat; rep++) {
          let ovs: { run: OvsRun; out: string };
          let ours: TsvsRun;
          if (flip) {
            ours = await runOurs();
            ovs = await runOvs();
          } else {
            ovs = await runOvs();
            ours = await runOurs();
          }
          flip = !flip;
          ovsRuns.push(ovs.run);
          ourRuns.push(ours);
          raw.push({
            variant,
            priorities,
            masks,
            repeat: rep,
            load: loadAvg(),
            ovsArgs: args,
            ovsOutput: ovs.out,
            ovs: ovs.run,
            tsvs: ours,
          });
        }
        const ours = ourRuns[0]!;
        for (const wc of [false, true]) {
          const os = ovsRuns.map((r) => (wc ? r.wc : r.noWc));
          const ts = ourRuns.map((r) => (wc ? r.wc : r.noWc));
          const tsvsRates = ts.map(rate);
          const ovsRates = os.map((o) => o.lookupsPerSec);
          const row: Row = {
            variant,
            priorities,
            masksAsked: masks,
            masks: ours.masks,
            rules: ours.rules,
            wc,
            tsvs: median(tsvsRates),
            ovs: median(ovsRates),
            ratio: median(tsvsRates) / median(ovsRates),
            hitTsvs: ts[0]!.hits / (ts[0]!.hits + ts[0]!.misses),
            hitOvs: os[0]!.hits / (os[0]!.hits + os[0]!.misses),
            hitExpected: ours.expected,
            tsvsSamples: tsvsRates,
            ovsSamples: ovsRates,
          };
          rows.push(row);
          console.log(
            `${variant} prio=${priorities} masks=${ours.masks} rules=${ours.rules} wc=${wc ? 'on ' : 'off'}: tsvs ${fmtRate(row.tsvs)}/s, OVS ${fmtRate(row.ovs)}/s, ratio ${row.ratio.toFixed(2)} (median of ${repeat})`,
          );
        }
      }
  const loadAfter = loadAvg();
  console.log('\n' + table(rows) + '\n');
  for (const n of NOTES) console.log(`- ${n}`);
  console.log(
    `- tsvs classifier: commit ${ours.commit}${ours.uncommitted.length ? `, uncommitted changes in ${ours.uncommitted.join(' ')}` : ', no uncommitted changes in ofproto/'}; prefix tries ${ours.prefixTries ? 'present' : 'absent'} in ofproto/classifier.ts.`,
  );
  console.log(`\nload average before ${loadBefore}, after ${loadAfter}`);

  if (!opts.has('no-write')) {
    const now = new Date();
    const stamp = `${now.toISOString().slice(0, 10)}-${now.toISOString().slice(11, 13)}${now.toISOString().slice(14, 16)}`;
    const dir = opts.get('out') ?? join(root, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `classifier-${stamp}.json`);
    writeFileSync(
      file,
      JSON.stringify(
        {
          name: 'classifier-vs-ovs',
          date: now.toISOString(),
          params: {
            nRules,
            priorities: prioList,
            masks: maskList,
            nLookups,
            repeat,
            variants,
            threads: 1,
          },
          ovs: { version: ovsVersion, binaries: Object.fromEntries(bins) },
          tsvsClassifier: ours,
          node: process.version,
          loadBefore,
          loadAfter,
          notes: NOTES,
          rows,
          raw,
        },
        null,
        2,
      ) + '\n',
    );
    console.log(`wrote ${file}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}

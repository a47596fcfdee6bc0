/**
 * `npm run bench:vs-ovs`: the whole side-by-side suite of issue 11, tsvs against Debian's Open
 * vSwitch 3.1, in one run. Never part of `npm test`. Needs root (network namespaces), Debian's
 * openvswitch-switch, trafgen (netsniff-ng), iperf3, ethtool, gcc and python3.
 *
 *   node dist/bench/vs-ovs.js [--repeat N] [--quick] [--only mem,flowmod,ports,fwd,tcp,flowsetup,ovsdb]
 *                             [--peers DIR] [--out DIR] [--cleanup] [--prof DIR]
 *                             [--switches tsvs|ovs|tsvs,ovs]   (not the ovsdb group)
 *   node dist/bench/vs-ovs.js --rerender bench/results/DATE.json   # rebuild .md/.svg of a run
 *
 * For every group, repeat and switch (the order flips every repeat) it starts the switch fresh —
 * OVS through the peers harness's `ovs-ref.sh start` (ovsdb-server + ovs-vswitchd, userspace
 * datapath, netns pf-sw), tsvs as `node dist/bin/tsvs.js start` in its own session and its own netns
 * pf-ts with its own run directory and database (/tmp/pf-tsvs), bridge pfbr0 set up as ovs-ref.sh
 * does — builds the peers topology (topo.sh) when the group moves packets, and runs the peers
 * script for the group (bench-mem.sh, bench-flowmod.sh, bench-ports.sh, bench-fwd.sh,
 * bench-tcp.sh, bench-flowsetup.sh) with `SUT_*` describing that switch, `REPEAT=1` and a
 * `RESULTS` directory of its own, then parses the `raw.tsv` it wrote. The OVSDB group runs
 * bench/ovsdb.ts (`--tsvs daemon`), which interleaves by itself. A group that fails on one switch
 * is reported for that switch and the run goes on.
 *
 * Writes bench/results/<date>.md, .json and .svg (the chart of the ratios). REPEAT (env or
 * `--repeat`) defaults to 3; `--quick` is a smoke run (1 repeat, short durations, 10k flows).
 * Names used: netns pf-*, interfaces pf*, /tmp/pf-*, TCP ports 16000–16099 (the peers harness's).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAvg, parseOpts, runTool, sleep } from './lib/common.js';
import {
  FULL_ROWS,
  GROUPS,
  addRecords,
  addSample,
  computeRows,
  isGroup,
  ovsdbSamples,
  parseRawTsv,
  pickBaseName,
  progressLines,
  renderMarkdown,
  renderRatioChart,
  rowSpecs,
  rowsJson,
  warningLines,
  writeReport,
  type GroupName,
  type RowConfig,
  type Samples,
  type SwitchName,
} from './lib/vs-ovs-report.js';

const HERE = fileURLToPath(import.meta.url);
const FROM_DIST = HERE.includes('/dist/bench/');
/** Repository root (bench/vs-ovs.ts or dist/bench/vs-ovs.js). */
const ROOT = FROM_DIST ? join(dirname(HERE), '..', '..') : join(dirname(HERE), '..');

const PF_OVS = '/tmp/pf-ovs';
const PF_TSVS = '/tmp/pf-tsvs';
const PF_BIN = '/tmp/pf-perf-bin';
const TS_NS = 'pf-ts';
const BR = 'pfbr0';
/** OVSDB group: ovsdb-server's ptcp on this port, ours on the next. */
const OVSDB_PORT_BASE = 16050;

const log = (s: string): void => {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
};

/** A running switch under test, as the peers harness sees it. */
interface Sut {
  /** Which one. */
  name: SwitchName;
  /** SUT_* environment for the peers scripts. */
  env: Record<string, string>;
  /** Its main process. */
  pid: number;
  /** Whether it is still alive. */
  alive(): boolean;
  /** Why it died, if it did (exit code, last lines of its log). */
  death(): string | undefined;
  /** Stops it (and removes what it created). */
  stop(): Promise<void>;
}

async function sh(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
) {
  return runTool(cmd, args, { env, timeoutMs });
}

async function must(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
) {
  const r = await sh(cmd, args, env, timeoutMs);
  if (r.code !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} failed (${r.code}): ${(r.stderr || r.stdout).trim().slice(-400)}`,
    );
  return r;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function netnsList(): Promise<string[]> {
  const r = await sh('ip', ['netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

/** OVS 3.1 through the peers harness's ovs-ref.sh. */
async function startOvs(peers: string): Promise<Sut> {
  const env = { PF_OVS };
  await must(join(peers, 'ovs-ref.sh'), ['start'], env, 60_000);
  const pid = Number(readFileSync(`${PF_OVS}/ovs-vswitchd.pid`, 'utf8').trim());
  return {
    name: 'ovs',
    pid,
    env: {
      SUT_NAME: 'ovs',
      SUT_DB: `unix:${PF_OVS}/db.sock`,
      SUT_OF: `unix:${PF_OVS}/${BR}.mgmt`,
      SUT_BR: BR,
      SUT_NS: 'pf-sw',
      SUT_PID: String(pid),
      SUT_DPTYPE: 'netdev',
      SUT_APPCTL: `${PF_OVS}/ovs-vswitchd.ctl`,
      SUT_FLUSH: `ovs-appctl -t ${PF_OVS}/ovs-vswitchd.ctl revalidator/purge`,
    },
    alive: () => pidAlive(pid),
    death: () =>
      pidAlive(pid) ? undefined : `ovs-vswitchd ${pid} died; see ${PF_OVS}/ovs-vswitchd.log`,
    stop: async () => {
      await sh(join(peers, 'ovs-ref.sh'), ['stop'], env, 60_000);
    },
  };
}

function tail(file: string, n: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

/**
 * tsvs: `node dist/bin/tsvs.js start` in netns pf-ts (so its system ports open there, as
 * ovs-vswitchd's do in pf-sw), in its own session (scheduler autogroup, pitfall 9), with its own
 * run directory and database; bridge pfbr0 configured as ovs-ref.sh configures OVS's.
 */
async function startTsvs(workDir: string, tag: string): Promise<Sut> {
  rmSync(PF_TSVS, { recursive: true, force: true });
  mkdirSync(PF_TSVS, { recursive: true });
  if (!(await netnsList()).includes(TS_NS)) await must('ip', ['netns', 'add', TS_NS]);
  await must('ip', ['-n', TS_NS, 'link', 'set', 'lo', 'up']);
  await sh('ip', [
    'netns',
    'exec',
    TS_NS,
    'sysctl',
    '-qw',
    'net.ipv6.conf.all.disable_ipv6=1',
    'net.ipv6.conf.default.disable_ipv6=1',
  ]);
  const bin = join(ROOT, 'dist', 'bin', 'tsvs.js');
  const outFile = join(workDir, `tsvs-${tag}.out`);
  const fd = openSync(outFile, 'w');
  const proc: ChildProcess = spawn(
    'ip',
    [
      'netns',
      'exec',
      TS_NS,
      process.execPath,
      ...tsvsNodeArgs,
      bin,
      'start',
      '--rundir',
      PF_TSVS,
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', fd, fd], detached: true },
  );
  closeSync(fd);
  let exit: string | undefined;
  const exited = new Promise<void>((r) =>
    proc.once('exit', (code, sig) => {
      exit = `tsvs exited (code ${code}, signal ${sig})`;
      r();
    }),
  );
  const pid = proc.pid!;
  const db = `unix:${PF_TSVS}/db.sock`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exit) throw new Error(`${exit} while starting:\n${tail(outFile, 20)}`);
    if (existsSync(`${PF_TSVS}/db.sock`)) {
      const r = await sh('ovs-vsctl', [`--db=${db}`, '--timeout=5', '--no-wait', 'show']);
      if (r.code === 0) break;
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`tsvs: db.sock not answering within 60 s:\n${tail(outFile, 20)}`);
    }
    await sleep(100);
  }
  await must('ovs-vsctl', [
    `--db=${db}`,
    '--timeout=30',
    'add-br',
    BR,
    '--',
    'set',
    'Bridge',
    BR,
    'datapath_type=netdev',
    'fail_mode=secure',
    'protocols=OpenFlow13,OpenFlow14',
  ]);
  for (let i = 0; i < 100 && !existsSync(`${PF_TSVS}/${BR}.mgmt`); i++) await sleep(100);
  const death = (): string | undefined =>
    exit
      ? `${exit}; last output:\n${tail(outFile, 15)}\n${tail(`${PF_TSVS}/tsvs.log`, 15)}`
      : undefined;
  return {
    name: 'tsvs',
    pid,
    env: {
      SUT_NAME: 'tsvs',
      SUT_DB: db,
      SUT_OF: `unix:${PF_TSVS}/${BR}.mgmt`,
      SUT_BR: BR,
      SUT_NS: TS_NS,
      SUT_PID: String(pid),
      SUT_DPTYPE: 'netdev',
      // The harness reads dpctl/show missed: and upcall/show through it, as for OVS.
      SUT_APPCTL: `${PF_TSVS}/tsvs.ctl`,
      SUT_FLUSH: `ovs-appctl -t ${PF_TSVS}/tsvs.ctl revalidator/purge`,
    },
    alive: () => exit === undefined,
    death,
    stop: async () => {
      if (exit === undefined) {
        // Where frames went (lost:, port drops, coverage), next to the harness's logs.
        for (const cmd of ['dpctl/show', 'coverage/show']) {
          const r = spawnSync('ovs-appctl', ['-t', `${PF_TSVS}/tsvs.ctl`, cmd], {
            encoding: 'utf8',
            timeout: 10_000,
          });
          writeFileSync(join(workDir, `tsvs-${tag}-${cmd.replace('/', '-')}.txt`), r.stdout ?? '');
        }
        proc.kill('SIGTERM');
        const k = setTimeout(() => proc.kill('SIGKILL'), 8000);
        await exited;
        clearTimeout(k);
      }
      // keep the daemon's log next to the harness's logs
      if (existsSync(`${PF_TSVS}/tsvs.log`))
        writeFileSync(join(workDir, `tsvs-${tag}.log`), readFileSync(`${PF_TSVS}/tsvs.log`));
      await sh('ip', ['netns', 'del', TS_NS]);
    },
  };
}

/** Extra Node flags for the tsvs daemon (`--prof DIR` → --cpu-prof). */
let tsvsNodeArgs: string[] = [];

/** Runs `script args` with `env`, its output to `logFile`, progress lines to stderr. */
function runScript(
  file: string,
  args: string[],
  env: Record<string, string>,
  logFile: string,
  prefix: string,
  timeoutMs: number,
): Promise<{ code: number | null; timedOut: boolean }> {
  return new Promise((resolvePromise, reject) => {
    const out = openSync(logFile, 'w');
    const child = spawn(file, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let timedOut = false;
    let partial = '';
    const onData = (b: Buffer): void => {
      writeFileSync(out, b);
      const text = partial + b.toString('utf8');
      const nl = text.lastIndexOf('\n');
      partial = nl >= 0 ? text.slice(nl + 1) : text;
      if (nl >= 0)
        for (const l of progressLines(text.slice(0, nl)))
          process.stderr.write(`  ${prefix} ${l}\n`);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        /* gone */
      }
      setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, 5000);
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      closeSync(out);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      closeSync(out);
      resolvePromise({ code, timedOut });
    });
  });
}

/** Parameters of one run. */
interface Plan {
  repeat: number;
  quick: boolean;
  groups: GroupName[];
  rows: RowConfig;
  fwdDur: number;
  tcpDur: number;
  pings: number;
  flowsetupArgs: string[];
  portsArgs: string[];
  /** The switches to run (`--switches`; both by default; one alone gives no ratios). */
  switches: SwitchName[];
}

function plan(o: Map<string, string>): Plan {
  const quick = o.has('quick');
  const repeat = Number(o.get('repeat') ?? process.env.REPEAT ?? (quick ? 1 : 3));
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`bad --repeat/REPEAT ${repeat}`);
  const only = (o.get('only') ?? GROUPS.join(',')).split(',').filter(Boolean);
  for (const g of only)
    if (!isGroup(g)) throw new Error(`unknown group "${g}" (groups: ${GROUPS.join(', ')})`);
  const groups = GROUPS.filter((g) => only.includes(g));
  const switches = (o.get('switches') ?? 'ovs,tsvs').split(',').filter(Boolean);
  for (const sw of switches)
    if (sw !== 'ovs' && sw !== 'tsvs') throw new Error(`unknown switch "${sw}" (ovs, tsvs)`);
  const rows: RowConfig = quick
    ? { flowSizes: [10000], memSize: 10000, ports: 50, overload: [50000], monitors: 50 }
    : FULL_ROWS;
  return {
    repeat,
    quick,
    groups,
    rows,
    fwdDur: quick ? 4 : 10,
    tcpDur: quick ? 3 : 10,
    pings: quick ? 20 : 100,
    flowsetupArgs: quick
      ? ['--nports', '5000', '--trial-s', '2', '--bisect', '2', '--overload', '50000']
      : [],
    portsArgs: ['--counts', String(rows.ports)],
    switches: switches as SwitchName[],
  };
}

/** Where the peers harness is: --peers, $PEERS_PERF, or ../shared/peers/perf beside the clone. */
function findPeers(o: Map<string, string>): string {
  const cands = [
    o.get('peers'),
    process.env.PEERS_PERF,
    resolve(ROOT, '..', 'shared', 'peers', 'perf'),
    '/work/shared/peers/perf',
  ];
  for (const c of cands) if (c && existsSync(join(c, 'bench-fwd.sh'))) return c;
  throw new Error('peers harness not found: give --peers DIR or PEERS_PERF (…/shared/peers/perf)');
}

async function preflight(peers: string, cleanup: boolean): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new Error('bench:vs-ovs needs root (network namespaces, AF_PACKET)');
  if (!existsSync(join(ROOT, 'dist', 'bin', 'tsvs.js')))
    throw new Error('dist/bin/tsvs.js missing: npm run build');
  for (const tool of [
    'ovs-vswitchd',
    'ovsdb-server',
    'ovs-vsctl',
    'ovs-ofctl',
    'ovs-appctl',
    'trafgen',
    'iperf3',
    'ethtool',
    'gcc',
    'python3',
  ]) {
    const r = await sh('sh', ['-c', `command -v ${tool}`]);
    if (r.code !== 0)
      throw new Error(
        `${tool} not found (apt-get install openvswitch-switch netsniff-ng iperf3 ethtool gcc python3)`,
      );
  }
  const busy: string[] = [];
  const ns = await netnsList();
  for (const n of ['pf-h1', 'pf-h2', 'pf-h3', 'pf-h4', 'pf-rl', 'pf-sw', TS_NS])
    if (ns.includes(n)) busy.push(`netns ${n}`);
  if (existsSync(`${PF_OVS}/ovs-vswitchd.pid`)) {
    const p = Number(readFileSync(`${PF_OVS}/ovs-vswitchd.pid`, 'utf8'));
    if (pidAlive(p)) busy.push(`ovs-vswitchd ${p} of ${PF_OVS}`);
  }
  if (busy.length === 0) return;
  if (!cleanup)
    throw new Error(
      `a previous peers run seems to be live or left over (${busy.join(', ')}); if no other run is going on, add --cleanup`,
    );
  log(`cleaning up leftovers: ${busy.join(', ')}`);
  await sh(join(peers, 'topo.sh'), ['down'], {
    SUT_DB: `unix:${PF_OVS}/db.sock`,
    SUT_OF: `unix:${PF_OVS}/${BR}.mgmt`,
    SUT_BR: BR,
    SUT_NS: '',
    RESULTS: '/tmp/pf-perf-cleanup',
  });
  await sh(join(peers, 'ovs-ref.sh'), ['stop'], { PF_OVS });
  if (existsSync(`${PF_TSVS}/tsvs.pid`)) {
    const p = Number(readFileSync(`${PF_TSVS}/tsvs.pid`, 'utf8'));
    if (pidAlive(p)) process.kill(p, 'SIGTERM');
  }
  if ((await netnsList()).includes(TS_NS)) await sh('ip', ['netns', 'del', TS_NS]);
}

async function versions(): Promise<string[]> {
  const v = await sh('ovs-vswitchd', ['--version']);
  const t = await sh(process.execPath, [join(ROOT, 'dist', 'bin', 'tsvs.js'), 'version']);
  const out = [v.stdout.split('\n')[0]!.trim(), t.stdout.trim(), `node ${process.version}`];
  const head = await sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']);
  if (head.code === 0) {
    const dirty = await sh('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no']);
    const n = dirty.stdout.split('\n').filter(Boolean).length;
    out.push(`tsvs tree ${head.stdout.trim()}${n ? ` + ${n} modified files` : ''}`);
  }
  return out;
}

async function main(): Promise<void> {
  const o = parseOpts(process.argv.slice(2));
  if (o.has('rerender')) return rerender(resolve(o.get('rerender')!));
  const p = plan(o);
  const peers = findPeers(o);
  if (o.has('prof')) tsvsNodeArgs = ['--cpu-prof', `--cpu-prof-dir=${resolve(o.get('prof')!)}`];
  await preflight(peers, o.has('cleanup'));
  const startedAt = new Date().toISOString();
  const stamp = startedAt.replace(/[-:]/g, '').slice(0, 15);
  const workDir = `/tmp/pf-vs-ovs-${stamp}`;
  mkdirSync(workDir, { recursive: true });
  const command = `${process.argv0} ${[...process.execArgv, ...process.argv.slice(1).map((a) => a.replace(ROOT + '/', ''))].join(' ')}`;
  log(
    `tsvs vs OVS 3.1: groups ${p.groups.join(',')}, ${p.repeat} repeat(s)${p.quick ? ', --quick' : ''}; harness ${peers}; work dir ${workDir}`,
  );
  await must(join(peers, 'build.sh'), [], { PF_BIN });

  const samples: Samples = {};
  const ran = new Set<GroupName>();
  const errors = new Map<GroupName, string[]>();
  const notes: string[] = [];
  const loads: string[] = [`start ${loadAvg()}`];
  const addError = (g: GroupName, msg: string): void => {
    const l = errors.get(g) ?? [];
    l.push(msg);
    errors.set(g, l);
    log(`ERROR ${g}: ${msg}`);
  };

  let current: Sut | undefined;
  let topoUp: Record<string, string> | undefined;
  const teardown = async (): Promise<void> => {
    if (topoUp) await sh(join(peers, 'topo.sh'), ['down'], topoUp, 60_000);
    topoUp = undefined;
    if (current) await current.stop();
    current = undefined;
  };
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log('interrupted: tearing down');
    void teardown().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const steps =
    p.groups.filter((g) => g !== 'ovsdb').length * p.repeat * p.switches.length +
    (p.groups.includes('ovsdb') ? 1 : 0);
  let step = 0;
  const t0 = Date.now();
  const progress = (what: string): void => {
    step++;
    const el = (Date.now() - t0) / 1000;
    const eta =
      step > 1
        ? ` (elapsed ${Math.round(el / 60)} min, ~${Math.round(((el / (step - 1)) * (steps - step + 1)) / 60)} min left)`
        : '';
    log(`[${step}/${steps}] ${what}${eta}, load ${loadAvg()}`);
  };

  for (const g of p.groups) {
    ran.add(g);
    if (g === 'ovsdb') {
      progress(`ovsdb (bench/ovsdb.ts, ${p.repeat} rounds, both servers)`);
      await runOvsdb(p, workDir, samples, (m) => addError('ovsdb', m));
      loads.push(`after ovsdb ${loadAvg()}`);
      continue;
    }
    for (let r = 0; r < p.repeat; r++) {
      const order = (r % 2 === 0 ? (['ovs', 'tsvs'] as const) : (['tsvs', 'ovs'] as const)).filter(
        (sw) => p.switches.includes(sw),
      );
      for (const sw of order) {
        progress(`${g} repeat ${r + 1}/${p.repeat}: ${sw}`);
        const tag = `${g}-r${r + 1}-${sw}`;
        const results = join(workDir, tag);
        mkdirSync(results, { recursive: true });
        try {
          current = sw === 'ovs' ? await startOvs(peers) : await startTsvs(workDir, tag);
        } catch (e) {
          addError(g, `${sw}: could not start: ${(e as Error).message}`);
          current = undefined;
          continue;
        }
        const env: Record<string, string> = {
          ...current.env,
          REPEAT: '1',
          RESULTS: results,
          PF_BIN,
          GEN_CPU: process.env.GEN_CPU ?? '0',
        };
        try {
          if (g === 'fwd' || g === 'tcp' || g === 'flowsetup') {
            const up = await sh(join(peers, 'topo.sh'), ['up'], env, 120_000);
            writeFileSync(join(results, 'topo.log'), up.stdout + up.stderr);
            topoUp = env;
            if (up.code !== 0)
              throw new Error(`topo.sh up failed: ${(up.stderr || up.stdout).trim().slice(-300)}`);
            await sleep(1000);
          }
          const [script, args, timeoutMs] = groupScript(g, p);
          const res = await runScript(
            join(peers, script),
            args,
            env,
            join(results, `${g}.log`),
            `${sw}:`,
            timeoutMs,
          );
          const logText = readFileSync(join(results, `${g}.log`), 'utf8');
          for (const w of warningLines(logText))
            notes.push(`${g} repeat ${r + 1}, ${sw}: ${w.trim()}`);
          const rawFile = join(results, 'raw.tsv');
          if (existsSync(rawFile))
            addRecords(samples, sw, parseRawTsv(readFileSync(rawFile, 'utf8')));
          const died = current.death();
          if (died) addError(g, `${sw} repeat ${r + 1}: the switch died: ${died}`);
          else if (res.timedOut)
            addError(g, `${sw} repeat ${r + 1}: ${script} timed out after ${timeoutMs / 1000} s`);
          else if (res.code !== 0)
            addError(
              g,
              `${sw} repeat ${r + 1}: ${script} exited ${res.code}: ${tail(join(results, `${g}.log`), 3).replace(/\n/g, ' / ')}`,
            );
        } catch (e) {
          addError(g, `${sw} repeat ${r + 1}: ${(e as Error).message}`);
        } finally {
          await teardown();
        }
        if (interrupted) return;
      }
    }
    loads.push(`after ${g} ${loadAvg()}`);
  }

  const finishedAt = new Date().toISOString();
  const outDir = o.get('out') ?? join(ROOT, 'bench', 'results');
  const stem = p.quick ? `${startedAt.slice(0, 10)}-quick` : startedAt.slice(0, 10);
  const base = pickBaseName(outDir, stem, startedAt.slice(11, 16).replace(':', ''));
  for (const [g, errs] of errors) for (const e of errs) notes.unshift(`error in ${g}: ${e}`);
  const run: RunRecord = {
    startedAt,
    finishedAt,
    command,
    plan: p,
    peers,
    workDir,
    machine: `${cpus().length} cpus (${cpus()[0]?.model.trim() ?? '?'}), Linux ${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}`,
    versions: await versions(),
    loadAvg: loads,
    ran: [...ran],
    errors: Object.fromEntries(errors),
    notes,
    samples,
  };
  const files = report(outDir, base, run);
  log(`wrote ${files.md}, ${files.json}, ${files.svg}`);
}

/** What a run records in its JSON file (and `--rerender` reads back). */
interface RunRecord {
  startedAt: string;
  finishedAt: string;
  command: string;
  plan: Plan;
  peers: string;
  workDir: string;
  machine: string;
  versions: string[];
  loadAvg: string[];
  ran: GroupName[];
  errors: Partial<Record<GroupName, string[]>>;
  notes: string[];
  samples: Samples;
}

/** Computes the rows and writes `<base>.md`, `.json` and `.svg`; prints the markdown. */
function report(
  outDir: string,
  base: string,
  run: RunRecord,
): { md: string; json: string; svg: string } {
  const errors = new Map(Object.entries(run.errors) as [GroupName, string[]][]);
  const rows = computeRows(rowSpecs(run.plan.rows), run.samples, new Set(run.ran), errors);
  const md = renderMarkdown(
    {
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      command: run.command,
      repeat: run.plan.repeat,
      quick: run.plan.quick,
      groups: run.plan.groups,
      machine: run.machine,
      loads: run.loadAvg,
      chart: `${base}.svg`,
      versions: run.versions,
      notes: run.notes,
      workDir: run.workDir,
    },
    rows,
  );
  const svg = renderRatioChart(
    rows,
    `tsvs / OVS 3.1 — ${run.startedAt.slice(0, 16)}Z${run.plan.quick ? ' (quick)' : ''}`,
  );
  process.stdout.write(md);
  return writeReport(outDir, base, md, { ...run, rows: rowsJson(rows) }, svg);
}

/**
 * `--rerender FILE.json`: rebuilds the markdown and the chart of an earlier run from its JSON
 * (after a change to the report code), in place.
 */
async function rerender(file: string): Promise<void> {
  const j = JSON.parse(readFileSync(file, 'utf8')) as Partial<RunRecord> & {
    plan: Plan;
    samples: Samples;
  };
  const run: RunRecord = {
    startedAt: j.startedAt ?? '?',
    finishedAt: j.finishedAt ?? '?',
    command: j.command ?? '?',
    plan: j.plan,
    peers: j.peers ?? '?',
    workDir: j.workDir ?? '?',
    machine: j.machine ?? `${cpus().length} cpus (${cpus()[0]?.model.trim() ?? '?'})`,
    versions: j.versions ?? (await versions()),
    loadAvg: j.loadAvg ?? [],
    ran: j.ran ?? j.plan.groups,
    errors: j.errors ?? {},
    notes: j.notes ?? [],
    samples: j.samples,
  };
  const files = report(dirname(file), basename(file, '.json'), run);
  log(`rewrote ${files.md}, ${files.json}, ${files.svg}`);
}

function groupScript(g: Exclude<GroupName, 'ovsdb'>, p: Plan): [string, string[], number] {
  const min = 60_000;
  switch (g) {
    case 'mem':
      return ['bench-mem.sh', ['--size', String(p.rows.memSize)], 10 * min];
    case 'flowmod':
      return [
        'bench-flowmod.sh',
        ['--kinds', 'simple', '--sizes', p.rows.flowSizes.join(' ')],
        20 * min,
      ];
    case 'ports':
      return ['bench-ports.sh', p.portsArgs, 20 * min];
    case 'fwd':
      return ['bench-fwd.sh', ['--dur', String(p.fwdDur)], 5 * min];
    case 'tcp':
      return ['bench-tcp.sh', ['--dur', String(p.tcpDur), '--pings', String(p.pings)], 5 * min];
    case 'flowsetup':
      return ['bench-flowsetup.sh', p.flowsetupArgs, 20 * min];
  }
}

async function runOvsdb(
  p: Plan,
  workDir: string,
  samples: Samples,
  err: (m: string) => void,
): Promise<void> {
  const out = join(workDir, 'ovsdb');
  mkdirSync(out, { recursive: true });
  const script = join(dirname(HERE), `ovsdb${FROM_DIST ? '.js' : '.ts'}`);
  const args = [
    ...process.execArgv,
    script,
    '--rounds',
    String(p.repeat),
    '--only',
    'tput1,tput8,fanout',
    '--transports',
    'unix',
    '--tsvs',
    'daemon',
    '--port-base',
    String(OVSDB_PORT_BASE),
    '--out',
    out,
    ...(p.quick ? ['--quick'] : []),
  ];
  const res = await runScript(
    process.execPath,
    args,
    {},
    join(out, 'ovsdb.log'),
    'ovsdb:',
    30 * 60_000,
  );
  const files = readdirSync(out).filter((f) => f.startsWith('ovsdb-') && f.endsWith('.json'));
  if (files.length === 0) {
    err(
      `bench/ovsdb.ts wrote no result (exit ${res.code}${res.timedOut ? ', timed out' : ''}): ${tail(join(out, 'ovsdb.log'), 3).replace(/\n/g, ' / ')}`,
    );
    return;
  }
  const json = JSON.parse(readFileSync(join(out, files[0]!), 'utf8')) as Parameters<
    typeof ovsdbSamples
  >[0];
  for (const [k, v] of Object.entries(ovsdbSamples(json))) {
    for (const x of v.ovs) addSample(samples, k, 'ovs', x);
    for (const x of v.tsvs) addSample(samples, k, 'tsvs', x);
  }
  if (res.code !== 0) err(`bench/ovsdb.ts exited ${res.code}`);
}

await main();

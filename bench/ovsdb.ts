/**
 * Side-by-side OVSDB benchmark (issue 3): our OVSDB server (bench/ovsdb-child.ts, its own process)
 * against Debian's ovsdb-server 3.1, the same load on both in the same run, interleaved (the order
 * flips every round) and repeated. Not part of `npm test`.
 *
 *   node --import=file://$PWD/node_modules/@tapjs/typescript/dist/esm/import.mjs bench/ovsdb.ts \
 *     [--rounds 3] [--quick] [--transports unix,tcp] [--only tput1,tput8,lat,latdur,fanout,size]
 *     [--tsvs child|daemon] [--port-base N]
 *
 * `--tsvs daemon` measures the whole `tsvs start` daemon (OVSDB with the bridge reconciler
 * following every commit) instead of our OVSDB server alone; `--port-base N` puts OVS's ptcp
 * remote on N and ours on N+1 (default: free ports). bench/vs-ovs.ts uses both.
 *
 * Measures, per server and transport:
 * - `tput1` / `tput8`: pipelined single-insert transactions (one QoS row with `type` and one
 *   `external_ids` pair; no commit op) from 1 and 8 clients, 20 000 txns in all, at most
 *   `--window` (200) outstanding per client: txn/s from the first write to the last reply, and
 *   the server's CPU µs per txn (from /proc/PID/stat: stable under machine load).
 * - `lat` / `latdur`: request/reply latency of insert + `commit durable:false` / `durable:true`,
 *   one request at a time: median, p90, p99 (ms).
 * - `fanout`: 50 `monitor_cond` clients on the Queue table (not QoS, whose tens of thousands of
 *   rows from the other tests would make every monitor's initial reply megabytes); one Queue
 *   insert (`dscp` + one `external_ids` pair) at a time: time to the txn reply, to the first and to
 *   the last of the 50 `update2` notifications (median and p90, ms).
 * - `size`: database file after `ovs-vsctl --no-wait init` + 10 000 single-insert txns, and after
 *   `ovs-appctl -t <ctl> ovsdb-server/compact` (both servers have that command).
 *
 * The load generator (bench/lib/rawclient.ts) writes pre-encoded requests and counts replies with
 * Buffer.indexOf, so it is not the bottleneck. Both servers are in their own sessions (OVS is
 * --detach'ed, ours spawned detached) and use OVS's vswitch.ovsschema. Results go to
 * bench/results/ovsdb-<date>.md and .json.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  cpuSeconds,
  fmt,
  freePort,
  loadAvg,
  markdownTable,
  mustRun,
  parseOpts,
  quantile,
  runTool,
  sleep,
  spawnOurChild,
  writeResults,
  type ResultRow,
} from './lib/common.js';
import { RawConn, insertTxn, type Target } from './lib/rawclient.js';

const OVS_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

type Name = 'tsvs' | 'ovs';
type Transport = 'unix' | 'tcp';

/** A running server under test. */
interface Sut {
  name: Name;
  dir: string;
  dbPath: string;
  ctl: string;
  pid: number;
  target(t: Transport): Target;
  stop(): Promise<void>;
}

/** `--port-base N`: OVS listens on N, tsvs on N+1 (else free ports). */
let portBase: number | undefined;
/** `--tsvs daemon`: our side is the whole `tsvs start` daemon instead of bench/ovsdb-child.ts. */
let tsvsMode: 'child' | 'daemon' = 'child';

async function startOvs(): Promise<Sut> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-bench-ovsdb-ovs-'));
  const dbPath = join(dir, 'conf.db');
  const port = portBase ?? (await freePort());
  const env = { OVS_RUNDIR: dir, OVS_DBDIR: dir, OVS_LOGDIR: dir };
  await mustRun('ovsdb-tool', ['create', dbPath, OVS_SCHEMA], { env });
  await mustRun(
    'ovsdb-server',
    [
      dbPath,
      `--remote=punix:${dir}/db.sock`,
      `--remote=ptcp:${port}:127.0.0.1`,
      `--pidfile=${dir}/ovsdb-server.pid`,
      `--unixctl=${dir}/ovsdb-server.ctl`,
      `--log-file=${dir}/ovsdb-server.log`,
      '--no-chdir',
      '--detach',
    ],
    { env },
  );
  const pid = Number(readFileSync(`${dir}/ovsdb-server.pid`, 'utf8').trim());
  const ctl = `${dir}/ovsdb-server.ctl`;
  await mustRun('ovs-vsctl', [`--db=unix:${dir}/db.sock`, '--no-wait', 'init']);
  return {
    name: 'ovs',
    dir,
    dbPath,
    ctl,
    pid,
    target: (t) => (t === 'unix' ? { unix: `${dir}/db.sock` } : { port }),
    stop: async () => {
      await runTool('ovs-appctl', ['-t', ctl, 'exit'], { timeoutMs: 10_000 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startTsvs(): Promise<Sut> {
  if (tsvsMode === 'daemon') return startTsvsDaemon();
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-bench-ovsdb-ts-'));
  const dbPath = join(dir, 'conf.db');
  const port = portBase !== undefined ? portBase + 1 : await freePort();
  const child = await spawnOurChild<{ pid: number }>(
    'ovsdb-child',
    [dir, dbPath, OVS_SCHEMA, String(port)],
    childNodeArgs,
  );
  await mustRun('ovs-vsctl', [`--db=unix:${dir}/db.sock`, '--no-wait', 'init']);
  return {
    name: 'tsvs',
    dir,
    dbPath,
    ctl: `${dir}/ovsdb-server.ctl`,
    pid: child.pid,
    target: (t) => (t === 'unix' ? { unix: `${dir}/db.sock` } : { port }),
    stop: async () => {
      await child.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The whole daemon (`tsvs start`, OVSDB + bridge reconciler), in its own session, with its own run
 * directory and database (our schema, column-compatible with OVS's), `punix:DIR/db.sock` and
 * `ptcp:PORT:127.0.0.1`.
 */
async function startTsvsDaemon(): Promise<Sut> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-bench-ovsdb-tsd-'));
  const dbPath = join(dir, 'conf.db');
  const port = portBase !== undefined ? portBase + 1 : await freePort();
  const here = fileURLToPath(import.meta.url);
  const ext = here.endsWith('.ts') ? '.ts' : '.js';
  const bin = join(dirname(here), '..', 'bin', `tsvs${ext}`);
  const proc = spawn(
    process.execPath,
    [
      ...process.execArgv,
      ...childNodeArgs,
      bin,
      'start',
      '--rundir',
      dir,
      '--db',
      dbPath,
      '--remote',
      `ptcp:${port}:127.0.0.1`,
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], detached: true },
  );
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`tsvs start exited (${proc.exitCode})`);
    if (existsSync(`${dir}/db.sock`)) {
      const r = await runTool('ovs-vsctl', [
        `--db=unix:${dir}/db.sock`,
        '--timeout=5',
        '--no-wait',
        'init',
      ]);
      if (r.code === 0) break;
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error('tsvs start: db.sock not answering within 60 s');
    }
    await sleep(100);
  }
  return {
    name: 'tsvs',
    dir,
    dbPath,
    ctl: `${dir}/tsvs.ctl`,
    pid: proc.pid!,
    target: (t) => (t === 'unix' ? { unix: `${dir}/db.sock` } : { port }),
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const k = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(k);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let tagSeq = 0;
/** Extra Node flags for our child (e.g. `--cpu-prof`), from `--prof DIR`. */
let childNodeArgs: string[] = [];

/** Pipelined inserts from `clients` connections; returns txn/s and server CPU µs per txn. */
async function throughput(
  sut: Sut,
  tr: Transport,
  clients: number,
  total: number,
  window: number,
): Promise<{ rate: number; cpuUsPerTxn: number }> {
  const per = Math.floor(total / clients);
  const conns = await Promise.all(
    Array.from({ length: clients }, () => RawConn.connect(sut.target(tr))),
  );
  const tag = `t${tagSeq++}`;
  // Pre-encode every request (encoding is not part of the timed window).
  const reqs = conns.map((_, c) =>
    Array.from({ length: per }, (_, i) => Buffer.from(insertTxn(i + 1, `${tag}c${c}`))),
  );
  const cpu0 = cpuSeconds(sut.pid);
  const t0 = performance.now();
  const done = conns.map((conn, c) => {
    let sent = 0;
    const pump = (): void => {
      const upto = Math.min(per, conn.replies.count + window);
      if (upto > sent) {
        conn.write(Buffer.concat(reqs[c]!.slice(sent, upto)));
        sent = upto;
      }
    };
    pump();
    const prev = conn.onEvent;
    conn.onEvent = (now) => {
      prev?.(now);
      pump();
    };
    return conn.until(() => conn.replies.count >= per, 120_000);
  });
  const ends = await Promise.all(done);
  const t1 = Math.max(...ends);
  const cpu1 = cpuSeconds(sut.pid);
  for (const c of conns) c.close();
  const n = per * clients;
  return { rate: n / ((t1 - t0) / 1000), cpuUsPerTxn: ((cpu1 - cpu0) * 1e6) / n };
}

/** One request at a time; returns per-request latencies in ms. */
async function latency(sut: Sut, tr: Transport, durable: boolean, n: number): Promise<number[]> {
  const conn = await RawConn.connect(sut.target(tr));
  const tag = `l${tagSeq++}`;
  const reqs = Array.from({ length: n + 20 }, (_, i) =>
    Buffer.from(insertTxn(i + 1, tag, durable ? 'durable' : 'nondurable')),
  );
  const out: number[] = [];
  for (let i = 0; i < reqs.length; i++) {
    const want = conn.replies.count + 1;
    const t0 = performance.now();
    conn.write(reqs[i]!);
    const t1 = await conn.until(() => conn.replies.count >= want);
    if (i >= 20) out.push(t1 - t0); // first 20 are warm-up
  }
  conn.close();
  return out;
}

/** 50 monitor_cond clients; one txn at a time. Returns per-txn [reply, first, all] ms. */
async function fanout(
  sut: Sut,
  tr: Transport,
  nmon: number,
  n: number,
): Promise<{ reply: number[]; first: number[]; all: number[] }> {
  const mons: RawConn[] = [];
  for (let i = 0; i < nmon; i++) mons.push(await RawConn.connect(sut.target(tr), true));
  const req =
    '{"id":"m","method":"monitor_cond","params":["Open_vSwitch",null,{"Queue":[{"columns":["dscp","external_ids"]}]}]}';
  await Promise.all(
    mons.map((m) => {
      m.write(req);
      return m.until(() => m.replies.count >= 1);
    }),
  );
  const writer = await RawConn.connect(sut.target(tr));
  const tag = `f${tagSeq++}`;
  const res = { reply: [] as number[], first: [] as number[], all: [] as number[] };
  for (let i = 0; i < n + 5; i++) {
    const base = mons.map((m) => m.updates.count);
    let pending = nmon;
    let first = NaN;
    let last = NaN;
    let replyAt = NaN;
    const got = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('fan-out timed out')), 30_000);
      const check = (): void => {
        if (pending === 0 && Number.isFinite(replyAt)) {
          clearTimeout(timer);
          resolve();
        }
      };
      mons.forEach((m, k) => {
        m.onEvent = (now) => {
          if (m.updates.count > base[k]!) {
            m.onEvent = undefined;
            pending--;
            if (!Number.isFinite(first)) first = now;
            last = now;
            check();
          }
        };
      });
      const want = writer.replies.count + 1;
      writer.onEvent = (now) => {
        if (writer.replies.count >= want) {
          writer.onEvent = undefined;
          replyAt = now;
          check();
        }
      };
    });
    const t0 = performance.now();
    writer.write(insertTxn(i + 1, tag, undefined, 'Queue'));
    await got;
    if (i >= 5) {
      res.reply.push(replyAt - t0);
      res.first.push(first - t0);
      res.all.push(last - t0);
    }
  }
  writer.close();
  for (const m of mons) m.close();
  return res;
}

/** File size after init + 10k single-insert txns, and after compaction. */
async function fileSize(sut: Sut, n: number): Promise<{ after: number; compacted: number }> {
  await throughput(sut, 'unix', 1, n, 200);
  await sleep(1000);
  const after = statSync(sut.dbPath).size;
  await mustRun('ovs-appctl', ['-t', sut.ctl, 'ovsdb-server/compact'], { timeoutMs: 60_000 });
  await sleep(1000);
  return { after, compacted: statSync(sut.dbPath).size };
}

async function main(): Promise<void> {
  const o = parseOpts(process.argv.slice(2));
  const quick = o.has('quick');
  if (o.has('prof')) childNodeArgs = ['--cpu-prof', `--cpu-prof-dir=${o.get('prof')}`];
  if (o.has('port-base')) portBase = Number(o.get('port-base'));
  if (o.get('tsvs') === 'daemon') tsvsMode = 'daemon';
  const which = new Set((o.get('suts') ?? 'ovs,tsvs').split(','));
  const rounds = Number(o.get('rounds') ?? (quick ? 1 : 3));
  const transports = (o.get('transports') ?? 'unix,tcp').split(',') as Transport[];
  const only = new Set(
    (o.get('only') ?? 'tput1,tput8,lat,latdur,fanout,size').split(',').filter(Boolean),
  );
  const total = Number(o.get('txns') ?? (quick ? 5000 : 20000));
  const window = Number(o.get('window') ?? 200);
  const nLat = Number(o.get('lat-n') ?? (quick ? 300 : 2000));
  const nDur = Number(o.get('latdur-n') ?? (quick ? 100 : 300));
  const nFan = Number(o.get('fanout-n') ?? (quick ? 50 : 200));
  const nMon = Number(o.get('monitors') ?? 50);
  const nSize = Number(o.get('size-n') ?? 10000);
  const warmup = Number(o.get('warmup') ?? 3000);

  const samples = new Map<string, { tsvs: number[]; ovs: number[] }>();
  const add = (key: string, name: Name, v: number): void => {
    let s = samples.get(key);
    if (!s) samples.set(key, (s = { tsvs: [], ovs: [] }));
    s[name].push(v);
  };
  const startedAt = new Date().toISOString();
  const loads: string[] = [loadAvg()];
  const log = (s: string): void =>
    console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);

  for (let r = 0; r < rounds; r++) {
    const order = (r % 2 === 0 ? (['ovs', 'tsvs'] as Name[]) : (['tsvs', 'ovs'] as Name[])).filter(
      (n) => which.has(n),
    );
    log(`round ${r + 1}/${rounds} (order ${order.join(', ')}), load ${loadAvg()}`);
    const suts = new Map<Name, Sut>();
    for (const name of order) suts.set(name, name === 'ovs' ? await startOvs() : await startTsvs());
    try {
      // Unrecorded warm-up (lets V8 optimise our server; the same load is given to OVS).
      for (const name of order)
        await throughput(suts.get(name)!, transports[0]!, 1, warmup, window);
      for (const tr of transports) {
        for (const [key, clients] of [
          ['tput1', 1],
          ['tput8', 8],
        ] as const) {
          if (!only.has(key)) continue;
          for (const name of order) {
            const x = await throughput(suts.get(name)!, tr, clients, total, window);
            add(`${key}.${tr}.rate`, name, x.rate);
            add(`${key}.${tr}.cpu`, name, x.cpuUsPerTxn);
            log(
              `${name} ${key} ${tr}: ${fmt(x.rate)} txn/s, server ${fmt(x.cpuUsPerTxn)} µs CPU/txn`,
            );
          }
        }
        for (const [key, durable, n] of [
          ['lat', false, nLat],
          ['latdur', true, nDur],
        ] as const) {
          if (!only.has(key)) continue;
          for (const name of order) {
            const l = await latency(suts.get(name)!, tr, durable, n);
            for (const [q, lbl] of [
              [0.5, 'p50'],
              [0.9, 'p90'],
              [0.99, 'p99'],
            ] as const)
              add(`${key}.${tr}.${lbl}`, name, quantile(l, q));
            log(
              `${name} ${key} ${tr}: median ${fmt(quantile(l, 0.5))} ms, p90 ${fmt(quantile(l, 0.9))}, p99 ${fmt(quantile(l, 0.99))}`,
            );
          }
        }
        if (only.has('fanout')) {
          for (const name of order) {
            const f = await fanout(suts.get(name)!, tr, nMon, nFan);
            add(`fanout.${tr}.reply`, name, quantile(f.reply, 0.5));
            add(`fanout.${tr}.first`, name, quantile(f.first, 0.5));
            add(`fanout.${tr}.all`, name, quantile(f.all, 0.5));
            add(`fanout.${tr}.all90`, name, quantile(f.all, 0.9));
            log(
              `${name} fanout ${tr}: reply ${fmt(quantile(f.reply, 0.5))} / first ${fmt(quantile(f.first, 0.5))} / all ${fmt(quantile(f.all, 0.5))} ms (p90 ${fmt(quantile(f.all, 0.9))})`,
            );
          }
        }
      }
    } finally {
      for (const s of suts.values()) await s.stop();
    }
    if (only.has('size')) {
      for (const name of order) {
        const s = name === 'ovs' ? await startOvs() : await startTsvs();
        try {
          const z = await fileSize(s, nSize);
          add('size.after', name, z.after);
          add('size.compacted', name, z.compacted);
          log(`${name} file: ${z.after} B after ${nSize} txns, ${z.compacted} B compacted`);
        } finally {
          await s.stop();
        }
      }
    }
    loads.push(loadAvg());
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
    if (!s) return;
    rows.push({ metric, unit, higherIsBetter, tsvs: s.tsvs, ovs: s.ovs, target });
  };
  for (const tr of transports) {
    row(`tput1.${tr}.rate`, `pipelined inserts, 1 client, ${tr}`, 'txn/s', true, 1.5);
    row(`tput1.${tr}.cpu`, `  server CPU per txn, 1 client, ${tr}`, 'µs', false);
    row(`tput8.${tr}.rate`, `pipelined inserts, 8 clients, ${tr}`, 'txn/s', true, 1.5);
    row(`tput8.${tr}.cpu`, `  server CPU per txn, 8 clients, ${tr}`, 'µs', false);
    for (const [key, what] of [
      ['lat', 'durable:false'],
      ['latdur', 'durable:true'],
    ] as const) {
      row(`${key}.${tr}.p50`, `latency insert+commit ${what}, ${tr}, median`, 'ms', false, 1);
      row(`${key}.${tr}.p90`, `  the same, p90`, 'ms', false, 1);
      row(`${key}.${tr}.p99`, `  the same, p99`, 'ms', false, 1);
    }
    row(`fanout.${tr}.reply`, `fan-out ${nMon} monitors, ${tr}: txn reply, median`, 'ms', false);
    row(`fanout.${tr}.first`, `  first monitor update, median`, 'ms', false);
    row(`fanout.${tr}.all`, `  all ${nMon} monitors updated, median`, 'ms', false, 1);
    row(`fanout.${tr}.all90`, `  all ${nMon} monitors updated, p90`, 'ms', false, 1);
  }
  row('size.after', `DB file after init + ${nSize} single-insert txns`, 'bytes', false, 1);
  row('size.compacted', `  the same after ovsdb-server/compact`, 'bytes', false, 1);

  const cmd = `node ${process.execArgv.join(' ')} ${process.argv.slice(1).join(' ')}`;
  const md = [
    `# OVSDB: tsvs vs ovsdb-server 3.1 (${startedAt})`,
    '',
    `Command: \`${cmd}\``,
    '',
    `Rounds: ${rounds} (fresh servers each round, order flipped every round); txns per throughput run: ${total}` +
      ` (window ${window}/client); latency n=${nLat} (durable ${nDur}); fan-out ${nMon} monitors × ${nFan} txns;` +
      ` file size after ${nSize} txns; ${warmup} unrecorded warm-up txns per server per round. Each sample is one run's figure (latency rows: that run's quantile).`,
    `Load average before/after each round: ${loads.join(' → ')} (2 cores, shared machine).`,
    '',
    markdownTable(rows),
    '',
    'Targets (issue 3): txn/s ≥ 1.5× ovsdb-server; latency and file size no worse (ratio ≤ 1).',
    '',
  ].join('\n');
  const files = writeResults(
    'ovsdb',
    md,
    {
      startedAt,
      command: cmd,
      rounds,
      params: { total, window, nLat, nDur, nFan, nMon, nSize, transports },
      loadAvg: loads,
      samples: Object.fromEntries(samples),
    },
    o.get('out'),
  );
  console.log(md);
  log(`wrote ${files.md} and ${files.json}`);
}

await main();

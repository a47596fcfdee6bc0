/**
 * `npm run bench:floors` (root): what Node.js itself costs on two paths whose targets are
 * latency-bound, measured beside OVS 3.1 and a C program in the same run, so that a target
 * below the floor of a do-nothing Node program is recognised as such.
 *
 * 1. OpenFlow round trips. `ovs-ofctl add-flows` without `--bundle` sends each flow-mod followed
 *    by a barrier and waits for the barrier reply: one round trip per flow. The floor is
 *    {@link startTrivialResponder}, a Node server that parses nothing but the header and answers
 *    HELLO, ECHO, FEATURES, multipart (TABLE_FEATURES with tsvs's own table features, which
 *    ovs-ofctl asks for first) and BARRIER; flow-mods are ignored. The same file of N flows goes
 *    to it, to OVS 3.1 (bench/lib/ref-ovs.ts) and, with `--tsvs TARGET`, to a running tsvs.
 *    Beside it, bench/lib/of-responder.c (built with `cc` into a temporary directory) answers
 *    the same messages from a C loop blocking in read(2): the floor of any switch, C or not.
 * 2. Ping RTT through a relay (the peers harness's ceiling pair pf-h3 ⇄ pf-rl ⇄ pf-h4, from
 *    `topo.sh up`): the C pf-relay (recvmmsg/sendmmsg), a Node relay on the main thread
 *    (libuv poll → recv → send through our addon) and the same relay in a worker_thread blocking
 *    in the addon's `waitReadable`. 300 pings at 10 ms, median. OVS's figure comes from
 *    `bench:vs-ovs --only tcp` (same ping, through the switch).
 *
 *   node dist/bench/floors.js [--flows N] [--rounds R] [--tsvs unix:PATH] [--no-ping]
 *
 * Prints a markdown table; never part of `npm test`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeMultipartReply } from '../openflow/messages.js';
import { tableFeatures } from '../ofproto/pipeline.js';
import { loadNative } from '../datapath/native.js';
import { startRefOvs } from './lib/ref-ovs.js';

const OFPT = { HELLO: 0, ECHO_REQUEST: 2, ECHO_REPLY: 3, FEATURES_REQUEST: 5 } as const;
const OFPT_FEATURES_REPLY = 6;
const OFPT_MULTIPART_REQUEST = 18;
const OFPT_BARRIER_REQUEST = 20;
const OFPT_BARRIER_REPLY = 21;
const OFPMP_TABLE_FEATURES = 12;

/** A fixed-size reply of `type` to `xid` (header only, or header + zeroed body). */
function bare(type: number, xid: number, len = 8): Buffer {
  const b = Buffer.alloc(len);
  b[0] = 4;
  b[1] = type;
  b.writeUInt16BE(len, 2);
  b.writeUInt32BE(xid, 4);
  return b;
}

/**
 * The floor: a Node unix-socket server answering the handshake and barriers of ovs-ofctl and
 * ignoring everything else. Returns the server (listening on `path`).
 */
export function startTrivialResponder(path: string): Promise<Server> {
  const features = (xid: number): Buffer[] =>
    encodeMultipartReply({
      type: 'MULTIPART_REPLY',
      xid,
      flags: 0,
      mpType: 'TABLE_FEATURES',
      entries: tableFeatures(),
    }).map((u) => Buffer.from(u));
  const srv = createServer((s: Socket) => {
    s.write(bare(OFPT.HELLO, 1));
    let acc: Buffer = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      acc = acc.length > 0 ? Buffer.concat([acc, d]) : d;
      let off = 0;
      const out: Buffer[] = [];
      while (acc.length - off >= 8) {
        const len = acc.readUInt16BE(off + 2);
        if (len < 8 || acc.length - off < len) break;
        const type = acc[off + 1]!;
        const xid = acc.readUInt32BE(off + 4);
        if (type === OFPT_BARRIER_REQUEST) out.push(bare(OFPT_BARRIER_REPLY, xid));
        else if (type === OFPT.ECHO_REQUEST) out.push(bare(OFPT.ECHO_REPLY, xid));
        else if (type === OFPT.FEATURES_REQUEST) out.push(bare(OFPT_FEATURES_REPLY, xid, 32));
        else if (type === OFPT_MULTIPART_REQUEST && len >= 10) {
          if (acc.readUInt16BE(off + 8) === OFPMP_TABLE_FEATURES) out.push(...features(xid));
          else {
            const r = bare(19, xid, 16);
            r.writeUInt16BE(acc.readUInt16BE(off + 8), 8);
            out.push(r);
          }
        }
        off += len;
      }
      acc = acc.subarray(off);
      if (out.length === 1) s.write(out[0]!);
      else if (out.length > 1) s.write(Buffer.concat(out));
    });
    s.on('error', () => undefined);
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(path, () => resolve(srv));
  });
}

/**
 * Seconds `ovs-ofctl -O OpenFlow13 add-flows TARGET FILE` takes. Asynchronous: the trivial
 * responder runs in this process and must keep answering meanwhile.
 */
async function addFlowsSeconds(target: string, file: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const p = spawn('ovs-ofctl', ['-O', 'OpenFlow13', 'add-flows', target, file], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const code = await new Promise<number | null>((r) => p.once('exit', r));
  if (code !== 0) throw new Error(`ovs-ofctl add-flows ${target}: exit ${code}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median ping RTT (µs) of `count` pings at 10 ms from namespace `ns` to `ip`. */
function pingMedianUs(ns: string, ip: string, count: number): number {
  const out = execFileSync(
    'ip',
    ['netns', 'exec', ns, 'ping', '-c', String(count), '-i', '0.01', '-W', '1', ip],
    { encoding: 'utf8' },
  );
  const rtts = [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000);
  if (rtts.length < count / 2) throw new Error(`ping ${ns} → ${ip}: ${rtts.length} replies`);
  return median(rtts);
}

/** The Node relay of part 2, as the source of an ES module file. */
function relaySource(worker: boolean): string {
  const nativeUrl = new URL('../datapath/native.js', import.meta.url).href;
  const loop = `
    const n = loadNative();
    const [a, b] = ARGS;
    const sa = new n.PacketSocket(a, {}), sb = new n.PacketSocket(b, {});
    const SLOT = 2048, buf = new Uint8Array(32 * SLOT);
    const offs = new Int32Array(32), lens = new Int32Array(32), meta = new Int32Array(32);
    const relay = (from, to) => { for (;;) { const k = from.recv(buf, SLOT, 4, 32, offs, lens, meta); if (k === 0) break; to.send(buf, offs, lens, k); } };`;
  return worker
    ? `import { loadNative } from '${nativeUrl}';
       import { Worker, isMainThread, workerData } from 'node:worker_threads';
       if (isMainThread) new Worker(new URL(import.meta.url), { workerData: process.argv.slice(2) });
       else { const ARGS = workerData; ${loop}
         const fds = Int32Array.of(sa.fd, sb.fd), ready = new Uint8Array(2);
         for (;;) { n.waitReadable(fds, 2, 1000, ready); if (ready[0]) relay(sa, sb); if (ready[1]) relay(sb, sa); } }`
    : `import { loadNative } from '${nativeUrl}';
       const ARGS = process.argv.slice(2); ${loop}
       sa.startPoll(() => relay(sa, sb)); sb.startPoll(() => relay(sb, sa));`;
}

/** Where bench/lib/of-responder.c is, whether this runs from bench/ or from dist/bench/. */
function responderSource(): string | undefined {
  for (const rel of ['./lib/of-responder.c', '../../bench/lib/of-responder.c']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return undefined;
}

/**
 * Builds and starts the C responder on `path`; undefined when there is no C compiler or
 * source. The TABLE_FEATURES reply it sends is tsvs's, as the Node responder's.
 */
async function startCResponder(dir: string, path: string): Promise<ChildProcess | undefined> {
  const src = responderSource();
  if (src === undefined) return undefined;
  const bin = join(dir, 'of-responder');
  try {
    execFileSync('cc', ['-O2', '-o', bin, src], { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch {
    return undefined;
  }
  const feat = join(dir, 'table-features.bin');
  const msgs = encodeMultipartReply({
    type: 'MULTIPART_REPLY',
    xid: 0,
    flags: 0,
    mpType: 'TABLE_FEATURES',
    entries: tableFeatures(),
  });
  writeFileSync(feat, Buffer.concat(msgs.map((u) => Buffer.from(u))));
  const p = spawn(bin, [path, feat], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    p.once('exit', (c) => reject(new Error(`of-responder exited ${c}`)));
    p.stdout.once('data', () => resolve());
  });
  return p;
}

async function withRelay<T>(cmd: string[], fn: () => T): Promise<T> {
  const p: ChildProcess = spawn('ip', ['netns', 'exec', 'pf-rl', ...cmd], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 1000));
    return fn();
  } finally {
    p.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 300));
    p.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (k: string, d: string): string => {
    const i = args.indexOf(k);
    return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : d;
  };
  const nFlows = Number(opt('--flows', '20000'));
  const rounds = Number(opt('--rounds', '3'));
  const tsvs = opt('--tsvs', '');
  const rows: string[] = [];
  const load0 = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

  // Part 1: OpenFlow round trips.
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-floors-'));
  const file = join(dir, 'flows.txt');
  const lines: string[] = [];
  for (let i = 0; i < nFlows; i++)
    lines.push(
      `priority=100,ip,nw_dst=10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255},actions=output:2`,
    );
  writeFileSync(file, lines.join('\n') + '\n');
  const sock = join(dir, 'floor.sock');
  const srv = await startTrivialResponder(sock);
  const csock = join(dir, 'floor-c.sock');
  const cResp = await startCResponder(dir, csock);
  const ovs = await startRefOvs('br0');
  const t: Record<string, number[]> = { floor: [], cfloor: [], ovs: [], tsvs: [] };
  try {
    for (let r = 0; r < rounds; r++) {
      t.floor!.push(await addFlowsSeconds(`unix:${sock}`, file));
      if (cResp) t.cfloor!.push(await addFlowsSeconds(`unix:${csock}`, file));
      execFileSync('ovs-ofctl', ['-O', 'OpenFlow13', 'del-flows', ovs.ofTarget]);
      t.ovs!.push(await addFlowsSeconds(ovs.ofTarget, file));
      if (tsvs) {
        execFileSync('ovs-ofctl', ['-O', 'OpenFlow13', 'del-flows', tsvs]);
        t.tsvs!.push(await addFlowsSeconds(tsvs, file));
      }
    }
  } finally {
    srv.close();
    cResp?.kill('SIGKILL');
    await ovs.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const rate = (k: string): number => nFlows / median(t[k]!);
  const ovsRate = rate('ovs');
  rows.push(`| add-flows ${nFlows}, plain: OVS 3.1 | ${ovsRate.toFixed(0)} flows/s | 1.00 |`);
  rows.push(
    `| add-flows ${nFlows}, plain: trivial Node responder (floor) | ${rate('floor').toFixed(0)} flows/s | ${(rate('floor') / ovsRate).toFixed(2)} |`,
  );
  rows.push(
    cResp
      ? `| add-flows ${nFlows}, plain: trivial C responder, blocking read(2) | ${rate('cfloor').toFixed(0)} flows/s | ${(rate('cfloor') / ovsRate).toFixed(2)} |`
      : `| add-flows ${nFlows}, plain: trivial C responder | not built (no cc) | |`,
  );
  if (tsvs)
    rows.push(
      `| add-flows ${nFlows}, plain: tsvs | ${rate('tsvs').toFixed(0)} flows/s | ${(rate('tsvs') / ovsRate).toFixed(2)} |`,
    );

  // Part 2: ping through relays on the ceiling pair.
  if (!args.includes('--no-ping')) {
    if (!existsSync('/var/run/netns/pf-rl'))
      throw new Error('no netns pf-rl: run the peers topo.sh up (or bench:vs-ovs) first');
    loadNative();
    const relayBin = '/tmp/pf-perf-bin/pf-relay';
    const ping = (): number => pingMedianUs('pf-h3', '10.0.0.2', 300);
    const c = existsSync(relayBin) ? await withRelay([relayBin, 'pfs3', 'pfs4'], ping) : NaN;
    const rdir = mkdtempSync(join(tmpdir(), 'tsvs-floors-relay-'));
    const mainJs = join(rdir, 'relay-main.mjs');
    const workerJs = join(rdir, 'relay-worker.mjs');
    writeFileSync(mainJs, relaySource(false));
    writeFileSync(workerJs, relaySource(true));
    let main: number;
    let wk: number;
    try {
      main = await withRelay([process.execPath, mainJs, 'pfs3', 'pfs4'], ping);
      wk = await withRelay([process.execPath, workerJs, 'pfs3', 'pfs4'], ping);
    } finally {
      rmSync(rdir, { recursive: true, force: true });
    }
    rows.push(`| ping RTT median through the C pf-relay | ${c.toFixed(0)} µs | |`);
    rows.push(`| ping RTT median through a Node relay, main thread | ${main.toFixed(0)} µs | |`);
    rows.push(
      `| ping RTT median through a Node relay, worker + waitReadable | ${wk.toFixed(0)} µs | |`,
    );
  }
  process.stdout.write(
    `Load average at start: ${load0}; ${rounds} round(s), medians.\n\n| what | figure | ÷ OVS |\n|---|---|---|\n${rows.join('\n')}\n`,
  );
}

await main();

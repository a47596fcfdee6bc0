/**
 * `tsvs topo` spec files, link state, the prompt and topo.json, end to end (root), on tsvs
 * bridges in standalone mode (NORMAL, no controller):
 * - a YAML spec with VLAN hosts and MTU 9000 links builds; hosts of one VLAN ping each other
 *   (8000-byte pings with DF set too), a host outside the VLAN does not reach them;
 * - `link S1 S2 down` cuts the pair and `up` restores it; `link H S down` likewise; topo.json
 *   follows;
 * - the prompt driven through stdin (`tsvs topo FILE --cli`, the real binary): `h1 ping -c1 h2`,
 *   `pingall`, `links`, `iperf`, `exit`; progress on stderr;
 * - topo.json: written with the right hosts and links, removed on stop; nothing left behind.
 * Names carry the prefix `tq`.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { standardComponents } from '../../vswitchd/components.js';
import { Daemon } from '../../vswitchd/daemon.js';
import { resolvePaths } from '../../vswitchd/paths.js';
import { loadNative } from '../../datapath/native.js';
import {
  Topo,
  isTopoDescription,
  parseSpecFile,
  type DaemonStarter,
  type TopoDescription,
} from '../../topo/index.js';
import { ip, listLinks, listNamespaces } from '../../topo/net.js';
import { makeTempDir } from '../helpers/daemon.js';
import { requirePeer, type PeerTest } from '../helpers/peers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSVS = join(ROOT, 'dist/bin/tsvs.js');

const startDaemon: DaemonStarter = (rundir) =>
  Daemon.start({
    paths: resolvePaths({ rundir, logFile: null }),
    components: standardComponents(),
  });

let seq = 0;
/** `tq` + this process's pid in base 36 (last 4 characters) + a counter letter. */
function prefix(): string {
  return `tq${process.pid.toString(36).slice(-4)}${'abcdefghijklmnopqrstuvwxyz'[seq++ % 26]}`;
}

function undoStack(t: { teardown(fn: () => unknown): void }): (fn: () => unknown) => void {
  const fns: (() => unknown)[] = [];
  t.teardown(async () => {
    for (const f of fns.reverse()) await f();
  });
  return (fn) => void fns.push(fn);
}

function tempDir(undo: (fn: () => unknown) => void): string {
  const dir = makeTempDir('tsvs-tq-');
  undo(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function leftovers(p: string): Promise<string[]> {
  return [...(await listNamespaces()), ...(await listLinks())].filter((n) => n.startsWith(p));
}

function readDescription(file: string): TopoDescription {
  const d: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!isTopoDescription(d)) throw new Error(`not a topo description: ${file}`);
  return d;
}

/** Polls `f` until it returns true (every 200 ms, up to `ms`); resolves with the last result. */
async function eventually(f: () => Promise<boolean>, ms = 15_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await f()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function ready(t: PeerTest, ...extra: ('iperf3' | 'ethtool')[]): boolean {
  if (!requirePeer(t, 'ip', 'ping', ...extra)) return false;
  if (process.getuid?.() !== 0) {
    if (process.env.CI === 'true') t.fail('topo tests need root');
    else t.plan(0, 'skip: topo tests need root');
    return false;
  }
  try {
    loadNative();
  } catch (e) {
    if (process.env.CI === 'true') t.fail(`AF_PACKET addon not built: ${(e as Error).message}`);
    else t.plan(0, 'skip: AF_PACKET addon not built (npm run build:native)');
    return false;
  }
  return true;
}

const VLAN_SPEC = `# two hosts in VLAN 10 across two switches, jumbo frames; h3 untagged
name: vlan-jumbo
hosts:
  - { name: h1, ip: 10.10.0.1/24, vlan: 10 }
  - { name: h2, ip: 10.10.0.2/24, vlan: 10 }
  - { name: h3, ip: 10.10.0.3/24 }
switches: [s1, s2]
links:
  - { a: h1, b: s1, mtu: 9000 }
  - { a: s1, b: s2, mtu: 9000 }
  - { a: h2, b: s2, mtu: 9000 }
  - [h3, s1]
`;

t.test('spec file: VLAN hosts and MTU 9000 links build and ping; topo.json', async (t) => {
  if (!ready(t)) return;
  const undo = undoStack(t);
  const dir = tempDir(undo);
  const file = join(dir, 'net.yaml');
  writeFileSync(file, VLAN_SPEC);
  const lines: string[] = [];
  const p = prefix();
  const net = await Topo.start({
    spec: parseSpecFile(file),
    rundir: join(dir, 'run'),
    startDaemon,
    prefix: p,
    log: (l) => lines.push(l),
  });
  undo(() => net.stop());
  t.comment(lines.join('\n'));
  const h1 = net.host('h1')!;
  t.equal(h1.vlan, 10);
  t.comment(`VLAN applied at: ${h1.vlanAt ?? '?'}`);
  if (h1.vlanAt === 'host') {
    t.equal(h1.iface, 'h1-eth0.10', 'the address sits on a VLAN subinterface');
    t.match(
      await ip('-n', h1.ns, '-d', 'link', 'show', 'h1-eth0.10'),
      /vlan protocol 802\.1Q id 10/,
    );
  } else {
    t.match(lines.join('\n'), /no 802\.1Q VLAN devices/, 'the fallback is announced');
    t.equal(h1.iface, 'h1-eth0');
  }
  t.match(await ip('-n', h1.ns, 'addr', 'show', 'dev', h1.iface), /inet 10\.10\.0\.1\/24/);
  t.match(await ip('-n', h1.ns, 'link', 'show', 'h1-eth0'), /mtu 9000/, 'host end MTU');
  t.match(await ip('link', 'show', net.switchIfname('s1', 2)), /mtu 9000/, 'trunk MTU');

  const r = await net.ping('h1', 'h2');
  t.equal(r.received, 1, `h1 -> h2 in VLAN 10: ${r.output}`);
  let out = '';
  const code = await net.exec('h1', 'ping -c1 -W2 -M do -s 8000 10.10.0.2', {
    onStdout: (s) => (out += s),
    onStderr: (s) => (out += s),
  });
  t.equal(code, 0, `8000-byte ping with DF across the MTU 9000 path: ${out}`);
  t.match(out, /8008 bytes from 10\.10\.0\.2/);
  const iso = await net.ping('h3', 'h1');
  t.equal(iso.received, 0, 'untagged h3 does not reach VLAN 10');

  const d = readDescription(join(dir, 'run', 'topo.json'));
  t.equal(d.prefix, p);
  t.equal(d.spec, 'vlan-jumbo');
  t.equal(d.failMode, 'standalone');
  t.same(d.controllers, []);
  t.same(
    d.hosts.map((h) => [h.name, h.netns, h.ip, h.vlan, h.switch, h.port]),
    [
      ['h1', `${p}h1`, '10.10.0.1', 10, 's1', 1],
      ['h2', `${p}h2`, '10.10.0.2', 10, 's2', 2],
      ['h3', `${p}h3`, '10.10.0.3', undefined, 's1', 3],
    ],
  );
  t.same(
    d.switches.map((s) => [s.name, s.dpid]),
    [
      ['s1', '0000000000000001'],
      ['s2', '0000000000000002'],
    ],
  );
  t.same(
    d.links.map((l) => [l.a, l.b, l.aIface, l.bIface, l.up, l.mtu]),
    [
      ['h1', 's1', 'h1-eth0', `${p}s1e1`, true, 9000],
      ['s1', 's2', `${p}s1e2`, `${p}s2e1`, true, 9000],
      ['h2', 's2', 'h2-eth0', `${p}s2e2`, true, 9000],
      ['h3', 's1', 'h3-eth0', `${p}s1e3`, true, undefined],
    ],
  );
  await net.stop();
  t.notOk(existsSync(join(dir, 'run', 'topo.json')), 'topo.json removed on stop');
  t.same(await leftovers(p), [], 'nothing left with the prefix');
});

t.test('link S1 S2 down cuts the pair, up restores it; host links too', async (t) => {
  if (!ready(t)) return;
  const undo = undoStack(t);
  const dir = tempDir(undo);
  const p = prefix();
  const net = await Topo.start({
    spec: 'linear,2',
    rundir: join(dir, 'run'),
    startDaemon,
    prefix: p,
  });
  undo(() => net.stop());
  const desc = join(dir, 'run', 'topo.json');
  const linkUp = (a: string, b: string): boolean | undefined =>
    readDescription(desc).links.find((l) => (l.a === a && l.b === b) || (l.a === b && l.b === a))
      ?.up;
  t.equal((await net.ping('h1', 'h2')).received, 1, 'connected');

  await net.setLink('s1', 's2', false);
  t.equal(linkUp('s1', 's2'), false, 'topo.json: s1-s2 down');
  t.match(await ip('link', 'show', net.switchIfname('s1', 2)), /state DOWN/);
  t.equal((await net.ping('h1', 'h2', 2)).received, 0, 'no path while s1-s2 is down');
  t.same(
    net.links.map((l) => `${l.a}-${l.b}:${l.up ? 'up' : 'down'}`),
    ['h1-s1:up', 'h2-s2:up', 's2-s1:down'],
  );

  await net.setLink('s2', 's1', true);
  t.equal(linkUp('s1', 's2'), true, 'topo.json: s1-s2 up');
  t.ok(
    await eventually(async () => (await net.ping('h1', 'h2')).received === 1),
    'connected again after up',
  );

  await net.setLink('h2', 's2', false);
  t.match(await ip('-n', net.host('h2')!.ns, 'link', 'show', 'h2-eth0'), /state DOWN/);
  t.equal((await net.ping('h1', 'h2', 2)).received, 0, 'host link down');
  await net.setLink('h2', 's2', true);
  t.ok(await eventually(async () => (await net.ping('h1', 'h2')).received === 1), 'host link up');

  await t.rejects(net.setLink('h1', 's2', false), /no link between h1 and s2/);
  await t.rejects(net.setLink('h1', 'x9', false), /no node named "x9"/);
  await net.stop();
  t.same(await leftovers(p), []);
});

/** Runs the built `tsvs` with `args`, writing `input` to its stdin; resolves on exit. */
function runTsvs(
  args: string[],
  input: string,
  timeoutMs: number,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TSVS, 'topo', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
    child.stdin.end(input);
  });
}

t.test('the prompt through stdin (--cli): host command, pingall, links, iperf, exit', async (t) => {
  if (!ready(t, 'iperf3')) return;
  if (!existsSync(TSVS)) {
    t.fail(`${TSVS} missing: run npm run build first`);
    return;
  }
  const undo = undoStack(t);
  const dir = tempDir(undo);
  const p = prefix();
  const rundir = join(dir, 'run');
  undo(async () => {
    // Only if the child died without tearing down.
    if ((await leftovers(p)).length > 0) await Topo.clean({ rundir, prefix: p, startDaemon });
  });
  const file = join(dir, 'net.json');
  writeFileSync(
    file,
    JSON.stringify({
      hosts: ['h1', 'h2'],
      switches: ['s1'],
      links: [
        ['h1', 's1'],
        ['h2', 's1'],
      ],
    }),
  );
  const script = [
    'h1 ping -c1 h2',
    'pingall',
    'links',
    'link h2 s1 down',
    'links',
    'link h2 s1 up',
    'iperf h1 h2 1',
    `sh ip -o link show ${p}s1e2`,
    'nosuchcommand',
    'exit',
    'pingall',
  ].join('\n');
  const r = await runTsvs(
    [file, '--cli', '--rundir', rundir, '--prefix', p],
    `${script}\n`,
    180_000,
  );
  t.comment(r.out);
  t.comment(r.err);
  t.equal(r.code, 0, 'exit status 0');
  t.match(r.out, /^tsvs> /, 'prompt');
  t.match(r.out, /PING 10\.0\.0\.2 .*\n64 bytes from 10\.0\.0\.2/, 'h2 replaced by its address');
  t.match(r.out, /1 packets transmitted, 1 received/);
  t.match(r.out, /h1 -> h2\nh2 -> h1\n\*\*\* Results: 0% dropped \(2\/2 received\)\n/);
  t.match(r.out, `h1:h1-eth0<->s1:${p}s1e1 (up)\nh2:h2-eth0<->s1:${p}s1e2 (up)\n`);
  t.match(r.out, `h2:h2-eth0<->s1:${p}s1e2 (down)\n`);
  t.match(r.out, /\*\*\* Iperf: testing TCP bandwidth between h1 and h2\n/);
  t.match(r.out, /\*\*\* Results: \['[\d.]+ [KMGT]?bits\/sec', '[\d.]+ [KMGT]?bits\/sec'\]\n/);
  t.equal(r.out.match(/\*\*\* Ping: testing/g)?.length, 1, 'nothing runs after exit');
  t.match(r.out, new RegExp(`\\d+: ${p}s1e2@`), 'sh runs in the root namespace');
  t.match(r.err, /Unknown command: nosuchcommand/);
  t.match(r.err, /\*\*\* Adding hosts: h1 h2\n/, 'progress on stderr');
  t.match(r.err, /\*\*\* Done\n/);
  t.notOk(existsSync(join(rundir, 'topo.json')), 'topo.json removed');
  t.same(await leftovers(p), [], 'torn down');
});

t.test('one-shot options in order, --quiet, exit 1 on a lost ping', async (t) => {
  if (!ready(t)) return;
  const undo = undoStack(t);
  const dir = tempDir(undo);
  const p = prefix();
  const rundir = join(dir, 'run');
  undo(async () => {
    if ((await leftovers(p)).length > 0) await Topo.clean({ rundir, prefix: p, startDaemon });
  });
  const r = await runTsvs(
    [
      'minimal',
      '-q',
      '--rundir',
      rundir,
      '--prefix',
      p,
      '--ping',
      'h1,h2',
      '--link',
      's1,h2,down',
      '--ping',
      'h1,h2',
      '--dump',
    ],
    '',
    120_000,
  );
  t.comment(r.out);
  t.equal(r.code, 1, 'the second ping is lost');
  t.equal(r.err, '', 'quiet');
  t.match(
    r.out,
    /^\*\*\* Ping: h1 -> h2: 1\/1 received, rtt avg [\d.]+ ms\n\*\*\* Ping: h1 -> h2: 0\/1 received\n/,
  );
  t.match(
    r.out,
    new RegExp(`<Host h1: h1-eth0:10\\.0\\.0\\.1/8 mac=00:00:00:00:00:01 ns=${p}h1 switch=s1:1>`),
  );
  t.match(r.out, new RegExp(`<Switch s1: dpid=0000000000000001 ports=1:${p}s1e1,2:${p}s1e2>`));
  t.same(await leftovers(p), []);
});

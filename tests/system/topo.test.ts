/**
 * `tsvs topo` end to end (root): Mininet-style networks of namespaces and veths on tsvs bridges
 * in standalone mode (NORMAL). single,3 and linear,3 pingall with no loss; teardown leaves no
 * namespace or link with the topology's prefix; the CLI's pingall output; --clean by prefix.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { standardComponents } from '../../vswitchd/components.js';
import { Daemon } from '../../vswitchd/daemon.js';
import { resolvePaths } from '../../vswitchd/paths.js';
import { loadNative } from '../../datapath/native.js';
import { Topo, OvsdbClient, type DaemonStarter } from '../../topo/index.js';
import { listLinks, listNamespaces } from '../../topo/net.js';
import { runTopoCli } from '../../topo/cli.js';
import { makeTempDir } from '../helpers/daemon.js';
import { requirePeer, type PeerTest } from '../helpers/peers.js';

const startDaemon: DaemonStarter = (rundir) =>
  Daemon.start({
    paths: resolvePaths({ rundir, logFile: null }),
    components: standardComponents(),
  });

/** Runs the clean-ups registered with the returned function in reverse order at teardown. */
function undoStack(t: { teardown(fn: () => unknown): void }): (fn: () => unknown) => void {
  const fns: (() => unknown)[] = [];
  t.teardown(async () => {
    for (const f of fns.reverse()) await f();
  });
  return (fn) => void fns.push(fn);
}

/** A fresh temporary directory, removed at teardown (after everything registered later). */
function tempDir(undo: (fn: () => unknown) => void): string {
  const dir = makeTempDir();
  undo(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function leftovers(prefix: string): Promise<string[]> {
  return [...(await listNamespaces()), ...(await listLinks())].filter((n) => n.startsWith(prefix));
}

async function bridgeNames(rundir: string): Promise<string[]> {
  const c = await OvsdbClient.connect(join(rundir, 'db.sock'));
  try {
    return (await c.select('Bridge', [], ['name'])).map((r) => String(r.name as string));
  } finally {
    c.close();
  }
}

function ready(t: PeerTest): boolean {
  if (!requirePeer(t, 'ip', 'ping')) return false;
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

for (const spec of ['single,3', 'linear,3', 'tree,depth=2,fanout=2']) {
  t.test(`${spec}: pingall 0% dropped (standalone), teardown leaves nothing`, async (t) => {
    if (!ready(t)) return;
    const undo = undoStack(t);
    const dir = tempDir(undo);
    const lines: string[] = [];
    const net = await Topo.start({
      spec,
      rundir: join(dir, 'run'),
      startDaemon,
      log: (l) => lines.push(l),
    });
    undo(() => net.stop());
    t.ok(net.ownsDaemon, 'started its own daemon');
    const n = net.hosts.length;
    t.equal(n, spec.startsWith('tree') ? 4 : 3);
    // One namespace per host; in the root namespace one veth end per host link and two per
    // switch-to-switch link.
    const swLinks = net.graph.links.filter((l) => l.a.node[0] === 's' && l.b.node[0] === 's');
    t.equal(
      (await leftovers(net.prefix)).length,
      2 * n + 2 * swLinks.length,
      'namespaces and veth ends carry the prefix',
    );
    const r = await net.pingAll();
    t.comment(lines.join('\n'));
    t.equal(r.sent, n * (n - 1));
    t.equal(r.received, r.sent, 'every ping answered');
    t.equal(r.droppedPct, 0);
    t.match(lines.join('\n'), `*** Results: 0% dropped (${r.sent}/${r.sent} received)`);
    t.match(lines.join('\n'), /^h1 -> h2 h3/m);
    await net.stop();
    t.same(await leftovers(net.prefix), [], 'no namespace or link left with the prefix');
  });
}

t.test('uses a daemon already running on the rundir, and removes only its bridges', async (t) => {
  if (!ready(t)) return;
  const undo = undoStack(t);
  const rundir = join(tempDir(undo), 'run');
  const d = await startDaemon(rundir);
  undo(() => d.stop());
  const net = await Topo.start({ spec: 'linear,2', rundir });
  undo(() => net.stop());
  t.notOk(net.ownsDaemon);
  t.same((await bridgeNames(rundir)).sort(), ['s1', 's2']);
  await t.rejects(Topo.start({ spec: 'single,2', rundir }), /bridge s1 already exists/);
  const r = await net.pingAll();
  t.equal(r.received, 2);
  await net.stop();
  t.same(await bridgeNames(rundir), [], 'bridges gone');
  t.same(await leftovers(net.prefix), []);
});

t.test('--clean removes the namespaces, links and bridges of a prefix', async (t) => {
  if (!ready(t)) return;
  const undo = undoStack(t);
  const rundir = join(tempDir(undo), 'run');
  const d = await startDaemon(rundir);
  undo(() => d.stop());
  const prefix = `tc${(process.pid % 100000).toString(36)}`;
  const net = await Topo.start({ spec: 'linear,2', rundir, prefix });
  undo(() => net.stop());
  t.ok((await leftovers(prefix)).length > 0);
  const out: string[] = [];
  const code = await runTopoCli(['--clean', '--rundir', rundir, '--prefix', prefix], {
    out: (s) => out.push(s),
  });
  t.equal(code, 0, out.join(''));
  t.same(await leftovers(prefix), [], 'namespaces and links gone');
  t.same(await bridgeNames(rundir), [], 'bridges gone');
  await net.stop(); // idempotent on what is already gone
});

t.test('CLI: tsvs topo minimal --pingall', async (t) => {
  if (!ready(t)) return;
  const undo = undoStack(t);
  const dir = tempDir(undo);
  const out: string[] = [];
  const err: string[] = [];
  const code = await runTopoCli(['minimal', '--pingall', '--rundir', join(dir, 'run')], {
    startDaemon,
    out: (s) => out.push(s),
    err: (s) => err.push(s),
  });
  const text = out.join('');
  t.comment(text);
  t.equal(code, 0, err.join(''));
  t.match(err.join(''), /\*\*\* Adding hosts: h1 h2\n/, 'progress on stderr');
  t.match(text, /h1 -> h2\nh2 -> h1\n\*\*\* Results: 0% dropped \(2\/2 received\)\n/);
  t.equal(await runTopoCli(['ring,3'], { err: () => undefined }), 2, 'usage error');
});

/**
 * Real Mininet 2.3 (Debian's python3 package) through its Python API, driven by
 * tests/interop/fixtures/mininet_linear.py — never the `mn` command, and never `mn -c`, whose
 * clean-up kills processes machine-wide.
 *
 * `tsvs start --ovs-paths` runs as a child process, so Mininet's plain `ovs-vsctl` and
 * `ovs-ofctl` find it at Open vSwitch's default run directory (/var/run/openvswitch). Its
 * database and log go to a temporary directory (`--db`, `--log-file`), so /etc/openvswitch and
 * /var/log/openvswitch are not touched; the run directory is restored afterwards (removed if it
 * did not exist, else only the entries this test added are removed).
 *
 * - Mininet(topo=LinearTopo(3), switch=OVSSwitch(datapath='user'), controller=RemoteController
 *   -> our os-ken learning switch): starts, pingAll reports 0 % loss.
 * - The same with failMode='standalone' and no controller.
 * - After each net.stop() the database is clean (`ovs-vsctl show`: no bridge, port or
 *   controller), and no Mininet interface is left.
 *
 * Mininet names its hosts h1.. and switches s1..: the test refuses to run (fails, clobbers
 * nothing) when interfaces or namespaces of those names exist, or when an Open vSwitch daemon
 * already uses the default paths.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import { packageRoot } from '../../vswitchd/paths.js';
import { tsvsCommand } from '../helpers/daemon.js';
import { pollUntil, undoStack } from '../helpers/e2e-net.js';
import { LEARNING_SWITCH_APP, OskenApp } from '../helpers/osken-app.js';
import { DEBIAN_PYTHON, requirePeer } from '../helpers/peers.js';
import { runTool } from '../helpers/tools.js';

// Namespaces, a daemon and controllers on a shared 2-core machine: generous, never asserted.
t.setTimeout(300_000);

const DRIVER = new URL('./fixtures/mininet_linear.py', import.meta.url).pathname;
/** Open vSwitch's run directory (what `--ovs-paths` selects). */
const OVS_RUNDIR = '/var/run/openvswitch';
/** Root-namespace names Mininet's LinearTopo(3) creates or deletes. */
const MININET_NAME = /^(?:[sh][1-3](?:-eth\d+)?)$/;

interface DriverEvent {
  event: string;
  [k: string]: unknown;
}

async function rootLinks(): Promise<string[]> {
  const r = await runTool('ip', ['-o', 'link', 'show']);
  return r.stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}

async function namedNetns(): Promise<string[]> {
  const r = await runTool('ip', ['netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

/**
 * ovsdb-server / ovs-vswitchd processes that use Open vSwitch's default locations: their command
 * line names /run/openvswitch or /etc/openvswitch, or gives no database (positional argument),
 * so they fall back to the defaults. Only processes still there a second later count (another
 * test's `ovsdb-server --version` is not a daemon).
 */
async function defaultPathOvsDaemons(): Promise<string[]> {
  const scan = (): Map<string, string> => {
    const found = new Map<string, string>();
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      let comm: string;
      let argv: string[];
      try {
        comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
        argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      } catch {
        continue;
      }
      if (comm !== 'ovsdb-server' && comm !== 'ovs-vswitchd') continue;
      // A zombie (exited, not yet reaped by its parent) has an empty command line.
      if (argv.length === 0) continue;
      const info = argv.some((a) => a === '--version' || a === '-V' || a === '--help');
      const mentionsDefault = argv.some((a) => /\/(run|etc)\/openvswitch/.test(a));
      const database = argv.slice(1).some((a) => !a.startsWith('-'));
      if (mentionsDefault || (!database && !info)) {
        found.set(pid, `${comm} (pid ${pid}): ${argv.join(' ')}`);
      }
    }
    return found;
  };
  const first = scan();
  if (first.size === 0) return [];
  await new Promise((r) => setTimeout(r, 1000));
  const again = scan();
  return [...first].filter(([pid, line]) => again.get(pid) === line).map(([, line]) => line);
}

/** Why this machine is not safe for the test, or undefined. */
async function refuseReason(): Promise<string | undefined> {
  const links = (await rootLinks()).filter((n) => MININET_NAME.test(n));
  if (links.length > 0) {
    return `interfaces named like Mininet's exist (${links.join(', ')}); Mininet would delete them`;
  }
  const ns = (await namedNetns()).filter((n) => MININET_NAME.test(n));
  if (ns.length > 0) return `network namespaces named like Mininet's hosts exist: ${ns.join(', ')}`;
  const daemons = await defaultPathOvsDaemons();
  if (daemons.length > 0) {
    return `an Open vSwitch daemon uses the default paths: ${daemons.join('; ')}`;
  }
  for (const f of ['db.sock', 'ovsdb-server.pid', 'ovs-vswitchd.pid', 'tsvs.ctl', 'tsvs.pid']) {
    if (existsSync(join(OVS_RUNDIR, f))) {
      return `${join(OVS_RUNDIR, f)} exists: another switch daemon may be running there`;
    }
  }
  return undefined;
}

/** Runs the Mininet driver; resolves with its events, exit status and stderr (Mininet's log). */
function runDriver(
  args: string[],
  timeoutMs = 240_000,
): Promise<{ events: DriverEvent[]; code: number | null; log: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(DEBIAN_PYTHON, [DRIVER, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // Mininet runs ovs-vsctl/ovs-ofctl/mnexec through PATH.
      env: {
        ...process.env,
        PATH: `/usr/sbin:/usr/bin:/sbin:/bin:${process.env.PATH ?? ''}`,
        PYTHONDONTWRITEBYTECODE: '1',
      },
    });
    const events: DriverEvent[] = [];
    let log = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (log += s));
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        events.push(JSON.parse(line) as DriverEvent);
      } catch {
        log += `${line}\n`;
      }
    });
    // SIGINT lets the driver's finally: net.stop() run; SIGKILL only if that hangs too.
    const timer = setTimeout(() => {
      child.kill('SIGINT');
      setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ events, code, log });
    });
  });
}

/** `ovs-vsctl ARGS` at the default database socket, as Mininet runs it. */
function vsctl(...args: string[]) {
  return runTool('ovs-vsctl', ['--timeout=10', ...args]);
}

/** Starts `tsvs start --ovs-paths` as a child; resolves once `ovs-vsctl show` answers. */
async function startTsvsOvsPaths(
  dir: string,
): Promise<{ child: ChildProcess; stop(): Promise<void> }> {
  const cmd = tsvsCommand();
  const child = spawn(
    process.execPath,
    [
      ...cmd.nodeArgs,
      'start',
      '--ovs-paths',
      '--db',
      join(dir, 'conf.db'),
      '--log-file',
      join(dir, 'tsvs.log'),
    ],
    { cwd: packageRoot(), env: { ...process.env, ...cmd.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  let exited = false;
  const done = new Promise<void>((r) =>
    child.on('exit', () => {
      exited = true;
      r();
    }),
  );
  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(timer);
  };
  const up = await pollUntil(
    async () =>
      exited || (/running \(pid \d+\)/.test(out) && (await vsctl('-t', '1', 'show')).code === 0),
    60_000,
  );
  if (!up || exited) {
    await stop();
    throw new Error(`tsvs start --ovs-paths did not come up: ${out}`);
  }
  return { child, stop };
}

t.test('real Mininet 2.3 on tsvs --ovs-paths', async (t) => {
  if (!requirePeer(t, 'python:mininet', 'mn', 'ovs-vsctl', 'ovs-ofctl', 'osken-manager', 'ip')) {
    return;
  }
  if (process.getuid?.() !== 0) {
    if (process.env.CI === 'true') t.fail('Mininet needs root');
    else t.plan(0, 'skip: Mininet needs root');
    return;
  }
  const why = await refuseReason();
  if (why !== undefined) {
    t.fail(`refusing to run Mininet: ${why}`);
    return;
  }
  const undo = undoStack(t);
  // Restore the default run directory exactly: absent, or with only its earlier entries.
  const hadRundir = existsSync(OVS_RUNDIR);
  const before = new Set(hadRundir ? readdirSync(OVS_RUNDIR) : []);
  undo(() => {
    if (!existsSync(OVS_RUNDIR)) return;
    if (!hadRundir) rmSync(OVS_RUNDIR, { recursive: true, force: true });
    else {
      for (const e of readdirSync(OVS_RUNDIR)) {
        if (!before.has(e)) rmSync(join(OVS_RUNDIR, e), { recursive: true, force: true });
      }
    }
  });
  // Whatever Mininet left behind: names that did not exist before this test (checked above).
  undo(async () => {
    for (const l of (await rootLinks()).filter((n) => MININET_NAME.test(n))) {
      await runTool('ip', ['link', 'del', l]);
    }
  });
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-tc-mn-'));
  undo(() => rmSync(dir, { recursive: true, force: true }));
  const tsvs = await startTsvsOvsPaths(dir);
  undo(() => tsvs.stop());

  const databaseClean = async (t: Test, when: string): Promise<void> => {
    const show = await vsctl('show');
    t.equal(show.code, 0, show.stderr);
    t.notMatch(show.stdout, /Bridge|Port|Interface|Controller/, `${when}: ovs-vsctl show is empty`);
    t.match(show.stdout, /^[0-9a-f-]{36}\n/, 'only the Open_vSwitch row');
    for (const table of ['Bridge', 'Port', 'Interface', 'Controller']) {
      const r = await vsctl('--columns=_uuid', 'list', table);
      t.equal(r.stdout.trim(), '', `${when}: no ${table} rows`);
    }
    const left = (await rootLinks()).filter((n) => MININET_NAME.test(n));
    t.same(left, [], `${when}: no Mininet interface left`);
  };
  await databaseClean(t, 'before');

  await t.test('LinearTopo(3), OVSSwitch datapath=user, RemoteController(os-ken)', async (t) => {
    const app = await OskenApp.start({ app: LEARNING_SWITCH_APP });
    t.teardown(() => app.stop());
    const r = await runDriver(['--controller-port', String(app.port)]);
    const ev = (name: string) => r.events.find((e) => e.event === name);
    t.equal(r.code, 0, 'the driver started, pinged and stopped the network', {
      failure: ev('failed'),
      mininetLog: r.log.slice(-3000),
    });
    t.same(ev('started')?.hosts, ['h1', 'h2', 'h3']);
    t.same(ev('started')?.switches, ['s1', 's2', 's3']);
    t.equal(ev('connected')?.ok, true, 'net.waitConnected(): every switch connected');
    t.same(ev('flows')?.missing, [], "the app's table-miss flow shows on every switch (dpctl)");
    t.equal(ev('pingall')?.loss, 0, 'pingAll: 0 % loss');
    t.ok(ev('stopped'), 'net.stop() returned');
    for (const dpid of [1, 2, 3]) {
      t.ok(
        app.events.some((e) => e.event === 'ready' && e.dpid === dpid),
        `os-ken saw switch ${dpid}`,
      );
    }
    t.ok(
      app.events.some((e) => e.event === 'flow'),
      'os-ken installed learned flows',
    );
    t.match(r.log, /\*\*\* Results: 0% dropped \(6\/6 received\)/);
    await databaseClean(t, 'after net.stop()');
  });

  await t.test("failMode='standalone', no controller", async (t) => {
    const r = await runDriver(['--standalone']);
    const ev = (name: string) => r.events.find((e) => e.event === name);
    t.equal(r.code, 0, 'the driver started, pinged and stopped the network', {
      failure: ev('failed'),
      mininetLog: r.log.slice(-3000),
    });
    t.equal(ev('connected')?.ok, true, 'standalone switches count as connected');
    t.equal(ev('pingall')?.loss, 0, 'pingAll: 0 % loss');
    t.ok(ev('stopped'), 'net.stop() returned');
    t.match(r.log, /\*\*\* Results: 0% dropped \(6\/6 received\)/);
    await databaseClean(t, 'after net.stop()');
  });
});

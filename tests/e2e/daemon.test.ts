import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, promises as fsp, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon, type DaemonComponent } from '../../vswitchd/daemon.js';
import { packageVersion, resolvePaths } from '../../vswitchd/paths.js';
import { PidfileError } from '../../vswitchd/pidfile.js';
import { appctlCall } from '../helpers/appctl-client.js';
import { makeTempDir, startDaemonChild, startDaemonInProcess } from '../helpers/daemon.js';

const isSocket = (p: string): boolean => existsSync(p) && statSync(p).isSocket();

/** Leaves a unix socket file at `path` with nobody listening (a crashed daemon's leftovers). */
function makeStaleSocket(path: string): void {
  const r = spawnSync(
    process.execPath,
    ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`],
    { stdio: 'inherit' },
  );
  if (r.status !== 0) throw new Error('could not create a stale socket');
}

/** A pid that belonged to a process that has exited. */
async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  const pid = c.pid!;
  await new Promise((r) => c.on('exit', r));
  return pid;
}

void t.test('in-process daemon: files, appctl version and list-commands, clean stop', async (t) => {
  const { daemon, paths } = await startDaemonInProcess({ t });
  t.equal(readFileSync(paths.pidfile, 'utf8').trim(), String(process.pid), 'pidfile has our pid');
  t.ok(isSocket(paths.ctl), 'control socket exists');
  t.equal(paths.ctl, join(paths.rundir, 'tsvs.ctl'));

  const v = await appctlCall(paths.ctl, 'version');
  t.equal(v.error, null);
  t.equal(v.result, `tsvs (tsvswitch) ${packageVersion()}\n`, 'version line');

  const l = await appctlCall(paths.ctl, 'list-commands');
  t.equal(l.error, null);
  for (const cmd of ['exit', 'list-commands', 'version']) {
    t.match(l.result, new RegExp(`^\\s*${cmd}\\b`, 'm'), `lists ${cmd}`);
  }

  const bad = await appctlCall(paths.ctl, 'no-such-command');
  t.equal(bad.result, null, 'unknown command has no result');
  t.match(String(bad.error), /no-such-command/, 'unknown command gives an error naming it');

  await daemon.stop();
  t.notOk(existsSync(paths.pidfile), 'pidfile removed');
  t.notOk(existsSync(paths.ctl), 'control socket removed');
  await daemon.stopped;
  await daemon.stop(); // idempotent
});

void t.test('a second daemon on the same run directory is refused clearly', async (t) => {
  const a = await startDaemonInProcess({ t });
  await t.rejects(Daemon.start({ paths: a.paths }), PidfileError, 'same pidfile: PidfileError');
  await t.rejects(Daemon.start({ paths: a.paths }), {
    message: new RegExp(`${String(process.pid)}.*another tsvs`),
  });

  // Different pidfile, same control socket: the socket check refuses it.
  const other = resolvePaths({
    rundir: a.paths.rundir,
    pidfile: join(a.dir, 'other.pid'),
    logFile: null,
  });
  const err = await Daemon.start({ paths: other }).then(
    async (d) => {
      await d.stop(); // Should not have started: do not leave it running.
      return undefined;
    },
    (e: unknown) => e as Error,
  );
  t.ok(err, 'start with a live control socket is refused');
  t.match(err?.message, /tsvs\.ctl/, 'error names the socket');
  t.notOk(existsSync(other.pidfile), 'the refused daemon removed its own pidfile');

  // The first daemon is untouched.
  t.ok(isSocket(a.paths.ctl));
  t.equal(readFileSync(a.paths.pidfile, 'utf8').trim(), String(process.pid));
  t.equal((await appctlCall(a.paths.ctl, 'version')).error, null, 'first daemon still answers');
});

void t.test('stale control socket and stale pidfile are cleaned up', async (t) => {
  const dir = makeTempDir();
  t.teardown(() => fsp.rm(dir, { recursive: true, force: true }));
  const paths = resolvePaths({ rundir: join(dir, 'run'), logFile: null });
  await fsp.mkdir(paths.rundir, { recursive: true });
  makeStaleSocket(paths.ctl);
  t.ok(isSocket(paths.ctl), 'stale socket is there');
  await fsp.writeFile(paths.pidfile, `${await deadPid()}\n`);

  const d = await Daemon.start({ paths });
  t.teardown(() => d.stop());
  t.equal(readFileSync(paths.pidfile, 'utf8').trim(), String(process.pid), 'pidfile replaced');
  t.equal((await appctlCall(paths.ctl, 'version')).error, null, 'answers on the reused path');
  await d.stop();

  await fsp.writeFile(paths.pidfile, 'garbage\n');
  const d2 = await Daemon.start({ paths });
  t.equal(readFileSync(paths.pidfile, 'utf8').trim(), String(process.pid), 'malformed replaced');
  await d2.stop();
  t.notOk(existsSync(paths.pidfile));

  // A recycled pid: alive, but not a node/tsvs process.
  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => sleeper.kill('SIGKILL'));
  await new Promise((r) => sleeper.once('spawn', r));
  await fsp.writeFile(paths.pidfile, `${sleeper.pid}\n`);
  const d3 = await Daemon.start({ paths });
  t.equal(readFileSync(paths.pidfile, 'utf8').trim(), String(process.pid), 'recycled pid replaced');
  await d3.stop();
});

void t.test('components start in order, stop in reverse; a failing one rolls back', async (t) => {
  const events: string[] = [];
  const comp = (name: string, failStart = false): DaemonComponent => ({
    name,
    start: async (d) => {
      t.ok(isSocket(d.paths.ctl), `${name}: control socket is up before components start`);
      if (failStart) throw new Error(`${name} cannot start`);
      d.registry.register({
        name: `${name}/ping`,
        usage: '',
        minArgs: 0,
        maxArgs: 0,
        handler: () => `${name} pong`,
      });
      events.push(`start ${name}`);
    },
    stop: async () => {
      events.push(`stop ${name}`);
    },
  });

  const { daemon, paths } = await startDaemonInProcess({ t, components: [comp('a'), comp('b')] });
  t.same((await appctlCall(paths.ctl, 'b/ping')).result, 'b pong\n', 'component command answers');
  await daemon.stop();
  t.same(events, ['start a', 'start b', 'stop b', 'stop a']);

  events.length = 0;
  const dir = makeTempDir();
  t.teardown(() => fsp.rm(dir, { recursive: true, force: true }));
  const p2 = resolvePaths({ rundir: join(dir, 'run'), logFile: null });
  await t.rejects(
    Daemon.start({ paths: p2, components: [comp('a'), comp('bad', true), comp('c')] }),
    { message: /component bad failed to start: bad cannot start/ },
  );
  t.same(events, ['start a', 'stop a'], 'started components are stopped, later ones never start');
  t.notOk(existsSync(p2.pidfile), 'no pidfile left');
  t.notOk(existsSync(p2.ctl), 'no control socket left');
});

void t.test('appctl exit stops an in-process daemon gracefully', async (t) => {
  const { daemon, paths } = await startDaemonInProcess({ t });
  const r = await appctlCall(paths.ctl, 'exit');
  t.equal(r.error, null, 'exit replies before the daemon goes away');
  await daemon.stopped;
  t.ok(daemon.isStopping);
  t.notOk(existsSync(paths.pidfile), 'pidfile removed');
  t.notOk(existsSync(paths.ctl), 'control socket removed');
});

void t.test('child daemon: SIGTERM exits 0 within 2 s and removes its files', async (t) => {
  const c = await startDaemonChild({ t });
  t.equal(readFileSync(c.paths.pidfile, 'utf8').trim(), String(c.pid), 'pidfile names the child');
  t.ok(isSocket(c.paths.ctl));
  t.match(c.output().stdout, /running \(pid \d+\)/);
  const status = await c.stop('SIGTERM', 2000); // SIGKILL after 2 s would show as a signal
  t.same(status, { code: 0, signal: null }, `exits 0 on SIGTERM (${c.command.kind})`);
  t.notOk(existsSync(c.paths.pidfile), 'pidfile removed');
  t.notOk(existsSync(c.paths.ctl), 'control socket removed');
  t.ok(existsSync(join(c.paths.rundir, 'tsvs.log')), 'log file written');
  t.match(readFileSync(join(c.paths.rundir, 'tsvs.log'), 'utf8'), /started/);
});

void t.test('child daemon: SIGINT exits 0 too', async (t) => {
  const c = await startDaemonChild({ t });
  t.same(await c.stop('SIGINT', 2000), { code: 0, signal: null });
  t.notOk(existsSync(c.paths.pidfile));
  t.notOk(existsSync(c.paths.ctl));
});

void t.test('paths: ./var defaults, --rundir, --ovs-paths', (t) => {
  const p = resolvePaths({ cwd: '/home/u/sw' });
  t.same(
    {
      rundir: p.rundir,
      db: p.db,
      dbSocket: p.dbSocket,
      ctl: p.ctl,
      pidfile: p.pidfile,
      logFile: p.logFile,
      mgmt: p.mgmt('br0'),
    },
    {
      rundir: '/home/u/sw/var',
      db: '/home/u/sw/var/conf.db',
      dbSocket: '/home/u/sw/var/db.sock',
      ctl: '/home/u/sw/var/tsvs.ctl',
      pidfile: '/home/u/sw/var/tsvs.pid',
      logFile: '/home/u/sw/var/tsvs.log',
      mgmt: '/home/u/sw/var/br0.mgmt',
    },
  );
  const r = resolvePaths({ cwd: '/w', rundir: 'run', db: '/data/x.db', logFile: '-' });
  t.equal(r.ctl, '/w/run/tsvs.ctl');
  t.equal(r.db, '/data/x.db');
  t.equal(r.logFile, undefined, '"-" means stderr only');
  const o = resolvePaths({ cwd: '/w', ovsPaths: true });
  t.equal(o.rundir, '/var/run/openvswitch');
  t.equal(o.db, '/etc/openvswitch/conf.db');
  t.equal(o.dbSocket, '/var/run/openvswitch/db.sock');
  t.equal(o.mgmt('s1'), '/var/run/openvswitch/s1.mgmt');
  t.equal(o.ctl, '/var/run/openvswitch/tsvs.ctl');
  t.equal(resolvePaths({ ovsPaths: true, rundir: '/tmp/r' }).dbSocket, '/tmp/r/db.sock');
  t.end();
});

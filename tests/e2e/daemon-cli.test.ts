import t from 'tap';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot, packageVersion } from '../../vswitchd/paths.js';
import { startDaemonChild, tsvsCommand, makeTempDir } from '../helpers/daemon.js';
import { runTool, type ToolResult } from '../helpers/tools.js';

// Each case spawns the CLI; from TypeScript sources (no fresh dist/) that is slow on a busy machine.
t.setTimeout(300_000);
t.comment(`running tsvs from ${tsvsCommand().kind}`);

/** Runs the `tsvs` CLI (dist or source, as the helpers decide) with `args`. */
function tsvs(args: string[], timeoutMs = 30_000): Promise<ToolResult> {
  const c = tsvsCommand();
  return runTool(process.execPath, [...c.nodeArgs, ...args], {
    env: c.env,
    cwd: packageRoot(),
    timeoutMs,
  });
}

void t.test('tsvs version and --version print the package version', async (t) => {
  const expected = `tsvs (tsvswitch) ${packageVersion()}\n`;
  const argsList = [['version'], ['--version'], ['-V']];
  const results = await Promise.all(argsList.map((args) => tsvs(args)));
  argsList.forEach((args, i) => {
    t.equal(results[i]!.code, 0, `${args.join(' ')} exits 0`);
    t.equal(results[i]!.stdout, expected, `${args.join(' ')} output`);
  });
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8'));
  t.equal(packageVersion(), pkg.version);
});

void t.test('tsvs --help describes the commands and options', async (t) => {
  const r = await tsvs(['--help']);
  t.equal(r.code, 0);
  for (const word of ['start', 'version', '--rundir', '--db', '--log-level', '--log-file']) {
    t.match(r.stdout, word);
  }
  t.match(r.stdout, '--ovs-paths');
  t.match(r.stdout, '--pidfile');
});

void t.test('usage errors exit 2 with a clear message', async (t) => {
  const cases: [string[], RegExp][] = [
    [['start', '--bogus'], /Unknown option '--bogus'/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [[], /missing command/],
    [['start', '--log-level', 'loud'], /unknown log level "loud"/],
    [['start', 'extra'], /unexpected argument "extra"/],
  ];
  const results = await Promise.all(cases.map(([args]) => tsvs(args)));
  cases.forEach(([args, re], i) => {
    const r = results[i]!;
    t.equal(r.code, 2, `tsvs ${args.join(' ')} exits 2`);
    t.match(r.stderr, re, `tsvs ${args.join(' ')} says why`);
    t.match(r.stderr, /tsvs --help/);
  });
});

void t.test(
  'start on a run directory owned by a live daemon exits 1, harming nothing',
  async (t) => {
    const a = await startDaemonChild({ t });
    const r = await tsvs(['start', '--rundir', a.paths.rundir]);
    t.equal(r.code, 1, 'second daemon exits 1');
    t.match(r.stderr, /cannot start/);
    t.match(r.stderr, new RegExp(`pid ${a.pid}`), 'names the live daemon');

    const otherPid = join(a.dir, 'other.pid');
    const r2 = await tsvs(['start', '--rundir', a.paths.rundir, '--pidfile', otherPid]);
    t.equal(r2.code, 1, 'live control socket: exits 1');
    t.match(r2.stderr, /tsvs\.ctl/, 'names the socket');
    t.notOk(existsSync(otherPid), 'refused daemon left no pidfile');

    t.ok(existsSync(a.paths.ctl), 'first daemon keeps its socket');
    t.equal(readFileSync(a.paths.pidfile, 'utf8').trim(), String(a.pid));
    t.same(await a.stop('SIGTERM', 2000), { code: 0, signal: null });
  },
);

void t.test('unwritable run directory gives exit 1 and a message', async (t) => {
  const dir = makeTempDir();
  // A regular file where the run directory should be.
  const file = join(dir, 'file');
  writeFileSync(file, 'x');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = await tsvs(['start', '--rundir', join(file, 'run')]);
  t.equal(r.code, 1);
  t.match(r.stderr, /cannot start/);
});

/**
 * Drives the appctl control socket with Debian's real /usr/bin/ovs-appctl, and where a real
 * ovsdb-server is installed compares our error texts and layouts with what OVS itself answers.
 */
import t, { type Test } from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { AppctlRegistry, AppctlError } from '../../appctl/registry.js';
import { AppctlServer } from '../../appctl/server.js';
import { registerBuiltins } from '../../appctl/builtins.js';
import { getLogger, listLogLevels } from '../../lib/log.js';

const OVS_APPCTL = '/usr/bin/ovs-appctl';
const OVSDB_SERVER = '/usr/sbin/ovsdb-server';
const OVSDB_TOOL = '/usr/bin/ovsdb-tool';
const VSWITCH_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';
const inCI = process.env.CI === 'true';

function missing(...files: string[]): string | undefined {
  const gone = files.filter((f) => !fs.existsSync(f));
  return gone.length > 0 ? `not installed: ${gone.join(', ')}` : undefined;
}

/** Runs ovs-appctl (asynchronously: the server lives in this process). */
function appctl(
  target: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(OVS_APPCTL, ['-T', '10', '-t', target, ...args], (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? -1) : 0;
      resolve({ code: typeof code === 'number' ? code : -1, stdout, stderr });
    });
  });
}

const toolsMissing = missing(OVS_APPCTL);
if (toolsMissing && inCI) {
  t.fail(`ovs-appctl is required under CI=true (${toolsMissing})`);
}
const skip = toolsMissing && !inCI ? `skipped: ${toolsMissing}` : false;

getLogger('tst_interop');

async function startOurs(t: Test) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvs-appctl-i-'));
  const sock = path.join(dir, 'tsvs.ctl');
  const reg = new AppctlRegistry();
  let exits = 0;
  registerBuiltins(reg, { programName: 'tsvs-test', version: '1.2.3', exit: () => exits++ });
  reg.register({
    name: 'test/args',
    usage: 'ARG...',
    minArgs: 1,
    maxArgs: 4,
    handler: (args) => args.map((a) => `<${a}>`).join(''),
  });
  reg.register({
    name: 'test/fail',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    handler: () => {
      throw new AppctlError('the command failed');
    },
  });
  const server = new AppctlServer(reg, { path: sock });
  await server.listen();
  t.teardown(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { sock, exits: () => exits };
}

void t.test('ovs-appctl against the tsvswitch control socket', { skip }, async (t) => {
  const { sock, exits } = await startOurs(t);

  const v = await appctl(sock, 'version');
  t.same(v, { code: 0, stdout: 'tsvs-test (tsvswitch) 1.2.3\n', stderr: '' }, 'version');

  const lc = await appctl(sock, 'list-commands');
  t.equal(lc.code, 0);
  t.match(lc.stdout, /^The available commands are:\n/);
  t.match(lc.stdout, /\n {2}test\/args {15}ARG\.\.\.\n/);
  t.match(lc.stdout, /\n {2}vlog\/set {16}\{spec \| PATTERN:destination:pattern\}\n/);

  const set = await appctl(sock, 'vlog/set', 'tst_interop:dbg');
  t.same(set, { code: 0, stdout: '', stderr: '' }, 'vlog/set prints nothing');
  t.equal(listLogLevels().find((m) => m.module === 'tst_interop')?.level, 'dbg');
  const list = await appctl(sock, 'vlog/list');
  t.match(list.stdout, /\ntst_interop {8}DBG {8}DBG {8}DBG\n/);
  await appctl(sock, 'vlog/set', 'tst_interop', 'warn');
  t.equal(listLogLevels().find((m) => m.module === 'tst_interop')?.level, 'warn');

  const args = await appctl(sock, 'test/args', 'a b', '', 'c');
  t.same(args, { code: 0, stdout: '<a b><><c>\n', stderr: '' }, 'arguments pass through verbatim');

  const unknown = await appctl(sock, 'no/such-command');
  t.equal(unknown.code, 2, 'unknown command exits 2');
  t.equal(unknown.stdout, '');
  t.equal(
    unknown.stderr,
    `"no/such-command" is not a valid command (use "list-commands" to see a list of valid commands)\n` +
      `ovs-appctl: ${sock}: server returned an error\n`,
  );

  const few = await appctl(sock, 'test/args');
  t.equal(few.code, 2);
  t.match(few.stderr, /^"test\/args" command requires at least 1 arguments\n/);
  const many = await appctl(sock, 'version', 'x');
  t.equal(many.code, 2);
  t.match(many.stderr, /^"version" command takes at most 0 arguments\n/);

  const fail = await appctl(sock, 'test/fail');
  t.equal(fail.code, 2);
  t.match(fail.stderr, /^the command failed\n/);

  const mem = await appctl(sock, 'memory/show');
  t.equal(mem.code, 0);
  t.match(mem.stdout, /^([a-z-]+:\d+ )*[a-z-]+:\d+\n$/);

  const cov = await appctl(sock, 'coverage/show');
  t.match(
    cov.stdout,
    /^Event coverage, avg rate over last: 5 seconds, last minute, last hour, {2}hash=/,
  );

  const ex = await appctl(sock, 'exit');
  t.same(ex, { code: 0, stdout: '', stderr: '' }, 'exit answers');
  for (let i = 0; i < 100 && exits() === 0; i++) await new Promise((r) => setImmediate(r));
  t.equal(exits(), 1, 'exit hook ran');
});

const ovsMissing = missing(OVS_APPCTL, OVSDB_SERVER, OVSDB_TOOL, VSWITCH_SCHEMA);
if (ovsMissing && inCI) t.fail(`ovsdb-server is required under CI=true (${ovsMissing})`);

void t.test(
  'same texts as a real ovsdb-server',
  { skip: ovsMissing && !inCI ? `skipped: ${ovsMissing}` : false },
  async (t) => {
    const { sock } = await startOurs(t);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvs-ovsref-'));
    const ctl = path.join(dir, 'ovsdb.ctl');
    const pidfile = path.join(dir, 'ovsdb.pid');
    execFileSync(OVSDB_TOOL, ['create', path.join(dir, 'conf.db'), VSWITCH_SCHEMA]);
    const r = spawnSync(
      OVSDB_SERVER,
      [
        path.join(dir, 'conf.db'),
        `--unixctl=${ctl}`,
        `--pidfile=${pidfile}`,
        '--detach',
        '--no-chdir',
        `--log-file=${path.join(dir, 'ovsdb.log')}`,
      ],
      { encoding: 'utf8' },
    );
    t.equal(r.status, 0, `ovsdb-server started ${r.stderr}`);
    t.teardown(() => {
      try {
        const pid = Number(fs.readFileSync(pidfile, 'utf8').trim());
        if (pid > 0) process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const both = async (...args: string[]) => {
      const [ours, theirs] = await Promise.all([appctl(sock, ...args), appctl(ctl, ...args)]);
      return {
        ours: { ...ours, stderr: ours.stderr.replaceAll(sock, 'SOCK') },
        theirs: { ...theirs, stderr: theirs.stderr.replaceAll(ctl, 'SOCK') },
      };
    };
    for (const args of [
      ['no/such-command'],
      ['version', 'a', 'b'],
      ['coverage/read-counter'],
      ['coverage/read-counter', 'no_such_counter'],
      ['vlog/set', 'no_such_module:dbg'],
      ['vlog/set', 'ANY:console:syslog'],
      ['vlog/set', 'ANY:dbg:info'],
      ['list-commands', 'x'],
    ]) {
      const { ours, theirs } = await both(...args);
      t.same(ours, theirs, `ovs-appctl ${args.join(' ')}`);
    }
    const { ours, theirs } = await both('vlog/list');
    t.same(
      ours.stdout.split('\n').slice(0, 2),
      theirs.stdout.split('\n').slice(0, 2),
      'vlog/list header',
    );
    const lineRe = /^\S+ +(OFF|EMER|ERR|WARN|INFO|DBG) +\1 +\1$/;
    const theirLine = theirs.stdout.split('\n')[2]!;
    const ourLine = ours.stdout.split('\n')[2]!;
    t.match(theirLine, /^\S+ +[A-Z]+ +[A-Z]+ +[A-Z]+$/);
    t.match(ourLine, lineRe);
    // column positions agree: module padded to 16, then the three levels right-aligned
    const cols = (l: string) => [...l.matchAll(/[A-Z]+/g)].map((m) => m.index + m[0].length);
    t.same(cols(ourLine), cols(theirLine), 'level columns end at the same offsets');
    const lc = await both('list-commands');
    const lcLine = (out: string, name: string) =>
      out.split('\n').find((l) => l.startsWith(`  ${name} `));
    t.equal(
      lcLine(lc.ours.stdout, 'coverage/read-counter'),
      lcLine(lc.theirs.stdout, 'coverage/read-counter'),
    );
    t.equal(lcLine(lc.ours.stdout, 'vlog/set'), lcLine(lc.theirs.stdout, 'vlog/set'));
    t.equal(lc.ours.stdout.split('\n')[0], lc.theirs.stdout.split('\n')[0]);
  },
);

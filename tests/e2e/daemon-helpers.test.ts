/**
 * The test helpers the daemon tests rely on: peers (CI fails, elsewhere skips), runTool, and the
 * OVS tool command lines.
 */
import t from 'tap';
import { missingPeer, peerPath, requirePeer } from '../helpers/peers.js';
import { appctlArgs, ofctlArgs, ovsdbClientArgs, runTool, vsctlArgs } from '../helpers/tools.js';
import { resolvePaths } from '../../vswitchd/paths.js';

function fakeTest() {
  const calls: string[] = [];
  return {
    calls,
    fail: (m: string) => calls.push(`fail: ${m}`),
    plan: (n: number, c?: string) => calls.push(`plan ${n}: ${c}`),
  };
}

void t.test('requirePeer: fails under CI=true, skips elsewhere, naming the package', (t) => {
  const saved = process.env.CI;
  t.teardown(() => {
    if (saved === undefined) delete process.env.CI;
    else process.env.CI = saved;
  });
  t.equal(peerPath('no-such-tool-tsvs'), undefined);
  t.match(missingPeer('python:no_such_module_tsvs'), /Python module no_such_module_tsvs/);

  process.env.CI = 'true';
  const a = fakeTest();
  t.equal(requirePeer(a, 'no-such-tool-tsvs'), false);
  t.equal(a.calls.length, 1);
  t.match(a.calls[0], /^fail: missing peer: no-such-tool-tsvs is not installed/);

  delete process.env.CI;
  const b = fakeTest();
  t.equal(requirePeer(b, 'no-such-tool-tsvs'), false);
  t.match(b.calls, [/^plan 0: skip: missing peer: no-such-tool-tsvs/]);

  // Known peers name their Debian package.
  const pkg = missingPeer('ovs-vsctl');
  if (pkg !== undefined) t.match(pkg, /Debian package openvswitch-switch/);
  const node = fakeTest();
  t.equal(requirePeer(node, 'sh'), true, 'a present tool passes');
  t.same(node.calls, []);
  t.end();
});

void t.test('runTool collects output and exit code, and enforces its timeout', async (t) => {
  const ok = await runTool('sh', ['-c', 'echo out; echo err >&2; exit 3']);
  t.same(ok, { code: 3, signal: null, stdout: 'out\n', stderr: 'err\n', timedOut: false });
  const input = await runTool('cat', [], { input: 'hello' });
  t.equal(input.stdout, 'hello');
  const slow = await runTool('sleep', ['30'], { timeoutMs: 200 });
  t.equal(slow.timedOut, true);
  t.equal(slow.signal, 'SIGKILL');
  t.equal(slow.code, null);
});

void t.test('OVS tool command lines point at the daemon, never at default paths', (t) => {
  const p = resolvePaths({ rundir: '/tmp/r' });
  t.same(appctlArgs(p, 'version').args, ['-t', '/tmp/r/tsvs.ctl', 'version']);
  t.same(vsctlArgs(p, ['show'], { noWait: true }).args, [
    '--db=unix:/tmp/r/db.sock',
    '--timeout=10',
    '--no-wait',
    'show',
  ]);
  t.same(ovsdbClientArgs(p, 'list-dbs').args, ['list-dbs', 'unix:/tmp/r/db.sock']);
  t.same(ofctlArgs(p, 'br0', 'dump-flows').args, [
    '-O',
    'OpenFlow13',
    'dump-flows',
    'unix:/tmp/r/br0.mgmt',
  ]);
  t.match(appctlArgs(p).cmd, /ovs-appctl$/);
  t.end();
});

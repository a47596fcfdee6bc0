/**
 * `tsvs vswitchd unix:PATH` against Debian's ovsdb-server on a database created from our schema:
 * the scenario of vswitchd-replica-scenario.ts (ovs-vsctl waits, ofports written, ovs-ofctl on
 * the bridge, lock contention and takeover, restart); and the command's usage errors.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { requirePeer } from '../helpers/peers.js';
import { packageRoot } from '../../vswitchd/paths.js';
import { tsvsCommand } from '../helpers/daemon.js';
import { runTool, type ToolResult } from '../helpers/tools.js';
import { SCHEMAS, scenario, startDebianOvsdbServer } from './vswitchd-replica-scenario.js';

// Several daemons start in turn (each a Node process): slow on a loaded machine.
t.setTimeout(300_000);

void t.test("tsvs vswitchd against Debian's ovsdb-server (our schema)", async (t) => {
  if (!requirePeer(t, 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl', 'ovsdb-server', 'ovsdb-tool')) return;
  const dir = mkdtempSync(join(tmpdir(), 'trep-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = await startDebianOvsdbServer(t, dir, SCHEMAS.ours);
  await scenario(t, db, dir);
});

void t.test('tsvs vswitchd usage errors', async (t) => {
  const cmd = tsvsCommand();
  const tsvs = (...args: string[]): Promise<ToolResult> =>
    runTool(process.execPath, [...cmd.nodeArgs, ...args], {
      env: cmd.env,
      cwd: packageRoot(),
      timeoutMs: 60_000,
    });
  let r = await tsvs('vswitchd');
  t.equal(r.code, 2);
  t.match(r.stderr, 'vswitchd needs the database: unix:PATH or tcp:IP:PORT');
  r = await tsvs('vswitchd', 'punix:/tmp/x.sock');
  t.equal(r.code, 2);
  t.match(r.stderr, 'the database must be unix:PATH or tcp:IP:PORT');
  r = await tsvs('vswitchd', 'unix:/tmp/x.sock', '--remote', 'ptcp:6640');
  t.equal(r.code, 2);
  t.match(r.stderr, '--remote does not apply to vswitchd');
  r = await tsvs('--help');
  t.match(r.stdout, /vswitchd REMOTE/);
  t.match(r.stdout, /--no-vswitchd/);
});

/**
 * `tsvs vswitchd unix:PATH` against tsvs's own OVSDB-only server (`tsvs start --no-vswitchd`):
 * the server runs no bridge component, and the scenario of vswitchd-replica-scenario.ts passes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { requirePeer } from '../helpers/peers.js';
import { startDaemonChild } from '../helpers/daemon.js';
import { runTool } from '../helpers/tools.js';
import { scenario } from './vswitchd-replica-scenario.js';

// Several daemons start in turn (each a Node process): slow on a loaded machine.
t.setTimeout(300_000);

void t.test('tsvs vswitchd against tsvs start --no-vswitchd', async (t) => {
  if (!requirePeer(t, 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl')) return;
  const server = await startDaemonChild({ t, args: ['--no-vswitchd'], readyTimeoutMs: 90_000 });
  const cmds = await runTool('ovs-appctl', ['-t', server.paths.ctl, 'list-commands']);
  t.match(cmds.stdout, /ovsdb-server\//, 'the OVSDB server commands are there');
  t.notMatch(cmds.stdout, /ofproto\/list/, 'no bridge commands: no vswitchd in this process');
  const dir = mkdtempSync(join(tmpdir(), 'trep-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = `unix:${server.paths.dbSocket}`;
  const init = await runTool('ovs-vsctl', [`--db=${db}`, '--no-wait', 'init']);
  t.equal(init.code, 0, init.stderr);
  await scenario(t, db, dir);
});

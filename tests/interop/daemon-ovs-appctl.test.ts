/**
 * Debian's real ovs-appctl (Open vSwitch 3.1) against our daemon's control socket.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { packageVersion } from '../../vswitchd/paths.js';
import { startDaemonChild } from '../helpers/daemon.js';
import { requirePeer } from '../helpers/peers.js';
import { appctl } from '../helpers/tools.js';

void t.test('ovs-appctl -t <rundir>/tsvs.ctl: version, list-commands, errors, exit', async (t) => {
  if (!requirePeer(t, 'ovs-appctl')) return;
  const c = await startDaemonChild({ t });

  const v = await appctl(c.paths, 'version');
  t.equal(v.code, 0, `version exits 0 (stderr: ${v.stderr})`);
  t.match(v.stdout, packageVersion(), 'version names our version');
  t.match(v.stdout, /tsvs/);

  const l = await appctl(c.paths, 'list-commands');
  t.equal(l.code, 0, `list-commands exits 0 (stderr: ${l.stderr})`);
  t.match(l.stdout, /^The available commands are:/m, 'OVS-style heading');
  for (const cmd of ['exit', 'list-commands', 'version']) {
    t.match(l.stdout, new RegExp(`^\\s+${cmd}\\b`, 'm'), `lists ${cmd}`);
  }

  const bad = await appctl(c.paths, 'no-such-command');
  t.not(bad.code, 0, 'unknown command fails');
  t.match(bad.stderr, /no-such-command/, 'and says which');

  const e = await appctl(c.paths, 'exit');
  t.equal(e.code, 0, `exit is answered (stderr: ${e.stderr})`);
  const killer = setTimeout(() => c.child.kill('SIGKILL'), 5000);
  const status = await c.exited;
  clearTimeout(killer);
  t.same(status, { code: 0, signal: null }, 'daemon exited 0 by itself after appctl exit');
  t.notOk(existsSync(c.paths.pidfile), 'pidfile removed');
  t.notOk(existsSync(c.paths.ctl), 'control socket removed');
});

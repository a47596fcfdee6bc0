/**
 * Manager rows open and close OVSDB remotes, as ovsdb-server with
 * --remote=db:Open_vSwitch,Open_vSwitch,manager_options does: `ovs-vsctl set-manager ptcp:PORT`
 * opens a listener ovsdb-client can use, Manager.status/is_connected are written back, and
 * `del-manager` closes it.
 */
import { join } from 'node:path';
import t from 'tap';
import { standardComponents } from '../../vswitchd/components.js';
import { Daemon } from '../../vswitchd/daemon.js';
import { resolvePaths } from '../../vswitchd/paths.js';
import { makeTempDir } from '../helpers/daemon.js';
import { requirePeer } from '../helpers/peers.js';
import { runTool } from '../helpers/tools.js';
import { freePort, sleep } from '../helpers/net.js';

t.test('set-manager opens a remote, del-manager closes it', async (t) => {
  if (!requirePeer(t, 'ovs-vsctl', 'ovsdb-client')) return;
  const dir = makeTempDir();
  const paths = resolvePaths({ rundir: join(dir, 'run'), logFile: null });
  const d = await Daemon.start({ paths, components: standardComponents() });
  t.teardown(() => d.stop());
  const vsctl = (...args: string[]) =>
    runTool('ovs-vsctl', [`--db=unix:${paths.dbSocket}`, '--timeout=10', ...args]);
  const port = await freePort();
  const target = `ptcp:${port}:127.0.0.1`;
  let r = await vsctl('set-manager', target);
  t.equal(r.code, 0, r.stderr);
  t.equal((await vsctl('get-manager')).stdout.trim(), target);
  let dbs = await runTool('ovsdb-client', ['list-dbs', `tcp:127.0.0.1:${port}`]);
  for (let i = 0; i < 20 && dbs.code !== 0; i++) {
    await sleep(100);
    dbs = await runTool('ovsdb-client', ['list-dbs', `tcp:127.0.0.1:${port}`]);
  }
  t.equal(dbs.code, 0, dbs.stderr);
  t.equal(dbs.stdout, 'Open_vSwitch\n_Server\n');
  // ovs-vsctl itself over the manager remote.
  r = await runTool('ovs-vsctl', [`--db=tcp:127.0.0.1:${port}`, '--timeout=10', 'add-br', 'br9']);
  t.equal(r.code, 0, `ovs-vsctl over the manager remote: ${r.stderr}`);
  let status = '';
  for (let i = 0; i < 30 && !status.includes('bound_port'); i++) {
    await sleep(100);
    status = (await vsctl('get', 'Manager', target, 'status')).stdout;
  }
  t.match(status, new RegExp(`bound_port="?${port}"?`), 'status written back');
  t.match(status, /state=LISTENING/);
  r = await vsctl('del-manager');
  t.equal(r.code, 0);
  let closed = false;
  for (let i = 0; i < 30 && !closed; i++) {
    await sleep(100);
    closed =
      (await runTool('ovsdb-client', ['--timeout=1', 'list-dbs', `tcp:127.0.0.1:${port}`])).code !==
      0;
  }
  t.ok(closed, 'listener closed after del-manager');
  t.equal(
    (await runTool('ovs-appctl', ['-t', paths.ctl, 'ovsdb-server/list-remotes'])).stdout,
    `punix:${paths.dbSocket}\n`,
  );
});

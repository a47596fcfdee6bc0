/**
 * The whole daemon in one process with its standard components (OVSDB server + bridge
 * reconciler): Debian's ovs-vsctl (without --no-wait) and ovs-ofctl drive it through
 * <rundir>/db.sock and <rundir>/<bridge>.mgmt; a restart on the same database brings back the same
 * bridges, ports and ofports.
 */
import { join } from 'node:path';
import t from 'tap';
import { Daemon } from '../../vswitchd/daemon.js';
import { standardComponents } from '../../vswitchd/components.js';
import { resolvePaths } from '../../vswitchd/paths.js';
import { makeTempDir } from '../helpers/daemon.js';
import { requirePeer } from '../helpers/peers.js';
import { runTool } from '../helpers/tools.js';

t.test(
  'tsvs daemon serves ovs-vsctl and ovs-ofctl, and restarts with the same ofports',
  async (t) => {
    if (!requirePeer(t, 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl')) return;
    const dir = makeTempDir();
    const paths = resolvePaths({ rundir: join(dir, 'run'), logFile: null });
    const env = { OVS_RUNDIR: paths.rundir };
    const vsctl = (...args: string[]) =>
      runTool('ovs-vsctl', [`--db=unix:${paths.dbSocket}`, '--timeout=10', ...args], { env });
    const ofctl = (...args: string[]) =>
      runTool('ovs-ofctl', ['-O', 'OpenFlow13', ...args], { env });

    let d = await Daemon.start({ paths, components: standardComponents() });
    t.teardown(() => d.stop());
    let r = await vsctl('add-br', 'br0');
    t.equal(r.code, 0, `add-br: ${r.stderr}`);
    r = await vsctl(
      'add-port',
      'br0',
      'p1',
      '--',
      'set',
      'Interface',
      'p1',
      'type=internal',
      'ofport_request=5',
      '--',
      'add-port',
      'br0',
      'p2',
      '--',
      'set',
      'Interface',
      'p2',
      'type=internal',
    );
    t.equal(r.code, 0, `add-port: ${r.stderr}`);
    r = await vsctl('get', 'Open_vSwitch', '.', 'ovs_version');
    t.equal(r.stdout.trim(), `"${d.version}"`, 'ovs_version recorded at start');
    const show = await ofctl('show', 'br0');
    t.equal(show.code, 0, show.stderr);
    t.match(show.stdout, / 5\(p1\)/);
    t.match(show.stdout, / 1\(p2\)/);
    r = await ofctl('add-flow', 'br0', 'priority=10,ip,actions=output:5');
    t.equal(r.code, 0);
    const ap = await runTool('ovs-appctl', ['-t', paths.ctl, 'ovsdb-server/list-dbs']);
    t.equal(ap.stdout, 'Open_vSwitch\n_Server\n');
    await d.stop();

    d = await Daemon.start({ paths, components: standardComponents() });
    const show2 = await ofctl('show', 'br0');
    t.equal(show2.code, 0, show2.stderr);
    t.match(show2.stdout, / 5\(p1\)/, 'same ofport after restart');
    t.match(show2.stdout, / 1\(p2\)/);
    const macs = (s: string) => [...s.matchAll(/addr:(\S+)/g)].map((m) => m[1]).sort();
    t.same(macs(show2.stdout), macs(show.stdout), 'same MACs after restart');
    r = await ofctl('dump-flows', 'br0');
    t.notMatch(r.stdout, /priority=10/, 'flows are not persistent (as in OVS)');
    r = await vsctl('del-br', 'br0');
    t.equal(r.code, 0);
    t.not((await ofctl('show', 'br0')).code, 0, 'bridge gone');
  },
);

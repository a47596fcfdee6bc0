/**
 * The exact ovs-vsctl commands Mininet 2.3 issues for a two-switch topology
 * (../shared/reference/ovsdb-clients.md §7.1), run against the tsvs daemon: the batch startup
 * command (controllers created with --id, --if-exists del-br, add-br, bridge settings,
 * add-port with ofport_request, all in one transaction, WITHOUT --no-wait) and the batch shutdown.
 * The switch ports are real veth devices (unique names, removed afterwards); the passive
 * controller ports are ephemeral instead of Mininet's 6654/6655.
 */
import { join } from 'node:path';
import t from 'tap';
import { standardComponents } from '../../vswitchd/components.js';
import { Daemon } from '../../vswitchd/daemon.js';
import { resolvePaths } from '../../vswitchd/paths.js';
import { makeTempDir } from '../helpers/daemon.js';
import { requirePeer } from '../helpers/peers.js';
import { runTool } from '../helpers/tools.js';
import { freePort } from '../helpers/net.js';

t.test("Mininet's ovs-vsctl sequence succeeds against tsvs", async (t) => {
  if (!requirePeer(t, 'ovs-vsctl', 'ovs-ofctl', 'ip')) return;
  const tag = `t${process.pid % 100000}`;
  const dev = (n: string) => `${tag}${n}`;
  // linear,2: h1-eth0 <-> s1-eth1, s1-eth2 <-> s2-eth2, s2-eth1 <-> h2-eth0
  const pairs: [string, string][] = [
    [dev('s1e1'), dev('h1e0')],
    [dev('s1e2'), dev('s2e2')],
    [dev('s2e1'), dev('h2e0')],
  ];
  const cleanup = async (): Promise<void> => {
    for (const [a] of pairs) await runTool('ip', ['link', 'del', a]);
  };
  await cleanup();
  for (const [a, b] of pairs) {
    const r = await runTool('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
    t.equal(r.code, 0, `veth ${a}: ${r.stderr}`);
  }
  t.teardown(cleanup);

  const dir = makeTempDir();
  const paths = resolvePaths({ rundir: join(dir, 'run'), logFile: null });
  const d = await Daemon.start({ paths, components: standardComponents() });
  t.teardown(() => d.stop());
  const vsctl = (...args: string[]) =>
    runTool('ovs-vsctl', [`--db=unix:${paths.dbSocket}`, ...args], {
      env: { OVS_RUNDIR: paths.rundir },
    });

  // 1. ovs-vsctl -t 1 show: only the exit code matters to Mininet.
  t.equal((await vsctl('-t', '1', 'show')).code, 0);
  // 3. The batch startup command.
  const [p1, p2] = [await freePort(), await freePort()];
  const sw = (name: string, port: number, dpid: string, ports: string[]): string[] => [
    '--',
    `--id=@${name}-listen`,
    'create',
    'Controller',
    `target="ptcp:${port}"`,
    'max_backoff=1000',
    '--',
    '--if-exists',
    'del-br',
    name,
    '--',
    'add-br',
    name,
    '--',
    'set',
    'bridge',
    name,
    `controller=[@${name}-listen]`,
    `other_config:datapath-id=${dpid}`,
    'fail_mode=secure',
    'other-config:disable-in-band=true',
    'datapath_type=netdev',
    `other-config:dp-desc=${name}`,
    ...ports.flatMap((p, i) => [
      '--',
      'add-port',
      name,
      p,
      '--',
      'set',
      'Interface',
      p,
      `ofport_request=${i + 1}`,
    ]),
  ];
  const start = await vsctl(
    ...sw('s1', p1, '0000000000000001', [dev('s1e1'), dev('s1e2')]),
    ...sw('s2', p2, '0000000000000002', [dev('s2e1'), dev('s2e2')]),
  );
  t.equal(start.code, 0, `startup command: ${start.stderr}`);
  t.equal(start.stderr, '', 'no interface errors reported');
  t.equal(start.stdout.trim().split('\n').length, 2, 'the two created Controller uuids');
  for (const [i, p] of [dev('s1e1'), dev('s1e2'), dev('s2e1'), dev('s2e2')].entries()) {
    const r = await vsctl('get', 'Interface', p, 'ofport');
    t.equal(r.stdout.trim(), String((i % 2) + 1), `${p} got its ofport_request`);
  }
  // OVSSwitch.connected(): get Bridge <sw> Controller, then get Controller <uuid> is_connected.
  const ctl = await vsctl('--', 'get', 'Bridge', 's1', 'Controller');
  const uuid = ctl.stdout.trim().replace(/[[\]]/g, '').split(',')[0]!.trim();
  t.match(uuid, /^[0-9a-f-]{36}$/);
  // Mininet's dpctl: ovs-ofctl against the passive controller port.
  const show = await runTool('ovs-ofctl', ['-O', 'OpenFlow13', 'show', `tcp:127.0.0.1:${p1}`]);
  t.equal(show.code, 0, show.stderr);
  t.match(show.stdout, /dpid:0000000000000001/);
  t.match(show.stdout, new RegExp(` 1\\(${dev('s1e1')}\\)`));
  const desc = await runTool('ovs-ofctl', ['-O', 'OpenFlow13', 'dump-desc', `tcp:127.0.0.1:${p2}`]);
  t.match(desc.stdout, /DP Description: s2/, 'other-config:dp-desc');
  // 4. Shutdown.
  const stop = await vsctl('--if-exists', 'del-br', 's1', '--', '--if-exists', 'del-br', 's2');
  t.equal(stop.code, 0, stop.stderr);
  const left = await vsctl('list-br');
  t.equal(left.stdout, '', 'database clean');
  const ctrls = await vsctl('list', 'Controller');
  t.equal(ctrls.stdout, '', 'controllers garbage-collected');
});

/**
 * More of ovs-vsctl 3.1's usage against Open vSwitch 3.1 and tsvs in the same test, WITHOUT
 * --no-wait (the commands tests/interop/vsctl-vs-ovs.test.ts does not run): init, unsetting a
 * bridge external id, add-bond with options, --may-exist/--fake-iface add-bond and its errors,
 * del-port --with-iface, --inactivity-probe for set-controller/set-manager, create with --id
 * referenced from the same transaction, --if-exists with get/remove/clear/destroy, list of one
 * record, add/remove of map keys, wait-until without a condition and timing out, protocols,
 * Open_vSwitch other_config:flow-restore-wait. stdout, stderr and exit status of every command
 * must be equal after normalising UUIDs, MACs and versions.
 */
import { join } from 'node:path';
import t from 'tap';
import { standardComponents } from '../../vswitchd/components.js';
import { Daemon } from '../../vswitchd/daemon.js';
import { resolvePaths } from '../../vswitchd/paths.js';
import { makeTempDir } from '../helpers/daemon.js';
import { requirePeer } from '../helpers/peers.js';
import { startRefOvs } from '../helpers/ref-ovs.js';
import { runTool } from '../helpers/tools.js';
import { compareVsctlScript } from '../helpers/vsctl-compare.js';

const internal = (...names: string[]): string[] =>
  names.flatMap((n) => ['--', 'set', 'Interface', n, 'type=internal']);

const SCRIPT: string[][] = [
  ['init'],
  ['add-br', 'br0', '--', 'set', 'Bridge', 'br0', 'datapath_type=netdev'],
  ['init'],
  ['br-set-external-id', 'br0', 'k', 'v'],
  ['br-set-external-id', 'br0', 'k'],
  ['br-get-external-id', 'br0'],
  ['br-get-external-id', 'br0', 'k'],
  ['add-bond', 'br0', 'bond0', 'b1', 'b2', 'bond_mode=balance-slb', ...internal('b1', 'b2')],
  ['--may-exist', 'add-bond', 'br0', 'bond0', 'b1', 'b2'],
  ['--may-exist', 'add-bond', 'br0', 'bond0', 'b1', 'b3'],
  ['add-bond', 'br0', 'bond0', 'b1', 'b2'],
  ['add-bond', 'br0', 'bond1', 'b9'],
  ['--fake-iface', 'add-bond', 'br0', 'bond2', 'c1', 'c2', ...internal('c1', 'c2')],
  ['list-ports', 'br0'],
  ['list-ifaces', 'br0'],
  ['port-to-br', 'bond0'],
  ['iface-to-br', 'b1'],
  ['port-to-br', 'b1'],
  ['get', 'Port', 'bond0', 'bond_mode', 'bond_updelay', 'bond_downdelay', 'bond_fake_iface'],
  ['get', 'Port', 'bond2', 'bond_fake_iface'],
  [
    'set',
    'Port',
    'bond0',
    'bond_updelay=100',
    'bond_downdelay=200',
    'other_config:bond-rebalance-interval=5000',
  ],
  // Member ofports follow OVS's hash order (b2 may get 1): compare that both are numbered.
  ['get', 'Interface', 'b1', 'type', 'error'],
  ['wait-until', 'Interface', 'b1', 'ofport>0'],
  ['get', 'Interface', 'b2', 'error'],
  ['del-port', 'br0', 'b1'],
  ['--with-iface', 'del-port', 'br0', 'b1'],
  ['--with-iface', 'del-port', 'c2'],
  ['list-ports', 'br0'],
  ['--inactivity-probe=7000', 'set-controller', 'br0', 'tcp:127.0.0.1:1', 'tcp:127.0.0.1:2'],
  ['get-controller', 'br0'],
  ['find', 'Controller', 'target="tcp:127.0.0.1:2"', '--columns=target,inactivity_probe'],
  ['--inactivity-probe=8000', 'set-manager', 'ptcp:0:127.0.0.1'],
  ['list', 'Manager', '--columns=target,inactivity_probe'],
  ['destroy', 'Manager', 'ptcp:0:127.0.0.1'],
  ['--if-exists', 'destroy', 'Manager', 'nosuch'],
  ['destroy', 'Manager', 'nosuch'],
  ['del-manager'],
  ['del-controller', 'br0'],
  [
    '--id=@c',
    'create',
    'Controller',
    'target="tcp:127.0.0.1:3"',
    '--',
    'add',
    'Bridge',
    'br0',
    'controller',
    '@c',
  ],
  ['get-controller', 'br0'],
  ['del-controller', 'br0'],
  ['list', 'Bridge', 'br0', '--columns=name,external_ids,controller'],
  ['--if-exists', 'get', 'Bridge', 'nosuch', 'name'],
  ['get', 'Bridge', 'nosuch', 'name'],
  ['--if-exists', 'remove', 'Bridge', 'nosuch', 'flood_vlans', '1'],
  ['--if-exists', 'clear', 'Bridge', 'nosuch', 'flood_vlans'],
  ['add', 'Bridge', 'br0', 'external_ids', 'a=1', 'b=2'],
  ['remove', 'Bridge', 'br0', 'external_ids', 'a=1'],
  ['remove', 'Bridge', 'br0', 'external_ids', 'b'],
  ['br-get-external-id', 'br0'],
  ['find', 'Bridge', 'name=br0', '--columns=name'],
  ['find', 'Port', 'name=bond0', '--columns=name,bond_updelay,bond_downdelay,other_config'],
  ['wait-until', 'Bridge', 'br0'],
  ['--timeout=1', 'wait-until', 'Bridge', 'nosuch'],
  ['set', 'Bridge', 'br0', 'protocols=OpenFlow10,OpenFlow13'],
  ['get', 'Bridge', 'br0', 'protocols'],
  ['set', 'Bridge', 'br0', 'protocols=OpenFlow99'],
  ['set', 'Open_vSwitch', '.', 'other_config:flow-restore-wait=true'],
  ['add-port', 'br0', 'q1', ...internal('q1')],
  ['get', 'Interface', 'q1', 'error'],
  ['remove', 'Open_vSwitch', '.', 'other_config', 'flow-restore-wait'],
  ['get', 'Open_vSwitch', '.', 'other_config'],
  ['del-br', 'br0'],
  ['show'],
];

t.test('more of ovs-vsctl: the same results on OVS 3.1 and tsvs', (t) =>
  compareVsctlScript(t, SCRIPT, { macs: true }),
);

t.test('bond/show, bond/list, bond/hash, bond/set-active-member as OVS 3.1', async (t) => {
  if (!requirePeer(t, 'ovs-vsctl', 'ovs-appctl', 'ovs-vswitchd', 'ovsdb-server', 'ip')) return;
  const ref = await startRefOvs({ bridge: 'br0' });
  t.teardown(() => ref.stop());
  const dir = makeTempDir();
  const paths = resolvePaths({ rundir: join(dir, 'run'), logFile: null });
  const d = await Daemon.start({ paths, components: standardComponents() });
  t.teardown(() => d.stop());
  const add = [
    'add-bond',
    'br0',
    'bond0',
    'b1',
    'b2',
    'other_config:bond-primary=b1',
    'bond_updelay=0',
    ...internal('b1', 'b2'),
    '--',
    'add-bond',
    'br0',
    'bond1',
    'c1',
    'c2',
    'bond_mode=balance-slb',
    ...internal('c1', 'c2'),
  ];
  t.equal((await ref.vsctl(...add)).code, 0);
  // OVS leaves its internal (tap) devices down; bring the members up so that both switches
  // see live links (the reference OVS runs in namespace tsvsref-<pid>-N).
  const nsList = (await runTool('ip', ['netns', 'list'])).stdout;
  const ns = new RegExp(`^(tsvsref-${process.pid}-\\d+)`, 'm').exec(nsList)?.[1];
  t.ok(ns, 'found the reference OVS namespace');
  for (const dev of ['b1', 'b2', 'c1', 'c2'])
    t.equal((await runTool('ip', ['-n', ns!, 'link', 'set', dev, 'up'])).code, 0, `${dev} up`);
  const tsvsctl = (...a: string[]) =>
    runTool('ovs-vsctl', [`--db=unix:${paths.dbSocket}`, '--timeout=20', ...a]);
  t.equal((await tsvsctl('add-br', 'br0', '--', ...add)).code, 0);
  const appctl = {
    ovs: (...a: string[]) => runTool('ovs-appctl', ['-t', join(ref.dir, 'ovs-vswitchd.ctl'), ...a]),
    tsvs: (...a: string[]) => runTool('ovs-appctl', ['-t', paths.ctl, ...a]),
  };
  const norm = (s: string): string =>
    s
      .replace(/[0-9a-f]{2}(:[0-9a-f]{2}){5}/g, '<mac>')
      .replace(/next rebalance: \d+ ms/g, 'next rebalance: N ms')
      .replace(/^ovs-appctl: \S+: server returned an error$/gm, 'ovs-appctl: CTL: error')
      // bond/list prints bonds and their members in hash order: sort both.
      .replace(
        /^(\S+\t\S+\t)\d+\t(.*)$/gm,
        (_m, a: string, b: string) => `${a}${b.split(', ').sort().join(', ')}`,
      )
      .replace(/^(bond\ttype[^\n]*\n)([\s\S]*)$/, (_m, h: string, rest: string) =>
        [
          h,
          ...rest
            .split('\n')
            .filter(Boolean)
            .sort()
            .map((l) => `${l}\n`),
        ].join(''),
      );
  // Both bonds up with b1 (the primary) active.
  for (const who of ['ovs', 'tsvs'] as const) {
    for (let i = 0; i < 100; i++) {
      const out = (await appctl[who]('bond/show', 'bond0')).stdout;
      if (out.includes('member b1: enabled\n  active member') && out.includes('member b2: enabled'))
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const same = async (label: string, ...args: string[]): Promise<void> => {
    const want = await appctl.ovs(...args);
    const got = await appctl.tsvs(...args);
    t.equal(got.code, want.code, `${label}: exit status`);
    t.equal(norm(got.stdout), norm(want.stdout), `${label}: stdout`);
    t.equal(norm(got.stderr), norm(want.stderr), `${label}: stderr`);
  };
  await same('bond/show bond0', 'bond/show', 'bond0');
  await same('bond/show nosuch', 'bond/show', 'nosuch');
  await same('bond/list', 'bond/list');
  await same('bond/hash', 'bond/hash', '00:11:22:33:44:55', '10', '7');
  await same('bond/hash bad mac', 'bond/hash', 'zz');
  await same('set-active-member no such member', 'bond/set-active-member', 'bond0', 'zz');
  await same('set-active-member b1 (no change)', 'bond/set-active-member', 'bond0', 'b1');
});

/**
 * One ovs-vsctl command script (WITHOUT --no-wait) against Open vSwitch 3.1 (ovsdb-server +
 * ovs-vswitchd) and against the tsvs daemon in the same test; stdout, stderr and exit status of
 * every command must be equal after normalising what is random by design: UUIDs (numbered in
 * order of appearance), MAC addresses, datapath ids and versions. `list`/`find` name their
 * columns: the configuration columns and the status columns tsvs writes (ofport, error).
 */
import { join } from 'node:path';
import t from 'tap';
import { standardComponents } from '../../vswitchd/components.js';
import { Daemon } from '../../vswitchd/daemon.js';
import { resolvePaths } from '../../vswitchd/paths.js';
import { makeTempDir } from '../helpers/daemon.js';
import { requirePeer } from '../helpers/peers.js';
import { startRefOvs } from '../helpers/ref-ovs.js';
import { runTool, type ToolResult } from '../helpers/tools.js';

const IFACE_COLS =
  '--columns=name,type,options,ofport,ofport_request,error,external_ids,other_config';
const BRIDGE_COLS =
  '--columns=name,fail_mode,external_ids,other_config,flood_vlans,protocols,stp_enable,datapath_type';
const PORT_COLS =
  '--columns=name,tag,trunks,vlan_mode,fake_bridge,bond_mode,external_ids,other_config';

const SCRIPT: string[][] = [
  ['show'],
  // OVS here has no kernel module, so its bridges use the userspace datapath (as tsvs's do).
  ['add-br', 'br0', '--', 'set', 'Bridge', 'br0', 'datapath_type=netdev'],
  ['add-br', 'br0'],
  ['--may-exist', 'add-br', 'br0'],
  ['add-br', 'br1', 'br0', '10'],
  ['list-br'],
  ['br-exists', 'br0'],
  ['br-exists', 'nosuch'],
  ['br-to-vlan', 'br1'],
  ['br-to-parent', 'br1'],
  ['br-to-vlan', 'br0'],
  ['br-to-parent', 'br0'],
  ['br-set-external-id', 'br0', 'foo', 'bar'],
  ['br-get-external-id', 'br0'],
  ['br-get-external-id', 'br0', 'foo'],
  ['add-port', 'br0', 'p1', '--', 'set', 'Interface', 'p1', 'type=internal'],
  ['add-port', 'br0', 'p2', '--', 'set', 'Interface', 'p2', 'type=internal', 'ofport_request=10'],
  ['add-port', 'br1', 'p3', '--', 'set', 'Interface', 'p3', 'type=internal'],
  ['add-port', 'br0', 'p1'],
  ['--may-exist', 'add-port', 'br0', 'p1'],
  ['add-port', 'br0', 'nodev0'],
  ['add-port', 'br0', 'odd0', '--', 'set', 'Interface', 'odd0', 'type=frobnicate'],
  ['list-ports', 'br0'],
  ['list-ports', 'br1'],
  ['list-ifaces', 'br0'],
  ['port-to-br', 'p3'],
  ['port-to-br', 'p1'],
  ['iface-to-br', 'p2'],
  ['get', 'Interface', 'p2', 'ofport'],
  ['get', 'Interface', 'p1', 'ofport'],
  ['get', 'Interface', 'nodev0', 'ofport', 'error'],
  ['get', 'Port', 'p3', 'tag'],
  ['del-port', 'br0', 'nodev0'],
  ['del-port', 'odd0'],
  ['del-port', 'br0', 'nosuch'],
  ['--if-exists', 'del-port', 'br0', 'nosuch'],
  ['set-controller', 'br0', 'tcp:127.0.0.1:1'],
  ['get-controller', 'br0'],
  ['del-controller', 'br0'],
  ['get-controller', 'br0'],
  ['set-fail-mode', 'br0', 'secure'],
  ['get-fail-mode', 'br0'],
  ['set-fail-mode', 'br0', 'bogus'],
  ['del-fail-mode', 'br0'],
  ['get-fail-mode', 'br0'],
  ['set', 'Bridge', 'br0', 'other_config:foo=bar', 'protocols=OpenFlow13'],
  ['add', 'Bridge', 'br0', 'flood_vlans', '10', '20'],
  ['remove', 'Bridge', 'br0', 'flood_vlans', '10'],
  ['get', 'Bridge', 'br0', 'flood_vlans'],
  ['clear', 'Bridge', 'br0', 'flood_vlans'],
  ['get', 'Bridge', 'br0', 'flood_vlans', 'other_config:foo', 'protocols'],
  ['set', 'Port', 'p1', 'tag=5', 'vlan_mode=access'],
  ['set', 'Port', 'p2', 'trunks=1,2,3'],
  ['set', 'Port', 'p2', 'tag=4096'],
  ['set', 'Interface', 'p1', 'external_ids:x=1', 'other_config:y=2'],
  ['remove', 'Interface', 'p1', 'external_ids', 'x'],
  ['list', 'Bridge', BRIDGE_COLS],
  ['list', 'Port', PORT_COLS],
  ['list', 'Interface', IFACE_COLS],
  ['find', 'Interface', 'type=internal', '--columns=name'],
  ['find', 'Port', 'tag=5', '--columns=name,tag'],
  ['--id=@q', 'create', 'QoS', 'type=linux-htb', 'other_config:max-rate=1000000'],
  ['list', 'QoS', '--columns=type,other_config'],
  ['--all', 'destroy', 'QoS'],
  ['list', 'QoS'],
  ['wait-until', 'Interface', 'p2', 'ofport=10'],
  ['--timeout=1', 'wait-until', 'Interface', 'p2', 'ofport=11'],
  [
    'add-bond',
    'br0',
    'bond0',
    'b1',
    'b2',
    '--',
    'set',
    'Interface',
    'b1',
    'type=internal',
    '--',
    'set',
    'Interface',
    'b2',
    'type=internal',
  ],
  ['list-ifaces', 'br0'],
  ['get', 'Port', 'bond0', 'interfaces'],
  ['del-port', 'bond0'],
  ['set-manager', 'ptcp:0:127.0.0.1', 'tcp:127.0.0.1:1'],
  ['get-manager'],
  ['list', 'Manager', '--columns=target,connection_mode,inactivity_probe'],
  ['del-manager'],
  ['get-manager'],
  ['set-ssl', '/nonexistent/key.pem', '/nonexistent/cert.pem', '/nonexistent/ca.pem'],
  ['get-ssl'],
  ['del-ssl'],
  ['get-ssl'],
  ['add-aa-mapping', 'br0', '10', '100'],
  ['get-aa-mapping', 'br0'],
  ['del-aa-mapping', 'br0', '10'],
  ['get-aa-mapping', 'br0'],
  ['show'],
  ['del-br', 'br1'],
  ['list-br'],
  ['del-br', 'br0'],
  ['del-br', 'br0'],
  ['--if-exists', 'del-br', 'br0'],
  ['list-br'],
  ['list', 'Interface'],
  ['emer-reset'],
  ['show'],
];

function normalizer(): (s: string) => string {
  const uuids = new Map<string, string>();
  return (s: string) =>
    s
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (u) => {
        if (!uuids.has(u)) uuids.set(u, `<uuid${uuids.size + 1}>`);
        return uuids.get(u)!;
      })
      // tsvs records its version at start (as ovs-ctl does); the bare reference OVS has none.
      .replace(/\n {4}ovs_version: "[^"]*"/g, '')
      .replace(/\/var\/log\/openvswitch/g, 'LOGDIR')
      .replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\|/gm, 'TIME|');
}

/**
 * `show` lists a bridge's ports in the order of the `ports` set, i.e. by (random) UUID, on OVS
 * as on tsvs: compare each bridge's port blocks sorted.
 */
function sortShowPorts(s: string): string {
  const out: string[] = [];
  let ports: string[] = [];
  const flush = (): void => {
    out.push(...ports.sort());
    ports = [];
  };
  for (const line of s.split('\n')) {
    if (/^ {8}Port /.test(line)) ports.push(line);
    else if (/^ {9,}/.test(line) && ports.length > 0) ports[ports.length - 1] += '\n' + line;
    else {
      flush();
      out.push(line);
    }
  }
  flush();
  return out.join('\n');
}

async function run(
  label: string,
  db: string,
  args: string[],
  env: Record<string, string>,
): Promise<ToolResult> {
  const r = await runTool('ovs-vsctl', [`--db=unix:${db}`, '--timeout=10', ...args], {
    env,
    timeoutMs: 30_000,
  });
  if (r.timedOut) throw new Error(`${label}: ovs-vsctl ${args.join(' ')} timed out`);
  return r;
}

t.test('the same ovs-vsctl script gives the same results on OVS 3.1 and tsvs', async (t) => {
  if (!requirePeer(t, 'ovs-vsctl', 'ovs-vswitchd', 'ovsdb-server', 'ip')) return;
  const ref = await startRefOvs({ bridge: 'refdummy' });
  t.teardown(() => ref.stop());
  // The reference helper creates a bridge; start the script from an empty bridge list on both.
  await ref.vsctl('del-br', 'refdummy');
  const dir = makeTempDir();
  const paths = resolvePaths({ rundir: join(dir, 'run'), logFile: null });
  const d = await Daemon.start({ paths, components: standardComponents() });
  t.teardown(() => d.stop());
  const normOvs = normalizer();
  const normTsvs = normalizer();
  for (const args of SCRIPT) {
    const label = args.join(' ');
    const want = await run('ovs', join(ref.dir, 'db.sock'), args, { OVS_RUNDIR: ref.dir });
    const got = await run('tsvs', paths.dbSocket, args, { OVS_RUNDIR: paths.rundir });
    t.equal(got.code, want.code, `${label}: exit status`);
    const sort = args[0] === 'show' ? sortShowPorts : (x: string) => x;
    t.equal(sort(normTsvs(got.stdout)), sort(normOvs(want.stdout)), `${label}: stdout`);
    t.equal(normTsvs(got.stderr), normOvs(want.stderr), `${label}: stderr`);
  }
});

/**
 * Internal ports as TAP devices: a tsvs daemon runs inside its own network namespace with
 * TSVS_INTERNAL_PORTS=tap; `ovs-vsctl add-br` makes the bridge's LOCAL port a TAP device there;
 * the host side gives it an address and brings it up, and a host in another namespace, joined
 * to the bridge by a veth, pings it. Deleting the bridge removes the device, as with OVS.
 */
import { join } from 'node:path';
import t from 'tap';
import { loadNative } from '../../datapath/native.js';
import { makeTempDir } from '../helpers/daemon.js';
import { inCI, requirePeer } from '../helpers/peers.js';
import { sleep } from '../helpers/net.js';
import { runTool } from '../helpers/tools.js';
import { startNetnsDaemon } from './datapath-lab.js';

t.test('a host pings the bridge through its TAP internal port', async (t) => {
  if (!requirePeer(t, 'ip', 'ping', 'ovs-vsctl', 'ovs-ofctl')) return;
  try {
    loadNative();
  } catch (e) {
    if (inCI()) t.fail(`native addon not built: ${(e as Error).message}`);
    else t.plan(0, 'skip: native addon not built');
    return;
  }
  const tag = `tint${process.pid % 10000}`;
  const swNs = `${tag}sw`;
  const hNs = `${tag}h1`;
  const br = `${tag}br`;
  const sh = (...a: string[]) => runTool(a[0]!, a.slice(1), { timeoutMs: 20_000 });
  const cleanup = async (): Promise<void> => {
    await sh('ip', 'netns', 'del', hNs);
    await sh('ip', 'netns', 'del', swNs);
  };
  await cleanup();
  t.teardown(cleanup);
  for (const cmd of [
    ['ip', 'netns', 'add', swNs],
    ['ip', 'netns', 'add', hNs],
    ['ip', '-n', swNs, 'link', 'add', `${tag}s`, 'type', 'veth', 'peer', 'name', `${tag}h`],
    ['ip', '-n', swNs, 'link', 'set', `${tag}h`, 'netns', hNs],
    ['ip', '-n', hNs, 'addr', 'add', '10.78.0.2/24', 'dev', `${tag}h`],
    ['ip', '-n', hNs, 'link', 'set', `${tag}h`, 'up'],
    ['ip', 'netns', 'exec', hNs, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1'],
    ['ip', 'netns', 'exec', swNs, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1'],
    ['ip', 'netns', 'exec', swNs, 'sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1'],
  ]) {
    const r = await sh(...cmd);
    t.equal(r.code, 0, `${cmd.join(' ')}: ${r.stderr}`);
  }

  const dir = makeTempDir();
  const rundir = join(dir, 'run');
  const d = await startNetnsDaemon(swNs, rundir, { TSVS_INTERNAL_PORTS: 'tap' });
  t.teardown(() => d.stop());
  if (!d.up) {
    t.fail(`daemon did not start:\n${d.stderr()}`);
    return;
  }
  const vsctl = (...a: string[]) =>
    runTool('ovs-vsctl', [`--db=unix:${join(rundir, 'db.sock')}`, '--timeout=10', ...a]);

  const add = await vsctl('add-br', br, '--', 'add-port', br, `${tag}s`);
  t.equal(add.code, 0, `add-br: ${add.stderr}\ndaemon: ${d.stderr()}`);
  t.equal(add.stderr, '', 'no interface errors');
  const link = await sh('ip', '-n', swNs, '-o', 'link', 'show', br);
  t.equal(link.code, 0, `the bridge's TAP device exists in the switch's namespace: ${link.stderr}`);
  t.match(link.stdout, /state DOWN/, 'left down, as OVS leaves it');
  t.equal((await vsctl('get', 'Interface', br, 'ofport')).stdout.trim(), '65534');
  const mac = (await vsctl('get', 'Interface', br, 'mac_in_use')).stdout.trim().replace(/"/g, '');
  t.match(link.stdout, new RegExp(`link/ether ${mac}`), 'the device carries the bridge MAC');

  for (const c of [
    ['ip', '-n', swNs, 'addr', 'add', '10.78.0.1/24', 'dev', br],
    ['ip', '-n', swNs, 'link', 'set', br, 'up'],
  ]) {
    const r = await sh(...c);
    t.equal(r.code, 0, `${c.join(' ')}: ${r.stderr}`);
  }
  let ping = { code: 1, stdout: '', stderr: '' } as Awaited<ReturnType<typeof sh>>;
  for (let i = 0; i < 5 && ping.code !== 0; i++) {
    ping = await sh(
      'ip',
      'netns',
      'exec',
      hNs,
      'ping',
      '-c',
      '3',
      '-i',
      '0.2',
      '-W',
      '2',
      '10.78.0.1',
    );
  }
  t.equal(ping.code, 0, `host pings the bridge's address:\n${ping.stdout}${ping.stderr}`);
  t.match(ping.stdout, / 0% packet loss/);
  const back = await sh('ip', 'netns', 'exec', swNs, 'ping', '-c', '2', '-W', '2', '10.78.0.2');
  t.equal(back.code, 0, `the switch's namespace pings the host:\n${back.stdout}`);

  const ofctl = await runTool('ovs-ofctl', [
    '-O',
    'OpenFlow13',
    'show',
    `unix:${join(rundir, `${br}.mgmt`)}`,
  ]);
  t.match(ofctl.stdout, /LOCAL\(/, `LOCAL port listed:\n${ofctl.stdout}`);

  const del = await vsctl('del-br', br);
  t.equal(del.code, 0, del.stderr);
  let gone = false;
  for (let i = 0; i < 50 && !gone; i++) {
    gone = (await sh('ip', '-n', swNs, 'link', 'show', br)).code !== 0;
    if (!gone) await sleep(100);
  }
  t.ok(gone, 'the TAP device went away with the bridge');
  t.notMatch(d.stderr(), /uncaught|TypeError/i, 'daemon stderr clean');
});

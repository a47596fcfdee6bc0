/**
 * An active-backup bond carrying real traffic: a host namespace with two veths (in a Linux
 * bridge there, as the container has no bonding driver) whose other ends form a tsvs bond
 * (`ovs-vsctl add-bond`), and a second host on a plain port. The host keeps pinging when the
 * active member's link goes down: tsvs fails over to the second leg. Also checks the Interface columns OVS writes for veths (ifindex,
 * mtu, link_speed, duplex). Namespaces and veths carry unique names and are removed afterwards.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { standardComponents } from '../../vswitchd/components.js';
import { Daemon } from '../../vswitchd/daemon.js';
import { resolvePaths } from '../../vswitchd/paths.js';
import { makeTempDir } from '../helpers/daemon.js';
import { sleep } from '../helpers/net.js';
import { requirePeer } from '../helpers/peers.js';
import { runTool } from '../helpers/tools.js';
import { loadNative } from '../../datapath/native.js';

t.test('a host keeps pinging through a tsvs active-backup bond when a member fails', async (t) => {
  if (!requirePeer(t, 'ip', 'ping', 'ovs-vsctl', 'ovs-appctl')) return;
  try {
    loadNative();
  } catch (e) {
    if (process.env.CI === 'true') t.fail(`AF_PACKET addon not built: ${(e as Error).message}`);
    else t.plan(0, `skip: AF_PACKET addon not built (npm run build:native)`);
    return;
  }
  const tag = `tbnd${process.pid % 10000}`;
  const nsH = `${tag}H`;
  const nsG = `${tag}G`;
  const s1 = `${tag}s1`;
  const s2 = `${tag}s2`;
  const sg = `${tag}sg`;
  const sh = (...a: string[]) => runTool(a[0]!, a.slice(1), { timeoutMs: 30_000 });
  const cleanup = async (): Promise<void> => {
    for (const l of [s1, s2, sg]) await sh('ip', 'link', 'del', l);
    for (const n of [nsH, nsG]) await sh('ip', 'netns', 'del', n);
  };
  await cleanup();
  t.teardown(cleanup);
  const must = async (...cmd: string[]): Promise<void> => {
    const r = await sh(...cmd);
    t.equal(r.code, 0, `${cmd.join(' ')}: ${r.stderr}`);
  };
  await must('ip', 'netns', 'add', nsH);
  await must('ip', 'netns', 'add', nsG);
  // Host H: its two legs h1/h2 in a Linux bridge (the container has no bonding driver); the
  // tsvs active-backup bond only sends and accepts on its active member, so there is no loop.
  await must('ip', '-n', nsH, 'link', 'add', 'hbr', 'type', 'bridge');
  for (const [sw, host] of [
    [s1, 'h1'],
    [s2, 'h2'],
  ] as const) {
    await must('ip', 'link', 'add', sw, 'type', 'veth', 'peer', 'name', `${tag}${host}`);
    await must('ip', 'link', 'set', `${tag}${host}`, 'netns', nsH);
    await must('ip', '-n', nsH, 'link', 'set', `${tag}${host}`, 'name', host);
    await must('ip', '-n', nsH, 'link', 'set', host, 'master', 'hbr');
    await must('ip', '-n', nsH, 'link', 'set', host, 'up');
  }
  await must('ip', 'link', 'add', sg, 'type', 'veth', 'peer', 'name', `${tag}g`);
  await must('ip', 'link', 'set', `${tag}g`, 'netns', nsG);
  await must('ip', '-n', nsG, 'link', 'set', `${tag}g`, 'name', 'g0');
  for (const [ns, dev, ip] of [
    [nsH, 'hbr', '10.78.0.1/24'],
    [nsG, 'g0', '10.78.0.2/24'],
  ] as const) {
    await must('ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1');
    await must('ip', '-n', ns, 'addr', 'add', ip, 'dev', dev);
    await must('ip', '-n', ns, 'link', 'set', dev, 'up');
    await must('ip', '-n', ns, 'link', 'set', 'lo', 'up');
  }

  const dir = makeTempDir();
  const paths = resolvePaths({ rundir: join(dir, 'run'), logFile: null });
  const d = await Daemon.start({ paths, components: standardComponents() });
  t.teardown(() => d.stop());
  const vsctl = (...a: string[]) =>
    runTool('ovs-vsctl', [`--db=unix:${paths.dbSocket}`, '--timeout=20', ...a]);
  const appctl = (...a: string[]) => runTool('ovs-appctl', ['-t', paths.ctl, ...a]);
  const bond = `${tag}b`;
  const r = await vsctl(
    'add-br',
    `${tag}br`,
    '--',
    'add-bond',
    `${tag}br`,
    bond,
    s1,
    s2,
    'other_config:bond-primary=' + s1,
    '--',
    'add-port',
    `${tag}br`,
    sg,
  );
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, '', 'no interface errors');

  // Interface columns for a veth, as OVS writes them.
  const cols = await vsctl(
    '--columns=ifindex,mtu,link_speed,duplex',
    '--format=csv',
    '--no-headings',
    'list',
    'Interface',
    s1,
  );
  const ifindex = readFileSync(`/sys/class/net/${s1}/ifindex`, 'utf8').trim();
  t.equal(cols.stdout.trim(), `${ifindex},1500,10000000000,full`, 'veth columns');

  const waitFor = async (cond: () => Promise<boolean>, what: string): Promise<void> => {
    for (let i = 0; i < 100; i++) {
      if (await cond()) return;
      await sleep(100);
    }
    t.fail(`timed out waiting for ${what}`);
  };
  const show = async (): Promise<string> => (await appctl('bond/show', bond)).stdout;
  await waitFor(
    async () => (await show()).includes(`member ${s1}: enabled\n  active member`),
    's1 active',
  );
  const ping = (n: number) =>
    runTool(
      'ip',
      ['netns', 'exec', nsH, 'ping', '-c', String(n), '-i', '0.2', '-W', '2', '10.78.0.2'],
      { timeoutMs: 60_000 },
    );
  const first = await ping(3);
  t.equal(first.code, 0, `ping before failover:\n${first.stdout}${first.stderr}`);

  // A long ping while s1's link goes down; it must keep getting replies after the failover.
  const long = ping(30);
  await sleep(1500);
  await must('ip', 'link', 'set', s1, 'down');
  await waitFor(
    async () => (await show()).includes(`member ${s2}: enabled\n  active member`),
    's2 active',
  );
  const out = await long;
  const seqs = [...out.stdout.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1]));
  t.ok(seqs.filter((s) => s > 20).length >= 5, `replies after the failover:\n${out.stdout}`);
  const after = await ping(3);
  t.equal(after.code, 0, `ping after failover:\n${after.stdout}`);
  t.match(await show(), new RegExp(`member ${s1}: disabled\n  may_enable: false`));
  const active = await vsctl('get', 'Port', bond, 'bond_active_slave');
  const mac2 = readFileSync(`/sys/class/net/${s2}/address`, 'utf8').trim();
  t.equal(active.stdout.trim(), `"${mac2}"`, 'bond_active_slave is s2');
});

/**
 * Spanning tree between tsvs and Open vSwitch 3.1: a loop of two tsvs bridges (one daemon, root
 * network namespace) and one OVS bridge (Debian's ovs-vswitchd, userspace datapath, in its own
 * namespace; tests/helpers/ref-ovs.ts), joined by veth pairs, with a host on a tsvs bridge and a
 * host on the OVS bridge. Both implementations must agree on the root and on the one blocked
 * port (tsvs's Bridge/Port status against OVS's `ovs-vsctl get` and `ovs-appctl stp/show`), the
 * hosts ping across the loop in steady state, and the OpenFlow 1.3 port description of a
 * blocked port looks the same on both (OVS keeps STP state out of 1.3 port state). Two rounds:
 * OVS as root (a tsvs port blocks), then a tsvs bridge as root (the OVS port blocks).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { standardComponents } from '../../vswitchd/components.js';
import { Daemon } from '../../vswitchd/daemon.js';
import { resolvePaths } from '../../vswitchd/paths.js';
import { loadNative } from '../../datapath/native.js';
import { makeTempDir } from '../helpers/daemon.js';
import { sleep } from '../helpers/net.js';
import { requirePeer } from '../helpers/peers.js';
import { startRefOvs } from '../helpers/ref-ovs.js';
import { runTool } from '../helpers/tools.js';

const TIMERS = [
  'other_config:stp-hello-time=1',
  'other_config:stp-max-age=6',
  'other_config:stp-forward-delay=4',
];

t.test('tsvs and OVS 3.1 agree on the spanning tree of a shared loop', async (t) => {
  if (!requirePeer(t, 'ip', 'ping', 'ovs-vsctl', 'ovs-appctl', 'ovs-ofctl', 'ovs-vswitchd')) return;
  try {
    loadNative();
  } catch (e) {
    if (process.env.CI === 'true') t.fail(`AF_PACKET addon not built: ${(e as Error).message}`);
    else t.plan(0, 'skip: AF_PACKET addon not built (npm run build:native)');
    return;
  }
  const tag = `tstp${process.pid % 1000}`; // names of 10 characters at most: stp/show prints 10
  const n = (x: string): string => `${tag}${x}`;
  const sh = (...a: string[]) => runTool(a[0]!, a.slice(1), { timeoutMs: 30_000 });
  const must = async (...cmd: string[]): Promise<string> => {
    const r = await sh(...cmd);
    if (r.code !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  // Links: t12 (tsvs T1) – t21 (tsvs T2); t13 (T1) – o31 (OVS); t23 (T2) – o32 (OVS).
  const links: [string, string][] = [
    [n('t12'), n('t21')],
    [n('t13'), n('o31')],
    [n('t23'), n('o32')],
  ];
  const h1 = { ns: n('h1'), sw: n('h1'), host: n('h1e'), ip: '10.79.0.1' };
  const h2 = { ns: n('h2'), sw: n('h2'), host: n('h2e'), ip: '10.79.0.2' };
  const cleanup = async (): Promise<void> => {
    for (const [a] of links) await sh('ip', 'link', 'del', a);
    for (const h of [h1, h2]) {
      await sh('ip', 'link', 'del', h.sw);
      await sh('ip', 'netns', 'del', h.ns);
    }
  };
  await cleanup();
  t.teardown(cleanup);

  const ref = await startRefOvs({ bridge: n('o') });
  t.teardown(() => ref.stop());
  const refPid = readFileSync(join(ref.dir, 'ovs-vswitchd.pid'), 'utf8').trim();
  const refNs = (await must('ip', 'netns', 'identify', refPid)).trim();
  t.ok(refNs.length > 0, `OVS runs in namespace ${refNs}`);
  const ovsAppctl = (...a: string[]) =>
    runTool('ovs-appctl', ['-t', join(ref.dir, 'ovs-vswitchd.ctl'), ...a]);

  for (const [a, b] of links) {
    await must('ip', 'link', 'add', a, 'type', 'veth', 'peer', 'name', b);
    for (const x of [a, b]) await must('sysctl', '-qw', `net.ipv6.conf.${x}.disable_ipv6=1`);
    if (b.includes('o3')) {
      await must('ip', 'link', 'set', b, 'netns', refNs);
      await must('ip', '-n', refNs, 'link', 'set', b, 'up');
    }
  }
  for (const h of [h1, h2]) {
    await must('ip', 'netns', 'add', h.ns);
    await must('ip', 'link', 'add', h.sw, 'type', 'veth', 'peer', 'name', h.host);
    await must('sysctl', '-qw', `net.ipv6.conf.${h.sw}.disable_ipv6=1`);
    await must('ip', 'link', 'set', h.host, 'netns', h.ns);
    await must('ip', 'netns', 'exec', h.ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1');
    await must('ip', '-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', h.host);
    await must('ip', '-n', h.ns, 'link', 'set', h.host, 'up');
    await must('ip', '-n', h.ns, 'link', 'set', 'lo', 'up');
  }
  // h2's switch end goes to OVS's namespace.
  await must('ip', 'link', 'set', h2.sw, 'netns', refNs);
  await must('ip', '-n', refNs, 'link', 'set', h2.sw, 'up');

  // The OVS bridge: standalone (NORMAL), STP on, ports o31, o32, h2; system id ..:03, priority
  // 4096 so it is the root in round 1.
  const O = n('o');
  const ro = await ref.vsctl(
    'set-fail-mode',
    O,
    'standalone',
    '--',
    'set',
    'Bridge',
    O,
    'stp_enable=true',
    ...TIMERS,
    'other_config:stp-system-id=00:00:00:00:79:03',
    'other_config:stp-priority=4096',
    '--',
    'add-port',
    O,
    n('o31'),
    '--',
    'add-port',
    O,
    n('o32'),
    '--',
    'add-port',
    O,
    h2.sw,
  );
  t.equal(ro.code, 0, `OVS bridge: ${ro.stderr}`);

  const dir = makeTempDir('tstp-interop-');
  const paths = resolvePaths({ rundir: join(dir, 'run'), logFile: null });
  const d = await Daemon.start({ paths, components: standardComponents() });
  t.teardown(() => d.stop());
  const vsctl = (...a: string[]) =>
    runTool('ovs-vsctl', [`--db=unix:${paths.dbSocket}`, '--timeout=20', ...a]);
  const T1 = n('T1');
  const T2 = n('T2');
  const rt = await vsctl(
    'add-br',
    T1,
    '--',
    'set',
    'Bridge',
    T1,
    'stp_enable=true',
    ...TIMERS,
    'other_config:stp-system-id=00:00:00:00:79:01',
    '--',
    'add-port',
    T1,
    n('t12'),
    '--',
    'add-port',
    T1,
    n('t13'),
    '--',
    'add-port',
    T1,
    h1.sw,
    '--',
    'add-br',
    T2,
    '--',
    'set',
    'Bridge',
    T2,
    'stp_enable=true',
    ...TIMERS,
    'other_config:stp-system-id=00:00:00:00:79:02',
    '--',
    'add-port',
    T2,
    n('t21'),
    '--',
    'add-port',
    T2,
    n('t23'),
  );
  t.equal(rt.code, 0, rt.stderr);

  const unq = (s: string): string => s.trim().replace(/^"|"$/g, '');
  const tsvsState = async (port: string): Promise<string> =>
    unq((await vsctl('get', 'Port', port, 'status:stp_state')).stdout);
  const ovsState = async (port: string): Promise<string> =>
    unq((await ref.vsctl('get', 'Port', port, 'status:stp_state')).stdout);
  const loopPorts: [string, (p: string) => Promise<string>][] = [
    [n('t12'), tsvsState],
    [n('t13'), tsvsState],
    [n('t21'), tsvsState],
    [n('t23'), tsvsState],
    [n('o31'), ovsState],
    [n('o32'), ovsState],
  ];
  const snapshot = async (): Promise<Record<string, string>> => {
    const o: Record<string, string> = {};
    for (const [p, f] of loopPorts) o[p] = await f(p);
    return o;
  };
  const waitFor = async (want: Record<string, string>, ms: number): Promise<number> => {
    const start = Date.now();
    while (Date.now() - start < ms) {
      const s = await snapshot();
      if (Object.entries(want).every(([k, v]) => s[k] === v)) return Date.now() - start;
      await sleep(300);
    }
    return -1;
  };
  const roots = async (): Promise<string[]> => [
    unq((await vsctl('get', 'Bridge', T1, 'status:stp_designated_root')).stdout),
    unq((await vsctl('get', 'Bridge', T2, 'status:stp_designated_root')).stdout),
    unq((await ref.vsctl('get', 'Bridge', O, 'status:stp_designated_root')).stdout),
  ];
  const pingH1H2 = async (): Promise<boolean> => {
    for (let i = 0; i < 10; i++) {
      const p = await runTool(
        'ip',
        ['netns', 'exec', h1.ns, 'ping', '-c', '5', '-i', '0.2', '-W', '2', h2.ip],
        { timeoutMs: 30_000 },
      );
      if (p.code === 0 && / 0% packet loss/.test(p.stdout)) return true;
      await sleep(500);
    }
    return false;
  };

  // ---- Round 1: OVS is the root; the T1–T2 link blocks at T2 (higher ID than T1).
  const t0 = Date.now();
  const all = Object.fromEntries(loopPorts.map(([p]) => [p, 'forwarding']));
  const round1 = { ...all, [n('t21')]: 'blocking' };
  const c1 = await waitFor(round1, 60_000);
  t.ok(c1 >= 0, `round 1 converged: ${JSON.stringify(await snapshot())}`);
  t.comment(`round 1 (OVS root) converged ${Date.now() - t0} ms after the bridges were created`);
  t.same(await roots(), Array(3).fill('1000.000000007903'), 'everyone agrees OVS is the root');
  const oShow = (await ovsAppctl('stp/show', O)).stdout;
  t.match(oShow, /This bridge is the root/, 'OVS says it is the root');
  const t2Show = (await runTool('ovs-appctl', ['-t', paths.ctl, 'stp/show', T2])).stdout;
  t.match(t2Show, new RegExp(`${n('t21')}\\s+alternate\\s+blocking`), 'tsvs blocks t21');
  t.match(t2Show, new RegExp(`root-port\\s+${n('t23')}`));
  t.equal(unq((await vsctl('get', 'Port', n('t21'), 'status:stp_role')).stdout), 'alternate');
  t.equal(unq((await ref.vsctl('get', 'Port', n('o32'), 'status:stp_role')).stdout), 'designated');
  t.ok(await pingH1H2(), 'h1 (tsvs) pings h2 (OVS) in steady state');

  // OpenFlow 1.3 port description of the blocked port: no STP bits, as OVS (state LIVE only).
  const tDesc = (
    await runTool('ovs-ofctl', ['-O', 'OpenFlow13', 'dump-ports-desc', `unix:${paths.mgmt(T2)}`])
  ).stdout;
  const portBlock = (text: string, name: string): string =>
    new RegExp(`\\(${name}\\):[\\s\\S]*?state:\\s+(\\S+)`).exec(text)?.[1] ?? '(none)';
  t.equal(portBlock(tDesc, n('t21')), 'LIVE', 'tsvs blocked port: state LIVE');

  // ---- Round 2: OVS back to priority 32768: T1 (..:01) becomes the root; the T2–O link
  // blocks at OVS (its ID ..:03 is higher than T2's).
  const r2 = await ref.vsctl('set', 'Bridge', O, 'other_config:stp-priority=32768');
  t.equal(r2.code, 0, r2.stderr);
  const t1 = Date.now();
  const round2 = { ...all, [n('o32')]: 'blocking' };
  const c2 = await waitFor(round2, 60_000);
  t.ok(c2 >= 0, `round 2 converged: ${JSON.stringify(await snapshot())}`);
  t.comment(`round 2 (tsvs root) re-converged ${Date.now() - t1} ms after the priority change`);
  t.same(await roots(), Array(3).fill('8000.000000007901'), 'everyone agrees T1 is the root');
  const oShow2 = (await ovsAppctl('stp/show', O)).stdout;
  t.match(oShow2, new RegExp(`${n('o32')}\\s+alternate\\s+blocking`), 'OVS blocks o32');
  t.match(oShow2, new RegExp(`root-port\\s+${n('o31')}`));
  t.match(oShow2, /root-path-cost {2}2\n/);
  const t1Show = (await runTool('ovs-appctl', ['-t', paths.ctl, 'stp/show', T1])).stdout;
  t.match(t1Show, /This bridge is the root/);
  // Same layout and values where they must agree: the Root ID stanza (T2 and OVS are both
  // non-root bridges with the same timers) and the port table header.
  const t2Show2 = (await runTool('ovs-appctl', ['-t', paths.ctl, 'stp/show', T2])).stdout;
  const stanza = (x: string): string => x.split('\n').slice(1, 7).join('\n');
  t.equal(stanza(t2Show2), stanza(oShow2), 'Root ID stanza identical on tsvs and OVS');
  const header = (x: string): string =>
    x
      .split('\n')
      .filter((l) => /Interface|-------/.test(l))
      .join('\n');
  t.equal(header(t2Show2), header(oShow2), 'port table header identical');
  t.ok(await pingH1H2(), 'h1 pings h2 with a tsvs root');
  const oDesc = (await runTool('ovs-ofctl', ['-O', 'OpenFlow13', 'dump-ports-desc', ref.ofTarget]))
    .stdout;
  t.equal(portBlock(oDesc, n('o32')), 'LIVE', 'OVS blocked port: state LIVE too');
});

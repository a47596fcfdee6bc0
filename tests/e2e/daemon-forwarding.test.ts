/**
 * Forwarding through the whole daemon: a bridge with dummy interfaces configured by ovs-vsctl,
 * NORMAL in fail_mode standalone, then an OpenFlow rule in fail_mode secure. Asserted through
 * ofproto/trace, netdev-dummy/receive, dpctl/dump-flows and ovs-ofctl port statistics, with
 * Debian's ovs-appctl/ovs-vsctl/ovs-ofctl.
 */
import { join } from 'node:path';
import t from 'tap';
import { standardComponents } from '../../vswitchd/components.js';
import { Daemon } from '../../vswitchd/daemon.js';
import { resolvePaths } from '../../vswitchd/paths.js';
import { makeTempDir } from '../helpers/daemon.js';
import { requirePeer } from '../helpers/peers.js';
import { runTool } from '../helpers/tools.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test(
  'NORMAL learns and floods; a rule in secure mode takes over; no stale megaflow',
  async (t) => {
    if (!requirePeer(t, 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl')) return;
    const dir = makeTempDir();
    const paths = resolvePaths({ rundir: join(dir, 'run'), logFile: null });
    const d = await Daemon.start({ paths, components: standardComponents() });
    t.teardown(() => d.stop());
    const env = { OVS_RUNDIR: paths.rundir };
    const vsctl = (...a: string[]) =>
      runTool('ovs-vsctl', [`--db=unix:${paths.dbSocket}`, '--timeout=10', ...a], { env });
    const appctl = (...a: string[]) => runTool('ovs-appctl', ['-t', paths.ctl, ...a]);
    const ofctl = (...a: string[]) => runTool('ovs-ofctl', ['-O', 'OpenFlow13', ...a], { env });

    const tag = `f${process.pid % 10000}`;
    const [p1, p2, p3] = [`${tag}a`, `${tag}b`, `${tag}c`];
    let r = await vsctl(
      'add-br',
      'br0',
      '--',
      ...[p1, p2, p3].flatMap((p, i) => [
        'add-port',
        'br0',
        p,
        '--',
        'set',
        'Interface',
        p,
        'type=dummy',
        `ofport_request=${i + 1}`,
        '--',
      ]),
      'set',
      'Bridge',
      'br0',
      'other_config:mac-aging-time=60',
    );
    t.equal(r.code, 0, r.stderr);

    // Datapath port numbers by name, from dpctl/show.
    const show = (await appctl('dpctl/show')).stdout;
    const dp = (name: string): string =>
      new RegExp(`port (\\d+): ${name}\\b`).exec(show)?.[1] ?? '?';
    t.not(dp(p1), '?', `dpctl/show lists the ports:\n${show}`);

    // 1. Unknown destination: NORMAL floods to every other port, the bridge's LOCAL port included
    //    (as OVS does; the LOCAL port is down, and OVS outputs to down ports).
    const bcast = `in_port=1,dl_src=00:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,dl_type=0x0800,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_proto=17,tp_src=1,tp_dst=2`;
    r = await appctl('ofproto/trace', 'br0', bcast);
    t.equal(r.code, 0, r.stderr);
    const dpa = /Datapath actions: (.*)/.exec(r.stdout)?.[1] ?? '';
    t.same(
      dpa.split(',').sort(),
      [dp('br0'), dp(p2), dp(p3)].sort(),
      `flood to the other ports: ${r.stdout}`,
    );

    // 2. Inject frames: p1 -> broadcast (learns 01 on p1), then p2 -> 01 goes only to p1.
    r = await appctl('netdev-dummy/receive', p1, bcast);
    t.equal(r.code, 0, r.stderr);
    r = await appctl(
      'netdev-dummy/receive',
      p2,
      `in_port=2,dl_src=00:00:00:00:00:02,dl_dst=00:00:00:00:00:01,dl_type=0x0800,nw_src=10.0.0.2,nw_dst=10.0.0.1,nw_proto=17,tp_src=2,tp_dst=1`,
    );
    t.equal(r.code, 0, r.stderr);
    await sleep(100);
    const fdb = (await appctl('fdb/show', 'br0')).stdout;
    t.match(fdb, /00:00:00:00:00:01/, `learned: ${fdb}`);
    const flows = (await appctl('dpctl/dump-flows')).stdout;
    t.match(flows, /actions:/, `megaflows installed: ${flows}`);
    const ports = (await ofctl('dump-ports', 'br0')).stdout;
    const txOf = (n: number): number =>
      Number(new RegExp(`port +${n}: rx pkts=\\d+.*\\n\\s+tx pkts=(\\d+)`).exec(ports)?.[1] ?? -1);
    t.equal(txOf(1), 1, `p1 got the unicast reply:\n${ports}`);
    t.equal(txOf(2), 1, 'p2 got the flood');
    t.equal(txOf(3), 1, 'p3 got the flood only');

    // 3. Secure mode with a rule: in_port=1 -> output:3 only, old megaflows gone.
    r = await vsctl('set-fail-mode', 'br0', 'secure');
    t.equal(r.code, 0);
    r = await ofctl('add-flow', 'br0', 'priority=10,in_port=1,actions=output:3');
    t.equal(r.code, 0, r.stderr);
    r = await appctl('ofproto/trace', 'br0', bcast);
    t.match(r.stdout, new RegExp(`Datapath actions: ${dp(p3)}\\n`), r.stdout);
    r = await appctl('netdev-dummy/receive', p1, bcast);
    await sleep(100);
    const ports2 = (await ofctl('dump-ports', 'br0')).stdout;
    const tx2 = (n: number): number =>
      Number(new RegExp(`port +${n}: rx pkts=\\d+.*\\n\\s+tx pkts=(\\d+)`).exec(ports2)?.[1] ?? -1);
    t.equal(tx2(3), 2, 'p3 got it through the rule');
    t.equal(tx2(2), 1, 'p2 did not (no stale NORMAL megaflow)');
    const stats = (await ofctl('dump-flows', 'br0')).stdout;
    t.match(stats, /n_packets=1,.*in_port=1 actions=output:3/, `rule credited: ${stats}`);
    // 3b. Later packets of the flow hit the megaflow; their counts are pushed back to the rule.
    for (let i = 0; i < 5; i++) await appctl('netdev-dummy/receive', p1, bcast);
    let counted = '';
    for (let i = 0; i < 30 && !/n_packets=6,/.test(counted); i++) {
      await sleep(100);
      counted = (await ofctl('dump-flows', 'br0')).stdout;
    }
    t.match(
      counted,
      /n_packets=6, n_bytes=\d+,.*in_port=1 actions=output:3/,
      `stats pushed back: ${counted}`,
    );
    const hits = (await appctl('dpctl/show')).stdout;
    t.match(hits, /hit:[1-9]/, `megaflow hits: ${hits}`);
    // 4. A packet with no rule in secure mode is dropped.
    r = await appctl(
      'ofproto/trace',
      'br0',
      'in_port=2,dl_src=00:00:00:00:00:02,dl_dst=00:00:00:00:00:01',
    );
    t.match(r.stdout, /Datapath actions: drop/);
  },
);

t.test('Port tag/trunks/vlan_mode from the database drive NORMAL', async (t) => {
  if (!requirePeer(t, 'ovs-vsctl', 'ovs-appctl')) return;
  const dir = makeTempDir();
  const paths = resolvePaths({ rundir: join(dir, 'run'), logFile: null });
  const d = await Daemon.start({ paths, components: standardComponents() });
  t.teardown(() => d.stop());
  const vsctl = (...a: string[]) =>
    runTool('ovs-vsctl', [`--db=unix:${paths.dbSocket}`, '--timeout=10', ...a]);
  const appctl = (...a: string[]) => runTool('ovs-appctl', ['-t', paths.ctl, ...a]);
  const tag = `v${process.pid % 10000}`;
  const [a10, b10, c20, trunk] = [`${tag}a`, `${tag}b`, `${tag}c`, `${tag}t`];
  const r = await vsctl(
    'add-br',
    'br0',
    '--',
    'add-port',
    'br0',
    a10,
    'tag=10',
    '--',
    'set',
    'Interface',
    a10,
    'type=dummy',
    'ofport_request=1',
    '--',
    'add-port',
    'br0',
    b10,
    'tag=10',
    '--',
    'set',
    'Interface',
    b10,
    'type=dummy',
    'ofport_request=2',
    '--',
    'add-port',
    'br0',
    c20,
    'tag=20',
    '--',
    'set',
    'Interface',
    c20,
    'type=dummy',
    'ofport_request=3',
    '--',
    'add-port',
    'br0',
    trunk,
    'trunks=10',
    '--',
    'set',
    'Interface',
    trunk,
    'type=dummy',
    'ofport_request=4',
  );
  t.equal(r.code, 0, r.stderr);
  const show = (await appctl('dpctl/show')).stdout;
  const dp = (name: string): string => new RegExp(`port (\\d+): ${name}\\b`).exec(show)?.[1] ?? '?';
  const tr = await appctl(
    'ofproto/trace',
    'br0',
    'in_port=1,dl_src=00:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff',
  );
  const acts = /Datapath actions: (.*)/.exec(tr.stdout)?.[1] ?? '';
  t.match(acts, new RegExp(`(^|,)${dp(b10)}(,|$)`), `the other access port of VLAN 10: ${acts}`);
  t.match(
    acts,
    new RegExp(`push_vlan\\(vid=10[^)]*\\),.*${dp(trunk)}`),
    `tagged to the trunk: ${acts}`,
  );
  t.notMatch(acts, new RegExp(`(^|,)${dp(c20)}(,|$)`), 'never to VLAN 20');
  // Changing the tag re-reads the configuration.
  await vsctl('set', 'Port', c20, 'tag=10');
  const tr2 = await appctl(
    'ofproto/trace',
    'br0',
    'in_port=1,dl_src=00:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff',
  );
  t.match(
    /Datapath actions: (.*)/.exec(tr2.stdout)?.[1] ?? '',
    new RegExp(`(^|,)${dp(c20)}(,|$)`),
    'now in VLAN 10',
  );
});

t.test('carrier changes reach OpenFlow and the database; statistics are refreshed', async (t) => {
  if (!requirePeer(t, 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl')) return;
  const { findDummy } = await import('../../datapath/netdev-dummy.js');
  const dir = makeTempDir();
  const paths = resolvePaths({ rundir: join(dir, 'run'), logFile: null });
  const d = await Daemon.start({ paths, components: standardComponents() });
  t.teardown(() => d.stop());
  const env = { OVS_RUNDIR: paths.rundir };
  const vsctl = (...a: string[]) =>
    runTool('ovs-vsctl', [`--db=unix:${paths.dbSocket}`, '--timeout=10', ...a], { env });
  const appctl = (...a: string[]) => runTool('ovs-appctl', ['-t', paths.ctl, ...a]);
  const p = `l${process.pid % 10000}a`;
  let r = await vsctl(
    'add-br',
    'br0',
    '--',
    'add-port',
    'br0',
    p,
    '--',
    'set',
    'Interface',
    p,
    'type=dummy',
  );
  t.equal(r.code, 0, r.stderr);
  t.equal((await vsctl('get', 'Interface', p, 'link_state')).stdout.trim(), 'up');
  findDummy(p)!.setCarrier(false);
  let state = '';
  for (let i = 0; i < 40 && state !== 'down'; i++) {
    await sleep(100);
    state = (await vsctl('get', 'Interface', p, 'link_state')).stdout.trim();
  }
  t.equal(state, 'down', 'link_state written back');
  t.equal((await vsctl('get', 'Interface', p, 'link_resets')).stdout.trim(), '1');
  const show = await runTool('ovs-ofctl', ['-O', 'OpenFlow13', 'show', 'br0'], { env });
  t.match(show.stdout, new RegExp(`\\(${p}\\)[\\s\\S]*?state: +LINK_DOWN`), show.stdout);
  findDummy(p)!.setCarrier(true);
  await appctl(
    'netdev-dummy/receive',
    p,
    'in_port=1,dl_src=00:00:00:00:00:05,dl_dst=ff:ff:ff:ff:ff:ff',
  );
  let stats = '';
  for (let i = 0; i < 80 && !/rx_packets=1/.test(stats); i++) {
    await sleep(100);
    stats = (await vsctl('get', 'Interface', p, 'statistics')).stdout;
  }
  t.match(stats, /rx_packets=1/, `Interface.statistics: ${stats}`);
  r = await vsctl('get', 'Interface', p, 'link_state');
  t.equal(r.stdout.trim(), 'up');
});

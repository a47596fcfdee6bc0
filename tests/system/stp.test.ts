/**
 * Spanning tree on real links: three tsvs bridges (one daemon) wired in a triangle by veth
 * pairs, a host namespace on two of them. With STP on (short timers: hello 1 s, max age 6 s,
 * forward delay 4 s) the bridges agree on one root and block exactly one port; the hosts ping
 * and the inter-bridge links carry a bounded number of packets (no broadcast storm). Cutting the
 * link between the root and the hosts' second bridge re-converges within
 * max_age + 2 × forward_delay and the pings resume. Needs root (namespaces, veths) and the
 * AF_PACKET addon. Everything is named `tstp<pid>…` and removed afterwards.
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
import { runTool } from '../helpers/tools.js';

const MAX_AGE = 6;
const FWD_DELAY = 4;

t.test(
  'a triangle of tsvs bridges: one root, one blocked port, no storm, re-convergence',
  async (t) => {
    if (!requirePeer(t, 'ip', 'ping', 'ovs-vsctl', 'ovs-appctl')) return;
    try {
      loadNative();
    } catch (e) {
      if (process.env.CI === 'true') t.fail(`AF_PACKET addon not built: ${(e as Error).message}`);
      else t.plan(0, 'skip: AF_PACKET addon not built (npm run build:native)');
      return;
    }
    // At most 3 digits: stp/show truncates interface names to 10 characters, as OVS does.
    const tag = `tstp${process.pid % 1000}`;
    const n = (x: string): string => `${tag}${x}`;
    // Inter-bridge links: [bridge, port] pairs.
    const links: [string, string][] = [
      [n('a12'), n('b21')],
      [n('a13'), n('c31')],
      [n('b23'), n('c32')],
    ];
    const hosts = [
      { ns: n('h1'), sw: n('h1'), host: n('h1e'), ip: '10.78.0.1', br: n('b1') },
      { ns: n('h2'), sw: n('h2'), host: n('h2e'), ip: '10.78.0.2', br: n('b2') },
    ];
    const sh = (...a: string[]) => runTool(a[0]!, a.slice(1), { timeoutMs: 30_000 });
    const cleanup = async (): Promise<void> => {
      for (const [a] of links) await sh('ip', 'link', 'del', a);
      for (const h of hosts) {
        await sh('ip', 'link', 'del', h.sw);
        await sh('ip', 'netns', 'del', h.ns);
      }
    };
    await cleanup();
    t.teardown(cleanup);
    const must = async (...cmd: string[]): Promise<void> => {
      const r = await sh(...cmd);
      if (r.code !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
    };
    for (const [a, b] of links) {
      await must('ip', 'link', 'add', a, 'type', 'veth', 'peer', 'name', b);
      for (const x of [a, b]) await must('sysctl', '-qw', `net.ipv6.conf.${x}.disable_ipv6=1`);
    }
    for (const h of hosts) {
      await must('ip', 'netns', 'add', h.ns);
      await must('ip', 'link', 'add', h.sw, 'type', 'veth', 'peer', 'name', h.host);
      await must('sysctl', '-qw', `net.ipv6.conf.${h.sw}.disable_ipv6=1`);
      await must('ip', 'link', 'set', h.host, 'netns', h.ns);
      await must('ip', 'netns', 'exec', h.ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1');
      await must('ip', '-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', h.host);
      await must('ip', '-n', h.ns, 'link', 'set', h.host, 'up');
      await must('ip', '-n', h.ns, 'link', 'set', 'lo', 'up');
    }

    const dir = makeTempDir('tstp-sys-');
    const paths = resolvePaths({ rundir: join(dir, 'run'), logFile: null });
    const d = await Daemon.start({ paths, components: standardComponents() });
    t.teardown(() => d.stop());
    const vsctl = (...a: string[]) =>
      runTool('ovs-vsctl', [`--db=unix:${paths.dbSocket}`, '--timeout=20', ...a]);
    const appctl = (...a: string[]) => runTool('ovs-appctl', ['-t', paths.ctl, ...a]);
    const timers = [
      'other_config:stp-hello-time=1',
      `other_config:stp-max-age=${MAX_AGE}`,
      `other_config:stp-forward-delay=${FWD_DELAY}`,
    ];
    const bridges: [string, string, string[]][] = [
      [n('b1'), '00:00:00:00:78:01', [n('a12'), n('a13'), n('h1')]],
      [n('b2'), '00:00:00:00:78:02', [n('b21'), n('b23'), n('h2')]],
      [n('b3'), '00:00:00:00:78:03', [n('c31'), n('c32')]],
    ];
    const args: string[] = [];
    for (const [br, sys, ports] of bridges) {
      args.push('--', 'add-br', br, '--', 'set', 'Bridge', br, 'stp_enable=true', ...timers);
      args.push(`other_config:stp-system-id=${sys}`);
      for (const p of ports) args.push('--', 'add-port', br, p);
    }
    // STP on from the start (a triangle without it would loop); time the convergence from here.
    const t0 = Date.now();
    const r = await vsctl(...args.slice(1));
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stderr, '', 'no interface errors');

    const stpPorts = [...links.flat()];
    const portStates = async (): Promise<Map<string, string>> => {
      const out = new Map<string, string>();
      const res = await vsctl(
        '--format=csv',
        '--data=bare',
        '--columns=name,status',
        'list',
        'Port',
      );
      for (const line of res.stdout.trim().split('\n').slice(1)) {
        const m = /^([^,]+),"?(.*?)"?$/.exec(line);
        if (!m) continue;
        const st = /stp_state=(\w+)/.exec(m[2]!)?.[1];
        if (st) out.set(m[1]!, st);
      }
      return out;
    };
    const converged = async (): Promise<boolean> => {
      const s = await portStates();
      const v = stpPorts.map((p) => s.get(p));
      return (
        v.filter((x) => x === 'forwarding').length === 5 &&
        v.filter((x) => x === 'blocking').length === 1
      );
    };
    const waitFor = async (cond: () => Promise<boolean>, ms: number): Promise<number> => {
      const start = Date.now();
      while (Date.now() - start < ms) {
        if (await cond()) return Date.now() - start;
        await sleep(200);
      }
      return -1;
    };

    const conv = await waitFor(converged, 60_000);
    t.ok(conv >= 0, `converged: ${JSON.stringify([...(await portStates())])}`);
    t.comment(
      `converged ${Date.now() - t0} ms after add-br with stp_enable=true (2 × forward_delay = ${2 * FWD_DELAY} s)`,
    );
    const states = await portStates();
    t.equal(
      states.get(n('c32')),
      'blocking',
      'b3 blocks its port towards b2 (b2 has the lower ID)',
    );
    for (const [br] of bridges) {
      const st = (await vsctl('get', 'Bridge', br, 'status:stp_designated_root')).stdout.trim();
      t.equal(st, '"8000.000000007801"', `${br} agrees on the root`);
    }
    const show = (await appctl('stp/show', n('b1'))).stdout;
    t.match(show, /This bridge is the root/);
    const show3 = (await appctl('stp/show', n('b3'))).stdout;
    t.match(show3, new RegExp(`${n('c32')}\\s+alternate\\s+blocking`));
    t.match(show3, new RegExp(`root-port\\s+${n('c31')}`));
    const nope = await appctl('stp/show', 'nope');
    t.equal(nope.code, 2, 'unknown bridge: error exit');
    t.match(nope.stderr, /^no such stp object\n/);
    const tcn = await appctl('stp/tcn', n('b2'));
    t.equal(tcn.stdout, 'OK\n', 'stp/tcn');

    // Hosts ping; inter-bridge links stay quiet (bounded counts, no storm).
    const rx = (x: string): number =>
      Number(readFileSync(`/sys/class/net/${x}/statistics/rx_packets`, 'utf8'));
    const before = stpPorts.map(rx);
    const ping = await runTool(
      'ip',
      ['netns', 'exec', hosts[0]!.ns, 'ping', '-c', '10', '-i', '0.2', '-W', '2', hosts[1]!.ip],
      { timeoutMs: 30_000 },
    );
    t.equal(ping.code, 0, `ping h1 -> h2 in steady state:\n${ping.stdout}${ping.stderr}`);
    const bcast = await runTool(
      'ip',
      [
        'netns',
        'exec',
        hosts[0]!.ns,
        'ping',
        '-b',
        '-c',
        '3',
        '-i',
        '0.3',
        '-W',
        '1',
        '10.78.0.255',
      ],
      { timeoutMs: 30_000 },
    );
    t.ok(bcast.code !== null, 'broadcast pings sent');
    await sleep(1000);
    const deltas = stpPorts.map((p, i) => rx(p) - before[i]!);
    t.ok(
      deltas.every((x) => x < 200),
      `inter-bridge rx packets stay bounded: ${stpPorts.map((p, i) => `${p}=${deltas[i]}`).join(' ')}`,
    );

    // Cut b1–b2 (the hosts' direct path). b2 loses its root port at once (carrier); b3's
    // alternate port waits for max_age, then both ends go listening → learning → forwarding.
    const tCut = Date.now();
    await must('ip', 'link', 'set', n('a12'), 'down');
    const healed = async (): Promise<boolean> => {
      const s = await portStates();
      return s.get(n('c32')) === 'forwarding' && s.get(n('b23')) === 'forwarding';
    };
    const re = await waitFor(healed, 60_000);
    t.ok(re >= 0, `re-converged: ${JSON.stringify([...(await portStates())])}`);
    const reMs = Date.now() - tCut;
    t.comment(
      `re-converged ${reMs} ms after the cut (max_age + 2 × forward_delay = ${MAX_AGE + 2 * FWD_DELAY} s)`,
    );
    t.ok(
      reMs <= (MAX_AGE + 2 * FWD_DELAY + 3) * 1000,
      `within the bound (+ polling slack): ${reMs} ms`,
    );
    let resumed = -1;
    for (let i = 0; i < 20 && resumed < 0; i++) {
      const p = await runTool(
        'ip',
        ['netns', 'exec', hosts[0]!.ns, 'ping', '-c', '1', '-W', '1', hosts[1]!.ip],
        { timeoutMs: 10_000 },
      );
      if (p.code === 0) resumed = Date.now() - tCut;
    }
    t.ok(resumed >= 0, 'pings resume over b1–b3–b2');
    t.comment(`pings resumed ${resumed} ms after the cut`);
    const after = await runTool(
      'ip',
      ['netns', 'exec', hosts[0]!.ns, 'ping', '-c', '5', '-i', '0.2', '-W', '2', hosts[1]!.ip],
      { timeoutMs: 30_000 },
    );
    t.equal(after.code, 0, `ping after re-convergence:\n${after.stdout}`);
    t.match(after.stdout, / 0% packet loss/);
    const root2 = (
      await vsctl('get', 'Bridge', n('b2'), 'status:stp_root_path_cost')
    ).stdout.trim();
    t.equal(root2, '"4"', 'b2 now reaches the root through b3 (cost 2 + 2)');
  },
);

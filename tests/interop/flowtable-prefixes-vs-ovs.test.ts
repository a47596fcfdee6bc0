/**
 * Flow_Table `prefixes` through the whole daemon, against Open vSwitch 3.1: the same bridge,
 * Flow_Table row and rules are configured with Debian's ovs-vsctl/ovs-ofctl on our daemon and on a
 * private OVS 3.1 (tests/helpers/ref-ovs.ts), then `prefixes` is changed with
 * `ovs-vsctl set Flow_Table t0 prefixes=...` and the `Megaflow:` line of `ofproto/trace` must be
 * the same on both at every step (datapath actions are not compared: port numbers differ).
 *
 * With the default prefixes (nw_dst, nw_src) a packet to 192.168.1.1 against
 * `nw_dst=10.0.0.0/8` gets `nw_dst=128.0.0.0/1`; with `prefixes=none` (or only nw_src) no nw_dst
 * trie applies and the whole /8 is un-wildcarded (`nw_dst=192.0.0.0/8`); an unknown name is
 * ignored with a warning (default again), as OVS does.
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

const FLOWS = [
  'table=0,priority=100,ip,nw_dst=10.0.0.0/8,actions=output:2',
  'table=0,priority=90,ip,nw_src=172.16.0.0/12,actions=output:2',
];

const PACKETS = [
  'in_port=1,ip,nw_src=1.2.3.4,nw_dst=192.168.1.1',
  'in_port=1,ip,nw_src=172.16.0.9,nw_dst=11.0.0.1',
  'in_port=1,ip,nw_src=1.2.3.4,nw_dst=10.9.9.9',
];

/** The `Megaflow:` line of a trace. */
const megaflow = (text: string): string => /^Megaflow: (.*)$/m.exec(text)?.[1] ?? '(none)';

t.test('ovs-vsctl set Flow_Table prefixes changes megaflows as in OVS 3.1', async (t) => {
  if (!requirePeer(t, 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl', 'ovs-vswitchd', 'ovsdb-server', 'ip'))
    return;
  const dir = makeTempDir('tsvs-flowtable-');
  const paths = resolvePaths({ rundir: join(dir, 'run'), logFile: null });
  const d = await Daemon.start({ paths, components: standardComponents() });
  t.teardown(() => d.stop());
  const ref = await startRefOvs({ bridge: 'br0', enableDummy: true });
  t.teardown(() => ref.stop());
  const env = { OVS_RUNDIR: paths.rundir };
  const vsctl = (...a: string[]) =>
    runTool('ovs-vsctl', [`--db=unix:${paths.dbSocket}`, '--timeout=20', ...a], { env });
  const appctl = (...a: string[]) => runTool('ovs-appctl', ['-t', paths.ctl, ...a]);

  const tag = `ft${process.pid % 10000}`;
  const ports = [`${tag}a`, `${tag}b`];
  const portArgs = ports.flatMap((p, i) => [
    '--',
    'add-port',
    'br0',
    p,
    '--',
    'set',
    'Interface',
    p,
    'type=dummy',
    `ofport_request=${i + 1}`,
  ]);
  let r = await vsctl(
    'add-br',
    'br0',
    '--',
    'set',
    'Bridge',
    'br0',
    'fail_mode=secure',
    'protocols=OpenFlow13',
    ...portArgs,
  );
  t.equal(r.code, 0, `our add-br: ${r.stderr}`);
  r = await ref.vsctl(...portArgs.slice(1));
  t.equal(r.code, 0, `OVS add-port: ${r.stderr}`);
  // A Flow_Table row for table 0, no prefixes yet (= OVS's default).
  const ft = ['--', '--id=@ft', 'create', 'Flow_Table', 'name=t0', '--', 'set', 'Bridge', 'br0'];
  for (const [who, run] of [
    ['ours', vsctl],
    ['OVS', (...a: string[]) => ref.vsctl(...a)],
  ] as const) {
    r = await run(...ft, 'flow_tables:0=@ft');
    t.equal(r.code, 0, `${who} Flow_Table: ${r.stderr}`);
  }
  for (const flow of FLOWS)
    for (const target of [ref.ofTarget, 'br0']) {
      r = await runTool('ovs-ofctl', ['-O', 'OpenFlow13', 'add-flow', target, flow], {
        env,
        timeoutMs: 30_000,
      });
      t.equal(r.code, 0, `add-flow ${flow} on ${target}: ${r.stderr}`);
    }

  /** Sets prefixes on both and returns our megaflows, after checking them against OVS's. */
  const step = async (prefixes: string | undefined): Promise<string[]> => {
    const set =
      prefixes === undefined
        ? ['clear', 'Flow_Table', 't0', 'prefixes']
        : ['set', 'Flow_Table', 't0', `prefixes=${prefixes}`];
    r = await vsctl(...set);
    t.equal(r.code, 0, `ours ${set.join(' ')}: ${r.stderr}`);
    r = await ref.vsctl(...set);
    t.equal(r.code, 0, `OVS ${set.join(' ')}: ${r.stderr}`);
    const out: string[] = [];
    for (const pkt of PACKETS) {
      const want = await ref.appctl('ofproto/trace', 'br0', pkt);
      t.equal(want.code, 0, `OVS trace ${pkt}: ${want.stderr}`);
      const got = await appctl('ofproto/trace', 'br0', pkt);
      t.equal(got.code, 0, `our trace ${pkt}: ${got.stderr}`);
      t.equal(
        megaflow(got.stdout),
        megaflow(want.stdout),
        `prefixes=${prefixes ?? '(default)'}: ${pkt}`,
      );
      out.push(megaflow(got.stdout));
    }
    return out;
  };

  const dflt = await step(undefined);
  t.match(dflt[0], /nw_dst=128\.0\.0\.0\/1/, 'default prefixes: the nw_dst trie narrows the mask');
  const none = await step('none');
  t.match(none[0], /nw_dst=192\.0\.0\.0\/8/, 'prefixes=none: the whole /8 is un-wildcarded');
  t.not(none[0], dflt[0], 'prefixes=none changes the megaflow');
  const src = await step('nw_src');
  t.match(src[0], /nw_dst=192\.0\.0\.0\/8/, 'prefixes=nw_src: no nw_dst trie');
  t.match(src[0], /nw_src=0\.0\.0\.0\/1/, 'prefixes=nw_src: the nw_src trie narrows nw_src');
  const bad = await step('"no_such_field"');
  t.same(bad, dflt, 'an unknown field name is ignored: default prefixes');
  const again = await step('ip_dst,ip_src');
  t.same(again, dflt, 'ip_dst,ip_src (OVS names) = the default');
});

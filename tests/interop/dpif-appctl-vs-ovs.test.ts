/**
 * `ovs-appctl dpif/show`, `dpif/dump-dps`, `dpctl/dump-dps` and `dpif/dump-flows [-m]
 * [--names|--no-names] BRIDGE` against Open vSwitch 3.1 (--enable-dummy): two bridges joined by
 * patch ports, dummy ports, one NORMAL flow and one frame injected with netdev-dummy/receive.
 * Datapath port numbers are allocated differently by the two switches, so they are replaced by
 * `N` before comparing (as are ufids and `used:`); everything else must be equal.
 */
import t from 'tap';
import { standardComponents } from '../../vswitchd/components.js';
import { startDaemonInProcess } from '../helpers/daemon.js';
import { requirePeer } from '../helpers/peers.js';
import { startRefOvs } from '../helpers/ref-ovs.js';
import { runTool, type ToolResult } from '../helpers/tools.js';

/** A UDP frame 00:..:01 → 00:..:02, 10.0.0.1 → 10.0.0.2 (hex, as both switches take it). */
const FRAME =
  '00000000000200000000000108004500002e00004000401126bd0a0000010a00000203e807d0001a0000000000000000000000000000000000000000';

/** Replaces datapath port numbers, ufids and ages (they legitimately differ). */
function norm(s: string): string {
  return s
    .replace(/ (\d+)\/\d+: /g, ' $1/N: ')
    .replace(/in_port\(\d+\)/g, 'in_port(N)')
    .replace(/actions:([\w,-]+)$/gm, (_a, list: string) =>
      /^[\d,]+$/.test(list)
        ? `actions:${list.split(',').length} ports`
        : `actions:${list.split(',').sort().join(',')}`,
    )
    .replace(/ufid:[0-9a-f-]+/g, 'ufid:U')
    .replace(/used:[0-9.]+s/g, 'used:T')
    .replace(/hit:\d+ missed:\d+/, 'hit:H missed:M');
}

t.test('dpif/* appctl commands print what OVS 3.1 prints', async (t) => {
  if (!requirePeer(t, 'ip', 'ovs-vsctl', 'ovs-vswitchd', 'ovsdb-server', 'ovs-appctl', 'ovs-ofctl'))
    return;
  const ref = await startRefOvs({ bridge: 'dpa0', enableDummy: true });
  t.teardown(() => ref.stop());
  const { paths } = await startDaemonInProcess({ t, components: standardComponents() });
  const ours = {
    vsctl: (...a: string[]) => runTool('ovs-vsctl', [`--db=unix:${paths.dbSocket}`, ...a]),
    appctl: (...a: string[]) => runTool('ovs-appctl', ['-t', paths.ctl, ...a]),
    of: (br: string) => `unix:${paths.rundir}/${br}.mgmt`,
  };
  const theirs = {
    vsctl: (...a: string[]) => ref.vsctl(...a),
    appctl: (...a: string[]) => ref.appctl(...a),
    of: (br: string) => `unix:${ref.dir}/${br}.mgmt`,
  };
  const ok = (r: ToolResult, what: string): string => {
    t.equal(r.code, 0, `${what}: ${r.stderr}`);
    return r.stdout;
  };
  for (const [side, s] of [
    ['tsvs', ours],
    ['OVS', theirs],
  ] as const) {
    const setup = [
      ...(side === 'tsvs' ? ['add-br', 'dpa0', '--'] : []),
      'set', 'Bridge', 'dpa0', 'fail_mode=secure', '--',
      'add-port', 'dpa0', 'dpa1', '--', 'set', 'Interface', 'dpa1', 'type=dummy', 'ofport_request=1', '--',
      'add-port', 'dpa0', 'dpa2', '--', 'set', 'Interface', 'dpa2', 'type=dummy', 'ofport_request=2', '--',
      'add-port', 'dpa0', 'dpapa', '--', 'set', 'Interface', 'dpapa', 'type=patch', 'options:peer=dpapb', 'ofport_request=3', '--',
      'add-br', 'dpb0', '--', 'set', 'Bridge', 'dpb0', 'datapath_type=netdev', 'fail_mode=secure', '--',
      'add-port', 'dpb0', 'dpapb', '--', 'set', 'Interface', 'dpapb', 'type=patch', 'options:peer=dpapa', 'ofport_request=1', '--',
      'add-port', 'dpb0', 'dpb1', '--', 'set', 'Interface', 'dpb1', 'type=dummy', 'ofport_request=2',
    ]; // prettier-ignore
    ok(await s.vsctl('--timeout=20', ...setup), `${side} setup`);
    for (const br of ['dpa0', 'dpb0']) {
      ok(
        await runTool('ovs-ofctl', ['-O', 'OpenFlow13', 'add-flow', s.of(br), 'actions=NORMAL']),
        `${side} add-flow ${br}`,
      );
    }
    ok(await s.appctl('netdev-dummy/receive', 'dpa1', FRAME), `${side} receive`);
  }

  // The LOCAL ports: OVS's are dummy-internal under --enable-dummy, ours in-memory internal.
  const localType = (s: string): string =>
    s.replace(/\((dummy-internal|dummy|tap|internal)\)/g, '(T)');
  const showOurs = ok(await ours.appctl('dpif/show'), 'our dpif/show');
  const showTheirs = ok(await theirs.appctl('dpif/show'), 'OVS dpif/show');
  t.equal(norm(localType(showOurs)), norm(localType(showTheirs)), 'dpif/show');
  t.match(showOurs, /^ {4}dpapa 3\/none: \(patch: peer=dpapb\)$/m, 'patch port line');
  t.match(showOurs, /^ {4}dpa1 1\/\d+: \(dummy\)$/m, 'dummy port line');

  // OVS lists dpif/dump-dps in its hash order: compare sorted.
  const lines = (s: string): string[] => s.split('\n').filter(Boolean).sort();
  for (const cmd of ['dpif/dump-dps', 'dpctl/dump-dps']) {
    t.same(lines(ok(await ours.appctl(cmd), cmd)), lines(ok(await theirs.appctl(cmd), cmd)), cmd);
  }

  for (const args of [
    ['dpa0'],
    ['dpb0'],
    ['-m', 'dpa0'],
    ['--names', 'dpa0'],
    ['--no-names', '-m', 'dpa0'],
  ]) {
    const a = ok(await ours.appctl('dpif/dump-flows', ...args), `our dump-flows ${args.join(' ')}`);
    const b = ok(
      await theirs.appctl('dpif/dump-flows', ...args),
      `OVS dump-flows ${args.join(' ')}`,
    );
    if (args.includes('-m')) {
      // OVS -m lists every key field with its mask (skb_priority(0/0),...): compare the parts
      // both print — the ufid prefix form, the input port, stats and actions.
      const shape = (s: string): string[] =>
        s
          .trim()
          .split('\n')
          .filter((l) => l !== '')
          .map((l) =>
            [
              /^ufid:[0-9a-f-]+ /.test(l) ? 'ufid-space' : 'no-ufid',
              /in_port\(([^)]+)\)/.exec(l)?.[1]?.replace(/^\d+$/, 'N') ?? '',
              /packets:\d+, bytes:\d+/.exec(l)?.[0] ?? '',
              (/actions:(.*)$/.exec(l)?.[1] ?? '').split(',').map((p) => p.replace(/^\d+$/, 'N')).sort().join(','),
            ].join(' | '),
          ); // prettier-ignore
      t.same(shape(a), shape(b), `dpif/dump-flows ${args.join(' ')}`);
    } else {
      t.equal(norm(a), norm(b), `dpif/dump-flows ${args.join(' ')}`);
    }
  }
  t.equal(ok(await ours.appctl('dpif/dump-flows', 'dpb0'), 'dpb0'), '', 'no flow starts on dpb0');
  const bad = await ours.appctl('dpif/dump-flows', 'nosuchbr');
  t.not(bad.code, 0, 'unknown bridge is an error');
});

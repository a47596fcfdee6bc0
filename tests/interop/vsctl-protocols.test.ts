/**
 * Bridge.protocols beside OVS 3.1: with protocols=OpenFlow13 both switches refuse
 * `ovs-ofctl -O OpenFlow10` with the same version-negotiation message and exit status, and
 * both serve OpenFlow 1.3. With a set that excludes OpenFlow13, both refuse OpenFlow 1.3 with the
 * same negotiation message (tsvs's HELLO then advertises the listed versions); tsvs (OpenFlow 1.3
 * only) also logs and counts the versions it cannot serve (coverage/show
 * bridge_of_versions_refused).
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
import { bridgeVersions } from '../../vswitchd/of-versions.js';

/** The vconn warning line ovs-ofctl prints, without its timestamp and socket path. */
function negotiation(stderr: string): string {
  const m = /version negotiation failed \([^)]*\)/.exec(stderr);
  return m ? m[0] : `(none) ${stderr}`;
}

t.test('Bridge.protocols: version negotiation as OVS 3.1', async (t) => {
  if (!requirePeer(t, 'ovs-vsctl', 'ovs-ofctl', 'ovs-vswitchd', 'ovsdb-server', 'ip')) return;
  const ref = await startRefOvs({ bridge: 'br0' });
  t.teardown(() => ref.stop());
  const dir = makeTempDir();
  const paths = resolvePaths({ rundir: join(dir, 'run'), logFile: null });
  const d = await Daemon.start({ paths, components: standardComponents() });
  t.teardown(() => d.stop());
  const tsvsctl = (...a: string[]) =>
    runTool('ovs-vsctl', [`--db=unix:${paths.dbSocket}`, '--timeout=20', ...a]);
  const r0 = await tsvsctl('add-br', 'br0', '--', 'set', 'Bridge', 'br0', 'protocols=OpenFlow13');
  t.equal(r0.code, 0, r0.stderr);
  const targets = {
    ovs: ref.ofTarget,
    tsvs: `unix:${join(paths.rundir, 'br0.mgmt')}`,
  };
  const ofctl = (who: 'ovs' | 'tsvs', version: string) =>
    runTool('ovs-ofctl', ['-O', version, 'show', targets[who]], { timeoutMs: 20_000 });

  // protocols=OpenFlow13 on both (the reference helper sets it).
  for (const who of ['ovs', 'tsvs'] as const) {
    const ok = await ofctl(who, 'OpenFlow13');
    t.equal(ok.code, 0, `${who}: OpenFlow13 served`);
    t.match(ok.stdout, /OFPT_FEATURES_REPLY \(OF1\.3\)/);
  }
  const wantOld = await ofctl('ovs', 'OpenFlow10');
  const gotOld = await ofctl('tsvs', 'OpenFlow10');
  t.equal(wantOld.code, 1, 'OVS refuses OpenFlow10');
  t.equal(gotOld.code, wantOld.code, 'tsvs refuses OpenFlow10 with the same exit status');
  t.equal(
    negotiation(gotOld.stderr),
    negotiation(wantOld.stderr),
    'same version negotiation message',
  );
  t.equal(
    negotiation(gotOld.stderr),
    'version negotiation failed (we support version 0x01, peer supports version 0x04)',
  );

  // A set without OpenFlow13: OVS refuses 1.3; tsvs logs and counts what it cannot serve.
  const set = ['set', 'Bridge', 'br0', 'protocols=OpenFlow10,OpenFlow12'];
  t.equal((await ref.vsctl(...set)).code, 0);
  t.equal((await tsvsctl(...set)).code, 0);
  const refused = await ofctl('ovs', 'OpenFlow13');
  t.equal(refused.code, 1);
  t.equal(
    negotiation(refused.stderr),
    'version negotiation failed (we support version 0x04, peer supports versions 0x01, 0x03)',
  );
  const ours = await ofctl('tsvs', 'OpenFlow13');
  t.equal(ours.code, refused.code, 'tsvs refuses OpenFlow13 too, with the same exit status');
  t.equal(negotiation(ours.stderr), negotiation(refused.stderr), 'same negotiation message');
  // Back to a set with 1.3: new connections are served again.
  t.equal((await tsvsctl('set', 'Bridge', 'br0', 'protocols=OpenFlow13')).code, 0);
  t.equal((await ofctl('tsvs', 'OpenFlow13')).code, 0, 'served again');
  const cov = await runTool('ovs-appctl', ['-t', paths.ctl, 'coverage/show']);
  t.match(cov.stdout, /bridge_of_versions_refused .*total: [1-9]/, 'refusal counted');
});

t.test('bridgeVersions: what a protocols set lets tsvs serve', (t) => {
  t.same(bridgeVersions([]), { allowed: [1, 2, 3, 4, 5, 6], served: [4], refused: [] });
  t.same(bridgeVersions(['OpenFlow13']), { allowed: [4], served: [4], refused: [] });
  t.same(bridgeVersions(['OpenFlow14', 'OpenFlow13']), {
    allowed: [4, 5],
    served: [4],
    refused: ['OpenFlow14'],
  });
  t.same(bridgeVersions(['OpenFlow10']), { allowed: [1], served: [], refused: ['OpenFlow10'] });
  t.end();
});

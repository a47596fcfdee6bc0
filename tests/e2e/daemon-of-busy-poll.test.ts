/**
 * OpenFlow busy polling after barrier replies (OfconnOptions.busyPollUs), through the whole
 * daemon with Debian's ovs-ofctl: `add-flows` without --bundle waits for a barrier reply after
 * every flow-mod, so with busy polling on the connection catches most next flow-mods without
 * sleeping (coverage ofconn_busy_poll_hit grows), every flow still lands, and
 * other_config:openflow-busy-poll-us=0 turns it off (the counters stop moving). Counts only:
 * no test asserts a time.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { standardComponents } from '../../vswitchd/components.js';
import { startDaemonInProcess } from '../helpers/daemon.js';
import { requirePeer } from '../helpers/peers.js';
import { runTool } from '../helpers/tools.js';

const BR = 'bpbr0';
const N = 2000;

/** `total: N` of a coverage/show line, 0 when the counter is absent. */
function coverageTotal(text: string, name: string): number {
  const m = new RegExp(`^${name}\\s.*total: (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

t.test('ovs-ofctl add-flows is answered through busy polls, and =0 turns them off', async (t) => {
  if (!requirePeer(t, 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl')) return;
  const d = await startDaemonInProcess({ t, components: standardComponents() });
  const env = { OVS_RUNDIR: d.paths.rundir };
  const vsctl = (...a: string[]) =>
    runTool('ovs-vsctl', [`--db=unix:${d.paths.dbSocket}`, '--timeout=10', ...a], { env });
  const ofctl = (...a: string[]) => runTool('ovs-ofctl', ['-O', 'OpenFlow13', ...a], { env });
  const coverage = async () =>
    (await runTool('ovs-appctl', ['-t', d.paths.ctl, 'coverage/show'])).stdout;
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-busypoll-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'flows.txt');
  const lines: string[] = [];
  for (let i = 0; i < N; i++)
    lines.push(`priority=100,ip,nw_dst=10.9.${i >> 8}.${i & 255},actions=output:2`);
  writeFileSync(file, lines.join('\n') + '\n');

  t.equal((await vsctl('add-br', BR)).code, 0, 'add-br');
  // The longest budget allowed (1 ms): the default 50 µs is tuned for a quiet machine, and a
  // loaded CI machine may not run ovs-ofctl again that soon.
  t.equal(
    (await vsctl('set', 'Open_vSwitch', '.', 'other_config:openflow-busy-poll-us=1000')).code,
    0,
  );
  const before = await coverage();
  const add = await ofctl('add-flows', BR, file);
  t.equal(add.code, 0, `add-flows ${N}: ${add.stderr}`);
  const after = await coverage();
  const hits =
    coverageTotal(after, 'ofconn_busy_poll_hit') - coverageTotal(before, 'ofconn_busy_poll_hit');
  const misses =
    coverageTotal(after, 'ofconn_busy_poll_miss') - coverageTotal(before, 'ofconn_busy_poll_miss');
  t.comment(`busy polls: ${hits} hits, ${misses} misses over ${N} flow-mods`);
  // Each flow-mod is followed by a barrier; a hit is a next flow-mod caught without sleeping.
  t.ok(hits > N / 2, `most of the ${N} round trips caught by a busy poll (${hits})`);
  t.ok(hits + misses <= N + 10, 'at most one busy poll per barrier answered');
  const agg = await ofctl('dump-aggregate', BR);
  t.match(agg.stdout, new RegExp(`flow_count=${N}\\b`), 'every flow is in the table');

  t.equal(
    (await vsctl('set', 'Open_vSwitch', '.', 'other_config:openflow-busy-poll-us=0')).code,
    0,
  );
  t.equal((await ofctl('del-flows', BR)).code, 0, 'del-flows');
  const before0 = await coverage();
  t.equal((await ofctl('add-flows', BR, file)).code, 0, 'add-flows with busy polling off');
  const after0 = await coverage();
  for (const c of ['ofconn_busy_poll_hit', 'ofconn_busy_poll_miss'])
    t.equal(coverageTotal(after0, c) - coverageTotal(before0, c), 0, `${c} unchanged when off`);
  t.match((await ofctl('dump-aggregate', BR)).stdout, new RegExp(`flow_count=${N}\\b`));
});

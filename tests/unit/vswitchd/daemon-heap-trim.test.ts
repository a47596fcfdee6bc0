/**
 * The daemon's heap trimmer (DaemonOptions.heapTrim): one full collection once a burst of
 * flow-mods is over (no OpenFlow message during one 250 ms tick), none while messages still
 * arrive, none when not asked for. Driven by a FakeClock and the coverage counters.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import { counter } from '../../../lib/counters.js';
import { Daemon } from '../../../vswitchd/daemon.js';

const flowMods = counter('ofproto_flow_mod', 'ofproto', 'flow-mods applied');
const rx = counter('ofconn_rx_msg', 'ofproto', 'OpenFlow messages received');
const trims = counter(
  'daemon_heap_trim',
  'daemon',
  'full garbage collections after a burst of OpenFlow changes',
);

async function daemon(t: Test, heapTrim: boolean): Promise<{ d: Daemon; clock: FakeClock }> {
  const dir = mkdtempSync(join(tmpdir(), 'h4-trim-'));
  const clock = new FakeClock();
  const d = await Daemon.start({ paths: { rundir: dir }, clock, heapTrim });
  t.teardown(async () => {
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { d, clock };
}

t.test('a burst of flow-mods, then quiet: one trim', async (t) => {
  const { clock } = await daemon(t, true);
  const before = trims.total;
  clock.advance(250);
  t.equal(trims.total, before, 'nothing to trim yet');
  // 12 000 flow-mods arriving over three ticks: no trim while messages keep coming.
  for (let i = 0; i < 3; i++) {
    rx.inc(4000);
    flowMods.inc(4000);
    clock.advance(250);
  }
  t.equal(trims.total, before, 'no trim during the burst');
  clock.advance(250);
  t.equal(trims.total, before + 1, 'one trim in the first quiet tick');
  clock.advance(2000);
  t.equal(trims.total, before + 1, 'and no more while nothing changes');
  flowMods.inc(500);
  rx.inc(500);
  clock.advance(500);
  t.equal(trims.total, before + 1, 'a few flow-mods do not make one due');
});

t.test('not asked for: never', async (t) => {
  const { clock } = await daemon(t, false);
  const before = trims.total;
  flowMods.inc(50_000);
  clock.advance(5000);
  t.equal(trims.total, before);
});

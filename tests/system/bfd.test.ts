/**
 * BFD between two tsvs bridges over a real veth pair (system interfaces, AF_PACKET), one daemon:
 * `ovs-vsctl set Interface X bfd:enable=true` on both ends brings the session Up (bfd_status
 * state=up on both), and a cut link (`ip link set DEV down` on one end) is detected on both ends
 * within the detection time. Needs root (veths); names carry the `tbfd` prefix and are removed
 * afterwards.
 */
import t from 'tap';
import { loadNative } from '../../datapath/native.js';
import type { Database } from '../../ovsdb/database.js';
import type { OvsdbComponent } from '../../vswitchd/components.js';
import { standardComponents } from '../../vswitchd/components.js';
import { startDaemonInProcess } from '../helpers/daemon.js';
import { sleep } from '../helpers/net.js';
import { requirePeer } from '../helpers/peers.js';
import { runTool } from '../helpers/tools.js';

/** min_rx = min_tx: short, yet tolerant of event-loop stalls on a loaded 2-core machine. */
const MIN_RX = 300;
const MULT = 3;

/** bfd_status of interface `name`, read from the daemon's database. */
function bfdStatus(db: Database, name: string): Record<string, string> {
  const row = [...db.rows('Interface').values()].find((r) => r.data.name?.keys[0] === name);
  const out: Record<string, string> = {};
  const d = row?.data.bfd_status;
  d?.keys.forEach((k, i) => (out[String(k)] = String(d.values![i])));
  return out;
}

/** Polls `cond` every 10 ms; resolves with the elapsed ms, or -1 after `limitMs`. */
async function waitFor(cond: () => boolean, limitMs: number): Promise<number> {
  const start = performance.now();
  while (!cond()) {
    if (performance.now() - start > limitMs) return -1;
    await sleep(10);
  }
  return performance.now() - start;
}

t.test('two tsvs bridges over a veth: BFD up, cut detected', async (t) => {
  if (!requirePeer(t, 'ip', 'ovs-vsctl')) return;
  try {
    loadNative();
  } catch (e) {
    if (process.env.CI === 'true') t.fail(`AF_PACKET addon not built: ${(e as Error).message}`);
    else t.plan(0, `skip: AF_PACKET addon not built (npm run build:native)`);
    return;
  }
  const tag = `tbfd${process.pid % 100000}`;
  const va = `${tag}a`;
  const vb = `${tag}b`;
  const sh = (...a: string[]) => runTool(a[0]!, a.slice(1));
  const cleanup = async (): Promise<void> => {
    await sh('ip', 'link', 'del', va);
  };
  await cleanup();
  t.teardown(cleanup);
  for (const cmd of [
    ['ip', 'link', 'add', va, 'type', 'veth', 'peer', 'name', vb],
    ['ip', 'link', 'set', va, 'up'],
    ['ip', 'link', 'set', vb, 'up'],
  ]) {
    const r = await sh(...cmd);
    t.equal(r.code, 0, `${cmd.join(' ')}: ${r.stderr}`);
  }

  const components = standardComponents();
  const ovsdb = components[0] as OvsdbComponent;
  const { paths } = await startDaemonInProcess({ t, components });
  const db = ovsdb.running!.db;
  const vsctl = (...a: string[]) =>
    runTool('ovs-vsctl', [`--db=unix:${paths.dbSocket}`, '--timeout=20', ...a]);
  const r = await vsctl(
    'add-br',
    `${tag}x`,
    '--',
    'add-port',
    `${tag}x`,
    va,
    '--',
    'add-br',
    `${tag}y`,
    '--',
    'add-port',
    `${tag}y`,
    vb,
  );
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, '', 'no interface errors');
  const cfg = [`bfd:enable=true`, `bfd:min_rx=${MIN_RX}`, `bfd:min_tx=${MIN_RX}`];
  const s = await vsctl('set', 'Interface', va, ...cfg, '--', 'set', 'Interface', vb, ...cfg);
  t.equal(s.code, 0, s.stderr);

  const bothUp = (): boolean =>
    [va, vb].every((n) => {
      const st = bfdStatus(db, n);
      return st.state === 'up' && st.remote_state === 'up' && st.forwarding === 'true';
    });
  const upMs = await waitFor(bothUp, 20_000);
  t.ok(upMs >= 0, `session up on both ends after ${Math.round(upMs)} ms`);
  for (const n of [va, vb]) {
    const g = await vsctl('get', 'Interface', n, 'bfd_status');
    t.match(g.stdout, /state=up/, `ovs-vsctl get Interface ${n} bfd_status: ${g.stdout.trim()}`);
    t.match(g.stdout, /forwarding="?true/);
  }

  // Cut: the link goes down on one end; both ends must notice within the detection time.
  const detection = MULT * MIN_RX;
  const cut = await sh('ip', 'link', 'set', va, 'down');
  t.equal(cut.code, 0, cut.stderr);
  const cutAt = performance.now();
  const times = new Map<string, number>();
  while (times.size < 2 && performance.now() - cutAt < 10_000) {
    for (const n of [va, vb]) {
      if (!times.has(n) && bfdStatus(db, n).forwarding === 'false')
        times.set(n, performance.now() - cutAt);
    }
    await sleep(5);
  }
  for (const n of [va, vb]) {
    const ms = times.get(n);
    t.ok(ms !== undefined, `${n} reports forwarding=false after the cut`);
    // Generous bound for a loaded 2-core machine: detection time plus write-back slack.
    t.ok(ms !== undefined && ms <= detection + 2000, `${n}: within ${detection} ms + slack`);
  }
  t.comment(
    `measured: up ${Math.round(upMs)} ms; cut detected ${[va, vb]
      .map((n) => `${n} ${Math.round(times.get(n) ?? -1)} ms`)
      .join(', ')} (detection time ${detection} ms)`,
  );
  const st = bfdStatus(db, vb);
  t.equal(st.state, 'down', 'far end state=down');
  t.match(st.diagnostic, /Control Detection Time Expired|Neighbor Signaled Session Down/);

  // The link comes back: the session comes back Up.
  await sh('ip', 'link', 'set', va, 'up');
  const again = await waitFor(bothUp, 20_000);
  t.ok(again >= 0, `up again ${Math.round(again)} ms after the link returned`);
  t.ok(Number(bfdStatus(db, va).flap_count) >= 3, 'flap_count counts up, down, up');
});

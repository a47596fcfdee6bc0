/**
 * The datapath worker's busy-poll window (Open_vSwitch other_config:datapath-busy-poll-us): a
 * tsvs daemon in its own namespace, two hosts on veths (tests/system/datapath-lab.ts), rules
 * each way. With the window at 0 the worker never polls without sleeping, however much ping
 * traffic passes (coverage dpif_worker_busy_poll does not move); with a window set, frames make
 * it poll for a while afterwards (the counter grows) and forwarding is unchanged. Counts only:
 * no test here asserts a time.
 */
import t from 'tap';
import { sleep } from '../helpers/net.js';
import { pingUntil, startLab } from './datapath-lab.js';

process.env.TSVS_DATAPATH_WORKER = '1';

/** `total: N` of a coverage/show line (0 when absent). */
function total(text: string, name: string): number {
  const m = new RegExp(`^${name}\\s.*total: (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

t.test('the worker busy-polls after frames only when the window is on', async (t) => {
  const lab = await startLab(t, { id: 'bp', hosts: 2, net: 97 });
  if (lab === undefined) return;
  const br = `${lab.tag}br`;
  const add = await lab.addBridge(br, ['--', 'set-fail-mode', br, 'secure']);
  t.equal(add.code, 0, `add-br: ${add.stderr}`);
  for (const f of ['in_port=1,actions=output:2', 'in_port=2,actions=output:1'])
    t.equal((await lab.ofctl('add-flow', br, f)).code, 0, f);
  const h2 = lab.hosts[1]!;
  const polls = async (): Promise<number> => {
    // The worker reports its counters with its statistics, every 100 ms while they change.
    await sleep(400);
    return total((await lab.appctl('coverage/show')).stdout, 'dpif_worker_busy_poll');
  };

  const off = await lab.vsctl('set', 'Open_vSwitch', '.', 'other_config:datapath-busy-poll-us=0');
  t.equal(off.code, 0, 'window off');
  const warm = await pingUntil(lab, 1, h2.ip);
  t.equal(warm.code, 0, `ping with the window off:\n${warm.stdout}`);
  const c0 = await polls();
  const p0 = await pingUntil(lab, 1, h2.ip, [], 4, 5);
  t.equal(p0.code, 0, 'ping again');
  const c1 = await polls();
  t.equal(c1, c0, `no busy polls with the window off (${c0} → ${c1})`);

  const on = await lab.vsctl(
    'set',
    'Open_vSwitch',
    '.',
    'other_config:datapath-busy-poll-us=200000',
  );
  t.equal(on.code, 0, 'window 200 ms');
  const p1 = await pingUntil(lab, 1, h2.ip, [], 4, 5);
  t.equal(p1.code, 0, `ping with the window on:\n${p1.stdout}`);
  const c2 = await polls();
  t.ok(c2 > c1, `the worker polled without sleeping after the frames (${c1} → ${c2})`);
  const dump = (await lab.appctl('dpctl/dump-flows')).stdout;
  t.match(dump, /packets:[1-9]/, 'the megaflows carried the pings');
});

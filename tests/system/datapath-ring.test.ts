/**
 * The TPACKET_V2 receive ring on a link that was down when the netdev opened it — what happens
 * to every port OVS-style (add-port, then the datapath brings the device up). The socket
 * carries a pending ENETDOWN error; ringRecv never reads the socket, so unless the netdev
 * consumes the error every poll reports POLLERR: the poll callback fired in a busy loop
 * (~15 000 times in 300 ms on an idle port) until the first send on the port consumed the
 * error — dropping that frame — and, in the daemon, the first frames waited for later ones (a
 * first ping took 2 s). Checked on the netdev alone and through the daemon
 * (`options:rx_ring`).
 */
import t from 'tap';
import { AfPacketNetdev } from '../../datapath/netdev-afpacket.js';
import { newFrameBatch } from '../../datapath/netdev.js';
import { sleep } from '../helpers/net.js';
import { runTool } from '../helpers/tools.js';
import { iperf, startLab } from './datapath-lab.js';

t.test('a ring opened on a down link does not spin and delivers at once', async (t) => {
  // startLab checks the peers and the addon and makes the namespace; no daemon, no host used.
  const lab = await startLab(t, { id: 'r', hosts: 1, net: 86, daemon: false });
  if (lab === undefined) return;
  const ns = lab.swNs;
  const [a, b] = [`${lab.tag}ra`, `${lab.tag}rb`];
  for (const cmd of [
    ['ip', '-n', ns, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b],
    ['ip', '-n', ns, 'link', 'set', b, 'up'],
  ]) {
    const r = await runTool(cmd[0]!, cmd.slice(1));
    t.equal(r.code, 0, `${cmd.join(' ')}: ${r.stderr}`);
  }
  const rx = new AfPacketNetdev(a, { netns: ns, rxRing: 64 }); // bound while down
  const tx = new AfPacketNetdev(b, { netns: ns });
  t.teardown(() => {
    rx.close();
    tx.close();
  });
  rx.setUp(true);
  const batch = newFrameBatch(32);
  let fires = 0;
  let got = 0;
  rx.onReadable(() => {
    fires++;
    setImmediate(() => {
      let n: number;
      while ((n = rx.recvBatch(batch, 32)) > 0) got += n;
    });
  });
  await sleep(300);
  t.ok(fires <= 3, `idle: the poll callback fired ${fires} times in 300 ms (no busy loop)`);
  const frame = new Uint8Array(60).fill(0x55);
  frame.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 9, 0x88, 0xb5], 0);
  const out = newFrameBatch(1);
  out.bufs[0] = frame;
  out.offs[0] = 0;
  out.lens[0] = frame.length;
  out.count = 1;
  // The link may need a moment to carry frames after coming up: resend until one arrives.
  for (let i = 0; i < 50 && got === 0; i++) {
    tx.sendBatch(out);
    for (let j = 0; j < 10 && got === 0; j++) await sleep(10);
  }
  t.ok(got >= 1, `the frame arrived without a second one behind it (got ${got})`);
  const fires0 = fires;
  await sleep(300);
  t.ok(fires - fires0 <= 2, `idle again: ${fires - fires0} callbacks in 300 ms`);
  t.equal(rx.stats().rxErrors, 1, 'the pending ENETDOWN was consumed and counted once');
});

t.test('the daemon forwards promptly through rx rings', async (t) => {
  const lab = await startLab(t, { id: 'g', hosts: 2, net: 87, peers: ['iperf3'] });
  if (lab === undefined) return;
  const br = `${lab.tag}br`;
  const args = ['add-br', br];
  for (const h of lab.hosts) {
    args.push('--', 'add-port', br, h.sw, '--', 'set', 'Interface', h.sw, 'options:rx_ring=512');
  }
  const add = await lab.vsctl(...args);
  t.equal(add.code, 0, `add-br with rx_ring ports: ${add.stderr}`);
  // Before the fix the first frames waited for later ones (the first ping took 2 s) and the
  // first frame sent out of each port was dropped: the send consumed the pending error.
  const first = await lab.inHost(1, ['ping', '-c', '3', '-i', '0.2', '-W', '2', lab.hosts[1]!.ip]);
  t.equal(first.code, 0, `h1 -> h2:\n${first.stdout}${first.stderr}`);
  const rtts = [...first.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  t.ok(
    rtts.length === 3 && rtts.every((r) => r < 1500),
    `the first pings were not held back: ${rtts.join(', ')} ms`,
  );
  for (let i = 0; i < 3; i++) {
    const p = await lab.inHost(1, ['ping', '-c', '1', '-W', '1', lab.hosts[1]!.ip]);
    t.equal(p.code, 0, `lone ping ${i + 1} answered:\n${p.stdout}${p.stderr}`);
  }
  const show = (await lab.appctl('dpctl/show', '-s')).stdout;
  const txDropped = [...show.matchAll(/TX packets:\d+ errors:\d+ dropped:(\d+)/g)].map((m) =>
    Number(m[1]),
  );
  t.ok(
    txDropped.length >= 2 && txDropped.every((n) => n === 0),
    `no frame dropped on send:\n${show}`,
  );
  const ip = await iperf(lab, 1, 2);
  t.ok(ip.bytes > 1_000_000, `iperf3 through rings moved ${ip.bytes} bytes\n${ip.text}`);
  t.notMatch(lab.daemonStderr(), /uncaught|TypeError|RangeError/i, 'daemon stderr clean');
});

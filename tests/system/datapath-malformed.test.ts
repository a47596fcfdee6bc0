/**
 * Malformed frames injected on a port of a tsvs bridge (NORMAL): a raw-socket sender
 * (tests/system/fixtures/datapath-malformed.py) in h1's namespace sends truncated and bad IPv4,
 * TCP and IPv6 headers (an extension-header chain that runs off the packet among them) to h2's
 * MAC. Each kind moves the flow-extraction coverage counter that records it
 * (`ovs-appctl coverage/show`: flow_extract_truncated, flow_extract_bad_ip_header,
 * flow_extract_bad_tcp_header, flow_extract_bad_ipv6_header, flow_extract_bad_ipv6_exthdr); the
 * frames are parsed as far as they are valid and forwarded as OVS does (h2's tcpdump sees them
 * all), and the datapath keeps forwarding: pings pass afterwards, the daemon is still there.
 * Frames longer than the receive slots (the MTU raised behind the daemon's back) are dropped and
 * counted until the slots grow, then jumbo frames pass.
 */
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { DEBIAN_PYTHON } from '../helpers/peers.js';
import { sleep } from '../helpers/net.js';
import { capture, pingUntil, startLab, type DpLab } from './datapath-lab.js';

const SENDER = fileURLToPath(new URL('fixtures/datapath-malformed.py', import.meta.url));

/** Each kind of frame the sender makes and the coverage counter that must record it. */
const KINDS = [
  ['ipv4-truncated', 'flow_extract_truncated'],
  ['ipv4-bad-ihl', 'flow_extract_bad_ip_header'],
  ['ipv4-bad-totlen', 'flow_extract_truncated'],
  ['tcp-truncated', 'flow_extract_truncated'],
  ['tcp-bad-offset', 'flow_extract_bad_tcp_header'],
  ['ipv6-truncated', 'flow_extract_truncated'],
  ['ipv6-bad-plen', 'flow_extract_bad_ipv6_header'],
  ['ipv6-bad-exthdr', 'flow_extract_bad_ipv6_exthdr'],
] as const;

const PER_KIND = 5;

/** Totals of every coverage counter. */
async function coverage(lab: DpLab): Promise<Map<string, number>> {
  const out = (await lab.appctl('coverage/show')).stdout;
  const m = new Map<string, number>();
  for (const l of out.split('\n')) {
    const r = /^(\S+)\s.*total: (\d+)$/.exec(l);
    if (r) m.set(r[1]!, Number(r[2]));
  }
  return m;
}

t.test('malformed frames are counted and forwarding goes on', async (t) => {
  const lab = await startLab(t, { id: 'm', hosts: 2, net: 85, peers: ['tcpdump'] });
  if (lab === undefined) return;
  const [h1, h2] = lab.hosts as [(typeof lab.hosts)[0], (typeof lab.hosts)[0]];
  const br = `${lab.tag}br`;
  const add = await lab.addBridge(br);
  t.equal(add.code, 0, `add-br: ${add.stderr}`);
  const first = await pingUntil(lab, 1, h2.ip);
  t.equal(first.code, 0, `h1 -> h2 before:\n${first.stdout}${first.stderr}`);

  // A source MAC of its own, so h2's capture counts exactly the injected frames.
  const badMac = h1.mac.replace(/:0\d$/, ':99');
  const cap = await capture(lab, 2, h2.dev, `ether src ${badMac}`, KINDS.length * PER_KIND);
  for (const [kind, counter] of KINDS) {
    const before = (await coverage(lab)).get(counter) ?? 0;
    const s = await lab.inHost(1, [
      DEBIAN_PYTHON,
      SENDER,
      h1.dev,
      badMac,
      h2.mac,
      kind,
      String(PER_KIND),
    ]);
    t.equal(s.code, 0, `sent ${kind}: ${s.stdout}${s.stderr}`);
    let after = before;
    for (let i = 0; i < 50 && after < before + PER_KIND; i++) {
      await sleep(100);
      after = (await coverage(lab)).get(counter) ?? 0;
    }
    t.ok(after >= before + PER_KIND, `${kind}: ${counter} went from ${before} to ${after}`);
  }
  const seen = await cap.done(10_000);
  const lines = seen.split('\n').filter((l) => l.includes(badMac));
  t.equal(
    lines.length,
    KINDS.length * PER_KIND,
    `every malformed frame was forwarded to h2, as OVS forwards them:\n${seen}`,
  );

  // The datapath keeps forwarding.
  const after = await pingUntil(lab, 1, h2.ip);
  t.equal(after.code, 0, `h1 -> h2 after:\n${after.stdout}${after.stderr}`);
  const back = await pingUntil(lab, 2, h1.ip);
  t.equal(back.code, 0, `h2 -> h1 after:\n${back.stdout}${back.stderr}`);
  const show = (await lab.appctl('dpctl/show')).stdout;
  t.match(show, /lost:0/, `no upcall lost:\n${show}`);

  // Oversized frames: the MTU raised behind the daemon's back. The first jumbo frames do not
  // fit the receive slots: dropped and counted (afpacket_rx_truncated, port rx dropped), then
  // the slots grow to the new MTU and jumbo frames pass.
  const trunc0 = (await coverage(lab)).get('afpacket_rx_truncated') ?? 0;
  for (const h of lab.hosts) {
    for (const cmd of [
      ['ip', '-n', lab.swNs, 'link', 'set', h.sw, 'mtu', '9000'],
      ['ip', '-n', h.ns, 'link', 'set', h.dev, 'mtu', '9000'],
    ]) {
      const r = await lab.sh(cmd);
      t.equal(r.code, 0, `${cmd.join(' ')}: ${r.stderr}`);
    }
  }
  const jumbo = await pingUntil(lab, 1, h2.ip, ['-s', '8972', '-M', 'do']);
  t.equal(jumbo.code, 0, `jumbo frames pass once the slots grew:\n${jumbo.stdout}${jumbo.stderr}`);
  const trunc1 = (await coverage(lab)).get('afpacket_rx_truncated') ?? 0;
  t.ok(trunc1 > trunc0, `the frames that did not fit were counted (${trunc0} -> ${trunc1})`);
  const stats = (await lab.appctl('dpctl/show', '-s')).stdout;
  t.match(
    stats,
    /RX packets:\d+ errors:\d+ dropped:[1-9]/,
    `and in the port's rx dropped:\n${stats}`,
  );
  t.notMatch(lab.daemonStderr(), /uncaught|TypeError|RangeError/i, 'daemon stderr clean');
});

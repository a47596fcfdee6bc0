/**
 * Traffic through the userspace datapath of a tsvs daemon running in its own namespace, hosts
 * in theirs joined by veths (tests/system/datapath-lab.ts):
 *
 * - two hosts ping and run iperf3 (TCP, 2 s) through a bridge with one OpenFlow rule each way
 *   (`in_port=1,actions=output:2` and back, fail_mode secure);
 * - three hosts, with a rule set forwarding by destination MAC (and flooding broadcasts), ping
 *   every pair and run iperf3;
 * - the same three hosts with NORMAL (fail_mode standalone, no flows): every pair pings, iperf3
 *   runs, and dpctl/dump-flows shows the megaflows NORMAL needs (in_port, the MAC addresses,
 *   eth_type) with packet counts that move.
 */
import t, { type Test } from 'tap';
import { dpPorts, flowPackets, iperf, pingUntil, startLab, type DpLab } from './datapath-lab.js';

/** Every ordered pair of hosts pings without loss. */
async function pingAll(t: Test, lab: DpLab): Promise<void> {
  for (const a of lab.hosts) {
    for (const b of lab.hosts) {
      if (a === b) continue;
      const r = await pingUntil(lab, a.index, b.ip);
      t.equal(r.code, 0, `h${a.index} -> h${b.index}:\n${r.stdout}${r.stderr}`);
    }
  }
}

t.test('forwarding through rules and NORMAL', async (t) => {
  const lab = await startLab(t, { id: 'f', hosts: 3, net: 81, peers: ['iperf3'] });
  if (lab === undefined) return;
  const br = `${lab.tag}br`;
  const add = await lab.addBridge(br, ['--', 'set-fail-mode', br, 'secure']);
  t.equal(add.code, 0, `add-br: ${add.stderr}`);
  t.equal(add.stderr, '', 'no interface errors');
  // Datapath port numbers (the bridge's LOCAL port is a datapath port too).
  const ports = await dpPorts(lab);
  const dp = lab.hosts.map((h) => ports.get(h.sw) ?? -1);
  t.ok(
    dp.every((n) => n > 0),
    `every host port is a datapath port: ${JSON.stringify([...ports])}`,
  );
  const [d1, d2, d3] = dp as [number, number, number];

  await t.test('two hosts, one rule each way', async (t) => {
    for (const f of ['in_port=1,actions=output:2', 'in_port=2,actions=output:1']) {
      const r = await lab.ofctl('add-flow', br, f);
      t.equal(r.code, 0, `add-flow ${f}: ${r.stderr}`);
    }
    const p12 = await pingUntil(lab, 1, lab.hosts[1]!.ip);
    t.equal(p12.code, 0, `h1 -> h2:\n${p12.stdout}${p12.stderr}`);
    const p21 = await pingUntil(lab, 2, lab.hosts[0]!.ip);
    t.equal(p21.code, 0, `h2 -> h1:\n${p21.stdout}${p21.stderr}`);
    const p13 = await lab.inHost(1, ['ping', '-c', '1', '-W', '1', lab.hosts[2]!.ip]);
    t.not(p13.code, 0, 'h3 is not reachable: no rule sends there');
    const ip = await iperf(lab, 1, 2);
    t.ok(
      ip.bytes > 1_000_000,
      `iperf3 h1 -> h2 moved ${ip.bytes} bytes (${(ip.bps / 1e6).toFixed(0)} Mbit/s)\n${ip.text}`,
    );
    const stats = (await lab.ofctl('dump-flows', br)).stdout;
    t.match(stats, /n_packets=[1-9]\d*.*in_port=1 /, `rule statistics move:\n${stats}`);
    const dump = (await lab.appctl('dpctl/dump-flows')).stdout;
    // As OVS: in_port only, plus eth_type and ipv4(frag) for IP, which xlate always examines.
    const re12 = new RegExp(
      `in_port\\(${d1}\\),[^ ]*eth_type\\(0x0800\\),ipv4\\(frag=no\\), .*actions:${d2}$`,
      'm',
    );
    t.match(dump, re12, `a megaflow in_port(${d1}) -> ${d2} for IPv4, MACs wildcarded:\n${dump}`);
    const re21 = new RegExp(
      `in_port\\(${d2}\\),[^ ]*eth_type\\(0x0800\\),ipv4\\(frag=no\\), .*actions:${d1}$`,
      'm',
    );
    t.match(dump, re21, `a megaflow in_port(${d2}) -> ${d1}:\n${dump}`);
    t.notMatch(dump, /eth\(/, 'a rule on in_port alone leaves the MAC addresses wildcarded');
    t.ok(flowPackets(dump, re12) > 1000, 'the megaflow counted the iperf3 traffic');
    // No stale megaflow: once the rules are gone, nothing passes.
    const del = await lab.ofctl('del-flows', br);
    t.equal(del.code, 0, del.stderr);
    const stale = await lab.inHost(1, [
      'ping',
      '-c',
      '2',
      '-i',
      '0.2',
      '-W',
      '1',
      lab.hosts[1]!.ip,
    ]);
    t.not(stale.code, 0, `after del-flows h1 no longer reaches h2:\n${stale.stdout}`);
  });

  await t.test('three hosts, a rule set by destination MAC', async (t) => {
    const del = await lab.ofctl('del-flows', br);
    t.equal(del.code, 0, del.stderr);
    const flows = ['dl_dst=ff:ff:ff:ff:ff:ff,actions=FLOOD'];
    for (const h of lab.hosts) flows.push(`dl_dst=${h.mac},actions=output:${h.index}`);
    for (const f of flows) {
      const r = await lab.ofctl('add-flow', br, f);
      t.equal(r.code, 0, `add-flow ${f}: ${r.stderr}`);
    }
    await pingAll(t, lab);
    const ip = await iperf(lab, 3, 1);
    t.ok(
      ip.bytes > 1_000_000,
      `iperf3 h3 -> h1 moved ${ip.bytes} bytes (${(ip.bps / 1e6).toFixed(0)} Mbit/s)\n${ip.text}`,
    );
    const dump = (await lab.appctl('dpctl/dump-flows')).stdout;
    t.match(
      dump,
      new RegExp(
        `in_port\\(${d3}\\),.*eth\\(dst=${lab.hosts[0]!.mac}\\),eth_type\\(0x0800\\).*actions:${d1}$`,
        'm',
      ),
      `megaflow to h1:\n${dump}`,
    );
  });

  await t.test('address and port rewriting keeps checksums right', async (t) => {
    // On top of the MAC rule set: h1 talks to 10.81.0.99 (port 80), which the rules turn into
    // h3 (port 5204) and back. The receivers' kernels check the IPv4 and TCP checksums the
    // datapath updated.
    const [h1, h3] = [lab.hosts[0]!, lab.hosts[2]!];
    const vip = '10.81.0.99';
    const neigh = await lab.inHost(1, [
      'ip',
      'neigh',
      'replace',
      vip,
      'lladdr',
      h3.mac,
      'dev',
      h1.dev,
    ]);
    t.equal(neigh.code, 0, neigh.stderr);
    for (const f of [
      `priority=40000,ip,in_port=1,nw_dst=${vip},actions=set_field:${h3.ip}->ip_dst,output:3`,
      `priority=40000,ip,in_port=3,nw_src=${h3.ip},nw_dst=${h1.ip},actions=set_field:${vip}->ip_src,output:1`,
      `priority=40001,tcp,in_port=1,nw_dst=${vip},tp_dst=80,actions=set_field:${h3.ip}->ip_dst,set_field:5204->tcp_dst,output:3`,
      `priority=40001,tcp,in_port=3,nw_src=${h3.ip},nw_dst=${h1.ip},tp_src=5204,actions=set_field:${vip}->ip_src,set_field:80->tcp_src,output:1`,
    ]) {
      const r = await lab.ofctl('add-flow', br, f);
      t.equal(r.code, 0, `add-flow ${f}: ${r.stderr}`);
    }
    const p = await pingUntil(lab, 1, vip);
    t.equal(p.code, 0, `h1 pings the rewritten address:\n${p.stdout}${p.stderr}`);
    t.match(p.stdout, `bytes from ${vip}`, 'the replies come back from the rewritten address');
    // IPv4 options (record route) and fragments (3000 bytes over MTU 1500) through the rewrite.
    const pr = await pingUntil(lab, 1, vip, ['-R']);
    t.equal(pr.code, 0, `ping -R (IPv4 options) through the rewrite:\n${pr.stdout}${pr.stderr}`);
    t.match(pr.stdout, /RR:/, 'the record-route option came back');
    const pf = await pingUntil(lab, 1, vip, ['-s', '3000']);
    t.equal(pf.code, 0, `ping -s 3000 (fragments) through the rewrite:\n${pf.stdout}${pf.stderr}`);
    const ip = await iperf(lab, 1, 3, 2, { addr: vip, port: 80 });
    t.ok(
      ip.bytes > 1_000_000,
      `iperf3 h1 -> ${vip}:80 (h3:5204) moved ${ip.bytes} bytes (${(ip.bps / 1e6).toFixed(0)} Mbit/s)\n${ip.text}`,
    );
    const dump = (await lab.appctl('dpctl/dump-flows')).stdout;
    t.match(dump, /set\(ipv4\(|set\(tcp\(/, `megaflows carry set actions:\n${dump}`);
    await lab.inHost(1, ['ip', 'neigh', 'del', vip, 'dev', h1.dev]);
  });

  await t.test('three hosts with NORMAL', async (t) => {
    const del = await lab.ofctl('del-flows', br);
    t.equal(del.code, 0, del.stderr);
    const add = await lab.ofctl('add-flow', br, 'actions=NORMAL');
    t.equal(add.code, 0, add.stderr);
    // Forget the neighbours, so ARP goes through NORMAL too.
    for (const h of lab.hosts) await lab.inHost(h.index, ['ip', 'neigh', 'flush', 'all']);
    await pingAll(t, lab);
    const arp = (await lab.appctl('dpctl/dump-flows')).stdout;
    t.match(arp, /eth\(src=[^)]*\),eth_type\(0x0806\)/, `ARP has megaflows of its own:\n${arp}`);
    const ip = await iperf(lab, 2, 3);
    t.ok(
      ip.bytes > 1_000_000,
      `iperf3 h2 -> h3 moved ${ip.bytes} bytes (${(ip.bps / 1e6).toFixed(0)} Mbit/s)\n${ip.text}`,
    );
    const fdb = (await lab.appctl('fdb/show', br)).stdout;
    for (const h of lab.hosts) t.match(fdb, h.mac, `h${h.index} learned:\n${fdb}`);

    // dpctl/dump-flows: the megaflows NORMAL needs and counts that move.
    const [h1, h2] = [lab.hosts[0]!, lab.hosts[1]!];
    const ipFlow = new RegExp(
      `in_port\\(${d1}\\),.*eth\\(src=${h1.mac},dst=${h2.mac}\\),eth_type\\(0x0800\\),ipv4\\(frag=no\\), .*actions:${d2}$`,
      'm',
    );
    // Keep pinging in the background while looking, so the flow is there and moves.
    const before = await waitDump(lab, ipFlow);
    t.ok(
      before.found,
      `a megaflow h1 -> h2 for IPv4 with in_port, both MACs and eth_type:\n${before.dump}`,
    );
    const n0 = flowPackets(before.dump, ipFlow);
    const ping = await lab.inHost(1, ['ping', '-c', '5', '-i', '0.1', '-W', '2', h2.ip]);
    t.equal(ping.code, 0, ping.stdout);
    const after = (await lab.appctl('dpctl/dump-flows')).stdout;
    const n1 = flowPackets(after, ipFlow);
    t.ok(n1 >= n0 + 5, `packet count moved from ${n0} to ${n1}:\n${after}`);
    const show = (await lab.appctl('dpctl/show')).stdout;
    t.match(show, /lookups: hit:[1-9]\d* missed:[1-9]\d* lost:0/, `dpctl/show counts:\n${show}`);
    for (const h of lab.hosts) t.match(show, `: ${h.sw}`, `port ${h.sw} listed`);
  });
  t.notMatch(lab.daemonStderr(), /uncaught|TypeError|RangeError/i, 'daemon stderr clean');
});

/** Polls dpctl/dump-flows for a line matching `re` (pinging h1 -> h2 meanwhile). */
async function waitDump(lab: DpLab, re: RegExp): Promise<{ found: boolean; dump: string }> {
  let dump = '';
  for (let i = 0; i < 10; i++) {
    await lab.inHost(1, ['ping', '-c', '2', '-i', '0.1', '-W', '1', lab.hosts[1]!.ip]);
    dump = (await lab.appctl('dpctl/dump-flows')).stdout;
    if (re.test(dump)) return { found: true, dump };
  }
  return { found: false, dump };
}

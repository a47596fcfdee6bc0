/**
 * Megaflows of prefix rules against Open vSwitch 3.1: the same rule-based flows (IPv4 prefixes on
 * nw_src/nw_dst, a port match, an IPv6 prefix; no NORMAL) are installed with
 * `ovs-ofctl -O OpenFlow13` into a private OVS 3.1 (tests/helpers/ref-ovs.ts) and into our
 * Ofproto, and the `Megaflow:` line of `ofproto/trace` must be equal for every traced packet.
 * This checks the classifier's prefix tries (ofproto/cls-trie.ts: nw_dst and nw_src by default,
 * as OVS) and its ports tries: e.g. a packet from 1.2.3.4 against `nw_src=192.168.0.0/16` and
 * `nw_src=172.16.0.0/12` gets `nw_src=0.0.0.0/1`, not /16. The `Datapath actions:` lines are
 * compared too.
 *
 * Known differences: none for these flows. (Without prefixes for IPv6 in OVS 3.1's default
 * `prefixes`, IPv6 prefixes are un-wildcarded in full by both.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { realClock } from '../../lib/clock.js';
import { OFPP, OFPPC, OFPPF, OFPPS } from '../../openflow/constants.js';
import { Ofproto } from '../../ofproto/ofproto.js';
import { traceCommand } from '../../ofproto/trace.js';
import { Xlate } from '../../ofproto/xlate.js';
import { requirePeer } from '../helpers/peers.js';
import { startRefOvs } from '../helpers/ref-ovs.js';
import { runTool } from '../helpers/tools.js';

/** The `Megaflow:` and `Datapath actions:` lines of a trace. */
function megaflow(text: string): { megaflow: string; actions: string } {
  return {
    megaflow: /^Megaflow: (.*)$/m.exec(text)?.[1] ?? '(none)',
    actions: /^Datapath actions: (.*)$/m.exec(text)?.[1] ?? '(none)',
  };
}

/** Rules of table 0 (and one of table 1), installed on both switches. */
const FLOWS = [
  'table=0,priority=100,ip,nw_dst=10.0.0.0/8,actions=output:1',
  // Shadowed by the /8, still a prefix in the trie.
  'table=0,priority=95,ip,nw_dst=10.1.0.0/16,actions=output:2',
  'table=0,priority=90,ip,nw_src=192.168.0.0/16,actions=output:2',
  'table=0,priority=85,ip,nw_src=172.16.0.0/12,nw_dst=172.16.0.0/12,actions=output:3',
  'table=0,priority=80,tcp,nw_dst=172.20.0.0/14,tp_dst=8080,actions=output:3',
  'table=0,priority=75,udp,tp_src=5000,tp_dst=53,actions=output:4',
  'table=0,priority=70,in_port=2,ip,nw_dst=192.168.1.0/24,actions=output:4',
  'table=0,priority=60,ip,nw_dst=203.0.113.7,actions=goto_table:1',
  'table=0,priority=50,ipv6,ipv6_dst=2001:db8::/32,actions=output:1',
  'table=0,priority=40,arp,arp_tpa=10.0.0.0/8,actions=output:4',
  'table=1,priority=10,ip,nw_src=198.51.100.0/24,actions=output:2',
];

/** Packets to trace (in OVS's flow syntax). */
const PACKETS = [
  'in_port=1,ip,nw_src=1.2.3.4,nw_dst=10.2.3.4',
  'in_port=1,ip,nw_src=1.2.3.4,nw_dst=10.1.3.4',
  'in_port=1,ip,nw_src=1.2.3.4,nw_dst=192.168.1.1',
  'in_port=1,ip,nw_src=1.2.3.4,nw_dst=11.0.0.1',
  'in_port=2,ip,nw_src=1.2.3.4,nw_dst=192.168.1.1',
  'in_port=2,ip,nw_src=1.2.3.4,nw_dst=192.168.2.1',
  'in_port=1,ip,nw_src=192.168.5.5,nw_dst=11.0.0.1',
  'in_port=1,ip,nw_src=172.16.1.1,nw_dst=172.17.0.1',
  'in_port=1,ip,nw_src=172.16.1.1,nw_dst=8.8.8.8',
  'in_port=1,tcp,nw_src=1.1.1.1,nw_dst=172.21.5.5,tp_src=1234,tp_dst=8080',
  'in_port=1,tcp,nw_src=1.1.1.1,nw_dst=172.21.5.5,tp_src=1234,tp_dst=80',
  'in_port=1,tcp,nw_src=1.1.1.1,nw_dst=172.32.0.1,tp_src=1234,tp_dst=8080',
  'in_port=1,udp,nw_src=8.8.8.8,nw_dst=9.9.9.9,udp_src=5000,udp_dst=53',
  'in_port=1,udp,nw_src=8.8.8.8,nw_dst=9.9.9.9,udp_src=5001,udp_dst=53',
  'in_port=1,udp,nw_src=8.8.8.8,nw_dst=9.9.9.9,udp_src=40000,udp_dst=123',
  'in_port=1,ip,nw_src=198.51.100.9,nw_dst=203.0.113.7',
  'in_port=1,ip,nw_src=1.2.3.4,nw_dst=203.0.113.7',
  'in_port=1,ip,nw_src=1.2.3.4,nw_dst=203.0.113.6',
  'in_port=1,ipv6,ipv6_dst=2001:db8::1',
  'in_port=1,ipv6,ipv6_dst=2001:db9::1',
  'in_port=1,arp,arp_spa=10.0.0.2,arp_tpa=10.0.0.1',
  'in_port=1,arp,arp_spa=10.0.0.2,arp_tpa=192.168.0.1',
];

/** A small seeded PRNG (mulberry32), so the random rule sets are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const dotted = (v: number): string =>
  [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');

/**
 * Random rules on nw_src/nw_dst prefixes of random lengths (some with tcp ports) with distinct
 * priorities (so the subtable order is the same as OVS's), and packets near their addresses.
 */
function randomCase(seed: number): { flows: string[]; packets: string[] } {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const bases = [0x0a000000, 0x0a010000, 0x0a010100, 0xc0a80000, 0xac100000, 0x08080808];
  const near = (): number => {
    let v = pick(bases);
    if (rnd() < 0.7) v ^= 1 << Math.floor(rnd() * 32);
    if (rnd() < 0.5) v ^= Math.floor(rnd() * 256);
    return v >>> 0;
  };
  const flows: string[] = [];
  for (let i = 0; i < 16; i++) {
    const parts = [`table=0,priority=${1000 - i * 7}`];
    const tcp = rnd() < 0.3;
    parts.push(tcp ? 'tcp' : 'ip');
    if (rnd() < 0.6) parts.push(`nw_src=${dotted(near())}/${1 + Math.floor(rnd() * 32)}`);
    if (rnd() < 0.8) parts.push(`nw_dst=${dotted(near())}/${1 + Math.floor(rnd() * 32)}`);
    if (tcp) parts.push(`tp_dst=${pick([80, 443, 8080, 22, 0x1f00])}`);
    parts.push(`actions=output:${1 + (i % 4)}`);
    flows.push(parts.join(','));
  }
  const packets: string[] = [];
  for (let i = 0; i < 24; i++) {
    const tcp = rnd() < 0.4;
    const l4 = tcp ? `,tp_src=${1024 + i},tp_dst=${pick([80, 443, 8080, 22, 8081, 1])}` : '';
    packets.push(
      `in_port=1,${tcp ? 'tcp' : 'ip'},nw_src=${dotted(near())},nw_dst=${dotted(near())}${l4}`,
    );
  }
  return { flows, packets };
}

t.test('ofproto/trace megaflows of prefix rules equal OVS 3.1', async (t) => {
  if (!requirePeer(t, 'ovs-ofctl', 'ovs-vsctl', 'ovs-vswitchd', 'ovsdb-server', 'ovs-appctl', 'ip'))
    return;
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-h2-mf-'));
  const ref = await startRefOvs({ bridge: 'br0' });
  const sw = new Ofproto({
    name: 'br0',
    datapathId: 1n,
    clock: realClock,
    mgmtPath: join(dir, 'br0.mgmt'),
  });
  await sw.start();
  t.teardown(async () => {
    await sw.close();
    await ref.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const x = new Xlate({ ofproto: sw, clock: realClock, failMode: 'secure' });

  for (const i of [1, 2, 3, 4]) {
    const r = await ref.vsctl(
      'add-port',
      'br0',
      `p${i}`,
      '--',
      'set',
      'Interface',
      `p${i}`,
      'type=internal',
      `ofport_request=${i}`,
    );
    t.equal(r.code, 0, `add-port p${i}: ${r.stderr}`);
  }
  // Datapath port numbers from OVS, so the datapath actions are comparable.
  const show = await ref.appctl('dpif/show');
  const odp = new Map<string, [number, number]>();
  for (const m of show.stdout.matchAll(/^\s+(\S+) (\d+)\/(\d+):/gm))
    odp.set(m[1]!, [Number(m[2]), Number(m[3])]);
  t.equal(odp.size, 5, `dpif/show lists br0 and 4 ports:\n${show.stdout}`);
  for (const [name, [ofport, dpPort]] of odp)
    sw.addPort({
      ofport: name === 'br0' ? OFPP.LOCAL : ofport,
      name,
      hwAddr: 0x020000000000 + dpPort,
      config: OFPPC.PORT_DOWN,
      state: OFPPS.LINK_DOWN,
      curr: OFPPF['10GB_FD'] | OFPPF.COPPER,
      currSpeed: 10_000_000,
      maxSpeed: 0,
      dpPort,
    });

  for (const flow of FLOWS)
    for (const target of [ref.ofTarget, `unix:${join(dir, 'br0.mgmt')}`]) {
      const r = await runTool('ovs-ofctl', ['-O', 'OpenFlow13', 'add-flow', target, flow], {
        timeoutMs: 30_000,
      });
      t.equal(r.code, 0, `add-flow ${flow} on ${target}: ${r.stderr}`);
    }

  const narrowed: string[] = [];
  for (const pkt of PACKETS) {
    const want = await ref.appctl('ofproto/trace', 'br0', pkt);
    t.equal(want.code, 0, `OVS trace ${pkt}: ${want.stderr}`);
    const got = traceCommand(['br0', pkt], (n) => (n === 'br0' ? x : undefined));
    const w = megaflow(want.stdout);
    const g = megaflow(got);
    t.equal(g.megaflow, w.megaflow, `Megaflow of ${pkt}`);
    t.equal(g.actions, w.actions, `Datapath actions of ${pkt}`);
    narrowed.push(`${pkt}\n  -> ${g.megaflow}`);
  }
  t.comment(`megaflows:\n${narrowed.join('\n')}`);

  // What the tries changed (each equal to OVS above; without tries these would be the rules'
  // whole prefixes: nw_src=.../16 or /12, nw_dst=.../8, tp_dst=8080).
  const trace = (pkt: string): string =>
    megaflow(traceCommand(['br0', pkt], (n) => (n === 'br0' ? x : undefined))).megaflow;
  t.match(
    trace('in_port=1,ip,nw_src=1.2.3.4,nw_dst=11.0.0.1'),
    /nw_src=0\.0\.0\.0\/1,nw_dst=11\.0\.0\.0\/8,/,
    'nw_src: one bit rules out 192.168/16 and 172.16/12; nw_dst: 8 bits rule out 10/8',
  );
  t.match(
    trace('in_port=1,tcp,nw_src=1.1.1.1,nw_dst=172.21.5.5,tp_src=1234,tp_dst=80'),
    /tp_dst=0x0\/0xf000$/,
    'ports trie: 80 vs 8080 needs the top 4 bits of tp_dst',
  );

  // Random rule sets: same megaflows as OVS for every packet.
  for (const seed of [1, 2, 3]) {
    const { flows, packets } = randomCase(seed);
    for (const target of [ref.ofTarget, `unix:${join(dir, 'br0.mgmt')}`]) {
      const r = await runTool('ovs-ofctl', ['-O', 'OpenFlow13', 'del-flows', target], {
        timeoutMs: 30_000,
      });
      t.equal(r.code, 0, `del-flows on ${target}: ${r.stderr}`);
      for (const flow of flows) {
        const a = await runTool('ovs-ofctl', ['-O', 'OpenFlow13', 'add-flow', target, flow], {
          timeoutMs: 30_000,
        });
        t.equal(a.code, 0, `add-flow ${flow} on ${target}: ${a.stderr}`);
      }
    }
    for (const pkt of packets) {
      const want = await ref.appctl('ofproto/trace', 'br0', pkt);
      t.equal(want.code, 0, `OVS trace ${pkt}: ${want.stderr}`);
      const got = traceCommand(['br0', pkt], (n) => (n === 'br0' ? x : undefined));
      const w = megaflow(want.stdout);
      const g = megaflow(got);
      t.equal(g.megaflow, w.megaflow, `seed ${seed}: Megaflow of ${pkt}\n${flows.join('\n')}`);
      t.equal(g.actions, w.actions, `seed ${seed}: Datapath actions of ${pkt}`);
    }
  }
});

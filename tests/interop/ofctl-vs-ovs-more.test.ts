/**
 * More of issue 5's "prints what OVS 3.1 prints": the `ovs-ofctl -O OpenFlow13` commands that
 * tests/interop/ofctl-vs-ovs.test.ts does not cover, run against a private OVS 3.1 and against a
 * tsvs daemon with identical bridges and ports (br0, dummy ports p1..p3 = ofports 1..3):
 *
 * - dump-tables after flows were added to several tables, and dump-table-features (field lists
 *   normalised to the OpenFlow 1.3 OXM basic fields: see {@link tableFeatureFields});
 * - packet-out (output:N, NORMAL, TABLE, IN_PORT, ALL, FLOOD, errors): exit status, stderr, and
 *   the port counters it moves; then dump-ports, dump-ports-desc and dump-tables in full;
 * - add-flows of 100k flows from a file (perf/gen-flows.py's `mixed` and `simple` shapes), plain
 *   and with --bundle (also a bundle with a failing flow-mod, which must add nothing), then
 *   dump-flows / dump-aggregate, mod-flows and del-flows with filters at that scale.
 *   `TOF_FLOWS=N` loads N flows instead (a multiple of 4), for a quick run.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startDaemonChild } from '../helpers/daemon.js';
import {
  normalizeOfctl,
  sortedDump,
  startRefOvsDummy,
  withTarget,
} from '../helpers/ofctl-compare.js';
import { requirePeer } from '../helpers/peers.js';
import { runTool, type ToolResult } from '../helpers/tools.js';

/** The two switches under comparison. */
interface Pair {
  ovs: string;
  tsvs: string;
  run(target: string, cmd: readonly string[], timeoutMs?: number): Promise<ToolResult>;
}

/** Starts both switches with br0 and dummy ports p1..p3 (ofports 1..3); registers teardown. */
async function startPair(t: Test): Promise<Pair | undefined> {
  if (!requirePeer(t, 'ovs-ofctl', 'ovs-vsctl', 'ovs-vswitchd', 'ovsdb-server', 'ip')) return;
  const ref = await startRefOvsDummy('br0');
  t.teardown(() => ref.stop());
  const d = await startDaemonChild({ t });
  const tsvsctl = (...a: string[]): Promise<ToolResult> =>
    runTool('ovs-vsctl', [`--db=unix:${d.paths.dbSocket}`, '--timeout=20', ...a]);
  const ports: string[] = [];
  for (let i = 1; i <= 3; i++) {
    ports.push('--', 'add-port', 'br0', `p${i}`);
    ports.push('--', 'set', 'Interface', `p${i}`, 'type=dummy', `ofport_request=${i}`);
  }
  const r1 = await tsvsctl(
    'add-br',
    'br0',
    '--',
    'set',
    'Bridge',
    'br0',
    'fail_mode=secure',
    'protocols=OpenFlow13',
    'other_config:datapath-id=0000000000000001',
    ...ports,
  );
  t.equal(r1.code, 0, `tsvs bridge and ports: ${r1.stderr}`);
  const r2 = await ref.vsctl(...ports.slice(1));
  t.equal(r2.code, 0, `OVS ports: ${r2.stderr}`);
  return {
    ovs: ref.ofTarget,
    tsvs: `unix:${d.paths.mgmt('br0')}`,
    run: (target, cmd, timeoutMs = 60_000) =>
      runTool('ovs-ofctl', ['-O', 'OpenFlow13', ...withTarget(cmd, target)], { timeoutMs }),
  };
}

t.test('dump-tables and dump-table-features equal OVS 3.1', async (t) => {
  const p = await startPair(t);
  if (!p) return;
  const flows = [
    'table=0,priority=10,ip,actions=goto_table:1',
    'table=0,priority=5,arp,actions=goto_table:3',
    'table=1,priority=10,tcp,tp_dst=80,actions=output:2',
    'table=1,priority=9,udp,actions=output:3',
    'table=3,actions=drop',
    'table=200,priority=1,actions=output:1',
    // Masks on the ND fields, which both advertise as "arbitrary mask".
    'table=4,priority=1,icmp6,icmp_type=135,nd_target=fe80::/64,actions=drop',
    'table=4,priority=2,icmp6,icmp_type=136,nd_tll=02:00:00:00:00:00/ff:ff:00:00:00:00,actions=drop',
  ];
  for (const f of flows) {
    for (const target of [p.ovs, p.tsvs]) {
      const r = await p.run(target, ['add-flow', f]);
      t.equal(r.code, 0, `add-flow ${f}: ${r.stderr}`);
    }
  }
  for (const cmd of [['dump-flows', 'table=4'], ['dump-tables'], ['dump-table-features']]) {
    const want = await p.run(p.ovs, cmd);
    const got = await p.run(p.tsvs, cmd);
    const norm = (s: string): string => sortedDump(cmd, tableFeatureFields(normalizeOfctl(s)));
    t.equal(got.code, want.code, `${cmd.join(' ')}: exit code`);
    t.equal(norm(got.stdout), norm(want.stdout), `${cmd.join(' ')}: stdout`);
    t.equal(normalizeOfctl(got.stderr), normalizeOfctl(want.stderr), `${cmd.join(' ')}: stderr`);
  }
  // The normalisation leaves something to compare: the field lists are not empty.
  const tf = tableFeatureFields((await p.run(p.tsvs, ['dump-table-features'])).stdout);
  t.match(tf, /arbitrary mask: .*\bnd_target\b/, 'masked nd_target advertised');
  t.match(tf, /supported on Set-Field: .*\bmetadata\b/, 'set_field metadata advertised');
});

/**
 * The OpenFlow 1.3 OXM basic fields as ovs-ofctl names them (OVS prints nothing for in_phy_port,
 * pbb_isid and ipv6_exthdr, which it does not implement).
 */
const OXM_BASIC = new Set(
  (
    'in_port_oxm metadata eth_src eth_dst eth_type vlan_vid vlan_pcp ip_dscp nw_ecn nw_proto ' +
    'ip_src ip_dst tcp_src tcp_dst udp_src udp_dst sctp_src sctp_dst icmp_type icmp_code arp_op ' +
    'arp_spa arp_tpa arp_sha arp_tha ipv6_src ipv6_dst ipv6_label icmpv6_type icmpv6_code ' +
    'nd_target nd_sll nd_tll mpls_label mpls_tc mpls_bos tun_id'
  ).split(' '),
);

/** Expands ovs-ofctl's brace notation: `tun_{id,ipv6_{src,dst}}` → tun_id tun_ipv6_src ... */
function expandBraces(tok: string): string[] {
  const open = tok.indexOf('{');
  if (open < 0) return [tok];
  let depth = 0;
  let close = -1;
  const alts: string[] = [];
  let start = open + 1;
  for (let i = open; i < tok.length; i++) {
    const c = tok[i];
    if (c === '{') depth++;
    else if (c === '}' && --depth === 0) {
      close = i;
      alts.push(tok.slice(start, i));
      break;
    } else if (c === ',' && depth === 1) {
      alts.push(tok.slice(start, i));
      start = i + 1;
    }
  }
  const pre = tok.slice(0, open);
  const post = tok.slice(close + 1);
  return alts.flatMap((a) => expandBraces(pre + a + post));
}

/**
 * Normalises the field lists of dump-table-features. Each normalisation and its reason:
 *
 * - Fields that are not OpenFlow 1.3 OXM basic fields are dropped from OVS's lists (dp_hash,
 *   recirc_id, conj_id, packet_type, actset_output, reg*, xreg*, xxreg*, pkt_mark, ct_*, the
 *   tunnel fields other than tun_id, tun_metadata*, nsh_*, gtpu_*, ip_frag, tcp_flags, the NXM
 *   aliases vlan_tci, nw_tos, nw_ttl, mpls_ttl, in_port, and nd_reserved/nd_options_type): they
 *   are Nicira/ONF extensions that tsvs does not implement, so it must not advertise them.
 * - in_port_oxm is dropped from the Set-Field lists: OVS can rewrite the input port with
 *   set_field; tsvs rejects a set-field on in_port (OFPBAC_BAD_SET_ARGUMENT), so it does not
 *   advertise it.
 * Everything else (table numbering, ditto ranges, metadata masks, max_entries, next tables,
 * instructions, actions, which fields take arbitrary masks, which are exact-or-wildcard) must be
 * equal. Field lists are compared as sorted, expanded names.
 */
function tableFeatureFields(text: string): string {
  return text.replace(
    /^(\s*(?:supported on Set-Field|arbitrary mask|exact match or wildcard|must exact match):)(.*)$/gm,
    (_m, label: string, list: string) => {
      const setField = label.includes('Set-Field');
      const names = list
        .trim()
        .split(/\s+/)
        .flatMap(expandBraces)
        .filter((n) => OXM_BASIC.has(n) && !(setField && n === 'in_port_oxm'))
        .sort();
      return `${label} ${names.join(' ')}`;
    },
  );
}

/** A 60-byte IPv4/UDP frame 00:..:01 → 00:..:02, 10.0.0.1:1024 → 10.0.0.2:53. */
const FRAME =
  '000000000002' +
  '000000000001' +
  '0800' +
  '4500002e0000000040110000' +
  '0a000001' +
  '0a000002' +
  '04000035001a0000' +
  '00'.repeat(18);

/**
 * The rx and tx packet and byte counters of ports 1..3 from dump-ports, keyed by port. The
 * drop/error counters are left out: OVS's netdev-dummy does not keep them (it prints `?`), while
 * tsvs's dummy netdev counts drops and prints numbers; on real ports both print numbers.
 */
function portBlocks(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const block of out.split(/\n(?= {2}port )/)) {
    const port = /^\s*port\s+"?([^:"]+)"?:/.exec(block)?.[1]?.trim();
    const rx = /rx pkts=(\d+), bytes=(\d+)/.exec(block);
    const tx = /tx pkts=(\d+), bytes=(\d+)/.exec(block);
    if (port && ['1', '2', '3'].includes(port) && rx && tx) {
      m.set(port, `rx pkts=${rx[1]} bytes=${rx[2]} tx pkts=${tx[1]} bytes=${tx[2]}`);
    }
  }
  return m;
}

/**
 * dump-ports / dump-ports-desc output with per-port blocks sorted (each switch has its own order)
 * and durations blanked. Normalisations, each with its reason:
 *
 * - The LOCAL port's block is dropped: OVS's is a TAP device in its namespace, down (PORT_DOWN,
 *   LINK_DOWN, frames sent to it counted as tx drops), while the test daemon's internal ports are
 *   in-memory netdevs that are up (TSVS_INTERNAL_PORTS=memory, set by tests/helpers/daemon.ts).
 * - The addresses of the dummy ports are blanked: OVS numbers dummy MACs aa:55:aa:55:00:NN from a
 *   process-wide counter in its (hash) creation order; tsvs derives a stable MAC from the name.
 * - drop/errs/frame/over/crc/coll of a value `?` (OVS's netdev-dummy does not keep them) equal a
 *   tsvs `0`; any non-zero tsvs value still differs.
 */
function portsNormalized(out: string): string {
  const s = normalizeOfctl(out).replace(
    /\b(drop|errs|frame|over|crc|coll)=(?:\?|0)(?=[,\s])/g,
    '$1=-',
  );
  const [head, ...rest] = s.split(/\n(?= {1,2}(?:port |\d+\(|LOCAL\())/);
  const blocks = rest
    .filter((b) => !/^\s*(?:port LOCAL:|LOCAL\()/.test(b))
    .map((b) => b.replace(/\n$/, '').replace(/addr:[0-9a-f:]{17}/, 'addr:X'));
  return [head, ...blocks.sort()].join('\n');
}

t.test('packet-out: same exit status, stderr and port counters as OVS 3.1', async (t) => {
  const p = await startPair(t);
  if (!p) return;
  const setup = [
    ['add-flow', 'table=0,priority=10,in_port=1,udp,actions=output:3'],
    ['add-flow', 'table=0,priority=5,in_port=2,actions=output:1,output:3'],
  ];
  for (const cmd of setup) {
    for (const target of [p.ovs, p.tsvs]) {
      const r = await p.run(target, cmd);
      t.equal(r.code, 0, `${cmd.join(' ')}: ${r.stderr}`);
    }
  }
  const cases: string[][] = [
    ['packet-out', `in_port=1,packet=${FRAME},actions=output:2`],
    ['packet-out', '1', 'output:2', FRAME],
    ['packet-out', `in_port=1,packet=${FRAME},actions=NORMAL`],
    ['packet-out', `in_port=1,packet=${FRAME},actions=table`],
    ['packet-out', `in_port=2,packet=${FRAME},actions=table`],
    ['packet-out', `in_port=controller,packet=${FRAME},actions=output:1,output:3`],
    ['packet-out', `in_port=3,packet=${FRAME},actions=in_port`],
    ['packet-out', `in_port=1,packet=${FRAME},actions=all`],
    ['packet-out', `in_port=1,packet=${FRAME},actions=flood`],
    ['packet-out', `in_port=1,packet=${FRAME},actions=drop`],
    ['packet-out', `in_port=1,packet=${FRAME},actions=output:9`],
    ['packet-out', `in_port=1,packet=${FRAME},actions=group:7`],
    ['packet-out', `in_port=1,packet=${FRAME},actions=output:1`],
    ['packet-out', `in_port=99,packet=${FRAME},actions=output:1`],
    ['packet-out', `in_port=1,packet=${FRAME},actions=set_field:10.9.9.9->ip_dst,output:2`],
    ['packet-out', `in_port=1,packet=00112233,actions=output:2`],
  ];
  for (const cmd of cases) {
    const label = cmd.join(' ').replace(FRAME, 'FRAME');
    const want = await p.run(p.ovs, cmd);
    const got = await p.run(p.tsvs, cmd);
    t.equal(got.code, want.code, `${label}: exit code`);
    t.equal(normalizeOfctl(got.stdout), normalizeOfctl(want.stdout), `${label}: stdout`);
    t.equal(normalizeOfctl(got.stderr), normalizeOfctl(want.stderr), `${label}: stderr`);
    // The counters move at once on both (the datapath executes a packet-out synchronously).
    const [a, b] = await Promise.all([p.run(p.ovs, ['dump-ports']), p.run(p.tsvs, ['dump-ports'])]);
    t.same(
      Object.fromEntries(portBlocks(b.stdout)),
      Object.fromEntries(portBlocks(a.stdout)),
      `${label}: port stats of ports 1-3`,
    );
  }
  // dump-ports-desc and dump-ports in full (the per-port order is the switch's: sorted here).
  for (const cmd of [
    ['dump-ports-desc'],
    ['dump-ports-desc', '2'],
    ['dump-ports'],
    ['dump-ports', '2'],
  ]) {
    const want = await p.run(p.ovs, cmd);
    const got = await p.run(p.tsvs, cmd);
    t.equal(got.code, want.code, `${cmd.join(' ')}: exit code`);
    t.equal(portsNormalized(got.stdout), portsNormalized(want.stdout), `${cmd.join(' ')}: stdout`);
    t.equal(got.stderr, want.stderr, `${cmd.join(' ')}: stderr`);
  }
  // Table lookups by packet-out's TABLE action are counted alike.
  const [ta, tb] = await Promise.all([
    p.run(p.ovs, ['dump-tables']),
    p.run(p.tsvs, ['dump-tables']),
  ]);
  t.equal(normalizeOfctl(tb.stdout), normalizeOfctl(ta.stdout), 'dump-tables after packet-outs');
  // Something did move: the counters compared above are not all zero.
  const final = portBlocks((await p.run(p.tsvs, ['dump-ports'])).stdout);
  t.match(final.get('2') ?? '', /tx pkts=[1-9]/, 'port 2 transmitted');
  t.match(final.get('3') ?? '', /tx pkts=[1-9]/, 'port 3 transmitted');
});

/** How many flows the add-flows comparison loads (TOF_FLOWS overrides, e.g. for a quick run). */
const N_FLOWS = Number(process.env.TOF_FLOWS ?? 100_000);

/**
 * Flows like /work/shared/peers/perf/gen-flows.py `mixed`: tables 0-3, masks on several fields,
 * several action kinds; every line a distinct flow.
 */
function mixedFlows(n: number, out = 2): string[] {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = i % 4;
    const j = Math.floor(i / 4);
    const [a, b, c] = [(j >> 16) & 255, (j >> 8) & 255, j & 255];
    const hex2 = (x: number): string => x.toString(16).padStart(2, '0');
    if (k === 0)
      lines.push(
        `table=0,priority=${1000 + (j % 50)},ip,nw_src=${a + 11}.${b}.${c}.0/24,` +
          `nw_dst=192.168.0.0/16,actions=goto_table:1`,
      );
    else if (k === 1)
      lines.push(
        `table=1,priority=${900 + (j % 50)},tcp,nw_dst=172.${16 + (a % 16)}.${b}.${c},` +
          `tp_dst=0x1000/0xf000,ip_dscp=${j % 64},actions=set_field:0x2->ip_dscp,goto_table:2`,
      );
    else if (k === 2)
      lines.push(
        `table=2,priority=${800 + (j % 50)},udp,dl_vlan=${1 + (j % 4094)},` +
          `dl_src=02:00:${hex2(a)}:${hex2(b)}:${hex2(c)}:01,` +
          `dl_dst=02:00:00:00:00:00/ff:ff:00:00:00:00,tp_src=${j & 0xffff},` +
          `actions=pop_vlan,goto_table:3`,
      );
    else
      lines.push(
        `table=3,priority=${700 + (j % 50)},ipv6,` +
          `ipv6_dst=2001:db8:${a.toString(16)}:${b.toString(16)}${hex2(c)}::/64,` +
          `metadata=0x${j.toString(16)}/0xffffffff,actions=output:${out}`,
      );
  }
  return lines;
}

/** Flows like gen-flows.py `simple`: table 0, one exact IPv4 destination each. */
function simpleFlows(n: number, out = 2): string[] {
  return Array.from(
    { length: n },
    (_, i) =>
      `table=0,priority=100,ip,nw_dst=10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255},` +
      `actions=output:${out}`,
  );
}

t.test(`add-flows of ${N_FLOWS} flows, then dumps, mod-flows and del-flows`, async (t) => {
  const p = await startPair(t);
  if (!p) return;
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-tof-flows-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const mixed = join(dir, 'mixed.txt');
  const simple = join(dir, 'simple.txt');
  writeFileSync(mixed, mixedFlows(N_FLOWS).join('\n') + '\n');
  writeFileSync(simple, simpleFlows(N_FLOWS).join('\n') + '\n');
  const q = N_FLOWS / 4;
  // 1000 good flows, then one the switch refuses (a group that does not exist): with --bundle
  // nothing is added, without it the good ones stay.
  const bad = join(dir, 'bad.txt');
  writeFileSync(
    bad,
    [
      ...Array.from(
        { length: 1000 },
        (_, i) => `table=5,priority=1,ip,nw_dst=10.200.${i >> 8}.${i & 255},actions=output:1`,
      ),
      'table=5,priority=2,ip,actions=group:99',
    ].join('\n') + '\n',
  );

  const script: string[][] = [
    ['--bundle', 'add-flows', bad],
    ['dump-aggregate', 'table=5'],
    ['add-flows', bad],
    ['dump-aggregate', 'table=5'],
    ['del-flows', 'table=5'],
    ['add-flows', mixed],
    ['dump-aggregate'],
    ['dump-aggregate', 'table=2'],
    ['dump-flows', 'table=1,tcp,nw_dst=172.16.0.0/24'],
    ['dump-flows', 'table=3,ipv6,metadata=0x10/0xff'],
    ['mod-flows', 'table=1,tcp,nw_dst=172.16.0.0/20,actions=output:3'],
    [
      'mod-flows',
      '--strict',
      'table=0,priority=1000,ip,nw_src=11.0.0.0/24,nw_dst=192.168.0.0/16,actions=drop',
    ],
    ['dump-aggregate', 'table=1,out_port=3'],
    ['del-flows', 'table=0,ip,nw_src=11.0.0.0/20'],
    ['del-flows', 'table=2,udp,dl_vlan=5'],
    ['del-flows', 'table=3,metadata=0x10/0xff'],
    ['del-flows', 'out_port=3'],
    [
      'del-flows',
      '--strict',
      'table=2,priority=801,udp,dl_vlan=2,dl_src=02:00:00:00:01:01,dl_dst=02:00:00:00:00:00/ff:ff:00:00:00:00,tp_src=1',
    ],
    ['dump-aggregate'],
    ['dump-flows'],
    ['del-flows'],
    ['--bundle', 'add-flows', simple],
    ['dump-aggregate'],
    ['dump-flows', 'table=0,ip,nw_dst=10.1.128.0/18'],
    ['--bundle', 'mod-flows', 'table=0,ip,nw_dst=10.1.0.0/16,actions=output:3'],
    ['del-flows', 'table=0,ip,nw_dst=10.0.0.0/17'],
    ['dump-aggregate'],
    ['dump-aggregate', 'out_port=3'],
    ['--bundle', 'add-flows', mixed],
    ['dump-aggregate'],
    ['dump-flows'],
  ];
  const totals: string[] = [];
  for (const cmd of script) {
    const label = cmd.join(' ').replace(dir, '<dir>');
    const t0 = Date.now();
    const want = await p.run(p.ovs, cmd, 600_000);
    const t1 = Date.now();
    const got = await p.run(p.tsvs, cmd, 600_000);
    const t2 = Date.now();
    if (cmd.includes('add-flows')) t.comment(`${label}: OVS ${t1 - t0} ms, tsvs ${t2 - t1} ms`);
    t.equal(got.code, want.code, `${label}: exit code`);
    t.equal(normalizeOfctl(got.stderr), normalizeOfctl(want.stderr), `${label}: stderr`);
    const norm = (s: string): string[] => sortedDump(cmd, normalizeOfctl(s, true)).split('\n');
    const [g, w] = [norm(got.stdout), norm(want.stdout)];
    t.equal(g.length, w.length, `${label}: ${w.length} lines of output`);
    const diffs: string[] = [];
    for (let i = 0; i < Math.max(g.length, w.length) && diffs.length < 6; i++) {
      if (g[i] !== w[i]) diffs.push(`- ${w[i] ?? '(none)'}`, `+ ${g[i] ?? '(none)'}`);
    }
    t.same(diffs, [], `${label}: stdout`);
    if (cmd.includes('dump-aggregate')) totals.push(`${label}: ${want.stdout.trim()}`);
  }
  // The comparison is not vacuous: the loads and the filters did what they should on OVS.
  t.match(totals[0], /flow_count=0\b/, 'a bundle with a bad flow-mod added nothing');
  t.match(totals[1], /flow_count=1000\b/, 'plain add-flows kept the good flow-mods');
  t.match(totals[2], new RegExp(`flow_count=${N_FLOWS}\\b`), 'all mixed flows loaded');
  t.match(totals[3], new RegExp(`flow_count=${q}\\b`), 'a quarter of them in table 2');
  t.comment(totals.join('\n'));
});

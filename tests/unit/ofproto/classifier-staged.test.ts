/**
 * ofproto/classifier.ts staged lookup and versions: a linear-scan oracle at random versions, the
 * megaflow property with staged lookup (every packet inside the returned mask gets the same
 * rule), narrowing examples (a rule on tcp_dst with an in_port mismatch leaves tcp_dst
 * wildcarded), the version API, and bundle atomicity through the pipeline (lookups between
 * staging and publishing see the old rules).
 */
import fc from 'fast-check';
import t from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import {
  FLOW_KEY_WORDS,
  W,
  field,
  newFlowKey,
  setField,
  type FlowKey,
} from '../../../lib/packet/flow-key.js';
import { OFPFC, OFPFF, OFPP, OFPPS } from '../../../openflow/constants.js';
import type { MessageOf } from '../../../openflow/messages.js';
import type { Match } from '../../../openflow/oxm.js';
import {
  Classifier,
  STAGES,
  STAGE_OF_WORD,
  VERSION_MAX,
  matches,
  visibleAt,
  type ClsRule,
} from '../../../ofproto/classifier.js';
import {
  mapDirectory,
  registerOfprotoCommands,
  type CommandSpec,
} from '../../../ofproto/appctl.js';
import { Ofproto } from '../../../ofproto/ofproto.js';
import { OpenFlowPipeline } from '../../../ofproto/pipeline.js';
import { Xlate } from '../../../ofproto/xlate.js';

// Fields of every stage: metadata (in_port, pkt_mark), L2 (eth_type, vlan_vid), L3 (ipv4_src,
// ipv4_dst, ip_proto), L4 (tcp_dst, tcp_src).
const FIELDS = [
  'in_port',
  'pkt_mark',
  'eth_type',
  'vlan_vid',
  'ipv4_src',
  'ipv4_dst',
  'ip_proto',
  'tcp_dst',
  'tcp_src',
].map(field);
const VALUES = [0, 1, 2, 0x0800, 0x0a000001, 0x0a000002, 80, 6];

interface Spec {
  priority: number;
  fields: { f: number; value: number; prefix: number }[];
  addedIn: number;
  removedIn: number;
}

const arbVersions = {
  addedIn: fc.integer({ min: 0, max: 4 }),
  removedIn: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constant(VERSION_MAX)),
};

/** Any mask: few rules share one. */
const arbAnyRule: fc.Arbitrary<Spec> = fc.record({
  priority: fc.integer({ min: 0, max: 12 }),
  fields: fc.array(
    fc.record({
      f: fc.integer({ min: 0, max: FIELDS.length - 1 }),
      value: fc.constantFrom(...VALUES),
      prefix: fc.constantFrom(32, 24, 8, 1),
    }),
    { maxLength: 4 },
  ),
  ...arbVersions,
});

/**
 * One of a few multi-stage masks (indexes into FIELDS), so that subtables hold many rules with
 * many distinct prefixes per stage.
 */
const TEMPLATES = [
  [0, 7], // in_port, tcp_dst
  [2, 5, 7], // eth_type, ipv4_dst, tcp_dst
  [1, 4], // pkt_mark, ipv4_src
  [0, 2, 6, 8], // in_port, eth_type, ip_proto, tcp_src
];
const arbTemplateRule: fc.Arbitrary<Spec> = fc
  .record({
    priority: fc.integer({ min: 0, max: 12 }),
    template: fc.integer({ min: 0, max: TEMPLATES.length - 1 }),
    values: fc.array(fc.constantFrom(...VALUES), { minLength: 4, maxLength: 4 }),
    ...arbVersions,
  })
  .map(({ template, values, ...rest }) => ({
    ...rest,
    fields: TEMPLATES[template]!.map((f, i) => ({ f, value: values[i]!, prefix: 32 })),
  }));

const arbRule: fc.Arbitrary<Spec> = fc.oneof(arbAnyRule, arbTemplateRule);

function build(spec: Spec, id: number): ClsRule<number> {
  const key = newFlowKey();
  const mask = newFlowKey();
  for (const { f, value, prefix } of spec.fields) {
    const d = FIELDS[f]!;
    const bits = Math.min(prefix, d.bits, 32);
    const top = Math.min(d.bits, 32);
    const m = bits >= 32 ? 0xffffffff : (((1 << bits) - 1) << (top - bits)) >>> 0;
    setField(mask, d, m);
    setField(key, d, (value & m) >>> 0);
  }
  for (let i = 0; i < FLOW_KEY_WORDS; i++) key[i] = (key[i]! & mask[i]!) >>> 0;
  return {
    key,
    mask,
    priority: spec.priority,
    value: id,
    addedIn: spec.addedIn,
    removedIn: spec.removedIn,
  };
}

function packetOf(vals: readonly number[]): FlowKey {
  const k = newFlowKey();
  FIELDS.forEach((d, i) => {
    const top = Math.min(d.bits, 32);
    setField(k, d, top >= 32 ? vals[i]! >>> 0 : vals[i]! & ((1 << top) - 1));
  });
  return k;
}

const arbPacket = fc
  .array(fc.constantFrom(...VALUES), { minLength: FIELDS.length, maxLength: FIELDS.length })
  .map(packetOf);

/** Any bits at all in every word (noise outside the rules' fields too). */
const arbNoise = fc
  .array(fc.integer({ min: 0, max: 0xffffffff }), {
    minLength: FLOW_KEY_WORDS,
    maxLength: FLOW_KEY_WORDS,
  })
  .map((ws) => Uint32Array.from(ws));

function oracle(
  rules: readonly ClsRule<number>[],
  pkt: FlowKey,
  version: number,
): ClsRule<number> | undefined {
  let best: ClsRule<number> | undefined;
  for (const r of rules)
    if (visibleAt(r, version) && matches(pkt, r) && (!best || r.priority > best.priority)) best = r;
  return best;
}

/** `p` on the bits of `wc`, `q` everywhere else. */
function within(p: FlowKey, wc: FlowKey, q: FlowKey): FlowKey {
  const out = newFlowKey();
  for (let i = 0; i < FLOW_KEY_WORDS; i++) out[i] = ((p[i]! & wc[i]!) | (q[i]! & ~wc[i]!)) >>> 0;
  return out;
}

t.test('every flow-key word has a stage, in layout groups', (t) => {
  t.equal(STAGE_OF_WORD.length, FLOW_KEY_WORDS);
  t.equal(STAGES[STAGE_OF_WORD[W.IN_PORT]!], 'metadata');
  t.equal(STAGES[STAGE_OF_WORD[W.METADATA]!], 'metadata');
  t.equal(STAGES[STAGE_OF_WORD[W.ETH_TYPE]!], 'l2');
  t.equal(STAGES[STAGE_OF_WORD[W.VLAN0]!], 'l2');
  t.equal(STAGES[STAGE_OF_WORD[W.NW_DST]!], 'l3');
  t.equal(STAGES[STAGE_OF_WORD[W.NW]!], 'l3');
  t.equal(STAGES[STAGE_OF_WORD[W.TP]!], 'l4');
  t.end();
});

t.test('lookup at random versions agrees with a linear scan of the visible rules', (t) => {
  fc.assert(
    fc.property(
      fc.array(arbRule, { maxLength: 40 }),
      fc.array(fc.tuple(arbPacket, fc.integer({ min: 0, max: 5 })), {
        minLength: 1,
        maxLength: 12,
      }),
      (specs, probes) => {
        const cls = new Classifier<number>();
        const rules = specs.map(build);
        rules.forEach((r) => cls.insert(r));
        for (const [p, v] of probes) {
          const got = cls.lookup(p, v);
          const want = oracle(rules, p, v);
          if (got?.priority !== want?.priority) return false;
          if (got && (!matches(p, got) || !visibleAt(got, v))) return false;
          // rules(v) is exactly the visible set.
        }
        const v = probes[0]![1];
        const listed = new Set(cls.rules(v));
        return (
          rules.every((r) => listed.has(r) === visibleAt(r, v)) &&
          listed.size === rules.filter((r) => visibleAt(r, v)).length
        );
      },
    ),
    { seed: 5150, numRuns: 400 },
  );
  t.pass('400 random rule sets with versions');
  t.end();
});

t.test('megaflow property: every packet within the returned mask gets the same rule', (t) => {
  fc.assert(
    fc.property(
      fc.array(arbRule, { maxLength: 40 }),
      arbPacket,
      fc.integer({ min: 0, max: 5 }),
      fc.array(fc.oneof(arbPacket, arbNoise), { minLength: 1, maxLength: 8 }),
      fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
      (specs, p, v, others, drop) => {
        const cls = new Classifier<number>();
        const all = specs.map(build);
        all.forEach((r) => cls.insert(r));
        // Random removals too (stage sets shrink, back to a single prefix).
        const rules = all.filter((r, i) => !(drop[i] && cls.remove(r)));
        const wc = newFlowKey();
        const r1 = cls.lookup(p, v, wc);
        // Never a bit that no rule's mask has (the mask is no narrower than it must be there).
        const union = newFlowKey();
        for (const r of rules) for (let i = 0; i < FLOW_KEY_WORDS; i++) union[i]! |= r.mask[i]!;
        for (let i = 0; i < FLOW_KEY_WORDS; i++) if ((wc[i]! & ~union[i]!) !== 0) return false;
        // Same rule for every packet agreeing with p on the consulted bits (and the oracle's
        // answer, so the mask is never wider than correct).
        for (const q of others) {
          const q2 = within(p, wc, q);
          const r2 = cls.lookup(q2, v);
          if (r2 !== r1) return false;
          if (oracle(rules, q2, v)?.priority !== r1?.priority) return false;
        }
        return true;
      },
    ),
    { seed: 8086, numRuns: 600 },
  );
  t.pass('600 random cases');
  t.end();
});

t.test('staged lookup narrows the megaflow: only the stages consulted are un-wildcarded', (t) => {
  const cls = new Classifier<string>();
  const rule = (fields: Record<string, number>, priority: number, value: string) => {
    const key = newFlowKey();
    const mask = newFlowKey();
    for (const [name, v] of Object.entries(fields)) {
      const d = field(name);
      setField(mask, d, d.bits >= 32 ? 0xffffffff : (1 << d.bits) - 1);
      setField(key, d, v);
    }
    return { key, mask, priority, value, addedIn: 0, removedIn: VERSION_MAX };
  };
  const pkt = (fields: Record<string, number>) => {
    const k = newFlowKey();
    for (const [name, v] of Object.entries(fields)) setField(k, field(name), v);
    return k;
  };
  const a = rule({ in_port: 1, tcp_dst: 80 }, 10, 'a');
  cls.insert(a);

  let wc = newFlowKey();
  t.equal(cls.lookup(pkt({ in_port: 2, tcp_dst: 80 }), 0, wc), undefined);
  t.equal(wc[W.IN_PORT], 0xffffffff, 'in_port consulted');
  t.equal(wc[W.TP], 0, 'tcp_dst left wildcarded: the packet failed at the metadata stage');

  wc = newFlowKey();
  t.equal(cls.lookup(pkt({ in_port: 1, tcp_dst: 81 }), 0, wc), undefined);
  t.equal(wc[W.IN_PORT], 0xffffffff);
  t.equal(wc[W.TP], 0xffff, 'tcp_dst consulted once in_port matched');

  wc = newFlowKey();
  t.equal(cls.lookup(pkt({ in_port: 1, tcp_dst: 80 }), 0, wc)?.value, 'a');
  t.equal(wc[W.TP], 0xffff);

  // Several prefixes in the stage set (no sole member).
  const b = rule({ in_port: 2, tcp_dst: 80 }, 10, 'b');
  cls.insert(b);
  wc = newFlowKey();
  t.equal(cls.lookup(pkt({ in_port: 3, tcp_dst: 80 }), 0, wc), undefined);
  t.equal(wc[W.TP], 0, 'in_port 3: neither prefix');
  wc = newFlowKey();
  t.equal(cls.lookup(pkt({ in_port: 2, tcp_dst: 80 }), 0, wc)?.value, 'b');
  t.equal(wc[W.TP], 0xffff);

  // Removing a rule drops its prefix again.
  t.ok(cls.remove(b));
  wc = newFlowKey();
  t.equal(cls.lookup(pkt({ in_port: 2, tcp_dst: 80 }), 0, wc), undefined);
  t.equal(wc[W.TP], 0, 'prefix of the removed rule gone');

  // Three stages: eth_type (L2), ipv4_dst (L3), tcp_dst (L4). An ARP packet consults L2 only.
  const c = rule({ eth_type: 0x0800, ipv4_dst: 0x0a000001, tcp_dst: 22 }, 5, 'c');
  cls.insert(c);
  wc = newFlowKey();
  t.equal(
    cls.lookup(pkt({ in_port: 9, eth_type: 0x0806, ipv4_dst: 0x0a000001 }), 0, wc),
    undefined,
  );
  t.equal(wc[W.ETH_TYPE], 0xffff);
  t.equal(wc[W.NW_DST], 0, 'ipv4_dst not consulted for ARP');
  t.equal(wc[W.TP], 0);
  wc = newFlowKey();
  t.equal(
    cls.lookup(pkt({ eth_type: 0x0800, ipv4_dst: 0x0a000002, tcp_dst: 22 }), 0, wc),
    undefined,
  );
  t.equal(
    wc[W.NW_DST],
    0xfffffffe,
    'ipv4_dst consulted up to the first bit that differs from 10.0.0.1 (nw_dst trie)',
  );
  t.equal(wc[W.TP], 0, 'tcp_dst not: the L3 stage failed');
  t.end();
});

t.test('versions: insert at a version, retire, restore, publish, rebase', (t) => {
  const cls = new Classifier<string>();
  const mk = (port: number, priority: number, value: string): ClsRule<string> => {
    const key = newFlowKey();
    const mask = newFlowKey();
    mask[W.IN_PORT] = 0xffffffff;
    key[W.IN_PORT] = port;
    return { key, mask, priority, value, addedIn: 0, removedIn: VERSION_MAX };
  };
  const pkt = newFlowKey();
  pkt[W.IN_PORT] = 1;
  const old = mk(1, 5, 'old');
  cls.insert(old, 0);
  t.equal(cls.version, 0);
  // Stage a replacement at version 1: same match and priority.
  const neu = mk(1, 5, 'new');
  cls.insert(neu, 1);
  cls.retire(old, 1);
  t.equal(cls.lookup(pkt)?.value, 'old', 'published version 0 sees the old rule');
  t.equal(cls.findExact(old.key, old.mask, 5)?.value, 'old');
  t.equal(cls.findExact(old.key, old.mask, 5, 1)?.value, 'new');
  t.same(
    [...cls.rules(0)].map((r) => r.value),
    ['old'],
  );
  t.same(
    [...cls.rules(1)].map((r) => r.value),
    ['new'],
  );
  t.equal(cls.size, 2, 'both stored while staged');
  cls.publish(1);
  t.equal(cls.version, 1);
  t.equal(cls.lookup(pkt)?.value, 'new', 'published in one step');
  t.equal(cls.lookup(pkt, 0)?.value, 'old', 'an older version still sees the old rule');
  t.ok(cls.remove(old));
  t.throws(() => cls.publish(0), RangeError, 'versions never go back');
  t.throws(() => cls.publish(VERSION_MAX), RangeError);

  // Discarding a staged change: restore the retired rule, remove the added one.
  const extra = mk(1, 9, 'extra');
  cls.insert(extra, 2);
  cls.retire(neu, 2);
  t.equal(cls.lookup(pkt, 2)?.value, 'extra');
  cls.restore(neu);
  cls.remove(extra);
  t.equal(cls.lookup(pkt, 2)?.value, 'new');
  t.equal(neu.removedIn, VERSION_MAX);

  // Rebase renumbers to 0 once nothing is staged.
  cls.publish(7);
  cls.rebaseVersions();
  t.equal(cls.version, 0);
  t.equal(neu.addedIn, 0);
  t.equal(cls.lookup(pkt)?.value, 'new');
  cls.insert(mk(2, 1, 'staged'), 1);
  t.throws(() => cls.rebaseVersions(), /staged/);
  t.end();
});

type FlowMod = MessageOf<'FLOW_MOD'>;

function flowMod(over: Partial<FlowMod> & { match: Match }): FlowMod {
  return {
    type: 'FLOW_MOD',
    xid: 1,
    cookie: 0n,
    cookieMask: 0n,
    tableId: 0,
    command: OFPFC.ADD,
    idleTimeout: 0,
    hardTimeout: 0,
    priority: 100,
    bufferId: 0xffffffff,
    outPort: OFPP.ANY,
    outGroup: 0xffffffff,
    flags: 0,
    instructions: [],
    ...over,
  };
}

const output = (port: number): FlowMod['instructions'] => [
  { type: 'APPLY_ACTIONS', actions: [{ type: 'OUTPUT', port, maxLen: 0 }] },
];

t.test('pipeline: a bundle is staged at V+1 and published in one step', (t) => {
  const removed: number[] = [];
  const p = new OpenFlowPipeline(new FakeClock(), {
    flowRemoved: (r) => removed.push(r.priority),
    hasPort: () => true,
  });
  const port = (n: number) => [{ field: 'in_port', value: n }] as Match;
  const key = (n: number) => {
    const k = newFlowKey();
    k[W.IN_PORT] = n;
    return k;
  };
  const outOf = (n: number) => {
    const r = p.lookup(0, key(n));
    const a = r?.instructions[0];
    return a?.type === 'APPLY_ACTIONS' && a.actions[0]?.type === 'OUTPUT'
      ? a.actions[0].port
      : undefined;
  };
  p.stage([
    flowMod({ match: port(1), instructions: output(10) }),
    flowMod({ match: port(2), instructions: output(20), flags: 1 /* SEND_FLOW_REM */ }),
  ]);
  t.equal(p.publishedVersion, 0, 'not published while staged');
  t.equal(outOf(1), undefined, 'staged rules are invisible');
  p.publishStaged();
  t.equal(p.publishedVersion, 1);
  t.equal(outOf(1), 10);
  t.equal(p.flowCount(), 2);

  // A plain flow-mod is its own version.
  p.handleMessage(
    undefined as never,
    flowMod({ match: port(3), instructions: output(30) }),
    new Uint8Array(),
  );
  t.equal(p.publishedVersion, 2);
  t.equal(outOf(3), 30);

  // Stage: replace in_port=1, delete in_port=2, add in_port=4, add then delete in_port=5.
  p.stage([
    flowMod({ match: port(1), instructions: output(11) }),
    flowMod({ match: port(2), command: OFPFC.DELETE_STRICT }),
    flowMod({ match: port(4), instructions: output(40) }),
    flowMod({ match: port(5), instructions: output(50) }),
    flowMod({ match: port(5), command: OFPFC.DELETE }),
  ]);
  t.same([outOf(1), outOf(2), outOf(4), outOf(5)], [10, 20, undefined, undefined], 'old rules');
  t.same(
    [...p.allRules()].map((r) => r.match[0]!.value).sort(),
    [1, 2, 3],
    'dumps see only the published rules',
  );
  t.equal(p.flowCount(), 3);
  t.same(removed, [], 'no FLOW_REMOVED before the commit');
  t.throws(() => p.stage([]), /staged/, 'one staged transaction at a time');
  p.publishStaged();
  t.same([outOf(1), outOf(2), outOf(4), outOf(5)], [11, undefined, 40, undefined], 'new rules');
  t.same([...p.allRules()].map((r) => r.match[0]!.value).sort(), [1, 3, 4]);
  t.equal(p.flowCount(), 3);
  t.same(removed, [100], 'FLOW_REMOVED after the commit');

  // MODIFY is staged too: lookups see the old instructions until the publish, later messages of
  // the transaction the new ones (a delete by out_port finds the modified rule).
  const r4 = [...p.allRules()].find((r) => r.match[0]!.value === 4)!;
  p.credit(r4, 3, 300);
  p.stage([
    flowMod({ match: port(1), command: OFPFC.MODIFY_STRICT, instructions: output(12) }),
    flowMod({
      match: port(4),
      command: OFPFC.MODIFY,
      instructions: output(44),
      flags: OFPFF.RESET_COUNTS,
    }),
    flowMod({ match: [], command: OFPFC.DELETE, tableId: 255, outPort: 44 }),
  ]);
  t.same([outOf(1), outOf(4)], [11, 40], 'modifications invisible while staged');
  t.equal(r4.packetCount, 3n, 'RESET_COUNTS waits for the commit');
  p.publishStaged();
  t.same([outOf(1), outOf(4)], [12, undefined], 'modified, and deleted through its new output');
  t.equal(r4.packetCount, 0n);
  p.stage([flowMod({ match: port(1), command: OFPFC.MODIFY, instructions: output(13) })]);
  p.discardStaged();
  t.equal(outOf(1), 12, 'a discarded modify leaves the rule alone');
  p.stage([flowMod({ match: port(4), instructions: output(40) })]);
  p.publishStaged();
  removed.length = 0;

  // Discard: nothing staged survives, the retired rules come back.
  p.stage([
    flowMod({ match: port(1), command: OFPFC.DELETE }),
    flowMod({ match: port(6), instructions: output(60) }),
  ]);
  p.discardStaged();
  t.same([outOf(1), outOf(6)], [12, undefined]);
  t.same([...p.allRules()].map((r) => r.match[0]!.value).sort(), [1, 3, 4]);
  t.equal(p.publishedVersion, 5, 'a discarded transaction publishes nothing');

  // A failing message discards the whole transaction and names the failing message.
  let failed: FlowMod | undefined;
  t.throws(() =>
    p.stage(
      [
        flowMod({ match: port(3), command: OFPFC.DELETE }),
        flowMod({ match: port(7), tableId: 254 }),
      ],
      (m) => (failed = m as FlowMod),
    ),
  );
  t.equal(failed?.tableId, 254);
  t.equal(outOf(3), 30, 'the delete before the failing message is undone');
  t.equal(p.flowCount(), 3);
  p.stage([flowMod({ match: port(8), instructions: output(80) })]);
  p.publishStaged();
  t.equal(outOf(8), 80, 'the pipeline takes new transactions after a failure');
  p.close();
  t.end();
});

t.test('pipeline: a bundle of many flows replaces many flows atomically', (t) => {
  const p = new OpenFlowPipeline(new FakeClock(), { flowRemoved: () => {}, hasPort: () => true });
  const n = 2000;
  const m = (i: number): Match => [
    { field: 'eth_type', value: 0x0800 },
    { field: 'ipv4_dst', value: 0x0a000000 + i },
  ];
  p.stage(Array.from({ length: n }, (_, i) => flowMod({ match: m(i), instructions: output(1) })));
  p.publishStaged();
  p.stage(Array.from({ length: n }, (_, i) => flowMod({ match: m(i), instructions: output(2) })));
  const k = newFlowKey();
  k[W.ETH_TYPE] = 0x0800;
  const port = (i: number): number | undefined => {
    k[W.NW_DST] = 0x0a000000 + i;
    const a = p.lookup(0, k)?.instructions[0];
    return a?.type === 'APPLY_ACTIONS' && a.actions[0]?.type === 'OUTPUT'
      ? a.actions[0].port
      : undefined;
  };
  let old = 0;
  for (let i = 0; i < n; i++) if (port(i) === 1) old++;
  t.equal(old, n, 'every lookup before publishing sees the old rules');
  p.publishStaged();
  let neu = 0;
  for (let i = 0; i < n; i++) if (port(i) === 2) neu++;
  t.equal(neu, n, 'every lookup after publishing sees the new rules');
  t.equal(p.flowCount(), n);
  t.equal([...p.allRules()].length, n, 'the replaced rules are gone for good');
  p.close();
  t.end();
});

t.test('pipeline: the version counter is rebased to 0 before it reaches VERSION_MAX', (t) => {
  const p = new OpenFlowPipeline(new FakeClock(), { flowRemoved: () => {}, hasPort: () => true });
  const add = (port: number, out: number) => {
    p.stage([flowMod({ match: [{ field: 'in_port', value: port }], instructions: output(out) })]);
    p.publishStaged();
  };
  add(1, 10);
  // Jump close to the end (10^9 commits would take an hour).
  (p as unknown as { version: number }).version = VERSION_MAX - 3;
  add(2, 20);
  t.equal(p.publishedVersion, VERSION_MAX - 2);
  add(3, 30);
  t.equal(p.publishedVersion, 0, 'rebased');
  add(1, 11);
  t.equal(p.publishedVersion, 1);
  const k = newFlowKey();
  const got: (number | undefined)[] = [];
  for (const port of [1, 2, 3]) {
    k[W.IN_PORT] = port;
    const a = p.lookup(0, k)?.instructions[0];
    got.push(
      a?.type === 'APPLY_ACTIONS' && a.actions[0]?.type === 'OUTPUT'
        ? a.actions[0].port
        : undefined,
    );
  }
  t.same(got, [11, 20, 30], 'every rule visible after the rebase');
  t.equal(p.flowCount(), 3);
  p.close();
  t.end();
});

t.test('through xlate: the megaflow of an in_port mismatch leaves tp_dst wildcarded', (t) => {
  const clock = new FakeClock();
  const sw = new Ofproto({ name: 'br0', datapathId: 1n, clock });
  for (const n of [1, 2, 3])
    sw.addPort({
      ofport: n,
      name: `p${n}`,
      hwAddr: 0x10 + n,
      config: 0,
      state: OFPPS.LIVE,
      curr: 0,
      currSpeed: 0,
      maxSpeed: 0,
      dpPort: n + 1,
    });
  const x = new Xlate({ ofproto: sw, clock, failMode: 'secure' });
  // in_port=1,tcp,tp_dst=80 → output:2 (stages: metadata, L2, L3, L4).
  sw.tables.handleMessage(
    undefined as never,
    flowMod({
      priority: 10,
      match: [
        { field: 'in_port', value: 1 },
        { field: 'eth_type', value: 0x800 },
        { field: 'ip_proto', value: 6 },
        { field: 'tcp_dst', value: 80 },
      ],
      instructions: output(2),
    }),
    new Uint8Array(),
  );
  const cmds = new Map<string, CommandSpec>();
  registerOfprotoCommands(
    { register: (c) => cmds.set(c.name, c) },
    mapDirectory(new Map([['br0', x]])),
  );
  const trace = (flow: string): string =>
    cmds.get('ofproto/trace')!.handler(['br0', flow]) as string;
  const megaflow = (out: string): string => /^Megaflow: (.*)$/m.exec(out)?.[1] ?? '';
  // Expected megaflows captured from OVS 3.1 (ovs-appctl ofproto/trace, userspace datapath,
  // the same flow added with ovs-ofctl -O OpenFlow13 add-flow).
  const miss = megaflow(trace('in_port=3,tcp,nw_dst=10.0.0.1,tp_dst=80'));
  t.equal(miss, 'recirc_id=0,eth,ip,in_port=3,nw_frag=no', 'as OVS 3.1');
  t.notMatch(miss, /tp_dst/, 'tp_dst not consulted: the lookup failed at the metadata stage');
  const hit = trace('in_port=1,tcp,nw_dst=10.0.0.1,tp_dst=80');
  t.match(hit, /Datapath actions: 3/);
  t.equal(megaflow(hit), 'recirc_id=0,eth,tcp,in_port=1,nw_frag=no,tp_dst=80', 'as OVS 3.1');
  const other = megaflow(trace('in_port=1,tcp,nw_dst=10.0.0.1,tp_dst=81'));
  t.equal(other, 'recirc_id=0,eth,tcp,in_port=1,nw_frag=no,tp_dst=81', 'as OVS 3.1');
  t.end();
});

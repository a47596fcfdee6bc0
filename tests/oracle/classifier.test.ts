/**
 * The classifier against a linear-scan oracle on random rule sets and packets, plus the megaflow
 * property: every packet that agrees with a looked-up packet on the bits the lookup reported
 * gets the same rule.
 */
import fc from 'fast-check';
import t from 'tap';
import {
  FLOW_KEY_WORDS,
  field,
  newFlowKey,
  setField,
  type FlowKey,
} from '../../lib/packet/flow-key.js';
import { Classifier, VERSION_MAX, matches, type ClsRule } from '../../ofproto/classifier.js';

const FIELDS = ['in_port', 'eth_type', 'ipv4_src', 'ipv4_dst', 'tcp_dst', 'ip_proto'].map(field);
const VALUES = [0, 1, 2, 0x0800, 0x0a000001, 0x0a000002, 80, 6];

interface Spec {
  priority: number;
  fields: { f: number; value: number; prefix: number }[];
}

const arbRule: fc.Arbitrary<Spec> = fc.record({
  priority: fc.integer({ min: 0, max: 20 }),
  fields: fc.array(
    fc.record({
      f: fc.integer({ min: 0, max: FIELDS.length - 1 }),
      value: fc.constantFrom(...VALUES),
      prefix: fc.constantFrom(32, 24, 8, 1),
    }),
    { maxLength: 3 },
  ),
});

function build(spec: Spec, id: number): ClsRule<number> {
  const key = newFlowKey();
  const mask = newFlowKey();
  for (const { f, value, prefix } of spec.fields) {
    const d = FIELDS[f]!;
    const bits = Math.min(prefix, d.bits);
    const m = bits >= 32 ? 0xffffffff : (((1 << bits) - 1) << (d.bits - bits)) >>> 0;
    const fm = d.bits >= 32 ? m : m & ((1 << d.bits) - 1);
    setField(mask, d, fm >>> 0);
    setField(key, d, (value & fm) >>> 0);
  }
  for (let i = 0; i < FLOW_KEY_WORDS; i++) key[i] = (key[i]! & mask[i]!) >>> 0;
  return { key, mask, priority: spec.priority, value: id, addedIn: 0, removedIn: VERSION_MAX };
}

const arbPacket = fc
  .array(fc.constantFrom(...VALUES), { minLength: FIELDS.length, maxLength: FIELDS.length })
  .map((vals) => {
    const k = newFlowKey();
    FIELDS.forEach((d, i) =>
      setField(k, d, d.bits >= 32 ? vals[i]! >>> 0 : vals[i]! & ((1 << d.bits) - 1)),
    );
    return k;
  });

function oracle(rules: ClsRule<number>[], pkt: FlowKey): ClsRule<number> | undefined {
  let best: ClsRule<number> | undefined;
  for (const r of rules) if (matches(pkt, r) && (!best || r.priority > best.priority)) best = r;
  return best;
}

t.test('lookup agrees with a linear scan (priority of the winner)', (t) => {
  fc.assert(
    fc.property(
      fc.array(arbRule, { maxLength: 40 }),
      fc.array(arbPacket, { minLength: 1, maxLength: 10 }),
      (specs, pkts) => {
        const cls = new Classifier<number>();
        const rules = specs.map(build);
        rules.forEach((r) => cls.insert(r));
        for (const p of pkts) {
          const got = cls.lookup(p);
          const want = oracle(rules, p);
          if (got?.priority !== want?.priority) return false;
          if (got && !matches(p, got)) return false;
        }
        return true;
      },
    ),
    { seed: 424242, numRuns: 300 },
  );
  t.pass('300 random rule sets');
  t.end();
});

t.test('megaflow property: packets equal on the consulted bits get the same rule', (t) => {
  fc.assert(
    fc.property(fc.array(arbRule, { maxLength: 40 }), arbPacket, arbPacket, (specs, p, q) => {
      const cls = new Classifier<number>();
      specs.map(build).forEach((r) => cls.insert(r));
      const wc = newFlowKey();
      const r1 = cls.lookup(p, 0, wc);
      // q' agrees with p on every consulted bit and with q elsewhere.
      const q2 = newFlowKey();
      for (let i = 0; i < FLOW_KEY_WORDS; i++) q2[i] = ((p[i]! & wc[i]!) | (q[i]! & ~wc[i]!)) >>> 0;
      return cls.lookup(q2) === r1;
    }),
    { seed: 1337, numRuns: 500 },
  );
  t.pass('500 random cases');
  t.end();
});

t.test('remove, findExact and versions', (t) => {
  const cls = new Classifier<number>();
  const a = build({ priority: 5, fields: [{ f: 0, value: 1, prefix: 32 }] }, 1);
  const b = build({ priority: 9, fields: [{ f: 1, value: 0x0800, prefix: 32 }] }, 2);
  cls.insert(a);
  cls.insert(b);
  const pkt = newFlowKey();
  setField(pkt, field('in_port'), 1);
  setField(pkt, field('eth_type'), 0x0800);
  t.equal(cls.lookup(pkt)?.value, 2);
  t.equal(cls.findExact(b.key, b.mask, 9)?.value, 2);
  t.equal(cls.findExact(b.key, b.mask, 8), undefined);
  b.removedIn = 3;
  t.equal(cls.lookup(pkt, 2)?.value, 2, 'still visible at version 2');
  t.equal(cls.lookup(pkt, 3)?.value, 1, 'retired at version 3');
  t.ok(cls.remove(b));
  t.notOk(cls.remove(b));
  t.equal(cls.size, 1);
  t.equal(cls.subtableCount, 1);
  t.end();
});

t.test('lookup agrees with a linear scan after random removals', (t) => {
  fc.assert(
    fc.property(
      fc.array(arbRule, { maxLength: 40 }),
      fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
      fc.array(arbPacket, { minLength: 1, maxLength: 8 }),
      (specs, drop, pkts) => {
        const cls = new Classifier<number>();
        const rules = specs.map(build);
        rules.forEach((r) => cls.insert(r));
        const kept = rules.filter((r, i) => {
          if (drop[i]) {
            cls.remove(r);
            return false;
          }
          return true;
        });
        if (cls.size !== kept.length) return false;
        return pkts.every((p) => cls.lookup(p)?.priority === oracle(kept, p)?.priority);
      },
    ),
    { seed: 777, numRuns: 300 },
  );
  t.pass('300 random insert/remove sets');
  t.end();
});

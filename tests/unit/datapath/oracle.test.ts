/**
 * The datapath caches against a linear model: a small priority rule table plays xlate (reporting
 * as its wildcards the masks of every rule it looked at, as the classifier does), random packets
 * go through the datapath, and every packet must leave by the port the linear scan picks,
 * whether it hit the EMC, a megaflow, or went up. Pinned seeds.
 */
import t from 'tap';
import { W, newFlowKey, type FlowKey } from '../../../lib/packet/flow-key.js';
import type { UpcallHandler } from '../../../datapath/dpif.js';
import { keyOf, pkt, testDp } from './helpers.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Rule {
  mask: FlowKey;
  value: FlowKey;
  port: number;
}

const PREFIXES = [0, 8, 16, 24, 32];

function randomRules(r: () => number, n: number): Rule[] {
  const rules: Rule[] = [];
  for (let i = 0; i < n; i++) {
    const mask = newFlowKey();
    const value = newFlowKey();
    mask[W.ETH_TYPE] = 0xffff;
    value[W.ETH_TYPE] = 0x0800;
    const bits = PREFIXES[Math.floor(r() * PREFIXES.length)]!;
    mask[W.NW_DST] = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    value[W.NW_DST] =
      ((10 << 24) | (Math.floor(r() * 4) << 8) | Math.floor(r() * 4)) & mask[W.NW_DST]!;
    if (r() < 0.4) {
      mask[W.NW] = 0xff;
      value[W.NW] = r() < 0.5 ? 6 : 17;
      if (r() < 0.5) {
        mask[W.TP] = 0xffff;
        value[W.TP] = Math.floor(r() * 3);
      }
    }
    if (r() < 0.3) {
      mask[W.IN_PORT] = 0xffffffff;
      value[W.IN_PORT] = 1 + Math.floor(r() * 2);
    }
    rules.push({ mask, value, port: 1 + Math.floor(r() * 3) });
  }
  // Catch-all last.
  rules.push({ mask: newFlowKey(), value: newFlowKey(), port: 3 });
  return rules;
}

function matches(key: FlowKey, rule: Rule): boolean {
  for (let i = 0; i < key.length; i++)
    if ((key[i]! & rule.mask[i]!) >>> 0 !== rule.value[i]) return false;
  return true;
}

function linear(rules: Rule[], key: FlowKey, wc?: FlowKey): Rule {
  for (const rule of rules) {
    if (wc) for (let i = 0; i < wc.length; i++) wc[i] = (wc[i]! | rule.mask[i]!) >>> 0;
    if (matches(key, rule)) return rule;
  }
  throw new Error('no catch-all');
}

for (const seed of [1, 2, 3, 42, 1234]) {
  t.test(`seed ${seed}: every packet leaves where the linear table says`, async (t) => {
    const r = rng(seed);
    const rules = randomRules(r, 12);
    const { dp, ports } = testDp(3);
    let upcalls = 0;
    const handler: UpcallHandler = {
      upcall: (batch) =>
        batch.map((req) => {
          upcalls++;
          const wc = newFlowKey();
          const rule = linear(rules, req.key, wc);
          return { actions: [{ type: 'output', port: rule.port }], mask: wc };
        }),
    };
    dp.setUpcallHandler(handler);
    let bad = 0;
    for (let i = 0; i < 400; i++) {
      const proto = r() < 0.5 ? 'tcp' : 'udp';
      const frame = pkt(
        `dl_src=00:00:00:00:00:0${1 + Math.floor(r() * 3)},dl_dst=00:00:00:00:00:09,${proto},` +
          `nw_src=192.168.0.${Math.floor(r() * 4)},nw_dst=10.0.${Math.floor(r() * 4)}.${Math.floor(r() * 4)},` +
          `tp_src=${Math.floor(r() * 3)},tp_dst=${Math.floor(r() * 3)}`,
      );
      const inPort = 1 + Math.floor(r() * 2);
      const want = linear(rules, keyOf(frame, inPort)).port;
      ports[inPort - 1]!.receive(frame);
      dp.poll();
      const got = ports.map((p) => p.takeSent().length);
      const expect = [0, 0, 0];
      expect[want - 1] = 1;
      if (got.join() !== expect.join()) bad++;
    }
    t.equal(bad, 0, 'no packet forwarded differently from the table');
    const s = dp.stats();
    t.ok(
      s.emcHits + s.megaflowHits > 100,
      `caches used (${s.emcHits} EMC, ${s.megaflowHits} megaflow, ${upcalls} upcalls)`,
    );
  });
}

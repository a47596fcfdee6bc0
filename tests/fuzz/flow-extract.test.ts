/**
 * Property tests for lib/packet: the extractor never throws on any bytes; build → extract is the
 * identity on canonical flow keys (keys an extraction can produce); parse(formatFlow(key)) gives
 * the key back; print∘parse∘print is stable for megaflow masks; mask operations are idempotent
 * and hashMasked agrees with hashing the masked key. Seeds are pinned (FC_SEED overrides).
 */
import fc from 'fast-check';
import t from 'tap';
import { buildFrame } from '../../lib/packet/build.js';
import {
  verifyIPv4HeaderChecksum,
  verifyL4Checksum,
  verifySctpChecksum,
} from '../../lib/packet/checksum.js';
import { LAYER, LAYER_COUNT, extractFlowKey } from '../../lib/packet/extract.js';
import {
  FLOW_KEY_WORDS,
  FRAG_LATER,
  W,
  hashKey,
  hashMasked,
  keyEquals,
  maskCovers,
  maskKey,
  maskUnion,
  maskedEquals,
  newFlowKey,
  packetMask,
} from '../../lib/packet/flow-key.js';
import { formatFlow, formatMatch, parseFlow } from '../../lib/packet/format.js';
import { canonicalKey, u32 } from '../unit/lib/packet/arbitraries.js';

/** Print the fields OVS lacks too, so that the text is lossless. */
const EXT = { extensions: true };

const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : 0x5eed;
const params = (numRuns: number) => ({ seed, numRuns });

t.test('random bytes never make the extractor throw', (t) => {
  const k = newFlowKey();
  const layers = new Int32Array(LAYER_COUNT);
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 200 }),
      fc.integer({ min: -4, max: 210 }),
      fc.integer({ min: -4, max: 300 }),
      (bytes, off, len) => {
        extractFlowKey(bytes, off, len, 1, k, undefined, layers);
        for (let i = 0; i < FLOW_KEY_WORDS; i++) if (!Number.isInteger(k[i])) return false;
        return true;
      },
    ),
    params(20000),
  );
  t.pass('no throw over 20000 random inputs');
  t.end();
});

t.test('random bytes behind a valid Ethernet/IP prefix never throw', (t) => {
  const k = newFlowKey();
  const prefixes = [
    '0000000000020000000000010800',
    '00000000000200000000000186dd',
    '0000000000020000000000018100000186dd',
    '00000000000200000000000188a8000181000002',
    '0000000000020000000000018847',
    '0000000000020000000000010806',
    '000000000002000000000001001aaaaa03000000',
  ].map((h) => Uint8Array.from(h.match(/../g)!.map((x) => parseInt(x, 16))));
  fc.assert(
    fc.property(fc.constantFrom(...prefixes), fc.uint8Array({ maxLength: 120 }), (p, tail) => {
      const f = new Uint8Array(p.length + tail.length);
      f.set(p);
      f.set(tail, p.length);
      // Make IPv4/IPv6 length fields plausible half of the time.
      extractFlowKey(f, 0, f.length, 2, k);
      return true;
    }),
    params(20000),
  );
  t.pass('no throw');
  t.end();
});

t.test('build → extract is the identity on canonical keys, with valid checksums', (t) => {
  const got = newFlowKey();
  const layers = new Int32Array(LAYER_COUNT);
  fc.assert(
    fc.property(canonicalKey, fc.uint8Array({ maxLength: 16 }), (key, payload) => {
      const frame = buildFrame(key, { payload, minSize: 60 });
      extractFlowKey(frame, 0, frame.length, key[W.IN_PORT]!, got, undefined, layers);
      if (!keyEquals(key, got)) {
        throw new Error(`mismatch:\n want ${formatFlow(key)}\n got  ${formatFlow(got)}`);
      }
      const t2 = key[W.ETH_TYPE]!;
      const l3 = layers[LAYER.L3]!;
      const l4 = layers[LAYER.L4]!;
      const end = layers[LAYER.L3_END]!;
      if (t2 === 0x0800 && !verifyIPv4HeaderChecksum(frame, l3)) return false;
      const proto = key[W.NW]! & 0xff;
      const later = ((key[W.NW]! >>> 24) & FRAG_LATER) !== 0;
      if ((t2 === 0x0800 || t2 === 0x86dd) && !later && l4 >= 0) {
        const v6 = t2 === 0x86dd;
        const known = [6, 17, 58].includes(proto) || (!v6 && (proto === 1 || proto === 2));
        if (known && !verifyL4Checksum(frame, l3, l4, end - l4, proto, v6)) return false;
        if (proto === 132 && !verifySctpChecksum(frame, l4, end - l4)) return false;
      }
      return true;
    }),
    params(3000),
  );
  t.pass('round trip');
  t.end();
});

t.test('parse(formatFlow(key)).key is the key', (t) => {
  fc.assert(
    fc.property(canonicalKey, (key) => {
      const s = formatFlow(key, EXT);
      const back = parseFlow(s).key;
      if (!keyEquals(back, key)) throw new Error(`${s}\n -> ${formatFlow(back, EXT)}`);
      return true;
    }),
    params(3000),
  );
  t.pass('identity');
  t.end();
});

/** Words whose mask may be dropped or made partial without breaking prerequisites. */
const OPTIONAL_WORDS = [
  W.ETH_DST,
  W.ETH_DST + 1,
  W.ETH_SRC,
  W.ETH_SRC + 1,
  W.VLAN0,
  W.NW_SRC,
  W.NW_DST,
  W.IPV6_SRC + 3,
  W.IPV6_DST,
  W.TP,
  W.PKT_MARK,
  W.DP_HASH,
];

t.test('megaflow text: print∘parse∘print is stable for random sub-masks', (t) => {
  fc.assert(
    fc.property(
      canonicalKey,
      fc.array(fc.tuple(fc.constantFrom(...OPTIONAL_WORDS), u32), { maxLength: 6 }),
      fc.boolean(),
      (key, tweaks, dropInPort) => {
        const mask = newFlowKey();
        packetMask(key, mask);
        if (dropInPort) mask[W.IN_PORT] = 0; // in_port is not maskable: all or nothing
        for (const [w, m] of tweaks) mask[w] = (mask[w]! & m) >>> 0;
        // Keep only tci bits of VLAN masks (the TPID is printed only in flows).
        mask[W.VLAN0] = mask[W.VLAN0]! & 0xffff;
        mask[W.VLAN1] = mask[W.VLAN1]! & 0xffff;
        const s1 = formatMatch(key, mask, undefined, EXT);
        const p = parseFlow(s1);
        const s2 = formatMatch(p.key, p.mask, undefined, EXT);
        if (s1 !== s2) throw new Error(`${s1}\n!= ${s2}`);
        // And the parsed match selects the same packets: key&mask agrees on every masked bit.
        const a = newFlowKey();
        const b = newFlowKey();
        maskKey(key, p.mask, a);
        maskKey(p.key, p.mask, b);
        return keyEquals(a, b);
      },
    ),
    params(3000),
  );
  t.pass('stable');
  t.end();
});

const anyKey = fc.uint32Array({ minLength: FLOW_KEY_WORDS, maxLength: FLOW_KEY_WORDS });

t.test('mask application is idempotent; hashMasked = hashKey∘maskKey', (t) => {
  fc.assert(
    fc.property(anyKey, anyKey, anyKey, (key, mask, mask2) => {
      const once = newFlowKey();
      const twice = newFlowKey();
      maskKey(key, mask, once);
      maskKey(once, mask, twice);
      if (!keyEquals(once, twice)) return false;
      if (!maskedEquals(key, mask, once)) return false;
      if (hashMasked(key, mask) !== hashKey(once)) return false;
      // A wider mask (union) covers both; masking by the union then the mask = masking by the mask.
      const u = newFlowKey();
      maskUnion(mask, mask2, u);
      if (!maskCovers(u, mask) || !maskCovers(u, mask2)) return false;
      const viaU = newFlowKey();
      maskKey(key, u, viaU);
      maskKey(viaU, mask, viaU);
      return keyEquals(viaU, once);
    }),
    params(5000),
  );
  t.pass('idempotent');
  t.end();
});

t.test('hashKey spreads single-bit differences', (t) => {
  const seen = new Set<number>();
  const k = newFlowKey();
  for (let w = 0; w < FLOW_KEY_WORDS; w++) {
    for (let b = 0; b < 32; b++) {
      k.fill(0);
      k[w] = (1 << b) >>> 0;
      seen.add(hashKey(k));
    }
  }
  t.equal(seen.size, FLOW_KEY_WORDS * 32, 'no collisions among single-bit keys');
  t.end();
});

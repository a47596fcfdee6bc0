/**
 * fast-check arbitraries for flow keys, shared by the packet property tests (not a test file).
 * {@link canonicalKey} generates keys an extraction of a well-formed frame can produce, so that
 * build → extract and print → parse are identities on them.
 */
import fc from 'fast-check';
import type { FlowKey } from '../../../../lib/packet/flow-key.js';
import {
  FRAG_ANY,
  FRAG_LATER,
  IPV6_EXTHDR,
  VLAN_CFI,
  W,
  newFlowKey,
} from '../../../../lib/packet/flow-key.js';

export const u32 = fc.integer({ min: 0, max: 0xffffffff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u8 = fc.integer({ min: 0, max: 0xff });
const KNOWN_TYPES = new Set([
  0x0800, 0x86dd, 0x0806, 0x8035, 0x8100, 0x88a8, 0x8847, 0x8848, 0x88e7,
]);
const EXT_PROTOS = new Set([0, 43, 44, 50, 51, 59, 60]);

/** A mutable key under construction. */
type K = Uint32Array;

const l2 = fc.record({
  inPort: u32,
  dst: fc.tuple(u16, u32),
  src: fc.tuple(u16, u32),
  vlans: fc.array(fc.tuple(fc.constantFrom(0x8100, 0x88a8), u16), { maxLength: 2 }),
});

const ipv4 = fc.record({
  kind: fc.constant('ipv4' as const),
  src: u32,
  dst: u32,
  tos: u8,
  ttl: u8,
  frag: fc.constantFrom(0, FRAG_ANY, FRAG_ANY | FRAG_LATER),
  proto: fc.oneof(fc.constantFrom(6, 17, 132, 1, 2), u8),
  tp: u32,
  flags: fc.integer({ min: 0, max: 0xfff }),
});

const ipv6 = fc.record({
  kind: fc.constant('ipv6' as const),
  src: fc.array(u32, { minLength: 4, maxLength: 4 }),
  dst: fc.array(u32, { minLength: 4, maxLength: 4 }),
  label: fc.integer({ min: 0, max: 0xfffff }),
  tos: u8,
  ttl: u8,
  ext: fc.record({
    hop: fc.boolean(),
    dest: fc.boolean(),
    router: fc.boolean(),
    auth: fc.boolean(),
  }),
  frag: fc.constantFrom('none', 'atomic', 'first', 'later'),
  proto: fc.oneof(fc.constantFrom(6, 17, 132, 58, 50, 59), u8),
  tp: u32,
  flags: fc.integer({ min: 0, max: 0xfff }),
  nd: fc.boolean(),
  target: fc.array(u32, { minLength: 4, maxLength: 4 }),
  sll: fc.option(fc.tuple(u16, u32)),
  tll: fc.option(fc.tuple(u16, u32)),
});

const arp = fc.record({
  kind: fc.constantFrom('arp' as const, 'rarp' as const),
  op: u8,
  spa: u32,
  tpa: u32,
  sha: fc.tuple(u16, u32),
  tha: fc.tuple(u16, u32),
});

const mpls = fc.record({
  kind: fc.constant('mpls' as const),
  mcast: fc.boolean(),
  lses: fc.array(u32, { minLength: 1, maxLength: 3 }),
});

const other = fc.record({
  kind: fc.constant('other' as const),
  type: fc.integer({ min: 0x0600, max: 0xffff }).filter((x) => !KNOWN_TYPES.has(x)),
});

const llc = fc.record({ kind: fc.constant('llc' as const) });

/** Canonical flow keys: exactly what extracting a well-formed frame can produce. */
export const canonicalKey: fc.Arbitrary<FlowKey> = fc
  .tuple(l2, fc.oneof(ipv4, ipv6, arp, mpls, other, llc))
  .map(([a, l3]) => {
    const k: K = newFlowKey();
    k[W.IN_PORT] = a.inPort;
    k[W.ETH_DST] = a.dst[0];
    k[W.ETH_DST + 1] = a.dst[1];
    k[W.ETH_SRC] = a.src[0];
    k[W.ETH_SRC + 1] = a.src[1];
    a.vlans.forEach(([tpid, tci], i) => (k[W.VLAN0 + i] = ((tpid << 16) | tci | VLAN_CFI) >>> 0));
    switch (l3.kind) {
      case 'llc':
        k[W.ETH_TYPE] = 0x05ff;
        break;
      case 'other':
        k[W.ETH_TYPE] = l3.type;
        break;
      case 'mpls':
        k[W.ETH_TYPE] = l3.mcast ? 0x8848 : 0x8847;
        l3.lses.forEach((lse, i) => {
          const last = i === l3.lses.length - 1;
          k[W.MPLS0 + i] = (last ? lse | 0x100 : lse & ~0x100) >>> 0;
        });
        break;
      case 'arp':
      case 'rarp':
        k[W.ETH_TYPE] = l3.kind === 'arp' ? 0x0806 : 0x8035;
        k[W.NW] = l3.op;
        k[W.NW_SRC] = l3.spa;
        k[W.NW_DST] = l3.tpa;
        k[W.ARP_SHA] = l3.sha[0];
        k[W.ARP_SHA + 1] = l3.sha[1];
        k[W.ARP_THA] = l3.tha[0];
        k[W.ARP_THA + 1] = l3.tha[1];
        break;
      case 'ipv4': {
        k[W.ETH_TYPE] = 0x0800;
        k[W.NW_SRC] = l3.src;
        k[W.NW_DST] = l3.dst;
        k[W.NW] = ((l3.frag << 24) | (l3.ttl << 16) | (l3.tos << 8) | l3.proto) >>> 0;
        if ((l3.frag & FRAG_LATER) === 0) {
          if (l3.proto === 6) {
            k[W.TP] = l3.tp;
            k[W.TCP_FLAGS] = l3.flags;
          } else if (l3.proto === 17 || l3.proto === 132) {
            k[W.TP] = l3.tp;
          } else if (l3.proto === 1 || l3.proto === 2) {
            k[W.TP] = l3.tp & 0x00ff00ff;
          }
        }
        break;
      }
      case 'ipv6': {
        k[W.ETH_TYPE] = 0x86dd;
        for (let i = 0; i < 4; i++) {
          k[W.IPV6_SRC + i] = l3.src[i]!;
          k[W.IPV6_DST + i] = l3.dst[i]!;
        }
        k[W.IPV6_LABEL] = l3.label;
        const later = l3.frag === 'later';
        let proto = l3.proto;
        if (EXT_PROTOS.has(proto) && proto !== 50 && proto !== 59) proto = 17;
        let ext = 0;
        if (l3.ext.hop) ext |= IPV6_EXTHDR.HOP;
        if (l3.ext.dest) ext |= IPV6_EXTHDR.DEST;
        if (l3.ext.router) ext |= IPV6_EXTHDR.ROUTER;
        if (l3.frag !== 'none') ext |= IPV6_EXTHDR.FRAG;
        // Headers after a later fragment are not seen by the extractor.
        if (l3.ext.auth && !later) ext |= IPV6_EXTHDR.AUTH;
        let frag = 0;
        if (l3.frag === 'first') frag = FRAG_ANY;
        if (later) {
          frag = FRAG_ANY | FRAG_LATER;
          proto = 44;
        } else if (proto === 50) ext |= IPV6_EXTHDR.ESP;
        else if (proto === 59) ext |= IPV6_EXTHDR.NONEXT;
        k[W.NW] = ((frag << 24) | (l3.ttl << 16) | (l3.tos << 8) | proto) >>> 0;
        k[W.TCP_FLAGS] = ext << 16;
        if (!later) {
          if (proto === 6) {
            k[W.TP] = l3.tp;
            k[W.TCP_FLAGS] = (k[W.TCP_FLAGS]! | l3.flags) >>> 0;
          } else if (proto === 17 || proto === 132) {
            k[W.TP] = l3.tp;
          } else if (proto === 58) {
            const type = l3.nd ? (l3.tp & 1 ? 136 : 135) : (l3.tp >>> 16) & 0xff;
            const code = l3.nd ? 0 : l3.tp & 0xff;
            k[W.TP] = ((type << 16) | code) >>> 0;
            if (code === 0 && (type === 135 || type === 136)) {
              for (let i = 0; i < 4; i++) k[W.ND_TARGET + i] = l3.target[i]!;
              if (l3.sll) {
                k[W.ARP_SHA] = l3.sll[0];
                k[W.ARP_SHA + 1] = l3.sll[1];
              }
              if (l3.tll) {
                k[W.ARP_THA] = l3.tll[0];
                k[W.ARP_THA + 1] = l3.tll[1];
              }
            }
          }
        }
        break;
      }
    }
    return k;
  });

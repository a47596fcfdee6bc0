/**
 * OpenFlow 1.3 actions: one descriptor per action type (wire code, fixed layout or variable
 * length, checks) and one generic loop that decodes and encodes action lists.
 *
 * Decode-time checks (stateless, as Open vSwitch does them while decoding): a length not a
 * multiple of 8, below 8 or past the list → BAD_LEN; an unknown type → BAD_TYPE; a fixed-size
 * action of another length → BAD_LEN; OUTPUT to ANY, to OFPP_MAX..0xfffffff7 or to a port OVS
 * cannot represent (0xff00..OFPP_MAX) → BAD_OUT_PORT;
 * PUSH_VLAN/PUSH_MPLS/PUSH_PBB with a foreign ethertype → BAD_ARGUMENT; SET_FIELD errors
 * (unknown field → BAD_SET_TYPE, mask → ONF BAD_SET_MASK, read-only field or bad value →
 * BAD_SET_ARGUMENT, non-zero padding → BAD_SET_ARGUMENT). Consistency with the flow's match is
 * {@link checkActionsConsistency} (MATCH_INCONSISTENT).
 */
import { Reader, type Writer } from './bytes.js';
import { OFPP, OVS_PORT_LIMIT } from './constants.js';
import { OfpError } from './errors.js';
import { layoutSize, readLayout, writeLayout, type Layout } from './layout.js';
import {
  OXM_BY_NAME,
  decodeOxmEntry,
  encodeOxmEntry,
  fullMask,
  oxmEntryLength,
  type OxmEntry,
  type OxmFieldName,
  type OxmValue,
} from './oxm.js';

/** OFPAT_* action codes. */
export const OFPAT = {
  OUTPUT: 0,
  COPY_TTL_OUT: 11,
  COPY_TTL_IN: 12,
  SET_MPLS_TTL: 15,
  DEC_MPLS_TTL: 16,
  PUSH_VLAN: 17,
  POP_VLAN: 18,
  PUSH_MPLS: 19,
  POP_MPLS: 20,
  SET_QUEUE: 21,
  GROUP: 22,
  SET_NW_TTL: 23,
  DEC_NW_TTL: 24,
  SET_FIELD: 25,
  PUSH_PBB: 26,
  POP_PBB: 27,
  EXPERIMENTER: 0xffff,
} as const;
/** An action type name. */
export type ActionName = keyof typeof OFPAT;

/** A decoded action (discriminated on `type`). */
export type Action =
  | { type: 'OUTPUT'; port: number; maxLen: number }
  | { type: 'COPY_TTL_OUT' }
  | { type: 'COPY_TTL_IN' }
  | { type: 'SET_MPLS_TTL'; ttl: number }
  | { type: 'DEC_MPLS_TTL' }
  | { type: 'PUSH_VLAN'; ethertype: number }
  | { type: 'POP_VLAN' }
  | { type: 'PUSH_MPLS'; ethertype: number }
  | { type: 'POP_MPLS'; ethertype: number }
  | { type: 'SET_QUEUE'; queueId: number }
  | { type: 'GROUP'; groupId: number }
  | { type: 'SET_NW_TTL'; ttl: number }
  | { type: 'DEC_NW_TTL' }
  | { type: 'SET_FIELD'; field: OxmFieldName; value: OxmValue }
  | { type: 'PUSH_PBB'; ethertype: number }
  | { type: 'POP_PBB' }
  | { type: 'EXPERIMENTER'; experimenter: number; data: Uint8Array };

/** The descriptor of one action type. */
export interface ActionDesc {
  /** Type name. */
  readonly name: ActionName;
  /** Wire code (OFPAT_*). */
  readonly code: number;
  /** Fixed wire length including the 4-byte type/len header, or null when variable. */
  readonly len: number | null;
  /** Body layout after the 4-byte header (fixed-length actions only). */
  readonly layout: Layout | null;
  /** Stateless checks of a decoded action; throws OfpError. */
  readonly check?: (a: Action) => void;
}

const ethertypeIn =
  (allowed: readonly number[]) =>
  (a: Action): void => {
    const et = (a as { ethertype: number }).ethertype;
    if (!allowed.includes(et)) {
      throw new OfpError('OFPBAC_BAD_ARGUMENT', `ethertype 0x${et.toString(16)}`);
    }
  };

/**
 * Rejects OUTPUT ports that can never be valid, as OVS does while decoding: ANY, the unassigned
 * reserved range OFPP_MAX..0xfffffff7, and 0xff00..OFPP_MAX (outside OVS's 16-bit port space).
 */
export function checkOutputPort(port: number): void {
  if (port === OFPP.ANY || (port >= OVS_PORT_LIMIT && port < OFPP.IN_PORT)) {
    throw new OfpError('OFPBAC_BAD_OUT_PORT', `port 0x${port.toString(16)}`);
  }
}

const PAD4: Layout = [4];
const ETH: Layout = [['ethertype', 'u16'], 2];
const fixed = (name: ActionName, layout: Layout, check?: (a: Action) => void): ActionDesc => ({
  name,
  code: OFPAT[name],
  len: 4 + layoutSize(layout),
  layout,
  ...(check ? { check } : {}),
});

/** All action descriptors. */
export const ACTIONS: readonly ActionDesc[] = [
  fixed('OUTPUT', [['port', 'u32'], ['maxLen', 'u16'], 6], (a) =>
    checkOutputPort((a as { port: number }).port),
  ),
  fixed('COPY_TTL_OUT', PAD4),
  fixed('COPY_TTL_IN', PAD4),
  fixed('SET_MPLS_TTL', [['ttl', 'u8'], 3]),
  fixed('DEC_MPLS_TTL', PAD4),
  fixed('PUSH_VLAN', ETH, ethertypeIn([0x8100, 0x88a8])),
  fixed('POP_VLAN', PAD4),
  fixed('PUSH_MPLS', ETH, ethertypeIn([0x8847, 0x8848])),
  fixed('POP_MPLS', ETH),
  fixed('SET_QUEUE', [['queueId', 'u32']]),
  fixed('GROUP', [['groupId', 'u32']]),
  fixed('SET_NW_TTL', [['ttl', 'u8'], 3]),
  fixed('DEC_NW_TTL', PAD4),
  { name: 'SET_FIELD', code: OFPAT.SET_FIELD, len: null, layout: null },
  fixed('PUSH_PBB', ETH, ethertypeIn([0x88e7])),
  fixed('POP_PBB', PAD4),
  { name: 'EXPERIMENTER', code: OFPAT.EXPERIMENTER, len: null, layout: null },
];

/** Descriptor by name. */
export const ACTION_BY_NAME: Readonly<Record<ActionName, ActionDesc>> = Object.fromEntries(
  ACTIONS.map((d) => [d.name, d]),
) as Record<ActionName, ActionDesc>;
const BY_CODE = new Map<number, ActionDesc>(ACTIONS.map((d) => [d.code, d]));

/** Decodes the actions in `r[pos, end)`; leaves `r.pos` at `end`. */
export function decodeActions(r: Reader, end: number): Action[] {
  const out: Action[] = [];
  const view = r.view;
  while (r.pos < end) {
    if (end - r.pos < 4) throw new OfpError('OFPBAC_BAD_LEN', 'partial action header');
    const code = view.getUint16(r.pos);
    const len = view.getUint16(r.pos + 2);
    if (len < 8 || len % 8 !== 0 || r.pos + len > end) {
      throw new OfpError('OFPBAC_BAD_LEN', `action length ${len}`);
    }
    const d = BY_CODE.get(code);
    if (!d) throw new OfpError('OFPBAC_BAD_TYPE', `action type ${code}`);
    if (d.len !== null && len !== d.len) {
      throw new OfpError('OFPBAC_BAD_LEN', `${d.name} length ${len}`);
    }
    const start = r.pos;
    r.pos += 4;
    let a: Action;
    if (d.layout) {
      const o: Record<string, unknown> = { type: d.name };
      readLayout(r, d.layout, o);
      a = o as Action;
    } else if (d.name === 'SET_FIELD') {
      const sub = r.sub(r.pos, start + len, 'OFPBAC_BAD_SET_LEN');
      const e = decodeOxmEntry(sub, 'setfield');
      for (let i = sub.pos; i < start + len; i++) {
        if (r.buf[i] !== 0) throw new OfpError('OFPBAC_BAD_SET_ARGUMENT', 'non-zero padding');
      }
      a = { type: 'SET_FIELD', field: e.field, value: e.value };
    } else {
      const experimenter = r.u32();
      a = { type: 'EXPERIMENTER', experimenter, data: r.bytes(start + len - r.pos) };
    }
    d.check?.(a);
    r.pos = start + len;
    out.push(a);
  }
  // A copy of exact capacity: a pushed-to array keeps room for 17 elements, and decoded
  // matches and instructions live as long as their rule.
  return out.slice();
}

/** Wire length of one action. */
export function actionLength(a: Action): number {
  const d = ACTION_BY_NAME[a.type];
  if (d.len !== null) return d.len;
  if (a.type === 'SET_FIELD') return (4 + oxmEntryLength(a) + 7) & ~7;
  return (8 + (a as { data: Uint8Array }).data.length + 7) & ~7;
}

/** Wire length of an action list. */
export function actionsLength(list: readonly Action[]): number {
  let n = 0;
  for (const a of list) n += actionLength(a);
  return n;
}

/** Encodes an action list. */
export function encodeActions(w: Writer, list: readonly Action[]): void {
  for (const a of list) {
    const d = ACTION_BY_NAME[a.type];
    const start = w.pos;
    w.u16(d.code);
    w.u16(0);
    if (d.layout) {
      writeLayout(w, d.layout, a);
    } else if (a.type === 'SET_FIELD') {
      encodeOxmEntry(w, { field: a.field, value: a.value });
    } else if (a.type === 'EXPERIMENTER') {
      w.u32(a.experimenter);
      w.bytes(a.data);
    }
    w.pad8(start);
    w.setU16(start + 2, w.pos - start);
  }
}

/** Decodes an action list from bytes (helper for tests and tools). */
export function decodeActionBytes(bytes: Uint8Array): Action[] {
  return decodeActions(new Reader(bytes, 0, bytes.length, 'OFPBAC_BAD_LEN'), bytes.length);
}

/**
 * What is known about a packet while walking a flow's actions: exact values of the fields that
 * prerequisites look at, and whether a VLAN tag is present.
 */
export interface FlowFacts {
  /** Exactly-known field values (from the match, updated by push/pop/set-field actions). */
  exact: Map<OxmFieldName, number>;
  /** Whether the packet is known to carry a VLAN tag. */
  vlan: boolean;
}

/** Builds {@link FlowFacts} from a match. */
export function factsFromMatch(match: readonly OxmEntry[]): FlowFacts {
  const exact = new Map<OxmFieldName, number>();
  let vlan = false;
  for (const e of match) {
    const d = OXM_BY_NAME[e.field];
    if (e.field === 'vlan_vid') {
      const m = e.mask === undefined ? 0x1fff : Number(e.mask);
      vlan = (Number(e.value) & m & 0x1000) !== 0;
      continue;
    }
    if (d.kind === 'number' && (e.mask === undefined || e.mask === fullMask(d))) {
      exact.set(e.field, e.value as number);
    }
  }
  return { exact, vlan };
}

/**
 * Checks that `actions`, executed in order on packets matching `facts`, never need a header the
 * packet cannot have (OVS's ofpacts_check): SET_FIELD whose prerequisites are not met, setting
 * vlan_vid/vlan_pcp or POP_VLAN without a VLAN tag → OFPBAC_MATCH_INCONSISTENT. Updates `facts`.
 */
export function checkActionsConsistency(facts: FlowFacts, actions: readonly Action[]): void {
  for (const a of actions) {
    switch (a.type) {
      case 'POP_VLAN':
        if (!facts.vlan) throw new OfpError('OFPBAC_MATCH_INCONSISTENT', 'pop_vlan without VLAN');
        facts.vlan = false;
        break;
      case 'PUSH_VLAN':
        facts.vlan = true;
        break;
      case 'PUSH_MPLS':
      case 'POP_MPLS':
        facts.exact.set('eth_type', a.ethertype);
        if (a.type === 'PUSH_MPLS') facts.exact.delete('ip_proto');
        break;
      case 'SET_FIELD': {
        const d = OXM_BY_NAME[a.field];
        if ((a.field === 'vlan_vid' || a.field === 'vlan_pcp') && !facts.vlan) {
          throw new OfpError('OFPBAC_MATCH_INCONSISTENT', `set ${a.field} without VLAN`);
        }
        for (const p of d.prerequisites) {
          if (p.field === 'vlan_vid') continue;
          const v = facts.exact.get(p.field);
          const ok = p.values ? v !== undefined && p.values.includes(v) : v !== undefined;
          if (!ok) throw new OfpError('OFPBAC_MATCH_INCONSISTENT', `set ${a.field}`);
        }
        if (d.kind === 'number') facts.exact.set(a.field, a.value as number);
        break;
      }
      case 'OUTPUT':
      case 'COPY_TTL_OUT':
      case 'COPY_TTL_IN':
      case 'SET_MPLS_TTL':
      case 'DEC_MPLS_TTL':
      case 'SET_QUEUE':
      case 'GROUP':
      case 'SET_NW_TTL':
      case 'DEC_NW_TTL':
      case 'PUSH_PBB':
      case 'POP_PBB':
      case 'EXPERIMENTER':
        break;
    }
  }
}

/**
 * OpenFlow 1.3 instructions: one descriptor per type and one generic decode/encode loop.
 * Errors: a length not a multiple of 8, below 8 or past the list → OFPBIC_BAD_LEN; an unknown
 * type → OFPBIC_UNKNOWN_INST; a fixed-size instruction of another length → OFPBIC_BAD_LEN; an
 * instruction type given twice → OFPBIC_DUP_INST (sent as ONF experimenter error 2600 in 1.3,
 * as OVS does). Actions inside WRITE/APPLY_ACTIONS are decoded by {@link decodeActions}.
 */
import { Reader, type Writer } from './bytes.js';
import {
  actionsLength,
  checkActionsConsistency,
  decodeActions,
  encodeActions,
  factsFromMatch,
  type Action,
} from './actions.js';
import { OfpError } from './errors.js';
import { layoutSize, readLayout, writeLayout, type Layout } from './layout.js';
import type { OxmEntry } from './oxm.js';

/** OFPIT_* instruction codes. */
export const OFPIT = {
  GOTO_TABLE: 1,
  WRITE_METADATA: 2,
  WRITE_ACTIONS: 3,
  APPLY_ACTIONS: 4,
  CLEAR_ACTIONS: 5,
  METER: 6,
  EXPERIMENTER: 0xffff,
} as const;
/** An instruction type name. */
export type InstructionName = keyof typeof OFPIT;

/** A decoded instruction (discriminated on `type`). */
export type Instruction =
  | { type: 'GOTO_TABLE'; tableId: number }
  | { type: 'WRITE_METADATA'; metadata: bigint; metadataMask: bigint }
  | { type: 'WRITE_ACTIONS'; actions: Action[] }
  | { type: 'APPLY_ACTIONS'; actions: Action[] }
  | { type: 'CLEAR_ACTIONS' }
  | { type: 'METER'; meterId: number }
  | { type: 'EXPERIMENTER'; experimenter: number; data: Uint8Array };

/** The descriptor of one instruction type. */
export interface InstructionDesc {
  /** Type name. */
  readonly name: InstructionName;
  /** Wire code. */
  readonly code: number;
  /** Fixed wire length (with the 4-byte header), or null when variable. */
  readonly len: number | null;
  /** Body layout after the 4-byte header (fixed and action-list types). */
  readonly layout: Layout | null;
  /** Whether an action list follows the layout. */
  readonly hasActions: boolean;
}

const fixed = (name: InstructionName, layout: Layout): InstructionDesc => ({
  name,
  code: OFPIT[name],
  len: 4 + layoutSize(layout),
  layout,
  hasActions: false,
});
const withActions = (name: InstructionName): InstructionDesc => ({
  name,
  code: OFPIT[name],
  len: null,
  layout: [4],
  hasActions: true,
});

/** All instruction descriptors. */
export const INSTRUCTIONS: readonly InstructionDesc[] = [
  fixed('GOTO_TABLE', [['tableId', 'u8'], 3]),
  fixed('WRITE_METADATA', [4, ['metadata', 'u64'], ['metadataMask', 'u64']]),
  withActions('WRITE_ACTIONS'),
  withActions('APPLY_ACTIONS'),
  fixed('CLEAR_ACTIONS', [4]),
  fixed('METER', [['meterId', 'u32']]),
  { name: 'EXPERIMENTER', code: OFPIT.EXPERIMENTER, len: null, layout: null, hasActions: false },
];

/** Descriptor by name. */
export const INSTRUCTION_BY_NAME: Readonly<Record<InstructionName, InstructionDesc>> =
  Object.fromEntries(INSTRUCTIONS.map((d) => [d.name, d])) as Record<
    InstructionName,
    InstructionDesc
  >;
const BY_CODE = new Map<number, InstructionDesc>(INSTRUCTIONS.map((d) => [d.code, d]));

/** Decoded instruction lists by wire bytes (bounded; see {@link decodeInstructions}). */
const shared = new Map<string, Instruction[]>();
const SHARED_MAX = 1024;
const SHARED_MAX_BYTES = 256;

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/**
 * Decodes the instructions in `r[pos, end)`; leaves `r.pos` at `end`.
 *
 * Identical instruction bytes decode to one shared, frozen list (100 000 flows that all say
 * `actions=output:2` hold one list, not 100 000): callers must never modify what this returns.
 * Lists with experimenter instructions or actions (opaque bytes) are never shared.
 */
export function decodeInstructions(r: Reader, end: number): Instruction[] {
  const n = end - r.pos;
  if (n <= 0 || n > SHARED_MAX_BYTES || r.pos < 0 || end > r.buf.length) {
    return decodeInstructionsFresh(r, end);
  }
  const b = r.buf;
  let key = '';
  for (let i = r.pos; i < end; i++) key += String.fromCharCode(b[i]!);
  const hit = shared.get(key);
  if (hit !== undefined) {
    r.pos = end;
    return hit;
  }
  const out = decodeInstructionsFresh(r, end);
  const opaque = out.some(
    (i) =>
      i.type === 'EXPERIMENTER' ||
      ((i.type === 'APPLY_ACTIONS' || i.type === 'WRITE_ACTIONS') &&
        i.actions.some((a) => a.type === 'EXPERIMENTER')),
  );
  if (!opaque) {
    if (shared.size >= SHARED_MAX) shared.clear();
    shared.set(key, deepFreeze(out));
  }
  return out;
}

function decodeInstructionsFresh(r: Reader, end: number): Instruction[] {
  const out: Instruction[] = [];
  let seen = 0;
  const view = r.view;
  while (r.pos < end) {
    if (end - r.pos < 4) throw new OfpError('OFPBIC_BAD_LEN', 'partial instruction header');
    const code = view.getUint16(r.pos);
    const len = view.getUint16(r.pos + 2);
    if (len < 8 || len % 8 !== 0 || r.pos + len > end) {
      throw new OfpError('OFPBIC_BAD_LEN', `instruction length ${len}`);
    }
    const d = BY_CODE.get(code);
    if (!d) throw new OfpError('OFPBIC_UNKNOWN_INST', `instruction type ${code}`);
    if (d.len !== null && len !== d.len) {
      throw new OfpError('OFPBIC_BAD_LEN', `${d.name} length ${len}`);
    }
    const bit = d.code === 0xffff ? 1 << 7 : 1 << d.code;
    if ((seen & bit) !== 0 && d.code !== 0xffff) {
      throw new OfpError('OFPBIC_DUP_INST', d.name);
    }
    seen |= bit;
    const start = r.pos;
    r.pos += 4;
    let ins: Instruction;
    if (d.layout) {
      const o: Record<string, unknown> = { type: d.name };
      readLayout(r, d.layout, o);
      if (d.hasActions) o.actions = decodeActions(r, start + len);
      ins = o as Instruction;
    } else {
      const experimenter = r.u32();
      ins = { type: 'EXPERIMENTER', experimenter, data: r.bytes(start + len - r.pos) };
    }
    r.pos = start + len;
    out.push(ins);
  }
  // A copy of exact capacity: a pushed-to array keeps room for 17 elements, and decoded
  // matches and instructions live as long as their rule.
  return out.slice();
}

/** Wire length of one instruction. */
export function instructionLength(i: Instruction): number {
  const d = INSTRUCTION_BY_NAME[i.type];
  if (d.len !== null) return d.len;
  if (i.type === 'WRITE_ACTIONS' || i.type === 'APPLY_ACTIONS') return 8 + actionsLength(i.actions);
  return (8 + (i as { data: Uint8Array }).data.length + 7) & ~7;
}

/** Wire length of an instruction list. */
export function instructionsLength(list: readonly Instruction[]): number {
  let n = 0;
  for (const i of list) n += instructionLength(i);
  return n;
}

/** Encodes an instruction list. */
export function encodeInstructions(w: Writer, list: readonly Instruction[]): void {
  for (const i of list) {
    const d = INSTRUCTION_BY_NAME[i.type];
    const start = w.pos;
    w.u16(d.code);
    w.u16(0);
    if (d.layout) {
      writeLayout(w, d.layout, i);
      if (i.type === 'WRITE_ACTIONS' || i.type === 'APPLY_ACTIONS') encodeActions(w, i.actions);
    } else if (i.type === 'EXPERIMENTER') {
      w.u32(i.experimenter);
      w.bytes(i.data);
      w.pad8(start);
    }
    w.setU16(start + 2, w.pos - start);
  }
}

/** Decodes an instruction list from bytes (helper for tests and tools). */
export function decodeInstructionBytes(bytes: Uint8Array): Instruction[] {
  return decodeInstructions(new Reader(bytes, 0, bytes.length, 'OFPBIC_BAD_LEN'), bytes.length);
}

/**
 * Stateless flow-level checks of instructions against the flow-mod's table and match:
 * GOTO_TABLE to the same or a lower table → OFPBIC_BAD_TABLE_ID (OVS accepts goto 255/254, so
 * higher ids are not checked here); actions inconsistent with the match (apply-actions first,
 * then write-actions, as OVS walks them) → OFPBAC_MATCH_INCONSISTENT.
 */
export function checkInstructions(
  tableId: number,
  match: readonly OxmEntry[],
  list: readonly Instruction[],
): void {
  const facts = factsFromMatch(match);
  for (const i of list) {
    if (i.type === 'GOTO_TABLE' && tableId !== 0xff && i.tableId <= tableId) {
      throw new OfpError('OFPBIC_BAD_TABLE_ID', `goto ${i.tableId} from ${tableId}`);
    }
  }
  for (const i of list) if (i.type === 'APPLY_ACTIONS') checkActionsConsistency(facts, i.actions);
  for (const i of list) if (i.type === 'WRITE_ACTIONS') checkActionsConsistency(facts, i.actions);
}

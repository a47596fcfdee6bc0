/**
 * OFPMP_TABLE_FEATURES bodies: `ofp_table_features` with every property type of OpenFlow 1.3
 * (instructions, next tables, write/apply actions, match, wildcards, write/apply set-field, each
 * with its _MISS variant, and experimenter). OXM ids of any class (OVS lists Nicira fields) are
 * kept as raw headers. Errors: OFPET_TABLE_FEATURES_FAILED BAD_LEN for lengths, BAD_TYPE for an
 * unknown property type.
 */
import type { Reader, Writer } from './bytes.js';
import { OFPTFPT, type OfptfptName } from './constants.js';
import { OfpError } from './errors.js';
import type { OxmId } from './oxm.js';

/** An instruction or action id in a property list: the TLV type plus any bytes after the header. */
export interface TlvId {
  /** OFPIT_* / OFPAT_* code. */
  type: number;
  /** Bytes after the 4-byte header (experimenter id and data; empty otherwise). */
  data: Uint8Array;
}

/** Property types holding instruction or action ids. */
export type IdPropType =
  | 'INSTRUCTIONS'
  | 'INSTRUCTIONS_MISS'
  | 'WRITE_ACTIONS'
  | 'WRITE_ACTIONS_MISS'
  | 'APPLY_ACTIONS'
  | 'APPLY_ACTIONS_MISS';
/** Property types holding OXM ids. */
export type OxmPropType =
  | 'MATCH'
  | 'WILDCARDS'
  | 'WRITE_SETFIELD'
  | 'WRITE_SETFIELD_MISS'
  | 'APPLY_SETFIELD'
  | 'APPLY_SETFIELD_MISS';

/** A table-feature property. */
export type TableFeatureProp =
  | { type: IdPropType; ids: TlvId[] }
  | { type: 'NEXT_TABLES' | 'NEXT_TABLES_MISS'; tableIds: number[] }
  | { type: OxmPropType; oxmIds: OxmId[] }
  | {
      type: 'EXPERIMENTER' | 'EXPERIMENTER_MISS';
      experimenter: number;
      expType: number;
      data: Uint8Array;
    };

/** One `ofp_table_features` entry. */
export interface TableFeatures {
  /** Table id. */
  tableId: number;
  /** Table name (at most 31 bytes). */
  name: string;
  /** Bits of metadata the table can match. */
  metadataMatch: bigint;
  /** Bits of metadata the table can write. */
  metadataWrite: bigint;
  /** Table config bits. */
  config: number;
  /** Maximum number of entries. */
  maxEntries: number;
  /** Properties in wire order. */
  properties: TableFeatureProp[];
}

const NAMES = new Map<number, OfptfptName>(
  Object.entries(OFPTFPT).map(([k, v]) => [v, k as OfptfptName]),
);
const KIND: Record<OfptfptName, 'ids' | 'tables' | 'oxm' | 'exp'> = {
  INSTRUCTIONS: 'ids',
  INSTRUCTIONS_MISS: 'ids',
  NEXT_TABLES: 'tables',
  NEXT_TABLES_MISS: 'tables',
  WRITE_ACTIONS: 'ids',
  WRITE_ACTIONS_MISS: 'ids',
  APPLY_ACTIONS: 'ids',
  APPLY_ACTIONS_MISS: 'ids',
  MATCH: 'oxm',
  WILDCARDS: 'oxm',
  WRITE_SETFIELD: 'oxm',
  WRITE_SETFIELD_MISS: 'oxm',
  APPLY_SETFIELD: 'oxm',
  APPLY_SETFIELD_MISS: 'oxm',
  EXPERIMENTER: 'exp',
  EXPERIMENTER_MISS: 'exp',
};

function decodeProp(r: Reader, end: number): TableFeatureProp {
  const start = r.pos;
  const code = r.u16();
  const len = r.u16();
  if (len < 4 || start + len > end) throw new OfpError('OFPTFFC_BAD_LEN', `property len ${len}`);
  const name = NAMES.get(code);
  if (!name) throw new OfpError('OFPTFFC_BAD_TYPE', `property type ${code}`);
  const pend = start + len;
  let p: TableFeatureProp;
  switch (KIND[name]) {
    case 'ids': {
      const ids: TlvId[] = [];
      while (r.pos < pend) {
        if (pend - r.pos < 4) throw new OfpError('OFPTFFC_BAD_LEN', 'partial id');
        const type = r.u16();
        const ilen = r.u16();
        if (ilen < 4 || r.pos - 4 + ilen > pend) throw new OfpError('OFPTFFC_BAD_LEN', 'id len');
        ids.push({ type, data: r.bytes(ilen - 4) });
      }
      p = { type: name as IdPropType, ids };
      break;
    }
    case 'tables': {
      const tableIds: number[] = [];
      while (r.pos < pend) tableIds.push(r.u8());
      p = { type: name as 'NEXT_TABLES', tableIds };
      break;
    }
    case 'oxm': {
      const oxmIds: OxmId[] = [];
      while (r.pos < pend) {
        if (pend - r.pos < 4) throw new OfpError('OFPTFFC_BAD_LEN', 'partial OXM id');
        const header = r.u32();
        if (header >>> 16 === 0xffff) {
          if (pend - r.pos < 4) throw new OfpError('OFPTFFC_BAD_LEN', 'partial OXM id');
          oxmIds.push({ header, experimenter: r.u32() });
        } else oxmIds.push({ header });
      }
      p = { type: name as OxmPropType, oxmIds };
      break;
    }
    case 'exp': {
      if (len < 12) throw new OfpError('OFPTFFC_BAD_LEN', 'experimenter property');
      const experimenter = r.u32();
      const expType = r.u32();
      p = {
        type: name as 'EXPERIMENTER',
        experimenter,
        expType,
        data: r.bytes(pend - r.pos),
      };
      break;
    }
  }
  const padded = start + ((len + 7) & ~7);
  if (padded > end) throw new OfpError('OFPTFFC_BAD_LEN', 'property padding');
  r.pos = padded;
  return p;
}

function encodeProp(w: Writer, p: TableFeatureProp): void {
  const start = w.pos;
  w.u16(OFPTFPT[p.type]);
  w.u16(0);
  if ('ids' in p) {
    for (const id of p.ids) {
      w.u16(id.type);
      w.u16(4 + id.data.length);
      w.bytes(id.data);
    }
  } else if ('tableIds' in p) {
    for (const t of p.tableIds) w.u8(t);
  } else if ('oxmIds' in p) {
    for (const id of p.oxmIds) {
      w.u32(id.header);
      if (id.header >>> 16 === 0xffff) w.u32(id.experimenter ?? 0);
    }
  } else {
    w.u32(p.experimenter);
    w.u32(p.expType);
    w.bytes(p.data);
  }
  w.setU16(start + 2, w.pos - start);
  w.pad8(start);
}

/** Decodes one `ofp_table_features` at `r.pos` (must end by `end`). */
export function decodeTableFeatures(r: Reader, end: number): TableFeatures {
  const start = r.pos;
  if (end - start < 64) throw new OfpError('OFPTFFC_BAD_LEN', 'partial table features');
  const len = r.u16();
  if (len < 64 || start + len > end || len % 8 !== 0) {
    throw new OfpError('OFPTFFC_BAD_LEN', `table features len ${len}`);
  }
  const tableId = r.u8();
  r.skip(5);
  const name = r.str(32);
  const metadataMatch = r.u64();
  const metadataWrite = r.u64();
  const config = r.u32();
  const maxEntries = r.u32();
  const properties: TableFeatureProp[] = [];
  const tend = start + len;
  const sub = r.sub(r.pos, tend, 'OFPTFFC_BAD_LEN');
  while (sub.pos < tend) {
    if (tend - sub.pos < 4) throw new OfpError('OFPTFFC_BAD_LEN', 'partial property');
    properties.push(decodeProp(sub, tend));
  }
  r.pos = tend;
  return { tableId, name, metadataMatch, metadataWrite, config, maxEntries, properties };
}

/** Encodes one `ofp_table_features`. */
export function encodeTableFeatures(w: Writer, t: TableFeatures): void {
  const start = w.pos;
  w.u16(0);
  w.u8(t.tableId);
  w.zeros(5);
  w.str(t.name, 32);
  w.u64(t.metadataMatch);
  w.u64(t.metadataWrite);
  w.u32(t.config);
  w.u32(t.maxEntries);
  for (const p of t.properties) encodeProp(w, p);
  w.setU16(start, w.pos - start);
}

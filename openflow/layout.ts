/**
 * Fixed-layout records: a structure is described once as a list of `[name, kind]` items and
 * padding counts, and one generic loop reads or writes it. Used by the action, instruction,
 * message and multipart tables so each fixed part of the protocol is written down only once.
 */
import type { Reader, Writer } from './bytes.js';

/** Field kinds: unsigned integers (u64 as bigint, u48 as number) and NUL-padded strings. */
export type FieldKind = 'u8' | 'u16' | 'u32' | 'u48' | 'u64' | 's16' | 's32' | 's256';
/** One item: a named field or a number of padding bytes. */
export type LayoutItem = readonly [name: string, kind: FieldKind] | number;
/** A structure layout. */
export type Layout = readonly LayoutItem[];

const SIZE: Record<FieldKind, number> = {
  u8: 1,
  u16: 2,
  u32: 4,
  u48: 6,
  u64: 8,
  s16: 16,
  s32: 32,
  s256: 256,
};

/** Size of a layout in bytes. */
export function layoutSize(l: Layout): number {
  let n = 0;
  for (const it of l) n += typeof it === 'number' ? it : SIZE[it[1]];
  return n;
}

/** Reads a layout at `r.pos` into `out` (padding is skipped, not checked). */
export function readLayout(r: Reader, l: Layout, out: Record<string, unknown>): void {
  for (const it of l) {
    if (typeof it === 'number') {
      r.skip(it);
      continue;
    }
    const [name, kind] = it;
    switch (kind) {
      case 'u8':
        out[name] = r.u8();
        break;
      case 'u16':
        out[name] = r.u16();
        break;
      case 'u32':
        out[name] = r.u32();
        break;
      case 'u48':
        out[name] = r.u48();
        break;
      case 'u64':
        out[name] = r.u64();
        break;
      case 's16':
        out[name] = r.str(16);
        break;
      case 's32':
        out[name] = r.str(32);
        break;
      case 's256':
        out[name] = r.str(256);
        break;
    }
  }
}

/** Writes a layout from `obj` (missing numeric fields are written as 0, strings as ""). */
export function writeLayout(w: Writer, l: Layout, obj: object): void {
  const o = obj as Record<string, unknown>;
  for (const it of l) {
    if (typeof it === 'number') {
      w.zeros(it);
      continue;
    }
    const [name, kind] = it;
    const v = o[name];
    switch (kind) {
      case 'u8':
        w.u8((v as number | undefined) ?? 0);
        break;
      case 'u16':
        w.u16((v as number | undefined) ?? 0);
        break;
      case 'u32':
        w.u32((v as number | undefined) ?? 0);
        break;
      case 'u48':
        w.u48((v as number | undefined) ?? 0);
        break;
      case 'u64':
        w.u64((v as bigint | undefined) ?? 0n);
        break;
      case 's16':
        w.str((v as string | undefined) ?? '', 16);
        break;
      case 's32':
        w.str((v as string | undefined) ?? '', 32);
        break;
      case 's256':
        w.str((v as string | undefined) ?? '', 256);
        break;
    }
  }
}

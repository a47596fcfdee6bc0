/**
 * Table-level helpers shared by conditions, mutations, transactions and monitors: the two
 * implicit columns every table has (`_uuid`, `_version`), column lookup including them, a
 * column's value in a row, row JSON and the storage of one table's committed rows and
 * unique-index maps.
 */
import { datumEquals, datumToJson, isDefaultDatum } from './datum.js';
import type { ColumnSchema, ColumnType, Datum, Json, Row, TableSchema } from './types.js';
import { ZERO_UUID } from './types.js';

const UUID_TYPE: ColumnType = Object.freeze({
  key: Object.freeze({ type: 'uuid' as const }),
  min: 1,
  max: 1,
});

/** The implicit `_uuid` column (immutable, scalar uuid). */
export const UUID_COLUMN: ColumnSchema = Object.freeze({
  name: '_uuid',
  type: UUID_TYPE,
  ephemeral: false,
  mutable: false,
  default: Object.freeze({ keys: Object.freeze([ZERO_UUID]) }),
  json: null,
});

/** The implicit `_version` column (immutable, scalar uuid). */
export const VERSION_COLUMN: ColumnSchema = Object.freeze({
  name: '_version',
  type: UUID_TYPE,
  ephemeral: true,
  mutable: false,
  default: Object.freeze({ keys: Object.freeze([ZERO_UUID]) }),
  json: null,
});

/** Column `name` of `table`, including `_uuid` and `_version`; undefined when unknown. */
export function lookupColumn(table: TableSchema, name: string): ColumnSchema | undefined {
  const c = table.columns.get(name);
  if (c) return c;
  if (name === '_uuid') return UUID_COLUMN;
  if (name === '_version') return VERSION_COLUMN;
  return undefined;
}

/** Every column of `table` in OVS's `columns`-absent order: `_uuid`, `_version`, user columns. */
export function allColumns(table: TableSchema): ColumnSchema[] {
  return [UUID_COLUMN, VERSION_COLUMN, ...table.columnList];
}

/** The value of column `col` in `row` (works for `_uuid` / `_version`). */
export function rowDatum(row: Row, col: ColumnSchema): Datum {
  if (col === UUID_COLUMN) return { keys: [row.uuid] };
  if (col === VERSION_COLUMN) return { keys: [row.version] };
  return row.data[col.name]!;
}

/** JSON of a row restricted to `columns` (all columns with `_uuid`/`_version` when absent). */
export function rowToJson(
  row: Row,
  table: TableSchema,
  columns?: readonly ColumnSchema[],
): { [k: string]: Json } {
  const cols = columns ?? allColumns(table);
  const o: { [k: string]: Json } = {};
  for (const c of cols) o[c.name] = datumToJson(rowDatum(row, c), c.type);
  return o;
}

/**
 * JSON of a row's columns that differ from their defaults (what update2 `initial`/`insert`
 * and a storage snapshot carry). `_uuid`/`_version` are not included. With `persistentOnly`
 * ephemeral columns are skipped.
 */
export function rowToJsonNonDefault(
  row: Row,
  table: TableSchema,
  persistentOnly = false,
): { [k: string]: Json } {
  const o: { [k: string]: Json } = {};
  for (const c of table.columnList) {
    if (persistentOnly && c.ephemeral) continue;
    const d = row.data[c.name]!;
    if (!isDefaultDatum(d, c.type)) o[c.name] = datumToJson(d, c.type);
  }
  return o;
}

/** Names of the user columns whose values differ between two versions of a row. */
export function changedColumns(table: TableSchema, a: Row, b: Row): Set<string> {
  const out = new Set<string>();
  for (const c of table.columnList) {
    if (!datumEquals(a.data[c.name]!, b.data[c.name]!)) out.add(c.name);
  }
  return out;
}

/** A fresh row of `table` with every column at its default. */
export function defaultRowData(table: TableSchema): Record<string, Datum> {
  const data: Record<string, Datum> = {};
  for (const c of table.columnList) data[c.name] = c.default;
  return data;
}

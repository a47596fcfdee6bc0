/**
 * The OVSDB data model (RFC 7047 §3.2, §5.1): atomic types, base types with their constraints,
 * column types, the in-memory value of a column ({@link Datum}), rows and the parsed schema.
 *
 * Representation rules (every module that reads rows relies on them):
 * - An `integer` atom is a `bigint` (64-bit exact), a `real` a `number`, a `boolean` a
 *   `boolean`, a `string` a `string`, a `uuid` a lowercase 36-character `string`.
 *   Named uuids never appear in a Datum: the transaction parser resolves them first.
 * - Every column value is a {@link Datum}: sorted, duplicate-free `keys` (and parallel `values`
 *   for maps). A scalar column (min 1, max 1) holds exactly one key.
 * - Committed rows and their datums are immutable; a change makes a new {@link Row} object
 *   (copy-on-write), so holding a reference to an old row is always safe.
 *
 * Functions that work on these types live in `datum.ts` (JSON conversion, comparison,
 * defaults), `schema.ts` (parsing schemas) and `database.ts` (transactions).
 */

/**
 * A JSON value as the OVSDB code sees it. Integers outside the safe range arrive as `bigint`
 * (lib/json.ts parses them that way) and are emitted as `bigint` for the JSON writer; safe
 * integers may be either `number` or `bigint`.
 */
export type Json = null | boolean | number | bigint | string | Json[] | { [key: string]: Json };

/** The five atomic types of RFC 7047 §3.2. */
export const ATOMIC_TYPES = ['integer', 'real', 'boolean', 'string', 'uuid'] as const;

/** One of the five atomic types. */
export type AtomicType = (typeof ATOMIC_TYPES)[number];

/**
 * One atomic value: `bigint` (integer), `number` (real), `boolean`, `string` (string or uuid).
 * Which one it is follows from the {@link BaseType} it belongs to, never from the JS type alone
 * (a uuid and a string are both JS strings).
 */
export type Atom = bigint | number | boolean | string;

/** Strength of a uuid reference: strong refs must resolve, weak refs are dropped silently. */
export type RefType = 'strong' | 'weak';

/**
 * A base type: an atomic type plus the optional constraints RFC 7047 allows on it.
 * Constraints that do not apply to `type` are always `undefined`.
 */
export interface BaseType {
  /** The atomic type. */
  readonly type: AtomicType;
  /**
   * Allowed values, as a sorted duplicate-free list of atoms of `type`; `undefined` when any
   * value of the type (within the other constraints) is allowed.
   */
  readonly enum?: readonly Atom[];
  /** integer: inclusive lower bound (absent = -2^63). */
  readonly minInteger?: bigint;
  /** integer: inclusive upper bound (absent = 2^63-1). */
  readonly maxInteger?: bigint;
  /** real: inclusive lower bound. */
  readonly minReal?: number;
  /** real: inclusive upper bound. */
  readonly maxReal?: number;
  /** string: minimum length in Unicode code points (absent = 0). */
  readonly minLength?: number;
  /** string: maximum length in Unicode code points (absent = unlimited). */
  readonly maxLength?: number;
  /** uuid: the table every referenced row must live in (absent = not a reference). */
  readonly refTable?: string;
  /** uuid with refTable: strong (default) or weak. */
  readonly refType?: RefType;
}

/**
 * A column type: a key base type, an optional value base type (present = a map) and the
 * number of elements allowed. `max` is `Infinity` for "unlimited".
 */
export interface ColumnType {
  /** Type of the keys (for a set or scalar: the elements). */
  readonly key: BaseType;
  /** Present for a map: type of the values. */
  readonly value?: BaseType;
  /** Minimum number of elements, 0 or 1. */
  readonly min: number;
  /** Maximum number of elements, ≥ 1, `Infinity` for "unlimited". */
  readonly max: number;
}

/**
 * The value of one column: keys sorted in OVS atom order ({@link compareAtoms} in datum.ts) and
 * without duplicates; `values[i]` is the value of `keys[i]` for a map and `undefined` for a
 * set/scalar. Treat as immutable.
 */
export interface Datum {
  /** Sorted, duplicate-free keys (or set elements, or the single scalar). */
  readonly keys: readonly Atom[];
  /** Present exactly for maps; same length as `keys`. */
  readonly values?: readonly Atom[];
}

/** One column of a table as the schema declares it. */
export interface ColumnSchema {
  /** Column name. */
  readonly name: string;
  /** Its type. */
  readonly type: ColumnType;
  /** True when the column is not written to disk (RFC 7047 `ephemeral`). */
  readonly ephemeral: boolean;
  /** False when the column may only be set by `insert` (RFC 7047 `mutable`, default true). */
  readonly mutable: boolean;
  /** The column's default datum (see `defaultDatum` in datum.ts); shared, immutable. */
  readonly default: Datum;
  /** The column's JSON schema text as parsed (for re-serialising the schema). */
  readonly json: Json;
}

/** One table of a database schema. */
export interface TableSchema {
  /** Table name. */
  readonly name: string;
  /** The user columns (without `_uuid` / `_version`), in schema file order. */
  readonly columns: ReadonlyMap<string, ColumnSchema>;
  /** Same columns as an array (iteration fast path). */
  readonly columnList: readonly ColumnSchema[];
  /** Root tables are exempt from garbage collection (RFC 7047 `isRoot`). */
  readonly isRoot: boolean;
  /** Maximum number of rows, `undefined` = unlimited. */
  readonly maxRows?: number;
  /** Unique indexes: each a non-empty list of user column names. */
  readonly indexes: readonly (readonly string[])[];
}

/** A parsed, validated database schema. */
export interface DatabaseSchema {
  /** Database name, e.g. `Open_vSwitch`. */
  readonly name: string;
  /** Schema version `x.y.z`. */
  readonly version: string;
  /** Checksum string when the file has one. */
  readonly cksum?: string;
  /** Tables by name. */
  readonly tables: ReadonlyMap<string, TableSchema>;
  /** The schema as JSON (what `get_schema` returns and what a DB file's first record holds). */
  readonly json: { [key: string]: Json };
}

/**
 * A row. `data` has an entry for every user column of the table (defaults filled in).
 * Immutable once committed: a change produces a new Row object that shares unchanged datums.
 */
export interface Row {
  /** The row's `_uuid`. */
  readonly uuid: string;
  /** The row's `_version`: a fresh uuid each time the row changes. */
  readonly version: string;
  /** Column name → value, for every user column. */
  readonly data: Readonly<Record<string, Datum>>;
}

/** The all-zero uuid (default value of a uuid atom). */
export const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

/** Smallest 64-bit signed integer. */
export const INT64_MIN = -(1n << 63n);
/** Largest 64-bit signed integer. */
export const INT64_MAX = (1n << 63n) - 1n;

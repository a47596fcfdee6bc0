/**
 * Mutations (RFC 7047 §5.1 `<mutation>`, §5.2.4): parsing with OVS's type rules and applying
 * them to a datum with OVS's C semantics (truncating `/`, C `%`, overflow → `range error`,
 * division by zero → `domain error`, element-wise arithmetic on sets, `insert`/`delete` on sets
 * and maps).
 */
import {
  checkAtomConstraints,
  compareAtoms,
  datumFind,
  datumFromJson,
  jsonToSortedString,
  makeDatum,
} from './datum.js';
import type { NamedUuidResolver } from './datum.js';
import { OvsdbError, syntaxError } from './errors.js';
import { isScalar, typeToEnglish } from './condition.js';
import { lookupColumn } from './table.js';
import type {
  Atom,
  BaseType,
  ColumnSchema,
  ColumnType,
  Datum,
  Json,
  TableSchema,
} from './types.js';
import { INT64_MAX, INT64_MIN } from './types.js';

/** The mutators of RFC 7047. */
export const MUTATORS = ['+=', '-=', '*=', '/=', '%=', 'insert', 'delete'] as const;

/** One mutator. */
export type Mutator = (typeof MUTATORS)[number];

/** One parsed mutation. `argType` is the (relaxed) type `arg` was parsed with. */
export interface Mutation {
  /** Column to mutate. */
  readonly column: ColumnSchema;
  /** The mutator. */
  readonly mutator: Mutator;
  /** The argument. */
  readonly arg: Datum;
  /** The type the argument was parsed as (a set of keys for a map `delete` by key). */
  readonly argType: ColumnType;
}

function isMutator(s: string): s is Mutator {
  return (MUTATORS as readonly string[]).includes(s);
}

function isSet(t: ColumnType): boolean {
  return !t.value && !(t.min === 1 && t.max === 1);
}

function unconstrained(b: BaseType): BaseType {
  return { type: b.type };
}

/** Parses one `[column, mutator, value]`. */
export function parseMutation(table: TableSchema, j: Json, named?: NamedUuidResolver): Mutation {
  if (!Array.isArray(j) || j.length !== 3 || typeof j[0] !== 'string' || typeof j[1] !== 'string') {
    throw syntaxError('Parse error in mutation.', jsonToSortedString(j));
  }
  const column = lookupColumn(table, j[0]);
  if (!column) {
    throw new OvsdbError(
      'unknownColumn',
      `No column ${j[0]} in table ${table.name}.`,
      jsonToSortedString(j),
    );
  }
  if (!column.mutable) {
    throw new OvsdbError(
      'constraintViolation',
      `Cannot mutate immutable column ${column.name} in table ${table.name}.`,
      jsonToSortedString(j),
    );
  }
  const m = j[1];
  if (!isMutator(m)) throw new OvsdbError('unknownMutator', `No mutator named ${m}.`);
  const t = column.type;
  const mismatch = (): OvsdbError =>
    syntaxError(
      `Type mismatch: "${m}" operator may not be applied to column ${column.name} of type ${typeToEnglish(t)}.`,
      jsonToSortedString(j),
    );
  switch (m) {
    case '+=':
    case '-=':
    case '*=':
    case '/=':
    case '%=': {
      if (
        (!isScalar(t) && !isSet(t)) ||
        (t.key.type !== 'integer' && t.key.type !== 'real') ||
        (m === '%=' && t.key.type === 'real')
      ) {
        throw mismatch();
      }
      const argType: ColumnType = { key: unconstrained(t.key), min: 1, max: 1 };
      return { column, mutator: m, arg: datumFromJson(j[2]!, argType, named), argType };
    }
    case 'insert':
    case 'delete': {
      if (isScalar(t) || (!isSet(t) && !t.value)) throw mismatch();
      const argType: ColumnType = { ...t, min: 0, max: m === 'delete' ? Infinity : t.max };
      try {
        return { column, mutator: m, arg: datumFromJson(j[2]!, argType, named), argType };
      } catch (e) {
        if (!(t.value && m === 'delete')) throw e;
        const keyType: ColumnType = { key: t.key, min: 0, max: Infinity };
        return { column, mutator: m, arg: datumFromJson(j[2]!, keyType, named), argType: keyType };
      }
    }
  }
}

/** Parses a `mutations` array. */
export function parseMutations(table: TableSchema, j: Json, named?: NamedUuidResolver): Mutation[] {
  if (!Array.isArray(j)) throw syntaxError('Parse error in mutation.', jsonToSortedString(j));
  return j.map((mj) => parseMutation(table, mj, named));
}

const RANGE = 1;
const DOM = 2;

function intOp(m: Mutator, x: bigint, y: bigint): bigint | number {
  switch (m) {
    case '+=': {
      const r = x + y;
      return r > INT64_MAX || r < INT64_MIN ? RANGE : r;
    }
    case '-=': {
      const r = x - y;
      return r > INT64_MAX || r < INT64_MIN ? RANGE : r;
    }
    case '*=': {
      // Exact product, range-checked. (ovsdb-server's own overflow test has defects: it divides
      // by zero for a negative x times 0 and misjudges some negative products; we do not copy.)
      const r = x * y;
      return r > INT64_MAX || r < INT64_MIN ? RANGE : r;
    }
    case '/=':
    case '%=':
      if (y === 0n) return DOM;
      if (x === INT64_MIN && y === -1n) return RANGE;
      return m === '/=' ? x / y : x % y; // bigint division truncates, % takes the dividend's sign: C semantics
    case 'insert':
    case 'delete':
      return RANGE;
  }
}

function realOp(m: Mutator, x: number, y: number): number | undefined {
  let r: number;
  switch (m) {
    case '+=':
      r = x + y;
      break;
    case '-=':
      r = x - y;
      break;
    case '*=':
      r = x * y;
      break;
    case '/=':
      if (y === 0) return undefined;
      r = x / y;
      break;
    case '%=':
    case 'insert':
    case 'delete':
      return undefined;
  }
  return r;
}

function scalarError(code: number, m: Mutator): OvsdbError {
  return code === DOM
    ? new OvsdbError('domainError', 'Division by zero.')
    : new OvsdbError('rangeError', `Result of "${m}" operation is out of range.`);
}

function checkCount(d: Datum, t: ColumnType): void {
  if (d.keys.length < t.min || d.keys.length > t.max) {
    throw new OvsdbError(
      'constraintViolation',
      `Attempted to store ${d.keys.length} elements in ${typeToEnglish(t)}.`,
    );
  }
}

/** Set/map union keeping existing keys' values (OVS `ovsdb_datum_union`). */
function union(dst: Datum, arg: Datum, t: ColumnType): Datum {
  if (arg.keys.length === 0) return dst;
  const keys = dst.keys.slice();
  const values = t.value ? dst.values!.slice() : undefined;
  let added = false;
  for (let i = 0; i < arg.keys.length; i++) {
    if (datumFind(dst, arg.keys[i]!, t.key.type) >= 0) continue;
    keys.push(arg.keys[i]!);
    values?.push(arg.values![i]!);
    added = true;
  }
  if (!added) return dst;
  return makeDatum(t, keys, values);
}

/** Removes from `dst` the elements of `arg` (pairs when `arg` is a map, keys otherwise). */
function subtract(dst: Datum, t: ColumnType, arg: Datum, argIsMap: boolean): Datum {
  if (arg.keys.length === 0 || dst.keys.length === 0) return dst;
  const keys: Atom[] = [];
  const values: Atom[] | undefined = t.value ? [] : undefined;
  for (let i = 0; i < dst.keys.length; i++) {
    const k = dst.keys[i]!;
    const j = datumFind(arg, k, t.key.type);
    const remove = j >= 0 && (!argIsMap || arg.values![j] === dst.values![i]);
    if (remove) continue;
    keys.push(k);
    values?.push(dst.values![i]!);
  }
  if (keys.length === dst.keys.length) return dst;
  return values ? { keys, values } : { keys };
}

/**
 * Applies one mutation to `dst` (the column's current value), returning the new datum (a new
 * object; `dst` is not modified). Throws `domain error`, `range error` or `constraint
 * violation` as ovsdb-server does.
 */
export function applyMutation(mu: Mutation, dst: Datum): Datum {
  const t = mu.column.type;
  switch (mu.mutator) {
    case '+=':
    case '-=':
    case '*=':
    case '/=':
    case '%=': {
      const y = mu.arg.keys[0]!;
      const out: Atom[] = new Array<Atom>(dst.keys.length);
      if (t.key.type === 'integer') {
        for (let i = 0; i < dst.keys.length; i++) {
          const r = intOp(mu.mutator, dst.keys[i] as bigint, y as bigint);
          if (typeof r === 'number') throw scalarError(r, mu.mutator);
          out[i] = r;
        }
      } else {
        for (let i = 0; i < dst.keys.length; i++) {
          const r = realOp(mu.mutator, dst.keys[i] as number, y as number);
          if (r === undefined) throw scalarError(DOM, mu.mutator);
          if (!(r >= -Number.MAX_VALUE && r <= Number.MAX_VALUE))
            throw scalarError(RANGE, mu.mutator);
          out[i] = r;
        }
      }
      for (const a of out) checkAtomConstraints(a, t.key);
      // Element-wise results may collide or lose their order.
      let sorted = true;
      for (let i = 1; i < out.length; i++) {
        const c = compareAtoms(out[i - 1]!, out[i]!, t.key.type);
        if (c === 0) {
          throw new OvsdbError(
            'constraintViolation',
            `Result of "${mu.mutator}" operation contains duplicates.`,
          );
        }
        if (c > 0) sorted = false;
      }
      if (!sorted) {
        try {
          return makeDatum(t, out);
        } catch {
          throw new OvsdbError(
            'constraintViolation',
            `Result of "${mu.mutator}" operation contains duplicates.`,
          );
        }
      }
      return { keys: out };
    }
    case 'insert': {
      const r = union(dst, mu.arg, t);
      checkCount(r, t);
      return r;
    }
    case 'delete': {
      const r = subtract(dst, t, mu.arg, mu.argType.value !== undefined);
      checkCount(r, t);
      return r;
    }
  }
}

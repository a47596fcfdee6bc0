/**
 * Conditions (RFC 7047 §5.1 `<condition>`): parsing a `where` array into clauses with OVS's
 * type rules and evaluating them on rows. Also used by monitors for `monitor_cond` `where`.
 */
import {
  compareAtoms,
  datumEquals,
  datumFind,
  datumFromJson,
  jsonToSortedString,
} from './datum.js';
import type { NamedUuidResolver } from './datum.js';
import { OvsdbError, syntaxError } from './errors.js';
import { lookupColumn, rowDatum } from './table.js';
import type { ColumnSchema, ColumnType, Datum, Json, Row, TableSchema } from './types.js';

/** The condition functions of RFC 7047, plus the boolean clauses `true` / `false`. */
export const CONDITION_FUNCTIONS = [
  '<',
  '<=',
  '==',
  '!=',
  '>=',
  '>',
  'includes',
  'excludes',
] as const;

/** One function name. */
export type ConditionFunction = (typeof CONDITION_FUNCTIONS)[number];

/** One parsed clause: a column compared with a constant, or a constant truth value. */
export type Clause =
  | { readonly kind: 'bool'; readonly value: boolean }
  | {
      readonly kind: 'cmp';
      readonly column: ColumnSchema;
      readonly fn: ConditionFunction;
      readonly arg: Datum;
    };

/** A parsed condition: the conjunction of its clauses (empty = true). */
export interface Condition {
  /** The clauses, all of which must hold. */
  readonly clauses: readonly Clause[];
  /**
   * When the condition contains `["_uuid", "==", <uuid>]`, that uuid (lets callers look the
   * row up directly instead of scanning).
   */
  readonly uuidEq?: string;
}

/** True for a scalar type (exactly one atom, no value). */
export function isScalar(t: ColumnType): boolean {
  return t.min === 1 && t.max === 1 && !t.value;
}

/** True for an optional scalar (0 or 1 atom, no value). */
export function isOptionalScalar(t: ColumnType): boolean {
  return t.min === 0 && t.max === 1 && !t.value;
}

/** OVS's English description of a type, e.g. `set of 1 or more uuids`. */
export function typeToEnglish(t: ColumnType): string {
  if (isScalar(t)) return t.key.type;
  let s = t.value ? 'map' : 'set';
  if (t.max === Infinity) s += t.min ? ` of ${t.min} or more` : ' of';
  else if (t.min) s += ` of ${t.min} to ${t.max}`;
  else s += ` of up to ${t.max}`;
  s += t.value ? ` (${t.key.type}, ${t.value.type}) pairs` : ` ${t.key.type}s`;
  return s;
}

function isFunction(s: string): s is ConditionFunction {
  return (CONDITION_FUNCTIONS as readonly string[]).includes(s);
}

function parseClause(table: TableSchema, j: Json, named?: NamedUuidResolver): Clause {
  if (j === true || j === false) return { kind: 'bool', value: j };
  if (!Array.isArray(j) || j.length !== 3 || typeof j[0] !== 'string' || typeof j[1] !== 'string') {
    throw syntaxError('Parse error in condition.', jsonToSortedString(j));
  }
  const column = lookupColumn(table, j[0]);
  if (!column) {
    throw new OvsdbError(
      'unknownColumn',
      `No column ${j[0]} in table ${table.name}.`,
      jsonToSortedString(j),
    );
  }
  const fn = j[1];
  if (!isFunction(fn)) throw new OvsdbError('unknownFunction', `No function named ${fn}.`);
  let type = column.type;
  switch (fn) {
    case '<':
    case '<=':
    case '>':
    case '>=':
      if (
        !(isScalar(type) || isOptionalScalar(type)) ||
        (type.key.type !== 'integer' && type.key.type !== 'real')
      ) {
        throw syntaxError(
          `Type mismatch: "${fn}" operator may not be applied to column ${column.name} of type ${typeToEnglish(type)}.`,
          jsonToSortedString(j),
        );
      }
      type = { ...type, min: 1 };
      break;
    case '==':
    case '!=':
      break;
    case 'excludes':
      if (!isScalar(type)) type = { ...type, min: 0, max: Infinity };
      break;
    case 'includes':
      if (!isScalar(type)) type = { ...type, min: 0 };
      break;
  }
  const arg = datumFromJson(j[2]!, type, named);
  return { kind: 'cmp', column, fn, arg };
}

/**
 * Parses a `where` array. Throws {@link OvsdbError}s shaped as ovsdb-server's (`syntax
 * error`, `unknown column`, `unknown function`, `constraint violation`, …).
 */
export function parseCondition(
  table: TableSchema,
  where: Json,
  named?: NamedUuidResolver,
): Condition {
  if (!Array.isArray(where))
    throw syntaxError('Parse error in condition.', jsonToSortedString(where));
  const clauses: Clause[] = [];
  let uuidEq: string | undefined;
  for (const cj of where) {
    const c = parseClause(table, cj, named);
    clauses.push(c);
    if (c.kind === 'cmp' && c.fn === '==' && c.column.name === '_uuid' && uuidEq === undefined) {
      uuidEq = c.arg.keys[0] as string;
    }
  }
  return uuidEq === undefined ? { clauses } : { clauses, uuidEq };
}

/** `arg` ⊆ `field` (maps: pairs). */
function includesAll(arg: Datum, field: Datum, t: ColumnType): boolean {
  if (arg.keys.length > field.keys.length) return false;
  for (let i = 0; i < arg.keys.length; i++) {
    const k = datumFind(field, arg.keys[i]!, t.key.type);
    if (k < 0) return false;
    if (t.value && field.values![k] !== arg.values![i]) return false;
  }
  return true;
}

/** `arg` ∩ `field` = ∅ (maps: pairs). */
function excludesAll(arg: Datum, field: Datum, t: ColumnType): boolean {
  for (let i = 0; i < arg.keys.length; i++) {
    const k = datumFind(field, arg.keys[i]!, t.key.type);
    if (k >= 0 && (!t.value || field.values![k] === arg.values![i])) return false;
  }
  return true;
}

/** Evaluates one clause on a row. */
export function evalClause(c: Clause, row: Row): boolean {
  if (c.kind === 'bool') return c.value;
  const type = c.column.type;
  const field = rowDatum(row, c.column);
  const arg = c.arg;
  const ordered = c.fn === '<' || c.fn === '<=' || c.fn === '>' || c.fn === '>=';
  if (ordered && isOptionalScalar(type) && field.keys.length === 0) return false;
  if (
    (isScalar(type) || isOptionalScalar(type)) &&
    field.keys.length === 1 &&
    arg.keys.length === 1
  ) {
    const cmp = compareAtoms(field.keys[0]!, arg.keys[0]!, type.key.type);
    switch (c.fn) {
      case '<':
        return cmp < 0;
      case '<=':
        return cmp <= 0;
      case '==':
      case 'includes':
        return cmp === 0;
      case '!=':
      case 'excludes':
        return cmp !== 0;
      case '>=':
        return cmp >= 0;
      case '>':
        return cmp > 0;
    }
  }
  switch (c.fn) {
    case '==':
      return datumEquals(field, arg);
    case '!=':
      return !datumEquals(field, arg);
    case 'includes':
      return includesAll(arg, field, type);
    case 'excludes':
      return excludesAll(arg, field, type);
    case '<':
    case '<=':
    case '>':
    case '>=':
      return false;
  }
}

/** True when `row` satisfies every clause of `cond`. */
export function evalCondition(cond: Condition, row: Row): boolean {
  for (const c of cond.clauses) if (!evalClause(c, row)) return false;
  return true;
}

/**
 * Atoms and datums: ordering, defaults, constraint checks, RFC 7047 JSON notation (parse and
 * OVS's canonical encoding) and the text form OVS uses inside error messages.
 */
import { OvsdbError, syntaxError } from './errors.js';
import type { Atom, AtomicType, BaseType, ColumnType, Datum, Json } from './types.js';
import { INT64_MAX, INT64_MIN, ZERO_UUID } from './types.js';

/** The empty set datum (shared). */
export const EMPTY_DATUM: Datum = Object.freeze({ keys: Object.freeze([]) });

/** The empty map datum (shared; maps always carry `values`). */
export const EMPTY_MAP: Datum = Object.freeze({
  keys: Object.freeze([]),
  values: Object.freeze([]),
});

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const ID_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** True when `s` is a uuid in 8-4-4-4-12 hex form (any case). */
export function isUuid(s: string): boolean {
  return s.length === 36 && UUID_RE.test(s);
}

/** True when `s` is an RFC 7047 `<id>`: `[A-Za-z_][A-Za-z0-9_]*`. */
export function isId(s: string): boolean {
  return ID_RE.test(s);
}

/** Maps a UTF-16 code unit so that unit order equals code point (= UTF-8 byte) order. */
function fixCodeUnit(c: number): number {
  if (c >= 0xd800) return c <= 0xdfff ? c + 0x2000 : c - 0x800;
  return c;
}

/** Compares two strings the way C `strcmp` compares their UTF-8 bytes. */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return fixCodeUnit(x) - fixCodeUnit(y);
  }
  return a.length - b.length;
}

/**
 * Three-way comparison of two atoms of `type`, in OVS's order: numbers numerically, false <
 * true, strings by UTF-8 bytes, uuids by their hex value.
 */
export function compareAtoms(a: Atom, b: Atom, type: AtomicType): number {
  switch (type) {
    case 'integer':
      return (a as bigint) < (b as bigint) ? -1 : (a as bigint) > (b as bigint) ? 1 : 0;
    case 'real':
      return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
    case 'boolean':
      return a === b ? 0 : a ? 1 : -1;
    case 'string':
      return compareStrings(a as string, b as string);
    case 'uuid':
      // Canonical uuids are lowercase with dashes at fixed places: text order = value order.
      return a === b ? 0 : (a as string) < (b as string) ? -1 : 1;
  }
}

/** The default atom of a type: 0, 0.0, false, "", the all-zero uuid. */
export function defaultAtom(type: AtomicType): Atom {
  switch (type) {
    case 'integer':
      return 0n;
    case 'real':
      return 0;
    case 'boolean':
      return false;
    case 'string':
      return '';
    case 'uuid':
      return ZERO_UUID;
  }
}

/**
 * The default datum of a column type: empty when `min` is 0, otherwise one default key (and
 * one default value for a map).
 */
export function defaultDatum(type: ColumnType): Datum {
  if (type.min === 0) return type.value ? EMPTY_MAP : EMPTY_DATUM;
  const k = defaultAtom(type.key.type);
  if (type.value) return Object.freeze({ keys: [k], values: [defaultAtom(type.value.type)] });
  return Object.freeze({ keys: [k] });
}

/** True when both datums hold the same keys and values (same column type assumed). */
export function datumEquals(a: Datum, b: Datum): boolean {
  if (a === b) return true;
  const n = a.keys.length;
  if (n !== b.keys.length) return false;
  for (let i = 0; i < n; i++) if (a.keys[i] !== b.keys[i]) return false;
  const av = a.values;
  const bv = b.values;
  if (av && bv) {
    for (let i = 0; i < n; i++) if (av[i] !== bv[i]) return false;
  }
  return true;
}

/** Index of `key` in the sorted `d.keys`, or -1. */
export function datumFind(d: Datum, key: Atom, type: AtomicType): number {
  let lo = 0;
  let hi = d.keys.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = compareAtoms(d.keys[mid]!, key, type);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/**
 * Builds a datum from unsorted keys (and values): sorts and rejects duplicates with OVS's
 * `ovsdb error` "set contains duplicate" / "map contains duplicate key".
 */
export function makeDatum(type: ColumnType, keys: Atom[], values?: Atom[]): Datum {
  const kt = type.key.type;
  if (keys.length < 2) return values ? { keys, values } : { keys };
  let sorted = true;
  for (let i = 1; i < keys.length; i++) {
    if (compareAtoms(keys[i - 1]!, keys[i]!, kt) >= 0) {
      sorted = false;
      break;
    }
  }
  if (!sorted) {
    const idx = keys.map((_, i) => i);
    idx.sort((x, y) => compareAtoms(keys[x]!, keys[y]!, kt));
    keys = idx.map((i) => keys[i]!);
    if (values) {
      const v = values;
      values = idx.map((i) => v[i]!);
    }
    for (let i = 1; i < keys.length; i++) {
      if (compareAtoms(keys[i - 1]!, keys[i]!, kt) === 0) {
        throw new OvsdbError(
          'ovsdbError',
          values ? 'map contains duplicate key' : 'set contains duplicate',
        );
      }
    }
  }
  return values ? { keys, values } : { keys };
}

// ---------------------------------------------------------------------------------------------
// Text forms used in error messages

/** Formats a real as C's `%.15g`. */
export function formatReal(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x < 0 ? '-inf' : 'inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  // toExponential rounds to 15 significant digits; its exponent decides the notation.
  const e = x.toExponential(14);
  const [mant, expStr] = e.split('e') as [string, string];
  const realExp = Number(expStr);
  if (realExp < -4 || realExp >= 15) {
    let m = mant.includes('.') ? mant.replace(/0+$/, '').replace(/\.$/, '') : mant;
    if (m === '') m = '0';
    const sign = realExp < 0 ? '-' : '+';
    const abs = Math.abs(realExp);
    return `${m}e${sign}${abs < 10 ? '0' : ''}${abs}`;
  }
  const fixed = x.toFixed(Math.max(0, 14 - realExp));
  return fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
}

function stringNeedsQuotes(s: string): boolean {
  if (s.length === 0) return true;
  const c0 = s.charCodeAt(0);
  const isAlpha = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
  if (!isAlpha(c0) && c0 !== 95) return true;
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isAlpha(c) && !(c >= 48 && c <= 57) && c !== 95 && c !== 45 && c !== 46) return true;
  }
  return s === 'true' || s === 'false' || isUuid(s);
}

/** OVS's text form of an atom (as in `ovs-vsctl` output and error messages). */
export function atomToString(a: Atom, type: AtomicType): string {
  switch (type) {
    case 'integer':
      return (a as bigint).toString();
    case 'real':
      return formatReal(a as number);
    case 'boolean':
      return a ? 'true' : 'false';
    case 'string':
      return stringNeedsQuotes(a as string) ? JSON.stringify(a) : (a as string);
    case 'uuid':
      return a as string;
  }
}

/** OVS's text form of a datum: `[a, b]`, `{k=v}`, or a bare atom for a scalar. */
export function datumToString(d: Datum, type: ColumnType): string {
  const isMap = type.value !== undefined;
  const brackets = type.max > 1 || d.keys.length === 0;
  const parts: string[] = [];
  for (let i = 0; i < d.keys.length; i++) {
    let s = atomToString(d.keys[i]!, type.key.type);
    if (isMap) s += '=' + atomToString(d.values![i]!, type.value.type);
    parts.push(s);
  }
  const body = parts.join(', ');
  if (!brackets) return body;
  return isMap ? `{${body}}` : `[${body}]`;
}

/**
 * Compact JSON text with object keys sorted, integers as integers and reals as `%.15g`
 * (the form ovsdb-server puts in an error's `syntax` member).
 */
export function jsonToSortedString(j: Json): string {
  if (j === null) return 'null';
  if (typeof j === 'boolean') return j ? 'true' : 'false';
  if (typeof j === 'bigint')
    return j >= INT64_MIN && j <= INT64_MAX ? j.toString() : formatReal(Number(j));
  if (typeof j === 'number') {
    if (Number.isInteger(j) && Math.abs(j) < 2 ** 63) return BigInt(j).toString();
    return formatReal(j);
  }
  if (typeof j === 'string') return JSON.stringify(j);
  if (Array.isArray(j)) return '[' + j.map(jsonToSortedString).join(',') + ']';
  const o = j;
  const keys = Object.keys(o).sort(compareStrings);
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + jsonToSortedString(o[k]!)).join(',') + '}';
}

// ---------------------------------------------------------------------------------------------
// Constraints

/**
 * Checks `a` against the constraints of `base` (enum, integer/real range, string length).
 * Reference constraints are not checked here (they are commit-time). Throws `constraint
 * violation` with OVS's message.
 */
export function checkAtomConstraints(a: Atom, base: BaseType): void {
  if (base.enum && !enumHas(base, a)) {
    const valid = base.enum.map((e) => atomToString(e, base.type)).join(', ');
    throw new OvsdbError(
      'constraintViolation',
      `${atomToString(a, base.type)} is not one of the allowed values ([${valid}])`,
    );
  }
  switch (base.type) {
    case 'integer': {
      const v = a as bigint;
      const min = base.minInteger ?? INT64_MIN;
      const max = base.maxInteger ?? INT64_MAX;
      if (v >= min && v <= max) return;
      if (min !== INT64_MIN) {
        if (max !== INT64_MAX) {
          throw new OvsdbError(
            'constraintViolation',
            `${v} is not in the valid range ${min} to ${max} (inclusive)`,
          );
        }
        throw new OvsdbError(
          'constraintViolation',
          `${v} is less than minimum allowed value ${min}`,
        );
      }
      throw new OvsdbError(
        'constraintViolation',
        `${v} is greater than maximum allowed value ${max}`,
      );
    }
    case 'real': {
      const v = a as number;
      const min = base.minReal ?? -Number.MAX_VALUE;
      const max = base.maxReal ?? Number.MAX_VALUE;
      if (v >= min && v <= max) return;
      const f = formatReal;
      if (min !== -Number.MAX_VALUE) {
        if (max !== Number.MAX_VALUE) {
          throw new OvsdbError(
            'constraintViolation',
            `${f(v)} is not in the valid range ${f(min)} to ${f(max)} (inclusive)`,
          );
        }
        throw new OvsdbError(
          'constraintViolation',
          `${f(v)} is less than minimum allowed value ${f(min)}`,
        );
      }
      throw new OvsdbError(
        'constraintViolation',
        `${f(v)} is greater than maximum allowed value ${f(max)}`,
      );
    }
    case 'string': {
      const s = a as string;
      if (base.minLength === undefined && base.maxLength === undefined) return;
      const n = codePointLength(s);
      if (base.minLength !== undefined && n < base.minLength) {
        throw new OvsdbError(
          'constraintViolation',
          `"${s}" length ${n} is less than minimum allowed length ${base.minLength}`,
        );
      }
      if (base.maxLength !== undefined && n > base.maxLength) {
        throw new OvsdbError(
          'constraintViolation',
          `"${s}" length ${n} is greater than maximum allowed length ${base.maxLength}`,
        );
      }
      return;
    }
    case 'boolean':
    case 'uuid':
      return;
  }
}

function enumHas(base: BaseType, a: Atom): boolean {
  const e = base.enum!;
  for (const x of e) if (x === a) return true;
  return false;
}

function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff) n++;
  }
  return n;
}

/** Checks every atom of `d` against `type`'s base constraints (see {@link checkAtomConstraints}). */
export function checkDatumConstraints(d: Datum, type: ColumnType): void {
  for (const k of d.keys) checkAtomConstraints(k, type.key);
  if (type.value && d.values) for (const v of d.values) checkAtomConstraints(v, type.value);
}

// ---------------------------------------------------------------------------------------------
// JSON

/**
 * Resolves a `["named-uuid", name]` to the uuid it stands for (the transaction's symbol table).
 * `base` is the base type the name appears in (tells whether it is a strong/weak reference).
 */
export type NamedUuidResolver = (name: string, base: BaseType) => string;

/** Converts a JSON number/bigint to an int64 bigint, or undefined when it is not one. */
export function jsonToInt64(j: Json): bigint | undefined {
  if (typeof j === 'bigint') return j >= INT64_MIN && j <= INT64_MAX ? j : undefined;
  if (typeof j === 'number' && Number.isInteger(j) && j >= -(2 ** 63) && j < 2 ** 63)
    return BigInt(j);
  return undefined;
}

function atomFromJsonNoCheck(j: Json, base: BaseType, named?: NamedUuidResolver): Atom {
  switch (base.type) {
    case 'integer': {
      const v = jsonToInt64(j);
      if (v !== undefined) return v;
      break;
    }
    case 'real':
      if (typeof j === 'number') return j;
      if (typeof j === 'bigint') return Number(j);
      break;
    case 'boolean':
      if (typeof j === 'boolean') return j;
      break;
    case 'string':
      if (typeof j === 'string') return j;
      break;
    case 'uuid': {
      if (Array.isArray(j) && j.length === 2 && typeof j[1] === 'string') {
        if (j[0] === 'uuid') {
          if (!isUuid(j[1]))
            throw syntaxError(`"${j[1]}" is not a valid UUID`, jsonToSortedString(j));
          return j[1].toLowerCase();
        }
        if (j[0] === 'named-uuid' && named) {
          if (!isId(j[1]))
            throw syntaxError('named-uuid string is not a valid <id>', jsonToSortedString(j));
          return named(j[1], base);
        }
      }
      throw syntaxError('expected ["uuid", <string>]', jsonToSortedString(j));
    }
  }
  throw syntaxError(`expected ${base.type}`, jsonToSortedString(j));
}

/**
 * Parses one atom of `base` from JSON and checks its constraints. Named uuids are accepted
 * only when `named` is given. Throws an {@link OvsdbError} shaped as ovsdb-server's.
 */
export function atomFromJson(j: Json, base: BaseType, named?: NamedUuidResolver): Atom {
  const a = atomFromJsonNoCheck(j, base, named);
  checkAtomConstraints(a, base);
  return a;
}

function maxText(max: number): string {
  return max === Infinity ? '4294967295' : String(max);
}

/**
 * Parses a datum of `type` from RFC 7047 JSON (bare atom, `["set", […]]`, `["map", […]]`),
 * checks sizes and base constraints, sorts and rejects duplicates. With `relaxSize` the
 * min/max element counts are not checked (conditions and mutation arguments).
 */
export function datumFromJson(
  j: Json,
  type: ColumnType,
  named?: NamedUuidResolver,
  relaxSize = false,
): Datum {
  const isMap = type.value !== undefined;
  if (isMap || (Array.isArray(j) && j.length > 0 && j[0] === 'set')) {
    const cls = isMap ? 'map' : 'set';
    if (!Array.isArray(j) || j.length !== 2 || j[0] !== cls || !Array.isArray(j[1])) {
      throw syntaxError(`expected ["${cls}", <array>]`, jsonToSortedString(j));
    }
    const inner = j[1];
    const n = inner.length;
    if (!relaxSize && (n < type.min || n > type.max)) {
      if (type.min === 1 && type.max === 1) {
        throw syntaxError(
          `${cls} must have exactly one member but ${n} are present`,
          jsonToSortedString(j),
        );
      }
      throw syntaxError(
        `${cls} must have ${type.min} to ${maxText(type.max)} members but ${n} are present`,
        jsonToSortedString(j),
      );
    }
    const keys: Atom[] = new Array<Atom>(n);
    if (!isMap) {
      for (let i = 0; i < n; i++) keys[i] = atomFromJson(inner[i]!, type.key, named);
      return makeDatum(type, keys);
    }
    const values: Atom[] = new Array<Atom>(n);
    for (let i = 0; i < n; i++) {
      const e = inner[i]!;
      if (!Array.isArray(e) || e.length !== 2) {
        throw syntaxError('expected 2-element array', jsonToSortedString(e));
      }
      keys[i] = atomFromJson(e[0]!, type.key, named);
      values[i] = atomFromJson(e[1]!, type.value, named);
    }
    return makeDatum(type, keys, values);
  }
  return { keys: [atomFromJson(j, type.key, named)] };
}

/** An atom in JSON: integers as number when safe (else bigint), uuids as `["uuid", …]`. */
export function atomToJson(a: Atom, type: AtomicType): Json {
  switch (type) {
    case 'integer': {
      const v = a as bigint;
      return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
    }
    case 'uuid':
      return ['uuid', a];
    case 'real':
    case 'boolean':
    case 'string':
      return a;
  }
}

/**
 * A datum in OVS's canonical JSON: a map is always `["map", [[k, v], …]]`; a set with exactly
 * one element is the bare atom; otherwise `["set", […]]`. Keys are already sorted.
 */
export function datumToJson(d: Datum, type: ColumnType): Json {
  const kt = type.key.type;
  if (type.value) {
    const vt = type.value.type;
    const pairs: Json[] = new Array<Json>(d.keys.length);
    for (let i = 0; i < d.keys.length; i++)
      pairs[i] = [atomToJson(d.keys[i]!, kt), atomToJson(d.values![i]!, vt)];
    return ['map', pairs];
  }
  if (d.keys.length === 1) return atomToJson(d.keys[0]!, kt);
  return ['set', d.keys.map((k) => atomToJson(k, kt))];
}

/** True when `d` equals the column type's default datum. */
export function isDefaultDatum(d: Datum, type: ColumnType): boolean {
  if (type.min === 0) return d.keys.length === 0;
  if (d.keys.length !== 1) return false;
  if (d.keys[0] !== defaultAtom(type.key.type)) return false;
  if (type.value) return d.values![0] === defaultAtom(type.value.type);
  return true;
}

/** OVS's three-way datum order: by element count, then keys, then values. */
export function compareDatums(a: Datum, b: Datum, type: ColumnType): number {
  if (a.keys.length !== b.keys.length) return a.keys.length < b.keys.length ? -1 : 1;
  for (let i = 0; i < a.keys.length; i++) {
    const c = compareAtoms(a.keys[i]!, b.keys[i]!, type.key.type);
    if (c) return c;
  }
  if (type.value) {
    for (let i = 0; i < a.keys.length; i++) {
      const c = compareAtoms(a.values![i]!, b.values![i]!, type.value.type);
      if (c) return c;
    }
  }
  return 0;
}

/** A string that is equal for equal datums of one column type (for hashing/index keys). */
export function datumKey(d: Datum): string {
  let s = '';
  for (const k of d.keys)
    s += typeof k === 'string' ? JSON.stringify(k) : `${typeof k}:${String(k)}`;
  if (d.values) {
    s += '=>';
    for (const v of d.values)
      s += typeof v === 'string' ? JSON.stringify(v) : `${typeof v}:${String(v)}`;
  }
  return s;
}

/**
 * OVSDB schemas (RFC 7047 §3.2): validation of the JSON form against
 * `schemas/ovsdb-schema.schema.json` (ajv; a fault is reported with its JSON path), parsing into
 * the typed {@link DatabaseSchema} of types.ts, the semantic checks ajv cannot express
 * (refTable exists, ranges are ordered, enum values meet the other constraints, indexed columns
 * exist and are persistent) and the normalised JSON that `get_schema` returns.
 */
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { createHash } from 'node:crypto';
import { loadSchemaFile } from '../schemas/index.js';
import { datumFromJson, datumToJson, defaultDatum, jsonToInt64 } from './datum.js';
import { OvsdbError } from './errors.js';
import type {
  BaseType,
  ColumnSchema,
  ColumnType,
  DatabaseSchema,
  Json,
  TableSchema,
} from './types.js';

let validator: ValidateFunction | undefined;

function getValidator(): ValidateFunction {
  if (!validator) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    validator = ajv.compile(loadSchemaFile('ovsdbSchemaFormat') as object);
  }
  return validator;
}

function pathOf(instancePath: string): string {
  if (instancePath === '') return '$';
  return (
    '$' +
    instancePath
      .split('/')
      .slice(1)
      .map((p) => `.${p.replace(/~1/g, '/').replace(/~0/g, '~')}`)
      .join('')
  );
}

function bestError(errors: ErrorObject[]): ErrorObject {
  // The deepest error is the most specific one (oneOf branches report at their own depth).
  let best = errors[0]!;
  for (const e of errors) {
    const d = e.instancePath.split('/').length;
    const bd = best.instancePath.split('/').length;
    if (d > bd || (d === bd && best.keyword === 'oneOf' && e.keyword !== 'oneOf')) best = e;
  }
  return best;
}

function fail(path: string, message: string): never {
  throw new OvsdbError('syntaxError', `${path}: ${message}`);
}

/**
 * Validates `json` against the JSON Schema of the schema format. Throws an {@link OvsdbError}
 * (`syntax error`) whose details start with the JSON path of the fault, e.g.
 * `$.tables.Bridge.columns.name.type: must be equal to one of the allowed values`.
 */
export function validateSchemaJson(json: unknown): void {
  const v = getValidator();
  if (v(json)) return;
  const e = bestError(v.errors ?? []);
  let msg = e.message ?? 'invalid';
  if (e.keyword === 'additionalProperties') {
    msg = `member '${String((e.params as { additionalProperty?: string }).additionalProperty)}' is not allowed here`;
  } else if (e.keyword === 'required') {
    msg = `required member '${String((e.params as { missingProperty?: string }).missingProperty)}' is missing`;
  }
  fail(pathOf(e.instancePath), msg);
}

function toInt(j: Json | undefined, path: string): bigint | undefined {
  if (j === undefined) return undefined;
  const v = jsonToInt64(j);
  if (v === undefined) fail(path, 'expected a 64-bit integer');
  return v;
}

function toNum(j: Json | undefined): number | undefined {
  if (j === undefined) return undefined;
  return typeof j === 'bigint' ? Number(j) : (j as number);
}

function parseBaseType(j: Json, path: string): BaseType {
  if (typeof j === 'string') return { type: j as BaseType['type'] };
  const o = j as { [k: string]: Json };
  const type = o.type as BaseType['type'];
  const b: {
    -readonly [K in keyof BaseType]: BaseType[K];
  } = { type };
  const only = (k: string, t: string): void => {
    if (o[k] !== undefined && type !== t)
      fail(`${path}.${k}`, `"${k}" is not allowed for type ${type}`);
  };
  only('minInteger', 'integer');
  only('maxInteger', 'integer');
  only('minReal', 'real');
  only('maxReal', 'real');
  only('minLength', 'string');
  only('maxLength', 'string');
  only('refTable', 'uuid');
  only('refType', 'uuid');
  if (type === 'integer') {
    b.minInteger = toInt(o.minInteger, `${path}.minInteger`);
    b.maxInteger = toInt(o.maxInteger, `${path}.maxInteger`);
    if (b.minInteger !== undefined && b.maxInteger !== undefined && b.minInteger > b.maxInteger) {
      fail(path, 'minInteger exceeds maxInteger');
    }
  } else if (type === 'real') {
    b.minReal = toNum(o.minReal);
    b.maxReal = toNum(o.maxReal);
    if (b.minReal !== undefined && b.maxReal !== undefined && b.minReal > b.maxReal) {
      fail(path, 'minReal exceeds maxReal');
    }
  } else if (type === 'string') {
    b.minLength = toNum(o.minLength);
    b.maxLength = toNum(o.maxLength);
    if (b.minLength !== undefined && b.maxLength !== undefined && b.minLength > b.maxLength) {
      fail(path, 'minLength exceeds maxLength');
    }
  } else if (type === 'uuid') {
    if (o.refTable !== undefined) {
      b.refTable = o.refTable as string;
      b.refType = (o.refType as 'strong' | 'weak' | undefined) ?? 'strong';
    } else if (o.refType !== undefined) {
      fail(`${path}.refType`, '"refType" requires "refTable"');
    }
  }
  if (o.enum !== undefined) {
    const enumType: ColumnType = { key: { ...b }, min: 0, max: Infinity };
    let d;
    try {
      d = datumFromJson(o.enum, enumType);
    } catch (e) {
      if (e instanceof OvsdbError) fail(`${path}.enum`, e.details ?? e.tag);
      throw e;
    }
    if (d.keys.length === 0) fail(`${path}.enum`, 'enum must have at least one value');
    b.enum = d.keys;
  }
  return b;
}

function parseColumnType(j: Json, path: string): ColumnType {
  if (typeof j === 'string') return { key: { type: j as BaseType['type'] }, min: 1, max: 1 };
  const o = j as { [k: string]: Json };
  const key = parseBaseType(o.key!, `${path}.key`);
  const value = o.value === undefined ? undefined : parseBaseType(o.value, `${path}.value`);
  const min = o.min === undefined ? 1 : Number(o.min);
  const max = o.max === undefined ? 1 : o.max === 'unlimited' ? Infinity : Number(o.max);
  if (min > max) fail(path, `ovsdb type fails constraint checks (min ${min} > max ${max})`);
  return value ? { key, value, min, max } : { key, min, max };
}

/** The JSON form of a base type as `get_schema` shows it (bare type name when unconstrained). */
export function baseTypeToJson(b: BaseType): Json {
  const o: { [k: string]: Json } = { type: b.type };
  if (b.enum)
    o.enum = datumToJson({ keys: b.enum }, { key: { type: b.type }, min: 0, max: Infinity });
  if (b.minInteger !== undefined) o.minInteger = atomNum(b.minInteger);
  if (b.maxInteger !== undefined) o.maxInteger = atomNum(b.maxInteger);
  if (b.minReal !== undefined) o.minReal = b.minReal;
  if (b.maxReal !== undefined) o.maxReal = b.maxReal;
  if (b.minLength !== undefined) o.minLength = b.minLength;
  if (b.maxLength !== undefined) o.maxLength = b.maxLength;
  if (b.refTable !== undefined) o.refTable = b.refTable;
  if (b.refType === 'weak') o.refType = 'weak';
  return Object.keys(o).length === 1 ? b.type : o;
}

function atomNum(v: bigint): Json {
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

/** The JSON form of a column type as `get_schema` shows it. */
export function columnTypeToJson(t: ColumnType): Json {
  const key = baseTypeToJson(t.key);
  if (!t.value && t.min === 1 && t.max === 1 && typeof key === 'string') return key;
  const o: { [k: string]: Json } = { key };
  if (t.value) o.value = baseTypeToJson(t.value);
  if (t.min !== 1) o.min = t.min;
  if (t.max !== 1) o.max = t.max === Infinity ? 'unlimited' : t.max;
  return o;
}

interface MutableTable {
  name: string;
  columns: Map<string, ColumnSchema>;
  columnList: ColumnSchema[];
  isRoot: boolean;
  maxRows?: number;
  indexes: string[][];
}

/**
 * Validates (ajv, then semantic checks) and parses an OVSDB schema. Throws an
 * {@link OvsdbError} (`syntax error`) whose details name the JSON path of the fault.
 */
export function parseSchema(json: unknown): DatabaseSchema {
  validateSchemaJson(json);
  const root = json as { [k: string]: Json };
  const tablesJson = root.tables as { [k: string]: { [k: string]: Json } };
  const tables = new Map<string, MutableTable>();
  for (const [tname, tj] of Object.entries(tablesJson)) {
    const tpath = `$.tables.${tname}`;
    const cols = tj.columns as { [k: string]: { [k: string]: Json } };
    const t: MutableTable = {
      name: tname,
      columns: new Map(),
      columnList: [],
      isRoot: tj.isRoot === true,
      indexes: [],
    };
    if (tj.maxRows !== undefined) t.maxRows = Number(tj.maxRows);
    const tableMutable = tj.mutable !== false;
    for (const [cname, cj] of Object.entries(cols)) {
      const cpath = `${tpath}.columns.${cname}`;
      const type = parseColumnType(cj.type!, `${cpath}.type`);
      const col: ColumnSchema = {
        name: cname,
        type,
        ephemeral: cj.ephemeral === true,
        mutable: tableMutable && cj.mutable !== false,
        default: defaultDatum(type),
        json: cj,
      };
      t.columns.set(cname, col);
      t.columnList.push(col);
    }
    if (Array.isArray(tj.indexes)) {
      (tj.indexes as string[][]).forEach((idx, i) => {
        for (const c of idx) {
          const col = t.columns.get(c);
          if (!col) fail(`${tpath}.indexes[${i}]`, `${c} is not a valid column name`);
          if (col.ephemeral)
            fail(`${tpath}.indexes[${i}]`, `ephemeral columns (such as ${c}) may not be indexed`);
        }
        t.indexes.push([...idx]);
      });
    }
    tables.set(tname, t);
  }
  // RFC 7047: a schema without any root table treats every table as root.
  if (![...tables.values()].some((t) => t.isRoot)) for (const t of tables.values()) t.isRoot = true;
  // Reference checks; a strong reference to a non-root table is always persistent.
  for (const t of tables.values()) {
    t.columnList = t.columnList.map((c) => {
      let persistent = !c.ephemeral;
      for (const [which, b] of [
        ['key', c.type.key],
        ['value', c.type.value],
      ] as const) {
        if (!b?.refTable) continue;
        const rt = tables.get(b.refTable);
        if (!rt) {
          fail(
            `$.tables.${t.name}.columns.${c.name}.type.${which}.refTable`,
            `column ${c.name} ${which} refers to undefined table ${b.refTable}`,
          );
        }
        if (b.refType === 'strong' && !rt.isRoot) persistent = true;
      }
      if (persistent === !c.ephemeral) return c;
      const nc = { ...c, ephemeral: false };
      t.columns.set(c.name, nc);
      return nc;
    });
  }
  const schema: {
    name: string;
    version: string;
    cksum?: string;
    tables: Map<string, TableSchema>;
    json: { [k: string]: Json };
  } = {
    name: root.name as string,
    version: (root.version as string | undefined) ?? '',
    tables: tables,
    json: {},
  };
  if (typeof root.cksum === 'string') schema.cksum = root.cksum;
  schema.json = schemaToJson(schema);
  return schema;
}

/**
 * The normalised JSON of a schema, as ovsdb-server's `get_schema` returns it: members
 * `name`, `version`, `cksum` (when known), `tables`; a table's `isRoot` appears only when not
 * every table is root; defaults (`min`/`max` 1, `mutable` true, strong refs) are omitted.
 */
export function schemaToJson(schema: Omit<DatabaseSchema, 'json'>): { [k: string]: Json } {
  const allRoot = [...schema.tables.values()].every((t) => t.isRoot);
  const tables: { [k: string]: Json } = {};
  for (const t of schema.tables.values()) {
    const columns: { [k: string]: Json } = {};
    for (const c of t.columnList) {
      const cj: { [k: string]: Json } = { type: columnTypeToJson(c.type) };
      if (c.ephemeral) cj.ephemeral = true;
      if (!c.mutable) cj.mutable = false;
      columns[c.name] = cj;
    }
    const tj: { [k: string]: Json } = { columns };
    if (t.maxRows !== undefined) tj.maxRows = t.maxRows;
    if (t.isRoot && !allRoot) tj.isRoot = true;
    if (t.indexes.length > 0) tj.indexes = t.indexes.map((i) => [...i]);
    tables[t.name] = tj;
  }
  const out: { [k: string]: Json } = { name: schema.name, version: schema.version };
  if (schema.cksum !== undefined) out.cksum = schema.cksum;
  out.tables = tables;
  return out;
}

/**
 * Our checksum of a schema text: `"<crc-like 32-bit number> <length>"` computed over the text
 * with its `cksum` member removed. It is stable for a given file but is not OVS's value.
 */
export function computeCksum(text: string): string {
  const stripped = text.replace(/"cksum"\s*:\s*"[^"]*"\s*,?/, '');
  const h = createHash('sha256').update(stripped).digest();
  return `${h.readUInt32BE(0)} ${Buffer.byteLength(stripped)}`;
}

let vswitchSchema: DatabaseSchema | undefined;
let serverSchema: DatabaseSchema | undefined;

/** The parsed `schemas/vswitch.ovsschema` (Open_vSwitch 8.3.1), cached. */
export function vswitchDbSchema(): DatabaseSchema {
  vswitchSchema ??= parseSchema(loadSchemaFile('vswitch'));
  return vswitchSchema;
}

/** The parsed `schemas/_Server.ovsschema`, cached. */
export function serverDbSchema(): DatabaseSchema {
  serverSchema ??= parseSchema(loadSchemaFile('server'));
  return serverSchema;
}

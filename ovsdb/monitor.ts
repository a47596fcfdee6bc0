/**
 * OVSDB monitors (RFC 7047 §4.1.5 `monitor`, and the `monitor_cond` / `monitor_cond_since`
 * extensions of ovsdb-server): parsing monitor requests, composing the initial contents and
 * turning committed changes into `update` (v1), `update2` and `update3` table-updates, exactly
 * as ovsdb-server 3.1 shapes them:
 *
 * - Absent `columns` = every column plus `_version`; `"columns": []` = no columns at all.
 * - v1: `initial`/`insert` → `{"new": all selected columns}`; modify → `new` with all selected
 *   columns and `old` with the changed ones; delete → `{"old": all selected columns}`.
 * - v2/v3: `initial`/`insert` carry only columns not at their default; `modify` only the changed
 *   columns, sets and maps of more than one element as a diff (set: symmetric difference; map:
 *   added or changed pairs with the new value plus removed pairs with the old value); `delete`
 *   is `null`. A row entering a condition is an `insert`, one leaving it a `delete`.
 * - A change touching only unmonitored columns is not reported.
 *
 * Changes are coalesced per row between flushes (first `old`, latest `new`), so a session that
 * cannot keep up costs at most one pending entry per changed row, never a growing queue.
 */
import type { CommitRecord, Database } from './database.js';
import {
  compareAtoms,
  datumToJson,
  isDefaultDatum,
  datumEquals,
  jsonToSortedString,
} from './datum.js';
import { syntaxError } from './errors.js';
import type { ColumnSchema, ColumnType, Datum, Json, Row, TableSchema } from './types.js';

/** Which monitor method created a monitor: 1 `monitor`, 2 `monitor_cond`, 3 `monitor_cond_since`. */
export type MonitorVersion = 1 | 2 | 3;

/** The notification method for each monitor version. */
export const UPDATE_METHOD = { 1: 'update', 2: 'update2', 3: 'update3' } as const;

/** RFC 7047 `<monitor-select>` flags. */
export interface MonitorSelect {
  /** Report rows present when the monitor starts. */
  initial: boolean;
  /** Report inserted rows. */
  insert: boolean;
  /** Report deleted rows. */
  delete: boolean;
  /** Report modified rows. */
  modify: boolean;
}

/** A compiled `where` of a `monitor_cond` request. */
export interface RowCondition {
  /** True when `row` satisfies the condition. */
  matches(row: Row): boolean;
  /** True when the condition is the constant `true` (no clauses, or only `true`). */
  readonly always: boolean;
}

/**
 * Compiles the `where` JSON of a monitor condition for `table`. Throws an {@link OvsdbError}
 * on a malformed condition.
 */
export type ConditionCompiler = (table: TableSchema, where: Json) => RowCondition;

/** The condition used when a request has no `where`. */
export const ALWAYS: RowCondition = { matches: () => true, always: true };

/** One monitored column (`_uuid` and `_version` have no schema). */
interface MonitoredColumn {
  readonly name: string;
  readonly schema: ColumnSchema | undefined;
  readonly select: MonitorSelect;
}

/** One monitored table. */
interface MonitoredTable {
  readonly schema: TableSchema;
  readonly columns: readonly MonitoredColumn[];
  /** Union of the columns' selects (the table's select when it has no columns). */
  readonly select: MonitorSelect;
  condition: RowCondition;
}

interface PendingChange {
  old: Row | undefined;
  new: Row | undefined;
}

type Kind = 'initial' | 'insert' | 'delete' | 'modify';

const ALL_SELECT: MonitorSelect = { initial: true, insert: true, delete: true, modify: true };

function isObject(j: Json | undefined): j is { [k: string]: Json } {
  return typeof j === 'object' && j !== null && !Array.isArray(j) && typeof j !== 'bigint';
}

function parseSelect(j: Json | undefined, req: Json, tname: string): MonitorSelect {
  if (j === undefined) return { ...ALL_SELECT };
  if (!isObject(j)) {
    throw syntaxError(
      `Parsing table ${tname} failed: Type mismatch for member 'select'.`,
      jsonToSortedString(req),
    );
  }
  const out = { ...ALL_SELECT };
  for (const k of Object.keys(j)) {
    if (k !== 'initial' && k !== 'insert' && k !== 'delete' && k !== 'modify') {
      throw syntaxError(
        `Parsing table ${tname} select failed: Member '${k}' is present but not allowed here.`,
        jsonToSortedString(j),
      );
    }
    const v = j[k];
    if (typeof v !== 'boolean') {
      throw syntaxError(
        `Parsing table ${tname} select failed: Type mismatch for member '${k}'.`,
        jsonToSortedString(j),
      );
    }
    out[k] = v;
  }
  return out;
}

function columnValue(row: Row, c: MonitoredColumn): Datum | string {
  if (c.schema) return row.data[c.schema.name]!;
  return c.name === '_uuid' ? row.uuid : row.version;
}

function columnJson(row: Row, c: MonitoredColumn): Json {
  if (c.schema) return datumToJson(row.data[c.schema.name]!, c.schema.type);
  return ['uuid', c.name === '_uuid' ? row.uuid : row.version];
}

function columnChanged(a: Row, b: Row, c: MonitoredColumn): boolean {
  const x = columnValue(a, c);
  const y = columnValue(b, c);
  if (typeof x === 'string') return x !== y;
  return !datumEquals(x, y as Datum);
}

function isDefault(row: Row, c: MonitoredColumn): boolean {
  if (!c.schema) return false;
  return isDefaultDatum(row.data[c.schema.name]!, c.schema.type);
}

/**
 * The update2 diff of one column: the new value for columns holding at most one element,
 * otherwise the symmetric difference of sets / the added, changed and removed pairs of maps.
 */
export function datumDiff(oldD: Datum, newD: Datum, type: ColumnType): Datum {
  if (type.max <= 1) return newD;
  const kt = type.key.type;
  const keys: (typeof oldD.keys)[number][] = [];
  const values: (typeof oldD.keys)[number][] = [];
  const isMap = type.value !== undefined;
  let i = 0;
  let j = 0;
  const ok = oldD.keys;
  const nk = newD.keys;
  while (i < ok.length || j < nk.length) {
    const c = i >= ok.length ? 1 : j >= nk.length ? -1 : compareAtoms(ok[i]!, nk[j]!, kt);
    if (c < 0) {
      keys.push(ok[i]!);
      if (isMap) values.push(oldD.values![i]!);
      i++;
    } else if (c > 0) {
      keys.push(nk[j]!);
      if (isMap) values.push(newD.values![j]!);
      j++;
    } else {
      if (isMap && oldD.values![i] !== newD.values![j]) {
        keys.push(nk[j]!);
        values.push(newD.values![j]!);
      }
      i++;
      j++;
    }
  }
  return isMap ? { keys, values } : { keys };
}

/** Canonical text of a monitor id, for keying a session's monitors. */
export function monitorKey(id: Json): string {
  return jsonToSortedString(id);
}

/** Options of {@link Monitor.parse}. */
export interface MonitorParseOptions {
  /** Compiles `where` clauses; required for versions 2 and 3. */
  compileCondition?: ConditionCompiler;
}

/** One monitor of one session on one database. */
export class Monitor {
  private pending = new Map<string, Map<string, PendingChange>>();
  private nPending = 0;

  private constructor(
    /** The monitor id as the client gave it (echoed in every notification). */
    public id: Json,
    /** Which method created it. */
    readonly version: MonitorVersion,
    /** The monitored database. */
    readonly db: Database,
    private readonly tables: Map<string, MonitoredTable>,
    private readonly compile: ConditionCompiler | undefined,
  ) {}

  /**
   * Parses `<monitor-requests>` for `db`. Throws {@link OvsdbError} (`syntax error`) with
   * ovsdb-server's texts: "no table named X", "X is not a valid column name", "column X
   * mentioned more than once", "Parsing table T failed: …".
   */
  static parse(
    db: Database,
    id: Json,
    version: MonitorVersion,
    requests: Json,
    opts: MonitorParseOptions = {},
  ): Monitor {
    if (!isObject(requests)) {
      throw syntaxError('monitor-requests must be object', jsonToSortedString(requests));
    }
    const tables = new Map<string, MonitoredTable>();
    for (const tname of Object.keys(requests)) {
      const ts = db.tableSchema(tname);
      if (!ts) throw syntaxError(`no table named ${tname}`);
      const rj = requests[tname]!;
      const reqs: Json[] = Array.isArray(rj) ? rj : [rj];
      const columns: MonitoredColumn[] = [];
      const seen = new Set<string>();
      const union: MonitorSelect = { initial: false, insert: false, delete: false, modify: false };
      let condition: RowCondition = ALWAYS;
      let conditionSet = false;
      for (const req of reqs) {
        if (!isObject(req)) {
          throw syntaxError(`Parsing table ${tname} failed: Object expected.`);
        }
        for (const k of Object.keys(req)) {
          const allowed = k === 'columns' || k === 'select' || (k === 'where' && version !== 1);
          if (!allowed) {
            throw syntaxError(
              `Parsing table ${tname} failed: Member '${k}' is present but not allowed here.`,
              jsonToSortedString(req),
            );
          }
        }
        const select = parseSelect(req.select, req, tname);
        for (const f of ['initial', 'insert', 'delete', 'modify'] as const)
          if (select[f]) union[f] = true;
        let names: string[];
        if (req.columns === undefined) {
          names = [...ts.columnList.map((c) => c.name), '_version'];
        } else {
          const cj = req.columns;
          if (!Array.isArray(cj)) {
            throw syntaxError(
              `Parsing table ${tname} failed: Type mismatch for member 'columns'.`,
              jsonToSortedString(req),
            );
          }
          if (cj.some((c) => typeof c !== 'string')) {
            throw syntaxError('array of column names expected', jsonToSortedString(cj));
          }
          names = cj as string[];
          for (const n of names) {
            if (n !== '_uuid' && n !== '_version' && !ts.columns.has(n)) {
              throw syntaxError(`${n} is not a valid column name`, jsonToSortedString(cj));
            }
          }
        }
        for (const n of names) {
          if (seen.has(n)) {
            throw syntaxError(
              `column ${n} mentioned more than once`,
              jsonToSortedString(req.columns ?? null),
            );
          }
          seen.add(n);
          columns.push({ name: n, schema: ts.columns.get(n), select });
        }
        if (req.where !== undefined) {
          if (!opts.compileCondition) throw syntaxError('conditions are not supported');
          const c = opts.compileCondition(ts, req.where);
          condition = conditionSet ? andConditions(condition, c) : c;
          conditionSet = true;
        }
      }
      if (reqs.length === 0) Object.assign(union, ALL_SELECT);
      tables.set(tname, { schema: ts, columns, select: union, condition });
    }
    return new Monitor(id, version, db, tables, opts.compileCondition);
  }

  /** Names of the monitored tables. */
  tableNames(): string[] {
    return [...this.tables.keys()];
  }

  /** Number of monitored columns over all tables (for memory/show). */
  columnCount(): number {
    let n = 0;
    for (const t of this.tables.values()) n += t.columns.length;
    return n;
  }

  /** The table-updates of the current contents (the monitor reply). `{}` when nothing matches. */
  initial(): { [table: string]: Json } {
    const out: { [table: string]: Json } = {};
    for (const [tname, mt] of this.tables) {
      if (!mt.select.initial) continue;
      const rows: { [uuid: string]: Json } = {};
      let any = false;
      for (const row of this.db.rows(tname).values()) {
        if (!mt.condition.matches(row)) continue;
        const u = this.rowUpdate(mt, 'initial', undefined, row);
        if (u !== undefined) {
          rows[row.uuid] = u;
          any = true;
        }
      }
      if (any) out[tname] = rows;
    }
    return out;
  }

  /** Records the changes of a commit to monitored tables (coalescing with unflushed ones). */
  record(commit: CommitRecord): void {
    for (const [tname, changes] of commit.tables) {
      const mt = this.tables.get(tname);
      if (!mt) continue;
      let pt = this.pending.get(tname);
      for (const [uuid, ch] of changes) {
        if (!pt) {
          pt = new Map();
          this.pending.set(tname, pt);
        }
        const p = pt.get(uuid);
        if (p) p.new = ch.new;
        else {
          pt.set(uuid, { old: ch.old, new: ch.new });
          this.nPending++;
        }
      }
    }
  }

  /** Rows with unflushed changes. */
  pendingRows(): number {
    return this.nPending;
  }

  /**
   * Composes the table-updates for every change recorded since the last call and forgets them.
   * Returns undefined when nothing of interest changed.
   */
  takeUpdates(): { [table: string]: Json } | undefined {
    if (this.nPending === 0) return undefined;
    const pending = this.pending;
    this.pending = new Map();
    this.nPending = 0;
    let out: { [table: string]: Json } | undefined;
    for (const [tname, rows] of pending) {
      const mt = this.tables.get(tname)!;
      let tout: { [uuid: string]: Json } | undefined;
      for (const [uuid, p] of rows) {
        const oldIn = p.old !== undefined && mt.condition.matches(p.old);
        const newIn = p.new !== undefined && mt.condition.matches(p.new);
        let u: Json | undefined;
        if (oldIn && newIn) u = this.rowUpdate(mt, 'modify', p.old, p.new);
        else if (newIn) u = this.rowUpdate(mt, 'insert', undefined, p.new);
        else if (oldIn) u = this.rowUpdate(mt, 'delete', p.old, undefined);
        if (u === undefined) continue;
        (tout ??= {})[uuid] = u;
      }
      if (tout) (out ??= {})[tname] = tout;
    }
    return out;
  }

  /**
   * Replaces the conditions of some tables (`monitor_cond_change`): `changes` maps a table to an
   * array of `{"where": …}` requests (`columns` present is refused with "changing columns is
   * unsupported"). Pending changes must have been taken first. Returns the table-updates that
   * bring the client from the old to the new condition (inserts and deletes), or undefined.
   */
  changeConditions(changes: Json): { [table: string]: Json } | undefined {
    if (!isObject(changes)) throw syntaxError('monitor-cond-change-requests must be object');
    const updates = new Map<string, RowCondition>();
    for (const tname of Object.keys(changes)) {
      const mt = this.tables.get(tname);
      if (!mt) {
        throw syntaxError(
          this.db.tableSchema(tname)
            ? `no table named ${tname} in monitor session`
            : `no table named ${tname}`,
        );
      }
      const rj = changes[tname]!;
      if (!Array.isArray(rj)) throw syntaxError(`table ${tname} no monitor-cond-change JSON array`);
      let cond: RowCondition | undefined;
      for (const req of rj) {
        if (!isObject(req)) throw syntaxError(`Parsing table ${tname} failed: Object expected.`);
        for (const k of Object.keys(req)) {
          if (k !== 'where' && k !== 'columns') {
            throw syntaxError(
              `Parsing table ${tname} failed: Member '${k}' is present but not allowed here.`,
              jsonToSortedString(req),
            );
          }
        }
        if (req.columns !== undefined) {
          throw syntaxError('changing columns is unsupported', jsonToSortedString(req));
        }
        if (req.where === undefined) continue;
        if (!this.compile) throw syntaxError('conditions are not supported by this monitor');
        // ovsdb-server accepts a condition change on a v1 `monitor` too and filters from then on.
        const c = this.compile(mt.schema, req.where);
        cond = cond ? andConditions(cond, c) : c;
      }
      updates.set(tname, cond ?? ALWAYS);
    }
    let out: { [table: string]: Json } | undefined;
    for (const [tname, cond] of updates) {
      const mt = this.tables.get(tname)!;
      const before = mt.condition;
      mt.condition = cond;
      let tout: { [uuid: string]: Json } | undefined;
      for (const row of this.db.rows(tname).values()) {
        const was = before.matches(row);
        const is = cond.matches(row);
        let u: Json | undefined;
        if (is && !was) u = this.rowUpdate(mt, 'insert', undefined, row);
        else if (was && !is) u = this.rowUpdate(mt, 'delete', row, undefined);
        if (u !== undefined) (tout ??= {})[row.uuid] = u;
      }
      if (tout) (out ??= {})[tname] = tout;
    }
    return out;
  }

  /** One `<row-update>` (v1) or `<row-update2>`, or undefined when nothing is to be reported. */
  private rowUpdate(
    mt: MonitoredTable,
    kind: Kind,
    oldRow: Row | undefined,
    newRow: Row | undefined,
  ): Json | undefined {
    if (!mt.select[kind]) return undefined;
    const cols = mt.columns.filter((c) => c.select[kind]);
    if (this.version === 1) {
      if (kind === 'initial' || kind === 'insert') {
        const n: { [k: string]: Json } = {};
        for (const c of cols) n[c.name] = columnJson(newRow!, c);
        return { new: n };
      }
      if (kind === 'delete') {
        const o: { [k: string]: Json } = {};
        for (const c of cols) o[c.name] = columnJson(oldRow!, c);
        return { old: o };
      }
      const changed = cols.filter((c) => columnChanged(oldRow!, newRow!, c));
      if (changed.length === 0) return undefined;
      const n: { [k: string]: Json } = {};
      const o: { [k: string]: Json } = {};
      for (const c of cols) n[c.name] = columnJson(newRow!, c);
      for (const c of changed) o[c.name] = columnJson(oldRow!, c);
      return { new: n, old: o };
    }
    switch (kind) {
      case 'initial':
      case 'insert': {
        const n: { [k: string]: Json } = {};
        for (const c of cols) if (!isDefault(newRow!, c)) n[c.name] = columnJson(newRow!, c);
        return { [kind]: n };
      }
      case 'delete':
        return { delete: null };
      case 'modify': {
        const n: { [k: string]: Json } = {};
        let any = false;
        for (const c of cols) {
          if (!columnChanged(oldRow!, newRow!, c)) continue;
          any = true;
          if (c.schema) {
            const d = datumDiff(oldRow!.data[c.name]!, newRow!.data[c.name]!, c.schema.type);
            n[c.name] = datumToJson(d, c.schema.type);
          } else {
            n[c.name] = columnJson(newRow!, c);
          }
        }
        return any ? { modify: n } : undefined;
      }
    }
  }
}

/** The conjunction of two conditions. */
export function andConditions(a: RowCondition, b: RowCondition): RowCondition {
  if (a.always) return b;
  if (b.always) return a;
  return { matches: (r) => a.matches(r) && b.matches(r), always: false };
}

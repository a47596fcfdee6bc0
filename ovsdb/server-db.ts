/**
 * The `_Server` database: one `Database` row per database the server hosts (itself included),
 * kept live as databases come and go. Every C IDL client (ovs-vsctl, ovs-vswitchd) reads the
 * schema of the database it wants from the `schema` column of this table, so the row must exist
 * with a non-empty schema before a client asks.
 *
 * Values follow ovsdb-server 3.1 for a standalone database: `model` "standalone", `connected`
 * true, `leader` true, `schema` the compact sorted-key JSON text of the schema, and `cid`,
 * `sid`, `index` empty. Clients cannot write here (`not allowed`); the server writes with a
 * privileged transaction.
 */
import { Database } from './database.js';
import { jsonToSortedString } from './datum.js';
import { serverDbSchema } from './schema.js';
import type { DatabaseSchema, Json } from './types.js';

/** The name of the server's own database. */
export const SERVER_DB_NAME = '_Server';

/** Keeps the `_Server` database in step with the set of hosted databases. */
export class ServerDatabase {
  /** The `_Server` database itself (read-only for clients). */
  readonly db: Database;
  private readonly rowOf = new Map<string, string>();

  constructor(schema: DatabaseSchema = serverDbSchema()) {
    this.db = new Database(schema, { readOnly: true });
  }

  /**
   * Adds (or refreshes) the row describing database `name` with `schema`. Throws if the
   * `_Server` transaction fails (which would be a bug).
   */
  addDatabase(name: string, schema: DatabaseSchema): void {
    const row: { [k: string]: Json } = {
      name,
      model: 'standalone',
      connected: true,
      leader: true,
      schema: jsonToSortedString(schema.json),
    };
    const existing = this.rowOf.get(name);
    const op: Json = existing
      ? {
          op: 'update',
          table: 'Database',
          where: [['_uuid', '==', ['uuid', existing]]],
          row: { schema: row.schema! },
        }
      : { op: 'insert', table: 'Database', row, 'uuid-name': 'r' };
    const result = this.run([op]);
    if (!existing) {
      const r = result[0] as { uuid?: Json } | null;
      const u = Array.isArray(r?.uuid) ? r.uuid[1] : undefined;
      if (typeof u !== 'string') throw new Error('_Server: insert returned no uuid');
      this.rowOf.set(name, u);
    }
  }

  /** Removes the row of database `name` (no-op when absent). */
  removeDatabase(name: string): void {
    const u = this.rowOf.get(name);
    if (!u) return;
    this.run([{ op: 'delete', table: 'Database', where: [['_uuid', '==', ['uuid', u]]] }]);
    this.rowOf.delete(name);
  }

  private run(ops: Json[]): Json[] {
    const out = this.db.transact(ops, { privileged: true });
    if (out.status !== 'done') throw new Error('_Server: transaction blocked');
    for (const r of out.result) {
      if (r !== null && typeof r === 'object' && !Array.isArray(r) && 'error' in r) {
        throw new Error(`_Server: transaction failed: ${JSON.stringify(r)}`);
      }
    }
    return out.result;
  }
}

/**
 * A small OVSDB client for topo: JSON-RPC over the daemon's unix socket (`<rundir>/db.sock`),
 * `transact` on the Open_vSwitch database, and the `next_cfg`/`cur_cfg` handshake ovs-vsctl uses
 * to wait until the switch has applied a change (docs: ovsdb-clients.md §2.3): the transaction
 * bumps `next_cfg` and reads it back, then the client polls `cur_cfg` until it catches up.
 */
import { connect } from 'node:net';
import { JsonRpcSession } from '../lib/jsonrpc.js';
import { StreamTransport } from '../lib/transport.js';
import { isJsonObject, stringifyJson, type Json, type JsonObject } from '../lib/json.js';

/** The database topo talks to. */
export const DB_NAME = 'Open_vSwitch';

/** A transaction failed: an op's error, or a result of the wrong shape. */
export class OvsdbTxnError extends Error {
  override readonly name = 'OvsdbTxnError';
}

/** `["uuid", u]` */
export function uuidAtom(u: string): Json {
  return ['uuid', u];
}

/** `["named-uuid", n]` */
export function namedUuid(n: string): Json {
  return ['named-uuid', n];
}

/** An OVSDB set of atoms: the bare atom for one element, `["set", [...]]` otherwise. */
export function ovsSet(items: Json[]): Json {
  return items.length === 1 ? items[0]! : ['set', items];
}

/** An OVSDB map from a string record. */
export function ovsMap(m: Record<string, string>): Json {
  return ['map', Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))];
}

/** Reads a set-valued column into its atoms. */
export function setItems(v: Json | undefined): Json[] {
  if (Array.isArray(v) && v[0] === 'set' && Array.isArray(v[1])) return v[1];
  if (v === undefined) return [];
  return [v];
}

/** Reads a map-valued column into a record of strings. */
export function mapItems(v: Json | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(v) && v[0] === 'map' && Array.isArray(v[1])) {
    for (const p of v[1]) {
      if (Array.isArray(p) && typeof p[0] === 'string' && typeof p[1] === 'string')
        out[p[0]] = p[1];
    }
  }
  return out;
}

/** The uuid string of a `["uuid", u]` atom, or undefined. */
export function uuidOf(v: Json | undefined): string | undefined {
  return Array.isArray(v) && v[0] === 'uuid' && typeof v[1] === 'string' ? v[1] : undefined;
}

/** Options of {@link OvsdbClient.connect}. */
export interface ConnectOptions {
  /** Give up connecting after this many ms (default 5000). */
  timeoutMs?: number;
}

/** One connection to an OVSDB server. */
export class OvsdbClient {
  private constructor(private readonly session: JsonRpcSession) {}

  /**
   * Connects to the unix socket `path`. Rejects with the socket error (ENOENT, ECONNREFUSED...)
   * when nothing listens there.
   */
  static connect(path: string, opts: ConnectOptions = {}): Promise<OvsdbClient> {
    return new Promise((resolve, reject) => {
      const sock = connect(path);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`timed out connecting to ${path}`));
      }, opts.timeoutMs ?? 5000);
      sock.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        const session = new JsonRpcSession(new StreamTransport(sock, `unix:${path}`), {
          probeIntervalMs: 0,
        });
        resolve(new OvsdbClient(session));
      });
    });
  }

  /**
   * Runs `ops` as one transaction on Open_vSwitch. Resolves with the per-op results; rejects with
   * {@link OvsdbTxnError} if any op (or the commit) reports an error.
   */
  async transact(ops: Json[]): Promise<JsonObject[]> {
    const r = await this.session.request('transact', [DB_NAME, ...ops]);
    if (!Array.isArray(r)) throw new OvsdbTxnError(`unexpected transact reply ${stringifyJson(r)}`);
    const errors = r.filter((x) => isJsonObject(x) && x.error !== undefined && x.error !== null);
    if (errors.length > 0) {
      throw new OvsdbTxnError(`transaction failed: ${stringifyJson(errors)}`);
    }
    return r.map((x) => (isJsonObject(x) ? x : {}));
  }

  /** Rows of `select` on `table` with `where` (default all), columns as asked (default all). */
  async select(table: string, where: Json[] = [], columns?: string[]): Promise<JsonObject[]> {
    const op: JsonObject = { op: 'select', table, where };
    if (columns) op.columns = columns;
    const [r] = await this.transact([op]);
    const rows = r?.rows;
    return Array.isArray(rows) ? rows.filter(isJsonObject) : [];
  }

  /** The uuid of the one Open_vSwitch row. Throws if there is none. */
  async rootUuid(): Promise<string> {
    const rows = await this.select('Open_vSwitch', [], ['_uuid']);
    const u = uuidOf(rows[0]?._uuid);
    if (u === undefined) throw new OvsdbTxnError('the database has no Open_vSwitch row');
    return u;
  }

  /**
   * Runs `ops` plus `next_cfg += 1` on the Open_vSwitch row `root` (and reads next_cfg back, as
   * ovs-vsctl does). Resolves with the results of `ops` and the new next_cfg, to pass to
   * {@link OvsdbClient.waitApplied}.
   */
  async transactBump(
    root: string,
    ops: Json[],
  ): Promise<{ results: JsonObject[]; nextCfg: number }> {
    const where = [['_uuid', '==', uuidAtom(root)]];
    const all = await this.transact([
      ...ops,
      { op: 'mutate', table: 'Open_vSwitch', where, mutations: [['next_cfg', '+=', 1]] },
      { op: 'select', table: 'Open_vSwitch', where, columns: ['next_cfg'] },
    ]);
    const sel = all[ops.length + 1]?.rows;
    const nextRaw = Array.isArray(sel) && isJsonObject(sel[0]) ? sel[0].next_cfg : undefined;
    const next = typeof nextRaw === 'bigint' ? Number(nextRaw) : nextRaw;
    if (typeof next !== 'number') throw new OvsdbTxnError('could not read next_cfg back');
    return { results: all.slice(0, ops.length), nextCfg: next };
  }

  /**
   * Waits until the switch reports `Open_vSwitch.cur_cfg >= nextCfg` on row `root`, polling every
   * 20 ms for at most `timeoutMs` (default 10 s); rejects with {@link OvsdbTxnError} after that.
   */
  async waitApplied(root: string, nextCfg: number, timeoutMs = 10_000): Promise<void> {
    const where = [['_uuid', '==', uuidAtom(root)]];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rows = await this.select('Open_vSwitch', where, ['cur_cfg']);
      const cur = rows[0]?.cur_cfg;
      if ((typeof cur === 'number' || typeof cur === 'bigint') && Number(cur) >= nextCfg) return;
      if (Date.now() > deadline) {
        throw new OvsdbTxnError(
          `the switch did not apply the change within ${timeoutMs} ms (cur_cfg ${stringifyJson(cur ?? null)} < next_cfg ${nextCfg})`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * {@link OvsdbClient.transactBump} then {@link OvsdbClient.waitApplied}: runs `ops` and waits
   * until the switch has applied them. Resolves with the results of `ops`.
   */
  async transactAndWait(root: string, ops: Json[], timeoutMs = 10_000): Promise<JsonObject[]> {
    const { results, nextCfg } = await this.transactBump(root, ops);
    await this.waitApplied(root, nextCfg, timeoutMs);
    return results;
  }

  /** Closes the connection. */
  close(): void {
    this.session.close();
  }
}

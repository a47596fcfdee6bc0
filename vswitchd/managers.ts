/**
 * OVSDB remotes from Manager rows, as `ovsdb-server --remote=db:Open_vSwitch,Open_vSwitch,
 * manager_options` does: every Manager referenced by Open_vSwitch.manager_options becomes a
 * remote (`ovs-vsctl set-manager ptcp:6640` opens a listener; removing the row closes it), with
 * TLS material for pssl:/ssl: from the SSL table, and is_connected/status written back.
 * Remotes given on the command line are never touched.
 */
import type { Clock, TimerHandle } from '../lib/clock.js';
import type { Json } from '../lib/json.js';
import { getLogger } from '../lib/log.js';
import type { Database } from '../ovsdb/database.js';
import type { RemoteManager, RemoteOptions, RemoteStatus } from '../ovsdb/remotes.js';
import type { Row } from '../ovsdb/types.js';

const log = getLogger('managers');

function str(row: Row, col: string): string | undefined {
  const k = row.data[col]?.keys[0];
  return typeof k === 'string' ? k : undefined;
}

function int(row: Row, col: string): number | undefined {
  const k = row.data[col]?.keys[0];
  return typeof k === 'bigint' ? Number(k) : typeof k === 'number' ? k : undefined;
}

function uuids(row: Row, col: string): string[] {
  return (row.data[col]?.keys ?? []).filter((k): k is string => typeof k === 'string');
}

function smap(row: Row, col: string): Record<string, string> {
  const d = row.data[col];
  const out: Record<string, string> = {};
  d?.keys.forEach((k, i) => {
    const v = d.values?.[i];
    if (typeof k === 'string' && typeof v === 'string') out[k] = v;
  });
  return out;
}

/** The status map OVS writes into Manager.status for a remote. */
export function managerStatus(s: RemoteStatus, nowMs: number): Record<string, string> {
  const st: Record<string, string> = { state: s.state };
  if (s.boundPort !== undefined) st.bound_port = String(s.boundPort);
  if (s.nConnections > 1) st.n_connections = String(s.nConnections);
  if (s.connectedAt !== undefined)
    st.sec_since_connect = String(Math.max(0, Math.floor((nowMs - s.connectedAt) / 1000)));
  if (s.disconnectedAt !== undefined)
    st.sec_since_disconnect = String(Math.max(0, Math.floor((nowMs - s.disconnectedAt) / 1000)));
  if (s.lastError) st.last_error = s.lastError;
  return st;
}

/** Keeps the server's manager remotes equal to the Manager rows. */
export class ManagerSync {
  private readonly managed = new Map<string, string>(); // target -> options key
  private unsubscribe: (() => void) | undefined;
  private timer: TimerHandle | undefined;
  private pending: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly db: Database,
    private readonly remotes: RemoteManager,
    private readonly clock: Clock,
  ) {}

  /** Applies the current rows and follows later commits. */
  async start(): Promise<void> {
    this.unsubscribe = this.db.onCommit((c) => {
      if (c.tables.has('Open_vSwitch') || c.tables.has('Manager') || c.tables.has('SSL'))
        void this.schedule();
    });
    await this.sync();
    this.arm();
  }

  /** Removes the manager remotes and stops following the database. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.clock.clearTimeout(this.timer);
    await this.pending;
    for (const target of this.managed.keys()) await this.remotes.remove(target);
    this.managed.clear();
  }

  private schedule(): Promise<void> {
    if (this.pending) {
      this.again = true;
      return this.pending;
    }
    this.pending = (async () => {
      do {
        this.again = false;
        await new Promise<void>((r) => setImmediate(r));
        if (this.stopped) return;
        try {
          await this.sync();
        } catch (e) {
          // Never let a bad Manager row take the daemon down.
          log.error({ err: e instanceof Error ? e.stack : String(e) }, 'manager sync failed');
        }
      } while (this.again && !this.stopped);
    })().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private arm(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      this.writeStatus();
      this.arm();
    }, 1000);
  }

  private sslOptions(ovs: Row): RemoteOptions['ssl'] {
    const u = uuids(ovs, 'ssl')[0];
    const row = u ? this.db.getRow('SSL', u) : undefined;
    if (!row) return undefined;
    const privateKey = str(row, 'private_key');
    const certificate = str(row, 'certificate');
    const caCert = str(row, 'ca_cert');
    return privateKey && certificate && caCert ? { privateKey, certificate, caCert } : undefined;
  }

  private async sync(): Promise<void> {
    const ovs = [...this.db.rows('Open_vSwitch').values()][0];
    const wanted = new Map<string, RemoteOptions>();
    if (ovs) {
      const ssl = this.sslOptions(ovs);
      for (const u of uuids(ovs, 'manager_options')) {
        const m = this.db.getRow('Manager', u);
        const target = m && str(m, 'target');
        if (!m || !target) continue;
        const opts: RemoteOptions = {};
        const probe = int(m, 'inactivity_probe');
        if (probe !== undefined) opts.probeIntervalMs = probe;
        const backoff = int(m, 'max_backoff');
        if (backoff !== undefined) opts.maxBackoffMs = backoff;
        if (ssl && (target.startsWith('pssl:') || target.startsWith('ssl:'))) opts.ssl = ssl;
        wanted.set(target, opts);
      }
    }
    for (const [target, key] of this.managed) {
      const w = wanted.get(target);
      if (!w || JSON.stringify(w) !== key) {
        this.managed.delete(target);
        await this.remotes.remove(target);
      }
    }
    for (const [target, opts] of wanted) {
      if (this.managed.has(target) || this.remotes.list().includes(target)) continue;
      try {
        await this.remotes.add(target, opts);
      } catch (e) {
        log.warn({ target, err: (e as Error).message }, 'cannot open manager remote');
      }
      // Recorded even when it failed, so the status shows the error and a change retries it.
      this.managed.set(target, JSON.stringify(opts));
    }
    this.writeStatus();
  }

  private writeStatus(): void {
    const ovs = [...this.db.rows('Open_vSwitch').values()][0];
    if (!ovs) return;
    const now = this.clock.now();
    const ops: Json[] = [];
    for (const u of uuids(ovs, 'manager_options')) {
      const m = this.db.getRow('Manager', u);
      const target = m && str(m, 'target');
      if (!m || !target || !this.managed.has(target)) continue;
      const s = this.remotes.status(target);
      const connected = s ? (s.state === 'LISTENING' ? s.sessions > 0 : s.isConnected) : false;
      const status = s
        ? managerStatus(s, now)
        : { state: 'VOID', last_error: 'could not open remote' };
      const row: Record<string, Json> = {};
      const cur = m.data.is_connected?.keys[0];
      if (cur !== connected) row.is_connected = connected;
      const curStatus = smap(m, 'status');
      if (
        JSON.stringify(Object.entries(curStatus).sort()) !==
        JSON.stringify(Object.entries(status).sort())
      ) {
        row.status = [
          'map',
          Object.keys(status)
            .sort()
            .map((k) => [k, status[k]!]),
        ];
      }
      if (Object.keys(row).length > 0)
        ops.push({
          op: 'update',
          table: 'Manager',
          where: [['_uuid', '==', ['uuid', m.uuid]]],
          row,
        });
    }
    if (ops.length > 0) this.db.transact(ops);
  }
}

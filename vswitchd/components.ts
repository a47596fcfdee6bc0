/**
 * The daemon's standard components: the OVSDB server (the database file, `<rundir>/db.sock` and
 * any extra remotes) and the bridge reconciler on top of it. `tsvs start` runs both in one
 * process; the reconciler reads and writes the database in-process, exactly as ovs-vswitchd would
 * through its IDL.
 */
import { PROTOCOL_MODULES } from './protocol-modules.js';
import { getLogger } from '../lib/log.js';
import type { Json } from '../lib/json.js';
import { startOvsdb, type RunningOvsdb } from '../ovsdb/index.js';
import { registerDatapathCommands } from '../datapath/appctl.js';
import { DpifNetdev } from '../datapath/dpif-netdev.js';
import { registerOfprotoCommands } from '../ofproto/appctl.js';
import { BridgeReconciler } from './bridge.js';
import { ManagerSync } from './managers.js';
import type { Daemon, DaemonComponent } from './daemon.js';

const log = getLogger('vswitchd');

/** Options of {@link ovsdbComponent}. */
export interface OvsdbComponentOptions {
  /** Remotes beyond `punix:<rundir>/db.sock` (e.g. `ptcp:6640:127.0.0.1`). */
  extraRemotes?: string[];
  /** Keep the database in memory instead of the file (tests). */
  inMemory?: boolean;
  /** Version written to Open_vSwitch.ovs_version at start. */
  ovsVersion?: string;
  /** TLS material (file paths or PEM) for pssl:/ssl: remotes given as flags. */
  ssl?: { privateKey: string; certificate: string; caCert: string };
}

/** The OVSDB server as a daemon component; `running` is set once started. */
export class OvsdbComponent implements DaemonComponent {
  readonly name = 'ovsdb-server';
  running: RunningOvsdb | undefined;
  private managers: ManagerSync | undefined;

  constructor(private readonly opts: OvsdbComponentOptions = {}) {}

  async start(d: Daemon): Promise<void> {
    this.running = await startOvsdb({
      ...(this.opts.inMemory ? {} : { dbPath: d.paths.db }),
      remotes: [`punix:${d.paths.dbSocket}`, ...(this.opts.extraRemotes ?? [])],
      clock: d.clock,
      registry: d.registry,
      ...(this.opts.ssl ? { remoteOptions: { ssl: this.opts.ssl } } : {}),
      // The daemon's built-in memory/show already exists; the server registers only its own.
      memoryShow: false,
    });
    initOpenVswitchRow(this.running, this.opts.ovsVersion ?? d.version);
    this.managers = new ManagerSync(this.running.db, this.running.remotes, d.clock);
    await this.managers.start();
  }

  async stop(): Promise<void> {
    await this.managers?.stop();
    this.managers = undefined;
    await this.running?.close();
    this.running = undefined;
  }
}

/**
 * Makes sure the database has its one Open_vSwitch row, as `ovs-ctl start` does with
 * `ovs-vsctl --no-wait init`, and records our version in ovs_version.
 */
export function initOpenVswitchRow(ovsdb: RunningOvsdb, version: string): void {
  const rows = [...ovsdb.db.rows('Open_vSwitch').values()];
  const ops: Json[] = [];
  if (rows.length === 0) {
    ops.push({ op: 'insert', table: 'Open_vSwitch', row: { ovs_version: version } });
  } else {
    const cur = rows[0]!.data.ovs_version?.keys[0];
    if (cur !== version) {
      ops.push({
        op: 'update',
        table: 'Open_vSwitch',
        where: [['_uuid', '==', ['uuid', rows[0]!.uuid]]],
        row: { ovs_version: version },
      });
    }
  }
  if (ops.length === 0) return;
  const out = ovsdb.db.transact(ops);
  if (
    out.status === 'done' &&
    out.result.some((r) => r !== null && typeof r === 'object' && !Array.isArray(r) && 'error' in r)
  ) {
    log.error({ result: out.result }, 'could not initialise the Open_vSwitch row');
  }
}

/**
 * The bridge reconciler as a daemon component, running on `ovsdb`'s database, with the shared
 * userspace datapath (`netdev@ovs-netdev`) and the datapath and ofproto appctl commands.
 */
export class BridgeComponent implements DaemonComponent {
  readonly name = 'bridge';
  reconciler: BridgeReconciler | undefined;
  dpif: DpifNetdev | undefined;

  constructor(private readonly ovsdb: OvsdbComponent) {}

  async start(d: Daemon): Promise<void> {
    const running = this.ovsdb.running;
    if (!running) throw new Error('the bridge reconciler needs the OVSDB server started first');
    const dpif = new DpifNetdev({ clock: d.clock });
    this.dpif = dpif;
    const reconciler = new BridgeReconciler({
      db: running.db,
      clock: d.clock,
      rundir: d.paths.rundir,
      dpif,
      protocols: PROTOCOL_MODULES,
    });
    this.reconciler = reconciler;
    for (const m of PROTOCOL_MODULES)
      m.commands?.(d.registry, () => reconciler.protocolsOf(m.name));
    registerDatapathCommands(d.registry, { datapaths: () => [dpif] });
    registerOfprotoCommands(d.registry, {
      get: (n) => reconciler.xlateOf(n),
      names: () =>
        [...reconciler.bridges.keys()].filter((n) => reconciler.xlateOf(n) !== undefined).sort(),
    });
    await reconciler.start();
    dpif.start();
  }

  async stop(): Promise<void> {
    this.dpif?.stop();
    await this.reconciler?.stop();
    this.dpif?.close();
    this.reconciler = undefined;
    this.dpif = undefined;
  }
}

/** The standard component list of `tsvs start`. */
export function standardComponents(opts: OvsdbComponentOptions = {}): DaemonComponent[] {
  const ovsdb = new OvsdbComponent(opts);
  return [ovsdb, new BridgeComponent(ovsdb)];
}

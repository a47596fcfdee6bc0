/**
 * The daemon's standard components: the OVSDB server (the database file, `<rundir>/db.sock` and
 * any extra remotes) and the bridge reconciler on top of it. `tsvs start` runs both in one
 * process; the reconciler reads and writes the database in-process, exactly as ovs-vswitchd would
 * through its IDL. `tsvs start --no-vswitchd` runs the OVSDB server alone, and `tsvs vswitchd
 * REMOTE` the bridges alone, on a separate server through the JSON-RPC replica
 * (vswitchd/replica-jsonrpc.ts).
 */
import { PROTOCOL_MODULES } from './protocol-modules.js';
import { getLogger } from '../lib/log.js';
import type { Json } from '../lib/json.js';
import { startOvsdb, type RunningOvsdb } from '../ovsdb/index.js';
import { registerDatapathCommands } from '../datapath/appctl.js';
import { DpifNetdev } from '../datapath/dpif-netdev.js';
import { loadNative, nativeAvailable } from '../datapath/native.js';
import { setBusyReader } from '../lib/transport.js';
import { registerOfprotoCommands } from '../ofproto/appctl.js';
import { registerDpifCommands } from '../ofproto/dpif-appctl.js';
import { BridgeReconciler } from './bridge.js';
import { ManagerSync } from './managers.js';
import { InProcessReplica, type OvsdbReplica } from './replica.js';
import { JsonRpcReplica } from './replica-jsonrpc.js';
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
  /** The database replica the reconciler runs on (set once started). */
  replica: OvsdbReplica | undefined;

  /**
   * @param ovsdb the in-process OVSDB server, or `{ remote }`: a separate OVSDB server
   *   (`unix:PATH`, `tcp:IP:PORT`) reached through a {@link JsonRpcReplica} (`tsvs vswitchd`).
   */
  constructor(private readonly ovsdb: OvsdbComponent | { readonly remote: string }) {}

  async start(d: Daemon): Promise<void> {
    let replica: OvsdbReplica;
    if (this.ovsdb instanceof OvsdbComponent) {
      const running = this.ovsdb.running;
      if (!running) throw new Error('the bridge reconciler needs the OVSDB server started first');
      replica = new InProcessReplica(running.db);
    } else {
      replica = new JsonRpcReplica({ remote: this.ovsdb.remote, clock: d.clock });
    }
    this.replica = replica;
    // OpenFlow connections busy-poll after barrier replies through the addon (when built).
    if (nativeAvailable()) setBusyReader(loadNative().busyRead);
    const dpif = new DpifNetdev({ clock: d.clock });
    this.dpif = dpif;
    const reconciler = new BridgeReconciler({
      replica,
      clock: d.clock,
      rundir: d.paths.rundir,
      dpif,
      internalPorts: defaultInternalPorts(),
      protocols: PROTOCOL_MODULES,
    });
    this.reconciler = reconciler;
    for (const m of PROTOCOL_MODULES)
      m.commands?.(d.registry, () => reconciler.protocolsOf(m.name));
    registerDatapathCommands(d.registry, { datapaths: () => [dpif] });
    const bridgeDir = {
      get: (n: string) => reconciler.xlateOf(n),
      names: () =>
        [...reconciler.bridges.keys()].filter((n) => reconciler.xlateOf(n) !== undefined).sort(),
    };
    registerOfprotoCommands(d.registry, bridgeDir);
    registerDpifCommands(d.registry, dpif, bridgeDir);
    await reconciler.start();
    await replica.start();
    dpif.start();
  }

  async stop(): Promise<void> {
    this.dpif?.stop();
    await this.reconciler?.stop();
    // Closing the session releases the ovs_vswitchd lock at once.
    await this.replica?.close();
    this.dpif?.close();
    this.reconciler = undefined;
    this.dpif = undefined;
    this.replica = undefined;
  }
}

/**
 * The standard component list of `tsvs start`: the OVSDB server and, unless `noVswitchd`, the
 * bridges on it (in process). Without them the daemon is an OVSDB server only, for a separate
 * `tsvs vswitchd` or ovs-vswitchd.
 */
export function standardComponents(
  opts: OvsdbComponentOptions & { noVswitchd?: boolean } = {},
): DaemonComponent[] {
  const ovsdb = new OvsdbComponent(opts);
  return opts.noVswitchd ? [ovsdb] : [ovsdb, new BridgeComponent(ovsdb)];
}

/**
 * The component list of `tsvs vswitchd REMOTE`: the bridges, datapath and OpenFlow, running on a
 * separate OVSDB server through the JSON-RPC replica (no OVSDB server of its own).
 */
export function vswitchdComponents(remote: string): DaemonComponent[] {
  return [new BridgeComponent({ remote })];
}

/**
 * What the daemon's internal ports are: the environment variable TSVS_INTERNAL_PORTS (`tap` or
 * `memory`) when set, else TAP devices when running as root with the native addon built (as OVS's
 * userspace datapath), else in-memory netdevs.
 */
export function defaultInternalPorts(): 'tap' | 'memory' {
  const env = process.env.TSVS_INTERNAL_PORTS;
  if (env === 'tap' || env === 'memory') return env;
  return process.getuid?.() === 0 && nativeAvailable() ? 'tap' : 'memory';
}

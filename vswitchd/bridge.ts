/**
 * The bridge reconciler (OVS's vswitchd/bridge.c): reads the Open_vSwitch database, makes the
 * running bridges, ports and controllers equal to it, and writes back what happened — ofport
 * and error for every interface, mac_in_use/admin_state/link_state, Bridge.datapath_id,
 * Controller.is_connected/role/status — in the same transaction as cur_cfg = next_cfg, which is
 * what `ovs-vsctl` (without --no-wait) waits for.
 *
 * Rules: deletions before additions; idempotent (a pass that finds nothing to change writes
 * nothing); one bad interface never stops the others (it gets ofport -1 and a message in
 * Interface.error, with OVS's wording).
 *
 * With a datapath, every interface is attached to it (system interfaces through AF_PACKET, dummy
 * ones in memory) and each bridge gets its xlate (NORMAL, fail modes). Not yet here (later
 * issues): internal ports as TAP devices, link-state polling after the port is added, bonds,
 * STP/BFD wiring, Interface.statistics refresh.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '../lib/clock.js';
import { counter } from '../lib/counters.js';
import { getLogger } from '../lib/log.js';
import type { Json } from '../lib/json.js';
import { OFPP, OFPPC, OFPPF, OFPPS } from '../openflow/constants.js';
import type { Database } from '../ovsdb/database.js';
import { InProcessReplica, type OvsdbReplica } from './replica.js';
import type { Atom, Datum, Row } from '../ovsdb/types.js';
import {
  DEFAULT_BUSY_POLL_US,
  parseBusyPollUs,
  type ControllerConfig,
} from '../ofproto/connmgr.js';
import { DEFAULT_PREFIXES, MAX_PREFIXES, type PrefixField } from '../ofproto/classifier.js';
import { N_TABLES, Ofproto, type PortCounters } from '../ofproto/ofproto.js';
import type { PortVlan, VlanMode } from '../ofproto/normal.js';
import { UpcallRouter } from '../ofproto/upcall.js';
import { DEFAULT_PIN_RATE } from '../ofproto/pinsched.js';
import { Xlate } from '../ofproto/xlate.js';
import type { DpifNetdev } from '../datapath/dpif-netdev.js';
import { newFrameBatch, type Netdev } from '../datapath/netdev.js';
import { DummyNetdev, dummyNetdevClass } from '../datapath/netdev-dummy.js';
import { systemNetdevClass, type AfPacketNetdev } from '../datapath/netdev-afpacket.js';
import { tapNetdevClass, type TapNetdev } from '../datapath/netdev-tap.js';
import type {
  BridgeIface,
  BridgeProtocol,
  BridgeProtocolContext,
  BridgeProtocolModule,
} from './bridge-protocol.js';
import { IFACE_LINK_COLUMNS, ifaceStatusColumns } from './iface-status.js';
import { FlowRestoreWait } from './flow-restore.js';
import { bridgeVersions, noteBridgeVersions } from './of-versions.js';

const log = getLogger('bridge');
const cReconcile = counter('bridge_reconfigure', 'vswitchd', 'reconfiguration passes');
const cReconcileFailed = counter(
  'bridge_reconfigure_failed',
  'vswitchd',
  'reconfiguration passes that threw',
);
const cIfaceError = counter(
  'bridge_iface_error',
  'vswitchd',
  'interfaces that could not be set up',
);

/** Interface.statistics is refreshed every this many status ticks (5 s, as OVS). */
const STATS_EVERY_TICKS = 5;

/** How OVS stores the LOCAL port number in Interface.ofport (its 16-bit OFPP_LOCAL). */
export const OFPP_LOCAL_DB = 65534;

/** Interface types we accept (OVS 3.1's iface_types minus tunnels and DPDK/AF_XDP). */
export const IFACE_TYPES = ['internal', 'patch', 'system', 'tap', 'dummy'] as const;

// ------------------------------------------------------------------ datum readers

function str(row: Row, col: string): string | undefined {
  const d = row.data[col];
  const k = d?.keys[0];
  return typeof k === 'string' ? k : undefined;
}

function int(row: Row, col: string): number | undefined {
  const d = row.data[col];
  const k = d?.keys[0];
  if (typeof k === 'bigint') return Number(k);
  if (typeof k === 'number') return k;
  return undefined;
}

function bool(row: Row, col: string): boolean | undefined {
  const k = row.data[col]?.keys[0];
  return typeof k === 'boolean' ? k : undefined;
}

function uuids(row: Row, col: string): string[] {
  return (row.data[col]?.keys ?? []).filter((k): k is string => typeof k === 'string');
}

function smap(row: Row, col: string): Record<string, string> {
  const d: Datum | undefined = row.data[col];
  const out: Record<string, string> = {};
  if (!d?.values) return out;
  d.keys.forEach((k: Atom, i) => {
    const v = d.values![i];
    if (typeof k === 'string' && typeof v === 'string') out[k] = v;
  });
  return out;
}

/** Flow_Table `prefixes` names our classifier keeps tries for (OVS's names and aliases). */
const PREFIX_NAMES: Readonly<Record<string, PrefixField>> = {
  nw_src: 'nw_src',
  ip_src: 'nw_src',
  nw_dst: 'nw_dst',
  ip_dst: 'nw_dst',
  ipv6_src: 'ipv6_src',
  ipv6_dst: 'ipv6_dst',
};

/**
 * A Flow_Table row's `prefixes` as OVS reads them: "none" disables the tries; unknown or
 * unsupported names (tun_src/tun_dst included: no tries for them here) and names beyond the
 * third are ignored with a warning; repeats count once; no usable name means OVS's default.
 */
export function flowTablePrefixes(
  bridge: string,
  table: number,
  names: readonly string[],
): PrefixField[] {
  const out: PrefixField[] = [];
  for (const name of names) {
    if (name === 'none') return [];
    const f = Object.hasOwn(PREFIX_NAMES, name) ? PREFIX_NAMES[name] : undefined;
    if (f === undefined) {
      log.warn({ bridge, table, field: name }, "'prefixes' with an unsupported field, ignored");
      continue;
    }
    if (out.includes(f)) continue;
    if (out.length >= MAX_PREFIXES) {
      log.warn({ bridge, table, field: name }, "'prefixes' with too many fields, field not used");
      continue;
    }
    out.push(f);
  }
  return out.length > 0 ? out : [...DEFAULT_PREFIXES];
}

function mapJson(m: Record<string, string>): Json {
  return [
    'map',
    Object.keys(m)
      .sort()
      .map((k) => [k, m[k]!]),
  ];
}

function optJson(v: string | number | boolean | undefined): Json {
  return v === undefined ? ['set', []] : v;
}

function macToString(mac: number): string {
  return mac
    .toString(16)
    .padStart(12, '0')
    .replace(/(..)(?!$)/g, '$1:');
}

function macBytes(mac: number): Uint8Array {
  const b = new Uint8Array(6);
  for (let i = 5, m = mac; i >= 0; i--, m = Math.floor(m / 256)) b[i] = m % 256;
  return b;
}

/** A stable locally administered MAC derived from a name (OVS picks a random one per start). */
export function stableMac(name: string): number {
  const h = createHash('sha1').update(name).digest();
  return ((h[0]! & 0xfe) | 0x02) * 2 ** 40 + h.readUIntBE(1, 5);
}

// ------------------------------------------------------------------ running state

interface RunningIface {
  uuid: string;
  name: string;
  ofport: number;
  mac: number;
  error?: string;
  /** The netdev and datapath port, when the interface is attached to the datapath. */
  netdev?: Netdev;
  dpPort?: number;
  /** Last statistics written (to skip unchanged ones). */
  lastStats?: string;
  /** options:peer of a patch interface, as last seen (a change flushes datapath flows). */
  patchPeer?: string;
}

interface RunningBridge {
  uuid: string;
  name: string;
  ofproto: Ofproto;
  /** The bridge's translator (present when the daemon has a datapath). */
  xlate?: Xlate;
  ifaces: Map<string, RunningIface>;
  controllersKey: string;
  /** Per table id: the Flow_Table `prefixes` last applied (joined), to skip unchanged ones. */
  prefixesKey?: string[];
  stopMacWatch?: () => void;
  /** Control protocols of this bridge (BFD, STP...), by module name; present with a datapath. */
  protocols: Map<string, BridgeProtocol>;
  /** The bridge's Ethernet address. */
  mac: number;
}

/** Options of a {@link BridgeReconciler}. */
export interface BridgeReconcilerOptions {
  /**
   * The Open_vSwitch database, in process (wrapped in an {@link InProcessReplica}). Give this or
   * `replica`.
   */
  db?: Database;
  /** The database replica to reconcile (e.g. a JSON-RPC one); its `db` is what is read. */
  replica?: OvsdbReplica;
  /** Time source. */
  clock: Clock;
  /** Where `<bridge>.mgmt` sockets go. */
  rundir: string;
  /** How often controller status is written back (ms, default 1000). */
  statusIntervalMs?: number;
  /** Checks whether a system network device exists (default: /sys/class/net/NAME). */
  deviceExists?: (name: string) => boolean;
  /**
   * The userspace datapath every bridge's ports are attached to (OVS's single `netdev@ovs-netdev`).
   * Without one, bridges speak OpenFlow but forward nothing.
   */
  dpif?: DpifNetdev;
  /**
   * What internal ports are (with a datapath): `tap` — Linux TAP devices the host can use, as
   * OVS's userspace datapath makes them (needs root and the native addon) — or `memory`, an
   * in-memory netdev invisible to the host (default; what unit tests use).
   */
  internalPorts?: 'tap' | 'memory';
  /** Control protocols run on every bridge that has a datapath (BFD, STP...). */
  protocols?: readonly BridgeProtocolModule[];
}

/** Keeps the running bridges equal to the database. */
export class BridgeReconciler {
  /** Running bridges by name. */
  readonly bridges = new Map<string, RunningBridge>();
  private readonly opts: BridgeReconcilerOptions & { db: Database };
  /** Where rows are read from and write-backs committed. */
  readonly replica: OvsdbReplica;
  private retryTimer: TimerHandle | undefined;
  private retryDelay = 0;
  private unsubscribe: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private statusTimer: TimerHandle | undefined;
  private stopped = false;
  private ticks = 0;
  /** TAP devices opened by openError() for attach() to take. */
  private readonly pendingTaps = new Map<string, TapNetdev>();
  /** Routes datapath upcalls to the bridges (present with a datapath). */
  readonly router: UpcallRouter | undefined;
  /** Open_vSwitch other_config:openflow-busy-poll-us, for every bridge's connections. */
  private ofBusyPollUs = DEFAULT_BUSY_POLL_US;
  /** The worker's busy-poll window before any other_config:datapath-busy-poll-us was applied. */
  private busyPollDefault: number | undefined;
  /** The datapath's worker setting before any other_config:datapath-worker was applied. */
  private workerDefault: boolean | undefined;
  /** other_config:flow-restore-wait (no upcalls, no controllers while waiting). */
  readonly flowRestore = new FlowRestoreWait();

  constructor(opts: BridgeReconcilerOptions) {
    if (!opts.replica && !opts.db) throw new Error('BridgeReconciler needs db or replica');
    this.replica = opts.replica ?? new InProcessReplica(opts.db!);
    this.opts = { ...opts, db: this.replica.db };
    if (opts.dpif) {
      this.router = new UpcallRouter(opts.dpif, opts.clock);
      opts.dpif.setUpcallHandler(this.router);
    }
  }

  /** The instances of protocol module `name` on every bridge (bridge name → protocol). */
  protocolsOf(name: string): ReadonlyMap<string, BridgeProtocol> {
    const out = new Map<string, BridgeProtocol>();
    for (const [bn, rb] of this.bridges) {
      const p = rb.protocols.get(name);
      if (p) out.set(bn, p);
    }
    return out;
  }

  /** The translator of bridge `name`, if it runs with a datapath. */
  xlateOf(name: string): Xlate | undefined {
    return this.bridges.get(name)?.xlate;
  }

  /** Subscribes to commits and runs the first pass. */
  async start(): Promise<void> {
    const relevant = new Set(['Open_vSwitch', 'Bridge', 'Port', 'Interface', 'Controller']);
    this.unsubscribe = this.replica.onChange((tables) => {
      for (const t of tables) {
        if (relevant.has(t)) {
          void this.schedule();
          return;
        }
      }
    });
    await this.reconcile();
    this.armStatus();
    this.router?.start();
  }

  /** Stops listening and closes every bridge. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.router?.stop();
    this.unsubscribe?.();
    this.opts.clock.clearTimeout(this.statusTimer);
    this.opts.clock.clearTimeout(this.retryTimer);
    await this.running;
    for (const b of this.bridges.values()) {
      this.closeProtocols(b);
      for (const ri of b.ifaces.values()) this.detach(ri);
      b.stopMacWatch?.();
      await b.ofproto.close();
    }
    this.bridges.clear();
    for (const tap of this.pendingTaps.values()) tap.close();
    this.pendingTaps.clear();
  }

  /** Requests a pass (coalesced; runs after the current one). Resolves when it has run. */
  schedule(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await new Promise<void>((r) => setImmediate(r));
        if (this.stopped) return;
        try {
          await this.reconcile();
        } catch (e) {
          // A bug or an unexpected row must never take the daemon down: log, count, go on.
          cReconcileFailed.inc();
          log.error({ err: e instanceof Error ? e.stack : String(e) }, 'reconfiguration failed');
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Waits until no pass is pending. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private deviceExists(name: string): boolean {
    if (this.opts.deviceExists) return this.opts.deviceExists(name);
    return existsSync(join('/sys/class/net', name));
  }

  /** Stops running bridge `name` and forgets it. */
  private async deleteBridge(name: string, rb: RunningBridge): Promise<void> {
    log.info({ bridge: name }, 'deleting bridge');
    this.bridges.delete(name);
    this.closeProtocols(rb);
    for (const ri of rb.ifaces.values()) this.detach(ri);
    rb.stopMacWatch?.();
    await rb.ofproto.close();
  }

  /** One reconciliation pass. */
  async reconcile(): Promise<void> {
    cReconcile.inc();
    const db = this.opts.db;
    const ovsRow = [...db.rows('Open_vSwitch').values()][0];
    if (!ovsRow) {
      // No configuration (as OVS's null_cfg): no bridges.
      for (const [name, rb] of this.bridges) await this.deleteBridge(name, rb);
      return;
    }
    const ovsOther = smap(ovsRow, 'other_config');
    const frw = this.flowRestore.update(ovsOther);
    this.ofBusyPollUs = parseBusyPollUs(ovsOther['openflow-busy-poll-us']);
    if (this.opts.dpif) {
      // other_config:datapath-worker=true|false moves the fast path to a worker thread and
      // back; absent, the datapath's own default (TSVS_DATAPATH_WORKER) applies.
      this.workerDefault ??= this.opts.dpif.workerEnabled;
      const dw = ovsOther['datapath-worker'];
      this.opts.dpif.setWorkerEnabled(dw === undefined ? this.workerDefault : dw === 'true');
      // other_config:datapath-busy-poll-us=N (0-1000000): the worker's busy-poll window.
      this.busyPollDefault ??= this.opts.dpif.workerBusyPoll;
      const bp = ovsOther['datapath-busy-poll-us'];
      this.opts.dpif.setWorkerBusyPollUs(
        bp !== undefined && /^\d{1,7}$/.test(bp) && Number(bp) <= 1_000_000
          ? Number(bp)
          : this.busyPollDefault,
      );
    }
    if (frw !== 'none' && this.opts.dpif && this.router) {
      this.opts.dpif.setUpcallHandler(frw === 'done' ? this.router : undefined);
      if (frw === 'done') this.router.invalidate();
    }
    const wanted = new Map<string, Row>();
    for (const u of uuids(ovsRow, 'bridges')) {
      const b = db.getRow('Bridge', u);
      const name = b && str(b, 'name');
      if (b && name) wanted.set(name, b);
    }
    // Deletions first.
    for (const [name, rb] of this.bridges) {
      const w = wanted.get(name);
      if (!w || w.uuid !== rb.uuid) await this.deleteBridge(name, rb);
    }
    const updates: Json[] = [];
    for (const [name, brow] of wanted) {
      let rb = this.bridges.get(name);
      const oc = smap(brow, 'other_config');
      const mac = oc.hwaddr
        ? Number.parseInt(oc.hwaddr.replace(/:/g, ''), 16)
        : stableMac(`bridge:${name}`);
      const dpidStr =
        /^[0-9a-fA-F]{16}$/.test(oc['datapath-id'] ?? '') && !/^0+$/.test(oc['datapath-id']!)
          ? oc['datapath-id']!.toLowerCase()
          : mac.toString(16).padStart(16, '0');
      const dpid = BigInt(`0x${dpidStr}`);
      if (!rb) {
        log.info({ bridge: name }, 'adding bridge');
        const ofproto = new Ofproto({
          name,
          datapathId: dpid,
          clock: this.opts.clock,
          mgmtPath: join(this.opts.rundir, `${name}.mgmt`),
          desc: oc['dp-desc'] ? { dpDesc: oc['dp-desc'] } : {},
        });
        try {
          await ofproto.start();
        } catch (e) {
          log.error(
            { bridge: name, err: (e as Error).message },
            'cannot open the management socket',
          );
        }
        rb = {
          uuid: brow.uuid,
          name,
          ofproto,
          ifaces: new Map(),
          controllersKey: '',
          protocols: new Map(),
          mac,
        };
        if (this.opts.dpif && this.router) {
          const router = this.router;
          const xlate = new Xlate({ ofproto, clock: this.opts.clock, executor: this.opts.dpif });
          xlate.attach();
          xlate.mac.startAging();
          ofproto.setPipelineHooks({ changed: () => router.invalidate() });
          const unwatch = xlate.mac.onChange(() => router.invalidate());
          rb.stopMacWatch = () => {
            unwatch();
            xlate.mac.stopAging();
            // The bridge's datapath meters and their ids go with it.
            xlate.releaseMeters();
          };
          rb.xlate = xlate;
          this.openProtocols(rb, xlate);
        }
        this.bridges.set(name, rb);
      }
      if (rb.xlate) {
        const aging = Number(oc['mac-aging-time'] ?? 300);
        const size = Number(oc['mac-table-size'] ?? 2048);
        rb.xlate.mac.configure(
          Number.isFinite(aging) && aging > 0 ? aging : 300,
          Number.isFinite(size) && size > 0 ? size : 2048,
        );
        const floodVlans = (brow.data.flood_vlans?.keys ?? [])
          .map((k) => Number(k))
          .filter((n) => Number.isInteger(n))
          .sort((a, b) => a - b);
        if (floodVlans.join(',') !== [...rb.xlate.floodVlans].join(',')) {
          rb.xlate.floodVlans = new Set(floodVlans);
          this.router?.invalidate();
        }
        const fwdBpdu = oc['forward-bpdu'] === 'true';
        if (rb.xlate.forwardBpdu !== fwdBpdu) {
          rb.xlate.forwardBpdu = fwdBpdu;
          this.router?.invalidate();
        }
        const fm = str(brow, 'fail_mode') === 'secure' ? 'secure' : 'standalone';
        if (rb.xlate.failMode !== fm) {
          rb.xlate.failMode = fm;
          this.router?.invalidate();
        }
      }
      rb.ofproto.datapathId = dpid;
      this.reconcileFlowTables(rb, brow);
      const protocols = (brow.data.protocols?.keys ?? []).filter(
        (k): k is string => typeof k === 'string',
      );
      noteBridgeVersions(name, protocols);
      rb.ofproto.connmgr.allowedVersions = bridgeVersions(protocols).allowed;
      rb.ofproto.connmgr.busyPollUs = this.ofBusyPollUs;
      if (oc['dp-desc']) rb.ofproto.desc.dpDesc = oc['dp-desc'];
      if (str(brow, 'datapath_id') !== dpidStr) {
        updates.push(update('Bridge', brow.uuid, { datapath_id: dpidStr }));
      }
      rb.mac = mac;
      this.reconcilePorts(rb, brow, mac, updates);
      for (const [pn, p] of rb.protocols) {
        try {
          p.reconfigure(updates);
        } catch (e) {
          log.error(
            { bridge: name, protocol: pn, err: (e as Error).message },
            'reconfigure failed',
          );
        }
      }
      await this.reconcileControllers(rb, brow);
    }
    // Bring cur_cfg up to next_cfg in the same transaction as the results.
    const next = int(ovsRow, 'next_cfg') ?? 0;
    const ovsUpdate: Record<string, Json> = {};
    if ((int(ovsRow, 'cur_cfg') ?? 0) !== next) ovsUpdate.cur_cfg = next;
    const dpTypes = ['netdev', 'system'];
    if ((ovsRow.data.datapath_types?.keys ?? []).join(',') !== dpTypes.join(','))
      ovsUpdate.datapath_types = ['set', dpTypes];
    const ifTypes = [...IFACE_TYPES].sort();
    if ((ovsRow.data.iface_types?.keys ?? []).join(',') !== ifTypes.join(','))
      ovsUpdate.iface_types = ['set', ifTypes];
    if (Object.keys(ovsUpdate).length > 0)
      updates.push(update('Open_vSwitch', ovsRow.uuid, ovsUpdate));
    this.writeStatus(updates);
    if (updates.length > 0) this.commit(updates);
  }

  private reconcilePorts(rb: RunningBridge, brow: Row, bridgeMac: number, updates: Json[]): void {
    const db = this.opts.db;
    const wantIfaces = new Map<string, Row>();
    const portOf = new Map<string, Row>();
    for (const pu of uuids(brow, 'ports')) {
      const prow = db.getRow('Port', pu);
      if (!prow) continue;
      for (const iu of uuids(prow, 'interfaces')) {
        const irow = db.getRow('Interface', iu);
        if (irow) {
          wantIfaces.set(iu, irow);
          portOf.set(iu, prow);
        }
      }
    }
    // Deletions first.
    for (const [u, ri] of rb.ifaces) {
      const w = wantIfaces.get(u);
      if (!w || str(w, 'name') !== ri.name) {
        rb.ifaces.delete(u);
        this.detach(ri);
        if (ri.ofport > 0) rb.ofproto.removePort(ri.ofport);
        this.router?.invalidate();
      }
    }
    const used = new Set<number>([...rb.ifaces.values()].map((i) => i.ofport).filter((n) => n > 0));
    // Interfaces in a stable order: by name.
    const sorted = [...wantIfaces.values()].sort((a, b) =>
      (str(a, 'name') ?? '').localeCompare(str(b, 'name') ?? ''),
    );
    for (const irow of sorted) {
      const name = str(irow, 'name') ?? '';
      const type = str(irow, 'type') ?? '';
      let ri = rb.ifaces.get(irow.uuid);
      if (!ri) {
        const error = this.openError(name, type, irow);
        let ofport = -1;
        let mac = 0;
        if (!error) {
          const local = type === 'internal' && name === rb.name;
          if (local) ofport = OFPP.LOCAL;
          else {
            const req = int(irow, 'ofport_request');
            const prev = int(irow, 'ofport');
            // (the DB keeps OVS's 16-bit numbers; only LOCAL differs from the OpenFlow 1.3 value)
            const pick = [req, prev].find(
              (p): p is number => p !== undefined && p >= 1 && p < 0xff00 && !used.has(p),
            );
            ofport = pick ?? lowestFree(used);
          }
          used.add(ofport);
          mac = local ? bridgeMac : this.ifaceMac(name, type);
          const sys = type === '' || type === 'system';
          const attached = this.attach(rb, name, type, irow);
          // Patch ports have no netdev; OVS reports them up, peer or not.
          const up = attached
            ? attached.netdev.carrier()
            : type === 'patch' || (sys && this.operUp(name));
          const ifaceUuid = irow.uuid;
          rb.ofproto.addPort({
            ofport,
            name,
            hwAddr: mac,
            config: up ? 0 : OFPPC.PORT_DOWN,
            state: up ? OFPPS.LIVE : OFPPS.LINK_DOWN,
            // OVS's netdev-dummy reports no link features (ovs-ofctl: "speed: 0 Mbps now").
            curr: type === 'dummy' ? 0 : OFPPF['10GB_FD'] | OFPPF.COPPER,
            currSpeed: type === 'dummy' ? 0 : 10_000_000,
            maxSpeed: 0,
            ...(attached
              ? { dpPort: attached.dpPort, counters: () => netdevCounters(attached.netdev) }
              : {}),
            ...(type === 'patch' ? { patchPeer: () => this.findPatchPeer(ifaceUuid, name) } : {}),
          });
          this.router?.invalidate();
          if (attached) {
            ri = { uuid: irow.uuid, name, ofport, mac, ...attached };
            rb.ifaces.set(irow.uuid, ri);
          }
        } else {
          cIfaceError.inc();
          log.warn({ bridge: rb.name, iface: name, error }, 'could not set up interface');
        }
        if (!ri) {
          ri = { uuid: irow.uuid, name, ofport, mac, ...(error ? { error } : {}) };
          rb.ifaces.set(irow.uuid, ri);
        }
      }
      if (type === 'patch' && !ri.error) {
        const peer = smap(irow, 'options').peer;
        if (ri.patchPeer !== peer) {
          if (ri.patchPeer !== undefined) this.router?.invalidate();
          ri.patchPeer = peer;
        }
      }
      const prow = portOf.get(irow.uuid);
      const ofp = ri.ofport > 0 ? rb.ofproto.getPort(ri.ofport) : undefined;
      if (ofp && prow) {
        const vlan = portVlan(prow);
        if (JSON.stringify(vlan) !== JSON.stringify(ofp.vlan)) {
          ofp.vlan = vlan;
          this.router?.invalidate();
        }
      }
      const row: Record<string, Json> = {};
      const dbOfport = ri.ofport === OFPP.LOCAL ? OFPP_LOCAL_DB : ri.ofport;
      if (int(irow, 'ofport') !== dbOfport) row.ofport = dbOfport;
      if (str(irow, 'error') !== ri.error) row.error = optJson(ri.error);
      if (!ri.error) {
        const macStr = macToString(ri.mac);
        if (str(irow, 'mac_in_use') !== macStr) row.mac_in_use = macStr;
        const port = rb.ofproto.getPort(ri.ofport);
        const admin = port && (port.config & OFPPC.PORT_DOWN) === 0 ? 'up' : 'down';
        const link = port && (port.state & OFPPS.LINK_DOWN) === 0 ? 'up' : 'down';
        if (str(irow, 'admin_state') !== admin) row.admin_state = admin;
        if (str(irow, 'link_state') !== link) row.link_state = link;
        ifaceStatusColumns(irow, ri.name, str(irow, 'type') ?? '', ri.netdev, row);
      } else {
        for (const c of ['mac_in_use', 'admin_state', 'link_state', ...IFACE_LINK_COLUMNS])
          if (str(irow, c) !== undefined) row[c] = ['set', []];
      }
      if (Object.keys(row).length > 0) updates.push(update('Interface', irow.uuid, row));
    }
  }

  /**
   * Opens the interface's netdev and adds it to the datapath. Dummy interfaces get a dummy netdev
   * (`netdev-dummy/receive` can inject frames into them); internal ports are TAP devices (opened
   * by openError) or, with `internalPorts: 'memory'`, in-memory netdevs; system interfaces go
   * through AF_PACKET (native/), brought up as OVS does. When the addon is not built, a system interface is numbered but carries no traffic.
   */
  private attach(
    rb: RunningBridge,
    name: string,
    type: string,
    irow: Row,
  ): { netdev: Netdev; dpPort: number } | undefined {
    const dpif = this.opts.dpif;
    if (!dpif || !rb.xlate || !this.router) return undefined;
    let netdev: Netdev;
    try {
      const tap = this.pendingTaps.get(name);
      if (tap) {
        this.pendingTaps.delete(name);
        // The bridge's own port carries the bridge MAC, others their stable one, as in OVS.
        const mac = name === rb.name ? rb.mac : stableMac(`iface:${name}`);
        try {
          tap.setEtherAddr(macBytes(mac));
        } catch (e) {
          log.warn({ iface: name, err: (e as Error).message }, 'cannot set the TAP address');
        }
        netdev = tap;
      } else if (type === 'dummy') netdev = dummyNetdevClass.open(name, smap(irow, 'options'));
      else if (type === 'internal') netdev = new DummyNetdev(name);
      else if (type === '' || type === 'system') {
        const sys = systemNetdevClass.open(name, smap(irow, 'options')) as AfPacketNetdev;
        // OVS brings a port's device up when it adds it.
        if (!sys.isUp()) sys.setUp(true);
        netdev = sys;
      } else return undefined;
    } catch (e) {
      log.warn({ iface: name, err: (e as Error).message }, 'cannot open netdev');
      return undefined;
    }
    const dpPort = dpif.addPort(netdev);
    this.router.bind(dpPort, rb.xlate);
    return { netdev, dpPort };
  }

  private detach(ri: RunningIface): void {
    if (ri.dpPort === undefined || !this.opts.dpif) return;
    this.router?.unbind(ri.dpPort);
    try {
      this.opts.dpif.delPort(ri.dpPort);
    } catch {
      // already gone
    }
    ri.netdev?.close();
    ri.dpPort = undefined;
    ri.netdev = undefined;
  }

  private openError(name: string, type: string, irow: Row): string | undefined {
    switch (type) {
      case '':
      case 'system':
        return this.deviceExists(name)
          ? undefined
          : `could not open network device ${name} (No such device)`;
      case 'internal':
      case 'tap':
        if (this.opts.dpif && (type === 'tap' || this.opts.internalPorts === 'tap')) {
          // Open the TAP device now, so a failure gives ofport -1 and Interface.error as in OVS;
          // attach() takes it from here.
          this.pendingTaps.get(name)?.close();
          try {
            this.pendingTaps.set(name, tapNetdevClass.open(name) as TapNetdev);
          } catch (e) {
            const code = (e as { code?: string }).code;
            const why =
              code === 'EBUSY'
                ? 'Device or resource busy'
                : code === 'EPERM'
                  ? 'Operation not permitted'
                  : (e as Error).message;
            return `could not open network device ${name} (${why})`;
          }
        }
        return undefined;
      case 'dummy':
        return undefined;
      case 'patch':
        return smap(irow, 'options').peer
          ? undefined
          : `${name}: patch type requires valid 'peer' argument`;
      default:
        return `could not open network device ${name} (Address family not supported by protocol)`;
    }
  }

  /**
   * The peer of patch interface `selfName` (row `ifaceUuid`), as OVS pairs them: the
   * interface named by its options:peer, on any running bridge with a translator, itself a
   * patch interface whose options:peer names this one. Undefined while there is none.
   */
  private findPatchPeer(
    ifaceUuid: string,
    selfName: string,
  ): { xlate: Xlate; ofport: number } | undefined {
    const db = this.opts.db;
    const row = db.getRow('Interface', ifaceUuid);
    const peerName = row ? smap(row, 'options').peer : undefined;
    if (!peerName) return undefined;
    for (const rb of this.bridges.values()) {
      if (!rb.xlate) continue;
      for (const ri of rb.ifaces.values()) {
        if (ri.name !== peerName || ri.ofport <= 0 || ri.error) continue;
        const prow = db.getRow('Interface', ri.uuid);
        if (!prow || str(prow, 'type') !== 'patch') continue;
        if (smap(prow, 'options').peer !== selfName) continue;
        if (!rb.ofproto.getPort(ri.ofport)?.patchPeer) continue;
        return { xlate: rb.xlate, ofport: ri.ofport };
      }
    }
    return undefined;
  }

  private ifaceMac(name: string, type: string): number {
    if (type === '' || type === 'system') {
      try {
        const s = readFileSync(join('/sys/class/net', name, 'address'), 'utf8').trim();
        return Number.parseInt(s.replace(/:/g, ''), 16);
      } catch {
        // fall through to a generated address
      }
    }
    return stableMac(`iface:${name}`);
  }

  private operUp(name: string): boolean {
    try {
      return readFileSync(join('/sys/class/net', name, 'operstate'), 'utf8').trim() !== 'down';
    } catch {
      return false;
    }
  }

  /**
   * Bridge.flow_tables → Flow_Table rows: each table's `prefixes` go to its classifier (OVS's
   * bridge_configure_tables); tables without a row get OVS's default prefixes.
   */
  private reconcileFlowTables(rb: RunningBridge, brow: Row): void {
    const db = this.opts.db;
    const d = brow.data.flow_tables;
    const rows = new Map<number, Row>();
    d?.keys.forEach((k: Atom, i) => {
      const u = d.values?.[i];
      const id = typeof k === 'bigint' ? Number(k) : k;
      const row = typeof u === 'string' ? db.getRow('Flow_Table', u) : undefined;
      if (typeof id === 'number' && row) rows.set(id, row);
    });
    let changed = false;
    for (let id = 0; id < N_TABLES; id++) {
      const row = rows.get(id);
      const names = (row?.data.prefixes?.keys ?? []).filter(
        (k): k is string => typeof k === 'string',
      );
      const key = names.join(',');
      if (rb.prefixesKey?.[id] === key) continue;
      (rb.prefixesKey ??= [])[id] = key;
      if (rb.ofproto.tables.setTablePrefixes(id, flowTablePrefixes(rb.name, id, names)))
        changed = true;
    }
    if (changed) this.router?.invalidate();
  }

  private async reconcileControllers(rb: RunningBridge, brow: Row): Promise<void> {
    const db = this.opts.db;
    const list: ControllerConfig[] = [];
    for (const cu of uuids(brow, 'controller')) {
      const c = db.getRow('Controller', cu);
      const target = c && str(c, 'target');
      if (!c || !target) continue;
      const cfg: ControllerConfig = { target };
      const mb = int(c, 'max_backoff');
      if (mb !== undefined) cfg.maxBackoffMs = mb;
      const ip = int(c, 'inactivity_probe');
      if (ip !== undefined) cfg.inactivityProbeMs = ip;
      list.push(cfg);
    }
    if (this.flowRestore.waiting) list.length = 0;
    // Packet-in rate limits (Controller.controller_rate_limit/burst_limit): the bridge has one
    // limiter, so the first controller that sets a rate decides (OVS keeps one per controller).
    const limited = uuids(brow, 'controller')
      .map((cu) => db.getRow('Controller', cu))
      .find((c) => c !== undefined && int(c, 'controller_rate_limit') !== undefined);
    const rate = limited ? int(limited, 'controller_rate_limit') : undefined;
    const burst = limited ? int(limited, 'controller_burst_limit') : undefined;
    rb.xlate?.pinsched.configure(rate ?? DEFAULT_PIN_RATE, burst);
    const key = JSON.stringify(list);
    if (key === rb.controllersKey) return;
    rb.controllersKey = key;
    await rb.ofproto.setControllers(list);
  }

  /**
   * Appends Controller status updates (is_connected, role, status) that differ from the DB.
   * status:sec_since_connect/sec_since_disconnect are recomputed when `withTimes` (the stats
   * tick) or when the connection state changes; otherwise the values in the DB are kept, so the
   * ticking seconds alone never cost a commit every second.
   */
  private writeStatus(updates: Json[], withTimes = false): void {
    const db = this.opts.db;
    for (const rb of this.bridges.values()) {
      const brow = db.getRow('Bridge', rb.uuid);
      if (!brow) continue;
      const st = new Map(rb.ofproto.connmgr.status().map((s) => [s.target, s]));
      for (const cu of uuids(brow, 'controller')) {
        const c = db.getRow('Controller', cu);
        const target = c && str(c, 'target');
        const s = target ? st.get(target) : undefined;
        if (!c || !s) continue;
        const row: Record<string, Json> = {};
        if (bool(c, 'is_connected') !== s.isConnected) row.is_connected = s.isConnected;
        const role = s.isConnected ? s.role : undefined;
        if (str(c, 'role') !== role) row.role = optJson(role);
        const status: Record<string, string> = { state: s.state };
        const dbStatus = smap(c, 'status');
        const times = withTimes || dbStatus.state !== s.state;
        for (const [k, v] of [
          ['sec_since_connect', s.secSinceConnect],
          ['sec_since_disconnect', s.secSinceDisconnect],
        ] as const) {
          if (v === undefined) continue;
          const old = dbStatus[k];
          status[k] = times || old === undefined ? String(Math.max(0, v)) : old;
        }
        if (s.lastError) status.last_error = s.lastError;
        if (JSON.stringify(dbStatus) !== JSON.stringify(sortKeys(status)))
          row.status = mapJson(status);
        if (Object.keys(row).length > 0) updates.push(update('Controller', c.uuid, row));
      }
    }
  }

  private armStatus(): void {
    if (this.stopped) return;
    this.statusTimer = this.opts.clock.setTimeout(() => {
      const updates: Json[] = [];
      this.ticks++;
      this.writeStatus(updates, this.ticks % STATS_EVERY_TICKS === 0);
      this.writeProtocolStatus(updates);
      this.pollLinks(updates);
      if (this.ticks % STATS_EVERY_TICKS === 0) this.writeStatistics(updates);
      if (updates.length > 0) this.commit(updates);
      this.armStatus();
    }, this.opts.statusIntervalMs ?? 1000);
  }

  /**
   * Follows the carrier of every attached interface: a change updates the OpenFlow port state
   * (PORT_STATUS to controllers, liveness for fast-failover groups), flushes datapath flows and
   * is written to Interface.link_state (with link_resets counted, as OVS does).
   */
  private pollLinks(updates: Json[]): void {
    for (const rb of this.bridges.values()) {
      for (const ri of rb.ifaces.values()) {
        if (!ri.netdev || ri.ofport <= 0) continue;
        const port = rb.ofproto.getPort(ri.ofport);
        if (!port) continue;
        let up: boolean;
        try {
          up = ri.netdev.carrier();
        } catch {
          continue;
        }
        const wasUp = (port.state & OFPPS.LINK_DOWN) === 0;
        if (up === wasUp) continue;
        rb.ofproto.setPortState(ri.ofport, up ? OFPPS.LIVE : OFPPS.LINK_DOWN);
        this.router?.invalidate();
        const irow = this.opts.db.getRow('Interface', ri.uuid);
        if (!irow) continue;
        const resets = (int(irow, 'link_resets') ?? 0) + 1;
        updates.push(
          update('Interface', ri.uuid, { link_state: up ? 'up' : 'down', link_resets: resets }),
        );
      }
    }
  }

  /** Creates the bridge's control protocols (once, when the bridge gets its translator). */
  private openProtocols(rb: RunningBridge, xlate: Xlate): void {
    const ctx: BridgeProtocolContext = {
      bridgeName: rb.name,
      db: this.opts.db,
      clock: this.opts.clock,
      ofproto: rb.ofproto,
      xlate,
      bridgeRow: () => this.opts.db.getRow('Bridge', rb.uuid),
      bridgeMac: () => rb.mac,
      ifaces: () => this.protocolIfaces(rb),
      send: (ofport, frame) => {
        const ri = [...rb.ifaces.values()].find((i) => i.ofport === ofport);
        if (!ri?.netdev) return false;
        try {
          const batch = newFrameBatch(1);
          batch.count = 1;
          batch.bufs[0] = frame;
          batch.offs[0] = 0;
          batch.lens[0] = frame.length;
          return ri.netdev.sendBatch(batch) === 1;
        } catch {
          return false;
        }
      },
      invalidate: () => this.router?.invalidate(),
      requestStatus: () => this.requestProtocolStatus(),
    };
    for (const m of this.opts.protocols ?? []) {
      try {
        const p = m.create(ctx);
        rb.protocols.set(m.name, p);
        xlate.protocols.push(p);
      } catch (e) {
        log.error({ bridge: rb.name, protocol: m.name, err: (e as Error).message }, 'cannot start');
      }
    }
  }

  private closeProtocols(rb: RunningBridge): void {
    for (const p of rb.protocols.values()) {
      try {
        p.close();
      } catch {
        // closing is best effort
      }
    }
    rb.protocols.clear();
    if (rb.xlate) rb.xlate.protocols.length = 0;
  }

  private protocolIfaces(rb: RunningBridge): BridgeIface[] {
    const db = this.opts.db;
    const portOf = new Map<string, string>();
    const brow = db.getRow('Bridge', rb.uuid);
    if (brow) {
      for (const pu of uuids(brow, 'ports')) {
        const prow = db.getRow('Port', pu);
        if (prow) for (const iu of uuids(prow, 'interfaces')) portOf.set(iu, pu);
      }
    }
    const out: BridgeIface[] = [];
    for (const ri of rb.ifaces.values()) {
      const portUuid = portOf.get(ri.uuid);
      if (ri.ofport <= 0 && ri.ofport !== OFPP.LOCAL) continue;
      if (ri.error || portUuid === undefined) continue;
      out.push({
        uuid: ri.uuid,
        portUuid,
        name: ri.name,
        ofport: ri.ofport,
        mac: ri.mac,
        netdev: ri.netdev,
      });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  private writeProtocolStatus(updates: Json[]): void {
    for (const rb of this.bridges.values()) {
      for (const [pn, p] of rb.protocols) {
        try {
          p.writeStatus(updates);
        } catch (e) {
          log.error({ bridge: rb.name, protocol: pn, err: (e as Error).message }, 'status failed');
        }
      }
    }
  }

  private protocolStatusQueued = false;

  /** Runs a protocol status pass on the next turn (coalesced). */
  private requestProtocolStatus(): void {
    if (this.protocolStatusQueued || this.stopped) return;
    this.protocolStatusQueued = true;
    setImmediate(() => {
      this.protocolStatusQueued = false;
      if (this.stopped) return;
      const updates: Json[] = [];
      this.writeProtocolStatus(updates);
      if (updates.length > 0) this.commit(updates);
    });
  }

  /** Writes Interface.statistics from the netdevs (every 5 s, as OVS refreshes them). */
  private writeStatistics(updates: Json[]): void {
    for (const rb of this.bridges.values()) {
      for (const ri of rb.ifaces.values()) {
        if (!ri.netdev) continue;
        const st = ri.netdev.stats();
        const m: [string, number][] = [
          ['collisions', 0],
          ['rx_bytes', st.rxBytes],
          ['rx_crc_err', 0],
          ['rx_dropped', st.rxDropped],
          ['rx_errors', st.rxErrors],
          ['rx_frame_err', 0],
          ['rx_over_err', 0],
          ['rx_packets', st.rxPackets],
          ['tx_bytes', st.txBytes],
          ['tx_dropped', st.txDropped],
          ['tx_errors', st.txErrors],
          ['tx_packets', st.txPackets],
        ];
        const key = JSON.stringify(m);
        if (ri.lastStats === key) continue;
        ri.lastStats = key;
        updates.push(update('Interface', ri.uuid, { statistics: ['map', m] }));
      }
    }
  }

  /**
   * Commits write-backs through the replica. A failed commit is logged and a pass is retried
   * (1 s, doubling up to 8 s while it keeps failing): the rows are the server's truth, so the
   * pass recomputes what still has to be written.
   */
  private commit(ops: Json[]): void {
    void this.replica.commit(ops).then((r) => {
      if (r.status === 'ok') {
        this.retryDelay = 0;
        return;
      }
      log.error({ error: r.error }, 'status write-back failed');
      if (this.stopped || this.retryTimer) return;
      this.retryDelay = Math.min(8000, this.retryDelay === 0 ? 1000 : this.retryDelay * 2);
      this.retryTimer = this.opts.clock.setTimeout(() => {
        this.retryTimer = undefined;
        void this.schedule();
      }, this.retryDelay);
    });
  }
}

/**
 * NORMAL's VLAN configuration of a port from its Port row (tag, trunks, vlan_mode); undefined
 * for a plain trunk of every VLAN, as OVS treats a port with neither tag nor trunks.
 */
export function portVlan(prow: Row): PortVlan | undefined {
  const tag = int(prow, 'tag');
  const trunks = (prow.data.trunks?.keys ?? [])
    .map((k) => Number(k))
    .filter((n) => Number.isInteger(n));
  const mode = str(prow, 'vlan_mode') as VlanMode | undefined;
  if (tag === undefined && trunks.length === 0 && mode === undefined) return undefined;
  const v: PortVlan = {};
  if (mode !== undefined) v.mode = mode;
  if (tag !== undefined) v.tag = tag;
  if (trunks.length > 0) v.trunks = trunks;
  return v;
}

/** OpenFlow port counters from a netdev's statistics. */
function netdevCounters(n: Netdev): PortCounters {
  const s = n.stats();
  return {
    rxPackets: BigInt(s.rxPackets),
    txPackets: BigInt(s.txPackets),
    rxBytes: BigInt(s.rxBytes),
    txBytes: BigInt(s.txBytes),
    rxDropped: BigInt(s.rxDropped),
    txDropped: BigInt(s.txDropped),
    rxErrors: BigInt(s.rxErrors),
    txErrors: BigInt(s.txErrors),
  };
}

function sortKeys(m: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.keys(m)
      .sort()
      .map((k) => [k, m[k]!]),
  );
}

function lowestFree(used: Set<number>): number {
  let n = 1;
  while (used.has(n)) n++;
  return n;
}

function update(table: string, uuid: string, row: Record<string, Json>): Json {
  return { op: 'update', table, where: [['_uuid', '==', ['uuid', uuid]]], row };
}

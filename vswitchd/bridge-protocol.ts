/**
 * The seam between the bridge reconciler and the per-bridge control protocols (BFD, STP, and
 * later LACP/CFM): a protocol is created once per running bridge, is told after every
 * reconfiguration pass what the database says, takes its frames out of the datapath through
 * {@link SlowPathProtocol.consume} (xlate offers it every upcall first), sends its own frames
 * straight out of a port, and writes its status columns on the status tick.
 *
 * The reconciler owns the database, the ports and the timers of the status tick; a protocol owns
 * its sessions and their timers (on the injected clock) and never commits by itself: it appends
 * `update` operations to the list it is given, or asks for an early status pass.
 */
import type { Clock } from '../lib/clock.js';
import type { Json } from '../lib/json.js';
import type { Database } from '../ovsdb/database.js';
import type { Row } from '../ovsdb/types.js';
import type { Ofproto } from '../ofproto/ofproto.js';
import type { SlowPathProtocol, Xlate } from '../ofproto/xlate.js';
import type { Netdev } from '../datapath/netdev.js';
import type { AppctlRegistry } from '../appctl/registry.js';

/** One running interface of the bridge, as a protocol sees it. */
export interface BridgeIface {
  /** Interface row UUID. */
  readonly uuid: string;
  /** Port row UUID (the Port that holds this interface). */
  readonly portUuid: string;
  /** Interface name. */
  readonly name: string;
  /** OpenFlow port number (> 0, or OFPP.LOCAL); interfaces without one are not listed. */
  readonly ofport: number;
  /** The interface's Ethernet address (mac_in_use). */
  readonly mac: number;
  /** The netdev, when the interface is attached to the datapath. */
  readonly netdev: Netdev | undefined;
}

/** What the reconciler gives a protocol of one bridge. */
export interface BridgeProtocolContext {
  /** The bridge name. */
  readonly bridgeName: string;
  /** The database (read rows; never transact directly). */
  readonly db: Database;
  /** Time source for every timer the protocol keeps. */
  readonly clock: Clock;
  /** The bridge's OpenFlow switch (ports, port state and PORT_STATUS). */
  readonly ofproto: Ofproto;
  /** The bridge's translator. */
  readonly xlate: Xlate;
  /** The Bridge row as of now (undefined once the bridge is being deleted). */
  bridgeRow(): Row | undefined;
  /** The bridge's Ethernet address. */
  bridgeMac(): number;
  /** The running interfaces that have an OpenFlow port, sorted by name. */
  ifaces(): readonly BridgeIface[];
  /**
   * Sends `frame` straight out of OpenFlow port `ofport`, bypassing the tables (as OVS sends
   * BFD and BPDU frames). Returns false when the port has no netdev or the send failed.
   */
  send(ofport: number, frame: Uint8Array): boolean;
  /** Flushes the datapath's flows of every bridge (after a forwarding-relevant change). */
  invalidate(): void;
  /** Asks for a status pass soon (coalesced), so a state change reaches the database quickly. */
  requestStatus(): void;
}

/** A control protocol of one bridge. */
export interface BridgeProtocol extends SlowPathProtocol {
  /**
   * Called after every reconfiguration pass of the bridge (and once at creation). Reads its
   * configuration from the rows (through `ctx.db`), creates and deletes sessions, and appends to
   * `updates` any status column that must change now. Must be idempotent and must not throw for
   * bad configuration (log it and use defaults, as OVS does).
   */
  reconfigure(updates: Json[]): void;
  /** Called on the status tick (every second) and on {@link BridgeProtocolContext.requestStatus}:
   *  appends updates for status columns that differ from the database. */
  writeStatus(updates: Json[]): void;
  /** Stops every timer and session; the bridge is going away. */
  close(): void;
}

/** Makes a protocol for a bridge. */
export type BridgeProtocolFactory = (ctx: BridgeProtocolContext) => BridgeProtocol;

/**
 * The appctl commands of a protocol, registered once per daemon. `protocols(name)` returns the
 * instances of this factory for every bridge (bridge name → protocol).
 */
export type BridgeProtocolCommands = (
  registry: AppctlRegistry,
  protocols: () => ReadonlyMap<string, BridgeProtocol>,
) => void;

/** A protocol as the daemon knows it: a name, a factory and its appctl commands. */
export interface BridgeProtocolModule {
  /** Unique name (`bfd`, `stp`). */
  readonly name: string;
  /** Per-bridge factory. */
  readonly create: BridgeProtocolFactory;
  /** appctl commands (optional). */
  readonly commands?: BridgeProtocolCommands;
}

/**
 * The datapath interface (OVS's dpif.h, reduced to what tsvswitch's control plane needs): ports
 * over netdevs, a flow cache filled through upcalls, packet execution, flow dumps with stats,
 * revalidation and expiry. {@link DpifNetdev} (dpif-netdev.ts) is the userspace implementation.
 */
import type { FlowKey } from '../lib/packet/flow-key.js';
import type { DpAction, UserspaceCookie } from './actions.js';
import type { DpMeterConfig, DpMeterStats } from './dp-meter.js';
import type { Netdev } from './netdev.js';

/** One packet that missed every cache, handed to the {@link UpcallHandler}. */
export interface UpcallRequest {
  /**
   * The packet's flow key: a copy the handler may keep but must not modify (DpifNetdev installs
   * this very array as the flow's key).
   */
  readonly key: FlowKey;
  /** The frame bytes (a copy the handler may keep). */
  readonly frame: Uint8Array;
  /** Datapath input port. */
  readonly inPort: number;
}

/** The control plane's answer for one {@link UpcallRequest}. */
export interface UpcallResult {
  /** Actions for this packet and, when installed, for every packet the megaflow covers. */
  readonly actions: readonly DpAction[];
  /**
   * The bits of the key the decision depended on (xlate's wildcards). The datapath installs the
   * megaflow with exactly this mask, plus in_port and recirc_id, which a datapath flow always
   * matches exactly (as OVS's userspace datapath requires).
   */
  readonly mask: FlowKey;
  /** False: execute the actions on this packet but install nothing (default true). */
  readonly install?: boolean;
}

/** A packet sent to the control plane by a `userspace` action (packet-in, slow path). */
export interface UserspaceUpcall {
  /** Frame bytes as they were when the action ran (a copy). */
  readonly frame: Uint8Array;
  /** The packet's flow key, re-extracted from `frame` (in_port and metadata included). */
  readonly key: FlowKey;
  /** Datapath input port. */
  readonly inPort: number;
  /** The action's pid. */
  readonly pid: number;
  /** The action's cookie. */
  readonly cookie: UserspaceCookie;
}

/**
 * The control plane's side of the datapath (ofproto's upcall handling implements it). Calls are
 * synchronous and made from inside the datapath's packet processing; a handler must not call
 * back into the same datapath's packet processing (poll/input), but may call `execute`.
 */
export interface UpcallHandler {
  /**
   * Decides what to do with packets that missed the caches. Returns one entry per request, in
   * order; an undefined entry (or a missing one) drops that packet without installing a flow
   * and counts it as lost. A throw drops the whole batch (counted as lost).
   */
  upcall(batch: readonly UpcallRequest[]): readonly (UpcallResult | undefined)[];
  /** Receives packets sent to userspace by a `userspace` action (optional: else dropped). */
  userspace?(msg: UserspaceUpcall): void;
}

/** A datapath port. */
export interface DpPortInfo {
  /** Datapath port number. */
  readonly port: number;
  /** Netdev name. */
  readonly name: string;
  /** Netdev type (`dummy`, `afpacket`, …). */
  readonly type: string;
  /** The netdev itself. */
  readonly netdev: Netdev;
}

/** Statistics of one datapath flow. */
export interface DpFlowStats {
  /** Packets that hit the flow. */
  readonly packets: number;
  /** Bytes of those packets. */
  readonly bytes: number;
  /** Clock ms of the last hit, or -1 if never. */
  readonly used: number;
  /** OR of the TCP flags seen. */
  readonly tcpFlags: number;
}

/**
 * A read-only view of an installed datapath flow. `key`, `mask` and `actions` are the flow's own
 * (not copies): callers must not modify them.
 */
export interface DpFlowInfo extends DpFlowStats {
  /** Datapath-unique flow id. */
  readonly id: number;
  /** The key of the packet that created the flow (unmasked). */
  readonly key: FlowKey;
  /** The flow's mask. */
  readonly mask: FlowKey;
  /** The flow's actions. */
  readonly actions: readonly DpAction[];
  /** Clock ms at installation. */
  readonly created: number;
}

/** What a revalidation callback decides for one flow. */
export type RevalidateVerdict =
  | 'keep'
  | 'delete'
  | {
      /** New actions. */
      readonly actions: readonly DpAction[];
      /** New mask (when it differs, the flow is re-installed under it; default: unchanged). */
      readonly mask?: FlowKey;
    };

/** Counts returned by a revalidation pass. */
export interface RevalidateSummary {
  /** Flows left as they were. */
  kept: number;
  /** Flows whose actions (or mask) changed. */
  updated: number;
  /** Flows removed. */
  deleted: number;
}

/** Datapath-wide counters. */
export interface DpStats {
  /** Packets that hit the exact-match cache. */
  readonly emcHits: number;
  /** Packets that missed the EMC and hit a megaflow. */
  readonly megaflowHits: number;
  /** Packets that missed both caches (each produced an upcall). */
  readonly misses: number;
  /** Packets dropped because the upcall failed (no handler, a throw, or no answer). */
  readonly lost: number;
  /** Upcall batches sent to the handler. */
  readonly upcalls: number;
  /** Flows installed now. */
  readonly flows: number;
  /** Subtables (distinct masks) now. */
  readonly masks: number;
  /** Frames dropped on input because they were too short to be Ethernet (< 14 bytes). */
  readonly rxInvalid: number;
  /** Packets executed without installing because the flow limit was reached. */
  readonly overLimit: number;
  /** Outputs dropped because the port does not exist. */
  readonly txInvalidPort: number;
  /** Packets dropped because recirculation was nested too deeply. */
  readonly recircLoops: number;
  /** Netdev recvBatch/sendBatch calls that threw (the batch is dropped, other ports go on). */
  readonly portErrors: number;
}

/** Tunables. */
export interface DpConfig {
  /** Most flows installed at once; beyond it packets run without installing (default 200000). */
  flowLimit: number;
  /** A flow unused for this long (ms) is removed by {@link Dpif.expire} (default 10000). */
  maxIdleMs: number;
  /** Insert into the EMC one time in N on a megaflow hit (OVS emc-insert-inv-prob; 1 = always, 0 = never; default 1). */
  emcInsertInvProb: number;
}

/** A datapath. */
export interface Dpif {
  /** Datapath name (`ovs-netdev` for the userspace datapath, as OVS). */
  readonly name: string;
  /** Datapath type (`netdev`). */
  readonly type: string;
  /**
   * Adds `netdev` as a port, numbered `portNo` when given (throws if taken) or the lowest free
   * number ≥ 1. Returns the number. The datapath owns reading from the netdev afterwards.
   */
  addPort(netdev: Netdev, portNo?: number): number;
  /**
   * Removes a port (the netdev is not closed) and every flow whose in_port is that port; later
   * outputs to the number drop. Throws if there is no such port.
   */
  delPort(portNo: number): void;
  /** Every port, by increasing number. */
  ports(): DpPortInfo[];
  /** The port named `name`, if any. */
  portByName(name: string): DpPortInfo | undefined;
  /** Sets (or with undefined clears) the control plane; without one, misses are lost. */
  setUpcallHandler(h: UpcallHandler | undefined): void;
  /** Changes tunables (unspecified ones keep their value). */
  setConfig(cfg: Partial<DpConfig>): void;
  /** Current tunables. */
  config(): DpConfig;
  /**
   * Runs `actions` on a copy of `frame` as if received on `inPort` (packet-out): no cache is
   * consulted or filled. Outputs are sent before this returns.
   */
  execute(frame: Uint8Array, inPort: number, actions: readonly DpAction[]): void;
  /** Receives and processes up to `budget` frames per port (default 32 per port); returns the number processed. */
  poll(budget?: number): number;
  /** Snapshot of every installed flow. */
  flows(): DpFlowInfo[];
  /** Removes every flow (and empties the EMC). */
  flushAll(): void;
  /**
   * Calls `check` on every flow and applies its verdict before returning; after it, no removed or
   * changed flow's old actions run again.
   */
  revalidate(check: (flow: DpFlowInfo) => RevalidateVerdict): RevalidateSummary;
  /** Removes flows idle longer than maxIdleMs (by the clock); returns how many. */
  expire(): number;
  /** Counters. */
  stats(): DpStats;
  /**
   * Creates datapath meter `id` (0 ≤ id < 2^18) or replaces its configuration (OVS's
   * dpif_meter_set): its bands' buckets start full and its counters at 0. Installed flows whose
   * actions name the meter use the new configuration from their next packet on. Throws (a
   * `DpMeterError`) for a bad id or a configuration the datapath cannot run.
   */
  meterSet(id: number, config: DpMeterConfig): void;
  /**
   * Deletes datapath meter `id` and returns its last counters (undefined when there was no such
   * meter). A `meter` action naming it afterwards lets packets pass.
   */
  meterDel(id: number): DpMeterStats | undefined;
  /** Counters of datapath meter `id` since it was last set, or undefined when there is none. */
  meterStats(id: number): DpMeterStats | undefined;
  /**
   * Runs datapath meter `id` for one packet of `bytes` bytes now, exactly as a `meter` action
   * would (tokens taken, counters incremented), for the control plane when it must know a
   * meter's verdict before the datapath sees the packet (packet-ins built in translation).
   * Returns a negative number for "drop", else the drop-precedence levels a dscp_remark band
   * adds (0: pass unchanged). A missing meter returns 0.
   */
  meterRun(id: number, bytes: number): number;
  /** Stops processing and forgets ports and flows (netdevs are not closed). */
  close(): void;
}

/**
 * What the REST API, the event stream and /metrics need from the switch. api/ may import only
 * lib, appctl and schemas, so the daemon side (vswitchd/api-backend.ts) implements this
 * interface over the database, the running bridges and the appctl registry; tests use a fake.
 *
 * Every method is synchronous and cheap enough to call per request; values are plain JSON
 * (64-bit counters as numbers, which are exact up to 2^53; cookies as `0x…` hex strings).
 */
import type { ApiEvent, Topic } from './events.js';

/** Per-port packet counters (monotonic since the port was added). */
export interface PortStatsInfo {
  /** Packets received. */
  rxPackets: number;
  /** Packets sent. */
  txPackets: number;
  /** Bytes received. */
  rxBytes: number;
  /** Bytes sent. */
  txBytes: number;
  /** Received packets dropped. */
  rxDropped: number;
  /** Packets dropped on send. */
  txDropped: number;
  /** Receive errors. */
  rxErrors: number;
  /** Send errors. */
  txErrors: number;
}

/** A running bridge. */
export interface BridgeInfo {
  /** Bridge name (unique). */
  name: string;
  /** Bridge row uuid in the database. */
  uuid: string;
  /** Datapath id as 16 hex digits. */
  datapathId: string;
  /** Names of the bridge's OpenFlow ports, in port-number order (LOCAL last). */
  ports: string[];
  /** Controller targets configured on the bridge. */
  controllers: string[];
  /** Total flows in all tables. */
  flowCount: number;
}

/** An OpenFlow port of a running bridge. */
export interface PortInfo {
  /** Bridge name. */
  bridge: string;
  /** Interface name. */
  name: string;
  /** OpenFlow port number (4294967294 = LOCAL). */
  ofport: number;
  /** MAC address `aa:bb:cc:dd:ee:ff`. */
  mac: string;
  /** Administrative state (OFPPC_PORT_DOWN clear = up). */
  adminState: 'up' | 'down';
  /** Link state (OFPPS_LINK_DOWN clear = up). */
  linkState: 'up' | 'down';
  /** Counters. */
  stats: PortStatsInfo;
}

/** An Interface row of the database (configured, whether or not it could be set up). */
export interface InterfaceInfo {
  /** Interface name. */
  name: string;
  /** Row uuid. */
  uuid: string;
  /** Interface type (`''` = system). */
  type: string;
  /** Bridge holding it, if any. */
  bridge?: string;
  /** OpenFlow port number written back by the reconciler (-1 = failed), if any. */
  ofport?: number;
  /** Interface.error, if set. */
  error?: string;
  /** Interface.admin_state, if set. */
  adminState?: string;
  /** Interface.link_state, if set. */
  linkState?: string;
  /** Interface.mac_in_use, if set. */
  macInUse?: string;
}

/** Filters of a flow dump (as `ovs-ofctl dump-flows` takes them). */
export interface FlowQuery {
  /** Only this table (0–253). */
  table?: number;
  /** Cookie value compared under {@link cookieMask}. */
  cookie?: bigint;
  /** Cookie mask; absent with a cookie means all ones. */
  cookieMask?: bigint;
}

/** One OpenFlow rule. */
export interface FlowInfo {
  /** Table id. */
  table: number;
  /** Priority. */
  priority: number;
  /** Cookie as `0x…`. */
  cookie: string;
  /** Match in ovs-ofctl syntax (empty = match all). */
  match: string;
  /** Instructions/actions in ovs-ofctl syntax (`drop` when none). */
  actions: string;
  /** Packets matched. */
  packets: number;
  /** Bytes matched. */
  bytes: number;
  /** Seconds since the flow was added. */
  durationSec: number;
  /** Idle timeout (s, 0 = none). */
  idleTimeout: number;
  /** Hard timeout (s, 0 = none). */
  hardTimeout: number;
}

/** One group. */
export interface GroupInfo {
  /** Group id. */
  groupId: number;
  /** Group type. */
  type: 'all' | 'select' | 'indirect' | 'ff';
  /** Buckets, each in ovs-ofctl syntax (`weight:…,actions=…`). */
  buckets: string[];
  /** Packets through the group. */
  packets: number;
  /** Bytes through the group. */
  bytes: number;
  /** Flows and groups that point at it. */
  refCount: number;
}

/** One meter band. */
export interface MeterBandInfo {
  /** Band type. */
  type: 'drop' | 'dscp_remark' | 'experimenter';
  /** Rate (kbps or pktps per the meter's flags). */
  rate: number;
  /** Burst size. */
  burstSize: number;
  /** Precedence level (dscp_remark only). */
  precLevel?: number;
}

/** One meter. */
export interface MeterInfo {
  /** Meter id. */
  meterId: number;
  /** Flag names: kbps, pktps, burst, stats. */
  flags: string[];
  /** Bands. */
  bands: MeterBandInfo[];
  /** Packets in. */
  packetsIn: number;
  /** Bytes in. */
  bytesIn: number;
  /** Flows using it. */
  flowCount: number;
}

/** OVSDB server figures for /metrics. */
export interface OvsdbStatsInfo {
  /** Open sessions. */
  sessions: number;
  /** Monitors over all sessions. */
  monitors: number;
  /** Commits of the data database since start. */
  commits: number;
}

/** The appctl surface the API uses (appctl's AppctlRegistry fits it). */
export interface AppctlLike {
  /** Every command, sorted by name. */
  list(): readonly { name: string; usage: string; minArgs: number; maxArgs: number }[];
  /** The command called `name`, if registered. */
  get(name: string): { name: string } | undefined;
  /**
   * Runs a command; rejects with an error whose message is the text to report (AppctlError
   * for unknown commands and wrong argument counts).
   */
  run(name: string, args: string[]): Promise<string>;
}

/** Everything the API reads. */
export interface ApiBackend {
  /** Every running bridge, sorted by name. */
  listBridges(): BridgeInfo[];
  /** One bridge, or undefined when no bridge has that name. */
  getBridge(name: string): BridgeInfo | undefined;
  /** The ports of bridge `name`, or undefined for an unknown bridge. */
  listPorts(bridge: string): PortInfo[] | undefined;
  /** Every Interface row, sorted by name. */
  listInterfaces(): InterfaceInfo[];
  /**
   * The rules of bridge `name` passing `q`, by table then descending priority; undefined for an
   * unknown bridge.
   */
  listFlows(bridge: string, q: FlowQuery): FlowInfo[] | undefined;
  /** Flows per table (only tables holding flows), or undefined for an unknown bridge. */
  flowCounts(bridge: string): { table: number; count: number }[] | undefined;
  /** Groups by id, or undefined for an unknown bridge. */
  listGroups(bridge: string): GroupInfo[] | undefined;
  /** Meters by id, or undefined for an unknown bridge. */
  listMeters(bridge: string): MeterInfo[] | undefined;
  /** OVSDB server figures, when the server runs in this process. */
  ovsdbStats(): OvsdbStatsInfo | undefined;
  /** The daemon's appctl commands. */
  readonly appctl: AppctlLike;
  /**
   * Starts feeding events to `sink` (called synchronously from the source, in order); returns a
   * function that stops it. Called once per API server. `wants(topic)` tells whether some client
   * currently listens to `topic`, so sources with a cost (polling) can idle.
   */
  subscribe(sink: (e: ApiEvent) => void, wants: (topic: Topic) => boolean): () => void;
}

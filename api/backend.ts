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
  /** At most this many rules (the first in table/priority order). */
  limit?: number;
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

/**
 * The BFD session of one interface, read from the database: Interface.bfd (configuration) and
 * Interface.bfd_status (what the daemon reports), as OVS's ovs-vswitchd writes them.
 */
export interface BfdInfo {
  /** Interface name. */
  interface: string;
  /** Bridge holding the interface, if any. */
  bridge?: string;
  /** True when Interface.bfd has enable=true. */
  enabled: boolean;
  /** Interface.bfd as is (enable, min_rx, min_tx, decay_min_rx, cpath_down, …). */
  config: Record<string, string>;
  /** bfd_status:state (admin_down, down, init, up). */
  state?: string;
  /** bfd_status:forwarding. */
  forwarding?: boolean;
  /** bfd_status:diagnostic. */
  diagnostic?: string;
  /** bfd_status:remote_state. */
  remoteState?: string;
  /** bfd_status:remote_diagnostic. */
  remoteDiagnostic?: string;
  /** bfd_status:flap_count. */
  flapCount?: number;
  /** Interface.bfd_status as is. */
  status: Record<string, string>;
}

/** STP figures of one port (Port.status, Port.statistics and Port.other_config stp-*). */
export interface StpPortInfo {
  /** Port name. */
  name: string;
  /** status:stp_port_id. */
  portId?: string;
  /** status:stp_state (disabled, listening, learning, forwarding, blocking). */
  state?: string;
  /** status:stp_sec_in_state. */
  secInState?: number;
  /** status:stp_role (root, designated, alternate, disabled). */
  role?: string;
  /** statistics:stp_tx_count. */
  txCount?: number;
  /** statistics:stp_rx_count. */
  rxCount?: number;
  /** statistics:stp_error_count. */
  errorCount?: number;
  /** The port's other_config keys starting with `stp-` (stp-enable, stp-port-num, …). */
  config: Record<string, string>;
}

/** STP state of one bridge, read from the database (Bridge and its Port rows). */
export interface StpInfo {
  /** Bridge name. */
  bridge: string;
  /** Bridge.stp_enable. */
  enabled: boolean;
  /** status:stp_bridge_id. */
  bridgeId?: string;
  /** status:stp_designated_root. */
  designatedRoot?: string;
  /** status:stp_root_path_cost. */
  rootPathCost?: number;
  /** True when this bridge is the root (bridge id = designated root), when both are known. */
  isRoot?: boolean;
  /** The bridge's other_config keys starting with `stp-` (stp-priority, stp-hello-time, …). */
  config: Record<string, string>;
  /** Ports of the bridge, by name. */
  ports: StpPortInfo[];
}

/** Lookups and matches of one flow table. */
export interface TableStatsInfo {
  /** Table id. */
  table: number;
  /** Rules in the table. */
  count: number;
  /** Packets looked up in the table (translations, not datapath hits). */
  lookups: number;
  /** Lookups that matched a rule. */
  matched: number;
}

/** Datapath-wide figures for /metrics. */
export interface DatapathStatsInfo {
  /** Datapath name, e.g. `ovs-netdev`. */
  name: string;
  /** Packets that hit the exact-match cache. */
  emcHits: number;
  /** Packets that hit a megaflow. */
  megaflowHits: number;
  /** Packets that missed both caches. */
  misses: number;
  /** Packets lost in upcalls. */
  lost: number;
  /** Upcall batches. */
  upcalls: number;
  /** Megaflows installed now. */
  flows: number;
  /** Megaflow masks (subtables) now. */
  masks: number;
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
  /**
   * Rules, lookups and matches of every table that holds a rule or saw a lookup, by table id;
   * undefined for an unknown bridge.
   */
  tableStats(bridge: string): TableStatsInfo[] | undefined;
  /** Figures of every datapath (one in this daemon), empty when none runs. */
  datapathStats(): DatapathStatsInfo[];
  /** BFD of every interface that has BFD configured or reported, sorted by interface name. */
  listBfd(): BfdInfo[];
  /**
   * BFD of the Interface row called `name` (enabled false and empty maps when it has none), or
   * undefined when no Interface row has that name.
   */
  getBfd(name: string): BfdInfo | undefined;
  /** STP of every Bridge row, sorted by bridge name. */
  listStp(): StpInfo[];
  /** STP of the Bridge row called `name`, or undefined when there is none. */
  getStp(name: string): StpInfo | undefined;
  /**
   * The running topology as `tsvs topo` describes it in `<rundir>/topo.json`, parsed but not
   * validated (the route checks it), or undefined when no topology runs (no file). Throws when
   * the file exists but cannot be read or parsed.
   */
  topology(): unknown;
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

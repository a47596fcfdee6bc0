/**
 * OpenFlow 1.3 protocol constants as `as const` tables (OpenFlow 1.3.5 spec, section 7 / A).
 */

/** Wire version of OpenFlow 1.3. */
export const OFP_VERSION = 0x04;
/** Length of `ofp_header`. */
export const OFP_HEADER_LEN = 8;
/** Largest OpenFlow message (the length field is 16 bits). */
export const OFP_MAX_MSG_LEN = 0xffff;

/** OFPT_* message types, name → wire number. */
export const OFPT = {
  HELLO: 0,
  ERROR: 1,
  ECHO_REQUEST: 2,
  ECHO_REPLY: 3,
  EXPERIMENTER: 4,
  FEATURES_REQUEST: 5,
  FEATURES_REPLY: 6,
  GET_CONFIG_REQUEST: 7,
  GET_CONFIG_REPLY: 8,
  SET_CONFIG: 9,
  PACKET_IN: 10,
  FLOW_REMOVED: 11,
  PORT_STATUS: 12,
  PACKET_OUT: 13,
  FLOW_MOD: 14,
  GROUP_MOD: 15,
  PORT_MOD: 16,
  TABLE_MOD: 17,
  MULTIPART_REQUEST: 18,
  MULTIPART_REPLY: 19,
  BARRIER_REQUEST: 20,
  BARRIER_REPLY: 21,
  QUEUE_GET_CONFIG_REQUEST: 22,
  QUEUE_GET_CONFIG_REPLY: 23,
  ROLE_REQUEST: 24,
  ROLE_REPLY: 25,
  GET_ASYNC_REQUEST: 26,
  GET_ASYNC_REPLY: 27,
  SET_ASYNC: 28,
  METER_MOD: 29,
} as const;
/** A message type name. */
export type OfptName = keyof typeof OFPT;
/** Wire number → message type name. */
export const OFPT_NAMES: readonly OfptName[] = (() => {
  const a: OfptName[] = [];
  for (const [k, v] of Object.entries(OFPT)) a[v] = k as OfptName;
  return a;
})();

/** OFPMP_* multipart types. */
export const OFPMP = {
  DESC: 0,
  FLOW: 1,
  AGGREGATE: 2,
  TABLE: 3,
  PORT_STATS: 4,
  QUEUE: 5,
  GROUP: 6,
  GROUP_DESC: 7,
  GROUP_FEATURES: 8,
  METER: 9,
  METER_CONFIG: 10,
  METER_FEATURES: 11,
  TABLE_FEATURES: 12,
  PORT_DESC: 13,
  EXPERIMENTER: 0xffff,
} as const;
/** A multipart type name. */
export type OfpmpName = keyof typeof OFPMP;
/** Multipart request flag: more parts follow. */
export const OFPMPF_REQ_MORE = 1;
/** Multipart reply flag: more parts follow. */
export const OFPMPF_REPLY_MORE = 1;

/** Reserved port numbers. */
export const OFPP = {
  MAX: 0xffffff00,
  IN_PORT: 0xfffffff8,
  TABLE: 0xfffffff9,
  NORMAL: 0xfffffffa,
  FLOOD: 0xfffffffb,
  ALL: 0xfffffffc,
  CONTROLLER: 0xfffffffd,
  LOCAL: 0xfffffffe,
  ANY: 0xffffffff,
} as const;

/**
 * First OpenFlow 1.3 port number Open vSwitch cannot represent (its ports are 16-bit: 1.3 ports
 * from 0xff00 up to OFPP_MAX are outside "0 through 0xfeff or 0xffffff00 through 0xffffffff").
 * OVS rejects them statelessly: OUTPUT → BAD_OUT_PORT, match in_port → BAD_VALUE, packet-out
 * in_port → BAD_OUT_PORT. tsvswitch numbers its ports the same way.
 */
export const OVS_PORT_LIMIT = 0xff00;

/** Table numbers. */
export const OFPTT = { MAX: 0xfe, ALL: 0xff } as const;
/** Group numbers. */
export const OFPG = { MAX: 0xffffff00, ALL: 0xfffffffc, ANY: 0xffffffff } as const;
/** Meter numbers. */
export const OFPM = {
  MAX: 0xffff0000,
  SLOWPATH: 0xfffffffd,
  CONTROLLER: 0xfffffffe,
  ALL: 0xffffffff,
} as const;
/** Queue "all". */
export const OFPQ_ALL = 0xffffffff;
/** buffer_id meaning "not buffered". */
export const OFP_NO_BUFFER = 0xffffffff;
/** max_len values of OUTPUT:CONTROLLER. */
export const OFPCML = { MAX: 0xffe5, NO_BUFFER: 0xffff } as const;
/** Default miss_send_len. */
export const OFP_DEFAULT_MISS_SEND_LEN = 128;

/** Switch config flags. */
export const OFPC_FRAG = { NORMAL: 0, DROP: 1, REASM: 2, MASK: 3 } as const;
/** Switch capabilities. */
export const OFPC = {
  FLOW_STATS: 1,
  TABLE_STATS: 2,
  PORT_STATS: 4,
  GROUP_STATS: 8,
  IP_REASM: 0x20,
  QUEUE_STATS: 0x40,
  PORT_BLOCKED: 0x100,
} as const;
/** Port config bits. */
export const OFPPC = { PORT_DOWN: 1, NO_RECV: 4, NO_FWD: 0x20, NO_PACKET_IN: 0x40 } as const;
/** Port state bits. */
export const OFPPS = { LINK_DOWN: 1, BLOCKED: 2, LIVE: 4 } as const;
/** Port feature bits. */
export const OFPPF = {
  '10MB_HD': 1 << 0,
  '10MB_FD': 1 << 1,
  '100MB_HD': 1 << 2,
  '100MB_FD': 1 << 3,
  '1GB_HD': 1 << 4,
  '1GB_FD': 1 << 5,
  '10GB_FD': 1 << 6,
  '40GB_FD': 1 << 7,
  '100GB_FD': 1 << 8,
  '1TB_FD': 1 << 9,
  OTHER: 1 << 10,
  COPPER: 1 << 11,
  FIBER: 1 << 12,
  AUTONEG: 1 << 13,
  PAUSE: 1 << 14,
  PAUSE_ASYM: 1 << 15,
} as const;
/** Port-status reasons. */
export const OFPPR = { ADD: 0, DELETE: 1, MODIFY: 2 } as const;
/** Packet-in reasons. */
export const OFPR = { NO_MATCH: 0, ACTION: 1, INVALID_TTL: 2 } as const;
/** Flow-removed reasons. */
export const OFPRR = { IDLE_TIMEOUT: 0, HARD_TIMEOUT: 1, DELETE: 2, GROUP_DELETE: 3 } as const;
/** Flow-mod commands. */
export const OFPFC = { ADD: 0, MODIFY: 1, MODIFY_STRICT: 2, DELETE: 3, DELETE_STRICT: 4 } as const;
/** Flow-mod flags. */
export const OFPFF = {
  SEND_FLOW_REM: 1,
  CHECK_OVERLAP: 2,
  RESET_COUNTS: 4,
  NO_PKT_COUNTS: 8,
  NO_BYT_COUNTS: 0x10,
} as const;
/** Group-mod commands. */
export const OFPGC = { ADD: 0, MODIFY: 1, DELETE: 2 } as const;
/** Group types. */
export const OFPGT = { ALL: 0, SELECT: 1, INDIRECT: 2, FF: 3 } as const;
/** Group capabilities. */
export const OFPGFC = {
  SELECT_WEIGHT: 1,
  SELECT_LIVENESS: 2,
  CHAINING: 4,
  CHAINING_CHECKS: 8,
} as const;
/** Meter-mod commands. */
export const OFPMC = { ADD: 0, MODIFY: 1, DELETE: 2 } as const;
/** Meter flags. */
export const OFPMF = { KBPS: 1, PKTPS: 2, BURST: 4, STATS: 8 } as const;
/** Meter band types. */
export const OFPMBT = { DROP: 1, DSCP_REMARK: 2, EXPERIMENTER: 0xffff } as const;
/** Controller roles. */
export const OFPCR_ROLE = { NOCHANGE: 0, EQUAL: 1, MASTER: 2, SLAVE: 3 } as const;
/** Table config (deprecated in 1.3). */
export const OFPTC_DEPRECATED_MASK = 3;
/** Hello element types. */
export const OFPHET_VERSIONBITMAP = 1;
/** Queue property types. */
export const OFPQT = { MIN_RATE: 1, MAX_RATE: 2, EXPERIMENTER: 0xffff } as const;
/** Table-feature property types. */
export const OFPTFPT = {
  INSTRUCTIONS: 0,
  INSTRUCTIONS_MISS: 1,
  NEXT_TABLES: 2,
  NEXT_TABLES_MISS: 3,
  WRITE_ACTIONS: 4,
  WRITE_ACTIONS_MISS: 5,
  APPLY_ACTIONS: 6,
  APPLY_ACTIONS_MISS: 7,
  MATCH: 8,
  WILDCARDS: 10,
  WRITE_SETFIELD: 12,
  WRITE_SETFIELD_MISS: 13,
  APPLY_SETFIELD: 14,
  APPLY_SETFIELD_MISS: 15,
  EXPERIMENTER: 0xfffe,
  EXPERIMENTER_MISS: 0xffff,
} as const;
/** A table-feature property name. */
export type OfptfptName = keyof typeof OFPTFPT;

/** ONF experimenter message types (exp_type) OVS uses with OpenFlow 1.3. */
export const ONFT = { BUNDLE_CONTROL: 2300, BUNDLE_ADD_MESSAGE: 2301 } as const;
/** ONF bundle control types. */
export const ONF_BCT = {
  OPEN_REQUEST: 0,
  OPEN_REPLY: 1,
  CLOSE_REQUEST: 2,
  CLOSE_REPLY: 3,
  COMMIT_REQUEST: 4,
  COMMIT_REPLY: 5,
  DISCARD_REQUEST: 6,
  DISCARD_REPLY: 7,
} as const;
/** ONF bundle flags. */
export const ONF_BF = { ATOMIC: 1, ORDERED: 2 } as const;

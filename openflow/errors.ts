/**
 * THE OpenFlow 1.3 error table: every OFPET_* type and code of OpenFlow 1.3.5, plus the ONF
 * experimenter errors that OVS uses in OpenFlow 1.3 for things 1.3 has no code for (duplicate
 * instruction, set-field mask, bundles, multipart timeouts, property errors). Handlers throw
 * {@link OfpError}; the connection layer turns it into OFPT_ERROR with {@link encodeErrorReply}.
 */

/** ONF's experimenter id (`ONF_VENDOR_ID`), used by ONF extension errors and messages. */
export const ONF_EXPERIMENTER_ID = 0x4f4e4600;
/** Error type meaning "experimenter error" (`OFPET_EXPERIMENTER`). */
export const OFPET_EXPERIMENTER = 0xffff;

/** OFPET_* error types of OpenFlow 1.3. */
export const OFPET = {
  HELLO_FAILED: 0,
  BAD_REQUEST: 1,
  BAD_ACTION: 2,
  BAD_INSTRUCTION: 3,
  BAD_MATCH: 4,
  FLOW_MOD_FAILED: 5,
  GROUP_MOD_FAILED: 6,
  PORT_MOD_FAILED: 7,
  TABLE_MOD_FAILED: 8,
  QUEUE_OP_FAILED: 9,
  SWITCH_CONFIG_FAILED: 10,
  ROLE_REQUEST_FAILED: 11,
  METER_MOD_FAILED: 12,
  TABLE_FEATURES_FAILED: 13,
  EXPERIMENTER: 0xffff,
} as const;

/** One row of the error table. `experimenter` is set only for experimenter errors. */
export interface OfpErrorCode {
  /** OFPET_* type on the wire (0xffff for experimenter errors). */
  readonly type: number;
  /** Code on the wire (the exp_type for experimenter errors). */
  readonly code: number;
  /** Experimenter id of an experimenter error (ONF for all rows here). */
  readonly experimenter?: number;
}

const onf = (code: number): OfpErrorCode => ({
  type: 0xffff,
  code,
  experimenter: ONF_EXPERIMENTER_ID,
});

/** Symbol → wire {type, code} for every error this codec and the switch can raise. */
export const OFP_ERRORS = {
  OFPHFC_INCOMPATIBLE: { type: 0, code: 0 },
  OFPHFC_EPERM: { type: 0, code: 1 },

  OFPBRC_BAD_VERSION: { type: 1, code: 0 },
  OFPBRC_BAD_TYPE: { type: 1, code: 1 },
  OFPBRC_BAD_MULTIPART: { type: 1, code: 2 },
  OFPBRC_BAD_EXPERIMENTER: { type: 1, code: 3 },
  OFPBRC_BAD_EXP_TYPE: { type: 1, code: 4 },
  OFPBRC_EPERM: { type: 1, code: 5 },
  OFPBRC_BAD_LEN: { type: 1, code: 6 },
  OFPBRC_BUFFER_EMPTY: { type: 1, code: 7 },
  OFPBRC_BUFFER_UNKNOWN: { type: 1, code: 8 },
  OFPBRC_BAD_TABLE_ID: { type: 1, code: 9 },
  OFPBRC_IS_SLAVE: { type: 1, code: 10 },
  OFPBRC_BAD_PORT: { type: 1, code: 11 },
  OFPBRC_BAD_PACKET: { type: 1, code: 12 },
  OFPBRC_MULTIPART_BUFFER_OVERFLOW: { type: 1, code: 13 },
  /** ONF extension (OF1.4 (1,14)): a multipart request's REQ_MORE parts never completed. */
  OFPBRC_MULTIPART_REQUEST_TIMEOUT: onf(2640),
  /** ONF extension (OF1.4 (1,15)). */
  OFPBRC_MULTIPART_REPLY_TIMEOUT: onf(2641),

  OFPBAC_BAD_TYPE: { type: 2, code: 0 },
  OFPBAC_BAD_LEN: { type: 2, code: 1 },
  OFPBAC_BAD_EXPERIMENTER: { type: 2, code: 2 },
  OFPBAC_BAD_EXP_TYPE: { type: 2, code: 3 },
  OFPBAC_BAD_OUT_PORT: { type: 2, code: 4 },
  OFPBAC_BAD_ARGUMENT: { type: 2, code: 5 },
  OFPBAC_EPERM: { type: 2, code: 6 },
  OFPBAC_TOO_MANY: { type: 2, code: 7 },
  OFPBAC_BAD_QUEUE: { type: 2, code: 8 },
  OFPBAC_BAD_OUT_GROUP: { type: 2, code: 9 },
  OFPBAC_MATCH_INCONSISTENT: { type: 2, code: 10 },
  OFPBAC_UNSUPPORTED_ORDER: { type: 2, code: 11 },
  OFPBAC_BAD_TAG: { type: 2, code: 12 },
  OFPBAC_BAD_SET_TYPE: { type: 2, code: 13 },
  OFPBAC_BAD_SET_LEN: { type: 2, code: 14 },
  OFPBAC_BAD_SET_ARGUMENT: { type: 2, code: 15 },
  /** ONF extension as OVS sends it in 1.3 (OF1.5 (2,16)): Set-Field with the has-mask bit. */
  OFPBAC_BAD_SET_MASK: onf(4250),

  OFPBIC_UNKNOWN_INST: { type: 3, code: 0 },
  OFPBIC_UNSUP_INST: { type: 3, code: 1 },
  OFPBIC_BAD_TABLE_ID: { type: 3, code: 2 },
  OFPBIC_UNSUP_METADATA: { type: 3, code: 3 },
  OFPBIC_UNSUP_METADATA_MASK: { type: 3, code: 4 },
  OFPBIC_BAD_EXPERIMENTER: { type: 3, code: 5 },
  OFPBIC_BAD_EXP_TYPE: { type: 3, code: 6 },
  OFPBIC_BAD_LEN: { type: 3, code: 7 },
  OFPBIC_EPERM: { type: 3, code: 8 },
  /** ONF extension as OVS sends it in 1.3 (OF1.4 (3,9)): an instruction type appears twice. */
  OFPBIC_DUP_INST: onf(2600),

  OFPBMC_BAD_TYPE: { type: 4, code: 0 },
  OFPBMC_BAD_LEN: { type: 4, code: 1 },
  OFPBMC_BAD_TAG: { type: 4, code: 2 },
  OFPBMC_BAD_DL_ADDR_MASK: { type: 4, code: 3 },
  OFPBMC_BAD_NW_ADDR_MASK: { type: 4, code: 4 },
  OFPBMC_BAD_WILDCARDS: { type: 4, code: 5 },
  OFPBMC_BAD_FIELD: { type: 4, code: 6 },
  OFPBMC_BAD_VALUE: { type: 4, code: 7 },
  OFPBMC_BAD_MASK: { type: 4, code: 8 },
  OFPBMC_BAD_PREREQ: { type: 4, code: 9 },
  OFPBMC_DUP_FIELD: { type: 4, code: 10 },
  OFPBMC_EPERM: { type: 4, code: 11 },

  OFPFMFC_UNKNOWN: { type: 5, code: 0 },
  OFPFMFC_TABLE_FULL: { type: 5, code: 1 },
  OFPFMFC_BAD_TABLE_ID: { type: 5, code: 2 },
  OFPFMFC_OVERLAP: { type: 5, code: 3 },
  OFPFMFC_EPERM: { type: 5, code: 4 },
  OFPFMFC_BAD_TIMEOUT: { type: 5, code: 5 },
  OFPFMFC_BAD_COMMAND: { type: 5, code: 6 },
  OFPFMFC_BAD_FLAGS: { type: 5, code: 7 },

  OFPGMFC_GROUP_EXISTS: { type: 6, code: 0 },
  OFPGMFC_INVALID_GROUP: { type: 6, code: 1 },
  OFPGMFC_WEIGHT_UNSUPPORTED: { type: 6, code: 2 },
  OFPGMFC_OUT_OF_GROUPS: { type: 6, code: 3 },
  OFPGMFC_OUT_OF_BUCKETS: { type: 6, code: 4 },
  OFPGMFC_CHAINING_UNSUPPORTED: { type: 6, code: 5 },
  OFPGMFC_WATCH_UNSUPPORTED: { type: 6, code: 6 },
  OFPGMFC_LOOP: { type: 6, code: 7 },
  OFPGMFC_UNKNOWN_GROUP: { type: 6, code: 8 },
  OFPGMFC_CHAINED_GROUP: { type: 6, code: 9 },
  OFPGMFC_BAD_TYPE: { type: 6, code: 10 },
  OFPGMFC_BAD_COMMAND: { type: 6, code: 11 },
  OFPGMFC_BAD_BUCKET: { type: 6, code: 12 },
  OFPGMFC_BAD_WATCH: { type: 6, code: 13 },
  OFPGMFC_EPERM: { type: 6, code: 14 },

  OFPPMFC_BAD_PORT: { type: 7, code: 0 },
  OFPPMFC_BAD_HW_ADDR: { type: 7, code: 1 },
  OFPPMFC_BAD_CONFIG: { type: 7, code: 2 },
  OFPPMFC_BAD_ADVERTISE: { type: 7, code: 3 },
  OFPPMFC_EPERM: { type: 7, code: 4 },

  OFPTMFC_BAD_TABLE: { type: 8, code: 0 },
  OFPTMFC_BAD_CONFIG: { type: 8, code: 1 },
  OFPTMFC_EPERM: { type: 8, code: 2 },

  OFPQOFC_BAD_PORT: { type: 9, code: 0 },
  OFPQOFC_BAD_QUEUE: { type: 9, code: 1 },
  OFPQOFC_EPERM: { type: 9, code: 2 },

  OFPSCFC_BAD_FLAGS: { type: 10, code: 0 },
  OFPSCFC_BAD_LEN: { type: 10, code: 1 },
  OFPSCFC_EPERM: { type: 10, code: 2 },

  OFPRRFC_STALE: { type: 11, code: 0 },
  OFPRRFC_UNSUP: { type: 11, code: 1 },
  OFPRRFC_BAD_ROLE: { type: 11, code: 2 },

  OFPMMFC_UNKNOWN: { type: 12, code: 0 },
  OFPMMFC_METER_EXISTS: { type: 12, code: 1 },
  OFPMMFC_INVALID_METER: { type: 12, code: 2 },
  OFPMMFC_UNKNOWN_METER: { type: 12, code: 3 },
  OFPMMFC_BAD_COMMAND: { type: 12, code: 4 },
  OFPMMFC_BAD_FLAGS: { type: 12, code: 5 },
  OFPMMFC_BAD_RATE: { type: 12, code: 6 },
  OFPMMFC_BAD_BURST: { type: 12, code: 7 },
  OFPMMFC_BAD_BAND: { type: 12, code: 8 },
  OFPMMFC_BAD_BAND_VALUE: { type: 12, code: 9 },
  OFPMMFC_OUT_OF_METERS: { type: 12, code: 10 },
  OFPMMFC_OUT_OF_BANDS: { type: 12, code: 11 },

  OFPTFFC_BAD_TABLE: { type: 13, code: 0 },
  OFPTFFC_BAD_METADATA: { type: 13, code: 1 },
  OFPTFFC_BAD_TYPE: { type: 13, code: 2 },
  OFPTFFC_BAD_LEN: { type: 13, code: 3 },
  OFPTFFC_BAD_ARGUMENT: { type: 13, code: 4 },
  OFPTFFC_EPERM: { type: 13, code: 5 },

  /** ONF property errors for 1.3 (OF1.4 OFPET_BAD_PROPERTY (14,3..8)). */
  OFPBPC_TOO_MANY: onf(4443),
  OFPBPC_DUP_TYPE: onf(4444),
  OFPBPC_BAD_EXPERIMENTER: onf(4445),
  OFPBPC_BAD_EXP_TYPE: onf(4446),
  OFPBPC_BAD_EXP_VALUE: onf(4447),
  OFPBPC_EPERM: onf(4448),

  /** ONF bundle extension errors in 1.3 (OF1.4 OFPET_BUNDLE_FAILED (17, 0..15)). */
  OFPBFC_UNKNOWN: onf(2300),
  OFPBFC_EPERM: onf(2301),
  OFPBFC_BAD_ID: onf(2302),
  OFPBFC_BUNDLE_EXIST: onf(2303),
  OFPBFC_BUNDLE_CLOSED: onf(2304),
  OFPBFC_OUT_OF_BUNDLES: onf(2305),
  OFPBFC_BAD_TYPE: onf(2306),
  OFPBFC_BAD_FLAGS: onf(2307),
  OFPBFC_MSG_BAD_LEN: onf(2308),
  OFPBFC_MSG_BAD_XID: onf(2309),
  OFPBFC_MSG_UNSUP: onf(2310),
  OFPBFC_MSG_CONFLICT: onf(2311),
  OFPBFC_MSG_TOO_MANY: onf(2312),
  OFPBFC_MSG_FAILED: onf(2313),
  OFPBFC_TIMEOUT: onf(2314),
  OFPBFC_BUNDLE_IN_PROGRESS: onf(2315),
} as const satisfies Record<string, OfpErrorCode>;

/** A symbol of {@link OFP_ERRORS}, e.g. `'OFPBMC_BAD_PREREQ'`. */
export type OfpErrorName = keyof typeof OFP_ERRORS;

const BY_WIRE = new Map<string, OfpErrorName>();
for (const [name, c] of Object.entries(OFP_ERRORS) as [OfpErrorName, OfpErrorCode][]) {
  BY_WIRE.set(`${c.type}/${c.code}/${c.experimenter ?? 0}`, name);
}

/** Finds the symbol for a wire (type, code[, experimenter]); undefined when not in the table. */
export function errorNameOf(
  type: number,
  code: number,
  experimenter = 0,
): OfpErrorName | undefined {
  return BY_WIRE.get(`${type}/${code}/${type === 0xffff ? experimenter : 0}`);
}

/** An OpenFlow protocol error: thrown by decoders and handlers, answered with OFPT_ERROR. */
export class OfpError extends Error {
  /** OFPET_* type on the wire. */
  readonly type: number;
  /** Code on the wire (exp_type for experimenter errors). */
  readonly code: number;
  /** Experimenter id for experimenter errors, else undefined. */
  readonly experimenter: number | undefined;

  constructor(
    /** The error symbol from {@link OFP_ERRORS}. */
    readonly symbol: OfpErrorName,
    /** Optional human detail (not sent on the wire). */
    detail?: string,
    /** Optional payload to send instead of the offending message (e.g. HELLO_FAILED text). */
    public data?: Uint8Array,
  ) {
    super(detail ? `${symbol}: ${detail}` : symbol);
    this.name = 'OfpError';
    const c: OfpErrorCode = OFP_ERRORS[symbol];
    this.type = c.type;
    this.code = c.code;
    this.experimenter = c.experimenter;
  }
}

/** Options of {@link encodeErrorReply}. */
export interface ErrorReplyOptions {
  /** Header version byte; default 4 (OVS answers BAD_VERSION with the peer's version byte). */
  version?: number;
  /** xid; default: the offending message's xid (0 if it is shorter than a header). */
  xid?: number;
  /** Upper bound on echoed bytes; default: the whole message, as OVS does (never below 64). */
  maxData?: number;
}

/**
 * Encodes OFPT_ERROR for `err` answering the `offending` message bytes: the data is the
 * offending message (all of it when it fits, and never less than 64 bytes unless shorter),
 * or `err.data` when the error carries its own payload (HELLO_FAILED text).
 */
export function encodeErrorReply(
  err: OfpError,
  offending: Uint8Array,
  opts: ErrorReplyOptions = {},
): Uint8Array {
  const exp = err.type === 0xffff;
  const hdr = exp ? 16 : 12;
  let data = err.data ?? offending;
  const cap = Math.max(64, Math.min(opts.maxData ?? 0xffff, 0xffff - hdr));
  if (data.length > cap) data = data.subarray(0, cap);
  const xid =
    opts.xid ??
    (offending.length >= 8
      ? new DataView(offending.buffer, offending.byteOffset, 8).getUint32(4)
      : 0);
  const out = new Uint8Array(hdr + data.length);
  const v = new DataView(out.buffer);
  v.setUint8(0, opts.version ?? 4);
  v.setUint8(1, 1);
  v.setUint16(2, out.length);
  v.setUint32(4, xid >>> 0);
  v.setUint16(8, err.type);
  v.setUint16(10, err.code);
  if (exp) v.setUint32(12, err.experimenter ?? 0);
  out.set(data, hdr);
  return out;
}

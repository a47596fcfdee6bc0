/**
 * Datapath meters (OVS's dpif-netdev meters): a table of meters, each a set of bands with one
 * token bucket per band, run per packet by the `meter(ID)` datapath action.
 *
 * Buckets, as dpif-netdev keeps them: a band of rate R and burst size B (B = R when the meter has
 * no burst flag or the band's burst size is 0) holds at most `B * 1000` tokens and starts full.
 * For a kbps meter a token is one bit (R kbit/s = R bits per ms); for a pktps meter it is a
 * thousandth of a packet (R packets/s = R thousandths per ms). Every packet refills every band by
 * the milliseconds elapsed times R (capped at the bucket size), then each band takes the
 * packet's cost (its bits, or 1000 for one packet) when it has that many tokens; a band that
 * has not is exceeded. Of the exceeded bands, the one with the highest rate applies (OpenFlow
 * 1.3 §5.7.1): its counters are incremented and its verdict returned.
 *
 * A meter id the table does not hold lets the packet pass, as OVS's datapath does for a
 * `meter` action whose meter was deleted.
 */

/** What a band does to a packet that exceeds it. */
export type DpMeterBandType = 'drop' | 'dscp_remark';

/** One band of a datapath meter. */
export interface DpMeterBand {
  /** `drop`: the packet stops; `dscp_remark`: its DSCP drop precedence is raised. */
  readonly type: DpMeterBandType;
  /** Rate in the meter's unit (kbit/s or packets/s), > 0. */
  readonly rate: number;
  /** Burst size in the meter's unit (kbits or packets); used when the meter has `burst`. */
  readonly burstSize: number;
  /** Drop-precedence levels to add (`dscp_remark` only; 0 for `drop`). */
  readonly precLevel: number;
}

/** The configuration of a datapath meter. */
export interface DpMeterConfig {
  /** Unit of rates and burst sizes. */
  readonly unit: 'kbps' | 'pktps';
  /** True: bands' burst sizes size the buckets; false: a bucket holds one second of its rate. */
  readonly burst: boolean;
  /** Bands (at most {@link DP_METER_MAX_BANDS}). */
  readonly bands: readonly DpMeterBand[];
}

/** Counters of one band. */
export interface DpMeterBandStats {
  /** Packets to which the band applied. */
  readonly packets: number;
  /** Bytes of those packets. */
  readonly bytes: number;
}

/** Counters of a datapath meter (since it was last set). */
export interface DpMeterStats {
  /** Packets that went through the meter. */
  readonly packets: number;
  /** Bytes of those packets. */
  readonly bytes: number;
  /** Per band, in configuration order. */
  readonly bands: readonly DpMeterBandStats[];
}

/** Most bands per meter (OVS's dpif-netdev MAX_BANDS). */
export const DP_METER_MAX_BANDS = 8;
/** Meter ids are below this (OVS's dpif-netdev MAX_METERS). */
export const DP_METER_MAX_ID = 1 << 18;

/** Error for a configuration the datapath cannot take (thrown by {@link DpMeterTable.set}). */
export class DpMeterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DpMeterError';
  }
}

/** Result of {@link DpMeterTable.run} meaning "the packet passes unchanged". */
export const METER_PASS = 0;
/** Result of {@link DpMeterTable.run} meaning "drop the packet". */
export const METER_DROP = -1;

class Meter {
  readonly unit: 'kbps' | 'pktps';
  readonly bands: readonly DpMeterBand[];
  /** Bucket size of each band, in tokens. */
  readonly size: Float64Array;
  readonly tokens: Float64Array;
  readonly bandPackets: Float64Array;
  readonly bandBytes: Float64Array;
  packets = 0;
  bytes = 0;
  last: number;

  constructor(cfg: DpMeterConfig, now: number) {
    this.unit = cfg.unit;
    this.bands = cfg.bands.map((b) => ({ ...b }));
    const n = cfg.bands.length;
    this.size = new Float64Array(n);
    this.tokens = new Float64Array(n);
    this.bandPackets = new Float64Array(n);
    this.bandBytes = new Float64Array(n);
    cfg.bands.forEach((b, i) => {
      const burst = cfg.burst && b.burstSize > 0 ? b.burstSize : b.rate;
      this.size[i] = burst * 1000;
      this.tokens[i] = burst * 1000;
    });
    this.last = now;
  }
}

function checkConfig(id: number, cfg: DpMeterConfig): void {
  if (!Number.isInteger(id) || id < 0 || id >= DP_METER_MAX_ID)
    throw new DpMeterError(`bad meter id ${id}`);
  if (cfg.unit !== 'kbps' && cfg.unit !== 'pktps') throw new DpMeterError('bad meter unit');
  if (cfg.bands.length > DP_METER_MAX_BANDS) throw new DpMeterError('too many bands');
  for (const b of cfg.bands) {
    if (b.type !== 'drop' && b.type !== 'dscp_remark')
      throw new DpMeterError(`unsupported band type ${String(b.type)}`);
    if (!(b.rate > 0) || !Number.isFinite(b.rate)) throw new DpMeterError('band rate must be > 0');
    if (!(b.burstSize >= 0)) throw new DpMeterError('bad band burst size');
    if (b.type === 'dscp_remark' && !(Number.isInteger(b.precLevel) && b.precLevel >= 0))
      throw new DpMeterError('bad prec_level');
  }
}

/**
 * DSCP `dscp` with its drop precedence (bits 1–2, RFC 2597's AFxy `y`) raised by `levels`,
 * saturating at the highest precedence (3); the class bits are untouched.
 */
export function raiseDropPrecedence(dscp: number, levels: number): number {
  const dp = Math.min(3, ((dscp >>> 1) & 3) + levels);
  return ((dscp & ~6) | (dp << 1)) & 0x3f;
}

/** The meter table of one datapath (see the module comment). */
export class DpMeterTable {
  private readonly meters = new Map<number, Meter>();

  /**
   * Creates meter `id` or replaces its configuration; buckets start full and counters at 0
   * (as dpif-netdev's meter_set). Throws {@link DpMeterError} for a bad id or configuration.
   */
  set(id: number, cfg: DpMeterConfig, now: number): void {
    checkConfig(id, cfg);
    this.meters.set(id, new Meter(cfg, now));
  }

  /** Deletes meter `id`; returns its last counters, or undefined when there was none. */
  delete(id: number): DpMeterStats | undefined {
    const s = this.stats(id);
    this.meters.delete(id);
    return s;
  }

  /** Counters of meter `id`, or undefined when there is none. */
  stats(id: number): DpMeterStats | undefined {
    const m = this.meters.get(id);
    if (m === undefined) return undefined;
    return {
      packets: m.packets,
      bytes: m.bytes,
      bands: m.bands.map((_, i) => ({ packets: m.bandPackets[i]!, bytes: m.bandBytes[i]! })),
    };
  }

  /** Ids of every meter, increasing. */
  ids(): number[] {
    return [...this.meters.keys()].sort((a, b) => a - b);
  }

  /** Number of meters. */
  get size(): number {
    return this.meters.size;
  }

  /** Removes every meter. */
  clear(): void {
    this.meters.clear();
  }

  /**
   * Runs meter `id` for one packet of `bytes` bytes at clock time `now` (ms). Returns
   * {@link METER_DROP} when the applying band drops, otherwise the number of drop-precedence
   * levels to add to the packet's DSCP ({@link METER_PASS}, 0, when no band applies or the
   * applying band's prec_level is 0). A missing meter passes and counts nothing. Allocates
   * nothing.
   */
  run(id: number, bytes: number, now: number): number {
    const m = this.meters.get(id);
    if (m === undefined) return METER_PASS;
    m.packets++;
    m.bytes += bytes;
    let dt = now - m.last;
    if (dt < 0) dt = 0;
    m.last = now;
    const cost = m.unit === 'pktps' ? 1000 : bytes * 8;
    const bands = m.bands;
    let hit = -1;
    for (let i = 0; i < bands.length; i++) {
      const b = bands[i]!;
      let t = m.tokens[i]! + dt * b.rate;
      const cap = m.size[i]!;
      if (t > cap) t = cap;
      if (t >= cost) t -= cost;
      else if (hit < 0 || b.rate > bands[hit]!.rate) hit = i;
      m.tokens[i] = t;
    }
    if (hit < 0) return METER_PASS;
    m.bandPackets[hit] = m.bandPackets[hit]! + 1;
    m.bandBytes[hit] = m.bandBytes[hit]! + bytes;
    const b = bands[hit]!;
    return b.type === 'drop' ? METER_DROP : b.precLevel;
  }
}

/**
 * Packet-in rate limiting (the job of OVS's pinsched.c): one token bucket per controller
 * connection. Tokens accrue at `rate` per second up to `burst`; each packet-in takes one token,
 * and a packet-in that finds the bucket empty is dropped and counted.
 *
 * Defaults follow OVS's Controller columns: `controller_rate_limit` 1000 packets/s and
 * `controller_burst_limit` a quarter of the rate (at least 1). Unlike OVS, packets over the
 * limit are dropped at once rather than queued per input port first (OVS queues up to the burst
 * limit and round-robins between ports); the drop counters say how many.
 */
import type { Clock } from '../lib/clock.js';
import { counter } from '../lib/counters.js';

const cPinDrop = counter('pinsched_drop', 'ofproto', 'packet-ins dropped by the rate limiter');
const cPinSent = counter('pinsched_sent', 'ofproto', 'packet-ins admitted by the rate limiter');

/** Default `controller_rate_limit` (packets per second). */
export const DEFAULT_PIN_RATE = 1000;

/** The burst OVS derives from a rate when none is configured: 25 %, at least 1. */
export function defaultBurst(rate: number): number {
  return Math.max(1, Math.floor(rate / 4));
}

/** Counters of one bucket. */
export interface PinschedStats {
  /** Packet-ins admitted. */
  sent: number;
  /** Packet-ins dropped for lack of tokens. */
  dropped: number;
  /** Tokens available now (fractional). */
  tokens: number;
}

/** A token bucket for one connection. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private sent = 0;
  private dropped = 0;

  /**
   * @param clock time source (ms).
   * @param rate tokens per second (> 0).
   * @param burst bucket size (≥ 1); the bucket starts full.
   */
  constructor(
    private readonly clock: Clock,
    private rate: number,
    private burst: number,
  ) {
    if (!(rate > 0) || !(burst >= 1)) throw new RangeError('rate must be > 0 and burst ≥ 1');
    this.tokens = burst;
    this.last = clock.now();
  }

  /** Changes rate and burst; tokens above the new burst are discarded. */
  configure(rate: number, burst: number): void {
    if (!(rate > 0) || !(burst >= 1)) throw new RangeError('rate must be > 0 and burst ≥ 1');
    this.refill();
    this.rate = rate;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  private refill(): void {
    const now = this.clock.now();
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
      this.last = now;
    }
  }

  /** Takes one token if there is one: true = send, false = dropped (and counted). */
  admit(): boolean {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.sent++;
      cPinSent.inc();
      return true;
    }
    this.dropped++;
    cPinDrop.inc();
    return false;
  }

  /** Current counters. */
  stats(): PinschedStats {
    this.refill();
    return { sent: this.sent, dropped: this.dropped, tokens: this.tokens };
  }
}

/** Options of a {@link Pinsched}. */
export interface PinschedOptions {
  /** Time source. */
  clock: Clock;
  /** Packets per second per connection (default {@link DEFAULT_PIN_RATE}). */
  rate?: number;
  /** Bucket size (default {@link defaultBurst}(rate)). */
  burst?: number;
}

/**
 * The packet-in limiter of a bridge: one {@link TokenBucket} per connection (any object that
 * identifies it, normally an Ofconn), created on first use and forgotten with the connection.
 */
export class Pinsched<C extends object = object> {
  private readonly buckets = new WeakMap<C, TokenBucket>();
  private readonly clock: Clock;
  private rate: number;
  private burst: number;
  private totalDropped = 0;

  constructor(opts: PinschedOptions) {
    this.clock = opts.clock;
    this.rate = opts.rate ?? DEFAULT_PIN_RATE;
    this.burst = opts.burst ?? defaultBurst(this.rate);
  }

  /** The configured rate (packets/s) and burst. */
  limits(): { rate: number; burst: number } {
    return { rate: this.rate, burst: this.burst };
  }

  /** Sets rate and burst for every connection (existing buckets are reconfigured on next use). */
  configure(rate = DEFAULT_PIN_RATE, burst?: number): void {
    this.rate = rate;
    this.burst = burst ?? defaultBurst(rate);
  }

  private bucket(conn: C): TokenBucket {
    let b = this.buckets.get(conn);
    if (!b) {
      b = new TokenBucket(this.clock, this.rate, this.burst);
      this.buckets.set(conn, b);
    } else {
      b.configure(this.rate, this.burst);
    }
    return b;
  }

  /** True if a packet-in may go to `conn` now; false means dropped (counted). */
  admit(conn: C): boolean {
    const ok = this.bucket(conn).admit();
    if (!ok) this.totalDropped++;
    return ok;
  }

  /** Counters of `conn`'s bucket. */
  stats(conn: C): PinschedStats {
    return this.bucket(conn).stats();
  }

  /** Packet-ins dropped on every connection since creation. */
  get dropped(): number {
    return this.totalDropped;
  }
}

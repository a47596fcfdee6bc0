/**
 * Time, injected. Every timer in tsvswitch (BFD, STP, flow timeouts, echo probes, MAC aging,
 * OVSDB inactivity probes) reads a {@link Clock} instead of the global timers, so tests can
 * drive time by hand with {@link FakeClock}.
 */

/** A handle returned by {@link Clock.setTimeout}; pass it to {@link Clock.clearTimeout}. */
export interface TimerHandle {
  /** Opaque identity of the timer. */
  readonly id: number;
}

/** A source of time and timers. */
export interface Clock {
  /** Milliseconds on a monotonic timeline (never goes backwards); origin is arbitrary. */
  now(): number;
  /** Milliseconds since the Unix epoch (wall clock), for values shown to people. */
  wallNow(): number;
  /**
   * Calls `fn` once, no earlier than `ms` milliseconds from now. A timer never fires
   * synchronously inside this call. Returns a handle for {@link Clock.clearTimeout}.
   */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; cancelling a fired or unknown timer is a no-op. */
  clearTimeout(handle: TimerHandle | undefined): void;
}

/** The real clock: performance.now() and Node's timers. Owners clear their timers on close. */
export class RealClock implements Clock {
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private nextId = 1;

  now(): number {
    return performance.now();
  }

  wallNow(): number {
    return Date.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    const t = setTimeout(
      () => {
        this.timers.delete(id);
        fn();
      },
      Math.max(0, ms),
    );
    this.timers.set(id, t);
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const t = this.timers.get(handle.id);
    if (t) {
      clearTimeout(t);
      this.timers.delete(handle.id);
    }
  }
}

interface FakeTimer {
  id: number;
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A clock that only moves when told to. {@link FakeClock.advance} fires every timer that falls due,
 * in due-time order (ties in creation order), with `now()` set to each timer's due time while it runs.
 */
export class FakeClock implements Clock {
  private current: number;
  private wallOffset: number;
  private readonly timers = new Map<number, FakeTimer>();
  private nextId = 1;
  private seq = 0;

  /** @param start initial monotonic time in ms; @param wallStart wall time at `start`. */
  constructor(start = 0, wallStart = 1_700_000_000_000) {
    this.current = start;
    this.wallOffset = wallStart - start;
  }

  now(): number {
    return this.current;
  }

  wallNow(): number {
    return this.current + this.wallOffset;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, at: this.current + Math.max(0, ms), seq: this.seq++, fn });
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) this.timers.delete(handle.id);
  }

  /** Number of timers not yet fired or cancelled. */
  pending(): number {
    return this.timers.size;
  }

  /** Due time of the earliest pending timer, or undefined. */
  nextDue(): number | undefined {
    let best: number | undefined;
    for (const t of this.timers.values()) if (best === undefined || t.at < best) best = t.at;
    return best;
  }

  /** Moves time forward by `ms`, firing due timers (including ones scheduled while advancing). */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const t of this.timers.values()) {
        if (t.at <= target && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) {
          next = t;
        }
      }
      if (!next) break;
      this.timers.delete(next.id);
      this.current = Math.max(this.current, next.at);
      next.fn();
    }
    this.current = target;
  }

  /** Moves time to the absolute monotonic time `t` (no-op if in the past). */
  advanceTo(t: number): void {
    if (t > this.current) this.advance(t - this.current);
  }
}

/** The process-wide real clock. */
export const realClock: Clock = new RealClock();

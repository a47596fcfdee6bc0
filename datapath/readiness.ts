/**
 * The readiness half of the Netdev contract (datapath/netdev.ts `onReadable`) over a level-
 * triggered libuv poll, shared by the netdevs backed by a kernel descriptor (AF_PACKET, TAP):
 * the callback is armed by registration and whenever `recvBatch` finds nothing, disarmed when it
 * fires, and a poll that fires while nobody waits is stopped, so an idle device costs nothing.
 */

/** The poll of one descriptor, as the native addon offers it. */
export interface PollSource {
  /** Starts calling `cb` from the event loop while readable (status < 0: libuv's error). */
  startPoll(cb: (status: number) => void): void;
  /** Stops calling it. */
  stopPoll(): void;
}

/** Arms, fires and disarms one `onReadable` callback (see the module comment). */
export class ReadinessArm {
  private readable: (() => void) | undefined;
  private armed = false;
  private polling = false;
  private readonly onPoll = (status?: number): void => this.fired(status ?? 0);

  /**
   * @param source the descriptor's poll.
   * @param onError called when libuv reports an error on the descriptor (after polling stopped),
   *   so the netdev can consume it (e.g. a pending socket error) before the reader runs.
   */
  constructor(
    private readonly source: PollSource,
    private readonly onError?: () => void,
  ) {}

  /** Sets (or with undefined removes) the callback; registration counts as an edge. */
  set(cb: (() => void) | undefined): void {
    this.readable = cb;
    if (cb === undefined) {
      this.armed = false;
      this.stop();
      return;
    }
    this.rearm();
  }

  /** Re-arms after a receive found the queue empty. */
  rearm(): void {
    this.armed = this.readable !== undefined;
    if (this.armed && !this.polling) {
      this.polling = true;
      this.source.startPoll(this.onPoll);
    }
  }

  /** Forgets the callback without touching the source (the descriptor is being closed). */
  reset(): void {
    this.readable = undefined;
    this.armed = false;
    this.polling = false;
  }

  private stop(): void {
    if (!this.polling) return;
    this.polling = false;
    this.source.stopPoll();
  }

  private fired(status: number): void {
    if (status < 0) {
      // libuv stopped the handle itself (POLLERR): the next rearm must start it again.
      this.polling = false;
      this.source.stopPoll();
      this.onError?.();
    }
    const cb = this.readable;
    if (!this.armed || cb === undefined) {
      // Nobody waits for this edge: stop polling until a receive empties the queue again.
      this.stop();
      return;
    }
    this.armed = false;
    cb();
  }
}

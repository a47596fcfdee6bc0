/**
 * OVSDB locks (RFC 7047 §4.1.8–4.1.10): named advisory locks shared by every session of one
 * server. Each lock has a queue of waiters; the first waiter owns it. `lock` joins the back of
 * the queue, `steal` jumps to the front (the previous owner stays queued and is told `stolen`),
 * `unlock` leaves the queue and, if the leaver owned the lock, the next waiter is told `locked`.
 *
 * Deliberate difference from ovsdb-server 3.1.0: when a robbed session (still queued behind the
 * thief) unlocks, ovsdb-server sends the current owner a second, spurious `locked`. We notify only
 * when ownership actually changes.
 */

/** What a lock manager needs from a session. */
export interface LockHolder {
  /**
   * Delivers a `locked` or `stolen` notification for `lockName` to the session's peer. Called
   * synchronously from {@link LockManager.lock}, {@link LockManager.unlock} and
   * {@link LockManager.releaseAll}; must not call back into the manager.
   */
  notifyLock(lockName: string, method: 'locked' | 'stolen'): void;
}

/** How a session asks for a lock. */
export type LockMode = 'lock' | 'steal';

/** A lock id must look like a C identifier (RFC 7047 `<id>`). */
export const LOCK_ID_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A lock request refused for the reason in `details` (the server answers a "syntax error"). */
export class LockError extends Error {
  constructor(
    /** The wire `details` text, e.g. `must issue "unlock" before new "lock"`. */
    readonly details: string,
  ) {
    super(details);
    this.name = 'LockError';
  }
}

interface Waiter {
  holder: LockHolder;
  mode: LockMode;
}

/** A snapshot of one lock for introspection. */
export interface LockInfo {
  /** Lock name. */
  name: string;
  /** Number of sessions queued, owner included. */
  waiters: number;
}

/** All locks of one server. */
export class LockManager {
  private readonly locks = new Map<string, Waiter[]>();

  /**
   * Validates the params of a `lock`, `steal` or `unlock` request and returns the lock name.
   * Throws {@link LockError} with ovsdb-server's text (`<method> request params must be <id>`).
   */
  static parseLockName(method: string, params: unknown): string {
    if (
      Array.isArray(params) &&
      params.length === 1 &&
      typeof params[0] === 'string' &&
      LOCK_ID_RE.test(params[0])
    ) {
      return params[0];
    }
    throw new LockError(`${method} request params must be <id>`);
  }

  /**
   * Queues `holder` for `name`. With `steal` it becomes owner at once and the previous owner
   * (which stays queued) is sent `stolen`. Returns whether `holder` owns the lock now. Throws
   * {@link LockError} when `holder` already waits for or owns `name`.
   */
  lock(holder: LockHolder, name: string, mode: LockMode): { locked: boolean } {
    let q = this.locks.get(name);
    if (q?.some((w) => w.holder === holder)) {
      throw new LockError(`must issue "unlock" before new "${mode}"`);
    }
    if (!q) {
      q = [];
      this.locks.set(name, q);
    }
    const waiter: Waiter = { holder, mode };
    if (mode === 'steal') {
      const victim = q[0];
      q.unshift(waiter);
      if (victim) victim.holder.notifyLock(name, 'stolen');
    } else {
      q.push(waiter);
    }
    return { locked: q[0] === waiter };
  }

  /**
   * Removes `holder` from the queue of `name`; if it owned the lock the next waiter becomes owner
   * and is sent `locked`. Throws {@link LockError} when `holder` never asked for `name`.
   */
  unlock(holder: LockHolder, name: string): void {
    if (!this.remove(holder, name)) {
      throw new LockError('unlock: "unlock" without "lock" or "steal"');
    }
  }

  /** Drops every lock request of `holder` (session closed), handing locks on as `unlock` does. */
  releaseAll(holder: LockHolder): void {
    for (const name of [...this.locks.keys()]) this.remove(holder, name);
  }

  /** True when `holder` currently owns `name` (the check behind the `assert` operation). */
  isOwner(holder: LockHolder, name: string): boolean {
    return this.locks.get(name)?.[0]?.holder === holder;
  }

  /** True when `holder` is queued for (or owns) `name`. */
  isWaiting(holder: LockHolder, name: string): boolean {
    return this.locks.get(name)?.some((w) => w.holder === holder) ?? false;
  }

  /** Every lock with at least one waiter, sorted by name. */
  list(): LockInfo[] {
    return [...this.locks.entries()]
      .map(([name, q]) => ({ name, waiters: q.length }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private remove(holder: LockHolder, name: string): boolean {
    const q = this.locks.get(name);
    if (!q) return false;
    const i = q.findIndex((w) => w.holder === holder);
    if (i < 0) return false;
    q.splice(i, 1);
    if (q.length === 0) {
      this.locks.delete(name);
    } else if (i === 0) {
      q[0]!.holder.notifyLock(name, 'locked');
    }
    return true;
  }
}

/**
 * Running one of our os-ken apps (tests/controllers/*.py) under Debian's `osken-manager` and
 * following the JSON event lines it prints on stdout (one object per line, with an `event` key).
 *
 * ```ts
 * const ctl = await OskenApp.start({ app: LEARNING_SWITCH_APP });
 * t.teardown(() => ctl.stop());
 * await ctl.waitEvent((e) => e.event === 'ready' && e.dpid === 1, 'switch 1 ready');
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { createInterface } from 'node:readline';
import { freePort } from './net.js';

/** The os-ken manager of Debian's python3-os-ken. */
export const OSKEN_MANAGER = '/usr/bin/osken-manager';

/** Our OpenFlow 1.3 learning switch (tests/controllers/learning_switch.py). */
export const LEARNING_SWITCH_APP = new URL('../controllers/learning_switch.py', import.meta.url)
  .pathname;

/** The cookie the learning switch puts on the flows it learns (LEARNED_COOKIE in the app). */
export const LEARNED_COOKIE = 0x7c;

/** One event line printed by an app. */
export interface AppEvent {
  /** What happened (`ready`, `learn`, `flow`, ...; see the app's docstring). */
  event: string;
  /** Event-specific fields. */
  [k: string]: unknown;
}

/** Options of {@link OskenApp.start}. */
export interface OskenAppOptions {
  /** Path of the app file. */
  app: string;
  /** TCP port to listen on (127.0.0.1); default a free port. */
  port?: number;
  /** Extra environment for the app (e.g. `TC_LS_IDLE_TIMEOUT`). */
  env?: Record<string, string>;
}

/** A running os-ken manager with one app. Create with {@link OskenApp.start}. */
export class OskenApp {
  /** Every event printed so far, in order (kept across restarts). */
  readonly events: AppEvent[] = [];
  private waiters: { pred: (e: AppEvent) => boolean; resolve: (e: AppEvent) => void }[] = [];
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stderrText = '';

  private constructor(
    /** The app file. */
    readonly app: string,
    /** The port os-ken listens on (127.0.0.1). */
    readonly port: number,
    private readonly env: Record<string, string>,
  ) {}

  /** The controller target switches use: `tcp:127.0.0.1:PORT`. */
  get target(): string {
    return `tcp:127.0.0.1:${this.port}`;
  }

  /** True while the os-ken process runs. */
  get running(): boolean {
    return this.child !== undefined;
  }

  /** The last 4000 characters os-ken wrote on stderr (its log). */
  get stderr(): string {
    return this.stderrText.slice(-4000);
  }

  /**
   * Starts `osken-manager --ofp-listen-host 127.0.0.1 --ofp-tcp-listen-port PORT APP` and
   * resolves once it listens on the port.
   */
  static async start(opts: OskenAppOptions): Promise<OskenApp> {
    const a = new OskenApp(opts.app, opts.port ?? (await freePort()), opts.env ?? {});
    await a.launch();
    return a;
  }

  private async launch(): Promise<void> {
    const child = spawn(
      OSKEN_MANAGER,
      ['--ofp-listen-host', '127.0.0.1', '--ofp-tcp-listen-port', String(this.port), this.app],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        // No __pycache__ next to the app in the source tree.
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...this.env },
      },
    );
    this.child = child;
    this.exited = new Promise((r) =>
      child.on('exit', () => {
        if (this.child === child) this.child = undefined;
        r();
      }),
    );
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      this.stderrText = (this.stderrText + s).slice(-20_000);
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      let e: AppEvent;
      try {
        e = JSON.parse(line) as AppEvent;
      } catch {
        return;
      }
      if (typeof e !== 'object' || e === null || typeof e.event !== 'string') return;
      this.events.push(e);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(e)) return true;
        w.resolve(e);
        return false;
      });
    });
    // os-ken prints nothing when it starts listening: poll the port.
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (this.child !== child) {
        throw new Error(`osken-manager exited at start: ${this.stderr}`);
      }
      if (await canConnect(this.port)) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`osken-manager does not listen on ${this.port}: ${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Resolves with the first event (already printed, or printed within `timeoutMs`, default
   * 30 000) matching `pred`, counting only events at index `from` or later (default 0).
   * Rejects naming `what` and os-ken's recent log on timeout.
   */
  waitEvent(
    pred: (e: AppEvent) => boolean,
    what: string,
    opts: { timeoutMs?: number; from?: number } = {},
  ): Promise<AppEvent> {
    const have = this.events.slice(opts.from ?? 0).find(pred);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out waiting for os-ken: ${what}; its log: ${this.stderr}`));
      }, opts.timeoutMs ?? 30_000);
      const waiter = {
        pred,
        resolve: (e: AppEvent) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Kills os-ken (SIGKILL, as a crash would) and resolves once it has exited. Idempotent. */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** Starts os-ken again on the same port with the same app (after {@link kill}). */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  /** Stops os-ken (SIGTERM, then SIGKILL after 5 s). Idempotent; never throws. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * The daemon: tsvswitch's composition root. It owns the process-level resources (run directory,
 * pidfile, appctl control socket, logging, the counter sampler) and starts the switch's
 * components in order; later issues plug the OVSDB server, the bridge reconciler and OpenFlow in
 * as {@link DaemonComponent}s.
 *
 * Start order: run directory → logging → pidfile → appctl registry (+ built-in commands) →
 * control socket → components, in the order given. Stop order is the exact reverse. A failure at
 * any step undoes the steps already done, so a daemon that failed to start leaves no files behind
 * (except the log).
 *
 * ```ts
 * const d = await Daemon.start({ paths: { rundir: '/tmp/x' }, components: [myOvsdbServer] });
 * // ... ovs-appctl -t /tmp/x/tsvs.ctl version
 * await d.stop();
 * ```
 */
import { promises as fsp } from 'node:fs';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino, type DestinationStream, type StreamEntry } from 'pino';
import { type Clock, type TimerHandle, realClock } from '../lib/clock.js';
import { configureLogging, getLogger, setLogLevel, toPinoLevel } from '../lib/log.js';
import { counter, sampleCounters } from '../lib/counters.js';
import { AppctlRegistry } from '../appctl/registry.js';
import { AppctlServer } from '../appctl/server.js';
import { registerBuiltins } from '../appctl/builtins.js';
import { type Paths, type PathOptions, packageVersion, resolvePaths } from './paths.js';
import { Pidfile } from './pidfile.js';

const log = getLogger('daemon');

/** OpenFlow messages received by every connection (ofproto/ofconn.ts counts them). */
const cOfRx = counter('ofconn_rx_msg', 'ofproto', 'OpenFlow messages received');
/** Flow-mods applied, those of committed bundles included (ofproto/pipeline.ts counts them). */
const cFlowMod = counter('ofproto_flow_mod', 'ofproto', 'flow-mods applied');
const cHeapTrim = counter(
  'daemon_heap_trim',
  'daemon',
  'full garbage collections after a burst of OpenFlow changes',
);

/** How often the heap trimmer looks at the heap (ms). */
const HEAP_TRIM_TICK_MS = 250;
/** Flow-mods applied since the last trim that make a trim due. */
const HEAP_TRIM_FLOW_MODS = 10_000;
/** V8 heap growth over its size after the last trim that makes a trim due (bytes). */
const HEAP_TRIM_GROWTH = 64 * 1024 * 1024;

/**
 * A function running a full, synchronous garbage collection: `gc` when node runs with
 * `--expose-gc`, else exposed now through V8's flags; undefined if V8 refuses.
 */
function fullGc(): (() => void) | undefined {
  let g = (globalThis as { gc?: unknown }).gc;
  if (typeof g !== 'function') {
    try {
      setFlagsFromString('--expose-gc');
      g = runInNewContext('gc') as unknown;
    } catch {
      return undefined;
    }
  }
  if (typeof g !== 'function') return undefined;
  const collect = g as () => void;
  // A plain full collection frees the dead objects but compacts few pages, so pages holding a
  // few survivors (100k rules allocated between 100k dead decoded messages) stay committed.
  // Compacting every page moves the survivors together; the second collection then finds the
  // emptied pages and V8 returns them to the system. gc's options object (flavor
  // 'last-resort') does nothing in Node 20.
  return () => {
    setFlagsFromString('--compact-on-every-full-gc');
    try {
      collect();
      collect();
    } finally {
      setFlagsFromString('--no-compact-on-every-full-gc');
    }
  };
}

/**
 * A part of the switch that the daemon starts and stops: the OVSDB server, the bridge reconciler,
 * the OpenFlow connection manager, the REST API...
 */
export interface DaemonComponent {
  /** Short name for logs and errors, e.g. `ovsdb-server`. */
  readonly name: string;
  /**
   * Brings the component up. Called once, after the control socket is listening and after every
   * component listed before this one has started. It may register appctl commands on
   * `d.registry` and read `d.paths`, `d.clock`. Throwing aborts the daemon's start: components
   * already started are stopped in reverse order and {@link Daemon.start} rejects.
   */
  start(d: Daemon): Promise<void>;
  /**
   * Releases everything the component holds (sockets, timers, files, appctl commands). Called
   * once, only if `start` resolved, before the components listed before it are stopped. Should not
   * throw; if it does, the error is logged and the daemon carries on stopping the others.
   */
  stop(): Promise<void>;
}

/** Logging set-up done by the daemon (the CLI always asks for it; in-process tests usually not). */
export interface DaemonLogging {
  /** Level name (vlog's `off emer err warn info dbg` or pino's). Default `info`. */
  level?: string;
  /**
   * Log file; undefined logs to stderr at `level`. With a file, messages at `warn` and above are
   * also copied to stderr.
   */
  file?: string;
}

/** How to start a {@link Daemon}. */
export interface DaemonOptions {
  /** Resolved {@link Paths}, or options for {@link resolvePaths}. Default: `./var`. */
  paths?: Paths | PathOptions;
  /** Time source. Default the real clock. */
  clock?: Clock;
  /** Configure process-wide logging (see {@link DaemonLogging}). Default: leave logging alone. */
  logging?: DaemonLogging;
  /** Components, started in this order and stopped in reverse. */
  components?: DaemonComponent[];
  /** Program name reported by appctl `version`. Default `tsvs`. */
  programName?: string;
  /** Version reported by appctl `version`. Default: package.json's. */
  version?: string;
  /**
   * Give memory back after bursts (default false; `tsvs start` sets it): every 250 ms, when no
   * OpenFlow message arrived during the last 250 ms and either 10 000 flow-mods were applied or
   * the V8 heap grew by 64 MiB since the last trim, run one memory-reducing full garbage
   * collection. A 100k-flow `add-flows` leaves ~70 MiB of dead decode objects and heap slack
   * that V8 otherwise keeps committed (its memory reducer waits for an idle time that the
   * daemon's timers never give it).
   */
  heapTrim?: boolean;
}

function isPaths(p: Paths | PathOptions): p is Paths {
  return typeof (p as Paths).ctl === 'string' && typeof (p as Paths).mgmt === 'function';
}

/** One running switch daemon. Create with {@link Daemon.start}. */
export class Daemon {
  /** Every appctl command of this daemon; components register theirs here. */
  readonly registry = new AppctlRegistry();
  /** Resolves once the daemon has fully stopped, whatever stopped it. Never rejects. */
  readonly stopped: Promise<void>;

  private resolveStopped!: () => void;
  private pidfile: Pidfile | undefined;
  private server: AppctlServer | undefined;
  private sampler: TimerHandle | undefined;
  private trimmer: TimerHandle | undefined;
  private logDest: (DestinationStream & { end?: () => void; flushSync?: () => void }) | undefined;
  private readonly started: DaemonComponent[] = [];
  private stopping: Promise<void> | undefined;
  private cleanup = false;

  private constructor(
    /** Where this daemon's files and sockets are. */
    readonly paths: Paths,
    /** The clock every timer of this daemon reads. */
    readonly clock: Clock,
    /** Program name and version, as `version` reports them. */
    readonly programName: string,
    readonly version: string,
  ) {
    this.stopped = new Promise((r) => (this.resolveStopped = r));
  }

  /**
   * Starts a daemon. Rejects (leaving nothing behind) if the pidfile names a live process
   * ({@link PidfileError}), if the control socket belongs to a live daemon, or if a component fails
   * to start.
   */
  static async start(opts: DaemonOptions = {}): Promise<Daemon> {
    const paths = opts.paths && isPaths(opts.paths) ? opts.paths : resolvePaths(opts.paths);
    const d = new Daemon(
      paths,
      opts.clock ?? realClock,
      opts.programName ?? 'tsvs',
      opts.version ?? packageVersion(),
    );
    try {
      await d.boot(opts);
    } catch (err) {
      await d.teardown();
      d.resolveStopped();
      throw err;
    }
    return d;
  }

  private async boot(opts: DaemonOptions): Promise<void> {
    const { paths } = this;
    await fsp.mkdir(paths.rundir, { recursive: true, mode: 0o755 });
    if (opts.logging) this.setUpLogging(opts.logging);

    this.pidfile = await Pidfile.acquire(paths.pidfile);

    registerBuiltins(this.registry, {
      programName: this.programName,
      version: this.version,
      exit: (o) => this.requestExit(o?.cleanup === true),
    });
    const server = new AppctlServer(this.registry, { path: paths.ctl, clock: this.clock });
    await server.listen();
    this.server = server;

    this.scheduleSample();

    for (const c of opts.components ?? []) {
      try {
        await c.start(this);
      } catch (err) {
        throw new Error(`component ${c.name} failed to start: ${(err as Error).message}`, {
          cause: err,
        });
      }
      this.started.push(c);
      log.debug({ component: c.name }, 'component started');
    }
    if (opts.heapTrim === true) this.startHeapTrim();
    log.info(
      { rundir: paths.rundir, ctl: paths.ctl, version: this.version },
      `${this.programName} ${this.version} started`,
    );
  }

  private setUpLogging(cfg: DaemonLogging): void {
    const level = cfg.level ?? 'info';
    const pinoLevel = toPinoLevel(level);
    if (cfg.file === undefined || pinoLevel === 'silent') {
      configureLogging(level);
      setLogLevel('ANY', level);
      return;
    }
    const file = pino.destination({ dest: cfg.file, sync: true, mkdir: true, append: true });
    const streams: StreamEntry[] = [{ level: pinoLevel, stream: file }];
    if (pinoLevel !== 'fatal' && pinoLevel !== 'error') {
      streams.push({ level: 'warn', stream: process.stderr });
    } else {
      streams.push({ level: pinoLevel, stream: process.stderr });
    }
    configureLogging(level, pino.multistream(streams));
    // configureLogging keeps each module's own level; at start every module takes ours.
    setLogLevel('ANY', level);
    this.logDest = file;
  }

  private startHeapTrim(): void {
    const gc = fullGc();
    if (!gc) {
      log.warn('cannot run garbage collections on demand: heap trimming off');
      return;
    }
    let base = getHeapStatistics().total_heap_size;
    let baseFlowMods = cFlowMod.total;
    let lastRx = cOfRx.total;
    const tick = (): void => {
      const rx = cOfRx.total;
      const quiet = rx === lastRx;
      lastRx = rx;
      const total = getHeapStatistics().total_heap_size;
      if (total < base) base = total;
      if (
        quiet &&
        (cFlowMod.total - baseFlowMods >= HEAP_TRIM_FLOW_MODS || total - base >= HEAP_TRIM_GROWTH)
      ) {
        const t0 = performance.now();
        gc();
        cHeapTrim.inc();
        base = getHeapStatistics().total_heap_size;
        baseFlowMods = cFlowMod.total;
        log.debug(
          { before: total, after: base, ms: Math.round(performance.now() - t0) },
          'heap trimmed',
        );
      }
      this.trimmer = this.clock.setTimeout(tick, HEAP_TRIM_TICK_MS);
    };
    this.trimmer = this.clock.setTimeout(tick, HEAP_TRIM_TICK_MS);
  }

  private scheduleSample(): void {
    this.sampler = this.clock.setTimeout(() => {
      sampleCounters();
      this.scheduleSample();
    }, 1000);
  }

  /**
   * True if the daemon is stopping because of `ovs-appctl exit --cleanup`: components should then
   * also remove the state they would otherwise leave for the next start (as ovs-vswitchd deletes
   * its datapaths).
   */
  get cleanupRequested(): boolean {
    return this.cleanup;
  }

  /** Called by appctl `exit` (after its reply has been queued): stops the daemon. */
  private requestExit(cleanup: boolean): void {
    log.info({ cleanup }, 'exit requested through appctl');
    this.cleanup = cleanup;
    setImmediate(() => void this.stop());
  }

  /**
   * Stops the daemon: components in reverse start order, then the control socket, then the
   * pidfile (and the logging set-up, if the daemon made one). Idempotent: every call returns the
   * same promise, which never rejects (errors are logged).
   */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = this.teardown().then(() => this.resolveStopped());
    }
    return this.stopping;
  }

  /** True once {@link Daemon.stop} has been called (or `exit` was requested). */
  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  private async teardown(): Promise<void> {
    this.clock.clearTimeout(this.sampler);
    this.sampler = undefined;
    this.clock.clearTimeout(this.trimmer);
    this.trimmer = undefined;
    for (const c of this.started.splice(0).reverse()) {
      try {
        await c.stop();
        log.debug({ component: c.name }, 'component stopped');
      } catch (err) {
        log.error({ err, component: c.name }, 'component failed to stop cleanly');
      }
    }
    if (this.server) {
      try {
        await this.server.close();
      } catch (err) {
        log.error({ err }, 'closing the control socket failed');
      }
      this.server = undefined;
      // Ours (we listened on it): make sure it is gone even if the server left it.
      await fsp.rm(this.paths.ctl, { force: true }).catch(() => undefined);
    }
    if (this.pidfile) {
      await this.pidfile.release();
      this.pidfile = undefined;
      log.info(`${this.programName} stopped`);
    }
    if (this.logDest) {
      const dest = this.logDest;
      this.logDest = undefined;
      configureLogging(process.env.TSVS_LOG_LEVEL ?? 'warn');
      try {
        dest.flushSync?.();
        dest.end?.();
      } catch {
        // Nothing useful to do about a log file that will not close.
      }
    }
  }
}

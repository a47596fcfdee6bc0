/**
 * Where the daemon keeps its state: the run directory (sockets, pidfile, log) and the database
 * file. One {@link Paths} value is computed at start by {@link resolvePaths} and handed to every
 * component, so no module invents a path of its own.
 *
 * Defaults put everything under `./var` relative to the current directory. `--ovs-paths` selects
 * Open vSwitch's own locations (`/var/run/openvswitch`, `/etc/openvswitch/conf.db`) so that OVS's
 * tools and Mininet find us without options.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Open vSwitch's run directory, used by `--ovs-paths`. */
export const OVS_RUNDIR = '/var/run/openvswitch';
/** Open vSwitch's database file, used by `--ovs-paths`. */
export const OVS_DB = '/etc/openvswitch/conf.db';

/** Every file and socket location of one daemon. All paths are absolute. */
export interface Paths {
  /** Run directory: holds the sockets, the pidfile and (by default) the log. Created at start. */
  readonly rundir: string;
  /** The OVSDB database file. */
  readonly db: string;
  /** The OVSDB server's unix socket (`ovs-vsctl --db=unix:<dbSocket>`). */
  readonly dbSocket: string;
  /** The appctl control socket (`ovs-appctl -t <ctl>`). */
  readonly ctl: string;
  /** The pidfile. */
  readonly pidfile: string;
  /** The log file, or undefined to log to stderr only. */
  readonly logFile: string | undefined;
  /** The OpenFlow management socket of bridge `bridge` (`ovs-ofctl ... unix:<mgmt(br)>`). */
  mgmt(bridge: string): string;
}

/** What a caller may choose; everything else follows from {@link resolvePaths}'s defaults. */
export interface PathOptions {
  /** Run directory. Default `./var`, or `/var/run/openvswitch` with `ovsPaths`. */
  rundir?: string;
  /** Database file. Default `<rundir>/conf.db`, or `/etc/openvswitch/conf.db` with `ovsPaths`. */
  db?: string;
  /** Pidfile. Default `<rundir>/tsvs.pid`. */
  pidfile?: string;
  /**
   * Log file. Default `<rundir>/tsvs.log`; `null` or `'-'` means stderr only. With `ovsPaths` the
   * default is `/var/log/openvswitch/tsvs.log`.
   */
  logFile?: string | null;
  /** Use Open vSwitch's locations as defaults (see {@link OVS_RUNDIR}, {@link OVS_DB}). */
  ovsPaths?: boolean;
  /** Directory relative paths are resolved against. Default `process.cwd()`. */
  cwd?: string;
}

/** Computes absolute {@link Paths} from options and defaults. Touches no file. */
export function resolvePaths(opts: PathOptions = {}): Paths {
  const cwd = opts.cwd ?? process.cwd();
  const ovs = opts.ovsPaths === true;
  const rundir = resolve(cwd, opts.rundir ?? (ovs ? OVS_RUNDIR : 'var'));
  const db = resolve(cwd, opts.db ?? (ovs ? OVS_DB : join(rundir, 'conf.db')));
  const pidfile = resolve(cwd, opts.pidfile ?? join(rundir, 'tsvs.pid'));
  let logFile: string | undefined;
  if (opts.logFile === null || opts.logFile === '-') logFile = undefined;
  else if (opts.logFile !== undefined) logFile = resolve(cwd, opts.logFile);
  else logFile = ovs ? '/var/log/openvswitch/tsvs.log' : join(rundir, 'tsvs.log');
  return {
    rundir,
    db,
    dbSocket: join(rundir, 'db.sock'),
    ctl: join(rundir, 'tsvs.ctl'),
    pidfile,
    logFile,
    mgmt: (bridge: string) => join(rundir, `${bridge}.mgmt`),
  };
}

/**
 * The root of the tsvswitch package (the directory holding its package.json), found by walking up
 * from this module. Works both from the TypeScript sources and from `dist/`.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      try {
        const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: unknown };
        if (pkg.name === 'tsvswitch') return dir;
      } catch {
        // Not ours or unreadable: keep walking.
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the tsvswitch package.json');
    dir = up;
  }
}

let cachedVersion: string | undefined;

/** The version field of tsvswitch's package.json. */
export function packageVersion(): string {
  if (cachedVersion === undefined) {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {
      version?: unknown;
    };
    cachedVersion = typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  }
  return cachedVersion;
}

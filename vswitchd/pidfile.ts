/**
 * The daemon's pidfile: one line holding the process id, created at start and removed at stop.
 *
 * Node has no advisory file locks, so liveness is decided the way `ovs-ctl` decides it for a
 * pidfile without a lock: the pid is alive if `kill(pid, 0)` succeeds (or fails with EPERM). On
 * Linux a live pid whose `/proc/<pid>/cmdline` mentions neither `node` nor `tsvs` is treated as a
 * recycled pid, i.e. the pidfile is stale. The file is created with `link(2)` from a temporary
 * file, so it is never seen half-written and two daemons cannot both create it.
 */
import { promises as fsp, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Thrown when the pidfile names a live process. */
export class PidfileError extends Error {
  constructor(
    message: string,
    /** The pidfile. */
    readonly path: string,
    /** The live process it names. */
    readonly pid: number,
  ) {
    super(message);
    this.name = 'PidfileError';
  }
}

/** Parses a pidfile's contents; undefined unless it is a positive integer on the first line. */
export function parsePid(text: string): number | undefined {
  const first = text.split('\n', 1)[0]?.trim() ?? '';
  if (!/^[0-9]+$/.test(first)) return undefined;
  const pid = Number(first);
  return pid > 0 && Number.isSafeInteger(pid) ? pid : undefined;
}

/**
 * True if `pid` names a running process that could be a tsvswitch daemon. The current process
 * counts as alive (a second in-process daemon on the same pidfile is refused too).
 */
export function isProcessAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (process.platform !== 'linux') return true;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return true; // Cannot tell: be careful, call it alive.
  }
  if (cmdline === '') return false; // A zombie: it will never answer.
  return /node|tsvs/.test(cmdline);
}

/** Reads the pid named by a pidfile, or undefined if the file is missing or malformed. */
export async function readPidfile(path: string): Promise<number | undefined> {
  try {
    return parsePid(await fsp.readFile(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** A pidfile this process created. */
export class Pidfile {
  private released = false;

  private constructor(
    /** The pidfile. */
    readonly path: string,
    /** The pid written in it. */
    readonly pid: number,
  ) {}

  /**
   * Creates `path` containing `pid` (default: this process). A stale pidfile (missing process,
   * malformed contents) is replaced. Throws {@link PidfileError} if it names a live process.
   */
  static async acquire(path: string, pid = process.pid): Promise<Pidfile> {
    await fsp.mkdir(dirname(path), { recursive: true });
    const tmp = join(dirname(path), `.${pid}.${Date.now()}.pid.tmp`);
    await fsp.writeFile(tmp, `${pid}\n`, { mode: 0o644 });
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await fsp.link(tmp, path);
          return new Pidfile(path, pid);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw err;
        }
        const other = await readPidfile(path);
        if (other !== undefined && isProcessAlive(other)) {
          throw new PidfileError(
            `${path}: pidfile names a running process (pid ${other}); is another tsvs running? ` +
              'Stop it, or choose another --rundir/--pidfile.',
            path,
            other,
          );
        }
        // Stale: remove it and try again.
        await fsp.rm(path, { force: true });
      }
    } finally {
      await fsp.rm(tmp, { force: true });
    }
  }

  /** Removes the pidfile if it still names our pid. Idempotent; never throws. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      if ((await readPidfile(this.path)) === this.pid) await fsp.rm(this.path, { force: true });
    } catch {
      // Already gone or unreadable: nothing we can do.
    }
  }
}

#!/usr/bin/env node
/**
 * The `tsvs` command line. `tsvs start` runs the switch daemon in the foreground until SIGTERM,
 * SIGINT or `ovs-appctl -t <rundir>/tsvs.ctl exit`; `tsvs version` prints the version.
 *
 * Exit codes: 0 success; 1 the daemon could not start (pidfile or control socket held by a live
 * daemon, unwritable run directory...) or stopped abnormally; 2 usage error.
 */
// First: V8 settings must hold before the other modules load (see bin/v8-flags.ts).
import './v8-flags.js';
import { parseArgs } from 'node:util';
import type { ApiComponent } from '../vswitchd/api-backend.js';
import { standardComponents, vswitchdComponents } from '../vswitchd/components.js';
import { dirname, join } from 'node:path';
import { Daemon } from '../vswitchd/daemon.js';
import { packageVersion, resolvePaths, type PathOptions } from '../vswitchd/paths.js';
import { toPinoLevel } from '../lib/log.js';
import type { DaemonStarter } from '../topo/index.js';

/** Longest graceful shutdown before the process exits anyway. */
const STOP_DEADLINE_MS = 1800;

const USAGE = `usage: tsvs <command> [options]

tsvswitch: a software switch in TypeScript that does the job of Open vSwitch.

Commands:
  start               run the switch daemon in the foreground
  vswitchd REMOTE     run the bridges only, on a separate OVSDB server (ovsdb-server or
                      tsvs start --no-vswitchd) at REMOTE: unix:PATH or tcp:IP:PORT
  topo SPEC|FILE      build a Mininet-style network on the switch, with a prompt like
                      Mininet's (tsvs topo --help)
  version             print the version and exit
  help                print this help and exit

Options for start:
  --rundir DIR        run directory for sockets, pidfile and log (default ./var)
  --db FILE           database file (default <rundir>/conf.db)
  --pidfile FILE      pidfile (default <rundir>/tsvs.pid)
  --log-file FILE     log file (default <rundir>/tsvs.log; "-" logs to stderr only)
  --log-level LEVEL   off, emer, err, warn, info or dbg (default info)
  --remote REMOTE     an extra OVSDB remote (repeatable): ptcp:PORT[:IP], pssl:PORT[:IP],
                      punix:PATH, tcp:IP:PORT, ssl:IP:PORT; <rundir>/db.sock is always on
  --private-key FILE, --certificate FILE, --ca-cert FILE
                      TLS material for pssl:/ssl: remotes (else from the SSL table)
  --api [HOST:]PORT   serve the HTTP API, /events and /metrics (default host 127.0.0.1)
  --ovs-paths         use Open vSwitch's locations, for OVS's tools and Mininet:
                      rundir /var/run/openvswitch, db /etc/openvswitch/conf.db
  --no-vswitchd       run the OVSDB server only (for a separate tsvs vswitchd)
  -h, --help          print this help and exit
  -V, --version       print the version and exit

Options for vswitchd: --rundir, --pidfile (default <rundir>/tsvs-vswitchd.pid), --log-file
(default <rundir>/tsvs-vswitchd.log), --log-level, --ovs-paths. It takes the ovs_vswitchd lock
and stays idle while another vswitchd holds it.

The control socket is <rundir>/tsvs.ctl: ovs-appctl -t "$PWD/var/tsvs.ctl" list-commands
(<rundir>/tsvs-vswitchd.ctl for tsvs vswitchd)
`;

class UsageError extends Error {}

/** TLS material from --private-key/--certificate/--ca-cert (all three or none). */
function sslFromFlags(values: {
  'private-key'?: string;
  certificate?: string;
  'ca-cert'?: string;
}): { ssl?: { privateKey: string; certificate: string; caCert: string } } {
  const k = values['private-key'];
  const c = values.certificate;
  const a = values['ca-cert'];
  if (k === undefined && c === undefined && a === undefined) return {};
  if (k === undefined || c === undefined || a === undefined) {
    throw new UsageError('--private-key, --certificate and --ca-cert go together');
  }
  return { ssl: { privateKey: k, certificate: c, caCert: a } };
}

function versionLine(): string {
  return `tsvs (tsvswitch) ${packageVersion()}\n`;
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        rundir: { type: 'string' },
        db: { type: 'string' },
        pidfile: { type: 'string' },
        'log-file': { type: 'string' },
        'log-level': { type: 'string' },
        'ovs-paths': { type: 'boolean' },
        remote: { type: 'string', multiple: true },
        'private-key': { type: 'string' },
        certificate: { type: 'string' },
        'ca-cert': { type: 'string' },
        api: { type: 'string' },
        'no-vswitchd': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function start(
  values: ReturnType<typeof parse>['values'],
  vswitchdRemote?: string,
): Promise<number> {
  const level = values['log-level'] ?? 'info';
  try {
    toPinoLevel(level);
  } catch {
    throw new UsageError(`unknown log level "${level}" (use off, emer, err, warn, info or dbg)`);
  }
  const pathOpts: PathOptions = { ovsPaths: values['ovs-paths'] === true };
  if (values.rundir !== undefined) pathOpts.rundir = values.rundir;
  if (values.db !== undefined) pathOpts.db = values.db;
  if (values.pidfile !== undefined) pathOpts.pidfile = values.pidfile;
  if (values['log-file'] !== undefined) pathOpts.logFile = values['log-file'];
  let paths = resolvePaths(pathOpts);
  if (vswitchdRemote !== undefined) {
    // Its own pidfile, control socket and log, so it can share a run directory with the server.
    const own = resolvePaths({
      ...pathOpts,
      pidfile: pathOpts.pidfile ?? join(paths.rundir, 'tsvs-vswitchd.pid'),
      ...(pathOpts.logFile === undefined && paths.logFile !== undefined
        ? { logFile: join(dirname(paths.logFile), 'tsvs-vswitchd.log') }
        : {}),
    });
    paths = { ...own, ctl: join(own.rundir, 'tsvs-vswitchd.ctl') };
  }

  // Signals are handled from the start: one that arrives while the components are still starting
  // stops the daemon as soon as the start completes.
  let daemon: Daemon | undefined;
  let exitCode = 0;
  let pending: { why: string; code: number } | undefined;
  const shutdown = (why: string, code: number): void => {
    if (!daemon) {
      pending ??= { why, code };
      return;
    }
    if (daemon.isStopping) {
      process.stderr.write(`tsvs: ${why} again; exiting now\n`);
      process.exit(code || 1);
    }
    exitCode = code;
    const guard = setTimeout(() => {
      process.stderr.write(`tsvs: graceful shutdown took too long; exiting\n`);
      process.exit(1);
    }, STOP_DEADLINE_MS);
    guard.unref();
    void daemon.stop();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM', 0));
  process.on('SIGINT', () => shutdown('SIGINT', 0));
  process.on('uncaughtException', (err) => {
    process.stderr.write(`tsvs: internal error: ${err.stack ?? err.message}\n`);
    shutdown('internal error', 1);
  });

  const components =
    vswitchdRemote !== undefined
      ? vswitchdComponents(vswitchdRemote)
      : standardComponents({
          extraRemotes: values.remote ?? [],
          ...sslFromFlags(values),
          noVswitchd: values['no-vswitchd'] === true,
        });
  let api: ApiComponent | undefined;
  if (values.api !== undefined) {
    // Loaded only when asked for: fastify and the API's modules are ~10 MiB of RSS at idle.
    const { apiComponent, parseApiAddress } = await import('../vswitchd/api-backend.js');
    let addr;
    try {
      addr = parseApiAddress(values.api);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    // Appended: starts after the OVSDB server and the bridges, stops first.
    api = apiComponent(components, addr);
    components.push(api);
  }
  try {
    daemon = await Daemon.start({
      paths,
      logging: paths.logFile === undefined ? { level } : { level, file: paths.logFile },
      components,
      // Compacting GC after bulk flow changes; TSVS_HEAP_TRIM=0 turns it off (it pauses the
      // main thread for a few hundred ms once a burst of flow-mods has ended).
      heapTrim: process.env.TSVS_HEAP_TRIM !== '0',
    });
  } catch (err) {
    process.stderr.write(`tsvs: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(
    `tsvs ${daemon.version} running (pid ${process.pid}); control socket ${paths.ctl}\n`,
  );
  if (api?.url) process.stdout.write(`tsvs: HTTP API on ${api.url}\n`);
  if (pending) shutdown(pending.why, pending.code);

  await daemon.stopped;
  return exitCode;
}

/**
 * Starts the daemon `tsvs topo` runs on when none answers on the run directory: the standard
 * components, logging to <rundir>/tsvs.log (warnings also on stderr), for the life of the command.
 */
const startTopoDaemon: DaemonStarter = async (rundir) => {
  const paths = resolvePaths({ rundir });
  return Daemon.start({
    paths,
    logging: { level: 'info', ...(paths.logFile !== undefined ? { file: paths.logFile } : {}) },
    components: standardComponents(),
  });
};

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'topo') {
    const { runTopoCli } = await import('../topo/cli.js');
    return runTopoCli(argv.slice(1), { startDaemon: startTopoDaemon });
  }
  const { values, positionals } = parse(argv);
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    process.stdout.write(versionLine());
    return 0;
  }
  const [command, ...rest] = positionals;
  if (command === 'vswitchd') {
    const remote = rest[0];
    if (remote === undefined)
      throw new UsageError('vswitchd needs the database: unix:PATH or tcp:IP:PORT');
    if (rest.length > 1) throw new UsageError(`unexpected argument "${rest[1]}"`);
    if (!/^(unix:.+|tcp:.+:\d+)$/.test(remote))
      throw new UsageError(`"${remote}": the database must be unix:PATH or tcp:IP:PORT`);
    for (const o of [
      'db',
      'remote',
      'api',
      'no-vswitchd',
      'private-key',
      'certificate',
      'ca-cert',
    ] as const)
      if (values[o] !== undefined) throw new UsageError(`--${o} does not apply to vswitchd`);
    return start(values, remote);
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  switch (command) {
    case 'start':
      return start(values);
    case 'version':
      process.stdout.write(versionLine());
      return 0;
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case undefined:
      throw new UsageError('missing command');
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`tsvs: ${err.message}\nTry 'tsvs --help' for more information.\n`);
      process.exit(2);
    }
    process.stderr.write(`tsvs: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

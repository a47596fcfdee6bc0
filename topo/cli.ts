/**
 * `tsvs topo SPEC [--pingall] [--rundir DIR] [--controller tcp:IP:PORT]... [--prefix P]` and
 * `tsvs topo --clean [--rundir DIR] [--prefix P]`.
 *
 * Builds the network on the daemon of `--rundir` (one is started in-process for the life of the
 * command when none runs there). With `--pingall` it runs Mininet's pingall, tears the network
 * down and exits 1 if any ping was lost; without it the network stays up until SIGINT/SIGTERM.
 *
 * Exit codes: 0 success; 1 failure (including lost pings); 2 usage error.
 */
import { parseArgs } from 'node:util';
import { Topo, type DaemonStarter } from './index.js';
import { TopoSpecError } from './spec.js';

/** Help text of `tsvs topo`. */
export const TOPO_USAGE = `usage: tsvs topo SPEC [options]
       tsvs topo --clean [--rundir DIR] [--prefix P]

Builds a Mininet-style network on a tsvs switch: hosts are network namespaces joined by veths to
bridge ports; switches s1..sN are tsvs bridges (NORMAL, fail_mode standalone, unless a controller
is given). Needs root, iproute2 and ping.

SPEC:
  minimal                   one switch, two hosts (= single,2)
  single,N                  one switch s1, hosts h1..hN
  linear,N                  switches s1..sN in a row, one host on each
  tree,depth=D,fanout=F     a tree of switches, hosts at the leaves

Options:
  --pingall                 every host pings every other once, then stop (exit 1 on any loss)
  --rundir DIR              run directory of the daemon to use (default ./var); a daemon is
                            started in-process when none runs there
  --controller TARGET       controller for every switch (repeatable), e.g. tcp:127.0.0.1:6653;
                            the switches then run fail_mode secure
  --prefix P                prefix of namespace and link names (default tv + an id)
  --clean                   remove leftovers: namespaces and links of dead topo runs (or of
                            --prefix) and the bridges marked external_ids:tsvs-topo=1
  -h, --help                print this help
`;

/** What {@link runTopoCli} needs from its caller. */
export interface TopoCliDeps {
  /** Starts a daemon when none runs on the run directory. */
  startDaemon?: DaemonStarter;
  /** Standard output (default process.stdout). */
  out?: (s: string) => void;
  /** Standard error (default process.stderr). */
  err?: (s: string) => void;
}

/** Runs `tsvs topo` with `argv` (the arguments after `topo`); resolves with the exit code. */
export async function runTopoCli(argv: string[], deps: TopoCliDeps = {}): Promise<number> {
  const out = deps.out ?? ((s: string) => void process.stdout.write(s));
  const err = deps.err ?? ((s: string) => void process.stderr.write(s));
  const usage = (msg: string): number => {
    err(`tsvs topo: ${msg}\nTry 'tsvs topo --help' for more information.\n`);
    return 2;
  };
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        pingall: { type: 'boolean' },
        rundir: { type: 'string' },
        controller: { type: 'string', multiple: true },
        prefix: { type: 'string' },
        clean: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    return usage((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(TOPO_USAGE);
    return 0;
  }
  const log = (line: string): void => out(`${line}\n`);
  if (values.clean) {
    if (positionals.length > 0) return usage('--clean takes no SPEC');
    try {
      await Topo.clean({
        ...(values.rundir !== undefined ? { rundir: values.rundir } : {}),
        ...(values.prefix !== undefined ? { prefix: values.prefix } : {}),
        ...(deps.startDaemon ? { startDaemon: deps.startDaemon } : {}),
        log,
      });
      return 0;
    } catch (e) {
      err(`tsvs topo: ${(e as Error).message}\n`);
      return 1;
    }
  }
  if (positionals.length === 0) return usage('missing SPEC (e.g. single,3, linear,3, minimal)');
  if (positionals.length > 1) return usage(`unexpected argument "${positionals[1]}"`);
  for (const c of values.controller ?? []) {
    if (!/^(tcp|ssl|unix|ptcp|pssl|punix):./.test(c)) return usage(`bad controller "${c}"`);
  }

  // Signals: stop cleanly whatever phase we are in.
  const abort = new AbortController();
  let stopRequested: () => void = () => undefined;
  const stopPromise = new Promise<void>((r) => (stopRequested = r));
  const onSignal = (sig: string): void => {
    if (abort.signal.aborted) {
      err(`tsvs topo: ${sig} again; exiting without cleaning up (run tsvs topo --clean)\n`);
      process.exit(1);
    }
    err(`tsvs topo: ${sig}; stopping\n`);
    abort.abort();
    stopRequested();
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  let net: Topo | undefined;
  try {
    try {
      net = await Topo.start({
        spec: positionals[0]!,
        ...(values.rundir !== undefined ? { rundir: values.rundir } : {}),
        ...(values.prefix !== undefined ? { prefix: values.prefix } : {}),
        ...(deps.startDaemon ? { startDaemon: deps.startDaemon } : {}),
        controllers: values.controller ?? [],
        log,
      });
    } catch (e) {
      if (e instanceof TopoSpecError) return usage(e.message);
      err(`tsvs topo: ${(e as Error).message}\n`);
      return 1;
    }
    if (abort.signal.aborted) return 1;
    if (values.pingall) {
      const r = await net.pingAll({ signal: abort.signal });
      return r.received === r.sent && !abort.signal.aborted ? 0 : 1;
    }
    log(
      `*** Network up on ${net.rundir}${net.ownsDaemon ? ' (daemon in this process)' : ''}; ` +
        `hosts are namespaces: ${net.hosts.map((h) => `${h.name}=${h.ns}`).join(' ')}`,
    );
    log(`*** e.g. ip netns exec ${net.hosts[0]?.ns ?? 'NS'} ping 10.0.0.2; Ctrl-C stops`);
    await stopPromise;
    return 0;
  } finally {
    await net?.stop();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}

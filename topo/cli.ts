/**
 * `tsvs topo SPEC|FILE [options]` and `tsvs topo --clean [--rundir DIR] [--prefix P]`.
 *
 * Builds the network on the daemon of `--rundir` (one is started in-process for the life of the
 * command when none runs there), then:
 * - with one-shot options (`--pingall`, `--ping H1,H2`, `--iperf H1,H2`, `--dump`, `--links`,
 *   `--link A,B,up|down`, `--cmd LINE`) runs them in the order given, tears the network down and
 *   exits 1 if any failed (a lost ping, a host command's non-zero status...); `--cli` then opens
 *   the prompt instead of exiting;
 * - else, with a terminal on stdin (or `--cli`), opens the `tsvs> ` prompt (topo/commands.ts)
 *   until `exit`, `quit` or end of input;
 * - else keeps the network up until SIGINT/SIGTERM.
 *
 * Progress (`*** ...`) goes to stderr (none with `--quiet`); command output to stdout.
 * Exit codes: 0 success; 1 failure; 2 usage error (bad option, spec, spec file or command).
 */
import { createInterface, type Interface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Topo, type DaemonStarter, type FailMode } from './index.js';
import { TopoSpecError, parseSpec, type TopoGraph } from './spec.js';
import { looksLikeSpecFile, parseSpecFile } from './spec-file.js';
import {
  commandContext,
  completions,
  parseCommand,
  runCommand,
  type TopoCommand,
} from './commands.js';

/** Help text of `tsvs topo`. */
export const TOPO_USAGE = `usage: tsvs topo SPEC|FILE [options]
       tsvs topo --clean [--rundir DIR] [--prefix P]

Builds a Mininet-style network on a tsvs switch: hosts are network namespaces joined by veths to
bridge ports; switches are tsvs bridges (NORMAL, fail_mode standalone, unless a controller is
given). Needs root, iproute2 and ping (iperf3 for iperf).

SPEC:
  minimal                   one switch, two hosts (= single,2)
  single,N                  one switch s1, hosts h1..hN
  linear,N                  switches s1..sN in a row, one host on each
  tree,depth=D,fanout=F     a tree of switches, hosts at the leaves
  FILE.json, FILE.yaml      hosts, switches and links with options (mtu, vlan, up); see
                            topo/examples/

Options:
  -f, --file FILE           read the topology from a JSON or YAML file
  --controller TARGET       controller for every switch (repeatable), e.g. tcp:127.0.0.1:6653;
                            the switches then run fail_mode secure
  --fail-mode MODE          secure or standalone (default: secure with a controller, else
                            standalone)
  --rundir DIR              run directory of the daemon to use (default ./var); a daemon is
                            started in-process when none runs there
  --prefix P                prefix of namespace and link names (default tv + an id)
  -q, --quiet               no progress messages
  --cli                     open the prompt even when stdin is not a terminal (after any
                            one-shot commands)
  --clean                   remove leftovers: namespaces and links of dead topo runs (or of
                            --prefix) and the bridges marked external_ids:tsvs-topo=1
  -h, --help                print this help

One-shot commands (run in the order given, then stop; exit 1 if any fails):
  --pingall                 every host pings every other once (prints the loss matrix)
  --ping H1,H2              H1 pings H2 once
  --iperf H1,H2             TCP throughput from H1 to H2 (iperf3, 5 s)
  --dump                    hosts and switches
  --links                   links and their state
  --link A,B,up|down        set the link(s) between A and B up or down
  -c, --cmd LINE            any prompt command, e.g. -c 'h1 ping -c1 h2'

Without one-shot commands and with a terminal on stdin, a prompt (tsvs>) takes the same
commands; type help there. Without a terminal, the network stays up until SIGINT/SIGTERM.
`;

/** What {@link runTopoCli} needs from its caller. */
export interface TopoCliDeps {
  /** Starts a daemon when none runs on the run directory. */
  startDaemon?: DaemonStarter;
  /** Standard output (default process.stdout). */
  out?: (s: string) => void;
  /** Standard error (default process.stderr). */
  err?: (s: string) => void;
  /** Standard input for the prompt (default process.stdin). */
  input?: NodeJS.ReadableStream & { isTTY?: boolean };
}

/** Turns the one-shot options into prompt lines, in the order they were given. */
function oneShotLines(
  tokens: NonNullable<ReturnType<typeof parseArgs>['tokens']>,
): string[] | string {
  const lines: string[] = [];
  for (const tok of tokens) {
    if (tok.kind !== 'option') continue;
    const v = tok.value ?? '';
    const parts = v.split(',').map((s) => s.trim());
    switch (tok.name) {
      case 'pingall':
      case 'dump':
      case 'links':
        lines.push(tok.name);
        break;
      case 'ping':
      case 'iperf':
        if (parts.length !== 2) return `--${tok.name} takes H1,H2`;
        lines.push(`${tok.name} ${parts.join(' ')}`);
        break;
      case 'link':
        if (parts.length !== 3) return '--link takes A,B,up|down';
        lines.push(`link ${parts.join(' ')}`);
        break;
      case 'cmd':
        lines.push(v);
        break;
      default:
        break;
    }
  }
  return lines;
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
      tokens: true,
      options: {
        file: { type: 'string', short: 'f' },
        pingall: { type: 'boolean' },
        ping: { type: 'string', multiple: true },
        iperf: { type: 'string', multiple: true },
        dump: { type: 'boolean' },
        links: { type: 'boolean' },
        link: { type: 'string', multiple: true },
        cmd: { type: 'string', short: 'c', multiple: true },
        cli: { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
        rundir: { type: 'string' },
        controller: { type: 'string', multiple: true },
        'fail-mode': { type: 'string' },
        prefix: { type: 'string' },
        clean: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    return usage((e as Error).message);
  }
  const { values, positionals, tokens } = parsed;
  if (values.help) {
    out(TOPO_USAGE);
    return 0;
  }
  const log = values.quiet ? () => undefined : (line: string): void => err(`${line}\n`);
  if (values.clean) {
    if (positionals.length > 0 || values.file !== undefined) return usage('--clean takes no SPEC');
    try {
      await Topo.clean({
        ...(values.rundir !== undefined ? { rundir: values.rundir } : {}),
        ...(values.prefix !== undefined ? { prefix: values.prefix } : {}),
        ...(deps.startDaemon ? { startDaemon: deps.startDaemon } : {}),
        log: (line) => out(`${line}\n`),
      });
      return 0;
    } catch (e) {
      err(`tsvs topo: ${(e as Error).message}\n`);
      return 1;
    }
  }
  if (values.file !== undefined && positionals.length > 0) {
    return usage(`give either SPEC or --file, not both ("${positionals[0]}")`);
  }
  if (values.file === undefined && positionals.length === 0) {
    return usage('missing SPEC (e.g. single,3, linear,3, minimal, or a .json/.yaml file)');
  }
  if (positionals.length > 1) return usage(`unexpected argument "${positionals[1]}"`);
  for (const c of values.controller ?? []) {
    if (!/^(tcp|ssl|unix|ptcp|pssl|punix):./.test(c)) return usage(`bad controller "${c}"`);
  }
  const failModeArg = values['fail-mode'];
  if (failModeArg !== undefined && failModeArg !== 'secure' && failModeArg !== 'standalone') {
    return usage(`bad --fail-mode "${failModeArg}" (secure or standalone)`);
  }
  const failMode: FailMode | undefined = failModeArg;

  let graph: TopoGraph;
  try {
    const arg = values.file ?? positionals[0]!;
    graph =
      values.file !== undefined || looksLikeSpecFile(arg) ? parseSpecFile(arg) : parseSpec(arg);
  } catch (e) {
    if (e instanceof TopoSpecError) return usage(e.message);
    throw e;
  }
  const ctx = commandContext(graph);
  const lines = oneShotLines(tokens);
  if (typeof lines === 'string') return usage(lines);
  const oneShots: TopoCommand[] = [];
  for (const line of lines) {
    const c = parseCommand(line, ctx);
    if (c.kind === 'error') return usage(`${line}: ${c.message}`);
    oneShots.push(c);
  }
  const input = deps.input ?? process.stdin;
  const prompt = values.cli === true || (oneShots.length === 0 && input.isTTY === true);

  // Signals: stop cleanly whatever phase we are in.
  const abort = new AbortController();
  let stopRequested: () => void = () => undefined;
  const stopPromise = new Promise<void>((r) => (stopRequested = r));
  let rl: Interface | undefined;
  const onSignal = (sig: string): void => {
    if (abort.signal.aborted) {
      err(`tsvs topo: ${sig} again; exiting without cleaning up (run tsvs topo --clean)\n`);
      process.exit(1);
    }
    err(`tsvs topo: ${sig}; stopping\n`);
    abort.abort();
    stopRequested();
    rl?.close();
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  let net: Topo | undefined;
  try {
    try {
      net = await Topo.start({
        spec: graph,
        ...(values.rundir !== undefined ? { rundir: values.rundir } : {}),
        ...(values.prefix !== undefined ? { prefix: values.prefix } : {}),
        ...(deps.startDaemon ? { startDaemon: deps.startDaemon } : {}),
        ...(failMode !== undefined ? { failMode } : {}),
        controllers: values.controller ?? [],
        log,
      });
    } catch (e) {
      err(`tsvs topo: ${(e as Error).message}\n`);
      return 1;
    }
    if (abort.signal.aborted) return 1;
    let allOk = true;
    for (const c of oneShots) {
      if (abort.signal.aborted) return 1;
      const r = await runCommand(net, c, { out, err, signal: abort.signal });
      allOk &&= r.ok;
    }
    if (prompt) {
      await promptLoop(net, input, out, err, abort.signal, (i) => (rl = i));
      return 0;
    }
    if (oneShots.length > 0) return allOk && !abort.signal.aborted ? 0 : 1;
    log(
      `*** Network up on ${net.rundir}${net.ownsDaemon ? ' (daemon in this process)' : ''}; ` +
        `hosts are namespaces: ${net.hosts.map((h) => `${h.name}=${h.ns}`).join(' ')}`,
    );
    log(
      `*** e.g. ip netns exec ${net.hosts[0]?.ns ?? 'NS'} ping ${net.hosts[1]?.ip ?? '10.0.0.2'}; Ctrl-C stops`,
    );
    await stopPromise;
    return 0;
  } finally {
    await net?.stop();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}

/**
 * The `tsvs> ` prompt: reads lines from `input` and runs them one at a time until `exit`,
 * `quit`, end of input or `stop` aborts. On a terminal: line editing, history, tab completion,
 * and Ctrl-C interrupts the running command (or clears the line).
 */
async function promptLoop(
  net: Topo,
  input: NodeJS.ReadableStream & { isTTY?: boolean },
  out: (s: string) => void,
  err: (s: string) => void,
  stop: AbortSignal,
  expose: (rl: Interface) => void,
): Promise<void> {
  const ctx = commandContext(net.graph);
  const words = completions(ctx);
  const terminal = input.isTTY === true;
  const rl = terminal
    ? createInterface({
        input,
        output: process.stdout,
        terminal: true,
        historySize: 200,
        completer: (line: string): [string[], string] => {
          const last = line.split(/\s+/).pop() ?? '';
          const hits = words.filter((w) => w.startsWith(last));
          return [hits.length ? hits : words, last];
        },
      })
    : createInterface({ input, terminal: false });
  expose(rl);
  let current: AbortController | undefined;
  rl.on('SIGINT', () => {
    if (current) {
      current.abort();
      out('\n');
    } else {
      out('^C\n');
      rl.prompt();
    }
  });
  const PROMPT = 'tsvs> ';
  const showPrompt = (): void => {
    if (terminal) {
      rl.setPrompt(PROMPT);
      rl.prompt();
    } else out(PROMPT);
  };
  if (stop.aborted) return;
  showPrompt();
  let eof = true;
  for await (const line of rl) {
    if (stop.aborted) break;
    const cmd = parseCommand(line, ctx);
    current = new AbortController();
    const onStop = (): void => current?.abort();
    stop.addEventListener('abort', onStop, { once: true });
    const r = await runCommand(net, cmd, { out, err, signal: current.signal });
    stop.removeEventListener('abort', onStop);
    current = undefined;
    if (r.exit || stop.aborted) {
      eof = false;
      break;
    }
    showPrompt();
  }
  if (eof && !stop.aborted) out('\n');
  rl.close();
}

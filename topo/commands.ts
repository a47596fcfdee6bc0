/**
 * The commands of the `tsvs topo` prompt (and of its one-shot options), as Mininet's CLI has
 * them: `pingall`, `ping H1 H2`, `iperf H1 H2`, `dump`, `nodes`, `links`, `link A B up|down`,
 * `H CMD...` (a command in host H's namespace, other host names replaced by their addresses),
 * `help`, `exit`/`quit`.
 *
 * {@link parseCommand} is pure (it needs only the names and addresses of the nodes);
 * {@link runCommand} carries a parsed command out on a running {@link Topo}.
 */
import type { TopoGraph } from './spec.js';
import { formatBps, type Topo } from './index.js';

/** A parsed prompt line. */
export type TopoCommand =
  | { readonly kind: 'empty' }
  | { readonly kind: 'help' }
  | { readonly kind: 'exit' }
  | { readonly kind: 'pingall' }
  | { readonly kind: 'ping'; readonly src: string; readonly dst: string; readonly count: number }
  | {
      readonly kind: 'iperf';
      readonly client: string;
      readonly server: string;
      readonly seconds: number;
    }
  | { readonly kind: 'dump' }
  | { readonly kind: 'nodes' }
  | { readonly kind: 'links' }
  | { readonly kind: 'link'; readonly a: string; readonly b: string; readonly up: boolean }
  | { readonly kind: 'host'; readonly host: string; readonly command: string }
  | { readonly kind: 'sh'; readonly command: string }
  | { readonly kind: 'error'; readonly message: string };

/** What {@link parseCommand} needs to know about the network. */
export interface CommandContext {
  /** Host name → IPv4 address, in order of creation. */
  readonly hosts: ReadonlyMap<string, string>;
  /** Switch names. */
  readonly switches: ReadonlySet<string>;
}

/** The {@link CommandContext} of a topology graph. */
export function commandContext(graph: TopoGraph): CommandContext {
  return {
    hosts: new Map(graph.hosts.map((h) => [h.name, h.ip])),
    switches: new Set(graph.switches.map((s) => s.name)),
  };
}

/** Help text of the prompt. */
export const PROMPT_HELP = `Commands (as Mininet's CLI):
  pingall                 every host pings every other once; prints the matrix and the loss
  ping H1 H2 [COUNT]      H1 pings H2 (COUNT times, default 1)
  iperf [H1 H2 [SECS]]    TCP throughput from H1 to H2 with iperf3 (default: first and last
                          host, 5 seconds)
  dump                    hosts with interface, address, MAC and namespace; switches with ports
  nodes                   the names of every host and switch
  links                   every link with its interfaces and state
  link A B up|down        set the link(s) between nodes A and B up or down (both veth ends)
  H CMD...                run CMD (through /bin/sh) in host H's namespace; other host names in
                          CMD are replaced by their addresses: h1 ping -c1 h2
  sh CMD...               run CMD (through /bin/sh) in the root namespace:
                          sh ovs-ofctl -O OpenFlow13 dump-flows s1
  help                    this text
  exit, quit, Ctrl-D      stop the network and leave
`;

/** Replaces every whitespace-delimited word of `text` that names a host by that host's address. */
export function substituteHosts(text: string, hosts: ReadonlyMap<string, string>): string {
  return text.replace(/(^|\s)([^\s]+)(?=\s|$)/g, (m, sp: string, word: string) => {
    const ip = hosts.get(word);
    return ip === undefined ? m : `${sp}${ip}`;
  });
}

function count(s: string | undefined, what: string, max: number): number | string {
  if (s === undefined) return -1;
  if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > max) {
    return `${what} must be an integer from 1 to ${max}, got "${s}"`;
  }
  return Number(s);
}

/** Parses one prompt line against the nodes of `ctx`. Never throws. */
export function parseCommand(line: string, ctx: CommandContext): TopoCommand {
  const text = line.trim();
  if (text === '' || text.startsWith('#')) return { kind: 'empty' };
  const words = text.split(/\s+/);
  const [w, ...args] = words as [string, ...string[]];
  const isHost = (n: string): boolean => ctx.hosts.has(n);
  const needHosts = (names: string[]): string | undefined => {
    for (const n of names) {
      if (!isHost(n)) {
        return ctx.switches.has(n) ? `${n} is a switch, not a host` : `no host named "${n}"`;
      }
    }
    return undefined;
  };
  switch (w) {
    case 'exit':
    case 'quit':
      return { kind: 'exit' };
    case 'help':
    case '?':
      return { kind: 'help' };
    case 'pingall':
      if (args.length > 0) return { kind: 'error', message: 'usage: pingall' };
      return { kind: 'pingall' };
    case 'dump':
    case 'nodes':
    case 'links':
      if (args.length > 0) return { kind: 'error', message: `usage: ${w}` };
      return { kind: w };
    case 'ping': {
      if (args.length < 2 || args.length > 3) {
        return { kind: 'error', message: 'usage: ping H1 H2 [COUNT]' };
      }
      const bad = needHosts([args[0]!, args[1]!]);
      if (bad !== undefined) return { kind: 'error', message: bad };
      const n = count(args[2], 'COUNT', 1000);
      if (typeof n === 'string') return { kind: 'error', message: n };
      return { kind: 'ping', src: args[0]!, dst: args[1]!, count: n < 0 ? 1 : n };
    }
    case 'iperf': {
      if (args.length === 1 || args.length > 3) {
        return { kind: 'error', message: 'usage: iperf [H1 H2 [SECONDS]]' };
      }
      const names = [...ctx.hosts.keys()];
      const [client, server] =
        args.length === 0 ? [names[0], names[names.length - 1]] : [args[0]!, args[1]!];
      if (client === undefined || server === undefined || client === server) {
        return { kind: 'error', message: 'iperf needs two different hosts' };
      }
      const bad = needHosts([client, server]);
      if (bad !== undefined) return { kind: 'error', message: bad };
      const n = count(args[2], 'SECONDS', 3600);
      if (typeof n === 'string') return { kind: 'error', message: n };
      return { kind: 'iperf', client, server, seconds: n < 0 ? 5 : n };
    }
    case 'sh': {
      const rest = text.slice(w.length).trim();
      if (rest === '') return { kind: 'error', message: 'usage: sh COMMAND...' };
      return { kind: 'sh', command: rest };
    }
    case 'link': {
      const state = args[2];
      if (args.length !== 3 || (state !== 'up' && state !== 'down')) {
        return { kind: 'error', message: 'usage: link A B up|down' };
      }
      for (const n of [args[0]!, args[1]!]) {
        if (!isHost(n) && !ctx.switches.has(n)) {
          return { kind: 'error', message: `no node named "${n}"` };
        }
      }
      return { kind: 'link', a: args[0]!, b: args[1]!, up: state === 'up' };
    }
    default: {
      if (isHost(w)) {
        const rest = text.slice(w.length).trim();
        if (rest === '') return { kind: 'error', message: `usage: ${w} COMMAND...` };
        return { kind: 'host', host: w, command: substituteHosts(rest, ctx.hosts) };
      }
      if (ctx.switches.has(w)) {
        return {
          kind: 'error',
          message: `${w} is a switch; run commands on hosts (use ovs-ofctl/ovs-vsctl for switches)`,
        };
      }
      return { kind: 'error', message: `*** Unknown command: ${text} (try help)` };
    }
  }
}

/** Where {@link runCommand} writes. */
export interface CommandIo {
  /** Standard output, whole lines or chunks of a host command's output (no newline added). */
  out(s: string): void;
  /** Standard error, same. */
  err(s: string): void;
  /** Aborting interrupts the command (a host command is killed, pingall stops early). */
  signal?: AbortSignal;
}

/** Outcome of {@link runCommand}. */
export interface CommandOutcome {
  /** False when the command failed: an error, a lost ping, a host command's non-zero status. */
  ok: boolean;
  /** True for `exit`/`quit`. */
  exit: boolean;
}

/** The output of `dump`. */
export function dumpText(net: Topo): string {
  const lines: string[] = [];
  for (const h of net.hosts) {
    const vlan = h.vlan !== undefined ? ` vlan=${h.vlan}@${h.vlanAt ?? 'host'}` : '';
    lines.push(
      `<Host ${h.name}: ${h.iface}:${h.ip}/${h.prefixLen} mac=${h.mac}${vlan} ns=${h.ns} ` +
        `switch=${h.switch}:${h.port}>`,
    );
  }
  for (const s of net.graph.switches) {
    const ports: string[] = [];
    for (const l of net.links) {
      if (l.a === s.name) ports.push(`${l.aPort}:${l.aIface}`);
      if (l.b === s.name) ports.push(`${l.bPort}:${l.bIface}`);
    }
    ports.sort((x, y) => Number.parseInt(x, 10) - Number.parseInt(y, 10));
    lines.push(`<Switch ${s.name}: dpid=${s.dpid} ports=${ports.join(',') || '-'}>`);
  }
  return lines.map((l) => `${l}\n`).join('');
}

/** The output of `links`. */
export function linksText(net: Topo): string {
  return net.links
    .map(
      (l) =>
        `${l.a}:${l.aIface}<->${l.b}:${l.bIface} (${l.up ? 'up' : 'down'}` +
        `${l.mtu !== undefined ? `, mtu ${l.mtu}` : ''})\n`,
    )
    .join('');
}

/** Carries out `cmd` on `net`. Never rejects: failures are written to `io.err`. */
export async function runCommand(
  net: Topo,
  cmd: TopoCommand,
  io: CommandIo,
): Promise<CommandOutcome> {
  const ok = (v = true): CommandOutcome => ({ ok: v, exit: false });
  try {
    switch (cmd.kind) {
      case 'empty':
        return ok();
      case 'exit':
        return { ok: true, exit: true };
      case 'help':
        io.out(PROMPT_HELP);
        return ok();
      case 'error':
        io.err(`${cmd.message}\n`);
        return ok(false);
      case 'pingall': {
        const r = await net.pingAll({
          print: (l) => io.out(`${l}\n`),
          ...(io.signal ? { signal: io.signal } : {}),
        });
        return ok(r.received === r.sent);
      }
      case 'ping': {
        const r = await net.ping(cmd.src, cmd.dst, cmd.count);
        const rtt = r.rttMs !== undefined ? `, rtt avg ${r.rttMs} ms` : '';
        io.out(`*** Ping: ${cmd.src} -> ${cmd.dst}: ${r.received}/${r.sent} received${rtt}\n`);
        return ok(r.received === r.sent);
      }
      case 'iperf': {
        io.out(`*** Iperf: testing TCP bandwidth between ${cmd.client} and ${cmd.server}\n`);
        const r = await net.iperf(cmd.client, cmd.server, cmd.seconds);
        // Mininet's order: what the server measured, then what the client measured.
        io.out(`*** Results: ['${formatBps(r.receivedBps)}', '${formatBps(r.sentBps)}']\n`);
        return ok();
      }
      case 'dump':
        io.out(dumpText(net));
        return ok();
      case 'nodes':
        io.out(
          `available nodes are: \n${[...net.hosts.map((h) => h.name), ...net.graph.switches.map((s) => s.name)].join(' ')}\n`,
        );
        return ok();
      case 'links':
        io.out(linksText(net));
        return ok();
      case 'link':
        await net.setLink(cmd.a, cmd.b, cmd.up);
        return ok();
      case 'sh':
      case 'host': {
        const code = await net.exec(cmd.kind === 'sh' ? undefined : cmd.host, cmd.command, {
          onStdout: (s) => io.out(s),
          onStderr: (s) => io.err(s),
          ...(io.signal ? { signal: io.signal } : {}),
        });
        return ok(code === 0);
      }
    }
  } catch (e) {
    io.err(`*** Error: ${(e as Error).message}\n`);
    return ok(false);
  }
}

/** Command words and node names for tab completion. */
export function completions(ctx: CommandContext): string[] {
  return [
    'pingall',
    'ping',
    'iperf',
    'dump',
    'nodes',
    'links',
    'link',
    'help',
    'exit',
    'quit',
    'sh',
    'up',
    'down',
    ...ctx.hosts.keys(),
    ...ctx.switches,
  ];
}

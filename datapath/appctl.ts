/**
 * Datapath appctl commands, in OVS's output formats (checked against OVS 3.1's userspace
 * datapath): `dpctl/show`, `dpctl/dump-flows`, `dpctl/del-flows`, `revalidator/purge`,
 * `upcall/show` and `netdev-dummy/receive`. They register into any registry with the shape of
 * appctl/'s (structural: the datapath may not import appctl/).
 */
import { buildFrame } from '../lib/packet/build.js';
import { parseFlow } from '../lib/packet/format.js';
import { formatActions } from './actions.js';
import type { DpifNetdev } from './dpif-netdev.js';
import type { DpFlowInfo } from './dpif.js';
import { DummyNetdev, findDummy } from './netdev-dummy.js';
import { formatOdpKey, formatStatsTcpFlags } from './odp-format.js';

/** A command as the registry takes it. */
export interface DpAppctlCommand {
  /** Command name (`dpctl/show`). */
  name: string;
  /** Argument synopsis. */
  usage: string;
  /** Fewest arguments. */
  minArgs: number;
  /** Most arguments. */
  maxArgs: number;
  /** Runs the command; throws an Error whose message is the error reply. */
  handler(args: string[]): string | Promise<string>;
}

/** Anything commands can be registered into (appctl's AppctlRegistry fits). */
export interface DpAppctlRegistry {
  /** Adds a command. */
  register(cmd: DpAppctlCommand): void;
}

/** How the commands find the datapaths and the time. */
export interface DpAppctlContext {
  /** The datapaths, in display order. */
  datapaths(): readonly DpifNetdev[];
}

function pick(ctx: DpAppctlContext, name: string | undefined): DpifNetdev[] {
  const all = ctx.datapaths();
  if (name === undefined) return [...all];
  const bare = name.includes('@') ? name.slice(name.indexOf('@') + 1) : name;
  const dp = all.find((d) => d.name === bare);
  if (!dp) throw new Error(`${name}: no such datapath`);
  return [dp];
}

/** Seconds since `used` as OVS prints `used:` (`never`, `0.555s`). */
export function formatUsed(used: number, now: number): string {
  if (used < 0) return 'never';
  return `${(Math.max(0, now - used) / 1000).toFixed(3)}s`;
}

function ufid(id: number): string {
  const h = id.toString(16).padStart(12, '0');
  return `00000000-0000-0000-0000-${h}`;
}

/**
 * One `dpctl/dump-flows` line (without newline). `verbose` = `-m`; `withNames` prints port
 * names instead of numbers (`--names`; by default with `-m`, as OVS does).
 */
export function formatDpFlow(
  dp: DpifNetdev,
  f: DpFlowInfo,
  now: number,
  verbose = false,
  withNames = verbose,
): string {
  const names = new Map(dp.ports().map((p) => [p.port, p.name]));
  const pn = withNames ? (n: number): string | undefined => names.get(n) : undefined;
  let s = verbose ? `ufid:${ufid(f.id)}, ` : '';
  s += formatOdpKey(f.key, f.mask, pn);
  s += `, packets:${f.packets}, bytes:${f.bytes}, used:${formatUsed(f.used, now)}`;
  if (f.tcpFlags !== 0) s += `, flags:${formatStatsTcpFlags(f.tcpFlags)}`;
  s += `, actions:${formatActions(f.actions, pn)}`;
  return s;
}

function show(dp: DpifNetdev, withStats: boolean): string {
  const st = dp.stats();
  let s = `${dp.type}@${dp.name}:\n`;
  s += `  lookups: hit:${st.emcHits + st.megaflowHits} missed:${st.misses} lost:${st.lost}\n`;
  s += `  flows: ${st.flows}\n`;
  for (const p of dp.ports()) {
    s += `  port ${p.port}: ${p.name}${p.type === 'system' ? '' : ` (${p.type})`}\n`;
    if (withStats) {
      const n = p.netdev.stats();
      s += `    RX packets:${n.rxPackets} errors:${n.rxErrors} dropped:${n.rxDropped} overruns:? frame:?\n`;
      s += `    TX packets:${n.txPackets} errors:${n.txErrors} dropped:${n.txDropped} aborted:? carrier:?\n`;
      s += `    collisions:?\n`;
      s += `    RX bytes:${n.rxBytes}  TX bytes:${n.txBytes}\n`;
    }
  }
  return s;
}

function parseHex(s: string): Uint8Array | undefined {
  const h = s.replace(/^0x/i, '');
  if (h.length === 0 || h.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(h)) return undefined;
  const b = new Uint8Array(h.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return b;
}

/**
 * Builds a frame from a `netdev-dummy/receive` argument: hex bytes, or a flow in ovs-ofctl
 * syntax (lib/packet/format.ts parseFlow) composed by lib/packet/build.ts. Throws on bad input.
 */
export function packetFromArg(arg: string): Uint8Array {
  if (/^(0x)?[0-9a-fA-F]+$/.test(arg) && arg.length >= 28) {
    const b = parseHex(arg);
    if (b) return b;
  }
  const { key } = parseFlow(arg);
  return buildFrame(key, { minSize: 60 });
}

/** Registers the datapath commands. */
export function registerDatapathCommands(reg: DpAppctlRegistry, ctx: DpAppctlContext): void {
  const now = (dp: DpifNetdev): number => dp.clockNow();
  reg.register({
    name: 'dpctl/show',
    usage: '[-s] [dp...]',
    minArgs: 0,
    maxArgs: 4,
    handler(args) {
      const s = args.includes('-s') || args.includes('--statistics');
      const rest = args.filter((a) => !a.startsWith('-'));
      const dps = rest.length === 0 ? pick(ctx, undefined) : rest.flatMap((n) => pick(ctx, n));
      return dps.map((dp) => show(dp, s)).join('');
    },
  });
  reg.register({
    name: 'dpctl/dump-flows',
    usage: '[-m] [dp]',
    minArgs: 0,
    maxArgs: 3,
    handler(args) {
      const verbose = args.includes('-m') || args.includes('--more');
      const rest = args.filter((a) => !a.startsWith('-'));
      let out = '';
      for (const dp of pick(ctx, rest[0])) {
        const flows = dp.flows().sort((a, b) => a.id - b.id);
        if (flows.length === 0) continue;
        out += 'flow-dump from the main thread:\n';
        const t = now(dp);
        for (const f of flows) out += formatDpFlow(dp, f, t, verbose) + '\n';
      }
      return out;
    },
  });
  reg.register({
    name: 'dpctl/del-flows',
    usage: '[dp]',
    minArgs: 0,
    maxArgs: 1,
    handler(args) {
      for (const dp of pick(ctx, args[0])) dp.flushAll();
      return '';
    },
  });
  reg.register({
    name: 'revalidator/purge',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    handler() {
      for (const dp of ctx.datapaths()) dp.flushAll();
      return '';
    },
  });
  reg.register({
    name: 'upcall/show',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    handler() {
      let s = '';
      for (const dp of ctx.datapaths()) {
        const st = dp.stats();
        s += `${dp.type}@${dp.name}:\n`;
        s += `  flows         : (current ${st.flows}) (avg ${st.flows}) (max ${dp.maxFlows}) (limit ${dp.config().flowLimit})\n`;
        s += `  dump duration : 1ms\n`;
        s += `  ufid enabled : true\n\n`;
        s += `  1: (keys ${st.flows})\n`;
      }
      return s;
    },
  });
  reg.register({
    name: 'netdev-dummy/receive',
    usage: 'name packet|flow...',
    minArgs: 2,
    maxArgs: 64,
    handler(args) {
      const name = args[0]!;
      let netdev: DummyNetdev | undefined;
      let owner: DpifNetdev | undefined;
      for (const dp of ctx.datapaths()) {
        const p = dp.portByName(name);
        if (p && p.netdev instanceof DummyNetdev) {
          netdev = p.netdev;
          owner = dp;
          break;
        }
      }
      netdev ??= findDummy(name);
      if (!netdev) throw new Error('no such dummy netdev');
      for (const a of args.slice(1)) {
        let frame: Uint8Array;
        try {
          frame = packetFromArg(a);
        } catch (e) {
          // As OVS: the packets before the bad one have been received and processed.
          owner?.poll(1 << 30);
          throw new Error(`bad packet or flow syntax: ${(e as Error).message}`);
        }
        netdev.receive(frame);
      }
      owner?.poll(1 << 30);
      return '';
    },
  });
}

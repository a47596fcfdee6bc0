/**
 * appctl commands of the forwarding path, as OVS names and prints them: `ofproto/trace`,
 * `ofproto/list`, `fdb/show`, `fdb/flush`. They register into any registry with the
 * appctl registry's shape (ofproto does not import appctl/); errors are thrown as Error with
 * the text to report.
 */
import { formatFdb } from './normal.js';
import { traceCommand } from './trace.js';
import type { Xlate } from './xlate.js';

/** One command, structurally the appctl registry's AppctlCommand. */
export interface CommandSpec {
  /** Command name. */
  name: string;
  /** Usage synopsis. */
  usage: string;
  /** Fewest arguments. */
  minArgs: number;
  /** Most arguments. */
  maxArgs: number;
  /** Runs it; returns the text or throws Error with the error text. */
  handler(args: string[]): string | Promise<string>;
}

/** What the commands register into. */
export interface CommandRegistry {
  /** Adds a command. */
  register(cmd: CommandSpec): void;
}

/** The bridges the commands act on. */
export interface BridgeDirectory {
  /** The translator of the bridge named `name`. */
  get(name: string): Xlate | undefined;
  /** Every bridge name. */
  names(): string[];
}

/** A {@link BridgeDirectory} over a map. */
export function mapDirectory(m: ReadonlyMap<string, Xlate>): BridgeDirectory {
  return { get: (n) => m.get(n), names: () => [...m.keys()] };
}

/** Registers ofproto/trace, ofproto/list, fdb/show and fdb/flush. */
export function registerOfprotoCommands(reg: CommandRegistry, bridges: BridgeDirectory): void {
  reg.register({
    name: 'ofproto/trace',
    usage: '{[dp_name] odp_flow | bridge br_flow} [OPTIONS...] [-generate|packet]',
    minArgs: 1,
    maxArgs: Infinity,
    handler: (args) => traceCommand(args, (n) => bridges.get(n)),
  });
  reg.register({
    name: 'ofproto/list',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    handler: () =>
      bridges
        .names()
        .sort()
        .map((n) => `${n}\n`)
        .join(''),
  });
  reg.register({
    name: 'fdb/show',
    usage: 'bridge',
    minArgs: 1,
    maxArgs: 1,
    handler: (args) => {
      const x = bridges.get(args[0]!);
      if (!x) throw new Error('no such bridge');
      x.mac.expire();
      return formatFdb(x.mac);
    },
  });
  reg.register({
    name: 'fdb/flush',
    usage: '[bridge]',
    minArgs: 0,
    maxArgs: 1,
    handler: (args) => {
      if (args.length === 1) {
        const x = bridges.get(args[0]!);
        if (!x) throw new Error('no such bridge');
        x.mac.flush();
      } else {
        for (const n of bridges.names()) bridges.get(n)?.mac.flush();
      }
      return 'table successfully flushed\n';
    },
  });
}

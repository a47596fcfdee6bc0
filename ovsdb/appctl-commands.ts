/**
 * ovs-appctl commands of the OVSDB server, registered into whatever command registry the daemon
 * passes (appctl/ is above ovsdb/ in the dependency order, so the registry is taken by shape):
 *
 * | command | output |
 * | --- | --- |
 * | `ovsdb-server/compact [DB...]` | compacts the file storage of the databases (all by default); `no database by that name` |
 * | `ovsdb-server/list-remotes` | one remote per line, sorted |
 * | `ovsdb-server/add-remote REMOTE` | starts a remote; error text when it cannot |
 * | `ovsdb-server/remove-remote REMOTE` | stops a remote; `no such remote` when absent |
 * | `ovsdb-server/list-dbs` | one database per line, sorted |
 * | `memory/show` | `atoms:N cells:N monitors:N sessions:N rows:N triggers:N locks:N databases:N` |
 *
 * Handlers signal failure by throwing an Error whose message is the text to show.
 */
import type { RemoteManager } from './remotes.js';
import type { OvsdbServer } from './server.js';

/** One command as the appctl registry takes it. */
export interface AppctlCommandSpec {
  /** Command name, e.g. `ovsdb-server/list-dbs`. */
  name: string;
  /** Argument synopsis shown by `list-commands`. */
  usage: string;
  /** Fewest arguments accepted. */
  minArgs: number;
  /** Most arguments accepted (`Infinity` = no limit). */
  maxArgs: number;
  /** Runs the command; the returned text is the reply body. Throwing replies with an error. */
  handler(args: string[]): string | Promise<string>;
}

/** The registry shape this module needs (appctl/'s registry satisfies it). */
export interface AppctlRegistryLike {
  /** Adds a command. */
  register(cmd: AppctlCommandSpec): void;
}

/** Options of {@link registerOvsdbCommands}. */
export interface OvsdbAppctlOptions {
  /** Also register `memory/show` (default true; turn off when the daemon composes its own). */
  memoryShow?: boolean;
}

/** The `memory/show` line for the OVSDB server, in OVS's `key:value` style. */
export function ovsdbMemoryReport(server: OvsdbServer): string {
  const s = server.stats();
  return `atoms:${s.atoms} cells:${s.cells} monitors:${s.monitors} sessions:${s.sessions} rows:${s.rows} triggers:${s.triggers} locks:${s.locks} databases:${s.databases}\n`;
}

/** Registers the OVSDB server's appctl commands. */
export function registerOvsdbCommands(
  registry: AppctlRegistryLike,
  server: OvsdbServer,
  remotes: RemoteManager,
  opts: OvsdbAppctlOptions = {},
): void {
  registry.register({
    name: 'ovsdb-server/compact',
    usage: '[DB]...',
    minArgs: 0,
    maxArgs: Infinity,
    handler: async (args) => {
      await server.compact(args);
      return '';
    },
  });
  registry.register({
    name: 'ovsdb-server/list-remotes',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    handler: () =>
      remotes
        .list()
        .map((r) => `${r}\n`)
        .join(''),
  });
  registry.register({
    name: 'ovsdb-server/add-remote',
    usage: 'REMOTE',
    minArgs: 1,
    maxArgs: 1,
    handler: async (args) => {
      await remotes.add(args[0]!);
      return '';
    },
  });
  registry.register({
    name: 'ovsdb-server/remove-remote',
    usage: 'REMOTE',
    minArgs: 1,
    maxArgs: 1,
    handler: async (args) => {
      if (!(await remotes.remove(args[0]!))) throw new Error('no such remote');
      return '';
    },
  });
  registry.register({
    name: 'ovsdb-server/list-dbs',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    handler: () =>
      server
        .databaseNames()
        .map((n) => `${n}\n`)
        .join(''),
  });
  if (opts.memoryShow ?? true) {
    registry.register({
      name: 'memory/show',
      usage: '',
      minArgs: 0,
      maxArgs: 0,
      handler: () => ovsdbMemoryReport(server),
    });
  }
}

/**
 * The appctl command registry: named commands with argument-count bounds, run by the
 * ovs-appctl-compatible control socket ({@link AppctlServer}), the REST API and tests alike.
 * Error texts are those of OVS's unixctl server, so `ovs-appctl` users see familiar messages.
 */

/** One appctl command. */
export interface AppctlCommand {
  /** The command name as typed after `ovs-appctl`, e.g. `ofproto/trace`. No whitespace. */
  name: string;
  /** Argument synopsis shown by `list-commands`, e.g. `[bridge] flow`; may be empty. */
  usage: string;
  /** Fewest arguments accepted. */
  minArgs: number;
  /** Most arguments accepted; `Infinity` for no limit. */
  maxArgs: number;
  /**
   * Runs the command with its arguments (already checked against minArgs/maxArgs) and returns
   * the text to print. Throw {@link AppctlError} for an error reply (ovs-appctl prints it to
   * stderr and exits 2); any other exception is reported the same way with its message.
   */
  handler: (args: string[]) => string | Promise<string>;
}

/** An error a command reports to its caller; the message is the text shown. */
export class AppctlError extends Error {
  override readonly name = 'AppctlError';
}

/**
 * The error text OVS's unixctl server gives for calling `name` with `argc` arguments, or
 * undefined if the call is acceptable. `cmd` is the registered command, if any.
 */
export function commandCallError(
  name: string,
  cmd: AppctlCommand | undefined,
  argc: number,
): string | undefined {
  if (!cmd) {
    return `"${name}" is not a valid command (use "list-commands" to see a list of valid commands)`;
  }
  if (argc < cmd.minArgs) return `"${name}" command requires at least ${cmd.minArgs} arguments`;
  if (argc > cmd.maxArgs) return `"${name}" command takes at most ${cmd.maxArgs} arguments`;
  return undefined;
}

/** A set of appctl commands. */
export class AppctlRegistry {
  private readonly commands = new Map<string, AppctlCommand>();

  /**
   * Adds a command. Throws if the name is already registered, is empty or holds whitespace, or if
   * the argument bounds are inconsistent.
   */
  register(cmd: AppctlCommand): void {
    if (cmd.name === '' || /\s/.test(cmd.name)) {
      throw new Error(`invalid appctl command name "${cmd.name}"`);
    }
    if (this.commands.has(cmd.name)) {
      throw new Error(`appctl command "${cmd.name}" is already registered`);
    }
    if (
      !(cmd.minArgs >= 0) ||
      !(cmd.maxArgs >= cmd.minArgs) ||
      !Number.isInteger(cmd.minArgs) ||
      !(Number.isInteger(cmd.maxArgs) || cmd.maxArgs === Infinity)
    ) {
      throw new Error(
        `appctl command "${cmd.name}": bad argument bounds ${cmd.minArgs}..${cmd.maxArgs}`,
      );
    }
    this.commands.set(cmd.name, { ...cmd });
  }

  /** Removes a command; removing an unknown name is a no-op. */
  unregister(name: string): void {
    this.commands.delete(name);
  }

  /** The command called `name`, if registered. */
  get(name: string): AppctlCommand | undefined {
    return this.commands.get(name);
  }

  /** Every command, sorted by name. */
  list(): AppctlCommand[] {
    return [...this.commands.values()].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  }

  /**
   * Runs `name` with `args` and resolves with its text. Rejects with {@link AppctlError} carrying
   * OVS's message for an unknown command or a wrong argument count, and with whatever the
   * handler throws otherwise.
   */
  async run(name: string, args: string[]): Promise<string> {
    const cmd = this.commands.get(name);
    const err = commandCallError(name, cmd, args.length);
    if (err !== undefined || !cmd) throw new AppctlError(err);
    return await cmd.handler([...args]);
  }
}

/**
 * The appctl commands every tsvswitch daemon offers, formatted as OVS prints them:
 * `list-commands`, `version`, `exit`, `vlog/list`, `vlog/set`, `coverage/show`,
 * `coverage/read-counter`, `memory/show`.
 *
 * Logging differs from OVS in one way: a module has a single level shared by every destination,
 * so `vlog/list` shows that level in each of the console/syslog/file columns and `vlog/set`
 * accepts a destination but applies the level everywhere.
 */
import { allCounters, formatCoverage } from '../lib/counters.js';
import { LOG_LEVELS, listLogLevels, setLogLevel } from '../lib/log.js';
import { AppctlError, type AppctlRegistry } from './registry.js';

/** What the built-in commands need from the daemon. */
export interface BuiltinsContext {
  /** Program name shown by `version`, e.g. `tsvs-vswitchd`. */
  programName: string;
  /** Version string shown by `version`, e.g. `0.1.0`. */
  version: string;
  /**
   * Called by `exit` after its (empty) reply has been queued; the daemon shuts down.
   * `cleanup` is true for `exit --cleanup` (as in ovs-vswitchd: also remove datapath state).
   */
  exit: (opts?: { cleanup: boolean }) => void;
  /** Product name in the `version` line; default `tsvswitch`. */
  product?: string;
  /** Extra `key:value` figures for `memory/show` (e.g. rules, ports), merged with the process's. */
  memoryReport?: () => Record<string, number>;
}

const DESTINATIONS = ['console', 'syslog', 'file'] as const;

/** Parsed `vlog/set` spec. */
interface VlogSpec {
  module: string; // 'ANY' for all
  level: string; // vlog level name
}

function isLevel(w: string): boolean {
  return (LOG_LEVELS as readonly string[]).includes(w.toLowerCase());
}
function isDestination(w: string): boolean {
  return (DESTINATIONS as readonly string[]).includes(w.toLowerCase());
}
function knownModule(w: string): string | undefined {
  const lw = w.toLowerCase();
  return listLogLevels().find((m) => m.module.toLowerCase() === lw)?.module;
}

/**
 * Parses one OVS vlog spec: words separated by spaces, commas, colons or tabs, each a module,
 * a destination, a level or `ANY`; the level defaults to `dbg` and the module to every module.
 */
function parseVlogSpec(spec: string): VlogSpec {
  const words = spec.split(/[ ,:\t]+/).filter((w) => w !== '');
  if (words[0] && /^(pattern|facility)$/i.test(words[0])) {
    throw new AppctlError(`vlog/set: ${words[0].toLowerCase()} settings are not supported`);
  }
  let module: string | undefined;
  let level: string | undefined;
  let destination: string | undefined;
  for (const w of words) {
    if (w.toLowerCase() === 'any') continue;
    if (isDestination(w)) {
      if (destination !== undefined) throw new AppctlError('cannot specify multiple destinations');
      destination = w;
    } else if (isLevel(w)) {
      if (level !== undefined) throw new AppctlError('cannot specify multiple levels');
      level = w.toLowerCase();
    } else {
      const m = knownModule(w);
      if (m === undefined) throw new AppctlError(`no destination, level, or module "${w}"`);
      if (module !== undefined) throw new AppctlError('cannot specify multiple modules');
      module = m;
    }
  }
  return { module: module ?? 'ANY', level: level ?? 'dbg' };
}

/** The `vlog/list` table: OVS's layout, one level per module repeated in each column. */
export function formatVlogList(): string {
  const lines = [
    '                 console    syslog    file\n',
    '                 -------    ------    ------\n',
  ];
  for (const { module, level } of listLogLevels()) {
    const l = level.toUpperCase().padStart(4);
    lines.push(`${module.padEnd(16)}  ${l}       ${l}       ${l}\n`);
  }
  return lines.join('');
}

/** `memory/show` text: sorted `key:value` pairs separated by spaces, as OVS prints them. */
export function formatMemory(extra: Record<string, number> = {}): string {
  const m = process.memoryUsage();
  const all: Record<string, number> = {
    'array-buffers': m.arrayBuffers,
    external: m.external,
    'heap-total': m.heapTotal,
    'heap-used': m.heapUsed,
    rss: m.rss,
    ...extra,
  };
  return (
    Object.keys(all)
      .sort()
      .map((k) => `${k}:${all[k]}`)
      .join(' ') + '\n'
  );
}

/** Registers the built-in commands on `reg`. Throws if one of the names is already taken. */
export function registerBuiltins(reg: AppctlRegistry, ctx: BuiltinsContext): void {
  reg.register({
    name: 'list-commands',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    handler: () =>
      'The available commands are:\n' +
      reg
        .list()
        .map((c) => `  ${c.name.padEnd(23)} ${c.usage}\n`)
        .join(''),
  });

  reg.register({
    name: 'version',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    handler: () => `${ctx.programName} (${ctx.product ?? 'tsvswitch'}) ${ctx.version}\n`,
  });

  reg.register({
    name: 'exit',
    usage: '[--cleanup]',
    minArgs: 0,
    maxArgs: 1,
    handler: (args) => {
      const cleanup = args[0] === '--cleanup';
      if (args.length > 0 && !cleanup) throw new AppctlError(`exit: unknown option "${args[0]}"`);
      // Run after the reply is queued so that ovs-appctl gets its answer.
      setImmediate(() => ctx.exit({ cleanup }));
      return '';
    },
  });

  reg.register({
    name: 'vlog/list',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    handler: () => formatVlogList(),
  });

  reg.register({
    name: 'vlog/set',
    usage: '{spec | PATTERN:destination:pattern}',
    minArgs: 0,
    maxArgs: Infinity,
    handler: (args) => {
      // `vlog/set MODULE LEVEL` as two arguments is taken as one spec (OVS would read the
      // second word as "every module at LEVEL", which surprises people).
      let specs = args;
      if (
        args.length === 2 &&
        knownModule(args[0]!) !== undefined &&
        !/[ ,:\t]/.test(args[0]!) &&
        isLevel(args[1]!)
      ) {
        specs = [`${args[0]}:${args[1]}`];
      }
      const parsed = specs.map(parseVlogSpec); // validate all before applying any
      for (const { module, level } of parsed) setLogLevel(module, level);
      return '';
    },
  });

  reg.register({
    name: 'coverage/show',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    handler: () => formatCoverage(),
  });

  reg.register({
    name: 'coverage/read-counter',
    usage: 'COUNTER',
    minArgs: 1,
    maxArgs: 1,
    handler: (args) => {
      const c = allCounters().find((x) => x.name === args[0]);
      if (!c) throw new AppctlError('No such counter');
      return `${c.total}\n`;
    },
  });

  reg.register({
    name: 'memory/show',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    handler: () => formatMemory(ctx.memoryReport?.()),
  });
}

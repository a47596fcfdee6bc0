/**
 * Logging: one pino root logger, a child logger per module, and levels changeable at run time
 * (appctl `vlog/set`, `vlog/list`). Modules call {@link getLogger} once at load time.
 */
import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino';

/** Levels accepted by vlog/set, in OVS's words and pino's. */
export const LOG_LEVELS = ['off', 'emer', 'err', 'warn', 'info', 'dbg'] as const;
/** A vlog level name. */
export type VlogLevel = (typeof LOG_LEVELS)[number];

const VLOG_TO_PINO: Record<VlogLevel, LevelWithSilent> = {
  off: 'silent',
  emer: 'fatal',
  err: 'error',
  warn: 'warn',
  info: 'info',
  dbg: 'debug',
};
const PINO_TO_VLOG: Record<string, VlogLevel> = {
  silent: 'off',
  fatal: 'emer',
  error: 'err',
  warn: 'warn',
  info: 'info',
  debug: 'dbg',
  trace: 'dbg',
};

let root: Logger = pino({
  level: process.env.TSVS_LOG_LEVEL ?? 'warn',
  base: { pid: process.pid },
});
let defaultLevel: LevelWithSilent = root.level as LevelWithSilent;
const modules = new Map<string, Logger>();

/** Converts an OVS vlog level name (or a pino level name) to pino's. Throws on an unknown name. */
export function toPinoLevel(level: string): LevelWithSilent {
  if (level in VLOG_TO_PINO) return VLOG_TO_PINO[level as VlogLevel];
  if (['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace'].includes(level)) {
    return level as LevelWithSilent;
  }
  throw new Error(`unknown log level "${level}"`);
}

/**
 * Re-creates the root logger writing to `dest` (default stderr) at `level`, and sets every module
 * to that level. Called once by the daemon at start.
 */
export function configureLogging(level: string, dest?: DestinationStream): void {
  defaultLevel = toPinoLevel(level);
  root = dest
    ? pino({ level: defaultLevel, base: { pid: process.pid } }, dest)
    : pino({ level: defaultLevel, base: { pid: process.pid } });
  // A new configuration sets every module to the new level (vlog/set changes them afterwards).
  for (const name of modules.keys()) {
    const child = root.child({ module: name });
    child.level = defaultLevel;
    modules.set(name, child);
    const proxy = proxies.get(name);
    if (proxy) proxy.target = child;
  }
}

interface ProxyState {
  target: Logger;
}
const proxies = new Map<string, ProxyState>();

/**
 * A module's logger. The returned object stays valid across {@link configureLogging}: it forwards
 * to the current child logger.
 */
export function getLogger(module: string): Logger {
  let l = modules.get(module);
  if (!l) {
    l = root.child({ module });
    l.level = defaultLevel;
    modules.set(module, l);
  }
  let p = proxies.get(module);
  if (!p) {
    p = { target: l };
    proxies.set(module, p);
  }
  const state = p;
  return new Proxy({} as Logger, {
    get(_t, prop) {
      const v = Reflect.get(state.target, prop, state.target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(state.target) : v;
    },
    set(_t, prop, value) {
      return Reflect.set(state.target, prop, value, state.target);
    },
  });
}

/** Sets the level of one module, or of every module when `module` is `ANY`. */
export function setLogLevel(module: string, level: string): void {
  const pl = toPinoLevel(level);
  if (module === 'ANY') {
    defaultLevel = pl;
    root.level = pl;
    for (const l of modules.values()) l.level = pl;
    return;
  }
  const l = modules.get(module);
  if (!l) throw new Error(`unknown module "${module}"`);
  l.level = pl;
}

/** Every module with its current level in vlog's words, sorted by module name. */
export function listLogLevels(): { module: string; level: VlogLevel }[] {
  return [...modules.entries()]
    .map(([module, l]) => ({ module, level: PINO_TO_VLOG[l.level] ?? 'info' }))
    .sort((a, b) => a.module.localeCompare(b.module));
}

/**
 * Starting an OVSDB server the way the daemon needs it: one data database (Open_vSwitch by
 * default) backed by an OVS-format file, `_Server`, the requested remotes and, when a registry
 * is given, the `ovsdb-server/*` appctl commands.
 */
import { readFile } from 'node:fs/promises';
import type { Clock } from '../lib/clock.js';
import { parseJson } from '../lib/json.js';
import { registerOvsdbCommands, type AppctlRegistryLike } from './appctl-commands.js';
import { Database } from './database.js';
import { RemoteManager, type RemoteOptions } from './remotes.js';
import { parseSchema, vswitchDbSchema } from './schema.js';
import { OvsdbServer, type DatabaseStorage, type OvsdbServerOptions } from './server.js';
import { Storage } from './storage.js';
import type { DatabaseSchema } from './types.js';

export { OvsdbServer } from './server.js';
export { RemoteManager, parseRemote, type RemoteStatus } from './remotes.js';
export { registerOvsdbCommands, ovsdbMemoryReport } from './appctl-commands.js';

/** Options of {@link startOvsdb}. */
export interface StartOvsdbOptions {
  /**
   * Database file (OVS standalone format). Created from the schema when missing. Omit (or pass
   * `undefined`) for a purely in-memory database.
   */
  dbPath?: string;
  /** Schema file used to create a missing database (default: our vswitch.ovsschema). */
  schemaPath?: string;
  /** Remotes to start, e.g. `punix:/run/tsvs/db.sock`, `ptcp:6640:127.0.0.1`. */
  remotes: string[];
  /** Clock for probes, timeouts and storage dates. */
  clock: Clock;
  /** Where to register the appctl commands (ovsdb-server/* and memory/show), if anywhere. */
  registry?: AppctlRegistryLike;
  /** Register `memory/show` too (default true). */
  memoryShow?: boolean;
  /** Default options for every remote (TLS material, probe interval). */
  remoteOptions?: RemoteOptions;
  /** Server options other than the clock. */
  server?: Omit<OvsdbServerOptions, 'clock'>;
}

/** A running OVSDB server. */
export interface RunningOvsdb {
  /** The server. */
  readonly server: OvsdbServer;
  /** Its remotes. */
  readonly remotes: RemoteManager;
  /** The data database (e.g. Open_vSwitch). */
  readonly db: Database;
  /** Its file storage, when `dbPath` was given. */
  readonly storage: Storage | undefined;
  /** Stops remotes, closes sessions and the file. */
  close(): Promise<void>;
}

/** Wraps a {@link Storage} attached to a database as the server's {@link DatabaseStorage}. */
export function storageAdapter(storage: Storage): DatabaseStorage {
  return {
    waitDurable: (commit) => storage.written(commit) ?? storage.sync(),
    compact: () => storage.compact(),
    close: () => storage.close(),
  };
}

async function loadSchema(path: string | undefined): Promise<DatabaseSchema> {
  if (path === undefined) return vswitchDbSchema();
  return parseSchema(parseJson(await readFile(path, 'utf8')));
}

/**
 * Opens (or creates) the database, starts the server and its remotes. Rejects when the file or
 * schema cannot be read or a remote cannot start (everything started so far is stopped).
 */
export async function startOvsdb(opts: StartOvsdbOptions): Promise<RunningOvsdb> {
  const createSchema = await loadSchema(opts.schemaPath);
  let storage: Storage | undefined;
  let schema = createSchema;
  if (opts.dbPath !== undefined) {
    storage = await Storage.open(opts.dbPath, { create: createSchema.json, clock: opts.clock });
    schema = parseSchema(storage.schemaJson);
  }
  const db = new Database(schema);
  const server = new OvsdbServer({ ...opts.server, clock: opts.clock });
  if (storage) {
    storage.attach(db);
    server.addDatabase(db, storageAdapter(storage));
  } else {
    server.addDatabase(db);
  }
  const remotes = new RemoteManager(
    (t, info) => server.accept(t, info),
    opts.clock,
    opts.remoteOptions ?? {},
  );
  const close = async (): Promise<void> => {
    await remotes.closeAll();
    await server.close();
  };
  try {
    for (const r of opts.remotes) await remotes.add(r);
  } catch (err) {
    await close();
    throw err;
  }
  if (opts.registry) {
    registerOvsdbCommands(opts.registry, server, remotes, { memoryShow: opts.memoryShow ?? true });
  }
  return { server, remotes, db, storage, close };
}

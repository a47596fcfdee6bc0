/**
 * Our OVSDB server as its own process, for bench/ovsdb.ts (so the load generator never shares its
 * event loop and its CPU time is its own).
 *
 *   node bench/ovsdb-child.ts DIR DBPATH SCHEMA TCPPORT
 *
 * Serves `punix:DIR/db.sock` and `ptcp:TCPPORT:127.0.0.1`, and the `ovsdb-server/*` appctl
 * commands on `DIR/ovsdb-server.ctl` (so `ovs-appctl -t DIR/ovsdb-server.ctl ovsdb-server/compact`
 * works as for OVS). Prints `READY {"pid":N}` once listening; SIGTERM stops it.
 */
import { join } from 'node:path';
import { AppctlRegistry } from '../appctl/registry.js';
import { AppctlServer } from '../appctl/server.js';
import { realClock } from '../lib/clock.js';
import { startOvsdb } from '../ovsdb/index.js';

const [dir, dbPath, schemaPath, port] = process.argv.slice(2);
if (!dir || !dbPath || !schemaPath || !port) {
  console.error('usage: ovsdb-child DIR DBPATH SCHEMA TCPPORT');
  process.exit(2);
}
const registry = new AppctlRegistry();
const ovsdb = await startOvsdb({
  dbPath,
  schemaPath,
  remotes: [`punix:${join(dir, 'db.sock')}`, `ptcp:${port}:127.0.0.1`],
  clock: realClock,
  registry,
});
const ctl = new AppctlServer(registry, { path: join(dir, 'ovsdb-server.ctl'), clock: realClock });
await ctl.listen();
let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await ctl.close();
  await ovsdb.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.stdout.write(`READY ${JSON.stringify({ pid: process.pid })}\n`);

/**
 * `tsvs vswitchd tcp:IP:PORT` against Debian's ovsdb-server on a database created from Open
 * vSwitch's own vswitch.ovsschema: the scenario of vswitchd-replica-scenario.ts over TCP.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { requirePeer } from '../helpers/peers.js';
import {
  SCHEMAS,
  freePort,
  scenario,
  startDebianOvsdbServer,
} from './vswitchd-replica-scenario.js';

// Several daemons start in turn (each a Node process): slow on a loaded machine.
t.setTimeout(300_000);

void t.test("tsvs vswitchd over TCP against Debian's ovsdb-server (OVS's schema)", async (t) => {
  if (!requirePeer(t, 'ovs-vsctl', 'ovs-ofctl', 'ovs-appctl', 'ovsdb-server', 'ovsdb-tool')) return;
  const dir = mkdtempSync(join(tmpdir(), 'trep-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  await startDebianOvsdbServer(t, dir, SCHEMAS.OVS, `ptcp:${port}:127.0.0.1`);
  await scenario(t, `tcp:127.0.0.1:${port}`, dir);
});

/**
 * Differential check of the golden files: each file is replayed with `ovsdb-client transact`
 * against Debian's ovsdb-server 3.1 (database created by `ovsdb-tool create` from OUR schema
 * files, unix socket in a temp dir) and every result must equal the recorded expectation after
 * uuid normalisation. This is what proves the goldens, which transactions.test.ts then holds
 * our engine to. Missing tools: fails under CI=true, skipped otherwise.
 */
import t from 'tap';
import { fileURLToPath } from 'node:url';
import type { Json } from '../../../ovsdb/types.js';
import { peerPath, requirePeer } from '../../helpers/peers.js';
import {
  GOLDEN_SCHEMA_PATH,
  UuidNames,
  canon,
  loadGoldens,
  stabiliseIndexErrors,
  startRefServer,
} from './golden-lib.js';

const VSWITCH = fileURLToPath(new URL('../../../schemas/vswitch.ovsschema', import.meta.url));

void t.test('golden transactions agree with ovsdb-server 3.1', (t) => {
  if (!requirePeer(t, 'ovsdb-server', 'ovsdb-tool', 'ovsdb-client')) return;
  const tools = {
    ovsdbTool: peerPath('ovsdb-tool')!,
    ovsdbServer: peerPath('ovsdb-server')!,
    ovsdbClient: peerPath('ovsdb-client')!,
  };
  for (const { name, file } of loadGoldens()) {
    // _Server exists in every ovsdb-server, so any database file will do for those goldens.
    const schemaPath = file.schema === 'golden' ? GOLDEN_SCHEMA_PATH : VSWITCH;
    const dbName =
      file.schema === 'golden' ? 'Golden' : file.schema === 'vswitch' ? 'Open_vSwitch' : '_Server';
    const srv = startRefServer(tools, schemaPath);
    try {
      const names = new UuidNames();
      file.txns.forEach((tx, i) => {
        const got = srv.transact(dbName, names.substitute(tx.ops) as Json[]);
        t.same(
          stabiliseIndexErrors(canon(names.normalise(got))),
          stabiliseIndexErrors(canon(tx.expect)),
          `${name} txn ${i}${tx.note ? ` (${tx.note})` : ''}`,
        );
      });
    } finally {
      srv.stop();
    }
  }
  t.end();
});

/**
 * Proves schemas/vswitch.ovsschema is column-compatible with OVS 3.1's Open_vSwitch schema: the
 * installed /usr/share/openvswitch/vswitch.ovsschema is parsed with our parser and every table
 * and column is compared fact by fact (type with constraints, isRoot, maxRows, indexes,
 * mutable, ephemeral). Missing file: fails under CI=true, skipped otherwise.
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseSchema, serverDbSchema, vswitchDbSchema } from '../../ovsdb/schema.js';
import type { BaseType, ColumnType, Json } from '../../ovsdb/types.js';
import { canon, startRefServer } from '../golden/ovsdb/golden-lib.js';
import { inCI, peerPath, requirePeer } from '../helpers/peers.js';

const OVS_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

function baseFacts(b: BaseType | undefined): unknown {
  if (!b) return undefined;
  return {
    type: b.type,
    enum: b.enum ? [...b.enum].map(String) : undefined,
    minInteger: b.minInteger?.toString(),
    maxInteger: b.maxInteger?.toString(),
    minReal: b.minReal,
    maxReal: b.maxReal,
    minLength: b.minLength,
    maxLength: b.maxLength,
    refTable: b.refTable,
    refType: b.refType,
  };
}

function typeFacts(ct: ColumnType): unknown {
  return { key: baseFacts(ct.key), value: baseFacts(ct.value), min: ct.min, max: String(ct.max) };
}

void t.test('our Open_vSwitch schema has the same facts as OVS 3.1', (t) => {
  if (!existsSync(OVS_SCHEMA)) {
    if (inCI()) t.fail(`${OVS_SCHEMA} is missing (install openvswitch-common)`);
    else t.plan(0, `skip: ${OVS_SCHEMA} is missing (install openvswitch-common)`);
    if (inCI()) t.end();
    return;
  }
  const theirs = parseSchema(JSON.parse(readFileSync(OVS_SCHEMA, 'utf8')));
  const ours = vswitchDbSchema();
  t.equal(ours.name, theirs.name, 'name');
  t.equal(ours.version, theirs.version, 'version');
  t.same([...ours.tables.keys()].sort(), [...theirs.tables.keys()].sort(), 'same tables');
  let columns = 0;
  for (const [name, tt] of theirs.tables) {
    const ot = ours.tables.get(name);
    if (!ot) continue;
    t.equal(ot.isRoot, tt.isRoot, `${name}: isRoot`);
    t.equal(ot.maxRows, tt.maxRows, `${name}: maxRows`);
    t.same(ot.indexes, tt.indexes, `${name}: indexes`);
    t.same([...ot.columns.keys()].sort(), [...tt.columns.keys()].sort(), `${name}: same columns`);
    for (const [cname, tc] of tt.columns) {
      const oc = ot.columns.get(cname);
      if (!oc) continue;
      columns++;
      t.same(typeFacts(oc.type), typeFacts(tc.type), `${name}.${cname}: type`);
      t.equal(oc.mutable, tc.mutable, `${name}.${cname}: mutable`);
      t.equal(oc.ephemeral, tc.ephemeral, `${name}.${cname}: ephemeral`);
    }
  }
  t.ok(columns >= 180, `compared ${columns} columns`);
  t.end();
});

void t.test('the raw JSON of both files declares the same ephemeral/mutable/isRoot flags', (t) => {
  if (!existsSync(OVS_SCHEMA)) {
    if (inCI()) t.fail(`${OVS_SCHEMA} is missing`);
    else t.plan(0, `skip: ${OVS_SCHEMA} is missing`);
    if (inCI()) t.end();
    return;
  }
  // The parsed comparison above normalises; this one checks the declared flags themselves.
  type Raw = {
    tables: Record<
      string,
      { isRoot?: boolean; columns: Record<string, { ephemeral?: boolean; mutable?: boolean }> }
    >;
  };
  const theirs = JSON.parse(readFileSync(OVS_SCHEMA, 'utf8')) as Raw;
  const ours = JSON.parse(
    readFileSync(new URL('../../schemas/vswitch.ovsschema', import.meta.url), 'utf8'),
  ) as Raw;
  for (const [name, tt] of Object.entries(theirs.tables)) {
    const ot = ours.tables[name]!;
    t.equal(ot.isRoot ?? false, tt.isRoot ?? false, `${name}: declared isRoot`);
    for (const [c, tc] of Object.entries(tt.columns)) {
      t.equal(
        ot.columns[c]?.ephemeral ?? false,
        tc.ephemeral ?? false,
        `${name}.${c}: declared ephemeral`,
      );
      t.equal(ot.columns[c]?.mutable ?? true, tc.mutable ?? true, `${name}.${c}: declared mutable`);
    }
  }
  t.end();
});

void t.test('get_schema: our normalised schema JSON equals what ovsdb-server 3.1 serves', (t) => {
  if (!requirePeer(t, 'ovsdb-server', 'ovsdb-tool', 'ovsdb-client')) return;
  const srv = startRefServer(
    {
      ovsdbTool: peerPath('ovsdb-tool')!,
      ovsdbServer: peerPath('ovsdb-server')!,
      ovsdbClient: peerPath('ovsdb-client')!,
    },
    fileURLToPath(new URL('../../schemas/vswitch.ovsschema', import.meta.url)),
  );
  try {
    for (const [db, ours] of [
      ['Open_vSwitch', vswitchDbSchema()],
      ['_Server', serverDbSchema()],
    ] as const) {
      const theirs = srv.getSchema(db) as { [k: string]: Json };
      const mine = { ...ours.json };
      // ovsdb-server reports the cksum of the file it loaded; compare everything else.
      delete mine.cksum;
      delete theirs.cksum;
      t.same(canon(mine), canon(theirs), `${db} schema JSON`);
    }
  } finally {
    srv.stop();
  }
  t.end();
});

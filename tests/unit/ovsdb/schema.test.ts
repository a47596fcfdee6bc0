/* eslint-disable @typescript-eslint/no-explicit-any -- tests poke at JSON shapes */
import t from 'tap';
import {
  parseSchema,
  serverDbSchema,
  vswitchDbSchema,
  validateSchemaJson,
  computeCksum,
} from '../../../ovsdb/schema.js';
import { OvsdbError } from '../../../ovsdb/errors.js';
import { loadSchemaFile, readSchemaText, schemaFilePath } from '../../../schemas/index.js';

void t.test('shipped schemas parse', async (t) => {
  const s = vswitchDbSchema();
  t.equal(s.name, 'Open_vSwitch');
  t.equal(s.version, '8.3.1');
  t.equal(s.tables.size, 19);
  t.equal(s.tables.get('Open_vSwitch')!.isRoot, true);
  t.equal(s.tables.get('Open_vSwitch')!.maxRows, 1);
  t.equal(s.tables.get('Port')!.isRoot, false);
  t.same(s.tables.get('Bridge')!.indexes, [['name']]);
  const name = s.tables.get('Bridge')!.columns.get('name')!;
  t.equal(name.mutable, false);
  const fm = s.tables.get('Bridge')!.columns.get('fail_mode')!;
  t.same(fm.type.key.enum, ['secure', 'standalone']);
  t.equal(fm.type.min, 0);
  t.equal(fm.type.max, 1);
  const tag = s.tables.get('Port')!.columns.get('tag')!;
  t.equal(tag.type.key.minInteger, 0n);
  t.equal(tag.type.key.maxInteger, 4095n);
  const srv = serverDbSchema();
  t.equal(srv.name, '_Server');
  t.equal(srv.tables.get('Database')!.isRoot, true, 'no root table at all: every table is root');
  t.notOk('isRoot' in (srv.json.tables as Record<string, any>).Database);
  t.same((srv.json.tables as Record<string, any>).Database.columns.model, {
    type: { key: { type: 'string', enum: ['set', ['clustered', 'relay', 'standalone']] } },
  });
});

void t.test('schema file path resolves from source', async (t) => {
  t.match(schemaFilePath('vswitch.ovsschema'), /schemas\/vswitch\.ovsschema$/);
  t.equal((loadSchemaFile('vswitch') as Record<string, any>).name, 'Open_vSwitch');
});

function err(fn: () => unknown): OvsdbError {
  try {
    fn();
  } catch (e) {
    if (e instanceof OvsdbError) return e;
    throw e;
  }
  throw new Error('no error thrown');
}

void t.test('ajv validation names the JSON path', async (t) => {
  let e = err(() =>
    validateSchemaJson({ name: 'x', tables: { T: { columns: { c: { type: 'int' } } } } }),
  );
  t.equal(e.tag, 'syntax error');
  t.match(e.details, /^\$\.tables\.T\.columns\.c\.type/);
  e = err(() =>
    validateSchemaJson({
      name: 'x',
      tables: { T: { columns: { c: { type: 'integer', bogus: 1 } } } },
    }),
  );
  t.match(e.details, /^\$\.tables\.T\.columns\.c: member 'bogus' is not allowed here/);
  e = err(() => validateSchemaJson({ tables: {} }));
  t.match(e.details, /^\$: required member 'name' is missing/);
  e = err(() => validateSchemaJson({ name: 'x', tables: { T: { columns: {} } } }));
  t.match(e.details, /^\$\.tables\.T\.columns/);
  e = err(() =>
    validateSchemaJson({ name: 'x', tables: { _T: { columns: { a: { type: 'integer' } } } } }),
  );
  t.match(e.details, /^\$\.tables/);
  e = err(() =>
    validateSchemaJson({
      name: 'x',
      version: '1.2',
      tables: { T: { columns: { a: { type: 'integer' } } } },
    }),
  );
  t.match(e.details, /^\$\.version/);
});

void t.test('semantic checks', async (t) => {
  const mk = (col: any, extra: any = {}) => ({
    name: 'db',
    tables: { T: { columns: { c: col }, ...extra } },
  });
  let e = err(() => parseSchema(mk({ type: { key: { type: 'uuid', refTable: 'Nope' } } })));
  t.match(
    e.details,
    /\$\.tables\.T\.columns\.c\.type\.key\.refTable: column c key refers to undefined table Nope/,
  );
  e = err(() =>
    parseSchema(mk({ type: { key: { type: 'integer', minInteger: 5, maxInteger: 1 } } })),
  );
  t.match(e.details, /minInteger exceeds maxInteger/);
  e = err(() => parseSchema(mk({ type: { key: 'integer', min: 1, max: 0 } })));
  t.match(e.details, /\$\.tables\.T\.columns\.c\.type/);
  e = err(() => parseSchema(mk({ type: 'integer' }, { indexes: [['zz']] })));
  t.match(e.details, /zz is not a valid column name/);
  e = err(() => parseSchema(mk({ type: 'integer', ephemeral: true }, { indexes: [['c']] })));
  t.match(e.details, /ephemeral columns \(such as c\) may not be indexed/);
  e = err(() => parseSchema(mk({ type: { key: { type: 'string', enum: ['set', ['a', 1]] } } })));
  t.match(e.details, /enum: expected string/);
  e = err(() =>
    parseSchema(
      mk({
        type: { key: { type: 'string', minLength: 1 }, value: { type: 'integer', refTable: 'T' } },
      }),
    ),
  );
  t.match(e.details, /refTable/);
  const ok = parseSchema(
    mk({
      type: { key: { type: 'uuid', refTable: 'T', refType: 'weak' }, min: 0, max: 'unlimited' },
    }),
  );
  t.equal(ok.tables.get('T')!.columns.get('c')!.type.key.refType, 'weak');
  t.equal(ok.tables.get('T')!.columns.get('c')!.type.max, Infinity);
  t.same((ok.json.tables as Record<string, any>).T.columns.c.type, {
    key: { type: 'uuid', refTable: 'T', refType: 'weak' },
    min: 0,
    max: 'unlimited',
  });
});

void t.test('strong refs to non-root tables make a column persistent', async (t) => {
  const s = parseSchema({
    name: 'db',
    tables: {
      R: {
        isRoot: true,
        columns: { a: { type: { key: { type: 'uuid', refTable: 'N' }, min: 0 }, ephemeral: true } },
      },
      N: { columns: { b: { type: 'integer' } } },
    },
  });
  t.equal(s.tables.get('R')!.columns.get('a')!.ephemeral, false);
  t.equal(s.tables.get('R')!.columnList[0]!.ephemeral, false);
});

void t.test('cksum is stable and ignores the cksum member', async (t) => {
  const a = computeCksum('{"name":"x","cksum":"1 2","tables":{}}');
  const b = computeCksum('{"name":"x","cksum":"9 9","tables":{}}');
  t.equal(a, b);
  t.match(a, /^\d+ \d+$/);
});

void t.test('shipped schema files carry their own cksum', (t) => {
  for (const key of ['vswitch', 'server'] as const) {
    const text = readSchemaText(key);
    const declared = (JSON.parse(text) as { cksum: string }).cksum;
    t.equal(
      declared,
      computeCksum(text),
      `${key}: update "cksum" with computeCksum() after editing`,
    );
  }
  t.end();
});

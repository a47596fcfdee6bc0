import { rmSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { OvsdbComponent, standardComponents } from '../../../vswitchd/components.js';
import { Daemon } from '../../../vswitchd/daemon.js';
import { resolvePaths } from '../../../vswitchd/paths.js';
import { makeTempDir } from '../../helpers/daemon.js';
import {
  OvsdbClient,
  OvsdbTxnError,
  mapItems,
  namedUuid,
  ovsMap,
  ovsSet,
  setItems,
  uuidAtom,
  uuidOf,
} from '../../../topo/ovsdb-client.js';

t.test('value helpers', async (t) => {
  t.same(ovsSet([1]), 1);
  t.same(ovsSet([1, 2]), ['set', [1, 2]]);
  t.same(ovsMap({ b: '2', a: '1' }), [
    'map',
    [
      ['a', '1'],
      ['b', '2'],
    ],
  ]);
  t.same(mapItems(['map', [['k', 'v']]]), { k: 'v' });
  t.same(setItems(['set', [1, 2]]), [1, 2]);
  t.same(setItems(3), [3]);
  t.same(setItems(undefined), []);
  t.equal(uuidOf(uuidAtom('x')), 'x');
  t.equal(uuidOf(namedUuid('x')), undefined);
});

t.test('connect to a missing socket rejects with ENOENT', async (t) => {
  const dir = t.testdir({});
  await t.rejects(OvsdbClient.connect(join(dir, 'db.sock')), { code: 'ENOENT' });
});

t.test('insert a bridge, wait for cur_cfg, read ofport back, remove it', async (t) => {
  const dir = makeTempDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const d = await Daemon.start({
    paths: resolvePaths({ rundir: join(dir, 'run'), logFile: null }),
    components: standardComponents({ inMemory: true }),
  });
  const c = await OvsdbClient.connect(d.paths.dbSocket);
  t.teardown(async () => {
    c.close();
    await d.stop();
  });
  const root = await c.rootUuid();
  const [, , br] = await c.transactAndWait(root, [
    { op: 'insert', table: 'Interface', row: { name: 'b0', type: 'internal' }, 'uuid-name': 'i' },
    {
      op: 'insert',
      table: 'Port',
      row: { name: 'b0', interfaces: namedUuid('i') },
      'uuid-name': 'p',
    },
    { op: 'insert', table: 'Bridge', row: { name: 'b0', ports: namedUuid('p') }, 'uuid-name': 'b' },
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [['_uuid', '==', uuidAtom(root)]],
      mutations: [['bridges', 'insert', ['set', [namedUuid('b')]]]],
    },
  ]);
  const bu = uuidOf(br?.uuid);
  t.ok(bu, 'bridge uuid');
  const ifs = await c.select('Interface', [['name', '==', 'b0']], ['ofport']);
  t.equal(ifs[0]?.ofport, 65534, 'the switch applied it before the wait returned');
  await c.transactAndWait(root, [
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [['_uuid', '==', uuidAtom(root)]],
      mutations: [['bridges', 'delete', uuidAtom(bu!)]],
    },
  ]);
  t.same(await c.select('Bridge', [], ['name']), []);
  await t.rejects(c.transact([{ op: 'insert', table: 'NoSuch', row: {} }]), OvsdbTxnError);
});

t.test('waitApplied gives up when no switch applies the change', async (t) => {
  const dir = makeTempDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const d = await Daemon.start({
    paths: resolvePaths({ rundir: join(dir, 'run'), logFile: null }),
    components: [new OvsdbComponent({ inMemory: true })],
  });
  const c = await OvsdbClient.connect(d.paths.dbSocket);
  t.teardown(async () => {
    c.close();
    await d.stop();
  });
  const root = await c.rootUuid();
  await t.rejects(c.transactAndWait(root, [], 100), /did not apply the change/);
});

/**
 * packPuts (datapath/dp-worker.ts): what the main thread posts to the datapath worker in one
 * turn keeps its order, with every run of two or more flow installs packed into one `puts`
 * message whose single buffer holds each flow's key and mask.
 */
import t from 'tap';
import type { DpAction } from '../../../datapath/actions.js';
import { PUT_WORDS, packPuts, type ToWorker } from '../../../datapath/dp-worker.js';
import { FLOW_KEY_WORDS } from '../../../lib/packet/flow-key.js';

function put(id: number): ToWorker {
  const key = new Uint32Array(FLOW_KEY_WORDS).fill(id);
  const mask = new Uint32Array(FLOW_KEY_WORDS).fill(0xf0000000 + id);
  const actions: DpAction[] = [{ type: 'output', port: id }];
  return { t: 'put', id, key, mask, actions };
}

t.test('runs of puts are packed, everything else keeps its place', (t) => {
  const msgs: ToWorker[] = [
    put(1),
    { t: 'del', id: 7 },
    put(2),
    put(3),
    put(4),
    { t: 'flush' },
    put(5),
  ];
  const out = packPuts(msgs);
  t.same(
    out.map((m) => m.t),
    ['put', 'del', 'puts', 'flush', 'put'],
    'a lone put stays a put; three in a row become one puts',
  );
  const p = out[2]!;
  if (p.t !== 'puts') return t.fail('no puts message');
  t.same([...p.ids], [2, 3, 4], 'ids in order');
  t.equal(p.km.length, 3 * PUT_WORDS, 'one buffer: key, mask and masked-key room per flow');
  for (let i = 0; i < 3; i++) {
    const id = 2 + i;
    const b = i * PUT_WORDS;
    t.ok(
      p.km.subarray(b, b + FLOW_KEY_WORDS).every((w) => w === id),
      `flow ${id}: key words`,
    );
    t.ok(
      p.km.subarray(b + FLOW_KEY_WORDS, b + 2 * FLOW_KEY_WORDS).every((w) => w === 0xf0000000 + id),
      `flow ${id}: mask words`,
    );
    t.same(p.actions[i], [{ type: 'output', port: id }], `flow ${id}: actions`);
  }
  t.same(packPuts([]), [], 'nothing in, nothing out');
  t.end();
});

/**
 * Golden hex ↔ decoded message, both directions:
 *  - capture fixtures (hex rebuilt by hand from the reference captures);
 *  - every sample in samples.ts against its frozen bytes in golden.json (bytes whose meaning
 *    `ovs-ofctl ofp-print` confirms in tests/interop/openflow-ofp-print.test.ts).
 * Regenerate golden.json deliberately with `UPDATE_GOLDEN=1 npx tap tests/golden/openflow/golden.test.ts`.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeMessage, encodeMessage } from '../../../openflow/messages.js';
import { fromHex, toHex } from '../../../openflow/print.js';
import { CAPTURES } from './captures.js';
import { SAMPLES } from './samples.js';
import { OFPT } from '../../../openflow/constants.js';
import { OFPMP } from '../../../openflow/constants.js';

const GOLDEN = fileURLToPath(new URL('./golden.json', import.meta.url));

/** Normalises Buffers to plain Uint8Arrays for deep comparison. */
function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return toHex(v);
  if (Array.isArray(v)) return v.map(norm);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  }
  return v;
}

t.test('capture fixtures decode and re-encode byte for byte', (t) => {
  for (const c of CAPTURES) {
    const bytes = fromHex(c.hex);
    t.same(norm(decodeMessage(bytes)), norm(c.msg), `decode: ${c.source}`);
    t.equal(toHex(encodeMessage(c.msg)), toHex(bytes), `encode: ${c.source}`);
  }
  t.end();
});

t.test('samples match golden.json both ways', (t) => {
  const current = Object.fromEntries(SAMPLES.map((s) => [s.name, toHex(encodeMessage(s.msg))]));
  if (process.env.UPDATE_GOLDEN === '1') {
    writeFileSync(GOLDEN, JSON.stringify(current, null, 2) + '\n');
    t.comment('golden.json rewritten');
  }
  const golden = JSON.parse(readFileSync(GOLDEN, 'utf8')) as Record<string, string>;
  t.same(Object.keys(golden).sort(), Object.keys(current).sort(), 'same sample set');
  for (const s of SAMPLES) {
    const hex = golden[s.name];
    if (hex === undefined) continue;
    t.equal(current[s.name], hex, `encode ${s.name}`);
    t.same(norm(decodeMessage(fromHex(hex))), norm(s.msg), `decode ${s.name}`);
  }
  t.end();
});

t.test('samples cover every message type and multipart type', (t) => {
  const seen = new Set<string>();
  const mp = new Set<string>();
  for (const s of [...SAMPLES.map((x) => x.msg), ...CAPTURES.map((x) => x.msg)]) {
    seen.add(s.type);
    if (s.type === 'MULTIPART_REQUEST') mp.add(`req:${s.mpType}`);
    if (s.type === 'MULTIPART_REPLY') mp.add(`rep:${s.mpType}`);
  }
  for (const name of Object.keys(OFPT)) t.ok(seen.has(name), `message ${name} has a golden`);
  t.ok(seen.has('BUNDLE_CONTROL') && seen.has('BUNDLE_ADD_MESSAGE'), 'bundle messages');
  for (const name of Object.keys(OFPMP)) {
    t.ok(mp.has(`req:${name}`), `multipart request ${name}`);
    t.ok(mp.has(`rep:${name}`), `multipart reply ${name}`);
  }
  t.end();
});

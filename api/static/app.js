// tsvswitch web page: polls the REST API for ports and flows, traces packets, shows /events.
// Plain browser JavaScript, no build step.
'use strict';

const $ = (sel) => document.querySelector(sel);
const state = { bridge: '', timer: 0 };

async function getJson(url, init) {
  const r = await fetch(url, init);
  const body = await r.json();
  if (!r.ok) throw new Error(body.detail || body.title || r.statusText);
  return body;
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
}

function fill(tbody, rows, render) {
  const frag = document.createDocumentFragment();
  for (const r of rows) {
    const tr = document.createElement('tr');
    render(tr, r);
    frag.appendChild(tr);
  }
  tbody.replaceChildren(frag);
}

function status(text, isError) {
  const s = $('#status');
  s.textContent = text;
  s.className = isError ? 'error' : 'muted';
}

async function loadBridges() {
  const bridges = await getJson('/api/bridges');
  const sel = $('#bridge');
  const keep = state.bridge;
  sel.replaceChildren(
    ...bridges.map((b) => {
      const o = document.createElement('option');
      o.value = o.textContent = b.name;
      return o;
    }),
  );
  state.bridge = bridges.some((b) => b.name === keep) ? keep : (bridges[0]?.name ?? '');
  sel.value = state.bridge;
  if (!state.bridge) status('no bridges');
}

async function refresh() {
  if (!state.bridge) return;
  const b = encodeURIComponent(state.bridge);
  const table = $('#table').value;
  const [ports, flows] = await Promise.all([
    getJson(`/api/bridges/${b}/ports`),
    getJson(`/api/bridges/${b}/flows${table === '' ? '' : `?table=${encodeURIComponent(table)}`}`),
  ]);
  fill($('#ports tbody'), ports, (tr, p) => {
    cell(tr, p.ofport === 4294967294 ? 'LOCAL' : p.ofport, 'num');
    cell(tr, p.name);
    cell(tr, p.adminState, p.adminState);
    cell(tr, p.linkState, p.linkState);
    for (const k of ['rxPackets', 'txPackets', 'rxBytes', 'txBytes', 'rxDropped', 'txDropped'])
      cell(tr, p.stats[k], 'num');
  });
  fill($('#flows tbody'), flows, (tr, f) => {
    cell(tr, f.table, 'num');
    cell(tr, f.priority, 'num');
    cell(tr, f.cookie, 'code');
    cell(tr, f.match || '(all)', 'code');
    cell(tr, f.actions, 'code');
    cell(tr, f.packets, 'num');
    cell(tr, f.bytes, 'num');
  });
  status(`updated ${new Date().toLocaleTimeString()}`);
}

function tick() {
  refresh()
    .catch((e) => status(e.message, true))
    .finally(() => {
      state.timer = setTimeout(tick, 2000);
    });
}

function connectEvents() {
  const out = $('#events');
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}/events?topics=port,flow,ovsdb`);
  const lines = [];
  ws.onmessage = (m) => {
    lines.push(m.data);
    if (lines.length > 100) lines.shift();
    out.textContent = lines.join('\n');
    out.scrollTop = out.scrollHeight;
    const e = JSON.parse(m.data);
    if (e.topic === 'ovsdb' && e.table === 'Bridge') loadBridges().catch(() => {});
  };
  ws.onclose = () => setTimeout(connectEvents, 3000);
}

$('#bridge').addEventListener('change', (e) => {
  state.bridge = e.target.value;
  clearTimeout(state.timer);
  tick();
});
$('#table').addEventListener('change', () => {
  clearTimeout(state.timer);
  tick();
});
$('#trace').addEventListener('submit', async (e) => {
  e.preventDefault();
  const out = $('#trace-out');
  out.textContent = 'tracing…';
  try {
    const r = await getJson(`/api/bridges/${encodeURIComponent(state.bridge)}/trace`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ flow: $('#flow').value }),
    });
    out.textContent = r.output;
  } catch (err) {
    out.textContent = `error: ${err.message}`;
  }
});

loadBridges()
  .then(tick)
  .catch((e) => status(e.message, true));
connectEvents();

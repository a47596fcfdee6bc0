// tsvswitch web page: bridges and ports with live counters, the topology of `tsvs topo`, the
// flow tables with live counters, a packet tracer that draws ofproto/trace's path, STP and BFD,
// and the /events stream. Plain browser JavaScript, no build step.
//
// Fast by construction: tables are keyed and updated in place (only cells whose text changed are
// touched), the flow view asks for at most FLOW_LIMIT rules, polling pauses while the page is
// hidden, and events only schedule (debounced) refreshes of what they concern.
'use strict';

const FLOW_LIMIT = 500;
const PORT_MS = 1000;
const FLOW_MS = 2000;
const SLOW_MS = 5000;
const LOCAL = 4294967294;
const SVG_NS = 'http://www.w3.org/2000/svg';

const $ = (sel) => document.querySelector(sel);
const state = {
  bridge: '',
  bridges: [],
  ports: new Map(), // name -> last port (for rates and link state)
  portSample: 0,
  stpPorts: new Map(),
  topoText: '',
  topo: undefined,
  traceHits: new Set(),
  timers: {},
  busy: {},
};

async function getJson(url, init) {
  const r = await fetch(url, init);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const e = new Error(body.detail || body.title || r.statusText);
    e.status = r.status;
    throw e;
  }
  return body;
}

function status(text, isError) {
  const s = $('#status');
  s.textContent = text;
  s.className = isError ? 'error' : 'muted';
}

function bridgeUrl(suffix) {
  return `/api/bridges/${encodeURIComponent(state.bridge)}${suffix}`;
}

/** Sets a cell's text only when it changed; flashes numbers that moved. */
function setText(td, value, flash) {
  const text = String(value);
  if (td.textContent === text) return false;
  const had = td.textContent !== '';
  td.textContent = text;
  if (flash && had) {
    td.classList.remove('moved');
    // Restart the animation.
    void td.offsetWidth;
    td.classList.add('moved');
  }
  return true;
}

/**
 * Makes parent's children match `items` (keyed by key(item)): creates missing children with
 * make(item), removes the rest, keeps the order of `items`, and lets update() fill each one.
 * Children that stay are reused, so only what changed is touched.
 */
function syncChildren(parent, items, key, make, update) {
  const existing = new Map();
  for (const el of parent.children) existing.set(el.dataset.key, el);
  let prev = null;
  for (const item of items) {
    const k = key(item);
    let el = existing.get(k);
    if (el) existing.delete(k);
    else {
      el = make(item);
      el.dataset.key = k;
    }
    const want = prev ? prev.nextSibling : parent.firstChild;
    if (want !== el) parent.insertBefore(el, want);
    update(el, item);
    prev = el;
  }
  for (const el of existing.values()) el.remove();
}

/** syncChildren for a table body: rows of `cols` cells (their class names). */
function syncRows(tbody, items, key, cols, update) {
  const make = () => {
    const tr = document.createElement('tr');
    for (const c of cols) {
      const td = document.createElement('td');
      td.className = c;
      tr.appendChild(td);
    }
    return tr;
  };
  syncChildren(tbody, items, key, make, update);
}

/** Runs fn unless a run of the same name is still going. */
async function once(name, fn) {
  if (state.busy[name]) return;
  state.busy[name] = true;
  try {
    await fn();
  } catch (e) {
    status(e.message, true);
  } finally {
    state.busy[name] = false;
  }
}

/** Schedules `name` to run after `ms` (coalescing repeated calls). */
function soon(name, ms, fn) {
  if (state.timers[name]) return;
  state.timers[name] = setTimeout(() => {
    state.timers[name] = 0;
    once(name, fn);
  }, ms);
}

// ------------------------------------------------------------------ bridges and ports

async function loadBridges() {
  const bridges = await getJson('/api/bridges');
  state.bridges = bridges;
  const sel = $('#bridge');
  const keep = state.bridge;
  const names = bridges.map((b) => b.name);
  if ([...sel.options].map((o) => o.value).join('\n') !== names.join('\n')) {
    sel.replaceChildren(
      ...names.map((n) => {
        const o = document.createElement('option');
        o.value = o.textContent = n;
        return o;
      }),
    );
  }
  state.bridge = names.includes(keep) ? keep : (names[0] ?? '');
  sel.value = state.bridge;
  const b = bridges.find((x) => x.name === state.bridge);
  $('#bridge-info').textContent = b
    ? `dpid ${b.datapathId} · ${b.ports.length} ports · ${b.flowCount} flows` +
      (b.controllers.length ? ` · ${b.controllers.join(' ')}` : '')
    : 'no bridges';
  if (state.bridge !== keep) bridgeChanged();
}

const PORT_COLS = [
  'num ofport',
  'name',
  'admin',
  'link',
  'stp',
  'num rx-packets',
  'num tx-packets',
  'num rx-bytes',
  'num tx-bytes',
  'num rx-dropped',
  'num tx-dropped',
  'num rx-rate',
  'num tx-rate',
];

async function loadPorts() {
  if (!state.bridge) {
    $('#ports tbody').replaceChildren();
    return;
  }
  const ports = await getJson(bridgeUrl('/ports'));
  const now = performance.now();
  const dt = state.portSample ? (now - state.portSample) / 1000 : 0;
  state.portSample = now;
  const before = state.ports;
  state.ports = new Map(ports.map((p) => [p.name, p]));
  syncRows(
    $('#ports tbody'),
    ports,
    (p) => p.name,
    PORT_COLS,
    (tr, p) => {
      tr.dataset.port = p.name;
      const c = tr.cells;
      setText(c[0], p.ofport === LOCAL ? 'LOCAL' : p.ofport);
      setText(c[1], p.name);
      setText(c[2], p.adminState);
      c[2].classList.toggle('down', p.adminState !== 'up');
      setText(c[3], p.linkState);
      c[3].classList.toggle('down', p.linkState !== 'up');
      const stp = state.stpPorts.get(p.name);
      setText(c[4], stp && stp.state ? `${stp.state}${stp.role ? ' / ' + stp.role : ''}` : '');
      const s = p.stats;
      [s.rxPackets, s.txPackets, s.rxBytes, s.txBytes, s.rxDropped, s.txDropped].forEach((v, i) =>
        setText(c[5 + i], v, true),
      );
      const old = before.get(p.name);
      const rate = (k) => (old && dt > 0 ? Math.max(0, (s[k] - old.stats[k]) / dt).toFixed(1) : '');
      setText(c[11], rate('rxPackets'));
      setText(c[12], rate('txPackets'));
    },
  );
  paintLinks();
}

// ------------------------------------------------------------------ flows

function flowKey(f) {
  return `${f.table}/${f.priority}/${f.match}`;
}

const FLOW_COLS = [
  'num table',
  'num priority',
  'code cookie',
  'code match',
  'code actions',
  'num packets',
  'num bytes',
  'num age',
];

async function loadFlows() {
  if (!state.bridge) {
    $('#flows tbody').replaceChildren();
    return;
  }
  const table = $('#table').value;
  const q = new URLSearchParams({ limit: String(FLOW_LIMIT) });
  if (table !== '') q.set('table', table);
  const [flows, tables] = await Promise.all([
    getJson(bridgeUrl(`/flows?${q}`)),
    getJson(bridgeUrl('/tables')),
  ]);
  syncRows($('#flows tbody'), flows, flowKey, FLOW_COLS, (tr, f) => {
    const c = tr.cells;
    tr.dataset.table = f.table;
    setText(c[0], f.table);
    setText(c[1], f.priority);
    setText(c[2], f.cookie);
    setText(c[3], f.match || '(all)');
    setText(c[4], f.actions);
    setText(c[5], f.packets, true);
    setText(c[6], f.bytes, true);
    setText(c[7], f.durationSec);
    tr.classList.toggle('hit', state.traceHits.has(flowKey(f)));
  });
  const total = tables.reduce((n, t) => n + t.count, 0);
  const inView = table === '' ? total : (tables.find((t) => String(t.table) === table)?.count ?? 0);
  $('#flow-info').textContent =
    flows.length < inView ? `showing ${flows.length} of ${inView}` : `${flows.length} flows`;
  syncChildren(
    $('#tables'),
    tables,
    (t) => String(t.table),
    (t) => {
      const el = document.createElement('button');
      el.type = 'button';
      el.className = 'chip';
      el.addEventListener('click', () => {
        const input = $('#table');
        input.value = input.value === String(t.table) ? '' : String(t.table);
        once('flows', loadFlows);
      });
      return el;
    },
    (el, t) => {
      el.classList.toggle('selected', String(t.table) === table);
      setText(el, `table ${t.table}: ${t.count} flows · ${t.lookups} lookups · ${t.matched} hits`);
    },
  );
}

// ------------------------------------------------------------------ topology

async function loadTopology() {
  let topo;
  try {
    topo = await getJson('/api/topology');
  } catch (e) {
    if (e.status !== 404) throw e;
    topo = undefined;
  }
  const text = topo ? JSON.stringify(topo) : '';
  if (text === state.topoText) return;
  state.topoText = text;
  state.topo = topo;
  drawTopology();
}

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function drawTopology() {
  const box = $('#topology');
  const hostsTable = $('#hosts');
  const topo = state.topo;
  if (!topo) {
    box.replaceChildren(
      Object.assign(document.createElement('p'), {
        className: 'muted',
        textContent: 'no topology running (tsvs topo SPEC --rundir … starts one)',
      }),
    );
    hostsTable.hidden = true;
    $('#topo-info').textContent = '';
    return;
  }
  $('#topo-info').textContent =
    `${topo.prefix} · ${topo.hosts.length} hosts · ${topo.switches.length} switches · ${topo.links.length} links`;
  const sw = topo.switches.map((s) => s.name);
  const byHostSwitch = new Map(sw.map((s) => [s, []]));
  const orphans = [];
  for (const h of topo.hosts) (byHostSwitch.get(h.switch) ?? orphans).push(h);
  const colW = 170;
  const width =
    Math.max(360, sw.length * colW, ...[...byHostSwitch.values()].map((hs) => hs.length * 90)) + 40;
  const height = 230;
  const pos = new Map();
  sw.forEach((s, i) => pos.set(s, { x: 20 + colW * i + colW / 2, y: 50 }));
  for (const [s, hs] of byHostSwitch) {
    const c = pos.get(s);
    hs.forEach((h, i) => pos.set(h.name, { x: c.x + (i - (hs.length - 1) / 2) * 80, y: 170 }));
  }
  orphans.forEach((h, i) => pos.set(h.name, { x: 60 + i * 80, y: 170 }));
  const svg = svgEl('svg', {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: 'img',
    'aria-label': 'topology',
  });
  for (const l of topo.links) {
    const a = pos.get(l.a);
    const b = pos.get(l.b);
    if (!a || !b) continue;
    const line = svgEl('line', { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: 'link' });
    line.dataset.a = l.aIface;
    line.dataset.b = l.bIface;
    line.dataset.up = String(l.up);
    const title = svgEl('title', {}, `${l.a}:${l.aIface} — ${l.b}:${l.bIface}`);
    line.appendChild(title);
    svg.appendChild(line);
  }
  for (const s of topo.switches) {
    const p = pos.get(s.name);
    const g = svgEl('g', { class: 'switch', transform: `translate(${p.x},${p.y})` });
    g.dataset.name = s.name;
    g.appendChild(svgEl('rect', { x: -45, y: -18, width: 90, height: 36, rx: 6 }));
    g.appendChild(svgEl('text', { y: 5, 'text-anchor': 'middle' }, s.name));
    g.addEventListener('click', () => {
      if (state.bridges.some((b) => b.name === s.name)) {
        $('#bridge').value = s.name;
        state.bridge = s.name;
        bridgeChanged();
      }
    });
    svg.appendChild(g);
  }
  for (const h of topo.hosts) {
    const p = pos.get(h.name);
    const g = svgEl('g', { class: 'host', transform: `translate(${p.x},${p.y})` });
    g.dataset.name = h.name;
    g.appendChild(svgEl('circle', { r: 20 }));
    g.appendChild(svgEl('text', { y: 5, 'text-anchor': 'middle' }, h.name));
    g.appendChild(svgEl('text', { y: 38, 'text-anchor': 'middle', class: 'ip' }, h.ip));
    svg.appendChild(g);
  }
  box.replaceChildren(svg);
  hostsTable.hidden = false;
  syncRows(
    $('#hosts tbody'),
    topo.hosts,
    (h) => h.name,
    ['name', 'code', 'code', 'num', 'code', 'code'],
    (tr, h) => {
      const c = tr.cells;
      setText(c[0], h.name);
      setText(c[1], h.ip);
      setText(c[2], h.mac);
      setText(c[3], h.vlan ?? '');
      setText(c[4], `${h.switch}:${h.port}`);
      setText(c[5], h.netns);
    },
  );
  paintLinks();
}

/** Colours links by the live link state of their switch-side port when the API knows it. */
function paintLinks() {
  for (const line of document.querySelectorAll('#topology line.link')) {
    const live = state.ports.get(line.dataset.b) ?? state.ports.get(line.dataset.a);
    const up = live
      ? live.linkState === 'up' && live.adminState === 'up'
      : line.dataset.up === 'true';
    line.classList.toggle('down', !up);
    if (live) {
      const moved = live.stats.rxPackets + live.stats.txPackets;
      line.classList.toggle(
        'busy',
        line.dataset.last !== undefined && line.dataset.last !== String(moved),
      );
      line.dataset.last = String(moved);
    }
  }
}

// ------------------------------------------------------------------ STP and BFD

async function loadProtocols() {
  const [stp, bfd] = await Promise.all([
    state.bridge ? getJson(bridgeUrl('/stp')).catch(() => undefined) : undefined,
    getJson('/api/bfd'),
  ]);
  state.stpPorts = new Map((stp?.ports ?? []).map((p) => [p.name, p]));
  $('#stp-info').textContent = !stp
    ? ''
    : stp.enabled
      ? `on · bridge ${stp.bridgeId ?? '?'} · root ${stp.designatedRoot ?? '?'}` +
        (stp.isRoot ? ' (this bridge)' : ` · cost ${stp.rootPathCost ?? '?'}`)
      : 'off on this bridge';
  const stpRows = stp?.enabled ? stp.ports : [];
  syncRows(
    $('#stp tbody'),
    stpRows,
    (p) => p.name,
    ['', 'code', 'state', '', 'num'],
    (tr, p) => {
      const c = tr.cells;
      setText(c[0], p.name);
      setText(c[1], p.portId ?? '');
      setText(c[2], p.state ?? '');
      c[2].dataset.state = p.state ?? '';
      setText(c[3], p.role ?? '');
      setText(c[4], p.secInState ?? '');
    },
  );
  const mine = bfd.filter((b) => !state.bridge || !b.bridge || b.bridge === state.bridge);
  $('#bfd-info').textContent = mine.length ? `${mine.length} sessions` : 'no sessions';
  syncRows(
    $('#bfd tbody'),
    mine,
    (b) => b.interface,
    ['', 'state', '', '', 'num', ''],
    (tr, b) => {
      const c = tr.cells;
      setText(c[0], b.interface);
      setText(c[1], b.enabled ? (b.state ?? '…') : 'disabled');
      c[1].dataset.state = b.enabled ? (b.state ?? '') : 'disabled';
      setText(c[2], b.remoteState ?? '');
      setText(c[3], b.forwarding === undefined ? '' : b.forwarding ? 'yes' : 'no');
      setText(c[4], b.flapCount ?? '');
      setText(c[5], b.diagnostic ?? '');
    },
  );
}

// ------------------------------------------------------------------ packet tracer

function drawTrace(r) {
  const box = $('#trace-path');
  const steps = [];
  let lastBridge = '';
  for (const s of r.path) {
    if (s.bridge !== lastBridge) {
      const b = document.createElement('div');
      b.className = 'bridge-mark';
      b.textContent = `bridge ${s.bridge}`;
      steps.push(b);
      lastBridge = s.bridge;
    }
    const el = document.createElement('div');
    el.className = `step${s.miss ? ' miss' : ''}`;
    el.dataset.table = s.table;
    el.style.marginTop = `${s.depth * 14}px`;
    const h = document.createElement('div');
    h.className = 'step-head';
    h.textContent = `table ${s.table}`;
    const m = document.createElement('div');
    m.className = 'code';
    m.textContent = s.miss
      ? 'no match'
      : `${s.match || '(all)'} · priority ${s.priority}${s.cookie ? ` · cookie ${s.cookie}` : ''}`;
    const ul = document.createElement('ul');
    for (const a of s.actions) {
      const li = document.createElement('li');
      li.className = 'code';
      li.textContent = a;
      ul.appendChild(li);
    }
    el.append(h, m, ul);
    steps.push(el);
  }
  const fin = document.createElement('div');
  fin.className = 'step final';
  const fh = document.createElement('div');
  fh.className = 'step-head';
  fh.textContent = 'datapath';
  const fa = document.createElement('div');
  fa.className = 'code';
  fa.textContent = r.datapathActions ?? '?';
  fin.append(fh, fa);
  if (r.megaflow) {
    const mf = document.createElement('div');
    mf.className = 'code small muted';
    mf.textContent = `megaflow ${r.megaflow}`;
    fin.appendChild(mf);
  }
  steps.push(fin);
  const withArrows = [];
  steps.forEach((el, i) => {
    if (i > 0 && el.className !== 'bridge-mark' && steps[i - 1].className !== 'bridge-mark') {
      const a = document.createElement('div');
      a.className = 'arrow';
      a.textContent = '→';
      withArrows.push(a);
    }
    withArrows.push(el);
  });
  box.replaceChildren(...withArrows);
  state.traceHits = new Set(
    r.path
      .filter((s) => !s.miss && s.bridge === state.bridge)
      .map((s) => `${s.table}/${s.priority}/${s.match}`),
  );
  for (const tr of $('#flows tbody').rows)
    tr.classList.toggle('hit', state.traceHits.has(tr.dataset.key));
}

async function runTrace(e) {
  e.preventDefault();
  const out = $('#trace-out');
  out.textContent = 'tracing…';
  try {
    const r = await getJson(bridgeUrl('/trace'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ flow: $('#flow').value }),
    });
    out.textContent = r.output;
    drawTrace(r);
  } catch (err) {
    out.textContent = `error: ${err.message}`;
    $('#trace-path').replaceChildren(
      Object.assign(document.createElement('div'), {
        className: 'error',
        textContent: err.message,
      }),
    );
    $('#trace-raw').open = true;
  }
}

// ------------------------------------------------------------------ events

const eventLines = [];
let eventCount = 0;
let ws;

function connectEvents() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const q = state.bridge ? `?bridges=${encodeURIComponent(state.bridge)}` : '';
  ws = new WebSocket(`${proto}//${location.host}/events${q}`);
  const live = $('#live');
  ws.onopen = () => {
    live.textContent = 'events: live';
    live.className = 'badge on';
  };
  ws.onmessage = (m) => {
    const e = JSON.parse(m.data);
    eventCount++;
    // Counter write-backs (statistics columns) are frequent and not worth a log line.
    const quiet = e.topic === 'ovsdb' && e.columns.every((c) => c === 'statistics');
    if (!quiet && (e.topic !== 'meta' || e.type === 'dropped')) {
      eventLines.push(m.data);
      if (eventLines.length > 100) eventLines.shift();
      soon('event-log', 250, async () => {
        const out = $('#events');
        out.textContent = eventLines.join('\n');
        out.scrollTop = out.scrollHeight;
        $('#event-info').textContent = `${eventCount} received`;
      });
    }
    switch (e.topic) {
      case 'flow':
        if (e.bridge === state.bridge) soon('flows', 250, loadFlows);
        break;
      case 'port':
        soon('bridges', 250, loadBridges);
        if (e.bridge === state.bridge) soon('ports', 250, loadPorts);
        break;
      case 'stp':
      case 'bfd':
        soon('protocols', 250, loadProtocols);
        break;
      case 'ovsdb':
        if (e.table === 'Bridge') soon('bridges', 250, loadBridges);
        break;
      default:
        break;
    }
  };
  ws.onclose = () => {
    live.textContent = 'events: reconnecting';
    live.className = 'badge off';
    setTimeout(connectEvents, 3000);
  };
}

function bridgeChanged() {
  state.ports = new Map();
  state.portSample = 0;
  state.traceHits = new Set();
  $('#ports tbody').replaceChildren();
  $('#flows tbody').replaceChildren();
  if (ws && ws.readyState === 1)
    ws.send(JSON.stringify({ bridges: state.bridge ? [state.bridge] : [] }));
  once('ports', loadPorts);
  once('flows', loadFlows);
  once('protocols', loadProtocols);
}

// ------------------------------------------------------------------ polling

let ticks = 0;
function tick() {
  ticks++;
  if (!document.hidden) {
    once('ports', loadPorts);
    if (ticks % (FLOW_MS / PORT_MS) === 0) once('flows', loadFlows);
    if (ticks % (SLOW_MS / PORT_MS) === 0) {
      once('bridges', loadBridges);
      once('topology', loadTopology);
      once('protocols', loadProtocols);
    }
    status(`updated ${new Date().toLocaleTimeString()}`);
  }
}

$('#bridge').addEventListener('change', (e) => {
  state.bridge = e.target.value;
  bridgeChanged();
});
$('#table').addEventListener('change', () => once('flows', loadFlows));
$('#trace').addEventListener('submit', runTrace);

(async () => {
  await once('bridges', loadBridges);
  await Promise.all([
    once('ports', loadPorts),
    once('flows', loadFlows),
    once('topology', loadTopology),
    once('protocols', loadProtocols),
  ]);
  connectEvents();
  setInterval(tick, PORT_MS);
})();

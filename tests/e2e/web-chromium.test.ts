/**
 * The web page in headless Chromium (Debian's `chromium`, driven by playwright-core) against a
 * running daemon with the API on and a `linear,2` topology of namespaces and veths (root):
 * the page shows the bridges and the topology's hosts and links, a port counter and a flow
 * counter move while the hosts ping each other, a trace draws ofproto/trace's path through two
 * tables and marks the rules it hit, and a screenshot is saved (to the test's temporary
 * directory; also to docs/web-view.png with TSVS_SCREENSHOT=1).
 */
import { copyFileSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { chromium, type Page } from 'playwright-core';
import { loadNative } from '../../datapath/native.js';
import { OFPP } from '../../openflow/constants.js';
import type { MessageOf, OfpMessage } from '../../openflow/messages.js';
import type { Ofconn } from '../../ofproto/ofconn.js';
import { Topo } from '../../topo/index.js';
import { apiComponent } from '../../vswitchd/api-backend.js';
import {
  standardComponents,
  type BridgeComponent,
  type OvsdbComponent,
} from '../../vswitchd/components.js';
import { packageRoot } from '../../vswitchd/paths.js';
import { makeTempDir, startDaemonInProcess } from '../helpers/daemon.js';
import { peerPath, requirePeer } from '../helpers/peers.js';

const WAIT_MS = 45_000;

function ready(t: Parameters<typeof requirePeer>[0]): boolean {
  if (!requirePeer(t, 'chromium', 'ip', 'ping')) return false;
  if (process.getuid?.() !== 0) {
    if (process.env.CI === 'true') t.fail('the topology behind the page needs root');
    else t.plan(0, 'skip: the topology behind the page needs root');
    return false;
  }
  try {
    loadNative();
  } catch (e) {
    if (process.env.CI === 'true') t.fail(`AF_PACKET addon not built: ${(e as Error).message}`);
    else t.plan(0, 'skip: AF_PACKET addon not built (npm run build:native)');
    return false;
  }
  return true;
}

function flowMod(
  tableId: number,
  priority: number,
  match: MessageOf<'FLOW_MOD'>['match'],
  instructions: MessageOf<'FLOW_MOD'>['instructions'],
): OfpMessage {
  return {
    type: 'FLOW_MOD',
    xid: 1,
    cookie: BigInt(0x100 + tableId),
    cookieMask: 0n,
    tableId,
    command: 0,
    idleTimeout: 0,
    hardTimeout: 0,
    priority,
    bufferId: 0xffffffff,
    outPort: OFPP.ANY,
    outGroup: 0xffffffff,
    flags: 0,
    match,
    instructions,
  };
}

/** The `name` attribute of every element matching `selector`. */
async function attrs(page: Page, selector: string, name: string): Promise<(string | null)[]> {
  const loc = page.locator(selector);
  const out: (string | null)[] = [];
  for (let i = 0; i < (await loc.count()); i++) out.push(await loc.nth(i).getAttribute(name));
  return out;
}

/** Waits until the number in `selector`'s text is above `before`. */
async function numberAbove(page: Page, selector: string, before: number): Promise<void> {
  await page.waitForFunction(
    `Number(document.querySelector(${JSON.stringify(selector)})?.textContent ?? '') > ${before}`,
    null,
    { timeout: WAIT_MS },
  );
}

/** The text of `selector` once it is there. */
async function textOf(page: Page, selector: string): Promise<string> {
  await page.waitForSelector(selector, { timeout: WAIT_MS });
  return (await page.textContent(selector)) ?? '';
}

t.test('the web page follows a running topology in headless Chromium', async (t) => {
  if (!ready(t)) return;
  const undo: (() => unknown)[] = [];
  t.teardown(async () => {
    for (const f of undo.reverse()) {
      try {
        await f();
      } catch {
        // keep cleaning
      }
    }
  });
  const shots = makeTempDir('tapi-web-');
  undo.push(() => rmSync(shots, { recursive: true, force: true }));

  const components = standardComponents({ inMemory: true });
  const [, bridge] = components as [OvsdbComponent, BridgeComponent];
  const api = apiComponent(components, { host: '127.0.0.1', port: 0 });
  const d = await startDaemonInProcess({ components: [...components, api] });
  undo.push(() => d.teardown());
  const rundir = d.paths.rundir;
  const prefix = `tapi${process.pid.toString(36).slice(-4)}`;
  const net = await Topo.start({ spec: 'linear,2', rundir, prefix });
  undo.push(() => net.stop());

  // The hosts' switch ports: h1 on s1, h2 on s2.
  const hostPort = (h: string): { sw: string; ifname: string } => {
    const l = net.graph.links.find((x) => x.a.node === h || x.b.node === h)!;
    const sw = l.a.node === h ? l.b : l.a;
    return { sw: sw.node, ifname: net.switchIfname(sw.node, sw.port) };
  };
  const h1 = hostPort('h1');
  t.equal(h1.sw, 's1');

  // Two tables on s1: IPv4 goes through table 1, everything ends in NORMAL.
  const of = bridge.reconciler!.bridges.get('s1')!.ofproto;
  const conn = { send: () => true } as unknown as Ofconn;
  const normal = [
    {
      type: 'APPLY_ACTIONS' as const,
      actions: [{ type: 'OUTPUT' as const, port: OFPP.NORMAL, maxLen: 0 }],
    },
  ];
  for (const m of [
    flowMod(0, 10, [{ field: 'eth_type', value: 0x800 }], [{ type: 'GOTO_TABLE', tableId: 1 }]),
    flowMod(0, 0, [], normal),
    flowMod(1, 5, [], normal),
  ]) {
    of.handleMessage(conn, m, new Uint8Array(0));
  }

  // The topology view reads <rundir>/topo.json, which the topology writes while it runs.
  t.ok(existsSync(join(rundir, 'topo.json')), 'the topology described itself in topo.json');

  const browser = await chromium.launch({
    executablePath: peerPath('chromium'),
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
  undo.push(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(api.url!, { waitUntil: 'load' });

  // Bridges, the live event badge, the topology.
  await page.waitForFunction("document.querySelectorAll('#bridge option').length === 2", null, {
    timeout: WAIT_MS,
  });
  t.same(await attrs(page, '#bridge option', 'value'), ['s1', 's2']);
  t.equal(await page.inputValue('#bridge'), 's1');
  await page.waitForSelector('#live.on', { timeout: WAIT_MS });
  const topoRes = await fetch(`${api.url!}/api/topology`);
  t.equal(topoRes.status, 200, 'GET /api/topology answers', { body: await topoRes.text() });
  await page.waitForSelector('#topology svg g.host', { timeout: WAIT_MS });
  t.same(await attrs(page, '#topology svg g.host', 'data-name'), ['h1', 'h2'], 'hosts drawn');
  t.equal(await page.locator('#topology svg line.link').count(), 3, 'links drawn');
  t.equal(await page.locator('#topology svg g.switch').count(), 2, 'switches drawn');
  t.equal(await page.locator('#hosts tbody tr').count(), 2, 'hosts listed');
  t.match(await textOf(page, '#hosts tbody tr[data-key="h1"]'), /10\.0\.0\.1/);

  // A port counter and a flow counter move while the hosts ping.
  const rxCell = `#ports tbody tr[data-port="${h1.ifname}"] td.rx-packets`;
  const rx0 = Number(await textOf(page, rxCell));
  const flowCell = '#flows tbody tr[data-table="1"] td.packets';
  const flow0 = Number(await textOf(page, flowCell));
  const ping = await net.pingAll();
  t.equal(ping.received, ping.sent, 'the hosts reach each other');
  await numberAbove(page, rxCell, rx0);
  t.ok(Number(await page.textContent(rxCell)) > rx0, `rx packets moved on ${h1.ifname}`);
  await numberAbove(page, flowCell, flow0);
  t.ok(Number(await page.textContent(flowCell)) > flow0, 'the table-1 flow counted the pings');
  t.match(await textOf(page, '#tables'), /table 1: 1 flows/);

  // A trace, drawn as a path through the tables.
  await page.fill('#flow', `in_port=${h1.ifname},icmp,nw_src=10.0.0.1,nw_dst=10.0.0.2`);
  await page.click('#trace button[type=submit]');
  await page.waitForSelector('#trace-path .step.final', { timeout: WAIT_MS });
  t.same(
    await attrs(page, '#trace-path .step:not(.final)', 'data-table'),
    ['0', '1'],
    'the path goes through table 0 then table 1',
  );
  t.match(await page.textContent('#trace-path .step[data-table="1"]'), /NORMAL/i);
  t.match(await page.textContent('#trace-path .step.final'), /datapath/);
  t.match(await page.textContent('#trace-out'), /Datapath actions:/);
  t.equal(await page.locator('#flows tbody tr.hit').count(), 2, 'the rules hit are marked');

  // A flow added now appears without a reload (pushed flow event → refresh of the table).
  of.handleMessage(
    conn,
    flowMod(2, 7, [{ field: 'eth_type', value: 0x806 }], normal),
    new Uint8Array(0),
  );
  await page.waitForSelector('#flows tbody tr[data-table="2"]', { timeout: WAIT_MS });
  t.pass('a new flow shows up');

  // The screenshot, with the trace drawn.
  const shot = join(shots, 'web-view.png');
  await page.screenshot({ path: shot, fullPage: true });
  const png = readFileSync(shot);
  t.same([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
  t.ok(statSync(shot).size > 10_000, 'with something drawn');
  if (process.env.TSVS_SCREENSHOT === '1') {
    const doc = join(packageRoot(), 'docs', 'web-view.png');
    copyFileSync(shot, doc);
    t.comment(`screenshot saved to ${doc}`);
  }

  // A large table: the page asks for at most 500 rules and updates the rows it has in place
  // (the row elements survive a refresh) instead of rebuilding the table every time.
  for (let i = 0; i < 2000; i++) {
    of.handleMessage(
      conn,
      flowMod(
        3,
        100,
        [
          { field: 'eth_type', value: 0x800 },
          { field: 'ipv4_dst', value: 0x0b000000 + i },
        ],
        normal,
      ),
      new Uint8Array(0),
    );
  }
  await page.waitForFunction(
    "/showing 500 of 2004/.test(document.querySelector('#flow-info')?.textContent ?? '')",
    null,
    { timeout: WAIT_MS },
  );
  t.equal(await page.locator('#flows tbody tr').count(), 500, 'at most 500 rows in the page');
  const started = Date.now();
  const r = await fetch(`${api.url!}/api/bridges/s1/flows?limit=500`);
  t.equal(((await r.json()) as unknown[]).length, 500);
  t.comment(`GET /flows?limit=500 over 2004 rules: ${Date.now() - started} ms`);
  await page.evaluate(
    "document.querySelector('#flows tbody tr[data-table=\"1\"]').setAttribute('data-mark', 'kept')",
  );
  const before = Number(await page.textContent(flowCell));
  await net.pingAll();
  await numberAbove(page, flowCell, before);
  t.equal(
    await page.getAttribute('#flows tbody tr[data-table="1"]', 'data-mark'),
    'kept',
    'the same row element was updated in place',
  );

  t.same(pageErrors, [], 'no script errors on the page');
});

/**
 * Mininet-style networks on tsvs driven by a real controller (root): Debian's os-ken running our
 * own learning switch (tests/controllers/learning_switch.py).
 *
 * - single,3, linear,4 and tree,2,2 (depth 2, fanout 2): pingall with 0 % loss, and the flows the
 *   app says it installed are exactly the learned flows `ovs-ofctl -O OpenFlow13 dump-flows BRIDGE`
 *   shows (through the bridge's mgmt socket), next to its table-miss flow.
 * - fail_mode=secure: with the controller killed, forwarding goes on over the installed flows;
 *   after a restart the switches reconnect and the app learns again.
 * - no controller, fail_mode=standalone: pingall with 0 % loss (NORMAL).
 */
import t from 'tap';
import { Topo, type TopoGraph } from '../../topo/index.js';
import {
  netReady,
  ofctlIn,
  parseDumpFlows,
  pollUntil,
  startDaemonInProcessOn,
  tempRundir,
  testPrefix,
  undoStack,
  vsctlIn,
  type DumpedFlow,
} from '../helpers/e2e-net.js';
import {
  LEARNED_COOKIE,
  LEARNING_SWITCH_APP,
  OskenApp,
  type AppEvent,
} from '../helpers/osken-app.js';

// Namespaces, a daemon and controllers on a shared 2-core machine: generous, never asserted.
t.setTimeout(300_000);

/** Learned flows live this long (s): longer than any test, so only the test removes them. */
const IDLE_TIMEOUT = 300;

const dpidOf = (g: TopoGraph, sw: string): number =>
  Number.parseInt(g.switches.find((s) => s.name === sw)!.dpid, 16);

async function flowsOf(rundir: string, bridge: string): Promise<DumpedFlow[]> {
  const r = await ofctlIn(rundir, 'dump-flows', bridge);
  if (r.code !== 0) throw new Error(`ovs-ofctl dump-flows ${bridge}: ${r.stderr}`);
  return parseDumpFlows(r.stdout);
}

/** Waits until the app has installed its table-miss flow on every switch since event `from`. */
async function allReady(app: OskenApp, g: TopoGraph, from: number): Promise<void> {
  for (const sw of g.switches) {
    const dpid = dpidOf(g, sw.name);
    await app.waitEvent((e) => e.event === 'ready' && e.dpid === dpid, `${sw.name} ready`, {
      from,
      timeoutMs: 60_000,
    });
  }
}

/** `in_port,src,dst->out` keys of the app's `flow` events for `dpid` from event `from` on. */
function appFlows(events: AppEvent[], dpid: number, from = 0): string[] {
  const keys = events
    .slice(from)
    .filter((e) => e.event === 'flow' && e.dpid === dpid)
    .map((e) => `${String(e.in_port)},${String(e.src)},${String(e.dst)}->${String(e.out_port)}`);
  return [...new Set(keys)].sort();
}

function dumpedLearned(flows: DumpedFlow[]): string[] {
  return flows
    .filter((f) => f.fields.cookie === `0x${LEARNED_COOKIE.toString(16)}`)
    .map(
      (f) =>
        `${f.fields.in_port},${f.fields.dl_src},${f.fields.dl_dst}->${f.actions.replace(/^output:/, '')}`,
    )
    .sort();
}

async function startOsken(undo: (fn: () => unknown) => void): Promise<OskenApp> {
  const app = await OskenApp.start({
    app: LEARNING_SWITCH_APP,
    env: { TC_LS_IDLE_TIMEOUT: String(IDLE_TIMEOUT) },
  });
  undo(() => app.stop());
  return app;
}

const SPECS = [
  ['single,3', 'a'],
  ['linear,4', 'b'],
  ['tree,depth=2,fanout=2', 'c'],
] as const;

for (const [spec, tag] of SPECS) {
  t.test(`${spec} under the os-ken learning switch: pingall 0 %, flows visible`, async (t) => {
    if (!netReady(t, 'osken-manager', 'ovs-ofctl', 'ovs-vsctl')) return;
    const undo = undoStack(t);
    const rundir = tempRundir(undo);
    const app = await startOsken(undo);
    const lines: string[] = [];
    const net = await Topo.start({
      spec,
      rundir,
      startDaemon: startDaemonInProcessOn,
      controllers: [app.target],
      prefix: testPrefix(tag),
      log: (l) => lines.push(l),
    });
    undo(() => net.stop());
    const g = net.graph;
    for (const sw of g.switches) {
      const mode = await vsctlIn(rundir, 'get', 'Bridge', sw.name, 'fail_mode');
      t.equal(mode.stdout.trim(), 'secure', `${sw.name} fail_mode`);
    }
    await allReady(app, g, 0);

    const r = await net.pingAll();
    t.comment(lines.join('\n'));
    const n = net.hosts.length;
    t.equal(r.sent, n * (n - 1));
    t.equal(r.received, r.sent, 'every ping answered');
    t.equal(r.droppedPct, 0, '0 % dropped');
    t.ok(
      app.events.some((e) => e.event === 'flood'),
      'the app flooded unknown destinations',
    );
    t.notOk(
      app.events.some((e) => e.event === 'error'),
      `no OpenFlow error reached the app: ${JSON.stringify(app.events.filter((e) => e.event === 'error'))}`,
    );

    // The flows the app installed are what ovs-ofctl reads back through the mgmt socket.
    for (const sw of g.switches) {
      const flows = await flowsOf(rundir, sw.name);
      const miss = flows.filter((f) => f.fields.priority === '0');
      t.equal(miss.length, 1, `${sw.name}: one table-miss flow`);
      t.equal(miss[0]?.actions, 'CONTROLLER:65535', `${sw.name}: table-miss to the controller`);
      const learned = flows.filter((f) => f.fields.cookie === `0x${LEARNED_COOKIE.toString(16)}`);
      t.ok(learned.length > 0, `${sw.name}: learned flows present`);
      for (const f of learned) {
        t.equal(f.fields.priority, '1', `${sw.name}: priority`);
        t.equal(f.fields.idle_timeout, String(IDLE_TIMEOUT), `${sw.name}: idle timeout`);
        t.equal(f.fields.table, '0');
      }
      t.same(
        dumpedLearned(flows),
        appFlows(app.events, dpidOf(g, sw.name)),
        `${sw.name}: dump-flows shows exactly the flows the app installed`,
      );
    }
    await net.stop();
  });
}

t.test('fail_mode=secure: forwarding survives the controller; a restart works', async (t) => {
  if (!netReady(t, 'osken-manager', 'ovs-ofctl', 'ovs-vsctl')) return;
  const undo = undoStack(t);
  const rundir = tempRundir(undo);
  const app = await startOsken(undo);
  const lines: string[] = [];
  const net = await Topo.start({
    spec: 'linear,3',
    rundir,
    startDaemon: startDaemonInProcessOn,
    controllers: [app.target],
    prefix: testPrefix('d'),
    log: (l) => lines.push(l),
  });
  undo(() => net.stop());
  const g = net.graph;
  await allReady(app, g, 0);
  const first = await net.pingAll();
  t.equal(first.droppedPct, 0, 'pingall with the controller');

  /** True when every Controller row reports is_connected = `want`. */
  const connected = async (want: boolean): Promise<boolean> => {
    const r = await vsctlIn(rundir, '--columns=is_connected', 'list', 'Controller');
    if (r.code !== 0) return false;
    const flags = [...r.stdout.matchAll(/is_connected\s*:\s*(\w+)/g)].map((m) => m[1]);
    return flags.length === g.switches.length && flags.every((f) => f === String(want));
  };
  t.ok(await pollUntil(() => connected(true), 20_000), 'controller status: connected');

  await app.kill();
  t.ok(await pollUntil(() => connected(false), 30_000), 'controller status: disconnected');
  for (const sw of g.switches) {
    const mode = await vsctlIn(rundir, 'get', 'Bridge', sw.name, 'fail_mode');
    t.equal(mode.stdout.trim(), 'secure', `${sw.name} fail_mode`);
    const flows = await flowsOf(rundir, sw.name);
    t.ok(
      dumpedLearned(flows).length > 0 && !flows.some((f) => f.actions.includes('NORMAL')),
      `${sw.name}: the learned flows stay, no NORMAL fallback`,
    );
  }
  const without = await net.pingAll();
  t.equal(without.received, without.sent, 'pingall with the controller dead: every ping answered');

  const mark = app.events.length;
  await app.restart();
  await allReady(app, g, mark);
  t.ok(await pollUntil(() => connected(true), 30_000), 'reconnected');
  // Forget what was learned, so the next pings must go through the restarted controller. (The
  // hosts' own ARP refreshes may make the app learn again at any moment from here on.)
  for (const sw of g.switches) {
    const r = await ofctlIn(
      rundir,
      'del-flows',
      sw.name,
      `cookie=0x${LEARNED_COOKIE.toString(16)}/-1`,
    );
    t.equal(r.code, 0, r.stderr);
  }
  const afterDelete = app.events.length;
  const again = await net.pingAll();
  t.comment(lines.join('\n'));
  t.equal(again.droppedPct, 0, 'pingall after the restart');
  for (const sw of g.switches) {
    const dpid = dpidOf(g, sw.name);
    const byRestarted = appFlows(app.events, dpid, mark);
    const sinceDelete = appFlows(app.events, dpid, afterDelete);
    const dumped = dumpedLearned(await flowsOf(rundir, sw.name));
    t.ok(sinceDelete.length > 0, `${sw.name}: the restarted app installed flows`);
    t.same(
      dumped.filter((f) => !byRestarted.includes(f)),
      [],
      `${sw.name}: every learned flow shown was installed by the restarted app`,
    );
    t.same(
      sinceDelete.filter((f) => !dumped.includes(f)),
      [],
      `${sw.name}: every flow it installed since the deletion shows`,
    );
  }
  await net.stop();
});

t.test('no controller, fail_mode=standalone: pingall 0 %', async (t) => {
  if (!netReady(t, 'ovs-vsctl')) return;
  const undo = undoStack(t);
  const rundir = tempRundir(undo);
  const net = await Topo.start({
    spec: 'linear,4',
    rundir,
    startDaemon: startDaemonInProcessOn,
    prefix: testPrefix('e'),
  });
  undo(() => net.stop());
  for (const sw of net.graph.switches) {
    const mode = await vsctlIn(rundir, 'get', 'Bridge', sw.name, 'fail_mode');
    t.equal(mode.stdout.trim(), 'standalone', `${sw.name} fail_mode`);
    const ctl = await vsctlIn(rundir, 'get-controller', sw.name);
    t.equal(ctl.stdout.trim(), '', `${sw.name}: no controller`);
  }
  const r = await net.pingAll();
  t.equal(r.sent, 12);
  t.equal(r.received, 12, 'every ping answered');
  t.equal(r.droppedPct, 0);
  await net.stop();
});

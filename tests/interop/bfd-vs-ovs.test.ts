/**
 * BFD interoperability with Open vSwitch 3.1: tsvs (in this process, AF_PACKET on the root
 * namespace's end of a veth) and Debian's ovs-vswitchd (userspace datapath, in its own network
 * namespace, holding the other end) run a session with min_rx = min_tx = 200 ms (short, yet
 * tolerant of event-loop stalls on a loaded 2-core machine):
 *
 * - the session comes Up and both show it in Interface.bfd_status (`ovs-vsctl get` on both);
 * - a fast-failover group on tsvs (watch the BFD port first, a backup port second) uses the
 *   backup while BFD is down and the BFD port once it is up (ofproto/trace over ovs-appctl);
 * - the link is cut (`ip link set DEV down` on the tsvs end): both sides report forwarding=false
 *   within 3 × min_rx plus one interval (plus slack for polling on a loaded machine; the precise
 *   figures, OVS's from its log timestamps, are printed), and the FF group moves to the backup.
 *
 * Needs root (namespaces, veths). Names carry the `tbfd` prefix and are removed afterwards.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadNative } from '../../datapath/native.js';
import type { Database } from '../../ovsdb/database.js';
import { BfdState } from '../../protocols/bfd/index.js';
import type { BfdBridgeProtocol } from '../../vswitchd/bfd.js';
import type { BridgeComponent, OvsdbComponent } from '../../vswitchd/components.js';
import { standardComponents } from '../../vswitchd/components.js';
import { startDaemonInProcess } from '../helpers/daemon.js';
import { sleep } from '../helpers/net.js';
import { requirePeer } from '../helpers/peers.js';
import { startRefOvs } from '../helpers/ref-ovs.js';
import { runTool } from '../helpers/tools.js';

const MIN_RX = 200;
const MULT = 3;

/** Parses `ovs-vsctl get Interface X bfd_status` output (`{k=v, k="v w"}`). */
function parseSmap(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const body = text.trim().replace(/^\{|\}$/g, '');
  for (const m of body.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
    out[m[1]!] = m[2]!.startsWith('"') ? m[2]!.slice(1, -1) : m[2]!.trim();
  }
  return out;
}

/** bfd_status of interface `name`, read from the tsvs database. */
function tsvsStatus(db: Database, name: string): Record<string, string> {
  const row = [...db.rows('Interface').values()].find((r) => r.data.name?.keys[0] === name);
  const out: Record<string, string> = {};
  const d = row?.data.bfd_status;
  d?.keys.forEach((k, i) => (out[String(k)] = String(d.values![i])));
  return out;
}

t.test('BFD between tsvs and OVS 3.1 over a veth', async (t) => {
  if (!requirePeer(t, 'ip', 'ovs-vsctl', 'ovs-vswitchd', 'ovsdb-server', 'ovs-appctl', 'ovs-ofctl'))
    return;
  try {
    loadNative();
  } catch (e) {
    if (process.env.CI === 'true') t.fail(`AF_PACKET addon not built: ${(e as Error).message}`);
    else t.plan(0, `skip: AF_PACKET addon not built (npm run build:native)`);
    return;
  }
  const tag = `tbfd${process.pid % 100000}`;
  const vt = `${tag}t`; // tsvs end (root namespace)
  const vo = `${tag}o`; // OVS end (OVS's namespace)
  const sh = (...a: string[]) => runTool(a[0]!, a.slice(1));
  await sh('ip', 'link', 'del', vt);
  t.teardown(async () => {
    await sh('ip', 'link', 'del', vt);
  });

  const ref = await startRefOvs({ bridge: `${tag}r` });
  t.teardown(() => ref.stop());
  const ovsPid = readFileSync(join(ref.dir, 'ovs-vswitchd.pid'), 'utf8').trim();
  const ns = (await sh('ip', 'netns', 'identify', ovsPid)).stdout.trim();
  t.ok(ns.length > 0, `OVS runs in namespace ${ns}`);
  for (const cmd of [
    ['ip', 'link', 'add', vt, 'type', 'veth', 'peer', 'name', vo],
    ['ip', 'link', 'set', vo, 'netns', ns],
    ['ip', '-n', ns, 'link', 'set', vo, 'up'],
    ['ip', 'link', 'set', vt, 'up'],
  ]) {
    const r = await sh(...cmd);
    t.equal(r.code, 0, `${cmd.join(' ')}: ${r.stderr}`);
  }
  const bfdCfg = [
    'bfd:enable=true',
    `bfd:min_rx=${MIN_RX}`,
    `bfd:min_tx=${MIN_RX}`,
    `bfd:mult=${MULT}`,
  ];
  const ro = await ref.vsctl('add-port', ref.bridge, vo, '--', 'set', 'Interface', vo, ...bfdCfg);
  t.equal(ro.code, 0, `OVS add-port: ${ro.stderr}`);
  const ovsStatus = async (): Promise<Record<string, string>> =>
    parseSmap((await ref.vsctl('get', 'Interface', vo, 'bfd_status')).stdout);

  // tsvs: the BFD port (1), a backup (2) and an ingress port (3) for the fast-failover group.
  const components = standardComponents();
  const ovsdb = components[0] as OvsdbComponent;
  const { paths } = await startDaemonInProcess({ t, components });
  const db = ovsdb.running!.db;
  const br = `${tag}x`;
  const vsctl = (...a: string[]) =>
    runTool('ovs-vsctl', [`--db=unix:${paths.dbSocket}`, '--timeout=20', ...a]);
  const appctl = (...a: string[]) => runTool('ovs-appctl', ['-t', paths.ctl, ...a]);
  const ofctl = (...a: string[]) =>
    runTool('ovs-ofctl', [
      '-O',
      'OpenFlow13',
      a[0]!,
      `unix:${join(paths.rundir, `${br}.mgmt`)}`,
      ...a.slice(1),
    ]);
  const rt = await vsctl(
    'add-br',
    br,
    '--',
    'set',
    'Bridge',
    br,
    'fail_mode=secure',
    '--',
    'add-port',
    br,
    vt,
    '--',
    'set',
    'Interface',
    vt,
    'ofport_request=1',
    '--',
    'add-port',
    br,
    `${tag}bk`,
    '--',
    'set',
    'Interface',
    `${tag}bk`,
    'type=dummy',
    'ofport_request=2',
    '--',
    'add-port',
    br,
    `${tag}in`,
    '--',
    'set',
    'Interface',
    `${tag}in`,
    'type=dummy',
    'ofport_request=3',
  );
  t.equal(rt.code, 0, `tsvs add-br/add-port: ${rt.stderr}`);
  t.equal(
    (
      await ofctl(
        'add-group',
        'group_id=1,type=fast_failover,bucket=watch_port:1,actions=output:1,bucket=watch_port:2,actions=output:2',
      )
    ).code,
    0,
    'FF group added',
  );
  t.equal((await ofctl('add-flow', 'in_port=3,actions=group:1')).code, 0, 'flow to the group');
  const dpPort = async (name: string): Promise<string> => {
    const out = (await appctl('dpctl/show')).stdout;
    const m = new RegExp(`port (\\d+): ${name}\\b`).exec(out);
    return m ? m[1]! : `?(${name} not in dpctl/show:\n${out})`;
  };
  const dpBfd = await dpPort(vt);
  const dpBackup = await dpPort(`${tag}bk`);
  const ffActions = async (): Promise<string> => {
    const r = await appctl('ofproto/trace', br, 'in_port=3,ip');
    return /Datapath actions: (.*)/.exec(r.stdout)?.[1] ?? `(no actions)\n${r.stdout}${r.stderr}`;
  };

  // BFD on the tsvs end; before the session is up the group uses the backup.
  const st = await vsctl('set', 'Interface', vt, ...bfdCfg);
  t.equal(st.code, 0, st.stderr);
  t.equal(await ffActions(), dpBackup, 'BFD down: the FF group uses the backup port');

  const upStart = performance.now();
  let ovsUp: Record<string, string> = {};
  for (;;) {
    const mine = tsvsStatus(db, vt);
    ovsUp = await ovsStatus();
    if (
      mine.state === 'up' &&
      mine.remote_state === 'up' &&
      ovsUp.state === 'up' &&
      ovsUp.remote_state === 'up'
    )
      break;
    if (performance.now() - upStart > 30_000) break;
    await sleep(50);
  }
  const upMs = performance.now() - upStart;
  t.match(tsvsStatus(db, vt), { state: 'up', forwarding: 'true', remote_state: 'up' }, 'tsvs Up');
  t.match(ovsUp, { state: 'up', forwarding: 'true', remote_state: 'up' }, 'OVS Up');
  const mineVsctl = parseSmap((await vsctl('get', 'Interface', vt, 'bfd_status')).stdout);
  t.match(mineVsctl, { state: 'up', forwarding: 'true' }, 'tsvs bfd_status via ovs-vsctl');
  t.comment(`tsvs: ${JSON.stringify(mineVsctl)}`);
  t.comment(`OVS:  ${JSON.stringify(ovsUp)}`);
  const show = (await appctl('bfd/show', vt)).stdout;
  t.match(show, /Local Session State: up\n/);
  t.match(show, /Remote Session State: up\n/);
  t.match(
    show,
    new RegExp(`Remote Minimum RX Interval: ${MIN_RX}ms\n`),
    'OVS advertises its min_rx',
  );
  const ovsShow = (
    await runTool('ovs-appctl', ['-t', join(ref.dir, 'ovs-vswitchd.ctl'), 'bfd/show', vo], {
      env: { OVS_RUNDIR: ref.dir },
    })
  ).stdout;
  t.match(ovsShow, new RegExp(`Remote Minimum RX Interval: ${MIN_RX}ms\n`), 'OVS sees our min_rx');
  // Same layout as OVS 3.1's bfd/show: the same labels in the same order, blank lines included.
  const labels = (text: string): string[] => text.split('\n').map((l) => l.replace(/:.*$/, ''));
  t.same(labels(show), labels(ovsShow), 'bfd/show has the layout of OVS 3.1');
  t.equal(await ffActions(), dpBfd, 'BFD up: the FF group uses the BFD port');

  // Cut the link on the tsvs end.
  const detection = MULT * MIN_RX;
  const bound = detection + MIN_RX;
  // tsvs's own state-change time, sampled every 2 ms in-process.
  const bridgeComp = components[1] as BridgeComponent;
  const session = (bridgeComp.reconciler!.protocolsOf('bfd').get(br) as BfdBridgeProtocol).session(
    vt,
  )!;
  let tsvsStateMs: number | undefined;
  const sampler = setInterval(() => {
    if (tsvsStateMs === undefined && session.sessionState !== BfdState.Up)
      tsvsStateMs = performance.now() - cutAt;
  }, 2);
  t.teardown(() => clearInterval(sampler));
  const cutWall = Date.now();
  const cutAt = performance.now();
  const cut = await sh('ip', 'link', 'set', vt, 'down');
  t.equal(cut.code, 0, cut.stderr);
  let tsvsMs: number | undefined;
  let ovsMs: number | undefined;
  while ((tsvsMs === undefined || ovsMs === undefined) && performance.now() - cutAt < 15_000) {
    if (tsvsMs === undefined && tsvsStatus(db, vt).forwarding === 'false')
      tsvsMs = performance.now() - cutAt;
    if (ovsMs === undefined && (await ovsStatus()).forwarding === 'false')
      ovsMs = performance.now() - cutAt;
    await sleep(5);
  }
  t.ok(tsvsMs !== undefined, 'tsvs reports forwarding=false');
  t.ok(ovsMs !== undefined, 'OVS reports forwarding=false');
  // Polling ovs-vsctl costs tens of ms per call on a loaded machine: generous slack.
  const slack = 1500;
  t.ok((tsvsMs ?? Infinity) <= bound + slack, `tsvs within ${bound} ms (+${slack} slack)`);
  t.ok((ovsMs ?? Infinity) <= bound + slack, `OVS within ${bound} ms (+${slack} slack)`);
  // OVS's own timestamp of its state change, from its log.
  const log = readFileSync(join(ref.dir, 'ovs-vswitchd.log'), 'utf8');
  const m = new RegExp(
    `^(\\S+)\\|\\d+\\|bfd[^|]*\\|INFO\\|${vo}: BFD state change: up->down`,
    'm',
  ).exec(log);
  const ovsLogMs = m ? Date.parse(m[1]!) - cutWall : undefined;
  clearInterval(sampler);
  t.comment(
    `measured after the cut: tsvs state change ${Math.round(tsvsStateMs ?? -1)} ms (sampled), tsvs bfd_status ${Math.round(tsvsMs ?? -1)} ms, OVS bfd_status ${Math.round(
      ovsMs ?? -1,
    )} ms (polled), OVS state change ${ovsLogMs ?? '?'} ms (log); bound 3 × min_rx + interval = ${bound} ms; session up took ${Math.round(upMs)} ms`,
  );
  t.ok(ovsLogMs !== undefined, 'OVS logged its BFD state change');
  t.ok((ovsLogMs ?? Infinity) <= bound + slack, 'OVS state change time (its log) within the bound');
  t.match(await ovsStatus(), { state: 'down', diagnostic: 'Control Detection Time Expired' });
  t.match(tsvsStatus(db, vt), { state: 'down', forwarding: 'false' });
  t.equal(await ffActions(), dpBackup, 'link down: the FF group moved to the backup port');

  // The link returns; then OVS stops BFD (bfd:enable=false, it just goes silent) while the link
  // stays up: only BFD can move the group now.
  t.equal((await sh('ip', 'link', 'set', vt, 'up')).code, 0);
  const back = performance.now();
  while (performance.now() - back < 30_000) {
    if (tsvsStatus(db, vt).state === 'up' && (await ovsStatus()).state === 'up') break;
    await sleep(50);
  }
  t.match(tsvsStatus(db, vt), { state: 'up', forwarding: 'true' }, 'up again');
  for (let i = 0; i < 100 && (await ffActions()) !== dpBfd; i++) await sleep(50);
  t.equal(await ffActions(), dpBfd, 'FF group back on the BFD port');
  const silent = performance.now();
  t.equal((await ref.vsctl('set', 'Interface', vo, 'bfd:enable=false')).code, 0);
  let silentMs: number | undefined;
  while (performance.now() - silent < 10_000) {
    if (tsvsStatus(db, vt).forwarding === 'false') {
      silentMs = performance.now() - silent;
      break;
    }
    await sleep(5);
  }
  t.ok(
    silentMs !== undefined,
    `tsvs detects the silent peer after ${Math.round(silentMs ?? -1)} ms`,
  );
  t.match(tsvsStatus(db, vt), {
    state: 'down',
    diagnostic: 'Control Detection Time Expired',
  });
  t.match((await vsctl('get', 'Interface', vt, 'link_state')).stdout, /up/, 'link still up');
  t.equal(await ffActions(), dpBackup, 'BFD down (link up): the FF group moved to the backup port');
});

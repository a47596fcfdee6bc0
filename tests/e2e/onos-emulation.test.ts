/**
 * tsvs under a controller that behaves as ONOS does (tests/helpers/onos-emulator.ts, from
 * ../shared/reference/controllers.md §1.4): on a linear,3 network (root) every switch completes
 * ONOS's handshake through ROLE_REQUEST MASTER, takes ONOS's default flows (LLDP, BDDP, ARP,
 * IPv4 with SEND_FLOW_REM), answers flow/table/port stats polls every 5 s with exactly what was
 * installed, stays connected over several poll rounds, and the LLDP and BDDP probes sent out of
 * every port come back as PACKET_INs on the neighbour: every switch-to-switch link is discovered
 * in both directions, and nothing else.
 */
import t from 'tap';
import { OFPCML, OFPFF, OFPP } from '../../openflow/constants.js';
import { Topo } from '../../topo/index.js';
import {
  netReady,
  ofctlIn,
  parseDumpFlows,
  pollUntil,
  startDaemonInProcessOn,
  tempRundir,
  testPrefix,
  undoStack,
} from '../helpers/e2e-net.js';
import {
  ONOS_DEFAULT_FLOWS,
  OnosEmulator,
  linkKey,
  type LinkEnd,
} from '../helpers/onos-emulator.js';

// Namespaces, a daemon and controllers on a shared 2-core machine: generous, never asserted.
t.setTimeout(300_000);

/** Flow polls each switch must have answered consistently before the test ends. */
const POLL_ROUNDS = 3;

t.test('linear,3 under an ONOS emulation: handshake, flows, polling, discovery', async (t) => {
  if (!netReady(t, 'ovs-ofctl')) return;
  const undo = undoStack(t);
  const rundir = tempRundir(undo);
  const onos = await OnosEmulator.listen();
  undo(() => onos.close());
  const net = await Topo.start({
    spec: 'linear,3',
    rundir,
    startDaemon: startDaemonInProcessOn,
    controllers: [onos.target],
    prefix: testPrefix('o'),
  });
  undo(() => net.stop());
  const g = net.graph;
  const dpids = g.switches.map((s) => BigInt(`0x${s.dpid}`));
  const end = (node: string, port: number): LinkEnd => ({
    dpid: BigInt(`0x${g.switches.find((s) => s.name === node)!.dpid}`),
    port,
  });
  const expected = g.links
    .filter((l) => l.a.node.startsWith('s') && l.b.node.startsWith('s'))
    .flatMap((l) => {
      const a = end(l.a.node, l.a.port);
      const b = end(l.b.node, l.b.port);
      return [linkKey(a, b), linkKey(b, a)];
    })
    .sort();
  t.equal(expected.length, 4, 'linear,3 has 2 switch links, 4 directions');

  await onos.waitUntil(
    () => dpids.every((d) => onos.devices.get(d)?.role === 'MASTER'),
    'every switch ACTIVE and MASTER',
  );
  await onos.waitUntil(
    () => expected.every((k) => onos.linkKeys('LLDP').includes(k)),
    'every link discovered by LLDP',
  );
  await onos.waitUntil(
    () =>
      dpids.every((d) => {
        const dev = onos.devices.get(d);
        return (
          dev !== undefined &&
          dev.flowPolls.length >= POLL_ROUNDS &&
          dev.portPolls.length >= POLL_ROUNDS &&
          dev.groupMeterPolls >= 1
        );
      }),
    `${POLL_ROUNDS} poll rounds on every switch`,
    (POLL_ROUNDS + 3) * onos.pollIntervalMs,
  );

  t.same(onos.problems, [], 'no protocol problem (errors, mismatches, disconnects)');
  t.equal(onos.sessions.length, 3, 'one connection per switch: nobody reconnected');
  t.same(onos.linkKeys('LLDP'), expected, 'LLDP: exactly the switch links, both directions');
  t.same(onos.linkKeys('BDDP'), expected, 'BDDP: the same links');

  for (const [i, dpid] of dpids.entries()) {
    const name = g.switches[i]!.name;
    const dev = onos.devices.get(dpid)!;
    t.notOk(dev.closed, `${name}: still connected`);
    t.equal(dev.switchVersion, 4, `${name}: HELLO header version 1.3`);
    t.equal(dev.nBuffers, 0, `${name}: n_buffers 0, so no SET_CONFIG`);
    t.same(
      dev.handshakeSent,
      [
        'HELLO',
        'FEATURES_REQUEST',
        'MULTIPART_REQUEST',
        'BARRIER_REQUEST',
        'GET_CONFIG_REQUEST',
        'MULTIPART_REQUEST',
        'MULTIPART_REQUEST',
        'MULTIPART_REQUEST',
        'ROLE_REQUEST',
      ],
      `${name}: ONOS's handshake sequence ran to the role request`,
    );
    t.ok(dev.missSendLen >= 0, `${name}: GET_CONFIG answered (${dev.missSendLen})`);
    t.equal(dev.driver, 'default', `${name}: ONOS picks the default driver`);
    t.equal(
      dev.batchesOk.length,
      1,
      `${name}: the flow batch succeeded (no error before the barrier)`,
    );
    t.equal(dev.installed.size, ONOS_DEFAULT_FLOWS.length);
    t.ok(
      dev.flowPolls.length >= POLL_ROUNDS && dev.flowPolls.every((p) => p.consistent),
      `${name}: every flow poll read back exactly what was installed`,
    );
    const last = dev.flowPolls.at(-1)!;
    t.equal(last.entries.length, ONOS_DEFAULT_FLOWS.length, `${name}: only ONOS's flows`);
    for (const e of last.entries) {
      t.equal(e.flags & OFPFF.SEND_FLOW_REM, OFPFF.SEND_FLOW_REM, `${name}: SEND_FLOW_REM kept`);
      t.equal(e.idleTimeout + e.hardTimeout, 0, `${name}: permanent`);
      // Stricter than ONOS's own comparison: the very match and instruction lists, in order.
      const sent = dev.installed.get(e.cookie);
      t.same(
        [e.match, e.instructions],
        [sent?.match, sent?.instructions],
        `${name}: cookie ${e.cookie.toString(16)} reads back verbatim`,
      );
    }
    // Counters are accurate: every LLDP packet counted on the LLDP flow became a PACKET_IN
    // here (probes all have the same length), and it counted some.
    const lldp = last.entries.find((e) =>
      e.match.some((m) => m.field === 'eth_type' && m.value === 0x88cc),
    )!;
    const frameLen = BigInt(onos.probeFrame('LLDP', 1n, 1).length);
    t.ok(lldp.packetCount > 0n, `${name}: the LLDP flow counted packets (${lldp.packetCount})`);
    t.ok(
      lldp.packetCount <= BigInt(dev.lldpPacketIns),
      `${name}: no more counted than punted (${lldp.packetCount} <= ${dev.lldpPacketIns})`,
    );
    t.equal(lldp.byteCount, lldp.packetCount * frameLen, `${name}: byte counter`);
    // Counters never go backwards between polls.
    const counts = dev.flowPolls.map(
      (p) => p.entries.find((e) => e.cookie === lldp.cookie)?.packetCount ?? -1n,
    );
    t.ok(
      counts.every((c, j) => j === 0 || c >= counts[j - 1]!),
      `${name}: LLDP packet counts non-decreasing: ${counts.join(' ')}`,
    );
    const table = dev.tablePolls.at(-1)!;
    t.equal(table.length, 254, `${name}: table stats for 254 tables`);
    t.equal(table.find((x) => x.tableId === 0)?.activeCount, 4, `${name}: table 0 holds 4 flows`);
    t.equal(
      table.filter((x) => x.tableId !== 0).reduce((n, x) => n + x.activeCount, 0),
      0,
      `${name}: the other tables are empty`,
    );
    const ports = [...dev.ports.keys()].sort((a, b) => a - b);
    const statPorts = dev.portPolls
      .at(-1)!
      .map((p) => p.portNo)
      .sort((a, b) => a - b);
    t.same(statPorts, ports, `${name}: port stats for every port (${ports.join(',')})`);
    t.ok(ports.includes(OFPP.LOCAL), `${name}: LOCAL port listed`);
    t.same(dev.flowRemoved, [], `${name}: no flow removed`);

    // ovs-ofctl reads the same flows through the mgmt socket.
    const dump = await ofctlIn(rundir, 'dump-flows', name);
    t.equal(dump.code, 0, dump.stderr);
    const flows = parseDumpFlows(dump.stdout);
    t.equal(flows.length, 4, `${name}: ovs-ofctl shows 4 flows`);
    for (const d of ONOS_DEFAULT_FLOWS) {
      const f = flows.find(
        (x) =>
          x.fields.priority === String(d.priority) &&
          (x.fields.dl_type === `0x${d.ethType.toString(16).padStart(4, '0')}` ||
            (d.ethType === 0x0806 && 'arp' in x.fields) ||
            (d.ethType === 0x0800 && 'ip' in x.fields)),
      );
      t.ok(f, `${name}: eth_type 0x${d.ethType.toString(16)} priority ${d.priority} listed`);
      if (f) {
        t.match(f.fields, { send_flow_rem: '' }, `${name}: send_flow_rem shown`);
        t.match(
          f.actions,
          new RegExp(`CONTROLLER:${OFPCML.NO_BUFFER}`),
          `${name}: output to the controller`,
        );
      }
    }
  }

  // The reconciliation is real: a flow ONOS did not install is noticed at the next poll and
  // removed with DELETE_STRICT on the match and priority the switch reported.
  const seen = onos.problems.length;
  const add = await ofctlIn(rundir, 'add-flow', 's1', 'priority=7,udp,tp_dst=9,actions=drop');
  t.equal(add.code, 0, add.stderr);
  await onos.waitUntil(
    () => onos.problems.length > seen,
    'the extraneous flow to be noticed',
    3 * onos.pollIntervalMs,
  );
  t.match(
    onos.problems.slice(seen),
    [/^of:0000000000000001: extraneous flow cookie 0 priority 7: deleting it$/],
    'the foreign flow is reported',
  );
  const gone = await pollUntil(async () => {
    const d = await ofctlIn(rundir, 'dump-flows', 's1');
    return !parseDumpFlows(d.stdout).some((f) => f.fields.priority === '7');
  }, 10_000);
  t.ok(gone, 'and deleted by DELETE_STRICT');
  t.equal(onos.sessions.length, 3, 'still one connection per switch');
  await net.stop();
});

/**
 * A fake {@link ApiBackend} for the API's unit tests: fixed bridges, ports, flows, groups and
 * meters, a real AppctlRegistry, and an event source the test fires by hand.
 */
import { AppctlError, AppctlRegistry } from '../../../appctl/registry.js';
import type {
  ApiBackend,
  BridgeInfo,
  FlowInfo,
  FlowQuery,
  PortInfo,
} from '../../../api/backend.js';
import type { ApiEvent, Topic } from '../../../api/events.js';

export interface FakeBackend extends ApiBackend {
  readonly appctl: AppctlRegistry;
  /** What topology() answers (undefined = no topo.json; an Error is thrown). */
  topo: unknown;
  /** Fires an event as the backend's source would. */
  emit(e: ApiEvent): void;
  /** The `wants` function the server passed, once subscribed. */
  wants?: (t: Topic) => boolean;
  /** Number of live subscriptions. */
  subscriptions(): number;
}

const stats = (n: number) => ({
  rxPackets: n,
  txPackets: n + 1,
  rxBytes: n * 100,
  txBytes: n * 100 + 1,
  rxDropped: 0,
  txDropped: 2,
  rxErrors: 0,
  txErrors: 0,
});

/** A topo.json as `tsvs topo single,2` writes it (topo/description.ts, version 1). */
export const FAKE_TOPO = {
  version: 1,
  prefix: 'tv00001a',
  spec: 'single,2',
  pid: 4242,
  controllers: [],
  failMode: 'standalone',
  hosts: [
    {
      name: 'h1',
      netns: 'tv00001ah1',
      ip: '10.0.0.1',
      prefixLen: 8,
      mac: '00:00:00:00:00:01',
      iface: 'h1-eth0',
      switch: 's1',
      port: 1,
    },
    {
      name: 'h2',
      netns: 'tv00001ah2',
      ip: '10.0.0.2',
      prefixLen: 8,
      mac: '00:00:00:00:00:02',
      iface: 'h2-eth0.10',
      vlan: 10,
      vlanAt: 'host',
      switch: 's1',
      port: 2,
    },
  ],
  switches: [{ name: 's1', dpid: '0000000000000001' }],
  links: [
    { a: 'h1', b: 's1', aIface: 'h1-eth0', bIface: 'tv00001as1e1', aPort: 0, bPort: 1, up: true },
    {
      a: 'h2',
      b: 's1',
      aIface: 'h2-eth0',
      bIface: 'tv00001as1e2',
      aPort: 0,
      bPort: 2,
      up: false,
      mtu: 1400,
      futureField: 'passes through',
    },
  ],
};

export function fakeBackend(opts: { withFeatures?: boolean } = {}): FakeBackend {
  const bridges: BridgeInfo[] = [
    {
      name: 'br0',
      uuid: '11111111-1111-4111-8111-111111111111',
      datapathId: '0000aabbccddeeff',
      ports: ['p1', 'br0'],
      controllers: ['tcp:127.0.0.1:6653'],
      flowCount: 3,
    },
  ];
  const ports: PortInfo[] = [
    {
      bridge: 'br0',
      name: 'p1',
      ofport: 1,
      mac: '02:00:00:00:00:01',
      adminState: 'up',
      linkState: 'up',
      stats: stats(5),
    },
    {
      bridge: 'br0',
      name: 'br0',
      ofport: 4294967294,
      mac: '02:00:00:00:00:fe',
      adminState: 'down',
      linkState: 'down',
      stats: stats(0),
    },
  ];
  const flows: FlowInfo[] = [
    { table: 0, priority: 100, cookie: '0x10', match: 'ip', actions: 'goto_table:1' },
    { table: 0, priority: 0, cookie: '0x0', match: '', actions: 'drop' },
    { table: 1, priority: 5, cookie: '0x1f', match: 'tcp,tp_dst=80', actions: 'output:1' },
  ].map((f) => ({ ...f, packets: 1, bytes: 64, durationSec: 2, idleTimeout: 0, hardTimeout: 0 }));
  const appctl = new AppctlRegistry();
  appctl.register({
    name: 'list-commands',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    handler: () =>
      appctl
        .list()
        .map((c) => c.name + '\n')
        .join(''),
  });
  appctl.register({
    name: 'echo/args',
    usage: 'ARG...',
    minArgs: 1,
    maxArgs: Infinity,
    handler: (args) => args.join('|') + '\n',
  });
  appctl.register({
    name: 'always/fails',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    handler: () => {
      throw new AppctlError('this command always fails');
    },
  });
  if (opts.withFeatures) {
    appctl.register({
      name: 'fdb/show',
      usage: 'bridge',
      minArgs: 1,
      maxArgs: 1,
      handler: ([b]) => {
        if (b !== 'br0') throw new AppctlError('no such bridge');
        return ' port  VLAN  MAC                Age\n    1     0  02:00:00:00:00:09    3\n';
      },
    });
    appctl.register({
      name: 'dpctl/dump-flows',
      usage: '[-m] [dp]',
      minArgs: 0,
      maxArgs: 3,
      handler: (args) =>
        'flow-dump from the main thread:\n' +
        `recirc_id(0),in_port(1),eth_type(0x0800), packets:1, bytes:64, used:0.1s, actions:2${args.includes('-m') ? ' (more)' : ''}\n`,
    });
    appctl.register({
      name: 'ofproto/trace',
      usage: 'bridge flow',
      minArgs: 1,
      maxArgs: Infinity,
      handler: (args) => {
        if (args[1] === 'bogus') throw new AppctlError('bogus: unknown field');
        return `Flow: ${args.slice(1).join(' ')}\nDatapath actions: 1\n`;
      },
    });
  }
  const bfd = {
    interface: 'p1',
    bridge: 'br0',
    enabled: true,
    config: { enable: 'true', min_tx: '100' },
    state: 'up',
    forwarding: true,
    diagnostic: 'No Diagnostic',
    remoteState: 'up',
    remoteDiagnostic: 'No Diagnostic',
    flapCount: 1,
    status: {
      state: 'up',
      forwarding: 'true',
      diagnostic: 'No Diagnostic',
      remote_state: 'up',
      remote_diagnostic: 'No Diagnostic',
      flap_count: '1',
    },
  };
  const stp = {
    bridge: 'br0',
    enabled: true,
    bridgeId: '8000.020000000001',
    designatedRoot: '8000.020000000001',
    rootPathCost: 0,
    isRoot: true,
    config: { 'stp-priority': '32768' },
    ports: [
      {
        name: 'p1',
        portId: '8001',
        state: 'forwarding',
        secInState: 30,
        role: 'designated',
        txCount: 15,
        rxCount: 0,
        errorCount: 0,
        config: {},
      },
    ],
  };
  const sinks = new Set<(e: ApiEvent) => void>();
  const fb: FakeBackend = {
    appctl,
    listBridges: () => bridges,
    getBridge: (n) => bridges.find((b) => b.name === n),
    listPorts: (n) => (n === 'br0' ? ports : undefined),
    listInterfaces: () => [
      {
        name: 'p1',
        uuid: '22222222-2222-4222-8222-222222222222',
        type: 'internal',
        bridge: 'br0',
        ofport: 1,
      },
      {
        name: 'bad',
        uuid: '33333333-3333-4333-8333-333333333333',
        type: 'system',
        ofport: -1,
        error: 'could not open network device bad (No such device)',
      },
    ],
    listFlows: (n, q: FlowQuery) => {
      if (n !== 'br0') return undefined;
      return flows.filter(
        (f) =>
          (q.table === undefined || f.table === q.table) &&
          (q.cookie === undefined ||
            ((BigInt(f.cookie) ^ q.cookie) & (q.cookieMask ?? 0xffffffffffffffffn)) === 0n),
      );
    },
    flowCounts: (n) =>
      n === 'br0'
        ? [
            { table: 0, count: 2 },
            { table: 1, count: 1 },
          ]
        : undefined,
    listGroups: (n) =>
      n === 'br0'
        ? [
            {
              groupId: 1,
              type: 'select',
              buckets: ['weight:100,actions=output:1'],
              packets: 0,
              bytes: 0,
              refCount: 1,
            },
          ]
        : undefined,
    listMeters: (n) =>
      n === 'br0'
        ? [
            {
              meterId: 1,
              flags: ['kbps', 'burst'],
              bands: [{ type: 'drop', rate: 1000, burstSize: 100 }],
              packetsIn: 0,
              bytesIn: 0,
              flowCount: 0,
            },
          ]
        : undefined,
    ovsdbStats: () => ({ sessions: 2, monitors: 3, commits: 7 }),
    tableStats: (n) =>
      n === 'br0'
        ? [
            { table: 0, count: 2, lookups: 10, matched: 9 },
            { table: 1, count: 1, lookups: 9, matched: 4 },
          ]
        : undefined,
    datapathStats: () => [
      {
        name: 'ovs-netdev',
        emcHits: 11,
        megaflowHits: 12,
        misses: 13,
        lost: 1,
        upcalls: 5,
        flows: 3,
        masks: 2,
      },
    ],
    listBfd: () => [bfd],
    getBfd: (n) =>
      n === 'p1'
        ? bfd
        : n === 'bad'
          ? { interface: 'bad', enabled: false, config: {}, status: {} }
          : undefined,
    listStp: () => [stp],
    getStp: (n) => (n === 'br0' ? stp : undefined),
    topo: FAKE_TOPO,
    topology() {
      if (fb.topo instanceof Error) throw fb.topo;
      return fb.topo;
    },
    subscribe(sink, wants) {
      sinks.add(sink);
      fb.wants = wants;
      return () => sinks.delete(sink);
    },
    emit(e) {
      for (const s of sinks) s(e);
    },
    subscriptions: () => sinks.size,
  };
  return fb;
}

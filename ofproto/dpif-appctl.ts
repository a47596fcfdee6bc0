/**
 * The `dpif/*` appctl commands of ovs-vswitchd (OVS's ofproto-dpif unixctl commands), which
 * show the datapath through the bridges that use it: `dpif/show` (each bridge's ports as
 * `NAME OFPORT/DPPORT: (TYPE)`), `dpif/dump-dps` (`TYPE@BRIDGE` per bridge), `dpif/dump-flows [-m] [--names|--no-names]
 * BRIDGE` (the datapath flows whose input port belongs to the bridge) and `dpctl/dump-dps`.
 * Formats as OVS 3.1 prints them with the userspace datapath.
 */
import { OFPP } from '../openflow/constants.js';
import { W } from '../lib/packet/flow-key.js';
import { formatDpFlow } from '../datapath/appctl.js';
import type { DpifNetdev } from '../datapath/dpif-netdev.js';
import type { BridgeDirectory, CommandRegistry } from './appctl.js';

/** `BACKER: hit:H missed:M` then each bridge's ports, as `ovs-appctl dpif/show` prints. */
export function formatDpifShow(dp: DpifNetdev, bridges: BridgeDirectory): string {
  const st = dp.stats();
  let s = `${dp.type}@${dp.name}: hit:${st.emcHits + st.megaflowHits} missed:${st.misses}\n`;
  const types = new Map(dp.ports().map((p) => [p.port, p.type]));
  for (const br of [...bridges.names()].sort()) {
    const x = bridges.get(br);
    if (!x) continue;
    s += `  ${br}:\n`;
    const ports = [...x.ofproto.listPorts()].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    for (const p of ports) {
      const ofp = p.ofport === OFPP.LOCAL ? 65534 : p.ofport;
      if (p.patchPeer) {
        const peer = p.patchPeer();
        const peerName = peer?.xlate.ofproto.getPort(peer.ofport)?.name;
        s += `    ${p.name} ${ofp}/none: (patch${peerName ? `: peer=${peerName}` : ''})\n`;
        continue;
      }
      const dpPort = p.dpPort ?? (p.ofport === OFPP.LOCAL ? 0 : p.ofport);
      const type = types.get(dpPort);
      s += `    ${p.name} ${ofp}/${type === undefined ? 'none' : dpPort}: (${type ?? 'none'})\n`;
    }
  }
  return s;
}

/** Registers dpif/show, dpif/dump-dps, dpif/dump-flows and dpctl/dump-dps for `dp`. */
export function registerDpifCommands(
  reg: CommandRegistry,
  dp: DpifNetdev,
  bridges: BridgeDirectory,
): void {
  const dpName = `${dp.type}@${dp.name}\n`;
  reg.register({
    name: 'dpif/show',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    handler: () => formatDpifShow(dp, bridges),
  });
  // dpctl/dump-dps lists datapaths; dpif/dump-dps lists each bridge as TYPE@BRIDGE.
  reg.register({
    name: 'dpctl/dump-dps',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    handler: () => dpName,
  });
  reg.register({
    name: 'dpif/dump-dps',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    handler: () =>
      [...bridges.names()]
        .sort()
        .map((b) => `${dp.type}@${b}\n`)
        .join(''),
  });
  reg.register({
    name: 'dpif/dump-flows',
    usage: '[-m] [--names | --no-names] bridge',
    minArgs: 1,
    maxArgs: 4,
    handler(args) {
      let verbose = false;
      let names: boolean | undefined;
      const rest: string[] = [];
      for (const a of args) {
        if (a === '-m' || a === '--more') verbose = true;
        else if (a === '--names') names = true;
        else if (a === '--no-names') names = false;
        else if (a.startsWith('-')) throw new Error(`${a}: unknown option`);
        else rest.push(a);
      }
      if (rest.length !== 1) throw new Error('bridge name required');
      const x = bridges.get(rest[0]!);
      if (!x) throw new Error('no such bridge');
      // The datapath ports of this bridge: its flows are the ones that start on them.
      const mine = new Set<number>();
      for (const p of x.ofproto.listPorts()) {
        if (p.patchPeer) continue;
        mine.add(p.dpPort ?? (p.ofport === OFPP.LOCAL ? 0 : p.ofport));
      }
      const now = dp.clockNow();
      let out = '';
      for (const f of dp.flows().sort((a, b) => a.id - b.id)) {
        if (!mine.has(f.key[W.IN_PORT]!)) continue;
        // OVS's dpif/dump-flows -m puts a space, not ", ", after the ufid.
        const line = formatDpFlow(dp, f, now, verbose, names ?? verbose);
        out += (verbose ? line.replace(/^(ufid:[^,]+), /, '$1 ') : line) + '\n';
      }
      return out;
    },
  });
}

/** Shared helpers for datapath tests: frames from flow syntax, checksum checks, a test datapath. */
import type { Test } from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import { buildFrame } from '../../../lib/packet/build.js';
import {
  verifyIPv4HeaderChecksum,
  verifyL4Checksum,
  verifySctpChecksum,
} from '../../../lib/packet/checksum.js';
import { LAYER, LAYER_COUNT, extractFlowKey } from '../../../lib/packet/extract.js';
import { ETH_TYPE, IPPROTO, W, newFlowKey, type FlowKey } from '../../../lib/packet/flow-key.js';
import { parseFlow } from '../../../lib/packet/format.js';
import { DpifNetdev } from '../../../datapath/dpif-netdev.js';
import { DummyNetdev } from '../../../datapath/netdev-dummy.js';

let n = 0;

/** A frame built from ovs-ofctl flow syntax. */
export function pkt(flow: string, payload = 0): Uint8Array {
  return buildFrame(parseFlow(flow).key, { payload: new Uint8Array(payload).fill(0x5a) });
}

/** The flow key of a frame (in_port given). */
export function keyOf(frame: Uint8Array, inPort = 0): FlowKey {
  const k = newFlowKey();
  extractFlowKey(frame, 0, frame.length, inPort, k);
  return k;
}

/** Asserts every checksum the frame carries is correct (IPv4 header, TCP/UDP/ICMP/ICMPv6, SCTP). */
export function checkSums(t: Test, frame: Uint8Array, what = 'checksums'): void {
  const k = newFlowKey();
  const layers = new Int32Array(LAYER_COUNT);
  extractFlowKey(frame, 0, frame.length, 0, k, undefined, layers);
  const et = k[W.ETH_TYPE];
  const l3 = layers[LAYER.L3]!;
  const l4 = layers[LAYER.L4]!;
  const end = layers[LAYER.L3_END]!;
  if (et === ETH_TYPE.IP) t.ok(verifyIPv4HeaderChecksum(frame, l3), `${what}: IPv4 header`);
  if ((et !== ETH_TYPE.IP && et !== ETH_TYPE.IPV6) || l4 < 0 || layers[LAYER.L7]! < 0) return;
  const proto = k[W.NW]! & 0xff;
  if (proto === IPPROTO.SCTP) t.ok(verifySctpChecksum(frame, l4, end - l4), `${what}: SCTP`);
  else
    t.ok(
      verifyL4Checksum(frame, l3, l4, end - l4, proto, et === ETH_TYPE.IPV6),
      `${what}: L4 proto ${proto}`,
    );
}

/** A datapath with dummy ports 1..nPorts (all capturing what they send) and a fake clock. */
export function testDp(nPorts = 3): {
  dp: DpifNetdev;
  clock: FakeClock;
  ports: DummyNetdev[];
} {
  const clock = new FakeClock(1000);
  const dp = new DpifNetdev({ clock });
  const ports: DummyNetdev[] = [];
  for (let i = 1; i <= nPorts; i++) {
    const d = new DummyNetdev(`t${n}-p${i}`, { captureTx: true, clock });
    dp.addPort(d, i);
    ports.push(d);
  }
  n++;
  return { dp, clock, ports };
}

/** Hex of a frame (for byte-layout assertions). */
export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/**
 * Our OpenFlow switch alone in its own process, for bench/flows.ts (so its VmRSS and CPU time are
 * its own): one {@link Ofproto} with ports 1 and 2 and the management socket `DIR/br0.mgmt`, which
 * `ovs-ofctl -O OpenFlow13 ... unix:DIR/br0.mgmt` drives.
 *
 *   node bench/flow-switch.ts DIR
 *
 * Prints `READY {"pid":N,"mgmt":"unix:DIR/br0.mgmt"}` once listening; SIGTERM stops it.
 */
import { join } from 'node:path';
import { realClock } from '../lib/clock.js';
import { OFPP } from '../openflow/constants.js';
import { Ofproto } from '../ofproto/ofproto.js';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: flow-switch DIR');
  process.exit(2);
}
const mgmtPath = join(dir, 'br0.mgmt');
const sw = new Ofproto({ name: 'br0', datapathId: 1n, clock: realClock, mgmtPath });
const port = (ofport: number, name: string) => ({
  ofport,
  name,
  hwAddr: 0x020000000000 + ofport,
  config: 0,
  state: 0,
  curr: 0,
  currSpeed: 10_000_000,
  maxSpeed: 10_000_000,
});
sw.addPort(port(OFPP.LOCAL, 'br0'));
sw.addPort(port(1, 'p1'));
sw.addPort(port(2, 'p2'));
await sw.start();
let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await sw.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.stdout.write(`READY ${JSON.stringify({ pid: process.pid, mgmt: `unix:${mgmtPath}` })}\n`);

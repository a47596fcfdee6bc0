/**
 * Packet-in and packet-out end to end over a real controller connection: PACKET_OUT from the
 * controller → xlate → executor and PACKET_IN back through connmgr (async config, roles) and
 * the per-connection rate limiter.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { realClock } from '../../../lib/clock.js';
import { buildFrame } from '../../../lib/packet/build.js';
import { parseFlow } from '../../../lib/packet/format.js';
import { StreamTransport } from '../../../lib/transport.js';
import type { DpAction } from '../../../datapath/actions.js';
import type { Action } from '../../../openflow/actions.js';
import { OFPP, OFPPS, OFPR, OFP_NO_BUFFER } from '../../../openflow/constants.js';
import type { OfpMessage } from '../../../openflow/messages.js';
import { Ofproto } from '../../../ofproto/ofproto.js';
import { Pinsched } from '../../../ofproto/pinsched.js';
import { Xlate } from '../../../ofproto/xlate.js';
import { OfTestPeer } from '../../helpers/ofclient.js';

const tick = (ms = 30): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('packet-out and packet-in through a controller connection', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-pin-'));
  const sw = new Ofproto({ name: 'br0', datapathId: 1n, clock: realClock });
  for (const n of [1, 2])
    sw.addPort({
      ofport: n,
      name: `p${n}`,
      hwAddr: n,
      config: 0,
      state: OFPPS.LIVE,
      curr: 0,
      currSpeed: 0,
      maxSpeed: 0,
    });
  const executed: { inPort: number; actions: readonly DpAction[] }[] = [];
  const x = new Xlate({
    ofproto: sw,
    clock: realClock,
    failMode: 'standalone',
    pinsched: new Pinsched({ clock: realClock, rate: 1, burst: 3 }),
    executor: { execute: (_f, inPort, actions) => executed.push({ inPort, actions }) },
  });
  x.attach();
  const server = net.createServer();
  const path = join(dir, 'ctl.sock');
  const accepted = new Promise<OfTestPeer>((resolve) =>
    server.once('connection', (s) => resolve(new OfTestPeer(new StreamTransport(s, 'sw')))),
  );
  await new Promise<void>((r) => server.listen(path, r));
  t.teardown(async () => {
    await sw.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  t.ok(x.failOpen(), 'standalone without a controller: fail open');
  await sw.setControllers([{ target: `unix:${path}` }]);
  const peer = await accepted;
  await peer.hello();
  t.notOk(x.failOpen(), 'a connected controller: no fallback to NORMAL');

  const data = buildFrame(parseFlow('dl_dst=ff:ff:ff:ff:ff:ff,arp').key);
  let xid = 100;
  const po = (inPort: number, actions: Action[]): number => {
    const id = xid++;
    peer.send({ type: 'PACKET_OUT', xid: id, bufferId: OFP_NO_BUFFER, inPort, actions, data });
    return id;
  };
  const pins = (): OfpMessage[] => peer.received.filter((m) => m.type === 'PACKET_IN');
  const barrier = async (): Promise<void> => {
    const id = xid++;
    peer.send({ type: 'BARRIER_REQUEST', xid: id });
    await peer.waitType('BARRIER_REPLY', id);
  };

  po(OFPP.CONTROLLER, [
    { type: 'OUTPUT', port: 2, maxLen: 0 },
    { type: 'OUTPUT', port: OFPP.CONTROLLER, maxLen: 0 },
  ]);
  const pi = await peer.waitType('PACKET_IN');
  t.match(pi, {
    bufferId: OFP_NO_BUFFER,
    totalLen: data.length,
    reason: OFPR.ACTION,
    tableId: 0,
    cookie: 0xffffffffffffffffn,
    match: [{ field: 'in_port', value: OFPP.CONTROLLER }],
  });
  t.same(pi.data, data, 'whole frame with max_len 0');
  t.same(executed.pop(), { inPort: 0xffffffff, actions: [{ type: 'output', port: 2 }] });

  // Rate limit: burst 3, then drops (1 token per second).
  for (let i = 0; i < 5; i++) po(1, [{ type: 'OUTPUT', port: OFPP.CONTROLLER, maxLen: 0xffff }]);
  await barrier();
  await tick();
  t.equal(pins().length, 3, 'burst of 3 (the first packet-in took one token)');
  t.equal(x.pinsched.dropped, 3);

  // SET_ASYNC packet_in [0,0]: no more packet-ins on this connection.
  peer.send({
    type: 'SET_ASYNC',
    xid: xid++,
    packetInMask: [0, 0],
    portStatusMask: [7, 7],
    flowRemovedMask: [15, 0],
  });
  await barrier();
  await tick(1100);
  po(1, [{ type: 'OUTPUT', port: OFPP.CONTROLLER, maxLen: 0xffff }]);
  await barrier();
  await tick();
  t.equal(pins().length, 3, 'async config masks the packet-in');
});

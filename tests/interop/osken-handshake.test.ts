/**
 * Debian's os-ken (osken-manager) running our app tests/controllers/handshake_app.py: the bridge
 * connects to it as an active controller, os-ken completes HELLO -> FEATURES -> PORT_DESC and
 * enters MAIN state, and sees PORT_STATUS when a port is added and goes down.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import t from 'tap';
import { realClock } from '../../lib/clock.js';
import { OFPP, OFPPC, OFPPF, OFPPS } from '../../openflow/constants.js';
import { Ofproto } from '../../ofproto/ofproto.js';
import { requirePeer } from '../helpers/peers.js';
import { freePort } from '../helpers/net.js';

const APP = new URL('../controllers/handshake_app.py', import.meta.url).pathname;

interface Event {
  event: string;
  [k: string]: unknown;
}

t.test('os-ken completes the handshake with tsvs and sees port status', async (t) => {
  if (!requirePeer(t, 'osken-manager')) return;
  const port = await freePort();
  const osken = spawn(
    '/usr/bin/osken-manager',
    ['--ofp-listen-host', '127.0.0.1', '--ofp-tcp-listen-port', String(port), APP],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  osken.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const events: Event[] = [];
  const waiters: { pred: (e: Event) => boolean; resolve: (e: Event) => void }[] = [];
  createInterface({ input: osken.stdout }).on('line', (line) => {
    let e: Event;
    try {
      e = JSON.parse(line) as Event;
    } catch {
      return;
    }
    events.push(e);
    for (const w of waiters.splice(0)) {
      if (w.pred(e)) w.resolve(e);
      else waiters.push(w);
    }
  });
  const waitEvent = (pred: (e: Event) => boolean, what: string): Promise<Event> => {
    const have = events.find(pred);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`timed out waiting for os-ken ${what}; stderr: ${stderr.slice(-2000)}`)),
        30_000,
      );
      waiters.push({
        pred,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  };

  const sw = new Ofproto({ name: 'br0', datapathId: 0xabcn, clock: realClock });
  const up = {
    config: 0,
    state: OFPPS.LIVE,
    curr: OFPPF['10GB_FD'] | OFPPF.COPPER,
    currSpeed: 10_000_000,
    maxSpeed: 0,
  };
  sw.addPort({
    ofport: OFPP.LOCAL,
    name: 'br0',
    hwAddr: 0x0200000000aa,
    ...up,
    config: OFPPC.PORT_DOWN,
    state: OFPPS.LINK_DOWN,
  });
  sw.addPort({ ofport: 1, name: 'p1', hwAddr: 0x020000000001, ...up });
  t.teardown(async () => {
    await sw.close();
    osken.kill('SIGTERM');
  });
  await sw.setControllers([{ target: `tcp:127.0.0.1:${port}`, maxBackoffMs: 1000 }]);

  const f = await waitEvent((e) => e.event === 'features', 'features');
  t.equal(f.dpid, 0xabc);
  t.equal(f.n_buffers, 0);
  t.equal(f.n_tables, 254);
  const main = await waitEvent((e) => e.event === 'main', 'MAIN state');
  t.same(
    main.ports,
    [
      [1, 'p1'],
      [OFPP.LOCAL, 'br0'],
    ],
    'os-ken built its port list from PORT_DESC',
  );
  t.ok(sw.connmgr.status()[0]?.isConnected, 'controller status says connected');

  sw.addPort({ ofport: 2, name: 'p2', hwAddr: 0x020000000002, ...up });
  const add = await waitEvent(
    (e) => e.event === 'port_status' && e.port_no === 2,
    'port status ADD',
  );
  t.equal(add.reason, 0, 'OFPPR_ADD');
  t.equal(add.name, 'p2');
  sw.setPortState(2, OFPPS.LINK_DOWN);
  const mod = await waitEvent(
    (e) => e.event === 'port_status' && e.port_no === 2 && e.reason === 2,
    'port status MODIFY',
  );
  t.equal(mod.state, OFPPS.LINK_DOWN);
});

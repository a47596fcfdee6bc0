/**
 * System tests of the TAP netdev (datapath/netdev-tap.ts over the native addon): the shared
 * netdev conformance suite over two TAP devices joined by a Linux bridge acting as a hub
 * (ageing 0, so every frame floods) in a private namespace, then what only a TAP device shows:
 * the device exists while the netdev is open and vanishes with it, a second open of a held name
 * fails with EBUSY, a down device drops what the datapath sends, and frames the host's stack
 * sends (an ARP request for an address on the device) arrive on the netdev.
 *
 * Needs root, iproute2 and the built addon; under CI=true a missing one is a failure.
 */
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { newFrameBatch } from '../../datapath/netdev.js';
import type { Netdev } from '../../datapath/netdev.js';
import { TapNetdev, tapNetdevClass } from '../../datapath/netdev-tap.js';
import { loadNative, NATIVE_ABI_VERSION } from '../../datapath/native.js';
import { inCI, missingPeer } from '../helpers/peers.js';
import { netdevConformance } from '../unit/datapath/netdev-conformance.js';
import { makeVethLab, type VethLab } from './afpacket-netns.js';

function unavailable(): string | undefined {
  const ip = missingPeer('ip');
  if (ip !== undefined) return `missing peer: ${ip}`;
  if (process.getuid?.() !== 0) return 'needs root (TAP devices, network namespaces)';
  try {
    loadNative();
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

const settle = (ms = 2): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A namespace (no veths) holding a hub bridge `hub0`. */
function hubLab(): VethLab {
  const lab = makeVethLab({ pairs: 0 });
  try {
    lab.ip(
      'link',
      'add',
      'hub0',
      'type',
      'bridge',
      'ageing_time',
      '0',
      'stp_state',
      '0',
      'mcast_snooping',
      '0',
    );
    // No IGMP/MLD or other traffic of the kernel's own on the hub.
    lab.ip('link', 'set', 'hub0', 'multicast', 'off');
    lab.exec('sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1');
    lab.exec('sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1');
    lab.ip('link', 'set', 'hub0', 'up');
  } catch (e) {
    lab.destroy();
    throw e;
  }
  return lab;
}

/** Opens TAP `name` in the lab, enslaves it to the hub and brings it up. */
function hubTap(lab: VethLab, name: string): TapNetdev {
  const d = tapNetdevClass.open(name, { netns: lab.ns }) as TapNetdev;
  try {
    lab.ip('link', 'set', name, 'multicast', 'off', 'master', 'hub0');
    d.setUp(true);
  } catch (e) {
    d.close();
    throw e;
  }
  return d;
}

function linkExists(lab: VethLab, name: string): boolean {
  const r = spawnSync('ip', ['-n', lab.ns, 'link', 'show', name], { stdio: 'ignore' });
  return r.status === 0;
}

async function recvAll(d: Netdev, want: (f: Uint8Array) => boolean): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  const b = newFrameBatch(32);
  for (let i = 0; i < 300 && got.length === 0; i++) {
    const n = d.recvBatch(b, 32);
    for (let k = 0; k < n; k++) {
      const f = b.bufs[k]!.slice(b.offs[k], b.offs[k]! + b.lens[k]!);
      if (want(f)) got.push(f);
    }
    if (n === 0) await settle(10);
  }
  return got;
}

const why = unavailable();
if (why !== undefined) {
  t.test('tap system tests', async (t) => {
    if (inCI()) t.fail(`cannot run: ${why}`);
    else t.plan(0, `skip: ${why}`);
  });
} else {
  t.ok(NATIVE_ABI_VERSION >= 2, 'the addon with TapDevice (ABI 2 or later)');

  t.test('conformance', async (t) =>
    netdevConformance(t, {
      type: 'tap',
      openPair() {
        const lab = hubLab();
        try {
          const a = hubTap(lab, 'tstap0');
          const b = hubTap(lab, 'tstap1');
          return { a, b, cleanup: () => lab.destroy() };
        } catch (e) {
          lab.destroy();
          throw e;
        }
      },
      settle: () => settle(2),
    }),
  );

  t.test('the device lives as long as the netdev; a held name is busy', async (t) => {
    const lab = makeVethLab({ pairs: 0 });
    t.teardown(() => lab.destroy());
    const d = tapNetdevClass.open('tstapx', { netns: lab.ns });
    t.ok(linkExists(lab, 'tstapx'), 'created');
    t.equal(d.type, 'tap');
    t.ok(d.ifindex() > 0, 'has an ifindex');
    t.notOk(d.carrier(), 'left down, as OVS leaves internal ports');
    t.throws(() => tapNetdevClass.open('tstapx', { netns: lab.ns }), /already open/);
    // Another descriptor (as another process would have) cannot take the device.
    t.throws(() => new TapNetdev('tstapx', lab.ns), { code: 'EBUSY' });
    d.close();
    // The descriptor is closed on a worker thread (unregistering a device takes a while).
    let gone = false;
    for (let i = 0; i < 100 && !gone; i++) {
      gone = !linkExists(lab, 'tstapx');
      if (!gone) await settle(20);
    }
    t.ok(gone, 'gone with the netdev');
    // Closed and reopened at once (a port deleted and re-added): the reopen waits for the close
    // running on the worker thread instead of failing with EBUSY.
    for (let i = 0; i < 20; i++) {
      const again = tapNetdevClass.open('tstapx', { netns: lab.ns });
      again.close();
    }
    const last = tapNetdevClass.open('tstapx', { netns: lab.ns });
    t.ok(linkExists(lab, 'tstapx'), 'reopened at once, 20 times');
    last.close();
    d.close(); // idempotent
  });

  t.test('a down device drops frames; the host stack talks through an up one', async (t) => {
    const lab = makeVethLab({ pairs: 0 });
    t.teardown(() => lab.destroy());
    const d = tapNetdevClass.open('tstapy', { netns: lab.ns }) as TapNetdev;
    t.teardown(() => d.close());
    const b = newFrameBatch(1);
    const f = new Uint8Array(60).fill(0xab);
    b.bufs[0] = f;
    b.lens[0] = 60;
    b.count = 1;
    t.equal(d.sendBatch(b), 0, 'refused while down');
    t.equal(d.stats().txDropped, 1, 'counted');
    lab.ip('addr', 'add', '192.0.2.1/24', 'dev', 'tstapy');
    d.setUp(true);
    t.ok(d.isUp());
    // The stack ARPs for a neighbour on the device: the request comes out of the netdev.
    spawnSync('ip', ['netns', 'exec', lab.ns, 'ping', '-c1', '-W1', '192.0.2.2'], {
      stdio: 'ignore',
    });
    const arps = await recvAll(
      d,
      (x) => x[12] === 0x08 && x[13] === 0x06 && x[38] === 192 && x[41] === 2,
    );
    t.ok(arps.length > 0, 'ARP request for 192.0.2.2 read from the TAP device');
    t.ok(d.stats().rxPackets > 0);
  });
}

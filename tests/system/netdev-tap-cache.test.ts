/**
 * The TAP netdev's attribute cache: sendBatch reads the device's flags and MTU at most once per
 * TAP_ATTR_TTL_MS (FakeClock), re-reads them at once when a write fails (a TAP set down from
 * outside refuses frames with EIO: they are counted as dropped for a down link), and sees
 * changes made through the netdev (setUp, setMtu) at once.
 *
 * Needs root, iproute2 and the built addon; under CI=true a missing one is a failure.
 */
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { FakeClock } from '../../lib/clock.js';
import { allCounters } from '../../lib/counters.js';
import { loadNative } from '../../datapath/native.js';
import { newFrameBatch, type FrameBatch } from '../../datapath/netdev.js';
import { TAP_ATTR_TTL_MS, TapNetdev } from '../../datapath/netdev-tap.js';
import { inCI, missingPeer } from '../helpers/peers.js';

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

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

function batchOf(lens: number[]): FrameBatch {
  const b = newFrameBatch(lens.length);
  lens.forEach((len, i) => {
    const f = new Uint8Array(len).fill(0xab);
    f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5]);
    b.bufs[i] = f;
    b.offs[i] = 0;
    b.lens[i] = len;
  });
  b.count = lens.length;
  return b;
}

const txDown = (): number => allCounters().find((c) => c.name === 'netdev_tap_tx_down')?.total ?? 0;

const why = unavailable();
if (why !== undefined) {
  t.test('tap cache system tests', async (t) => {
    if (inCI()) t.fail(`cannot run: ${why}`);
    else t.plan(0, `skip: ${why}`);
  });
} else {
  t.test('sendBatch caches flags and MTU; a failed write refreshes them', async (t) => {
    const ns = `tsvs-h3-${process.pid}`;
    ip('netns', 'add', ns);
    t.teardown(() => spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }));
    const clock = new FakeClock();
    const dev = 'tsvsh3tap0';
    const d = new TapNetdev(dev, ns, clock);
    t.teardown(() => d.close());
    // Count the ioctls the netdev makes: own properties on its TapDevice shadow the addon's
    // (read-only) prototype methods.
    const native = (d as unknown as { dev: Record<string, (...a: unknown[]) => unknown> }).dev;
    const calls = { getFlags: 0, getMtu: 0 };
    for (const m of ['getFlags', 'getMtu'] as const) {
      const orig = native[m]!;
      Object.defineProperty(native, m, {
        value: (...a: unknown[]) => {
          calls[m]++;
          return orig.apply(native, a);
        },
      });
    }
    d.setUp(true);
    const one = batchOf([60]);

    for (let i = 0; i < 50; i++) t.equal(d.sendBatch(one), 1, `frame ${i} sent`);
    t.same(calls, { getFlags: 1, getMtu: 1 }, '50 batches, one read of flags and MTU');
    clock.advance(TAP_ATTR_TTL_MS);
    t.equal(d.sendBatch(one), 1);
    t.same(calls, { getFlags: 2, getMtu: 2 }, 're-read once the cache is TTL old');
    t.equal(d.stats().txPackets, 51);

    // Down from outside, within the TTL: the write fails with EIO, the flags are re-read and
    // the whole batch counts as dropped on a down link.
    ip('-n', ns, 'link', 'set', dev, 'down');
    const down0 = txDown();
    t.equal(d.sendBatch(batchOf([60, 60, 60])), 0, 'nothing sent to a down device');
    t.equal(d.stats().txDropped, 3, 'three frames dropped');
    t.equal(d.stats().txPackets, 51, 'none counted as sent');
    t.equal(txDown() - down0, 3, 'netdev_tap_tx_down counted them');
    t.equal(calls.getFlags, 3, 'the failed write re-read the flags');
    // Known down: no write, no ioctl until the TTL passes.
    t.equal(d.sendBatch(one), 0);
    t.equal(calls.getFlags, 3, 'no ioctl while the cache says down');
    t.equal(d.stats().txDropped, 4);

    // Up from outside: seen within the TTL.
    ip('-n', ns, 'link', 'set', dev, 'up');
    clock.advance(TAP_ATTR_TTL_MS);
    t.equal(d.sendBatch(one), 1, 'sent once the TTL passed');

    // A change through the netdev is seen at once.
    d.setMtu(1000);
    t.equal(d.sendBatch(batchOf([1100])), 0, 'longer than the new MTU + 18: dropped at once');
    t.equal(d.sendBatch(batchOf([1018])), 1, 'MTU + 18 fits');
    d.setUp(false);
    t.equal(d.sendBatch(one), 0, 'set down through the netdev: dropped at once');
    t.equal(d.stats().txPackets, 53);
    t.equal(d.stats().txDropped, 6);
  });
}

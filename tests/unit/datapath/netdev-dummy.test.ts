import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { FakeClock } from '../../../lib/clock.js';
import { newFrameBatch } from '../../../datapath/netdev.js';
import {
  DummyNetdev,
  connectDummies,
  dummyNetdevClass,
  findDummy,
} from '../../../datapath/netdev-dummy.js';
import { netdevConformance } from './netdev-conformance.js';

let seq = 0;
netdevConformance(t, {
  type: 'dummy',
  openPair() {
    const a = new DummyNetdev(`conf-a${seq}`);
    const b = new DummyNetdev(`conf-b${seq++}`);
    connectDummies(a, b);
    return { a, b, cleanup() {} };
  },
});

t.test('receive injects; the ring drops beyond capacity and counts it', async (t) => {
  const d = new DummyNetdev('inj', { rxCapacity: 2 });
  t.ok(d.receive(new Uint8Array(60).fill(1)));
  t.ok(d.receive(new Uint8Array(70).fill(2)));
  t.notOk(d.receive(new Uint8Array(60)));
  t.equal(d.stats().rxDropped, 1);
  const b = newFrameBatch(8);
  t.equal(d.recvBatch(b, 8), 2);
  t.equal(b.lens[0], 60);
  t.equal(b.bufs[1]![0], 2);
  t.equal(b.lens[1], 70);
  t.equal(d.stats().rxPackets, 2);
  t.equal(d.stats().rxBytes, 130);
  // A jumbo frame grows its slot.
  const j = new Uint8Array(9000).fill(7);
  t.ok(d.receive(j));
  t.equal(d.recvBatch(b, 8), 1);
  t.equal(b.lens[0], 9000);
  t.equal(b.bufs[0]![8999], 7);
  d.close();
});

t.test('link down drops both ways', async (t) => {
  const a = new DummyNetdev('ld-a');
  const b = new DummyNetdev('ld-b');
  connectDummies(a, b);
  a.setCarrier(false);
  t.notOk(a.carrier());
  const fb = newFrameBatch(1);
  fb.bufs[0] = new Uint8Array(60);
  fb.count = 1;
  fb.lens[0] = 60;
  t.equal(a.sendBatch(fb), 0);
  t.equal(a.stats().txDropped, 1);
  t.notOk(a.receive(new Uint8Array(60)));
  t.equal(b.rxQueued, 0);
  a.close();
  b.close();
});

t.test('captureTx keeps copies of sent frames', async (t) => {
  const a = new DummyNetdev('cap', { captureTx: true });
  const f = new Uint8Array(60).fill(9);
  const fb = newFrameBatch(1);
  fb.bufs[0] = f;
  fb.lens[0] = 60;
  fb.count = 1;
  a.sendBatch(fb);
  f.fill(0);
  const sent = a.takeSent();
  t.equal(sent.length, 1);
  t.equal(sent[0]![0], 9);
  t.same(a.takeSent(), []);
  a.close();
});

t.test('pcap recording writes libpcap with Ethernet link type', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dummy-pcap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const clock = new FakeClock(0, 1_700_000_000_500);
  const a = new DummyNetdev('pc-a', { txPcap: join(dir, 'tx.pcap'), clock });
  const b = new DummyNetdev('pc-b', { rxPcap: join(dir, 'rx.pcap'), clock });
  connectDummies(a, b);
  const fb = newFrameBatch(2);
  fb.bufs[0] = new Uint8Array(60).fill(0xab);
  fb.lens[0] = 60;
  fb.bufs[1] = new Uint8Array(42).fill(0xcd);
  fb.lens[1] = 42;
  fb.count = 2;
  a.sendBatch(fb);
  a.close();
  b.close();
  for (const name of ['tx.pcap', 'rx.pcap']) {
    const buf = readFileSync(join(dir, name));
    const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    t.equal(v.getUint32(0, true), 0xa1b2c3d4, `${name}: magic`);
    t.equal(v.getUint16(4, true), 2);
    t.equal(v.getUint16(6, true), 4);
    t.equal(v.getUint32(20, true), 1, `${name}: linktype ethernet`);
    t.equal(v.getUint32(24, true), 1_700_000_000, 'ts sec');
    t.equal(v.getUint32(28, true), 500_000, 'ts usec');
    t.equal(v.getUint32(32, true), 60, 'incl_len');
    t.equal(v.getUint32(36, true), 60, 'orig_len');
    t.equal(buf[40], 0xab);
    const second = 40 + 60;
    t.equal(v.getUint32(second + 8, true), 42);
    t.equal(buf[second + 16], 0xcd);
    t.equal(buf.length, 24 + 16 + 60 + 16 + 42);
  }
});

t.test('the provider class opens named dummies and refuses duplicates', async (t) => {
  const n = dummyNetdevClass.open('cls-1', { capture_tx: 'true' });
  t.equal(n.type, 'dummy');
  t.equal(findDummy('cls-1'), n);
  t.throws(() => dummyNetdevClass.open('cls-1'));
  n.close();
  t.equal(findDummy('cls-1'), undefined);
  const again = dummyNetdevClass.open('cls-1');
  again.close();
});

/**
 * VLAN access and trunk ports through the userspace datapath (NORMAL, fail_mode standalone):
 * h1 and h2 are access ports in VLAN 10, h3 an access port in VLAN 20, h4 a trunk of VLANs 10
 * and 20 towards a host with an address in each VLAN, h5 a trunk of every VLAN (no VLAN
 * configuration). A tagged frame from trunk h5 reaches trunk h4 with its tag whole (VID and
 * priority) and access port h1 untagged. Access ports in the same VLAN reach each
 * other, VLAN 20 reaches neither; the trunk host answers in each VLAN, and tcpdump -e on its
 * trunk link shows each VLAN's tag intact, while the access hosts see untagged frames.
 *
 * The trunk host would naturally be VLAN subinterfaces (`ip link add ... type vlan`), but kernels
 * without 8021q (the CI machine's has neither VLAN nor bridge devices) refuse those: the trunk
 * host is then tests/system/fixtures/datapath-vlan-host.py, a raw-socket responder answering ARP
 * and ICMP echo per VLAN, tagged, and ignoring untagged frames. The test uses real VLAN devices
 * when the kernel has them.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { DEBIAN_PYTHON } from '../helpers/peers.js';
import { sleep } from '../helpers/net.js';
import { capture, pingUntil, startLab, type LabHost as Host } from './datapath-lab.js';

const SCRIPT = fileURLToPath(new URL('fixtures/datapath-vlan-host.py', import.meta.url));

t.test('VLAN access and trunk ports', async (t) => {
  const lab = await startLab(t, {
    id: 'v',
    hosts: 5,
    net: 82,
    addresses: false,
    peers: ['tcpdump'],
  });
  if (lab === undefined) return;
  const [h1, h2, h3, h4, h5] = lab.hosts as [Host, Host, Host, Host, Host];
  const v10 = `${lab.tag}v10`;
  const v20 = `${lab.tag}v20`;
  for (const cmd of [
    ['ip', '-n', h1.ns, 'addr', 'add', '10.82.0.1/24', 'dev', h1.dev],
    ['ip', '-n', h2.ns, 'addr', 'add', '10.82.0.2/24', 'dev', h2.dev],
    // h3 sits in VLAN 20 with addresses of both subnets: VLAN 10 must stay out of its reach.
    ['ip', '-n', h3.ns, 'addr', 'add', '10.82.0.3/24', 'dev', h3.dev],
    ['ip', '-n', h3.ns, 'addr', 'add', '10.83.0.3/24', 'dev', h3.dev],
  ]) {
    const r = await lab.sh(cmd);
    t.equal(r.code, 0, `${cmd.join(' ')}: ${r.stderr}`);
  }
  // The trunk host: VLAN subinterfaces if the kernel has them, else the raw-socket responder.
  const vlanDev = await lab.sh([
    'ip',
    '-n',
    h4.ns,
    'link',
    'add',
    'link',
    h4.dev,
    'name',
    v10,
    'type',
    'vlan',
    'id',
    '10',
  ]);
  let responderOut = '';
  if (vlanDev.code === 0) {
    t.comment('trunk host: kernel VLAN subinterfaces');
    for (const cmd of [
      ['ip', '-n', h4.ns, 'link', 'add', 'link', h4.dev, 'name', v20, 'type', 'vlan', 'id', '20'],
      ['ip', '-n', h4.ns, 'addr', 'add', '10.82.0.4/24', 'dev', v10],
      ['ip', '-n', h4.ns, 'addr', 'add', '10.83.0.4/24', 'dev', v20],
      ['ip', '-n', h4.ns, 'link', 'set', v10, 'up'],
      ['ip', '-n', h4.ns, 'link', 'set', v20, 'up'],
      // Answer ARP only for the receiving subinterface's own address (no weak-host replies
      // across VLANs).
      ['ip', 'netns', 'exec', h4.ns, 'sysctl', '-qw', 'net.ipv4.conf.all.arp_ignore=1'],
    ]) {
      const r = await lab.sh(cmd);
      t.equal(r.code, 0, `${cmd.join(' ')}: ${r.stderr}`);
    }
  } else {
    t.comment(`trunk host: raw-socket responder (${vlanDev.stderr.trim()})`);
    const rp = spawn(
      'ip',
      [
        'netns',
        'exec',
        h4.ns,
        DEBIAN_PYTHON,
        SCRIPT,
        h4.dev,
        h4.mac,
        '10=10.82.0.4',
        '20=10.83.0.4',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    rp.stdout.setEncoding('utf8').on('data', (x: string) => (responderOut += x));
    rp.stderr.setEncoding('utf8').on('data', (x: string) => (responderOut += x));
    const rpExit = new Promise<void>((r) => rp.on('exit', () => r()));
    t.teardown(async () => {
      if (rp.exitCode === null && rp.signalCode === null) rp.kill('SIGTERM');
      await Promise.race([rpExit, sleep(3000)]);
    });
    for (let i = 0; i < 100 && !/ready/.test(responderOut) && rp.exitCode === null; i++) {
      await sleep(50);
    }
    t.match(responderOut, /ready/, `responder started: ${responderOut}`);
  }
  const br = `${lab.tag}br`;
  const add = await lab.addBridge(br);
  t.equal(add.code, 0, `add-br: ${add.stderr}`);
  const vl = await lab.vsctl(
    'set',
    'Port',
    h1.sw,
    'tag=10',
    '--',
    'set',
    'Port',
    h2.sw,
    'tag=10',
    '--',
    'set',
    'Port',
    h3.sw,
    'tag=20',
    '--',
    'set',
    'Port',
    h4.sw,
    'trunks=10,20',
  );
  t.equal(vl.code, 0, `VLAN configuration: ${vl.stderr}`);

  const p12 = await pingUntil(lab, 1, '10.82.0.2');
  t.equal(p12.code, 0, `access ports of VLAN 10 reach each other:\n${p12.stdout}${p12.stderr}`);

  // Trunk: h1 (access 10) pings h4's VLAN 10 subinterface; the tag is on the wire at h4.
  const cap4 = await capture(lab, 4, h4.dev, 'vlan 10 and icmp', 2);
  const cap1 = await capture(lab, 1, h1.dev, 'icmp', 2);
  const p14 = await pingUntil(lab, 1, '10.82.0.4');
  t.equal(p14.code, 0, `VLAN 10 reaches the trunk's subinterface:\n${p14.stdout}${p14.stderr}`);
  const seen4 = await cap4.done();
  t.match(
    seen4,
    /ethertype 802\.1Q \(0x8100\), length \d+: vlan 10, p 0, ethertype IPv4.*10\.82\.0\.1 > 10\.82\.0\.4: ICMP echo request/,
    `the echo request arrives on the trunk tagged with VLAN 10:\n${seen4}`,
  );
  const dump10 = (await lab.appctl('dpctl/dump-flows')).stdout;
  t.match(
    dump10,
    /eth_type\(0x8100\),vlan\(vid=10,pcp=0\),encap\(eth_type\(0x0800\),ipv4\(frag=no\)\), .*actions:pop_vlan,\d+$/m,
    `a megaflow matches the trunk's VLAN 10 tag and pops it:\n${dump10}`,
  );
  t.match(dump10, /actions:push_vlan\(vid=10,pcp=0\),\d+$/m, `one pushes it towards the trunk`);
  const seen1 = await cap1.done();
  t.match(seen1, /ICMP echo reply/, `h1 sees the reply:\n${seen1}`);
  t.notMatch(seen1, /802\.1Q|vlan/, `access port frames carry no tag:\n${seen1}`);

  // VLAN 20: h3 reaches h4's VLAN 20 subinterface, tagged 20 on the trunk.
  const cap4b = await capture(lab, 4, h4.dev, 'vlan 20 and icmp', 2);
  const p34 = await pingUntil(lab, 3, '10.83.0.4');
  t.equal(p34.code, 0, `VLAN 20 reaches the trunk's subinterface:\n${p34.stdout}${p34.stderr}`);
  const seen4b = await cap4b.done();
  t.match(
    seen4b,
    /vlan 20, p 0, ethertype IPv4.*10\.83\.0\.3 > 10\.83\.0\.4: ICMP echo request/,
    `tagged with VLAN 20 on the trunk:\n${seen4b}`,
  );
  const dump20 = (await lab.appctl('dpctl/dump-flows')).stdout;
  t.match(dump20, /vlan\(vid=20,pcp=0\).*actions:pop_vlan,\d+$/m, `VLAN 20 popped:\n${dump20}`);
  t.match(dump20, /actions:push_vlan\(vid=20,pcp=0\),\d+$/m, 'VLAN 20 pushed');

  // Isolation: VLAN 20 does not reach VLAN 10 (neither the access ports nor the trunk's VLAN 10).
  for (const dst of ['10.82.0.1', '10.82.0.2', '10.82.0.4']) {
    const r = await lab.inHost(3, ['ping', '-c', '2', '-i', '0.2', '-W', '1', dst]);
    t.not(r.code, 0, `h3 (VLAN 20) does not reach ${dst}:\n${r.stdout}`);
  }
  // Trunk to trunk: a tagged frame keeps its whole tag, priority included.
  const capT = await capture(lab, 4, h4.dev, 'vlan 10 and arp', 1);
  const capA = await capture(lab, 1, h1.dev, 'arp and host 10.82.0.5', 1);
  const capR = await capture(lab, 5, h5.dev, 'vlan 10 and arp', 2);
  const probe = await lab.inHost(5, [
    DEBIAN_PYTHON,
    SCRIPT,
    '--probe',
    h5.dev,
    h5.mac,
    '10',
    '5',
    '10.82.0.5',
    '10.82.0.4',
  ]);
  t.equal(probe.code, 0, `tagged probe sent from h5: ${probe.stderr}`);
  const seenT = await capT.done();
  t.match(
    seenT,
    /ethertype 802\.1Q \(0x8100\), length \d+: vlan 10, p 5, ethertype ARP \(0x0806\), Request who-has 10\.82\.0\.4 tell 10\.82\.0\.5/,
    `trunk to trunk, the tag arrives intact (VID 10, priority 5):\n${seenT}`,
  );
  const seenA = await capA.done();
  t.match(seenA, /ethertype ARP \(0x0806\).*Request who-has 10\.82\.0\.4/, `h1 sees it:\n${seenA}`);
  t.notMatch(seenA, /802\.1Q/, 'untagged on the access port');
  const seenR = await capR.done();
  t.match(
    seenR,
    /vlan 10, p 0, ethertype ARP \(0x0806\), Reply 10\.82\.0\.4 is-at/,
    `h4's answer comes back to h5 tagged:\n${seenR}`,
  );

  // A double-tagged frame (802.1Q in 802.1Q) from trunk to trunk keeps both tags; the access
  // port of the outer VLAN gets it with the outer tag popped, the inner one left.
  const capQ = await capture(lab, 4, h4.dev, 'vlan 10 and vlan 30', 1);
  const capQa = await capture(lab, 2, h2.dev, 'vlan 30', 1);
  const probeQ = await lab.inHost(5, [
    DEBIAN_PYTHON,
    SCRIPT,
    '--probe',
    h5.dev,
    h5.mac,
    '10',
    '3',
    '10.82.0.5',
    '10.82.0.77',
    '30',
  ]);
  t.equal(probeQ.code, 0, `double-tagged probe sent from h5: ${probeQ.stderr}`);
  const seenQ = await capQ.done();
  t.match(
    seenQ,
    /vlan 10, p 3, ethertype 802\.1Q \(0x8100\), vlan 30, p 0, ethertype ARP \(0x0806\), Request who-has 10\.82\.0\.77/,
    `both tags arrive intact at the other trunk:\n${seenQ}`,
  );
  const seenQa = await capQa.done();
  t.match(
    seenQa,
    /ethertype 802\.1Q \(0x8100\), length \d+: vlan 30, p 0, ethertype ARP \(0x0806\), Request who-has 10\.82\.0\.77/,
    `the access port gets the inner tag only:\n${seenQa}`,
  );

  if (vlanDev.code !== 0) {
    // What reached the trunk host: tagged frames of both VLANs, nothing untagged from VLAN 10/20.
    t.match(responderOut, /rx vid=10 type=0x0800/, 'IPv4 arrived tagged 10 at the trunk host');
    t.match(responderOut, /rx vid=20 type=0x0806/, 'ARP arrived tagged 20 at the trunk host');
    t.notMatch(responderOut, /rx vid=none type=0x080[06]/, `nothing untagged:\n${responderOut}`);
  }
  const fdb = (await lab.appctl('fdb/show', br)).stdout;
  t.match(fdb, new RegExp(`\\s10\\s+${h1.mac}`), `h1 learned in VLAN 10:\n${fdb}`);
  t.match(fdb, new RegExp(`\\s20\\s+${h3.mac}`), `h3 learned in VLAN 20:\n${fdb}`);
  t.notMatch(fdb, new RegExp(`\\s10\\s+${h3.mac}`), 'h3 never seen in VLAN 10');
  t.notMatch(lab.daemonStderr(), /uncaught|TypeError|RangeError/i, 'daemon stderr clean');
});

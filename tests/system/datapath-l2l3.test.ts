/**
 * ARP, IPv6 neighbour discovery and jumbo frames through the userspace datapath (NORMAL): two
 * hosts with IPv6 enabled in their namespaces (ULA and link-local addresses) and MTU 9000 on
 * every veth end. ARP resolves (the hosts' neighbour tables hold each other's MAC), ND resolves
 * and ping -6 passes, on ULA and link-local addresses, and 8000- and 8972-byte pings with DF
 * set pass unfragmented in both directions.
 */
import t from 'tap';
import { sleep } from '../helpers/net.js';
import { iperf, pingUntil, startLab } from './datapath-lab.js';

t.test('ARP, IPv6 ND and MTU 9000 frames', async (t) => {
  const lab = await startLab(t, {
    id: 'n',
    hosts: 2,
    net: 84,
    ipv6: true,
    mtu: 9000,
    peers: ['iperf3'],
  });
  if (lab === undefined) return;
  const [h1, h2] = lab.hosts as [(typeof lab.hosts)[0], (typeof lab.hosts)[0]];
  for (const h of lab.hosts) {
    const r = await lab.sh([
      'ip',
      '-n',
      h.ns,
      '-6',
      'addr',
      'add',
      `fd00:84::${h.index}/64`,
      'dev',
      h.dev,
      'nodad',
    ]);
    t.equal(r.code, 0, `ULA address on h${h.index}: ${r.stderr}`);
  }
  const br = `${lab.tag}br`;
  const add = await lab.addBridge(br);
  t.equal(add.code, 0, `add-br: ${add.stderr}`);
  const mtu = await lab.sh(['ip', '-n', lab.swNs, '-o', 'link', 'show', h1.sw]);
  t.match(mtu.stdout, /mtu 9000/, 'the switch side keeps MTU 9000');

  await t.test('ARP', async (t) => {
    const p = await pingUntil(lab, 1, h2.ip);
    t.equal(p.code, 0, `h1 -> h2:\n${p.stdout}${p.stderr}`);
    const n1 = await lab.inHost(1, ['ip', '-4', 'neigh', 'show', h2.ip]);
    t.match(n1.stdout, new RegExp(`lladdr ${h2.mac}`), `h1 resolved h2 by ARP: ${n1.stdout}`);
    const n2 = await lab.inHost(2, ['ip', '-4', 'neigh', 'show', h1.ip]);
    t.match(n2.stdout, new RegExp(`lladdr ${h1.mac}`), `h2 learned h1 by ARP: ${n2.stdout}`);
    const dump = (await lab.appctl('dpctl/dump-flows')).stdout;
    t.match(dump, /eth_type\(0x0806\)/, `ARP went through megaflows:\n${dump}`);
  });

  await t.test('IPv6 neighbour discovery', async (t) => {
    const p = await pingUntil(lab, 1, 'fd00:84::2', ['-6']);
    t.equal(p.code, 0, `ping -6 h1 -> h2 (ULA):\n${p.stdout}${p.stderr}`);
    const n1 = await lab.inHost(1, ['ip', '-6', 'neigh', 'show', 'fd00:84::2']);
    t.match(n1.stdout, new RegExp(`lladdr ${h2.mac}`), `h1 resolved h2 by ND: ${n1.stdout}`);
    const back = await pingUntil(lab, 2, 'fd00:84::1', ['-6']);
    t.equal(back.code, 0, `ping -6 h2 -> h1:\n${back.stdout}`);
    // Link-local: wait for the kernel's DAD to finish on h2's address, then ping it.
    let ll = '';
    for (let i = 0; i < 100 && ll === ''; i++) {
      const a = await lab.inHost(2, [
        'ip',
        '-6',
        '-o',
        'addr',
        'show',
        'dev',
        h2.dev,
        'scope',
        'link',
      ]);
      const m = /inet6 (fe80::[0-9a-f:]+)\/64 scope link(?! tentative)/.exec(a.stdout);
      if (m && !/tentative/.test(a.stdout)) ll = m[1]!;
      else await sleep(100);
    }
    t.not(ll, '', 'h2 has a link-local address');
    const pl = await pingUntil(lab, 1, `${ll}%${h1.dev}`, ['-6']);
    t.equal(pl.code, 0, `ping -6 to h2's link-local address:\n${pl.stdout}${pl.stderr}`);
    const dump = (await lab.appctl('dpctl/dump-flows')).stdout;
    t.match(dump, /eth_type\(0x86dd\),ipv6\(frag=no\)/, `IPv6 megaflows:\n${dump}`);
  });

  await t.test('MTU 9000', async (t) => {
    for (const [from, to] of [
      [1, h2.ip],
      [2, h1.ip],
    ] as const) {
      for (const size of ['8000', '8972']) {
        const p = await pingUntil(lab, from, to, ['-s', size, '-M', 'do']);
        t.equal(p.code, 0, `ping -s ${size} -M do h${from} -> ${to}:\n${p.stdout}${p.stderr}`);
        t.match(p.stdout, new RegExp(`${Number(size) + 8} bytes from`), 'full-size replies');
      }
    }
    const p6 = await pingUntil(lab, 1, 'fd00:84::2', ['-6', '-s', '8000', '-M', 'do']);
    t.equal(p6.code, 0, `ping -6 -s 8000 -M do:\n${p6.stdout}${p6.stderr}`);
    const over = await lab.inHost(1, [
      'ping',
      '-c',
      '1',
      '-W',
      '1',
      '-s',
      '8973',
      '-M',
      'do',
      h2.ip,
    ]);
    t.not(over.code, 0, 'one byte over the MTU is refused by the sender (the MTU is really 9000)');
    const ip = await iperf(lab, 1, 2);
    t.ok(
      ip.bytes > 1_000_000,
      `iperf3 with 9000-byte frames moved ${ip.bytes} bytes (${(ip.bps / 1e6).toFixed(0)} Mbit/s)\n${ip.text}`,
    );
    const show = (await lab.appctl('dpctl/show', '-s')).stdout;
    t.match(show, /RX packets:[1-9]/, `port statistics:\n${show}`);
  });
  t.notMatch(lab.daemonStderr(), /uncaught|TypeError|RangeError/i, 'daemon stderr clean');
});

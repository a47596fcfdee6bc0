import t from 'tap';
import { ETH_TYPE, W, newFlowKey } from '../../../lib/packet/flow-key.js';
import type { DpAppctlCommand } from '../../../datapath/appctl.js';
import { packetFromArg, registerDatapathCommands } from '../../../datapath/appctl.js';
import { setAction } from '../../../datapath/actions.js';
import type { DpifNetdev } from '../../../datapath/dpif-netdev.js';
import { hex, pkt, testDp } from './helpers.js';

function registry(dps: DpifNetdev[]): (name: string, ...args: string[]) => Promise<string> {
  const cmds = new Map<string, DpAppctlCommand>();
  registerDatapathCommands({ register: (c) => cmds.set(c.name, c) }, { datapaths: () => dps });
  return async (name, ...args) => {
    const c = cmds.get(name);
    if (!c) throw new Error(`no ${name}`);
    if (args.length < c.minArgs || args.length > c.maxArgs) throw new Error('arg count');
    return await c.handler(args);
  };
}

/** xlate stand-in: UDP → set ipv4 src (masked) + ttl, output 1; others: drop. */
function handler(dp: DpifNetdev): void {
  dp.setUpcallHandler({
    upcall: (batch) =>
      batch.map((r) => {
        const mask = newFlowKey();
        mask[W.ETH_TYPE] = 0xffff;
        mask[W.ETH_SRC] = 0xffff;
        mask[W.ETH_SRC + 1] = 0xffffffff;
        if (r.key[W.ETH_TYPE] === ETH_TYPE.IP) {
          mask[W.NW] = 0x03ff00ff;
          mask[W.NW_SRC] = 0xffffff00;
          if ((r.key[W.NW]! & 0xff) === 17) {
            mask[W.TP] = 0xffff;
            return {
              mask,
              actions: [
                setAction('ipv4_src', 0x01020300, 0xffffff00),
                setAction('ipv4_ttl', 63),
                { type: 'output', port: 1 },
              ],
            };
          }
        }
        return { mask, actions: [] };
      }),
  });
}

const UDP =
  'dl_src=50:54:00:00:00:01,dl_dst=50:54:00:00:00:02,udp,nw_src=10.0.1.1,nw_dst=10.0.0.2,nw_ttl=64,tp_src=1000,tp_dst=2000';

t.test('netdev-dummy/receive, dpctl/show, dump-flows, upcall/show, del-flows', async (t) => {
  const { dp, ports, clock } = testDp(3);
  handler(dp);
  const run = registry([dp]);
  const p1 = ports[2]!.name;
  t.equal(await run('netdev-dummy/receive', p1, UDP), '');
  t.equal(ports[0]!.takeSent().length, 1, 'received, processed and forwarded at once');
  await run('netdev-dummy/receive', p1, UDP, UDP);
  clock.advance(587);
  const frameLen = packetFromArg(UDP).length;
  t.equal(
    await run('dpctl/dump-flows'),
    'flow-dump from the main thread:\n' +
      'recirc_id(0),in_port(3),packet_type(ns=0,id=0),eth(src=50:54:00:00:00:01),eth_type(0x0800),' +
      'ipv4(src=10.0.1.1/255.255.255.0,proto=17,ttl=64,frag=no),udp(dst=2000), ' +
      `packets:2, bytes:${2 * frameLen}, used:0.587s, ` +
      'actions:set(ipv4(src=1.2.3.0/255.255.255.0,ttl=63)),1\n',
  );
  const verbose = await run('dpctl/dump-flows', '-m');
  t.match(
    verbose,
    /^flow-dump from the main thread:\nufid:[0-9a-f-]+, recirc_id\(0\),in_port\(t\d+-p3\),/,
  );
  t.match(verbose, /actions:set\(ipv4\(src=1\.2\.3\.0\/255\.255\.255\.0,ttl=63\)\),t\d+-p1\n$/);
  // A TCP packet: drop flow with TCP flags in its stats.
  const syn = pkt(
    'dl_src=50:54:00:00:00:01,dl_dst=50:54:00:00:00:02,tcp,nw_src=10.0.1.1,nw_dst=10.0.0.2,nw_ttl=64,tp_src=1,tp_dst=80,tcp_flags=syn',
  );
  const ack = pkt(
    'dl_src=50:54:00:00:00:01,dl_dst=50:54:00:00:00:02,tcp,nw_src=10.0.1.1,nw_dst=10.0.0.2,nw_ttl=64,tp_src=1,tp_dst=80,tcp_flags=ack',
  );
  await run('netdev-dummy/receive', p1, hex(syn), hex(ack));
  const lines = (await run('dpctl/dump-flows')).split('\n');
  t.equal(
    lines[2],
    'recirc_id(0),in_port(3),packet_type(ns=0,id=0),eth(src=50:54:00:00:00:01),eth_type(0x0800),' +
      'ipv4(src=10.0.1.1/255.255.255.0,proto=6,ttl=64,frag=no), packets:1, bytes:' +
      `${ack.length}, used:0.000s, flags:., actions:drop`,
  );
  t.equal(
    await run('dpctl/show'),
    `netdev@ovs-netdev:\n  lookups: hit:3 missed:2 lost:0\n  flows: 2\n` +
      `  port 1: ${ports[0]!.name} (dummy)\n  port 2: ${ports[1]!.name} (dummy)\n  port 3: ${p1} (dummy)\n`,
  );
  const s = await run('dpctl/show', '-s');
  t.match(s, `  port 3: ${p1} (dummy)\n    RX packets:5 errors:0 dropped:0 overruns:? frame:?\n`);
  t.match(
    s,
    `  port 1: ${ports[0]!.name} (dummy)\n    RX packets:0 errors:0 dropped:0 overruns:? frame:?\n    TX packets:3 `,
  );
  t.equal(
    await run('upcall/show'),
    'netdev@ovs-netdev:\n  flows         : (current 2) (avg 2) (max 2) (limit 200000)\n' +
      '  dump duration : 1ms\n  ufid enabled : true\n\n  1: (keys 2)\n',
  );
  t.equal(await run('dpctl/del-flows'), '');
  t.equal(dp.stats().flows, 0);
  t.equal(await run('dpctl/dump-flows'), '', 'nothing to dump');
  await run('netdev-dummy/receive', p1, UDP);
  t.equal(dp.stats().flows, 1);
  t.equal(await run('revalidator/purge'), '');
  t.equal(dp.stats().flows, 0);
  await t.rejects(run('netdev-dummy/receive', 'nope', UDP), /no such dummy netdev/);
  await t.rejects(run('netdev-dummy/receive', p1, 'tcp,bogus=1'), /bad packet or flow syntax/);
  await t.rejects(run('dpctl/show', 'netdev@nope'), /no such datapath/);
  t.match(await run('dpctl/show', 'netdev@ovs-netdev'), /^netdev@ovs-netdev:\n/);
});

t.test('packetFromArg: hex and flow syntax', async (t) => {
  const f = packetFromArg(UDP);
  t.equal(f.length, 60, 'padded to the Ethernet minimum');
  t.same([...packetFromArg(hex(f))], [...f]);
  t.same([...packetFromArg('0x' + hex(f))], [...f]);
});

t.test("registers into appctl's real registry", async (t) => {
  const { AppctlRegistry } = await import('../../../appctl/registry.js');
  const reg = new AppctlRegistry();
  const { dp, ports } = testDp(2);
  handler(dp);
  registerDatapathCommands(reg, { datapaths: () => [dp] });
  t.ok(reg.get('dpctl/show'));
  await reg.run('netdev-dummy/receive', [ports[0]!.name, UDP]);
  t.match(await reg.run('dpctl/show', []), /lookups: hit:0 missed:1 lost:0\n {2}flows: 1\n/);
  await t.rejects(
    reg.run('netdev-dummy/receive', [ports[0]!.name]),
    /requires at least 2 arguments/,
  );
});

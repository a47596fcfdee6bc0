/**
 * `tsvs start --remote pssl:PORT:IP --private-key --certificate --ca-cert` with certificates made
 * by Debian's ovs-pki: ovsdb-client and ovs-vsctl connect over SSL with their own certificates.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { startDaemonChild } from '../helpers/daemon.js';
import { peerPath, requirePeer } from '../helpers/peers.js';
import { runTool } from '../helpers/tools.js';
import { makeTempDir } from '../helpers/daemon.js';
import { freePort } from '../helpers/net.js';

t.test('pssl remote from the command line, certificates from ovs-pki', async (t) => {
  if (!requirePeer(t, 'ovs-pki', 'ovsdb-client', 'ovs-vsctl')) return;
  const dir = makeTempDir();
  const pki = join(dir, 'pki');
  const pkiRun = (...args: string[]): void => {
    execFileSync(peerPath('ovs-pki')!, [`--dir=${pki}`, `--log=${join(dir, 'pki.log')}`, ...args], {
      cwd: dir,
      stdio: 'ignore',
    });
  };
  pkiRun('init');
  pkiRun('req+sign', 'srv', 'switch');
  pkiRun('req+sign', 'cli', 'switch');
  const ca = join(pki, 'switchca', 'cacert.pem');
  const port = await freePort();
  const c = await startDaemonChild({
    t,
    args: [
      '--remote',
      `pssl:${port}:127.0.0.1`,
      '--private-key',
      join(dir, 'srv-privkey.pem'),
      '--certificate',
      join(dir, 'srv-cert.pem'),
      '--ca-cert',
      ca,
    ],
  });
  const sslArgs = [
    `--private-key=${join(dir, 'cli-privkey.pem')}`,
    `--certificate=${join(dir, 'cli-cert.pem')}`,
    `--ca-cert=${ca}`,
  ];
  const dbs = await runTool('ovsdb-client', [...sslArgs, 'list-dbs', `ssl:127.0.0.1:${port}`]);
  t.equal(dbs.code, 0, dbs.stderr);
  t.equal(dbs.stdout, 'Open_vSwitch\n_Server\n');
  const br = await runTool('ovs-vsctl', [
    ...sslArgs,
    `--db=ssl:127.0.0.1:${port}`,
    '--timeout=20',
    'add-br',
    'sslbr',
  ]);
  t.equal(br.code, 0, br.stderr);
  const list = await runTool('ovs-vsctl', [`--db=unix:${c.paths.dbSocket}`, 'list-br']);
  t.equal(list.stdout, 'sslbr\n');
});

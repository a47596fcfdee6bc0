/**
 * Peer tools for interop tests: Debian's Open vSwitch tools, os-ken, Mininet, iproute2...
 *
 * A test that needs a peer starts with `if (!requirePeer(t, 'ovs-appctl')) return;`. When the peer
 * is missing, under `CI=true` the test FAILS with a message naming the Debian package to install
 * (CI must never go green by skipping); elsewhere it is skipped with the same reason.
 */
import { accessSync, constants } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { loadNative } from '../../datapath/native.js';

/** Debian's Python, which has python3-os-ken etc. (the `python3` on PATH may be another one). */
export const DEBIAN_PYTHON = '/usr/bin/python3';

/**
 * Known peers and the Debian package that provides each. A name starting with `python:` is a
 * Python module imported by {@link DEBIAN_PYTHON}.
 */
export const PEER_PACKAGES = {
  'ovs-vsctl': 'openvswitch-switch',
  'ovs-dpctl': 'openvswitch-switch',
  'ovs-appctl': 'openvswitch-common',
  'ovs-ofctl': 'openvswitch-common',
  'ovsdb-client': 'openvswitch-common',
  'ovsdb-tool': 'openvswitch-common',
  'ovsdb-server': 'openvswitch-common',
  'python:ovs': 'python3-openvswitch',
  'python:ovsdbapp': 'python3-ovsdbapp',
  'python:os_ken': 'python3-os-ken',
  'osken-manager': 'python3-os-ken',
  mn: 'mininet',
  ip: 'iproute2',
  ethtool: 'ethtool',
  iperf3: 'iperf3',
  mausezahn: 'netsniff-ng',
  'netsniff-ng': 'netsniff-ng',
  tcpdump: 'tcpdump',
  ping: 'iputils-ping',
  chromium: 'chromium',
} as const;

/** A peer named in {@link PEER_PACKAGES}. */
export type Peer = keyof typeof PEER_PACKAGES;

/** Directories searched before PATH, so Debian's tools win over anything else of the same name. */
const SYSTEM_DIRS = ['/usr/bin', '/usr/sbin', '/bin', '/sbin'];

const pathCache = new Map<string, string | undefined>();

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Absolute path of an executable peer (system directories first, then PATH), or undefined.
 * For a `python:` peer, returns {@link DEBIAN_PYTHON} if the module imports.
 */
export function peerPath(tool: string): string | undefined {
  if (pathCache.has(tool)) return pathCache.get(tool);
  let found: string | undefined;
  if (tool.startsWith('python:')) {
    const mod = tool.slice('python:'.length);
    if (/^[A-Za-z_][A-Za-z0-9_.]*$/.test(mod) && isExecutable(DEBIAN_PYTHON)) {
      const r = spawnSync(DEBIAN_PYTHON, ['-c', `import ${mod}`], {
        stdio: 'ignore',
        timeout: 30_000,
      });
      if (r.status === 0) found = DEBIAN_PYTHON;
    }
  } else {
    const dirs = [...SYSTEM_DIRS, ...(process.env.PATH ?? '').split(delimiter).filter(Boolean)];
    found = dirs.map((d) => join(d, tool)).find(isExecutable);
  }
  pathCache.set(tool, found);
  return found;
}

/** Why `tool` is unusable, or undefined if it is there. */
export function missingPeer(tool: string): string | undefined {
  if (peerPath(tool) !== undefined) return undefined;
  const pkg = (PEER_PACKAGES as Record<string, string>)[tool];
  const what = tool.startsWith('python:')
    ? `Python module ${tool.slice(7)} (for ${DEBIAN_PYTHON})`
    : `${tool}`;
  return `${what} is not installed${pkg ? ` (Debian package ${pkg})` : ''}`;
}

/** True when running under CI (`CI=true`), where missing peers are failures. */
export function inCI(): boolean {
  return process.env.CI === 'true';
}

/** The part of tap's Test that {@link requirePeer} uses. */
export interface PeerTest {
  fail(message: string): unknown;
  plan(n: number, comment?: string): unknown;
}

/**
 * Checks that every peer in `tools` is installed. Returns true if all are. Otherwise, under
 * `CI=true` it records a failure naming the missing packages; elsewhere it marks the test as
 * skipped (`t.plan(0, reason)`). Either way it returns false and the caller must return at once.
 * Call it first in the test, before any assertion.
 */
export function requirePeer(t: PeerTest, ...tools: string[]): boolean {
  const missing = tools.map(missingPeer).filter((m): m is string => m !== undefined);
  if (missing.length === 0) return true;
  const reason = `missing peer: ${missing.join('; ')}`;
  if (inCI()) t.fail(`${reason} — CI must install it (see .ci/run)`);
  else t.plan(0, `skip: ${reason}`);
  return false;
}

/**
 * Checks that the native addon loads (`npm install` builds it), as {@link requirePeer} checks a
 * tool: under `CI=true` a failure, elsewhere a skip; returns false and the caller must return.
 */
export function requireNative(t: PeerTest): boolean {
  try {
    loadNative();
    return true;
  } catch (e) {
    if (inCI()) t.fail(`native addon not built: ${(e as Error).message}`);
    else t.plan(0, 'skip: native addon not built (npx node-gyp rebuild --directory=native)');
    return false;
  }
}

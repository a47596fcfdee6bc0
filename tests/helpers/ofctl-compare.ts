/**
 * Harness for running the same `ovs-ofctl -O OpenFlow13` commands against Open vSwitch 3.1 and
 * against tsvs and comparing what they print.
 *
 * - {@link startRefOvsDummy}: a private OVS 3.1 like tests/helpers/ref-ovs.ts, but with
 *   `ovs-vswitchd --enable-dummy`, so `type=dummy` interfaces exist on both switches (netdev-dummy
 *   counts what is sent to it, which lets a test compare port counters after packet-out).
 * - {@link normalizeOfctl}, {@link withTarget}, {@link sortedDump}: output normalisation.
 */
import { startRefOvs, type RefOvs } from './ref-ovs.js';

/** A running reference OVS started by {@link startRefOvsDummy}. */
export type RefOvsDummy = RefOvs;

/**
 * Starts ovsdb-server and `ovs-vswitchd --enable-dummy` (in its own network namespace) with one
 * bridge: `datapath_type=netdev`, `fail_mode=secure`, OpenFlow 1.3, datapath id 1.
 */
export function startRefOvsDummy(bridge = 'br0'): Promise<RefOvsDummy> {
  return startRefOvs({ bridge, enableDummy: true });
}

/**
 * Blanks what legitimately differs between two runs of the same command: durations, xids, the
 * switch socket path, ovs-ofctl's own `timeval`/`coverage` log lines (it prints them on stderr
 * when the loaded machine stalls it), and (when `counters` is set) packet and byte counters.
 */
export function normalizeOfctl(s: string, counters = false): string {
  s = s
    // ovs-ofctl's own complaints about a slow machine (its poll loop, with a coverage dump).
    .replace(/^\S+\|\d+\|(?:timeval|coverage)\|.*\n?/gm, '')
    .replace(/duration[=:][0-9.]+s/g, 'duration=X')
    .replace(/\(xid=0x[0-9a-f]+\)/g, '(xid=X)')
    .replace(/unix:\S+\.mgmt/g, 'SWITCH');
  if (counters) {
    s = s
      .replace(/(n_packets|n_bytes|packet_count|byte_count|packets|bytes)=\d+/g, '$1=N')
      .replace(/(lookup_count|matched_count|lookup|matched)[=:] ?\d+/g, '$1=N');
  }
  return s;
}

/** Puts the switch target where ovs-ofctl wants it: after the command name and its options. */
export function withTarget(cmd: readonly string[], target: string): string[] {
  const opts = cmd.filter((a) => a.startsWith('--'));
  const rest = cmd.filter((a) => !a.startsWith('--'));
  return [...opts, rest[0]!, target, ...rest.slice(1)];
}

/**
 * Flow, group and meter dumps come in each switch's internal order: keeps the first (header) line
 * and sorts the rest, dropping blank lines. Other output is returned as is.
 */
export function sortedDump(cmd: readonly string[], out: string): string {
  const name = cmd.find((a) => !a.startsWith('--'))!;
  if (!['dump-flows', 'dump-groups', 'dump-group-stats'].includes(name)) return out;
  const [head, ...body] = out.split('\n');
  return [head, ...body.filter((l) => l.trim() !== '').sort()].join('\n');
}

/**
 * Bridge.protocols (OVS's ofputil_versions_from_strings): the OpenFlow versions a bridge may
 * negotiate. OVS negotiates only the listed versions (an empty set means its defaults,
 * OpenFlow10 to OpenFlow15 in 3.1); tsvs speaks OpenFlow 1.3 only, so it serves OpenFlow13 when
 * the set is empty or lists it, and logs (with a counter) every listed version it cannot serve.
 *
 * When the set excludes OpenFlow13, the bridge's connections advertise only the listed versions
 * in their HELLO (Connmgr.allowedVersions) and no negotiation succeeds, as with OVS.
 */
import { counter } from '../lib/counters.js';
import { getLogger } from '../lib/log.js';

const log = getLogger('bridge');
const cRefused = counter(
  'bridge_of_versions_refused',
  'vswitchd',
  'OpenFlow versions listed in Bridge.protocols that tsvs does not serve',
);

/** Bridge.protocols values and their wire versions (the schema's enum). */
export const OF_PROTOCOLS = {
  OpenFlow10: 0x01,
  OpenFlow11: 0x02,
  OpenFlow12: 0x03,
  OpenFlow13: 0x04,
  OpenFlow14: 0x05,
  OpenFlow15: 0x06,
} as const;

/** A protocols name. */
export type OfProtocolName = keyof typeof OF_PROTOCOLS;

/** What a bridge serves given its protocols column. */
export interface BridgeVersions {
  /** Wire versions OVS would negotiate (listed, or OVS's defaults when empty), ascending. */
  allowed: number[];
  /** Versions tsvs serves: [0x04] or []. */
  served: number[];
  /** Listed versions tsvs refuses (names), in order. */
  refused: OfProtocolName[];
}

/** Computes what a bridge with `protocols` serves. */
export function bridgeVersions(protocols: readonly string[]): BridgeVersions {
  const names = (Object.keys(OF_PROTOCOLS) as OfProtocolName[]).filter((n) =>
    protocols.length === 0 ? true : protocols.includes(n),
  );
  const allowed = names.map((n) => OF_PROTOCOLS[n]);
  const served = allowed.includes(0x04) ? [0x04] : [];
  const refused = protocols.length === 0 ? [] : names.filter((n) => n !== 'OpenFlow13');
  return { allowed, served, refused };
}

/** Remembers what was logged per bridge, so each configuration is logged once. */
const logged = new Map<string, string>();

/**
 * Logs (and counts) the versions bridge `bridge` lists but tsvs does not serve; once per
 * configuration change. Returns the computed versions.
 */
export function noteBridgeVersions(bridge: string, protocols: readonly string[]): BridgeVersions {
  const v = bridgeVersions(protocols);
  const key = protocols.join(',');
  if (logged.get(bridge) === key) return v;
  logged.set(bridge, key);
  if (v.refused.length > 0) {
    cRefused.inc(v.refused.length);
    log.warn(
      { bridge, refused: v.refused },
      v.served.length === 0
        ? `bridge ${bridge}: protocols exclude OpenFlow13, the only version tsvs speaks; ` +
            `${v.refused.join(', ')} not supported`
        : `bridge ${bridge}: ${v.refused.join(', ')} not supported, serving OpenFlow13 only`,
    );
  }
  return v;
}

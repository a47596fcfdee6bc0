/**
 * STP configuration as OVS reads it: Bridge other_config stp-* keys and Port other_config stp-*
 * keys (vswitch.xml, "STP Configuration"), with OVS's defaults, and the 802.1D path-cost table.
 */
import { parseCInteger, parseMac, smapGetBool, type StringMap } from '../common.js';

/** Default bridge priority (upper 16 bits of the bridge ID). */
export const STP_DEFAULT_BRIDGE_PRIORITY = 32768;
/** Default port priority (upper 8 bits of the port ID). */
export const STP_DEFAULT_PORT_PRIORITY = 128;
/** Default hello time, seconds. */
export const STP_DEFAULT_HELLO_TIME = 2;
/** Default max age, seconds. */
export const STP_DEFAULT_MAX_AGE = 20;
/** Default forward delay, seconds. */
export const STP_DEFAULT_FWD_DELAY = 15;
/** Highest STP port number (port numbers are 1–255, the low 8 bits of the port ID). */
export const STP_MAX_PORTS = 255;

/** Bridge-level STP configuration. */
export interface StpBridgeConfig {
  /** stp-system-id: the low 48 bits of the bridge ID (default the bridge's MAC). */
  systemId: Uint8Array;
  /** stp-priority, 0–65535 (default 32768). */
  priority: number;
  /** stp-hello-time, seconds (1–10 after clamping; default 2). */
  helloTime: number;
  /** stp-max-age, seconds (6–40 after clamping; default 20). */
  maxAge: number;
  /** stp-forward-delay, seconds (4–30 after clamping; default 15). */
  forwardDelay: number;
}

/** Port-level STP configuration. */
export interface StpPortConfig {
  /** stp-enable (default true). */
  enable: boolean;
  /** stp-port-num 1–255, or undefined to have one assigned. */
  portNum: number | undefined;
  /** stp-port-priority 0–255 (default 128). */
  priority: number;
  /** stp-path-cost 0–65535, or undefined to derive it from the link speed. */
  pathCost: number | undefined;
}

function uintKey(map: StringMap, key: string, def: number, max: number): number {
  const v = map[key];
  if (v === undefined) return def;
  const n = parseCInteger(v);
  return n === undefined || n > max ? def : n;
}

/**
 * Reads Bridge other_config. An invalid stp-system-id falls back to `bridgeMac` (OVS logs an
 * error and does the same). Times are in seconds, as vswitch.xml documents them.
 */
export function parseStpBridgeConfig(map: StringMap, bridgeMac: Uint8Array): StpBridgeConfig {
  const sys = map['stp-system-id'];
  return {
    systemId: (sys !== undefined ? parseMac(sys) : undefined) ?? bridgeMac.slice(0, 6),
    priority: uintKey(map, 'stp-priority', STP_DEFAULT_BRIDGE_PRIORITY, 0xffff),
    helloTime: uintKey(map, 'stp-hello-time', STP_DEFAULT_HELLO_TIME, 1_000_000),
    maxAge: uintKey(map, 'stp-max-age', STP_DEFAULT_MAX_AGE, 1_000_000),
    forwardDelay: uintKey(map, 'stp-forward-delay', STP_DEFAULT_FWD_DELAY, 1_000_000),
  };
}

/**
 * Reads Port other_config. An stp-port-num outside 1–255 yields `{ error }` (OVS then leaves STP
 * disabled on the port).
 */
export function parseStpPortConfig(map: StringMap): StpPortConfig | { error: string } {
  const enable = smapGetBool(map, 'stp-enable', true);
  let portNum: number | undefined;
  const pn = map['stp-port-num'];
  if (pn !== undefined) {
    const n = parseCInteger(pn);
    if (n === undefined || n < 1 || n > STP_MAX_PORTS) return { error: 'invalid stp-port-num' };
    portNum = n;
  }
  const pc = map['stp-path-cost'];
  const pathCost = pc !== undefined && /^\s*\d+\s*$/.test(pc) ? Number(pc) & 0xffff : undefined;
  return {
    enable,
    portNum,
    priority: uintKey(map, 'stp-port-priority', STP_DEFAULT_PORT_PRIORITY, 0xff),
    pathCost,
  };
}

/**
 * Assigns port numbers the way OVS's bridge does: if no enabled port sets stp-port-num, number
 * them 1, 2, … in the given order; if every one does, use those (duplicates are disabled);
 * mixing the two is an error that disables STP on the bridge.
 */
export function assignStpPortNumbers(
  ports: readonly { name: string; config: StpPortConfig }[],
): { ok: true; numbers: Map<string, number>; errors: string[] } | { ok: false; error: string } {
  const numbers = new Map<string, number>();
  const errors: string[] = [];
  const used = new Set<number>();
  let counter = 0;
  for (const p of ports) {
    if (!p.config.enable) continue;
    if (p.config.portNum !== undefined) {
      if (used.has(p.config.portNum)) {
        errors.push(`port ${p.name}: duplicate stp-port-num ${p.config.portNum}, disabling`);
        continue;
      }
      used.add(p.config.portNum);
      numbers.set(p.name, p.config.portNum);
    } else {
      if (counter >= STP_MAX_PORTS) {
        errors.push(`port ${p.name}: too many STP ports, disabling`);
        continue;
      }
      numbers.set(p.name, ++counter);
    }
  }
  if (used.size && counter) {
    return { ok: false, error: 'must manually configure all STP port IDs or none, disabling' };
  }
  return { ok: true, numbers, errors };
}

/**
 * 802.1D-1998's recommended path cost for a link speed in Mb/s, as OVS applies it:
 * ≥10 Gb/s 2, ≥1 Gb/s 4, ≥100 Mb/s 19, ≥16 Mb/s 62, ≥10 Mb/s 100, ≥4 Mb/s 250, else 2.
 * Pass 10000 when the speed is unknown (OVS assumes 10 Gb/s).
 */
export function stpSpeedToCost(mbps: number): number {
  return mbps >= 10000
    ? 2
    : mbps >= 1000
      ? 4
      : mbps >= 100
        ? 19
        : mbps >= 16
          ? 62
          : mbps >= 10
            ? 100
            : mbps >= 4
              ? 250
              : 2;
}

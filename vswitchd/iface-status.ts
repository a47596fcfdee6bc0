/**
 * Interface columns OVS's bridge.c writes from the netdev (iface_refresh_status and
 * iface_set_mtu): `mtu`, `ifindex`, `link_speed`, `duplex`, and `mtu_request` applied to the
 * device. Values as OVS 3.1 writes them:
 *
 * - dummy interfaces: ifindex 0, mtu from the dummy (1500 by default), no link_speed or duplex;
 * - system interfaces: the kernel's ifindex and MTU, link_speed in bit/s and duplex from
 *   /sys/class/net/NAME/{speed,duplex} (a veth reports 10 Gb/s full duplex), none when unknown;
 * - internal interfaces: OVS uses a tap (kernel ifindex, 10 Gb/s, full); ours are in-memory
 *   netdevs until TAP devices exist, so we write ifindex 0, the netdev's MTU and OVS's
 *   10 Gb/s full duplex.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { counter } from '../lib/counters.js';
import type { Json } from '../lib/json.js';
import { getLogger } from '../lib/log.js';
import type { Netdev } from '../datapath/netdev.js';
import type { Row } from '../ovsdb/types.js';

const log = getLogger('bridge');
const cMtuFailed = counter('iface_mtu_request_failed', 'vswitchd', 'mtu_request not applied');

/** The link columns of one interface: undefined means "empty set". */
export interface IfaceLinkColumns {
  /** Interface.mtu. */
  mtu: number | undefined;
  /** Interface.ifindex. */
  ifindex: number | undefined;
  /** Interface.link_speed (bit/s). */
  linkSpeed: number | undefined;
  /** Interface.duplex. */
  duplex: 'full' | 'half' | undefined;
}

function sysRead(name: string, file: string): string | undefined {
  try {
    return readFileSync(join('/sys/class/net', name, file), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The values OVS would write for an interface of `type` opened as `netdev`. */
export function ifaceLinkColumns(
  name: string,
  type: string,
  netdev: Netdev | undefined,
): IfaceLinkColumns {
  let mtu: number | undefined;
  let ifindex: number | undefined;
  try {
    mtu = netdev?.mtu();
    ifindex = netdev?.ifindex();
  } catch {
    // a closed netdev: leave the columns empty
  }
  switch (type) {
    case '':
    case 'system': {
      const speed = Number(sysRead(name, 'speed'));
      const duplex = sysRead(name, 'duplex');
      if (mtu === undefined) {
        const m = Number(sysRead(name, 'mtu'));
        if (Number.isInteger(m) && m > 0) mtu = m;
      }
      if (ifindex === undefined) {
        const i = Number(sysRead(name, 'ifindex'));
        if (Number.isInteger(i) && i > 0) ifindex = i;
      }
      return {
        mtu,
        ifindex,
        linkSpeed: Number.isInteger(speed) && speed > 0 ? speed * 1_000_000 : undefined,
        duplex: duplex === 'full' || duplex === 'half' ? duplex : undefined,
      };
    }
    case 'internal':
      // A TAP device (kernel ifindex) or, without one, an in-memory netdev (ifindex 0).
      return {
        mtu,
        ifindex: netdev?.type === 'tap' ? ifindex : 0,
        linkSpeed: 10_000_000_000,
        duplex: 'full',
      };
    case 'dummy':
      return { mtu, ifindex: 0, linkSpeed: undefined, duplex: undefined };
    default:
      return { mtu, ifindex, linkSpeed: undefined, duplex: undefined };
  }
}

function intCol(row: Row, col: string): number | undefined {
  const k = row.data[col]?.keys[0];
  return typeof k === 'bigint' ? Number(k) : typeof k === 'number' ? k : undefined;
}

/**
 * Applies Interface.mtu_request to the netdev when it differs from the device's MTU (as OVS's
 * iface_set_mtu). A refused MTU is logged and counted; the interface keeps working.
 */
export function applyMtuRequest(irow: Row, netdev: Netdev | undefined): void {
  const want = intCol(irow, 'mtu_request');
  if (want === undefined || !netdev) return;
  try {
    if (netdev.mtu() === want) return;
    netdev.setMtu(want);
    log.info({ iface: netdev.name, mtu: want }, 'MTU set from mtu_request');
  } catch (e) {
    cMtuFailed.inc();
    log.warn({ iface: netdev.name, mtu: want, err: (e as Error).message }, 'cannot set MTU');
  }
}

/** Columns computed per open netdev, with the mtu_request and type they were computed for. */
const cache = new WeakMap<
  Netdev,
  { mtuRequest: number | undefined; type: string; cols: IfaceLinkColumns }
>();

/**
 * Appends to `row` the Interface columns (mtu, ifindex, link_speed, duplex) that differ from
 * the database, after applying mtu_request.
 */
export function ifaceStatusColumns(
  irow: Row,
  name: string,
  type: string,
  netdev: Netdev | undefined,
  row: Record<string, Json>,
): void {
  // Reading a device's MTU/ifindex costs a system call: do it when the interface is opened
  // and when mtu_request changes, not on every reconfiguration pass.
  const req = intCol(irow, 'mtu_request');
  let c = netdev ? cache.get(netdev) : undefined;
  if (!c || c.mtuRequest !== req || c.type !== type) {
    applyMtuRequest(irow, netdev);
    c = { mtuRequest: req, type, cols: ifaceLinkColumns(name, type, netdev) };
    if (netdev) cache.set(netdev, c);
  }
  const cols = c.cols;
  const set = (col: string, v: number | string | undefined): void => {
    const cur = irow.data[col]?.keys[0];
    const curV = typeof cur === 'bigint' ? Number(cur) : cur;
    if (curV === v) return;
    row[col] = v === undefined ? ['set', []] : v;
  };
  set('mtu', cols.mtu);
  set('ifindex', cols.ifindex);
  set('link_speed', cols.linkSpeed);
  set('duplex', cols.duplex);
}

/** The columns {@link ifaceStatusColumns} writes (cleared when the interface has an error). */
export const IFACE_LINK_COLUMNS = ['mtu', 'ifindex', 'link_speed', 'duplex'] as const;

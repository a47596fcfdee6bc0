/**
 * The datapath-action IR: what ofproto's xlate produces and the datapath executes, in the spirit
 * of OVS's ODP actions (`OVS_ACTION_ATTR_*`). It never mentions OpenFlow: ports are datapath port
 * numbers, set-field actions name packet header fields, and a `userspace` action carries an
 * opaque cookie back to the control plane.
 *
 * Values of set-field actions are given as flow-key words (see lib/packet/flow-key.ts): one
 * number for fields of at most 32 bits, two words `[hi16, lo32]` for MAC addresses, four words
 * (most significant first) for IPv6 addresses. A mask has the same shape; a set with a mask
 * changes only the masked bits (OVS's `set_masked`).
 *
 * {@link formatActions} prints a list in `ovs-appctl dpctl/dump-flows` syntax, checked against
 * OVS 3.1: `drop`, `1,2`, `set(ipv4(src=1.2.3.0/255.255.255.0,ttl=63))`,
 * `push_vlan(vid=10,pcp=0)`, `push_mpls(label=5,tc=0,ttl=64,bos=1,eth_type=0x8847)`,
 * `pop_mpls(eth_type=0x800)`, `userspace(pid=0,slow_path(action))`, `meter(0)`.
 */
import { formatIPv4, formatIPv6 } from '../lib/packet/ip.js';
import { formatMac } from '../lib/packet/mac.js';

/** Header a settable field belongs to (the ODP key attribute name). */
export type SetHeader =
  'eth' | 'vlan' | 'ipv4' | 'ipv6' | 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmpv6' | 'arp' | 'mpls';

/** How a set-field value is printed. */
type ValueFormat = 'mac' | 'ip4' | 'ip6' | 'dec' | 'hex';

/** Descriptor of one settable field. */
export interface SetFieldDesc {
  /** Header the field lives in. */
  readonly header: SetHeader;
  /** Name inside the header's ODP attribute (`src`, `ttl`, …). */
  readonly odp: string;
  /** Number of flow-key words the value takes (1, 2 for MACs, 4 for IPv6 addresses). */
  readonly words: 1 | 2 | 4;
  /** Width in bits of a 1-word value (or of the first word of a MAC: 16). */
  readonly bits: number;
  /** Print format. */
  readonly fmt: ValueFormat;
  /** Position of the field within its header's canonical print order. */
  readonly order: number;
}

function d(
  header: SetHeader,
  odp: string,
  words: 1 | 2 | 4,
  bits: number,
  fmt: ValueFormat,
  order: number,
): SetFieldDesc {
  return Object.freeze({ header, odp, words, bits, fmt, order });
}

/** Every field a `set` action can change, by name. */
export const SET_FIELDS = Object.freeze({
  eth_src: d('eth', 'src', 2, 16, 'mac', 0),
  eth_dst: d('eth', 'dst', 2, 16, 'mac', 1),
  /** The outer VLAN TCI as on the wire (pcp << 13 | dei << 12 | vid) of a tagged packet. */
  vlan_tci: d('vlan', 'tci', 1, 16, 'hex', 0),
  ipv4_src: d('ipv4', 'src', 1, 32, 'ip4', 0),
  ipv4_dst: d('ipv4', 'dst', 1, 32, 'ip4', 1),
  /** The whole TOS byte (DSCP << 2 | ECN). */
  ipv4_tos: d('ipv4', 'tos', 1, 8, 'hex', 3),
  ipv4_ttl: d('ipv4', 'ttl', 1, 8, 'dec', 4),
  ipv6_src: d('ipv6', 'src', 4, 32, 'ip6', 0),
  ipv6_dst: d('ipv6', 'dst', 4, 32, 'ip6', 1),
  ipv6_label: d('ipv6', 'label', 1, 20, 'hex', 2),
  ipv6_tclass: d('ipv6', 'tclass', 1, 8, 'hex', 4),
  ipv6_hlimit: d('ipv6', 'hlimit', 1, 8, 'dec', 5),
  tcp_src: d('tcp', 'src', 1, 16, 'dec', 0),
  tcp_dst: d('tcp', 'dst', 1, 16, 'dec', 1),
  udp_src: d('udp', 'src', 1, 16, 'dec', 0),
  udp_dst: d('udp', 'dst', 1, 16, 'dec', 1),
  sctp_src: d('sctp', 'src', 1, 16, 'dec', 0),
  sctp_dst: d('sctp', 'dst', 1, 16, 'dec', 1),
  icmp_type: d('icmp', 'type', 1, 8, 'dec', 0),
  icmp_code: d('icmp', 'code', 1, 8, 'dec', 1),
  icmpv6_type: d('icmpv6', 'type', 1, 8, 'dec', 0),
  icmpv6_code: d('icmpv6', 'code', 1, 8, 'dec', 1),
  arp_spa: d('arp', 'sip', 1, 32, 'ip4', 0),
  arp_tpa: d('arp', 'tip', 1, 32, 'ip4', 1),
  arp_op: d('arp', 'op', 1, 16, 'dec', 2),
  arp_sha: d('arp', 'sha', 2, 16, 'mac', 3),
  arp_tha: d('arp', 'tha', 2, 16, 'mac', 4),
  /** The top MPLS label stack entry, all 32 bits (label << 12 | tc << 9 | bos << 8 | ttl). */
  mpls_lse: d('mpls', 'lse', 1, 32, 'hex', 0),
} as const);

/** Name of a settable field. */
export type SetField = keyof typeof SET_FIELDS;

/** Contents of a `userspace` action's cookie: what the control plane wants back with the packet. */
export type UserspaceCookie =
  | {
      /** A packet-in to OpenFlow controllers. */
      readonly kind: 'controller';
      /** OpenFlow packet-in reason code. */
      readonly reason: number;
      /** Non-zero: do not send (used for continuations). */
      readonly dontSend: number;
      /** Non-zero: the packet-in is a continuation. */
      readonly continuation: number;
      /** Recirculation id of a frozen continuation (0 if none). */
      readonly recircId: number;
      /** Cookie of the rule that sent the packet. */
      readonly ruleCookie: bigint;
      /** Controller id (OVS NXAST_CONTROLLER2), 0 by default. */
      readonly controllerId: number;
      /** Bytes of the packet to send (OpenFlow max_len). */
      readonly maxLen: number;
    }
  | {
      /** The packet needs the slow path for the given reasons (e.g. `action`, `stp`, `bfd`). */
      readonly kind: 'slow_path';
      /** OVS slow-path reason names. */
      readonly reasons: readonly string[];
    }
  | {
      /** Opaque bytes. */
      readonly kind: 'userdata';
      /** The bytes returned with the packet. */
      readonly data: Uint8Array;
    };

/** One datapath action. */
export type DpAction =
  | {
      /** Sends a copy of the packet as it is now to datapath port `port`. */
      readonly type: 'output';
      /** Datapath port number. */
      readonly port: number;
    }
  | {
      /**
       * Sets `field` to `value` (only the `mask` bits, when a mask is given), updating every
       * checksum that covers the field (IPv4 header; TCP/UDP/ICMP/ICMPv6 incrementally per
       * RFC 1624; SCTP CRC32c recomputed). A packet lacking the field's header is left unchanged.
       */
      readonly type: 'set';
      /** The field. */
      readonly field: SetField;
      /** Value words (see the module comment). */
      readonly value: readonly number[];
      /** Mask words of the same shape, or undefined for "all bits". */
      readonly mask?: readonly number[];
    }
  | {
      /** Inserts an outermost VLAN tag. */
      readonly type: 'push_vlan';
      /** Tag protocol identifier (0x8100 or 0x88a8). */
      readonly tpid: number;
      /** TCI written on the wire: pcp << 13 | vid (bit 12 is written as given). */
      readonly tci: number;
    }
  | {
      /** Removes the outermost VLAN tag (no-op on an untagged packet). */
      readonly type: 'pop_vlan';
    }
  | {
      /** Pushes an MPLS label stack entry, setting the Ethernet type to `ethertype`. */
      readonly type: 'push_mpls';
      /** 0x8847 or 0x8848. */
      readonly ethertype: number;
      /** The label stack entry, as on the wire (label << 12 | tc << 9 | bos << 8 | ttl). */
      readonly lse: number;
    }
  | {
      /** Pops the top MPLS entry; the Ethernet type becomes `ethertype` (no-op if not MPLS). */
      readonly type: 'pop_mpls';
      /** Ethernet type of what follows the popped entry. */
      readonly ethertype: number;
    }
  | {
      /**
       * Decrements the IPv4 TTL / IPv6 hop limit (IPv4 checksum updated). When it is 0 or 1 the
       * packet is not changed: the `le1` actions run instead and the rest of the list is skipped
       * (as OVS's `dec_ttl(le_1(...))`). Non-IP packets are left unchanged.
       */
      readonly type: 'dec_ttl';
      /** Actions run when the TTL would expire (usually a `userspace` action, or none: drop). */
      readonly le1: readonly DpAction[];
    }
  | {
      /** Hands a copy of the packet to the control plane (packet-in, slow path). */
      readonly type: 'userspace';
      /** Netlink-style port id of the receiver (0 for the default handler). */
      readonly pid: number;
      /** What the control plane wants back. */
      readonly cookie: UserspaceCookie;
    }
  | {
      /** Runs `actions` on a copy of the packet; the original continues unchanged. */
      readonly type: 'clone';
      /** Nested actions. */
      readonly actions: readonly DpAction[];
    }
  | {
      /** Sets the packet's dp_hash to a hash of its L3/L4 5-tuple (for select groups). */
      readonly type: 'hash';
      /** Hash basis. */
      readonly basis: number;
    }
  | {
      /**
       * Re-extracts the packet's flow key with recirc_id = `id` (and its current dp_hash) and
       * runs it through the caches again; the rest of the list is not executed.
       */
      readonly type: 'recirc';
      /** Recirculation id. */
      readonly id: number;
    }
  | {
      /**
       * Runs the packet through datapath meter `meterId` (datapath/dp-meter.ts): when a drop
       * band applies the packet stops here (the rest of the list is not executed); when a
       * dscp_remark band applies, the DSCP's drop precedence is raised and the list goes on. A
       * meter id the datapath does not hold lets the packet pass.
       */
      readonly type: 'meter';
      /** Datapath meter id (ofproto maps OpenFlow meter ids to these). */
      readonly meterId: number;
    };

/** Error for an action list the datapath cannot execute (thrown by {@link validateActions}). */
export class DpActionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DpActionError';
  }
}

function widthMask(bits: number): number {
  return bits >= 32 ? 0xffffffff : 2 ** bits - 1;
}

/** Builds a `set` action; `value`/`mask` may be a number for 1-word fields. */
export function setAction(
  field: SetField,
  value: number | readonly number[],
  mask?: number | readonly number[],
): DpAction {
  const v = typeof value === 'number' ? [value >>> 0] : value.map((x) => x >>> 0);
  if (mask === undefined) return { type: 'set', field, value: v };
  const m = typeof mask === 'number' ? [mask >>> 0] : mask.map((x) => x >>> 0);
  return { type: 'set', field, value: v, mask: m };
}

/**
 * Checks an action list: word counts and widths of set values, port and ethertype ranges,
 * nesting. Throws {@link DpActionError} describing the first problem.
 */
export function validateActions(actions: readonly DpAction[], depth = 0): void {
  if (depth > 8) throw new DpActionError('actions nested too deeply');
  for (const a of actions) {
    switch (a.type) {
      case 'output':
        if (!Number.isInteger(a.port) || a.port < 0 || a.port > 0xffffffff)
          throw new DpActionError(`bad output port ${a.port}`);
        break;
      case 'set': {
        const fd = (SET_FIELDS as Record<string, SetFieldDesc | undefined>)[a.field];
        if (!fd) throw new DpActionError(`unknown set field ${String(a.field)}`);
        if (a.value.length !== fd.words)
          throw new DpActionError(`${a.field}: value needs ${fd.words} word(s)`);
        if (a.mask !== undefined && a.mask.length !== fd.words)
          throw new DpActionError(`${a.field}: mask needs ${fd.words} word(s)`);
        if (fd.words !== 4 && a.value[0]! > widthMask(fd.bits))
          throw new DpActionError(`${a.field}: value out of range`);
        break;
      }
      case 'push_vlan':
        if (a.tci < 0 || a.tci > 0xffff || a.tpid < 0x600 || a.tpid > 0xffff)
          throw new DpActionError('bad push_vlan');
        break;
      case 'push_mpls':
        if (a.ethertype !== 0x8847 && a.ethertype !== 0x8848)
          throw new DpActionError(`push_mpls: bad ethertype 0x${a.ethertype.toString(16)}`);
        break;
      case 'pop_mpls':
        if (a.ethertype < 0 || a.ethertype > 0xffff) throw new DpActionError('bad pop_mpls');
        break;
      case 'dec_ttl':
        validateActions(a.le1, depth + 1);
        break;
      case 'clone':
        validateActions(a.actions, depth + 1);
        break;
      case 'meter':
        if (!Number.isInteger(a.meterId) || a.meterId < 0 || a.meterId > 0xffffffff)
          throw new DpActionError(`bad meter id ${a.meterId}`);
        break;
      case 'pop_vlan':
      case 'userspace':
      case 'hash':
      case 'recirc':
        break;
    }
  }
}

/** True when the action changes the packet's bytes or metadata. */
export function actionModifies(a: DpAction): boolean {
  switch (a.type) {
    case 'output':
    case 'userspace':
    case 'clone':
      return false;
    case 'set':
    case 'push_vlan':
    case 'pop_vlan':
    case 'push_mpls':
    case 'pop_mpls':
    case 'dec_ttl':
    case 'hash':
    case 'recirc':
    case 'meter':
      return true;
  }
}

function hex(v: number): string {
  return v === 0 ? '0' : '0x' + (v >>> 0).toString(16);
}

function fmtValue(fd: SetFieldDesc, v: readonly number[]): string {
  switch (fd.fmt) {
    case 'mac':
      return formatMac(v[0]!, v[1]!);
    case 'ip4':
      return formatIPv4(v[0]!);
    case 'ip6':
      return formatIPv6(v);
    case 'dec':
      return String(v[0]! >>> 0);
    case 'hex':
      return hex(v[0]!);
  }
}

function isFull(fd: SetFieldDesc, m: readonly number[]): boolean {
  if (fd.words === 1) return (m[0]! & widthMask(fd.bits)) >>> 0 === widthMask(fd.bits);
  if (fd.words === 2) return (m[0]! & 0xffff) === 0xffff && m[1]! >>> 0 === 0xffffffff;
  return m.every((x) => x >>> 0 === 0xffffffff);
}

function formatSetGroup(group: Extract<DpAction, { type: 'set' }>[]): string {
  const fd0 = SET_FIELDS[group[0]!.field];
  if (fd0.header === 'mpls') {
    const a = group[group.length - 1]!;
    const v = a.value[0]! >>> 0;
    const body = `label=${v >>> 12},tc=${(v >>> 9) & 7},ttl=${v & 0xff},bos=${(v >>> 8) & 1}`;
    if (a.mask === undefined || a.mask[0]! >>> 0 === 0xffffffff) return `set(mpls(${body}))`;
    const m = a.mask[0]! >>> 0;
    return (
      `set(mpls(label=${v >>> 12}/0x${(m >>> 12).toString(16)},tc=${(v >>> 9) & 7}/${(m >>> 9) & 7},` +
      `ttl=${v & 0xff}/0x${(m & 0xff).toString(16)},bos=${(v >>> 8) & 1}/${(m >>> 8) & 1}))`
    );
  }
  if (fd0.header === 'vlan') {
    const a = group[group.length - 1]!;
    const v = a.value[0]!;
    return `set(vlan(vid=${v & 0xfff},pcp=${(v >>> 13) & 7}))`;
  }
  const sorted = [...group].sort((x, y) => SET_FIELDS[x.field].order - SET_FIELDS[y.field].order);
  const parts: string[] = [];
  for (const a of sorted) {
    const fd = SET_FIELDS[a.field];
    let s = `${fd.odp}=${fmtValue(fd, a.value)}`;
    if (a.mask !== undefined && !isFull(fd, a.mask)) {
      s += '/' + (fd.fmt === 'dec' ? hex(a.mask[0]!) : fmtValue(fd, a.mask));
    }
    parts.push(s);
  }
  return `set(${fd0.header}(${parts.join(',')}))`;
}

function formatCookie(c: UserspaceCookie): string {
  switch (c.kind) {
    case 'controller':
      return (
        `controller(reason=${c.reason},dont_send=${c.dontSend},continuation=${c.continuation},` +
        `recirc_id=${c.recircId},rule_cookie=${c.ruleCookie === 0n ? '0' : '0x' + BigInt.asUintN(64, c.ruleCookie).toString(16)}` +
        `,controller_id=${c.controllerId},max_len=${c.maxLen})`
      );
    case 'slow_path':
      return `slow_path(${c.reasons.join(',')})`;
    case 'userdata':
      return `userdata(${Array.from(c.data, (b) => b.toString(16).padStart(2, '0')).join('')})`;
  }
}

/**
 * Formats an action list as `ovs-appctl dpctl/dump-flows` prints it (without the `actions:`
 * prefix). Consecutive `set` actions on the same header print as one `set(header(...))`, fields
 * in OVS's order; an empty list prints `drop`. `portName` may map port numbers to names.
 */
export function formatActions(
  actions: readonly DpAction[],
  portName?: (port: number) => string | undefined,
): string {
  if (actions.length === 0) return 'drop';
  const out: string[] = [];
  for (let i = 0; i < actions.length; i++) {
    const a = actions[i]!;
    switch (a.type) {
      case 'output':
        out.push(portName?.(a.port) ?? String(a.port));
        break;
      case 'set': {
        const group = [a];
        const h = SET_FIELDS[a.field].header;
        while (i + 1 < actions.length) {
          const b = actions[i + 1]!;
          if (b.type !== 'set' || SET_FIELDS[b.field].header !== h) break;
          if (group.some((g) => g.field === b.field)) break;
          group.push(b);
          i++;
        }
        out.push(formatSetGroup(group));
        break;
      }
      case 'push_vlan': {
        const tp = a.tpid === 0x8100 ? '' : `tpid=0x${a.tpid.toString(16)},`;
        const cfi = (a.tci & 0x1000) !== 0 ? ',cfi=1' : '';
        out.push(`push_vlan(${tp}vid=${a.tci & 0xfff},pcp=${(a.tci >>> 13) & 7}${cfi})`);
        break;
      }
      case 'pop_vlan':
        out.push('pop_vlan');
        break;
      case 'push_mpls': {
        const v = a.lse >>> 0;
        out.push(
          `push_mpls(label=${v >>> 12},tc=${(v >>> 9) & 7},ttl=${v & 0xff},bos=${(v >>> 8) & 1},` +
            `eth_type=0x${a.ethertype.toString(16)})`,
        );
        break;
      }
      case 'pop_mpls':
        out.push(`pop_mpls(eth_type=0x${a.ethertype.toString(16)})`);
        break;
      case 'dec_ttl':
        out.push(`dec_ttl(le_1(${formatActions(a.le1, portName)}))`);
        break;
      case 'userspace':
        out.push(`userspace(pid=${a.pid},${formatCookie(a.cookie)})`);
        break;
      case 'clone':
        out.push(`clone(${formatActions(a.actions, portName)})`);
        break;
      case 'hash':
        out.push(`hash(l4(${a.basis}))`);
        break;
      case 'recirc':
        out.push(`recirc(${hex(a.id)})`);
        break;
      case 'meter':
        out.push(`meter(${a.meterId >>> 0})`);
        break;
    }
  }
  return out.join(',');
}

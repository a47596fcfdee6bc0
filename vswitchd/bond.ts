/**
 * Bonds (OVS's ofproto/bond.c plus bridge.c's port_configure_bond): a Port with several
 * Interfaces (`ovs-vsctl add-bond BR BOND IFACE...`) whose members are each an OpenFlow port,
 * and which NORMAL treats as one port.
 *
 * - {@link Bond}: the state of one bond on the injected clock: member liveness with
 *   `bond_updelay`/`bond_downdelay`, the active member (`bond_active_slave`,
 *   `other_config:bond-primary`), the 256 hash buckets of balance-slb with a periodic rebalance,
 *   input admissibility and output member choice, `bond/show` and `bond/list` text.
 * - {@link BridgeBonds}: the bonds of one bridge as a {@link BridgeProtocol} module
 *   ({@link BOND_MODULE}): reads the Port rows after every reconfiguration, polls member
 *   liveness (the OpenFlow port's LIVE bit — which BFD also drives — and the netdev carrier),
 *   writes `Port.bond_active_slave`, sends OVS's gratuitous RARP "learning packets" when the
 *   active member changes, and plugs itself into NORMAL through {@link Xlate.bonds}.
 *
 * Modes as OVS 3.1 without LACP: active-backup (the default; frames on backup members are
 * dropped), balance-slb (source MAC + VLAN hashed to a member; multicast/broadcast accepted only
 * on the active member; frames whose source was learned on another port are dropped as loops,
 * gratuitous ARPs excepted), balance-tcp (accepted as a mode, but without LACP negotiated it
 * neither admits nor sends anything, as OVS).
 *
 * Simplified against OVS: no LACP (a Port with `lacp=active|passive` is logged and counted and
 * runs without it, where OVS would drop traffic until LACP negotiates); member liveness is
 * polled every {@link BOND_POLL_MS} ms (OVS wakes on carrier change);
 * `bond-detect-mode=miimon` behaves as carrier; rebalancing
 * uses the bytes of the frames translated through the slow path (OVS also counts the datapath
 * flows' statistics); no recirculation (balance-tcp cannot forward without LACP anyway); no
 * `bond/migrate`; the learning table is not locked after a gratuitous ARP.
 */
import type { Clock, TimerHandle } from '../lib/clock.js';
import { counter } from '../lib/counters.js';
import type { Json } from '../lib/json.js';
import { getLogger } from '../lib/log.js';
import { formatMac, parseMac } from '../lib/packet/mac.js';
import { OFPPS } from '../openflow/constants.js';
import type { OfPort } from '../ofproto/ofproto.js';
import type { BondVerdict, NormalBond, NormalBonds } from '../ofproto/normal.js';
import type { FlowKey } from '../lib/packet/flow-key.js';
import type { Row } from '../ovsdb/types.js';
import { AppctlError, type AppctlRegistry } from '../appctl/registry.js';
import type {
  BridgeIface,
  BridgeProtocol,
  BridgeProtocolContext,
  BridgeProtocolModule,
} from './bridge-protocol.js';

const log = getLogger('bond');
const cEnabled = counter('bond_member_enabled', 'vswitchd', 'bond members enabled');
const cDisabled = counter('bond_member_disabled', 'vswitchd', 'bond members disabled');
const cActive = counter('bond_active_changed', 'vswitchd', 'bond active member changes');
const cRebalance = counter('bond_rebalance_moves', 'vswitchd', 'hash buckets moved');
const cLearning = counter('bond_learning_packets', 'vswitchd', 'gratuitous RARPs sent');
const cLacpIgnored = counter('bond_lacp_unsupported', 'vswitchd', 'bonds configured with LACP');

/** Bond modes (Port.bond_mode). */
export const BOND_MODES = ['active-backup', 'balance-slb', 'balance-tcp'] as const;
/** A bond mode. */
export type BondMode = (typeof BOND_MODES)[number];

/** Number of hash buckets (OVS BOND_BUCKETS). */
export const BOND_BUCKETS = 256;
/** Default `other_config:bond-rebalance-interval` (ms). */
export const DEFAULT_REBALANCE_MS = 10_000;
/** How often member liveness is polled (ms). */
export const BOND_POLL_MS = 100;

/** A bond's configuration (from its Port row). */
export interface BondSettings {
  /** Balancing mode. */
  mode: BondMode;
  /** `bond_updelay` (ms, >= 0). */
  updelay: number;
  /** `bond_downdelay` (ms, >= 0). */
  downdelay: number;
  /** `other_config:bond-hash-basis`. */
  basis: number;
  /** `other_config:bond-rebalance-interval` (ms; 0 = never; else at least 1000). */
  rebalanceMs: number;
  /** `other_config:bond-primary` (active-backup only). */
  primary: string | undefined;
  /** `bond_active_slave`: the MAC of the last active member (0 = none). */
  activeMac: number;
  /** `other_config:all-members-active` (slb: admit multicast on every member). */
  allMembersActive: boolean;
}

/** One member as configured. */
export interface BondMemberConfig {
  /** Interface name. */
  name: string;
  /** OpenFlow port number. */
  ofport: number;
  /** Interface MAC (48-bit). */
  mac: number;
}

interface Member extends BondMemberConfig {
  /** May be chosen for traffic. */
  enabled: boolean;
  /** Liveness last seen (carrier and LIVE bit). */
  mayEnable: boolean;
  /** When `enabled` may change (ms on the clock), or Infinity. */
  delayExpires: number;
}

interface Bucket {
  member: Member | undefined;
  txBytes: number;
}

/** `mac` as OVS prints it. */
function macString(mac: number): string {
  return formatMac(Math.floor(mac / 2 ** 32), mac % 2 ** 32);
}

// ---------------------------------------------------------------- hashing (OVS lib/hash.h)

function rot(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

function mhashAdd(hash: number, data: number): number {
  let h = hash >>> 0;
  if (data !== 0) {
    let d = Math.imul(data >>> 0, 0xcc9e2d51) >>> 0;
    d = rot(d, 15);
    d = Math.imul(d, 0x1b873593) >>> 0;
    h = (h ^ d) >>> 0;
  }
  h = rot(h, 13);
  return (Math.imul(h, 5) + 0xe6546b64) >>> 0;
}

function mhashFinish(hash: number): number {
  let h = hash >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** OVS's hash_uint64_basis (the generic, non-SSE4.2 build Debian ships). */
export function hashUint64Basis(lo: number, hi: number, basis: number): number {
  return mhashFinish(mhashAdd(mhashAdd(basis >>> 0, lo >>> 0), hi >>> 0) ^ 8);
}

/** OVS's hash_mac(mac, vlan, basis): the balance-slb hash (`bond/hash` prints it & 0xff). */
export function hashMac(mac: number, vlan: number, basis: number): number {
  const lo = mac % 2 ** 32;
  const hi = (Math.floor(mac / 2 ** 32) & 0xffff) | ((vlan & 0xffff) << 16);
  return hashUint64Basis(lo, hi, basis);
}

// ---------------------------------------------------------------- settings

function str(row: Row, col: string): string | undefined {
  const k = row.data[col]?.keys[0];
  return typeof k === 'string' ? k : undefined;
}

function int(row: Row, col: string): number | undefined {
  const k = row.data[col]?.keys[0];
  return typeof k === 'bigint' ? Number(k) : typeof k === 'number' ? k : undefined;
}

function smap(row: Row, col: string): Record<string, string> {
  const d = row.data[col];
  const out: Record<string, string> = {};
  d?.keys.forEach((k, i) => {
    const v = d.values?.[i];
    if (typeof k === 'string' && typeof v === 'string') out[k] = v;
  });
  return out;
}

function smapInt(m: Record<string, string>, k: string, dflt: number): number {
  const v = m[k];
  if (v === undefined || !/^-?\d+$/.test(v.trim())) return dflt;
  return Number.parseInt(v, 10);
}

/** The bond settings of a Port row, as OVS's port_configure_bond reads them. */
export function bondSettings(prow: Row): BondSettings {
  const name = str(prow, 'name') ?? '';
  const oc = smap(prow, 'other_config');
  const modeStr = str(prow, 'bond_mode');
  let mode: BondMode = 'active-backup';
  if (modeStr !== undefined) {
    if ((BOND_MODES as readonly string[]).includes(modeStr)) mode = modeStr as BondMode;
    else log.warn(`port ${name}: unknown bond_mode ${modeStr}, defaulting to active-backup`);
  }
  const detect = oc['bond-detect-mode'];
  if (detect !== undefined && detect !== 'carrier' && detect !== 'miimon')
    log.warn(`port ${name}: unsupported bond-detect-mode ${detect}, defaulting to carrier`);
  let rebalanceMs = smapInt(oc, 'bond-rebalance-interval', DEFAULT_REBALANCE_MS);
  if (rebalanceMs && rebalanceMs < 1000) rebalanceMs = 1000;
  const macS = str(prow, 'bond_active_slave');
  const mac = macS ? parseMac(macS) : undefined;
  return {
    mode,
    updelay: Math.max(0, int(prow, 'bond_updelay') ?? 0),
    downdelay: Math.max(0, int(prow, 'bond_downdelay') ?? 0),
    basis: smapInt(oc, 'bond-hash-basis', 0),
    rebalanceMs: Math.max(0, rebalanceMs),
    primary: mode === 'active-backup' ? oc['bond-primary'] : undefined,
    activeMac: mac ? mac[0] * 2 ** 32 + mac[1] : 0,
    allMembersActive: oc['all-members-active'] === 'true',
  };
}

// ---------------------------------------------------------------- one bond

/** One bond's state machine (no I/O: liveness comes in, decisions go out). */
export class Bond implements NormalBond {
  /** The Port name. */
  readonly name: string;
  private readonly clock: Clock;
  private s: BondSettings;
  private readonly members = new Map<string, Member>();
  private active: Member | undefined;
  /** MAC of the active member as last recorded (written to Port.bond_active_slave). */
  activeMac: number;
  private readonly buckets: Bucket[] = [];
  /** Round-robin list of enabled members (OVS's enabled_members). */
  private enabledRr: Member[] = [];
  /** Next rebalance (ms on the clock). */
  nextRebalance: number;
  /** Set when the active member changed; cleared by whoever writes it to the database. */
  activeChanged = false;
  /** Set when gratuitous learning packets should be sent. */
  sendLearning = false;
  /** Set when forwarding decisions may have changed; cleared by {@link Bond.takeRevalidate}. */
  private revalidate = false;

  constructor(name: string, clock: Clock, settings: BondSettings) {
    this.name = name;
    this.clock = clock;
    this.s = settings;
    this.activeMac = settings.activeMac;
    for (let i = 0; i < BOND_BUCKETS; i++) this.buckets.push({ member: undefined, txBytes: 0 });
    this.nextRebalance = clock.now() + settings.rebalanceMs;
  }

  /** The current settings. */
  get settings(): Readonly<BondSettings> {
    return this.s;
  }

  /** The MAC-table id of the bundle: its lowest member OpenFlow port. */
  get id(): number {
    let id = Infinity;
    for (const m of this.members.values()) id = Math.min(id, m.ofport);
    return Number.isFinite(id) ? id : 0;
  }

  /** True for balance-slb and balance-tcp (OVS bond_is_balanced). */
  get balanced(): boolean {
    return this.s.mode !== 'active-backup';
  }

  /** Applies new settings and the member list (added members start disabled). */
  configure(settings: BondSettings, members: readonly BondMemberConfig[]): void {
    const old = this.s;
    this.s = settings;
    if (old.mode !== settings.mode || old.basis !== settings.basis) {
      this.resetBuckets();
      this.revalidate = true;
    }
    if (old.rebalanceMs !== settings.rebalanceMs)
      this.nextRebalance = this.clock.now() + settings.rebalanceMs;
    if (!this.active && settings.activeMac) this.activeMac = settings.activeMac;
    const want = new Set(members.map((m) => m.name));
    for (const [n, m] of this.members) {
      if (want.has(n)) continue;
      this.members.delete(n);
      this.enabledRr = this.enabledRr.filter((x) => x !== m);
      for (const b of this.buckets) if (b.member === m) b.member = undefined;
      if (this.active === m) this.active = undefined;
      this.revalidate = true;
    }
    for (const c of members) {
      const m = this.members.get(c.name);
      if (m) {
        if (m.ofport !== c.ofport || m.mac !== c.mac) this.revalidate = true;
        m.ofport = c.ofport;
        m.mac = c.mac;
      } else {
        this.members.set(c.name, {
          ...c,
          enabled: false,
          mayEnable: false,
          delayExpires: Infinity,
        });
        this.revalidate = true;
      }
    }
    if (settings.primary !== old.primary) this.revalidate = true;
  }

  /** Member names, sorted. */
  memberNames(): string[] {
    return [...this.members.keys()].sort();
  }

  /** True if OpenFlow port `ofport` is a member. */
  hasMember(ofport: number): boolean {
    for (const m of this.members.values()) if (m.ofport === ofport) return true;
    return false;
  }

  /** The active member's name, if any. */
  activeName(): string | undefined {
    return this.active?.name;
  }

  /** Whether member `name` is enabled. */
  isEnabled(name: string): boolean {
    return this.members.get(name)?.enabled ?? false;
  }

  /** True once since the last call when forwarding decisions may have changed. */
  takeRevalidate(): boolean {
    const r = this.revalidate;
    this.revalidate = false;
    return r;
  }

  private resetBuckets(): void {
    for (const b of this.buckets) {
      b.member = undefined;
      b.txBytes = 0;
    }
  }

  private enable(m: Member, on: boolean): void {
    m.delayExpires = Infinity;
    if (m.enabled === on) return;
    m.enabled = on;
    this.revalidate = true;
    if (on) {
      this.enabledRr.push(m);
      cEnabled.inc();
    } else {
      this.enabledRr = this.enabledRr.filter((x) => x !== m);
      for (const b of this.buckets) if (b.member === m) b.member = undefined;
      this.sendLearning = true;
      cDisabled.inc();
    }
    log.info(`member ${m.name}: ${on ? 'enabled' : 'disabled'}`);
  }

  /**
   * One maintenance pass (OVS bond_run): `live(name)` tells whether a member's link is usable
   * (carrier and the OpenFlow port's LIVE bit). Applies updelay/downdelay and picks the active
   * member. Returns true when forwarding decisions may have changed.
   */
  run(live: (m: BondMemberConfig) => boolean): boolean {
    const now = this.clock.now();
    let primary: Member | undefined;
    for (const m of this.members.values()) {
      const up = live(m);
      m.mayEnable = up;
      if ((up === m.enabled) !== (m.delayExpires === Infinity)) {
        if (up === m.enabled) {
          m.delayExpires = Infinity;
        } else {
          const delay = up ? this.s.updelay : this.s.downdelay;
          m.delayExpires = now + delay;
          if (delay)
            log.info(
              `member ${m.name}: will be ${up ? 'enabled' : 'disabled'} if it stays ` +
                `${up ? 'up' : 'down'} for ${delay} ms`,
            );
        }
      }
      if (now >= m.delayExpires) this.enable(m, up);
      if (this.s.mode === 'active-backup' && m.name === this.s.primary && m.enabled) primary = m;
    }
    if (!this.active || !this.active.enabled || (primary && this.active !== primary))
      this.chooseActive();
    return this.takeRevalidate();
  }

  /** The earliest pending updelay/downdelay expiry (ms on the clock), or Infinity. */
  nextDelay(): number {
    let t = Infinity;
    for (const m of this.members.values()) t = Math.min(t, m.delayExpires);
    return t;
  }

  private findByMac(mac: number): Member | undefined {
    if (!mac) return undefined;
    for (const m of this.sorted()) if (m.mac === mac) return m;
    return undefined;
  }

  private sorted(): Member[] {
    return [...this.members.values()].sort((a, b) => a.ofport - b.ofport);
  }

  private chooseMember(): Member | undefined {
    const all = this.sorted();
    const p = all.find((m) => m.name === this.s.primary && m.enabled);
    if (this.s.mode === 'active-backup' && p) return p;
    const last = this.findByMac(this.activeMac);
    if (last?.enabled) return last;
    const en = all.find((m) => m.enabled);
    if (en) return en;
    let best: Member | undefined;
    for (const m of all)
      if (
        m.delayExpires !== Infinity &&
        m.mayEnable &&
        (!best || m.delayExpires < best.delayExpires)
      )
        best = m;
    return best;
  }

  private chooseActive(): void {
    const old = this.active;
    this.active = this.chooseMember();
    if (this.active) {
      if (this.active.enabled)
        log.info(`bond ${this.name}: active member is now ${this.active.name}`);
      else {
        log.info(
          `bond ${this.name}: active member is now ${this.active.name}, skipping remaining ` +
            `${this.active.delayExpires - this.clock.now()} ms updelay (since no member was enabled)`,
        );
        this.enable(this.active, true);
      }
      this.sendLearning = true;
      if (this.active !== old) this.activeMemberChanged();
    } else if (old) {
      this.activeMemberChanged();
      log.info(`bond ${this.name}: all members disabled`);
    }
  }

  private activeMemberChanged(): void {
    this.activeMac = this.active ? this.active.mac : 0;
    this.activeChanged = true;
    this.revalidate = true;
    cActive.inc();
  }

  /** `bond/set-active-member`: "done", "no change", or throws with OVS's error text. */
  setActive(name: string): string {
    const m = this.members.get(name);
    if (!m) throw new AppctlError('no such member');
    if (!m.enabled) throw new AppctlError('cannot make disabled member active');
    if (this.active === m) return 'no change';
    this.active = m;
    log.info(`bond ${this.name}: active member is now ${m.name}`);
    this.sendLearning = true;
    this.activeMemberChanged();
    return 'done';
  }

  /**
   * `bond/enable-member` / `bond/disable-member`: enables or disables the member now, as OVS
   * does. The next {@link Bond.run} treats the member's link as it finds it, so with a live link
   * and no updelay a disabled member comes straight back (OVS behaves the same); with an
   * updelay it stays disabled that long and the active member moves if it was the one.
   */
  forceEnable(name: string, on: boolean): string {
    const m = this.members.get(name);
    if (!m) throw new AppctlError('no such member');
    this.enable(m, on);
    return on ? 'enabled' : 'disabled';
  }

  // ------------------------------------------------------------ forwarding

  private memberByOfport(ofport: number): Member | undefined {
    for (const m of this.members.values()) if (m.ofport === ofport) return m;
    return undefined;
  }

  /** OVS's bond_check_admissibility without LACP. */
  admissibility(ofport: number, dstMac: number): BondVerdict {
    const m = this.memberByOfport(ofport);
    if (!m) return 'drop';
    if (this.s.mode === 'balance-tcp') return 'drop';
    const multicast = Math.floor(dstMac / 2 ** 40) % 2 === 1;
    if (multicast && this.active !== m && !this.s.allMembersActive) return 'drop';
    switch (this.s.mode) {
      case 'active-backup':
        return this.active === m ? 'accept' : 'drop';
      case 'balance-slb':
        return 'drop-if-moved';
    }
  }

  /** The bucket of a source MAC and VID. */
  bucketOf(srcMac: number, vid: number): number {
    return hashMac(srcMac, vid, this.s.basis) & (BOND_BUCKETS - 1);
  }

  /** OVS's choose_output_member without LACP; accounts `bytes` to the bucket. */
  chooseOutput(srcMac: number, vid: number, bytes: number): number | undefined {
    switch (this.s.mode) {
      case 'active-backup':
        return this.active?.enabled ? this.active.ofport : undefined;
      case 'balance-tcp':
        return undefined;
      case 'balance-slb': {
        const b = this.buckets[this.bucketOf(srcMac, vid)]!;
        if (!b.member || !b.member.enabled) {
          const m = this.enabledRr.shift();
          if (m) this.enabledRr.push(m);
          b.member = m;
        }
        if (b.member) b.txBytes += bytes;
        return b.member?.ofport;
      }
    }
  }

  /**
   * Periodic rebalance of balance-slb (OVS bond_rebalance): when due, moves hash buckets from
   * the most loaded enabled member to the least loaded one while that reduces the imbalance,
   * then halves every bucket's load. Returns true when a bucket moved.
   */
  rebalance(): boolean {
    const now = this.clock.now();
    if (!this.balanced || this.s.rebalanceMs === 0 || now < this.nextRebalance) return false;
    this.nextRebalance = now + this.s.rebalanceMs;
    const load = new Map<Member, Bucket[]>();
    for (const m of this.members.values()) if (m.enabled) load.set(m, []);
    for (const b of this.buckets)
      if (b.member && b.txBytes && load.has(b.member)) load.get(b.member)!.push(b);
    const tx = (m: Member): number => load.get(m)!.reduce((s, b) => s + b.txBytes, 0);
    let moved = false;
    const bals = [...load.keys()];
    while (bals.length >= 2) {
      bals.sort((a, b) => tx(b) - tx(a));
      const from = bals[0]!;
      const to = bals[bals.length - 1]!;
      const overload = tx(from) - tx(to);
      if (overload < tx(to) / 32 || overload < 100_000) break;
      const entries = load.get(from)!.sort((a, b) => b.txBytes - a.txBytes);
      // Move the biggest bucket that is smaller than the overload (so the gap shrinks).
      const e = entries.length > 1 ? entries.find((b) => b.txBytes < overload) : undefined;
      if (!e) {
        bals.shift();
        continue;
      }
      e.member = to;
      load.set(
        from,
        entries.filter((b) => b !== e),
      );
      load.get(to)!.push(e);
      moved = true;
      cRebalance.inc();
    }
    for (const b of this.buckets) b.txBytes = Math.floor(b.txBytes / 2);
    if (moved) this.revalidate = true;
    return moved;
  }

  // ------------------------------------------------------------ appctl text

  /** One `bond/list` line. */
  listLine(recircId: number): string {
    const names = this.sorted().map((m) => m.name);
    return `${this.name}\t${this.s.mode}\t${recircId}\t${names.join(', ')}\n`;
  }

  /** `bond/show` text for this bond (OVS 3.1's bond_print_details). */
  show(): string {
    const now = this.clock.now();
    let s = `---- ${this.name} ----\n`;
    s += `bond_mode: ${this.s.mode}\n`;
    s += 'bond may use recirculation: no, Recirc-ID : -1\n';
    s += `bond-hash-basis: ${this.s.basis >>> 0}\n`;
    s += 'lb_output action: disabled, bond-id: -1\n';
    if (this.s.mode === 'balance-slb')
      s += `all members active: ${this.s.allMembersActive ? 'true' : 'false'}\n`;
    s += `updelay: ${this.s.updelay} ms\n`;
    s += `downdelay: ${this.s.downdelay} ms\n`;
    if (this.balanced) s += `next rebalance: ${this.nextRebalance - now} ms\n`;
    s += 'lacp_status: off\n';
    s += 'lacp_fallback_ab: false\n';
    const primary = this.s.primary;
    const found = primary !== undefined && this.members.has(primary);
    s += `active-backup primary: ${primary ?? '<none>'}${primary !== undefined && !found ? ' (no such member)' : ''}\n`;
    const am = this.findByMac(this.activeMac);
    s += `active member mac: ${macString(this.activeMac)}(${am ? am.name : 'none'})\n`;
    for (const m of [...this.members.values()].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    )) {
      s += `\nmember ${m.name}: ${m.enabled ? 'enabled' : 'disabled'}\n`;
      if (m === this.active) s += '  active member\n';
      if (m.delayExpires !== Infinity)
        s += `  ${m.enabled ? 'downdelay' : 'updelay'} expires in ${m.delayExpires - now} ms\n`;
      s += `  may_enable: ${m.mayEnable ? 'true' : 'false'}\n`;
      if (!this.balanced) continue;
      this.buckets.forEach((b, i) => {
        const k = Math.floor(b.txBytes / 1024);
        if (b.member === m && k) s += `  hash ${i}: ${k} kB load\n`;
      });
    }
    return `${s}\n`;
  }
}

// ---------------------------------------------------------------- the bonds of a bridge

/** A gratuitous RARP from `mac` (OVS compose_rarp), 802.1Q-tagged when `vlan` is not 0. */
export function composeRarp(mac: number, vlan: number): Uint8Array {
  const tag = vlan ? 4 : 0;
  const f = new Uint8Array(60);
  const dv = new DataView(f.buffer);
  f.fill(0xff, 0, 6);
  dv.setUint16(6, Math.floor(mac / 2 ** 32) & 0xffff);
  dv.setUint32(8, mac % 2 ** 32);
  if (vlan) {
    dv.setUint16(12, 0x8100);
    dv.setUint16(14, vlan & 0xfff);
  }
  const o = 12 + tag;
  dv.setUint16(o, 0x8035);
  dv.setUint16(o + 2, 1); // hardware type Ethernet
  dv.setUint16(o + 4, 0x0800);
  f[o + 6] = 6;
  f[o + 7] = 4;
  dv.setUint16(o + 8, 3); // reverse request
  f.set(f.subarray(6, 12), o + 10); // sha
  f.set(f.subarray(6, 12), o + 20); // tha (spa and tpa stay 0)
  return f;
}

/** The bonds of one bridge: a {@link BridgeProtocol} and NORMAL's {@link NormalBonds}. */
export class BridgeBonds implements BridgeProtocol, NormalBonds {
  /** Name shown in traces. */
  readonly name = 'bond';
  /** Bonds by Port name. */
  readonly bonds = new Map<string, Bond>();
  private readonly ctx: BridgeProtocolContext;
  private timer: TimerHandle | undefined;
  private closed = false;
  /** Port UUID of each bond (by Port name). */
  private readonly portUuid = new Map<string, string>();
  /** The bond of each member OpenFlow port (rebuilt by reconfigure). */
  private byOfport = new Map<number, Bond>();
  /** The netdev of each member OpenFlow port (rebuilt by reconfigure). */
  private netdevs = new Map<number, BridgeIface['netdev']>();

  constructor(ctx: BridgeProtocolContext) {
    this.ctx = ctx;
    this.arm();
  }

  /** Bonds never consume frames (LACP would). */
  consume(_port: OfPort, _flow: FlowKey, _wc: FlowKey, _frame: Uint8Array | undefined): boolean {
    return false;
  }

  /** The bond OpenFlow port `ofport` belongs to. */
  bondOf(ofport: number): Bond | undefined {
    return this.byOfport.get(ofport);
  }

  /** Reads every Port with more than one running interface as a bond. */
  reconfigure(updates: Json[]): void {
    // Cheap check first (this runs after every pass, with hundreds of ports): any bond at all?
    const brow = this.ctx.bridgeRow();
    const anyBond = (brow?.data.ports?.keys ?? []).some((pu) => {
      const prow = typeof pu === 'string' ? this.ctx.db.getRow('Port', pu) : undefined;
      return (prow?.data.interfaces?.keys.length ?? 0) > 1;
    });
    if (!anyBond && this.bonds.size === 0) {
      if (this.ctx.xlate.bonds === this) this.ctx.xlate.bonds = undefined;
      return;
    }
    const byPort = new Map<string, BridgeIface[]>();
    for (const i of this.ctx.ifaces()) {
      if (i.ofport <= 0 || i.ofport > 0xff00) continue;
      const l = byPort.get(i.portUuid) ?? [];
      l.push(i);
      byPort.set(i.portUuid, l);
    }
    const seen = new Set<string>();
    for (const [pu, ifs] of byPort) {
      const prow = this.ctx.db.getRow('Port', pu);
      if (!prow || (prow.data.interfaces?.keys.length ?? 0) < 2) continue;
      const name = str(prow, 'name');
      if (!name) continue;
      seen.add(name);
      const settings = bondSettings(prow);
      let b = this.bonds.get(name);
      if (!b) {
        if (str(prow, 'bond_mode') === undefined)
          log.warn(
            `port ${name}: Using the default bond_mode active-backup. Note that in previous ` +
              'versions, the default bond_mode was balance-slb',
          );
        const lacp = str(prow, 'lacp');
        if (lacp === 'active' || lacp === 'passive') {
          cLacpIgnored.inc();
          log.warn(`port ${name}: lacp=${lacp} is not supported; the bond runs without LACP`);
        }
        b = new Bond(name, this.ctx.clock, settings);
        this.bonds.set(name, b);
      }
      this.portUuid.set(name, pu);
      b.configure(
        settings,
        ifs.map((i) => ({ name: i.name, ofport: i.ofport, mac: i.mac })),
      );
    }
    for (const n of [...this.bonds.keys()])
      if (!seen.has(n)) {
        this.bonds.delete(n);
        this.portUuid.delete(n);
        this.ctx.invalidate();
      }
    this.byOfport = new Map();
    this.netdevs = new Map();
    for (const [pu, ifs] of byPort) {
      const prow = this.ctx.db.getRow('Port', pu);
      const b = prow ? this.bonds.get(str(prow, 'name') ?? '') : undefined;
      if (!b) continue;
      for (const i of ifs) {
        this.byOfport.set(i.ofport, b);
        this.netdevs.set(i.ofport, i.netdev);
      }
    }
    // NORMAL consults the bonds only on bridges that have some.
    this.ctx.xlate.bonds = this.bonds.size > 0 ? this : undefined;
    this.poll();
    this.writeStatus(updates);
  }

  /** Writes Port.bond_active_slave when it differs (OVS writes the active member's MAC). */
  writeStatus(updates: Json[]): void {
    for (const [name, b] of this.bonds) {
      const pu = this.portUuid.get(name);
      const prow = pu ? this.ctx.db.getRow('Port', pu) : undefined;
      if (!prow || !b.activeChanged) continue;
      const mac = macString(b.activeMac);
      b.activeChanged = false;
      if (str(prow, 'bond_active_slave') === mac) continue;
      updates.push({
        op: 'update',
        table: 'Port',
        where: [['_uuid', '==', ['uuid', prow.uuid]]],
        row: { bond_active_slave: mac },
      });
    }
  }

  private live(m: BondMemberConfig): boolean {
    const p = this.ctx.ofproto.getPort(m.ofport);
    if (!p) return false;
    if ((p.state & OFPPS.LIVE) === 0 || (p.state & OFPPS.LINK_DOWN) !== 0) return false;
    const nd = this.netdevs.get(m.ofport);
    try {
      return nd ? nd.carrier() : true;
    } catch {
      return false;
    }
  }

  /** Runs every bond once: liveness, active member, rebalance, learning packets. */
  poll(): void {
    let inval = false;
    let status = false;
    for (const b of this.bonds.values()) {
      if (b.run((m) => this.live(m))) inval = true;
      if (b.rebalance()) inval = true;
      if (b.activeChanged) status = true;
      if (b.sendLearning) {
        b.sendLearning = false;
        this.sendLearningPackets(b);
      }
    }
    if (inval) this.ctx.invalidate();
    if (status) this.ctx.requestStatus();
  }

  /** OVS's learning packets: a RARP for every MAC learned elsewhere, out of the bond. */
  private sendLearningPackets(b: Bond): void {
    if (b.settings.mode === 'balance-tcp') return;
    const id = b.id;
    for (const e of this.ctx.xlate.mac.entries()) {
      if (e.port === id) continue;
      const out = b.chooseOutput(e.mac, e.vlan, 0);
      if (out === undefined) return;
      if (this.ctx.send(out, composeRarp(e.mac, e.vlan))) cLearning.inc();
    }
  }

  private arm(): void {
    if (this.closed) return;
    this.timer = this.ctx.clock.setTimeout(() => {
      try {
        this.poll();
      } catch (e) {
        log.error({ bridge: this.ctx.bridgeName, err: (e as Error).message }, 'bond poll failed');
      }
      this.arm();
    }, BOND_POLL_MS);
  }

  /** Stops the timer and unplugs from NORMAL. */
  close(): void {
    this.closed = true;
    this.ctx.clock.clearTimeout(this.timer);
    if (this.ctx.xlate.bonds === this) this.ctx.xlate.bonds = undefined;
    this.bonds.clear();
  }
}

// ---------------------------------------------------------------- appctl

function allBonds(protocols: () => ReadonlyMap<string, BridgeProtocol>): Map<string, Bond> {
  const out = new Map<string, Bond>();
  for (const p of protocols().values())
    if (p instanceof BridgeBonds) for (const [n, b] of p.bonds) out.set(n, b);
  return out;
}

/** Registers bond/list, bond/show, bond/set-active-member, bond/enable-member... and bond/hash. */
export function registerBondCommands(
  reg: AppctlRegistry,
  protocols: () => ReadonlyMap<string, BridgeProtocol>,
): void {
  const find = (name: string): Bond => {
    const b = allBonds(protocols).get(name);
    if (!b) throw new AppctlError('no such bond');
    return b;
  };
  const poll = (): void => {
    for (const p of protocols().values()) if (p instanceof BridgeBonds) p.poll();
  };
  reg.register({
    name: 'bond/list',
    usage: '',
    minArgs: 0,
    maxArgs: 0,
    handler: () => {
      let s = 'bond\ttype\trecircID\tmembers\n';
      for (const b of allBonds(protocols).values()) s += b.listLine(0);
      return s;
    },
  });
  reg.register({
    name: 'bond/show',
    usage: '[port]',
    minArgs: 0,
    maxArgs: 1,
    handler: (args) => {
      if (args[0] !== undefined) return find(args[0]).show();
      return [...allBonds(protocols).values()].map((b) => b.show()).join('');
    },
  });
  const setActive = (args: string[]): string => {
    const r = find(args[0]!).setActive(args[1]!);
    poll();
    return r;
  };
  const enable = (on: boolean) => (args: string[]) => {
    const r = find(args[0]!).forceEnable(args[1]!, on);
    poll();
    return r;
  };
  reg.register({
    name: 'bond/set-active-member',
    usage: 'port member',
    minArgs: 2,
    maxArgs: 2,
    handler: setActive,
  });
  reg.register({
    name: 'bond/enable-member',
    usage: 'port member',
    minArgs: 2,
    maxArgs: 2,
    handler: enable(true),
  });
  reg.register({
    name: 'bond/disable-member',
    usage: 'port member',
    minArgs: 2,
    maxArgs: 2,
    handler: enable(false),
  });
  // Deprecated names OVS still accepts (hidden from list-commands there; listed here).
  reg.register({
    name: 'bond/set-active-slave',
    usage: '',
    minArgs: 2,
    maxArgs: 2,
    handler: setActive,
  });
  reg.register({
    name: 'bond/enable-slave',
    usage: '',
    minArgs: 2,
    maxArgs: 2,
    handler: enable(true),
  });
  reg.register({
    name: 'bond/disable-slave',
    usage: '',
    minArgs: 2,
    maxArgs: 2,
    handler: enable(false),
  });
  reg.register({
    name: 'bond/hash',
    usage: 'mac [vlan] [basis]',
    minArgs: 1,
    maxArgs: 3,
    handler: (args) => {
      const mac = parseMac(args[0]!);
      const vlan = args[1] !== undefined ? Number(args[1]) : 0;
      const basis = args[2] !== undefined ? Number(args[2]) : 0;
      if (!mac) throw new AppctlError('invalid mac');
      if (!Number.isInteger(vlan)) throw new AppctlError('invalid vlan');
      if (!Number.isInteger(basis)) throw new AppctlError('invalid basis');
      return `${hashMac(mac[0] * 2 ** 32 + mac[1], vlan, basis) & (BOND_BUCKETS - 1)}`;
    },
  });
}

/** The bond module the daemon runs on every bridge (see protocol-modules.ts). */
export const BOND_MODULE: BridgeProtocolModule = {
  name: 'bond',
  create: (ctx) => new BridgeBonds(ctx),
  commands: registerBondCommands,
};

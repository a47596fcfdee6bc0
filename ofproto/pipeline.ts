/**
 * The OpenFlow pipeline's state and its controller-facing semantics (OVS's ofproto.c flow, group
 * and meter handling): tables 0–253 of rules in {@link Classifier}s, the full flow-mod semantics
 * (add/replace/overlap, modify and delete strict and non-strict with cookie, out_port and
 * out_group filters, RESET_COUNTS, timeouts and FLOW_REMOVED), groups (all, select, indirect,
 * fast-failover; chaining; deleting a group deletes its flows), meters (drop and dscp_remark,
 * kbps/pktps, burst), flow/aggregate/table/group/meter statistics, table features, and ONF
 * bundles committed atomically.
 *
 * Atomicity: every modifying request (a flow-mod, or all the messages of a bundle) runs as one
 * transaction staged at the next classifier version (ofproto/classifier.ts): added rules are
 * inserted at version V+1, deleted and replaced ones retired at V+1, MODIFY's new instructions
 * are kept aside, and lookups and dumps keep using the published version V until the commit
 * publishes V+1 in one assignment, applies the modifications, then removes the retired rules for
 * good. A failing message (or any failing message of a bundle) discards the staged rules
 * (removes the added ones, restores the retired ones, forgets the modifications); groups and
 * meters, which are not versioned, are rolled back through a small undo log. The notifications a transaction produced (FLOW_REMOVED, rule and meter changes) are
 * sent only after it commits.
 *
 * Packet forwarding (xlate, packet-out execution, NORMAL) is not here: {@link PipelineHooks}
 * lets the bridge plug packet-out in, and {@link OpenFlowPipeline.lookup} serves xlate.
 */
import type { Clock, TimerHandle } from '../lib/clock.js';
import { counter } from '../lib/counters.js';
import { getLogger } from '../lib/log.js';
import type { FlowKey } from '../lib/packet/flow-key.js';
import type { Action } from '../openflow/actions.js';
import {
  OFPFC,
  OFPFF,
  OFPG,
  OFPM,
  OFPMF,
  OFPP,
  OFPRR,
  OFPTT,
  OFP_NO_BUFFER,
} from '../openflow/constants.js';
import { OfpError } from '../openflow/errors.js';
import type { Instruction } from '../openflow/instructions.js';
import {
  encodeMessage,
  encodeMultipartReply,
  type MessageOf,
  type OfpMessage,
} from '../openflow/messages.js';
import {
  streamReplyParts,
  type FlowStats,
  type GroupStats,
  type MeterConfig,
  type MeterStats,
  type MultipartReplyBody,
  type TableStats,
} from '../openflow/multipart.js';
import { OXM_FIELDS, type Match } from '../openflow/oxm.js';
import type { Bucket, MeterBand } from '../openflow/structs.js';
import type { TableFeatures } from '../openflow/table-features.js';
import {
  Classifier,
  VERSION_MAX,
  coveredBy,
  overlaps,
  visibleAt,
  type ClsRule,
  type PrefixField,
} from './classifier.js';
import { matchToMasked } from './match.js';
import type { Ofconn } from './ofconn.js';
import { N_TABLES, type OfPipeline } from './ofproto.js';

const log = getLogger('pipeline');
const cFlowMod = counter('ofproto_flow_mod', 'ofproto', 'flow-mods applied');
const cFlowExpired = counter(
  'ofproto_flow_expired',
  'ofproto',
  'flows removed by idle or hard timeout',
);
const cBundleCommit = counter('ofproto_bundle_commit', 'ofproto', 'bundles committed');

/** An OpenFlow rule. */
export interface OfRule {
  /** Table id. */
  readonly tableId: number;
  /** Priority. */
  readonly priority: number;
  /** The match exactly as the controller sent it (read back verbatim in stats). */
  readonly match: Match;
  /** Cookie. */
  cookie: bigint;
  /** Idle timeout (s, 0 = none). */
  idleTimeout: number;
  /** Hard timeout (s, 0 = none). */
  hardTimeout: number;
  /** OFPFF_* flags. */
  flags: number;
  /** Instructions exactly as sent. */
  instructions: Instruction[];
  /** Packets matched. */
  packetCount: bigint;
  /** Bytes matched. */
  byteCount: bigint;
  /** Monotonic ms when added (or replaced). */
  createdAt: number;
  /** Monotonic ms of the last packet (or creation). */
  lastUsed: number;
  /** The classifier entry. */
  readonly cls: ClsRule<OfRule>;
}

/** A group. */
export interface OfGroup {
  /** Group id. */
  readonly groupId: number;
  /** OFPGT_* type. */
  groupType: number;
  /** Buckets. */
  buckets: Bucket[];
  /** Packets through the group. */
  packetCount: bigint;
  /** Bytes through the group. */
  byteCount: bigint;
  /** Per-bucket counters. */
  bucketCounts: { packetCount: bigint; byteCount: bigint }[];
  /** Monotonic ms when added. */
  createdAt: number;
}

/** Most bands per meter (METER_FEATURES max_bands; the datapath meters' limit, as OVS's). */
export const METER_MAX_BANDS = 8;

/** A meter. */
export interface OfMeter {
  /** Meter id. */
  readonly meterId: number;
  /** OFPMF_* flags. */
  flags: number;
  /** Bands. */
  bands: MeterBand[];
  /** Packets in. */
  packetInCount: bigint;
  /** Bytes in. */
  byteInCount: bigint;
  /** Per-band counters. */
  bandCounts: { packetBandCount: bigint; byteBandCount: bigint }[];
  /** Monotonic ms when added. */
  createdAt: number;
}

/** What the pipeline needs from its bridge. */
export interface PipelineHooks {
  /** Sends FLOW_REMOVED for `rule` with OFPRR_* `reason` to the connections that want it. */
  flowRemoved(rule: OfRule, reason: number): void;
  /** Executes a PACKET_OUT (validated); absent until the datapath is plugged in. */
  packetOut?(conn: Ofconn, msg: MessageOf<'PACKET_OUT'>): void;
  /** True if `ofport` exists (for PACKET_OUT in_port checks). */
  hasPort(ofport: number): boolean;
  /** Called after any change to rules, groups or meters (the revalidator hook). */
  changed?(): void;
  /**
   * Called once per rule added, removed or modified, after the change is committed (never for a
   * change that was rolled back), before {@link changed}. A replaced rule (ADD over an identical
   * match and priority) is reported as a remove of the old rule then an add of the new one.
   */
  ruleChanged?(op: RuleChangeOp, rule: OfRule): void;
  /**
   * Called once per meter added, modified or deleted, after the change is committed (never for
   * a rolled-back change), before {@link changed}: the bridge programs its datapath meter. For
   * `modify`, `meter` already carries the new flags and bands.
   */
  meterChanged?(op: MeterChangeOp, meter: OfMeter): void;
  /**
   * Folds what the datapath counted for `meter` since the last call into its packetInCount,
   * byteInCount and bandCounts. Called before those are read (meter statistics) and before a
   * modification resets the band counters; must not throw or change the pipeline.
   */
  meterSync?(meter: OfMeter): void;
}

/** What happened to a meter, as {@link PipelineHooks.meterChanged} reports it. */
export type MeterChangeOp = 'add' | 'modify' | 'delete';

/** What happened to a rule, as {@link PipelineHooks.ruleChanged} reports it. */
export type RuleChangeOp = 'add' | 'remove' | 'modify';

interface Table {
  cls: Classifier<OfRule>;
  lookups: bigint;
  matched: bigint;
  config: number;
  count: number;
}

interface Txn {
  /** The version the transaction stages its flow changes at (published by its commit). */
  version: number;
  /** Rules inserted at {@link version}: counted on commit, removed on discard. */
  added: OfRule[];
  /** Rules retired at {@link version}: removed for good on commit, restored on discard. */
  retired: OfRule[];
  /**
   * MODIFY's new instructions per rule (and whether to reset its counters), applied to the rule
   * on commit: until then lookups see the old ones, and later messages of the transaction the
   * new ones (through {@link OpenFlowPipeline.instructionsIn}).
   */
  modified: Map<OfRule, { instructions: Instruction[]; resetCounts: boolean }> | undefined;
  /** Undo steps for what the classifier versions do not cover (groups, meters). */
  undo: (() => void)[];
  after: (() => void)[];
}

interface Bundle {
  flags: number;
  /** The inner messages (not their bytes: 100k bundled flow-mods must not pin 100k buffers). */
  messages: OfpMessage[];
  closed: boolean;
}

const MODIFYING_IN_BUNDLE = new Set<OfpMessage['type']>([
  'FLOW_MOD',
  'GROUP_MOD',
  'METER_MOD',
  'PORT_MOD',
  'TABLE_MOD',
]);

function actionsOf(instructions: readonly Instruction[]): Action[] {
  const out: Action[] = [];
  for (const i of instructions)
    if (i.type === 'APPLY_ACTIONS' || i.type === 'WRITE_ACTIONS') out.push(...i.actions);
  return out;
}

function outputsTo(rule: { instructions: readonly Instruction[] }, port: number): boolean {
  return actionsOf(rule.instructions).some((a) => a.type === 'OUTPUT' && a.port === port);
}

function usesGroup(actions: readonly Action[], group: number): boolean {
  return actions.some((a) => a.type === 'GROUP' && a.groupId === group);
}

function meterOf(rule: { instructions: readonly Instruction[] }): number | undefined {
  for (const i of rule.instructions) if (i.type === 'METER') return i.meterId;
  return undefined;
}

function duration(now: number, since: number): { durationSec: number; durationNsec: number } {
  // Millisecond resolution, as OVS reports (its clock is time_msec()).
  const ms = Math.max(0, Math.floor(now - since));
  return { durationSec: Math.floor(ms / 1000), durationNsec: (ms % 1000) * 1_000_000 };
}

/** The pipeline of one bridge. */
export class OpenFlowPipeline implements OfPipeline {
  private readonly tables: Table[] = Array.from({ length: N_TABLES }, () => ({
    cls: new Classifier<OfRule>(),
    lookups: 0n,
    matched: 0n,
    config: 0,
    count: 0,
  }));
  private readonly groups = new Map<number, OfGroup>();
  private readonly meters = new Map<number, OfMeter>();
  private readonly timed = new Set<OfRule>();
  private readonly bundles = new WeakMap<Ofconn, Map<number, Bundle>>();
  private expiryTimer: TimerHandle | undefined;
  /** The published classifier version: what lookups, dumps and statistics see. */
  private version = 0;
  /** The transaction staged at version + 1 and not yet published or discarded. */
  private open: Txn | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly hooks: PipelineHooks,
  ) {}

  /** Stops the expiry timer. */
  close(): void {
    this.clock.clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
  }

  // ---------------------------------------------------------------- lookups (for xlate)

  /**
   * The rule of `tableId` matching `key` (highest priority), counting the lookup and the match in
   * the table's statistics; consulted bits are ORed into `wc`.
   */
  lookup(tableId: number, key: FlowKey, wc?: FlowKey): OfRule | undefined {
    const t = this.tables[tableId];
    if (!t) return undefined;
    t.lookups++;
    const r = t.cls.lookup(key, this.version, wc);
    if (r) t.matched++;
    return r?.value;
  }

  /** Credits `packets`/`bytes` to a rule (datapath statistics push-back). */
  credit(rule: OfRule, packets: number, bytes: number, usedAt = this.clock.now()): void {
    rule.packetCount += BigInt(packets);
    rule.byteCount += BigInt(bytes);
    if (packets > 0) rule.lastUsed = Math.max(rule.lastUsed, Math.ceil(usedAt));
  }

  /** A group by id. */
  getGroup(id: number): OfGroup | undefined {
    return this.groups.get(id);
  }

  /** A meter by id. */
  getMeter(id: number): OfMeter | undefined {
    return this.meters.get(id);
  }

  /** Every group, by increasing id. */
  allGroups(): OfGroup[] {
    return [...this.groups.values()].sort((a, b) => a.groupId - b.groupId);
  }

  /** Every meter, by increasing id. */
  allMeters(): OfMeter[] {
    return [...this.meters.values()].sort((a, b) => a.meterId - b.meterId);
  }

  /** Every rule of every table visible at the published version (for dumps and tests). */
  *allRules(): IterableIterator<OfRule> {
    for (const t of this.tables) for (const r of t.cls.rules(this.version)) yield r.value;
  }

  /** The published version (advances by one per committed transaction; for tests). */
  get publishedVersion(): number {
    return this.version;
  }

  /**
   * Sets the prefix-trie fields of table `tableId` (OVS's Flow_Table `prefixes`, already
   * validated: at most 3, no repeats; `[]` for none). Returns true when they changed (the caller
   * then revalidates megaflows); false for an unknown table or the same fields.
   */
  setTablePrefixes(tableId: number, fields: readonly PrefixField[]): boolean {
    const t = this.tables[tableId];
    if (!t) return false;
    const cur = t.cls.prefixes;
    if (cur.length === fields.length && cur.every((f, i) => f === fields[i])) return false;
    t.cls.setPrefixes(fields);
    return true;
  }

  /** Number of rules in all tables. */
  flowCount(): number {
    let n = 0;
    for (const t of this.tables) n += t.count;
    return n;
  }

  tableStats(): TableStats[] {
    return this.tables.map((t, tableId) => ({
      tableId,
      activeCount: t.count,
      lookupCount: t.lookups,
      matchedCount: t.matched,
    }));
  }

  // ---------------------------------------------------------------- messages

  handleMessage(conn: Ofconn, msg: OfpMessage, _raw: Uint8Array): void {
    switch (msg.type) {
      case 'FLOW_MOD':
      case 'GROUP_MOD':
      case 'METER_MOD':
      case 'TABLE_MOD':
        this.transact((txn) => this.apply(txn, msg));
        return;
      case 'PACKET_OUT':
        this.packetOut(conn, msg);
        return;
      case 'MULTIPART_REQUEST':
        this.multipart(conn, msg);
        return;
      case 'BUNDLE_CONTROL':
        this.bundleControl(conn, msg);
        return;
      case 'BUNDLE_ADD_MESSAGE':
        this.bundleAdd(conn, msg);
        return;
      case 'EXPERIMENTER':
        throw new OfpError(
          'OFPBRC_BAD_EXPERIMENTER',
          `experimenter 0x${msg.experimenter.toString(16)}`,
        );
      default:
        throw new OfpError('OFPBRC_BAD_TYPE', msg.type);
    }
  }

  private transact(fn: (txn: Txn) => void): void {
    const txn = this.begin();
    try {
      fn(txn);
    } catch (e) {
      this.discard(txn);
      throw e;
    }
    this.commit(txn);
  }

  private begin(): Txn {
    if (this.open)
      throw new Error('pipeline: a staged transaction is neither published nor discarded');
    const txn: Txn = {
      version: this.version + 1,
      added: [],
      retired: [],
      modified: undefined, // created by the first MODIFY
      undo: [],
      after: [],
    };
    this.open = txn;
    return txn;
  }

  /** Rolls back a staged transaction: nothing it did was ever visible. */
  private discard(txn: Txn): void {
    for (let i = txn.undo.length - 1; i >= 0; i--) txn.undo[i]!();
    for (const r of txn.retired) this.tables[r.tableId]!.cls.restore(r.cls);
    for (const r of txn.added) this.tables[r.tableId]!.cls.remove(r.cls);
    this.open = undefined;
  }

  /** Publishes a staged transaction in one step, then drops what it retired and notifies. */
  private commit(txn: Txn): void {
    this.version = txn.version;
    this.open = undefined;
    if (txn.modified)
      for (const [r, m] of txn.modified) {
        r.instructions = m.instructions;
        if (m.resetCounts) {
          r.packetCount = 0n;
          r.byteCount = 0n;
        }
      }
    for (const r of txn.added) {
      this.tables[r.tableId]!.count++;
      if (r.idleTimeout > 0 || r.hardTimeout > 0) this.timed.add(r);
    }
    for (const r of txn.retired) {
      const t = this.tables[r.tableId]!;
      t.cls.remove(r.cls);
      t.count--;
      this.timed.delete(r);
    }
    if (this.version >= VERSION_MAX - 1) {
      // Nothing is staged now: renumber every rule to version 0 (once per ~10^9 commits).
      for (const t of this.tables) {
        t.cls.publish(this.version);
        t.cls.rebaseVersions();
      }
      this.version = 0;
    }
    if (txn.added.length > 0) this.armExpiry();
    for (const f of txn.after) f();
    this.hooks.changed?.();
  }

  /**
   * Stages `messages` (flow, group, meter and table mods, as in a bundle) as one transaction at
   * the next version without publishing it: lookups, dumps and statistics still see the
   * published rules until {@link publishStaged}; {@link discardStaged} drops it. On the first
   * failing message the transaction is discarded, `onFailure` (if given) is called with that
   * message, and its error is thrown. Only one transaction can be staged at a time.
   */
  stage(messages: readonly OfpMessage[], onFailure?: (msg: OfpMessage) => void): void {
    const txn = this.begin();
    let current: OfpMessage | undefined;
    try {
      for (const m of messages) {
        current = m;
        this.apply(txn, m);
      }
    } catch (e) {
      this.discard(txn);
      if (current) onFailure?.(current);
      throw e;
    }
  }

  /** Publishes the transaction {@link stage} left staged (all of it becomes visible at once). */
  publishStaged(): void {
    if (!this.open) throw new Error('pipeline: nothing staged');
    this.commit(this.open);
  }

  /** Discards the transaction {@link stage} left staged. */
  discardStaged(): void {
    if (!this.open) throw new Error('pipeline: nothing staged');
    this.discard(this.open);
  }

  private apply(txn: Txn, msg: OfpMessage): void {
    switch (msg.type) {
      case 'FLOW_MOD':
        this.flowMod(txn, msg);
        return;
      case 'GROUP_MOD':
        this.groupMod(txn, msg);
        return;
      case 'METER_MOD':
        this.meterMod(txn, msg);
        return;
      case 'TABLE_MOD':
        // Table config bits are deprecated in 1.3; OVS accepts and ignores them.
        if (msg.tableId !== OFPTT.ALL && msg.tableId >= N_TABLES)
          throw new OfpError('OFPTMFC_BAD_TABLE', `table ${msg.tableId}`);
        return;
      default:
        throw new OfpError('OFPBFC_MSG_UNSUP', msg.type);
    }
  }

  // ---------------------------------------------------------------- flows

  /** The instructions `rule` has within `txn` (its staged MODIFY's, else its own). */
  private instructionsIn(txn: Txn, rule: OfRule): Instruction[] {
    return txn.modified?.get(rule)?.instructions ?? rule.instructions;
  }

  /** Inserts `rule` at the transaction's version (counted and armed on commit). */
  private insertRule(txn: Txn, rule: OfRule): void {
    this.tables[rule.tableId]!.cls.insert(rule.cls, txn.version);
    txn.added.push(rule);
    if (this.hooks.ruleChanged) txn.after.push(() => this.hooks.ruleChanged?.('add', rule));
  }

  /** Retires `rule` at the transaction's version (removed for good on commit). */
  private removeRule(txn: Txn, rule: OfRule, reason: number | undefined): void {
    if (!visibleAt(rule.cls, txn.version)) return; // already deleted by this transaction
    this.tables[rule.tableId]!.cls.retire(rule.cls, txn.version);
    txn.retired.push(rule);
    if (reason !== undefined && (rule.flags & OFPFF.SEND_FLOW_REM) !== 0) {
      txn.after.push(() => this.hooks.flowRemoved(rule, reason));
    }
    if (this.hooks.ruleChanged) txn.after.push(() => this.hooks.ruleChanged?.('remove', rule));
  }

  private checkInstructionRefs(instructions: readonly Instruction[]): void {
    for (const i of instructions) {
      if (i.type === 'METER' && !this.meters.has(i.meterId))
        throw new OfpError('OFPMMFC_INVALID_METER', `meter ${i.meterId}`);
      if (i.type === 'APPLY_ACTIONS' || i.type === 'WRITE_ACTIONS') {
        for (const a of i.actions) {
          if (a.type === 'GROUP' && !this.groups.has(a.groupId))
            throw new OfpError('OFPBAC_BAD_OUT_GROUP', `group ${a.groupId}`);
        }
      }
    }
  }

  private selectRules(
    txn: Txn,
    msg: MessageOf<'FLOW_MOD'>,
    strict: boolean,
    filters: boolean,
  ): OfRule[] {
    const m = matchToMasked(msg.match);
    const tables = msg.tableId === OFPTT.ALL ? this.tables : [this.tables[msg.tableId]!];
    const out: OfRule[] = [];
    for (const t of tables) {
      if (strict) {
        const r = t.cls.findExact(m.key, m.mask, msg.priority, txn.version);
        if (r) out.push(r.value);
      } else {
        for (const r of t.cls.rules(txn.version)) if (coveredBy(r, m)) out.push(r.value);
      }
    }
    return out.filter((r) => {
      if (((r.cookie ^ msg.cookie) & msg.cookieMask) !== 0n) return false;
      const instructions = this.instructionsIn(txn, r);
      if (filters && msg.outPort !== OFPP.ANY && !outputsTo({ instructions }, msg.outPort))
        return false;
      if (filters && msg.outGroup !== OFPG.ANY && !usesGroup(actionsOf(instructions), msg.outGroup))
        return false;
      return true;
    });
  }

  private flowMod(txn: Txn, msg: MessageOf<'FLOW_MOD'>): void {
    const isAddOrModify =
      msg.command === OFPFC.ADD ||
      msg.command === OFPFC.MODIFY ||
      msg.command === OFPFC.MODIFY_STRICT;
    if (msg.tableId === N_TABLES) throw new OfpError('OFPBRC_EPERM', 'table 254 is reserved');
    if (msg.tableId > N_TABLES && msg.tableId !== OFPTT.ALL)
      throw new OfpError('OFPFMFC_BAD_TABLE_ID', `table ${msg.tableId}`);
    if (isAddOrModify) {
      if (msg.bufferId !== OFP_NO_BUFFER)
        throw new OfpError('OFPBRC_BUFFER_UNKNOWN', `buffer ${msg.bufferId}`);
      this.checkInstructionRefs(msg.instructions);
    }
    cFlowMod.inc();
    const now = this.clock.now();
    switch (msg.command) {
      case OFPFC.ADD: {
        const m = matchToMasked(msg.match);
        const t = this.tables[msg.tableId]!;
        const same = t.cls.findExact(m.key, m.mask, msg.priority, txn.version);
        if ((msg.flags & OFPFF.CHECK_OVERLAP) !== 0) {
          for (const r of t.cls.rules(txn.version)) {
            if (r !== same && r.priority === msg.priority && overlaps(r, m))
              throw new OfpError('OFPFMFC_OVERLAP');
          }
        }
        if (same) this.removeRule(txn, same.value, undefined);
        // The rule is its own classifier entry (`rule.cls === rule`): one object per flow, not
        // two (100k flows are 100k fewer objects to keep and to trace).
        const rule: OfRule & ClsRule<OfRule> = {
          tableId: msg.tableId,
          priority: msg.priority,
          match: msg.match,
          // The literal is one shared object; a decoded 0n is one more BigInt per rule.
          cookie: msg.cookie === 0n ? 0n : msg.cookie,
          idleTimeout: msg.idleTimeout,
          hardTimeout: msg.hardTimeout,
          flags: msg.flags,
          instructions: msg.instructions,
          packetCount: 0n,
          byteCount: 0n,
          // Whole ms (rounded up: never expires early): small integers are stored in the rule
          // itself, fractional ones as a separate 16-byte heap number each (3 MiB per 100k).
          createdAt: Math.ceil(now),
          lastUsed: Math.ceil(now),
          cls: undefined as unknown as ClsRule<OfRule>,
          key: m.key,
          mask: m.mask,
          value: undefined as unknown as OfRule,
          addedIn: 0,
          removedIn: VERSION_MAX,
        };
        (rule as { cls: ClsRule<OfRule> }).cls = rule;
        (rule as { value: OfRule }).value = rule;
        this.insertRule(txn, rule);
        return;
      }
      case OFPFC.MODIFY:
      case OFPFC.MODIFY_STRICT: {
        const reset = (msg.flags & OFPFF.RESET_COUNTS) !== 0;
        for (const r of this.selectRules(txn, msg, msg.command === OFPFC.MODIFY_STRICT, false)) {
          // Applied on commit: lookups before the publish see the old instructions.
          txn.modified ??= new Map();
          const resetCounts = reset || (txn.modified.get(r)?.resetCounts ?? false);
          txn.modified.set(r, { instructions: msg.instructions, resetCounts });
          if (this.hooks.ruleChanged) txn.after.push(() => this.hooks.ruleChanged?.('modify', r));
        }
        return;
      }
      case OFPFC.DELETE:
      case OFPFC.DELETE_STRICT:
        for (const r of this.selectRules(txn, msg, msg.command === OFPFC.DELETE_STRICT, true))
          this.removeRule(txn, r, OFPRR.DELETE);
        return;
      default:
        throw new OfpError('OFPFMFC_BAD_COMMAND', `command ${msg.command}`);
    }
  }

  private armExpiry(): void {
    if (this.expiryTimer || this.timed.size === 0) return;
    this.expiryTimer = this.clock.setTimeout(() => {
      this.expiryTimer = undefined;
      this.expire();
      this.armExpiry();
    }, 250);
  }

  /** Removes rules whose idle or hard timeout has passed (runs from a 250 ms timer). */
  expire(): void {
    const now = this.clock.now();
    const due: [OfRule, number][] = [];
    for (const r of this.timed) {
      if (r.hardTimeout > 0 && now - r.createdAt >= r.hardTimeout * 1000)
        due.push([r, OFPRR.HARD_TIMEOUT]);
      else if (r.idleTimeout > 0 && now - r.lastUsed >= r.idleTimeout * 1000)
        due.push([r, OFPRR.IDLE_TIMEOUT]);
    }
    if (due.length === 0) return;
    this.transact((txn) => {
      for (const [r, reason] of due) {
        cFlowExpired.inc();
        this.removeRule(txn, r, reason);
      }
    });
  }

  // ---------------------------------------------------------------- groups

  private groupMod(txn: Txn, msg: MessageOf<'GROUP_MOD'>): void {
    const now = this.clock.now();
    if (msg.command === 2) {
      const ids = msg.groupId === OFPG.ALL ? [...this.groups.keys()] : [msg.groupId];
      for (const id of ids) this.deleteGroup(txn, id);
      return;
    }
    for (const b of msg.buckets) {
      for (const a of b.actions) {
        if (a.type === 'GROUP') {
          if (!this.groups.has(a.groupId))
            throw new OfpError(
              'OFPGMFC_CHAINED_GROUP',
              `bucket refers to unknown group ${a.groupId}`,
            );
          if (a.groupId === msg.groupId || this.reaches(a.groupId, msg.groupId))
            throw new OfpError('OFPGMFC_LOOP');
        }
      }
      if (b.watchGroup !== OFPG.ANY && !this.groups.has(b.watchGroup))
        throw new OfpError('OFPGMFC_BAD_WATCH', `watch group ${b.watchGroup}`);
    }
    const existing = this.groups.get(msg.groupId);
    if (msg.command === 0) {
      if (existing) throw new OfpError('OFPGMFC_GROUP_EXISTS');
      const g: OfGroup = {
        groupId: msg.groupId,
        groupType: msg.groupType,
        buckets: msg.buckets,
        packetCount: 0n,
        byteCount: 0n,
        bucketCounts: msg.buckets.map(() => ({ packetCount: 0n, byteCount: 0n })),
        createdAt: now,
      };
      this.groups.set(g.groupId, g);
      txn.undo.push(() => this.groups.delete(g.groupId));
      return;
    }
    if (!existing) throw new OfpError('OFPGMFC_UNKNOWN_GROUP');
    const old = {
      groupType: existing.groupType,
      buckets: existing.buckets,
      bucketCounts: existing.bucketCounts,
    };
    existing.groupType = msg.groupType;
    existing.buckets = msg.buckets;
    existing.bucketCounts = msg.buckets.map(() => ({ packetCount: 0n, byteCount: 0n }));
    txn.undo.push(() => Object.assign(existing, old));
  }

  /** True if group `from` reaches group `to` through bucket GROUP actions. */
  private reaches(from: number, to: number, seen = new Set<number>()): boolean {
    if (from === to) return true;
    if (seen.has(from)) return false;
    seen.add(from);
    const g = this.groups.get(from);
    if (!g) return false;
    return g.buckets.some((b) =>
      b.actions.some((a) => a.type === 'GROUP' && this.reaches(a.groupId, to, seen)),
    );
  }

  private deleteGroup(txn: Txn, id: number): void {
    const g = this.groups.get(id);
    if (!g) return;
    // Flows that use the group go with it (OFPRR_GROUP_DELETE).
    for (const t of this.tables) {
      // Retiring does not change the classifier's structure: no copy of the iteration needed.
      for (const r of t.cls.rules(txn.version))
        if (usesGroup(actionsOf(this.instructionsIn(txn, r.value)), id))
          this.removeRule(txn, r.value, OFPRR.GROUP_DELETE);
    }
    this.groups.delete(id);
    txn.undo.push(() => this.groups.set(id, g));
  }

  /** Flows and group buckets that refer to group `id` (OpenFlow's ref_count). */
  groupRefCount(id: number): number {
    let n = 0;
    for (const t of this.tables)
      for (const r of t.cls.rules(this.version))
        if (usesGroup(actionsOf(r.value.instructions), id)) n++;
    for (const g of this.groups.values())
      for (const b of g.buckets) if (usesGroup(b.actions, id)) n++;
    return n;
  }

  // ---------------------------------------------------------------- meters

  private meterMod(txn: Txn, msg: MessageOf<'METER_MOD'>): void {
    const now = this.clock.now();
    if (msg.command === 2) {
      const ids = msg.meterId === OFPM.ALL ? [...this.meters.keys()] : [msg.meterId];
      for (const id of ids) {
        const m = this.meters.get(id);
        if (!m) continue;
        for (const t of this.tables)
          for (const r of t.cls.rules(txn.version))
            if (meterOf({ instructions: this.instructionsIn(txn, r.value) }) === id)
              this.removeRule(txn, r.value, OFPRR.DELETE);
        this.meters.delete(id);
        txn.undo.push(() => this.meters.set(id, m));
        txn.after.push(() => this.hooks.meterChanged?.('delete', m));
      }
      return;
    }
    // As OVS: more bands than METER_FEATURES advertises → OUT_OF_BANDS, before any band check.
    if (msg.bands.length > METER_MAX_BANDS)
      throw new OfpError('OFPMMFC_OUT_OF_BANDS', `${msg.bands.length} bands`);
    for (const b of msg.bands)
      if (b.type === 'EXPERIMENTER') throw new OfpError('OFPMMFC_BAD_BAND', 'experimenter band');
    const bands = msg.bands.map((b) =>
      (msg.flags & OFPMF.BURST) !== 0 && b.burstSize === 0 ? { ...b, burstSize: b.rate } : b,
    );
    const existing = this.meters.get(msg.meterId);
    if (msg.command === 0) {
      if (existing) throw new OfpError('OFPMMFC_METER_EXISTS');
      const m: OfMeter = {
        meterId: msg.meterId,
        flags: msg.flags,
        bands,
        packetInCount: 0n,
        byteInCount: 0n,
        bandCounts: bands.map(() => ({ packetBandCount: 0n, byteBandCount: 0n })),
        createdAt: now,
      };
      this.meters.set(m.meterId, m);
      txn.undo.push(() => this.meters.delete(m.meterId));
      txn.after.push(() => this.hooks.meterChanged?.('add', m));
      return;
    }
    if (!existing) throw new OfpError('OFPMMFC_UNKNOWN_METER');
    // What the datapath counted under the old bands goes into the counters being replaced.
    this.hooks.meterSync?.(existing);
    const old = { flags: existing.flags, bands: existing.bands, bandCounts: existing.bandCounts };
    existing.flags = msg.flags;
    existing.bands = bands;
    existing.bandCounts = bands.map(() => ({ packetBandCount: 0n, byteBandCount: 0n }));
    txn.undo.push(() => Object.assign(existing, old));
    txn.after.push(() => this.hooks.meterChanged?.('modify', existing));
  }

  /**
   * Brings every meter's packetInCount, byteInCount and bandCounts up to date with what the
   * datapath counted (see {@link PipelineHooks.meterSync}); readers of those fields outside the
   * meter statistics reply call it first.
   */
  syncMeterStats(): void {
    for (const m of this.meters.values()) this.hooks.meterSync?.(m);
  }

  // ---------------------------------------------------------------- packet-out

  private packetOut(conn: Ofconn, msg: MessageOf<'PACKET_OUT'>): void {
    if (msg.bufferId !== OFP_NO_BUFFER)
      throw new OfpError('OFPBRC_BUFFER_UNKNOWN', `buffer ${msg.bufferId}`);
    const p = msg.inPort;
    if (p !== OFPP.CONTROLLER && p !== OFPP.ANY && p !== OFPP.LOCAL && !(p < OFPP.MAX))
      throw new OfpError('OFPBRC_BAD_PORT', `in_port ${p}`);
    for (const a of msg.actions)
      if (a.type === 'GROUP' && !this.groups.has(a.groupId))
        throw new OfpError('OFPBAC_BAD_OUT_GROUP');
    if (!this.hooks.packetOut)
      throw new OfpError('OFPBRC_EPERM', 'packet-out: no datapath attached');
    this.hooks.packetOut(conn, msg);
  }

  // ---------------------------------------------------------------- statistics

  private multipart(conn: Ofconn, msg: MessageOf<'MULTIPART_REQUEST'>): void {
    const now = this.clock.now();
    let body: MultipartReplyBody;
    switch (msg.mpType) {
      case 'FLOW':
      case 'AGGREGATE': {
        const sel = this.statsSelect(msg);
        if (msg.mpType === 'AGGREGATE') {
          let packets = 0n;
          let bytes = 0n;
          for (const r of sel) {
            packets += r.packetCount;
            bytes += r.byteCount;
          }
          body = {
            mpType: 'AGGREGATE',
            packetCount: packets,
            byteCount: bytes,
            flowCount: sel.length,
          };
        } else {
          // Streamed: each part goes out as soon as it is encoded (the peer parses the first
          // while we encode the rest), and no array of 100k FlowStats is ever built.
          const head = encodeMessage({
            type: 'MULTIPART_REPLY',
            xid: msg.xid,
            flags: 0,
            mpType: 'FLOW',
            entries: [],
          });
          streamReplyParts(
            head,
            'FLOW',
            sel.length,
            (i) => this.flowStats(sel[i]!, now),
            (part) => conn.sendRaw(part),
          );
          return;
        }
        break;
      }
      case 'GROUP': {
        const ids =
          msg.groupId === OFPG.ALL ? [...this.groups.keys()].sort((a, b) => a - b) : [msg.groupId];
        const entries: GroupStats[] = [];
        for (const id of ids) {
          const g = this.groups.get(id);
          if (!g) continue;
          entries.push({
            groupId: id,
            refCount: this.groupRefCount(id),
            packetCount: g.packetCount,
            byteCount: g.byteCount,
            ...duration(now, g.createdAt),
            bucketStats: g.bucketCounts.map((c) => ({ ...c })),
          });
        }
        body = { mpType: 'GROUP', entries };
        break;
      }
      case 'GROUP_DESC':
        body = {
          mpType: 'GROUP_DESC',
          entries: [...this.groups.values()]
            .sort((a, b) => a.groupId - b.groupId)
            .map((g) => ({ groupType: g.groupType, groupId: g.groupId, buckets: g.buckets })),
        };
        break;
      case 'METER':
      case 'METER_CONFIG': {
        let ms: OfMeter[];
        if (msg.meterId === OFPM.ALL)
          ms = [...this.meters.values()].sort((a, b) => a.meterId - b.meterId);
        else {
          const m = this.meters.get(msg.meterId);
          if (!m && msg.mpType === 'METER')
            throw new OfpError('OFPMMFC_UNKNOWN_METER', `meter ${msg.meterId}`);
          ms = m ? [m] : [];
        }
        if (msg.mpType === 'METER') {
          for (const m of ms) this.hooks.meterSync?.(m);
          const entries: MeterStats[] = ms.map((m) => ({
            meterId: m.meterId,
            flowCount: this.meterFlowCount(m.meterId),
            packetInCount: m.packetInCount,
            byteInCount: m.byteInCount,
            ...duration(now, m.createdAt),
            bandStats: m.bandCounts.map((c) => ({ ...c })),
          }));
          body = { mpType: 'METER', entries };
        } else {
          const entries: MeterConfig[] = ms.map((m) => ({
            flags: m.flags,
            meterId: m.meterId,
            bands: m.bands,
          }));
          body = { mpType: 'METER_CONFIG', entries };
        }
        break;
      }
      case 'TABLE_FEATURES':
        if (msg.entries.length > 0)
          throw new OfpError('OFPTFFC_EPERM', 'setting table features is not supported');
        body = { mpType: 'TABLE_FEATURES', entries: tableFeatures() };
        break;
      case 'EXPERIMENTER':
        throw new OfpError('OFPBRC_BAD_EXPERIMENTER');
      default:
        throw new OfpError('OFPBRC_BAD_MULTIPART', msg.mpType);
    }
    // Encoded once, straight into the REPLY_MORE parts.
    for (const part of encodeMultipartReply({
      type: 'MULTIPART_REPLY',
      xid: msg.xid,
      flags: 0,
      ...body,
    }))
      conn.sendRaw(part);
  }

  private statsSelect(
    msg: Extract<MessageOf<'MULTIPART_REQUEST'>, { mpType: 'FLOW' | 'AGGREGATE' }>,
  ): OfRule[] {
    if (msg.tableId !== OFPTT.ALL && msg.tableId >= N_TABLES) {
      // OVS's hidden table 254 holds no flows of ours.
      if (msg.tableId === N_TABLES) return [];
      throw new OfpError('OFPBRC_BAD_TABLE_ID', `table ${msg.tableId}`);
    }
    const m = matchToMasked(msg.match);
    const tables = msg.tableId === OFPTT.ALL ? this.tables : [this.tables[msg.tableId]!];
    const out: OfRule[] = [];
    const any = msg.match.length === 0; // matches every rule: skip coveredBy
    const anyCookie = msg.cookieMask === 0n;
    for (const t of tables) {
      if (t.cls.size === 0) continue;
      const rules: OfRule[] = [];
      let mixed = false;
      for (const c of t.cls.rules(this.version)) {
        if (rules.length > 0 && c.priority !== rules[0]!.priority) mixed = true;
        rules.push(c.value);
      }
      // Stable sort: equal priorities keep the classifier's order (no sort needed at all then).
      if (mixed) rules.sort((a, b) => b.priority - a.priority);
      for (const r of rules) {
        if (!any && !coveredBy(r.cls, m)) continue;
        // (Two bigint operations, i.e. two allocations, per rule: skipped when the mask is 0.)
        if (!anyCookie && ((r.cookie ^ msg.cookie) & msg.cookieMask) !== 0n) continue;
        if (msg.outPort !== OFPP.ANY && !outputsTo(r, msg.outPort)) continue;
        if (msg.outGroup !== OFPG.ANY && !usesGroup(actionsOf(r.instructions), msg.outGroup))
          continue;
        out.push(r);
      }
    }
    return out;
  }

  private flowStats(r: OfRule, now: number): FlowStats {
    const ms = Math.max(0, Math.floor(now - r.createdAt)); // as duration(), without its object
    return {
      tableId: r.tableId,
      durationSec: Math.floor(ms / 1000),
      durationNsec: (ms % 1000) * 1_000_000,
      priority: r.priority,
      idleTimeout: r.idleTimeout,
      hardTimeout: r.hardTimeout,
      flags: r.flags,
      cookie: r.cookie,
      packetCount: (r.flags & OFPFF.NO_PKT_COUNTS) !== 0 ? 0xffffffffffffffffn : r.packetCount,
      byteCount: (r.flags & OFPFF.NO_BYT_COUNTS) !== 0 ? 0xffffffffffffffffn : r.byteCount,
      match: r.match,
      instructions: r.instructions,
    };
  }

  /** Flows whose instructions use meter `id`. */
  meterFlowCount(id: number): number {
    let n = 0;
    for (const t of this.tables)
      for (const r of t.cls.rules(this.version)) if (meterOf(r.value) === id) n++;
    return n;
  }

  // ---------------------------------------------------------------- bundles

  private bundlesOf(conn: Ofconn): Map<number, Bundle> {
    let m = this.bundles.get(conn);
    if (!m) {
      m = new Map();
      this.bundles.set(conn, m);
    }
    return m;
  }

  private bundleControl(conn: Ofconn, msg: MessageOf<'BUNDLE_CONTROL'>): void {
    const all = this.bundlesOf(conn);
    const reply = (
      ctrlType: 'OPEN_REPLY' | 'CLOSE_REPLY' | 'COMMIT_REPLY' | 'DISCARD_REPLY',
    ): void => {
      conn.send({
        type: 'BUNDLE_CONTROL',
        xid: msg.xid,
        bundleId: msg.bundleId,
        ctrlType,
        flags: msg.flags,
        properties: [],
      });
    };
    const b = all.get(msg.bundleId);
    switch (msg.ctrlType) {
      case 'OPEN_REQUEST':
        if (b) throw new OfpError('OFPBFC_BUNDLE_EXIST');
        all.set(msg.bundleId, { flags: msg.flags, messages: [], closed: false });
        reply('OPEN_REPLY');
        return;
      case 'CLOSE_REQUEST':
        if (!b) throw new OfpError('OFPBFC_BAD_ID');
        if (b.closed) throw new OfpError('OFPBFC_BUNDLE_CLOSED');
        b.closed = true;
        reply('CLOSE_REPLY');
        return;
      case 'COMMIT_REQUEST': {
        if (!b) throw new OfpError('OFPBFC_BAD_ID');
        all.delete(msg.bundleId);
        if (b.flags !== msg.flags) throw new OfpError('OFPBFC_BAD_FLAGS');
        let current: OfpMessage | undefined;
        try {
          // Everything at version V+1, invisible until published in one step.
          this.stage(b.messages, (m) => (current = m));
        } catch (e) {
          // As OVS: the failing message's own error (its xid, its bytes), then MSG_FAILED.
          if (!(e instanceof OfpError) || !current) throw e;
          conn.sendError(e, encodeMessage(current));
          throw new OfpError('OFPBFC_MSG_FAILED', e.message);
        }
        this.publishStaged();
        cBundleCommit.inc();
        reply('COMMIT_REPLY');
        return;
      }
      case 'DISCARD_REQUEST':
        if (!b) throw new OfpError('OFPBFC_BAD_ID');
        all.delete(msg.bundleId);
        reply('DISCARD_REPLY');
        return;
      default:
        throw new OfpError('OFPBFC_BAD_TYPE', msg.ctrlType);
    }
  }

  private bundleAdd(conn: Ofconn, msg: MessageOf<'BUNDLE_ADD_MESSAGE'>): void {
    const all = this.bundlesOf(conn);
    let b = all.get(msg.bundleId);
    if (!b) {
      // OVS opens the bundle implicitly on the first add.
      b = { flags: msg.flags, messages: [], closed: false };
      all.set(msg.bundleId, b);
    }
    if (b.closed) throw new OfpError('OFPBFC_BUNDLE_CLOSED');
    if (b.flags !== msg.flags) throw new OfpError('OFPBFC_BAD_FLAGS');
    const inner = msg.message;
    if (inner.xid !== msg.xid) throw new OfpError('OFPBFC_MSG_BAD_XID');
    if (!MODIFYING_IN_BUNDLE.has(inner.type)) throw new OfpError('OFPBFC_MSG_UNSUP', inner.type);
    if (inner.type === 'PORT_MOD') throw new OfpError('OFPBFC_MSG_UNSUP', 'PORT_MOD in a bundle');
    b.messages.push(inner);
    if (log.isLevelEnabled('debug'))
      log.debug({ bundle: msg.bundleId, n: b.messages.length }, 'bundle add');
  }
}

/**
 * Table features of every table: what our classifier matches and our pipeline executes, laid out
 * as OVS 3.1 lays them out (so `ovs-ofctl dump-table-features` prints the same): no table names,
 * MATCH lists maskable fields with the has-mask bit ("arbitrary mask"), WILDCARDS lists every
 * field, and the Set-Field properties list the fields a set-field may write.
 */
export function tableFeatures(): TableFeatures[] {
  const oxmIds = OXM_FIELDS.map((d) => ({ header: d.maskable ? d.headerMasked : d.header }));
  const wildcards = OXM_FIELDS.map((d) => ({ header: d.header }));
  const settable = OXM_FIELDS.filter((d) => d.writable).map((d) => ({ header: d.header }));
  const actionIds = [0, 11, 12, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27].map((type) => ({
    type,
    data: new Uint8Array(0),
  }));
  const out: TableFeatures[] = [];
  for (let tableId = 0; tableId < N_TABLES; tableId++) {
    const instr = [1, 2, 3, 4, 5, 6]
      .filter((i) => i !== 1 || tableId < N_TABLES - 1)
      .map((type) => ({ type, data: new Uint8Array(0) }));
    const next = Array.from({ length: N_TABLES - tableId - 1 }, (_, i) => tableId + 1 + i);
    out.push({
      tableId,
      name: '',
      metadataMatch: 0xffffffffffffffffn,
      metadataWrite: 0xffffffffffffffffn,
      config: 0,
      maxEntries: 1_000_000,
      properties: [
        { type: 'INSTRUCTIONS', ids: instr },
        { type: 'INSTRUCTIONS_MISS', ids: instr },
        { type: 'NEXT_TABLES', tableIds: next },
        { type: 'NEXT_TABLES_MISS', tableIds: next },
        { type: 'WRITE_ACTIONS', ids: actionIds },
        { type: 'WRITE_ACTIONS_MISS', ids: actionIds },
        { type: 'APPLY_ACTIONS', ids: actionIds },
        { type: 'APPLY_ACTIONS_MISS', ids: actionIds },
        { type: 'MATCH', oxmIds },
        { type: 'WILDCARDS', oxmIds: wildcards },
        { type: 'WRITE_SETFIELD', oxmIds: settable },
        { type: 'WRITE_SETFIELD_MISS', oxmIds: settable },
        { type: 'APPLY_SETFIELD', oxmIds: settable },
        { type: 'APPLY_SETFIELD_MISS', oxmIds: settable },
      ],
    });
  }
  return out;
}

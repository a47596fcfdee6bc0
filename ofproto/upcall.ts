/**
 * The control plane's side of the shared userspace datapath (OVS's ofproto-dpif-upcall): one
 * {@link UpcallRouter} per datapath routes each miss to the bridge that owns its input port
 * (that bridge's {@link Xlate} translates it), pushes the statistics of installed datapath flows
 * back to the OpenFlow rules and groups they came from, and keeps the flows from going stale.
 *
 * Statistics: the first packet of a flow is credited at upcall time; later packets hit the
 * megaflow in the datapath, and their counts are pushed back every second (and before any flush)
 * to the rules the translation hit, so OpenFlow flow and group counters and idle timeouts are
 * accurate to within a second.
 *
 * Revalidation, first version: after any change that can alter a translation (flow tables,
 * groups, meters, MAC learning, port state) every datapath flow is removed (after pushing its
 * statistics), at most once per event-loop turn. This is correct by construction (no flow
 * installed before a change is used after it) at the price of re-upcalling every active flow
 * after each change; re-translating flows in place (dpif.revalidate) is the planned refinement.
 */
import type { Clock, TimerHandle } from '../lib/clock.js';
import { counter } from '../lib/counters.js';
import { FLOW_KEY_WORDS, W, hashMasked, type FlowKey } from '../lib/packet/flow-key.js';
import type {
  Dpif,
  UpcallHandler,
  UpcallRequest,
  UpcallResult,
  UserspaceUpcall,
} from '../datapath/dpif.js';
import type { GroupHit, Xlate, XlateResult } from './xlate.js';

const cRevalidate = counter(
  'revalidator_flush',
  'ofproto',
  'datapath flow-cache flushes after a change',
);
const cUnknownPort = counter(
  'upcall_unknown_port',
  'ofproto',
  'upcalls from a datapath port no bridge owns',
);
const cPushed = counter(
  'revalidator_stats_pushed',
  'ofproto',
  'datapath flow statistics pushed to OpenFlow rules',
);

/** A full {@link UpcallRouter.pushStats} pass happens at least once in this many calls. */
const FULL_PASS_EVERY = 10;

/** The groups of an attribution whose translation hit none (never modified). */
const NO_GROUPS: GroupHit[] = [];

/** Scratch mask for {@link flowHash} (never retained). */
const scratchMask = new Uint32Array(FLOW_KEY_WORDS);

/**
 * Hash of an installed megaflow's identity: its creating key under its mask, with in_port and
 * recirc_id exact when `forceExact` (the datapath makes them exact whatever the mask says). No
 * allocation.
 */
function flowHash(key: FlowKey, mask: FlowKey, forceExact: boolean): number {
  scratchMask.set(mask);
  if (forceExact) scratchMask[W.IN_PORT] = scratchMask[W.RECIRC_ID] = 0xffffffff;
  return hashMasked(key, scratchMask);
}

/**
 * Whether `a` (pending) is the attribution of the installed flow `key`/`mask` (see
 * {@link flowHash}).
 */
function sameFlow(a: Attribution, key: FlowKey, mask: FlowKey): boolean {
  const ak = a.key;
  const am = a.mask;
  if (ak === undefined || am === undefined) return false;
  for (let i = 0; i < FLOW_KEY_WORDS; i++) {
    let m = am[i]!;
    if (i === W.IN_PORT || i === W.RECIRC_ID) m = 0xffffffff;
    if (m !== mask[i] || ((ak[i]! ^ key[i]!) & m) !== 0) return false;
  }
  return true;
}

/** What an installed flow's statistics are credited to (the rules and groups it hit). */
interface Attribution extends Pick<XlateResult, 'rules' | 'groups'> {
  xlate: Xlate;
  /** Packets of the flow already credited (the upcalled one is credited at upcall time). */
  packets: number;
  /** Bytes of the flow already credited. */
  bytes: number;
  /** While pending: the key of the upcalled packet (the request's copy). */
  key: FlowKey | undefined;
  /** While pending: the translation's mask. */
  mask: FlowKey | undefined;
  /** The last {@link UpcallRouter.pushStats} pass that found its flow in the datapath. */
  pass: number;
}

/** Routes datapath upcalls to the bridges, pushes statistics back and flushes stale flows. */
export class UpcallRouter implements UpcallHandler {
  private readonly owners = new Map<number, Xlate>();
  /**
   * Attributions made since the last {@link pushStats}, by the request's key array: a datapath
   * that keeps that array as the installed flow's key (DpifNetdev does) lets pushStats find
   * them by identity; otherwise it compares keys under masks.
   */
  private pending = new Map<FlowKey, Attribution>();
  /** Attributions matched to a datapath flow, by the flow's id (stable for its lifetime). */
  private readonly byId = new Map<number, Attribution>();
  private pass = 0;
  /** Datapath hits (EMC + megaflow) at the last {@link pushStats} call. */
  private lastHits = -1;
  /** The last full pass was caused by new hits: the next call makes one more. */
  private trailing = false;
  /** pushStats calls skipped since the last full pass. */
  private skipped = 0;

  private flushPending = false;
  private timer: TimerHandle | undefined;

  constructor(
    private readonly dpif: Dpif,
    private readonly clock?: Clock,
  ) {}

  /** Starts pushing statistics every `intervalMs` (needs the clock given at construction). */
  start(intervalMs = 1000): void {
    const clock = this.clock;
    if (!clock || this.timer) return;
    const tick = (): void => {
      this.pushStats();
      this.timer = clock.setTimeout(tick, intervalMs);
    };
    this.timer = clock.setTimeout(tick, intervalMs);
  }

  /** Stops the statistics timer. */
  stop(): void {
    this.clock?.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Says that datapath port `dpPort` belongs to the bridge translated by `xlate`. */
  bind(dpPort: number, xlate: Xlate): void {
    this.owners.set(dpPort, xlate);
  }

  /** Forgets a datapath port. */
  unbind(dpPort: number): void {
    this.owners.delete(dpPort);
  }

  upcall(batch: readonly UpcallRequest[]): readonly (UpcallResult | undefined)[] {
    const out = new Array<UpcallResult | undefined>(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const req = batch[i]!;
      const x = this.owners.get(req.inPort);
      if (!x) {
        cUnknownPort.inc();
        out[i] = undefined;
        continue;
      }
      const t = x.translateUpcall(req);
      if (t && t.answer.install !== false) {
        // The upcalled packet itself was credited by the translation; later ones by pushStats.
        const r = t.result;
        this.pending.set(req.key, {
          xlate: x,
          rules: r.rules,
          groups: r.groups.length === 0 ? NO_GROUPS : r.groups,
          packets: 0,
          bytes: 0,
          key: req.key,
          mask: r.mask,
          pass: 0,
        });
      }
      out[i] = t?.answer;
    }
    return out;
  }

  userspace(msg: UserspaceUpcall): void {
    this.owners.get(msg.inPort)?.handleUserspace(msg);
  }

  /**
   * Credits every installed flow's new packets and bytes (since the last push) to the rules and
   * groups its translation hit, and forgets attributions of flows that are gone. Skips the walk
   * over the flows while the datapath reports no new hits (see the body), so an idle or
   * all-new-flows datapath is not walked every second.
   */
  pushStats(): void {
    const pending = this.pending;
    if (pending.size === 0 && this.byId.size === 0) return;
    // No datapath flow was hit since the last call, nor the one before (flow counters may lag
    // the datapath's totals by a call): there is nothing to credit, and walking every flow
    // (tens of ms with 100k of them, during which no packet is read) can wait, unless too many
    // attributions may be stale or it has waited FULL_PASS_EVERY calls.
    const st = this.dpif.stats();
    const hits = st.emcHits + st.megaflowHits;
    const changed = hits !== this.lastHits;
    this.lastHits = hits;
    if (
      !changed &&
      !this.trailing &&
      ++this.skipped < FULL_PASS_EVERY &&
      pending.size + this.byId.size <= 2 * st.flows + 1024
    )
      return;
    this.trailing = changed;
    this.skipped = 0;
    const pass = ++this.pass;
    let index: Map<number, Attribution[]> | undefined;
    for (const f of this.dpif.flows()) {
      let a = this.byId.get(f.id);
      if (a === undefined) {
        // A flow installed since the last push: find its attribution, once.
        if (pending.size === 0) continue;
        a = pending.get(f.key);
        if (a === undefined || !sameFlow(a, f.key, f.mask)) {
          index ??= this.pendingIndex();
          a = index.get(flowHash(f.key, f.mask, false))?.find((c) => sameFlow(c, f.key, f.mask));
          if (a === undefined) continue;
        }
        a.key = a.mask = undefined;
        this.byId.set(f.id, a);
      }
      a.pass = pass;
      const dp = f.packets - a.packets;
      const db = f.bytes - a.bytes;
      if (dp > 0) {
        a.xlate.credit(a, dp, Math.max(0, db));
        a.packets = f.packets;
        a.bytes = f.bytes;
        cPushed.inc();
      }
    }
    // Flows that are gone (and attributions of flows never installed) are forgotten.
    for (const [id, a] of this.byId) if (a.pass !== pass) this.byId.delete(id);
    this.pending = new Map();
  }

  /**
   * The pending attributions by identity hash, the later of two with the same identity first
   * (as the datapath keeps one flow per identity, the latest translation describes it).
   */
  private pendingIndex(): Map<number, Attribution[]> {
    const index = new Map<number, Attribution[]>();
    for (const a of this.pending.values()) {
      if (a.key === undefined || a.mask === undefined) continue;
      const h = flowHash(a.key, a.mask, true);
      const list = index.get(h);
      if (list === undefined) index.set(h, [a]);
      else list.unshift(a);
    }
    return index;
  }

  /**
   * Something a translation depends on changed: push statistics, then drop every installed
   * datapath flow before the next packet is processed (once per turn however many changes).
   */
  invalidate(): void {
    if (this.flushPending) return;
    this.flushPending = true;
    this.pushStats();
    this.dpif.flushAll();
    this.pending = new Map();
    this.byId.clear();
    this.lastHits = -1;
    cRevalidate.inc();
    queueMicrotask(() => {
      this.flushPending = false;
    });
  }
}

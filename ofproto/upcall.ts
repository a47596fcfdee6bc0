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
import { FLOW_KEY_WORDS, W, type FlowKey } from '../lib/packet/flow-key.js';
import type {
  Dpif,
  UpcallHandler,
  UpcallRequest,
  UpcallResult,
  UserspaceUpcall,
} from '../datapath/dpif.js';
import type { Xlate, XlateResult } from './xlate.js';

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

/** The identity of an installed megaflow: its creating key under its mask. */
function flowId(key: FlowKey, mask: FlowKey, forceExact: boolean): string {
  let s = '';
  for (let i = 0; i < FLOW_KEY_WORDS; i++) {
    let m = mask[i]!;
    if (forceExact && (i === W.IN_PORT || i === W.RECIRC_ID)) m = 0xffffffff;
    s += ((key[i]! & m) >>> 0).toString(36) + '/' + (m >>> 0).toString(36) + ',';
  }
  return s;
}

interface Attribution {
  xlate: Xlate;
  result: XlateResult;
  packets: number;
  bytes: number;
}

/** Routes datapath upcalls to the bridges, pushes statistics back and flushes stale flows. */
export class UpcallRouter implements UpcallHandler {
  private readonly owners = new Map<number, Xlate>();
  private readonly attributions = new Map<string, Attribution>();
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
    return batch.map((req) => {
      const x = this.owners.get(req.inPort);
      if (!x) {
        cUnknownPort.inc();
        return undefined;
      }
      const t = x.translateUpcall(req);
      if (!t) return undefined;
      if (t.answer.install !== false) {
        // The upcalled packet itself was credited by the translation; later ones by pushStats.
        this.attributions.set(flowId(req.key, t.answer.mask, true), {
          xlate: x,
          result: t.result,
          packets: 0,
          bytes: 0,
        });
      }
      return t.answer;
    });
  }

  userspace(msg: UserspaceUpcall): void {
    this.owners.get(msg.inPort)?.handleUserspace(msg);
  }

  /**
   * Credits every installed flow's new packets and bytes (since the last push) to the rules and
   * groups its translation hit, and forgets attributions of flows that are gone.
   */
  pushStats(): void {
    const seen = new Set<string>();
    for (const f of this.dpif.flows()) {
      const id = flowId(f.key, f.mask, false);
      const a = this.attributions.get(id);
      if (!a) continue;
      seen.add(id);
      const dp = f.packets - a.packets;
      const db = f.bytes - a.bytes;
      if (dp > 0) {
        a.xlate.credit(a.result, dp, Math.max(0, db));
        a.packets = f.packets;
        a.bytes = f.bytes;
        cPushed.inc();
      }
    }
    for (const id of this.attributions.keys()) if (!seen.has(id)) this.attributions.delete(id);
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
    this.attributions.clear();
    cRevalidate.inc();
    queueMicrotask(() => {
      this.flushPending = false;
    });
  }
}

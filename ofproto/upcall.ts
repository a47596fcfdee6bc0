/**
 * The control plane's side of the shared userspace datapath (OVS's ofproto-dpif-upcall): one
 * {@link UpcallRouter} per datapath routes each miss to the bridge that owns its input port
 * (that bridge's {@link Xlate} translates it) and keeps the datapath's flows from going stale.
 *
 * Revalidation, first version: after any change that can alter a translation (flow tables,
 * groups, meters, MAC learning, port state) every datapath flow is removed, coalesced to once per
 * event-loop turn. This is correct by construction (no flow installed before a change is used
 * after it) at the price of re-upcalling every active flow after each change; re-translating
 * flows in place (dpif.revalidate) is the planned refinement.
 */
import { counter } from '../lib/counters.js';
import type {
  Dpif,
  UpcallHandler,
  UpcallRequest,
  UpcallResult,
  UserspaceUpcall,
} from '../datapath/dpif.js';
import type { Xlate } from './xlate.js';

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

/** Routes datapath upcalls to the bridges and flushes stale flows. */
export class UpcallRouter implements UpcallHandler {
  private readonly owners = new Map<number, Xlate>();
  private flushPending = false;

  constructor(private readonly dpif: Dpif) {}

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
      return x.handleUpcall(req);
    });
  }

  userspace(msg: UserspaceUpcall): void {
    this.owners.get(msg.inPort)?.handleUserspace(msg);
  }

  /**
   * Something a translation depends on changed: drop every installed datapath flow before the
   * next packet is processed (once per turn however many changes).
   */
  invalidate(): void {
    if (this.flushPending) return;
    this.flushPending = true;
    // Flush now (so a packet processed later in this turn cannot use a stale flow) and note that
    // further changes in this turn need no second flush.
    this.dpif.flushAll();
    cRevalidate.inc();
    queueMicrotask(() => {
      this.flushPending = false;
    });
  }
}

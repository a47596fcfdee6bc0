/**
 * `other_config:flow-restore-wait` of the Open_vSwitch row, as OVS 3.1 honours it
 * (vswitchd/bridge.c, ofproto/ofproto-dpif.c):
 *
 * - the daemon starts in the waiting state and re-reads the key on every reconfiguration while
 *   it waits; once the key is absent or false it stops waiting for good (setting it to true
 *   later has no effect, as in OVS);
 * - while waiting, no controller is connected (the bridge's `<bridge>.mgmt` socket still
 *   serves `ovs-ofctl`, so flows can be restored), and packets are not received from the
 *   datapath (OVS leaves upcalls disabled: misses are dropped);
 * - when the wait ends, upcalls are enabled and the datapath's flows are flushed.
 *
 * Our datapath lives in the daemon's process, so there are never flows left from a previous
 * run to keep; the visible behaviour is the dropped misses and the absent controllers.
 */
import { counter } from '../lib/counters.js';
import { getLogger } from '../lib/log.js';

const log = getLogger('bridge');
const cWaits = counter('flow_restore_wait', 'vswitchd', 'starts that waited for flow restore');

/** What a call to {@link FlowRestoreWait.update} changed. */
export type FlowRestoreChange = 'start-waiting' | 'done' | 'none';

/** The flow-restore-wait state of the daemon. */
export class FlowRestoreWait {
  /** True while waiting (OVS starts true and checks the database). */
  private state: 'initial' | 'waiting' | 'done' = 'initial';

  /** True while the daemon waits for flows to be restored. */
  get waiting(): boolean {
    return this.state !== 'done';
  }

  /** Reads the Open_vSwitch row's other_config; returns what changed. */
  update(otherConfig: Readonly<Record<string, string>>): FlowRestoreChange {
    if (this.state === 'done') return 'none';
    const wait = otherConfig['flow-restore-wait'] === 'true';
    if (wait) {
      if (this.state === 'waiting') return 'none';
      this.state = 'waiting';
      cWaits.inc();
      log.info('flow-restore-wait: not receiving packets or connecting controllers');
      return 'start-waiting';
    }
    const was = this.state;
    this.state = 'done';
    if (was === 'waiting') log.info('flow-restore-wait cleared: receiving packets');
    return was === 'waiting' ? 'done' : 'none';
  }
}

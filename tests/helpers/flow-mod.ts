/**
 * An OFPFC_ADD flow-mod for table 0 with defaults for every other field, for tests that
 * install rules straight into a pipeline (`sw.tables.handleMessage(conn, addFlow(...), bytes)`).
 */
import type { Action } from '../../openflow/actions.js';
import { OFPG, OFPP, OFP_NO_BUFFER } from '../../openflow/constants.js';
import type { MessageOf } from '../../openflow/messages.js';
import type { Match } from '../../openflow/oxm.js';

/** A flow-mod adding `priority, match → apply-actions(actions)` to table 0. */
export function addFlow(priority: number, match: Match, actions: Action[]): MessageOf<'FLOW_MOD'> {
  return {
    type: 'FLOW_MOD',
    xid: 0,
    cookie: 0n,
    cookieMask: 0n,
    tableId: 0,
    command: 0,
    idleTimeout: 0,
    hardTimeout: 0,
    priority,
    bufferId: OFP_NO_BUFFER,
    outPort: OFPP.ANY,
    outGroup: OFPG.ANY,
    flags: 0,
    match,
    instructions: [{ type: 'APPLY_ACTIONS', actions }],
  };
}

/**
 * OFPFC_ADD flow-mods with defaults for every field a test does not care about, for tests (and
 * benchmarks) that install rules straight into a pipeline
 * (`sw.tables.handleMessage(conn, addFlow(...), bytes)`).
 */
import type { Action } from '../../openflow/actions.js';
import { OFPG, OFPP, OFP_NO_BUFFER } from '../../openflow/constants.js';
import type { Instruction } from '../../openflow/instructions.js';
import type { MessageOf } from '../../openflow/messages.js';
import type { Match } from '../../openflow/oxm.js';

/** A flow-mod adding `priority, match → instructions` to `tableId` with `cookie`. */
export function addFlowMod(
  tableId: number,
  priority: number,
  match: Match,
  instructions: Instruction[],
  cookie = 0n,
): MessageOf<'FLOW_MOD'> {
  return {
    type: 'FLOW_MOD',
    xid: 0,
    cookie,
    cookieMask: 0n,
    tableId,
    command: 0,
    idleTimeout: 0,
    hardTimeout: 0,
    priority,
    bufferId: OFP_NO_BUFFER,
    outPort: OFPP.ANY,
    outGroup: OFPG.ANY,
    flags: 0,
    match,
    instructions,
  };
}

/** A flow-mod adding `priority, match → apply-actions(actions)` to table 0. */
export function addFlow(priority: number, match: Match, actions: Action[]): MessageOf<'FLOW_MOD'> {
  return addFlowMod(0, priority, match, [{ type: 'APPLY_ACTIONS', actions }]);
}

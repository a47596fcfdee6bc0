/**
 * Stateless cross-field checks of decoded controller→switch messages: everything that can be
 * rejected without the switch's tables, ports, groups or meters. The connection calls
 * {@link validateMessage} after decodeMessage; the ofproto layer then checks what needs state
 * (unknown groups/meters/ports, table count, overlap, buffers). Each check gives the error
 * OVS 3.1 gives (see docs and the reference captures).
 */
import { OFPG, OFPM, OFPP, OFPTT, OVS_PORT_LIMIT } from './constants.js';
import type { Action } from './actions.js';
import { ONF_EXPERIMENTER_ID, OfpError } from './errors.js';
import { checkInstructions } from './instructions.js';
import type { MessageOf, OfpMessage } from './messages.js';

const FLOW_MOD_FLAGS = 0x1f;

/** Flow-mod checks: ADD/MODIFY to OFPTT_ALL, unknown flags, goto and match consistency. */
export function validateFlowMod(m: MessageOf<'FLOW_MOD'>): void {
  if (m.tableId === OFPTT.ALL && m.command <= 2) {
    throw new OfpError('OFPFMFC_BAD_TABLE_ID', 'table ALL for add/modify');
  }
  if ((m.flags & ~FLOW_MOD_FLAGS) !== 0) throw new OfpError('OFPFMFC_BAD_FLAGS', `${m.flags}`);
  if (m.command <= 2) checkInstructions(m.tableId, m.match, m.instructions);
}

/** Group-mod checks: reserved ids on add/modify, INDIRECT bucket count, FF watch. */
export function validateGroupMod(m: MessageOf<'GROUP_MOD'>): void {
  if (m.command === 2) return;
  if (m.groupId > OFPG.MAX) throw new OfpError('OFPGMFC_INVALID_GROUP', `group ${m.groupId}`);
  if (m.groupType === 2 && m.buckets.length !== 1) {
    throw new OfpError('OFPGMFC_INVALID_GROUP', 'indirect group needs exactly one bucket');
  }
  if (m.groupType === 3) {
    for (const b of m.buckets) {
      if (b.watchPort === OFPP.ANY && b.watchGroup === OFPG.ANY) {
        throw new OfpError('OFPGMFC_INVALID_GROUP', 'fast-failover bucket without watch');
      }
    }
  }
}

/** Meter-mod checks: meter id range, KBPS with PKTPS, unknown flags, zero rates. */
export function validateMeterMod(m: MessageOf<'METER_MOD'>): void {
  const id = m.meterId;
  const special = id === OFPM.ALL || id === OFPM.CONTROLLER || id === OFPM.SLOWPATH;
  if (m.command === 2) {
    if (id === 0 || (id > OFPM.MAX && !special)) {
      throw new OfpError('OFPMMFC_INVALID_METER', `meter ${id}`);
    }
    return;
  }
  if (id === 0 || (id > OFPM.MAX && id !== OFPM.CONTROLLER && id !== OFPM.SLOWPATH)) {
    throw new OfpError('OFPMMFC_INVALID_METER', `meter ${id}`);
  }
  if ((m.flags & 3) === 3 || (m.flags & ~0xf) !== 0) {
    throw new OfpError('OFPMMFC_BAD_FLAGS', `flags ${m.flags}`);
  }
  for (const b of m.bands) {
    if (b.rate === 0) throw new OfpError('OFPMMFC_BAD_RATE', 'rate 0');
  }
}

/** Role request: role must be 0..3. */
export function validateRoleRequest(m: MessageOf<'ROLE_REQUEST'>): void {
  if (m.role > 3) throw new OfpError('OFPRRFC_BAD_ROLE', `role ${m.role}`);
}

/**
 * Packet-out in_port, as OVS decodes it: a number outside its port space (0xff00..OFPP_MAX) →
 * OFPBAC_BAD_OUT_PORT (OVS quirk; the spec says BAD_PORT); a reserved port other than LOCAL,
 * CONTROLLER or ANY → OFPBRC_BAD_PORT.
 */
export function validatePacketOut(m: MessageOf<'PACKET_OUT'>): void {
  const p = m.inPort;
  if (p >= OVS_PORT_LIMIT && p < OFPP.MAX) {
    throw new OfpError('OFPBAC_BAD_OUT_PORT', `in_port 0x${p.toString(16)}`);
  }
  if (p >= OFPP.MAX && p !== OFPP.LOCAL && p !== OFPP.ANY && p !== OFPP.CONTROLLER) {
    throw new OfpError('OFPBRC_BAD_PORT', `in_port 0x${p.toString(16)}`);
  }
}

/** Nicira's experimenter id (OVS extensions): known vendor, so an unknown subtype is BAD_EXP_TYPE. */
export const NX_EXPERIMENTER_ID = 0x00002320;

function knownVendor(experimenter: number): boolean {
  return experimenter === NX_EXPERIMENTER_ID || experimenter === ONF_EXPERIMENTER_ID;
}

/**
 * tsvswitch implements no experimenter extension besides the ONF bundle messages (decoded as
 * BUNDLE_*): an experimenter message or multipart of a known vendor (Nicira, ONF) → BAD_EXP_TYPE,
 * of another → BAD_EXPERIMENTER; experimenter actions → OFPBAC_BAD_EXPERIMENTER/BAD_EXP_TYPE;
 * experimenter instructions → OFPBIC_BAD_EXPERIMENTER/BAD_EXP_TYPE; experimenter meter bands →
 * OFPMMFC_BAD_BAND.
 */
export function rejectExperimenters(m: OfpMessage): void {
  if (
    m.type === 'EXPERIMENTER' ||
    (m.type === 'MULTIPART_REQUEST' && m.mpType === 'EXPERIMENTER')
  ) {
    throw new OfpError(
      knownVendor(m.experimenter) ? 'OFPBRC_BAD_EXP_TYPE' : 'OFPBRC_BAD_EXPERIMENTER',
      `experimenter 0x${m.experimenter.toString(16)}`,
    );
  }
  const checkActions = (list: readonly Action[]): void => {
    for (const a of list) {
      if (a.type === 'EXPERIMENTER') {
        throw new OfpError(
          knownVendor(a.experimenter) ? 'OFPBAC_BAD_EXP_TYPE' : 'OFPBAC_BAD_EXPERIMENTER',
        );
      }
    }
  };
  if (m.type === 'FLOW_MOD') {
    for (const i of m.instructions) {
      if (i.type === 'EXPERIMENTER') {
        throw new OfpError(
          knownVendor(i.experimenter) ? 'OFPBIC_BAD_EXP_TYPE' : 'OFPBIC_BAD_EXPERIMENTER',
        );
      }
      if (i.type === 'APPLY_ACTIONS' || i.type === 'WRITE_ACTIONS') checkActions(i.actions);
    }
  } else if (m.type === 'PACKET_OUT') {
    checkActions(m.actions);
  } else if (m.type === 'GROUP_MOD') {
    for (const b of m.buckets) checkActions(b.actions);
  } else if (m.type === 'METER_MOD') {
    for (const b of m.bands) {
      if (b.type === 'EXPERIMENTER') throw new OfpError('OFPMMFC_BAD_BAND', 'experimenter band');
    }
  }
}

/**
 * Runs every stateless check that applies to `m`: {@link rejectExperimenters} first, then the
 * per-type checks below (no-op for other types).
 */
export function validateMessage(m: OfpMessage): void {
  rejectExperimenters(m);
  if (m.type === 'FLOW_MOD') validateFlowMod(m);
  else if (m.type === 'GROUP_MOD') validateGroupMod(m);
  else if (m.type === 'METER_MOD') validateMeterMod(m);
  else if (m.type === 'ROLE_REQUEST') validateRoleRequest(m);
  else if (m.type === 'PACKET_OUT') validatePacketOut(m);
  else if (m.type === 'BUNDLE_ADD_MESSAGE') validateMessage(m.message);
}

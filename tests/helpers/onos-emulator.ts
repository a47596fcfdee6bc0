/**
 * A controller that behaves towards a switch as ONOS does (../shared/reference/controllers.md
 * §1.4 and §5), for end-to-end tests. It listens like ONOS; every switch that connects goes
 * through:
 *
 * 1. WAIT_HELLO: the switch speaks first; the reply HELLO takes the switch's header version and
 *    carries the bitmap {1.0,1.3,1.4,1.5}, pipelined with FEATURES_REQUEST. Handshake xids count
 *    down from 0xffffffff.
 * 2. FEATURES_REPLY (dpid must be non-zero) → PORT_DESC (REPLY_MORE parts gathered) →
 *    [SET_CONFIG only if n_buffers > 0] + BARRIER + GET_CONFIG → METER_FEATURES → DESC (driver
 *    chosen from it) → connectSwitch (duplicate dpid refused) → PORT_DESC again → ROLE_REQUEST
 *    MASTER with generation id 0. Until the matching ROLE_REPLY says MASTER, every switch
 *    message but PORT_STATUS is dropped.
 * 3. As master: one batch of FLOW_MODs (xid = batch id) with the default flows of
 *    org.onosproject.openflow + fwd — LLDP, BDDP and ARP to the controller at priority 40000,
 *    IPv4 at priority 5, cookie = flow id, SEND_FLOW_REM, no timeouts, NO_BUFFER, instructions
 *    [CLEAR_ACTIONS, APPLY_ACTIONS[OUTPUT CONTROLLER 0xffff]] — closed by a BARRIER with the same
 *    xid; errors for the batch must arrive before the barrier reply.
 * 4. Polling: FLOW stats (table ALL, any port/group, cookie 0/0, empty match) + TABLE stats and
 *    PORT_STATS every `pollIntervalMs` (ONOS: 5 s); GROUP_DESC (+ GROUP if the switch has
 *    GROUP_STATS) and METER stats every 2 × `pollIntervalMs`. Each flow-stats reply is reconciled
 *    as FlowRuleManager does: a flow counts as ours only if table, priority, match (field set),
 *    cookie and instructions (as a treatment) read back equal; anything else is deleted with
 *    DELETE_STRICT, anything missing is re-added. Every difference is a {@link problems} entry.
 * 5. Link discovery (LinkDiscovery): every `probeIntervalMs` (ONOS: 3 s) an LLDP probe
 *    (01:80:c2:00:00:0e, 0x88cc) and a BDDP probe (broadcast, 0x8942) go out of every enabled
 *    physical port as PACKET_OUT with in_port CONTROLLER; each probe carries ONOS's TLVs
 *    (chassis MAC, port number, TTL, ONLAB-OUI name "ONOS Discovery", device "of:<dpid>",
 *    timestamp and an HMAC-SHA256 signature). A PACKET_IN on another switch carrying an intact,
 *    correctly signed probe is a link (source dpid/port → receiving dpid/in_port).
 * 6. Liveness: ECHO_REQUESTs are answered at any time; 30 s without a message from the switch
 *    closes the channel (ONOS's ReadTimeoutHandler), which is a problem.
 *
 * The emulator records problems instead of throwing, so a test can assert that there were none.
 */
import { createHmac, randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { OpenFlowFramer } from '../../lib/framer-openflow.js';
import {
  OFPC,
  OFPC_FRAG,
  OFPCML,
  OFPCR_ROLE,
  OFPFC,
  OFPFF,
  OFPG,
  OFPM,
  OFPMPF_REPLY_MORE,
  OFPP,
  OFPPC,
  OFPPR,
  OFPPS,
  OFPTT,
  OFP_NO_BUFFER,
} from '../../openflow/constants.js';
import type { Action } from '../../openflow/actions.js';
import type { Instruction } from '../../openflow/instructions.js';
import {
  decodeMessage,
  encodeMessage,
  type MessageOf,
  type OfpMessage,
} from '../../openflow/messages.js';
import type {
  FlowStats,
  MultipartRequestBody,
  PortStats,
  TableStats,
} from '../../openflow/multipart.js';
import type { Match } from '../../openflow/oxm.js';
import type { Port } from '../../openflow/structs.js';

/** ONOS's OpenFlow channel states, in handshake order. */
export const ONOS_STATES = [
  'WAIT_HELLO',
  'WAIT_FEATURES_REPLY',
  'WAIT_PORT_DESC_REPLY',
  'WAIT_CONFIG_REPLY',
  'WAIT_METER_FEATURES_REPLY',
  'WAIT_DESCRIPTION_STAT_REPLY',
  'ACTIVE',
] as const;
/** One of {@link ONOS_STATES}. */
export type OnosState = (typeof ONOS_STATES)[number];

/** Ethertypes of ONOS's discovery probes. */
export const PROBE_ETHERTYPE = { LLDP: 0x88cc, BDDP: 0x8942 } as const;
/** A probe kind. */
export type ProbeKind = keyof typeof PROBE_ETHERTYPE;

/** ONOS's default flows for an OpenFlow device (app, eth_type, priority). */
export const ONOS_DEFAULT_FLOWS = [
  { app: 'lldpprovider', ethType: 0x88cc, priority: 40000 },
  { app: 'lldpprovider', ethType: 0x8942, priority: 40000 },
  { app: 'hostprovider', ethType: 0x0806, priority: 40000 },
  { app: 'fwd', ethType: 0x0800, priority: 5 },
] as const;

const APP_IDS: Readonly<Record<string, number>> = { lldpprovider: 3, hostprovider: 4, fwd: 5 };
const ONLAB_OUI = [0xa4, 0x23, 0x05] as const;
const LLDP_NAME = 'ONOS Discovery';
const LLDP_MULTICAST = 0x0180c200000en;
const BROADCAST = 0xffffffffffffn;
/** Org-specific TLV subtypes of ONOS's probes. */
const ORG = { NAME: 1, DEVICE: 2, TIMESTAMP: 4, SIGNATURE: 5 } as const;

/** A switch port as seen by a link: datapath id and port number. */
export interface LinkEnd {
  /** Datapath id. */
  dpid: bigint;
  /** OpenFlow port number. */
  port: number;
}

/** A discovered (directed) link. */
export interface DiscoveredLink {
  /** Where the probe was sent. */
  src: LinkEnd;
  /** Where it came back as a PACKET_IN. */
  dst: LinkEnd;
  /** Which probe found it. */
  kind: ProbeKind;
  /** How many probes confirmed it. */
  seen: number;
}

/** Key of a directed link: `SRCDPID/PORT>DSTDPID/PORT` (dpids in hex). */
export function linkKey(src: LinkEnd, dst: LinkEnd): string {
  return `${src.dpid.toString(16)}/${src.port}>${dst.dpid.toString(16)}/${dst.port}`;
}

/** One completed flow-stats poll of a device. */
export interface FlowPoll {
  /** When the reply was complete (ms, Date.now()). */
  at: number;
  /** The entries read back. */
  entries: FlowStats[];
  /** True when every installed flow read back equal and nothing else was there. */
  consistent: boolean;
}

/** Options of {@link OnosEmulator.listen}. */
export interface OnosEmulatorOptions {
  /** Flow/table and port stats poll interval (ms). ONOS: 5000. */
  pollIntervalMs?: number;
  /** Link probe interval (ms); 0 sends no probes. ONOS: 3000. */
  probeIntervalMs?: number;
  /** Read timeout (ms). ONOS: 30 000. */
  readTimeoutMs?: number;
  /** Debug lines. */
  log?: (line: string) => void;
}

/** Canonical text of a value with bigints and byte arrays, for equality checks. */
function canon(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return `${x.toString()}n`;
    if (x instanceof Uint8Array) return Buffer.from(x).toString('hex');
    return x;
  });
}

/** A match as ONOS compares it: the set of criteria, order-free. */
function matchKey(m: Match): string {
  return canon(
    m
      .map((e) => ({ f: e.field, v: e.value, m: e.mask ?? null }))
      .sort((a, b) => (a.f < b.f ? -1 : a.f > b.f ? 1 : 0)),
  );
}

/** Instructions as ONOS's TrafficTreatment: immediate/deferred action lists, clear, goto... */
function treatmentKey(ins: Instruction[]): string {
  const t: {
    clear: boolean;
    immediate: Action[];
    deferred: Action[];
    goto: number | null;
    meter: number | null;
    metadata: [bigint, bigint] | null;
    other: Instruction[];
  } = {
    clear: false,
    immediate: [],
    deferred: [],
    goto: null,
    meter: null,
    metadata: null,
    other: [],
  };
  for (const i of ins) {
    switch (i.type) {
      case 'CLEAR_ACTIONS':
        t.clear = true;
        break;
      case 'APPLY_ACTIONS':
        t.immediate.push(...i.actions);
        break;
      case 'WRITE_ACTIONS':
        t.deferred.push(...i.actions);
        break;
      case 'GOTO_TABLE':
        t.goto = i.tableId;
        break;
      case 'METER':
        t.meter = i.meterId;
        break;
      case 'WRITE_METADATA':
        t.metadata = [i.metadata, i.metadataMask];
        break;
      case 'EXPERIMENTER':
        t.other.push(i);
        break;
    }
  }
  return canon(t);
}

function macBytes(mac: bigint): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntBE(Number(mac), 0, 6);
  return b;
}

function tlv(type: number, value: Buffer): Buffer {
  const h = Buffer.alloc(2);
  h.writeUInt16BE((type << 9) | value.length);
  return Buffer.concat([h, value]);
}

function orgTlv(subtype: number, value: Buffer): Buffer {
  return tlv(127, Buffer.concat([Buffer.from([...ONLAB_OUI, subtype]), value]));
}

/** A parsed ONOS probe. */
interface Probe {
  kind: ProbeKind;
  device: string;
  port: number;
  timestamp: bigint;
  signature: Buffer;
  chassis: Buffer;
}

/** A pending multipart request: its parts so far and what to do with the whole reply. */
interface PendingMultipart {
  parts: MessageOf<'MULTIPART_REPLY'>[];
  done: (parts: MessageOf<'MULTIPART_REPLY'>[]) => void;
}

/** One switch connection, as ONOS's OFChannelHandler + device/flow/packet providers see it. */
export class OnosDevice {
  /** Channel state. */
  state: OnosState = 'WAIT_HELLO';
  /** Datapath id from FEATURES_REPLY (0n before). */
  dpid = 0n;
  /** Role once the ROLE_REPLY came: 'MASTER', or 'NONE' before. */
  role: 'NONE' | 'PENDING' | 'MASTER' = 'NONE';
  /** The switch's HELLO header version. */
  switchVersion = 0;
  /** n_buffers from FEATURES_REPLY. */
  nBuffers = 0;
  /** capabilities from FEATURES_REPLY. */
  capabilities = 0;
  /** The driver ONOS would pick from DESC. */
  driver = '';
  /** miss_send_len of GET_CONFIG_REPLY. */
  missSendLen = -1;
  /** Ports by number (from PORT_DESC and PORT_STATUS). */
  readonly ports = new Map<number, Port>();
  /** Types of messages in the order ONOS sent them during the handshake (up to the role). */
  readonly handshakeSent: string[] = [];
  /** Flows installed by the emulator, by cookie. */
  readonly installed = new Map<bigint, MessageOf<'FLOW_MOD'>>();
  /** Flow batches whose barrier reply came with no error: batch xids. */
  readonly batchesOk: number[] = [];
  /** Completed flow-stats polls. */
  readonly flowPolls: FlowPoll[] = [];
  /** Completed table-stats polls. */
  readonly tablePolls: TableStats[][] = [];
  /** Completed port-stats polls. */
  readonly portPolls: PortStats[][] = [];
  /** Completed group/group-desc/meter polls. */
  groupMeterPolls = 0;
  /** FLOW_REMOVED messages received. */
  readonly flowRemoved: MessageOf<'FLOW_REMOVED'>[] = [];
  /** PACKET_INs received as master, by ethertype (hex). */
  readonly packetIns = new Map<number, number>();
  /** LLDP packet-ins counted per in_port. */
  lldpPacketIns = 0;
  /** True once the channel closed. */
  closed = false;
  /** Why it closed, when the emulator closed it. */
  closeReason = '';

  private framer = new OpenFlowFramer();
  private handshakeXid = 0xffffffff;
  private xid = 1;
  private roleXid = -1;
  private batchXid = -1;
  private batchErrors: MessageOf<'ERROR'>[] = [];
  private readonly multipart = new Map<number, PendingMultipart>();
  private portDescParts: Port[] = [];
  private timers: NodeJS.Timeout[] = [];
  private readTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly emu: OnosEmulator,
    private readonly sock: net.Socket,
  ) {
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('close', () => this.onClose());
    sock.on('error', () => undefined);
    this.armReadTimer();
  }

  /** `of:` + the dpid in 16 hex digits, as ONOS names devices. */
  get deviceId(): string {
    return `of:${this.dpid.toString(16).padStart(16, '0')}`;
  }

  /** Enabled physical ports (ONOS: not LINK_DOWN, not PORT_DOWN, below OFPP_MAX). */
  enabledPorts(): Port[] {
    return [...this.ports.values()].filter(
      (p) =>
        p.portNo < OFPP.MAX &&
        (p.state & OFPPS.LINK_DOWN) === 0 &&
        (p.config & OFPPC.PORT_DOWN) === 0,
    );
  }

  private problem(what: string): void {
    this.emu.problems.push(`${this.dpid ? this.deviceId : 'switch'}: ${what}`);
  }

  private send(m: OfpMessage): void {
    if (this.closed) return;
    if (this.state !== 'ACTIVE' || this.role !== 'MASTER') this.handshakeSent.push(m.type);
    this.sock.write(encodeMessage(m));
  }

  private nextHandshakeXid(): number {
    return this.handshakeXid--;
  }

  private nextXid(): number {
    const x = this.xid;
    this.xid = (this.xid + 1) >>> 0 || 1;
    return x;
  }

  /** Closes the channel (ONOS disconnects the switch), recording why. */
  disconnect(why: string): void {
    if (this.closed) return;
    this.closeReason = why;
    this.sock.destroy();
    this.onClose();
  }

  private armReadTimer(): void {
    if (this.readTimer) clearTimeout(this.readTimer);
    this.readTimer = setTimeout(() => {
      this.problem('read timeout: nothing from the switch for 30 s');
      this.disconnect('read timeout');
    }, this.emu.readTimeoutMs);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    if (this.readTimer) clearTimeout(this.readTimer);
    this.emu.deviceClosed(this);
  }

  private onData(chunk: Buffer): void {
    this.armReadTimer();
    let frames: Buffer[];
    try {
      frames = this.framer.push(chunk);
    } catch (e) {
      this.problem(`unframeable data: ${(e as Error).message}`);
      this.disconnect('framing');
      return;
    }
    for (const f of frames) {
      let m: OfpMessage;
      try {
        m = decodeMessage(f);
      } catch (e) {
        // loxigen's OFParseError disconnects the switch.
        this.problem(`unparsable message type ${f[1]}: ${(e as Error).message}`);
        this.disconnect('parse error');
        return;
      }
      if (m.type === 'HELLO') this.switchVersion = f[0]!;
      this.onMessage(m);
      if (this.closed) return;
    }
  }

  private onMessage(m: OfpMessage): void {
    if (m.type === 'ECHO_REQUEST') {
      this.sock.write(encodeMessage({ type: 'ECHO_REPLY', xid: m.xid, data: m.data }));
      return;
    }
    if (m.type === 'ECHO_REPLY') return;
    if (m.type === 'PORT_STATUS') {
      // Queued during the handshake and applied at connect in ONOS; the result is the same.
      if (m.reason === OFPPR.DELETE) this.ports.delete(m.port.portNo);
      else this.ports.set(m.port.portNo, m.port);
      return;
    }
    if (this.state !== 'ACTIVE') {
      this.handshake(m);
      return;
    }
    if (m.type === 'ROLE_REPLY') {
      this.onRoleReply(m);
      return;
    }
    if (m.type === 'ERROR') {
      this.onActiveError(m);
      return;
    }
    if (this.role !== 'MASTER') {
      // AbstractOpenFlowSwitch.handleMessage: dropped until the role is confirmed, except the
      // replies of the handshake's second PORT_DESC.
      if (m.type === 'MULTIPART_REPLY') this.onMultipartReply(m);
      return;
    }
    switch (m.type) {
      case 'MULTIPART_REPLY':
        this.onMultipartReply(m);
        return;
      case 'BARRIER_REPLY':
        this.onBarrierReply(m);
        return;
      case 'PACKET_IN':
        this.onPacketIn(m);
        return;
      case 'FLOW_REMOVED':
        this.flowRemoved.push(m);
        if (this.installed.has(m.cookie)) {
          this.problem(`flow ${m.cookie.toString(16)} removed by the switch (reason ${m.reason})`);
        }
        return;
      default:
        this.problem(`unexpected ${m.type} while active`);
    }
  }

  // ---- handshake (OFChannelHandler) ---------------------------------------------------------

  private handshakeError(m: MessageOf<'ERROR'>): void {
    this.problem(`OFPT_ERROR type ${m.errType} code ${m.code} in ${this.state}`);
    this.disconnect(`error in ${this.state}`);
  }

  private handshake(m: OfpMessage): void {
    switch (this.state) {
      case 'WAIT_HELLO':
        if (m.type !== 'HELLO') {
          if (m.type === 'ERROR') return this.handshakeError(m);
          this.problem(`${m.type} before HELLO`);
          return this.disconnect('no hello');
        }
        if (this.switchVersion !== 4)
          this.problem(`switch HELLO header version ${this.switchVersion}`);
        this.send({
          type: 'HELLO',
          xid: this.nextHandshakeXid(),
          version: this.switchVersion,
          elements: [
            { type: 'VERSIONBITMAP', bitmaps: [(1 << 1) | (1 << 4) | (1 << 5) | (1 << 6)] },
          ],
        });
        this.send({ type: 'FEATURES_REQUEST', xid: this.nextHandshakeXid() });
        this.state = 'WAIT_FEATURES_REPLY';
        return;
      case 'WAIT_FEATURES_REPLY':
        if (m.type === 'ERROR') return this.handshakeError(m);
        if (m.type !== 'FEATURES_REPLY') return; // other messages are ignored here
        if (m.datapathId === 0n) {
          this.problem('datapath id 0');
          return this.disconnect('dpid 0');
        }
        this.dpid = m.datapathId;
        this.nBuffers = m.nBuffers;
        this.capabilities = m.capabilities;
        this.send({
          type: 'MULTIPART_REQUEST',
          xid: this.nextHandshakeXid(),
          flags: 0,
          mpType: 'PORT_DESC',
        });
        this.state = 'WAIT_PORT_DESC_REPLY';
        return;
      case 'WAIT_PORT_DESC_REPLY':
        if (m.type === 'ERROR') return this.handshakeError(m);
        if (m.type === 'FEATURES_REPLY') {
          this.problem('unexpected FEATURES_REPLY');
          return this.disconnect('unexpected features reply');
        }
        if (m.type !== 'MULTIPART_REPLY' || m.mpType !== 'PORT_DESC') return;
        this.portDescParts.push(...m.entries);
        if (m.flags & OFPMPF_REPLY_MORE) return;
        for (const p of this.portDescParts) this.ports.set(p.portNo, p);
        if (this.nBuffers > 0) {
          this.send({
            type: 'SET_CONFIG',
            xid: this.nextHandshakeXid(),
            flags: OFPC_FRAG.NORMAL,
            missSendLen: 0xffff,
          });
        }
        this.send({ type: 'BARRIER_REQUEST', xid: this.nextHandshakeXid() });
        this.send({ type: 'GET_CONFIG_REQUEST', xid: this.nextHandshakeXid() });
        this.state = 'WAIT_CONFIG_REPLY';
        return;
      case 'WAIT_CONFIG_REPLY':
        if (m.type === 'BARRIER_REPLY') return;
        if (m.type === 'ERROR') {
          if (m.errType === 1 && m.code === 1) return; // BAD_REQUEST/BAD_TYPE is tolerated
          return this.handshakeError(m);
        }
        if (m.type === 'MULTIPART_REPLY' || m.type === 'FEATURES_REPLY') {
          this.problem(`${m.type} in WAIT_CONFIG_REPLY`);
          return this.disconnect('unexpected reply in WAIT_CONFIG_REPLY');
        }
        if (m.type !== 'GET_CONFIG_REPLY') return;
        this.missSendLen = m.missSendLen;
        this.send({
          type: 'MULTIPART_REQUEST',
          xid: this.nextHandshakeXid(),
          flags: 0,
          mpType: 'METER_FEATURES',
        });
        this.state = 'WAIT_METER_FEATURES_REPLY';
        return;
      case 'WAIT_METER_FEATURES_REPLY':
        if (m.type === 'ERROR' || (m.type === 'MULTIPART_REPLY' && m.mpType === 'METER_FEATURES')) {
          // An error reply is tolerated: ONOS moves on without meters.
          this.send({
            type: 'MULTIPART_REQUEST',
            xid: this.nextHandshakeXid(),
            flags: 0,
            mpType: 'DESC',
          });
          this.state = 'WAIT_DESCRIPTION_STAT_REPLY';
        }
        return;
      case 'WAIT_DESCRIPTION_STAT_REPLY':
        if (m.type === 'ERROR') return this.handshakeError(m);
        if (m.type !== 'MULTIPART_REPLY' || m.mpType !== 'DESC') return;
        this.driver = chooseDriver(m.mfrDesc, m.hwDesc, m.swDesc);
        if (!this.emu.connectSwitch(this)) {
          this.problem('duplicate datapath id');
          return this.disconnect('duplicate dpid');
        }
        this.state = 'ACTIVE';
        // Device provider: another PORT_DESC; then mastership: ROLE_REQUEST MASTER, gen 0.
        this.request({ mpType: 'PORT_DESC' }, (parts) => {
          for (const part of parts) {
            if (part.mpType === 'PORT_DESC')
              for (const p of part.entries) this.ports.set(p.portNo, p);
          }
        });
        this.roleXid = this.nextXid();
        this.role = 'PENDING';
        this.send({
          type: 'ROLE_REQUEST',
          xid: this.roleXid,
          role: OFPCR_ROLE.MASTER,
          generationId: 0n,
        });
        return;
      case 'ACTIVE':
        return;
    }
  }

  private onRoleReply(m: MessageOf<'ROLE_REPLY'>): void {
    if (m.xid !== this.roleXid) return;
    if (m.role === OFPCR_ROLE.NOCHANGE || m.role > OFPCR_ROLE.SLAVE) {
      this.problem(`ROLE_REPLY with role ${m.role}`);
      this.disconnect('bad role reply');
      return;
    }
    if (m.role !== OFPCR_ROLE.MASTER) {
      this.problem(`failed to set role: got ${m.role}`);
      return;
    }
    if (this.role === 'MASTER') return; // a re-assertion
    this.role = 'MASTER';
    this.installDefaultFlows();
    this.startPolling();
  }

  private onActiveError(m: MessageOf<'ERROR'>): void {
    // OFPBRC_EPERM / OFPBRC_IS_SLAVE: ONOS re-asserts its role.
    if (m.errType === 1 && (m.code === 5 || m.code === 10)) {
      this.problem(`switch says we are not master (code ${m.code})`);
      this.roleXid = this.nextXid();
      this.send({
        type: 'ROLE_REQUEST',
        xid: this.roleXid,
        role: OFPCR_ROLE.MASTER,
        generationId: 0n,
      });
      return;
    }
    if (m.xid === this.batchXid) {
      this.batchErrors.push(m);
      return;
    }
    if (this.multipart.has(m.xid)) {
      this.multipart.delete(m.xid);
      this.problem(`stats request ${m.xid} answered with error ${m.errType}/${m.code}`);
      return;
    }
    this.problem(`OFPT_ERROR type ${m.errType} code ${m.code} xid ${m.xid}`);
  }

  // ---- flows (OpenFlowRuleProvider, FlowRuleManager) ----------------------------------------

  private flowMod(
    command: number,
    f: { cookie: bigint; priority: number; match: Match; instructions: Instruction[] },
    xid: number,
  ): MessageOf<'FLOW_MOD'> {
    return {
      type: 'FLOW_MOD',
      xid,
      cookie: f.cookie,
      cookieMask: 0n,
      tableId: 0,
      command,
      idleTimeout: 0,
      hardTimeout: 0,
      priority: f.priority,
      bufferId: OFP_NO_BUFFER,
      outPort: OFPP.ANY,
      outGroup: OFPG.ANY,
      flags: OFPFF.SEND_FLOW_REM,
      match: f.match,
      instructions: f.instructions,
    };
  }

  private installDefaultFlows(): void {
    this.batchXid = this.nextXid();
    this.batchErrors = [];
    ONOS_DEFAULT_FLOWS.forEach((d, i) => {
      const cookie =
        (BigInt(APP_IDS[d.app]!) << 48n) | ((this.dpid & 0xffffffffn) << 8n) | BigInt(i + 1);
      const fm = this.flowMod(
        OFPFC.ADD,
        {
          cookie,
          priority: d.priority,
          match: [{ field: 'eth_type', value: d.ethType }],
          instructions: [
            { type: 'CLEAR_ACTIONS' },
            {
              type: 'APPLY_ACTIONS',
              actions: [{ type: 'OUTPUT', port: OFPP.CONTROLLER, maxLen: OFPCML.NO_BUFFER }],
            },
          ],
        },
        this.batchXid,
      );
      this.installed.set(cookie, fm);
      this.send(fm);
    });
    this.send({ type: 'BARRIER_REQUEST', xid: this.batchXid });
  }

  private onBarrierReply(m: MessageOf<'BARRIER_REPLY'>): void {
    if (m.xid !== this.batchXid) return;
    if (this.batchErrors.length > 0) {
      this.problem(
        `flow batch failed: ${this.batchErrors.map((e) => `${e.errType}/${e.code}`).join(', ')}`,
      );
    } else {
      this.batchesOk.push(m.xid);
    }
    this.batchXid = -1;
  }

  /** Reconciles one flow-stats reply with what was installed (FlowRuleManager). */
  private reconcile(entries: FlowStats[]): boolean {
    let ok = true;
    const seen = new Set<bigint>();
    for (const e of entries) {
      const mine = this.installed.get(e.cookie);
      const same =
        mine !== undefined &&
        e.tableId === mine.tableId &&
        e.priority === mine.priority &&
        matchKey(e.match) === matchKey(mine.match) &&
        treatmentKey(e.instructions) === treatmentKey(mine.instructions);
      if (same) {
        seen.add(e.cookie);
        continue;
      }
      ok = false;
      this.problem(
        mine
          ? `flow ${e.cookie.toString(16)} reads back different: ${canon({ table: e.tableId, priority: e.priority, match: e.match, instructions: e.instructions })}`
          : `extraneous flow cookie ${e.cookie.toString(16)} priority ${e.priority}: deleting it`,
      );
      // ONOS removes what it does not recognise.
      this.send(
        this.flowMod(
          OFPFC.DELETE_STRICT,
          { cookie: e.cookie, priority: e.priority, match: e.match, instructions: [] },
          this.nextXid(),
        ),
      );
    }
    for (const [cookie, fm] of this.installed) {
      if (seen.has(cookie)) continue;
      ok = false;
      this.problem(`flow ${cookie.toString(16)} missing from flow stats: re-adding it`);
      this.send({ ...fm, xid: this.nextXid() });
    }
    return ok;
  }

  // ---- stats polling (OpenFlowDeviceProvider, FlowStatsCollector...) ------------------------

  private request(
    body: MultipartRequestBody,
    done: (parts: MessageOf<'MULTIPART_REPLY'>[]) => void,
  ): void {
    const xid = this.nextXid();
    this.multipart.set(xid, { parts: [], done });
    this.send({ type: 'MULTIPART_REQUEST', xid, flags: 0, ...body });
  }

  private onMultipartReply(m: MessageOf<'MULTIPART_REPLY'>): void {
    const p = this.multipart.get(m.xid);
    if (!p) return;
    p.parts.push(m);
    if (m.flags & OFPMPF_REPLY_MORE) return;
    this.multipart.delete(m.xid);
    p.done(p.parts);
  }

  private pollFlows(): void {
    this.request(
      {
        mpType: 'FLOW',
        tableId: OFPTT.ALL,
        outPort: OFPP.ANY,
        outGroup: OFPG.ANY,
        cookie: 0n,
        cookieMask: 0n,
        match: [],
      },
      (parts) => {
        const entries = parts.flatMap((x) => (x.mpType === 'FLOW' ? x.entries : []));
        this.flowPolls.push({ at: Date.now(), entries, consistent: this.reconcile(entries) });
      },
    );
    this.request({ mpType: 'TABLE' }, (parts) => {
      this.tablePolls.push(parts.flatMap((x) => (x.mpType === 'TABLE' ? x.entries : [])));
    });
  }

  private pollPorts(): void {
    this.request({ mpType: 'PORT_STATS', portNo: OFPP.ANY }, (parts) => {
      this.portPolls.push(parts.flatMap((x) => (x.mpType === 'PORT_STATS' ? x.entries : [])));
    });
  }

  private pollGroupsMeters(): void {
    let pending = 2;
    const done = (): void => {
      if (--pending === 0) this.groupMeterPolls++;
    };
    if (this.capabilities & OFPC.GROUP_STATS) {
      pending++;
      this.request({ mpType: 'GROUP', groupId: OFPG.ALL }, done);
    }
    this.request({ mpType: 'GROUP_DESC' }, done);
    this.request({ mpType: 'METER', meterId: OFPM.ALL }, done);
  }

  private startPolling(): void {
    const every = (ms: number, fn: () => void): void => {
      this.timers.push(setInterval(fn, ms));
    };
    const poll = this.emu.pollIntervalMs;
    every(poll, () => this.pollFlows());
    every(poll, () => this.pollPorts());
    every(2 * poll, () => this.pollGroupsMeters());
    if (this.emu.probeIntervalMs > 0) {
      every(this.emu.probeIntervalMs, () => this.sendProbes());
      this.sendProbes();
    }
  }

  // ---- link discovery (LinkDiscovery, ONOSLLDP) ---------------------------------------------

  private sendProbes(): void {
    for (const p of this.enabledPorts()) {
      for (const kind of ['LLDP', 'BDDP'] as const) {
        this.send({
          type: 'PACKET_OUT',
          xid: this.nextXid(),
          bufferId: OFP_NO_BUFFER,
          inPort: OFPP.CONTROLLER,
          actions: [{ type: 'OUTPUT', port: p.portNo, maxLen: 0 }],
          data: this.emu.probeFrame(kind, this.dpid, p.portNo),
        });
      }
    }
  }

  private onPacketIn(m: MessageOf<'PACKET_IN'>): void {
    const inPort = m.match.find((e) => e.field === 'in_port');
    if (inPort === undefined) {
      this.problem('PACKET_IN without in_port');
      return;
    }
    if (m.bufferId !== OFP_NO_BUFFER) this.problem('buffered PACKET_IN');
    if (m.data.length !== m.totalLen) this.problem('PACKET_IN without the full frame');
    const data = Buffer.from(m.data);
    const ethType = data.length >= 14 ? data.readUInt16BE(12) : -1;
    this.packetIns.set(ethType, (this.packetIns.get(ethType) ?? 0) + 1);
    if (ethType !== PROBE_ETHERTYPE.LLDP && ethType !== PROBE_ETHERTYPE.BDDP) return;
    if (ethType === PROBE_ETHERTYPE.LLDP) this.lldpPacketIns++;
    const probe = this.emu.verifyProbe(data);
    if (typeof probe === 'string') {
      this.problem(`bad probe on port ${String(inPort.value)}: ${probe}`);
      return;
    }
    this.emu.linkSeen(probe, { dpid: this.dpid, port: Number(inPort.value) });
  }
}

/** ONOS's driver choice for an OF1.3 switch by DESC strings (onos-drivers.xml). */
export function chooseDriver(mfr: string, hw: string, sw: string): string {
  if (mfr === '' && hw === '' && sw === '') return 'onosfw';
  if (mfr === 'Nicira, Inc.' && hw === 'Open vSwitch' && /^2\..*$/.test(sw)) return 'ovs';
  return 'default';
}

/** The emulated ONOS. Create with {@link OnosEmulator.listen}. */
export class OnosEmulator {
  /** Protocol problems seen (empty when the switch behaved as ONOS needs). */
  readonly problems: string[] = [];
  /** Every connection ever accepted, in order. */
  readonly sessions: OnosDevice[] = [];
  /** Active devices by dpid. */
  readonly devices = new Map<bigint, OnosDevice>();
  /** Discovered links by {@link linkKey} + kind. */
  readonly links = new Map<string, DiscoveredLink>();
  /** Poll interval (ms). */
  readonly pollIntervalMs: number;
  /** Probe interval (ms). */
  readonly probeIntervalMs: number;
  /** Read timeout (ms). */
  readonly readTimeoutMs: number;
  private readonly secret = randomBytes(32);
  /** The cluster fingerprint MAC used as the probes' source address. */
  readonly fingerprintMac: bigint;
  private server!: net.Server;
  private listeners: (() => void)[] = [];

  private constructor(opts: OnosEmulatorOptions) {
    this.pollIntervalMs = opts.pollIntervalMs ?? 5000;
    this.probeIntervalMs = opts.probeIntervalMs ?? 3000;
    this.readTimeoutMs = opts.readTimeoutMs ?? 30_000;
    // Locally administered, derived from the secret (the "cluster fingerprint").
    this.fingerprintMac = 0x020000000000n | BigInt(this.secret.readUInt32BE(0));
  }

  /** Starts listening on 127.0.0.1 (ephemeral port). */
  static async listen(opts: OnosEmulatorOptions = {}): Promise<OnosEmulator> {
    const emu = new OnosEmulator(opts);
    emu.server = net.createServer((s) => {
      s.setNoDelay(true);
      emu.sessions.push(new OnosDevice(emu, s));
      emu.changed();
    });
    await new Promise<void>((r) => emu.server.listen(0, '127.0.0.1', r));
    return emu;
  }

  /** The controller target for switches: `tcp:127.0.0.1:PORT`. */
  get target(): string {
    return `tcp:127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  /** Registers an active device unless its dpid is taken; false for a duplicate. */
  connectSwitch(d: OnosDevice): boolean {
    const other = this.devices.get(d.dpid);
    if (other && !other.closed) return false;
    this.devices.set(d.dpid, d);
    this.changed();
    return true;
  }

  /** Called by a device whose channel closed. */
  deviceClosed(d: OnosDevice): void {
    if (this.devices.get(d.dpid) === d) this.devices.delete(d.dpid);
    if (!this.closing)
      this.problems.push(`${d.deviceId}: channel closed (${d.closeReason || 'by the switch'})`);
    this.changed();
  }

  /** Builds the probe ONOS sends out of `port` of `dpid`. */
  probeFrame(kind: ProbeKind, dpid: bigint, port: number): Uint8Array {
    const device = `of:${dpid.toString(16).padStart(16, '0')}`;
    const portBuf = Buffer.alloc(4);
    portBuf.writeUInt32BE(port);
    const ts = Buffer.alloc(8);
    ts.writeBigUInt64BE(BigInt(Date.now()));
    const sig = this.sign(device, port, ts);
    const ttl = Buffer.alloc(2);
    ttl.writeUInt16BE(120);
    const body = Buffer.concat([
      tlv(1, Buffer.concat([Buffer.from([4]), macBytes(dpid & 0xffffffffffffn)])),
      tlv(2, Buffer.concat([Buffer.from([2]), portBuf])),
      tlv(3, ttl),
      orgTlv(ORG.NAME, Buffer.from(LLDP_NAME)),
      orgTlv(ORG.DEVICE, Buffer.from(device)),
      orgTlv(ORG.TIMESTAMP, ts),
      orgTlv(ORG.SIGNATURE, sig),
      Buffer.from([0, 0]),
    ]);
    const eth = Buffer.alloc(14);
    macBytes(kind === 'LLDP' ? LLDP_MULTICAST : BROADCAST).copy(eth, 0);
    macBytes(this.fingerprintMac).copy(eth, 6);
    eth.writeUInt16BE(PROBE_ETHERTYPE[kind], 12);
    return Buffer.concat([eth, body]);
  }

  private sign(device: string, port: number, ts: Buffer): Buffer {
    const p = Buffer.alloc(4);
    p.writeUInt32BE(port);
    return createHmac('sha256', this.secret).update(device).update(p).update(ts).digest();
  }

  /** Parses and checks a received probe; a string says what is wrong with it. */
  verifyProbe(frame: Buffer): Probe | string {
    const ethType = frame.readUInt16BE(12);
    const kind: ProbeKind = ethType === PROBE_ETHERTYPE.LLDP ? 'LLDP' : 'BDDP';
    const dst = frame.readUIntBE(0, 6);
    const src = frame.readUIntBE(6, 6);
    if (BigInt(dst) !== (kind === 'LLDP' ? LLDP_MULTICAST : BROADCAST)) return 'wrong destination';
    if (BigInt(src) !== this.fingerprintMac) return 'not our fingerprint';
    let off = 14;
    const probe: Partial<Probe> & { name?: string } = { kind };
    let ended = false;
    while (off + 2 <= frame.length) {
      const h = frame.readUInt16BE(off);
      const type = h >> 9;
      const len = h & 0x1ff;
      const v = frame.subarray(off + 2, off + 2 + len);
      off += 2 + len;
      if (v.length !== len) return 'truncated TLV';
      if (type === 0) {
        ended = true;
        break;
      }
      if (type === 1) probe.chassis = Buffer.from(v.subarray(1));
      else if (type === 2 && len === 5 && v[0] === 2) probe.port = v.readUInt32BE(1);
      else if (
        type === 127 &&
        v[0] === ONLAB_OUI[0] &&
        v[1] === ONLAB_OUI[1] &&
        v[2] === ONLAB_OUI[2]
      ) {
        const info = v.subarray(4);
        if (v[3] === ORG.NAME) probe.name = info.toString();
        else if (v[3] === ORG.DEVICE) probe.device = info.toString();
        else if (v[3] === ORG.TIMESTAMP && info.length === 8)
          probe.timestamp = info.readBigUInt64BE(0);
        else if (v[3] === ORG.SIGNATURE) probe.signature = Buffer.from(info);
      }
    }
    if (!ended) return 'no end TLV';
    if (frame.length !== off) return 'bytes after the end TLV';
    if (probe.name !== LLDP_NAME) return 'not an ONOS probe';
    if (probe.device === undefined || probe.port === undefined || probe.timestamp === undefined) {
      return 'missing TLVs';
    }
    if (!probe.signature) return 'unsigned';
    const ts = Buffer.alloc(8);
    ts.writeBigUInt64BE(probe.timestamp);
    if (!this.sign(probe.device, probe.port, ts).equals(probe.signature)) return 'bad signature';
    return probe as Probe;
  }

  /** Records a link from a verified probe. */
  linkSeen(probe: Probe, dst: LinkEnd): void {
    const m = /^of:([0-9a-f]{16})$/.exec(probe.device);
    if (!m) {
      this.problems.push(`probe from unknown device ${probe.device}`);
      return;
    }
    const src: LinkEnd = { dpid: BigInt(`0x${m[1]}`), port: probe.port };
    const key = `${probe.kind} ${linkKey(src, dst)}`;
    const l = this.links.get(key);
    if (l) l.seen++;
    else this.links.set(key, { src, dst, kind: probe.kind, seen: 1 });
    this.changed();
  }

  /** Directed links found by probes of `kind`, as {@link linkKey}s, sorted. */
  linkKeys(kind: ProbeKind): string[] {
    return [...this.links.values()]
      .filter((l) => l.kind === kind)
      .map((l) => linkKey(l.src, l.dst))
      .sort();
  }

  private changed(): void {
    for (const f of this.listeners.splice(0)) f();
  }

  /**
   * Resolves when `cond()` holds (checked now, on every discovery or connection change, and
   * every 250 ms); rejects after `timeoutMs` naming `what`.
   */
  async waitUntil(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > deadline) {
        throw new Error(
          `ONOS emulation: timed out waiting for ${what}; problems: ${this.problems.join('; ')}`,
        );
      }
      await new Promise<void>((r) => {
        const timer = setTimeout(r, 250);
        this.listeners.push(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
  }

  private closing = false;

  /** Closes every channel and the listener. */
  async close(): Promise<void> {
    this.closing = true;
    for (const d of this.sessions) d.disconnect('emulator closed');
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

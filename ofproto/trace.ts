/**
 * `ofproto/trace` (OVS's ofproto-dpif-trace.c): translates a flow through a bridge and prints,
 * in OVS 3.1's layout, the flow, each table and rule visited with its instructions and actions
 * and xlate's notes, the final flow, the megaflow and the datapath actions:
 *
 *     Flow: tcp,in_port=3,vlan_tci=0x0000,...
 *
 *     bridge("br0")
 *     -------------
 *      0. priority 10
 *         goto_table:1
 *      1. tcp,tp_dst=80, priority 10
 *         set_field:10.0.0.9->ip_dst
 *         output:2
 *
 *     Final flow: tcp,in_port=3,...
 *     Megaflow: recirc_id=0,eth,tcp,in_port=3,nw_dst=10.2.0.2,nw_frag=no,tp_dst=80
 *     Datapath actions: set(ipv4(dst=10.0.0.9)),3
 *
 * Without `-generate` the translation has no side effects (no MAC learning, no meter tokens,
 * no packet-ins), as in OVS.
 */
import { extractFlowKey } from '../lib/packet/extract.js';
import { W, keyEquals, newFlowKey, type FlowKey } from '../lib/packet/flow-key.js';
import { formatFlow, formatMatch, parseFlow } from '../lib/packet/format.js';
import { formatIPv4, formatIPv6 } from '../lib/packet/ip.js';
import { formatActions } from '../datapath/actions.js';
import type { Action } from '../openflow/actions.js';
import { OFPP } from '../openflow/constants.js';
import type { Instruction } from '../openflow/instructions.js';
import type { OxmValue } from '../openflow/oxm.js';
import { macToString } from './normal.js';
import type { OfRule } from './pipeline.js';
import type { TraceEvent, Xlate, XlateResult } from './xlate.js';

const RESERVED: Record<number, string> = {
  [OFPP.IN_PORT]: 'IN_PORT',
  [OFPP.TABLE]: 'TABLE',
  [OFPP.NORMAL]: 'NORMAL',
  [OFPP.FLOOD]: 'FLOOD',
  [OFPP.ALL]: 'ALL',
  [OFPP.CONTROLLER]: 'CONTROLLER',
  [OFPP.LOCAL]: 'LOCAL',
  [OFPP.ANY]: 'ANY',
};

/** OVS's names of OXM fields in set_field (`ip_dst`, `tun_id`, …). */
const OVS_FIELD_NAME: Record<string, string> = {
  ipv4_src: 'ip_src',
  ipv4_dst: 'ip_dst',
  icmpv4_type: 'icmp_type',
  icmpv4_code: 'icmp_code',
  tunnel_id: 'tun_id',
  ipv6_nd_target: 'nd_target',
  ipv6_nd_sll: 'nd_sll',
  ipv6_nd_tll: 'nd_tll',
  ipv6_flabel: 'ipv6_label',
  ip_proto: 'nw_proto',
};

function hex(v: number | bigint): string {
  return '0x' + v.toString(16);
}

function fieldValue(field: string, v: OxmValue): string {
  switch (field) {
    case 'eth_src':
    case 'eth_dst':
    case 'arp_sha':
    case 'arp_tha':
    case 'ipv6_nd_sll':
    case 'ipv6_nd_tll':
      return macToString(Number(v));
    case 'ipv4_src':
    case 'ipv4_dst':
    case 'arp_spa':
    case 'arp_tpa':
      return formatIPv4(Number(v));
    case 'ipv6_src':
    case 'ipv6_dst':
    case 'ipv6_nd_target': {
      const b = BigInt(v);
      const w = [0, 1, 2, 3].map((i) => Number((b >> BigInt(96 - 32 * i)) & 0xffffffffn));
      return formatIPv6(w);
    }
    case 'tunnel_id':
    case 'metadata':
    case 'ipv6_flabel':
    case 'pbb_isid':
      return hex(v);
    default:
      return String(v);
  }
}

/** An OpenFlow action in ovs-ofctl syntax (as OVS prints it in traces and dumps). */
export function formatOfAction(a: Action): string {
  switch (a.type) {
    case 'OUTPUT':
      if (a.port === OFPP.CONTROLLER) return `CONTROLLER:${a.maxLen}`;
      // Reserved ports print bare (`LOCAL`, `IN_PORT`, `NORMAL`), as OVS's format_OUTPUT does.
      if (a.port >= OFPP.MAX) return RESERVED[a.port] ?? String(a.port);
      return `output:${a.port}`;
    case 'GROUP':
      return `group:${a.groupId}`;
    case 'SET_FIELD':
      return `set_field:${fieldValue(a.field, a.value)}->${OVS_FIELD_NAME[a.field] ?? a.field}`;
    case 'PUSH_VLAN':
      return `push_vlan:${hex(a.ethertype)}`;
    case 'POP_VLAN':
      return 'pop_vlan';
    case 'PUSH_MPLS':
      return `push_mpls:${hex(a.ethertype)}`;
    case 'POP_MPLS':
      return `pop_mpls:0x${a.ethertype.toString(16).padStart(4, '0')}`;
    case 'SET_QUEUE':
      return `set_queue:${a.queueId}`;
    case 'SET_NW_TTL':
      return `mod_nw_ttl:${a.ttl}`;
    case 'DEC_NW_TTL':
      return 'dec_ttl';
    case 'SET_MPLS_TTL':
      return `set_mpls_ttl(${a.ttl})`;
    case 'DEC_MPLS_TTL':
      return 'dec_mpls_ttl';
    case 'COPY_TTL_OUT':
      return 'copy_ttl_out';
    case 'COPY_TTL_IN':
      return 'copy_ttl_in';
    case 'PUSH_PBB':
      return `push_pbb:${hex(a.ethertype)}`;
    case 'POP_PBB':
      return 'pop_pbb';
    case 'EXPERIMENTER':
      return `experimenter:${hex(a.experimenter)}`;
  }
}

/** An instruction in ovs-ofctl syntax. */
export function formatInstruction(i: Instruction): string {
  switch (i.type) {
    case 'GOTO_TABLE':
      return `goto_table:${i.tableId}`;
    case 'METER':
      return `meter:${i.meterId}`;
    case 'CLEAR_ACTIONS':
      return 'clear_actions';
    case 'WRITE_ACTIONS':
      return `write_actions(${i.actions.map(formatOfAction).join(',')})`;
    case 'WRITE_METADATA':
      return i.metadataMask === 0xffffffffffffffffn
        ? `write_metadata:${hex(i.metadata)}`
        : `write_metadata:${hex(i.metadata)}/${hex(i.metadataMask)}`;
    case 'APPLY_ACTIONS':
      return i.actions.map(formatOfAction).join(',');
    case 'EXPERIMENTER':
      return `experimenter:${hex(i.experimenter)}`;
  }
}

/** How a rule is shown in a trace: `match, priority N[, cookie 0x..]`. */
export function formatTraceRule(rule: OfRule): string {
  const m = formatMatch(rule.cls.key, rule.cls.mask);
  let s = m === '' ? `priority ${rule.priority}` : `${m}, priority ${rule.priority}`;
  if (rule.cookie !== 0n) s += `, cookie ${hex(rule.cookie)}`;
  return s;
}

interface TraceNode {
  text: string;
  /** Terse nodes (actions, notes, buckets) print one level in, as OVS's. */
  terse: boolean;
  /** A patch peer's `bridge("NAME")` header: a blank line before, dashes under it. */
  bridge?: boolean;
  subs: TraceNode[];
}

/**
 * Collects trace events into a tree and prints it as OVS's ofproto-dpif-trace does: a node is
 * indented one level further when it is terse (an action or a note) or not the last of its
 * list, and its children then two levels further; the last non-terse node of a list (a
 * goto_table's table) keeps the level, which is why a chain of gotos prints flat.
 */
export class TraceWriter {
  private readonly root: TraceNode[] = [];
  private readonly stack: TraceNode[][] = [this.root];
  private firstTable: TraceNode | undefined;
  /** The enclosing bridges' first tables, with the stack height of each bridge's node. */
  private readonly outerBridges: { height: number; firstTable: TraceNode | undefined }[] = [];

  private add(text: string, terse: boolean): TraceNode {
    const n: TraceNode = { text, terse, subs: [] };
    this.stack[this.stack.length - 1]!.push(n);
    return n;
  }

  private open(n: TraceNode): void {
    this.stack.push(n.subs);
  }

  /** The event sink to pass to Xlate.translate. */
  readonly sink = (e: TraceEvent): void => {
    switch (e.kind) {
      case 'rule': {
        const n = this.add(`${String(e.tableId).padStart(2)}. ${formatTraceRule(e.rule)}`, false);
        this.firstTable ??= n;
        this.open(n);
        return;
      }
      case 'miss': {
        const n = this.add(
          `${String(e.tableId).padStart(2)}. ${e.failOpen ? 'priority 0' : 'No match.'}`,
          false,
        );
        this.firstTable ??= n;
        this.open(n);
        if (!e.failOpen) this.add('drop', true);
        return;
      }
      case 'instruction':
        this.add(formatInstruction(e.instruction), true);
        return;
      case 'action':
        this.add(formatOfAction(e.action), true);
        return;
      case 'note':
        this.add(` ${e.text}`, true);
        return;
      case 'actionSetIs':
        this.add(` -> action set is: ${e.actions.map(formatOfAction).join(',')}`, true);
        return;
      case 'bucket':
        this.open(this.add(`bucket ${e.bucket}`, true));
        return;
      case 'actionSet': {
        const n: TraceNode = { text: '--. Executing action set:', terse: false, subs: [] };
        const outer = this.outerBridges.length > 0;
        (this.firstTable
          ? this.firstTable.subs
          : outer
            ? this.stack[this.stack.length - 1]!
            : this.root
        ).push(n);
        this.open(n);
        return;
      }
      case 'bridge': {
        const n = this.add(`bridge("${e.name}")`, false);
        n.bridge = true;
        this.open(n);
        this.outerBridges.push({ height: this.stack.length, firstTable: this.firstTable });
        this.firstTable = undefined;
        return;
      }
      case 'end': {
        const outer = this.outerBridges[this.outerBridges.length - 1];
        if (outer && outer.height === this.stack.length) {
          this.outerBridges.pop();
          this.firstTable = outer.firstTable;
        }
        if (this.stack.length > 1) this.stack.pop();
        return;
      }
    }
  };

  /** The printed lines. */
  get lines(): string[] {
    const out: string[] = [];
    const walk = (nodes: readonly TraceNode[], level: number): void => {
      nodes.forEach((n, i) => {
        const more = i < nodes.length - 1 || n.terse ? 1 : 0;
        const indent = ' '.repeat((level + more) * 4);
        if (n.bridge) out.push('');
        out.push(indent + n.text);
        if (n.bridge) out.push(indent + '-'.repeat(n.text.length));
        walk(n.subs, level + 2 * more);
      });
    };
    walk(this.root, 0);
    return out;
  }
}

/** Options of {@link traceFlow}. */
export interface TraceOptions {
  /** Run with side effects (learning, meters, packet-ins) as `-generate` does. */
  generate?: boolean;
  /** The packet: its headers replace the flow's (in_port and metadata are kept). */
  frame?: Uint8Array;
}

/** Result of {@link traceFlow}. */
export interface TraceOutput {
  /** The text `ofproto/trace` prints. */
  text: string;
  /** The translation. */
  result: XlateResult;
}

/** Traces `key` (in_port = OpenFlow port) through `x`'s bridge. */
export function traceFlow(x: Xlate, key: FlowKey, opts: TraceOptions = {}): TraceOutput {
  let flow = key;
  if (opts.frame) {
    flow = newFlowKey();
    extractFlowKey(opts.frame, 0, opts.frame.length, key[W.IN_PORT]!, flow);
  }
  const w = new TraceWriter();
  const input: Parameters<Xlate['translate']>[0] = {
    key: flow,
    sideEffects: opts.generate === true,
    trace: w.sink,
  };
  if (opts.frame) input.frame = opts.frame;
  const result = x.translate(input);
  if (opts.generate === true) x.sendPacketIns(result.packetIns);
  const name = x.ofproto.name;
  const head = `bridge("${name}")`;
  const out: string[] = [];
  out.push(`Flow: ${formatFlow(flow)}`, '', head, '-'.repeat(head.length), ...w.lines, '');
  out.push(
    keyEquals(flow, result.finalFlow)
      ? 'Final flow: unchanged'
      : `Final flow: ${formatFlow(result.finalFlow)}`,
  );
  out.push(`Megaflow: ${formatMatch(flow, result.mask)}`);
  const acts = formatActions(result.actions);
  out.push(`Datapath actions: ${acts}`);
  if (result.dropReason === 'too deep')
    out.push('Translation failed (Recursion too deep), packet is dropped.');
  return { text: out.join('\n') + '\n', result };
}

function parseHex(s: string): Uint8Array | undefined {
  const h = s.replace(/\s+/g, '');
  if (h.length === 0 || h.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(h)) return undefined;
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Runs `ofproto/trace` with its appctl arguments (`BRIDGE FLOW [-generate] [PACKET]`) against
 * the bridge `lookup` finds by name. Port names are accepted for in_port. Throws Error with the
 * text to report on bad input.
 */
export function traceCommand(
  args: readonly string[],
  lookup: (name: string) => Xlate | undefined,
): string {
  const rest = [...args];
  let generate = false;
  const gi = rest.indexOf('-generate');
  if (gi >= 0) {
    generate = true;
    rest.splice(gi, 1);
  }
  if (rest.length < 2) throw new Error('Must specify bridge name and flow');
  const brName = rest[0]!;
  const x = lookup(brName);
  if (!x) throw new Error(`${brName}: unknown bridge`);
  let frame: Uint8Array | undefined;
  if (rest.length >= 3) {
    frame = parseHex(rest.slice(2).join(''));
    if (!frame) throw new Error('Trailing garbage in packet data');
  }
  const flowText = rest[1]!.replace(/in_port=([^,\s]+)/, (all, name: string) => {
    if (/^(0x[0-9a-f]+|\d+)$/i.test(name) || name.toUpperCase() in RESERVED_BY_NAME) return all;
    const p = x.ofproto.listPorts().find((q) => q.name === name);
    if (!p) throw new Error(`${name}: unknown port`);
    return `in_port=${p.ofport}`;
  });
  let key: FlowKey;
  try {
    key = parseFlow(flowText).key;
  } catch (e) {
    throw new Error((e as Error).message);
  }
  const opts: TraceOptions = { generate };
  if (frame) opts.frame = frame;
  return traceFlow(x, key, opts).text;
}

const RESERVED_BY_NAME: Record<string, number> = Object.fromEntries(
  Object.entries(RESERVED).map(([n, name]) => [name, Number(n)]),
);

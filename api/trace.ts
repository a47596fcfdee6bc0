/**
 * Reads the path of a packet out of `ofproto/trace` output (OVS 3.1's layout, which tsvs
 * prints too), for the API's trace answer and the web page's drawing:
 *
 *     bridge("br0")
 *     -------------
 *      0. in_port=1, priority 10, cookie 0x5
 *         goto_table:1
 *      1. No match.
 *         drop
 *
 *     Final flow: unchanged
 *     Megaflow: recirc_id=0,eth,in_port=1,nw_frag=no
 *     Datapath actions: drop
 *
 * Each ` N. …` line opens a step (a table visited); the more indented lines under it are the
 * rule's actions and xlate's notes (`>> …`, `-> …`). Resubmits and patch ports nest deeper
 * (their steps get a larger `depth`) and `bridge("…")` lines switch the bridge. Lines that do
 * not fit are ignored: the text stays the reference, the path is a reading of it.
 */

/** One table visited. */
export interface TraceStep {
  /** Bridge the table belongs to. */
  bridge: string;
  /** Table id. */
  table: number;
  /** Nesting level: 0 for the first pass, +1 per resubmit or patch port. */
  depth: number;
  /** The rule's match in ovs-ofctl syntax (`''` = match all, or on a miss). */
  match: string;
  /** The rule's priority (absent on a miss). */
  priority?: number;
  /** The rule's cookie, when not zero (as `0x…`). */
  cookie?: string;
  /** True when no rule matched. */
  miss: boolean;
  /** Action and note lines under the step, trimmed. */
  actions: string[];
}

/** What {@link parseTrace} reads. */
export interface TraceReading {
  /** The tables visited, in order. */
  path: TraceStep[];
  /** The `Final flow:` text. */
  finalFlow?: string;
  /** The `Megaflow:` text. */
  megaflow?: string;
  /** The `Datapath actions:` text. */
  datapathActions?: string;
}

const STEP = /^(\s*)(\d{1,3})\. (.*)$/;
const RULE = /^(?:(.*?), )?priority (\d+)(?:, cookie (0x[0-9a-f]+))?$/;
const BRIDGE = /^\s*bridge\("(.*)"\)$/;

/** Parses `ofproto/trace` output (see the module comment). Never throws. */
export function parseTrace(text: string, defaultBridge = ''): TraceReading {
  const out: TraceReading = { path: [] };
  let bridge = defaultBridge;
  let baseIndent: number | undefined;
  // Open steps, innermost last, with the indentation of their ` N.` line.
  const open: { step: TraceStep; indent: number }[] = [];
  const closeTo = (indent: number): void => {
    while (open.length > 0 && open.at(-1)!.indent >= indent) open.pop();
  };
  for (const line of text.split('\n')) {
    const b = BRIDGE.exec(line);
    if (b) {
      bridge = b[1]!;
      open.length = 0;
      continue;
    }
    if (line.startsWith('Final flow: ')) out.finalFlow = line.slice(12);
    else if (line.startsWith('Megaflow: ')) out.megaflow = line.slice(10);
    else if (line.startsWith('Datapath actions: ')) out.datapathActions = line.slice(18);
    if (/^\S/.test(line) || line.trim() === '' || /^\s*-+$/.test(line)) {
      if (/^\S/.test(line)) open.length = 0;
      continue;
    }
    const m = STEP.exec(line);
    if (m) {
      const indent = m[1]!.length;
      baseIndent ??= indent;
      const rest = m[3]!;
      const s: TraceStep = {
        bridge,
        table: Number(m[2]),
        depth: Math.max(0, Math.round((indent - baseIndent) / 4)),
        match: '',
        miss: false,
        actions: [],
      };
      if (rest.startsWith('No match')) {
        s.miss = true;
      } else {
        const r = RULE.exec(rest);
        if (r) {
          s.match = r[1] ?? '';
          s.priority = Number(r[2]);
          if (r[3] !== undefined) s.cookie = r[3];
        } else {
          s.match = rest;
        }
      }
      out.path.push(s);
      closeTo(indent);
      open.push({ step: s, indent });
      continue;
    }
    const indent = line.length - line.trimStart().length;
    closeTo(indent);
    open.at(-1)?.step.actions.push(line.trim());
  }
  return out;
}

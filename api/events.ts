/**
 * The live event stream behind `GET /events` (a WebSocket): OVSDB row changes, port status,
 * flow additions/removals/modifications, BFD session and STP state changes, fanned out to every
 * client whose filter wants them.
 *
 * Sources: the backend feeds an {@link EventHub} through {@link ApiBackend.subscribe}; the hub
 * numbers events (`seq`, +1 per published event, shared by every topic) and hands each one to its
 * clients. Wire format: one JSON text message per event, `{"seq":N,"topic":…,…}`; notices from
 * the server itself have `"topic":"meta"`.
 *
 * Backpressure: every client has a bounded queue ({@link EventClientOptions.maxQueue} events).
 * Events are written to the socket only while its `bufferedAmount` is under
 * {@link EventClientOptions.highWaterBytes}; the rest wait in the queue, and when the queue is
 * full the oldest event is dropped and counted (per client and in the `api_events_dropped`
 * counter). Before the next event after a gap the client gets
 * `{"topic":"meta","type":"dropped","dropped":N,"total":T}` (N dropped since the last notice).
 * Nothing is ever buffered without bound.
 *
 * Filters: `/events?topics=ovsdb,port` (default: every topic) and `&bridges=br0,br1` (default:
 * every bridge; events that name no bridge, such as `ovsdb`, always pass), and at any time a
 * text message `{"subscribe":["flow"]}` / `{"unsubscribe":["ovsdb"]}` / `{"topics":["port"]}`
 * (replace) / `{"bridges":["br0"]}` (replace; `[]` = every bridge), answered with
 * `{"topic":"meta","type":"subscribed","topics":[…],"bridges":[…]}` or, for bad input,
 * `{"topic":"meta","type":"error","detail":"…"}`.
 */
import { counter } from '../lib/counters.js';

/** Event topics a client can subscribe to. */
export const TOPICS = ['ovsdb', 'port', 'flow', 'packet-in', 'bfd', 'stp'] as const;
/** One of {@link TOPICS}. */
export type Topic = (typeof TOPICS)[number];

/** A committed change of one OVSDB row. */
export interface OvsdbRowEvent {
  /** Topic. */
  topic: 'ovsdb';
  /** Table name, e.g. `Bridge`. */
  table: string;
  /** Row uuid. */
  uuid: string;
  /** What happened to the row. */
  op: 'insert' | 'modify' | 'delete';
  /** Columns that changed (insert: non-default columns; delete: none), sorted. */
  columns: string[];
}

/** A port appeared, went away or changed state. */
export interface PortEvent {
  /** Topic. */
  topic: 'port';
  /** Bridge name ('' when it is no longer known, e.g. after the bridge went away). */
  bridge: string;
  /** Interface name. */
  port: string;
  /** What happened. */
  op: 'add' | 'delete' | 'modify';
  /** OpenFlow port number, when known. */
  ofport?: number;
  /** Administrative state, when known. */
  adminState?: string;
  /** Link state, when known. */
  linkState?: string;
}

/** A flow was added to, removed from or modified in a bridge's tables (pushed as it commits). */
export interface FlowEvent {
  /** Topic. */
  topic: 'flow';
  /** Bridge name. */
  bridge: string;
  /** What happened (a modify changed the instructions of an existing rule). */
  op: 'add' | 'remove' | 'modify';
  /** Table id. */
  table: number;
  /** Priority. */
  priority: number;
  /** Cookie as `0x…`. */
  cookie: string;
  /** Match in ovs-ofctl syntax. */
  match: string;
  /** Instructions in ovs-ofctl syntax (`drop` when none). */
  actions: string;
}

/**
 * A packet-in produced by a bridge's translation (sent to the controllers that want it, if any).
 */
export interface PacketInEvent {
  /** Topic. */
  topic: 'packet-in';
  /** Bridge name. */
  bridge: string;
  /** Reason: `no_match`, `action`, `invalid_ttl`, or the number. */
  reason: string;
  /** Table that sent it. */
  table: number;
  /** Cookie of the rule as `0x…`. */
  cookie: string;
  /** OpenFlow input port. */
  inPort: number;
  /** Frame length in bytes. */
  length: number;
  /** The first (up to 64) bytes of the frame as hex. */
  head: string;
}

/**
 * A BFD session changed: Interface.bfd (configuration) or Interface.bfd_status (what the
 * daemon reports) of one interface, as committed to the database.
 */
export interface BfdEvent {
  /** Topic. */
  topic: 'bfd';
  /** Interface name. */
  interface: string;
  /** Bridge holding the interface ('' when not known). */
  bridge: string;
  /** add: BFD configured or first status; delete: BFD removed (or the interface); else modify. */
  op: 'add' | 'modify' | 'delete';
  /** True when Interface.bfd has enable=true. */
  enabled: boolean;
  /** bfd_status:state (admin_down, down, init, up), when reported. */
  state?: string;
  /** bfd_status:state before this change, when it changed. */
  oldState?: string;
  /** bfd_status:forwarding. */
  forwarding?: boolean;
  /** bfd_status:diagnostic. */
  diagnostic?: string;
  /** bfd_status:remote_state. */
  remoteState?: string;
  /** bfd_status:remote_diagnostic. */
  remoteDiagnostic?: string;
  /** bfd_status:flap_count. */
  flapCount?: number;
}

/** STP state of a bridge changed (Bridge.stp_enable or the stp_* keys of Bridge.status). */
export interface StpBridgeEvent {
  /** Topic. */
  topic: 'stp';
  /** Which kind of STP event. */
  scope: 'bridge';
  /** Bridge name. */
  bridge: string;
  /** Bridge.stp_enable. */
  enabled: boolean;
  /** status:stp_bridge_id. */
  bridgeId?: string;
  /** status:stp_designated_root. */
  designatedRoot?: string;
  /** status:stp_root_path_cost. */
  rootPathCost?: number;
}

/**
 * STP state of a port changed: stp_state, stp_role or stp_port_id in Port.status (changes of
 * stp_sec_in_state alone and of the stp_* counters are not events; REST has them).
 */
export interface StpPortEvent {
  /** Topic. */
  topic: 'stp';
  /** Which kind of STP event. */
  scope: 'port';
  /** Bridge name ('' when not known). */
  bridge: string;
  /** Port name. */
  port: string;
  /** status:stp_port_id. */
  portId?: string;
  /** status:stp_state (disabled, listening, learning, forwarding, blocking); absent when STP went off. */
  state?: string;
  /** stp_state before this change, when it changed. */
  oldState?: string;
  /** status:stp_role (root, designated, alternate, disabled). */
  role?: string;
  /** stp_role before this change, when it changed. */
  oldRole?: string;
}

/** Any event of the stream. */
export type ApiEvent =
  OvsdbRowEvent | PortEvent | FlowEvent | PacketInEvent | BfdEvent | StpBridgeEvent | StpPortEvent;

/** The bridge an event is about, if any (for per-client bridge filters). */
export function eventBridge(e: ApiEvent): string | undefined {
  switch (e.topic) {
    case 'ovsdb':
      return undefined;
    case 'port':
    case 'flow':
    case 'packet-in':
    case 'bfd':
    case 'stp':
      return e.bridge;
  }
}

const cPublished = counter('api_events_published', 'api', 'events published to the event stream');
const cDropped = counter(
  'api_events_dropped',
  'api',
  'events dropped because a stream client fell behind',
);

/** The socket side of a client, as `ws`'s WebSocket offers it. */
export interface EventSocket {
  /** Bytes queued by the socket but not yet handed to the kernel. */
  readonly bufferedAmount: number;
  /** 1 = open (ws's WebSocket.OPEN). */
  readonly readyState: number;
  /** Sends a text message; `cb` runs once it has been written (or failed). */
  send(data: string, cb?: (err?: Error) => void): void;
}

/** Options of an {@link EventClient}. */
export interface EventClientOptions {
  /** Most events held for a slow client (default 1024); the oldest is dropped beyond it. */
  maxQueue?: number;
  /** Stop writing to the socket while its bufferedAmount is at least this (default 256 KiB). */
  highWaterBytes?: number;
  /** Initial topics (default every topic). */
  topics?: Iterable<Topic>;
  /** Initial bridge filter (default empty = every bridge). */
  bridges?: Iterable<string>;
}

/** Parses a `topics` list (`ovsdb,port`); throws Error naming the first unknown topic. */
export function parseTopics(s: string | readonly unknown[]): Set<Topic> {
  const words = typeof s === 'string' ? s.split(',').map((w) => w.trim()) : [...s];
  const out = new Set<Topic>();
  for (const w of words) {
    if (w === '') continue;
    if (typeof w !== 'string' || !(TOPICS as readonly string[]).includes(w)) {
      throw new Error(`unknown topic ${JSON.stringify(w)} (known topics: ${TOPICS.join(', ')})`);
    }
    out.add(w as Topic);
  }
  return out;
}

/**
 * Parses a `bridges` list (`br0,br1`); throws Error on a name that is not a non-empty string of
 * at most 255 characters.
 */
export function parseBridges(s: string | readonly unknown[]): Set<string> {
  const words = typeof s === 'string' ? s.split(',').map((w) => w.trim()) : [...s];
  const out = new Set<string>();
  for (const w of words) {
    if (w === '' && typeof s === 'string') continue;
    if (typeof w !== 'string' || w === '' || w.length > 255) {
      throw new Error(`bad bridge name ${JSON.stringify(w)} in the bridge filter`);
    }
    out.add(w);
  }
  return out;
}

/** One connected stream client: its filter, its bounded queue and its drop count. */
export class EventClient {
  /** Topics this client receives. */
  readonly topics: Set<Topic>;
  /**
   * Bridges this client receives events of (empty = every bridge). Events that name no bridge
   * always pass.
   */
  readonly bridges: Set<string>;
  /** Events dropped for this client since it connected. */
  dropped = 0;
  private readonly queue: string[] = [];
  private head = 0;
  private unreported = 0;
  private retry: NodeJS.Timeout | undefined;
  private readonly maxQueue: number;
  private readonly highWater: number;
  private closed = false;

  constructor(
    private readonly socket: EventSocket,
    opts: EventClientOptions = {},
  ) {
    this.maxQueue = Math.max(1, opts.maxQueue ?? 1024);
    this.highWater = Math.max(1, opts.highWaterBytes ?? 256 * 1024);
    this.topics = new Set(opts.topics ?? TOPICS);
    this.bridges = new Set(opts.bridges ?? []);
  }

  /** True if this client's filters let an event of `topic` about `bridge` through. */
  wants(topic: Topic, bridge?: string): boolean {
    if (!this.topics.has(topic)) return false;
    return bridge === undefined || this.bridges.size === 0 || this.bridges.has(bridge);
  }

  /** Events waiting for the socket. Never more than maxQueue. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  /**
   * Offers one serialized event of `topic` (about `bridge`, if any); ignored unless the client's
   * filters want it.
   */
  offer(topic: Topic, text: string, bridge?: string): void {
    if (this.closed || !this.wants(topic, bridge)) return;
    this.queue.push(text);
    if (this.queued > this.maxQueue) {
      this.head++;
      this.dropped++;
      this.unreported++;
      cDropped.inc();
    }
    this.flush();
  }

  /** Sends a server notice right away (notices are small and rare; they bypass the queue). */
  notice(body: Record<string, unknown>): void {
    if (this.closed || this.socket.readyState !== 1) return;
    this.socket.send(JSON.stringify({ topic: 'meta', ...body }));
  }

  /** Writes queued events while the socket keeps up. */
  flush(): void {
    if (this.closed || this.socket.readyState !== 1) return;
    while (this.queued > 0 && this.socket.bufferedAmount < this.highWater) {
      if (this.unreported > 0) {
        this.socket.send(
          JSON.stringify({
            topic: 'meta',
            type: 'dropped',
            dropped: this.unreported,
            total: this.dropped,
          }),
        );
        this.unreported = 0;
      }
      const text = this.queue[this.head]!;
      this.head++;
      this.socket.send(text, () => this.flushSoon());
    }
    this.compact();
    if (this.queued > 0) this.flushSoon();
  }

  /** Stops the client: drops its queue and timers. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.head = 0;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
  }

  private flushSoon(): void {
    if (this.retry || this.closed || this.queued === 0) return;
    // ws has no per-socket drain event; poll while there is something to send.
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.flush();
    }, 10);
    this.retry.unref();
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}

/** Fans events out to the connected clients. */
export class EventHub {
  private readonly clients = new Set<EventClient>();
  private seq = 0;

  /** Number of events published so far (the last `seq`). */
  get published(): number {
    return this.seq;
  }

  /** Serializes `e` with the next seq and offers it to every client. */
  publish(e: ApiEvent): void {
    this.seq++;
    cPublished.inc();
    if (this.clients.size === 0) return;
    const text = JSON.stringify({ seq: this.seq, ...e });
    const bridge = eventBridge(e);
    for (const c of this.clients) c.offer(e.topic, text, bridge);
  }

  /** True if some client wants `topic` (sources may skip expensive work otherwise). */
  wants(topic: Topic): boolean {
    for (const c of this.clients) if (c.topics.has(topic)) return true;
    return false;
  }

  /** Adds a client. */
  add(c: EventClient): void {
    this.clients.add(c);
  }

  /** Removes (and closes) a client. */
  remove(c: EventClient): void {
    c.close();
    this.clients.delete(c);
  }

  /** Connected clients. */
  list(): EventClient[] {
    return [...this.clients];
  }

  /** Events dropped over every connected client. */
  droppedTotal(): number {
    let n = 0;
    for (const c of this.clients) n += c.dropped;
    return n;
  }

  /** Closes every client. */
  closeAll(): void {
    for (const c of this.clients) c.close();
    this.clients.clear();
  }
}

/**
 * Applies one control message from a client (see the module comment) and returns the reply
 * notice body.
 */
export function handleControlMessage(c: EventClient, text: string): Record<string, unknown> {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return { type: 'error', detail: 'control messages must be JSON objects' };
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
    return { type: 'error', detail: 'control messages must be JSON objects' };
  }
  const m = msg as Record<string, unknown>;
  const keys = Object.keys(m).filter((k) =>
    ['subscribe', 'unsubscribe', 'topics', 'bridges'].includes(k),
  );
  if (keys.length !== 1 || Object.keys(m).length !== 1) {
    return {
      type: 'error',
      detail: 'expected exactly one of "subscribe", "unsubscribe", "topics" or "bridges"',
    };
  }
  const key = keys[0]!;
  const list = m[key];
  if (key === 'bridges') {
    if (!Array.isArray(list))
      return { type: 'error', detail: '"bridges" must be an array of bridge names' };
    let bridges: Set<string>;
    try {
      bridges = parseBridges(list);
    } catch (e) {
      return { type: 'error', detail: (e as Error).message };
    }
    c.bridges.clear();
    for (const b of bridges) c.bridges.add(b);
    return subscribedNotice(c);
  }
  if (!Array.isArray(list)) return { type: 'error', detail: `"${key}" must be an array of topics` };
  let topics: Set<Topic>;
  try {
    topics = parseTopics(list);
  } catch (e) {
    return { type: 'error', detail: (e as Error).message };
  }
  if (key === 'topics') c.topics.clear();
  for (const t of topics) {
    if (key === 'unsubscribe') c.topics.delete(t);
    else c.topics.add(t);
  }
  return subscribedNotice(c);
}

/** The `subscribed` notice body describing `c`'s filters. */
export function subscribedNotice(c: EventClient): Record<string, unknown> {
  return {
    type: 'subscribed',
    topics: TOPICS.filter((t) => c.topics.has(t)),
    bridges: [...c.bridges].sort(),
  };
}

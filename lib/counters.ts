/**
 * Coverage counters, like OVS's `coverage/show`: cheap named event counts that any module bumps
 * and operators read. A counter is created once at module load with {@link counter} and
 * incremented on the hot path with {@link Counter.inc}.
 */

/** One named event count. */
export class Counter {
  /** Total since start. */
  total = 0;
  private readonly samples: number[] = [];
  private lastTotal = 0;

  constructor(
    /** Unique name, e.g. `ofconn_error_sent`. */
    readonly name: string,
    /** Module that owns it, e.g. `ofproto`. */
    readonly module: string,
    /** One line saying what is counted. */
    readonly help: string,
  ) {}

  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.total += n;
  }

  /** Records one per-second sample (called by the registry's sampler). */
  sample(): void {
    this.samples.push(this.total - this.lastTotal);
    this.lastTotal = this.total;
    if (this.samples.length > 3600) this.samples.shift();
  }

  /** Average events per second over the last `seconds` samples. */
  rate(seconds: number): number {
    const n = Math.min(seconds, this.samples.length);
    if (n === 0) return 0;
    let sum = 0;
    for (let i = this.samples.length - n; i < this.samples.length; i++) sum += this.samples[i] ?? 0;
    return sum / n;
  }
}

const registry = new Map<string, Counter>();

/**
 * Returns the counter called `name`, creating it on first use. Calling it twice with the same
 * name returns the same counter (so modules may declare counters at load time freely).
 */
export function counter(name: string, module: string, help = ''): Counter {
  let c = registry.get(name);
  if (!c) {
    c = new Counter(name, module, help);
    registry.set(name, c);
  }
  return c;
}

/** Every counter, sorted by name. */
export function allCounters(): Counter[] {
  return [...registry.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * One label combination of a {@link LabelledCounter}: a handle the hot path keeps (from
 * {@link LabelledCounter.child}) and bumps without allocating or looking anything up.
 */
export class LabelledChild {
  /** Total since start. */
  total = 0;

  constructor(
    /** The label values, one per label name of the family (never changed). */
    readonly labels: readonly string[],
  ) {}

  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.total += n;
  }
}

/** A level of {@link LabelledCounter}'s lookup tree: label value → next level or the child. */
type LabelNode = Map<string, LabelNode | LabelledChild>;

/**
 * A family of event counts told apart by label values (e.g. OpenFlow messages by direction and
 * type), for /metrics; coverage/show keeps using plain {@link Counter}s. Hot paths keep a
 * {@link LabelledChild} per label tuple ({@link child}); {@link inc} finds the child through one
 * map per label and allocates nothing once the combination exists.
 */
export class LabelledCounter {
  private readonly root: LabelNode = new Map();
  /** Every child, in the order first seen. */
  private readonly children: LabelledChild[] = [];

  constructor(
    /** Unique name, e.g. `openflow_messages`. */
    readonly name: string,
    /** Module that owns it. */
    readonly module: string,
    /** One line saying what is counted. */
    readonly help: string,
    /** The label names, in the order {@link inc} takes their values. */
    readonly labelNames: readonly string[],
  ) {}

  /**
   * The child counting `labels` (one value per label name), created on first use; the same
   * object for the same values every time, so callers may keep it.
   */
  child(...labels: string[]): LabelledChild {
    return this.lookup(labels);
  }

  /** Adds `n` (default 1) to the count of `labels` (one value per label name). */
  inc(labels: readonly string[], n = 1): void {
    this.lookup(labels).total += n;
  }

  /** Every label combination seen, with its total (in the order first seen). */
  entries(): { labels: readonly string[]; total: number }[] {
    return this.children.map((c) => ({ labels: c.labels, total: c.total }));
  }

  private lookup(labels: readonly string[]): LabelledChild {
    let node = this.root;
    const last = labels.length - 1;
    for (let i = 0; i < last; i++) {
      const v = labels[i]!;
      let next = node.get(v);
      if (next === undefined) {
        next = new Map();
        node.set(v, next);
      } else if (next instanceof LabelledChild) {
        throw new Error(`${this.name}: ${labels.length} label values, expected fewer`);
      }
      node = next;
    }
    const v = last < 0 ? '' : labels[last]!;
    const c = node.get(v);
    if (c instanceof LabelledChild) return c;
    if (c !== undefined)
      throw new Error(`${this.name}: ${labels.length} label values, expected more`);
    const child = new LabelledChild([...labels]);
    node.set(v, child);
    this.children.push(child);
    return child;
  }
}

const labelled = new Map<string, LabelledCounter>();

/** Returns the labelled counter `name`, creating it on first use (same rules as {@link counter}). */
export function labelledCounter(
  name: string,
  module: string,
  help: string,
  labelNames: readonly string[],
): LabelledCounter {
  let c = labelled.get(name);
  if (!c) {
    c = new LabelledCounter(name, module, help, labelNames);
    labelled.set(name, c);
  }
  return c;
}

/** Every labelled counter, sorted by name. */
export function allLabelledCounters(): LabelledCounter[] {
  return [...labelled.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Takes one sample on every counter; the daemon calls this once a second. */
export function sampleCounters(): void {
  for (const c of registry.values()) c.sample();
}

/**
 * Renders counters as `ovs-appctl coverage/show` does: one line per counter that has ever
 * counted, with per-second averages over 5 s, 1 min and 1 h and the total.
 */
export function formatCoverage(): string {
  const lines = [
    'Event coverage, avg rate over last: 5 seconds, last minute, last hour,  hash=00000000:',
  ];
  let zero = 0;
  for (const c of allCounters()) {
    if (c.total === 0) {
      zero++;
      continue;
    }
    lines.push(
      `${c.name.padEnd(26)} ${c.rate(5).toFixed(1).padStart(9)}/sec ${c.rate(60).toFixed(3).padStart(9)}/sec ${c.rate(3600).toFixed(4).padStart(11)}/sec   total: ${c.total}`,
    );
  }
  lines.push(`${zero} events never hit`);
  return lines.join('\n') + '\n';
}

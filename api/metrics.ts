/**
 * `/metrics` in Prometheus text format, with prom-client on a registry of its own per API server
 * (never prom-client's global default registry, so two servers in one process do not clash).
 *
 * - every lib/counters.ts counter as `tsvs_<name>_total` (a counter; new counters are picked up
 *   at each scrape, since modules create theirs as they load);
 * - per-port `tsvs_port_{rx,tx}_{packets,bytes,dropped}` gauges labelled `bridge`, `port`;
 * - `tsvs_flows{bridge,table}` (tables holding flows only) and `tsvs_bridges`;
 * - `tsvs_table_lookups_total{bridge,table}`, `tsvs_table_matches_total{bridge,table}`;
 * - `tsvs_datapath_hits_total{datapath,cache="emc|megaflow"}`, `tsvs_datapath_misses_total`,
 *   `tsvs_datapath_lost_total`, `tsvs_datapath_upcalls_total`, `tsvs_datapath_megaflows`,
 *   `tsvs_datapath_masks` (labelled `datapath`);
 * - `tsvs_ovsdb_sessions`, `tsvs_ovsdb_monitors`, `tsvs_ovsdb_commits_total` when the backend
 *   hosts the OVSDB server;
 * - `tsvs_api_event_clients`, `tsvs_api_event_queued`;
 * - prom-client's default process metrics prefixed `tsvs_` (event-loop lag
 *   `tsvs_nodejs_eventloop_lag_seconds`, `tsvs_process_resident_memory_bytes`, …) plus
 *   `tsvs_process_rss_bytes` from process.memoryUsage() on every platform.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { allCounters, allLabelledCounters } from '../lib/counters.js';
import type { ApiBackend } from './backend.js';
import type { EventHub } from './events.js';

/** Turns a counter name into a valid Prometheus metric name part. */
export function metricName(name: string): string {
  const s = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

const PORT_GAUGES = [
  ['rx_packets', 'rxPackets', 'Packets received'],
  ['tx_packets', 'txPackets', 'Packets sent'],
  ['rx_bytes', 'rxBytes', 'Bytes received'],
  ['tx_bytes', 'txBytes', 'Bytes sent'],
  ['rx_dropped', 'rxDropped', 'Received packets dropped'],
  ['tx_dropped', 'txDropped', 'Packets dropped on send'],
] as const;

/** The metrics of one API server. */
export class ApiMetrics {
  /** The registry /metrics renders. */
  readonly registry = new Registry();
  private readonly known = new Set<string>();

  constructor(
    private readonly backend: ApiBackend,
    private readonly hub: EventHub,
    opts: { defaultMetrics?: boolean } = {},
  ) {
    const reg = this.registry;
    if (opts.defaultMetrics !== false) {
      collectDefaultMetrics({ register: reg, prefix: 'tsvs_' });
    }
    new Gauge({
      name: 'tsvs_process_rss_bytes',
      help: 'Resident set size of the process in bytes',
      registers: [reg],
      collect() {
        this.set(process.memoryUsage().rss);
      },
    });
    for (const [suffix, key, help] of PORT_GAUGES) {
      new Gauge({
        name: `tsvs_port_${suffix}`,
        help: `${help} (per port)`,
        labelNames: ['bridge', 'port'] as const,
        registers: [reg],
        collect: function (this: Gauge<'bridge' | 'port'>) {
          this.reset();
          for (const b of backend.listBridges()) {
            for (const p of backend.listPorts(b.name) ?? []) {
              this.set({ bridge: b.name, port: p.name }, p.stats[key]);
            }
          }
        },
      });
    }
    new Gauge({
      name: 'tsvs_bridges',
      help: 'Running bridges',
      registers: [reg],
      collect() {
        this.set(backend.listBridges().length);
      },
    });
    new Gauge({
      name: 'tsvs_flows',
      help: 'OpenFlow rules per bridge and table (tables holding rules only)',
      labelNames: ['bridge', 'table'] as const,
      registers: [reg],
      collect: function (this: Gauge<'bridge' | 'table'>) {
        this.reset();
        for (const b of backend.listBridges()) {
          for (const { table, count } of backend.flowCounts(b.name) ?? []) {
            this.set({ bridge: b.name, table: String(table) }, count);
          }
        }
      },
    });
    for (const [name, key, help] of [
      ['tsvs_table_lookups_total', 'lookups', 'Packets looked up in the table (translations)'],
      ['tsvs_table_matches_total', 'matched', 'Lookups that matched a rule'],
    ] as const) {
      new Counter({
        name,
        help,
        labelNames: ['bridge', 'table'] as const,
        registers: [reg],
        collect: function (this: Counter<'bridge' | 'table'>) {
          this.reset();
          for (const b of backend.listBridges()) {
            for (const ts of backend.tableStats(b.name) ?? []) {
              this.inc({ bridge: b.name, table: String(ts.table) }, ts[key]);
            }
          }
        },
      });
    }
    new Counter({
      name: 'tsvs_datapath_hits_total',
      help: 'Packets that hit a datapath cache (emc = exact match, megaflow)',
      labelNames: ['datapath', 'cache'] as const,
      registers: [reg],
      collect: function (this: Counter<'datapath' | 'cache'>) {
        this.reset();
        for (const d of backend.datapathStats()) {
          this.inc({ datapath: d.name, cache: 'emc' }, d.emcHits);
          this.inc({ datapath: d.name, cache: 'megaflow' }, d.megaflowHits);
        }
      },
    });
    for (const [name, key, help] of [
      ['tsvs_datapath_misses_total', 'misses', 'Packets that missed every datapath cache'],
      ['tsvs_datapath_lost_total', 'lost', 'Packets lost in upcalls'],
      ['tsvs_datapath_upcalls_total', 'upcalls', 'Upcall batches sent to the handler'],
    ] as const) {
      new Counter({
        name,
        help,
        labelNames: ['datapath'] as const,
        registers: [reg],
        collect: function (this: Counter<'datapath'>) {
          this.reset();
          for (const d of backend.datapathStats()) this.inc({ datapath: d.name }, d[key]);
        },
      });
    }
    for (const [name, key, help] of [
      ['tsvs_datapath_megaflows', 'flows', 'Megaflows installed in the datapath'],
      ['tsvs_datapath_masks', 'masks', 'Megaflow masks (subtables) in the datapath'],
    ] as const) {
      new Gauge({
        name,
        help,
        labelNames: ['datapath'] as const,
        registers: [reg],
        collect: function (this: Gauge<'datapath'>) {
          this.reset();
          for (const d of backend.datapathStats()) this.set({ datapath: d.name }, d[key]);
        },
      });
    }
    new Gauge({
      name: 'tsvs_ovsdb_sessions',
      help: 'Open OVSDB sessions',
      registers: [reg],
      collect() {
        this.set(backend.ovsdbStats()?.sessions ?? 0);
      },
    });
    new Gauge({
      name: 'tsvs_ovsdb_monitors',
      help: 'OVSDB monitors over all sessions',
      registers: [reg],
      collect() {
        this.set(backend.ovsdbStats()?.monitors ?? 0);
      },
    });
    new Counter({
      name: 'tsvs_ovsdb_commits_total',
      help: 'Transactions committed to the Open_vSwitch database since start',
      registers: [reg],
      collect() {
        this.reset();
        this.inc(backend.ovsdbStats()?.commits ?? 0);
      },
    });
    new Gauge({
      name: 'tsvs_api_event_clients',
      help: 'Connected /events clients',
      registers: [reg],
      collect() {
        this.set(hub.list().length);
      },
    });
    new Gauge({
      name: 'tsvs_api_event_queued',
      help: 'Events queued for /events clients',
      registers: [reg],
      collect() {
        this.set(hub.list().reduce((n, c) => n + c.queued, 0));
      },
    });
  }

  /** Registers a counter metric for every lib counter not seen yet. */
  private syncCounters(): void {
    for (const c of allCounters()) {
      if (this.known.has(c.name)) continue;
      this.known.add(c.name);
      const name = `tsvs_${metricName(c.name)}_total`;
      if (this.registry.getSingleMetric(name)) continue;
      new Counter({
        name,
        help: c.help || `${c.module}: ${c.name}`,
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc(c.total);
        },
      });
    }
  }

  /** Registers a labelled counter metric for every lib labelled counter not seen yet. */
  private syncLabelledCounters(): void {
    for (const c of allLabelledCounters()) {
      if (this.known.has(c.name)) continue;
      this.known.add(c.name);
      const name = `tsvs_${metricName(c.name)}_total`;
      if (this.registry.getSingleMetric(name)) continue;
      new Counter({
        name,
        help: c.help || `${c.module}: ${c.name}`,
        labelNames: [...c.labelNames],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const e of c.entries()) {
            const labels: Record<string, string> = {};
            c.labelNames.forEach((l, i) => (labels[l] = e.labels[i] ?? ''));
            this.inc(labels, e.total);
          }
        },
      });
    }
  }

  /** The Prometheus text exposition. */
  async render(): Promise<string> {
    this.syncCounters();
    this.syncLabelledCounters();
    return this.registry.metrics();
  }

  /** The content type of {@link render}'s output. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Stops collecting (clears the registry). */
  close(): void {
    this.registry.clear();
  }
}

/**
 * /metrics: valid Prometheus text exposition holding every lib counter, the per-port gauges,
 * flows per table, the OVSDB figures, event-loop lag and RSS; one registry per server.
 */
import t from 'tap';
import { register as globalRegistry } from 'prom-client';
import { createApiServer } from '../../../api/server.js';
import { metricName } from '../../../api/metrics.js';
import { allCounters, counter } from '../../../lib/counters.js';
import { fakeBackend } from './fake-backend.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text format strictly enough to catch malformed output. Throws on a bad line. */
function parseProm(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      if (m[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3]!))
          throw new Error(`bad TYPE line: ${line}`);
        types.set(m[2]!, m[3]!);
      }
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      for (const part of m[2].match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g) ?? []) {
        const eq = part.indexOf('=');
        labels[part.slice(0, eq)] = part.slice(eq + 2, -1);
      }
    }
    const value = Number(m[3]);
    // Prometheus parses floats as Go's ParseFloat does: NaN in any case.
    if (Number.isNaN(value) && !/^nan$/i.test(m[3]!)) throw new Error(`bad value: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { types, samples };
}

t.test('metric names', async (t) => {
  t.equal(metricName('ofproto_flow_mod'), 'ofproto_flow_mod');
  t.equal(metricName('a-b.c'), 'a_b_c');
  t.equal(metricName('9lives'), '_9lives');
});

t.test(
  '/metrics is Prometheus text with counters, ports, flows, ovsdb and process figures',
  async (t) => {
    const c = counter('tst_api_metrics_seen', 'test', 'a counter the metrics test bumps');
    c.inc(3);
    const api = await createApiServer({ backend: fakeBackend() });
    t.teardown(() => api.close());
    const res = await api.app.inject({ method: 'GET', url: '/metrics' });
    t.equal(res.statusCode, 200);
    t.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const { types, samples } = parseProm(res.body);
    const one = (name: string, labels: Record<string, string> = {}) =>
      samples.find(
        (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
      );

    t.equal(types.get('tsvs_tst_api_metrics_seen_total'), 'counter');
    t.equal(one('tsvs_tst_api_metrics_seen_total')?.value, 3);
    for (const lc of allCounters()) {
      t.ok(one(`tsvs_${metricName(lc.name)}_total`), `lib counter ${lc.name} exported`);
    }
    c.inc(2);
    const again = parseProm((await api.app.inject({ method: 'GET', url: '/metrics' })).body);
    t.equal(
      again.samples.find((s) => s.name === 'tsvs_tst_api_metrics_seen_total')?.value,
      5,
      'counters follow the live totals',
    );
    const late = counter('tst_api_metrics_late', 'test', 'created after the first scrape');
    late.inc();
    const third = parseProm((await api.app.inject({ method: 'GET', url: '/metrics' })).body);
    t.equal(
      third.samples.find((s) => s.name === 'tsvs_tst_api_metrics_late_total')?.value,
      1,
      'counters created later are picked up',
    );

    t.equal(types.get('tsvs_port_rx_packets'), 'gauge');
    t.equal(one('tsvs_port_rx_packets', { bridge: 'br0', port: 'p1' })?.value, 5);
    t.equal(one('tsvs_port_tx_packets', { bridge: 'br0', port: 'p1' })?.value, 6);
    t.equal(one('tsvs_port_rx_bytes', { bridge: 'br0', port: 'p1' })?.value, 500);
    t.equal(one('tsvs_port_tx_bytes', { bridge: 'br0', port: 'p1' })?.value, 501);
    t.equal(one('tsvs_port_tx_dropped', { bridge: 'br0', port: 'br0' })?.value, 2);
    t.equal(one('tsvs_port_rx_dropped', { bridge: 'br0', port: 'br0' })?.value, 0);
    t.equal(one('tsvs_flows', { bridge: 'br0', table: '0' })?.value, 2);
    t.equal(one('tsvs_flows', { bridge: 'br0', table: '1' })?.value, 1);
    t.equal(one('tsvs_bridges')?.value, 1);
    t.equal(types.get('tsvs_table_lookups_total'), 'counter');
    t.equal(one('tsvs_table_lookups_total', { bridge: 'br0', table: '1' })?.value, 9);
    t.equal(one('tsvs_table_matches_total', { bridge: 'br0', table: '1' })?.value, 4);
    const dp = { datapath: 'ovs-netdev' };
    t.equal(one('tsvs_datapath_hits_total', { ...dp, cache: 'emc' })?.value, 11);
    t.equal(one('tsvs_datapath_hits_total', { ...dp, cache: 'megaflow' })?.value, 12);
    t.equal(one('tsvs_datapath_misses_total', dp)?.value, 13);
    t.equal(one('tsvs_datapath_lost_total', dp)?.value, 1);
    t.equal(one('tsvs_datapath_upcalls_total', dp)?.value, 5);
    t.equal(types.get('tsvs_datapath_megaflows'), 'gauge');
    t.equal(one('tsvs_datapath_megaflows', dp)?.value, 3);
    t.equal(one('tsvs_datapath_masks', dp)?.value, 2);
    t.equal(one('tsvs_ovsdb_sessions')?.value, 2);
    t.equal(one('tsvs_ovsdb_monitors')?.value, 3);
    t.equal(one('tsvs_ovsdb_commits_total')?.value, 7);
    t.ok(one('tsvs_nodejs_eventloop_lag_seconds'), 'event-loop lag');
    t.ok((one('tsvs_process_rss_bytes')?.value ?? 0) > 0, 'process RSS');
    t.equal(one('tsvs_api_event_clients')?.value, 0);

    t.notOk(
      (await globalRegistry.metrics()).includes('tsvs_'),
      "nothing lands in prom-client's global registry",
    );
    const second = await createApiServer({ backend: fakeBackend() });
    t.teardown(() => second.close());
    const r2 = await second.app.inject({ method: 'GET', url: '/metrics' });
    t.equal(r2.statusCode, 200, 'a second server in the same process has its own registry');
  },
);

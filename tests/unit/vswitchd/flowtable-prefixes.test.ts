/**
 * Flow_Table `prefixes` as the bridge reconciler reads them (vswitchd/bridge.ts
 * flowTablePrefixes, after OVS's bridge_configure_tables).
 */
import t from 'tap';
import { DEFAULT_PREFIXES } from '../../../ofproto/classifier.js';
import { flowTablePrefixes } from '../../../vswitchd/bridge.js';

t.test('Flow_Table prefixes: names, aliases, none, unknown names, limits', (t) => {
  const p = (...names: string[]) => flowTablePrefixes('br0', 0, names);
  t.same(p(), DEFAULT_PREFIXES, 'no prefixes: the default (nw_dst, nw_src)');
  t.same(p('none'), [], 'none: no tries');
  t.same(p('nw_dst', 'none'), [], 'none wins over other names');
  t.same(p('ip_dst'), ['nw_dst'], 'ip_dst is nw_dst');
  t.same(p('ip_src', 'ipv6_dst'), ['nw_src', 'ipv6_dst'], 'order kept');
  t.same(p('ip_dst', 'nw_dst'), ['nw_dst'], 'a field named twice counts once');
  t.same(p('no_such_field'), DEFAULT_PREFIXES, 'only unknown names: the default');
  t.same(p('tun_src', 'nw_src'), ['nw_src'], 'unsupported names are ignored');
  t.same(
    p('ipv6_dst', 'ipv6_src', 'nw_dst', 'nw_src'),
    ['ipv6_dst', 'ipv6_src', 'nw_dst'],
    'at most 3 fields, the rest ignored',
  );
  t.end();
});

import { writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import t from 'tap';
import { stringify as toYaml } from 'yaml';
import {
  SpecFileError,
  looksLikeSpecFile,
  parseSpecFile,
  parseSpecText,
} from '../../../topo/spec-file.js';
import { TopoSpecError, type TopoGraph } from '../../../topo/spec.js';

const EXAMPLES = fileURLToPath(new URL('../../../topo/examples/', import.meta.url));

const links = (g: TopoGraph) =>
  g.links.map((l) => `${l.a.node}:${l.a.port}-${l.b.node}:${l.b.port}`);

/** The problems of a spec that must fail, as `path: message` lines (and the error itself). */
function problems(text: string, format: 'json' | 'yaml' = 'yaml'): SpecFileError {
  try {
    parseSpecText(text, format, 'net.' + format);
  } catch (e) {
    if (e instanceof SpecFileError) return e;
    throw e;
  }
  throw new Error(`accepted: ${text}`);
}

t.test('the examples parse', async (t) => {
  const v = parseSpecFile(join(EXAMPLES, 'vlans.yaml'));
  t.equal(v.spec, 'vlans');
  t.same(
    v.hosts.map((h) => `${h.name} ${h.ip}/${h.prefixLen} ${h.mac}`),
    [
      'h1 10.0.10.1/24 00:00:00:00:00:01',
      'h2 10.0.20.2/24 00:00:00:00:00:02',
      'h3 10.0.10.3/24 00:00:00:00:00:03',
      'h4 10.0.20.4/24 00:00:00:00:00:04',
      'h5 10.0.30.5/24 00:00:00:00:00:05',
    ],
  );
  t.same(links(v), ['h1:0-s1:1', 'h2:0-s1:2', 's1:3-s2:1', 'h3:0-s2:2', 'h4:0-s2:3', 'h5:0-s2:4']);
  t.same(
    v.links.map((l) => [l.mtu, l.vlan]),
    [
      [9000, 10],
      [undefined, 20],
      [9000, undefined],
      [9000, 10],
      [undefined, 20],
      [undefined, undefined],
    ],
    'host vlans go to their first link',
  );
  const r = parseSpecFile(join(EXAMPLES, 'ring-backup.json'));
  t.equal(r.spec, 'ring-backup');
  t.same(
    r.switches.map((s) => s.dpid),
    ['0000000000000001', '0000000000000002', '00000000000000a3'],
  );
  t.equal(r.hosts[2]!.mac, '02:00:00:00:00:03');
  t.same(
    r.links.map((l) => l.up),
    [undefined, undefined, undefined, undefined, undefined, false],
  );
});

t.test(
  'defaults as Mininet: addresses by position, dpid from the digits of the name',
  async (t) => {
    const g = parseSpecText(
      'hosts: [a, b]\nswitches: [sw12, core]\nlinks: [[a, sw12], [sw12, core], [core, b]]\n',
      'yaml',
    );
    t.same(
      g.hosts.map((h) => [h.ip, h.prefixLen, h.mac]),
      [
        ['10.0.0.1', 8, '00:00:00:00:00:01'],
        ['10.0.0.2', 8, '00:00:00:00:00:02'],
      ],
    );
    t.same(
      g.switches.map((s) => s.dpid),
      ['000000000000000c', '0000000000000002'],
    );
    t.same(links(g), ['a:0-sw12:1', 'sw12:2-core:1', 'core:2-b:0']);
    const ip = parseSpecText(
      '{"hosts":[{"name":"h1","ip":"192.168.7.9"}],"switches":["s1"],"links":[["h1","s1"]]}',
      'json',
    );
    t.equal(ip.hosts[0]!.ip, '192.168.7.9');
    t.equal(ip.hosts[0]!.prefixLen, 8, 'default prefix length');
    t.equal(
      parseSpecText(
        'hosts: [h1]\nswitches: [{name: s1, dpid: "0xAB"}]\nlinks: [[s1, h1]]\n',
        'yaml',
      ).switches[0]!.dpid,
      '00000000000000ab',
    );
    t.equal(
      parseSpecText('hosts: []\nswitches: [s1]\nlinks: []\n', 'yaml').spec,
      'net.yaml'.replace('net.yaml', '<spec>'),
    );
  },
);

t.test('a host with two links: its vlan goes to the first; a link vlan may agree', async (t) => {
  const g = parseSpecText(
    'hosts: [{name: h1, vlan: 7}]\nswitches: [s1, s2]\nlinks: [{a: h1, b: s1, vlan: 7}, [h1, s2]]\n',
    'yaml',
  );
  t.same(links(g), ['h1:0-s1:1', 'h1:1-s2:1']);
  t.equal(g.links[0]!.vlan, 7);
  t.equal(g.links[1]!.vlan, undefined);
});

t.test('errors name the file, the line and column (YAML), the path and the fault', async (t) => {
  const text = [
    'hosts:',
    '  - h1',
    '  - { name: h2, ip: 10.0.0.300/24 }',
    'switches:',
    '  - s1',
    'links:',
    '  - [h1, s1]',
    '  - { a: h2, b: s1, mtu: big }',
    '',
  ].join('\n');
  const e = problems(text);
  t.ok(e instanceof TopoSpecError, 'a TopoSpecError, so the CLI reports a usage error');
  t.equal(e.file, 'net.yaml');
  t.same(
    e.problems.map((p) => [p.path, p.line]),
    [
      ['hosts[1].ip', 3],
      ['links[1].mtu', 8],
    ],
  );
  t.match(e.message, /^net\.yaml:3:\d+: hosts\[1\]\.ip: must be an IPv4 address/m);
  t.match(
    e.message,
    /^net\.yaml:8:\d+: links\[1\]\.mtu: mtu must be an integer from 68 to 65535, got "big"$/m,
  );
});

t.test('each kind of fault', async (t) => {
  const cases: [string, RegExp][] = [
    ['[1, 2]', /the document must be a mapping/],
    ['hosts: [h1]\nswitches: [s1]\n', /links: missing \(a list\)/],
    ['hosts: h1\nswitches: [s1]\nlinks: []', /hosts: must be a list, got "h1"/],
    ['hosts: [h1]\nswitches: [s1]\nlinks: [[h1, s1]]\nextra: 1', /extra: unknown key/],
    [
      'hosts: [{name: h1, colour: red}]\nswitches: [s1]\nlinks: [[h1, s1]]',
      /hosts\[0\]\.colour: unknown key/,
    ],
    ['hosts: [{ip: 10.0.0.1}]\nswitches: [s1]\nlinks: []', /hosts\[0\]: missing name/],
    ['hosts: [1h]\nswitches: [s1]\nlinks: []', /hosts\[0\]: bad name "1h"/],
    [
      'hosts: [h1, h1]\nswitches: [s1]\nlinks: [[h1, s1]]',
      /hosts\[1\]: "h1" is already defined at hosts\[0\]/,
    ],
    ['hosts: [x]\nswitches: [x]\nlinks: [[x, x]]', /switches\[0\]: "x" is already defined/],
    ['hosts: [dump]\nswitches: [s1]\nlinks: [[dump, s1]]', /"dump" is a prompt command/],
    [
      'hosts: [h1]\nswitches: [s1]\nlinks: [[h1, s9]]',
      /links\[0\]\[1\]: no host or switch named "s9"/,
    ],
    [
      'hosts: [h1, h2]\nswitches: [s1]\nlinks: [[h1, h2], [h1, s1], [h2, s1]]',
      /links\[0\]: links two hosts/,
    ],
    ['hosts: []\nswitches: [s1]\nlinks: [[s1, s1]]', /links\[0\]: links "s1" to itself/],
    [
      'hosts: []\nswitches: [s1, s2]\nlinks: [{a: s1, b: s2, vlan: 5}]',
      /links\[0\]\.vlan: vlan is the host-side tag/,
    ],
    [
      'hosts: [h1]\nswitches: [s1]\nlinks: [{a: h1, b: s1, vlan: 4095}]',
      /links\[0\]\.vlan: vlan must be an integer from 1 to 4094/,
    ],
    [
      'hosts: [h1]\nswitches: [s1]\nlinks: [{a: h1, b: s1, up: "no"}]',
      /links\[0\]\.up: must be true or false/,
    ],
    ['hosts: [h1]\nswitches: [s1]\nlinks: [{a: h1}]', /links\[0\]: missing b/],
    ['hosts: [h1]\nswitches: [s1]\nlinks: [[h1, s1, s1]]', /exactly two node names, got 3/],
    ['hosts: [h1, h2]\nswitches: [s1]\nlinks: [[h1, s1]]', /hosts\[1\]: host "h2" has no link/],
    [
      'hosts: [{name: h1, mac: "01:00:00:00:00:01"}]\nswitches: [s1]\nlinks: [[h1, s1]]',
      /multicast/,
    ],
    [
      'hosts: [{name: h1, mac: "zz"}]\nswitches: [s1]\nlinks: [[h1, s1]]',
      /hosts\[0\]\.mac: must be a MAC address/,
    ],
    [
      'hosts: [h1, {name: h2, ip: 10.0.0.1/8}]\nswitches: [s1]\nlinks: [[h1, s1], [h2, s1]]',
      /hosts\[1\]\.ip: address 10\.0\.0\.1 is also h1's/,
    ],
    [
      'hosts: []\nswitches: [s1, {name: s2, dpid: 1}]\nlinks: []',
      /switches\[1\]\.dpid: dpid 0000000000000001 is also s1's/,
    ],
    ['hosts: []\nswitches: [{name: s1, dpid: "xyz"}]\nlinks: []', /must be up to 16 hex digits/],
    [
      'hosts: []\nswitches: [averyveryverylongname]\nlinks: []',
      /longer than 15 characters \(it names a bridge\)/,
    ],
    [
      'hosts: [{name: longhostnm, vlan: 1000}]\nswitches: [s1]\nlinks: [[longhostnm, s1]]',
      /host interface name "longhostnm-eth0\.1000" is longer than 15/,
    ],
    ['hosts: [h1]\nswitches: [s1]\nlinks: [[h1, s1]]\nhosts: []', /not valid YAML/],
    ['hosts: [h1\nswitches: [s1]', /not valid YAML/],
  ];
  for (const [text, re] of cases) {
    const e = problems(text);
    t.match(e.message, re, text);
  }
  t.match(problems('{"hosts": [}', 'json').message, /^net\.json: not valid JSON/);
  t.match(
    problems('{"hosts": ["h1"], "switches": ["s1"], "links": [["h1", "s2"]]}', 'json').message,
    /^net\.json: links\[0\]\[1\]: no host or switch named "s2"$/,
  );
});

t.test('every problem is reported at once', async (t) => {
  const e = problems(
    'hosts: [{name: h1, vlan: 0, ip: x}]\nswitches: [s1]\nlinks: [{a: h1, b: s1, mtu: 1}]',
  );
  t.same(
    e.problems.map((p) => p.path),
    ['hosts[0].ip', 'hosts[0].vlan', 'links[0].mtu'],
  );
});

t.test('files: reading, format by extension, unreadable file', async (t) => {
  const dir = t.testdir({});
  const spec = { hosts: ['h1'], switches: ['s1'], links: [['h1', 's1']] };
  writeFileSync(join(dir, 'a.json'), JSON.stringify(spec));
  writeFileSync(join(dir, 'a.yml'), toYaml(spec));
  t.same(parseSpecFile(join(dir, 'a.json')), {
    ...parseSpecFile(join(dir, 'a.yml')),
    spec: 'a.json',
  });
  t.throws(() => parseSpecFile(join(dir, 'missing.yaml')), /missing\.yaml: cannot read: ENOENT/);
  t.ok(
    looksLikeSpecFile('net.yaml') && looksLikeSpecFile('x/y.JSON') && looksLikeSpecFile('a.yml'),
  );
  t.notOk(looksLikeSpecFile('linear,3') || looksLikeSpecFile('tree,depth=2,fanout=2'));
});

/** A random valid spec as plain data. */
const arbSpec = fc
  .record({
    nHosts: fc.integer({ min: 0, max: 6 }),
    nSwitches: fc.integer({ min: 1, max: 4 }),
    seed: fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
    vlan: fc.option(fc.integer({ min: 1, max: 4094 }), { nil: undefined }),
    mtu: fc.option(fc.integer({ min: 68, max: 65535 }), { nil: undefined }),
    up: fc.option(fc.boolean(), { nil: undefined }),
  })
  .map(({ nHosts, nSwitches, seed, vlan, mtu, up }) => {
    const hosts = Array.from({ length: nHosts }, (_, i) => `h${i + 1}`);
    const switches = Array.from({ length: nSwitches }, (_, i) => `s${i + 1}`);
    const links: unknown[] = hosts.map((h, i) => [
      h,
      switches[seed[i % seed.length]! % nSwitches]!,
    ]);
    for (let i = 1; i < nSwitches; i++) {
      links.push({
        a: switches[i - 1],
        b: switches[i],
        ...(mtu ? { mtu } : {}),
        ...(up !== undefined ? { up } : {}),
      });
    }
    if (vlan !== undefined && hosts.length > 0) {
      return { hosts: [{ name: hosts[0], vlan }, ...hosts.slice(1)], switches, links };
    }
    return { hosts, switches, links };
  });

t.test(
  "property: JSON and YAML of the same spec give the same graph; ports are Mininet's",
  async (t) => {
    fc.assert(
      fc.property(arbSpec, (spec) => {
        const a = parseSpecText(JSON.stringify(spec), 'json', 'x');
        const b = parseSpecText(toYaml(spec), 'yaml', 'x');
        if (!isDeepStrictEqual(a, b)) return false;
        // Switch ports from 1 and host interfaces from 0, each used once, in link order.
        const used = new Map<string, number[]>();
        for (const l of a.links) {
          for (const e of [l.a, l.b]) used.set(e.node, [...(used.get(e.node) ?? []), e.port]);
        }
        for (const [node, ports] of used) {
          const base = node.startsWith('h') ? 0 : 1;
          if (!ports.every((p, i) => p === base + i)) return false;
        }
        return a.hosts.length === spec.hosts.length;
      }),
      { numRuns: 200 },
    );
    t.pass('JSON and YAML agree on 200 random specs');
  },
);

t.test('property: arbitrary documents either parse or fail with SpecFileError', async (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      try {
        parseSpecText(JSON.stringify(v), 'json', 'x');
      } catch (e) {
        return e instanceof SpecFileError && e.problems.length > 0;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(fc.string(), (s) => {
      try {
        parseSpecText(s, 'yaml', 'x');
      } catch (e) {
        return e instanceof SpecFileError;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

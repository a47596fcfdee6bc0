/**
 * The REST API over a fake backend, through fastify's inject(): every route, its bad inputs and
 * unknown names, problem+json errors, and every 200 answer checked against the OpenAPI document's
 * schema for it (the same schemas fastify validates with).
 */
import t, { type Test } from 'tap';
import { Script } from 'node:vm';
import { Ajv } from 'ajv';
import { createApiServer, type ApiServer } from '../../../api/server.js';
import { FAKE_TOPO, fakeBackend, type FakeBackend } from './fake-backend.js';

interface Doc {
  openapi: string;
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content: Record<string, { schema: object }> }> }>
  >;
  components: { schemas: Record<string, object> };
}

async function setup(
  t: Test,
  withFeatures = true,
): Promise<{
  api: ApiServer;
  fb: FakeBackend;
  doc: Doc;
  check: (method: string, path: string, body: unknown) => void;
}> {
  const fb = fakeBackend({ withFeatures });
  const api = await createApiServer({ backend: fb, version: '9.9.9', defaultMetrics: false });
  t.teardown(() => api.close());
  const res = await api.app.inject({ method: 'GET', url: '/api/openapi.json' });
  const doc = res.json<Doc>();
  const ajv = new Ajv({ strict: false });
  const check = (method: string, path: string, body: unknown): void => {
    const op = doc.paths[path]?.[method.toLowerCase()];
    if (!op) throw new Error(`no ${method} ${path} in the OpenAPI document`);
    const schema = op.responses['200']!.content['application/json']!.schema;
    const ok = ajv.validate(schema, body);
    t.ok(ok, `${method} ${path} matches its response schema ${ajv.errorsText(ajv.errors)}`);
  };
  return { api, fb, doc, check };
}

function isProblem(
  t: Test,
  res: { statusCode: number; headers: Record<string, unknown>; json(): unknown },
  status: number,
  type: string,
  detail?: RegExp,
): void {
  t.equal(res.statusCode, status, `status ${status}`);
  t.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const body = res.json() as Record<string, unknown>;
  t.equal(body.status, status);
  t.equal(body.type, `https://tsvswitch.dev/problems/${type}`);
  t.type(body.title, 'string');
  t.type(body.detail, 'string');
  if (detail) t.match(body.detail, detail);
}

t.test('OpenAPI document lists every route with problem responses', async (t) => {
  const { doc } = await setup(t);
  t.equal(doc.openapi, '3.1.0');
  t.same(Object.keys(doc.paths).sort(), [
    '/api/appctl',
    '/api/appctl/{command}',
    '/api/bfd',
    '/api/bridges',
    '/api/bridges/{name}',
    '/api/bridges/{name}/fdb',
    '/api/bridges/{name}/flows',
    '/api/bridges/{name}/groups',
    '/api/bridges/{name}/meters',
    '/api/bridges/{name}/ports',
    '/api/bridges/{name}/stp',
    '/api/bridges/{name}/tables',
    '/api/bridges/{name}/trace',
    '/api/datapath/flows',
    '/api/interfaces',
    '/api/interfaces/{name}/bfd',
    '/api/stp',
    '/api/topology',
  ]);
  const get = doc.paths['/api/bridges/{name}']!.get!;
  t.ok(get.responses['404'], 'unknown bridge documented');
  t.ok(doc.components.schemas.Problem);
});

t.test('bridges, ports, interfaces, groups, meters', async (t) => {
  const { api, check } = await setup(t);
  const inj = (url: string) => api.app.inject({ method: 'GET', url });
  let r = await inj('/api/bridges');
  t.equal(r.statusCode, 200);
  t.same(
    r.json().map((b: { name: string }) => b.name),
    ['br0'],
  );
  check('GET', '/api/bridges', r.json());
  r = await inj('/api/bridges/br0');
  t.equal(r.json().datapathId, '0000aabbccddeeff');
  check('GET', '/api/bridges/{name}', r.json());
  r = await inj('/api/bridges/br0/ports');
  t.same(
    r.json().map((p: { ofport: number }) => p.ofport),
    [1, 4294967294],
  );
  t.equal(r.json()[0].stats.rxPackets, 5);
  check('GET', '/api/bridges/{name}/ports', r.json());
  r = await inj('/api/interfaces');
  t.equal(r.json()[1].error, 'could not open network device bad (No such device)');
  check('GET', '/api/interfaces', r.json());
  r = await inj('/api/bridges/br0/groups');
  t.equal(r.json()[0].type, 'select');
  check('GET', '/api/bridges/{name}/groups', r.json());
  r = await inj('/api/bridges/br0/meters');
  t.same(r.json()[0].flags, ['kbps', 'burst']);
  check('GET', '/api/bridges/{name}/meters', r.json());

  for (const suffix of ['', '/ports', '/flows', '/groups', '/meters', '/fdb', '/tables', '/stp']) {
    const res = await inj(`/api/bridges/nope${suffix}`);
    isProblem(t, res, 404, 'unknown-bridge', /no bridge named "nope"/);
  }
  const res = await api.app.inject({
    method: 'POST',
    url: '/api/bridges/nope/trace',
    payload: { flow: 'in_port=1' },
  });
  isProblem(t, res, 404, 'unknown-bridge');
});

t.test('flows: table and cookie filters, bad queries', async (t) => {
  const { api, check } = await setup(t);
  const inj = (url: string) => api.app.inject({ method: 'GET', url });
  let r = await inj('/api/bridges/br0/flows');
  t.equal(r.json().length, 3);
  check('GET', '/api/bridges/{name}/flows', r.json());
  r = await inj('/api/bridges/br0/flows?table=1');
  t.same(
    r.json().map((f: { priority: number }) => f.priority),
    [5],
  );
  r = await inj('/api/bridges/br0/flows?cookie=0x10');
  t.same(
    r.json().map((f: { cookie: string }) => f.cookie),
    ['0x10'],
  );
  r = await inj('/api/bridges/br0/flows?cookie=0x10/0xf0');
  t.same(
    r.json().map((f: { cookie: string }) => f.cookie),
    ['0x10', '0x1f'],
  );
  r = await inj('/api/bridges/br0/flows?cookie=16/240&table=0');
  t.same(
    r.json().map((f: { cookie: string }) => f.cookie),
    ['0x10'],
  );
  isProblem(t, await inj('/api/bridges/br0/flows?table=254'), 400, 'bad-request', /table/);
  isProblem(t, await inj('/api/bridges/br0/flows?table=abc'), 400, 'bad-request');
  isProblem(t, await inj('/api/bridges/br0/flows?cookie=zz'), 400, 'bad-request', /cookie/);
  isProblem(t, await inj('/api/bridges/br0/flows?cookie=0x1ffffffffffffffff'), 400, 'bad-request');
  isProblem(
    t,
    await inj('/api/bridges/br0/flows?cookie=99999999999999999999'),
    400,
    'bad-request',
    /64 bits/,
  );
  isProblem(t, await inj('/api/bridges/br0/flows?color=blue'), 400, 'bad-request', /additional/);
  r = await inj('/api/bridges/br0/flows?limit=2');
  t.same(
    r.json().map((f: { priority: number }) => f.priority),
    [100, 0],
    'limit keeps the first flows',
  );
  r = await inj('/api/bridges/br0/flows?limit=2&table=1');
  t.equal(r.json().length, 1);
  isProblem(t, await inj('/api/bridges/br0/flows?limit=0'), 400, 'bad-request', /limit/);
  isProblem(t, await inj('/api/bridges/br0/flows?limit=x'), 400, 'bad-request', /limit/);
  isProblem(t, await inj('/api/bridges/br0/flows?limit=1.5'), 400, 'bad-request', /limit/);
});

t.test('tables, STP, BFD', async (t) => {
  const { api, check } = await setup(t);
  const inj = (url: string) => api.app.inject({ method: 'GET', url });
  let r = await inj('/api/bridges/br0/tables');
  t.same(r.json()[1], { table: 1, count: 1, lookups: 9, matched: 4 });
  check('GET', '/api/bridges/{name}/tables', r.json());
  r = await inj('/api/bridges/br0/stp');
  t.equal(r.statusCode, 200);
  t.match(r.json(), {
    bridge: 'br0',
    enabled: true,
    isRoot: true,
    rootPathCost: 0,
    ports: [{ name: 'p1', state: 'forwarding', role: 'designated', secInState: 30 }],
  });
  check('GET', '/api/bridges/{name}/stp', r.json());
  r = await inj('/api/stp');
  t.equal(r.json().length, 1);
  check('GET', '/api/stp', r.json());
  r = await inj('/api/bfd');
  t.match(r.json(), [{ interface: 'p1', state: 'up', forwarding: true, flapCount: 1 }]);
  check('GET', '/api/bfd', r.json());
  r = await inj('/api/interfaces/p1/bfd');
  t.equal(r.json().status.remote_state, 'up');
  check('GET', '/api/interfaces/{name}/bfd', r.json());
  r = await inj('/api/interfaces/bad/bfd');
  t.same(r.json(), { interface: 'bad', enabled: false, config: {}, status: {} });
  check('GET', '/api/interfaces/{name}/bfd', r.json());
  isProblem(t, await inj('/api/interfaces/nope/bfd'), 404, 'unknown-interface', /"nope"/);
  isProblem(t, await inj(`/api/interfaces/${'x'.repeat(256)}/bfd`), 400, 'bad-request');
  isProblem(t, await inj(`/api/bridges/${'x'.repeat(256)}/stp`), 400, 'bad-request');
  isProblem(t, await inj('/api/bfd?x=1'), 400, 'bad-request', /additional properties/);
  isProblem(t, await inj('/api/bridges/br0/stp?verbose=1'), 400, 'bad-request');
});

t.test('topology: served from the backend, 404 when none runs, 500 when malformed', async (t) => {
  const { api, fb, check } = await setup(t);
  const inj = () => api.app.inject({ method: 'GET', url: '/api/topology' });
  const r = await inj();
  t.equal(r.statusCode, 200);
  t.same(r.json(), FAKE_TOPO);
  check('GET', '/api/topology', r.json());
  fb.topo = undefined;
  isProblem(t, await inj(), 404, 'no-topology', /no topology is running/);
  fb.topo = { ...FAKE_TOPO, hosts: [{ name: 'h1' }] };
  isProblem(t, await inj(), 500, 'bad-topology', /\/hosts\/0 must have required property/);
  fb.topo = new Error('Unexpected token } in JSON');
  isProblem(t, await inj(), 500, 'bad-topology', /cannot read topo.json: Unexpected token/);
});

t.test('fdb, datapath flows and trace through appctl', async (t) => {
  const { api, check } = await setup(t);
  let r = await api.app.inject({ method: 'GET', url: '/api/bridges/br0/fdb' });
  t.equal(r.statusCode, 200);
  t.same(r.json().entries, [{ port: '1', vlan: 0, mac: '02:00:00:00:00:09', age: 3 }]);
  check('GET', '/api/bridges/{name}/fdb', r.json());
  r = await api.app.inject({ method: 'GET', url: '/api/datapath/flows?verbose=true' });
  t.equal(r.json().flows.length, 1);
  t.match(r.json().flows[0], /\(more\)$/);
  check('GET', '/api/datapath/flows', r.json());
  isProblem(
    t,
    await api.app.inject({ method: 'GET', url: '/api/datapath/flows?verbose=maybe' }),
    400,
    'bad-request',
  );

  const trace = (payload: unknown, contentType = 'application/json') =>
    api.app.inject({
      method: 'POST',
      url: '/api/bridges/br0/trace',
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
      headers: { 'content-type': contentType },
    });
  r = await trace({ flow: 'in_port=1,tcp', generate: true, packet: '00ff' });
  t.equal(r.statusCode, 200);
  t.equal(r.json().output, 'Flow: in_port=1,tcp -generate 00ff\nDatapath actions: 1\n');
  t.equal(r.json().datapathActions, '1');
  t.same(r.json().path, []);
  check('POST', '/api/bridges/{name}/trace', r.json());
  isProblem(t, await trace({}), 400, 'bad-request', /flow/);
  isProblem(
    t,
    await api.app.inject({ method: 'POST', url: '/api/bridges/br0/trace' }),
    400,
    'bad-request',
    /body/,
  );
  isProblem(t, await trace({ flow: '' }), 400, 'bad-request');
  isProblem(t, await trace({ flow: 'x', extra: 1 }), 400, 'bad-request', /additional/);
  isProblem(t, await trace({ flow: 'x', packet: 'zz' }), 400, 'bad-request', /packet/);
  isProblem(t, await trace({ flow: 'x', packet: 'abc' }), 400, 'bad-request', /even/);
  isProblem(t, await trace('{"flow":'), 400, 'bad-request');
  isProblem(t, await trace('flow=x', 'text/plain'), 415, 'unsupported-media-type');
  isProblem(t, await trace({ flow: 'bogus' }), 422, 'command-failed', /bogus: unknown field/);
});

t.test('features missing from the daemon answer 404 with a clear problem', async (t) => {
  const { api } = await setup(t, false);
  isProblem(
    t,
    await api.app.inject({ method: 'GET', url: '/api/bridges/br0/fdb' }),
    404,
    'command-unavailable',
    /no "fdb\/show" appctl command/,
  );
  isProblem(
    t,
    await api.app.inject({ method: 'GET', url: '/api/datapath/flows' }),
    404,
    'command-unavailable',
    /dpctl\/dump-flows/,
  );
  isProblem(
    t,
    await api.app.inject({
      method: 'POST',
      url: '/api/bridges/br0/trace',
      payload: { flow: 'in_port=1' },
    }),
    404,
    'command-unavailable',
    /ofproto\/trace/,
  );
});

t.test('appctl: list and run, with bad names and argument counts', async (t) => {
  const { api, check } = await setup(t);
  let r = await api.app.inject({ method: 'GET', url: '/api/appctl' });
  const echo = r.json().find((c: { name: string }) => c.name === 'echo/args');
  t.same(echo, { name: 'echo/args', usage: 'ARG...', minArgs: 1, maxArgs: null });
  check('GET', '/api/appctl', r.json());
  r = await api.app.inject({
    method: 'POST',
    url: '/api/appctl/echo/args',
    payload: { args: ['a', 'b c'] },
  });
  t.equal(r.statusCode, 200);
  t.same(r.json(), { output: 'a|b c\n' });
  check('POST', '/api/appctl/{command}', r.json());
  r = await api.app.inject({ method: 'POST', url: '/api/appctl/list-commands', payload: {} });
  t.equal(r.statusCode, 200, 'args default to none');
  r = await api.app.inject({ method: 'POST', url: '/api/appctl/list-commands' });
  t.equal(r.statusCode, 200, 'a POST without a body runs the command without arguments');
  t.match(r.json().output, /^always\/fails\n/);
  isProblem(
    t,
    await api.app.inject({ method: 'POST', url: '/api/appctl/echo/args' }),
    400,
    'bad-request',
    /takes 1\+ arguments, got 0/,
  );
  isProblem(
    t,
    await api.app.inject({ method: 'POST', url: '/api/appctl/no/such', payload: { args: [] } }),
    404,
    'unknown-command',
    /"no\/such" is not a valid command/,
  );
  isProblem(
    t,
    await api.app.inject({ method: 'POST', url: '/api/appctl/echo/args', payload: { args: [] } }),
    400,
    'bad-request',
    /takes 1\+ arguments, got 0/,
  );
  isProblem(
    t,
    await api.app.inject({ method: 'POST', url: '/api/appctl/echo/args', payload: { args: [1] } }),
    400,
    'bad-request',
  );
  isProblem(
    t,
    await api.app.inject({ method: 'POST', url: '/api/appctl/echo/args', payload: { args: 'a' } }),
    400,
    'bad-request',
  );
  isProblem(
    t,
    await api.app.inject({ method: 'POST', url: '/api/appctl/always/fails', payload: {} }),
    422,
    'command-failed',
    /this command always fails/,
  );
});

t.test('unknown routes, methods and the web page', async (t) => {
  const { api } = await setup(t);
  isProblem(
    t,
    await api.app.inject({ method: 'GET', url: '/api/nothing' }),
    404,
    'not-found',
    /GET \/api\/nothing/,
  );
  isProblem(t, await api.app.inject({ method: 'DELETE', url: '/api/bridges' }), 404, 'not-found');
  isProblem(
    t,
    await api.app.inject({ method: 'GET', url: '/api/bridges/%E0%A4%A' }),
    400,
    'bad-request',
    /not a valid url/,
  );
  let r = await api.app.inject({ method: 'GET', url: '/' });
  t.equal(r.statusCode, 200);
  t.match(String(r.headers['content-type']), /^text\/html/);
  t.match(r.body, /<script src="\/app.js"/);
  r = await api.app.inject({ method: 'GET', url: '/app.js' });
  t.match(String(r.headers['content-type']), /^text\/javascript/);
  t.match(r.body, /\/trace/);
  t.doesNotThrow(() => new Script(r.body, { filename: 'app.js' }), 'app.js compiles');
  r = await api.app.inject({ method: 'GET', url: '/style.css' });
  t.match(String(r.headers['content-type']), /^text\/css/);

  const bare = await createApiServer({
    backend: fakeBackend(),
    defaultMetrics: false,
    staticDir: '/nonexistent',
  });
  t.teardown(() => bare.close());
  isProblem(
    t,
    await bare.app.inject({ method: 'GET', url: '/' }),
    404,
    'not-found',
    /not installed/,
  );
});

t.test('close unsubscribes from the backend and is idempotent', async (t) => {
  const fb = fakeBackend();
  const api = await createApiServer({ backend: fb, defaultMetrics: false });
  t.equal(fb.subscriptions(), 1);
  await Promise.all([api.close(), api.close()]);
  t.equal(fb.subscriptions(), 0);
});

t.test('a failing backend answers 500 with a problem that hides the internals', async (t) => {
  const fb = fakeBackend();
  fb.listInterfaces = () => {
    throw new Error('secret internal state');
  };
  const api = await createApiServer({ backend: fb, defaultMetrics: false });
  t.teardown(() => api.close());
  const res = await api.app.inject({ method: 'GET', url: '/api/interfaces' });
  isProblem(t, res, 500, 'internal', /^internal error$/);
  t.notMatch(res.body, /secret/);
});

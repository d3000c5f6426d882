import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { createGateway } from '../../lib/gateway.ts';
import type { Gateway } from '../../lib/gateway.ts';
import { loadConfigText } from '../../lib/load-config.ts';
import { createTracing } from '../../lib/observe/tracing.ts';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { captureLogger, chatBody, instance, postJson, routeConfig, startGateway } from '../support/gateway-harness.ts';
import type { LogLine } from '../support/gateway-harness.ts';

// A local OTLP/HTTP receiver: the exporter POSTs OTLP JSON (ExportTraceServiceRequest) to /v1/traces.

type AnyValue = { stringValue?: string; intValue?: number | string; boolValue?: boolean; doubleValue?: number };
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: Array<{ key: string; value: AnyValue }>;
  status?: { code?: number; message?: string };
}
interface Received {
  service: string | undefined;
  span: OtlpSpan;
  attrs: Record<string, string | number | boolean | undefined>;
}

const SERVER = 2;
const CLIENT = 3;
const STATUS_ERROR = 2;

function valueOf(v: AnyValue): string | number | boolean | undefined {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.boolValue !== undefined) return v.boolValue;
  return v.doubleValue;
}

function attributes(list: OtlpSpan['attributes']): Record<string, string | number | boolean | undefined> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, valueOf(a.value)]));
}

async function startReceiver(): Promise<{ url: string; spans: Received[]; contentTypes: string[]; close(): Promise<void> }> {
  const spans: Received[] = [];
  const contentTypes: string[] = [];
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      contentTypes.push(req.headers['content-type'] ?? '');
      const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as {
        resourceSpans: Array<{ resource?: { attributes?: OtlpSpan['attributes'] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
      };
      for (const rs of body.resourceSpans) {
        const service = attributes(rs.resource?.attributes)['service.name'];
        for (const ss of rs.scopeSpans) {
          for (const span of ss.spans) spans.push({ service: service as string | undefined, span, attrs: attributes(span.attributes) });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    contentTypes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';

describe('OpenTelemetry traces exported over OTLP/HTTP', function () {
  this.timeout(20_000);
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let down: FakeOpenAI;
  let up: FakeOpenAI;
  let gateway: Gateway;
  let url: string;
  let logs: LogLine[];

  beforeEach(async () => {
    receiver = await startReceiver();
    down = await startFakeOpenAI({ name: 'down', behavior: { kind: 'status', status: 503 } });
    up = await startFakeOpenAI({ name: 'up' });
    const captured = captureLogger();
    logs = captured.lines;
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'gw-under-test', OTEL_BSP_SCHEDULE_DELAY: '20' };
    const cfg = loadConfigText(
      JSON.stringify(
        routeConfig({
          instances: [
            instance('down', down.url, { provider: 'openai', priority: 1, options: { model: 'gpt-4o-mini' } }),
            instance('up', up.url, { provider: 'openai', priority: 0, options: { model: 'gpt-4o' } }),
          ],
        }),
      ),
      {},
    );
    gateway = await createGateway(cfg, { logger: captured.log, tracing: await createTracing(env, captured.log) });
    url = `http://127.0.0.1:${(await gateway.listen()).port}`;
  });
  afterEach(async () => {
    await gateway.close();
    await Promise.all([down.close(), up.close(), receiver.close()]);
  });

  it('exports the request span and one child span per attempt, and sends each attempt its own traceparent', async () => {
    const client = new OpenAI({
      baseURL: `${url}/v1`,
      apiKey: 'client-key',
      maxRetries: 0,
      defaultHeaders: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` },
    });
    const answer = await client.chat.completions.create({ model: 'any', messages: [{ role: 'user', content: 'Say something about tracing, please.' }] });
    assert.equal(answer.choices[0]?.finish_reason, 'stop');
    await gateway.close(); // flushes the batch

    assert.ok(receiver.contentTypes.every((t) => t.startsWith('application/json')), 'OTLP JSON');
    const server = receiver.spans.filter((s) => s.span.kind === SERVER);
    const attempts = receiver.spans.filter((s) => s.span.kind === CLIENT);
    assert.equal(server.length, 1);
    assert.equal(attempts.length, 2);
    const root = server[0]!;
    assert.equal(root.service, 'gw-under-test');
    assert.equal(root.span.traceId, CLIENT_TRACE, 'the client trace is continued');
    assert.equal(root.span.parentSpanId, CLIENT_SPAN);
    assert.equal(root.span.name, 'POST');
    assert.equal(root.attrs['http.request.method'], 'POST');
    assert.equal(root.attrs['url.path'], '/v1/chat/completions');
    assert.equal(root.attrs['http.response.status_code'], 200);
    assert.equal(root.attrs['gen_ai.operation.name'], 'chat');
    assert.equal(root.attrs['gen_ai.request.model'], 'any');
    assert.equal(root.attrs['gen_ai.provider.name'], 'openai');
    assert.equal(root.attrs['aipm.instance'], 'up');
    assert.equal(root.attrs['aipm.fallbacks'], 1);

    const [first, second] = attempts.sort((x, y) => (x.attrs['aipm.instance'] === 'down' ? -1 : y.attrs['aipm.instance'] === 'down' ? 1 : 0));
    for (const a of [first!, second!]) {
      assert.equal(a.span.traceId, CLIENT_TRACE);
      assert.equal(a.span.parentSpanId, root.span.spanId, 'an attempt is a child of the request span');
      assert.equal(a.attrs['gen_ai.operation.name'], 'chat');
      assert.equal(a.attrs['gen_ai.provider.name'], 'openai');
      assert.equal(a.attrs['server.address'], '127.0.0.1');
    }
    assert.equal(first!.span.name, 'chat gpt-4o-mini');
    assert.equal(first!.attrs['gen_ai.request.model'], 'gpt-4o-mini');
    assert.equal(first!.attrs['http.response.status_code'], 503);
    assert.equal(first!.attrs['error.type'], '503');
    assert.equal(first!.span.status?.code, STATUS_ERROR);
    assert.equal(first!.attrs['server.port'], down.port);

    assert.equal(second!.span.name, 'chat gpt-4o');
    assert.equal(second!.attrs['gen_ai.request.model'], 'gpt-4o');
    assert.equal(second!.attrs['gen_ai.response.model'], answer.model);
    assert.equal(second!.attrs['gen_ai.usage.input_tokens'], answer.usage?.prompt_tokens);
    assert.equal(second!.attrs['gen_ai.usage.output_tokens'], answer.usage?.completion_tokens);
    assert.ok((answer.usage?.completion_tokens ?? 0) > 0);
    assert.equal(second!.attrs['error.type'], undefined);
    assert.equal(root.attrs['gen_ai.usage.input_tokens'], answer.usage?.prompt_tokens);
    const access = logs.find((l) => l['access'])?.['access'] as { cost_usd?: number } | undefined;
    assert.ok((access?.cost_usd ?? 0) > 0, 'gpt-4o is in the price table');
    assert.equal(root.attrs['aipm.cost_usd'], access?.cost_usd);

    // Each provider got the traceparent of its own attempt span, in the client's trace.
    assert.equal(down.requests[0]?.headers['traceparent'], `00-${CLIENT_TRACE}-${first!.span.spanId}-01`);
    assert.equal(up.requests[0]?.headers['traceparent'], `00-${CLIENT_TRACE}-${second!.span.spanId}-01`);
    assert.ok(logs.some((l) => /exporting traces to/.test(l.msg)));
  });

  it('starts a new trace without a client traceparent, names an exact route, and traces a stream to its end', async () => {
    await gateway.close();
    const captured = captureLogger();
    const cfg = loadConfigText(
      JSON.stringify({
        server: { host: '127.0.0.1', port: 0 },
        admin: false,
        routes: [{ id: 'chat', uris: ['/v1/chat/completions'], plugins: { 'ai-proxy-multi': { instances: [instance('up', up.url)] } } }],
      }),
      {},
    );
    gateway = await createGateway(cfg, { logger: captured.log, tracing: await createTracing({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces` }, captured.log) });
    url = `http://127.0.0.1:${(await gateway.listen()).port}`;
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'client-key', maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'm-1', stream: true, messages: [{ role: 'user', content: 'Stream it.' }] });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0);
    await gateway.close();

    const root = receiver.spans.find((s) => s.span.kind === SERVER);
    const attempt = receiver.spans.find((s) => s.span.kind === CLIENT);
    assert.ok(root && attempt);
    assert.equal(root.span.parentSpanId ?? '', '', 'a root span');
    assert.equal(root.service, 'ai-proxy-multi');
    assert.equal(root.span.name, 'POST /v1/chat/completions');
    assert.equal(root.attrs['http.route'], '/v1/chat/completions');
    assert.equal(root.attrs['aipm.stream'], true);
    assert.equal(attempt.span.parentSpanId, root.span.spanId);
    assert.equal(attempt.attrs['gen_ai.provider.name'], 'openai-compatible');
    assert.ok(Number(attempt.attrs['gen_ai.usage.output_tokens']) > 0, 'stream usage recorded on the attempt span');
    assert.equal(up.requests.at(-1)?.headers['traceparent'], `00-${root.span.traceId}-${attempt.span.spanId}-01`);
  });
});

describe('OpenTelemetry traces of a pass-through request', function () {
  this.timeout(20_000);

  it('traces it as plain HTTP: spans named by method, no GenAI operation, the provider status as error.type', async () => {
    const receiver = await startReceiver();
    const fake = await startFakeOpenAI({ name: 'files' });
    const captured = captureLogger();
    const cfg = loadConfigText(JSON.stringify(routeConfig({ instances: [instance('files', fake.url)] })), {});
    const gateway = await createGateway(cfg, { logger: captured.log, tracing: await createTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }, captured.log) });
    try {
      const { port } = await gateway.listen();
      const res = await fetch(`http://127.0.0.1:${port}/v1/files/file-123`);
      assert.equal(res.status, 404, 'the fake has no files API: its 404 is relayed');
      await gateway.close();
      const root = receiver.spans.find((s) => s.span.kind === SERVER);
      const attempt = receiver.spans.find((s) => s.span.kind === CLIENT);
      assert.ok(root && attempt);
      assert.equal(root.span.name, 'GET');
      assert.equal(root.attrs['gen_ai.operation.name'], undefined);
      assert.equal(root.attrs['http.response.status_code'], 404);
      assert.equal(attempt.span.name, 'GET');
      assert.equal(attempt.span.parentSpanId, root.span.spanId);
      assert.equal(attempt.attrs['http.response.status_code'], 404);
      assert.equal(attempt.attrs['error.type'], '404');
      assert.equal(fake.requests[0]?.headers['traceparent'], `00-${root.span.traceId}-${attempt.span.spanId}-01`);
    } finally {
      await gateway.close();
      await Promise.all([fake.close(), receiver.close()]);
    }
  });
});

describe('tracing switched off', () => {
  it('loads no OpenTelemetry module when no exporter endpoint is set', async () => {
    assert.equal((await createTracing({}, captureLogger().log)).enabled, false);
    assert.equal((await createTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', OTEL_SDK_DISABLED: 'true' }, captureLogger().log)).enabled, false);
    // A fresh process: which modules does starting a gateway resolve? The same run with an endpoint
    // set shows the probe sees them.
    const gatewayUrl = new URL('../../lib/gateway.ts', import.meta.url).href;
    const loadUrl = new URL('../../lib/load-config.ts', import.meta.url).href;
    const config = JSON.stringify(routeConfig({ instances: [instance('x', 'http://127.0.0.1:1')] }));
    const script = `
      import { registerHooks } from 'node:module';
      const seen = [];
      registerHooks({ resolve(specifier, context, next) { seen.push(specifier); return next(specifier, context); } });
      const { createGateway } = await import(${JSON.stringify(gatewayUrl)});
      const { loadConfigText } = await import(${JSON.stringify(loadUrl)});
      const gw = await createGateway(loadConfigText(${JSON.stringify(config)}, {}));
      await gw.close();
      // prom-client itself imports @opentelemetry/api (for exemplars): only the SDK side counts here.
      process.stderr.write('\\nSEEN ' + JSON.stringify(seen.filter((s) => (s.includes('@opentelemetry/') && s !== '@opentelemetry/api') || s.includes('otel-tracer'))) + '\\n');
    `;
    const loaded = (otel: Record<string, string>): string[] => {
      const env: NodeJS.ProcessEnv = { ...process.env, ...otel };
      if (!otel['OTEL_EXPORTER_OTLP_ENDPOINT']) delete env['OTEL_EXPORTER_OTLP_ENDPOINT'];
      delete env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'];
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8', cwd: fileURLToPath(new URL('../..', import.meta.url)) });
      assert.equal(run.status, 0, run.stderr);
      return JSON.parse(/^SEEN (.*)$/m.exec(run.stderr)?.[1] ?? 'null') as string[];
    };
    assert.deepEqual(loaded({}), []);
    const withEndpoint = loaded({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1' });
    assert.ok(withEndpoint.includes('@opentelemetry/sdk-trace') && withEndpoint.includes('./otel-tracer.ts'), withEndpoint.join(' '));
  });

  it('forwards a client traceparent untouched', async () => {
    const fake = await startFakeOpenAI({ name: 'plain' });
    const gw = await startGateway(routeConfig({ instances: [instance('plain', fake.url)] }));
    try {
      const traceparent = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`;
      const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody(), { traceparent, tracestate: 'vendor=1' });
      assert.equal(res.status, 200);
      assert.equal(fake.requests[0]?.headers['traceparent'], traceparent);
      assert.equal(fake.requests[0]?.headers['tracestate'], 'vendor=1');
    } finally {
      await gw.close();
      await fake.close();
    }
  });

  it('refuses an OTEL setting it cannot use with a one-line message', async () => {
    await assert.rejects(createTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }, captureLogger().log), /OTEL_EXPORTER_OTLP_ENDPOINT: "not a url\/v1\/traces" is not a URL/);
    await assert.rejects(createTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318', OTEL_TRACES_SAMPLER: 'sometimes' }, captureLogger().log), /OTEL_TRACES_SAMPLER/);
  });
});

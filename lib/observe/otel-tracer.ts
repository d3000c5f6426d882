// The OpenTelemetry SDK behind lib/observe/tracing.ts, imported only when traces are exported.
// Contexts are passed explicitly (no global context manager, no monkey-patching): the request span is
// the parent of each attempt span, and the attempt span's context goes upstream as `traceparent`.
import { DiagLogLevel, ROOT_CONTEXT, SpanKind, SpanStatusCode, diag, trace } from '@opentelemetry/api';
import type { Attributes, Span, TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { Sampler } from '@opentelemetry/sdk-trace';
import type { AccessRecord } from './access-log.ts';
import type { Logger } from './logger.ts';
import type { AttemptSpanEnd, AttemptSpanStart, AttemptTrace, RequestSpanStart, RequestTrace, Tracing, TracingSettings } from './tracing.ts';

const getter: TextMapGetter<RequestSpanStart['headers']> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};
const setter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

function samplerOf(settings: TracingSettings): Sampler {
  const ratio = new TraceIdRatioBasedSampler(settings.samplerArg);
  switch (settings.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** `gen_ai.operation.name`; a pass-through request (files, listings…) is plain HTTP. */
function operationOf(type: AccessRecord['request_type']): string | undefined {
  if (type === 'passthrough' || type === 'ai_models') return undefined;
  return type === 'ai_embeddings' ? 'embeddings' : 'chat';
}

/** Low-cardinality `error.type`: the provider's status when it answered one, else the gateway's code. */
function errorTypeOf(code: string | undefined, upstreamStatus: number | undefined): string | undefined {
  if (upstreamStatus !== undefined && upstreamStatus >= 400) return String(upstreamStatus);
  return code?.toLowerCase();
}

function setDefined(span: Span, attributes: Record<string, string | number | boolean | undefined>): void {
  const clean: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) if (value !== undefined) clean[key] = value;
  span.setAttributes(clean);
}

function portOf(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

export function createOtelTracing(settings: TracingSettings, log: Logger): Tracing {
  // Export failures (collector down) surface as warnings instead of vanishing.
  diag.setLogger(
    {
      error: (msg) => log.warn(`OpenTelemetry: ${msg}`),
      warn: (msg) => log.warn(`OpenTelemetry: ${msg}`),
      info: () => {},
      debug: () => {},
      verbose: () => {},
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  const resource = detectResources({ detectors: [envDetector] }).merge(resourceFromAttributes({ 'service.name': settings.serviceName }));
  const provider = new TracerProvider({
    resource,
    sampler: samplerOf(settings),
    spanProcessors: [
      new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: settings.url }), scheduledDelayMillis: settings.scheduleDelayMs }),
    ],
  });
  const tracer = provider.getTracer('ai-proxy-multi');
  const propagator = new W3CTraceContextPropagator();

  function startRequest(start: RequestSpanStart): RequestTrace {
    const parent = propagator.extract(ROOT_CONTEXT, start.headers, getter);
    const operation = operationOf(start.requestType);
    const attributes: Attributes = {
      'http.request.method': start.method,
      'url.path': start.path,
      'client.address': start.clientAddress,
      'aipm.route': start.route,
      'aipm.client_protocol': start.clientProtocol,
      'aipm.stream': start.stream,
    };
    if (operation !== undefined) attributes['gen_ai.operation.name'] = operation;
    if (start.exactRoute) attributes['http.route'] = start.path;
    if (start.requestModel !== undefined) attributes['gen_ai.request.model'] = start.requestModel;
    const span = tracer.startSpan(
      start.exactRoute ? `${start.method} ${start.path}` : start.method,
      { kind: SpanKind.SERVER, startTime: start.startTime, attributes },
      parent,
    );
    const spanContext = trace.setSpan(ROOT_CONTEXT, span);
    let provider: string | undefined;

    return {
      attempt(a: AttemptSpanStart): AttemptTrace {
        provider = a.provider;
        const url = new URL(a.origin);
        const model = start.requestModel;
        // GenAI spans are named `{operation} {model}`; an HTTP client span by its method.
        const nameOf = (m: string | undefined): string => (operation === undefined ? a.method : m === undefined ? operation : `${operation} ${m}`);
        const attempt = tracer.startSpan(
          nameOf(model),
          {
            kind: SpanKind.CLIENT,
            attributes: {
              ...(operation !== undefined && { 'gen_ai.operation.name': operation }),
              'gen_ai.provider.name': a.provider,
              'http.request.method': a.method,
              'server.address': url.hostname,
              'server.port': portOf(url),
              'aipm.instance': a.instance,
              'aipm.upstream_protocol': a.upstreamProtocol,
            },
          },
          spanContext,
        );
        const headers: Record<string, string> = {};
        propagator.inject(trace.setSpan(ROOT_CONTEXT, attempt), headers, setter);
        return {
          headers,
          end(o: AttemptSpanEnd) {
            if (o.requestModel !== undefined && o.requestModel !== model) attempt.updateName(nameOf(o.requestModel));
            const errorType = o.errorCode === undefined ? undefined : errorTypeOf(o.errorCode, o.upstreamStatus);
            setDefined(attempt, {
              'gen_ai.request.model': o.requestModel,
              'gen_ai.response.model': o.failed ? undefined : o.responseModel,
              'gen_ai.usage.input_tokens': o.inputTokens,
              'gen_ai.usage.output_tokens': o.outputTokens,
              'http.response.status_code': o.upstreamStatus ?? (o.failed ? undefined : o.status),
              'error.type': errorType,
            });
            if (errorType !== undefined && o.errorCode !== 'CLIENT_ABORTED') attempt.setStatus({ code: SpanStatusCode.ERROR, message: o.errorMessage ?? errorType });
            attempt.end();
          },
        };
      },
      end(record: AccessRecord) {
        setDefined(span, {
          'http.response.status_code': record.status,
          'gen_ai.provider.name': record.instance === undefined ? undefined : provider,
          'gen_ai.response.model': record.status < 400 ? record.llm_model : undefined,
          'gen_ai.usage.input_tokens': record.prompt_tokens,
          'gen_ai.usage.output_tokens': record.completion_tokens,
          'aipm.instance': record.instance,
          'aipm.attempts': record.attempts.length,
          'aipm.fallbacks': record.fallbacks,
          'aipm.ttft_ms': record.ttft_ms,
          'aipm.cost_usd': record.cost_usd,
        });
        // HTTP server spans: only a 5xx is the server's error.
        if (record.status >= 500) {
          span.setAttribute('error.type', String(record.status));
          span.setStatus({ code: SpanStatusCode.ERROR, ...(record.error !== undefined && { message: record.error }) });
        }
        span.end();
      },
    };
  }

  return {
    enabled: true,
    startRequest,
    async shutdown() {
      try {
        await provider.shutdown();
      } catch (err) {
        log.warn({ err }, 'OpenTelemetry: could not export the last spans');
      }
    },
  };
}

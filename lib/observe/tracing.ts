// OpenTelemetry traces, off unless an OTLP endpoint is configured. The pipeline talks to the small
// interfaces below; only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set is the
// SDK imported (./otel-tracer.ts), so a gateway without it loads and allocates nothing for tracing.
// Attribute names follow the OpenTelemetry GenAI and HTTP semantic conventions (README "Traces").
import type { IncomingHttpHeaders } from 'node:http';
import type { AccessRecord } from './access-log.ts';
import type { Logger } from './logger.ts';

export interface RequestSpanStart {
  method: string;
  path: string;
  /** The route's id. */
  route: string;
  /** `path` is one of the route's exact URIs: it can name the span (low cardinality). */
  exactRoute: boolean;
  /** The client's headers: a `traceparent` there makes the request span its child. */
  headers: IncomingHttpHeaders;
  requestType: AccessRecord['request_type'];
  clientProtocol: string;
  requestModel: string | undefined;
  stream: boolean;
  clientAddress: string;
  /** Epoch milliseconds. */
  startTime: number;
}

export interface AttemptSpanStart {
  instance: string;
  /** `gen_ai.provider.name`. */
  provider: string;
  upstreamProtocol: string;
  /** Scheme, host and port the attempt goes to. */
  origin: string;
  method: string;
}

export interface AttemptSpanEnd {
  /** What the client got from this attempt, or the failure's status. */
  status: number;
  failed: boolean;
  /** The model sent upstream. */
  requestModel: string | undefined;
  /** The model the answer names. */
  responseModel: string | undefined;
  inputTokens: number | undefined;
  outputTokens: number | undefined;
  /** The gateway's error code (UPSTREAM_TIMEOUT…), when the attempt failed or its stream broke. */
  errorCode: string | undefined;
  /** The provider's HTTP status when it answered one. */
  upstreamStatus: number | undefined;
  errorMessage: string | undefined;
}

export interface AttemptTrace {
  /** `traceparent` (and `tracestate`) naming this attempt's span, for the upstream request. */
  readonly headers: Readonly<Record<string, string>>;
  end(outcome: AttemptSpanEnd): void;
}

export interface RequestTrace {
  attempt(start: AttemptSpanStart): AttemptTrace;
  /** Ends the request span with what the access record says about the whole request. */
  end(record: AccessRecord): void;
}

export interface Tracing {
  readonly enabled: boolean;
  startRequest(start: RequestSpanStart): RequestTrace;
  /** Exports what is buffered, then stops. */
  shutdown(): Promise<void>;
}

export const noAttemptTrace: AttemptTrace = Object.freeze({ headers: Object.freeze({}), end() {} });
export const noRequestTrace: RequestTrace = Object.freeze({ attempt: () => noAttemptTrace, end() {} });
export const noTracing: Tracing = Object.freeze({
  enabled: false,
  startRequest: () => noRequestTrace,
  shutdown: async () => {},
});

export interface TracingSettings {
  /** Where spans are POSTed (OTLP/HTTP JSON). */
  url: string;
  serviceName: string;
  /** `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`. */
  sampler: string;
  samplerArg: number;
  /** `OTEL_BSP_SCHEDULE_DELAY`: how long spans wait to be batched. */
  scheduleDelayMs: number;
}

const SAMPLERS = new Set(['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio']);

/**
 * The tracing settings the standard OpenTelemetry variables ask for, or undefined when no trace
 * exporter is configured (or `OTEL_SDK_DISABLED=true`, `OTEL_TRACES_EXPORTER=none`).
 * Throws a one-line Error on a value that cannot be used.
 */
export function tracingSettings(env: NodeJS.ProcessEnv): TracingSettings | undefined {
  if (env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return undefined;
  const exporters = (env['OTEL_TRACES_EXPORTER'] ?? 'otlp').split(',').map((e) => e.trim().toLowerCase());
  if (exporters.includes('none')) return undefined;
  const specific = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']?.trim();
  const base = env['OTEL_EXPORTER_OTLP_ENDPOINT']?.trim();
  // The signal-specific variable is the whole URL; the general one is a base that gets /v1/traces.
  const url = specific ? specific : base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined;
  if (url === undefined) return undefined;
  const which = specific ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`${which}: "${url}" is not a URL (e.g. http://127.0.0.1:4318)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`${which}: "${url}" is not an http(s) URL`);
  const sampler = (env['OTEL_TRACES_SAMPLER'] ?? 'parentbased_always_on').trim().toLowerCase();
  if (!SAMPLERS.has(sampler)) throw new Error(`OTEL_TRACES_SAMPLER: "${sampler}" is not one of ${[...SAMPLERS].join(', ')}`);
  const arg = env['OTEL_TRACES_SAMPLER_ARG'] === undefined ? 1 : Number(env['OTEL_TRACES_SAMPLER_ARG']);
  if (!(arg >= 0 && arg <= 1)) throw new Error(`OTEL_TRACES_SAMPLER_ARG: "${env['OTEL_TRACES_SAMPLER_ARG']}" is not a ratio between 0 and 1`);
  const delay = env['OTEL_BSP_SCHEDULE_DELAY'] === undefined ? 5000 : Number(env['OTEL_BSP_SCHEDULE_DELAY']);
  if (!(Number.isInteger(delay) && delay >= 0)) throw new Error(`OTEL_BSP_SCHEDULE_DELAY: "${env['OTEL_BSP_SCHEDULE_DELAY']}" is not a whole number of milliseconds`);
  return { url, serviceName: env['OTEL_SERVICE_NAME']?.trim() || 'ai-proxy-multi', sampler, samplerArg: arg, scheduleDelayMs: delay };
}

/** Tracing as the environment asks: the SDK is imported only when an exporter endpoint is set. */
export async function createTracing(env: NodeJS.ProcessEnv, log: Logger): Promise<Tracing> {
  const settings = tracingSettings(env);
  if (!settings) return noTracing;
  const { createOtelTracing } = await import('./otel-tracer.ts');
  const tracing = createOtelTracing(settings, log);
  log.info({ url: settings.url, sampler: settings.sampler }, `exporting traces to ${settings.url}`);
  return tracing;
}

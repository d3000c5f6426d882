import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import type { ConsumerConfig } from '../config/types.ts';
import type { HashRequest } from '../balancer/hash-key.ts';
import {
  ClientAbortedError,
  GatewayError,
  NoInstanceAvailableError,
  ProviderQuotaExhaustedError,
  UpstreamConnectError,
  UpstreamStatusError,
  UpstreamTimeoutError,
} from '../errors.ts';
import type { AccessRecord } from '../observe/access-log.ts';
import { logAccess, roundMs } from '../observe/access-log.ts';
import type { Logger } from '../observe/logger.ts';
import type { Metrics } from '../observe/metrics.ts';
import { noRequestTrace } from '../observe/tracing.ts';
import type { ErrorShape } from '../protocols/client-protocol.ts';
import { PASSTHROUGH } from '../protocols/passthrough.ts';
import { renderError } from '../protocols/render-error.ts';
import { upstreamHeaders } from '../transport/headers.ts';
import { startIdleWatchdog } from '../transport/idle-watchdog.ts';
import type { PassthroughProxy, ProxyOutcome } from '../transport/passthrough-proxy.ts';
import { classifyOutcome, upstreamReason } from './classify-outcome.ts';
import { clientGoneSignal, sendWhole } from './client-writer.ts';
import type { FailedAttempt } from './final-failure.ts';
import { allAttemptsFailed } from './final-failure.ts';
import type { InstanceRuntime } from './instance-runtime.ts';
import type { RouteRuntime } from './route-runtime.ts';

// Requests the gateway does not speak (uploads, downloads, listings, any method) go to the picked
// instance's host on the same path, through the same balancing, breakers and fallback as the JSON
// protocols. A body small enough to hold is replayed on the next instance; a larger one streams once.

/** The client's body: held whole for replay, or a head already read plus the rest still on the socket. */
export type PassthroughBody = { kind: 'held'; bytes: Buffer } | { kind: 'streaming'; head: Buffer[]; rest: IncomingMessage; limit: number };

export interface PassthroughContext {
  reqId: string;
  req: IncomingMessage;
  res: ServerResponse;
  route: RouteRuntime;
  pathAndQuery: string;
  hash: HashRequest;
  /** Who presented a known key (see RequestContext.consumer). */
  consumer?: ConsumerConfig;
  body: PassthroughBody;
  errorShape: ErrorShape;
  proxy: PassthroughProxy;
  log: Logger;
  metrics: Metrics;
  started: number;
}


function bodyStream(body: PassthroughBody): Readable {
  if (body.kind === 'held') return Readable.from([body.bytes]);
  return Readable.from(
    (async function* () {
      let size = 0;
      for (const chunk of body.head) {
        size += chunk.length;
        yield chunk;
      }
      for await (const chunk of body.rest) {
        size += (chunk as Buffer).length;
        if (size > body.limit) throw new GatewayError('BODY_TOO_LARGE', 413, `request body exceeds the limit of ${body.limit} bytes`);
        yield chunk as Buffer;
      }
    })(),
  );
}

function failureOf(outcome: Exclude<ProxyOutcome, { kind: 'relayed' }>, instance: string, timeoutMs: number, signal: AbortSignal): GatewayError {
  if (outcome.kind === 'dropped') {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(outcome.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    return new UpstreamStatusError(instance, outcome.status, outcome.body, headers);
  }
  const reason: unknown = signal.reason;
  if (signal.aborted) return reason instanceof GatewayError ? reason : new ClientAbortedError();
  if (outcome.error instanceof GatewayError) return outcome.error;
  const code = (outcome.error as { code?: unknown }).code;
  if (code === 'ETIMEDOUT' || code === 'ECONNABORTED') return new UpstreamTimeoutError(instance, timeoutMs, { cause: outcome.error });
  return new UpstreamConnectError(instance, outcome.error);
}

/** One pass-through request → N attempts → the first answer relayed untouched. */
export async function handlePassthrough(ctx: PassthroughContext): Promise<void> {
  const { route, res } = ctx;
  const plugin = route.config.plugin;
  const scrubber = route.scrubber;
  // The proxy, the listener and Express each watch 'close' on this response: more than node's default 10.
  res.setMaxListeners(32);
  const client = { signal: clientGoneSignal(res) };
  const replayable = ctx.body.kind === 'held';
  const record: AccessRecord = {
    route: route.config.id,
    method: ctx.req.method ?? 'GET',
    path: ctx.hash.path,
    client_ip: ctx.hash.remoteAddr,
    status: 0,
    request_type: PASSTHROUGH,
    client_protocol: PASSTHROUGH,
    attempts: [],
    fallbacks: 0,
    duration_ms: 0,
  };
  if (ctx.consumer) record.consumer = ctx.consumer.name;
  const trace = !route.tracing.enabled
    ? noRequestTrace
    : route.tracing.startRequest({
        method: record.method,
        path: ctx.hash.path,
        route: route.config.id,
        exactRoute: route.config.exact.includes(ctx.hash.path),
        headers: ctx.req.headers,
        requestType: PASSTHROUGH,
        clientProtocol: PASSTHROUGH,
        requestModel: undefined,
        stream: false,
        clientAddress: ctx.hash.remoteAddr,
        startTime: performance.timeOrigin + ctx.started,
      });
  if (!replayable) ctx.log.info({ limit: plugin.replay_body_size }, 'pass-through body over replay_body_size: streamed once, without fallback');
  const maxAttempts = replayable ? 1 + plugin.max_retries : 1;
  const tried = new Set<string>();
  const failures: FailedAttempt[] = [];
  let last: { instance: InstanceRuntime; error: GatewayError; dropped?: Extract<ProxyOutcome, { kind: 'dropped' }> } | undefined;

  try {
    // Request limits and spent windows hold here too; a pass-through answer has no usage to charge.
    if (route.limits.applies(ctx.consumer)) {
      const admission = await route.limits.admit(ctx.consumer, ctx.hash);
      for (const [name, value] of Object.entries(admission.headers)) res.setHeader(name, value);
    }
    while (tried.size < maxAttempts && !client.signal.aborted) {
      if (tried.size > 0 && plugin.retry_on_failure_within_ms > 0 && performance.now() - ctx.started >= plugin.retry_on_failure_within_ms) break;
      const instance = route.pick(tried, PASSTHROUGH, ctx.hash);
      if (!instance) break;
      if (last) {
        ctx.log.warn({ instance: last.instance.name, next: instance.name }, `instance ${last.instance.name} failed (${scrubber.scrub(last.error.message)}), falling back to ${instance.name}`);
        record.fallbacks += 1;
        last.instance.fellBack();
      }
      tried.add(instance.name);
      if (plugin.expose_instance_headers) {
        res.setHeader('x-ai-proxy-instance', instance.name);
        res.setHeader('x-ai-proxy-attempts', String(tried.size));
      }
      const target = instance.target;
      const span = trace.attempt({
        instance: instance.name,
        provider: target.provider.genAiName ?? target.provider.name,
        upstreamProtocol: PASSTHROUGH,
        origin: target.origin,
        method: record.method,
      });
      const outcome = await attempt(ctx, instance, client.signal, span.headers);
      const attemptStarted = outcome.started;
      record.instance = instance.name;
      record.upstream_protocol = PASSTHROUGH;
      if (outcome.result.kind === 'relayed') {
        const r = outcome.result;
        record.status = r.clientLeft ? 499 : r.status;
        record.attempts.push({ instance: instance.name, status: record.status, duration_ms: roundMs(performance.now() - attemptStarted) });
        if (r.error) record.error = `answer from instance ${instance.name} broke after ${r.bytes} bytes`;
        span.end({
          status: record.status,
          failed: false,
          requestModel: undefined,
          responseModel: undefined,
          inputTokens: undefined,
          outputTokens: undefined,
          errorCode: r.error ? 'UPSTREAM_STREAM' : undefined,
          upstreamStatus: r.status,
          errorMessage: record.error,
        });
        // Only successes are streamed; a relay that broke midway is the instance's failure.
        instance.record(r.error ? { kind: 'failed', reason: record.error ?? 'broken answer', retryAfterSec: undefined } : { kind: 'answered' }, undefined, performance.now() - attemptStarted);
        return;
      }
      const error = failureOf(outcome.result, instance.name, plugin.timeout, outcome.signal);
      const verdict = classifyOutcome(error, plugin.fallback);
      const reason = scrubber.scrub(error instanceof UpstreamStatusError ? `HTTP ${error.upstreamStatus}: ${upstreamReason(scrubber.scrubBuffer(error.body))}` : error.message);
      record.attempts.push({ instance: instance.name, status: verdict.status, reason, duration_ms: roundMs(performance.now() - attemptStarted) });
      span.end({
        status: verdict.status,
        failed: true,
        requestModel: undefined,
        responseModel: undefined,
        inputTokens: undefined,
        outputTokens: undefined,
        errorCode: error.code,
        upstreamStatus: error instanceof UpstreamStatusError ? error.upstreamStatus : undefined,
        errorMessage: reason,
      });
      if (error.code === 'CLIENT_ABORTED') {
        instance.record({ kind: 'not-about-instance' }, undefined, undefined);
        break;
      }
      instance.record(verdict.countsAsFailure ? { kind: 'failed', reason, retryAfterSec: verdict.status === 429 ? verdict.retryAfterSec : undefined } : { kind: 'answered' }, undefined, undefined);
      failures.push({ instance: instance.name, status: verdict.status, reason, retryAfterSec: verdict.retryAfterSec, timedOut: verdict.timedOut });
      last = { instance, error, ...(outcome.result.kind === 'dropped' && { dropped: outcome.result }) };
      if (!verdict.retryable) break;
    }

    if (client.signal.aborted) {
      record.status = 499;
      return;
    }
    if (!last) {
      const waitMs = route.breakerWaitMs(tried, PASSTHROUGH);
      const quotaMs = route.quotaWaitMs(tried, PASSTHROUGH);
      if (quotaMs !== undefined) {
        throw new ProviderQuotaExhaustedError(
          `every instance of route ${route.config.id} is out of provider quota or held out by its circuit breaker`,
          Math.min(quotaMs, waitMs ?? Infinity),
        );
      }
      throw new NoInstanceAvailableError(
        waitMs !== undefined ? `every instance of route ${route.config.id} is held out by its circuit breaker` : `no instance of route ${route.config.id} can pass this request through`,
        waitMs === undefined ? undefined : Math.ceil(waitMs / 1000),
      );
    }
    if (last.dropped && (failures.length === 1 || !classifyOutcome(last.error, plugin.fallback).retryable)) {
      // The provider's own answer (its head, scrubbed): after a single attempt, or when it is one the
      // policy does not retry (a 4xx is the request's fault, not worth a gateway summary).
      const dropped = last.dropped;
      record.status = dropped.status;
      const type = dropped.headers['content-type'];
      sendWhole(res, dropped.status, typeof type === 'string' ? { 'content-type': type } : {}, scrubber.scrubBuffer(dropped.body));
      return;
    }
    throw failures.length === 1 ? last.error : allAttemptsFailed(failures);
  } catch (err) {
    const error = err instanceof GatewayError ? err : new GatewayError('INTERNAL_ERROR', 500, 'internal gateway error', { cause: err });
    if (!(err instanceof GatewayError)) ctx.log.error({ err }, 'unexpected error while passing a request through');
    record.status = error.status;
    record.error = scrubber.scrub(error.message);
    if (!res.headersSent) res.removeHeader('x-ai-proxy-instance');
    const rendered = renderError(ctx.errorShape, new GatewayError(error.code, error.status, scrubber.scrub(error.message), { kind: error.kind, headers: error.headers }));
    sendWhole(res, rendered.status, rendered.headers, rendered.body);
  } finally {
    record.duration_ms = roundMs(performance.now() - ctx.started);
    if (record.status === 0) record.status = client.signal.aborted ? 499 : res.statusCode;
    logAccess(ctx.log, record);
    ctx.metrics.observe(record);
    trace.end(record);
  }
}

async function attempt(
  ctx: PassthroughContext,
  instance: InstanceRuntime,
  clientSignal: AbortSignal,
  traceHeaders: Readonly<Record<string, string>>,
): Promise<{ result: ProxyOutcome; started: number; signal: AbortSignal }> {
  const plugin = ctx.route.config.plugin;
  const target = instance.target;
  const started = performance.now();
  const controller = new AbortController();
  const onClientAbort = (): void => controller.abort(clientSignal.reason);
  clientSignal.addEventListener('abort', onClientAbort, { once: true });
  const watchdog = startIdleWatchdog(plugin.timeout, () => controller.abort(new UpstreamTimeoutError(instance.name, plugin.timeout)));
  const headers = upstreamHeaders(ctx.req.headers, target.authHeaders, plugin.forward_client_credentials, true);
  for (const [name, value] of target.defaultHeaders) if (ctx.req.headers[name] === undefined) headers[name] = value;
  headers['x-request-id'] = ctx.reqId;
  Object.assign(headers, traceHeaders);
  headers['host'] = new URL(target.origin).host;
  if (ctx.body.kind === 'held') {
    headers['content-length'] = String(ctx.body.bytes.length);
  }
  instance.attemptStarted();
  try {
    const result = await ctx.proxy.send(
      ctx.req,
      ctx.res,
      {
        origin: target.origin,
        path: target.pathFor(PASSTHROUGH, { clientPathAndQuery: ctx.pathAndQuery, model: undefined, stream: false }),
        headers,
        body: ctx.body.kind === 'held' || ctx.body.head.length > 0 ? bodyStream(ctx.body) : undefined,
        sslVerify: plugin.ssl_verify,
        // An error answer is never streamed untouched: its text may echo a credential, so it is held
        // (bounded), scrubbed, and either relayed as the final answer or dropped for the next instance.
        decide: (status, answer) => {
          const flat: Record<string, string> = {};
          for (const [k, v] of Object.entries(answer)) if (v !== undefined) flat[k] = Array.isArray(v) ? v.join(', ') : v;
          instance.quota.observe(flat);
          return status >= 400 ? 'drop' : 'relay';
        },
      },
      controller.signal,
      watchdog.touch,
    );
    return { result, started, signal: controller.signal };
  } finally {
    watchdog.stop();
    clientSignal.removeEventListener('abort', onClientAbort);
    instance.attemptEnded();
  }
}

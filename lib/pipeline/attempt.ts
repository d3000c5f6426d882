import { performance } from 'node:perf_hooks';
import {
  GatewayError,
  InternalError,
  UpstreamStatusError,
  UpstreamStreamError,
  UpstreamTimeoutError,
  UpstreamTooLargeError,
} from '../errors.ts';
import { roundMs as round } from '../observe/access-log.ts';
import type { SecretScrubber } from '../observe/secret-scrubber.ts';
import type { AttemptTrace } from '../observe/tracing.ts';
import { noAttemptTrace, noRequestTrace } from '../observe/tracing.ts';
import type { Usage } from '../protocols/types.ts';
import { relayedHeaders } from '../transport/headers.ts';
import type { IdleWatchdog } from '../transport/idle-watchdog.ts';
import { startIdleWatchdog } from '../transport/idle-watchdog.ts';
import { mapTransportError, readBody, sendUpstream } from '../transport/send.ts';
import type { UpstreamResponse } from '../transport/send.ts';
import { buildUpstreamCall } from './build-request.ts';
import type { UpstreamCall } from './build-request.ts';
import { upstreamReason } from './classify-outcome.ts';
import type { InstanceRuntime } from './instance-runtime.ts';
import type { Plan } from './plan.ts';
import { relayStream } from './relay-stream.ts';
import { relayOf, respondJson } from './respond-json.ts';
import type { Relay } from './respond-json.ts';
import type { RequestPlan } from './request-context.ts';

/** Everything one attempt produced: the pipeline's `settle` applies it to the access record and the instance. */
export interface AttemptResult {
  /** `responded`: the client got its answer (a stream may still have failed after its commit point). */
  kind: 'responded' | 'failed';
  instance: string;
  upstreamProtocol: string;
  /** What the client got (200, 499…), or the failure's status. */
  status: number;
  durationMs: number;
  /** Why it failed or how a stream ended badly, for the access log (scrubbed). */
  reason: string | undefined;
  /** Set when it failed, or when a stream failed after its commit point or its client left. */
  error: GatewayError | undefined;
  /** The model sent, or the one the answer names. */
  model: string | undefined;
  /** The model sent upstream (undefined when building the request failed). */
  sentModel?: string | undefined;
  usage: Usage | undefined;
  /** What the answer cost in USD (its usage priced); undefined when unknown or there was no usage. */
  costUsd?: number;
  /** The answer called a tool; undefined when no answer was read. */
  toolCalls?: boolean;
  /** From the start of the client request to the first byte of a stream the client got. */
  ttftMs: number | undefined;
  /** From the start of the attempt to the whole answer, or to a stream's first content. */
  latencyMs: number | undefined;
  /** Generated text, with `logging.payloads`. */
  text: string | undefined;
  /** What the client gets if this failure turns out to be the only attempt. */
  relay: Relay | undefined;
}

const MAX_ERROR_BODY = 1024 * 1024;

function flatHeaders(headers: UpstreamResponse['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** Errors whose text came from elsewhere (a token endpoint, a transport) leave the attempt scrubbed. */
function scrubbed(err: GatewayError, scrubber: SecretScrubber): GatewayError {
  const clean = scrubber.scrub(err.message);
  if (clean === err.message) return err;
  return new GatewayError(err.code, err.status, clean, { kind: err.kind, headers: err.headers });
}

/** Building the request failed: a coded error stays what it is; anything else is the gateway's own bug. */
function buildFailure(err: unknown, instance: string, signal: AbortSignal): GatewayError {
  if (err instanceof GatewayError) return err;
  if (signal.aborted && signal.reason instanceof GatewayError) return signal.reason;
  const what = err instanceof RangeError ? 'the request is too deeply nested or too large to serialise' : 'internal error';
  return new InternalError(`could not build the request for instance ${instance}: ${what}`, err);
}

function declaredLength(headers: Record<string, string>): number | undefined {
  const value = headers['content-length'];
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

/** One attempt inside its own trace span, whose context goes upstream as `traceparent`. */
export async function runAttempt(request: RequestPlan, instance: InstanceRuntime, plan: Plan): Promise<AttemptResult> {
  const trace = request.trace;
  if (trace === undefined || trace === noRequestTrace) return attemptOnce(request, instance, plan, noAttemptTrace);
  const target = instance.target;
  const span = trace.attempt({
    instance: instance.name,
    provider: target.provider.genAiName ?? target.provider.name,
    upstreamProtocol: plan.upstream,
    origin: target.origin,
    method: plan.converter ? 'POST' : (request.ctx.req.method ?? 'POST'),
  });
  const result = await attemptOnce(request, instance, plan, span);
  const error = result.error;
  span.end({
    status: result.status,
    failed: result.kind === 'failed',
    requestModel: result.sentModel,
    responseModel: result.model,
    inputTokens: result.usage?.prompt_tokens,
    outputTokens: result.usage?.completion_tokens,
    errorCode: error?.code,
    // A client that left mid-stream is logged 499; the provider had answered 200.
    upstreamStatus: error instanceof UpstreamStatusError ? error.upstreamStatus : result.kind === 'responded' ? (result.status === 499 ? 200 : result.status) : undefined,
    errorMessage: error?.message,
  });
  return result;
}

async function attemptOnce(request: RequestPlan, instance: InstanceRuntime, plan: Plan, span: AttemptTrace): Promise<AttemptResult> {
  const { ctx, stream, clientSignal } = request;
  const plugin = ctx.route.config.plugin;
  const scrubber = ctx.route.scrubber;
  const name = instance.name;
  const started = performance.now();
  // One signal per attempt: the client leaving, the idle watchdog (`timeout`) and the stream cap end it.
  const attempt = new AbortController();
  const signal = attempt.signal;
  const onClientAbort = (): void => attempt.abort(clientSignal.reason);
  if (clientSignal.aborted) attempt.abort(clientSignal.reason);
  else clientSignal.addEventListener('abort', onClientAbort, { once: true });
  let watchdog: IdleWatchdog | undefined;
  let capTimer: NodeJS.Timeout | undefined;
  let firstToken = (): void => undefined;
  let slot = false;
  let model: string | undefined;
  let sentModel: string | undefined;

  const result = (kind: AttemptResult['kind'], status: number, more: Partial<AttemptResult> = {}): AttemptResult => ({
    kind,
    instance: name,
    upstreamProtocol: plan.upstream,
    status,
    durationMs: round(performance.now() - started),
    reason: undefined,
    error: undefined,
    model,
    sentModel,
    usage: undefined,
    costUsd: undefined,
    toolCalls: undefined,
    ttftMs: undefined,
    latencyMs: undefined,
    text: undefined,
    relay: undefined,
    ...more,
  });
  const failed = (error: GatewayError, more: Partial<AttemptResult> = {}): AttemptResult => {
    const clean = scrubbed(error, scrubber);
    return result('failed', clean.status, { error: clean, reason: clean.message, ...more });
  };

  instance.attemptStarted();
  try {
    let waited = 0;
    if (instance.gate) {
      try {
        waited = await instance.gate.acquire(signal, plugin.timeout);
        slot = true;
      } catch (err) {
        return failed(mapTransportError(err, name, plugin.timeout, signal));
      }
    }
    // One watchdog, one limit per phase (docs/architecture.md, "Upstream timeouts"): connecting
    // (`connect_timeout`), each write of the body (`send_timeout`), then the wait for the answer and
    // each gap in it (`read_timeout`). Unset, each is `timeout`, whose first wait also pays for the queue.
    const expireIn = (ms: number, phase: string) => (): void => attempt.abort(new UpstreamTimeoutError(name, ms, { phase }));
    const connectFirst = plugin.connect_timeout === plugin.timeout ? plugin.timeout - waited : plugin.connect_timeout;
    watchdog = startIdleWatchdog(plugin.connect_timeout, expireIn(plugin.connect_timeout, 'connecting (connect_timeout)'), connectFirst);
    let tokenTimer: NodeJS.Timeout | undefined;
    const reading = (): void => {
      watchdog?.phase(plugin.read_timeout, expireIn(plugin.read_timeout, 'waiting for the answer (read_timeout)'));
      if (stream && plugin.first_token_timeout > 0 && tokenTimer === undefined) {
        const ms = plugin.first_token_timeout;
        tokenTimer = setTimeout(() => attempt.abort(new UpstreamTimeoutError(name, ms, { what: 'sent no content', phase: '(first_token_timeout)' })), ms);
      }
    };
    firstToken = (): void => {
      if (tokenTimer) clearTimeout(tokenTimer);
    };
    // Watching the body go out costs a stream per request: only when a phase has a limit of its own.
    // With every phase at `timeout` and no first-token limit, one limit from connect to answer is the same.
    const phased =
      plugin.connect_timeout !== plugin.read_timeout || plugin.send_timeout !== plugin.read_timeout || (stream && plugin.first_token_timeout > 0);
    const phases = phased
      ? {
          onConnected: () => watchdog?.phase(plugin.send_timeout, expireIn(plugin.send_timeout, 'writing the request (send_timeout)')),
          onProgress: () => watchdog?.touch(),
          onSent: reading,
        }
      : undefined;
    if (stream && plugin.max_stream_duration_ms > 0) {
      const cap = plugin.max_stream_duration_ms;
      capTimer = setTimeout(() => attempt.abort(new UpstreamTimeoutError(name, cap, { what: 'exceeded max_stream_duration_ms' })), cap);
    }

    let call: UpstreamCall;
    try {
      call = await buildUpstreamCall(
        {
          requestId: ctx.reqId,
          body: ctx.body,
          raw: ctx.raw,
          pathAndQuery: ctx.pathAndQuery,
          method: ctx.req.method ?? 'POST',
          headers: ctx.req.headers,
          model: request.requestModel,
          stream,
          usageEvents: ctx.protocol.usageEvents,
          traceHeaders: span.headers,
        },
        instance,
        plan,
        plugin,
        signal,
      );
    } catch (err) {
      return failed(buildFailure(err, name, signal));
    }
    model = call.model;
    // Without a body there is no write to watch: the connection and the answer share `read_timeout`.
    if (call.body.length === 0) reading();
    sentModel = call.model;

    let upstream: UpstreamResponse;
    try {
      upstream = await sendUpstream(
        instance.pool,
        { method: call.method, path: call.path, headers: call.headers, body: call.body, signal, keepalive: plugin.keepalive, ...(phases && { phases }) },
        name,
        plugin.timeout,
        plugin.connect_timeout,
      );
    } catch (err) {
      return failed(mapTransportError(err, name, plugin.timeout, signal));
    }
    // The answer's headers came, so the request was sent whatever the body hooks saw.
    reading();
    watchdog.touch();

    const headers = flatHeaders(upstream.headers);
    const status = upstream.statusCode;
    instance.quota.observe(headers);
    if (status < 200 || status >= 300) {
      let errorBody: Buffer;
      try {
        // Upstream text enters the gateway here: scrubbed before anything reads it.
        errorBody = scrubber.scrubBuffer(await readBody(upstream.body, MAX_ERROR_BODY, name, signal, watchdog.touch));
      } catch (err) {
        return failed(err instanceof UpstreamTooLargeError ? new UpstreamStatusError(name, status, Buffer.alloc(0), headers) : mapTransportError(err, name, plugin.timeout, signal));
      }
      if (status === 401) instance.target.authorizer?.invalidate?.();
      const detail = upstreamReason(errorBody);
      return failed(new UpstreamStatusError(name, status, errorBody, headers), {
        relay: relayOf(ctx.protocol, plan, status, headers, errorBody),
        reason: detail ? `HTTP ${status}: ${detail}` : `HTTP ${status}`,
      });
    }

    const declared = declaredLength(headers);
    if (declared !== undefined && declared > plugin.max_response_bytes) {
      // Refused before reading a byte of it.
      upstream.body.destroy();
      return failed(new UpstreamTooLargeError(name, plugin.max_response_bytes, declared));
    }

    const upstreamProtocol = plan.upstreamProtocol ?? ctx.protocol;
    if (stream && (headers['content-type'] ?? '').includes(upstreamProtocol.streamContentType)) {
      const clientHeaders = relayedHeaders(upstream.headers);
      if (plan.converter) clientHeaders['content-type'] = ctx.protocol.streamContentType;
      clientHeaders['cache-control'] = 'no-cache';
      clientHeaders['x-accel-buffering'] = 'no';
      let ttftMs: number | undefined;
      let latencyMs: number | undefined;
      const relayed = await relayStream({
        res: ctx.res,
        body: upstream.body,
        instance: name,
        headers: clientHeaders,
        decoder: upstreamProtocol.createDecoder(),
        observer: upstreamProtocol.createStreamObserver(plugin.logging.payloads),
        converter: plan.converter?.stream?.(call.conversion),
        encode: ctx.protocol.encodeEvent,
        errorFrame: ctx.protocol.streamErrorFrame,
        dropUsageEvents: call.dropUsageEvents,
        isUsageOnly: ctx.protocol.usageEvents?.isUsageOnly ?? (() => false),
        signal,
        clientSignal,
        timeoutMs: plugin.timeout,
        maxBytes: plugin.max_response_bytes,
        onChunk: watchdog.touch,
        scrub: (text) => scrubber.scrub(text),
        onCommit: () => {
          firstToken();
          const now = performance.now();
          ttftMs = round(now - ctx.started);
          latencyMs = now - started;
        },
      });
      // A stream's cost is known when its usage arrives, at its end: after its headers went out.
      const answer: Partial<AttemptResult> = {
        usage: relayed.usage,
        costUsd: relayed.usage ? instance.costOf(relayed.usage, relayed.model ?? model) : undefined,
        toolCalls: relayed.toolCalls,
        ttftMs,
        latencyMs,
        ...(relayed.model && { model: relayed.model }),
        ...(plugin.logging.payloads && { text: relayed.text }),
      };
      if (!relayed.committed) {
        return failed(relayed.error ?? new UpstreamStreamError(name, `instance ${name} ended the stream before any content`), answer);
      }
      const left = relayed.error?.code === 'CLIENT_ABORTED';
      return result('responded', left ? 499 : 200, { ...answer, error: relayed.error, reason: relayed.error?.message });
    }

    let payload: Buffer;
    try {
      payload = await readBody(upstream.body, plugin.max_response_bytes, name, signal, watchdog.touch);
    } catch (err) {
      return failed(mapTransportError(err, name, plugin.timeout, signal));
    }
    watchdog.stop();
    const sent = respondJson(ctx, plan, call, status, headers, payload, {
      costOf: (usage, answerModel) => instance.costOf(usage, answerModel),
      expose: plugin.expose_instance_headers,
    });
    if (sent.error) return failed(sent.error);
    return result('responded', status, {
      usage: sent.usage,
      costUsd: sent.costUsd,
      toolCalls: sent.toolCalls,
      latencyMs: performance.now() - started,
      ...(sent.model && { model: sent.model }),
      ...(plugin.logging.payloads && { text: sent.text }),
    });
  } finally {
    watchdog?.stop();
    firstToken();
    if (capTimer) clearTimeout(capTimer);
    clientSignal.removeEventListener('abort', onClientAbort);
    if (slot) instance.gate?.release();
    instance.attemptEnded();
  }
}

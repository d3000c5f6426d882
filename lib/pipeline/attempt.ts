import { performance } from 'node:perf_hooks';
import {
  GatewayError,
  InternalError,
  UpstreamStatusError,
  UpstreamStreamError,
  UpstreamTimeoutError,
  UpstreamTooLargeError,
} from '../errors.ts';
import type { AccessRecord, AttemptLog } from '../observe/access-log.ts';
import { roundMs as round } from '../observe/access-log.ts';
import type { SecretScrubber } from '../observe/secret-scrubber.ts';
import type { ClientEvent } from '../protocols/converters/converter.ts';
import type { Usage } from '../protocols/types.ts';
import { isJsonObject } from '../protocols/types.ts';
import { createEventStreamDecoder } from '../transport/aws-event-stream.ts';
import { relayedHeaders } from '../transport/headers.ts';
import type { IdleWatchdog } from '../transport/idle-watchdog.ts';
import { startIdleWatchdog } from '../transport/idle-watchdog.ts';
import { mapTransportError, readBody, sendUpstream } from '../transport/send.ts';
import type { UpstreamResponse } from '../transport/send.ts';
import { createSseDecoder } from '../transport/sse-decoder.ts';
import { buildUpstreamCall } from './build-request.ts';
import type { UpstreamCall } from './build-request.ts';
import { upstreamReason } from './classify-outcome.ts';
import type { RequestContext } from './handle-request.ts';
import type { Plan } from './plan.ts';
import { relayStream } from './relay-stream.ts';
import { relayOf, respondJson } from './respond-json.ts';
import type { Relay } from './respond-json.ts';
import type { InstanceRuntime } from './route-runtime.ts';
import { recordLatency } from './route-runtime.ts';

export type AttemptOutcome =
  /** The client got its answer; `error` when a stream failed after the commit point or the client left. */
  | { kind: 'responded'; log: AttemptLog; error?: GatewayError }
  | { kind: 'failed'; error: GatewayError; log: AttemptLog; relay?: Relay };

const MAX_ERROR_BODY = 1024 * 1024;

function flatHeaders(headers: UpstreamResponse['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function isStreamType(contentType: string): boolean {
  return contentType.includes('text/event-stream') || contentType.includes('application/vnd.amazon.eventstream');
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

export async function runAttempt(
  ctx: RequestContext,
  instance: InstanceRuntime,
  plan: Plan,
  stream: boolean,
  clientSignal: AbortSignal,
  record: AccessRecord,
): Promise<AttemptOutcome> {
  const plugin = ctx.route.config.plugin;
  const scrubber = ctx.route.scrubber;
  const name = instance.config.name;
  const started = performance.now();
  const stats = instance.stats;
  // One signal per attempt: the client leaving, the idle watchdog (`timeout`) and the stream cap end it.
  const attempt = new AbortController();
  const signal = attempt.signal;
  const onClientAbort = (): void => attempt.abort(clientSignal.reason);
  if (clientSignal.aborted) attempt.abort(clientSignal.reason);
  else clientSignal.addEventListener('abort', onClientAbort, { once: true });
  let watchdog: IdleWatchdog | undefined;
  let capTimer: NodeJS.Timeout | undefined;
  let slot = false;

  const log = (status: number, reason?: string): AttemptLog => ({
    instance: name,
    status,
    ...(reason !== undefined && { reason }),
    duration_ms: round(performance.now() - started),
  });
  const failed = (error: GatewayError, relay?: Relay, reason?: string): AttemptOutcome => {
    const clean = scrubbed(error, scrubber);
    return { kind: 'failed', error: clean, log: log(clean.status, reason ?? clean.message), ...(relay && { relay }) };
  };

  record.instance = name;
  record.upstream_protocol = plan.upstream;
  stats.inFlight += 1;
  stats.requests += 1;
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
    // `timeout` bounds each wait for the upstream; the first one also pays for the queue.
    watchdog = startIdleWatchdog(plugin.timeout, () => attempt.abort(new UpstreamTimeoutError(name, plugin.timeout)), plugin.timeout - waited);
    if (stream && plugin.max_stream_duration_ms > 0) {
      const cap = plugin.max_stream_duration_ms;
      capTimer = setTimeout(() => attempt.abort(new UpstreamTimeoutError(name, cap, { what: 'exceeded max_stream_duration_ms' })), cap);
    }

    let call: UpstreamCall;
    try {
      call = await buildUpstreamCall(
        {
          body: ctx.body,
          raw: ctx.raw,
          pathAndQuery: ctx.pathAndQuery,
          headers: ctx.req.headers,
          model: record.request_llm_model,
          stream,
        },
        instance,
        plan,
        plugin,
        signal,
      );
    } catch (err) {
      return failed(buildFailure(err, name, signal));
    }
    record.llm_model = call.model;

    let upstream: UpstreamResponse;
    try {
      upstream = await sendUpstream(
        instance.pool,
        { path: call.path, headers: call.headers, body: call.body, signal, keepalive: plugin.keepalive },
        name,
        plugin.timeout,
      );
    } catch (err) {
      return failed(mapTransportError(err, name, plugin.timeout, signal));
    }
    watchdog.touch();

    const headers = flatHeaders(upstream.headers);
    const contentType = headers['content-type'] ?? '';
    if (upstream.statusCode < 200 || upstream.statusCode >= 300) {
      let errorBody: Buffer;
      try {
        // Upstream text enters the gateway here: scrubbed before anything reads it.
        errorBody = scrubber.scrubBuffer(await readBody(upstream.body, MAX_ERROR_BODY, name, signal, watchdog.touch));
      } catch (err) {
        return failed(err instanceof UpstreamTooLargeError ? new UpstreamStatusError(name, upstream.statusCode, Buffer.alloc(0), headers) : mapTransportError(err, name, plugin.timeout, signal));
      }
      if (upstream.statusCode === 401) instance.target.authorizer?.invalidate?.();
      const detail = upstreamReason(errorBody);
      return failed(
        new UpstreamStatusError(name, upstream.statusCode, errorBody, headers),
        relayOf(ctx.protocol, plan, upstream.statusCode, headers, errorBody),
        detail ? `HTTP ${upstream.statusCode}: ${detail}` : `HTTP ${upstream.statusCode}`,
      );
    }

    const declared = declaredLength(headers);
    if (declared !== undefined && declared > plugin.max_response_bytes) {
      // Refused before reading a byte of it.
      upstream.body.destroy();
      return failed(new UpstreamTooLargeError(name, plugin.max_response_bytes, declared));
    }

    if (stream && isStreamType(contentType)) {
      const upstreamProtocol = plan.upstreamProtocol ?? ctx.protocol;
      const clientHeaders = relayedHeaders(upstream.headers);
      if (plan.converter) clientHeaders['content-type'] = ctx.protocol.streamContentType;
      clientHeaders['cache-control'] = 'no-cache';
      clientHeaders['x-accel-buffering'] = 'no';
      const result = await relayStream({
        res: ctx.res,
        body: upstream.body,
        instance: name,
        headers: clientHeaders,
        decoder: upstreamProtocol.framing === 'aws-event-stream' ? createEventStreamDecoder() : createSseDecoder(),
        observer: upstreamProtocol.createStreamObserver(plugin.logging.payloads),
        converter: plan.converter?.stream?.(call.conversion),
        encode: plan.converter && !clientWantsUsage(ctx) ? withoutUsageChunks(ctx.protocol.encodeEvent) : ctx.protocol.encodeEvent,
        errorFrame: ctx.protocol.streamErrorFrame,
        stripUsageChunk: call.stripUsageChunk,
        signal,
        clientSignal,
        timeoutMs: plugin.timeout,
        maxBytes: plugin.max_response_bytes,
        onChunk: watchdog.touch,
        scrub: (text) => scrubber.scrub(text),
        onCommit: () => {
          record.ttft_ms = round(performance.now() - ctx.started);
          recordLatency(stats, performance.now() - started);
        },
      });
      applyUsage(record, instance, result.usage);
      if (result.model) record.llm_model = result.model;
      if (plugin.logging.payloads) record.response_text = result.text;
      if (!result.committed) return failed(result.error ?? new UpstreamStreamError(name, `instance ${name} ended the stream before any content`));
      record.status = 200;
      if (result.error?.code === 'CLIENT_ABORTED') {
        record.status = 499;
        return { kind: 'responded', log: log(499, result.error.message), error: result.error };
      }
      if (result.error) record.error = result.error.message;
      return { kind: 'responded', log: log(200, result.error?.message), ...(result.error && { error: result.error }) };
    }

    let payload: Buffer;
    try {
      payload = await readBody(upstream.body, plugin.max_response_bytes, name, signal, watchdog.touch);
    } catch (err) {
      return failed(mapTransportError(err, name, plugin.timeout, signal));
    }
    watchdog.stop();
    const sent = respondJson(ctx, plan, call, upstream.statusCode, headers, payload);
    if (sent.error) return failed(sent.error);
    applyUsage(record, instance, sent.usage);
    if (sent.model) record.llm_model = sent.model;
    if (plugin.logging.payloads) record.response_text = sent.text;
    recordLatency(stats, performance.now() - started);
    record.status = upstream.statusCode;
    return { kind: 'responded', log: log(upstream.statusCode) };
  } finally {
    watchdog?.stop();
    if (capTimer) clearTimeout(capTimer);
    clientSignal.removeEventListener('abort', onClientAbort);
    if (slot) instance.gate?.release();
    stats.inFlight -= 1;
  }
}

/** An OpenAI chat client sees a usage-only chunk only when it asked for one (`stream_options.include_usage`). */
function clientWantsUsage(ctx: RequestContext): boolean {
  if (ctx.protocol.name !== 'openai-chat') return true;
  const options = ctx.body['stream_options'];
  return isJsonObject(options) && options['include_usage'] === true;
}

function withoutUsageChunks(encode: (event: ClientEvent) => string | Uint8Array): (event: ClientEvent) => string | Uint8Array {
  return (event) => {
    const data = event.data;
    if (isJsonObject(data) && Array.isArray(data['choices']) && data['choices'].length === 0 && data['usage'] != null) return '';
    return encode(event);
  };
}

function applyUsage(record: AccessRecord, instance: InstanceRuntime, usage: Usage | undefined): void {
  if (!usage) return;
  record.prompt_tokens = usage.prompt_tokens;
  record.completion_tokens = usage.completion_tokens;
  record.total_tokens = usage.total_tokens;
  if (usage.cached_tokens !== undefined) record.cached_tokens = usage.cached_tokens;
  if (usage.reasoning_tokens !== undefined) record.reasoning_tokens = usage.reasoning_tokens;
  instance.stats.promptTokens += usage.prompt_tokens;
  instance.stats.completionTokens += usage.completion_tokens;
}

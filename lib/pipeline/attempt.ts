import { performance } from 'node:perf_hooks';
import type { GatewayError } from '../errors.ts';
import { GatewayError as BaseError, UpstreamStatusError, UpstreamTimeoutError } from '../errors.ts';
import type { AccessRecord, AttemptLog } from '../observe/access-log.ts';
import { roundMs as round } from '../observe/access-log.ts';
import { scrubSecrets } from '../observe/logger.ts';
import { buildUpstreamBody } from '../providers/request-body.ts';
import { renderError } from '../protocols/render-error.ts';
import type { Usage } from '../protocols/types.ts';
import { relayedHeaders, upstreamHeaders } from '../transport/headers.ts';
import { mapTransportError, readBody, sendUpstream } from '../transport/send.ts';
import type { UpstreamResponse } from '../transport/send.ts';
import { upstreamReason } from './classify-outcome.ts';
import { sendWhole } from './client-writer.ts';
import type { RequestContext } from './handle-request.ts';
import { relayStream } from './relay-stream.ts';
import type { InstanceRuntime } from './route-runtime.ts';
import { recordLatency } from './route-runtime.ts';

/** What the client would get if this failure turns out to be the only attempt. */
export interface Relay {
  status: number;
  headers: Record<string, string>;
  body: Buffer | string;
}

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

function secretsOf(instance: InstanceRuntime): string[] {
  const auth = instance.config.auth;
  return [...Object.values(auth.header), ...Object.values(auth.query)].flatMap((v) => [v, v.replace(/^Bearer\s+/i, '')]);
}

export async function runAttempt(
  ctx: RequestContext,
  instance: InstanceRuntime,
  stream: boolean,
  clientSignal: AbortSignal,
  record: AccessRecord,
): Promise<AttemptOutcome> {
  const plugin = ctx.route.config.plugin;
  const name = instance.config.name;
  const started = performance.now();
  const stats = instance.stats;
  // A composite signal costs a listener pair per request: only streams with a duration cap need one.
  let signal = clientSignal;
  let timer: NodeJS.Timeout | undefined;
  if (stream && plugin.max_stream_duration_ms > 0) {
    const deadline = new AbortController();
    signal = AbortSignal.any([clientSignal, deadline.signal]);
    const cap = plugin.max_stream_duration_ms;
    timer = setTimeout(() => deadline.abort(new UpstreamTimeoutError(name, cap)), cap);
  }
  const log = (status: number, reason?: string): AttemptLog => ({
    instance: name,
    status,
    ...(reason !== undefined && { reason: scrubSecrets(reason, secretsOf(instance)) }),
    duration_ms: round(performance.now() - started),
  });
  const failed = (error: GatewayError, relay?: Relay): AttemptOutcome => ({
    kind: 'failed',
    error,
    log: log(error.status, error.message),
    ...(relay && { relay }),
  });

  const body = buildUpstreamBody(ctx.body, ctx.raw, ctx.protocol.name, instance.config, instance.target.provider);
  record.instance = name;
  record.upstream_protocol = ctx.protocol.name;
  record.llm_model = typeof body.json['model'] === 'string' ? body.json['model'] : record.request_llm_model;
  stats.inFlight += 1;
  stats.requests += 1;
  try {
    let upstream: UpstreamResponse;
    try {
      upstream = await sendUpstream(
        instance.pool,
        {
          path: instance.target.pathFor(ctx.protocol.name, ctx.pathAndQuery),
          headers: upstreamHeaders(ctx.req.headers, instance.target.authHeaders, plugin.forward_client_credentials),
          body: body.bytes,
          signal,
          keepalive: plugin.keepalive,
        },
        name,
        plugin.timeout,
      );
    } catch (err) {
      return failed(err as GatewayError);
    }

    const headers = flatHeaders(upstream.headers);
    const contentType = headers['content-type'] ?? '';
    if (upstream.statusCode < 200 || upstream.statusCode >= 300) {
      let errorBody: Buffer;
      try {
        errorBody = await readBody(upstream.body, MAX_ERROR_BODY, name);
      } catch (err) {
        return failed(mapTransportError(err, name, plugin.timeout, signal));
      }
      const error = new UpstreamStatusError(name, upstream.statusCode, errorBody, headers);
      const outcome = failed(error, relayOf(ctx, upstream.statusCode, headers, errorBody));
      outcome.log.reason = scrubSecrets(
        upstreamReason(errorBody) ? `HTTP ${upstream.statusCode}: ${upstreamReason(errorBody)}` : `HTTP ${upstream.statusCode}`,
        secretsOf(instance),
      );
      return outcome;
    }

    const clientHeaders = relayedHeaders(upstream.headers);
    if (stream && contentType.includes('text/event-stream')) {
      clientHeaders['cache-control'] = 'no-cache';
      clientHeaders['x-accel-buffering'] = 'no';
      const result = await relayStream({
        res: ctx.res,
        body: upstream.body,
        protocol: ctx.protocol,
        instance: name,
        headers: clientHeaders,
        stripUsageChunk: body.stripUsageChunk,
        capturePayload: plugin.logging.payloads,
        signal,
        timeoutMs: plugin.timeout,
        onCommit: () => {
          const ttft = performance.now() - ctx.started;
          record.ttft_ms = round(ttft);
          recordLatency(stats, performance.now() - started);
        },
      });
      applyUsage(record, instance, result.usage);
      if (result.model) record.llm_model = result.model;
      if (plugin.logging.payloads) record.response_text = result.text;
      if (!result.committed) return failed(result.error ?? new BaseError('INTERNAL', 500, 'stream ended early'));
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
      payload = await readBody(upstream.body, plugin.max_response_bytes, name);
    } catch (err) {
      return failed(mapTransportError(err, name, plugin.timeout, signal));
    }
    if (contentType.includes('json')) {
      try {
        const parsed: unknown = JSON.parse(payload.toString('utf8'));
        applyUsage(record, instance, ctx.protocol.usageFromJson(parsed));
        record.llm_model = ctx.protocol.modelFromJson(parsed) ?? record.llm_model;
        if (plugin.logging.payloads) record.response_text = ctx.protocol.textFromJson(parsed);
      } catch {
        // Not JSON after all: relayed unchanged, nothing to count.
      }
    }
    recordLatency(stats, performance.now() - started);
    record.status = upstream.statusCode;
    sendWhole(ctx.res, upstream.statusCode, clientHeaders, payload);
    return { kind: 'responded', log: log(upstream.statusCode) };
  } finally {
    if (timer) clearTimeout(timer);
    stats.inFlight -= 1;
  }
}

function relayOf(ctx: RequestContext, status: number, headers: Record<string, string>, body: Buffer): Relay {
  const relayed = relayedHeaders(headers);
  if ((headers['content-type'] ?? '').includes('json') && upstreamReason(body) !== '') {
    return { status, headers: relayed, body };
  }
  // Not an error body the client's SDK could read (an HTML page from a proxy, say): say it in its protocol.
  const rendered = renderError(ctx.protocol.errorShape, new BaseError('UPSTREAM_STATUS', status, `upstream returned HTTP ${status}`));
  return { status, headers: { ...relayed, ...rendered.headers }, body: rendered.body };
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

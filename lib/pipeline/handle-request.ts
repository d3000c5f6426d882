import { performance } from 'node:perf_hooks';
import {
  GatewayError,
  InternalError,
  NoInstanceAvailableError,
  ProtocolNotSupportedError,
  ProviderQuotaExhaustedError,
  RateLimitedError,
  UpstreamStatusError,
} from '../errors.ts';
import type { Admission } from '../limits/request-limits.ts';
import type { AccessRecord } from '../observe/access-log.ts';
import { logAccess, roundMs } from '../observe/access-log.ts';
import { noRequestTrace } from '../observe/tracing.ts';
import { renderError } from '../protocols/render-error.ts';
import { runAttempt } from './attempt.ts';
import type { AttemptResult } from './attempt.ts';
import { clientGoneSignal, sendWhole } from './client-writer.ts';
import type { Charge } from './limit-charge.ts';
import { chargeOf } from './limit-charge.ts';
import type { FailedAttempt } from './final-failure.ts';
import { allAttemptsFailed } from './final-failure.ts';
import type { InstanceRuntime } from './instance-runtime.ts';
import type { RequestContext, RequestPlan } from './request-context.ts';
import { recordAttempt, settle } from './settle.ts';

export type { RequestContext };

// How long the request that finds a breaker newly half-open waits for this replica's trial lease.
const TRIAL_WAIT_MS = 250;

function isStaleCredential(result: AttemptResult, instance: InstanceRuntime): boolean {
  return (
    result.kind === 'failed' &&
    result.error instanceof UpstreamStatusError &&
    result.error.upstreamStatus === 401 &&
    instance.target.authorizer?.invalidate !== undefined
  );
}

/** One client request → N attempts → one response (docs/architecture.md#a-request-through-the-code). */
export async function handleRequest(ctx: RequestContext): Promise<void> {
  const { route, protocol, res } = ctx;
  const plugin = route.config.plugin;
  const stream = protocol.isStream(ctx.body, ctx.hash.path);
  const client = { signal: clientGoneSignal(res) };
  const requestModel = protocol.requestModel(ctx.body, ctx.hash.path);
  const requestType = protocol.requestType ?? (stream ? 'ai_stream' : 'ai_chat');
  const trace = !route.tracing.enabled ? noRequestTrace : route.tracing.startRequest({
    method: ctx.req.method ?? 'POST',
    path: ctx.hash.path,
    route: route.config.id,
    exactRoute: route.config.exact.includes(ctx.hash.path),
    headers: ctx.req.headers,
    requestType,
    clientProtocol: protocol.name,
    requestModel,
    stream,
    clientAddress: ctx.hash.remoteAddr,
    startTime: performance.timeOrigin + ctx.started,
  });
  const request: RequestPlan = { ctx, stream, requestModel, clientSignal: client.signal, trace };

  const record: AccessRecord = {
    route: route.config.id,
    method: ctx.req.method ?? 'POST',
    path: ctx.hash.path,
    client_ip: ctx.hash.remoteAddr,
    status: 0,
    request_type: requestType,
    client_protocol: protocol.name,
    request_llm_model: request.requestModel,
    llm_stream: stream,
    attempts: [],
    fallbacks: 0,
    duration_ms: 0,
  };
  const toolCount = protocol.toolCount(ctx.body);
  if (toolCount !== undefined) record.llm_tool_count = toolCount;
  const endUser = protocol.endUserId(ctx.body);
  if (endUser !== undefined) record.llm_end_user_id = endUser;
  if (plugin.logging.payloads) record.request_body = ctx.body;
  const consumer = ctx.consumer;
  if (consumer) record.consumer = consumer.name;
  // Token limits need a charge even without usage; without any limit nothing is estimated or logged.
  const limited = route.config.rate_limiting !== null || route.limits.applies(consumer);
  let admission: Admission | undefined;
  let charged: Charge | undefined;

  const tried = new Set<string>();
  const failures: FailedAttempt[] = [];
  let last: { result: AttemptResult; instance: InstanceRuntime } | undefined;
  const maxAttempts = 1 + plugin.max_retries;

  try {
    if (route.limits.applies(consumer)) {
      admission = await route.limits.admit(consumer, ctx.hash);
      for (const [name, value] of Object.entries(admission.headers)) res.setHeader(name, value);
    }
    // Semantic balancing names the instance to try first; fallback after it is the usual pick.
    let prefer: string | undefined;
    if (route.semantic) {
      const choice = await route.semantic.choose(protocol.lastUserText(ctx.body), client.signal, ctx.log);
      prefer = choice.instance;
      if (route.semantic.debugging) {
        ctx.log.info({ semantic: choice.detail }, `semantic balancing: ${choice.detail}`);
        res.setHeader('x-ai-proxy-semantic', choice.detail);
      }
    }
    while (tried.size < maxAttempts && !client.signal.aborted) {
      const elapsed = performance.now() - ctx.started;
      if (tried.size > 0 && plugin.retry_on_failure_within_ms > 0 && elapsed >= plugin.retry_on_failure_within_ms) break;
      let instance = route.pick(tried, protocol.name, ctx.hash, tried.size === 0 ? prefer : undefined);
      // A breaker that just turned half-open is asking for its trial lease: wait for the answer rather
      // than refuse the request that found it.
      if (!instance && (await route.awaitTrial(tried, protocol.name, TRIAL_WAIT_MS))) instance = route.pick(tried, protocol.name, ctx.hash);
      if (!instance) break;
      if (last) {
        const prev = failures[failures.length - 1];
        ctx.log.warn(
          { instance: prev?.instance, next: instance.name, status: prev?.status },
          `instance ${prev?.instance} returned ${prev?.status} (${prev?.reason}), falling back to ${instance.name}`,
        );
        record.fallbacks += 1;
        last.instance.fellBack();
      }
      tried.add(instance.name);

      const plan = instance.plans.get(protocol.name);
      if (!plan) break; // the balancer only picks instances that have a plan
      if (plugin.expose_instance_headers) {
        // Sent with whatever this attempt answers; a final error after several attempts takes them off.
        res.setHeader('x-ai-proxy-instance', instance.name);
        res.setHeader('x-ai-proxy-attempts', String(tried.size));
      }
      let result = await runAttempt(request, instance, plan);
      if (isStaleCredential(result, instance) && !client.signal.aborted) {
        // A 401 with a cached token (Vertex): the token was dropped; one more try with a fresh one.
        recordAttempt(record, result);
        result = await runAttempt(request, instance, plan);
      }
      const verdict = settle(record, instance, result, plugin.fallback, ctx.log);
      const charge = limited ? chargeOf(result, ctx.raw.length, ctx.log) : undefined;
      if (charge) {
        charged = charge;
        // Synchronous on this replica: the next pick already sees it (the fleet's total follows).
        void route.instanceLimits.charge(instance.name, charge.usage);
        if (charge.estimated) {
          record.usage_estimated = true;
          if (record.cost_usd === undefined) {
            const cost = instance.costOf(charge.usage, result.model ?? request.requestModel);
            if (cost !== undefined) charged = { ...charge, costUsd: cost };
          }
        }
      }
      if (result.kind === 'responded' || !verdict || !result.error) return;
      failures.push({
        instance: instance.name,
        status: verdict.status,
        reason: verdict.reason,
        retryAfterSec: verdict.retryAfterSec,
        timedOut: verdict.timedOut,
      });
      last = { result, instance };
      if (!verdict.retryable) break;
    }

    if (client.signal.aborted) {
      record.status = 499;
      return;
    }
    if (!last) {
      const limitSec = route.limitWaitSec(tried, protocol.name);
      if (limitSec !== undefined) {
        throw new RateLimitedError(429, `every instance of route ${route.config.id} is over its rate limit`, { 'retry-after': String(limitSec) });
      }
      const waitMs = route.breakerWaitMs(tried, protocol.name);
      const quotaMs = route.quotaWaitMs(tried, protocol.name);
      if (quotaMs !== undefined) {
        throw new ProviderQuotaExhaustedError(
          `every instance of route ${route.config.id} is out of provider quota or held out by its circuit breaker`,
          Math.min(quotaMs, waitMs ?? Infinity),
        );
      }
      if (waitMs !== undefined) {
        throw new NoInstanceAvailableError(
          `every instance of route ${route.config.id} is held out by its circuit breaker`,
          Math.ceil(waitMs / 1000),
        );
      }
      const anyCapable = [...route.instances.values()].some((i) => i.plans.has(protocol.name));
      throw anyCapable
        ? new NoInstanceAvailableError(`no instance of route ${route.config.id} is available`)
        : new ProtocolNotSupportedError(`no instance of route ${route.config.id} serves ${protocol.name} requests`);
    }
    if (failures.length === 1 && last.result.relay) {
      // A single failed attempt: the client gets the provider's own answer.
      const relay = last.result.relay;
      record.status = relay.status;
      sendWhole(res, relay.status, relay.headers, relay.body);
      return;
    }
    throw failures.length === 1 && last.result.error ? last.result.error : allAttemptsFailed(failures);
  } catch (err) {
    const error = err instanceof GatewayError ? err : new InternalError('internal gateway error', err);
    if (!(err instanceof GatewayError)) ctx.log.error({ err }, 'unexpected error while handling a request');
    record.status = error.status;
    record.error = error.message;
    if (failures.length > 1) ctx.log.error({ attempts: failures.length }, `all instances failed for route ${route.config.id}`);
    if (!res.headersSent) res.removeHeader('x-ai-proxy-instance');
    const rendered = renderError(protocol.errorShape, error);
    sendWhole(res, rendered.status, rendered.headers, rendered.body);
  } finally {
    if (admission && charged) void admission.charge(charged.usage, record.cost_usd ?? charged.costUsd);
    record.duration_ms = roundMs(performance.now() - ctx.started);
    if (record.status === 0) record.status = client.signal.aborted ? 499 : res.statusCode;
    logAccess(ctx.log, record, { scrub: (text) => route.scrubber.scrub(text), maxBytes: plugin.logging.max_payload_bytes });
    ctx.metrics.observe(record);
    trace.end(record);
  }
}

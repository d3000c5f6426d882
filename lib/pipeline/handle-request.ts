import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { HashRequest } from '../balancer/hash-key.ts';
import { GatewayError, NoInstanceAvailableError, ProtocolNotSupportedError, UpstreamStatusError } from '../errors.ts';
import type { AccessRecord } from '../observe/access-log.ts';
import { logAccess, roundMs } from '../observe/access-log.ts';
import type { Logger } from '../observe/logger.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { ClientProtocol } from '../protocols/client-protocol.ts';
import { renderError } from '../protocols/render-error.ts';
import type { JsonObject } from '../protocols/types.ts';
import { ClientAbortedError } from '../transport/send.ts';
import { runAttempt } from './attempt.ts';
import type { AttemptOutcome } from './attempt.ts';
import { classifyOutcome } from './classify-outcome.ts';
import type { FailedAttempt } from './final-failure.ts';
import { allAttemptsFailed } from './final-failure.ts';
import { responseCompleted, sendWhole } from './client-writer.ts';
import type { InstanceRuntime, RouteRuntime } from './route-runtime.ts';
import type { FallbackPolicy } from '../config/types.ts';
import type { Classified } from './classify-outcome.ts';

/**
 * Feeds one attempt's outcome to the instance's breaker and counters; returns the verdict for a
 * failure, undefined for a success or a client that left.
 */
function settle(instance: InstanceRuntime, error: GatewayError | undefined, policy: FallbackPolicy): Classified | undefined {
  if (!error) {
    instance.breaker.onSuccess();
    return undefined;
  }
  if (error.code === 'CLIENT_ABORTED') {
    instance.breaker.onAbandoned();
    return undefined;
  }
  const verdict = classifyOutcome(error, policy);
  if (verdict.countsAsFailure) {
    instance.stats.failures += 1;
    instance.stats.lastError = { at: Date.now(), reason: verdict.reason };
    instance.breaker.onFailure(verdict.reason, verdict.status === 429 ? verdict.retryAfterSec : undefined);
  } else if (error.code === 'PROTOCOL_NOT_SUPPORTED') {
    // Could not be converted for this provider: it never reached the instance and says nothing about it.
    instance.breaker.onAbandoned();
  } else {
    // The instance answered; the request itself was at fault (a 400, say).
    instance.breaker.onSuccess();
  }
  return verdict;
}

function isStaleCredential(outcome: AttemptOutcome, instance: InstanceRuntime): boolean {
  return (
    outcome.kind === 'failed' &&
    outcome.error instanceof UpstreamStatusError &&
    outcome.error.upstreamStatus === 401 &&
    instance.target.authorizer?.invalidate !== undefined
  );
}

export interface RequestContext {
  reqId: string;
  req: IncomingMessage;
  res: ServerResponse;
  route: RouteRuntime;
  protocol: ClientProtocol;
  body: JsonObject;
  raw: Buffer;
  /** Path and query as the client sent them (passthrough forwards them). */
  pathAndQuery: string;
  hash: HashRequest;
  log: Logger;
  metrics: Metrics;
  started: number;
}

/** One client request → N upstream attempts → one response (design.md 3.2). */
export async function handleRequest(ctx: RequestContext): Promise<void> {
  const { route, protocol, res } = ctx;
  const plugin = route.config.plugin;
  const stream = protocol.isStream(ctx.body, ctx.hash.path);
  const client = new AbortController();
  res.on('close', () => {
    if (!responseCompleted(res)) client.abort(new ClientAbortedError());
  });

  const record: AccessRecord = {
    route: route.config.id,
    method: ctx.req.method ?? 'POST',
    path: ctx.hash.path,
    client_ip: ctx.hash.remoteAddr,
    status: 0,
    request_type: stream ? 'ai_stream' : 'ai_chat',
    client_protocol: protocol.name,
    request_llm_model: protocol.requestModel(ctx.body, ctx.hash.path),
    attempts: [],
    fallbacks: 0,
    duration_ms: 0,
  };
  if (plugin.logging.payloads) record.request_body = ctx.body;

  const tried = new Set<string>();
  const failures: FailedAttempt[] = [];
  let lastFailure: { error: GatewayError; outcome: AttemptOutcome } | undefined;
  const maxAttempts = 1 + plugin.max_retries;

  try {
    while (tried.size < maxAttempts && !client.signal.aborted) {
      const elapsed = performance.now() - ctx.started;
      if (tried.size > 0 && plugin.retry_on_failure_within_ms > 0 && elapsed >= plugin.retry_on_failure_within_ms) break;
      const instance = route.pick(tried, protocol.name, ctx.hash);
      if (!instance) break;
      if (lastFailure) {
        const prev = failures[failures.length - 1];
        ctx.log.warn(
          { instance: prev?.instance, next: instance.config.name, status: prev?.status },
          `instance ${prev?.instance} returned ${prev?.status} (${prev?.reason}), falling back to ${instance.config.name}`,
        );
        record.fallbacks += 1;
        const prevStats = prev ? route.instances.get(prev.instance)?.stats : undefined;
        if (prevStats) prevStats.fallbacks += 1;
      }
      tried.add(instance.config.name);

      const plan = instance.plans.get(protocol.name);
      if (!plan) break; // the balancer only picks instances that have a plan
      let outcome = await runAttempt(ctx, instance, plan, stream, client.signal, record);
      if (isStaleCredential(outcome, instance) && !client.signal.aborted) {
        // A 401 with a cached token (Vertex): the token was dropped; one more try with a fresh one.
        record.attempts.push(outcome.log);
        outcome = await runAttempt(ctx, instance, plan, stream, client.signal, record);
      }
      record.attempts.push(outcome.log);
      const verdict = settle(instance, outcome.error, plugin.fallback);
      if (outcome.kind === 'responded') return;
      if (!verdict) break; // the client left
      failures.push({
        instance: instance.config.name,
        status: verdict.status,
        reason: verdict.reason,
        retryAfterSec: verdict.retryAfterSec,
        timedOut: verdict.timedOut,
      });
      lastFailure = { error: outcome.error, outcome };
      if (!verdict.retryable) break;
    }

    if (client.signal.aborted) {
      record.status = 499;
      return;
    }
    if (!lastFailure) {
      const waitMs = route.breakerWaitMs(tried, protocol.name);
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
    if (failures.length === 1 && lastFailure.outcome.kind === 'failed' && lastFailure.outcome.relay) {
      // A single failed attempt: the client gets the provider's own answer.
      const relay = lastFailure.outcome.relay;
      record.status = relay.status;
      sendWhole(res, relay.status, relay.headers, relay.body);
      return;
    }
    throw failures.length === 1 ? lastFailure.error : allAttemptsFailed(failures);
  } catch (err) {
    const error = err instanceof GatewayError ? err : new GatewayError('INTERNAL', 500, 'internal gateway error', { cause: err });
    if (error.code === 'INTERNAL') ctx.log.error({ err }, 'unexpected error while handling a request');
    record.status = error.status;
    record.error = error.message;
    if (failures.length > 1) ctx.log.error({ attempts: failures.length }, `all instances failed for route ${route.config.id}`);
    const rendered = renderError(protocol.errorShape, error);
    sendWhole(res, rendered.status, rendered.headers, rendered.body);
  } finally {
    record.duration_ms = roundMs(performance.now() - ctx.started);
    if (record.status === 0) record.status = client.signal.aborted ? 499 : res.statusCode;
    logAccess(ctx.log, record);
    ctx.metrics.observe(record);
  }
}

import type { GatewayError } from '../errors.ts';
import { GatewayError as BaseError, InternalError, UpstreamMalformedError, UpstreamStreamError } from '../errors.ts';
import { formatUsd } from '../cost/cost-usd.ts';
import type { ClientProtocol } from '../protocols/client-protocol.ts';
import { renderError } from '../protocols/render-error.ts';
import type { Usage } from '../protocols/types.ts';
import { isJsonObject } from '../protocols/types.ts';
import { relayedHeaders } from '../transport/headers.ts';
import type { UpstreamCall } from './build-request.ts';
import { upstreamReason } from './classify-outcome.ts';
import { sendWhole } from './client-writer.ts';
import type { RequestContext } from './request-context.ts';
import type { Plan } from './plan.ts';

/** What the client would get if this failure turns out to be the only attempt. */
export interface Relay {
  status: number;
  headers: Record<string, string>;
  body: Buffer | string;
}

/**
 * An upstream error answer in the client's protocol: the provider's own body when it already has the
 * client's shape, else its message re-rendered in the client's shape with the same status.
 */
export function relayOf(client: ClientProtocol, plan: Plan, status: number, headers: Record<string, string>, body: Buffer): Relay {
  const relayed = relayedHeaders(headers);
  const reason = upstreamReason(body);
  if (plan.upstreamErrorShape === client.errorShape && (headers['content-type'] ?? '').includes('json') && reason !== '') {
    return { status, headers: relayed, body };
  }
  const rendered = renderError(client.errorShape, new BaseError('UPSTREAM_STATUS', status, reason || `upstream returned HTTP ${status}`));
  return { status, headers: { ...relayed, ...rendered.headers }, body: rendered.body };
}

export interface JsonAnswer {
  usage: Usage | undefined;
  /** What the answer cost in USD; undefined when unknown. */
  costUsd?: number;
  model: string | undefined;
  text: string | undefined;
  toolCalls?: boolean;
  /** The upstream answer could not be converted: nothing was sent, the attempt failed. */
  error?: GatewayError;
}

/** Prices an answer before it is sent; `expose` puts the cost in `x-ai-proxy-cost`. */
export interface AnswerPricing {
  costOf(usage: Usage, model: string | undefined): number | undefined;
  expose: boolean;
}

/** The cost of an answer, set as a header on it when the route exposes the gateway's headers. */
function priced(answer: JsonAnswer, model: string | undefined, pricing: AnswerPricing | undefined, headers: Record<string, string>): JsonAnswer {
  if (!answer.usage || !pricing) return answer;
  const cost = pricing.costOf(answer.usage, answer.model ?? model);
  if (cost === undefined) return answer;
  if (pricing.expose) headers['x-ai-proxy-cost'] = formatUsd(cost);
  return { ...answer, costUsd: cost };
}

/** Sends a non-streaming success: the upstream bytes as they are, or converted to the client's protocol. */
export function respondJson(
  ctx: RequestContext,
  plan: Plan,
  call: UpstreamCall,
  status: number,
  headers: Record<string, string>,
  payload: Buffer,
  pricing?: AnswerPricing,
): JsonAnswer {
  const clientHeaders = relayedHeaders(headers);
  let parsed: unknown;
  if ((headers['content-type'] ?? '').includes('json') || plan.converter) {
    try {
      parsed = JSON.parse(payload.toString('utf8'));
    } catch {
      parsed = undefined;
    }
  }
  if (!plan.converter) {
    const answer = priced(
      {
        usage: ctx.protocol.usageFromJson(parsed),
        model: ctx.protocol.modelFromJson(parsed),
        text: ctx.protocol.textFromJson(parsed),
        toolCalls: ctx.protocol.hasToolCalls(parsed),
      },
      call.model,
      pricing,
      clientHeaders,
    );
    sendWhole(ctx.res, status, clientHeaders, payload);
    return answer;
  }
  if (!isJsonObject(parsed)) {
    // The instance's fault: its answer is not what its protocol promises.
    const instance = call.instance;
    return { usage: undefined, model: undefined, text: undefined, error: new UpstreamStreamError(instance, `instance ${instance} answered ${status} with a body that is not a JSON object`) };
  }
  let converted: unknown;
  try {
    converted = plan.converter.response(parsed, call.conversion);
    if (ctx.protocol.finishConverted && isJsonObject(converted)) converted = ctx.protocol.finishConverted(converted, ctx.body);
  } catch (err) {
    return {
      usage: undefined,
      model: undefined,
      text: undefined,
      // A converter that says the answer is malformed blames the instance; any other throw is the gateway's bug.
      error:
        err instanceof UpstreamMalformedError
          ? new UpstreamMalformedError(`instance ${call.instance}: ${err.message}`)
          : new InternalError(`the answer of instance ${call.instance} could not be converted to ${ctx.protocol.name}`, err),
    };
  }
  clientHeaders['content-type'] = 'application/json';
  const answer = priced(
    {
      usage: plan.upstreamProtocol?.usageFromJson(parsed) ?? ctx.protocol.usageFromJson(converted),
      model: plan.upstreamProtocol?.modelFromJson(parsed) ?? ctx.protocol.modelFromJson(converted),
      text: ctx.protocol.textFromJson(converted),
      toolCalls: ctx.protocol.hasToolCalls(converted),
    },
    call.model,
    pricing,
    clientHeaders,
  );
  sendWhole(ctx.res, status, clientHeaders, JSON.stringify(converted));
  return answer;
}

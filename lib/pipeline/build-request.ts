import type { IncomingHttpHeaders } from 'node:http';
import type { PluginConfig } from '../config/types.ts';
import type { ClientProtocol } from '../protocols/client-protocol.ts';
import type { ConversionContext } from '../protocols/converters/converter.ts';
import { estimatePromptTokens } from '../protocols/prompt-tokens.ts';
import type { JsonObject } from '../protocols/types.ts';
import { buildUpstreamBody } from '../providers/request-body.ts';
import { upstreamHeaders } from '../transport/headers.ts';
import type { Plan } from './plan.ts';
import type { InstanceRuntime } from './instance-runtime.ts';

export interface UpstreamCall {
  /** The instance's name, for messages. */
  instance: string;
  /** The client's method when its body goes as it is (APISIX forwards it); POST for a converted one. */
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  /**
   * The one decision on usage-only stream events: the gateway always asks the upstream for usage, and
   * the client sees that event only when it asked for it itself. The relay applies it.
   */
  dropUsageEvents: boolean;
  /** The model sent (in the body or, for Bedrock and Vertex predict, in the path). */
  model: string | undefined;
  conversion: ConversionContext;
}

export interface ClientRequest {
  /** The gateway's id of this request, sent upstream as x-request-id. */
  requestId: string;
  body: JsonObject;
  raw: Buffer;
  pathAndQuery: string;
  method: string;
  headers: IncomingHttpHeaders;
  /** The model the client asked for. */
  model: string | undefined;
  stream: boolean;
  /** The client protocol's usage-only stream events, if it has such events. */
  usageEvents: ClientProtocol['usageEvents'];
}

/**
 * Everything one attempt sends, from a fresh copy of the client request: convert to the upstream
 * protocol when the plan says so, then `options` → `llm_options` → `request_body`, then URL and headers,
 * then per-request credentials (SigV4 signs the final bytes). Throws ProtocolNotSupportedError when the
 * request cannot be expressed for this provider.
 */
export async function buildUpstreamCall(
  client: ClientRequest,
  instance: InstanceRuntime,
  plan: Plan,
  plugin: PluginConfig,
  signal: AbortSignal,
): Promise<UpstreamCall> {
  const option = instance.config.options['model'];
  const model = typeof option === 'string' ? option : client.model;
  const conversion: ConversionContext = { model, stream: client.stream, request: client.body };
  // A body that goes as it is loses only what its provider would refuse (unsigned thinking).
  const trimmed = plan.converter ? undefined : plan.upstreamProtocol?.historyForUpstream?.(client.body);
  const source = plan.converter ? plan.converter.request(client.body, conversion) : (trimmed ?? client.body);
  const raw = plan.converter || trimmed ? undefined : client.raw;
  const target = instance.target;
  const built = buildUpstreamBody(source, raw, plan.upstream, instance.config, target.provider);
  const sentModel = typeof built.json['model'] === 'string' ? built.json['model'] : model;
  // Read by converters whose stream must state input tokens up front; computed only if one asks.
  let estimate: number | undefined;
  conversion.promptTokens = () => (estimate ??= estimatePromptTokens(built.json));

  const headers = upstreamHeaders(client.headers, target.authHeaders, plugin.forward_client_credentials);
  headers['x-request-id'] = client.requestId;
  for (const [name, value] of target.defaultHeaders) if (client.headers[name] === undefined) headers[name] = value;
  const path = target.pathFor(plan.upstream, { clientPathAndQuery: client.pathAndQuery, model: sentModel, stream: client.stream });
  if (target.authorizer) {
    const extra = await target.authorizer.headers(
      { method: plan.converter ? 'POST' : client.method, url: new URL(path, target.origin), headers, body: built.bytes },
      signal,
    );
    Object.assign(headers, extra);
  }
  return {
    instance: instance.config.name,
    method: plan.converter ? 'POST' : client.method,
    path,
    headers,
    body: built.bytes,
    dropUsageEvents: client.stream && client.usageEvents !== undefined && !client.usageEvents.requested(client.body),
    model: sentModel,
    conversion,
  };
}

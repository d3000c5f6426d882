import type { AwsCredentials, SignableRequest } from './auth/sigv4.ts';
import { defineProvider } from './define-provider.ts';
import { GatewayError } from '../errors.ts';
import { preloadEventStreamCodec } from '../transport/aws-event-stream.ts';

// The signer (Smithy's, ~3 MiB of a process) is loaded once a Bedrock instance exists, not by every gateway.
let signer: Promise<typeof import('./auth/sigv4.ts')> | undefined;

function loadSigner(): Promise<typeof import('./auth/sigv4.ts')> {
  if (!signer) {
    signer = import('./auth/sigv4.ts');
    // A preload nobody awaits yet must not become an unhandled rejection; a request's await still sees it.
    signer.catch(() => undefined);
  }
  return signer;
}

async function sign(req: SignableRequest, aws: AwsCredentials, region: string): Promise<Record<string, string>> {
  return (await loadSigner()).signBedrockRequest(req, aws, region);
}

// https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html and
// docs/protocols.md#providers. The model id is one URL-encoded path segment; the body never names it.
export const bedrock = defineProvider({
  name: 'bedrock',
  genAiName: 'aws.bedrock',
  baseUrlFor: (instance) =>
    instance.provider_conf.region ? `https://bedrock-runtime.${instance.provider_conf.region}.amazonaws.com` : undefined,
  capabilities: { 'bedrock-converse': { path: '/model/{model}/converse' } },
  priceTable: 'aws',
  maxTokensField: 'max_tokens',
  // Only the protocols above: no general API tree behind the same credentials.
  passthrough: false,
  dropModel: true,
  // Without options.model the client names the model (body `model` or the path); with none, nothing is sent.
  pathFor: (_protocol, _instance, req) => {
    if (!req.model) throw new GatewayError('INVALID_REQUEST_BODY', 400, 'no model: set options.model on the instance, or send "model" in the body or the path /model/{modelId}/converse');
    return `/model/${encodeURIComponent(req.model)}/${req.stream ? 'converse-stream' : 'converse'}`;
  },
  createAuthorizer: (instance) => {
    const aws = instance.auth.aws;
    const region = instance.provider_conf.region ?? '';
    // A Bedrock instance is configured: load what its requests need now rather than on the first one.
    if (aws) void loadSigner();
    preloadEventStreamCodec();
    return {
      headers: (req) => (aws ? sign(req, aws, region) : Promise.resolve({})),
    };
  },
  validate: (instance) => {
    const problems: Array<[string, string]> = [];
    if (!instance.provider_conf.region) problems.push(['provider_conf/region', 'is required for provider bedrock']);
    if (!instance.auth.aws) problems.push(['auth/aws', 'is required for provider bedrock (access_key_id, secret_access_key)']);
    return problems;
  },
});

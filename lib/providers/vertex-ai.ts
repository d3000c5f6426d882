import type { InstanceConfig } from '../config/types.ts';
import { createGcpTokenSource } from './auth/gcp-token.ts';
import { defineProvider } from './define-provider.ts';

// Vertex AI: OpenAI-compatible chat and the `:predict` embeddings endpoint, with an OAuth token from a
// service account (docs/protocols.md#vertex-ai). `global` has no region prefix in its host. With
// `provider_conf.api: "native"` chat goes to the publisher model's own `generateContent` instead.
const OPENAI = {
  'openai-chat': { path: '/v1/projects/{project}/locations/{region}/endpoints/openapi/chat/completions' },
  'vertex-predict': { path: '/v1/projects/{project}/locations/{region}/publishers/google/models/{model}:predict' },
};
const NATIVE = {
  'google-genai': { path: '/v1/projects/{project}/locations/{region}/publishers/google/models/{model}:generateContent' },
  'vertex-predict': OPENAI['vertex-predict'],
};

/** The OpenAI-compatible endpoint names models `google/gemini-2.0-flash-001`; publisher paths take the bare id. */
function publisherModel(model: string | undefined): string {
  return encodeURIComponent((model ?? '').replace(/^(?:google\/|publishers\/google\/models\/)/, ''));
}

function location(instance: InstanceConfig): string {
  return instance.provider_conf.region ?? 'us-central1';
}

function serviceAccount(instance: InstanceConfig): string | undefined {
  return instance.auth.gcp?.service_account_json ?? process.env['GCP_SERVICE_ACCOUNT'];
}

export const vertexAi = defineProvider({
  name: 'vertex-ai',
  baseUrlFor: (instance) => {
    const region = location(instance);
    return region === 'global' ? 'https://aiplatform.googleapis.com' : `https://${region}-aiplatform.googleapis.com`;
  },
  capabilities: OPENAI,
  capabilitiesFor: (instance) => (instance.provider_conf.api === 'native' ? NATIVE : OPENAI),
  nativeApi: true,
  priceTable: 'google',
  maxTokensField: 'max_tokens',
  // Only the protocols above: no general API tree behind the same credentials.
  passthrough: false,
  pathFor: (protocol, instance, req) => {
    const project = encodeURIComponent(instance.provider_conf.project_id ?? '');
    const region = encodeURIComponent(location(instance));
    const base = `/v1/projects/${project}/locations/${region}`;
    if (protocol === 'vertex-predict') return `${base}/publishers/google/models/${encodeURIComponent(req.model ?? '')}:predict`;
    if (protocol === 'google-genai') {
      const model = `${base}/publishers/google/models/${publisherModel(req.model)}`;
      return req.stream ? `${model}:streamGenerateContent?alt=sse` : `${model}:generateContent`;
    }
    return `${base}/endpoints/openapi/chat/completions`;
  },
  createAuthorizer: (instance) => {
    const json = serviceAccount(instance);
    if (!json) return { headers: () => Promise.resolve({}) };
    const gcp = instance.auth.gcp;
    const source = createGcpTokenSource({
      serviceAccountJson: json,
      expireEarlySecs: gcp?.expire_early_secs ?? 60,
      ...(gcp?.max_ttl !== undefined && { maxTtlSecs: gcp.max_ttl }),
      ...(gcp?.token_url !== undefined && { tokenUrl: gcp.token_url }),
    });
    return {
      headers: async () => ({ authorization: `Bearer ${await source.getToken()}` }),
      invalidate: () => source.invalidate(),
      secrets: () => source.recentTokens(),
    };
  },
  validate: (instance) => {
    const problems: Array<[string, string]> = [];
    if (!instance.override.endpoint && !instance.provider_conf.project_id) {
      problems.push(['provider_conf/project_id', 'is required for provider vertex-ai (or set override.endpoint)']);
    }
    if (!serviceAccount(instance) && Object.keys(instance.auth.header).length === 0) {
      problems.push(['auth/gcp/service_account_json', 'is required for provider vertex-ai (or env GCP_SERVICE_ACCOUNT, or an auth.header token)']);
    }
    return problems;
  },
});

import { defineProvider } from './define-provider.ts';

const DEFAULT_API_VERSION = '2024-10-21';

// https://learn.microsoft.com/azure/ai-services/openai/reference — the deployment is in the path,
// `api-version` is mandatory, `model` in the body is ignored so we drop it.
export const azureOpenai = defineProvider({
  name: 'azure-openai',
  capabilities: {
    'openai-chat': { path: '/chat/completions' },
    'openai-embeddings': { path: '/embeddings' },
  },
  priceTable: 'azure',
  maxTokensField: 'max_tokens',
  dropModel: true,
  pathFor: (protocol, instance) => {
    const tail = protocol === 'openai-embeddings' ? 'embeddings' : 'chat/completions';
    const deployment = encodeURIComponent(String(instance.options['model'] ?? ''));
    const version = encodeURIComponent(instance.provider_conf.api_version ?? DEFAULT_API_VERSION);
    return `/openai/deployments/${deployment}/${tail}?api-version=${version}`;
  },
  validate: (instance) => {
    const endpoint = instance.override.endpoint;
    if (!endpoint) return [['override/endpoint', 'is required for provider azure-openai']];
    if (!endpoint.pathGiven && typeof instance.options['model'] !== 'string') {
      return [['options/model', 'must name the Azure deployment when override.endpoint has no path']];
    }
    return [];
  },
});

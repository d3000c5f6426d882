import type { ProviderDefinition } from './define-provider.ts';
import { aimlapi } from './aimlapi.ts';
import { anthropic } from './anthropic.ts';
import { bedrock } from './bedrock.ts';
import { azureOpenai } from './azure-openai.ts';
import { deepseek } from './deepseek.ts';
import { gemini } from './gemini.ts';
import { openai } from './openai.ts';
import { openaiCompatible } from './openai-compatible.ts';
import { openrouter } from './openrouter.ts';
import { vertexAi } from './vertex-ai.ts';

// The one list of providers: the config schema's enum is derived from it.
const providers: readonly Readonly<ProviderDefinition>[] = [
  openai,
  deepseek,
  azureOpenai,
  aimlapi,
  openrouter,
  gemini,
  openaiCompatible,
  anthropic,
  bedrock,
  vertexAi,
];

const byName = new Map(providers.map((p) => [p.name, p]));

export const providerNames: readonly string[] = providers.map((p) => p.name);

export function getProvider(name: string): Readonly<ProviderDefinition> {
  const provider = byName.get(name);
  if (!provider) throw new Error(`unknown provider ${name}`);
  return provider;
}

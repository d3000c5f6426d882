import type { InstanceConfig } from '../config/types.ts';
import type { Capability, UpstreamProtocol } from './define-provider.ts';
import { defineProvider, openaiChatPaths } from './define-provider.ts';

// Gemini (Google AI Studio): its OpenAI-compatible surface by default
// (https://ai.google.dev/gemini-api/docs/openai), or with `provider_conf.api: "native"` its own
// generateContent API (https://ai.google.dev/api/generate-content), which authenticates with
// `x-goog-api-key` rather than a bearer token (docs/protocols.md#google-genai).

const OPENAI: Partial<Record<UpstreamProtocol, Capability>> = openaiChatPaths('/v1beta/openai');
const NATIVE: Partial<Record<UpstreamProtocol, Capability>> = { 'google-genai': { path: '/v1beta/models/{model}:generateContent' } };

const native = (instance: InstanceConfig): boolean => instance.provider_conf.api === 'native';

/** `models/gemini-2.5-flash` (the SDK's spelling) or `gemini-2.5-flash` → one path segment. */
export function geminiModelSegment(model: string | undefined): string {
  return encodeURIComponent((model ?? '').replace(/^models\//, ''));
}

export const gemini = defineProvider({
  name: 'gemini',
  baseUrl: 'https://generativelanguage.googleapis.com',
  capabilities: OPENAI,
  capabilitiesFor: (instance) => (native(instance) ? NATIVE : OPENAI),
  passthroughBase: '/v1beta/openai',
  priceTable: 'google',
  // Native: other Gemini methods (`:countTokens`, `:embedContent`) go to Google's own tree as the client named them.
  passthroughBaseFor: (instance) => (native(instance) ? undefined : '/v1beta/openai'),
  maxTokensField: 'max_completion_tokens',
  nativeApi: true,
  pathFor: (protocol, _instance, req) => {
    if (protocol !== 'google-genai') return OPENAI[protocol]?.path ?? '/';
    const model = geminiModelSegment(req.model);
    return req.stream ? `/v1beta/models/${model}:streamGenerateContent?alt=sse` : `/v1beta/models/${model}:generateContent`;
  },
  validate: (instance) => {
    if (!native(instance)) return [];
    const header = Object.keys(instance.auth.header).map((k) => k.toLowerCase());
    const query = Object.keys(instance.auth.query).map((k) => k.toLowerCase());
    if (header.includes('x-goog-api-key') || query.includes('key')) return [];
    return [['auth/header', 'provider gemini with provider_conf.api "native" takes its key as auth.header {"x-goog-api-key": "..."} (or auth.query {"key": "..."}), not a bearer token']];
  },
});

import { isDeepStrictEqual } from 'node:util';
import type { InstanceConfig } from '../config/types.ts';
import { upstreamProtocolNames } from '../protocols/registry.ts';
import type { JsonObject } from '../protocols/types.ts';
import { isJsonObject } from '../protocols/types.ts';
import type { ProviderDefinition, UpstreamProtocol } from './define-provider.ts';

export interface UpstreamBody {
  /** The body to send: the client's own bytes when nothing changed. */
  bytes: Buffer;
  json: JsonObject;
  changed: boolean;
}

/** Copy-on-write view of the client body: the input is never mutated, so a fallback starts clean. */
class BodyDraft {
  #source: JsonObject;
  #draft: JsonObject | undefined;
  constructor(source: JsonObject) {
    this.#source = source;
  }
  get current(): JsonObject {
    return this.#draft ?? this.#source;
  }
  get changed(): boolean {
    return this.#draft !== undefined;
  }
  set(key: string, value: unknown): void {
    if (isDeepStrictEqual(this.current[key], value)) return;
    this.#draft ??= { ...this.#source };
    this.#draft[key] = value;
  }
  delete(key: string): void {
    if (!(key in this.current)) return;
    this.#draft ??= { ...this.#source };
    delete this.#draft[key];
  }
}

/** Deep merge returning a new object; `force` decides who wins on a conflict of non-objects. */
export function deepMerge(base: JsonObject, patch: Readonly<JsonObject>, force: boolean): JsonObject {
  const out: JsonObject = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    const existing = out[key];
    if (isJsonObject(existing) && isJsonObject(value)) out[key] = deepMerge(existing, value, force);
    else if (force || existing === undefined) out[key] = value;
  }
  return out;
}

/** Protocols without top-level sampling fields: where `options` / `llm_options` keys go instead. */
interface NestedSampling {
  container: string;
  fields: Readonly<Record<string, string>>;
}

const nestedSampling: Partial<Record<UpstreamProtocol, NestedSampling>> = {
  'bedrock-converse': {
    container: 'inferenceConfig',
    fields: { max_tokens: 'maxTokens', max_completion_tokens: 'maxTokens', temperature: 'temperature', top_p: 'topP', stop: 'stopSequences' },
  },
  'google-genai': {
    container: 'generationConfig',
    fields: {
      max_tokens: 'maxOutputTokens',
      max_completion_tokens: 'maxOutputTokens',
      temperature: 'temperature',
      top_p: 'topP',
      top_k: 'topK',
      stop: 'stopSequences',
    },
  },
};

/** Where `override.llm_options.max_tokens` goes in a body of `protocol`; undefined = no such limit (embeddings). */
export function maxTokensFieldOf(protocol: UpstreamProtocol, provider: Readonly<ProviderDefinition>): string | undefined {
  switch (protocol) {
    case 'openai-chat':
      return provider.maxTokensField;
    case 'openai-responses':
      return 'max_output_tokens';
    case 'anthropic-messages':
      return 'max_tokens';
    case 'bedrock-converse':
      return 'inferenceConfig.maxTokens';
    case 'google-genai':
      return 'generationConfig.maxOutputTokens';
    default:
      return undefined;
  }
}

const protocolKeys = new Set<string>(upstreamProtocolNames);

/** `override.request_body` may be keyed by target protocol (`{"openai-chat": {...}}`) or apply to all. */
function requestBodyFor(instance: InstanceConfig, protocol: UpstreamProtocol): Readonly<JsonObject> | undefined {
  const rb = instance.override.request_body;
  const keys = Object.keys(rb);
  if (keys.length === 0) return undefined;
  if (!keys.every((k) => protocolKeys.has(k))) return rb;
  const scoped = rb[protocol];
  return isJsonObject(scoped) ? scoped : undefined;
}

export function buildUpstreamBody(
  client: JsonObject,
  /** The client's bytes, when `client` is exactly what they parse to (no conversion happened). */
  raw: Buffer | undefined,
  protocol: UpstreamProtocol,
  instance: InstanceConfig,
  provider: Readonly<ProviderDefinition>,
): UpstreamBody {
  const draft = new BodyDraft(client);
  const nested = nestedSampling[protocol];

  if (protocol === 'passthrough') {
    // Only the model is rewritten on bodies we do not understand.
    const model = instance.options['model'];
    if ('model' in client && model !== undefined) draft.set('model', model);
  } else if (nested) {
    // Converse and Gemini have no top-level sampling fields: they live in inferenceConfig / generationConfig.
    const inference: JsonObject = isJsonObject(draft.current[nested.container]) ? { ...(draft.current[nested.container] as JsonObject) } : {};
    let touched = false;
    for (const [key, value] of [...Object.entries(instance.options), ...Object.entries(instance.override.llm_options)]) {
      const field = nested.fields[key];
      if (field) {
        inference[field] = field === 'stopSequences' && !Array.isArray(value) ? [value] : value;
        touched = true;
      } else if (key !== 'model') {
        draft.set(key, value);
      }
    }
    if (touched) draft.set(nested.container, inference);
    const patch = requestBodyFor(instance, protocol);
    if (patch) {
      const merged = deepMerge(draft.current, patch, instance.override.request_body_force_override);
      for (const key of Object.keys(patch)) draft.set(key, merged[key]);
    }
    // Both name the model and streaming in the path (`/converse-stream`, `:streamGenerateContent`) and
    // refuse them in the body.
    draft.delete('model');
    draft.delete('stream');
  } else {
    for (const [key, value] of Object.entries(instance.options)) draft.set(key, value);
    const forcedMax = instance.override.llm_options['max_tokens'];
    const field = forcedMax === undefined ? undefined : maxTokensFieldOf(protocol, provider);
    if (field !== undefined) {
      draft.set(field, forcedMax);
      // Never send both limits: the provider would pick one we did not mean.
      if (protocol === 'openai-chat') draft.delete(field === 'max_tokens' ? 'max_completion_tokens' : 'max_tokens');
    }
    // A converted body names its limit `max_tokens`; OpenAI's reasoning models accept only the new field.
    const maxTokens = draft.current['max_tokens'];
    if (raw === undefined && protocol === 'openai-chat' && provider.maxTokensField !== 'max_tokens' && maxTokens !== undefined) {
      draft.set(provider.maxTokensField, maxTokens);
      draft.delete('max_tokens');
    }
    const patch = requestBodyFor(instance, protocol);
    if (patch) {
      const merged = deepMerge(draft.current, patch, instance.override.request_body_force_override);
      for (const key of Object.keys(patch)) draft.set(key, merged[key]);
    }
    if (protocol === 'openai-chat' && draft.current['stream'] === true) {
      const so = draft.current['stream_options'];
      // Ask for usage so the access log can count tokens; the relay hides the extra chunk from a
      // client that did not ask for it.
      if (!isJsonObject(so) || so['include_usage'] !== true) draft.set('stream_options', { ...(isJsonObject(so) ? so : {}), include_usage: true });
    }
    if (provider.dropModel) draft.delete('model');
  }

  const json = draft.current;
  return {
    bytes: draft.changed || raw === undefined ? Buffer.from(JSON.stringify(json)) : raw,
    json,
    changed: draft.changed,
  };
}

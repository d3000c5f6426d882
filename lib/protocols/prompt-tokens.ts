import type { Tiktoken } from 'js-tiktoken/lite';
import type { JsonObject } from './types.ts';
import { isJsonObject } from './types.ts';

// A cheap estimate of a request's prompt tokens, for stream headers that must state input tokens
// before the provider has counted them (docs/protocols.md#prompt-token-estimate). Only the text a
// model reads is counted — message text, system, tool names, descriptions and schemas — never ids,
// signatures or base64 media. cl100k_base is a stand-in: no vendor publishes Claude's tokenizer.
// At most MAX_TOKENIZED characters are tokenized; the rest is scaled at the rate measured on them,
// so a huge body costs the same as a large one. Building the encoder takes a few hundred ms of CPU once,
// so the first request never waits for it: it gets a characters/4 estimate and the build is scheduled.
// The tokenizer and its ranks (~3 MiB of a process) are loaded only then: a gateway that never
// converts a stream to Anthropic's never holds them.

const MAX_TOKENIZED = 8_000;
/** Keys whose string values are not read as text by the model. */
const NOT_TEXT = new Set([
  'model', 'type', 'role', 'id', 'tool_use_id', 'tool_call_id', 'call_id', 'toolUseId', 'signature',
  'data', 'bytes', 'url', 'image_url', 'file_data', 'file_id', 'media_type', 'format', 'stop_reason', 'redactedContent',
]);

const CHARS_PER_TOKEN = 4;

let encoder: Tiktoken | undefined;
let building: Promise<void> | undefined;

/** Loads and builds the encoder (tests, or a process that wants it ready before its first request). */
export function loadPromptTokenizer(): Promise<void> {
  building ??= Promise.all([import('js-tiktoken/lite'), import('js-tiktoken/ranks/cl100k_base')]).then(
    ([{ Tiktoken }, { default: cl100k }]) => {
      encoder = new Tiktoken(cl100k);
    },
    // Never loaded: every estimate stays characters/4, and nothing is retried on the request path.
    () => undefined,
  );
  return building;
}

function collect(value: unknown, key: string, parts: string[], budget: { chars: number; total: number }): void {
  if (typeof value === 'string') {
    if (NOT_TEXT.has(key) || value.startsWith('data:')) return;
    budget.total += value.length;
    if (budget.chars > 0) {
      const taken = value.length <= budget.chars ? value : value.slice(0, budget.chars);
      parts.push(taken);
      budget.chars -= taken.length;
    }
  } else if (Array.isArray(value)) {
    for (const v of value) collect(v, key, parts, budget);
  } else if (isJsonObject(value)) {
    for (const [k, v] of Object.entries(value)) collect(v, k, parts, budget);
  }
}

/** Estimated prompt tokens of an upstream request body; 0 when it holds no text. */
export function estimatePromptTokens(body: JsonObject): number {
  const parts: string[] = [];
  const budget = { chars: MAX_TOKENIZED, total: 0 };
  collect(body, '', parts, budget);
  if (budget.total === 0) return 0;
  if (!encoder) {
    void loadPromptTokenizer();
    return Math.ceil(budget.total / CHARS_PER_TOKEN);
  }
  const sample = parts.join('\n');
  let tokens: number;
  try {
    // Special-token text (`<|endoftext|>`) in a prompt is ordinary text here; by default the encoder throws.
    tokens = encoder.encode(sample, [], []).length;
  } catch {
    return Math.ceil(budget.total / CHARS_PER_TOKEN); // an estimate must never fail the stream it serves
  }
  if (budget.total <= sample.length) return tokens;
  return Math.ceil((tokens / Math.max(sample.length, 1)) * budget.total);
}

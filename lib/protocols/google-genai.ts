import { createSseDecoder } from '../transport/sse-decoder.ts';
import type { SseEvent } from '../transport/sse-decoder.ts';
import { encodeSseData } from '../transport/sse-encoder.ts';
import type { ClientProtocol, StreamEventClass, StreamObserver } from './client-protocol.ts';
import { googleErrorBody } from './google-error.ts';
import type { JsonObject, Usage } from './types.ts';
import { isJsonObject, parseJsonObject } from './types.ts';
import type { JsonSchema } from './schema-parts.ts';
import { integer, number, object, objects, positiveInt, shape, string, strings } from './schema-parts.ts';

// Google's native Gemini API, as the `@google/genai` SDK and Vertex AI's publisher endpoints speak it:
// `POST …/models/{model}:generateContent` and `:streamGenerateContent?alt=sse` (docs/protocols.md#google-genai).
// The model is in the path; the body is a GenerateContentRequest, a stream is SSE of
// GenerateContentResponse chunks with no end marker but the last candidate's `finishReason`.

/** Google's JSON accepts proto field names in camelCase and snake_case alike: read both. */
export function field(body: JsonObject, camel: string): unknown {
  if (camel in body) return body[camel];
  return body[camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)];
}

const content = shape({ role: string, parts: objects(object, { minItems: 1 }) }, ['parts']);
const generationConfig = shape({
  temperature: number,
  topP: number,
  topK: number,
  candidateCount: integer,
  maxOutputTokens: positiveInt,
  stopSequences: strings,
  responseMimeType: string,
  responseSchema: object,
  responseJsonSchema: object,
  thinkingConfig: object,
});
const tool = shape({ functionDeclarations: objects(shape({ name: string }, ['name'])) });

/** The request fields the gateway reads or converts (snake_case twins typed alike). */
export const googleGenaiRequestSchema: JsonSchema = shape(
  {
    contents: objects(content, { minItems: 1 }),
    systemInstruction: shape({ parts: objects() }),
    system_instruction: shape({ parts: objects() }),
    tools: objects(tool),
    toolConfig: object,
    tool_config: object,
    generationConfig,
    generation_config: object,
    safetySettings: objects(),
    safety_settings: objects(),
  },
  ['contents'],
);

function num(x: unknown): number {
  return typeof x === 'number' && Number.isFinite(x) ? x : 0;
}

/**
 * Gemini `usageMetadata` → Usage. `candidatesTokenCount` leaves out the thoughts (`thoughtsTokenCount`),
 * which OpenAI counts in its completion tokens; tool-use prompt tokens are prompt tokens.
 */
export function geminiUsage(metadata: unknown): Usage | undefined {
  if (!isJsonObject(metadata)) return undefined;
  const prompt = num(field(metadata, 'promptTokenCount')) + num(field(metadata, 'toolUsePromptTokenCount'));
  const thoughts = num(field(metadata, 'thoughtsTokenCount'));
  const completion = num(field(metadata, 'candidatesTokenCount')) + thoughts;
  const usage: Usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  const cached = field(metadata, 'cachedContentTokenCount');
  if (typeof cached === 'number') usage.cached_tokens = cached;
  if (thoughts > 0) usage.reasoning_tokens = thoughts;
  return usage;
}

/** `…/models/gemini-2.5-flash:streamGenerateContent` (Gemini or Vertex publisher path) → `gemini-2.5-flash`. */
export function googleModelFromPath(path: string): string | undefined {
  const match = /\/models\/([^/]+?):(?:streamGenerateContent|generateContent)$/.exec(path);
  if (!match?.[1]) return undefined;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return match[1];
  }
}

function firstParts(body: unknown): readonly JsonObject[] {
  if (!isJsonObject(body) || !Array.isArray(body['candidates'])) return [];
  const candidate: unknown = body['candidates'][0];
  const c = isJsonObject(candidate) ? candidate['content'] : undefined;
  return isJsonObject(c) && Array.isArray(c['parts']) ? c['parts'].filter(isJsonObject) : [];
}

function answerText(body: unknown): string {
  return firstParts(body)
    .map((p) => (typeof p['text'] === 'string' && p['thought'] !== true ? p['text'] : ''))
    .join('');
}

function createGenaiObserver(capturePayload: boolean): StreamObserver {
  let usage: Usage | undefined;
  let model: string | undefined;
  let text = '';
  let finished = false;
  let error: string | undefined;
  let toolCalls = false;
  return {
    classify(event: SseEvent): StreamEventClass {
      const chunk = parseJsonObject(event.data);
      if (!chunk) return 'lifecycle';
      const err = chunk['error'];
      if (isJsonObject(err)) {
        error = typeof err['message'] === 'string' ? err['message'] : 'upstream error chunk';
        return 'error';
      }
      // Every chunk carries the usage so far; the last one holds the totals.
      usage = geminiUsage(field(chunk, 'usageMetadata')) ?? usage;
      const version = field(chunk, 'modelVersion');
      if (typeof version === 'string') model = version;
      let cls: StreamEventClass = 'lifecycle';
      const feedback = field(chunk, 'promptFeedback');
      if (isJsonObject(feedback) && field(feedback, 'blockReason') !== undefined) {
        finished = true;
        cls = 'content';
      }
      for (const candidate of Array.isArray(chunk['candidates']) ? chunk['candidates'] : []) {
        if (!isJsonObject(candidate)) continue;
        if (field(candidate, 'finishReason') != null) {
          finished = true;
          cls = 'content';
        }
      }
      for (const part of firstParts(chunk)) {
        if (field(part, 'functionCall') !== undefined) toolCalls = true;
        if (Object.keys(part).length > 0) cls = 'content';
        if (capturePayload && typeof part['text'] === 'string' && part['thought'] !== true) text += part['text'];
      }
      return cls;
    },
    finished: () => finished,
    usage: () => usage,
    model: () => model,
    text: () => text,
    errorMessage: () => error,
    toolCalls: () => toolCalls,
  };
}

export const googleGenai: ClientProtocol = {
  name: 'google-genai',
  endpoints: [':generateContent', ':streamGenerateContent'],
  errorShape: 'google',
  framing: 'sse',
  streamContentType: 'text/event-stream',
  createDecoder: createSseDecoder,
  requestSchema: googleGenaiRequestSchema,
  isStream: (_body, path) => path.endsWith(':streamGenerateContent'),
  requestModel: (_body, path) => (path === undefined ? undefined : googleModelFromPath(path)),
  usageFromJson: (body) => (isJsonObject(body) ? geminiUsage(field(body, 'usageMetadata')) : undefined),
  toolCount: (body) => {
    const tools = field(body, 'tools');
    if (!Array.isArray(tools)) return undefined;
    return tools.reduce<number>((n, t) => {
      const declarations = isJsonObject(t) ? field(t, 'functionDeclarations') : undefined;
      return n + (Array.isArray(declarations) ? declarations.length : 1);
    }, 0);
  },
  // GenerateContentRequest has no end-user field.
  endUserId: () => undefined,
  hasToolCalls: (answer) => firstParts(answer).some((p) => field(p, 'functionCall') !== undefined),
  modelFromJson: (body) => {
    const version = isJsonObject(body) ? field(body, 'modelVersion') : undefined;
    return typeof version === 'string' ? version : undefined;
  },
  textFromJson: (body) => (isJsonObject(body) ? answerText(body) : undefined),
  createStreamObserver: createGenaiObserver,
  encodeEvent: (event) => encodeSseData(event.data),
  // The SDK throws an ApiError on a chunk with an `error` object carrying a 4xx/5xx `code`.
  streamErrorFrame: (message) => encodeSseData(googleErrorBody(500, message)),
};

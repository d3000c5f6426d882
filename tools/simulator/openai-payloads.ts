// Response bodies in OpenAI's wire format, built fresh for every call so a test that mutates one
// cannot affect the next. Shapes: docs/protocols.md#openai-chat and docs/protocols.md#openai-embeddings.

export interface ChatIdentity {
  id: string;
  created: number;
  model: string;
  fingerprint: string;
}

export interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number; audio_tokens: number };
  completion_tokens_details: {
    reasoning_tokens: number;
    audio_tokens: number;
    accepted_prediction_tokens: number;
    rejected_prediction_tokens: number;
  };
}

export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Roughly four characters per token, like OpenAI's rule of thumb; never 0 so tests can assert > 0. */
export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** The text of every message (string content or text parts), used only to size `prompt_tokens`. */
export function promptText(body: unknown): string {
  if (!isRecord(body) || !Array.isArray(body.messages)) return '';
  let text = '';
  for (const m of body.messages) {
    if (!isRecord(m)) continue;
    if (typeof m.content === 'string') text += m.content;
    else if (Array.isArray(m.content)) {
      for (const p of m.content) if (isRecord(p) && typeof p.text === 'string') text += p.text;
    }
  }
  return text;
}

export function usageFor(prompt: string, completion: string): OpenAiUsage {
  const prompt_tokens = estimateTokens(prompt);
  const completion_tokens = estimateTokens(completion);
  return {
    prompt_tokens,
    completion_tokens,
    total_tokens: prompt_tokens + completion_tokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

export function chatCompletion(who: ChatIdentity, content: string, usage: OpenAiUsage): object {
  return {
    id: who.id,
    object: 'chat.completion',
    created: who.created,
    model: who.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage,
    service_tier: 'default',
    system_fingerprint: who.fingerprint,
  };
}

function chunk(who: ChatIdentity, choices: object[], usage: OpenAiUsage | null): object {
  const { id, created, model, fingerprint } = who;
  return { id, object: 'chat.completion.chunk', created, model, system_fingerprint: fingerprint, choices, usage };
}

/** One `chat.completion.chunk`; `usage` stays null except on the trailing usage chunk. */
export function chatChunk(who: ChatIdentity, delta: object, finishReason: string | null): object {
  return chunk(who, [{ index: 0, delta, logprobs: null, finish_reason: finishReason }], null);
}

export function usageChunk(who: ChatIdentity, usage: OpenAiUsage): object {
  return chunk(who, [], usage);
}

export function sseFrame(payload: object | '[DONE]'): string {
  return `data: ${payload === '[DONE]' ? payload : JSON.stringify(payload)}\n\n`;
}

/** Splits `content` into exactly `n` consecutive pieces; pieces are empty only when content is shorter than n. */
export function splitContent(content: string, n: number): string[] {
  const count = Math.max(1, Math.floor(n));
  const pieces: string[] = [];
  for (let i = 0; i < count; i++) {
    pieces.push(content.slice(Math.floor((i * content.length) / count), Math.floor(((i + 1) * content.length) / count)));
  }
  return pieces;
}

const ERROR_DEFAULTS: Record<number, [message: string, type: string, code: string | null]> = {
  400: ['Invalid request.', 'invalid_request_error', null],
  401: ['Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'],
  403: ['You are not allowed to access this resource.', 'permission_error', null],
  404: ['The model does not exist or you do not have access to it.', 'invalid_request_error', 'model_not_found'],
  408: ['Request timed out.', 'timeout_error', null],
  409: ['Conflict.', 'invalid_request_error', null],
  422: ['Unprocessable entity.', 'invalid_request_error', null],
  429: ['Rate limit reached for requests.', 'rate_limit_error', 'rate_limit_exceeded'],
  500: ['The server had an error while processing your request.', 'server_error', null],
  502: ['Bad gateway.', 'server_error', null],
  503: ['The server is overloaded or not ready yet.', 'server_error', null],
  504: ['Gateway timeout.', 'server_error', null],
};

/** The error body OpenAI sends with `status`: all four keys present, `param`/`code` may be null. */
export function openAiError(status: number, message?: string): OpenAiErrorBody {
  const fallback: [string, string, string | null] =
    status >= 500 ? ['Upstream error.', 'server_error', null] : ['Request failed.', 'invalid_request_error', null];
  const [text, type, code] = ERROR_DEFAULTS[status] ?? fallback;
  return { error: { message: message ?? text, type, param: null, code } };
}

/** Inputs as the API counts them: a string, a list of strings, one token list, or a list of token lists. */
function embeddingInputs(input: unknown): string[] | null {
  if (typeof input === 'string') return input === '' ? null : [input];
  if (!Array.isArray(input) || input.length === 0) return null;
  if (input.every((x) => typeof x === 'number')) return [input.join(',')];
  if (input.every((x) => typeof x === 'string' || Array.isArray(x))) {
    return input.map((x: unknown) => (Array.isArray(x) ? x.join(',') : String(x)));
  }
  return null;
}

/** A deterministic unit vector per input, rounded to float32 so float and base64 answers agree exactly. */
export function embeddingVector(text: string, dims: number): number[] {
  let seed = 2166136261;
  for (let i = 0; i < text.length; i++) seed = Math.imul(seed ^ text.charCodeAt(i), 16777619) >>> 0;
  const raw = Array.from({ length: dims }, (_, i) => Math.sin(seed / 997 + i * 1.618));
  const norm = Math.hypot(...raw) || 1;
  return raw.map((v) => Math.fround(v / norm));
}

function float32Base64(vector: readonly number[]): string {
  const bytes = Buffer.allocUnsafe(vector.length * 4);
  vector.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return bytes.toString('base64');
}

/** The embeddings response, or null when `input` is missing or malformed. */
export function embeddingsResponse(body: unknown, defaultDims: number): object | null {
  if (!isRecord(body)) return null;
  const inputs = embeddingInputs(body.input);
  if (!inputs) return null;
  const d = body.dimensions;
  const dims = typeof d === 'number' && Number.isInteger(d) && d > 0 && d <= 4096 ? d : defaultDims;
  const base64 = body.encoding_format === 'base64';
  const data = inputs.map((text, index) => {
    const vector = embeddingVector(text, dims);
    // The real API encodes raw little-endian float32 bytes; openai-node asks for this by default.
    const embedding = base64 ? float32Base64(vector) : vector;
    return { object: 'embedding', index, embedding };
  });
  const tokens = inputs.reduce((sum, text) => sum + estimateTokens(text), 0);
  const model = typeof body.model === 'string' ? body.model : 'text-embedding-3-small';
  return { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
}

export function modelsList(models: readonly string[], owner: string, created: number): object {
  return { object: 'list', data: models.map((id) => ({ id, object: 'model', created, owned_by: owner })) };
}

import { ProtocolNotSupportedError, UpstreamMalformedError } from '../../errors.ts';
import type { JsonObject } from '../types.ts';
import { isJsonObject } from '../types.ts';
import type { ConversionContext, Converter } from './converter.ts';

// OpenAI embeddings client → Vertex AI `:predict` (docs/protocols.md#embeddings-over-vertex-predict).
// The model lives in the URL (`.../publishers/google/models/{model}:predict`), so the body carries none.

function allStrings(list: unknown[]): list is string[] {
  return list.every((x) => typeof x === 'string');
}

function texts(input: unknown): string[] {
  if (typeof input === 'string') return [input];
  if (Array.isArray(input) && input.length > 0 && allStrings(input)) return input;
  // Token ids (number[] / number[][]) only mean something to OpenAI's tokenizer.
  throw new ProtocolNotSupportedError('Vertex AI embeddings take text input only: `input` must be a string or a list of strings');
}

function request(body: JsonObject): JsonObject {
  const parameters: JsonObject = { autoTruncate: true };
  const dims = body['dimensions'];
  if (typeof dims === 'number') parameters['outputDimensionality'] = dims;
  return { instances: texts(body['input']).map((content) => ({ content })), parameters };
}

function malformed(what: string): UpstreamMalformedError {
  return new UpstreamMalformedError(`upstream returned a malformed :predict response (${what})`);
}

/** `token_count` as client libraries model it, `tokenCount` as the typed REST reference shows it. */
function tokenCount(statistics: unknown): number {
  if (!isJsonObject(statistics)) return 0;
  const n = statistics['token_count'] ?? statistics['tokenCount'];
  return typeof n === 'number' && Number.isFinite(n) ? n : 0;
}

/** Vertex predictions → an OpenAI embeddings list with float vectors. */
function response(body: JsonObject, ctx: ConversionContext): JsonObject {
  const predictions = body['predictions'];
  if (!Array.isArray(predictions)) throw malformed('no predictions');
  let tokens = 0;
  const data = predictions.map((prediction: unknown, index: number) => {
    const embeddings = isJsonObject(prediction) ? prediction['embeddings'] : undefined;
    if (!isJsonObject(embeddings) || !Array.isArray(embeddings['values'])) throw malformed(`prediction ${index} has no values`);
    tokens += tokenCount(embeddings['statistics']);
    return { object: 'embedding', index, embedding: [...embeddings['values']] };
  });
  return { object: 'list', data, model: ctx.model ?? '', usage: { prompt_tokens: tokens, total_tokens: tokens } };
}

/**
 * `encoding_format: "base64"` (openai-node's default): each vector as base64 of its float32 bytes,
 * little-endian (docs/protocols.md#openai-embeddings). `response()` sees only the upstream body, so the
 * OpenAI embeddings protocol applies this to a converted answer when the client asked for it. Returns a
 * new object; encoded ones are kept.
 */
export function toBase64Embeddings(openaiResponse: JsonObject): JsonObject {
  const data = Array.isArray(openaiResponse['data']) ? openaiResponse['data'] : [];
  return {
    ...openaiResponse,
    data: data.map((entry: unknown) => {
      if (!isJsonObject(entry) || !Array.isArray(entry['embedding'])) return entry;
      const values = entry['embedding'];
      const bytes = Buffer.alloc(values.length * 4);
      values.forEach((v: unknown, i: number) => bytes.writeFloatLE(typeof v === 'number' ? v : 0, i * 4));
      return { ...entry, embedding: bytes.toString('base64') };
    }),
  };
}

/** The whole response conversion in one call, for callers that hold the client's original body. */
export function vertexPredictToOpenaiEmbeddings(predict: JsonObject, clientBody: JsonObject, model: string | undefined): JsonObject {
  const clientModel = typeof clientBody['model'] === 'string' ? clientBody['model'] : undefined;
  const converted = response(predict, { model: model ?? clientModel, stream: false });
  return clientBody['encoding_format'] === 'base64' ? toBase64Embeddings(converted) : converted;
}

export const openaiEmbeddingsToVertexPredict: Converter = {
  from: 'openai-embeddings',
  to: 'vertex-predict',
  request,
  response,
};

// A real HTTP server speaking Google's native Gemini API (docs/protocols.md#google-genai):
// `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent?alt=sse` and `:countTokens`, authenticated
// by `x-goog-api-key` (or `?key=`), answering GenerateContentResponse JSON or SSE chunks. It refuses
// what Google refuses: a wrong key, fields GenerateContentRequest does not have (`model`, `stream`),
// a stream request without `alt=sse`, contents that are not user/model turns of parts.
import type { StatusBehavior, WithTiming } from './fake-server.ts';
import { play, startFakeServer, statusHeaders } from './fake-server.ts';
import type { Call, FakeOptions, FakeServer, RecordedRequest, Untimed } from './fake-server.ts';
import { googleErrorBody } from '../../lib/protocols/google-error.ts';
import { estimateTokens, splitContent } from './openai-payloads.ts';
import { defaultContent, sendCut, sendJson, sseHeaders, writeFrames } from './write-response.ts';
import type { Exchange } from './write-response.ts';

export interface GeminiOk {
  kind: 'ok';
  content?: string;
  chunks?: number;
  chunkDelayMs?: number;
  /** Answer with a function call (after the text, if any). */
  functionCall?: { name: string; args: Record<string, unknown> };
  /** A thought summary before the answer (`thought: true` part). */
  thought?: string;
}

export type GeminiBehavior = WithTiming<GeminiOk | StatusBehavior | { kind: 'stream-cut'; afterChunks: number } | { kind: 'stream-error'; afterChunks: number }>;

export interface FakeGeminiOptions extends FakeOptions<GeminiBehavior> {
  /** The API key it accepts; absent → any non-empty key. */
  apiKey?: string;
  /**
   * As Gemini 3: each function call it answers carries a `thoughtSignature`, and a model turn sent back
   * with a functionCall part that lacks one is refused (400).
   */
  requireThoughtSignatures?: boolean;
}

export type FakeGemini = FakeServer<GeminiBehavior, RecordedRequest>;

const ENDPOINT = /^\/v1(?:beta)?\/models\/([^/:]+):(generateContent|streamGenerateContent|countTokens)$/;
const REQUEST_FIELDS = new Set(['contents', 'systemInstruction', 'system_instruction', 'tools', 'toolConfig', 'tool_config', 'generationConfig', 'generation_config', 'safetySettings', 'safety_settings', 'cachedContent', 'labels']);

function googleError(code: number, message?: string): object {
  return googleErrorBody(code, message ?? `Simulated error ${code}.`);
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** What Google says about a body it would refuse, or undefined when it would take it. */
export function generateContentProblem(body: unknown, requireThoughtSignatures = false): string | undefined {
  if (!isRecord(body)) return 'Invalid JSON payload received.';
  for (const key of Object.keys(body)) if (!REQUEST_FIELDS.has(key)) return `Invalid JSON payload received. Unknown name "${key}": Cannot find field.`;
  if (!Array.isArray(body['contents']) || body['contents'].length === 0) return '* GenerateContentRequest.contents: contents is not specified';
  for (const [i, c] of body['contents'].entries()) {
    if (!isRecord(c) || !Array.isArray(c['parts']) || c['parts'].length === 0) return `* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.`;
    if (c['role'] !== undefined && c['role'] !== 'user' && c['role'] !== 'model') return `Please use a valid role: user, model. (contents[${i}].role ${String(c['role'])})`;
    for (const p of c['parts']) {
      if (!isRecord(p) || Object.keys(p).length === 0) return `* GenerateContentRequest.contents[${i}].parts: a part must have data`;
      const call = p['functionCall'];
      if (isRecord(call) && !isRecord(call['args'] ?? {})) return `* contents[${i}] functionCall.args must be an object`;
      if (isRecord(call) && requireThoughtSignatures && typeof p['thoughtSignature'] !== 'string') {
        return `Function call is missing a thought_signature in functionCall parts. (contents[${i}])`;
      }
      const response = p['functionResponse'];
      if (isRecord(response) && !isRecord(response['response'])) return `* contents[${i}] functionResponse.response must be an object`;
    }
  }
  return undefined;
}

function promptOf(body: Record<string, unknown>): string {
  let text = '';
  for (const c of Array.isArray(body['contents']) ? body['contents'] : []) {
    for (const p of isRecord(c) && Array.isArray(c['parts']) ? c['parts'] : []) if (isRecord(p) && typeof p['text'] === 'string') text += p['text'];
  }
  return text;
}

/** Writes one generateContent answer, whole or as SSE chunks; used for Gemini and for Vertex's publisher endpoint. */
export async function sendGenerateContent(x: Exchange, model: string, stream: boolean, ok: Omit<GeminiOk, 'kind'>, fault: { kind: 'stream-cut' | 'stream-error'; afterChunks: number } | null): Promise<void> {
  const body = isRecord(x.req.json) ? x.req.json : {};
  const content = ok.content ?? defaultContent(x.sim.name);
  const promptTokenCount = estimateTokens(promptOf(body));
  const candidatesTokenCount = estimateTokens(content);
  const thoughtsTokenCount = ok.thought ? estimateTokens(ok.thought) : 0;
  const usageMetadata = {
    promptTokenCount,
    candidatesTokenCount,
    totalTokenCount: promptTokenCount + candidatesTokenCount + thoughtsTokenCount,
    ...(thoughtsTokenCount > 0 && { thoughtsTokenCount }),
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: promptTokenCount }],
  };
  const who = { modelVersion: model, responseId: `resp-${x.sim.name}-${x.seq}` };
  const tail = ok.functionCall ? [{ functionCall: { name: ok.functionCall.name, args: ok.functionCall.args }, thoughtSignature: Buffer.from(`signed-by-${x.sim.name}-${x.seq}`).toString('base64') }] : [];
  const thought = ok.thought ? [{ text: ok.thought, thought: true }] : [];

  if (!stream) {
    const parts = [...thought, ...(content === '' ? [] : [{ text: content }]), ...tail];
    const answer = { candidates: [{ content: { parts, role: 'model' }, finishReason: 'STOP', index: 0 }], usageMetadata, ...who };
    if (fault?.kind === 'stream-cut') return sendCut(x, answer);
    if (fault?.kind === 'stream-error') return sendJson(x, 500, googleError(500), {});
    return sendJson(x, 200, answer, {});
  }

  const n = fault ? Math.max(3, fault.afterChunks) : Math.max(1, ok.chunks ?? 3);
  const pieces = splitContent(content, n);
  const shown = fault ? Math.min(fault.afterChunks, n) : n;
  const frame = (payload: object): string => `data: ${JSON.stringify(payload)}\r\n\r\n`;
  const partial = { promptTokenCount, totalTokenCount: promptTokenCount };
  const frames: string[] = [];
  if (thought.length > 0) frames.push(frame({ candidates: [{ content: { parts: thought, role: 'model' }, index: 0 }], usageMetadata: partial, ...who }));
  for (let i = 0; i < shown; i++) {
    const last = !fault && i === shown - 1;
    const parts = [...(pieces[i] ? [{ text: pieces[i] }] : []), ...(last ? tail : [])];
    const candidate = { content: { parts, role: 'model' }, index: 0, ...(last && { finishReason: 'STOP' }) };
    frames.push(frame({ candidates: [candidate], usageMetadata: last ? usageMetadata : partial, ...who }));
  }
  if (fault?.kind === 'stream-error') frames.push(frame(googleError(500, 'An internal error has occurred.')));
  x.res.writeHead(200, sseHeaders(x, {}));
  return writeFrames(x, frames, { delayMs: ok.chunkDelayMs ?? 0, undelayed: 1, cut: fault?.kind === 'stream-cut' });
}

function answer(x: Exchange, b: Untimed<GeminiBehavior>, model: string, stream: boolean): Promise<void> | void {
  switch (b.kind) {
    case 'ok':
      return sendGenerateContent(x, model, stream, b, null);
    case 'status':
      return sendJson(x, b.status, b.body ?? googleError(b.status), statusHeaders(b));
    case 'stream-cut':
    case 'stream-error':
      return sendGenerateContent(x, model, stream, {}, b);
  }
}

export async function startFakeGemini(opts: FakeGeminiOptions = {}): Promise<FakeGemini> {
  const name = opts.name ?? 'fake-gemini';
  const sim = { name, models: [], embeddingDims: 8 };

  async function handle(call: Call, behavior: () => Promise<GeminiBehavior>): Promise<void> {
    const { method, path, url, headers, json } = call.req;
    const x: Exchange = { ...call, sim, endpoint: 'chat', created: Math.floor(Date.now() / 1000), baseHeaders: { 'x-goog-request-id': `req_${name}_${call.seq}` } };
    const match = ENDPOINT.exec(path);
    if (method !== 'POST' || !match) return sendJson(x, 404, googleError(404, `The requested URL ${path} was not found on this server.`), {});
    const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
    const key = (typeof headers['x-goog-api-key'] === 'string' ? headers['x-goog-api-key'] : undefined) ?? query.get('key') ?? '';
    if (key === '' || (opts.apiKey !== undefined && key !== opts.apiKey)) {
      return sendJson(x, 400, googleError(400, 'API key not valid. Please pass a valid API key.'), {});
    }
    if (match[2] === 'countTokens') {
      const problem = generateContentProblem(json);
      if (problem) return sendJson(x, 400, googleError(400, problem), {});
      return sendJson(x, 200, { totalTokens: estimateTokens(promptOf(json as Record<string, unknown>)) }, {});
    }
    const stream = match[2] === 'streamGenerateContent';
    // Without alt=sse Google streams one JSON array; the gateway must always ask for SSE.
    if (stream && query.get('alt') !== 'sse') return sendJson(x, 400, googleError(400, 'this fake streams only with alt=sse'), {});
    const problem = generateContentProblem(json, opts.requireThoughtSignatures);
    if (problem) return sendJson(x, 400, googleError(400, problem), {});
    return play<Untimed<GeminiBehavior>>(x, await behavior(), 503, (b) => answer(x, b, decodeURIComponent(match[1] ?? ''), stream));
  }

  return startFakeServer<GeminiBehavior, RecordedRequest>({
    ...opts,
    name,
    behavior: opts.behavior ?? { kind: 'ok' },
    describe: (req) => req,
    handle,
    crash: { body: JSON.stringify(googleError(500)) },
  });
}

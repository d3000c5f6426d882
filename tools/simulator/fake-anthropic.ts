// A real HTTP server speaking Anthropic Messages (docs/protocols.md#anthropic-messages), with the same
// scriptable failures as fake-openai.ts, so gateway tests meet Anthropic's exact bytes over real sockets.
import { play, startFakeServer, statusHeaders } from './fake-server.ts';
import type { Call, FakeOptions, FakeServer, RecordedRequest, StatusBehavior, Untimed, WithTiming } from './fake-server.ts';
import { estimateTokens, promptText, splitContent } from './openai-payloads.ts';
import { DEFAULT_CHUNKS, defaultContent, sendCut, sendJson, sseHeaders, writeFrames } from './write-response.ts';
import type { Exchange, StreamFault } from './write-response.ts';

export interface AnthropicUsage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  output_tokens: number;
}

/**
 * fake-openai's behaviours; `ok` can also answer with a tool call and fixed usage counts, and `flaky`
 * fails with 529 (Anthropic's overloaded) unless told otherwise.
 */
export type AnthropicBehavior = WithTiming<
  | {
      kind: 'ok';
      content?: string;
      chunks?: number;
      chunkDelayMs?: number;
      headers?: Record<string, string>;
      /** Appended as a tool_use block (stop_reason tool_use) when the request offers tools. */
      toolUse?: { name: string; input: Record<string, unknown> };
      /** A thinking block before the text, with the signature the fake issues for it. */
      thinking?: { text: string; signature: string };
      usage?: Partial<AnthropicUsage>;
    }
  | StatusBehavior
  /** Counted in text deltas: the socket closes after that many. */
  | { kind: 'stream-cut'; afterChunks: number }
  /** An `event: error` overloaded_error after that many text deltas (0: before any content). */
  | { kind: 'stream-error'; afterChunks: number }
>;

export type AnthropicBehaviorFn = (req: RecordedRequest, callIndex: number) => AnthropicBehavior;

export interface FakeAnthropicOptions extends FakeOptions<AnthropicBehavior> {
  /** Ids listed by GET /v1/models. */
  models?: readonly string[];
}

export type FakeAnthropic = FakeServer<AnthropicBehavior, RecordedRequest>;

// Error types by status; unlisted 4xx are invalid_request_error, unlisted 5xx api_error.
const ERRORS: Record<number, [type: string, message: string]> = {
  400: ['invalid_request_error', 'Invalid request.'],
  401: ['authentication_error', 'invalid x-api-key'],
  402: ['billing_error', 'Your credit balance is too low.'],
  403: ['permission_error', 'Your API key does not have permission to use the specified resource.'],
  404: ['not_found_error', 'Not found.'],
  413: ['request_too_large', 'Request exceeds the maximum allowed number of bytes.'],
  429: ['rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit.'],
  500: ['api_error', 'Internal server error'],
  504: ['timeout_error', 'Request timed out.'],
  529: ['overloaded_error', 'Overloaded'],
};

export function anthropicError(status: number, requestId: string, message?: string): object {
  const fallback: [string, string] = status >= 500 ? ['api_error', 'Upstream error.'] : ['invalid_request_error', 'Request failed.'];
  const [type, text] = ERRORS[status] ?? fallback;
  return { type: 'error', error: { type, message: message ?? text }, request_id: requestId };
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The checks whose failure would mean a converter sent something the real API rejects. */
function requestProblem(body: unknown): string | undefined {
  if (!isRecord(body)) return 'The request body is not valid JSON.';
  if (typeof body['model'] !== 'string') return 'model: Field required';
  if (typeof body['max_tokens'] !== 'number') return 'max_tokens: Field required';
  const messages = body['messages'];
  if (!Array.isArray(messages) || messages.length === 0) return 'messages: at least one message is required';
  for (const [i, m] of messages.entries()) {
    if (!isRecord(m) || (m['role'] !== 'user' && m['role'] !== 'assistant')) {
      return `messages.${i}.role: must be user or assistant`;
    }
    const content = Array.isArray(m['content']) ? m['content'] : [];
    // Anthropic verifies the signature of every thinking block sent back; one without is refused.
    const unsigned = content.findIndex((b) => isRecord(b) && b['type'] === 'thinking' && (typeof b['signature'] !== 'string' || b['signature'] === ''));
    if (unsigned >= 0) return `messages.${i}.content.${unsigned}: Invalid \`signature\` in \`thinking\` block`;
    const firstOther = content.findIndex((b) => !isRecord(b) || b['type'] !== 'tool_result');
    if (firstOther >= 0 && content.slice(firstOther).some((b) => isRecord(b) && b['type'] === 'tool_result')) {
      return `messages.${i}: tool_result blocks must come first in the user message`;
    }
  }
  return undefined;
}

interface Reply {
  id: string;
  model: string;
  text: string;
  tool: { id: string; name: string; input: Record<string, unknown> } | undefined;
  thinking: { text: string; signature: string } | undefined;
  usage: AnthropicUsage;
}

function replyFor(x: Exchange, ok: Extract<AnthropicBehavior, { kind: 'ok' }>): Reply {
  const body = isRecord(x.req.json) ? x.req.json : {};
  const text = ok.content ?? defaultContent(x.sim.name);
  const offersTools = Array.isArray(body['tools']) && body['tools'].length > 0;
  const tool = ok.toolUse && offersTools ? { id: `toolu_${x.sim.name}_${x.seq}`, ...ok.toolUse } : undefined;
  const output = estimateTokens(text) + (tool ? estimateTokens(JSON.stringify(tool.input)) : 0);
  const usage: AnthropicUsage = {
    input_tokens: estimateTokens(promptText(body)),
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    output_tokens: output,
    ...ok.usage,
  };
  return { id: `msg_${x.sim.name}_${x.seq}`, model: String(body['model']), text, tool, thinking: ok.thinking, usage };
}

const head = (r: Reply) => ({ id: r.id, type: 'message', role: 'assistant', model: r.model, stop_reason: null, stop_sequence: null });

function message(r: Reply): object {
  const content: object[] = [{ type: 'text', text: r.text }];
  if (r.thinking) content.unshift({ type: 'thinking', thinking: r.thinking.text, signature: r.thinking.signature });
  if (r.tool) content.push({ type: 'tool_use', ...r.tool });
  return { ...head(r), content, stop_reason: r.tool ? 'tool_use' : 'end_turn', usage: r.usage };
}

const frame = (type: string, fields: object): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...fields })}\n\n`;

type Ok = Extract<AnthropicBehavior, { kind: 'ok' }>;

/** A message as its event stream, optionally broken: cut or errored after `afterChunks` text deltas. */
async function sendStream(x: Exchange, ok: Ok, fault: StreamFault | null): Promise<void> {
  const r = replyFor(x, ok);
  const n = fault ? Math.max(DEFAULT_CHUNKS, fault.afterChunks) : Math.max(1, ok.chunks ?? DEFAULT_CHUNKS);
  const shown = fault ? Math.min(fault.afterChunks, n) : n;
  const start = { ...head(r), content: [], usage: { ...r.usage, output_tokens: 1 } };
  const frames = [frame('message_start', { message: start }), frame('ping', {})];
  // With thinking, block 0 is the thinking block (its signature last, as the real API sends it).
  const t = r.thinking && !fault ? 1 : 0;
  if (r.thinking && !fault) {
    frames.push(frame('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }));
    frames.push(frame('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: r.thinking.text } }));
    frames.push(frame('content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: r.thinking.signature } }));
    frames.push(frame('content_block_stop', { index: 0 }));
  }
  splitContent(r.text, n).slice(0, shown).forEach((text, i) => {
    // The block opens with its first delta, so an error at 0 chunks comes before any content block.
    if (i === 0) frames.push(frame('content_block_start', { index: t, content_block: { type: 'text', text: '' } }));
    frames.push(frame('content_block_delta', { index: t, delta: { type: 'text_delta', text } }));
  });
  if (fault?.kind === 'stream-error') {
    frames.push(frame('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }));
  }
  if (!fault) {
    frames.push(frame('content_block_stop', { index: t }));
    if (r.tool) {
      const json = JSON.stringify(r.tool.input);
      const block = { type: 'tool_use', id: r.tool.id, name: r.tool.name, input: {} };
      frames.push(frame('content_block_start', { index: t + 1, content_block: block }));
      // An empty first fragment, then the JSON in two pieces, as the real API streams it.
      for (const partial_json of ['', ...splitContent(json, 2)]) {
        frames.push(frame('content_block_delta', { index: t + 1, delta: { type: 'input_json_delta', partial_json } }));
      }
      frames.push(frame('content_block_stop', { index: t + 1 }));
    }
    const delta = { stop_reason: r.tool ? 'tool_use' : 'end_turn', stop_sequence: null };
    frames.push(frame('message_delta', { delta, usage: { output_tokens: r.usage.output_tokens } }));
    frames.push(frame('message_stop', {}));
  }

  x.res.writeHead(200, sseHeaders(x, ok.headers));
  // message_start, ping and the block start go out at once; the pause comes between text deltas.
  return writeFrames(x, frames, { delayMs: ok.chunkDelayMs ?? 0, undelayed: 3 + 4 * t, cut: fault?.kind === 'stream-cut' });
}

function modelsPage(models: readonly string[], created: number): object {
  const created_at = new Date(created * 1000).toISOString();
  const data = models.map((id) => ({ type: 'model', id, display_name: id, created_at }));
  return { data, has_more: false, first_id: models[0] ?? null, last_id: models.at(-1) ?? null };
}

function answer(x: Exchange, b: Untimed<AnthropicBehavior>, requestId: string): Promise<void> | void {
  const streamed = isRecord(x.req.json) && x.req.json['stream'] === true;
  switch (b.kind) {
    case 'ok':
      if (x.endpoint === 'models') return sendJson(x, 200, modelsPage(x.sim.models, x.created), b.headers ?? {});
      if (streamed) return sendStream(x, b, null);
      return sendJson(x, 200, message(replyFor(x, b)), b.headers ?? {});
    case 'status':
      return sendJson(x, b.status, b.body ?? anthropicError(b.status, requestId), statusHeaders(b));
    case 'stream-cut':
    case 'stream-error':
      if (x.endpoint === 'chat' && streamed) return sendStream(x, { kind: 'ok' }, b);
      // Without a stream: half a body, or (as fake-openai does) a 200 whose body is an error.
      if (b.kind === 'stream-error') return sendJson(x, 200, anthropicError(529, requestId), {});
      if (x.endpoint === 'models') return sendCut(x, modelsPage(x.sim.models, x.created));
      return sendCut(x, message(replyFor(x, { kind: 'ok' })));
  }
}

export async function startFakeAnthropic(opts: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
  const name = opts.name ?? 'fake-anthropic';
  // `embeddingDims` is part of the shared Exchange shape; Anthropic has no embeddings endpoint.
  const sim = { name, models: opts.models ?? ['claude-sonnet-4-5', 'claude-haiku-4-5'], embeddingDims: 0 };

  async function handle(call: Call, behavior: () => Promise<AnthropicBehavior>): Promise<void> {
    const { method, path, headers, json } = call.req;
    const requestId = `req_${name}_${call.seq}`;
    const x: Exchange = {
      ...call,
      sim,
      // 'chat' stands for the generation endpoint, /v1/messages here.
      endpoint: 'chat',
      created: Math.floor(Date.now() / 1000),
      baseHeaders: { 'request-id': requestId, 'anthropic-ratelimit-requests-limit': '10000' },
    };
    const fail = (status: number, message: string): void =>
      sendJson(x, status, anthropicError(status, requestId, message), {});
    if (method === 'GET' && path.endsWith('/v1/models')) x.endpoint = 'models';
    else if (method !== 'POST' || !path.endsWith('/v1/messages')) return fail(404, `Not found: ${method} ${path}`);
    // `x-api-key`; SDKs from API version 2026-10-21 send the key as a Bearer token.
    if (!headers['x-api-key'] && !/^Bearer \S/.test(headers.authorization ?? '')) {
      return fail(401, 'x-api-key header is required');
    }
    if (!headers['anthropic-version']) return fail(400, 'anthropic-version: header is required');
    const problem = x.endpoint === 'chat' ? requestProblem(json) : undefined;
    if (problem) return fail(400, problem);
    return play<Untimed<AnthropicBehavior>>(x, await behavior(), 529, (b) => answer(x, b, requestId));
  }

  return startFakeServer<AnthropicBehavior, RecordedRequest>({
    ...opts,
    name,
    behavior: opts.behavior ?? { kind: 'ok' },
    describe: (req) => req,
    handle,
    crash: { body: JSON.stringify(anthropicError(500, 'req_failed')) },
  });
}

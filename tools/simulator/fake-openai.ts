// A real HTTP server speaking OpenAI's wire format, with scriptable failures, so integration tests,
// the demo and the bench exercise the gateway over real sockets instead of mocks.
import { startFakeServer, play, statusHeaders } from './fake-server.ts';
import type { Call, FakeOptions, FakeServer, RecordedRequest, StatusBehavior, Untimed, WithTiming } from './fake-server.ts';
import { embeddingsResponse, modelsList, openAiError } from './openai-payloads.ts';
import { sendChat, sendCut, sendJson } from './write-response.ts';
import type { ChatOk, Endpoint, Exchange } from './write-response.ts';

export type { RecordedRequest } from './fake-server.ts';

/** What to answer; `delay`, `hang`, `drop` and `flaky` (503 by default) come from fake-server.ts. */
export type Behavior = WithTiming<
  | ({ kind: 'ok' } & ChatOk)
  | StatusBehavior
  | { kind: 'stream-cut'; afterChunks: number }
  | { kind: 'stream-error'; afterChunks: number }
>;

export type BehaviorFn = (req: RecordedRequest, callIndex: number) => Behavior;

export interface FakeOpenAIOptions extends FakeOptions<Behavior> {
  /** Ids listed by GET /models. */
  models?: readonly string[];
  /** Vector size when the request gives no `dimensions`. */
  embeddingDims?: number;
}

export type FakeOpenAI = FakeServer<Behavior, RecordedRequest>;

// Azure and other OpenAI-compatible providers put a prefix before the OpenAI path, so match the suffix.
function endpointOf(method: string, path: string): Endpoint | null {
  if (method === 'POST' && path.endsWith('/chat/completions')) return 'chat';
  if (method === 'POST' && path.endsWith('/embeddings')) return 'embeddings';
  if (method === 'GET' && path.endsWith('/models')) return 'models';
  return null;
}

function answer(x: Exchange, b: Untimed<Behavior>): Promise<void> | void {
  switch (b.kind) {
    case 'ok':
      return sendOk(x, b);
    case 'status':
      return sendJson(x, b.status, b.body ?? openAiError(b.status), statusHeaders(b));
    case 'stream-cut':
    case 'stream-error':
      if (x.endpoint === 'chat') return sendChat(x, {}, b);
      return sendTruncated(x, b);
  }
}

async function sendOk(x: Exchange, b: Extract<Behavior, { kind: 'ok' }>): Promise<void> {
  const headers = b.headers ?? {};
  if (x.endpoint === 'chat') return sendChat(x, b, null);
  if (x.endpoint === 'models') return sendJson(x, 200, modelsList(x.sim.models, x.sim.name, x.created), headers);
  const body = embeddingsResponse(x.req.json, x.sim.embeddingDims);
  if (body) return sendJson(x, 200, body, headers);
  return sendJson(x, 400, openAiError(400, "'input' must be a non-empty string or array"), {});
}

// Non-chat answers have no chunks: stream-cut sends half a JSON body, stream-error a 200 with an error.
function sendTruncated(x: Exchange, b: { kind: 'stream-cut' | 'stream-error' }): void {
  if (b.kind === 'stream-error') return sendJson(x, 200, openAiError(500), {});
  const { models, name, embeddingDims } = x.sim;
  sendCut(x, x.endpoint === 'models' ? modelsList(models, name, x.created) : embeddingsResponse(x.req.json, embeddingDims));
}

export async function startFakeOpenAI(opts: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const name = opts.name ?? 'fake-openai';
  const sim = { name, models: opts.models ?? ['gpt-4o-mini', 'text-embedding-3-small'], embeddingDims: opts.embeddingDims ?? 8 };

  async function handle(call: Call, behavior: () => Promise<Behavior>): Promise<void> {
    const { method, path, json } = call.req;
    const x: Exchange = {
      ...call,
      sim,
      endpoint: 'chat',
      created: Math.floor(Date.now() / 1000),
      baseHeaders: {
        'x-request-id': `req_${name}_${call.seq}`,
        'x-ratelimit-limit-requests': '10000',
        // Never 0: a used-up limit holds the key out (lib/health/provider-quota.ts); the bench sends millions.
        'x-ratelimit-remaining-requests': String(10000 - (call.seq % 10000)),
        'x-ratelimit-reset-requests': '6ms',
      },
    };
    const endpoint = endpointOf(method, path);
    if (!endpoint) return sendJson(x, 404, openAiError(404, `Invalid URL (${method} ${path})`), {});
    x.endpoint = endpoint;
    if (method === 'POST' && (typeof json !== 'object' || json === null)) {
      return sendJson(x, 400, openAiError(400, 'We could not parse the JSON body of your request.'), {});
    }
    return play<Untimed<Behavior>>(x, await behavior(), 503, (b) => answer(x, b));
  }

  return startFakeServer<Behavior, RecordedRequest>({
    ...opts,
    name,
    behavior: opts.behavior ?? { kind: 'ok' },
    describe: (req) => req,
    handle,
    crash: { body: JSON.stringify(openAiError(500)) },
  });
}

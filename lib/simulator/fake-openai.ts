// A real HTTP server speaking OpenAI's wire format, with scriptable failures, so integration tests,
// the demo and the bench exercise the gateway over real sockets instead of mocks.
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { embeddingsResponse, modelsList, openAiError } from './openai-payloads.ts';
import { sendChat, sendCut, sendJson } from './write-response.ts';
import type { Endpoint, Exchange } from './write-response.ts';

export type Behavior =
  | { kind: 'ok'; content?: string; chunks?: number; chunkDelayMs?: number; headers?: Record<string, string> }
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string>; retryAfter?: number }
  | { kind: 'delay'; ms: number; then: Behavior }
  | { kind: 'hang' }
  | { kind: 'drop' }
  | { kind: 'stream-cut'; afterChunks: number }
  | { kind: 'stream-error'; afterChunks: number }
  | { kind: 'flaky'; failRate: number; status?: number; random?: () => number };

export interface RecordedRequest {
  method: string;
  /** Path and query, as received. */
  url: string;
  /** Path without the query. */
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The parsed body, or undefined when it is empty or not JSON. */
  json: unknown;
}

export type BehaviorFn = (req: RecordedRequest, callIndex: number) => Behavior;

export interface FakeOpenAIOptions {
  port?: number;
  host?: string;
  name?: string;
  behavior?: Behavior | BehaviorFn;
  /** Added before every answer (before headers), to look like a real provider's think time. */
  latencyMs?: number;
  /** false → `requests` stays empty (the bench sends millions); `calls()` still counts. */
  record?: boolean;
  /** Ids listed by GET /models. */
  models?: readonly string[];
  /** Vector size when the request gives no `dimensions`. */
  embeddingDims?: number;
}

export interface FakeOpenAI {
  readonly url: string;
  readonly port: number;
  readonly name: string;
  readonly requests: RecordedRequest[];
  /** Requests received (any endpoint, 404s included) whose path starts with `pathPrefix`. */
  calls(pathPrefix?: string): number;
  setBehavior(b: Behavior | BehaviorFn): void;
  /** Forgets recorded requests and counts and restores the behaviour given at start. */
  reset(): void;
  /** Stops listening and destroys every socket, idle, hanging or streaming; never waits on clients. */
  close(): Promise<void>;
}

// Azure and other OpenAI-compatible providers put a prefix before the OpenAI path, so match the suffix.
function endpointOf(method: string, path: string): Endpoint | null {
  if (method === 'POST' && path.endsWith('/chat/completions')) return 'chat';
  if (method === 'POST' && path.endsWith('/embeddings')) return 'embeddings';
  if (method === 'GET' && path.endsWith('/models')) return 'models';
  return null;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of req) parts.push(chunk as Buffer);
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

async function run(x: Exchange, b: Behavior): Promise<void> {
  switch (b.kind) {
    case 'ok':
      return sendOk(x, b);
    case 'status': {
      const headers: Record<string, string> = { ...b.headers };
      if (b.retryAfter !== undefined) headers['retry-after'] = String(b.retryAfter);
      return sendJson(x, b.status, b.body ?? openAiError(b.status), headers);
    }
    case 'delay':
      await sleep(b.ms, undefined, { signal: x.signal });
      return run(x, b.then);
    case 'hang':
      // Answer nothing; close() or the client's disconnect aborts the signal and frees the request.
      if (!x.signal.aborted) await once(x.signal, 'abort');
      return;
    case 'drop':
      // RST rather than FIN: the client sees ECONNRESET, as when a provider's load balancer resets.
      x.res.socket?.resetAndDestroy();
      return;
    case 'stream-cut':
    case 'stream-error':
      if (x.endpoint === 'chat') return sendChat(x, {}, b);
      return sendTruncated(x, b);
    case 'flaky':
      if ((b.random ?? Math.random)() < b.failRate) {
        const status = b.status ?? 503;
        return sendJson(x, status, openAiError(status), {});
      }
      return sendOk(x, { kind: 'ok' });
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
  const record = opts.record ?? true;
  const latencyMs = opts.latencyMs ?? 0;
  const initial: Behavior | BehaviorFn = opts.behavior ?? { kind: 'ok' };
  const sim = { name, models: opts.models ?? ['gpt-4o-mini', 'text-embedding-3-small'], embeddingDims: opts.embeddingDims ?? 8 };
  let behavior = initial;
  let callIndex = 0;
  const counts = new Map<string, number>();
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  // One controller per open request (not AbortSignal.any over a server-wide one, which costs per call).
  const inFlight = new Set<AbortController>();
  let closed = false;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    const rec: RecordedRequest = { method, url, path, headers: req.headers, body, json: parseJson(body) };
    const index = callIndex++;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    if (record) requests.push(rec);
    // Each request stops its timers when the client leaves or the server closes.
    const gone = new AbortController();
    inFlight.add(gone);
    res.on('close', () => {
      inFlight.delete(gone);
      gone.abort();
    });
    const x: Exchange = {
      req: rec,
      res,
      sim,
      endpoint: 'chat',
      signal: gone.signal,
      created: Math.floor(Date.now() / 1000),
      seq: index + 1,
      baseHeaders: {
        'x-request-id': `req_${name}_${index + 1}`,
        'x-ratelimit-limit-requests': '10000',
        'x-ratelimit-remaining-requests': String(Math.max(0, 9999 - index)),
      },
    };
    const endpoint = endpointOf(method, path);
    if (!endpoint) return sendJson(x, 404, openAiError(404, `Invalid URL (${method} ${path})`), {});
    x.endpoint = endpoint;
    if (method === 'POST' && (typeof rec.json !== 'object' || rec.json === null)) {
      return sendJson(x, 400, openAiError(400, 'We could not parse the JSON body of your request.'), {});
    }
    if (latencyMs > 0) await sleep(latencyMs, undefined, { signal: x.signal });
    await run(x, typeof behavior === 'function' ? behavior(rec, index) : behavior);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      // Aborted by close() or by the client, or a BehaviorFn threw: a 500 if still possible, else cut.
      if (!res.headersSent && !closed && !res.destroyed) {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify(openAiError(500)));
      } else res.destroy();
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  let closing: Promise<void> | null = null;

  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    name,
    requests,
    calls(pathPrefix?: string): number {
      let n = 0;
      for (const [p, c] of counts) if (pathPrefix === undefined || p.startsWith(pathPrefix)) n += c;
      return n;
    },
    setBehavior(b: Behavior | BehaviorFn): void {
      behavior = b;
    },
    reset(): void {
      requests.length = 0;
      counts.clear();
      callIndex = 0;
      behavior = initial;
    },
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        closed = true;
        for (const c of inFlight) c.abort();
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}

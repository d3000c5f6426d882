// A real HTTP server speaking Bedrock's Converse / ConverseStream wire format (protocols.md 6), with the
// same scriptable failures as fake-openai.ts. Like Bedrock it checks the SigV4 signature of every
// request (recomputed with the signer the AWS SDK uses) and answers 403 InvalidSignatureException when
// it does not match, so a gateway that signs wrongly fails its tests instead of production.
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { isJsonObject } from '../protocols/types.ts';
import { encodeEventStreamException, encodeEventStreamMessage } from '../transport/aws-event-stream.ts';
import { verifyBedrockSignature } from '../transport/sigv4.ts';
import type { AwsCredentials } from '../transport/sigv4.ts';
import type { Behavior, RecordedRequest } from './fake-openai.ts';
import { estimateTokens, splitContent } from './openai-payloads.ts';
import { DEFAULT_CHUNKS, defaultContent } from './write-response.ts';

/** fake-openai's behaviours, plus replaying a recorded ConverseStream ([event, payload] pairs; `exception:<type>` names an exception). */
export type BedrockBehavior = Behavior | { kind: 'events'; events: ReadonlyArray<readonly [string, unknown]>; chunkDelayMs?: number };

export interface BedrockRecordedRequest extends RecordedRequest {
  /** The decoded `{modelId}` path segment, or undefined for other paths. */
  modelId: string | undefined;
  signatureValid: boolean;
}

export type BedrockBehaviorFn = (req: BedrockRecordedRequest, callIndex: number) => BedrockBehavior;

export interface FakeBedrockOptions {
  credentials: AwsCredentials;
  region: string;
  port?: number;
  host?: string;
  name?: string;
  behavior?: BedrockBehavior | BedrockBehaviorFn;
  latencyMs?: number;
  record?: boolean;
}

export interface FakeBedrock {
  readonly url: string;
  readonly port: number;
  readonly name: string;
  readonly requests: BedrockRecordedRequest[];
  calls(pathPrefix?: string): number;
  setBehavior(b: BedrockBehavior | BedrockBehaviorFn): void;
  reset(): void;
  close(): Promise<void>;
}

// 6.4: the SDK names the error from this header.
const ERROR_TYPES: Record<number, [type: string, message: string]> = {
  400: ['ValidationException', 'Malformed input request, please reformat your input and try again.'],
  403: ['AccessDeniedException', 'You don\'t have access to the model with the specified model ID.'],
  404: ['ResourceNotFoundException', 'The requested resource could not be found.'],
  408: ['ModelTimeoutException', 'Model has timed out in processing the request.'],
  424: ['ModelErrorException', 'The model returned an error.'],
  429: ['ThrottlingException', 'Too many requests, please wait before trying again.'],
  500: ['InternalServerException', 'The server encountered an internal error.'],
  503: ['ServiceUnavailableException', 'The service is temporarily unable to handle the request.'],
};
const BAD_SIGNATURE =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

interface Exchange {
  req: BedrockRecordedRequest;
  res: ServerResponse;
  stream: boolean;
  signal: AbortSignal;
  headers: Record<string, string>;
  name: string;
}

/** A Bedrock error; `raw` (a string) replaces the JSON body, for malformed-body tests. */
function sendError(x: Exchange, status: number, type?: string, message?: string, extra: Record<string, string> = {}, raw?: string): void {
  const [defaultType, defaultMessage] = ERROR_TYPES[status] ?? ERROR_TYPES[status >= 500 ? 500 : 400] ?? ['', ''];
  const body = raw ?? JSON.stringify({ message: message ?? defaultMessage });
  x.res.writeHead(status, { ...x.headers, 'content-type': 'application/json', 'x-amzn-errortype': type ?? defaultType, ...extra, 'content-length': Buffer.byteLength(body) });
  x.res.end(body);
}

function promptOf(json: unknown): string {
  let text = '';
  const messages = isJsonObject(json) ? json['messages'] : undefined;
  for (const m of Array.isArray(messages) ? messages : []) {
    const content = isJsonObject(m) ? m['content'] : undefined;
    for (const b of Array.isArray(content) ? content : []) if (isJsonObject(b) && typeof b['text'] === 'string') text += b['text'];
  }
  return text;
}

function usageOf(x: Exchange, content: string): { inputTokens: number; outputTokens: number; totalTokens: number } {
  const inputTokens = estimateTokens(promptOf(x.req.json));
  const outputTokens = estimateTokens(content);
  return { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens };
}

/** The events of a plain text answer (6.7), cut short after `afterChunks` deltas when `fault` is set. */
function answerEvents(x: Exchange, content: string, chunks: number, fault: { afterChunks: number } | null): Array<readonly [string, unknown]> {
  const pieces = splitContent(content, fault ? Math.max(chunks, fault.afterChunks) : chunks);
  const shown = fault ? Math.min(fault.afterChunks, pieces.length) : pieces.length;
  const events: Array<readonly [string, unknown]> = [['messageStart', { role: 'assistant' }]];
  // Real Bedrock pads payloads with a random-length `p` (6.7); clients must ignore it.
  for (let i = 0; i < shown; i++) events.push(['contentBlockDelta', { contentBlockIndex: 0, delta: { text: pieces[i] ?? '' }, p: 'abcdefgh'.slice(0, 1 + (i % 8)) }]);
  if (fault) return events;
  events.push(['contentBlockStop', { contentBlockIndex: 0 }], ['messageStop', { stopReason: 'end_turn' }]);
  events.push(['metadata', { usage: usageOf(x, content), metrics: { latencyMs: 1 } }]);
  return events;
}

const frame = ([type, payload]: readonly [string, unknown]): Uint8Array =>
  type.startsWith('exception:')
    ? encodeEventStreamException(type.slice('exception:'.length), isJsonObject(payload) ? String(payload['message'] ?? '') : '')
    : encodeEventStreamMessage(type, payload);

async function sendStream(x: Exchange, frames: readonly Uint8Array[], delayMs: number, cut: boolean): Promise<void> {
  const socket = x.res.socket;
  x.res.writeHead(200, { ...x.headers, 'content-type': 'application/vnd.amazon.eventstream' });
  for (let i = 0; i < frames.length; i++) {
    if (i > 0 && delayMs > 0) await sleep(delayMs, undefined, { signal: x.signal });
    const bytes = frames[i] ?? new Uint8Array(0);
    if (cut && i === frames.length - 1) {
      x.res.write(bytes, () => socket?.destroy());
      return;
    }
    if (!x.res.write(bytes)) await once(x.res, 'drain', { signal: x.signal });
  }
  x.res.end();
}

async function run(x: Exchange, b: BedrockBehavior): Promise<void> {
  switch (b.kind) {
    case 'ok': {
      const content = b.content ?? defaultContent(x.name);
      if (x.stream) return sendStream(x, answerEvents(x, content, b.chunks ?? DEFAULT_CHUNKS, null).map(frame), b.chunkDelayMs ?? 0, false);
      const answer = {
        output: { message: { role: 'assistant', content: [{ text: content }] } },
        stopReason: 'end_turn',
        usage: usageOf(x, content),
        metrics: { latencyMs: 1 },
      };
      const body = JSON.stringify(answer);
      x.res.writeHead(200, { ...x.headers, ...b.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      x.res.end(body);
      return;
    }
    case 'events':
      if (!x.stream) return sendError(x, 400, 'ValidationException', 'the events behaviour answers converse-stream only');
      return sendStream(x, b.events.map(frame), b.chunkDelayMs ?? 0, false);
    case 'status': {
      const extra: Record<string, string> = { ...b.headers };
      if (b.retryAfter !== undefined) extra['retry-after'] = String(b.retryAfter);
      const message = isJsonObject(b.body) && typeof b.body['message'] === 'string' ? b.body['message'] : undefined;
      return sendError(x, b.status, undefined, message, extra, typeof b.body === 'string' ? b.body : undefined);
    }
    case 'delay':
      await sleep(b.ms, undefined, { signal: x.signal });
      return run(x, b.then);
    case 'hang':
      if (!x.signal.aborted) await once(x.signal, 'abort');
      return;
    case 'drop':
      x.res.socket?.resetAndDestroy();
      return;
    case 'stream-cut':
    case 'stream-error': {
      // Without a stream there is nothing to cut mid-way: a 500 is what Bedrock would say instead.
      if (!x.stream) return sendError(x, 500);
      const events = answerEvents(x, defaultContent(x.name), DEFAULT_CHUNKS, b);
      if (b.kind === 'stream-error') events.push(['exception:modelStreamErrorException', { message: 'The model stream failed.' }]);
      return sendStream(x, events.map(frame), 0, b.kind === 'stream-cut');
    }
    case 'flaky':
      if ((b.random ?? Math.random)() < b.failRate) return sendError(x, b.status ?? 503);
      return run(x, { kind: 'ok' });
  }
}

const CONVERSE_PATH = /^\/model\/([^/]+)\/(converse|converse-stream)$/;

function decodeModel(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export async function startFakeBedrock(opts: FakeBedrockOptions): Promise<FakeBedrock> {
  const name = opts.name ?? 'fake-bedrock';
  const record = opts.record ?? true;
  const initial = opts.behavior ?? { kind: 'ok' };
  let behavior: BedrockBehavior | BedrockBehaviorFn = initial;
  let callIndex = 0;
  const counts = new Map<string, number>();
  const requests: BedrockRecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const inFlight = new Set<AbortController>();
  let closed = false;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parts: Buffer[] = [];
    for await (const chunk of req) parts.push(chunk as Buffer);
    const body = Buffer.concat(parts);
    const url = req.url ?? '/';
    const path = url.split('?')[0] ?? '/';
    const method = req.method ?? 'GET';
    const match = CONVERSE_PATH.exec(path);
    let json: unknown;
    try {
      json = body.length > 0 ? (JSON.parse(body.toString('utf8')) as unknown) : undefined;
    } catch {
      json = undefined;
    }
    const signatureValid = await verifyBedrockSignature({ method, path: url, headers: req.headers, body }, opts.credentials, opts.region);
    const rec: BedrockRecordedRequest = { method, url, path, headers: req.headers, body, json, modelId: match?.[1] ? decodeModel(match[1]) : undefined, signatureValid };
    const index = callIndex++;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    if (record) requests.push(rec);
    const gone = new AbortController();
    inFlight.add(gone);
    res.on('close', () => {
      inFlight.delete(gone);
      gone.abort();
    });
    const x: Exchange = { req: rec, res, stream: match?.[2] === 'converse-stream', signal: gone.signal, name, headers: { 'x-amzn-requestid': `req-${name}-${index + 1}` } };
    if (!signatureValid) return sendError(x, 403, 'InvalidSignatureException', BAD_SIGNATURE);
    if (method !== 'POST' || !match) return sendError(x, 404, 'UnknownOperationException', `Unknown operation ${method} ${path}`);
    if (!isJsonObject(json) || !Array.isArray(json['messages'])) {
      return sendError(x, 400, 'ValidationException', 'Malformed input request: #: required key [messages] not found');
    }
    if (opts.latencyMs) await sleep(opts.latencyMs, undefined, { signal: x.signal });
    await run(x, typeof behavior === 'function' ? behavior(rec, index) : behavior);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent && !closed && !res.destroyed) {
        res.writeHead(500, { 'content-type': 'application/json', 'x-amzn-errortype': 'InternalServerException' }).end('{"message":"internal error"}');
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
    setBehavior(b) {
      behavior = b;
    },
    reset() {
      requests.length = 0;
      counts.clear();
      callIndex = 0;
      behavior = initial;
    },
    close() {
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

// A real HTTP server speaking Bedrock's Converse / ConverseStream (docs/protocols.md#bedrock-converse),
// with the same scriptable failures as fake-openai.ts. Like Bedrock it checks the SigV4 signature of every
// request (recomputed with the signer the AWS SDK uses) and answers 403 InvalidSignatureException when
// it does not match, so a gateway that signs wrongly fails its tests instead of production.
import { isJsonObject } from '../../lib/protocols/types.ts';
import { encodeEventStreamException, encodeEventStreamMessage } from '../../lib/transport/aws-event-stream.ts';
import { verifyBedrockSignature } from './sigv4-verifier.ts';
import type { AwsCredentials } from '../../lib/providers/auth/sigv4.ts';
import type { Behavior } from './fake-openai.ts';
import { play, startFakeServer, statusHeaders } from './fake-server.ts';
import type { Call, FakeOptions, FakeServer, RecordedRequest, Untimed } from './fake-server.ts';
import { estimateTokens, splitContent } from './openai-payloads.ts';
import { DEFAULT_CHUNKS, defaultContent, writeFrames } from './write-response.ts';

/** fake-openai's behaviours, plus replaying a recorded ConverseStream ([event, payload] pairs; `exception:<type>` names an exception). */
export type BedrockBehavior = Behavior | { kind: 'events'; events: ReadonlyArray<readonly [string, unknown]>; chunkDelayMs?: number };

export interface BedrockRecordedRequest extends RecordedRequest {
  /** The decoded `{modelId}` path segment, or undefined for other paths. */
  modelId: string | undefined;
  signatureValid: boolean;
}

export type BedrockBehaviorFn = (req: BedrockRecordedRequest, callIndex: number) => BedrockBehavior;

export interface FakeBedrockOptions extends FakeOptions<BedrockBehavior, BedrockRecordedRequest> {
  credentials: AwsCredentials;
  region: string;
}

export type FakeBedrock = FakeServer<BedrockBehavior, BedrockRecordedRequest>;

// The SDK names the error from this header.
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

interface Exchange extends Call<BedrockRecordedRequest> {
  stream: boolean;
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

/** The events of a plain text answer, cut short after `afterChunks` deltas when `fault` is set. */
function answerEvents(x: Exchange, content: string, chunks: number, fault: { afterChunks: number } | null): Array<readonly [string, unknown]> {
  const pieces = splitContent(content, fault ? Math.max(chunks, fault.afterChunks) : chunks);
  const shown = fault ? Math.min(fault.afterChunks, pieces.length) : pieces.length;
  const events: Array<readonly [string, unknown]> = [['messageStart', { role: 'assistant' }]];
  // Real Bedrock pads payloads with a random-length `p`; clients must ignore it.
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

function sendStream(x: Exchange, frames: readonly Uint8Array[], delayMs: number, cut: boolean): Promise<void> {
  x.res.writeHead(200, { ...x.headers, 'content-type': 'application/vnd.amazon.eventstream' });
  return writeFrames(x, frames, { delayMs, undelayed: 1, cut });
}

function answer(x: Exchange, b: Untimed<BedrockBehavior>): Promise<void> | void {
  switch (b.kind) {
    case 'ok': {
      const content = b.content ?? defaultContent(x.name);
      if (x.stream) return sendStream(x, answerEvents(x, content, b.chunks ?? DEFAULT_CHUNKS, null).map(frame), b.chunkDelayMs ?? 0, false);
      const response = {
        output: { message: { role: 'assistant', content: [{ text: content }] } },
        stopReason: 'end_turn',
        usage: usageOf(x, content),
        metrics: { latencyMs: 1 },
      };
      const body = JSON.stringify(response);
      x.res.writeHead(200, { ...x.headers, ...b.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      x.res.end(body);
      return;
    }
    case 'events':
      if (!x.stream) return sendError(x, 400, 'ValidationException', 'the events behaviour answers converse-stream only');
      return sendStream(x, b.events.map(frame), b.chunkDelayMs ?? 0, false);
    case 'status': {
      const message = isJsonObject(b.body) && typeof b.body['message'] === 'string' ? b.body['message'] : undefined;
      return sendError(x, b.status, undefined, message, statusHeaders(b), typeof b.body === 'string' ? b.body : undefined);
    }
    case 'stream-cut':
    case 'stream-error': {
      // Without a stream there is nothing to cut mid-way: a 500 is what Bedrock would say instead.
      if (!x.stream) return sendError(x, 500);
      const events = answerEvents(x, defaultContent(x.name), DEFAULT_CHUNKS, b);
      if (b.kind === 'stream-error') events.push(['exception:modelStreamErrorException', { message: 'The model stream failed.' }]);
      return sendStream(x, events.map(frame), 0, b.kind === 'stream-cut');
    }
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

  // The signature is checked on arrival, so `requests` shows whether each one was signed right.
  async function describe(req: RecordedRequest): Promise<BedrockRecordedRequest> {
    const { method, url, path, headers, body } = req;
    const signatureValid = await verifyBedrockSignature({ method, path: url, headers, body }, opts.credentials, opts.region);
    const segment = CONVERSE_PATH.exec(path)?.[1];
    return { ...req, modelId: segment ? decodeModel(segment) : undefined, signatureValid };
  }

  async function handle(call: Call<BedrockRecordedRequest>, behavior: () => Promise<BedrockBehavior>): Promise<void> {
    const { method, path, json, signatureValid } = call.req;
    const match = CONVERSE_PATH.exec(path);
    const x: Exchange = { ...call, stream: match?.[2] === 'converse-stream', name, headers: { 'x-amzn-requestid': `req-${name}-${call.seq}` } };
    if (!signatureValid) return sendError(x, 403, 'InvalidSignatureException', BAD_SIGNATURE);
    if (method !== 'POST' || !match) return sendError(x, 404, 'UnknownOperationException', `Unknown operation ${method} ${path}`);
    if (!isJsonObject(json) || !Array.isArray(json['messages'])) {
      return sendError(x, 400, 'ValidationException', 'Malformed input request: #: required key [messages] not found');
    }
    return play<Untimed<BedrockBehavior>>(x, await behavior(), 503, (b) => answer(x, b));
  }

  return startFakeServer<BedrockBehavior, BedrockRecordedRequest>({
    ...opts,
    name,
    behavior: opts.behavior ?? { kind: 'ok' },
    describe,
    handle,
    crash: { headers: { 'x-amzn-errortype': 'InternalServerException' }, body: '{"message":"internal error"}' },
  });
}

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ClientAbortedError } from '../../lib/errors.ts';
import { SecretScrubber } from '../../lib/observe/secret-scrubber.ts';
import { relayStream } from '../../lib/pipeline/relay-stream.ts';
import type { StreamRelayInput, StreamRelayResult } from '../../lib/pipeline/relay-stream.ts';
import type { ClientProtocol } from '../../lib/protocols/client-protocol.ts';
import type { StreamConverter } from '../../lib/protocols/converters/converter.ts';
import { findConverter } from '../../lib/protocols/converters/registry.ts';
import { clientProtocol } from '../../lib/protocols/registry.ts';
import type { ProtocolName } from '../../lib/protocols/types.ts';
import type { UpstreamEvent } from '../../lib/transport/upstream-event.ts';
import { NOTHING_WRITTEN } from './pipeline-harness.ts';

// relayStream on a real node:http response: a scenario gives the upstream body (and any input to
// change), a real HTTP client reads what the relay wrote. When the relay wrote nothing the rig answers
// an empty NOTHING_WRITTEN instead, so "nothing reached the client" is a status the client can see.

export const bytes = (parts: ReadonlyArray<string | Uint8Array>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

/** What a client's SDK sees: the relay's bytes decoded by the client protocol's own decoder. */
export function decode(protocol: ClientProtocol, body: Buffer): UpstreamEvent[] {
  const decoder = protocol.createDecoder();
  return [...decoder.push(body), ...decoder.end()];
}

/** The protocols on each side of the relay, and the converter between them. */
export interface Pieces {
  client: ClientProtocol;
  upstream: ClientProtocol;
  converter: StreamConverter | undefined;
}

export function native(protocol: ClientProtocol): Pieces {
  return { client: protocol, upstream: protocol, converter: undefined };
}

export function converted(client: ProtocolName, upstream: ProtocolName): Pieces {
  const converter = findConverter(client, upstream)?.stream?.({ model: 'm', stream: true });
  assert.ok(converter, `${client} ← ${upstream} has a stream converter`);
  return { client: clientProtocol(client), upstream: clientProtocol(upstream), converter };
}

export type Body = StreamRelayInput['body'];

export interface Scenario {
  pieces: Pieces;
  /** The upstream body; `signal` is the attempt's (aborted when the client leaves). */
  body: (res: ServerResponse, signal: AbortSignal) => Body | Promise<Body>;
  more?: Partial<StreamRelayInput>;
}

export interface Outcome {
  result: StreamRelayResult;
  /** Times onCommit was called. */
  commits: number;
}

export interface RelayRig {
  port: number;
  /** Arms the next request with `s`; settles when relayStream returned. */
  begin(s: Scenario): Promise<Outcome>;
  /** Runs `s` for a client that reads everything. */
  relay(s: Scenario): Promise<Outcome & { status: number; body: Buffer }>;
  /** The response of the latest request. */
  lastRes(): ServerResponse | undefined;
  close(): Promise<void>;
}

function input(s: Scenario, res: ServerResponse, body: Body, signals: { attempt: AbortSignal; client: AbortSignal }, scrubber: SecretScrubber, onCommit: () => void): StreamRelayInput {
  const { client, upstream, converter } = s.pieces;
  return {
    res,
    body,
    instance: 'up',
    headers: { 'content-type': client.streamContentType },
    decoder: upstream.createDecoder(),
    observer: upstream.createStreamObserver(true),
    converter,
    encode: client.encodeEvent,
    errorFrame: client.streamErrorFrame,
    dropUsageEvents: false,
    isUsageOnly: client.usageEvents?.isUsageOnly ?? (() => false),
    signal: signals.attempt,
    clientSignal: signals.client,
    timeoutMs: 5000,
    maxBytes: 64 * 1024 * 1024,
    onChunk: () => undefined,
    scrub: (text) => scrubber.scrub(text),
    onCommit,
    ...s.more,
  };
}

/** `secret` is what the relay's scrubber hides in in-band error messages. */
export async function startRelayRig(secret: string): Promise<RelayRig> {
  const scrubber = new SecretScrubber([secret]);
  let scenario: Scenario | undefined;
  let finished: ((o: Outcome) => void) | undefined;
  let lastRes: ServerResponse | undefined;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const s = scenario;
    if (!s) throw new Error('no scenario');
    lastRes = res;
    // As handleRequest and runAttempt wire them: the client leaving aborts the attempt too.
    const client = new AbortController();
    const attempt = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) client.abort(new ClientAbortedError());
    });
    client.signal.addEventListener('abort', () => attempt.abort(client.signal.reason), { once: true });
    let commits = 0;
    void (async () => {
      const body = await s.body(res, attempt.signal);
      const result = await relayStream(input(s, res, body, { attempt: attempt.signal, client: client.signal }, scrubber, () => (commits += 1)));
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(NOTHING_WRITTEN);
        res.end();
      }
      finished?.({ result, commits });
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const begin = (s: Scenario): Promise<Outcome> => {
    scenario = s;
    return new Promise((resolve) => (finished = resolve));
  };
  return {
    port,
    begin,
    async relay(s) {
      const outcome = begin(s);
      const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}' });
      const body = Buffer.from(await res.arrayBuffer());
      return { ...(await outcome), status: res.status, body };
    },
    lastRes: () => lastRes,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * An upstream body that yields `chunks` only when the relay asks for the next one (no read-ahead, as
 * a socket under backpressure), recording how far it was pulled and whether it was released.
 */
export function tracked(chunks: ReadonlyArray<string | Uint8Array>, opts: { thenThrow?: Error; onPull?: (i: number) => void } = {}) {
  const state = { pulled: 0, destroyed: false };
  async function* gen(): AsyncGenerator<Buffer> {
    try {
      for (const [i, c] of chunks.entries()) {
        opts.onPull?.(i);
        state.pulled = i + 1;
        yield Buffer.from(c);
      }
      if (opts.thenThrow) throw opts.thenThrow;
    } finally {
      state.destroyed = true;
    }
  }
  // highWaterMark 0: a chunk is taken from the generator only when the relay reads, never ahead.
  const stream: Body = Readable.from(gen(), { objectMode: true, highWaterMark: 0 });
  stream.on('close', () => (state.destroyed = true));
  return { stream, state };
}

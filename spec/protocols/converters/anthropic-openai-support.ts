import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deepFreeze } from '../../../lib/config/normalise.ts';
import type { ClientEvent, ConversionContext, Converter } from '../../../lib/protocols/converters/converter.ts';
import { anthropicMessagesToOpenaiChat } from '../../../lib/protocols/converters/anthropic-messages-to-openai-chat.ts';
import { openaiChatToAnthropicMessages } from '../../../lib/protocols/converters/openai-chat-to-anthropic-messages.ts';
import { anthropicMessages } from '../../../lib/protocols/anthropic-messages.ts';
import type { ClientProtocol } from '../../../lib/protocols/client-protocol.ts';
import { openaiChat } from '../../../lib/protocols/openai-chat.ts';
import { createSseDecoder } from '../../../lib/transport/sse-decoder.ts';

// Fixture loading and stream plumbing shared by the anthropic ↔ openai converter specs.

export const FIXTURES = new URL('../../fixtures/converters/anthropic-openai/', import.meta.url).pathname;

export interface Direction {
  dir: 'anthropic-to-openai' | 'openai-to-anthropic';
  converter: Converter;
  /** The client protocol's own encoder, as the relay runs it on each converted event. */
  encode(event: ClientEvent): string;
}

/** Both client protocols here are SSE: their frames are text. */
const sseEncoder = (protocol: ClientProtocol) => (event: ClientEvent): string => {
  const frame = protocol.encodeEvent(event);
  return typeof frame === 'string' ? frame : Buffer.from(frame).toString('utf8');
};

export const directions: readonly Direction[] = [
  { dir: 'anthropic-to-openai', converter: anthropicMessagesToOpenaiChat, encode: sseEncoder(anthropicMessages) },
  { dir: 'openai-to-anthropic', converter: openaiChatToAnthropicMessages, encode: sseEncoder(openaiChat) },
];

export interface JsonFixture {
  file: string;
  it: string;
  ctx: ConversionContext;
  input: Record<string, unknown>;
  expected?: Record<string, unknown>;
  error?: string;
}

/** Every JSON fixture of one kind, freshly parsed and deep-frozen so a mutating converter throws. */
export function jsonFixtures(dir: string, kind: 'requests' | 'responses'): JsonFixture[] {
  const folder = join(FIXTURES, dir, kind);
  return readdirSync(folder)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const raw = JSON.parse(readFileSync(join(folder, file), 'utf8')) as Omit<JsonFixture, 'file'> & { ctx: { model: string | null } };
      const ctx: ConversionContext = { model: raw.ctx.model ?? undefined, stream: raw.ctx.stream };
      return { ...raw, file, ctx, input: deepFreeze(raw.input) };
    });
}

export interface StreamFixture {
  name: string;
  /** The first line of the upstream file, an SSE comment the decoder skips. */
  it: string;
  upstream: Buffer;
  clientPath: string;
}

export function streamFixtures(dir: string): StreamFixture[] {
  const folder = join(FIXTURES, dir, 'streams');
  return readdirSync(folder)
    .filter((f) => f.endsWith('.upstream.txt'))
    .sort()
    .map((file) => {
      const upstream = readFileSync(join(folder, file));
      const name = file.slice(0, -'.upstream.txt'.length);
      const it = upstream.toString('utf8').split(/\r?\n/, 1)[0]?.replace(/^:\s*/, '') ?? name;
      return { name, it, upstream, clientPath: join(folder, `${name}.client.txt`) };
    });
}

export const STREAM_CTX: ConversionContext = deepFreeze({ model: undefined, stream: true });

/**
 * Decodes `bytes` cut at `cuts` with the gateway's SSE decoder and runs every event through a fresh
 * stream converter, then `end()`, as the relay does when the upstream body ends.
 */
export function runStream(d: Direction, bytes: Buffer, cuts: readonly number[] = []): ClientEvent[] {
  const decoder = createSseDecoder();
  const stream = d.converter.stream?.(STREAM_CTX);
  if (!stream) throw new Error(`${d.dir} has no stream converter`);
  const out: ClientEvent[] = [];
  const feed = (events: { event?: string; data: string }[]): void => {
    for (const e of events) out.push(...stream.push(deepFreeze(e)));
  };
  let from = 0;
  for (const at of cuts) {
    feed(decoder.push(bytes.subarray(from, at)));
    from = at;
  }
  feed(decoder.push(bytes.subarray(from)));
  feed(decoder.end());
  out.push(...stream.end());
  return out;
}

/** `created` is the conversion time: fixtures hold 0 (after the spec checked it is one shared value). */
export function encodeAll(d: Direction, events: readonly ClientEvent[]): string {
  return events.map((e) => d.encode(e)).join('').replace(/"created":\d+/g, '"created":0');
}

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConversionContext, Converter } from '../../lib/protocols/converters/converter.ts';
import { findConverter } from '../../lib/protocols/converters/registry.ts';
import type { JsonObject, ProtocolName } from '../../lib/protocols/types.ts';

// Every golden case under spec/fixtures/converters/, whatever its folder's layout, as the input a
// converter is given: round trips and other cross-cutting checks run over all of them at once.

export interface GoldenInput {
  converter: Converter;
  kind: 'request' | 'response';
  /** Folder and case name, for test titles. */
  name: string;
  ctx: ConversionContext;
  input: JsonObject;
  /** The case expects the conversion to be refused. */
  refused: boolean;
}

const ROOT = new URL('../fixtures/converters/', import.meta.url).pathname;
const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));
const jsonFiles = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

function ctxOf(raw: unknown): ConversionContext {
  const ctx = raw as { model: string | null; stream: boolean };
  return { model: ctx.model ?? undefined, stream: ctx.stream };
}

function converter(from: ProtocolName, to: ProtocolName): Converter {
  const found = findConverter(from, to);
  if (!found) throw new Error(`no converter ${from} → ${to}`);
  return found;
}

/** anthropic-openai/<dir>/{requests,responses}/<case>.json: {it, ctx, input, expected | error}. */
function anthropicOpenai(): GoldenInput[] {
  const dirs = { 'anthropic-to-openai': converter('anthropic-messages', 'openai-chat'), 'openai-to-anthropic': converter('openai-chat', 'anthropic-messages') };
  return Object.entries(dirs).flatMap(([dir, c]) =>
    (['requests', 'responses'] as const).flatMap((kind) => {
      const folder = join(ROOT, 'anthropic-openai', dir, kind);
      return jsonFiles(folder).map((file) => {
        const raw = readJson(join(folder, file)) as JsonObject;
        return { converter: c, kind: kind === 'requests' ? 'request' : 'response', name: `${dir}/${kind}/${file}`, ctx: ctxOf(raw['ctx']), input: raw['input'] as JsonObject, refused: raw['error'] !== undefined } as const;
      });
    }),
  );
}

/** bedrock/<from>-to-<to>/{requests,responses}.json: [{name, ctx, input, output | error}]. */
function bedrock(): GoldenInput[] {
  const pairs: Array<[ProtocolName, ProtocolName]> = [
    ['openai-chat', 'bedrock-converse'],
    ['anthropic-messages', 'bedrock-converse'],
    ['bedrock-converse', 'openai-chat'],
    ['bedrock-converse', 'anthropic-messages'],
  ];
  return pairs.flatMap(([from, to]) =>
    (['requests', 'responses'] as const).flatMap((kind) => {
      const file = join(ROOT, 'bedrock', `${from}-to-${to}`, `${kind}.json`);
      return (readJson(file) as JsonObject[]).map((raw) => ({
        converter: converter(from, to),
        kind: kind === 'requests' ? 'request' : 'response',
        name: `bedrock/${from}-to-${to}/${kind}: ${String(raw['name'])}`,
        ctx: ctxOf(raw['ctx']),
        input: raw['input'] as JsonObject,
        refused: raw['error'] !== undefined,
      }) as const);
    }),
  );
}

/** responses/{request,response}/<case>.json: {description, ctx, client, upstream}. */
function responses(): GoldenInput[] {
  const c = converter('openai-responses', 'openai-chat');
  return (['request', 'response'] as const).flatMap((kind) => {
    const folder = join(ROOT, 'responses', kind);
    return jsonFiles(folder).map((file) => {
      const raw = readJson(join(folder, file)) as JsonObject;
      return { converter: c, kind, name: `responses/${kind}/${file}`, ctx: ctxOf(raw['ctx']), input: raw[kind === 'request' ? 'client' : 'upstream'] as JsonObject, refused: false };
    });
  });
}

/**
 * google-genai/<from>-to-<to>/{requests,responses}.json: [{name, ctx, input, output | error}]. The pairs
 * joined through OpenAI chat (Google ↔ Anthropic, Bedrock) take the same Google requests and Google
 * answers, less media and JSON schemas, whose rules belong to the chat converters on the other side.
 */
function googleGenai(): GoldenInput[] {
  const read = (from: ProtocolName, to: ProtocolName, kind: 'requests' | 'responses'): JsonObject[] =>
    readJson(join(ROOT, 'google-genai', `${from}-to-${to}`, `${kind}.json`)) as JsonObject[];
  const cases = (c: Converter, kind: 'request' | 'response', raws: JsonObject[], folder: string): GoldenInput[] =>
    raws.map((raw) => ({ converter: c, kind, name: `google-genai/${folder}: ${String(raw['name'])}`, ctx: ctxOf(raw['ctx']), input: raw['input'] as JsonObject, refused: raw['error'] !== undefined }));
  const plain = (raw: JsonObject): boolean => raw['error'] === undefined && !/inlineData|inline_data|fileData|responseMimeType/.test(JSON.stringify(raw['input']));
  const googleRequests = read('google-genai', 'openai-chat', 'requests');
  const googleAnswers = read('openai-chat', 'google-genai', 'responses');
  return [
    ...cases(converter('google-genai', 'openai-chat'), 'request', googleRequests, 'google-genai-to-openai-chat'),
    ...cases(converter('google-genai', 'openai-chat'), 'response', read('google-genai', 'openai-chat', 'responses'), 'google-genai-to-openai-chat'),
    ...cases(converter('openai-chat', 'google-genai'), 'request', read('openai-chat', 'google-genai', 'requests'), 'openai-chat-to-google-genai'),
    ...cases(converter('openai-chat', 'google-genai'), 'response', googleAnswers, 'openai-chat-to-google-genai'),
    ...(['anthropic-messages', 'bedrock-converse'] as const).flatMap((other) => [
      ...cases(converter('google-genai', other), 'request', googleRequests.filter(plain), `google-genai-to-${other}`),
      ...cases(converter(other, 'google-genai'), 'response', googleAnswers.filter(plain), `${other}-to-google-genai`),
    ]),
  ];
}

export function goldenInputs(): GoldenInput[] {
  return [...anthropicOpenai(), ...bedrock(), ...responses(), ...googleGenai()];
}

import { anthropicMessages } from './anthropic-messages.ts';
import { bedrockConverse } from './bedrock-converse.ts';
import { googleGenai } from './google-genai.ts';
import type { ClientProtocol, ErrorShape } from './client-protocol.ts';
import { openaiChat } from './openai-chat.ts';
import { openaiEmbeddings } from './openai-embeddings.ts';
import { openaiResponses } from './openai-responses.ts';
import { passthrough } from './passthrough.ts';
import type { ProtocolName, UpstreamProtocolName } from './types.ts';

// Every protocol the gateway knows, once. Lists elsewhere (plans, `request_body` keys, the schema's
// names) derive from here; the Record type makes the compiler refuse a name without a descriptor.
// Adding a client protocol: its descriptor file, its converters, and one line here (docs/architecture.md).

export const clientProtocols: Readonly<Record<ProtocolName, ClientProtocol>> = {
  'openai-chat': openaiChat,
  'openai-embeddings': openaiEmbeddings,
  'openai-responses': openaiResponses,
  'anthropic-messages': anthropicMessages,
  'bedrock-converse': bedrockConverse,
  'google-genai': googleGenai,
  passthrough,
};

/** A protocol only providers speak (no client sends it): what the pipeline must know of its answers. */
export interface UpstreamOnlyProtocol {
  name: Exclude<UpstreamProtocolName, ProtocolName>;
  errorShape: ErrorShape | 'google';
}

export const upstreamOnlyProtocols: Readonly<Record<Exclude<UpstreamProtocolName, ProtocolName>, UpstreamOnlyProtocol>> = {
  'vertex-predict': { name: 'vertex-predict', errorShape: 'google' },
};

export const clientProtocolNames = Object.keys(clientProtocols) as ProtocolName[];
export const upstreamProtocolNames = [...clientProtocolNames, ...(Object.keys(upstreamOnlyProtocols) as UpstreamProtocolName[])];

export function clientProtocol(name: ProtocolName): ClientProtocol {
  return clientProtocols[name];
}

/** The client-protocol grammar of an upstream protocol, when clients speak it too. */
export function asClientProtocol(name: UpstreamProtocolName): ClientProtocol | undefined {
  return name in clientProtocols ? clientProtocols[name as ProtocolName] : undefined;
}

export function upstreamErrorShape(name: UpstreamProtocolName): ErrorShape | 'google' {
  return asClientProtocol(name)?.errorShape ?? upstreamOnlyProtocols[name as Exclude<UpstreamProtocolName, ProtocolName>].errorShape;
}

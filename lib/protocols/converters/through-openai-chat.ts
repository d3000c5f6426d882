import type { ClientEvent, ConversionContext, Converter, StreamConverter, UpstreamEvent } from './converter.ts';
import { collectingStreamConverter } from './converter.ts';

// Two converters joined at OpenAI Chat, the pivot every client protocol already converts to and from:
// client → chat → provider for requests, provider → chat → client for answers and streams. Used where
// no direct converter exists (Google GenAI ↔ Anthropic, Bedrock and Responses); a direct converter,
// when one is written, carries more (signatures, cache points) and replaces the pair in the registry.

/** A chat event written by the first stage, as the second stage reads events off the wire. */
function asUpstream(event: ClientEvent): UpstreamEvent {
  const data = event.data === '[DONE]' ? '[DONE]' : JSON.stringify(event.data);
  return event.event === undefined ? { data } : { event: event.event, data };
}

function pipeStreams(toChat: StreamConverter, toClient: StreamConverter): StreamConverter {
  let done = false;
  const feed = (events: ClientEvent[], out: ClientEvent[]): void => {
    for (const e of events) out.push(...toClient.push(asUpstream(e)));
  };
  return collectingStreamConverter(
    () => done,
    (event, out) => feed(toChat.push(event), out),
    (out) => {
      done = true;
      feed(toChat.end(), out);
      out.push(...toClient.end());
    },
  );
}

/** `client` converts its protocol to OpenAI Chat, `provider` OpenAI Chat to the provider's protocol. */
export function throughOpenaiChat(client: Converter, provider: Converter): Converter {
  if (client.to !== 'openai-chat' || provider.from !== 'openai-chat') throw new Error(`${client.from} → ${client.to} and ${provider.from} → ${provider.to} do not meet at openai-chat`);
  const clientStream = client.stream;
  const providerStream = provider.stream;
  return {
    from: client.from,
    to: provider.to,
    request: (body, ctx) => provider.request(client.request(body, ctx), ctx),
    response: (body, ctx) => client.response(provider.response(body, ctx), ctx),
    ...(clientStream && providerStream && { stream: (ctx: ConversionContext) => pipeStreams(providerStream(ctx), clientStream(ctx)) }),
  };
}

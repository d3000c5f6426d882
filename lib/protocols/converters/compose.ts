import type { JsonObject } from '../types.ts';
import type { ClientEvent, ConversionContext, Converter, StreamConverter, UpstreamEvent } from './converter.ts';
import { collectingStreamConverter } from './converter.ts';

// Two converters chained through a pivot protocol (docs/protocols.md#composed-conversions): the
// client's converter into the pivot (`outer`, e.g. Responses → Chat) and the pivot's converter into
// the provider (`inner`, e.g. Chat → Anthropic). A request goes outer then inner; an answer and its
// stream come back inner then outer. The pivot's stream events are handed over as the upstream events
// the outer converter reads (JSON text; Chat's raw `[DONE]` sentinel stays as it is). Used where no
// direct converter exists (Responses → Anthropic and Bedrock, Google GenAI ↔ the others); a direct
// converter, when one is written, carries more (signatures, cache points) and replaces the pair.

function pivotEvent(event: ClientEvent): UpstreamEvent {
  const data = typeof event.data === 'string' ? event.data : JSON.stringify(event.data);
  return event.event === undefined ? { data } : { event: event.event, data };
}

function chainStreams(inner: StreamConverter, outer: StreamConverter): StreamConverter {
  let done = false;
  const relay = (events: ClientEvent[], out: ClientEvent[]): void => {
    for (const e of events) out.push(...outer.push(pivotEvent(e)));
  };
  return collectingStreamConverter(
    () => done,
    (event, out) => relay(inner.push(event), out),
    (out) => {
      done = true;
      relay(inner.end(), out);
      out.push(...outer.end());
    },
  );
}

export function composeConverters(outer: Converter, inner: Converter): Converter {
  if (outer.to !== inner.from) throw new Error(`cannot compose ${outer.from}→${outer.to} with ${inner.from}→${inner.to}`);
  const outerStream = outer.stream;
  const innerStream = inner.stream;
  const composed: Converter = {
    from: outer.from,
    to: inner.to,
    request: (body: JsonObject, ctx: ConversionContext) => inner.request(outer.request(body, ctx), ctx),
    response: (body: JsonObject, ctx: ConversionContext) => outer.response(inner.response(body, ctx), ctx),
  };
  if (outerStream && innerStream) composed.stream = (ctx) => chainStreams(innerStream(ctx), outerStream(ctx));
  return composed;
}

/**
 * One decoded event of an upstream stream — the one event type every decoder produces and every
 * observer and converter reads. From SSE it is the SSE event; from Bedrock's binary event-stream,
 * `event` is the `:event-type` header (or `exception:<:exception-type>` for an exception message) and
 * `data` the payload decoded as UTF-8 JSON text.
 */
export interface UpstreamEvent {
  event?: string;
  data: string;
  id?: string;
}

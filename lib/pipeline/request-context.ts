import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HashRequest } from '../balancer/hash-key.ts';
import type { ConsumerConfig } from '../config/types.ts';
import type { Logger } from '../observe/logger.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { RequestTrace } from '../observe/tracing.ts';
import type { ClientProtocol } from '../protocols/client-protocol.ts';
import type { JsonObject } from '../protocols/types.ts';
import type { RouteRuntime } from './route-runtime.ts';

/** One client request as the HTTP layer hands it to the pipeline. */
export interface RequestContext {
  reqId: string;
  req: IncomingMessage;
  res: ServerResponse;
  route: RouteRuntime;
  protocol: ClientProtocol;
  body: JsonObject;
  raw: Buffer;
  /** Path and query as the client sent them (passthrough forwards them). */
  pathAndQuery: string;
  hash: HashRequest;
  /** Who presented a known key; absent for anonymous requests (and on routes with auth "none"). */
  consumer?: ConsumerConfig;
  log: Logger;
  metrics: Metrics;
  started: number;
}

/** What every attempt of one request shares, decided once before the first. */
export interface RequestPlan {
  ctx: RequestContext;
  stream: boolean;
  /** The model the client asked for. */
  requestModel: string | undefined;
  /** Aborted when the client goes away. */
  clientSignal: AbortSignal;
  /** The request's span; each attempt gets a child. Absent: no tracing. */
  trace?: RequestTrace;
}

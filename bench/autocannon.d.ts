// The slice of autocannon 9's programmatic API the bench uses; the package ships no types and
// @types/autocannon is not a dependency. See node_modules/autocannon/README.md "API".
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  export interface AutocannonOptions {
    url: string;
    connections?: number;
    /** Seconds. */
    duration?: number;
    /** Seconds before a request counts as a timeout. */
    timeout?: number;
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    title?: string;
  }

  export interface AutocannonHistogram {
    average: number;
    min: number;
    max: number;
    p50: number;
    p99: number;
  }

  export interface AutocannonResult {
    /** Seconds, 10 ms precision. */
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    '2xx': number;
    latency: AutocannonHistogram;
    requests: AutocannonHistogram & { sent: number };
    statusCodeStats: Record<string, { count: number }>;
  }

  /** Emits 'response' (client, statusCode, resBytes, responseTimeMs) for every completed response. */
  export interface AutocannonInstance extends EventEmitter {
    stop(): void;
  }

  function autocannon(
    opts: AutocannonOptions,
    cb: (err: Error | null, result: AutocannonResult) => void,
  ): AutocannonInstance;
  export default autocannon;
}

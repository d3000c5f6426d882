import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import type { RequestHandler } from 'http-proxy-middleware';
import { passthroughResponseHeaders } from './headers.ts';
import { Agent as HttpAgent } from '../runtime/node-http.ts';

// Pass-through of any method and body (multipart uploads, downloads, SSE from endpoints the gateway
// does not speak) with http-proxy-middleware. One middleware serves every attempt: what differs per
// attempt (target, path, headers, body, TLS) is set from a per-request record in its router and hooks.
// The answer is handled here (selfHandleResponse), so the pipeline can look at its status and either
// relay it untouched or drop it and try another instance.

export interface ProxyAttempt {
  /** scheme://host[:port] of the instance. */
  origin: string;
  /** Path and query on the instance. */
  path: string;
  /** Every header to send, already cleaned and with the instance's credentials. */
  headers: Record<string, string>;
  /** The body to send (a replay of the client's bytes); undefined streams the client's request once. */
  body: Readable | undefined;
  sslVerify: boolean;
  /** The upstream's answer head: relay it to the client, or drop it (the attempt failed). */
  decide(status: number, headers: IncomingMessage['headers']): 'relay' | 'drop';
}

export type ProxyOutcome =
  /** The answer went to the client (or the client left while it did). */
  | { kind: 'relayed'; status: number; bytes: number; clientLeft: boolean; error?: Error }
  /** The answer was dropped: `body` holds its first bytes, for the error message and a last relay. */
  | { kind: 'dropped'; status: number; headers: IncomingMessage['headers']; body: Buffer }
  /** No answer: connection refused, reset, timeout, abort. */
  | { kind: 'failed'; error: Error };

interface InFlight {
  attempt: ProxyAttempt;
  settle(outcome: ProxyOutcome): void;
  upstream: ClientRequest | undefined;
  onChunk: () => void;
}

const MAX_DROPPED_BODY = 64 * 1024;

export interface PassthroughProxy {
  /**
   * One attempt. `signal` aborts it (the client left, or the idle watchdog fired); `onChunk` sees every
   * answer chunk, for that watchdog.
   */
  send(req: IncomingMessage, res: ServerResponse, attempt: ProxyAttempt, signal: AbortSignal, onChunk: () => void): Promise<ProxyOutcome>;
  close(): void;
}

export function createPassthroughProxy(): PassthroughProxy {
  const inFlight = new WeakMap<IncomingMessage, InFlight>();
  const agents = {
    http: new HttpAgent({ keepAlive: true }),
    https: new HttpsAgent({ keepAlive: true }),
    httpsUnverified: new HttpsAgent({ keepAlive: true, rejectUnauthorized: false }),
  };
  // http-proxy-middleware is loaded with the first pass-through request: most gateways never make one.
  let loaded: Promise<RequestHandler<IncomingMessage, ServerResponse>> | undefined;
  const middleware = (): Promise<RequestHandler<IncomingMessage, ServerResponse>> =>
    (loaded ??= import('http-proxy-middleware').then(({ createProxyMiddleware }) => createProxyMiddleware<IncomingMessage, ServerResponse>({
    changeOrigin: true,
    selfHandleResponse: true,
    // With our own `on.error` the middleware leaves error answers to us; its logger stays silent.
    router: (req, _res, options) => {
      const current = inFlight.get(req);
      if (!current) return ''; // no target: the middleware reports it through `next`
      const { attempt } = current;
      const https = attempt.origin.startsWith('https:');
      options.agent = https ? (attempt.sslVerify ? agents.https : agents.httpsUnverified) : agents.http;
      options.secure = attempt.sslVerify;
      if (attempt.body) options.buffer = attempt.body;
      return attempt.origin;
    },
    pathRewrite: (_path, req) => inFlight.get(req)?.attempt.path,
    on: {
      proxyReq: (proxyReq, req) => {
        const current = inFlight.get(req);
        if (!current) return;
        current.upstream = proxyReq;
        // Exactly the headers the pipeline chose: the client's were copied in by the proxy.
        for (const name of proxyReq.getHeaderNames()) proxyReq.removeHeader(name);
        for (const [name, value] of Object.entries(current.attempt.headers)) proxyReq.setHeader(name, value);
      },
      proxyRes: (proxyRes, req, res) => {
        const current = inFlight.get(req);
        if (!current) return void proxyRes.resume();
        const status = proxyRes.statusCode ?? 502;
        current.onChunk();
        if (current.attempt.decide(status, proxyRes.headers) === 'drop') return void keepHead(proxyRes, status, current);
        relay(proxyRes, res, status, current);
      },
      error: (err, req) => inFlight.get(req)?.settle({ kind: 'failed', error: err }),
    },
  })));

  return {
    send(req, res, attempt, signal, onChunk) {
      return new Promise<ProxyOutcome>((resolve) => {
        let done = false;
        const current: InFlight = {
          attempt,
          upstream: undefined,
          onChunk,
          settle: (outcome) => {
            if (done) return;
            done = true;
            signal.removeEventListener('abort', onAbort);
            inFlight.delete(req);
            resolve(outcome);
          },
        };
        // http-proxy-middleware does not abort the upstream when the client goes: the signal does.
        const onAbort = (): void => {
          const reason = signal.reason instanceof Error ? signal.reason : new Error('aborted');
          current.upstream?.destroy(reason);
          current.settle({ kind: 'failed', error: reason });
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        inFlight.set(req, current);
        const failed = (err?: unknown): void => current.settle({ kind: 'failed', error: err instanceof Error ? err : new Error(String(err)) });
        middleware().then((handle) => {
          // The client may have left while the module loaded: the abort already settled the attempt.
          if (!done) void handle(req, res, failed);
        }, failed);
      });
    },
    close() {
      for (const agent of Object.values(agents)) agent.destroy();
    },
  };
}

/** Reads the head of a dropped answer (bounded) for the reason and a possible last relay. */
function keepHead(proxyRes: IncomingMessage, status: number, current: InFlight): void {
  const chunks: Buffer[] = [];
  let size = 0;
  proxyRes.on('data', (chunk: Buffer) => {
    current.onChunk();
    if (size < MAX_DROPPED_BODY) chunks.push(chunk.subarray(0, MAX_DROPPED_BODY - size));
    size += chunk.length;
    if (size >= MAX_DROPPED_BODY) proxyRes.destroy();
  });
  const finish = (): void => current.settle({ kind: 'dropped', status, headers: proxyRes.headers, body: Buffer.concat(chunks) });
  proxyRes.once('end', finish);
  proxyRes.once('close', finish);
}

/** Streams the answer to the client untouched, with backpressure, and tells how it ended. */
function relay(proxyRes: IncomingMessage, res: ServerResponse, status: number, current: InFlight): void {
  let bytes = 0;
  const headers = passthroughResponseHeaders(proxyRes.headers);
  // The gateway's own limit headers (a consumer's) stand in for the provider's of the same name.
  for (const name of Object.keys(headers)) if (name.startsWith('x-ratelimit-') && res.hasHeader(name)) delete headers[name];
  res.writeHead(status, headers);
  proxyRes.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    current.onChunk();
    if (!res.write(chunk)) {
      proxyRes.pause();
      res.once('drain', () => proxyRes.resume());
    }
  });
  proxyRes.once('end', () => {
    res.end();
    current.settle({ kind: 'relayed', status, bytes, clientLeft: false });
  });
  proxyRes.once('error', (error) => {
    res.destroy();
    current.settle({ kind: 'relayed', status, bytes, clientLeft: false, error });
  });
  res.once('close', () => {
    if (res.writableFinished) return;
    proxyRes.destroy();
    current.settle({ kind: 'relayed', status, bytes, clientLeft: true });
  });
}

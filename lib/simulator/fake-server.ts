// The part every fake provider shares: a node:http server that records and counts what it receives,
// picks a scripted behaviour per call, plays the timing behaviours (delay, hang, drop, flaky), and
// closes without ever waiting on a client. Each fake adds only its wire format: routes, checks, bodies.
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RecordedRequest {
  method: string;
  /** Path and query, as received. */
  url: string;
  /** Path without the query. */
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The parsed body, or undefined when it is empty or not JSON. */
  json: unknown;
}

/** One request being answered. */
export interface Call<R extends RecordedRequest = RecordedRequest> {
  req: R;
  res: ServerResponse;
  /** Aborted when the client disconnects or the server closes. */
  signal: AbortSignal;
  /** 1-based arrival number since start or reset(), used in ids so an answer traces to one request. */
  seq: number;
}

export type ScriptFn<B extends Scripted, R extends RecordedRequest> = (req: R, callIndex: number) => B;

export interface FakeServerOptions<B extends Scripted, R extends RecordedRequest> {
  name: string;
  port?: number;
  host?: string;
  /** false → `requests` stays empty (the bench sends millions); `calls()` still counts. */
  record?: boolean;
  /** Waited by `behavior()`, before any header, to look like a real provider's think time. */
  latencyMs?: number;
  behavior: B | ScriptFn<B, R>;
  /** Completes what was received with the fake's own fields before it is counted and recorded. */
  describe: (req: RecordedRequest) => R | Promise<R>;
  /** Answers one call; `behavior()` waits the latency, then gives the behaviour scripted for this call. */
  handle: (call: Call<R>, behavior: () => Promise<B>) => Promise<void>;
  /** The 500 sent when `handle` fails before answering (e.g. a ScriptFn threw), in the fake's error shape. */
  crash: { headers?: Record<string, string>; body: string };
}

export interface FakeServer<B extends Scripted, R extends RecordedRequest> {
  readonly url: string;
  readonly port: number;
  readonly name: string;
  readonly requests: R[];
  /** Requests received (any endpoint, 404s included) whose path starts with `pathPrefix`. */
  calls(pathPrefix?: string): number;
  setBehavior(b: B | ScriptFn<B, R>): void;
  /** Forgets recorded requests and counts and restores the behaviour given at start. */
  reset(): void;
  /** Stops listening and destroys every socket, idle, hanging or streaming; never waits on clients. */
  close(): Promise<void>;
}

/** What every behaviour union has: a `kind` (a behaviour is never a function, so a ScriptFn is told apart by typeof). */
interface Scripted {
  kind: string;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of req) parts.push(chunk as Buffer);
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

export async function startFakeServer<B extends Scripted, R extends RecordedRequest>(opts: FakeServerOptions<B, R>): Promise<FakeServer<B, R>> {
  const { name, describe, handle } = opts;
  const record = opts.record ?? true;
  const latencyMs = opts.latencyMs ?? 0;
  const host = opts.host ?? '127.0.0.1';
  const crashHeaders = { 'content-type': 'application/json', ...opts.crash.headers };
  let behavior = opts.behavior;
  let callIndex = 0;
  const counts = new Map<string, number>();
  const requests: R[] = [];
  const sockets = new Set<Socket>();
  // One controller per open request (not AbortSignal.any over a server-wide one, which costs per call).
  const inFlight = new Set<AbortController>();
  let closed = false;

  async function receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const rec = await describe({ method: req.method ?? 'GET', url, path, headers: req.headers, body, json: parseJson(body) });
    const index = callIndex++;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    if (record) requests.push(rec);
    // Each request stops its timers when the client leaves or the server closes.
    const gone = new AbortController();
    inFlight.add(gone);
    res.on('close', () => {
      inFlight.delete(gone);
      gone.abort();
    });
    await handle({ req: rec, res, signal: gone.signal, seq: index + 1 }, async () => {
      if (latencyMs > 0) await sleep(latencyMs, undefined, { signal: gone.signal });
      return typeof behavior === 'function' ? behavior(rec, index) : behavior;
    });
  }

  const server = createServer((req, res) => {
    receive(req, res).catch(() => {
      // Aborted by close() or by the client, or a ScriptFn threw: a 500 if still possible, else cut.
      if (!res.headersSent && !closed && !res.destroyed) res.writeHead(500, crashHeaders).end(opts.crash.body);
      else res.destroy();
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(opts.port ?? 0, host);
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  let closing: Promise<void> | null = null;

  return {
    url: `http://${host}:${port}`,
    port,
    name,
    requests,
    calls(pathPrefix?: string): number {
      let n = 0;
      for (const [p, c] of counts) if (pathPrefix === undefined || p.startsWith(pathPrefix)) n += c;
      return n;
    },
    setBehavior(b: B | ScriptFn<B, R>): void {
      behavior = b;
    },
    reset(): void {
      requests.length = 0;
      counts.clear();
      callIndex = 0;
      behavior = opts.behavior;
    },
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        closed = true;
        for (const c of inFlight) c.abort();
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}

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

/** Every behaviour has a `kind`; none is a function, so `typeof` tells a ScriptFn apart. */
interface Scripted {
  kind: string;
}

interface Delay<A> {
  kind: 'delay';
  ms: number;
  then: WithTiming<A>;
}

/** The behaviours every fake plays alike, around the fake's own answers `A`. */
export type Timing<A> =
  | Delay<A>
  | { kind: 'hang' }
  | { kind: 'drop' }
  /** Fails with `status` (each fake has its default) at the given rate, else answers `ok`. */
  | { kind: 'flaky'; failRate: number; status?: number; random?: () => number };

/** A fake's behaviour union: its own answers `A` plus the timing behaviours. */
export type WithTiming<A> = A | Timing<A>;

/** The answers a fake writes itself: its behaviour union without the timing behaviours `play` handles. */
export type Untimed<B> = Exclude<B, Timing<unknown>>;

/** A scripted error answer; `body` replaces the fake's default error body for `status`. */
export interface StatusBehavior {
  kind: 'status';
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  retryAfter?: number;
}

export type ScriptFn<B extends Scripted, R extends RecordedRequest> = (req: R, callIndex: number) => B;

/** The options every fake takes. */
export interface FakeOptions<B extends Scripted, R extends RecordedRequest = RecordedRequest> {
  port?: number;
  host?: string;
  name?: string;
  behavior?: B | ScriptFn<B, R>;
  /** Added before every answer (before headers), to look like a real provider's think time. */
  latencyMs?: number;
  /** false → `requests` stays empty (the bench sends millions); `calls()` still counts. */
  record?: boolean;
}

export interface FakeServerOptions<B extends Scripted, R extends RecordedRequest> extends FakeOptions<B, R> {
  name: string;
  behavior: B | ScriptFn<B, R>;
  /** Completes what was received with the fake's own fields before it is counted and recorded. */
  describe: (req: RecordedRequest) => R | Promise<R>;
  /** Answers one call; `behavior()` waits `latencyMs`, then gives the behaviour scripted for this call. */
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

/** The headers of a `status` answer: the scripted ones, plus `retry-after` when asked for. */
export function statusHeaders(b: StatusBehavior): Record<string, string> {
  const headers: Record<string, string> = { ...b.headers };
  if (b.retryAfter !== undefined) headers['retry-after'] = String(b.retryAfter);
  return headers;
}

const TIMING_KINDS: ReadonlySet<string> = new Set(['delay', 'hang', 'drop', 'flaky']);

function isTiming<A extends Scripted>(b: WithTiming<A>): b is Timing<A> {
  return TIMING_KINDS.has(b.kind);
}

/**
 * Plays `b`: waits out `delay`, holds `hang` until the call ends, resets the socket for `drop`, and
 * turns `flaky` into a `status` answer (default `flakyStatus`) or `ok`. Everything else goes to `answer`.
 */
export async function play<A extends Scripted>(
  call: Pick<Call, 'res' | 'signal'>,
  b: WithTiming<A>,
  flakyStatus: number,
  answer: (b: A | { kind: 'ok' } | { kind: 'status'; status: number }) => Promise<void> | void,
): Promise<void> {
  if (!isTiming(b)) return answer(b);
  switch (b.kind) {
    case 'delay':
      await sleep(b.ms, undefined, { signal: call.signal });
      return play(call, b.then, flakyStatus, answer);
    case 'hang':
      // Answer nothing; close() or the client's disconnect aborts the signal and frees the request.
      if (!call.signal.aborted) await once(call.signal, 'abort');
      return;
    case 'drop':
      // RST rather than FIN: the client sees ECONNRESET, as when a provider's load balancer resets.
      call.res.socket?.resetAndDestroy();
      return;
    case 'flaky':
      if ((b.random ?? Math.random)() < b.failRate) return answer({ kind: 'status', status: b.status ?? flakyStatus });
      return answer({ kind: 'ok' });
  }
}

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { GatewayError } from '../errors.ts';
import type { GatewayConfig } from '../config/types.ts';
import { rawErrorResponse, shapeOfRawRequest } from './raw-error.ts';

// Deadlines on what a client SENDS, and on idle connections. Once a request is fully received its
// response may take minutes (an LLM thinking): only the upstream `timeout` bounds that, so no timer
// runs while a response is being written.

export interface ConnectionLimits {
  firstByteMs: number;
  /** From a request's first byte to the end of its headers; absolute, so trickling bytes does not help. */
  headersMs: number;
  /** Longest gap between two bytes of a request body. */
  bodyMs: number;
  /** A keep-alive connection (or HTTP/2 session) with no request open. */
  idleMs: number;
}

export type DeadlineStage = 'first_byte' | 'headers' | 'body' | 'idle';

/** Told once for each connection closed (or HTTP/2 stream reset) for missing a deadline. */
export type OnExpired = (stage: DeadlineStage) => void;

export function connectionLimits(server: GatewayConfig['server']): ConnectionLimits {
  return {
    firstByteMs: server.first_byte_timeout_ms,
    headersMs: server.headers_timeout_ms,
    bodyMs: server.body_timeout_ms,
    idleMs: server.idle_timeout_ms,
  };
}

type Stage = DeadlineStage | 'response';

/**
 * One HTTP/1.1 connection's deadlines. Gaps (first byte, body, idle) use the socket's own inactivity
 * timer, which node:http refreshes on every read. The headers deadline (from a request's first byte,
 * so trickling does not extend it) is node:http's own connection checker, which reads the parser's
 * state natively: watching every chunk from JS instead costs the native parse path (~10% CPU).
 */
class Http1Connection {
  readonly #socket: Socket;
  readonly #limits: ConnectionLimits;
  readonly #onExpired: OnExpired;
  #stage: Stage = 'first_byte';
  /** Bytes read when the connection last went idle: more since then means a request has begun. */
  #readAtIdle = 0;
  /** Requests whose response has not closed; those in `#receiving` are still sending their body. */
  #open = 0;
  readonly #receiving = new Set<IncomingMessage>();
  /** The requests whose response has not closed, for answering a parse error in the right shape. */
  readonly #responses = new Map<IncomingMessage, ServerResponse>();

  constructor(socket: Socket, limits: ConnectionLimits, onExpired: OnExpired, firstByteSeen: boolean) {
    this.#socket = socket;
    this.#limits = limits;
    this.#onExpired = onExpired;
    socket.on('timeout', () => this.#expire());
    // Headers that started are node:http's checker's to time out; until then the first-byte gap runs.
    socket.setTimeout(firstByteSeen ? limits.headersMs : limits.firstByteMs);
  }

  get idle(): boolean {
    return this.#stage === 'idle' || this.#stage === 'first_byte';
  }

  onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.#open += 1;
    this.#responses.set(req, res);
    if (!req.complete) {
      this.#receiving.add(req);
      const onReceived = () => {
        if (this.#receiving.delete(req)) this.#settle();
      };
      req.once('end', onReceived);
      req.once('close', onReceived);
    }
    // After node:http's own finish handler, which may have set its keep-alive timer on the socket.
    res.once('close', () => {
      this.#responses.delete(req);
      this.#open -= 1;
      this.#settle();
    });
    this.#settle();
  }

  #settle(): void {
    if (this.#socket.destroyed) return;
    if (this.#receiving.size > 0) {
      this.#stage = 'body';
      this.#socket.setTimeout(this.#limits.bodyMs);
    } else if (this.#open > 0) {
      this.#stage = 'response';
      this.#socket.setTimeout(0);
    } else {
      this.#stage = 'idle';
      this.#readAtIdle = this.#socket.bytesRead;
      this.#socket.setTimeout(this.#limits.idleMs);
    }
  }

  #expire(): void {
    const stage = this.#stage;
    if (stage === 'response') return;
    if ((stage === 'idle' || stage === 'first_byte') && this.#socket.bytesRead > this.#readAtIdle) {
      // A request has begun: its headers deadline is node:http's checker's, which answers 408. This
      // timer stays only as a backstop, one headers deadline of silence later.
      this.#stage = 'headers';
      this.#socket.setTimeout(this.#limits.headersMs);
      return;
    }
    // 'end' comes only once the app reads the body; a body fully received but left unread is not late.
    if (stage === 'body' && [...this.#receiving].every((req) => req.complete)) {
      this.#receiving.clear();
      this.#settle();
      return;
    }
    this.#onExpired(stage);
    this.#socket.destroy();
  }

  /** A parse error from node:http: answer it in JSON unless a response is already on the wire. */
  answerClientError(err: NodeJS.ErrnoException & { rawPacket?: Buffer }): void {
    const socket = this.#socket;
    const open = [...this.#responses];
    // A malformed chunked body arrives while its request is open: answer it unless a response started.
    if (open.some(([, res]) => res.headersSent) || !socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const shape = shapeOfRawRequest(err.rawPacket, open[0]?.[0].url);
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') this.#onExpired('headers');
    socket.end(rawErrorResponse(parserError(err, this.#limits), shape));
    socket.destroySoon();
  }
}

function parserError(err: NodeJS.ErrnoException & { reason?: string }, limits: ConnectionLimits): GatewayError {
  switch (err.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      // node:http's checker: the headers of a request were not complete in time.
      return new GatewayError('REQUEST_TIMEOUT', 408, `request headers were not complete within ${limits.headersMs} ms`, { kind: 'invalid_request' });
    case 'HPE_HEADER_OVERFLOW':
      return new GatewayError('HEADERS_TOO_LARGE', 431, 'request headers are too large');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new GatewayError('BODY_TOO_LARGE', 413, 'request chunk extensions are too large');
    default: {
      // llhttp's reason is a fixed phrase ("Invalid method encountered"), never the client's bytes.
      const reason = typeof err.reason === 'string' ? `: ${err.reason}` : '';
      return new GatewayError('MALFORMED_REQUEST', 400, `malformed HTTP request${reason}`);
    }
  }
}

export interface Http1Guard {
  /** Puts a socket the server now owns under deadlines; `firstByteSeen` when bytes were already read. */
  adopt(socket: Socket, firstByteSeen: boolean): void;
  /** Closes connections waiting for a request (shutdown); busy ones close after their response. */
  closeIdle(): void;
}

/** Deadlines, JSON parse-error answers and node:http's own timers turned off, for one HTTP/1 server. */
export function guardHttp1Server(server: Server, limits: ConnectionLimits, onExpired: OnExpired): Http1Guard {
  const connections = new Map<Socket, Http1Connection>();
  // node:http's connection checker enforces the headers deadline natively (answered through
  // 'clientError' below); it runs only once the server says 'listening', which a server that is handed
  // sockets by the front listener never does on its own. No whole-request deadline: a body is bounded
  // by its gaps, a response by the upstream `timeout`.
  server.requestTimeout = 0;
  server.headersTimeout = limits.headersMs;
  // The checker's period is how late a headers deadline may fire (node:http's option of that name).
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.max(10, Math.min(250, Math.floor(limits.headersMs / 4)));
  server.timeout = 0;
  // node:http arms its own keep-alive timer and advertises `Keep-Alive: timeout=`: keep both equal to ours.
  server.keepAliveTimeout = limits.idleMs;
  server.keepAliveTimeoutBuffer = 0;
  // Without a listener here node:http destroys a socket on any 'timeout'; the guard decides instead.
  server.on('timeout', () => {});
  // Before the app's own listener, so a response ended synchronously is still seen opening.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => connections.get(req.socket)?.onRequest(req, res));
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const connection = connections.get(socket as Socket);
    if (connection) connection.answerClientError(err);
    else socket.destroy();
  });
  return {
    adopt(socket, firstByteSeen) {
      connections.set(socket, new Http1Connection(socket, limits, onExpired, firstByteSeen));
      socket.once('close', () => connections.delete(socket));
    },
    closeIdle() {
      for (const [socket, connection] of connections) if (connection.idle) socket.destroy();
    },
  };
}

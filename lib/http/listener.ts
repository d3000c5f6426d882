import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttp2Server } from 'node:http2';
import type { Http2ServerRequest, Http2ServerResponse, Http2Session } from 'node:http2';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { ConnectionMetrics, ListenerName } from '../observe/metrics.ts';
import type { ConnectionLimits, DeadlineStage, Http1Guard } from './connection-guard.ts';
import { guardHttp1Server } from './connection-guard.ts';
import { guardHttp2Session } from './h2-session-guard.ts';
import { createServer as createHttpServer } from '../runtime/node-http.ts';

// nghttp2 lets a peer open streams without limit; 128 is above what SDKs use (the RFC asks for >= 100).
const MAX_STREAMS_PER_SESSION = 128;
/** Pending connections the kernel queues until they are accepted (capped by net.core.somaxconn). */
const LISTEN_BACKLOG = 4096;

// One port for HTTP/1.1 and cleartext HTTP/2 (prior knowledge, "h2c"): the AWS SDK talks HTTP/2 to
// Bedrock by default, the OpenAI and Anthropic SDKs HTTP/1.1. The first bytes of a connection decide:
// an HTTP/2 connection starts with the preface `PRI * HTTP/2.0`, which no HTTP/1 request can.

export interface DualListener {
  listen(port: number, host: string): Promise<number>;
  /** Stop accepting connections; idle HTTP/1 keep-alive connections close, HTTP/2 sessions get GOAWAY. */
  stopAccepting(): Promise<void>;
  /** Close every connection now. */
  destroyAll(): void;
}

export interface ListenerOptions {
  limits: ConnectionLimits;
  maxConnections: number;
  metrics: ConnectionMetrics;
}

/** HTTP/2 reads a socket's native handle directly, so bytes we already read would be lost: hand it a
 * JS duplex over the socket that replays them. */
function replayingDuplex(socket: Socket): Duplex {
  const duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(data: Buffer, encoding, done) {
      socket.write(data, encoding, done);
    },
    final(done) {
      socket.end(done);
    },
    destroy(err, done) {
      socket.destroy(err ?? undefined);
      done(err);
    },
  });
  socket.on('data', (data: Buffer) => {
    if (!duplex.push(data)) socket.pause();
  });
  socket.on('end', () => duplex.push(null));
  socket.on('error', (err) => duplex.destroy(err));
  socket.on('close', () => duplex.destroy());
  return duplex;
}

// Behind the replaying duplex an HTTP/2 session's socket has no address: remember the real one.
const sessionAddresses = new WeakMap<Http2Session, string>();

/** The client's IP address, for HTTP/1 and HTTP/2 requests alike. */
export function clientAddress(req: IncomingMessage | Http2ServerRequest): string {
  const session = 'stream' in req ? req.stream.session : undefined;
  return (session && sessionAddresses.get(session)) ?? req.socket.remoteAddress ?? '';
}

/**
 * Caps open connections (excess ones are closed at accept, by net.Server itself) and counts them.
 * Returns the open sockets.
 */
export function limitConnections(server: NetServer, listener: ListenerName, opts: ListenerOptions): Set<Socket> {
  const sockets = new Set<Socket>();
  server.maxConnections = opts.maxConnections;
  server.on('drop', () => opts.metrics.rejected(listener));
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    opts.metrics.opened(listener);
    socket.once('close', () => {
      sockets.delete(socket);
      opts.metrics.closed(listener);
    });
  });
  return sockets;
}

/** The same deadlines and limits for a plain node:http server (the admin listener). */
export function guardAdminServer(server: Server, opts: ListenerOptions): Http1Guard {
  const guard = guardHttp1Server(server, opts.limits, (stage) => opts.metrics.timedOut('admin', stage));
  limitConnections(server, 'admin', opts);
  server.on('connection', (socket: Socket) => guard.adopt(socket, false));
  return guard;
}

export function createDualListener(
  onHttp1: (req: IncomingMessage, res: ServerResponse) => void,
  onHttp2: (req: Http2ServerRequest, res: Http2ServerResponse) => void,
  opts: ListenerOptions,
): DualListener {
  const { limits, metrics } = opts;
  const expired = (stage: DeadlineStage): void => metrics.timedOut('data', stage);
  const http = createHttpServer(onHttp1);
  const http1 = guardHttp1Server(http, limits, expired);
  // Starts node:http's connection checker (the headers deadline): this server is handed its sockets
  // by `front` and never listens itself.
  http.emit('listening');
  // A bound on streams per session, as on HTTP/1 connections per listener (nghttp2's default is none).
  const h2 = createHttp2Server({ settings: { maxConcurrentStreams: MAX_STREAMS_PER_SESSION } }, onHttp2);
  const sessions = new Set<Http2Session>();
  let connecting = '';
  h2.on('session', (session) => {
    sessionAddresses.set(session, connecting);
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    guardHttp2Session(session, limits, expired);
  });
  // noDelay: streams are many small writes, and Nagle's algorithm would hold each one for the peer's
  // delayed ACK (~40 ms). node:http sets it on the sockets it accepts itself; ours are accepted here.
  const front = createNetServer({ noDelay: true });
  const sockets = limitConnections(front, 'data', opts);
  front.on('connection', (socket: Socket) => {
    socket.on('error', () => socket.destroy());
    const silent = (): void => {
      expired('first_byte');
      socket.destroy();
    };
    socket.setTimeout(limits.firstByteMs);
    socket.once('timeout', silent);
    socket.once('data', (first: Buffer) => {
      socket.setTimeout(0);
      socket.off('timeout', silent);
      socket.pause();
      socket.unshift(first);
      if (first.subarray(0, 3).toString('latin1') === 'PRI') {
        connecting = socket.remoteAddress ?? ''; // 'session' fires synchronously inside emit
        h2.emit('connection', replayingDuplex(socket));
      } else {
        http.emit('connection', socket);
        http1.adopt(socket, true);
      }
      socket.resume();
    });
  });

  return {
    listen(port, host) {
      return new Promise((resolve, reject) => {
        front.once('error', reject);
        // Node's default backlog is 511: a burst of new connections (thousands of streaming clients
        // reconnecting at once) overflows it while the process is busy, and the kernel drops them. The
        // kernel caps this at net.core.somaxconn.
        front.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
          front.off('error', reject);
          resolve((front.address() as AddressInfo).port);
        });
      });
    },
    stopAccepting() {
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      http1.closeIdle();
      for (const session of sessions) session.close();
      // Sockets that never sent a byte belong to neither server yet.
      for (const socket of sockets) if (socket.bytesRead === 0) socket.destroy();
      return closed;
    },
    destroyAll() {
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
      // Stops node:http's connection checker (it reports the server as not running; nothing to wait for).
      http.close(() => undefined);
    },
  };
}

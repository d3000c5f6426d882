import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttp2Server } from 'node:http2';
import type { Http2ServerRequest, Http2ServerResponse, Http2Session } from 'node:http2';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { Duplex } from 'node:stream';

// One port for HTTP/1.1 and cleartext HTTP/2 (prior knowledge, "h2c"): the AWS SDK talks HTTP/2 to
// Bedrock by default, the OpenAI and Anthropic SDKs HTTP/1.1. The first bytes of a connection decide:
// an HTTP/2 connection starts with the preface `PRI * HTTP/2.0`, which no HTTP/1 request can.

export interface DualListener {
  http: Server;
  listen(port: number, host: string): Promise<number>;
  /** Stop accepting connections; idle HTTP/1 keep-alive connections close, HTTP/2 sessions get GOAWAY. */
  stopAccepting(): Promise<void>;
  /** Close every connection now. */
  destroyAll(): void;
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

export function createDualListener(
  onHttp1: (req: IncomingMessage, res: ServerResponse) => void,
  onHttp2: (req: Http2ServerRequest, res: Http2ServerResponse) => void,
): DualListener {
  const http = createHttpServer(onHttp1);
  const h2 = createHttp2Server(onHttp2);
  const sessions = new Set<Http2Session>();
  let connecting = '';
  h2.on('session', (session) => {
    sessionAddresses.set(session, connecting);
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  const sockets = new Set<Socket>();
  // noDelay: streams are many small writes, and Nagle's algorithm would hold each one for the peer's
  // delayed ACK (~40 ms). node:http sets it on the sockets it accepts itself; ours are accepted here.
  const front = createNetServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      if (first.subarray(0, 3).toString('latin1') === 'PRI') {
        connecting = socket.remoteAddress ?? ''; // 'session' fires synchronously inside emit
        h2.emit('connection', replayingDuplex(socket));
      } else {
        http.emit('connection', socket);
      }
      socket.resume();
    });
  });

  return {
    http,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        front.once('error', reject);
        front.listen(port, host, () => {
          front.off('error', reject);
          resolve((front.address() as AddressInfo).port);
        });
      });
    },
    stopAccepting() {
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      http.closeIdleConnections();
      for (const session of sessions) session.close();
      // Sockets that never sent a byte belong to neither server yet.
      for (const socket of sockets) if (socket.bytesRead === 0) socket.destroy();
      return closed;
    },
    destroyAll() {
      http.closeAllConnections();
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
    },
  };
}

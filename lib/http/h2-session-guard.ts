import { constants } from 'node:http2';
import type { ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import type { ConnectionLimits, OnExpired } from './connection-guard.ts';

/**
 * HTTP/2 deadlines, per session and per stream. A session with no stream open gets one timer: the
 * first request's headers are due `headersMs` after the preface, later ones `idleMs` after the last
 * stream closed; PINGs and SETTINGS do not push it back. A stream still sending its body is reset
 * after `bodyMs` without a DATA frame. Nothing runs once a stream's request is fully received.
 */
export function guardHttp2Session(session: ServerHttp2Session, limits: ConnectionLimits, onExpired: OnExpired): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = (stage: 'headers' | 'idle', ms: number): void => {
    timer = setTimeout(() => {
      timer = undefined;
      if (open > 0 || session.destroyed) return;
      onExpired(stage);
      // Not close(): after a graceful close node waits for the peer to close the socket. destroy()
      // still sends GOAWAY before it ends the connection.
      session.destroy();
    }, ms);
  };
  arm('headers', limits.headersMs);

  session.on('stream', (stream: ServerHttp2Stream) => {
    open += 1;
    clearTimeout(timer);
    timer = undefined;
    if (!stream.endAfterHeaders) {
      // The stream's inactivity timer, refreshed by node on every DATA frame read.
      stream.setTimeout(limits.bodyMs, () => {
        onExpired('body');
        stream.close(constants.NGHTTP2_CANCEL);
      });
      stream.once('end', () => stream.setTimeout(0));
    }
    stream.once('close', () => {
      open -= 1;
      if (open === 0 && !session.closed && !session.destroyed) arm('idle', limits.idleMs);
    });
  });
  session.once('close', () => clearTimeout(timer));
}

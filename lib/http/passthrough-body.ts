import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.ts';
import type { PassthroughBody } from '../pipeline/passthrough.ts';

// A pass-through body is held whole while it fits `replayLimit`, so a failed attempt can be replayed
// on another instance; past that the head read so far and the rest of the socket stream through once.
// `hardLimit` (max_req_body_size) bounds it either way.

function tooLarge(limit: number): GatewayError {
  return new GatewayError('BODY_TOO_LARGE', 413, `request body exceeds the limit of ${limit} bytes`);
}

export function readPassthroughBody(req: IncomingMessage, replayLimit: number, hardLimit: number): Promise<PassthroughBody> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > hardLimit) return Promise.reject(tooLarge(hardLimit));
  return new Promise((resolve, reject) => {
    const head: Buffer[] = [];
    let size = 0;
    const stop = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      head.push(chunk);
      size += chunk.length;
      if (size > hardLimit) {
        stop();
        req.resume();
        reject(tooLarge(hardLimit));
      } else if (size > replayLimit) {
        stop();
        req.pause();
        resolve({ kind: 'streaming', head, rest: req, limit: hardLimit });
      }
    };
    const onEnd = (): void => {
      stop();
      resolve({ kind: 'held', bytes: head.length === 1 && head[0] ? head[0] : Buffer.concat(head, size) });
    };
    const onError = (err: Error): void => {
      stop();
      reject(err);
    };
    const onClose = (): void => {
      if (req.complete) return;
      stop();
      reject(new Error('the client closed the connection before sending the whole body'));
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
  });
}

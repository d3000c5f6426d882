import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/** A bare TCP client: what a slow or hostile client sends, byte by byte, and when the server hangs up. */
export interface RawConnection {
  socket: Socket;
  /** performance.now() when the TCP connection was established. */
  openedAt: number;
  /** Everything the server sent so far. */
  received(): string;
  /** performance.now() when the server closed the connection; undefined while it is open. */
  closedAt(): number | undefined;
  /** Waits up to `maxMs` for the close; resolves its time, or undefined if still open. */
  waitClosed(maxMs: number): Promise<number | undefined>;
}

export function rawConnect(url: string): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let text = '';
    let closed: number | undefined;
    const closing = new Promise<number>((done) =>
      socket.once('close', () => {
        closed = performance.now();
        done(closed);
      }),
    );
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', () => {}); // a reset shows as 'close'
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve({
        socket,
        openedAt: performance.now(),
        received: () => text,
        closedAt: () => closed,
        waitClosed: (maxMs) => Promise.race([closing, sleep(maxMs).then(() => closed)]),
      });
    });
    socket.once('error', reject);
  });
}

/** Status and JSON body of the one HTTP/1.1 response in `raw`. */
export function parseRawResponse(raw: string): { status: number; headers: Record<string, string>; json: unknown } {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, end === -1 ? raw.length : end).split('\r\n');
  const status = Number(head[0]?.split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let json: unknown;
  try {
    json = JSON.parse(raw.slice(end + 4));
  } catch {
    json = undefined;
  }
  return { status, headers, json };
}

/** One sample of a Prometheus metric from an admin /metrics page (0 when absent). */
export async function metricValue(adminUrl: string, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const braces = line.slice(name.length).match(/^\{(.*)\}/)?.[1] ?? '';
    const have = braces === '' ? [] : braces.split(',');
    if (want.every((w) => have.includes(w))) return Number(line.split(' ').at(-1));
  }
  return 0;
}

import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

// A bare upstream for fault tests: each test writes the wire behaviour it needs (an echo of the key,
// a stall, a reset mid-stream, a huge body) instead of scripting a fake provider.

export interface RawUpstream {
  url: string;
  /** Requests received so far. */
  calls(): number;
  /** Connections open right now. */
  openSockets(): number;
  /** Requests whose client went away before the answer ended. */
  aborted(): number;
  close(): Promise<void>;
}

export type RawHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void | Promise<void>;

export async function startRawUpstream(handler: RawHandler): Promise<RawUpstream> {
  let calls = 0;
  let aborted = 0;
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    calls += 1;
    res.on('close', () => {
      if (!res.writableFinished) aborted += 1;
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void Promise.resolve(handler(req, res, Buffer.concat(chunks))).catch(() => res.destroy());
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls: () => calls,
    openSockets: () => sockets.size,
    aborted: () => aborted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** An OpenAI chat completion with usage. */
export function chatCompletion(content: string): string {
  return JSON.stringify({
    id: 'chatcmpl-raw',
    object: 'chat.completion',
    created: 1,
    model: 'raw-model',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
  });
}

/** One OpenAI chat stream chunk as an SSE frame. */
export function chatChunk(content: string, finish: string | null = null): string {
  const chunk = { id: 'chatcmpl-raw', object: 'chat.completion.chunk', created: 1, model: 'raw-model', choices: [{ index: 0, delta: { content }, finish_reason: finish }] };
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

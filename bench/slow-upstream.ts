// The open-streams bench's upstream: an OpenAI-style chat server whose every answer is a slow stream,
// one chunk every CHUNK_MS for SECONDS, like a model trickling tokens. Each chunk's content carries the
// moment it was written (`t=<epoch ms with fractions>`), so the client can measure how long the chunk
// took to reach it through whatever sits in between. Each stream ticks on its own timer from its own
// start, so chunks of different streams do not all arrive at once (real streams are not in step).
// Usage: node bench/slow-upstream.ts <chunk ms> <seconds> [port]; prints {"port":N} when listening.
import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';

const chunkMs = Number(process.argv[2] ?? 200);
const seconds = Number(process.argv[3] ?? 30);
const chunks = Math.max(1, Math.round((seconds * 1000) / chunkMs));
const now = (): number => performance.timeOrigin + performance.now();

const frame = (delta: object, finish: string | null): string =>
  `data: ${JSON.stringify({
    id: 'chatcmpl-slow',
    object: 'chat.completion.chunk',
    created: 1700000000,
    model: 'bench-model',
    choices: [{ index: 0, delta, finish_reason: finish }],
  })}\n\n`;

function stream(res: ServerResponse, count: number): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.write(frame({ role: 'assistant', content: '' }, null));
  let sent = 0;
  const timer = setInterval(() => {
    if (res.destroyed) {
      clearInterval(timer);
      return;
    }
    sent += 1;
    res.write(frame({ content: `t=${now().toFixed(3)} ` }, null));
    if (sent < count) return;
    clearInterval(timer);
    res.write(frame({}, 'stop'));
    const usage = { prompt_tokens: 12, completion_tokens: count, total_tokens: 12 + count };
    res.write(`data: ${JSON.stringify({ id: 'chatcmpl-slow', object: 'chat.completion.chunk', created: 1700000000, model: 'bench-model', choices: [], usage })}\n\n`);
    res.end('data: [DONE]\n\n');
  }, chunkMs);
  res.on('close', () => clearInterval(timer));
}

// A request's own max_tokens (or max_completion_tokens) shortens its stream: the bench's warm-up
// requests finish in a few chunks, the measured ones run for SECONDS.
function chunksFor(body: string): number {
  try {
    const parsed = JSON.parse(body) as { max_tokens?: unknown; max_completion_tokens?: unknown };
    const asked = Number(parsed.max_completion_tokens ?? parsed.max_tokens);
    return Number.isInteger(asked) && asked > 0 ? Math.min(asked, chunks) : chunks;
  } catch {
    return chunks;
  }
}

const server = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (text: string) => {
    body += text;
  });
  req.on('end', () => stream(res, chunksFor(body)));
});
server.keepAliveTimeout = 60_000;
server.maxConnections = 1_000_000;
server.listen(Number(process.argv[4] ?? 0), '127.0.0.1', 4096, () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});

function stop(): void {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();

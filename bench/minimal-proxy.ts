// The floor any Node LLM proxy pays: accept the request, read and parse the JSON body, rewrite the
// model, serialise it again, send it through a keep-alive undici Pool and stream the answer back.
// No routing, balancing, retries, logging or metrics: the gateway's overhead is measured against this.
// Usage: node bench/minimal-proxy.ts <upstream-origin> [port]; prints {"port":N} when listening.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const upstream = process.argv[2] ?? 'http://127.0.0.1:19001';
const pool = new Pool(upstream, { keepAliveTimeout: 30_000 });

const server = createServer((req, res) => {
  const parts: Buffer[] = [];
  req.on('data', (chunk: Buffer) => parts.push(chunk));
  req.on('end', () => {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(parts).toString('utf8')) as Record<string, unknown>;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"bad json"}}');
      return;
    }
    body.model = 'bench-rewritten-model';
    const payload = JSON.stringify(body);
    const headers = { 'content-type': 'application/json', authorization: 'Bearer sk-bench' };
    // pool.stream hands chunks straight to `res` as they arrive, so SSE is relayed frame by frame.
    pool
      .stream({ path: req.url ?? '/', method: 'POST', headers, body: payload }, ({ statusCode, headers: h }) => {
        res.writeHead(statusCode, { 'content-type': String(h['content-type'] ?? 'application/json') });
        return res;
      })
      .catch(() => {
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
      });
  });
});

server.listen(Number(process.argv[3] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});

async function stop(): Promise<void> {
  server.close();
  server.closeAllConnections();
  await pool.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();

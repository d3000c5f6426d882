#!/usr/bin/env node
// npm run demo: the gateway in front of three local simulated providers, one of them flaky, so
// balancing and failover can be seen without any provider key. `--once` exits after the scripted
// burst with code 0 only if no request failed for the client (handy as a smoke test).
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { startFakeOpenAI } from './simulator/fake-openai.ts';
import { loadConfigText } from '../lib/load-config.ts';
import { createGateway } from '../lib/gateway.ts';
import { createLogger } from '../lib/observe/logger.ts';

const runOnce = process.argv.includes('--once');
const CONFIG = new URL('../config/demo.json', import.meta.url);
const BASE = 'http://127.0.0.1:9080';
const REQUESTS = 30;
const FLAKY_FAIL_RATE = 0.4;

// Seeded, so every run of the demo fails the same requests and tells the same story.
function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = seededRandom(42);
let flakyFailures = 0;
const streamy = { kind: 'ok', chunks: 8, chunkDelayMs: 25 };
const flakyBehavior = () => {
  if (random() < FLAKY_FAIL_RATE) {
    flakyFailures += 1;
    return { kind: 'status', status: 503 };
  }
  return streamy;
};

/** Gateway log lines, shortened: one line per request with the attempts it took. */
function compactLog() {
  let pending = '';
  const format = (line) => {
    let rec;
    try {
      rec = JSON.parse(line);
    } catch {
      return line;
    }
    const a = rec.access;
    if (!a) return `  gateway ${rec.level >= 40 ? 'WARN ' : ''}| ${rec.msg}`;
    const kind = a.path?.endsWith('/embeddings') ? 'embed ' : a.request_type === 'ai_stream' ? 'stream' : 'chat  ';
    const attempts = (a.attempts ?? []).map((t) => `${t.instance} ${t.status}`).join(' -> ');
    const tokens = a.total_tokens ? `, ${a.total_tokens} tokens` : '';
    return `  gateway | ${a.status} ${kind} ${String(Math.round(a.duration_ms)).padStart(4)} ms${tokens}  [${attempts}]`;
  };
  return new Writable({
    write(chunk, _enc, done) {
      const lines = (pending + chunk.toString('utf8')).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) process.stdout.write(`${format(line)}\n`);
      done();
    },
  });
}

async function startAll() {
  const sims = [];
  try {
    sims.push(await startFakeOpenAI({ name: 'sim-fast', port: 19001, latencyMs: 10, behavior: streamy, record: false }));
    sims.push(await startFakeOpenAI({ name: 'sim-flaky', port: 19002, latencyMs: 20, behavior: flakyBehavior, record: false }));
    sims.push(await startFakeOpenAI({ name: 'sim-backup', port: 19003, latencyMs: 40, behavior: streamy, record: false }));
    const config = loadConfigText(readFileSync(CONFIG, 'utf8'), process.env);
    const gateway = await createGateway(config, { logger: createLogger(config.log.level, compactLog()) });
    try {
      await gateway.listen();
    } catch (err) {
      await gateway.close();
      throw err;
    }
    return { sims, gateway };
  } catch (err) {
    await Promise.all(sims.map((s) => s.close()));
    if (err?.code === 'EADDRINUSE') {
      throw new Error(`port ${err.port ?? ''} is in use: is another demo or gateway running? (ports 9080, 9180, 19001-19003)`);
    }
    throw err;
  }
}

/** One client request through the gateway; returns null when it succeeded, else what went wrong. */
async function send(i) {
  const kind = i % 5 === 4 ? 'embeddings' : i % 2 === 1 ? 'stream' : 'chat';
  const body =
    kind === 'embeddings'
      ? { model: 'text-embedding-3-small', input: `demo sentence ${i}`, encoding_format: 'float' }
      : { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `Hello #${i}` }], stream: kind === 'stream' };
  try {
    const res = await fetch(`${BASE}/v1/${kind === 'embeddings' ? 'embeddings' : 'chat/completions'}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status !== 200) return `${kind} #${i}: HTTP ${res.status} ${text.slice(0, 160)}`;
    if (kind === 'stream') {
      if (!text.includes('data: [DONE]') || text.includes('data: {"error"')) return `stream #${i} did not complete`;
    } else if (kind === 'embeddings') {
      if (JSON.parse(text).data?.length !== 1) return `embeddings #${i}: unexpected body`;
    } else if (typeof JSON.parse(text).choices?.[0]?.message?.content !== 'string') {
      return `chat #${i}: unexpected body`;
    }
    return null;
  } catch (err) {
    return `${kind} #${i}: ${err.message}`;
  }
}

function printHowTo() {
  const chat = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}`;
  console.log(`
ai-proxy-multi demo: gateway on ${BASE} (admin http://127.0.0.1:9180), three simulated providers:
  sim-fast   127.0.0.1:19001  weight 3, priority 1
  sim-flaky  127.0.0.1:19002  weight 2, priority 1, answers 503 to ~${FLAKY_FAIL_RATE * 100}% of requests
  sim-backup 127.0.0.1:19003  weight 1, priority 0 (used only when both priority-1 instances fail)

Call it yourself:
  curl ${BASE}/v1/chat/completions -H 'content-type: application/json' -d '${chat}'
  curl -N ${BASE}/v1/chat/completions -H 'content-type: application/json' -d '${chat.replace('}]}', '}],"stream":true}')}'
  OpenAI SDK: new OpenAI({ baseURL: '${BASE}/v1', apiKey: 'unused' })
  Instances:  node bin/ai-proxy-multi.js status --admin http://127.0.0.1:9180
`);
}

async function main() {
  const { sims, gateway } = await startAll();
  let stopping = false;
  const stop = async (code) => {
    if (stopping) return;
    stopping = true;
    await gateway.close();
    await Promise.all(sims.map((s) => s.close()));
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  printHowTo();
  console.log(`Sending ${REQUESTS} requests (chat, streaming, embeddings) through the gateway:`);
  const failures = [];
  for (let i = 0; i < REQUESTS; i++) {
    const problem = await send(i);
    if (problem) failures.push(problem);
  }

  console.log(`\nSummary of ${REQUESTS} requests through the gateway`);
  console.log(`  client-visible failures: ${failures.length}`);
  for (const f of failures) console.log(`    ${f}`);
  console.log('  calls received by each simulator (failed attempts included):');
  for (const s of sims) {
    const extra = s.name === 'sim-flaky' ? `  (${flakyFailures} answered 503; each was retried on another instance)` : '';
    console.log(`    ${s.name.padEnd(11)} ${String(s.calls('/v1/')).padStart(3)}${extra}`);
  }
  if (failures.length === 0 && flakyFailures > 0) {
    console.log(`  => ${flakyFailures} provider failures, 0 seen by the client: the gateway failed over.`);
  }

  if (runOnce) return stop(failures.length === 0 ? 0 : 1);
  console.log(`\nStill running on ${BASE}; press Ctrl-C to stop.`);
}

main().catch((err) => {
  console.error(`demo failed: ${err.message}`);
  process.exit(1);
});

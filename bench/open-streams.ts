// npm run bench:streams: many slow streams held open at once, the load an LLM gateway really carries.
// N clients each hold a stream for SECONDS while a chunk arrives every CHUNK_MS, through the fake
// upstream alone (direct), the minimal proxy and the gateway, one after the other in the same run.
// Reported per target: errors, idle and loaded RSS, memory per open stream, CPU per relayed chunk, and
// each chunk's delay from the upstream's write to the client's read (the upstream stamps its write time
// into the chunk). See bench/README.md.
import { Agent, request } from 'node:http';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, freePort, killAll, pinSelf, rotated, rssNowMb, spawnNode, stopChild, waitForHttp, waitForPortLine } from './processes.ts';
import type { Child } from './processes.ts';
import { percentile } from './report.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const num = (v: string | undefined, d: number): number => (v !== undefined && v !== '' && Number(v) >= 0 ? Number(v) : d);
const STREAMS = num(process.env.BENCH_STREAMS, 2000);
const SECONDS = num(process.env.BENCH_STREAM_SECONDS, 30);
const CHUNK_MS = num(process.env.BENCH_CHUNK_MS, 200);
const ROUNDS = Math.max(1, Math.floor(num(process.env.BENCH_ROUNDS, 1)));
type Target = 'direct' | 'minimal' | 'gateway' | 'baseline';
const TARGETS = (process.env.BENCH_TARGETS ?? 'direct,minimal,gateway')
  .split(',')
  .map((t) => t.trim())
  .filter((t): t is Target => t === 'direct' || t === 'minimal' || t === 'gateway' || t === 'baseline');
const LABELS: Record<Target, string> = {
  direct: 'direct (slow upstream)', minimal: 'minimal proxy', gateway: 'ai-proxy-multi', baseline: 'baseline (BENCH_BASELINE)',
};
// `baseline`: the gateway of another checkout (BENCH_BASELINE=/path, with its node_modules), same run.
const BASELINE = process.env.BENCH_BASELINE;
// BENCH_SIDE_BY_SIDE=1: the proxies run at the same time on one core instead of one after the other
// (`direct` is left out: its upstream is the measured process).
const SIDE_BY_SIDE = process.env.BENCH_SIDE_BY_SIDE === '1';

// Opening: BATCH streams every BATCH_GAP_MS, so N streams take N / BATCH × BATCH_GAP_MS to open and
// their timers are spread over that ramp.
const BATCH = 100;
const BATCH_GAP_MS = 40;
const LOAD_CORE = 0;
const TARGET_CORE = 1;
const UPSTREAM_CORE = cpus().length >= 3 ? 2 : 0;

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resident set (VmRSS) in MiB; NaN once the process is gone. */
const rssMb = (pid: number): number => rssNowMb(pid) ?? Number.NaN;

/** User + system CPU of a process in seconds; NaN once it is gone. */
const cpuOf = (pid: number): number => cpuSeconds(pid) ?? Number.NaN;

interface Row {
  target: Target;
  round: number;
  streams: number;
  completed: number;
  errors: number;
  firstError: string;
  idleRss: number;
  loadedRss: number;
  kibPerStream: number;
  cpuUsPerChunk: number;
  chunksInWindow: number;
  delayP50: number;
  delayP99: number;
  delayMax: number;
}

/** Measurement window: from when every stream is open (plus a settle) to a few seconds before the end. */
function windowFor(rampMs: number): { startMs: number; endMs: number } {
  const startMs = rampMs + 3000;
  const endMs = Math.max(startMs + 2000, SECONDS * 1000 - 3000);
  return { startMs, endMs };
}

async function drive(url: string, pid: number): Promise<Omit<Row, 'target' | 'round' | 'idleRss'>> {
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const body = JSON.stringify({
    model: 'gpt-4o-mini',
    stream: true,
    messages: [{ role: 'user', content: 'Tell me a long story.' }],
  });
  const rampMs = Math.ceil(STREAMS / BATCH) * BATCH_GAP_MS;
  const { startMs, endMs } = windowFor(rampMs);
  const t0 = now();
  let measuring = false;
  let delays = new Float64Array(1 << 18);
  let nDelays = 0;
  let chunksInWindow = 0;
  let completed = 0;
  let errors = 0;
  let firstError = '';
  const fail = (why: string): void => {
    errors += 1;
    if (!firstError) firstError = why;
  };
  const finished: Promise<void>[] = [];

  const open = (): Promise<void> =>
    new Promise<void>((resolve) => {
      let tail = '';
      let done = false;
      const req = request(`${url}/v1/chat/completions`, {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench-client', 'content-length': Buffer.byteLength(body) },
      });
      req.setTimeout((SECONDS + 30) * 1000, () => req.destroy(new Error('client timeout')));
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
          fail(`status ${res.statusCode}`);
          res.resume();
          res.on('end', resolve);
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          const at = now();
          tail += text;
          const cut = tail.lastIndexOf('\n\n');
          if (cut < 0) return;
          const events = tail.slice(0, cut);
          tail = tail.slice(cut + 2);
          if (events.includes('data: [DONE]')) done = true;
          if (!measuring) return;
          for (const match of events.matchAll(/t=(\d+\.\d+)/g)) {
            chunksInWindow += 1;
            if (nDelays === delays.length) {
              const bigger = new Float64Array(delays.length * 2);
              bigger.set(delays);
              delays = bigger;
            }
            delays[nDelays++] = at - Number(match[1]);
          }
        });
        res.on('end', () => {
          if (done) completed += 1;
          else fail('stream ended without [DONE]');
          resolve();
        });
        res.on('error', (err) => {
          fail(err.message);
          resolve();
        });
      });
      req.on('error', (err) => {
        fail(err.message);
        resolve();
      });
      req.end(body);
    });

  for (let opened = 0; opened < STREAMS; opened += BATCH) {
    for (let i = opened; i < Math.min(STREAMS, opened + BATCH); i++) finished.push(open());
    await sleep(BATCH_GAP_MS);
  }
  await sleep(Math.max(0, startMs - (now() - t0)));
  measuring = true;
  const cpu0 = cpuOf(pid);
  let loadedRss = rssMb(pid);
  while (now() - t0 < endMs) {
    await sleep(500);
    loadedRss = Math.max(loadedRss, rssMb(pid));
  }
  const cpu1 = cpuOf(pid);
  measuring = false;
  const chunks = chunksInWindow;
  await Promise.all(finished);
  agent.destroy();
  const sorted = delays.subarray(0, nDelays).sort();
  return {
    streams: STREAMS,
    completed,
    errors,
    firstError,
    loadedRss,
    kibPerStream: 0,
    cpuUsPerChunk: chunks > 0 ? ((cpu1 - cpu0) * 1e6) / chunks : Number.NaN,
    chunksInWindow: chunks,
    delayP50: percentile(sorted, 0.5),
    delayP99: percentile(sorted, 0.99),
    delayMax: sorted.length > 0 ? (sorted[sorted.length - 1] ?? Number.NaN) : Number.NaN,
  };
}

/** One short stream (three chunks: the slow upstream honours max_tokens), read to its end. */
function warmUp(url: string): Promise<void> {
  const body = JSON.stringify({ model: 'gpt-4o-mini', stream: true, max_tokens: 3, messages: [{ role: 'user', content: 'Hi' }] });
  return new Promise<void>((resolve, reject) => {
    const req = request(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench-client', 'content-length': Buffer.byteLength(body) },
    });
    req.on('response', (res) => {
      if (res.statusCode !== 200) reject(new Error(`warm-up answered ${res.statusCode}`));
      res.resume();
      res.on('end', resolve);
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function gatewayConfig(port: number, adminPort: number, upstream: string): object {
  return {
    server: { host: '127.0.0.1', port, max_connections: STREAMS * 2 + 100 },
    admin: { host: '127.0.0.1', port: adminPort },
    log: { level: process.env.BENCH_LOG_LEVEL ?? 'warn' },
    routes: [
      {
        id: 'bench-streams',
        uris: ['/v1/chat/completions'],
        plugins: {
          'ai-proxy-multi': {
            timeout: 60_000,
            instances: [
              {
                name: 'slow',
                provider: 'openai-compatible',
                weight: 1,
                auth: { header: { Authorization: 'Bearer sk-bench' } },
                options: { model: 'bench-model' },
                override: { endpoint: upstream },
              },
            ],
          },
        },
      },
    ],
  };
}

interface Started {
  target: Target;
  url: string;
  pid: number;
  idleRss: number;
}

/**
 * Starts a target behind `upstreamUrl` (its own slow upstream when not given), warms it up and reads
 * its idle RSS. The processes go into `children`, for the caller to stop.
 */
async function startTarget(target: Target, round: number, tmp: string, children: Child[], upstreamUrl?: string): Promise<Started> {
  let upstream: Child | undefined;
  if (upstreamUrl === undefined) {
    const upstreamCore = target === 'direct' ? TARGET_CORE : UPSTREAM_CORE;
    upstream = spawnNode('slow upstream', upstreamCore, ['bench/slow-upstream.ts', String(CHUNK_MS), String(SECONDS)], root);
    children.push(upstream);
    upstreamUrl = `http://127.0.0.1:${await waitForPortLine(upstream)}`;
  }
  let measured: Child;
  let url: string;
  if (target === 'direct') {
    if (!upstream) throw new Error('direct is measured on an upstream of its own');
    [measured, url] = [upstream, upstreamUrl];
  } else if (target === 'minimal') {
    measured = spawnNode('minimal proxy', TARGET_CORE, ['bench/minimal-proxy.ts', upstreamUrl], root);
    children.push(measured);
    url = `http://127.0.0.1:${await waitForPortLine(measured)}`;
  } else {
    const home = target === 'baseline' ? BASELINE : root;
    if (!home) throw new Error('set BENCH_BASELINE to the checkout to compare with');
    const [port, adminPort] = [await freePort(), await freePort()];
    const file = join(tmp, `streams-${target}-${round}.json`);
    writeFileSync(file, JSON.stringify(gatewayConfig(port, adminPort, upstreamUrl), null, 2));
    measured = spawnNode(LABELS[target], TARGET_CORE, [join(home, 'bin/ai-proxy-multi.js'), 'start', '-c', file], home);
    children.push(measured);
    await waitForHttp(measured, `http://127.0.0.1:${adminPort}/readyz`);
    url = `http://127.0.0.1:${port}`;
  }
  // A few short streams first, so lazy start-up work (modules and tables loaded on the first answer)
  // is counted in idle RSS, not as memory per stream.
  await Promise.all(Array.from({ length: 5 }, () => warmUp(url)));
  await sleep(1500);
  return { target, url, pid: measured.pid, idleRss: rssMb(measured.pid) };
}

const rowOf = (started: Started, round: number, result: Awaited<ReturnType<typeof drive>>): Row => ({
  target: started.target,
  round,
  idleRss: started.idleRss,
  ...result,
  kibPerStream: ((result.loadedRss - started.idleRss) * 1024) / STREAMS,
});

/**
 * The targets at once (one target: the usual run), each behind its own slow upstream and each holding
 * STREAMS streams, the measured processes sharing one core. Their CPU is read over the same window, so
 * a slower or faster minute of this shared VM weighs on all of them alike.
 */
async function runTogether(targets: Target[], round: number, tmp: string): Promise<Row[]> {
  const children: Child[] = [];
  try {
    const started: Started[] = [];
    for (const target of targets) started.push(await startTarget(target, round, tmp, children));
    const results = await Promise.all(started.map((s) => drive(s.url, s.pid)));
    return started.map((s, i) => rowOf(s, round, results[i] as Awaited<ReturnType<typeof drive>>));
  } finally {
    for (const child of children.reverse()) await stopChild(child);
  }
}

const fmt = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : '—');

function median(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function render(rows: Row[], pinned: boolean): string {
  const lines = [
    `# Open streams: ${STREAMS} concurrent, a chunk every ${CHUNK_MS} ms for ${SECONDS} s`,
    '',
    `${new Date().toISOString()} · node ${process.version} · ${cpus().length} cores (${cpus()[0]?.model ?? '?'}) · ` +
      `rounds ${ROUNDS} · ${pinned ? `load generator and upstreams on core 0, measured ${SIDE_BY_SIDE ? 'processes' : 'process'} on core 1` : 'not pinned (no taskset)'}`,
    ...(SIDE_BY_SIDE ? ['', `Side by side: in each round the proxies ran at the same time, each holding ${STREAMS} streams of its own, sharing core 1 (BENCH_SIDE_BY_SIDE=1). Their delays include waiting for each other; their CPU was read over the same window.`] : []),
    '',
    'Delay: from the upstream writing a chunk to the client reading it. Memory per stream: (RSS with every stream open − idle RSS) ÷ streams. CPU per chunk: the measured process\'s CPU over the window ÷ chunks the clients read in it.',
    '',
    '| target | round | completed | errors | idle RSS MiB | loaded RSS MiB | KiB / stream | CPU µs / chunk | delay p50 ms | delay p99 ms | delay max ms |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${LABELS[r.target]} | ${r.round} | ${r.completed} | ${r.errors}${r.firstError ? ` (${r.firstError.slice(0, 60)})` : ''} | ${fmt(r.idleRss)} | ${fmt(r.loadedRss)} | ${fmt(r.kibPerStream)} | ${fmt(r.cpuUsPerChunk)} | ${fmt(r.delayP50, 2)} | ${fmt(r.delayP99, 2)} | ${fmt(r.delayMax, 1)} |`,
    );
  }
  const of = (t: Target, pick: (r: Row) => number): number => median(rows.filter((r) => r.target === t).map(pick));
  const compared: Array<[Target, string]> = [['minimal', 'Gateway ÷ minimal proxy'], ['baseline', 'This gateway ÷ the baseline checkout']];
  for (const [other, title] of compared) {
    if (!TARGETS.includes('gateway') || !TARGETS.includes(other)) continue;
    const ratio = (pick: (r: Row) => number): string => fmt(of('gateway', pick) / of(other, pick), 2);
    // Round k of one target ran next to (or, side by side, with) round k of the other.
    const perRound = (pick: (r: Row) => number): string => {
      const values: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const mine = rows.find((r) => r.target === 'gateway' && r.round === round);
        const theirs = rows.find((r) => r.target === other && r.round === round);
        if (mine && theirs) values.push(pick(mine) / pick(theirs));
      }
      return values.length > 1 ? ` (rounds: ${values.map((v) => fmt(v, 2)).join(', ')})` : '';
    };
    lines.push(
      '',
      `${title} (medians over rounds):`,
      '',
      `- memory per open stream: ${ratio((r) => r.kibPerStream)}×`,
      `- idle RSS: ${ratio((r) => r.idleRss)}×`,
      `- CPU per chunk: ${ratio((r) => r.cpuUsPerChunk)}×${perRound((r) => r.cpuUsPerChunk)}`,
      `- chunk delay p50: ${ratio((r) => r.delayP50)}×, p99: ${ratio((r) => r.delayP99)}×${perRound((r) => r.delayP99)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const pinned = pinSelf(LOAD_CORE);
  const tmp = mkdtempSync(join(tmpdir(), 'aipm-streams-'));
  const rows: Row[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      if (SIDE_BY_SIDE) {
        const together = rotated(TARGETS.filter((t) => t !== 'direct'), round - 1);
        process.stderr.write(`round ${round}: ${together.map((t) => LABELS[t]).join(', ')} side by side, ${STREAMS} streams each for ${SECONDS} s…\n`);
        rows.push(...(await runTogether(together, round, tmp)));
        continue;
      }
      for (const target of TARGETS) {
        process.stderr.write(`round ${round}: ${LABELS[target]}, ${STREAMS} streams for ${SECONDS} s…\n`);
        rows.push(...(await runTogether([target], round, tmp)));
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const text = render(rows, pinned);
  process.stdout.write(text);
  const out = join(root, 'bench/results/open-streams.md');
  writeFileSync(`${out}.tmp`, text);
  renameSync(`${out}.tmp`, out);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}
process.on('exit', killAll);
await main();

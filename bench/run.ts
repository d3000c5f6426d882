// npm run bench: requests/s, p50/p99 and peak RSS for the fake upstream alone, a minimal Node proxy
// and the gateway, under the same load, so a speed claim about the gateway is one command away.
// Env: BENCH_DURATION (s per cell, 10), BENCH_WARMUP (s, 2), BENCH_TARGETS (direct,minimal,gateway),
// BENCH_LOG_LEVEL (gateway log level, warn). See bench/README.md.
import autocannon from 'autocannon';
import type { AutocannonResult } from 'autocannon';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release, tmpdir, totalmem, type as osType } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  cpuSeconds, freePort, hasTaskset, killAll, peakRssMb, pinSelf, processTree, resetPeakRss, rotated, rssNowMb, spawnNode, stopChild, waitForHttp, waitForPortLine,
} from './processes.ts';
import type { Child } from './processes.ts';
import { percentile, renderMarkdown, TARGET_LABELS } from './report.ts';
import type { Cell, Scenario, TargetId, TargetNote } from './report.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const num = (v: string | undefined, d: number): number => (v !== undefined && Number(v) >= 0 ? Number(v) : d);
const DURATION = num(process.env.BENCH_DURATION, 10) || 10;
const WARMUP = num(process.env.BENCH_WARMUP, 2);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn';
// Rounds over all targets, interleaved; each cell reports the median round. A 2-core machine is noisy
// (±20% between identical runs), so comparisons such as Redis vs memory need more than one round.
const ROUNDS = Math.max(1, Math.floor(num(process.env.BENCH_ROUNDS, 1)));
const TARGETS = (process.env.BENCH_TARGETS ?? 'direct,minimal,gateway,gateway-redis')
  .split(',')
  .map((t) => t.trim())
  .filter((t): t is TargetId => t in TARGET_LABELS);
const CHUNKS = 20;
const BASELINE = process.env.BENCH_BASELINE;
// BENCH_SIDE_BY_SIDE=1: in each round the targets (`direct` left out) run at the same time on the
// target core and take the load at once, so CPU per request is read over the same window for all.
const SIDE_BY_SIDE = process.env.BENCH_SIDE_BY_SIDE === '1';

// Two cores: the measured process gets one to itself; the load generator and (behind a proxy) the
// upstream share the other. With 3+ cores the upstream gets its own.
const LOAD_CORE = 0;
const TARGET_CORE = 1;
const UPSTREAM_CORE = cpus().length >= 3 ? 2 : 0;
// The gateway's idle collection (server.reduce_memory_when_idle_ms, off by default) turned on at 10 s:
// it never runs between the scenarios of a target, and idle RSS after the load is measured once it has.
const IDLE_GC_MS = 10_000;

const scenarios: Scenario[] = [
  { id: 'chat-c50', label: 'chat, 50 conn', stream: false, connections: 50 },
  { id: 'chat-c1', label: 'chat, 1 conn', stream: false, connections: 1 },
  { id: 'stream-c50', label: `stream ${CHUNKS} chunks, 50 conn`, stream: true, connections: 50 },
  { id: 'stream-c1', label: `stream ${CHUNKS} chunks, 1 conn`, stream: true, connections: 1 },
];

function bodyFor(s: Scenario): string {
  const messages = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Say hello in five words.' },
  ];
  const stream = s.stream ? { stream: true, stream_options: { include_usage: true } } : {};
  return JSON.stringify({ model: 'gpt-4o-mini', messages, ...stream });
}

interface LoadRun {
  result: AutocannonResult;
  latencies: Float64Array;
}

/** One autocannon run; per-response times are kept only when measuring (not during warm-up). */
function load(url: string, s: Scenario, seconds: number, measure: boolean): Promise<LoadRun> {
  return new Promise((resolve, reject) => {
    let samples = new Float64Array(1 << 16);
    let n = 0;
    const opts = {
      url: `${url}/v1/chat/completions`,
      method: 'POST',
      connections: s.connections,
      duration: seconds,
      timeout: 10,
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench-client' },
      body: bodyFor(s),
    };
    const instance = autocannon(opts, (err, result) => {
      if (err) reject(err);
      else resolve({ result, latencies: samples.subarray(0, n).sort() });
    });
    if (!measure) return;
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status < 200 || status > 299) return;
      if (n === samples.length) {
        const bigger = new Float64Array(samples.length * 2);
        bigger.set(samples);
        samples = bigger;
      }
      samples[n++] = ms;
    });
  });
}

/** One real request first: measuring 404s or broken streams at full speed would be meaningless. */
async function probe(url: string, s: Scenario): Promise<string | null> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench-client' },
    body: bodyFor(s),
  });
  const text = await res.text();
  if (res.status !== 200) return `probe answered ${res.status}: ${text.slice(0, 200)}`;
  if (s.stream && !text.includes('data: [DONE]')) return `probe stream did not end with [DONE]: ${text.slice(-200)}`;
  return null;
}

let sharedUpstream: { child: Child; url: string } | null = null;

async function upstreamBehindProxy(): Promise<string> {
  if (!sharedUpstream) {
    const child = spawnNode('upstream', UPSTREAM_CORE, ['bench/upstream.ts', '0', String(CHUNKS)], root);
    sharedUpstream = { child, url: `http://127.0.0.1:${await waitForPortLine(child)}` };
  }
  return sharedUpstream.url;
}

function gatewayConfig(port: number, adminPort: number, upstream: string, redisUrl?: string, workers = 1, idleGc = true): object {
  const instance = (name: string) => ({
    name,
    provider: 'openai-compatible',
    weight: 1,
    auth: { header: { Authorization: `Bearer sk-${name}` } },
    options: { model: 'bench-model' },
    override: { endpoint: upstream },
  });
  return {
    // A baseline checkout may predate the field (and refuse it as unknown).
    server: { host: '127.0.0.1', port, workers, ...(idleGc && { reduce_memory_when_idle_ms: IDLE_GC_MS }) },
    admin: { host: '127.0.0.1', port: adminPort },
    log: { level: LOG_LEVEL },
    ...(redisUrl && { redis: { url: redisUrl, key_prefix: `bench${Date.now()}:` } }),
    // keepalive_pool 64: like the minimal proxy's unbounded Pool, more upstream connections than the
    // 50 client connections, so neither proxy queues for a socket.
    routes: [
      {
        id: 'bench',
        uris: ['/v1/chat/completions'],
        plugins: { 'ai-proxy-multi': { keepalive_pool: 64, instances: [instance('up-a'), instance('up-b')] } },
      },
    ],
  };
}

async function startTarget(target: TargetId, tmp: string): Promise<{ child: Child; url: string }> {
  if (target === 'direct') {
    const child = spawnNode('direct upstream', TARGET_CORE, ['bench/upstream.ts', '0', String(CHUNKS)], root);
    return { child, url: `http://127.0.0.1:${await waitForPortLine(child)}` };
  }
  const upstream = await upstreamBehindProxy();
  if (target === 'minimal') {
    const child = spawnNode('minimal proxy', TARGET_CORE, ['bench/minimal-proxy.ts', upstream], root);
    return { child, url: `http://127.0.0.1:${await waitForPortLine(child)}` };
  }
  // `baseline`: the same gateway from another checkout (BENCH_BASELINE=/path), measured in the same run.
  const home = target === 'baseline' ? BASELINE : root;
  if (!home) throw new Error('set BENCH_BASELINE to the checkout to compare with');
  if (!existsSync(join(home, 'bin/ai-proxy-multi.js'))) throw new Error(`${home}/bin/ai-proxy-multi.js does not exist`);
  const [port, adminPort] = [await freePort(), await freePort()];
  const redisUrl = target === 'gateway-redis' ? await startRedis(tmp) : undefined;
  const file = join(tmp, `${target}.json`);
  // `gateway-2w`: server.workers 2, not pinned (two workers need two cores; on a 2-core machine they
  // share them with the load generator and the upstream).
  const workers = target === 'gateway-2w' ? 2 : 1;
  writeFileSync(file, JSON.stringify(gatewayConfig(port, adminPort, upstream, redisUrl, workers, target !== 'baseline'), null, 2));
  const child = spawnNode(target === 'baseline' ? 'baseline gateway' : 'gateway', workers > 1 ? null : TARGET_CORE, [join(home, 'bin/ai-proxy-multi.js'), 'start', '-c', file], home);
  await waitForHttp(child, `http://127.0.0.1:${adminPort}/readyz`);
  return { child, url: `http://127.0.0.1:${port}` };
}

let redisServer: ChildProcess | undefined;

/** A private redis-server for the Redis-backed gateway, on the load generator's core. */
async function startRedis(tmp: string): Promise<string> {
  const port = await freePort();
  const argv = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp];
  redisServer = hasTaskset ? spawn('taskset', ['-c', String(LOAD_CORE), 'redis-server', ...argv], { stdio: 'ignore' }) : spawn('redis-server', argv, { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) return `redis://127.0.0.1:${port}/0`;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('redis-server did not start (is it installed?)');
}

/** RSS of a target (its workers added) once the load has stopped and the gateway's idle collection ran. */
interface IdleRss {
  target: TargetId;
  round: number;
  mb: number;
}

/**
 * Starts the targets, then measures every scenario on all of them at once (one target: the usual
 * cell), then their idle RSS once the gateways' idle collection has run; stops them.
 */
async function benchTogether(targets: readonly TargetId[], tmp: string, cells: Cell[], notes: TargetNote[], idle: IdleRss[], round: number): Promise<void> {
  const running: Array<{ target: TargetId; child: Child; url: string }> = [];
  try {
    for (const target of targets) {
      try {
        running.push({ target, ...(await startTarget(target, tmp)) });
      } catch (err) {
        notes.push({ target, note: `not measured: ${(err as Error).message}` });
      }
    }
    for (const s of scenarios) {
      const ready: typeof running = [];
      for (const r of running) {
        const problem = await probe(r.url, s);
        if (problem) notes.push({ target: r.target, note: `${s.label} not measured: ${problem}` });
        else ready.push(r);
      }
      if (ready.length === 0) continue;
      if (WARMUP > 0) await Promise.all(ready.map((r) => load(r.url, s, WARMUP, false)));
      const trees = ready.map((r) => processTree(r.child.pid));
      ready.forEach((r, i) => {
        const tree = trees[i] as number[];
        for (const pid of tree.slice(1)) resetPeakRss(pid);
        if (!resetPeakRss(r.child.pid)) notes.push({ target: r.target, note: `${s.label}: peak RSS is since process start (clear_refs not writable)` });
      });
      const cpuBefore = trees.map(treeCpu);
      const runs = await Promise.all(ready.map((r) => load(r.url, s, DURATION, true)));
      const cpuAfter = trees.map(treeCpu);
      ready.forEach((r, i) => {
        const { result, latencies } = runs[i] as LoadRun;
        const [before, after] = [cpuBefore[i] ?? null, cpuAfter[i] ?? null];
        const cell: Cell = {
          target: r.target, round, scenario: s.id, rps: result['2xx'] / result.duration, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99),
          rssMb: sumRss(trees[i] as number[]), completed: result['2xx'], errors: result.errors, non2xx: result.non2xx,
          cpuUs: before !== null && after !== null && result['2xx'] > 0 ? ((after - before) * 1e6) / result['2xx'] : null,
        };
        cells.push(cell);
        console.error(`  ${TARGET_LABELS[r.target].padEnd(24)} ${s.label.padEnd(28)} ${Math.round(cell.rps)} req/s  p50 ${cell.p50.toFixed(2)} ms  p99 ${cell.p99.toFixed(2)} ms  ${cell.cpuUs == null ? '' : `${cell.cpuUs.toFixed(0)} µs CPU/req`}`);
      });
    }
    await new Promise((resolve) => setTimeout(resolve, IDLE_GC_MS + 1500));
    for (const r of running) {
      const now = processTree(r.child.pid).map(rssNowMb);
      if (now.every((mb) => mb !== null)) idle.push({ target: r.target, round, mb: now.reduce((a, b) => a + b, 0) });
    }
  } finally {
    for (const { target, child } of running) {
      const stop = await stopChild(child);
      if (target !== 'direct' && target !== 'minimal' && (stop.code !== 0 || stop.forced)) {
        notes.push({ target, note: `on SIGTERM it exited with code ${stop.code ?? 'none'}, signal ${stop.signal ?? 'none'}${stop.forced ? ' (needed SIGKILL)' : ''}` });
      }
    }
    if (running.some((r) => r.target === 'gateway-redis')) redisServer?.kill('SIGKILL');
  }
}

/** CPU seconds of a process and its workers, added up; null when one is gone. */
function treeCpu(pids: readonly number[]): number | null {
  let total = 0;
  for (const pid of pids) {
    const s = cpuSeconds(pid);
    if (s === null) return null;
    total += s;
  }
  return total;
}

/** Peak RSS of a process and its workers, added up (each process's own peak). */
function sumRss(pids: readonly number[]): number | null {
  let total: number | null = null;
  for (const pid of pids) {
    const mb = peakRssMb(pid);
    if (mb !== null) total = (total ?? 0) + mb;
  }
  return total;
}

/** One cell per target × scenario: the round with the median throughput. */
function medianCells(cells: readonly Cell[]): Cell[] {
  const groups = new Map<string, Cell[]>();
  for (const c of cells) {
    const key = `${c.target}|${c.scenario}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  return [...groups.values()].map((g) => {
    const sorted = [...g].sort((x, y) => x.rps - y.rps);
    return sorted[Math.floor((sorted.length - 1) / 2)] as Cell;
  });
}

/** Idle RSS after the load, per target: the median round and the spread. */
function idleSection(idle: readonly IdleRss[]): string {
  if (idle.length === 0) return '';
  const lines = [
    '',
    `## Idle RSS after the load`,
    '',
    `RSS (VmRSS, workers added) ${IDLE_GC_MS + 1500} ms after the last scenario ended; this checkout's gateways run with \`server.reduce_memory_when_idle_ms: ${IDLE_GC_MS}\` (a baseline checkout with its own default).`,
    '',
    '| target | MiB (median) | spread | rounds |',
    '|---|---:|---:|---:|',
  ];
  for (const target of [...new Set(idle.map((i) => i.target))]) {
    const mbs = idle.filter((i) => i.target === target).map((i) => i.mb).sort((a, b) => a - b);
    const median = mbs[Math.floor((mbs.length - 1) / 2)] ?? 0;
    lines.push(`| ${TARGET_LABELS[target]} | ${median.toFixed(0)} | ${(mbs[0] ?? 0).toFixed(0)}–${(mbs[mbs.length - 1] ?? 0).toFixed(0)} | ${mbs.length} |`);
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const pinned = pinSelf(LOAD_CORE);
  const tmp = mkdtempSync(join(tmpdir(), 'aipm-bench-'));
  const cells: Cell[] = [];
  const notes: TargetNote[] = [];
  const idle: IdleRss[] = [];
  console.error(`bench: ${TARGETS.join(', ')}; ${WARMUP} s warm-up + ${DURATION} s per cell`);
  try {
    for (let round = 0; round < ROUNDS; round++) {
      if (SIDE_BY_SIDE) await benchTogether(rotated(TARGETS.filter((t) => t !== 'direct'), round), tmp, cells, notes, idle, round);
      else for (const target of TARGETS) await benchTogether([target], tmp, cells, notes, idle, round);
    }
  } finally {
    if (sharedUpstream) await stopChild(sharedUpstream.child);
    redisServer?.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  }
  const pinning = pinned
    ? [
        `Pinned with taskset: load generator (autocannon, in the bench process) on core ${LOAD_CORE}; measured target on core ${TARGET_CORE} (for "direct" that is the fake upstream itself).`,
        `The fake upstream behind the minimal proxy and the gateway runs on core ${UPSTREAM_CORE}${UPSTREAM_CORE === LOAD_CORE ? ', shared with the load generator: the machine has only 2 cores, so proxied numbers are also bounded by that core' : ''}.`,
      ]
    : ['Not pinned (taskset unavailable): every process competes for every core.'];
  const report = renderMarkdown(
    {
      date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? 'unknown CPU', cores: cpus().length,
      memGb: totalmem() / 2 ** 30, os: `${osType()} ${release()}`, durationS: DURATION, warmupS: WARMUP, pinning,
      extra: [
        'Every target and the upstream run as separate processes; all traffic is HTTP/1.1 keep-alive on 127.0.0.1.',
        `Upstream: tools/simulator/fake-openai.ts, no latency, ${CHUNKS} content chunks per stream (plus role, finish and usage chunks); the request asks for include_usage.`,
        `Gateway: bin/ai-proxy-multi.js start with one route and two openai-compatible instances on the same upstream; log level ${LOG_LEVEL}.`,
        'req/s counts 2xx responses over the measured window; p50/p99 are over every 2xx response time (a stream counts until its last byte).',
        'Peak RSS: VmHWM of the target process, reset before each cell via /proc/<pid>/clear_refs.',
        'CPU µs/req: user + system CPU of the target (its workers added) over the measured window, from /proc/<pid>/stat, ÷ 2xx responses. It is the work a request costs, much less sensitive than req/s to what else the machine runs, so ratios of it resolve small differences in fewer rounds.',
        `Rounds: ${ROUNDS} (targets interleaved; each cell is the median round by req/s).`,
        ...(SIDE_BY_SIDE
          ? ['Side by side (BENCH_SIDE_BY_SIDE=1): in each round the targets ran at the same time, sharing the target core, each under its own full load, so their req/s and latencies are what each got of a shared core; compare their CPU µs/req, read over the same window.']
          : []),
      ],
    },
    scenarios, medianCells(cells), [...new Map(notes.map((n) => [`${n.target}|${n.note}`, n])).values()], cells,
  );
  const out = join(root, 'bench/results/latest.md');
  writeFileSync(`${out}.tmp`, report + idleSection(idle));
  renameSync(`${out}.tmp`, out);
  console.log(report + idleSection(idle));
  console.error(`written to ${out}`);
}

process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}
main().catch((err: unknown) => {
  console.error(err);
  killAll();
  process.exitCode = 1;
});

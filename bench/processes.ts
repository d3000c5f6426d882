// Child processes for the bench: spawn (pinned to a core when taskset exists), wait until ready,
// measure peak RSS, and make sure nothing outlives the bench, whatever way it ends.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** The last few KB of the child's stdout and stderr, for error messages. */
  tail(): string;
}

const live = new Set<ChildProcess>();

export const hasTaskset = spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;

/** Pins every thread of this process (the load generator); returns false when it cannot. */
export function pinSelf(core: number): boolean {
  if (!hasTaskset) return false;
  const r = spawnSync('taskset', ['-a', '-p', '-c', String(core), String(process.pid)], { stdio: 'ignore' });
  return r.status === 0;
}

/** Starts `node ...args`; with taskset the exec keeps the pid, so `pid` is the node process itself. */
export function spawnNode(name: string, core: number | null, args: string[], cwd: string): Child {
  const pinned = core !== null && hasTaskset;
  const cmd = pinned ? 'taskset' : process.execPath;
  const argv = pinned ? ['-c', String(core), process.execPath, ...args] : args;
  // stdin stays a pipe: our own children exit when it closes, even if this process is SIGKILLed.
  const proc = spawn(cmd, argv, { cwd, stdio: ['pipe', 'pipe', 'pipe'], env: process.env });
  if (proc.pid === undefined) throw new Error(`could not start ${name}`);
  live.add(proc);
  proc.on('exit', () => live.delete(proc));
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-4096);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  return { name, proc, pid: proc.pid, tail: () => tail };
}

/** Resolves with the port from the `{"port":N}` line our bench children print once listening. */
export function waitForPortLine(child: Child, timeoutMs = 15_000): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => fail(new Error(`${child.name} did not report its port in ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const match = /\{"port":(\d+)\}/.exec(buffered);
      if (match) finish(() => resolve(Number(match[1])));
    };
    const onExit = (code: number | null): void => fail(new Error(`${child.name} exited (${code}): ${child.tail()}`));
    const finish = (then: () => void): void => {
      clearTimeout(timer);
      child.proc.stdout?.off('data', onData);
      child.proc.off('exit', onExit);
      then();
    };
    const fail = (err: Error): void => finish(() => reject(err));
    child.proc.stdout?.on('data', onData);
    child.proc.on('exit', onExit);
  });
}

/** Polls `url` until it answers 200; fails fast if the child dies first. */
export async function waitForHttp(child: Child, url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) {
      throw new Error(`${child.name} exited (${child.proc.exitCode ?? child.proc.signalCode}): ${child.tail()}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${child.name} was not ready at ${url} within ${timeoutMs} ms: ${child.tail()}`);
}

export interface StopResult {
  code: number | null;
  signal: string | null;
  /** True when SIGTERM was not enough and the child had to be SIGKILLed. */
  forced: boolean;
}

export async function stopChild(child: Child, graceMs = 5000): Promise<StopResult> {
  const { proc } = child;
  if (proc.exitCode !== null || proc.signalCode !== null) {
    return { code: proc.exitCode, signal: proc.signalCode, forced: false };
  }
  const exited = once(proc, 'exit') as Promise<[number | null, string | null]>;
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  const [code, signal] = await exited;
  clearTimeout(timer);
  return { code, signal, forced: signal === 'SIGKILL' };
}

/** Synchronous, so it also works from process.on('exit'). */
export function killAll(): void {
  for (const proc of live) proc.kill('SIGKILL');
  live.clear();
}

/** A `kB` line of /proc/<pid>/status in MiB; null off Linux or when the process is gone. */
function statusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Resident set now (VmRSS) in MiB. */
export const rssNowMb = (pid: number): number | null => statusMb(pid, 'VmRSS');

/** User + system CPU of a process in seconds (clock ticks of 10 ms on Linux); null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** VmHWM (peak resident set) in MiB. */
export const peakRssMb = (pid: number): number | null => statusMb(pid, 'VmHWM');

/** The pid and every descendant's (a `server.workers` gateway is a primary and its workers). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const task of readdirSync(`/proc/${out[i]}/task`)) {
        const kids = readFileSync(`/proc/${out[i]}/task/${task}/children`, 'utf8').trim();
        if (kids) out.push(...kids.split(/\s+/).map(Number));
      }
    } catch {
      // gone, or not Linux
    }
  }
  return out;
}

/** Resets VmHWM to the current RSS (clear_refs "5", Linux >= 4.0) so each cell gets its own peak. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * `targets` started in the order for `round` (0-based): side by side, the one started second holds
 * more memory than the first whichever it is (bench/README.md), so each round starts the next first.
 */
export function rotated<T>(targets: readonly T[], round: number): T[] {
  const shift = targets.length > 0 ? round % targets.length : 0;
  return [...targets.slice(shift), ...targets.slice(0, shift)];
}

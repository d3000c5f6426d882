import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from 'pino';

// Gives memory back. V8 grows its young generation (two semi-spaces: 16 MiB each after start-up, 64
// under load on a large machine) under allocation pressure, but it shrinks them and returns emptied
// pages only on a memory-reducing collection. A browser gets one from V8's memory reducer when a tab
// goes idle; a Node server never does, so its RSS stays at the high-water mark of its last burst for
// good (about 40 MiB of a 160 MiB idle gateway). Only the CLI's processes use this: a gateway embedded
// in another program leaves that program's heap alone.
//
// - Once start-up is done, before the data listener opens, each process collects once (always): the
//   young generation that loading modules and compiling the config grew is given back before any
//   request could wait for it. Measured side by side, a gateway that had done so spent 1.00–1.05× the
//   CPU per relayed chunk of one that had not under 1,500 slow streams.
// - After `afterMs` with no data-plane request in flight, it collects again, once per idle period
//   (`server.reduce_memory_when_idle_ms`). Off unless configured: a gateway that had collected so just
//   before thousands of slow streams arrived spent 1.27–1.37× the CPU per chunk while they lasted, with
//   as many GCs as one that had not (a plain full GC at that moment cost 1.22–1.25×; cause not found;
//   README, "Memory").

/** V8's `gc` (its `--expose-gc` extension); this shape of its options needs V8 ≥ 11. */
type GcFunction = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

export interface IdleMemoryReducer {
  /** A data-plane request started with none in flight. */
  busy(): void;
  /** Nothing is in flight any more: collect after `afterMs` unless a request comes first. */
  idle(): void;
  stop(): void;
}

/** The `gc` obtained so far: null once V8 refused it. */
let obtained: GcFunction | null | undefined;

/**
 * V8's `gc`, without starting node with `--expose-gc`: V8 installs it in contexts created while the
 * flag is set, so the flag is set only for the moment one context is made. undefined when refused.
 */
function obtainGc(): GcFunction | undefined {
  const global = (globalThis as { gc?: unknown }).gc;
  if (typeof global === 'function') return global as GcFunction;
  // One context for the process: the function keeps the context it came from alive.
  if (obtained !== undefined) return obtained ?? undefined;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    obtained = typeof gc === 'function' ? (gc as GcFunction) : null;
  } catch {
    obtained = null;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  return obtained ?? undefined;
}

const mib = (bytes: number): number => Math.round(bytes / 104_857.6) / 10;

/** V8's memory-reducing collection, or undefined (with a warning) when V8 refuses its gc extension. */
function memoryReducingGc(log: Logger, setting: string): (() => void) | undefined {
  const gc = obtainGc();
  if (!gc) {
    log.warn(`${setting}: V8 refused its gc extension; memory is not given back`);
    return undefined;
  }
  return () => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

/** Runs `collect` and writes a debug line saying what it freed. */
function collectAndSay(collect: () => void, log: Logger, msg: string): void {
  const before = process.memoryUsage();
  const started = performance.now();
  collect();
  const after = process.memoryUsage();
  log.debug(
    { rss_mb: mib(after.rss), rss_before_mb: mib(before.rss), heap_mb: mib(after.heapTotal), heap_before_mb: mib(before.heapTotal), gc_ms: Math.round(performance.now() - started) },
    msg,
  );
}

/** The start-up collection: once, now. `collect` is injected by tests. */
export function reduceMemoryAfterStartUp(log: Logger, collect?: () => void): void {
  const run = collect ?? memoryReducingGc(log, 'start-up');
  if (run) collectAndSay(run, log, 'start-up: memory given back');
}

/** `afterMs` 0 turns it off. `collect` is injected by tests; it defaults to V8's memory-reducing GC. */
export function createIdleMemoryReducer(afterMs: number, log: Logger, collect?: () => void): IdleMemoryReducer {
  const off: IdleMemoryReducer = { busy() {}, idle() {}, stop() {} };
  if (afterMs <= 0) return off;
  const collectNow = collect ?? memoryReducingGc(log, 'server.reduce_memory_when_idle_ms');
  if (!collectNow) return off;
  let timer: NodeJS.Timeout | undefined;
  // Start-up was collected already (reduceMemoryAfterStartUp): only a request makes the next idle period worth one.
  let dirty = false;
  let stopped = false;

  const fire = (): void => {
    timer = undefined;
    if (stopped || !dirty) return;
    dirty = false;
    collectAndSay(collectNow, log, 'idle: memory given back');
  };

  return {
    busy() {
      dirty = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
    idle() {
      if (stopped || !dirty || timer) return;
      timer = setTimeout(fire, afterMs);
      timer.unref();
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}

import { performance } from 'node:perf_hooks';
import { InstanceSaturatedError } from '../errors.ts';

// An instance's optional `max_concurrency`: at most `limit` requests in flight to it; the others wait
// in arrival order, each no longer than it may (the attempt's `timeout` counts the wait).

interface Waiter {
  admit(): void;
}

export interface ConcurrencyGate {
  /** Resolves with the ms waited once a slot is free; rejects when `maxWaitMs` passes or `signal` aborts. */
  acquire(signal: AbortSignal, maxWaitMs: number): Promise<number>;
  release(): void;
  readonly active: number;
  readonly waiting: number;
}

export function createConcurrencyGate(instance: string, limit: number): ConcurrencyGate {
  let active = 0;
  const queue: Waiter[] = [];

  return {
    get active() {
      return active;
    },
    get waiting() {
      return queue.length;
    },
    acquire(signal, maxWaitMs) {
      if (signal.aborted) return Promise.reject(signal.reason);
      if (active < limit && queue.length === 0) {
        active += 1;
        return Promise.resolve(0);
      }
      const started = performance.now();
      return new Promise<number>((resolve, reject) => {
        const leave = (): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          const at = queue.indexOf(waiter);
          if (at !== -1) queue.splice(at, 1);
        };
        const onAbort = (): void => {
          leave();
          reject(signal.reason);
        };
        const timer = setTimeout(() => {
          leave();
          reject(new InstanceSaturatedError(instance, Math.round(performance.now() - started)));
        }, maxWaitMs);
        const waiter: Waiter = {
          admit() {
            leave();
            active += 1;
            resolve(performance.now() - started);
          },
        };
        queue.push(waiter);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    },
    release() {
      active -= 1;
      queue[0]?.admit();
    },
  };
}

// Fleet-wide counting for limits, on the state store's sliding windows (state/window-counter.ts): with
// Redis every replica adds into one counter per limit; while Redis is down the store answers from this
// replica's own counts, so limits keep holding per replica (looser, never off) and a warn line says so.
import type { Logger } from '../observe/logger.ts';
import type { Clock, StateStore } from '../state/state-store.ts';
import { windowBuckets } from '../state/window-counter.ts';

export interface LimitCounter {
  /** The window's total across the fleet (this replica's own while Redis is down). */
  used(counter: string, windowMs: number): Promise<number>;
  /** Adds `amount` (may be negative, to give back) and resolves to the new total. */
  add(counter: string, amount: number, windowMs: number): Promise<number>;
  /** Seconds until the oldest part of a window leaves it: when a full limit may admit again. */
  resetSec(windowMs: number): number;
}

export function createLimitCounter(store: StateStore, clock: Clock, log: Logger): LimitCounter {
  let local = false;
  // A limit counted per replica is looser than configured; say so once per outage, and when it ends.
  const noteMode = (): void => {
    const offline = store.mode() === 'redis-offline';
    if (offline && !local) log.warn('redis unavailable: rate limits and budgets are counted by this replica alone until it is back');
    else if (!offline && local) log.info('redis is back: rate limits and budgets are counted fleet-wide again');
    local = offline;
  };
  const add = async (counter: string, amount: number, windowMs: number): Promise<number> => {
    const totals = await store.addToWindow(`limit:${counter}:${windowMs}`, 0, amount, windowMs);
    noteMode();
    return totals.total;
  };
  return {
    used: (counter, windowMs) => add(counter, 0, windowMs),
    add,
    resetSec(windowMs) {
      const bucketMs = Math.max(windowMs, windowBuckets) / windowBuckets;
      return Math.max(1, Math.ceil((bucketMs - (clock.now() % bucketMs)) / 1000));
    },
  };
}

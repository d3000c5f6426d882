// A Clock whose time moves only when a test says so, so breaker, health and store tests are exact and
// never sleep.
import type { Clock } from '../../lib/state/state-store.ts';

export interface ManualClock extends Clock {
  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way, in due order (ties in the
   * order they were set). A timer set by a callback fires in the same call if it is due by the end.
   */
  advance(ms: number): void;
  /** Timers set and not yet fired or cleared. */
  pending(): number;
}

interface Timer {
  id: number;
  due: number;
  fn: () => void;
}

export function createManualClock(start = 0): ManualClock {
  let now = start;
  let nextId = 1;
  const timers = new Map<number, Timer>();

  const nextDue = (until: number): Timer | undefined => {
    let best: Timer | undefined;
    for (const timer of timers.values()) {
      if (timer.due > until) continue;
      if (!best || timer.due < best.due || (timer.due === best.due && timer.id < best.id)) best = timer;
    }
    return best;
  };

  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.set(id, { id, due: now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout(handle) {
      if (typeof handle === 'number') timers.delete(handle);
    },
    advance(ms) {
      const until = now + ms;
      for (let timer = nextDue(until); timer; timer = nextDue(until)) {
        timers.delete(timer.id);
        now = timer.due;
        timer.fn();
      }
      now = until;
    },
    pending: () => timers.size,
  };
}

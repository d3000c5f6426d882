// Per-instance token limits of a route's `ai-rate-limiting` plugin, for picking. Picking is
// synchronous, so each limited instance keeps a local view of its window: this replica's charges are
// added at once, and every charge brings back the fleet's total from the state store. A view older than
// a second (or one bucket of a shorter window) is refreshed in the background on the next look and
// keeps its answer until the refresh lands: another replica's charges show within about that long.
import type { LimitStrategy, RateLimitingConfig } from '../config/types.ts';
import type { Clock } from '../state/state-store.ts';
import { windowBuckets } from '../state/window-counter.ts';
import type { LimitCounter } from './limit-counter.ts';
import type { ChargedUsage } from './request-limits.ts';
import { tokensOf } from './request-limits.ts';

export interface InstanceLimits {
  /** False while `name` is over its own limit (instances without one are always admitted). */
  admits(name: string): boolean;
  /** Charges an answer's tokens to the instance that gave it. */
  charge(name: string, usage: ChargedUsage): Promise<void>;
  /** Seconds until the first of `names` that is over its limit may admit again; undefined if none is over. */
  resetSec(names: Iterable<string>): number | undefined;
}

interface View {
  counter: string;
  limit: number;
  windowMs: number;
  used: number;
  /** When the view was last brought up to date, and how old it may get. */
  refreshedAt: number;
  maxAgeMs: number;
  refreshing: boolean;
}

export function createInstanceLimits(routeId: string, config: RateLimitingConfig | null, counter: LimitCounter, clock: Clock): InstanceLimits {
  const strategy: LimitStrategy = config?.limit_strategy ?? 'total_tokens';
  const views = new Map<string, View>();
  for (const i of config?.instances ?? []) {
    const windowMs = i.time_window * 1000;
    views.set(i.name, {
      counter: `route:${routeId}:instance:${i.name}`,
      limit: i.limit,
      windowMs,
      used: 0,
      refreshedAt: clock.now(),
      maxAgeMs: Math.min(1000, windowMs / windowBuckets),
      refreshing: false,
    });
  }

  const settle = (view: View, total: Promise<number>): Promise<void> =>
    total.then((fleet) => {
      view.used = fleet;
      view.refreshedAt = clock.now();
    }).finally(() => {
      view.refreshing = false;
    });

  const over = (view: View): boolean => {
    if (clock.now() - view.refreshedAt >= view.maxAgeMs && !view.refreshing) {
      view.refreshing = true;
      void settle(view, counter.used(view.counter, view.windowMs));
    }
    return view.used >= view.limit;
  };

  return {
    admits(name) {
      const view = views.get(name);
      return view === undefined || !over(view);
    },
    async charge(name, usage) {
      const view = views.get(name);
      const tokens = tokensOf(usage, strategy);
      if (!view || tokens === 0) return;
      view.used += tokens;
      view.refreshing = true;
      await settle(view, counter.add(view.counter, tokens, view.windowMs));
    },
    resetSec(names) {
      let soonest: number | undefined;
      for (const name of names) {
        const view = views.get(name);
        if (!view || view.used < view.limit) continue;
        const sec = counter.resetSec(view.windowMs);
        soonest = soonest === undefined ? sec : Math.min(soonest, sec);
      }
      return soonest;
    },
  };
}

// Per-instance token limits of a route's `ai-rate-limiting` plugin, for picking. Picking is
// synchronous, so each limited instance keeps a local view of its window: this replica's charges are
// added at once, and every charge brings back the fleet's total from the state store. A view older than
// one bucket of the window is refreshed in the background and keeps its answer until the refresh lands.
import type { LimitStrategy, RateLimitingConfig } from '../config/types.ts';
import type { Clock } from '../state/state-store.ts';
import { bucketIndex } from '../state/window-counter.ts';
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
  /** Bucket index the view was last brought up to date in. */
  bucket: number;
  refreshing: boolean;
}

export function createInstanceLimits(routeId: string, config: RateLimitingConfig | null, counter: LimitCounter, clock: Clock): InstanceLimits {
  const strategy: LimitStrategy = config?.limit_strategy ?? 'total_tokens';
  const views = new Map<string, View>();
  for (const i of config?.instances ?? []) {
    const windowMs = i.time_window * 1000;
    views.set(i.name, { counter: `route:${routeId}:instance:${i.name}`, limit: i.limit, windowMs, used: 0, bucket: bucketIndex(clock.now(), windowMs), refreshing: false });
  }

  const settle = (view: View, total: Promise<number>): Promise<void> =>
    total.then((fleet) => {
      view.used = fleet;
      view.bucket = bucketIndex(clock.now(), view.windowMs);
    }).finally(() => {
      view.refreshing = false;
    });

  const over = (view: View): boolean => {
    if (view.bucket !== bucketIndex(clock.now(), view.windowMs) && !view.refreshing) {
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

// Priority groups over the per-group balancers. A pick tries the highest priority group first and
// moves down only when no member of a group is both not excluded and eligible. Weight-0 instances
// are standbys: they form groups after every weighted group, so they serve only when nothing else can.
import type { BalancerAlgorithm } from '../config/types.ts';
import { createConsistentHash, type ConsistentHash } from './chash.ts';
import { createWeightedRoundRobin, type WeightedRoundRobin } from './weighted-round-robin.ts';

export interface PickerMember {
  readonly name: string;
  readonly weight: number;
  readonly priority: number;
}

export interface PickContext {
  /** Instances this request has already tried (or must not use). */
  exclude: ReadonlySet<string>;
  /** Health / breaker filter; absent → every instance not excluded is eligible. */
  eligible?: (name: string) => boolean;
  /** chash key of the request; absent → round robin even when the algorithm is chash. */
  hashKey?: string;
}

export interface Picker {
  pick(ctx: PickContext): string | undefined;
}

export interface PickerOptions {
  algorithm: BalancerAlgorithm;
  /** Ring points per unit weight for chash. */
  virtualNodes?: number;
}

export interface PriorityGroup {
  readonly priority: number;
  /** True for a group of weight-0 instances. */
  readonly standby: boolean;
  readonly members: readonly PickerMember[];
}

/** Groups in the order a pick tries them: weighted groups by priority (highest first), then standbys. */
export function groupsOf(instances: readonly PickerMember[]): PriorityGroup[] {
  const seen = new Set<string>();
  for (const m of instances) {
    if (seen.has(m.name)) throw new RangeError(`duplicate balancer member ${m.name}`);
    seen.add(m.name);
  }
  const byPriority = (standby: boolean): PriorityGroup[] => {
    const map = new Map<number, PickerMember[]>();
    for (const m of instances) {
      if ((m.weight === 0) !== standby) continue;
      const list = map.get(m.priority);
      if (list === undefined) map.set(m.priority, [m]);
      else list.push(m);
    }
    return [...map.entries()]
      .sort(([a], [b]) => b - a)
      .map(([priority, members]) => ({ priority, standby, members }));
  };
  return [...byPriority(false), ...byPriority(true)];
}

interface GroupBalancer {
  readonly wrr: WeightedRoundRobin;
  readonly ring: ConsistentHash | undefined;
}

const NOTHING_EXCLUDED: ReadonlySet<string> = new Set();

export function createPicker(instances: readonly PickerMember[], opts: PickerOptions): Picker {
  const ringOpts = opts.virtualNodes === undefined ? {} : { virtualNodes: opts.virtualNodes };
  const groups: GroupBalancer[] = groupsOf(instances).map((g) => ({
    wrr: createWeightedRoundRobin(g.members),
    ring: opts.algorithm === 'chash' ? createConsistentHash(g.members, ringOpts) : undefined,
  }));

  // One predicate for the picker's lifetime instead of a closure per pick; pick() swaps what it reads.
  let exclude = NOTHING_EXCLUDED;
  let eligible: ((name: string) => boolean) | undefined;
  const allowed = (name: string): boolean =>
    !exclude.has(name) && (eligible === undefined || eligible(name));

  return {
    pick(ctx) {
      const outerExclude = exclude;
      const outerEligible = eligible;
      exclude = ctx.exclude;
      eligible = ctx.eligible;
      try {
        for (const g of groups) {
          const name =
            g.ring !== undefined && ctx.hashKey !== undefined
              ? g.ring.pick(ctx.hashKey, allowed)
              : g.wrr.pick(allowed);
          if (name !== undefined) return name;
        }
        return undefined;
      } finally {
        exclude = outerExclude;
        eligible = outerEligible;
      }
    },
  };
}

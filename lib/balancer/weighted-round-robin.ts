// Smooth weighted round robin, as nginx does it (src/http/ngx_http_upstream_round_robin.c, get_peer):
// every pick adds each eligible member's weight to its `current`, takes the largest, then subtracts
// the total eligible weight from the winner. Weights 5:1:1 give a,a,b,a,c,a,a — spread, not bursts.

export interface WeightedMember {
  readonly name: string;
  readonly weight: number;
}

export interface WeightedRoundRobin {
  /** The next member by weight among those `eligible` accepts; undefined when it accepts none. */
  pick(eligible: (name: string) => boolean): string | undefined;
}

export function createWeightedRoundRobin(members: readonly WeightedMember[]): WeightedRoundRobin {
  assertWeights(members);
  const weighted = members.filter((m) => m.weight > 0);
  const names = weighted.map((m) => m.name);
  const weights = Float64Array.from(weighted, (m) => m.weight);
  const current = new Float64Array(weighted.length);
  const count = names.length;

  // Weight-0 members are standbys: plain round robin among them, only when no weighted member is eligible.
  const standbys = members.filter((m) => m.weight === 0).map((m) => m.name);
  let standbyCursor = 0;

  function pickStandby(eligible: (name: string) => boolean): string | undefined {
    const n = standbys.length;
    for (let step = 0; step < n; step++) {
      const i = (standbyCursor + step) % n;
      const name = standbys[i] as string;
      if (eligible(name)) {
        standbyCursor = (i + 1) % n;
        return name;
      }
    }
    return undefined;
  }

  return {
    pick(eligible) {
      let best = -1;
      let total = 0;
      for (let i = 0; i < count; i++) {
        // Ineligible members keep their `current` frozen, so they resume their place when they return.
        if (!eligible(names[i] as string)) continue;
        const w = weights[i] as number;
        const c = (current[i] as number) + w;
        current[i] = c;
        total += w;
        if (best < 0 || c > (current[best] as number)) best = i;
      }
      if (best < 0) return pickStandby(eligible);
      current[best] = (current[best] as number) - total;
      return names[best];
    },
  };
}

/** Weights come from validated config; a bad one here is a programming error, not a user error. */
export function assertWeights(members: readonly WeightedMember[]): void {
  for (const m of members) {
    if (!Number.isFinite(m.weight) || m.weight < 0) {
      throw new RangeError(`balancer member ${m.name} has invalid weight ${m.weight}`);
    }
  }
}

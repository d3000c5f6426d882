// Consistent hashing on a ring of virtual nodes (ketama style). The ring is built and sorted once;
// a pick hashes the key, binary-searches the ring, and walks clockwise past ineligible owners, so
// excluding a member moves only the keys it owned and every other key stays where it was.
import { assertWeights, type WeightedMember } from './weighted-round-robin.ts';

export interface ConsistentHash {
  /** The owner of `key` among members `eligible` accepts; undefined when it accepts none. */
  pick(key: string, eligible: (name: string) => boolean): string | undefined;
}

export interface ConsistentHashOptions {
  /** Ring points per unit of weight (default 160, as ketama and nginx use). */
  virtualNodes?: number;
}

const DEFAULT_VIRTUAL_NODES = 160;
// Above this the ring is scaled down proportionally: 64 Ki points keep the spread within a few percent
// and the ring under 400 KiB, however large the configured weights are.
const MAX_RING_POINTS = 1 << 16;

export function createConsistentHash(
  members: readonly WeightedMember[],
  opts: ConsistentHashOptions = {},
): ConsistentHash {
  assertWeights(members);
  const vnodes = opts.virtualNodes ?? DEFAULT_VIRTUAL_NODES;
  if (!Number.isInteger(vnodes) || vnodes < 1) {
    throw new RangeError(`virtualNodes must be a positive integer, got ${vnodes}`);
  }
  // Weight 0 keeps a member off the ring, unless every member has weight 0: then all count equally.
  const positive = members.filter((m) => m.weight > 0);
  const onRing = positive.length > 0 ? positive : members.map((m) => ({ name: m.name, weight: 1 }));
  const names = onRing.map((m) => m.name);

  const totalWeight = onRing.reduce((sum, m) => sum + m.weight, 0);
  const scale = Math.min(1, MAX_RING_POINTS / (vnodes * totalWeight));
  const entries: Array<{ hash: number; owner: number }> = [];
  onRing.forEach((m, owner) => {
    const count = Math.max(1, Math.round(vnodes * m.weight * scale));
    for (let i = 0; i < count; i++) entries.push({ hash: hashString32(`${m.name}\u0000${i}`), owner });
  });
  // Ties (rare 32-bit collisions) are broken by name, so the ring does not depend on member order.
  entries.sort((a, b) => a.hash - b.hash || compareStrings(names[a.owner] as string, names[b.owner] as string));

  const size = entries.length;
  const points = Uint32Array.from(entries, (e) => e.hash);
  const owners = Uint32Array.from(entries, (e) => e.owner);
  const memberCount = names.length;
  // `seen[owner] === epoch` marks an owner already rejected during this pick: eligible() is asked at
  // most once per member per pick, and the walk stops once every member has said no.
  const seen = new Uint32Array(memberCount);
  let epoch = 0;

  return {
    pick(key, eligible) {
      if (size === 0) return undefined;
      const h = hashString32(key);
      let lo = 0;
      let hi = size;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((points[mid] as number) < h) lo = mid + 1;
        else hi = mid;
      }
      if (++epoch === 0xffffffff) {
        seen.fill(0);
        epoch = 1;
      }
      let rejected = 0;
      for (let step = 0, i = lo; step < size; step++, i++) {
        if (i === size) i = 0;
        const owner = owners[i] as number;
        if (seen[owner] === epoch) continue;
        const name = names[owner] as string;
        if (eligible(name)) return name;
        seen[owner] = epoch;
        if (++rejected === memberCount) return undefined;
      }
      return undefined;
    },
  };
}

/**
 * FNV-1a over UTF-16 code units, then murmur3's fmix32 finaliser: FNV alone spreads short, similar
 * strings ("a#1", "a#2") poorly on a ring. Stable across processes, so every replica maps alike.
 */
export function hashString32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

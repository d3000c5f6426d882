// Vector math of semantic balancing: pure, so it is tested on its own. Vectors are normalised once
// (examples at load, the prompt per request) and compared by dot product, which is then the cosine.

/** The unit vector of `v`; a zero vector stays zero (no NaN). */
export function normalise(v: readonly number[]): Float64Array {
  let sum = 0;
  for (const x of v) sum += x * x;
  const norm = Math.sqrt(sum);
  const out = new Float64Array(v.length);
  if (norm === 0) return out;
  for (let i = 0; i < v.length; i += 1) out[i] = (v[i] ?? 0) / norm;
  return out;
}

export function dot(a: Float64Array, b: Float64Array): number {
  const n = Math.min(a.length, b.length);
  let sum = 0;
  for (let i = 0; i < n; i += 1) sum += (a[i] ?? 0) * (b[i] ?? 0);
  return sum;
}

export interface SemanticCandidate {
  readonly name: string;
  /** Normalised example vectors. */
  readonly examples: readonly Float64Array[];
  /** Least score for this candidate to be chosen. */
  readonly threshold: number;
}

export interface SemanticMatch {
  /** The candidate with the best score that clears its threshold; undefined when none does. */
  name: string | undefined;
  /** The best score seen, whether or not it cleared its threshold. */
  bestScore: number | undefined;
  bestName: string | undefined;
}

/**
 * Each candidate scores its best example (examples are alternative phrasings of one intent: one close
 * match is enough, and adding an example never lowers a score); the highest score that clears its
 * candidate's threshold wins.
 */
export function bestMatch(prompt: Float64Array, candidates: readonly SemanticCandidate[]): SemanticMatch {
  let name: string | undefined;
  let score = -Infinity;
  let bestName: string | undefined;
  let bestScore = -Infinity;
  for (const c of candidates) {
    let s = -Infinity;
    for (const e of c.examples) s = Math.max(s, dot(prompt, e));
    if (s > bestScore) {
      bestScore = s;
      bestName = c.name;
    }
    if (s >= c.threshold && s > score) {
      score = s;
      name = c.name;
    }
  }
  return { name, bestScore: bestName === undefined ? undefined : bestScore, bestName };
}

// Turns bench cells into the markdown written to bench/results/latest.md (and printed).

export type TargetId = 'direct' | 'minimal' | 'gateway' | 'gateway-redis' | 'gateway-2w' | 'baseline';

export const TARGET_LABELS: Record<TargetId, string> = {
  direct: 'direct (fake upstream)',
  minimal: 'minimal proxy',
  gateway: 'ai-proxy-multi',
  'gateway-redis': 'ai-proxy-multi + Redis',
  'gateway-2w': 'ai-proxy-multi, 2 workers',
  baseline: 'baseline (BENCH_BASELINE)',
};

export interface Scenario {
  id: string;
  label: string;
  stream: boolean;
  connections: number;
}

export interface Cell {
  target: TargetId;
  /** 0-based round (targets are interleaved within a round). */
  round?: number;
  scenario: string;
  /** 2xx responses per second over the measured window. */
  rps: number;
  /** Milliseconds, from per-response timings (sub-ms resolution). */
  p50: number;
  p99: number;
  /** Peak RSS of the target process during this cell (MiB). */
  rssMb: number | null;
  completed: number;
  errors: number;
  non2xx: number;
}

export interface TargetNote {
  target: TargetId;
  note: string;
}

export interface Meta {
  date: string;
  node: string;
  cpu: string;
  cores: number;
  memGb: number;
  os: string;
  durationS: number;
  warmupS: number;
  pinning: string[];
  extra: string[];
}

/** Nearest-rank percentile over raw samples; autocannon's own histogram only has 1 ms resolution. */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

const fmtInt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
const fmtMs = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '—');
const fmtMb = (n: number | null): string => (n === null ? '—' : n.toFixed(1));
const fmtRatio = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '—');
const fmtDelta = (n: number): string => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${n.toFixed(2)} ms` : '—');

function find(cells: readonly Cell[], target: TargetId, scenario: string): Cell | undefined {
  return cells.find((c) => c.target === target && c.scenario === scenario);
}

export function renderMarkdown(
  meta: Meta,
  scenarios: readonly Scenario[],
  cells: readonly Cell[],
  notes: readonly TargetNote[],
  /** Every round's cells, for the per-round ratios (cells above are the median rounds). */
  all?: readonly Cell[],
): string {
  const lines: string[] = [];
  lines.push('# ai-proxy-multi bench', '');
  lines.push(`${meta.date} · Node ${meta.node} · ${meta.cpu} × ${meta.cores} · ${meta.memGb.toFixed(1)} GiB · ${meta.os}`, '');
  lines.push(`Each cell: ${meta.warmupS} s warm-up, then ${meta.durationS} s measured (autocannon, keep-alive).`, '');
  lines.push('| Target | Scenario | req/s | p50 ms | p99 ms | peak RSS MiB | errors / non-2xx |');
  lines.push('|---|---|---:|---:|---:|---:|---:|');
  for (const target of Object.keys(TARGET_LABELS) as TargetId[]) {
    for (const s of scenarios) {
      const c = find(cells, target, s.id);
      if (!c) continue;
      lines.push(
        `| ${TARGET_LABELS[target]} | ${s.label} | ${fmtInt(c.rps)} | ${fmtMs(c.p50)} | ${fmtMs(c.p99)} | ${fmtMb(c.rssMb)} | ${c.errors} / ${c.non2xx} |`,
      );
    }
  }
  lines.push('');
  lines.push('## Gateway overhead', '');
  lines.push('| Scenario | req/s gateway ÷ minimal | req/s gateway ÷ direct | p50 added vs minimal | p50 added vs direct |');
  lines.push('|---|---:|---:|---:|---:|');
  for (const s of scenarios) {
    const g = find(cells, 'gateway', s.id);
    const m = find(cells, 'minimal', s.id);
    const d = find(cells, 'direct', s.id);
    const ratio = (a?: Cell, b?: Cell): number => (a && b && b.rps > 0 ? a.rps / b.rps : Number.NaN);
    const delta = (a?: Cell, b?: Cell): number => (a && b ? a.p50 - b.p50 : Number.NaN);
    lines.push(
      `| ${s.label} | ${fmtRatio(ratio(g, m))} | ${fmtRatio(ratio(g, d))} | ${fmtDelta(delta(g, m))} | ${fmtDelta(delta(g, d))} |`,
    );
  }
  const variants: Array<[TargetId, string]> = [
    ['gateway-redis', 'Redis-backed state vs in-memory'],
    ['gateway-2w', '2 workers (server.workers) vs 1'],
  ];
  for (const [variant, title] of variants) {
    if (!cells.some((c) => c.target === variant)) continue;
    lines.push('', `## ${title}`, '');
    lines.push(`| Scenario | req/s ÷ in-memory gateway (median round) | per-round ratios | p50 − in-memory | p99 − in-memory | peak RSS |`);
    lines.push('|---|---:|---:|---:|---:|---:|');
    for (const s of scenarios) {
      const r = find(cells, variant, s.id);
      const g = find(cells, 'gateway', s.id);
      const ratio = r && g && g.rps > 0 ? r.rps / g.rps : Number.NaN;
      // Rounds interleave the targets, so round k of one is measured next to round k of the other.
      const paired = (all ?? [])
        .filter((c) => c.target === variant && c.scenario === s.id)
        .map((c) => [c, (all ?? []).find((o) => o.target === 'gateway' && o.scenario === s.id && o.round === c.round)] as const)
        .filter((p): p is readonly [Cell, Cell] => p[1] !== undefined && p[1].rps > 0)
        .map(([c, o]) => c.rps / o.rps)
        .sort((a, b) => a - b);
      const spread = paired.length > 1 ? `${fmtRatio(paired[0] ?? Number.NaN)}–${fmtRatio(paired[paired.length - 1] ?? Number.NaN)} (${paired.length})` : '—';
      lines.push(`| ${s.label} | ${fmtRatio(ratio)} | ${spread} | ${fmtDelta(r && g ? r.p50 - g.p50 : Number.NaN)} | ${fmtDelta(r && g ? r.p99 - g.p99 : Number.NaN)} | ${fmtMb(r?.rssMb ?? null)} |`);
    }
  }
  if (cells.some((c) => c.target === 'baseline')) {
    lines.push('', '## This gateway vs the baseline checkout', '');
    lines.push('| Scenario | req/s this ÷ baseline | p50 this − baseline | p99 this − baseline | peak RSS this − baseline |');
    lines.push('|---|---:|---:|---:|---:|');
    for (const s of scenarios) {
      const g = find(cells, 'gateway', s.id);
      const b = find(cells, 'baseline', s.id);
      const ratio = g && b && b.rps > 0 ? g.rps / b.rps : Number.NaN;
      const rss = g?.rssMb != null && b?.rssMb != null ? `${(g.rssMb - b.rssMb).toFixed(1)} MiB` : '—';
      lines.push(`| ${s.label} | ${fmtRatio(ratio)} | ${fmtDelta(g && b ? g.p50 - b.p50 : Number.NaN)} | ${fmtDelta(g && b ? g.p99 - b.p99 : Number.NaN)} | ${rss} |`);
    }
  }
  lines.push('');
  lines.push('The 1-connection rows are the unloaded latency a single client sees; the 50-connection rows are throughput under load.');
  if (notes.length > 0) {
    lines.push('', '## Notes', '');
    for (const n of notes) lines.push(`- **${TARGET_LABELS[n.target]}**: ${n.note}`);
  }
  lines.push('', '## Setup', '');
  for (const p of meta.pinning) lines.push(`- ${p}`);
  for (const e of meta.extra) lines.push(`- ${e}`);
  lines.push('');
  return lines.join('\n');
}

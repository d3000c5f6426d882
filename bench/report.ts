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
  /** CPU µs of the target (its workers added) per 2xx response over the measured window. */
  cpuUs?: number | null;
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

const cpuOf = (c: Cell | undefined): number => c?.cpuUs ?? Number.NaN;

/**
 * `metric(target) ÷ metric(reference)` round by round, sorted: rounds interleave the targets, so round k
 * of one is measured next to round k of the other.
 */
function pairedRatios(all: readonly Cell[], target: TargetId, reference: TargetId, scenario: string, metric: (c: Cell) => number): number[] {
  return all
    .filter((c) => c.target === target && c.scenario === scenario)
    .map((c) => {
      const o = all.find((x) => x.target === reference && x.scenario === scenario && x.round === c.round);
      return o ? metric(c) / metric(o) : Number.NaN;
    })
    .filter((r) => Number.isFinite(r) && r > 0)
    .sort((a, b) => a - b);
}

/** "0.98× (0.95–1.02×, 5)": the median of the per-round ratios, their range and count. */
function ratioSummary(ratios: readonly number[]): string {
  if (ratios.length === 0) return '—';
  const median = ratios.length % 2 === 1
    ? (ratios[(ratios.length - 1) / 2] ?? Number.NaN)
    : ((ratios[ratios.length / 2 - 1] ?? Number.NaN) + (ratios[ratios.length / 2] ?? Number.NaN)) / 2;
  if (ratios.length === 1) return fmtRatio(median);
  return `${fmtRatio(median)} (${fmtRatio(ratios[0] ?? Number.NaN)}–${fmtRatio(ratios[ratios.length - 1] ?? Number.NaN)}, ${ratios.length})`;
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
  lines.push('| Target | Scenario | req/s | p50 ms | p99 ms | CPU µs/req | peak RSS MiB | errors / non-2xx |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const target of Object.keys(TARGET_LABELS) as TargetId[]) {
    for (const s of scenarios) {
      const c = find(cells, target, s.id);
      if (!c) continue;
      lines.push(
        `| ${TARGET_LABELS[target]} | ${s.label} | ${fmtInt(c.rps)} | ${fmtMs(c.p50)} | ${fmtMs(c.p99)} | ${fmtInt(cpuOf(c))} | ${fmtMb(c.rssMb)} | ${c.errors} / ${c.non2xx} |`,
      );
    }
  }
  lines.push('');
  lines.push('## Gateway overhead', '');
  lines.push('| Scenario | req/s gateway ÷ minimal | req/s gateway ÷ direct | CPU/req gateway ÷ minimal | p50 added vs minimal | p50 added vs direct |');
  lines.push('|---|---:|---:|---:|---:|---:|');
  for (const s of scenarios) {
    const g = find(cells, 'gateway', s.id);
    const m = find(cells, 'minimal', s.id);
    const d = find(cells, 'direct', s.id);
    const ratio = (a?: Cell, b?: Cell): number => (a && b && b.rps > 0 ? a.rps / b.rps : Number.NaN);
    const delta = (a?: Cell, b?: Cell): number => (a && b ? a.p50 - b.p50 : Number.NaN);
    lines.push(
      `| ${s.label} | ${fmtRatio(ratio(g, m))} | ${fmtRatio(ratio(g, d))} | ${fmtRatio(cpuOf(g) / cpuOf(m))} | ${fmtDelta(delta(g, m))} | ${fmtDelta(delta(g, d))} |`,
    );
  }
  const variants: Array<[TargetId, string]> = [
    ['gateway-redis', 'Redis-backed state vs in-memory'],
    ['gateway-2w', '2 workers (server.workers) vs 1'],
  ];
  for (const [variant, title] of variants) {
    if (!cells.some((c) => c.target === variant)) continue;
    lines.push('', `## ${title}`, '');
    lines.push('| Scenario | req/s ÷ in-memory gateway, per round | CPU/req ÷ in-memory gateway, per round | p50 − in-memory | p99 − in-memory | peak RSS |');
    lines.push('|---|---:|---:|---:|---:|---:|');
    for (const s of scenarios) {
      const r = find(cells, variant, s.id);
      const g = find(cells, 'gateway', s.id);
      const rps = ratioSummary(pairedRatios(all ?? cells, variant, 'gateway', s.id, (c) => c.rps));
      const cpu = ratioSummary(pairedRatios(all ?? cells, variant, 'gateway', s.id, cpuOf));
      lines.push(`| ${s.label} | ${rps} | ${cpu} | ${fmtDelta(r && g ? r.p50 - g.p50 : Number.NaN)} | ${fmtDelta(r && g ? r.p99 - g.p99 : Number.NaN)} | ${fmtMb(r?.rssMb ?? null)} |`);
    }
  }
  if (cells.some((c) => c.target === 'baseline')) {
    lines.push('', '## This gateway vs the baseline checkout', '');
    lines.push('| Scenario | req/s this ÷ baseline, per round | CPU/req this ÷ baseline, per round | p50 this − baseline | p99 this − baseline | peak RSS this − baseline |');
    lines.push('|---|---:|---:|---:|---:|---:|');
    for (const s of scenarios) {
      const g = find(cells, 'gateway', s.id);
      const b = find(cells, 'baseline', s.id);
      const rps = ratioSummary(pairedRatios(all ?? cells, 'gateway', 'baseline', s.id, (c) => c.rps));
      const cpu = ratioSummary(pairedRatios(all ?? cells, 'gateway', 'baseline', s.id, cpuOf));
      const rss = g?.rssMb != null && b?.rssMb != null ? `${(g.rssMb - b.rssMb).toFixed(1)} MiB` : '—';
      lines.push(`| ${s.label} | ${rps} | ${cpu} | ${fmtDelta(g && b ? g.p50 - b.p50 : Number.NaN)} | ${fmtDelta(g && b ? g.p99 - b.p99 : Number.NaN)} | ${rss} |`);
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

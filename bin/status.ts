import type { StatusReport } from '../lib/http/status-report.ts';

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, col) => cell.padEnd(widths[col] ?? 0)).join('  ').trimEnd()).join('\n');
}

/** `ai-proxy-multi status`: the admin API's /status as a table. */
export async function printStatus(adminUrl: string, apiKey: string | undefined): Promise<number> {
  let report: StatusReport;
  try {
    const res = await fetch(new URL('/status', adminUrl), { headers: apiKey ? { 'x-api-key': apiKey } : {} });
    if (!res.ok) {
      process.stderr.write(`${adminUrl}/status answered ${res.status}${res.status === 401 ? ' (pass --api-key or set AIPM_ADMIN_KEY)' : ''}\n`);
      return 1;
    }
    report = (await res.json()) as StatusReport;
  } catch (err) {
    process.stderr.write(`cannot reach ${adminUrl} (${(err as Error).message})\n`);
    return 1;
  }
  process.stdout.write(`state store: ${report.state_store}\n\n`);
  for (const route of report.routes) {
    process.stdout.write(`route ${route.id}\n`);
    const rows = [['INSTANCE', 'PROVIDER', 'PRIO', 'WEIGHT', 'HEALTH', 'BREAKER', 'IN-FLIGHT', 'REQUESTS', 'FAILURES', 'FALLBACKS', 'LATENCY', 'SHARE', 'LAST ERROR']];
    for (const i of route.instances) {
      rows.push([
        i.name,
        i.provider,
        String(i.priority),
        String(i.weight),
        i.health,
        i.breaker.state === 'closed' ? `closed (${i.breaker.failures_in_window} fails)` : `${i.breaker.state} since ${i.breaker.since?.slice(11, 19) ?? '?'}`,
        String(i.in_flight),
        String(i.requests),
        String(i.failures),
        String(i.fallbacks),
        i.latency_ewma_ms === null ? '-' : `${i.latency_ewma_ms} ms`,
        `${(i.traffic_share * 100).toFixed(1)}%`,
        i.last_error ? i.last_error.reason.slice(0, 60) : '-',
      ]);
    }
    process.stdout.write(`${table(rows)}\n\n`);
  }
  return 0;
}

import { readFileSync } from 'node:fs';
import { substituteEnvCollect } from '../lib/config/env.ts';
import { parseConfigJson } from '../lib/load-config.ts';
import type { StatusReport } from '../lib/http/status-report.ts';

export type AdminTarget = { url: string; apiKey: string | undefined } | { error: string };

/** `host:port` is the usual way to name a listener; URL() would read `host` as a scheme. */
export function adminUrl(given: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(given) ? given : `http://${given}`;
}

/**
 * Where the admin API is and its key: `--admin` / `--api-key` / AIPM_ADMIN_KEY win over the config
 * file's `admin` section (after `${VAR}` substitution); the default is the default listener.
 */
export function adminTarget(opts: { admin?: string | undefined; apiKey?: string | undefined; config?: string | undefined }): AdminTarget {
  let fromFile: { host?: unknown; port?: unknown; api_key?: unknown } = {};
  if (opts.config) {
    try {
      const parsed = parseConfigJson(readFileSync(opts.config, 'utf8'));
      const admin = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)['admin'] : undefined;
      if (admin === null) return { error: `${opts.config}: the admin listener is disabled (admin: null)` };
      const { value, missing } = substituteEnvCollect(admin ?? {}, process.env);
      // An unset key variable is fine when the key is given on the command line or in AIPM_ADMIN_KEY.
      const keyGiven = (opts.apiKey ?? process.env['AIPM_ADMIN_KEY']) !== undefined;
      const names = missing.filter((m) => !(keyGiven && m.path === '/api_key')).map((m) => m.name);
      if (names.length > 0) {
        return { error: `${opts.config}: the admin section uses unset variable${names.length === 1 ? '' : 's'} ${names.join(', ')}` };
      }
      fromFile = value as typeof fromFile;
    } catch (err) {
      const problems = (err as { problems?: Array<{ message: string }> }).problems;
      return { error: `${opts.config}: ${problems?.[0]?.message ?? (err as Error).message}` };
    }
  }
  const host = typeof fromFile.host === 'string' && fromFile.host !== '0.0.0.0' && fromFile.host !== '::' ? fromFile.host : '127.0.0.1';
  const port = typeof fromFile.port === 'number' ? fromFile.port : 9180;
  const fileKey = typeof fromFile.api_key === 'string' && fromFile.api_key !== '' ? fromFile.api_key : undefined;
  const url = adminUrl(opts.admin ?? `${host.includes(':') ? `[${host}]` : host}:${port}`);
  try {
    new URL(url);
  } catch {
    return { error: `--admin ${opts.admin ?? ''}: not an address (write host:port or http://host:port)` };
  }
  return { url, apiKey: opts.apiKey ?? process.env['AIPM_ADMIN_KEY'] ?? fileKey };
}

/** `ai-proxy-multi reload`: POST /reload; 0 when applied, 1 when refused or unreachable. */
export async function requestReload(url: string, apiKey: string | undefined): Promise<number> {
  let res: Response;
  try {
    res = await fetch(new URL('/reload', url), { method: 'POST', headers: apiKey ? { 'x-api-key': apiKey } : {} });
  } catch (err) {
    process.stderr.write(`cannot reach ${url} (${(err as Error).message})\n`);
    return 1;
  }
  const body = (await res.json().catch(() => ({}))) as { applied?: boolean; routes?: number; problems?: Array<{ path: string; message: string }> };
  if (res.status === 401) {
    process.stderr.write(`${url}/reload answered 401 (pass -c FILE, --api-key or set AIPM_ADMIN_KEY)\n`);
    return 1;
  }
  if (res.ok && body.applied) {
    process.stdout.write(`reloaded: ${body.routes ?? '?'} route${body.routes === 1 ? '' : 's'}\n`);
    return 0;
  }
  process.stderr.write(`reload refused (${res.status})${body.problems?.length ? ':' : ''}\n`);
  for (const p of body.problems ?? []) process.stderr.write(`  ${p.path || '(root)'}: ${p.message}\n`);
  return 1;
}

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

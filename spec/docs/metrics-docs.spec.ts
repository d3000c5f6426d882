import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMetrics } from '../../lib/observe/metrics.ts';

// The README's metrics table and the Grafana dashboard are checked against what the code registers, so
// a new metric or label cannot ship undocumented and the dashboard cannot query a name that does not exist.

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const dashboard = JSON.parse(readFileSync(join(root, 'docs/grafana-dashboard.json'), 'utf8')) as { panels: Array<Record<string, unknown>> };

// Every optional metric and label registered: a gauge source, a Redis store and consumers.
const { registry } = createMetrics(() => [], () => true, { consumerLabel: true });
const registered = registry.getMetricsAsArray().map((m) => ({
  name: (m as unknown as { name: string }).name,
  labels: [...((m as unknown as { labelNames?: readonly string[] }).labelNames ?? [])].sort(),
  type: (m as unknown as { type: string }).type,
}));
const isDefault = (name: string) => name.startsWith('aipm_process_') || name.startsWith('aipm_nodejs_');

/** README rows of the Metrics table: `| \`name\` | type | labels | what |`. */
function documented(): Map<string, { type: string; labels: string[] }> {
  const rows = new Map<string, { type: string; labels: string[] }>();
  for (const line of readme.split('\n')) {
    const m = /^\| `(aipm_[a-z0-9_]+)` \| ([a-z]+) \| ([^|]*) \|/.exec(line);
    if (!m) continue;
    const labels = [...(m[3] ?? '').matchAll(/`([a-z_]+)`/g)].map((x) => x[1] ?? '').sort();
    rows.set(m[1] ?? '', { type: m[2] ?? '', labels });
  }
  return rows;
}

function expressions(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const x of node) expressions(x, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if ((k === 'expr' || k === 'definition') && typeof v === 'string') out.push(v);
      else expressions(v, out);
    }
  }
  return out;
}

describe('metrics documentation', () => {
  it('lists every registered metric in the README with its type and exactly its labels', () => {
    const rows = documented();
    const own = registered.filter((m) => !isDefault(m.name));
    assert.ok(own.length >= 13, `${own.length} metrics registered`);
    for (const m of own) {
      const row = rows.get(m.name);
      assert.ok(row, `${m.name} is missing from the README's Metrics table`);
      assert.equal(row.type, m.type, `${m.name}'s type`);
      assert.deepEqual(row.labels, m.labels, `${m.name}'s labels`);
    }
    for (const name of rows.keys()) assert.ok(own.some((m) => m.name === name), `the README documents ${name}, which is not registered`);
    assert.ok(registered.some((m) => isDefault(m.name)) && readme.includes('`aipm_process_*`, `aipm_nodejs_*`'), 'process metrics mentioned');
  });

  it('builds the Grafana dashboard only on registered names and labels', () => {
    const names = new Set<string>();
    for (const m of registered) {
      names.add(m.name);
      if (m.type === 'histogram') for (const suffix of ['_bucket', '_count', '_sum']) names.add(m.name + suffix);
    }
    const exprs = expressions(dashboard.panels).concat(expressions((dashboard as Record<string, unknown>)['templating']));
    assert.ok(exprs.length >= 20, `${exprs.length} queries`);
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\baipm_[a-z0-9_]+/g)].map((x) => x[0])));
    for (const name of used) assert.ok(names.has(name), `the dashboard queries ${name}, which is not registered`);
    for (const m of registered.filter((x) => !isDefault(x.name))) {
      if (m.name === 'aipm_redis_connected' || m.name.startsWith('aipm_connections_')) continue;
      assert.ok(used.has(m.name) || used.has(`${m.name}_bucket`), `the dashboard shows ${m.name}`);
    }
    // Label matchers name our labels (or the `replica` label the README's scrape config adds).
    const labels = new Set(['le', 'replica', ...registered.flatMap((m) => m.labels)]);
    for (const e of exprs) {
      for (const x of e.matchAll(/(?:by \(([^)]*)\))|([a-z_]+)\s*(?:=~|!=|=)\s*"/g)) {
        const names = x[1] !== undefined ? x[1].split(',').map((s) => s.trim()) : [x[2] ?? ''];
        for (const n of names) assert.ok(labels.has(n), `the dashboard uses label ${n} in ${e}`);
      }
    }
  });
});

// The compose demo's traffic: one chat request every `--interval-ms`, alternating between the gateway
// replicas, one line per request (which replica, which instance answered, after how many attempts),
// and whenever a breaker changes, how each replica sees it (they share it through Redis).
//
//   node tools/simulator/traffic.ts --gateway URL --gateway URL [--admin URL --admin URL] [--interval-ms 500] [--count N]
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    gateway: { type: 'string', multiple: true, default: [] },
    admin: { type: 'string', multiple: true, default: [] },
    'interval-ms': { type: 'string', default: '500' },
    count: { type: 'string' },
  },
  strict: true,
});
const gateways = values.gateway;
const admins = values.admin;
const intervalMs = Number(values['interval-ms']);
const count = values.count === undefined ? Infinity : Number(values.count);
if (gateways.length === 0 || !(intervalMs > 0) || !(count > 0)) {
  process.stderr.write('usage: traffic.ts --gateway URL [--gateway URL] [--admin URL ...] [--interval-ms MS] [--count N]\n');
  process.exit(2);
}
const adminKey = process.env['AIPM_ADMIN_KEY'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Status {
  routes: Array<{ id: string; instances: Array<{ name: string; breaker: { state: string } }> }>;
}

/** "sim-primary=open sim-backup=closed" as one replica sees it, or its error. */
async function breakersOf(admin: string): Promise<string> {
  try {
    const res = await fetch(`${admin}/status`, { headers: adminKey ? { 'x-api-key': adminKey } : {}, signal: AbortSignal.timeout(2000) });
    if (!res.ok) return `status ${res.status}`;
    const status = (await res.json()) as Status;
    return status.routes.flatMap((r) => r.instances.map((i) => `${i.name}=${i.breaker.state}`)).join(' ');
  } catch (err) {
    return `unreachable (${(err as Error).message})`;
  }
}

let lastView = '';
for (let n = 0; n < count; n++) {
  const gateway = gateways[n % gateways.length] as string;
  const started = Date.now();
  let line: string;
  try {
    const res = await fetch(`${gateway}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: `request ${n + 1}` }] }),
      signal: AbortSignal.timeout(15_000),
    });
    await res.arrayBuffer();
    const instance = res.headers.get('x-ai-proxy-instance') ?? '-';
    const attempts = res.headers.get('x-ai-proxy-attempts') ?? '?';
    line = `${res.status} from ${instance} after ${attempts} attempt${attempts === '1' ? '' : 's'}`;
  } catch (err) {
    line = `failed: ${(err as Error).message}`;
  }
  process.stdout.write(`${new URL(gateway).host.padEnd(16)} ${line} (${Date.now() - started} ms)\n`);
  if (admins.length > 0) {
    const views = await Promise.all(admins.map(async (a) => `${new URL(a).host}: ${await breakersOf(a)}`));
    const view = views.join(' | ');
    if (view !== lastView) process.stdout.write(`  breakers  ${view}\n`);
    lastView = view;
  }
  await sleep(intervalMs);
}

// A simulated OpenAI-compatible provider as a process of its own, for the compose file's `demo`
// profile (docker-compose.yml) and the spec that runs what it describes. `--outage UP/DOWN` makes it
// answer for UP seconds, then 503 for DOWN seconds, over and over, so breakers open and close on
// their own while traffic flows.
//
//   node tools/simulator/serve.ts --name sim-primary --port 8000 [--host 0.0.0.0] [--latency-ms 40] [--outage 40/20]
import { parseArgs } from 'node:util';
import type { Behavior } from './fake-openai.ts';
import { startFakeOpenAI } from './fake-openai.ts';

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: 'sim' },
    port: { type: 'string', default: '8000' },
    host: { type: 'string', default: '0.0.0.0' },
    'latency-ms': { type: 'string', default: '0' },
    outage: { type: 'string' },
  },
  strict: true,
});

function fail(message: string): never {
  process.stderr.write(`simulator: ${message}\n`);
  process.exit(2);
}

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port ${values.port} is not a port`);
const latencyMs = Number(values['latency-ms']);
if (!(latencyMs >= 0)) fail(`--latency-ms ${values['latency-ms']} is not a number of milliseconds`);
let cycle: { upMs: number; downMs: number } | undefined;
if (values.outage !== undefined) {
  const m = /^(\d+)\/(\d+)$/.exec(values.outage);
  if (!m) fail(`--outage ${values.outage} is not UP/DOWN in seconds (e.g. 40/20)`);
  cycle = { upMs: Number(m[1]) * 1000, downMs: Number(m[2]) * 1000 };
}

const started = Date.now();
const down = (): boolean => cycle !== undefined && (Date.now() - started) % (cycle.upMs + cycle.downMs) >= cycle.upMs;
let wasDown = false;

const behavior = (): Behavior => {
  const now = down();
  if (now !== wasDown) process.stdout.write(`${values.name}: ${now ? 'outage: answering 503' : 'back: answering 200'}\n`);
  wasDown = now;
  return now ? { kind: 'status', status: 503 } : { kind: 'ok', chunks: 6, chunkDelayMs: 20 };
};

const fake = await startFakeOpenAI({ name: values.name, port, host: values.host, latencyMs, behavior, record: false });
process.stdout.write(`${values.name}: simulated OpenAI-compatible provider on ${values.host}:${fake.port}\n`);

const stop = (): void => {
  void fake.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

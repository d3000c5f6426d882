// The bench's upstream as its own process (so it can be pinned to a core): a fake OpenAI server that
// records nothing and answers every request at once. Usage: node bench/upstream.ts [port] [chunks]
// Prints one JSON line {"port":N} when listening; exits when stdin closes (the bench died) or on SIGTERM.
import { startFakeOpenAI } from '../tools/simulator/fake-openai.ts';

const port = Number(process.argv[2] ?? 0);
const chunks = Number(process.argv[3] ?? 20);
const sim = await startFakeOpenAI({ port, name: 'bench-upstream', record: false, behavior: { kind: 'ok', chunks } });
process.stdout.write(`${JSON.stringify({ port: sim.port })}\n`);

async function stop(): Promise<void> {
  await sim.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();

import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * The kernel's ephemeral range: ports it hands to `listen(0)` and to the local end of every outgoing
 * connection. A port from that range that was free a moment ago can be taken by any connection the suite
 * opens before the process the test starts gets to listen on it, so `freePort` stays below it.
 */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high && low > 2048) return [low, high];
  } catch {
    // Not Linux: fall through to the range most systems use.
  }
  return [49152, 65535];
}

const [ephemeralLow] = ephemeralRange();
const lowest = Math.max(1024, ephemeralLow - 12_000);
const span = ephemeralLow - lowest;
/** Ports already handed out by this process: a test may start its process after another's. */
const handedOut = new Set<number>();
let next = lowest + Math.floor(Math.random() * span);

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * A TCP port on 127.0.0.1 that nothing listens on, for a process the test starts: below the kernel's
 * ephemeral range, so no outgoing connection takes it in the meantime, and never the same one twice.
 */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < span; tried++) {
    const port = next;
    next = next + 1 >= ephemeralLow ? lowest : next + 1;
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port between ${lowest} and ${ephemeralLow - 1}`);
}

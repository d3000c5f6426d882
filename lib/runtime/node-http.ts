import { createRequire } from 'node:module';

// node:http for the gateway's ESM modules. An ESM `import … from 'node:http'` reads every export of the
// module, and three of them (WebSocket, CloseEvent, MessageEvent) are getters that load Node's own
// bundled copy of undici for fetch: 4.5 MiB of a process that never uses it. require() reads none.
const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');

export const { Agent, STATUS_CODES, createServer } = http;

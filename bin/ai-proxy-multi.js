#!/usr/bin/env node
// Entry point. In a checkout the gateway runs its TypeScript sources through Node's type stripping (no
// build step); an installed package has no sources but the JavaScript that `npm pack` compiled into
// dist/ (Node will not strip types under node_modules). This shim checks the runtime, then picks.
import { existsSync } from 'node:fs';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`ai-proxy-multi: needs Node.js >= 22.19, this is ${process.versions.node} (install Node 24 LTS, e.g. \`nvm install 24\`)\n`);
  process.exit(1);
}
const sources = new URL('./cli.ts', import.meta.url);
const { main } = existsSync(sources) ? await import(sources.href) : await import('../dist/bin/cli.js');
process.exitCode = await main(process.argv.slice(2));

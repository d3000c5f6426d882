#!/usr/bin/env node
// Entry point. The gateway is TypeScript run through Node's built-in type stripping (Node >= 22.18),
// so there is no build step; this shim only checks the runtime first.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`ai-proxy-multi: needs Node.js >= 22.19, this is ${process.versions.node} (install Node 24 LTS, e.g. \`nvm install 24\`)\n`);
  process.exit(1);
}
const { main } = await import('./cli.ts');
process.exitCode = await main(process.argv.slice(2));

import { spawnNode, waitForPortLine, killAll, peakRssMb } from '/work/main/bench/processes.ts';
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
const which = process.argv[2] ?? 'minimal';
const up = spawnNode('up', 0, ['bench/upstream.ts', '0', '20'], '/work/main');
const upPort = await waitForPortLine(up);
let target = up; let port = upPort;
if (which === 'minimal') { target = spawnNode('min', 1, ['bench/minimal-proxy.ts', `http://127.0.0.1:${upPort}`], '/work/main'); port = await waitForPortLine(target); }
const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
console.log('idle rss', rss(target.pid).toFixed(1));
const t = setInterval(() => console.log('rss', rss(target.pid).toFixed(1), 'hwm', peakRssMb(target.pid)?.toFixed(1)), 2000);
await new Promise((r) => autocannon({ url: `http://127.0.0.1:${port}/v1/chat/completions`, method: 'POST', connections: 50, duration: 16, headers: {'content-type':'application/json'}, body: JSON.stringify({model:'m', messages:[{role:'user',content:'hi'}]}) }, (e, res) => { console.log(res['2xx'] / res.duration); r(null); }));
clearInterval(t);
await new Promise((r) => setTimeout(r, 3000));
console.log('after rss', rss(target.pid).toFixed(1));
killAll();

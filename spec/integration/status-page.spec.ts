import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, instance, postJson, startGateway } from '../support/gateway-harness.ts';
import type { RedisProcess } from '../support/redis-server.ts';
import { startRedis } from '../support/redis-server.ts';

// The status page in a real headless Chromium, against two replicas sharing a real Redis and fake
// providers: it logs in, draws every instance, and follows a health check failing and a breaker
// opening within seconds. AIPM_STATUS_SCREENSHOT=docs/status-page.png saves what it shows at the end.

const CHROMIUM = '/usr/bin/chromium';
const ADMIN_KEY = 'adm-status-page-key-0123456789';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the status page in a headless browser', function () {
  this.timeout(60_000);
  let redis: RedisProcess;
  const fakes: Record<string, FakeOpenAI> = {};
  let one: TestGateway;
  let two: TestGateway;
  let context: BrowserContext;
  let page: Page;
  let profile: string;

  const prefix = `sp${Date.now()}:`;
  const config = () => ({
    server: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0, api_key: ADMIN_KEY },
    redis: { url: redis.url, key_prefix: prefix, reconcile_interval_ms: 500 },
    routes: [
      {
        id: 'chat',
        uris: ['/v1/*'],
        plugins: {
          'ai-proxy-multi': {
            breaker: { failure_threshold: 3, window_ms: 10_000, reset_timeout_ms: 60_000 },
            instances: [
              instance('openai-a', fakes['a']!.url, {
                weight: 3,
                priority: 1,
                checks: { active: { type: 'http', http_path: '/v1/models', timeout: 1, healthy: { interval: 1, successes: 1 }, unhealthy: { interval: 1, http_failures: 1 } } },
              }),
              instance('openai-b', fakes['b']!.url, { weight: 1, priority: 1, price: { input_mtok: 2.5, output_mtok: 10 } }),
              instance('backup', fakes['c']!.url, { priority: 0, options: { model: 'backup-model' }, price: { input_mtok: 3, output_mtok: 15 } }),
            ],
          },
        },
      },
    ],
  });

  const row = (name: string) => page.locator(`tr[data-instance="chat/${name}"]`);
  const cell = (name: string, field: string) => row(name).locator(`td[data-field="${field}"]`);
  /** Polls the page until `text` shows in the locator, and returns how long it took. */
  async function seen(locator: ReturnType<Page['locator']>, text: RegExp, ms: number): Promise<number> {
    const started = Date.now();
    for (;;) {
      const now = (await locator.count()) > 0 ? await locator.first().innerText() : '';
      if (text.test(now)) return Date.now() - started;
      if (Date.now() - started > ms) throw new Error(`${text} not shown within ${ms} ms (shows ${JSON.stringify(now)})`);
      await sleep(100);
    }
  }
  const chat = (gw: TestGateway, extra: Record<string, unknown> = {}) => postJson(`${gw.url}/v1/chat/completions`, chatBody(extra));

  before(async function () {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
    redis = await startRedis();
    for (const name of ['a', 'b', 'c']) fakes[name] = await startFakeOpenAI({ name, latencyMs: name === 'c' ? 40 : 15 });
    one = await startGateway(config());
    two = await startGateway(config());
    profile = mkdtempSync(join(tmpdir(), 'aipm-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1440, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = context.pages()[0] ?? (await context.newPage());
  });

  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await Promise.all([one?.close(), two?.close()]);
    await Promise.all(Object.values(fakes).map((f) => f.close()));
    await redis?.stop();
  });

  it('serves the page without data, with a policy that admits only its own script and style', async () => {
    const res = await fetch(`${one.adminUrl}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    const html = await res.text();
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|https?:\/\//, 'no external asset');
    assert.doesNotMatch(html, /openai-a|sk-/, 'the shell holds no data');
    assert.equal((await fetch(`${one.adminUrl}/status`)).status, 401, 'the data needs the key');
    assert.equal((await fetch(`${one.adminUrl}/`, { method: 'POST' })).status, 405);
  });

  it('refuses a wrong key, then shows every instance with the right one (kept out of the URL)', async () => {
    const csp: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) csp.push(m.text());
    });
    await page.goto(`${one.adminUrl}/`);
    await page.locator('#login').waitFor({ state: 'visible', timeout: 10_000 });
    await page.fill('#key', 'not-the-key');
    await page.click('#login button[type=submit]');
    await seen(page.locator('#login-error'), /refused/, 5_000);
    assert.equal(await page.locator('tr[data-instance]').count(), 0, 'no data behind a wrong key');

    await page.fill('#key', ADMIN_KEY);
    await page.click('#login button[type=submit]');
    await row('backup').waitFor({ timeout: 10_000 });
    assert.deepEqual(await page.locator('tr[data-instance]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-instance'))), [
      'chat/openai-a',
      'chat/openai-b',
      'chat/backup',
    ]);
    assert.ok(!page.url().includes(ADMIN_KEY), 'the key is not in the URL');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('aipm-admin-key')), ADMIN_KEY, 'kept for the session only');
    await seen(cell('openai-a', 'health'), /healthy/, 5_000);
    assert.match(await cell('openai-b', 'health').innerText(), /not checked/);
    assert.match(await cell('openai-a', 'share').innerText(), /weight 3 → 75%/);
    assert.match(await cell('backup', 'breaker').innerText(), /closed/);
    assert.deepEqual(csp, [], 'nothing blocked by the page\'s own policy');

    // A reload keeps the session; signing out forgets the key.
    await page.reload();
    await row('openai-a').waitFor({ timeout: 10_000 });
  });

  it('shows the last minute\'s traffic: share, latency, TTFT, tokens and both replicas\' reports', async () => {
    for (let i = 0; i < 8; i++) await chat(i % 2 === 0 ? one : two);
    await chat(one, { stream: true });
    await seen(cell('openai-a', 'ttft'), /\d+ ms/, 6_000);
    assert.match(await cell('openai-a', 'latency').innerText(), /\d+ ms/);
    assert.doesNotMatch(await cell('openai-a', 'tokens').innerText(), /^0$/);
    assert.equal(await cell('openai-a', 'in_flight').innerText(), '0');
    // Cost per minute where a price is known (openai-b, backup), a dash where it is not (openai-a).
    await seen(cell('openai-b', 'cost'), /^\$0\.\d{4}$/, 6_000);
    assert.equal(await cell('openai-a', 'cost').innerText(), '—');
    // Both replicas show in the fleet table, each with its own count for openai-a.
    await seen(page.locator('#fleet thead'), /this replica[\s\S]*replica [0-9a-f]{8}/, 8_000);
    const fleetRow = await page.locator('tr[data-fleet="chat/openai-a"]').innerText();
    assert.match(fleetRow, /\d+ req[\s\S]*\d+ req/, fleetRow);
  });

  it('follows a failing health check and an opening breaker within seconds, with the replica that saw it', async () => {
    // openai-a's probes fail: the checks (one replica probes) mark it unhealthy.
    fakes['a']!.setBehavior((req) => (req.path.endsWith('/models') ? { kind: 'status', status: 500 } : { kind: 'ok' }));
    const tookHealth = await seen(cell('openai-a', 'health'), /unhealthy/, 8_000);
    assert.match(await cell('openai-a', 'health').innerText(), /probed by (this replica|replica [0-9a-f]{8})/);

    // openai-b fails through the other replica: fallbacks to backup, then its breaker opens fleet-wide.
    fakes['b']!.setBehavior({ kind: 'status', status: 503 });
    for (let i = 0; i < 3; i++) assert.equal((await chat(two)).status, 200);
    const tookBreaker = await seen(cell('openai-b', 'breaker'), /open/, 8_000);
    const breaker = await cell('openai-b', 'breaker').innerText();
    assert.match(breaker, /until \d\d:\d\d:\d\d/);
    assert.match(breaker, /by replica [0-9a-f]{8}/, 'opened by the other replica');
    await seen(cell('openai-b', 'last_error'), /503[\s\S]*replica [0-9a-f]{8}/, 8_000);
    await seen(page.locator('#events'), /breaker opened[\s\S]*/, 5_000);
    const events = await page.locator('#events').innerText();
    assert.match(events, /fallback/);
    assert.match(events, /openai-b → backup after 503/);
    assert.match(events, /unhealthy/);
    assert.ok(tookHealth < 8_000 && tookBreaker < 8_000);

    if (process.env['AIPM_STATUS_SCREENSHOT']) {
      await chat(one, { stream: true });
      await sleep(2500);
      await page.screenshot({ path: process.env['AIPM_STATUS_SCREENSHOT'], fullPage: true });
    }
  });

  it('signs out and asks for the key again', async () => {
    await page.click('#logout');
    await page.locator('#login').waitFor({ state: 'visible' });
    assert.equal(await page.evaluate(() => sessionStorage.getItem('aipm-admin-key')), null);
    assert.equal(await page.locator('tr[data-instance]').count(), 0);
  });
});

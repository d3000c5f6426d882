import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkConfigText, loadConfigFile, loadConfigText } from '../../lib/load-config.ts';
import { ConfigError } from '../../lib/errors.ts';

const fixture = fileURLToPath(new URL('../fixtures/config/apisix-style.json', import.meta.url));
const env = { AIPM_ADMIN_KEY: 'admin-secret', OPENAI_KEY_A: 'sk-a', DEEPSEEK_KEY: 'sk-d', AZURE_KEY: 'az' };

describe('config loading', () => {
  it('loads an APISIX-style config with ai-proxy-multi and ai-proxy routes', () => {
    const config = loadConfigFile(fixture, env);
    assert.deepEqual(config.admin, { host: '127.0.0.1', port: 9180, api_key: 'admin-secret' });
    assert.deepEqual(config.redis, { url: 'redis://127.0.0.1:6379/0', key_prefix: 'aipm:' });
    assert.deepEqual(config.routes.map((r) => [r.id, r.plugin.kind, r.plugin.instances.map((i) => i.name)]), [
      ['chat', 'ai-proxy-multi', ['openai-a', 'deepseek']],
      ['azure-and-local', 'ai-proxy-multi', ['azure-eu', 'vllm']],
      ['embeddings', 'ai-proxy', ['openai']],
    ]);
    const [chat, azure] = config.routes;
    assert.deepEqual(chat?.plugin.instances[0]?.auth.header, { Authorization: 'Bearer sk-a' });
    assert.deepEqual(azure?.prefixes, ['/azure/']);
    assert.deepEqual(azure?.hosts, ['llm.example.com']);
    assert.equal(azure?.plugin.fallback.rateLimitAware, true);
    assert.equal(azure?.plugin.instances[1]?.override.endpoint?.url.href, 'http://127.0.0.1:8000/');
    assert.equal(azure?.plugin.instances[1]?.breaker.failure_threshold, 3);
    assert.equal(azure?.plugin.instances[1]?.breaker.reset_timeout_ms, 5000);
  });

  it('names every missing variable of the file in one CONFIG_ENV_MISSING error', () => {
    const err = catchError(() => loadConfigFile(fixture, { OPENAI_KEY_A: 'sk-a' }));
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'CONFIG_ENV_MISSING');
    assert.deepEqual(
      err.problems.map((p) => p.message),
      ['AIPM_ADMIN_KEY', 'DEEPSEEK_KEY', 'AZURE_KEY'].map((name) => `environment variable ${name} is not set`),
    );
  });

  it('refuses an unreadable file with CONFIG_READ and the file name', () => {
    const err = catchError(() => loadConfigFile('/nonexistent/config.json', env));
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'CONFIG_READ');
    assert.match(err.message, /cannot read \/nonexistent\/config\.json \(ENOENT\)/);
  });

  it('points at the line and column of a JSON syntax error', () => {
    const trailingComma = '{\n  "routes": [\n    {"id": "a",}\n  ]\n}';
    assert.deepEqual(checkConfigText(trailingComma, {}).problems, [
      { path: '', message: 'invalid JSON at line 3 column 16: Expected double-quoted property name' },
    ]);
    const badLiteral = '{\n  "routes": [\n    {"id": tru}\n  ]\n}';
    assert.deepEqual(checkConfigText(badLiteral, {}).problems, [
      { path: '', message: "invalid JSON at line 3 column 15: Unexpected token '}'" },
    ]);
  });

  it('never echoes file contents (which may hold keys) in a JSON syntax error', () => {
    const err = catchError(() => loadConfigText('{"admin": {"api_key": "sk-live-123"} x}', {}));
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'CONFIG_INVALID');
    assert.doesNotMatch(err.message, /sk-live-123/);
  });

  it('accepts a file saved with a byte order mark', () => {
    const text = `\uFEFF${readFileSync(fixture, 'utf8')}`;
    assert.equal(loadConfigText(text, env).routes.length, 3);
  });

  it('throws CONFIG_INVALID carrying every problem, each with its path in the message', () => {
    const text = JSON.stringify({ routes: [{ id: 'r', uri: '/x', plugins: { 'ai-proxy': { provider: 'openai', timeout: 0, keepalive_pool: 0 } } }] });
    const err = catchError(() => loadConfigText(text, {}));
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'CONFIG_INVALID');
    assert.equal(err.problems.length, 2);
    assert.match(err.message, /\/routes\/0\/plugins\/ai-proxy\/timeout: must be >= 1/);
    assert.match(err.message, /\/routes\/0\/plugins\/ai-proxy\/keepalive_pool: must be >= 1/);
  });

  it('validates after substitution, so a variable holding a bad URL is caught', () => {
    const text = JSON.stringify({
      routes: [{ id: 'r', uri: '/x', plugins: { 'ai-proxy': { provider: 'openai-compatible', override: { endpoint: '${LLM_URL}' } } } }],
    });
    assert.deepEqual(checkConfigText(text, { LLM_URL: 'localhost:8000' }).problems, [
      { path: '/routes/0/plugins/ai-proxy/override/endpoint', message: 'must be an http:// or https:// URL' },
    ]);
    assert.equal(checkConfigText(text, { LLM_URL: 'http://localhost:8000' }).config?.routes[0]?.plugin.instances[0]?.name, 'openai-compatible');
  });

  it('gives the validate command problems instead of an exception, and the config when valid', () => {
    const bad = checkConfigText('{"routes": []}', {});
    assert.deepEqual(bad, { problems: [{ path: '/routes', message: 'must NOT have fewer than 1 items' }], missing: [] });
    const good = checkConfigText(readFileSync(fixture, 'utf8'), env);
    assert.deepEqual(good.problems, []);
    assert.equal(good.config?.log.level, 'warn');
  });
});

describe('checking a config with unset variables', () => {
  const text = JSON.stringify({
    admin: { api_key: '${ADMIN_KEY}' },
    routes: [{ id: 'r', uri: '/v1/*', plugins: { 'ai-proxy': { provider: 'openai', timeout: 0, auth: { header: { Authorization: 'Bearer ${OPENAI_KEY}' } } } } }],
  });

  it('reports each unset variable at its path and still validates the rest', () => {
    const { problems, missing } = checkConfigText(text, {});
    assert.deepEqual(missing.map((m) => m.name), ['ADMIN_KEY', 'OPENAI_KEY']);
    const paths = problems.map((p) => p.path);
    assert.ok(paths.includes('/admin/api_key'));
    assert.ok(paths.includes('/routes/0/plugins/ai-proxy/auth/header/Authorization'));
    assert.ok(paths.includes('/routes/0/plugins/ai-proxy/timeout'), JSON.stringify(problems));
  });

  it('with allowMissingEnv, substitutes a placeholder and gives the config when the rest is valid', () => {
    const valid = text.replace('"timeout":0,', '');
    const { problems, config, missing } = checkConfigText(valid, {}, { allowMissingEnv: true });
    assert.deepEqual(problems, []);
    assert.equal(missing.length, 2);
    assert.ok(config);
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.fail('expected an error');
}

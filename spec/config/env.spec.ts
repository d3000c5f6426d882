import assert from 'node:assert/strict';
import { ConfigError } from '../../lib/errors.ts';
import { substituteEnv, substituteEnvInValue } from '../../lib/config/env.ts';

describe('config env substitution', () => {
  it('replaces ${VAR} inside a string value, several per string', () => {
    const out = substituteEnvInValue({ auth: 'Bearer ${KEY}', url: 'https://${HOST}:${PORT}/v1' }, {
      KEY: 'sk-123',
      HOST: 'llm.local',
      PORT: '8443',
    });
    assert.deepEqual(out, { auth: 'Bearer sk-123', url: 'https://llm.local:8443/v1' });
  });

  it('uses the default of ${VAR:-default} when the variable is unset or empty, and the value when set', () => {
    const value = { a: '${UNSET:-fallback}', b: '${EMPTY:-fallback}', c: '${SET:-fallback}' };
    assert.deepEqual(substituteEnvInValue(value, { EMPTY: '', SET: 'real' }), { a: 'fallback', b: 'fallback', c: 'real' });
  });

  it('accepts an empty default and a set-but-empty variable without default', () => {
    assert.deepEqual(substituteEnvInValue({ a: '${UNSET:-}', b: 'x${EMPTY}y' }, { EMPTY: '' }), { a: '', b: 'xy' });
  });

  it('keeps a secret containing quotes and backslashes intact in the JSON text', () => {
    const secret = 'p"a\\s}s\nword';
    const text = substituteEnv('{"admin": {"api_key": "${SECRET}"}}', { SECRET: secret });
    assert.deepEqual(JSON.parse(text), { admin: { api_key: secret } });
  });

  it('turns $${ into a literal ${ and leaves keys, numbers and booleans alone', () => {
    const out = substituteEnvInValue({ '${KEY}': '$${NOT_A_VAR}', n: 3, b: true, z: null, list: ['${KEY}'] }, { KEY: 'k' });
    assert.deepEqual(out, { '${KEY}': '${NOT_A_VAR}', n: 3, b: true, z: null, list: ['k'] });
  });

  it('names every missing variable with the JSON path that needs it', () => {
    const value = {
      admin: { api_key: '${AIPM_ADMIN_KEY}' },
      routes: [{ plugins: { 'ai-proxy-multi': { instances: [{ auth: { header: { Authorization: 'Bearer ${OPENAI_KEY} ${DEEPSEEK_KEY}' } } }] } } }],
    };
    const err = catchError(() => substituteEnvInValue(value, { OPENAI_KEY: 'set' }));
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'CONFIG_ENV_MISSING');
    assert.deepEqual(err.problems, [
      { path: '/admin/api_key', message: 'environment variable AIPM_ADMIN_KEY is not set' },
      {
        path: '/routes/0/plugins/ai-proxy-multi/instances/0/auth/header/Authorization',
        message: 'environment variable DEEPSEEK_KEY is not set',
      },
    ]);
    assert.match(err.message, /AIPM_ADMIN_KEY/);
    assert.match(err.message, /DEEPSEEK_KEY/);
  });

  it('refuses a malformed reference instead of sending it literally to a provider', () => {
    const err = catchError(() => substituteEnvInValue({ key: 'Bearer ${OPENAI-KEY}' }, { 'OPENAI-KEY': 'x' }));
    assert.ok(err instanceof ConfigError);
    assert.equal(err.problems[0]?.path, '/key');
    assert.match(err.problems[0]?.message ?? '', /malformed reference \$\{OPENAI-KEY\}/);
  });

  it('escapes "/" and "~" of keys in the reported path', () => {
    const err = catchError(() => substituteEnvInValue({ 'a/b': { 'c~d': '${NOPE}' } }, {}));
    assert.ok(err instanceof ConfigError);
    assert.equal(err.problems[0]?.path, '/a~1b/c~0d');
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

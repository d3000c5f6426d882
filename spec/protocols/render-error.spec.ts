import assert from 'node:assert/strict';
import { AllAttemptsFailedError, GatewayError, NoInstanceAvailableError, UpstreamTimeoutError } from '../../lib/errors.ts';
import { renderError } from '../../lib/protocols/render-error.ts';

const json = (body: string): unknown => JSON.parse(body);

const allFailed = () =>
  new AllAttemptsFailedError(
    429,
    [
      { instance: 'openai-a', status: 429, reason: 'HTTP 429: Rate limit reached' },
      { instance: 'deepseek', status: 429, reason: 'HTTP 429' },
    ],
    { 'retry-after': '3' },
  );

describe('renderError', () => {
  describe('OpenAI shape', () => {
    it('renders {"error":{message,type,param,code}} with the status and a JSON content type', () => {
      const out = renderError('openai', new GatewayError('INVALID_JSON', 400, 'request body is not valid JSON'));
      assert.equal(out.status, 400);
      assert.deepEqual(out.headers, { 'content-type': 'application/json' });
      assert.deepEqual(json(out.body), {
        error: { message: 'request body is not valid JSON', type: 'invalid_request_error', param: null, code: 'invalid_json' },
      });
    });

    const types: Array<[number, string]> = [
      [401, 'authentication_error'],
      [403, 'permission_error'],
      [404, 'invalid_request_error'],
      [413, 'invalid_request_error'],
      [429, 'rate_limit_error'],
      [500, 'server_error'],
      [503, 'server_error'],
      [504, 'server_error'],
    ];
    for (const [status, type] of types) {
      it(`gives a ${status} the type ${type}`, () => {
        const out = renderError('openai', new GatewayError('UPSTREAM_STATUS', status, 'x'));
        assert.equal((json(out.body) as { error: { type: string } }).error.type, type);
      });
    }
  });

  describe('Anthropic shape', () => {
    const types: Array<[GatewayError, number, string]> = [
      [new GatewayError('INVALID_JSON', 400, 'bad json'), 400, 'invalid_request_error'],
      [new GatewayError('ROUTE_NOT_FOUND', 404, 'no route'), 404, 'not_found_error'],
      [new GatewayError('BODY_TOO_LARGE', 413, 'too large'), 413, 'request_too_large'],
      [new GatewayError('UPSTREAM_STATUS', 429, 'slow down'), 429, 'rate_limit_error'],
      [new GatewayError('INTERNAL_ERROR', 500, 'internal gateway error'), 500, 'api_error'],
      [new NoInstanceAvailableError('every instance is open'), 503, 'overloaded_error'],
      [new UpstreamTimeoutError('claude-a', 30_000), 504, 'timeout_error'],
    ];
    for (const [err, status, type] of types) {
      it(`renders ${err.code} as {"type":"error","error":{"type":"${type}",message}} with status ${status}`, () => {
        const out = renderError('anthropic', err);
        assert.equal(out.status, status);
        assert.deepEqual(json(out.body), { type: 'error', error: { type, message: err.message } });
      });
    }
  });

  describe('Bedrock shape', () => {
    const types: Array<[GatewayError, string]> = [
      [new GatewayError('INVALID_JSON', 400, 'bad json'), 'ValidationException'],
      [new GatewayError('UPSTREAM_STATUS', 403, 'denied'), 'AccessDeniedException'],
      [new GatewayError('ROUTE_NOT_FOUND', 404, 'no route'), 'ResourceNotFoundException'],
      [new GatewayError('UPSTREAM_STATUS', 429, 'slow down'), 'ThrottlingException'],
      [new GatewayError('INTERNAL_ERROR', 500, 'internal gateway error'), 'InternalServerException'],
      [new NoInstanceAvailableError('every instance is open'), 'ServiceUnavailableException'],
      [new UpstreamTimeoutError('nova', 30_000), 'ModelTimeoutException'],
    ];
    for (const [err, errorType] of types) {
      it(`renders a ${err.status} as {message} with x-amzn-errortype ${errorType}`, () => {
        const out = renderError('bedrock', err);
        assert.equal(out.status, err.status);
        assert.equal(out.headers['x-amzn-errortype'], errorType);
        assert.deepEqual(json(out.body), { message: err.message });
      });
    }
  });

  describe('all attempts failed', () => {
    const attempts = [
      { instance: 'openai-a', status: 429, reason: 'HTTP 429: Rate limit reached' },
      { instance: 'deepseek', status: 429, reason: 'HTTP 429' },
    ];

    it('lists the attempts inside the OpenAI error and keeps Retry-After', () => {
      const out = renderError('openai', allFailed());
      assert.equal(out.status, 429);
      assert.equal(out.headers['retry-after'], '3');
      assert.deepEqual(json(out.body), {
        error: { message: allFailed().message, type: 'rate_limit_error', param: null, code: 'all_attempts_failed', attempts },
      });
    });

    it('lists the attempts inside the Anthropic error and keeps Retry-After', () => {
      const out = renderError('anthropic', allFailed());
      assert.equal(out.headers['retry-after'], '3');
      assert.deepEqual(json(out.body), { type: 'error', error: { type: 'rate_limit_error', message: allFailed().message, attempts } });
    });

    it('lists the attempts next to the Bedrock message and keeps Retry-After', () => {
      const out = renderError('bedrock', allFailed());
      assert.deepEqual(out.headers, { 'content-type': 'application/json', 'retry-after': '3', 'x-amzn-errortype': 'ThrottlingException' });
      assert.deepEqual(json(out.body), { message: allFailed().message, attempts });
    });

    it('names each instance and its status in the message too', () => {
      assert.match(allFailed().message, /openai-a: 429 .*deepseek: 429/);
    });
  });

  it("keeps the error's own headers such as Retry-After and Allow", () => {
    assert.equal(renderError('openai', new NoInstanceAvailableError('all open', 30)).headers['retry-after'], '30');
    const notAllowed = new GatewayError('METHOD_NOT_ALLOWED', 405, 'method GET is not allowed', { headers: { allow: 'POST' } });
    assert.deepEqual(renderError('anthropic', notAllowed).headers, { 'content-type': 'application/json', allow: 'POST' });
  });

  it('adds no attempts field to other errors', () => {
    for (const shape of ['openai', 'anthropic', 'bedrock'] as const) {
      assert.ok(!renderError(shape, new GatewayError('INTERNAL_ERROR', 500, 'x')).body.includes('attempts'), shape);
    }
  });
});

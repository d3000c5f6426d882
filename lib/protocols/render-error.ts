import type { ErrorKind, GatewayError } from '../errors.ts';
import { AllAttemptsFailedError } from '../errors.ts';
import type { ErrorShape } from './client-protocol.ts';
import { googleErrorBody } from './google-error.ts';

// The one place that turns any gateway error into the client protocol's error body.
// Shapes and type tables: docs/protocols.md#error-bodies.

const openaiType: Record<ErrorKind, string> = {
  invalid_request: 'invalid_request_error',
  not_found: 'invalid_request_error',
  rate_limit: 'rate_limit_error',
  server: 'server_error',
  overloaded: 'server_error',
  timeout: 'server_error',
  authentication: 'authentication_error',
  permission: 'permission_error',
  too_large: 'invalid_request_error',
};

const anthropicType: Record<ErrorKind, string> = {
  invalid_request: 'invalid_request_error',
  not_found: 'not_found_error',
  rate_limit: 'rate_limit_error',
  server: 'api_error',
  overloaded: 'overloaded_error',
  timeout: 'timeout_error',
  authentication: 'authentication_error',
  permission: 'permission_error',
  too_large: 'request_too_large',
};

const bedrockType: Record<ErrorKind, string> = {
  invalid_request: 'ValidationException',
  not_found: 'ResourceNotFoundException',
  rate_limit: 'ThrottlingException',
  server: 'InternalServerException',
  overloaded: 'ServiceUnavailableException',
  timeout: 'ModelTimeoutException',
  authentication: 'AccessDeniedException',
  permission: 'AccessDeniedException',
  too_large: 'ValidationException',
};

export interface RenderedError {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function renderError(shape: ErrorShape, err: GatewayError): RenderedError {
  const attempts = err instanceof AllAttemptsFailedError ? err.attempts : undefined;
  const code = err.code.toLowerCase();
  const headers: Record<string, string> = { 'content-type': 'application/json', ...err.headers };
  let body: unknown;
  switch (shape) {
    case 'anthropic':
      body = { type: 'error', error: { type: anthropicType[err.kind], message: err.message, ...(attempts && { attempts }) } };
      break;
    case 'bedrock':
      headers['x-amzn-errortype'] = bedrockType[err.kind];
      body = { message: err.message, ...(attempts && { attempts }) };
      break;
    case 'google':
      body = googleErrorBody(err.status, err.message, attempts && { attempts });
      break;
    default:
      body = { error: { message: err.message, type: openaiType[err.kind], param: null, code, ...(attempts && { attempts }) } };
  }
  return { status: err.status, headers, body: JSON.stringify(body) };
}

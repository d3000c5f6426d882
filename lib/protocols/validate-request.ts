import { Ajv } from 'ajv';
import type { ErrorObject, SchemaObject, ValidateFunction } from 'ajv';
import { GatewayError } from '../errors.ts';
import { clientProtocols } from './registry.ts';
import type { JsonObject, ProtocolName } from './types.ts';

// Each client protocol's request schema, compiled once at module load: a request body is checked
// before any converter, balancer or provider sees it, so a body the gateway does not understand is
// answered 400 in the client's own error shape and never reaches an upstream with our key.

// allErrors off: the first problem is enough for the client, and it bounds the work on a hostile body.
const ajv = new Ajv({ allErrors: false, strictTypes: true, allowUnionTypes: true });

const validators = new Map<ProtocolName, ValidateFunction>();
for (const protocol of Object.values(clientProtocols)) {
  if (protocol.requestSchema) validators.set(protocol.name, ajv.compile(protocol.requestSchema as SchemaObject));
}

/** JSON pointer → `messages[0].content`, the way OpenAI names a field in its own errors. */
function fieldPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(key) ? `[${key}]` : /^[A-Za-z_$][\w$]*$/.test(key) ? `${out ? '.' : ''}${key}` : `[${JSON.stringify(key)}]`;
  }
  return out;
}

function describe(error: ErrorObject): string {
  const at = fieldPath(error.instancePath);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return `${at ? `${at}.` : ''}${String(params['missingProperty'])} is required`;
    case 'type':
      return `${at || 'the body'} must be ${String(params['type']).split(',').join(' or ')}`;
    case 'enum':
      return `${at} must be one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${at || 'the body'} ${error.message ?? 'is invalid'}`;
  }
}

/** Throws a 400 GatewayError naming the first field of `body` that `protocol`'s schema refuses. */
export function validateRequestBody(protocol: ProtocolName, body: JsonObject): void {
  const validate = validators.get(protocol);
  if (!validate || validate(body)) return;
  const first = validate.errors?.[0];
  const problem = first ? describe(first) : 'does not match the request schema';
  throw new GatewayError('INVALID_REQUEST_BODY', 400, `invalid ${protocol} request: ${problem}`);
}

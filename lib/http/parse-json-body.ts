import { isUtf8 } from 'node:buffer';
import { GatewayError } from '../errors.ts';

// A request body is parsed and bounded here, once, before anything else reads it. JSON.parse itself
// copes with any nesting, but JSON.stringify and every recursive reader after it do not: a body
// nested 10,000 levels deep must be refused here rather than blow the stack later.

export interface JsonLimits {
  /** `server.max_json_depth`: the outermost object or array is level 1. */
  maxDepth: number;
  /** `server.max_json_array_length`. */
  maxArrayLength: number;
}

// Invalid UTF-8 is an error, not silently replaced by U+FFFD and forwarded (isUtf8 checks natively,
// then the usual decode). A BOM is kept, so JSON.parse refuses it (RFC 8259 8.1).
// Valid UTF-8 cannot carry a surrogate, so one can only come from a `\uD800`-`\uDFFF` escape.
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
// Every escape, in order: matching them left to right keeps `\\ud800` (an escaped backslash) apart.
const ESCAPES = /\\(?:u([0-9a-fA-F]{4})|[^u])/g;

function invalid(message: string): GatewayError {
  return new GatewayError('INVALID_JSON', 400, message);
}

/** A lone surrogate cannot be re-encoded as UTF-8: JSON.stringify would send `\ud800` upstream as is. */
function hasLoneSurrogate(text: string): boolean {
  let highEnd = -1; // where a high surrogate escape waiting for its pair ended
  for (const match of text.matchAll(ESCAPES)) {
    const hex = match[1];
    const unit = hex === undefined ? -1 : Number.parseInt(hex, 16);
    const low = unit >= 0xdc00 && unit <= 0xdfff;
    if (highEnd !== -1) {
      if (!low || match.index !== highEnd) return true;
      highEnd = -1;
    } else if (unit >= 0xd800 && unit <= 0xdbff) {
      highEnd = match.index + match[0].length;
    } else if (low) {
      return true;
    }
  }
  return highEnd !== -1;
}

function tooDeep(limits: JsonLimits): GatewayError {
  return new GatewayError(
    'JSON_LIMIT_EXCEEDED',
    400,
    `request body is nested deeper than ${limits.maxDepth} levels (server.max_json_depth)`,
  );
}

/** One iterative walk over objects and arrays only (no recursion a deep body could overflow). */
export function checkJsonBounds(value: unknown, limits: JsonLimits): void {
  if (typeof value !== 'object' || value === null) return;
  if (limits.maxDepth < 1) throw tooDeep(limits);
  const nodes: object[] = [value];
  const depths: number[] = [1];
  for (let node = nodes.pop(); node !== undefined; node = nodes.pop()) {
    const next = (depths.pop() ?? 1) + 1;
    const children: unknown[] = Array.isArray(node) ? node : Object.values(node);
    if (Array.isArray(node) && node.length > limits.maxArrayLength) {
      throw new GatewayError(
        'JSON_LIMIT_EXCEEDED',
        400,
        `an array in the request body has ${node.length} elements, more than ${limits.maxArrayLength} (server.max_json_array_length)`,
      );
    }
    for (const child of children) {
      if (typeof child !== 'object' || child === null) continue;
      if (next > limits.maxDepth) throw tooDeep(limits);
      nodes.push(child);
      depths.push(next);
    }
  }
}

/** UTF-8 bytes → a JSON value within `limits`; throws a 400 GatewayError naming what was wrong. */
export function parseJsonBody(raw: Buffer, limits: JsonLimits): unknown {
  if (!isUtf8(raw)) throw invalid('request body is not valid UTF-8');
  const text = raw.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalid(`request body is not valid JSON: ${(err as Error).message}`);
  }
  if (SURROGATE_ESCAPE.test(text) && hasLoneSurrogate(text)) {
    throw invalid('request body contains a lone UTF-16 surrogate escape (\\uD800-\\uDFFF without its pair)');
  }
  checkJsonBounds(value, limits);
  return value;
}

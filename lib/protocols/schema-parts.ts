// Building blocks of the client protocols' request schemas (JSON Schema draft-07, compiled once by
// lib/protocols/validate-request.ts). Strict on the types the gateway reads; every object admits
// fields it does not name, because providers add request fields faster than any gateway.

export type JsonSchema = { readonly [keyword: string]: unknown };

type JsonType = 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array' | 'null';

export const string: JsonSchema = { type: 'string' };
export const number: JsonSchema = { type: 'number' };
export const integer: JsonSchema = { type: 'integer' };
export const boolean: JsonSchema = { type: 'boolean' };
export const object: JsonSchema = { type: 'object' };
// Token counts are 32-bit integers at every provider (Bedrock's `maxTokens` is an Integer); beyond 2^53
// a JSON number is not even exact in JavaScript, so re-encoding it would send another value.
export const positiveInt: JsonSchema = { type: 'integer', minimum: 1, maximum: 2 ** 31 - 1 };
export const strings: JsonSchema = { type: 'array', items: string };

/** The same schema, also accepting `null` (OpenAI's API takes `null` for most optional fields). */
export function nullable(schema: JsonSchema): JsonSchema {
  const type = schema['type'];
  return { ...schema, type: [...(Array.isArray(type) ? (type as JsonType[]) : [type as JsonType]), 'null'] };
}

/** An array whose items are objects, each checked against `item` when given. */
export function objects(item: JsonSchema = object, more: JsonSchema = {}): JsonSchema {
  return { type: 'array', items: item, ...more };
}

/** An object with typed `properties` and the `required` ones; other fields pass. */
export function shape(properties: Record<string, JsonSchema>, required: readonly string[] = []): JsonSchema {
  return required.length > 0 ? { type: 'object', required, properties } : { type: 'object', properties };
}

/** A value of one of `types`; `more` applies to the matching type only (`items` to arrays...). */
export function oneOfTypes(types: readonly JsonType[], more: JsonSchema = {}): JsonSchema {
  return { type: [...types], ...more };
}

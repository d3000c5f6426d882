import type { JsonObject } from '../types.ts';
import { asObject } from './json-narrowing.ts';

// Gemini's `Schema` (an OpenAPI 3.0 subset: `type: "OBJECT"`, `nullable`, `propertyOrdering`) → JSON
// Schema for providers that take tool parameters and response schemas as JSON Schema. Gemini's newer
// `parametersJsonSchema` / `responseJsonSchema` fields are JSON Schema already and need none of this.

const NESTED_MAPS = new Set(['properties', '$defs', 'definitions']);
const NESTED_LISTS = new Set(['anyOf', 'oneOf', 'allOf', 'prefixItems']);

export function geminiSchemaToJsonSchema(schema: unknown): JsonObject {
  const s = asObject(schema);
  if (!s) return {};
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(s)) {
    if (key === 'propertyOrdering' || key === 'nullable') continue;
    if (key === 'type' && typeof value === 'string') out['type'] = value.toLowerCase();
    else if (key === 'items' || key === 'additionalProperties') out[key] = asObject(value) ? geminiSchemaToJsonSchema(value) : value;
    else if (NESTED_MAPS.has(key) && asObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value as JsonObject).map(([k, v]) => [k, geminiSchemaToJsonSchema(v)]));
    } else if (NESTED_LISTS.has(key) && Array.isArray(value)) out[key] = value.map((v) => geminiSchemaToJsonSchema(v));
    else out[key] = value;
  }
  if (s['nullable'] === true && typeof out['type'] === 'string') out['type'] = [out['type'], 'null'];
  return out;
}

// Narrowing for the untyped JSON the converters read: everything is `unknown` until checked here.
import type { JsonObject } from '../types.ts';
import { isJsonObject } from '../types.ts';

export function asObject(x: unknown): JsonObject | undefined {
  return isJsonObject(x) ? x : undefined;
}

/** A list, or empty for anything else (absent fields read as "none"). */
export function asArray(x: unknown): readonly unknown[] {
  return Array.isArray(x) ? x : [];
}

export function asString(x: unknown): string | undefined {
  return typeof x === 'string' ? x : undefined;
}

/** A token count: a finite number, else 0. */
export function count(x: unknown): number {
  return typeof x === 'number' && Number.isFinite(x) ? x : 0;
}

export { parseJsonObject } from '../types.ts';

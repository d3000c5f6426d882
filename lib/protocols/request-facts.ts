import { isJsonObject } from './types.ts';

// Small readers the protocol descriptors share for the access log's request and answer facts
// (tools offered, tool calls answered, end user): each descriptor says where its protocol keeps them.

/** Length of the array at `path`, or undefined when there is none. */
export function arrayLength(body: unknown, ...path: string[]): number | undefined {
  const value = at(body, path);
  return Array.isArray(value) ? value.length : undefined;
}

/** The non-empty string at `path`, or undefined. */
export function stringAt(body: unknown, ...path: string[]): string | undefined {
  const value = at(body, path);
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** True when the array at `path` holds an object for which `test` holds. */
export function someObject(body: unknown, path: string[], test: (item: Record<string, unknown>) => boolean): boolean {
  const value = at(body, path);
  return Array.isArray(value) && value.some((item) => isJsonObject(item) && test(item));
}

function at(body: unknown, path: string[]): unknown {
  let value = body;
  for (const key of path) value = isJsonObject(value) ? value[key] : undefined;
  return value;
}

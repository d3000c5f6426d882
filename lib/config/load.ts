// File → GatewayConfig: read, parse, substitute env, validate, normalise, freeze. Every stage reports
// all of its problems at once; a later stage runs only on what the earlier one accepted.
import { readFileSync } from 'node:fs';
import { causeCode, ConfigError } from '../errors.ts';
import type { ConfigProblem } from '../errors.ts';
import { substituteEnvCollect, substituteEnvInValue } from './env.ts';
import { normaliseConfig } from './normalise.ts';
import type { ProviderCatalog } from './catalog.ts';
import type { GatewayConfig } from './types.ts';
import { validateConfig } from './validate.ts';

/** Throws ConfigError: CONFIG_READ, CONFIG_INVALID (bad JSON or bad config) or CONFIG_ENV_MISSING. */
export function loadConfigFile(file: string, catalog: ProviderCatalog, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('CONFIG_READ', [{ path: '', message: `cannot read ${file} (${causeCode(err)})` }], err);
  }
  return loadConfigText(text, catalog, env);
}

export function loadConfigText(text: string, catalog: ProviderCatalog, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const raw = substituteEnvInValue(parseConfigJson(text), env);
  const problems = validateConfig(raw, catalog);
  if (problems.length > 0) throw new ConfigError('CONFIG_INVALID', problems);
  return normaliseConfig(raw);
}

export interface ConfigCheck {
  problems: ConfigProblem[];
  /** Set when there are no problems. */
  config?: GatewayConfig;
  /** Unset variables (with `allowMissingEnv` they are not problems). */
  missing: Array<{ name: string; path: string }>;
}

/**
 * For `ai-proxy-multi validate`: every problem at once instead of an exception. Unset variables do not
 * stop the check: the rest of the file is still validated, and a value that could not be substituted is
 * not judged again (its variable is the problem).
 */
export function checkConfigText(
  text: string,
  catalog: ProviderCatalog,
  env: NodeJS.ProcessEnv = process.env,
  options: { allowMissingEnv?: boolean } = {},
): ConfigCheck {
  let parsed: unknown;
  try {
    parsed = parseConfigJson(text);
  } catch (err) {
    if (err instanceof ConfigError) return { problems: [...err.problems], missing: [] };
    throw err;
  }
  const substituted = substituteEnvCollect(parsed, env, options.allowMissingEnv === true);
  const unjudged = new Set(substituted.missing.map((m) => m.path));
  const problems = [
    ...substituted.problems,
    ...validateConfig(substituted.value, catalog).filter((p) => !unjudged.has(p.path)),
  ];
  if (problems.length > 0) return { problems, missing: substituted.missing };
  return { problems, config: normaliseConfig(substituted.value), missing: substituted.missing };
}

/** JSON.parse with the mistake's line and column; the parser's excerpt is dropped as it may hold secrets. */
export function parseConfigJson(text: string): unknown {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  try {
    return JSON.parse(body);
  } catch (err) {
    const reason = String((err as Error).message)
      .replace(/, (\.\.\.)?".*" is not valid JSON$/s, '')
      .replace(/ in JSON at position \d+.*$/s, '');
    const { line, column } = lineAndColumn(body, syntaxErrorOffset(body, err));
    const message = `invalid JSON at line ${line} column ${column}: ${reason}`;
    throw new ConfigError('CONFIG_INVALID', [{ path: '', message }], err);
  }
}

// V8 gives a position for most syntax errors but not for "Unexpected token"; for those, find the
// longest prefix that is still a valid beginning of a JSON text: the error starts right after it.
function syntaxErrorOffset(text: string, err: unknown): number {
  const given = positionIn(err);
  if (given !== undefined) return given;
  let good = 0;
  let bad = text.length;
  while (bad - good > 1) {
    const mid = (good + bad) >>> 1;
    if (isValidPrefix(text.slice(0, mid))) good = mid;
    else bad = mid;
  }
  return good;
}

function positionIn(err: unknown): number | undefined {
  const match = /at position (\d+)/.exec(String((err as Error | undefined)?.message));
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

function isValidPrefix(prefix: string): boolean {
  try {
    JSON.parse(prefix);
    return true;
  } catch (err) {
    const position = positionIn(err);
    return position === undefined ? /Unexpected end/.test(String((err as Error).message)) : position >= prefix.length;
  }
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const lines = before.split(/\r\n|\r|\n/);
  return { line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 };
}

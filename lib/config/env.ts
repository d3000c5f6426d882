// `${VAR}` / `${VAR:-default}` in config strings, resolved from the environment. Substitution walks
// the parsed JSON rather than the text, so a secret holding `"` or `\` cannot break the file, and a
// missing variable is reported at the JSON path that needs it.
import { ConfigError } from '../errors.ts';
import type { ConfigProblem } from '../errors.ts';

// `$${` is an escaped, literal `${`; anything else inside `${...}` must be NAME or NAME:-default.
const REFERENCE = /\$\$\{|\$\{([^}]*)\}/g;
const NAME_AND_DEFAULT = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

/**
 * Returns a copy of `value` (parsed JSON) with every string's references replaced. Object keys are left
 * alone. Throws ConfigError CONFIG_ENV_MISSING naming every unset variable and malformed reference.
 */
export function substituteEnvInValue(value: unknown, env: NodeJS.ProcessEnv): unknown {
  const { value: result, problems } = substituteEnvCollect(value, env);
  if (problems.length > 0) throw new ConfigError('CONFIG_ENV_MISSING', problems);
  return result;
}

export interface Substitution {
  value: unknown;
  /** Malformed references, and unset variables unless they were replaced by a placeholder. */
  problems: ConfigProblem[];
  /** Every unset variable, with the JSON path that uses it. */
  missing: Array<{ name: string; path: string }>;
}

/**
 * Substitutes what is set and reports the rest instead of throwing, so `validate` can still check the
 * remainder. With `placeholder`, an unset variable becomes a non-empty stand-in and is not a problem.
 */
export function substituteEnvCollect(value: unknown, env: NodeJS.ProcessEnv, placeholder = false): Substitution {
  const state: WalkState = { env, problems: [], missing: [], placeholder };
  return { value: walk(value, '', state), problems: state.problems, missing: state.missing };
}

interface WalkState {
  env: NodeJS.ProcessEnv;
  problems: ConfigProblem[];
  missing: Array<{ name: string; path: string }>;
  placeholder: boolean;
}

/** JSON text in, JSON text out (2-space indented). Invalid JSON throws the parser's SyntaxError. */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv): string {
  return JSON.stringify(substituteEnvInValue(JSON.parse(text), env), null, 2);
}

function walk(value: unknown, path: string, state: WalkState): unknown {
  if (typeof value === 'string') return expand(value, path, state);
  if (Array.isArray(value)) return value.map((item, i) => walk(item, `${path}/${i}`, state));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, child]) => [key, walk(child, `${path}/${escapePointer(key)}`, state)]),
    );
  }
  return value;
}

function expand(text: string, path: string, state: WalkState): string {
  const { env, problems } = state;
  if (!text.includes('${')) return text;
  return text.replace(REFERENCE, (match: string, body: string | undefined) => {
    if (body === undefined) return '${';
    const parts = NAME_AND_DEFAULT.exec(body);
    const name = parts?.[1];
    if (!parts || name === undefined) {
      problems.push({ path, message: `malformed reference ${match} (write \${NAME} or \${NAME:-default}; $\${ for a literal \${)` });
      return match;
    }
    const fallback = parts[2];
    const set = env[name];
    // As in POSIX shells, `:-` also replaces a variable that is set but empty.
    if (fallback !== undefined) return set ? set : fallback;
    if (set !== undefined) return set;
    state.missing.push({ name, path });
    if (state.placeholder) return `missing-env-${name}`;
    problems.push({ path, message: `environment variable ${name} is not set` });
    return match;
  });
}

const escapePointer = (key: string): string => key.replaceAll('~', '~0').replaceAll('/', '~1');

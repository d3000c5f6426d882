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
  const problems: ConfigProblem[] = [];
  const result = walk(value, '', env, problems);
  if (problems.length > 0) throw new ConfigError('CONFIG_ENV_MISSING', problems);
  return result;
}

/** JSON text in, JSON text out (2-space indented). Invalid JSON throws the parser's SyntaxError. */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv): string {
  return JSON.stringify(substituteEnvInValue(JSON.parse(text), env), null, 2);
}

function walk(value: unknown, path: string, env: NodeJS.ProcessEnv, problems: ConfigProblem[]): unknown {
  if (typeof value === 'string') return expand(value, path, env, problems);
  if (Array.isArray(value)) return value.map((item, i) => walk(item, `${path}/${i}`, env, problems));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, child]) => [key, walk(child, `${path}/${escapePointer(key)}`, env, problems)]),
    );
  }
  return value;
}

function expand(text: string, path: string, env: NodeJS.ProcessEnv, problems: ConfigProblem[]): string {
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
    problems.push({ path, message: `environment variable ${name} is not set` });
    return match;
  });
}

const escapePointer = (key: string): string => key.replaceAll('~', '~0').replaceAll('/', '~1');

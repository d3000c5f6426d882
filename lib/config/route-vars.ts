// A route's `vars`, in APISIX's lua-resty-expr syntax (api7/lua-resty-expr lib/resty/expr/v1.lua):
// `[["post_arg.model", "==", "gpt-4o"], ["http_x_team", "!", "==", "b"]]` (all must hold), or a
// logical operator first (`["OR", [...], [...]]`, also `AND`, `!AND`, `!OR`), nested at will. Checked
// and compiled once here, each mistake at its JSON path; lib/http/vars-predicate.ts evaluates the tree.
import type { ConfigProblem } from '../errors.ts';
import type { VarsExpr, VarsScalar } from './types.ts';

export const varsOperators = ['==', '~=', '>', '<', '>=', '<=', '~~', '~*', 'in', 'has'] as const;
type Operator = (typeof varsOperators)[number];

const logicOperators: Readonly<Record<string, { op: 'AND' | 'OR'; negate: boolean }>> = {
  AND: { op: 'AND', negate: false },
  OR: { op: 'OR', negate: false },
  '!AND': { op: 'AND', negate: true },
  '!OR': { op: 'OR', negate: true },
};

// The names lib/balancer/request-vars.ts reads (nginx's), plus `post_arg.<path>` into a JSON body.
const plainVariables = new Set(['uri', 'request_uri', 'args', 'query_string', 'host', 'remote_addr', 'request_method', 'consumer_name']);
const prefixedVariables = ['arg_', 'http_', 'cookie_'];
export const bodyVariablePrefix = 'post_arg.';

/** Lua's tonumber for the values rules compare: a number, or a string holding one; else undefined. */
export function varsNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/** The compiled rules (null when there are none) and every problem, paths relative to `vars`. */
export function compileRouteVars(raw: unknown): { expr: VarsExpr | null; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  if (!Array.isArray(raw)) return { expr: null, problems: [{ path: '', message: 'must be an array' }] };
  if (raw.length === 0) return { expr: null, problems };
  const head: unknown = raw[0];
  // lua-resty-expr refuses a bare expression at the top: `["arg_x", "==", "1"]` is one bracket short.
  if (!Array.isArray(head) && !(typeof head === 'string' && logicOperators[head.toUpperCase()])) {
    const message = 'must be an expression in brackets ([["arg_x", "==", "1"]]) or a logical operator "AND", "OR", "!AND", "!OR"';
    return { expr: null, problems: [{ path: '/0', message }] };
  }
  const expr = compileRule(raw, '', problems);
  return { expr: problems.length === 0 && expr ? expr : null, problems };
}

function compileRule(rule: unknown, at: string, problems: ConfigProblem[]): VarsExpr | undefined {
  if (!Array.isArray(rule)) {
    problems.push({ path: at, message: 'must be an expression [variable, operator, value] or a nested ["AND" | "OR", ...]' });
    return undefined;
  }
  if (rule.length === 0) {
    problems.push({ path: at, message: 'must not be empty' });
    return undefined;
  }
  const head: unknown = rule[0];
  if (Array.isArray(head)) return compileLogic('AND', false, rule, 0, at, problems);
  const logic = typeof head === 'string' ? logicOperators[head.toUpperCase()] : undefined;
  if (!logic) return compileExpression(rule, at, problems);
  if (rule.length < 3) {
    problems.push({ path: at, message: `"${String(head)}" needs at least two expressions after it` });
    return undefined;
  }
  return compileLogic(logic.op, logic.negate, rule, 1, at, problems);
}

function compileLogic(op: 'AND' | 'OR', negate: boolean, rule: unknown[], from: number, at: string, problems: ConfigProblem[]): VarsExpr | undefined {
  const operands: VarsExpr[] = [];
  for (let i = from; i < rule.length; i++) {
    const operand = compileRule(rule[i], `${at}/${i}`, problems);
    if (operand) operands.push(operand);
  }
  return operands.length === rule.length - from ? { kind: 'logic', op, negate, operands } : undefined;
}

// [variable, operator, value], [variable, "!", operator, value], or lua-resty-expr's old
// [variable, value] for `==`.
function compileExpression(rule: unknown[], at: string, problems: ConfigProblem[]): VarsExpr | undefined {
  const count = problems.length;
  let opAt = 1;
  let negate = false;
  if (rule.length === 4) {
    negate = true;
    opAt = 2;
    if (rule[1] !== '!') problems.push({ path: `${at}/1`, message: 'must be "!" in a four-element expression [variable, "!", operator, value]' });
  } else if (rule.length === 2) {
    opAt = 0;
  } else if (rule.length !== 3) {
    problems.push({ path: at, message: 'must be [variable, operator, value] or [variable, "!", operator, value]' });
    return undefined;
  }
  const variable = checkVariable(rule[0], `${at}/0`, problems);
  const op = opAt === 0 ? '==' : checkOperator(rule[opAt], `${at}/${opAt}`, problems);
  const valueAt = opAt === 0 ? 1 : opAt + 1;
  if (opAt === 0 && typeof rule[1] === 'string' && isOperator(rule[1].toLowerCase())) {
    problems.push({ path: at, message: `operator "${rule[1]}" needs a value after it` });
  }
  if (variable === undefined || op === undefined || problems.length > count) return undefined;
  return compileComparison(variable, negate, op, rule[valueAt], `${at}/${valueAt}`, problems);
}

function compileComparison(variable: string, negate: boolean, op: Operator, value: unknown, at: string, problems: ConfigProblem[]): VarsExpr | undefined {
  const fail = (message: string): undefined => {
    problems.push({ path: at, message });
    return undefined;
  };
  switch (op) {
    case '==':
    case '~=':
      if (!isScalar(value)) return fail(`must be a string, number, boolean or null for "${op}"`);
      return { kind: 'compare', variable, negate: op === '~=' ? !negate : negate, op: '==', value };
    case '>':
    case '<':
    case '>=':
    case '<=': {
      const bound = varsNumber(value);
      if (bound === undefined) return fail(`must be a number for "${op}"`);
      return { kind: 'compare', variable, negate, op, value: bound };
    }
    case '~~':
    case '~*': {
      if (typeof value !== 'string') return fail(`must be a regular expression (a string) for "${op}"`);
      const regex = compileRegex(value, op === '~*');
      if (typeof regex === 'string') return fail(`is not a valid regular expression (${regex})`);
      return { kind: 'compare', variable, negate, op: '~~', value: regex };
    }
    case 'in':
      if (!Array.isArray(value) || !value.every((v) => isScalar(v) && v !== null)) return fail('must be an array of strings, numbers or booleans for "in"');
      return { kind: 'compare', variable, negate, op: 'in', value: [...(value as VarsScalar[])] };
    case 'has':
      if (!isScalar(value) || value === null) return fail('must be a string, number or boolean for "has"');
      return { kind: 'compare', variable, negate, op: 'has', value };
  }
}

// PCRE's leading `(?i)` (common in APISIX configs) has no JavaScript equivalent but the `i` flag.
function compileRegex(source: string, caseless: boolean): RegExp | string {
  const inline = source.startsWith('(?i)');
  try {
    return new RegExp(inline ? source.slice(4) : source, caseless || inline ? 'i' : '');
  } catch (err) {
    return String((err as Error).message).replace(/^Invalid regular expression: /, '');
  }
}

function checkVariable(name: unknown, at: string, problems: ConfigProblem[]): string | undefined {
  if (typeof name !== 'string') {
    problems.push({ path: at, message: 'must be a variable name (a string)' });
    return undefined;
  }
  if (isVariable(name)) return name;
  problems.push({
    path: at,
    message: `unknown variable "${name}"; one of post_arg.<field>, http_<header>, arg_<name>, cookie_<name>, uri, host, remote_addr, request_method, request_uri, query_string, consumer_name`,
  });
  return undefined;
}

export function isVariable(name: string): boolean {
  if (plainVariables.has(name)) return true;
  if (name.startsWith(bodyVariablePrefix)) return name.slice(bodyVariablePrefix.length).split('.').every((s) => s !== '');
  return prefixedVariables.some((p) => name.startsWith(p) && name.length > p.length);
}

function checkOperator(op: unknown, at: string, problems: ConfigProblem[]): Operator | undefined {
  const lower = typeof op === 'string' ? op.toLowerCase() : undefined;
  if (lower !== undefined && isOperator(lower)) return lower;
  problems.push({ path: at, message: `unknown operator ${JSON.stringify(op)} (one of: ${varsOperators.join(' ')})` });
  return undefined;
}

function isOperator(op: string): op is Operator {
  return (varsOperators as readonly string[]).includes(op);
}

function isScalar(v: unknown): v is VarsScalar {
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

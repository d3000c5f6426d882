// Evaluates a route's compiled `vars` (config/route-vars.ts) against a request. Built once per config:
// every variable becomes a reader and every comparison a closure, so a request only runs them. Before
// the body is read, a rule on `post_arg.*` is undecided and so is what depends on it (three-valued
// logic): the matcher then reads and parses the body once, and asks again with it.
import type { RequestVars } from '../balancer/request-vars.ts';
import { varReader } from '../balancer/request-vars.ts';
import { bodyVariablePrefix, varsNumber } from '../config/route-vars.ts';
import type { VarsExpr, VarsScalar } from '../config/types.ts';

/** The `body` argument while the body has not been read. */
export const BODY_UNREAD: unique symbol = Symbol('body unread');

/** true or false; undefined when the answer depends on a body not read yet. */
export type VarsPredicate = (req: RequestVars, body: unknown) => boolean | undefined;

const UNDECIDED = Symbol('undecided');
type ValueReader = (req: RequestVars, body: unknown) => unknown;

export function compileVarsPredicate(expr: VarsExpr): VarsPredicate {
  if (expr.kind === 'logic') return logic(expr.op, expr.negate, expr.operands.map(compileVarsPredicate));
  const read = readerOf(expr.variable);
  const holds = comparison(expr);
  const negate = expr.negate;
  return (req, body) => {
    const value = read(req, body);
    return value === UNDECIDED ? undefined : holds(value) !== negate;
  };
}

function logic(op: 'AND' | 'OR', negate: boolean, operands: readonly VarsPredicate[]): VarsPredicate {
  // AND stops at the first false, OR at the first true; an undecided operand decides nothing.
  const decisive = op === 'OR';
  return (req, body) => {
    let undecided = false;
    for (const operand of operands) {
      const v = operand(req, body);
      if (v === decisive) return decisive !== negate;
      if (v === undefined) undecided = true;
    }
    return undecided ? undefined : !decisive !== negate;
  };
}

function readerOf(variable: string): ValueReader {
  if (!variable.startsWith(bodyVariablePrefix)) {
    const read = varReader(variable);
    return (req) => read(req);
  }
  const path = variable.slice(bodyVariablePrefix.length).split('.');
  return (_req, body) => (body === BODY_UNREAD ? UNDECIDED : fieldAt(body, path));
}

// A dotted path into the parsed JSON body; a numeric segment indexes an array. JSON null reads as
// missing, as an absent field would.
function fieldAt(body: unknown, path: readonly string[]): unknown {
  let at = body;
  for (const segment of path) {
    if (Array.isArray(at)) at = /^\d+$/.test(segment) ? at[Number(segment)] : undefined;
    else if (typeof at === 'object' && at !== null && Object.hasOwn(at, segment)) at = (at as Record<string, unknown>)[segment];
    else return undefined;
  }
  return at ?? undefined;
}

type Comparison = (value: unknown) => boolean;

function comparison(node: Extract<VarsExpr, { kind: 'compare' }>): Comparison {
  switch (node.op) {
    case '==':
      return equals(node.value);
    case '>': {
      const bound = node.value;
      return (v) => (varsNumber(v) ?? Number.NaN) > bound;
    }
    case '<': {
      const bound = node.value;
      return (v) => (varsNumber(v) ?? Number.NaN) < bound;
    }
    case '>=': {
      const bound = node.value;
      return (v) => (varsNumber(v) ?? Number.NaN) >= bound;
    }
    case '<=': {
      const bound = node.value;
      return (v) => (varsNumber(v) ?? Number.NaN) <= bound;
    }
    case '~~': {
      const regex = node.value;
      return (v) => (typeof v === 'string' ? regex.test(v) : typeof v === 'number' && regex.test(String(v)));
    }
    case 'in': {
      const matchers = node.value.map(equals);
      return (v) => matchers.some((m) => m(v));
    }
    case 'has': {
      const matches = equals(node.value);
      return (v) => Array.isArray(v) && v.some(matches);
    }
  }
}

// lua-resty-expr's `==`: against a number the value is read as one ("10" == 10); null means missing.
function equals(expected: VarsScalar): Comparison {
  if (typeof expected === 'number') return (v) => varsNumber(v) === expected;
  if (expected === null) return (v) => v === undefined;
  return (v) => v === expected;
}

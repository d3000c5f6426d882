import assert from 'node:assert/strict';
import { compileRouteVars } from '../../lib/config/route-vars.ts';
import type { VarsExpr } from '../../lib/config/types.ts';
import { checkConfigText } from '../../lib/load-config.ts';

// Route `vars` as the config loader sees them: what a file may say (lua-resty-expr's syntax), and the
// JSON path and message of each mistake.

function problemsOf(vars: unknown, more: Record<string, unknown> = {}): string[] {
  const route = { id: 'r', uri: '/v1/*', vars, ...more, plugins: { 'ai-proxy': { provider: 'openai', auth: { header: { Authorization: 'Bearer k' } } } } };
  return checkConfigText(JSON.stringify({ routes: [route] }), {}).problems.map((p) => `${p.path}: ${p.message}`);
}

function compiled(vars: unknown): VarsExpr | null {
  const { expr, problems } = compileRouteVars(vars);
  assert.deepEqual(problems, []);
  return expr;
}

describe('route vars in the config', () => {
  describe('mistakes, each at its JSON path', () => {
    const cases: Array<[string, unknown, string]> = [
      ['an unknown operator', [['post_arg.model', '=~', 'gpt']], '/routes/0/vars/0/1: unknown operator "=~"'],
      ['a bare expression at the top', ['arg_x', '==', '1'], '/routes/0/vars/0: must be an expression in brackets'],
      ['an invalid regex', [['post_arg.model', '~~', '^(gpt']], '/routes/0/vars/0/2: is not a valid regular expression (/^(gpt/: Unterminated group)'],
      ['an invalid case-insensitive regex', [['http_x', '~*', '[a-']], '/routes/0/vars/0/2: is not a valid regular expression'],
      ['a regex that is not a string', [['http_x', '~~', 5]], '/routes/0/vars/0/2: must be a regular expression (a string) for "~~"'],
      ['four elements without "!"', [['arg_x', 'not', '==', '1']], '/routes/0/vars/0/1: must be "!" in a four-element expression'],
      ['a one-element expression', [['arg_x']], '/routes/0/vars/0: must be [variable, operator, value] or [variable, "!", operator, value]'],
      ['a five-element expression', [['arg_x', '!', '==', '1', '2']], '/routes/0/vars/0: must be [variable, operator, value]'],
      ['an operator without a value', [['arg_x', 'in']], '/routes/0/vars/0: operator "in" needs a value after it'],
      ['an empty expression', [[]], '/routes/0/vars/0: must not be empty'],
      ['an unknown variable', [['model', '==', 'gpt-4o']], '/routes/0/vars/0/0: unknown variable "model"; one of post_arg.<field>'],
      ['post_arg without a field', [['post_arg.', '==', 'a']], '/routes/0/vars/0/0: unknown variable "post_arg."'],
      ['a post_arg path with an empty segment', [['post_arg.a..b', '==', 'a']], '/routes/0/vars/0/0: unknown variable "post_arg.a..b"'],
      ['http_ without a header name', [['http_', '==', 'a']], '/routes/0/vars/0/0: unknown variable "http_"'],
      ['a variable that is not a string', [[3, '==', 'a']], '/routes/0/vars/0/0: must be a variable name (a string)'],
      ['a non-numeric bound', [['arg_n', '>', 'ten']], '/routes/0/vars/0/2: must be a number for ">"'],
      ['"in" without an array', [['arg_n', 'in', 'a']], '/routes/0/vars/0/2: must be an array of strings, numbers or booleans for "in"'],
      ['"in" with an object inside', [['arg_n', 'in', ['a', { b: 1 }]]], '/routes/0/vars/0/2: must be an array of strings'],
      ['"has" with an array', [['post_arg.tags', 'has', ['a']]], '/routes/0/vars/0/2: must be a string, number or boolean for "has"'],
      ['"==" with an object', [['arg_n', '==', { a: 1 }]], '/routes/0/vars/0/2: must be a string, number, boolean or null for "=="'],
      ['"OR" with one operand', [['OR', ['arg_a', '==', '1']]], '/routes/0/vars/0: "OR" needs at least two expressions after it'],
      ['a nested mistake', [['OR', ['arg_a', '==', '1'], ['AND', ['arg_b', '==', '2'], ['arg_c', '=', '3']]]], '/routes/0/vars/0/2/2/1: unknown operator "="'],
      ['a string where an operand belongs', [['OR', 'arg_a', ['arg_b', '==', '1']]], '/routes/0/vars/0/1: must be an expression [variable, operator, value]'],
      ['vars that are not an array', 'post_arg.model == gpt', '/routes/0/vars: must be array'],
      ['a fractional priority', [], '/routes/0/priority: must be integer'],
    ];
    for (const [name, vars, expected] of cases) {
      it(`reports ${name}`, () => {
        const problems = problemsOf(vars, name.includes('priority') ? { priority: 1.5 } : {});
        assert.ok(problems.some((p) => p.startsWith(expected)), `expected "${expected}" in ${JSON.stringify(problems)}`);
      });
    }

    it('reports every mistake of a file at once', () => {
      const problems = problemsOf([['arg_a', '=~', '1'], ['nope', '==', '1'], ['http_x', '~~', '(']]);
      assert.deepEqual(
        problems.map((p) => p.split(':')[0]),
        ['/routes/0/vars/0/1', '/routes/0/vars/1/0', '/routes/0/vars/2/2'],
      );
    });
  });

  describe('what a valid rule compiles to', () => {
    it('takes operators and logical operators in any case, as lua-resty-expr does', () => {
      assert.deepEqual(compiled(['or', ['arg_a', 'IN', ['1']], ['arg_b', 'Has', 'x']]), {
        kind: 'logic',
        op: 'OR',
        negate: false,
        operands: [
          { kind: 'compare', variable: 'arg_a', negate: false, op: 'in', value: ['1'] },
          { kind: 'compare', variable: 'arg_b', negate: false, op: 'has', value: 'x' },
        ],
      });
    });

    it('turns "~=" into a negated "==" and a "!" into negation, so "!" "~=" is "=="', () => {
      const expr = compiled([['arg_a', '~=', 'x'], ['arg_b', '!', '~=', 'y'], ['arg_c', '!', '==', 'z']]);
      assert.ok(expr?.kind === 'logic');
      assert.deepEqual(
        expr.operands.map((o) => (o.kind === 'compare' ? [o.op, o.negate] : [])),
        [['==', true], ['==', false], ['==', true]],
      );
    });

    it('compiles regexes once, "~*" and a leading PCRE "(?i)" case-insensitive', () => {
      const expr = compiled([['http_a', '~~', '^gpt-'], ['http_b', '~*', '^claude'], ['http_c', '~~', '(?i)^mistral']]);
      assert.ok(expr?.kind === 'logic');
      const regexes = expr.operands.map((o) => (o.kind === 'compare' && o.value instanceof RegExp ? o.value : undefined));
      assert.deepEqual(regexes.map((r) => r?.flags), ['', 'i', 'i']);
      assert.deepEqual(regexes.map((r) => r?.source), ['^gpt-', '^claude', '^mistral']);
    });

    it('reads a numeric string bound as a number, and the old two-element form as "=="', () => {
      assert.deepEqual(compiled([['arg_n', '>=', '10']]), {
        kind: 'logic',
        op: 'AND',
        negate: false,
        operands: [{ kind: 'compare', variable: 'arg_n', negate: false, op: '>=', value: 10 }],
      });
      const old = compiled([['arg_x', 'json']]);
      assert.ok(old?.kind === 'logic');
      assert.deepEqual(old.operands[0], { kind: 'compare', variable: 'arg_x', negate: false, op: '==', value: 'json' });
    });

    it('loads routes with their vars and priority, and empty or absent vars as no condition', () => {
      const plugins = { 'ai-proxy': { provider: 'openai', auth: { header: { Authorization: 'Bearer k' } } } };
      const { config, problems } = checkConfigText(
        JSON.stringify({
          routes: [
            { id: 'a', uri: '/v1/*', priority: 7, vars: ['!OR', ['post_arg.model', '~~', '^gpt'], ['http_x', '==', null]], plugins },
            { id: 'b', uri: '/v1/*', vars: [], plugins },
            { id: 'c', uri: '/v1/*', plugins },
          ],
        }),
        {},
      );
      assert.deepEqual(problems, []);
      const [a, b, c] = config?.routes ?? [];
      assert.equal(a?.priority, 7);
      assert.equal(a?.vars?.kind === 'logic' && a.vars.op === 'OR' && a.vars.negate, true);
      assert.equal(b?.vars, null);
      assert.equal(c?.vars, null);
      assert.equal(c?.priority, 0);
    });
  });
});

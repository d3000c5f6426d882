import assert from 'node:assert/strict';
import type { RequestVars } from '../../lib/balancer/request-vars.ts';
import { compileRouteVars } from '../../lib/config/route-vars.ts';
import { BODY_UNREAD, compileVarsPredicate } from '../../lib/http/vars-predicate.ts';

// Does a route's `vars` hold for a request: every operator, negation, nesting, every variable, and the
// undecided answer while the body is unread.

const request: RequestVars = {
  path: '/v1/chat/completions',
  query: new URLSearchParams('tier=gold&n=12&empty='),
  headers: {
    host: 'GW.Example.com:9080',
    'x-team': 'research',
    'x-count': '10',
    'x-user-agent': 'OpenAI/Python 1.40',
    cookie: 'theme=dark; beta="1"',
  },
  remoteAddr: '192.168.1.20',
  host: 'GW.Example.com:9080',
  method: 'POST',
};

const body = {
  model: 'gpt-4o-mini',
  max_tokens: 512,
  stream: true,
  user: null,
  tags: ['eu', 'batch', 7],
  metadata: { team: 'research', tier: { name: 'gold' } },
  messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }],
};

function holds(vars: unknown, b: unknown = body, req: RequestVars = request): boolean | undefined {
  const { expr, problems } = compileRouteVars(vars);
  assert.deepEqual(problems, []);
  assert.ok(expr);
  return compileVarsPredicate(expr)(req, b);
}

type Case = [rule: unknown[], expected: boolean];

function table(cases: Case[]): void {
  for (const [rule, expected] of cases) {
    it(`${JSON.stringify(rule)} is ${expected}`, () => assert.equal(holds([rule]), expected));
  }
}

describe('compileVarsPredicate', () => {
  describe('== and ~=', () =>
    table([
      [['post_arg.model', '==', 'gpt-4o-mini'], true],
      [['post_arg.model', '==', 'gpt-4o'], false],
      [['http_x_team', '==', 'research'], true],
      [['http_x_count', '==', 10], true],
      [['http_x_count', '==', '10.0'], false],
      [['post_arg.max_tokens', '==', 512], true],
      [['post_arg.max_tokens', '==', '512'], false],
      [['post_arg.stream', '==', true], true],
      [['http_x_missing', '==', null], true],
      [['post_arg.user', '==', null], true],
      [['http_x_team', '==', null], false],
      [['http_x_team', '~=', 'ops'], true],
      [['http_x_team', '~=', 'research'], false],
      [['http_x_missing', '~=', 'x'], true],
      [['http_x_team', '~=', 5], true],
    ]));

  describe('numeric comparisons', () =>
    table([
      [['post_arg.max_tokens', '>', 500], true],
      [['post_arg.max_tokens', '>', 512], false],
      [['post_arg.max_tokens', '>=', 512], true],
      [['post_arg.max_tokens', '<', 1000], true],
      [['post_arg.max_tokens', '<=', 511], false],
      [['arg_n', '>', 9], true],
      [['arg_n', '<', '100'], true],
      [['http_x_team', '>', 0], false],
      [['http_x_team', '<', 0], false],
      [['arg_empty', '<', 1], false],
      [['arg_missing', '>=', 0], false],
      [['post_arg.stream', '>', 0], false],
    ]));

  describe('regexes', () =>
    table([
      [['post_arg.model', '~~', '^gpt-'], true],
      [['post_arg.model', '~~', 'mini'], true],
      [['post_arg.model', '~~', '^GPT-'], false],
      [['post_arg.model', '~*', '^GPT-'], true],
      [['post_arg.model', '~~', '(?i)^GPT-'], true],
      [['post_arg.max_tokens', '~~', '^5\\d+$'], true],
      [['post_arg.metadata', '~~', '.'], false],
      [['http_x_missing', '~~', '.*'], false],
    ]));

  describe('in and has', () =>
    table([
      [['arg_tier', 'in', ['silver', 'gold']], true],
      [['arg_tier', 'in', ['silver', 'bronze']], false],
      [['http_x_count', 'in', [5, 10]], true],
      [['http_x_missing', 'in', ['a']], false],
      [['post_arg.tags', 'has', 'batch'], true],
      [['post_arg.tags', 'has', 7], true],
      [['post_arg.tags', 'has', 'us'], false],
      [['post_arg.model', 'has', 'gpt'], false],
    ]));

  describe('negation with "!"', () =>
    table([
      [['post_arg.model', '!', '~~', '^claude'], true],
      [['post_arg.model', '!', '==', 'gpt-4o-mini'], false],
      [['arg_tier', '!', 'in', ['gold']], false],
      [['http_x_missing', '!', '==', null], false],
      [['post_arg.max_tokens', '!', '>', 1000], true],
    ]));

  describe('variables', () =>
    table([
      [['uri', '==', '/v1/chat/completions'], true],
      [['host', '==', 'gw.example.com'], true],
      [['remote_addr', '~~', '^192\\.168\\.'], true],
      [['request_method', '==', 'POST'], true],
      [['request_uri', '==', '/v1/chat/completions?tier=gold&n=12&empty='], true],
      [['query_string', '~~', 'n=12'], true],
      [['args', '~~', '^tier=gold'], true],
      [['http_x_user_agent', '~~', '^OpenAI/'], true],
      [['http_X-Team', '==', 'research'], true],
      [['arg_tier', '==', 'gold'], true],
      [['cookie_theme', '==', 'dark'], true],
      [['cookie_beta', '==', 1], true],
      [['post_arg.metadata.team', '==', 'research'], true],
      [['post_arg.metadata.tier.name', '==', 'gold'], true],
      [['post_arg.messages.0.role', '==', 'system'], true],
      [['post_arg.messages.1.content', '==', 'Hi'], true],
      [['post_arg.messages.2.role', '==', null], true],
      [['post_arg.model.length', '==', null], true],
      [['post_arg.constructor', '==', null], true],
      [['post_arg.metadata.toString', '==', null], true],
    ]));

  describe('logic', () => {
    it('needs every expression of the list to hold', () => {
      assert.equal(holds([['post_arg.model', '~~', '^gpt'], ['http_x_team', '==', 'research']]), true);
      assert.equal(holds([['post_arg.model', '~~', '^gpt'], ['http_x_team', '==', 'ops']]), false);
    });

    it('takes AND, OR, !AND and !OR first, at the top or nested', () => {
      const gpt = ['post_arg.model', '~~', '^gpt'];
      const ops = ['http_x_team', '==', 'ops'];
      assert.equal(holds(['OR', ops, gpt]), true);
      assert.equal(holds(['OR', ops, ['arg_tier', '==', 'bronze']]), false);
      assert.equal(holds(['AND', gpt, ops]), false);
      assert.equal(holds(['!AND', gpt, ops]), true);
      assert.equal(holds(['!OR', ops, gpt]), false);
      assert.equal(holds([['OR', ops, ['AND', gpt, ['arg_tier', '==', 'gold']]], ['request_method', '==', 'POST']]), true);
      assert.equal(holds([['OR', ops, ['AND', gpt, ['arg_tier', '==', 'silver']]]]), false);
      assert.equal(holds([[[gpt, ['uri', '~~', 'chat']]]]), true, 'brackets in brackets are an AND');
    });
  });

  describe('before the body is read', () => {
    it('is undecided on post_arg, and so is what depends on it', () => {
      const gpt = ['post_arg.model', '~~', '^gpt'];
      assert.equal(holds([gpt], BODY_UNREAD), undefined);
      assert.equal(holds([['post_arg.model', '!', '~~', '^gpt']], BODY_UNREAD), undefined);
      assert.equal(holds(['!AND', gpt, ['http_x_team', '==', 'research']], BODY_UNREAD), undefined);
      assert.equal(holds([gpt, ['http_x_team', '==', 'research']], BODY_UNREAD), undefined);
    });

    it('decides anyway when the other operands do', () => {
      const gpt = ['post_arg.model', '~~', '^gpt'];
      assert.equal(holds([gpt, ['http_x_team', '==', 'ops']], BODY_UNREAD), false, 'AND with a false operand');
      assert.equal(holds(['OR', gpt, ['http_x_team', '==', 'research']], BODY_UNREAD), true, 'OR with a true operand');
      assert.equal(holds(['!OR', gpt, ['http_x_team', '==', 'research']], BODY_UNREAD), false);
      assert.equal(holds([['http_x_team', '==', 'research']], BODY_UNREAD), true, 'no post_arg at all');
    });
  });

  it('reads missing request parts as missing, not as errors', () => {
    const bare: RequestVars = { path: '/x', query: {}, headers: {}, remoteAddr: '::1' };
    assert.equal(holds([['host', '==', null], ['request_method', '==', null], ['cookie_a', '==', null], ['arg_a', '==', null]], undefined, bare), true);
    assert.equal(holds([['post_arg.model', '==', null]], 'not an object', bare), true);
  });
});

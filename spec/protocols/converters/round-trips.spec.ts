import assert from 'node:assert/strict';
import { deepFreeze } from '../../../lib/config/normalise.ts';
import { findConverter } from '../../../lib/protocols/converters/registry.ts';
import type { ProtocolName } from '../../../lib/protocols/types.ts';
import { conversationOf } from '../../support/conversation-view.ts';
import { goldenInputs } from '../../support/converter-fixtures.ts';
import { wire } from '../../support/protocol-invariants.ts';
import { replyOf } from '../../support/reply-view.ts';
import { assertSameConversation, assertSameReply, restrictsTools } from '../../support/round-trip.ts';

// Every golden input of a converter whose reverse exists goes there and back: a request A→B→A keeps its
// text, tool calls, tool results and tools; a provider's response B→A→B keeps its text, tool calls and
// stop reason. What each side means is read by spec/support/, never by the converters themselves.

const PROTOCOLS: ProtocolName[] = ['openai-chat', 'anthropic-messages', 'bedrock-converse', 'openai-responses', 'openai-embeddings', 'google-genai'];
const reversible = PROTOCOLS.flatMap((a) => PROTOCOLS.filter((b) => a < b && findConverter(a, b) && findConverter(b, a)).map((b) => `${a} ↔ ${b}`));

describe('converter round trips over every golden input', () => {
  const cases = goldenInputs().filter((g) => !g.refused && findConverter(g.converter.to as ProtocolName, g.converter.from));

  it('cover every pair of protocols the registry converts both ways, requests and responses', () => {
    assert.deepEqual(reversible.sort(), [
      'anthropic-messages ↔ bedrock-converse',
      'anthropic-messages ↔ google-genai',
      'anthropic-messages ↔ openai-chat',
      'bedrock-converse ↔ google-genai',
      'bedrock-converse ↔ openai-chat',
      'google-genai ↔ openai-chat',
    ]);
    for (const pair of reversible) {
      for (const kind of ['request', 'response']) {
        const covered = cases.some((g) => g.kind === kind && [g.converter.from, g.converter.to].sort().join(' ↔ ') === pair);
        assert.ok(covered, `no ${kind} round trip for ${pair}`);
      }
    }
  });

  for (const g of cases) {
    const { from, to } = g.converter;
    const back = findConverter(to as ProtocolName, from);
    if (!back) continue;
    if (g.kind === 'request') {
      it(`${from} → ${to} → ${from} keeps the conversation of ${g.name}`, () => {
        const there = deepFreeze(g.converter.request(g.input, g.ctx));
        const model = g.ctx.model ?? (typeof g.input['model'] === 'string' ? g.input['model'] : 'model-x');
        const again = back.request(there, { model, stream: g.ctx.stream });
        assertSameConversation(conversationOf(wire(from), again), conversationOf(wire(from), g.input), { toolsMayShrink: restrictsTools(g.input) });
      });
    } else {
      it(`${to} → ${from} → ${to} keeps the answer of ${g.name}`, () => {
        const there = deepFreeze(g.converter.response(g.input, g.ctx));
        const again = back.response(there, g.ctx);
        assertSameReply(replyOf(wire(to), again), replyOf(wire(to), g.input));
      });
    }
  }
});

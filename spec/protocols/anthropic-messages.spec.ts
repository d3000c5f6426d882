import assert from 'node:assert/strict';
import { anthropicMessages } from '../../lib/protocols/anthropic-messages.ts';
import { checkPlainContent } from '../support/plain-content.ts';

// Events as Anthropic streams them (https://docs.anthropic.com/en/api/messages-streaming), written by
// the protocol's own encoder.
const ant = (event: string, data: Record<string, unknown>): string => anthropicMessages.encodeEvent({ event, data: { type: event, ...data } }) as string;
const start = ant('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-up', content: [], stop_reason: null, usage: { input_tokens: 7, output_tokens: 1 } } });
const textBlock = (index: number) => ant('content_block_start', { index, content_block: { type: 'text', text: '' } });
const text = (value: string, index = 0) => ant('content_block_delta', { index, delta: { type: 'text_delta', text: value } });
const stop = (index: number) => ant('content_block_stop', { index });
const ping = ant('ping', {});
const toolBlock = ant('content_block_start', { index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} } });
const toolDelta = ant('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } });
const messageDelta = ant('message_delta', { delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 15 } });
const messageStop = ant('message_stop', {});
const error = ant('error', { error: { type: 'overloaded_error', message: 'Overloaded' } });

describe('anthropicMessages stream observer: plainContent, the relay\'s test for chunks it need not decode', () => {
  const committed = () => {
    const observer = anthropicMessages.createStreamObserver(false);
    for (const event of anthropicMessages.createDecoder().push(Buffer.from(start + textBlock(0) + text('Hi')))) observer.classify(event);
    return observer;
  };

  it('is true for text deltas, pings and the ends and starts of text blocks', () => {
    assert.equal(committed().plainContent?.(Buffer.from(text('a') + text('b') + ping + stop(0) + textBlock(2))), true);
  });

  it('is false when the text is kept for the payload log', () => {
    assert.equal(anthropicMessages.createStreamObserver(true).plainContent?.(Buffer.from(text('a'))), false);
  });

  for (const [what, frame] of Object.entries({ 'message_start': start, 'a tool_use block': toolBlock, message_delta: messageDelta, message_stop: messageStop, 'an error event': error, 'text that mentions an error': text('no error here') })) {
    it(`is false for a chunk holding ${what}`, () => {
      assert.equal(committed().plainContent?.(Buffer.from(text('a') + frame)), false);
    });
  }

  it('leaves the observer where classifying every event would, on a stream of every kind of chunk', () => {
    const frames = [text(' there'), ping, text('!'), stop(0), toolBlock, toolDelta, stop(1), messageDelta, messageStop];
    assert.ok(checkPlainContent(anthropicMessages, [start, textBlock(0), text('Hi')], frames) >= 3);
    assert.ok(checkPlainContent(anthropicMessages, [start, textBlock(0), text('Hi')], [text('a'), error]) >= 1);
  });
});

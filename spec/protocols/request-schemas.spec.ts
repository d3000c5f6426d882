import assert from 'node:assert/strict';
import { GatewayError } from '../../lib/errors.ts';
import type { ProtocolName } from '../../lib/protocols/types.ts';
import { validateRequestBody } from '../../lib/protocols/validate-request.ts';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, instance, postJson, startGateway } from '../support/gateway-harness.ts';

function problem(protocol: ProtocolName, body: Record<string, unknown>): string | undefined {
  try {
    validateRequestBody(protocol, body);
    return undefined;
  } catch (err) {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.status, 400);
    assert.equal(err.code, 'INVALID_REQUEST_BODY');
    return err.message;
  }
}

const user = [{ role: 'user', content: 'Weather in Paris?' }];
const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };

// Bodies as the vendors' SDKs send them, including the nulls OpenAI's Python SDK sends for None.
const valid: Array<[ProtocolName, string, Record<string, unknown>]> = [
  ['openai-chat', 'a minimal chat', { model: 'gpt-4o-mini', messages: user }],
  ['openai-chat', 'a chat without model (the instance sets it)', { messages: user }],
  ['openai-chat', 'a tool loop with images, nulls and unknown fields', {
    model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, max_completion_tokens: 256, temperature: null, top_p: null,
    n: null, stop: null, seed: 7, tool_choice: 'auto', parallel_tool_calls: false, response_format: { type: 'json_object' },
    tools: [{ type: 'function', function: { name: 'get_weather', description: 'Get weather', parameters: schema, strict: true } }],
    messages: [
      { role: 'developer', content: [{ type: 'text', text: 'Be terse.' }] },
      { role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBOR', detail: 'auto' } }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"tempC":21}' },
    ],
    some_future_field: { anything: [1, 2] },
  }],
  ['openai-chat', 'legacy functions', { model: 'm', messages: user, functions: [{ name: 'f', parameters: schema }], function_call: 'auto', stop: ['END'] }],
  ['openai-embeddings', 'a list of texts in base64', { model: 'text-embedding-3-small', input: ['a', 'b'], encoding_format: 'base64', dimensions: 256 }],
  ['openai-embeddings', 'token ids', { model: 'e', input: [[1, 2, 3], [4]] }],
  ['openai-embeddings', 'a single text', { model: 'e', input: 'hello' }],
  ['openai-responses', 'a string input', { model: 'gpt-4o', input: 'hi', instructions: null, max_output_tokens: null, stream: false }],
  ['openai-responses', 'items with a function call', {
    model: 'gpt-4o', instructions: 'Be terse.', max_output_tokens: 100,
    tools: [{ type: 'function', name: 'get_weather', parameters: schema, strict: true }, { type: 'web_search' }],
    tool_choice: { type: 'function', name: 'get_weather' }, reasoning: { effort: 'low' },
    input: [
      { role: 'user', content: 'Weather?' },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'What is this?' }, { type: 'input_image', image_url: 'data:image/png;base64,x' }] },
      { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{}' },
      { type: 'function_call_output', call_id: 'call_1', output: '{"tempC":21}' },
    ],
  }],
  ['anthropic-messages', 'a minimal message', { model: 'claude-sonnet-4-5', max_tokens: 1024, messages: user }],
  ['anthropic-messages', 'tools, blocks, cache control and thinking', {
    model: 'claude-sonnet-4-5', max_tokens: 2048, stream: true, stop_sequences: ['\n\nHuman:'], top_k: 5,
    system: [{ type: 'text', text: 'Be terse.', cache_control: { type: 'ephemeral' } }],
    tools: [{ name: 'get_weather', description: 'Get weather', input_schema: schema }, { type: 'web_search_20250305', name: 'web_search' }],
    tool_choice: { type: 'auto', disable_parallel_tool_use: true }, thinking: { type: 'enabled', budget_tokens: 1024 }, metadata: { user_id: 'u' },
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'Weather?' }, { type: 'image', source: { type: 'url', url: 'https://x/cat.png' } }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '21C' }] },
    ],
  }],
  ['bedrock-converse', 'the SDK example', {
    system: [{ text: 'You are terse.' }],
    messages: [
      { role: 'user', content: [{ text: 'Weather?' }, { image: { format: 'png', source: { bytes: 'iVBORw==' } } }] },
      { role: 'assistant', content: [{ toolUse: { toolUseId: 'tooluse_1', name: 'get_weather', input: { city: 'Paris' } } }] },
      { role: 'user', content: [{ toolResult: { toolUseId: 'tooluse_1', content: [{ json: { tempC: 21 } }], status: 'success' } }] },
    ],
    inferenceConfig: { maxTokens: 512, temperature: 0.5, topP: 0.9, stopSequences: ['END'] },
    toolConfig: { tools: [{ toolSpec: { name: 'get_weather', inputSchema: { json: schema } } }], toolChoice: { tool: { name: 'get_weather' } } },
    additionalModelRequestFields: { top_k: 200 },
  }],
  ['google-genai', 'the SDK\'s camelCase body with tools, thoughts and config', {
    contents: [
      { role: 'user', parts: [{ text: 'Weather?' }, { inlineData: { mimeType: 'image/png', data: 'iVBOR' } }] },
      { role: 'model', parts: [{ text: 'Hmm', thought: true }, { functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: 'c2ln' }] },
      { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { output: '21C' } } }] },
    ],
    systemInstruction: { parts: [{ text: 'Be terse.' }] },
    tools: [{ functionDeclarations: [{ name: 'get_weather', parametersJsonSchema: schema }] }, { googleSearch: {} }],
    toolConfig: { functionCallingConfig: { mode: 'AUTO' } },
    generationConfig: { temperature: 0.5, topK: 40, maxOutputTokens: 512, stopSequences: ['END'], responseMimeType: 'text/plain', thinkingConfig: { thinkingBudget: 1024 } },
    safetySettings: [{ category: 'HARM_CATEGORY_HATE_SPEECH', threshold: 'BLOCK_NONE' }],
  }],
  ['google-genai', 'a REST sample in snake_case, without roles', { contents: [{ parts: [{ text: 'hi' }] }], system_instruction: { parts: [{ text: 'x' }] }, generation_config: { max_output_tokens: 5 } }],
];

const invalid: Array<[ProtocolName, Record<string, unknown>, RegExp]> = [
  ['openai-chat', {}, /messages is required/],
  ['openai-chat', { messages: 'hi' }, /messages must be array/],
  ['openai-chat', { messages: [1, 2, 3] }, /messages\[0\] must be object/],
  ['openai-chat', { messages: [] }, /messages must NOT have fewer than 1 items/],
  ['openai-chat', { messages: [{ content: 'x' }] }, /messages\[0\]\.role is required/],
  ['openai-chat', { messages: [{ role: 7 }] }, /messages\[0\]\.role must be string/],
  ['openai-chat', { messages: [{ role: 'user', content: 5 }] }, /messages\[0\]\.content must be string or array or null/],
  ['openai-chat', { messages: [{ role: 'user', content: ['x'] }] }, /messages\[0\]\.content\[0\] must be object/],
  ['openai-chat', { messages: user, model: 42 }, /model must be string/],
  ['openai-chat', { messages: user, stream: 'true' }, /stream must be boolean or null/],
  ['openai-chat', { messages: user, max_tokens: 0 }, /max_tokens must be >= 1/],
  ['openai-chat', { messages: user, max_tokens: 1.5 }, /max_tokens must be integer/],
  ['openai-chat', { messages: user, max_tokens: 1e29 }, /max_tokens must be <= 2147483647/],
  ['openai-chat', { messages: user, max_completion_tokens: '5' }, /max_completion_tokens must be integer or null/],
  ['openai-chat', { messages: user, tools: {} }, /tools must be array or null/],
  ['openai-chat', { messages: user, tools: ['f'] }, /tools\[0\] must be object/],
  ['openai-chat', { messages: user, tools: [{ type: 'function', function: { name: 'f', parameters: 'x' } }] }, /tools\[0\]\.function\.parameters must be object or null/],
  ['openai-chat', { messages: user, stop: [1] }, /stop\[0\] must be string/],
  ['openai-chat', { messages: [{ role: 'assistant', tool_calls: [{ function: { name: 'f', arguments: {} } }] }] }, /tool_calls\[0\]\.function\.arguments must be string/],
  ['openai-embeddings', {}, /input is required/],
  ['openai-embeddings', { input: {} }, /input must be string or array/],
  ['openai-embeddings', { input: [] }, /input must NOT have fewer than 1 items/],
  ['openai-embeddings', { input: [{}] }, /input\[0\] must be string or integer or array/],
  ['openai-embeddings', { input: 'x', encoding_format: 'hex' }, /encoding_format must be one of "float", "base64", null/],
  ['openai-responses', {}, /input is required/],
  ['openai-responses', { input: 5 }, /input must be string or array/],
  ['openai-responses', { input: ['hi'] }, /input\[0\] must be object/],
  ['openai-responses', { input: 'x', max_output_tokens: -1 }, /max_output_tokens must be >= 1/],
  ['openai-responses', { input: 'x', tools: [{ name: 'f' }] }, /tools\[0\]\.type is required/],
  ['anthropic-messages', { model: 'c', max_tokens: 5 }, /messages is required/],
  ['anthropic-messages', { messages: [{ role: 'user' }] }, /messages\[0\]\.content is required/],
  ['anthropic-messages', { messages: [{ role: 'user', content: [{ text: 'x' }] }] }, /messages\[0\]\.content\[0\]\.type is required/],
  ['anthropic-messages', { messages: user, max_tokens: '1024' }, /max_tokens must be integer/],
  ['anthropic-messages', { messages: user, system: 5 }, /system must be string or array/],
  ['anthropic-messages', { messages: user, tools: [{ input_schema: {} }] }, /tools\[0\]\.name is required/],
  ['anthropic-messages', { messages: user, tool_choice: 'auto' }, /tool_choice must be object/],
  ['bedrock-converse', { inferenceConfig: {} }, /messages is required/],
  ['bedrock-converse', { messages: [{ role: 'user', content: 'hi' }] }, /messages\[0\]\.content must be array/],
  ['bedrock-converse', { messages: [{ role: 'user', content: [] }], inferenceConfig: { maxTokens: 0 } }, /inferenceConfig\.maxTokens must be >= 1/],
  ['bedrock-converse', { messages: [{ role: 'user', content: [] }], toolConfig: { tools: [{ toolSpec: {} }] } }, /toolConfig\.tools\[0\]\.toolSpec\.name is required/],
  ['google-genai', {}, /contents is required/],
  ['google-genai', { contents: [] }, /contents must NOT have fewer than 1 items/],
  ['google-genai', { contents: [{ role: 'user' }] }, /contents\[0\]\.parts is required/],
  ['google-genai', { contents: [{ role: 'user', parts: [] }] }, /contents\[0\]\.parts must NOT have fewer than 1 items/],
  ['google-genai', { contents: [{ parts: ['hi'] }] }, /contents\[0\]\.parts\[0\] must be object/],
  ['google-genai', { contents: [{ parts: [{ text: 'x' }] }], generationConfig: { maxOutputTokens: 0 } }, /generationConfig\.maxOutputTokens must be >= 1/],
  ['google-genai', { contents: [{ parts: [{ text: 'x' }] }], tools: [{ functionDeclarations: [{ description: 'd' }] }] }, /tools\[0\]\.functionDeclarations\[0\]\.name is required/],
];

describe('request schemas', () => {
  for (const [protocol, what, body] of valid) {
    it(`accepts ${protocol}: ${what}`, () => {
      assert.equal(problem(protocol, body), undefined);
    });
  }
  for (const [protocol, body, expected] of invalid) {
    it(`refuses ${protocol} ${JSON.stringify(body)}, naming the field`, () => {
      const message = problem(protocol, body) ?? 'accepted';
      assert.match(message, new RegExp(`^invalid ${protocol} request: `));
      assert.match(message, expected);
    });
  }
  it('accepts any JSON object for passthrough', () => {
    assert.equal(problem('passthrough', { messages: 'anything' }), undefined);
  });
});

describe('request schemas through the gateway', () => {
  let up: FakeOpenAI;
  let gw: TestGateway;

  before(async () => {
    up = await startFakeOpenAI({ name: 'up' });
    const plugin = { 'ai-proxy-multi': { instances: [instance('up', up.url)] } };
    gw = await startGateway({
      server: { host: '127.0.0.1', port: 0 },
      admin: false,
      routes: [
        { id: 'v1', uris: ['/v1/*', '/model/*'], plugins: plugin },
        { id: 'anything', uri: '/anything', plugins: plugin },
      ],
    });
  });
  after(async () => {
    await gw.close();
    await up.close();
  });
  beforeEach(() => up.reset());

  it('answers a body that does not fit its endpoint with 400 in the client shape and no upstream call', async () => {
    for (const body of [{}, { messages: 'hi' }, { messages: [1, 2, 3] }, { input: 'x' }]) {
      const res = await postJson(`${gw.url}/v1/chat/completions`, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      const error = (res.json as { error: { type: string; code: string; message: string } }).error;
      assert.equal(error.type, 'invalid_request_error');
      assert.equal(error.code, 'invalid_request_body');
      assert.match(error.message, /^invalid openai-chat request: messages/);
    }
    const claude = await postJson(`${gw.url}/v1/messages`, { model: 'c', max_tokens: 5, messages: [{ role: 'user', content: 3 }] });
    assert.equal(claude.status, 400);
    assert.deepEqual(Object.keys(claude.json as object), ['type', 'error']);
    assert.match((claude.json as { error: { message: string } }).error.message, /messages\[0\]\.content must be string or array/);
    const bedrock = await postJson(`${gw.url}/model/m/converse`, { inferenceConfig: { maxTokens: 5 } });
    assert.equal(bedrock.status, 400);
    assert.match((bedrock.json as { message: string }).message, /messages is required/);
    assert.equal(bedrock.headers.get('x-amzn-errortype'), 'ValidationException');
    const embeddings = await postJson(`${gw.url}/v1/embeddings`, { model: 'e', input: { text: 'x' } });
    assert.equal(embeddings.status, 400);
    const responses = await postJson(`${gw.url}/v1/responses`, { model: 'r', messages: [] });
    assert.equal(responses.status, 400);
    assert.equal(up.calls(), 0);
  });

  it('still lets the body decide on an /anything route, and passes other JSON through on other paths', async () => {
    const chat = await postJson(`${gw.url}/anything`, chatBody());
    assert.equal(chat.status, 200);
    assert.equal(up.requests[0]?.path, '/v1/chat/completions');
    const bad = await postJson(`${gw.url}/anything`, { messages: [1] });
    assert.equal(bad.status, 400, 'a body detected as chat is checked as chat');
    const other = await postJson(`${gw.url}/v1/images/generations`, { prompt: 'a cat', messages: 'not chat' });
    assert.equal(other.status, 404, 'passthrough: the fake has no images endpoint and its 404 is relayed');
    assert.equal(up.requests[1]?.path, '/v1/images/generations');
  });
});

import assert from 'node:assert/strict';
import { deepFreeze } from '../../../lib/config/normalise.ts';
import { ProtocolNotSupportedError } from '../../../lib/errors.ts';
import {
  openaiEmbeddingsToVertexPredict as converter,
  toBase64Embeddings,
  vertexPredictToOpenaiEmbeddings,
} from '../../../lib/protocols/converters/openai-embeddings-to-vertex-predict.ts';
import type { JsonObject } from '../../../lib/protocols/types.ts';

// OpenAI embeddings ↔ Vertex AI `:predict` (docs/protocols.md#embeddings-over-vertex-predict).

/** What openai-node does with a base64 embedding: the bytes read as little-endian float32s. */
function toFloat32Array(base64: string): number[] {
  const bytes = Buffer.from(base64, 'base64');
  return Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
}
const ctx = { model: 'text-embedding-005', stream: false };
// Values that survive float32 exactly, so the base64 round trip can be compared with equality.
const predict = {
  predictions: [
    { embeddings: { statistics: { truncated: false, token_count: 6 }, values: [0.5, -0.25, 0.125] } },
    { embeddings: { statistics: { truncated: false, tokenCount: 4 }, values: [1, 0, -1] } },
  ],
  metadata: { billableCharacterCount: 38 },
};

describe('openaiEmbeddingsToVertexPredict request', () => {
  it('sends each input text as one instance, auto-truncated, with dimensions as outputDimensionality', () => {
    const client = deepFreeze({ model: 'text-embedding-3-small', input: ['first text', 'second text'], dimensions: 256, encoding_format: 'base64' });
    assert.deepEqual(converter.request(client, ctx), {
      instances: [{ content: 'first text' }, { content: 'second text' }],
      parameters: { autoTruncate: true, outputDimensionality: 256 },
    });
  });

  it('takes a single string and leaves outputDimensionality to the model when no dimensions are given', () => {
    assert.deepEqual(converter.request(deepFreeze({ input: 'hello' }), ctx), {
      instances: [{ content: 'hello' }],
      parameters: { autoTruncate: true },
    });
  });

  const refused: Array<[string, unknown]> = [
    ['token ids', [15339, 1917]],
    ['lists of token ids', [[15339], [1917]]],
    ['an empty list', []],
    ['a missing input', undefined],
  ];
  for (const [what, input] of refused) {
    it(`refuses ${what} with a 400 ProtocolNotSupportedError`, () => {
      assert.throws(() => converter.request(deepFreeze({ input }), ctx), (err: unknown) => err instanceof ProtocolNotSupportedError && err.status === 400);
    });
  }
});

describe('openaiEmbeddingsToVertexPredict response', () => {
  it('lists one embedding per prediction, in order, with usage summed from token_count and tokenCount', () => {
    assert.deepEqual(converter.response(deepFreeze(structuredClone(predict)), ctx), {
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: [0.5, -0.25, 0.125] },
        { object: 'embedding', index: 1, embedding: [1, 0, -1] },
      ],
      model: 'text-embedding-005',
      usage: { prompt_tokens: 10, total_tokens: 10 },
    });
  });

  it('counts zero tokens when Vertex sends no statistics', () => {
    const converted = converter.response({ predictions: [{ embeddings: { values: [0.5] } }] }, ctx);
    assert.deepEqual(converted['usage'], { prompt_tokens: 0, total_tokens: 0 });
  });

  it('fails with a 502 on a 2xx body without predictions', () => {
    assert.throws(() => converter.response({ error: 'x' }, ctx), { code: 'UPSTREAM_MALFORMED', status: 502 });
    assert.throws(() => converter.response({ predictions: [{ embeddings: {} }] }, ctx), { status: 502 });
  });

  it('encodes vectors as base64 float32 little-endian that decode back to the same numbers', () => {
    const floats = deepFreeze(converter.response(structuredClone(predict), ctx));
    const encoded = toBase64Embeddings(floats);
    const data = encoded['data'] as JsonObject[];
    assert.equal(data[0]?.['embedding'], Buffer.from(new Float32Array([0.5, -0.25, 0.125]).buffer).toString('base64'));
    assert.deepEqual(toFloat32Array(String(data[0]?.['embedding'])), [0.5, -0.25, 0.125]);
    assert.deepEqual(toFloat32Array(String(data[1]?.['embedding'])), [1, 0, -1]);
    assert.deepEqual({ ...encoded, data: undefined }, { ...floats, data: undefined });
  });

  it('rounds values that float32 cannot hold the way the OpenAI API does', () => {
    const encoded = toBase64Embeddings({ data: [{ object: 'embedding', index: 0, embedding: [0.1, -0.0456] }] });
    const embedding = (encoded['data'] as JsonObject[])[0]?.['embedding'];
    assert.deepEqual(toFloat32Array(String(embedding)), [Math.fround(0.1), Math.fround(-0.0456)]);
  });

  it('converts in one call honouring the client body: base64 when asked, floats otherwise', () => {
    const asked = vertexPredictToOpenaiEmbeddings(predict, { input: ['a', 'b'], encoding_format: 'base64' }, 'text-embedding-005');
    assert.equal(typeof (asked['data'] as JsonObject[])[1]?.['embedding'], 'string');
    const plain = vertexPredictToOpenaiEmbeddings(predict, { input: ['a', 'b'], model: 'client-model' }, undefined);
    assert.deepEqual((plain['data'] as JsonObject[])[1]?.['embedding'], [1, 0, -1]);
    assert.equal(plain['model'], 'client-model');
  });
});

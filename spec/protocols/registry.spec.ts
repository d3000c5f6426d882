import assert from 'node:assert/strict';
import { endpointProtocol, errorShapeForPath } from '../../lib/protocols/detect.ts';
import { clientProtocolNames, clientProtocols, upstreamProtocolNames } from '../../lib/protocols/registry.ts';

// A protocol registered by half (a descriptor without its endpoint, schema or decoder) fails here,
// not on a client's request.
describe('the protocol registry', () => {
  it('holds every client protocol under its own name, with a decoder, an error shape and a stream grammar', () => {
    assert.ok(clientProtocolNames.length >= 6);
    for (const name of clientProtocolNames) {
      const p = clientProtocols[name];
      assert.equal(p.name, name);
      assert.ok(['openai', 'anthropic', 'bedrock', 'google'].includes(p.errorShape), name);
      const decoder = p.createDecoder();
      assert.ok(typeof decoder.push === 'function' && typeof decoder.end === 'function', name);
      assert.ok(p.createStreamObserver(false), name);
      assert.ok(typeof p.streamErrorFrame('x') === 'string' || p.streamErrorFrame('x') instanceof Uint8Array, name);
    }
    assert.ok(upstreamProtocolNames.includes('vertex-predict'));
  });

  it('gives every protocol a client reaches by its endpoint a request schema, and each endpoint to one protocol', () => {
    const seen = new Map<string, string>();
    for (const name of clientProtocolNames) {
      const p = clientProtocols[name];
      if (p.endpoints.length > 0) assert.ok(p.requestSchema, `${name} has endpoints but no request schema`);
      for (const suffix of p.endpoints) {
        assert.equal(seen.get(suffix), undefined, `${suffix} is claimed twice`);
        seen.set(suffix, name);
        assert.equal(endpointProtocol(`/any/prefix${suffix}`), name, suffix);
        assert.equal(errorShapeForPath(`/x${suffix}`), p.errorShape, suffix);
      }
    }
    assert.equal(endpointProtocol('/v1/threads/t/messages'), undefined, "OpenAI's thread messages are not Anthropic's");
    assert.equal(errorShapeForPath('/anything'), 'openai');
  });
});

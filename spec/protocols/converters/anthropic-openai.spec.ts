import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { GatewayError } from '../../../lib/errors.ts';
import { checkConvertedStream, decodeStream } from '../../support/converted-stream.ts';
import { checkConvertedRequest, checkConvertedResponse, wire } from '../../support/protocol-invariants.ts';
import { directions, encodeAll, jsonFixtures, runStream, STREAM_CTX, streamFixtures } from './anthropic-openai-support.ts';
import type { Direction } from './anthropic-openai-support.ts';

// Table-driven: every fixture under spec/fixtures/converters/anthropic-openai/ is one test. Inputs are
// deep-frozen, so a converter that mutates its input (which a fallback would then reuse) throws. Each
// case is also held to the protocols' own rules (spec/support/), which no golden file can override.

function describeDirection(d: Direction): void {
  describe(`${d.converter.from} client → ${d.converter.to} provider`, () => {
    describe('request', () => {
      for (const f of jsonFixtures(d.dir, 'requests')) {
        it(`${f.it} (${f.file})`, () => {
          if (f.error) {
            assert.throws(() => d.converter.request(f.input, f.ctx), (err) => err instanceof GatewayError && err.code === f.error && err.status === 400);
          } else {
            const out = d.converter.request(f.input, f.ctx);
            checkConvertedRequest(d.converter, f.input, out);
            assert.deepEqual(out, f.expected);
          }
        });
      }
    });

    describe('response', () => {
      for (const f of jsonFixtures(d.dir, 'responses')) {
        it(`${f.it} (${f.file})`, () => {
          const before = Math.floor(Date.now() / 1000);
          const out = d.converter.response(f.input, f.ctx);
          checkConvertedResponse(d.converter, f.input, out);
          if (d.dir === 'openai-to-anthropic') {
            // `created` is the conversion time: Anthropic messages carry none.
            assert.ok(typeof out['created'] === 'number' && out['created'] >= before && out['created'] <= Date.now() / 1000);
            out['created'] = 0;
          }
          assert.deepEqual(out, f.expected);
        });
      }
    });

    describe('stream', () => {
      for (const f of streamFixtures(d.dir)) {
        it(`converts ${f.it} (${f.name})`, () => {
          const events = runStream(d, f.upstream);
          checkConvertedStream(d.converter, STREAM_CTX, decodeStream(wire(d.converter.to), f.upstream));
          assert.ok(existsSync(f.clientPath), `missing ${f.clientPath}`);
          assert.equal(encodeAll(d, events), readFileSync(f.clientPath, 'utf8'));
        });

        it(`gives the same output for ${f.name} split at every byte boundary, and one byte at a time`, () => {
          const whole = encodeAll(d, runStream(d, f.upstream));
          for (let at = 1; at < f.upstream.length; at++) {
            const split = encodeAll(d, runStream(d, f.upstream, [at]));
            if (split !== whole) assert.equal(split, whole, `split at byte ${at}`);
          }
          const bytes = Array.from({ length: f.upstream.length - 1 }, (_, i) => i + 1);
          assert.equal(encodeAll(d, runStream(d, f.upstream, bytes)), whole);
        });
      }
    });
  });
}

describe('anthropic-messages ↔ openai-chat converters', () => {
  for (const d of directions) describeDirection(d);
});

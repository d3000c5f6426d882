import assert from 'node:assert/strict';
import type { ClientProtocol } from '../../lib/protocols/client-protocol.ts';

/**
 * Feeds `frames` (after `commit`, which reaches the commit point) to two observers of `protocol`: one
 * classifies every event, the other skips each chunk its `plainContent` calls plain. Chunks are the
 * frames one by one, then in twos and threes. After every chunk both must report the same, and a skipped
 * chunk must hold no error. Returns how many chunks were skipped, so a caller can see the test bit.
 */
export function checkPlainContent(protocol: ClientProtocol, commit: readonly string[], frames: readonly string[]): number {
  let skipped = 0;
  for (const group of [1, 2, 3]) {
    const fast = protocol.createStreamObserver(false);
    const slow = protocol.createStreamObserver(false);
    const decoder = protocol.createDecoder();
    for (const event of decoder.push(Buffer.from(commit.join('')))) {
      fast.classify(event);
      slow.classify(event);
    }
    for (let i = 0; i < frames.length; i += group) {
      const chunk = Buffer.from(frames.slice(i, i + group).join(''));
      const events = decoder.push(chunk);
      const classes = events.map((event) => slow.classify(event));
      if (fast.plainContent?.(chunk)) {
        skipped += 1;
        assert.ok(!classes.includes('error') && !classes.includes('done'), `chunk ${i} was skipped but is ${classes.join(', ')}`);
      } else {
        for (const event of events) fast.classify(event);
      }
      for (const read of ['finished', 'usage', 'model', 'text', 'errorMessage', 'toolCalls'] as const) {
        assert.deepEqual(fast[read](), slow[read](), `${read} after chunk ${i} (groups of ${group})`);
      }
    }
  }
  return skipped;
}

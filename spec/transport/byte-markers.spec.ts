import assert from 'node:assert/strict';
import { markerScanner } from '../../lib/transport/byte-markers.ts';

const bytes = (text: string): Uint8Array => Buffer.from(text, 'latin1');

/** Every marker found, in the order the scan reports them, as [marker, end]. */
function found(markers: string[], text: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  markerScanner(markers)(bytes(text), (_b, marker, end) => (out.push([marker, end]), true));
  return out;
}

/** The same, by searching for each marker at each position from the end. */
function naive(markers: string[], text: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = text.length - 1; i >= 0; i--) markers.forEach((m, k) => text.startsWith(m, i) && out.push([k, i + m.length]));
  return out;
}

describe('markerScanner', () => {
  it('reports each marker where it ends, the last first: at the very end, in the middle and at the start', () => {
    const markers = ['"usage"', '"error"', '[DONE]'];
    assert.deepEqual(found(markers, '"usage":{}, "error": 1 [DONE]'), [[2, 29], [1, 19], [0, 7]]);
    assert.deepEqual(found(markers, 'data: [DONE'), [], 'a marker cut off by the end is not one');
    assert.deepEqual(found(markers, '\\"usage\\"'), [], 'an escaped quote is not the marker');
  });

  it('finds markers that share their first bytes, overlap or touch', () => {
    const markers = ['message_start', 'message_stop', 'sto', 'ab', 'ba'];
    assert.deepEqual(found(markers, 'message_stop message_start abab'), naive(markers, 'message_stop message_start abab'));
  });

  it('stops as soon as the callback says so, and says it stopped', () => {
    const scan = markerScanner(['ab']);
    const ends: number[] = [];
    assert.equal(scan(bytes('ab ab ab'), (_b, _m, end) => (ends.push(end), false)), false);
    assert.deepEqual(ends, [8], 'only the last one was reported');
    assert.equal(scan(bytes('xyz'), () => false), true);
    assert.equal(scan(bytes(''), () => false), true);
    assert.equal(scan(bytes('a'), () => false), true);
  });

  it('agrees with a naive search on random text over a small alphabet', () => {
    const markers = ['"fin', '"u"', 'ab"', 'aab', '[D]'];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let round = 0; round < 300; round++) {
      const text = Array.from({ length: next() % 60 }, () => 'ab"u[D]fin'[next() % 10]).join('');
      assert.deepEqual(found(markers, text), naive(markers, text), JSON.stringify(text));
    }
  });

  it('refuses a marker that is shorter than two bytes or not printable ASCII', () => {
    for (const bad of ['', 'a', 'caf\u00e9', 'a\nb']) assert.throws(() => markerScanner([bad]), /two or more printable ASCII/);
  });
});

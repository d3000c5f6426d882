import assert from 'node:assert/strict';
import { createConsistentHash, hashString32 } from '../../lib/balancer/chash.ts';

const all = (): boolean => true;

// Deterministic "random" keys, so a failure reproduces.
function randomKeys(n: number, seed = 42): string[] {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
  return Array.from({ length: n }, () => `user-${next().toString(36)}-${next().toString(36)}`);
}

const members = [
  { name: 'a', weight: 1 },
  { name: 'b', weight: 1 },
  { name: 'c', weight: 2 },
];

describe('createConsistentHash', () => {
  it('sends the same key to the same member 1000 times, whatever is picked in between', () => {
    const ring = createConsistentHash(members);
    const first = ring.pick('session-123', all);
    assert.ok(first !== undefined);
    const others = randomKeys(1000);
    for (const other of others) {
      ring.pick(other, all);
      assert.equal(ring.pick('session-123', all), first);
    }
  });

  it('spreads 10k random keys roughly by weight', () => {
    const ring = createConsistentHash(members);
    const counts = new Map<string, number>();
    for (const key of randomKeys(10_000)) {
      const name = ring.pick(key, all) as string;
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    // Expected 2500 / 2500 / 5000; a 640-point ring typically lands within 10%.
    for (const [name, expected] of [['a', 2500], ['b', 2500], ['c', 5000]] as const) {
      const got = counts.get(name) ?? 0;
      assert.ok(Math.abs(got - expected) < expected * 0.2, `${name}: ${got} of 10000, expected ~${expected}`);
    }
  });

  it('moves only the keys of an excluded member; every other key stays exactly where it was', () => {
    const ring = createConsistentHash(members);
    const keys = randomKeys(5000, 7);
    const before = keys.map((k) => ring.pick(k, all));
    const after = keys.map((k) => ring.pick(k, (name) => name !== 'b'));
    let moved = 0;
    keys.forEach((_, i) => {
      if (before[i] === 'b') {
        assert.notEqual(after[i], 'b');
        assert.ok(after[i] !== undefined);
        moved++;
      } else {
        assert.equal(after[i], before[i], `key ${keys[i]} moved from ${before[i]} to ${after[i]}`);
      }
    });
    assert.ok(moved > 500, `b owned only ${moved} keys`);
    // When b comes back, its keys come back to it.
    assert.deepEqual(keys.map((k) => ring.pick(k, all)), before);
  });

  it('builds the same ring whatever order the members are listed in', () => {
    const forward = createConsistentHash(members);
    const backward = createConsistentHash([...members].reverse());
    for (const key of randomKeys(2000, 3)) assert.equal(backward.pick(key, all), forward.pick(key, all));
  });

  it('keeps a weight-0 member off the ring while any member has weight', () => {
    const ring = createConsistentHash([...members, { name: 'zero', weight: 0 }]);
    const picked = new Set(randomKeys(5000).map((k) => ring.pick(k, all)));
    assert.ok(!picked.has('zero'));
    // Even when it is the only eligible member, it is not on the ring to be found.
    for (const key of randomKeys(200)) assert.equal(ring.pick(key, (name) => name === 'zero'), undefined);
  });

  it('puts every member on the ring when all weights are 0', () => {
    const ring = createConsistentHash([
      { name: 'x', weight: 0 },
      { name: 'y', weight: 0 },
    ]);
    const picked = new Set(randomKeys(1000).map((k) => ring.pick(k, all)));
    assert.deepEqual([...picked].sort(), ['x', 'y']);
  });

  it('asks about each member at most once per pick and gives up when all refuse', () => {
    const ring = createConsistentHash(members);
    const asked: string[] = [];
    const result = ring.pick('any-key', (name) => {
      asked.push(name);
      return false;
    });
    assert.equal(result, undefined);
    assert.deepEqual([...asked].sort(), ['a', 'b', 'c']);
  });

  it('returns undefined for an empty ring', () => {
    assert.equal(createConsistentHash([]).pick('k', all), undefined);
  });

  it('scales an oversized ring down but keeps the weight ratio', () => {
    const ring = createConsistentHash([
      { name: 'big', weight: 3000 },
      { name: 'small', weight: 1000 },
    ]);
    let big = 0;
    for (const key of randomKeys(10_000, 11)) if (ring.pick(key, all) === 'big') big++;
    assert.ok(Math.abs(big - 7500) < 500, `big got ${big} of 10000`);
  });

  it('refuses a virtualNodes option that is not a positive integer', () => {
    assert.throws(() => createConsistentHash(members, { virtualNodes: 0 }), RangeError);
    assert.throws(() => createConsistentHash(members, { virtualNodes: 1.5 }), RangeError);
  });

  it('hashes strings to stable unsigned 32-bit values', () => {
    assert.equal(hashString32('abc'), hashString32('abc'));
    assert.notEqual(hashString32('abc'), hashString32('abd'));
    const h = hashString32('😀 é');
    assert.ok(Number.isInteger(h) && h >= 0 && h <= 0xffffffff);
  });
});

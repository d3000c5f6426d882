import assert from 'node:assert/strict';
import { createWeightedRoundRobin } from '../../lib/balancer/weighted-round-robin.ts';

const all = (): boolean => true;
const except =
  (...names: string[]) =>
  (name: string): boolean =>
    !names.includes(name);

function picks(n: number, pick: () => string | undefined): Array<string | undefined> {
  return Array.from({ length: n }, pick);
}

function countOf(seq: ReadonlyArray<string | undefined>, name: string): number {
  return seq.filter((x) => x === name).length;
}

describe('createWeightedRoundRobin', () => {
  it('gives weights 4:1 exactly 8 and 2 of 10 picks', () => {
    const wrr = createWeightedRoundRobin([
      { name: 'a', weight: 4 },
      { name: 'b', weight: 1 },
    ]);
    const seq = picks(10, () => wrr.pick(all));
    assert.equal(countOf(seq, 'a'), 8);
    assert.equal(countOf(seq, 'b'), 2);
  });

  it('interleaves 4:1 as a,a,b,a,a in every cycle instead of sending four in a row first', () => {
    const wrr = createWeightedRoundRobin([
      { name: 'a', weight: 4 },
      { name: 'b', weight: 1 },
    ]);
    const seq = picks(10, () => wrr.pick(all));
    assert.deepEqual(seq, ['a', 'a', 'b', 'a', 'a', 'a', 'a', 'b', 'a', 'a']);
    // Within a cycle the heavy member never runs three in a row (8 of 10 cannot avoid it across two).
    for (let start = 0; start < 10; start += 5) {
      assert.ok(!seq.slice(start, start + 5).join('').includes('aaa'), `cycle at ${start}: ${seq.join('')}`);
    }
  });

  it('keeps every prefix within one pick of the exact weighted share', () => {
    const wrr = createWeightedRoundRobin([
      { name: 'a', weight: 4 },
      { name: 'b', weight: 1 },
    ]);
    let a = 0;
    for (let n = 1; n <= 100; n++) {
      if (wrr.pick(all) === 'a') a++;
      assert.ok(Math.abs(a - (n * 4) / 5) < 1, `after ${n} picks a had ${a}`);
    }
  });

  it('follows the sequence nginx documents for weights 5:1:1: a,a,b,a,c,a,a', () => {
    const wrr = createWeightedRoundRobin([
      { name: 'a', weight: 5 },
      { name: 'b', weight: 1 },
      { name: 'c', weight: 1 },
    ]);
    const cycle = ['a', 'a', 'b', 'a', 'c', 'a', 'a'];
    assert.deepEqual(picks(14, () => wrr.pick(all)), [...cycle, ...cycle]);
  });

  it('skips an ineligible member and shares its turns among the others by weight', () => {
    const wrr = createWeightedRoundRobin([
      { name: 'a', weight: 2 },
      { name: 'b', weight: 3 },
      { name: 'c', weight: 1 },
    ]);
    const seq = picks(30, () => wrr.pick(except('b')));
    assert.equal(countOf(seq, 'b'), 0);
    assert.equal(countOf(seq, 'a'), 20);
    assert.equal(countOf(seq, 'c'), 10);
  });

  it('gives a member that becomes eligible again its full share straight away', () => {
    const wrr = createWeightedRoundRobin([
      { name: 'a', weight: 1 },
      { name: 'b', weight: 1 },
      { name: 'c', weight: 1 },
    ]);
    picks(7, () => wrr.pick(except('b')));
    const after = picks(30, () => wrr.pick(all));
    for (const name of ['a', 'b', 'c']) {
      assert.ok(Math.abs(countOf(after, name) - 10) <= 1, `${name}: ${after.join('')}`);
    }
  });

  it('never picks a weight-0 member while a weighted member is eligible', () => {
    const wrr = createWeightedRoundRobin([
      { name: 'standby', weight: 0 },
      { name: 'a', weight: 1 },
      { name: 'b', weight: 2 },
    ]);
    assert.equal(countOf(picks(100, () => wrr.pick(all)), 'standby'), 0);
    assert.equal(countOf(picks(100, () => wrr.pick(except('a'))), 'standby'), 0);
  });

  it('picks weight-0 members in turn once no weighted member is eligible', () => {
    const wrr = createWeightedRoundRobin([
      { name: 'a', weight: 3 },
      { name: 's1', weight: 0 },
      { name: 's2', weight: 0 },
    ]);
    assert.deepEqual(
      picks(4, () => wrr.pick(except('a'))),
      ['s1', 's2', 's1', 's2'],
    );
    assert.deepEqual(picks(3, () => wrr.pick(except('a', 's1'))), ['s2', 's2', 's2']);
  });

  it('returns undefined when no member is eligible, and for an empty member list', () => {
    const wrr = createWeightedRoundRobin([{ name: 'a', weight: 1 }]);
    assert.equal(wrr.pick(() => false), undefined);
    assert.equal(createWeightedRoundRobin([]).pick(all), undefined);
  });

  it('refuses a negative or non-finite weight', () => {
    assert.throws(() => createWeightedRoundRobin([{ name: 'a', weight: -1 }]), RangeError);
    assert.throws(() => createWeightedRoundRobin([{ name: 'a', weight: Number.NaN }]), RangeError);
  });
});

import assert from 'node:assert/strict';
import { createPicker, groupsOf, type PickContext, type Picker } from '../../lib/balancer/picker.ts';

const none: ReadonlySet<string> = new Set();

function picks(picker: Picker, n: number, ctx: PickContext = { exclude: none }): Array<string | undefined> {
  return Array.from({ length: n }, () => picker.pick(ctx));
}

const tiered = [
  { name: 'primary-a', weight: 4, priority: 10 },
  { name: 'primary-b', weight: 1, priority: 10 },
  { name: 'backup', weight: 1, priority: 0 },
];

describe('createPicker', () => {
  it('serves from the highest priority group only, by weight inside it', () => {
    const picker = createPicker(tiered, { algorithm: 'roundrobin' });
    const seq = picks(picker, 10);
    assert.equal(seq.filter((x) => x === 'primary-a').length, 8);
    assert.equal(seq.filter((x) => x === 'primary-b').length, 2);
    assert.ok(!seq.includes('backup'));
  });

  it('stays in the higher group while any of its members is left', () => {
    const picker = createPicker(tiered, { algorithm: 'roundrobin' });
    const ctx = { exclude: new Set(['primary-a']) };
    assert.deepEqual(picks(picker, 3, ctx), ['primary-b', 'primary-b', 'primary-b']);
  });

  it('falls to the lower group once every higher member is excluded', () => {
    const picker = createPicker(tiered, { algorithm: 'roundrobin' });
    assert.equal(picker.pick({ exclude: new Set(['primary-a', 'primary-b']) }), 'backup');
  });

  it('falls to the lower group once every higher member is ineligible, and mixes both filters', () => {
    const picker = createPicker(tiered, { algorithm: 'roundrobin' });
    const unhealthy = (name: string): boolean => !name.startsWith('primary');
    assert.equal(picker.pick({ exclude: none, eligible: unhealthy }), 'backup');
    const bOpen = (name: string): boolean => name !== 'primary-b';
    assert.equal(picker.pick({ exclude: new Set(['primary-a']), eligible: bOpen }), 'backup');
  });

  it('returns undefined when every instance is excluded or ineligible', () => {
    const picker = createPicker(tiered, { algorithm: 'roundrobin' });
    assert.equal(picker.pick({ exclude: new Set(['primary-a', 'backup']), eligible: (n) => n !== 'primary-b' }), undefined);
  });

  it('tries each instance once across a request whose attempts exclude the ones already tried', () => {
    const picker = createPicker(tiered, { algorithm: 'roundrobin' });
    const tried = new Set<string>();
    for (let attempt = 0; attempt < 3; attempt++) {
      const name = picker.pick({ exclude: tried });
      assert.ok(name !== undefined && !tried.has(name));
      tried.add(name);
    }
    assert.equal(picker.pick({ exclude: tried }), undefined);
    assert.deepEqual([...tried].slice(-1), ['backup']);
  });

  it('uses a weight-0 instance only when no weighted instance of any priority can serve', () => {
    const picker = createPicker(
      [
        { name: 'standby', weight: 0, priority: 100 },
        { name: 'main', weight: 1, priority: 1 },
        { name: 'spare', weight: 1, priority: 0 },
      ],
      { algorithm: 'roundrobin' },
    );
    assert.ok(!picks(picker, 20).includes('standby'));
    assert.equal(picker.pick({ exclude: new Set(['main']) }), 'spare');
    assert.equal(picker.pick({ exclude: new Set(['main', 'spare']) }), 'standby');
  });

  describe('with chash', () => {
    const pool = [
      { name: 'a', weight: 1, priority: 1 },
      { name: 'b', weight: 1, priority: 1 },
      { name: 'c', weight: 1, priority: 1 },
      { name: 'fallback', weight: 1, priority: 0 },
    ];

    it('sends the same hash key to the same instance every time', () => {
      const picker = createPicker(pool, { algorithm: 'chash' });
      const first = picker.pick({ exclude: none, hashKey: 'user-1' });
      assert.ok(first !== undefined && first !== 'fallback');
      assert.deepEqual(new Set(picks(picker, 50, { exclude: none, hashKey: 'user-1' })), new Set([first]));
    });

    it('moves a key whose owner is excluded to another member of the same group', () => {
      const picker = createPicker(pool, { algorithm: 'chash' });
      const owner = picker.pick({ exclude: none, hashKey: 'user-1' }) as string;
      const next = picker.pick({ exclude: new Set([owner]), hashKey: 'user-1' });
      assert.ok(next !== undefined && next !== owner && next !== 'fallback', `moved to ${next}`);
    });

    it('round-robins inside the group when the request has no hash key', () => {
      const picker = createPicker(pool, { algorithm: 'chash' });
      assert.deepEqual(new Set(picks(picker, 3)), new Set(['a', 'b', 'c']));
    });
  });

  it('refuses two instances with the same name', () => {
    assert.throws(
      () =>
        createPicker(
          [
            { name: 'x', weight: 1, priority: 0 },
            { name: 'x', weight: 1, priority: 1 },
          ],
          { algorithm: 'roundrobin' },
        ),
      RangeError,
    );
  });
});

describe('groupsOf', () => {
  it('orders weighted groups by priority, highest first, then the weight-0 standbys', () => {
    const groups = groupsOf([
      { name: 'low', weight: 1, priority: -5 },
      { name: 'idle', weight: 0, priority: 9 },
      { name: 'high', weight: 2, priority: 3 },
      { name: 'high2', weight: 1, priority: 3 },
    ]);
    assert.deepEqual(
      groups.map((g) => [g.priority, g.standby, g.members.map((m) => m.name)]),
      [
        [3, false, ['high', 'high2']],
        [-5, false, ['low']],
        [9, true, ['idle']],
      ],
    );
  });
});

import assert from 'node:assert/strict';
import { getHeapSpaceStatistics } from 'node:v8';
import { pino } from 'pino';
import { createIdleMemoryReducer, reduceMemoryAfterStartUp } from '../../lib/runtime/idle-memory.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A logger whose lines land in `lines`, parsed. */
function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

const newSpaceMib = (): number => (getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0) / 1048576;

describe('idle memory reducer', () => {
  it('collects once after the idle period, and again only after new activity', async () => {
    const { log } = capture();
    let collected = 0;
    const reducer = createIdleMemoryReducer(40, log, () => (collected += 1));
    reducer.idle(); // start-up has its own collection: idle before any request is not worth another
    await sleep(250);
    assert.equal(collected, 0);
    reducer.busy();
    reducer.idle();
    await sleep(250);
    assert.equal(collected, 1);
    reducer.idle(); // nothing happened since: no second collection
    await sleep(250);
    assert.equal(collected, 1);
    reducer.busy();
    reducer.idle();
    await sleep(250);
    assert.equal(collected, 2);
    reducer.stop();
  });

  it('a request that starts within the idle period cancels the collection', async () => {
    const { log } = capture();
    let collected = 0;
    const reducer = createIdleMemoryReducer(300, log, () => (collected += 1));
    reducer.idle();
    await sleep(20);
    reducer.busy(); // in flight past the period: nothing runs under a request
    await sleep(450);
    assert.equal(collected, 0);
    reducer.idle();
    await sleep(600);
    assert.equal(collected, 1);
    reducer.stop();
  });

  it('the start-up collection runs once, at once, and says what it freed', () => {
    const { log, lines } = capture();
    let collected = 0;
    reduceMemoryAfterStartUp(log, () => (collected += 1));
    assert.equal(collected, 1);
    const said = lines.filter((l) => l['msg'] === 'start-up: memory given back');
    assert.equal(said.length, 1);
    for (const field of ['rss_mb', 'rss_before_mb', 'heap_mb', 'heap_before_mb', 'gc_ms']) assert.equal(typeof said[0]?.[field], 'number', field);
  });

  it('0 never collects, and stop() cancels a pending collection', async () => {
    const { log } = capture();
    let collected = 0;
    const never = createIdleMemoryReducer(0, log, () => (collected += 1));
    never.idle();
    const stopped = createIdleMemoryReducer(30, log, () => (collected += 1));
    stopped.idle();
    stopped.stop();
    stopped.busy();
    stopped.idle();
    await sleep(200);
    assert.equal(collected, 0);
  });

  it('with V8 itself, gives back the young generation a burst grew, and says what it freed', async function () {
    this.timeout(10_000);
    // A burst whose objects live a little while: V8 grows its semi-spaces to hold them.
    let keep: unknown[] = [];
    for (let round = 0; round < 40 && newSpaceMib() < 8; round++) {
      keep = [];
      for (let i = 0; i < 100_000; i++) keep.push({ i, s: `x${i}` });
      await sleep(1);
    }
    keep = [];
    const before = newSpaceMib();
    assert.ok(before >= 8, `the burst should grow the young generation (new space ${before} MiB)`);
    const { log, lines } = capture();
    const reducer = createIdleMemoryReducer(20, log);
    reducer.busy();
    reducer.idle();
    await sleep(200);
    reducer.stop();
    assert.ok(newSpaceMib() <= before / 4, `new space ${newSpaceMib()} MiB after, ${before} MiB before`);
    const line = lines.find((l) => l['msg'] === 'idle: memory given back');
    assert.ok(line, 'a debug line reports the collection');
    assert.ok(Number(line['heap_mb']) < Number(line['heap_before_mb']), JSON.stringify(line));
    assert.equal(typeof line['gc_ms'], 'number');
    assert.equal(keep.length, 0);
  });
});

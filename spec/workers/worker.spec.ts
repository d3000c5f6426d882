import assert from 'node:assert/strict';
import { isOurWorker, workerCount, workerEnv } from '../../lib/workers/worker.ts';

describe('server.workers, worker side', () => {
  it('runs one worker per available core for "auto", and the number given otherwise', () => {
    assert.equal(workerCount('auto', 16), 16);
    assert.equal(workerCount('auto', 0), 1, 'at least one');
    assert.equal(workerCount(3, 16), 3);
  });

  it('acts as a worker only when forked by its own primary, not under another process manager\'s cluster', () => {
    assert.equal(isOurWorker(true, { [workerEnv]: '1' }), true);
    assert.equal(isOurWorker(true, {}), false, 'e.g. a process manager in cluster mode: a gateway of its own, with its admin listener');
    assert.equal(isOurWorker(false, { [workerEnv]: '1' }), false, 'a primary that inherited the variable');
  });
});

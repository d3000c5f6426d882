import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createLogger } from '../../lib/observe/logger.ts';
import { createIpcHub } from '../../lib/state/ipc-hub.ts';
import { createIpcStore } from '../../lib/state/ipc-store.ts';
import type { IpcPort } from '../../lib/state/ipc-store.ts';
import type { StateStore } from '../../lib/state/state-store.ts';

const quietLog = createLogger('silent');

/** Two ends of an IPC channel: asynchronous, and JSON on the wire as node:cluster's default channel is. */
function channel(): { worker: IpcPort; primary: IpcPort } {
  const toWorker = new EventEmitter();
  const toPrimary = new EventEmitter();
  const end = (inbox: EventEmitter, outbox: EventEmitter): IpcPort => ({
    send: (message, callback) => {
      setImmediate(() => callback(null));
      const wire = JSON.stringify(message);
      setImmediate(() => outbox.emit('message', JSON.parse(wire)));
    },
    on: (_event, listener) => inbox.on('message', listener),
    off: (_event, listener) => inbox.off('message', listener),
  });
  return { worker: end(toWorker, toPrimary), primary: end(toPrimary, toWorker) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('IPC state store: workers of one host sharing the primary\'s state', () => {
  const stores: StateStore[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  async function workers(n: number): Promise<StateStore[]> {
    const hub = createIpcHub();
    const out: StateStore[] = [];
    for (let i = 0; i < n; i++) {
      const { worker, primary } = channel();
      hub.attach(primary);
      const store = createIpcStore({ port: worker, log: quietLog });
      await store.start();
      out.push(store);
    }
    stores.push(...out);
    return out;
  }

  it('passes a put on one worker to the others and their listeners', async () => {
    const [a, b, c] = (await workers(3)) as [StateStore, StateStore, StateStore];
    const heard = new Promise<unknown>((resolve) => c.onChange((key, entry) => key === 'breaker:x' && resolve(entry?.value)));
    a.put('breaker:x', { state: 'open' }, 30_000);
    assert.deepEqual(a.get('breaker:x')?.value, { state: 'open' }, 'the writer sees it at once');
    assert.deepEqual(await heard, { state: 'open' });
    assert.deepEqual(b.get('breaker:x')?.value, { state: 'open' });
  });

  it('sums one window over the workers: 3 failures here and 2 there make 5', async () => {
    const [a, b] = (await workers(2)) as [StateStore, StateStore];
    await a.addToWindow('w', 3, 3, 10_000);
    assert.deepEqual(await b.addToWindow('w', 2, 4, 10_000), { failures: 5, total: 7 });
  });

  it('gives a lease to one worker only, until it releases it', async () => {
    const [a, b] = (await workers(2)) as [StateStore, StateStore];
    assert.equal(await a.acquireLease('probe:x', 10_000), true);
    assert.equal(await b.acquireLease('probe:x', 10_000), false);
    assert.equal(await b.renewLease('probe:x', 10_000), false);
    assert.equal(await a.renewLease('probe:x', 10_000), true);
    await a.releaseLease('probe:x');
    assert.equal(await b.acquireLease('probe:x', 10_000), true);
  });

  it('hands a worker started later (a restarted one) the current state, entries without expiry included', async () => {
    const hub = createIpcHub();
    const first = channel();
    hub.attach(first.primary);
    const a = createIpcStore({ port: first.worker, log: quietLog });
    stores.push(a);
    await a.start();
    a.put('breaker:x', 'open', 30_000);
    a.put('forever', 1, Infinity);
    await sleep(10);
    const second = channel();
    hub.attach(second.primary);
    const late = createIpcStore({ port: second.worker, log: quietLog });
    stores.push(late);
    await late.start();
    assert.equal(late.get('breaker:x')?.value, 'open');
    assert.equal(late.get('forever')?.value, 1);
  });

  it('answers from its own state when the primary does not answer in time', async () => {
    const silent: IpcPort = { send: () => true, on: () => undefined, off: () => undefined };
    const store = createIpcStore({ port: silent, log: quietLog, replyTimeoutMs: 30 });
    stores.push(store);
    await store.start();
    assert.deepEqual(await store.addToWindow('w', 1, 1, 10_000), { failures: 1, total: 1 });
    assert.equal(await store.acquireLease('probe:x', 10_000), true);
    store.put('k', 'v', 10_000);
    assert.equal(store.get('k')?.value, 'v');
  });
});

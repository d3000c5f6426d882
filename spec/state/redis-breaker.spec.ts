import assert from 'node:assert/strict';
import { ReplyError } from 'ioredis';
import { createRedisBreaker } from '../../lib/state/redis-breaker.ts';
import type { RedisBreaker } from '../../lib/state/redis-breaker.ts';

// opossum runs on real timers, so these use short ones: a 100 ms command timeout and a 150 ms reconnect
// check. Lower bounds are what each test is about; upper bounds are generous for a loaded machine.
const timeoutMs = 100;
const reconnectCheckMs = 150;

interface Harness {
  breaker: RedisBreaker;
  opened: unknown[];
  closes: number;
  halfOpen(): Promise<number>;
}

function harness(): Harness {
  const h = { opened: [] as unknown[], closes: 0 } as Harness;
  let waiters: Array<() => void> = [];
  h.breaker = createRedisBreaker({
    timeoutMs,
    reconnectCheckMs,
    onOpen: (reason) => h.opened.push(reason),
    onHalfOpen: () => {
      for (const wake of waiters.splice(0)) wake();
    },
    onClose: () => (h.closes += 1),
  });
  // Resolves at the next half-open, with how long it took from the call.
  h.halfOpen = () => {
    const started = Date.now();
    return new Promise<number>((resolve) => waiters.push(() => resolve(Date.now() - started)));
  };
  breakers.push(h.breaker);
  return h;
}
const breakers: RedisBreaker[] = [];

const refused = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6390'));
const hang = () => new Promise<never>(() => undefined);
const code = (err: unknown) => (err as { code?: string }).code;

async function rejection(work: Promise<unknown>): Promise<unknown> {
  try {
    await work;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('redis breaker (opossum around every state-store command)', function () {
  afterEach(() => {
    for (const b of breakers.splice(0)) b.shutdown();
  });

  it('opens on the first command that fails for want of Redis and turns the next ones down without sending them', async () => {
    const { breaker, opened } = harness();
    assert.equal(await breaker.run(() => Promise.resolve('PONG')), 'PONG');
    const err = await rejection(breaker.run(refused));
    assert.match(String(err), /ECONNREFUSED/, 'the caller sees the command error');
    assert.equal(breaker.isClosed(), false);
    assert.deepEqual(opened, [err], 'reported once, with its reason');
    let sent = 0;
    const turnedDown = await rejection(breaker.run(() => Promise.resolve((sent += 1))));
    assert.equal(code(turnedDown), 'EOPENBREAKER');
    assert.equal(sent, 0, 'no command goes out while it is open');
    assert.equal(opened.length, 1);
  });

  it('fails a command that gets no answer after the command timeout, and opens', async () => {
    const { breaker, opened } = harness();
    const started = Date.now();
    const err = await rejection(breaker.run(hang));
    const took = Date.now() - started;
    assert.equal(code(err), 'ETIMEDOUT');
    assert.ok(took >= timeoutMs - 5 && took < timeoutMs + 400, `gave up after ${took} ms`);
    assert.equal(breaker.isClosed(), false);
    assert.equal(opened.length, 1);
  });

  it('stays closed when Redis refuses one command (WRONGTYPE, NOPERM), but opens when it answers READONLY', async () => {
    const { breaker, opened } = harness();
    for (const message of ['WRONGTYPE Operation against a key holding the wrong kind of value', 'NOPERM no permission']) {
      const err = await rejection(breaker.run(() => Promise.reject(new ReplyError(message))));
      assert.equal((err as Error).message, message, 'the caller still sees the refusal');
    }
    assert.equal(breaker.isClosed(), true);
    assert.deepEqual(opened, []);
    await rejection(breaker.run(() => Promise.reject(new ReplyError("READONLY You can't write against a read only replica."))));
    assert.equal(breaker.isClosed(), false, 'a replica that cannot take writes is an outage');
  });

  it('lets exactly one trial command through once the reconnect check is due, and closes when it succeeds', async () => {
    const h = harness();
    const { breaker } = h;
    const halfOpen = h.halfOpen();
    await rejection(breaker.run(refused));
    const waited = await halfOpen;
    assert.ok(waited >= reconnectCheckMs - 5, `half-open after ${waited} ms`);
    let finish: (value: string) => void = () => undefined;
    const trial = breaker.run(() => new Promise<string>((resolve) => (finish = resolve)));
    let sent = 0;
    const others = await Promise.all([1, 2, 3].map(() => rejection(breaker.run(() => Promise.resolve((sent += 1))))));
    assert.deepEqual(others.map(code), ['EOPENBREAKER', 'EOPENBREAKER', 'EOPENBREAKER']);
    assert.equal(sent, 0, 'commands during the trial do not reach Redis');
    finish('PONG');
    assert.equal(await trial, 'PONG');
    assert.equal(breaker.isClosed(), true);
    assert.equal(h.closes, 1);
    assert.equal(await breaker.run(() => Promise.resolve('OK')), 'OK');
    assert.equal(h.opened.length, 1);
  });

  it('opens again when the trial fails or times out, and tries once more an interval later', async () => {
    const h = harness();
    await rejection(h.breaker.run(refused));
    await h.halfOpen();
    assert.equal(code(await rejection(h.breaker.run(hang))), 'ETIMEDOUT');
    assert.equal(h.breaker.isClosed(), false);
    assert.equal(h.opened.length, 2, 'each opening is reported: the store logs only the first of an outage');
    const waited = await h.halfOpen();
    assert.ok(waited >= reconnectCheckMs - 5, `next check after ${waited} ms`);
    await h.breaker.run(() => Promise.resolve('PONG'));
    assert.equal(h.breaker.isClosed(), true);
  });

  it('opens at once when tripped (a dropped connection), but leaves a trial under way to decide', async () => {
    const h = harness();
    const reason = new Error('connection closed');
    h.breaker.trip(reason);
    assert.equal(h.breaker.isClosed(), false);
    assert.deepEqual(h.opened, [reason]);
    h.breaker.trip(new Error('again'));
    assert.equal(h.opened.length, 1, 'tripping an open breaker changes nothing');
    await h.halfOpen();
    let finish: (value: string) => void = () => undefined;
    const trial = h.breaker.run(() => new Promise<string>((resolve) => (finish = resolve)));
    h.breaker.trip(new Error('connection closed'));
    finish('PONG');
    await trial;
    assert.equal(h.breaker.isClosed(), true);
    assert.equal(h.opened.length, 1);
  });

  it('turns every command down after shutdown', async () => {
    const { breaker } = harness();
    breaker.shutdown();
    let sent = 0;
    await rejection(breaker.run(() => Promise.resolve((sent += 1))));
    assert.equal(sent, 0);
  });
});

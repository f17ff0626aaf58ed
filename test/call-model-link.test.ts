// The model link's state machine against a fake bridge and fake timers: the first session, the
// greeting only on the first ready session, reconnects on the configured delays, giving up after
// the last, stale sessions ignored, and no timer or session left after close.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ModelLink, type ModelLinkEvents } from '../src/server/call/model-link.js';
import type { CallBoundary } from '../src/server/call/boundary.js';
import type { CallRecord } from '../src/server/call/record.js';
import { fakeModel, keptLog, newRecord, type FakeModel, type KeptLog } from './helpers/call-fakes.js';

interface Harness {
  link: ModelLink;
  model: FakeModel;
  record: CallRecord;
  log: KeptLog;
  events: string[];
  thrown: unknown[];
}

function harness(delays = [20, 40, 80], throwOn?: string): Harness {
  const log = keptLog();
  const record = newRecord(log);
  record.callSid = 'CA1';
  const model = fakeModel();
  const events: string[] = [];
  const thrown: unknown[] = [];
  const boundary: CallBoundary = {
    run(self, method, a, b) {
      try {
        method.call(self, a, b);
      } catch (err) {
        thrown.push(err);
      }
    },
  };
  const handlers: ModelLinkEvents = {
    onOpen: (first) => {
      events.push(`open first=${first}`);
      if (throwOn === 'open') throw new Error('a part threw');
    },
    onAudio: (audio, itemId) => events.push(`audio ${itemId} ${audio}`),
    onSpeechStarted: () => events.push('speech'),
    onResponseDone: () => events.push('done'),
    onGaveUp: (reason) => events.push(`gave up: ${reason}`),
  };
  const link = new ModelLink(model.factory, { instructions: 'be brief', voice: 'alloy', modelReconnectDelaysMs: delays }, record, log.logger, boundary, handlers);
  return { link, model, record, log, events, thrown };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('the model link', () => {
  it('idle until started; one session per call, named after it', () => {
    const { link, model } = harness();
    expect(link.state).toBe('idle');
    expect(link.reported).toBe('not started');
    expect(link.openBridge).toBeNull();
    expect(link.start()).toBe(true);
    expect(link.start()).toBe(false);
    expect(model.bridges).toHaveLength(1);
    expect(model.last().options).toEqual({ callSid: 'CA1', instructions: 'be brief', voice: 'alloy' });
    expect(link.state).toBe('connecting');
    expect(link.reported).toBe('connecting');
    // Not ready yet: audio must wait.
    expect(link.openBridge).toBeNull();
  });

  it('open: the bridge takes audio; model events reach the call', () => {
    const { link, model, events } = harness();
    link.start();
    model.last().ready();
    expect(link.state).toBe('open');
    expect(link.reported).toBe('ready');
    expect(link.openBridge).toBe(model.last());
    const listener = model.last().listener;
    listener.onAudioDelta('AAAA', 'item_1');
    listener.onSpeechStarted();
    listener.onResponseDone('completed');
    expect(events).toEqual(['open first=true', 'audio item_1 AAAA', 'speech', 'done']);
  });

  it('a model error is recorded on the call and the session goes on', () => {
    const { link, model, record } = harness();
    link.start();
    model.last().ready();
    model.last().listener.onError('model_error', 'could not parse websocket event');
    expect(record.snapshot({ state: 'started', queues: { toTwilio: 0, toModel: 0 }, modelState: link.reported }).errors.map((e) => e.code)).toEqual(['model_error']);
    expect(link.state).toBe('open');
  });

  it('dropped: backs off for each delay in turn, reconnects, and greets only on the first ready session', () => {
    const { link, model, record, log, events } = harness();
    link.start();
    model.last().ready();
    model.last().drop();
    expect(link.state).toBe('backing-off');
    expect(link.reported).toBe('closed');
    expect(record.counters.modelReconnects).toBe(1);
    vi.advanceTimersByTime(19);
    expect(model.bridges).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(model.bridges).toHaveLength(2);
    expect(link.state).toBe('connecting');
    model.last().ready();
    expect(events).toEqual(['open first=true', 'open first=false']);
    // Open again: the backoff starts over at the first delay.
    model.last().drop();
    expect(log.records.filter((r) => r.msg === 'model connection lost; reconnecting').map((r) => r.delayMs)).toEqual([20, 20]);
  });

  it('refused every time: one attempt per delay, then gives up with the last reason', () => {
    const { link, model, record, log, events } = harness([20, 40]);
    link.start();
    model.last().drop('model refused the connection: HTTP 503');
    vi.advanceTimersByTime(20);
    model.last().drop('model refused the connection: HTTP 503');
    vi.advanceTimersByTime(40);
    expect(model.bridges).toHaveLength(3);
    model.last().drop('model refused the connection: HTTP 503');
    expect(link.state).toBe('gave-up');
    expect(events).toEqual(['gave up: model refused the connection: HTTP 503']);
    expect(record.counters.modelReconnects).toBe(2);
    expect(log.records.filter((r) => r.msg === 'model connection lost; reconnecting').map((r) => [r.attempt, r.delayMs])).toEqual([
      [1, 20],
      [2, 40],
    ]);
    // Given up is final: closing the call leaves it so, and nothing reconnects.
    link.close();
    expect(link.state).toBe('gave-up');
    vi.advanceTimersByTime(10_000);
    expect(model.bridges).toHaveLength(3);
  });

  it('a factory that throws is a failed connection, not a dead call', () => {
    const record = newRecord();
    const throwing = new ModelLink(
      () => {
        throw new Error('Invalid URL');
      },
      { instructions: '', voice: 'alloy', modelReconnectDelaysMs: [20] },
      record,
      keptLog().logger,
      { run: (self, method, a, b) => method.call(self, a, b) },
      { onOpen() {}, onAudio() {}, onSpeechStarted() {}, onResponseDone() {}, onGaveUp() {} },
    );
    expect(throwing.start()).toBe(true);
    expect(throwing.state).toBe('backing-off');
    expect(record.counters.modelReconnects).toBe(1);
    expect(record.snapshot({ state: 'started', queues: { toTwilio: 0, toModel: 0 }, modelState: throwing.reported }).errors[0]?.message).toMatch(/^model connection failed: Invalid URL; reconnect 1\/1 in 20 ms/);
    throwing.close();
  });

  it('ignores every event of a session it replaced', () => {
    const { link, model, events } = harness();
    link.start();
    const first = model.last();
    first.ready();
    first.drop();
    vi.advanceTimersByTime(20);
    const second = model.last();
    // The first session, gone, speaks again: nothing of it reaches the call.
    first.listener.onAudioDelta('AAAA', 'item_old');
    first.listener.onReady();
    first.listener.onClosed('late close', false);
    expect(events).toEqual(['open first=true']);
    expect(link.state).toBe('connecting');
    second.ready();
    expect(link.openBridge).toBe(second);
  });

  it('close: the session is closed, no timer is left, and its late events are ignored', () => {
    const { link, model, events } = harness();
    link.start();
    model.last().ready();
    model.last().drop();
    expect(vi.getTimerCount()).toBe(1);
    link.close();
    expect(link.state).toBe('closed');
    expect(vi.getTimerCount()).toBe(0);
    const open = harness();
    open.link.start();
    open.model.last().ready();
    open.link.close();
    expect(open.model.last().closedByCall).toBe(true);
    open.model.last().listener.onAudioDelta('AAAA', 'item_1');
    expect(open.events).toEqual(['open first=true']);
    expect(open.link.openBridge).toBeNull();
    expect(events).toEqual(['open first=true']);
  });

  it('closed before any session was asked for: stays idle, reported "not started" as before', () => {
    const { link, model } = harness();
    link.close();
    expect(link.state).toBe('idle');
    expect(link.reported).toBe('not started');
    expect(model.bridges).toEqual([]);
  });

  it('truncate and createResponse go to the session (which ignores them unless ready)', () => {
    const { link, model } = harness();
    link.start();
    link.createResponse();
    model.last().ready();
    link.createResponse();
    link.truncate('item_1', 400);
    expect(model.last().responsesCreated).toBe(1);
    expect(model.last().truncations).toEqual([{ itemId: 'item_1', audioEndMs: 400 }]);
  });

  it('what a handler throws stays inside the call boundary', () => {
    const { link, model, thrown } = harness([20], 'open');
    link.start();
    model.last().ready();
    expect(thrown).toHaveLength(1);
    expect(link.state).toBe('open');
  });
});

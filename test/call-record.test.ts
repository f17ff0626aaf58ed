// The call record: counters from the one list, errors kept and logged within bounds, backlog
// warnings rate-limited per queue, and a snapshot in the GET /calls shape.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CALL_COUNTER_NAMES, INITIAL_CALL_COUNTERS } from '../src/server/call-snapshot.js';
import { MAX_ERRORS_KEPT, isLoggedOccurrence } from '../src/server/call/record.js';
import { keptLog, newRecord } from './helpers/call-fakes.js';

const PARTS = { state: 'started', queues: { toTwilio: 3, toModel: 4 }, modelState: 'ready' } as const;

afterEach(() => {
  vi.useRealTimers();
});

describe('the call record', () => {
  it('starts with every counter of the one list at zero, its own copy, reported in that order', () => {
    const a = newRecord();
    const b = newRecord();
    expect(Object.keys(a.counters)).toEqual(CALL_COUNTER_NAMES);
    expect(Object.values(a.counters).every((v) => v === 0)).toBe(true);
    a.counters.audioInChunks += 2;
    expect(b.counters.audioInChunks).toBe(0);
    expect(INITIAL_CALL_COUNTERS.audioInChunks).toBe(0);
    expect(Object.isFrozen(INITIAL_CALL_COUNTERS)).toBe(true);
    const snapshot = a.snapshot(PARTS);
    expect(Object.keys(snapshot.counters)).toEqual(CALL_COUNTER_NAMES);
    expect(snapshot.counters.audioInChunks).toBe(2);
    // The snapshot is a copy: counting on does not change what was reported.
    a.counters.audioInChunks += 1;
    expect(snapshot.counters.audioInChunks).toBe(2);
    expect(a.serial).not.toBe(b.serial);
  });

  it('snapshots in the GET /calls shape', () => {
    const record = newRecord();
    record.callSid = 'CA1';
    record.streamSid = 'MZ1';
    record.direction = 'outbound';
    expect(record.snapshot(PARTS)).toEqual({
      callSid: 'CA1',
      streamSid: 'MZ1',
      direction: 'outbound',
      state: 'started',
      counters: { ...INITIAL_CALL_COUNTERS },
      lastBacklogWarningAt: 0,
      lastModelBacklogWarningAt: 0,
      queues: { toTwilio: 3, toModel: 4 },
      model: { backend: 'simulator', state: 'ready' },
      errors: [],
      errorCount: 0,
      connectedAt: record.connectedAt.toISOString(),
      startedAt: null,
      endedAt: null,
      endReason: null,
    });
  });

  it('protocol errors are counted as such; other errors are not', () => {
    const record = newRecord();
    record.protocolError('malformed_json', 'bad');
    record.recordError('model_error', 'worse');
    expect(record.counters.protocolErrors).toBe(1);
    expect(record.errorCount).toBe(2);
    expect(record.snapshot(PARTS).errors.map((e) => e.code)).toEqual(['malformed_json', 'model_error']);
  });

  it('keeps the first errors, then one summary that keeps counting; logs the first and every 1000th', () => {
    const log = keptLog();
    const record = newRecord(log);
    for (let i = 1; i <= 2500; i++) record.recordError('wrong_stream_sid', `frame ${i}`);
    const { errors, errorCount } = record.snapshot(PARTS);
    expect(errorCount).toBe(2500);
    expect(errors).toHaveLength(MAX_ERRORS_KEPT + 1);
    expect(errors[MAX_ERRORS_KEPT - 1]?.message).toBe(`frame ${MAX_ERRORS_KEPT}`);
    expect(errors[MAX_ERRORS_KEPT]).toMatchObject({ code: 'errors_suppressed', message: `${2500 - MAX_ERRORS_KEPT} more errors not kept; last: wrong_stream_sid: frame 2500` });
    expect(log.records.filter((r) => r.msg === 'call error').map((r) => r.errorCount)).toEqual([...Array.from({ length: MAX_ERRORS_KEPT }, (_, i) => i + 1), 1000, 2000]);
    expect([1, MAX_ERRORS_KEPT, MAX_ERRORS_KEPT + 1, 999, 1000, 3000].map(isLoggedOccurrence)).toEqual([true, true, false, false, true, true]);
  });

  it('cuts an error text that quotes a peer at 200 characters', () => {
    const record = newRecord();
    record.recordError('unknown_event', 'x'.repeat(10_000));
    expect(record.snapshot(PARTS).errors[0]?.message).toBe(`${'x'.repeat(200)}...`);
  });

  it('an internal error is recorded with its type and logged as such', () => {
    const log = keptLog();
    const record = newRecord(log);
    record.callSid = 'CA1';
    record.internalError(new TypeError("Cannot read properties of undefined (reading 'x')"));
    expect(record.snapshot(PARTS).errors[0]).toMatchObject({ code: 'internal_error', message: "TypeError: Cannot read properties of undefined (reading 'x')" });
    expect(log.records.some((r) => r.msg === 'call handler error' && r.callSid === 'CA1')).toBe(true);
  });

  it('backlog warnings: at most one per queue per interval, each counted on its own counter', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const log = keptLog();
    const record = newRecord(log, 5000);
    record.warnBacklog('toTwilio', '600 frames queued for Twilio', 600);
    record.warnBacklog('toTwilio', '601 frames queued for Twilio', 601);
    record.warnBacklog('toModel', '60 chunks waiting', 60);
    vi.advanceTimersByTime(4999);
    record.warnBacklog('toTwilio', 'still', 700);
    vi.advanceTimersByTime(1);
    record.warnBacklog('toTwilio', 'again', 800);
    expect(record.counters.backlogWarnings).toBe(2);
    expect(record.counters.modelBacklogWarnings).toBe(1);
    const snapshot = record.snapshot(PARTS);
    expect(snapshot.lastBacklogWarningAt).toBe(1_005_000);
    expect(snapshot.lastModelBacklogWarningAt).toBe(1_000_000);
    expect(log.records.map((r) => [r.msg, r.queuedFrames ?? r.queuedChunks])).toEqual([
      ['backlog to Twilio', 600],
      ['backlog to model', 60],
      ['backlog to Twilio', 800],
    ]);
  });
});

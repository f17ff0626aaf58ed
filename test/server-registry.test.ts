// The call registry with stand-in calls: finished snapshots kept (bounded, oldest out first),
// late updates refreshed, lookup preferring a live call, the idle sweep, and closeAll.
import { afterEach, describe, expect, it } from 'vitest';
import type { CallSnapshot } from '../src/server/call-snapshot.js';
import { CallRegistry, type RegisteredCall } from '../src/server/registry.js';
import { eventually } from './helpers/raw-twilio.js';
import { keptLog, newRecord } from './helpers/call-fakes.js';

class StandIn implements RegisteredCall {
  private readonly record = newRecord();
  readonly openedAt = performance.now();
  lastInboundAt = performance.now();
  closedWith: [string, number | undefined] | null = null;
  constructor(
    private readonly registry: CallRegistry,
    callSid: string,
  ) {
    this.record.callSid = callSid;
  }
  get serial(): number {
    return this.record.serial;
  }
  get callSid(): string | null {
    return this.record.callSid;
  }
  close(reason: string, code?: number): void {
    if (this.closedWith !== null) return;
    this.closedWith = [reason, code];
    this.record.endReason = reason;
    this.registry.finish(this);
  }
  snapshot(): CallSnapshot {
    return this.record.snapshot({ state: this.closedWith === null ? 'started' : 'closed', queues: { toTwilio: 0, toModel: 0 }, modelState: 'ready' });
  }
  /** An error recorded after the end, reported again as the call does. */
  lateError(): void {
    this.record.recordError('duplicate_stop', 'late');
    this.registry.finish(this);
  }
}

const registries: CallRegistry[] = [];
function registry(keepFinished = 3, idleTimeoutMs = 0): { reg: CallRegistry; log: ReturnType<typeof keptLog> } {
  const log = keptLog();
  const reg = new CallRegistry({ keepFinished, idleTimeoutMs, logger: log.logger });
  registries.push(reg);
  return { reg, log };
}
afterEach(() => {
  for (const reg of registries.splice(0)) reg.stopSweep();
});

/** A call as the server makes one: accepted, then admitted by its start under its callSid. */
function add(reg: CallRegistry, callSid: string): StandIn {
  const call = new StandIn(reg, callSid);
  reg.add(call);
  reg.markStarted(call, callSid);
  return call;
}

describe('the call registry', () => {
  it('keeps only the snapshots of the last keepFinished calls, oldest out first; live ones come last', () => {
    const { reg } = registry(2);
    const calls = ['CA1', 'CA2', 'CA3', 'CA4'].map((sid) => add(reg, sid));
    for (const c of calls.slice(0, 3)) c.close('stop');
    expect(reg.liveCount).toBe(1);
    expect(reg.finishedCount).toBe(2);
    expect(reg.all().map((s) => s.callSid)).toEqual(['CA2', 'CA3', 'CA4']);
    expect(reg.find('CA1')).toBeNull();
  });

  it('a late update refreshes a kept snapshot, and is dropped for one no longer kept', () => {
    const { reg } = registry(1);
    const first = add(reg, 'CA1');
    const second = add(reg, 'CA2');
    first.close('stop');
    first.lateError();
    expect(reg.find('CA1')?.errorCount).toBe(1);
    second.close('stop');
    first.lateError();
    expect(reg.find('CA1')).toBeNull();
    expect(reg.finishedCount).toBe(1);
  });

  it('find: a live call before a finished one with the same callSid; else the latest finished', () => {
    const { reg } = registry(5);
    const a = add(reg, 'CA1');
    a.close('first');
    const b = add(reg, 'CA1');
    b.close('second');
    expect(reg.find('CA1')?.endReason).toBe('second');
    add(reg, 'CA1');
    expect(reg.find('CA1')?.endReason).toBeNull();
  });

  it('closeAll ends every live call with the reason and code', () => {
    const { reg } = registry();
    const calls = [add(reg, 'CA1'), add(reg, 'CA2')];
    reg.closeAll('shutdown', 1001);
    expect(calls.map((c) => c.closedWith)).toEqual([
      ['shutdown', 1001],
      ['shutdown', 1001],
    ]);
    expect(reg.liveCount).toBe(0);
  });

  it('the idle sweep closes a call Twilio went quiet on (1001), and only that one', async () => {
    const { reg, log } = registry(5, 100);
    const quiet = add(reg, 'CA-quiet');
    const busy = add(reg, 'CA-busy');
    const keepBusy = setInterval(() => (busy.lastInboundAt = performance.now()), 10);
    try {
      await eventually(() => quiet.closedWith, (c) => c !== null, 2000);
      expect(quiet.closedWith).toEqual(['idle: nothing from Twilio for 100 ms', 1001]);
      expect(busy.closedWith).toBeNull();
      expect(log.records.some((r) => r.msg === 'closing idle call' && r.callSid === 'CA-quiet')).toBe(true);
    } finally {
      clearInterval(keepBusy);
    }
  });
});

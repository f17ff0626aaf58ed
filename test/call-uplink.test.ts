// The uplink against a fake model session: straight through when nothing waits, queued in order
// while the session is not ready or backed up, batched when asked, and past its bound the call
// ends with the waiting audio counted as unsent.
import { describe, expect, it } from 'vitest';
import type { ModelBridge } from '../src/model/bridge.js';
import { Uplink, type UplinkConfig } from '../src/server/call/uplink.js';
import { FakeBridge, audio, keptLog, newRecord, testConfig, type KeptLog } from './helpers/call-fakes.js';

/** A model link stand-in: `open` decides whether the bridge takes audio now. */
class Target {
  open = false;
  constructor(readonly bridge: FakeBridge) {}
  get openBridge(): ModelBridge | null {
    return this.open ? this.bridge : null;
  }
  get bridgeState(): string {
    return this.bridge.state;
  }
  ready(): void {
    this.open = true;
    this.bridge.state = 'ready';
  }
}

function uplink(overrides: Partial<UplinkConfig> = {}): { up: Uplink; target: Target; bridge: FakeBridge; overflows: string[]; log: KeptLog; record: ReturnType<typeof newRecord> } {
  const log = keptLog();
  const record = newRecord(log);
  const bridge = new FakeBridge({ callSid: 'CA1', instructions: '', voice: 'alloy' }, { onReady() {}, onAudioDelta() {}, onSpeechStarted() {}, onResponseDone() {}, onError() {}, onClosed() {} });
  const target = new Target(bridge);
  const overflows: string[] = [];
  const up = new Uplink(testConfig(overrides), target, record, log.logger, { close: (reason, code) => overflows.push(`${code} ${reason}, ${up.queuedChunks} queued`) });
  return { up, target, bridge, overflows, log, record };
}

/** 160 bytes whose base64 says which frame it is. */
const frame = (i: number): string => audio(160, i);

describe('the uplink', () => {
  it('forwards each frame unchanged, straight to an open session', () => {
    const { up, target, bridge, record } = uplink();
    target.ready();
    for (let i = 0; i < 5; i++) up.forward(frame(i), 160);
    expect(bridge.appended).toEqual([0, 1, 2, 3, 4].map(frame));
    expect(up.queuedChunks).toBe(0);
    expect(record.counters.modelAudioAppends).toBe(5);
  });

  it('early media: frames before the session is ready wait, then go in order, before any later frame', () => {
    const { up, target, bridge, record } = uplink();
    for (let i = 0; i < 3; i++) up.forward(frame(i), 160);
    expect(bridge.appended).toEqual([]);
    expect(up.queuedChunks).toBe(3);
    // Counted as handed to the model even while they wait: nothing is dropped.
    expect(record.counters.modelAudioAppends).toBe(3);
    target.ready();
    up.flush();
    up.forward(frame(3), 160);
    expect(bridge.appended).toEqual([0, 1, 2, 3].map(frame));
    expect(up.queuedChunks).toBe(0);
  });

  it('a session that refuses audio (its socket closing) keeps it queued for the next one', () => {
    const { up, target, bridge } = uplink();
    target.ready();
    up.forward(frame(0), 160);
    bridge.state = 'closed';
    up.forward(frame(1), 160);
    up.forward(frame(2), 160);
    expect(up.queuedChunks).toBe(2);
    bridge.state = 'ready';
    up.flush();
    expect(bridge.appended).toEqual([0, 1, 2].map(frame));
  });

  it('stops at the model socket high-water mark, warns (rate-limited), and goes on once it drains', () => {
    const { up, target, bridge, record, log } = uplink({ modelHighWaterBytes: 1000, modelBacklogBytes: 500 });
    target.ready();
    bridge.bytesPerAppend = 400;
    for (let i = 0; i < 6; i++) up.forward(frame(i), 160);
    // 400, 800, 1200 buffered: the third append crossed the mark, the rest wait.
    expect(bridge.appended).toHaveLength(3);
    expect(up.queuedChunks).toBe(3);
    expect(record.counters.modelBacklogWarnings).toBe(1);
    expect(log.records.find((r) => r.msg === 'backlog to model')?.detail).toBe('800 bytes buffered on the model socket');
    bridge.bufferedAmount = 0;
    bridge.bytesPerAppend = 0;
    up.flush();
    expect(bridge.appended).toEqual([0, 1, 2, 3, 4, 5].map(frame));
  });

  it('a frame that arrives while older ones wait never overtakes them', () => {
    const { up, target, bridge } = uplink({ modelHighWaterBytes: 1000 });
    target.ready();
    bridge.bufferedAmount = 2000;
    up.forward(frame(0), 160);
    up.forward(frame(1), 160);
    // The socket drained, but nothing flushed yet: the next frame must queue behind the others.
    bridge.bufferedAmount = 0;
    up.forward(frame(2), 160);
    expect(bridge.appended).toEqual([0, 1, 2].map(frame));
  });

  it('batches N frames into one append, and sends a partial batch when the call ends', () => {
    const { up, target, bridge, record } = uplink({ modelAppendFrames: 3 });
    target.ready();
    for (let i = 0; i < 7; i++) up.forward(frame(i), 160);
    expect(bridge.appended).toHaveLength(2);
    expect(Buffer.from(bridge.appended[0] ?? '', 'base64')).toEqual(Buffer.concat([0, 1, 2].map((i) => Buffer.alloc(160, i))));
    expect(up.finish()).toBe(0);
    expect(bridge.appended).toHaveLength(3);
    expect(Buffer.from(bridge.appended[2] ?? '', 'base64')).toEqual(Buffer.alloc(160, 6));
    expect(record.counters.modelAudioAppends).toBe(7);
  });

  it('a batched frame larger than the batch goes on its own, after what was gathered', () => {
    const { up, target, bridge } = uplink({ modelAppendFrames: 2 });
    target.ready();
    up.forward(frame(1), 160);
    up.forward(audio(4000, 9), 4000);
    expect(bridge.appended.map((a) => Buffer.from(a, 'base64').length)).toEqual([160, 4000]);
  });

  it('past maxPendingModelChunks the call must end; the waiting audio is counted as unsent', () => {
    const { up, overflows, record, log } = uplink({ maxPendingModelChunks: 10, modelBacklogChunks: 5 });
    for (let i = 0; i < 11; i++) up.forward(frame(i), 160);
    expect(overflows).toEqual(['1011 model backlog overflow, 11 queued']);
    expect(record.snapshot({ state: 'started', queues: { toTwilio: 0, toModel: 0 }, modelState: '' }).errors.map((e) => e.code)).toEqual(['model_backlog_overflow']);
    expect(log.records.find((r) => r.msg === 'model not taking audio; ending call')).toMatchObject({ queuedChunks: 11, modelState: 'connecting' });
    expect(record.counters.modelBacklogWarnings).toBe(1);
    expect(up.finish()).toBe(11);
    // After the end the count stays, the audio itself is let go.
    expect(up.queuedChunks).toBe(11);
  });
});

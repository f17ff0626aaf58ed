// The fake caller's handset without sockets: the agent's audio plays at 20 ms per 160 bytes, a
// mark is echoed once the audio queued before it has played, and clear drops the unplayed audio
// and echoes every pending mark at once. Fake timers and a fake clock, so the times are exact.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FRAME_BYTES } from '../src/audio/format.js';
import { PlaybackQueue } from '../src/caller/playback.js';

const MS = FRAME_BYTES / 20; // mu-law bytes per ms

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

function handset(speed: number | null): { queue: PlaybackQueue; echoed: Array<{ name: string; at: number }> } {
  const echoed: Array<{ name: string; at: number }> = [];
  const queue = new PlaybackQueue(speed, (name) => echoed.push({ name, at: Date.now() }), () => Date.now());
  return { queue, echoed };
}

describe('PlaybackQueue', () => {
  it('echoes a mark when the audio queued before it has played, not before', () => {
    const { queue, echoed } = handset(1);
    queue.addAudio(500 * MS, Date.now()); // 500 ms
    queue.addMark('greeting', Date.now());
    vi.advanceTimersByTime(499);
    expect(echoed).toEqual([]);
    expect(queue.isDrained(Date.now())).toBe(false);
    vi.advanceTimersByTime(1);
    expect(echoed).toEqual([{ name: 'greeting', at: 500 }]);
    expect(queue.isDrained(Date.now())).toBe(true);
  });

  it('a mark with nothing left to play comes straight back', () => {
    const { queue, echoed } = handset(1);
    queue.addMark('now', Date.now());
    expect(echoed).toEqual([{ name: 'now', at: 0 }]);
  });

  it('plays audio queued behind audio after it, and keeps marks in order', () => {
    const { queue, echoed } = handset(1);
    queue.addAudio(200 * MS, Date.now());
    queue.addMark('a', Date.now()); // due at 200
    queue.addAudio(100 * MS, Date.now());
    queue.addMark('b', Date.now()); // due at 300
    vi.advanceTimersByTime(100);
    queue.addAudio(40 * MS, Date.now()); // queued at 100 behind 300 ms: plays 300-340
    queue.addMark('c', Date.now());
    vi.advanceTimersByTime(400);
    expect(echoed).toEqual([
      { name: 'a', at: 200 },
      { name: 'b', at: 300 },
      { name: 'c', at: 340 },
    ]);
  });

  it('plays faster at a higher speed', () => {
    const { queue, echoed } = handset(2);
    queue.addAudio(500 * MS, Date.now());
    queue.addMark('m', Date.now());
    vi.advanceTimersByTime(300);
    expect(echoed).toEqual([{ name: 'm', at: 250 }]);
  });

  it('clear drops the unplayed audio and echoes every pending mark at once', () => {
    const { queue, echoed } = handset(1);
    queue.addAudio(1000 * MS, Date.now());
    queue.addMark('half', Date.now());
    queue.addAudio(1000 * MS, Date.now());
    queue.addMark('end', Date.now());
    vi.advanceTimersByTime(200);
    expect(echoed).toEqual([]);
    queue.clear(Date.now());
    expect(echoed).toEqual([
      { name: 'half', at: 200 },
      { name: 'end', at: 200 },
    ]);
    expect(queue.audioClearedMs).toBe(1800);
    expect(queue.isDrained(Date.now())).toBe(true);
    // What comes after the clear plays from now, not behind the dropped audio.
    queue.addAudio(100 * MS, Date.now());
    queue.addMark('after', Date.now());
    vi.advanceTimersByTime(5000);
    expect(echoed.at(-1)).toEqual({ name: 'after', at: 300 });
    expect(echoed).toHaveLength(3);
  });

  it('in burst mode (no speed) audio plays at once and marks come straight back', () => {
    const { queue, echoed } = handset(null);
    queue.addAudio(1000 * MS, Date.now());
    queue.addMark('m', Date.now());
    expect(echoed).toEqual([{ name: 'm', at: 0 }]);
    queue.clear(Date.now());
    expect(queue.audioClearedMs).toBe(0);
  });

  it('after stop nothing plays or echoes, and it says how many marks never played', () => {
    const { queue, echoed } = handset(1);
    queue.addAudio(300 * MS, Date.now());
    queue.addMark('x', Date.now());
    queue.addMark('y', Date.now());
    expect(queue.stop()).toBe(2);
    vi.advanceTimersByTime(1000);
    queue.addMark('z', Date.now());
    queue.clear(Date.now());
    expect(echoed).toEqual([]);
  });
});

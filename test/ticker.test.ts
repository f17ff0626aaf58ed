// The shared ticker on a hand-driven clock: its ticks keep to one grid however late each runs
// (setInterval's would drift by every delay), a stall skips the points it missed, and it runs only
// while someone is subscribed, never twice over when the last subscriber leaves and another comes
// during a tick.
import { describe, expect, it } from 'vitest';
import { SharedTicker, type TickerClock, type Tickable } from '../src/ticker.js';

/** A clock whose timers fire only when `fire` is called, each `late` ms after it was due. */
function handClock() {
  let now = 0;
  const timers: Array<{ at: number; run: () => void; id: number }> = [];
  let ids = 0;
  const clock: TickerClock = {
    now: () => now,
    after: (ms, run) => {
      ids += 1;
      timers.push({ at: now + ms, run, id: ids });
      return ids;
    },
    cancel: (id) => {
      const i = timers.findIndex((t) => t.id === id);
      if (i >= 0) timers.splice(i, 1);
    },
  };
  return {
    clock,
    pending: () => timers.length,
    /** The clock moves on with no timer firing. */
    advance(ms: number): void {
      now += ms;
    },
    /** Runs the earliest timer `late` ms after it was due. */
    fire(late = 0): void {
      timers.sort((a, b) => a.at - b.at);
      const next = timers.shift();
      if (next === undefined) throw new Error('no timer set');
      now = Math.max(now, next.at + late);
      next.run();
    },
  };
}

function recorder(times: number[], until = Infinity): Tickable {
  return { tick: (now) => (times.push(now), times.length < until) };
}

describe('SharedTicker', () => {
  it('keeps to its grid when every tick runs late, and skips the points a stall missed', () => {
    const hand = handClock();
    const ticker = new SharedTicker(10, hand.clock);
    const times: number[] = [];
    ticker.subscribe(recorder(times));
    for (let i = 0; i < 5; i++) hand.fire(3);
    // 3 ms late each time, never 6, 9, 12: each wait is shortened by the lateness before it.
    expect(times).toEqual([13, 23, 33, 43, 53]);
    // A 25 ms stall: the tick due at 60 runs at 85; the next is due at 90, not 95.
    hand.fire(25);
    hand.fire(0);
    expect(times.slice(5)).toEqual([85, 90]);
  });

  it('starting again after a stop, ticks where the grid was: a send loop that leaves and comes back keeps its phase', () => {
    const hand = handClock();
    const ticker = new SharedTicker(10, hand.clock);
    const times: number[] = [];
    ticker.subscribe(recorder(times, 2));
    hand.fire(1);
    hand.fire(1);
    expect(times).toEqual([11, 21]);
    expect(hand.pending()).toBe(0);
    // Back at 37 (say a delta arrived): the next tick is at 40, on the grid, not at 47.
    hand.advance(16);
    ticker.subscribe(recorder(times));
    hand.fire();
    expect(times.at(-1)).toBe(40);
  });

  it('stops when the last subscriber leaves, and runs one timer when another comes during a tick', () => {
    const hand = handClock();
    const ticker = new SharedTicker(10, hand.clock);
    const times: number[] = [];
    const late: number[] = [];
    // The first subscriber leaves at its second tick and, in that tick, another comes.
    ticker.subscribe({ tick: (now) => (times.push(now), times.length < 2 ? true : (ticker.subscribe(recorder(late)), false)) });
    hand.fire();
    hand.fire();
    expect(times).toEqual([10, 20]);
    expect(hand.pending()).toBe(1);
    hand.fire();
    // A subscriber added during a tick is ticked in it too (a Set visits what is added as it goes).
    expect(late).toEqual([20, 30]);
    ticker.unsubscribe([...(ticker as unknown as { subscribers: Set<Tickable> }).subscribers][0]!);
    expect(ticker.size).toBe(0);
    expect(hand.pending()).toBe(0);
  });

  it('drops a subscriber that throws, never the others', () => {
    const hand = handClock();
    const ticker = new SharedTicker(10, hand.clock);
    const times: number[] = [];
    ticker.subscribe({
      tick: () => {
        throw new Error('boom');
      },
    });
    ticker.subscribe(recorder(times));
    hand.fire();
    hand.fire();
    expect(times).toEqual([10, 20]);
    expect(ticker.size).toBe(1);
  });
});

// The call's lifecycle table: the moves a call makes, the ones it must refuse (and report), and
// how each phase reads in GET /calls.
import { describe, expect, it } from 'vitest';
import { CallLifecycle, type CallPhase } from '../src/server/call/lifecycle.js';

const PHASES: CallPhase[] = ['awaiting-start', 'live', 'stopping', 'closing', 'stopped', 'closed'];
const LEGAL: Array<[CallPhase, CallPhase]> = [
  ['awaiting-start', 'live'],
  ['awaiting-start', 'stopping'],
  ['awaiting-start', 'closing'],
  ['live', 'stopping'],
  ['live', 'closing'],
  ['stopping', 'stopped'],
  ['closing', 'closed'],
];

/** A lifecycle brought to `phase` by legal moves. */
function at(phase: CallPhase, illegal: string[] = []): CallLifecycle {
  const lifecycle = new CallLifecycle({ internalError: (err) => illegal.push(err instanceof Error ? err.message : String(err)) });
  const path: Record<CallPhase, CallPhase[]> = {
    'awaiting-start': [],
    live: ['live'],
    stopping: ['live', 'stopping'],
    closing: ['live', 'closing'],
    stopped: ['live', 'stopping', 'stopped'],
    closed: ['live', 'closing', 'closed'],
  };
  for (const step of path[phase]) expect(lifecycle.move(step)).toBe(true);
  return lifecycle;
}

describe('the call lifecycle', () => {
  it('starts awaiting start, reported as connected', () => {
    const lifecycle = new CallLifecycle({ internalError() {} });
    expect(lifecycle.phase).toBe('awaiting-start');
    expect(lifecycle.reported).toBe('connected');
    expect(lifecycle.isOpen).toBe(true);
    expect(lifecycle.hasEnded).toBe(false);
  });

  it.each(PHASES.flatMap((from) => PHASES.map((to) => [from, to] as const)))('%s -> %s: legal only if in the table', (from, to) => {
    const illegal: string[] = [];
    const lifecycle = at(from, illegal);
    const legal = LEGAL.some(([a, b]) => a === from && b === to);
    expect(lifecycle.move(to)).toBe(legal);
    expect(lifecycle.phase).toBe(legal ? to : from);
    // An illegal move is reported (the call records it as an internal error), never made.
    expect(illegal).toEqual(legal ? [] : [`illegal call move ${from} -> ${to}`]);
  });

  it('reads as the GET /calls states, which only tell a Twilio stop from any other end', () => {
    expect(PHASES.map((p) => at(p).reported)).toEqual(['connected', 'started', 'stopped', 'closed', 'stopped', 'closed']);
    expect(PHASES.map((p) => at(p).isOpen)).toEqual([true, true, false, false, false, false]);
    expect(PHASES.map((p) => at(p).hasEnded)).toEqual([false, false, false, false, true, true]);
  });
});

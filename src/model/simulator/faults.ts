// Faults the simulator can inject for every session (RealtimeSimulatorOptions.faults), as the
// server's reconnect and backlog tests need them; a model script adds per-turn faults.

export interface SimulatorFaults {
  /** Answer every upgrade with HTTP 503. */
  refuseConnections?: boolean;
  /** Drop the socket (no close frame) after this many appends in a session. */
  dropAfterAppends?: number;
  /** Delay `session.updated` by this much. */
  sessionReadyDelayMs?: number;
  /** Send a malformed (non-JSON) frame after this many appends. */
  malformedAfterAppends?: number;
  /** On a cancelled response, still send this many deltas of it first (already in flight, as a real API may). */
  lateDeltasAfterCancel?: number;
  /** Answer only the first this many upgrades with HTTP 503, then accept (a model that comes back). */
  refuseFirstConnections?: number;
  /** Apply dropAfterAppends to only the first this many sessions (default: every session). */
  dropSessions?: number;
  /** Stop reading the socket after this many appends (a stalled model; TCP backpressure builds). */
  stallAfterAppends?: number;
  /** Resume reading this long after a stall (default: never). */
  stallMs?: number;
  /** Wait this long before streaming each answer (a slow model). */
  answerDelayMs?: number;
}

/** What an append triggers under the configured faults, in the order they are applied. */
export type AppendFault = 'none' | 'drop' | 'stall' | 'malformed';

export function appendFault(faults: SimulatorFaults, appends: number, dropApplies: boolean): AppendFault {
  if (dropApplies && faults.dropAfterAppends !== undefined && appends >= faults.dropAfterAppends) return 'drop';
  if (faults.stallAfterAppends !== undefined && appends === faults.stallAfterAppends) return 'stall';
  if (faults.malformedAfterAppends !== undefined && appends === faults.malformedAfterAppends) return 'malformed';
  return 'none';
}

/** A frame no JSON parser accepts, shaped like the start of an audio delta. */
export const MALFORMED_FRAME = '{"type": "response.output_audio.delta", broken';

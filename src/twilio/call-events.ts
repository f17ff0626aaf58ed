// A phone call in no carrier's words: what the carrier tells the agent about the caller
// (CallerEvent) and what the agent asks the carrier to do (AgentEvent). A carrier serializer
// turns one side into its wire format and the other back, as Pipecat's FrameSerializer does; the
// fake caller speaks only these events, so a second carrier is one more serializer.
import type { MediaTrack } from './messages.js';
import type { ProtocolErrorCode } from './parse.js';

export type CallerEvent =
  /** The media socket is up (Twilio: `connected`). */
  | { type: 'connected' }
  /** The stream begins, with the parameters the call was set up with (Twilio: `start`). */
  | { type: 'start'; customParameters: Readonly<Record<string, string>> }
  /**
   * Audio on the line: base64 8 kHz mu-law, `timestampMs` of stream time (Twilio: `media`). The
   * caller's side unless `track` says 'outbound' (the agent's side, which only a fork carries).
   */
  | { type: 'audio'; payload: string; timestampMs: number; track?: MediaTrack }
  /** A key the caller pressed (Twilio: `dtmf`). */
  | { type: 'dtmf'; digit: string }
  /** The audio queued before the agent's mark `name` has played, or was cleared (Twilio: `mark`). */
  | { type: 'mark-played'; name: string }
  /** The caller hung up (Twilio: `stop`). */
  | { type: 'hangup' };

export type AgentEvent =
  /** Agent audio to play: base64 8 kHz mu-law. */
  | { type: 'audio'; payload: string }
  /** Tell me when the audio sent so far has played. */
  | { type: 'mark'; name: string }
  /** Drop the audio not yet played (barge-in). */
  | { type: 'clear' };

/** Why a message from the agent was not an AgentEvent for this call. */
export type AgentMessageErrorCode = ProtocolErrorCode | 'wrong_stream_sid';

export type AgentEventResult =
  | { ok: true; event: AgentEvent }
  | { ok: false; error: { code: AgentMessageErrorCode; message: string } };

/** The carrier's side of one call's media socket. */
export interface CarrierSerializer {
  /** The wire frame for one caller event. */
  serialize(event: CallerEvent): string;
  /** One frame from the agent, as an event of this call or an error value. */
  deserialize(raw: string | Buffer, isBinary: boolean): AgentEventResult;
}

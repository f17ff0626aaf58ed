// What a call may be tuned by, and the values `callsim serve` runs with.
import type { CallDirection } from '../../twilio/codec.js';

export type FirstSpeaker = 'model' | 'caller';

export const DEFAULT_INSTRUCTIONS = 'You are a friendly phone assistant. Keep answers short.';
/** A voice both the OpenAI Realtime API and the simulator accept. */
export const DEFAULT_VOICE = 'alloy';

export interface CallConfig {
  instructions: string;
  voice: string;
  firstSpeaker: Record<CallDirection, FirstSpeaker>;
  /** Warn when this many frames wait to go to Twilio. */
  twilioBacklogFrames: number;
  /** Warn when this many chunks wait for the model, or its socket buffers more than modelBacklogBytes. */
  modelBacklogChunks: number;
  modelBacklogBytes: number;
  /** Pause sending (keep the audio queued) while the Twilio socket buffers more than this. */
  twilioHighWaterBytes: number;
  /** At most one backlog warning per queue per this many ms. */
  backlogWarnIntervalMs: number;
  /** Model reconnect delays; the call ends after the last one fails. */
  modelReconnectDelaysMs: number[];
  /**
   * Audio goes to Twilio once it is due within this many ms of real time, a chunk at a time. The
   * model streams answers faster than real time; up to this lead each delta goes on as it arrives,
   * as the widely copied Twilio samples forward it. Twilio buffers what is sent ahead and a clear
   * empties that buffer ("Media Streams - WebSocket Messages": media, clear), barge-in truncates
   * at what marks confirmed played, so sending ahead costs no precision; and a stall of this
   * process shorter than the lead is never heard. Pacing to real time instead showed the event
   * loop's lag at the caller as jitter (p99 25 ms at 350 calls, `npm run bench -- --serve-args`).
   * The bound keeps a runaway model from filling Twilio's buffer (error 31931); the rest waits here.
   */
  sendLeadMs: number;
  /**
   * 20 ms frames per `media` message to Twilio, at most. Twilio takes a payload of any length and
   * buffers what is sent ahead (up to 10 minutes: error 31931), so 100 ms chunks cost a fifth of
   * the writes of 20 ms ones and add no latency: a chunk never waits to fill, it takes what is
   * queued, and stops at a mark so marks still fall every 200 ms of audio.
   */
  playoutChunkFrames: number;
  /** Stop writing to the model socket (queue instead) while it buffers more than this. */
  modelHighWaterBytes: number;
  /** Caller audio queued for the model beyond this ends the call: the model is not coming back. */
  maxPendingModelChunks: number;
  /**
   * Model audio queued for Twilio beyond this many frames ends the call (1011 "model audio
   * overflow"): a model that runs away (endless or 10 MB deltas) must not grow one call without bound.
   */
  maxPendingTwilioFrames: number;
  /** End the call when Twilio has read nothing for this long while audio waits (0 = never). */
  twilioStallMs: number;
  /**
   * Caller frames per `input_audio_buffer.append`. 1 forwards each frame unchanged (lowest
   * latency); N > 1 decodes N frames into one append: fewer, larger socket writes (measured: about
   * a third less server CPU per frame at 3) for (N - 1) × 20 ms more latency to the model.
   * Twilio streams media continuously, so a batch fills every N × 20 ms.
   */
  modelAppendFrames: number;
  /**
   * Barge-in: the caller must talk over an answer this long (voiced audio ms, after the model
   * heard speech start) before it is cut; less is a backchannel ("mm-hmm") and the answer goes on.
   * 0 cuts at the first sound. LiveKit Agents' min_interruption_duration is 0.5 s by default too.
   */
  bargeInMinSpeechMs: number;
}

export const DEFAULT_CALL_CONFIG: Readonly<CallConfig> = Object.freeze<CallConfig>({
  instructions: DEFAULT_INSTRUCTIONS,
  voice: DEFAULT_VOICE,
  firstSpeaker: { inbound: 'caller', outbound: 'model' },
  twilioBacklogFrames: 500,
  modelBacklogChunks: 50,
  modelBacklogBytes: 64 * 1024,
  twilioHighWaterBytes: 256 * 1024,
  backlogWarnIntervalMs: 5000,
  modelReconnectDelaysMs: [250, 500, 1000],
  sendLeadMs: 5000,
  playoutChunkFrames: 5,
  modelHighWaterBytes: 1024 * 1024,
  // 60 s of 20 ms frames: far beyond any reconnect schedule, small enough to bound a flood.
  maxPendingModelChunks: 3000,
  // The same 60 s the other way: a model may stream ahead of playback, not a minute ahead.
  maxPendingTwilioFrames: 3000,
  twilioStallMs: 30_000,
  modelAppendFrames: 1,
  bargeInMinSpeechMs: 500,
});

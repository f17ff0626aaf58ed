// The caller as a script: what it says frame by frame, decided as the call goes on what it hears.
// A plain replay needs none (its WAV, then a tail of line silence); a scenario (src/scenario/)
// is one. The call asks it for every 20 ms frame at the frame's due time and sends what it says;
// line silence keeps flowing between words, as a real call never stops sending frames.
import type { CallerEar } from './heard.js';

export interface VoiceFrame {
  /** What the caller sends now: a clip's 160-byte frame (a shorter one is padded), or line silence. */
  audio: Buffer;
  /** It holds the caller's speech (not line silence): a burst call sends these unpaced. */
  speech: boolean;
  /** A key the caller presses just before this frame (Twilio's `dtmf` message). */
  digit?: string;
}

export interface CallerVoice {
  /** The caller's frame `n` of the call, due at `dueAt` (performance.now()): what it says, or that it hangs up. */
  next(n: number, dueAt: number): VoiceFrame | 'hangup';
}

/** Made by the call once its handset exists, so the voice can listen to the agent. */
export type VoiceFactory = (ear: CallerEar) => CallerVoice;

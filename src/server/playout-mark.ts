// The names callsim serve gives its playback marks: "<answer>:<ms>", the answer's number within
// the call and the audio time of that answer queued before the mark. Twilio echoes a mark when
// the audio sent before it has played, so the last echoed name says how much of which answer the
// caller heard (what barge-in truncates to). A published contract: a load client can tell where
// one answer ends and the next begins without guessing from gaps.

export interface PlayoutMark {
  /** 1-based number of the answer within its call. */
  answer: number;
  /** Audio of that answer queued before this mark, in ms. */
  audioMs: number;
}

export function formatPlayoutMark(answer: number, audioMs: number): string {
  return `${answer}:${audioMs}`;
}

/** The mark a name stands for; null for any name callsim serve did not make. */
export function parsePlayoutMark(name: string): PlayoutMark | null {
  const colon = name.indexOf(':');
  if (colon <= 0) return null;
  const answer = Number(name.slice(0, colon));
  const audioMs = Number(name.slice(colon + 1));
  if (!Number.isInteger(answer) || answer < 1 || !Number.isFinite(audioMs) || audioMs < 0) return null;
  return { answer, audioMs };
}

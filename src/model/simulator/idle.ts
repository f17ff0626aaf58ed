// server_vad's idle_timeout_ms (docs: RealtimeAudioInputTurnDetection.ServerVad): when the
// caller says nothing for that long after the model's last answer has finished playing ("the
// response.done time plus audio playback duration"), the server sends
// input_audio_buffer.timeout_triggered, commits what it has (even silence) and answers.
export class IdleTimeout {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly fire: () => void) {}

  /** Starts the countdown (replacing any running one). */
  arm(delayMs: number): void {
    this.disarm();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.fire();
    }, Math.max(0, delayMs));
  }

  disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

// src/model/: the realtime model a call talks to. This file is the interface a call speaks to its
// model through: one bridge per call, owned by the call's model link (server/call/model-link.ts),
// the only thing that listens to it. openai-bridge.ts is the one implementation (the openai SDK's
// realtime client), backend.ts says where it connects (the embedded simulator, one elsewhere, or
// the OpenAI Realtime API), in-process-pipe.ts is how it reaches an embedded simulator, and
// simulator/ is the OpenAI Realtime stand-in. It may import audio/, text/ and ticker.ts; never
// server/, caller/, gate/, report/ or cli/.

export type ModelBackend = 'simulator' | 'openai';
export type ModelBridgeState = 'connecting' | 'ready' | 'closed';

export interface ModelBridgeListener {
  /** The session is configured; audio appended from now on goes straight to the model. */
  onReady(): void;
  /** A chunk of g711 mu-law audio (base64) for the assistant item `itemId`. */
  onAudioDelta(base64Audio: string, itemId: string): void;
  /** The model's voice-activity detector heard the caller start speaking (barge-in, if it goes on). */
  onSpeechStarted(): void;
  /** ...and stop (input_audio_buffer.speech_stopped): a short sound over an answer was a backchannel. */
  onSpeechStopped?(): void;
  /** A response finished (completed, cancelled or failed). */
  onResponseDone(status: string): void;
  /** A recoverable model-side error (bad event, error event); the session may go on. */
  onError(code: string, message: string): void;
  /** The session is gone. `expected` is false when the model side dropped it. */
  onClosed(reason: string, expected: boolean): void;
}

export interface ModelBridge {
  readonly state: ModelBridgeState;
  /** Bytes written to the model socket but not yet on the wire (the model-side backlog). */
  readonly bufferedAmount: number;
  /**
   * Forward one base64 mu-law chunk unchanged (no decode: the model takes g711 mu-law). False
   * when the session cannot take it (not ready, or its socket already closing): keep the audio.
   */
  appendAudio(base64Audio: string): boolean;
  /** Ask the model to speak now (used when the model talks first). */
  createResponse(): void;
  /** Cut the assistant item at the point the caller actually heard. */
  truncate(itemId: string, audioEndMs: number): void;
  /** Stop the answer the model is still making (response.cancel), if it is making one. */
  cancelResponse(): void;
  /**
   * Something the caller did that is not speech (a key press), told to the model as a user text
   * item; it answers once the response it is making (if any) is done.
   */
  userInput(text: string): void;
  close(): void;
}

export interface ModelSessionOptions {
  /** Shown to the model; also tags the connection so a simulator can report per call. */
  callSid: string;
  instructions: string;
  voice: string;
}

export type ModelBridgeFactory = (options: ModelSessionOptions, listener: ModelBridgeListener) => ModelBridge;

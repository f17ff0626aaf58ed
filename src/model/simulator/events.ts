// The server events the simulator sends, typed with the openai package's own definitions
// (openai/resources/realtime/realtime), so a wrong shape does not compile.
import type { ConversationItem, RealtimeResponse, RealtimeResponseUsage, RealtimeServerEvent } from 'openai/resources/realtime/realtime';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A server event before the session stamps its event_id. */
export type OutgoingEvent = DistributiveOmit<RealtimeServerEvent, 'event_id'>;

/**
 * The one field where the simulator follows the live API over the openai package's types: an
 * untranscribed input_audio part carries `transcript: null` (live capture, 2026-09), and
 * @openai/agents-realtime rejects an item without the key; the package types it optional string.
 */
export function untranscribedAudioPart(): { type: 'input_audio'; transcript?: string } {
  return { type: 'input_audio', transcript: null as unknown as undefined };
}

export type AssistantMessage = Extract<ConversationItem, { role: 'assistant' }> & { id: string };
export type FunctionCallItem = Extract<ConversationItem, { type: 'function_call' }> & { id: string };

/**
 * Token counts derived from durations and text lengths (the simulator has no tokenizer): about
 * 10 tokens per second of input audio, 20 per second of output audio, 1 per 4 characters of
 * text. Plausible magnitudes for agents that read usage, not billing figures.
 */
export function estimateUsage(input: { audioMs: number; textChars: number }, output: { audioMs: number; textChars: number }): RealtimeResponseUsage {
  const inAudio = Math.ceil(input.audioMs / 100);
  const inText = Math.ceil(input.textChars / 4);
  const outAudio = Math.ceil(output.audioMs / 50);
  const outText = Math.ceil(output.textChars / 4);
  return {
    total_tokens: inAudio + inText + outAudio + outText,
    input_tokens: inAudio + inText,
    output_tokens: outAudio + outText,
    input_token_details: { text_tokens: inText, audio_tokens: inAudio, image_tokens: 0, cached_tokens: 0, cached_tokens_details: { text_tokens: 0, audio_tokens: 0, image_tokens: 0 } },
    output_token_details: { text_tokens: outText, audio_tokens: outAudio },
  };
}

export type ResponseStatus = NonNullable<RealtimeResponse['status']>;

// Reading client events: JSON, then the shape of each event type (zod, strict: an unknown field
// is an error, as on the live API). input_audio_buffer.append, the one event per audio frame,
// takes a fast path that never builds an object: the event as the openai SDK and callsim's own
// bridge send it is recognised by its fixed prefix and the base64 sliced out of the text.
import { z } from 'zod';
import { sessionUpdateSchema, toolsSchema, toolChoiceSchema, maxOutputTokensSchema, outputModalitiesSchema, audioFormatSchema, voiceSchema } from './config.js';
import { CLIENT_EVENT_TYPES, errors, fromZodIssue, type ErrorBody } from './errors.js';

const eventId = z.string().max(512).optional();

const contentPart = z.looseObject({
  type: z.enum(['input_text', 'input_audio', 'input_image', 'output_text', 'output_audio', 'text', 'audio']),
  text: z.string().optional(),
  audio: z.string().optional(),
  transcript: z.string().nullable().optional(),
  image_url: z.string().optional(),
  detail: z.enum(['auto', 'low', 'high']).optional(),
});
const itemId = z.string().min(1).max(64).optional();
const status = z.enum(['completed', 'incomplete', 'in_progress']).optional();

export const itemSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('message'), id: itemId, object: z.literal('realtime.item').optional(), status, role: z.enum(['user', 'assistant', 'system']), content: z.array(contentPart) }),
  z.strictObject({ type: z.literal('function_call'), id: itemId, object: z.literal('realtime.item').optional(), status, call_id: z.string().optional(), name: z.string(), arguments: z.string() }),
  z.strictObject({ type: z.literal('function_call_output'), id: itemId, object: z.literal('realtime.item').optional(), status, call_id: z.string(), output: z.string() }),
]);
export type ClientItem = z.infer<typeof itemSchema>;

const responseParams = z.strictObject({
  output_modalities: outputModalitiesSchema.optional(),
  instructions: z.string().optional(),
  audio: z.strictObject({ output: z.strictObject({ format: audioFormatSchema.optional(), voice: voiceSchema.optional() }).optional() }).optional(),
  conversation: z.union([z.enum(['auto', 'none']), z.string()]).optional(),
  input: z.array(z.unknown()).optional(),
  tools: toolsSchema.optional(),
  tool_choice: toolChoiceSchema.optional(),
  max_output_tokens: maxOutputTokensSchema.optional(),
  metadata: z.record(z.string().max(64), z.string().max(512)).nullable().optional(),
  prompt: z.looseObject({ id: z.string() }).nullable().optional(),
  parallel_tool_calls: z.boolean().optional(),
  reasoning: z.looseObject({}).optional(),
});
export type ResponseParams = z.infer<typeof responseParams>;

const schemas = {
  'session.update': z.strictObject({ type: z.literal('session.update'), event_id: eventId, session: sessionUpdateSchema }),
  'input_audio_buffer.append': z.strictObject({ type: z.literal('input_audio_buffer.append'), event_id: eventId, audio: z.string() }),
  'input_audio_buffer.commit': z.strictObject({ type: z.literal('input_audio_buffer.commit'), event_id: eventId }),
  'input_audio_buffer.clear': z.strictObject({ type: z.literal('input_audio_buffer.clear'), event_id: eventId }),
  'conversation.item.create': z.strictObject({ type: z.literal('conversation.item.create'), event_id: eventId, previous_item_id: z.string().nullable().optional(), item: itemSchema }),
  'conversation.item.delete': z.strictObject({ type: z.literal('conversation.item.delete'), event_id: eventId, item_id: z.string() }),
  'conversation.item.retrieve': z.strictObject({ type: z.literal('conversation.item.retrieve'), event_id: eventId, item_id: z.string() }),
  'conversation.item.truncate': z.strictObject({
    type: z.literal('conversation.item.truncate'),
    event_id: eventId,
    item_id: z.string(),
    content_index: z.number().int().min(0),
    audio_end_ms: z.number().int().min(0),
  }),
  'response.create': z.strictObject({ type: z.literal('response.create'), event_id: eventId, response: responseParams.optional() }),
  'response.cancel': z.strictObject({ type: z.literal('response.cancel'), event_id: eventId, response_id: z.string().optional() }),
} as const;

export type ClientEventType = keyof typeof schemas;
export type ClientEvent = { [K in ClientEventType]: z.infer<(typeof schemas)[K]> }[ClientEventType];

/** What a text frame turned out to be. */
export type ReadEvent =
  | { kind: 'append'; base64: string; eventId: string | null }
  | { kind: 'event'; event: ClientEvent }
  | { kind: 'error'; error: ErrorBody; type: string | null; eventId: string | null };

const FAST_APPEND_PREFIX = '{"type":"input_audio_buffer.append","audio":"';
const FAST_APPEND_SUFFIX = '"}';

function fastAppend(text: string): string | null {
  if (!text.startsWith(FAST_APPEND_PREFIX) || !text.endsWith(FAST_APPEND_SUFFIX)) return null;
  const base64 = text.slice(FAST_APPEND_PREFIX.length, text.length - FAST_APPEND_SUFFIX.length);
  // A quote or backslash means JSON structure or escapes inside: take the slow path.
  return base64.includes('"') || base64.includes('\\') ? null : base64;
}

export function readClientEvent(text: string): ReadEvent {
  const base64 = fastAppend(text);
  if (base64 !== null) return { kind: 'append', base64, eventId: null };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'error', error: errors.invalidJson(), type: null, eventId: null };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { kind: 'error', error: errors.notAnObject(), type: null, eventId: null };
  const raw = value as Record<string, unknown>;
  // Bounded: these are recorded, and a peer must not make a record grow without limit.
  const eventIdValue = typeof raw.event_id === 'string' ? raw.event_id.slice(0, 512) : null;
  const type = raw.type;
  if (type === undefined) return { kind: 'error', error: errors.missingType(), type: null, eventId: eventIdValue };
  if (typeof type !== 'string') return { kind: 'error', error: errors.invalidType('type', 'string', type), type: null, eventId: eventIdValue };
  if (!(type in schemas)) {
    const known = (CLIENT_EVENT_TYPES as readonly string[]).includes(type) || type === 'output_audio_buffer.clear' || type === 'transcription_session.update';
    const shown = type.slice(0, 128);
    return { kind: 'error', error: known ? errors.unsupportedEvent(shown) : errors.unknownEventType(shown), type: shown, eventId: eventIdValue };
  }
  if (type === 'input_audio_buffer.append' && typeof raw.audio === 'string' && Object.keys(raw).every((k) => k === 'type' || k === 'audio' || k === 'event_id')) {
    return { kind: 'append', base64: raw.audio, eventId: eventIdValue };
  }
  const parsed = schemas[type as ClientEventType].safeParse(raw);
  if (!parsed.success) return { kind: 'error', error: fromZodIssue(parsed.error.issues[0]!, '', raw), type, eventId: eventIdValue };
  return { kind: 'event', event: parsed.data as ClientEvent };
}

/** Exact decoded length of canonical base64, or -1 when the text is not base64. */
export function decodedBase64Length(base64: string): number {
  const n = base64.length;
  if (n % 4 !== 0) return -1;
  const padding = n === 0 ? 0 : base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
  return (n / 4) * 3 - padding;
}

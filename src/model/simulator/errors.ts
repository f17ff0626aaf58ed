// The real API's error bodies: types, codes, messages and params as the OpenAI Realtime API
// sends them. Where a message was seen on the live API it is copied word for word (sources in the
// comments); the rest follow the same pattern and say so.
import type { RealtimeError } from 'openai/resources/realtime/realtime';
import type { z } from 'zod';

export type ErrorBody = RealtimeError & { code: string | null; param: string | null; event_id: string | null };

function body(type: string, code: string | null, message: string, param: string | null = null): ErrorBody {
  return { type, code, message, param, event_id: null };
}

const invalid = (code: string | null, message: string, param: string | null = null): ErrorBody =>
  body('invalid_request_error', code, message, param);

/** Every client event type the GA API lists in its own "Invalid value" message (live capture, 2026-09). */
export const CLIENT_EVENT_TYPES = [
  'session.update', 'session.close', 'input_audio_buffer.append', 'session.input_audio_buffer.append',
  'input_audio_buffer.commit', 'input_audio_buffer.clear', 'conversation.item.create', 'conversation.item.truncate',
  'conversation.item.delete', 'conversation.item.retrieve', 'response.create', 'response.cancel',
] as const;

function quotedList(values: readonly string[]): string {
  const quoted = values.map((v) => `'${v}'`);
  return quoted.length > 1 ? `${quoted.slice(0, -1).join(', ')}, and ${quoted.at(-1)}` : (quoted[0] ?? '');
}

export const errors = {
  // Handshake failures: the live API upgrades (101), sends one error event, then closes.
  betaShape: () => invalid('beta_api_shape_disabled', 'The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API.'),
  missingAuth: () => invalid(null, 'Missing bearer or basic authentication in header'),
  invalidApiKey: (key: string) =>
    invalid('invalid_api_key', `Incorrect API key provided: ${maskKey(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`),
  missingModel: () => invalid('missing_model', 'You must provide a model parameter, for example wss://api.openai.com/v1/realtime?model=gpt-realtime-1.5'),
  invalidModel: (model: string) => invalid('invalid_model', `Model "${model}" is not supported in realtime mode.`),
  // Frames the API cannot read at all (live capture).
  invalidJson: () => invalid('invalid_json', 'Invalid event: failed to parse JSON value.'),
  binaryFrame: () => invalid('invalid_event', 'Expected a text WebSocket message; binary frames are not supported.'),
  notAnObject: () => invalid('invalid_event', 'Invalid event: expected a JSON object.'),
  missingType: () => invalid('missing_required_parameter', "Missing required parameter: 'type'.", 'type'),
  unknownEventType: (type: string) =>
    invalid('invalid_value', `Invalid value: '${type}'. Supported values are: ${quotedList(CLIENT_EVENT_TYPES)}.`, 'type'),
  invalidType: (param: string, expected: string, value: unknown) =>
    invalid('invalid_type', `Invalid type for '${param}': expected ${expected}, but got ${describeValue(value)} instead.`, param),
  invalidAudio: () => invalid('invalid_value', "Invalid 'audio': expected base64-encoded audio bytes.", 'audio'),
  audioTooLarge: (bytes: number) => invalid('invalid_value', `Invalid 'audio': ${bytes} bytes is more than the 15 MiB an append may carry.`, 'audio'),
  unsupportedEvent: (type: string) => invalid('invalid_value', `Unsupported event: '${type}'.`, 'type'),
  // Conversation and response state (messages as reported from the live API).
  commitEmpty: (ms: number) =>
    invalid(
      'input_audio_buffer_commit_empty',
      `Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has ${ms.toFixed(2)}ms of audio.`,
    ),
  activeResponse: (responseId: string) =>
    invalid(
      'conversation_already_has_active_response',
      `Conversation already has an active response in progress: ${responseId}. Wait until the response is finished before creating a new one.`,
    ),
  cancelNotActive: () => invalid('response_cancel_not_active', 'Cancellation failed: no active response found'),
  truncateUnknownItem: (id: string) =>
    invalid('item_truncate_invalid_item_id', `Error truncating item: the item with id '${id}' does not exist.`, 'item_id'),
  deleteUnknownItem: (id: string) => invalid('item_delete_invalid_item_id', `Error deleting item: the item with id '${id}' does not exist.`),
  retrieveUnknownItem: (id: string) =>
    invalid('item_retrieve_invalid_item_id', `Error retrieving item: the item with id '${id}' does not exist.`, 'item_id'),
  truncateNotAudio: () => invalid(null, 'Only model output audio messages can be truncated'),
  truncatePastEnd: (haveMs: number, askedMs: number) =>
    invalid('invalid_value', `Audio content of ${Math.floor(haveMs)}ms is already shorter than ${askedMs}ms`, 'audio_end_ms'),
  // Not seen on the live API; the same pattern as its other invalid_value errors.
  unknownPreviousItem: (id: string) => invalid('invalid_value', `Previous item with id '${id}' does not exist.`, 'previous_item_id'),
  duplicateItemId: (id: string) => invalid('invalid_value', `Item with id '${id}' already exists.`, 'item.id'),
  unknownCallId: (callId: string) =>
    invalid('invalid_value', `No tool call found with call_id '${callId}' in the conversation.`, 'item.call_id'),
  contentTypeForRole: (role: string, type: string, index: number, allowed: readonly string[]) =>
    invalid('invalid_value', `Invalid value: '${type}'. Supported values for a ${role} message are: ${quotedList(allowed)}.`, `item.content[${index}].type`),
  voiceLocked: () => invalid('cannot_update_voice', "Cannot update a conversation's voice if assistant audio is present.", 'session.audio.output.voice'),
  transcriptionSession: () =>
    invalid('invalid_value', 'Passing a transcription session update event to a realtime session is not allowed.', 'session.type'),
  // A scripted model-side failure.
  server: (message: string, code: string | null = null) => body('server_error', code, message),
};

/** The first 8 characters and the last 4, as the live API shows a wrong key; never the whole key. */
function maskKey(key: string): string {
  return key.length <= 12 ? `${key.slice(0, 3)}***` : `${key.slice(0, 8)}***${key.slice(-4)}`;
}

function paramPath(prefix: string, path: ReadonlyArray<PropertyKey>): string {
  let out = prefix;
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`;
  return out;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return typeof value === 'string' ? 'a string' : typeof value === 'number' ? (Number.isInteger(value) ? 'an integer' : 'a decimal') : `a ${typeof value}`;
}

/** The first zod issue of a client event, as the API reports a bad request field (first one only, as it does). */
export function fromZodIssue(issue: z.core.$ZodIssue, prefix: string, input: unknown): ErrorBody {
  const at = (path: ReadonlyArray<PropertyKey>): unknown => path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined), input);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const param = paramPath(prefix, [...issue.path, issue.keys[0] ?? '']);
      return invalid('unknown_parameter', `Unknown parameter: '${param}'.`, param);
    }
    case 'invalid_type': {
      const param = paramPath(prefix, issue.path);
      const got = at(issue.path);
      if (got === undefined) return invalid('missing_required_parameter', `Missing required parameter: '${param}'.`, param);
      return errors.invalidType(param, issue.expected, got);
    }
    case 'invalid_value': {
      const param = paramPath(prefix, issue.path);
      const got = at(issue.path);
      if (got === undefined) return invalid('missing_required_parameter', `Missing required parameter: '${param}'.`, param);
      return invalid('invalid_value', `Invalid value: '${String(got)}'. Supported values are: ${quotedList(issue.values.map(String))}.`, param);
    }
    case 'invalid_union': {
      const param = paramPath(prefix, issue.path);
      return invalid('invalid_value', `Invalid value for '${param}'.`, param);
    }
    case 'too_small':
    case 'too_big': {
      const param = paramPath(prefix, issue.path);
      const below = issue.code === 'too_small';
      const got = at(issue.path);
      if (typeof got === 'number') {
        const kind = Number.isInteger(got) ? 'integer' : 'decimal';
        const bound = below ? `>= ${String(issue.minimum)}` : `<= ${String(issue.maximum)}`;
        return invalid(`${kind}_${below ? 'below_min' : 'above_max'}_value`, `Invalid '${param}': ${kind} ${below ? 'below minimum' : 'above maximum'} value. Expected a value ${bound}, but got ${got} instead.`, param);
      }
      return invalid(below ? 'string_below_min_length' : 'string_above_max_length', `Invalid '${param}': ${below ? 'too short' : 'too long'}.`, param);
    }
    default: {
      const param = paramPath(prefix, issue.path);
      return invalid('invalid_value', `Invalid '${param}': ${issue.message}`, param || null);
    }
  }
}

// Parsers for both directions of a Media Streams socket. They return errors as values, so a
// malformed frame never throws into a socket loop, and keep Twilio's string-typed fields.
import { SAMPLE_RATE } from '../audio/format.js';
import {
  DTMF_TRACK,
  MULAW_ENCODING,
  STREAM_PROTOCOL,
  type MediaFormat,
  type MediaMessage,
  type TwilioInboundMessage,
  type TwilioOutboundMessage,
} from './messages.js';


export type ProtocolErrorCode =
  | 'binary_frame'
  | 'frame_too_large'
  | 'malformed_json'
  | 'not_an_object'
  | 'unknown_event'
  | 'missing_field'
  | 'extra_field'
  | 'invalid_field'
  | 'invalid_base64';

export interface ProtocolError {
  code: ProtocolErrorCode;
  message: string;
}

export type ParseResult<T> = { ok: true; message: T } | { ok: false; error: ProtocolError };

/** Largest text frame either side accepts; a 20 ms media event is ~400 bytes. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

type JsonObject = Record<string, unknown>;

function fail<T>(code: ProtocolErrorCode, message: string): ParseResult<T> {
  return { ok: false, error: { code, message } };
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Twilio sends numbers as strings in some fields; accept both and keep the string form.
function str(obj: JsonObject, key: string): string | undefined {
  const value = obj[key];
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

// 1 for each character of the base64 alphabet (RFC 4648 §4), by char code.
const BASE64_ALPHABET = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') BASE64_ALPHABET[c.charCodeAt(0)] = 1;
const PAD = 61; // '='

/**
 * Strict base64 check; Buffer.from(x, 'base64') silently skips garbage, so it cannot tell us.
 * A table loop, not a regex: it runs on every media frame.
 */
export function isBase64(text: string): boolean {
  const length = text.length;
  if (length % 4 !== 0) return false;
  let end = length;
  if (length > 0 && text.charCodeAt(length - 1) === PAD) end = text.charCodeAt(length - 2) === PAD ? length - 2 : length - 1;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c > 127 || BASE64_ALPHABET[c] === 0) return false;
  }
  return true;
}

/** Bytes a valid base64 string decodes to, without decoding it. */
export function base64DecodedLength(text: string): number {
  let padding = 0;
  if (text.endsWith('==')) padding = 2;
  else if (text.endsWith('=')) padding = 1;
  return (text.length / 4) * 3 - padding;
}

function decodeJsonObject(raw: string | Buffer, isBinary: boolean): ParseResult<JsonObject> {
  if (isBinary) return fail('binary_frame', 'binary WebSocket frames are not part of the protocol');
  if (raw.length > MAX_MESSAGE_BYTES) {
    return fail('frame_too_large', `message of ${raw.length} bytes exceeds ${MAX_MESSAGE_BYTES}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (err) {
    return fail('malformed_json', `malformed JSON: ${(err as Error).message}`);
  }
  if (!isObject(value)) return fail('not_an_object', 'message is not a JSON object');
  return { ok: true, message: value };
}

/** The `media` object of a media message and its validated base64 payload (both directions). */
function mediaSection(msg: JsonObject): ParseResult<{ media: JsonObject; payload: string }> {
  const media = msg.media;
  if (!isObject(media)) return fail('missing_field', 'media event without a "media" object');
  const payload = media.payload;
  if (typeof payload !== 'string') return fail('invalid_field', 'media.payload is missing or not a string');
  if (!isBase64(payload)) return fail('invalid_base64', 'media.payload is not valid base64');
  return { ok: true, message: { media, payload } };
}

function section(msg: JsonObject, key: string, event: string): ParseResult<JsonObject> {
  const value = msg[key];
  if (!isObject(value)) return fail('missing_field', `${event} event without a "${key}" object`);
  return { ok: true, message: value };
}

function parseMedia(msg: JsonObject): ParseResult<MediaMessage> {
  const checked = mediaSection(msg);
  if (!checked.ok) return checked;
  const { media, payload } = checked.message;
  // Twilio's frames already have every field as a string, so the parsed object is the message;
  // only a frame with odd types is rebuilt.
  if (
    typeof msg.sequenceNumber === 'string' &&
    typeof msg.streamSid === 'string' &&
    typeof media.track === 'string' &&
    typeof media.chunk === 'string' &&
    typeof media.timestamp === 'string'
  ) {
    return { ok: true, message: msg as unknown as MediaMessage };
  }
  return {
    ok: true,
    message: {
      event: 'media',
      sequenceNumber: str(msg, 'sequenceNumber') ?? '',
      streamSid: str(msg, 'streamSid') ?? '',
      media: {
        track: str(media, 'track') ?? 'inbound',
        chunk: str(media, 'chunk') ?? '',
        timestamp: str(media, 'timestamp') ?? '',
        payload,
      },
    },
  };
}

/** Parse one message Twilio sends to a Media Streams server. */
export function parseTwilioMessage(raw: string | Buffer, isBinary = false): ParseResult<TwilioInboundMessage> {
  const decoded = decodeJsonObject(raw, isBinary);
  if (!decoded.ok) return decoded;
  const msg = decoded.message;
  const event = msg.event;
  // Media is nearly every frame: its own path, before any work the other events need.
  if (event === 'media') return parseMedia(msg);
  const sequenceNumber = str(msg, 'sequenceNumber') ?? '';
  const streamSid = str(msg, 'streamSid') ?? '';

  switch (event) {
    case 'connected':
      return {
        ok: true,
        message: { event, protocol: str(msg, 'protocol') ?? STREAM_PROTOCOL, version: str(msg, 'version') ?? '' },
      };

    case 'start': {
      const startSection = section(msg, 'start', event);
      if (!startSection.ok) return startSection;
      const start = startSection.message;
      const callSid = str(start, 'callSid');
      const startStreamSid = str(start, 'streamSid') ?? streamSid;
      if (!callSid) return fail('missing_field', 'start event without start.callSid');
      if (!startStreamSid) return fail('missing_field', 'start event without a streamSid');
      const tracks = Array.isArray(start.tracks) ? start.tracks.filter((t): t is string => typeof t === 'string') : ['inbound'];
      const customParameters: Record<string, string> = {};
      if (start.customParameters !== undefined) {
        if (!isObject(start.customParameters)) return fail('invalid_field', 'start.customParameters is not an object');
        for (const [key, value] of Object.entries(start.customParameters)) {
          if (typeof value === 'string') customParameters[key] = value;
        }
      }
      const format = isObject(start.mediaFormat) ? start.mediaFormat : {};
      const mediaFormat: MediaFormat = {
        encoding: typeof format.encoding === 'string' ? format.encoding : MULAW_ENCODING,
        sampleRate: typeof format.sampleRate === 'number' ? format.sampleRate : SAMPLE_RATE,
        channels: typeof format.channels === 'number' ? format.channels : 1,
      };
      return {
        ok: true,
        message: {
          event,
          sequenceNumber,
          streamSid: startStreamSid,
          start: {
            accountSid: str(start, 'accountSid') ?? '',
            streamSid: startStreamSid,
            callSid,
            tracks,
            customParameters,
            mediaFormat,
          },
        },
      };
    }

    case 'mark': {
      const markSection = section(msg, 'mark', event);
      if (!markSection.ok) return markSection;
      const mark = markSection.message;
      const name = str(mark, 'name');
      if (name === undefined) return fail('missing_field', 'mark event without mark.name');
      return { ok: true, message: { event, sequenceNumber, streamSid, mark: { name } } };
    }

    case 'dtmf': {
      const dtmfSection = section(msg, 'dtmf', event);
      if (!dtmfSection.ok) return dtmfSection;
      const dtmf = dtmfSection.message;
      const digit = str(dtmf, 'digit');
      if (digit === undefined) return fail('missing_field', 'dtmf event without dtmf.digit');
      return {
        ok: true,
        message: { event, sequenceNumber, streamSid, dtmf: { track: str(dtmf, 'track') ?? DTMF_TRACK, digit } },
      };
    }

    case 'stop': {
      const stop = isObject(msg.stop) ? msg.stop : {};
      return {
        ok: true,
        message: {
          event,
          sequenceNumber,
          streamSid,
          stop: { accountSid: str(stop, 'accountSid') ?? '', callSid: str(stop, 'callSid') ?? '' },
        },
      };
    }

    default:
      return fail('unknown_event', `unknown event ${JSON.stringify(event)}`);
  }
}

/**
 * The fields Twilio documents for each message a server may send ("Media Streams - WebSocket
 * Messages", messages to Twilio); anything else in them is an extra field, which Twilio names as
 * a cause of warning 31951 ("Missing or extra field in message").
 */
const SERVER_MESSAGE_FIELDS = {
  media: { top: ['event', 'streamSid', 'media'], section: ['payload'] },
  mark: { top: ['event', 'streamSid', 'mark'], section: ['name'] },
  clear: { top: ['event', 'streamSid'], section: [] },
} as const satisfies Record<TwilioOutboundMessage['event'], { top: readonly string[]; section: readonly string[] }>;

function extraField(obj: JsonObject, allowed: readonly string[], where: string): ParseResult<never> | null {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) return fail('extra_field', `${where} has a field Twilio does not define: ${JSON.stringify(key)}`);
  }
  return null;
}

/**
 * Parse one message a Media Streams server sends back to Twilio, as strictly as Twilio reads it:
 * exactly the documented fields, every value a string (warning 31951 for anything else).
 */
export function parseServerMessage(raw: string | Buffer, isBinary = false): ParseResult<TwilioOutboundMessage> {
  const decoded = decodeJsonObject(raw, isBinary);
  if (!decoded.ok) return decoded;
  const msg = decoded.message;
  const event = msg.event;
  if (event !== 'media' && event !== 'mark' && event !== 'clear') {
    return fail('unknown_event', `unknown event ${JSON.stringify(event)}`);
  }
  const streamSid = msg.streamSid;
  if (streamSid === undefined) return fail('missing_field', `${event} message without streamSid`);
  if (typeof streamSid !== 'string') return fail('invalid_field', `${event} message with a streamSid that is not a string (${JSON.stringify(streamSid)})`);
  const fields = SERVER_MESSAGE_FIELDS[event];
  const extra = extraField(msg, fields.top, `${event} message`);
  if (extra !== null) return extra;
  switch (event) {
    case 'media': {
      const checked = mediaSection(msg);
      if (!checked.ok) return checked;
      const extraInMedia = extraField(checked.message.media, fields.section, 'media.media');
      if (extraInMedia !== null) return extraInMedia;
      return { ok: true, message: { event, streamSid, media: { payload: checked.message.payload } } };
    }
    case 'mark': {
      const markSection = section(msg, 'mark', event);
      if (!markSection.ok) return markSection;
      const mark = markSection.message;
      const name = mark.name;
      if (name === undefined) return fail('missing_field', 'mark message without mark.name');
      if (typeof name !== 'string') return fail('invalid_field', `mark.name is not a string (${JSON.stringify(name)})`);
      const extraInMark = extraField(mark, fields.section, 'mark.mark');
      if (extraInMark !== null) return extraInMark;
      return { ok: true, message: { event, streamSid, mark: { name } } };
    }
    case 'clear':
      return { ok: true, message: { event, streamSid } };
  }
}

// The Twilio Media Streams wire messages, both directions, as the types every side imports, and
// the fixed values Twilio puts in them. Reference: Twilio "Media Streams - WebSocket Messages"
// (bidirectional streams).
import { SAMPLE_RATE } from '../audio/format.js';

export type CallDirection = 'inbound' | 'outbound';
export const CALL_DIRECTIONS: readonly CallDirection[] = ['inbound', 'outbound'];

export interface MediaFormat {
  encoding: string;
  sampleRate: number;
  channels: number;
}

/** `connected.protocol` and `connected.version`: the only values Twilio documents. */
export const STREAM_PROTOCOL = 'Call';
export const STREAM_PROTOCOL_VERSION = '1.0.0';
/** `start.mediaFormat` of every Twilio stream: 8 kHz mono G.711 mu-law. */
export const MULAW_ENCODING = 'audio/x-mulaw';
export const TWILIO_MEDIA_FORMAT: Readonly<MediaFormat> = { encoding: MULAW_ENCODING, sampleRate: SAMPLE_RATE, channels: 1 };

/** `media.track`: whose audio a media message carries (a bidirectional stream has only inbound). */
export type MediaTrack = 'inbound' | 'outbound';
/** `dtmf.track`: Twilio reports caller key presses on the inbound track. */
export const DTMF_TRACK = 'inbound_track';

// ---- Twilio -> server -----------------------------------------------------------------------

export interface ConnectedMessage {
  event: 'connected';
  protocol: string;
  version: string;
}

export interface StartMessage {
  event: 'start';
  sequenceNumber: string;
  streamSid: string;
  start: {
    accountSid: string;
    streamSid: string;
    callSid: string;
    tracks: string[];
    customParameters: Record<string, string>;
    mediaFormat: MediaFormat;
  };
}

export interface MediaMessage {
  event: 'media';
  sequenceNumber: string;
  streamSid: string;
  media: {
    track: string;
    chunk: string;
    timestamp: string;
    payload: string;
  };
}

export interface MarkMessage {
  event: 'mark';
  sequenceNumber: string;
  streamSid: string;
  mark: { name: string };
}

export interface DtmfMessage {
  event: 'dtmf';
  sequenceNumber: string;
  streamSid: string;
  dtmf: { track: string; digit: string };
}

export interface StopMessage {
  event: 'stop';
  sequenceNumber: string;
  streamSid: string;
  stop: { accountSid: string; callSid: string };
}

export type TwilioInboundMessage =
  | ConnectedMessage
  | StartMessage
  | MediaMessage
  | MarkMessage
  | DtmfMessage
  | StopMessage;

// ---- server -> Twilio -----------------------------------------------------------------------

export interface OutboundMediaMessage {
  event: 'media';
  streamSid: string;
  media: { payload: string };
}

export interface OutboundMarkMessage {
  event: 'mark';
  streamSid: string;
  mark: { name: string };
}

export interface ClearMessage {
  event: 'clear';
  streamSid: string;
}

export type TwilioOutboundMessage = OutboundMediaMessage | OutboundMarkMessage | ClearMessage;

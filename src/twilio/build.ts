// Builders for both directions of a Media Streams socket. Media frames are most of the traffic
// (50 a second per call, tens of thousands a second in the bench), so each builder splices the
// varying fields into strings made once per stream instead of JSON.stringify-ing an object per
// frame; every other message is rare and goes through JSON.stringify of its typed form.
import {
  DTMF_TRACK,
  STREAM_PROTOCOL,
  STREAM_PROTOCOL_VERSION,
  TWILIO_MEDIA_FORMAT,
  type ConnectedMessage,
  type DtmfMessage,
  type MediaFormat,
  type MediaTrack,
  type StartMessage,
  type StopMessage,
} from './messages.js';
import type { StreamIds } from './sid.js';

// ---- server -> Twilio -----------------------------------------------------------------------

// The hot path sends thousands of media frames a second; splice the payload into a prefix
// built once per stream instead of JSON.stringify-ing a fresh object each time.
export class OutboundFrameBuilder {
  private readonly mediaPrefix: string;
  private readonly sid: string;

  constructor(readonly streamSid: string) {
    this.sid = JSON.stringify(streamSid);
    this.mediaPrefix = `{"event":"media","streamSid":${this.sid},"media":{"payload":"`;
  }

  /** `payload` must already be base64 (it is, straight from the model), so it needs no escaping. */
  media(payloadBase64: string): string {
    return this.mediaPrefix + payloadBase64 + '"}}';
  }

  mark(name: string): string {
    return `{"event":"mark","streamSid":${this.sid},"mark":{"name":${JSON.stringify(name)}}}`;
  }

  clear(): string {
    return `{"event":"clear","streamSid":${this.sid}}`;
  }
}

// ---- Twilio -> server -----------------------------------------------------------------------

export interface StartDetails {
  /** The stream's <Parameter>s; Twilio sends them as `start.customParameters`. */
  customParameters?: Readonly<Record<string, string>>;
  /** Default: ['inbound'], all a bidirectional <Connect><Stream> carries. */
  tracks?: readonly MediaTrack[];
  mediaFormat?: Readonly<MediaFormat>;
}

export const CONNECTED_MESSAGE: Readonly<ConnectedMessage> = {
  event: 'connected',
  protocol: STREAM_PROTOCOL,
  version: STREAM_PROTOCOL_VERSION,
};

/** A `start` message; a test that sends a second, odd `start` builds it with its own SIDs. */
export function startMessage(sequenceNumber: number, ids: Readonly<StreamIds>, details: StartDetails = {}): StartMessage {
  return {
    event: 'start',
    sequenceNumber: String(sequenceNumber),
    streamSid: ids.streamSid,
    start: {
      accountSid: ids.accountSid,
      streamSid: ids.streamSid,
      callSid: ids.callSid,
      tracks: [...(details.tracks ?? ['inbound'])],
      customParameters: { ...details.customParameters },
      mediaFormat: { ...(details.mediaFormat ?? TWILIO_MEDIA_FORMAT) },
    },
  };
}

const MEDIA_HEAD = '{"event":"media","sequenceNumber":"';
const TIMESTAMP_AT = '","timestamp":"';
const PAYLOAD_AT = '","payload":"';
const MEDIA_TAIL = '"}}';
const MARK_HEAD = '{"event":"mark","sequenceNumber":"';

/**
 * Every message Twilio sends on one stream, numbered the way Twilio numbers them ("Media Streams
 * - WebSocket Messages"): `connected` carries no sequenceNumber, `start` is 1 and each later
 * message (media, dtmf, mark, stop) takes the next; media `chunk` counts from 1, per track, and
 * `timestamp` is the frame's audio time in ms since the stream began.
 */
export class InboundFrameBuilder {
  private sequence = 0;
  private readonly chunks: Record<MediaTrack, number> = { inbound: 0, outbound: 0 };
  private readonly sid: string;
  /** Everything between a media message's sequenceNumber and its chunk, per track. */
  private readonly mediaMiddle: Record<MediaTrack, string>;
  private readonly markMiddle: string;

  constructor(readonly ids: Readonly<StreamIds>) {
    this.sid = JSON.stringify(ids.streamSid);
    const middle = (track: MediaTrack): string => `","streamSid":${this.sid},"media":{"track":"${track}","chunk":"`;
    this.mediaMiddle = { inbound: middle('inbound'), outbound: middle('outbound') };
    this.markMiddle = `","streamSid":${this.sid},"mark":{"name":`;
  }

  /** The sequenceNumber of the last message built (0 before `start`). */
  get lastSequenceNumber(): number {
    return this.sequence;
  }

  /** The chunk of the last media message built on `track` (0 before the first). */
  lastChunk(track: MediaTrack = 'inbound'): number {
    return this.chunks[track];
  }

  /** Takes the next sequenceNumber for a message built by hand (a test's deliberately odd frame). */
  nextSequenceNumber(): number {
    this.sequence += 1;
    return this.sequence;
  }

  connected(): string {
    return JSON.stringify(CONNECTED_MESSAGE);
  }

  start(details: StartDetails = {}): string {
    return JSON.stringify(startMessage(this.nextSequenceNumber(), this.ids, details));
  }

  /**
   * The hot path. `payloadBase64` must already be base64 (nothing in it needs JSON escaping);
   * `timestampMs` is rounded to whole ms, as Twilio stamps them.
   */
  media(payloadBase64: string, timestampMs: number, track: MediaTrack = 'inbound'): string {
    const sequence = (this.sequence += 1);
    const chunk = (this.chunks[track] += 1);
    return MEDIA_HEAD + sequence + this.mediaMiddle[track] + chunk + TIMESTAMP_AT + Math.round(timestampMs) + PAYLOAD_AT + payloadBase64 + MEDIA_TAIL;
  }

  /** The echo of a mark whose audio has played: one per mark the server sends, so spliced too. */
  mark(name: string): string {
    return MARK_HEAD + this.nextSequenceNumber() + this.markMiddle + JSON.stringify(name) + '}}';
  }

  dtmf(digit: string): string {
    const message: DtmfMessage = {
      event: 'dtmf',
      sequenceNumber: String(this.nextSequenceNumber()),
      streamSid: this.ids.streamSid,
      dtmf: { track: DTMF_TRACK, digit },
    };
    return JSON.stringify(message);
  }

  stop(): string {
    const message: StopMessage = {
      event: 'stop',
      sequenceNumber: String(this.nextSequenceNumber()),
      streamSid: this.ids.streamSid,
      stop: { accountSid: this.ids.accountSid, callSid: this.ids.callSid },
    };
    return JSON.stringify(message);
  }
}

// Twilio inbound dispatch: each frame from the Media Streams socket is parsed (the codec returns
// errors as values), checked against where the call is (no media before `start` or after the
// end, none for another stream, one `start`, one `stop`) and routed to the part it is for. Every
// refusal is a protocol error recorded on the call; none ends it, except a frame ws itself refused.
import type { Logger } from '../../log.js';
import { FRAME_BYTES } from '../../audio/format.js';
import { MAX_MESSAGE_BYTES, base64DecodedLength, isSidShaped, parseTwilioMessage, type CallDirection, type MediaMessage, type StartMessage } from '../../twilio/codec.js';
import type { AdmitStart } from './admission.js';
import type { CallEnding } from './boundary.js';
import type { CallLifecycle } from './lifecycle.js';
import { isLoggedOccurrence, type CallRecord } from './record.js';

/**
 * A peer's SID as an error message may quote it: itself when SID-shaped, else only its length (a
 * newline, a non-Latin-1 character or 10 kB never reaches a log line or a /calls answer).
 */
function quotedSid(value: string): string {
  return isSidShaped(value) ? value : `a malformed SID of ${value.length} characters`;
}

/** Tracks and digits are logged, not trusted: at most this much of each. */
const MAX_TRACKS_LOGGED = 4;
const MAX_TRACK_CHARS = 32;
const MAX_DIGIT_CHARS = 8;
/** "Media Streams - WebSocket Messages", dtmf: one key, 0-9, * or #. */
const DTMF_DIGIT = /^[0-9*#]$/;

/** ws receiver errors by code: the call error recorded, the close code ws sent, the end reason. */
const WS_FRAME_ERRORS: Readonly<Record<string, readonly [string, number, string]>> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: ['frame_too_large', 1009, 'frame too large'],
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: ['frame_too_large', 1009, 'frame too large'],
  WS_ERR_TOO_MANY_BUFFERED_PARTS: ['too_many_fragments', 1008, 'too many fragments'],
  WS_ERR_INVALID_UTF8: ['invalid_utf8', 1007, 'invalid UTF-8'],
};
const OTHER_FRAME_ERROR = ['invalid_frame', 1002, 'invalid frame'] as const;

/** A `start` the call accepted; the record already carries its callSid and streamSid. */
export interface AcceptedStart {
  streamSid: string;
  direction: CallDirection;
  /** For the log line, bounded. */
  tracks: string[];
}

/** Where validated events go (the call). */
export interface InboundRoutes extends CallEnding {
  /** Asked before a valid start names the call: the server may refuse it (and the call ends). */
  admitStart: AdmitStart;
  onStart(start: AcceptedStart): void;
  /** Accepted caller audio: valid base64 of `bytes` (> 0) bytes, already counted. */
  onMedia(payload: string, bytes: number): void;
  onMark(name: string): void;
  /** A key the caller pressed (one of Twilio's digits 0-9, * and #). */
  onDtmf(digit: string): void;
  onStop(): void;
}

export class TwilioInbound {
  /**
   * performance.now() of the start, then of the last accepted audio: the server closes calls that
   * go silent. Twilio streams media every 20 ms, silence included, so only audio counts: any other
   * frame (a `connected` every 20 s) is cheap to send forever and must not keep a call slot.
   */
  lastMediaAt: number;
  /** performance.now() the current frame was read from the socket (the forwarding latency starts there). */
  lastFrameAt: number;

  constructor(
    private readonly lifecycle: CallLifecycle,
    private readonly record: CallRecord,
    private readonly logger: Logger,
    private readonly routes: InboundRoutes,
  ) {
    this.lastMediaAt = performance.now();
    this.lastFrameAt = this.lastMediaAt;
  }

  dispatch(data: Buffer, isBinary: boolean): void {
    this.lastFrameAt = performance.now();
    const parsed = parseTwilioMessage(data, isBinary);
    if (!parsed.ok) {
      this.record.protocolError(parsed.error.code, parsed.error.message);
      return;
    }
    const message = parsed.message;
    switch (message.event) {
      case 'connected':
        return;
      case 'start':
        return this.onStart(message);
      case 'media':
        return this.onMedia(message);
      case 'mark':
        this.record.counters.marksReceived += 1;
        return this.routes.onMark(message.mark.name);
      case 'dtmf':
        this.record.counters.dtmfReceived += 1;
        // Bounded like errors: a flood of key presses must not become a flood of log lines.
        if (isLoggedOccurrence(this.record.counters.dtmfReceived)) {
          this.logger.info('dtmf', { callSid: this.record.callSid, digit: message.dtmf.digit.slice(0, MAX_DIGIT_CHARS), dtmfReceived: this.record.counters.dtmfReceived });
        }
        // Only a digit Twilio sends reaches the model: anything else is a peer's text.
        if (DTMF_DIGIT.test(message.dtmf.digit)) this.routes.onDtmf(message.dtmf.digit);
        return;
      case 'stop':
        return this.onStop();
    }
  }

  socketError(err: Error & { code?: string }): void {
    const code = err.code ?? '';
    if (!code.startsWith('WS_ERR_')) {
      this.record.recordError('socket_error', err.message);
      return;
    }
    // A frame ws refused (too large, invalid UTF-8, bad framing). ws has already sent its close
    // and stops reading, so the socket's own close event would only say 1006: end the call here,
    // with the code the peer actually got.
    const [errorCode, closeCode, what] = WS_FRAME_ERRORS[code] ?? OTHER_FRAME_ERROR;
    const detail = code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? `frame over ${MAX_MESSAGE_BYTES} bytes` : err.message;
    this.record.protocolError(errorCode, `${detail}; socket closed with ${closeCode}`);
    this.routes.close(`${what} (${closeCode})`, closeCode);
  }

  private onStart(message: StartMessage): void {
    if (this.lifecycle.phase !== 'awaiting-start') {
      this.record.protocolError('duplicate_start', `start received while the call is ${this.lifecycle.reported}; ignored`);
      return;
    }
    const start = message.start;
    if (!isSidShaped(start.callSid) || !isSidShaped(start.streamSid)) {
      this.record.protocolError('invalid_sid', `start with a callSid/streamSid that is not letters and digits (at most 64): ${quotedSid(start.callSid)} / ${quotedSid(start.streamSid)}; ignored`);
      return;
    }
    const refusal = this.routes.admitStart({ callSid: start.callSid, customParameters: start.customParameters });
    if (refusal !== null) {
      // Never named: a refused start must not shadow the record of the call it claimed to be.
      this.record.protocolError(refusal.code, refusal.message);
      this.routes.close(refusal.reason, refusal.closeCode);
      return;
    }
    this.lastMediaAt = this.lastFrameAt;
    // Named first, so everything recorded from here on (a bad direction too) carries the callSid.
    this.record.callSid = start.callSid;
    this.record.streamSid = start.streamSid;
    const asked = start.customParameters.direction;
    let direction: CallDirection = 'inbound';
    if (asked === 'inbound' || asked === 'outbound') {
      direction = asked;
    } else if (asked !== undefined) {
      this.record.protocolError('invalid_direction', `customParameters.direction "${asked}" is not inbound|outbound; using inbound`);
    }
    const tracks = start.tracks.slice(0, MAX_TRACKS_LOGGED).map((t) => t.slice(0, MAX_TRACK_CHARS));
    this.routes.onStart({ streamSid: start.streamSid, direction, tracks });
  }

  private onMedia(message: MediaMessage): void {
    const phase = this.lifecycle.phase;
    if (phase !== 'live') {
      const reported = this.lifecycle.reported;
      const code = phase === 'awaiting-start' ? 'media_before_start' : reported === 'stopped' ? 'media_after_stop' : 'media_after_end';
      this.record.protocolError(code, `media while the call is ${reported}; ignored`);
      return;
    }
    if (message.streamSid !== '' && message.streamSid !== this.record.streamSid) {
      this.record.protocolError('wrong_stream_sid', `media for stream ${quotedSid(message.streamSid)}, this call is ${this.record.streamSid}; ignored`);
      return;
    }
    // "Media Streams - WebSocket Messages": a fork with track="both_tracks" (or outbound_track)
    // also sends the agent's side. It is not the caller speaking: count it on its own, once an error.
    if (message.media.track === 'outbound') {
      this.record.counters.outboundTrackChunks += 1;
      if (this.record.counters.outboundTrackChunks === 1) {
        this.record.protocolError('unexpected_track', 'media on the outbound track (the agent side of a <Start><Stream> fork): counted as outboundTrackChunks, never sent to the model');
      }
      return;
    }
    const payload = message.media.payload;
    const bytes = base64DecodedLength(payload);
    if (bytes === 0) {
      this.record.protocolError('empty_payload', 'media with an empty payload; ignored');
      return;
    }
    if (bytes !== FRAME_BYTES) {
      // Odd-sized audio is still audio: note it, forward it anyway.
      this.record.protocolError('unexpected_payload_length', `media payload of ${bytes} bytes, expected ${FRAME_BYTES}`);
    }
    this.record.counters.audioInChunks += 1;
    this.lastMediaAt = this.lastFrameAt;
    this.routes.onMedia(payload, bytes);
  }

  private onStop(): void {
    if (!this.lifecycle.isOpen) {
      this.record.protocolError('duplicate_stop', `stop received while the call is ${this.lifecycle.reported}; ignored`);
      return;
    }
    if (this.lifecycle.phase === 'awaiting-start') this.record.protocolError('stop_before_start', 'stop before start');
    this.routes.onStop();
  }
}

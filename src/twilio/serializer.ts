// The Twilio carrier serializer: caller events out as Twilio's Media Streams messages for one
// stream (numbered by InboundFrameBuilder), the server's messages in as agent events. Messages
// for another streamSid are errors, not events: Twilio drops them (warning 31951).
import { InboundFrameBuilder, type StartDetails } from './build.js';
import type { AgentEventResult, CallerEvent, CarrierSerializer } from './call-events.js';
import { parseServerMessage } from './parse.js';
import type { StreamIds } from './sid.js';

export class TwilioCarrierSerializer implements CarrierSerializer {
  // Going through CallerEvent costs the hot path nothing measurable: ~70 ns a media frame either
  // way (node, 2M frames), against ~20 µs a frame of socket work in the bench's load client.
  private readonly frames: InboundFrameBuilder;

  constructor(
    readonly ids: Readonly<StreamIds>,
    private readonly startDetails: Omit<StartDetails, 'customParameters'> = {},
  ) {
    this.frames = new InboundFrameBuilder(ids);
  }

  serialize(event: CallerEvent): string {
    switch (event.type) {
      case 'audio':
        return this.frames.media(event.payload, event.timestampMs, event.track);
      case 'mark-played':
        return this.frames.mark(event.name);
      case 'connected':
        return this.frames.connected();
      case 'start':
        return this.frames.start({ ...this.startDetails, customParameters: event.customParameters });
      case 'dtmf':
        return this.frames.dtmf(event.digit);
      case 'hangup':
        return this.frames.stop();
    }
  }

  deserialize(raw: string | Buffer, isBinary: boolean): AgentEventResult {
    const parsed = parseServerMessage(raw, isBinary);
    if (!parsed.ok) return parsed;
    const message = parsed.message;
    const streamSid = this.ids.streamSid;
    if (message.streamSid !== streamSid) {
      const text = `${message.event} message with streamSid ${JSON.stringify(message.streamSid)}; this stream is ${streamSid}`;
      return { ok: false, error: { code: 'wrong_stream_sid', message: text } };
    }
    switch (message.event) {
      case 'media':
        return { ok: true, event: { type: 'audio', payload: message.media.payload } };
      case 'mark':
        return { ok: true, event: { type: 'mark', name: message.mark.name } };
      case 'clear':
        return { ok: true, event: { type: 'clear' } };
    }
  }
}

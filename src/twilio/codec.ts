// src/twilio/: the Twilio wire format, both directions, and nothing above it. One codec that the
// media server, the fake Twilio (src/caller), the test helpers and the bench all use:
//   messages.ts    the message types both sides import, and Twilio's fixed values
//   parse.ts       parsers that return typed errors as values (Twilio -> server, server -> Twilio)
//   build.ts       builders: OutboundFrameBuilder (server -> Twilio), InboundFrameBuilder
//                  (Twilio -> server, numbered as Twilio numbers them), both spliced for media
//   sid.ts         AC/CA/MZ SIDs shaped like Twilio's
//   call-events.ts carrier-neutral caller and agent events, the CarrierSerializer interface
//   serializer.ts  TwilioCarrierSerializer: caller events -> Twilio frames, server frames -> agent events
//   twiml.ts, signature.ts  the voice webhook's TwiML and X-Twilio-Signature
// This folder imports only src/audio/format.ts (and Node built-ins): the wire format knows no
// server, no caller and no model. Import it through this file.
// Reference: Twilio "Media Streams - WebSocket Messages" (bidirectional streams).
export * from './messages.js';
export * from './parse.js';
export * from './build.js';
export * from './sid.js';
export * from './call-events.js';
export * from './serializer.js';

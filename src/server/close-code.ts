// The WebSocket close codes the server ends Media Streams calls with (RFC 6455 §7.4.1). The
// codes a refused frame closes with are ws's own; see call/inbound.ts.
export const CLOSE_CODE = Object.freeze({
  /** The call is over: Twilio's stop, or the peer closed. */
  normal: 1000,
  /** The server is going away: shutdown, or an idle peer. */
  goingAway: 1001,
  /** The call cannot go on: the model is gone or not taking audio, or Twilio stopped reading. */
  internalError: 1011,
});

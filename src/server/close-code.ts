// The WebSocket close codes the server ends Media Streams calls with (RFC 6455 §7.4.1, and the
// IANA registry for 1013). The codes a refused frame closes with are ws's own; see call/inbound.ts.
export const CLOSE_CODE = Object.freeze({
  /** The call is over: Twilio's stop, or the peer closed. */
  normal: 1000,
  /** The server is going away: shutdown, or an idle peer. */
  goingAway: 1001,
  /** Not a stream this server takes: no start in time, a bad stream token, a callSid already live. */
  policyViolation: 1008,
  /** The call cannot go on: the model is gone or not taking audio, or Twilio stopped reading. */
  internalError: 1011,
  /** No room now: every call slot is taken, or too many sockets wait for their start. */
  tryAgainLater: 1013,
});

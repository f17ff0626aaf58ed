// The named checks of one replayed call, over both views: what the caller saw on the wire
// (CallSummary) and what the server says of the call (ServerStats). A failure is phrased as the
// caller or Twilio would meet it, with Twilio's error or warning code where it has one.
import type { CallSummary, WireErrorSummary } from './record.js';
import { isJsonObject, type JsonObject, type ServerStats } from './stats.js';

export type CheckStatus = 'pass' | 'fail' | 'skip';

export interface ReplayCheck {
  name: string;
  status: CheckStatus;
  reason: string;
}

const NORMAL_CLOSE_CODES = new Set([1000, 1005]);
const APPLICATION_ERROR = 'the caller hears: "An application error has occurred"';
/** The checks that read the server's own record of the call (GET /calls/:callSid). */
const SERVER_STATS_CHECKS = ['audio-in-matches', 'audio-out-matches', 'counters-finite', 'no-server-errors'] as const;

function describeCounter(value: number | null | undefined): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null (NaN or not a number)';
  return String(value);
}

function closeText(call: CallSummary): string {
  const code = call.closeCode === null ? 'no close code' : `code ${call.closeCode}`;
  return call.closeReason ? `${code} "${call.closeReason}"` : code;
}

function wireErrorFailure(error: WireErrorSummary): string {
  const times = error.count === 1 ? '1 message' : `${error.count} messages`;
  switch (error.kind) {
    case 'wrong_stream_sid':
      return `the caller hears silence — Twilio drops ${times} addressed to another stream (warning 31951): ${error.example}`;
    case 'binary_frame':
      return `Twilio cannot decode ${times} sent as binary frames (warning 31950)`;
    case 'malformed_json':
      return `Twilio drops ${times} that are not JSON (warning 31951): ${error.example}`;
    case 'unknown_event':
      return `Twilio drops ${times} with an event it does not accept (warning 31951): ${error.example}`;
    case 'invalid_base64':
      return `the caller hears silence — Twilio drops ${times} whose media.payload is not base64 (warning 31951)`;
    default:
      return `Twilio drops ${times} that break the Media Streams protocol (warning 31951): ${error.example}`;
  }
}

export interface CheckInput {
  call: CallSummary;
  expectAudio: boolean;
  stats: ServerStats;
  snapshot: JsonObject | null;
  timeoutMs: number;
}

export function runChecks(input: CheckInput): { checks: ReplayCheck[]; failures: string[] } {
  const { call, stats, snapshot } = input;
  const checks: ReplayCheck[] = [];
  const failures: string[] = [];
  const pass = (name: string, reason: string): void => {
    checks.push({ name, status: 'pass', reason });
  };
  const fail = (name: string, reason: string, ...heard: string[]): void => {
    checks.push({ name, status: 'fail', reason });
    failures.push(...(heard.length > 0 ? heard : [reason]));
  };
  const skip = (name: string, reason: string): void => {
    checks.push({ name, status: 'skip', reason });
  };

  if (!call.connected) {
    fail(
      'connected',
      `could not open the media stream: ${call.connectError ?? 'unknown error'}`,
      `${APPLICATION_ERROR} — Twilio could not open the media stream at ${call.url}: ${call.connectError ?? 'unknown error'} (error 31920)`,
    );
    for (const name of ['server-kept-stream-open', 'normal-close', 'wire-protocol', 'call-completed']) {
      skip(name, 'the call never connected');
    }
    if (input.expectAudio) skip('audio-returned', 'the call never connected');
    for (const name of SERVER_STATS_CHECKS) skip(name, 'the call never connected');
    return { checks, failures };
  }
  pass('connected', `media stream opened at ${call.url}`);

  if (call.serverClosedBeforeStop) {
    fail(
      'server-kept-stream-open',
      `the server closed the socket before stop (${closeText(call)}) after ${call.framesSent} frames`,
      `${APPLICATION_ERROR} — the server closed the media stream before stop (${closeText(call)}; Twilio error 31921)`,
    );
  } else {
    pass('server-kept-stream-open', call.stopSent ? 'the stream stayed open until stop' : 'the caller ended the call');
  }

  if (call.closeCode !== null && NORMAL_CLOSE_CODES.has(call.closeCode)) {
    pass('normal-close', `closed by the ${call.closedBy ?? 'caller'} with ${closeText(call)}`);
  } else {
    const who = call.closedBy === 'caller' ? 'the server did not finish the close handshake' : 'the socket ended abnormally';
    const detail = call.closeCode === 1006 ? `${who} (code 1006: no close frame)` : `the server closed with ${closeText(call)}`;
    fail('normal-close', detail, `Twilio logs error 31921 (Stream - WebSocket - Close Error): ${detail}`);
  }

  if (call.wireErrors.length === 0 && call.socketError === null) {
    pass('wire-protocol', 'every server message was valid and addressed to this stream');
  } else {
    const summary = call.wireErrors.map((e) => `${e.count}× ${e.kind}`).join(', ');
    const heard = call.wireErrors.map(wireErrorFailure);
    if (call.socketError) heard.push(`Twilio logs error 31924 (Stream - WebSocket - Protocol Error): ${call.socketError}`);
    fail('wire-protocol', [summary, call.socketError].filter(Boolean).join('; '), ...heard);
  }

  if (call.ending === 'timeout') {
    fail(
      'call-completed',
      `timed out after ${input.timeoutMs} ms with ${call.audioFramesSent} of the audio's frames sent`,
      `the call hit the ${input.timeoutMs} ms timeout before the caller finished (${call.audioFramesSent} audio frames sent)`,
    );
  } else if (call.ending === 'aborted') {
    fail('call-completed', 'the caller hung up early (interrupted)');
  } else if (call.ending === 'server_closed') {
    // Already a failure of server-kept-stream-open; counting it twice would only add noise.
    skip('call-completed', `the server ended the call after ${call.audioFramesSent} audio frames`);
  } else {
    pass('call-completed', `sent all audio, ${call.silenceFramesSent} frames of tail silence, then stop`);
  }

  if (input.expectAudio) {
    if (call.framesReceived > 0) {
      pass('audio-returned', `${call.framesReceived} media frames came back (first after ${call.firstAudioLatencyMs} ms)`);
    } else {
      fail(
        'audio-returned',
        'no media frame came back from the server',
        'the caller hears silence — the agent never said anything (no media frames came back)',
      );
    }
  }

  if (!stats.available) {
    const reason = 'no server stats: only wire-level checks apply';
    for (const name of SERVER_STATS_CHECKS) skip(name, reason);
    return { checks, failures };
  }

  const counters = stats.counters ?? {};
  const audioIn = counters.audioInChunks;
  if (audioIn === call.framesSent) {
    pass('audio-in-matches', `server counted ${audioIn} media frames in, the caller sent ${call.framesSent}`);
  } else {
    fail(
      'audio-in-matches',
      `server audioInChunks is ${describeCounter(audioIn)}, the caller sent ${call.framesSent}`,
      `the agent did not hear everything the caller said — the server counted ${describeCounter(audioIn)} audio frames in, the caller sent ${call.framesSent}`,
    );
  }
  const audioOut = counters.audioOutChunks;
  if (audioOut === call.framesReceived) {
    pass('audio-out-matches', `server counted ${audioOut} media frames out, the caller received ${call.framesReceived}`);
  } else {
    fail(
      'audio-out-matches',
      `server audioOutChunks is ${describeCounter(audioOut)}, the caller received ${call.framesReceived}`,
      `the server's record of what it said does not match what the caller heard — audioOutChunks is ${describeCounter(audioOut)}, ${call.framesReceived} frames arrived`,
    );
  }

  if (stats.counters === null) {
    fail('counters-finite', 'the snapshot has no counters object', "the server's stats have no counters object");
  } else {
    const broken = Object.entries(stats.counters).filter(([, value]) => value === null);
    if (broken.length === 0) {
      pass('counters-finite', `all ${Object.keys(stats.counters).length} counters are finite numbers`);
    } else {
      const names = broken.map(([name]) => name).join(', ');
      fail(
        'counters-finite',
        `not a finite number: ${names}`,
        `the server's bookkeeping is broken — ${names} ${broken.length === 1 ? 'is' : 'are'} null/NaN in GET /calls/${call.callSid}`,
      );
    }
  }

  const errors = snapshot?.errors;
  if (Array.isArray(errors) && errors.length === 0) {
    pass('no-server-errors', 'the server recorded no errors for this call');
  } else if (!Array.isArray(errors)) {
    fail('no-server-errors', 'the snapshot has no errors array', "the server's stats have no errors list");
  } else {
    const described = errors
      .slice(0, 3)
      .map((e) => (isJsonObject(e) ? `${String(e.code ?? 'error')}: ${String(e.message ?? '')}` : JSON.stringify(e)))
      .join('; ');
    fail(
      'no-server-errors',
      `${errors.length} error(s): ${described}`,
      `the server recorded ${errors.length} error${errors.length === 1 ? '' : 's'} during the call: ${described}${errors.length > 3 ? '; …' : ''}`,
    );
  }
  return { checks, failures };
}

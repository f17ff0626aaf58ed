// The named checks of one replayed call, over three views: how Twilio set the call up (the
// webhook and its TwiML, CallFlowReport), what the caller saw on the wire (CallSummary), and what
// the server says of the call (ServerStats). A failure is phrased as the caller or Twilio would
// meet it, with Twilio's error or warning code where it has one. Text a peer controls (TwiML,
// close reasons, URLs it named) goes through printable(): it cannot forge a line of the report.
import { printable } from '../text/printable.js';
import type { TwimlVerb } from '../twilio/twiml.js';
import type { CallFlowReport } from './call-flow.js';
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
/** The checks of a stream, skipped together when none was dialled. */
const STREAM_CHECKS = ['server-kept-stream-open', 'normal-close', 'wire-protocol', 'caller-audio-delivered', 'call-completed'] as const;
/** Peer text quoted in a report line stops here. */
const QUOTE_CHARS = 200;

function quote(text: string): string {
  const safe = printable(text);
  return safe.length > QUOTE_CHARS ? `${safe.slice(0, QUOTE_CHARS)}…` : safe;
}

function describeCounter(value: number | null | undefined): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null (NaN or not a number)';
  return String(value);
}

function closeText(call: CallSummary): string {
  const code = call.closeCode === null ? 'no close code' : `code ${call.closeCode}`;
  return call.closeReason ? `${code} "${quote(call.closeReason)}"` : code;
}

function verbList(verbs: readonly TwimlVerb[]): string {
  return verbs.map((v) => (v.detail === null ? `<${v.verb}>` : `<${v.verb}> "${quote(v.detail)}"`)).join(', ');
}

/** Twilio's error for a stream that would not open, from how the dial failed ("Stream - WebSocket" errors). */
export function connectErrorCode(error: string): { code: number; name: string } {
  if (/ECONNREFUSED/.test(error)) return { code: 31902, name: 'Connection Refused' };
  if (/timed out|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH/i.test(error)) return { code: 31901, name: 'Connection Timeout' };
  if (/certificate|SSL|TLS|EPROTO/i.test(error)) return { code: 31910, name: 'SSL Protocol Error' };
  return { code: 31920, name: 'Handshake Error' };
}

function wireErrorFailure(error: WireErrorSummary): string {
  const times = error.count === 1 ? '1 message' : `${error.count} messages`;
  const example = quote(error.example);
  switch (error.kind) {
    case 'wrong_stream_sid':
      return `the caller hears silence — Twilio drops ${times} addressed to another stream (warning 31951): ${example}`;
    case 'binary_frame':
      return `Twilio cannot decode ${times} sent as binary frames (warning 31950)`;
    case 'malformed_json':
      return `Twilio drops ${times} that are not JSON (warning 31951): ${example}`;
    case 'unknown_event':
      return `Twilio drops ${times} with an event it does not accept (warning 31951): ${example}`;
    case 'invalid_base64':
      return `the caller hears silence — Twilio drops ${times} whose media.payload is not base64 (warning 31951)`;
    case 'missing_field':
    case 'extra_field':
    case 'invalid_field':
      return `Twilio drops ${times} with a missing, extra or mistyped field (warning 31951: Missing or extra field in message): ${example}`;
    case 'message_on_fork':
      return `Twilio logs error 31924 (Stream - WebSocket - Protocol Error) for ${times} sent back on a unidirectional <Start><Stream> fork, which takes nothing back: ${example}`;
    default:
      return `Twilio drops ${times} that break the Media Streams protocol (warning 31951): ${example}`;
  }
}

export interface CheckInput {
  call: CallSummary;
  flow: CallFlowReport;
  expectAudio: boolean;
  stats: ServerStats;
  snapshot: JsonObject | null;
  timeoutMs: number;
  /** A server that ends a bidirectional stream with a normal close before `stop` passes. */
  allowServerHangup: boolean;
  /** Audio ms the line may stay backed up before caller audio is discarded; null in a burst (never). */
  congestionMs: number | null;
}

type Verdicts = { pass(name: string, reason: string): void; fail(name: string, reason: string, ...heard: string[]): void; skip(name: string, reason: string): void };

/** The webhook and TwiML checks; false when no stream was dialled (the rest is skipped). */
function setupChecks(flow: CallFlowReport, v: Verdicts): boolean {
  if (flow.mode === 'direct') {
    v.skip('webhook', printable(flow.fallback ?? 'direct mode: no webhook step ran'));
    v.skip('twiml', 'direct mode: no TwiML was read');
    return true;
  }
  const webhook = flow.webhook!;
  const failure = flow.setupFailure;
  if (failure?.step === 'webhook') {
    v.fail('webhook', printable(failure.message), `${APPLICATION_ERROR} — Twilio could not get the TwiML from ${quote(webhook.url)}: ${printable(failure.message)}`);
    v.skip('twiml', 'the webhook gave no TwiML');
    return false;
  }
  v.pass('webhook', `${webhook.method} ${quote(webhook.url)} answered HTTP ${webhook.status ?? '?'} in ${webhook.durationMs} ms${webhook.signed ? ' (signed)' : ''}`);
  if (failure === null) {
    v.pass('twiml', printable(flow.twiml?.outcome ?? 'a stream'));
    return true;
  }
  const heardFirst = failure.verbs.length > 0 ? ` after ${verbList(failure.verbs)}` : '';
  const message = printable(failure.message);
  switch (failure.ending) {
    case 'error':
      v.fail('twiml', message, `${APPLICATION_ERROR}${heardFirst} — ${message}`);
      break;
    case 'hangup':
      v.fail('twiml', message, `the caller is hung up on${heardFirst} — ${message}; no media stream was opened`);
      break;
    case 'reject':
      v.fail('twiml', message, `the call is rejected before it is answered — ${message}; no media stream was opened`);
      break;
    case 'end-of-document':
      v.fail('twiml', message, `the call ends${heardFirst} — ${message}; no media stream was opened`);
      break;
    case 'not-followed':
      v.fail('twiml', message, `the call never reaches a media stream${heardFirst} — ${message}`);
      break;
  }
  return false;
}

function hangupCheck(input: CheckInput, v: Verdicts): void {
  const { call, flow } = input;
  const fork = call.streamKind === 'fork';
  if (!call.serverClosedBeforeStop) {
    v.pass('server-kept-stream-open', call.stopSent ? 'the stream stayed open until stop' : 'the caller ended the call');
    return;
  }
  const normal = call.closeCode !== null && NORMAL_CLOSE_CODES.has(call.closeCode);
  const after = flow.twiml?.after ?? null;
  if (normal) {
    const what = `the server closed the ${fork ? '<Start><Stream> fork' : 'media stream'} before stop (${closeText(call)}) after ${call.framesSent} frames`;
    let heard: string;
    if (fork) heard = `the call goes on, but the server hears no more of it — ${what}`;
    else if (after === null) heard = `the caller hears the agent go silent — ${what}: the stream ended, so Twilio continues with the next TwiML verb or hangs up`;
    else if (after.length === 0) heard = `the caller is hung up on — ${what}: the stream ended and nothing follows <Connect> in the TwiML, so Twilio hangs up`;
    else heard = `the caller hears the TwiML after <Connect> instead of the agent (${verbList(after)}) — ${what}: the stream ended, so Twilio goes on with the next verb`;
    if (input.allowServerHangup) v.pass('server-kept-stream-open', `${what}: the stream ended (allowed by --allow-server-hangup)`);
    else v.fail('server-kept-stream-open', `${what}: the stream ended`, heard);
    return;
  }
  if (fork) {
    const what = `the server closed the <Start><Stream> fork before stop (${closeText(call)}); the call goes on without it`;
    v.fail('server-kept-stream-open', what, `Twilio logs error 31921 (Stream - WebSocket - Close Error): ${what}`);
    return;
  }
  v.fail(
    'server-kept-stream-open',
    `the server closed the socket before stop (${closeText(call)}) after ${call.framesSent} frames`,
    `${APPLICATION_ERROR} — the server closed the media stream before stop (${closeText(call)}; Twilio error 31921)`,
  );
}

function congestionCheck(input: CheckInput, v: Verdicts): void {
  const { call } = input;
  const dropped = call.callerFramesDropped + call.outboundTrackFramesDropped;
  if (input.congestionMs === null) {
    v.skip('caller-audio-delivered', 'a burst replay never discards audio: Twilio never sends faster than real time');
  } else if (dropped === 0) {
    v.pass('caller-audio-delivered', `no audio discarded (the server's socket never stayed backed up for ${input.congestionMs} ms of audio)`);
  } else {
    const ms = dropped * 20;
    const what = `Twilio discarded ${dropped} frames (${ms} ms) of audio because the server left its socket backed up for more than ${input.congestionMs} ms of audio (warning 31930: Stream - Media - Buffer Overflow)`;
    v.fail('caller-audio-delivered', what, `the agent missed ${ms} ms of the call — ${what}`);
  }
}

export function runChecks(input: CheckInput): { checks: ReplayCheck[]; failures: string[] } {
  const { call, stats } = input;
  const checks: ReplayCheck[] = [];
  const failures: string[] = [];
  const v: Verdicts = {
    pass: (name, reason) => void checks.push({ name, status: 'pass', reason }),
    fail: (name, reason, ...heard) => {
      checks.push({ name, status: 'fail', reason });
      failures.push(...(heard.length > 0 ? heard : [reason]));
    },
    skip: (name, reason) => void checks.push({ name, status: 'skip', reason }),
  };
  const skipRest = (reason: string): { checks: ReplayCheck[]; failures: string[] } => {
    for (const name of STREAM_CHECKS) v.skip(name, reason);
    if (input.expectAudio) v.skip('audio-returned', reason);
    for (const name of SERVER_STATS_CHECKS) v.skip(name, reason);
    return { checks, failures };
  };

  if (!setupChecks(input.flow, v)) {
    v.skip('connected', 'no stream was dialled');
    return skipRest('no stream was dialled');
  }
  if (!call.connected) {
    const error = call.connectError ?? 'unknown error';
    const { code, name } = connectErrorCode(error);
    v.fail('connected', `could not open the media stream: ${quote(error)}`, `${APPLICATION_ERROR} — Twilio could not open the media stream at ${quote(call.url)}: ${quote(error)} (error ${code}: Stream - WebSocket - ${name})`);
    return skipRest('the call never connected');
  }
  v.pass('connected', `media stream opened at ${quote(call.url)}`);
  hangupCheck(input, v);

  if (call.closeCode !== null && NORMAL_CLOSE_CODES.has(call.closeCode)) {
    v.pass('normal-close', `closed by the ${call.closedBy ?? 'caller'} with ${closeText(call)}`);
  } else {
    const who = call.closedBy === 'caller' ? 'the server did not finish the close handshake' : 'the socket ended abnormally';
    const detail = call.closeCode === 1006 ? `${who} (code 1006: no close frame)` : `the server closed with ${closeText(call)}`;
    v.fail('normal-close', detail, `Twilio logs error 31921 (Stream - WebSocket - Close Error): ${detail}`);
  }

  if (call.wireErrors.length === 0 && call.socketError === null) {
    v.pass('wire-protocol', call.streamKind === 'fork' ? 'the server sent nothing back on the fork' : 'every server message was valid and addressed to this stream');
  } else {
    const summary = call.wireErrors.map((e) => `${e.count}× ${e.kind}`).join(', ');
    const heard = call.wireErrors.map(wireErrorFailure);
    if (call.socketError) heard.push(`Twilio logs error 31924 (Stream - WebSocket - Protocol Error): ${quote(call.socketError)}`);
    v.fail('wire-protocol', [summary, call.socketError === null ? null : quote(call.socketError)].filter(Boolean).join('; '), ...heard);
  }
  congestionCheck(input, v);

  if (call.tailCappedByTimeout && (call.ending === 'completed' || call.ending === 'timeout')) {
    // The tail waits for the agent to fall quiet; cut off by the timeout, it never did. A call
    // that only ended because the caller gave up on it is no healthy call.
    v.fail(
      'call-completed',
      `the tail of line silence ran into the ${input.timeoutMs} ms timeout with the agent still talking (${call.framesReceived} media frames received)`,
      `the agent never stopped talking — it was still sending audio (or its audio still playing) when the ${input.timeoutMs} ms timeout cut the call short`,
    );
  } else if (call.ending === 'timeout') {
    v.fail(
      'call-completed',
      `timed out after ${input.timeoutMs} ms with ${call.audioFramesSent} of the audio's frames sent`,
      `the call hit the ${input.timeoutMs} ms timeout before the caller finished (${call.audioFramesSent} audio frames sent)`,
    );
  } else if (call.ending === 'aborted') {
    v.fail('call-completed', 'the caller hung up early (interrupted)');
  } else if (call.ending === 'server_closed') {
    // Already judged by server-kept-stream-open; counting it twice would only add noise.
    v.skip('call-completed', `the server ended the call after ${call.audioFramesSent} audio frames`);
  } else {
    v.pass('call-completed', `sent all audio, ${call.silenceFramesSent} frames of tail silence, then stop`);
  }

  if (input.expectAudio) {
    if (call.streamKind === 'fork') v.skip('audio-returned', 'a <Start><Stream> fork carries no audio back');
    else if (call.framesReceived > 0) v.pass('audio-returned', `${call.framesReceived} media frames came back (first after ${call.firstAudioLatencyMs} ms)`);
    else v.fail('audio-returned', 'no media frame came back from the server', 'the caller hears silence — the agent never said anything (no media frames came back)');
  }

  if (!stats.available) {
    for (const name of SERVER_STATS_CHECKS) v.skip(name, 'no server stats: only wire-level checks apply');
    return { checks, failures };
  }
  serverStatsChecks(input, v);
  return { checks, failures };
}

function serverStatsChecks(input: CheckInput, v: Verdicts): void {
  const { call, stats, snapshot } = input;
  const counters = stats.counters ?? {};
  const audioIn = counters.audioInChunks;
  if (audioIn === call.framesSent) {
    v.pass('audio-in-matches', `server counted ${audioIn} media frames in, the caller sent ${call.framesSent}`);
  } else {
    v.fail(
      'audio-in-matches',
      `server audioInChunks is ${describeCounter(audioIn)}, the caller sent ${call.framesSent}`,
      `the agent did not hear everything the caller said — the server counted ${describeCounter(audioIn)} audio frames in, the caller sent ${call.framesSent}`,
    );
  }
  const audioOut = counters.audioOutChunks;
  if (audioOut === call.framesReceived) {
    v.pass('audio-out-matches', `server counted ${audioOut} media frames out, the caller received ${call.framesReceived}`);
  } else {
    v.fail(
      'audio-out-matches',
      `server audioOutChunks is ${describeCounter(audioOut)}, the caller received ${call.framesReceived}`,
      `the server's record of what it said does not match what the caller heard — audioOutChunks is ${describeCounter(audioOut)}, ${call.framesReceived} frames arrived`,
    );
  }

  if (stats.counters === null) {
    v.fail('counters-finite', 'the snapshot has no counters object', "the server's stats have no counters object");
  } else {
    const broken = Object.entries(stats.counters).filter(([, value]) => value === null);
    if (broken.length === 0) {
      v.pass('counters-finite', `all ${Object.keys(stats.counters).length} counters are finite numbers`);
    } else {
      const names = quote(broken.map(([name]) => name).join(', '));
      v.fail(
        'counters-finite',
        `not a finite number: ${names}`,
        `the server's bookkeeping is broken — ${names} ${broken.length === 1 ? 'is' : 'are'} null/NaN in GET /calls/${call.callSid}`,
      );
    }
  }

  const errors = snapshot?.errors;
  if (Array.isArray(errors) && errors.length === 0) {
    v.pass('no-server-errors', 'the server recorded no errors for this call');
  } else if (!Array.isArray(errors)) {
    v.fail('no-server-errors', 'the snapshot has no errors array', "the server's stats have no errors list");
  } else {
    const described = quote(
      errors
        .slice(0, 3)
        .map((e) => (isJsonObject(e) ? `${String(e.code ?? 'error')}: ${String(e.message ?? '')}` : JSON.stringify(e)))
        .join('; '),
    );
    v.fail(
      'no-server-errors',
      `${errors.length} error(s): ${described}`,
      `the server recorded ${errors.length} error${errors.length === 1 ? '' : 's'} during the call: ${described}${errors.length > 3 ? '; …' : ''}`,
    );
  }
}

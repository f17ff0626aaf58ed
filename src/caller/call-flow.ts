// A call the way Twilio places one: the voice webhook (webhook.ts) with the call's SIDs, the
// TwiML it answers (twilio/twiml.ts) read verb by verb, the stream that TwiML names (stream-url.ts)
// dialled with a signed upgrade, then the stream itself (call.ts), whose `start` carries exactly
// the TwiML's <Parameter>s. Direct mode skips the webhook: the URL is dialled as given, with
// exactly the parameters given, and the report says no webhook step ran.
import { performance } from 'node:perf_hooks';
import { newStreamIds, type CallDirection, type MediaTrack, type StreamIds } from '../twilio/codec.js';
import { TWILIO_SIGNATURE_HEADER, computeTwilioSignature } from '../twilio/signature.js';
import { readTwiml, type StreamTrack, type TwimlStream, type TwimlVerb } from '../twilio/twiml.js';
import { placeCall } from './call.js';
import { BIDIRECTIONAL, DEFAULT_DIRECTION, DEFAULT_TIMEOUT_MS, type PlaceCallOptions, type StreamShape } from './options.js';
import { notDialledRecord, type CallRecord } from './record.js';
import { streamTarget } from './stream-url.js';
import { DEFAULT_WEBHOOK_TIMEOUT_MS, requestTwiml, webhookParams, type CallParties, type WebhookMethod } from './webhook.js';

/** How the call is set up: through its voice webhook, or dialled directly. */
export type CallSetup =
  /** `fallbackUrl`: a 404 from the webhook means the target has none; dial this URL directly instead. */
  | { mode: 'webhook'; url: string; method: WebhookMethod; fallbackUrl: string | null }
  | { mode: 'direct'; url: string };

export interface CallFlowOptions extends Omit<PlaceCallOptions, 'url' | 'headers' | 'ids' | 'params' | 'stream'> {
  setup: CallSetup;
  /** Direct mode's customParameters, exactly; `{direction}` in a value becomes the call's direction. */
  params?: Readonly<Record<string, string>>;
  /** Sign the webhook and the upgrade (X-Twilio-Signature) with this auth token. */
  authToken?: string | null;
  parties?: Readonly<CallParties>;
  webhookTimeoutMs?: number;
}

export interface WebhookReport {
  url: string;
  method: WebhookMethod;
  /** The parameters sent (Twilio's names). */
  params: Record<string, string>;
  signed: boolean;
  status: number | null;
  contentType: string | null;
  durationMs: number;
}

export interface TwimlReport {
  /** The verbs Twilio ran before the stream (or before the call ended). */
  before: TwimlVerb[];
  /** After a <Connect> stream ends, or while a fork streams: what Twilio runs next. */
  after: TwimlVerb[];
  stream: TwimlStream | null;
  /** What the TwiML does, in a line. */
  outcome: string;
}

export interface StreamReport {
  /** Connect, Start, or null in direct mode. */
  verb: 'Connect' | 'Start' | null;
  /** The stream URL as the TwiML (or the user) named it. */
  url: string;
  dialledUrl: string;
  /** The URL the upgrade's X-Twilio-Signature was computed over; null when unsigned. */
  signedUrl: string | null;
  track: StreamTrack | null;
  tracks: MediaTrack[];
  parameters: Record<string, string>;
}

/** Why no stream was dialled: the webhook or the TwiML ended the call first. */
export interface SetupFailure {
  step: 'webhook' | 'twiml';
  /** Twilio's error code; null when the call simply ends (a <Hangup>, no <Stream>). */
  code: number | null;
  message: string;
  /** The TwiML's verbs the caller got before the end (a <Say> is heard), if any. */
  verbs: TwimlVerb[];
  /** The call ended the way a TwiML ends it, without an error (hangup, reject, end of document). */
  ending: 'error' | 'hangup' | 'reject' | 'end-of-document' | 'not-followed';
}

export interface CallFlowReport {
  mode: 'webhook' | 'direct';
  /** Why a webhook call fell back to direct mode (the default webhook answered 404), or null. */
  fallback: string | null;
  webhook: WebhookReport | null;
  twiml: TwimlReport | null;
  stream: StreamReport | null;
  setupFailure: SetupFailure | null;
  /** Where the server could learn the direction: the webhook's Direction, or nowhere (it only labels the call). */
  directionSource: 'webhook' | 'label';
  /** Direct mode's statement of what the server could know of the direction; null through a webhook. */
  directionNote: string | null;
  /** Warnings and facts for the report (a ws:// URL accepted on loopback, a DTMF plan a fork cannot carry). */
  notes: string[];
}

export interface CallFlowResult {
  flow: CallFlowReport;
  record: CallRecord;
}

const TRACKS: Record<StreamTrack, MediaTrack[]> = { inbound_track: ['inbound'], outbound_track: ['outbound'], both_tracks: ['inbound', 'outbound'] };

/** Direct mode's parameters with `{direction}` filled in. */
export function directParams(params: Readonly<Record<string, string>>, direction: CallDirection): Record<string, string> {
  return Object.fromEntries(Object.entries(params).map(([name, value]) => [name, value.replaceAll('{direction}', direction)]));
}

/** The URL Twilio would have dialled for a directly given one: only wss:// exists for Twilio. */
function twilioDialledForm(url: string): string {
  return url.replace(/^ws:/i, 'wss:');
}

function signatureHeaders(authToken: string | null, signUrl: string): Record<string, string> {
  return authToken === null ? {} : { [TWILIO_SIGNATURE_HEADER]: computeTwilioSignature(authToken, signUrl) };
}

/** Places one call through its webhook (or directly) and runs its stream. Rejects only for invalid options. */
export async function runCallFlow(options: CallFlowOptions): Promise<CallFlowResult> {
  const ids: StreamIds = newStreamIds();
  const direction = options.direction ?? DEFAULT_DIRECTION;
  const authToken = options.authToken ?? null;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const { setup, params: _directParams, authToken: _authToken, parties, webhookTimeoutMs, ...streamOptions } = options;
  const notes: string[] = [];

  const dialDirect = async (url: string, fallback: string | null): Promise<CallFlowResult> => {
    const parameters = directParams(options.params ?? {}, direction);
    const placeholder = Object.entries(options.params ?? {}).filter(([, value]) => value.includes('{direction}')).map(([name]) => name);
    const directionNote =
      placeholder.length > 0
        ? `direct mode: no webhook step ran; the server learns the direction only from the parameter${placeholder.length > 1 ? 's' : ''} ${placeholder.join(', ')}`
        : `direct mode: no webhook step ran, so "${direction}" only labels this call: the server could not learn it unless a --param said so`;
    const signUrl = twilioDialledForm(url);
    const record = await placeCall({ ...streamOptions, url, ids, params: parameters, headers: signatureHeaders(authToken, signUrl) });
    const stream: StreamReport = { verb: null, url, dialledUrl: url, signedUrl: authToken === null ? null : signUrl, track: null, tracks: record.tracks, parameters };
    return { flow: { mode: 'direct', fallback, webhook: null, twiml: null, stream, setupFailure: null, directionSource: 'label', directionNote, notes }, record };
  };

  if (setup.mode === 'direct') return dialDirect(setup.url, null);

  const began = performance.now();
  const answer = await requestTwiml({
    url: setup.url,
    method: setup.method,
    ids,
    direction,
    ...(parties !== undefined ? { parties } : {}),
    authToken,
    timeoutMs: Math.min(webhookTimeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS, timeoutMs),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
  const webhook: WebhookReport = {
    url: setup.url,
    method: setup.method,
    params: webhookParams(ids, direction, parties),
    signed: authToken !== null,
    status: answer.status,
    contentType: answer.ok ? answer.contentType : null,
    durationMs: answer.durationMs,
  };
  const failed = (failure: SetupFailure, twiml: TwimlReport | null): CallFlowResult => ({
    flow: { mode: 'webhook', fallback: null, webhook, twiml, stream: null, setupFailure: failure, directionSource: 'webhook', directionNote: null, notes },
    record: notDialledRecord({ ids, direction, url: setup.url, reason: failure.message }),
  });

  if (!answer.ok) {
    if (answer.status === 404 && setup.fallbackUrl !== null) {
      return dialDirect(setup.fallbackUrl, `the target has no voice webhook at ${setup.url} (HTTP 404): the call was dialled directly at ${setup.fallbackUrl}`);
    }
    return failed({ step: 'webhook', code: answer.code, message: answer.message, verbs: [], ending: 'error' }, null);
  }

  const plan = readTwiml(answer.body);
  if (plan.kind === 'error') return failed({ step: 'twiml', code: plan.error.code, message: plan.error.message, verbs: [], ending: 'error' }, null);
  if (plan.kind === 'no-stream') {
    const twiml: TwimlReport = { before: plan.verbs, after: [], stream: null, outcome: plan.detail };
    return failed({ step: 'twiml', code: null, message: plan.detail, verbs: plan.verbs, ending: plan.ending }, twiml);
  }
  const { stream } = plan;
  const twiml: TwimlReport = {
    before: plan.before,
    after: plan.after,
    stream,
    outcome: `<${stream.verb}><Stream url="${stream.url.length > 200 ? `${stream.url.slice(0, 200)}…` : stream.url}"${stream.verb === 'Start' ? ` track="${stream.track}"` : ''}> with ${Object.keys(stream.parameters).length} <Parameter>s`,
  };
  const target = streamTarget(stream.url, answer.url);
  if (!target.ok) return failed({ step: 'twiml', code: target.code, message: target.message, verbs: plan.before, ending: 'error' }, twiml);
  if (target.warning !== null) notes.push(target.warning);

  let shape: StreamShape = BIDIRECTIONAL;
  let dtmf = streamOptions.dtmf;
  if (stream.verb === 'Start') {
    // "TwiML Voice: <Stream>": Twilio goes straight on after <Start>; with nothing after it, the call disconnects.
    if (plan.after.length === 0) {
      return failed({ step: 'twiml', code: null, message: 'nothing follows <Start><Stream>: Twilio starts the fork and then disconnects the call at once', verbs: plan.before, ending: 'end-of-document' }, twiml);
    }
    shape = { kind: 'fork', tracks: TRACKS[stream.track] };
    notes.push(`a <Start><Stream> fork: the call stays up for the replay (audio and tail); callsim does not time the verbs after <Start> (${plan.after.map((v) => `<${v.verb}>`).join(', ')})`);
    if (dtmf !== undefined) {
      notes.push('DTMF not sent: Twilio sends dtmf messages only on bidirectional streams');
      dtmf = undefined;
    }
  }
  const streamTimeoutMs = Math.max(100, timeoutMs - Math.round(performance.now() - began));
  const record = await placeCall({
    ...streamOptions,
    dtmf,
    url: target.dialUrl,
    ids,
    params: stream.parameters,
    stream: shape,
    timeoutMs: streamTimeoutMs,
    headers: signatureHeaders(authToken, target.signUrl),
  });
  const report: StreamReport = {
    verb: stream.verb,
    url: target.url,
    dialledUrl: target.dialUrl,
    signedUrl: authToken === null ? null : target.signUrl,
    track: stream.track,
    tracks: record.tracks,
    parameters: { ...stream.parameters },
  };
  return { flow: { mode: 'webhook', fallback: null, webhook, twiml, stream: report, setupFailure: null, directionSource: 'webhook', directionNote: null, notes }, record };
}

// The voice webhook step, as Twilio takes it when a call comes in (or an outbound-api call is
// answered): an HTTP request to the number's webhook with Twilio's parameters, signed with the
// account's auth token, answered with TwiML. References: Twilio "Voice webhooks" (the request
// parameters), "Webhooks security" (X-Twilio-Signature), errors 11200, 11205, 11215, 11750.
// The CallSid and AccountSid sent here are the ones the stream's `start` will carry.
import { performance } from 'node:perf_hooks';
import type { CallDirection, StreamIds } from '../twilio/codec.js';
import { TWILIO_SIGNATURE_HEADER, signTwilioRequest } from '../twilio/signature.js';
import { TWIML_MAX_BYTES } from '../twilio/twiml.js';
import { readLimited } from './bounded-body.js';

export type WebhookMethod = 'POST' | 'GET';
export const WEBHOOK_METHODS: readonly WebhookMethod[] = ['POST', 'GET'];

/** Twilio waits 15 s for a webhook to answer. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 15_000;
/** Redirects followed before Twilio gives up (error 11215). */
const MAX_REDIRECTS = 10;
/** The Voice API version Twilio reports in every webhook. */
const API_VERSION = '2010-04-01';

/** The two ends of the call, as E.164 numbers (555-01xx: reserved for fiction). */
export interface CallParties {
  /** The person on the phone: the caller of an inbound call, the callee of an outbound one. */
  person: string;
  /** The agent's Twilio number. */
  agentNumber: string;
}

export const DEFAULT_PARTIES: Readonly<CallParties> = { person: '+14155550100', agentNumber: '+14155550199' };

export interface WebhookRequest {
  url: string;
  method: WebhookMethod;
  ids: Readonly<StreamIds>;
  direction: CallDirection;
  parties?: Readonly<CallParties>;
  /** Sign the request (X-Twilio-Signature); null sends it unsigned. */
  authToken: string | null;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface WebhookSuccess {
  ok: true;
  /** The URL that answered (after any redirects). */
  url: string;
  status: number;
  contentType: string | null;
  body: string;
  durationMs: number;
}

export interface WebhookFailure {
  ok: false;
  url: string;
  /** The HTTP status, when the server answered at all. */
  status: number | null;
  /** Twilio's error code for it. */
  code: number;
  message: string;
  durationMs: number;
}

export type WebhookResult = WebhookSuccess | WebhookFailure;

const GEOGRAPHY = { City: 'SAN FRANCISCO', State: 'CA', Zip: '94105', Country: 'US' } as const;

/**
 * The parameters Twilio sends a voice webhook ("Voice webhooks", request parameters). Direction
 * is `inbound`, or `outbound-api` for a call placed through the REST API, whose webhook is
 * requested once it is answered (CallStatus `in-progress`); an inbound call's is `ringing`.
 */
export function webhookParams(ids: Readonly<StreamIds>, direction: CallDirection, parties: Readonly<CallParties> = DEFAULT_PARTIES): Record<string, string> {
  const from = direction === 'inbound' ? parties.person : parties.agentNumber;
  const to = direction === 'inbound' ? parties.agentNumber : parties.person;
  const params: Record<string, string> = {
    AccountSid: ids.accountSid,
    ApiVersion: API_VERSION,
    CallSid: ids.callSid,
    CallStatus: direction === 'inbound' ? 'ringing' : 'in-progress',
    Called: to,
    Caller: from,
    Direction: direction === 'inbound' ? 'inbound' : 'outbound-api',
    From: from,
    To: to,
  };
  for (const [side, number] of [['From', from], ['To', to], ['Caller', from], ['Called', to]] as const) {
    if (!number.startsWith('+1')) continue;
    for (const [field, value] of Object.entries(GEOGRAPHY)) params[`${side}${field}`] = value;
  }
  return params;
}

function describeFetchError(err: unknown): string {
  const cause = err instanceof Error ? (err.cause as NodeJS.ErrnoException | undefined) : undefined;
  if (cause?.code) return cause.message && !cause.message.includes(cause.code) ? `${cause.code}: ${cause.message}` : (cause.message || cause.code);
  return err instanceof Error ? err.message : String(err);
}

/** Requests the TwiML for one call. Never throws: a failure is a WebhookFailure with Twilio's code. */
export async function requestTwiml(request: WebhookRequest): Promise<WebhookResult> {
  const began = performance.now();
  const elapsed = (): number => Math.round(performance.now() - began);
  const timeoutMs = request.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  const params = webhookParams(request.ids, request.direction, request.parties);
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = request.signal ? AbortSignal.any([timeout, request.signal]) : timeout;
  let method = request.method;
  let url = request.url;
  for (let redirects = 0; ; redirects += 1) {
    const form = new URLSearchParams(params).toString();
    // GET: Twilio puts the parameters in the query string, and signs that URL with no body.
    const target = method === 'GET' ? `${url}${url.includes('?') ? '&' : '?'}${form}` : url;
    const headers: Record<string, string> = { 'user-agent': 'TwilioProxy/1.1', accept: '*/*' };
    if (method === 'POST') headers['content-type'] = 'application/x-www-form-urlencoded';
    if (request.authToken !== null) {
      headers[TWILIO_SIGNATURE_HEADER] = signTwilioRequest(request.authToken, target, method === 'POST' ? { form: params } : null).signature;
    }
    let response: Response;
    try {
      response = await fetch(target, { method, headers, body: method === 'POST' ? form : undefined, redirect: 'manual', signal });
    } catch (err) {
      if (timeout.aborted) return { ok: false, url, status: null, code: 11200, message: `the webhook did not answer within ${timeoutMs} ms (error 11200: HTTP retrieval failure)`, durationMs: elapsed() };
      if (request.signal?.aborted) return { ok: false, url, status: null, code: 11200, message: 'the caller hung up before the webhook answered', durationMs: elapsed() };
      return { ok: false, url, status: null, code: 11205, message: `could not reach the webhook at ${url}: ${describeFetchError(err)} (error 11205: HTTP connection failure)`, durationMs: elapsed() };
    }
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location !== null) {
      await response.body?.cancel();
      if (redirects >= MAX_REDIRECTS) return { ok: false, url, status: response.status, code: 11215, message: `more than ${MAX_REDIRECTS} redirects from the webhook (error 11215: HTTP too many redirects)`, durationMs: elapsed() };
      url = new URL(location, url).toString();
      if (response.status !== 307 && response.status !== 308) method = 'GET';
      continue;
    }
    if (response.status < 200 || response.status >= 300) {
      await response.body?.cancel();
      return { ok: false, url, status: response.status, code: 11200, message: `the webhook answered HTTP ${response.status} (error 11200: HTTP retrieval failure)`, durationMs: elapsed() };
    }
    let body: string | null;
    try {
      body = await readLimited(response, TWIML_MAX_BYTES);
    } catch (err) {
      return { ok: false, url, status: response.status, code: 11200, message: `the webhook's answer broke off: ${describeFetchError(err)} (error 11200: HTTP retrieval failure)`, durationMs: elapsed() };
    }
    if (body === null) return { ok: false, url, status: response.status, code: 11750, message: 'the webhook answered more than 64 kB (error 11750: TwiML response body too large)', durationMs: elapsed() };
    return { ok: true, url, status: response.status, contentType: response.headers.get('content-type'), body, durationMs: elapsed() };
  }
}

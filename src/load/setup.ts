// Setting up one load call the way Twilio sets up a call: the voice webhook (the caller's
// webhook step, src/caller/webhook.ts), the TwiML it answers read as Twilio reads it
// (src/twilio/twiml.ts), and the stream it names (src/caller/stream-url.ts), dialled with a
// signed upgrade; or, in direct mode, the URL as given. The fake Twilio's call-flow.ts does the
// same for one judged call and then runs its heavy stream; a load call needs only where to dial.
import { directParams, type CallSetup } from '../caller/call-flow.js';
import { isLoopbackHost, streamTarget } from '../caller/stream-url.js';
import { requestTwiml } from '../caller/webhook.js';
import { printable } from '../text/printable.js';
import type { CallDirection, StreamIds } from '../twilio/codec.js';
import { TWILIO_SIGNATURE_HEADER, computeTwilioSignature } from '../twilio/signature.js';
import { readTwiml } from '../twilio/twiml.js';
import type { LoadPlacement } from './protocol.js';

export interface DialPlan {
  ok: true;
  placement: 'webhook' | 'direct';
  url: string;
  headers: Record<string, string>;
  /** start.customParameters: the TwiML's <Parameter>s, or direct mode's --params. */
  parameters: Record<string, string>;
  /** Said once for the run: a fallback to direct mode, a ws:// URL accepted on loopback. */
  note: string | null;
  fellBack: boolean;
}

export interface SetupFailed {
  ok: false;
  error: string;
}

function signed(authToken: string | null, signUrl: string): Record<string, string> {
  return authToken === null ? {} : { [TWILIO_SIGNATURE_HEADER]: computeTwilioSignature(authToken, signUrl) };
}

function direct(placement: LoadPlacement, url: string, direction: CallDirection, note: string | null, fellBack: boolean): DialPlan {
  // Twilio dials only wss://, and signs that; a loopback ws:// URL stands for a TLS-terminating proxy.
  const signUrl = url.replace(/^ws:/i, 'wss:');
  return { ok: true, placement: 'direct', url, headers: signed(placement.authToken, signUrl), parameters: directParams(placement.params, direction), note, fellBack };
}

export async function planCall(placement: LoadPlacement, ids: Readonly<StreamIds>, direction: CallDirection, timeoutMs: number): Promise<DialPlan | SetupFailed> {
  const setup: CallSetup = placement.setup;
  if (setup.mode === 'direct') return direct(placement, setup.url, direction, null, false);
  const answer = await requestTwiml({ url: setup.url, method: setup.method, ids, direction, authToken: placement.authToken, timeoutMs });
  if (!answer.ok) {
    if (answer.status === 404 && setup.fallbackUrl !== null) {
      return direct(placement, setup.fallbackUrl, direction, `the target has no voice webhook at ${setup.url} (HTTP 404): calls were dialled directly at ${setup.fallbackUrl}`, true);
    }
    return { ok: false, error: `webhook: ${printable(answer.message)}` };
  }
  const plan = readTwiml(answer.body);
  if (plan.kind === 'error') return { ok: false, error: `TwiML: ${printable(plan.error.message)}` };
  if (plan.kind === 'no-stream') return { ok: false, error: `TwiML: ${printable(plan.detail)}` };
  if (plan.stream.verb === 'Start') return { ok: false, error: 'TwiML: a <Start><Stream> fork takes no audio back; callsim load needs a <Connect><Stream>' };
  const target = streamTarget(plan.stream.url, answer.url);
  if (!target.ok) return { ok: false, error: `TwiML: ${printable(target.message)}` };
  const note = target.warning !== null && isLoopbackHost(new URL(target.url).hostname) ? target.warning : null;
  return { ok: true, placement: 'webhook', url: target.dialUrl, headers: signed(placement.authToken, target.signUrl), parameters: plan.stream.parameters, note, fellBack: false };
}

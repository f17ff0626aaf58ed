// The model-side options `callsim gate` and `callsim replay` share: where a --url server's model
// sessions are read (--simulator-url), who must speak first on each direction, how soon after the
// call a model session must be closed, and the model script of the gate's simulator.
import { InvalidArgumentError } from 'commander';
import { CALL_DIRECTIONS, type CallDirection } from '../twilio/codec.js';
import { loadModelScript, ModelScriptError, type LoadedModelScript } from '../model/simulator/simulator.js';
import type { FirstSpeakerExpectation, Speaker } from '../gate/witness/session-checks.js';
import { remoteSource, SessionSourceError } from '../gate/witness/source.js';
import { UsageError } from './options.js';

const SPEAKERS: readonly Speaker[] = ['caller', 'agent'];

/** `inbound=caller,outbound=agent`: who speaks first, per direction (either may be left out). */
export function parseFirstSpeaker(value: string): FirstSpeakerExpectation {
  const expectation: FirstSpeakerExpectation = {};
  for (const item of value.split(',').map((v) => v.trim()).filter(Boolean)) {
    const [direction, speaker, ...rest] = item.split('=').map((v) => v.trim());
    if (rest.length > 0 || !CALL_DIRECTIONS.includes(direction as CallDirection) || !SPEAKERS.includes(speaker as Speaker)) {
      throw new InvalidArgumentError(`"${item}": expected DIRECTION=SPEAKER, DIRECTION ${CALL_DIRECTIONS.join(' or ')}, SPEAKER caller or agent (as in inbound=caller,outbound=agent)`);
    }
    expectation[direction as CallDirection] = speaker as Speaker;
  }
  if (Object.keys(expectation).length === 0) throw new InvalidArgumentError('expected DIRECTION=SPEAKER, as in inbound=caller,outbound=agent');
  return expectation;
}

/** A `callsim simulator` to read sessions from: its http(s) baseURL (or origin, or sessions URL). */
export function parseSimulatorUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`"${value}" is not a URL (give the simulator's baseURL, as http://127.0.0.1:8089/v1)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError(`"${value}": give the simulator's http:// baseURL (the one it prints), not its ws:// realtime URL`);
  return value;
}

/** The simulator answers with session records now, so a wrong URL is a usage error before any call. */
export async function checkSimulatorUrl(url: string): Promise<void> {
  try {
    await remoteSource(url).read(Date.now());
  } catch (err) {
    if (err instanceof SessionSourceError) throw new UsageError(`--simulator-url: ${err.message}`);
    throw err;
  }
}

export function readModelScript(file: string): LoadedModelScript {
  try {
    return loadModelScript(file);
  } catch (err) {
    if (err instanceof ModelScriptError) throw new UsageError(err.message);
    throw err;
  }
}

export const WITNESS_HELP = `
Model side: callsim also watches the agent's model leg. The built-in server is watched through its
embedded simulator; a --server-cmd server is handed the gate's own realtime simulator in its
environment (OPENAI_BASE_URL, OPENAI_API_KEY, CALLSIM_REALTIME_URL, CALLSIM_REALTIME_WSS_URL,
NODE_EXTRA_CA_CERTS, SSL_CERT_FILE) and as {openaiBaseUrl} {realtimeUrl} {realtimeWssUrl} {caFile}
in its command; a --url server through --simulator-url (a callsim simulator it uses). Each call is
tied to its model sessions (call-sid header, watermark in the caller's audio, or time) and judged
by model-session, model-audio-in, model-configured-first, model-session-closed, model-truncation,
model-no-errors, model-audio-out and, with --expect-first-speaker, model-first-speaker.`;

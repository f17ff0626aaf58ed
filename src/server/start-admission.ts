// The server's answer to a valid `start`: does this stream become a call? In order: the stream
// token (when signatures are checked), one live call per callSid, a free call slot. An admitted
// call moves from the sockets awaiting their start to the started calls, which alone count
// against --max-calls: a socket that never sends a good start holds no slot.
import type { Logger } from '../log.js';
import type { StartRefusal, StartRequest } from './call/admission.js';
import { isLoggedOccurrence } from './call/record.js';
import { CLOSE_CODE } from './close-code.js';
import type { CallRegistry, RegisteredCall } from './registry.js';
import type { RefusalCounters } from './routes.js';
import { STREAM_TOKEN_PARAMETER, type StreamTokenVerdict, type StreamTokens } from './stream-token.js';

const TOKEN_PROBLEMS: Readonly<Record<Exclude<StreamTokenVerdict, 'ok'>, string>> = {
  missing: `no stream token (customParameters.${STREAM_TOKEN_PARAMETER}): this server checks Twilio signatures, and its /twiml gives every <Stream> one`,
  malformed: 'a stream token that is not one this server makes',
  wrong: 'a stream token minted for another callSid, or with another auth token',
  expired: 'an expired stream token',
  spent: 'a stream token that already opened a stream',
};

export interface StartAdmissionOptions {
  registry: CallRegistry;
  /** Null when signatures are not checked: then there is no key to mint or check tokens with. */
  tokens: StreamTokens | null;
  maxCalls: number;
  refusals: RefusalCounters;
  logger: Logger;
}

export class StartAdmission {
  constructor(private readonly options: StartAdmissionOptions) {}

  admit(call: RegisteredCall, request: StartRequest): StartRefusal | null {
    const { registry, tokens, refusals, logger } = this.options;
    const { callSid } = request;
    if (tokens !== null) {
      const verdict = tokens.spend(request.customParameters[STREAM_TOKEN_PARAMETER], callSid);
      if (verdict !== 'ok') {
        refusals.rejectedStreamTokens += 1;
        if (isLoggedOccurrence(refusals.rejectedStreamTokens)) logger.warn('call refused: bad stream token', { callSid, problem: verdict, refused: refusals.rejectedStreamTokens });
        return { code: 'invalid_stream_token', message: `start with ${TOKEN_PROBLEMS[verdict]}; refused`, reason: `stream token ${verdict}`, closeCode: CLOSE_CODE.policyViolation };
      }
    }
    if (registry.hasLive(callSid)) {
      refusals.rejectedDuplicateCalls += 1;
      if (isLoggedOccurrence(refusals.rejectedDuplicateCalls)) logger.warn('call refused: callSid already live', { callSid, refused: refusals.rejectedDuplicateCalls });
      return { code: 'duplicate_call_sid', message: `start for call ${callSid}, which already has a live stream here; refused`, reason: 'callSid already live', closeCode: CLOSE_CODE.policyViolation };
    }
    const started = registry.startedCount;
    if (started >= this.options.maxCalls) {
      refusals.rejectedAtCapacity += 1;
      logger.warn('call refused: at capacity', { callSid, liveCalls: started, maxCalls: this.options.maxCalls });
      return { code: 'at_capacity', message: `start while all ${this.options.maxCalls} call slots are taken; refused`, reason: 'at capacity', closeCode: CLOSE_CODE.tryAgainLater };
    }
    registry.markStarted(call, callSid);
    return null;
  }
}

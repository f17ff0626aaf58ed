// Twilio resource SIDs: a two-letter type prefix and 32 lowercase hex digits (34 characters), as
// Twilio's AccountSid (AC…), CallSid (CA…) and Media Stream Sid (MZ…) are. Every fake Twilio makes
// its SIDs here, so a server that checks their shape sees what Twilio would send.
import { randomBytes } from 'node:crypto';

export type SidPrefix = 'AC' | 'CA' | 'MZ';

/** 16 random bytes: the 32 hex digits after the prefix. */
const SID_RANDOM_BYTES = 16;

/** The three SIDs one stream is known by. */
export interface StreamIds {
  accountSid: string;
  callSid: string;
  streamSid: string;
}

/** A fresh random SID of the given type. */
export function newSid(prefix: SidPrefix): string {
  return prefix + randomBytes(SID_RANDOM_BYTES).toString('hex');
}

/** Fresh SIDs for one call's stream. */
export function newStreamIds(): StreamIds {
  return { accountSid: newSid('AC'), callSid: newSid('CA'), streamSid: newSid('MZ') };
}

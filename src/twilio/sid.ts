// Twilio resource SIDs: a two-letter type prefix and 32 lowercase hex digits (34 characters), as
// Twilio's AccountSid (AC…), CallSid (CA…) and Media Stream Sid (MZ…) are. Every fake Twilio makes
// its SIDs here, so a server that checks their shape sees what Twilio would send; and what a
// server takes for a SID from a peer is checked here too.
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

/**
 * What a server takes for a SID from a peer: letters and digits, at most 64 of them. Twilio's are
 * a two-letter prefix and 32 hex digits; anything else (a newline, a non-Latin-1 character, 10 kB)
 * is not a SID and must not reach a log line, a /calls answer or the model's HTTP header.
 */
const SID_SHAPE = /^[A-Za-z0-9]{1,64}$/;

export function isSidShaped(value: string): boolean {
  return SID_SHAPE.test(value);
}

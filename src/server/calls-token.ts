// The bearer token that guards GET /calls and GET /metrics: how long it must be, and how a
// presented one is compared. Its own module: the CLI checks the option without loading the server.
import { createHash, timingSafeEqual } from 'node:crypto';

/** A bearer token anyone could guess protects nothing. */
export const MIN_CALLS_TOKEN_CHARS = 16;

/** Compared as digests: equal length, constant time, whatever was sent. */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

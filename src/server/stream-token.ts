// Per-call stream tokens. Twilio signs a Media Streams upgrade over the stream URL alone, the same
// for every call ("Webhooks security"), so one captured X-Twilio-Signature would open any number
// of streams with any callSid. The TwiML webhook is signed per call (its CallSid is among the
// signed parameters), so /twiml mints a token for that CallSid and puts it in the <Stream> as a
// <Parameter>; Twilio hands every <Parameter> back in start.customParameters ("TwiML Voice:
// <Stream>", custom parameters). The start must carry the token minted for its own callSid, not
// yet expired, and a token opens one stream only.
//
// A token is `<expiry, epoch s>.<HMAC-SHA256 of callSid and expiry>`, keyed from the auth token: any
// replica that shares the auth token can check it, and it stays short (Twilio bounds a parameter).
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The <Parameter> name the token travels under. */
export const STREAM_TOKEN_PARAMETER = 'callsimStreamToken';
/** Twilio opens the stream right after it fetched the TwiML; two minutes leaves room for a slow network. */
export const DEFAULT_STREAM_TOKEN_TTL_MS = 120_000;

export type StreamTokenVerdict = 'ok' | 'missing' | 'malformed' | 'wrong' | 'expired' | 'spent';

const TOKEN_SHAPE = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/;
/** Separates this key from any other use of the auth token. */
const KEY_LABEL = 'callsim stream token v1';

export class StreamTokens {
  private readonly key: Buffer;
  /** Spent tokens until they expire (then they are refused as expired anyway), oldest first. */
  private readonly spent = new Map<string, number>();

  constructor(
    authToken: string,
    private readonly ttlMs: number = DEFAULT_STREAM_TOKEN_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.key = createHmac('sha256', authToken).update(KEY_LABEL).digest();
  }

  /** A token for the stream of call `callSid`. */
  mint(callSid: string): string {
    const expiry = Math.ceil((this.now() + this.ttlMs) / 1000);
    return `${expiry}.${this.mac(callSid, expiry)}`;
  }

  /** Checks `token` against the start's callSid and, when it is good, spends it. */
  spend(token: string | undefined, callSid: string): StreamTokenVerdict {
    if (token === undefined || token === '') return 'missing';
    const match = TOKEN_SHAPE.exec(token);
    if (match === null) return 'malformed';
    const expiry = Number(match[1]);
    const expected = Buffer.from(this.mac(callSid, expiry));
    const given = Buffer.from(match[2] ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'wrong';
    const nowMs = this.now();
    this.forgetExpired(nowMs);
    if (expiry * 1000 < nowMs) return 'expired';
    if (this.spent.has(token)) return 'spent';
    this.spent.set(token, expiry * 1000);
    return 'ok';
  }

  /** Spent tokens still remembered (bounded by the signed webhooks of one token lifetime). */
  get spentCount(): number {
    return this.spent.size;
  }

  private mac(callSid: string, expiry: number): string {
    return createHmac('sha256', this.key).update(`${callSid}\n${expiry}`).digest('base64url');
  }

  private forgetExpired(nowMs: number): void {
    // Spent in about the order they were minted (one lifetime each): stop at the first still valid.
    for (const [token, expiresAt] of this.spent) {
      if (expiresAt >= nowMs) break;
      this.spent.delete(token);
    }
  }
}

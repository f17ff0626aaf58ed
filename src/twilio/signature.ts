// Twilio request validation (X-Twilio-Signature): HMAC-SHA1, keyed with the account's auth token,
// over the full URL Twilio requested followed, for form POSTs, by every parameter name and value
// sorted by name; base64. Media Streams sign their WebSocket upgrade the same way over the wss://
// URL with no parameters. Reference: Twilio "Webhooks security" and twilio-node's validateRequest.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const TWILIO_SIGNATURE_HEADER = 'x-twilio-signature';

/** Form parameters as Twilio posted them; a repeated name carries all its values. */
export type SignatureParams = Readonly<Record<string, string | readonly string[]>>;

/** The base64 signature Twilio would send for this URL (exactly as written) and these parameters. */
export function computeTwilioSignature(authToken: string, url: string, params: SignatureParams = {}): string {
  let data = url;
  // Sorted by UTF-16 code unit, like Twilio's own validators; repeated names: each distinct value, sorted.
  for (const name of Object.keys(params).sort()) {
    const value = params[name];
    if (typeof value === 'string') data += name + value;
    else if (value !== undefined) for (const v of [...new Set(value)].sort()) data += name + v;
  }
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf8')).digest('base64');
}

/** `url` with the `bodySHA256` query parameter Twilio adds when it posts a JSON body. */
export function withBodySha256(url: string, rawBody: string): string {
  const hash = createHash('sha256').update(Buffer.from(rawBody, 'utf8')).digest('hex');
  return `${url}${url.includes('?') ? '&' : '?'}bodySHA256=${hash}`;
}

/** What Twilio sends for a request: the URL it requests (with bodySHA256 for JSON) and the header. */
export interface SignedRequest {
  url: string;
  signature: string;
}

/**
 * Signs a request the way Twilio does ("Webhooks security"): a form POST over the URL plus its
 * sorted parameters, a GET or a WebSocket upgrade over the URL alone, a JSON body over the URL
 * with the body's SHA-256 added as `bodySHA256` (the body itself is not in the HMAC).
 */
export function signTwilioRequest(
  authToken: string,
  url: string,
  body: { form: SignatureParams } | { json: string } | null = null,
): SignedRequest {
  if (body !== null && 'json' in body) {
    const signedUrl = withBodySha256(url, body.json);
    return { url: signedUrl, signature: computeTwilioSignature(authToken, signedUrl) };
  }
  return { url, signature: computeTwilioSignature(authToken, url, body?.form ?? {}) };
}

/**
 * True when `signature` is valid for the URL and parameters. Like Twilio's validators it accepts
 * the URL with and without an explicit port (Twilio is not consistent about which it signs).
 * A URL carrying `bodySHA256` (JSON webhooks) is checked without parameters, plus the body hash.
 */
export function validateTwilioSignature(
  authToken: string,
  signature: string | undefined,
  url: string,
  params: SignatureParams = {},
  rawBody?: string,
): boolean {
  if (authToken === '' || signature === undefined || signature === '') return false;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  const bodyHash = parsed.searchParams.get('bodySHA256');
  const signedParams = bodyHash !== null ? {} : params;
  let ok = false;
  // Check every candidate (no early exit): the time taken must not depend on which one matched.
  for (const candidate of urlVariants(url, parsed)) {
    if (constantTimeEqual(signature, computeTwilioSignature(authToken, candidate, signedParams))) ok = true;
  }
  if (bodyHash !== null) {
    const actual = createHash('sha256').update(Buffer.from(rawBody ?? '', 'utf8')).digest('hex');
    if (!constantTimeEqual(bodyHash.toLowerCase(), actual)) ok = false;
  }
  return ok;
}

/** Form-encoded body to signature parameters, keeping every value of a repeated name. */
export function formParams(body: string): Record<string, string[]> {
  const params: Record<string, string[]> = {};
  for (const [name, value] of new URLSearchParams(body)) (params[name] ??= []).push(value);
  return params;
}

/**
 * The public http(s) URL Twilio reaches this server at (`--public-url`), a base: scheme, host and
 * an optional path prefix (a proxy that serves this server under /agent). Throws on anything else.
 */
export function parsePublicUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`public URL must look like https://agent.example.com, got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`public URL must be http:// or https://, got "${value}"`);
  if (url.search !== '' || url.hash !== '') throw new Error(`public URL must be a base URL without a query string or fragment, got "${value}"`);
  return url;
}

/** The path prefix of a public URL ("/agent" for https://host/agent/), "" for none. */
export function publicPathPrefix(publicUrl: URL | null): string {
  return publicUrl === null ? '' : publicUrl.pathname.replace(/\/+$/, '');
}

/**
 * The URL Twilio requested, as Twilio saw it. Behind a TLS-terminating proxy this server sees
 * plain http, so the scheme and host come from `publicUrl` when set (else Host, and the scheme
 * from X-Forwarded-Proto when `trustForwardedProto`: any peer can send that header, so only a
 * server told it sits behind a proxy believes it); path and query come from the request, under
 * the public URL's path prefix when the proxy stripped it. A WebSocket upgrade is always wss://:
 * Twilio dials nothing else (31922).
 */
export function requestUrlAsTwilioSaw(req: IncomingMessage, publicUrl: URL | null, websocket: boolean, trustForwardedProto = false): string {
  let path = req.url ?? '/';
  if (!path.startsWith('/')) path = `/${path}`;
  let scheme: string;
  let host: string;
  if (publicUrl) {
    scheme = publicUrl.protocol.replace(/:$/, '');
    host = publicUrl.host;
    const prefix = publicPathPrefix(publicUrl);
    if (prefix !== '' && path !== prefix && !path.startsWith(`${prefix}/`) && !path.startsWith(`${prefix}?`)) path = `${prefix}${path}`;
  } else {
    const forwarded = trustForwardedProto ? headerValue(req.headers['x-forwarded-proto'])?.split(',')[0]?.trim().toLowerCase() : undefined;
    scheme = forwarded === 'http' || forwarded === 'https' ? forwarded : 'http';
    host = headerValue(req.headers.host) ?? 'localhost';
  }
  if (websocket) scheme = 'wss';
  return `${scheme}://${host}${path}`;
}

export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The URL as written, normalised (host case, escapes), without and with an explicit port. */
function urlVariants(raw: string, url: URL): string[] {
  const withoutPort = new URL(url.toString());
  withoutPort.port = '';
  const withPort = new URL(url.toString());
  let explicit = withPort.toString();
  if (withPort.port === '') {
    // URL drops a scheme's default port; splice it back in, as Twilio sometimes signs it.
    const defaultPort = { 'https:': '443', 'wss:': '443', 'http:': '80', 'ws:': '80' }[withPort.protocol];
    if (defaultPort !== undefined) explicit = explicit.replace(withPort.host, `${withPort.host}:${defaultPort}`);
  }
  return [...new Set([raw, url.toString(), withoutPort.toString(), explicit])];
}

function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  // Lengths of a base64 SHA-1 are public (28); comparing a wrong-length value tells nothing.
  if (left.length !== right.length) return false;
  return timingSafeEqual(left, right);
}

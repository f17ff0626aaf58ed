// Where a request came from and which URL it asked for, as far as the server may believe it.
//
// A Twilio signature covers the URL Twilio requested. Without --public-url that URL is built from
// the Host header, which the peer chooses: if any Host were believed, a signature made for another
// server that shares the auth token (staging, another tenant) would be accepted here by setting
// Host to match. So without --public-url a Host is believed only when it names this server itself:
// its listening address (every interface address when it listens on all of them) or localhost,
// with its port. Behind a proxy or a tunnel Host names the public host: that needs --public-url.
//
// Proxy headers are believed only under --trust-proxy: X-Forwarded-Proto for the scheme Twilio
// used, the last X-Forwarded-For entry (the one the adjacent proxy wrote) for the client's address.
import type http from 'node:http';
import os from 'node:os';
import { headerValue, requestUrlAsTwilioSaw } from '../twilio/signature.js';

export interface OriginPolicy {
  publicUrl: URL | null;
  /** Believe X-Forwarded-Proto and X-Forwarded-For (set by a proxy this server sits behind). */
  trustProxy: boolean;
  /** `host:port` names of this server itself, lower case (filled once it listens). */
  ownHosts: ReadonlySet<string>;
}

/** The names a client that reaches this server directly puts in Host. */
export function ownHostsOf(listenHost: string, port: number): Set<string> {
  const all = listenHost === '' || listenHost === '0.0.0.0' || listenHost === '::';
  const addresses = all
    ? Object.values(os.networkInterfaces())
        .flat()
        .flatMap((i) => (i === undefined ? [] : [i.address]))
    : [listenHost];
  const names = new Set<string>();
  for (const address of [...addresses, 'localhost']) names.add(`${address.includes(':') ? `[${address}]` : address}:${port}`.toLowerCase());
  return names;
}

/**
 * The URL Twilio signed for this request, or null when it cannot have been this server's: no
 * --public-url and a Host that names some other server.
 */
export function signedRequestUrl(req: http.IncomingMessage, policy: OriginPolicy, websocket: boolean): string | null {
  if (policy.publicUrl === null) {
    const host = headerValue(req.headers.host)?.toLowerCase();
    if (host === undefined || !policy.ownHosts.has(host)) return null;
  }
  return requestUrlAsTwilioSaw(req, policy.publicUrl, websocket, policy.trustProxy);
}

/** The client's address: the socket's, or under --trust-proxy the one its proxy reports. */
export function clientAddress(req: http.IncomingMessage, trustProxy: boolean): string | undefined {
  if (trustProxy) {
    const forwarded = headerValue(req.headers['x-forwarded-for'])?.split(',').at(-1)?.trim();
    if (forwarded !== undefined && forwarded !== '') return forwarded;
  }
  return req.socket.remoteAddress;
}

/** The request names a proxy hop: the socket's address is the proxy's, not the client's. */
export function cameThroughProxy(req: http.IncomingMessage): boolean {
  return req.headers['x-forwarded-for'] !== undefined || req.headers.forwarded !== undefined;
}

export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return v4.startsWith('127.') || address === '::1';
}

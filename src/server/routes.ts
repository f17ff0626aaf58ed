// The routes on the server's one port: GET /healthz, the TwiML webhook, GET /calls, GET /metrics, and the
// Media Streams upgrade on /media, which is admitted (signature, drain, capacity) before any call
// exists. Every refusal is counted; nothing here knows what a call does once it runs.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../log.js';
import type { ModelBackend } from '../model/bridge.js';
import { TWILIO_SIGNATURE_HEADER, formParams, headerValue, publicPathPrefix, validateTwilioSignature } from '../twilio/signature.js';
import { isSidShaped } from '../twilio/sid.js';
import { connectStreamTwiml, directionFromTwilio } from '../twilio/twiml.js';
import { isLoggedOccurrence } from './call/record.js';
import { CLOSE_CODE } from './close-code.js';
import { refusedAccess, serveCalls } from './calls-route.js';
import { sendJson } from './http-reply.js';
import { clientAddress, signedRequestUrl } from './origin.js';
import type { ServerMetrics } from './metrics.js';
import type { CallRegistry } from './registry.js';
import { STREAM_TOKEN_PARAMETER, type StreamTokens } from './stream-token.js';

/** Where Twilio opens Media Streams (the `<Stream url>` of the TwiML). */
export const MEDIA_PATH = '/media';
const HEALTH_PATH = '/healthz';
/** The voice webhook, under both names the public samples use. */
const TWIML_PATHS: readonly string[] = ['/twiml', '/incoming-call'];
const CALLS_PATH = '/calls';
/** Prometheus scrapes here; served under the same rules as /calls. */
const METRICS_PATH = '/metrics';
const CALL_PATH_PREFIX = `${CALLS_PATH}/`;
/** A Twilio webhook body is a few hundred bytes of form fields; anything past this is refused. */
const MAX_WEBHOOK_BODY_BYTES = 64 * 1024;
const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

/** What was refused at the door: the one list of these counters. */
export const INITIAL_REFUSALS = Object.freeze({
  rejectedSignatures: 0,
  /** Upgrades refused with 503, and starts refused with 1013, while every call slot was taken. */
  rejectedAtCapacity: 0,
  rejectedCallsRequests: 0,
  /** Starts with a missing, wrong, expired or spent stream token (signatures checked). */
  rejectedStreamTokens: 0,
  /** Starts for a callSid that already had a live call. */
  rejectedDuplicateCalls: 0,
  /** Sockets still awaiting their start, let go to make room for a newer one. */
  evictedBeforeStart: 0,
});
export type RefusalCounters = { -readonly [K in keyof typeof INITIAL_REFUSALS]: number };

export interface RouteContext {
  logger: Logger;
  /** '' = signatures not checked. */
  authToken: string;
  publicUrl: URL | null;
  /** Believe X-Forwarded-Proto / X-Forwarded-For (origin.ts). */
  trustProxy: boolean;
  /** This server's own `host:port` names: without publicUrl, the only Hosts a signature may be for. */
  ownHosts: ReadonlySet<string>;
  /** Scrubbed from every /calls response: a call record can quote what a peer sent. */
  secrets: readonly string[];
  /** The bearer token GET /calls requires (calls-route.ts); null: none set. */
  callsToken: string | null;
  modelBackend: ModelBackend;
  exposeCalls: boolean;
  callsLocalOnly: boolean;
  maxCalls: number;
  /** Sockets awaiting their start beyond this: the oldest is let go for each new one. */
  maxAwaitingStart: number;
  /** Mints the per-call stream token /twiml puts in the <Stream>; null when signatures are off. */
  tokens: StreamTokens | null;
  registry: CallRegistry;
  metrics: ServerMetrics;
  refusals: RefusalCounters;
  /** New calls are refused while the server drains. */
  isDraining(): boolean;
}

export function httpHandler(ctx: RouteContext): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    route(ctx, req, res).catch((err: unknown) => {
      ctx.logger.error('http handler error', { error: err });
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
    });
  };
}

async function route(ctx: RouteContext, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://localhost');
  } catch {
    sendJson(res, 400, { error: 'bad request URL' });
    return;
  }
  const path = withoutPrefix(url.pathname, ctx.publicUrl);
  if (path === HEALTH_PATH && (req.method === 'GET' || req.method === 'HEAD')) {
    const draining = ctx.isDraining();
    sendJson(res, draining ? 503 : 200, { ok: !draining, draining, liveCalls: ctx.registry.startedCount, model: ctx.modelBackend });
    return;
  }
  if (TWIML_PATHS.includes(path) && (req.method === 'POST' || req.method === 'GET')) {
    await twiml(ctx, req, res, url);
    return;
  }
  if (ctx.exposeCalls && (path === CALLS_PATH || path.startsWith(CALL_PATH_PREFIX)) && req.method === 'GET') {
    await serveCalls({ ...ctx, signaturesChecked: ctx.authToken !== '' }, req, res, path, url);
    return;
  }
  if (ctx.exposeCalls && path === METRICS_PATH && req.method === 'GET') {
    await metrics(ctx, req, res);
    return;
  }
  sendJson(res, 404, { error: `no route for ${req.method ?? '?'} ${path}` });
}

async function twiml(ctx: RouteContext, req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
  let body = '';
  if (req.method === 'POST') {
    const read = await readBody(req, MAX_WEBHOOK_BODY_BYTES);
    if (read === null) {
      res.setHeader('connection', 'close');
      sendJson(res, 413, { error: 'request body too large' });
      return;
    }
    body = read;
  }
  const isForm = (req.headers['content-type'] ?? FORM_CONTENT_TYPE).startsWith(FORM_CONTENT_TYPE);
  // Twilio's parameters: the form body of a POST; a GET webhook has them in its query string,
  // and then they are part of the signed URL, not signed parameters ("Webhooks security").
  const signedParams = req.method === 'POST' && isForm ? formParams(body) : {};
  const params = req.method === 'GET' ? formParams(url.search) : signedParams;
  if (ctx.authToken !== '') {
    const signedUrl = signedRequestUrl(req, ctx, false);
    if (signedUrl === null || !validateTwilioSignature(ctx.authToken, headerValue(req.headers[TWILIO_SIGNATURE_HEADER]), signedUrl, signedParams, body)) {
      ctx.refusals.rejectedSignatures += 1;
      ctx.logger.warn('request refused: bad Twilio signature', { path: url.pathname, method: req.method, remote: clientAddress(req, ctx.trustProxy), hasSignature: req.headers[TWILIO_SIGNATURE_HEADER] !== undefined, ...(signedUrl === null ? { hostNotOurs: true } : {}) });
      sendJson(res, 403, { error: 'invalid Twilio signature' });
      return;
    }
  }
  // ?direction= wins; else Twilio's own Direction form field (inbound / outbound-api / outbound-dial).
  const asked = url.searchParams.get('direction');
  const direction = asked === 'inbound' || asked === 'outbound' ? asked : directionFromTwilio(params.Direction?.[0]);
  // The webhook is signed per call: its CallSid gets the one token that opens its stream.
  const callSid = params.CallSid?.[0] ?? '';
  const token: Record<string, string> = ctx.tokens !== null && isSidShaped(callSid) ? { [STREAM_TOKEN_PARAMETER]: ctx.tokens.mint(callSid) } : {};
  res.writeHead(200, { 'content-type': 'text/xml' }).end(connectStreamTwiml(streamUrlFor(req, ctx.publicUrl), direction, token));
}

async function metrics(ctx: RouteContext, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (refusedAccess({ ...ctx, signaturesChecked: ctx.authToken !== '' }, req, res, METRICS_PATH)) return;
  const text = await ctx.metrics.text();
  res.writeHead(200, { 'content-type': ctx.metrics.contentType }).end(text);
}

/**
 * The /media upgrade: refused (403 / 503 / 404) before any call exists, or handed to `onCall`.
 * Capacity here is the started calls: a socket holds a call slot only once a valid start admitted
 * it (start-admission.ts), so the 503 is the common case and a start past it gets 1013. Sockets
 * awaiting their start are bounded on their own: past the bound the oldest is let go, so a crowd
 * of strangers that never start cannot keep a real call (which starts within a round trip) out.
 */
export function upgradeHandler(ctx: RouteContext, wss: WebSocketServer, onCall: (socket: WebSocket) => void): (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    // Node hands an upgraded socket over without an error listener: a peer reset here would
    // otherwise be an uncaught exception that takes every call down.
    socket.on('error', () => socket.destroy());
    const path = withoutPrefix((req.url ?? '').split('?')[0] ?? '', ctx.publicUrl);
    if (path !== MEDIA_PATH) {
      rejectUpgrade(socket, 404, 'Not Found');
      return;
    }
    if (ctx.authToken !== '') {
      const signedUrl = signedRequestUrl(req, ctx, true);
      if (signedUrl === null || !validateTwilioSignature(ctx.authToken, headerValue(req.headers[TWILIO_SIGNATURE_HEADER]), signedUrl)) {
        ctx.refusals.rejectedSignatures += 1;
        ctx.logger.warn('call refused: bad Twilio signature', { path, remote: clientAddress(req, ctx.trustProxy), hasSignature: req.headers[TWILIO_SIGNATURE_HEADER] !== undefined, ...(signedUrl === null ? { hostNotOurs: true } : {}) });
        rejectUpgrade(socket, 403, 'Forbidden');
        return;
      }
    }
    if (ctx.isDraining()) {
      rejectUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    const liveCalls = ctx.registry.startedCount;
    if (liveCalls >= ctx.maxCalls) {
      ctx.refusals.rejectedAtCapacity += 1;
      ctx.logger.warn('call refused: at capacity', { liveCalls, maxCalls: ctx.maxCalls });
      rejectUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // Only a handshake ws completed may push the oldest waiting socket out: a malformed one (400) lets no one go.
      if (ctx.registry.awaitingStartCount >= ctx.maxAwaitingStart) evictOldestAwaiting(ctx);
      onCall(ws);
    });
  };
}

function evictOldestAwaiting(ctx: RouteContext): void {
  const oldest = ctx.registry.oldestAwaitingStart();
  if (oldest === null) return;
  ctx.refusals.evictedBeforeStart += 1;
  // A crowd of strangers makes one of these per socket: the first ones, then every 1000th.
  if (isLoggedOccurrence(ctx.refusals.evictedBeforeStart)) {
    ctx.logger.warn('too many sockets awaiting start; closing the oldest', { maxAwaitingStart: ctx.maxAwaitingStart, evicted: ctx.refusals.evictedBeforeStart });
  }
  oldest.close('too many streams awaiting start', CLOSE_CODE.tryAgainLater);
}

/**
 * The wss:// URL Twilio should stream to: the public URL's host and path prefix, or the Host it
 * reached us by. Always wss://, whatever the public URL's scheme: Twilio refuses anything else
 * (error 31922), so an http:// public URL needs TLS in front of it (a proxy like ngrok serves both).
 */
function streamUrlFor(req: http.IncomingMessage, publicUrl: URL | null): string {
  if (publicUrl) return `wss://${publicUrl.host}${publicPathPrefix(publicUrl)}${MEDIA_PATH}`;
  return `wss://${req.headers.host ?? 'localhost'}${MEDIA_PATH}`;
}

/** A request path with the public URL's prefix taken off, whether or not the proxy already did. */
function withoutPrefix(path: string, publicUrl: URL | null): string {
  const prefix = publicPathPrefix(publicUrl);
  if (prefix === '') return path;
  if (path === prefix) return '/';
  return path.startsWith(`${prefix}/`) ? path.slice(prefix.length) : path;
}

function rejectUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
}


export { isLoopbackAddress } from './origin.js';

/** Resolves null as soon as the body passes `limit`; nothing past it is kept. */
function readBody(req: http.IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        resolve(null);
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => resolve(size > limit ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

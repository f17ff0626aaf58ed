// The media server: HTTP routes and the Media Streams WebSocket on one port, the registry of
// calls, and shutdown. Each WebSocket gets its own Call; this module only routes.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { createLogger, redactSecrets, silentLogger, type LogFormat, type Logger } from '../log.js';
import type { ModelBackend, ModelBridgeFactory } from '../model/bridge.js';
import { DEFAULT_OPENAI_BASE_URL, DEFAULT_REALTIME_MODEL, createRealtimeBridgeFactory } from '../model/openai-bridge.js';
import { startRealtimeSimulator, type RealtimeSimulatorOptions, type RunningSimulator } from '../model/simulator/simulator.js';
import { SharedTicker } from '../ticker.js';
import { MAX_MESSAGE_BYTES } from '../twilio/codec.js';
import { TWILIO_SIGNATURE_HEADER, formParams, headerValue, requestUrlAsTwilioSaw, validateTwilioSignature, parsePublicUrl } from '../twilio/signature.js';
import { connectStreamTwiml, directionFromTwilio } from '../twilio/twiml.js';
import { Call } from './call/call.js';
import { DEFAULT_CALL_CONFIG, type CallConfig } from './call/config.js';
import type { CallSnapshot } from './call-snapshot.js';

export type ModelOptions =
  /** The embedded simulator, started in-process; or, with `url`, one already running elsewhere. */
  | { backend: 'simulator'; simulator?: RealtimeSimulatorOptions; url?: string }
  | { backend: 'openai'; apiKey: string; model?: string; baseURL?: string };

export interface MediaServerOptions {
  host?: string;
  port?: number;
  logFormat?: LogFormat;
  /** No log output at all (tests, in-process replay). */
  quiet?: boolean;
  logger?: Logger;
  model?: ModelOptions;
  call?: Partial<CallConfig>;
  /** Public base URL Twilio reaches us at (for the TwiML stream URL); default: from the Host header. */
  publicUrl?: string;
  /** Refuse new calls beyond this many live ones (HTTP 503 on the upgrade). */
  maxCalls?: number;
  /** Finished calls kept for GET /calls. */
  keepFinishedCalls?: number;
  /**
   * Close a call when Twilio has sent nothing for this long (it streams media continuously, even
   * silence, so a quiet socket is a dead or half-open peer holding a slot). 0 = never.
   */
  idleTimeoutMs?: number;
  /** Serve GET /calls at all. */
  exposeCalls?: boolean;
  /** Serve GET /calls only to loopback peers (127.0.0.0/8, ::1); others get 403. */
  callsLocalOnly?: boolean;
  /**
   * Twilio auth token. When set, the /media upgrade and /twiml (/incoming-call) require a valid
   * X-Twilio-Signature; anything else gets 403 before a call handler exists.
   */
  twilioAuthToken?: string;
  /** Give up on a model connection not ready after this long (then reconnect or end the call). */
  modelConnectTimeoutMs?: number;
}

/** Server-wide counters: what was refused at the door, and what is still held. */
export interface MediaServerStats {
  liveCalls: number;
  finishedCallsKept: number;
  /** Calls with a paced send loop on the shared ticker right now. */
  tickerSubscribers: number;
  rejectedSignatures: number;
  rejectedAtCapacity: number;
  rejectedCallsRequests: number;
}

export interface RunningMediaServer {
  port: number;
  httpUrl: string;
  wsUrl: string;
  simulator: RunningSimulator | null;
  modelBackend: ModelBackend;
  /** Live and recently finished calls. */
  calls(): CallSnapshot[];
  call(callSid: string): CallSnapshot | null;
  liveCalls(): number;
  stats(): MediaServerStats;
  /**
   * Stops taking calls at once; lets live calls finish for up to `drainMs` (a deploy's grace
   * period), then ends the rest with 1001 and stops listening.
   */
  close(drainMs?: number): Promise<void>;
}

export const MEDIA_PATH = '/media';

export async function startMediaServer(options: MediaServerOptions = {}): Promise<RunningMediaServer> {
  const host = options.host ?? '127.0.0.1';
  const authToken = options.twilioAuthToken ?? '';
  // Parsed once, here: a bad value fails the start, not the first request that needs it.
  const publicUrl = options.publicUrl === undefined ? null : parsePublicUrl(options.publicUrl);
  // Never echoed: not in a log line (the logger scrubs them) nor in /calls (scrubbed on the way out).
  const secrets = [authToken, options.model?.backend === 'openai' ? options.model.apiKey : ''].filter((s) => s.length > 0);
  const logger = options.logger ?? (options.quiet ? silentLogger : createLogger({ format: options.logFormat ?? 'pretty', secrets }));
  const callConfig: CallConfig = { ...DEFAULT_CALL_CONFIG, ...options.call };
  const maxCalls = options.maxCalls ?? 5000;
  const keepFinished = options.keepFinishedCalls ?? 1000;
  const exposeCalls = options.exposeCalls ?? true;
  const callsLocalOnly = options.callsLocalOnly ?? false;
  const modelOptions: ModelOptions = options.model ?? { backend: 'simulator' };

  const connectTimeout = options.modelConnectTimeoutMs !== undefined ? { connectTimeoutMs: options.modelConnectTimeoutMs } : {};
  let simulator: RunningSimulator | null = null;
  let modelFactory: ModelBridgeFactory;
  if (modelOptions.backend === 'simulator') {
    if (modelOptions.url === undefined) simulator = await startRealtimeSimulator({ host: '127.0.0.1', ...modelOptions.simulator });
    const embedded = simulator;
    modelFactory = createRealtimeBridgeFactory({
      apiKey: 'callsim-simulator',
      baseURL: embedded?.baseURL ?? modelOptions.url ?? '',
      model: 'callsim-simulator',
      // The embedded simulator is reached in-process: no kernel round trip per frame.
      transport: embedded ? () => embedded.connect() : 'tcp',
      ...connectTimeout,
    });
  } else {
    modelFactory = createRealtimeBridgeFactory({
      apiKey: modelOptions.apiKey,
      baseURL: modelOptions.baseURL ?? DEFAULT_OPENAI_BASE_URL,
      model: modelOptions.model ?? DEFAULT_REALTIME_MODEL,
      transport: 'tls',
      ...connectTimeout,
    });
  }

  const ticker = new SharedTicker();
  /** Set by close(): new calls are refused while live ones finish. */
  let draining = false;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  // One sweep for all calls, not a timer per call.
  const idleSweep =
    idleTimeoutMs > 0
      ? setInterval(() => {
          const now = performance.now();
          for (const handler of live) {
            if (now - handler.lastInboundAt > idleTimeoutMs) {
              logger.warn('closing idle call', { callSid: handler.callSid, idleMs: Math.round(now - handler.lastInboundAt) });
              try {
                handler.close(`idle: nothing from Twilio for ${idleTimeoutMs} ms`, 1001);
              } catch (err) {
                logger.error('closing idle call failed', { callSid: handler.callSid, error: err });
              }
            }
          }
        }, Math.max(50, Math.min(5000, idleTimeoutMs / 4)))
      : null;
  idleSweep?.unref();
  const live = new Set<Call>();
  // Finished calls by insertion order, keyed by the handler's serial: only the snapshot is kept,
  // never the handler (and its socket), and the oldest goes first past keepFinished.
  const finished = new Map<number, CallSnapshot>();
  const stats = { rejectedSignatures: 0, rejectedAtCapacity: 0, rejectedCallsRequests: 0 };
  const onFinished = (done: Call): void => {
    if (!live.delete(done)) {
      // A late update for a call already finished: refresh it if it is still kept.
      if (finished.has(done.serial)) finished.set(done.serial, done.snapshot());
      return;
    }
    finished.set(done.serial, done.snapshot());
    if (finished.size > keepFinished) {
      const oldest = finished.keys().next();
      if (!oldest.done) finished.delete(oldest.value);
    }
  };

  const findCall = (callSid: string): CallSnapshot | null => {
    for (const handler of live) if (handler.callSid === callSid) return handler.snapshot();
    let found: CallSnapshot | null = null;
    for (const snapshot of finished.values()) if (snapshot.callSid === callSid) found = snapshot;
    return found;
  };
  const allCalls = (): CallSnapshot[] => [...finished.values(), ...[...live].map((h) => h.snapshot())];

  const server = http.createServer((req, res) => {
    handleHttp(req, res).catch((err: unknown) => {
      logger.error('http handler error', { error: err });
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
    });
  });

  async function handleHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      sendJson(res, 400, { error: 'bad request URL' });
      return;
    }
    const path = url.pathname;
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      sendJson(res, draining ? 503 : 200, { ok: !draining, draining, liveCalls: live.size, model: modelOptions.backend });
      return;
    }
    if ((path === '/twiml' || path === '/incoming-call') && (req.method === 'POST' || req.method === 'GET')) {
      let body = '';
      if (req.method === 'POST') {
        const read = await readBody(req, 64 * 1024);
        if (read === null) {
          res.setHeader('connection', 'close');
          sendJson(res, 413, { error: 'request body too large' });
          return;
        }
        body = read;
      }
      const isForm = (req.headers['content-type'] ?? 'application/x-www-form-urlencoded').startsWith('application/x-www-form-urlencoded');
      const params = req.method === 'POST' && isForm ? formParams(body) : {};
      if (authToken !== '') {
        const signedUrl = requestUrlAsTwilioSaw(req, publicUrl, false);
        if (!validateTwilioSignature(authToken, headerValue(req.headers[TWILIO_SIGNATURE_HEADER]), signedUrl, params, body)) {
          stats.rejectedSignatures += 1;
          logger.warn('request refused: bad Twilio signature', { path, method: req.method, remote: req.socket.remoteAddress, hasSignature: req.headers[TWILIO_SIGNATURE_HEADER] !== undefined });
          sendJson(res, 403, { error: 'invalid Twilio signature' });
          return;
        }
      }
      // ?direction= wins; else Twilio's own Direction form field (inbound / outbound-api / outbound-dial).
      const asked = url.searchParams.get('direction');
      const direction = asked === 'inbound' || asked === 'outbound' ? asked : directionFromTwilio(params.Direction?.[0]);
      const streamUrl = streamUrlFor(req, publicUrl);
      res.writeHead(200, { 'content-type': 'text/xml' }).end(connectStreamTwiml(streamUrl, direction));
      return;
    }
    if (exposeCalls && (path === '/calls' || path.startsWith('/calls/')) && req.method === 'GET') {
      if (callsLocalOnly && !isLoopbackAddress(req.socket.remoteAddress)) {
        stats.rejectedCallsRequests += 1;
        sendJson(res, 403, { error: '/calls is served to localhost only' });
        return;
      }
      if (path === '/calls') {
        sendJson(res, 200, { calls: allCalls() }, secrets);
        return;
      }
      let callSid: string;
      try {
        callSid = decodeURIComponent(path.slice('/calls/'.length));
      } catch {
        sendJson(res, 400, { error: 'bad callSid' });
        return;
      }
      const snapshot = findCall(callSid);
      if (snapshot === null) sendJson(res, 404, { error: 'no such call' });
      else sendJson(res, 200, snapshot, secrets);
      return;
    }
    sendJson(res, 404, { error: `no route for ${req.method ?? '?'} ${path}` });
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  server.on('upgrade', (req, socket, head) => {
    // Node hands an upgraded socket over without an error listener: a peer reset here would
    // otherwise be an uncaught exception that takes every call down.
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '').split('?')[0];
    if (path !== MEDIA_PATH) {
      rejectUpgrade(socket, 404, 'Not Found');
      return;
    }
    if (authToken !== '') {
      const signedUrl = requestUrlAsTwilioSaw(req, publicUrl, true);
      if (!validateTwilioSignature(authToken, headerValue(req.headers[TWILIO_SIGNATURE_HEADER]), signedUrl)) {
        stats.rejectedSignatures += 1;
        logger.warn('call refused: bad Twilio signature', { path, remote: req.socket.remoteAddress, hasSignature: req.headers[TWILIO_SIGNATURE_HEADER] !== undefined });
        rejectUpgrade(socket, 403, 'Forbidden');
        return;
      }
    }
    if (draining) {
      rejectUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    if (live.size >= maxCalls) {
      stats.rejectedAtCapacity += 1;
      logger.warn('call refused: at capacity', { liveCalls: live.size, maxCalls });
      rejectUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    // handleUpgrade completes synchronously here (no verifyClient, no permessage-deflate), so
    // the capacity check above cannot be raced by a burst of upgrades.
    wss.handleUpgrade(req, socket, head, (ws) => {
      const handler = new Call({
        socket: ws,
        modelFactory,
        modelBackend: modelOptions.backend,
        ticker,
        logger,
        config: callConfig,
        onFinished,
      });
      live.add(handler);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | null = null;
  let drainDeadline = 0;
  return {
    port,
    httpUrl: `http://${urlHost}:${port}`,
    wsUrl: `ws://${urlHost}:${port}${MEDIA_PATH}`,
    simulator,
    modelBackend: modelOptions.backend,
    calls: allCalls,
    call: findCall,
    liveCalls: () => live.size,
    stats: () => ({ liveCalls: live.size, finishedCallsKept: finished.size, tickerSubscribers: ticker.size, ...stats }),
    close: (drainMs = 0) => {
      // A second close() can only shorten the drain (a second Ctrl-C: close calls now).
      drainDeadline = closing === null ? Date.now() + drainMs : Math.min(drainDeadline, Date.now() + drainMs);
      closing ??= (async () => {
        // New calls get 503 (and /healthz says so, for load balancers); HTTP keeps answering, so
        // /calls still reports the calls that are finishing.
        draining = true;
        while (live.size > 0 && Date.now() < drainDeadline) await new Promise((resolve) => setTimeout(resolve, 50));
        if (idleSweep !== null) clearInterval(idleSweep);
        for (const handler of [...live]) handler.close('shutdown', 1001);
        wss.close();
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await stopped;
        await simulator?.close();
      })();
      return closing;
    },
  };
}

function streamUrlFor(req: http.IncomingMessage, publicUrl: URL | null): string {
  if (publicUrl) {
    const base = new URL(publicUrl);
    base.protocol = base.protocol === 'http:' ? 'ws:' : 'wss:';
    base.pathname = MEDIA_PATH;
    return base.toString();
  }
  return `wss://${req.headers.host ?? 'localhost'}${MEDIA_PATH}`;
}

function rejectUpgrade(socket: import('node:stream').Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
}

/** `scrub`: the secrets (and key-like strings) to redact; a call record can quote what a peer sent. */
function sendJson(res: http.ServerResponse, status: number, body: unknown, scrub?: readonly string[]): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json' }).end(scrub === undefined ? json : redactSecrets(json, scrub));
}

export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return v4.startsWith('127.') || address === '::1';
}

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

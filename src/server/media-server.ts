// The media server: Twilio Media Streams and the HTTP routes on one port, each call bridged to a
// realtime model. This file starts and stops it and wires the rest together:
//
//   routes.ts       GET /healthz, the TwiML webhook, GET /calls, admission of the /media upgrade
//   registry.ts     sockets awaiting start, live calls, finished snapshots, lookup, pages, the sweep
//   start-admission.ts  whether a start becomes a call: stream token, one per callSid, a free slot
//   stream-token.ts   the per-call token /twiml puts in the <Stream> and the start must carry
//   metrics.ts      GET /metrics (Prometheus, through prom-client)
//   call/           one call: a coordinator around its lifecycle and parts (see call/call.ts)
//   call-snapshot.ts  the JSON contract of GET /calls
//   playout-mark.ts   the published mark-name contract
//
// src/server/ may import audio/, twilio/, the model bridge interface and backend (model/bridge.ts,
// model/backend.ts), log and ticker; never caller/, gate/, report/ or cli/.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { createLogger, silentLogger, type LogFormat, type Logger } from '../log.js';
import type { ModelBackend } from '../model/bridge.js';
import { modelBackendSecret, startModelBackend, type ModelOptions } from '../model/backend.js';
import type { RunningSimulator } from '../model/simulator/simulator.js';
import { SharedTicker } from '../ticker.js';
import { MAX_MESSAGE_BYTES } from '../twilio/codec.js';
import { parsePublicUrl } from '../twilio/signature.js';
import { Call } from './call/call.js';
import { DEFAULT_CALL_CONFIG, type CallConfig } from './call/config.js';
import type { CallSnapshot } from './call-snapshot.js';
import { MIN_CALLS_TOKEN_CHARS } from './calls-token.js';
import { CLOSE_CODE } from './close-code.js';
import { ownHostsOf } from './origin.js';
import { ServerMetrics } from './metrics.js';
import { CallRegistry } from './registry.js';
import { INITIAL_REFUSALS, MEDIA_PATH, httpHandler, upgradeHandler, type RouteContext } from './routes.js';
import { StartAdmission } from './start-admission.js';
import { StreamTokens } from './stream-token.js';

export { MEDIA_PATH } from './routes.js';
export type { ModelOptions } from '../model/backend.js';

export interface MediaServerOptions {
  host?: string;
  port?: number;
  logFormat?: LogFormat;
  /** No log output at all (tests, in-process replay). */
  quiet?: boolean;
  logger?: Logger;
  model?: ModelOptions;
  call?: Partial<CallConfig>;
  /**
   * Public base URL Twilio reaches us at: the TwiML stream URL and the URL signatures are checked
   * against. Without it, a signature is checked against the Host header only when that names
   * this server itself (origin.ts).
   */
  publicUrl?: string;
  /** Behind a proxy: believe its X-Forwarded-Proto (the scheme Twilio used) and X-Forwarded-For (the client). */
  trustProxy?: boolean;
  /** Started calls at most: beyond it an upgrade gets HTTP 503, and a start that finds no slot 1013. */
  maxCalls?: number;
  /** Finished calls kept for GET /calls. */
  keepFinishedCalls?: number;
  /**
   * Close a call when Twilio has sent nothing for this long (it streams media continuously, even
   * silence, so a quiet socket is a dead or half-open peer holding a slot). 0 = never.
   */
  idleTimeoutMs?: number;
  /**
   * Close a socket that sent no valid `start` this long after it was accepted (Twilio sends
   * `connected` and `start` at once). 0 = never.
   */
  startTimeoutMs?: number;
  /** Sockets awaiting their start, at most; beyond it the oldest is closed (1013) for each new one. */
  maxAwaitingStart?: number;
  /** Serve GET /calls at all. */
  exposeCalls?: boolean;
  /** Serve GET /calls only to loopback peers (127.0.0.0/8, ::1); others get 403. */
  callsLocalOnly?: boolean;
  /**
   * GET /calls needs `Authorization: Bearer <this>`. With signatures checked it is needed
   * whether set or not: without one, /calls then answers 401 to everyone.
   */
  callsToken?: string;
  /**
   * Twilio auth token. When set, the /media upgrade and /twiml (/incoming-call) require a valid
   * X-Twilio-Signature; anything else gets 403 before a call exists.
   */
  twilioAuthToken?: string;
  /** Give up on a model connection not ready after this long (then reconnect or end the call). */
  modelConnectTimeoutMs?: number;
}

/** Server-wide counters: what was refused at the door, and what is still held. */
export interface MediaServerStats {
  /** Calls admitted by a valid start and not yet over: what --max-calls counts. */
  liveCalls: number;
  /** Sockets accepted that have not sent a valid start yet. */
  awaitingStart: number;
  /** Sockets the start deadline closed. */
  closedWithoutStart: number;
  finishedCallsKept: number;
  /** Calls with a paced send loop on the shared ticker right now. */
  tickerSubscribers: number;
  rejectedSignatures: number;
  rejectedAtCapacity: number;
  rejectedCallsRequests: number;
  rejectedStreamTokens: number;
  rejectedDuplicateCalls: number;
  evictedBeforeStart: number;
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
  /** Calls admitted by a valid start and not yet over. */
  liveCalls(): number;
  stats(): MediaServerStats;
  /**
   * Stops taking calls at once; lets live calls finish for up to `drainMs` (a deploy's grace
   * period), then ends the rest with 1001, gives their peers a second to answer the close frame,
   * drops the sockets that did not and stops listening. A second call ends the drain and the
   * handshakes at once (the promise is the first call's).
   */
  close(drainMs?: number): Promise<void>;
}

/** Finished sockets that never started are kept apart, at most this many: evidence, not calls. */
const KEEP_FINISHED_UNSTARTED = 100;
const DEFAULTS = Object.freeze({ host: '127.0.0.1', maxCalls: 5000, keepFinishedCalls: 1000, idleTimeoutMs: 60_000, startTimeoutMs: 5000, maxAwaitingStart: 1000 });
/** How often a draining server looks whether its last call has finished. */
const DRAIN_POLL_MS = 50;
/** How long, at shutdown, peers get to answer the close frame before their sockets are dropped. */
const CLOSE_HANDSHAKE_GRACE_MS = 1000;
const HANDSHAKE_POLL_MS = 20;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function startMediaServer(options: MediaServerOptions = {}): Promise<RunningMediaServer> {
  const host = options.host ?? DEFAULTS.host;
  const authToken = options.twilioAuthToken ?? '';
  // Parsed once, here: a bad value fails the start, not the first request that needs it.
  const publicUrl = options.publicUrl === undefined ? null : parsePublicUrl(options.publicUrl);
  const modelOptions: ModelOptions = options.model ?? { backend: 'simulator' };
  // Never echoed: not in a log line (the logger scrubs them) nor in /calls (scrubbed on the way out).
  const callsToken = options.callsToken ?? null;
  if (callsToken !== null && callsToken.length < MIN_CALLS_TOKEN_CHARS) throw new Error(`the /calls token must be at least ${MIN_CALLS_TOKEN_CHARS} characters`);
  const secrets = [authToken, modelBackendSecret(modelOptions), callsToken ?? ''].filter((s) => s.length > 0);
  const logger = options.logger ?? (options.quiet ? silentLogger : createLogger({ format: options.logFormat ?? 'pretty', secrets }));
  const callConfig: CallConfig = { ...DEFAULT_CALL_CONFIG, ...options.call };

  const model = await startModelBackend(modelOptions, options.modelConnectTimeoutMs);
  const ticker = new SharedTicker();
  const refusals = { ...INITIAL_REFUSALS };
  const metrics: ServerMetrics = new ServerMetrics({ liveCalls: () => registry.liveSnapshots(), refusals });
  const keepFinished = options.keepFinishedCalls ?? DEFAULTS.keepFinishedCalls;
  const registry = new CallRegistry({
    keepFinished,
    keepFinishedUnstarted: Math.min(keepFinished, KEEP_FINISHED_UNSTARTED),
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
    startTimeoutMs: options.startTimeoutMs ?? DEFAULTS.startTimeoutMs,
    logger,
    onRetired: metrics.callEnded,
  });
  /** Set by close(): new calls are refused while live ones finish. */
  let draining = false;
  /** Filled once the server listens (the port may be 0 until then). */
  const ownHosts = new Set<string>();
  const maxCalls = options.maxCalls ?? DEFAULTS.maxCalls;
  const tokens = authToken === '' ? null : new StreamTokens(authToken);
  const admission = new StartAdmission({ registry, tokens, maxCalls, refusals, logger });
  const routes: RouteContext = {
    logger,
    authToken,
    publicUrl,
    trustProxy: options.trustProxy ?? false,
    ownHosts,
    secrets,
    callsToken,
    modelBackend: model.backend,
    exposeCalls: options.exposeCalls ?? true,
    callsLocalOnly: options.callsLocalOnly ?? false,
    maxCalls,
    maxAwaitingStart: options.maxAwaitingStart ?? DEFAULTS.maxAwaitingStart,
    tokens,
    registry,
    metrics,
    refusals,
    isDraining: () => draining,
  };

  const server = http.createServer(httpHandler(routes));
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  server.on(
    'upgrade',
    upgradeHandler(routes, wss, (socket) => {
      const call: Call = new Call({
        socket,
        modelFactory: model.bridgeFactory,
        modelBackend: model.backend,
        ticker,
        logger,
        config: callConfig,
        admitStart: (request) => admission.admit(call, request),
        onFinished: registry.finish,
        metrics,
      });
      registry.add(call);
    }),
  );

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => resolve());
    });
  } catch (err) {
    // Nothing may outlive a failed start: the sweep and an embedded simulator go with it.
    registry.stopSweep();
    await model.close();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  for (const name of ownHostsOf(host, port)) ownHosts.add(name);
  if (authToken !== '' && callsToken === null && (options.exposeCalls ?? true)) {
    logger.warn('Twilio signatures are checked and no /calls token is set: GET /calls answers 401 to everyone; set --calls-token to read it');
  }
  if (authToken !== '' && publicUrl === null) {
    logger.warn('Twilio signatures are checked without --public-url: only requests whose Host names this server itself are accepted; behind a proxy or tunnel, set --public-url', { hosts: [...ownHosts] });
  }
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | null = null;
  let drainDeadline = 0;
  /** Set by a second close(): no more waiting for calls to finish or peers to answer. */
  let hurry = false;
  return {
    port,
    httpUrl: `http://${urlHost}:${port}`,
    wsUrl: `ws://${urlHost}:${port}${MEDIA_PATH}`,
    simulator: model.simulator,
    modelBackend: model.backend,
    calls: () => registry.all(),
    call: (callSid) => registry.find(callSid),
    liveCalls: () => registry.startedCount,
    stats: () => ({
      liveCalls: registry.startedCount,
      awaitingStart: registry.awaitingStartCount,
      closedWithoutStart: registry.closedWithoutStart,
      finishedCallsKept: registry.finishedCount,
      tickerSubscribers: ticker.size,
      ...refusals,
    }),
    close: (drainMs = 0) => {
      // A second close() (a second Ctrl-C) ends the drain and the close handshakes at once.
      if (closing !== null) hurry = true;
      drainDeadline = closing === null ? Date.now() + drainMs : Math.min(drainDeadline, Date.now() + drainMs);
      closing ??= (async () => {
        // New calls get 503 (and /healthz says so, for load balancers); HTTP keeps answering, so
        // /calls still reports the calls that are finishing.
        draining = true;
        while (registry.liveCount > 0 && Date.now() < drainDeadline && !hurry) await sleep(DRAIN_POLL_MS);
        registry.stopSweep();
        registry.closeAll('shutdown', CLOSE_CODE.goingAway);
        wss.close();
        // A caller that stopped reading never answers our close frame, and ws would wait 30 s
        // for it: a healthy peer answers within a round trip, the rest are dropped.
        const handshakesBy = Date.now() + CLOSE_HANDSHAKE_GRACE_MS;
        while (wss.clients.size > 0 && Date.now() < handshakesBy && !hurry) await sleep(HANDSHAKE_POLL_MS);
        for (const socket of wss.clients) socket.terminate();
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await stopped;
        await model.close();
      })();
      return closing;
    },
  };
}

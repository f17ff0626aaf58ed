// The media server: Twilio Media Streams and the HTTP routes on one port, each call bridged to a
// realtime model. This file starts and stops it and wires the rest together:
//
//   routes.ts       GET /healthz, the TwiML webhook, GET /calls, admission of the /media upgrade
//   registry.ts     live calls, finished snapshots, lookup, the idle sweep
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
import { CLOSE_CODE } from './close-code.js';
import { ServerMetrics } from './metrics.js';
import { CallRegistry } from './registry.js';
import { INITIAL_REFUSALS, MEDIA_PATH, httpHandler, upgradeHandler, type RouteContext } from './routes.js';

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

const DEFAULTS = Object.freeze({ host: '127.0.0.1', maxCalls: 5000, keepFinishedCalls: 1000, idleTimeoutMs: 60_000 });
/** How often a draining server looks whether its last call has finished. */
const DRAIN_POLL_MS = 50;

export async function startMediaServer(options: MediaServerOptions = {}): Promise<RunningMediaServer> {
  const host = options.host ?? DEFAULTS.host;
  const authToken = options.twilioAuthToken ?? '';
  // Parsed once, here: a bad value fails the start, not the first request that needs it.
  const publicUrl = options.publicUrl === undefined ? null : parsePublicUrl(options.publicUrl);
  const modelOptions: ModelOptions = options.model ?? { backend: 'simulator' };
  // Never echoed: not in a log line (the logger scrubs them) nor in /calls (scrubbed on the way out).
  const secrets = [authToken, modelBackendSecret(modelOptions)].filter((s) => s.length > 0);
  const logger = options.logger ?? (options.quiet ? silentLogger : createLogger({ format: options.logFormat ?? 'pretty', secrets }));
  const callConfig: CallConfig = { ...DEFAULT_CALL_CONFIG, ...options.call };

  const model = await startModelBackend(modelOptions, options.modelConnectTimeoutMs);
  const ticker = new SharedTicker();
  const refusals = { ...INITIAL_REFUSALS };
  const metrics: ServerMetrics = new ServerMetrics({ liveCalls: () => registry.liveSnapshots(), refusals });
  const registry = new CallRegistry({ keepFinished: options.keepFinishedCalls ?? DEFAULTS.keepFinishedCalls, idleTimeoutMs: options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs, logger, onRetired: metrics.callEnded });
  /** Set by close(): new calls are refused while live ones finish. */
  let draining = false;
  const routes: RouteContext = {
    logger,
    authToken,
    publicUrl,
    secrets,
    modelBackend: model.backend,
    exposeCalls: options.exposeCalls ?? true,
    callsLocalOnly: options.callsLocalOnly ?? false,
    maxCalls: options.maxCalls ?? DEFAULTS.maxCalls,
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
      registry.add(new Call({ socket, modelFactory: model.bridgeFactory, modelBackend: model.backend, ticker, logger, config: callConfig, onFinished: registry.finish, metrics }));
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
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | null = null;
  let drainDeadline = 0;
  return {
    port,
    httpUrl: `http://${urlHost}:${port}`,
    wsUrl: `ws://${urlHost}:${port}${MEDIA_PATH}`,
    simulator: model.simulator,
    modelBackend: model.backend,
    calls: () => registry.all(),
    call: (callSid) => registry.find(callSid),
    liveCalls: () => registry.liveCount,
    stats: () => ({ liveCalls: registry.liveCount, finishedCallsKept: registry.finishedCount, tickerSubscribers: ticker.size, ...refusals }),
    close: (drainMs = 0) => {
      // A second close() can only shorten the drain (a second Ctrl-C: close calls now).
      drainDeadline = closing === null ? Date.now() + drainMs : Math.min(drainDeadline, Date.now() + drainMs);
      closing ??= (async () => {
        // New calls get 503 (and /healthz says so, for load balancers); HTTP keeps answering, so
        // /calls still reports the calls that are finishing.
        draining = true;
        while (registry.liveCount > 0 && Date.now() < drainDeadline) await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
        registry.stopSweep();
        registry.closeAll('shutdown', CLOSE_CODE.goingAway);
        wss.close();
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await stopped;
        await model.close();
      })();
      return closing;
    },
  };
}

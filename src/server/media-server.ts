// The media server: HTTP routes and the Media Streams WebSocket on one port, the registry of
// calls, and shutdown. Each WebSocket gets its own CallHandler; this module only routes.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { createLogger, silentLogger, type LogFormat, type Logger } from '../log.js';
import type { ModelBackend, ModelBridgeFactory } from '../model/bridge.js';
import { DEFAULT_OPENAI_BASE_URL, DEFAULT_REALTIME_MODEL, createRealtimeBridgeFactory } from '../model/realtime-bridge.js';
import { startRealtimeSimulator, type RealtimeSimulatorOptions, type RunningSimulator } from '../model/simulator.js';
import { SharedTicker } from '../ticker.js';
import { MAX_MESSAGE_BYTES } from '../twilio/protocol.js';
import { connectStreamTwiml, directionFromTwilio } from '../twilio/twiml.js';
import { CallHandler, DEFAULT_CALL_CONFIG, type CallConfig } from './call-handler.js';
import type { CallSnapshot } from './call-snapshot.js';

export type ModelOptions =
  | { backend: 'simulator'; simulator?: RealtimeSimulatorOptions }
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
  /** Serve GET /calls at all. */
  exposeCalls?: boolean;
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
  /** Ends every call cleanly, then stops listening. */
  close(): Promise<void>;
}

export const MEDIA_PATH = '/media';

export async function startMediaServer(options: MediaServerOptions = {}): Promise<RunningMediaServer> {
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? (options.quiet ? silentLogger : createLogger({ format: options.logFormat ?? 'pretty' }));
  const callConfig: CallConfig = { ...DEFAULT_CALL_CONFIG, ...options.call };
  const maxCalls = options.maxCalls ?? 5000;
  const keepFinished = options.keepFinishedCalls ?? 1000;
  const exposeCalls = options.exposeCalls ?? true;
  const modelOptions: ModelOptions = options.model ?? { backend: 'simulator' };

  let simulator: RunningSimulator | null = null;
  let modelFactory: ModelBridgeFactory;
  if (modelOptions.backend === 'simulator') {
    simulator = await startRealtimeSimulator({ host: '127.0.0.1', ...modelOptions.simulator });
    modelFactory = createRealtimeBridgeFactory({
      apiKey: 'callsim-simulator',
      baseURL: simulator.baseURL,
      model: 'callsim-simulator',
      plainTransport: true,
    });
  } else {
    modelFactory = createRealtimeBridgeFactory({
      apiKey: modelOptions.apiKey,
      baseURL: modelOptions.baseURL ?? DEFAULT_OPENAI_BASE_URL,
      model: modelOptions.model ?? DEFAULT_REALTIME_MODEL,
      plainTransport: false,
    });
  }

  const ticker = new SharedTicker();
  const live = new Set<CallHandler>();
  // Finished calls by insertion order; a Map keeps lookups by callSid cheap and eviction simple.
  const finished = new Map<CallHandler, CallSnapshot>();

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
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      sendJson(res, 200, { ok: true, liveCalls: live.size, model: modelOptions.backend });
      return;
    }
    if ((path === '/twiml' || path === '/incoming-call') && (req.method === 'POST' || req.method === 'GET')) {
      const body = req.method === 'POST' ? await readBody(req, 64 * 1024) : '';
      const form = new URLSearchParams(body);
      const direction = url.searchParams.get('direction') === 'outbound' || url.searchParams.get('direction') === 'inbound'
        ? (url.searchParams.get('direction') as 'inbound' | 'outbound')
        : directionFromTwilio(form.get('Direction'));
      const streamUrl = streamUrlFor(req, options.publicUrl);
      res.writeHead(200, { 'content-type': 'text/xml' }).end(connectStreamTwiml(streamUrl, direction));
      return;
    }
    if (exposeCalls && path === '/calls' && req.method === 'GET') {
      sendJson(res, 200, { calls: allCalls() });
      return;
    }
    if (exposeCalls && path.startsWith('/calls/') && req.method === 'GET') {
      const snapshot = findCall(decodeURIComponent(path.slice('/calls/'.length)));
      if (snapshot === null) sendJson(res, 404, { error: 'no such call' });
      else sendJson(res, 200, snapshot);
      return;
    }
    sendJson(res, 404, { error: `no route for ${req.method ?? '?'} ${path}` });
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== MEDIA_PATH) {
      rejectUpgrade(socket, 404, 'Not Found');
      return;
    }
    if (live.size >= maxCalls) {
      logger.warn('call refused: at capacity', { liveCalls: live.size, maxCalls });
      rejectUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const handler = new CallHandler({
        socket: ws,
        modelFactory,
        modelBackend: modelOptions.backend,
        ticker,
        logger,
        config: callConfig,
        onFinished: (done) => {
          live.delete(done);
          finished.set(done, done.snapshot());
          if (finished.size > keepFinished) {
            const oldest = finished.keys().next();
            if (!oldest.done) finished.delete(oldest.value);
          }
        },
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
  return {
    port,
    httpUrl: `http://${urlHost}:${port}`,
    wsUrl: `ws://${urlHost}:${port}${MEDIA_PATH}`,
    simulator,
    modelBackend: modelOptions.backend,
    calls: allCalls,
    call: findCall,
    liveCalls: () => live.size,
    close: () => {
      closing ??= (async () => {
        for (const handler of [...live]) handler.close('shutdown', 1001);
        wss.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await simulator?.close();
      })();
      return closing;
    },
  };
}

function streamUrlFor(req: http.IncomingMessage, publicUrl: string | undefined): string {
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

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

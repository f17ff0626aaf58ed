// The realtime model simulator: a stand-in for the OpenAI Realtime API (GA) that unmodified
// agents can use, so `callsim serve` and any team's agent run with no key and no network. This
// folder holds it, one concern a file: server.ts (listeners and routes), handshake.ts (auth,
// model, beta checks), tls.ts (its certificate), session.ts (one session's dispatch), input.ts
// and vad.ts (the input buffer and turn detection), conversation.ts and items.ts (the
// conversation), responses.ts and response.ts (what the model says), config.ts (session
// config), errors.ts (the real API's errors), script.ts (the model script), transcripts.ts
// (recognising fixture clips), record.ts (the session record), faults.ts. It may import
// src/audio/, src/text/ and src/ticker.ts; nothing outside src/model/ imports its files but this one.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { createInProcessPipe } from '../in-process-pipe.js';
import { SharedTicker } from '../../ticker.js';
import type { SimulatorFaults } from './faults.js';
import type { SimulatorSessionRecord } from './record.js';
import type { LoadedModelScript } from './script.js';
import { REALTIME_PATH, SESSIONS_PATH, SessionRegistry, requestHandler, upgradeHandler, type ServerContext } from './server.js';
import { acquireTlsIdentity, releaseTlsIdentity } from './tls.js';
import { TranscriptIndex } from './transcripts.js';

export type { SimulatorFaults } from './faults.js';
export type { SimulatorSessionRecord, ConfigRecord, AudioInRecord, CommitRecord, ResponseRecord, TruncationRecord, ItemRecord, ErrorRecord, ClosedBy, SessionTransport } from './record.js';
export { loadModelScript, parseModelScript, modelScriptJsonSchema, modelScriptSchema, ModelScriptError, LoadedModelScript } from './script.js';
export type { ModelScript, ScriptTurn, ScriptFault } from './script.js';
export { TranscriptIndex, UNRECOGNISED_TRANSCRIPT } from './transcripts.js';
export { REALTIME_PATH, SESSIONS_PATH } from './server.js';

/** The record of one session; the name the first version of the simulator gave its stats. */
export type SimulatorSessionStats = SimulatorSessionRecord;

export interface RealtimeSimulatorOptions {
  host?: string;
  /** Plain HTTP/ws port (0 picks a free one). */
  port?: number;
  /** TLS port (0 picks a free one); `tls: false` serves no TLS. */
  tlsPort?: number;
  tls?: boolean;
  /** Length of each spoken answer without a script (or a script turn that sets none). */
  answerMs?: number;
  /** Audio per `response.output_audio.delta`. */
  deltaMs?: number;
  /** How much faster than real time answers are streamed (the real API bursts ahead too). */
  streamSpeed?: number;
  /** RMS (0..1) that server_vad's default threshold (0.5) maps to. */
  vadThreshold?: number;
  faults?: SimulatorFaults;
  /** What the model does, turn by turn (see script.ts / schemas/model-script.schema.json). */
  script?: LoadedModelScript;
  /** Recognises fixture clips in caller audio for input transcription (see transcripts.ts). */
  transcripts?: TranscriptIndex | string;
  /** Require this API key (default: any non-empty key, as a stand-in cannot check real ones). */
  apiKey?: string;
  /** Which model names connect (default: the realtime families, gpt-realtime*, gpt-4o-realtime*, gpt-audio*, and callsim-simulator). */
  acceptModel?: (model: string) => boolean;
  /** Finished sessions kept for sessions() (default 2000); the oldest go first. */
  keepFinishedSessions?: number;
  /** Sees every appended audio chunk (decoded), e.g. for a benchmark's latency probe. */
  onAppend?: (callSid: string | null, audio: Buffer) => void;
}

export interface RunningSimulator {
  /** The plain port. */
  port: number;
  /** The TLS port, or null without TLS. */
  tlsPort: number | null;
  /** The plain base URL to give an `openai` SDK client (http://HOST:PORT/v1; its realtime client adds /realtime). */
  baseURL: string;
  /** The TLS base URL (https://HOST:PORT/v1): what OPENAI_BASE_URL is set to for an unmodified agent. */
  tlsBaseURL: string | null;
  /** ws://HOST:PORT/v1/realtime */
  realtimeURL: string;
  /** wss://HOST:PORT/v1/realtime */
  tlsRealtimeURL: string | null;
  /** The CA certificate (PEM file) that signs the TLS certificate: NODE_EXTRA_CA_CERTS / SSL_CERT_FILE. */
  caPath: string | null;
  /** GET it for every session record as JSON. */
  sessionsURL: string;
  sessions(): SimulatorSessionRecord[];
  sessionsFor(callSid: string): SimulatorSessionRecord[];
  /** A new in-process connection to this simulator, as if accepted on its port. */
  connect(): Duplex;
  close(): Promise<void>;
}

const DEFAULT_KEEP_FINISHED_SESSIONS = 2000;

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export async function startRealtimeSimulator(options: RealtimeSimulatorOptions = {}): Promise<RunningSimulator> {
  const host = options.host ?? '127.0.0.1';
  const faults = options.faults ?? {};
  const transcripts = typeof options.transcripts === 'string' ? TranscriptIndex.load(options.transcripts) : (options.transcripts ?? null);
  const context: ServerContext = {
    registry: new SessionRegistry(options.keepFinishedSessions ?? DEFAULT_KEEP_FINISHED_SESSIONS),
    faults,
    handshake: { ...(options.apiKey !== undefined ? { apiKey: options.apiKey } : {}), ...(options.acceptModel ? { acceptModel: options.acceptModel } : {}) },
    inProcess: new WeakSet(),
    settings: {
      ticker: new SharedTicker(),
      faults,
      vadBaseRms: options.vadThreshold ?? 0.02,
      transcripts,
      onAppend: options.onAppend ?? null,
      answerMs: options.answerMs ?? 1200,
      deltaMs: options.deltaMs ?? 100,
      streamSpeed: options.streamSpeed ?? 2,
      lateDeltasAfterCancel: faults.lateDeltasAfterCancel ?? 0,
      script: options.script ?? null,
    },
  };
  const plain = http.createServer(requestHandler(context));
  plain.on('upgrade', upgradeHandler(context, 'ws'));
  const port = await listen(plain, options.port ?? 0, host);
  let secure: https.Server | null = null;
  let tlsPort: number | null = null;
  let caPath: string | null = null;
  if (options.tls !== false) {
    const identity = await acquireTlsIdentity();
    secure = https.createServer({ key: identity.key, cert: identity.cert }, requestHandler(context));
    secure.on('upgrade', upgradeHandler(context, 'wss'));
    secure.on('tlsClientError', () => undefined);
    tlsPort = await listen(secure, options.tlsPort ?? 0, host);
    caPath = identity.caPath;
  }
  const h = urlHost(host);
  const sessions = (): SimulatorSessionRecord[] => context.registry.all();
  const closeServer = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));
  return {
    port,
    tlsPort,
    baseURL: `http://${h}:${port}/v1`,
    tlsBaseURL: tlsPort === null ? null : `https://${h}:${tlsPort}/v1`,
    realtimeURL: `ws://${h}:${port}${REALTIME_PATH}`,
    tlsRealtimeURL: tlsPort === null ? null : `wss://${h}:${tlsPort}${REALTIME_PATH}`,
    caPath,
    sessionsURL: `http://${h}:${port}${SESSIONS_PATH}`,
    sessions,
    sessionsFor: (callSid) => sessions().filter((s) => s.callSid === callSid),
    connect: () => {
      const [client, accepted] = createInProcessPipe();
      context.inProcess.add(accepted);
      // An http server takes any Duplex as a connection this way (Node's documented injection).
      plain.emit('connection', accepted);
      return client;
    },
    close: async () => {
      for (const session of [...context.registry.liveSessions()]) session.terminate('shutdown');
      plain.closeAllConnections();
      secure?.closeAllConnections();
      await Promise.all([closeServer(plain), ...(secure ? [closeServer(secure)] : [])]);
      if (secure) releaseTlsIdentity();
    },
  };
}

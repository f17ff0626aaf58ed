// Which model a server's calls talk to: the embedded realtime simulator (started here, reached
// in-process), a simulator already running elsewhere (over TCP), or the OpenAI Realtime API
// (over TLS). All three are the same bridge, the openai SDK's realtime client; only where it
// connects differs.
import type { ModelBackend, ModelBridgeFactory } from './bridge.js';
import { DEFAULT_OPENAI_BASE_URL, DEFAULT_REALTIME_MODEL, createRealtimeBridgeFactory } from './openai-bridge.js';
import { startRealtimeSimulator, type RealtimeSimulatorOptions, type RunningSimulator } from './simulator/simulator.js';

export type ModelOptions =
  /** The embedded simulator, started in-process; or, with `url`, one already running elsewhere. */
  | { backend: 'simulator'; simulator?: RealtimeSimulatorOptions; url?: string }
  | { backend: 'openai'; apiKey: string; model?: string; baseURL?: string };

/** The simulator takes any key and any model name; these say in its logs who connected. */
const SIMULATOR_API_KEY = 'callsim-simulator';
const SIMULATOR_MODEL = 'callsim-simulator';
/** The embedded simulator listens on loopback only. */
const EMBEDDED_SIMULATOR_HOST = '127.0.0.1';

export interface RunningModelBackend {
  backend: ModelBackend;
  /** One bridge per call, from one SDK client per process. */
  bridgeFactory: ModelBridgeFactory;
  /** The embedded simulator, when this backend started one. */
  simulator: RunningSimulator | null;
  /** Stops what this backend started (the embedded simulator). */
  close(): Promise<void>;
}

/** The secret a backend is configured with (an API key), to keep out of every log line and /calls. */
export function modelBackendSecret(options: ModelOptions): string {
  return options.backend === 'openai' ? options.apiKey : '';
}

/** `connectTimeoutMs`: a session not ready after this long counts as a failed connection. */
export async function startModelBackend(options: ModelOptions, connectTimeoutMs?: number): Promise<RunningModelBackend> {
  const timeout = connectTimeoutMs !== undefined ? { connectTimeoutMs } : {};
  if (options.backend === 'openai') {
    const bridgeFactory = createRealtimeBridgeFactory({
      apiKey: options.apiKey,
      baseURL: options.baseURL ?? DEFAULT_OPENAI_BASE_URL,
      model: options.model ?? DEFAULT_REALTIME_MODEL,
      transport: 'tls',
      ...timeout,
    });
    return { backend: 'openai', bridgeFactory, simulator: null, close: async () => {} };
  }
  // Reached in-process, so it needs no TLS port (nor the certificate made for one).
  const simulator = options.url === undefined ? await startRealtimeSimulator({ host: EMBEDDED_SIMULATOR_HOST, tls: false, ...options.simulator }) : null;
  const bridgeFactory = createRealtimeBridgeFactory({
    apiKey: SIMULATOR_API_KEY,
    baseURL: simulator?.baseURL ?? options.url ?? '',
    model: SIMULATOR_MODEL,
    // The embedded simulator is reached in-process: no kernel round trip per frame.
    transport: simulator !== null ? () => simulator.connect() : 'tcp',
    ...timeout,
  });
  return { backend: 'simulator', bridgeFactory, simulator, close: async () => {
    await simulator?.close();
  } };
}

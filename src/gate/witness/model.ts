// The model the gate hands a server command: a realtime simulator of its own (plain ws and TLS,
// its CA in a temp .pem), named in the command's environment the way an unmodified agent reads
// it, and in `{…}` placeholders for a command line that takes it as a flag. Its session records
// are the witness's source.
import { startRealtimeSimulator, type LoadedModelScript, type RunningSimulator } from '../../model/simulator/simulator.js';
import { localSource, type SessionSource } from './source.js';

/** The key a server command is given: any non-empty key opens a session at the simulator. */
export const GATE_API_KEY = 'sk-callsim-gate-dummy';

/** What the gate gives the server: these variables, and these placeholders in its command. */
export interface ModelHandover {
  env: Record<string, string>;
  placeholders: Record<string, string>;
}

export interface GateModel {
  simulator: RunningSimulator;
  handover: ModelHandover;
  source: SessionSource;
  close(): Promise<void>;
}

export interface GateModelOptions {
  script?: LoadedModelScript;
  /** Finished sessions kept for reading (the gate judges each call as it ends). */
  keepFinishedSessions?: number;
}

/** The environment and placeholders for a simulator (issue 13's list, and nothing else). */
export function modelHandover(simulator: RunningSimulator): ModelHandover {
  if (simulator.tlsBaseURL === null || simulator.tlsRealtimeURL === null || simulator.caPath === null) throw new Error('the gate hands a server a simulator with TLS');
  return {
    env: {
      OPENAI_BASE_URL: simulator.tlsBaseURL,
      OPENAI_API_KEY: GATE_API_KEY,
      CALLSIM_REALTIME_URL: simulator.realtimeURL,
      CALLSIM_REALTIME_WSS_URL: simulator.tlsRealtimeURL,
      NODE_EXTRA_CA_CERTS: simulator.caPath,
      SSL_CERT_FILE: simulator.caPath,
    },
    placeholders: {
      '{realtimeUrl}': simulator.realtimeURL,
      '{realtimeWssUrl}': simulator.tlsRealtimeURL,
      '{openaiBaseUrl}': simulator.tlsBaseURL,
      '{caFile}': simulator.caPath,
    },
  };
}

/** `command` with every placeholder of the handover filled in. */
export function fillPlaceholders(command: string, handover: ModelHandover): string {
  let filled = command;
  for (const [placeholder, value] of Object.entries(handover.placeholders)) filled = filled.replaceAll(placeholder, value);
  return filled;
}

export async function startGateModel(options: GateModelOptions = {}): Promise<GateModel> {
  const simulator = await startRealtimeSimulator({
    host: '127.0.0.1',
    port: 0,
    tlsPort: 0,
    ...(options.script !== undefined ? { script: options.script } : {}),
    ...(options.keepFinishedSessions !== undefined ? { keepFinishedSessions: options.keepFinishedSessions } : {}),
  });
  return { simulator, handover: modelHandover(simulator), source: localSource(simulator, "the gate's simulator"), close: () => simulator.close() };
}

// The witness of one gate run, by target: the built-in server is watched through its embedded
// simulator; a server command is handed the gate's own simulator (environment and placeholders)
// and watched through it; a --url server through the `callsim simulator` it was pointed at
// (--simulator-url), else not at all, and every model-side check says why.
import type { LoadedModelScript } from '../../model/simulator/simulator.js';
import { TargetError, type GateTarget, type TargetSpec } from '../target.js';
import { fillPlaceholders, startGateModel, type GateModel } from './model.js';
import type { FirstSpeakerExpectation } from './session-checks.js';
import { localSource, remoteSource, SessionSourceError, type SessionSource } from './source.js';
import { ModelWitness } from './witness.js';

export interface GateWitnessOptions {
  /** A --url server's model: the `callsim simulator` it uses (its baseURL, or its sessions URL). */
  simulatorUrl?: string;
  /** Hand a server command the gate's simulator (default true); false: its model leg is not seen. */
  simulator?: boolean;
  /** How long after the caller's stream ends a model session may stay open (default 2000 ms). */
  closeBoundMs?: number;
  expectFirstSpeaker?: FirstSpeakerExpectation;
  /** The model script of the gate's simulator. */
  script?: LoadedModelScript;
}

export const NO_WITNESS_FOR_URL = 'no model leg seen: a --url server is watched only through a callsim simulator it uses (--simulator-url)';
const NO_SIMULATOR = 'no model leg seen: --no-simulator, the server command was not handed the gate\'s simulator';

export interface RunWitness {
  /** The target as it is started: a server command with its model in its environment. */
  spec: TargetSpec;
  /** Built once the target runs (the built-in server's simulator exists only then). */
  witnessFor(target: GateTarget): ModelWitness;
  close(): Promise<void>;
}

function settingsOf(options: GateWitnessOptions): { closeBoundMs?: number; expectFirstSpeaker?: FirstSpeakerExpectation } {
  return {
    ...(options.closeBoundMs !== undefined ? { closeBoundMs: options.closeBoundMs } : {}),
    ...(options.expectFirstSpeaker !== undefined ? { expectFirstSpeaker: options.expectFirstSpeaker } : {}),
  };
}

/** Starts what the run's witness needs (the gate's simulator for a server command). */
export async function prepareWitness(spec: TargetSpec, options: GateWitnessOptions, cells: number): Promise<RunWitness> {
  const settings = settingsOf(options);
  if (spec.kind === 'command' && options.simulator !== false) {
    const model: GateModel = await startGateModel({
      keepFinishedSessions: Math.max(2000, cells * 4),
      ...(options.script !== undefined ? { script: options.script } : {}),
    });
    return {
      spec: { ...spec, command: fillPlaceholders(spec.command, model.handover), env: { ...spec.env, ...model.handover.env } },
      witnessFor: () => new ModelWitness({ source: model.source, ...settings }),
      close: () => model.close(),
    };
  }
  let source: SessionSource | null = null;
  let blindReason = spec.kind === 'command' ? NO_SIMULATOR : NO_WITNESS_FOR_URL;
  if (spec.kind === 'url' && options.simulatorUrl !== undefined) {
    // Read once before any call: a wrong URL is said now, not as a skip on every call.
    try {
      source = remoteSource(options.simulatorUrl);
      await source.read(Date.now());
    } catch (err) {
      if (err instanceof SessionSourceError) throw new TargetError(`--simulator-url: ${err.message}`);
      throw err;
    }
  }
  return {
    spec,
    witnessFor: (target) => {
      if (spec.kind === 'builtin') {
        if (target.simulator) source = localSource(target.simulator, "the built-in server's embedded simulator");
        else blindReason = "no model leg seen: the built-in server's model is not its embedded simulator";
      }
      return new ModelWitness({ source, blindReason, ...settings });
    },
    close: async () => {},
  };
}

// Reading a scenario file: YAML (or JSON) through the `yaml` package with its positions, checked
// against the zod schema (schema.ts) step by step, so each problem names the file, line and
// column and the step kind it is; then the clips decoded (a missing or broken WAV fails the load,
// not a call) and the steps resolved into what the scripted caller runs (ScenarioStep). All of
// it happens before any socket opens.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { mulawRms } from '../audio/g711.js';
import { loadWavAsMulawFrames, WavInputError, type MulawAudio } from '../audio/wav.js';
import type { CallDirection } from '../twilio/codec.js';
import { yamlKeyPosition, yamlPosition } from '../text/yaml-position.js';
import { STEP_KINDS, scenarioSchema, type StepExpectations, type StepKind } from './schema.js';

/** A 20 ms frame louder than this (RMS, 0..1: about -40 dBFS) holds the caller's voice. */
export const VOICED_RMS = 0.01;
const DEFAULT_OVER_AGENT_TIMEOUT_MS = 10_000;
const DEFAULT_AUDIO_TIMEOUT_MS = 10_000;
const DEFAULT_SILENCE_TIMEOUT_MS = 30_000;
const DEFAULT_QUIET_MS = 800;

export class ScenarioError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid scenario ${file}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ScenarioError';
  }
}

/** A clip the caller says: its frames, and which of them hold the voice. */
export interface Clip {
  /** As the scenario names it. */
  name: string;
  path: string;
  audio: MulawAudio;
  /** Indices of the first and last voiced frame (the clip's words, without its lead-in and tail). */
  firstVoiced: number;
  lastVoiced: number;
}

interface StepBase {
  /** 1-based, as people count the steps of the file. */
  number: number;
  /** How the step reads in a report: "say question.wav". */
  label: string;
  expect: StepExpectations;
  /** Runs only on calls of this direction; null: on every call. */
  direction: CallDirection | null;
}

export type ScenarioStep = StepBase &
  (
    | {
        kind: 'say';
        clip: Clip;
        /** Over the agent: wait until it has talked `afterMs`; null: say it at once. */
        overAgent: { afterMs: number; timeoutMs: number } | null;
        backchannel: boolean;
      }
    | { kind: 'wait'; ms: number }
    | { kind: 'wait_for'; what: 'agent_audio' | 'agent_silence'; timeoutMs: number; quietMs: number }
    | { kind: 'dtmf'; digits: string }
    | { kind: 'hangup' }
  );

export interface LoadedScenario {
  name: string;
  description: string | null;
  file: string;
  steps: ScenarioStep[];
  /** SHA-256 of the file's text and every clip's bytes: two runs compare only if this matches. */
  contentHash: string;
  /** The caller's audio and waits, ms: a lower bound of the call's length. */
  scriptedMs: number;
}

type RawStep = Record<string, unknown> | string;

function stepKindOf(raw: unknown): StepKind | string {
  if (raw === 'hangup') return 'hangup';
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return `a step is a mapping (or the word hangup), not ${JSON.stringify(raw)}`;
  const kinds = Object.keys(raw).filter((key): key is StepKind => Object.hasOwn(STEP_KINDS, key));
  if (kinds.length === 1) return kinds[0]!;
  const known = Object.keys(STEP_KINDS).join(', ');
  return kinds.length === 0 ? `a step says what the caller does: one of ${known}` : `a step does one thing: it has both ${kinds.join(' and ')}`;
}

function voicedSpan(audio: MulawAudio): { first: number; last: number } | null {
  let first = -1;
  let last = -1;
  audio.frames.forEach((frame, i) => {
    if (mulawRms(frame) < VOICED_RMS) return;
    if (first < 0) first = i;
    last = i;
  });
  return first < 0 ? null : { first, last };
}

class ScenarioReader {
  readonly problems: string[] = [];
  private readonly clips = new Map<string, Clip>();
  private readonly baseDir: string;

  constructor(
    private readonly file: string,
    private readonly doc: Document,
    private readonly counter: LineCounter,
  ) {
    this.baseDir = dirname(resolve(file));
  }

  /** `atKey`: the problem is the last key itself (unknown), not its value. */
  problem(path: ReadonlyArray<PropertyKey>, message: string, atKey = false): void {
    const where = atKey && path.length > 0 ? yamlKeyPosition(this.doc, this.counter, path.slice(0, -1), String(path.at(-1))) : yamlPosition(this.doc, this.counter, path);
    this.problems.push(`${this.file}:${where}: ${path.map(String).join('.') || '(root)'}: ${message}`);
  }

  zodProblems(prefix: ReadonlyArray<PropertyKey>, issues: readonly z.core.$ZodIssue[]): void {
    for (const issue of issues) {
      const path = [...prefix, ...issue.path];
      if (issue.code === 'unrecognized_keys') this.problem([...path, issue.keys[0]!], `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`, true);
      else this.problem(path, issue.message);
    }
  }

  step(raw: RawStep, index: number): ScenarioStep | null {
    const path = ['steps', index];
    const kind = stepKindOf(raw);
    if (!Object.hasOwn(STEP_KINDS, kind)) {
      this.problem(path, kind);
      return null;
    }
    const checked = STEP_KINDS[kind as StepKind].safeParse(raw);
    if (!checked.success) {
      this.zodProblems(path, checked.error.issues);
      return null;
    }
    const step = checked.data as Record<string, unknown>;
    const base = { number: index + 1, expect: (step.expect ?? {}) as StepExpectations, direction: (step.direction ?? null) as CallDirection | null };
    const over = kind === 'backchannel' || step.while_agent_speaks === true;
    this.checkExpectations(path, kind as StepKind, over, base.expect);
    switch (kind as StepKind) {
      case 'say':
      case 'backchannel': {
        const name = String(step.say ?? step.backchannel);
        if (!over && (step.after_ms !== undefined || step.timeout_ms !== undefined)) this.problem([...path, step.after_ms !== undefined ? 'after_ms' : 'timeout_ms'], 'talking over the agent needs while_agent_speaks: true');
        const clip = this.clip(name, [...path, kind]);
        if (clip === null) return null;
        const overAgent = over ? { afterMs: Number(step.after_ms ?? 0), timeoutMs: Number(step.timeout_ms ?? DEFAULT_OVER_AGENT_TIMEOUT_MS) } : null;
        const said = basename(name);
        const label = kind === 'backchannel' ? `backchannel ${said}` : over ? `say ${said} over the agent` : `say ${said}`;
        return { ...base, kind: 'say', label, clip, overAgent, backchannel: kind === 'backchannel' };
      }
      case 'wait':
        return { ...base, kind: 'wait', label: `wait ${String(step.wait)} s`, ms: Math.round(Number(step.wait) * 1000) };
      case 'wait_for': {
        const what = step.wait_for as 'agent_audio' | 'agent_silence';
        if (what === 'agent_audio' && step.quiet_ms !== undefined) this.problem([...path, 'quiet_ms'], 'quiet_ms goes with wait_for: agent_silence');
        const timeoutMs = Number(step.timeout_ms ?? (what === 'agent_audio' ? DEFAULT_AUDIO_TIMEOUT_MS : DEFAULT_SILENCE_TIMEOUT_MS));
        return { ...base, kind: 'wait_for', label: `wait for ${what.replace('_', ' ')}`, what, timeoutMs, quietMs: Number(step.quiet_ms ?? DEFAULT_QUIET_MS) };
      }
      case 'dtmf':
        return { ...base, kind: 'dtmf', label: `dtmf ${String(step.dtmf)}`, digits: String(step.dtmf) };
      case 'hangup':
        return { ...base, kind: 'hangup', label: 'hang up' };
    }
  }

  /** Each expectation only where it can be judged. */
  private checkExpectations(path: ReadonlyArray<PropertyKey>, kind: StepKind, over: boolean, expect: StepExpectations): void {
    const at = (key: string): PropertyKey[] => [...path, 'expect', key];
    if (kind === 'hangup' && Object.keys(expect).length > 0) this.problem(at(Object.keys(expect)[0]!), 'nothing can be expected of the agent after the caller has hung up');
    if (expect.clear_within_ms !== undefined && !(kind === 'say' && over)) this.problem(at('clear_within_ms'), 'clear_within_ms needs the caller to talk over the agent: say with while_agent_speaks: true');
    if (expect.agent_keeps_talking !== undefined && !over) this.problem(at('agent_keeps_talking'), 'agent_keeps_talking goes with a backchannel (or a say with while_agent_speaks: true)');
    if (expect.agent_keeps_talking !== undefined && expect.clear_within_ms !== undefined) this.problem(at('agent_keeps_talking'), 'a step cannot expect the agent both to keep talking and to stop');
    if (expect.agent_audio_within_ms !== undefined && kind === 'wait_for') this.problem(at('agent_audio_within_ms'), 'wait_for has its own timeout_ms; agent_audio_within_ms goes with say, dtmf or wait');
  }

  private clip(name: string, path: ReadonlyArray<PropertyKey>): Clip | null {
    const file = resolve(this.baseDir, name);
    const known = this.clips.get(file);
    if (known !== undefined) return known;
    let audio: MulawAudio;
    try {
      audio = loadWavAsMulawFrames(file);
    } catch (err) {
      this.problem(path, err instanceof WavInputError ? `${name}: ${err.problem}` : String(err));
      return null;
    }
    const span = voicedSpan(audio);
    if (span === null) {
      this.problem(path, `${name}: the clip is silent (no 20 ms frame above ${VOICED_RMS} RMS): the caller would say nothing`);
      return null;
    }
    const clip: Clip = { name, path: file, audio, firstVoiced: span.first, lastVoiced: span.last };
    this.clips.set(file, clip);
    return clip;
  }

  contentHash(text: string): string {
    const hash = createHash('sha256').update(text);
    for (const path of [...this.clips.keys()].sort()) hash.update(`\0${path.slice(this.baseDir.length)}\0`).update(readFileSync(path));
    return hash.digest('hex');
  }
}

/** Parses and validates a scenario's text (YAML or JSON); every problem carries `file:line:col`. */
export function parseScenario(text: string, file: string): LoadedScenario {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ScenarioError(file, doc.errors.map((e) => `${file}:${e.linePos?.[0].line ?? 1}:${e.linePos?.[0].col ?? 1}: ${e.message.split('\n')[0]}`));
  }
  const value: unknown = doc.toJS();
  const reader = new ScenarioReader(file, doc, counter);
  // The envelope first (name, description); each step is then read as the kind its key says.
  const top = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  if (top === null) throw new ScenarioError(file, [`${file}:1:1: a scenario is a mapping with a name and a list of steps`]);
  const unknownKeys = Object.keys(top).filter((key) => !['$schema', 'name', 'description', 'steps'].includes(key));
  for (const key of unknownKeys) reader.problem([key], `unknown key ${key} (known: name, description, steps)`, true);
  const named = scenarioSchema.pick({ $schema: true, name: true, description: true }).loose().safeParse(top);
  if (!named.success) reader.zodProblems([], named.error.issues);
  const rawSteps = top.steps;
  const steps: ScenarioStep[] = [];
  if (!Array.isArray(rawSteps) || rawSteps.length === 0) reader.problem(['steps'], 'a scenario needs a list of at least one step');
  else rawSteps.forEach((raw: RawStep, i) => {
    const step = reader.step(raw, i);
    if (step !== null) steps.push(step);
  });
  if (reader.problems.length > 0) throw new ScenarioError(file, reader.problems);
  const scriptedMs = steps.reduce((sum, step) => sum + (step.kind === 'say' ? step.clip.audio.durationMs : step.kind === 'wait' ? step.ms : 0), 0);
  return { name: String(top.name), description: typeof top.description === 'string' ? top.description : null, file, steps, contentHash: reader.contentHash(text), scriptedMs };
}

export function loadScenario(file: string): LoadedScenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ScenarioError(file, [`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(err)}`]);
  }
  return parseScenario(text, file);
}

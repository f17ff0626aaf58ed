// src/scenario/: scripted conversations. A scenario file (schema.ts, load.ts) is a list of steps
// a simulated caller runs against the agent (steps.ts) through the fake Twilio's voice hook; its
// turns are measured on the caller's clock (measure.ts) and its expectations judged as checks
// (expect.ts), beside every check a plain replay runs. This file is the entry point: one scenario
// as one replayed call. It may import caller/, audio/, twilio/ and the simulator's record types;
// never gate/, report/ or cli/.
import { FRAME_MS } from '../audio/format.js';
import type { SourceFormat } from '../audio/wav.js';
import { REALTIME } from '../caller/clock.js';
import { DEFAULT_DIRECTION } from '../caller/options.js';
import { runReplay, type ReplayOptions, type ReplayReport } from '../caller/replay.js';
import { judgeScenario } from './expect.js';
import type { LoadedScenario } from './load.js';
import { measureConversation } from './measure.js';
import { conversationReport } from './report.js';
import { ScenarioCaller, unrunSteps, WIND_DOWN_MAX_MS, WIND_DOWN_MIN_MS } from './steps.js';

export type ScenarioRunOptions = Omit<ReplayOptions, 'file' | 'audio' | 'voice' | 'judge' | 'dtmf' | 'tailMs'> & { scenario: LoadedScenario };

/** What the caller's clips become on the wire. */
const SAID_AS: SourceFormat = { sampleRate: 8000, channels: 1, bitDepth: '8m', container: 'mulaw' };
const TIMEOUT_HEADROOM_MS = 10_000;

/** Long enough for every step to run to its own timeout, and the wind-down after: the call's bound, wall ms. */
export function scenarioTimeoutMs(scenario: LoadedScenario, speed: number): number {
  let audioMs = WIND_DOWN_MIN_MS + WIND_DOWN_MAX_MS;
  for (const step of scenario.steps) {
    if (step.kind === 'say') audioMs += step.clip.audio.frames.length * FRAME_MS + (step.overAgent?.timeoutMs ?? 0);
    else if (step.kind === 'wait') audioMs += step.ms;
    else if (step.kind === 'wait_for') audioMs += step.timeoutMs + step.quietMs;
    else if (step.kind === 'dtmf') audioMs += step.digits.length * 200;
  }
  return Math.ceil(audioMs / speed) + TIMEOUT_HEADROOM_MS;
}

/** Runs `scenario` as one call and judges it: the replay's checks plus the scenario's. */
export async function runScenario(options: ScenarioRunOptions): Promise<ReplayReport> {
  const { scenario, ...replay } = options;
  const timing = options.timing ?? REALTIME;
  const speed = timing.mode === 'realtime' ? timing.speed : 1;
  const direction = options.direction ?? DEFAULT_DIRECTION;
  let caller: ScenarioCaller | null = null;
  return runReplay({
    ...replay,
    file: scenario.file,
    audio: { frames: [], durationMs: scenario.scriptedMs, source: SAID_AS },
    voice: (ear) => (caller = new ScenarioCaller(scenario, ear, direction, speed)),
    timeoutMs: options.timeoutMs ?? scenarioTimeoutMs(scenario, speed),
    tailMs: 0,
    judge: ({ record, sessions, sessionsNote }) => {
      const scripted = caller as ScenarioCaller | null;
      const origin = record.detail.startSentAt;
      if (scripted === null || origin === null || record.detail.heard === null) {
        // No stream ran (the webhook or TwiML ended the call): the setup checks say why.
        return { checks: [], failures: [], conversation: conversationReport(scenario, unrunSteps(scenario), null, null, speed, null) };
      }
      const endedAt = record.detail.closedAt ?? performance.now();
      scripted.finish(endedAt);
      const heard = record.detail.heard;
      const measurements = measureConversation({ runs: scripted.runs, heard, origin, endedAt, sessions, sessionsNote });
      const verdict = judgeScenario({ runs: scripted.runs, measurements, heard, endedAt });
      return { ...verdict, conversation: conversationReport(scenario, scripted.runs, measurements, origin, speed, scripted.windDownNote) };
    },
  });
}

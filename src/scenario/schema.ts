// The scenario file's shape, as one zod schema: what the CLI validates before any socket opens,
// and what schemas/scenario.schema.json is generated from (scenarioJsonSchema), so editors and
// callsim agree. Keys are snake_case, as in YAML files people write by hand. A step is one of
// say, backchannel, wait, wait_for, dtmf, hangup; any step may carry `expect` and `direction`.
import { z } from 'zod';

const ms = (what: string) => z.number().int().min(0).max(600_000).describe(what);
const wavPath = z.string().min(1).describe('A WAV file (any common format), relative to the scenario file.');
const DTMF = /^[0-9*#]+$/;

export const expectSchema = z
  .strictObject({
    agent_audio_within_ms: ms("The agent's first audio is heard within this many ms of the step's cue (the end of the caller's words, the last key, or the step's start)."),
    clear_within_ms: ms("After the caller starts talking over the agent, a `clear` arrives or the agent's audio stops within this many ms."),
    agent_keeps_talking: z.literal(true).describe('After a backchannel: no `clear`, and the answer goes on.'),
    no_agent_audio_for_ms: ms("The agent says nothing for this many ms after the step's cue."),
  })
  .partial()
  .describe('What the caller expects of the agent at this step.');

const common = {
  expect: expectSchema.optional(),
  direction: z.enum(['inbound', 'outbound']).optional().describe('Run this step only on calls of this direction (an outbound agent greets first).'),
};

const overAgent = {
  after_ms: ms("Start talking this many ms into the agent's answer, as the caller hears it.").optional(),
  timeout_ms: ms('Give up (and fail the step) if the agent is not talking within this many ms.').optional(),
};

export const sayStep = z.strictObject({
  say: wavPath.describe('The caller says this clip.'),
  while_agent_speaks: z.boolean().optional().describe('Talk over the agent (barge-in): wait until it is talking, `after_ms` into its answer.'),
  ...overAgent,
  ...common,
});

export const backchannelStep = z.strictObject({
  backchannel: wavPath.describe('A short "mm-hmm" over the agent: it must not stop the agent.'),
  ...overAgent,
  ...common,
});

export const waitStep = z.strictObject({
  wait: z.number().gt(0).max(600).describe('The caller is silent this many seconds; line silence keeps streaming.'),
  ...common,
});

export const waitForStep = z.strictObject({
  wait_for: z.enum(['agent_audio', 'agent_silence']).describe('Until the agent is heard / has not been heard for `quiet_ms` (counted from the step\'s start at the earliest: put it after wait_for agent_audio to wait out an answer).'),
  timeout_ms: ms('Fail the step if it has not happened within this many ms (default 10000 for agent_audio, 30000 for agent_silence).').optional(),
  quiet_ms: ms('agent_silence: how long the agent must have been silent (default 800).').optional(),
  ...common,
});

export const dtmfStep = z.strictObject({
  dtmf: z.string().regex(DTMF, 'DTMF digits are 0-9, * and #').describe('Press these keys, 200 ms apart.'),
  ...common,
});

export const hangupStep = z.union([z.literal('hangup'), z.strictObject({ hangup: z.literal(true), ...common })]).describe('The caller hangs up (sends stop), mid-answer or not.');

/** Each step kind by the key that names it: a step is read as the kind its keys say, so its errors are that kind's. */
export const STEP_KINDS = {
  say: sayStep,
  backchannel: backchannelStep,
  wait: waitStep,
  wait_for: waitForStep,
  dtmf: dtmfStep,
  hangup: hangupStep,
} as const;
export type StepKind = keyof typeof STEP_KINDS;

export const stepSchema = z.union([sayStep, backchannelStep, waitStep, waitForStep, dtmfStep, hangupStep]);

export const scenarioSchema = z
  .strictObject({
    $schema: z.string().optional(),
    name: z.string().min(1).max(120).describe('What the scenario is called in reports.'),
    description: z.string().max(2000).optional(),
    steps: z.array(stepSchema).min(1).describe('What the caller does, in order. After the last step the caller waits for the agent to go quiet, then hangs up.'),
  })
  .describe('callsim scenario: a scripted caller, step by step, and what it expects of the agent.');

export type ScenarioFile = z.output<typeof scenarioSchema>;
export type ScenarioStepInput = z.output<typeof stepSchema>;
export type StepExpectations = z.output<typeof expectSchema>;

/** The published JSON Schema of a scenario (schemas/scenario.schema.json is this, generated). */
export function scenarioJsonSchema(): Record<string, unknown> {
  return { title: 'callsim scenario', ...z.toJSONSchema(scenarioSchema, { io: 'input', target: 'draft-2020-12' }) };
}

// The session's configuration: the defaults a GA session starts with, the zod schema a
// session.update must satisfy (strict: an unknown field is an error, as on the live API), and
// the merge that makes the effective config session.updated echoes. Docs (SessionUpdateEvent):
// "Only the fields that are present in the session.update are updated."
import { z } from 'zod';
import type { RealtimeSessionCreateResponse } from 'openai/resources/realtime/client-secrets';
import type { RealtimeFunctionTool } from 'openai/resources/realtime/realtime';
import { DEFAULT_AUDIO_FORMAT, formatObject, type AudioFormatType } from './audio-formats.js';

export type EffectiveSession = RealtimeSessionCreateResponse;
type Audio = NonNullable<EffectiveSession['audio']>;
type AudioInput = NonNullable<Audio['input']>;
type AudioOutput = NonNullable<Audio['output']>;
export type TurnDetection = NonNullable<AudioInput['turn_detection']>;

// Live defaults (session.created captured 2026-09): server_vad 0.5 / 300 / 200 ms.
export const SERVER_VAD_DEFAULTS = { threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 200, idle_timeout_ms: null, create_response: true, interrupt_response: true } as const;
const SEMANTIC_VAD_DEFAULTS = { eagerness: 'auto', create_response: true, interrupt_response: true } as const;
const DEFAULT_INSTRUCTIONS = 'You are a helpful, witty, and friendly AI. Your voice and personality should be warm and engaging.';
const SESSION_LIFETIME_S = 60 * 60;

export function defaultSession(id: string, model: string): EffectiveSession {
  return {
    type: 'realtime',
    object: 'realtime.session',
    id,
    model,
    output_modalities: ['audio'],
    instructions: DEFAULT_INSTRUCTIONS,
    tools: [],
    tool_choice: 'auto',
    max_output_tokens: 'inf',
    tracing: null,
    truncation: 'auto',
    prompt: null,
    expires_at: Math.floor(Date.now() / 1000) + SESSION_LIFETIME_S,
    audio: {
      input: { format: { ...DEFAULT_AUDIO_FORMAT }, turn_detection: { type: 'server_vad', ...SERVER_VAD_DEFAULTS } },
      output: { format: { ...DEFAULT_AUDIO_FORMAT }, voice: 'alloy', speed: 1 },
    },
  };
}

const format = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('audio/pcm'), rate: z.number().int().min(24000).max(24000).optional() }),
  z.strictObject({ type: z.literal('audio/pcmu') }),
  z.strictObject({ type: z.literal('audio/pcma') }),
]);
const serverVad = z.strictObject({
  type: z.literal('server_vad'),
  threshold: z.number().min(0).max(1).optional(),
  prefix_padding_ms: z.number().int().min(0).optional(),
  silence_duration_ms: z.number().int().min(0).optional(),
  idle_timeout_ms: z.number().int().min(0).nullable().optional(),
  create_response: z.boolean().optional(),
  interrupt_response: z.boolean().optional(),
});
const semanticVad = z.strictObject({
  type: z.literal('semantic_vad'),
  eagerness: z.enum(['low', 'medium', 'high', 'auto']).optional(),
  create_response: z.boolean().optional(),
  interrupt_response: z.boolean().optional(),
});
const functionTool = z.strictObject({
  type: z.literal('function').optional(),
  name: z.string().min(1).max(64),
  description: z.string().optional(),
  parameters: z.unknown().optional(),
});
const mcpTool = z.looseObject({ type: z.literal('mcp'), server_label: z.string() });
export const toolsSchema = z.array(z.union([functionTool, mcpTool]));
export const toolChoiceSchema = z.union([
  z.enum(['auto', 'none', 'required']),
  z.strictObject({ type: z.literal('function'), name: z.string() }),
  z.looseObject({ type: z.literal('mcp'), server_label: z.string() }),
]);
export const maxOutputTokensSchema = z.union([z.number().int().min(1).max(4096), z.literal('inf')]);
export const voiceSchema = z.union([z.string(), z.strictObject({ id: z.string() })]);
export const outputModalitiesSchema = z.array(z.enum(['text', 'audio'])).min(1).max(1);
export const audioFormatSchema = format;

export const sessionUpdateSchema = z.strictObject({
  type: z.enum(['realtime', 'transcription']),
  model: z.string().optional(),
  instructions: z.string().optional(),
  output_modalities: outputModalitiesSchema.optional(),
  audio: z
    .strictObject({
      input: z
        .strictObject({
          format: format.optional(),
          noise_reduction: z.strictObject({ type: z.enum(['near_field', 'far_field']).optional() }).nullable().optional(),
          transcription: z
            .strictObject({ model: z.string().optional(), language: z.string().optional(), prompt: z.string().optional(), delay: z.enum(['minimal', 'low', 'medium', 'high', 'xhigh']).optional() })
            .nullable()
            .optional(),
          turn_detection: z.discriminatedUnion('type', [serverVad, semanticVad]).nullable().optional(),
        })
        .optional(),
      output: z.strictObject({ format: format.optional(), voice: voiceSchema.optional(), speed: z.number().min(0.25).max(1.5).optional() }).optional(),
    })
    .optional(),
  include: z.array(z.literal('item.input_audio_transcription.logprobs')).nullable().optional(),
  tools: toolsSchema.optional(),
  tool_choice: toolChoiceSchema.optional(),
  max_output_tokens: maxOutputTokensSchema.optional(),
  parallel_tool_calls: z.boolean().optional(),
  reasoning: z.strictObject({ effort: z.enum(['minimal', 'low', 'medium', 'high', 'xhigh']).optional() }).optional(),
  tracing: z.union([z.literal('auto'), z.looseObject({}), z.null()]).optional(),
  truncation: z.union([z.enum(['auto', 'disabled']), z.looseObject({ type: z.literal('retention_ratio') })]).optional(),
  prompt: z.looseObject({ id: z.string() }).nullable().optional(),
});
export type SessionUpdate = z.infer<typeof sessionUpdateSchema>;

function fullTurnDetection(td: NonNullable<NonNullable<NonNullable<SessionUpdate['audio']>['input']>['turn_detection']>): TurnDetection {
  return td.type === 'server_vad' ? { ...SERVER_VAD_DEFAULTS, ...td } : { ...SEMANTIC_VAD_DEFAULTS, ...td };
}

/** The effective session after an update (the update already validated). A new object: records keep the old one. */
export function mergeSession(current: EffectiveSession, update: SessionUpdate): EffectiveSession {
  const { type: _type, model: _model, audio, include, ...rest } = update;
  const next: EffectiveSession = { ...current, ...(rest as Partial<EffectiveSession>) };
  if (include !== undefined) {
    if (include === null) delete next.include;
    else next.include = include;
  }
  if (audio !== undefined) {
    const input: AudioInput = { ...current.audio?.input };
    const output: AudioOutput = { ...current.audio?.output };
    const ui = audio.input;
    if (ui?.format !== undefined) input.format = formatObject(ui.format.type);
    if (ui?.turn_detection !== undefined) input.turn_detection = ui.turn_detection === null ? null : fullTurnDetection(ui.turn_detection);
    // The types have no null here: "off" is an absent field.
    if (ui?.transcription !== undefined) {
      if (ui.transcription === null) delete input.transcription;
      else input.transcription = ui.transcription;
    }
    if (ui?.noise_reduction !== undefined) {
      if (ui.noise_reduction === null) delete input.noise_reduction;
      else input.noise_reduction = ui.noise_reduction;
    }
    const uo = audio.output;
    if (uo?.format !== undefined) output.format = formatObject(uo.format.type);
    if (uo?.speed !== undefined) output.speed = uo.speed;
    if (uo?.voice !== undefined) output.voice = typeof uo.voice === 'string' ? uo.voice : uo.voice.id;
    next.audio = { input, output };
  }
  return next;
}

export function inputFormat(session: EffectiveSession): AudioFormatType {
  return session.audio?.input?.format?.type ?? 'audio/pcm';
}

export function outputFormat(session: EffectiveSession): AudioFormatType {
  return session.audio?.output?.format?.type ?? 'audio/pcm';
}

export function turnDetection(session: EffectiveSession): TurnDetection | null {
  return session.audio?.input?.turn_detection ?? null;
}

/** The function tools the model may call (session tools, or the response's own when it names some). */
export function functionTools(tools: ReadonlyArray<{ type?: string; name?: string }> | undefined): RealtimeFunctionTool[] {
  return (tools ?? []).filter((t): t is RealtimeFunctionTool => (t.type === undefined || t.type === 'function') && typeof t.name === 'string');
}

// The model script (`callsim simulator --script FILE`): what the simulated model does, turn by
// turn (a turn is one response). JSON or YAML, validated with zod before any socket opens, with
// errors that name the file, line and column; the JSON Schema in schemas/ is generated from the
// same zod schema (modelScriptJsonSchema), so editors and the simulator agree.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { LineCounter, parseDocument } from 'yaml';
import { yamlPosition } from '../../text/yaml-position.js';
import { decodeWavToMono8k, WavInputError } from '../../audio/wav.js';

const ms = (max: number) => z.number().int().min(0).max(max);

const speech = z.union([
  z.strictObject({ ms: z.number().int().min(20).max(600_000).describe('Speak this long (speech-like synthetic audio).') }),
  z.strictObject({ wav: z.string().min(1).describe('Speak this WAV file (path relative to the script); any common WAV.') }),
]);

const fault = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('drop'), afterMs: ms(600_000).optional().describe('Drop the socket (no close frame) after this much of the answer was sent.') }),
  z.strictObject({ type: z.literal('close'), code: z.number().int().min(1000).max(4999), reason: z.string().max(120).optional(), afterMs: ms(600_000).optional() }),
  z.strictObject({ type: z.literal('stall'), ms: ms(600_000).describe('Stop reading the socket this long (TCP backpressure builds).'), afterMs: ms(600_000).optional() }),
  z.strictObject({
    type: z.literal('error'),
    errorType: z.string().default('server_error'),
    code: z.string().nullable().default(null),
    message: z.string().default('The server had an error while processing your request.'),
  }).describe('Send an error event and fail the response (response.done with status failed).'),
  z.strictObject({ type: z.literal('hang') }).describe('response.created, then nothing: the response never finishes.'),
]);

const turnFields = {
  latencyMs: ms(120_000).optional().describe('Milliseconds from the response starting to its first delta.'),
  speech: speech.optional(),
  transcript: z.string().max(10_000).optional().describe("The answer's words: the audio transcript, or the text in text mode."),
  streamSpeed: z.number().gt(0).max(100).optional().describe('How many times faster than real time the audio is sent.'),
};

const turn = z.strictObject({
  ...turnFields,
  toolCall: z
    .strictObject({
      name: z.string().min(1),
      arguments: z.union([z.record(z.string(), z.unknown()), z.string()]).default({}),
      callId: z.string().optional(),
    })
    .optional()
    .describe('Answer with this function call instead of speaking (only if the session declares the tool).'),
  fault: fault.optional(),
});

export const modelScriptSchema = z
  .strictObject({
    $schema: z.string().optional(),
    defaults: z.strictObject(turnFields).optional().describe('What every turn does unless it says otherwise.'),
    turns: z.array(turn).default([]).describe('Turn i is the i-th response of a session (a greeting counts).'),
    afterTurns: z.enum(['defaults', 'repeat-last', 'repeat-all']).default('defaults').describe('What turns past the list do.'),
  })
  .describe('callsim model script: what the simulated realtime model does, turn by turn.');

export type ModelScript = z.output<typeof modelScriptSchema>;
export type ScriptTurn = z.output<typeof turn>;
export type ScriptFault = z.output<typeof fault>;

/** A turn resolved against the defaults, with any WAV already decoded (8 kHz float). */
export interface ResolvedTurn {
  index: number;
  latencyMs: number | null;
  speechMs: number | null;
  wav: Float32Array | null;
  wavPath: string | null;
  transcript: string | null;
  streamSpeed: number | null;
  toolCall: { name: string; arguments: string; callId: string | null } | null;
  fault: ScriptFault | null;
}

export class ModelScriptError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`invalid model script ${file}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ModelScriptError';
  }
}

/** A loaded, validated script: turn lookup by response number. */
export class LoadedModelScript {
  private readonly wavs = new Map<string, Float32Array>();

  constructor(readonly script: ModelScript, readonly baseDir: string, readonly source: string) {}

  static fromObject(value: unknown, baseDir = process.cwd(), source = '<inline>'): LoadedModelScript {
    const parsed = modelScriptSchema.safeParse(value);
    if (!parsed.success) throw new ModelScriptError(source, parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
    return new LoadedModelScript(parsed.data, baseDir, source).load();
  }

  turn(index: number): ResolvedTurn {
    const { turns, defaults, afterTurns } = this.script;
    let raw: ScriptTurn | undefined = turns[index];
    if (raw === undefined && turns.length > 0) {
      if (afterTurns === 'repeat-last') raw = turns[turns.length - 1];
      else if (afterTurns === 'repeat-all') raw = turns[index % turns.length];
    }
    const merged = { ...defaults, ...raw };
    const speechSpec = raw?.speech ?? defaults?.speech;
    const wavPath = speechSpec && 'wav' in speechSpec ? resolve(this.baseDir, speechSpec.wav) : null;
    const tool = raw?.toolCall;
    return {
      index,
      latencyMs: merged.latencyMs ?? null,
      speechMs: speechSpec && 'ms' in speechSpec ? speechSpec.ms : null,
      wav: wavPath === null ? null : (this.wavs.get(wavPath) ?? null),
      wavPath,
      transcript: merged.transcript ?? null,
      streamSpeed: merged.streamSpeed ?? null,
      toolCall: tool ? { name: tool.name, arguments: typeof tool.arguments === 'string' ? tool.arguments : JSON.stringify(tool.arguments), callId: tool.callId ?? null } : null,
      fault: raw?.fault ?? null,
    };
  }

  /** Decodes every WAV the script names, up front: a missing file fails the load, not a call. */
  load(): this {
    const specs = [this.script.defaults?.speech, ...this.script.turns.map((t) => t.speech)];
    const problems: string[] = [];
    for (const spec of specs) {
      if (!spec || !('wav' in spec)) continue;
      const path = resolve(this.baseDir, spec.wav);
      if (this.wavs.has(path)) continue;
      try {
        this.wavs.set(path, decodeWavToMono8k(readFileSync(path), path).samples);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        problems.push(err instanceof WavInputError ? err.message : `${path}: ${code === 'ENOENT' ? 'file not found' : err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (problems.length > 0) throw new ModelScriptError(this.source, problems);
    return this;
  }
}

/** Parses and validates a script's text (JSON or YAML); errors carry `file:line:col`. */
export function parseModelScript(text: string, file: string): LoadedModelScript {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ModelScriptError(file, doc.errors.map((e) => `${file}:${e.linePos?.[0].line ?? 1}:${e.linePos?.[0].col ?? 1}: ${e.message.split('\n')[0]}`));
  }
  const value: unknown = doc.toJS();
  const parsed = modelScriptSchema.safeParse(value ?? {});
  if (!parsed.success) {
    throw new ModelScriptError(file, parsed.error.issues.map((i) => `${file}:${yamlPosition(doc, counter, i.path)}: ${i.path.map(String).join('.') || '(root)'}: ${i.message}`));
  }
  return new LoadedModelScript(parsed.data, dirname(resolve(file)), file).load();
}

export function loadModelScript(file: string): LoadedModelScript {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ModelScriptError(file, [`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(err)}`]);
  }
  return parseModelScript(text, file);
}

/** The published JSON Schema of a model script (schemas/model-script.schema.json is this, generated). */
export function modelScriptJsonSchema(): Record<string, unknown> {
  return { title: 'callsim model script', ...z.toJSONSchema(modelScriptSchema, { io: 'input', target: 'draft-2020-12' }) };
}

// `callsim.config.json` → its `gate` object: read, validated against one zod schema (from which a
// JSON Schema for editors can be generated), every key optional. Errors name the file and key.
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { CALL_DIRECTIONS, type CallDirection } from '../twilio/codec.js';
import { WEBHOOK_METHODS, type WebhookMethod } from '../caller/webhook.js';
import { GATE_TIMINGS, type GateTiming } from './gate.js';
import { FIGURE_NAMES, type FigureName } from './figures.js';

export const CONFIG_FILE = 'callsim.config.json';

/** A config file that cannot be used; the CLI turns it into a usage error (exit 2). */
export class GateConfigError extends Error {
  override readonly name = 'GateConfigError';
}

const nonEmpty = z.string().min(1);
const thresholds = z.strictObject(Object.fromEntries(FIGURE_NAMES.map((name) => [name, z.number().min(0).optional()])) as Record<FigureName, z.ZodOptional<z.ZodNumber>>);
const SPEAKER = z.enum(['caller', 'agent']);

export const GATE_CONFIG_SCHEMA = z.strictObject({
  fixtures: z.array(z.string()).optional(),
  directions: z.array(z.enum(CALL_DIRECTIONS as readonly [CallDirection, ...CallDirection[]])).optional(),
  timings: z.array(z.enum(GATE_TIMINGS as readonly [GateTiming, ...GateTiming[]])).optional(),
  speed: z.number().positive().optional(),
  concurrency: z.number().min(1).optional(),
  url: nonEmpty.optional(),
  serverCmd: nonEmpty.optional(),
  wsPath: nonEmpty.optional(),
  readyTimeoutMs: z.number().min(100).optional(),
  timeoutMs: z.number().min(100).optional(),
  tailMs: z.number().min(0).optional(),
  expectAudio: z.boolean().optional(),
  /** The voice webhook (absolute URL), or false for direct mode. */
  webhook: z.union([z.url({ protocol: /^https?$/ }), z.literal(false)]).optional(),
  webhookPath: z.string().startsWith('/').optional(),
  webhookMethod: z.enum(WEBHOOK_METHODS as readonly [WebhookMethod, ...WebhookMethod[]]).optional(),
  params: z.record(z.string(), z.string()).optional(),
  allowServerHangup: z.boolean().optional(),
  networkDelayMs: z.union([z.number().min(0), z.string().regex(/^\s*\d+(\.\d+)?\s*-\s*\d+(\.\d+)?\s*$/)]).optional(),
  congestionMs: z.number().min(0).optional(),
  agentAudio: nonEmpty.optional(),
  simulatorUrl: z.url({ protocol: /^https?$/ }).optional(),
  simulator: z.boolean().optional(),
  expectFirstSpeaker: z.strictObject({ inbound: SPEAKER.optional(), outbound: SPEAKER.optional() }).optional(),
  modelCloseMs: z.number().min(0).optional(),
  modelScript: nonEmpty.optional(),
  junit: nonEmpty.optional(),
  json: nonEmpty.optional(),
  /** Scenario files, or folders of them (*.yaml, *.yml, *.json). */
  scenarios: z.array(z.string()).optional(),
  repeat: z.number().int().min(1).max(1000).optional(),
  /** The most each figure may be (figures.ts): responseMs, bargeInMs, ... */
  thresholds: thresholds.optional(),
  latencyMs: z.number().min(0).optional(),
  jitterMs: z.number().min(0).optional(),
  packetLoss: z.number().min(0).lt(1).optional(),
  seed: z.number().int().min(0).max(0xffffffff).optional(),
  artifacts: nonEmpty.optional(),
  baseline: nonEmpty.optional(),
  saveBaseline: nonEmpty.optional(),
  /** A figure regresses when worse by more than this percentage and regressionFloorMs both. */
  regressionPct: z.number().min(0).optional(),
  regressionFloorMs: z.number().min(0).optional(),
});

export type GateConfig = z.infer<typeof GATE_CONFIG_SCHEMA>;
type GateConfigKey = keyof GateConfig;

/** What each key must be, said the same way whatever zod found wrong with it. */
const WANTED: Record<GateConfigKey, string> = {
  fixtures: 'an array of strings',
  directions: `an array of ${CALL_DIRECTIONS.join('|')}`,
  timings: `an array of ${GATE_TIMINGS.join('|')}`,
  speed: 'a number > 0',
  concurrency: 'a number ≥ 1',
  url: 'a non-empty string',
  serverCmd: 'a non-empty string',
  wsPath: 'a non-empty string',
  readyTimeoutMs: 'a number ≥ 100',
  timeoutMs: 'a number ≥ 100',
  tailMs: 'a number ≥ 0',
  expectAudio: 'true or false',
  webhook: 'an http(s) URL, or false for direct mode',
  webhookPath: 'a path starting with /',
  webhookMethod: 'GET or POST',
  params: 'an object of string values',
  allowServerHangup: 'true or false',
  networkDelayMs: 'a number ≥ 0 or a range like "20-40"',
  congestionMs: 'a number ≥ 0',
  agentAudio: 'a non-empty string',
  simulatorUrl: "the simulator's http(s) baseURL",
  simulator: 'true or false',
  expectFirstSpeaker: 'an object like {"inbound": "caller", "outbound": "agent"}',
  modelCloseMs: 'a number ≥ 0',
  modelScript: 'a non-empty string',
  junit: 'a non-empty string',
  json: 'a non-empty string',
  scenarios: 'an array of strings (scenario files or folders)',
  repeat: 'a whole number from 1 to 1000',
  thresholds: `an object of figure maxima (${FIGURE_NAMES.join(', ')}), each a number ≥ 0`,
  latencyMs: 'a number ≥ 0',
  jitterMs: 'a number ≥ 0',
  packetLoss: 'a rate from 0 up to (not including) 1',
  seed: 'a whole number from 0 to 4294967295',
  artifacts: 'a non-empty string (a folder)',
  baseline: 'a non-empty string (a file)',
  saveBaseline: 'a non-empty string (a file)',
  regressionPct: 'a number ≥ 0 (a percentage)',
  regressionFloorMs: 'a number ≥ 0',
};
const KNOWN_KEYS = Object.keys(GATE_CONFIG_SCHEMA.shape) as GateConfigKey[];

/** The `gate` object of a parsed config file (or the whole file, when it is the gate object itself). */
export function validateGateConfig(file: string, parsed: unknown): GateConfig {
  const gate = typeof parsed === 'object' && parsed !== null && 'gate' in parsed ? (parsed as { gate: unknown }).gate : parsed;
  if (typeof gate !== 'object' || gate === null || Array.isArray(gate)) throw new GateConfigError(`${file}: expected an object with a "gate" object`);
  const checked = GATE_CONFIG_SCHEMA.safeParse(gate);
  if (checked.success) return checked.data;
  // A misspelt key first: it is why the value the user meant is not there.
  const unknown = checked.error.issues.find((issue) => issue.code === 'unrecognized_keys');
  if (unknown !== undefined) {
    const where = [...unknown.path.map(String), unknown.keys[0]].join('.');
    const known = unknown.path[0] === 'thresholds' ? FIGURE_NAMES : KNOWN_KEYS;
    throw new GateConfigError(`${file}: unknown key gate.${where} (known: ${known.join(', ')})`);
  }
  const issue = checked.error.issues[0];
  const key = issue?.path[0];
  if (typeof key === 'string' && Object.hasOwn(WANTED, key)) throw new GateConfigError(`${file}: gate.${key} must be ${WANTED[key as GateConfigKey]}`);
  throw new GateConfigError(`${file}: ${issue?.message ?? 'not a valid gate config'}`);
}

/** Reads and validates `explicit`, else ./callsim.config.json when there is one; else every key unset. */
export function loadGateConfig(explicit: string | undefined): GateConfig {
  const file = explicit ?? (existsSync(CONFIG_FILE) ? CONFIG_FILE : undefined);
  if (file === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new GateConfigError(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `not valid JSON: ${(err as Error).message}`}`);
  }
  return validateGateConfig(file, parsed);
}

// The JSON Schema of callsim.config.json that the package ships (schemas/) and `callsim init`
// points `$schema` at, so an editor checks and completes the file. It is generated from the same
// zod schema the CLI validates the file with (gate/config.ts), with a description per key for the
// editor's hover; a test keeps the shipped file equal to what this generates (`npm run schema`
// writes it).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { GATE_CONFIG_SCHEMA, type GateConfig } from '../gate/config.js';
import { packageFile } from './options.js';

/** The schema's path inside the package. */
export const CONFIG_SCHEMA_PATH = 'schemas/callsim.config.schema.json';

/** What each gate key does, for the editor's hover. Every key has one (a test checks). */
export const GATE_KEY_DESCRIPTIONS: Readonly<Record<keyof GateConfig, string>> = {
  fixtures: 'WAV files or folders of them to replay (default: ./fixtures, else the fixtures callsim ships).',
  directions: 'Call directions to test (default: both).',
  timings: 'realtime: paced at speed; burst: as fast as possible; early-media: frames right after start (default: all three).',
  speed: 'Pacing of realtime and early-media calls: 1 is real time, 2 twice as fast.',
  concurrency: 'Calls at once (default 4).',
  url: 'A running server to test: its Media Streams URL (ws:// or wss://). Not with serverCmd.',
  serverCmd: 'A command that starts your server (any language) for the run; it gets PORT and {port}, and is stopped afterwards. Without url or serverCmd the gate runs against callsim\'s built-in server.',
  wsPath: 'The Media Streams path on a serverCmd server that prints no ws:// URL (default /media).',
  readyTimeoutMs: 'How long a serverCmd server gets to start (default 20000).',
  timeoutMs: 'Bound on each call, in ms.',
  tailMs: 'Line silence after each fixture while the agent answers, in ms.',
  expectAudio: 'Fail calls the server never answers with audio (default true).',
  webhook: "The voice webhook each call starts with (an http(s) URL), or false for direct mode (no webhook step).",
  webhookPath: "The voice webhook's path on the target (default /twiml on the built-in server and a serverCmd server; a 404 there falls back to direct mode).",
  webhookMethod: 'How the webhook is requested: POST (default) or GET.',
  params: 'Direct mode: the customParameters of start; {direction} becomes each call\'s direction.',
  allowServerHangup: 'A server that closes the stream normally before stop ends the call, as Twilio allows, instead of failing it.',
  networkDelayMs: 'One-way delay of mark echoes back to the server: ms, or a range like "20-40" (default 20-40, seeded per call).',
  congestionMs: 'Caller audio is discarded (warning 31930) once the server has stayed backed up this long (default 1000).',
  agentAudio: "The agent's side of a <Start><Stream> fork's outbound track: a WAV (default: silence).",
  simulatorUrl: "A url server's model: the baseURL of the callsim simulator it uses, whose session records the gate reads to judge each call's model side.",
  simulator: "Hand a serverCmd server the gate's own realtime simulator in its environment (default true); false leaves its model leg unwatched.",
  expectFirstSpeaker: 'Who must speak first on each direction, as {"inbound": "caller", "outbound": "agent"} (the model-first-speaker check).',
  modelCloseMs: 'How soon after the caller\'s stream ends a model session must be closed, in ms (default 2000); one still open then is a leak.',
  modelScript: "The model script of the gate's simulator (JSON or YAML, as callsim simulator --script).",
  junit: 'Write a JUnit XML report to this file (its folder must exist).',
  json: 'Write the full result as JSON to this file (its folder must exist).',
  scenarios: 'Scenario files (scripted callers), or folders of them (*.yaml, *.yml, *.json): each is a cell per direction and timing.',
  repeat: 'Run each cell this many times, one after another, and report the distribution (no retries).',
  thresholds: 'The most each figure may be: responseMs and bargeInMs bound every turn, the others every call; a figure never measured fails.',
  latencyMs: 'Bad line: one-way latency added to every message both ways between Twilio and the server, in ms.',
  jitterMs: 'Bad line: up to this many more ms per message, drawn from the seed; frames bunch up, never reorder.',
  packetLoss: 'Bad line: share (0 to <1) of caller frames lost before Twilio got them: never sent, the next timestamp jumps.',
  seed: "Every call's network seed (mark echoes, jitter, loss): the same seed replays the same calls.",
  artifacts: "Keep each failing call's stereo recording, wire trace and server log lines in this folder.",
  baseline: 'Compare with this baseline (saved with saveBaseline): fail on figures worse by both regressionPct and regressionFloorMs.',
  saveBaseline: "Save this run's figures (p50/p95 per cell) and the hash of its inputs to this file.",
  regressionPct: 'A regression is worse by more than this percentage (default 20)...',
  regressionFloorMs: '...and by more than this many ms (default 100).',
};

type JsonSchemaNode = { properties?: Record<string, JsonSchemaNode>; description?: string; [key: string]: unknown };

/** The JSON Schema of the whole file: `$schema` and the `gate` object. */
export function configJsonSchema(): Record<string, unknown> {
  const file = z.object({ $schema: z.string().optional(), gate: GATE_CONFIG_SCHEMA.optional() });
  const schema = z.toJSONSchema(file) as JsonSchemaNode;
  const gate = schema.properties?.gate;
  for (const [key, node] of Object.entries(gate?.properties ?? {})) {
    const description = GATE_KEY_DESCRIPTIONS[key as keyof GateConfig] as string | undefined;
    if (description !== undefined) node.description = description;
  }
  if (gate !== undefined) gate.description = 'The settings of `callsim gate`; options on the command line win.';
  const props = schema.properties ?? {};
  if (props.$schema !== undefined) props.$schema.description = 'This schema, for editors.';
  return { $id: 'callsim.config.schema.json', title: 'callsim.config.json', description: "callsim's config file: the settings `callsim gate` reads from ./callsim.config.json.", ...schema };
}

/** The schema as the shipped file holds it. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

// `npm run schema`: regenerate the shipped file.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const out = packageFile(CONFIG_SCHEMA_PATH);
  writeFileSync(out, configJsonSchemaText());
  process.stdout.write(`wrote ${out}\n`);
}

// What the witness reads of a model session: the part of the simulator's session record
// (SimulatorSessionRecord) its checks use, checked field by field when it comes from another
// process (GET /v1/callsim/sessions of a `callsim simulator`), whose JSON is a peer's to make.
// Records of an older simulator lack the fields added since (response format, scripted errors):
// those read as unknown, never as a guess.
import { z } from 'zod';
import type { SimulatorSessionRecord } from '../../model/simulator/simulator.js';

const time = z.number().finite();
const text = z.string().max(10_000);
const maybeText = text.nullable();
// What the report prints as it is (ids, formats, who closed): letters, digits and a little
// punctuation only, so a record cannot forge a line; free text (error messages) is quoted instead.
const word = z.string().regex(/^[\w./:-]{1,128}$/);
const maybeWord = word.nullable();

const configSchema = z.object({
  at: time,
  accepted: z.boolean(),
  session: z.object({ audio: z.object({ input: z.object({ format: z.object({ type: word.optional() }).optional() }).optional() }).optional() }),
});

const audioInSchema = z.object({
  format: maybeWord,
  formats: z.array(word),
  appends: z.number(),
  bytes: z.number(),
  ms: z.number(),
  sha256: text,
  checkpoints: z.array(z.object({ offset: z.number(), sha256: text })),
  head: text,
  // Added after the first simulators: an older record has no tail to read.
  tail: text.optional(),
  firstAppendAt: time.nullable(),
  lastAppendAt: time.nullable(),
});

const responseSchema = z.object({
  id: word,
  trigger: word,
  outOfBand: z.boolean().optional(),
  audioFormat: maybeWord.optional(),
  itemIds: z.array(word),
  status: word,
  reason: maybeWord,
  createdAt: time,
  firstDeltaAt: time.nullable(),
  doneAt: time.nullable(),
  audioBytes: z.number(),
  audioMs: z.number(),
  audioSha256: maybeText,
});

export const sessionViewSchema = z.object({
  id: word,
  callSid: maybeText,
  open: z.boolean(),
  openedAt: time,
  closedAt: time.nullable(),
  closedBy: maybeWord,
  closeCode: z.number().nullable(),
  closeReason: maybeText,
  configs: z.array(configSchema),
  audioIn: audioInSchema,
  commits: z.array(z.object({ at: time, by: word, speechStartedAt: time.nullable() })),
  responses: z.array(responseSchema),
  // The item id a truncate named is the client's text: kept as sent, quoted where printed.
  truncations: z.array(z.object({ at: time, itemId: text, audioEndMs: z.number(), audioSentMs: z.number().nullable(), accepted: z.boolean() })),
  errors: z.array(z.object({ at: time, type: text, code: maybeText, message: text, clientEventType: maybeText, clientEventId: maybeText, scripted: z.boolean().optional() })),
  dropped: z.object({ responses: z.number(), truncations: z.number(), errors: z.number(), commits: z.number() }),
});

export type SessionView = z.infer<typeof sessionViewSchema>;
export type ResponseView = SessionView['responses'][number];

/** A record of this process's simulator is a session view as it is (checked when this compiles). */
export function viewOf(record: SimulatorSessionRecord): SessionView {
  return record;
}

/** The view with every instant moved by `deltaMs` (a remote simulator's clock onto ours). */
export function shiftedView(view: SessionView, deltaMs: number): SessionView {
  if (deltaMs === 0) return view;
  const at = (t: number): number => t + deltaMs;
  const maybe = (t: number | null): number | null => (t === null ? null : t + deltaMs);
  return {
    ...view,
    openedAt: at(view.openedAt),
    closedAt: maybe(view.closedAt),
    configs: view.configs.map((c) => ({ ...c, at: at(c.at) })),
    audioIn: { ...view.audioIn, firstAppendAt: maybe(view.audioIn.firstAppendAt), lastAppendAt: maybe(view.audioIn.lastAppendAt) },
    commits: view.commits.map((c) => ({ ...c, at: at(c.at), speechStartedAt: maybe(c.speechStartedAt) })),
    responses: view.responses.map((r) => ({ ...r, createdAt: at(r.createdAt), firstDeltaAt: maybe(r.firstDeltaAt), doneAt: maybe(r.doneAt) })),
    truncations: view.truncations.map((t) => ({ ...t, at: at(t.at) })),
    errors: view.errors.map((e) => ({ ...e, at: at(e.at) })),
  };
}

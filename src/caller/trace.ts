// A call's wire trace as JSONL, one line per message, both legs on one clock: the Twilio leg
// (every frame each way, from the call's tape) and, where the model's session record is at hand,
// the model leg (session updates, commits, responses, truncations, errors as the simulator
// recorded them). Media payloads are replaced by their SHA-256 and length; custom parameters with
// secret-looking names, and any secret the caller knows, are redacted. `t` is ms from the call's
// origin (`start` sent) on the wall clock; `scheduled` is when the caller meant a frame to go.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { redactSecrets } from '../log.js';
import type { CallTape, WireMessage } from './tape.js';

/** A parameter name that holds a secret: it ends in key, token, secret, password or passwd. */
const SECRET_PARAMETER = /(?:key|token|secret|password|passwd)s?$/i;
const RAW_CHARS = 200;

type JsonRecord = Record<string, unknown>;

const sha256 = (text: string): string => createHash('sha256').update(Buffer.from(text, 'base64')).digest('hex');
const round1 = (ms: number): number => Math.round(ms * 10) / 10;

function redactParameters(parameters: unknown): unknown {
  if (typeof parameters !== 'object' || parameters === null) return parameters;
  return Object.fromEntries(Object.entries(parameters as JsonRecord).map(([name, value]) => [name, SECRET_PARAMETER.test(name) ? '[redacted]' : value]));
}

function traceLine(message: WireMessage, origin: number): JsonRecord {
  const base: JsonRecord = { t: round1(message.at - origin), leg: 'twilio', dir: message.dir, scheduled: message.scheduledAt === null ? null : round1(message.scheduledAt - origin) };
  let frame: unknown;
  try {
    frame = JSON.parse(message.text);
  } catch {
    return { ...base, raw: message.text.slice(0, RAW_CHARS), rawBytes: Buffer.byteLength(message.text) };
  }
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return { ...base, raw: message.text.slice(0, RAW_CHARS) };
  const copy: JsonRecord = { ...(frame as JsonRecord) };
  const media = copy.media;
  if (typeof media === 'object' && media !== null && typeof (media as JsonRecord).payload === 'string') {
    const { payload, ...rest } = media as JsonRecord & { payload: string };
    copy.media = { ...rest, payloadSha256: sha256(payload), payloadBytes: Buffer.from(payload, 'base64').length };
  }
  const start = copy.start;
  if (typeof start === 'object' && start !== null) copy.start = { ...(start as JsonRecord), customParameters: redactParameters((start as JsonRecord).customParameters) };
  return { ...base, ...copy };
}

/**
 * What the trace shows of a model session, epoch ms on the caller's clock: the built-in
 * simulator's own record, or the witness's view of a session it tied to the call (a --server-cmd
 * or --url server's, which names no callSid), whose commits do not carry their item and size.
 */
export interface TraceSession {
  id: string;
  openedAt: number;
  configs: ReadonlyArray<{ at: number; accepted: boolean }>;
  commits: ReadonlyArray<{ at: number; by: string; itemId?: string | null; bytes?: number }>;
  responses: ReadonlyArray<{ id: string; trigger: string; createdAt: number; firstDeltaAt: number | null; doneAt: number | null; status: string; audioMs: number; audioSha256: string | null }>;
  truncations: ReadonlyArray<{ at: number; itemId: string; audioEndMs: number; audioSentMs: number | null; accepted: boolean }>;
  errors: ReadonlyArray<{ at: number; code: string | null; clientEventType: string | null }>;
  closedAt: number | null;
  closedBy: string | null;
  closeCode: number | null;
}

/** The model leg's events from the session record, on the same clock (its times are epoch ms). */
function modelLines(sessions: readonly TraceSession[], originEpoch: number): JsonRecord[] {
  const t = (epoch: number): number => round1(epoch - originEpoch);
  const lines: JsonRecord[] = [];
  for (const s of sessions) {
    lines.push({ t: t(s.openedAt), leg: 'model', session: s.id, event: 'session.opened' });
    for (const c of s.configs) lines.push({ t: t(c.at), leg: 'model', session: s.id, event: 'session.update', accepted: c.accepted });
    for (const c of s.commits) lines.push({ t: t(c.at), leg: 'model', session: s.id, event: 'input_audio_buffer.committed', by: c.by, item: c.itemId ?? null, bytes: c.bytes ?? null });
    for (const r of s.responses) {
      lines.push({ t: t(r.createdAt), leg: 'model', session: s.id, event: 'response.created', response: r.id, trigger: r.trigger });
      if (r.firstDeltaAt !== null) lines.push({ t: t(r.firstDeltaAt), leg: 'model', session: s.id, event: 'response.output_audio.delta (first)', response: r.id });
      if (r.doneAt !== null) lines.push({ t: t(r.doneAt), leg: 'model', session: s.id, event: 'response.done', response: r.id, status: r.status, audioMs: Math.round(r.audioMs), audioSha256: r.audioSha256 });
    }
    for (const x of s.truncations) lines.push({ t: t(x.at), leg: 'model', session: s.id, event: 'conversation.item.truncate', item: x.itemId, audioEndMs: x.audioEndMs, audioSentMs: x.audioSentMs, accepted: x.accepted });
    for (const e of s.errors) lines.push({ t: t(e.at), leg: 'model', session: s.id, event: 'error', code: e.code, clientEvent: e.clientEventType });
    if (s.closedAt !== null) lines.push({ t: t(s.closedAt), leg: 'model', session: s.id, event: 'session.closed', by: s.closedBy, code: s.closeCode });
  }
  return lines;
}

/** The trace's text: one JSON object a line, in time order. */
export function renderTrace(tape: CallTape, sessions: readonly TraceSession[] = [], secrets: readonly string[] = []): string {
  const lines = tape.wire.map((m) => traceLine(m, tape.origin));
  lines.push(...modelLines(sessions, performance.timeOrigin + tape.origin));
  lines.sort((a, b) => (a.t as number) - (b.t as number));
  if (tape.droppedMessages > 0) lines.push({ t: null, leg: 'twilio', note: `${tape.droppedMessages} more messages were not kept (the tape holds at most its cap)` });
  return lines.map((line) => redactSecrets(JSON.stringify(line), secrets)).join('\n') + '\n';
}

/** Writes it; the error as a string (null when written), never thrown. */
export function writeTrace(file: string, tape: CallTape, sessions: readonly TraceSession[] = [], secrets: readonly string[] = []): string | null {
  try {
    writeFileSync(file, renderTrace(tape, sessions, secrets));
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

// The session record: what the model side saw, kept per session, bounded, and timestamped in
// epoch milliseconds from performance.timeOrigin + performance.now() (monotonic within a
// process, and on one clock with the fake Twilio's records). The gate reads it (sessions(),
// sessionsFor(), GET /v1/callsim/sessions) to judge an agent's model leg without its cooperation.
import { createHash, type Hash } from 'node:crypto';
import type { EffectiveSession } from './config.js';
import type { AudioFormatType } from './audio-formats.js';

const ORIGIN = performance.timeOrigin;

/** Epoch milliseconds on the simulator's monotonic clock. */
export function nowMs(): number {
  return ORIGIN + performance.now();
}

/** Longest list kept of each kind; past it the oldest entries stay and `dropped` counts the rest. */
export const RECORD_LIST_LIMIT = 500;
/** A running hash checkpoint every this many bytes of appended audio (1 s of G.711). */
export const CHECKPOINT_BYTES = 8000;
const CHECKPOINT_LIMIT = 3600;
/** Appended bytes hashed in one go (a quarter of a checkpoint, so checkpoints fall on a batch end). */
const HASH_BATCH_BYTES = CHECKPOINT_BYTES / 4;
/** Bytes of the first appended audio kept verbatim (for a watermark search), and of the last. */
export const HEAD_BYTES = 2048;
export const TAIL_BYTES = 2048;

export type SessionTransport = 'ws' | 'wss' | 'in-process';
export type ClosedBy = 'client' | 'simulator' | 'fault' | 'shutdown';

export interface ConfigRecord {
  at: number;
  /** The client's event_id, when it sent one. */
  eventId: string | null;
  /** The effective session after this update (also after a rejected one: unchanged). */
  session: EffectiveSession;
  accepted: boolean;
}

export interface AudioInRecord {
  /** Input format in force at the first append (`formats` lists every one appended in). */
  format: AudioFormatType | null;
  formats: AudioFormatType[];
  appends: number;
  bytes: number;
  /** Milliseconds of audio appended, in the format each append was made in. */
  ms: number;
  /** SHA-256 (hex) of every appended byte in order: equal to the caller's frames iff they arrived whole, in order, once. */
  sha256: string;
  /** The SHA-256 of the first `offset` bytes, at every multiple of CHECKPOINT_BYTES. */
  checkpoints: Array<{ offset: number; sha256: string }>;
  /** The first HEAD_BYTES appended, base64. */
  head: string;
  /**
   * The last TAIL_BYTES appended, base64: an agent that drops the caller's first words (its
   * model socket not yet open) may leave a head of loud speech with no room for a watermark,
   * while a call ends with the caller waiting in silence.
   */
  tail: string;
  firstAppendAt: number | null;
  lastAppendAt: number | null;
  /** First append minus first session.update (negative: audio came first); null if either never happened. */
  firstAppendAfterSessionUpdateMs: number | null;
}

export interface CommitRecord {
  at: number;
  itemId: string;
  by: 'vad' | 'client' | 'idle';
  /** When the VAD heard the turn start and stop (epoch ms); null for a client or idle commit. */
  speechStartedAt: number | null;
  speechStoppedAt: number | null;
  /** Offsets in the session's appended audio (ms), as speech_started/stopped report them. */
  audioStartMs: number | null;
  audioEndMs: number | null;
  bytes: number;
  transcript: string | null;
}

export interface ResponseRecord {
  id: string;
  trigger: 'vad' | 'client' | 'idle';
  /** Out of band (`conversation: "none"`): not part of the conversation the caller hears. */
  outOfBand: boolean;
  /** The format its audio was sent in; null for a text or tool-call response. */
  audioFormat: AudioFormatType | null;
  /** The script turn that shaped it (0-based), or null without a script. */
  scriptTurn: number | null;
  outputModalities: Array<'text' | 'audio'>;
  itemIds: string[];
  status: 'in_progress' | 'completed' | 'cancelled' | 'failed' | 'incomplete';
  reason: string | null;
  createdAt: number;
  firstDeltaAt: number | null;
  doneAt: number | null;
  audioBytes: number;
  audioMs: number;
  /** SHA-256 (hex) of the audio bytes sent so far (null before any): kept current while it streams. */
  audioSha256: string | null;
  transcript: string;
  functionCall: { name: string; callId: string; arguments: string } | null;
}

export interface TruncationRecord {
  at: number;
  itemId: string;
  audioEndMs: number;
  /** Milliseconds of that item's audio the simulator had sent when the truncate arrived; null if the item has no audio. */
  audioSentMs: number | null;
  accepted: boolean;
}

export interface ItemRecord {
  id: string;
  type: string;
  role: string | null;
  by: 'client' | 'simulator';
  at: number;
  deletedAt: number | null;
}

export interface ErrorRecord {
  at: number;
  type: string;
  code: string | null;
  message: string;
  /** The offending client event's type and event_id. */
  clientEventType: string | null;
  clientEventId: string | null;
  /** Sent because the model script said so (a scripted fault), not because of anything the client did. */
  scripted: boolean;
}

/** Everything the simulator recorded of one session. Every list is bounded (RECORD_LIST_LIMIT); `dropped` counts what was left out. */
export interface SimulatorSessionRecord {
  id: string;
  callSid: string | null;
  model: string;
  transport: SessionTransport;
  open: boolean;
  openedAt: number;
  closedAt: number | null;
  closedBy: ClosedBy | null;
  closeCode: number | null;
  closeReason: string | null;
  configs: ConfigRecord[];
  audioIn: AudioInRecord;
  commits: CommitRecord[];
  responses: ResponseRecord[];
  truncations: TruncationRecord[];
  items: ItemRecord[];
  errors: ErrorRecord[];
  dropped: { configs: number; commits: number; responses: number; truncations: number; items: number; errors: number };
  // Counters (the original SimulatorSessionStats fields, same meanings).
  sessionUpdates: number;
  appendsReceived: number;
  audioBytesReceived: number;
  speechStarted: number;
  speechStopped: number;
  responsesStarted: number;
  responsesCompleted: number;
  responsesCancelled: number;
  audioDeltasSent: number;
  /** Error events sent to the client. */
  clientErrors: number;
}

type ListName = keyof SimulatorSessionRecord['dropped'];

/** The live, mutable record of one session, and the running audio hash behind `audioIn.sha256`. */
export class SessionRecorder {
  readonly record: SimulatorSessionRecord;
  private readonly hash: Hash = createHash('sha256');
  // Appended bytes wait here and are hashed a checkpoint at a time: one hash call per second of
  // audio instead of one per frame.
  private readonly pending = Buffer.allocUnsafe(HASH_BATCH_BYTES);
  private pendingBytes = 0;
  private hashDirty = false;
  private headChunks: Buffer[] = [];
  private headBytes = 0;
  /** The last TAIL_BYTES appended, as a ring: byte n of the session's audio sits at n % TAIL_BYTES. */
  private readonly tailRing = Buffer.allocUnsafe(TAIL_BYTES);

  constructor(id: string, callSid: string | null, model: string, transport: SessionTransport) {
    this.record = {
      id, callSid, model, transport, open: true, openedAt: nowMs(), closedAt: null, closedBy: null, closeCode: null, closeReason: null,
      configs: [], commits: [], responses: [], truncations: [], items: [], errors: [],
      audioIn: { format: null, formats: [], appends: 0, bytes: 0, ms: 0, sha256: createHash('sha256').digest('hex'), checkpoints: [], head: '', tail: '', firstAppendAt: null, lastAppendAt: null, firstAppendAfterSessionUpdateMs: null },
      dropped: { configs: 0, commits: 0, responses: 0, truncations: 0, items: 0, errors: 0 },
      sessionUpdates: 0, appendsReceived: 0, audioBytesReceived: 0, speechStarted: 0, speechStopped: 0,
      responsesStarted: 0, responsesCompleted: 0, responsesCancelled: 0, audioDeltasSent: 0, clientErrors: 0,
    };
  }

  push<K extends ListName>(list: K, entry: SimulatorSessionRecord[K][number]): void {
    const target = this.record[list] as Array<typeof entry>;
    if (target.length < RECORD_LIST_LIMIT) target.push(entry);
    else this.record.dropped[list] += 1;
  }

  /** One append, on the hot path: counters and the running hash, no allocation beyond the hash's own. */
  append(bytes: Buffer, format: AudioFormatType, ms: number): void {
    const a = this.record.audioIn;
    const at = nowMs();
    if (a.firstAppendAt === null) {
      a.firstAppendAt = at;
      a.format = format;
      a.formats.push(format);
      const firstUpdate = this.record.configs[0];
      if (firstUpdate) a.firstAppendAfterSessionUpdateMs = at - firstUpdate.at;
    }
    if (a.format !== format && !a.formats.includes(format)) a.formats.push(format);
    a.lastAppendAt = at;
    a.appends += 1;
    a.bytes += bytes.length;
    a.ms += ms;
    this.record.appendsReceived += 1;
    this.record.audioBytesReceived += bytes.length;
    this.hashDirty = true;
    for (let at = 0; at < bytes.length; ) {
      const n = Math.min(bytes.length - at, HASH_BATCH_BYTES - this.pendingBytes);
      bytes.copy(this.pending, this.pendingBytes, at, at + n);
      this.pendingBytes += n;
      at += n;
      if (this.pendingBytes === HASH_BATCH_BYTES) {
        this.hash.update(this.pending);
        this.pendingBytes = 0;
        const offset = a.bytes - bytes.length + at;
        if (offset % CHECKPOINT_BYTES === 0 && a.checkpoints.length < CHECKPOINT_LIMIT) a.checkpoints.push({ offset, sha256: this.hash.copy().digest('hex') });
      }
    }
    // Into the ring, at most its size: the rest would be overwritten at once.
    const kept = bytes.length > TAIL_BYTES ? bytes.subarray(bytes.length - TAIL_BYTES) : bytes;
    const at0 = (a.bytes - kept.length) % TAIL_BYTES;
    const first = Math.min(kept.length, TAIL_BYTES - at0);
    kept.copy(this.tailRing, at0, 0, first);
    if (first < kept.length) kept.copy(this.tailRing, 0, first);
    if (this.headBytes < HEAD_BYTES) {
      const take = bytes.subarray(0, HEAD_BYTES - this.headBytes);
      this.headChunks.push(Buffer.from(take));
      this.headBytes += take.length;
      a.head = Buffer.concat(this.headChunks).toString('base64');
    }
  }

  /** The first session.update's time, for the first-append offset when audio came first. */
  sessionUpdated(entry: ConfigRecord): void {
    this.record.sessionUpdates += 1;
    const a = this.record.audioIn;
    if (this.record.configs.length === 0 && a.firstAppendAt !== null) a.firstAppendAfterSessionUpdateMs = a.firstAppendAt - entry.at;
    this.push('configs', entry);
  }

  /** The record with its hash brought up to date (computed on read, not per append). */
  snapshot(): SimulatorSessionRecord {
    if (this.hashDirty) {
      if (this.pendingBytes > 0) this.hash.update(this.pending.subarray(0, this.pendingBytes));
      this.pendingBytes = 0;
      this.record.audioIn.sha256 = this.hash.copy().digest('hex');
      this.record.audioIn.tail = this.tail().toString('base64');
      this.hashDirty = false;
    }
    return this.record;
  }

  private tail(): Buffer {
    const total = this.record.audioIn.bytes;
    if (total <= TAIL_BYTES) return this.tailRing.subarray(0, total);
    const start = total % TAIL_BYTES;
    return Buffer.concat([this.tailRing.subarray(start), this.tailRing.subarray(0, start)]);
  }

  close(by: ClosedBy, code: number | null, reason: string | null): void {
    const r = this.record;
    if (!r.open) return;
    r.open = false;
    r.closedAt = nowMs();
    r.closedBy = by;
    r.closeCode = code;
    r.closeReason = reason;
    this.headChunks = [];
    this.snapshot();
  }
}

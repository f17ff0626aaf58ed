// The call's link to its realtime model: one bridge session at a time, reconnected with bounded
// backoff when the model side drops it, given up on after the last delay. Its states and moves
// are one table; events of a session the link has already replaced are ignored.
import type { Logger } from '../../log.js';
import type { ModelBridge, ModelBridgeFactory, ModelBridgeListener } from '../../model/bridge.js';
import type { CallBoundary } from './boundary.js';
import type { CallConfig } from './config.js';
import type { CallRecord } from './record.js';

export type ModelLinkState =
  | 'idle' //        no session asked for yet (before `start`)
  | 'connecting' //  a session is opening
  | 'open' //        ready: caller audio goes straight to it
  | 'backing-off' // the session was lost; the next attempt waits for its delay
  | 'gave-up' //     every reconnect failed; the call ends
  | 'closed'; //     closed by the call

const MOVES: Readonly<Record<ModelLinkState, readonly ModelLinkState[]>> = {
  // A call that ends before its start never asks for a session: the link stays idle ("not started").
  idle: ['connecting'],
  connecting: ['open', 'backing-off', 'gave-up', 'closed'],
  open: ['backing-off', 'gave-up', 'closed'],
  'backing-off': ['connecting', 'closed'],
  'gave-up': [],
  closed: [],
};

/** What the snapshot's `model.state` has always said: the bridge's state names. */
const REPORTED: Readonly<Record<ModelLinkState, string>> = {
  idle: 'not started',
  connecting: 'connecting',
  open: 'ready',
  'backing-off': 'closed',
  'gave-up': 'closed',
  closed: 'closed',
};

/** What the model says, for the call (each runs inside the call boundary). */
export interface ModelLinkEvents {
  /** A session is ready. `first`: the call's first ready session (when a model that speaks first greets). */
  onOpen(first: boolean): void;
  onAudio(base64Audio: string, itemId: string): void;
  onSpeechStarted(): void;
  /** The model heard the caller stop (a backchannel, if the barge-in had not cut yet). */
  onSpeechStopped?(): void;
  onResponseDone(): void;
  /** The last reconnect failed too; `reason` is why the last session went. */
  onGaveUp(reason: string): void;
}

/** Key presses kept for a session still connecting; a flood past this is not kept. */
const MAX_PENDING_INPUTS = 32;

export type ModelLinkConfig = Pick<CallConfig, 'instructions' | 'voice' | 'modelReconnectDelaysMs'>;

export class ModelLink {
  private current: ModelLinkState;
  private bridge: ModelBridge | null;
  /** Bumped per session; events of an older one are ignored. */
  private session: number;
  /** Reconnects since the link was last open (0 while open). */
  private attempt: number;
  private sessionsOpened: number;
  private timer: NodeJS.Timeout | null;
  /** Key presses that came before a session was ready. */
  private readonly pendingInputs: string[] = [];

  constructor(
    private readonly factory: ModelBridgeFactory,
    private readonly config: ModelLinkConfig,
    private readonly record: CallRecord,
    private readonly logger: Logger,
    private readonly boundary: CallBoundary,
    private readonly events: ModelLinkEvents,
  ) {
    this.current = 'idle';
    this.bridge = null;
    this.session = 0;
    this.attempt = 0;
    this.sessionsOpened = 0;
    this.timer = null;
  }

  get state(): ModelLinkState {
    return this.current;
  }

  get reported(): string {
    return REPORTED[this.current];
  }

  /** The session, when audio can go to it now. */
  get openBridge(): ModelBridge | null {
    return this.current === 'open' ? this.bridge : null;
  }

  /** The current session's own state, for log lines; 'none' between sessions. */
  get bridgeState(): string {
    return this.bridge?.state ?? 'none';
  }

  /** Opens the first session. False when one was already asked for: a call has one link. */
  start(): boolean {
    if (this.current !== 'idle') return false;
    this.connect();
    return true;
  }

  createResponse(): void {
    this.openBridge?.createResponse();
  }

  cancelResponse(): void {
    this.openBridge?.cancelResponse();
  }

  /** A key press (or anything else that is not speech), told to the model, which answers it; kept until a session is ready, as audio is. */
  userInput(text: string): void {
    const bridge = this.openBridge;
    if (bridge !== null) bridge.userInput(text);
    else if (this.pendingInputs.length < MAX_PENDING_INPUTS) this.pendingInputs.push(text);
  }

  /** Cut the assistant item at what the caller heard (the session ignores it unless ready). */
  truncate(itemId: string, audioEndMs: number): void {
    this.bridge?.truncate(itemId, audioEndMs);
  }

  /** The call is over: no more sessions, the current one closed. */
  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const bridge = this.bridge;
    this.bridge = null;
    if (this.current !== 'idle' && this.current !== 'gave-up' && this.current !== 'closed') this.move('closed');
    bridge?.close();
  }

  private move(next: ModelLinkState): boolean {
    if (!MOVES[this.current].includes(next)) {
      this.record.internalError(new Error(`illegal model link move ${this.current} -> ${next}`));
      return false;
    }
    this.current = next;
    return true;
  }

  private connect(): void {
    if (!this.move('connecting')) return;
    this.session += 1;
    const session = this.session;
    try {
      const bridge = this.factory(
        { callSid: this.record.callSid ?? 'unknown', instructions: this.config.instructions, voice: this.config.voice },
        new SessionListener(this, session, this.boundary, this.events),
      );
      if (session === this.session && bridge.state !== 'closed') this.bridge = bridge;
    } catch (err) {
      // The SDK can throw while opening (a bad URL): that is a failed connection, not a dead call.
      this.lost(`model connection failed: ${err instanceof Error ? err.message : String(err)}`, false);
    }
  }

  // ---- for SessionListener: a session's events, each inside the call boundary ----------------

  /** An event of `session` still means something: it is the current one, and the link is not over. */
  isCurrent(session: number): boolean {
    return session === this.session && (this.current === 'connecting' || this.current === 'open');
  }

  /** `session` is the newest one: its close is handled (lost() decides whether it matters). */
  isLatest(session: number): boolean {
    return session === this.session;
  }

  opened(): void {
    if (!this.move('open')) return;
    this.attempt = 0;
    this.sessionsOpened += 1;
    this.events.onOpen(this.sessionsOpened === 1);
    for (const text of this.pendingInputs.splice(0)) this.bridge?.userInput(text);
  }

  modelError(code: string, message: string): void {
    this.record.recordError(code, message);
  }

  lost(reason: string, expected: boolean): void {
    this.bridge = null;
    if (expected || (this.current !== 'connecting' && this.current !== 'open')) return;
    const delays = this.config.modelReconnectDelaysMs;
    if (this.attempt >= delays.length) {
      this.move('gave-up');
      this.events.onGaveUp(reason);
      return;
    }
    const delay = delays[this.attempt] ?? 1000;
    this.attempt += 1;
    this.record.counters.modelReconnects += 1;
    this.record.recordError('model_connection_lost', `${reason}; reconnect ${this.attempt}/${delays.length} in ${delay} ms`);
    this.logger.warn('model connection lost; reconnecting', { callSid: this.record.callSid, reason, attempt: this.attempt, delayMs: delay });
    this.move('backing-off');
    this.timer = setTimeout(() => {
      this.timer = null;
      this.boundary.run(this, this.reconnect, undefined, undefined);
    }, delay);
  }

  private reconnect(): void {
    if (this.current === 'backing-off') this.connect();
  }
}

/**
 * One session's events. Model events arrive from the SDK's socket loop: each is an event of the
 * call (run inside its boundary), and one from a session already replaced or closed is ignored.
 * One object per session, its methods shared: no closures per call, no allocation per event.
 */
class SessionListener implements ModelBridgeListener {
  constructor(
    private readonly link: ModelLink,
    private readonly session: number,
    private readonly boundary: CallBoundary,
    private readonly events: ModelLinkEvents,
  ) {}

  onReady(): void {
    if (this.link.isCurrent(this.session)) this.boundary.run(this.link, this.link.opened, undefined, undefined);
  }

  onAudioDelta(base64Audio: string, itemId: string): void {
    if (this.link.isCurrent(this.session)) this.boundary.run(this.events, this.events.onAudio, base64Audio, itemId);
  }

  onSpeechStarted(): void {
    if (this.link.isCurrent(this.session)) this.boundary.run(this.events, this.events.onSpeechStarted, undefined, undefined);
  }

  onSpeechStopped(): void {
    const stopped = this.events.onSpeechStopped;
    if (stopped !== undefined && this.link.isCurrent(this.session)) this.boundary.run(this.events, stopped, undefined, undefined);
  }

  onResponseDone(): void {
    if (this.link.isCurrent(this.session)) this.boundary.run(this.events, this.events.onResponseDone, undefined, undefined);
  }

  onError(code: string, message: string): void {
    if (this.link.isCurrent(this.session)) this.boundary.run(this.link, this.link.modelError, code, message);
  }

  onClosed(reason: string, expected: boolean): void {
    if (this.link.isLatest(this.session)) this.boundary.run(this.link, this.link.lost, reason, expected);
  }
}
